//! Setting and reading back the limits of a job: one state per job, one call
//! per class, and the job keeps its previous limits when a change fails.
//!
//! # One copy of the truth
//!
//! Each `Job` holds a [`LimitState`] behind a mutex: the value of the classes
//! the portable limits share with the typed setters (extended limits, CPU
//! rate control). A change is computed from that copy (never from a
//! query of the job: Wine answers limit queries with zeros, so
//! query-modify-set would silently drop flags), validated and encoded before
//! any system call, written in one `SetInformationJobObject` per class, and
//! copied into the state only once every write succeeded. The portable
//! [`Limits`] and the typed setters of `os::windows` share the copy, so
//! kill-on-close, breakaway and the other Windows-only fields survive
//! `set_limits`, and a UI restriction is never touched by it.
//!
//! `set_limits` may write two classes (extended limits, then CPU rate
//! control), and writes only those that change. If the second write fails,
//! the first class is written back from the copy, so the job keeps the limits
//! it had; the error says if even that failed.
//!
//! A job opened by name starts from what the job reports for the extended
//! limits and the CPU rate (its creator may have set them); under Wine, which
//! reports zeros, that is "no limit".
//!
//! # Reading back
//!
//! Getters ask the job (`QueryInformationJobObject`), which is the truth on
//! Windows. Wine answers the basic and extended limits with zeros and refuses
//! the other classes; tests that read back say so and skip.
//!
//! # Errors
//!
//! Input is checked before any call (`InvalidInput`, naming the field). A
//! class the running system does not know — `ERROR_INVALID_PARAMETER` (87) or
//! `ERROR_INVALID_FUNCTION` (1) from a class other than the extended limits,
//! `ERROR_NOT_SUPPORTED`, `ERROR_CALL_NOT_IMPLEMENTED`, or a function missing
//! from kernel32 — is `Unsupported`, naming the class. Other errors keep
//! their kind, with the call and class as context.

use std::io;
use std::os::windows::io::BorrowedHandle;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::api::{self, WideCString};
use super::info;
use super::job::Job;
use super::types::{
    Breakaway, CpuRateControl, EndOfJobTimeAction, ExtendedLimits, GroupAffinity, IoRateControl,
    LimitViolation, NetRateControl, NotificationLimits, UiRestrictions, check_group_affinity,
};
use crate::error::{unsupported, with_context};
use crate::{CpuSet, Limits};

/// The value of the shared classes as this process last set them.
#[derive(Debug, Default)]
pub(super) struct LimitState {
    extended: ExtendedLimits,
    cpu: Option<CpuRateControl>,
    /// Whether the extended limits were ever written: a job time limit that
    /// stays the same is then sent as `PRESERVE_JOB_TIME`.
    extended_written: bool,
}

/// The state behind its lock.
#[derive(Debug, Default)]
pub(super) struct SharedState(Mutex<LimitState>);

impl SharedState {
    fn lock(&self) -> MutexGuard<'_, LimitState> {
        // Nothing panics while the lock is held; if something did, the copy
        // is still the last value written successfully.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state of a job opened by name: what the job reports, or nothing.
    pub(super) fn from_job(job: BorrowedHandle<'_>) -> SharedState {
        let extended = api::query_information_job_object(job)
            .ok()
            .and_then(|raw| info::decode_extended(&raw).ok())
            .unwrap_or_default();
        let cpu = api::query_information_job_object(job)
            .ok()
            .and_then(|raw| info::decode_cpu(&raw).ok())
            .flatten();
        SharedState(Mutex::new(LimitState {
            extended,
            cpu,
            extended_written: true,
        }))
    }
}

const EXTENDED: &str = "JobObjectExtendedLimitInformation";
const CPU: &str = "JobObjectCpuRateControlInformation";
const UI: &str = "JobObjectBasicUIRestrictions";
const NET: &str = "JobObjectNetRateControlInformation";
const END_OF_JOB_TIME: &str = "JobObjectEndOfJobTimeInformation";
const NOTIFICATION: &str = "JobObjectNotificationLimitInformation";
const NOTIFICATION2: &str = "JobObjectNotificationLimitInformation2";
const VIOLATION: &str = "JobObjectLimitViolationInformation";
const VIOLATION2: &str = "JobObjectLimitViolationInformation2";
const GROUPS: &str = "JobObjectGroupInformationEx";
const IO_RATE: &str = "SetIoRateControlInformationJobObject";

/// The error of a call on `class`: `Unsupported` if the system does not know
/// the class, otherwise the OS error with the call as context.
fn class_error(e: io::Error, call: &str, class: &str) -> io::Error {
    if is_unknown_class(&e) && class != EXTENDED {
        unsupported(format!(
            "{class} is not supported by this system: {call} failed with {e} (a Windows older \
             than the class, or Wine, which implements few job classes)"
        ))
    } else {
        with_context(e, format!("{call}({class}) failed"))
    }
}

/// True if `e` is how the system refuses an information class it does not
/// know (for any class but the extended limits, which every system has).
pub(super) fn is_unknown_class(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            api::ERROR_INVALID_PARAMETER
                | api::ERROR_INVALID_FUNCTION
                | api::ERROR_NOT_SUPPORTED
                | api::ERROR_CALL_NOT_IMPLEMENTED
        )
    )
}

fn set<T: api::JobInformation>(job: &Job, info: &T, class: &str) -> io::Result<()> {
    api::set_information_job_object(job.as_handle(), info)
        .map_err(|e| class_error(e, "SetInformationJobObject", class))
}

fn query<T: api::JobInformation>(job: &Job, class: &str) -> io::Result<T> {
    query_handle(job.as_handle(), class)
}

fn query_handle<T: api::JobInformation>(job: BorrowedHandle<'_>, class: &str) -> io::Result<T> {
    api::query_information_job_object(job)
        .map_err(|e| class_error(e, "QueryInformationJobObject", class))
}

/// The limit violation of `job` (version 2 of the class where the system has
/// it, else version 1). A free function so that the monitor thread, which
/// holds its own handle to the job, can ask when `NOTIFICATION_LIMIT` comes.
pub(super) fn limit_violation_of(job: BorrowedHandle<'_>) -> io::Result<LimitViolation> {
    match query_handle(job, VIOLATION2) {
        Ok(raw) => info::decode_violation2(&raw),
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            info::decode_violation(&query_handle(job, VIOLATION)?)
        }
        Err(e) => Err(e),
    }
}

/// Whether writing `next` over `current` keeps the job's time clock.
fn preserve_job_time(state: &LimitState, current: &ExtendedLimits, next: &ExtendedLimits) -> bool {
    state.extended_written && current.job_time.is_some() && current.job_time == next.job_time
}

/// The portable affinity must fit one processor group's mask.
fn check_portable_affinity(limits: &Limits) -> io::Result<()> {
    if let Some(cpus) = &limits.affinity
        && cpus.max().is_some_and(|cpu| cpu >= usize::BITS.min(64))
    {
        return Err(unsupported(format!(
            "affinity {cpus}: CPUs beyond {} are in other processor groups, which the portable \
             limits cannot reach through JOB_OBJECT_LIMIT_AFFINITY; use \
             os::windows::JobExt::set_group_affinity",
            usize::BITS.min(64) - 1
        )));
    }
    Ok(())
}

impl Job {
    pub(super) fn limit_state(&self) -> MutexGuard<'_, LimitState> {
        self.state.lock()
    }

    /// True if the job's own copy says kill-on-close is set.
    pub(super) fn kill_on_close_in_state(&self) -> bool {
        self.limit_state().extended.kill_on_close
    }

    /// The limits of a new job: kill-on-close and breakaway from the builder,
    /// plus the portable limits. Nothing can be in the job yet.
    pub(super) fn apply_initial(
        &self,
        kill_on_close: bool,
        breakaway: Breakaway,
        limits: &Limits,
    ) -> io::Result<()> {
        check_portable_affinity(limits)?;
        let mut state = self.limit_state();
        let mut extended = info::extended_with_portable(&ExtendedLimits::new(), limits);
        extended.kill_on_close = kill_on_close;
        extended.breakaway = breakaway;
        let cpu = info::cpu_with_portable(None, limits);
        let extended_raw = info::encode_extended(&extended, false)?;
        let cpu_raw = info::encode_cpu(cpu);
        if extended != ExtendedLimits::new() {
            set(self, &extended_raw, EXTENDED)?;
        }
        if cpu.is_some() {
            set(self, &cpu_raw, CPU)?;
        }
        state.extended = extended;
        state.cpu = cpu;
        state.extended_written = true;
        Ok(())
    }

    /// Replaces the portable limits; see the module documentation.
    pub(crate) fn set_limits(&self, limits: &Limits) -> io::Result<()> {
        check_portable_affinity(limits)?;
        let mut state = self.limit_state();
        let next = info::extended_with_portable(&state.extended, limits);
        next.validate()?;
        let next_cpu = info::cpu_with_portable(state.cpu, limits);
        let extended_changed = next != state.extended;
        let cpu_changed = next_cpu != state.cpu;
        // Everything encoded before the first call.
        let keep_clock = preserve_job_time(&state, &state.extended, &next);
        let extended_raw = info::encode_extended(&next, keep_clock)?;
        let restore_raw = info::encode_extended(&state.extended, keep_clock)?;
        let cpu_raw = info::encode_cpu(next_cpu);

        if extended_changed {
            set(self, &extended_raw, EXTENDED)?;
        }
        if cpu_changed && let Err(e) = set(self, &cpu_raw, CPU) {
            if extended_changed && let Err(restore) = set(self, &restore_raw, EXTENDED) {
                return Err(io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; restoring the previous extended limits failed too ({restore}), so \
                         the job now has the new extended limits and the old CPU rate"
                    ),
                ));
            }
            return Err(e);
        }
        state.extended = next;
        state.cpu = next_cpu;
        state.extended_written = true;
        Ok(())
    }

    /// The portable limits in force, from the job.
    pub(crate) fn limits(&self) -> io::Result<Limits> {
        let extended = self.extended_limits()?;
        let cpu = match self.cpu_rate_control() {
            // A class the system lacks cannot have been set.
            Err(e)
                if e.kind() == io::ErrorKind::Unsupported && self.limit_state().cpu.is_none() =>
            {
                None
            }
            other => other?,
        };
        Ok(info::portable(&extended, cpu))
    }

    fn write_extended(&self, state: &mut LimitState, next: ExtendedLimits) -> io::Result<()> {
        next.validate()?;
        let raw = info::encode_extended(&next, preserve_job_time(state, &state.extended, &next))?;
        set(self, &raw, EXTENDED)?;
        state.extended = next;
        state.extended_written = true;
        Ok(())
    }

    pub(crate) fn set_extended_limits(&self, limits: &ExtendedLimits) -> io::Result<()> {
        let mut state = self.limit_state();
        self.write_extended(&mut state, limits.clone())
    }

    pub(crate) fn update_extended_limits(
        &self,
        update: impl FnOnce(&mut ExtendedLimits),
    ) -> io::Result<()> {
        let mut state = self.limit_state();
        let mut next = state.extended.clone();
        update(&mut next);
        self.write_extended(&mut state, next)
    }

    /// Lifts every extended limit but kill-on-close and breakaway, which are
    /// how the job was built rather than limits.
    pub(crate) fn reset_extended_limits(&self) -> io::Result<()> {
        let mut state = self.limit_state();
        let mut next = ExtendedLimits::new();
        next.kill_on_close = state.extended.kill_on_close;
        next.breakaway = state.extended.breakaway;
        self.write_extended(&mut state, next)
    }

    pub(crate) fn extended_limits(&self) -> io::Result<ExtendedLimits> {
        info::decode_extended(&query(self, EXTENDED)?)
    }

    pub(crate) fn set_cpu_rate_control(&self, control: Option<CpuRateControl>) -> io::Result<()> {
        if let Some(control) = &control {
            control.validate()?;
        }
        let mut state = self.limit_state();
        set(self, &info::encode_cpu(control), CPU)?;
        state.cpu = control;
        Ok(())
    }

    pub(crate) fn cpu_rate_control(&self) -> io::Result<Option<CpuRateControl>> {
        info::decode_cpu(&query(self, CPU)?)
    }

    pub(crate) fn set_ui_restrictions(&self, ui: UiRestrictions) -> io::Result<()> {
        let _state = self.limit_state();
        set(self, &info::encode_ui(ui), UI)
    }

    pub(crate) fn ui_restrictions(&self) -> io::Result<UiRestrictions> {
        info::decode_ui(&query(self, UI)?)
    }

    pub(crate) fn set_net_rate_control(&self, net: NetRateControl) -> io::Result<()> {
        net.validate()?;
        let _state = self.limit_state();
        set(self, &info::encode_net(net), NET)
    }

    pub(crate) fn net_rate_control(&self) -> io::Result<NetRateControl> {
        Ok(info::decode_net(&query(self, NET)?))
    }

    pub(crate) fn set_end_of_job_time_action(&self, action: EndOfJobTimeAction) -> io::Result<()> {
        let _state = self.limit_state();
        set(self, &info::encode_end_of_job_time(action), END_OF_JOB_TIME)
    }

    pub(crate) fn end_of_job_time_action(&self) -> io::Result<EndOfJobTimeAction> {
        info::decode_end_of_job_time(&query(self, END_OF_JOB_TIME)?)
    }

    /// Version 2 of the class where the system has it, else version 1 if the
    /// value fits it.
    pub(crate) fn set_notification_limits(&self, limits: &NotificationLimits) -> io::Result<()> {
        limits.validate()?;
        let v2 = info::encode_notification2(limits)?;
        let v1 = (!limits.needs_version_2())
            .then(|| info::encode_notification(limits))
            .transpose()?;
        let _state = self.limit_state();
        match (set(self, &v2, NOTIFICATION2), v1) {
            (Err(e), Some(v1)) if e.kind() == io::ErrorKind::Unsupported => {
                set(self, &v1, NOTIFICATION).map_err(|e1| {
                    if e1.kind() == io::ErrorKind::Unsupported {
                        unsupported(format!(
                            "neither {NOTIFICATION2} nor {NOTIFICATION} is supported by this \
                             system ({e}; {e1})"
                        ))
                    } else {
                        e1
                    }
                })
            }
            (result, _) => result,
        }
    }

    pub(crate) fn notification_limits(&self) -> io::Result<NotificationLimits> {
        match query(self, NOTIFICATION2) {
            Ok(raw) => info::decode_notification2(&raw),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                info::decode_notification(&query(self, NOTIFICATION)?)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn limit_violation(&self) -> io::Result<LimitViolation> {
        limit_violation_of(self.as_handle())
    }

    pub(crate) fn set_group_affinity(&self, groups: &[GroupAffinity]) -> io::Result<()> {
        check_group_affinity(groups)?;
        let raw = info::encode_groups(groups)?;
        let _state = self.limit_state();
        api::set_group_information_ex(self.as_handle(), &raw)
            .map_err(|e| class_error(e, "SetInformationJobObject", GROUPS))
    }

    pub(crate) fn group_affinity(&self) -> io::Result<Vec<GroupAffinity>> {
        let raw = api::query_group_information_ex(self.as_handle())
            .map_err(|e| class_error(e, "QueryInformationJobObject", GROUPS))?;
        Ok(info::decode_groups(&raw))
    }

    pub(crate) fn set_io_rate_control(&self, control: &IoRateControl) -> io::Result<()> {
        control.validate()?;
        let raw = info::encode_io(control);
        let volume = control.volume.as_deref().and_then(WideCString::new);
        let _state = self.limit_state();
        api::set_io_rate_control_information_job_object(self.as_handle(), &raw, volume.as_ref())
            .unwrap_or_else(|| Err(io_rate_missing()))
            .map_err(|e| class_error(e, IO_RATE, "I/O rate control"))
    }

    pub(crate) fn io_rate_control(&self) -> io::Result<Vec<IoRateControl>> {
        let blocks = api::query_io_rate_control_information_job_object(self.as_handle())
            .unwrap_or_else(|| Err(io_rate_missing()))
            .map_err(|e| {
                class_error(
                    e,
                    "QueryIoRateControlInformationJobObject",
                    "I/O rate control",
                )
            })?;
        blocks
            .into_iter()
            .map(|(raw, volume)| info::decode_io(&raw, Some(volume)))
            .collect()
    }
}

fn io_rate_missing() -> io::Error {
    io::Error::from_raw_os_error(api::ERROR_CALL_NOT_IMPLEMENTED)
}

/// The priority class of the calling process.
pub(crate) fn current_priority_class() -> io::Result<super::types::PriorityClass> {
    let value = api::get_priority_class(api::get_current_process())
        .map_err(|e| with_context(e, "GetPriorityClass failed"))?;
    info::priority_class_from(value).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("GetPriorityClass returned the unknown class {value:#x}"),
        )
    })
}

/// The CPUs the calling process may run on (in its processor group).
pub(crate) fn current_affinity() -> io::Result<CpuSet> {
    let (mine, _system) = api::get_process_affinity_mask(api::get_current_process())
        .map_err(|e| with_context(e, "GetProcessAffinityMask failed"))?;
    Ok(CpuSet::from_mask(u64::try_from(mine).unwrap_or(u64::MAX)))
}
