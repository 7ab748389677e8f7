//! What a job used: `JobObjectBasicAndIoAccountingInformation` and the peaks
//! of `JobObjectExtendedLimitInformation`, into the caller's [`Accounting`]
//! without allocating.
//!
//! Both structures are read into values on the stack. The two things that
//! would allocate are done once per process and remembered: whether this is
//! Wine (its version string is looked up once), and whether the system lacks
//! the I/O class (after the first refusal, later calls go straight to the
//! basic class instead of building an error each time). Only a query that
//! fails for another reason allocates — its error message.
//!
//! Which field comes from where, and what Wine reports, is in the backend's
//! module documentation (`mod.rs`, "Accounting").

use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::api::{self, bindings as b};
use super::job::Job;
use super::limits::is_unknown_class;
use crate::Accounting;
use crate::error::with_context;

/// Set once `JobObjectBasicAndIoAccountingInformation` was refused as an
/// unknown class: a property of the system, so shared by every job.
static NO_IO_CLASS: AtomicBool = AtomicBool::new(false);

/// True under Wine, decided once.
pub(super) fn under_wine() -> bool {
    static WINE: OnceLock<bool> = OnceLock::new();
    *WINE.get_or_init(|| api::wine_version().is_some())
}

/// Where a value comes from: a real Windows, or Wine, which fills only the
/// process counts and answers zeros for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Windows,
    Wine,
}

/// A time in the 100 ns units of the accounting structures. A negative
/// value (which no system reports) is not a time: `None`.
fn ticks(value: i64) -> Option<Duration> {
    const PER_SECOND: u64 = 10_000_000;
    let value = u64::try_from(value).ok()?;
    let nanos = u32::try_from(value % PER_SECOND * 100).ok()?;
    Some(Duration::new(value / PER_SECOND, nanos))
}

/// A byte count of the extended limits (`SIZE_T`) as `u64`.
fn bytes(value: usize) -> Option<u64> {
    u64::try_from(value).ok()
}

/// Fills `out` from what the job reported: `io` where the I/O class was
/// answered, `peaks` (per process, per job) where the extended limits were
/// read. Under Wine only the process counts are real.
fn fill(
    out: &mut Accounting,
    basic: &b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    io: Option<&b::IO_COUNTERS>,
    peaks: Option<(usize, usize)>,
    source: Source,
) {
    *out = Accounting::default();
    out.total_processes = Some(u64::from(basic.TotalProcesses));
    out.active_processes = Some(u64::from(basic.ActiveProcesses));
    if source == Source::Wine {
        return;
    }
    out.terminated_processes = Some(u64::from(basic.TotalTerminatedProcesses));
    out.user_time = ticks(basic.TotalUserTime);
    out.kernel_time = ticks(basic.TotalKernelTime);
    out.page_faults = Some(u64::from(basic.TotalPageFaultCount));
    if let Some(io) = io {
        out.read_operations = Some(io.ReadOperationCount);
        out.write_operations = Some(io.WriteOperationCount);
        out.other_operations = Some(io.OtherOperationCount);
        out.read_bytes = Some(io.ReadTransferCount);
        out.write_bytes = Some(io.WriteTransferCount);
        out.other_bytes = Some(io.OtherTransferCount);
    }
    if let Some((process, job)) = peaks {
        out.peak_process_memory = bytes(process);
        out.peak_job_memory = bytes(job);
    }
}

/// The basic accounting, and the I/O counters where the system has them.
fn basic_and_io(
    job: &Job,
) -> io::Result<(
    b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION,
    Option<b::IO_COUNTERS>,
)> {
    if !NO_IO_CLASS.load(Ordering::Relaxed) {
        let answer: io::Result<b::JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION> =
            api::query_information_job_object(job.as_handle());
        match answer {
            Ok(info) => return Ok((info.BasicInfo, Some(info.IoInfo))),
            Err(e) if is_unknown_class(&e) => NO_IO_CLASS.store(true, Ordering::Relaxed),
            Err(e) => {
                return Err(with_context(
                    e,
                    "QueryInformationJobObject(JobObjectBasicAndIoAccountingInformation) failed",
                ));
            }
        }
    }
    let basic = query_basic(job)?;
    Ok((basic, None))
}

fn query_basic(job: &Job) -> io::Result<b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION> {
    api::query_information_job_object(job.as_handle()).map_err(|e| {
        with_context(
            e,
            "QueryInformationJobObject(JobObjectBasicAccountingInformation) failed",
        )
    })
}

impl Job {
    /// See the module documentation; `out` is overwritten whole.
    pub(crate) fn accounting_into(&self, out: &mut Accounting) -> io::Result<()> {
        if under_wine() {
            // Wine knows no I/O class and fakes the rest: ask only for what
            // it counts.
            let basic = query_basic(self)?;
            fill(out, &basic, None, None, Source::Wine);
            return Ok(());
        }
        let (basic, io) = basic_and_io(self)?;
        let extended: b::JOBOBJECT_EXTENDED_LIMIT_INFORMATION =
            api::query_information_job_object(self.as_handle()).map_err(|e| {
                with_context(
                    e,
                    "QueryInformationJobObject(JobObjectExtendedLimitInformation) failed",
                )
            })?;
        let peaks = (extended.PeakProcessMemoryUsed, extended.PeakJobMemoryUsed);
        fill(out, &basic, io.as_ref(), Some(peaks), Source::Windows);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic() -> b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION {
        b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION {
            TotalUserTime: 15_000_000,
            TotalKernelTime: 2_500_001,
            ThisPeriodTotalUserTime: 1,
            ThisPeriodTotalKernelTime: 1,
            TotalPageFaultCount: 1234,
            TotalProcesses: 7,
            ActiveProcesses: 3,
            TotalTerminatedProcesses: 1,
        }
    }

    #[test]
    fn ticks_are_100_nanoseconds() {
        assert_eq!(ticks(0), Some(Duration::ZERO));
        assert_eq!(ticks(15_000_000), Some(Duration::from_millis(1500)));
        assert_eq!(ticks(1), Some(Duration::from_nanos(100)));
        assert_eq!(
            ticks(i64::MAX),
            Some(Duration::new(922_337_203_685, 477_580_700))
        );
        assert_eq!(ticks(-1), None);
    }

    #[test]
    fn windows_fills_every_field() {
        let io = b::IO_COUNTERS {
            ReadOperationCount: 1,
            WriteOperationCount: 2,
            OtherOperationCount: 3,
            ReadTransferCount: 4,
            WriteTransferCount: 5,
            OtherTransferCount: 6,
        };
        let mut out = Accounting::default();
        fill(
            &mut out,
            &basic(),
            Some(&io),
            Some((10 << 20, 30 << 20)),
            Source::Windows,
        );
        assert_eq!(out.total_processes, Some(7));
        assert_eq!(out.active_processes, Some(3));
        assert_eq!(out.terminated_processes, Some(1));
        assert_eq!(out.user_time, Some(Duration::from_millis(1500)));
        assert_eq!(out.kernel_time, Some(Duration::from_nanos(250_000_100)));
        assert_eq!(out.page_faults, Some(1234));
        assert_eq!(
            [
                out.read_operations,
                out.write_operations,
                out.other_operations,
                out.read_bytes,
                out.write_bytes,
                out.other_bytes
            ],
            [1, 2, 3, 4, 5, 6].map(Some)
        );
        assert_eq!(out.peak_process_memory, Some(10 << 20));
        assert_eq!(out.peak_job_memory, Some(30 << 20));
    }

    #[test]
    fn without_the_io_class_io_is_unknown() {
        let mut out = Accounting {
            read_bytes: Some(99),
            ..Accounting::default()
        };
        fill(&mut out, &basic(), None, Some((1, 2)), Source::Windows);
        assert_eq!(out.read_bytes, None, "a stale value was left in `out`");
        assert_eq!(out.other_operations, None);
        assert_eq!(out.user_time, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn wine_reports_only_the_process_counts() {
        let mut out = Accounting::default();
        fill(&mut out, &basic(), None, Some((1, 2)), Source::Wine);
        let expected = Accounting {
            total_processes: Some(7),
            active_processes: Some(3),
            ..Accounting::default()
        };
        assert_eq!(out, expected);
    }
}
