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
//! 4. leftovers: no job directory and no helper process may remain.
//!
//! Every suite runs even if an earlier one failed, so one run shows the whole
//! picture; the command fails at the end if anything did. The last line is
//! `N passed, N failed, N skipped` over all suites.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::run::{Counts, cargo, cargo_test, run};
use crate::{bindings, stress, vm, wine};

/// The Linux modes, as `WINJOB_MODE` names them.
pub(crate) const LINUX_MODES: &[&str] = &["cgroup-v2", "cgroup-v1", "process-group"];

struct Outcome {
    suite: String,
    result: Result<Counts, String>,
}

pub(crate) fn ci() -> Result<(), String> {
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
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

    outcomes.push(Outcome {
        suite: "host: unit and doc tests, the winjob command".into(),
        result: cargo_test(cargo().args([
            "test",
            "-p",
            "winjob",
            "-p",
            "xtask",
            "-p",
            "winjob-cli",
            "--all-features",
            "--",
            "--show-output",
        ])),
    });
    check("examples (linux)", examples(None));

    for mode in LINUX_MODES {
        let suite = format!("linux: integration, {mode}");
        let result = match mode_root(mode) {
            Err(why) => {
                println!("skipped: {suite}: this host cannot provide it: {why}");
                Ok(Counts {
                    skipped: vec![why],
                    ..Counts::default()
                })
            }
            Ok(root) => linux_suite(mode, root.as_deref()),
        };
        outcomes.push(Outcome { suite, result });
    }
    let suite = "linux: integration, pure cgroup v2 VM";
    let result = match debian() {
        Ok(()) => vm::suite(&[]),
        Err(why) => {
            println!("skipped: {suite}: {why}");
            Ok(Counts {
                skipped: vec![why],
                ..Counts::default()
            })
        }
    };
    outcomes.push(Outcome {
        suite: suite.into(),
        result,
    });
    outcomes.push(Outcome {
        suite: "windows: unit, doc and integration under Wine".into(),
        result: wine_suite(&[]),
    });
    // The stress suite (`cargo xtask stress`), at its bounded sizes.
    outcomes.push(Outcome {
        suite: "stress: linux".into(),
        result: stress::linux(false),
    });
    outcomes.push(Outcome {
        suite: "stress: windows under Wine".into(),
        result: stress::windows(false),
    });

    report(&outcomes, &failures, started.elapsed());
    let failed_suites = outcomes.iter().filter(|o| o.result.is_err()).count();
    if failed_suites + failures.len() > 0 {
        return Err(format!(
            "{failed_suites} suite(s) and {} check(s) failed",
            failures.len()
        ));
    }
    Ok(())
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
/// process may be running. Directories of jobs left running are removed by
/// the guardian within a second of their last process exiting, so wait a
/// little for them.
pub(crate) fn no_leftovers(root: Option<&Path>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut roots: Vec<PathBuf> = root.map(Path::to_path_buf).into_iter().collect();
    roots.extend(v1_job_roots());
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

/// The library's job roots in this process's cgroup v1 hierarchies (where
/// hybrid hosts keep the limits): `<mount>/<own path>/winjob`.
fn v1_job_roots() -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut roots = Vec::new();
    for line in own.lines() {
        // "4:memory:/process_api/1ef8..."; v2's "0::/" is the mode's own root.
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            continue;
        }
        let mount_point = mountinfo.lines().find_map(|m| {
            let (before, after) = m.split_once(" - ")?;
            let options = after.split(' ').nth(2)?;
            let is_it = after.starts_with("cgroup ")
                && controllers
                    .split(',')
                    .all(|c| options.split(',').any(|o| o == c));
            is_it
                .then(|| before.split(' ').nth(4).map(str::to_owned))
                .flatten()
        });
        if let Some(mount_point) = mount_point {
            roots.push(
                Path::new(&mount_point)
                    .join(path.trim_start_matches('/'))
                    .join("winjob"),
            );
        }
    }
    roots
}

fn helper_processes() -> Vec<u32> {
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
            !zombie
                && cmdline
                    .split(|b| *b == 0)
                    .next()
                    .is_some_and(|argv0| argv0.ends_with(b"winjob-testbin"))
        })
        .collect()
}

fn report(outcomes: &[Outcome], failures: &[String], elapsed: Duration) {
    println!("\n==================== winjob ci: summary ====================");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for outcome in outcomes {
        match &outcome.result {
            Ok(c) => {
                passed += c.passed;
                skipped += c.skipped.len();
                println!(
                    "{:<48} {:>4} passed, {:>2} ignored, {:>2} skipped",
                    outcome.suite,
                    c.passed,
                    c.ignored,
                    c.skipped.len()
                );
                for s in &c.skipped {
                    println!("    skipped: {s}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("{:<48} FAILED: {e}", outcome.suite);
            }
        }
    }
    for f in failures {
        println!("check FAILED: {f}");
    }
    println!("took {:.0?}", elapsed);
    let failed = failed + failures.len();
    println!("{passed} passed, {failed} failed, {skipped} skipped");
}

/// The Linux integration tests in one mode, then the check for leftovers.
fn linux_suite(mode: &str, root: Option<&Path>) -> Result<Counts, String> {
    let counts = cargo_test(
        cargo()
            .args(["test", "-p", "winjob-testbins", "--", "--show-output"])
            .env("WINJOB_MODE", mode),
    )?;
    no_leftovers(root)?;
    Ok(counts)
}

/// The Windows tests under Wine, with a server for the run; `filters` go to
/// the test binaries.
fn wine_suite(filters: &[&str]) -> Result<Counts, String> {
    let server = wine::Server::start()?;
    let mut test = cargo();
    test.args([
        "test",
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
    for mode in LINUX_MODES {
        linux_suite(mode, mode_root(mode)?.as_deref())?;
    }
    Ok(())
}

/// The Windows suites alone, under Wine; `filters` select tests by name.
pub(crate) fn windows(filters: &[&str]) -> Result<(), String> {
    wine::ensure_tools()?;
    wine_suite(filters).map(drop)
}
