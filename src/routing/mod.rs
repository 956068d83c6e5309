//! Routing: which route a request is (method and path), which provider serves it (the model's
//! target), and which of that provider's keys it uses. IO-free; the place failover will grow.

pub mod keys;
pub mod route;
pub mod target;

pub use keys::KeyRotation;
pub use route::{Route, classify, upstream_path};
pub use target::{Target, choose};
