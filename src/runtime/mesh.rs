//! The typed messages shards exchange, and the channels that carry them, wired once at
//! start-up. Nothing else crosses between shards.

use futures_channel::{mpsc, oneshot};

use crate::observe::metrics::MetricsSnapshot;

/// A message to one shard.
pub enum MeshMsg {
    /// Stop accepting, drain in-flight requests, then end the shard.
    Shutdown,
    /// Reply with a snapshot of this shard's metrics (the admin listener merges them).
    Scrape(oneshot::Sender<MetricsSnapshot>),
}

/// One shard's inbox.
pub type Inbox = mpsc::UnboundedReceiver<MeshMsg>;

/// The senders to every shard, cloned into each shard and into the signal thread.
#[derive(Clone)]
pub struct Mesh {
    shards: Vec<mpsc::UnboundedSender<MeshMsg>>,
}

impl Mesh {
    /// Creates the channels for `shards` shards: the mesh, and each shard's inbox in order.
    pub fn wire(shards: usize) -> (Mesh, Vec<Inbox>) {
        let (senders, inboxes) = (0..shards).map(|_| mpsc::unbounded()).unzip();
        (Mesh { shards: senders }, inboxes)
    }

    pub fn len(&self) -> usize {
        self.shards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Sends `msg` to shard `index`; false if that shard has already ended.
    pub fn send(&self, index: usize, msg: MeshMsg) -> bool {
        self.shards
            .get(index)
            .is_some_and(|s| s.unbounded_send(msg).is_ok())
    }

    /// Tells every shard to drain and stop.
    pub fn shutdown_all(&self) {
        for index in 0..self.shards.len() {
            self.send(index, MeshMsg::Shutdown);
        }
    }

    /// Asks every shard for its metrics and waits for the answers of those still running.
    pub async fn scrape_all(&self) -> Vec<MetricsSnapshot> {
        let mut pending = Vec::with_capacity(self.shards.len());
        for index in 0..self.shards.len() {
            let (tx, rx) = oneshot::channel();
            if self.send(index, MeshMsg::Scrape(tx)) {
                pending.push(rx);
            }
        }
        let mut snapshots = Vec::with_capacity(pending.len());
        for rx in pending {
            if let Ok(snapshot) = rx.await {
                snapshots.push(snapshot);
            }
        }
        snapshots
    }
}
