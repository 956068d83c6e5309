//! The one accept-and-serve loop, for the data and the admin listeners: accept, spawn the
//! connection on this shard, back off on accept errors (out of file descriptors must not spin a
//! core), pause accepting while the shard serves its most connections (the kernel's backlog
//! holds new ones; none is refused), and stop as soon as the stop signal fires, even while
//! waiting for a connection.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::io::net::{TcpListener, TcpStream};
use super::io::sync::Notify;
use super::io::task::spawn_local;
use super::io::time::sleep;
use super::io::tls::ClientStream;
use crate::http::conn::Transport;

/// How long the loop pauses after a failed accept (EMFILE and the like) before trying again.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Connections the admin listener serves at once per shard.
pub const ADMIN_MAX_CONNECTIONS: usize = 256;

/// The connections one listener serves on this shard, against its maximum.
struct Slots {
    open: Cell<usize>,
    max: usize,
    freed: Notify,
}

/// Held by a served connection; frees its slot when the connection ends.
struct Slot(Rc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
        self.0.freed.notify_all();
    }
}

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
/// own task on this shard, at most `max_connections` at once. `name` labels accept errors in
/// the log.
pub async fn accept_and_serve<S, F>(
    name: &str,
    listener: TcpListener,
    max_connections: usize,
    stop: impl Future<Output = ()>,
    mut serve: S,
) where
    S: FnMut(TcpStream) -> F,
    F: Future<Output = ()> + 'static,
{
    let mut stop = std::pin::pin!(stop);
    let slots = Rc::new(Slots {
        open: Cell::new(0),
        max: max_connections.max(1),
        freed: Notify::new(),
    });
    loop {
        // At the maximum: accept nothing until a connection ends (or the listener stops).
        while slots.open.get() >= slots.max {
            let freed = futures_lite::future::or(
                async {
                    slots.freed.notified().await;
                    false
                },
                async {
                    (&mut stop).await;
                    true
                },
            );
            if freed.await {
                return;
            }
        }
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            (&mut stop).await;
            None
        })
        .await;
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                stream.set_nodelay(true).ok();
                slots.open.set(slots.open.get() + 1);
                let slot = Slot(Rc::clone(&slots));
                let served = serve(stream);
                spawn_local(async move {
                    served.await;
                    drop(slot);
                })
                .detach();
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
