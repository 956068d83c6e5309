//! Idle keep-alive connections per provider, one pool per shard (no locks: `RefCell`).

use std::cell::RefCell;
use std::time::Duration;

use super::UpstreamConn;
use crate::runtime::io::net::idle_connection_is_alive;

/// Idle connections kept per provider on one shard; more are closed on check-in.
pub const MAX_IDLE_PER_PROVIDER: usize = 256;

pub struct Pool {
    idle: RefCell<Vec<Vec<UpstreamConn>>>,
    max_idle_time: Duration,
}

impl Pool {
    pub fn new(providers: usize, max_idle_time: Duration) -> Self {
        Pool {
            idle: RefCell::new((0..providers).map(|_| Vec::new()).collect()),
            max_idle_time,
        }
    }

    /// The most recently used idle connection that is still alive; stale ones are dropped.
    pub fn checkout(&self, provider: usize) -> Option<UpstreamConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(provider)?;
        while let Some(conn) = list.pop() {
            if conn.idle_since.elapsed() < self.max_idle_time
                && idle_connection_is_alive(conn.io.tcp())
            {
                return Some(conn);
            }
        }
        None
    }

    /// Closes every idle connection and sizes the pool for `providers` providers (a reload).
    pub fn reset(&self, providers: usize) {
        *self.idle.borrow_mut() = (0..providers).map(|_| Vec::new()).collect();
    }

    pub fn checkin(&self, provider: usize, conn: UpstreamConn) {
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(provider)
            && list.len() < MAX_IDLE_PER_PROVIDER
        {
            list.push(conn);
        }
    }
}
