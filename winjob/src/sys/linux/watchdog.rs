//! The job CPU time limit on Linux: a watchdog thread over `cpu.stat`.
//!
//! Windows ends a job whose processes used up `PerJobUserTimeLimit` of
//! user-mode time, and posts `JOB_OBJECT_MSG_END_OF_JOB_TIME`. Linux has no
//! such limit, so one thread per limited job reads `user_usec` in the job's
//! `cpu.stat` (cgroup v2, where it exists without any controller and counts
//! exited processes too), and when the budget is spent it kills the job
//! (`cgroup.kill`) and sends `Event::EndOfJobTime`.
//!
//! The budget counts from the moment the limit is set (as Windows does unless
//! `PRESERVE_JOB_TIME` is given). The thread sleeps for the time the rest of
//! the budget would take with every CPU busy, at most a second: the job can
//! overrun by at most one such interval's check latency, and an idle job costs
//! one wake-up a second. Dropping the watchdog wakes and joins the thread.

use std::io;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::cgroup::Cgroup;
use crate::event::{Broadcaster, Event};

#[derive(Debug)]
pub(crate) struct Watchdog {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `cgroup` for `budget` of user time from now.
    pub(crate) fn start(
        cgroup: Arc<Cgroup>,
        budget: Duration,
        broadcaster: Arc<Broadcaster>,
    ) -> io::Result<Watchdog> {
        let start = user_time(&cgroup)?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("winjob-cpu-time".into())
                .stack_size(64 * 1024)
                .spawn(move || watch(&cgroup, start + budget, cpus, &stop, &broadcaster))?
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
        let Ok(used) = user_time(cgroup) else { return };
        if used >= end {
            let _ = cgroup.kill();
            broadcaster.send(&Event::EndOfJobTime);
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

/// `user_usec` of the job's `cpu.stat`.
fn user_time(cgroup: &Cgroup) -> io::Result<Duration> {
    let text = cgroup.read("cpu.stat")?;
    text.lines()
        .find_map(|l| l.strip_prefix("user_usec "))
        .and_then(|v| v.trim().parse().ok())
        .map(Duration::from_micros)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "cpu.stat has no user_usec"))
}
