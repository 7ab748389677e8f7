//! Windows-specific parts of a job: breakaway, security, access rights,
//! handles, creation flags, and every Windows limit.
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
use crate::{CpuSet, Job, JobBuilder, validate};

pub(crate) mod limits;

pub use self::limits::{
    Breakaway, CpuRateControl, Crossed, EndOfJobTimeAction, ExtendedLimits, ForceUnitAccess,
    GroupAffinity, IoRateControl, LimitViolation, MIN_NOTIFICATION_MEMORY, NetRateControl,
    NotificationLimits, PriorityClass, RateTolerance, SchedulingClass, Tolerance,
    ToleranceInterval, UiRestrictions, WorkingSet,
};

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

    // -- Limits. Each setter writes one class in one call, whole; each getter
    // -- asks the job. See the module documentation of `limits`.

    /// Sets `JobObjectExtendedLimitInformation` to `limits`, every flag and
    /// value at once. A field left at its default lifts that limit; this
    /// includes `kill_on_close` and `breakaway` (see
    /// [`JobExt::update_extended_limits`] to change one field only). A job
    /// time limit equal to the one in force keeps its clock
    /// (`JOB_OBJECT_LIMIT_PRESERVE_JOB_TIME`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` (see [`ExtendedLimits::validate`], and a memory limit or
    /// CPU beyond what a 32-bit process can express) before any system call;
    /// otherwise the OS error. On error the job keeps its limits.
    #[doc(alias = "SetInformationJobObject")]
    #[doc(alias = "JobObjectExtendedLimitInformation")]
    fn set_extended_limits(&self, limits: &ExtendedLimits) -> io::Result<()>;

    /// Changes some of the extended limits: `update` edits this process's copy
    /// of the job's extended limits (what it last set — never a query of the
    /// job), and the result is set in one call. Lifting one limit:
    /// `job.update_extended_limits(|l| l.job_memory = None)`.
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_extended_limits`].
    fn update_extended_limits(&self, update: impl FnOnce(&mut ExtendedLimits)) -> io::Result<()>;

    /// Lifts every extended limit, keeping `kill_on_close` and `breakaway`.
    ///
    /// # Errors
    ///
    /// The OS error.
    fn reset_extended_limits(&self) -> io::Result<()>;

    /// The extended limits in force, from
    /// `QueryInformationJobObject(JobObjectExtendedLimitInformation)`. (Wine
    /// answers with zeros: no limit.)
    ///
    /// # Errors
    ///
    /// The OS error; `InvalidData` for an answer no [`ExtendedLimits`] can
    /// hold.
    #[doc(alias = "QueryInformationJobObject")]
    fn extended_limits(&self) -> io::Result<ExtendedLimits>;

    /// Sets `JobObjectBasicUIRestrictions`; [`UiRestrictions::new`] lifts them.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the system does not know the class; otherwise the OS
    /// error.
    #[doc(alias = "JobObjectBasicUIRestrictions")]
    fn set_ui_restrictions(&self, restrictions: UiRestrictions) -> io::Result<()>;

    /// The UI restrictions in force.
    ///
    /// # Errors
    ///
    /// `Unsupported` under Wine, which cannot answer; otherwise the OS error.
    fn ui_restrictions(&self) -> io::Result<UiRestrictions>;

    /// Sets `JobObjectCpuRateControlInformation` (Windows 8).
    ///
    /// # Errors
    ///
    /// `InvalidInput` (see [`CpuRateControl::validate`]) before any call;
    /// `Unsupported` before Windows 8 and under Wine (error 87), or for a
    /// mode this Windows lacks (min/max before Windows 10); otherwise the OS
    /// error.
    #[doc(alias = "JobObjectCpuRateControlInformation")]
    fn set_cpu_rate_control(&self, control: CpuRateControl) -> io::Result<()>;

    /// Turns CPU rate control off (`ControlFlags` 0).
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_cpu_rate_control`].
    fn reset_cpu_rate_control(&self) -> io::Result<()>;

    /// The CPU rate control in force; `None` when off.
    ///
    /// # Errors
    ///
    /// `Unsupported` where the class is unknown; otherwise the OS error.
    fn cpu_rate_control(&self) -> io::Result<Option<CpuRateControl>>;

    /// Sets `JobObjectNetRateControlInformation` (Windows 10 1607); an empty
    /// [`NetRateControl`] turns it off.
    ///
    /// # Errors
    ///
    /// `InvalidInput` (see [`NetRateControl::validate`]) before any call;
    /// `Unsupported` before Windows 10 1607 and under Wine; otherwise the OS
    /// error.
    #[doc(alias = "JobObjectNetRateControlInformation")]
    fn set_net_rate_control(&self, control: NetRateControl) -> io::Result<()>;

    /// The network rate control in force.
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_net_rate_control`].
    fn net_rate_control(&self) -> io::Result<NetRateControl>;

    /// `SetIoRateControlInformationJobObject` (Windows 10; **deprecated**:
    /// documented as unsupported from Windows 10 1607). A value without
    /// limits turns I/O rate control off for its volume.
    ///
    /// # Errors
    ///
    /// `InvalidInput` (see [`IoRateControl::validate`]) before any call;
    /// `Unsupported` where kernel32 lacks the function (Wine) or refuses it;
    /// otherwise the OS error (`PermissionDenied` without the rights it
    /// needs).
    #[doc(alias = "SetIoRateControlInformationJobObject")]
    fn set_io_rate_control(&self, control: &IoRateControl) -> io::Result<()>;

    /// `QueryIoRateControlInformationJobObject(job, NULL)`: the I/O rate
    /// control of every volume that has one.
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_io_rate_control`].
    #[doc(alias = "QueryIoRateControlInformationJobObject")]
    fn io_rate_control(&self) -> io::Result<Vec<IoRateControl>>;

    /// Sets `JobObjectEndOfJobTimeInformation`: what happens when the job
    /// time limit is reached.
    ///
    /// # Errors
    ///
    /// `Unsupported` under Wine (error 1); otherwise the OS error.
    #[doc(alias = "JobObjectEndOfJobTimeInformation")]
    fn set_end_of_job_time_action(&self, action: EndOfJobTimeAction) -> io::Result<()>;

    /// The end-of-job-time action in force.
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_end_of_job_time_action`].
    fn end_of_job_time_action(&self) -> io::Result<EndOfJobTimeAction>;

    /// Sets the notification limits (`JobObjectNotificationLimitInformation2`,
    /// or `JobObjectNotificationLimitInformation` where the system lacks
    /// version 2 and `limits` fits version 1). An empty value lifts them.
    ///
    /// # Errors
    ///
    /// `InvalidInput` (see [`NotificationLimits::validate`]) before any call;
    /// `Unsupported` before Windows 8, under Wine, or for a version-2 field
    /// before Windows 10 1607; otherwise the OS error.
    #[doc(alias = "JobObjectNotificationLimitInformation")]
    #[doc(alias = "JobObjectNotificationLimitInformation2")]
    fn set_notification_limits(&self, limits: &NotificationLimits) -> io::Result<()>;

    /// The notification limits in force.
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_notification_limits`].
    fn notification_limits(&self) -> io::Result<NotificationLimits>;

    /// Which notification limits the job has crossed, with the values
    /// (`JobObjectLimitViolationInformation2`, or version 1). Ask after the
    /// job got `JOB_OBJECT_MSG_NOTIFICATION_LIMIT`.
    ///
    /// # Errors
    ///
    /// `Unsupported` before Windows 8 and under Wine; otherwise the OS error.
    #[doc(alias = "JobObjectLimitViolationInformation")]
    #[doc(alias = "JobObjectLimitViolationInformation2")]
    fn limit_violation(&self) -> io::Result<LimitViolation>;

    /// Sets `JobObjectGroupInformationEx` (Windows 7): the CPUs of each
    /// processor group the job's processes may run on.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty list, an empty mask or a group named twice;
    /// `Unsupported` under Wine; otherwise the OS error (a group the machine
    /// does not have is `InvalidInput` from Windows).
    #[doc(alias = "JobObjectGroupInformationEx")]
    fn set_group_affinity(&self, groups: &[GroupAffinity]) -> io::Result<()>;

    /// The group affinity in force.
    ///
    /// # Errors
    ///
    /// As [`JobExt::set_group_affinity`].
    fn group_affinity(&self) -> io::Result<Vec<GroupAffinity>>;
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

    fn set_extended_limits(&self, limits: &ExtendedLimits) -> io::Result<()> {
        self.inner.set_extended_limits(limits)
    }

    fn update_extended_limits(&self, update: impl FnOnce(&mut ExtendedLimits)) -> io::Result<()> {
        self.inner.update_extended_limits(update)
    }

    fn reset_extended_limits(&self) -> io::Result<()> {
        self.inner.reset_extended_limits()
    }

    fn extended_limits(&self) -> io::Result<ExtendedLimits> {
        self.inner.extended_limits()
    }

    fn set_ui_restrictions(&self, restrictions: UiRestrictions) -> io::Result<()> {
        self.inner.set_ui_restrictions(restrictions)
    }

    fn ui_restrictions(&self) -> io::Result<UiRestrictions> {
        self.inner.ui_restrictions()
    }

    fn set_cpu_rate_control(&self, control: CpuRateControl) -> io::Result<()> {
        self.inner.set_cpu_rate_control(Some(control))
    }

    fn reset_cpu_rate_control(&self) -> io::Result<()> {
        self.inner.set_cpu_rate_control(None)
    }

    fn cpu_rate_control(&self) -> io::Result<Option<CpuRateControl>> {
        self.inner.cpu_rate_control()
    }

    fn set_net_rate_control(&self, control: NetRateControl) -> io::Result<()> {
        self.inner.set_net_rate_control(control)
    }

    fn net_rate_control(&self) -> io::Result<NetRateControl> {
        self.inner.net_rate_control()
    }

    fn set_io_rate_control(&self, control: &IoRateControl) -> io::Result<()> {
        self.inner.set_io_rate_control(control)
    }

    fn io_rate_control(&self) -> io::Result<Vec<IoRateControl>> {
        self.inner.io_rate_control()
    }

    fn set_end_of_job_time_action(&self, action: EndOfJobTimeAction) -> io::Result<()> {
        self.inner.set_end_of_job_time_action(action)
    }

    fn end_of_job_time_action(&self) -> io::Result<EndOfJobTimeAction> {
        self.inner.end_of_job_time_action()
    }

    fn set_notification_limits(&self, limits: &NotificationLimits) -> io::Result<()> {
        self.inner.set_notification_limits(limits)
    }

    fn notification_limits(&self) -> io::Result<NotificationLimits> {
        self.inner.notification_limits()
    }

    fn limit_violation(&self) -> io::Result<LimitViolation> {
        self.inner.limit_violation()
    }

    fn set_group_affinity(&self, groups: &[GroupAffinity]) -> io::Result<()> {
        self.inner.set_group_affinity(groups)
    }

    fn group_affinity(&self) -> io::Result<Vec<GroupAffinity>> {
        self.inner.group_affinity()
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

/// The priority class the calling process runs at (`GetPriorityClass`): in a
/// job with `JOB_OBJECT_LIMIT_PRIORITY_CLASS`, the job's.
///
/// # Errors
///
/// The OS error; `InvalidData` for a class this crate does not know.
#[doc(alias = "GetPriorityClass")]
pub fn current_priority_class() -> io::Result<PriorityClass> {
    crate::sys::current_priority_class()
}

/// The CPUs of its processor group the calling process may run on
/// (`GetProcessAffinityMask`): in a job with `JOB_OBJECT_LIMIT_AFFINITY`, the
/// job's.
///
/// # Errors
///
/// The OS error.
#[doc(alias = "GetProcessAffinityMask")]
pub fn current_affinity() -> io::Result<CpuSet> {
    crate::sys::current_affinity()
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

/// Windows settings of a [`Command`](crate::Command), as std's
/// `std::os::windows::process::CommandExt` has them.
pub trait CommandExt: Sealed {
    /// Adds `arg` to the command line as it is, without quoting: for
    /// programs that parse their command line in their own way (`cmd.exe
    /// /c`, `msiexec`).
    fn raw_arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self;

    /// `dwCreationFlags` of `CreateProcessW` (`CREATE_NO_WINDOW`,
    /// `CREATE_NEW_CONSOLE`, priority classes, …); the job adds its own
    /// (`CREATE_SUSPENDED` while it assigns, `CREATE_NEW_PROCESS_GROUP`
    /// unless the builder turned that off). With `CREATE_SUSPENDED` here the
    /// child stays suspended, in the job, for the caller to resume.
    fn creation_flags(&mut self, flags: u32) -> &mut Self;
}

impl CommandExt for crate::Command {
    fn raw_arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.args
            .push(crate::command::Arg::Raw(arg.as_ref().to_owned()));
        self
    }

    fn creation_flags(&mut self, flags: u32) -> &mut Self {
        self.os.creation_flags = flags;
        self
    }
}

/// Windows parts of a [`Child`](crate::Child).
pub trait ChildExt: Sealed {
    /// The handle of the child's main thread (from `CreateProcessW`), which
    /// std's `Child` does not give on stable Rust: to resume a child created
    /// with `CREATE_SUSPENDED`, for instance.
    fn main_thread_handle(&self) -> BorrowedHandle<'_>;
}

impl ChildExt for crate::Child {
    fn main_thread_handle(&self) -> BorrowedHandle<'_> {
        self.inner.main_thread()
    }
}

/// The child's process handle (`PROCESS_ALL_ACCESS`), for
/// `WaitForSingleObject`, `GetExitCodeProcess` and calls this crate does not
/// wrap.
impl std::os::windows::io::AsHandle for crate::Child {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.inner.handle()
    }
}
