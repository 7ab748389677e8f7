//! `cargo xtask soak [--runs N] [--load] [--suite TEXT]...`: the test suites
//! again and again, to find the tests that fail by chance.
//!
//! A landing goes through one run of `cargo xtask ci`, so a test that fails
//! one time in twenty rejects good work one time in twenty. This runs the
//! suites of `cargo xtask ci` (not its checks: formatting, clippy and docs
//! do not vary from run to run) `N` times (default 3), and then lists every
//! test that failed at least once, with the runs it failed in, and every
//! suite that failed without naming a test (a crash, a leftover, a build).
//!
//! `--load` runs one busy loop per core beside the suites for the whole
//! soak, like `for i in $(seq $(nproc)); do yes >/dev/null & done`: every
//! test must still pass when it gets a fraction of the machine. `--suite
//! TEXT` (repeatable) keeps only the suites whose name contains TEXT (the
//! names are those of the CI summary: `host`, `cgroup-v1`, `VM`, `Wine`,
//! `stress: linux`, ...).
//!
//! It fails if any test failed in any run; the last line is `N passed, N
//! failed, N skipped` over all runs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use crate::ci::{Tally, report, suites};
use crate::run::Failed;
use crate::wine;

/// What was asked for.
struct Options {
    runs: u32,
    load: bool,
    suites: Vec<String>,
}

fn options(args: &[&str]) -> Result<Options, String> {
    let usage = "usage: cargo xtask soak [--runs N] [--load] [--suite TEXT]...";
    let mut options = Options {
        runs: 3,
        load: false,
        suites: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--runs" => {
                let n = args
                    .next()
                    .ok_or(format!("--runs needs a number; {usage}"))?;
                options.runs = n.parse().ok().filter(|n| *n > 0).ok_or(format!(
                    "--runs {n:?}: a whole number of 1 or more; {usage}"
                ))?;
            }
            "--load" => options.load = true,
            "--suite" => options.suites.push(
                args.next()
                    .ok_or(format!("--suite needs a text; {usage}"))?
                    .to_string(),
            ),
            other => return Err(format!("unknown argument {other:?}; {usage}")),
        }
    }
    Ok(options)
}

/// One busy loop per core, until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start() -> Load {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cores)
            .map(|_| {
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
                    }
                })
            })
            .collect();
        eprintln!("xtask soak: {cores} busy loop(s) run beside the suites");
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

pub(crate) fn run_command(args: &[&str]) -> Result<(), String> {
    let options = options(args)?;
    wine::ensure_tools()?;
    let wanted = |name: &str| {
        options.suites.is_empty() || options.suites.iter().any(|s| name.contains(s.as_str()))
    };
    let started = Instant::now();
    let load = options.load.then(Load::start);
    let mut tally = Tally::default();
    // Test (or suite) → the runs it failed in.
    let mut failed: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for run in 1..=options.runs {
        let run_started = Instant::now();
        let outcomes = suites(&wanted);
        if outcomes.is_empty() {
            return Err(format!("no suite matches {:?}", options.suites));
        }
        report(
            &format!("winjob soak: run {run} of {}", options.runs),
            &outcomes,
            &[],
            run_started.elapsed(),
        );
        for outcome in &outcomes {
            if let Err(Failed { why, counts }) = &outcome.result {
                let tests: Vec<String> = if counts.failures.is_empty() {
                    vec![format!("{} (no test named: {why})", outcome.suite)]
                } else {
                    counts
                        .failures
                        .iter()
                        .map(|t| format!("{}: {t}", outcome.suite))
                        .collect()
                };
                for test in tests {
                    failed.entry(test).or_default().push(run);
                }
            }
        }
        for outcome in &outcomes {
            tally.add(outcome);
        }
    }
    drop(load);
    println!(
        "\n==================== winjob soak: {} run(s){} ====================",
        options.runs,
        if options.load {
            ", one busy loop per core beside them"
        } else {
            ""
        }
    );
    if failed.is_empty() {
        println!("no test failed in any run");
    }
    for (test, runs) in &failed {
        println!(
            "FAILED in {} of {} run(s) ({runs:?}): {test}",
            runs.len(),
            options.runs
        );
    }
    println!("took {:.0?}", started.elapsed());
    tally.close();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} test(s) failed at least once", failed.len()))
    }
}
