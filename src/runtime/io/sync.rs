//! A shard-local notify: tasks wait for "something changed" instead of polling for it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Wakes every task waiting on it when [`Notify::notify_all`] is called. Shard-local (`!Send`).
#[derive(Default)]
pub struct Notify {
    generation: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes every current waiter; a [`Notified`] taken before this call completes.
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }

    /// A future that completes at the first `notify_all` after this call. Take it before
    /// checking the condition, so a notification in between is not missed.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.get(),
        }
    }
}

/// Completes once its [`Notify`] was notified after the future was made.
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.generation {
            return Poll::Ready(());
        }
        let mut waiters = self.notify.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn a_notification_completes_only_futures_taken_before_it() {
        let notify = Notify::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut early = std::pin::pin!(notify.notified());
        assert!(early.as_mut().poll(&mut cx).is_pending());
        notify.notify_all();
        let mut late = std::pin::pin!(notify.notified());
        assert!(early.as_mut().poll(&mut cx).is_ready());
        assert!(late.as_mut().poll(&mut cx).is_pending());
    }
}
