//! What happens in a job, as it happens: [`Event`], delivered by [`Events`].
//!
//! Each backend has one monitor per job that produces events and hands them
//! to a [`Broadcaster`]; every [`Events`] subscription has its own queue, so
//! subscribers do not steal events from each other. A subscription sees the
//! events from the moment it was made. The queue of a subscription that is
//! not read is capped at [`QUEUE_CAP`] events; past that, events are dropped
//! and the subscriber receives [`Event::MessagesLost`] once it catches up.
//!
//! [`Events`] is a blocking iterator, has `recv_timeout`/`try_recv` like a
//! `std::sync::mpsc::Receiver`, and with the `stream` feature is a
//! `futures_core::Stream` that works under any executor (it registers the
//! task's waker; no runtime is required).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How many unread events a subscription keeps before it drops the newest.
pub const QUEUE_CAP: usize = 1 << 16;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessExit {
    /// It exited with this code (Windows: any `u32`, such as `0xC0000005`
    /// for an access violation; Linux: 0–255).
    Code(u32),
    /// Linux: it was killed by this signal.
    Signal(i32),
}

impl fmt::Display for ProcessExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessExit::Code(c) if *c > 0xFFFF => write!(f, "exit code {c:#010x}"),
            ProcessExit::Code(c) => write!(f, "exit code {c}"),
            ProcessExit::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Something that happened in a job.
///
/// | event | Windows (`JOB_OBJECT_MSG_*`) | Linux |
/// |---|---|---|
/// | `NewProcess` | `NEW_PROCESS` | proc connector fork/exec of a member, or a new pid in `cgroup.procs` |
/// | `ExitProcess` | `EXIT_PROCESS` | proc connector exit |
/// | `AbnormalExitProcess` | `ABNORMAL_EXIT_PROCESS` | exit by a crash signal (SEGV, BUS, ILL, FPE, ABRT, SYS, TRAP) |
/// | `Empty` | `ACTIVE_PROCESS_ZERO`, confirmed by accounting | `populated 0` in `cgroup.events` |
/// | `ActiveProcessLimit` | `ACTIVE_PROCESS_LIMIT` | `pids.events` `max` grew |
/// | `JobMemoryLimit` | `JOB_MEMORY_LIMIT` | `memory.events` `max`/`oom` (v2), the OOM eventfd (v1) |
/// | `ProcessMemoryLimit` | `PROCESS_MEMORY_LIMIT` | — (`RLIMIT_AS` failures are silent) |
/// | `EndOfJobTime` | `END_OF_JOB_TIME` | — |
/// | `EndOfProcessTime` | `END_OF_PROCESS_TIME` | exit by `SIGXCPU` (`RLIMIT_CPU`) |
/// | `NotificationLimit` | `NOTIFICATION_LIMIT` | `memory.events` `high` |
/// | `MessagesLost` | — | proc connector overrun (`ENOBUFS`), bookkeeping full under a fork storm, an exit message that did not come within 5 s, or a full queue |
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// Process `pid` entered the job.
    NewProcess {
        /// The process id.
        pid: u32,
    },
    /// Process `pid` exited; `exit` says how, where the backend knows.
    ExitProcess {
        /// The process id.
        pid: u32,
        /// How it ended.
        exit: Option<ProcessExit>,
    },
    /// Process `pid` crashed.
    AbnormalExitProcess {
        /// The process id.
        pid: u32,
        /// How it ended.
        exit: Option<ProcessExit>,
    },
    /// No process is left in the job. Confirmed by the job's own count, not
    /// inferred from exit messages (which Windows does not guarantee).
    Empty,
    /// A process could not start because of the active-process limit.
    ActiveProcessLimit,
    /// The job's memory limit was reached.
    JobMemoryLimit,
    /// Process `pid` reached the per-process memory limit.
    ProcessMemoryLimit {
        /// The process id.
        pid: u32,
    },
    /// The job used up its CPU time.
    EndOfJobTime,
    /// Process `pid` used up its CPU time.
    EndOfProcessTime {
        /// The process id.
        pid: u32,
    },
    /// A notification limit was crossed. `limit` names it
    /// (`job_memory_high`, `io_read_bytes`, `cpu_rate`, …) where known.
    NotificationLimit {
        /// Which limit, where the backend can say.
        limit: Option<&'static str>,
    },
    /// Events were lost: the OS dropped some, an exit's message came too late
    /// (the exit is then reported without its code), or this subscription's
    /// queue was full. Membership and accounting queries still tell the
    /// truth.
    MessagesLost,
}

/// The sending side, owned by a job's monitor.
#[derive(Debug, Default)]
pub(crate) struct Broadcaster {
    subscribers: Mutex<Vec<Weak<Channel>>>,
}

impl Broadcaster {
    fn lock(&self) -> MutexGuard<'_, Vec<Weak<Channel>>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new subscription.
    pub(crate) fn subscribe(&self) -> Events {
        let channel = Arc::new(Channel::default());
        self.lock().push(Arc::downgrade(&channel));
        Events { channel }
    }

    /// True if anyone listens (so monitors can skip work).
    #[allow(dead_code)]
    pub(crate) fn has_subscribers(&self) -> bool {
        self.lock().iter().any(|s| s.strong_count() > 0)
    }

    /// Sends `event` to every live subscription.
    pub(crate) fn send(&self, event: &Event) {
        let mut subscribers = self.lock();
        subscribers.retain(|s| match s.upgrade() {
            Some(channel) => {
                channel.push(event.clone());
                true
            }
            None => false,
        });
    }

    /// Ends every subscription: they return what is queued, then `None`.
    pub(crate) fn close(&self) {
        for s in self.lock().drain(..) {
            if let Some(channel) = s.upgrade() {
                channel.close();
            }
        }
    }
}

impl Drop for Broadcaster {
    fn drop(&mut self) {
        self.close();
    }
}

#[derive(Debug, Default)]
struct Channel {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Event>,
    lost: bool,
    closed: bool,
    #[cfg(feature = "stream")]
    waker: Option<std::task::Waker>,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, event: Event) {
        let mut state = self.lock();
        if state.queue.len() >= QUEUE_CAP {
            state.lost = true;
        } else {
            state.queue.push_back(event);
        }
        self.wake(state);
    }

    fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        self.wake(state);
    }

    #[allow(unused_mut)]
    fn wake(&self, mut state: MutexGuard<'_, State>) {
        #[cfg(feature = "stream")]
        let waker = state.waker.take();
        drop(state);
        self.ready.notify_all();
        #[cfg(feature = "stream")]
        if let Some(waker) = waker {
            deferred::wake(waker);
        }
    }

    /// The next event if there is one; `Err(closed)` otherwise.
    fn take(state: &mut State) -> Result<Event, bool> {
        if let Some(event) = state.queue.pop_front() {
            return Ok(event);
        }
        if state.lost {
            state.lost = false;
            return Ok(Event::MessagesLost);
        }
        Err(state.closed)
    }
}

/// A subscription to a job's events. Made by
/// [`Job::events`](crate::Job::events).
///
/// Iterating blocks until the next event, and ends once the job is dropped
/// and every queued event has been read:
///
/// ```no_run
/// let job = winjob::Job::new()?;
/// let events = job.events()?;
/// job.spawn(&mut std::process::Command::new("make"))?;
/// for event in &events {
///     println!("{event:?}");
///     if event == winjob::Event::Empty {
///         break;
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Events {
    channel: Arc<Channel>,
}

impl Events {
    /// Blocks until the next event; `None` once the job is gone and the queue
    /// is empty.
    pub fn recv(&self) -> Option<Event> {
        self.recv_until(None)
    }

    /// Like [`Events::recv`], but gives up after `timeout` (then `None`; see
    /// [`Events::is_closed`] to tell a timeout from the end).
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        // A timeout too long for the clock is no timeout.
        self.recv_until(Instant::now().checked_add(timeout))
    }

    /// The next event, waiting until `deadline` (`None`: for ever).
    fn recv_until(&self, deadline: Option<Instant>) -> Option<Event> {
        let mut state = self.channel.lock();
        loop {
            match Channel::take(&mut state) {
                Ok(event) => return Some(event),
                Err(true) => return None,
                Err(false) => {}
            }
            let ready = &self.channel.ready;
            state = match deadline {
                None => ready.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    ready
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The next event if one is queued, without blocking.
    pub fn try_recv(&self) -> Option<Event> {
        Channel::take(&mut self.channel.lock()).ok()
    }

    /// True once the job is gone (queued events can still be read).
    pub fn is_closed(&self) -> bool {
        self.channel.lock().closed
    }
}

impl Iterator for Events {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}

impl Iterator for &Events {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.recv()
    }
}

#[cfg(feature = "stream")]
impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Event>> {
        let mut state = self.channel.lock();
        match Channel::take(&mut state) {
            Ok(event) => std::task::Poll::Ready(Some(event)),
            Err(true) => std::task::Poll::Ready(None),
            Err(false) => {
                state.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_gets_every_event_then_the_end() {
        let b = Broadcaster::default();
        let one = b.subscribe();
        let two = b.subscribe();
        b.send(&Event::NewProcess { pid: 4 });
        b.send(&Event::Empty);
        b.close();
        for events in [one, two] {
            assert!(events.is_closed());
            let all: Vec<Event> = events.collect();
            assert_eq!(all, [Event::NewProcess { pid: 4 }, Event::Empty]);
        }
    }

    #[test]
    fn a_dropped_subscription_is_forgotten() {
        let b = Broadcaster::default();
        drop(b.subscribe());
        b.send(&Event::Empty);
        assert!(!b.has_subscribers());
        assert!(b.lock().is_empty());
    }

    #[test]
    fn a_full_queue_says_events_were_lost() {
        let b = Broadcaster::default();
        let events = b.subscribe();
        for pid in 0..u32::try_from(QUEUE_CAP).unwrap() + 10 {
            b.send(&Event::NewProcess { pid });
        }
        let mut n = 0;
        while let Some(e) = events.try_recv() {
            if e == Event::MessagesLost {
                break;
            }
            n += 1;
        }
        assert_eq!(n, QUEUE_CAP);
        assert_eq!(events.try_recv(), None);
    }

    #[test]
    fn recv_timeout_times_out() {
        let b = Broadcaster::default();
        let events = b.subscribe();
        let start = Instant::now();
        assert_eq!(events.recv_timeout(Duration::from_millis(50)), None);
        assert!(start.elapsed() >= Duration::from_millis(45));
        assert!(!events.is_closed());
    }
}

/// An async subscriber's waker is foreign code: it may poll at once, or drop
/// the last reference to a task that owns a `Job`, which would re-enter the
/// event engine. The engines send events under their lock, so while one runs
/// [`deferring`], the wakers its sends would call are kept and called after
/// it.
pub(crate) mod deferred {
    use std::cell::RefCell;

    thread_local! {
        static KEPT: RefCell<Option<Vec<std::task::Waker>>> = const { RefCell::new(None) };
    }

    /// Runs `f`, then calls the wakers that sends made meanwhile (on this
    /// thread), after `f` has returned and released what it held.
    #[allow(dead_code)]
    pub(crate) fn deferring<R>(f: impl FnOnce() -> R) -> R {
        let outer = KEPT.with(|kept| kept.borrow_mut().replace(Vec::new()));
        let result = f();
        let wakers = KEPT.with(|kept| std::mem::replace(&mut *kept.borrow_mut(), outer));
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
        result
    }

    /// Wakes `waker` now, or after the [`deferring`] that runs on this thread.
    #[allow(dead_code)]
    pub(crate) fn wake(waker: std::task::Waker) {
        let waker = KEPT.with(|kept| match kept.borrow_mut().as_mut() {
            Some(list) => {
                list.push(waker);
                None
            }
            None => Some(waker),
        });
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    #[cfg(test)]
    mod tests {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::{Wake, Waker};

        struct Count(AtomicUsize);

        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        #[test]
        fn wakers_wait_for_the_end_of_a_deferring() {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            super::wake(Waker::from(Arc::clone(&count)));
            assert_eq!(count.0.load(Ordering::SeqCst), 1, "no deferring: at once");
            super::deferring(|| {
                super::wake(Waker::from(Arc::clone(&count)));
                super::deferring(|| super::wake(Waker::from(Arc::clone(&count))));
                assert_eq!(count.0.load(Ordering::SeqCst), 2, "the inner one has ended");
            });
            assert_eq!(count.0.load(Ordering::SeqCst), 3, "after the outer one");
        }
    }
}
