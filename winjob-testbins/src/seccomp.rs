//! `no-clone3 ERRNO SUBCOMMAND...`: runs a subcommand of this helper with
//! `clone3` refused by a seccomp filter, as older container profiles refuse
//! it (Docker's before 20.10 answered `EPERM`, others `ENOSYS`), so that the
//! tests see winjob's spawn fall back to the classic `clone` on a real
//! kernel refusal. `no-socket SUBCOMMAND...` refuses `socket(2)` with
//! `EPERM`, as an unprivileged user before Linux 6.6 is refused the proc
//! connector, so that the tests see the events without it.
//!
//! The one file of the helper with `unsafe`: installing a filter takes a
//! pointer to a BPF program, which no safe crate of the tree wraps.

#![allow(unsafe_code)]

use std::io;

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const NR_CLONE3: u32 = 435;
const NR_SOCKET: u32 = 41;

/// Makes every later `clone3` of this thread (and of the processes it
/// starts) fail with `errno`.
pub(crate) fn refuse_clone3(errno: u32) -> io::Result<()> {
    refuse(NR_CLONE3, errno)
}

/// Makes every later `socket` of this process's threads started after this
/// (and of the processes it starts) fail with `EPERM`.
pub(crate) fn refuse_sockets() -> io::Result<()> {
    refuse(NR_SOCKET, 1)
}

/// Makes the x86-64 system call `nr` fail with `errno`.
fn refuse(nr: u32, errno: u32) -> io::Result<()> {
    if !cfg!(target_arch = "x86_64") {
        return Err(io::Error::other("the seccomp filter is written for x86-64"));
    }
    // seccomp_data: nr at offset 0, arch at offset 4.
    let program = [
        SockFilter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 4,
        },
        SockFilter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: 3,
            k: AUDIT_ARCH_X86_64,
        },
        SockFilter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        SockFilter {
            code: BPF_JEQ_K,
            jt: 0,
            jf: 1,
            k: nr,
        },
        SockFilter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ERRNO | (errno & 0xffff),
        },
        SockFilter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        },
    ];
    let fprog = SockFprog {
        len: u16::try_from(program.len()).unwrap_or(u16::MAX),
        filter: program.as_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain numbers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fprog` points to `program`, a valid BPF program of `len`
    // instructions, both alive for the call; the kernel copies them.
    let installed = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &raw const fprog,
            0,
            0,
        )
    };
    if installed != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
