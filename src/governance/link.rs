//! How one shard's governance talks to the others and to the ledger: its inbox of
//! [`GovMsg`]s (drained synchronously before every admission, and by a background task so share
//! requests are answered while the shard is idle), its senders to every other shard, and the
//! ledger thread's handle. Wired once at start-up; nothing here blocks.

use std::cell::RefCell;
use std::rc::Rc;

use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_lite::StreamExt;

use crate::governance::{GovMsg, Governor, LedgerHandle, Route};

/// One shard's end of the governance mesh.
pub struct GovLink {
    shard: usize,
    inbox: RefCell<UnboundedReceiver<GovMsg>>,
    peers: Vec<UnboundedSender<GovMsg>>,
    ledger: LedgerHandle,
    /// Redis backend: the broker thread, a peer numbered after the last shard (it receives
    /// what goes to every shard, and grants addressed to its number).
    backend: Option<crossbeam_channel::Sender<GovMsg>>,
}

/// Creates the channels for `shards` shards: one link per shard, in order.
pub fn wire(shards: usize, ledger: &LedgerHandle) -> Vec<GovLink> {
    wire_with_backend(shards, ledger, None).0
}

/// [`wire`], with the Redis broker as one more peer (numbered `shards`); also returns the
/// senders into every shard's inbox, for the broker.
pub fn wire_with_backend(
    shards: usize,
    ledger: &LedgerHandle,
    backend: Option<crossbeam_channel::Sender<GovMsg>>,
) -> (Vec<GovLink>, Vec<UnboundedSender<GovMsg>>) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..shards).map(|_| unbounded()).unzip();
    let links = receivers
        .into_iter()
        .enumerate()
        .map(|(shard, inbox)| GovLink {
            shard,
            inbox: RefCell::new(inbox),
            peers: senders.clone(),
            ledger: ledger.clone(),
            backend: backend.clone(),
        })
        .collect();
    (links, senders)
}

impl GovLink {
    /// Takes in every message that has arrived, then sends what that produced. Called right
    /// before each admission: a settlement broadcast before a response ended is seen here.
    pub fn sync(&self, gov: &Governor) {
        loop {
            let next = self.inbox.borrow_mut().try_recv();
            match next {
                Ok(msg) => gov.apply(&msg),
                Err(_) => break,
            }
        }
        self.flush(gov);
    }

    /// Sends what governance wants sent: to the ledger, to the other shards or to one.
    pub fn flush(&self, gov: &Governor) {
        gov.drain_outbound(|outbound| {
            if outbound.ledger {
                self.ledger.record(outbound.msg.clone());
            }
            match outbound.route {
                Route::Others => {
                    for (index, peer) in self.peers.iter().enumerate() {
                        if index != self.shard {
                            let _ = peer.unbounded_send(outbound.msg.clone());
                        }
                    }
                    if let Some(backend) = &self.backend {
                        let _ = backend.send(outbound.msg.clone());
                    }
                }
                Route::Shard(index) => {
                    if let Some(peer) = self.peers.get(index as usize) {
                        let _ = peer.unbounded_send(outbound.msg.clone());
                    } else if index as usize == self.peers.len()
                        && let Some(backend) = &self.backend
                    {
                        let _ = backend.send(outbound.msg.clone());
                    }
                }
            }
        });
    }

    /// The ledger thread's handle (for admin flushes, off the shard).
    pub fn ledger(&self) -> &LedgerHandle {
        &self.ledger
    }

    /// Applies messages as they arrive while the shard has nothing else to do, so another
    /// shard's request for budget share is answered promptly, and calls `applied` after each
    /// (an admission waiting for a share grant wakes on it). Ends when every sender is gone.
    pub async fn serve(self: Rc<Self>, gov: Rc<Governor>, applied: impl Fn()) {
        loop {
            let next = std::future::poll_fn(|cx| self.inbox.borrow_mut().poll_next(cx)).await;
            match next {
                Some(msg) => {
                    gov.apply(&msg);
                    self.sync(&gov);
                    applied();
                }
                None => return,
            }
        }
    }
}
