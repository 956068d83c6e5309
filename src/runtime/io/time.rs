//! Timers: sleep for a while, and race a future against a deadline.

use std::future::Future;
use std::time::Duration;

/// Waits for `d`.
pub async fn sleep(d: Duration) {
    glommio::timer::Timer::new(d).await;
}

/// Runs `fut` for at most `limit`: `Some(output)` if it finished in time, `None` otherwise (the
/// future is dropped; glommio's sockets are readiness-based, so no bytes are lost by that).
pub async fn deadline<T>(limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        sleep(limit).await;
        None
    })
    .await
}
