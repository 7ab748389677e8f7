//! Linux-specific parts of a job: the mode, the cgroup directory and its file
//! descriptor, the process group.
//!
//! ```no_run
//! use winjob::Mode;
//! use winjob::os::linux::{JobBuilderExt, JobExt};
//!
//! let job = winjob::Job::builder().mode(Mode::ProcessGroup).create()?;
//! assert_eq!(job.mode(), Mode::ProcessGroup);
//! assert!(job.cgroup_path().is_none());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::os::sealed::Sealed;
use crate::{Job, JobBuilder, Mode};

/// Linux settings of a [`JobBuilder`].
pub trait JobBuilderExt: Sealed {
    /// Uses `mode` for this job instead of the detected one (see
    /// [`capabilities`](crate::capabilities())). [`JobBuilder::create`] fails with
    /// `Unsupported`, saying what is missing, if this system cannot provide it,
    /// and with `InvalidInput` for [`Mode::JobObject`].
    fn mode(&mut self, mode: Mode) -> &mut Self;

    /// Creates the job's cgroup under `root` instead of the detected job root.
    /// `root` must be a directory in a cgroup mount of the kind the mode uses.
    fn cgroup_root(&mut self, root: impl Into<PathBuf>) -> &mut Self;
}

impl JobBuilderExt for JobBuilder {
    fn mode(&mut self, mode: Mode) -> &mut Self {
        self.sys.mode = Some(mode);
        self
    }

    fn cgroup_root(&mut self, root: impl Into<PathBuf>) -> &mut Self {
        self.sys.cgroup_root = Some(root.into());
        self
    }
}

/// Linux operations on a [`Job`].
pub trait JobExt: Sealed {
    /// The mode this job uses.
    fn mode(&self) -> Mode;

    /// The job's cgroup directory, in cgroup modes.
    fn cgroup_path(&self) -> Option<&Path>;

    /// A file descriptor of the job's cgroup directory (opened `O_DIRECTORY |
    /// O_CLOEXEC`), in cgroup modes: for `openat`, `clone3(CLONE_INTO_CGROUP)`
    /// (cgroup v2) and other calls this crate does not wrap.
    fn cgroup_fd(&self) -> Option<BorrowedFd<'_>>;

    /// The job's process group id, in process-group mode, once a process has
    /// been spawned into the job.
    fn process_group(&self) -> Option<u32>;

    /// Stops every process in the job until [`JobExt::thaw`]; returns once
    /// they are all stopped. Processes cannot tell (cgroup modes), and a
    /// frozen job can still be terminated.
    ///
    /// cgroup v2: `cgroup.freeze`, then waits for `frozen 1` in
    /// `cgroup.events`. cgroup v1: `freezer.state` = `FROZEN`. Process-group
    /// mode: `SIGSTOP` to the group, which the processes (and their parents)
    /// can observe.
    ///
    /// # Errors
    ///
    /// The write failed, or the job did not freeze within 30 s (`TimedOut`;
    /// every task must reach the freezer, which a busy machine can delay).
    #[doc(alias = "cgroup.freeze")]
    fn freeze(&self) -> std::io::Result<()>;

    /// Lets a frozen job run again (`cgroup.freeze` = 0, `THAWED`, or
    /// `SIGCONT`).
    ///
    /// # Errors
    ///
    /// The write failed.
    fn thaw(&self) -> std::io::Result<()>;

    /// Sends signal `signal` (a number, such as 2 for `SIGINT`) to every
    /// process in the job: each pid of `cgroup.procs`, this directory and
    /// below (cgroup modes), or the job's groups through their anchors'
    /// pidfds (`pidfd_send_signal` with `PIDFD_SIGNAL_PROCESS_GROUP`,
    /// process-group mode; the anchors ignore every signal but `SIGKILL`).
    /// A process that forks at that moment may miss it; use
    /// [`Job::terminate`](crate::Job::terminate) to be sure.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a number that is not a named signal (0, negative,
    /// or a real-time signal), before any system call; the error of listing
    /// the members.
    fn signal(&self, signal: i32) -> std::io::Result<()>;
}

impl JobExt for Job {
    fn mode(&self) -> Mode {
        self.inner.mode()
    }

    fn cgroup_path(&self) -> Option<&Path> {
        self.inner.cgroup_path()
    }

    fn cgroup_fd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.cgroup_fd()
    }

    fn process_group(&self) -> Option<u32> {
        self.inner.process_group()
    }

    fn freeze(&self) -> std::io::Result<()> {
        self.inner.set_frozen(true)
    }

    fn thaw(&self) -> std::io::Result<()> {
        self.inner.set_frozen(false)
    }

    fn signal(&self, signal: i32) -> std::io::Result<()> {
        let sig = rustix::process::Signal::from_named_raw(signal).ok_or_else(|| {
            crate::error::invalid_input(format!(
                "signal {signal} is not a named signal; expected one such as 1 (SIGHUP), \
                 2 (SIGINT) or 15 (SIGTERM), up to 31"
            ))
        })?;
        self.inner.signal(sig)
    }
}

/// What the kernel counted for every process this process has waited for,
/// and for what those waited for in turn (`getrusage(RUSAGE_CHILDREN)`):
/// the figures `time -v` prints. Make this process a child subreaper
/// (`prctl(PR_SET_CHILD_SUBREAPER)`) and reap the orphans it inherits, and
/// they cover a whole process tree.
///
/// # Errors
///
/// `Unsupported` off x86-64 (the raw call is wired up there only); the OS
/// error otherwise.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// std::process::Command::new("true").status()?;
/// let usage = winjob::os::linux::children_usage()?;
/// assert!(usage.max_rss > 0);
/// # Ok(())
/// # }
/// ```
#[doc(alias = "getrusage")]
#[doc(alias = "RUSAGE_CHILDREN")]
pub fn children_usage() -> io::Result<ChildrenUsage> {
    crate::sys::children_usage()
}

/// The figures of [`children_usage`], summed over the processes waited for
/// except `max_rss`, the largest of any one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ChildrenUsage {
    /// CPU time in user mode (`ru_utime`).
    pub user_time: std::time::Duration,
    /// CPU time in kernel mode (`ru_stime`).
    pub system_time: std::time::Duration,
    /// The largest resident set of any one process, bytes (`ru_maxrss`).
    pub max_rss: u64,
    /// Blocks read by the file systems (`ru_inblock`, 512-byte units).
    pub block_reads: u64,
    /// Blocks written by the file systems (`ru_oublock`, 512-byte units).
    pub block_writes: u64,
    /// Page faults served without I/O (`ru_minflt`).
    pub minor_faults: u64,
    /// Page faults that needed I/O (`ru_majflt`).
    pub major_faults: u64,
    /// Voluntary context switches (`ru_nvcsw`).
    pub voluntary_switches: u64,
    /// Involuntary context switches (`ru_nivcsw`).
    pub involuntary_switches: u64,
}

/// Lets jobs have cgroup v2 controllers in a delegated cgroup, unprivileged:
/// moves every process of this process's cgroup (this one included) into its
/// child `winjob-leaf`, then enables the limit controllers (memory, pids, cpu,
/// cpuset) that the cgroup was given in its `cgroup.subtree_control`, and in
/// the job root `<cgroup>/winjob`. Returns the leaf.
///
/// Why: cgroup v2 lets a cgroup give controllers to its children only while it
/// holds no process itself. A delegated cgroup — typically a systemd scope —
/// holds its caller, so without this call the jobs created in it get no
/// controller, and [`capabilities`](crate::capabilities()) says so, pointing
/// here. The library never moves the caller on its own; call this once, early
/// (before other threads start processes), when you own the cgroup:
///
/// ```text
/// systemd-run --user --scope -p Delegate=yes  my-program   # then, in my-program:
/// winjob::os::linux::enter_leaf_cgroup()?;                  # jobs get memory.max, pids.max, cpu.max...
/// ```
///
/// The command line does the same with `winjob run --leaf-cgroup`.
///
/// Every process in the cgroup moves, not only this one: the rule is about the
/// cgroup. Processes this one starts later outside jobs are born in the leaf.
/// The leaf stays after the process exits (a process is in it until then);
/// a later call in the same cgroup reuses it, and systemd removes it with the
/// scope. A process in the root cgroup (exempt from the rule) is not moved, and
/// the root cgroup's directory is returned. A process already in a
/// `winjob-leaf` stays there, and the controllers are enabled again. Jobs
/// created before the call keep the controllers they had.
///
/// # Errors
///
/// `Unsupported` if there is no cgroup v2 hierarchy; the error of the failed
/// write, naming the file, if the leaf cannot be created or a process cannot
/// be moved (the cgroup was not delegated to this user, for example).
/// Controllers that cannot be enabled are not an error: they show in
/// [`capabilities`](crate::capabilities()) with the reason.
pub fn enter_leaf_cgroup() -> io::Result<PathBuf> {
    crate::sys::enter_leaf_cgroup()
}

/// Linux settings of a [`Command`](crate::Command), as std's
/// `std::os::unix::process::CommandExt` has them.
pub trait CommandExt: Sealed {
    /// The child's user id (`setuid`, after the group settings). When this
    /// process is root and [`groups`](CommandExt::groups) is not set, the
    /// child's supplementary groups are dropped too, as std does.
    fn uid(&mut self, id: u32) -> &mut Self;

    /// The child's group id (`setgid`).
    fn gid(&mut self, id: u32) -> &mut Self;

    /// The child's supplementary groups (`setgroups`).
    fn groups(&mut self, groups: &[u32]) -> &mut Self;

    /// Puts the child in process group `group` (`setpgid`), 0 for a new
    /// group it leads. Outside a job, or in a cgroup job; a process-group
    /// job refuses it, since its group is the job.
    fn process_group(&mut self, group: i32) -> &mut Self;

    /// Starts the child in a new session (`setsid`), detached from this
    /// process's terminal. Refused by process-group jobs, as
    /// [`process_group`](CommandExt::process_group).
    fn new_session(&mut self, new: bool) -> &mut Self;

    /// The child's `argv[0]`, instead of the program as given.
    fn arg0(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self;
}

impl CommandExt for crate::Command {
    fn uid(&mut self, id: u32) -> &mut Self {
        self.os.uid = Some(id);
        self
    }

    fn gid(&mut self, id: u32) -> &mut Self {
        self.os.gid = Some(id);
        self
    }

    fn groups(&mut self, groups: &[u32]) -> &mut Self {
        self.os.groups = Some(groups.to_vec());
        self
    }

    fn process_group(&mut self, group: i32) -> &mut Self {
        self.os.process_group = Some(group);
        self
    }

    fn new_session(&mut self, new: bool) -> &mut Self {
        self.os.new_session = new;
        self
    }

    fn arg0(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.os.arg0 = Some(arg.as_ref().to_owned());
        self
    }
}

/// Linux parts of a [`Child`](crate::Child).
pub trait ChildExt: Sealed {
    /// The child's pidfd (`CLONE_PIDFD`), for `poll`, `epoll` or an async
    /// runtime: it becomes readable when the child exits. `None` on kernels
    /// before 5.2, which have no pidfds.
    fn pidfd(&self) -> Option<BorrowedFd<'_>>;

    /// Which call created processes so far in this process:
    /// `clone3(CLONE_INTO_CGROUP)`, `clone3`, `clone(CLONE_PIDFD)` or
    /// `clone`, after the fallbacks the kernel made necessary.
    fn spawn_method() -> &'static str
    where
        Self: Sized;
}

impl ChildExt for crate::Child {
    fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.inner.pidfd()
    }

    fn spawn_method() -> &'static str {
        crate::sys::spawn_method()
    }
}
