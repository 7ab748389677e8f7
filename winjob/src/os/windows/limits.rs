//! The Windows limits of a job, one typed value per information class of
//! `SetInformationJobObject`, with the checks that run before any system call.
//!
//! Pure data: nothing here talks to the OS. The values are applied and read
//! back through [`JobExt`](super::JobExt); the backend encodes them into the
//! `JOBOBJECT_*` structures (`sys/windows/info.rs`).
//!
//! Each value is set in **one** call, whole: what you pass is what the job
//! gets, and a field left at its default lifts that limit. Nothing is ever
//! read from the job, modified and written back.
//!
//! This file is also compiled on non-Windows hosts for the unit tests of the
//! encoding, so it names nothing outside this crate's portable modules.

use std::io;
use std::time::Duration;

use crate::error::invalid_input;
use crate::limits::check_cpu_time;
use crate::{CpuRate, CpuSet, CpuWeight, MIN_MEMORY_LIMIT, Priority};

/// The smallest notification memory limit Windows accepts: one page (4096
/// bytes), the documented minimum of `JobLowMemoryLimit`.
pub const MIN_NOTIFICATION_MEMORY: u64 = 4096;

/// Whether processes in the job may start children outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Breakaway {
    /// Every child is in the job; `CreateProcess` with
    /// `CREATE_BREAKAWAY_FROM_JOB` fails with `ERROR_ACCESS_DENIED`. The default.
    #[default]
    Never,
    /// A child created with `CREATE_BREAKAWAY_FROM_JOB` is not in the job;
    /// others are. `JOB_OBJECT_LIMIT_BREAKAWAY_OK` (Windows 2000).
    #[doc(alias = "JOB_OBJECT_LIMIT_BREAKAWAY_OK")]
    Allowed,
    /// No child is in the job, whatever its flags: only processes spawned or
    /// assigned through the job are. `JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK`
    /// (Windows 2000).
    #[doc(alias = "JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK")]
    Silent,
}

/// A Windows priority class, as `JOB_OBJECT_LIMIT_PRIORITY_CLASS` imposes it
/// on every process of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriorityClass {
    /// `IDLE_PRIORITY_CLASS`.
    #[doc(alias = "IDLE_PRIORITY_CLASS")]
    Idle,
    /// `BELOW_NORMAL_PRIORITY_CLASS`.
    #[doc(alias = "BELOW_NORMAL_PRIORITY_CLASS")]
    BelowNormal,
    /// `NORMAL_PRIORITY_CLASS`.
    #[doc(alias = "NORMAL_PRIORITY_CLASS")]
    Normal,
    /// `ABOVE_NORMAL_PRIORITY_CLASS`.
    #[doc(alias = "ABOVE_NORMAL_PRIORITY_CLASS")]
    AboveNormal,
    /// `HIGH_PRIORITY_CLASS`.
    #[doc(alias = "HIGH_PRIORITY_CLASS")]
    High,
    /// `REALTIME_PRIORITY_CLASS`. A process without
    /// `SeIncreaseBasePriorityPrivilege` gets `High` instead; the portable
    /// [`Limits::priority`](crate::Limits::priority) reads it back as
    /// [`Priority::High`].
    #[doc(alias = "REALTIME_PRIORITY_CLASS")]
    Realtime,
}

impl From<Priority> for PriorityClass {
    fn from(priority: Priority) -> PriorityClass {
        match priority {
            Priority::Idle => PriorityClass::Idle,
            Priority::BelowNormal => PriorityClass::BelowNormal,
            Priority::Normal => PriorityClass::Normal,
            Priority::AboveNormal => PriorityClass::AboveNormal,
            Priority::High => PriorityClass::High,
        }
    }
}

impl From<PriorityClass> for Priority {
    /// `Realtime` has no portable counterpart and becomes `High`.
    fn from(class: PriorityClass) -> Priority {
        match class {
            PriorityClass::Idle => Priority::Idle,
            PriorityClass::BelowNormal => Priority::BelowNormal,
            PriorityClass::Normal => Priority::Normal,
            PriorityClass::AboveNormal => Priority::AboveNormal,
            PriorityClass::High | PriorityClass::Realtime => Priority::High,
        }
    }
}

/// The scheduling class of the job's processes, 0 to 9 (5 is the default):
/// within one priority class, a higher class gets longer time slices.
/// `JOB_OBJECT_LIMIT_SCHEDULING_CLASS` (Windows 2000). Classes above 5 need
/// `SeIncreaseBasePriorityPrivilege`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchedulingClass(u8);

impl SchedulingClass {
    /// The class every process has unless told otherwise.
    pub const DEFAULT: SchedulingClass = SchedulingClass(5);

    /// Class `class`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above 9.
    pub fn new(class: u8) -> io::Result<SchedulingClass> {
        if class > 9 {
            return Err(invalid_input(format!(
                "scheduling_class {class} is out of range; 0 to 9 is accepted (5 is the default)"
            )));
        }
        Ok(SchedulingClass(class))
    }

    /// The class, 0 to 9.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for SchedulingClass {
    fn default() -> SchedulingClass {
        SchedulingClass::DEFAULT
    }
}

/// The minimum and maximum working set of each process, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WorkingSet {
    /// `MinimumWorkingSetSize`: at least 1, at most `max`.
    pub min: u64,
    /// `MaximumWorkingSetSize`.
    pub max: u64,
}

/// `JobObjectExtendedLimitInformation` (`JOBOBJECT_EXTENDED_LIMIT_INFORMATION`,
/// which holds `JOBOBJECT_BASIC_LIMIT_INFORMATION`): every
/// `JOB_OBJECT_LIMIT_*` flag of the basic and extended limits, with its value.
/// `None` or `false` means the flag is not set.
///
/// The portable [`Limits`](crate::Limits) write this same class: its memory,
/// process count, CPU times, priority and affinity are the fields of the same
/// names here, and [`Job::set_limits`](crate::Job::set_limits) keeps the
/// others (kill-on-close, breakaway, working set, …) as they were.
#[doc(alias = "JOBOBJECT_EXTENDED_LIMIT_INFORMATION")]
#[doc(alias = "JOBOBJECT_BASIC_LIMIT_INFORMATION")]
#[doc(alias = "JobObjectExtendedLimitInformation")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ExtendedLimits {
    /// `JOB_OBJECT_LIMIT_WORKINGSET` (Windows 2000): each process's working
    /// set is kept between `min` and `max`; pages above `max` are trimmed
    /// (the process keeps running, slower).
    #[doc(alias = "JOB_OBJECT_LIMIT_WORKINGSET")]
    pub working_set: Option<WorkingSet>,
    /// `JOB_OBJECT_LIMIT_PROCESS_TIME` (`PerProcessUserTimeLimit`, Windows
    /// 2000): a process that has used this much user-mode CPU time is
    /// terminated, and the job gets `JOB_OBJECT_MSG_END_OF_PROCESS_TIME`.
    #[doc(alias = "JOB_OBJECT_LIMIT_PROCESS_TIME")]
    pub process_time: Option<Duration>,
    /// `JOB_OBJECT_LIMIT_JOB_TIME` (`PerJobUserTimeLimit`, Windows 2000): once
    /// the job's processes have used this much user-mode CPU time together,
    /// the end-of-job-time action runs (by default every process is
    /// terminated; see [`EndOfJobTimeAction`]).
    ///
    /// Windows counts the limit from the time the job has already used when
    /// it is set. Writing this class again with the same value sends
    /// `JOB_OBJECT_LIMIT_PRESERVE_JOB_TIME` instead, so changing another limit
    /// never restarts the clock; a different value starts it again.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_TIME")]
    #[doc(alias = "JOB_OBJECT_LIMIT_PRESERVE_JOB_TIME")]
    pub job_time: Option<Duration>,
    /// `JOB_OBJECT_LIMIT_ACTIVE_PROCESS` (Windows 2000): a process that would
    /// be one too many is terminated as it starts (its creation or assignment
    /// fails) and the job gets `JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT`.
    #[doc(alias = "JOB_OBJECT_LIMIT_ACTIVE_PROCESS")]
    pub active_processes: Option<u32>,
    /// `JOB_OBJECT_LIMIT_AFFINITY` (Windows 2000): every process runs only on
    /// these CPUs of its processor group (CPUs 0–63; 0–31 for a 32-bit
    /// process). More CPUs: [`JobExt::set_group_affinity`](super::JobExt::set_group_affinity).
    #[doc(alias = "JOB_OBJECT_LIMIT_AFFINITY")]
    pub affinity: Option<CpuSet>,
    /// `JOB_OBJECT_LIMIT_SUBSET_AFFINITY` (Windows 7): processes may narrow
    /// their own affinity to a subset of [`affinity`](Self::affinity), which
    /// must be set.
    #[doc(alias = "JOB_OBJECT_LIMIT_SUBSET_AFFINITY")]
    pub subset_affinity: bool,
    /// `JOB_OBJECT_LIMIT_PRIORITY_CLASS` (Windows 2000): every process runs at
    /// this class; a process's own `SetPriorityClass` has no effect.
    #[doc(alias = "JOB_OBJECT_LIMIT_PRIORITY_CLASS")]
    pub priority_class: Option<PriorityClass>,
    /// `JOB_OBJECT_LIMIT_SCHEDULING_CLASS` (Windows 2000).
    #[doc(alias = "JOB_OBJECT_LIMIT_SCHEDULING_CLASS")]
    pub scheduling_class: Option<SchedulingClass>,
    /// `JOB_OBJECT_LIMIT_PROCESS_MEMORY` (`ProcessMemoryLimit`, Windows 2000):
    /// the committed memory of each process, in bytes. An allocation that
    /// would cross it fails, and the job gets
    /// `JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT`. At least
    /// [`MIN_MEMORY_LIMIT`](crate::MIN_MEMORY_LIMIT); at most `usize::MAX` in
    /// a 32-bit process.
    #[doc(alias = "JOB_OBJECT_LIMIT_PROCESS_MEMORY")]
    pub process_memory: Option<u64>,
    /// `JOB_OBJECT_LIMIT_JOB_MEMORY` (`JobMemoryLimit`, Windows 2000): the
    /// committed memory of the whole job, in bytes. An allocation that would
    /// cross it fails, and the job gets `JOB_OBJECT_MSG_JOB_MEMORY_LIMIT`.
    /// Bounds as for `process_memory`.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_MEMORY")]
    pub job_memory: Option<u64>,
    /// `JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION` (Windows 2000): a process
    /// with an unhandled exception dies at once, without the error-reporting
    /// dialog or a debugger.
    #[doc(alias = "JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION")]
    pub die_on_unhandled_exception: bool,
    /// `JOB_OBJECT_LIMIT_BREAKAWAY_OK` / `JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK`.
    pub breakaway: Breakaway,
    /// `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` (Windows 2000): every process is
    /// terminated when the last handle to the job closes. A job created with
    /// kill-on-drop (the default) has it; turning it off here makes
    /// [`Job::kills_on_drop`](crate::Job::kills_on_drop) false.
    #[doc(alias = "JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE")]
    pub kill_on_close: bool,
}

impl ExtendedLimits {
    /// No limit, no flag.
    pub fn new() -> ExtendedLimits {
        ExtendedLimits::default()
    }

    /// Checks every field, and their combination, without any system call.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the first field out of range: a working set of 0
    /// or with `min` above `max`, a CPU time below 100 ns, zero processes, an
    /// empty CPU set or one beyond CPU 63, subset affinity without affinity, a
    /// memory limit below [`MIN_MEMORY_LIMIT`](crate::MIN_MEMORY_LIMIT).
    pub fn validate(&self) -> io::Result<()> {
        if let Some(WorkingSet { min, max }) = self.working_set {
            if min == 0 || max == 0 {
                return Err(invalid_input(format!(
                    "working_set min {min} / max {max}: both must be at least 1 byte"
                )));
            }
            if min > max {
                return Err(invalid_input(format!(
                    "working_set min of {min} bytes is above its max of {max} bytes; min <= max \
                     is accepted"
                )));
            }
        }
        if let Some(time) = self.process_time {
            check_cpu_time("process_time", time)?;
        }
        if let Some(time) = self.job_time {
            check_cpu_time("job_time", time)?;
        }
        if self.active_processes == Some(0) {
            return Err(invalid_input(
                "active_processes of 0 would refuse every process; at least 1 is accepted",
            ));
        }
        if let Some(cpus) = &self.affinity {
            check_affinity("affinity", cpus)?;
        }
        if self.subset_affinity && self.affinity.is_none() {
            return Err(invalid_input(
                "subset_affinity needs affinity: JOB_OBJECT_LIMIT_SUBSET_AFFINITY is accepted \
                 only with JOB_OBJECT_LIMIT_AFFINITY",
            ));
        }
        for (name, value) in [
            ("process_memory", self.process_memory),
            ("job_memory", self.job_memory),
        ] {
            if let Some(bytes) = value {
                check_memory(name, bytes, MIN_MEMORY_LIMIT)?;
            }
        }
        Ok(())
    }
}

/// Checks a CPU set for one processor group's mask.
pub(crate) fn check_affinity(name: &str, cpus: &CpuSet) -> io::Result<()> {
    if cpus.is_empty() {
        return Err(invalid_input(format!(
            "{name} is an empty set of CPUs; name at least one CPU"
        )));
    }
    if cpus.to_mask().is_none() {
        return Err(invalid_input(format!(
            "{name} {cpus} names CPUs beyond 63; one processor group holds CPUs 0 to 63 (use \
             group affinity for more)"
        )));
    }
    Ok(())
}

/// Checks a memory limit against its minimum.
pub(crate) fn check_memory(name: &str, bytes: u64, min: u64) -> io::Result<()> {
    if bytes < min {
        return Err(invalid_input(format!(
            "{name} of {bytes} bytes is below the minimum of {min} bytes"
        )));
    }
    Ok(())
}

/// `JobObjectBasicUIRestrictions` (`JOBOBJECT_BASIC_UI_RESTRICTIONS`,
/// Windows 2000): what the job's processes may not do with the user
/// interface. Each field is one `JOB_OBJECT_UILIMIT_*` flag; `true`
/// restricts. A restricted call fails (or, for handles, sees no window
/// outside the job).
#[doc(alias = "JOBOBJECT_BASIC_UI_RESTRICTIONS")]
#[doc(alias = "JobObjectBasicUIRestrictions")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UiRestrictions {
    /// `JOB_OBJECT_UILIMIT_HANDLES`: no use of USER handles (windows, …)
    /// owned by processes outside the job.
    #[doc(alias = "JOB_OBJECT_UILIMIT_HANDLES")]
    pub handles: bool,
    /// `JOB_OBJECT_UILIMIT_READCLIPBOARD`: no reading the clipboard.
    #[doc(alias = "JOB_OBJECT_UILIMIT_READCLIPBOARD")]
    pub read_clipboard: bool,
    /// `JOB_OBJECT_UILIMIT_WRITECLIPBOARD`: no writing the clipboard.
    #[doc(alias = "JOB_OBJECT_UILIMIT_WRITECLIPBOARD")]
    pub write_clipboard: bool,
    /// `JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS`: no changing system parameters
    /// with `SystemParametersInfo`.
    #[doc(alias = "JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS")]
    pub system_parameters: bool,
    /// `JOB_OBJECT_UILIMIT_DISPLAYSETTINGS`: no `ChangeDisplaySettings`.
    #[doc(alias = "JOB_OBJECT_UILIMIT_DISPLAYSETTINGS")]
    pub display_settings: bool,
    /// `JOB_OBJECT_UILIMIT_GLOBALATOMS`: a private global atom table for the
    /// job.
    #[doc(alias = "JOB_OBJECT_UILIMIT_GLOBALATOMS")]
    pub global_atoms: bool,
    /// `JOB_OBJECT_UILIMIT_DESKTOP`: no creating or switching desktops.
    #[doc(alias = "JOB_OBJECT_UILIMIT_DESKTOP")]
    pub desktop: bool,
    /// `JOB_OBJECT_UILIMIT_EXITWINDOWS`: no `ExitWindows(Ex)`.
    #[doc(alias = "JOB_OBJECT_UILIMIT_EXITWINDOWS")]
    pub exit_windows: bool,
    /// `JOB_OBJECT_UILIMIT_IME` (Windows 10): no input method editor.
    #[doc(alias = "JOB_OBJECT_UILIMIT_IME")]
    pub ime: bool,
}

impl UiRestrictions {
    /// No restriction.
    pub fn new() -> UiRestrictions {
        UiRestrictions::default()
    }

    /// Every restriction.
    pub fn all() -> UiRestrictions {
        UiRestrictions {
            handles: true,
            read_clipboard: true,
            write_clipboard: true,
            system_parameters: true,
            display_settings: true,
            global_atoms: true,
            desktop: true,
            exit_windows: true,
            ime: true,
        }
    }

    /// True if nothing is restricted.
    pub fn is_empty(&self) -> bool {
        *self == UiRestrictions::default()
    }
}

/// `JobObjectCpuRateControlInformation`
/// (`JOBOBJECT_CPU_RATE_CONTROL_INFORMATION`, Windows 8): how the job's CPU
/// use is controlled. One mode at a time — the modes Windows refuses to
/// combine cannot be built. Rates are shares of the whole machine (all CPUs).
///
/// `notify` sets `JOB_OBJECT_CPU_RATE_CONTROL_NOTIFY`: the job gets
/// `JOB_OBJECT_MSG_NOTIFICATION_LIMIT` when it exceeds its rate for longer
/// than the tolerance set in [`NotificationLimits::cpu_rate`]. Weight-based
/// control has no rate to exceed, hence no `notify`.
#[doc(alias = "JOBOBJECT_CPU_RATE_CONTROL_INFORMATION")]
#[doc(alias = "JobObjectCpuRateControlInformation")]
#[doc(alias = "JOB_OBJECT_CPU_RATE_CONTROL_ENABLE")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CpuRateControl {
    /// `ENABLE | HARD_CAP` with `CpuRate`: once the job used its share of a
    /// scheduling interval, none of its threads runs until the next one.
    #[doc(alias = "JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP")]
    HardCap {
        /// The cap.
        rate: CpuRate,
        /// `JOB_OBJECT_CPU_RATE_CONTROL_NOTIFY`.
        notify: bool,
    },
    /// `ENABLE` with `CpuRate` and no `HARD_CAP`: the rate is applied as a
    /// target rather than a hard cap (Windows documents only what `HARD_CAP`
    /// adds: that the job's threads then wait for the next interval).
    SoftCap {
        /// The target.
        rate: CpuRate,
        /// `JOB_OBJECT_CPU_RATE_CONTROL_NOTIFY`.
        notify: bool,
    },
    /// `ENABLE | WEIGHT_BASED` with `Weight`: the job's share relative to
    /// other jobs, 1 to 9.
    #[doc(alias = "JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED")]
    Weight(CpuWeight),
    /// `ENABLE | MIN_MAX_RATE` with `MinRate` / `MaxRate` (Windows 10): at
    /// least `min` is reserved for the job (`None`: nothing), at most `max`
    /// is used per scheduling interval.
    #[doc(alias = "JOB_OBJECT_CPU_RATE_CONTROL_MIN_MAX_RATE")]
    MinMax {
        /// `MinRate`; at most `max`.
        min: Option<CpuRate>,
        /// `MaxRate`.
        max: CpuRate,
        /// `JOB_OBJECT_CPU_RATE_CONTROL_NOTIFY`.
        notify: bool,
    },
}

impl CpuRateControl {
    /// Checks the combination of rates.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a `MinMax` whose `min` is above `max`.
    pub fn validate(&self) -> io::Result<()> {
        if let CpuRateControl::MinMax {
            min: Some(min),
            max,
            ..
        } = *self
            && min > max
        {
            return Err(invalid_input(format!(
                "cpu_rate_control min rate {min} is above its max rate {max}; min <= max is \
                 accepted"
            )));
        }
        Ok(())
    }
}

/// `JobObjectNetRateControlInformation`
/// (`JOBOBJECT_NET_RATE_CONTROL_INFORMATION`, Windows 10 1607): outgoing
/// network traffic of the job. Each `Some` sets its
/// `JOB_OBJECT_NET_RATE_CONTROL_*` flag (with `ENABLE`); all `None` disables
/// network rate control.
#[doc(alias = "JOBOBJECT_NET_RATE_CONTROL_INFORMATION")]
#[doc(alias = "JobObjectNetRateControlInformation")]
#[doc(alias = "JOB_OBJECT_NET_RATE_CONTROL_ENABLE")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NetRateControl {
    /// `JOB_OBJECT_NET_RATE_CONTROL_MAX_BANDWIDTH` (`MaxBandwidth`): outgoing
    /// bytes per second; packets beyond it are delayed. At least 1.
    #[doc(alias = "JOB_OBJECT_NET_RATE_CONTROL_MAX_BANDWIDTH")]
    pub max_bandwidth: Option<u64>,
    /// `JOB_OBJECT_NET_RATE_CONTROL_DSCP_TAG` (`DscpTag`): the DSCP value
    /// written into every outgoing packet, 0 to 63.
    #[doc(alias = "JOB_OBJECT_NET_RATE_CONTROL_DSCP_TAG")]
    pub dscp_tag: Option<u8>,
}

impl NetRateControl {
    /// No network rate control.
    pub fn new() -> NetRateControl {
        NetRateControl::default()
    }

    /// True if nothing is controlled.
    pub fn is_empty(&self) -> bool {
        *self == NetRateControl::default()
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bandwidth of 0 or a DSCP tag above 63.
    pub fn validate(&self) -> io::Result<()> {
        if self.max_bandwidth == Some(0) {
            return Err(invalid_input(
                "max_bandwidth of 0 bytes per second would stop all traffic; at least 1 is \
                 accepted",
            ));
        }
        if let Some(tag) = self.dscp_tag
            && tag > 63
        {
            return Err(invalid_input(format!(
                "dscp_tag {tag} is out of range; 0 to 63 is accepted"
            )));
        }
        Ok(())
    }
}

/// How I/O of the job is forced to stable storage under
/// [`IoRateControl`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForceUnitAccess {
    /// No forced unit access. The default.
    #[default]
    Never,
    /// `JOB_OBJECT_IO_RATE_CONTROL_FORCE_UNIT_ACCESS_ALL`.
    #[doc(alias = "JOB_OBJECT_IO_RATE_CONTROL_FORCE_UNIT_ACCESS_ALL")]
    All,
    /// `JOB_OBJECT_IO_RATE_CONTROL_FORCE_UNIT_ACCESS_ON_SOFT_CAP`.
    #[doc(alias = "JOB_OBJECT_IO_RATE_CONTROL_FORCE_UNIT_ACCESS_ON_SOFT_CAP")]
    OnSoftCap,
}

/// I/O rate control of the job on one volume or all
/// (`SetIoRateControlInformationJobObject` with
/// `JOBOBJECT_IO_RATE_CONTROL_INFORMATION`, Windows 10).
///
/// **Deprecated by Windows**: Microsoft documents these functions as
/// unsupported and possibly absent in later versions; they are resolved when
/// first used, and a Windows (or Wine) without them gives `Unsupported`.
/// Setting them may also need administrator rights.
#[doc(alias = "JOBOBJECT_IO_RATE_CONTROL_INFORMATION")]
#[doc(alias = "SetIoRateControlInformationJobObject")]
#[doc(alias = "QueryIoRateControlInformationJobObject")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct IoRateControl {
    /// `VolumeName`: the volume (such as `\\?\Volume{…}`); `None` for the
    /// default of every volume.
    pub volume: Option<String>,
    /// `MaxIops`: at most this many I/O operations per second.
    pub max_iops: Option<u64>,
    /// `MaxBandwidth`: at most this many bytes per second.
    pub max_bandwidth: Option<u64>,
    /// `ReservationIops`: this many operations per second reserved for the
    /// job.
    pub reservation_iops: Option<u64>,
    /// `BaseIoSize`: the size, in bytes, that one operation counts for.
    pub base_io_size: Option<u32>,
    /// `JOB_OBJECT_IO_RATE_CONTROL_STANDALONE_VOLUME`.
    #[doc(alias = "JOB_OBJECT_IO_RATE_CONTROL_STANDALONE_VOLUME")]
    pub standalone_volume: bool,
    /// The forced-unit-access flags.
    pub force_unit_access: ForceUnitAccess,
}

impl IoRateControl {
    /// No I/O rate control, for every volume.
    pub fn new() -> IoRateControl {
        IoRateControl::default()
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a limit of 0, one above `i64::MAX`, or a volume name
    /// that is empty or contains NUL.
    pub fn validate(&self) -> io::Result<()> {
        for (name, value) in [
            ("max_iops", self.max_iops),
            ("max_bandwidth", self.max_bandwidth),
            ("reservation_iops", self.reservation_iops),
        ] {
            match value {
                Some(0) => {
                    return Err(invalid_input(format!(
                        "{name} of 0 is not a limit; 1 to {} is accepted, None for no limit",
                        i64::MAX
                    )));
                }
                Some(v) if i64::try_from(v).is_err() => {
                    return Err(invalid_input(format!(
                        "{name} of {v} is out of range; 1 to {} is accepted",
                        i64::MAX
                    )));
                }
                _ => {}
            }
        }
        if self.base_io_size == Some(0) {
            return Err(invalid_input(
                "base_io_size of 0 bytes is out of range; at least 1 is accepted",
            ));
        }
        if let Some(volume) = &self.volume
            && (volume.is_empty() || volume.contains('\0'))
        {
            return Err(invalid_input(format!(
                "volume {volume:?} must be a volume name without NUL; None means every volume"
            )));
        }
        Ok(())
    }
}

/// What Windows does when the job's CPU time limit
/// ([`ExtendedLimits::job_time`]) is reached: `JobObjectEndOfJobTimeInformation`
/// (`JOBOBJECT_END_OF_JOB_TIME_INFORMATION`, Windows 2000).
#[doc(alias = "JOBOBJECT_END_OF_JOB_TIME_INFORMATION")]
#[doc(alias = "JobObjectEndOfJobTimeInformation")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EndOfJobTimeAction {
    /// `JOB_OBJECT_TERMINATE_AT_END_OF_JOB`: every process is terminated. The
    /// default.
    #[default]
    #[doc(alias = "JOB_OBJECT_TERMINATE_AT_END_OF_JOB")]
    Terminate,
    /// `JOB_OBJECT_POST_AT_END_OF_JOB`: the processes keep running and the job
    /// gets `JOB_OBJECT_MSG_END_OF_JOB_TIME`; the time limit is then lifted.
    #[doc(alias = "JOB_OBJECT_POST_AT_END_OF_JOB")]
    PostMessage,
}

/// How far a rate may exceed its limit before the job is notified
/// (`JOBOBJECT_RATE_CONTROL_TOLERANCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tolerance {
    /// `ToleranceLow`: exceeding for 20 % of the interval.
    #[doc(alias = "ToleranceLow")]
    Low,
    /// `ToleranceMedium`: 40 %.
    #[doc(alias = "ToleranceMedium")]
    Medium,
    /// `ToleranceHigh`: 60 %.
    #[doc(alias = "ToleranceHigh")]
    High,
}

/// The interval a [`Tolerance`] is measured over
/// (`JOBOBJECT_RATE_CONTROL_TOLERANCE_INTERVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToleranceInterval {
    /// `ToleranceIntervalShort`: 10 seconds.
    #[doc(alias = "ToleranceIntervalShort")]
    Short,
    /// `ToleranceIntervalMedium`: 1 minute.
    #[doc(alias = "ToleranceIntervalMedium")]
    Medium,
    /// `ToleranceIntervalLong`: 10 minutes.
    #[doc(alias = "ToleranceIntervalLong")]
    Long,
}

/// A rate notification limit: a tolerance and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateTolerance {
    /// How much of the interval the rate may exceed its limit.
    pub tolerance: Tolerance,
    /// The interval.
    pub interval: ToleranceInterval,
}

/// Notification limits: when one is crossed the job is **not** stopped; it
/// gets `JOB_OBJECT_MSG_NOTIFICATION_LIMIT` on its completion port, and
/// [`JobExt::limit_violation`](super::JobExt::limit_violation) says which.
///
/// `JobObjectNotificationLimitInformation2`
/// (`JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2`, Windows 10 1607) where the
/// system has it, else `JobObjectNotificationLimitInformation`
/// (`JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION`, Windows 8), which lacks
/// `job_memory_low`, `io_rate` and `net_rate`.
#[doc(alias = "JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION")]
#[doc(alias = "JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2")]
#[doc(alias = "JobObjectNotificationLimitInformation")]
#[doc(alias = "JobObjectNotificationLimitInformation2")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NotificationLimits {
    /// `JOB_OBJECT_LIMIT_JOB_READ_BYTES` (`IoReadBytesLimit`): bytes read by
    /// the job.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_READ_BYTES")]
    pub io_read_bytes: Option<u64>,
    /// `JOB_OBJECT_LIMIT_JOB_WRITE_BYTES` (`IoWriteBytesLimit`): bytes written.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_WRITE_BYTES")]
    pub io_write_bytes: Option<u64>,
    /// `JOB_OBJECT_LIMIT_JOB_TIME` (`PerJobUserTimeLimit`): user-mode CPU time
    /// of the job.
    pub job_time: Option<Duration>,
    /// `JOB_OBJECT_LIMIT_JOB_MEMORY_HIGH` (= `JOB_OBJECT_LIMIT_JOB_MEMORY`,
    /// `JobHighMemoryLimit`): committed memory of the job rising above this.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_MEMORY_HIGH")]
    pub job_memory_high: Option<u64>,
    /// `JOB_OBJECT_LIMIT_JOB_MEMORY_LOW` (`JobLowMemoryLimit`, class 2 only):
    /// committed memory of the job falling below this.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_MEMORY_LOW")]
    pub job_memory_low: Option<u64>,
    /// `JOB_OBJECT_LIMIT_RATE_CONTROL` (`CpuRateControlTolerance(Interval)`):
    /// the CPU rate exceeding its [`CpuRateControl`] (with `notify`).
    #[doc(alias = "JOB_OBJECT_LIMIT_RATE_CONTROL")]
    #[doc(alias = "JOB_OBJECT_LIMIT_CPU_RATE_CONTROL")]
    pub cpu_rate: Option<RateTolerance>,
    /// `JOB_OBJECT_LIMIT_IO_RATE_CONTROL` (class 2 only): the I/O rate
    /// exceeding its [`IoRateControl`].
    #[doc(alias = "JOB_OBJECT_LIMIT_IO_RATE_CONTROL")]
    pub io_rate: Option<RateTolerance>,
    /// `JOB_OBJECT_LIMIT_NET_RATE_CONTROL` (class 2 only): outgoing traffic
    /// exceeding its [`NetRateControl`].
    #[doc(alias = "JOB_OBJECT_LIMIT_NET_RATE_CONTROL")]
    pub net_rate: Option<RateTolerance>,
}

impl NotificationLimits {
    /// No notification limit.
    pub fn new() -> NotificationLimits {
        NotificationLimits::default()
    }

    /// True if no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == NotificationLimits::default()
    }

    /// True if a field only `JobObjectNotificationLimitInformation2` carries
    /// is set.
    pub fn needs_version_2(&self) -> bool {
        self.job_memory_low.is_some() || self.io_rate.is_some() || self.net_rate.is_some()
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a byte count of 0, a time below 100 ns, a memory
    /// limit below [`MIN_NOTIFICATION_MEMORY`], or a low memory limit above
    /// the high one.
    pub fn validate(&self) -> io::Result<()> {
        for (name, value) in [
            ("io_read_bytes", self.io_read_bytes),
            ("io_write_bytes", self.io_write_bytes),
        ] {
            if value == Some(0) {
                return Err(invalid_input(format!(
                    "{name} of 0 bytes is not a limit; at least 1 is accepted, None for no limit"
                )));
            }
        }
        if let Some(time) = self.job_time {
            check_cpu_time("job_time", time)?;
        }
        for (name, value) in [
            ("job_memory_high", self.job_memory_high),
            ("job_memory_low", self.job_memory_low),
        ] {
            if let Some(bytes) = value {
                check_memory(name, bytes, MIN_NOTIFICATION_MEMORY)?;
            }
        }
        if let (Some(low), Some(high)) = (self.job_memory_low, self.job_memory_high)
            && low > high
        {
            return Err(invalid_input(format!(
                "job_memory_low of {low} bytes is above job_memory_high of {high} bytes; low <= \
                 high is accepted"
            )));
        }
        Ok(())
    }
}

/// A value measured by Windows and the limit it crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Crossed<T> {
    /// What the job reached.
    pub value: T,
    /// The limit in force.
    pub limit: T,
}

/// Which notification limits the job has crossed, with the values: the
/// answer of `JobObjectLimitViolationInformation2`
/// (`JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2`, Windows 10 1607) or, where the
/// system lacks it, `JobObjectLimitViolationInformation`
/// (`JOBOBJECT_LIMIT_VIOLATION_INFORMATION`, Windows 8). A field is `Some`
/// only if its bit is in `ViolationLimitFlags`.
#[doc(alias = "JOBOBJECT_LIMIT_VIOLATION_INFORMATION")]
#[doc(alias = "JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2")]
#[doc(alias = "JobObjectLimitViolationInformation")]
#[doc(alias = "JobObjectLimitViolationInformation2")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LimitViolation {
    /// `IoReadBytes` / `IoReadBytesLimit`.
    pub io_read_bytes: Option<Crossed<u64>>,
    /// `IoWriteBytes` / `IoWriteBytesLimit`.
    pub io_write_bytes: Option<Crossed<u64>>,
    /// `PerJobUserTime` / `PerJobUserTimeLimit`.
    pub job_time: Option<Crossed<Duration>>,
    /// `JobMemory` / `JobHighMemoryLimit`.
    pub job_memory_high: Option<Crossed<u64>>,
    /// `JobMemory` / `JobLowMemoryLimit` (version 2 only).
    pub job_memory_low: Option<Crossed<u64>>,
    /// `CpuRateControlTolerance` / `…Limit`.
    pub cpu_rate: Option<Crossed<Tolerance>>,
    /// `IoRateControlTolerance` / `…Limit` (version 2 only).
    pub io_rate: Option<Crossed<Tolerance>>,
    /// `NetRateControlTolerance` / `…Limit` (version 2 only).
    pub net_rate: Option<Crossed<Tolerance>>,
}

impl LimitViolation {
    /// True if no limit was crossed.
    pub fn is_empty(&self) -> bool {
        *self == LimitViolation::default()
    }
}

/// CPUs of one processor group: a `GROUP_AFFINITY` of
/// `JobObjectGroupInformationEx` (Windows 7).
#[doc(alias = "GROUP_AFFINITY")]
#[doc(alias = "JobObjectGroupInformationEx")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupAffinity {
    /// The processor group.
    pub group: u16,
    /// The CPUs of that group, one bit each (bits 0–63; 0–31 in a 32-bit
    /// process).
    pub mask: u64,
}

/// Checks a list of group affinities.
pub(crate) fn check_group_affinity(groups: &[GroupAffinity]) -> io::Result<()> {
    if groups.is_empty() {
        return Err(invalid_input(
            "group affinity is empty; name at least one processor group",
        ));
    }
    for (i, g) in groups.iter().enumerate() {
        if g.mask == 0 {
            return Err(invalid_input(format!(
                "group affinity of group {} has an empty mask; name at least one CPU",
                g.group
            )));
        }
        if groups[..i].iter().any(|earlier| earlier.group == g.group) {
            return Err(invalid_input(format!(
                "group affinity names group {} twice; one entry per group is accepted",
                g.group
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(e: io::Error, field: &str) {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().starts_with(field), "{field}: {e}");
    }

    #[test]
    fn extended_limits_validation_names_the_field() {
        assert!(ExtendedLimits::new().validate().is_ok());
        let with = |f: fn(&mut ExtendedLimits)| {
            let mut limits = ExtendedLimits::new();
            f(&mut limits);
            limits.validate()
        };
        starts(
            with(|l| l.working_set = Some(WorkingSet { min: 10, max: 5 })).unwrap_err(),
            "working_set min of 10",
        );
        starts(
            with(|l| l.working_set = Some(WorkingSet { min: 0, max: 5 })).unwrap_err(),
            "working_set",
        );
        starts(
            with(|l| l.process_time = Some(Duration::ZERO)).unwrap_err(),
            "process_time",
        );
        starts(
            with(|l| l.job_time = Some(Duration::from_nanos(50))).unwrap_err(),
            "job_time",
        );
        starts(
            with(|l| l.active_processes = Some(0)).unwrap_err(),
            "active_processes",
        );
        starts(
            with(|l| l.affinity = Some(CpuSet::new())).unwrap_err(),
            "affinity",
        );
        starts(
            with(|l| l.affinity = Some("64".parse().unwrap())).unwrap_err(),
            "affinity",
        );
        starts(
            with(|l| l.subset_affinity = true).unwrap_err(),
            "subset_affinity",
        );
        starts(
            with(|l| l.process_memory = Some(4095)).unwrap_err(),
            "process_memory",
        );
        starts(
            with(|l| l.job_memory = Some(MIN_MEMORY_LIMIT - 1)).unwrap_err(),
            "job_memory",
        );
        assert!(
            with(|l| {
                l.working_set = Some(WorkingSet { min: 5, max: 5 });
                l.affinity = Some("0-1".parse().unwrap());
                l.subset_affinity = true;
                l.job_memory = Some(MIN_MEMORY_LIMIT);
            })
            .is_ok()
        );
    }

    #[test]
    fn other_classes_validate() {
        assert!(SchedulingClass::new(9).is_ok());
        starts(SchedulingClass::new(10).unwrap_err(), "scheduling_class");
        let rate = |h| CpuRate::from_hundredths(h).unwrap();
        let bad = CpuRateControl::MinMax {
            min: Some(rate(5000)),
            max: rate(4000),
            notify: false,
        };
        starts(bad.validate().unwrap_err(), "cpu_rate_control min rate 50%");
        let good = CpuRateControl::MinMax {
            min: None,
            max: rate(4000),
            notify: true,
        };
        assert!(good.validate().is_ok());

        let net = NetRateControl {
            dscp_tag: Some(64),
            ..NetRateControl::new()
        };
        starts(net.validate().unwrap_err(), "dscp_tag");
        let net = NetRateControl {
            max_bandwidth: Some(0),
            ..NetRateControl::new()
        };
        starts(net.validate().unwrap_err(), "max_bandwidth");

        let io = IoRateControl {
            max_iops: Some(u64::MAX),
            ..IoRateControl::new()
        };
        starts(io.validate().unwrap_err(), "max_iops");
        let io = IoRateControl {
            volume: Some(String::new()),
            ..IoRateControl::new()
        };
        starts(io.validate().unwrap_err(), "volume");

        let n = NotificationLimits {
            job_memory_low: Some(1 << 30),
            job_memory_high: Some(1 << 20),
            ..NotificationLimits::new()
        };
        starts(n.validate().unwrap_err(), "job_memory_low");
        let n = NotificationLimits {
            io_read_bytes: Some(0),
            ..NotificationLimits::new()
        };
        starts(n.validate().unwrap_err(), "io_read_bytes");
        let n = NotificationLimits {
            job_memory_high: Some(100),
            ..NotificationLimits::new()
        };
        starts(n.validate().unwrap_err(), "job_memory_high");

        starts(check_group_affinity(&[]).unwrap_err(), "group affinity");
        let twice = [
            GroupAffinity { group: 0, mask: 1 },
            GroupAffinity { group: 0, mask: 2 },
        ];
        starts(check_group_affinity(&twice).unwrap_err(), "group affinity");
        let empty = [GroupAffinity { group: 1, mask: 0 }];
        starts(check_group_affinity(&empty).unwrap_err(), "group affinity");
    }

    #[test]
    fn priority_classes_map_to_portable_priorities() {
        for p in [
            Priority::Idle,
            Priority::BelowNormal,
            Priority::Normal,
            Priority::AboveNormal,
            Priority::High,
        ] {
            assert_eq!(Priority::from(PriorityClass::from(p)), p);
        }
        assert_eq!(Priority::from(PriorityClass::Realtime), Priority::High);
    }
}
