//! Events: every member's start and exit, the job becoming empty, limits
//! hit; the subscription ending with the job; the async stream under two
//! executors. Checked against what the processes themselves printed (their
//! pids) and how they ended.

mod common;

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::*;
use winjob::{Event, Job, ProcessExit};

/// Reads events until `Empty`, failing the test after `timeout`.
fn until_empty(events: &winjob::Events, timeout: Duration) -> Vec<Event> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Some(Event::Empty) => {
                seen.push(Event::Empty);
                return seen;
            }
            Some(event) => seen.push(event),
            None => panic!("no Empty within {timeout:?}; saw {seen:?}"),
        }
    }
}

/// A tree of `width` children (or one process) that exits on its own: a
/// `NewProcess` for every member, an `ExitProcess` with exit code 0 for each
/// (Wine: where it says), and `Empty` once, last.
///
/// Under Wine a spawn in the tree may fail with the transient error 1359
/// after Wine created the process, which then comes and goes in the job
/// without printing its pid; the tree retries it and says `retry 1359`.
/// Such a process has its events too: at most one unprinted process per
/// retry is expected, and none where no spawn was retried.
fn tree_sequence(depth: u32, width: u32) {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let count = tree_size(depth, width);
    let mut root = job
        .spawn(&mut helper(&[
            "tree",
            &depth.to_string(),
            &width.to_string(),
            "1",
        ]))
        .unwrap();
    let (printed, retries) = Lines::of(&mut root).pids_and_retries(count, Duration::from_secs(60));
    let printed: HashSet<u32> = printed.into_iter().collect();
    let seen = until_empty(&events, Duration::from_secs(60));
    root.wait().unwrap();
    let new: HashSet<u32> = seen
        .iter()
        .filter_map(|e| match e {
            Event::NewProcess { pid } => Some(*pid),
            _ => None,
        })
        .collect();
    let exits: HashMap<u32, Option<ProcessExit>> = seen
        .iter()
        .filter_map(|e| match e {
            Event::ExitProcess { pid, exit } => Some((*pid, *exit)),
            _ => None,
        })
        .collect();
    assert!(
        new.is_superset(&printed),
        "NewProcess for every member: missing {:?}",
        printed.difference(&new).collect::<Vec<_>>()
    );
    let unprinted: HashSet<u32> = new.difference(&printed).copied().collect();
    assert!(
        unprinted.len() <= retries,
        "NewProcess for exactly the members and the {retries} spawn(s) Wine failed and the tree \
         retried: {unprinted:?} are neither"
    );
    let exited: HashSet<u32> = exits.keys().copied().collect();
    assert!(
        exited.is_superset(&printed),
        "ExitProcess for every member: missing {:?}",
        printed.difference(&exited).collect::<Vec<_>>()
    );
    assert!(
        exited.is_subset(&new),
        "ExitProcess only for processes that started: {:?}",
        exited.difference(&new).collect::<Vec<_>>()
    );
    // The exit of a process Wine created for a failed spawn is Wine's.
    let lost = seen.contains(&Event::MessagesLost);
    for (pid, exit) in exits.iter().filter(|(pid, _)| printed.contains(pid)) {
        match exit {
            Some(exit) => assert_eq!(*exit, ProcessExit::Code(0), "pid {pid}"),
            // Windows cannot always open an exited process to read its code.
            None if cfg!(windows) => {}
            // The proc connector overflowed (the whole system's process
            // events share its buffer) and said so: the exits it dropped
            // are known only from the member list.
            None if lost => {}
            None => panic!("Linux knows every exit code, unless messages were lost: pid {pid}"),
        }
    }
    assert_eq!(seen.iter().filter(|e| **e == Event::Empty).count(), 1);
    // Every member's events come before Empty, and its start before its exit.
    for pid in &printed {
        let start = seen
            .iter()
            .position(|e| *e == Event::NewProcess { pid: *pid })
            .unwrap();
        let end = seen
            .iter()
            .position(|e| matches!(e, Event::ExitProcess { pid: p, .. } if p == pid))
            .unwrap();
        assert!(start < end, "pid {pid}: exit before start in {seen:?}");
    }
    println!(
        "tree of {count}: {} events, Empty last; {retries} spawn(s) retried after Wine's error \
         1359, {} process(es) of those in the job",
        seen.len(),
        unprinted.len()
    );
}

#[test]
fn one_process_starts_exits_and_empties_the_job() {
    tree_sequence(0, 0);
}

#[test]
fn ten_processes_start_exit_and_empty_the_job() {
    tree_sequence(1, 9);
}

#[test]
fn two_hundred_processes_start_exit_and_empty_the_job() {
    tree_sequence(1, 199);
}

#[test]
fn the_subscription_ends_with_the_job() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let other = job.events().unwrap();
    let mut child = job.spawn(&mut helper(&["exit", "5"])).unwrap();
    child.wait().unwrap();
    let seen = until_empty(&events, LONG);
    assert!(
        seen.contains(&Event::ExitProcess {
            pid: child.id(),
            exit: Some(ProcessExit::Code(5))
        }) || cfg!(windows)
    );
    drop(job);
    assert_eq!(events.recv_timeout(LONG), None);
    assert!(events.is_closed());
    // The other subscription got the same events, then the end.
    let rest: Vec<Event> = other.collect();
    assert_eq!(rest, seen);
}

#[cfg(target_os = "linux")]
#[test]
fn empty_follows_the_last_exit_in_cgroup_v2() {
    let caps = winjob::capabilities().unwrap();
    if caps.mode != winjob::Mode::CgroupV2 {
        skip(
            "empty_follows_the_last_exit_in_cgroup_v2",
            "only cgroup v2 raises an event when a job empties; other modes poll every 200 ms",
        );
        return;
    }
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let mut child = job.spawn(&mut helper(&["sleep", "0.3"])).unwrap();
    assert_eq!(
        events.recv_timeout(LONG),
        Some(Event::NewProcess { pid: child.id() })
    );
    child.wait().unwrap();
    let exited = Instant::now();
    let seen = until_empty(&events, LONG);
    let latency = exited.elapsed();
    // How soon depends on the machine's load: the figure is printed, and
    // `cargo xtask bench` measures the same path (`Job::wait` after an exit).
    println!("Empty {latency:?} after the exit was reaped; events {seen:?}");
    assert_eq!(
        seen.last(),
        Some(&Event::Empty),
        "Empty comes last: {seen:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_crash_is_an_abnormal_exit() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let mut child = job
        .spawn(std::process::Command::new("sh").args(["-c", "kill -SEGV $$"]))
        .unwrap();
    child.wait().unwrap();
    let seen = until_empty(&events, LONG);
    assert!(
        seen.contains(&Event::AbnormalExitProcess {
            pid: child.id(),
            exit: Some(ProcessExit::Signal(11))
        }),
        "{seen:?}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_memory_limit_hit_is_an_event() {
    let limits = winjob::Limits::new().job_memory(64 << 20);
    let Ok(job) = Job::builder().limits(limits).create() else {
        skip(
            "a_memory_limit_hit_is_an_event",
            "no memory controller in this mode",
        );
        return;
    };
    let events = job.events().unwrap();
    let mut child = job.spawn(&mut helper(&["eat-memory", "512"])).unwrap();
    child.wait().unwrap();
    let seen = until_empty(&events, LONG);
    assert!(seen.contains(&Event::JobMemoryLimit), "{seen:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_process_limit_hit_is_an_event() {
    let limits = winjob::Limits::new().active_processes(3);
    let Ok(job) = Job::builder().limits(limits).create() else {
        skip(
            "a_process_limit_hit_is_an_event",
            "no pids controller in this mode",
        );
        return;
    };
    let events = job.events().unwrap();
    // The children live until the job ends, so the third fork meets the
    // limit however slowly the first two start.
    let mut parent = job.spawn(&mut helper(&["fork", "5", "600"])).unwrap();
    assert_eq!(
        Lines::of(&mut parent).value("fork-error", LONG).as_deref(),
        Some("11")
    );
    job.terminate(1).unwrap();
    parent.wait().unwrap();
    let seen = until_empty(&events, LONG);
    assert!(seen.contains(&Event::ActiveProcessLimit), "{seen:?}");
}

/// The async stream delivers what the blocking iterator does, under two
/// unrelated executors.
#[test]
fn the_stream_works_under_two_executors() {
    fn next(events: &mut winjob::Events) -> impl std::future::Future<Output = Option<Event>> + '_ {
        std::future::poll_fn(move |cx| futures_core::Stream::poll_next(Pin::new(&mut *events), cx))
    }
    async fn sequence(job: &Job, events: &mut winjob::Events) -> Vec<Event> {
        let mut child = job.spawn(&mut helper(&["exit", "0"])).unwrap();
        let mut seen = Vec::new();
        while let Some(event) = next(events).await {
            let done = event == Event::Empty;
            seen.push(event);
            if done {
                break;
            }
        }
        child.wait().unwrap();
        seen
    }
    let job = Job::new().unwrap();
    let mut events = job.events().unwrap();
    let with_futures = futures_executor::block_on(sequence(&job, &mut events));
    let with_pollster = pollster::block_on(sequence(&job, &mut events));
    for seen in [&with_futures, &with_pollster] {
        assert!(
            matches!(seen.first(), Some(Event::NewProcess { .. })),
            "{seen:?}"
        );
        assert_eq!(seen.last(), Some(&Event::Empty));
    }
    // The same sequence both times (a `MessagesLost`, should the system's
    // process events overflow the connector, is not the executor's doing).
    let shape = |seen: &[Event]| -> Vec<std::mem::Discriminant<Event>> {
        seen.iter()
            .filter(|e| **e != Event::MessagesLost)
            .map(std::mem::discriminant)
            .collect()
    };
    assert_eq!(shape(&with_futures), shape(&with_pollster));
}

/// Twenty watched jobs share one event engine: at most one thread more than
/// before any was watched, and none left once they are dropped. Counted in a
/// helper process, where no other test runs threads.
#[cfg(target_os = "linux")]
#[test]
fn no_thread_is_left_after_the_job() {
    let mut child = helper(&["monitor-threads"]).spawn().unwrap();
    let lines = Lines::of(&mut child);
    let threads =
        |lines: &Lines| -> usize { lines.value("threads", LONG).unwrap().parse().unwrap() };
    let before = threads(&lines);
    let watching = threads(&lines);
    assert_eq!(lines.value("ended", LONG).as_deref(), Some("true"));
    let after = threads(&lines);
    assert!(
        watching <= before + 1,
        "{watching} threads while 20 jobs are watched, {before} before: one engine for all expected"
    );
    assert_eq!(after, before, "a thread outlived the watched jobs");
    assert!(child.wait().unwrap().success());
}
