//! The concurrent-streams mode: hold N streaming requests open at once (each connection sends a
//! stream, reads it to the end, sends the next) to measure memory and time to first token under
//! many long-lived streams.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::timer::sleep;

use crate::load::exchange::new_read_buf;
use crate::load::open_loop::{record_reply, timed_exchange};
use crate::load::stats::Stats;
use crate::requests::profiles::RequestSet;

/// Pause before reconnecting after a failed stream, so a refusing target is not hammered.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What the stream senders share.
#[derive(Debug)]
pub struct StreamsPlan {
    pub addr: SocketAddr,
    /// Streams held open across all sender threads.
    pub streams: u64,
    pub senders: u64,
    /// Stream `j` opens at `start + ramp * j / streams`.
    pub ramp: Duration,
    /// No stream starts after `start + hold`.
    pub hold: Duration,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub requests: Arc<RequestSet>,
}

/// When stream `index` of `streams` first opens, after the run's start.
pub fn stream_open_offset(index: u64, streams: u64, ramp: Duration) -> Duration {
    if streams == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos((ramp.as_nanos() * u128::from(index) / u128::from(streams)) as u64)
}

/// Runs sender `sender`'s share of the streams (indices `sender, sender + senders, ...`).
pub async fn run_stream_sender(plan: Arc<StreamsPlan>, sender: u64, start: Instant) -> Stats {
    let stats = Rc::new(RefCell::new(Stats::default()));
    let tasks: Vec<_> = (sender..plan.streams)
        .step_by(plan.senders.max(1) as usize)
        .map(|index| {
            let (plan, stats) = (plan.clone(), stats.clone());
            glommio::spawn_local(stream_loop(plan, index, start, stats))
        })
        .collect();
    for task in tasks {
        task.await;
    }
    std::mem::take(&mut *stats.borrow_mut())
}

async fn stream_loop(
    plan: Arc<StreamsPlan>,
    index: u64,
    start: Instant,
    stats: Rc<RefCell<Stats>>,
) {
    let open_at = start + stream_open_offset(index, plan.streams, plan.ramp);
    let now = Instant::now();
    if open_at > now {
        sleep(open_at - now).await;
    }
    let end = start + plan.hold;
    let mut conn = None;
    let mut buf = new_read_buf();
    let mut request = index;
    while Instant::now() < end {
        let template = plan.requests.pick(request);
        request += plan.streams;
        let sent = Instant::now();
        let result = timed_exchange(
            &mut conn,
            &mut buf,
            plan.addr,
            plan.connect_timeout,
            plan.timeout,
            template,
        )
        .await;
        let failed = {
            let mut stats = stats.borrow_mut();
            stats.sent += 1;
            match result {
                Ok(reply) => {
                    if !reply.keep_alive {
                        conn = None;
                    }
                    let since = |at: Instant| at.saturating_duration_since(start).as_nanos() as u64;
                    stats.stream_spans.push((since(sent), since(reply.done)));
                    record_reply(&mut stats, &reply, sent, start);
                    false
                }
                Err(failure) => {
                    stats.fail(failure);
                    true
                }
            }
        };
        if failed {
            conn = None;
            buf.clear();
            sleep(RETRY_PAUSE).await;
        }
    }
}
