//! Unix: the stop signals through `signal-hook`'s self-pipe, and PROGRAM
//! and the tree's orphans reaped here, on `SIGCHLD`.
//!
//! # Signals
//!
//! `SIGINT`, `SIGTERM`, `SIGHUP` and `SIGQUIT` each become a
//! [`Msg::Interrupt`], unless winjob inherited the signal as ignored
//! (`nohup`, `cmd &` in a script): then whoever started winjob asked for it
//! not to matter, so winjob leaves it ignored, and the tree inherits the
//! same disposition, as it would without winjob. (GNU `timeout` installs
//! its handler regardless and forwards the signal; a `nohup timeout ...`
//! loses its command to a hang-up. winjob keeps what `nohup` promised.)
//! The inherited dispositions are read from `/proc/self/status`
//! (`SigIgn`), Linux only; elsewhere every signal is caught.
//!
//! # Reaping
//!
//! On Linux winjob is the tree's child subreaper
//! (`prctl(PR_SET_CHILD_SUBREAPER)`): a process whose parent dies is
//! re-parented to winjob, not to init, and winjob reaps it. So, once the job
//! is empty and the last orphan reaped, `getrusage(RUSAGE_CHILDREN)` holds
//! the CPU time, the largest resident set and the file-system blocks of
//! every process of the tree, exited ones included — what `time -v` shows
//! for one process, for the whole tree.
//!
//! The one thread that receives the signals also reaps, with
//! `wait4(-1, WNOHANG)`, so that PROGRAM's status is never taken by a
//! second waiter: PROGRAM's status becomes [`Msg::Exited`], any other child
//! an orphan counted. Until [`Supervisor::watch`] names PROGRAM's pid the
//! thread reaps nothing (an early `SIGCHLD` is replayed by `watch`).
//!
//! Known gap: winjob's own children outside the tree (the library's
//! kill-on-drop guardian; in process-group mode the group's anchor, which
//! the timeout's kill ends too) are children too; one that dies is reaped
//! here, and counted as an orphan. (The library then signals the group
//! through the anchor's pidfd, which stays exact after the reap.)

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use super::{Interrupt, Msg, TreeUsage};

/// What the signal thread shares with [`Supervisor`].
#[derive(Debug, Default)]
struct Reaping {
    /// PROGRAM's pid, once known.
    program: Option<u32>,
    /// PROGRAM's status was sent.
    program_reaped: bool,
    orphans: u64,
}

/// See the module's documentation.
#[derive(Debug)]
pub(crate) struct Supervisor {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
    reaping: Arc<Mutex<Reaping>>,
    tx: Sender<Msg>,
    /// The signals left ignored, as inherited.
    pub(crate) ignored: Vec<i32>,
}

impl Supervisor {
    /// Catches the stop signals (but those inherited as ignored) and
    /// `SIGCHLD`, and on Linux makes this process a child subreaper.
    pub(crate) fn start(tx: Sender<Msg>) -> io::Result<Supervisor> {
        let ignored = inherited_ignored();
        let mut wanted = vec![SIGCHLD];
        wanted.extend(STOP_SIGNALS.into_iter().filter(|s| !ignored.contains(s)));
        let mut signals = Signals::new(&wanted)?;
        let handle = signals.handle();
        #[cfg(target_os = "linux")]
        rustix::process::set_child_subreaper(Some(rustix::process::Pid::INIT))?;
        let reaping = Arc::new(Mutex::new(Reaping::default()));
        let thread = {
            let (tx, reaping) = (tx.clone(), Arc::clone(&reaping));
            std::thread::Builder::new()
                .name("winjob-signals".into())
                .spawn(move || {
                    for signal in signals.forever() {
                        if signal == SIGCHLD {
                            reap(&reaping, &tx);
                        } else if tx.send(Msg::Interrupt(Interrupt { signal })).is_err() {
                            break;
                        }
                    }
                })?
        };
        Ok(Supervisor {
            handle,
            thread: Some(thread),
            reaping,
            tx,
            ignored,
        })
    }

    /// PROGRAM runs, as `child`: its end comes as [`Msg::Exited`].
    pub(crate) fn watch(&mut self, child: winjob::Child) {
        lock(&self.reaping).program = Some(child.id());
        // It may have exited already, its SIGCHLD seen while the pid was
        // unknown: reap now.
        reap(&self.reaping, &self.tx);
        // The pidfd is not needed: the status comes from waitpid.
        drop(child);
    }

    /// Once the job is empty: stops the signal thread, reaps what is left,
    /// and returns the tree's usage.
    pub(crate) fn finish(mut self) -> Option<TreeUsage> {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        reap(&self.reaping, &self.tx);
        let orphans = lock(&self.reaping).orphans;
        tree_usage(orphans)
    }
}

fn lock(reaping: &Mutex<Reaping>) -> std::sync::MutexGuard<'_, Reaping> {
    reaping.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reaps every child that has exited; PROGRAM's status goes to `tx`.
fn reap(reaping: &Mutex<Reaping>, tx: &Sender<Msg>) {
    use rustix::process::{WaitOptions, wait};
    let mut state = lock(reaping);
    let Some(program) = state.program else {
        return;
    };
    loop {
        match wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid.as_raw_nonzero().get().cast_unsigned() == program {
                    state.program_reaped = true;
                    let _ = tx.send(Msg::Exited(Ok(ExitStatus::from_raw(status.as_raw()))));
                } else {
                    state.orphans += 1;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            // None: children left, none exited; ECHILD: no child at all.
            Ok(None) | Err(rustix::io::Errno::CHILD) => break,
            Err(e) => {
                if !state.program_reaped {
                    state.program_reaped = true;
                    let _ = tx.send(Msg::Exited(Err(e.into())));
                }
                break;
            }
        }
    }
}

/// The signals that stop the job.
const STOP_SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// The stop signals this process inherited as ignored (`SigIgn` of
/// `/proc/self/status`, a hex mask of bit N-1 for signal N); none where it
/// cannot be read.
fn inherited_ignored() -> Vec<i32> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Vec::new();
    };
    let Some(mask) = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    else {
        return Vec::new();
    };
    STOP_SIGNALS
        .into_iter()
        .filter(|n| mask & (1u64 << (n - 1)) != 0)
        .collect()
}

#[cfg(target_os = "linux")]
fn tree_usage(orphans_reaped: u64) -> Option<TreeUsage> {
    let usage = winjob::os::linux::children_usage().ok()?;
    Some(TreeUsage {
        user_time: usage.user_time,
        system_time: usage.system_time,
        max_rss: usage.max_rss,
        block_reads: usage.block_reads,
        block_writes: usage.block_writes,
        orphans_reaped,
    })
}

#[cfg(not(target_os = "linux"))]
fn tree_usage(_orphans_reaped: u64) -> Option<TreeUsage> {
    None
}

/// Asks every process of the job to stop, with `signal`.
pub(crate) fn request_stop(job: &winjob::Job, signal: crate::parse::Signal) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use winjob::os::linux::JobExt;
        job.signal(signal.number)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = signal;
        job.request_stop()
    }
}

/// `--signal` other than TERM: accepted here.
pub(crate) fn check_signal(_signal: crate::parse::Signal) -> Result<(), String> {
    Ok(())
}

/// The name of process `pid` for an event line: its `comm` (Linux), read
/// when the event is handled (a process that has exited by then has none).
pub(crate) fn process_name(_job: &winjob::Job, pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end_matches('\n').to_owned())
}

/// A status in the terminal's title, never in its text: OSC 2, after the
/// title was pushed (`CSI 22;2t`), and popped at the end (`CSI 23;2t`);
/// terminals that know neither ignore them.
pub(crate) mod title {
    use std::io::Write;

    pub(crate) fn push() {
        write(b"\x1b[22;2t");
    }

    pub(crate) fn set(text: &str) {
        let clean: String = text.chars().filter(|c| !c.is_control()).collect();
        write(format!("\x1b]2;{clean}\x07").as_bytes());
    }

    pub(crate) fn pop() {
        write(b"\x1b[23;2t");
    }

    fn write(bytes: &[u8]) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes).and_then(|()| err.flush());
    }
}

/// True: `--signal` means a signal here.
pub(crate) const SIGNALS: bool = true;
/// What the job's peak memory measures (cgroup `memory.peak` or v1
/// `memory.max_usage_in_bytes`).
pub(crate) const JOB_MEMORY: &str = "cgroup memory charge, page cache included";
/// What the tree's `ru_maxrss` measures.
pub(crate) const RUSAGE_RSS: &str = "resident set of the largest process, rusage";
/// What the job's own per-process peak measures (none on Linux).
pub(crate) const PROCESS_MEMORY: &str = "per-process peak";
/// What the job's I/O figures count (`io.stat`).
pub(crate) const IO: &str = "block-device I/O, io.stat";
pub(crate) const NO_CPU: &str =
    "process-group mode has no CPU accounting, and getrusage is unavailable here";
pub(crate) const NO_PROCESS_MEMORY: &str = "getrusage is unavailable on this architecture";
pub(crate) const NO_JOB_MEMORY: &str = "no memory controller holds the job's cgroup (process-group mode, a hybrid \
     host whose memory controller is on cgroup v1, or a cgroup without it): give --memory, or see \
     `winjob caps`";
pub(crate) const NO_IO: &str =
    "no io controller holds the job's cgroup; file_system_inputs/outputs count from rusage";
pub(crate) const NO_RUSAGE: &str = "getrusage is unavailable on this architecture";

/// The highest task count of the job's pids controller (`pids.peak`, Linux
/// 6.1+, cgroup v2), which is what `--max-processes` limits.
pub(crate) fn tasks_peak(job: &winjob::Job) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use winjob::os::linux::JobExt;
        let path = job.cgroup_path()?.join("pids.peak");
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = job;
        None
    }
}
pub(crate) const NO_TASKS_PEAK: &str =
    "the pids controller keeps no peak here (pids.peak is cgroup v2, Linux 6.1+)";
/// Why a `--process-memory` hit never shows in `limits_hit` on Linux.
pub(crate) const PROCESS_MEMORY_HIT_UNSEEN: Option<&str> = Some(
    "--process-memory is RLIMIT_AS: an allocation past it fails inside the process, which no \
     event or counter reports",
);
