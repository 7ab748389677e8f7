//! The portable job lifecycle, run on every OS and in every mode: Windows
//! under Wine (and on real Windows), Linux natively in cgroup v2, cgroup v1
//! and process-group mode (the harness runs this binary once per mode with
//! `WINJOB_MODE`), and Linux in the pure cgroup v2 VM.
//!
//! Each test spawns the helper program (`src/main.rs`) and checks what the OS
//! says, never what the library says about itself alone: membership is read
//! by the child about itself, exit codes come from `Child::wait`.

mod common;

use std::io;
use std::process::Stdio;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use winjob::{Job, Stopped};

/// Whether the running mode supports opening jobs by name and moving
/// existing processes (everything but Linux process groups).
fn cgroup_like() -> bool {
    winjob::capabilities().unwrap().contained
}

#[test]
fn capabilities_name_a_mode() {
    let caps = winjob::capabilities().unwrap();
    println!("{caps}");
    assert!(!caps.reason.is_empty());
    #[cfg(windows)]
    assert_eq!(caps.mode, winjob::Mode::JobObject);
    #[cfg(target_os = "linux")]
    if let Some(expected) = std::env::var_os("WINJOB_MODE") {
        assert_eq!(caps.mode.as_str(), expected);
    }
}

/// The child checks its own membership as its first act.
#[test]
fn spawned_child_is_in_the_job_from_its_first_instruction() {
    let job = Job::new().unwrap();
    for _ in 0..5 {
        let mut child = job.spawn(&mut helper(&["whereami"])).unwrap();
        let lines = Lines::of(&mut child);
        #[cfg(windows)]
        assert_eq!(lines.value("in-job", LONG).as_deref(), Some("yes"));
        #[cfg(target_os = "linux")]
        {
            use winjob::os::linux::JobExt;
            let cgroup = lines.value("cgroup", LONG).unwrap();
            let freezer = lines.value("freezer", LONG).unwrap();
            let pgid: u32 = lines.value("pgid", LONG).unwrap().parse().unwrap();
            let job_dir = job.cgroup_path().map(|p| p.file_name().unwrap().to_owned());
            match job.mode() {
                winjob::Mode::CgroupV2 => {
                    assert!(
                        cgroup.ends_with(job_dir.unwrap().to_str().unwrap()),
                        "{cgroup}"
                    )
                }
                winjob::Mode::CgroupV1 => {
                    assert!(
                        freezer.ends_with(job_dir.unwrap().to_str().unwrap()),
                        "{freezer}"
                    )
                }
                _ => assert_eq!(Some(pgid), job.process_group()),
            }
        }
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn grandchildren_are_members() {
    let job = Job::new().unwrap();
    let mut child = KillOnDrop(job.spawn(&mut helper(&["tree", "2", "2", "30"])).unwrap());
    let printed = Lines::of(&mut child).pids(tree_size(2, 2), LONG);
    let mut expected = printed.clone();
    expected.sort_unstable();
    // The list that matched: under Wine a spawn the tree retried after error
    // 1359 can add a process that comes and goes.
    let mut members = Vec::new();
    let matched = eventually(LONG, || {
        members = job.pids().unwrap();
        members.sort_unstable();
        members == expected
    });
    assert!(matched, "members {members:?}, printed {expected:?}");
    for pid in printed {
        assert!(job.contains_pid(pid).unwrap(), "pid {pid} not in the job");
    }
    assert!(job.contains(&child).unwrap());
}

#[test]
fn a_process_outside_is_not_a_member() {
    let job = Job::new().unwrap();
    let outside = KillOnDrop(
        helper(&["sleep", "30"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(!job.contains(&outside).unwrap());
    assert!(!job.contains_pid(std::process::id()).unwrap());
}

#[test]
fn terminate_kills_children_and_grandchildren() {
    let job = Job::new().unwrap();
    let mut child = job.spawn(&mut helper(&["tree", "2", "3", "60"])).unwrap();
    let printed = Lines::of(&mut child).pids(tree_size(2, 3), LONG);
    assert_eq!(printed.len(), 13);
    job.terminate(42).unwrap();
    assert!(
        job.wait_timeout(LONG).unwrap(),
        "members left: {:?}",
        job.pids()
    );
    assert!(job.pids().unwrap().is_empty());
    let status = child.wait().unwrap();
    #[cfg(windows)]
    assert_eq!(status.code(), Some(42));
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "Linux kills with SIGKILL: {status:?}"
        );
    }
}

#[test]
fn wait_returns_once_the_whole_tree_has_exited() {
    let job = Job::new().unwrap();
    let started = Instant::now();
    // The leader waits for a tree of three that lives 0.8 s.
    let mut leader = job
        .spawn(&mut helper(&["spawn", "--", "tree", "1", "2", "0.8"]))
        .unwrap();
    let lines = Lines::of(&mut leader);
    lines.pids(3, LONG);
    assert!(job.wait_timeout(LONG).unwrap());
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "returned too early"
    );
    assert!(job.pids().unwrap().is_empty());
    leader.wait().unwrap();
    // And `wait` without a timeout returns at once now.
    job.wait().unwrap();
}

#[test]
fn wait_timeout_gives_up() {
    let job = Job::new().unwrap();
    let _child = KillOnDrop(job.spawn(&mut helper(&["sleep", "30"])).unwrap());
    let started = Instant::now();
    assert!(!job.wait_timeout(Duration::from_millis(200)).unwrap());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
    assert_eq!(job.pids().unwrap().len(), 1);
}

#[test]
fn an_empty_job_is_empty_at_once() {
    let job = Job::new().unwrap();
    assert!(job.pids().unwrap().is_empty());
    assert!(job.wait_timeout(Duration::ZERO).unwrap());
    job.wait().unwrap();
    job.terminate(0).unwrap();
}

#[test]
fn the_pid_list_has_no_fixed_cap() {
    let job = Job::new().unwrap();
    let width = 110;
    let mut child = KillOnDrop(
        job.spawn(&mut helper(&["tree", "1", &width.to_string(), "60"]))
            .unwrap(),
    );
    let lines = Lines::of(&mut child);
    let printed = lines.pids(tree_size(1, width), Duration::from_secs(60));
    assert!(
        eventually(LONG, || job.pids().unwrap().len() == 111),
        "{}",
        job.pids().unwrap().len()
    );
    let mut members = job.pids().unwrap();
    members.sort_unstable();
    let mut expected = printed;
    expected.sort_unstable();
    assert_eq!(members, expected);
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap());
}

#[test]
fn a_failed_spawn_leaves_nothing_behind() {
    let job = Job::new().unwrap();
    let error = job
        .spawn(&mut std::process::Command::new("winjob-no-such-program"))
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    assert!(job.pids().unwrap().is_empty());
    // The job still works afterwards.
    let mut child = job.spawn(&mut helper(&["exit", "3"])).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn the_exit_code_of_a_member_is_its_own() {
    let job = Job::new().unwrap();
    let mut child = job.spawn(&mut helper(&["exit", "7"])).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7));
    assert!(job.wait_timeout(LONG).unwrap());
}

#[test]
fn a_job_shared_between_threads_needs_no_lock() {
    let job = Arc::new(Job::new().unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let job = Arc::clone(&job);
            thread::spawn(move || {
                let mut children = Vec::new();
                for _ in 0..3 {
                    children.push(KillOnDrop(
                        job.spawn(&mut helper(&["sleep", "30"])).unwrap(),
                    ));
                    job.pids().unwrap();
                }
                children
            })
        })
        .collect();
    let children: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(eventually(LONG, || job.pids().unwrap().len() == 12));
    for child in &children {
        assert!(job.contains(child).unwrap());
    }
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap());
}

#[test]
fn a_job_without_kill_on_drop_leaves_its_members_running() {
    let job = Job::builder().kill_on_drop(false).create().unwrap();
    assert!(!job.kills_on_drop());
    let mut child = KillOnDrop(job.spawn(&mut helper(&["sleep", "30"])).unwrap());
    drop(job);
    thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the member died with the job"
    );
}

#[test]
fn kill_on_drop_is_the_default_and_kills_the_tree() {
    let job = Job::new().unwrap();
    assert!(job.kills_on_drop());
    let mut child = job.spawn(&mut helper(&["tree", "1", "2", "60"])).unwrap();
    Lines::of(&mut child).pids(3, LONG);
    drop(job);
    let started = Instant::now();
    assert!(eventually(LONG, || child.try_wait().unwrap().is_some()));
    println!("direct child gone {:?} after the drop", started.elapsed());
}

#[test]
fn stop_kills_what_does_not_exit_within_the_grace_period() {
    #[cfg(unix)]
    let job = Job::new().unwrap();
    #[cfg(windows)]
    let job = {
        use winjob::os::windows::JobBuilderExt;
        // Without its own console process group a child cannot be sent
        // CTRL_BREAK, and it has no window: it ignores every polite request.
        Job::builder().new_process_groups(false).create().unwrap()
    };
    #[cfg(unix)]
    let mut command = {
        let mut c = std::process::Command::new("sh");
        c.args(["-c", "trap '' TERM; echo pid $$; sleep 30 & wait"])
            .stdout(Stdio::piped());
        c
    };
    #[cfg(windows)]
    let mut command = helper(&["tree", "0", "0", "30"]);
    let mut child = job.spawn(&mut command).unwrap();
    Lines::of(&mut child).pids(1, LONG);
    let started = Instant::now();
    let stopped = job.stop(Duration::from_millis(300)).unwrap();
    assert_eq!(stopped, Stopped::Killed);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(job.pids().unwrap().is_empty());
    child.wait().unwrap();
}

#[test]
fn named_jobs_can_be_opened_and_clash() {
    let name = unique_name("named");
    if !cgroup_like() {
        let e = Job::builder().name(&name).create().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
        let e = Job::open(&name).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
        skip(
            "named_jobs_can_be_opened_and_clash",
            "process groups cannot be opened by name",
        );
        return;
    }
    let job = Job::builder().name(&name).create().unwrap();
    assert_eq!(job.name(), Some(name.as_str()));
    let clash = Job::builder().name(&name).create().unwrap_err();
    assert_eq!(clash.kind(), io::ErrorKind::AlreadyExists, "{clash}");
    let mut child = KillOnDrop(job.spawn(&mut helper(&["sleep", "30"])).unwrap());
    let opened = Job::open(&name).unwrap();
    assert_eq!(opened.name(), Some(name.as_str()));
    assert!(!opened.kills_on_drop());
    assert!(opened.contains(&child).unwrap());
    assert_eq!(opened.pids().unwrap(), vec![child.id()]);
    drop(opened);
    // Closing the opened handle does not end the job.
    assert!(child.try_wait().unwrap().is_none());
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap());
    child.wait().unwrap();
}

#[test]
fn opening_a_missing_job_is_not_found() {
    if !cgroup_like() {
        skip(
            "opening_a_missing_job_is_not_found",
            "process groups cannot be opened by name",
        );
        return;
    }
    let e = Job::open(&unique_name("missing")).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("winjob-test-missing"),
        "the message names the job: {e}"
    );
}

#[test]
fn an_existing_child_can_be_assigned() {
    let job = Job::new().unwrap();
    let mut child = KillOnDrop(helper(&["tree", "0", "0", "30"]).spawn().unwrap());
    Lines::of(&mut child).pids(1, LONG);
    assert!(!job.contains(&child).unwrap());
    match job.assign(&child) {
        Ok(()) => {}
        Err(e) if !cgroup_like() => {
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            return;
        }
        Err(e) => panic!("assign failed: {e}"),
    }
    assert!(job.contains(&child).unwrap());
    assert_eq!(job.pids().unwrap(), vec![child.id()]);
    job.terminate(5).unwrap();
    assert!(job.wait_timeout(LONG).unwrap());
}

#[test]
fn bad_input_is_refused_before_any_system_call() {
    let job = Job::new().unwrap();
    let invalid = |r: io::Result<()>, what: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
        e.to_string()
    };
    assert!(invalid(job.terminate(259), "exit 259").contains("259"));
    assert!(invalid(job.assign_pid(0), "pid 0").contains("pid 0"));
    assert!(invalid(job.contains_pid(0).map(drop), "contains 0").contains("pid 0"));
    assert!(invalid(job.wait_timeout(Duration::MAX).map(drop), "timeout").contains("timeout"));
    assert!(invalid(job.stop(Duration::MAX).map(drop), "grace").contains("grace"));
    for bad in ["", "nul\0inside", &"x".repeat(256)] {
        let msg = invalid(Job::builder().name(bad).create().map(drop), "name");
        assert!(msg.contains("job name"), "{msg}");
        let msg = invalid(Job::open(bad).map(drop), "open");
        assert!(msg.contains("job name"), "{msg}");
    }
    // The job is untouched by all of that.
    assert!(job.pids().unwrap().is_empty());
}

#[test]
fn a_pid_that_does_not_exist_is_not_found() {
    let job = Job::new().unwrap();
    // Larger than any pid Linux hands out (2^22) and not a multiple of 4,
    // which Windows pids always are.
    let pid = 0x7FFF_FFF1;
    let e = job.assign_pid(pid).unwrap_err();
    let expected = if cgroup_like() {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::Unsupported
    };
    assert_eq!(e.kind(), expected, "{e}");
    let e = job.contains_pid(pid).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
}

#[test]
fn an_exited_child_cannot_be_assigned() {
    let job = Job::new().unwrap();
    let mut child = helper(&["exit", "0"]).spawn().unwrap();
    child.wait().unwrap();
    let e = job.assign(&child).unwrap_err();
    let expected = if cgroup_like() {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::Unsupported
    };
    assert_eq!(e.kind(), expected, "{e}");
    assert!(job.pids().unwrap().is_empty());
}

/// A process puts itself in a job; what it starts afterwards is in the job
/// too. (Run in a helper: the test process must stay outside any job.)
#[test]
fn the_current_process_can_join_a_job() {
    let mut child = helper(&["assign-self"]).spawn().unwrap();
    let lines = Lines::of(&mut child);
    assert_eq!(lines.value("self-in-job", LONG).as_deref(), Some("yes"));
    let joined: u32 = lines.value("job-pid", LONG).unwrap().parse().unwrap();
    #[cfg(windows)]
    assert_eq!(lines.value("in-job", LONG).as_deref(), Some("yes"));
    #[cfg(target_os = "linux")]
    {
        let dir = lines.value("job-dir", LONG).unwrap();
        let group = lines.value("job-group", LONG).unwrap();
        let cgroup = lines.value("cgroup", LONG).unwrap();
        let freezer = lines.value("freezer", LONG).unwrap();
        let pgid: u32 = lines.value("pgid", LONG).unwrap().parse().unwrap();
        match winjob::capabilities().unwrap().mode {
            winjob::Mode::CgroupV2 => assert!(cgroup.ends_with(&format!("/{dir}")), "{cgroup}"),
            winjob::Mode::CgroupV1 => assert!(freezer.ends_with(&format!("/{dir}")), "{freezer}"),
            _ => assert_eq!(
                pgid.to_string(),
                group,
                "the grandchild is not in the joined group"
            ),
        }
    }
    let _ = joined;
    assert!(child.wait().unwrap().success());
}

/// `Job::processes` names each member and reports its CPU time and memory as
/// the OS measures them: a spinner's CPU time grows past 0.2 s while it runs.
#[test]
fn processes_are_named_and_their_cpu_time_grows() {
    let job = Job::new().unwrap();
    let sleeper = KillOnDrop(job.spawn(&mut helper(&["sleep", "30"])).unwrap());
    let spinner = KillOnDrop(job.spawn(&mut helper(&["spin", "20"])).unwrap());
    let expected_name = std::path::Path::new(env!("CARGO_BIN_EXE_winjob-testbin"))
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut last = Vec::new();
    // Wine measures nothing, so there is nothing to wait for there.
    let patience = if under_wine() {
        Duration::from_secs(1)
    } else {
        LONG
    };
    let grew = eventually(patience, || {
        last = job.processes().unwrap();
        last.iter()
            .find(|p| p.pid == spinner.0.id())
            .and_then(winjob::ProcessInfo::cpu_time)
            .is_some_and(|cpu| cpu >= Duration::from_millis(200))
    });
    for p in &last {
        println!("{p} {:?}", p.path);
    }
    let mut pids: Vec<u32> = last.iter().map(|p| p.pid).collect();
    pids.sort_unstable();
    let mut spawned = vec![sleeper.0.id(), spinner.0.id()];
    spawned.sort_unstable();
    assert_eq!(pids, spawned);
    for p in &last {
        assert_eq!(p.name.as_deref(), Some(expected_name.as_str()), "{p:?}");
        let path = p.path.as_ref().expect("the path of our own child");
        assert!(path.to_string_lossy().ends_with(&expected_name), "{p:?}");
    }
    if under_wine() {
        assert!(last.iter().all(|p| p.cpu_time().is_none()));
        skip(
            "processes_are_named_and_their_cpu_time_grows",
            "Wine's GetProcessTimes of another process is stale (a spinner that had run 1 s \
             showed 0.06 s), so CPU times are None there; names, paths and memory were checked",
        );
    } else {
        assert!(grew, "the spinner's CPU time never reached 0.2 s: {last:?}");
    }
    assert!(
        last.iter().all(|p| p.memory.is_some_and(|m| m > 0)),
        "{last:?}"
    );
    drop((sleeper, spinner));
    assert!(job.terminate(1).is_ok());
    assert!(job.wait_timeout(LONG).unwrap());
    assert_eq!(job.processes().unwrap(), Vec::new());
}
