//! Typed limits ↔ `JOBOBJECT_*` structures: the encoding of every
//! information class the backend sets or queries, and the mapping of the
//! portable [`Limits`] onto them.
//!
//! Safe code only, and no system call: encoding checks what depends on the
//! target (a memory limit above 4 GiB or CPU 32 and up in a 32-bit process is
//! `InvalidInput`), decoding refuses what no typed value can hold
//! (`InvalidData`, naming the field). The structures are the generated
//! bindings, so their layout is the target's; `SIZES` below pins them to the
//! Windows SDK's sizes at compile time.
//!
//! This file is compiled on every host for its unit tests (see `host.rs`),
//! so it uses only `super::api::bindings` (plain data there) and
//! `super::types` (the public typed values).

use std::io;
use std::time::Duration;

use super::api::bindings as b;
use super::types::{
    Breakaway, CpuRateControl, Crossed, EndOfJobTimeAction, ExtendedLimits, ForceUnitAccess,
    GroupAffinity, IoRateControl, LimitViolation, NetRateControl, NotificationLimits,
    PriorityClass, RateTolerance, SchedulingClass, Tolerance, ToleranceInterval, UiRestrictions,
    WorkingSet,
};
use crate::error::invalid_input;
use crate::{CpuRate, CpuSet, CpuWeight, Limits};

// The sizes of the Windows SDK (winnt.h), for 64- and 32-bit Windows. On a
// 32-bit Linux host a `u64` is only 4-aligned, so the 32-bit sizes are checked
// on Windows targets alone (`cargo check --target i686-pc-windows-gnu`).
#[cfg(any(windows, target_pointer_width = "64"))]
const _: () = {
    use std::mem::size_of;
    const WIDE: bool = cfg!(target_pointer_width = "64");
    const fn pick(wide: usize, narrow: usize) -> usize {
        if WIDE { wide } else { narrow }
    }
    assert!(size_of::<b::JOBOBJECT_BASIC_LIMIT_INFORMATION>() == pick(64, 48));
    assert!(size_of::<b::JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() == pick(144, 112));
    assert!(size_of::<b::JOBOBJECT_BASIC_UI_RESTRICTIONS>() == 4);
    assert!(size_of::<b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION>() == 8);
    assert!(size_of::<b::JOBOBJECT_END_OF_JOB_TIME_INFORMATION>() == 4);
    assert!(size_of::<b::JOBOBJECT_NET_RATE_CONTROL_INFORMATION>() == 16);
    assert!(size_of::<b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION>() == 48);
    assert!(size_of::<b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2>() == 72);
    assert!(size_of::<b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION>() == 80);
    assert!(size_of::<b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2>() == 104);
    assert!(size_of::<b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION>() == 40);
    assert!(size_of::<b::GROUP_AFFINITY>() == pick(16, 12));
    assert!(size_of::<b::JOBOBJECT_ASSOCIATE_COMPLETION_PORT>() == pick(16, 8));
    assert!(size_of::<b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() == 48);
    assert!(size_of::<b::IO_COUNTERS>() == 48);
    assert!(size_of::<b::JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION>() == 96);
};

/// A generated `i32` flag as the `u32` the structures hold (every flag is
/// positive).
const fn flag(value: i32) -> u32 {
    value.cast_unsigned()
}

const LIMIT_WORKINGSET: u32 = flag(b::JOB_OBJECT_LIMIT_WORKINGSET);
const LIMIT_PROCESS_TIME: u32 = flag(b::JOB_OBJECT_LIMIT_PROCESS_TIME);
const LIMIT_JOB_TIME: u32 = flag(b::JOB_OBJECT_LIMIT_JOB_TIME);
const LIMIT_ACTIVE_PROCESS: u32 = flag(b::JOB_OBJECT_LIMIT_ACTIVE_PROCESS);
const LIMIT_AFFINITY: u32 = flag(b::JOB_OBJECT_LIMIT_AFFINITY);
const LIMIT_PRIORITY_CLASS: u32 = flag(b::JOB_OBJECT_LIMIT_PRIORITY_CLASS);
const LIMIT_PRESERVE_JOB_TIME: u32 = flag(b::JOB_OBJECT_LIMIT_PRESERVE_JOB_TIME);
const LIMIT_SCHEDULING_CLASS: u32 = flag(b::JOB_OBJECT_LIMIT_SCHEDULING_CLASS);
const LIMIT_PROCESS_MEMORY: u32 = flag(b::JOB_OBJECT_LIMIT_PROCESS_MEMORY);
const LIMIT_JOB_MEMORY: u32 = flag(b::JOB_OBJECT_LIMIT_JOB_MEMORY);
const LIMIT_DIE_ON_UNHANDLED_EXCEPTION: u32 = flag(b::JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION);
const LIMIT_BREAKAWAY_OK: u32 = flag(b::JOB_OBJECT_LIMIT_BREAKAWAY_OK);
const LIMIT_SILENT_BREAKAWAY_OK: u32 = flag(b::JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK);
const LIMIT_KILL_ON_JOB_CLOSE: u32 = flag(b::JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE);
const LIMIT_SUBSET_AFFINITY: u32 = flag(b::JOB_OBJECT_LIMIT_SUBSET_AFFINITY);
const LIMIT_JOB_MEMORY_LOW: u32 = flag(b::JOB_OBJECT_LIMIT_JOB_MEMORY_LOW);
const LIMIT_JOB_READ_BYTES: u32 = flag(b::JOB_OBJECT_LIMIT_JOB_READ_BYTES);
const LIMIT_JOB_WRITE_BYTES: u32 = flag(b::JOB_OBJECT_LIMIT_JOB_WRITE_BYTES);
const LIMIT_RATE_CONTROL: u32 = flag(b::JOB_OBJECT_LIMIT_RATE_CONTROL);
const LIMIT_IO_RATE_CONTROL: u32 = flag(b::JOB_OBJECT_LIMIT_IO_RATE_CONTROL);
const LIMIT_NET_RATE_CONTROL: u32 = flag(b::JOB_OBJECT_LIMIT_NET_RATE_CONTROL);

const CPU_ENABLE: u32 = flag(b::JOB_OBJECT_CPU_RATE_CONTROL_ENABLE);
const CPU_WEIGHT_BASED: u32 = flag(b::JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED);
const CPU_HARD_CAP: u32 = flag(b::JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP);
const CPU_NOTIFY: u32 = flag(b::JOB_OBJECT_CPU_RATE_CONTROL_NOTIFY);
const CPU_MIN_MAX_RATE: u32 = flag(b::JOB_OBJECT_CPU_RATE_CONTROL_MIN_MAX_RATE);

/// The UI flags, in the order of [`UiRestrictions`]' fields.
const UI_FLAGS: [u32; 9] = [
    flag(b::JOB_OBJECT_UILIMIT_HANDLES),
    flag(b::JOB_OBJECT_UILIMIT_READCLIPBOARD),
    flag(b::JOB_OBJECT_UILIMIT_WRITECLIPBOARD),
    flag(b::JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS),
    flag(b::JOB_OBJECT_UILIMIT_DISPLAYSETTINGS),
    flag(b::JOB_OBJECT_UILIMIT_GLOBALATOMS),
    flag(b::JOB_OBJECT_UILIMIT_DESKTOP),
    flag(b::JOB_OBJECT_UILIMIT_EXITWINDOWS),
    flag(b::JOB_OBJECT_UILIMIT_IME),
];

/// Something the OS answered that no typed value can hold.
fn invalid_data(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

/// A `SIZE_T` or `KAFFINITY` as `u64`; lossless on every Windows target.
fn wide(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// 100-nanosecond ticks per second.
const TICKS_PER_SEC: u64 = 10_000_000;

/// A CPU time (checked by `check_cpu_time`: 100 ns to `i64::MAX` ticks) as
/// Windows' 100-ns ticks, rounded down.
fn ticks(name: &str, time: Duration) -> io::Result<i64> {
    i64::try_from(time.as_nanos() / 100)
        .map_err(|_| invalid_input(format!("{name} of {time:?} is longer than 29 000 years")))
}

/// Windows' ticks as a `Duration`.
fn duration(name: &str, ticks: i64) -> io::Result<Duration> {
    let ticks = u64::try_from(ticks)
        .map_err(|_| invalid_data(format!("{name}: Windows reported a negative time")))?;
    // `ticks % TICKS_PER_SEC * 100` is below one second in nanoseconds.
    let nanos = u32::try_from(ticks % TICKS_PER_SEC * 100).unwrap_or(0);
    Ok(Duration::new(ticks / TICKS_PER_SEC, nanos))
}

/// A byte count as the `SIZE_T` of this target.
fn size_t(name: &str, bytes: u64) -> io::Result<usize> {
    usize::try_from(bytes).map_err(|_| {
        invalid_input(format!(
            "{name} of {bytes} bytes does not fit a {}-bit process; at most {} bytes is accepted",
            usize::BITS,
            usize::MAX
        ))
    })
}

/// A CPU set as the `KAFFINITY` of this target.
fn affinity_mask(name: &str, cpus: &CpuSet) -> io::Result<usize> {
    let too_high = || {
        invalid_input(format!(
            "{name} {cpus} names CPUs beyond {}; a {}-bit process can name CPUs 0 to {} of its \
             processor group",
            usize::BITS - 1,
            usize::BITS,
            usize::BITS - 1
        ))
    };
    let mask = cpus.to_mask().ok_or_else(too_high)?;
    usize::try_from(mask).map_err(|_| too_high())
}

fn priority_class_value(class: PriorityClass) -> u32 {
    flag(match class {
        PriorityClass::Idle => b::IDLE_PRIORITY_CLASS,
        PriorityClass::BelowNormal => b::BELOW_NORMAL_PRIORITY_CLASS,
        PriorityClass::Normal => b::NORMAL_PRIORITY_CLASS,
        PriorityClass::AboveNormal => b::ABOVE_NORMAL_PRIORITY_CLASS,
        PriorityClass::High => b::HIGH_PRIORITY_CLASS,
        PriorityClass::Realtime => b::REALTIME_PRIORITY_CLASS,
    })
}

/// A `*_PRIORITY_CLASS` value, as `GetPriorityClass` or the job reports it.
pub(crate) fn priority_class_from(value: u32) -> Option<PriorityClass> {
    [
        PriorityClass::Idle,
        PriorityClass::BelowNormal,
        PriorityClass::Normal,
        PriorityClass::AboveNormal,
        PriorityClass::High,
        PriorityClass::Realtime,
    ]
    .into_iter()
    .find(|&class| priority_class_value(class) == value)
}

// ---------------------------------------------------------------------------
// JobObjectExtendedLimitInformation
// ---------------------------------------------------------------------------

/// Encodes `limits` (validated). With `preserve_job_time`, a job time limit
/// is sent as `PRESERVE_JOB_TIME` (keep the limit in force and its clock)
/// instead of `JOB_TIME` (a new limit from now).
pub(crate) fn encode_extended(
    limits: &ExtendedLimits,
    preserve_job_time: bool,
) -> io::Result<b::JOBOBJECT_EXTENDED_LIMIT_INFORMATION> {
    let mut info = b::JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    let basic = &mut info.BasicLimitInformation;
    let mut flags = 0;
    if let Some(WorkingSet { min, max }) = limits.working_set {
        flags |= LIMIT_WORKINGSET;
        basic.MinimumWorkingSetSize = size_t("working_set min", min)?;
        basic.MaximumWorkingSetSize = size_t("working_set max", max)?;
    }
    if let Some(time) = limits.process_time {
        flags |= LIMIT_PROCESS_TIME;
        basic.PerProcessUserTimeLimit = ticks("process_time", time)?;
    }
    if let Some(time) = limits.job_time {
        if preserve_job_time {
            flags |= LIMIT_PRESERVE_JOB_TIME;
        } else {
            flags |= LIMIT_JOB_TIME;
            basic.PerJobUserTimeLimit = ticks("job_time", time)?;
        }
    }
    if let Some(count) = limits.active_processes {
        flags |= LIMIT_ACTIVE_PROCESS;
        basic.ActiveProcessLimit = count;
    }
    if let Some(cpus) = &limits.affinity {
        flags |= LIMIT_AFFINITY;
        basic.Affinity = affinity_mask("affinity", cpus)?;
    }
    if limits.subset_affinity {
        flags |= LIMIT_SUBSET_AFFINITY;
    }
    if let Some(class) = limits.priority_class {
        flags |= LIMIT_PRIORITY_CLASS;
        basic.PriorityClass = priority_class_value(class);
    }
    if let Some(class) = limits.scheduling_class {
        flags |= LIMIT_SCHEDULING_CLASS;
        basic.SchedulingClass = u32::from(class.get());
    }
    if let Some(bytes) = limits.process_memory {
        flags |= LIMIT_PROCESS_MEMORY;
        info.ProcessMemoryLimit = size_t("process_memory", bytes)?;
    }
    if let Some(bytes) = limits.job_memory {
        flags |= LIMIT_JOB_MEMORY;
        info.JobMemoryLimit = size_t("job_memory", bytes)?;
    }
    if limits.die_on_unhandled_exception {
        flags |= LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
    }
    flags |= match limits.breakaway {
        Breakaway::Never => 0,
        Breakaway::Allowed => LIMIT_BREAKAWAY_OK,
        Breakaway::Silent => LIMIT_SILENT_BREAKAWAY_OK,
    };
    if limits.kill_on_close {
        flags |= LIMIT_KILL_ON_JOB_CLOSE;
    }
    info.BasicLimitInformation.LimitFlags = flags;
    Ok(info)
}

/// Decodes what `QueryInformationJobObject` answered for class 9. The job
/// time of a `PRESERVE_JOB_TIME` answer without `JOB_TIME` is unknown, and
/// decodes as none.
pub(crate) fn decode_extended(
    info: &b::JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
) -> io::Result<ExtendedLimits> {
    let basic = &info.BasicLimitInformation;
    let flags = basic.LimitFlags;
    let has = |bit: u32| flags & bit != 0;
    let mut limits = ExtendedLimits::new();
    if has(LIMIT_WORKINGSET) {
        limits.working_set = Some(WorkingSet {
            min: wide(basic.MinimumWorkingSetSize),
            max: wide(basic.MaximumWorkingSetSize),
        });
    }
    if has(LIMIT_PROCESS_TIME) {
        limits.process_time = Some(duration("process_time", basic.PerProcessUserTimeLimit)?);
    }
    if has(LIMIT_JOB_TIME) {
        limits.job_time = Some(duration("job_time", basic.PerJobUserTimeLimit)?);
    }
    if has(LIMIT_ACTIVE_PROCESS) {
        limits.active_processes = Some(basic.ActiveProcessLimit);
    }
    if has(LIMIT_AFFINITY) {
        limits.affinity = Some(CpuSet::from_mask(wide(basic.Affinity)));
    }
    limits.subset_affinity = has(LIMIT_SUBSET_AFFINITY);
    if has(LIMIT_PRIORITY_CLASS) {
        let value = basic.PriorityClass;
        limits.priority_class = Some(priority_class_from(value).ok_or_else(|| {
            invalid_data(format!("priority_class: unknown priority class {value:#x}"))
        })?);
    }
    if has(LIMIT_SCHEDULING_CLASS) {
        let value = basic.SchedulingClass;
        let class = u8::try_from(value)
            .ok()
            .and_then(|v| SchedulingClass::new(v).ok())
            .ok_or_else(|| invalid_data(format!("scheduling_class: {value} is not 0 to 9")))?;
        limits.scheduling_class = Some(class);
    }
    if has(LIMIT_PROCESS_MEMORY) {
        limits.process_memory = Some(wide(info.ProcessMemoryLimit));
    }
    if has(LIMIT_JOB_MEMORY) {
        limits.job_memory = Some(wide(info.JobMemoryLimit));
    }
    limits.die_on_unhandled_exception = has(LIMIT_DIE_ON_UNHANDLED_EXCEPTION);
    limits.breakaway = if has(LIMIT_SILENT_BREAKAWAY_OK) {
        Breakaway::Silent
    } else if has(LIMIT_BREAKAWAY_OK) {
        Breakaway::Allowed
    } else {
        Breakaway::Never
    };
    limits.kill_on_close = has(LIMIT_KILL_ON_JOB_CLOSE);
    Ok(limits)
}

// ---------------------------------------------------------------------------
// The portable limits
// ---------------------------------------------------------------------------

/// The extended limits after `limits` (validated) replaced the portable ones
/// in `current`; every other field of `current` is kept. Subset affinity goes
/// when affinity does (Windows refuses one without the other).
pub(crate) fn extended_with_portable(current: &ExtendedLimits, limits: &Limits) -> ExtendedLimits {
    let mut next = current.clone();
    next.job_memory = limits.job_memory;
    next.process_memory = limits.process_memory;
    next.active_processes = limits.active_processes;
    next.job_time = limits.job_cpu_time;
    next.process_time = limits.process_cpu_time;
    next.priority_class = limits.priority.map(PriorityClass::from);
    next.affinity.clone_from(&limits.affinity);
    if next.affinity.is_none() {
        next.subset_affinity = false;
    }
    next
}

/// The CPU rate control after `limits` (validated) replaced the portable
/// part of `current`: a CPU rate is a hard cap, a weight is weight-based.
/// With neither, a hard cap without notification or a weight is lifted,
/// while a mode the portable limits cannot express (soft cap, min/max, a
/// notifying cap) stays.
pub(crate) fn cpu_with_portable(
    current: Option<CpuRateControl>,
    limits: &Limits,
) -> Option<CpuRateControl> {
    if let Some(rate) = limits.cpu_rate {
        return Some(CpuRateControl::HardCap {
            rate,
            notify: false,
        });
    }
    if let Some(weight) = limits.cpu_weight {
        return Some(CpuRateControl::Weight(weight));
    }
    match current {
        Some(CpuRateControl::HardCap { notify: false, .. } | CpuRateControl::Weight(_)) => None,
        other => other,
    }
}

/// The portable view of the extended limits and the CPU rate control.
pub(crate) fn portable(extended: &ExtendedLimits, cpu: Option<CpuRateControl>) -> Limits {
    let mut limits = Limits::new();
    limits.job_memory = extended.job_memory;
    limits.process_memory = extended.process_memory;
    limits.active_processes = extended.active_processes;
    limits.job_cpu_time = extended.job_time;
    limits.process_cpu_time = extended.process_time;
    limits.priority = extended.priority_class.map(Into::into);
    limits.affinity.clone_from(&extended.affinity);
    match cpu {
        Some(CpuRateControl::HardCap {
            rate,
            notify: false,
        }) => limits.cpu_rate = Some(rate),
        Some(CpuRateControl::Weight(weight)) => limits.cpu_weight = Some(weight),
        _ => {}
    }
    limits
}

// ---------------------------------------------------------------------------
// JobObjectBasicUIRestrictions
// ---------------------------------------------------------------------------

fn ui_fields(ui: &mut UiRestrictions) -> [&mut bool; 9] {
    [
        &mut ui.handles,
        &mut ui.read_clipboard,
        &mut ui.write_clipboard,
        &mut ui.system_parameters,
        &mut ui.display_settings,
        &mut ui.global_atoms,
        &mut ui.desktop,
        &mut ui.exit_windows,
        &mut ui.ime,
    ]
}

pub(crate) fn encode_ui(ui: UiRestrictions) -> b::JOBOBJECT_BASIC_UI_RESTRICTIONS {
    let mut ui = ui;
    let flags = ui_fields(&mut ui)
        .into_iter()
        .zip(UI_FLAGS)
        .filter(|(set, _)| **set)
        .fold(0, |flags, (_, bit)| flags | bit);
    b::JOBOBJECT_BASIC_UI_RESTRICTIONS {
        UIRestrictionsClass: flags,
    }
}

/// Bits no [`UiRestrictions`] field holds (from a newer Windows) are
/// refused rather than dropped.
pub(crate) fn decode_ui(info: &b::JOBOBJECT_BASIC_UI_RESTRICTIONS) -> io::Result<UiRestrictions> {
    let flags = info.UIRestrictionsClass;
    let known = UI_FLAGS.iter().fold(0, |all, bit| all | bit);
    if flags & !known != 0 {
        return Err(invalid_data(format!(
            "ui_restrictions: unknown JOB_OBJECT_UILIMIT_* bits {:#x}",
            flags & !known
        )));
    }
    let mut ui = UiRestrictions::new();
    for (field, bit) in ui_fields(&mut ui).into_iter().zip(UI_FLAGS) {
        *field = flags & bit != 0;
    }
    Ok(ui)
}

// ---------------------------------------------------------------------------
// JobObjectCpuRateControlInformation
// ---------------------------------------------------------------------------

/// `None` disables CPU rate control (`ControlFlags` 0).
pub(crate) fn encode_cpu(
    control: Option<CpuRateControl>,
) -> b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION {
    let mut info = b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION::default();
    let notify_bit = |notify: bool| if notify { CPU_NOTIFY } else { 0 };
    match control {
        None => {}
        Some(CpuRateControl::HardCap { rate, notify }) => {
            info.ControlFlags = CPU_ENABLE | CPU_HARD_CAP | notify_bit(notify);
            info.Anonymous.CpuRate = rate.hundredths();
        }
        Some(CpuRateControl::SoftCap { rate, notify }) => {
            info.ControlFlags = CPU_ENABLE | notify_bit(notify);
            info.Anonymous.CpuRate = rate.hundredths();
        }
        Some(CpuRateControl::Weight(weight)) => {
            info.ControlFlags = CPU_ENABLE | CPU_WEIGHT_BASED;
            info.Anonymous.Weight = u32::from(weight.get());
        }
        Some(CpuRateControl::MinMax { min, max, notify }) => {
            info.ControlFlags = CPU_ENABLE | CPU_MIN_MAX_RATE | notify_bit(notify);
            // A rate is at most 10 000, so it fits a WORD.
            let word = |rate: CpuRate| u16::try_from(rate.hundredths()).unwrap_or(u16::MAX);
            info.Anonymous.Anonymous = b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION_0_0 {
                MinRate: min.map_or(0, word),
                MaxRate: word(max),
            };
        }
    }
    info
}

pub(crate) fn decode_cpu(
    info: &b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION,
) -> io::Result<Option<CpuRateControl>> {
    let flags = info.ControlFlags;
    if flags & CPU_ENABLE == 0 {
        return Ok(None);
    }
    let known = CPU_ENABLE | CPU_WEIGHT_BASED | CPU_HARD_CAP | CPU_NOTIFY | CPU_MIN_MAX_RATE;
    let bad = || {
        invalid_data(format!(
            "cpu_rate_control: Windows reported the unknown ControlFlags {flags:#x}"
        ))
    };
    if flags & !known != 0 {
        return Err(bad());
    }
    let notify = flags & CPU_NOTIFY != 0;
    let rate = |value: u32, what: &str| {
        CpuRate::from_hundredths(value).map_err(|_| {
            invalid_data(format!(
                "cpu_rate_control: {what} of {value} is not 1 to 10000"
            ))
        })
    };
    let mode = flags & (CPU_WEIGHT_BASED | CPU_HARD_CAP | CPU_MIN_MAX_RATE);
    let (dword, min_rate, max_rate) = cpu_words(&info.Anonymous);
    Ok(Some(match mode {
        0 => CpuRateControl::SoftCap {
            rate: rate(dword, "CpuRate")?,
            notify,
        },
        m if m == CPU_HARD_CAP => CpuRateControl::HardCap {
            rate: rate(dword, "CpuRate")?,
            notify,
        },
        m if m == CPU_WEIGHT_BASED && !notify => {
            let weight = u8::try_from(dword)
                .ok()
                .and_then(|w| CpuWeight::new(w).ok())
                .ok_or_else(|| {
                    invalid_data(format!("cpu_rate_control: Weight {dword} is not 1 to 9"))
                })?;
            CpuRateControl::Weight(weight)
        }
        m if m == CPU_MIN_MAX_RATE => CpuRateControl::MinMax {
            min: match min_rate {
                0 => None,
                min => Some(rate(u32::from(min), "MinRate")?),
            },
            max: rate(u32::from(max_rate), "MaxRate")?,
            notify,
        },
        _ => return Err(bad()),
    }))
}

/// The union of `JOBOBJECT_CPU_RATE_CONTROL_INFORMATION` as plain numbers:
/// `(CpuRate or Weight, MinRate, MaxRate)`.
fn cpu_words(union: &b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION_0) -> (u32, u16, u16) {
    let dword = super::api::cpu_rate_dword(union);
    let bytes = dword.to_ne_bytes();
    // MinRate is the first WORD in memory, MaxRate the second.
    let min = u16::from_ne_bytes([bytes[0], bytes[1]]);
    let max = u16::from_ne_bytes([bytes[2], bytes[3]]);
    (dword, min, max)
}

// ---------------------------------------------------------------------------
// JobObjectNetRateControlInformation
// ---------------------------------------------------------------------------

const NET_ENABLE: u32 = b::JOB_OBJECT_NET_RATE_CONTROL_ENABLE;
const NET_MAX_BANDWIDTH: u32 = b::JOB_OBJECT_NET_RATE_CONTROL_MAX_BANDWIDTH;
const NET_DSCP_TAG: u32 = b::JOB_OBJECT_NET_RATE_CONTROL_DSCP_TAG;

/// An empty value disables network rate control (`ControlFlags` 0).
pub(crate) fn encode_net(net: NetRateControl) -> b::JOBOBJECT_NET_RATE_CONTROL_INFORMATION {
    let mut info = b::JOBOBJECT_NET_RATE_CONTROL_INFORMATION::default();
    if let Some(bytes) = net.max_bandwidth {
        info.ControlFlags |= NET_ENABLE | NET_MAX_BANDWIDTH;
        info.MaxBandwidth = bytes;
    }
    if let Some(tag) = net.dscp_tag {
        info.ControlFlags |= NET_ENABLE | NET_DSCP_TAG;
        info.DscpTag = tag;
    }
    info
}

pub(crate) fn decode_net(info: &b::JOBOBJECT_NET_RATE_CONTROL_INFORMATION) -> NetRateControl {
    let mut net = NetRateControl::new();
    let flags = info.ControlFlags;
    if flags & NET_ENABLE == 0 {
        return net;
    }
    if flags & NET_MAX_BANDWIDTH != 0 {
        net.max_bandwidth = Some(info.MaxBandwidth);
    }
    if flags & NET_DSCP_TAG != 0 {
        net.dscp_tag = Some(info.DscpTag);
    }
    net
}

// ---------------------------------------------------------------------------
// SetIoRateControlInformationJobObject
// ---------------------------------------------------------------------------

const IO_ENABLE: u32 = b::JOB_OBJECT_IO_RATE_CONTROL_ENABLE;
const IO_STANDALONE_VOLUME: u32 = b::JOB_OBJECT_IO_RATE_CONTROL_STANDALONE_VOLUME;
const IO_FUA_ALL: u32 = b::JOB_OBJECT_IO_RATE_CONTROL_FORCE_UNIT_ACCESS_ALL;
const IO_FUA_ON_SOFT_CAP: u32 = b::JOB_OBJECT_IO_RATE_CONTROL_FORCE_UNIT_ACCESS_ON_SOFT_CAP;

/// Encodes `io` (validated) without its volume name: the caller points
/// `VolumeName` at a string that outlives the call. `ENABLE` is set when any
/// limit is; a value without limits disables I/O rate control.
pub(crate) fn encode_io(io: &IoRateControl) -> b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION {
    let signed = |value: Option<u64>| value.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
    let mut info = b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION {
        MaxIops: signed(io.max_iops),
        MaxBandwidth: signed(io.max_bandwidth),
        ReservationIops: signed(io.reservation_iops),
        BaseIoSize: io.base_io_size.unwrap_or(0),
        ..Default::default()
    };
    if io.max_iops.is_some() || io.max_bandwidth.is_some() || io.reservation_iops.is_some() {
        info.ControlFlags |= IO_ENABLE;
    }
    if io.standalone_volume {
        info.ControlFlags |= IO_STANDALONE_VOLUME;
    }
    info.ControlFlags |= match io.force_unit_access {
        ForceUnitAccess::Never => 0,
        ForceUnitAccess::All => IO_FUA_ALL,
        ForceUnitAccess::OnSoftCap => IO_FUA_ON_SOFT_CAP,
    };
    info
}

/// Decodes one block of `QueryIoRateControlInformationJobObject`, whose
/// volume name the caller has read.
pub(crate) fn decode_io(
    info: &b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION,
    volume: Option<String>,
) -> io::Result<IoRateControl> {
    let count = |name: &str, value: i64| match value {
        0 => Ok(None),
        v => u64::try_from(v)
            .map(Some)
            .map_err(|_| invalid_data(format!("io_rate_control: negative {name} {v}"))),
    };
    let flags = info.ControlFlags;
    Ok(IoRateControl {
        volume: volume.filter(|v| !v.is_empty()),
        max_iops: count("MaxIops", info.MaxIops)?,
        max_bandwidth: count("MaxBandwidth", info.MaxBandwidth)?,
        reservation_iops: count("ReservationIops", info.ReservationIops)?,
        base_io_size: (info.BaseIoSize != 0).then_some(info.BaseIoSize),
        standalone_volume: flags & IO_STANDALONE_VOLUME != 0,
        force_unit_access: if flags & IO_FUA_ALL != 0 {
            ForceUnitAccess::All
        } else if flags & IO_FUA_ON_SOFT_CAP != 0 {
            ForceUnitAccess::OnSoftCap
        } else {
            ForceUnitAccess::Never
        },
    })
}

// ---------------------------------------------------------------------------
// JobObjectEndOfJobTimeInformation
// ---------------------------------------------------------------------------

pub(crate) fn encode_end_of_job_time(
    action: EndOfJobTimeAction,
) -> b::JOBOBJECT_END_OF_JOB_TIME_INFORMATION {
    b::JOBOBJECT_END_OF_JOB_TIME_INFORMATION {
        EndOfJobTimeAction: flag(match action {
            EndOfJobTimeAction::Terminate => b::JOB_OBJECT_TERMINATE_AT_END_OF_JOB,
            EndOfJobTimeAction::PostMessage => b::JOB_OBJECT_POST_AT_END_OF_JOB,
        }),
    }
}

pub(crate) fn decode_end_of_job_time(
    info: &b::JOBOBJECT_END_OF_JOB_TIME_INFORMATION,
) -> io::Result<EndOfJobTimeAction> {
    match info.EndOfJobTimeAction {
        v if v == flag(b::JOB_OBJECT_TERMINATE_AT_END_OF_JOB) => Ok(EndOfJobTimeAction::Terminate),
        v if v == flag(b::JOB_OBJECT_POST_AT_END_OF_JOB) => Ok(EndOfJobTimeAction::PostMessage),
        v => Err(invalid_data(format!(
            "end_of_job_time: unknown EndOfJobTimeAction {v}"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Notification limits and violations
// ---------------------------------------------------------------------------

fn tolerance_value(tolerance: Tolerance) -> i32 {
    match tolerance {
        Tolerance::Low => b::ToleranceLow,
        Tolerance::Medium => b::ToleranceMedium,
        Tolerance::High => b::ToleranceHigh,
    }
}

fn tolerance_from(name: &str, value: i32) -> io::Result<Tolerance> {
    [Tolerance::Low, Tolerance::Medium, Tolerance::High]
        .into_iter()
        .find(|&t| tolerance_value(t) == value)
        .ok_or_else(|| invalid_data(format!("{name}: unknown tolerance {value}")))
}

fn interval_value(interval: ToleranceInterval) -> i32 {
    match interval {
        ToleranceInterval::Short => b::ToleranceIntervalShort,
        ToleranceInterval::Medium => b::ToleranceIntervalMedium,
        ToleranceInterval::Long => b::ToleranceIntervalLong,
    }
}

fn interval_from(name: &str, value: i32) -> io::Result<ToleranceInterval> {
    [
        ToleranceInterval::Short,
        ToleranceInterval::Medium,
        ToleranceInterval::Long,
    ]
    .into_iter()
    .find(|&i| interval_value(i) == value)
    .ok_or_else(|| invalid_data(format!("{name}: unknown tolerance interval {value}")))
}

fn rate_tolerance(name: &str, tolerance: i32, interval: i32) -> io::Result<RateTolerance> {
    Ok(RateTolerance {
        tolerance: tolerance_from(name, tolerance)?,
        interval: interval_from(name, interval)?,
    })
}

/// The fields both notification classes share, as plain numbers.
struct NotificationCommon {
    flags: u32,
    read: u64,
    write: u64,
    time: i64,
    memory_high: u64,
    cpu: (i32, i32),
}

fn encode_common(limits: &NotificationLimits) -> io::Result<NotificationCommon> {
    let mut common = NotificationCommon {
        flags: 0,
        read: 0,
        write: 0,
        time: 0,
        memory_high: 0,
        cpu: (0, 0),
    };
    if let Some(bytes) = limits.io_read_bytes {
        common.flags |= LIMIT_JOB_READ_BYTES;
        common.read = bytes;
    }
    if let Some(bytes) = limits.io_write_bytes {
        common.flags |= LIMIT_JOB_WRITE_BYTES;
        common.write = bytes;
    }
    if let Some(time) = limits.job_time {
        common.flags |= LIMIT_JOB_TIME;
        common.time = ticks("job_time", time)?;
    }
    if let Some(bytes) = limits.job_memory_high {
        common.flags |= LIMIT_JOB_MEMORY;
        common.memory_high = bytes;
    }
    if let Some(rate) = limits.cpu_rate {
        common.flags |= LIMIT_RATE_CONTROL;
        common.cpu = (
            tolerance_value(rate.tolerance),
            interval_value(rate.interval),
        );
    }
    Ok(common)
}

fn decode_common(common: &NotificationCommon) -> io::Result<NotificationLimits> {
    let has = |bit: u32| common.flags & bit != 0;
    let mut limits = NotificationLimits::new();
    limits.io_read_bytes = has(LIMIT_JOB_READ_BYTES).then_some(common.read);
    limits.io_write_bytes = has(LIMIT_JOB_WRITE_BYTES).then_some(common.write);
    if has(LIMIT_JOB_TIME) {
        limits.job_time = Some(duration("job_time", common.time)?);
    }
    limits.job_memory_high = has(LIMIT_JOB_MEMORY).then_some(common.memory_high);
    if has(LIMIT_RATE_CONTROL) {
        limits.cpu_rate = Some(rate_tolerance("cpu_rate", common.cpu.0, common.cpu.1)?);
    }
    Ok(limits)
}

/// Class 12, which cannot carry the fields of [`NotificationLimits::needs_version_2`].
pub(crate) fn encode_notification(
    limits: &NotificationLimits,
) -> io::Result<b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION> {
    if limits.needs_version_2() {
        return Err(crate::error::unsupported(
            "job_memory_low, io_rate and net_rate notification limits need \
             JobObjectNotificationLimitInformation2 (Windows 10 1607), which this system lacks",
        ));
    }
    let c = encode_common(limits)?;
    Ok(b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION {
        IoReadBytesLimit: c.read,
        IoWriteBytesLimit: c.write,
        PerJobUserTimeLimit: c.time,
        JobMemoryLimit: c.memory_high,
        RateControlTolerance: c.cpu.0,
        RateControlToleranceInterval: c.cpu.1,
        LimitFlags: c.flags,
    })
}

pub(crate) fn decode_notification(
    info: &b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION,
) -> io::Result<NotificationLimits> {
    decode_common(&NotificationCommon {
        flags: info.LimitFlags,
        read: info.IoReadBytesLimit,
        write: info.IoWriteBytesLimit,
        time: info.PerJobUserTimeLimit,
        memory_high: info.JobMemoryLimit,
        cpu: (info.RateControlTolerance, info.RateControlToleranceInterval),
    })
}

/// Class 33.
pub(crate) fn encode_notification2(
    limits: &NotificationLimits,
) -> io::Result<b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2> {
    let c = encode_common(limits)?;
    let mut info = b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2 {
        IoReadBytesLimit: c.read,
        IoWriteBytesLimit: c.write,
        PerJobUserTimeLimit: c.time,
        Anonymous: b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2_0 {
            JobHighMemoryLimit: c.memory_high,
        },
        Anonymous2: b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2_1 {
            CpuRateControlTolerance: c.cpu.0,
        },
        Anonymous3: b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2_2 {
            CpuRateControlToleranceInterval: c.cpu.1,
        },
        LimitFlags: c.flags,
        ..Default::default()
    };
    if let Some(bytes) = limits.job_memory_low {
        info.LimitFlags |= LIMIT_JOB_MEMORY_LOW;
        info.JobLowMemoryLimit = bytes;
    }
    if let Some(rate) = limits.io_rate {
        info.LimitFlags |= LIMIT_IO_RATE_CONTROL;
        info.IoRateControlTolerance = tolerance_value(rate.tolerance);
        info.IoRateControlToleranceInterval = interval_value(rate.interval);
    }
    if let Some(rate) = limits.net_rate {
        info.LimitFlags |= LIMIT_NET_RATE_CONTROL;
        info.NetRateControlTolerance = tolerance_value(rate.tolerance);
        info.NetRateControlToleranceInterval = interval_value(rate.interval);
    }
    Ok(info)
}

pub(crate) fn decode_notification2(
    info: &b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2,
) -> io::Result<NotificationLimits> {
    let unions = super::api::notification2_unions(info);
    let mut limits = decode_common(&NotificationCommon {
        flags: info.LimitFlags,
        read: info.IoReadBytesLimit,
        write: info.IoWriteBytesLimit,
        time: info.PerJobUserTimeLimit,
        memory_high: unions.0,
        cpu: (unions.1, unions.2),
    })?;
    let has = |bit: u32| info.LimitFlags & bit != 0;
    limits.job_memory_low = has(LIMIT_JOB_MEMORY_LOW).then_some(info.JobLowMemoryLimit);
    if has(LIMIT_IO_RATE_CONTROL) {
        limits.io_rate = Some(rate_tolerance(
            "io_rate",
            info.IoRateControlTolerance,
            info.IoRateControlToleranceInterval,
        )?);
    }
    if has(LIMIT_NET_RATE_CONTROL) {
        limits.net_rate = Some(rate_tolerance(
            "net_rate",
            info.NetRateControlTolerance,
            info.NetRateControlToleranceInterval,
        )?);
    }
    Ok(limits)
}

/// What both violation classes report, as plain numbers.
struct ViolationCommon {
    violated: u32,
    read: (u64, u64),
    write: (u64, u64),
    time: (i64, i64),
    memory: u64,
    memory_high_limit: u64,
    cpu: (i32, i32),
}

fn decode_violation_common(v: &ViolationCommon) -> io::Result<LimitViolation> {
    let has = |bit: u32| v.violated & bit != 0;
    let crossed = |(value, limit): (u64, u64)| Crossed { value, limit };
    let mut out = LimitViolation {
        io_read_bytes: has(LIMIT_JOB_READ_BYTES).then(|| crossed(v.read)),
        io_write_bytes: has(LIMIT_JOB_WRITE_BYTES).then(|| crossed(v.write)),
        ..LimitViolation::default()
    };
    if has(LIMIT_JOB_TIME) {
        out.job_time = Some(Crossed {
            value: duration("job_time", v.time.0)?,
            limit: duration("job_time limit", v.time.1)?,
        });
    }
    out.job_memory_high = has(LIMIT_JOB_MEMORY).then(|| crossed((v.memory, v.memory_high_limit)));
    if has(LIMIT_RATE_CONTROL) {
        out.cpu_rate = Some(Crossed {
            value: tolerance_from("cpu_rate", v.cpu.0)?,
            limit: tolerance_from("cpu_rate limit", v.cpu.1)?,
        });
    }
    Ok(out)
}

pub(crate) fn decode_violation(
    info: &b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION,
) -> io::Result<LimitViolation> {
    decode_violation_common(&ViolationCommon {
        violated: info.ViolationLimitFlags,
        read: (info.IoReadBytes, info.IoReadBytesLimit),
        write: (info.IoWriteBytes, info.IoWriteBytesLimit),
        time: (info.PerJobUserTime, info.PerJobUserTimeLimit),
        memory: info.JobMemory,
        memory_high_limit: info.JobMemoryLimit,
        cpu: (info.RateControlTolerance, info.RateControlToleranceLimit),
    })
}

pub(crate) fn decode_violation2(
    info: &b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2,
) -> io::Result<LimitViolation> {
    let unions = super::api::violation2_unions(info);
    let mut out = decode_violation_common(&ViolationCommon {
        violated: info.ViolationLimitFlags,
        read: (info.IoReadBytes, info.IoReadBytesLimit),
        write: (info.IoWriteBytes, info.IoWriteBytesLimit),
        time: (info.PerJobUserTime, info.PerJobUserTimeLimit),
        memory: info.JobMemory,
        memory_high_limit: unions.0,
        cpu: (unions.1, unions.2),
    })?;
    let has = |bit: u32| info.ViolationLimitFlags & bit != 0;
    out.job_memory_low = has(LIMIT_JOB_MEMORY_LOW).then_some(Crossed {
        value: info.JobMemory,
        limit: info.JobLowMemoryLimit,
    });
    if has(LIMIT_IO_RATE_CONTROL) {
        out.io_rate = Some(Crossed {
            value: tolerance_from("io_rate", info.IoRateControlTolerance)?,
            limit: tolerance_from("io_rate limit", info.IoRateControlToleranceLimit)?,
        });
    }
    if has(LIMIT_NET_RATE_CONTROL) {
        out.net_rate = Some(Crossed {
            value: tolerance_from("net_rate", info.NetRateControlTolerance)?,
            limit: tolerance_from("net_rate limit", info.NetRateControlToleranceLimit)?,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// JobObjectGroupInformationEx
// ---------------------------------------------------------------------------

/// Encodes `groups` (validated).
/// The names of the limits a violation reports as crossed, in the order of
/// the fields of [`LimitViolation`]: what `Event::NotificationLimit` carries.
/// Each name is the field's own.
pub(crate) fn crossed_limit_names(v: &LimitViolation) -> impl Iterator<Item = &'static str> {
    [
        ("io_read_bytes", v.io_read_bytes.is_some()),
        ("io_write_bytes", v.io_write_bytes.is_some()),
        ("job_time", v.job_time.is_some()),
        ("job_memory_high", v.job_memory_high.is_some()),
        ("job_memory_low", v.job_memory_low.is_some()),
        ("cpu_rate", v.cpu_rate.is_some()),
        ("io_rate", v.io_rate.is_some()),
        ("net_rate", v.net_rate.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, crossed)| crossed.then_some(name))
}

pub(crate) fn encode_groups(groups: &[GroupAffinity]) -> io::Result<Vec<b::GROUP_AFFINITY>> {
    groups
        .iter()
        .map(|g| {
            let mask = usize::try_from(g.mask).map_err(|_| {
                invalid_input(format!(
                    "group affinity mask {:#x} of group {} names CPUs beyond {}, which a \
                     {}-bit process cannot name",
                    g.mask,
                    g.group,
                    usize::BITS - 1,
                    usize::BITS
                ))
            })?;
            Ok(b::GROUP_AFFINITY {
                Mask: mask,
                Group: g.group,
                Reserved: [0; 3],
            })
        })
        .collect()
}

pub(crate) fn decode_groups(groups: &[b::GROUP_AFFINITY]) -> Vec<GroupAffinity> {
    groups
        .iter()
        .map(|g| GroupAffinity {
            group: g.Group,
            mask: wide(g.Mask),
        })
        .collect()
}

#[cfg(test)]
#[path = "info_tests.rs"]
mod tests;
