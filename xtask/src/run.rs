//! Running commands for the harness: echo what is run, stream its output,
//! and count the tests a cargo test run reports.

use std::collections::HashSet;
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
    /// Test binaries that died before their harness printed anything and
    /// were run once more, with how the rerun went.
    pub(crate) reruns: Vec<String>,
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
        self.reruns.extend(other.reruns);
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
    pub(crate) counts: Box<Counts>,
}

impl From<String> for Failed {
    fn from(why: String) -> Failed {
        Failed {
            why,
            counts: Box::default(),
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
/// A test binary that failed before its harness printed its first line
/// (`running N tests`) ran no test: under Wine a process can die inside its
/// start-up (seen once in many runs: status 1, nothing printed). Such a
/// target alone is run once more, and the rerun is reported; a binary that
/// started and then failed is never rerun.
pub(crate) fn cargo_test(command: &mut Command) -> Outcome {
    let first = cargo_test_once(command)?;
    if first.status.success() || first.failed_targets.is_empty() {
        return verdict(first.status, first.counts);
    }
    let mut counts = first.counts;
    let mut all_rerun_passed = true;
    for target in &first.failed_targets {
        let started = target_binary(target).is_none_or(|binary| first.started.contains(&binary));
        if started {
            all_rerun_passed = false;
            counts.failures.push(format!("target {target}"));
            continue;
        }
        let why = format!("{target} failed before its harness printed anything");
        eprintln!("\nrerun: {why}; running it once more");
        let mut again = retarget(command, target);
        match cargo_test_once(&mut again) {
            Ok(rerun) => {
                let passed = rerun.status.success();
                counts.reruns.push(format!(
                    "{why}; its rerun {}",
                    if passed { "passed" } else { "failed" }
                ));
                if !passed {
                    all_rerun_passed = false;
                    counts
                        .failures
                        .extend(rerun.failed_targets.iter().map(|t| format!("target {t}")));
                }
                counts.add(rerun.counts);
            }
            Err(e) => {
                all_rerun_passed = false;
                counts
                    .reruns
                    .push(format!("{why}; its rerun could not run: {e}"));
            }
        }
    }
    if all_rerun_passed && counts.failed == 0 {
        verdict_of(true, "all reruns passed".into(), counts)
    } else {
        verdict(first.status, counts)
    }
}

/// What one `cargo test` run came to.
struct Run {
    status: std::process::ExitStatus,
    counts: Counts,
    /// cargo's closing list of failed targets (`-p winjob-testbins --test
    /// lifecycle`), if cargo printed it while its stderr was read.
    failed_targets: Vec<String>,
    /// The test binaries (by target name) whose harness printed `running N
    /// tests`.
    started: HashSet<String>,
}

/// One line from cargo: its stdout (the test binaries') or its stderr
/// (cargo's own: `Running ...`, the failed targets).
enum Line {
    Out(String),
    Err(String),
}

/// Runs a `cargo test` command once, streaming its output.
///
/// Done once cargo has exited, even if its output is still open. Under Wine
/// it can be: a process killed inside `CreateProcess` can leave a process the
/// server created but never started, which holds the handles it inherited
/// (the test's stdout among them) until the server stops, and no Windows tool
/// can list it. What was printed by the time cargo exited (and for a second
/// after) is counted.
fn cargo_test_once(command: &mut Command) -> Result<Run, String> {
    show(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    // Both streams into one channel, in the order they arrive: cargo prints
    // `Running <binary>` on stderr before it starts a binary and waits for
    // it before the next, so a `running N tests` on stdout belongs to the
    // binary named last.
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let to_out = sender.clone();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if to_out.send(Line::Out(line)).is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(Line::Err(line)).is_err() {
                break;
            }
        }
    });
    let mut run = Run {
        status: std::process::ExitStatus::default(),
        counts: Counts::default(),
        failed_targets: Vec::new(),
        started: HashSet::new(),
    };
    let mut current: Option<String> = None;
    let mut in_list = false;
    let mut take = |line: Line, run: &mut Run| match line {
        Line::Out(line) => {
            println!("{line}");
            let harness = line.starts_with("running ")
                && (line.ends_with(" tests") || line.ends_with(" test"));
            if let (true, Some(binary)) = (harness, &current) {
                run.started.insert(binary.clone());
            }
            run.counts.add_line(&line);
        }
        Line::Err(line) => {
            // cargo's stderr stays on the terminal; its closing list of
            // failed targets (`error: 2 targets failed:` and one indented
            // line each) is kept: a crashed binary names no failed test.
            eprintln!("{line}");
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("Running ") {
                current = running_binary(rest);
            } else if trimmed.starts_with("Doc-tests ") {
                current = None;
            }
            if line.starts_with("error:") && line.contains("target") && line.ends_with("failed:") {
                in_list = true;
            } else if in_list && line.starts_with("    ") {
                run.failed_targets
                    .push(line.trim().trim_matches('`').to_owned());
            } else {
                in_list = false;
            }
        }
    };
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => take(line, &mut run),
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait(),
            Err(mpsc::RecvTimeoutError::Timeout) => match child.try_wait() {
                Ok(Some(status)) => {
                    // Cargo is gone: take what is still buffered, briefly.
                    while let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
                        take(line, &mut run);
                    }
                    break Ok(status);
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            },
        }
    }
    .map_err(|e| format!("cannot wait for cargo: {e}"))?;
    run.status = status;
    Ok(run)
}

/// The target name of the binary in cargo's `Running tests/x.rs
/// (target/debug/deps/x-0123abcd)`: `x`, with `-` as `_`.
fn running_binary(rest: &str) -> Option<String> {
    let path = rest.rsplit_once('(')?.1.strip_suffix(')')?;
    let file = Path::new(path).file_stem()?.to_str()?;
    let (name, _hash) = file.rsplit_once('-')?;
    Some(name.replace('-', "_"))
}

/// The binary a failed target of cargo's list runs: `-p pkg --test x` is
/// `x`, `-p pkg --lib` is `pkg`, `-p pkg --bin x` is `x` (with `-` as `_`);
/// `None` for what this cannot tell (doc tests).
fn target_binary(target: &str) -> Option<String> {
    let words: Vec<&str> = target.split_whitespace().collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|w| *w == flag)
            .and_then(|i| words.get(i + 1))
            .map(|w| w.replace('-', "_"))
    };
    if words.contains(&"--doc") {
        None
    } else if words.contains(&"--lib") {
        after("-p")
    } else {
        after("--test").or_else(|| after("--bin"))
    }
}

/// The same command restricted to one target of cargo's list: the packages
/// and targets it named are replaced by the target's own words.
fn retarget(command: &Command, target: &str) -> Command {
    let mut again = Command::new(command.get_program());
    if let Some(dir) = command.get_current_dir() {
        again.current_dir(dir);
    }
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => again.env(key, value),
            None => again.env_remove(key),
        };
    }
    let args: Vec<&OsStr> = command.get_args().collect();
    let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut i = 0;
    while i < split {
        let arg = args[i];
        if arg == "-p" || arg == "--package" || arg == "--test" || arg == "--bin" {
            i += 2;
            continue;
        }
        if arg != "--lib" && arg != "--tests" && arg != "--doc" {
            again.arg(arg);
        }
        i += 1;
    }
    again.args(target.split_whitespace());
    again.args(&args[split..]);
    again
}

/// A `cargo test` run's verdict: its counts, or why it failed (cargo
/// failed, or no test ran at all).
fn verdict(status: std::process::ExitStatus, counts: Counts) -> Outcome {
    verdict_of(status.success(), status.to_string(), counts)
}

/// A verdict: `success` as cargo's status (or the reruns) gave it.
fn verdict_of(success: bool, status: String, counts: Counts) -> Outcome {
    if !success {
        return Err(Failed {
            why: format!(
                "tests failed ({} passed, {} failed): {status}",
                counts.passed, counts.failed
            ),
            counts: Box::new(counts),
        });
    }
    if counts.passed == 0 {
        return Err(Failed {
            why: "the run executed no test".into(),
            counts: Box::new(counts),
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

    #[test]
    fn a_failed_target_is_matched_to_its_binary() {
        assert_eq!(
            running_binary("tests/lifecycle.rs (target/x/debug/deps/lifecycle-0123abcd.exe)"),
            Some("lifecycle".into())
        );
        assert_eq!(
            running_binary("unittests src/lib.rs (target/debug/deps/winjob_cli-55aa)"),
            Some("winjob_cli".into())
        );
        assert_eq!(
            target_binary("-p winjob-testbins --test lifecycle"),
            Some("lifecycle".into())
        );
        assert_eq!(
            target_binary("-p winjob-cli --lib"),
            Some("winjob_cli".into())
        );
        assert_eq!(target_binary("-p winjob --bin a-b"), Some("a_b".into()));
        assert_eq!(target_binary("-p winjob --doc"), None);
    }

    #[test]
    fn a_rerun_runs_only_the_failed_target() {
        let mut command = Command::new("cargo");
        command
            .args(["test", "--no-fail-fast", "--target", "t", "-p", "winjob"])
            .args([
                "-p",
                "winjob-testbins",
                "--all-features",
                "--",
                "--show-output",
                "f",
            ])
            .env("WINJOB_MODE", "m");
        let again = retarget(&command, "-p winjob-testbins --test lifecycle");
        let args: Vec<_> = again.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "test",
                "--no-fail-fast",
                "--target",
                "t",
                "--all-features",
                "-p",
                "winjob-testbins",
                "--test",
                "lifecycle",
                "--",
                "--show-output",
                "f"
            ]
        );
        assert!(
            again
                .get_envs()
                .any(|(k, v)| k == "WINJOB_MODE" && v == Some("m".as_ref()))
        );
    }
}
