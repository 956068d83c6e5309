//! End to end: routing with failover. The real binary in front of two mock Anthropic
//! upstreams (`anthropic`, the primary, and `backup`) behind one `[[routes]]` entry; each case
//! checks which upstream served, what the client got, and that the virtual key's budget was
//! charged once (through the admin usage API).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use support::gateway::{closed_port_url, config_toml};
use support::governance::{
    self as gov, ADMIN_TOKEN, Auth, MAX_TOKENS, REQUEST_COST_MICRO, TEST_MODEL, body_for, post,
    priced_reply, stream_bytes,
};
use support::mock::{Gate, Recorded};
use support::{EVENTUALLY, Gateway, MockUpstream, Reply, TempDir, wait_for};

const PRIMARY_KEY: &str = "sk-primary";
const BACKUP_KEY: &str = "sk-backup";

/// How a test's gateway is configured besides the two providers and the route.
struct Setup<'a> {
    primary: String,
    backup: String,
    /// The primary's `keys = [...]` list.
    primary_keys: &'a str,
    /// Lines of `[routing]`.
    routing: &'a str,
    /// Extra `[server]` overrides.
    server: &'a [(&'a str, &'a str)],
}

struct Running {
    gateway: Gateway,
    key: String,
    _state: TempDir,
}

fn start(setup: Setup<'_>) -> Running {
    let state = TempDir::new("failover");
    let key = gov::vkey("failover");
    let mut toml = config_toml(&setup.primary, None, setup.server);
    toml.push_str(&format!("keys = {}\n", setup.primary_keys));
    toml.push_str(&format!(
        "\n[[providers]]\nname = \"backup\"\nkind = \"anthropic\"\nbase_url = \"{}\"\n\
         keys = [{{ id = \"backup-key\", secret = \"{BACKUP_KEY}\" }}]\n",
        setup.backup
    ));
    toml.push_str("\n[[routes]]\nmatch = \"claude-*\"\ntargets = [\"anthropic\", \"backup\"]\n");
    toml.push_str(&format!("\n[routing]\n{}\n", setup.routing));
    toml.push_str(&format!(
        "\n[governance]\nrequire_virtual_key = true\nstate_dir = \"{}\"\nbudget_mode = \"soft\"\n\
         admin_token = \"{ADMIN_TOKEN}\"\n",
        state.path().display()
    ));
    for provider in ["anthropic", "backup"] {
        toml.push_str(&format!(
            "\n[[pricing]]\nmodel = \"{provider}/claude-gov-*\"\ninput = {}.0\noutput = {}.0\n\
             cache_write = {}.0\ncache_read = {}.0\n",
            gov::INPUT_MICRO_PER_TOKEN,
            gov::OUTPUT_MICRO_PER_TOKEN,
            gov::INPUT_MICRO_PER_TOKEN,
            gov::INPUT_MICRO_PER_TOKEN
        ));
    }
    toml.push_str("\n[[teams]]\nid = \"platform\"\n");
    toml.push_str(&gov::key_toml(
        "alice",
        &key,
        "platform",
        &gov::budget_line(100.0, "1d"),
    ));
    Running {
        gateway: Gateway::start_config(&toml),
        key,
        _state: state,
    }
}

fn one_key() -> String {
    format!("[{{ id = \"primary-key\", secret = \"{PRIMARY_KEY}\" }}]")
}

fn call(run: &Running, stream: bool) -> support::Response {
    post(
        &mut run.gateway.client(),
        Auth::XApiKey(&run.key),
        &body_for(TEST_MODEL, MAX_TOKENS, stream),
    )
}

/// Makes at least `min` successful calls, each on a new connection, until both shards served
/// some (read from the access log's request ids); returns how many calls were made.
fn calls_on_both_shards(run: &Running, min: usize) -> usize {
    let mut made = 0;
    loop {
        assert_eq!(call(run, false).status, 200);
        made += 1;
        let shards = |shard: &str| {
            run.gateway.access_log().iter().any(|l| {
                let id = l["request_id"].as_str().unwrap_or("");
                id.rsplit('_').nth(1) == Some(shard)
            })
        };
        if made >= min && shards("0") && shards("1") {
            return made;
        }
        assert!(made < 200, "the calls never reached both shards");
    }
}

fn spent(run: &Running) -> u64 {
    gov::spent_micro(&run.gateway, "key", "alice")
}

fn backup_mock() -> MockUpstream {
    MockUpstream::start(priced_reply)
}

fn error_reply(status: u16, kind: &str, extra: &[(&str, &str)]) -> Reply {
    let body =
        format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{kind} from mock"}}}}"#);
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    Reply::full(status, &headers, body.as_bytes())
}

fn default_setup<'a>(primary: String, backup: &MockUpstream, keys: &'a str) -> Setup<'a> {
    Setup {
        primary,
        backup: backup.base_url(),
        primary_keys: keys,
        routing: "backoff_ms = 0",
        server: &[],
    }
}

#[test]
fn primary_refusing_connections_fails_over_and_charges_once() {
    let backup = backup_mock();
    let keys = one_key();
    let run = start(default_setup(closed_port_url(), &backup, &keys));
    let response = call(&run, false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["usage"]["output_tokens"], MAX_TOKENS);
    let served = backup.wait_requests(1, EVENTUALLY);
    assert_eq!(served.len(), 1);
    assert_eq!(
        served[0].header_str("x-api-key").as_deref(),
        Some(BACKUP_KEY)
    );
    assert_eq!(spent(&run), REQUEST_COST_MICRO, "charged once");
    let log = wait_for(EVENTUALLY, || {
        run.gateway
            .access_log()
            .into_iter()
            .find(|l| l["attempts"].is_array())
    })
    .expect("the access log lists the attempts");
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{log}");
    assert_eq!(attempts[0]["provider"], "anthropic");
    assert_eq!(attempts[0]["key"], "primary-key");
    assert_eq!(attempts[0]["error"], "connect");
    assert_eq!(attempts[1]["provider"], "backup");
    assert_eq!(attempts[1]["key"], "backup-key");
    assert_eq!(attempts[1]["status"], 200);
}

#[test]
fn primary_529_fails_over_and_charges_once() {
    let primary = MockUpstream::start(|_| error_reply(529, "overloaded_error", &[]));
    let backup = backup_mock();
    let keys = one_key();
    let run = start(default_setup(primary.base_url(), &backup, &keys));
    for stream in [false, true] {
        let response = call(&run, stream);
        assert_eq!(response.status, 200, "{}", response.text());
        assert!(response.complete);
    }
    assert_eq!(primary.requests().len(), 2);
    assert_eq!(backup.requests().len(), 2);
    assert_eq!(spent(&run), 2 * REQUEST_COST_MICRO, "each charged once");
    let metrics = run.gateway.admin_client().get("/metrics").text();
    for line in [
        "sluice_upstream_attempts_total{provider=\"anthropic\",key=\"primary-key\",outcome=\"overloaded\"} 2",
        "sluice_upstream_attempts_total{provider=\"backup\",key=\"backup-key\",outcome=\"ok\"} 2",
        "sluice_failovers_total{from=\"anthropic\",to=\"backup\",reason=\"overloaded\"} 2",
        "sluice_failover_seconds_count 2",
        "sluice_provider_key_up{provider=\"backup\",key=\"backup-key\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

#[test]
fn client_faults_never_fail_over() {
    for status in [400, 404, 413, 422] {
        let primary =
            MockUpstream::start(move |_| error_reply(status, "invalid_request_error", &[]));
        let backup = backup_mock();
        let keys = one_key();
        let run = start(default_setup(primary.base_url(), &backup, &keys));
        let response = call(&run, false);
        assert_eq!(response.status, status, "{}", response.text());
        assert_eq!(response.error_type(), "invalid_request_error");
        assert!(
            backup.requests().is_empty(),
            "{status} must not move the request"
        );
        assert_eq!(spent(&run), 0);
    }
}

#[test]
fn primary_429_sends_every_shard_to_the_backup_until_retry_after_expires() {
    let limited = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&limited);
    let primary = MockUpstream::start(move |request| {
        if flag.swap(false, Ordering::SeqCst) {
            error_reply(429, "rate_limit_error", &[("retry-after", "5")])
        } else {
            priced_reply(request)
        }
    });
    let backup = backup_mock();
    let keys = one_key();
    let run = start(default_setup(primary.base_url(), &backup, &keys));
    assert_eq!(run.gateway.shards, 2);
    // Each call on its own connection, until both shards served some.
    let made = calls_on_both_shards(&run, 8);
    assert_eq!(
        primary.requests().len(),
        1,
        "the cooling key is not tried again"
    );
    assert_eq!(backup.requests().len(), made);
    assert_eq!(spent(&run), made as u64 * REQUEST_COST_MICRO);
    // Once retry-after has passed, the primary serves again.
    let back = wait_for(EVENTUALLY, || {
        let response = call(&run, false);
        assert_eq!(response.status, 200);
        (primary.requests().len() > 1).then_some(())
    });
    assert!(
        back.is_some(),
        "the primary key came back after its retry-after"
    );
}

#[test]
fn a_401_moves_to_the_second_key_of_the_same_provider() {
    let primary = MockUpstream::start(|request: &Recorded| {
        if request.header_str("x-api-key").as_deref() == Some("sk-revoked") {
            error_reply(401, "authentication_error", &[])
        } else {
            priced_reply(request)
        }
    });
    let backup = backup_mock();
    let keys = format!(
        "[{{ id = \"old\", secret = \"sk-revoked\" }}, {{ id = \"new\", secret = \"{PRIMARY_KEY}\" }}]"
    );
    let run = start(default_setup(primary.base_url(), &backup, &keys));
    for _ in 0..8 {
        let response = call(&run, false);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert!(
        backup.requests().is_empty(),
        "the same provider's second key served"
    );
    let revoked = primary
        .requests()
        .iter()
        .filter(|r| r.header_str("x-api-key").as_deref() == Some("sk-revoked"))
        .count();
    // Without the cool-down the rotation would send half of the 8 calls to it first.
    assert!(
        (1..=2).contains(&revoked),
        "the revoked key was tried {revoked} times"
    );
    assert_eq!(spent(&run), 8 * REQUEST_COST_MICRO);
}

#[test]
fn a_stream_that_fails_after_it_started_does_not_fail_over() {
    let full = stream_bytes(gov::USAGE_INPUT_TOKENS, MAX_TOKENS);
    let cut = full
        .windows(b"event: content_block_start".len())
        .position(|w| w == b"event: content_block_start")
        .unwrap();
    let started = full[..cut].to_vec();
    let primary = MockUpstream::start(move |_| Reply::new().write(&started).sleep_ms(20).reset());
    let backup = backup_mock();
    let keys = one_key();
    let run = start(default_setup(primary.base_url(), &backup, &keys));
    let response = call(&run, true);
    assert_eq!(response.status, 200);
    assert!(
        response.text().contains("event: error"),
        "{}",
        response.text()
    );
    assert!(
        backup.requests().is_empty(),
        "no failover after the stream started"
    );
    // The input reported in message_start is charged, once.
    let charged = spent(&run);
    assert!(charged > 0 && charged < REQUEST_COST_MICRO, "{charged}");
}

#[test]
fn a_streaming_primary_without_a_head_in_time_fails_over() {
    let gate = Gate::new();
    let held = gate.clone();
    let primary = MockUpstream::start(move |request| {
        let mut reply = Reply::new().gate(&held);
        reply.steps.extend(priced_reply(request).steps);
        reply
    });
    let backup = backup_mock();
    let keys = one_key();
    let mut setup = default_setup(primary.base_url(), &backup, &keys);
    setup.routing = "backoff_ms = 0\nfirst_byte_timeout_ms = 300";
    let run = start(setup);
    let response = call(&run, true);
    gate.open();
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.text().contains("message_stop"));
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(backup.requests().len(), 1);
    assert_eq!(spent(&run), REQUEST_COST_MICRO, "charged once");
}

#[test]
fn a_slow_non_streaming_primary_gets_504_and_no_second_generation() {
    let gate = Gate::new();
    let held = gate.clone();
    let primary = MockUpstream::start(move |request| {
        let mut reply = Reply::new().gate(&held);
        reply.steps.extend(priced_reply(request).steps);
        reply
    });
    let backup = backup_mock();
    let keys = one_key();
    let mut setup = default_setup(primary.base_url(), &backup, &keys);
    setup.routing = "backoff_ms = 0\nfirst_byte_timeout_ms = 100";
    setup.server = &[("upstream_read_timeout_ms", "500")];
    let run = start(setup);
    let response = call(&run, false);
    gate.open();
    assert_eq!(response.status, 504, "{}", response.text());
    assert!(backup.requests().is_empty(), "no second generation");
    assert_eq!(spent(&run), 0, "nothing delivered, nothing charged");
}

#[test]
fn every_attempt_failing_gives_the_last_error_in_the_clients_shape() {
    let primary = MockUpstream::start(|_| error_reply(529, "overloaded_error", &[]));
    let backup = MockUpstream::start(|_| error_reply(503, "api_error", &[("retry-after", "7")]));
    let keys = one_key();
    let mut setup = default_setup(primary.base_url(), &backup, &keys);
    setup.backup = backup.base_url();
    let run = start(setup);
    let response = call(&run, false);
    assert_eq!(response.status, 503, "{}", response.text());
    assert_eq!(response.error_type(), "api_error");
    assert_eq!(response.header("retry-after").as_deref(), Some("7"));
    assert_eq!(primary.requests().len(), 1);
    assert_eq!(backup.requests().len(), 1);
    assert_eq!(spent(&run), 0);
}

#[test]
fn the_breaker_opens_for_every_shard_and_the_probe_closes_it() {
    let failing = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&failing);
    let primary = MockUpstream::start(move |request| {
        if flag.load(Ordering::SeqCst) {
            error_reply(500, "api_error", &[])
        } else {
            priced_reply(request)
        }
    });
    let backup = backup_mock();
    let keys = one_key();
    let mut setup = default_setup(primary.base_url(), &backup, &keys);
    setup.routing = "backoff_ms = 0\nbreaker_failures = 2\nbreaker_cooldown_ms = 4000";
    let run = start(setup);
    for _ in 0..2 {
        assert_eq!(call(&run, false).status, 200);
    }
    assert_eq!(primary.requests().len(), 2);
    // Open: no shard tries the primary (each call on a new connection, on both shards).
    calls_on_both_shards(&run, 8);
    assert_eq!(
        primary.requests().len(),
        2,
        "the open breaker holds on every shard"
    );
    failing.store(false, Ordering::SeqCst);
    // After the cool-down one probe goes; it succeeds and closes the breaker.
    let closed = wait_for(EVENTUALLY, || {
        assert_eq!(call(&run, false).status, 200);
        (primary.requests().len() > 2).then_some(())
    });
    assert!(
        closed.is_some(),
        "a probe reached the primary after the cool-down"
    );
    let before = backup.requests().len();
    for _ in 0..4 {
        assert_eq!(call(&run, false).status, 200);
    }
    assert_eq!(
        backup.requests().len(),
        before,
        "closed: the primary serves again"
    );
}

#[test]
fn a_rotated_key_applies_on_sighup_while_a_stream_in_flight_completes() {
    let gate = Gate::new();
    let held = gate.clone();
    let primary = MockUpstream::start(move |request: &Recorded| {
        let streaming = request.json().is_some_and(|b| b["stream"] == true);
        if request.header_str("x-api-key").as_deref() == Some(PRIMARY_KEY) && streaming {
            let mut reply = Reply::new().gate(&held);
            reply.steps.extend(priced_reply(request).steps);
            reply
        } else {
            priced_reply(request)
        }
    });
    let backup = backup_mock();
    let keys = one_key();
    let run = start(default_setup(primary.base_url(), &backup, &keys));
    // A stream starts on the old key and is held upstream.
    let mut streaming = run.gateway.client();
    let body = body_for(TEST_MODEL, MAX_TOKENS, true);
    let auth = [
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
        ("x-api-key", run.key.as_str()),
    ];
    let request =
        support::http_client::request_bytes("POST", "/v1/messages", &auth, body.as_bytes());
    streaming.send(&request).unwrap();
    assert_eq!(primary.wait_requests(1, EVENTUALLY).len(), 1);
    // The key is rotated in the file; SIGHUP reloads it.
    let text = std::fs::read_to_string(&run.gateway.config_path).unwrap();
    std::fs::write(
        &run.gateway.config_path,
        text.replace(PRIMARY_KEY, "sk-rotated"),
    )
    .unwrap();
    gov::signal(&run.gateway, libc::SIGHUP);
    let rotated = wait_for(EVENTUALLY, || {
        assert_eq!(call(&run, false).status, 200);
        primary
            .requests()
            .iter()
            .any(|r| r.header_str("x-api-key").as_deref() == Some("sk-rotated"))
            .then_some(())
    });
    assert!(rotated.is_some(), "the next requests use the rotated key");
    let after = primary.requests();
    let last = after.last().unwrap();
    assert_eq!(last.header_str("x-api-key").as_deref(), Some("sk-rotated"));
    // The stream in flight (old configuration, old connection) completes.
    gate.open();
    let response = streaming.read_response().unwrap();
    assert_eq!(response.status, 200);
    assert!(response.complete);
    assert!(
        response.text().contains("message_stop"),
        "{}",
        response.text()
    );
    assert!(backup.requests().is_empty());
}

#[test]
fn simultaneous_requests_on_both_shards_send_one_half_open_probe() {
    const CALLS: usize = 16;
    let failing = Arc::new(AtomicBool::new(true));
    let gate = Gate::new();
    let (flag, held) = (Arc::clone(&failing), gate.clone());
    let primary = MockUpstream::start(move |request| {
        if flag.load(Ordering::SeqCst) {
            return error_reply(500, "api_error", &[]);
        }
        // The probe is held until every other request has been served.
        let mut reply = Reply::new().gate(&held);
        reply.steps.extend(priced_reply(request).steps);
        reply
    });
    let backup = backup_mock();
    let keys = one_key();
    let mut setup = default_setup(primary.base_url(), &backup, &keys);
    setup.routing = "backoff_ms = 0\nbreaker_failures = 2\nbreaker_cooldown_ms = 1000";
    let run = start(setup);
    for _ in 0..2 {
        assert_eq!(call(&run, false).status, 200);
    }
    assert_eq!(primary.requests().len(), 2, "the breaker is open");
    failing.store(false, Ordering::SeqCst);
    // Wait out the cool-down (not a timing assertion: the breaker is half-open after it).
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let backup_before = backup.requests().len();
    let barrier = std::sync::Barrier::new(CALLS);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..CALLS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    call(&run, false).status
                })
            })
            .collect();
        // Every request but the probe is served by the backup while the probe is held.
        let others = wait_for(EVENTUALLY, || {
            (backup.requests().len() >= backup_before + CALLS - 1).then_some(())
        });
        assert!(
            others.is_some(),
            "the requests that did not probe went to the backup"
        );
        // The probe may reach the primary after the others reached the backup (a new
        // upstream connection on a loaded host): wait for it, then count.
        primary.wait_requests(3, EVENTUALLY);
        assert_eq!(
            primary.requests().len(),
            3,
            "exactly one half-open probe across both shards"
        );
        gate.open();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let shards: std::collections::HashSet<String> = run
        .gateway
        .access_log()
        .iter()
        .filter_map(|l| {
            l["request_id"]
                .as_str()?
                .rsplit('_')
                .nth(1)
                .map(str::to_owned)
        })
        .collect();
    assert!(shards.len() >= 2, "requests on both shards: {shards:?}");
    // The probe succeeded: the breaker is closed and the primary serves again.
    assert_eq!(call(&run, false).status, 200);
    assert_eq!(primary.requests().len(), 4);
}
