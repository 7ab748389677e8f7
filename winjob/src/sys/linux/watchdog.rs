//! The job CPU time limit on Linux: a watchdog thread over `cpu.stat`.
//!
//! Windows ends a job whose processes used up `PerJobUserTimeLimit` of
//! user-mode time, and posts `JOB_OBJECT_MSG_END_OF_JOB_TIME`. Linux has no
//! such limit, so one thread per limited job reads the job's user time and,
//! when the budget is spent, kills the job (`cgroup.kill`, or freeze-kill-thaw
//! in v1) and sends `Event::EndOfJobTime`. The user time of a v2 job is
//! `user_usec` in its `cpu.stat` (there without any controller, exited
//! processes included); a v1 freezer job has none, so its processes also join
//! a directory of the v1 `cpuacct` hierarchy, whose `cpuacct.usage_user`
//! (nanoseconds; `cpuacct.stat` in clock ticks on kernels before 4.7) counts
//! them.
//!
//! The budget counts from the moment the limit is set (as Windows does unless
//! `PRESERVE_JOB_TIME` is given). The thread sleeps for the time the rest of
//! the budget would take with every CPU busy, at most a second: the job can
//! overrun by at most one such interval's check latency, and an idle job costs
//! one wake-up a second. Dropping the watchdog wakes and joins the thread.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::cgroup::Cgroup;
use crate::event::{Broadcaster, Event};

/// Where a job's user time is counted.
#[derive(Debug, Clone)]
pub(crate) enum CpuCounter {
    /// `cpu.stat` of the job's own v2 directory.
    CpuStat,
    /// The job's directory in the v1 cpuacct hierarchy.
    Cpuacct(PathBuf),
}

#[derive(Debug)]
pub(crate) struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
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
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("winjob-cpu-time".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    watch(&cgroup, &counter, start + budget, cpus, &stop, &broadcaster);
                })?
        };
        Ok(Watchdog {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(
    cgroup: &Cgroup,
    counter: &CpuCounter,
    end: Duration,
    cpus: usize,
    stop: &(Mutex<bool>, Condvar),
    broadcaster: &Broadcaster,
) {
    let (stopped, wake) = stop;
    let mut guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *guard {
            return;
        }
        let Ok(used) = user_time(cgroup, counter) else {
            return;
        };
        if used >= end {
            // The event first, so that it precedes the exits and `Empty`
            // (a v1 kill freezes and thaws, which takes a while).
            broadcaster.send(&Event::EndOfJobTime);
            let _ = cgroup.kill();
            return;
        }
        let pause = ((end - used) / u32::try_from(cpus).unwrap_or(1))
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        guard = wake
            .wait_timeout(guard, pause)
            .unwrap_or_else(|e| e.into_inner())
            .0;
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
