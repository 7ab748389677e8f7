//! What the kernel counted for the processes this process has waited for:
//! `getrusage(RUSAGE_CHILDREN)`.
//!
//! rustix has no `getrusage`, so this is the one raw call outside the spawn
//! path; it goes through the same `syscall` entry (x86-64 only, as the
//! native spawn: elsewhere it is `Unsupported`).
//!
//! The kernel adds a child's usage, and that of every descendant the child
//! itself waited for, when the child is reaped; `ru_maxrss` is the largest
//! resident set of any one of them. A process that was never waited for by
//! anyone in the chain up to this one is not counted: a subreaper
//! (`PR_SET_CHILD_SUBREAPER`) that reaps its orphans counts a whole tree.

#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

use linux_raw_sys::general as k;

use super::spawn::raw;
use crate::os::linux::ChildrenUsage;

/// `getrusage(RUSAGE_CHILDREN)`.
pub(crate) fn children_usage() -> io::Result<ChildrenUsage> {
    if !raw::SUPPORTED {
        return Err(crate::error::unsupported(
            "children_usage: getrusage is only wired up on x86-64 Linux",
        ));
    }
    // SAFETY: all-zero bytes are a valid `rusage` (integers only).
    let mut usage: k::rusage = unsafe { std::mem::zeroed() };
    // `who` is an `int`: the kernel reads the register's low 32 bits, so
    // -1 as a u32 is -1.
    // SAFETY: getrusage writes one `struct rusage`, the layout linux-raw-sys
    // gives for this architecture, at the pointer; `usage` is one.
    unsafe {
        raw::syscall(
            k::__NR_getrusage,
            [
                k::RUSAGE_CHILDREN.cast_unsigned() as usize,
                (&raw mut usage) as usize,
                0,
                0,
                0,
                0,
            ],
        )
    }
    .map_err(io::Error::from_raw_os_error)?;
    let time = |tv: k::__kernel_old_timeval| {
        let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
        let micros = u32::try_from(tv.tv_usec).unwrap_or(0).min(999_999);
        Duration::new(secs, micros * 1000)
    };
    let count = |n: k::__kernel_long_t| u64::try_from(n).unwrap_or(0);
    Ok(ChildrenUsage {
        user_time: time(usage.ru_utime),
        system_time: time(usage.ru_stime),
        // Kibibytes on Linux.
        max_rss: count(usage.ru_maxrss).saturating_mul(1024),
        block_reads: count(usage.ru_inblock),
        block_writes: count(usage.ru_oublock),
        minor_faults: count(usage.ru_minflt),
        major_faults: count(usage.ru_majflt),
        voluntary_switches: count(usage.ru_nvcsw),
        involuntary_switches: count(usage.ru_nivcsw),
    })
}
