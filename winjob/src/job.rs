//! The portable job: [`Job`] and [`JobBuilder`].
//!
//! Everything here is checking and forwarding: input is validated first
//! (`crate::validate`), then the call goes to the backend in `crate::sys`.

use std::fmt;
use std::io;
use std::process::{Child, Command};
use std::time::Duration;

use crate::sys;
use crate::validate;
use crate::{Accounting, Events, Limits, ProcessInfo};

/// A group of processes managed as one unit.
///
/// A job is created empty ([`Job::new`], [`Job::builder`]) or opened by name
/// ([`Job::open`]). Processes enter it when they are spawned through it
/// ([`Job::spawn`]) or assigned to it ([`Job::assign`]); every process they
/// start is in the job too. From then on the whole tree can be listed
/// ([`Job::pids`]), waited for ([`Job::wait`]), stopped ([`Job::stop`]) and
/// killed ([`Job::terminate`]) as one.
///
/// By default a job is **kill-on-drop**: when the `Job` is dropped, or this
/// process exits, crashes or is killed, every process in the job is killed.
/// Turn it off with [`JobBuilder::kill_on_drop`].
///
/// `Job` is `Send + Sync`: share it between threads with an `Arc`, no lock
/// needed.
///
/// # Platform notes
///
/// - **Windows**: a Job Object (`CreateJobObjectW`), created with
///   `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` and a handle that child processes do
///   not inherit. Nested jobs work (Windows 8 and later).
/// - **Linux**: a cgroup v2 directory where one is writable, else a cgroup v1
///   freezer directory, else a process group; see [`capabilities`](crate::capabilities()).
///   Kill-on-drop survives a crash of the owner through a small guardian
///   process (`/bin/sh`) that stays outside the job, or in process-group
///   mode through the group's anchor (`/bin/sh` too), which leads the group.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use winjob::Command;
///
/// let job = winjob::Job::new()?;
/// let mut child = Command::new("make").arg("-j8").spawn_in(&job)?;
/// // ... the build and everything it starts is in `job`.
/// if !job.wait_timeout(Duration::from_secs(600))? {
///     job.terminate(1)?; // took too long: kill the whole tree
/// }
/// child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Job {
    pub(crate) inner: sys::Job,
}

/// How [`Job::stop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every process exited within the grace period after being asked to.
    Gracefully,
    /// Some processes were still running when the grace period ended, and the
    /// job was terminated.
    Killed,
}

impl Job {
    /// Creates an anonymous, kill-on-drop job with default settings.
    ///
    /// Same as `Job::builder().create()`.
    ///
    /// # Errors
    ///
    /// Whatever the backend's creation returns: on Windows the error of
    /// `CreateJobObjectW` or `SetInformationJobObject`; on Linux the error of
    /// creating the cgroup directory or starting the guardian.
    #[doc(alias = "CreateJobObjectW")]
    pub fn new() -> io::Result<Job> {
        JobBuilder::new().create()
    }

    /// Returns a builder for a job with non-default settings (a name, no
    /// kill-on-drop, OS-specific options through
    /// `winjob::os::{windows,linux}::JobBuilderExt`).
    pub fn builder() -> JobBuilder {
        JobBuilder::new()
    }

    /// Opens an existing named job, created by this or another process.
    ///
    /// The opened job is never kill-on-drop in this process: dropping it only
    /// closes it. (On Windows, if the creator asked for kill-on-close, the
    /// members die when the *last* handle anywhere is closed, including this one.)
    ///
    /// - Windows: `OpenJobObjectW(JOB_OBJECT_ALL_ACCESS, FALSE, name)`; for
    ///   other access rights see `os::windows::open_with_access`.
    /// - Linux: the directory `name` under the job root.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: the name is empty, contains NUL, or is longer than
    ///   [`MAX_NAME_LEN`](crate::MAX_NAME_LEN) bytes (checked before any system
    ///   call), or breaks a backend rule (Linux: `/`, a leading `.`).
    /// - `NotFound`: no job has that name.
    /// - `PermissionDenied`: the job exists but this user may not open it.
    #[doc(alias = "OpenJobObjectW")]
    pub fn open(name: &str) -> io::Result<Job> {
        validate::job_name(name)?;
        Ok(Job {
            inner: sys::Job::open(name, &sys::Options::default())?,
        })
    }

    /// The name the job was created or opened with; `None` if anonymous.
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// True when dropping this `Job` kills every process in it.
    pub fn kills_on_drop(&self) -> bool {
        self.inner.kills_on_drop()
    }

    /// Starts a `std::process::Command` as a member of the job and returns
    /// its `Child`: the path for code that already builds std commands.
    /// [`Command::spawn_in`](crate::Command::spawn_in) is the faster one.
    ///
    /// The child is in the job before it runs its first instruction, so
    /// neither it nor anything it starts can ever run outside the job.
    ///
    /// # Cost
    ///
    /// On Linux, std can run code between `fork` and `exec` only by
    /// `fork`ing, which copies the caller's page tables: measured against
    /// std's own spawn of the same program, `Job::spawn` costs about 1.1× with
    /// a small caller, 66× with the caller holding 1 GiB of touched memory,
    /// 130× at 4 GiB and 259× at 8 GiB; a child spawned after 50 ms without
    /// one also waits for a cgroup migration (about 3–6× a plain spawn).
    /// `winjob::Command` has neither cost (1.00× at every size).
    ///
    /// On Windows the process is created suspended and assigned before it
    /// runs, and an owner killed between the two leaves it suspended outside
    /// the job; `winjob::Command` creates it inside the job
    /// (`PROC_THREAD_ATTRIBUTE_JOB_LIST`) and has no such window.
    ///
    /// - Windows: the process is created suspended (`CREATE_SUSPENDED`),
    ///   assigned with `AssignProcessToJobObject`, then resumed with
    ///   `NtResumeProcess`. It is also put in a new console process group
    ///   (`CREATE_NEW_PROCESS_GROUP`) so that [`Job::stop`] can send it
    ///   `CTRL_BREAK`; turn this off with
    ///   `os::windows::JobBuilderExt::new_process_groups`. **Creation flags set
    ///   on `command` with `CommandExt::creation_flags` are replaced**; pass them
    ///   through `os::windows::JobExt::spawn_with_flags` instead.
    /// - Linux (cgroup modes): between `fork` and `exec` the child writes `0`
    ///   to the job's `cgroup.procs` (opened by the parent), so it moves itself
    ///   before the program starts. If the write fails, the program never runs
    ///   and the error is returned.
    /// - Linux (process-group mode): the child is put in the job's process
    ///   group with `setpgid`. Any `process_group` set on `command` is replaced.
    ///
    /// If anything fails after the process was created, it is killed and
    /// reaped before the error is returned: no suspended or stray child is left.
    ///
    /// # What it leaves on `command`
    ///
    /// The same `command` spawned again on its own starts outside the job,
    /// with none of its limits, whether the job still exists or not. But
    /// `std::process::Command` has no way to take settings off again, so:
    ///
    /// - Linux: the `pre_exec` hook that does the work between `fork` and
    ///   `exec` stays on `command`, doing nothing outside `Job::spawn`; it
    ///   makes std `fork` (instead of `posix_spawn`) for every later spawn of
    ///   this `command`, and a `fork` costs more the more memory the caller
    ///   holds. In process-group mode the process group stays set too: a
    ///   later spawn joins that group, or fails with `PermissionDenied` once
    ///   it is gone.
    /// - Windows: the creation flags are put back as they were (0, or what
    ///   `spawn_with_flags` was given).
    ///
    /// A fresh `Command` for each spawn into a job avoids all of this.
    ///
    /// # Errors
    ///
    /// The error of spawning (`NotFound` for a missing program, …), of the
    /// assignment, or of resuming the process.
    #[doc(alias = "AssignProcessToJobObject")]
    #[doc(alias = "CREATE_SUSPENDED")]
    pub fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        self.inner.spawn(command)
    }

    /// Puts an already running child process into the job.
    ///
    /// Unlike [`Job::spawn`] there is a window in which the child ran outside
    /// the job: processes it started before this call are **not** moved.
    ///
    /// # Errors
    ///
    /// - `NotFound`: the child has exited.
    /// - `PermissionDenied`: the process may not be moved (Windows: it is in a
    ///   job that cannot be nested; Linux: no write access to a common ancestor
    ///   cgroup).
    /// - `Unsupported`: process-group mode, where a process can only join a
    ///   group before it has run a new program.
    pub fn assign(&self, child: &Child) -> io::Result<()> {
        self.inner.assign_child(child)
    }

    /// Puts the process with id `pid` into the job.
    ///
    /// As with [`Job::assign`], processes it already started are not moved.
    /// Prefer [`Job::assign`] when you hold the `Child`: a pid can be reused
    /// by another process once the original exits.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for pid 0; `NotFound` if no running process has that
    /// pid (or it has exited); otherwise as [`Job::assign`].
    pub fn assign_pid(&self, pid: u32) -> io::Result<()> {
        validate::pid(pid)?;
        self.inner.assign_pid(pid)
    }

    /// Puts the calling process itself into the job.
    ///
    /// Every process it starts afterwards is in the job too. With kill-on-drop
    /// (the default) this is the "kill my whole tree when I exit" pattern; note
    /// that dropping the `Job` then kills the calling process as well.
    ///
    /// # Errors
    ///
    /// As [`Job::assign`].
    #[doc(alias = "GetCurrentProcess")]
    pub fn assign_current_process(&self) -> io::Result<()> {
        self.inner.assign_current_process()
    }

    /// True if the child is a member of the job (or of a job nested in it).
    ///
    /// Windows: `IsProcessInJob`. Linux: the child's cgroup (from
    /// `/proc/<pid>/cgroup`) is the job's directory or below it; in
    /// process-group mode, its process group is the job's.
    ///
    /// # Errors
    ///
    /// `NotFound` if the child has exited and been reaped (Linux); otherwise
    /// the error of the query.
    #[doc(alias = "IsProcessInJob")]
    pub fn contains(&self, child: &Child) -> io::Result<bool> {
        self.inner.contains_child(child)
    }

    /// True if the process with id `pid` is a member of the job.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for pid 0; `NotFound` if no process has that pid.
    pub fn contains_pid(&self, pid: u32) -> io::Result<bool> {
        validate::pid(pid)?;
        self.inner.contains_pid(pid)
    }

    /// The ids of every running process in the job, nested jobs included.
    ///
    /// The list can be of any length. Windows:
    /// `QueryInformationJobObject(JobObjectBasicProcessIdList)`, with the
    /// buffer grown until the whole list fits. Linux: `cgroup.procs` of the
    /// job and of every cgroup below it; in process-group mode, a scan of
    /// `/proc` for the job's process group.
    ///
    /// The list is a snapshot: processes may start or exit while it is taken.
    #[doc(alias = "JobObjectBasicProcessIdList")]
    #[doc(alias = "cgroup.procs")]
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        self.inner.pids()
    }

    /// Every running process in the job, with its name, executable path, CPU
    /// time and memory (see [`ProcessInfo`] for where each comes from, and
    /// what `None` means). What `winjob ps` prints.
    ///
    /// The list is [`Job::pids`], then one query per process: a process that
    /// exits in between is left out. On Windows each process is opened with
    /// `OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ)` and
    /// checked to still be in the job (a pid can be reused); on Linux its
    /// `/proc/PID` files are read.
    ///
    /// ```no_run
    /// let job = winjob::Job::new()?;
    /// job.spawn(&mut std::process::Command::new("make"))?;
    /// for process in job.processes()? {
    ///     println!("{process}"); // pid, CPU, memory, name
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The error of listing the members. A member that cannot be read is not
    /// an error: its fields are `None`.
    pub fn processes(&self) -> io::Result<Vec<ProcessInfo>> {
        self.inner.processes()
    }

    /// Kills every process in the job at once.
    ///
    /// - Windows: `TerminateJobObject`; every process exits with `exit_code`.
    /// - Linux: `cgroup.kill` (cgroup v2), freeze–kill–thaw (cgroup v1) or
    ///   `SIGKILL` to the job's process group through its anchor's pidfd
    ///   (process group). Processes die of `SIGKILL`: Linux cannot impose an
    ///   exit code, so `exit_code` is only checked, not used. A v2 job still
    ///   populated 10 ms after `cgroup.kill` (a child forked at that very
    ///   moment can survive it) is frozen, killed again and thawed; a v1
    ///   freeze that completes makes one round exact. A process spawned into
    ///   the job while `terminate` runs is a later member and may live on.
    ///
    /// Returns once the kill was issued; use [`Job::wait`] to wait until
    /// every process is gone.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for exit code 259 (`STILL_ACTIVE`: a process that exits
    /// with it looks as if it were still running); otherwise the OS error.
    #[doc(alias = "TerminateJobObject")]
    #[doc(alias = "cgroup.kill")]
    pub fn terminate(&self, exit_code: u32) -> io::Result<()> {
        validate::exit_code(exit_code)?;
        self.inner.terminate(exit_code)
    }

    /// Blocks until no process is left in the job.
    ///
    /// This waits for the whole tree, not for the first notification: the
    /// answer is confirmed by the job's own count of active processes (Windows:
    /// `JOBOBJECT_BASIC_ACCOUNTING_INFORMATION::ActiveProcesses`; Linux:
    /// `populated 0` in `cgroup.events`).
    ///
    /// Returns at once for a job that never had a process.
    ///
    /// # Errors
    ///
    /// The error of the query, if it fails.
    pub fn wait(&self) -> io::Result<()> {
        self.inner.wait(None).map(drop)
    }

    /// Like [`Job::wait`], but gives up after `timeout`. Returns `true` if the
    /// job is empty, `false` if the timeout passed first.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `timeout` is too long for the system clock (use
    /// [`Job::wait`] to wait for ever); otherwise as [`Job::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = validate::deadline("timeout", timeout)?;
        self.inner.wait(Some(deadline))
    }

    /// Replaces the job's limits with `limits`; a limit set before and `None`
    /// in `limits` is lifted.
    ///
    /// Each information class (Windows) or control file (Linux) is written in
    /// one call, from `limits` itself, never by reading the current values and
    /// modifying them. If any limit cannot be applied, the job keeps the
    /// limits it had.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: see [`Limits::validate`]; checked before any system
    ///   call.
    /// - `Unsupported`: a limit this system or mode cannot enforce, named in
    ///   the message with the reason (Linux: the controller that is missing, for
    ///   example).
    /// - otherwise the OS error of the call that failed.
    pub fn set_limits(&self, limits: &Limits) -> io::Result<()> {
        limits.validate()?;
        self.inner.set_limits(limits)
    }

    /// The limits in force, read back from the OS where it can say.
    ///
    /// # Errors
    ///
    /// The OS error of a query that failed.
    pub fn limits(&self) -> io::Result<Limits> {
        self.inner.limits()
    }

    /// Subscribes to the job's events from now on: processes starting and
    /// exiting, the job becoming empty, limits being hit. See [`Event`](crate::Event)
    /// for what each OS reports and how.
    ///
    /// Each call makes an independent subscription with its own queue. The
    /// subscription ends (its iterator returns `None`) when the job is dropped.
    ///
    /// Every watched job of the process shares one event engine: one thread
    /// however many jobs are watched, and a cost per job that does not grow
    /// with their number.
    ///
    /// - Windows: the process's one I/O completion port, associated with the
    ///   job under its own key when the job was created.
    /// - Linux: the first call adds the job to the engine, which waits on one
    ///   proc-connector socket for every job, each job's `cgroup.events` and
    ///   controllers' event files through one inotify descriptor, and one
    ///   timer list. A watched job holds no descriptor of its own.
    ///
    /// # Errors
    ///
    /// - Windows: `Unsupported` for a job opened by name ([`Job::open`]): a
    ///   job has one completion port, and its creator holds it.
    /// - Linux: starting the engine failed (epoll, eventfd, inotify, thread),
    ///   or the job's files could not be watched (an error naming
    ///   `fs.inotify.max_user_watches`, or `RLIMIT_NOFILE` when the process
    ///   is out of descriptors; the OS's code stays reachable through the
    ///   error's `source()`).
    pub fn events(&self) -> io::Result<Events> {
        self.inner.events()
    }

    /// What the job's processes used so far, exited ones included.
    ///
    /// Windows: `JobObjectBasicAndIoAccountingInformation` and the peaks of
    /// `JobObjectExtendedLimitInformation` (under Wine, which fakes the rest
    /// with zeros, only the process counts are given). Linux: the cgroup files
    /// listed on [`Accounting`]. Fields that cannot be measured here are
    /// `None`.
    ///
    /// # Errors
    ///
    /// The OS error of a query that failed.
    #[doc(alias = "JobObjectBasicAndIoAccountingInformation")]
    #[doc(alias = "cpu.stat")]
    pub fn accounting(&self) -> io::Result<Accounting> {
        let mut out = Accounting::default();
        self.inner.accounting_into(&mut out)?;
        Ok(out)
    }

    /// Like [`Job::accounting`], into a value the caller owns, without
    /// allocating: fit for polling in a loop.
    ///
    /// # Errors
    ///
    /// As [`Job::accounting`].
    pub fn accounting_into(&self, out: &mut Accounting) -> io::Result<()> {
        self.inner.accounting_into(out)
    }

    /// Asks every process to exit, as [`Job::stop`] does first, and returns
    /// at once: for a caller that waits in its own way (an event loop, a
    /// deadline of its own) and calls [`Job::terminate`] when it has waited
    /// long enough.
    ///
    /// # Errors
    ///
    /// The error of listing or signalling the processes.
    pub fn request_stop(&self) -> io::Result<()> {
        self.inner.request_stop()
    }

    /// Asks every process to exit, waits up to `grace`, then kills whatever is
    /// left, and waits until the job is empty.
    ///
    /// - Windows: `GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT)` to the console
    ///   process group of each process the job spawned (see [`Job::spawn`]), and
    ///   `WM_CLOSE` to the top-level windows of every member; then
    ///   `TerminateJobObject(job, 1)`.
    /// - Linux: `SIGTERM` to every member, then `cgroup.kill` (or its fallback).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `grace` is too long for the system clock; otherwise
    /// the error of listing, signalling, terminating or waiting.
    pub fn stop(&self, grace: Duration) -> io::Result<Stopped> {
        let deadline = validate::deadline("grace period", grace)?;
        self.inner.request_stop()?;
        if self.inner.wait(Some(deadline))? {
            return Ok(Stopped::Gracefully);
        }
        self.inner.terminate(1)?;
        self.inner.wait(None)?;
        Ok(Stopped::Killed)
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("inner", &self.inner).finish()
    }
}

/// Settings for a new job. Made by [`Job::builder`]; finished by
/// [`JobBuilder::create`].
///
/// ```
/// let job = winjob::Job::builder().kill_on_drop(true).create()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct JobBuilder {
    name: Option<String>,
    kill_on_drop: bool,
    limits: Limits,
    pub(crate) sys: sys::Options,
}

impl Default for JobBuilder {
    fn default() -> Self {
        JobBuilder::new()
    }
}

impl JobBuilder {
    /// The default settings: anonymous, kill-on-drop.
    pub fn new() -> JobBuilder {
        JobBuilder {
            name: None,
            kill_on_drop: true,
            limits: Limits::new(),
            sys: sys::Options::default(),
        }
    }

    /// Gives the job a name, so that other processes can open it with
    /// [`Job::open`].
    ///
    /// - Windows: the object name (`Global\` and `Local\` prefixes work as for
    ///   any kernel object). Creating a job whose name is taken fails with
    ///   `AlreadyExists` rather than silently opening the other job.
    /// - Linux: the name of the cgroup directory under the job root; it may
    ///   not contain `/` or control characters, nor start with `.`.
    ///
    /// The name is checked by [`JobBuilder::create`].
    pub fn name(&mut self, name: impl Into<String>) -> &mut JobBuilder {
        self.name = Some(name.into());
        self
    }

    /// Whether dropping the `Job` (or the death of this process) kills every
    /// process in the job. On by default.
    ///
    /// Windows: `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`. Linux: `cgroup.kill` on
    /// drop, and a guardian process for the case where this process dies.
    #[doc(alias = "JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE")]
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut JobBuilder {
        self.kill_on_drop = kill;
        self
    }

    /// Limits the job has from the start, before any process can be in it.
    /// See [`Job::set_limits`].
    pub fn limits(&mut self, limits: Limits) -> &mut JobBuilder {
        self.limits = limits;
        self
    }

    /// Creates the job.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`: a bad name (see [`JobBuilder::name`]), bad limits
    ///   (see [`Limits::validate`]) or bad OS-specific option, before any system
    ///   call.
    /// - `Unsupported`: a limit this system cannot enforce (see
    ///   [`Job::set_limits`]).
    /// - `AlreadyExists`: a job with this name exists.
    /// - otherwise the error of the system call that failed.
    #[doc(alias = "CreateJobObjectW")]
    pub fn create(&self) -> io::Result<Job> {
        if let Some(name) = &self.name {
            validate::job_name(name)?;
        }
        self.limits.validate()?;
        let common = sys::CreateOptions {
            name: self.name.as_deref(),
            kill_on_drop: self.kill_on_drop,
            limits: &self.limits,
        };
        Ok(Job {
            inner: sys::Job::create(&common, &self.sys)?,
        })
    }
}
