//! End to end: the access-log file reopened on SIGUSR1 and SIGHUP (logrotate's `postrotate`)
//! with no line lost or split, and a SIGTERM drain during which the admin listener keeps
//! answering (`/ready` 503, `/health` 200, `/metrics`) while the data listener stops accepting.

mod support;

use std::path::Path;

use support::fixtures;
use support::mock::{Gate, LAST_CHUNK, chunk};
use support::{EVENTUALLY, Gateway, MockUpstream, TempDir, wait_for};

/// The access-log lines in `path`, each parsed as one JSON object (a split line fails).
fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a line was split: {text:?}"
    );
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON line: {line}: {e}"))
        })
        .collect()
}

fn send_requests(gateway: &Gateway, n: usize) {
    let mut client = gateway.client();
    for _ in 0..n {
        let answer = client.request(
            "POST",
            "/v1/messages",
            &fixtures::claude_code_headers(),
            fixtures::request_body(false, 0).as_bytes(),
        );
        assert_eq!(answer.status, 200);
    }
}

/// Renames the log, signals, and checks that later requests land in the new file and that
/// every request has exactly one whole line in one of the two files.
fn rotation_moves_later_lines_to_a_new_file(signal: libc::c_int) {
    let mock = MockUpstream::start(fixtures::anthropic_handler);
    let dir = TempDir::new("rotate");
    let log = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let value = format!("\"{}\"", log.display());
    let gateway = Gateway::start(&mock.base_url(), None, &[("access_log", &value)]);

    send_requests(&gateway, 5);
    wait_for(EVENTUALLY, || (log_lines(&log).len() == 5).then_some(()))
        .expect("5 lines in the first file");
    std::fs::rename(&log, &rotated).unwrap();
    gateway.signal(signal);
    // The reopen creates the new file; wait for it so the next requests are after it.
    wait_for(EVENTUALLY, || log.exists().then_some(())).expect("the log file is reopened");
    send_requests(&gateway, 7);
    wait_for(EVENTUALLY, || (log_lines(&log).len() == 7).then_some(()))
        .unwrap_or_else(|| panic!("7 lines in the new file: {:?}", log_lines(&log)));
    let old = log_lines(&rotated);
    assert_eq!(
        old.len(),
        5,
        "the rotated file keeps its lines and gets no more"
    );
    let new = log_lines(&log);
    let mut ids: Vec<String> = old
        .iter()
        .chain(&new)
        .map(|line| line["request_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "every request has exactly one line");
}

#[test]
fn sigusr1_reopens_the_access_log() {
    rotation_moves_later_lines_to_a_new_file(libc::SIGUSR1);
}

#[test]
fn sighup_reopens_the_access_log() {
    rotation_moves_later_lines_to_a_new_file(libc::SIGHUP);
}

#[test]
fn during_a_drain_the_admin_listener_answers_and_the_data_listener_does_not() {
    let gate = Gate::new();
    let events = fixtures::stream_events();
    let mut rest = chunk(events[1..].concat().as_bytes());
    rest.extend_from_slice(LAST_CHUNK);
    let mock = support::stream_held_after_first_event(&gate, rest);
    let mut gateway = Gateway::start(&mock.base_url(), None, &[]);
    assert_eq!(gateway.admin_client().get("/ready").status, 200);
    let mut client = gateway.client();
    let mut head = support::begin_stream(&mut client, &fixtures::claude_code_headers());
    let mut received = client.read_body_piece(&mut head).unwrap().unwrap();

    gateway.sigterm();
    let addr = gateway.addr;
    wait_for(EVENTUALLY, || {
        std::net::TcpStream::connect(addr).is_err().then_some(())
    })
    .expect("the data listener stops accepting during the drain");
    // The stream is still held upstream: the drain is in progress.
    let ready = gateway.admin_client().get("/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(ready.text().contains("draining"), "{}", ready.text());
    assert_eq!(gateway.admin_client().get("/health").status, 200);
    let metrics = gateway.admin_client().get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("sluice_"), "{}", metrics.text());

    gate.open();
    let rest = client.finish(head);
    assert!(rest.complete, "the in-flight stream completes");
    received.extend_from_slice(&rest.body);
    assert_eq!(received, fixtures::stream_body());
    drop(client);
    let status = gateway
        .wait_exit(EVENTUALLY)
        .expect("sluice exits after draining");
    assert!(status.success(), "{status:?}");
}
