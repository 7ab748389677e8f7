//! winjob's own helper processes: the kill-on-drop guardian (`guardian.rs`)
//! and a process group's anchor (`anchor.rs`), both `/bin/sh` running a
//! script of ours.
//!
//! A helper depends on nothing of the caller's: it starts with an empty
//! environment, in `/` (so that it keeps no directory of the caller's busy),
//! with its error output on `/dev/null`, in a new process group, its standard
//! input the descriptor its owner passes. It is started by winjob's own
//! spawn, which gives a pidfd to watch and to signal it by, and where that
//! is not wired up (other architectures) by std's, which knows it by pid
//! only: then it is never signalled once someone else reaped it (a
//! `waitpid(-1)` elsewhere in the process), when its pid may be another
//! process's.

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt as _;

use rustix::process::{Pid, WaitId, WaitIdOptions, WaitIdStatus};

use super::detect::SHELL;

#[derive(Debug)]
enum Process {
    Native(crate::Child),
    Std(std::process::Child),
}

/// A running helper.
#[derive(Debug)]
pub(crate) struct Helper {
    process: Process,
    pid: u32,
}

impl Helper {
    /// Starts `/bin/sh` with `args` (`-c`, the script, `argv[0]`, its
    /// arguments), `stdin` and `stdout` (`/dev/null` if `None`); `context`
    /// words a failure.
    pub(crate) fn spawn(
        args: &[&str],
        stdin: OwnedFd,
        stdout: Option<OwnedFd>,
        context: impl Fn(io::Error) -> io::Error,
    ) -> io::Result<Helper> {
        let native = {
            use crate::os::linux::CommandExt as _;
            let mut command = crate::Command::new(SHELL);
            command
                .args(args)
                .env_clear()
                .current_dir("/")
                .stdin(crate::Stdio::from(stdin.try_clone()?))
                .stdout(match &stdout {
                    Some(fd) => crate::Stdio::from(fd.try_clone()?),
                    None => crate::Stdio::null(),
                })
                .stderr(crate::Stdio::null())
                .process_group(0);
            command.spawn()
        };
        let process = match native {
            Ok(child) => Process::Native(child),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => Process::Std(
                std::process::Command::new(SHELL)
                    .args(args)
                    .env_clear()
                    .current_dir("/")
                    .stdin(std::process::Stdio::from(stdin))
                    .stdout(stdout.map_or_else(std::process::Stdio::null, Into::into))
                    .stderr(std::process::Stdio::null())
                    .process_group(0)
                    .spawn()
                    .map_err(context)?,
            ),
            Err(e) => return Err(context(e)),
        };
        let pid = match &process {
            Process::Native(child) => child.id(),
            Process::Std(child) => child.id(),
        };
        Ok(Helper { process, pid })
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    /// Its pidfd, if winjob's own spawn started it.
    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        use crate::os::linux::ChildExt as _;
        match &self.process {
            Process::Native(child) => child.pidfd(),
            Process::Std(_) => None,
        }
    }

    /// `waitid(WEXITED | WNOHANG | WNOWAIT)`: `Some` once it has exited,
    /// without reaping it; `ECHILD` once someone has.
    pub(crate) fn peek(&self) -> rustix::io::Result<Option<WaitIdStatus>> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        if let Some(fd) = self.pidfd() {
            match rustix::process::waitid(WaitId::PidFd(fd), options) {
                // `P_PIDFD` is Linux 5.4; pidfds are 5.2.
                Err(rustix::io::Errno::INVAL) => {}
                other => return other,
            }
        }
        match Pid::from_raw(i32::try_from(self.pid).unwrap_or(0)) {
            Some(pid) => rustix::process::waitid(WaitId::Pid(pid), options),
            None => Err(rustix::io::Errno::CHILD),
        }
    }

    /// True once someone other than this `Helper` reaped it.
    pub(crate) fn reaped(&self) -> bool {
        matches!(self.peek(), Err(rustix::io::Errno::CHILD))
    }

    /// Reaps it once it has exited (blocking until then).
    pub(crate) fn reap(&mut self) {
        match &mut self.process {
            Process::Native(child) => drop(child.wait()),
            Process::Std(child) => drop(child.wait()),
        }
    }

    /// Kills it (alone, not its group) and reaps it; not killed once
    /// someone else reaped it (a native `Child` without a pidfd, before
    /// Linux 5.2, kills by pid too).
    pub(crate) fn end(&mut self) {
        let reaped = self.reaped();
        match &mut self.process {
            Process::Native(child) => {
                if !reaped {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
            Process::Std(child) => {
                if !reaped {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
        }
    }
}
