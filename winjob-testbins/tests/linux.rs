//! Linux-specific behaviour: the owner's death, the guardian, the cgroup
//! directory, escapes from process groups, and mode selection. Run natively
//! in every mode (the harness sets `WINJOB_MODE`) and in the cgroup v2 VM.
//! Liveness is read from `/proc`, not from the library.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use winjob::os::linux::{JobBuilderExt, JobExt};
use winjob::{Job, Limits, Mode};

/// True while `/proc/<pid>` shows a process that is not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

fn mode() -> Mode {
    winjob::capabilities().unwrap().mode
}

/// True (and the test reported skipped) in process-group mode, where jobs
/// have no guardian.
fn no_guardian(test: &str) -> bool {
    let none = mode() == Mode::ProcessGroup;
    if none {
        skip(
            test,
            "a process-group job has no guardian: its anchor kills the group when the owner \
             dies (a member that kills the anchor could as well leave with setsid)",
        );
    }
    none
}

/// The pids of the guardian processes that are children of this process.
fn guardians() -> Vec<u32> {
    guardians_of(std::process::id())
}

/// The owner (a separate process holding a kill-on-drop job) is killed with
/// SIGKILL: no member of its tree survives, in every mode. How soon they die
/// depends on the machine's load (printed); the deadline is against a hang.
#[test]
fn killing_the_owner_kills_the_tree() {
    let mut owner = KillOnDrop(helper(&["owner", "2", "2"]).spawn().unwrap());
    let lines = Lines::of(&mut owner);
    let mut members = Vec::new();
    loop {
        let line = lines.next(LONG).expect("owner stopped talking");
        if line == "ready" {
            break;
        }
        if let Some(pid) = line.strip_prefix("member ") {
            members.push(pid.parse::<u32>().unwrap());
        }
    }
    assert_eq!(members.len(), tree_size(2, 2), "{members:?}");
    assert!(members.iter().all(|&p| alive(p)));
    owner.kill().unwrap(); // SIGKILL: no destructor runs in the owner
    let killed = Instant::now();
    let all_dead = eventually(LONG, || members.iter().all(|&p| !alive(p)));
    let survivors: Vec<_> = members.iter().filter(|&&p| alive(p)).collect();
    assert!(
        all_dead,
        "alive {LONG:?} after the owner was killed: {survivors:?}"
    );
    println!(
        "tree of {} gone {:?} after SIGKILL of the owner",
        members.len(),
        killed.elapsed()
    );
}

/// Without kill-on-drop, the owner's death leaves the tree alone.
#[test]
fn an_owner_without_kill_on_drop_leaves_the_tree_running() {
    let mut owner = KillOnDrop(
        helper(&["owner", "--no-kill-on-drop", "1", "1"])
            .spawn()
            .unwrap(),
    );
    let lines = Lines::of(&mut owner);
    let mut members = Vec::new();
    while let Some(line) = lines.next(LONG) {
        if line == "ready" {
            break;
        }
        if let Some(pid) = line.strip_prefix("member ") {
            members.push(pid.parse::<u32>().unwrap());
        }
    }
    assert_eq!(members.len(), 2);
    owner.kill().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        members.iter().all(|&p| alive(p)),
        "members died with the owner"
    );
    for pid in members {
        kill(pid);
    }
}

fn kill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
}

#[test]
fn dropping_the_job_kills_grandchildren_and_removes_the_directory() {
    let job = Job::new().unwrap();
    let dir = job.cgroup_path().map(ToOwned::to_owned);
    let mut child = job.spawn(&mut helper(&["tree", "2", "2", "60"])).unwrap();
    let pids = Lines::of(&mut child).pids(7, LONG);
    drop(job);
    // Drop returns once the job is empty; a process that left its cgroup
    // may still be on its way to becoming a zombie, and on a busy machine
    // the guardian may finish the removal.
    let gone = eventually(LONG, || pids.iter().all(|&p| !alive(p)));
    let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
    assert!(gone, "alive after drop: {left:?}");
    if let Some(dir) = dir {
        assert!(
            eventually(LONG, || !dir.exists()),
            "{} is still there",
            dir.display()
        );
    }
    child.wait().unwrap();
}

#[test]
fn the_job_directory_is_owner_only() {
    let job = Job::new().unwrap();
    let Some(dir) = job.cgroup_path() else {
        skip(
            "the_job_directory_is_owner_only",
            "process-group mode has no directory",
        );
        return;
    };
    let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());
    assert!(job.cgroup_fd().is_some());
    assert_eq!(job.mode(), self::mode());
}

/// A member that leaves its process group with setsid escapes a
/// process-group job, and cannot escape a cgroup job.
#[test]
fn setsid_escapes_only_process_groups() {
    let job = Job::new().unwrap();
    let mut leader = job
        .spawn(&mut helper(&["spawn", "--", "escape", "60"]))
        .unwrap();
    let escapee = Lines::of(&mut leader).pids(1, LONG)[0];
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap());
    leader.wait().unwrap();
    let caps = winjob::capabilities().unwrap();
    if caps.contained {
        assert!(eventually(LONG, || !alive(escapee)), "escaped a cgroup");
    } else {
        assert!(
            alive(escapee),
            "process groups cannot hold a setsid'd process"
        );
        kill(escapee);
        println!("as documented: pid {escapee} escaped the process-group job with setsid");
    }
}

/// The child moves itself before exec; if the move fails, the program never
/// runs (fail-closed).
#[test]
fn a_spawn_into_a_removed_cgroup_fails_and_runs_nothing() {
    let job = Job::builder().kill_on_drop(false).create().unwrap();
    let Some(dir) = job.cgroup_path().map(ToOwned::to_owned) else {
        skip(
            "a_spawn_into_a_removed_cgroup_fails_and_runs_nothing",
            "no cgroup",
        );
        return;
    };
    fs::remove_dir(&dir).unwrap();
    let marker = std::env::temp_dir().join(unique_name("ran"));
    let mut command = std::process::Command::new("sh");
    command.args(["-c", &format!("touch {}", marker.display())]);
    let e = job.spawn(&mut command).unwrap_err();
    println!("spawn into a removed cgroup: {e}");
    // ENOENT opening the directory's cgroup.procs, or ENODEV from the move
    // itself (the directory went between the two).
    assert!(
        matches!(e.raw_os_error(), Some(2 | 19)),
        "ENOENT or ENODEV expected: {e}"
    );
    assert!(!marker.exists(), "the program ran outside the job");
}

/// `Job::spawn` leaves the caller's `Command` working as it did: spawned
/// again on its own, it runs outside the job and without the job's limits,
/// while the job lives and once it is gone (the `pre_exec` hook stays on
/// it, disarmed). Process-group mode leaves the process group set, as
/// documented: a later spawn fails once the group is gone.
#[test]
fn a_command_spawned_into_a_job_runs_outside_it_afterwards() {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let job = Job::builder()
        .limits(Limits::new().process_memory(256 << 20))
        .create()
        .unwrap();
    let mut command = std::process::Command::new("sh");
    // The address-space limit (KiB), then the cgroups.
    command
        .args(["-c", "ulimit -v; cat /proc/self/cgroup"])
        .stdout(Stdio::piped());
    let run = |command: &mut std::process::Command| -> io::Result<String> {
        let out = command.output()?;
        assert!(out.status.success(), "{out:?}");
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let inside = job.spawn(&mut command).unwrap().wait_with_output().unwrap();
    let inside = String::from_utf8_lossy(&inside.stdout).into_owned();
    let (limit, cgroups) = inside.split_once('\n').unwrap();
    assert_eq!(limit, "262144", "the job's process_memory: {inside}");
    if job.cgroup_path().is_some() {
        assert_ne!(cgroups, own, "the child was not in the job");
    }
    let mut job = Some(job);
    for when in ["while the job lives", "once the job is gone"] {
        if when == "once the job is gone" {
            drop(job.take());
        }
        match run(&mut command) {
            Ok(outside) => {
                assert_eq!(outside, format!("unlimited\n{own}"), "{when}");
            }
            // The group's leader has exited: the group is gone.
            Err(e) if mode() == Mode::ProcessGroup => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{when}: {e}");
            }
            Err(e) => panic!("{when}: {e}"),
        }
    }
}

/// A killed guardian is replaced at the next registration, and the new one
/// knows every live job.
#[test]
fn a_killed_guardian_is_replaced() {
    if no_guardian("a_killed_guardian_is_replaced") {
        return;
    }
    // Keep a kill-on-drop job with a member alive, so that a guardian exists.
    let first = Job::new().unwrap();
    let _member = KillOnDrop(first.spawn(&mut helper(&["sleep", "30"])).unwrap());
    let before = guardians();
    assert!(!before.is_empty(), "no guardian is running");
    for pid in &before {
        kill(*pid);
    }
    // Other tests may start the replacement meanwhile: wait only for the
    // killed ones to be gone.
    assert!(eventually(LONG, || before.iter().all(|&p| !alive(p))));
    let second = Job::new().unwrap();
    let mut child = KillOnDrop(second.spawn(&mut helper(&["sleep", "30"])).unwrap());
    let after = guardians();
    assert_eq!(after.len(), 1, "one guardian per process: {after:?}");
    assert!(
        !before.contains(&after[0]),
        "the killed guardian is still listed"
    );
    drop(second);
    assert!(eventually(LONG, || child.try_wait().unwrap().is_some()));
    drop(first);
}

#[test]
fn modes_can_be_chosen_per_job() {
    let job = Job::builder().mode(Mode::ProcessGroup).create().unwrap();
    assert_eq!(job.mode(), Mode::ProcessGroup);
    assert!(job.cgroup_path().is_none());
    let mut child = job.spawn(&mut helper(&["whereami"])).unwrap();
    let pgid: u32 = Lines::of(&mut child)
        .value("pgid", LONG)
        .unwrap()
        .parse()
        .unwrap();
    // Led by the job's anchor, not by the first member.
    assert_eq!(Some(pgid), job.process_group());
    assert_ne!(pgid, child.id());
    child.wait().unwrap();

    let e = Job::builder().mode(Mode::JobObject).create().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

#[test]
fn a_cgroup_root_outside_cgroupfs_is_refused() {
    let e = Job::builder()
        .cgroup_root(std::env::temp_dir())
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("not in a cgroup filesystem"), "{e}");
    let e = Job::builder()
        .cgroup_root("/no/such/dir")
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

#[test]
fn linux_name_rules() {
    for bad in ["a/b", ".hidden", "tab\there"] {
        let e = Job::builder().name(bad).create().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {e}");
    }
    // The names of a cgroup's own files: refused as such, not as a job that
    // exists (which is what mkdir would say).
    for reserved in ["cgroup.procs", "memory.max", "pids.events", "tasks"] {
        let e = Job::builder().name(reserved).create().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{reserved:?}: {e}");
        assert!(e.to_string().contains("reserved"), "{reserved:?}: {e}");
    }
    // A name that merely contains a dot is fine.
    let name = format!("{}.d", unique_name("dotted"));
    match Job::builder().name(&name).create() {
        Ok(job) => assert_eq!(job.name(), Some(name.as_str())),
        Err(e) => assert_eq!(mode(), Mode::ProcessGroup, "{name:?}: {e}"),
    }
}

/// `pids.max` takes at most the kernel's PID_MAX_LIMIT: a larger process
/// limit is refused as bad input before anything is written, naming the
/// bound, in every mode.
#[test]
fn a_process_limit_above_pid_max_limit_is_refused() {
    let e = Job::builder()
        .limits(Limits::new().active_processes(4_194_305))
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("4194304"), "{e}");
    assert!(e.to_string().starts_with("active_processes "), "{e}");
}

/// Members that exit on SIGTERM are not killed.
#[test]
fn stop_lets_members_exit_gracefully() {
    let job = Job::new().unwrap();
    let mut child = job.spawn(&mut helper(&["tree", "1", "2", "60"])).unwrap();
    Lines::of(&mut child).pids(3, LONG);
    let stopped = job.stop(LONG).unwrap();
    assert_eq!(stopped, winjob::Stopped::Gracefully);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(15), "SIGTERM expected");
}

#[test]
fn a_process_outside_the_job_is_not_listed() {
    let job = Job::new().unwrap();
    let _outside = KillOnDrop(
        helper(&["sleep", "30"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _inside = KillOnDrop(job.spawn(&mut helper(&["sleep", "30"])).unwrap());
    assert_eq!(job.pids().unwrap().len(), 1);
}

/// A job opened by name whose directory is removed (its creator dropped it
/// once empty, as the guardian does for a kept job) is empty: `stop` and
/// `wait` say so instead of failing to open `cgroup.events`.
#[test]
fn a_job_whose_directory_was_removed_is_empty() {
    if mode() == Mode::ProcessGroup {
        skip(
            "a_job_whose_directory_was_removed_is_empty",
            "process groups cannot be opened by name",
        );
        return;
    }
    let name = unique_name("gone");
    let creator = Job::builder()
        .name(&name)
        .kill_on_drop(false)
        .create()
        .unwrap();
    let dir = creator.cgroup_path().unwrap().to_owned();
    let opened = Job::open(&name).unwrap();
    let mut child = creator.spawn(&mut helper(&["exit", "0"])).unwrap();
    assert!(child.wait().unwrap().success());
    drop(creator);
    assert!(
        eventually(LONG, || !dir.exists()),
        "{} was not removed",
        dir.display()
    );
    assert!(opened.wait_timeout(Duration::ZERO).unwrap());
    assert_eq!(
        opened.stop(Duration::from_secs(1)).unwrap(),
        winjob::Stopped::Gracefully
    );
    assert_eq!(opened.pids().unwrap(), Vec::<u32>::new());
}

/// The pids of the guardian processes whose parent is `parent`.
fn guardians_of(parent: u32) -> Vec<u32> {
    processes_with_arg(b"winjob-guardian")
        .into_iter()
        .filter(|&(_, ppid)| ppid == parent)
        .map(|(pid, _)| pid)
        .collect()
}

/// Live processes with `arg` among their arguments: (pid, parent pid).
fn processes_with_arg(arg: &[u8]) -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid
            && cmdline.split(|b| *b == 0).any(|a| a == arg)
            && alive(pid)
        {
            found.push((pid, ppid));
        }
    }
    found
}

/// What the `owner` helper printed before `ready`: its job's directory
/// (cgroup modes) and the members.
struct Owner {
    process: KillOnDrop,
    dir: Option<std::path::PathBuf>,
    members: Vec<u32>,
}

fn start_owner(args: &[&str], env: &[(&str, &str)]) -> Owner {
    let mut command = helper(args);
    if !env.is_empty() {
        // Nothing of this environment but the library's own settings (the
        // suite's mode and job root).
        command.env_clear();
        for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("WINJOB_")) {
            command.env(k, v);
        }
        for (k, v) in env {
            command.env(k, v);
        }
    }
    let mut process = KillOnDrop(command.spawn().unwrap());
    let (dir, members) = read_owner(&mut process);
    Owner {
        process,
        dir,
        members,
    }
}

/// Reads what the `owner` helper prints up to `ready`: its job's directory
/// (cgroup modes) and its members' pids.
fn read_owner(owner: &mut std::process::Child) -> (Option<std::path::PathBuf>, Vec<u32>) {
    let lines = Lines::of(owner);
    let (mut dir, mut members) = (None, Vec::new());
    loop {
        let line = lines.next(LONG).expect("owner stopped talking");
        if line == "ready" {
            return (dir, members);
        }
        if let Some(pid) = line.strip_prefix("member ") {
            members.push(pid.parse::<u32>().unwrap());
        }
        if let Some(path) = line.strip_prefix("job-dir ") {
            dir = Some(std::path::PathBuf::from(path));
        }
    }
}

/// A member that makes a cgroup inside its job and moves into it: the job
/// is killed and its directory removed all the same, depth first.
#[test]
fn a_member_making_sub_cgroups_leaves_nothing_behind() {
    let job = Job::new().unwrap();
    let Some(dir) = job.cgroup_path().map(std::path::Path::to_owned) else {
        println!(
            "skipped: a_member_making_sub_cgroups_leaves_nothing_behind: no cgroup in {} mode",
            mode()
        );
        return;
    };
    let script = format!(
        "mkdir {0}/sub && mkdir {0}/sub/deeper && echo $$ > {0}/sub/deeper/cgroup.procs \
         && echo moved && exec sleep 300",
        dir.display()
    );
    let mut member = KillOnDrop(
        job.spawn(
            std::process::Command::new("/bin/sh")
                .args(["-c", &script])
                .stdout(Stdio::piped()),
        )
        .unwrap(),
    );
    let pid = member.id();
    let lines = Lines::of(&mut member);
    assert_eq!(lines.next(LONG).as_deref(), Some("moved"));
    assert!(dir.join("sub/deeper").is_dir());
    drop(job);
    assert!(eventually(LONG, || !alive(pid)), "the member survived");
    assert!(!dir.exists(), "left behind: {}", dir.display());
}

/// A job inside a job (the owner helper runs in the outer job and makes its
/// own, whose root is then inside the outer job's directory): killing the
/// inner owner, then dropping the outer job, leaves nothing, in whatever
/// order the two sides end.
#[test]
fn nested_jobs_leave_nothing_behind() {
    for kill_inner_first in [true, false] {
        let outer = Job::new().unwrap();
        let Some(outer_dir) = outer.cgroup_path().map(std::path::Path::to_owned) else {
            println!(
                "skipped: nested_jobs_leave_nothing_behind: no cgroup in {} mode",
                mode()
            );
            return;
        };
        let mut owner = KillOnDrop(
            outer
                .spawn(helper(&["owner", "1", "2"]).stdout(Stdio::piped()))
                .unwrap(),
        );
        let (inner_dir, members) = read_owner(&mut owner);
        let _members = KillAll(members.clone());
        let inner_dir = inner_dir.expect("the inner job's directory");
        assert!(
            inner_dir.starts_with(&outer_dir),
            "{} is not inside {}",
            inner_dir.display(),
            outer_dir.display()
        );
        if kill_inner_first {
            owner.kill().unwrap();
            assert!(
                eventually(LONG, || !inner_dir.exists()),
                "the inner job stayed"
            );
        }
        drop(outer);
        assert!(
            eventually(LONG, || members.iter().all(|&p| !alive(p))),
            "members survived"
        );
        assert!(
            !outer_dir.exists(),
            "left behind (inner killed first: {kill_inner_first}): {}",
            outer_dir.display()
        );
    }
}

/// A job tree whose owner and guardian are gone (a crash) is swept when a
/// process next opens the job root, nested directories included.
#[test]
fn stale_job_trees_are_swept_when_the_root_is_opened() {
    let Some(root) = winjob::capabilities().unwrap().job_root else {
        println!(
            "skipped: stale_job_trees_are_swept_when_the_root_is_opened: no job root in {} mode",
            mode()
        );
        return;
    };
    // Pids of processes that have exited.
    let dead = || {
        let mut c = std::process::Command::new("/bin/true").spawn().unwrap();
        c.wait().unwrap();
        c.id()
    };
    let stale = root.join(format!(".anon-{}-7", dead()));
    let nested = stale.join("winjob").join(format!(".anon-{}-1", dead()));
    fs::create_dir_all(nested.join("deeper")).unwrap();
    // A fresh process opens the root: its first job sweeps it.
    let out = helper(&["native-in-job"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!stale.exists(), "not swept: {}", stale.display());
}

/// The guardian takes nothing from its owner's environment: with `PATH`
/// pointing nowhere (and nothing else set), a killed owner's tree is still
/// killed and its directory removed; a job that is not kill-on-drop is
/// removed once its last process has exited, and meanwhile the guardian
/// waits without spinning.
#[test]
fn the_guardian_needs_no_path() {
    let env = [("PATH", "/nonexistent")];
    let mut owner = start_owner(&["owner", "1", "2"], &env);
    let _members = KillAll(owner.members.clone());
    owner.process.kill().unwrap();
    assert!(
        eventually(LONG, || owner.members.iter().all(|&p| !alive(p))),
        "members survived the owner"
    );
    if let Some(dir) = &owner.dir {
        assert!(
            eventually(LONG, || !dir.exists()),
            "{} stayed",
            dir.display()
        );
    }

    let mut kept = start_owner(&["owner", "--no-kill-on-drop", "1", "1"], &env);
    // Killed whatever happens below.
    let _members = KillAll(kept.members.clone());
    let owner_pid = kept.process.id();
    let guardian = guardians_of(owner_pid);
    // A process-group job has no directory: nothing to tell a guardian.
    let expected = usize::from(kept.dir.is_some());
    assert_eq!(guardian.len(), expected, "{guardian:?}");
    kept.process.kill().unwrap();
    let _ = kept.process.wait();
    // The members run on; the guardian (or its subshell) waits for them.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(kept.members.iter().all(|&p| alive(p)), "members died");
    let busy: Vec<(u32, f64)> = processes_with_arg(b"winjob-guardian")
        .into_iter()
        .filter(|&(_, ppid)| ppid != std::process::id())
        .map(|(pid, _)| (pid, cpu_seconds(pid, Duration::from_secs(1))))
        .filter(|&(_, cpu)| cpu > 0.3)
        .collect();
    assert!(busy.is_empty(), "guardians spinning: {busy:?}");
    for &pid in &kept.members {
        kill(pid);
    }
    if let Some(dir) = &kept.dir {
        assert!(
            eventually(LONG, || !dir.exists()),
            "{} stayed",
            dir.display()
        );
    }
}

/// Kills its processes when dropped, so that a failed test leaves none.
struct KillAll(Vec<u32>);

impl Drop for KillAll {
    fn drop(&mut self) {
        for &pid in &self.0 {
            kill(pid);
        }
    }
}

/// CPU seconds process `pid` uses over `span`.
fn cpu_seconds(pid: u32, span: Duration) -> f64 {
    let ticks = || -> f64 {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .map(|(_, r)| {
                r.split_whitespace()
                    .skip(11)
                    .take(2)
                    .filter_map(|f| f.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(0.0)
    };
    let before = ticks();
    std::thread::sleep(span);
    (ticks() - before) / 100.0
}

/// A guardian that is killed is replaced at once, not at the next
/// registration (the owner does nothing more): once the new guardian
/// exists, killing the owner leaves no member alive. (The new one is given
/// its registrations before it starts, so "exists" is enough; it appears
/// within milliseconds, and the wait is only against a hang.)
#[test]
fn a_killed_guardian_is_replaced_at_once() {
    if no_guardian("a_killed_guardian_is_replaced_at_once") {
        return;
    }
    let mut owner = start_owner(&["owner", "1", "2"], &[]);
    let _members = KillAll(owner.members.clone());
    let guardian = guardians_of(owner.process.id());
    assert_eq!(guardian.len(), 1, "{guardian:?}");
    kill(guardian[0]);
    let started = Instant::now();
    assert!(
        eventually(LONG, || {
            let now = guardians_of(owner.process.id());
            now.len() == 1 && now[0] != guardian[0]
        }),
        "no new guardian"
    );
    println!("a new guardian {:?} after the kill", started.elapsed());
    owner.process.kill().unwrap();
    assert!(
        eventually(LONG, || owner.members.iter().all(|&p| !alive(p))),
        "members survived the owner and its first guardian"
    );
    if let Some(dir) = &owner.dir {
        assert!(
            eventually(LONG, || !dir.exists()),
            "{} stayed",
            dir.display()
        );
    }
}

/// Starts `sleep 60` as the leader of a new process group with pid `pid`:
/// `ns_last_pid` is set to the pid before it, then a process is started,
/// again until no other process of the machine took the pid first (at most
/// 200 times: other tests start processes meanwhile). Why not, if it cannot
/// (`ns_last_pid` needs `CAP_SYS_ADMIN`, or the pid was always taken).
fn stranger_with_pid(pid: u32) -> Result<KillOnDrop, String> {
    use std::os::unix::process::CommandExt;
    for _ in 0..200 {
        fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).map_err(|e| {
            format!("cannot write /proc/sys/kernel/ns_last_pid (it needs CAP_SYS_ADMIN): {e}")
        })?;
        let child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start sleep: {e}"))?;
        if child.id() == pid {
            return Ok(KillOnDrop(child));
        }
        drop(KillOnDrop(child));
    }
    Err(format!(
        "another process took pid {pid} first in 200 tries (a busy machine)"
    ))
}

/// A job never takes an unrelated process for its own because it got a pid
/// the job once used: after the first member of a job exited and was
/// reaped, a stranger that gets the same pid (through `ns_last_pid`, which
/// stands for a wrap of the pid space) and leads its own group with it is
/// not listed, not counted, and not killed by `terminate`, by dropping the
/// job, or after the owner's death. (Process-group mode is the one at risk,
/// since a group's id is a pid; the test runs in every mode.)
#[test]
fn a_reused_pid_is_never_taken_for_the_job() {
    let job = Job::new().unwrap();
    let mut first = job.spawn(&mut helper(&["exit", "0"])).unwrap();
    let pid = first.id();
    first.wait().unwrap();
    let mut stranger = match stranger_with_pid(pid) {
        Ok(stranger) => stranger,
        Err(why) => {
            skip(
                "a_reused_pid_is_never_taken_for_the_job",
                &format!("cannot give a process a chosen pid here: {why}"),
            );
            return;
        }
    };
    assert!(alive(pid));
    assert!(
        !job.pids().unwrap().contains(&pid),
        "the stranger is listed"
    );
    assert!(!job.contains_pid(pid).unwrap(), "the stranger is contained");
    assert_eq!(job.accounting().unwrap().active_processes, Some(0));
    job.terminate(1).unwrap();
    // A member spawned now, and the job's drop, kill only the job's own.
    let mut member = job.spawn(&mut helper(&["sleep", "30"])).unwrap();
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap(), "the member survived");
    member.wait().unwrap();
    drop(job);
    assert_eq!(
        stranger.try_wait().unwrap(),
        None,
        "the job killed the stranger"
    );
    drop(stranger);

    // The same after the owner's death: what ends its job then (the
    // guardian, or a process group's anchor) spares the stranger.
    let mut owner = KillOnDrop(helper(&["owner-emptied"]).spawn().unwrap());
    let lines = Lines::of(&mut owner);
    let pid: u32 = lines.value("gone", LONG).unwrap().parse().unwrap();
    assert_eq!(lines.value("ready", LONG), Some(String::new()));
    let mut stranger = match stranger_with_pid(pid) {
        Ok(stranger) => stranger,
        Err(why) => {
            skip(
                "a_reused_pid_is_never_taken_for_the_job",
                &format!(
                    "in part: the owner's member's pid could not be given to a stranger: {why}"
                ),
            );
            return;
        }
    };
    let helpers: Vec<u32> = [&b"winjob-guardian"[..], b"winjob-anchor"]
        .into_iter()
        .flat_map(processes_with_arg)
        .filter(|&(_, ppid)| ppid == owner.id())
        .map(|(p, _)| p)
        .collect();
    assert!(
        !helpers.is_empty(),
        "the owner started no guardian or anchor"
    );
    owner.kill().unwrap();
    let _ = owner.wait();
    assert!(
        eventually(LONG, || helpers.iter().all(|&p| !alive(p))),
        "the owner's helpers {helpers:?} did not end"
    );
    assert_eq!(
        stranger.try_wait().unwrap(),
        None,
        "the owner's death killed the stranger"
    );
}

/// A member killed by `terminate` is still in the job until it is reaped,
/// as in cgroup v2 and on Windows: cgroup v1 moves an exiting task to its
/// root at once, so the job remembers what it took in.
#[test]
fn a_killed_member_is_contained_until_reaped() {
    let job = Job::new().unwrap();
    let mut member = job.spawn(&mut helper(&["sleep", "30"])).unwrap();
    let pid = member.id();
    assert!(job.contains(&member).unwrap());
    job.terminate(1).unwrap();
    let zombie = || {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    };
    assert!(eventually(LONG, zombie), "the member did not die");
    assert!(
        job.contains(&member).unwrap(),
        "a zombie member is not in the job"
    );
    assert!(job.contains_pid(pid).unwrap());
    member.wait().unwrap();
    assert!(
        job.contains_pid(pid)
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
    );
}

/// A member spawned right after a `terminate` is guarded like the first:
/// killing the owner then kills it. (In process-group mode the terminate
/// killed the group's anchor too, so the spawn starts a new group with a
/// new anchor instead of joining the unguarded one.)
#[test]
fn a_member_spawned_after_terminate_dies_with_the_owner() {
    let mut owner = start_owner(&["owner-after-terminate"], &[]);
    let _members = KillAll(owner.members.clone());
    assert_eq!(owner.members.len(), 1);
    owner.process.kill().unwrap();
    assert!(
        eventually(LONG, || owner.members.iter().all(|&p| !alive(p))),
        "the member spawned after terminate survived the owner"
    );
}

/// The anchor of a process-group job ignores what is sent to the whole
/// group but `SIGKILL`: a graceful stop ends the members and leaves the
/// group's id held, and a `SIGTERM` to the group (`JobExt::signal`) too.
#[test]
fn the_anchor_outlives_signals_to_the_group() {
    if mode() != Mode::ProcessGroup {
        skip(
            "the_anchor_outlives_signals_to_the_group",
            "only process-group jobs have an anchor",
        );
        return;
    }
    let job = Job::new().unwrap();
    let mut member = job.spawn(&mut helper(&["sleep", "30"])).unwrap();
    let group = job.process_group().unwrap();
    assert_ne!(group, member.id());
    job.signal(15).unwrap();
    member.wait().unwrap();
    for signal in [1, 2, 3, 10, 12, 14, 15, 20, 21, 22, 24, 26, 27, 29, 30, 31] {
        job.signal(signal).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(group), "the anchor died of a signal to the group");
    assert_eq!(job.process_group(), Some(group));
    let mut second = job.spawn(&mut helper(&["sleep", "30"])).unwrap();
    assert_eq!(
        job.process_group(),
        Some(group),
        "a new group for no reason"
    );
    drop(job);
    assert!(eventually(LONG, || second.try_wait().unwrap().is_some()));
    assert!(
        eventually(LONG, || !alive(group)),
        "the anchor outlived its job"
    );
}

/// An owner of many kill-on-drop jobs, some of them dropped already, is
/// killed: every member of the jobs it still had dies (the guardian ends
/// each job still registered, however many), and no directory is left.
#[test]
fn killing_an_owner_of_many_jobs_ends_each() {
    let mut owner = start_owner(&["owner-of-many", "40"], &[]);
    let _members = KillAll(owner.members.clone());
    assert_eq!(owner.members.len(), 20);
    owner.process.kill().unwrap();
    let survivors = || -> Vec<u32> {
        owner
            .members
            .iter()
            .copied()
            .filter(|&p| alive(p))
            .collect()
    };
    assert!(
        eventually(LONG, || survivors().is_empty()),
        "members survived the owner: {:?}",
        survivors()
    );
}

/// Without the proc connector (an unprivileged user before Linux 6.6; here
/// `socket(2)` refused by a seccomp filter), the events come from looking at
/// the member list every 200 ms: members that live for a while are reported
/// started and exited (without a code), and `Empty` comes last.
#[test]
fn events_come_without_the_proc_connector() {
    let output = helper(&["no-socket", "events-of", "3", "0.6"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    let members: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("member "))
        .collect();
    assert_eq!(members.len(), 3, "{text}");
    for pid in &members {
        assert!(
            text.contains(&format!("event new {pid}\n")),
            "{pid}: {text}"
        );
        assert!(
            text.contains(&format!("event exit {pid} None\n")),
            "{pid} exited without a code expected (no connector): {text}"
        );
    }
    assert_eq!(text.lines().last(), Some("event empty"), "{text}");
}

/// A process out of descriptors is told so: creating, spawning into or
/// watching one more job fails with an error that names RLIMIT_NOFILE and
/// keeps the OS's EMFILE reachable (through its sources); the jobs made
/// until then end normally (the suite checks no directory is left).
#[test]
fn running_out_of_descriptors_names_rlimit_nofile() {
    let output = helper(&["nofile", "40"]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    println!("{text}");
    let jobs: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("jobs "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(jobs >= 1, "not one job fit in 40 descriptors: {text}");
    assert!(text.contains("RLIMIT_NOFILE"), "{text}");
    assert!(
        text.contains("code Some(24)"),
        "EMFILE must stay reachable: {text}"
    );
}
