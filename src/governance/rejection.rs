//! Why governance refused a request, with everything the answer needs: status, Anthropic error
//! type, message, `retry-after`, and a short reason for the rejection metrics.

use std::fmt;

use super::entity::Level;
use super::window::format_rfc3339;
use crate::config::ResetPeriod;

/// Why a credential was refused (401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential, and `require_virtual_key = true`.
    Missing,
    /// A credential that is not a virtual key, and `require_virtual_key = true`.
    Unknown,
    Revoked,
    Expired,
}

/// Which count of a rate limit ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateKind {
    Requests,
    Tokens,
    ToolCalls,
}

impl RateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RateKind::Requests => "requests",
            RateKind::Tokens => "tokens",
            RateKind::ToolCalls => "tool calls",
        }
    }
}

/// What a strict-mode shard is short of its share of when it answers `BudgetBusy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusyLimit {
    Budget,
    Requests,
    Tokens,
    ToolCalls,
}

impl BusyLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            BusyLimit::Budget => "budget",
            BusyLimit::Requests => "request limit",
            BusyLimit::Tokens => "token limit",
            BusyLimit::ToolCalls => "tool-call limit",
        }
    }
}

/// A refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// 401 `authentication_error`.
    Unauthenticated(AuthFailure),
    /// 403 `permission_error`: `model` (`provider/model`) is not on `entity`'s allow-list.
    ModelNotAllowed {
        level: Level,
        entity: String,
        model: String,
    },
    /// 429 `rate_limit_error`.
    RateLimited {
        level: Level,
        entity: String,
        kind: RateKind,
        limit: u64,
        window_secs: u64,
        retry_after_secs: u64,
    },
    /// 429 `rate_limit_error`: strict mode, the budget or rate limit has room but this shard's
    /// share of it is in use; more share has been asked of the other shards, so a retry soon
    /// may succeed.
    BudgetBusy {
        level: Level,
        entity: String,
        limit: BusyLimit,
        retry_after_secs: u64,
    },
    /// 402 `billing_error`: a budget is spent (soft), or this request's worst case does not
    /// fit in what is left of it (strict).
    BudgetExceeded {
        level: Level,
        entity: String,
        max_micro_usd: u64,
        reset: ResetPeriod,
        calendar_aligned: bool,
        resets_at_unix_secs: u64,
    },
    /// 400 `invalid_request_error`: a governed request for a model with no price.
    UnpricedModel { model: String },
    /// 503 `api_error`: the Redis budget backend does not answer and the policy is
    /// `fail_closed`.
    BackendUnavailable,
}

/// Seconds a client is told to wait when strict share is being rebalanced.
pub const BUDGET_BUSY_RETRY_SECS: u64 = 1;

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::Unauthenticated(_) => 401,
            Rejection::ModelNotAllowed { .. } => 403,
            Rejection::RateLimited { .. } | Rejection::BudgetBusy { .. } => 429,
            Rejection::BudgetExceeded { .. } => 402,
            Rejection::UnpricedModel { .. } => 400,
            Rejection::BackendUnavailable => 503,
        }
    }

    /// The Anthropic `error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Rejection::Unauthenticated(_) => "authentication_error",
            Rejection::ModelNotAllowed { .. } => "permission_error",
            Rejection::RateLimited { .. } | Rejection::BudgetBusy { .. } => "rate_limit_error",
            Rejection::BudgetExceeded { .. } => "billing_error",
            Rejection::UnpricedModel { .. } => "invalid_request_error",
            Rejection::BackendUnavailable => "api_error",
        }
    }

    /// A stable label for the rejections-by-reason metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Unauthenticated(AuthFailure::Missing) => "auth_missing",
            Rejection::Unauthenticated(AuthFailure::Unknown) => "auth_unknown",
            Rejection::Unauthenticated(AuthFailure::Revoked) => "auth_revoked",
            Rejection::Unauthenticated(AuthFailure::Expired) => "auth_expired",
            Rejection::ModelNotAllowed { .. } => "model_not_allowed",
            Rejection::RateLimited {
                kind: RateKind::Requests,
                ..
            } => "rate_limit_requests",
            Rejection::RateLimited {
                kind: RateKind::Tokens,
                ..
            } => "rate_limit_tokens",
            Rejection::RateLimited {
                kind: RateKind::ToolCalls,
                ..
            } => "rate_limit_tool_calls",
            Rejection::BudgetBusy { .. } => "budget_busy",
            Rejection::BudgetExceeded { .. } => "budget_exceeded",
            Rejection::UnpricedModel { .. } => "unpriced_model",
            Rejection::BackendUnavailable => "budget_backend_unavailable",
        }
    }

    /// The `retry-after` header value (whole seconds, at least 1), for 429s.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Rejection::RateLimited {
                retry_after_secs, ..
            }
            | Rejection::BudgetBusy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Rejection::BackendUnavailable => Some(BUDGET_BUSY_RETRY_SECS),
            _ => None,
        }
    }

    /// The human-readable `error.message`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Unauthenticated(AuthFailure::Missing) => {
                f.write_str("a virtual key is required (x-api-key or Authorization: Bearer)")
            }
            Rejection::Unauthenticated(AuthFailure::Unknown) => f.write_str("invalid virtual key"),
            Rejection::Unauthenticated(AuthFailure::Revoked) => {
                f.write_str("this virtual key has been revoked")
            }
            Rejection::Unauthenticated(AuthFailure::Expired) => {
                f.write_str("this virtual key has expired")
            }
            Rejection::ModelNotAllowed {
                level,
                entity,
                model,
            } => write!(
                f,
                "model `{model}` is not allowed for {} `{entity}`",
                level.as_str()
            ),
            Rejection::RateLimited {
                level,
                entity,
                kind,
                limit,
                window_secs,
                retry_after_secs,
            } => write!(
                f,
                "rate limit of {limit} {} per {window_secs}s reached for {} `{entity}`; retry after {retry_after_secs}s",
                kind.as_str(),
                level.as_str()
            ),
            Rejection::BudgetBusy {
                level,
                entity,
                limit,
                retry_after_secs,
            } => write!(
                f,
                "{} of {} `{entity}` is busy with requests in flight; retry after {retry_after_secs}s",
                limit.as_str(),
                level.as_str()
            ),
            Rejection::BudgetExceeded {
                level,
                entity,
                max_micro_usd,
                reset,
                calendar_aligned,
                resets_at_unix_secs,
            } => write!(
                f,
                "budget of ${}.{:06} per {}{} for {} `{entity}` is spent; it resets at {}",
                max_micro_usd / 1_000_000,
                max_micro_usd % 1_000_000,
                reset.as_str(),
                if *calendar_aligned {
                    " (calendar)"
                } else {
                    " (rolling)"
                },
                level.as_str(),
                format_rfc3339(resets_at_unix_secs.saturating_mul(1_000))
            ),
            Rejection::UnpricedModel { model } => write!(
                f,
                "model `{model}` has no price; add a [[pricing]] entry for it"
            ),
            Rejection::BackendUnavailable => f.write_str(
                "the budget backend (Redis) is unreachable: governed requests are refused until it answers again (governance.on_backend_error = \"fail_closed\")",
            ),
        }
    }
}
