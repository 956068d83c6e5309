//! Timers for the request path: race a future against a deadline.

use std::future::Future;
use std::time::Duration;

/// Runs `fut` for at most `limit`: `Some(output)` if it finished in time, `None` otherwise (the
/// future is dropped; glommio's sockets are readiness-based, so no bytes are lost by that).
pub async fn deadline<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::Timer::new(limit).await;
        None
    })
    .await
}
