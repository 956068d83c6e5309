//! End to end, the audit log's edges: a request record (and its access-log line) carries the
//! client's address as the gateway saw it; every configuration reload leaves a
//! `config_reloaded` record naming its caller: `signal` for SIGHUP (applied or refused), the
//! admin token's holder for `POST /admin/reload`; the chain still verifies.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use support::audit::{assert_verifies, audit_records, audit_toml};
use support::fixtures;
use support::gateway::config_toml;
use support::governance::{ADMIN_TOKEN, admin};
use support::temp::TempDir;
use support::{EVENTUALLY, Gateway, MockUpstream, wait_for};

/// Sends one request on a connection of our own (so we know its address) and reads the answer
/// to the end; returns the local address and the status line.
fn request_from_own_socket(gateway: &Gateway) -> (SocketAddr, String) {
    let mut stream = TcpStream::connect(gateway.addr).unwrap();
    let local = stream.local_addr().unwrap();
    let body = fixtures::request_body(false, 0);
    let mut head = String::from("POST /v1/messages HTTP/1.1\r\nhost: sluice\r\n");
    for (name, value) in fixtures::claude_code_headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    (local, text.lines().next().unwrap_or_default().to_owned())
}

fn reloads(dir: &std::path::Path) -> Vec<serde_json::Value> {
    audit_records(dir)
        .into_iter()
        .filter(|r| r["kind"] == "admin" && r["action"] == "config_reloaded")
        .collect()
}

/// Waits until the log holds `n` reload records (the writer thread commits them shortly).
fn wait_for_reloads(dir: &std::path::Path, n: usize) -> Vec<serde_json::Value> {
    wait_for(EVENTUALLY, || {
        let found = reloads(dir);
        (found.len() >= n).then_some(found)
    })
    .unwrap_or_else(|| panic!("fewer than {n} config_reloaded records: {:?}", reloads(dir)))
}

#[test]
fn client_address_and_every_reload_reach_the_audit_log() {
    let upstream = MockUpstream::start(fixtures::anthropic_handler);
    let state = TempDir::new("audit-edges");
    let audit_dir = state.join("audit");
    let toml = format!(
        "{}\n[governance]\nstate_dir = \"{}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n{}",
        config_toml(&upstream.base_url(), None, &[("cores", "1")]),
        state.path().display(),
        audit_toml(&audit_dir, "\"always\"")
    );
    let mut gateway = Gateway::start_config(&toml);

    let (client, status) = request_from_own_socket(&gateway);
    assert!(status.contains(" 200 "), "{status}");
    let logged = wait_for(EVENTUALLY, || {
        gateway
            .access_log()
            .into_iter()
            .find(|line| line["path"] == "/v1/messages")
    })
    .expect("an access-log line for the request");
    assert_eq!(logged["client_addr"], client.to_string(), "{logged}");

    // SIGHUP with the file unchanged: applied, by a signal.
    gateway.signal(libc::SIGHUP);
    let found = wait_for_reloads(&audit_dir, 1);
    assert_eq!(found[0]["caller"], "signal", "{:?}", found[0]);
    assert_eq!(found[0]["detail"], "SIGHUP: applied", "{:?}", found[0]);
    assert!(found[0]["status"].is_null());

    // SIGHUP with a broken file: refused, and recorded as refused.
    std::fs::write(&gateway.config_path, "[server]\nlisten = 5\n").unwrap();
    gateway.signal(libc::SIGHUP);
    let found = wait_for_reloads(&audit_dir, 2);
    assert_eq!(found[1]["caller"], "signal");
    let detail = found[1]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("refused"), "{detail}");

    // The admin API's reload, by the admin token's holder.
    std::fs::write(&gateway.config_path, &toml).unwrap();
    let answer = admin(&gateway, "POST", "/admin/reload", Some(ADMIN_TOKEN), None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let found = wait_for_reloads(&audit_dir, 3);
    assert_eq!(found[2]["caller"], "admin_token");
    assert_eq!(found[2]["status"], 200);

    gateway.sigterm();
    assert!(gateway.wait_exit(EVENTUALLY).is_some());
    assert_verifies(&audit_dir);
    let records = audit_records(&audit_dir);
    let request = records
        .iter()
        .find(|r| r["kind"] == "request")
        .expect("a request record");
    assert_eq!(request["client_addr"], client.to_string(), "{request}");
    assert_eq!(reloads(&audit_dir).len(), 3, "one record per reload");
}
