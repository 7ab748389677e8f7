//! Process creation on Linux: winjob's own `Command`, born inside its job.
//!
//! # Strategy
//!
//! `std::process::Command` can only put a child into a cgroup from a
//! `pre_exec` hook, which makes std `fork`: a copy of the caller's page
//! tables, so a spawn costs more the more memory the caller holds (165× a
//! plain spawn at 4 GiB resident, measured in issue #13), and then a cgroup
//! migration, which waits for an RCU grace period. This module does what
//! `posix_spawn` does instead, plus the job:
//!
//! 1. **In the parent**, everything is prepared: `argv` and `envp` as C
//!    arrays, the candidate paths of a `PATH` search, the standard streams
//!    (`/dev/null`, pipes, the caller's files, moved off 0–2 where they would
//!    collide), the job's cgroup and limits ([`Plan`](child::Plan)). Bad
//!    input fails here,
//!    before any system call: a NUL byte (`InvalidInput`, naming the field),
//!    an environment name with `=`.
//! 2. **`clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_INTO_CGROUP)`**
//!    starts the child on a stack of its own, sharing the parent's memory
//!    while the calling thread waits; with all signals blocked in that thread,
//!    so no handler of ours runs on the child's stack. The kernel creates
//!    the child in the job's cgroup (cgroup v2) and returns a pidfd.
//! 3. **In the child** (`child.rs`), only raw system calls on the plan, then
//!    `execve`; a failing step stores its error number in the plan and
//!    exits 127. When the parent's thread runs again the child has either
//!    exec'd or exited: an error found in the plan is returned as
//!    `io::Error::from_raw_os_error`, the same error std gives, after the
//!    child was reaped. Nothing is left running.
//!
//! # Fallbacks
//!
//! Tried in this order, each remembered for the rest of the process once the
//! kernel refused the one before:
//!
//! - `clone3` refuses `CLONE_INTO_CGROUP` (`EINVAL`/`E2BIG`, kernels before
//!   5.7): `clone3` without it, and the child writes itself into the job's
//!   `cgroup.procs` (cgroup v1 jobs always do this: a v1 directory cannot be
//!   a clone target);
//! - no `clone3` (`ENOSYS` before 5.3, or `ENOSYS`/`EPERM` from a seccomp
//!   profile): the classic `clone` with the same flags, the child writing
//!   itself into the job;
//! - `clone` refuses `CLONE_PIDFD` (`EINVAL`, before 5.2): without it; the
//!   `Child` then waits and kills by pid.
//!
//! The parent-copying `fork` is never used. The environment variable
//! `WINJOB_LINUX_SPAWN` starts lower on the ladder: `clone3-no-cgroup`
//! (`clone3`, the child moving itself) or `clone` (the classic call), for
//! the tests of the fallbacks and for a kernel whose `clone3` misbehaves.
//!
//! # Known gaps
//!
//! - The entry into the child is written for x86-64 only (`raw.rs`); on other
//!   architectures [`spawn`] returns `Unsupported`, and `Job::spawn` with a
//!   std `Command` is the way.
//! - Descriptors the caller opened without `O_CLOEXEC` are inherited, as with
//!   std.
//! - `ENOEXEC` (a script without `#!`) is returned, not run by `/bin/sh`, as
//!   `posix_spawnp` does.
//! - A child killed before its `execve` (a signal pending when its mask is
//!   emptied, or an exec failing after its point of no return) is a
//!   successful spawn of a process that exits at once, as with glibc.
//! - `SIGPIPE` is reset to its default in the child, as std does, even if
//!   the caller ignores it on purpose.
//! - A fallback, once taken, is taken by every later spawn of the process.

#![allow(unsafe_code)]

mod child;
pub(crate) mod hook;
pub(super) mod raw;

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr, OsString, c_char};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use linux_raw_sys::general as k;

use self::child::Plan;
use super::child::Child;
use super::limits::SpawnSettings;
use crate::child::Spawned;
use crate::command::{Arg, Command, EnvChange, StdioKind};
use crate::error::{invalid_input, unsupported};

/// What `os::linux::CommandExt` sets on a [`Command`].
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandOptions {
    /// `argv[0]`, if not the program.
    pub(crate) arg0: Option<OsString>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) groups: Option<Vec<u32>>,
    /// `setpgid(0, group)`: 0 leads a new group.
    pub(crate) process_group: Option<i32>,
    /// `setsid`.
    pub(crate) new_session: bool,
}

/// Where a new process goes, as the job describes it.
#[derive(Default)]
pub(crate) struct Placement<'a> {
    /// A cgroup v2 directory for `CLONE_INTO_CGROUP`.
    pub(crate) cgroup: Option<BorrowedFd<'a>>,
    /// The job's own `cgroup.procs`, written by the child where the kernel
    /// cannot place it (cgroup v1, or no `CLONE_INTO_CGROUP`).
    pub(crate) cgroup_procs: Option<BorrowedFd<'a>>,
    /// Per-process limits and cgroup v1 directories of limits.
    pub(crate) settings: Option<SpawnSettings>,
    /// `setpgid(0, group)`: 0 leads a new group.
    pub(crate) process_group: Option<i32>,
}

/// Kernel features found missing, for the rest of the process.
static NO_INTO_CGROUP: AtomicBool = AtomicBool::new(false);
static NO_CLONE3: AtomicBool = AtomicBool::new(false);
static NO_PIDFD: AtomicBool = AtomicBool::new(false);

/// `WINJOB_LINUX_SPAWN`: where the ladder starts, read once.
fn forced() -> &'static str {
    static CHOICE: OnceLock<String> = OnceLock::new();
    CHOICE.get_or_init(|| std::env::var("WINJOB_LINUX_SPAWN").unwrap_or_default())
}

fn start_at_clone() -> bool {
    forced() == "clone"
}

fn without_into_cgroup() -> bool {
    NO_INTO_CGROUP.load(Ordering::Relaxed) || forced() == "clone3-no-cgroup"
}

/// Which process creation call the next spawn will use: `clone3` with
/// `CLONE_INTO_CGROUP`, `clone3`, `clone` with a pidfd, or `clone`.
pub(crate) fn method() -> &'static str {
    let clone3 = !NO_CLONE3.load(Ordering::Relaxed) && !start_at_clone();
    match (
        clone3,
        without_into_cgroup(),
        NO_PIDFD.load(Ordering::Relaxed),
    ) {
        (true, false, _) => "clone3(CLONE_INTO_CGROUP)",
        (true, true, _) => "clone3",
        (false, _, false) => "clone(CLONE_PIDFD)",
        (false, _, true) => "clone",
    }
}

/// Starts `command` as `placement` says.
pub(crate) fn spawn(command: &Command, placement: Placement<'_>) -> io::Result<Spawned> {
    if !raw::SUPPORTED {
        return Err(unsupported(
            "winjob's own Command is implemented for x86-64 Linux only so far; use Job::spawn \
             with a std::process::Command on this architecture",
        ));
    }
    let strings = Strings::new(command)?;
    let stdio = Streams::new(command)?;
    let settings = placement.settings.unwrap_or_default();
    // The `cgroup.procs` the child writes: with the kernel placing it in the
    // job (`CLONE_INTO_CGROUP`), only those of the v1 limit directories
    // (the tail); otherwise the job's own first. `create` picks per attempt.
    let procs: Vec<RawFd> = placement
        .cgroup_procs
        .iter()
        .map(AsRawFd::as_raw_fd)
        .chain(settings.procs.iter().map(|fd| fd.as_raw_fd()))
        .collect();
    let limits_only = &procs[usize::from(placement.cgroup_procs.is_some())..];
    let affinity = match settings.affinity.as_ref() {
        Some(cpus) => {
            let mut mask = [0u64; 16];
            for cpu in cpus.iter() {
                let cpu = cpu as usize;
                let word = mask.get_mut(cpu / 64).ok_or_else(|| {
                    invalid_input(format!(
                        "affinity names CPU {cpu}; a spawn can set CPUs 0-1023 (CPU_SETSIZE)"
                    ))
                })?;
                *word |= 1 << (cpu % 64);
            }
            Some(mask)
        }
        None => None,
    };
    let options = &command.os;
    let groups: Option<&[u32]> = match (&options.groups, options.uid) {
        (Some(groups), _) => Some(groups),
        // Dropping root's privileges drops its supplementary groups too,
        // as std does.
        (None, Some(_)) if rustix::process::getuid().is_root() => Some(&[]),
        _ => None,
    };
    let candidates: Vec<&CStr> = strings.candidates.iter().map(CString::as_c_str).collect();
    let mut plan = Plan {
        candidates: &candidates,
        argv: &strings.argv,
        envp: &strings.envp,
        cwd: strings.cwd.as_deref(),
        stdio: stdio.child_fds(),
        new_session: options.new_session,
        process_group: placement.process_group.or(options.process_group),
        procs: &procs,
        address_space: settings.address_space,
        cpu_seconds: settings.cpu_seconds,
        nice: settings.nice,
        affinity: affinity.as_ref().map(|m| &m[..]),
        groups,
        gid: options.gid,
        uid: options.uid,
        error: AtomicI32::new(0),
    };
    let (pid, pidfd) = create(&mut plan, placement.cgroup, &procs, limits_only)?;
    let child = Child::new(pid, pidfd);
    let error = plan.error.load(Ordering::SeqCst);
    if error != 0 {
        // The child stored an error and exited: reap it.
        let mut child = child;
        let _ = child.wait(None);
        return Err(io::Error::from_raw_os_error(error));
    }
    let (stdin, stdout, stderr) = stdio.parent_ends();
    Ok(Spawned {
        child,
        stdin,
        stdout,
        stderr,
    })
}

/// The clone, down the ladder of fallbacks; the pid and, where the kernel
/// gives one, the pidfd. The child writes `procs_self` where it moves itself
/// into the job, `limits_only` where the kernel placed it.
fn create<'a>(
    plan: &mut Plan<'a>,
    cgroup: Option<BorrowedFd<'_>>,
    procs_self: &'a [RawFd],
    limits_only: &'a [RawFd],
) -> io::Result<(u32, Option<OwnedFd>)> {
    let mut stack = vec![0u128; STACK_SIZE / 16];
    let stack_base = stack.as_mut_ptr().cast::<u8>();
    let blocked = Blocked::all()?;
    let result = loop {
        if !NO_CLONE3.load(Ordering::Relaxed) && !start_at_clone() {
            let into = cgroup.filter(|_| !without_into_cgroup());
            plan.procs = if into.is_some() {
                limits_only
            } else {
                procs_self
            };
            let mut pidfd: i32 = -1;
            let mut flags = u64::from(k::CLONE_VM | k::CLONE_VFORK | k::CLONE_PIDFD);
            if into.is_some() {
                flags |= k::CLONE_INTO_CGROUP;
            }
            let args = k::clone_args {
                flags,
                pidfd: (&raw mut pidfd) as u64,
                child_tid: 0,
                parent_tid: 0,
                exit_signal: u64::from(k::SIGCHLD),
                stack: stack_base as u64,
                stack_size: STACK_SIZE as u64,
                tls: 0,
                set_tid: 0,
                set_tid_size: 0,
                cgroup: into.map_or(0, |fd| fd.as_raw_fd().cast_unsigned().into()),
            };
            // SAFETY: `args` has CLONE_VM | CLONE_VFORK and a 16-byte aligned
            // stack (a `u128` buffer) of STACK_SIZE bytes used by nothing
            // else; `plan` lives, unmoved, until the call returns, and
            // `child::entry` reads it and only makes raw system calls;
            // signals are blocked in this thread (`blocked`).
            let cloned = unsafe {
                raw::clone3(
                    &args,
                    stack_base.wrapping_add(STACK_SIZE),
                    child::entry,
                    core::ptr::from_ref(plan).cast(),
                )
            };
            match cloned {
                Ok(pid) => break Ok((pid, Some(pidfd))),
                Err(e) if into.is_some() && matches!(e.cast_unsigned(), E_INVAL | E_2BIG) => {
                    NO_INTO_CGROUP.store(true, Ordering::Relaxed);
                }
                Err(e) if matches!(e.cast_unsigned(), E_NOSYS | E_PERM) => {
                    NO_CLONE3.store(true, Ordering::Relaxed);
                }
                Err(e) => break Err(io::Error::from_raw_os_error(e)),
            }
            continue;
        }
        plan.procs = procs_self;
        let with_pidfd = !NO_PIDFD.load(Ordering::Relaxed);
        let mut flags = u64::from(k::CLONE_VM | k::CLONE_VFORK | k::SIGCHLD);
        if with_pidfd {
            flags |= u64::from(k::CLONE_PIDFD);
        }
        let mut pidfd: i32 = -1;
        let stack_top = stack_base.wrapping_add(STACK_SIZE);
        // SAFETY: as for `clone3` above; `stack_top` is the end of the stack
        // buffer, 16-byte aligned (STACK_SIZE is a multiple of 16), and
        // `pidfd` is valid for the kernel's write.
        let cloned = unsafe {
            raw::clone(
                flags,
                stack_top,
                &raw mut pidfd,
                child::entry,
                core::ptr::from_ref(plan).cast(),
            )
        };
        match cloned {
            Ok(pid) => break Ok((pid, with_pidfd.then_some(pidfd))),
            Err(e) if with_pidfd && e.cast_unsigned() == E_INVAL => {
                NO_PIDFD.store(true, Ordering::Relaxed);
            }
            Err(e) => break Err(io::Error::from_raw_os_error(e)),
        }
    };
    drop(blocked);
    drop(stack);
    let (pid, pidfd) = result?;
    let pid = u32::try_from(pid).map_err(|_| io::Error::other("clone returned no pid"))?;
    let pidfd = match pidfd {
        Some(fd) if fd >= 0 => {
            // SAFETY: the kernel returned `fd` as a new pidfd (O_CLOEXEC),
            // owned by nobody else.
            Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        }
        _ => None,
    };
    Ok((pid, pidfd))
}

const STACK_SIZE: usize = 32 * 1024;
const E_INVAL: u32 = linux_raw_sys::errno::EINVAL;
const E_2BIG: u32 = linux_raw_sys::errno::E2BIG;
const E_NOSYS: u32 = linux_raw_sys::errno::ENOSYS;
const E_PERM: u32 = linux_raw_sys::errno::EPERM;

/// Every signal blocked in this thread while it lives; the old mask back on
/// drop.
struct Blocked(u64);

impl Blocked {
    fn all() -> io::Result<Blocked> {
        let all: u64 = !0;
        let mut old: u64 = 0;
        // SAFETY: rt_sigprocmask reads the 8-byte set at `all` and writes the
        // old one to `old`, both live for the call.
        unsafe {
            raw::syscall(
                k::__NR_rt_sigprocmask,
                [
                    k::SIG_SETMASK as usize,
                    (&raw const all) as usize,
                    (&raw mut old) as usize,
                    size_of::<u64>(),
                    0,
                    0,
                ],
            )
        }
        .map_err(io::Error::from_raw_os_error)?;
        Ok(Blocked(old))
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let old = self.0;
        // SAFETY: as in `all`, reading the saved mask.
        let _ = unsafe {
            raw::syscall(
                k::__NR_rt_sigprocmask,
                [
                    k::SIG_SETMASK as usize,
                    (&raw const old) as usize,
                    0,
                    size_of::<u64>(),
                    0,
                    0,
                ],
            )
        };
    }
}

/// The C strings of a spawn and the arrays pointing at them.
struct Strings {
    candidates: Vec<CString>,
    _args: Vec<CString>,
    argv: Vec<*const c_char>,
    _vars: Vec<CString>,
    envp: Vec<*const c_char>,
    cwd: Option<CString>,
}

fn c_string(bytes: Vec<u8>, what: impl FnOnce() -> String) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        invalid_input(format!(
            "{} contains a NUL byte, which a C string cannot hold",
            what()
        ))
    })
}

impl Strings {
    fn new(command: &Command) -> io::Result<Strings> {
        let program = c_string(command.program.as_bytes().to_vec(), || {
            format!("the program {:?}", command.program)
        })?;
        let mut args = Vec::with_capacity(command.args.len() + 1);
        args.push(match &command.os.arg0 {
            Some(arg0) => c_string(arg0.as_bytes().to_vec(), || format!("arg0 {arg0:?}"))?,
            None => program.clone(),
        });
        for (i, arg) in command.args.iter().enumerate() {
            let (Arg::Regular(a) | Arg::Raw(a)) = arg;
            args.push(c_string(a.as_bytes().to_vec(), || {
                format!("argument {} ({a:?})", i + 1)
            })?);
        }
        let env = environment(&command.env)?;
        let mut vars = Vec::with_capacity(env.len());
        for (key, value) in &env {
            let mut line = key.as_bytes().to_vec();
            line.push(b'=');
            line.extend_from_slice(value.as_bytes());
            vars.push(c_string(line, || {
                format!("the value of environment variable {key:?}")
            })?);
        }
        let candidates = candidates(
            &program,
            env.get(OsStr::new("PATH")).map(OsString::as_os_str),
        );
        let cwd = match &command.current_dir {
            Some(dir) => Some(c_string(dir.as_os_str().as_bytes().to_vec(), || {
                format!("current_dir {dir:?}")
            })?),
            None => None,
        };
        let argv = args
            .iter()
            .map(|a| a.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        let envp = vars
            .iter()
            .map(|v| v.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        Ok(Strings {
            candidates,
            _args: args,
            argv,
            _vars: vars,
            envp,
            cwd,
        })
    }
}

/// The child's environment: this process's, changed as the command says.
fn environment(changes: &[EnvChange]) -> io::Result<BTreeMap<OsString, OsString>> {
    let check = |key: &OsStr| -> io::Result<()> {
        if key.is_empty() || key.as_bytes().contains(&b'=') {
            return Err(invalid_input(format!(
                "environment variable name {key:?} is empty or contains `=`; a name is any \
                 non-empty string without `=` or NUL"
            )));
        }
        if key.as_bytes().contains(&0) {
            return Err(invalid_input(format!(
                "environment variable name {key:?} contains a NUL byte"
            )));
        }
        Ok(())
    };
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for change in changes {
        match change {
            EnvChange::Set(key, value) => {
                check(key)?;
                env.insert(key.clone(), value.clone());
            }
            EnvChange::Remove(key) => {
                env.remove(key);
            }
            EnvChange::Clear => env.clear(),
        }
    }
    Ok(env)
}

/// The paths to try: the program itself if it has a `/`, else each `PATH`
/// entry joined with it (an empty entry is the working directory), with
/// glibc's default path when the child has no `PATH`.
fn candidates(program: &CStr, path: Option<&OsStr>) -> Vec<CString> {
    let name = program.to_bytes();
    if name.contains(&b'/') || name.is_empty() {
        return vec![program.to_owned()];
    }
    let path = path.map_or(&b"/bin:/usr/bin"[..], OsStrExt::as_bytes);
    path.split(|&b| b == b':')
        .filter_map(|dir| {
            let mut full = dir.to_vec();
            if !full.is_empty() {
                full.push(b'/');
            }
            full.extend_from_slice(name);
            // A NUL in PATH cannot happen (the environment is C strings).
            CString::new(full).ok()
        })
        .collect()
}

/// The standard streams of a spawn: what the child gets, and this side's
/// pipe ends.
#[derive(Default)]
struct Streams {
    /// Descriptors opened or duplicated for this spawn, held until it is over.
    child: [Option<OwnedFd>; 3],
    /// The caller's descriptors used as they are.
    borrowed: [Option<RawFd>; 3],
    parent: [Option<OwnedFd>; 3],
}

impl Streams {
    fn new(command: &Command) -> io::Result<Streams> {
        let mut streams = Streams::default();
        let mut null: Option<Arc<File>> = None;
        for (i, stdio) in [&command.stdin, &command.stdout, &command.stderr]
            .into_iter()
            .enumerate()
        {
            let Some(stdio) = stdio else { continue };
            match &stdio.0 {
                StdioKind::Inherit => {}
                StdioKind::Null => {
                    let file = match &null {
                        Some(f) => Arc::clone(f),
                        None => {
                            let f = Arc::new(
                                std::fs::OpenOptions::new()
                                    .read(true)
                                    .write(true)
                                    .open("/dev/null")?,
                            );
                            null = Some(Arc::clone(&f));
                            f
                        }
                    };
                    streams.child[i] = Some(file.as_fd().try_clone_to_owned()?);
                }
                StdioKind::Piped => {
                    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
                    let (theirs, ours) = if i == 0 { (read, write) } else { (write, read) };
                    streams.child[i] = Some(theirs);
                    streams.parent[i] = Some(ours);
                }
                StdioKind::File(file) => streams.borrowed[i] = Some(file.as_raw_fd()),
            }
        }
        // A source among 0–2 that is not its own target would be overwritten
        // by an earlier `dup3`: move it up.
        for i in 0..3 {
            let fd = streams.child[i]
                .as_ref()
                .map(AsRawFd::as_raw_fd)
                .or(streams.borrowed[i]);
            if let Some(fd) = fd
                && (0..3).contains(&fd)
                && usize::try_from(fd) != Ok(i)
            {
                // SAFETY: `fd` is open for the spawn (ours, or the caller's
                // file, which `command` holds), borrowed only for the dup.
                let source = unsafe { BorrowedFd::borrow_raw(fd) };
                streams.child[i] = Some(rustix::io::fcntl_dupfd_cloexec(source, 3)?);
                streams.borrowed[i] = None;
            }
        }
        Ok(streams)
    }

    fn child_fds(&self) -> [Option<i32>; 3] {
        let mut fds = self.borrowed;
        for (fd, owned) in fds.iter_mut().zip(&self.child) {
            if let Some(owned) = owned {
                *fd = Some(owned.as_raw_fd());
            }
        }
        fds
    }

    /// This side's ends; the child's copies are closed.
    fn parent_ends(self) -> (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>) {
        let [stdin, stdout, stderr] = self.parent;
        (
            stdin.map(ChildStdin::from),
            stdout.map(ChildStdout::from),
            stderr.map(ChildStderr::from),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_search_tries_each_entry_and_an_empty_one_is_the_working_directory() {
        let sh = CString::new("sh").unwrap();
        let got = candidates(&sh, Some(OsStr::new("/a::/b/")));
        let got: Vec<&[u8]> = got.iter().map(|c| c.to_bytes()).collect();
        assert_eq!(got, [&b"/a/sh"[..], b"sh", b"/b//sh"]);
        let got = candidates(&sh, None);
        assert_eq!(got.len(), 2);
        let path = CString::new("./x").unwrap();
        assert_eq!(candidates(&path, Some(OsStr::new("/a"))), [path]);
    }

    #[test]
    fn environment_changes_apply_in_order_and_bad_names_are_refused() {
        let env = environment(&[
            EnvChange::Clear,
            EnvChange::Set("A".into(), "1".into()),
            EnvChange::Set("B".into(), "2".into()),
            EnvChange::Remove("A".into()),
        ])
        .unwrap();
        assert_eq!(env.len(), 1);
        assert_eq!(env[OsStr::new("B")], "2");
        for bad in ["", "A=B"] {
            let e = environment(&[EnvChange::Set(bad.into(), "x".into())]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn a_nul_byte_is_refused_naming_the_field() {
        let mut command = Command::new("true");
        command.arg("ok").arg("b\0d");
        let e = Strings::new(&command).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("argument 2"), "{e}");
        let e = Strings::new(Command::new("true").env("K", "v\0"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("\"K\""), "{e}");
    }
}
