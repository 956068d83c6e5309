//! The state of the cloud provider kinds (`bedrock`, `vertex`), built once at start-up and
//! shared by every shard: each provider's validated options and its credentials, refreshed on
//! background threads so that a request only loads the current ones. Per request it rewrites
//! the body and computes the envelope ([`CloudRequest`]) that the provider's
//! `write_request_head` writes.

use std::sync::Arc;

use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::bedrock::config::{BedrockConfig, BedrockCredentials};
use super::bedrock::credentials::{AwsCredentials, DefaultChain};
use super::bedrock::envelope::{BedrockAuth, auth_headers, invoke_body, invoke_path};
use super::betas::BetaPolicy;
use super::cloud_kind::{BEDROCK_KIND, VERTEX_KIND};
use super::refresh::{Refresher, Unavailable};
use super::vertex::config::{VertexConfig, VertexCredentials};
use super::vertex::envelope::{VertexTarget, count_tokens_body, messages_body};
use super::vertex::oauth::VertexAuth;
use crate::config::{ProviderConfig, Secret};
use crate::error::{ErrorKind, GatewayError};
use crate::http::head::RequestHead;

/// The cloud state of every configured cloud provider, found by provider name (so that a reload
/// that reorders `[[providers]]` cannot hand one provider another's credentials). Swapped whole
/// on reload, off the shards; a request loads it once, lock-free.
pub struct Clouds {
    current: ArcSwap<Vec<Arc<Cloud>>>,
}

impl Default for Clouds {
    fn default() -> Self {
        Clouds {
            current: ArcSwap::from_pointee(Vec::new()),
        }
    }
}

/// One cloud provider.
pub struct Cloud {
    pub name: String,
    /// The provider entry this state was built from (a reload keeps it when unchanged).
    config: ProviderConfig,
    kind: CloudKind,
    betas: BetaPolicy,
    /// Refreshed credentials, if any (for the refresh-failure metric).
    refresh: Option<RefreshStatus>,
    /// `anthropic-beta` values dropped for this provider, for the log line and the metric.
    pub betas_dropped: BetaDrops,
}

enum CloudKind {
    Bedrock {
        region: String,
        auth: AwsAuth,
    },
    Vertex {
        target: VertexTarget,
        auth: VertexAuth,
    },
}

enum AwsAuth {
    Static(AwsCredentials),
    ApiKey(Secret),
    Chain(Arc<Refresher<DefaultChain>>),
}

/// How one refreshed credential source is doing.
enum RefreshStatus {
    Aws(Arc<Refresher<DefaultChain>>),
    Google(Arc<Refresher<super::vertex::oauth::GoogleSource>>),
}

/// Counts of dropped `anthropic-beta` values, by value (a small list: the values Claude Code
/// sends are few).
#[derive(Default)]
pub struct BetaDrops {
    counts: std::sync::Mutex<Vec<(String, Arc<AtomicU64>)>>,
}

impl BetaDrops {
    fn count(&self, beta: &str) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        if let Some((_, n)) = counts.iter().find(|(b, _)| b == beta) {
            n.fetch_add(1, Ordering::Relaxed);
        } else if counts.len() < MAX_COUNTED_BETAS {
            counts.push((beta.to_owned(), Arc::new(AtomicU64::new(1))));
        }
    }

    /// `(beta, drops)` so far.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        self.counts.lock().map_or_else(
            |_| Vec::new(),
            |c| {
                c.iter()
                    .map(|(b, n)| (b.clone(), n.load(Ordering::Relaxed)))
                    .collect()
            },
        )
    }
}

/// Distinct dropped beta values counted per provider (a bound on the metric's label set).
pub const MAX_COUNTED_BETAS: usize = 64;

/// What one request to a cloud provider is sent with: its path and its headers.
pub struct CloudRequest {
    /// The request target (the base URL's path included).
    pub path: String,
    /// Authentication and the kind's own headers, in order.
    pub headers: Vec<(&'static str, String)>,
}

impl Clouds {
    /// Validates the cloud providers' options and fetches their first credentials, then starts
    /// their refresh threads. `env` resolves `env:` secrets and feeds the default chains.
    pub fn start(
        providers: &[ProviderConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Clouds, String> {
        let clouds = Clouds::default();
        clouds
            .current
            .store(Arc::new(clouds.build(providers, env)?));
        Ok(clouds)
    }

    /// The state for a reloaded `providers` list, not yet in use: a provider whose entry did not
    /// change keeps its state (a Vertex token stays cached until near expiry); a new or changed
    /// one, and every Bedrock provider on the AWS chain, is built afresh (its credentials fetched
    /// again: a reload re-reads the environment and the shared profile files). Blocking: call it off the shards. An invalid cloud provider
    /// refuses the whole reload.
    pub fn prepare_reload(
        &self,
        providers: &[ProviderConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Reloaded, String> {
        self.build(providers, env).map(Reloaded)
    }

    /// Puts a prepared reload in use; the state of providers no longer configured ends (with
    /// its refresh thread) once the last request using it is done.
    pub fn apply(&self, reloaded: Reloaded) {
        self.current.store(Arc::new(reloaded.0));
    }

    fn build(
        &self,
        providers: &[ProviderConfig],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Arc<Cloud>>, String> {
        let held = self.current.load();
        let mut built = Vec::new();
        for provider in providers {
            let same = held
                .iter()
                .find(|c| c.config == *provider && c.kept_on_reload());
            if let Some(same) = same {
                built.push(Arc::clone(same));
                continue;
            }
            let cloud = match provider.kind {
                BEDROCK_KIND => bedrock(provider, env)?,
                VERTEX_KIND => vertex(provider, env)?,
                _ => continue,
            };
            cloud.start_refresh()?;
            built.push(Arc::new(cloud));
        }
        Ok(built)
    }

    /// The state of the cloud provider named `name` (None: not a cloud provider, or not
    /// configured any more).
    pub fn get(&self, name: &str) -> Option<Arc<Cloud>> {
        self.current.load().iter().find(|c| c.name == name).cloned()
    }
}

/// A validated cloud state for a reloaded configuration, waiting for [`Clouds::apply`].
pub struct Reloaded(Vec<Arc<Cloud>>);

fn base_url_text(provider: &ProviderConfig) -> String {
    let url = &provider.base_url;
    format!("{}://{}{}", url.scheme(), url.host_header(), url.base_path)
}

fn bedrock(
    provider: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cloud, String> {
    let mut table = provider.options.clone();
    table.insert(
        "base_url".into(),
        toml::Value::String(base_url_text(provider)),
    );
    let api_key = provider.keys.first().map(|k| k.secret.clone());
    let config = BedrockConfig::from_table(&table, api_key, env)
        .map_err(|e| format!("provider `{}`: {e}", provider.name))?;
    let (auth, refresh) = match config.credentials {
        BedrockCredentials::Static(creds) => (AwsAuth::Static(creds), None),
        BedrockCredentials::ApiKey(key) => (AwsAuth::ApiKey(key), None),
        BedrockCredentials::Chain(chain) => {
            let refresher = Refresher::new(chain);
            (
                AwsAuth::Chain(Arc::clone(&refresher)),
                Some(RefreshStatus::Aws(refresher)),
            )
        }
    };
    Ok(Cloud {
        name: provider.name.clone(),
        config: provider.clone(),
        kind: CloudKind::Bedrock {
            region: config.region,
            auth,
        },
        betas: config.betas,
        refresh,
        betas_dropped: BetaDrops::default(),
    })
}

fn vertex(
    provider: &ProviderConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cloud, String> {
    let mut table = provider.options.clone();
    table.insert(
        "base_url".into(),
        toml::Value::String(base_url_text(provider)),
    );
    let token = provider.keys.first().map(|k| k.secret.clone());
    let config = VertexConfig::from_table(&table, token, env)
        .map_err(|e| format!("provider `{}`: {e}", provider.name))?;
    let (auth, refresh) = match config.credentials {
        VertexCredentials::Static(token) => (VertexAuth::Static(token), None),
        VertexCredentials::Source(source) => {
            let refresher = Refresher::new(source);
            (
                VertexAuth::Refreshing(Arc::clone(&refresher)),
                Some(RefreshStatus::Google(refresher)),
            )
        }
    };
    Ok(Cloud {
        name: provider.name.clone(),
        config: provider.clone(),
        kind: CloudKind::Vertex {
            target: config.target,
            auth,
        },
        betas: config.betas,
        refresh,
        betas_dropped: BetaDrops::default(),
    })
}

impl Cloud {
    /// Whether a reload with an unchanged entry keeps this state: not for the AWS chain, whose
    /// sources (profile files) may have changed without the entry changing.
    fn kept_on_reload(&self) -> bool {
        !matches!(
            self.kind,
            CloudKind::Bedrock {
                auth: AwsAuth::Chain(_),
                ..
            }
        )
    }

    /// Whether this is a `kind = "bedrock"` provider (its streams are event streams).
    pub fn is_bedrock(&self) -> bool {
        matches!(self.kind, CloudKind::Bedrock { .. })
    }

    /// Fetches the first credentials now (a failure is logged, not fatal: the refresh thread
    /// retries and requests fail with a clear error until it succeeds) and starts the thread.
    fn start_refresh(&self) -> Result<(), String> {
        let thread = format!("sluice-refresh-{}", self.name);
        let now = SystemTime::now();
        let started = match &self.refresh {
            None => return Ok(()),
            Some(RefreshStatus::Aws(r)) => {
                log_refresh(&self.name, r.refresh_if_due(now));
                r.spawn(&thread)
            }
            Some(RefreshStatus::Google(r)) => {
                log_refresh(&self.name, r.refresh_if_due(now));
                r.spawn(&thread)
            }
        };
        started
            .map(drop)
            .map_err(|e| format!("provider `{}`: cannot start {thread}: {e}", self.name))
    }

    /// Failed credential refreshes so far.
    pub fn refresh_failures(&self) -> u64 {
        match &self.refresh {
            None => 0,
            Some(RefreshStatus::Aws(r)) => r.failures(),
            Some(RefreshStatus::Google(r)) => r.failures(),
        }
    }

    /// Rewrites `body` for the provider and returns the request's path and headers. `stream`:
    /// the client asked for a stream; `count_tokens`: the request is a count_tokens call
    /// (Vertex only; the flow answers Bedrock's itself).
    pub fn prepare(
        &self,
        provider: &ProviderConfig,
        head: &RequestHead,
        model: &str,
        request: CloudCall,
        body: &mut Vec<u8>,
    ) -> Result<CloudRequest, GatewayError> {
        let betas = self.betas.filter(
            head.headers()
                .filter(|(name, _)| name.eq_ignore_ascii_case("anthropic-beta"))
                .filter_map(|(_, value)| std::str::from_utf8(value).ok()),
        );
        for beta in &betas.dropped {
            self.betas_dropped.count(beta);
        }
        let mut rewritten = Vec::with_capacity(body.len() + 96);
        let bad_body = |e: super::top_level::BodyError| {
            GatewayError::new(ErrorKind::BadRequest, format!("request body: {e}"))
        };
        // The clock is read once per request: the signature and the token check agree.
        let now = SystemTime::now();
        let base_path = &provider.base_url.base_path;
        let request = match &self.kind {
            CloudKind::Bedrock { region, auth } => {
                let CloudCall::Messages { stream } = request else {
                    return Err(GatewayError::new(
                        ErrorKind::NoProvider,
                        "count_tokens is answered by sluice for Bedrock",
                    ));
                };
                invoke_body(body, &betas.kept, &mut rewritten).map_err(bad_body)?;
                let path = format!("{base_path}{}", invoke_path(model, stream));
                let host = provider.base_url.host_header();
                let creds;
                let signer = match auth {
                    AwsAuth::Static(c) => BedrockAuth::SigV4(c),
                    AwsAuth::ApiKey(key) => BedrockAuth::ApiKey(key),
                    AwsAuth::Chain(refresher) => {
                        creds = refresher
                            .current(now)
                            .map_err(|e| unavailable(&self.name, &e))?;
                        BedrockAuth::SigV4(&creds.value)
                    }
                };
                let mut headers = auth_headers(signer, region, &host, &path, &rewritten, now);
                let accept = if stream {
                    "application/vnd.amazon.eventstream"
                } else {
                    "application/json"
                };
                headers.push(("accept", accept.to_owned()));
                CloudRequest { path, headers }
            }
            CloudKind::Vertex { target, auth } => {
                let url = match request {
                    CloudCall::Messages { stream } => {
                        messages_body(body, &mut rewritten).map_err(bad_body)?;
                        target.messages_url(model, stream)
                    }
                    CloudCall::CountTokens => {
                        count_tokens_body(body, model, &mut rewritten).map_err(bad_body)?;
                        target.count_tokens_url()
                    }
                };
                let path = format!("{base_path}{}", &url[target.base_url.len()..]);
                let token = auth
                    .authorization(now)
                    .map_err(|e| unavailable(&self.name, &e))?;
                let mut headers = vec![("authorization", token)];
                if !betas.kept.is_empty() {
                    headers.push(("anthropic-beta", betas.kept.join(",")));
                }
                CloudRequest { path, headers }
            }
        };
        *body = rewritten;
        Ok(request)
    }
}

/// Which call a cloud request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudCall {
    Messages { stream: bool },
    CountTokens,
}

fn unavailable(provider: &str, e: &Unavailable) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamUnreachable,
        format!("provider `{provider}`: no valid credentials: {e}"),
    )
}

fn log_refresh(provider: &str, result: Result<bool, String>) {
    if let Err(e) = result {
        eprintln!(
            "sluice: provider `{provider}`: fetching credentials failed (retried in the background): {e}"
        );
    }
}

impl Clouds {
    /// Appends the cloud providers' counters in Prometheus text format: dropped
    /// `anthropic-beta` values and failed credential refreshes.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let clouds = self.current.load();
        if clouds.is_empty() {
            return;
        }
        out.push_str("# HELP sluice_betas_dropped_total anthropic-beta values dropped before sending to a provider that does not accept them.\n# TYPE sluice_betas_dropped_total counter\n");
        for cloud in clouds.iter() {
            for (beta, n) in cloud.betas_dropped.snapshot() {
                let _ = writeln!(
                    out,
                    "sluice_betas_dropped_total{{provider=\"{}\",beta=\"{}\"}} {n}",
                    label(&cloud.name),
                    label(&beta)
                );
            }
        }
        out.push_str("# HELP sluice_credential_refresh_failures_total Failed fetches of a cloud provider's credentials or tokens.\n# TYPE sluice_credential_refresh_failures_total counter\n");
        for cloud in clouds.iter() {
            let _ = writeln!(
                out,
                "sluice_credential_refresh_failures_total{{provider=\"{}\"}} {}",
                label(&cloud.name),
                cloud.refresh_failures()
            );
        }
    }
}

/// A Prometheus label value: `\`, `"` and line breaks escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
