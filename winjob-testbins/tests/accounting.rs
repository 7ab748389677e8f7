//! Accounting, checked against what the processes did: a spinner's CPU time,
//! an allocation's peak, the number of members. And the promise that a query
//! into a caller's value allocates nothing, measured with a counting
//! allocator.

// The counting allocator is the one `unsafe` here: `GlobalAlloc` is an
// unsafe trait.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use winjob::{Accounting, Job};

/// Counts the allocations of the current thread (tests run in parallel, so a
/// global count would mix them up).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is a thread-local `Cell` with a const initialiser, which needs no
// allocation and cannot re-enter the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn a_query_into_a_callers_value_allocates_nothing() {
    let job = Job::new().unwrap();
    let mut child = KillOnDrop(job.spawn(&mut helper(&["tree", "1", "2", "30"])).unwrap());
    Lines::of(&mut child).pids(3, LONG);
    let mut acct = Accounting::default();
    job.accounting_into(&mut acct).unwrap(); // warm up lazy statics
    let before = allocations();
    for _ in 0..100 {
        job.accounting_into(&mut acct).unwrap();
    }
    let during = allocations() - before;
    println!("100 accounting queries: {during} allocations; last: {acct:?}");
    assert_eq!(during, 0, "accounting_into allocated");
    // Three (under Wine a process it created for a spawn the tree retried
    // after error 1359 can be there for a moment too).
    assert!(
        eventually(LONG, || {
            job.accounting_into(&mut acct).unwrap();
            acct.active_processes == Some(3)
        }),
        "{acct:?}"
    );
}

#[test]
fn active_processes_follow_the_members() {
    let job = Job::new().unwrap();
    assert_eq!(job.accounting().unwrap().active_processes, Some(0));
    let mut child = job.spawn(&mut helper(&["tree", "1", "3", "30"])).unwrap();
    Lines::of(&mut child).pids(4, LONG);
    assert!(eventually(LONG, || job
        .accounting()
        .unwrap()
        .active_processes
        == Some(4)));
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap());
    assert_eq!(job.accounting().unwrap().active_processes, Some(0));
    child.wait().unwrap();
}

/// A spinner's CPU time is counted, and still counted after it exited: on
/// Linux the spinner uses one second of CPU and prints what it used (its own
/// `/proc/self/stat`), the reference the job's figure is checked against,
/// however busy the machine; elsewhere it spins for a second.
#[test]
fn cpu_time_of_exited_processes_stays() {
    let job = Job::new().unwrap();
    let mut spinner = job.spawn(&mut helper(&["burn-cpu", "1"])).unwrap();
    let own: Option<f64> = Lines::of(&mut spinner)
        .value("cpu", LONG)
        .map(|cpu| cpu.parse().expect("cpu line"));
    assert!(spinner.wait().unwrap().success());
    assert!(job.wait_timeout(LONG).unwrap());
    let acct = job.accounting().unwrap();
    println!("{acct}");
    let Some(cpu) = acct.cpu_time() else {
        skip(
            "cpu_time_of_exited_processes_stays",
            &format!(
                "this backend does not measure CPU time here ({})",
                winjob::capabilities().unwrap().reason
            ),
        );
        return;
    };
    let cpu = cpu.as_secs_f64();
    match own {
        // To a tick of the reference (1/100 s), and little more: the job
        // also holds the helper's start-up.
        Some(own) => assert!(
            cpu >= own - 0.02 && cpu <= own + 0.25,
            "the spinner used {own} s of CPU, the job accounted {cpu} s"
        ),
        // Windows: a second of wall time spinning, on an idle runner.
        None => assert!(
            (0.8..=1.2).contains(&cpu),
            "a 1 s spinner accounted {cpu} s"
        ),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn peak_job_memory_covers_an_allocation() {
    // Linux keeps a peak only where the memory controller holds the job,
    // which a memory limit arranges.
    let limits = winjob::Limits::new().job_memory(512 << 20);
    let Ok(job) = Job::builder().limits(limits).create() else {
        skip(
            "peak_job_memory_covers_an_allocation",
            "no memory controller in this mode",
        );
        return;
    };
    let mut child = job.spawn(&mut helper(&["eat-memory", "48"])).unwrap();
    assert_eq!(
        Lines::of(&mut child).value("done", LONG).as_deref(),
        Some("")
    );
    child.wait().unwrap();
    let acct = job.accounting().unwrap();
    let peak = acct
        .peak_job_memory
        .expect("a peak where the memory controller is");
    assert!(peak >= 48 << 20, "peak {peak} below the 48 MiB allocated");
    if let Some(faults) = acct.page_faults {
        assert!(faults > 0, "48 MiB touched without a page fault");
    }
}
