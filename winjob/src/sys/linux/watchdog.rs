//! The job CPU time limit on Linux: a budget the event engine checks.
//!
//! Windows ends a job whose processes used up `PerJobUserTimeLimit` of
//! user-mode time, and posts `JOB_OBJECT_MSG_END_OF_JOB_TIME`. Linux has no
//! such limit, so the process's event engine ([`engine`])
//! reads the job's user time on a timer and, when the budget is spent, sends
//! `Event::EndOfJobTime` and kills the job (`cgroup.kill`, or
//! freeze-kill-thaw in v1, on a short-lived thread of its own so that the
//! engine does not wait for it). The user time of a v2 job is `user_usec`
//! in its `cpu.stat` (there without any controller, exited processes
//! included); a v1 freezer job has none, so its processes also join a
//! directory of the v1 `cpuacct` hierarchy, whose `cpuacct.usage_user`
//! (nanoseconds; `cpuacct.stat` in clock ticks on kernels before 4.7) counts
//! them.
//!
//! The budget counts from the moment the limit is set (as Windows does unless
//! `PRESERVE_JOB_TIME` is given). The next check comes after the time the
//! rest of the budget would take with every CPU busy, at most a second: the
//! job can overrun by at most one such interval's check latency, and an idle
//! job costs one check a second. Dropping the watchdog removes the budget
//! from the engine.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::super::slab::Key;
use super::cgroup::Cgroup;
use super::engine::{self, Engine};
use crate::event::{Broadcaster, Event};

/// Where a job's user time is counted.
#[derive(Debug, Clone)]
pub(crate) enum CpuCounter {
    /// `cpu.stat` of the job's own v2 directory.
    CpuStat,
    /// The job's directory in the v1 cpuacct hierarchy.
    Cpuacct(PathBuf),
}

/// A job's CPU time budget in the engine; removed when dropped.
#[derive(Debug)]
pub(crate) struct Watchdog {
    engine: Arc<Engine>,
    key: Key,
}

impl Watchdog {
    /// Starts watching the job of `cgroup`, counted by `counter`, for
    /// `budget` of user time from now.
    pub(crate) fn start(
        cgroup: Arc<Cgroup>,
        counter: CpuCounter,
        budget: Duration,
        broadcaster: Arc<Broadcaster>,
    ) -> io::Result<Watchdog> {
        let start = user_time(&cgroup, &counter)?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let engine = engine::get()?;
        let key = engine.add_budget(
            Budget {
                cgroup,
                counter,
                end: start + budget,
                cpus: u32::try_from(cpus).unwrap_or(1),
                broadcaster,
            },
            Duration::ZERO,
        );
        Ok(Watchdog { engine, key })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.engine.remove_budget(self.key);
    }
}

/// What the engine checks for one job CPU time limit.
#[derive(Debug)]
pub(crate) struct Budget {
    cgroup: Arc<Cgroup>,
    counter: CpuCounter,
    end: Duration,
    cpus: u32,
    broadcaster: Arc<Broadcaster>,
}

impl Budget {
    /// Checks the job's user time: `Some(pause)` until the next check, or
    /// `None` once the budget is spent (the job is being killed) or its time
    /// can no longer be read.
    pub(crate) fn check(&mut self) -> Option<Duration> {
        let used = user_time(&self.cgroup, &self.counter).ok()?;
        if used < self.end {
            return Some(
                ((self.end - used) / self.cpus.max(1))
                    .clamp(Duration::from_millis(10), Duration::from_secs(1)),
            );
        }
        // The event first, so that it precedes the exits and `Empty` (a v1
        // kill freezes and thaws, which takes a while).
        self.broadcaster.send(&Event::EndOfJobTime);
        let cgroup = Arc::clone(&self.cgroup);
        let kill = move || {
            let _ = cgroup.kill();
        };
        if std::thread::Builder::new()
            .name("winjob-cpu-time".into())
            .stack_size(64 * 1024)
            .spawn(kill)
            .is_err()
        {
            // No thread: the engine waits for the kill itself.
            let _ = self.cgroup.kill();
        }
        None
    }
}

/// The job's user time so far.
fn user_time(cgroup: &Cgroup, counter: &CpuCounter) -> io::Result<Duration> {
    let missing = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    match counter {
        CpuCounter::CpuStat => cgroup
            .read("cpu.stat")?
            .lines()
            .find_map(|l| l.strip_prefix("user_usec "))
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_micros)
            .ok_or_else(|| missing("cpu.stat has no user_usec")),
        CpuCounter::Cpuacct(dir) => match std::fs::read_to_string(dir.join("cpuacct.usage_user")) {
            Ok(text) => text
                .trim()
                .parse()
                .map(Duration::from_nanos)
                .map_err(|_| missing("cpuacct.usage_user is not a number")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let ticks: u64 = std::fs::read_to_string(dir.join("cpuacct.stat"))?
                    .lines()
                    .find_map(|l| l.strip_prefix("user "))
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| missing("cpuacct.stat has no user line"))?;
                Ok(super::parse::clock_ticks(ticks))
            }
            Err(e) => Err(e),
        },
    }
}
