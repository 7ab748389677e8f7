//! A job as a process group: the fallback where no cgroup is writable.
//!
//! The group is led by the job's anchor (`anchor.rs`), a tiny process of
//! winjob's own started before the first member; every member joins its
//! group (`setpgid(0, anchor)`: std does it in `posix_spawn` with
//! `CommandExt::process_group`, winjob's `Command` between `clone` and
//! `exec`), so spawning stays as cheap as a plain spawn. The anchor holds
//! the group's id for as long as the job lives, so no other group can ever
//! have it, and in a kill-on-drop job it kills the group when the owner
//! dies. Signals go through the anchor's pidfd, resolved by the kernel to
//! this very group (see `anchor.rs` for the kernels without that).
//!
//! The anchor is never a member: it is left out of `pids`, `contains`, the
//! counts and the events. It stays until the job is dropped, or until it
//! died (a `terminate` kills it with the rest) and the group emptied; the
//! next spawn then starts a new anchor and a new group.
//!
//! A process group is not a container: a member that calls `setsid` or
//! `setpgid` leaves it, and `terminate` then misses it. Listing members
//! scans `/proc`, so it is a snapshot that can race with forks.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use super::anchor::Anchor;
use super::cgroup::poll_until;
use super::parse;
use crate::error::{not_found, unsupported};

#[derive(Debug)]
pub(crate) struct ProcessGroup {
    state: Mutex<State>,
    kill_on_drop: bool,
}

#[derive(Debug, Default)]
struct State {
    /// The anchor of the group new members join, while it is alive.
    anchor: Option<Anchor>,
    /// Earlier groups of the job whose anchor was killed (a `terminate`) or
    /// died while processes were still in them: kept, each anchor a zombie
    /// holding its group's id, until the last of those processes is reaped,
    /// so that they are still listed and signalled.
    retired: Vec<Anchor>,
}

impl State {
    fn groups(&self) -> impl Iterator<Item = &Anchor> {
        self.anchor.iter().chain(&self.retired)
    }
}

impl ProcessGroup {
    pub(crate) fn new(kill_on_drop: bool) -> ProcessGroup {
        ProcessGroup {
            state: Mutex::new(State::default()),
            kill_on_drop,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id of the group new members join, while it exists.
    pub(crate) fn pgid(&self) -> Option<u32> {
        let mut state = self.lock();
        refresh(&mut state);
        state.anchor.as_ref().map(Anchor::pid)
    }

    /// Spawns a member with `spawn(group)`, which must start the process
    /// in process group `group`, starting a group (its anchor) first if the
    /// job has none alive. An error from a group that vanished meanwhile
    /// (its anchor reaped by a stranger's `waitpid(-1)`: `setpgid` fails
    /// with `EPERM`) is met once with a new group; any other error is the
    /// caller's.
    pub(crate) fn spawn_with<T>(
        &self,
        mut spawn: impl FnMut(i32) -> io::Result<T>,
    ) -> io::Result<T> {
        // Held across the spawn, so that two threads spawning into an empty
        // job do not start two groups.
        let mut state = self.lock();
        let mut retried = false;
        loop {
            let group = self.ensure_group(&mut state)?;
            match spawn(group) {
                Err(e)
                    if !retried
                        && e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error())
                        && state
                            .anchor
                            .as_ref()
                            .is_some_and(|a| !a.signal_group(None).unwrap_or(true)) =>
                {
                    retried = true;
                    state.anchor = None;
                }
                spawned => return spawned,
            }
        }
    }

    /// The id of the group new members join, with an anchor started first
    /// if there is none alive.
    fn ensure_group(&self, state: &mut State) -> io::Result<i32> {
        refresh(state);
        let anchor = match state.anchor.take() {
            Some(anchor) => anchor,
            None => Anchor::start(self.kill_on_drop)?,
        };
        let group = i32::try_from(anchor.pid()).map_err(|_| io::Error::other("pid out of range"));
        state.anchor = Some(anchor);
        group
    }

    /// [`spawn_with`](Self::spawn_with) for a std `Command`: the group
    /// through `CommandExt::process_group`.
    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        self.spawn_with(|group| command.process_group(group).spawn())
    }

    /// Only the calling process can still join: a process that has run a new
    /// program cannot be moved into another group by its parent.
    pub(crate) fn assign_current(&self) -> io::Result<()> {
        let mut state = self.lock();
        let group = self.ensure_group(&mut state)?;
        rustix::process::setpgid(None, Pid::from_raw(group)).map_err(|e| {
            unsupported(format!(
                "process-group mode cannot put this process in the job's group: {}",
                io::Error::from(e)
            ))
        })
    }

    /// True if `pid` is in one of the job's groups. An exited process that
    /// was not reaped yet still is, as it is still in its cgroup in the
    /// cgroup modes.
    pub(crate) fn contains(&self, pid: u32) -> io::Result<bool> {
        let stat = read_stat(pid)?;
        let state = self.lock();
        for anchor in state.groups() {
            // Read before the check: the group existed throughout.
            if pid != anchor.pid() && stat.pgid == anchor.pid() && anchor.signal_group(None)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The live members, from a `/proc` scan confirmed afterwards: a group
    /// that still exists after the scan existed throughout it (a group that
    /// empties is gone for good), so every process found was the job's.
    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        let mut state = self.lock();
        refresh(&mut state);
        let groups: Vec<u32> = state.groups().map(Anchor::pid).collect();
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = members(&groups, false)?;
        for anchor in state.groups() {
            if !anchor.signal_group(None)? {
                found.retain(|&(_, group)| group != anchor.pid());
            }
        }
        Ok(found.into_iter().map(|(pid, _)| pid).collect())
    }

    /// Sends `signal` to the job's groups, the anchors included (they ignore
    /// every signal but `SIGKILL` and `SIGSTOP`). After a `SIGKILL` the group
    /// has no anchor alive to guard it: it is retired, and the next spawn
    /// starts a new one.
    pub(crate) fn kill(&self, signal: Signal) -> io::Result<()> {
        let mut state = self.lock();
        let mut result = Ok(());
        for anchor in state.groups() {
            if let Err(e) = anchor.signal_group(Some(signal)) {
                result = Err(e);
            }
        }
        if signal == Signal::KILL
            && let Some(anchor) = state.anchor.take()
        {
            state.retired.push(anchor);
        }
        result
    }

    /// Polls `/proc` until no live process is in the job's groups: every
    /// 1 ms at first, backing off to 20 ms.
    pub(crate) fn wait_empty(&self, deadline: Option<Instant>) -> io::Result<bool> {
        poll_until(deadline, || Ok(self.pids()?.is_empty()))
    }

    /// Ends the job on drop (if kill-on-drop), then its anchors, which frees
    /// the groups' ids.
    pub(crate) fn close(&self) {
        if self.kill_on_drop {
            let _ = self.kill(Signal::KILL);
            let _ = self.wait_empty(Some(Instant::now() + Duration::from_secs(5)));
        }
        let mut state = self.lock();
        state.anchor = None;
        state.retired.clear();
    }
}

/// Retires the current group once its anchor has exited (killed by someone
/// else: a `terminate` retires it at once), and lets a retired group go once
/// no process is left in it, zombies included (they are still members until
/// reaped).
fn refresh(state: &mut State) {
    if let Some(anchor) = state.anchor.take_if(|a| a.exited()) {
        state.retired.push(anchor);
    }
    state.retired.retain_mut(|anchor| {
        anchor.in_use(|group| members(&[group], true).is_ok_and(|m| !m.is_empty()))
    });
}

fn read_stat(pid: u32) -> io::Result<parse::Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            not_found(format!("no process with pid {pid}"))
        } else {
            e
        }
    })?;
    parse::stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unreadable /proc/{pid}/stat"),
        )
    })
}

/// The processes in any of `groups` but their leaders (the anchors), with
/// their group, from one `/proc` scan: the live ones, and with `zombies` the
/// exited ones not reaped yet too.
fn members(groups: &[u32], zombies: bool) -> io::Result<Vec<(u32, u32)>> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes exit while we scan: skip what cannot be read.
        if !groups.contains(&pid)
            && let Ok(stat) = read_stat(pid)
            && groups.contains(&stat.pgid)
            && (zombies || stat.state != 'Z')
        {
            pids.push((pid, stat.pgid));
        }
    }
    Ok(pids)
}
