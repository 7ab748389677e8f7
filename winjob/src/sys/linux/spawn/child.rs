//! The code the new process runs between `clone` and `execve`.
//!
//! It runs on a stack of its own but in the parent's memory (`CLONE_VM`),
//! while the parent's thread waits (`CLONE_VFORK`) until it has called
//! `execve` successfully or exited. So it only reads the [`Plan`] the parent
//! built, writes its one result into it, and makes raw system calls
//! (`raw::syscall`): no allocation, no lock, no `errno`, no unwinding, no
//! thread-local. Every step that fails ends the child with status 127 after
//! storing the error number in [`Plan::error`], where the parent finds it
//! once it runs again.
//!
//! The steps, in order (each only if asked for):
//!
//! 1. every signal handler of the parent is reset to the default, and
//!    `SIGPIPE` too (std does the same), so that no handler of ours can run
//!    in this child once signals are unblocked; ignored signals stay ignored;
//! 2. `setsid`, or `setpgid` into the job's group or a new one;
//! 3. the writes of `0` to `cgroup.procs` files (the job's, where the kernel
//!    could not place the child itself, and cgroup v1 directories of its
//!    limits), before the identity changes, while this process has the
//!    parent's rights;
//! 4. standard streams (`dup3`, or clearing `FD_CLOEXEC` of a stream that
//!    already has the right number);
//! 5. per-process limits: `RLIMIT_AS`, `RLIMIT_CPU`, the nice value, the CPU
//!    affinity;
//! 6. supplementary groups, group id, user id (std's order);
//! 7. `chdir`;
//! 8. an empty signal mask (std's), then `execve` of each candidate path in
//!    turn, with `execvpe`'s rules for which errors go on to the next.

#![allow(unsafe_code)]
// Nothing here may panic: a panic in the child would run std's panic
// machinery on the parent thread's thread-locals. Arithmetic, indexing and
// unwrapping are denied; the compiler's own checks of `&*plan` (alignment,
// null) remain, on a pointer the parent made from a reference.
#![deny(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::ffi::{CStr, c_char};
use std::sync::atomic::{AtomicI32, Ordering};

use linux_raw_sys::errno;
use linux_raw_sys::general as k;

use super::raw::syscall;

/// Everything the child needs, built by the parent before the clone.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    /// The paths to `execve`, in order: one for a program with a `/`, one
    /// per `PATH` entry otherwise.
    pub(super) candidates: &'a [&'a CStr],
    /// `argv` and `envp`: null-terminated arrays of pointers to strings that
    /// live as long as the plan.
    pub(super) argv: &'a [*const c_char],
    pub(super) envp: &'a [*const c_char],
    pub(super) cwd: Option<&'a CStr>,
    /// The descriptor to put at 0, 1 and 2; `None` keeps what is there.
    pub(super) stdio: [Option<i32>; 3],
    pub(super) new_session: bool,
    /// `setpgid(0, group)`: 0 leads a new group.
    pub(super) process_group: Option<i32>,
    /// Each is written `0`, in this order.
    pub(super) procs: &'a [i32],
    pub(super) address_space: Option<u64>,
    pub(super) cpu_seconds: Option<u64>,
    pub(super) nice: Option<i32>,
    /// A CPU mask for `sched_setaffinity`, 64 CPUs per word.
    pub(super) affinity: Option<&'a [u64]>,
    /// `setgroups` with these, or with none (`Some(&[])`).
    pub(super) groups: Option<&'a [u32]>,
    pub(super) gid: Option<u32>,
    pub(super) uid: Option<u32>,
    /// Written by the child when a step fails: the error number.
    pub(super) error: AtomicI32,
}

/// Where the child starts: runs the plan, and ends in `execve` or, after
/// storing the error, in `exit_group(127)`.
pub(super) extern "C" fn entry(plan: *const u8) -> ! {
    // SAFETY: `spawn` passes a pointer to a `Plan` that stays alive, unmoved
    // and unchanged (but for `error`) until the clone returns in the parent,
    // which is after this child has exec'd or exited.
    let plan = unsafe { &*plan.cast::<Plan<'_>>() };
    let error = run(plan);
    plan.error.store(error, Ordering::SeqCst);
    exit(127)
}

fn exit(code: usize) -> ! {
    loop {
        // SAFETY: `exit_group` takes a number and does not return.
        let _ = unsafe { syscall(k::__NR_exit_group, [code, 0, 0, 0, 0, 0]) };
    }
}

/// The steps; returns the error number of the one that failed (an `execve`
/// that succeeds does not return).
fn run(plan: &Plan<'_>) -> i32 {
    match steps(plan) {
        Ok(()) => exec(plan),
        Err(e) => e,
    }
}

/// A system call, retried on `EINTR`.
///
/// # Safety
///
/// As for `raw::syscall`: the arguments are valid for `nr`.
unsafe fn sys(nr: u32, args: [usize; 6]) -> Result<usize, i32> {
    loop {
        // SAFETY: the caller's promise.
        match unsafe { syscall(nr, args) } {
            Err(e) if e == errno::EINTR.cast_signed() => {}
            other => return other,
        }
    }
}

/// A call whose arguments are all numbers.
fn sys_numbers(nr: u32, args: [usize; 6]) -> Result<usize, i32> {
    // SAFETY: only used below for calls that take no pointer (setsid,
    // setpgid, fcntl(F_SETFD), dup3, setpriority, setgid, setuid):
    // any number is valid input to them.
    unsafe { sys(nr, args) }
}

/// A call with one buffer the kernel reads: `(fd, buf, len, flags)`.
fn sys_read_buffer(nr: u32, fd: usize, buf: &[u8], flags: usize) -> Result<usize, i32> {
    // SAFETY: used for write, which reads `len` bytes at `buf`;
    // the slice is valid for that long.
    unsafe { sys(nr, [fd, buf.as_ptr() as usize, buf.len(), flags, 0, 0]) }
}

fn steps(plan: &Plan<'_>) -> Result<(), i32> {
    reset_signals()?;
    if plan.new_session {
        sys_numbers(k::__NR_setsid, [0; 6])?;
    } else if let Some(group) = plan.process_group {
        sys_numbers(
            k::__NR_setpgid,
            [0, group.cast_unsigned() as usize, 0, 0, 0, 0],
        )?;
    }
    for &fd in plan.procs {
        write_all(fd, b"0")?;
    }
    for (target, source) in [0usize, 1, 2].into_iter().zip(plan.stdio) {
        if let Some(source) = source {
            let source = source.cast_unsigned() as usize;
            if source == target {
                // The right number already, but close-on-exec: clear it.
                sys_numbers(k::__NR_fcntl, [target, k::F_SETFD as usize, 0, 0, 0, 0])?;
            } else {
                sys_numbers(k::__NR_dup3, [source, target, 0, 0, 0, 0])?;
            }
        }
    }
    if let Some(bytes) = plan.address_space {
        set_rlimit(k::RLIMIT_AS, bytes, bytes)?;
    }
    if let Some(seconds) = plan.cpu_seconds {
        // The soft limit sends SIGXCPU, the hard one a second later SIGKILL,
        // for a process that ignores the first.
        set_rlimit(k::RLIMIT_CPU, seconds, seconds.saturating_add(1))?;
    }
    if let Some(nice) = plan.nice {
        sys_numbers(
            k::__NR_setpriority,
            [
                k::PRIO_PROCESS as usize,
                0,
                nice.cast_unsigned() as usize,
                0,
                0,
                0,
            ],
        )?;
    }
    if let Some(mask) = plan.affinity {
        // SAFETY: sched_setaffinity reads `len` bytes of mask at the pointer.
        unsafe {
            sys(
                k::__NR_sched_setaffinity,
                [0, size_of_val(mask), mask.as_ptr() as usize, 0, 0, 0],
            )?;
        }
    }
    if let Some(groups) = plan.groups {
        // SAFETY: setgroups reads `len` 32-bit group ids at the pointer.
        unsafe {
            sys(
                k::__NR_setgroups,
                [groups.len(), groups.as_ptr() as usize, 0, 0, 0, 0],
            )?;
        }
    }
    if let Some(gid) = plan.gid {
        sys_numbers(k::__NR_setgid, [gid as usize, 0, 0, 0, 0, 0])?;
    }
    if let Some(uid) = plan.uid {
        sys_numbers(k::__NR_setuid, [uid as usize, 0, 0, 0, 0, 0])?;
    }
    if let Some(dir) = plan.cwd {
        // SAFETY: chdir reads a NUL-terminated string.
        unsafe {
            sys(k::__NR_chdir, [dir.as_ptr() as usize, 0, 0, 0, 0, 0])?;
        }
    }
    let empty: u64 = 0;
    // SAFETY: rt_sigprocmask reads an 8-byte mask at the pointer, and writes
    // no old mask (null).
    unsafe {
        sys(
            k::__NR_rt_sigprocmask,
            [
                k::SIG_SETMASK as usize,
                (&raw const empty) as usize,
                0,
                size_of::<u64>(),
                0,
                0,
            ],
        )?;
    }
    Ok(())
}

/// Resets every caught signal to its default action (and `SIGPIPE`, which
/// Rust programs ignore); ignored ones stay ignored, as `execve` keeps them.
fn reset_signals() -> Result<(), i32> {
    let default = k::kernel_sigaction {
        sa_handler_kernel: None,
        sa_flags: 0,
        sa_restorer: None,
        sa_mask: k::kernel_sigset_t { sig: [0] },
    };
    for signal in 1..=64usize {
        if signal == k::SIGKILL as usize || signal == k::SIGSTOP as usize {
            continue;
        }
        let mut old = default;
        // SAFETY: rt_sigaction with no new action (null) writes the current
        // one into `old`, a `kernel_sigaction` with an 8-byte mask.
        unsafe {
            sys(
                k::__NR_rt_sigaction,
                [signal, 0, (&raw mut old) as usize, size_of::<u64>(), 0, 0],
            )?;
        }
        let handler = old.sa_handler_kernel.map_or(0, |h| h as usize);
        // SIG_DFL is 0, SIG_IGN is 1.
        if handler > 1 || signal == k::SIGPIPE as usize {
            // SAFETY: rt_sigaction reads the new action from `default`.
            unsafe {
                sys(
                    k::__NR_rt_sigaction,
                    [
                        signal,
                        (&raw const default) as usize,
                        0,
                        size_of::<u64>(),
                        0,
                        0,
                    ],
                )?;
            }
        }
    }
    Ok(())
}

fn set_rlimit(resource: u32, current: u64, maximum: u64) -> Result<(), i32> {
    let limit = k::rlimit64 {
        rlim_cur: current,
        rlim_max: maximum,
    };
    // SAFETY: prlimit64 on this process (0) reads the new limit from
    // `limit` and writes no old one (null).
    unsafe {
        sys(
            k::__NR_prlimit64,
            [0, resource as usize, (&raw const limit) as usize, 0, 0, 0],
        )?;
    }
    Ok(())
}

fn write_all(fd: i32, mut bytes: &[u8]) -> Result<(), i32> {
    while !bytes.is_empty() {
        let n = sys_read_buffer(k::__NR_write, fd.cast_unsigned() as usize, bytes, 0)?;
        if n == 0 {
            return Err(errno::EIO.cast_signed());
        }
        bytes = bytes.get(n..).unwrap_or_default();
    }
    Ok(())
}

/// `execve` of each candidate, with `execvpe`'s rules: a candidate that is
/// missing or not a directory goes on to the next, one that may not be run
/// goes on but is remembered (`EACCES` wins over `ENOENT` at the end), any
/// other error ends the search.
fn exec(plan: &Plan<'_>) -> i32 {
    let mut denied = false;
    let mut last = errno::ENOENT.cast_signed();
    for path in plan.candidates {
        // SAFETY: `path` is a NUL-terminated string and `argv`/`envp` are
        // null-terminated arrays of them, all owned by the parent for the
        // lifetime of the plan; `execve` only reads them.
        let result = unsafe {
            syscall(
                k::__NR_execve,
                [
                    path.as_ptr() as usize,
                    plan.argv.as_ptr() as usize,
                    plan.envp.as_ptr() as usize,
                    0,
                    0,
                    0,
                ],
            )
        };
        let Err(e) = result else {
            // `execve` does not return on success.
            continue;
        };
        last = e;
        match e.cast_unsigned() {
            errno::EACCES => denied = true,
            errno::ENOENT | errno::ESTALE | errno::ENOTDIR | errno::ENODEV | errno::ETIMEDOUT => {}
            _ => return e,
        }
    }
    if denied {
        errno::EACCES.cast_signed()
    } else {
        last
    }
}
