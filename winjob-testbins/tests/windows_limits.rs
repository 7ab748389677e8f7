//! Windows limits: every information class set through the typed API, read
//! back where the system can say, refused input leaving the job as it was,
//! and enforcement seen by real processes.
//!
//! Under Wine (8.0) every class is still set, so the call path runs; what
//! Wine cannot do is reported as `skipped: <test>: <reason>`:
//! - it answers the basic and extended limits with zeros, so read-back is
//!   skipped there (the Windows job of the CI checks it);
//! - it refuses the classes from 11 up (error 87), the UI-restriction query
//!   and the end-of-job-time class (error 1): the library must say
//!   `Unsupported`, naming the class, which these tests check;
//! - it enforces no limit but kill-on-close and breakaway, so the enforcement
//!   tests run on real Windows only.

#![cfg(windows)]

mod common;

use std::io;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use winjob::os::windows::{
    Breakaway, CpuRateControl, EndOfJobTimeAction, ExtendedLimits, GroupAffinity, IoRateControl,
    JobBuilderExt, JobExt, NetRateControl, NotificationLimits, PriorityClass, RateTolerance,
    SchedulingClass, Tolerance, ToleranceInterval, UiRestrictions, WorkingSet,
};
use winjob::{CpuRate, CpuSet, CpuWeight, Job, Limits, Priority};

const PATIENCE: Duration = Duration::from_secs(20);

/// Why read-back is skipped under Wine.
const WINE_ZEROS: &str = "Wine answers limit queries with zeros (research §5.1–5.3)";
/// Why enforcement is skipped under Wine.
const WINE_NO_ENFORCEMENT: &str =
    "Wine enforces no job limit but kill-on-close and breakaway (research §5.22–5.29)";

fn spawn_in(job: &Job, args: &[&str]) -> KillOnDrop {
    let mut command = testbin();
    command.args(args).stdout(Stdio::piped());
    KillOnDrop(retry(|| job.spawn(&mut command)).expect("spawn into the job"))
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let mut status = None;
    let exited = eventually(PATIENCE, || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    assert!(
        exited,
        "child {} still running after {PATIENCE:?}",
        child.id()
    );
    status.expect("status")
}

/// Handles the answer of setting a class that Wine (or an older Windows)
/// may not know: `Ok(true)` to go on and read back, `Ok(false)` when skipped.
fn set_or_skip(test: &str, class: &str, result: io::Result<()>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            assert!(
                e.to_string().contains(class),
                "the Unsupported error must name {class}: {e}"
            );
            assert!(
                under_wine() || class.contains("IoRate") || class.contains("I/O rate"),
                "{class} is unsupported on this Windows: {e}"
            );
            skip(test, &format!("this system does not support {class}: {e}"));
            false
        }
        Err(e) => panic!("setting {class}: {e}"),
    }
}

fn full_extended() -> ExtendedLimits {
    let mut l = ExtendedLimits::new();
    l.working_set = Some(WorkingSet {
        min: 1 << 20,
        max: 64 << 20,
    });
    l.process_time = Some(Duration::from_secs(60));
    l.job_time = Some(Duration::from_secs(120));
    l.active_processes = Some(8);
    l.affinity = Some("0".parse().unwrap());
    l.subset_affinity = true;
    l.priority_class = Some(PriorityClass::BelowNormal);
    l.scheduling_class = Some(SchedulingClass::new(4).unwrap());
    l.process_memory = Some(512 << 20);
    l.job_memory = Some(1 << 30);
    l.die_on_unhandled_exception = true;
    l.breakaway = Breakaway::Allowed;
    l.kill_on_close = true;
    l
}

// ---------------------------------------------------------------------------
// Every class: set, read back
// ---------------------------------------------------------------------------

#[test]
fn extended_limits_are_set_whole_and_read_back() {
    let job = Job::new().unwrap();
    job.set_extended_limits(&full_extended()).unwrap();
    assert!(job.kills_on_drop());
    if under_wine() {
        skip("extended_limits_are_set_whole_and_read_back", WINE_ZEROS);
    } else {
        assert_eq!(job.extended_limits().unwrap(), full_extended());
    }
    // One field changed from the job's own copy; the rest stays.
    job.update_extended_limits(|l| l.job_memory = None).unwrap();
    let mut expected = full_extended();
    expected.job_memory = None;
    if !under_wine() {
        assert_eq!(job.extended_limits().unwrap(), expected);
    }
    job.update_extended_limits(|l| assert_eq!(*l, expected))
        .unwrap();
    // A reset keeps how the job was built.
    job.reset_extended_limits().unwrap();
    job.update_extended_limits(|l| {
        assert!(l.kill_on_close);
        assert_eq!(l.breakaway, Breakaway::Allowed);
        assert_eq!(l.job_memory, None);
        assert_eq!(l.working_set, None);
    })
    .unwrap();
}

#[test]
fn portable_limits_map_onto_the_extended_class() {
    let limits = Limits::new()
        .job_memory(256 << 20)
        .process_memory(128 << 20)
        .active_processes(4)
        .job_cpu_time(Duration::from_secs(30))
        .process_cpu_time(Duration::from_secs(10))
        .priority(Priority::BelowNormal)
        .affinity("0".parse().unwrap());
    let job = Job::builder().limits(limits.clone()).create().unwrap();
    job.update_extended_limits(|l| {
        assert_eq!(l.job_memory, Some(256 << 20));
        assert_eq!(l.priority_class, Some(PriorityClass::BelowNormal));
        assert!(l.kill_on_close, "kill-on-drop is in the same class");
    })
    .unwrap();
    if under_wine() {
        skip("portable_limits_map_onto_the_extended_class", WINE_ZEROS);
    } else {
        assert_eq!(job.limits().unwrap(), limits);
    }
    // Replacing: what is None now is lifted, twice in a row keeps the clock.
    let fewer = Limits::new().job_cpu_time(Duration::from_secs(30));
    job.set_limits(&fewer).unwrap();
    job.set_limits(&fewer).unwrap();
    if !under_wine() {
        assert_eq!(job.limits().unwrap(), fewer);
    }
}

#[test]
fn ui_restrictions_every_flag() {
    let test = "ui_restrictions_every_flag";
    let job = Job::new().unwrap();
    // Wine accepts the set (and ignores it).
    job.set_ui_restrictions(UiRestrictions::all()).unwrap();
    match job.ui_restrictions() {
        Ok(ui) => assert_eq!(ui, UiRestrictions::all()),
        Err(e) if under_wine() && e.kind() == io::ErrorKind::Unsupported => {
            assert!(
                e.to_string().contains("JobObjectBasicUIRestrictions"),
                "{e}"
            );
            skip(test, &format!("Wine cannot query UI restrictions: {e}"));
        }
        Err(e) => panic!("{e}"),
    }
    // The portable limits never touch them.
    job.set_limits(&Limits::new().active_processes(3)).unwrap();
    if !under_wine() {
        assert_eq!(job.ui_restrictions().unwrap(), UiRestrictions::all());
    }
    let mut some = UiRestrictions::new();
    some.ime = true;
    some.read_clipboard = true;
    job.set_ui_restrictions(some).unwrap();
    if !under_wine() {
        assert_eq!(job.ui_restrictions().unwrap(), some);
    }
}

#[test]
fn cpu_rate_control_every_mode() {
    let test = "cpu_rate_control_every_mode";
    let job = Job::new().unwrap();
    let rate = |h| CpuRate::from_hundredths(h).unwrap();
    let modes = [
        CpuRateControl::HardCap {
            rate: rate(5000),
            notify: false,
        },
        CpuRateControl::HardCap {
            rate: rate(2000),
            notify: true,
        },
        CpuRateControl::SoftCap {
            rate: rate(3000),
            notify: false,
        },
        CpuRateControl::Weight(CpuWeight::new(7).unwrap()),
        CpuRateControl::MinMax {
            min: Some(rate(100)),
            max: rate(6000),
            notify: false,
        },
    ];
    for mode in modes {
        if !set_or_skip(
            test,
            "JobObjectCpuRateControlInformation",
            job.set_cpu_rate_control(mode),
        ) {
            return;
        }
        assert_eq!(job.cpu_rate_control().unwrap(), Some(mode));
    }
    job.reset_cpu_rate_control().unwrap();
    assert_eq!(job.cpu_rate_control().unwrap(), None);
    // The portable rate and weight are the same class.
    job.set_limits(&Limits::new().cpu_weight(CpuWeight::new(3).unwrap()))
        .unwrap();
    assert_eq!(
        job.cpu_rate_control().unwrap(),
        Some(CpuRateControl::Weight(CpuWeight::new(3).unwrap()))
    );
    assert_eq!(job.limits().unwrap().cpu_weight, CpuWeight::new(3).ok());
}

#[test]
fn net_rate_control() {
    let job = Job::new().unwrap();
    let mut net = NetRateControl::new();
    net.max_bandwidth = Some(1 << 20);
    net.dscp_tag = Some(10);
    if !set_or_skip(
        "net_rate_control",
        "JobObjectNetRateControlInformation",
        job.set_net_rate_control(net),
    ) {
        return;
    }
    assert_eq!(job.net_rate_control().unwrap(), net);
    job.set_net_rate_control(NetRateControl::new()).unwrap();
    assert!(job.net_rate_control().unwrap().is_empty());
}

#[test]
fn io_rate_control() {
    let job = Job::new().unwrap();
    let mut io = IoRateControl::new();
    io.max_iops = Some(1000);
    if !set_or_skip(
        "io_rate_control",
        "I/O rate control",
        job.set_io_rate_control(&io),
    ) {
        return;
    }
    let blocks = job.io_rate_control().unwrap();
    assert!(
        blocks.iter().any(|b| b.max_iops == Some(1000)),
        "{blocks:?}"
    );
}

#[test]
fn end_of_job_time_action() {
    let job = Job::new().unwrap();
    if !set_or_skip(
        "end_of_job_time_action",
        "JobObjectEndOfJobTimeInformation",
        job.set_end_of_job_time_action(EndOfJobTimeAction::PostMessage),
    ) {
        return;
    }
    assert_eq!(
        job.end_of_job_time_action().unwrap(),
        EndOfJobTimeAction::PostMessage
    );
    job.set_end_of_job_time_action(EndOfJobTimeAction::Terminate)
        .unwrap();
    assert_eq!(
        job.end_of_job_time_action().unwrap(),
        EndOfJobTimeAction::Terminate
    );
}

#[test]
fn notification_limits_and_violations() {
    let test = "notification_limits_and_violations";
    let job = Job::new().unwrap();
    let mut limits = NotificationLimits::new();
    limits.io_read_bytes = Some(1 << 30);
    limits.io_write_bytes = Some(1 << 30);
    limits.job_time = Some(Duration::from_secs(3600));
    limits.job_memory_high = Some(1 << 30);
    limits.cpu_rate = Some(RateTolerance {
        tolerance: Tolerance::High,
        interval: ToleranceInterval::Long,
    });
    if !set_or_skip(
        test,
        "JobObjectNotificationLimitInformation",
        job.set_notification_limits(&limits),
    ) {
        match job.limit_violation() {
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
                assert!(
                    e.to_string().contains("JobObjectLimitViolationInformation"),
                    "{e}"
                );
            }
            Ok(v) => panic!("a violation from a system without the class: {v:?}"),
        }
        return;
    }
    assert_eq!(job.notification_limits().unwrap(), limits);
    assert!(job.limit_violation().unwrap().is_empty());

    // A job memory notification limit below what a child commits is crossed,
    // and the job says which limit and by how much.
    let mut low = NotificationLimits::new();
    low.job_memory_high = Some(8 << 20);
    job.set_notification_limits(&low).unwrap();
    let mut child = spawn_in(&job, &["eat-memory", "32"]);
    let lines = Lines::of(&mut child);
    assert!(
        eventually(PATIENCE, || lines
            .next(PATIENCE)
            .is_some_and(|l| l == "done")),
        "the child did not finish allocating"
    );
    let violation = job.limit_violation().unwrap();
    let crossed = violation.job_memory_high.expect("job_memory_high crossed");
    assert_eq!(crossed.limit, 8 << 20);
    assert!(crossed.value > 8 << 20, "{crossed:?}");
    wait_exit(&mut child);
}

#[test]
fn group_affinity() {
    let job = Job::new().unwrap();
    let groups = [GroupAffinity { group: 0, mask: 1 }];
    if !set_or_skip(
        "group_affinity",
        "JobObjectGroupInformationEx",
        job.set_group_affinity(&groups),
    ) {
        return;
    }
    assert_eq!(job.group_affinity().unwrap(), groups);
}

// ---------------------------------------------------------------------------
// Bad input, failures: the job keeps its limits
// ---------------------------------------------------------------------------

#[test]
fn bad_input_is_refused_before_any_call_and_the_job_keeps_its_limits() {
    let job = Job::builder()
        .limits(Limits::new().job_memory(64 << 20))
        .create()
        .unwrap();
    let before = job.limits().unwrap();

    let e = job.set_limits(&Limits::new().job_memory(1000)).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().starts_with("job_memory"), "{e}");

    let mut bad = ExtendedLimits::new();
    bad.working_set = Some(WorkingSet {
        min: 10 << 20,
        max: 1 << 20,
    });
    let e = job.set_extended_limits(&bad).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().starts_with("working_set"), "{e}");

    let e = job
        .update_extended_limits(|l| l.affinity = Some(CpuSet::new()))
        .unwrap_err();
    assert!(e.to_string().starts_with("affinity"), "{e}");

    let e = job
        .set_cpu_rate_control(CpuRateControl::MinMax {
            min: Some(CpuRate::from_hundredths(900).unwrap()),
            max: CpuRate::from_hundredths(800).unwrap(),
            notify: false,
        })
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

    let mut net = NetRateControl::new();
    net.dscp_tag = Some(64);
    let e = job.set_net_rate_control(net).unwrap_err();
    assert!(e.to_string().starts_with("dscp_tag"), "{e}");

    let e = job.set_group_affinity(&[]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

    // The job's copy is as before, and so is what the job reports.
    job.update_extended_limits(|l| {
        assert_eq!(l.job_memory, Some(64 << 20));
        assert!(l.kill_on_close);
    })
    .unwrap();
    assert_eq!(job.limits().unwrap(), before);
    assert!(job.kills_on_drop());
}

/// `set_limits` that fails on its second class (CPU rate control, which Wine
/// refuses) writes the first one back: the copy, kill-on-close and breakaway
/// are as before.
#[test]
fn a_failed_cpu_rate_rolls_the_extended_limits_back() {
    let test = "a_failed_cpu_rate_rolls_the_extended_limits_back";
    let job = Job::builder()
        .breakaway(Breakaway::Allowed)
        .limits(Limits::new().active_processes(5))
        .create()
        .unwrap();
    let change = Limits::new()
        .active_processes(2)
        .cpu_rate(CpuRate::percent(50.0).unwrap());
    match job.set_limits(&change) {
        Ok(()) => {
            assert!(!under_wine());
            skip(
                test,
                "this Windows accepts CPU rate control, so the second class cannot be made to fail here",
            );
            assert_eq!(job.limits().unwrap(), change);
            return;
        }
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            assert!(
                e.to_string().contains("JobObjectCpuRateControlInformation"),
                "{e}"
            );
        }
    }
    job.update_extended_limits(|l| {
        assert_eq!(l.active_processes, Some(5));
        assert!(l.kill_on_close);
        assert_eq!(l.breakaway, Breakaway::Allowed);
    })
    .unwrap();
    assert!(job.kills_on_drop());
    // Kill-on-close is still in force in the job itself.
    let mut child = spawn_in(&job, &["sleep", "60"]);
    drop(job);
    wait_exit(&mut child);
}

#[test]
fn set_limits_keeps_kill_on_close_and_breakaway() {
    let job = Job::builder()
        .breakaway(Breakaway::Allowed)
        .create()
        .unwrap();
    job.set_limits(&Limits::new().active_processes(10).job_memory(256 << 20))
        .unwrap();
    job.set_limits(&Limits::new()).unwrap();
    // Breakaway still allowed: a grandchild asking for it leaves the job.
    let mut child = spawn_in(&job, &["spawn", "--breakaway", "--", "whereami"]);
    let lines = Lines::of(&mut child);
    assert_eq!(lines.value("in-job", PATIENCE).as_deref(), Some("no"));
    wait_exit(&mut child);
    // Kill-on-close still set: dropping the job kills its member.
    let mut sleeper = spawn_in(&job, &["sleep", "60"]);
    drop(job);
    wait_exit(&mut sleeper);
}

#[test]
fn turning_kill_on_close_off_keeps_members_alive_on_drop() {
    let job = Job::new().unwrap();
    job.update_extended_limits(|l| l.kill_on_close = false)
        .unwrap();
    assert!(!job.kills_on_drop());
    let mut sleeper = spawn_in(&job, &["sleep", "60"]);
    drop(job);
    std::thread::sleep(Duration::from_millis(500));
    assert!(sleeper.try_wait().unwrap().is_none(), "killed on drop");
}

// ---------------------------------------------------------------------------
// Enforcement (real Windows)
// ---------------------------------------------------------------------------

fn enforcement(test: &str) -> bool {
    if under_wine() {
        skip(test, WINE_NO_ENFORCEMENT);
        return false;
    }
    true
}

#[test]
fn active_process_limit_refuses_the_next_process() {
    if !enforcement("active_process_limit_refuses_the_next_process") {
        return;
    }
    let job = Job::builder()
        .limits(Limits::new().active_processes(1))
        .create()
        .unwrap();
    let mut child = spawn_in(&job, &["fork", "1", "1"]);
    let lines = Lines::of(&mut child);
    assert!(lines.value("fork-error", PATIENCE).is_some());
    assert_eq!(lines.value("forks", PATIENCE).as_deref(), Some("0"));
    wait_exit(&mut child);
}

#[test]
fn job_memory_limit_makes_a_big_allocation_fail() {
    if !enforcement("job_memory_limit_makes_a_big_allocation_fail") {
        return;
    }
    let job = Job::builder()
        .limits(Limits::new().job_memory(64 << 20))
        .create()
        .unwrap();
    let mut child = spawn_in(&job, &["eat-memory", "256"]);
    let lines = Lines::of(&mut child);
    let failed: u32 = lines
        .value("alloc-failed", PATIENCE)
        .expect("an allocation must fail")
        .parse()
        .unwrap();
    assert!(failed <= 64, "failed only at {failed} MiB");
    wait_exit(&mut child);
    // The control: without the limit the same allocation succeeds.
    let free = Job::new().unwrap();
    let mut child = spawn_in(&free, &["eat-memory", "256"]);
    let lines = Lines::of(&mut child);
    assert_eq!(lines.value("allocated", PATIENCE).as_deref(), Some("16"));
    wait_exit(&mut child);
}

fn iterations(job: &Job, secs: &str) -> u64 {
    let mut child = spawn_in(job, &["spin", secs]);
    let lines = Lines::of(&mut child);
    let n = lines
        .value("iterations", PATIENCE)
        .expect("iterations")
        .parse()
        .unwrap();
    wait_exit(&mut child);
    n
}

#[test]
fn cpu_hard_cap_slows_a_spinner() {
    if !enforcement("cpu_hard_cap_slows_a_spinner") {
        return;
    }
    let cpus =
        u32::try_from(std::thread::available_parallelism().map_or(1, |n| n.get())).unwrap_or(1);
    // A quarter of one CPU, as a share of the whole machine.
    let cap = CpuRate::from_hundredths((2500 / cpus).max(1)).unwrap();
    let free = iterations(&Job::new().unwrap(), "2");
    let capped_job = Job::builder()
        .limits(Limits::new().cpu_rate(cap))
        .create()
        .unwrap();
    let capped = iterations(&capped_job, "2");
    assert!(
        capped * 10 < free * 6,
        "capped at {cap} of {cpus} CPUs: {capped} iterations against {free} free"
    );
}

#[test]
fn priority_and_affinity_are_what_the_child_sees() {
    if !enforcement("priority_and_affinity_are_what_the_child_sees") {
        return;
    }
    let job = Job::builder()
        .limits(
            Limits::new()
                .priority(Priority::Idle)
                .affinity("0".parse().unwrap()),
        )
        .create()
        .unwrap();
    let mut child = spawn_in(&job, &["limits-seen"]);
    let lines = Lines::of(&mut child);
    assert_eq!(
        lines.value("priority-class", PATIENCE).as_deref(),
        Some("Idle")
    );
    assert_eq!(lines.value("affinity", PATIENCE).as_deref(), Some("0"));
    wait_exit(&mut child);
}

#[test]
fn process_time_limit_ends_the_process() {
    if !enforcement("process_time_limit_ends_the_process") {
        return;
    }
    let job = Job::builder()
        .limits(Limits::new().process_cpu_time(Duration::from_millis(300)))
        .create()
        .unwrap();
    // Unlimited, the spinner would exit with success after 15 s of wall
    // time; the limit ends it with a failure, however busy the machine.
    let mut child = spawn_in(&job, &["spin", "15"]);
    let status = wait_exit(&mut child);
    assert!(!status.success(), "{status:?}");
}

#[test]
fn opened_job_sees_the_creators_limits() {
    let name = format!(r"Local\{}", unique_name("limits"));
    let job = Job::builder()
        .name(&name)
        .limits(Limits::new().active_processes(6))
        .create()
        .unwrap();
    let opened = Job::open(&name).unwrap();
    assert!(!opened.kills_on_drop());
    if under_wine() {
        skip("opened_job_sees_the_creators_limits", WINE_ZEROS);
    } else {
        assert_eq!(opened.limits().unwrap().active_processes, Some(6));
        opened
            .update_extended_limits(|l| assert!(l.kill_on_close))
            .unwrap();
    }
    drop(job);
}
