//! A created job's events: what the process's event engine
//! ([`engine`](super::engine)) knows of one job, turning its completion
//! packets into [`Event`]s.
//!
//! The job is associated with the engine's port before any process can be in
//! it (`Job::create` starts the monitor before it sets limits, and nothing is
//! assigned before `create` returns), so no `JOB_OBJECT_MSG_NEW_PROCESS` is
//! missed. The engine hands each packet to [`Watcher::dispatch`], runs the
//! job's checks, and bumps a generation counter that
//! [`Monitor::wait_for_change`] sleeps on. The watcher holds its own handle
//! to the job (a duplicate), to ask the job's count, its member list and its
//! limit violation.
//!
//! # Messages are hints; the count is the truth
//!
//! Windows documents that job notifications are not guaranteed to be
//! delivered, and Wine sends no `EXIT_PROCESS` for processes killed by
//! `TerminateJobObject` or kill-on-close. So:
//!
//! - `Empty` is sent only once `ActiveProcesses` (basic accounting) reads 0,
//!   whether `ACTIVE_PROCESS_ZERO` said so or not, and once per
//!   non-empty → empty transition (`occupied` below).
//! - Every [`CHECK_INTERVAL`] the thread reads the count itself. It first
//!   takes every packet already queued: a process's count change and its
//!   message are made together (under the job's lock on Windows, in one
//!   server request on Wine), so once the count has been read, the messages
//!   about the processes it no longer counts are in the port. A zero read
//!   twice around that drain, in a job that had members, is `Empty`.
//! - The thread keeps the set of members it announced (`live`). Each
//!   `NewProcess` it sends adds one, each `ExitProcess` removes one, so every
//!   member gets exactly one of each, in that order. Members still in the set
//!   when the job empties get their `ExitProcess` then, before `Empty` (how
//!   Wine's killed processes get theirs). When the set and the count
//!   disagree at a check, the member list settles it: a listed process never
//!   announced is announced, an announced one that is no longer listed and
//!   no longer runs is reported exited. A message that comes after such a
//!   correction finds the set already right and is dropped.
//!
//! # Exit codes
//!
//! `EXIT_PROCESS` carries only a pid. The exit code is read with
//! `OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION)` and `GetExitCodeProcess`,
//! which works while anyone (such as the `Child` of `spawn`) holds a handle
//! to the process; otherwise the process object is gone and `exit` is
//! `None`. A code of `STILL_ACTIVE` (259) means the pid was already reused:
//! `None` too.
//!
//! # Shutdown
//!
//! On drop the watcher is removed from the engine (under its lock: nothing
//! is sent after), which closes its job handle, then every subscription is
//! closed. Nothing is left behind.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::super::slab::Key;
use super::api;
use super::engine::{self, Engine};
use super::info::crossed_limit_names;
use super::job::pids_of;
use super::limits::limit_violation_of;
use crate::event::{Broadcaster, Event, Events, ProcessExit};

/// How often a job with members (or with members since its last `Empty`)
/// has its count read without being told to.
pub(super) const CHECK_INTERVAL: Duration = Duration::from_millis(200);
/// The same for a job that never had a member since its last `Empty`.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A notification from the job, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Message {
    /// `JOB_OBJECT_MSG_NEW_PROCESS`: process `pid` entered the job.
    NewProcess(u32),
    /// `JOB_OBJECT_MSG_EXIT_PROCESS`: process `pid` exited.
    ExitProcess(u32),
    /// `JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS`: process `pid` exited with an
    /// exception code (never sent by Wine).
    AbnormalExitProcess(u32),
    /// `JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO`: no process is running.
    ActiveProcessZero,
    /// `JOB_OBJECT_MSG_END_OF_JOB_TIME`.
    EndOfJobTime,
    /// `JOB_OBJECT_MSG_END_OF_PROCESS_TIME`: process `pid` used its time.
    EndOfProcessTime(u32),
    /// `JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT`.
    ActiveProcessLimit,
    /// `JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT`: process `pid` hit its limit.
    ProcessMemoryLimit(u32),
    /// `JOB_OBJECT_MSG_JOB_MEMORY_LIMIT` (its value, the pid of the process
    /// that hit the limit, is not part of the event).
    JobMemoryLimit,
    /// `JOB_OBJECT_MSG_NOTIFICATION_LIMIT`: which limit is asked of the job.
    NotificationLimit,
    /// Any other message (`JOB_CYCLE_TIME_LIMIT`, `SILO_TERMINATED`, ids of
    /// later systems), or a process message whose value is not a pid: its id
    /// and value, ignored.
    Other { id: u32, value: usize },
}

impl Message {
    pub(super) fn decode(id: u32, value: usize) -> Message {
        // For process messages the value is a pid, which is a u32; anything
        // else is passed on raw.
        let pid = u32::try_from(value);
        match (id, pid) {
            (api::JOB_OBJECT_MSG_NEW_PROCESS, Ok(pid)) => Message::NewProcess(pid),
            (api::JOB_OBJECT_MSG_EXIT_PROCESS, Ok(pid)) => Message::ExitProcess(pid),
            (api::JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS, Ok(pid)) => {
                Message::AbnormalExitProcess(pid)
            }
            (api::JOB_OBJECT_MSG_END_OF_PROCESS_TIME, Ok(pid)) => Message::EndOfProcessTime(pid),
            (api::JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT, Ok(pid)) => Message::ProcessMemoryLimit(pid),
            (api::JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO, _) => Message::ActiveProcessZero,
            (api::JOB_OBJECT_MSG_END_OF_JOB_TIME, _) => Message::EndOfJobTime,
            (api::JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT, _) => Message::ActiveProcessLimit,
            (api::JOB_OBJECT_MSG_JOB_MEMORY_LIMIT, _) => Message::JobMemoryLimit,
            (api::JOB_OBJECT_MSG_NOTIFICATION_LIMIT, _) => Message::NotificationLimit,
            _ => Message::Other { id, value },
        }
    }
}

/// What the thread, the waiters and the subscribers share.
#[derive(Default)]
struct Shared {
    /// Bumped after every wake of the thread (and when it ends).
    generation: Mutex<u64>,
    changed: Condvar,
    /// Where the events go.
    broadcaster: Broadcaster,
    /// Set when the engine's thread stopped (its port failed).
    ended: AtomicBool,
}

impl Shared {
    fn bump(&self) {
        let mut generation = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *generation = generation.wrapping_add(1);
        self.changed.notify_all();
    }
}

/// A created job's watcher in the process's engine.
pub(super) struct Monitor {
    engine: Arc<Engine>,
    key: Key,
    shared: Arc<Shared>,
}

impl Monitor {
    /// Adds a watcher of `job` (with a duplicate of its handle) to the
    /// engine, which associates the job with its port.
    pub(super) fn start(job: BorrowedHandle<'_>) -> io::Result<Monitor> {
        let own_job = job.try_clone_to_owned()?;
        let shared = Arc::new(Shared::default());
        let watcher = Watcher::new(own_job, Arc::clone(&shared));
        let engine = engine::get()?;
        let key = engine.add(job, watcher)?;
        Ok(Monitor {
            engine,
            key,
            shared,
        })
    }

    /// A new subscription to the job's events.
    pub(super) fn subscribe(&self) -> io::Result<Events> {
        if self.shared.ended.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "the event engine's thread has stopped (its completion port failed), so the job \
                 has no events to deliver",
            ));
        }
        Ok(self.shared.broadcaster.subscribe())
    }

    /// The current generation; pass it to [`Monitor::wait_for_change`].
    pub(super) fn generation(&self) -> u64 {
        *self
            .shared
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps until the generation differs from `seen` or `timeout` passes.
    pub(super) fn wait_for_change(&self, seen: u64, timeout: Duration) {
        let generation = self
            .shared
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .shared
            .changed
            .wait_timeout_while(generation, timeout, |generation| *generation == seen)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.engine.remove(self.key);
        self.shared.broadcaster.close();
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("key", &self.key)
            .field("generation", &self.generation())
            .finish()
    }
}

/// What the engine knows of one job.
pub(super) struct Watcher {
    /// The watcher's own handle to the job.
    job: OwnedHandle,
    shared: Arc<Shared>,
    /// The members announced with `NewProcess` and not yet with an exit.
    live: HashSet<u32>,
    /// The job had a member since the last `Empty` (or since it was made).
    occupied: bool,
    /// When the next check is due (the engine's earlier timers for this job
    /// are stale).
    next: Instant,
}

impl Watcher {
    fn new(job: OwnedHandle, shared: Arc<Shared>) -> Watcher {
        Watcher {
            job,
            shared,
            live: HashSet::new(),
            occupied: false,
            next: later(Instant::now(), IDLE_CHECK_INTERVAL),
        }
    }

    /// When the next check is due.
    pub(super) fn next_check(&self) -> Instant {
        self.next
    }

    /// Sets and returns the next check after one at `now`: soon for a job
    /// with members, later for one without.
    pub(super) fn schedule(&mut self, now: Instant) -> Instant {
        let interval = if self.occupied || !self.live.is_empty() {
            CHECK_INTERVAL
        } else {
            IDLE_CHECK_INTERVAL
        };
        self.next = later(now, interval);
        self.next
    }

    /// Wakes the job's waiters (something was dispatched or checked).
    pub(super) fn bump(&self) {
        self.shared.bump();
    }

    /// The engine stopped: no more events will come.
    pub(super) fn ended(&self) {
        self.shared.ended.store(true, Ordering::Release);
        self.shared.bump();
    }

    fn send(&self, event: Event) {
        self.shared.broadcaster.send(&event);
    }

    /// Where each decoded message goes.
    pub(super) fn dispatch(&mut self, message: Message) {
        match message {
            Message::NewProcess(pid) => self.joined(pid),
            Message::ExitProcess(pid) => self.exited(pid, false),
            Message::AbnormalExitProcess(pid) => self.exited(pid, true),
            Message::ActiveProcessZero => {
                if self.occupied && self.active() == Some(0) {
                    self.empty();
                }
            }
            Message::EndOfJobTime => self.send(Event::EndOfJobTime),
            Message::EndOfProcessTime(pid) => self.send(Event::EndOfProcessTime { pid }),
            Message::ActiveProcessLimit => self.send(Event::ActiveProcessLimit),
            Message::ProcessMemoryLimit(pid) => self.send(Event::ProcessMemoryLimit { pid }),
            Message::JobMemoryLimit => self.send(Event::JobMemoryLimit),
            Message::NotificationLimit => self.notification_limit(),
            Message::Other { .. } => {}
        }
    }

    fn joined(&mut self, pid: u32) {
        self.occupied = true;
        if self.live.insert(pid) {
            self.send(Event::NewProcess { pid });
        }
    }

    fn exited(&mut self, pid: u32, abnormal: bool) {
        if !self.live.remove(&pid) {
            // Already reported (by a check that found it gone).
            return;
        }
        let exit = self.exit_of(pid);
        self.send(if abnormal {
            Event::AbnormalExitProcess { pid, exit }
        } else {
            Event::ExitProcess { pid, exit }
        });
    }

    /// The job is empty: an exit for every member never reported exited,
    /// then `Empty`.
    fn empty(&mut self) {
        let mut left: Vec<u32> = self.live.drain().collect();
        left.sort_unstable();
        for pid in left {
            let exit = self.exit_of(pid);
            self.send(Event::ExitProcess { pid, exit });
        }
        self.occupied = false;
        self.send(Event::Empty);
    }

    /// One event per limit the job reports crossed; one without a name if it
    /// reports none or cannot be asked.
    fn notification_limit(&self) {
        let mut named = false;
        if let Ok(violation) = limit_violation_of(self.job.as_handle()) {
            for name in crossed_limit_names(&violation) {
                named = true;
                self.send(Event::NotificationLimit { limit: Some(name) });
            }
        }
        if !named {
            self.send(Event::NotificationLimit { limit: None });
        }
    }

    /// `ActiveProcesses`, or `None` if the query fails.
    fn active(&self) -> Option<u32> {
        api::active_processes(self.job.as_handle()).ok()
    }

    /// The periodic check; see the module documentation. `drain` takes
    /// every packet already queued in the port (this job's come back to this
    /// watcher) and says whether it emptied it.
    pub(super) fn check(&mut self, drain: &mut dyn FnMut(&mut Watcher) -> bool) {
        let Some(active) = self.active() else {
            return;
        };
        // The messages about every process this count no longer includes are
        // queued by now.
        if !drain(self) {
            return;
        }
        if active == 0 {
            // Read again: a process that joined after the first read is
            // either counted now, or has exited and been drained too.
            if (self.occupied || !self.live.is_empty()) && self.active() == Some(0) {
                self.empty();
            }
            return;
        }
        self.occupied = true;
        if usize::try_from(active).ok() != Some(self.live.len()) {
            self.reconcile();
        }
    }

    /// Settles a disagreement between the members announced and the job's
    /// count with the member list.
    fn reconcile(&mut self) {
        let Ok(mut listed) = pids_of(self.job.as_handle()) else {
            return;
        };
        listed.sort_unstable();
        for &pid in &listed {
            if !self.live.contains(&pid) && self.probe(pid) == Probe::Member {
                self.joined(pid);
            }
        }
        let mut gone: Vec<u32> = self
            .live
            .iter()
            .copied()
            .filter(|pid| listed.binary_search(pid).is_err())
            .collect();
        gone.sort_unstable();
        for pid in gone {
            match self.probe(pid) {
                // Exiting (counted, not listed): its message is on the way.
                Probe::Member | Probe::Unknown => {}
                Probe::Gone => self.exited(pid, false),
            }
        }
    }

    /// Whether process `pid` still runs in this job.
    fn probe(&self, pid: u32) -> Probe {
        // IsProcessInJob: Wine accepts only the full query right.
        let process = match api::open_process(api::PROCESS_QUERY_INFORMATION, pid) {
            Err(e) if e.raw_os_error() == Some(api::ERROR_ACCESS_DENIED) => {
                api::open_process(api::PROCESS_QUERY_LIMITED_INFORMATION, pid)
            }
            other => other,
        };
        let process = match process {
            Ok(process) => process,
            // No such process.
            Err(e) if e.raw_os_error() == Some(api::ERROR_INVALID_PARAMETER) => return Probe::Gone,
            Err(_) => return Probe::Unknown,
        };
        match api::get_exit_code_process(process.as_handle()) {
            Ok(api::STILL_ACTIVE) => {}
            Ok(_) => return Probe::Gone,
            Err(_) => return Probe::Unknown,
        }
        match api::is_process_in_job(process.as_handle(), Some(self.job.as_handle())) {
            Ok(true) => Probe::Member,
            // A running process under a reused pid.
            Ok(false) => Probe::Gone,
            Err(_) => Probe::Unknown,
        }
    }

    /// How process `pid` ended, if its process object can still be opened
    /// (and anyone listens).
    fn exit_of(&self, pid: u32) -> Option<ProcessExit> {
        if !self.shared.broadcaster.has_subscribers() {
            return None;
        }
        let process = api::open_process(api::PROCESS_QUERY_LIMITED_INFORMATION, pid).ok()?;
        match api::get_exit_code_process(process.as_handle()) {
            Ok(code) if code != api::STILL_ACTIVE => Some(ProcessExit::Code(code)),
            _ => None,
        }
    }
}

/// What [`Watcher::probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Running, in this job.
    Member,
    /// Exited, or the pid is now another process's.
    Gone,
    /// Cannot tell (no access).
    Unknown,
}

/// The next check time after `now` (or `now`, on a clock at its end).
fn later(now: Instant, interval: Duration) -> Instant {
    now.checked_add(interval).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::os::windows::process::CommandExt;
    use std::process::{Child, Command};
    use std::thread;

    use super::*;

    /// A watcher of a new job whose port is not associated with it: no
    /// message ever arrives, as if Windows had dropped every one.
    fn deaf_watcher() -> (Watcher, Events) {
        let job = api::create_job_object_w(None, None, false).unwrap().handle;
        let shared = Arc::new(Shared::default());
        let events = shared.broadcaster.subscribe();
        (Watcher::new(job, shared), events)
    }

    /// A check of a deaf watcher: no port has anything to drain.
    fn check(watcher: &mut Watcher) {
        watcher.check(&mut |_| true);
    }

    /// `ERROR_INTERNAL_ERROR`: Wine's CreateProcess fails with it now and
    /// then under load.
    const ERROR_INTERNAL_ERROR: i32 = 1359;

    /// A suspended process, killed when dropped (a failing test leaves no
    /// process behind).
    struct Suspended(Child);

    impl Drop for Suspended {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// This test program, created suspended: it never runs a line. Wine's
    /// transient error 1359 is retried, at most five times.
    fn suspended() -> Suspended {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.creation_flags(api::CREATE_SUSPENDED);
        let mut tries = 0;
        loop {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(ERROR_INTERNAL_ERROR) && tries < 5 => {
                    tries += 1;
                    thread::sleep(Duration::from_millis(100));
                }
                other => return Suspended(other.unwrap()),
            }
        }
    }

    /// A suspended process in the watcher's job.
    fn member(watcher: &Watcher) -> Suspended {
        let child = suspended();
        api::assign_process_to_job_object(watcher.job.as_handle(), child.0.as_handle()).unwrap();
        child
    }

    fn kill(child: &mut Suspended) {
        child.0.kill().unwrap();
        child.0.wait().unwrap();
    }

    fn queued(events: &Events) -> Vec<Event> {
        std::iter::from_fn(|| events.try_recv()).collect()
    }

    #[test]
    fn without_messages_the_count_still_drives_the_events() {
        let (mut watcher, events) = deaf_watcher();
        check(&mut watcher);
        assert_eq!(queued(&events), [], "an empty job that never had a member");

        let mut one = member(&watcher);
        let mut two = member(&watcher);
        check(&mut watcher);
        let mut both = [one.0.id(), two.0.id()];
        both.sort_unstable();
        assert_eq!(
            queued(&events),
            both.map(|pid| Event::NewProcess { pid }),
            "members found in the list are announced"
        );
        check(&mut watcher);
        assert_eq!(queued(&events), [], "and only once");

        // One leaves: the list settles it. std's kill is TerminateProcess
        // with exit code 1.
        kill(&mut one);
        check(&mut watcher);
        assert_eq!(
            queued(&events),
            [Event::ExitProcess {
                pid: one.0.id(),
                exit: Some(ProcessExit::Code(1))
            }]
        );
        // A late message about it changes nothing.
        watcher.dispatch(Message::ExitProcess(one.0.id()));
        assert_eq!(queued(&events), []);

        // The other leaves: the count reaches zero, its exit then Empty.
        kill(&mut two);
        check(&mut watcher);
        assert_eq!(
            queued(&events),
            [
                Event::ExitProcess {
                    pid: two.0.id(),
                    exit: Some(ProcessExit::Code(1))
                },
                Event::Empty
            ]
        );
        // The messages that were lost, arriving late, send nothing more.
        watcher.dispatch(Message::ExitProcess(two.0.id()));
        watcher.dispatch(Message::ActiveProcessZero);
        check(&mut watcher);
        assert_eq!(queued(&events), []);
    }

    #[test]
    fn zero_is_confirmed_by_the_count() {
        let (mut watcher, events) = deaf_watcher();
        let mut child = member(&watcher);
        watcher.dispatch(Message::NewProcess(child.0.id()));
        // A zero message while the job still has a member is not believed.
        watcher.dispatch(Message::ActiveProcessZero);
        assert_eq!(queued(&events), [Event::NewProcess { pid: child.0.id() }]);
        kill(&mut child);
        watcher.dispatch(Message::ExitProcess(child.0.id()));
        watcher.dispatch(Message::ActiveProcessZero);
        assert_eq!(
            queued(&events),
            [
                Event::ExitProcess {
                    pid: child.0.id(),
                    exit: Some(ProcessExit::Code(1))
                },
                Event::Empty
            ]
        );
        check(&mut watcher);
        assert_eq!(queued(&events), [], "one Empty per emptying");
    }

    /// Jobs with subscriptions and members come and go without leaving a
    /// thread or a handle behind. Other tests run meanwhile, so the counts
    /// get some slack; a leak of one per job would be 100 or more. Wine
    /// reports a handle count of 0 whatever is open; there the member's death
    /// shows that every handle to the job (the thread's copy too) was closed,
    /// since kill-on-close waits for the last one.
    #[test]
    fn nothing_is_left_behind() {
        let threads = || api::thread_ids_of(std::process::id()).unwrap().len();
        let handles = || usize::try_from(api::get_process_handle_count().unwrap()).unwrap();
        let (threads_before, handles_before) = (threads(), handles());
        for _ in 0..100 {
            let job = crate::Job::new().unwrap();
            let events = job.events().unwrap();
            let mut child = suspended();
            job.assign(&child.0).unwrap();
            drop(job);
            // Kill-on-drop ended the member; the subscription ended too.
            child.0.wait().unwrap();
            assert!(events.is_closed());
        }
        let (threads_after, handles_after) = (threads(), handles());
        println!(
            "threads {threads_before} -> {threads_after}, handles {handles_before} -> \
             {handles_after}"
        );
        assert!(threads_after < threads_before + 30, "threads leak");
        assert!(handles_after < handles_before + 60, "handles leak");
    }

    #[test]
    fn limit_messages_become_events() {
        let (mut watcher, events) = deaf_watcher();
        watcher.dispatch(Message::EndOfJobTime);
        watcher.dispatch(Message::EndOfProcessTime(4));
        watcher.dispatch(Message::ActiveProcessLimit);
        watcher.dispatch(Message::ProcessMemoryLimit(8));
        watcher.dispatch(Message::JobMemoryLimit);
        watcher.dispatch(Message::Other { id: 12, value: 0 });
        // No limit is in force: the violation names none (or, where the
        // class is missing, cannot be asked).
        watcher.dispatch(Message::NotificationLimit);
        assert_eq!(
            queued(&events),
            [
                Event::EndOfJobTime,
                Event::EndOfProcessTime { pid: 4 },
                Event::ActiveProcessLimit,
                Event::ProcessMemoryLimit { pid: 8 },
                Event::JobMemoryLimit,
                Event::NotificationLimit { limit: None },
            ]
        );
    }

    #[test]
    fn decodes_messages() {
        let cases = [
            (api::JOB_OBJECT_MSG_NEW_PROCESS, 44, Message::NewProcess(44)),
            (api::JOB_OBJECT_MSG_EXIT_PROCESS, 8, Message::ExitProcess(8)),
            (
                api::JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS,
                8,
                Message::AbnormalExitProcess(8),
            ),
            (
                api::JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO,
                0,
                Message::ActiveProcessZero,
            ),
            (
                api::JOB_OBJECT_MSG_END_OF_JOB_TIME,
                0,
                Message::EndOfJobTime,
            ),
            (
                api::JOB_OBJECT_MSG_END_OF_PROCESS_TIME,
                12,
                Message::EndOfProcessTime(12),
            ),
            (
                api::JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT,
                0,
                Message::ActiveProcessLimit,
            ),
            (
                api::JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT,
                16,
                Message::ProcessMemoryLimit(16),
            ),
            (
                api::JOB_OBJECT_MSG_JOB_MEMORY_LIMIT,
                20,
                Message::JobMemoryLimit,
            ),
            (
                api::JOB_OBJECT_MSG_NOTIFICATION_LIMIT,
                0,
                Message::NotificationLimit,
            ),
            (12, 0, Message::Other { id: 12, value: 0 }),
        ];
        for (id, value, message) in cases {
            assert_eq!(Message::decode(id, value), message, "message {id}");
        }
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_process_message_without_a_pid_is_ignored() {
        let value = usize::MAX;
        assert_eq!(
            Message::decode(api::JOB_OBJECT_MSG_EXIT_PROCESS, value),
            Message::Other {
                id: api::JOB_OBJECT_MSG_EXIT_PROCESS,
                value
            }
        );
    }
}
