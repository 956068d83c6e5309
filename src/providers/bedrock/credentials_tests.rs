//! Credential chain tests against loopback mocks: IMDSv2, STS web identity, profile files, and
//! the refresh thread renewing expiring credentials without a failed read.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::*;
use crate::providers::mock_http::{MockServer, Recorded};
use crate::providers::refresh::Refresher;

fn chain(vars: &[(&str, &str)], profile: Option<&str>) -> DefaultChain {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    // HOME points nowhere so the developer's own ~/.aws is never read.
    let lookup = move |name: &str| match name {
        "HOME" => map
            .get("HOME")
            .cloned()
            .or_else(|| Some("/nonexistent-home".to_owned())),
        _ => map.get(name).cloned(),
    };
    DefaultChain::new(profile, Some("us-east-1"), &lookup)
}

fn iso(at: SystemTime) -> String {
    let (_, stamp) = super::super::sigv4::amz_dates(at);
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    )
}

/// An IMDSv2 mock handing out credentials numbered by issue, valid for `lifetime`.
fn imds(lifetime: Duration) -> (MockServer, Arc<AtomicU64>) {
    let issued = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&issued);
    let server = MockServer::start(move |r: &Recorded| {
        match (r.method.as_str(), r.path.as_str()) {
            ("PUT", "/latest/api/token")
                if r.header("x-aws-ec2-metadata-token-ttl-seconds") == Some("21600") =>
            {
                (200, "imds-session".into())
            }
            (_, path) if r.header("x-aws-ec2-metadata-token") != Some("imds-session") => {
                (401, format!("no token for {path}"))
            }
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "sluice-role\n".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/sluice-role") => {
                let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                let expires = iso(SystemTime::now() + lifetime);
                (
                    200,
                    format!(
                        r#"{{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS{n}","SecretAccessKey":"s{n}","Token":"t{n}","Expiration":"{expires}"}}"#
                    ),
                )
            }
            _ => (404, String::new()),
        }
    });
    (server, issued)
}

#[test]
fn static_keys_resolve_env_and_literals() {
    let env = |name: &str| (name == "MY_SECRET").then(|| "from-env".to_owned());
    let creds = static_credentials("AKID", "env:MY_SECRET", Some("tok"), &env).expect("ok");
    assert_eq!(creds.access_key_id, "AKID");
    assert_eq!(creds.secret_access_key.expose(), "from-env");
    assert_eq!(
        creds.session_token.as_ref().map(Secret::expose),
        Some("tok")
    );
    let err = static_credentials("AKID", "env:MISSING", None, &env).expect_err("missing");
    assert!(
        err.contains("aws_secret_access_key") && err.contains("MISSING"),
        "{err}"
    );
    assert!(!format!("{creds:?}").contains("from-env"));
}

#[test]
fn env_vars_come_first() {
    let creds = chain(
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_SESSION_TOKEN", "t"),
        ],
        None,
    )
    .resolve()
    .expect("env");
    assert_eq!(creds.access_key_id, "AKIDENV");
    assert_eq!(creds.session_token.as_ref().map(Secret::expose), Some("t"));
    let err = chain(&[("AWS_ACCESS_KEY_ID", "AKIDENV")], None)
        .resolve()
        .expect_err("half");
    assert!(err.contains("AWS_SECRET_ACCESS_KEY"));
}

#[test]
fn profile_from_shared_files() {
    let dir = crate::providers::mock_http::temp_dir("aws-profile");
    std::fs::write(dir.join("config"), "[profile dev]\nregion = eu-west-1\n").expect("write");
    std::fs::write(
        dir.join("credentials"),
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = sd\n[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = sdev\n",
    )
    .expect("write");
    let config = dir.join("config").display().to_string();
    let credentials = dir.join("credentials").display().to_string();
    let files = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.as_str()),
    ];
    assert_eq!(
        chain(&files, Some("dev"))
            .resolve()
            .expect("dev")
            .access_key_id,
        "AKIDDEV"
    );
    assert_eq!(
        chain(&files, None)
            .resolve()
            .expect("default")
            .access_key_id,
        "AKIDDEFAULT"
    );
    let mut with_env = files.to_vec();
    with_env.push(("AWS_PROFILE", "dev"));
    assert_eq!(
        chain(&with_env, None)
            .resolve()
            .expect("AWS_PROFILE")
            .access_key_id,
        "AKIDDEV"
    );
    let err = chain(&files, Some("nope"))
        .resolve()
        .expect_err("missing profile");
    assert!(err.contains("`nope`"), "{err}");
    // HOME-relative default paths.
    std::fs::create_dir_all(dir.join(".aws")).expect("mkdir");
    std::fs::copy(dir.join("credentials"), dir.join(".aws/credentials")).expect("copy");
    let home = dir.display().to_string();
    assert_eq!(
        chain(&[("HOME", home.as_str())], Some("dev"))
            .resolve()
            .expect("home")
            .access_key_id,
        "AKIDDEV"
    );
}

#[test]
fn web_identity_goes_through_sts() {
    let sts = MockServer::start(|r: &Recorded| {
        let ok = r.method == "POST"
            && r.body.contains("Action=AssumeRoleWithWebIdentity")
            && r.body
                .contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123%3Arole%2Feks")
            && r.body.contains("WebIdentityToken=eks-jwt")
            && r.body.contains("RoleSessionName=sluice");
        if !ok {
            return (400, format!("bad request: {}", r.body));
        }
        (
            200,
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
            <AccessKeyId>ASIASTS</AccessKeyId><SecretAccessKey>sts&amp;secret</SecretAccessKey>\
            <SessionToken>ststoken</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>\
            </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
                .into(),
        )
    });
    let dir = crate::providers::mock_http::temp_dir("web-identity");
    let token = dir.join("token");
    std::fs::write(&token, "eks-jwt\n").expect("write");
    let token = token.display().to_string();
    let vars = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.as_str()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123:role/eks"),
        ("AWS_ENDPOINT_URL_STS", sts.base.as_str()),
    ];
    let creds = chain(&vars, None).resolve().expect("sts");
    assert_eq!(creds.access_key_id, "ASIASTS");
    assert_eq!(creds.secret_access_key.expose(), "sts&secret");
    assert_eq!(
        creds.session_token.as_ref().map(Secret::expose),
        Some("ststoken")
    );
    assert_eq!(
        creds.expires_at,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(4_070_908_800))
    );
    assert_eq!(sts.count("/"), 1);
}

#[test]
fn imds_v2_supplies_temporary_credentials() {
    let (server, issued) = imds(Duration::from_secs(3600));
    let creds = chain(
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.base.as_str())],
        None,
    )
    .resolve()
    .expect("imds");
    assert_eq!(creds.access_key_id, "ASIAIMDS1");
    assert_eq!(creds.session_token.as_ref().map(Secret::expose), Some("t1"));
    assert!(creds.expires_at.is_some());
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    let methods: Vec<String> = server
        .recorded()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        methods,
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/sluice-role"
        ]
    );
}

#[test]
fn imds_failures_are_clear() {
    let server = MockServer::start(|_: &Recorded| (500, "down".into()));
    let err = chain(
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.base.as_str())],
        None,
    )
    .resolve()
    .expect_err("down");
    assert!(err.contains("IMDS token answered 500"), "{err}");
    let err = chain(&[("AWS_EC2_METADATA_DISABLED", "true")], None)
        .resolve()
        .expect_err("disabled");
    assert!(err.contains("IMDS is disabled"), "{err}");
    assert!(parse_imds_credentials(r#"{"Code":"Failure"}"#).is_err());
    assert!(parse_imds_credentials("nope").is_err());
    assert!(parse_sts_response("<x/>").is_err());
}

#[test]
fn expiry_triggers_a_refresh_without_a_failed_read() {
    let (server, issued) = imds(Duration::from_secs(3600));
    let cache = Refresher::new(chain(
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.base.as_str())],
        None,
    ));
    let now = SystemTime::now();
    assert_eq!(cache.refresh_if_due(now), Ok(true));
    let first = cache.current(now).expect("first");
    assert_eq!(first.value.access_key_id, "ASIAIMDS1");
    // Reused until the refresh margin...
    assert_eq!(
        cache.refresh_if_due(now + Duration::from_secs(3000)),
        Ok(false)
    );
    assert_eq!(issued.load(Ordering::SeqCst), 1);
    // ...then renewed while the old credentials are still valid, so no read ever fails.
    let late = now + Duration::from_secs(3400);
    assert_eq!(
        cache
            .current(late)
            .expect("old still valid")
            .value
            .access_key_id,
        "ASIAIMDS1"
    );
    assert_eq!(cache.refresh_if_due(late), Ok(true));
    assert_eq!(
        cache.current(late).expect("renewed").value.access_key_id,
        "ASIAIMDS2"
    );
    assert_eq!(issued.load(Ordering::SeqCst), 2);
}

#[test]
fn refresh_thread_renews_short_lived_credentials() {
    let (server, issued) = imds(Duration::from_secs(2));
    let cache = Refresher::new(chain(
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.base.as_str())],
        None,
    ));
    cache.spawn("test-aws-refresh").expect("spawn");
    // Wait (bounded) for the thread to fetch twice: the second fetch is the expiry refresh.
    let deadline = SystemTime::now() + Duration::from_secs(30);
    while issued.load(Ordering::SeqCst) < 2 && SystemTime::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        issued.load(Ordering::SeqCst) >= 2,
        "the refresh thread did not renew"
    );
    let current = cache.current(SystemTime::now()).expect("held");
    assert!(current.value.access_key_id.starts_with("ASIAIMDS"));
    assert_eq!(cache.failures(), 0);
}
