//! Vertex OAuth against loopback mocks: a token endpoint that verifies the JWT assertion's RS256
//! signature with the service account's public key, token reuse until near expiry (exchanges
//! counted), refresh failures keeping the old token, ADC and the GCE metadata server.
//!
//! The RSA key pair in tests/fixtures/vertex/ was generated for these tests with
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` (public half exported as
//! PKCS#1 DER); it protects nothing.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

use super::*;
use crate::providers::mock_http::{MockServer, Recorded, temp_dir};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/vertex")
            .join(name),
    )
    .expect("fixture")
}

const EMAIL: &str = "sluice-test@my-proj.iam.gserviceaccount.com";

fn service_account_json(token_uri: &str) -> String {
    let key = String::from_utf8(fixture("test_sa_key.pem")).expect("pem");
    serde_json::json!({
        "type": "service_account",
        "project_id": "my-proj",
        "private_key_id": "kid-1",
        "private_key": key,
        "client_email": EMAIL,
        "token_uri": token_uri,
    })
    .to_string()
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| {
            let value = value.replace('+', " ");
            let mut out = Vec::new();
            let bytes = value.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                    if let Ok(byte) = u8::from_str_radix(hex, 16) {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                }
                out.push(bytes[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    })
}

/// Checks an assertion as Google would: RS256 signature under the public key, claims.
fn verify_assertion(jwt: &str, token_uri: &str) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not three parts".into());
    };
    let signature = b64.decode(signature).map_err(|e| e.to_string())?;
    let public = fixture("test_sa_public_pkcs1.der");
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
        .verify(format!("{header}.{claims}").as_bytes(), &signature)
        .map_err(|_| "bad signature".to_owned())?;
    let header: serde_json::Value =
        serde_json::from_slice(&b64.decode(header).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(claims).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let ok = header["alg"] == "RS256"
        && header["kid"] == "kid-1"
        && claims["iss"] == EMAIL
        && claims["aud"] == token_uri
        && claims["scope"] == CLOUD_PLATFORM_SCOPE
        && claims["exp"]
            .as_u64()
            .zip(claims["iat"].as_u64())
            .map(|(e, i)| e - i)
            == Some(3600);
    if ok {
        Ok(())
    } else {
        Err(format!("bad claims {header} {claims}"))
    }
}

struct TokenEndpoint {
    server: MockServer,
    exchanges: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
}

fn token_endpoint(expires_in: u64) -> TokenEndpoint {
    let exchanges = Arc::new(AtomicU64::new(0));
    let failing = Arc::new(AtomicBool::new(false));
    let (count, fail) = (Arc::clone(&exchanges), Arc::clone(&failing));
    let uri = Arc::new(std::sync::OnceLock::<String>::new());
    let uri_in = Arc::clone(&uri);
    let server = MockServer::start(move |r: &Recorded| {
        if fail.load(Ordering::SeqCst) {
            return (503, r#"{"error":"backend_error"}"#.into());
        }
        if form_value(&r.body, "grant_type").as_deref() != Some(JWT_BEARER_GRANT) {
            return (400, r#"{"error":"unsupported_grant_type"}"#.into());
        }
        let assertion = form_value(&r.body, "assertion").unwrap_or_default();
        if let Err(err) = verify_assertion(
            &assertion,
            uri_in.get().map(String::as_str).unwrap_or_default(),
        ) {
            return (
                400,
                format!(r#"{{"error":"invalid_grant","error_description":"{err}"}}"#),
            );
        }
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        (
            200,
            format!(
                r#"{{"access_token":"ya29.token{n}","expires_in":{expires_in},"token_type":"Bearer"}}"#
            ),
        )
    });
    let _ = uri.set(format!("{}/token", server.base));
    TokenEndpoint {
        server,
        exchanges,
        failing,
    }
}

fn account(endpoint: &TokenEndpoint) -> GoogleSource {
    source_from_json(&service_account_json(&format!(
        "{}/token",
        endpoint.server.base
    )))
    .expect("service account")
}

#[test]
fn verifier_rejects_a_tampered_assertion() {
    let endpoint = token_endpoint(3600);
    let GoogleSource::ServiceAccount(sa) = account(&endpoint) else {
        panic!("kind")
    };
    let jwt = sa.assertion(SystemTime::now()).expect("sign");
    let uri = format!("{}/token", endpoint.server.base);
    assert_eq!(verify_assertion(&jwt, &uri), Ok(()));
    let mut tampered = jwt.clone().into_bytes();
    let middle = jwt.find('.').expect("dot") + 3;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    assert!(verify_assertion(&String::from_utf8(tampered).expect("utf8"), &uri).is_err());
    assert!(verify_assertion(&jwt, "https://elsewhere/token").is_err());
}

#[test]
fn service_account_token_is_exchanged_and_reused_until_near_expiry() {
    let endpoint = token_endpoint(3600);
    let cache = Refresher::new(account(&endpoint));
    let auth = VertexAuth::Refreshing(Arc::clone(&cache));
    let now = SystemTime::now();
    assert!(
        auth.authorization(now).is_err(),
        "nothing before the first fetch"
    );
    assert_eq!(cache.refresh_if_due(now), Ok(true));
    assert_eq!(
        auth.authorization(now).expect("token"),
        "Bearer ya29.token1"
    );
    for later in [1, 600, 3000, 3290] {
        assert_eq!(
            cache.refresh_if_due(now + Duration::from_secs(later)),
            Ok(false)
        );
    }
    assert_eq!(
        endpoint.exchanges.load(Ordering::SeqCst),
        1,
        "reused, not re-exchanged"
    );
    let near_expiry = now + Duration::from_secs(3310);
    assert_eq!(cache.refresh_if_due(near_expiry), Ok(true));
    assert_eq!(
        auth.authorization(near_expiry).expect("token"),
        "Bearer ya29.token2"
    );
    assert_eq!(endpoint.exchanges.load(Ordering::SeqCst), 2);
}

#[test]
fn refresh_failure_is_counted_and_the_old_token_kept_until_expiry() {
    let endpoint = token_endpoint(3600);
    let cache = Refresher::new(account(&endpoint));
    let auth = VertexAuth::Refreshing(Arc::clone(&cache));
    let now = SystemTime::now();
    cache.refresh_if_due(now).expect("first");
    endpoint.failing.store(true, Ordering::SeqCst);
    let near = now + Duration::from_secs(3400);
    let err = cache.refresh_if_due(near).expect_err("endpoint down");
    assert!(err.contains("Google token endpoint answered 503"), "{err}");
    assert_eq!(cache.failures(), 1);
    assert_eq!(
        auth.authorization(near).expect("old token"),
        "Bearer ya29.token1"
    );
    let expired = auth
        .authorization(now + Duration::from_secs(3601))
        .expect_err("expired");
    assert!(expired.to_string().contains("503"), "{expired}");
}

#[test]
fn refresh_thread_renews_short_lived_tokens() {
    let endpoint = token_endpoint(2);
    let cache = Refresher::new(account(&endpoint));
    cache.spawn("test-vertex-refresh").expect("spawn");
    let deadline = SystemTime::now() + Duration::from_secs(30);
    while endpoint.exchanges.load(Ordering::SeqCst) < 2 && SystemTime::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        endpoint.exchanges.load(Ordering::SeqCst) >= 2,
        "no refresh happened"
    );
    assert_eq!(cache.failures(), 0);
}

#[test]
fn gce_metadata_server_via_adc() {
    let metadata = MockServer::start(|r: &Recorded| {
        if r.header("Metadata-Flavor") != Some("Google") {
            return (403, "missing Metadata-Flavor".into());
        }
        match r.path.as_str() {
            GCE_TOKEN_PATH => (
                200,
                r#"{"access_token":"ya29.gce","expires_in":3599,"token_type":"Bearer"}"#.into(),
            ),
            _ => (404, String::new()),
        }
    });
    let host = metadata.base.trim_start_matches("http://").to_owned();
    let env = move |name: &str| match name {
        "GCE_METADATA_HOST" => Some(host.clone()),
        "HOME" => Some("/nonexistent-home".into()),
        _ => None,
    };
    let source = application_default(&env).expect("adc");
    let token = source.fetch().expect("token");
    assert_eq!(token.value.expose(), "ya29.gce");
    assert!(token.expires_at.is_some());
    assert_eq!(metadata.count(GCE_TOKEN_PATH), 1);
}

#[test]
fn adc_prefers_google_application_credentials() {
    let endpoint = token_endpoint(3600);
    let dir = temp_dir("adc");
    let file = dir.join("sa.json");
    std::fs::write(
        &file,
        service_account_json(&format!("{}/token", endpoint.server.base)),
    )
    .expect("write");
    let path = file.display().to_string();
    let env = move |name: &str| (name == "GOOGLE_APPLICATION_CREDENTIALS").then(|| path.clone());
    let source = application_default(&env).expect("adc");
    assert!(matches!(source, GoogleSource::ServiceAccount(_)));
    assert_eq!(source.fetch().expect("token").value.expose(), "ya29.token1");
}

#[test]
fn authorized_user_refresh_token() {
    let server = MockServer::start(|r: &Recorded| {
        let ok = form_value(&r.body, "grant_type").as_deref() == Some("refresh_token")
            && form_value(&r.body, "refresh_token").as_deref() == Some("1//rt")
            && form_value(&r.body, "client_secret").as_deref() == Some("cs");
        if ok {
            (
                200,
                r#"{"access_token":"ya29.user","expires_in":3600}"#.into(),
            )
        } else {
            (400, "{}".into())
        }
    });
    let json = serde_json::json!({"type":"authorized_user","client_id":"ci","client_secret":"cs","refresh_token":"1//rt","token_uri":format!("{}/token", server.base)});
    let source = source_from_json(&json.to_string()).expect("user");
    assert_eq!(source.fetch().expect("token").value.expose(), "ya29.user");
}

#[test]
fn static_tokens_pass_through() {
    let auth = VertexAuth::Static(Secret::new("ya29.minted"));
    assert_eq!(
        auth.authorization(SystemTime::UNIX_EPOCH).expect("static"),
        "Bearer ya29.minted"
    );
}

#[test]
fn bad_credentials_files_are_clear_errors() {
    let cases = [
        ("{", "not valid JSON"),
        (r#"{"client_email":"x"}"#, "lacks `type`"),
        (r#"{"type":"external_account"}"#, "not supported"),
        (
            r#"{"type":"service_account","private_key":"k"}"#,
            "lacks `client_email`",
        ),
        (
            r#"{"type":"service_account","client_email":"e"}"#,
            "lacks `private_key`",
        ),
        (
            r#"{"type":"service_account","client_email":"e","private_key":"nope"}"#,
            "PEM",
        ),
        (
            r#"{"type":"authorized_user","client_id":"c"}"#,
            "client_secret",
        ),
    ];
    for (json, want) in cases {
        let err = source_from_json(json).expect_err(json);
        assert!(err.contains(want), "{json}: {err}");
    }
    let err = source_from_file("/nonexistent/sa.json").expect_err("missing");
    assert!(err.contains("/nonexistent/sa.json"), "{err}");
    assert!(parse_token_response(r#"{"access_token":""}"#, SystemTime::UNIX_EPOCH).is_err());
    assert!(parse_token_response("<html>", SystemTime::UNIX_EPOCH).is_err());
}

#[test]
fn credentials_file_size_limit() {
    let dir = temp_dir("sa-limit");
    let at_limit = dir.join("at.json");
    let mut text = service_account_json("http://127.0.0.1:9/token");
    text.push_str(&" ".repeat(MAX_CREDENTIALS_FILE_BYTES - text.len()));
    std::fs::write(&at_limit, &text).expect("write");
    assert!(source_from_file(&at_limit.display().to_string()).is_ok());
    let over = dir.join("over.json");
    text.push(' ');
    std::fs::write(&over, &text).expect("write");
    let err = source_from_file(&over.display().to_string()).expect_err("too big");
    assert!(err.contains("larger than"), "{err}");
}
