//! Windows: Ctrl+C and Ctrl+Break through `ctrlc` (the console control
//! handler), PROGRAM waited for by a thread, and no usage of the tree's own:
//! the job's accounting is complete on Windows (every process that was ever
//! in the job, its CPU time, committed memory and I/O), so the report takes
//! its figures from there.
//!
//! Known gaps: no live status (the console's title would need
//! `SetConsoleTitleW`, and this crate has no unsafe code); `--signal` has no
//! meaning (a graceful stop is `CTRL_BREAK_EVENT` and `WM_CLOSE`).

use std::io;
use std::sync::mpsc::Sender;

use super::{Interrupt, Msg, TreeUsage};

/// See the module's documentation.
#[derive(Debug)]
pub(crate) struct Supervisor {
    tx: Sender<Msg>,
    /// The signals left ignored: none on Windows.
    pub(crate) ignored: Vec<i32>,
}

impl Supervisor {
    /// Catches Ctrl+C and Ctrl+Break.
    pub(crate) fn start(tx: Sender<Msg>) -> io::Result<Supervisor> {
        let handler_tx = tx.clone();
        ctrlc::set_handler(move || {
            let _ = handler_tx.send(Msg::Interrupt(Interrupt::CTRL_C));
        })
        .map_err(io::Error::other)?;
        Ok(Supervisor {
            tx,
            ignored: Vec::new(),
        })
    }

    /// PROGRAM runs, as `child`: a thread waits for it.
    pub(crate) fn watch(&mut self, mut child: winjob::Child) {
        let tx = self.tx.clone();
        let spawned = std::thread::Builder::new()
            .name("winjob-program".into())
            .spawn(move || {
                let _ = tx.send(Msg::Exited(child.wait()));
            });
        if let Err(e) = spawned {
            let _ = self.tx.send(Msg::Exited(Err(e)));
        }
    }

    /// Nothing to reap; no usage of the tree's own.
    pub(crate) fn finish(self) -> Option<TreeUsage> {
        None
    }
}

/// Asks every process of the job to stop: `CTRL_BREAK_EVENT` and
/// `WM_CLOSE` (see `Job::request_stop`).
pub(crate) fn request_stop(job: &winjob::Job, _signal: crate::parse::Signal) -> io::Result<()> {
    job.request_stop()
}

/// `--signal`: only the default, since Windows has no signals.
pub(crate) fn check_signal(signal: crate::parse::Signal) -> Result<(), String> {
    if signal.name == "TERM" {
        Ok(())
    } else {
        Err(format!(
            "--signal {}: Windows has no signals; a graceful stop is CTRL_BREAK_EVENT to each \
             process's console group and WM_CLOSE to its windows",
            signal.name
        ))
    }
}

/// The name of process `pid` for an event line, from the job's process
/// list (`QueryFullProcessImageNameW` in the library).
pub(crate) fn process_name(job: &winjob::Job, pid: u32) -> Option<String> {
    job.processes()
        .ok()?
        .into_iter()
        .find(|p| p.pid == pid)?
        .name
}

/// No title on Windows (see the module's documentation).
pub(crate) mod title {
    pub(crate) fn push() {}
    pub(crate) fn set(_text: &str) {}
    pub(crate) fn pop() {}
}

/// False: Windows has no signals.
pub(crate) const SIGNALS: bool = false;
/// What `PeakJobMemoryUsed` measures.
pub(crate) const JOB_MEMORY: &str = "committed private memory, PeakJobMemoryUsed";
/// What the tree's `ru_maxrss` measures (no rusage on Windows).
pub(crate) const RUSAGE_RSS: &str = "resident set";
/// What `PeakProcessMemoryUsed` measures.
pub(crate) const PROCESS_MEMORY: &str =
    "committed private memory of the largest process, PeakProcessMemoryUsed";
/// What `IO_COUNTERS` count.
pub(crate) const IO: &str = "every read and write call (files, pipes, network), IO_COUNTERS";
pub(crate) const NO_CPU: &str = "the job's accounting could not be read";
pub(crate) const NO_PROCESS_MEMORY: &str = "the job's accounting could not be read";
pub(crate) const NO_JOB_MEMORY: &str = "the job's accounting could not be read";
pub(crate) const NO_IO: &str = "the job's accounting could not be read";
pub(crate) const NO_RUSAGE: &str =
    "Windows keeps no file-system block counts; see io for every I/O call";

/// None: Windows counts processes, which is what the limit counts too.
pub(crate) fn tasks_peak(_job: &winjob::Job) -> Option<u64> {
    None
}
pub(crate) const NO_TASKS_PEAK: &str = "Windows counts processes, not threads: see processes.peak";
/// None: Windows reports a process memory limit hit as an event.
pub(crate) const PROCESS_MEMORY_HIT_UNSEEN: Option<&str> = None;
