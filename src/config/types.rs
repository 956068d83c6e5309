//! The validated, typed configuration the gateway runs on (addresses parsed, durations typed,
//! secrets resolved, money in integer units), with the defaults of every optional setting.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use super::base_url::BaseUrl;
use super::duration::ResetPeriod;
use super::secret::Secret;

/// Default data-plane listener.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// Default admin listener (metrics, health, admin API).
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9090));
/// Default request-body cap (32 MiB); larger bodies get 413.
pub const DEFAULT_MAX_BODY_BYTES: u64 = crate::http::limits::DEFAULT_MAX_BODY_BYTES;
/// Default cap on request header count.
pub const DEFAULT_MAX_HEADERS: usize = crate::http::limits::MAX_HEADERS;
/// Default time allowed to receive a full request head (slowloris guard, then 408).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Default keep-alive idle time of a client connection.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(60_000);
/// Default upstream silence after which an `event: ping` is injected into a stream.
pub const DEFAULT_STREAM_PING: Duration = Duration::from_millis(10_000);
/// Default time in-flight requests get to finish after SIGTERM.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_millis(30_000);
/// Default upstream TCP+TLS connect timeout.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Default max wait for an upstream response head, and between upstream body bytes.
pub const DEFAULT_UPSTREAM_READ_TIMEOUT: Duration = Duration::from_millis(600_000);
/// Default idle time after which a pooled upstream connection is dropped.
pub const DEFAULT_UPSTREAM_IDLE_POOL: Duration = Duration::from_millis(20_000);
/// Default directory of the spend ledger and other durable state.
pub const DEFAULT_STATE_DIR: &str = "./sluice-data";
/// Most shards (cores) a config may ask for.
pub const MAX_CORES: usize = 1024;
/// Largest accepted `max_body_bytes` (1 GiB).
pub const MAX_BODY_BYTES_LIMIT: u64 = 1024 * 1024 * 1024;
/// Largest accepted `max_headers`.
pub const MAX_HEADERS_LIMIT: usize = 1024;
/// Micro-dollars in one US dollar (budgets are counted in micro-dollars).
pub const MICRO_USD_PER_USD: u64 = 1_000_000;
/// Pico-dollars per token in one "USD per million tokens" (prices are pico-dollars per token).
pub const PICO_USD_PER_TOKEN_PER_USD_PER_MTOK: u64 = 1_000_000;

/// `[server]`, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `None` when `admin_listen = "off"`.
    pub admin_listen: Option<SocketAddr>,
    /// 0: one shard per online core; N: the first N cores.
    pub cores: usize,
    pub max_body_bytes: u64,
    pub max_headers: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub stream_ping: Duration,
    pub drain_timeout: Duration,
    pub upstream_connect_timeout: Duration,
    pub upstream_read_timeout: Duration,
    pub upstream_idle_pool: Duration,
    /// How long an idle shard polls for work before it sleeps in the kernel (0: sleep at
    /// once). Spinning trades CPU on a dedicated core for fewer wake-ups and lower latency.
    pub spin_before_park: Duration,
    pub access_log: AccessLogTarget,
    /// TLS on the data and the admin listeners (plain HTTP without it).
    pub tls: super::ListenersTls,
    /// Limits against hostile peers (config/peer_limits.rs).
    pub limits: super::PeerLimits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN,
            admin_listen: Some(DEFAULT_ADMIN_LISTEN),
            cores: 0,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            stream_ping: DEFAULT_STREAM_PING,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            upstream_connect_timeout: DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
            upstream_read_timeout: DEFAULT_UPSTREAM_READ_TIMEOUT,
            upstream_idle_pool: DEFAULT_UPSTREAM_IDLE_POOL,
            spin_before_park: Duration::ZERO,
            access_log: AccessLogTarget::Stderr,
            tls: super::ListenersTls::default(),
            limits: super::PeerLimits::default(),
        }
    }
}

/// Where access-log lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessLogTarget {
    Stderr,
    Off,
    File(PathBuf),
}

/// The upstream API family a provider speaks, by the name a config file gives it
/// (`kind = "..."`). The kinds are the provider modules' (`src/providers/`, listed once in the
/// registry); `config` learns which names exist only through [`super::KindRules::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProviderKind(&'static str);

impl ProviderKind {
    /// The kind spelled `name` in a config file (a provider module's own constant).
    pub const fn named(name: &'static str) -> ProviderKind {
        ProviderKind(name)
    }

    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[providers]]` entry, typed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderConfig {
    /// The prefix users write (`anthropic/claude-sonnet-4-5`); `[a-z0-9_-]+`, unique.
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: BaseUrl,
    /// Empty: the client's own credentials pass through to this provider.
    pub keys: Vec<ProviderKey>,
    /// Extra CA certificates (PEM) trusted for this provider only.
    pub ca_file: Option<PathBuf>,
    /// The HTTP CONNECT proxy this provider's connections go through (None: direct).
    pub egress_proxy: Option<super::EgressProxy>,
    pub budgets: Vec<Budget>,
    /// Requested model name (exact or glob, first match wins) → this provider's model id.
    pub model_map: super::model_map::ModelMap,
    /// The kind-specific keys as written (`region`, `api_version`, credentials, beta tables
    /// ...), checked at load by the kind's own module in `src/providers/` (see `KindRules`),
    /// which also reads them.
    pub options: toml::Table,
}

/// One upstream credential and its share of traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderKey {
    /// Names the key in logs, metrics and the admin API (never the secret); default
    /// `<provider>#<n>` (n from 1), unique within the provider.
    pub id: String,
    pub secret: Secret,
    /// Relative weight in key selection, >= 1 (default 1).
    pub weight: u32,
}

/// A spend cap on one level (provider, customer, team or virtual key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The cap in micro-dollars (`max_usd` × 1,000,000), > 0.
    pub max_micro_usd: u64,
    pub reset: ResetPeriod,
    /// true: periods start on UTC calendar boundaries; false: rolling windows.
    pub calendar_aligned: bool,
}

/// A request, token and/or MCP tool-call rate limit over a window; at least one is set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
    /// MCP `tools/call`s, counted apart from `requests`.
    pub tool_calls: Option<u64>,
    pub window: Duration,
}

/// One `[[routes]]` entry: bare model names matching `pattern` go to `targets` in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Glob (`*`, `?`) over bare model names (`match` in the file).
    pub pattern: String,
    /// Targets in failover order: `provider` (the requested model) or `provider/model`; each
    /// provider exists, no repeats.
    pub targets: Vec<String>,
}

/// Strict reserves the worst case at admission; soft only checks spend so far (docs/ARCHITECTURE.md, "Governance").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetMode {
    Strict,
    Soft,
}

impl BudgetMode {
    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetMode::Strict => "strict",
            BudgetMode::Soft => "soft",
        }
    }
}

/// `[governance]`, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GovernanceConfig {
    /// false (default): requests without a virtual key pass the client's credentials through.
    pub require_virtual_key: bool,
    pub state_dir: PathBuf,
    pub budget_mode: BudgetMode,
    /// Bearer token for the admin API (`env:NAME` or literal); `None` when not configured.
    pub admin_token: Option<Secret>,
    /// `backend = "redis"`: instances share budgets, limits and keys through Redis; `None`:
    /// this instance alone (the embedded ledger).
    pub redis: Option<RedisBackend>,
}

/// `[governance] backend = "redis"` and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisBackend {
    /// `redis://` or `rediss://` (TLS) URL, possibly with credentials (`env:NAME` or literal).
    pub url: Secret,
    /// Prefix of every key sluice writes (several deployments can share one Redis).
    pub key_prefix: String,
    /// This instance's name in Redis; `None`: host name + listen port.
    pub instance_id: Option<String>,
    pub on_error: BackendErrorPolicy,
    /// Instances assumed live before any is seen in Redis (`expected_instances`, default 1):
    /// under `local` each enforces cap / max(this, instances last seen).
    pub expected_instances: u64,
}

/// What an instance does while Redis is unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendErrorPolicy {
    /// Refuse governed requests with 503 until Redis answers again.
    FailClosed,
    /// Enforce this instance's share of every cap (cap / instances seen) alone.
    Local,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            require_virtual_key: false,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            budget_mode: BudgetMode::Strict,
            admin_token: None,
            redis: None,
        }
    }
}

/// One `[[customers]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerConfig {
    pub id: String,
    pub budgets: Vec<Budget>,
    pub rate_limits: Vec<RateLimit>,
}

/// One `[[teams]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamConfig {
    pub id: String,
    /// A declared customer id.
    pub customer: Option<String>,
    pub budgets: Vec<Budget>,
    pub rate_limits: Vec<RateLimit>,
    /// Model globs (`provider/model`) the team may use; empty: any model.
    pub models: Vec<String>,
    /// MCP tool globs (`server__tool`); `None`: no list at this level.
    pub mcp_tools: Option<Vec<String>>,
}

/// How a virtual key's secret is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtualKeySecret {
    /// The key itself (literal or from `env:NAME`).
    Plain(Secret),
    /// Only the SHA-256 of the key (`secret_sha256`, 64 hex digits).
    Sha256([u8; 32]),
}

/// One `[[virtual_keys]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualKeyConfig {
    pub id: String,
    pub secret: VirtualKeySecret,
    /// A declared team id.
    pub team: String,
    /// The key's customer: its own `customer`, else its team's (both declared, never in conflict).
    pub customer: Option<String>,
    pub budgets: Vec<Budget>,
    pub rate_limits: Vec<RateLimit>,
    /// Model globs (`provider/model`) the key may use; empty: any model its team allows.
    pub models: Vec<String>,
    /// Expiry as seconds since the Unix epoch (UTC); `None`: never expires.
    pub expires_at_unix_secs: Option<u64>,
    /// MCP tool globs (`server__tool`); `None`: no list at this level.
    pub mcp_tools: Option<Vec<String>>,
}

/// One `[[pricing]]` entry. Units: pico-dollars per token, which is numerically the same as
/// micro-dollars per million tokens (`3.0` USD/Mtok → `3_000_000`), so
/// `tokens × price` is an exact integer cost in pico-dollars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPrice {
    /// Glob (`*`, `?`) over `provider/model`.
    pub pattern: String,
    pub input_pico_usd_per_token: u64,
    pub output_pico_usd_per_token: u64,
    /// Defaults to the input price when not given.
    pub cache_write_pico_usd_per_token: u64,
    /// Defaults to the input price when not given.
    pub cache_read_pico_usd_per_token: u64,
    /// The most output tokens the model produces in one response: strict mode reserves it for
    /// a request with no `max_tokens`.
    pub max_output_tokens: Option<u64>,
}
