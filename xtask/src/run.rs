//! Running commands for the harness: echo what is run, stream its output,
//! and count the tests a cargo test run reports.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the workspace")
        .to_owned()
}

/// The build directory: `CARGO_TARGET_DIR` if set (relative to the workspace
/// root), else `target/` in the workspace. The Wine prefix, the VM's files and
/// the bench results live here too, so two checkouts or two target
/// directories never share a `wineserver`.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// The `cargo` that runs this task (so that a rustup toolchain override is
/// kept).
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Prints a command in shell form before running it.
pub(crate) fn show(command: &Command) {
    let mut line = String::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            line.push_str(&format!(
                "{}={} ",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    line.push_str(&command.get_program().to_string_lossy());
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    eprintln!("\n$ {line}");
}

/// Runs a command with inherited output; an error if it fails.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    show(command);
    let status = command
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed: {status}", command.get_program()))
    }
}

/// True if the command runs and succeeds (output discarded).
pub(crate) fn succeeds(program: impl AsRef<OsStr>, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What one suite of `cargo test` runs reported.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    pub(crate) passed: u32,
    pub(crate) failed: u32,
    pub(crate) ignored: u32,
    /// `skipped: <test>: <reason>` lines the tests printed.
    pub(crate) skipped: Vec<String>,
    /// `known failure: <test>: <why>` lines: a test that passes while it
    /// documents a known defect, shown as such in the summary (never as a
    /// skip, which would hide it).
    pub(crate) known: Vec<String>,
    /// The names of the tests libtest reported as failed (`test NAME ...
    /// FAILED`), and of test binaries that failed without naming a test
    /// (cargo's `error: N targets failed:` list).
    pub(crate) failures: Vec<String>,
}

impl Counts {
    /// Counts what a captured test output reports: every `test result:` line
    /// and every `skipped: ` line in `text`.
    pub(crate) fn of_text(text: &str) -> Counts {
        let mut counts = Counts::default();
        for line in text.lines() {
            counts.add_line(line);
        }
        counts
    }

    /// Counts one line of test output, if it is a `test result:` line, a
    /// `test NAME ... FAILED` line, a `skipped: <test>: <reason>` line or a
    /// `known failure: <test>: <why>` line.
    pub(crate) fn add_line(&mut self, line: &str) {
        if line.contains("test result:") {
            self.add_result_line(line);
        } else if let Some(name) = failed_test(line) {
            if !self.failures.iter().any(|f| f == name) {
                self.failures.push(name.to_owned());
            }
        } else if let Some(skip) = line.trim_start().strip_prefix("skipped: ") {
            self.skipped.push(skip.to_owned());
        } else if let Some(known) = line.trim_start().strip_prefix("known failure: ") {
            self.known.push(known.to_owned());
        }
    }

    /// Adds what another run reported.
    pub(crate) fn add(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
        self.skipped.extend(other.skipped);
        self.known.extend(other.known);
        self.failures.extend(other.failures);
    }

    fn add_result_line(&mut self, line: &str) {
        // "test result: ok. 21 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; ..."
        let Some(rest) = line.split_once("test result:").map(|(_, r)| r) else {
            return;
        };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = number.parse::<u32>() else {
                continue;
            };
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

/// The test a libtest line reports as failed: `test a::b ... FAILED`.
fn failed_test(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("test ")?;
    let (name, verdict) = rest.split_once(" ... ")?;
    (verdict.trim_end() == "FAILED").then_some(name)
}

/// A suite that failed: why, and what it counted up to then (the names of
/// the failed tests among it).
#[derive(Debug, Default, Clone)]
pub(crate) struct Failed {
    pub(crate) why: String,
    pub(crate) counts: Counts,
}

impl From<String> for Failed {
    fn from(why: String) -> Failed {
        Failed {
            why,
            counts: Counts::default(),
        }
    }
}

/// What one suite came to.
pub(crate) type Outcome = Result<Counts, Failed>;

/// `cargo test --no-fail-fast`: every test binary runs even after one
/// failed, so that one run names every failing test.
pub(crate) fn cargo_test_command() -> Command {
    let mut command = cargo();
    command.args(["test", "--no-fail-fast"]);
    command
}

/// Runs a `cargo test` command, streaming its output, and counts the tests.
/// Fails if cargo fails or if the run executed no test at all.
///
/// Done once cargo has exited, even if its output is still open. Under Wine
/// it can be: a process killed inside `CreateProcess` can leave a process the
/// server created but never started, which holds the handles it inherited
/// (the test's stdout among them) until the server stops, and no Windows tool
/// can list it. What was printed by the time cargo exited (and for a second
/// after) is counted.
pub(crate) fn cargo_test(command: &mut Command) -> Outcome {
    show(command);
    // `--nocapture` output and result lines arrive on stdout; cargo's own
    // progress on stderr, which stays on the terminal.
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    // cargo's stderr stays on the terminal, but its closing list of failed
    // targets (`error: 2 targets failed:` and one indented line each) is
    // kept: a test binary that crashed names no failed test.
    let stderr = child.stderr.take().expect("piped");
    let targets = thread::spawn(move || {
        let mut failed = Vec::new();
        let mut in_list = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
            if line.starts_with("error:") && line.contains("target") && line.ends_with("failed:") {
                in_list = true;
            } else if in_list && line.starts_with("    ") {
                failed.push(line.trim().to_owned());
            } else {
                in_list = false;
            }
        }
        failed
    });
    let stdout = child.stdout.take().expect("piped");
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut counts = Counts::default();
    let mut take = |line: String| {
        println!("{line}");
        counts.add_line(&line);
    };
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => take(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait(),
            Err(mpsc::RecvTimeoutError::Timeout) => match child.try_wait() {
                Ok(Some(status)) => {
                    // Cargo is gone: take what is still buffered, briefly.
                    while let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
                        take(line);
                    }
                    break Ok(status);
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            },
        }
    }
    .map_err(|e| format!("cannot wait for cargo: {e}"))?;
    // Like stdout, cargo's stderr may be held open by a process Wine never
    // started: take the list only if it is complete.
    let waited = std::time::Instant::now();
    while !targets.is_finished() && waited.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(10));
    }
    if targets.is_finished() {
        for target in targets.join().unwrap_or_default() {
            counts.failures.push(format!("target {target}"));
        }
    }
    verdict(status, counts)
}

/// A `cargo test` run's verdict: its counts, or why it failed (cargo
/// failed, or no test ran at all).
fn verdict(status: std::process::ExitStatus, counts: Counts) -> Outcome {
    if !status.success() {
        return Err(Failed {
            why: format!(
                "tests failed ({} passed, {} failed): {status}",
                counts.passed, counts.failed
            ),
            counts,
        });
    }
    if counts.passed == 0 {
        return Err(Failed {
            why: "the run executed no test".into(),
            counts,
        });
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_counted() {
        let mut c = Counts::default();
        c.add_result_line("test result: ok. 21 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 1.15s");
        c.add_result_line(
            "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
        );
        assert_eq!((c.passed, c.failed, c.ignored), (24, 1, 2));
    }

    #[test]
    fn failed_tests_and_known_failures_are_named() {
        let c = Counts::of_text(
            "test events::a ... ok\ntest events::b ... FAILED\n\
             known failure: stress::kill: the owner died between two calls\n\
             test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n\
             failures:\n    events::b\ntest events::b ... FAILED\n",
        );
        assert_eq!(c.failures, ["events::b"]);
        assert_eq!(c.known, ["stress::kill: the owner died between two calls"]);
        assert_eq!(failed_test("test a ... ok"), None);
        assert_eq!(failed_test("test a::b ... FAILED"), Some("a::b"));
    }

    #[test]
    fn captured_text_is_counted() {
        let c = Counts::of_text(
            "running 2 tests\nskipped: t1: no memory controller\ntest t1 ... ok\n\
             test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n",
        );
        assert_eq!((c.passed, c.failed, c.ignored), (2, 0, 0));
        assert_eq!(c.skipped, ["t1: no memory controller"]);
    }
}
