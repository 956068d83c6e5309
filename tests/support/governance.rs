//! Helpers for the governance end-to-end tests: a config builder for `[governance]` and the
//! customer → team → key hierarchy, a mock upstream that reports a known usage (so every
//! request has a known price), request and admin-API shorthands, and money parsing.
//!
//! Prices are chosen so a few requests spend a tiny budget: the test model costs
//! $100 per million input tokens and $10,000 per million output tokens; the mock reports
//! [`USAGE_INPUT_TOKENS`] input tokens and the request's `max_tokens` output tokens, so one
//! request with [`MAX_TOKENS`] costs exactly [`REQUEST_COST_MICRO`] micro-dollars ($0.201),
//! a little under its strict-mode worst case.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use super::gateway::config_toml;
use super::http_client::Response;
use super::mock::{Gate, LAST_CHUNK, Recorded, Reply, chunked, response_head};
use super::{Gateway, MockUpstream, RawClient};

/// The provider's own upstream key (what the mock must see instead of any virtual key).
pub const PROVIDER_KEY: &str = "sk-provider-REAL";
/// The priced test model (bare name: routed to the only provider, `anthropic`).
pub const TEST_MODEL: &str = "claude-gov-test";
/// The `[[pricing]]` glob that prices [`TEST_MODEL`].
pub const PRICING_GLOB: &str = "anthropic/claude-gov-*";
/// USD per million input tokens (= micro-dollars per token).
pub const INPUT_MICRO_PER_TOKEN: u64 = 100;
/// USD per million output tokens (= micro-dollars per token).
pub const OUTPUT_MICRO_PER_TOKEN: u64 = 10_000;
/// Input tokens the mock reports for every message.
pub const USAGE_INPUT_TOKENS: u64 = 10;
/// `max_tokens` of a standard request (the mock reports that many output tokens).
pub const MAX_TOKENS: u64 = 20;
/// The price of one standard request, in micro-dollars.
pub const REQUEST_COST_MICRO: u64 =
    USAGE_INPUT_TOKENS * INPUT_MICRO_PER_TOKEN + MAX_TOKENS * OUTPUT_MICRO_PER_TOKEN;
/// Tokens one standard request counts against a token rate limit (input + output).
pub const REQUEST_TOKENS: u64 = USAGE_INPUT_TOKENS + MAX_TOKENS;

/// Micro-dollars per dollar.
pub const MICRO: u64 = 1_000_000;

/// The `[[pricing]]` table for [`TEST_MODEL`].
pub fn pricing_toml() -> String {
    format!(
        "\n[[pricing]]\nmodel = \"{PRICING_GLOB}\"\ninput = {INPUT_MICRO_PER_TOKEN}.0\n\
         output = {OUTPUT_MICRO_PER_TOKEN}.0\ncache_write = {INPUT_MICRO_PER_TOKEN}.0\n\
         cache_read = {INPUT_MICRO_PER_TOKEN}.0\n"
    )
}

/// Everything a governed gateway's config needs; `toml()` renders it.
#[derive(Clone, Debug)]
pub struct GovConfig {
    pub upstream: String,
    pub state_dir: String,
    pub cores: u32,
    /// `"strict"` or `"soft"`.
    pub mode: &'static str,
    pub require_virtual_key: bool,
    /// The literal admin token (`None`: no `admin_token` line).
    pub admin_token: Option<String>,
    /// Extra lines inside the `[[providers]]` table, e.g. `budgets = [...]`.
    pub provider_extra: String,
    /// The `[[customers]]`, `[[teams]]` and `[[virtual_keys]]` tables.
    pub hierarchy: String,
}

impl GovConfig {
    pub fn new(upstream: &str, state_dir: &Path) -> GovConfig {
        GovConfig {
            upstream: upstream.to_owned(),
            state_dir: state_dir.display().to_string(),
            cores: 2,
            mode: "soft",
            require_virtual_key: true,
            admin_token: Some(ADMIN_TOKEN.to_owned()),
            provider_extra: String::new(),
            hierarchy: String::new(),
        }
    }

    pub fn toml(&self) -> String {
        let cores = self.cores.to_string();
        let mut toml = config_toml(&self.upstream, None, &[("cores", cores.as_str())]);
        toml.push_str(&format!("keys = [{{ secret = \"{PROVIDER_KEY}\" }}]\n"));
        toml.push_str(&self.provider_extra);
        toml.push_str(&format!(
            "\n[governance]\nrequire_virtual_key = {}\nstate_dir = \"{}\"\nbudget_mode = \"{}\"\n",
            self.require_virtual_key, self.state_dir, self.mode
        ));
        if let Some(token) = &self.admin_token {
            toml.push_str(&format!("admin_token = \"{token}\"\n"));
        }
        toml.push_str(&pricing_toml());
        toml.push('\n');
        toml.push_str(&self.hierarchy);
        toml
    }

    pub fn start(&self) -> Gateway {
        Gateway::start_config(&self.toml())
    }
}

/// `toml` with the per-address throttle of failed authentications off: for tests that send
/// many refused keys from one address on purpose (revoked keys, keys another instance has not
/// synced yet), whose refusals must not turn into 429s for the test client.
pub fn without_auth_throttle(toml: &str) -> String {
    toml.replacen(
        "[server]\n",
        "[server]\nmax_auth_failures_per_minute = 0\n",
        1,
    )
}

/// The admin token every test config uses unless it says otherwise.
pub const ADMIN_TOKEN: &str = "admin-token-7f3a9c";

/// `[[customers]]` with extra lines (e.g. `budgets = [...]`).
pub fn customer_toml(id: &str, extra: &str) -> String {
    format!("[[customers]]\nid = \"{id}\"\n{extra}\n")
}

/// `[[teams]]` under `customer` (none: no line) with extra lines.
pub fn team_toml(id: &str, customer: Option<&str>, extra: &str) -> String {
    let customer = customer
        .map(|c| format!("customer = \"{c}\"\n"))
        .unwrap_or_default();
    format!("[[teams]]\nid = \"{id}\"\n{customer}{extra}\n")
}

/// `[[virtual_keys]]` with a literal secret and extra lines.
pub fn key_toml(id: &str, secret: &str, team: &str, extra: &str) -> String {
    format!("[[virtual_keys]]\nid = \"{id}\"\nsecret = \"{secret}\"\nteam = \"{team}\"\n{extra}\n")
}
/// A soft-mode `[governance]` table (virtual keys required, `state_dir`), flat test prices for
/// each of `priced` (model globs), and team `platform` holding key `alice` (secret `key`, a
/// $100 daily budget): what the failover tests across formats share.
pub fn soft_keyed_toml(state_dir: &Path, priced: &[&str], key: &str) -> String {
    let mut toml = format!(
        "\n[governance]\nrequire_virtual_key = true\nstate_dir = \"{}\"\nbudget_mode = \"soft\"\n\
         admin_token = \"{ADMIN_TOKEN}\"\n",
        state_dir.display()
    );
    for model in priced {
        toml.push_str(&format!(
            "\n[[pricing]]\nmodel = \"{model}\"\ninput = {}.0\noutput = {}.0\n\
             cache_write = {}.0\ncache_read = {}.0\n",
            INPUT_MICRO_PER_TOKEN,
            OUTPUT_MICRO_PER_TOKEN,
            INPUT_MICRO_PER_TOKEN,
            INPUT_MICRO_PER_TOKEN
        ));
    }
    toml.push_str("\n[[teams]]\nid = \"platform\"\n");
    toml.push_str(&key_toml(
        "alice",
        key,
        "platform",
        &budget_line(100.0, "1d"),
    ));
    toml
}

/// A budget list of one budget, as TOML (`budgets = [...]`), rolling.
pub fn budget_line(max_usd: f64, reset: &str) -> String {
    format!("budgets = [{{ max_usd = {max_usd:?}, reset = \"{reset}\" }}]\n")
}

/// A virtual-key secret unique to this run.
pub fn vkey(label: &str) -> String {
    format!("sk-vk-{label}-{}", super::temp::token())
}

/// The standard request body: [`TEST_MODEL`] (or `model`), `max_tokens`, one short message.
pub fn body_for(model: &str, max_tokens: u64, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","max_tokens":{max_tokens},"stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

/// Tokens the gateway adds to every request's input bound (the provider's tool-use prompt).
pub const REQUEST_OVERHEAD_TOKENS: u64 = 1_024;

/// The strict-mode input bound of a text-only body: one token per body byte, plus
/// [`REQUEST_OVERHEAD_TOKENS`].
pub fn input_bound_tokens(body: &str) -> u64 {
    body.len() as u64 + REQUEST_OVERHEAD_TOKENS
}

/// The strict-mode worst case of a text-only request body (its input bound at the input rate,
/// plus `max_tokens` of output), in micro-dollars.
pub fn worst_case_micro(body: &str, max_tokens: u64) -> u64 {
    input_bound_tokens(body) * INPUT_MICRO_PER_TOKEN + max_tokens * OUTPUT_MICRO_PER_TOKEN
}

/// How a request presents its credentials.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    Nothing,
    XApiKey(&'a str),
    Bearer(&'a str),
    Both { x_api_key: &'a str, bearer: &'a str },
}

impl Auth<'_> {
    fn headers(&self) -> Vec<(&'static str, String)> {
        match *self {
            Auth::Nothing => vec![],
            Auth::XApiKey(k) => vec![("x-api-key", k.to_owned())],
            Auth::Bearer(k) => vec![("Authorization", format!("Bearer {k}"))],
            Auth::Both { x_api_key, bearer } => vec![
                ("x-api-key", x_api_key.to_owned()),
                ("Authorization", format!("Bearer {bearer}")),
            ],
        }
    }
}

/// POSTs `/v1/messages` with `body` on `client`.
pub fn post(client: &mut RawClient, auth: Auth<'_>, body: &str) -> Response {
    let auth_headers = auth.headers();
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    headers.extend(auth_headers.iter().map(|(n, v)| (*n, v.as_str())));
    client.request("POST", "/v1/messages", &headers, body.as_bytes())
}

/// One standard non-streaming request for [`TEST_MODEL`] on a new connection.
pub fn call(gateway: &Gateway, auth: Auth<'_>) -> Response {
    post(
        &mut gateway.client(),
        auth,
        &body_for(TEST_MODEL, MAX_TOKENS, false),
    )
}

/// Like [`call`] with `x-api-key: key`.
pub fn call_key(gateway: &Gateway, key: &str) -> Response {
    call(gateway, Auth::XApiKey(key))
}

/// Asserts an Anthropic-format error answer; returns its message.
pub fn assert_error(response: &Response, status: u16, error_type: &str) -> String {
    assert_eq!(
        response.status,
        status,
        "expected {status} {error_type}, got {} with body {}",
        response.status,
        response.text()
    );
    let body = response.json();
    assert_eq!(body["type"], "error", "error envelope: {body}");
    assert_eq!(body["error"]["type"], error_type, "error type: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "error has a message: {body}");
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "JSON content type on a {status}, got {:?}",
        response.header("content-type")
    );
    message.to_owned()
}

/// `retry-after` as whole seconds; panics when absent or not an integer.
pub fn retry_after(response: &Response) -> u64 {
    let value = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("no retry-after on a {}: {:?}", response.status, response));
    value
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("retry-after {value:?} is not whole seconds"))
}

/// True for strict mode's "budget busy" answer (429, retry-after 1): not an overshoot.
pub fn is_budget_busy(response: &Response) -> bool {
    response.status == 429
        && response.error_type() == "rate_limit_error"
        && response.header("retry-after").as_deref() == Some("1")
}

/// Calls until the answer is not a budget-busy 429 (strict mode with several shards), at
/// most `attempts` times, pausing `pause` between.
pub fn call_past_busy(gateway: &Gateway, key: &str, attempts: u32) -> Response {
    let mut response = call_key(gateway, key);
    for _ in 1..attempts {
        if !is_budget_busy(&response) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        response = call_key(gateway, key);
    }
    response
}

/// One admin-API call on a new connection; `token` is sent as `Authorization: Bearer`.
pub fn admin(
    gateway: &Gateway,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    gateway
        .admin_client()
        .request(method, path, &headers, &bytes)
}

/// An admin call with [`ADMIN_TOKEN`] that must answer `status`; returns the JSON body.
pub fn admin_ok(
    gateway: &Gateway,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
) -> Value {
    let response = admin(gateway, method, path, Some(ADMIN_TOKEN), body);
    assert_eq!(
        response.status,
        status,
        "{method} {path}: expected {status}, got {}: {}",
        response.status,
        response.text()
    );
    response.json()
}

/// Creates a key through the admin API; returns its secret.
pub fn create_key(gateway: &Gateway, id: &str, team: &str, extra: Value) -> String {
    let mut body = json!({ "id": id, "team": team });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    let created = admin_ok(gateway, "POST", "/admin/keys", Some(&body), 201);
    let secret = created["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret in {created}"))
        .to_owned();
    assert!(
        secret.starts_with("sk-sluice-"),
        "created secrets start sk-sluice-: {secret}"
    );
    assert_eq!(created["key"]["id"], id, "{created}");
    secret
}

/// `GET /admin/usage/{level}/{id}`.
pub fn usage(gateway: &Gateway, level: &str, id: &str) -> Value {
    admin_ok(
        gateway,
        "GET",
        &format!("/admin/usage/{level}/{id}"),
        None,
        200,
    )
}

/// Settled spend of the first budget of an entity, in micro-dollars.
pub fn spent_micro(gateway: &Gateway, level: &str, id: &str) -> u64 {
    let usage = usage(gateway, level, id);
    let budget = &usage["budgets"][0];
    usd_micro(&budget["spent_usd"])
        .unwrap_or_else(|| panic!("no spent_usd in the first budget of {level} {id}: {usage}"))
}

/// Waits, at most `limit`, until `gateway`'s admin view shows `want` micro-dollars spent by
/// `level` `id`; true if it did.
pub fn wait_spent_micro(
    gateway: &Gateway,
    level: &str,
    id: &str,
    want: u64,
    limit: Duration,
) -> bool {
    super::wait_for(limit, || {
        (spent_micro(gateway, level, id) == want).then_some(())
    })
    .is_some()
}

/// A dollar amount (JSON number or decimal string) in micro-dollars, rounded.
pub fn usd_micro(value: &Value) -> Option<u64> {
    let usd = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (usd.is_finite() && usd >= 0.0).then(|| (usd * MICRO as f64).round() as u64)
}

/// The message a mock answers with, reporting `input` and `output` tokens.
pub fn message_json(input: u64, output: u64) -> String {
    format!(
        r#"{{"id":"msg_gov_01","type":"message","role":"assistant","model":"{TEST_MODEL}","content":[{{"type":"text","text":"ok"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{output}}}}}"#
    )
}

/// The same message as an SSE stream (usage in message_start and message_delta).
pub fn stream_bytes(input: u64, output: u64) -> Vec<u8> {
    let events = [
        format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_gov_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{TEST_MODEL}\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":{input},\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":1}}}}}}\n\n"
        ),
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n".to_owned(),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n".to_owned(),
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".to_owned(),
        format!(
            "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{output}}}}}\n\n"
        ),
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned(),
    ];
    let body = events.concat();
    let mut bytes = response_head(
        200,
        &[
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            ("transfer-encoding", "chunked"),
        ],
    );
    bytes.extend_from_slice(&chunked(body.as_bytes(), &[97, 13, 400]));
    bytes.extend_from_slice(LAST_CHUNK);
    bytes
}

/// The reply to a recorded `/v1/messages`: [`USAGE_INPUT_TOKENS`] in, `max_tokens` out,
/// streamed when the body asks for it. Anything else: 404.
pub fn priced_reply(request: &Recorded) -> Reply {
    let Some(body) = request.json() else {
        return Reply::json(
            404,
            r#"{"type":"error","error":{"type":"not_found_error","message":"no body"}}"#,
        );
    };
    if request.method != "POST" || !request.path().ends_with("/v1/messages") {
        return Reply::json(
            404,
            r#"{"type":"error","error":{"type":"not_found_error","message":"Not found"}}"#,
        );
    }
    let output = body["max_tokens"].as_u64().unwrap_or(MAX_TOKENS);
    if body["stream"] == Value::Bool(true) {
        Reply::new().write(stream_bytes(USAGE_INPUT_TOKENS, output))
    } else {
        Reply::json(200, &message_json(USAGE_INPUT_TOKENS, output))
    }
}

/// A mock that answers every message with [`priced_reply`].
pub fn priced_mock() -> MockUpstream {
    MockUpstream::start(priced_reply)
}

/// A mock that waits `delay_ms` before answering (so requests overlap).
pub fn slow_priced_mock(delay_ms: u64) -> MockUpstream {
    MockUpstream::start(move |request| {
        let reply = priced_reply(request);
        let mut slowed = Reply::new().sleep_ms(delay_ms);
        slowed.steps.extend(reply.steps);
        slowed
    })
}

/// A mock that holds every answer until `gate` opens.
pub fn gated_priced_mock(gate: &Gate) -> MockUpstream {
    let gate = gate.clone();
    MockUpstream::start(move |request| {
        let reply = priced_reply(request);
        let mut held = Reply::new().gate(&gate);
        held.steps.extend(reply.steps);
        held
    })
}

/// Asserts no request the mock received carries `secret` anywhere (head or body), and that
/// each authenticated with the provider's key.
pub fn assert_never_upstream(mock: &MockUpstream, secret: &str) {
    let requests = mock.requests();
    assert!(!requests.is_empty(), "the mock received nothing to check");
    for request in requests {
        let head = String::from_utf8_lossy(&request.head);
        assert!(
            !head.contains(secret),
            "the virtual key reached the upstream in the head:\n{head}"
        );
        assert!(
            memchr::memmem::find(&request.body, secret.as_bytes()).is_none(),
            "the virtual key reached the upstream in the body"
        );
        let keys = request.headers_named("x-api-key");
        assert_eq!(
            keys,
            vec![PROVIDER_KEY.as_bytes()],
            "upstream must get exactly the provider's key in x-api-key; head:\n{head}"
        );
    }
}

/// Sends `signal` to the gateway process.
pub fn signal(gateway: &Gateway, signal: libc::c_int) {
    // SAFETY: sending a signal to our own child process by its pid.
    let rc = unsafe { libc::kill(gateway.pid() as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({signal}) failed");
}

/// `/metrics` from the admin listener.
pub fn metrics(gateway: &Gateway) -> String {
    let scrape = gateway.admin_client().get("/metrics");
    assert_eq!(scrape.status, 200, "/metrics: {}", scrape.text());
    scrape.text()
}

/// Customer `acme` (extra lines `customer_extra`) ← team `platform` (`team_extra`) and the
/// given keys `(id, secret, extra lines)`, all on team `platform`.
pub fn platform_hierarchy(
    customer_extra: &str,
    team_extra: &str,
    keys: &[(&str, &str, &str)],
) -> String {
    let mut toml = customer_toml("acme", customer_extra);
    toml.push_str(&team_toml("platform", Some("acme"), team_extra));
    for (id, secret, extra) in keys {
        toml.push_str(&key_toml(id, secret, "platform", extra));
    }
    toml
}

/// One standard request with `x-api-key: key` and `Connection: close` that never panics:
/// the status when a whole response arrived, `None` when the gateway was unreachable or the
/// response was cut short (for load across a `kill -9`).
pub fn try_call(addr: std::net::SocketAddr, key: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = body_for(TEST_MODEL, MAX_TOKENS, false);
    let bytes = super::http_client::request_bytes(
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", key),
            ("Connection", "close"),
        ],
        body.as_bytes(),
    );
    stream.write_all(&bytes).ok()?;
    let mut response = Vec::new();
    let mut scratch = [0u8; 8192];
    loop {
        match stream.read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&scratch[..n]),
            Err(_) => break,
        }
        if whole_response(&response) {
            break;
        }
    }
    whole_response(&response)
        .then(|| status_of(&response))
        .flatten()
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut slots);
    parsed.parse(bytes).ok()?;
    parsed.code
}

/// True when `bytes` hold a whole Content-Length-framed response.
fn whole_response(bytes: &[u8]) -> bool {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut slots);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(bytes) else {
        return false;
    };
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    let chunked = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    match length {
        Some(length) => bytes.len() >= head_len + length,
        None => chunked && bytes.len() > head_len && bytes.ends_with(b"0\r\n\r\n"),
    }
}

/// Runs `sluice keys ARGS` against the gateway's admin API (`token` in `SLUICE_ADMIN_TOKEN`).
pub fn keys_cli(gateway: &Gateway, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(super::gateway::gateway_binary());
    command
        .arg("keys")
        .args(args)
        .arg("--admin-url")
        .arg(format!("http://{}", gateway.admin))
        .env_remove("SLUICE_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("SLUICE_ADMIN_TOKEN", token);
    }
    command.output().expect("run sluice keys")
}
