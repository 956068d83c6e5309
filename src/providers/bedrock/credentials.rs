//! AWS credentials for SigV4: static keys from the config (`env:` or literal), and the standard
//! default chain the AWS SDKs use — `AWS_*` environment variables, a profile in the shared
//! config/credentials files, a web-identity token file exchanged at STS (EKS), then instance
//! metadata (IMDSv2). Temporary credentials are refreshed by [`crate::providers::refresh`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::profile::{MAX_PROFILE_FILE_BYTES, Sections, parse_ini, profile_keys};
use crate::config::{Secret, parse_rfc3339_unix_secs, resolve_secret};
use crate::providers::blocking_http::{expect_ok, get, post_form, put_empty};
use crate::providers::refresh::{Expiring, Fetch};

/// IMDS's default endpoint.
pub const IMDS_DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// The IMDSv2 session token lifetime requested.
pub const IMDS_TOKEN_TTL_SECS: &str = "21600";
/// STS's global endpoint (regional when a region is known).
pub const STS_GLOBAL_ENDPOINT: &str = "https://sts.amazonaws.com";
/// The largest web-identity token file read.
pub const MAX_WEB_IDENTITY_TOKEN_BYTES: u64 = 64 * 1024;

/// One set of AWS credentials. Prints without its secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    pub expires_at: Option<SystemTime>,
}

impl AwsCredentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
        session_token: Option<Secret>,
        expires_at: Option<SystemTime>,
    ) -> AwsCredentials {
        AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key,
            session_token,
            expires_at,
        }
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Resolves static keys from config (`aws_access_key_id`, `aws_secret_access_key`, optional
/// `aws_session_token`; each `env:NAME` or a literal). Errors name the key.
pub fn static_credentials(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AwsCredentials, String> {
    let resolve =
        |key: &str, spec: &str| resolve_secret(spec, env).map_err(|e| format!("`{key}`: {e}"));
    let id = resolve("aws_access_key_id", access_key_id)?;
    let secret = resolve("aws_secret_access_key", secret_access_key)?;
    let token = session_token
        .map(|spec| resolve("aws_session_token", spec))
        .transpose()?;
    Ok(AwsCredentials::new(id.expose(), secret, token, None))
}

/// The environment variables the chain reads, captured once (at startup or reload) so the
/// refresh thread never reads the process environment.
pub const CHAIN_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_STS",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_EC2_METADATA_DISABLED",
    "HOME",
];

/// The default credential chain of one provider.
#[derive(Clone, Debug)]
pub struct DefaultChain {
    vars: HashMap<String, String>,
    /// `aws_profile` from the provider config (wins over `AWS_PROFILE`).
    profile: Option<String>,
    /// The provider's region (the STS regional endpoint).
    region: Option<String>,
}

impl DefaultChain {
    /// Captures [`CHAIN_VARIABLES`] through `env`.
    pub fn new(
        profile: Option<&str>,
        region: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> DefaultChain {
        let vars = CHAIN_VARIABLES
            .iter()
            .filter_map(|name| {
                env(name)
                    .filter(|v| !v.is_empty())
                    .map(|v| ((*name).to_owned(), v))
            })
            .collect();
        DefaultChain {
            vars,
            profile: profile.map(str::to_owned),
            region: region.map(str::to_owned),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Walks the chain: the first source that is configured answers (or fails).
    pub fn resolve(&self) -> Result<AwsCredentials, String> {
        if let Some(creds) = self.env_var_keys()? {
            return Ok(creds);
        }
        if let Some(creds) = self.profile_credentials()? {
            return Ok(creds);
        }
        if let (Some(file), Some(role)) = (
            self.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            self.var("AWS_ROLE_ARN"),
        ) {
            let session = self.var("AWS_ROLE_SESSION_NAME").unwrap_or("sluice");
            return self.assume_role_with_web_identity(file, role, session);
        }
        if self
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err("no AWS credentials: no AWS_* variables, no usable profile, no web identity, and IMDS is disabled".into());
        }
        self.imds_credentials().map_err(|e| format!("no AWS credentials found (environment, profile, web identity); instance metadata: {e}"))
    }

    fn env_var_keys(&self) -> Result<Option<AwsCredentials>, String> {
        match (
            self.var("AWS_ACCESS_KEY_ID"),
            self.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => Ok(Some(AwsCredentials::new(
                id,
                Secret::new(secret),
                self.var("AWS_SESSION_TOKEN").map(Secret::new),
                None,
            ))),
            (Some(_), None) => {
                Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into())
            }
            _ => Ok(None),
        }
    }

    fn home_file(&self, var: &str, default: &str) -> Option<PathBuf> {
        if let Some(path) = self.var(var) {
            return Some(PathBuf::from(path));
        }
        self.var("HOME")
            .map(|home| PathBuf::from(home).join(default))
    }

    fn read_sections(&self, var: &str, default: &str) -> Result<Sections, String> {
        let Some(path) = self.home_file(var, default) else {
            return Ok(Sections::new());
        };
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() > MAX_PROFILE_FILE_BYTES => Err(format!(
                "{} is larger than {MAX_PROFILE_FILE_BYTES} bytes",
                path.display()
            )),
            Ok(bytes) => Ok(parse_ini(&String::from_utf8_lossy(&bytes))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Sections::new()),
            Err(err) => Err(format!("reading {}: {err}", path.display())),
        }
    }

    fn profile_credentials(&self) -> Result<Option<AwsCredentials>, String> {
        let explicit = self.profile.as_deref().or(self.var("AWS_PROFILE"));
        let name = explicit.unwrap_or("default");
        let config = self.read_sections("AWS_CONFIG_FILE", ".aws/config")?;
        let credentials = self.read_sections("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")?;
        let Some(keys) = profile_keys(&config, &credentials, name) else {
            return match explicit {
                Some(name) => Err(format!(
                    "AWS profile `{name}` is not in the shared config or credentials file"
                )),
                None => Ok(None),
            };
        };
        if let (Some(id), Some(secret)) = (
            keys.get("aws_access_key_id"),
            keys.get("aws_secret_access_key"),
        ) {
            return Ok(Some(AwsCredentials::new(
                id.as_str(),
                Secret::new(secret.as_str()),
                keys.get("aws_session_token")
                    .map(|t| Secret::new(t.as_str())),
                None,
            )));
        }
        if let (Some(file), Some(role)) =
            (keys.get("web_identity_token_file"), keys.get("role_arn"))
        {
            let session = keys
                .get("role_session_name")
                .map(String::as_str)
                .unwrap_or("sluice");
            return self
                .assume_role_with_web_identity(file, role, session)
                .map(Some);
        }
        match explicit {
            Some(name) => Err(format!(
                "AWS profile `{name}` has neither static keys nor web_identity_token_file + role_arn \
                 (source_profile, SSO and credential_process are not supported)"
            )),
            None => Ok(None),
        }
    }

    fn sts_endpoint(&self) -> String {
        if let Some(url) = self.var("AWS_ENDPOINT_URL_STS") {
            return url.trim_end_matches('/').to_owned();
        }
        match self.region.as_deref().or(self.var("AWS_REGION")) {
            Some(region) => format!("https://sts.{region}.amazonaws.com"),
            None => STS_GLOBAL_ENDPOINT.to_owned(),
        }
    }

    fn assume_role_with_web_identity(
        &self,
        token_file: &str,
        role: &str,
        session: &str,
    ) -> Result<AwsCredentials, String> {
        let token = read_capped(token_file, MAX_WEB_IDENTITY_TOKEN_BYTES)
            .map_err(|e| format!("web identity token file {token_file}: {e}"))?;
        let endpoint = format!("{}/", self.sts_endpoint());
        let reply = post_form(
            &endpoint,
            &[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", role),
                ("RoleSessionName", session),
                ("WebIdentityToken", token.trim()),
            ],
        )?;
        parse_sts_response(&expect_ok(reply, "STS AssumeRoleWithWebIdentity")?)
    }

    fn imds_credentials(&self) -> Result<AwsCredentials, String> {
        let base = self
            .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or(IMDS_DEFAULT_ENDPOINT)
            .trim_end_matches('/');
        let token = expect_ok(
            put_empty(
                &format!("{base}/latest/api/token"),
                &[("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL_SECS)],
            )?,
            "IMDS token",
        )?;
        let auth = [("x-aws-ec2-metadata-token", token.trim())];
        let list_url = format!("{base}/latest/meta-data/iam/security-credentials/");
        let roles = expect_ok(get(&list_url, &auth)?, "IMDS role list")?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or("IMDS lists no instance role")?;
        let creds = expect_ok(
            get(&format!("{list_url}{role}"), &auth)?,
            "IMDS credentials",
        )?;
        parse_imds_credentials(&creds)
    }
}

impl Fetch for DefaultChain {
    type Value = AwsCredentials;
    fn fetch(&self) -> Result<Expiring<AwsCredentials>, String> {
        let creds = self.resolve()?;
        Ok(Expiring {
            expires_at: creds.expires_at,
            value: creds,
        })
    }
}

fn read_capped(path: &str, cap: u64) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(cap + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > cap {
        return Err(format!("larger than {cap} bytes"));
    }
    Ok(text)
}

fn rfc3339(text: &str) -> Result<SystemTime, String> {
    parse_rfc3339_unix_secs(text).map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
}

/// IMDS's credential document: `{"Code":"Success","AccessKeyId",...,"Expiration"}`.
pub fn parse_imds_credentials(json: &str) -> Result<AwsCredentials, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Doc {
        code: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        token: Option<String>,
        expiration: Option<String>,
    }
    let doc: Doc =
        serde_json::from_str(json).map_err(|e| format!("IMDS credentials are not JSON: {e}"))?;
    if let Some(code) = doc.code.filter(|c| c != "Success") {
        return Err(format!("IMDS credentials code is {code}"));
    }
    let (Some(id), Some(secret)) = (doc.access_key_id, doc.secret_access_key) else {
        return Err("IMDS credentials lack AccessKeyId/SecretAccessKey".into());
    };
    let expires_at = doc.expiration.as_deref().map(rfc3339).transpose()?;
    Ok(AwsCredentials::new(
        id,
        Secret::new(secret),
        doc.token.map(Secret::new),
        expires_at,
    ))
}

/// The `<Credentials>` of an STS `AssumeRole*` XML response.
pub fn parse_sts_response(xml: &str) -> Result<AwsCredentials, String> {
    let field = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = xml.find(&open)? + open.len();
        let end = start + xml[start..].find(&format!("</{name}>"))?;
        Some(xml_unescape(xml[start..end].trim()))
    };
    let (Some(id), Some(secret), Some(token)) = (
        field("AccessKeyId"),
        field("SecretAccessKey"),
        field("SessionToken"),
    ) else {
        return Err("STS response lacks AccessKeyId/SecretAccessKey/SessionToken".into());
    };
    let expires_at = field("Expiration").as_deref().map(rfc3339).transpose()?;
    Ok(AwsCredentials::new(
        id,
        Secret::new(secret),
        Some(Secret::new(token)),
        expires_at,
    ))
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
