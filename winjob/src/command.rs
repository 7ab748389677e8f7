//! Starting programs: [`Command`] and [`Stdio`], winjob's own, shaped like
//! `std::process`'s.
//!
//! `std::process::Command` cannot create a process inside a job: on Linux a
//! `pre_exec` hook must move the child, which makes std `fork` (a copy of the
//! caller's page tables, slower the more memory the caller holds), and on
//! Windows the child must be created suspended, assigned, then resumed (a
//! killed owner can leave it suspended outside the job). This `Command`
//! starts the process inside the job from its first instruction, at the cost
//! of a plain spawn; see [`Command::spawn_in`].
//!
//! Everything here is the portable description of a process to start; the
//! backend in `crate::sys` turns it into system calls (`sys/linux/spawn/`,
//! `sys/windows/spawn/`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};

use crate::sys;
use crate::{Child, Job};

/// A program to start, with its arguments, environment, working directory
/// and standard streams, like [`std::process::Command`].
///
/// What differs from std is where the process is born: [`Command::spawn_in`]
/// (and [`output_in`](Command::output_in), [`status_in`](Command::status_in))
/// creates it inside a [`Job`], with the job's per-process limits, before it
/// runs its first instruction, without the costs of [`Job::spawn`]:
///
/// - **Linux**: `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
///   CLONE_INTO_CGROUP)`, so nothing of the caller's memory is copied and
///   the kernel places the child in the job's cgroup; see
///   `sys/linux/spawn/` for the fallbacks on older kernels.
/// - **Windows**: `CreateProcessW` with `PROC_THREAD_ATTRIBUTE_JOB_LIST`
///   (born in the job) and `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` (only its
///   standard handles inherited); arguments quoted as std quotes them.
///
/// [`spawn`](Command::spawn), [`output`](Command::output) and
/// [`status`](Command::status) start the program outside any job, the same
/// way.
///
/// A `Command` can be spawned any number of times; spawning changes nothing
/// on it.
///
/// # Example
///
/// ```no_run
/// use winjob::{Command, Job, Stdio};
///
/// let job = Job::new()?;
/// let mut child = Command::new("cargo")
///     .arg("build")
///     .stdout(Stdio::piped())
///     .spawn_in(&job)?;
/// let output = child.wait_with_output()?;
/// println!("cargo said {} bytes", output.stdout.len());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<Arg>,
    /// Changes to the environment, in the order they were made.
    pub(crate) env: Vec<EnvChange>,
    pub(crate) current_dir: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    /// What the OS-specific `CommandExt` traits set.
    pub(crate) os: sys::CommandOptions,
}

/// One argument after the program name.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// Passed as given (quoted as std quotes it on Windows).
    Regular(OsString),
    /// Windows only: put on the command line unquoted (`raw_arg`).
    #[cfg_attr(not(windows), allow(dead_code))]
    Raw(OsString),
}

/// One change made to the child's environment.
#[derive(Debug, Clone)]
pub(crate) enum EnvChange {
    Set(OsString, OsString),
    Remove(OsString),
    Clear,
}

impl Command {
    /// A command that runs `program` with no arguments, this process's
    /// environment and working directory, and, for `spawn`, this process's
    /// standard streams (`output` pipes stdout and stderr).
    ///
    /// A `program` without a path separator is looked up in `PATH` (the
    /// child's, if [`env`](Command::env) set one) as std does.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            stdin: None,
            stdout: None,
            stderr: None,
            os: sys::CommandOptions::default(),
        }
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(Arg::Regular(arg.as_ref().to_owned()));
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets one environment variable of the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env.push(EnvChange::Set(
            key.as_ref().to_owned(),
            value.as_ref().to_owned(),
        ));
        self
    }

    /// Sets several environment variables of the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes one environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.push(EnvChange::Remove(key.as_ref().to_owned()));
        self
    }

    /// Starts the child with an empty environment, plus what
    /// [`env`](Command::env) adds afterwards.
    pub fn env_clear(&mut self) -> &mut Command {
        self.env.push(EnvChange::Clear);
        self
    }

    /// Sets the child's working directory. A relative program path (one with
    /// a separator) is then relative to it, as with std on Unix.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The child's standard input.
    pub fn stdin(&mut self, stdin: impl Into<Stdio>) -> &mut Command {
        self.stdin = Some(stdin.into());
        self
    }

    /// The child's standard output.
    pub fn stdout(&mut self, stdout: impl Into<Stdio>) -> &mut Command {
        self.stdout = Some(stdout.into());
        self
    }

    /// The child's standard error.
    pub fn stderr(&mut self, stderr: impl Into<Stdio>) -> &mut Command {
        self.stderr = Some(stderr.into());
        self
    }

    /// The program, as given to [`Command::new`].
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The arguments, raw ones included.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(|a| match a {
            Arg::Regular(s) | Arg::Raw(s) => s.as_os_str(),
        })
    }

    /// The working directory, if one was set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.current_dir.as_deref()
    }

    /// Starts the program inside `job`: the process is in the job, under its
    /// limits, before its first instruction, and so is everything it starts.
    ///
    /// - **Linux, cgroup v2**: the kernel creates the child in the job's
    ///   cgroup (`clone3` with `CLONE_INTO_CGROUP`); the per-process limits
    ///   (`RLIMIT_AS`, `RLIMIT_CPU`, nice value, affinity) and any cgroup v1
    ///   directories of the job are applied by the child before `execve`.
    /// - **Linux, cgroup v1**: the child writes itself into the job's
    ///   `cgroup.procs` files before `execve`.
    /// - **Linux, process-group mode**: the child joins the job's process
    ///   group, led by the job's anchor (started before the first member;
    ///   it holds the group's id and kills the group if the owner dies). A
    ///   process group set with
    ///   `os::linux::CommandExt::process_group` is refused here
    ///   (`InvalidInput`): the job decides the group.
    /// - **Windows**: `CreateProcessW` creates the process in the job
    ///   (`PROC_THREAD_ATTRIBUTE_JOB_LIST`), in a new console process group
    ///   unless the job's builder turned that off, inheriting only its three
    ///   standard handles. Before Windows 10, which has no job attribute, it
    ///   is created suspended, assigned, then resumed. A `.bat`/`.cmd` file
    ///   runs through `cmd.exe`, and an argument with a line break is refused
    ///   for it (`InvalidInput`), as std refuses it.
    ///
    /// Nothing is left running if this fails: a process that was created is
    /// killed and reaped before the error is returned.
    ///
    /// # Errors
    ///
    /// The error of the program's `execve` (`NotFound`, `PermissionDenied`,
    /// `ENOEXEC`, …, the same raw OS error std reports), of a step before it
    /// (`chdir`, a `cgroup.procs` write, `setpgid`), or of creating the
    /// process; `InvalidInput` for a program, argument or variable with a NUL
    /// byte, or a variable name with `=`.
    pub fn spawn_in(&mut self, job: &Job) -> io::Result<Child> {
        job.inner.spawn_native(self).map(Child::from_parts)
    }

    /// Starts the program outside any job, with the same process creation
    /// as [`spawn_in`](Command::spawn_in).
    ///
    /// # Errors
    ///
    /// As for [`spawn_in`](Command::spawn_in), without the job's steps.
    pub fn spawn(&mut self) -> io::Result<Child> {
        sys::spawn_native(self).map(Child::from_parts)
    }

    /// Runs the program inside `job` to its end and collects its output.
    /// Unless set, stdin is null and stdout and stderr are piped, as with
    /// std's `output`.
    ///
    /// # Errors
    ///
    /// As for [`spawn_in`](Command::spawn_in), or an error of waiting or
    /// reading.
    pub fn output_in(&mut self, job: &Job) -> io::Result<Output> {
        self.with_output_defaults(|c| c.spawn_in(job))?
            .wait_with_output()
    }

    /// Runs the program outside any job to its end and collects its output.
    ///
    /// # Errors
    ///
    /// As for [`output_in`](Command::output_in).
    pub fn output(&mut self) -> io::Result<Output> {
        self.with_output_defaults(Command::spawn)?
            .wait_with_output()
    }

    /// Runs the program inside `job` to its end, with this process's streams
    /// unless set.
    ///
    /// # Errors
    ///
    /// As for [`spawn_in`](Command::spawn_in), or an error of waiting.
    pub fn status_in(&mut self, job: &Job) -> io::Result<ExitStatus> {
        self.spawn_in(job)?.wait()
    }

    /// Runs the program outside any job to its end.
    ///
    /// # Errors
    ///
    /// As for [`status_in`](Command::status_in).
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }

    /// Spawns with std's `output` defaults for the streams not set, and puts
    /// the streams back as they were.
    fn with_output_defaults(
        &mut self,
        spawn: impl FnOnce(&mut Command) -> io::Result<Child>,
    ) -> io::Result<Child> {
        let set = (
            self.stdin.is_some(),
            self.stdout.is_some(),
            self.stderr.is_some(),
        );
        self.stdin.get_or_insert_with(Stdio::null);
        self.stdout.get_or_insert_with(Stdio::piped);
        self.stderr.get_or_insert_with(Stdio::piped);
        let child = spawn(self);
        if !set.0 {
            self.stdin = None;
        }
        if !set.1 {
            self.stdout = None;
        }
        if !set.2 {
            self.stderr = None;
        }
        child
    }
}

impl fmt::Debug for Command {
    /// The program and its arguments, quoted, as std's `Command` shows them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.program)?;
        for arg in self.get_args() {
            write!(f, " {arg:?}")?;
        }
        Ok(())
    }
}

/// What a child's standard stream is connected to, like
/// [`std::process::Stdio`].
///
/// Made by [`Stdio::inherit`], [`Stdio::null`], [`Stdio::piped`], or from a
/// [`File`], an owned file descriptor or handle, or a pipe end of another
/// child (std's `ChildStdout` and friends), through `From`.
#[derive(Debug)]
pub struct Stdio(pub(crate) StdioKind);

#[derive(Debug)]
pub(crate) enum StdioKind {
    Inherit,
    Null,
    Piped,
    /// Any open file, pipe or device: an `OwnedFd` or `OwnedHandle` is a
    /// `File` to std.
    File(File),
}

impl Stdio {
    /// The child shares this process's stream.
    pub fn inherit() -> Stdio {
        Stdio(StdioKind::Inherit)
    }

    /// The null device (`/dev/null`, `NUL`).
    pub fn null() -> Stdio {
        Stdio(StdioKind::Null)
    }

    /// A new pipe; this process gets the other end in [`Child`]'s `stdin`,
    /// `stdout` or `stderr`.
    pub fn piped() -> Stdio {
        Stdio(StdioKind::Piped)
    }
}

impl From<File> for Stdio {
    fn from(file: File) -> Stdio {
        Stdio(StdioKind::File(file))
    }
}

impl From<std::io::PipeReader> for Stdio {
    fn from(pipe: std::io::PipeReader) -> Stdio {
        Stdio(StdioKind::File(sys::pipe_reader_file(pipe)))
    }
}

impl From<std::io::PipeWriter> for Stdio {
    fn from(pipe: std::io::PipeWriter) -> Stdio {
        Stdio(StdioKind::File(sys::pipe_writer_file(pipe)))
    }
}

impl From<std::process::ChildStdin> for Stdio {
    fn from(pipe: std::process::ChildStdin) -> Stdio {
        Stdio(StdioKind::File(sys::child_stdin_file(pipe)))
    }
}

impl From<std::process::ChildStdout> for Stdio {
    fn from(pipe: std::process::ChildStdout) -> Stdio {
        Stdio(StdioKind::File(sys::child_stdout_file(pipe)))
    }
}

impl From<std::process::ChildStderr> for Stdio {
    fn from(pipe: std::process::ChildStderr) -> Stdio {
        Stdio(StdioKind::File(sys::child_stderr_file(pipe)))
    }
}
