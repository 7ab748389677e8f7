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
//! - A process that `fork`s without `exec` holds the pipe's write end too:
//!   the anchor then waits for that fork as well.
//! - After a `terminate` the group's anchor is dead: the group is kept
//!   (its zombie anchor holds the id) until its last process is reaped, and
//!   the next spawn starts a new group with a new anchor.
//! - One `/bin/sh` per process-group job with members, about 1 MiB of
//!   memory; its first spawn costs one more process creation.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use linux_raw_sys::general as k;
use rustix::process::{Pid, Signal};

use super::detect::SHELL;
use super::helper::Helper;
use super::spawn::raw;
use crate::error::with_context;

/// What the anchor runs: ignore what can be ignored (every signal whose
/// default is to end or stop the process, by name, and the real-time
/// signals above glibc's 32 and 33, by number), wait for EOF, and then, in a
/// kill-on-drop job, kill its own group. `command` keeps a name or number
/// this shell does not know (dash has no `STKFLT`) from ending the script,
/// as an error in a special builtin would.
const IGNORED: &str = "for s in HUP INT QUIT ILL TRAP ABRT BUS FPE USR1 SEGV USR2 PIPE ALRM TERM \
                       STKFLT TSTP TTIN TTOU XCPU XFSZ VTALRM PROF IO PWR SYS 34 35 36 37 38 39 \
                       40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 \
                       64; do command trap '' $s 2>/dev/null; done";

/// `PIDFD_SIGNAL_PROCESS_GROUP` (Linux 6.9, `include/uapi/linux/pidfd.h`).
const PIDFD_SIGNAL_PROCESS_GROUP: usize = 1 << 2;

/// Set once the kernel refused `PIDFD_SIGNAL_PROCESS_GROUP`.
static NO_GROUP_SIGNAL: AtomicBool = AtomicBool::new(false);

/// A running anchor and the write end of its pipe. Dropping it ends the
/// anchor (kills it alone, reaps it, closes the pipe) and so frees the
/// group's id: only drop it once nothing will signal the group again.
#[derive(Debug)]
pub(crate) struct Anchor {
    process: Helper,
    /// Held, never written: its closing is the message.
    _pipe: OwnedFd,
}

impl Anchor {
    /// Starts an anchor leading a new process group. With `kill_on_exit`,
    /// it kills its group when this process dies (or drops it).
    pub(crate) fn start(kill_on_exit: bool) -> io::Result<Anchor> {
        // Says `ready` once its signals are ignored: until then a signal to
        // the group would end it, so no member joins before.
        let script = if kill_on_exit {
            format!("{IGNORED}; echo ready; exec >/dev/null; read x; kill -s KILL 0")
        } else {
            format!("{IGNORED}; echo ready; exec >/dev/null; read x")
        };
        let cloexec = rustix::pipe::PipeFlags::CLOEXEC;
        let (read_end, write_end) = rustix::pipe::pipe_with(cloexec)?;
        let (ready, says) = rustix::pipe::pipe_with(cloexec)?;
        let context = |e| {
            with_context(
                e,
                format!("cannot start the process group's anchor ({SHELL})"),
            )
        };
        let mut process = Helper::spawn(
            &["-c", &script, "winjob-anchor"],
            read_end,
            Some(says),
            context,
        )?;
        let mut line = [0u8; 6];
        let mut got = 0;
        while got < line.len() {
            match rustix::io::read(&ready, &mut line[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    process.end();
                    return Err(context(e.into()));
                }
            }
        }
        if &line[..got] != b"ready\n" {
            process.end();
            return Err(context(io::Error::other("it exited before it was ready")));
        }
        Ok(Anchor {
            process,
            _pipe: write_end,
        })
    }

    /// The anchor's pid: the group's id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// True once the anchor has exited (it may be a zombie still); nothing
    /// is reaped.
    pub(crate) fn exited(&self) -> bool {
        !matches!(self.process.peek(), Ok(None))
    }

    /// For a group whose anchor has exited: true while any process is still
    /// in it, zombies included. Where the group is signalled exactly (the
    /// pidfd flag), the anchor is reaped at once, since the members' own
    /// links to the group then hold its id (freed with the last of them),
    /// and the kernel answers; elsewhere the zombie anchor keeps holding
    /// the id and `scan` is asked.
    pub(crate) fn in_use(&mut self, scan: impl FnOnce(u32) -> bool) -> bool {
        // The first call also finds out whether the flag is known.
        let exists = self.signal_group(None).unwrap_or(false);
        if self.process.pidfd().is_some()
            && raw::SUPPORTED
            && !NO_GROUP_SIGNAL.load(Ordering::Relaxed)
        {
            self.process.reap();
            return self.signal_group(None).unwrap_or(false);
        }
        exists && scan(self.pid())
    }

    /// Sends `signal` (0: none, a check) to every process of the group.
    /// `Ok(false)` if the group no longer exists.
    pub(crate) fn signal_group(&self, signal: Option<Signal>) -> io::Result<bool> {
        let number = signal.map_or(0, Signal::as_raw);
        if let Some(pidfd) = self.process.pidfd()
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
        if self.process.reaped() {
            return Ok(false);
        }
        let Some(group) = Pid::from_raw(i32::try_from(self.pid()).unwrap_or(0)) else {
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
        // Closing the pipe first would make a kill-on-drop anchor kill the
        // group: the caller has either done that already or wants the
        // members left running, so the anchor is ended first, alone.
        self.process.end();
    }
}
