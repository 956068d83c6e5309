//! Routing: which route a request is (method and path), which providers may serve it in
//! failover order (the model's targets), which of a provider's keys it uses, and which keys
//! and providers are healthy enough to try (cool-downs and circuit breakers). IO-free.

pub mod health;
pub mod keys;
pub mod route;
pub mod target;

pub use health::{BreakerState, Health, HealthBroadcast, HealthEvent};
pub use keys::KeyRotation;
pub use route::{Route, classify, upstream_path};
pub use target::{Target, plan};
