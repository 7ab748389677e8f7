//! A job as a cgroup directory (v2, or v1 freezer).
//!
//! The directory is opened once (`O_DIRECTORY | O_CLOEXEC`) and every control
//! file is reached relative to that descriptor (`openat`), so a job keeps
//! working on its own directory even if paths change around it. `cgroup.procs`
//! is also kept open for writing: the spawn path writes `0` to it from the
//! child, and `assign` writes pids to it.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{Mode as FileMode, OFlags};

use super::detect::Root;
use super::parse;
use crate::error::{not_found, with_context};

/// How long [`Cgroup::kill`] waits for the killed to be gone before it
/// freezes and kills again (short: under a spawn storm the job is never
/// empty, and this is what a `terminate` then costs), and how many
/// freeze–kill–thaw rounds it makes at most.
const KILL_ROUND: Duration = Duration::from_millis(10);
const KILL_ROUNDS: u32 = 100;

/// How long [`Cgroup::freeze`] waits for every task to be frozen.
const FREEZE_WAIT: Duration = Duration::from_secs(30);

/// `PF_EXITING` (`include/linux/sched.h`): the process is exiting.
const PF_EXITING: u64 = 0x4;

/// The start time of process `pid` (clock ticks after boot), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse::stat(&text)?.start_time
}

/// Which cgroup version a directory belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V2,
    V1Freezer,
}

#[derive(Debug)]
pub(crate) struct Cgroup {
    pub(crate) version: Version,
    pub(crate) path: PathBuf,
    /// The path as `/proc/<pid>/cgroup` shows it, for membership tests.
    pub(crate) cgroup_path: String,
    pub(crate) dir: OwnedFd,
    /// cgroup v1 only: the processes the job took in, by pid and start time
    /// (see [`Cgroup::took_in`]).
    taken_in: Mutex<TakenIn>,
}

/// cgroup v1 shows a task as in the root cgroup from the moment it exits
/// (`PF_EXITING`), so a member that is exiting or exited and was not reaped
/// yet (a zombie) is in no job by `/proc/<pid>/cgroup`. To keep `contains` true for it until it is reaped,
/// as in v2 and on Windows, the job remembers each process it spawned or was
/// assigned by pid and start time, which tells that zombie from a later
/// process with the same pid. The list is pruned of processes that are gone
/// whenever it doubles, so it holds about twice the live members at most.
#[derive(Debug, Default)]
struct TakenIn {
    processes: Vec<(u32, u64)>,
    prune_at: usize,
}

impl Cgroup {
    /// Creates the directory `name` under `root`, owner-only (mode 0700), and
    /// opens it.
    pub(crate) fn create(version: Version, root: &Root, name: &str) -> io::Result<Cgroup> {
        let path = root.path.join(name);
        rustix::fs::mkdir(&path, FileMode::from_raw_mode(0o700)).map_err(|e| match e {
            rustix::io::Errno::EXIST => io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "a job named {name:?} already exists ({}); use Job::open",
                    path.display()
                ),
            ),
            e => with_context(e.into(), format!("cannot create cgroup {}", path.display())),
        })?;
        Cgroup::open_dir(version, root, path).inspect_err(|_| {
            let _ = rustix::fs::rmdir(root.path.join(name));
        })
    }

    /// Opens an existing job directory.
    pub(crate) fn open(version: Version, root: &Root, name: &str) -> io::Result<Cgroup> {
        let path = root.path.join(name);
        Cgroup::open_dir(version, root, path)
    }

    fn open_dir(version: Version, root: &Root, path: PathBuf) -> io::Result<Cgroup> {
        let dir = rustix::fs::open(
            &path,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT => not_found(format!(
                "no job named {:?} (no directory {})",
                path.file_name().unwrap_or_default(),
                path.display()
            )),
            e => with_context(e.into(), format!("cannot open {}", path.display())),
        })?;
        let cgroup_path = super::detect::cgroup_path_of(root, &path);
        let cgroup = Cgroup {
            version,
            path,
            cgroup_path,
            dir,
            taken_in: Mutex::new(TakenIn::default()),
        };
        // Whether processes can be moved in is told now, not at the first
        // spawn; the file is opened again for each (a job holds one
        // descriptor, its directory).
        drop(cgroup.open_procs().map_err(|e| {
            with_context(
                e,
                format!("cannot open {}/cgroup.procs", cgroup.path.display()),
            )
        })?);
        Ok(cgroup)
    }

    /// `cgroup.procs`, open for writing (a spawn holds it while it moves
    /// its child in).
    pub(crate) fn open_procs(&self) -> io::Result<OwnedFd> {
        rustix::fs::openat(
            &self.dir,
            "cgroup.procs",
            OFlags::WRONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        )
        // The OS's own error (the directory may be gone: `ENOENT`).
        .map_err(io::Error::from)
    }

    /// Remembers `pid`, a process this job just took in (cgroup v1 only; see
    /// [`TakenIn`]). One read of `/proc/<pid>/stat` per spawn or assign.
    pub(crate) fn took_in(&self, pid: u32) {
        if self.version != Version::V1Freezer {
            return;
        }
        let Some(start) = start_time(pid) else {
            return;
        };
        let mut taken = self.taken_in.lock().unwrap_or_else(|e| e.into_inner());
        if taken.processes.len() >= taken.prune_at {
            taken
                .processes
                .retain(|&(pid, start)| start_time(pid) == Some(start));
            taken.prune_at = (taken.processes.len() * 2).max(64);
        }
        taken.processes.push((pid, start));
    }

    pub(crate) fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Reads a control file of this cgroup (or of `sub`, a directory below it).
    pub(crate) fn read(&self, file: &str) -> io::Result<String> {
        read_at(self.dir.as_fd(), file)
    }

    /// Writes `pid` (0 = the writer) to `cgroup.procs`.
    pub(crate) fn write_pid(&self, pid: u32) -> io::Result<()> {
        let text = pid.to_string();
        let procs = self.open_procs()?;
        rustix::io::write(&procs, text.as_bytes())
            .map(drop)
            .map_err(|e| match e {
                rustix::io::Errno::SRCH => not_found(format!(
                    "no running process with pid {pid} (it may have exited)"
                )),
                e => with_context(
                    e.into(),
                    format!("cannot move pid {pid} into {}", self.path.display()),
                ),
            })
    }

    /// Every pid in this cgroup and the cgroups below it.
    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        let mut pids = Vec::new();
        collect_pids(self.dir.as_fd(), &mut pids, 0)?;
        Ok(pids)
    }

    /// True if `/proc/<pid>/cgroup` puts the process in this cgroup or below.
    pub(crate) fn contains(&self, pid: u32) -> io::Result<bool> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                not_found(format!("no process with pid {pid}"))
            } else {
                e
            }
        })?;
        let lines = parse::proc_cgroup(&text);
        let path = match self.version {
            Version::V2 => parse::v2_path(&lines),
            Version::V1Freezer => parse::v1_path(&lines, "freezer"),
        };
        if path.is_some_and(|p| is_within(p, &self.cgroup_path)) {
            return Ok(true);
        }
        if self.version != Version::V1Freezer {
            return Ok(false);
        }
        // An exiting process or a zombie that this job took in (see
        // `TakenIn`): v1 shows `/` for a task from the moment it exits.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        Ok(match parse::stat(&stat) {
            Some(parse::Stat {
                state,
                flags,
                start_time: Some(start),
                ..
            }) if state == 'Z' || flags.is_some_and(|f| f & PF_EXITING != 0) => self
                .taken_in
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .processes
                .contains(&(pid, start)),
            _ => false,
        })
    }

    /// Kills every process in the cgroup and below.
    ///
    /// cgroup v2: `cgroup.kill`, which should also kill a child forked while
    /// it runs; but a child forked at that very moment can survive it (the
    /// stress suite's owner kills met one, in the job, in about ten thousand
    /// kills, on Linux 6.18 under load). So if the job is not empty after
    /// [`KILL_ROUND`], it is frozen, killed again and thawed: once, or again
    /// (at most [`KILL_ROUNDS`] times) only while a freeze does not complete
    /// within its wait. A spawn storm of this process costs one round, not
    /// one per spawn.
    pub(crate) fn kill(&self) -> io::Result<()> {
        match self.version {
            Version::V2 => {
                match write_at(self.dir.as_fd(), "cgroup.kill", b"1") {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return self.kill_each(),
                    result => result?,
                }
                if self.wait_empty(Some(Instant::now() + KILL_ROUND))? {
                    return Ok(());
                }
                // Still populated: by a later member (a concurrent spawn of
                // this process), or by a child forked at the very moment of
                // the kill that escaped it. Once frozen, no task of the job
                // can fork, so one more kill gets every process there.
                for _ in 0..KILL_ROUNDS {
                    let complete = self.set_frozen(true)?;
                    let killed = write_at(self.dir.as_fd(), "cgroup.kill", b"1");
                    // Thawed whatever happened: a job is never left frozen.
                    self.set_frozen(false)?;
                    killed?;
                    if complete || self.wait_empty(Some(Instant::now() + KILL_ROUND))? {
                        return Ok(());
                    }
                }
                Ok(())
            }
            Version::V1Freezer => self.freeze_kill_thaw(),
        }
    }

    /// Kernels before 5.14 have no `cgroup.kill`: signal each member until
    /// none is left (a process forking at that moment may need a second round).
    fn kill_each(&self) -> io::Result<()> {
        for _ in 0..100 {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            for pid in pids {
                signal(pid, rustix::process::Signal::KILL);
            }
        }
        Ok(())
    }

    /// cgroup v1 has no kill file: freeze the cgroup so that nobody in it
    /// can fork, kill every member, thaw so that the kills are delivered.
    /// Once the freezer reports `FROZEN`, no task in the job can fork and a
    /// fork that was in progress has completed into the job, so the list is
    /// complete and one round kills every process the job had: a process
    /// put in the job after the list (a concurrent spawn of this process) is
    /// a later member, as with `cgroup.kill`, and a spawn storm costs one
    /// round, not one per spawn. Only a freeze that did not complete within
    /// its wait (a loaded machine) is followed by another round, 100 at most.
    fn freeze_kill_thaw(&self) -> io::Result<()> {
        for _ in 0..100 {
            let complete = self.set_frozen(true)?;
            let pids = self.pids();
            for &pid in pids.iter().flatten() {
                signal(pid, rustix::process::Signal::KILL);
            }
            // Thawed even if the list failed: a job is never left frozen.
            self.set_frozen(false)?;
            let pids = pids?;
            if complete || pids.is_empty() {
                return Ok(());
            }
            self.wait_empty(Some(Instant::now() + Duration::from_millis(50)))?;
        }
        Ok(())
    }

    /// Writes the freezer's state. A freeze waits up to a second for every
    /// task to be frozen: `Ok(false)` if they were not by then.
    pub(crate) fn set_frozen(&self, frozen: bool) -> io::Result<bool> {
        let (file, value): (&str, &[u8]) = match (self.version, frozen) {
            (Version::V2, true) => ("cgroup.freeze", b"1"),
            (Version::V2, false) => ("cgroup.freeze", b"0"),
            (Version::V1Freezer, true) => ("freezer.state", b"FROZEN"),
            (Version::V1Freezer, false) => ("freezer.state", b"THAWED"),
        };
        write_at(self.dir.as_fd(), file, value)?;
        if !frozen {
            return Ok(true);
        }
        // Until every task has stopped: FREEZING (v1), `frozen 0` (v2).
        let until = Instant::now() + Duration::from_secs(1);
        loop {
            let done = match self.version {
                Version::V1Freezer => self.read("freezer.state")?.trim() == "FROZEN",
                Version::V2 => self
                    .read("cgroup.events")?
                    .lines()
                    .any(|l| l.trim() == "frozen 1"),
            };
            if done {
                return Ok(true);
            }
            if Instant::now() >= until {
                return Ok(false);
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Freezes or thaws the job; a freeze waits until the kernel says it is
    /// done: `frozen 1` in `cgroup.events` (v2), `FROZEN` in `freezer.state`
    /// (v1). Every task must reach the freezer, which on a busy machine can
    /// take a while: `TimedOut` only after [`FREEZE_WAIT`].
    pub(crate) fn freeze(&self, frozen: bool) -> io::Result<()> {
        self.set_frozen(frozen)?;
        if !frozen {
            return Ok(());
        }
        let done = poll_until(Some(Instant::now() + FREEZE_WAIT), || {
            Ok(match self.version {
                Version::V2 => self
                    .read("cgroup.events")?
                    .lines()
                    .any(|l| l.trim() == "frozen 1"),
                Version::V1Freezer => self.read("freezer.state")?.trim() == "FROZEN",
            })
        })?;
        if done {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the job did not freeze within {FREEZE_WAIT:?}"),
            ))
        }
    }

    /// Sends `SIGTERM` to every member.
    pub(crate) fn terminate_gently(&self) -> io::Result<()> {
        self.signal_all(rustix::process::Signal::TERM)
    }

    /// Sends `sig` to every process in the cgroup and below.
    pub(crate) fn signal_all(&self, sig: rustix::process::Signal) -> io::Result<()> {
        for pid in self.pids()? {
            signal(pid, sig);
        }
        Ok(())
    }

    /// Waits until no process is left in the cgroup or below.
    ///
    /// v2: `populated 0` in `cgroup.events`; the file is re-read after every
    /// `POLLPRI`, which kernfs raises on each change after our last read, so no
    /// change can slip between a read and the poll. v1 has no such event:
    /// `cgroup.procs` is polled, every 1 ms at first, backing off to 20 ms.
    pub(crate) fn wait_empty(&self, deadline: Option<Instant>) -> io::Result<bool> {
        match self.version {
            Version::V2 => self.wait_events(deadline),
            Version::V1Freezer => poll_until(deadline, || Ok(self.pids()?.is_empty())),
        }
    }

    fn wait_events(&self, deadline: Option<Instant>) -> io::Result<bool> {
        // A cgroup can only be removed once empty: gone means empty. (The
        // guardian removes the directory of a job left running, such as a
        // kept named job, soon after its last process exits, so a `stop`
        // from another process can find it gone.)
        let events = match rustix::fs::openat(
            &self.dir,
            "cgroup.events",
            OFlags::RDONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        ) {
            Ok(events) => events,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NODEV) => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        let mut buf = [0u8; 128];
        // The kernel sends at most one `cgroup.events` notification per
        // 10 ms (CGROUP_FILE_NOTIFY_MIN_INTV) and delays the next one until
        // then, while the file itself changes at once. So for a little over
        // 10 ms after the wait starts, or after a notification, the file is
        // re-read every millisecond: without it, `wait` on a job whose last
        // process exited just after its first started (a short spawn) came
        // back up to 10 ms late (measured by the bench).
        let mut last_notice = Instant::now();
        loop {
            let n = match rustix::io::pread(&events, &mut buf, 0) {
                Ok(n) => n,
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NODEV) => return Ok(true),
                Err(e) => return Err(e.into()),
            };
            let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
            if parse::populated(text) == Some(false) {
                return Ok(true);
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    Some(left)
                }
            };
            // Wake at least once a second: a cgroup removed under us never
            // raises an event.
            let longest = if last_notice.elapsed() < NOTIFY_DELAY {
                Duration::from_millis(1)
            } else {
                Duration::from_secs(1)
            };
            let slice = timeout.map_or(longest, |t| t.min(longest));
            let spec =
                rustix::event::Timespec::try_from(slice).unwrap_or(rustix::event::Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                });
            let mut fds = [rustix::event::PollFd::new(
                &events,
                rustix::event::PollFlags::PRI,
            )];
            match rustix::event::poll(&mut fds, Some(&spec)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => {}
                Ok(_) => last_notice = Instant::now(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes the directory and every cgroup a member made below it,
    /// depth first; succeeds only once no process is left in any of them.
    pub(crate) fn remove(&self) -> io::Result<()> {
        remove_tree(&self.path)
    }
}

/// How long after a `cgroup.events` notification the next one may be held
/// back by the kernel (10 ms), with a margin.
const NOTIFY_DELAY: Duration = Duration::from_millis(12);

/// True if cgroup path `p` is `base` or below it.
fn is_within(p: &str, base: &str) -> bool {
    p == base
        || p.strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn read_at(dir: BorrowedFd<'_>, file: &str) -> io::Result<String> {
    let fd = rustix::fs::openat(
        dir,
        file,
        OFlags::RDONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    )?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn write_at(dir: BorrowedFd<'_>, file: &str, value: &[u8]) -> io::Result<()> {
    let fd = rustix::fs::openat(
        dir,
        file,
        OFlags::WRONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    )?;
    rustix::io::write(&fd, value)?;
    Ok(())
}

/// Depth limit for nested cgroups: far beyond real use, it only stops a
/// pathological tree from exhausting the stack.
const MAX_DEPTH: usize = 64;

fn collect_pids(dir: BorrowedFd<'_>, into: &mut Vec<u32>, depth: usize) -> io::Result<()> {
    match read_at(dir, "cgroup.procs") {
        Ok(text) => parse::pid_list(&text, into),
        // Removed while we walked: it has no members.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let mut children = Vec::new();
    {
        let fd = rustix::fs::openat(
            dir,
            ".",
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        )?;
        let mut entries = rustix::fs::Dir::read_from(&fd)?;
        while let Some(entry) = entries.read() {
            let entry = entry?;
            if entry.file_type() == rustix::fs::FileType::Directory {
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    children.push(entry.file_name().to_owned());
                }
            }
        }
    }
    for name in children {
        let sub = match rustix::fs::openat(
            dir,
            name.as_c_str(),
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        collect_pids(sub.as_fd(), into, depth + 1)?;
    }
    Ok(())
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
pub(crate) fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Asks `done` until it says yes (true) or `deadline` passes (false): every
/// 1 ms at first, backing off to 20 ms, for the modes that have no event to
/// wait on.
pub(crate) fn poll_until(
    deadline: Option<Instant>,
    mut done: impl FnMut() -> io::Result<bool>,
) -> io::Result<bool> {
    let mut pause = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        let pause_now = match deadline {
            None => pause,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                pause.min(left)
            }
        };
        thread::sleep(pause_now);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Removes the cgroup directory `path` and every cgroup below it, depth
/// first: a member may have made sub-cgroups of its job (and a winjob
/// inside a job makes a job root there, with jobs of its own), and a cgroup
/// with children cannot be removed. Only control files are in a cgroup
/// directory besides its children, and `rmdir` takes those with it; a
/// cgroup that still holds a process refuses (`EBUSY`), and so then do its
/// ancestors: the error is the first one met, and the rest of the tree is
/// still tried. Gone already is success.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let mut first_error = None;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Err(e) = remove_tree(&entry.path())
            {
                first_error.get_or_insert(e);
            }
        }
    }
    match rustix::fs::rmdir(path) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => first_error.map_or(Ok(()), Err),
        Err(e) => Err(first_error.unwrap_or_else(|| e.into())),
    }
}

/// Removes job directories left behind by processes that died without
/// cleaning up (anonymous jobs are named `.anon-<pid>-<n>`), with whatever
/// was made below them (a nested job root and its jobs), depth first. Only
/// empty cgroups can be removed, so a job whose processes still run is
/// safe (and a job of a dead owner that was not kill-on-drop keeps running,
/// as it should; it is swept once its last process has exited).
pub(crate) fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(".anon-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let alive = rustix::process::Pid::from_raw(pid)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
        if !alive {
            let _ = remove_tree(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within() {
        assert!(is_within("/winjob/a", "/winjob/a"));
        assert!(is_within("/winjob/a/b", "/winjob/a"));
        assert!(!is_within("/winjob/ab", "/winjob/a"));
        assert!(!is_within("/winjob", "/winjob/a"));
    }
}
