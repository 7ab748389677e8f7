//! The event engine: one thread, one `epoll` and one proc-connector socket
//! for every watched job of the process.
//!
//! # Strategy
//!
//! A supervisor holds thousands of jobs, each watched. A thread, a timer and
//! a connector socket per job made every fork on the machine wake every
//! job's thread, and the cost per job grew with the number of jobs. So the
//! process has one engine, started by the first watch (a job's `events`, a
//! job CPU time limit, the guardian's exit) and stopped when the last one
//! goes:
//!
//! - **One connector socket** ([`connector`]): each
//!   `fork` and `exit` is looked up once in a pid → job index of every
//!   member the engine knows, then handed to that job's watch
//!   ([`monitor`](super::monitor)). Forks and exits of processes no job knows
//!   are kept a few seconds in one shared buffer, for a job whose note of a
//!   spawn comes after its process forked or exited.
//! - **One inotify descriptor** for every job's kernel notifications
//!   (`cgroup.events`, `memory.events`, `pids.events` on cgroup v2: kernfs
//!   raises `IN_MODIFY` with each notification it sends pollers): a watched
//!   job holds no descriptor of its own, only inotify watches (up to 3; the
//!   user's limit is `fs.inotify.max_user_watches`). Each watch descriptor
//!   maps to the watches (slab slot and generation, so that a reused slot
//!   never takes an event meant for its previous job) and the file.
//! - **One timer heap** for what must be looked at, not waited for: the
//!   exit message that is late, the v1 counters (v1 raises no event), a slow
//!   sweep of each cgroup job's member list (a process someone else moved
//!   in), everything at 200 ms when there is no connector, and the job CPU
//!   time watchdogs ([`watchdog`](super::watchdog)).
//! - **Descriptors in the epoll** with an action to run once when they are
//!   readable: the guardian's pidfd, which replaces it when it exits.
//! - **A mailbox** (a queue and an eventfd) for the jobs' notes of the
//!   processes they spawn or assign: the spawning thread never waits for the
//!   engine.
//!
//! Everything a turn does is under one lock, which a job takes only to add
//! or remove its watch: removal is synchronous, so nothing is sent for a job
//! once its watch is gone. A turn is [`Core::turn`]: wait on the epoll,
//! then drain the connector (exits before `Empty`), apply the notes, run the
//! due timers, and look again at every job something happened to. The
//! thread runs turns until stopped; the epoll descriptor and `turn` are the
//! two things a runtime (tokio's `AsyncFd`) needs to drive the same engine.
//!
//! # Cost
//!
//! Per job: one descriptor (its cgroup directory; `cgroup.procs` is opened
//! for each spawn), none more when watched; up to 3 inotify watches, one
//! slab slot, its members in the index. Per process event: one hash lookup;
//! since Linux 6.6 the socket is subscribed to forks and exits only. Per
//! process: 1 thread, 1 epoll, 1 eventfd, 1 inotify, 1 connector socket.
//! Running out of descriptors is an error that names `RLIMIT_NOFILE`.
//!
//! # Known gaps
//!
//! - A process moved into a job's cgroup by someone else (not through this
//!   job) is seen by the sweep, within [`SWEEP`], not at once.
//! - A fork storm elsewhere on the machine costs one lookup per event; the
//!   kernel still copies every fork and exit of the system into the socket
//!   (measured: the engine's CPU is about 3.5 % of a storm's own).
//! - v1 jobs are swept even when empty, every five seconds (v1 raises no
//!   event): 1 000 watched v1 jobs cost about 1.5 % of a core.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::fs::inotify;

use super::super::slab::{Key, Slab, once_per_process};
use super::connector::{self, ProcEvent};
use super::monitor::Watch;
use super::watchdog::Budget;
use crate::event::Event;

/// How often a job's member list is compared with what the engine knows
/// when no event says it changed. It catches a process moved into the job's
/// cgroup by someone else.
pub(crate) const SWEEP: Duration = Duration::from_secs(1);

/// How many forks and exits of processes no job knows are remembered, and
/// for how long. When the buffer is full (the rest of the system forks
/// thousands of processes a second), what is older than `RECENT_FULL_AGE`
/// makes room for what is new, which is what matters (a member's fork whose
/// parent a job is about to name); if that is not enough, the buffer starts
/// afresh and every watch gets `MessagesLost`.
const RECENT_CAP: usize = 4096;
const RECENT_AGE: Duration = Duration::from_secs(5);
const RECENT_FULL_AGE: Duration = Duration::from_millis(250);

const WAKE: u64 = u64::MAX;
const CONNECTOR: u64 = u64::MAX - 1;
const INOTIFY: u64 = u64::MAX - 2;

/// Which of a job's files an event is about (an inotify watch's, or the
/// epoll token's for a descriptor of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `cgroup.events`: the job's populated state changed.
    CgroupEvents = 0,
    /// `memory.events` or `pids.events`: a limit counter grew.
    Counters = 1,
    /// A descriptor whose readiness runs an action once (a helper
    /// process's pidfd: it exited).
    Readable = 2,
}

/// A token: the key's generation, its slot and the source.
fn token(key: Key, source: Source) -> u64 {
    (u64::from(key.generation) << 32) | (u64::from(key.index) << 2) | source as u64
}

fn of_token(token: u64) -> (Key, Source) {
    let source = match token & 3 {
        0 => Source::CgroupEvents,
        1 => Source::Counters,
        _ => Source::Readable,
    };
    let key = Key {
        index: u32::try_from((token & 0xffff_ffff) >> 2).unwrap_or(u32::MAX),
        generation: u32::try_from(token >> 32).unwrap_or(u32::MAX),
    };
    (key, source)
}

/// What every watch shares: which job knows which pid, and the forks and
/// exits of processes no job knew when they came.
#[derive(Debug, Default)]
pub(crate) struct Fanout {
    /// Every pid a job knows (as a live member, or as one gone from its list
    /// whose exit message has not come), with the jobs that know it (more
    /// than one only for a job inside another's directory).
    owners: HashMap<u32, Vec<Key>>,
    /// Forks whose parent no job knew: child → (parent, when). Searched by
    /// parent only when a job names a process (a spawn), never per message.
    forks: HashMap<u32, (u32, Instant)>,
    /// Exits of such children: pid → (wait status, when).
    exits: HashMap<u32, (u32, Instant)>,
    /// Both, oldest first, to forget them in order: (when, pid, is a fork).
    order: VecDeque<(Instant, u32, bool)>,
    /// Set when the buffer overflowed: every watch is told `MessagesLost`.
    lost: bool,
}

impl Fanout {
    /// Notes that `key` knows `pid`.
    pub(crate) fn own(&mut self, pid: u32, key: Key) {
        let keys = self.owners.entry(pid).or_default();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }

    /// Notes that `key` no longer knows `pid`.
    pub(crate) fn disown(&mut self, pid: u32, key: Key) {
        if let Some(keys) = self.owners.get_mut(&pid) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.owners.remove(&pid);
            }
        }
    }

    /// The children `pid` forked while no job knew it, taken out of the
    /// buffer (so that a second watch cannot adopt a child the first saw
    /// exit).
    pub(crate) fn take_children(&mut self, pid: u32) -> Vec<u32> {
        let children: Vec<u32> = self
            .forks
            .iter()
            .filter(|(_, (parent, _))| *parent == pid)
            .map(|(child, _)| *child)
            .collect();
        for child in &children {
            self.forks.remove(child);
        }
        children
    }

    /// The exit of `pid`, if it came while no job knew it; forgotten.
    pub(crate) fn take_exit(&mut self, pid: u32) -> Option<u32> {
        self.exits.remove(&pid).map(|(status, _)| status)
    }

    fn remember_fork(&mut self, parent: u32, child: u32, now: Instant) {
        self.make_room(now);
        // A fork is a new process: an exit remembered under its pid was an
        // earlier process's.
        self.exits.remove(&child);
        self.forks.insert(child, (parent, now));
        self.order.push_back((now, child, true));
    }

    fn remember_exit(&mut self, pid: u32, status: u32, now: Instant) {
        self.make_room(now);
        self.exits.insert(pid, (status, now));
        self.order.push_back((now, pid, false));
    }

    /// Forgets what is older than `age`.
    fn forget_older(&mut self, now: Instant, age: Duration) {
        while let Some(&(when, pid, is_fork)) = self.order.front() {
            if now.saturating_duration_since(when) < age {
                break;
            }
            self.order.pop_front();
            if is_fork {
                if self.forks.get(&pid).is_some_and(|(_, w)| *w == when) {
                    self.forks.remove(&pid);
                }
            } else if self.exits.get(&pid).is_some_and(|(_, w)| *w == when) {
                self.exits.remove(&pid);
            }
        }
    }

    fn make_room(&mut self, now: Instant) {
        if self.forks.len() < RECENT_CAP && self.exits.len() < RECENT_CAP {
            return;
        }
        self.forget_older(now, RECENT_FULL_AGE);
        if self.forks.len() >= RECENT_CAP || self.exits.len() >= RECENT_CAP {
            self.forks.clear();
            self.exits.clear();
            self.order.clear();
            self.lost = true;
        }
    }
}

/// A descriptor watched for readiness, and what to do then (once).
struct Readable {
    fd: OwnedFd,
    action: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for Readable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readable").field("fd", &self.fd).finish()
    }
}

/// An action waiting for a descriptor to become readable; dropping it
/// withdraws the action.
#[derive(Debug)]
pub(crate) struct WhenReadable {
    engine: Arc<Engine>,
    key: Key,
}

impl Drop for WhenReadable {
    fn drop(&mut self) {
        let removed = self.engine.core.lock().readable.remove(self.key);
        if let Some(readable) = removed {
            let _ = epoll::delete(&self.engine.core.epoll, &readable.fd);
        }
    }
}

/// Something the timer heap wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Watch(Key),
    Budget(Key),
}

/// Everything a turn works on.
#[derive(Debug)]
pub(crate) struct State {
    connector: Option<OwnedFd>,
    watches: Slab<Watch>,
    budgets: Slab<Budget>,
    readable: Slab<Readable>,
    /// inotify watch descriptors: which watch each file belongs to (more
    /// than one when two watches of this process watch the same job).
    wds: HashMap<i32, Vec<(Key, Source)>>,
    fanout: Fanout,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Watches to look at again at the end of the turn.
    dirty: Vec<Key>,
}

impl State {
    fn schedule(&mut self, at: Instant, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    /// Marks a watch to be looked at at the end of the turn; `changed` if
    /// an event said its members changed (else only its counters are due).
    fn mark(&mut self, key: Key, changed: bool) {
        if let Some(watch) = self.watches.get_mut(key) {
            watch.changed |= changed;
            if !watch.dirty {
                watch.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    /// True if the engine has a connector socket.
    pub(crate) fn has_connector(&self) -> bool {
        self.connector.is_some()
    }
}

/// What the engine thread and the jobs share.
#[derive(Debug)]
struct Core {
    /// The thread ended (its epoll failed): a new watch gets a new engine.
    dead: AtomicBool,
    epoll: OwnedFd,
    /// Every watched job's notification files.
    inotify: OwnedFd,
    wake: OwnedFd,
    stopping: AtomicBool,
    state: Mutex<State>,
    /// Notes from the jobs: (watch, pid) of a process a job took in.
    mailbox: Mutex<Vec<(Key, u32)>>,
}

/// The engine of this process; dropped (and its thread stopped) with the
/// last watch.
#[derive(Debug)]
pub(crate) struct Engine {
    core: Arc<Core>,
    thread: Option<JoinHandle<()>>,
}

/// Runs `action` on the engine's thread once `fd` is readable (and drops
/// `fd`), unless the returned value is dropped first. The action runs
/// outside the engine's lock: it may add and remove watches.
pub(crate) fn when_readable(
    fd: OwnedFd,
    action: impl FnOnce() + Send + 'static,
) -> io::Result<WhenReadable> {
    let engine = get()?;
    let key = {
        let mut state = engine.core.lock();
        let key = state.readable.insert(Readable {
            fd,
            action: Box::new(action),
        });
        let added = match state.readable.get_mut(key) {
            Some(readable) => wait_for(
                &engine.core.epoll,
                &readable.fd,
                token(key, Source::Readable),
            ),
            None => Err(io::Error::other("the engine lost an action it just added")),
        };
        if let Err(e) = added {
            state.readable.remove(key);
            return Err(e);
        }
        key
    };
    Ok(WhenReadable { engine, key })
}

static CURRENT: Mutex<Weak<Engine>> = Mutex::new(Weak::new());

/// The process's engine, started if there is none.
pub(crate) fn get() -> io::Result<Arc<Engine>> {
    once_per_process(
        &CURRENT,
        |e| !e.core.dead.load(Ordering::SeqCst),
        Engine::start,
    )
}

/// Adds `fd` to `epoll` for readability, under `token`.
fn wait_for(epoll: &OwnedFd, fd: &impl AsFd, token: u64) -> io::Result<()> {
    epoll::add(
        epoll,
        fd,
        epoll::EventData::new_u64(token),
        epoll::EventFlags::IN,
    )
    .map_err(io::Error::from)
}

impl Engine {
    fn start() -> io::Result<Engine> {
        // Running out of descriptors here is named by the job's entry point
        // that needed the engine (`descriptor_error` in mod.rs).
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?;
        wait_for(&epoll, &wake, WAKE)?;
        let inotify =
            inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK)?;
        wait_for(&epoll, &inotify, INOTIFY)?;
        let connector = connector::open().ok();
        if let Some(socket) = &connector {
            wait_for(&epoll, socket, CONNECTOR)?;
        }
        let core = Arc::new(Core {
            dead: AtomicBool::new(false),
            epoll,
            inotify,
            wake,
            stopping: AtomicBool::new(false),
            state: Mutex::new(State {
                connector,
                watches: Slab::new(),
                budgets: Slab::new(),
                readable: Slab::new(),
                wds: HashMap::new(),
                fanout: Fanout::default(),
                timers: BinaryHeap::new(),
                dirty: Vec::new(),
            }),
            mailbox: Mutex::new(Vec::new()),
        });
        let thread = {
            let core = Arc::clone(&core);
            thread::Builder::new()
                .name("winjob-events".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    while !core.stopping.load(Ordering::SeqCst) {
                        // Async subscribers' wakers run after the turn has
                        // released the lock.
                        if crate::event::deferred::deferring(|| core.turn()).is_err() {
                            core.dead.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                })?
        };
        Ok(Engine {
            core,
            thread: Some(thread),
        })
    }

    /// Adds a job's watch: its files join the epoll under its key, and its
    /// members (listed now, under the engine's lock, so that no connector
    /// message about them is taken for a stranger's) the index.
    pub(crate) fn add_watch(&self, watch: Watch) -> io::Result<Key> {
        let mut state = self.core.lock();
        let key = state.watches.insert(watch);
        let State {
            watches,
            fanout,
            wds,
            ..
        } = &mut *state;
        let Some(watch) = watches.get_mut(key) else {
            return Err(io::Error::other("the engine lost a watch it just added"));
        };
        let mut result = watch.list_members(key, fanout);
        if result.is_ok() {
            let mut added = Vec::new();
            for (path, source) in watch.files() {
                match inotify::add_watch(&self.core.inotify, path, inotify::WatchFlags::MODIFY) {
                    Ok(wd) => {
                        wds.entry(wd).or_default().push((key, *source));
                        added.push(wd);
                    }
                    // A controller that is not enabled has no file.
                    Err(rustix::io::Errno::NOENT) if *source == Source::Counters => {}
                    Err(rustix::io::Errno::NOSPC) => {
                        result = Err(crate::error::with_context(
                            rustix::io::Errno::NOSPC.into(),
                            format_args!(
                                "cannot watch {}: this user has as many inotify watches as \
                                 fs.inotify.max_user_watches allows (3 per watched job)",
                                path.display()
                            ),
                        ));
                        break;
                    }
                    Err(e) => {
                        result = Err(crate::error::with_context(
                            e.into(),
                            format_args!("cannot watch {}", path.display()),
                        ));
                        break;
                    }
                }
            }
            watch.wds = added;
        }
        if let Err(e) = result {
            drop(state);
            self.remove_watch(key);
            return Err(e);
        }
        if let Some(at) = state.watches.get_mut(key).and_then(|w| w.next_look()) {
            state.schedule(at, Timer::Watch(key));
        }
        drop(state);
        // The thread may sleep longer than this watch's first look.
        self.core.ring();
        Ok(key)
    }

    /// Removes a job's watch: nothing is sent for it once this returns.
    pub(crate) fn remove_watch(&self, key: Key) {
        let mut state = self.core.lock();
        if let Some(watch) = state.watches.remove(key) {
            for pid in watch.known_pids() {
                state.fanout.disown(pid, key);
            }
            for wd in &watch.wds {
                if let Some(users) = state.wds.get_mut(wd) {
                    users.retain(|(k, _)| *k != key);
                    if users.is_empty() {
                        state.wds.remove(wd);
                        // Gone already if the directory was removed.
                        let _ = inotify::remove_watch(&self.core.inotify, *wd);
                    }
                }
            }
        }
    }

    /// Tells the engine that the job of `key` took in `pid`. The note is
    /// applied after the connector's queued messages, as the thread's next
    /// turn.
    pub(crate) fn joined(&self, key: Key, pid: u32) {
        self.core
            .mailbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((key, pid));
        self.core.ring();
    }

    /// Adds a job CPU time budget, first looked at after `first`.
    pub(crate) fn add_budget(&self, budget: Budget, first: Duration) -> Key {
        let mut state = self.core.lock();
        let key = state.budgets.insert(budget);
        state.schedule(Instant::now() + first, Timer::Budget(key));
        drop(state);
        // The thread may sleep longer than this budget's first look.
        self.core.ring();
        key
    }

    /// Removes a budget: it acts no more once this returns.
    pub(crate) fn remove_budget(&self, key: Key) {
        self.core.lock().budgets.remove(key);
    }

    /// The epoll descriptor a runtime can wait on before calling a turn.
    #[allow(dead_code)]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.core.epoll.as_fd()
    }
}

impl Drop for Engine {
    /// Stops the thread without waiting for it: the last reference can go
    /// on the engine's own thread (a guardian replaced from its exit
    /// action), or while the guardian's lock is held, which that action
    /// takes. The thread ends at its next wake, which this rings.
    fn drop(&mut self) {
        self.core.stopping.store(true, Ordering::SeqCst);
        self.core.ring();
        drop(self.thread.take());
    }
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ring(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// Reads every queued inotify event: each names a file of one or more
    /// watches. An overflow (events dropped) makes every watch look again.
    fn read_inotify(&self, state: &mut State) {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.inotify, &mut buf);
        let mut touched: Vec<(Key, Source)> = Vec::new();
        let mut overflow = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    if event.events().contains(inotify::ReadFlags::QUEUE_OVERFLOW) {
                        overflow = true;
                    } else if event.events().contains(inotify::ReadFlags::IGNORED) {
                        // The file is gone (its job's directory was removed).
                        state.wds.remove(&event.wd());
                    } else if let Some(users) = state.wds.get(&event.wd()) {
                        touched.extend_from_slice(users);
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => break,
            }
        }
        if overflow {
            touched.extend(state.watches.keys().map(|k| (k, Source::CgroupEvents)));
            touched.extend(state.watches.keys().map(|k| (k, Source::Counters)));
        }
        for (key, source) in touched {
            if let Some(watch) = state.watches.get_mut(key) {
                let counters = source == Source::Counters;
                watch.counters_due |= counters;
                state.mark(key, !counters);
            }
        }
    }

    /// One turn: waits for an event or the next timer, then does what is
    /// due. An error is the epoll's own (the engine cannot go on).
    fn turn(&self) -> io::Result<()> {
        let timeout = {
            let state = self.lock();
            state.timers.peek().map(|Reverse((at, _))| {
                at.saturating_duration_since(Instant::now())
                    // Round up: a timer never fires a millisecond early.
                    + Duration::from_micros(500)
            })
        };
        let timeout = timeout.and_then(|t| rustix::event::Timespec::try_from(t).ok());
        let mut ready = Vec::with_capacity(64);
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut ready),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut state = self.lock();
        let mut actions = Vec::new();
        for event in &ready {
            match event.data.u64() {
                WAKE => {
                    let mut count = [0u8; 8];
                    let _ = rustix::io::read(&self.wake, &mut count);
                }
                CONNECTOR => {}
                INOTIFY => self.read_inotify(&mut state),
                token => {
                    let (key, source) = of_token(token);
                    if source == Source::Readable
                        && let Some(readable) = state.readable.remove(key)
                    {
                        let _ = epoll::delete(&self.epoll, &readable.fd);
                        actions.push(readable.action);
                    }
                }
            }
        }
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        if !actions.is_empty() {
            drop(state);
            for action in actions {
                action();
            }
            state = self.lock();
        }
        let now = Instant::now();
        // Whatever woke us, the connector goes first: exits must be
        // reported before `Empty`.
        drain_connector(&mut state, now);
        let notes = std::mem::take(&mut *self.mailbox.lock().unwrap_or_else(|e| e.into_inner()));
        for (key, pid) in notes {
            let State {
                watches, fanout, ..
            } = &mut *state;
            let Some(watch) = watches.get_mut(key) else {
                continue;
            };
            watch.note(pid, key, fanout);
            state.mark(key, true);
        }
        state.fanout.forget_older(now, RECENT_AGE);
        if std::mem::take(&mut state.fanout.lost) {
            let keys: Vec<Key> = state.watches.keys().collect();
            for key in keys {
                if let Some(watch) = state.watches.get_mut(key) {
                    watch.send(&Event::MessagesLost);
                    watch.suspect = true;
                }
                state.mark(key, true);
            }
        }
        run_timers(&mut state, now);
        let dirty = std::mem::take(&mut state.dirty);
        let connector = state.has_connector();
        for key in dirty {
            let State {
                watches,
                fanout,
                timers,
                ..
            } = &mut *state;
            if let Some(watch) = watches.get_mut(key) {
                watch.dirty = false;
                if let Some(at) = watch.look(key, fanout, connector, Instant::now()) {
                    timers.push(Reverse((at, Timer::Watch(key))));
                }
            }
        }
        Ok(())
    }
}

/// Runs the timers that are due: a watch's look is marked for the end of the
/// turn, a budget is checked at once.
fn run_timers(state: &mut State, now: Instant) {
    while let Some(&Reverse((at, timer))) = state.timers.peek() {
        if at > now {
            break;
        }
        state.timers.pop();
        match timer {
            Timer::Watch(key) => {
                if let Some(watch) = state.watches.get_mut(key)
                    && watch.due(at)
                {
                    watch.counters_due = true;
                    state.mark(key, false);
                }
            }
            Timer::Budget(key) => {
                if let Some(budget) = state.budgets.get_mut(key)
                    && let Some(next) = budget.check()
                {
                    state.schedule(now + next, Timer::Budget(key));
                }
            }
        }
    }
}

/// Reads every queued connector message, without blocking, and hands each
/// to the jobs that know its process.
fn drain_connector(state: &mut State, now: Instant) {
    let Some(socket) = state.connector.take() else {
        return;
    };
    let mut buf = [0u8; 8192];
    loop {
        match rustix::net::recv(&socket, &mut buf[..], rustix::net::RecvFlags::DONTWAIT) {
            Ok((n, _)) => {
                for message in connector::parse(buf.get(..n).unwrap_or(&[])) {
                    on_message(state, message, now);
                }
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::NOBUFS) => {
                // The kernel dropped messages: every watch is told, and
                // looks at its members again.
                state.fanout.lost = true;
            }
            Err(_) => break,
        }
    }
    state.connector = Some(socket);
}

fn on_message(state: &mut State, message: ProcEvent, now: Instant) {
    match message {
        ProcEvent::Fork {
            parent_tgid,
            child_pid,
            child_tgid,
        } => {
            if child_pid != child_tgid {
                return; // a thread
            }
            match state.fanout.owners.get(&parent_tgid).cloned() {
                Some(keys) => {
                    state.fanout.exits.remove(&child_tgid);
                    for key in keys {
                        let State {
                            watches, fanout, ..
                        } = &mut *state;
                        if let Some(watch) = watches.get_mut(key) {
                            watch.forked(child_tgid, key, fanout);
                        }
                    }
                }
                None => state.fanout.remember_fork(parent_tgid, child_tgid, now),
            }
        }
        ProcEvent::Exit { pid, tgid, status } => {
            if pid != tgid {
                return;
            }
            match state.fanout.owners.remove(&tgid) {
                Some(keys) => {
                    for key in keys {
                        if let Some(watch) = state.watches.get_mut(key) {
                            watch.exit_message(tgid, status);
                            state.mark(key, true);
                        }
                    }
                }
                None => {
                    if state.fanout.forks.contains_key(&tgid) {
                        state.fanout.remember_exit(tgid, status, now);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let key = Key {
            index: 0x3fff_fffe,
            generation: 0xdead_beef,
        };
        for source in [Source::CgroupEvents, Source::Counters, Source::Readable] {
            let token = token(key, source);
            assert_ne!(token, WAKE);
            assert_ne!(token, CONNECTOR);
            assert_eq!(of_token(token), (key, source));
        }
    }

    #[test]
    fn the_shared_buffer_forgets_in_order_and_says_when_it_overflowed() {
        let mut fanout = Fanout::default();
        let t0 = Instant::now();
        fanout.remember_fork(1, 10, t0);
        fanout.remember_exit(10, 3 << 8, t0);
        // A new fork with the same pid is a new process: the old exit goes.
        fanout.remember_fork(2, 10, t0 + Duration::from_secs(1));
        assert_eq!(fanout.take_exit(10), None);
        fanout.forget_older(t0 + Duration::from_secs(5), RECENT_AGE);
        assert!(fanout.forks.contains_key(&10), "the newer fork stays");
        fanout.forget_older(t0 + Duration::from_secs(7), RECENT_AGE);
        assert!(fanout.forks.is_empty());
        fanout.remember_fork(1, 11, t0);
        fanout.remember_fork(1, 12, t0);
        fanout.remember_fork(3, 13, t0);
        let mut children = fanout.take_children(1);
        children.sort_unstable();
        assert_eq!(children, [11, 12]);
        assert!(fanout.take_children(1).is_empty(), "taken once");
        assert_eq!(fanout.take_children(3), [13]);
        for pid in 0..u32::try_from(RECENT_CAP).unwrap() + 1 {
            fanout.remember_fork(1, 100 + pid, t0);
        }
        assert!(fanout.lost);
        assert!(fanout.forks.len() <= 1);
    }
}
