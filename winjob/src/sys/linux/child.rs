//! A process started by winjob's own `Command`: waiting and killing through
//! its pidfd.
//!
//! A pidfd names one process for as long as it is open, so a wait or a kill
//! through it can never reach another process that later got the same pid.
//! Kernels before 5.2 give none (see `spawn/mod.rs`); the child is then
//! waited for and killed by pid, which is safe until it is reaped, as with
//! std: this `Child` only signals a process it has not reaped. Kernels 5.2
//! and 5.3 give pidfds that `waitid` does not take yet (5.4): there the
//! pidfd only kills, and waits go by pid.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions, WaitIdStatus};

/// Set once `waitid(P_PIDFD)` was refused: the kernel (5.2, 5.3) has pidfds
/// but cannot wait on them, nor poll them reliably.
static NO_PIDFD_WAIT: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
pub(crate) struct Child {
    pid: u32,
    pidfd: Option<OwnedFd>,
    /// Set once reaped.
    status: Option<ExitStatus>,
}

impl Child {
    pub(crate) fn new(pid: u32, pidfd: Option<OwnedFd>) -> Child {
        Child {
            pid,
            pidfd,
            status: None,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    pub(crate) fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }

    /// The pidfd, where the kernel can wait on it (5.4 and later: 5.2 and
    /// 5.3 give pidfds that `waitid` refuses with `EINVAL`).
    fn waitable_pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd
            .as_ref()
            .filter(|_| !NO_PIDFD_WAIT.load(Ordering::Relaxed))
            .map(AsFd::as_fd)
    }

    fn waitid(&self, options: WaitIdOptions) -> io::Result<Option<WaitIdStatus>> {
        loop {
            let result = match self.waitable_pidfd() {
                Some(fd) => rustix::process::waitid(WaitId::PidFd(fd), options),
                // By pid: safe, since only this `Child` reaps the process.
                None => {
                    let pid = Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX))
                        .ok_or_else(|| io::Error::other("pid 0"))?;
                    rustix::process::waitid(WaitId::Pid(pid), options)
                }
            };
            match result {
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::INVAL) if self.waitable_pidfd().is_some() => {
                    NO_PIDFD_WAIT.store(true, Ordering::Relaxed);
                }
                other => return other.map_err(io::Error::from),
            }
        }
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.waitid(WaitIdOptions::EXITED | WaitIdOptions::NOHANG)?;
        Ok(status.map(|s| self.reaped(&s)))
    }

    /// Waits until the process has exited, or until `deadline`: the status,
    /// or `None` at the deadline.
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let Some(deadline) = deadline else {
            let status = self.waitid(WaitIdOptions::EXITED)?;
            return match status {
                Some(s) => Ok(Some(self.reaped(&s))),
                None => Err(io::Error::other("waitid returned no status")),
            };
        };
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let left = deadline - now;
            match self.waitable_pidfd() {
                // Readable once the process has exited.
                Some(fd) => {
                    let timeout = rustix::event::Timespec::try_from(left).unwrap_or(
                        rustix::event::Timespec {
                            tv_sec: i64::MAX,
                            tv_nsec: 0,
                        },
                    );
                    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
                    match rustix::event::poll(&mut fds, Some(&timeout)) {
                        Ok(_) | Err(rustix::io::Errno::INTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }

    fn reaped(&mut self, status: &WaitIdStatus) -> ExitStatus {
        // The wait status as `waitpid` gives it, which is what std's
        // `ExitStatus` holds: the code in bits 8–15, or the signal in bits
        // 0–6 with 0x80 for a core dump.
        let raw = if let Some(code) = status.exit_status() {
            (code & 0xff) << 8
        } else {
            let signal = status.terminating_signal().unwrap_or(0) & 0x7f;
            if status.dumped() {
                signal | 0x80
            } else {
                signal
            }
        };
        let status = ExitStatus::from_raw(raw);
        self.status = Some(status);
        status
    }

    pub(crate) fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let sent = match &self.pidfd {
            Some(fd) => rustix::process::pidfd_send_signal(fd, Signal::KILL),
            None => match Pid::from_raw(i32::try_from(self.pid).unwrap_or(i32::MAX)) {
                Some(pid) => rustix::process::kill_process(pid, Signal::KILL),
                None => Ok(()),
            },
        };
        match sent {
            // Exited, not reaped yet: as good as killed.
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
