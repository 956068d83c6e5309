//! The cloud providers' credential flows through the real binary, against mock credential
//! endpoints on loopback: a Vertex service account's JWT assertion (the mock token endpoint
//! verifies its RS256 signature with the account's public key), the GCE metadata server, an
//! AWS shared config/credentials profile for Bedrock, and temporary credentials (a Google
//! token, IMDS role credentials) that expire and are refreshed without a failed request.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use support::gateway::config_toml;
use support::{EVENTUALLY, Gateway, MockUpstream, Recorded, Reply, TempDir, wait_for};

const CLIENT_EMAIL: &str = "sluice-test@my-proj.iam.gserviceaccount.com";
const BEDROCK_MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
/// Lifetime of the short-lived credentials the refresh tests hand out: sluice refreshes at
/// half of it.
const SHORT_LIFETIME_SECS: u64 = 4;

fn vertex_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vertex")
            .join(name),
    )
    .expect("fixture")
}

/// An Anthropic message naming `text`, as Vertex's rawPredict and Bedrock's invoke answer.
fn message(text: &str) -> Reply {
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5", "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 2}});
    Reply::json(200, &body.to_string())
}

fn post(gateway: &Gateway, model: &str) -> support::Response {
    let body = format!(
        r#"{{"model":"{model}","max_tokens":64,"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    gateway.client().request(
        "POST",
        "/v1/messages",
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-ant-client-own"),
            ("anthropic-version", "2023-06-01"),
        ],
        body.as_bytes(),
    )
}

/// Checks a JWT-bearer token request: the assertion's RS256 signature against the service
/// account's public key, and its claims. Err: why it is refused.
fn verify_assertion(request: &Recorded, token_uri: &str) -> Result<(), String> {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or(format!("no {name}"))
    };
    if field("grant_type")? != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return Err("wrong grant_type".into());
    }
    let assertion = field("assertion")?;
    let (signing_input, signature) = assertion.rsplit_once('.').ok_or("not a JWT")?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signature = b64.decode(signature).map_err(|e| e.to_string())?;
    let public = vertex_fixture("test_sa_public_pkcs1.der");
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| "bad signature".to_owned())?;
    let (header, claims) = signing_input.split_once('.').ok_or("no claims")?;
    let header: Value = serde_json::from_slice(&b64.decode(header).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&b64.decode(claims).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || claims["iss"] != CLIENT_EMAIL || claims["aud"] != token_uri {
        return Err(format!("wrong header or claims: {header} {claims}"));
    }
    if claims["scope"] != "https://www.googleapis.com/auth/cloud-platform" {
        return Err(format!("wrong scope: {claims}"));
    }
    Ok(())
}

/// A token endpoint that verifies each assertion and hands out `ya29.token-<n>` living
/// `lifetime` seconds; counts the exchanges.
fn token_endpoint(lifetime: u64) -> (MockUpstream, Arc<AtomicU64>) {
    let exchanges = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&exchanges);
    let mock = MockUpstream::start(move |request| {
        let host = request.header_str("host").unwrap_or_default();
        if let Err(why) = verify_assertion(request, &format!("http://{host}/token")) {
            return Reply::json(
                401,
                &json!({"error": "invalid_grant", "error_description": why}).to_string(),
            );
        }
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        Reply::json(
            200,
            &json!({"access_token": format!("ya29.token-{n}"), "expires_in": lifetime,
                "token_type": "Bearer"})
            .to_string(),
        )
    });
    (mock, exchanges)
}

fn vertex_provider(vertex: &MockUpstream, credentials: &str) -> String {
    format!(
        "\n[[providers]]\nname = \"vertex\"\nkind = \"vertex\"\nproject = \"my-proj\"\nlocation = \"us-east5\"\nbase_url = \"{}/v1\"\n{credentials}model_map = {{ \"claude-sonnet-4-5\" = \"claude-sonnet-4-5@20250929\" }}\n",
        vertex.base_url()
    )
}

/// A service-account file whose `token_uri` is `tokens`; returns its directory and the
/// `credentials_file` line naming it.
fn service_account_file(tokens: &MockUpstream) -> (TempDir, String) {
    let dir = TempDir::new("vertex-sa");
    let file = dir.join("sa.json");
    let key = String::from_utf8(vertex_fixture("test_sa_key.pem")).expect("pem");
    let account = json!({"type": "service_account", "project_id": "my-proj",
        "private_key_id": "key-1", "private_key": key, "client_email": CLIENT_EMAIL,
        "token_uri": format!("{}/token", tokens.base_url())});
    std::fs::write(&file, account.to_string()).expect("write");
    let line = format!("credentials_file = \"{}\"\n", file.display());
    (dir, line)
}

/// Starts sluice with a Vertex provider whose service-account file points at `tokens`.
fn vertex_with_service_account(tokens: &MockUpstream, vertex: &MockUpstream) -> (Gateway, TempDir) {
    let (dir, credentials) = service_account_file(tokens);
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&vertex_provider(vertex, &credentials));
    (Gateway::start_config(&toml), dir)
}

fn bearer(request: &Recorded) -> String {
    request.header_str("authorization").unwrap_or_default()
}

#[test]
fn a_vertex_service_account_token_is_exchanged_once_and_reused() {
    let (tokens, exchanges) = token_endpoint(3600);
    let vertex = MockUpstream::start(|_| message("from vertex"));
    let (gateway, _dir) = vertex_with_service_account(&tokens, &vertex);
    for _ in 0..5 {
        let response = post(&gateway, "vertex/claude-sonnet-4-5");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["content"][0]["text"], "from vertex");
    }
    let requests = vertex.requests();
    assert_eq!(requests.len(), 5);
    for request in &requests {
        assert_eq!(bearer(request), "Bearer ya29.token-1");
        assert!(request.header("x-api-key").is_none());
    }
    assert_eq!(exchanges.load(Ordering::SeqCst), 1, "the token is reused");
    // The token endpoint's check is real: the same assertion with one signature byte changed
    // is refused.
    let exchange = &tokens.requests()[0];
    let host = exchange.header_str("host").unwrap_or_default();
    let token_uri = format!("http://{host}/token");
    assert_eq!(verify_assertion(exchange, &token_uri), Ok(()));
    let mut tampered = exchange.clone();
    let last = tampered.body.len() - 2;
    tampered.body[last] = if tampered.body[last] == b'A' {
        b'B'
    } else {
        b'A'
    };
    assert_eq!(
        verify_assertion(&tampered, &token_uri),
        Err("bad signature".to_owned())
    );
    let metrics = gateway.admin_client().get("/metrics").text();
    assert!(
        metrics.contains("sluice_credential_refresh_failures_total{provider=\"vertex\"} 0\n"),
        "{metrics}"
    );
}

#[test]
fn a_refused_token_exchange_is_a_clear_error_and_a_metric() {
    let tokens = MockUpstream::start(|_| {
        Reply::json(
            401,
            r#"{"error":"invalid_grant","error_description":"account disabled"}"#,
        )
    });
    let vertex = MockUpstream::start(|_| message("from vertex"));
    let (gateway, _dir) = vertex_with_service_account(&tokens, &vertex);
    let response = post(&gateway, "vertex/claude-sonnet-4-5");
    assert_eq!(response.status, 502, "{}", response.text());
    let json = response.json();
    assert_eq!(json["type"], "error");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("provider `vertex`") && message.contains("credentials"),
        "{json}"
    );
    assert!(vertex.requests().is_empty(), "no request without a token");
    let metrics = gateway.admin_client().get("/metrics").text();
    let failures = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("sluice_credential_refresh_failures_total{provider=\"vertex\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(failures >= 1, "{metrics}");
}

#[test]
fn an_expiring_vertex_token_is_refreshed_and_the_next_request_carries_the_new_one() {
    let (tokens, exchanges) = token_endpoint(SHORT_LIFETIME_SECS);
    let vertex = MockUpstream::start(|_| message("from vertex"));
    let (gateway, _dir) = vertex_with_service_account(&tokens, &vertex);
    let until = Instant::now() + EVENTUALLY;
    let mut seen = Vec::new();
    // Past two lifetimes of the first token: every request succeeds, and later ones carry
    // tokens minted after it.
    while Instant::now() < until && !seen.contains(&"Bearer ya29.token-3".to_owned()) {
        let response = post(&gateway, "vertex/claude-sonnet-4-5");
        assert_eq!(response.status, 200, "{}", response.text());
        let last = vertex.requests().pop().expect("a request");
        seen.push(bearer(&last));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        seen.contains(&"Bearer ya29.token-2".to_owned())
            && seen.contains(&"Bearer ya29.token-3".to_owned()),
        "{seen:?}"
    );
    assert!(exchanges.load(Ordering::SeqCst) >= 3);
}

#[test]
fn without_a_credentials_file_vertex_takes_its_token_from_the_metadata_server() {
    let metadata = MockUpstream::start(|request| {
        let flavor = request.header_str("metadata-flavor");
        if request.path() != "/computeMetadata/v1/instance/service-accounts/default/token"
            || flavor.as_deref() != Some("Google")
        {
            return Reply::full(403, &[], b"");
        }
        Reply::json(
            200,
            r#"{"access_token":"ya29.from-metadata","expires_in":3599,"token_type":"Bearer"}"#,
        )
    });
    let vertex = MockUpstream::start(|_| message("from vertex"));
    let home = TempDir::new("gce-home");
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&vertex_provider(&vertex, ""));
    let host = metadata.addr().to_string();
    let gateway = Gateway::start_config_env(
        &toml,
        &[
            ("GCE_METADATA_HOST", host.as_str()),
            ("GOOGLE_APPLICATION_CREDENTIALS", ""),
            ("HOME", home.path().to_str().expect("home")),
        ],
    );
    let response = post(&gateway, "vertex/claude-sonnet-4-5");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(bearer(&vertex.requests()[0]), "Bearer ya29.from-metadata");
    assert_eq!(metadata.requests().len(), 1);
}

fn bedrock_provider(bedrock: &MockUpstream, extra: &str) -> String {
    format!(
        "\n[[providers]]\nname = \"bedrock\"\nkind = \"bedrock\"\nregion = \"us-east-1\"\nbase_url = \"{}\"\n{extra}model_map = {{ \"claude-sonnet-4-5\" = \"{BEDROCK_MODEL}\" }}\n",
        bedrock.base_url()
    )
}

/// The environment that leaves only the files under `home` (and `extra`) to the AWS chain.
fn aws_env<'a>(home: &'a TempDir, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, String)> {
    let mut env = vec![
        ("HOME", home.path().to_str().expect("home").to_owned()),
        ("AWS_ACCESS_KEY_ID", String::new()),
        ("AWS_SECRET_ACCESS_KEY", String::new()),
        ("AWS_SESSION_TOKEN", String::new()),
        ("AWS_PROFILE", String::new()),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", String::new()),
        ("AWS_ROLE_ARN", String::new()),
    ];
    for (k, v) in extra {
        env.push((k, (*v).to_owned()));
    }
    env
}

fn start_env(toml: &str, env: &[(&str, String)]) -> Gateway {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gateway::start_config_env(toml, &env)
}

#[test]
fn bedrock_signs_with_the_named_profile_from_the_shared_files() {
    let bedrock = MockUpstream::start(|_| message("from bedrock"));
    let home = TempDir::new("aws-profile-home");
    let aws = home.join(".aws");
    std::fs::create_dir_all(&aws).expect("mkdir");
    std::fs::write(
        aws.join("credentials"),
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default/secret\n\n[team-a]\naws_access_key_id = AKIDTEAMA\naws_secret_access_key = team-a/secret\naws_session_token = team-a-session\n",
    )
    .expect("write");
    std::fs::write(aws.join("config"), "[profile team-a]\nregion = eu-west-1\n").expect("write");
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&bedrock_provider(&bedrock, "aws_profile = \"team-a\"\n"));
    let gateway = start_env(
        &toml,
        &aws_env(&home, &[("AWS_EC2_METADATA_DISABLED", "true")]),
    );
    let response = post(&gateway, "bedrock/claude-sonnet-4-5");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["content"][0]["text"], "from bedrock");
    let request = &bedrock.requests()[0];
    let auth = request.header_str("authorization").expect("signed");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEAMA/"),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/bedrock/aws4_request"), "{auth}");
    assert_eq!(
        request.header_str("x-amz-security-token").as_deref(),
        Some("team-a-session")
    );

    // Rotated keys in the profile file apply on reload (SIGHUP), with no failed request.
    std::fs::write(
        aws.join("credentials"),
        "[team-a]\naws_access_key_id = AKIDROTATED\naws_secret_access_key = rotated/secret\n",
    )
    .expect("write");
    gateway.signal(libc::SIGHUP);
    wait_for(EVENTUALLY, || {
        let response = post(&gateway, "bedrock/claude-sonnet-4-5");
        assert_eq!(response.status, 200, "{}", response.text());
        let request = bedrock.requests().pop().expect("a request");
        let auth = request.header_str("authorization").expect("signed");
        auth.contains("Credential=AKIDROTATED/")
            .then(|| assert!(request.header("x-amz-security-token").is_none()))
    })
    .expect("the rotated profile keys never applied after SIGHUP");
}

/// A mock IMDSv2 that hands out role credentials `ASIAGEN<n>` living [`SHORT_LIFETIME_SECS`].
fn expiring_imds() -> (MockUpstream, Arc<AtomicU64>) {
    let handed = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&handed);
    let mock = MockUpstream::start(move |request| {
        let path = request.path();
        if request.method == "PUT" && path == "/latest/api/token" {
            return Reply::full(200, &[("content-type", "text/plain")], b"imds-token");
        }
        if request.header_str("x-aws-ec2-metadata-token").as_deref() != Some("imds-token") {
            return Reply::full(401, &[], b"");
        }
        match path {
            "/latest/meta-data/iam/security-credentials/" => {
                Reply::full(200, &[("content-type", "text/plain")], b"sluice-role")
            }
            "/latest/meta-data/iam/security-credentials/sluice-role" => {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                let expires = time::OffsetDateTime::now_utc()
                    + time::Duration::seconds(SHORT_LIFETIME_SECS as i64);
                let expires = expires
                    .replace_nanosecond(0)
                    .expect("nanos")
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("format");
                let body = json!({"Code": "Success", "AccessKeyId": format!("ASIAGEN{n}"),
                    "SecretAccessKey": format!("secret/{n}"), "Token": format!("session-{n}"),
                    "Expiration": expires});
                Reply::json(200, &body.to_string())
            }
            _ => Reply::full(404, &[], b""),
        }
    });
    (mock, handed)
}

#[test]
fn expiring_instance_credentials_are_refreshed_without_a_failed_request() {
    let (imds, handed) = expiring_imds();
    let bedrock = MockUpstream::start(|_| message("from bedrock"));
    let home = TempDir::new("aws-imds-home");
    let mut toml = config_toml("http://127.0.0.1:9", None, &[]);
    toml.push_str(&bedrock_provider(&bedrock, ""));
    let endpoint = imds.base_url();
    let gateway = start_env(
        &toml,
        &aws_env(&home, &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint)]),
    );
    let until = Instant::now() + EVENTUALLY;
    let mut seen: Vec<String> = Vec::new();
    while Instant::now() < until && !seen.iter().any(|s| s.contains("ASIAGEN3/")) {
        let response = post(&gateway, "bedrock/claude-sonnet-4-5");
        assert_eq!(response.status, 200, "{}", response.text());
        let last = bedrock.requests().pop().expect("a request");
        let auth = last.header_str("authorization").expect("signed");
        // The key and its session token always come from the same fetch.
        let n = auth
            .split("Credential=ASIAGEN")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("an IMDS key")
            .to_owned();
        assert_eq!(
            last.header_str("x-amz-security-token"),
            Some(format!("session-{n}"))
        );
        seen.push(auth);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        seen.iter().any(|s| s.contains("ASIAGEN2/"))
            && seen.iter().any(|s| s.contains("ASIAGEN3/")),
        "{seen:?}"
    );
    assert!(handed.load(Ordering::SeqCst) >= 3);
}

/// The failed-refresh count in `/metrics` for provider `vertex`.
fn vertex_refresh_failures(gateway: &Gateway) -> u64 {
    let metrics = gateway.admin_client().get("/metrics").text();
    metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("sluice_credential_refresh_failures_total{provider=\"vertex\"} ")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn after_a_failed_refresh_requests_keep_the_old_token_until_it_expires() {
    // The first exchange succeeds with an 8 s token; every later one is refused.
    let exchanges = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&exchanges);
    let tokens = MockUpstream::start(move |_| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::json(200, r#"{"access_token":"ya29.only","expires_in":8}"#)
        } else {
            Reply::json(500, r#"{"error":"backend_error"}"#)
        }
    });
    let vertex = MockUpstream::start(|_| message("from vertex"));
    let (gateway, _dir) = vertex_with_service_account(&tokens, &vertex);
    // The refresh (due at half the lifetime) fails: the old token still serves.
    wait_for(EVENTUALLY, || {
        (vertex_refresh_failures(&gateway) >= 1).then_some(())
    })
    .expect("no failed refresh was counted");
    let response = post(&gateway, "vertex/claude-sonnet-4-5");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(bearer(&vertex.requests()[0]), "Bearer ya29.only");
    // Once it expires, requests fail with a clear error and reach no upstream.
    let refused = wait_for(EVENTUALLY, || {
        let response = post(&gateway, "vertex/claude-sonnet-4-5");
        (response.status != 200).then_some(response)
    })
    .expect("the expired token kept serving");
    assert_eq!(refused.status, 502, "{}", refused.text());
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("expired"), "{message}");
    let served = vertex.requests().len();
    assert_eq!(post(&gateway, "vertex/claude-sonnet-4-5").status, 502);
    assert_eq!(vertex.requests().len(), served);
}

#[test]
fn a_reload_keeps_an_unchanged_vertex_providers_cached_token() {
    let (tokens, exchanges) = token_endpoint(3600);
    let vertex = MockUpstream::start(|_| message("from vertex"));
    let first = MockUpstream::start(|_| Reply::json(200, r#"{"from":"first"}"#));
    let (_dir, credentials) = service_account_file(&tokens);
    let config = |anthropic: &str| {
        let mut toml = config_toml(anthropic, None, &[]);
        toml.push_str(&vertex_provider(&vertex, &credentials));
        toml
    };
    let gateway = Gateway::start_config(&config(&first.base_url()));
    assert_eq!(post(&gateway, "vertex/claude-sonnet-4-5").status, 200);

    // Only the Anthropic upstream changes (which shows when the reload applied).
    let second = MockUpstream::start(|_| Reply::json(200, r#"{"from":"second"}"#));
    std::fs::write(&gateway.config_path, config(&second.base_url())).unwrap();
    gateway.signal(libc::SIGHUP);
    wait_for(EVENTUALLY, || {
        let response = post(&gateway, "anthropic/claude-sonnet-4-5");
        (response.json()["from"] == "second").then_some(())
    })
    .expect("the reloaded configuration never applied");
    assert_eq!(post(&gateway, "vertex/claude-sonnet-4-5").status, 200);
    for request in vertex.requests() {
        assert_eq!(bearer(&request), "Bearer ya29.token-1");
    }
    assert_eq!(
        exchanges.load(Ordering::SeqCst),
        1,
        "no new exchange on reload"
    );
}
