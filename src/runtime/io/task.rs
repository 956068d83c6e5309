//! Shard-local tasks: spawn a future on the current shard's executor, and run blocking work on
//! its helper threads without stalling the shard.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A task spawned on the current shard; awaiting it yields its output, `detach` lets it run on.
pub struct Task<T>(glommio::Task<T>);

impl<T> Task<T> {
    /// Lets the task run to completion on its own.
    pub fn detach(self) {
        self.0.detach();
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawns `fut` on the current shard (it never moves to another thread).
pub fn spawn_local<F>(fut: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Task(glommio::spawn_local(fut))
}

/// Runs `work` on a blocking helper thread and waits for it without blocking the shard.
pub async fn spawn_blocking<R, F>(work: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(work).await
}
