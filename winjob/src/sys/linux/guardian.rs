//! The guardian: a small process outside every job that kills this process's
//! kill-on-drop jobs if this process dies without dropping them.
//!
//! Windows kills a `KILL_ON_JOB_CLOSE` job when its last handle closes, and
//! the kernel closes handles of a process that dies however it dies. Linux has
//! no such hook for cgroups, so the backend starts, on the first kill-on-drop
//! job, one `/bin/sh` running `guardian.sh` (next to this file). Its standard
//! input is one end of a Unix socket pair; this process holds the other end,
//! `O_CLOEXEC`, so no program it starts inherits it. Over it this process sends
//! one line per job: `+ID KIND ARG` when the job is created (before its
//! directory exists, so there is no window in which it is unguarded) and `-ID`
//! when it was ended and removed normally; and `r PATH` for a job dropped
//! without kill-on-drop while it still has processes, whose directory the
//! guardian removes (polling once a second, in a background subshell) once the
//! last of them has exited, as Windows does with a Job Object that has no
//! handles and no processes. When this process dies (exit,
//! crash, `SIGKILL`), the kernel closes the socket, the guardian reads EOF, and
//! ends every job still registered: `cgroup.kill` (v2) or freeze–kill–thaw
//! (v1), then removes the directories. Jobs
//! that are not kill-on-drop are registered too (`keep`): their directories are
//! removed once empty, as for `r`.
//!
//! The guardian is in its own process group and ignores `SIGHUP`, `SIGINT`,
//! `SIGQUIT` and `SIGTERM`, so the Ctrl+C that kills its owner does not kill it
//! first. Its output goes to `/dev/null`: it must never hold a pipe of the
//! caller's open. It depends on nothing of the caller's: it starts with an
//! empty environment, runs `/bin/sh` by its absolute path, uses shell
//! builtins but for `rmdir` and `sleep`, which it is given by absolute path
//! (looked up in `/usr/bin` and `/bin` here, never in `PATH`), and none of its
//! loops spins: a retry waits, and without `sleep` it gives up instead.
//! Directories are removed depth first, whatever cgroups members made below
//! their job.
//!
//! If it dies anyway (a member of the same user sends it `SIGKILL`), this
//! process notices at once: a thread waits on the guardian's pidfd, which
//! becomes readable when it exits, and starts a new guardian, told about every
//! live job, within milliseconds. The residual window is that thread's
//! wake-up: an owner killed in the same instant as its guardian (under a
//! millisecond apart on an idle machine) leaves its jobs unguarded, and their
//! directories to the sweep. Without pidfds (Linux before 5.3, or where the
//! native spawn is not wired up) the death is noticed at the next
//! registration, as before.
//!
//! Process-group jobs are not registered: their anchor (`anchor.rs`) ends
//! them, killing its own group, which no pid reuse can confuse.
//!
//! Known gaps: a process that `fork`s without `exec` shares the socket, so the
//! guardian waits for the fork too; a job whose owner dies in the instant
//! between `mkdir` and the first spawn is removed empty, which is harmless.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::detect::SHELL;
use super::helper::Helper;
use crate::error::with_context;

const SCRIPT: &str = include_str!("guardian.sh");

/// The one guardian of this process, and what it has been told.
static GUARDIAN: Mutex<Option<Guardian>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Guardian {
    process: Helper,
    /// The engine's action that replaces the guardian when it exits.
    _watch: Option<super::engine::WhenReadable>,
    stream: UnixStream,
    /// The live registrations, re-sent to a replacement guardian.
    jobs: BTreeMap<u64, String>,
}

/// How the guardian ends a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A cgroup v2 directory: `cgroup.kill`, then `rmdir`.
    CgroupV2,
    /// A cgroup v1 freezer directory: freeze, kill, thaw, then `rmdir`.
    CgroupV1,
    /// A cgroup directory of a job that is not kill-on-drop: not killed, but
    /// removed once its last process has exited.
    Keep,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::CgroupV2 => "v2",
            Kind::CgroupV1 => "v1",
            Kind::Keep => "keep",
        }
    }
}

/// A job's registration with the guardian. Dropping it tells the guardian to
/// forget the job: do that only once the job has been ended and removed.
#[derive(Debug)]
pub(crate) struct Ticket {
    id: u64,
}

impl Ticket {
    /// Registers a job. `arg` is its directory; it must not contain a
    /// newline (names with control characters are refused before this).
    pub(crate) fn register(kind: Kind, arg: &str) -> io::Result<Ticket> {
        debug_assert!(!arg.contains('\n'));
        let ticket = Ticket {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        };
        let record = format!("{} {arg}", kind.word());
        let mut guard = GUARDIAN.lock().unwrap_or_else(|e| e.into_inner());
        guard_send(&mut guard, &format!("+{} {record}\n", ticket.id))?;
        if let Some(g) = guard.as_mut() {
            g.jobs.insert(ticket.id, record);
        }
        Ok(ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut guard = GUARDIAN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = guard.as_mut() {
            g.jobs.remove(&self.id);
            // A guardian that died has forgotten the job anyway.
            let _ = send(&g.stream, format!("-{}\n", self.id).as_bytes());
        }
    }
}

/// Sends `line`, starting (or restarting) the guardian as needed.
fn guard_send(guard: &mut Option<Guardian>, line: &str) -> io::Result<()> {
    if let Some(g) = guard.as_mut()
        && send(&g.stream, line.as_bytes()).is_ok()
    {
        return Ok(());
    }
    replace(guard)?;
    match guard.as_ref() {
        Some(g) => send(&g.stream, line.as_bytes()),
        None => Err(io::Error::other("the guardian did not start")),
    }
}

/// Ends the guardian in `guard` (if any) and starts another, told of every
/// job the old one knew.
fn replace(guard: &mut Option<Guardian>) -> io::Result<()> {
    let previous = match guard.take() {
        Some(mut g) => {
            g.process.end();
            g.jobs
        }
        None => BTreeMap::new(),
    };
    *guard = Some(start(previous)?);
    Ok(())
}

/// `rmdir` and `sleep` by absolute path, from the system's directories only.
fn tool(name: &str) -> String {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| super::detect::is_executable(std::path::Path::new(path)))
        .unwrap_or_default()
}

/// Starts a guardian that knows `jobs`. Their lines are written into the
/// socket before the guardian exists, as far as its buffer takes them
/// without blocking, so that a guardian is never alive without its
/// registrations: if this process dies the moment after the spawn, the new
/// guardian still reads every job, then EOF, and ends them.
fn start(jobs: BTreeMap<u64, String>) -> io::Result<Guardian> {
    let (ours, theirs) = UnixStream::pair()?;
    let lines: Vec<String> = jobs
        .iter()
        .map(|(id, record)| format!("+{id} {record}\n"))
        .collect();
    // The bytes the buffer did not take (the rest of a line cut in two,
    // then whole lines) go after the spawn.
    let mut cut: &[u8] = &[];
    let mut unsent = lines.as_slice();
    while let Some((line, rest)) = unsent.split_first() {
        match rustix::net::send(
            &ours,
            line.as_bytes(),
            rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
        ) {
            Ok(n) if n == line.len() => unsent = rest,
            Ok(n) => {
                cut = &line.as_bytes()[n..];
                unsent = rest;
                break;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    let (rmdir, sleep) = (tool("rmdir"), tool("sleep"));
    // Without its comments, which would only lengthen its command line.
    let script: String = SCRIPT
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let context = |e| {
        with_context(
            e,
            format!(
                "cannot start the kill-on-drop guardian ({SHELL}); create the job with \
                 kill_on_drop(false) to do without it"
            ),
        )
    };
    let args = ["-c", &script, "winjob-guardian", &rmdir, &sleep];
    let process = Helper::spawn(&args, OwnedFd::from(theirs), None, context)?;
    // What the buffer did not take, now that the guardian reads.
    send(&ours, cut)?;
    for line in unsent {
        send(&ours, line.as_bytes())?;
    }
    let watch = watch(&process);
    Ok(Guardian {
        _watch: watch,
        process,
        stream: ours,
        jobs,
    })
}

/// Asks the event engine to replace the guardian at once when it exits (its
/// pidfd becomes readable), if it is still this process's guardian then.
/// Nothing to watch without a pidfd; if the engine cannot take it, the next
/// registration notices the guardian is gone.
fn watch(guardian: &Helper) -> Option<super::engine::WhenReadable> {
    let pid = guardian.id();
    let pidfd = guardian
        .pidfd()
        .and_then(|fd| fd.try_clone_to_owned().ok())?;
    super::engine::when_readable(pidfd, move || {
        let mut guard = GUARDIAN.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_some_and(|g| g.process.id() == pid) {
            // Best effort: a failure here is met again, and reported, at
            // the next registration.
            let _ = replace(&mut guard);
        }
    })
    .ok()
}

/// Writes all of `bytes` without raising `SIGPIPE` if the guardian is gone.
fn send(stream: &UnixStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::net::send(stream, bytes, rustix::net::SendFlags::NOSIGNAL) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Asks the guardian to remove the job directory `path` once it is empty (a
/// job dropped without kill-on-drop while its processes still run). The
/// guardian polls once a second, in a background subshell that outlives this
/// process. Best effort: if no guardian can be started, the directory stays
/// until a later process sweeps the job root.
pub(crate) fn remove_when_empty(path: &std::path::Path) {
    let line = format!("r {}\n", path.to_string_lossy());
    let mut guard = GUARDIAN.lock().unwrap_or_else(|e| e.into_inner());
    let _ = guard_send(&mut guard, &line);
}
