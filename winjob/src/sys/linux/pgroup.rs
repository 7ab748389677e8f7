//! A job as a process group: the fallback where no cgroup is writable.
//!
//! The first process spawned into the job becomes the leader of a new group
//! (`setpgid(0, 0)` through `CommandExt::process_group(0)`); later ones join
//! it, which std does in `posix_spawn`, so spawning stays as cheap as a plain
//! spawn. In a kill-on-drop job the leader is forked instead, and registers
//! its group with the guardian between `fork` and `exec` (see `guardian`).
//! If every member has exited, the group no longer exists and the next spawn
//! starts a new one.
//!
//! A process group is not a container: a member that calls `setsid` or
//! `setpgid` leaves it, and `terminate` then misses it. Listing members scans
//! `/proc`, so it is a snapshot that can race with forks. A group id is only
//! kept while the group is known to exist, because once it is empty its
//! number can be reused by an unrelated group. The guardian's record is not
//! dropped when the group empties, only replaced by the next leader's: if the
//! owner dies while its job's group is empty and its number has meanwhile
//! become another group's (the pid space wrapped around), the guardian's
//! `kill(-pgid)` reaches that group. Process-group mode is the fallback where
//! no cgroup is writable; the cgroup modes have no such case.

use std::fs;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use super::cgroup::poll_until;
use super::guardian::{Kind, Ticket};
use super::parse;
use super::spawn::hook;
use crate::error::{not_found, unsupported};

#[derive(Debug)]
pub(crate) struct ProcessGroup {
    state: Mutex<State>,
    kill_on_drop: bool,
}

#[derive(Debug, Default)]
struct State {
    /// The current group, while it exists.
    pgid: Option<u32>,
    ticket: Option<Ticket>,
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

    /// The group id while the group exists.
    pub(crate) fn pgid(&self) -> Option<u32> {
        let mut state = self.lock();
        refresh(&mut state);
        state.pgid
    }

    /// Spawns a member with `spawn(group, registration)`, which must start
    /// the process in process group `group` (0: a new one, which it leads)
    /// and, given a registration (the guardian's socket and the line's
    /// prefix), have the leader register its group before it runs the
    /// program. `pid` tells the new process's pid.
    pub(crate) fn spawn_with<T>(
        &self,
        mut spawn: impl FnMut(i32, Option<(RawFd, &[u8])>) -> io::Result<T>,
        pid: impl Fn(&T) -> u32,
    ) -> io::Result<T> {
        // Held across the spawn, so that two threads spawning into an empty
        // job do not start two groups.
        let mut state = self.lock();
        refresh(&mut state);
        if let Some(pgid) = state.pgid {
            match spawn(i32::try_from(pgid).unwrap_or(0), None) {
                Ok(child) => return Ok(child),
                // The group emptied between the check and the spawn.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {}
                Err(e) => return Err(e),
            }
        }
        let child = if self.kill_on_drop {
            // The leader registers its group with the guardian before it
            // runs the program (see `guardian`): there is no moment in which
            // a member could outlive a crash of ours unguarded.
            state
                .ticket
                .get_or_insert_with(|| Ticket::unregistered(Kind::ProcessGroup))
                .spawn_leader(|socket, prefix| spawn(0, Some((socket, prefix))), &pid)?
        } else {
            spawn(0, None)?
        };
        state.pgid = Some(pid(&child));
        Ok(child)
    }

    /// [`spawn_with`](Self::spawn_with) for a std `Command`: the group
    /// through `CommandExt::process_group`, the registration through a
    /// `pre_exec` hook.
    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        self.spawn_with(
            |group, register| {
                command.process_group(group);
                match register {
                    Some((socket, prefix)) => {
                        let armed = hook::register_leader(command, socket, prefix.to_vec())?;
                        let spawned = command.spawn();
                        drop(armed);
                        spawned
                    }
                    None => command.spawn(),
                }
            },
            Child::id,
        )
    }

    /// Only the calling process can still join: a process that has run a new
    /// program cannot be moved into another group by its parent.
    pub(crate) fn assign_current(&self) -> io::Result<()> {
        let mut state = self.lock();
        refresh(&mut state);
        let target = state
            .pgid
            .and_then(|p| Pid::from_raw(i32::try_from(p).ok()?));
        rustix::process::setpgid(None, target).map_err(|e| {
            unsupported(format!(
                "process-group mode cannot put this process in the job's group: {}",
                io::Error::from(e)
            ))
        })?;
        if state.pgid.is_none() {
            state.pgid = Some(std::process::id());
        }
        Ok(())
    }

    /// True if `pid` is in the group. An exited process that was not reaped
    /// yet still is, as it is still in its cgroup in the cgroup modes.
    pub(crate) fn contains(&self, pid: u32) -> io::Result<bool> {
        let stat = read_stat(pid)?;
        Ok(self.pgid().is_some_and(|pgid| stat.pgid == pgid))
    }

    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        match self.pgid() {
            Some(pgid) => members(pgid),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn kill(&self, signal: Signal) {
        if let Some(pgid) = self.pgid() {
            kill_group(pgid, signal);
        }
    }

    /// Polls `/proc` until no live process is in the group: every 1 ms at
    /// first, backing off to 20 ms.
    pub(crate) fn wait_empty(&self, deadline: Option<Instant>) -> io::Result<bool> {
        poll_until(deadline, || Ok(self.pids()?.is_empty()))
    }

    /// Ends the job on drop (if kill-on-drop) and forgets the guardian ticket.
    pub(crate) fn close(&self) {
        if self.kill_on_drop {
            self.kill(Signal::KILL);
            let _ = self.wait_empty(Some(Instant::now() + Duration::from_secs(5)));
        }
        let mut state = self.lock();
        state.ticket = None;
    }
}

/// Forgets the group once no process is in it any more.
fn refresh(state: &mut State) {
    if let Some(pgid) = state.pgid {
        let exists = Pid::from_raw(i32::try_from(pgid).unwrap_or(0))
            .is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok());
        if !exists {
            state.pgid = None;
        }
    }
}

fn kill_group(pgid: u32, signal: Signal) {
    if let Some(pid) = Pid::from_raw(i32::try_from(pgid).unwrap_or(0)) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
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

/// Live (non-zombie) processes whose group is `pgid`, from a `/proc` scan.
fn members(pgid: u32) -> io::Result<Vec<u32>> {
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
        if let Ok(stat) = read_stat(pid)
            && stat.pgid == pgid
            && stat.state != 'Z'
        {
            pids.push(pid);
        }
    }
    Ok(pids)
}
