//! Reading the unions of the generated structures, a child of `api.rs` (and
//! so allowed `unsafe`): reading a union field is `unsafe` in Rust even when,
//! as here, every field of the union is a plain integer covering all of its
//! bytes, so that any bit pattern is a valid value of any field.
//!
//! Compiled on every host with the encoding's unit tests (`host.rs`).

use super::bindings as b;

/// `CpuRate` (equally `Weight`, or `MinRate` and `MaxRate` as two WORDs).
pub(crate) fn cpu_rate_dword(union: &b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION_0) -> u32 {
    // SAFETY: every field is 4 bytes of plain integers (u32, u32, two u16),
    // so the union's bytes are initialised and valid as a u32.
    unsafe { union.CpuRate }
}

/// `(JobHighMemoryLimit, CpuRateControlTolerance,
/// CpuRateControlToleranceInterval)` of the version 2 notification limits.
pub(crate) fn notification2_unions(
    info: &b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2,
) -> (u64, i32, i32) {
    // SAFETY: both fields of this union are u64.
    let memory = unsafe { info.Anonymous.JobHighMemoryLimit };
    // SAFETY: both fields of this union are i32.
    let tolerance = unsafe { info.Anonymous2.CpuRateControlTolerance };
    // SAFETY: both fields of this union are i32.
    let interval = unsafe { info.Anonymous3.CpuRateControlToleranceInterval };
    (memory, tolerance, interval)
}

/// `(JobHighMemoryLimit, CpuRateControlTolerance,
/// CpuRateControlToleranceLimit)` of the version 2 limit violation.
pub(crate) fn violation2_unions(
    info: &b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2,
) -> (u64, i32, i32) {
    // SAFETY: both fields of this union are u64.
    let memory = unsafe { info.Anonymous.JobHighMemoryLimit };
    // SAFETY: both fields of this union are i32.
    let tolerance = unsafe { info.Anonymous2.CpuRateControlTolerance };
    // SAFETY: both fields of this union are i32.
    let limit = unsafe { info.Anonymous3.CpuRateControlToleranceLimit };
    (memory, tolerance, limit)
}
