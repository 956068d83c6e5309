//! The load-test harness for sluice: a mock upstream and an open-loop load generator, built to
//! measure what a gateway adds over going direct, without the harness being the bottleneck.
//!
//! - [`wire`]: IO-free HTTP/1.1 framing and first-token detection, shared by both binaries.
//! - [`requests`]: the request profiles (small, claude-code, openai, mix), rendered once.
//! - [`mock`]: the mock upstream (`sluice-mock`): script, pre-rendered responses, server.
//! - [`load`]: the generator (`sluice-loadtest`): schedule, senders, statistics, report.
//! - [`floor`]: floor proxies (`sluice-floor-proxy`): the least a proxy does per request, on
//!   glommio and on epoll, to measure a runtime's own cost.

pub mod floor;
pub mod load;
pub mod mock;
pub mod requests;
pub mod rng;
pub mod sys;
pub mod wire;
