//! Windows-specific parts of a job: breakaway, security, access rights,
//! handles, creation flags.
//!
//! ```no_run
//! use winjob::os::windows::{Breakaway, JobBuilderExt};
//!
//! let job = winjob::Job::builder()
//!     .name(r"Local\my-build")
//!     .security_descriptor("D:P(A;;GA;;;OW)") // only the owner may open it
//!     .breakaway(Breakaway::Allowed)
//!     .create()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::ops::{BitOr, BitOrAssign};
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle, RawHandle};
use std::process::{Child, Command};

use crate::os::sealed::Sealed;
use crate::{Job, JobBuilder, validate};

/// Whether processes in the job may start children outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Breakaway {
    /// Every child is in the job; `CreateProcess` with
    /// `CREATE_BREAKAWAY_FROM_JOB` fails with `ERROR_ACCESS_DENIED`. The default.
    #[default]
    Never,
    /// A child created with `CREATE_BREAKAWAY_FROM_JOB` is not in the job;
    /// others are. `JOB_OBJECT_LIMIT_BREAKAWAY_OK`.
    #[doc(alias = "JOB_OBJECT_LIMIT_BREAKAWAY_OK")]
    Allowed,
    /// No child is in the job, whatever its flags: only processes spawned or
    /// assigned through the job are. `JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK`.
    #[doc(alias = "JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK")]
    Silent,
}

/// Access rights asked for when opening a job with [`open_with_access`].
///
/// Combine with `|`: `JobAccess::QUERY | JobAccess::TERMINATE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobAccess(u32);

impl JobAccess {
    /// `JOB_OBJECT_ASSIGN_PROCESS`: assign processes (and spawn into the job).
    pub const ASSIGN_PROCESS: JobAccess = JobAccess(0x0001);
    /// `JOB_OBJECT_SET_ATTRIBUTES`: set limits.
    pub const SET_ATTRIBUTES: JobAccess = JobAccess(0x0002);
    /// `JOB_OBJECT_QUERY`: list members, query accounting and limits, test
    /// membership.
    pub const QUERY: JobAccess = JobAccess(0x0004);
    /// `JOB_OBJECT_TERMINATE`: terminate every process.
    pub const TERMINATE: JobAccess = JobAccess(0x0008);
    /// `SYNCHRONIZE`: wait on the job handle.
    pub const SYNCHRONIZE: JobAccess = JobAccess(0x0010_0000);
    /// `JOB_OBJECT_ALL_ACCESS` (`0x1F001F`): every right.
    pub const ALL: JobAccess = JobAccess(0x001F_001F);

    /// The raw access mask.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// An access mask from raw bits, for rights this type has no name for.
    pub fn from_bits(bits: u32) -> JobAccess {
        JobAccess(bits)
    }
}

impl BitOr for JobAccess {
    type Output = JobAccess;
    fn bitor(self, rhs: JobAccess) -> JobAccess {
        JobAccess(self.0 | rhs.0)
    }
}

impl BitOrAssign for JobAccess {
    fn bitor_assign(&mut self, rhs: JobAccess) {
        self.0 |= rhs.0;
    }
}

/// Windows settings of a [`JobBuilder`].
pub trait JobBuilderExt: Sealed {
    /// Whether processes in the job may start children outside it. Default
    /// [`Breakaway::Never`].
    fn breakaway(&mut self, breakaway: Breakaway) -> &mut Self;

    /// The security descriptor of the job object, in SDDL (for example
    /// `"D:P(A;;GA;;;OW)"`: only the owner may open it). Converted with
    /// `ConvertStringSecurityDescriptorToSecurityDescriptorW`; an invalid string
    /// makes [`JobBuilder::create`] fail with `InvalidInput`.
    #[doc(alias = "SECURITY_ATTRIBUTES")]
    fn security_descriptor(&mut self, sddl: impl Into<String>) -> &mut Self;

    /// Whether the job handle is inherited by child processes started with
    /// handle inheritance. Off by default, and best left off: a child holding
    /// the handle keeps a kill-on-close job open while it lives.
    fn inheritable_handle(&mut self, inheritable: bool) -> &mut Self;

    /// Whether [`Job::spawn`] starts each child in a new console process group
    /// (`CREATE_NEW_PROCESS_GROUP`), so that [`Job::stop`] can send it
    /// `CTRL_BREAK_EVENT`. On by default. Such a child ignores `CTRL_C` from
    /// the console until it calls `SetConsoleCtrlHandler(NULL, FALSE)`.
    fn new_process_groups(&mut self, new_groups: bool) -> &mut Self;
}

impl JobBuilderExt for JobBuilder {
    fn breakaway(&mut self, breakaway: Breakaway) -> &mut Self {
        self.sys.breakaway = breakaway;
        self
    }

    fn security_descriptor(&mut self, sddl: impl Into<String>) -> &mut Self {
        self.sys.security_descriptor = Some(sddl.into());
        self
    }

    fn inheritable_handle(&mut self, inheritable: bool) -> &mut Self {
        self.sys.inheritable = inheritable;
        self
    }

    fn new_process_groups(&mut self, new_groups: bool) -> &mut Self {
        self.sys.new_process_groups = new_groups;
        self
    }
}

/// Windows operations on a [`Job`].
pub trait JobExt: Sealed {
    /// Like [`Job::spawn`], with the caller's process creation flags (which
    /// `Job::spawn` cannot read from the `Command`). `CREATE_SUSPENDED` is
    /// added; if the caller's flags already contain it, the child is left
    /// suspended (and in the job) for the caller to resume. No new process
    /// group is added: include `CREATE_NEW_PROCESS_GROUP` (`0x200`) for
    /// [`Job::stop`] to reach the child with `CTRL_BREAK`.
    ///
    /// Afterwards the command's creation flags are `creation_flags` (without
    /// the added `CREATE_SUSPENDED`), so spawning it again elsewhere runs.
    ///
    /// # Errors
    ///
    /// As [`Job::spawn`].
    fn spawn_with_flags(&self, command: &mut Command, creation_flags: u32) -> io::Result<Child>;

    /// Assigns the process behind `process` (which needs
    /// `PROCESS_SET_QUOTA | PROCESS_TERMINATE` access) to the job.
    #[doc(alias = "AssignProcessToJobObject")]
    fn assign_handle(&self, process: BorrowedHandle<'_>) -> io::Result<()>;

    /// `IsProcessInJob(process, job)`.
    #[doc(alias = "IsProcessInJob")]
    fn contains_handle(&self, process: BorrowedHandle<'_>) -> io::Result<bool>;
}

impl JobExt for Job {
    fn spawn_with_flags(&self, command: &mut Command, creation_flags: u32) -> io::Result<Child> {
        self.inner.spawn_with_flags(command, creation_flags)
    }

    fn assign_handle(&self, process: BorrowedHandle<'_>) -> io::Result<()> {
        self.inner.assign_handle(process)
    }

    fn contains_handle(&self, process: BorrowedHandle<'_>) -> io::Result<bool> {
        self.inner.contains_handle(process)
    }
}

/// Opens an existing named job with only the access rights asked for
/// (`OpenJobObjectW(access, FALSE, name)`).
///
/// # Errors
///
/// As [`Job::open`]; an operation the handle has no right for fails later with
/// `PermissionDenied`.
#[doc(alias = "OpenJobObjectW")]
pub fn open_with_access(name: &str, access: JobAccess) -> io::Result<Job> {
    validate::job_name(name)?;
    Ok(Job {
        inner: crate::sys::Job::open_with_access(name, access.bits())?,
    })
}

/// True if `process` is in any job at all: `IsProcessInJob(process, NULL)`.
#[doc(alias = "IsProcessInJob")]
pub fn is_process_in_any_job(process: BorrowedHandle<'_>) -> io::Result<bool> {
    crate::sys::is_process_in_any_job(process)
}

/// True if the calling process is in any job.
pub fn is_current_process_in_any_job() -> io::Result<bool> {
    crate::sys::is_current_process_in_any_job()
}

impl AsHandle for Job {
    /// The job object handle, for Win32 calls this crate does not wrap.
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.inner.as_handle()
    }
}

impl AsRawHandle for Job {
    fn as_raw_handle(&self) -> RawHandle {
        self.inner.as_handle().as_raw_handle()
    }
}

impl From<Job> for OwnedHandle {
    /// Gives up the `Job` and returns its handle. The job's notification
    /// thread is stopped; the handle keeps every limit, including
    /// kill-on-close, which now fires when this handle is closed.
    fn from(job: Job) -> OwnedHandle {
        job.inner.into_handle()
    }
}
