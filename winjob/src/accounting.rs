//! What a job's processes used: [`Accounting`].
//!
//! Pure data. Each field is an `Option`: `None` means "this backend, in this
//! mode, cannot measure it", never a made-up zero. The backends fill it
//! without allocating, so it can be polled from a hot loop
//! ([`Job::accounting_into`](crate::Job::accounting_into)).

use std::fmt;
use std::time::Duration;

/// Resource use of every process that was ever in the job, exited ones
/// included (unless a field says otherwise).
///
/// | field | Windows | Linux |
/// |---|---|---|
/// | `total_processes` | `TotalProcesses` | not counted: `None` |
/// | `active_processes` | `ActiveProcesses` | `cgroup.procs` (all modes) |
/// | `terminated_processes` | `TotalTerminatedProcesses` (killed for a limit) | `None` |
/// | `user_time`, `kernel_time` | `TotalUserTime`, `TotalKernelTime` | `cpu.stat` (v2, any job); v1 freezer mode: `cpuacct` while `job_cpu_time` is set, else `None`; process-group mode: `None` |
/// | `page_faults` | `TotalPageFaultCount` | `memory.stat` `pgfault` (memory controller) |
/// | `read/write/other_*` | `IO_COUNTERS`: every read/write/other I/O call, files, pipes and network alike | `io.stat` (v2 io controller): **block-device** I/O only; no "other" |
/// | `peak_process_memory` | `PeakProcessMemoryUsed` (committed) | `None` |
/// | `peak_job_memory` | `PeakJobMemoryUsed` (committed) | `memory.peak` (v2) or `memory.max_usage_in_bytes` (v1): resident, page cache included |
///
/// With the `serde` feature it is `Serialize`/`Deserialize`; durations are
/// written as seconds (a float).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Accounting {
    /// Processes that were ever in the job.
    pub total_processes: Option<u64>,
    /// Processes in the job now.
    pub active_processes: Option<u64>,
    /// Processes the OS ended because they broke a limit.
    pub terminated_processes: Option<u64>,
    /// CPU time in user mode, of every process, exited ones included.
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub user_time: Option<Duration>,
    /// CPU time in kernel mode, of every process, exited ones included.
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub kernel_time: Option<Duration>,
    /// Page faults.
    pub page_faults: Option<u64>,
    /// Read operations.
    pub read_operations: Option<u64>,
    /// Write operations.
    pub write_operations: Option<u64>,
    /// Other I/O operations (neither read nor write).
    pub other_operations: Option<u64>,
    /// Bytes read.
    pub read_bytes: Option<u64>,
    /// Bytes written.
    pub write_bytes: Option<u64>,
    /// Bytes moved by other operations.
    pub other_bytes: Option<u64>,
    /// The most memory any one process used.
    pub peak_process_memory: Option<u64>,
    /// The most memory the whole job used at once.
    pub peak_job_memory: Option<u64>,
}

impl Accounting {
    /// User plus kernel time, if both are known.
    pub fn cpu_time(&self) -> Option<Duration> {
        Some(self.user_time? + self.kernel_time?)
    }
}

impl fmt::Display for Accounting {
    /// One `name: value` line per field, with `n/a` for what is not
    /// measured; sizes in MiB, times in seconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn count(v: Option<u64>) -> String {
            v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
        }
        fn time(v: Option<Duration>) -> String {
            v.map_or_else(|| "n/a".to_owned(), |d| format!("{:.3} s", d.as_secs_f64()))
        }
        fn size(v: Option<u64>) -> String {
            v.map_or_else(
                || "n/a".to_owned(),
                |b| format!("{:.1} MiB", b as f64 / 1048576.0),
            )
        }
        writeln!(
            f,
            "processes: {} total, {} active, {} terminated by a limit",
            count(self.total_processes),
            count(self.active_processes),
            count(self.terminated_processes)
        )?;
        writeln!(
            f,
            "cpu: {} user, {} kernel",
            time(self.user_time),
            time(self.kernel_time)
        )?;
        writeln!(f, "page faults: {}", count(self.page_faults))?;
        writeln!(
            f,
            "io: {} reads ({}), {} writes ({}), {} other ({})",
            count(self.read_operations),
            size(self.read_bytes),
            count(self.write_operations),
            size(self.write_bytes),
            count(self.other_operations),
            size(self.other_bytes)
        )?;
        write!(
            f,
            "peak memory: {} per process, {} job",
            size(self.peak_process_memory),
            size(self.peak_job_memory)
        )
    }
}

/// `Option<Duration>` as seconds in serde formats.
#[cfg(feature = "serde")]
pub(crate) mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let seconds = Option::<f64>::deserialize(d)?;
        seconds
            .map(|s| Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_says_what_is_not_measured() {
        let mut a = Accounting::default();
        assert!(a.to_string().contains("n/a"));
        a.user_time = Some(Duration::from_millis(1500));
        a.kernel_time = Some(Duration::from_millis(500));
        a.peak_job_memory = Some(64 << 20);
        assert_eq!(a.cpu_time(), Some(Duration::from_secs(2)));
        let text = a.to_string();
        assert!(text.contains("1.500 s user"), "{text}");
        assert!(text.contains("64.0 MiB job"), "{text}");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_round_trip_uses_seconds() {
        let a = Accounting {
            active_processes: Some(2),
            user_time: Some(Duration::from_millis(1250)),
            peak_job_memory: Some(1 << 20),
            ..Accounting::default()
        };
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("\"user_time\":1.25"), "{json}");
        assert!(json.contains("\"kernel_time\":null"), "{json}");
        assert_eq!(serde_json::from_str::<Accounting>(&json).unwrap(), a);
        let negative = json.replace("1.25", "-1.0");
        assert!(
            serde_json::from_str::<Accounting>(&negative).is_err(),
            "{negative}"
        );
    }
}
