//! A job's events on Linux: one thread per watched job, started by the first
//! `Job::events` call, stopped (and joined) when the job is dropped.
//!
//! # Sources
//!
//! The thread sleeps in `epoll` on:
//!
//! - **the proc connector** (a `NETLINK_CONNECTOR` socket subscribed to
//!   process events; root, or any user since Linux 6.6): `fork`, `exec` and
//!   `exit` of every process on the system, filtered here. A fork whose parent
//!   is a known member is a new member; the job itself tells the thread of
//!   every process it spawns or assigns, and since that note can arrive after
//!   the process already forked or exited, recent forks and exits of
//!   non-members are remembered for a few seconds and applied when their
//!   process turns out to be a member. An exit carries the wait status, so
//!   exit codes and signals are exact.
//! - **`cgroup.events`** (v2; `EPOLLPRI` on each change): `populated 0` means
//!   the job is empty; the socket is drained first, so every exit precedes
//!   `Empty`.
//! - **`memory.events`** and **`pids.events`** (v2 controllers): counters that
//!   grew become `JobMemoryLimit` / `ActiveProcessLimit`; v1 counters
//!   (`memory.failcnt`, `memory.oom_control`'s `oom_kill`, `pids.events`) are
//!   read on every wake, since v1 raises no event for them.
//! - **a timer** (every 200 ms): the member list is compared with what the
//!   thread knows; a member it never saw start is reported new, a member gone
//!   without an exit message is reported exited (exit unknown). This is all
//!   there is without the proc connector, and then short-lived processes can
//!   be missed entirely.
//! - **an eventfd** that `Drop` writes to stop the thread.
//!
//! Counters, not edges, are the truth: every wake re-reads them.
//!
//! # Known gaps
//!
//! - The connector's `ENOBUFS` (events dropped under load) becomes
//!   `MessagesLost`, followed by a resynchronisation.
//! - Each watched job has its own connector socket, which sees every process
//!   event of the system; a process watching many jobs pays for each.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::fs::{Mode as FileMode, OFlags};
use rustix::net::netlink;

use super::cgroup::{Cgroup, Version};
use super::limits::LimitState;
use super::pgroup::ProcessGroup;
use crate::event::{Broadcaster, Event, ProcessExit};

const MAILBOX: u64 = 0;
const CONNECTOR: u64 = 1;
const CGROUP_EVENTS: u64 = 2;
const COUNTERS: u64 = 3;
const RESYNC: Duration = Duration::from_millis(200);
/// How many forks and exits of non-members are remembered, and for how long.
/// When the bookkeeping is full (the rest of the system forks thousands of
/// processes a second), what is older than `RECENT_FULL_AGE` makes room for
/// what is new, which is what matters (a member's fork whose parent the job
/// is about to name); if that is not enough, the bookkeeping starts afresh
/// and the subscribers get `MessagesLost`: exits of members may then be
/// reported without their code.
const RECENT_CAP: usize = 4096;
const RECENT_AGE: Duration = Duration::from_secs(5);
const RECENT_FULL_AGE: Duration = Duration::from_millis(250);
/// How long an exit message may lag behind the process leaving its cgroup.
/// The kernel sends it a few instructions after `cgroup_exit`, but an
/// exiting task can be preempted in between, for over a second on a machine
/// busy with hundreds of runnable tasks (a soak found one). Only an exit
/// whose message is missing waits this long before it is reported without
/// its code (and `Empty` after it), after a `MessagesLost`: the message did
/// not come in time.
const EXIT_MESSAGE_GRACE: Duration = Duration::from_secs(5);
/// The connector socket's receive buffer: it holds every process event of
/// the system until the thread reads it, and a fork storm elsewhere must not
/// overflow it while the thread waits for a CPU. Asked with `SO_RCVBUFFORCE`
/// (needs `CAP_NET_ADMIN`), else `SO_RCVBUF` (capped at `net.core.rmem_max`).
const CONNECTOR_BUFFER: usize = 4 << 20;

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

/// A running monitor.
#[derive(Debug)]
pub(crate) struct Monitor {
    broadcaster: Arc<Broadcaster>,
    /// What the job tells the thread, and the eventfd that wakes it for it.
    mailbox: Arc<Mailbox>,
    thread: Option<JoinHandle<()>>,
}

/// Messages from the job to its monitor thread.
#[derive(Debug)]
struct Mailbox {
    wake: OwnedFd,
    stopping: AtomicBool,
    /// Pids the job put in itself (spawned or assigned).
    joined: Mutex<Vec<u32>>,
}

impl Mailbox {
    fn ring(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

impl Monitor {
    pub(crate) fn start(
        members: Members,
        limits: Arc<Mutex<LimitState>>,
        broadcaster: Arc<Broadcaster>,
    ) -> io::Result<Monitor> {
        let mailbox = Arc::new(Mailbox {
            wake: rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC)?,
            stopping: AtomicBool::new(false),
            joined: Mutex::new(Vec::new()),
        });
        let mut watcher = Watcher::new(
            members,
            limits,
            Arc::clone(&broadcaster),
            Arc::clone(&mailbox),
        )?;
        let thread = thread::Builder::new()
            .name("winjob-monitor".into())
            .stack_size(256 * 1024)
            .spawn(move || watcher.run())?;
        Ok(Monitor {
            broadcaster,
            mailbox,
            thread: Some(thread),
        })
    }

    /// Tells the thread that the job put `pid` in itself (a spawn or an
    /// assignment): it is a member from its start, whatever the connector's
    /// messages about it said before this arrives.
    pub(crate) fn joined(&self, pid: u32) {
        self.mailbox
            .joined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pid);
        self.mailbox.ring();
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.mailbox.stopping.store(true, Ordering::SeqCst);
        self.mailbox.ring();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.broadcaster.close();
    }
}

/// The state of the monitoring thread.
struct Watcher {
    members: Members,
    limits: Arc<Mutex<LimitState>>,
    broadcaster: Arc<Broadcaster>,
    epoll: OwnedFd,
    connector: Option<OwnedFd>,
    cgroup_events: Option<OwnedFd>,
    /// v2 `memory.events` and `pids.events`, registered for `EPOLLPRI`.
    counter_files: Vec<OwnedFd>,
    /// Live members the thread knows of.
    known: HashSet<u32>,
    /// Members gone from the member list whose exit message has not come
    /// yet (the kernel removes a process from its cgroup before it sends the
    /// connector's exit message), with when they were missed.
    departing: HashMap<u32, Instant>,
    mailbox: Arc<Mailbox>,
    /// Forks whose parent was not a known member, as child → (parent, when):
    /// the parent may turn out to be one (the job's note of a spawn can come
    /// after the spawned process has forked).
    recent_forks: HashMap<u32, (u32, Instant)>,
    /// Exits of processes not known as members, as pid → (wait status,
    /// when), for the same reason.
    recent_exits: HashMap<u32, (u32, Instant)>,
    /// Members reported exited lately, so that a late note does not bring
    /// them back.
    finished: HashMap<u32, Instant>,
    had_members: bool,
    /// Last values of the limit counters.
    memory_count: u64,
    pids_count: u64,
}

impl Watcher {
    fn new(
        members: Members,
        limits: Arc<Mutex<LimitState>>,
        broadcaster: Arc<Broadcaster>,
        mailbox: Arc<Mailbox>,
    ) -> io::Result<Watcher> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &epoll,
            &mailbox.wake,
            epoll::EventData::new_u64(MAILBOX),
            epoll::EventFlags::IN,
        )?;
        let connector = open_connector().ok();
        if let Some(socket) = &connector {
            epoll::add(
                &epoll,
                socket,
                epoll::EventData::new_u64(CONNECTOR),
                epoll::EventFlags::IN,
            )?;
        }
        let mut cgroup_events = None;
        let mut counter_files = Vec::new();
        if let Members::Cgroup(cgroup) = &members
            && cgroup.version == Version::V2
        {
            let open = |name: &str| {
                rustix::fs::openat(
                    cgroup.dir_fd(),
                    name,
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    FileMode::empty(),
                )
            };
            if let Ok(fd) = open("cgroup.events") {
                epoll::add(
                    &epoll,
                    &fd,
                    epoll::EventData::new_u64(CGROUP_EVENTS),
                    epoll::EventFlags::PRI,
                )?;
                cgroup_events = Some(fd);
            }
            for name in ["memory.events", "pids.events"] {
                if let Ok(fd) = open(name) {
                    epoll::add(
                        &epoll,
                        &fd,
                        epoll::EventData::new_u64(COUNTERS),
                        epoll::EventFlags::PRI,
                    )?;
                    counter_files.push(fd);
                }
            }
        }
        let known: HashSet<u32> = members.list()?.into_iter().collect();
        let mut watcher = Watcher {
            had_members: !known.is_empty(),
            members,
            limits,
            broadcaster,
            epoll,
            connector,
            cgroup_events,
            counter_files,
            known,
            departing: HashMap::new(),
            mailbox,
            recent_forks: HashMap::new(),
            recent_exits: HashMap::new(),
            finished: HashMap::new(),
            memory_count: 0,
            pids_count: 0,
        };
        // Start from the current counters: only growth is news.
        let (memory, pids) = watcher.counters();
        watcher.memory_count = memory;
        watcher.pids_count = pids;
        Ok(watcher)
    }

    fn send(&self, event: Event) {
        self.broadcaster.send(&event);
    }

    fn run(&mut self) {
        let mut ready = Vec::with_capacity(8);
        let timeout = rustix::event::Timespec::try_from(RESYNC).ok();
        loop {
            ready.clear();
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut ready),
                timeout.as_ref(),
            ) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
            if ready.iter().any(|e| e.data.u64() == MAILBOX) {
                let mut count = [0u8; 8];
                let _ = rustix::io::read(&self.mailbox.wake, &mut count);
                if self.mailbox.stopping.load(Ordering::SeqCst) {
                    return;
                }
            }
            // Whatever woke us, the connector goes first: exits must be
            // reported before `Empty`.
            self.drain_connector();
            let joined = std::mem::take(
                &mut *self
                    .mailbox
                    .joined
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            for pid in joined {
                if !self.finished.contains_key(&pid) {
                    self.join(pid);
                }
            }
            self.forget_old();
            self.check_counters();
            self.resync();
        }
    }

    /// Reads every queued connector message, without blocking.
    fn drain_connector(&mut self) {
        let Some(socket) = self.connector.take() else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match rustix::net::recv(&socket, &mut buf[..], rustix::net::RecvFlags::DONTWAIT) {
                Ok((n, _)) => self.on_message(&buf[..n]),
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::NOBUFS) => {
                    self.send(Event::MessagesLost);
                }
                Err(_) => break,
            }
        }
        self.connector = Some(socket);
    }

    fn on_message(&mut self, bytes: &[u8]) {
        for message in parse_connector(bytes) {
            match message {
                ProcEvent::Fork {
                    parent_tgid,
                    child_pid,
                    child_tgid,
                } => {
                    if child_pid != child_tgid {
                        continue; // a thread
                    }
                    if self.known.contains(&parent_tgid) {
                        self.join(child_tgid);
                    } else {
                        self.make_room();
                        self.recent_forks
                            .insert(child_tgid, (parent_tgid, Instant::now()));
                    }
                }
                ProcEvent::Exit { pid, tgid, status } => {
                    if pid != tgid {
                        continue;
                    }
                    if self.known.remove(&tgid) || self.departing.remove(&tgid).is_some() {
                        self.exited(tgid, Some(decode_status(status)));
                    } else if self.recent_forks.contains_key(&tgid) {
                        self.make_room();
                        self.recent_exits.insert(tgid, (status, Instant::now()));
                    }
                }
            }
        }
    }

    /// Makes `pid` a member, with the children it forked and the exits that
    /// came before we knew.
    fn join(&mut self, pid: u32) {
        let mut todo = vec![pid];
        while let Some(pid) = todo.pop() {
            if !self.known.insert(pid) {
                continue;
            }
            self.had_members = true;
            self.send(Event::NewProcess { pid });
            todo.extend(
                self.recent_forks
                    .iter()
                    .filter(|(_, (parent, _))| *parent == pid)
                    .map(|(child, _)| *child),
            );
            self.recent_forks.remove(&pid);
            if let Some((status, _)) = self.recent_exits.remove(&pid) {
                self.known.remove(&pid);
                self.exited(pid, Some(decode_status(status)));
            }
        }
    }

    /// Before a fork or exit of a non-member is remembered: if the maps are
    /// full, forgets what is older than [`RECENT_FULL_AGE`], and if that is
    /// not enough, everything, and says that messages were lost.
    fn make_room(&mut self) {
        if self.recent_forks.len() < RECENT_CAP && self.recent_exits.len() < RECENT_CAP {
            return;
        }
        let keep = |since: &Instant| since.elapsed() < RECENT_FULL_AGE;
        self.recent_forks.retain(|_, (_, since)| keep(since));
        self.recent_exits.retain(|_, (_, since)| keep(since));
        if self.recent_forks.len() >= RECENT_CAP || self.recent_exits.len() >= RECENT_CAP {
            self.recent_forks.clear();
            self.recent_exits.clear();
            self.send(Event::MessagesLost);
        }
    }

    /// Drops what is too old to matter from the bookkeeping maps.
    fn forget_old(&mut self) {
        let keep = |since: &Instant| since.elapsed() < RECENT_AGE;
        self.recent_forks.retain(|_, (_, since)| keep(since));
        self.recent_exits.retain(|_, (_, since)| keep(since));
        self.finished.retain(|_, since| keep(since));
    }

    fn exited(&mut self, pid: u32, exit: Option<ProcessExit>) {
        if self.finished.len() < RECENT_CAP {
            self.finished.insert(pid, Instant::now());
        }
        match exit {
            Some(ProcessExit::Signal(24)) => {
                self.send(Event::EndOfProcessTime { pid });
                self.send(Event::ExitProcess { pid, exit });
            }
            Some(ProcessExit::Signal(4 | 5 | 6 | 7 | 8 | 11 | 31)) => {
                self.send(Event::AbnormalExitProcess { pid, exit });
            }
            _ => self.send(Event::ExitProcess { pid, exit }),
        }
    }

    /// Compares the member list with what is known, and reports `Empty` when
    /// the job became empty.
    fn resync(&mut self) {
        let Ok(members) = self.members.list() else {
            return;
        };
        let now: HashSet<u32> = members.into_iter().collect();
        let mut new: Vec<u32> = now.difference(&self.known).copied().collect();
        new.sort_unstable();
        for pid in new {
            self.join(pid);
        }
        let gone: Vec<u32> = self.known.difference(&now).copied().collect();
        for pid in gone {
            self.known.remove(&pid);
            self.departing.insert(pid, Instant::now());
        }
        // An exit message that never came (lost, or no connector).
        let wait = if self.connector.is_some() {
            EXIT_MESSAGE_GRACE
        } else {
            Duration::ZERO
        };
        let mut overdue: Vec<u32> = self
            .departing
            .iter()
            .filter(|(_, since)| since.elapsed() >= wait)
            .map(|(pid, _)| *pid)
            .collect();
        overdue.sort_unstable();
        // With a connector, an exit reported without its code is a message
        // that did not come in time: the subscribers are told first.
        if self.connector.is_some() && !overdue.is_empty() {
            self.send(Event::MessagesLost);
        }
        for pid in overdue {
            self.departing.remove(&pid);
            self.exited(pid, None);
        }
        if now.is_empty() && self.known.is_empty() && self.departing.is_empty() && self.had_members
        {
            self.had_members = false;
            self.send(Event::Empty);
        }
        // Re-arm: kernfs reports each change once per read.
        if let Some(fd) = &self.cgroup_events {
            let mut buf = [0u8; 128];
            let _ = rustix::io::pread(fd, &mut buf, 0);
        }
    }

    /// Reads the limit counters; growth becomes an event.
    fn check_counters(&mut self) {
        let (memory, pids) = self.counters();
        if memory > self.memory_count {
            self.send(Event::JobMemoryLimit);
        }
        if pids > self.pids_count {
            self.send(Event::ActiveProcessLimit);
        }
        self.memory_count = memory;
        self.pids_count = pids;
        for fd in &self.counter_files {
            let mut buf = [0u8; 512];
            let _ = rustix::io::pread(fd, &mut buf, 0);
        }
    }

    /// (memory limit hits, process limit hits), from whichever files hold
    /// the job's memory and pids controllers.
    fn counters(&self) -> (u64, u64) {
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
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = limits.v1_memory() {
            memory += read_at(dir, "memory.failcnt", &mut buf)
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            memory += sum_keys(read_at(dir, "memory.oom_control", &mut buf), &["oom_kill"]);
        }
        if let Some(dir) = limits.v1_pids() {
            pids += sum_keys(read_at(dir, "pids.events", &mut buf), &["max"]);
        }
        (memory, pids)
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

/// How a wait status from the connector ended the process.
fn decode_status(status: u32) -> ProcessExit {
    let signal = status & 0x7f;
    if signal == 0 {
        ProcessExit::Code((status >> 8) & 0xff)
    } else {
        ProcessExit::Signal(i32::try_from(signal).unwrap_or(0))
    }
}

// The proc connector's wire format (linux/connector.h, linux/cn_proc.h), in
// host byte order: nlmsghdr (16 bytes), cn_msg (20 bytes), then the payload.
const NLMSG_HEADER: usize = 16;
const CN_MSG_HEADER: usize = 20;
const NLMSG_DONE: u16 = 3;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// Opens a connector socket subscribed to process events.
fn open_connector() -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        rustix::net::AddressFamily::NETLINK,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        Some(netlink::CONNECTOR),
    )?;
    rustix::net::bind(&socket, &netlink::SocketAddrNetlink::new(0, CN_IDX_PROC))?;
    if rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, CONNECTOR_BUFFER).is_err() {
        // Best effort: the default buffer works, it only overflows sooner
        // (and an overflow is reported as `MessagesLost`).
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&socket, CONNECTOR_BUFFER);
    }
    let mut message = Vec::with_capacity(NLMSG_HEADER + CN_MSG_HEADER + 4);
    let total = u32::try_from(NLMSG_HEADER + CN_MSG_HEADER + 4).unwrap_or(40);
    message.extend_from_slice(&total.to_ne_bytes()); // nlmsg_len
    message.extend_from_slice(&NLMSG_DONE.to_ne_bytes()); // nlmsg_type
    message.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
    message.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
    message.extend_from_slice(&std::process::id().to_ne_bytes()); // nlmsg_pid
    message.extend_from_slice(&CN_IDX_PROC.to_ne_bytes()); // cn_msg.id.idx
    message.extend_from_slice(&CN_VAL_PROC.to_ne_bytes()); // cn_msg.id.val
    message.extend_from_slice(&0u32.to_ne_bytes()); // seq
    message.extend_from_slice(&0u32.to_ne_bytes()); // ack
    message.extend_from_slice(&4u16.to_ne_bytes()); // len
    message.extend_from_slice(&0u16.to_ne_bytes()); // flags
    message.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    rustix::net::send(&socket, &message, rustix::net::SendFlags::empty())?;
    Ok(socket)
}

/// One decoded process event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcEvent {
    Fork {
        parent_tgid: u32,
        child_pid: u32,
        child_tgid: u32,
    },
    Exit {
        pid: u32,
        tgid: u32,
        status: u32,
    },
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The process events in one datagram (which may hold several netlink
/// messages).
fn parse_connector(mut bytes: &[u8]) -> Vec<ProcEvent> {
    let mut events = Vec::new();
    while bytes.len() >= NLMSG_HEADER {
        let Some(len) = u32_at(bytes, 0).and_then(|l| usize::try_from(l).ok()) else {
            break;
        };
        if len < NLMSG_HEADER || len > bytes.len() {
            break;
        }
        let payload = &bytes[NLMSG_HEADER..len];
        // cn_msg, then proc_event: what, cpu, timestamp (u64), event data.
        let data = CN_MSG_HEADER + 16;
        let event = match u32_at(payload, CN_MSG_HEADER) {
            Some(PROC_EVENT_FORK) => (|| {
                Some(ProcEvent::Fork {
                    parent_tgid: u32_at(payload, data + 4)?,
                    child_pid: u32_at(payload, data + 8)?,
                    child_tgid: u32_at(payload, data + 12)?,
                })
            })(),
            Some(PROC_EVENT_EXIT) => (|| {
                Some(ProcEvent::Exit {
                    pid: u32_at(payload, data)?,
                    tgid: u32_at(payload, data + 4)?,
                    status: u32_at(payload, data + 8)?,
                })
            })(),
            _ => None,
        };
        events.extend(event);
        // Messages are aligned to 4 bytes.
        let next = (len + 3) & !3;
        bytes = bytes.get(next..).unwrap_or(&[]);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(what: u32, data: &[u32]) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend_from_slice(&[0u8; CN_MSG_HEADER]);
        payload.extend_from_slice(&what.to_ne_bytes());
        payload.extend_from_slice(&0u32.to_ne_bytes());
        payload.extend_from_slice(&0u64.to_ne_bytes());
        for d in data {
            payload.extend_from_slice(&d.to_ne_bytes());
        }
        let len = u32::try_from(NLMSG_HEADER + payload.len()).unwrap();
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&[0u8; 12]);
        m.extend_from_slice(&payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn connector_messages_decode() {
        let mut bytes = message(PROC_EVENT_FORK, &[10, 10, 11, 11]);
        bytes.extend(message(0x2, &[11, 11])); // exec: not needed, ignored
        bytes.extend(message(PROC_EVENT_EXIT, &[11, 11, 3 << 8, 17, 10, 10]));
        bytes.extend(message(0x4, &[1, 2, 3])); // uid change: ignored
        assert_eq!(
            parse_connector(&bytes),
            [
                ProcEvent::Fork {
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11
                },
                ProcEvent::Exit {
                    pid: 11,
                    tgid: 11,
                    status: 3 << 8
                },
            ]
        );
        assert!(parse_connector(&bytes[..10]).is_empty());
    }

    #[test]
    fn wait_statuses_decode() {
        assert_eq!(decode_status(3 << 8), ProcessExit::Code(3));
        assert_eq!(decode_status(9), ProcessExit::Signal(9));
        assert_eq!(decode_status(0x80 | 11), ProcessExit::Signal(11));
    }
}
