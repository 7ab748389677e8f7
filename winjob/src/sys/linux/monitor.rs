//! A job's events on Linux: what the engine ([`engine`])
//! knows of one watched job, and how its messages become the job's events.
//! The first `Job::events` call adds the watch; dropping the job removes it.
//!
//! # Sources
//!
//! - **The proc connector** (shared by every watch; root, or any user since
//!   Linux 6.6): a fork whose parent is a known member is a new member; the
//!   job itself notes every process it spawns or assigns, and since that note
//!   can arrive after the process already forked or exited, the engine keeps
//!   recent forks and exits of processes no job knows for a few seconds, and
//!   they are applied when their process turns out to be a member. An exit
//!   carries the wait status, so exit codes and signals are exact.
//! - **`cgroup.events`** (v2; inotify's `IN_MODIFY` on each change, through
//!   the engine's one inotify descriptor): `populated 0` means
//!   the job is empty; the connector is drained first, so every exit precedes
//!   `Empty`.
//! - **`memory.events`** and **`pids.events`** (v2 controllers, the same
//!   way; a controller that is not enabled has no file): counters that
//!   grew become `JobMemoryLimit` / `ActiveProcessLimit`; v1 counters
//!   (`memory.failcnt`, `memory.oom_control`'s `oom_kill`, `pids.events`) are
//!   read every 200 ms while the job has them, since v1 raises no event.
//! - **Looks at the member list**: after every event that concerns the job
//!   (a process-group job with the connector only after lost messages: its
//!   members change by fork and exit alone, and its list is a `/proc` scan),
//!   and once a second for a cgroup job with members, every five seconds for
//!   an empty v1 job (a process moved in by someone else: an empty v2 job's
//!   `cgroup.events` says so itself);
//!   a member the watch never saw start is reported new, a member gone
//!   without an exit message is reported exited (exit unknown) once the
//!   message is overdue. Without the proc connector this is all there is,
//!   every 200 ms, and then short-lived processes can be missed entirely.
//!
//! Counters, not edges, are the truth: every look an event caused re-reads
//! them, so that a limit's event comes before the exits' `Empty` even when
//! the counter file's notification comes after the exit message.
//!
//! # Known gaps
//!
//! - The connector's `ENOBUFS` (events dropped under load) becomes
//!   `MessagesLost`, followed by a look at every job.
//! - A pid reported exited is not reported as a new member again for a few
//!   seconds (a late note must not bring it back), so a pid the kernel reuses
//!   that fast for a new member of the same job is first seen as the
//!   member's exit's successor only by the look after.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rustix::fs::{Mode as FileMode, OFlags};

use super::super::slab::Key;
use super::cgroup::{Cgroup, Version};
use super::connector::decode_status;
use super::engine::{self, Engine, Fanout, SWEEP, Source};
use super::limits::LimitState;
use super::pgroup::ProcessGroup;
use crate::event::{Broadcaster, Event, ProcessExit};

/// How often the member list and the v1 counters are read where no event
/// says they changed (no connector; v1 counters).
const POLL: Duration = Duration::from_millis(200);
/// How often an empty cgroup v1 job's list is swept.
const IDLE_SWEEP: Duration = Duration::from_secs(5);
/// The shortest time between two timed looks at one job.
const MIN_GAP: Duration = Duration::from_millis(10);
/// How long a job's reported exits are remembered, so that a late note does
/// not bring a member back.
const FINISHED_AGE: Duration = Duration::from_secs(5);
const FINISHED_CAP: usize = 4096;
/// How long an exit message may lag behind the process leaving its cgroup.
/// The kernel sends it a few instructions after `cgroup_exit`, but an
/// exiting task can be preempted in between, for over a second on a machine
/// busy with hundreds of runnable tasks (a soak found one). Only an exit
/// whose message is missing waits this long before it is reported without
/// its code (and `Empty` after it), after a `MessagesLost`: the message did
/// not come in time.
const EXIT_MESSAGE_GRACE: Duration = Duration::from_secs(5);

/// What the job is, as far as the monitor needs.
#[derive(Debug, Clone)]
pub(crate) enum Members {
    Cgroup(Arc<Cgroup>),
    Group(Arc<ProcessGroup>),
}

impl Members {
    fn list(&self) -> io::Result<Vec<u32>> {
        match self {
            Members::Cgroup(c) => c.pids(),
            Members::Group(g) => g.pids(),
        }
    }
}

/// A job's watch in the process's engine; removed when dropped.
#[derive(Debug)]
pub(crate) struct Monitor {
    broadcaster: Arc<Broadcaster>,
    engine: Arc<Engine>,
    key: Key,
}

impl Monitor {
    pub(crate) fn start(
        members: Members,
        limits: Arc<Mutex<LimitState>>,
        broadcaster: Arc<Broadcaster>,
    ) -> io::Result<Monitor> {
        let watch = Watch::new(members, limits, Arc::clone(&broadcaster))?;
        let engine = engine::get()?;
        let key = engine.add_watch(watch)?;
        Ok(Monitor {
            broadcaster,
            engine,
            key,
        })
    }

    /// Tells the engine that the job put `pid` in itself (a spawn or an
    /// assignment): it is a member from its start, whatever the connector's
    /// messages about it said before this arrives.
    pub(crate) fn joined(&self, pid: u32) {
        self.engine.joined(self.key, pid);
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.engine.remove_watch(self.key);
        self.broadcaster.close();
    }
}

/// What the engine knows of one watched job.
#[derive(Debug)]
pub(crate) struct Watch {
    members: Members,
    limits: Arc<Mutex<LimitState>>,
    broadcaster: Arc<Broadcaster>,
    /// v2 `cgroup.events`, `memory.events` and `pids.events`, which the
    /// engine watches with inotify (`IN_MODIFY`: kernfs raises it with each
    /// notification), and the watch descriptors it got for them.
    files: Vec<(PathBuf, Source)>,
    pub(crate) wds: Vec<i32>,
    /// Live members the watch knows of.
    known: HashSet<u32>,
    /// Members gone from the member list whose exit message has not come
    /// yet (the kernel removes a process from its cgroup before it sends the
    /// connector's exit message), with when they were missed.
    departing: HashMap<u32, Instant>,
    /// Members reported exited lately, so that a late note does not bring
    /// them back.
    finished: HashMap<u32, Instant>,
    had_members: bool,
    /// Last values of the limit counters.
    memory_count: u64,
    pids_count: u64,
    /// When the engine's timer for this watch is due (earlier entries of
    /// the heap are stale).
    next: Option<Instant>,
    /// In the engine's list of watches to look at this turn.
    pub(crate) dirty: bool,
    /// An event said the members may have changed: the look reads the list.
    pub(crate) changed: bool,
    /// The counters are to be read in the look.
    pub(crate) counters_due: bool,
    /// Messages were lost: the next look reads the member list, whatever
    /// the job is.
    pub(crate) suspect: bool,
}

impl Watch {
    /// When the first look comes after the watch is added.
    const FIRST_LOOK: Duration = POLL;

    /// Opens the job's notification files and reads its counters (only
    /// their growth is news). The members are listed by
    /// [`list_members`](Self::list_members), under the engine's lock.
    fn new(
        members: Members,
        limits: Arc<Mutex<LimitState>>,
        broadcaster: Arc<Broadcaster>,
    ) -> io::Result<Watch> {
        // cgroup v2's notification files, watched through the engine's one
        // inotify descriptor: a watched job holds no descriptor of its own.
        let mut files = Vec::new();
        if let Members::Cgroup(cgroup) = &members
            && cgroup.version == Version::V2
        {
            files.push((cgroup.path.join("cgroup.events"), Source::CgroupEvents));
            for name in ["memory.events", "pids.events"] {
                files.push((cgroup.path.join(name), Source::Counters));
            }
        }
        let mut watch = Watch {
            members,
            limits,
            broadcaster,
            files,
            wds: Vec::new(),
            known: HashSet::new(),
            departing: HashMap::new(),
            finished: HashMap::new(),
            had_members: false,
            memory_count: 0,
            pids_count: 0,
            next: None,
            dirty: false,
            changed: false,
            counters_due: false,
            suspect: false,
        };
        let (memory, pids) = watch.counters(true).unwrap_or_default();
        watch.memory_count = memory;
        watch.pids_count = pids;
        Ok(watch)
    }

    /// Lists the members the watch starts from (reported only if they exit).
    pub(crate) fn list_members(&mut self, key: Key, fanout: &mut Fanout) -> io::Result<()> {
        for pid in self.members.list()? {
            self.known.insert(pid);
            fanout.own(pid, key);
        }
        self.had_members = !self.known.is_empty();
        self.next = Some(Instant::now() + Self::FIRST_LOOK);
        Ok(())
    }

    /// When the engine's timer for this watch is due.
    pub(crate) fn next_look(&self) -> Option<Instant> {
        self.next
    }

    /// The files the engine watches, with what each is.
    pub(crate) fn files(&self) -> &[(PathBuf, Source)] {
        &self.files
    }

    /// Every pid the watch has in the engine's index.
    pub(crate) fn known_pids(&self) -> Vec<u32> {
        self.known
            .iter()
            .chain(self.departing.keys())
            .copied()
            .collect()
    }

    pub(crate) fn send(&self, event: &Event) {
        self.broadcaster.send(event);
    }

    /// The job's note that it took in `pid`.
    pub(crate) fn note(&mut self, pid: u32, key: Key, fanout: &mut Fanout) {
        if !self.finished.contains_key(&pid) {
            self.join(pid, key, fanout);
        }
    }

    /// A member's fork, from the connector: the child is a member. Its own
    /// forks and exit come after this message, so there is nothing of it in
    /// the shared buffer to adopt.
    pub(crate) fn forked(&mut self, pid: u32, key: Key, fanout: &mut Fanout) {
        if self.departing.contains_key(&pid) || !self.known.insert(pid) {
            return;
        }
        fanout.own(pid, key);
        self.had_members = true;
        self.send(&Event::NewProcess { pid });
    }

    /// Makes `pid` a member, with the children it forked and the exits that
    /// came before any job knew them (taken out of the shared buffer).
    pub(crate) fn join(&mut self, pid: u32, key: Key, fanout: &mut Fanout) {
        let mut todo = vec![pid];
        while let Some(pid) = todo.pop() {
            if self.departing.contains_key(&pid) || !self.known.insert(pid) {
                continue;
            }
            fanout.own(pid, key);
            self.had_members = true;
            self.send(&Event::NewProcess { pid });
            todo.extend(fanout.take_children(pid));
            if let Some(status) = fanout.take_exit(pid) {
                self.known.remove(&pid);
                fanout.disown(pid, key);
                self.exited(pid, Some(decode_status(status)));
            }
        }
    }

    /// The connector's exit message of a pid the watch knows (the engine
    /// already took it out of the index).
    pub(crate) fn exit_message(&mut self, pid: u32, status: u32) {
        let known = self.known.remove(&pid);
        let departing = self.departing.remove(&pid).is_some();
        if known || departing {
            self.exited(pid, Some(decode_status(status)));
        }
    }

    /// True (and the timer is consumed) if the engine's timer at `at` is
    /// this watch's current one.
    pub(crate) fn due(&mut self, at: Instant) -> bool {
        if self.next == Some(at) {
            self.next = None;
            true
        } else {
            false
        }
    }

    fn exited(&mut self, pid: u32, exit: Option<ProcessExit>) {
        if self.finished.len() < FINISHED_CAP {
            self.finished.insert(pid, Instant::now());
        }
        match exit {
            Some(ProcessExit::Signal(24)) => {
                self.send(&Event::EndOfProcessTime { pid });
                self.send(&Event::ExitProcess { pid, exit });
            }
            Some(ProcessExit::Signal(4 | 5 | 6 | 7 | 8 | 11 | 31)) => {
                self.send(&Event::AbnormalExitProcess { pid, exit });
            }
            _ => self.send(&Event::ExitProcess { pid, exit }),
        }
    }

    /// A look: the counters if due, the member list if anything may have
    /// changed; returns when the engine should look again, if that is
    /// earlier than the timer already set.
    pub(crate) fn look(
        &mut self,
        key: Key,
        fanout: &mut Fanout,
        connector: bool,
        now: Instant,
    ) -> Option<Instant> {
        let v1_counters = self.has_v1_counters();
        // The counters are read at every look an event caused, not only when
        // their own file says they changed: an OOM kill's exit message comes
        // before `memory.events`' notification (kernfs sends that from a
        // workqueue), and the limit's event must not come after `Empty`.
        if (std::mem::take(&mut self.counters_due) || v1_counters || self.changed)
            && !self.check_counters()
        {
            // The job's limits are busy (a query or a change holds them): the
            // whole look waits a moment, so that no `Empty` goes out before
            // the limit's event.
            let at = now + MIN_GAP;
            if self.next.is_some_and(|current| current <= at) {
                return None;
            }
            self.next = Some(at);
            return Some(at);
        }
        let sweeps = self.sweep_every().is_some();
        let timer_fired = self.next.is_none();
        let changed = std::mem::take(&mut self.changed);
        // A process group's members change only by fork and exit, which
        // the connector reports: unless messages were lost, what the watch
        // knows is the list, and no `/proc` scan (whose cost grows with the
        // processes on the machine) is needed.
        let trusted = connector
            && matches!(self.members, Members::Group(_))
            && !std::mem::take(&mut self.suspect);
        if trusted {
            if changed {
                self.empty_if_done();
            }
        } else if changed || !connector || !self.departing.is_empty() || (sweeps && timer_fired) {
            self.resync(key, fanout, connector, now);
        }
        self.finished
            .retain(|_, since| now.saturating_duration_since(*since) < FINISHED_AGE);
        // When to look again: the first of what is due.
        let mut next: Option<Instant> = None;
        let mut at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if !connector || v1_counters {
            at(now + POLL);
        }
        if let Some(sweep) = self.sweep_every() {
            at(now + sweep);
        }
        if let Some(oldest) = self.departing.values().min() {
            at(*oldest + EXIT_MESSAGE_GRACE);
        }
        // Never sooner than this: a look that cannot read the member list
        // leaves overdue members, which must not make the engine spin.
        let next = next?.max(now + MIN_GAP);
        if self.next.is_some_and(|current| current <= next) {
            return None;
        }
        self.next = Some(next);
        Some(next)
    }

    /// How often the list is swept for processes moved in by someone else:
    /// a second for a cgroup job with members, five for an empty v1 job
    /// (which no event would tell of one), never for an empty v2 job
    /// (`cgroup.events` tells) or a process group.
    fn sweep_every(&self) -> Option<Duration> {
        match &self.members {
            Members::Cgroup(_) if !self.known.is_empty() => Some(SWEEP),
            Members::Cgroup(cgroup) if cgroup.version != Version::V2 => Some(IDLE_SWEEP),
            _ => None,
        }
    }

    /// `Empty`, if the job had members and none is known or departing.
    fn empty_if_done(&mut self) {
        if self.known.is_empty() && self.departing.is_empty() && self.had_members {
            self.had_members = false;
            self.send(&Event::Empty);
        }
    }

    /// Compares the member list with what is known, and reports `Empty` when
    /// the job became empty.
    fn resync(&mut self, key: Key, fanout: &mut Fanout, connector: bool, now: Instant) {
        let Ok(members) = self.members.list() else {
            return;
        };
        // A member reported exited is not taken back: a process-group job
        // lists an exiting process until it is a zombie, after its exit
        // message.
        let listed: HashSet<u32> = members
            .into_iter()
            .filter(|pid| !self.finished.contains_key(pid))
            .collect();
        let mut new: Vec<u32> = listed.difference(&self.known).copied().collect();
        new.sort_unstable();
        for pid in new {
            self.departing.remove(&pid);
            self.join(pid, key, fanout);
        }
        let gone: Vec<u32> = self.known.difference(&listed).copied().collect();
        for pid in gone {
            self.known.remove(&pid);
            self.departing.insert(pid, now);
        }
        // An exit message that never came (lost, or no connector).
        let wait = if connector {
            EXIT_MESSAGE_GRACE
        } else {
            Duration::ZERO
        };
        let mut overdue: Vec<u32> = self
            .departing
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= wait)
            .map(|(pid, _)| *pid)
            .collect();
        overdue.sort_unstable();
        // With a connector, an exit reported without its code is a message
        // that did not come in time: the subscribers are told first.
        if connector && !overdue.is_empty() {
            self.send(&Event::MessagesLost);
        }
        for pid in overdue {
            self.departing.remove(&pid);
            fanout.disown(pid, key);
            self.exited(pid, None);
        }
        if listed.is_empty()
            && self.known.is_empty()
            && self.departing.is_empty()
            && self.had_members
        {
            self.had_members = false;
            self.send(&Event::Empty);
        }
    }

    /// True if the job has v1 counters (read on a timer: v1 raises no
    /// event).
    ///
    /// The engine never waits for the job's limits (a job setting limits
    /// holds them while it adds or removes a CPU time budget, which takes the
    /// engine's lock): if they are busy, this look counts them as there.
    fn has_v1_counters(&self) -> bool {
        self.try_limits()
            .is_none_or(|limits| limits.v1_memory().is_some() || limits.v1_pids().is_some())
    }

    /// The job's limits, unless someone holds them now.
    fn try_limits(&self) -> Option<MutexGuard<'_, LimitState>> {
        match self.limits.try_lock() {
            Ok(limits) => Some(limits),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Reads the limit counters; growth becomes an event. False if the
    /// job's limits were busy (nothing was read; the next look reads them).
    fn check_counters(&mut self) -> bool {
        let Some((memory, pids)) = self.counters(false) else {
            self.counters_due = true;
            return false;
        };
        if memory > self.memory_count {
            self.send(&Event::JobMemoryLimit);
        }
        if pids > self.pids_count {
            self.send(&Event::ActiveProcessLimit);
        }
        self.memory_count = memory;
        self.pids_count = pids;
        true
    }

    /// (memory limit hits, process limit hits), from whichever files hold
    /// the job's memory and pids controllers; `None` if the job's limits are
    /// busy and `wait` is false (see [`has_v1_counters`](Self::has_v1_counters)).
    fn counters(&self, wait: bool) -> Option<(u64, u64)> {
        let mut memory = 0;
        let mut pids = 0;
        let mut buf = [0u8; 1024];
        if let Members::Cgroup(cgroup) = &self.members {
            let dir = cgroup.dir_fd();
            memory += sum_keys(
                read_at(dir, "memory.events", &mut buf),
                &["max", "oom", "oom_kill"],
            );
            pids += sum_keys(read_at(dir, "pids.events", &mut buf), &["max"]);
        }
        let limits = if wait {
            self.limits.lock().unwrap_or_else(|e| e.into_inner())
        } else {
            self.try_limits()?
        };
        if let Some(dir) = limits.v1_memory() {
            memory += read_at(dir, "memory.failcnt", &mut buf)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            memory += sum_keys(read_at(dir, "memory.oom_control", &mut buf), &["oom_kill"]);
        }
        if let Some(dir) = limits.v1_pids() {
            pids += sum_keys(read_at(dir, "pids.events", &mut buf), &["max"]);
        }
        Some((memory, pids))
    }
}

fn read_at<'b>(dir: BorrowedFd<'_>, name: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    )
    .ok()?;
    let n = rustix::io::read(&fd, &mut *buf).ok()?;
    std::str::from_utf8(&buf[..n]).ok()
}

fn sum_keys(text: Option<&str>, keys: &[&str]) -> u64 {
    let Some(text) = text else { return 0 };
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| keys.contains(k))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}
