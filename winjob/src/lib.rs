//! # winjob: a process tree as one unit
//!
//! A **job** is a group of processes managed as one: create a job, start
//! programs in it, and from then on the whole tree — children, grandchildren,
//! anything they start — can be listed, waited for, stopped and killed at once,
//! and surely: by default the tree dies when the [`Job`] is dropped, and also
//! when the owning process crashes or is killed.
//!
//! On Windows a job is a Job Object, and this crate is a complete binding of
//! it. On Linux the same API runs on cgroups (v2 first, v1 where only v1 is
//! writable), with a process-group fallback; [`capabilities()`](capabilities()) says which one is
//! in use and why.
//!
//! ## Start here
//!
//! ```no_run
//! use std::time::Duration;
//! use winjob::{Command, Job, Stopped};
//!
//! // An anonymous job; every process in it dies when `job` is dropped.
//! let job = Job::new()?;
//!
//! // The child is born in the job, before its first instruction runs, and
//! // so is everything it starts. `winjob::Command` is shaped like std's.
//! let mut child = Command::new("cargo").arg("test").spawn_in(&job)?;
//!
//! println!("members: {:?}", job.pids()?);
//!
//! // Ask politely, give the tree five seconds, then kill what is left.
//! match job.stop(Duration::from_secs(5))? {
//!     Stopped::Gracefully => println!("every process exited"),
//!     Stopped::Killed => println!("some processes had to be killed"),
//! }
//! child.wait()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! ## Starting programs
//!
//! [`Command`] and [`Child`] are winjob's own, with std's shapes:
//! [`Command::spawn_in`] creates the process inside the job, at the cost of a
//! plain spawn (Linux: `clone3` into the job's cgroup, nothing of the
//! caller's memory copied). [`Job::spawn`] takes a `std::process::Command`
//! for code that has one, at a cost that grows with the caller's memory on
//! Linux (std must `fork`).
//!
//! ## Errors
//!
//! Every fallible call returns [`std::io::Result`]. Bad input is refused with
//! [`ErrorKind::InvalidInput`](std::io::ErrorKind::InvalidInput) before any
//! system call, with a message that names the argument and what is accepted.
//! Something this system cannot do is
//! [`ErrorKind::Unsupported`](std::io::ErrorKind::Unsupported), naming what is
//! missing. Nothing in this crate panics on input.
//!
//! ## Operating-system specifics
//!
//! - `os::windows` (on Windows): breakaway, security descriptors, access
//!   rights, handles, creation flags.
//! - `os::linux` (on Linux): the mode, the cgroup directory and its file
//!   descriptor, the process group.

mod accounting;
mod capabilities;
mod child;
mod command;
mod error;
mod event;
mod job;
mod limits;
pub mod os;
mod process;
mod sys;
mod validate;

pub use crate::accounting::Accounting;
pub use crate::capabilities::{Capabilities, LimitSupport, Mode, capabilities};
pub use crate::child::Child;
pub use crate::command::{Command, Stdio};
pub use crate::event::{Event, Events, ProcessExit, QUEUE_CAP};
pub use crate::job::{Job, JobBuilder, Stopped};
pub use crate::limits::{CpuRate, CpuSet, CpuWeight, Limits, MAX_CPU, MIN_MEMORY_LIMIT, Priority};
pub use crate::process::ProcessInfo;
pub use crate::validate::MAX_NAME_LEN;
