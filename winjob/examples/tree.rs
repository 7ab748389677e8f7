//! Spawns a process tree into a job, shows its members, kills it, and shows
//! that none survive.
//!
//! ```text
//! cargo run -p winjob --example tree [DEPTH] [WIDTH]
//! ```
//!
//! The tree is this same program, started with `node DEPTH WIDTH`: each node
//! starts WIDTH children (one level less deep) and sleeps. The default is
//! depth 2, width 3: 13 processes.

use std::io::{self, BufRead, BufReader, Write};
use std::thread;
use std::time::{Duration, Instant};

use winjob::Job;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("node") {
        return node(number(args.get(1), 0), number(args.get(2), 0));
    }
    let depth = number(args.first(), 2);
    let width = number(args.get(1), 3);
    let expected: u32 = (0..=depth).map(|d| width.pow(d)).sum();

    let caps = winjob::capabilities()?;
    println!("jobs on this machine: {} ({})", caps.mode, caps.reason);

    let job = Job::new()?;
    let started = Instant::now();
    // winjob's own Command: the root is born in the job.
    let mut root = winjob::Command::new(std::env::current_exe()?)
        .args(["node", &depth.to_string(), &width.to_string()])
        .stdout(winjob::Stdio::piped())
        .spawn_in(&job)?;

    // Every node prints its pid once it runs; wait for all of them.
    let stdout = root.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    while printed.len() < expected as usize {
        match lines.next() {
            Some(line) => printed.push(line?.parse::<u32>().map_err(io::Error::other)?),
            None => return Err(io::Error::other("the tree stopped before it was complete")),
        }
    }
    let mut members = job.pids()?;
    members.sort_unstable();
    println!(
        "spawned a tree of {expected} processes (depth {depth}, width {width}) in {:.0?}",
        started.elapsed()
    );
    println!("members of the job: {members:?}");

    let killed = Instant::now();
    job.terminate(1)?;
    job.wait()?;
    let status = root.wait()?;
    println!(
        "terminated the job; empty after {:.1?}; root process: {status}",
        killed.elapsed()
    );

    let left = job.pids()?;
    println!("members left in the job: {left:?}");
    let alive: Vec<u32> = printed
        .iter()
        .copied()
        .filter(|&pid| still_running(pid))
        .collect();
    if cfg!(target_os = "linux") {
        println!("processes of the tree still running, by /proc: {alive:?}");
    }
    if left.is_empty() && alive.is_empty() {
        println!("none survived");
        Ok(())
    } else {
        Err(io::Error::other("some processes survived"))
    }
}

fn number(arg: Option<&String>, default: u32) -> u32 {
    arg.and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// One node of the tree: print the own pid, start the children, sleep.
fn node(depth: u32, width: u32) -> io::Result<()> {
    println!("{}", std::process::id());
    io::stdout().flush()?;
    let mut children = Vec::new();
    if depth > 0 {
        for _ in 0..width {
            // winjob's Command outside any job: the child is in this node's
            // job anyway, as everything a member starts is. (Under Wine the
            // library also retries Wine's transient CreateProcess error.)
            children.push(
                winjob::Command::new(std::env::current_exe()?)
                    .args(["node", &(depth - 1).to_string(), &width.to_string()])
                    .spawn()?,
            );
        }
    }
    thread::sleep(Duration::from_secs(600));
    for mut child in children {
        child.wait()?;
    }
    Ok(())
}

/// Linux: the process exists in /proc and is not a zombie. On Windows the
/// job's member list, which includes every descendant, is the check.
fn still_running(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    } else {
        false
    }
}
