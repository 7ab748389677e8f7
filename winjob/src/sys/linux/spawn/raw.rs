//! Raw system calls for the code between `clone` and `execve`, and the
//! `clone3`/`clone` entry into that code on a stack of its own.
//!
//! The child of a `CLONE_VM | CLONE_VFORK` clone shares this process's memory
//! and, since it is not a thread of ours, its thread pointer is the parent
//! thread's: it must not touch `errno`, thread-locals, locks or the
//! allocator. So it calls the kernel directly, through the one instruction
//! below, and gets errors back as plain numbers. The numbers of the calls and
//! the layout of `clone_args` come from `linux-raw-sys`, as rustix's do.
//!
//! Only x86-64 has the entry written and tested here ([`SUPPORTED`]); other
//! architectures use the `fork`-based path of `spawn/hook.rs` (see
//! `spawn/mod.rs`).

#![allow(unsafe_code)]

/// True where [`clone3`] and [`clone`] are implemented.
pub(crate) const SUPPORTED: bool = cfg!(target_arch = "x86_64");

/// A system call's return: a value, or `-errno` in the kernel's range.
fn result(ret: isize) -> Result<usize, i32> {
    if (-4095..0).contains(&ret) {
        Err(i32::try_from(ret.unsigned_abs()).unwrap_or(i32::MAX))
    } else {
        Ok(ret.cast_unsigned())
    }
}

/// `syscall(nr, a..f)`: the kernel's raw interface, six arguments at most.
///
/// # Safety
///
/// The arguments must be valid for system call `nr`: every pointer points to
/// memory of the size and kind the call reads or writes, for as long as it
/// does.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) unsafe fn syscall(nr: u32, args: [usize; 6]) -> Result<usize, i32> {
    let ret: isize;
    // SAFETY: the caller promises valid arguments; the `syscall` instruction
    // clobbers only rax (the result), rcx and r11, all declared.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as usize => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    result(ret)
}

/// Elsewhere, nothing calls it: [`SUPPORTED`] is false.
///
/// # Safety
///
/// None needed: it makes no call.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn syscall(_nr: u32, _args: [usize; 6]) -> Result<usize, i32> {
    Err(linux_raw_sys::errno::ENOSYS.cast_signed())
}

/// The code a new child runs: never returns (it `execve`s or exits).
pub(crate) type Entry = extern "C" fn(*const u8) -> !;

/// `clone3(args, size)` where the child starts in `entry(arg)` on the stack
/// `args` names, and the parent gets the child's pid back.
///
/// # Safety
///
/// `args` must be a valid `clone_args` with `CLONE_VM` and `CLONE_VFORK`,
/// a 16-byte aligned stack of `stack_size` bytes that nothing else uses
/// until the call returns, and `arg` must be what `entry` expects, valid
/// until the call returns. `entry` must only make raw system calls on
/// memory prepared beforehand, and end in `execve` or `exit_group`. Signals
/// must be blocked in the calling thread, so that no handler of ours runs
/// on the child's stack.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn clone3(
    args: &linux_raw_sys::general::clone_args,
    stack_top: *mut u8,
    entry: Entry,
    arg: *const u8,
) -> Result<usize, i32> {
    let ret: isize;
    // SAFETY: the caller promises the preconditions. In the child, rax is 0:
    // the code moves rsp to `stack_top` itself, aligned down to 16 bytes
    // (Linux 5.3 without the fix of "clone3: validate stack arguments" sets
    // it to the *bottom* of the stack, so the kernel's choice is not
    // trusted), clears the frame pointer, passes `arg` in rdi (the C ABI's
    // first argument) and calls `entry`, which never returns (`ud2` if it
    // did). In the parent, rax is the pid or `-errno`; r12, r13 and r14
    // (callee-saved) are only read, rcx and r11 are clobbered by `syscall`.
    unsafe {
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rsp, r14",
            "and rsp, -16",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") linux_raw_sys::general::__NR_clone3 as usize => ret,
            in("rdi") core::ptr::from_ref(args),
            in("rsi") size_of::<linux_raw_sys::general::clone_args>(),
            in("r12") arg,
            in("r13") entry,
            in("r14") stack_top,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    result(ret)
}

/// `clone(flags, stack_top, pidfd_out, 0, 0)`, the call before `clone3`
/// (for kernels older than 5.3, or seccomp profiles that refuse `clone3`),
/// with the child starting in `entry(arg)` on `stack_top`. With
/// `CLONE_PIDFD` in `flags` the kernel stores the pidfd in `*pidfd_out`.
///
/// # Safety
///
/// As for [`clone3`]: `flags` has `CLONE_VM | CLONE_VFORK`, `stack_top` is
/// the 16-byte aligned top of a stack nothing else uses, `pidfd_out` is
/// valid for an `i32` write.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn clone(
    flags: u64,
    stack_top: *mut u8,
    pidfd_out: *mut i32,
    entry: Entry,
    arg: *const u8,
) -> Result<usize, i32> {
    let ret: isize;
    // SAFETY: as in `clone3` (rsp set from r14 in the child); x86-64's
    // `clone` takes (flags, newsp, parent_tid, child_tid, tls) in rdi, rsi,
    // rdx, r10, r8, and with CLONE_PIDFD writes the pidfd where parent_tid
    // points.
    unsafe {
        core::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rsp, r14",
            "and rsp, -16",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") linux_raw_sys::general::__NR_clone as usize => ret,
            in("rdi") flags,
            in("rsi") stack_top,
            in("rdx") pidfd_out,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") arg,
            in("r13") entry,
            in("r14") stack_top,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    result(ret)
}

/// Elsewhere, nothing calls it: [`SUPPORTED`] is false.
///
/// # Safety
///
/// None needed: it makes no call.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn clone3(
    _args: &linux_raw_sys::general::clone_args,
    _stack_top: *mut u8,
    _entry: Entry,
    _arg: *const u8,
) -> Result<usize, i32> {
    Err(linux_raw_sys::errno::ENOSYS.cast_signed())
}

/// Elsewhere, nothing calls it: [`SUPPORTED`] is false.
///
/// # Safety
///
/// None needed: it makes no call.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn clone(
    _flags: u64,
    _stack_top: *mut u8,
    _pidfd_out: *mut i32,
    _entry: Entry,
    _arg: *const u8,
) -> Result<usize, i32> {
    Err(linux_raw_sys::errno::ENOSYS.cast_signed())
}
