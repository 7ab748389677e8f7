//! The portable limits of a job: [`Limits`] and the value types it holds.
//!
//! Pure data and validation, the same on every OS. Each backend maps what it
//! can enforce and refuses the rest with `ErrorKind::Unsupported`, naming the
//! limit; none is ever silently ignored. The Windows-only limits (UI
//! restrictions, rate controls, notification limits, …) live in
//! `os::windows`.

use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use crate::error::invalid_input;

/// The smallest memory limit accepted, job-wide or per process: 1 MiB. Less
/// cannot even hold a process's first pages, on Windows or Linux.
pub const MIN_MEMORY_LIMIT: u64 = 1 << 20;

/// Limits on a whole job, each `None` for "no limit".
///
/// Built with the chained setters and applied with
/// [`JobBuilder::limits`](crate::JobBuilder::limits) (before any process is in
/// the job) or [`Job::set_limits`](crate::Job::set_limits):
///
/// ```
/// use std::time::Duration;
/// use winjob::{CpuRate, Limits, Priority};
///
/// let limits = Limits::new()
///     .job_memory(512 << 20)
///     .active_processes(64)
///     .cpu_rate(CpuRate::percent(25.0)?)
///     .priority(Priority::BelowNormal)
///     .job_cpu_time(Duration::from_secs(600));
/// assert_eq!(limits.job_memory, Some(512 << 20));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// How each limit is enforced, and what happens when it is hit, differs by OS;
/// each setter says how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Memory of the whole job, in bytes.
    pub job_memory: Option<u64>,
    /// Memory of each process, in bytes.
    pub process_memory: Option<u64>,
    /// How many processes may run in the job at once.
    pub active_processes: Option<u32>,
    /// A hard cap on the CPU the job may use, as a share of the whole machine.
    pub cpu_rate: Option<CpuRate>,
    /// The job's CPU weight relative to other jobs (1–9, 5 is normal).
    pub cpu_weight: Option<CpuWeight>,
    /// CPU time (user mode) the whole job may use; then it is terminated.
    pub job_cpu_time: Option<Duration>,
    /// CPU time (user mode) each process may use; then it is terminated.
    pub process_cpu_time: Option<Duration>,
    /// Scheduling priority of every process.
    pub priority: Option<Priority>,
    /// The CPUs the job's processes may run on.
    pub affinity: Option<CpuSet>,
}

impl Limits {
    /// No limits.
    pub fn new() -> Limits {
        Limits::default()
    }

    /// True if no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// Caps the memory of the whole job at `bytes`.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_JOB_MEMORY` (`JobMemoryLimit`), a limit on
    ///   committed memory: an allocation that would cross it fails, and the job
    ///   gets `JOB_OBJECT_MSG_JOB_MEMORY_LIMIT`.
    /// - Linux: `memory.max` (cgroup v2) or `memory.limit_in_bytes` (v1), a
    ///   limit on resident memory, page cache included: the kernel reclaims,
    ///   then kills a process of the job (OOM).
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_MEMORY")]
    #[doc(alias = "memory.max")]
    pub fn job_memory(mut self, bytes: u64) -> Limits {
        self.job_memory = Some(bytes);
        self
    }

    /// Caps the memory of each process at `bytes`.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_PROCESS_MEMORY` (committed memory; the
    ///   allocation fails, `JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT`).
    /// - Linux: `RLIMIT_AS` set on each process the job spawns (its address
    ///   space; allocations fail). Processes assigned after they started keep
    ///   their own limit.
    #[doc(alias = "JOB_OBJECT_LIMIT_PROCESS_MEMORY")]
    #[doc(alias = "RLIMIT_AS")]
    pub fn process_memory(mut self, bytes: u64) -> Limits {
        self.process_memory = Some(bytes);
        self
    }

    /// Allows at most `count` processes in the job at once.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_ACTIVE_PROCESS`; creating one more fails
    ///   (the new process is terminated) and the job gets
    ///   `JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT`.
    /// - Linux: `pids.max`, which counts **threads** as well as processes;
    ///   `fork`/`clone` fail with `EAGAIN`.
    #[doc(alias = "JOB_OBJECT_LIMIT_ACTIVE_PROCESS")]
    #[doc(alias = "pids.max")]
    pub fn active_processes(mut self, count: u32) -> Limits {
        self.active_processes = Some(count);
        self
    }

    /// Caps the job's CPU use at `rate` of the whole machine.
    ///
    /// - Windows: `JobObjectCpuRateControlInformation` with
    ///   `JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP`.
    /// - Linux: `cpu.max` (v2) or `cpu.cfs_quota_us` / `cpu.cfs_period_us` (v1),
    ///   with the quota scaled by the number of CPUs.
    ///
    /// Cannot be combined with [`Limits::cpu_weight`].
    #[doc(alias = "JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP")]
    #[doc(alias = "cpu.max")]
    pub fn cpu_rate(mut self, rate: CpuRate) -> Limits {
        self.cpu_rate = Some(rate);
        self
    }

    /// Sets the job's CPU weight.
    ///
    /// - Windows: `JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED`.
    /// - Linux: `cpu.weight` (v2) or `cpu.shares` (v1), mapped from 1–9 to a
    ///   scale around the default (weight 5 = the kernel's default).
    ///
    /// Cannot be combined with [`Limits::cpu_rate`].
    #[doc(alias = "JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED")]
    #[doc(alias = "cpu.weight")]
    pub fn cpu_weight(mut self, weight: CpuWeight) -> Limits {
        self.cpu_weight = Some(weight);
        self
    }

    /// Limits the user-mode CPU time of the whole job; when it is used up,
    /// every process in the job is terminated.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_JOB_TIME` (`PerJobUserTimeLimit`), set
    ///   together with `JOB_OBJECT_LIMIT_PRESERVE_JOB_TIME` when the job already
    ///   ran, so that changing other limits does not reset the clock.
    /// - Linux: a watchdog thread on `user_usec` in the job's `cpu.stat`
    ///   (cgroup v2 mode), or on `cpuacct.usage_user` of a directory in the v1
    ///   `cpuacct` hierarchy that the job's processes join (cgroup v1 mode),
    ///   checked at least every second, that sends
    ///   [`Event::EndOfJobTime`](crate::Event::EndOfJobTime) and kills the
    ///   job. The budget counts from when the limit is set. Refused in
    ///   process-group mode, which cannot count exited processes.
    #[doc(alias = "JOB_OBJECT_LIMIT_JOB_TIME")]
    pub fn job_cpu_time(mut self, time: Duration) -> Limits {
        self.job_cpu_time = Some(time);
        self
    }

    /// Limits the user-mode CPU time of each process; a process that uses it
    /// up is terminated.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_PROCESS_TIME`.
    /// - Linux: `RLIMIT_CPU` on each process the job spawns (counts user and
    ///   system time; `SIGXCPU`, then `SIGKILL`).
    #[doc(alias = "JOB_OBJECT_LIMIT_PROCESS_TIME")]
    #[doc(alias = "RLIMIT_CPU")]
    pub fn process_cpu_time(mut self, time: Duration) -> Limits {
        self.process_cpu_time = Some(time);
        self
    }

    /// Runs every process at `priority`.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_PRIORITY_CLASS`.
    /// - Linux: the nice value of each process the job spawns (see
    ///   [`Priority::nice`]).
    #[doc(alias = "JOB_OBJECT_LIMIT_PRIORITY_CLASS")]
    pub fn priority(mut self, priority: Priority) -> Limits {
        self.priority = Some(priority);
        self
    }

    /// Restricts the job's processes to the CPUs in `cpus`.
    ///
    /// - Windows: `JOB_OBJECT_LIMIT_AFFINITY` (CPUs 0–63 of the first
    ///   processor group; more through `JobObjectGroupInformationEx`).
    /// - Linux: `cpuset.cpus` where the cpuset controller is available, else
    ///   `sched_setaffinity` on each process the job spawns (which a process
    ///   may change).
    #[doc(alias = "JOB_OBJECT_LIMIT_AFFINITY")]
    #[doc(alias = "cpuset.cpus")]
    pub fn affinity(mut self, cpus: CpuSet) -> Limits {
        self.affinity = Some(cpus);
        self
    }

    /// Checks every limit, and their combination, without any system call.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the first limit that is out of range: a memory
    /// limit below [`MIN_MEMORY_LIMIT`], zero processes, a CPU time of zero,
    /// an empty CPU set, or a CPU rate together with a CPU weight.
    pub fn validate(&self) -> io::Result<()> {
        for (name, value) in [
            ("job_memory", self.job_memory),
            ("process_memory", self.process_memory),
        ] {
            if let Some(bytes) = value
                && bytes < MIN_MEMORY_LIMIT
            {
                return Err(invalid_input(format!(
                    "{name} of {bytes} bytes is below the minimum of {MIN_MEMORY_LIMIT} bytes (1 MiB)"
                )));
            }
        }
        if self.active_processes == Some(0) {
            return Err(invalid_input(
                "active_processes of 0 would refuse every process; at least 1 is accepted",
            ));
        }
        for (name, value) in [
            ("job_cpu_time", self.job_cpu_time),
            ("process_cpu_time", self.process_cpu_time),
        ] {
            if let Some(time) = value {
                check_cpu_time(name, time)?;
            }
        }
        if self.cpu_rate.is_some() && self.cpu_weight.is_some() {
            return Err(invalid_input(
                "cpu_rate and cpu_weight cannot be combined: a job's CPU is either capped or \
                 weighted; set one of them",
            ));
        }
        if let Some(cpus) = &self.affinity
            && cpus.is_empty()
        {
            return Err(invalid_input(
                "affinity is an empty set of CPUs; name at least one CPU",
            ));
        }
        Ok(())
    }
}

/// Windows counts CPU time in 100-nanosecond ticks in an `i64`.
const TICK_NANOS: u128 = 100;

pub(crate) fn check_cpu_time(name: &str, time: Duration) -> io::Result<()> {
    if time.as_nanos() < TICK_NANOS {
        return Err(invalid_input(format!(
            "{name} of {time:?} is shorter than the smallest CPU time (100 ns); a limit of zero \
             would end every process at once"
        )));
    }
    if time.as_nanos() / TICK_NANOS > u128::from(i64::MAX.unsigned_abs()) {
        return Err(invalid_input(format!(
            "{name} of {time:?} is longer than 29 000 years"
        )));
    }
    Ok(())
}

/// A share of the whole machine's CPU time, from 0.01 % to 100 %, in steps of
/// 0.01 % (the unit of `JOBOBJECT_CPU_RATE_CONTROL_INFORMATION::CpuRate`).
///
/// "The whole machine" means all CPUs: on a 4-CPU machine, 25 % is one CPU's
/// worth of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuRate(u32);

impl CpuRate {
    /// The most a rate can be: 100 %.
    pub const MAX: CpuRate = CpuRate(10_000);

    /// A rate of `percent` % (0.01 to 100, rounded to 0.01).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `percent` is not a number in 0.01–100.
    pub fn percent(percent: f64) -> io::Result<CpuRate> {
        if !percent.is_finite() || !(0.005..=100.0).contains(&percent) {
            return Err(invalid_input(format!(
                "CPU rate of {percent}% is out of range; 0.01% to 100% of the whole machine is accepted"
            )));
        }
        // In range by the check above: 0.5..=10_000.0 before rounding.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let hundredths = (percent * 100.0).round() as u32;
        CpuRate::from_hundredths(hundredths)
    }

    /// A rate of `hundredths` / 100 % (1 to 10 000).
    ///
    /// # Errors
    ///
    /// `InvalidInput` outside 1–10 000.
    pub fn from_hundredths(hundredths: u32) -> io::Result<CpuRate> {
        if !(1..=10_000).contains(&hundredths) {
            return Err(invalid_input(format!(
                "CPU rate of {hundredths} hundredths of a percent is out of range; 1 to 10000 is accepted"
            )));
        }
        Ok(CpuRate(hundredths))
    }

    /// The rate in hundredths of a percent (1 to 10 000).
    pub fn hundredths(self) -> u32 {
        self.0
    }

    /// The rate in percent.
    pub fn as_percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl fmt::Display for CpuRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(100) {
            write!(f, "{}%", self.0 / 100)
        } else {
            write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
        }
    }
}

impl FromStr for CpuRate {
    type Err = io::Error;

    /// Parses `25`, `25%` or `12.5%`.
    fn from_str(s: &str) -> io::Result<CpuRate> {
        let number = s.trim().trim_end_matches('%').trim();
        let percent: f64 = number.parse().map_err(|_| {
            invalid_input(format!(
                "CPU rate {s:?} is not a percentage such as 25 or 12.5%"
            ))
        })?;
        CpuRate::percent(percent)
    }
}

/// A relative CPU weight from 1 to 9, 5 being the default; Windows' scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CpuWeight(u8);

impl CpuWeight {
    /// The weight every job has unless told otherwise.
    pub const DEFAULT: CpuWeight = CpuWeight(5);

    /// A weight of `weight`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` outside 1–9.
    pub fn new(weight: u8) -> io::Result<CpuWeight> {
        if !(1..=9).contains(&weight) {
            return Err(invalid_input(format!(
                "CPU weight {weight} is out of range; 1 to 9 is accepted (5 is the default)"
            )));
        }
        Ok(CpuWeight(weight))
    }

    /// The weight, 1 to 9.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for CpuWeight {
    fn default() -> CpuWeight {
        CpuWeight::DEFAULT
    }
}

/// The scheduling priority of a job's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Runs only when nothing else wants the CPU.
    Idle,
    /// Below normal.
    BelowNormal,
    /// The default.
    Normal,
    /// Above normal.
    AboveNormal,
    /// High: takes the CPU from normal processes. Linux needs
    /// `CAP_SYS_NICE` (or root) to raise priority.
    High,
}

impl Priority {
    /// The Linux nice value used for this priority: 19, 10, 0, −5, −10.
    pub fn nice(self) -> i32 {
        match self {
            Priority::Idle => 19,
            Priority::BelowNormal => 10,
            Priority::Normal => 0,
            Priority::AboveNormal => -5,
            Priority::High => -10,
        }
    }

    /// The name used by the command line: `idle`, `below-normal`, `normal`,
    /// `above-normal`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Idle => "idle",
            Priority::BelowNormal => "below-normal",
            Priority::Normal => "normal",
            Priority::AboveNormal => "above-normal",
            Priority::High => "high",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = io::Error;

    fn from_str(s: &str) -> io::Result<Priority> {
        Ok(match s {
            "idle" => Priority::Idle,
            "below-normal" => Priority::BelowNormal,
            "normal" => Priority::Normal,
            "above-normal" => Priority::AboveNormal,
            "high" => Priority::High,
            other => {
                return Err(invalid_input(format!(
                    "priority {other:?} is unknown; accepted: idle, below-normal, normal, above-normal, high"
                )));
            }
        })
    }
}

/// A set of CPU numbers (0-based), such as `0,2-3`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CpuSet {
    /// Sorted, without duplicates.
    cpus: Vec<u32>,
}

/// The highest CPU number accepted (Windows: 64 groups of 64).
pub const MAX_CPU: u32 = 4095;

impl CpuSet {
    /// An empty set.
    pub fn new() -> CpuSet {
        CpuSet::default()
    }

    /// Adds CPU `cpu`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` above [`MAX_CPU`].
    pub fn insert(&mut self, cpu: u32) -> io::Result<()> {
        if cpu > MAX_CPU {
            return Err(invalid_input(format!(
                "CPU {cpu} is out of range; CPUs 0 to {MAX_CPU} are accepted"
            )));
        }
        if let Err(at) = self.cpus.binary_search(&cpu) {
            self.cpus.insert(at, cpu);
        }
        Ok(())
    }

    /// True if `cpu` is in the set.
    pub fn contains(&self, cpu: u32) -> bool {
        self.cpus.binary_search(&cpu).is_ok()
    }

    /// The CPUs, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.cpus.iter().copied()
    }

    /// How many CPUs.
    pub fn len(&self) -> usize {
        self.cpus.len()
    }

    /// True if there is none.
    pub fn is_empty(&self) -> bool {
        self.cpus.is_empty()
    }

    /// The highest CPU in the set.
    pub fn max(&self) -> Option<u32> {
        self.cpus.last().copied()
    }

    /// The set as a 64-bit mask, if every CPU is below 64.
    pub fn to_mask(&self) -> Option<u64> {
        self.cpus
            .iter()
            .try_fold(0u64, |mask, &cpu| (cpu < 64).then(|| mask | (1 << cpu)))
    }

    /// The set of the bits of `mask`.
    pub fn from_mask(mask: u64) -> CpuSet {
        CpuSet {
            cpus: (0..64).filter(|bit| mask & (1 << bit) != 0).collect(),
        }
    }
}

impl fmt::Display for CpuSet {
    /// `0,2-3`: runs of consecutive CPUs as ranges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut i = 0;
        let mut first = true;
        while i < self.cpus.len() {
            let start = self.cpus[i];
            let mut end = start;
            while i + 1 < self.cpus.len() && self.cpus[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

impl FromStr for CpuSet {
    type Err = io::Error;

    /// Parses a list such as `0,2-3` (the form of Linux's `cpuset.cpus` and
    /// `taskset -c`).
    fn from_str(s: &str) -> io::Result<CpuSet> {
        let mut set = CpuSet::new();
        let bad = |part: &str| {
            invalid_input(format!(
                "CPU list {s:?}: {part:?} is not a CPU number or range; use a list such as 0,2-3"
            ))
        };
        for part in s.split(',') {
            let part = part.trim();
            let (start, end) = match part.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (part, part),
            };
            let start: u32 = start.parse().map_err(|_| bad(part))?;
            let end: u32 = end.parse().map_err(|_| bad(part))?;
            if start > end {
                return Err(bad(part));
            }
            if end > MAX_CPU {
                return Err(invalid_input(format!(
                    "CPU list {s:?}: CPU {end} is out of range; CPUs 0 to {MAX_CPU} are accepted"
                )));
            }
            for cpu in start..=end {
                set.insert(cpu)?;
            }
        }
        if set.is_empty() {
            return Err(invalid_input(
                "the CPU list is empty; name at least one CPU",
            ));
        }
        Ok(set)
    }
}

impl FromIterator<u32> for CpuSet {
    /// CPUs above [`MAX_CPU`] are dropped; use [`CpuSet::insert`] to be told.
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> CpuSet {
        let mut set = CpuSet::new();
        for cpu in iter {
            let _ = set.insert(cpu);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: io::Error) -> io::ErrorKind {
        e.kind()
    }

    #[test]
    fn rates() {
        assert_eq!(CpuRate::percent(25.0).unwrap().hundredths(), 2500);
        assert_eq!(CpuRate::percent(0.01).unwrap().hundredths(), 1);
        assert_eq!(CpuRate::percent(100.0).unwrap(), CpuRate::MAX);
        for bad in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY, 0.001] {
            assert_eq!(
                kind(CpuRate::percent(bad).unwrap_err()),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        assert!(CpuRate::from_hundredths(0).is_err());
        assert!(CpuRate::from_hundredths(10_001).is_err());
        assert_eq!("12.5%".parse::<CpuRate>().unwrap().hundredths(), 1250);
        assert_eq!("25".parse::<CpuRate>().unwrap().to_string(), "25%");
        assert_eq!(
            CpuRate::from_hundredths(1250).unwrap().to_string(),
            "12.50%"
        );
        assert!("fast".parse::<CpuRate>().is_err());
        assert!(
            "150%"
                .parse::<CpuRate>()
                .unwrap_err()
                .to_string()
                .contains("0.01% to 100%")
        );
    }

    #[test]
    fn weights_and_priorities() {
        assert_eq!(CpuWeight::new(1).unwrap().get(), 1);
        assert_eq!(CpuWeight::default().get(), 5);
        for bad in [0, 10, 255] {
            let e = CpuWeight::new(bad).unwrap_err();
            assert!(e.to_string().contains("1 to 9"), "{e}");
        }
        for p in [
            Priority::Idle,
            Priority::BelowNormal,
            Priority::Normal,
            Priority::AboveNormal,
            Priority::High,
        ] {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
        assert!("realtime".parse::<Priority>().is_err());
        assert!(Priority::Idle.nice() > Priority::High.nice());
    }

    #[test]
    fn cpu_sets() {
        let set: CpuSet = "0,2-3, 7".parse().unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 2, 3, 7]);
        assert_eq!(set.to_string(), "0,2-3,7");
        assert_eq!(set.to_mask(), Some(0b1000_1101));
        assert_eq!(CpuSet::from_mask(0b1000_1101), set);
        assert_eq!("5,4,4,3".parse::<CpuSet>().unwrap().to_string(), "3-5");
        for bad in ["", "a", "3-1", "1-", "-2", "1,,2", "4096"] {
            let e = bad.parse::<CpuSet>().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
        let wide: CpuSet = "63-64".parse().unwrap();
        assert_eq!(wide.to_mask(), None);
        assert_eq!(wide.max(), Some(64));
    }

    #[test]
    fn validation_names_the_limit() {
        assert!(Limits::new().validate().is_ok());
        assert!(Limits::new().is_empty());
        let cases: [(Limits, &str); 7] = [
            (Limits::new().job_memory(1000), "job_memory"),
            (Limits::new().process_memory(0), "process_memory"),
            (Limits::new().active_processes(0), "active_processes"),
            (Limits::new().job_cpu_time(Duration::ZERO), "job_cpu_time"),
            (
                Limits::new().process_cpu_time(Duration::from_nanos(99)),
                "process_cpu_time",
            ),
            (
                Limits::new()
                    .cpu_rate(CpuRate::MAX)
                    .cpu_weight(CpuWeight::DEFAULT),
                "cpu_rate and cpu_weight",
            ),
            (Limits::new().affinity(CpuSet::new()), "affinity"),
        ];
        for (limits, name) in cases {
            let e = limits.validate().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().starts_with(name), "{e}");
        }
        let ok = Limits::new()
            .job_memory(MIN_MEMORY_LIMIT)
            .active_processes(1)
            .job_cpu_time(Duration::from_nanos(100))
            .affinity("0".parse().unwrap());
        assert!(ok.validate().is_ok());
        assert!(!ok.is_empty());
        assert!(
            Limits::new()
                .job_cpu_time(Duration::MAX)
                .validate()
                .is_err()
        );
    }
}

/// Property tests of the checks every `set_limits` and `JobBuilder::create`
/// run first (`Limits::validate`), and of the parsers of the value types:
/// arbitrary values, boundaries included, never make them panic, and the
/// verdict is the one an independent reading of the rules gives, with a
/// message that names the offending field.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Memory sizes, dense around the minimum and at the extremes.
    fn memory() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            0..2 * MIN_MEMORY_LIMIT,
            Just(MIN_MEMORY_LIMIT - 1),
            Just(MIN_MEMORY_LIMIT),
            Just(u64::MAX),
        ]
    }

    /// CPU times, dense around 100 ns and the largest 100-ns tick count.
    fn cpu_time() -> impl Strategy<Value = Duration> {
        let max_ticks_secs = i64::MAX.unsigned_abs() / 10_000_000;
        prop_oneof![
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            (0u64..300).prop_map(Duration::from_nanos),
            (max_ticks_secs - 2..max_ticks_secs + 2, 0u32..1_000_000_000)
                .prop_map(|(s, n)| Duration::new(s, n)),
            Just(Duration::ZERO),
            Just(Duration::MAX),
        ]
    }

    fn priority() -> impl Strategy<Value = Priority> {
        prop::sample::select(vec![
            Priority::Idle,
            Priority::BelowNormal,
            Priority::Normal,
            Priority::AboveNormal,
            Priority::High,
        ])
    }

    prop_compose! {
        fn limits()(
            job_memory in proptest::option::of(memory()),
            process_memory in proptest::option::of(memory()),
            active_processes in proptest::option::of(prop_oneof![Just(0u32), Just(1), any::<u32>()]),
            cpu_rate in proptest::option::of(1u32..=10_000),
            cpu_weight in proptest::option::of(1u8..=9),
            job_cpu_time in proptest::option::of(cpu_time()),
            process_cpu_time in proptest::option::of(cpu_time()),
            priority in proptest::option::of(priority()),
            affinity in proptest::option::of(proptest::collection::vec(0..=MAX_CPU, 0..6)),
        ) -> Limits {
            Limits {
                job_memory,
                process_memory,
                active_processes,
                cpu_rate: cpu_rate.map(|h| CpuRate::from_hundredths(h).unwrap()),
                cpu_weight: cpu_weight.map(|w| CpuWeight::new(w).unwrap()),
                job_cpu_time,
                process_cpu_time,
                priority,
                affinity: affinity.map(|cpus| cpus.into_iter().collect()),
            }
        }
    }

    /// The fields `limits` breaks, by the rules as documented on
    /// `Limits::validate`, written out independently of it.
    fn broken(limits: &Limits) -> Vec<&'static str> {
        let mut broken = Vec::new();
        let small = |m: Option<u64>| m.is_some_and(|b| b < 1 << 20);
        let bad_time = |t: Option<Duration>| {
            t.is_some_and(|t| t.as_nanos() < 100 || t.as_nanos() / 100 > i64::MAX as u128)
        };
        if small(limits.job_memory) {
            broken.push("job_memory");
        }
        if small(limits.process_memory) {
            broken.push("process_memory");
        }
        if limits.active_processes == Some(0) {
            broken.push("active_processes");
        }
        if bad_time(limits.job_cpu_time) {
            broken.push("job_cpu_time");
        }
        if bad_time(limits.process_cpu_time) {
            broken.push("process_cpu_time");
        }
        if limits.cpu_rate.is_some() && limits.cpu_weight.is_some() {
            broken.push("cpu_rate and cpu_weight");
        }
        if limits.affinity.as_ref().is_some_and(CpuSet::is_empty) {
            broken.push("affinity");
        }
        broken
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn validation_agrees_with_the_rules_and_names_the_field(limits in limits()) {
            let broken = broken(&limits);
            match limits.validate() {
                Ok(()) => prop_assert!(broken.is_empty(), "accepted, but breaks {broken:?}"),
                Err(e) => {
                    prop_assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
                    let message = e.to_string();
                    prop_assert!(
                        broken.iter().any(|field| message.starts_with(field)),
                        "{message:?} names none of {broken:?}"
                    );
                }
            }
        }

        #[test]
        fn rates_weights_and_cpus_never_panic(
            percent in any::<f64>(),
            hundredths in any::<u32>(),
            weight in any::<u8>(),
            cpu in any::<u32>(),
        ) {
            let rate = CpuRate::percent(percent);
            prop_assert_eq!(
                rate.is_ok(),
                percent.is_finite() && (0.005..=100.0).contains(&percent),
                "{}",
                percent
            );
            if let Ok(rate) = rate {
                prop_assert!((1..=10_000).contains(&rate.hundredths()));
            }
            prop_assert_eq!(
                CpuRate::from_hundredths(hundredths).is_ok(),
                (1..=10_000).contains(&hundredths)
            );
            prop_assert_eq!(CpuWeight::new(weight).is_ok(), (1..=9).contains(&weight));
            prop_assert_eq!(CpuSet::new().insert(cpu).is_ok(), cpu <= MAX_CPU);
        }

        #[test]
        fn parsers_never_panic_and_round_trip(text in ".{0,24}", list in "[0-9, -]{0,16}") {
            for input in [&text, &list] {
                if let Ok(set) = input.parse::<CpuSet>() {
                    prop_assert!(!set.is_empty());
                    prop_assert_eq!(set.to_string().parse::<CpuSet>().unwrap(), set);
                }
                if let Ok(rate) = input.parse::<CpuRate>() {
                    prop_assert_eq!(rate.to_string().parse::<CpuRate>().unwrap(), rate);
                }
                if let Ok(priority) = input.parse::<Priority>() {
                    prop_assert_eq!(priority.as_str(), input.as_str());
                }
            }
        }
    }
}
