//! End to end: egress through an HTTP CONNECT proxy (a small one in the test, std::net and
//! threads). It sees the tunnel, TLS to the provider runs inside it, a pooled connection
//! reuses it; a proxy that refuses gives a 502 naming it; `HTTPS_PROXY` is honoured and
//! `NO_PROXY` bypasses it; a provider's `egress_proxy = "none"` goes direct.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use support::fixtures;
use support::gateway::config_toml;
use support::tls::TestPki;
use support::{EVENTUALLY, Gateway, MockUpstream, RawClient, wait_for};

/// The CONNECT targets a proxy saw, each with its Proxy-Authorization.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A CONNECT proxy on loopback: records each CONNECT target (with its Proxy-Authorization),
/// then either pipes the tunnel or refuses with `refuse_status`.
struct ConnectProxy {
    addr: SocketAddr,
    seen: Seen,
}

impl ConnectProxy {
    fn start(refuse_status: Option<u16>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || tunnel(client, &log, refuse_status));
            }
        });
        ConnectProxy { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn tunnels(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().unwrap().clone()
    }
}

fn tunnel(
    client: TcpStream,
    log: &Mutex<Vec<(String, Option<String>)>>,
    refuse_status: Option<u16>,
) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut auth = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("proxy-authorization")
        {
            auth = Some(value.trim().to_owned());
        }
    }
    log.lock().unwrap().push((target.clone(), auth));
    let mut client = client;
    if let Some(status) = refuse_status {
        let _ = write!(
            client,
            "HTTP/1.1 {status} Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        return;
    }
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
    let mut client_write = client.try_clone().unwrap();
    // Bytes the reader buffered past the head (none: the client waits for the 200).
    let mut client_read = reader.into_inner();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
}

fn send_message(client: &mut RawClient) -> support::Response {
    client.request(
        "POST",
        "/v1/messages",
        &fixtures::claude_code_headers(),
        fixtures::request_body(true, 0).as_bytes(),
    )
}

#[test]
fn tls_to_the_provider_runs_inside_the_tunnel_and_pooled_connections_reuse_it() {
    let pki = TestPki::new();
    let mock = MockUpstream::start_tls(&pki, fixtures::anthropic_handler);
    let proxy = ConnectProxy::start(None);
    let url = format!(
        "\"{}\"",
        proxy.url().replace("http://", "http://user:s%40cret@")
    );
    let gateway = Gateway::start(
        &mock.base_url(),
        Some(&pki.ca_file),
        &[("egress_proxy", &url), ("cores", "1")],
    );
    let mut client = gateway.client();
    for _ in 0..3 {
        let answer = send_message(&mut client);
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.body, fixtures::stream_body());
    }
    let tunnels = proxy.tunnels();
    assert_eq!(
        tunnels.len(),
        1,
        "one tunnel, reused by the pooled connection: {tunnels:?}"
    );
    assert_eq!(tunnels[0].0, format!("localhost:{}", mock.addr().port()));
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("user:s@cret")
    };
    assert_eq!(
        tunnels[0].1.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        mock.requests().len(),
        3,
        "every request reached the provider"
    );
}

#[test]
fn a_proxy_that_refuses_gives_a_502_naming_it() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let proxy = ConnectProxy::start(Some(403));
    let url = format!("\"{}\"", proxy.url());
    let gateway = Gateway::start(&mock.base_url(), None, &[("egress_proxy", &url)]);
    let answer = send_message(&mut gateway.client());
    assert_eq!(answer.status, 502);
    let body = answer.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&proxy.addr.to_string()) && message.contains("403"),
        "the error names the proxy and its answer: {message}"
    );
    assert_eq!(proxy.tunnels().len(), 1);
    assert!(mock.requests().is_empty(), "nothing reached the provider");
}

#[test]
fn https_proxy_is_honoured_and_no_proxy_bypasses_it() {
    let pki = TestPki::new();
    let mock = MockUpstream::start_tls(&pki, fixtures::anthropic_handler);
    let proxy = ConnectProxy::start(None);
    let toml = config_toml(&mock.base_url(), Some(&pki.ca_file), &[]);

    let via = Gateway::start_config_env(&toml, &[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(send_message(&mut via.client()).status, 200);
    assert_eq!(proxy.tunnels().len(), 1, "HTTPS_PROXY is used");

    let bypass = Gateway::start_config_env(
        &toml,
        &[
            ("HTTPS_PROXY", &proxy.url()),
            ("NO_PROXY", "example.org,localhost"),
        ],
    );
    assert_eq!(send_message(&mut bypass.client()).status, 200);
    assert_eq!(proxy.tunnels().len(), 1, "NO_PROXY bypasses the proxy");

    let direct = format!("{toml}egress_proxy = \"none\"\n");
    let none = Gateway::start_config_env(&direct, &[("HTTPS_PROXY", &proxy.url())]);
    assert_eq!(send_message(&mut none.client()).status, 200);
    assert_eq!(
        proxy.tunnels().len(),
        1,
        "a provider's \"none\" goes direct"
    );
}

#[test]
fn a_reload_rereads_the_server_and_provider_egress_proxies() {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let (first, second) = (ConnectProxy::start(None), ConnectProxy::start(None));
    let direct = config_toml(&mock.base_url(), None, &[("cores", "1")]);
    let gateway = Gateway::start_config(&direct);
    assert_eq!(send_message(&mut gateway.client()).status, 200);
    assert!(first.tunnels().is_empty(), "no proxy configured yet");

    // `[server] egress_proxy` added, then SIGHUP: new connections go through it.
    let server_proxy = format!("\"{}\"", first.url());
    let via_first = config_toml(
        &mock.base_url(),
        None,
        &[("cores", "1"), ("egress_proxy", &server_proxy)],
    );
    std::fs::write(&gateway.config_path, &via_first).unwrap();
    gateway.signal(libc::SIGHUP);
    let applied = wait_for(EVENTUALLY, || {
        let answer = send_message(&mut gateway.client());
        (answer.status == 200 && !first.tunnels().is_empty()).then_some(())
    });
    assert!(applied.is_some(), "the server egress proxy never applied");

    // A per-provider `egress_proxy` added: it overrides the server's after the next reload.
    let via_second = format!("{via_first}egress_proxy = \"{}\"\n", second.url());
    std::fs::write(&gateway.config_path, via_second).unwrap();
    gateway.signal(libc::SIGHUP);
    let applied = wait_for(EVENTUALLY, || {
        let answer = send_message(&mut gateway.client());
        (answer.status == 200 && !second.tunnels().is_empty()).then_some(())
    });
    assert!(applied.is_some(), "the provider egress proxy never applied");
    let before = first.tunnels().len();
    for _ in 0..3 {
        assert_eq!(send_message(&mut gateway.client()).status, 200);
    }
    assert_eq!(
        first.tunnels().len(),
        before,
        "the server proxy is no longer used"
    );
    let target = format!("127.0.0.1:{}", mock.addr().port());
    assert!(
        second.tunnels().iter().all(|(to, _)| *to == target),
        "{:?}",
        second.tunnels()
    );
}
