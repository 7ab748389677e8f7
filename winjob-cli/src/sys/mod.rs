//! What `winjob run` does differently on each OS, behind one contract, so
//! that `run.rs` reads the same everywhere:
//!
//! - [`Supervisor::start`], before PROGRAM starts: catches the stop
//!   signals (Unix: `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`; Windows:
//!   Ctrl+C and Ctrl+Break) and turns each into a [`Msg::Interrupt`];
//!   on Linux it also makes winjob the tree's child subreaper, so that
//!   every orphan of the tree is reaped, and counted, here.
//! - [`Supervisor::watch`], once PROGRAM runs: reports its end as one
//!   [`Msg::Exited`] (Linux: reaped on `SIGCHLD` with the orphans; Windows:
//!   a thread in `WaitForSingleObject`).
//! - [`Supervisor::finish`], once the job is empty: reaps what is left and
//!   returns the tree's own usage where the OS keeps one (Linux:
//!   `getrusage(RUSAGE_CHILDREN)`, the figures `time -v` prints).
//!
//! Everything reaches `run.rs` as a [`Msg`] on one channel: it sleeps in
//! `recv` and nothing polls.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use self::unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use self::windows::*;

/// What the main loop of `winjob run` waits for.
#[derive(Debug)]
pub(crate) enum Msg {
    /// PROGRAM ended (or waiting for it failed).
    Exited(io::Result<ExitStatus>),
    /// winjob was asked to stop.
    Interrupt(Interrupt),
    /// An event of the job.
    Event(winjob::Event),
    /// The job is empty (or waiting for that failed).
    JobEmpty(io::Result<()>),
}

/// A stop request winjob received: a signal, or on Windows Ctrl+C (given
/// as `SIGINT`, as the C runtime names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interrupt {
    /// The signal's number, Linux's numbering.
    pub(crate) signal: i32,
}

impl Interrupt {
    /// `SIGINT`, the signal of Ctrl+C.
    pub(crate) const CTRL_C: Interrupt = Interrupt { signal: 2 };

    /// 128 + the signal, as a shell reports a command that it ended.
    pub(crate) fn exit_code(self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(crate::EXIT_FAILURE)
    }

    /// `SIGINT`, `SIGTERM`...
    pub(crate) fn name(self) -> String {
        crate::parse::signal_name(self.signal)
            .map_or_else(|| format!("signal {}", self.signal), |n| format!("SIG{n}"))
    }
}

/// What the OS counted for the processes winjob reaped (and those they
/// reaped), where it keeps such a sum.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TreeUsage {
    pub(crate) user_time: Duration,
    pub(crate) system_time: Duration,
    /// The largest resident set of any one process, bytes.
    pub(crate) max_rss: u64,
    /// File-system blocks read and written (512-byte units).
    pub(crate) block_reads: u64,
    pub(crate) block_writes: u64,
    /// Orphans of the tree that winjob reaped as their subreaper.
    pub(crate) orphans_reaped: u64,
}
