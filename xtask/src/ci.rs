//! `cargo xtask ci`: every check and every test suite, in one command.
//!
//! 1. tools: the Wine and mingw packages and the Windows Rust target;
//! 2. checks: `cargo fmt --check`, clippy with `-D warnings` for Linux and for
//!    the Windows target, `cargo doc` with `-D warnings` for both, and
//!    `xtask bindings --check` (the committed Win32 bindings are what the
//!    generator makes);
//! 3. suites: host unit and doc tests; the Linux integration tests once per
//!    Linux mode this host can provide (`WINJOB_MODE`), and once more in a
//!    pure cgroup v2 QEMU VM (`xtask vm`); the Windows unit, doc and
//!    integration tests under Wine; the stress suite (`xtask stress`) at its
//!    bounded sizes, natively and under Wine;
//! 4. leftovers: no job directory and no helper process may remain. The
//!    suites run in private cgroups of this run ([`Isolation`]) and only this
//!    checkout's helper program counts, so another program using winjob on
//!    the same host cannot fail the check.
//!
//! Every suite runs even if an earlier one failed, and every `cargo test` it
//! starts runs with `--no-fail-fast`, so one run shows the whole picture; the
//! command fails at the end if anything did. The summary names every failed
//! test, gives every skip its reason, and lists every known failure (a test
//! that passes while it documents a defect with an open issue) as such. The
//! last line is `N passed, N failed, N skipped` over all suites.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::isolate::{self, Isolation};
use crate::run::{Counts, Failed, Outcome, cargo, cargo_test, cargo_test_command, run, target_dir};
use crate::{bindings, stress, vm, wine};

/// The Linux modes, as `WINJOB_MODE` names them.
pub(crate) const LINUX_MODES: &[&str] = &["cgroup-v2", "cgroup-v1", "process-group"];

/// One suite's name and what it came to.
pub(crate) struct SuiteOutcome {
    pub(crate) suite: String,
    pub(crate) result: Outcome,
}

pub(crate) fn ci() -> Result<(), String> {
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();

    wine::ensure_tools()?;

    let mut check = |name: &str, result: Result<(), String>| {
        if let Err(e) = result {
            failures.push(format!("{name}: {e}"));
        }
    };
    check("fmt", run(cargo().args(["fmt", "--all", "--check"])));
    check(
        "clippy (linux)",
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])),
    );
    check(
        "clippy (windows)",
        run(cargo().args([
            "clippy",
            "--target",
            wine::TARGET,
            "-p",
            "winjob",
            "-p",
            "winjob-testbins",
            "-p",
            "winjob-cli",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])),
    );
    // The other Windows layouts: 32-bit and ARM64 compile, and the struct
    // sizes asserted at compile time hold there.
    for target in wine::OTHER_WINDOWS_TARGETS {
        check(
            &format!("check ({target})"),
            run(cargo().args([
                "check",
                "-p",
                "winjob",
                "--all-features",
                "--target",
                target,
            ])),
        );
    }
    for target in [None, Some(wine::TARGET)] {
        let mut doc = cargo();
        doc.args(["doc", "--no-deps", "-p", "winjob", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings");
        if let Some(target) = target {
            doc.args(["--target", target]);
        }
        check(
            &format!("doc ({})", target.unwrap_or("host")),
            run(&mut doc),
        );
    }
    check("bindings", bindings::run(true));
    check("examples (linux)", examples(None));

    let outcomes = suites(&|_| true);
    report("winjob ci", &outcomes, &failures, started.elapsed());
    let failed_suites = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed_suites + failures.len() > 0 {
        return Err(format!(
            "{failed_suites} suite(s) and {} check(s) failed",
            failures.len()
        ));
    }
    Ok(())
}

/// Every test suite, each run to its end whatever the others did: the host
/// tests, the Linux integration tests in each mode this host provides and in
/// the pure cgroup v2 VM, the Windows tests under Wine, and the stress suite
/// at its bounded sizes. The Linux suites run in private cgroups
/// ([`Isolation`]). `cargo xtask ci` runs them once after its checks,
/// `cargo xtask soak` as often as asked.
pub(crate) fn suites(wanted: &dyn Fn(&str) -> bool) -> Vec<SuiteOutcome> {
    let _isolation = Isolation::enter();
    let mut outcomes: Vec<SuiteOutcome> = Vec::new();
    let mut suite = |name: &str, run: &mut dyn FnMut() -> Outcome| {
        if wanted(name) {
            let result = run();
            outcomes.push(SuiteOutcome {
                suite: name.to_owned(),
                result,
            });
        }
    };
    suite("host: unit and doc tests, the winjob command", &mut || {
        cargo_test(cargo_test_command().args([
            "-p",
            "winjob",
            "-p",
            "xtask",
            "-p",
            "winjob-cli",
            "--all-features",
            "--",
            "--show-output",
        ]))
    });
    for mode in LINUX_MODES {
        let name = format!("linux: integration, {mode}");
        suite(&name, &mut || match mode_root(mode) {
            Err(why) => {
                println!("skipped: {name}: this host cannot provide it: {why}");
                Ok(Counts {
                    skipped: vec![why],
                    ..Counts::default()
                })
            }
            Ok(root) => linux_suite(mode, root.as_deref()),
        });
    }
    let name = "linux: integration, pure cgroup v2 VM";
    suite(name, &mut || match debian() {
        Ok(()) => vm::suite(&[]),
        Err(why) => {
            println!("skipped: {name}: {why}");
            Ok(Counts {
                skipped: vec![why],
                ..Counts::default()
            })
        }
    });
    suite("windows: unit, doc and integration under Wine", &mut || {
        wine_suite(&[])
    });
    suite("stress: linux", &mut || stress::linux(false));
    suite("stress: windows under Wine", &mut || stress::windows(false));
    outcomes
}

/// The VM suite takes its kernel, busybox and QEMU from Debian's archive
/// (the kind of machine this project's CI runs on); elsewhere, such as on
/// GitHub's Ubuntu runners, it is skipped with this reason.
fn debian() -> Result<(), String> {
    let os = fs::read_to_string("/etc/os-release").unwrap_or_default();
    let id = os
        .lines()
        .find_map(|l| l.strip_prefix("ID="))
        .unwrap_or("unknown")
        .trim_matches('"');
    if id == "debian" {
        Ok(())
    } else {
        Err(format!(
            "the VM is built from Debian packages (linux-image-cloud-amd64, busybox-static, \
             qemu-system-x86), and this host is {id}"
        ))
    }
}

/// Whether this host can run `mode`, asked of the `winjob` command itself,
/// and the job root it would use.
pub(crate) fn mode_root(mode: &str) -> Result<Option<PathBuf>, String> {
    let output = cargo()
        .args(["run", "-q", "-p", "winjob-cli", "--", "caps"])
        .env("WINJOB_MODE", mode)
        .output()
        .map_err(|e| format!("cannot run winjob caps: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("job root: "))
        .map(PathBuf::from))
}

/// After a suite, the job root must hold no job directory and no helper
/// process may be running, in the mode's job root and in the library's job
/// root of every hierarchy this process is in (`<own cgroup>/winjob`, where
/// hybrid hosts keep the v1 limits). Directories of jobs left running are
/// removed by the guardian soon after their last process exits, which a
/// busy machine may delay: they are waited for, up to 30 s.
pub(crate) fn no_leftovers(root: Option<&Path>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut roots: Vec<PathBuf> = root.map(Path::to_path_buf).into_iter().collect();
    roots.extend(
        isolate::own_cgroups()
            .unwrap_or_default()
            .into_iter()
            .map(|dir| dir.join("winjob")),
    );
    roots.sort();
    roots.dedup();
    loop {
        let dirs: Vec<String> = roots.iter().flat_map(|r| job_dirs(r)).collect();
        let helpers = helper_processes();
        if dirs.is_empty() && helpers.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "left behind: job directories {dirs:?}, helper processes {helpers:?}"
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn job_dirs(root: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().display().to_string())
        .collect()
}

fn helper_processes() -> Vec<u32> {
    let ours = target_dir();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            // Only this checkout's helper: another run on the same host
            // has its own target directory.
            !zombie
                && cmdline.split(|b| *b == 0).next().is_some_and(|argv0| {
                    argv0.starts_with(ours.as_os_str().as_encoded_bytes())
                        && argv0.ends_with(b"winjob-testbin")
                })
        })
        .collect()
}

/// The summary: each suite with its counts, every skip with its reason,
/// every known failure, every failed test by name; then the one closing line
/// `N passed, N failed, N skipped`, where a suite or check that failed
/// without a failed test counts as one.
pub(crate) fn report(
    title: &str,
    outcomes: &[SuiteOutcome],
    failures: &[String],
    elapsed: Duration,
) {
    println!("\n==================== {title}: summary ====================");
    let mut tally = Tally::default();
    for outcome in outcomes {
        tally.add(outcome);
        let counts = match &outcome.result {
            Ok(c) => {
                println!(
                    "{:<48} {:>4} passed, {:>2} ignored, {:>2} skipped",
                    outcome.suite,
                    c.passed,
                    c.ignored,
                    c.skipped.len()
                );
                c
            }
            Err(Failed { why, counts }) => {
                println!("{:<48} FAILED: {why}", outcome.suite);
                counts
            }
        };
        for s in &counts.skipped {
            println!("    skipped: {s}");
        }
        for k in &counts.known {
            println!("    known failure: {k}");
        }
        for r in &counts.reruns {
            println!("    rerun: {r}");
        }
        for f in &counts.failures {
            println!("    FAILED: {f}");
        }
    }
    for f in failures {
        println!("check FAILED: {f}");
    }
    println!("took {:.0?}", elapsed);
    // Again at the very end, for logs that keep only their tail.
    for outcome in outcomes {
        if let Err(Failed { why, counts }) = &outcome.result {
            if counts.failures.is_empty() {
                println!("FAILED: {}: {why}", outcome.suite);
            }
            for f in &counts.failures {
                println!("FAILED: {}: {f}", outcome.suite);
            }
        }
    }
    for f in failures {
        println!("FAILED: check: {f}");
    }
    if tally.known > 0 {
        println!(
            "{} known failure(s), listed above: tests that pass while a known defect stands",
            tally.known
        );
    }
    tally.failed += failures.len();
    tally.close();
}

/// What suites came to, added up for a closing line.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) passed: usize,
    /// Failed tests; a suite that failed without a failed test counts as one.
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) known: usize,
}

impl Tally {
    pub(crate) fn add(&mut self, outcome: &SuiteOutcome) {
        let counts = match &outcome.result {
            Ok(counts) => counts,
            Err(Failed { counts, .. }) => {
                self.failed += counts.failed.max(1) as usize;
                counts
            }
        };
        self.passed += counts.passed as usize;
        self.skipped += counts.skipped.len();
        self.known += counts.known.len();
    }

    /// The closing line: `N passed, N failed, N skipped`.
    pub(crate) fn close(&self) {
        println!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        );
    }
}

/// The Linux integration tests in one mode, then the check for leftovers.
fn linux_suite(mode: &str, root: Option<&Path>) -> Outcome {
    let counts = cargo_test(
        cargo_test_command()
            .args(["-p", "winjob-testbins", "--", "--show-output"])
            .env("WINJOB_MODE", mode),
    )?;
    no_leftovers(root)?;
    Ok(counts)
}

/// The Windows tests under Wine, with a server for the run; `filters` go to
/// the test binaries.
fn wine_suite(filters: &[&str]) -> Outcome {
    let server = wine::Server::start()?;
    let mut test = cargo_test_command();
    test.args([
        "--target",
        wine::TARGET,
        "-p",
        "winjob",
        "-p",
        "winjob-testbins",
        "-p",
        "winjob-cli",
        "--all-features",
        "--",
        "--show-output",
    ]);
    test.args(filters);
    wine::configure(&mut test);
    let result = cargo_test(&mut test);
    // The examples too, while the server is up; a failing example fails the
    // suite.
    let result = result.and_then(|counts| {
        if filters.is_empty() {
            examples(Some(wine::TARGET))?;
        }
        Ok(counts)
    });
    drop(server);
    result
}

/// Runs the examples the README names (the tree, the events) on the host or
/// under Wine, and checks they say what they promise.
fn examples(target: Option<&str>) -> Result<(), String> {
    for (example, features, promise) in [
        ("tree", None, "none survived"),
        ("events", Some("serde"), "\"active_processes\": 0"),
    ] {
        let mut command = cargo();
        command.args(["run", "-q", "-p", "winjob", "--example", example]);
        if let Some(features) = features {
            command.args(["--features", features]);
        }
        if let Some(target) = target {
            command.args(["--target", target]);
            wine::configure(&mut command);
        }
        let output = command
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run the {example} example: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        print!("{stdout}");
        if !output.status.success() || !stdout.contains(promise) {
            return Err(format!(
                "the {example} example failed ({}) or did not print {promise:?}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

/// The Linux suites alone (for a quick run while working on the backend).
pub(crate) fn linux() -> Result<(), String> {
    let _isolation = Isolation::enter();
    for mode in LINUX_MODES {
        linux_suite(mode, mode_root(mode)?.as_deref()).map_err(|f| f.why)?;
    }
    Ok(())
}

/// The Windows suites alone, under Wine; `filters` select tests by name.
pub(crate) fn windows(filters: &[&str]) -> Result<(), String> {
    wine::ensure_tools()?;
    wine_suite(filters).map(drop).map_err(|f| f.why)
}
