//! Governance: virtual keys, hierarchical budgets and rate limits, pricing, and durable spend,
//! enforced per shard without locks (docs/ARCHITECTURE.md, "Governance").
//!
//! Each shard owns one [`Governor`]: its key table, its counters for every entity (virtual
//! key → team → customer, and provider entries), the price list. The request path calls
//! [`Governor::authenticate`] on the head, [`Governor::admit`] before forwarding (it returns a
//! [`Reservation`] guard), and [`Reservation::settle`] with the observed usage at the end; a
//! dropped reservation settles with no usage. Every settlement becomes a [`SpendDelta`] that
//! the runtime broadcasts to the other shards ([`Governor::drain_outbound`] hands out what to
//! send, [`Governor::apply`] takes in what arrived) and to the [`ledger`] thread, which group-
//! commits it to SQLite and gives it back as a [`LedgerSnapshot`] at start-up.
//!
//! Strict mode never lets the shards together cross a cap or a rate limit: each shard may
//! consume only its share of every budget (own spend plus own reservations) and of every
//! limit's requests and tokens (own admissions; own settled tokens plus own token
//! reservations); shares start equal and move between shards on demand through
//! [`ShareRequest`]/[`ShareGrant`] messages (taken off the giver before sending, so share in
//! transit is usable by nobody). Reservations are sized by [`request_bound`], an upper bound on
//! what the request body can cost. Soft mode checks what has been counted so far only.

mod admin;
mod admission;
pub mod backend;
pub mod budget_seed;
pub mod clock;
pub mod counters;
pub mod entity;
mod headers;
pub mod input_bound;
pub mod keys;
pub mod ledger;
mod ledger_codec;
pub mod ledger_store;
pub mod link;
pub mod messages;
pub mod pricing;
mod registry;
pub mod rejection;
mod reservation;
mod retarget;
mod shares;
pub mod sliding;
mod state;
mod tool_calls;
mod usage;
pub mod window;

#[cfg(test)]
mod tests_admin;
#[cfg(test)]
mod tests_admission;
#[cfg(test)]
mod tests_backend;
#[cfg(test)]
mod tests_input_bound;
#[cfg(test)]
mod tests_keys;
#[cfg(test)]
mod tests_ledger;
#[cfg(test)]
mod tests_pricing;
#[cfg(test)]
mod tests_rate_shares;
#[cfg(test)]
mod tests_retarget;
#[cfg(test)]
mod tests_shards;
#[cfg(test)]
mod tests_support;
#[cfg(test)]
mod tests_tool_calls;
#[cfg(test)]
mod tests_windows;

pub use admin::{
    AdminError, BudgetUsage, CreatedKey, EntityUsage, KeyInfo, KeyUpdate, NewKey, RateUsage,
    parse_budget, parse_rate_limit, parse_rate_limit_counts,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use entity::{EntityId, Level};
pub use headers::{BudgetRemaining, LimitHeaders, Remaining, format_usd};
pub use input_bound::{RequestBound, request_bound};
pub use keys::{KeyOrigin, KeyRecord};
pub use ledger::{DEFAULT_COMMIT_INTERVAL, Ledger, LedgerHandle};
pub use ledger_store::{
    LEDGER_FILE, LedgerError, LedgerSnapshot, SpendRow, ledger_path, load_snapshot,
};
pub use link::GovLink;
pub use messages::{
    BackendStatus, BudgetKey, BudgetReset, GovMsg, KeyRevocation, Outbound, RemoteUsage, Route,
    ShareGrant, ShareOf, ShareRequest, SpendDelta, ToolCallDelta,
};
pub use pricing::{
    Price, PriceTable, Rates, UNKNOWN_MAX_OUTPUT_TOKENS, cost_pico, unpriced_mapped_models,
    worst_case_pico,
};
pub use registry::RegistryError;
pub use rejection::{AuthFailure, BusyLimit, RateKind, Rejection};
pub use reservation::{Held, Reservation, SettledCost};
pub use shares::SHARE_REQUEST_INTERVAL_MS;
pub use state::{Governor, KeyRef, Overshoot};
pub use usage::Usage;
