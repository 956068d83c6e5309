//! The runtime's small types, the only door to glommio: a shard-local spawn, TCP sockets, timers,
//! channels and a blocking-work offload. Everything below `runtime` in docs/ARCHITECTURE.md that
//! needs to wait, spawn or talk to a socket does it through these; nothing here imports the rest
//! of the crate.

pub mod net;
pub mod sync;
pub mod task;
pub mod time;
pub mod tls;

/// Channels between tasks and shards (runtime-agnostic, re-exported so callers name one place).
pub mod channel {
    pub use futures_channel::{mpsc, oneshot};
}
