//! The mock upstream: a script (timing, shape, faults), responses rendered from it once, and a
//! thread-per-core server that writes them.

pub mod responses;
pub mod route;
pub mod script;
pub mod server;
