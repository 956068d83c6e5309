//! The one accept-and-serve loop, for the data and the admin listeners: accept, spawn the
//! connection on this shard, back off on accept errors (out of file descriptors must not spin a
//! core), and stop as soon as the stop signal fires, even while waiting for a connection.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use super::io::net::{TcpListener, TcpStream};
use super::io::task::spawn_local;
use super::io::time::sleep;
use super::io::tls::ClientStream;
use crate::http::conn::Transport;

/// How long the loop pauses after a failed accept (EMFILE and the like) before trying again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The runtime's TCP stream is the HTTP server loop's transport, with the runtime's timer.
impl Transport for TcpStream {
    fn sleep(d: Duration) -> impl Future<Output = ()> {
        sleep(d)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        TcpStream::peer_addr(self).ok()
    }
}

/// A listener's client stream (plain or TLS) is the transport the handlers serve.
impl Transport for ClientStream {
    fn sleep(d: Duration) -> impl Future<Output = ()> {
        sleep(d)
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.tcp().peer_addr().ok()
    }
}

/// Accepts on `listener` until `stop` completes, serving each connection with `serve` in its
/// own task on this shard. `name` labels accept errors in the log.
pub async fn accept_and_serve<S, F>(
    name: &str,
    listener: TcpListener,
    stop: impl Future<Output = ()>,
    mut serve: S,
) where
    S: FnMut(TcpStream) -> F,
    F: Future<Output = ()> + 'static,
{
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            (&mut stop).await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                stream.set_nodelay(true).ok();
                spawn_local(serve(stream)).detach();
            }
            Some(Err(e)) => {
                eprintln!("sluice: {name}: accept failed: {e}");
                let backoff = futures_lite::future::or(
                    async {
                        sleep(ACCEPT_BACKOFF).await;
                        false
                    },
                    async {
                        (&mut stop).await;
                        true
                    },
                );
                if backoff.await {
                    return;
                }
            }
        }
    }
}
