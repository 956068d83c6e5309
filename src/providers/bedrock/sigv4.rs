//! AWS Signature Version 4 for Bedrock requests: canonical request, string to sign, signing key
//! and the headers to add, checked against AWS's published SigV4 test suite.
//!
//! Hand-written on `hmac` + `sha2` rather than the `aws-sigv4` crate, which brings tokio, the
//! smithy runtime and two `http` crates into a thread-per-core gateway for one HMAC chain. The clock is
//! read once per request by the caller and passed in as `time`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name Bedrock Runtime signs with.
pub const BEDROCK_SERVICE: &str = "bedrock";

/// The credentials that sign one request.
#[derive(Clone, Copy, Debug)]
pub struct SigningKeys<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// What is signed: the request as it goes on the wire.
#[derive(Clone, Copy, Debug)]
pub struct SignableRequest<'a> {
    pub method: &'a str,
    /// The path exactly as the request line carries it (already percent-encoded where the
    /// wire needs it); the canonical URI encodes it once more, which is what makes a Bedrock
    /// model id's `%3A` appear as `%253A` in the canonical request.
    pub path: &'a str,
    /// The raw query string without `?` (empty for none).
    pub query: &'a str,
    /// Headers to sign (must include `host`); names in any case, values as sent.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// How to sign.
#[derive(Clone, Copy, Debug)]
pub struct SigningSettings<'a> {
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
    /// Remove `.`/`..` segments and repeated slashes before encoding (every service but S3).
    pub normalize_path: bool,
    /// Add and sign `x-amz-content-sha256` (S3 style; Bedrock does not need it).
    pub content_sha256_header: bool,
}

/// The outcome: the headers to add to the request, and the intermediate texts for tests and
/// for debugging a 403.
#[derive(Clone, Debug)]
pub struct Signed {
    /// `(name, value)` in the order to write them: `x-amz-date`, optional
    /// `x-amz-security-token`, optional `x-amz-content-sha256`, `authorization`.
    pub headers: Vec<(&'static str, String)>,
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signature: String,
}

/// Signs `request`. Pure: the same inputs give the same output.
pub fn sign(
    request: &SignableRequest<'_>,
    keys: &SigningKeys<'_>,
    settings: &SigningSettings<'_>,
) -> Signed {
    let (date, amz_date) = amz_dates(settings.time);
    let payload_hash = hex(&Sha256::digest(request.body));

    let mut extra: Vec<(&'static str, String)> = vec![("x-amz-date", amz_date.clone())];
    if let Some(token) = keys.session_token {
        extra.push(("x-amz-security-token", token.to_owned()));
    }
    if settings.content_sha256_header {
        extra.push(("x-amz-content-sha256", payload_hash.clone()));
    }

    let (canonical_headers, signed_headers) = canonical_headers(request.headers, &extra);
    let canonical_uri = canonical_uri(request.path, settings.normalize_path);
    let canonical_query = canonical_query(request.query);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_uri,
        canonical_query,
        canonical_headers,
        signed_headers,
        payload_hash
    );
    let scope = format!(
        "{date}/{}/{}/aws4_request",
        settings.region, settings.service
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(
        keys.secret_access_key,
        &date,
        settings.region,
        settings.service,
    );
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    extra.push((
        "authorization",
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            keys.access_key_id
        ),
    ));
    Signed {
        headers: extra,
        canonical_request,
        string_to_sign,
        signature,
    }
}

/// The derived key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `("20150830", "20150830T123600Z")` for a time (UTC; times before 1970 clamp to the epoch).
pub fn amz_dates(time: SystemTime) -> (String, String) {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let date = format!("{year:04}{month:02}{day:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    (date, stamp)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Canonical headers (lower-cased names, sorted; values trimmed with inner runs of spaces
/// collapsed; repeated names joined by `,`) and the `;`-joined signed header list.
fn canonical_headers(
    headers: &[(&str, &str)],
    extra: &[(&'static str, String)],
) -> (String, String) {
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), normalize_value(value)))
        .chain(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), normalize_value(value))),
        )
        .collect();
    // Stable sort keeps the order of repeated names, whose values join in the order sent.
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut canonical = String::new();
    let mut signed = String::new();
    let mut index = 0;
    while index < all.len() {
        let name = &all[index].0;
        let mut values = vec![all[index].1.as_str()];
        let mut next = index + 1;
        while next < all.len() && all[next].0 == *name {
            values.push(all[next].1.as_str());
            next += 1;
        }
        let _ = writeln!(canonical, "{name}:{}", values.join(","));
        if !signed.is_empty() {
            signed.push(';');
        }
        signed.push_str(name);
        index = next;
    }
    (canonical, signed)
}

fn normalize_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Encodes every byte but RFC 3986 unreserved characters (and `/` when `keep_slash`).
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        let unreserved = byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

fn canonical_uri(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if !normalize {
        return uri_encode(path, true);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::from("/");
    normalized.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        normalized.push('/');
    }
    uri_encode(&normalized, true)
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(name), false),
                uri_encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `%XX` escapes; malformed escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).and_then(hex_value),
                bytes.get(index + 2).and_then(hex_value),
            )
        {
            out.push(high << 4 | low);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: &u8) -> Option<u8> {
    (*byte as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
#[path = "sigv4_tests.rs"]
mod tests;
