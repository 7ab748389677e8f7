//! `winjob-testbin`: the small programs winjob's integration tests spawn.
//!
//! One binary with subcommands, so the tests have one path to find
//! (`env!("CARGO_BIN_EXE_winjob-testbin")`). Every line it prints is flushed at
//! once, because tests read the output of trees whose members are killed.
//!
//! ```text
//! winjob-testbin sleep SECS            sleep, then exit 0
//! winjob-testbin exit CODE             exit with CODE at once
//! winjob-testbin tree DEPTH WIDTH SECS print "pid N", start WIDTH children each
//!                                      running `tree DEPTH-1 WIDTH SECS`, sleep SECS,
//!                                      wait for the children; DEPTH 0 = no children
//! winjob-testbin whereami              first act: print own job membership
//!                                      ("in-job yes|no"; on Linux "cgroup PATH",
//!                                      "freezer PATH", "pgid N", "cpus LIST",
//!                                      "nice N"), then exit 0
//! winjob-testbin spawn [--breakaway] -- ARGS...
//!                                      start `winjob-testbin ARGS` (Windows: with
//!                                      CREATE_BREAKAWAY_FROM_JOB if asked), relay
//!                                      its output, print "spawn-error CODE" if the
//!                                      start failed; exit with the child's code
//! winjob-testbin escape SECS           Linux: leave the process group (setsid),
//!                                      print "pid N", sleep SECS; must not be a
//!                                      group leader, so run it as `spawn -- escape`
//! winjob-testbin assign-self          create a job (not kill-on-drop), put this
//!                                      process in it, print "self-in-job yes|no"
//!                                      "job-pid N" (own pid) and, on Linux,
//!                                      "job-dir NAME", then run
//!                                      `whereami` as a plain child
//! winjob-testbin eat-memory MIB       allocate and touch MIB MiB, 1 MiB at a time,
//!                                      printing "allocated N" every 16 MiB; print
//!                                      "alloc-failed N" if an allocation fails;
//!                                      then "done" and exit 0
//! winjob-testbin fork N SECS           start N children that sleep SECS, one at a
//!                                      time; print "spawned K" after each and
//!                                      "fork-error CODE" at the first failure;
//!                                      then "forks K" and wait for them
//! winjob-testbin burn SECS             spin on the CPU for SECS of wall time, then
//!                                      print "cpu SECONDS" (Linux: own user+system
//!                                      time)
//! winjob-testbin burn-cpu SECS         spin until this process has used SECS of
//!                                      CPU time (Linux; elsewhere SECS of wall
//!                                      time), then print "cpu SECONDS" (Linux)
//! winjob-testbin spin SECS             spin on the CPU for SECS of wall time, then
//!                                      print "iterations N" (how much work was done)
//! winjob-testbin argv ARGS...         print "arg {:?}" of each argument (any bytes)
//! winjob-testbin env NAMES...         print "env {name:?}={value:?}" or "env {name:?}
//!                                      unset" for each, then "env-count N"
//! winjob-testbin native-in-job [--no-kill-on-drop]
//!                                      create a job, run `whereami` in it with winjob's
//!                                      own Command and relay its lines; on Linux
//!                                      then "method M" (the clone call used) and
//!                                      "job-cgroup NAME" / "job-pgid N"
//! winjob-testbin no-clone3 ERRNO ARGS...
//!                                      Linux: refuse clone3 with ERRNO (seccomp),
//!                                      then run `winjob-testbin ARGS` in-process
//! winjob-testbin cwd                   print "cwd {:?}" of the working directory
//! winjob-testbin cat                   copy stdin to stdout
//! winjob-testbin spew BYTES            write BYTES to stdout and BYTES to stderr,
//!                                      64 KiB at a time, alternating
//! winjob-testbin fds                   Linux: print "fds [..]", the open descriptors
//! winjob-testbin argv ARGS...         print "arg {:?}" of each argument (any bytes)
//! winjob-testbin env NAMES...         print "env {name:?}={value:?}" or "env {name:?}
//!                                      unset" for each, then "env-count N"
//! winjob-testbin native-in-job [--no-kill-on-drop]
//!                                      create a job, run `whereami` in it with winjob's
//!                                      own Command and relay its lines; on Linux
//!                                      then "method M" (the clone call used) and
//!                                      "job-cgroup NAME" / "job-pgid N"
//! winjob-testbin cwd                   print "cwd {:?}" of the working directory
//! winjob-testbin cat                   copy stdin to stdout
//! winjob-testbin spew BYTES            write BYTES to stdout and BYTES to stderr,
//!                                      64 KiB at a time, alternating
//! winjob-testbin fds                   Linux: print "fds [..]", the open descriptors
//! winjob-testbin limits-seen           Windows: print "priority-class NAME" and
//!                                      "affinity LIST" as this process sees them
//! winjob-testbin monitor-threads      Linux: print "threads N" (own thread count)
//!                                      before a job exists, with a job whose events
//!                                      are watched, and after the job is dropped
//! winjob-testbin leaf-owner           Linux: wait for a line on stdin, then print
//!                                      "before-memory yes|no REASON", call
//!                                      enter_leaf_cgroup, print "leaf PATH" and
//!                                      "after-memory yes|no REASON", create a job
//!                                      with a 64 MiB memory limit where it is
//!                                      enforced, and run `whereami` in it and
//!                                      outside it (lines prefixed "job " and
//!                                      "plain ")
//! winjob-testbin owner [--no-kill-on-drop] DEPTH WIDTH
//!                                      create a job, spawn (winjob's Command)
//!                                      `tree DEPTH WIDTH 600`
//!                                      into it, print "member N" for each member
//!                                      once all are there, then "ready", then
//!                                      sleep until killed
//! winjob-testbin owner-spawning N     create a kill-on-drop job, print "job-ready",
//!                                      then spawn (winjob's Command) N members
//!                                      into it one after the
//!                                      other (`tree 1 1 600`: each prints "pid N"
//!                                      on the stdout it inherits, as does its
//!                                      child), printing "spawned K" after each;
//!                                      then "all-spawned", and sleep until killed
//! winjob-testbin fork-bomb DEPTH       a bounded fork bomb: start 4 children
//!                                      running `fork-bomb DEPTH-1`, retrying every
//!                                      5 ms while starting fails (a process
//!                                      limit), then sleep until killed; DEPTH 0
//!                                      starts none (at most 4^DEPTH leaves)
//! ```

#[cfg(target_os = "linux")]
mod leaf;
#[cfg(target_os = "linux")]
mod seccomp;

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    // The subcommands that take any bytes, before the rest, which want
    // UTF-8 arguments.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if raw.first().is_some_and(|a| a == "argv") {
        // Debug of an OsStr is the same on both sides of a round trip.
        for arg in &raw[1..] {
            say(&format!("arg {arg:?}"));
        }
        return ExitCode::SUCCESS;
    }
    if raw.first().is_some_and(|a| a == "env") {
        for name in &raw[1..] {
            match std::env::var_os(name) {
                Some(value) => say(&format!("env {name:?}={value:?}")),
                None => say(&format!("env {name:?} unset")),
            }
        }
        say(&format!("env-count {}", std::env::vars_os().count()));
        return ExitCode::SUCCESS;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            say(&format!("error {e}"));
            ExitCode::from(101)
        }
    }
}

fn run(args: &[&str]) -> io::Result<ExitCode> {
    match args {
        ["sleep", secs] => {
            thread::sleep(Duration::from_secs_f64(number(secs)?));
            Ok(ExitCode::SUCCESS)
        }
        ["exit", code] => {
            let code: u8 = code
                .parse()
                .map_err(|_| bad(&format!("bad exit code {code}")))?;
            Ok(ExitCode::from(code))
        }
        ["tree", depth, width, secs] => tree(number(depth)?, number(width)?, number(secs)?),
        ["whereami"] => {
            whereami()?;
            Ok(ExitCode::SUCCESS)
        }
        ["spawn", "--breakaway", "--", rest @ ..] => spawn(true, rest),
        ["spawn", "--", rest @ ..] => spawn(false, rest),
        ["escape", secs] => escape(number(secs)?),
        ["assign-self"] => assign_self(),
        ["monitor-threads"] => monitor_threads(),
        ["eat-memory", mib] => eat_memory(number(mib)?),
        ["fork", n, secs] => fork(number(n)?, secs),
        ["burn", secs] => burn(number(secs)?),
        ["burn-cpu", secs] => burn_cpu(number(secs)?),
        ["spin", secs] => spin(number(secs)?),
        ["limits-seen"] => limits_seen(),
        ["native-in-job"] => native_in_job(true),
        ["native-in-job", "--no-kill-on-drop"] => native_in_job(false),
        #[cfg(target_os = "linux")]
        ["no-socket", rest @ ..] => {
            seccomp::refuse_sockets()?;
            run(rest)
        }
        ["events-of", n, secs] => events_of(number(n)?, secs),
        #[cfg(target_os = "linux")]
        ["nofile", limit] => nofile(number(limit)?),
        #[cfg(target_os = "linux")]
        ["no-clone3", errno, rest @ ..] => {
            seccomp::refuse_clone3(number(errno)?)?;
            run(rest)
        }
        ["cwd"] => {
            say(&format!("cwd {:?}", std::env::current_dir()?));
            Ok(ExitCode::SUCCESS)
        }
        ["cat"] => {
            io::copy(&mut io::stdin().lock(), &mut io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        ["spew", bytes] => spew(number(bytes)?),
        #[cfg(target_os = "linux")]
        ["fds"] => {
            let own = format!("/proc/{}/fd", std::process::id());
            let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")?
                .flatten()
                // Not the directory being read.
                .filter(|e| {
                    std::fs::read_link(e.path()).is_ok_and(|t| t != std::path::Path::new(&own))
                })
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect();
            fds.sort_unstable();
            say(&format!("fds {fds:?}"));
            Ok(ExitCode::SUCCESS)
        }
        ["owner", "--no-kill-on-drop", depth, width] => {
            owner(false, number(depth)?, number(width)?)
        }
        ["owner", depth, width] => owner(true, number(depth)?, number(width)?),
        ["owner-spawning", n] => owner_spawning(number(n)?),
        ["owner-emptied"] => owner_emptied(),
        ["owner-after-terminate"] => owner_after_terminate(),
        ["owner-of-many", n] => owner_of_many(number(n)?),
        ["fork-bomb", depth] => fork_bomb(number(depth)?),
        #[cfg(target_os = "linux")]
        ["leaf-owner"] => leaf::leaf_owner(),
        _ => Err(bad(&format!(
            "unknown arguments {args:?}; see the source for usage"
        ))),
    }
}

fn bad(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}

fn number<T: std::str::FromStr>(s: &str) -> io::Result<T> {
    s.parse().map_err(|_| bad(&format!("not a number: {s}")))
}

/// Prints one line and flushes it, ignoring a closed stdout (the reader may
/// be gone; that is no reason to die in a test tree).
pub(crate) fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn me() -> Command {
    Command::new(std::env::current_exe().expect("current_exe"))
}

/// This program, as winjob's own `Command`.
fn me_native() -> winjob::Command {
    winjob::Command::new(std::env::current_exe().expect("current_exe"))
}

/// Spawns `command`, retrying Wine's transient `ERROR_INTERNAL_ERROR` (1359),
/// which its `CreateProcess` returns now and then under load; each retry is
/// reported on stderr and as a `retry 1359` line on stdout. Wine may fail
/// that way after it created the process (which then starts and exits in
/// the job without running this program's code): a test counting a job's
/// processes counts these lines too.
fn spawn_retrying(command: &mut Command) -> io::Result<std::process::Child> {
    const ERROR_INTERNAL_ERROR: i32 = 1359;
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e)
                if cfg!(windows)
                    && e.raw_os_error() == Some(ERROR_INTERNAL_ERROR)
                    && tries < 10 =>
            {
                tries += 1;
                eprintln!("winjob-testbin: spawn failed with 1359, retry {tries}");
                say("retry 1359");
                thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

fn tree(depth: u32, width: u32, secs: f64) -> io::Result<ExitCode> {
    say(&format!("pid {}", std::process::id()));
    let mut children = Vec::new();
    if depth > 0 {
        for _ in 0..width {
            let child = spawn_retrying(me().args([
                "tree",
                &(depth - 1).to_string(),
                &width.to_string(),
                &secs.to_string(),
            ]))?;
            children.push(child);
        }
    }
    thread::sleep(Duration::from_secs_f64(secs));
    for mut child in children {
        child.wait()?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(windows)]
fn whereami() -> io::Result<()> {
    let in_job = winjob::os::windows::is_current_process_in_any_job()?;
    say(&format!("in-job {}", if in_job { "yes" } else { "no" }));
    say(&format!("pid {}", std::process::id()));
    Ok(())
}

#[cfg(target_os = "linux")]
fn whereami() -> io::Result<()> {
    // Read before anything else: this is the child's first act.
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")?;
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let v2 = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("");
    let freezer = cgroups
        .lines()
        .find_map(|l| l.split_once(":freezer:").map(|(_, path)| path))
        .unwrap_or("");
    // Field 5 of /proc/self/stat is the pgid; the command name (field 2) is in
    // parentheses and may contain spaces, so split after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let pgid = after.split_whitespace().nth(2).unwrap_or("?");
    let status = std::fs::read_to_string("/proc/self/status")?;
    let cpus = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or("")
        .trim();
    // Field 19 of /proc/self/stat is the nice value.
    let nice = after.split_whitespace().nth(16).unwrap_or("?");
    say(&format!("cgroup {v2}"));
    say(&format!("freezer {freezer}"));
    say(&format!("pgid {pgid}"));
    say(&format!("cpus {cpus}"));
    say(&format!("nice {nice}"));
    say(&format!("pid {}", std::process::id()));
    Ok(())
}

fn spawn(breakaway: bool, rest: &[&str]) -> io::Result<ExitCode> {
    let mut command = me();
    command.args(rest).stdout(Stdio::inherit());
    #[cfg(windows)]
    if breakaway {
        use std::os::windows::process::CommandExt;
        const CREATE_BREAKAWAY_FROM_JOB: u32 = 0x0100_0000;
        command.creation_flags(CREATE_BREAKAWAY_FROM_JOB);
    }
    #[cfg(not(windows))]
    let _ = breakaway;
    match spawn_retrying(&mut command) {
        Ok(mut child) => {
            let status = child.wait()?;
            let code = status.code().unwrap_or(102);
            Ok(ExitCode::from(u8::try_from(code & 0xff).unwrap_or(102)))
        }
        Err(e) => {
            say(&format!("spawn-error {}", e.raw_os_error().unwrap_or(-1)));
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(target_os = "linux")]
fn escape(secs: f64) -> io::Result<ExitCode> {
    // Leaves the process group (and session) the job put us in. Fails with
    // EPERM for a group leader, so tests run it as a grandchild:
    // `spawn -- escape SECS`.
    rustix::process::setsid()?;
    say(&format!("pid {}", std::process::id()));
    thread::sleep(Duration::from_secs_f64(secs));
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(target_os = "linux"))]
fn escape(_secs: f64) -> io::Result<ExitCode> {
    Err(bad("escape is a Linux test helper"))
}

fn eat_memory(mib: usize) -> io::Result<ExitCode> {
    const MIB: usize = 1 << 20;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for n in 1..=mib {
        let mut block = Vec::new();
        if block.try_reserve_exact(MIB).is_err() {
            say(&format!("alloc-failed {n}"));
            break;
        }
        // Touch every page, so the memory is really used (and counted).
        block.resize(MIB, 1);
        blocks.push(block);
        if n % 16 == 0 {
            say(&format!("allocated {n}"));
        }
    }
    say("done");
    Ok(ExitCode::SUCCESS)
}

fn fork(n: u32, secs: &str) -> io::Result<ExitCode> {
    let mut children = Vec::new();
    for k in 1..=n {
        match spawn_retrying(me().args(["sleep", secs])) {
            Ok(child) => {
                children.push(child);
                say(&format!("spawned {k}"));
            }
            Err(e) => {
                say(&format!("fork-error {}", e.raw_os_error().unwrap_or(-1)));
                break;
            }
        }
    }
    say(&format!("forks {}", children.len()));
    for mut child in children {
        child.wait()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn burn(secs: f64) -> io::Result<ExitCode> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut x: u64 = 1;
    while Instant::now() < until {
        x = churn(x);
    }
    #[cfg(target_os = "linux")]
    say(&format!("cpu {:.2}", own_cpu_ticks()? as f64 / 100.0));
    Ok(ExitCode::SUCCESS)
}

/// Spins until this process has used `secs` of CPU time (Linux; elsewhere
/// for `secs` of wall time), then prints `cpu SECONDS` (Linux). However busy
/// the machine, the CPU time used is the same: a test can rely on it.
fn burn_cpu(secs: f64) -> io::Result<ExitCode> {
    #[cfg(target_os = "linux")]
    {
        // What it runs under, for a test to show if it is not ended as it
        // expects: its CPU time limit and its cgroup.
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        if let Some(line) = limits.lines().find(|l| l.starts_with("Max cpu time")) {
            say(&format!(
                "limit {}",
                line.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if let Some(v2) = cgroup.lines().find_map(|l| l.strip_prefix("0::")) {
            say(&format!("cgroup {v2}"));
        }
        // Rounded up to whole ticks of 10 ms.
        let wanted = u64::try_from(Duration::from_secs_f64(secs).as_millis().div_ceil(10))
            .unwrap_or(u64::MAX);
        let mut x: u64 = 1;
        let mut used = own_cpu_ticks()?;
        while used < wanted {
            for _ in 0..100 {
                x = churn(x);
            }
            used = own_cpu_ticks()?;
        }
        say(&format!("cpu {:.2}", used as f64 / 100.0));
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(target_os = "linux"))]
    burn(secs)
}

/// Ten thousand steps of busy work.
fn churn(mut x: u64) -> u64 {
    for _ in 0..10_000 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    }
    std::hint::black_box(x)
}

/// This process's user and system time, fields 14 and 15 of
/// `/proc/self/stat`, in clock ticks of 1/100 s (USER_HZ on every Linux
/// architecture).
#[cfg(target_os = "linux")]
fn own_cpu_ticks() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    Ok(fields
        .get(11..13)
        .into_iter()
        .flatten()
        .filter_map(|f| f.parse::<u64>().ok())
        .sum())
}

fn spin(secs: f64) -> io::Result<ExitCode> {
    let until = Instant::now() + Duration::from_secs_f64(secs);
    let mut iterations: u64 = 0;
    let mut x: u64 = 1;
    while Instant::now() < until {
        for _ in 0..1_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
        iterations += 1;
    }
    say(&format!("iterations {iterations}"));
    Ok(ExitCode::SUCCESS)
}

#[cfg(windows)]
fn limits_seen() -> io::Result<ExitCode> {
    let class = winjob::os::windows::current_priority_class()?;
    say(&format!("priority-class {class:?}"));
    say(&format!(
        "affinity {}",
        winjob::os::windows::current_affinity()?
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(windows))]
fn limits_seen() -> io::Result<ExitCode> {
    Err(bad("limits-seen is a Windows test helper"))
}

fn monitor_threads() -> io::Result<ExitCode> {
    let threads = || {
        std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // What lives as long as the process comes first: the event engine the
    // guardian's watch uses (Linux, cgroup modes), started with the first
    // kill-on-drop job.
    drop(winjob::Job::new()?);
    let before = threads();
    say(&format!("threads {before}"));
    let mut jobs = Vec::new();
    for _ in 0..20 {
        let job = winjob::Job::new()?;
        let events = job.events()?;
        jobs.push((job, events));
    }
    say(&format!("threads {}", threads()));
    let mut ended = true;
    for (job, events) in jobs {
        drop(job);
        // The subscription ends once the job's watch is gone.
        ended &= events.recv().is_none();
    }
    say(&format!("ended {ended}"));
    // A joined thread can linger in /proc for a moment after `join` returns
    // (its task is released just after it wakes the joiner), the longer the
    // busier the machine: up to 30 s, which only a thread that stays uses.
    let until = Instant::now() + Duration::from_secs(30);
    while threads() > before && Instant::now() < until {
        thread::sleep(Duration::from_millis(5));
    }
    say(&format!("threads {}", threads()));
    Ok(ExitCode::SUCCESS)
}

/// `nofile LIMIT`: with RLIMIT_NOFILE lowered to LIMIT, creates watched
/// jobs, each with a member, until the library refuses one; prints how many
/// and the error, then drops them all.
#[cfg(target_os = "linux")]
fn nofile(limit: u64) -> io::Result<ExitCode> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: hard,
        },
    )?;
    let me = std::env::current_exe()?;
    let mut jobs = Vec::new();
    let error = loop {
        let job = match winjob::Job::new() {
            Ok(job) => job,
            Err(e) => break e,
        };
        let events = match job.events() {
            Ok(events) => events,
            Err(e) => break e,
        };
        let child = match winjob::Command::new(&me)
            .args(["sleep", "60"])
            .stdout(winjob::Stdio::null())
            .spawn_in(&job)
        {
            Ok(child) => child,
            Err(e) => break e,
        };
        jobs.push((job, events, child));
        if jobs.len() > 10_000 {
            return Err(io::Error::other("the limit was never met"));
        }
    };
    // The OS's code, on the error or on one it wraps (its sources).
    let mut code = error.raw_os_error();
    let mut source = std::error::Error::source(&error);
    while let (None, Some(inner)) = (code, source) {
        code = inner
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error);
        source = inner.source();
    }
    say(&format!("jobs {}", jobs.len()));
    say(&format!("error {error}"));
    say(&format!("code {code:?}"));
    drop(jobs);
    Ok(ExitCode::SUCCESS)
}

/// `events-of N SECS`: a watched job of N helpers that sleep SECS; prints
/// each member's pid, then every event until `Empty` (`event KIND PID EXIT`).
fn events_of(n: u32, secs: &str) -> io::Result<ExitCode> {
    let job = winjob::Job::new()?;
    let events = job.events()?;
    let me = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..n {
        let child = winjob::Command::new(&me)
            .args(["sleep", secs])
            .spawn_in(&job)?;
        say(&format!("member {}", child.id()));
        children.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(winjob::Event::NewProcess { pid }) => say(&format!("event new {pid}")),
            Some(winjob::Event::ExitProcess { pid, exit }) => {
                say(&format!("event exit {pid} {exit:?}"));
            }
            Some(winjob::Event::Empty) => {
                say("event empty");
                break;
            }
            Some(other) => say(&format!("event other {other:?}")),
            None => {
                say("event timeout");
                break;
            }
        }
    }
    for mut child in children {
        child.wait()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn assign_self() -> io::Result<ExitCode> {
    let job = winjob::Job::builder().kill_on_drop(false).create()?;
    job.assign_current_process()?;
    let me = std::process::id();
    say(&format!(
        "self-in-job {}",
        if job.contains_pid(me)? { "yes" } else { "no" }
    ));
    say(&format!("job-pid {me}"));
    #[cfg(target_os = "linux")]
    {
        use winjob::os::linux::JobExt;
        let dir = job
            .cgroup_path()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        say(&format!("job-dir {}", dir.unwrap_or_else(|| "-".into())));
        let group = job.process_group().map(|g| g.to_string());
        say(&format!(
            "job-group {}",
            group.unwrap_or_else(|| "-".into())
        ));
    }
    let status = self::me().arg("whereami").status()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(104)
    })
}

fn owner(kill_on_drop: bool, depth: u32, width: u32) -> io::Result<ExitCode> {
    let job = winjob::Job::builder().kill_on_drop(kill_on_drop).create()?;
    // winjob's own Command: on Windows as on Linux the child is born in the
    // job, the path the stress suite's owner kills are about.
    let mut child = me_native()
        .args(["tree", &depth.to_string(), &width.to_string(), "600"])
        .stdout(winjob::Stdio::piped())
        .spawn_in(&job)?;
    let expected = tree_size(depth, width);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    // The tree's own pids (a job member list could also hold, for a moment,
    // a process Wine created for a spawn it failed with error 1359).
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < expected && Instant::now() < deadline {
        match lines.next() {
            Some(line) => {
                if let Some(pid) = line?.strip_prefix("pid ") {
                    seen.push(pid.to_owned());
                }
            }
            None => break,
        }
    }
    #[cfg(target_os = "linux")]
    {
        use winjob::os::linux::JobExt;
        if let Some(dir) = job.cgroup_path() {
            say(&format!("job-dir {}", dir.display()));
        }
    }
    for pid in seen {
        say(&format!("member {pid}"));
    }
    say("ready");
    // Keep the job (and the pipe) alive until the test kills us.
    thread::spawn(move || for _ in lines {});
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// 1 + w + w² + … + w^depth
fn tree_size(depth: u32, width: u32) -> usize {
    (0..=depth).map(|d| (width as usize).pow(d)).sum()
}

/// An owner whose kill-on-drop job had one member, which exited and was
/// reaped: it prints `gone PID` and `ready`, then waits to be killed.
fn owner_emptied() -> io::Result<ExitCode> {
    let job = winjob::Job::new()?;
    let mut member = me_native().args(["exit", "0"]).spawn_in(&job)?;
    member.wait()?;
    say(&format!("gone {}", member.id()));
    say("ready");
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// An owner of N kill-on-drop jobs with a member each, of which it drops
/// every second one (killing its member): it prints the members of the jobs
/// it keeps (`member PID`), those of the dropped ones (`dropped PID`) and
/// `ready`, then waits to be killed.
fn owner_of_many(n: u32) -> io::Result<ExitCode> {
    let mut kept = Vec::new();
    for k in 0..n {
        let job = winjob::Job::new()?;
        let member = me_native().args(["sleep", "600"]).spawn_in(&job)?;
        if k % 2 == 1 {
            drop(job);
            say(&format!("dropped {}", member.id()));
        } else {
            say(&format!("member {}", member.id()));
            kept.push(job);
        }
    }
    say("ready");
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// An owner that terminates its kill-on-drop job and spawns into it again
/// at once: it prints the new member's pid (`member PID`) and `ready`, then
/// waits to be killed.
fn owner_after_terminate() -> io::Result<ExitCode> {
    let job = winjob::Job::new()?;
    let _first = me_native().args(["sleep", "600"]).spawn_in(&job)?;
    job.terminate(1)?;
    let second = me_native().args(["sleep", "600"]).spawn_in(&job)?;
    say(&format!("member {}", second.id()));
    say("ready");
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// The subject of the stress suite's "owner killed while spawning" test:
/// every member inherits this process's stdout, so the test's pipe ends only
/// once the owner and every member (and every child forked but not yet in
/// the job) are gone.
fn owner_spawning(n: u32) -> io::Result<ExitCode> {
    let job = winjob::Job::new()?;
    say("job-ready");
    for k in 1..=n {
        let mut member = me_native();
        member.args(["tree", "1", "1", "600"]);
        // (Under Wine the library retries its transient error 1359.)
        let child = member.spawn_in(&job);
        // Dropping a `Child` neither kills nor waits: the member lives on in
        // the job, and only the job ends it.
        drop(child?);
        say(&format!("spawned {k}"));
    }
    say("all-spawned");
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// A fork bomb that only a process limit (or a kill) stops short of 4^DEPTH
/// leaves: each process starts 4 copies of itself one level shallower,
/// retrying a failed start every 5 ms for as long as it takes.
fn fork_bomb(depth: u32) -> io::Result<ExitCode> {
    let mut children = Vec::new();
    if depth > 0 {
        let next = (depth - 1).to_string();
        while children.len() < 4 {
            let started = me()
                .args(["fork-bomb", &next])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match started {
                Ok(child) => children.push(child),
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    }
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Writes `bytes` to stdout and as many to stderr, alternating 64 KiB
/// chunks, so that a reader that drains only one pipe deadlocks.
fn spew(bytes: usize) -> io::Result<ExitCode> {
    let chunk = vec![b'x'; 64 * 1024];
    let mut left = bytes;
    let (mut out, mut err) = (io::stdout().lock(), io::stderr().lock());
    while left > 0 {
        let n = left.min(chunk.len());
        out.write_all(&chunk[..n])?;
        err.write_all(&chunk[..n])?;
        left -= n;
    }
    out.flush()?;
    err.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `whereami` through winjob's own `Command`, in a job of this process: for
/// the tests of the spawn fallbacks, which are chosen per process by an
/// environment variable.
fn native_in_job(kill_on_drop: bool) -> io::Result<ExitCode> {
    let job = winjob::Job::builder().kill_on_drop(kill_on_drop).create()?;
    let mut child = me_native()
        .arg("whereami")
        .stdout(winjob::Stdio::piped())
        .spawn_in(&job)?;
    let mut out = String::new();
    io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut out)?;
    // Before the child is reaped: its process group lasts until then.
    #[cfg(target_os = "linux")]
    {
        use winjob::os::linux::{ChildExt, JobExt};
        say(&format!("method {}", winjob::Child::spawn_method()));
        if let Some(dir) = job.cgroup_path().and_then(|p| p.file_name()) {
            say(&format!("job-cgroup {}", dir.to_string_lossy()));
        }
        if let Some(pgid) = job.process_group() {
            say(&format!("job-pgid {pgid}"));
        }
    }
    let status = child.wait()?;
    print!("{out}");
    io::stdout().flush()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(105)
    })
}
