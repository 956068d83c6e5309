//! Google OAuth access tokens for Vertex: a service account's RS256 JWT assertion exchanged at
//! its `token_uri`, an `authorized_user` refresh token, or the GCE metadata server — chosen by
//! Application Default Credentials rules — cached and refreshed off the shards through
//! [`crate::providers::refresh`]. A static token from `keys` needs none of this.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

use crate::config::Secret;
use crate::providers::blocking_http::{expect_ok, get, post_form};
use crate::providers::refresh::{Expiring, Fetch, Refresher, Unavailable};

/// The scope Vertex AI needs.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint when a credentials file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The metadata server's host when `GCE_METADATA_HOST` is unset.
pub const GCE_METADATA_DEFAULT_HOST: &str = "metadata.google.internal";
/// The metadata server's token path for the default service account.
pub const GCE_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// How long a signed assertion is valid (Google's maximum).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// The largest credentials file read.
pub const MAX_CREDENTIALS_FILE_BYTES: usize = 64 * 1024;
/// The JWT-bearer grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A service account from its JSON key file.
pub struct ServiceAccount {
    pub client_email: String,
    pub private_key_id: Option<String>,
    pub token_uri: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

/// A user's `gcloud auth application-default login` credentials.
#[derive(Debug)]
pub struct AuthorizedUser {
    pub client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
    pub token_uri: String,
}

/// Where tokens come from.
#[derive(Debug)]
pub enum GoogleSource {
    ServiceAccount(Box<ServiceAccount>),
    AuthorizedUser(AuthorizedUser),
    /// The metadata server at this base URL (`http://host[:port]`).
    Metadata(String),
}

#[derive(serde::Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

impl ServiceAccount {
    /// Signs the assertion for `now`: header `{"alg":"RS256","typ":"JWT","kid":...}`, claims
    /// `iss` = client_email, `scope`, `aud` = token_uri, `iat`, `exp` = iat + 1 h.
    pub fn assertion(&self, now: SystemTime) -> Result<String, String> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the service-account assertion failed".to_owned())?;
        Ok(format!("{signing_input}.{}", b64.encode(signature)))
    }
}

/// Parses a credentials JSON (`service_account` or `authorized_user`).
pub fn source_from_json(text: &str) -> Result<GoogleSource, String> {
    let file: CredentialsFile = serde_json::from_str(text)
        .map_err(|e| format!("credentials file is not valid JSON: {e}"))?;
    let token_uri = file
        .token_uri
        .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_owned());
    match file.kind.as_deref() {
        Some("service_account") => {
            let client_email = file
                .client_email
                .ok_or("service-account file lacks `client_email`")?;
            let pem = file
                .private_key
                .ok_or("service-account file lacks `private_key`")?;
            Ok(GoogleSource::ServiceAccount(Box::new(ServiceAccount {
                client_email,
                private_key_id: file.private_key_id,
                token_uri,
                key: rsa_key_from_pem(&pem)?,
            })))
        }
        Some("authorized_user") => Ok(GoogleSource::AuthorizedUser(AuthorizedUser {
            client_id: file
                .client_id
                .ok_or("authorized_user file lacks `client_id`")?,
            client_secret: Secret::new(
                file.client_secret
                    .ok_or("authorized_user file lacks `client_secret`")?,
            ),
            refresh_token: Secret::new(
                file.refresh_token
                    .ok_or("authorized_user file lacks `refresh_token`")?,
            ),
            token_uri,
        })),
        Some(other) => Err(format!(
            "credentials file type `{other}` is not supported (use a service_account or authorized_user file)"
        )),
        None => Err("credentials file lacks `type`".into()),
    }
}

fn rsa_key_from_pem(pem: &str) -> Result<RsaKeyPair, String> {
    use rustls_pemfile::Item;
    let bad = |what: &str| format!("service-account `private_key` {what}");
    let item = rustls_pemfile::read_one(&mut pem.as_bytes())
        .map_err(|_| bad("is not PEM"))?
        .ok_or_else(|| bad("holds no PEM block"))?;
    match item {
        Item::Pkcs8Key(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| bad(&format!("is not an RSA key: {e}"))),
        Item::Pkcs1Key(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
            .map_err(|e| bad(&format!("is not an RSA key: {e}"))),
        _ => Err(bad("is not an RSA private key")),
    }
}

/// Reads and parses a credentials file (`credentials_file`, `GOOGLE_APPLICATION_CREDENTIALS`).
pub fn source_from_file(path: &str) -> Result<GoogleSource, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading credentials file {path}: {e}"))?;
    if bytes.len() > MAX_CREDENTIALS_FILE_BYTES {
        return Err(format!(
            "credentials file {path} is larger than {MAX_CREDENTIALS_FILE_BYTES} bytes"
        ));
    }
    source_from_json(&String::from_utf8_lossy(&bytes)).map_err(|e| format!("{path}: {e}"))
}

/// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS`, then gcloud's
/// well-known file under `$HOME/.config/gcloud/`, then the metadata server (its host from
/// `GCE_METADATA_HOST`, as Google's libraries read it).
pub fn application_default(env: &dyn Fn(&str) -> Option<String>) -> Result<GoogleSource, String> {
    if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS").filter(|p| !p.is_empty()) {
        return source_from_file(&path);
    }
    if let Some(home) = env("HOME").filter(|h| !h.is_empty()) {
        let well_known = format!("{home}/.config/gcloud/application_default_credentials.json");
        if std::path::Path::new(&well_known).is_file() {
            return source_from_file(&well_known);
        }
    }
    let host = env("GCE_METADATA_HOST")
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| GCE_METADATA_DEFAULT_HOST.to_owned());
    Ok(GoogleSource::Metadata(format!(
        "http://{}",
        host.trim_end_matches('/')
    )))
}

/// An access token as the token endpoints return it.
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// `{"access_token": ..., "expires_in": seconds}` → the token and its expiry from `now`.
pub fn parse_token_response(body: &str, now: SystemTime) -> Result<Expiring<Secret>, String> {
    let reply: TokenResponse =
        serde_json::from_str(body).map_err(|e| format!("token response is not valid: {e}"))?;
    if reply.access_token.is_empty() {
        return Err("token response has an empty access_token".into());
    }
    let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600));
    Ok(Expiring {
        value: Secret::new(reply.access_token),
        expires_at: Some(now + lifetime),
    })
}

impl Fetch for GoogleSource {
    type Value = Secret;
    fn fetch(&self) -> Result<Expiring<Secret>, String> {
        let now = SystemTime::now();
        match self {
            GoogleSource::ServiceAccount(account) => {
                let assertion = account.assertion(now)?;
                let reply = post_form(
                    &account.token_uri,
                    &[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)],
                )?;
                parse_token_response(&expect_ok(reply, "Google token endpoint")?, now)
            }
            GoogleSource::AuthorizedUser(user) => {
                let reply = post_form(
                    &user.token_uri,
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", &user.client_id),
                        ("client_secret", user.client_secret.expose()),
                        ("refresh_token", user.refresh_token.expose()),
                    ],
                )?;
                parse_token_response(&expect_ok(reply, "Google token endpoint")?, now)
            }
            GoogleSource::Metadata(base) => {
                let reply = get(
                    &format!("{base}{GCE_TOKEN_PATH}"),
                    &[("Metadata-Flavor", "Google")],
                )?;
                parse_token_response(&expect_ok(reply, "GCE metadata server")?, now)
            }
        }
    }
}

/// How requests to one Vertex provider get their bearer token.
#[derive(Clone)]
pub enum VertexAuth {
    /// A token minted by the user (`keys`), sent as is.
    Static(Secret),
    /// A refreshed token; start its thread with [`Refresher::spawn`].
    Refreshing(Arc<Refresher<GoogleSource>>),
}

impl VertexAuth {
    /// The `Authorization` header value for a request at `now`. One atomic load.
    pub fn authorization(&self, now: SystemTime) -> Result<String, Unavailable> {
        match self {
            VertexAuth::Static(token) => Ok(format!("Bearer {}", token.expose())),
            VertexAuth::Refreshing(cache) => {
                Ok(format!("Bearer {}", cache.current(now)?.value.expose()))
            }
        }
    }
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
