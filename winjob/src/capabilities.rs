//! What the running system lets a job do: [`capabilities`].

use std::fmt;
use std::io;
use std::path::PathBuf;

/// How this process's jobs are implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// A Windows Job Object.
    JobObject,
    /// A cgroup v2 directory: membership is inherited and cannot be left
    /// without write access to a common ancestor; the tree is killed at once
    /// with `cgroup.kill`; "empty" is reported by `cgroup.events`.
    CgroupV2,
    /// A cgroup v1 directory in the `freezer` hierarchy (hosts without a
    /// writable cgroup v2 mount): membership as for v2; kill by freezing,
    /// killing every member and thawing; "empty" by polling `cgroup.procs`.
    CgroupV1,
    /// A process group. Not a container: a member that calls `setsid` or
    /// `setpgid` leaves it, and so escapes `terminate` and kill-on-drop.
    /// Used where no cgroup is writable, e.g. an unprivileged user outside a
    /// delegated cgroup subtree.
    ProcessGroup,
}

impl Mode {
    /// The name used by `WINJOB_MODE` and in reports: `job-object`,
    /// `cgroup-v2`, `cgroup-v1` or `process-group`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::JobObject => "job-object",
            Mode::CgroupV2 => "cgroup-v2",
            Mode::CgroupV1 => "cgroup-v1",
            Mode::ProcessGroup => "process-group",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What jobs can do on this system, as the backend detected it.
///
/// Returned by [`capabilities`]. The detection runs once per process and is
/// cached; on Linux it reads `/proc/self/mountinfo` and `/proc/self/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The mechanism new jobs use.
    pub mode: Mode,
    /// Linux: the directory under which jobs are created and named jobs are
    /// looked up. `None` on Windows and in process-group mode.
    pub job_root: Option<PathBuf>,
    /// True when a member cannot leave the job on its own (a Job Object
    /// without breakaway, a cgroup). False for process groups.
    pub contained: bool,
    /// True when the members of a kill-on-drop job die even if the owning
    /// process is killed (`SIGKILL`, `TerminateProcess`) or crashes.
    pub kill_on_owner_crash: bool,
    /// True when `terminate` kills the whole tree in one atomic step, so that
    /// a process forking at that moment cannot leave a child behind.
    pub atomic_terminate: bool,
    /// Why this mode was chosen, in words: which mounts and files were found,
    /// and what was missing.
    pub reason: String,
    /// For each portable limit (the names of the [`Limits`](crate::Limits)
    /// fields), whether jobs of this mode enforce it, and how or why not.
    pub limits: Vec<LimitSupport>,
}

/// Whether one limit is enforced, and how or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitSupport {
    /// The limit: a field name of [`Limits`](crate::Limits), such as
    /// `job_memory`.
    pub limit: &'static str,
    /// True if the limit is enforced. False if setting it is refused with
    /// `Unsupported` (Linux), or accepted but not enforced (Wine, which is not
    /// Windows).
    pub enforced: bool,
    /// How it is enforced (the file or call), or why it cannot be.
    pub how: String,
}

impl LimitSupport {
    pub(crate) fn new(limit: &'static str, enforced: bool, how: impl Into<String>) -> LimitSupport {
        LimitSupport {
            limit,
            enforced,
            how: how.into(),
        }
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "mode: {}", self.mode)?;
        if let Some(root) = &self.job_root {
            writeln!(f, "job root: {}", root.display())?;
        }
        writeln!(f, "contained: {}", yes_no(self.contained))?;
        writeln!(
            f,
            "kill on owner crash: {}",
            yes_no(self.kill_on_owner_crash)
        )?;
        writeln!(f, "atomic terminate: {}", yes_no(self.atomic_terminate))?;
        write!(f, "why: {}", self.reason)?;
        for l in &self.limits {
            let state = if l.enforced {
                "enforced"
            } else {
                "not enforced"
            };
            write!(f, "\nlimit {}: {state}: {}", l.limit, l.how)?;
        }
        Ok(())
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Detects what jobs can do on this system.
///
/// On Windows the answer is always [`Mode::JobObject`]. On Linux the backend
/// looks for, in this order: a cgroup v2 mount whose job root is writable
/// ([`Mode::CgroupV2`]); a writable cgroup v1 `freezer` hierarchy
/// ([`Mode::CgroupV1`]); otherwise it falls back to [`Mode::ProcessGroup`].
///
/// The choice can be forced with the environment variable `WINJOB_MODE`
/// (`cgroup-v2`, `cgroup-v1` or `process-group`) and the job root with
/// `WINJOB_CGROUP_ROOT` (a directory inside a cgroup mount); both are read once,
/// at the first call.
///
/// # Errors
///
/// On Linux: `WINJOB_MODE` names an unknown mode or a mode this system cannot
/// provide (`Unsupported`, saying what is missing); `WINJOB_CGROUP_ROOT` is not
/// inside a cgroup mount (`InvalidInput`).
///
/// # Example
///
/// ```
/// let caps = winjob::capabilities()?;
/// println!("{caps}");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn capabilities() -> io::Result<Capabilities> {
    #[allow(unused_mut)]
    let mut caps = crate::sys::capabilities()?;
    #[cfg(windows)]
    {
        caps.limits = windows_limits(caps.reason.contains("under Wine"));
    }
    Ok(caps)
}

/// Every portable limit is a Job Object limit; Wine accepts them all and
/// enforces none.
#[cfg(windows)]
fn windows_limits(wine: bool) -> Vec<LimitSupport> {
    let how = [
        ("job_memory", "JOB_OBJECT_LIMIT_JOB_MEMORY"),
        ("process_memory", "JOB_OBJECT_LIMIT_PROCESS_MEMORY"),
        ("active_processes", "JOB_OBJECT_LIMIT_ACTIVE_PROCESS"),
        ("cpu_rate", "JobObjectCpuRateControlInformation, HARD_CAP"),
        (
            "cpu_weight",
            "JobObjectCpuRateControlInformation, WEIGHT_BASED",
        ),
        ("job_cpu_time", "JOB_OBJECT_LIMIT_JOB_TIME"),
        ("process_cpu_time", "JOB_OBJECT_LIMIT_PROCESS_TIME"),
        ("priority", "JOB_OBJECT_LIMIT_PRIORITY_CLASS"),
        ("affinity", "JOB_OBJECT_LIMIT_AFFINITY"),
    ];
    how.into_iter()
        .map(|(limit, flag)| {
            if wine {
                LimitSupport::new(
                    limit,
                    false,
                    format!("{flag}: Wine accepts it but does not enforce it"),
                )
            } else {
                LimitSupport::new(limit, true, flag)
            }
        })
        .collect()
}
