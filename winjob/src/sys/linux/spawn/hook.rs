//! `Job::spawn`'s std path: what a child of a `std::process::Command` does
//! between `fork` and `exec` to join the job and take its per-process limits.
//! (winjob's own `Command` does the same in `child.rs`, without the fork.)
//!
//! Its `unsafe` is the `CommandExt::pre_exec` call. The hook runs in the
//! forked child, before the new program:
//!
//! 1. it writes `0` ("the writer") to the job's `cgroup.procs` and to that of
//!    each cgroup v1 directory holding the job's limits, all opened
//!    `O_CLOEXEC` by the parent beforehand, so the child is in the job (and
//!    under its limits) before the program's first instruction;
//! 2. it sets the per-process limits: `RLIMIT_AS`, `RLIMIT_CPU`, the nice
//!    value, the CPU affinity.
//!
//! If any step fails, std reports the error from `spawn` and the program never
//! runs (fail-closed).
//!
//! A `pre_exec` hook cannot be taken off a `Command` again, so the hook is
//! armed only for the one `spawn` that `Job::spawn` makes ([`Armed`]): the
//! same `Command` spawned later on its own starts outside the job, with no
//! limit of it, whether the job is alive or gone. What stays is the hook
//! itself, which makes std fork for that `Command` from then on (and, in
//! process-group mode, the process group `Job::spawn` set on it).
//!
//! Cost: a `pre_exec` hook makes std fork instead of `posix_spawn`, and a
//! cgroup migration waits for an RCU grace period, which is noticeable for
//! sporadic spawns (measured in the research notes: ~5.7 ms against 0.26 ms).
//! `clone3(CLONE_INTO_CGROUP)` would avoid both and is the planned fast path.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::process::{Resource, Rlimit};

use crate::sys::linux::limits::SpawnSettings;

/// A hook's switch: on while it lives, off (for good) once dropped. The hook
/// does its work only while on, that is during the one `spawn` the caller
/// makes while holding this.
pub(crate) struct Armed(Arc<AtomicBool>);

impl Armed {
    fn new() -> (Armed, Arc<AtomicBool>) {
        let on = Arc::new(AtomicBool::new(true));
        (Armed(Arc::clone(&on)), on)
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Adds the hook that moves the child into the job's cgroup (`main`, none in
/// process-group mode) and applies `settings`, for as long as the returned
/// [`Armed`] lives: the caller spawns once, then drops it.
///
/// `None` if there is nothing to do in the child: no hook is added, and std
/// keeps its `posix_spawn` path.
#[must_use = "the hook works only while the returned switch lives"]
pub(crate) fn prepare(
    command: &mut Command,
    main: Option<Arc<OwnedFd>>,
    settings: SpawnSettings,
) -> Option<Armed> {
    if main.is_none() && settings.is_empty() {
        return None;
    }
    let (switch, armed) = Armed::new();
    // Everything the child needs is built here, in the parent.
    let procs: Vec<Arc<OwnedFd>> = main.into_iter().chain(settings.procs).collect();
    let affinity = settings.affinity.map(|cpus| {
        let mut set = rustix::thread::CpuSet::new();
        for cpu in cpus.iter() {
            if let Ok(cpu) = usize::try_from(cpu) {
                set.set(cpu);
            }
        }
        set
    });
    let address_space = settings.address_space;
    let cpu_seconds = settings.cpu_seconds;
    let nice = settings.nice;
    let hook = move || -> io::Result<()> {
        // A lock-free load: async-signal-safe. Off: a later spawn of the
        // same `Command`, outside the job.
        if !armed.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Only system calls on values prepared in the parent: no allocation,
        // no lock. Errors become `io::Error` from a raw code (no allocation).
        let os = |e: rustix::io::Errno| io::Error::from_raw_os_error(e.raw_os_error());
        for fd in &procs {
            rustix::io::write(fd.as_fd(), b"0").map_err(os)?;
        }
        if let Some(bytes) = address_space {
            let limit = Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            };
            rustix::process::setrlimit(Resource::As, limit).map_err(os)?;
        }
        if let Some(seconds) = cpu_seconds {
            // The soft limit sends SIGXCPU, the hard one a second later
            // SIGKILL, for a process that ignores the first.
            let limit = Rlimit {
                current: Some(seconds),
                maximum: Some(seconds + 1),
            };
            rustix::process::setrlimit(Resource::Cpu, limit).map_err(os)?;
        }
        if let Some(nice) = nice {
            rustix::process::setpriority_process(None, nice).map_err(os)?;
        }
        if let Some(set) = &affinity {
            rustix::thread::sched_setaffinity(None, set).map_err(os)?;
        }
        Ok(())
    };
    // SAFETY: `pre_exec` requires the closure to be async-signal-safe, since
    // it runs in a child forked from a possibly multi-threaded process. It
    // only reads values captured from the parent (an atomic load,
    // dereferencing `Arc`s without touching their counts, iterating a `Vec`
    // without growing it) and makes system calls through rustix, which
    // neither allocate nor take locks; its error path builds an `io::Error`
    // from a raw code, which does not allocate either.
    unsafe {
        command.pre_exec(hook);
    }
    Some(switch)
}
