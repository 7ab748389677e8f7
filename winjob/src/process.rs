//! What [`Job::processes`](crate::Job::processes) reports of one member:
//! [`ProcessInfo`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// One running process of a job, as seen at the moment it was queried.
///
/// Every field but `pid` is an `Option`: `None` when this process may not read
/// it (another user's process), when the OS does not measure it (Wine's CPU
/// times of other processes are stale, so they are not reported), or when the process exited while it was being read.
///
/// | field | Windows | Linux |
/// |---|---|---|
/// | `name` | file name of `path` | file name of `path`, else `/proc/PID/comm` |
/// | `path` | `QueryFullProcessImageNameW` | `readlink /proc/PID/exe` |
/// | `user_time`, `kernel_time` | `GetProcessTimes` | `utime`, `stime` of `/proc/PID/stat` |
/// | `memory` | working set (`GetProcessMemoryInfo`) | resident set (`/proc/PID/statm`) |
///
/// With the `serde` feature it is `Serialize`/`Deserialize`; durations are
/// written as seconds (a float).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The process id.
    pub pid: u32,
    /// The executable's file name, such as `cmd.exe` or `make`.
    pub name: Option<String>,
    /// The executable's full path.
    pub path: Option<PathBuf>,
    /// CPU time in user mode so far.
    #[cfg_attr(feature = "serde", serde(with = "crate::accounting::seconds"))]
    pub user_time: Option<Duration>,
    /// CPU time in kernel mode so far.
    #[cfg_attr(feature = "serde", serde(with = "crate::accounting::seconds"))]
    pub kernel_time: Option<Duration>,
    /// Memory in use now, in bytes: the working set (Windows) or the
    /// resident set (Linux).
    pub memory: Option<u64>,
}

impl ProcessInfo {
    /// A record with only the pid known.
    pub(crate) fn new(pid: u32) -> ProcessInfo {
        ProcessInfo {
            pid,
            ..ProcessInfo::default()
        }
    }

    /// User plus kernel time, if both are known.
    pub fn cpu_time(&self) -> Option<Duration> {
        Some(self.user_time? + self.kernel_time?)
    }
}

impl fmt::Display for ProcessInfo {
    /// `PID CPU MEMORY NAME` on one line, with `n/a` for what is not known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cpu = self
            .cpu_time()
            .map_or_else(|| "n/a".to_owned(), |d| format!("{:.2}s", d.as_secs_f64()));
        let memory = self.memory.map_or_else(
            || "n/a".to_owned(),
            // Display only: a rounded figure is what is wanted.
            #[allow(clippy::cast_precision_loss)]
            |m| format!("{:.1}MiB", m as f64 / f64::from(1u32 << 20)),
        );
        write!(
            f,
            "{:>8} {:>10} {:>10} {}",
            self.pid,
            cpu,
            memory,
            self.name.as_deref().unwrap_or("?")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_cpu_time() {
        let mut p = ProcessInfo::new(42);
        assert_eq!(p.cpu_time(), None);
        assert!(p.to_string().contains("n/a"));
        p.user_time = Some(Duration::from_millis(1500));
        p.kernel_time = Some(Duration::from_millis(500));
        p.memory = Some(3 << 20);
        p.name = Some("make".into());
        assert_eq!(p.cpu_time(), Some(Duration::from_secs(2)));
        let line = p.to_string();
        assert!(line.contains("2.00s") && line.contains("3.0MiB") && line.ends_with("make"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_round_trip() {
        let mut p = ProcessInfo::new(7);
        p.user_time = Some(Duration::from_millis(250));
        p.path = Some(PathBuf::from("/bin/sh"));
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"user_time\":0.25"), "{json}");
        assert_eq!(serde_json::from_str::<ProcessInfo>(&json).unwrap(), p);
    }
}
