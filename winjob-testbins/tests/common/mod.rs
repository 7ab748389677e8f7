//! Helpers shared by the integration tests: finding the helper program,
//! reading what it prints, bounded polling, and a guard that kills a child if
//! a test fails half-way.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A `Command` for the helper program built from `src/main.rs`. The helper
/// never reads its stdin, so it gets none rather than the test harness's.
pub(crate) fn testbin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_winjob-testbin"));
    command.stdin(Stdio::null());
    command
}

/// `testbin` with arguments and stdout piped.
pub(crate) fn helper(args: &[&str]) -> Command {
    let mut command = testbin();
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Every line the child prints, delivered through a channel by a reader
/// thread, so that tests can wait for lines with a timeout even when the
/// members of a tree keep the pipe open.
pub(crate) struct Lines {
    receiver: mpsc::Receiver<String>,
}

impl Lines {
    /// Reads `reader` (a child's stdout, or the read end of any pipe).
    pub(crate) fn new(reader: impl Read + Send + 'static) -> Lines {
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { receiver }
    }

    /// Takes the child's stdout and reads it.
    pub(crate) fn of(child: &mut Child) -> Lines {
        Lines::new(child.stdout.take().expect("stdout must be piped"))
    }

    /// The next line, or `None` after `timeout` or at end of output.
    pub(crate) fn next(&self, timeout: Duration) -> Option<String> {
        self.receiver.recv_timeout(timeout).ok()
    }

    /// True if the output ends (every writer closed) within `timeout`; the
    /// lines that arrive meanwhile are dropped.
    pub(crate) fn ends_within(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(mpsc::RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// The value of the next line that starts with `key ` (skipping others);
    /// `Some("")` for a line that is `key` alone.
    pub(crate) fn value(&self, key: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.next(left)?;
            match line.strip_prefix(key) {
                Some("") => return Some(String::new()),
                Some(rest) if rest.starts_with(' ') => return Some(rest[1..].to_owned()),
                _ => {}
            }
        }
    }

    /// Collects `count` pids from `pid N` lines, and counts the `retry 1359`
    /// lines among them: the spawns the helper retried after Wine's
    /// transient error, each of which may have put a process Wine created in
    /// the job for a moment (it never runs the helper, so prints no pid). A
    /// test counting a job's processes allows that many more. Each `retry`
    /// line comes before the pid of the spawn retried. Fails the test after
    /// `timeout` per line.
    pub(crate) fn pids_and_retries(&self, count: usize, timeout: Duration) -> (Vec<u32>, usize) {
        let mut pids = Vec::new();
        let mut retries = 0;
        while pids.len() < count {
            match self.next(timeout) {
                Some(line) if line == "retry 1359" => retries += 1,
                Some(line) => {
                    if let Some(pid) = line.strip_prefix("pid ") {
                        pids.push(pid.parse().expect("pid line"));
                    }
                }
                None => panic!(
                    "only {} of {count} pids arrived within {timeout:?} a line",
                    pids.len()
                ),
            }
        }
        (pids, retries)
    }

    /// Collects `count` pids from `pid N` lines, failing the test after
    /// `timeout`.
    pub(crate) fn pids(&self, count: usize, timeout: Duration) -> Vec<u32> {
        let mut pids = Vec::new();
        while pids.len() < count {
            match self.value("pid", timeout) {
                Some(p) => pids.push(p.parse().expect("pid line")),
                None => panic!(
                    "only {} of {count} pids arrived within {timeout:?}",
                    pids.len()
                ),
            }
        }
        pids
    }
}

/// Polls `check` every 10 ms until it is true or `timeout` passes; returns its
/// last answer.
pub(crate) fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Kills and reaps the child when dropped, so that a failing assertion does
/// not leave it running.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// 1 + w + w² + … + w^depth: the size of `tree depth w`.
pub(crate) fn tree_size(depth: u32, width: u32) -> usize {
    (0..=depth).map(|d| (width as usize).pow(d)).sum()
}

/// A name no other test (or test run) uses: the pid and a counter tell
/// the tests of one run apart, the clock's nanoseconds tell this run from an
/// earlier one that had the same pid (Wine reuses small pids).
pub(crate) fn unique_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "winjob-test-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// True under Wine: the harness sets `WINJOB_UNDER_WINE=1`, and on Windows
/// the library notices Wine by itself too.
pub(crate) fn under_wine() -> bool {
    std::env::var_os("WINJOB_UNDER_WINE").is_some_and(|v| v == "1")
        || (cfg!(windows)
            && winjob::capabilities().is_ok_and(|caps| caps.reason.contains("under Wine")))
}

/// `ERROR_INTERNAL_ERROR`: Wine's CreateProcess fails with it now and then
/// under load. Tests retry that one error; the library does not.
#[cfg(windows)]
const ERROR_INTERNAL_ERROR: i32 = 1359;

/// Retries `spawn` while it fails with Wine's transient error 1359, at most
/// five times.
#[cfg(windows)]
pub(crate) fn retry<T>(mut spawn: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    let mut tries = 0;
    loop {
        match spawn() {
            Err(e) if e.raw_os_error() == Some(ERROR_INTERNAL_ERROR) && tries < 5 => {
                tries += 1;
                eprintln!("retrying a spawn after error 1359 (try {tries})");
                thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// Elsewhere, `spawn` once.
#[cfg(not(windows))]
pub(crate) fn retry<T>(mut spawn: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    spawn()
}

/// Prints why a test is skipped, in one greppable form.
pub(crate) fn skip(test: &str, reason: &str) {
    println!("skipped: {test}: {reason}");
}

/// Prints that a test met a known defect, in one greppable form: the test
/// passes, and `cargo xtask ci` lists it as a known failure, never as a
/// skip. Only for a defect with an open issue; once it is fixed, the test
/// asserts instead.
pub(crate) fn known_failure(test: &str, why: &str) {
    println!("known failure: {test}: {why}");
}

pub(crate) const LONG: Duration = Duration::from_secs(20);
