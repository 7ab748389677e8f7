//! `cargo xtask bench`: what a job costs, against what a program would do
//! without one. Run natively on Linux and, cross-compiled, on Windows under
//! Wine; `xtask/src/bench.rs` merges both runs into `target/bench/results.json`
//! and prints one table (this binary renders it: `jobs --table FILE`).
//!
//! # Method
//!
//! Every figure is a set of samples, each timed with `Instant` around one
//! operation, reported as median, min and max (and p99 where said). Every
//! comparison is made in the same run with A and B **alternating**
//! (`A B A B …`), after a few untimed warm-up rounds. A spawn ratio is the
//! median of the pairs' ratios `B[i] / A[i]` (the two spawns of a pair ran
//! side by side, so a drift over the series divides out; the ratio of the
//! medians is in the results too); other ratios are `median(B) / median(A)`.
//! Nothing here fails on a timing: the bench fails
//! only if something does not work (a spawn fails, a tree is not killed by
//! the job, an event never comes). A comparison method that does not work
//! is reported as failed, with why.
//!
//! 1. **Spawn + wait** of `winjob-testbin exit 0`. Each B has its own series
//!    of pairs against A = `std::process::Command` spawn + `wait` (one series
//!    per B, so that the work of one B, such as creating and removing a job
//!    per spawn, never lands between the samples of another): winjob's own
//!    `Command::spawn_in` one long-lived job + `wait`; `Job::spawn` of a std
//!    `Command` into one long-lived job + `wait`; `Job::new` + `Job::spawn` + `wait` +
//!    drop (a job per spawn); on Windows also process-wrap's `JobObject`
//!    wrapper (a job per spawn: `CREATE_SUSPENDED`, assign, resume through a
//!    Toolhelp thread snapshot; the drop, which closes the job, is timed) and
//!    win32job's spawn-then-assign into one long-lived job (racy: the child
//!    runs before it is assigned; assignments that fail because the child
//!    already exited are counted). Back-to-back, and sporadic (50 ms of sleep
//!    before each spawn). On Linux the write of a pid to `cgroup.procs` is
//!    also timed on its own, after 50 ms without a migration and right after
//!    another write (moving sleeping processes into a scratch job): that is
//!    the migration a child makes of itself between fork and exec in
//!    `Job::spawn`, measured as the cause of the sporadic cost. And on Linux
//!    the same comparisons (winjob's `Command` and `Job::spawn` against std)
//!    while this process holds 0, 1, 4 and 8 GiB of touched memory (sizes
//!    that do not fit with 2 GiB to spare are skipped), back-to-back and, at
//!    4 GiB, sporadic: a `fork` copies the page tables of that memory.
//! 2. **Kill a tree** of N processes (`tree 1 N-1`: a root and N-1
//!    children; every process has printed its pid, and the tree has run 20
//!    ms more, before the clock starts), from the kill call until the tree is
//!    confirmed gone. Every tree is spawned into a job, so that the same
//!    confirmation, `Job::wait` (cgroup `populated 0`, or `ActiveProcesses` 0
//!    on Windows), ends every method, and the ratios compare the kill
//!    mechanisms alone. The 20 ms matter on Linux: cgroup v2 sends at most
//!    one `cgroup.events` notification per 10 ms, so a kill within 10 ms of
//!    the first member's start would time that limit (figure 4 C shows it).
//!    Methods, alternating per trial: `Job::terminate` (A: `cgroup.kill`,
//!    `TerminateJobObject`); on Linux `kill(-pgid, SIGKILL)` of a tree
//!    started in its own process group, and a tree walk (every
//!    `/proc/PID/task/TID/children` from the root down, then `SIGKILL` to
//!    each pid found); on Windows `taskkill /T /F /PID root` where `taskkill`
//!    has `/T` (Wine 8.0's has not: skipped, with its usage line), and a
//!    tree walk with the tools at hand, since this crate has no `unsafe` for
//!    Toolhelp: a `wmic` process snapshot, then one `taskkill /F /PID …`
//!    (their start-up is part of the time). A snapshot's parent pids can be
//!    stale (Wine reuses pids at once); `taskkill /T` rules those out by
//!    creation time, which Wine's WMI does not give, so processes already
//!    running before the root started are ruled out instead, and a walk that
//!    still finds more processes than the tree has kills none. Windows has no
//!    process-group kill. A size whose trees would not fit in memory or in
//!    the time budget (Wine costs MBs and tens of ms per process) is skipped,
//!    judged by what the previous size cost per process (host memory from
//!    `/proc/meminfo`, under Wine through drive Z:).
//! 3. **Accounting**: each `Job::accounting_into` call timed alone, for a job
//!    with a live member; the allocations are counted over all calls by a
//!    counting global allocator (`stats_alloc`, so this file needs no
//!    `unsafe`), with no other thread of this process active. The library
//!    promises 0.
//! 4. **Event latency**: spawn `exit 0` into a job whose events are watched,
//!    A, B and C alternating. A: spawn, then the child's `wait`. B: spawn,
//!    hand the child to a waiter thread blocked in its `wait`, and take the
//!    time the `ExitProcess` event for that pid is received. C: spawn, then
//!    `Job::wait` until the job is empty. The exit itself cannot be seen, so
//!    "exit → event" is the time from the waiter's `wait` returning to the
//!    event arriving: the event path's delay *beyond* `wait`'s (negative when
//!    the event comes first).
//! 5. **Member list**: `Job::pids` of the job of each tree of 2 (the first
//!    trial), before the kill; the largest is the figure.
//!
//! 6. **Many watched jobs**: N jobs alive (10, 100, 1 000, 10 000; 10 and
//!    100 under Wine), each with `events()`; at each size, one more job is
//!    created, watched and dropped, timed per step, with the process's
//!    threads and descriptors. The per-job cost is compared with the first
//!    size's in the same run. Then, with 1 000 of them still watched, a fork
//!    storm of 10 000 `/bin/true` from one shell in a job nobody watches: the
//!    event engine's CPU time (`/proc/self/task/*/schedstat` of its thread)
//!    against the storm's own (the reaped shell's and its children's,
//!    `cutime` + `cstime` of `/proc/self/stat`). Linux only for the
//!    storm. The bench raises its descriptor limit as far as it may.
//!
//! Under Wine every count is smaller (process creation there costs tens of
//! ms), and the counts used are in the results. Wine's transient
//! `ERROR_INTERNAL_ERROR` (1359) from `CreateProcess` is retried and counted.
//!
//! Settings (environment): `WINJOB_BENCH_OUT` (write the results as JSON
//! there), `WINJOB_BENCH_PAIRS`, `WINJOB_BENCH_SPORADIC`,
//! `WINJOB_BENCH_TREES` (sizes, comma-separated), `WINJOB_BENCH_TRIALS`,
//! `WINJOB_BENCH_EVENTS`, `WINJOB_BENCH_CLI` (rounds of the `winjob run`
//! comparison), `WINJOB_BENCH_ONLY=spawn` (the spawn series and the command),
//! `WINJOB_BENCH_ONLY=many` (section 6 alone), `WINJOB_BENCH_MANY` (sizes),
//! `WINJOB_BENCH_MANY_ROUNDS`, `WINJOB_BENCH_STORM`, `WINJOB_BENCH_STORM_JOBS`
//! (to shorten a run while working on it).

use std::alloc::System;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use winjob::{Event, Job};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The helper program, built from `src/main.rs`.
const HELPER: &str = env!("CARGO_BIN_EXE_winjob-testbin");

/// Sleep before each spawn of the sporadic series.
const SPORADIC_GAP: Duration = Duration::from_millis(50);

/// Wine's transient `ERROR_INTERNAL_ERROR` from `CreateProcess`.
const ERROR_INTERNAL_ERROR: i32 = 1359;

/// How many of Wine's transient spawn errors were retried.
static RETRIES: AtomicUsize = AtomicUsize::new(0);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` adds `--bench`; `--table FILE` renders merged results.
    if let Some(i) = args.iter().position(|a| a == "--table") {
        let Some(path) = args.get(i + 1) else {
            eprintln!("jobs: --table needs a file");
            return ExitCode::from(2);
        };
        return match render_file(path) {
            Ok(table) => {
                print!("{table}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("jobs: cannot render {path}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match bench() {
        Ok(results) => {
            let text = serde_json::to_string_pretty(&results).unwrap_or_default();
            if let Some(out) = std::env::var_os("WINJOB_BENCH_OUT") {
                if let Err(e) = std::fs::write(&out, &text) {
                    eprintln!("jobs: cannot write {}: {e}", out.to_string_lossy());
                    return ExitCode::FAILURE;
                }
                eprintln!("jobs: results written to {}", out.to_string_lossy());
            }
            let column = column_title(&results);
            print!(
                "{}",
                render(&json!({}), &[(column, results)], "this run only")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("jobs: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How many samples of each kind, chosen per platform and overridable.
#[derive(Debug)]
struct Config {
    wine: bool,
    pairs: usize,
    sporadic: usize,
    trees: Vec<usize>,
    trials: Option<usize>,
    events: usize,
    /// Pairs per series while this process holds memory (Linux only).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    memory_pairs: usize,
    accounting_calls: usize,
    pids_calls: usize,
    /// Rounds of the `winjob run` comparison.
    cli_rounds: usize,
    /// Sizes of the many-jobs series (jobs alive, each watched).
    many: Vec<usize>,
    /// Create + watch + drop rounds at each size.
    many_rounds: usize,
    /// Processes of the fork storm, and how many watched jobs see it.
    storm: usize,
    storm_jobs: usize,
}

impl Config {
    fn from_env() -> Config {
        let wine = under_wine();
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        let trees = std::env::var("WINJOB_BENCH_TREES")
            .ok()
            .map(|v| {
                v.split(',')
                    .filter_map(|s| s.trim().parse().ok())
                    .filter(|n| *n >= 2)
                    .collect()
            })
            .unwrap_or_else(|| vec![10, 100, 1000]);
        Config {
            wine,
            pairs: number("WINJOB_BENCH_PAIRS", if wine { 200 } else { 500 }),
            sporadic: number("WINJOB_BENCH_SPORADIC", 50),
            trees,
            trials: std::env::var("WINJOB_BENCH_TRIALS")
                .ok()
                .and_then(|v| v.trim().parse().ok()),
            events: number("WINJOB_BENCH_EVENTS", if wine { 60 } else { 300 }),
            memory_pairs: number("WINJOB_BENCH_MEMORY_PAIRS", 100),
            accounting_calls: if wine { 2000 } else { 5000 },
            pids_calls: if wine { 30 } else { 200 },
            cli_rounds: number("WINJOB_BENCH_CLI", if wine { 40 } else { 200 }),
            many: std::env::var("WINJOB_BENCH_MANY")
                .ok()
                .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
                .unwrap_or_else(|| {
                    if wine {
                        vec![10, 100]
                    } else {
                        vec![10, 100, 1000, 10_000]
                    }
                }),
            many_rounds: number("WINJOB_BENCH_MANY_ROUNDS", if wine { 50 } else { 300 }),
            storm: number("WINJOB_BENCH_STORM", 10_000),
            storm_jobs: number("WINJOB_BENCH_STORM_JOBS", 1000),
        }
    }

    /// Trials per tree size: fewer for big trees, and under Wine.
    fn trials(&self, size: usize) -> usize {
        if let Some(t) = self.trials {
            return t.max(1);
        }
        match (self.wine, size) {
            (false, ..=10) => 20,
            (false, ..=100) => 15,
            (false, _) => 10,
            (true, ..=10) => 8,
            (true, ..=100) => 4,
            (true, _) => 2,
        }
    }
}

/// True under Wine: the harness sets `WINJOB_UNDER_WINE=1`, and the library
/// notices Wine by itself too.
fn under_wine() -> bool {
    std::env::var_os("WINJOB_UNDER_WINE").is_some_and(|v| v == "1")
        || (cfg!(windows)
            && winjob::capabilities().is_ok_and(|caps| caps.reason.contains("under Wine")))
}

fn bench() -> io::Result<Value> {
    let config = Config::from_env();
    let caps = winjob::capabilities()?;
    eprintln!(
        "jobs: {} in mode {} ({config:?})",
        std::env::consts::OS,
        caps.mode
    );
    let started = Instant::now();
    // First, while no other thread of this process runs: the allocation count
    // is process-wide.
    let only = std::env::var("WINJOB_BENCH_ONLY").unwrap_or_default();
    if only == "many" {
        return Ok(json!({
            "platform": std::env::consts::OS,
            "under_wine": config.wine,
            "mode": caps.mode.as_str(),
            "mode_reason": caps.reason,
            "many": many_jobs(&config)?,
            "seconds": started.elapsed().as_secs(),
        }));
    }
    let only_spawn = only == "spawn";
    // The parts other than the spawn series, unless those are all that is asked.
    let unless_only_spawn = |measure: fn(&Config) -> io::Result<Value>| {
        if only_spawn {
            Ok(json!({ "skipped": "WINJOB_BENCH_ONLY=spawn" }))
        } else {
            measure(&config)
        }
    };
    let accounting = unless_only_spawn(accounting)?;
    let back_to_back = spawn_series(config.pairs, None)?;
    let sporadic = spawn_series(config.sporadic, Some(SPORADIC_GAP))?;
    let cli = cli_overhead(config.cli_rounds)?;
    let parent_memory = unless_only_spawn(parent_memory)?;
    let migration = unless_only_spawn(migration)?;
    let events = unless_only_spawn(event_latency)?;
    let kill = unless_only_spawn(kill_trees)?;
    let many = unless_only_spawn(many_jobs)?;
    Ok(json!({
        "platform": std::env::consts::OS,
        "under_wine": config.wine,
        "mode": caps.mode.as_str(),
        "mode_reason": caps.reason,
        "spawn": { "back_to_back": back_to_back, "sporadic": sporadic },
        "parent_memory": parent_memory,
        "cli": cli,
        "migration": migration,
        "kill": kill,
        "accounting": accounting,
        "events": events,
        "many": many,
        "wine_spawn_retries": RETRIES.load(Ordering::Relaxed),
        "seconds": started.elapsed().as_secs(),
    }))
}

// ---------------------------------------------------------------------------
// Samples and statistics

/// Microseconds, as a float (`Duration` cannot be negative).
fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median, min, max and p99 of samples in microseconds.
fn stats(samples: &[f64]) -> Value {
    if samples.is_empty() {
        return Value::Null;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
    };
    let p99 = sorted[(n * 99).div_ceil(100).max(1) - 1];
    json!({
        "n": n,
        "median_us": median,
        "min_us": sorted[0],
        "max_us": sorted[n - 1],
        "p99_us": p99,
    })
}

fn durations(samples: &[Duration]) -> Value {
    stats(&samples.iter().map(|d| micros(*d)).collect::<Vec<_>>())
}

fn median_of(value: &Value) -> Option<f64> {
    value.get("median_us")?.as_f64()
}

/// The median of the pairs' ratios `b[i] / a[i]`: each pair's two spawns
/// ran next to each other, so a drift of the machine's speed over a series
/// (Wine's server warming up, another process's load) divides out, where
/// the ratio of the two medians keeps it.
fn paired_ratio(a: &[Duration], b: &[Duration]) -> Value {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(a, _)| !a.is_zero())
        .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64())
        .collect();
    stats(&ratios)["median_us"].clone()
}

/// `median(b) / median(a)`.
fn ratio(a: &Value, b: &Value) -> Value {
    match (median_of(a), median_of(b)) {
        (Some(a), Some(b)) if a > 0.0 => json!(b / a),
        _ => Value::Null,
    }
}

// ---------------------------------------------------------------------------
// Processes

fn helper(args: &[&str]) -> Command {
    let mut command = Command::new(HELPER);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

/// The helper as winjob's own `Command`, with the streams of [`helper`].
fn native(args: &[&str]) -> winjob::Command {
    let mut command = winjob::Command::new(HELPER);
    command
        .args(args)
        .stdin(winjob::Stdio::null())
        .stdout(winjob::Stdio::null());
    command
}

/// Runs `op`, again while it fails with Wine's transient error 1359.
fn retrying<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if cfg!(windows) && e.raw_os_error() == Some(ERROR_INTERNAL_ERROR) => {
                tries += 1;
                RETRIES.fetch_add(1, Ordering::Relaxed);
                if tries > 10 {
                    return Err(e);
                }
                thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn succeeded(status: ExitStatus, what: &str) -> io::Result<()> {
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: the helper ended with {status}"
        )))
    }
}

/// The lines a child prints, read by a thread, so that waiting for them can
/// time out while the members of a tree hold the pipe open.
struct Lines {
    receiver: mpsc::Receiver<String>,
}

impl Lines {
    fn of(child: &mut Child) -> io::Result<Lines> {
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("stdout is not piped"))?;
        Ok(Lines::new(stdout))
    }

    fn new(reader: impl Read + Send + 'static) -> Lines {
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

    /// `count` pids from `pid N` lines, within `timeout`.
    fn pids(&self, count: usize, timeout: Duration) -> io::Result<Vec<u32>> {
        let deadline = Instant::now() + timeout;
        let mut pids = Vec::with_capacity(count);
        while pids.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.receiver.recv_timeout(left).map_err(|_| {
                io::Error::other(format!(
                    "only {} of {count} processes of the tree started within {timeout:?}",
                    pids.len()
                ))
            })?;
            if let Some(pid) = line
                .strip_prefix("pid ")
                .and_then(|p| p.trim().parse().ok())
            {
                pids.push(pid);
            }
        }
        Ok(pids)
    }
}

// ---------------------------------------------------------------------------
// 1. Spawn + wait

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Plain,
    Native,
    Winjob,
    WinjobNewJob,
    #[cfg(windows)]
    ProcessWrap,
    #[cfg(windows)]
    Win32job,
}

impl Variant {
    fn all() -> Vec<Variant> {
        #[allow(unused_mut)]
        let mut all = vec![
            Variant::Plain,
            Variant::Native,
            Variant::Winjob,
            Variant::WinjobNewJob,
        ];
        #[cfg(windows)]
        all.extend([Variant::ProcessWrap, Variant::Win32job]);
        all
    }

    fn key(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Native => "native",
            Variant::Winjob => "winjob",
            Variant::WinjobNewJob => "winjob_new_job",
            #[cfg(windows)]
            Variant::ProcessWrap => "process_wrap",
            #[cfg(windows)]
            Variant::Win32job => "win32job",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Plain => "std Command::spawn + wait",
            Variant::Native => "winjob Command::spawn_in one job + wait",
            Variant::Winjob => "Job::spawn(std Command) into one job + wait",
            Variant::WinjobNewJob => "Job::new + Job::spawn + wait + drop",
            #[cfg(windows)]
            Variant::ProcessWrap => "process-wrap 10 JobObject (job per spawn) + wait + drop",
            #[cfg(windows)]
            Variant::Win32job => "win32job 2: spawn, then assign_process + wait",
        }
    }
}

/// What the spawn variants share: the long-lived jobs.
struct SpawnJobs {
    winjob: Job,
    #[cfg(windows)]
    win32job: win32job::Job,
    /// win32job assignments that failed (the child had already exited).
    #[cfg(windows)]
    assign_failures: usize,
}

fn spawn_once(variant: Variant, jobs: &mut SpawnJobs) -> io::Result<Duration> {
    let what = variant.label();
    retrying(|| {
        let started = Instant::now();
        match variant {
            Variant::Plain => {
                let status = helper(&["exit", "0"]).spawn()?.wait()?;
                let elapsed = started.elapsed();
                succeeded(status, what)?;
                Ok(elapsed)
            }
            Variant::Native => {
                let status = native(&["exit", "0"]).spawn_in(&jobs.winjob)?.wait()?;
                let elapsed = started.elapsed();
                succeeded(status, what)?;
                Ok(elapsed)
            }
            Variant::Winjob => {
                let status = jobs.winjob.spawn(&mut helper(&["exit", "0"]))?.wait()?;
                let elapsed = started.elapsed();
                succeeded(status, what)?;
                Ok(elapsed)
            }
            Variant::WinjobNewJob => {
                let job = Job::new()?;
                let status = job.spawn(&mut helper(&["exit", "0"]))?.wait()?;
                drop(job);
                let elapsed = started.elapsed();
                succeeded(status, what)?;
                Ok(elapsed)
            }
            #[cfg(windows)]
            Variant::ProcessWrap => {
                use process_wrap::std::{CommandWrap, JobObject};
                let mut child = CommandWrap::from(helper(&["exit", "0"]))
                    .wrap(JobObject)
                    .spawn()?;
                let status = child.wait()?;
                drop(child);
                let elapsed = started.elapsed();
                succeeded(status, what)?;
                Ok(elapsed)
            }
            #[cfg(windows)]
            Variant::Win32job => {
                use std::os::windows::io::AsRawHandle;
                let mut child = helper(&["exit", "0"]).spawn()?;
                let assigned = jobs.win32job.assign_process(child.as_raw_handle() as isize);
                let status = child.wait()?;
                let elapsed = started.elapsed();
                if assigned.is_err() {
                    jobs.assign_failures += 1;
                }
                succeeded(status, what)?;
                Ok(elapsed)
            }
        }
    })
}

/// For each variant B, its own series of `rounds` pairs, plain spawn (A) and
/// B alternating (A B A B …), after three untimed pairs; `gap` is slept before
/// every spawn. Separate series keep one variant's work (a job created and
/// removed per spawn) out of another's samples.
fn spawn_series(rounds: usize, gap: Option<Duration>) -> io::Result<Value> {
    spawn_series_of(&Variant::all()[1..], rounds, gap)
}

/// [`spawn_series`] for the given variants B.
fn spawn_series_of(
    variants: &[Variant],
    rounds: usize,
    gap: Option<Duration>,
) -> io::Result<Value> {
    let mut jobs = SpawnJobs {
        winjob: Job::new()?,
        #[cfg(windows)]
        win32job: win32job::Job::create()
            .map_err(|e| io::Error::other(format!("win32job::Job::create: {e}")))?,
        #[cfg(windows)]
        assign_failures: 0,
    };
    let started = Instant::now();
    let mut comparisons = Vec::new();
    for &variant in variants {
        let (mut a, mut b) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
        for round in 0..rounds + 3 {
            for (v, samples) in [(Variant::Plain, &mut a), (variant, &mut b)] {
                if let Some(gap) = gap {
                    thread::sleep(gap);
                }
                let elapsed = spawn_once(v, &mut jobs)?;
                if round >= 3 {
                    samples.push(elapsed);
                }
            }
        }
        let paired = paired_ratio(&a, &b);
        let (a, b) = (durations(&a), durations(&b));
        comparisons.push(json!({
            "key": variant.key(),
            "label": variant.label(),
            "ratio_of_medians": ratio(&a, &b),
            "a": a,
            "b": b,
            "ratio": paired,
        }));
    }
    #[allow(unused_mut)]
    let mut notes: Vec<String> = Vec::new();
    #[cfg(windows)]
    if jobs.assign_failures > 0 {
        notes.push(format!(
            "win32job: {} of {} assignments failed because the child had already exited \
             (the race of assigning after spawning)",
            jobs.assign_failures,
            rounds + 3
        ));
    }
    eprintln!(
        "jobs: spawn ({} pairs per comparison{}) took {:.1?}",
        rounds,
        if gap.is_some() { ", sporadic" } else { "" },
        started.elapsed()
    );
    Ok(json!({
        "rounds": rounds,
        "gap_ms": gap.map_or(0, |g| g.as_millis()),
        "a": Variant::Plain.label(),
        "comparisons": comparisons,
        "notes": notes,
    }))
}

// ---------------------------------------------------------------------------
// 1d. The `winjob` command as a wrapper

/// The `winjob` command of this build, beside the helper (xtask builds it
/// before the bench), if it is there.
fn winjob_command() -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(HELPER)
        .with_file_name(format!("winjob{}", std::env::consts::EXE_SUFFIX));
    path.exists().then_some(path)
}

/// `winjob run -q -- P` against P itself and, on Linux, against the
/// wrappers it stands in for, `timeout 10 P` and `/usr/bin/time P`, all
/// alternating; P is `true` on Linux, the helper's `exit 0` under Wine.
fn cli_overhead(rounds: usize) -> io::Result<Value> {
    let Some(winjob) = winjob_command() else {
        return Ok(json!({
            "skipped": "no winjob command beside the helper: `cargo xtask bench` builds it"
        }));
    };
    let program: Vec<String> = if cfg!(windows) {
        vec![HELPER.to_owned(), "exit".into(), "0".into()]
    } else {
        vec!["true".into()]
    };
    let mut with_winjob = vec![
        winjob.to_string_lossy().into_owned(),
        "run".into(),
        "-q".into(),
        "--".into(),
    ];
    with_winjob.extend(program.iter().cloned());
    let mut variants: Vec<(&str, &str, Vec<String>)> = vec![
        ("plain", "P alone", program.clone()),
        ("winjob", "winjob run -q -- P", with_winjob),
    ];
    if !cfg!(windows) {
        for (key, label, wrapper) in [
            ("timeout", "timeout 10 P", &["timeout", "10"][..]),
            ("time", "/usr/bin/time P", &["/usr/bin/time"][..]),
        ] {
            let found = Command::new(wrapper[0])
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok();
            if found {
                let mut v: Vec<String> = wrapper.iter().map(|w| (*w).to_owned()).collect();
                v.extend(program.iter().cloned());
                variants.push((key, label, v));
            }
        }
    }
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); variants.len()];
    for round in 0..rounds + 3 {
        for (i, (_, _, argv)) in variants.iter().enumerate() {
            let elapsed = retrying(|| {
                let started = Instant::now();
                let status = Command::new(&argv[0])
                    .args(&argv[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()?;
                let elapsed = started.elapsed();
                succeeded(status, &argv.join(" "))?;
                Ok(elapsed)
            })?;
            if round >= 3 {
                samples[i].push(elapsed);
            }
        }
    }
    let index = |key: &str| variants.iter().position(|(k, _, _)| *k == key);
    let mut out = serde_json::Map::new();
    out.insert("rounds".into(), json!(rounds));
    for (i, (key, label, _)) in variants.iter().enumerate() {
        out.insert(
            (*key).to_owned(),
            json!({ "label": label, "stats": durations(&samples[i]) }),
        );
    }
    let winjob = index("winjob").map(|i| &samples[i]);
    for (against, name) in [("plain", "ratio_plain"), ("timeout", "ratio_timeout")] {
        if let (Some(w), Some(a)) = (winjob, index(against).map(|i| &samples[i])) {
            out.insert(name.into(), paired_ratio(a, w));
        }
    }
    Ok(Value::Object(out))
}

// ---------------------------------------------------------------------------
// 1c. Spawn cost against the size of the calling process

/// Sizes of touched memory the bench process holds while it spawns, GiB.
const PARENT_GIB: [usize; 4] = [0, 1, 4, 8];

/// For each size in [`PARENT_GIB`] that fits in memory (2 GiB left over),
/// this process allocates and touches that much, then runs the series of
/// winjob's `Command` and of `Job::spawn` with a std `Command` against std's
/// own spawn, back-to-back; at 4 GiB also sporadic. A `fork` copies the
/// page tables of the touched memory, a `vfork`-style spawn does not: this
/// is where they differ. Linux only (Windows has no `fork`).
#[cfg(target_os = "linux")]
fn parent_memory(config: &Config) -> io::Result<Value> {
    let mut sizes = Vec::new();
    for gib in PARENT_GIB {
        let bytes = gib << 30;
        if let Some(available) = mem_available()
            && u64::try_from(bytes + (2 << 30)).unwrap_or(u64::MAX) > available
        {
            sizes.push(json!({
                "gib": gib,
                "skipped": format!(
                    "{gib} GiB does not fit: {} MiB available",
                    available >> 20
                ),
            }));
            continue;
        }
        let started = Instant::now();
        // Touch every page, so that a fork has page tables to copy.
        let mut held = vec![0u8; bytes];
        for page in held.chunks_mut(4096) {
            page[0] = 1;
        }
        let rounds = if gib == 0 {
            config.pairs.min(200)
        } else {
            config.memory_pairs
        };
        let back_to_back = spawn_series_of(&[Variant::Native, Variant::Winjob], rounds, None)?;
        let sporadic = if gib == 4 {
            spawn_series_of(
                &[Variant::Native, Variant::Winjob],
                config.memory_pairs.min(config.sporadic),
                Some(SPORADIC_GAP),
            )?
        } else {
            Value::Null
        };
        std::hint::black_box(&held);
        drop(held);
        eprintln!(
            "jobs: spawns with {gib} GiB held took {:.1?}",
            started.elapsed()
        );
        sizes.push(json!({
            "gib": gib,
            "back_to_back": back_to_back,
            "sporadic": sporadic,
        }));
    }
    Ok(json!({ "sizes": sizes }))
}

#[cfg(not(target_os = "linux"))]
fn parent_memory(_config: &Config) -> io::Result<Value> {
    Ok(json!({ "skipped": "Windows has no fork: the caller's size does not change a spawn" }))
}

// ---------------------------------------------------------------------------
// 1b. The cause of the sporadic cost on Linux: the cgroup migration

#[cfg(target_os = "linux")]
fn migration(config: &Config) -> io::Result<Value> {
    use std::io::Write as _;
    use winjob::os::linux::JobExt;

    let job = Job::new()?;
    let Some(dir) = job.cgroup_path().map(std::path::Path::to_path_buf) else {
        return Ok(json!({ "skipped": format!("mode {}: no cgroup to migrate into", job.mode()) }));
    };
    let mount = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .find(|l| l.split(' ').nth(2) == Some("cgroup2"))
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {}", f.get(1).unwrap_or(&"?"), f.get(3).unwrap_or(&"?"))
        })
        .unwrap_or_default();
    let mut procs = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))?;
    let rounds = config.sporadic;
    let (mut idle, mut busy) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut first = helper(&["sleep", "60"]).spawn()?;
        let mut second = helper(&["sleep", "60"]).spawn()?;
        let (a, b) = (first.id().to_string(), second.id().to_string());
        thread::sleep(SPORADIC_GAP);
        let t = Instant::now();
        procs.write_all(a.as_bytes())?;
        idle.push(t.elapsed());
        let t = Instant::now();
        procs.write_all(b.as_bytes())?;
        busy.push(t.elapsed());
        job.terminate(1)?;
        if !job.wait_timeout(Duration::from_secs(10))? {
            return Err(io::Error::other("the scratch job did not empty"));
        }
        first.wait()?;
        second.wait()?;
    }
    Ok(json!({
        "rounds": rounds,
        "after_idle": durations(&idle),
        "after_write": durations(&busy),
        "cgroup2_mount": mount,
        "method": "a sleeping process (started outside the job) moved by writing its pid \
                   to the job's cgroup.procs: once after 50 ms without a migration, then at \
                   once another one",
    }))
}

#[cfg(not(target_os = "linux"))]
fn migration(_config: &Config) -> io::Result<Value> {
    Ok(json!({ "skipped": "Linux only" }))
}

// ---------------------------------------------------------------------------
// 2 and 5. Kill a tree; list its members

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    Job,
    #[cfg(target_os = "linux")]
    Killpg,
    #[cfg(target_os = "linux")]
    ProcWalk,
    #[cfg(windows)]
    TaskkillTree,
    #[cfg(windows)]
    WmicWalk,
}

impl Kill {
    /// The methods this platform can run, and those it cannot, with why.
    fn all() -> (Vec<Kill>, Vec<Value>) {
        #[cfg(target_os = "linux")]
        return (vec![Kill::Job, Kill::Killpg, Kill::ProcWalk], Vec::new());
        #[cfg(windows)]
        {
            let mut absent = vec![json!({
                "key": "killpg",
                "label": "kill(-pgid, SIGKILL)",
                "skipped": "Windows has no process-group kill (a console process group only \
                            gets CTRL_BREAK, which a program may ignore)",
            })];
            let mut methods = vec![Kill::Job];
            match taskkill_tree_support() {
                Ok(()) => methods.push(Kill::TaskkillTree),
                Err(why) => absent.push(json!({
                    "key": "taskkill_tree",
                    "label": Kill::TaskkillTree.label(),
                    "skipped": why,
                })),
            }
            methods.push(Kill::WmicWalk);
            (methods, absent)
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        return (vec![Kill::Job], Vec::new());
    }

    fn key(self) -> &'static str {
        match self {
            Kill::Job => "winjob",
            #[cfg(target_os = "linux")]
            Kill::Killpg => "killpg",
            #[cfg(target_os = "linux")]
            Kill::ProcWalk => "tree_walk",
            #[cfg(windows)]
            Kill::TaskkillTree => "taskkill_tree",
            #[cfg(windows)]
            Kill::WmicWalk => "tree_walk",
        }
    }

    fn label(self) -> &'static str {
        match self {
            #[cfg(target_os = "linux")]
            Kill::Job => "Job::terminate: cgroup.kill",
            #[cfg(not(target_os = "linux"))]
            Kill::Job => "Job::terminate: TerminateJobObject",
            #[cfg(target_os = "linux")]
            Kill::Killpg => "kill(-pgid, SIGKILL) of a tree started in its own process group",
            #[cfg(target_os = "linux")]
            Kill::ProcWalk => {
                "tree walk: read /proc/PID/task/TID/children from the root down, then \
                 kill(pid, SIGKILL) each"
            }
            #[cfg(windows)]
            Kill::TaskkillTree => "taskkill /T /F /PID root",
            #[cfg(windows)]
            Kill::WmicWalk => {
                "tree walk: a process snapshot from `wmic process get \
                 parentprocessid,processid`, then one `taskkill /F /PID a /PID b ...` \
                 (the start-up of both programs is part of the time; processes already \
                 running before the root started are ruled out, as taskkill /T does by \
                 creation time, since Wine's WMI has no CreationDate and Wine reuses pids)"
            }
        }
    }
}

/// Whether this `taskkill` has `/T` (Wine 8.0's has not); `taskkill /?`
/// lists the options.
#[cfg(windows)]
fn taskkill_tree_support() -> Result<(), String> {
    let output = Command::new("taskkill")
        .arg("/?")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run taskkill: {e}"))?;
    let mut usage = decode(&output.stdout);
    usage.push_str(&decode(&output.stderr));
    if usage.to_ascii_lowercase().contains("/t") {
        Ok(())
    } else {
        let line = usage
            .lines()
            .find(|l| l.to_ascii_lowercase().contains("usage"))
            .unwrap_or("")
            .trim()
            .to_owned();
        Err(format!(
            "this taskkill has no /T option (`taskkill /?`: {line:?})"
        ))
    }
}

/// The text of a Windows program's output: UTF-16 with a byte-order mark
/// (`wmic`), else UTF-8.
#[cfg(windows)]
fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// A process snapshot from `wmic`: (parent pid, pid) of every process.
#[cfg(windows)]
fn wmic_snapshot() -> io::Result<Vec<(u32, u32)>> {
    let output = Command::new("wmic")
        .args(["process", "get", "parentprocessid,processid"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    let text = decode(&output.stdout);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    // The columns come in the order of their names in the header (Wine's
    // header has no space between them: "ParentProcessIDProcessID").
    let header = lines.next().unwrap_or("").to_ascii_lowercase();
    let parent_at = header.find("parentprocessid");
    let pid_at = header
        .replacen("parentprocessid", &" ".repeat(15), 1)
        .find("processid");
    let (parent_at, pid_at) = match (parent_at, pid_at) {
        (Some(p), Some(q)) if p < q => (0, 1),
        (Some(_), Some(_)) => (1, 0),
        _ => {
            return Err(io::Error::other(format!(
                "unexpected wmic output: {:?}",
                text.lines().next()
            )));
        }
    };
    Ok(lines
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            Some((
                fields.get(parent_at)?.parse().ok()?,
                fields.get(pid_at)?.parse().ok()?,
            ))
        })
        .collect())
}

/// Takes a process snapshot with `wmic`, finds the tree under `root`, and
/// kills it with one `taskkill /F /PID …`; returns how many were found.
/// If that is more than `expected`, nothing is killed.
///
/// A parent pid in a snapshot may be stale: the parent exited and its pid
/// now belongs to another process (Wine reuses small pids at once), so a
/// naive walk also "finds" unrelated processes. `taskkill /T` rules them out
/// by creation time; Wine's WMI has no `CreationDate`, so the processes in
/// `older`, which ran before the root started, are ruled out instead.
#[cfg(windows)]
fn wmic_walk_and_kill(root: u32, older: &[u32], expected: usize) -> io::Result<usize> {
    let pairs = wmic_snapshot()?;
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        next += 1;
        for (p, pid) in &pairs {
            if *p == parent && *pid != parent && !found.contains(pid) && !older.contains(pid) {
                found.push(*pid);
            }
        }
    }
    if found.len() > expected {
        // Stale parent pids led the walk out of the tree: kill nothing, so
        // that no unrelated process (Wine's own services) dies of the bench.
        return Ok(found.len());
    }
    let mut taskkill = Command::new("taskkill");
    taskkill.arg("/F");
    for pid in &found {
        taskkill.arg("/PID").arg(pid.to_string());
    }
    taskkill
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    Ok(found.len())
}

/// What one tree kill measured.
struct KillSample {
    elapsed: Duration,
    /// The tree was not gone within the timeout: why (methods other than
    /// the job's own may fail; that is reported, not fatal).
    failed: Option<String>,
}

/// Host memory available, in bytes, from `/proc/meminfo` (under Wine, the
/// host's, through drive Z:).
fn mem_available() -> Option<u64> {
    let path = if cfg!(windows) {
        r"Z:\proc\meminfo"
    } else {
        "/proc/meminfo"
    };
    let text = std::fs::read_to_string(path).ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// What building the previous tree cost, per process.
#[derive(Debug, Clone, Copy)]
struct TreeCost {
    bytes_per_process: Option<u64>,
    build_per_process: Duration,
}

/// How long a tree runs, after its last process started, before the kill.
const SETTLE: Duration = Duration::from_millis(20);

/// Longest a tree may take to build, and memory that must stay free.
const BUILD_BUDGET: Duration = Duration::from_secs(150);
const MEMORY_RESERVE: u64 = 4 << 30;

fn kill_trees(config: &Config) -> io::Result<Value> {
    let (methods, absent) = Kill::all();
    let mut sizes = Vec::new();
    let mut skipped_sizes = Vec::new();
    let mut cost: Option<TreeCost> = None;
    for &size in &config.trees {
        let trials = config.trials(size);
        if let Some(reason) = cost.and_then(|c| too_big(size, trials * methods.len(), c)) {
            eprintln!("jobs: tree of {size}: skipped: {reason}");
            skipped_sizes.push(json!({ "size": size, "reason": reason }));
            continue;
        }
        let started = Instant::now();
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); methods.len()];
        let mut failures: Vec<Option<String>> = vec![None; methods.len()];
        let mut pids_times = Vec::new();
        let mut builds = Vec::new();
        let mut measured: Option<TreeCost> = None;
        for trial in 0..trials {
            for (i, method) in methods.iter().enumerate() {
                let list = trial == 0 && *method == Kill::Job;
                let (sample, build, tree_cost) = kill_once(
                    size,
                    *method,
                    list.then_some(config.pids_calls),
                    &mut pids_times,
                )?;
                builds.push(build);
                if tree_cost.is_some() && measured.is_none() {
                    measured = tree_cost;
                }
                match sample.failed {
                    None => samples[i].push(sample.elapsed),
                    Some(why) => {
                        failures[i].get_or_insert(why);
                    }
                }
            }
        }
        if measured.is_some() {
            cost = measured;
        }
        let job = durations(&samples[0]);
        let list: Vec<Value> = methods
            .iter()
            .zip(samples.iter().zip(&failures))
            .map(|(method, (samples, failure))| {
                let s = durations(samples);
                json!({
                    "key": method.key(),
                    "label": method.label(),
                    "stats": s,
                    "ratio_to_job": ratio(&job, &s),
                    "failed": failure,
                    "failed_trials": trials - samples.len(),
                })
            })
            .collect();
        eprintln!(
            "jobs: tree of {size}: {trials} trials took {:.1?}",
            started.elapsed()
        );
        sizes.push(json!({
            "size": size,
            "shape": format!("tree 1 {}: a root and {} children", size - 1, size - 1),
            "trials": trials,
            "build": durations(&builds),
            "per_process": measured.map(|c| json!({
                "memory_bytes": c.bytes_per_process,
                "build_us": micros(c.build_per_process),
            })),
            "methods": list,
            "pids": durations(&pids_times),
        }));
    }
    Ok(json!({
        "sizes": sizes,
        "skipped_sizes": skipped_sizes,
        "absent_methods": absent,
        "confirmation": "Job::wait on the job every tree was spawned into (cgroup populated 0 / \
                         ActiveProcesses 0), for every method",
    }))
}

/// Why a tree of `size` should not be built `builds` times, judging by what
/// the previous tree cost.
fn too_big(size: usize, builds: usize, cost: TreeCost) -> Option<String> {
    let n = u32::try_from(size).unwrap_or(u32::MAX);
    let build = cost.build_per_process * n;
    if build > BUILD_BUDGET {
        return Some(format!(
            "building it would take about {:.0?} ({:.1?} per process measured on the \
             previous size), {builds} times; the budget is {BUILD_BUDGET:?} per tree",
            build, cost.build_per_process
        ));
    }
    if let (Some(per), Some(available)) = (cost.bytes_per_process, mem_available()) {
        let need = per.saturating_mul(size as u64);
        if need.saturating_add(MEMORY_RESERVE) > available {
            return Some(format!(
                "it would need about {} MiB ({} MiB per process, measured on the previous \
                 size) and {} MiB are available, of which {} MiB are kept free",
                need >> 20,
                per >> 20,
                available >> 20,
                MEMORY_RESERVE >> 20
            ));
        }
    }
    None
}

/// Builds a tree of `size` in a new job, kills it with `method`, and waits
/// until the job is empty. With `list`, first times `Job::pids` that many
/// times. Returns the sample, the build time and (for the job's method) the
/// measured cost per process.
fn kill_once(
    size: usize,
    method: Kill,
    list: Option<usize>,
    pids_times: &mut Vec<Duration>,
) -> io::Result<(KillSample, Duration, Option<TreeCost>)> {
    let job = Job::new()?;
    let mut command = helper(&["tree", "1", &(size - 1).to_string(), "600"]);
    command.stdout(Stdio::piped());
    #[cfg(target_os = "linux")]
    if method == Kill::Killpg {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(windows)]
    let older: Vec<u32> = if method == Kill::WmicWalk {
        wmic_snapshot()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, pid)| pid)
            .collect()
    } else {
        Vec::new()
    };
    let memory_before = mem_available();
    let build_started = Instant::now();
    let mut root = retrying(|| job.spawn(&mut command))?;
    let lines = Lines::of(&mut root)?;
    let timeout = Duration::from_secs(60)
        + Duration::from_millis(200) * u32::try_from(size).unwrap_or(u32::MAX);
    let pids = match lines.pids(size, timeout) {
        Ok(pids) => pids,
        Err(e) => {
            let _ = job.terminate(1);
            let _ = job.wait_timeout(Duration::from_secs(30));
            let _ = root.wait();
            return Err(e);
        }
    };
    let build = build_started.elapsed();
    let n = u32::try_from(size).unwrap_or(u32::MAX);
    let tree_cost = (method == Kill::Job).then(|| TreeCost {
        bytes_per_process: memory_before
            .zip(mem_available())
            .map(|(before, after)| before.saturating_sub(after) / size as u64),
        build_per_process: build / n,
    });
    if let Some(calls) = list {
        for _ in 0..calls {
            let t = Instant::now();
            let members = job.pids()?;
            pids_times.push(t.elapsed());
            if members.len() != size {
                return Err(io::Error::other(format!(
                    "Job::pids listed {} processes of a tree of {size}",
                    members.len()
                )));
            }
        }
    }

    // Let the tree run a moment: cgroup v2 sends at most one cgroup.events
    // notification per 10 ms (CGROUP_FILE_NOTIFY_MIN_INTV), so a kill within
    // 10 ms of the job's first process would time that limit, not the kill.
    thread::sleep(SETTLE);
    let started = Instant::now();
    // Only the job's own kill may fail the bench; another method that fails
    // is reported as such.
    let mut failed = match method {
        Kill::Job => {
            job.terminate(1)?;
            None
        }
        #[cfg(target_os = "linux")]
        Kill::Killpg => i32::try_from(root.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| io::Error::other("bad pid"))
            .and_then(|pgid| {
                rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL)
                    .map_err(io::Error::from)
            })
            .err()
            .map(|e| format!("kill(-pgid) failed: {e}")),
        #[cfg(target_os = "linux")]
        Kill::ProcWalk => {
            let found = walk_and_kill(root.id());
            (found != size).then(|| format!("the walk found {found} of {size} processes"))
        }
        #[cfg(windows)]
        Kill::TaskkillTree => match Command::new("taskkill")
            .args(["/T", "/F", "/PID", &root.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => None,
            Ok(status) => Some(format!("taskkill ended with {status}")),
            Err(e) => Some(format!("cannot run taskkill: {e}")),
        },
        #[cfg(windows)]
        Kill::WmicWalk => match wmic_walk_and_kill(root.id(), &older, size) {
            Ok(found) if found == size => None,
            Ok(found) if found > size => Some(format!(
                "the walk found {found} processes in a tree of {size} (stale parent pids), \
                 so it killed none"
            )),
            Ok(found) => Some(format!("the walk found {found} of {size} processes")),
            Err(e) => Some(format!("the walk failed: {e}")),
        },
    };
    let limit = if method == Kill::Job {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(20)
    };
    let empty = job.wait_timeout(limit)?;
    let elapsed = started.elapsed();
    if !empty {
        let left = job.pids().map(|p| p.len()).unwrap_or(0);
        if method == Kill::Job {
            return Err(io::Error::other(format!(
                "Job::terminate left {left} of {size} processes running after {limit:?}"
            )));
        }
        failed = Some(format!(
            "{left} of {size} processes were still running {limit:?} later{}",
            failed.map(|f| format!(" ({f})")).unwrap_or_default()
        ));
        job.terminate(1)?;
        if !job.wait_timeout(Duration::from_secs(120))? {
            return Err(io::Error::other(format!(
                "a tree of {size} was not killed by Job::terminate either"
            )));
        }
    }
    root.wait()?;
    drop(lines);
    check_gone(&pids)?;
    Ok((KillSample { elapsed, failed }, build, tree_cost))
}

/// Walks the tree from `root` through `/proc/PID/task/TID/children`, then
/// sends `SIGKILL` to every process found; returns how many were found.
#[cfg(target_os = "linux")]
fn walk_and_kill(root: u32) -> usize {
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let pid = found[next];
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let mut path = task.path();
            path.push("children");
            let children = std::fs::read_to_string(path).unwrap_or_default();
            found.extend(
                children
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    for pid in &found {
        if let Some(pid) = i32::try_from(*pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    found.len()
}

/// Linux: no process of the tree is still running (gone, or a zombie).
#[cfg(target_os = "linux")]
fn check_gone(pids: &[u32]) -> io::Result<()> {
    let alive: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let state = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().chars().next());
                !matches!(state, Some(Some('Z' | 'X')))
            }) && std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("winjob-testbin"))
        })
        .collect();
    if alive.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "processes of a killed tree still run: {alive:?}"
        )))
    }
}

/// Windows: the job's count said 0, which is the confirmation.
#[cfg(not(target_os = "linux"))]
fn check_gone(_pids: &[u32]) -> io::Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. Accounting

fn accounting(config: &Config) -> io::Result<Value> {
    let job = Job::new()?;
    let mut member = retrying(|| job.spawn(&mut helper(&["sleep", "600"])))?;
    let mut out = winjob::Accounting::default();
    for _ in 0..100 {
        job.accounting_into(&mut out)?;
    }
    let calls = config.accounting_calls;
    let mut times = Vec::with_capacity(calls);
    let region = Region::new(GLOBAL);
    for _ in 0..calls {
        let t = Instant::now();
        job.accounting_into(&mut out)?;
        times.push(t.elapsed());
    }
    let change = region.change();
    job.terminate(1)?;
    member.wait()?;
    let total = change.allocations + change.reallocations;
    Ok(json!({
        "calls": calls,
        "stats": durations(&times),
        "allocations": change.allocations,
        "reallocations": change.reallocations,
        "allocations_per_call": total as f64 / calls as f64,
        "active_processes": out.active_processes,
    }))
}

// ---------------------------------------------------------------------------
// 4. Event latency

fn event_latency(config: &Config) -> io::Result<Value> {
    let job = Job::new()?;
    let events = job.events()?;
    // The waiter: blocked in `wait` for the child it is handed.
    let (to_waiter, waiter_in) = mpsc::channel::<Child>();
    let (waiter_out, from_waiter) = mpsc::channel::<io::Result<(ExitStatus, Instant)>>();
    let waiter = thread::spawn(move || {
        for mut child in waiter_in {
            let result = child.wait().map(|status| (status, Instant::now()));
            if waiter_out.send(result).is_err() {
                break;
            }
        }
    });
    let exit_of = |pid: u32| -> io::Result<Instant> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match events.recv_timeout(left) {
                Some(Event::ExitProcess { pid: p, .. }) if p == pid => return Ok(Instant::now()),
                Some(_) => {}
                None => {
                    return Err(io::Error::other(format!(
                        "no ExitProcess event for pid {pid} within 20 s"
                    )));
                }
            }
        }
    };
    let (mut spawn_wait, mut spawn_event, mut after_wait) = (Vec::new(), Vec::new(), Vec::new());
    let mut spawn_empty = Vec::new();
    for round in 0..config.events + 3 {
        // A: spawn, wait.
        let started = Instant::now();
        let mut child = retrying(|| job.spawn(&mut helper(&["exit", "0"])))?;
        let pid = child.id();
        let status = child.wait()?;
        let a = started.elapsed();
        succeeded(status, "event latency (A)")?;
        exit_of(pid)?; // drained, untimed
        // B: spawn, the waiter waits, the event is awaited here.
        let b_started = Instant::now();
        let child = retrying(|| job.spawn(&mut helper(&["exit", "0"])))?;
        let pid = child.id();
        to_waiter
            .send(child)
            .map_err(|_| io::Error::other("the waiter thread ended"))?;
        let event_at = exit_of(pid)?;
        let (status, waited_at) = from_waiter
            .recv()
            .map_err(|_| io::Error::other("the waiter thread ended"))??;
        succeeded(status, "event latency (B)")?;
        // C: spawn, then Job::wait until the job is empty.
        let c_started = Instant::now();
        let mut child = retrying(|| job.spawn(&mut helper(&["exit", "0"])))?;
        let pid = child.id();
        if !job.wait_timeout(Duration::from_secs(20))? {
            return Err(io::Error::other(
                "Job::wait: a job of one `exit 0` did not empty",
            ));
        }
        let c = c_started.elapsed();
        succeeded(child.wait()?, "event latency (C)")?;
        exit_of(pid)?; // drained, untimed
        if round >= 3 {
            spawn_empty.push(micros(c));
            spawn_wait.push(micros(a));
            spawn_event.push(micros(event_at - b_started));
            after_wait.push(if event_at >= waited_at {
                micros(event_at - waited_at)
            } else {
                -micros(waited_at - event_at)
            });
        }
    }
    drop(to_waiter);
    let _ = waiter.join();
    let a = stats(&spawn_wait);
    let b = stats(&spawn_event);
    let c = stats(&spawn_empty);
    Ok(json!({
        "rounds": config.events,
        "spawn_wait": a,
        "spawn_event": b,
        "ratio": ratio(&a, &b),
        "spawn_job_wait": c,
        "ratio_job_wait": ratio(&a, &c),
        "event_after_wait": stats(&after_wait),
    }))
}

// ---------------------------------------------------------------------------
// 6. Many watched jobs

/// Threads and open descriptors of this process (Linux: from `/proc`;
/// elsewhere not measured here: under Wine `/proc/self` is Wine's own view,
/// and the bench has no `unsafe` for Windows' counts, which the stress
/// suite reads through WMI).
fn threads_and_fds() -> (Option<u64>, Option<u64>) {
    if !cfg!(target_os = "linux") {
        return (None, None);
    }
    let threads = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        });
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    (threads, fds)
}

/// Raises this process's descriptor limit as far as it may (root may raise
/// the hard limit too): 10 000 watched jobs hold up to 4 descriptors each.
#[cfg(target_os = "linux")]
fn raise_nofile() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let wanted = 200_000;
    let now = getrlimit(Resource::Nofile);
    let hard = now.maximum.unwrap_or(wanted);
    let raised = Rlimit {
        current: Some(wanted.max(hard)),
        maximum: Some(wanted.max(hard)),
    };
    if setrlimit(Resource::Nofile, raised).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(hard),
                maximum: now.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current
}

#[cfg(not(target_os = "linux"))]
fn raise_nofile() -> Option<u64> {
    None
}

/// User and system time of this process's reaped children (`cutime` and
/// `cstime` of `/proc/self/stat`, in clock ticks of 10 ms).
fn children_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // After the command's closing parenthesis: state is field 3, cutime 16.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(Duration::from_millis((ticks(13)? + ticks(14)?) * 10))
}

/// CPU time this process's event engine thread (`winjob-events`) has used,
/// from `/proc/self/task/*/schedstat` (nanoseconds on a CPU).
fn engine_cpu() -> Option<Duration> {
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "winjob-events" {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
            return Some(Duration::from_nanos(ns));
        }
    }
    None
}

/// Section 6: jobs alive at once, each watched: the cost of one more job
/// (create, `events()`, drop) at each size, threads and descriptors; then a
/// fork storm outside every job while some are watched.
fn many_jobs(config: &Config) -> io::Result<Value> {
    let limit = raise_nofile();
    let mut alive: Vec<(Job, winjob::Events)> = Vec::new();
    let mut sizes = Vec::new();
    let mut base: Option<(f64, f64)> = None;
    for &size in &config.many {
        let build = Instant::now();
        let built = size.saturating_sub(alive.len());
        while alive.len() < size {
            let job = Job::new()?;
            let events = job.events()?;
            alive.push((job, events));
        }
        let build = build.elapsed();
        let (threads, fds) = threads_and_fds();
        let (mut create, mut drop_) = (Vec::new(), Vec::new());
        for _ in 0..config.many_rounds {
            let started = Instant::now();
            let job = Job::new()?;
            let events = job.events()?;
            let created = started.elapsed();
            let started = Instant::now();
            drop(events);
            drop(job);
            drop_.push(micros(started.elapsed()));
            create.push(micros(created));
        }
        let (create, drop_) = (stats(&create), stats(&drop_));
        let per_job = median_of(&create).unwrap_or(0.0) + median_of(&drop_).unwrap_or(0.0);
        let drop_median = median_of(&drop_).unwrap_or(0.0);
        let (base_total, _) = *base.get_or_insert((per_job, drop_median));
        sizes.push(json!({
            "jobs": size,
            "create_watch": create,
            "drop": drop_,
            "per_job_us": per_job,
            "against_first": if base_total > 0.0 { json!(per_job / base_total) } else { Value::Null },
            "build_per_job_us": if built > 0 { json!(micros(build) / built as f64) } else { Value::Null },
            "threads": threads,
            "fds": fds,
        }));
    }
    // The storm: `storm` processes forked one after another by one shell,
    // in a job that is not watched (so outside every watched job), while
    // `storm_jobs` jobs are watched; its CPU time is the shell's and its
    // children's, which this process has once it reaped the shell.
    alive.truncate(config.storm_jobs);
    let storm = if cfg!(target_os = "linux") && alive.len() == config.storm_jobs {
        let storm_job = Job::new()?;
        let script = format!(
            "i=0; while [ $i -lt {} ]; do /bin/true; i=$((i+1)); done",
            config.storm
        );
        let engine_before = engine_cpu();
        let children_before = children_cpu();
        let started = Instant::now();
        let status = winjob::Command::new("/bin/sh")
            .args(["-c", &script])
            .status_in(&storm_job)?;
        let wall = started.elapsed();
        succeeded(status, "the fork storm")?;
        // The last exits' messages reach the engine a little after.
        thread::sleep(Duration::from_millis(200));
        let engine = engine_cpu()
            .zip(engine_before)
            .map(|(after, before)| after.saturating_sub(before));
        // The shell's CPU time and its children's, reaped: what this
        // process's reaped children used (`/proc/self/stat`), in clock ticks.
        let storm_cpu = children_cpu()
            .zip(children_before)
            .map(|(after, before)| after.saturating_sub(before))
            .unwrap_or_default();
        drop(storm_job);
        json!({
            "processes": config.storm,
            "watched_jobs": alive.len(),
            "wall_s": wall.as_secs_f64(),
            "storm_cpu_s": storm_cpu.as_secs_f64(),
            "engine_cpu_s": engine.map(|d| d.as_secs_f64()),
            "engine_share": engine.map(|d| d.as_secs_f64() / storm_cpu.as_secs_f64().max(1e-9)),
        })
    } else {
        json!({ "skipped": "Linux only (the proc connector's fan-out)" })
    };
    drop(alive);
    Ok(json!({
        "rounds": config.many_rounds,
        "nofile": limit,
        "sizes": sizes,
        "storm": storm,
    }))
}

// ---------------------------------------------------------------------------
// The table

fn column_title(results: &Value) -> String {
    let mode = results["mode"].as_str().unwrap_or("?");
    if results["under_wine"].as_bool() == Some(true) {
        format!("Windows under Wine ({mode})")
    } else if results["platform"] == "linux" {
        format!("Linux ({mode})")
    } else {
        format!("{} ({mode})", results["platform"].as_str().unwrap_or("?"))
    }
}

fn render_file(path: &str) -> io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let merged: Value = serde_json::from_str(&text).map_err(io::Error::other)?;
    let mut columns = Vec::new();
    for key in ["linux", "windows_wine"] {
        let value = &merged[key];
        if value.is_object() && value.get("error").is_none() {
            columns.push((column_title(value), value.clone()));
        } else if let Some(e) = value.get("error").and_then(Value::as_str) {
            columns.push((format!("{key}: FAILED"), json!({ "failed": e })));
        }
    }
    let date = merged["date"].as_str().unwrap_or("?").to_owned();
    Ok(render(&merged["machine"], &columns, &date))
}

/// A time in the unit that suits it.
fn time(us: f64) -> String {
    let us = if us.abs() < 0.5 { 0.0 } else { us };
    let a = us.abs();
    if a < 1000.0 {
        format!("{us:.0} µs")
    } else if a < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// `median [min–max]`, with p99 if asked.
fn cell(stats: &Value, p99: bool) -> Option<String> {
    let f = |k: &str| stats.get(k).and_then(Value::as_f64);
    let (median, min, max) = (f("median_us")?, f("min_us")?, f("max_us")?);
    let mut s = format!("{} [{} – {}]", time(median), time(min), time(max));
    if p99 {
        let _ = write!(s, " p99 {}", time(f("p99_us")?));
    }
    Some(s)
}

fn times(r: &Value) -> String {
    r.as_f64()
        .map_or_else(String::new, |r| format!("  {r:.2}×"))
}

/// One row: a label and a cell per column.
type Row = (String, Vec<String>);

fn render(machine: &Value, columns: &[(String, Value)], date: &str) -> String {
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut note = |text: String| -> String {
        if let Some(i) = notes.iter().position(|n| *n == text) {
            return format!("see note {}", i + 1);
        }
        notes.push(text);
        format!("see note {}", notes.len())
    };
    let col = |f: &dyn Fn(&Value) -> Option<String>| -> Vec<String> {
        columns
            .iter()
            .map(|(_, v)| f(v).unwrap_or_else(|| "—".into()))
            .collect()
    };
    let heading = |rows: &mut Vec<Row>, text: &str| rows.push((text.to_owned(), Vec::new()));

    // 1. Spawn.
    for (series, title) in [
        ("back_to_back", "1. spawn + wait `exit 0`, back-to-back"),
        (
            "sporadic",
            "1. spawn + wait `exit 0`, sporadic (50 ms before each)",
        ),
    ] {
        heading(&mut rows, title);
        rows.push((
            "   pairs per comparison (A B A B ...)".into(),
            col(&|v| Some(v["spawn"][series]["rounds"].to_string())),
        ));
        let mut keys: Vec<(String, String)> = Vec::new();
        for (_, v) in columns {
            for c in v["spawn"][series]["comparisons"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let key = c["key"].as_str().unwrap_or("").to_owned();
                if !keys.iter().any(|(k, _)| *k == key) {
                    keys.push((key, c["label"].as_str().unwrap_or("").to_owned()));
                }
            }
        }
        for (key, label) in keys {
            let find = |v: &Value| -> Option<Value> {
                v["spawn"][series]["comparisons"]
                    .as_array()?
                    .iter()
                    .find(|x| x["key"] == key.as_str())
                    .cloned()
            };
            rows.push((
                format!("   B: {label}"),
                col(&|v| {
                    let c = find(v)?;
                    Some(format!("{}{}", cell(&c["b"], false)?, times(&c["ratio"])))
                }),
            ));
            rows.push((
                "      A: std Command::spawn + wait".into(),
                col(&|v| cell(&find(v)?["a"], false)),
            ));
        }
    }
    // Spawn against the caller's size.
    if columns
        .iter()
        .any(|(_, v)| v["parent_memory"]["sizes"].is_array())
    {
        heading(
            &mut rows,
            "1. spawn + wait `exit 0` with the caller holding N GiB of touched memory",
        );
        for gib in PARENT_GIB {
            for (series, what) in [("back_to_back", "back-to-back"), ("sporadic", "sporadic")] {
                let find = |v: &Value, key: &str| -> Option<Value> {
                    let size = v["parent_memory"]["sizes"]
                        .as_array()?
                        .iter()
                        .find(|s| s["gib"] == gib)?
                        .clone();
                    if let Some(why) = size["skipped"].as_str() {
                        return Some(json!({ "skipped": why }));
                    }
                    size[series]["comparisons"]
                        .as_array()?
                        .iter()
                        .find(|x| x["key"] == key)
                        .cloned()
                };
                if !columns.iter().any(|(_, v)| find(v, "native").is_some()) {
                    continue;
                }
                for (key, label) in [
                    ("native", "winjob Command::spawn_in"),
                    ("winjob", "Job::spawn(std Command)"),
                ] {
                    rows.push((
                        format!("   {gib} GiB, {what}: {label}"),
                        col(&|v| {
                            let c = find(v, key)?;
                            if let Some(why) = c["skipped"].as_str() {
                                return Some(format!("skipped: {why}"));
                            }
                            Some(format!("{}{}", cell(&c["b"], false)?, times(&c["ratio"])))
                        }),
                    ));
                }
                rows.push((
                    format!("   {gib} GiB, {what}: A, std Command::spawn"),
                    col(&|v| {
                        let c = find(v, "native")?;
                        cell(&c["a"], false)
                    }),
                ));
            }
        }
    }
    // The cause of the sporadic cost on Linux.
    let mut sporadic_notes = Vec::new();
    for (title, v) in columns {
        if let Some(n) = v["spawn"]["sporadic"]["notes"].as_array() {
            sporadic_notes.extend(
                n.iter()
                    .filter_map(Value::as_str)
                    .map(|n| format!("{title}: {n}")),
            );
        }
        if let Some(n) = v["spawn"]["back_to_back"]["notes"].as_array() {
            sporadic_notes.extend(
                n.iter()
                    .filter_map(Value::as_str)
                    .map(|n| format!("{title}: {n}")),
            );
        }
    }
    if columns
        .iter()
        .any(|(_, v)| v["migration"]["after_idle"].is_object())
    {
        heading(
            &mut rows,
            "1. cgroup.procs write alone (the migration in Job::spawn)",
        );
        rows.push((
            "   after 50 ms without a migration".into(),
            col(&|v| cell(&v["migration"]["after_idle"], false)),
        ));
        rows.push((
            "   right after another write".into(),
            col(&|v| cell(&v["migration"]["after_write"], false)),
        ));
    }
    for (title, v) in columns {
        let winjob = v["spawn"]["sporadic"]["comparisons"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["key"] == "winjob"));
        let ratio = winjob.and_then(|x| x["ratio"].as_f64());
        let extra = winjob.and_then(|x| Some(median_of(&x["b"])? - median_of(&x["a"])?));
        if let (Some(ratio), Some(idle)) = (ratio, median_of(&v["migration"]["after_idle"]))
            && ratio > 1.5
        {
            let busy = median_of(&v["migration"]["after_write"]).unwrap_or(f64::NAN);
            sporadic_notes.push(format!(
                "{title}: a sporadic Job::spawn (std Command) is {ratio:.1}× a plain spawn ({} more). \
                 Measured cause: the write to cgroup.procs that moves the child into the job \
                 takes {} after 50 ms without a migration, against {} right after another one: \
                 a migration takes cgroup_threadgroup_rwsem (a percpu_rwsem) for writing, \
                 which waits for an RCU grace period (rcu_sync / synchronize_rcu) unless one \
                 just passed. The cgroup2 mount is \"{}\" (no favordynmods). \
                 winjob's own Command starts the child in the job with \
                 clone3(CLONE_INTO_CGROUP), without a migration (its row above).",
                extra.map_or_else(|| "?".into(), time),
                time(idle),
                time(busy),
                v["migration"]["cgroup2_mount"].as_str().unwrap_or("?"),
            ));
        }
    }

    // 2 and 5. Kill, pids.
    let mut sizes: Vec<u64> = Vec::new();
    for (_, v) in columns {
        for s in v["kill"]["sizes"].as_array().into_iter().flatten() {
            sizes.extend(s["size"].as_u64());
        }
        for s in v["kill"]["skipped_sizes"].as_array().into_iter().flatten() {
            sizes.extend(s["size"].as_u64());
        }
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut method_keys: Vec<(String, String)> = Vec::new();
    for (_, v) in columns {
        for s in v["kill"]["sizes"].as_array().into_iter().flatten() {
            for m in s["methods"].as_array().into_iter().flatten() {
                let key = m["key"].as_str().unwrap_or("").to_owned();
                if !method_keys.iter().any(|(k, _)| *k == key) {
                    method_keys.push((key, String::new()));
                }
            }
        }
        for m in v["kill"]["absent_methods"].as_array().into_iter().flatten() {
            let key = m["key"].as_str().unwrap_or("").to_owned();
            if !method_keys.iter().any(|(k, _)| *k == key) {
                method_keys.push((key, String::new()));
            }
        }
    }
    for size in &sizes {
        heading(
            &mut rows,
            &format!("2. kill a tree of {size} until the job is empty"),
        );
        let entry = |v: &Value| -> Option<Value> {
            v["kill"]["sizes"]
                .as_array()?
                .iter()
                .find(|s| s["size"].as_u64() == Some(*size))
                .cloned()
        };
        let skipped = |v: &Value| -> Option<String> {
            v["kill"]["skipped_sizes"]
                .as_array()?
                .iter()
                .find(|s| s["size"].as_u64() == Some(*size))
                .and_then(|s| s["reason"].as_str().map(str::to_owned))
        };
        let mut cells = Vec::new();
        for (title, v) in columns {
            cells.push(match (entry(v), skipped(v)) {
                (Some(e), _) => {
                    let mut text = format!(
                        "{} trials; built in {}",
                        e["trials"],
                        median_of(&e["build"]).map_or_else(|| "?".into(), time)
                    );
                    // Too noisy for small trees: other processes come and go.
                    if let Some(bytes) = e["per_process"]["memory_bytes"]
                        .as_f64()
                        .filter(|_| *size >= 100)
                    {
                        let kib = bytes / 1024.0;
                        if kib < 1024.0 {
                            let _ = write!(text, ", {kib:.0} KiB/process");
                        } else {
                            let _ = write!(text, ", {:.1} MiB/process", kib / 1024.0);
                        }
                    }
                    text
                }
                (None, Some(reason)) => format!(
                    "skipped, {}",
                    note(format!("{title}, tree of {size}: {reason}"))
                ),
                (None, None) => "—".into(),
            });
        }
        rows.push(("   trials".into(), cells));
        for (key, _) in &method_keys {
            let label = match key.as_str() {
                "winjob" => "Job::terminate (A)",
                "killpg" => "kill(-pgid, SIGKILL)",
                "tree_walk" => "tree walk, then kill each process",
                "taskkill_tree" => "taskkill /T /F /PID root",
                other => other,
            };
            let mut cells = Vec::new();
            for (title, v) in columns {
                let absent = v["kill"]["absent_methods"]
                    .as_array()
                    .and_then(|a| a.iter().find(|m| m["key"] == key.as_str()).cloned());
                let method = entry(v).and_then(|e| {
                    e["methods"]
                        .as_array()?
                        .iter()
                        .find(|m| m["key"] == key.as_str())
                        .cloned()
                });
                cells.push(match (method, absent) {
                    (Some(m), _) => {
                        let mut text = cell(&m["stats"], false).map_or_else(
                            || "did not work".to_owned(),
                            |c| {
                                if key == "winjob" {
                                    c
                                } else {
                                    format!("{c}{}", times(&m["ratio_to_job"]))
                                }
                            },
                        );
                        if let Some(f) = m["failed"].as_str() {
                            let failed = m["failed_trials"].as_u64().unwrap_or(0);
                            let _ = write!(
                                text,
                                " ({failed} failed, {})",
                                note(format!("{title}, {label}, tree of {size}: {f}"))
                            );
                        }
                        text
                    }
                    (None, Some(a)) => format!(
                        "skipped, {}",
                        note(format!(
                            "{title}, {label}: {}",
                            a["skipped"].as_str().unwrap_or("")
                        ))
                    ),
                    (None, None) => "—".into(),
                });
            }
            rows.push((format!("   {label}"), cells));
        }
        rows.push((
            "5. Job::pids of this job".into(),
            col(&|v| cell(&entry(v)?["pids"], true)),
        ));
    }

    // 1d. The command.
    heading(
        &mut rows,
        "1d. `winjob run -q -- P` as a wrapper (P: `true`; Wine: `exit 0`)",
    );
    rows.push((
        "   rounds (all alternating)".into(),
        col(&|v| v["cli"]["rounds"].as_u64().map(|n| n.to_string())),
    ));
    for (key, label) in [
        ("winjob", "winjob run -q -- P"),
        ("plain", "P alone"),
        ("timeout", "timeout 10 P"),
        ("time", "/usr/bin/time P"),
    ] {
        rows.push((
            format!("   {label}"),
            col(&|v| {
                let mut text = cell(&v["cli"][key]["stats"], false)?;
                if key == "winjob" {
                    if let Some(x) = v["cli"]["ratio_timeout"].as_f64() {
                        let _ = write!(text, "  {x:.2}× timeout");
                    }
                    if let Some(x) = v["cli"]["ratio_plain"].as_f64() {
                        let _ = write!(text, ", {x:.2}× P alone");
                    }
                }
                Some(text)
            }),
        ));
    }

    // 3. Accounting.
    heading(&mut rows, "3. Job::accounting_into");
    rows.push((
        "   time per call".into(),
        col(&|v| {
            Some(format!(
                "{} ({} calls)",
                cell(&v["accounting"]["stats"], true)?,
                v["accounting"]["calls"]
            ))
        }),
    ));
    rows.push((
        "   heap allocations per call (must be 0)".into(),
        col(&|v| {
            let per = v["accounting"]["allocations_per_call"].as_f64()?;
            let total = v["accounting"]["allocations"].as_u64()?
                + v["accounting"]["reallocations"].as_u64()?;
            Some(if total == 0 {
                "0".to_owned()
            } else {
                format!("{per:.3} ({total} in all): NOT 0, a broken promise")
            })
        }),
    ));

    // 4. Events.
    heading(&mut rows, "4. events: `exit 0` spawned into a watched job");
    rows.push((
        "   rounds (A, B and C alternate)".into(),
        col(&|v| Some(v["events"]["rounds"].to_string())),
    ));
    rows.push((
        "   spawn → wait() returns (A)".into(),
        col(&|v| cell(&v["events"]["spawn_wait"], true)),
    ));
    rows.push((
        "   spawn → ExitProcess event received (B)".into(),
        col(&|v| {
            Some(format!(
                "{}{}",
                cell(&v["events"]["spawn_event"], true)?,
                times(&v["events"]["ratio"])
            ))
        }),
    ));
    rows.push((
        "   spawn → Job::wait() returns, job empty (C)".into(),
        col(&|v| {
            Some(format!(
                "{}{}",
                cell(&v["events"]["spawn_job_wait"], true)?,
                times(&v["events"]["ratio_job_wait"])
            ))
        }),
    ));
    rows.push((
        "   exit → event: after a waiter's wait() returned".into(),
        col(&|v| cell(&v["events"]["event_after_wait"], true)),
    ));

    // 6. Many watched jobs.
    let many_sizes: Vec<u64> = {
        let mut sizes: Vec<u64> = columns
            .iter()
            .flat_map(|(_, v)| {
                v["many"]["sizes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["jobs"].as_u64())
                    .collect::<Vec<_>>()
            })
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    };
    if !many_sizes.is_empty() {
        heading(
            &mut rows,
            "6. one more job (create + events() + drop) with N watched jobs alive",
        );
        rows.push((
            "   rounds at each size".into(),
            col(&|v| Some(v["many"]["rounds"].to_string())),
        ));
        for size in many_sizes {
            let at = move |v: &Value| -> Option<Value> {
                v["many"]["sizes"]
                    .as_array()?
                    .iter()
                    .find(|s| s["jobs"].as_u64() == Some(size))
                    .cloned()
            };
            rows.push((
                format!("   N = {size}: create + events()"),
                col(&|v| cell(&at(v)?["create_watch"], true)),
            ));
            rows.push((
                format!("   N = {size}: drop"),
                col(&|v| cell(&at(v)?["drop"], true)),
            ));
            rows.push((
                format!("   N = {size}: per job, against the first size"),
                col(&|v| {
                    let s = at(v)?;
                    Some(format!(
                        "{} ({:.2}×)",
                        time(s["per_job_us"].as_f64()?),
                        s["against_first"].as_f64()?
                    ))
                }),
            ));
            rows.push((
                format!("   N = {size}: threads, descriptors"),
                col(&|v| {
                    let s = at(v)?;
                    Some(format!(
                        "{}, {}",
                        s["threads"].as_u64().map_or("—".into(), |n| n.to_string()),
                        s["fds"].as_u64().map_or("—".into(), |n| n.to_string())
                    ))
                }),
            ));
        }
        rows.push((
            "   fork storm outside every job: engine CPU / storm CPU".into(),
            col(&|v| {
                let storm = &v["many"]["storm"];
                if let Some(why) = storm["skipped"].as_str() {
                    return Some(format!("skipped: {why}"));
                }
                Some(format!(
                    "{:.2} % ({:.3} s / {:.2} s; {} processes, {} jobs watched)",
                    storm["engine_share"].as_f64()? * 100.0,
                    storm["engine_cpu_s"].as_f64()?,
                    storm["storm_cpu_s"].as_f64()?,
                    storm["processes"],
                    storm["watched_jobs"]
                ))
            }),
        ));
    }

    // Wine's retries.
    if columns
        .iter()
        .any(|(_, v)| v["wine_spawn_retries"].as_u64().unwrap_or(0) > 0)
    {
        rows.push((
            "Wine: spawns retried after error 1359".into(),
            col(&|v| v["wine_spawn_retries"].as_u64().map(|n| n.to_string())),
        ));
    }
    rows.push((
        "bench run took".into(),
        col(&|v| v["seconds"].as_u64().map(|s| format!("{s} s"))),
    ));
    for (title, v) in columns {
        if let Some(e) = v["failed"].as_str() {
            notes.push(format!("{title}: the run failed: {e}"));
        }
    }
    notes.extend(sporadic_notes);
    for (title, v) in columns {
        let mut seen: Vec<String> = Vec::new();
        for size in v["kill"]["sizes"].as_array().into_iter().flatten() {
            for m in size["methods"].as_array().into_iter().flatten() {
                let label = m["label"].as_str().unwrap_or("").to_owned();
                if !seen.contains(&label) {
                    seen.push(label);
                }
            }
        }
        if !seen.is_empty() {
            notes.push(format!("{title}, kill methods: {}.", seen.join("; ")));
        }
    }

    // Layout.
    let mut out = String::new();
    let _ = writeln!(out, "winjob bench, {date}");
    if let Some(m) = machine.as_object().filter(|m| !m.is_empty()) {
        let get = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
        let _ = writeln!(
            out,
            "machine: {}, {} cores, Linux {}, winjob mode {}; {}",
            get("cpu"),
            m.get("cores")
                .map_or_else(|| "?".into(), ToString::to_string),
            get("kernel"),
            get("cgroup_mode"),
            get("wine"),
        );
        if m.contains_key("load_before") {
            let _ = writeln!(
                out,
                "load average (1, 5, 15 min) before the runs: {}; after: {} (other work on \
                 the machine shows in the figures)",
                get("load_before"),
                get("load_after"),
            );
        }
    }
    let _ = writeln!(
        out,
        "median [min – max] of each series (p99 where shown); N× against the (A) row, \
         measured in the same run with the variants alternating: for spawns the median of \
         the pairs' ratios, elsewhere median / median"
    );
    let width0 = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .filter_map(|(_, c)| c.get(i))
                .chain(std::iter::once(&columns[i].0))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut line = pad("", width0);
    for (i, (title, _)) in columns.iter().enumerate() {
        let _ = write!(line, " | {}", pad(title, widths[i]));
    }
    let _ = writeln!(out, "{}", line.trim_end());
    let mut rule = "-".repeat(width0);
    for w in &widths {
        let _ = write!(rule, "-+-{}", "-".repeat(*w));
    }
    let _ = writeln!(out, "{rule}");
    for (label, cells) in &rows {
        if cells.is_empty() {
            let _ = writeln!(out, "{label}");
            continue;
        }
        let mut line = pad(label, width0);
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(line, " | {}", pad(c, widths[i]));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(out, "{:>3}. {n}", i + 1);
        }
    }
    let _ = writeln!(
        out,
        "\nmethod: spawn = one `winjob-testbin exit 0` spawned and waited for; kill = a tree \
         `tree 1 N-1` (every process has printed its pid) from the kill call until Job::wait \
         says the job it was spawned into is empty (the same confirmation for every method); \
         exit → event = the ExitProcess event's arrival minus the moment a thread blocked in \
         wait() for the same child woke (negative: the event came first). \
         See winjob-testbins/benches/jobs.rs."
    );
    out
}
