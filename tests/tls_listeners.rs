//! End to end: TLS on sluice's own listeners with certificates made in the test. The
//! `anthropic` SDK (`SSL_CERT_FILE`) and Claude Code (`NODE_EXTRA_CA_CERTS`) run the streamed
//! tool-call scenario over https; mutual TLS refuses a client without a certificate; SIGHUP
//! swaps the served certificate while an open connection keeps working; a stalled handshake is
//! cut off; plain HTTP to a TLS port is closed without an answer; a bad key stops the start.

mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::clients;
use support::fixtures;
use support::gateway::gateway_binary;
use support::temp::token;
use support::tls::TestPki;
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient, TempDir, wait_for};

fn quoted(path: &std::path::Path) -> String {
    format!("\"{}\"", path.display())
}

/// A gateway whose data listener serves `pki`'s leaf, plus `extra` `[server]` settings.
fn tls_gateway(upstream: &str, pki: &TestPki, extra: &[(&str, String)]) -> Gateway {
    let mut overrides = vec![
        ("tls_cert", quoted(&pki.leaf_chain_file)),
        ("tls_key", quoted(&pki.leaf_key_file)),
    ];
    overrides.extend(extra.iter().cloned());
    let borrowed: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gateway::start(upstream, None, &borrowed)
}

fn streamed_request(client: &mut RawClient) -> u16 {
    client
        .request(
            "POST",
            "/v1/messages",
            &fixtures::claude_code_headers(),
            fixtures::request_body(true, 0).as_bytes(),
        )
        .status
}

#[test]
fn the_python_sdk_over_https_sees_what_it_sees_direct() {
    let pki = TestPki::new();
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let direct = clients::run_python_sdk(&mock.base_url());
    let gateway = tls_gateway(&mock.base_url(), &pki, &[]);
    let through = clients::run_python_sdk_with_env(
        &format!("https://127.0.0.1:{}", gateway.addr.port()),
        &[("SSL_CERT_FILE", &pki.ca_file)],
    );
    assert_eq!(
        through, direct,
        "the SDK's view over https equals its view direct"
    );
    assert_eq!(through["stream_final"]["stop_reason"], "tool_use");
}

#[test]
fn claude_code_over_https_runs_a_bash_tool() {
    let pki = TestPki::new();
    let token = token();
    let home = TempDir::new("claude-home");
    let work = TempDir::new("claude-work");
    let marker = work.join("sluice-marker.txt");
    let mock = MockUpstream::start(clients::claude_code_handler(token.clone(), marker.clone()));
    let gateway = tls_gateway(&mock.base_url(), &pki, &[]);
    let base_url = format!("https://127.0.0.1:{}", gateway.addr.port());
    let output = clients::run_claude_with_env(
        &base_url,
        home.path(),
        work.path(),
        &token,
        &[("NODE_EXTRA_CA_CERTS", &pki.ca_file)],
    );
    let context = format!(
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "claude failed: {context}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap_or_default().trim(),
        format!("sluice-ok-{token}"),
        "the Bash tool ran: {context}"
    );
    let result: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("claude printed no JSON ({e}): {context}"));
    assert_eq!(
        result["result"].as_str().map(str::trim),
        Some(format!("done: sluice-ok-{token}").as_str()),
        "{context}"
    );
    let turns = gateway
        .access_log()
        .iter()
        .filter(|line| {
            line["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/v1/messages"))
        })
        .count();
    assert!(
        turns >= 2,
        "both model calls went through sluice: {context}"
    );
}

#[test]
fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = TestPki::new();
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = tls_gateway(
        &mock.base_url(),
        &pki,
        &[("tls_client_ca", quoted(&pki.ca_file))],
    );

    let mut with_cert = RawClient::connect_tls_with(gateway.addr, pki.client_config_with_cert());
    assert_eq!(streamed_request(&mut with_cert), 200);

    let mut without = RawClient::connect_tls(gateway.addr, &pki);
    let refused = without
        .send(&support::http_client::request_bytes(
            "GET",
            "/health",
            &[],
            b"",
        ))
        .and_then(|()| without.read_response());
    assert!(
        refused.is_err(),
        "no answer without a client certificate: {refused:?}"
    );
}

#[test]
fn sighup_swaps_the_served_certificate_and_open_connections_stay() {
    let first = TestPki::new();
    let second = TestPki::new();
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let dir = TempDir::new("certs");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(&first.leaf_chain_file, &cert).unwrap();
    std::fs::copy(&first.leaf_key_file, &key).unwrap();
    let gateway = Gateway::start(
        &mock.base_url(),
        None,
        &[
            ("tls_cert", quoted(&cert).as_str()),
            ("tls_key", quoted(&key).as_str()),
        ],
    );
    let mut open = RawClient::connect_tls(gateway.addr, &first);
    assert_eq!(streamed_request(&mut open), 200);

    std::fs::copy(&second.leaf_chain_file, &cert).unwrap();
    std::fs::copy(&second.leaf_key_file, &key).unwrap();
    gateway.signal(libc::SIGHUP);
    // A client trusting only the second CA gets through once the new certificate is served.
    let served = wait_for(EVENTUALLY, || {
        let stream = std::net::TcpStream::connect(gateway.addr).ok()?;
        let conn =
            rustls::ClientConnection::new(second.client_config(), TestPki::server_name()).ok()?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        tls.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .ok()?;
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer);
        let peer = tls.conn.peer_certificates()?.first()?.clone();
        answer.starts_with(b"HTTP/1.1 200").then_some(peer)
    })
    .unwrap_or_else(|| panic!("the new certificate is served:\n{}", gateway.stderr()));
    assert_eq!(&served, second.leaf_der());
    assert_ne!(&served, first.leaf_der());
    // The connection made before the reload still carries requests.
    assert_eq!(streamed_request(&mut open), 200);
}

#[test]
fn a_stalled_handshake_is_cut_off_and_plain_http_is_closed() {
    let pki = TestPki::new();
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = tls_gateway(
        &mock.base_url(),
        &pki,
        &[("header_read_timeout_ms", "300".to_owned())],
    );
    // Opens the connection and never sends a ClientHello.
    let mut stalled = RawClient::connect(gateway.addr);
    assert!(
        stalled.closed_within(EVENTUALLY),
        "the stalled handshake is cut off"
    );

    let mut plain = std::net::TcpStream::connect(gateway.addr).unwrap();
    plain.set_read_timeout(Some(EVENTUALLY)).unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let read = plain.read_to_end(&mut answer);
    assert!(
        read.is_ok() || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "closed, not left hanging: {read:?}"
    );
    assert!(
        !answer.starts_with(b"HTTP/"),
        "no HTTP answer on a TLS port: {answer:?}"
    );
    // The listener still serves TLS after both.
    assert_eq!(
        streamed_request(&mut RawClient::connect_tls(gateway.addr, &pki)),
        200
    );
}

#[test]
fn the_admin_listener_serves_tls_with_its_own_settings() {
    let pki = TestPki::new();
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let gateway = Gateway::start(
        &mock.base_url(),
        None,
        &[
            ("admin_tls_cert", quoted(&pki.leaf_chain_file).as_str()),
            ("admin_tls_key", quoted(&pki.leaf_key_file).as_str()),
        ],
    );
    assert_eq!(
        RawClient::connect_tls(gateway.admin, &pki)
            .get("/health")
            .status,
        200
    );
    // The data listener stays plain.
    assert_eq!(gateway.client().get("/health").status, 200);
}

#[test]
fn a_key_that_is_not_a_key_stops_the_start_naming_it() {
    let pki = TestPki::new();
    let dir = TempDir::new("bad-key");
    let bad_key = dir.join("key.pem");
    std::fs::write(&bad_key, "not a key\n").unwrap();
    let config = dir.join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"off\"\ncores = 1\n\
             tls_cert = {}\ntls_key = {}\n",
            quoted(&pki.leaf_chain_file),
            quoted(&bad_key)
        ),
    )
    .unwrap();
    let output = clients::run_bounded(
        Command::new(gateway_binary())
            .current_dir(dir.path())
            .args(["serve", "--config"])
            .arg(&config)
            .stdin(Stdio::null()),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "sluice must not start: {stderr}");
    assert!(
        stderr.contains("server.tls_key"),
        "the error names the key: {stderr}"
    );
}
