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
//!                                      ("in-job yes|no", plus "cgroup PATH" and
//!                                      "pgid N" on Linux), then exit 0
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
//! winjob-testbin owner [--no-kill-on-drop] DEPTH WIDTH
//!                                      create a job, spawn `tree DEPTH WIDTH 600`
//!                                      into it, print "member N" for each member
//!                                      once all are there, then "ready", then
//!                                      sleep until killed
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
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
        ["owner", "--no-kill-on-drop", depth, width] => {
            owner(false, number(depth)?, number(width)?)
        }
        ["owner", depth, width] => owner(true, number(depth)?, number(width)?),
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
fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn me() -> Command {
    Command::new(std::env::current_exe().expect("current_exe"))
}

fn tree(depth: u32, width: u32, secs: f64) -> io::Result<ExitCode> {
    say(&format!("pid {}", std::process::id()));
    let mut children = Vec::new();
    if depth > 0 {
        for _ in 0..width {
            let child = me()
                .args([
                    "tree",
                    &(depth - 1).to_string(),
                    &width.to_string(),
                    &secs.to_string(),
                ])
                .spawn()?;
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
    say(&format!("cgroup {v2}"));
    say(&format!("freezer {freezer}"));
    say(&format!("pgid {pgid}"));
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
    match command.spawn() {
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
    let mut child = job.spawn(
        me().args(["tree", &depth.to_string(), &width.to_string(), "600"])
            .stdout(Stdio::piped()),
    )?;
    let expected = tree_size(depth, width);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen < expected && Instant::now() < deadline {
        match lines.next() {
            Some(line) => {
                if line?.starts_with("pid ") {
                    seen += 1;
                }
            }
            None => break,
        }
    }
    for pid in job.pids()? {
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
