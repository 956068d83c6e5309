//! The small blocking HTTP client the credential refresh threads use (STS, IMDS, token
//! endpoints, metadata servers): `ureq` with timeouts and a response size cap, never called
//! from a shard.

use std::time::Duration;

/// The longest any credential call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The connect timeout (short: an absent metadata server must fail fast).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest credential response read.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// A status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(CALL_TIMEOUT))
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

fn read(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> Result<Reply, String> {
    let mut response = result.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
        .map_err(|e| format!("{url}: reading the response: {e}"))?;
    Ok(Reply { status, body })
}

/// `GET url` with `headers`.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.call(), url)
}

/// `PUT url` with `headers` and an empty body.
pub fn put_empty(url: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let mut request = agent().put(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    read(request.send_empty(), url)
}

/// `POST url` with an `application/x-www-form-urlencoded` body.
pub fn post_form(url: &str, form: &[(&str, &str)]) -> Result<Reply, String> {
    read(agent().post(url).send_form(form.iter().copied()), url)
}

/// The reply's body when the status is 2xx, else an error naming `what`.
pub fn expect_ok(reply: Reply, what: &str) -> Result<String, String> {
    if (200..300).contains(&reply.status) {
        Ok(reply.body)
    } else {
        let snippet: String = reply.body.chars().take(300).collect();
        Err(format!("{what} answered {}: {snippet}", reply.status))
    }
}
