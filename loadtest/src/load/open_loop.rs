//! The open-loop sender of one thread: its connections claim scheduled requests in order, wait
//! for each one's due time, and record latency from that due time (queueing included).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;
use glommio::timer::sleep;

use crate::load::exchange::{Reply, connect, exchange, new_read_buf};
use crate::load::schedule::Schedule;
use crate::load::stats::{Failure, Stats};
use crate::requests::profiles::RequestSet;

/// Everything a sender needs, shared read-only by all sender threads.
#[derive(Debug)]
pub struct OpenLoopPlan {
    pub addr: SocketAddr,
    pub schedule: Schedule,
    /// Keep-alive connections per sender thread.
    pub connections: usize,
    /// Longest wait for one whole response, from its send.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests due before this are sent but not recorded.
    pub warmup: Duration,
    pub requests: Arc<RequestSet>,
}

/// Runs sender `sender`'s share of the schedule starting at `start`; returns its statistics.
pub async fn run_sender(plan: Arc<OpenLoopPlan>, sender: u64, start: Instant) -> Stats {
    let next_claim = Rc::new(Cell::new(0u64));
    let stats = Rc::new(RefCell::new(Stats::default()));
    let tasks: Vec<_> = (0..plan.connections.max(1))
        .map(|_| {
            let (plan, next_claim, stats) = (plan.clone(), next_claim.clone(), stats.clone());
            glommio::spawn_local(connection_loop(plan, sender, start, next_claim, stats))
        })
        .collect();
    for task in tasks {
        task.await;
    }
    std::mem::take(&mut *stats.borrow_mut())
}

/// Waits for a whole exchange (connecting first if needed), at most `timeout`.
pub async fn timed_exchange(
    conn: &mut Option<TcpStream>,
    buf: &mut crate::wire::readbuf::ReadBuf,
    addr: SocketAddr,
    connect_timeout: Duration,
    timeout: Duration,
    template: &crate::requests::profiles::RequestTemplate,
) -> Result<Reply, Failure> {
    let work = async {
        if conn.is_none() {
            *conn = Some(connect(addr, connect_timeout).await?);
        }
        match conn.as_mut() {
            Some(stream) => exchange(stream, buf, template).await,
            None => Err(Failure::Connect),
        }
    };
    let limit = async {
        sleep(timeout).await;
        Err(Failure::Timeout)
    };
    future::or(work, limit).await
}

async fn connection_loop(
    plan: Arc<OpenLoopPlan>,
    sender: u64,
    start: Instant,
    next_claim: Rc<Cell<u64>>,
    stats: Rc<RefCell<Stats>>,
) {
    let mut conn = connect(plan.addr, plan.connect_timeout).await.ok();
    let mut buf = new_read_buf();
    loop {
        let claim = next_claim.get();
        next_claim.set(claim + 1);
        let Some(index) = plan.schedule.index(sender, claim) else {
            break;
        };
        let offset = plan.schedule.due(index);
        let due = start + offset;
        let now = Instant::now();
        if due > now {
            sleep(due - now).await;
        }
        let template = plan.requests.pick(index);
        let lag = Instant::now().saturating_duration_since(due).as_nanos() as u64;
        let result = timed_exchange(
            &mut conn,
            &mut buf,
            plan.addr,
            plan.connect_timeout,
            plan.timeout,
            template,
        )
        .await;
        let mut stats = stats.borrow_mut();
        let recorded = offset >= plan.warmup;
        if recorded {
            stats.sent += 1;
            stats.send_lag.saturating_record(lag.max(1));
        } else {
            stats.warmup += 1;
        }
        match result {
            Ok(reply) => {
                if !reply.keep_alive {
                    conn = None;
                }
                if recorded {
                    record_reply(&mut stats, &reply, due, start);
                }
            }
            Err(failure) => {
                conn = None;
                buf.clear();
                if recorded {
                    stats.fail(failure);
                }
            }
        }
    }
}

/// Records a reply whose latency counts from `from`.
pub fn record_reply(stats: &mut Stats, reply: &Reply, from: Instant, start: Instant) {
    stats.bytes_in += reply.bytes;
    let done = reply.done.saturating_duration_since(start).as_nanos() as u64;
    stats.last_done_nanos = stats.last_done_nanos.max(done);
    if (200..300).contains(&reply.status) {
        let nanos = |at: Instant| at.saturating_duration_since(from).as_nanos() as u64;
        stats.record_ok(
            nanos(reply.done),
            nanos(reply.first_byte),
            reply.first_token.map(nanos),
        );
    } else {
        stats.status_error(reply.status);
    }
}
