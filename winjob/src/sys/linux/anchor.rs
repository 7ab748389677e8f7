//! A process group's anchor: the tiny process that leads a process-group
//! job's group, so that the group's id stays the job's for as long as the job
//! lives, and that kills the group when the owner dies.
//!
//! # Why
//!
//! A process group's id is the pid of its first process. Once every process
//! of the group has exited and been reaped, the number is free: the pid space
//! wraps around (about 31 000 forks, seconds on a busy host) and an unrelated
//! process that gets that pid and calls `setsid` leads a group with the same
//! id. `kill(-pgid)` then reaches it. A job that used its first member as the
//! leader could not tell its own group from the stranger's.
//!
//! # How
//!
//! The group is led by a `/bin/sh` of winjob's own (`argv[0]`
//! `winjob-anchor`), spawned into a new group before the job's first member;
//! members join its group. It reads its standard input, the read end of a
//! pipe whose only write end this process holds (`O_CLOEXEC`, so no program
//! it starts inherits it), and does nothing else:
//!
//! - While it lives, or is a zombie this process has not reaped, its pid is
//!   taken, so no other process can get it and no other group can have the
//!   id. It ignores every signal that can be ignored, so that a `SIGTERM` or
//!   `SIGINT` sent to the whole group (`JobExt::signal`, `request_stop`)
//!   leaves it; only `SIGKILL` (a `terminate`) ends it, and then its zombie
//!   still holds the id until the job lets it go.
//! - When this process dies however it dies, the kernel closes the write end,
//!   `read` returns, and a kill-on-drop job's anchor runs `kill -s KILL 0`:
//!   its *own* group, by definition the job's, which no reuse can confuse.
//!   This replaces the guardian for process groups: there is no separate
//!   record that could outlive the group.
//! - Every signal this process sends to the group goes through the anchor's
//!   pidfd with `pidfd_send_signal(PIDFD_SIGNAL_PROCESS_GROUP)` (Linux 6.9):
//!   the kernel resolves the group by the anchor's `struct pid`, not by its
//!   number, so once the group is gone the call fails with `ESRCH` even if
//!   the number was reused. Member lists are confirmed the same way after
//!   the `/proc` scan.
//!
//! # Known gaps
//!
//! - Before Linux 6.9 (`EINVAL` for the flag) and where winjob's own spawn
//!   is not wired up (no pidfd), the group is signalled with `kill(-pgid)`
//!   after checking that the anchor was not reaped. Only a reaper other than
//!   this library (a `waitpid(-1)` elsewhere in the process) can reap it;
//!   if one does while the group is empty, the check and the kill are a few
//!   microseconds apart, and a full pid wrap in between is what it takes.
//! - A member can kill the anchor (same user): the group then has no guard
//!   against the owner's death. It could as well leave with `setsid`; a
//!   process group is not a container.
//! - A frozen (`SIGSTOP`ped) anchor acts only once thawed.
//! - One `/bin/sh` per process-group job with members, about 1 MiB of
//!   memory; its first spawn costs one more process creation.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use linux_raw_sys::general as k;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

use super::detect::SHELL;
use super::spawn::raw;
use crate::error::with_context;

/// What the anchor runs: ignore what can be ignored (all but `SIGKILL`,
/// `SIGSTOP`, glibc's 32 and 33, and the signals whose default is to do
/// nothing or to continue), wait for EOF, and then, in a kill-on-drop job,
/// kill its own group.
const IGNORED: &str = "trap '' 1 2 3 4 5 6 7 8 10 11 12 13 14 15 16 20 21 22 24 25 26 27 29 30 31 \
                       34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 \
                       58 59 60 61 62 63 64";

/// `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9, `include/uapi/linux/pidfd.h`).
const PIDFD_SIGNAL_PROCESS_GROUP: usize = 1 << 2;

/// Set once the kernel refused `PIDFD_SIGNAL_PROCESS_GROUP`.
static NO_GROUP_SIGNAL: AtomicBool = AtomicBool::new(false);

/// The anchor process: winjob's own `Child` (with a pidfd) where the native
/// spawn works, else std's.
#[derive(Debug)]
enum Process {
    Native(crate::Child),
    Std(std::process::Child),
}

/// A running anchor and the write end of its pipe. Dropping it ends the
/// anchor (closes the pipe, kills it alone, reaps it) and so frees the
/// group's id: only drop it once nothing will signal the group again.
#[derive(Debug)]
pub(crate) struct Anchor {
    process: Process,
    pid: u32,
    pipe: Option<OwnedFd>,
}

impl Anchor {
    /// Starts an anchor leading a new process group. With `kill_on_exit`,
    /// it kills its group when this process dies (or drops it).
    pub(crate) fn start(kill_on_exit: bool) -> io::Result<Anchor> {
        let script = if kill_on_exit {
            format!("{IGNORED}; read x; kill -s KILL 0")
        } else {
            format!("{IGNORED}; read x")
        };
        let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let args = ["-c", script.as_str(), "winjob-anchor"];
        let context = |e| {
            with_context(
                e,
                format!("cannot start the process group's anchor ({SHELL})"),
            )
        };
        let native = {
            use crate::os::linux::CommandExt as _;
            let mut command = crate::Command::new(SHELL);
            command
                .args(args)
                .env_clear()
                .current_dir("/")
                .stdin(crate::Stdio::from(read_end.try_clone()?))
                .stdout(crate::Stdio::null())
                .stderr(crate::Stdio::null())
                .process_group(0);
            command.spawn()
        };
        let process = match native {
            Ok(child) => Process::Native(child),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                use std::os::unix::process::CommandExt as _;
                Process::Std(
                    std::process::Command::new(SHELL)
                        .args(args)
                        .env_clear()
                        .current_dir("/")
                        .stdin(std::process::Stdio::from(read_end))
                        .stdout(std::process::Stdio::null())
                        .stderr(std::process::Stdio::null())
                        .process_group(0)
                        .spawn()
                        .map_err(context)?,
                )
            }
            Err(e) => return Err(context(e)),
        };
        let pid = match &process {
            Process::Native(child) => child.id(),
            Process::Std(child) => child.id(),
        };
        Ok(Anchor {
            process,
            pid,
            pipe: Some(write_end),
        })
    }

    /// The anchor's pid: the group's id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        use crate::os::linux::ChildExt as _;
        match &self.process {
            Process::Native(child) => child.pidfd(),
            Process::Std(_) => None,
        }
    }

    /// True once the anchor has exited (it may be a zombie still); nothing
    /// is reaped.
    pub(crate) fn exited(&self) -> bool {
        !matches!(self.peek(), Ok(None))
    }

    /// True if the anchor is gone from the process table: reaped by a
    /// `waitpid(-1)` elsewhere (this library reaps it only on drop).
    fn reaped(&self) -> bool {
        matches!(self.peek(), Err(rustix::io::Errno::CHILD))
    }

    /// `waitid(WEXITED | WNOHANG | WNOWAIT)`: `Some` once it has exited,
    /// without reaping it; `ECHILD` once someone has.
    fn peek(&self) -> rustix::io::Result<Option<rustix::process::WaitIdStatus>> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        let id = match self.pidfd() {
            Some(fd) => WaitId::PidFd(fd),
            None => match Pid::from_raw(i32::try_from(self.pid).unwrap_or(0)) {
                Some(pid) => WaitId::Pid(pid),
                None => return Err(rustix::io::Errno::CHILD),
            },
        };
        rustix::process::waitid(id, options)
    }

    /// Sends `signal` (0: none, a check) to every process of the group.
    /// `Ok(false)` if the group no longer exists.
    pub(crate) fn signal_group(&self, signal: Option<Signal>) -> io::Result<bool> {
        let number = signal.map_or(0, Signal::as_raw);
        if let Some(pidfd) = self.pidfd()
            && raw::SUPPORTED
            && !NO_GROUP_SIGNAL.load(Ordering::Relaxed)
        {
            // SAFETY: pidfd_send_signal takes a descriptor (open: borrowed
            // from the anchor's `Child`), a signal number, a null `siginfo`
            // pointer, which the kernel does not read, and flags.
            let sent = unsafe {
                raw::syscall(
                    k::__NR_pidfd_send_signal,
                    [
                        pidfd.as_raw_fd().cast_unsigned() as usize,
                        number.cast_unsigned() as usize,
                        0,
                        PIDFD_SIGNAL_PROCESS_GROUP,
                        0,
                        0,
                    ],
                )
            };
            match sent {
                Ok(_) => return Ok(true),
                Err(e) if e == rustix::io::Errno::SRCH.raw_os_error() => return Ok(false),
                // Before Linux 6.9 the flag is unknown.
                Err(e) if e == rustix::io::Errno::INVAL.raw_os_error() => {
                    NO_GROUP_SIGNAL.store(true, Ordering::Relaxed);
                }
                Err(e) => return Err(io::Error::from_raw_os_error(e)),
            }
        }
        // Without the flag: only while the anchor holds the id. A zombie
        // anchor still does; a reaped one does not.
        if self.reaped() {
            return Ok(false);
        }
        let Some(group) = Pid::from_raw(i32::try_from(self.pid).unwrap_or(0)) else {
            return Ok(false);
        };
        let sent = match signal {
            Some(signal) => rustix::process::kill_process_group(group, signal),
            None => rustix::process::test_kill_process_group(group),
        };
        match sent {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        // Closing the pipe would make a kill-on-drop anchor kill the group:
        // the caller has either done that already or wants the members
        // left running, so the anchor is killed first, alone.
        let reaped = self.reaped();
        match &mut self.process {
            Process::Native(child) => {
                let _ = child.kill();
                drop(self.pipe.take());
                let _ = child.wait();
            }
            // std kills by pid: not once someone else reaped it, when the
            // pid may be another process's.
            Process::Std(child) => {
                if !reaped {
                    let _ = child.kill();
                }
                drop(self.pipe.take());
                let _ = child.wait();
            }
        }
    }
}
