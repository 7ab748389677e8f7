//! A started process: [`Child`], shaped like [`std::process::Child`].

use std::fmt;
use std::io::{self, Read};
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
use std::time::{Duration, Instant};

use crate::sys;

/// A process started by [`Command`](crate::Command), like
/// [`std::process::Child`]: its pipes are std's `ChildStdin`, `ChildStdout`
/// and `ChildStderr`, its status std's `ExitStatus`.
///
/// Dropping a `Child` neither waits for the process nor kills it (a process
/// in a kill-on-drop job dies with the job).
///
/// - **Linux**: waiting and killing go through the process's pidfd
///   (`waitid(P_PIDFD)`, `pidfd_send_signal`) where the kernel gives one
///   (5.2 and later), so a reused pid can never be signalled by mistake;
///   `os::linux::ChildExt::pidfd` lends it, for `poll` or an async runtime.
/// - **Windows**: the process handle (`WaitForSingleObject`,
///   `TerminateProcess`).
pub struct Child {
    pub(crate) inner: sys::NativeChild,
    /// The writing end of the child's stdin, if it was [piped](crate::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The reading end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The reading end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
}

/// What the backend returns from a spawn: the process and this side of its
/// pipes.
pub(crate) struct Spawned {
    pub(crate) child: sys::NativeChild,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) stdout: Option<ChildStdout>,
    pub(crate) stderr: Option<ChildStderr>,
}

impl Child {
    pub(crate) fn from_parts(spawned: Spawned) -> Child {
        Child {
            inner: spawned.child,
            stdin: spawned.stdin,
            stdout: spawned.stdout,
            stderr: spawned.stderr,
        }
    }

    /// The process id. After the process was reaped (a `wait` returned) the
    /// number may belong to another process.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Waits for the process to exit and returns its status; the stdin pipe
    /// is closed first, as std does, so a child reading it sees its end.
    /// Once reaped, the same status is returned again.
    ///
    /// # Errors
    ///
    /// The error of `waitid` (Linux) or `WaitForSingleObject` (Windows).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.inner
            .wait(None)?
            .ok_or_else(|| io::Error::other("wait ended early"))
    }

    /// The status if the process has exited, `None` if it still runs;
    /// never blocks.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Child::wait).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Waits at most `timeout` for the process to exit: its status, or `None`
    /// if it still runs then. Unlike [`wait`](Child::wait), stdin stays open.
    ///
    /// Linux: `poll` on the pidfd (or, without one, `try_wait` at growing
    /// intervals up to 20 ms). Windows: `WaitForSingleObject`.
    ///
    /// # Errors
    ///
    /// As for [`wait`](Child::wait).
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        // A timeout too far away to represent waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        match deadline {
            Some(deadline) => self.inner.wait(Some(deadline)),
            None => self.inner.wait(None),
        }
    }

    /// Kills the process (`SIGKILL`, `TerminateProcess`); `Ok` if it has
    /// already exited. Only this process is killed, not the rest of its job:
    /// for that, [`Job::terminate`](crate::Job::terminate).
    ///
    /// # Errors
    ///
    /// The error of `pidfd_send_signal`/`kill` or `TerminateProcess`, other
    /// than "already exited".
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// Waits for the process and collects what it wrote to its piped stdout
    /// and stderr, reading both at once so that neither pipe can fill and
    /// block the child. Streams that were not piped give empty output.
    ///
    /// # Errors
    ///
    /// An error of reading a pipe or of waiting.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read_both(self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Reads two pipes to their ends at once: stderr on a helper thread, stdout
/// on this one.
fn read_both(
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
) -> io::Result<(Vec<u8>, Vec<u8>)> {
    fn all(mut r: impl Read) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        r.read_to_end(&mut buf)?;
        Ok(buf)
    }
    match (stdout, stderr) {
        (None, None) => Ok((Vec::new(), Vec::new())),
        (Some(out), None) => Ok((all(out)?, Vec::new())),
        (None, Some(err)) => Ok((Vec::new(), all(err)?)),
        (Some(out), Some(err)) => std::thread::scope(|s| {
            let err = s.spawn(move || all(err));
            let out = all(out);
            let err = err
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("stderr reader panicked")));
            Ok((out?, err?))
        }),
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}
