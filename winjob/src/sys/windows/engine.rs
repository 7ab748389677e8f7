//! The event engine on Windows: one I/O completion port and one thread for
//! every job this process created.
//!
//! # Strategy
//!
//! A port can be associated with any number of jobs, each with its own
//! completion key, so the process needs one: each created job is associated
//! with it under a key that names the job's slot in a slab and the slot's
//! generation (a job closed while another handle keeps it alive may still
//! post under its old key; a reused slot never takes those packets). The
//! thread waits in `GetQueuedCompletionStatusEx` for packets or the next
//! timer, hands each packet to its job's [`Watcher`](super::monitor), and
//! runs the checks that are due: every 200 ms for a job that has (or had
//! since its last `Empty`) members, every second for one that never had any
//! (Windows does not promise to deliver job messages, so the count is read
//! even then). A check reads the job's count, then drains the port up to a
//! marker packet it posts, dispatching every packet to its own job, so that
//! the messages about the processes the count no longer includes have been
//! taken before the count is believed, however busy other jobs keep the
//! port. Async subscribers' wakers are called after the lock is released.
//!
//! Everything the thread does is under one lock, which a job takes only to
//! be added or removed: removal is synchronous, so nothing is sent for a job
//! once its monitor is gone. The engine starts with the first created job
//! and stops with the last; its thread is not joined (it ends at the wake
//! the stop posts), so that no lock is held while waiting for it.
//!
//! # Cost
//!
//! Per job: the job handle the watcher keeps (a duplicate), one slab slot,
//! one timer entry. Per process: one thread, one port.
//!
//! # Known gaps
//!
//! - On 32-bit Windows the completion key holds the slot only, not its
//!   generation: a job closed while another process keeps it open can post
//!   into a slot reused by a later job of this process.
//! - A job closed while another process keeps it open goes on posting into
//!   the port under its old key; the packets are dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread;
use std::time::{Duration, Instant};

use super::super::slab::{Key, Slab, once_per_process};
use super::api::{self, Completion};
use super::monitor::{Message, Watcher};

/// The completion key of the packet that wakes the thread (to stop, or to
/// see a new timer). Jobs' keys are never 0.
const WAKE_KEY: usize = 0;
/// How many packets are taken at once (what `get_queued_completion_status_ex`
/// takes at most).
const BATCH: usize = 16;
/// The thread's stack: two packet buffers and the formatting of a failed
/// query at most.
const STACK_SIZE: usize = 128 * 1024;

/// The completion key of `key`: its generation and slot (slot + 1, so never
/// [`WAKE_KEY`]).
fn completion_key(key: Key) -> usize {
    let slot = usize::try_from(key.index).unwrap_or(usize::MAX - 1) + 1;
    #[cfg(target_pointer_width = "64")]
    {
        (usize::try_from(key.generation).unwrap_or(0) << 32) | slot
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        slot
    }
}

/// The key a completion key names, if any (on 32-bit Windows, with the
/// generation the slot has now).
fn key_of(completion: usize, slab: &Slab<Watcher>) -> Option<Key> {
    #[cfg(target_pointer_width = "64")]
    {
        let _ = slab;
        let slot = completion & 0xffff_ffff;
        Some(Key {
            index: u32::try_from(slot.checked_sub(1)?).ok()?,
            generation: u32::try_from(completion >> 32).ok()?,
        })
    }
    #[cfg(not(target_pointer_width = "64"))]
    {
        let index = u32::try_from(completion.checked_sub(1)?).ok()?;
        slab.keys().find(|k| k.index == index)
    }
}

/// What the thread works on.
struct State {
    watchers: Slab<Watcher>,
    /// (when, job): a job's check; stale entries (the job's `next` moved)
    /// are skipped.
    timers: BinaryHeap<Reverse<(Instant, Key)>>,
}

/// What the thread and the jobs share.
struct Core {
    port: OwnedHandle,
    stopping: AtomicBool,
    /// The thread ended (its port failed): a new job gets a new engine.
    dead: AtomicBool,
    /// Numbers the markers a check posts to find the end of what was
    /// queued before it read a count.
    marker: std::sync::atomic::AtomicU32,
    state: Mutex<State>,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let _ = api::post_queued_completion_status(self.port.as_handle(), WAKE_KEY, 0);
    }
}

/// The engine of this process; stopped when the last job's monitor goes.
pub(super) struct Engine {
    core: Arc<Core>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("port", &self.core.port)
            .finish()
    }
}

static CURRENT: Mutex<Weak<Engine>> = Mutex::new(Weak::new());

/// The process's engine, started if there is none.
pub(super) fn get() -> io::Result<Arc<Engine>> {
    once_per_process(
        &CURRENT,
        |e| !e.core.dead.load(Ordering::SeqCst),
        Engine::start,
    )
}

impl Engine {
    fn start() -> io::Result<Engine> {
        let core = Arc::new(Core {
            port: api::create_io_completion_port()?,
            stopping: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            marker: std::sync::atomic::AtomicU32::new(0),
            state: Mutex::new(State {
                watchers: Slab::new(),
                timers: BinaryHeap::new(),
            }),
        });
        let thread_core = Arc::clone(&core);
        thread::Builder::new()
            .name("winjob-events".to_owned())
            .stack_size(STACK_SIZE)
            .spawn(move || run(&thread_core))?;
        Ok(Engine { core })
    }

    /// Adds the watcher of `job` and associates the job with the port under
    /// the watcher's key (under the lock, so that no packet comes before the
    /// watcher is there).
    pub(super) fn add(&self, job: BorrowedHandle<'_>, watcher: Watcher) -> io::Result<Key> {
        let mut state = self.core.lock();
        let first = watcher.next_check();
        let key = state.watchers.insert(watcher);
        if let Err(e) =
            api::associate_completion_port(job, self.core.port.as_handle(), completion_key(key))
        {
            state.watchers.remove(key);
            return Err(e);
        }
        state.timers.push(Reverse((first, key)));
        drop(state);
        // The thread may sleep past this job's first check.
        self.core.wake();
        Ok(key)
    }

    /// Removes a job's watcher: nothing is sent for it once this returns.
    pub(super) fn remove(&self, key: Key) {
        let removed = self.core.lock().watchers.remove(key);
        drop(removed);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.core.stopping.store(true, Ordering::SeqCst);
        self.core.wake();
    }
}

/// The thread: turns until stopped or the port fails; then every job still
/// watched is told its events have ended.
fn run(core: &Core) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut spare = Vec::with_capacity(BATCH);
    while !core.stopping.load(Ordering::SeqCst) {
        if crate::event::deferred::deferring(|| turn(core, &mut batch, &mut spare)).is_err() {
            core.dead.store(true, Ordering::SeqCst);
            let mut state = core.lock();
            let keys: Vec<Key> = state.watchers.keys().collect();
            for key in keys {
                if let Some(watcher) = state.watchers.get_mut(key) {
                    watcher.ended();
                }
            }
            return;
        }
    }
}

/// One turn: waits for packets or the next check, dispatches the packets,
/// runs the checks that are due, and wakes the waiters of every job
/// touched.
fn turn(core: &Core, batch: &mut Vec<Completion>, spare: &mut Vec<Completion>) -> io::Result<()> {
    let timeout = {
        let state = core.lock();
        state
            .timers
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
    };
    batch.clear();
    api::get_queued_completion_status_ex(core.port.as_handle(), batch, timeout)?;
    let mut state = core.lock();
    let mut touched: Vec<Key> = Vec::new();
    for packet in batch.iter() {
        dispatch(&mut state.watchers, packet, None, &mut touched);
    }
    let now = Instant::now();
    while let Some(&Reverse((at, key))) = state.timers.peek() {
        if at > now {
            break;
        }
        state.timers.pop();
        let Some(mut watcher) = state.watchers.take(key) else {
            continue;
        };
        if watcher.next_check() != at {
            state.watchers.put(key, watcher);
            continue;
        }
        {
            let watchers = &mut state.watchers;
            let touched = &mut touched;
            watcher.check(&mut |me: &mut Watcher| drain(core, watchers, key, me, spare, touched));
        }
        let next = watcher.schedule(Instant::now());
        state.watchers.put(key, watcher);
        state.timers.push(Reverse((next, key)));
        touched.push(key);
    }
    touched.sort_unstable();
    touched.dedup();
    for key in touched {
        if let Some(watcher) = state.watchers.get_mut(key) {
            watcher.bump();
        }
    }
    Ok(())
}

/// Hands one packet to its job's watcher (`current`, the one being checked
/// and out of the slab, if it is that job's).
fn dispatch(
    watchers: &mut Slab<Watcher>,
    packet: &Completion,
    current: Option<(Key, &mut Watcher)>,
    touched: &mut Vec<Key>,
) {
    if packet.key == WAKE_KEY {
        return;
    }
    let message = Message::decode(packet.bytes, packet.overlapped);
    // The job being checked first: its slot is empty while it is out.
    if let Some((current_key, watcher)) = current
        && completion_key(current_key) == packet.key
    {
        watcher.dispatch(message);
        touched.push(current_key);
        return;
    }
    let Some(key) = key_of(packet.key, watchers) else {
        return;
    };
    if let Some(watcher) = watchers.get_mut(key) {
        watcher.dispatch(message);
        touched.push(key);
    }
}

/// Takes every packet queued before this call, without waiting, and
/// dispatches each to its job (`me`, out of the slab while it is checked,
/// gets its own). The end is a marker packet posted first: the port is
/// first in, first out, so however busy other jobs keep it, the drain takes
/// exactly what was there. False if the marker could not be posted or the
/// port failed.
fn drain(
    core: &Core,
    watchers: &mut Slab<Watcher>,
    key: Key,
    me: &mut Watcher,
    batch: &mut Vec<Completion>,
    touched: &mut Vec<Key>,
) -> bool {
    // Never 0: a plain wake carries 0.
    let marker = core.marker.fetch_add(1, Ordering::Relaxed) | 1;
    let port = core.port.as_handle();
    if api::post_queued_completion_status(port, WAKE_KEY, marker).is_err() {
        return false;
    }
    let mut me = Some(me);
    loop {
        batch.clear();
        if api::get_queued_completion_status_ex(port, batch, Some(Duration::ZERO)).is_err()
            || batch.is_empty()
        {
            // The marker was posted, so the port cannot be empty before it.
            return false;
        }
        let mut found = false;
        // What follows the marker in the batch was queued after the count
        // was read; it is dispatched too, in order.
        for packet in batch.iter() {
            if packet.key == WAKE_KEY && packet.bytes == marker {
                found = true;
                continue;
            }
            dispatch(
                watchers,
                packet,
                me.as_deref_mut().map(|w| (key, w)),
                touched,
            );
        }
        if found {
            return true;
        }
    }
}
