//! Windows-specific tests of winjob, run on Windows and under Wine.
//!
//! Every test drives real processes (`winjob-testbin`) through real job
//! objects. Wine (8.0) implements what these tests check: membership,
//! inheritance, breakaway, nesting, termination with an exit code,
//! kill-on-close, the pid list, names and access rights. A test that needs
//! something Wine lacks checks [`under_wine`] and prints
//! `skipped: <test>: <reason>`. The helpers shared with the portable suites
//! (the helper program, its output, polling, names) are in `common`.
//!
//! Every wait is bounded, so a broken job makes a test fail, not hang.

#![cfg(windows)]

mod common;

use std::collections::HashSet;
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, OwnedHandle};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use winjob::os::windows::{
    Breakaway, JobAccess, JobBuilderExt, JobExt, is_current_process_in_any_job,
    is_process_in_any_job, open_with_access,
};
use winjob::{Event, Job, Mode, ProcessExit, Stopped};

const CREATE_SUSPENDED: u32 = 0x0000_0004;
/// `STATUS_CONTROL_C_EXIT`: the exit code of a console program killed by
/// CTRL_BREAK with no handler.
const STATUS_CONTROL_C_EXIT: u32 = 0xC000_013A;

/// How long any single wait in these tests may take: against a hang only,
/// long enough for Wine on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Helpers (the portable ones are in `common`)
// ---------------------------------------------------------------------------

/// `job.spawn(command)`, with stdout piped.
fn spawn_in(job: &Job, command: &mut Command) -> Child {
    command.stdout(Stdio::piped());
    retry(|| job.spawn(command)).expect("spawn into the job")
}

/// Waits for a child to exit, at most `PATIENCE`.
fn wait_child(child: &mut Child) -> ExitStatus {
    let mut status = None;
    let exited = eventually(PATIENCE, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("child {} still running after {PATIENCE:?}", child.id());
    }
    status.expect("an exit status")
}

/// The exit code of a finished child as the u32 Windows reports.
fn code(status: ExitStatus) -> u32 {
    status.code().expect("an exit code").cast_unsigned()
}

/// Polls until `job.pids()` has `n` entries, at most `timeout`.
fn wait_for_members(job: &Job, n: usize, timeout: Duration) -> Vec<u32> {
    let mut pids = Vec::new();
    let complete = eventually(timeout, || {
        pids = job.pids().expect("pids");
        pids.len() == n
    });
    assert!(
        complete,
        "expected {n} members, have {}: {pids:?}",
        pids.len()
    );
    pids
}

/// A job name in the session's `Local\` namespace that no other test (or
/// test run) uses.
fn local_name(tag: &str) -> String {
    format!(r"Local\{}", unique_name(tag))
}

// ---------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------

/// A child spawned by the library is in the job as its first act; one spawned
/// by plain std is not (the control that makes this test able to fail).
#[test]
fn spawned_child_is_in_the_job_from_its_first_instruction() {
    if is_current_process_in_any_job().unwrap() {
        skip(
            "spawned_child_is_in_the_job_from_its_first_instruction",
            "this test process is itself in a job, so every child would say `in-job yes`",
        );
        return;
    }
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().arg("whereami"));
    let lines = Lines::of(&mut child);
    assert_eq!(lines.value("in-job", PATIENCE).as_deref(), Some("yes"));
    assert_eq!(code(wait_child(&mut child)), 0);

    let mut outside = retry(|| testbin().arg("whereami").stdout(Stdio::piped()).spawn()).unwrap();
    assert_eq!(
        Lines::of(&mut outside).value("in-job", PATIENCE).as_deref(),
        Some("no")
    );
    wait_child(&mut outside);
}

/// Spawned children are members (IsProcessInJob); an unrelated process is not.
#[test]
fn contains_tells_members_from_strangers() {
    let job = Job::new().unwrap();
    let mut member = spawn_in(&job, testbin().args(["sleep", "30"]));
    let mut stranger = retry(|| testbin().args(["sleep", "30"]).spawn()).unwrap();
    assert!(job.contains(&member).unwrap());
    assert!(job.contains_pid(member.id()).unwrap());
    assert!(job.contains_handle(member.as_handle()).unwrap());
    assert!(is_process_in_any_job(member.as_handle()).unwrap());
    assert!(!job.contains(&stranger).unwrap());
    assert!(!job.contains_pid(stranger.id()).unwrap());
    stranger.kill().unwrap();
    wait_child(&mut stranger);
    job.terminate(3).unwrap();
    assert_eq!(code(wait_child(&mut member)), 3);
}

/// A grandchild (started by the child with plain CreateProcess) is in the
/// job: in the pid list and by IsProcessInJob.
#[test]
fn grandchildren_are_members() {
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "1", "30"]));
    let lines = Lines::of(&mut child);
    let pids = lines.pids(2, PATIENCE);
    assert_eq!(pids[0], child.id());
    let grandchild = pids[1];
    let members: HashSet<u32> = wait_for_members(&job, 2, PATIENCE).into_iter().collect();
    assert_eq!(members, pids.iter().copied().collect::<HashSet<_>>());
    assert!(job.contains_pid(grandchild).unwrap());
    job.terminate(1).unwrap();
    wait_child(&mut child);
}

/// The pid list is complete beyond any fixed buffer: 111 members.
#[test]
fn pid_list_with_more_than_100_members() {
    let job = Job::new().unwrap();
    // 1 + 110 children.
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "110", "30"]));
    let lines = Lines::of(&mut child);
    let reported: HashSet<u32> = lines.pids(111, PATIENCE).into_iter().collect();
    let members = wait_for_members(&job, 111, PATIENCE);
    let listed: HashSet<u32> = members.iter().copied().collect();
    assert_eq!(listed.len(), 111, "duplicates in {members:?}");
    assert_eq!(listed, reported);
    job.terminate(1).unwrap();
    wait_child(&mut child);
    assert!(job.wait_timeout(PATIENCE).unwrap());
    assert_eq!(job.pids().unwrap(), Vec::<u32>::new());
}

/// A process in job A assigned to job B is in both (nested jobs); terminating
/// A kills it, and B sees it gone.
#[test]
fn nested_jobs() {
    let a = Job::new().unwrap();
    let b = Job::new().unwrap();
    let mut child = spawn_in(&a, testbin().args(["sleep", "30"]));
    b.assign(&child).unwrap();
    assert!(a.contains(&child).unwrap());
    assert!(b.contains(&child).unwrap());
    assert_eq!(b.pids().unwrap(), vec![child.id()]);
    assert_eq!(a.pids().unwrap(), vec![child.id()]);
    a.terminate(7).unwrap();
    assert_eq!(code(wait_child(&mut child)), 7);
    assert!(b.wait_timeout(PATIENCE).unwrap());
}

/// `assign` and `assign_pid` move a running process (started outside any
/// job) into the job; errors for pid 0, a missing pid and an exited process.
#[test]
fn assign_running_processes_and_bad_pids() {
    let job = Job::new().unwrap();
    let mut first = retry(|| testbin().args(["sleep", "30"]).spawn()).unwrap();
    let mut second = retry(|| testbin().args(["sleep", "30"]).spawn()).unwrap();
    assert!(!job.contains(&first).unwrap());
    job.assign(&first).unwrap();
    job.assign_pid(second.id()).unwrap();
    assert!(job.contains(&first).unwrap());
    assert!(job.contains_pid(second.id()).unwrap());

    let e = job.assign_pid(0).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(
        job.contains_pid(0).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );

    // Pids are multiples of 4 (Windows) and small (Wine): this one is free.
    let missing = u32::MAX - 3;
    let e = job.assign_pid(missing).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("no process with pid {missing}")),
        "{e}"
    );
    assert_eq!(
        job.contains_pid(missing).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );

    let mut exited = retry(|| testbin().args(["exit", "0"]).spawn()).unwrap();
    wait_child(&mut exited);
    let e = job.assign(&exited).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("has exited"), "{e}");
    let e = job.assign_pid(exited.id()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");

    job.terminate(5).unwrap();
    assert_eq!(code(wait_child(&mut first)), 5);
    assert_eq!(code(wait_child(&mut second)), 5);
}

// ---------------------------------------------------------------------------
// Killing
// ---------------------------------------------------------------------------

/// `terminate` kills children and grandchildren with the exit code asked for.
#[test]
fn terminate_kills_the_tree_with_the_exit_code() {
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().args(["tree", "2", "2", "30"]));
    let lines = Lines::of(&mut child);
    lines.pids(7, PATIENCE);
    wait_for_members(&job, 7, PATIENCE);
    job.terminate(42).unwrap();
    assert_eq!(code(wait_child(&mut child)), 42);
    assert!(job.wait_timeout(PATIENCE).unwrap());
    assert!(job.pids().unwrap().is_empty());
    // Every process of the tree held the stdout pipe: all are gone.
    assert!(lines.ends_within(PATIENCE));

    let e = job.terminate(259).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

/// Dropping a kill-on-drop job kills the whole tree; dropping one without
/// kill-on-drop does not (the control).
#[test]
fn dropping_the_job_kills_the_tree() {
    let job = Job::new().unwrap();
    assert!(job.kills_on_drop());
    let mut child = spawn_in(&job, testbin().args(["tree", "2", "2", "30"]));
    let lines = Lines::of(&mut child);
    lines.pids(7, PATIENCE);
    wait_for_members(&job, 7, PATIENCE);
    drop(job);
    // Every process of the tree holds the write end of the stdout pipe: the
    // output ends only when all seven are dead.
    assert!(
        lines.ends_within(PATIENCE),
        "a process of the tree survived the drop"
    );
    wait_child(&mut child);

    let keep = Job::builder().kill_on_drop(false).create().unwrap();
    assert!(!keep.kills_on_drop());
    let mut child = spawn_in(&keep, testbin().args(["tree", "1", "1", "30"]));
    let lines = Lines::of(&mut child);
    let pids = lines.pids(2, PATIENCE);
    let watcher = Job::new().unwrap();
    for pid in &pids {
        watcher.assign_pid(*pid).unwrap();
    }
    drop(keep);
    assert!(
        !lines.ends_within(Duration::from_millis(500)),
        "kill_on_drop(false) killed the tree"
    );
    assert_eq!(watcher.pids().unwrap().len(), 2);
    watcher.terminate(1).unwrap();
    wait_child(&mut child);
}

/// Killing the owner of a kill-on-drop job (TerminateProcess: no destructor
/// runs) kills every member. The owner runs inside an outer job of the
/// test's, and so do the members (nested jobs): the outer job's pid list
/// shows when they are gone.
#[test]
fn killing_the_owner_kills_every_member() {
    let (outer, members) = start_owner(&[]);
    assert!(
        outer.wait_timeout(PATIENCE).unwrap(),
        "members left: {:?}",
        outer.pids().unwrap()
    );
    let _ = members;
}

/// The control of the test above: an owner whose job is not kill-on-drop
/// leaves its members running when killed.
#[test]
fn killing_the_owner_of_a_job_without_kill_on_drop_leaves_members() {
    let (outer, members) = start_owner(&["--no-kill-on-drop"]);
    thread::sleep(Duration::from_millis(500));
    let left: HashSet<u32> = outer.pids().unwrap().into_iter().collect();
    assert_eq!(left, members, "members died with their owner");
    outer.terminate(1).unwrap();
    assert!(outer.wait_timeout(PATIENCE).unwrap());
}

/// Starts `winjob-testbin owner [flags] 1 2` in an outer job, reads its
/// members, kills it, and returns the outer job and the member pids.
fn start_owner(flags: &[&str]) -> (Job, HashSet<u32>) {
    let outer = Job::new().unwrap();
    let mut owner = spawn_in(&outer, testbin().arg("owner").args(flags).args(["1", "2"]));
    let lines = Lines::of(&mut owner);
    let mut members = HashSet::new();
    loop {
        let line = lines
            .next(PATIENCE)
            .expect("owner output ends before `ready`");
        if line == "ready" {
            break;
        }
        if let Some(pid) = line.strip_prefix("member ") {
            members.insert(pid.parse::<u32>().unwrap());
        }
    }
    assert_eq!(members.len(), 3, "{members:?}");
    for pid in &members {
        assert!(outer.contains_pid(*pid).unwrap());
    }
    owner.kill().unwrap();
    wait_child(&mut owner);
    (outer, members)
}

/// `From<Job> for OwnedHandle` stops the job's thread and hands over the
/// handle with its limits: the member lives while the handle does, and
/// kill-on-close fires when it is closed.
#[test]
fn into_owned_handle_keeps_kill_on_close() {
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    let handle: OwnedHandle = job.into();
    assert!(!handle.as_raw_handle().is_null());
    thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child died when the Job was converted"
    );
    drop(handle);
    wait_child(&mut child);
}

/// The job handle is not inheritable by default: a child spawned while the
/// job exists does not keep it open, so dropping the job kills. With
/// `inheritable_handle(true)` the child inherits the handle (std spawns with
/// handle inheritance), keeps the job open, and survives the drop.
#[test]
fn handle_is_not_inheritable_by_default() {
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    drop(job);
    wait_child(&mut child);

    let job = Job::builder().inheritable_handle(true).create().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    drop(job);
    thread::sleep(Duration::from_millis(500));
    let survived = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    wait_child(&mut child);
    assert!(
        survived,
        "a child holding an inherited job handle was killed at drop"
    );
}

// ---------------------------------------------------------------------------
// Breakaway
// ---------------------------------------------------------------------------

/// What `spawn [--breakaway] -- whereami`, run in a job with `breakaway`,
/// prints: `in-job yes|no`, or `spawn-error N`.
fn grandchild_membership(breakaway: Breakaway, flag: bool) -> String {
    let job = Job::builder().breakaway(breakaway).create().unwrap();
    let mut args = vec!["spawn"];
    if flag {
        args.push("--breakaway");
    }
    args.extend(["--", "whereami"]);
    let mut child = spawn_in(&job, testbin().args(&args));
    let lines = Lines::of(&mut child);
    let mut answer = None;
    while let Some(line) = lines.next(PATIENCE) {
        if line.starts_with("in-job ") || line.starts_with("spawn-error ") {
            answer = Some(line);
            break;
        }
    }
    wait_child(&mut child);
    answer.expect("no answer from the grandchild")
}

#[test]
fn breakaway_never_refuses_the_flag() {
    assert_eq!(
        grandchild_membership(Breakaway::Never, true),
        "spawn-error 5"
    );
    assert_eq!(grandchild_membership(Breakaway::Never, false), "in-job yes");
}

#[test]
fn breakaway_allowed_only_with_the_flag() {
    if is_current_process_in_any_job().unwrap() {
        skip(
            "breakaway_allowed_only_with_the_flag",
            "this test process is in a job, which may not allow breakaway",
        );
        return;
    }
    assert_eq!(grandchild_membership(Breakaway::Allowed, true), "in-job no");
    assert_eq!(
        grandchild_membership(Breakaway::Allowed, false),
        "in-job yes"
    );
}

#[test]
fn breakaway_silent_for_every_child() {
    if is_current_process_in_any_job().unwrap() {
        skip(
            "breakaway_silent_for_every_child",
            "this test process is in a job, so every child would say `in-job yes`",
        );
        return;
    }
    assert_eq!(grandchild_membership(Breakaway::Silent, false), "in-job no");
}

// ---------------------------------------------------------------------------
// Names, access, security
// ---------------------------------------------------------------------------

#[test]
fn named_create_open_already_exists_not_found() {
    let name = local_name("named");
    let job = Job::builder().name(&name).create().unwrap();
    assert_eq!(job.name(), Some(name.as_str()));

    let e = Job::builder().name(&name).create().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    assert!(e.to_string().contains("Job::open"), "{e}");
    // The failed create did not harm the first job.
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));

    let opened = Job::open(&name).unwrap();
    assert_eq!(opened.name(), Some(name.as_str()));
    assert!(!opened.kills_on_drop());
    assert_eq!(opened.pids().unwrap(), vec![child.id()]);
    assert!(opened.contains(&child).unwrap());
    // An opened job can spawn into the job, and stop it.
    let mut second = spawn_in(&opened, testbin().args(["sleep", "30"]));
    assert!(job.contains(&second).unwrap());
    // Dropping the opened handle does not kill anything.
    drop(opened);
    thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none());
    // A job opened by name has no notification thread: `wait` polls.
    let opened = Job::open(&name).unwrap();
    assert!(!opened.wait_timeout(Duration::from_millis(100)).unwrap());
    job.terminate(9).unwrap();
    assert!(opened.wait_timeout(PATIENCE).unwrap());
    assert_eq!(code(wait_child(&mut child)), 9);
    assert_eq!(code(wait_child(&mut second)), 9);

    let missing = local_name("missing");
    let e = Job::open(&missing).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("no job named"), "{e}");
}

#[test]
fn bad_names_are_invalid_input() {
    for name in [r"NoSuchNamespace\winjob-test", r"Local\a\b"] {
        let e = Job::builder().name(name).create().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name}: {e}");
        let e = Job::open(name).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::InvalidInput | io::ErrorKind::NotFound
            ),
            "{name}: {e}"
        );
    }
    let e = Job::builder().name("").create().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

/// A handle opened with QUERY only can list members but not terminate, nor
/// spawn into the job; the refused spawn leaves no process behind.
#[test]
fn open_with_query_access_only() {
    let name = local_name("query");
    let job = Job::builder().name(&name).create().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    let query = open_with_access(&name, JobAccess::QUERY).unwrap();
    assert_eq!(query.pids().unwrap(), vec![child.id()]);
    assert!(query.contains(&child).unwrap());
    let e = query.terminate(1).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");

    // The refused spawn: the child is created suspended, the assignment is
    // refused, and the child must be killed. It holds the only write end of
    // this pipe, so the pipe reports end of file only once it is dead.
    let (reader, writer) = io::pipe().unwrap();
    let mut command = testbin();
    command.args(["sleep", "30"]).stdout(writer);
    let e = retry(|| query.spawn(&mut command)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
    drop(command);
    let lines = Lines::new(reader);
    assert!(
        lines.ends_within(PATIENCE),
        "the refused child was left alive"
    );
    assert_eq!(job.pids().unwrap(), vec![child.id()]);

    let e = open_with_access(&local_name("missing"), JobAccess::QUERY).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    job.terminate(1).unwrap();
    wait_child(&mut child);
}

#[test]
fn security_descriptors() {
    // Full access for everyone: create and open work.
    let name = local_name("sddl");
    let job = Job::builder()
        .name(&name)
        .security_descriptor("D:P(A;;GA;;;WD)")
        .create()
        .unwrap();
    let opened = Job::open(&name).unwrap();
    let mut child = spawn_in(&opened, testbin().args(["sleep", "30"]));
    assert!(job.contains(&child).unwrap());
    job.terminate(1).unwrap();
    wait_child(&mut child);

    let e = Job::builder()
        .security_descriptor("this is not SDDL")
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("security descriptor"), "{e}");
    let e = Job::builder()
        .security_descriptor("D:P\0")
        .create()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

/// A protected DACL with no entries lets nobody open the job.
#[test]
fn security_descriptor_denies_open() {
    let name = local_name("deny");
    let _job = Job::builder()
        .name(&name)
        .security_descriptor("D:P")
        .create()
        .unwrap();
    match Job::open(&name) {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}"),
        Ok(_) if under_wine() => skip(
            "security_descriptor_denies_open",
            "Wine does not check a job's DACL on open",
        ),
        Ok(_) => panic!("opened a job whose DACL grants nothing"),
    }
}

// ---------------------------------------------------------------------------
// Spawning
// ---------------------------------------------------------------------------

/// A spawn that fails (no such program) returns NotFound and leaves the job
/// empty.
#[test]
fn failing_spawn_leaves_no_process() {
    let job = Job::new().unwrap();
    let e = job
        .spawn(&mut Command::new("winjob-no-such-program-here.exe"))
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    assert!(job.pids().unwrap().is_empty());
    assert!(job.wait_timeout(Duration::ZERO).unwrap());
}

/// With the caller's CREATE_SUSPENDED the child stays suspended, in the job.
#[test]
fn spawn_with_flags_can_leave_the_child_suspended() {
    let job = Job::new().unwrap();
    let mut command = testbin();
    command.args(["exit", "5"]);
    let mut child = retry(|| job.spawn_with_flags(&mut command, CREATE_SUSPENDED)).unwrap();
    thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a suspended child ran to its exit"
    );
    assert!(job.contains(&child).unwrap());
    job.terminate(9).unwrap();
    assert_eq!(code(wait_child(&mut child)), 9);

    // Without it the child runs at once.
    let mut child = retry(|| job.spawn_with_flags(&mut command, 0)).unwrap();
    assert_eq!(code(wait_child(&mut child)), 5);
    // The command is left with the caller's flags, not CREATE_SUSPENDED.
    let mut again = retry(|| command.spawn()).unwrap();
    assert_eq!(code(wait_child(&mut again)), 5);
}

/// After `spawn`, the command carries no CREATE_SUSPENDED: spawning it again
/// outside the job runs.
#[test]
fn spawn_leaves_the_command_reusable() {
    let job = Job::new().unwrap();
    let mut command = testbin();
    command.args(["exit", "4"]);
    let mut child = retry(|| job.spawn(&mut command)).unwrap();
    assert_eq!(code(wait_child(&mut child)), 4);
    let mut again = retry(|| command.spawn()).unwrap();
    assert_eq!(code(wait_child(&mut again)), 4);
}

// ---------------------------------------------------------------------------
// Waiting and stopping
// ---------------------------------------------------------------------------

#[test]
fn wait_returns_when_the_tree_exits_on_its_own() {
    let job = Job::new().unwrap();
    assert!(
        job.wait_timeout(Duration::ZERO).unwrap(),
        "an empty job is done"
    );
    job.wait().unwrap();

    let start = Instant::now();
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "2", "1"]));
    assert!(job.wait_timeout(PATIENCE).unwrap());
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "the tree sleeps 1 s; wait took {took:?}"
    );
    assert!(job.pids().unwrap().is_empty());
    assert_eq!(code(wait_child(&mut child)), 0);

    // `wait` (no timeout) too.
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "1", "0.5"]));
    job.wait().unwrap();
    assert!(job.pids().unwrap().is_empty());
    wait_child(&mut child);
}

#[test]
fn wait_timeout_gives_up() {
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    let start = Instant::now();
    assert!(!job.wait_timeout(Duration::from_millis(100)).unwrap());
    let took = start.elapsed();
    // Never early; how late depends on the machine's load (printed).
    println!("wait_timeout(100 ms) gave up after {took:?}");
    assert!(took >= Duration::from_millis(100), "{took:?}");
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(PATIENCE).unwrap());
    wait_child(&mut child);
}

/// `stop` asks (CTRL_BREAK to the child's console process group), then kills.
#[test]
fn stop_ends_the_job() {
    let job = Job::new().unwrap();
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "1", "30"]));
    let lines = Lines::of(&mut child);
    lines.pids(2, PATIENCE);
    // Wine delivers no CTRL_BREAK (the kill after the grace is checked
    // below): a short grace there, a patient one on Windows.
    let grace = if under_wine() {
        Duration::from_secs(2)
    } else {
        PATIENCE
    };
    let stopped = job.stop(grace).unwrap();
    assert!(job.pids().unwrap().is_empty());
    let status = wait_child(&mut child);
    match stopped {
        Stopped::Gracefully => assert_eq!(code(status), STATUS_CONTROL_C_EXIT, "{status:?}"),
        Stopped::Killed => {
            assert_eq!(code(status), 1, "{status:?}");
            if under_wine() {
                skip(
                    "stop_ends_the_job",
                    "Wine 8.0 does not deliver CTRL_BREAK to a process group; checked the kill only",
                );
            } else {
                panic!("CTRL_BREAK did not stop a console child");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The rest of the surface
// ---------------------------------------------------------------------------

#[test]
fn capabilities_say_job_object() {
    let caps = winjob::capabilities().unwrap();
    assert_eq!(caps.mode, Mode::JobObject);
    assert!(caps.contained && caps.kill_on_owner_crash && caps.atomic_terminate);
    assert_eq!(caps.job_root, None);
    if std::env::var_os("WINJOB_UNDER_WINE").is_some_and(|v| v == "1") {
        assert!(caps.reason.contains("under Wine"), "{}", caps.reason);
    }
}

#[test]
fn job_is_debug_and_has_a_handle() {
    let job = Job::builder().name(local_name("debug")).create().unwrap();
    let text = format!("{job:?}");
    assert!(
        text.contains("Job") && text.contains("winjob-test-debug"),
        "{text}"
    );
    assert!(!job.as_raw_handle().is_null());
    assert!(!job.as_handle().as_raw_handle().is_null());
}

/// Creating and dropping many jobs is quick and clean: each drop stops and
/// joins its notification thread (a drop that failed to would hang here).
#[test]
fn many_jobs_come_and_go() {
    let start = Instant::now();
    for _ in 0..200 {
        let job = Job::new().unwrap();
        assert!(job.wait_timeout(Duration::ZERO).unwrap());
    }
    let handles: Vec<OwnedHandle> = (0..50).map(|_| Job::new().unwrap().into()).collect();
    drop(handles);
    // A drop that failed to join its thread would hang here; how long the
    // 250 take depends on the machine (printed).
    println!("250 jobs created and dropped in {:?}", start.elapsed());
}

// ---------------------------------------------------------------------------
// Events and accounting
// ---------------------------------------------------------------------------

/// Reads events until `Empty`, failing the test after `PATIENCE`.
fn events_until_empty(events: &winjob::Events) -> Vec<Event> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Some(Event::Empty) => {
                seen.push(Event::Empty);
                return seen;
            }
            Some(event) => seen.push(event),
            None => panic!("no Empty within {PATIENCE:?}; saw {seen:?}"),
        }
    }
}

/// The pid of an exit event (normal or abnormal) and how it ended.
fn exit_of(event: &Event) -> Option<(u32, Option<ProcessExit>)> {
    match event {
        Event::ExitProcess { pid, exit } | Event::AbnormalExitProcess { pid, exit } => {
            Some((*pid, *exit))
        }
        _ => None,
    }
}

/// Checks that every pid in `members` has exactly one `NewProcess` and,
/// after it, exactly one exit, that nobody else appears (but for at most
/// `retries` processes Wine created for spawns it failed with its transient
/// error 1359), and that `Empty` comes once, last.
fn assert_complete(seen: &[Event], members: &HashSet<u32>, retries: usize) {
    let new: Vec<u32> = seen
        .iter()
        .filter_map(|e| match e {
            Event::NewProcess { pid } => Some(*pid),
            _ => None,
        })
        .collect();
    let exits: Vec<u32> = seen
        .iter()
        .filter_map(exit_of)
        .map(|(pid, _)| pid)
        .collect();
    let new_set: HashSet<u32> = new.iter().copied().collect();
    let exit_set: HashSet<u32> = exits.iter().copied().collect();
    assert_eq!(new.len(), new_set.len(), "one NewProcess each: {seen:?}");
    assert_eq!(exits.len(), exit_set.len(), "one exit each: {seen:?}");
    assert!(new_set.is_superset(members), "a NewProcess each: {seen:?}");
    assert!(exit_set.is_superset(members), "an exit each: {seen:?}");
    assert!(exit_set.is_subset(&new_set), "exits of strangers: {seen:?}");
    assert!(
        new_set.len() <= members.len() + retries,
        "processes beyond the members and {retries} retried spawn(s): {seen:?}"
    );
    for pid in members {
        let start = seen
            .iter()
            .position(|e| *e == Event::NewProcess { pid: *pid });
        let end = seen
            .iter()
            .position(|e| exit_of(e).is_some_and(|(p, _)| p == *pid));
        assert!(start < end, "pid {pid}: exit before start in {seen:?}");
    }
    assert_eq!(seen.iter().filter(|e| **e == Event::Empty).count(), 1);
    assert_eq!(seen.last(), Some(&Event::Empty));
}

/// A direct child's exit code is in its `ExitProcess`: its `Child` keeps the
/// process object, so the monitor can read the code. Wine too.
#[test]
fn exit_process_carries_the_exit_code_of_a_direct_child() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let mut child = spawn_in(&job, testbin().args(["exit", "7"]));
    let seen = events_until_empty(&events);
    assert_eq!(code(wait_child(&mut child)), 7);
    assert_eq!(
        seen,
        [
            Event::NewProcess { pid: child.id() },
            Event::ExitProcess {
                pid: child.id(),
                exit: Some(ProcessExit::Code(7))
            },
            Event::Empty
        ]
    );
}

/// `terminate` ends with an exit for every member and one `Empty`, though
/// Wine sends no exit message for the processes it kills: the monitor
/// reports those when the count reaches zero. The direct child's exit
/// carries the code asked for.
#[test]
fn terminate_reports_every_member_exited_then_empty() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "3", "30"]));
    let (members, retries) = Lines::of(&mut child).pids_and_retries(4, PATIENCE);
    let members: HashSet<u32> = members.into_iter().collect();
    wait_for_members(&job, 4, PATIENCE);
    let killed = Instant::now();
    job.terminate(42).unwrap();
    let seen = events_until_empty(&events);
    println!("Empty {:?} after terminate; {seen:?}", killed.elapsed());
    assert_complete(&seen, &members, retries);
    let root = seen
        .iter()
        .filter_map(exit_of)
        .find(|(pid, _)| *pid == child.id());
    assert_eq!(root, Some((child.id(), Some(ProcessExit::Code(42)))));
    assert_eq!(code(wait_child(&mut child)), 42);
}

/// A process killed on its own (`TerminateProcess`) is reported exited with
/// its code, and its leaving empties the job.
#[test]
fn a_killed_child_is_an_exit_with_its_code() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    assert_eq!(
        events.recv_timeout(PATIENCE),
        Some(Event::NewProcess { pid: child.id() })
    );
    child.kill().unwrap();
    let seen = events_until_empty(&events);
    // std's `kill` is TerminateProcess(handle, 1).
    assert_eq!(
        seen,
        [
            Event::ExitProcess {
                pid: child.id(),
                exit: Some(ProcessExit::Code(1))
            },
            Event::Empty
        ]
    );
    wait_child(&mut child);
}

/// `Empty` comes once per time the job empties, and a job that stays empty
/// sends nothing, however long the monitor watches it.
#[test]
fn empty_comes_once_per_emptying() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    // Longer than two periodic checks of the monitor.
    assert_eq!(events.recv_timeout(Duration::from_millis(600)), None);
    let mut pids = HashSet::new();
    for round in 0..2 {
        let mut child = spawn_in(&job, testbin().args(["exit", "0"]));
        let seen = events_until_empty(&events);
        assert_complete(&seen, &HashSet::from([child.id()]), 0);
        assert!(pids.insert(child.id()), "round {round}: a pid came back");
        wait_child(&mut child);
        assert_eq!(
            events.recv_timeout(Duration::from_millis(600)),
            None,
            "round {round}: an event after Empty"
        );
    }
    drop(job);
    assert_eq!(events.recv_timeout(PATIENCE), None);
    assert!(events.is_closed());
}

/// A process assigned by pid is announced like a spawned one.
#[test]
fn an_assigned_process_is_announced() {
    let job = Job::new().unwrap();
    let events = job.events().unwrap();
    let mut outside = KillOnDrop(
        retry(|| {
            testbin()
                .args(["sleep", "30"])
                .stdout(Stdio::null())
                .spawn()
        })
        .unwrap(),
    );
    job.assign_pid(outside.id()).unwrap();
    assert_eq!(
        events.recv_timeout(PATIENCE),
        Some(Event::NewProcess { pid: outside.id() })
    );
    job.terminate(3).unwrap();
    let seen = events_until_empty(&events);
    assert_eq!(
        seen,
        [
            Event::ExitProcess {
                pid: outside.id(),
                exit: Some(ProcessExit::Code(3))
            },
            Event::Empty
        ]
    );
    wait_child(&mut outside);
}

/// A job opened by name has no events (its creator owns the one completion
/// port), and says so; its creator's subscription is unaffected.
#[test]
fn events_of_an_opened_job_are_unsupported() {
    let name = local_name("events");
    let job = Job::builder().name(&name).create().unwrap();
    let events = job.events().unwrap();
    let opened = Job::open(&name).unwrap();
    let e = opened.events().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("completion port"), "{e}");
    let mut child = spawn_in(&opened, testbin().args(["exit", "0"]));
    assert_complete(
        &events_until_empty(&events),
        &HashSet::from([child.id()]),
        0,
    );
    wait_child(&mut child);
}

/// Accounting counts every process that was ever in the job. Wine counts
/// processes and fakes the rest with zeros, which are reported as `None`;
/// Windows measures everything.
#[test]
fn accounting_counts_every_process() {
    let job = Job::new().unwrap();
    let empty = job.accounting().unwrap();
    assert_eq!(empty.total_processes, Some(0));
    assert_eq!(empty.active_processes, Some(0));
    let mut child = spawn_in(&job, testbin().args(["tree", "1", "3", "0"]));
    let (_, retries) = Lines::of(&mut child).pids_and_retries(4, PATIENCE);
    assert!(job.wait_timeout(PATIENCE).unwrap());
    wait_child(&mut child);
    let acct = job.accounting().unwrap();
    println!("{acct}");
    // Four, and a process for each spawn Wine failed after creating it.
    let total = acct.total_processes.expect("total_processes");
    assert!((4..=4 + retries as u64).contains(&total), "{acct:?}");
    assert_eq!(acct.active_processes, Some(0));
    if under_wine() {
        // `Accounting` is non-exhaustive: built from the default.
        let mut counts_only = winjob::Accounting::default();
        counts_only.total_processes = Some(total);
        counts_only.active_processes = Some(0);
        assert_eq!(acct, counts_only, "Wine's zeros must not be reported");
        skip(
            "accounting_counts_every_process",
            "Wine reports only process counts; checked that the rest is None",
        );
        return;
    }
    assert_eq!(acct.terminated_processes, Some(0));
    assert!(acct.cpu_time().is_some(), "{acct:?}");
    assert!(acct.page_faults.is_some_and(|n| n > 0), "{acct:?}");
    // Four processes wrote their pids to a pipe.
    assert!(acct.write_operations.is_some_and(|n| n >= 4), "{acct:?}");
    assert!(acct.peak_process_memory.is_some_and(|b| b > 0), "{acct:?}");
    assert!(acct.peak_job_memory >= acct.peak_process_memory, "{acct:?}");
}

/// A handle opened with query access only is enough for accounting.
#[test]
fn accounting_through_a_query_only_handle() {
    let name = local_name("acct");
    let job = Job::builder().name(&name).create().unwrap();
    let mut child = spawn_in(&job, testbin().args(["sleep", "30"]));
    let query = open_with_access(&name, JobAccess::QUERY).unwrap();
    let acct = query.accounting().unwrap();
    assert_eq!(acct.active_processes, Some(1));
    assert_eq!(acct.total_processes, Some(1));
    // Through the full handle too (the times and I/O of the live child move
    // on between the two reads; its counts do not).
    let full = job.accounting().unwrap();
    assert_eq!(
        (full.active_processes, full.total_processes),
        (acct.active_processes, acct.total_processes)
    );
    job.terminate(1).unwrap();
    wait_child(&mut child);
}
