//! AWS's SigV4 test suite (vector data copied from awslabs/aws-c-auth under
//! tests/fixtures/sigv4/) and a Bedrock invoke request with a `:` in the model id.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::config::parse_rfc3339_unix_secs;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigv4")
}

struct Case {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_request(text: &str) -> Case {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let (method, rest) = request_line.split_once(' ').expect("method");
    let target = rest.strip_suffix(" HTTP/1.1").expect("version");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().expect("continuation after a header");
            last.1.push(' ');
            last.1.push_str(line.trim());
        } else {
            let (name, value) = line.split_once(':').expect("header colon");
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    Case {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn run_case(dir: &Path) -> Result<(), String> {
    let read =
        |name: &str| std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let context: serde_json::Value =
        serde_json::from_str(&read("context.json")?).map_err(|e| e.to_string())?;
    let case = parse_request(&read("request.txt")?);
    let creds = &context["credentials"];
    let secs = parse_rfc3339_unix_secs(context["timestamp"].as_str().unwrap_or_default())?;
    let headers: Vec<(&str, &str)> = case
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let signed = sign(
        &SignableRequest {
            method: &case.method,
            path: &case.path,
            query: &case.query,
            headers: &headers,
            body: &case.body,
        },
        &SigningKeys {
            access_key_id: creds["access_key_id"].as_str().unwrap_or_default(),
            secret_access_key: creds["secret_access_key"].as_str().unwrap_or_default(),
            // `omit_session_token`: the token is added after signing, so it is not signed.
            session_token: creds["token"]
                .as_str()
                .filter(|_| !context["omit_session_token"].as_bool().unwrap_or(false)),
        },
        &SigningSettings {
            region: context["region"].as_str().unwrap_or_default(),
            service: context["service"].as_str().unwrap_or_default(),
            time: UNIX_EPOCH + Duration::from_secs(secs),
            normalize_path: context["normalize"].as_bool().unwrap_or(true),
            content_sha256_header: context["sign_body"].as_bool().unwrap_or(false),
        },
    );
    let expect = |name: &str, got: &str| -> Result<(), String> {
        let want = read(name)?;
        if want.trim_end() == got {
            Ok(())
        } else {
            Err(format!("{name}:\n--- want\n{want}\n--- got\n{got}"))
        }
    };
    expect("header-canonical-request.txt", &signed.canonical_request)?;
    expect("header-string-to-sign.txt", &signed.string_to_sign)?;
    expect("header-signature.txt", &signed.signature)
}

#[test]
fn aws_sigv4_test_suite_vectors() {
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(fixtures()).expect("fixtures dir") {
        let dir = entry.expect("dir entry").path();
        if !dir.is_dir() {
            continue;
        }
        count += 1;
        if let Err(err) = run_case(&dir) {
            failures.push(format!("{}: {err}", dir.display()));
        }
    }
    assert!(count >= 30, "only {count} vectors found");
    assert!(
        failures.is_empty(),
        "{} of {count} vectors failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn named_vectors_are_present() {
    for name in [
        "get-vanilla",
        "post-vanilla",
        "post-x-www-form-urlencoded",
        "get-vanilla-query-order-key-case",
        "get-vanilla-with-session-token",
        "get-utf8",
    ] {
        assert!(
            fixtures().join(name).join("request.txt").is_file(),
            "{name}"
        );
    }
}

#[test]
fn signing_key_matches_the_documented_example() {
    // AWS's "Examples of how to derive a signing key" (iam, 20120215).
    let key = signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20120215",
        "us-east-1",
        "iam",
    );
    assert_eq!(
        hex(&key),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}

/// botocore 1.40.0's `SigV4Auth` (canonical_request → string_to_sign → signature, timestamp
/// pinned) for the request in the test below.
const BOTOCORE_SIGNATURE: &str = "006661e714524b7b08e32af703c853ba57dc45a6b639b109d83e1345f982aceb";

#[test]
fn bedrock_model_id_colon_is_double_encoded_in_the_canonical_uri() {
    let path = crate::providers::bedrock::envelope::invoke_path(
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        true,
    );
    assert_eq!(
        path,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
    );
    let body = br#"{"max_tokens":16,"messages":[]}"#;
    let signed = sign(
        &SignableRequest {
            method: "POST",
            path: &path,
            query: "",
            headers: &[
                ("Host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("Content-Type", "application/json"),
            ],
            body,
        },
        &SigningKeys {
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "secret",
            session_token: Some("tok"),
        },
        &SigningSettings {
            region: "us-east-1",
            service: BEDROCK_SERVICE,
            time: UNIX_EPOCH + Duration::from_secs(1_764_561_600),
            normalize_path: true,
            content_sha256_header: false,
        },
    );
    let uri = signed.canonical_request.lines().nth(1).expect("uri line");
    assert_eq!(
        uri,
        "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/invoke-with-response-stream"
    );
    assert!(
        signed
            .canonical_request
            .contains("x-amz-security-token:tok\n")
    );
    assert!(
        signed
            .canonical_request
            .contains("\ncontent-type;host;x-amz-date;x-amz-security-token\n")
    );
    let names: Vec<&str> = signed.headers.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["x-amz-date", "x-amz-security-token", "authorization"]
    );
    assert_eq!(signed.headers[0].1, "20251201T040000Z");
    assert!(signed.headers[2].1.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20251201/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    ));
    assert_eq!(signed.signature, BOTOCORE_SIGNATURE);
}

#[test]
fn dates_format_across_leap_years_and_centuries() {
    let at = |secs: u64| amz_dates(UNIX_EPOCH + Duration::from_secs(secs)).1;
    assert_eq!(at(0), "19700101T000000Z");
    assert_eq!(at(951_782_400), "20000229T000000Z");
    assert_eq!(at(1_440_938_160), "20150830T123600Z");
    assert_eq!(at(4_102_444_799), "20991231T235959Z");
    assert_eq!(at(4_107_542_399), "21000228T235959Z");
}

#[test]
fn uri_encoding_keeps_only_unreserved() {
    assert_eq!(uri_encode("a b/c:d~e", false), "a%20b%2Fc%3Ad~e");
    assert_eq!(uri_encode("a b/c:d", true), "a%20b/c%3Ad");
}
