//! winjob's own `Command` on Windows, for now through std.
//!
//! # Strategy (interim)
//!
//! The portable [`Command`](crate::Command) is turned into a
//! `std::process::Command` (arguments quoted by std, raw arguments through
//! `raw_arg`, the environment changes in order, the streams) and started by
//! the suspended path of `spawn.rs`: created suspended, assigned, resumed.
//! The `Child` wraps std's.
//!
//! # Known gaps
//!
//! - The owner-kill window of `spawn.rs` stays: an owner killed between
//!   `CreateProcessW` and `AssignProcessToJobObject` leaves the child
//!   suspended outside the job. The planned `CreateProcessW` of our own with
//!   `PROC_THREAD_ATTRIBUTE_JOB_LIST` closes it (issue #13).
//! - `Child::wait_timeout` polls `try_wait` (1 ms, doubling to 20 ms).
//! - No handle of the main thread: std keeps it (its accessor is unstable).

use std::ffi::OsStr;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::os::windows::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::Job;
use super::api;
use crate::child::Spawned;
use crate::command::{Arg, Command, EnvChange, StdioKind};
use crate::error::invalid_input;

/// What `os::windows::CommandExt` sets on a [`Command`].
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandOptions {
    /// `dwCreationFlags` of `CreateProcessW`, besides the job's own.
    pub(crate) creation_flags: u32,
}

/// A started process: std's, while creation goes through std.
#[derive(Debug)]
pub(crate) struct NativeChild(std::process::Child);

impl NativeChild {
    pub(crate) fn id(&self) -> u32 {
        self.0.id()
    }

    pub(crate) fn handle(&self) -> BorrowedHandle<'_> {
        self.0.as_handle()
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.0.try_wait()
    }

    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        let Some(deadline) = deadline else {
            return self.0.wait().map(Some);
        };
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    pub(crate) fn kill(&mut self) -> io::Result<()> {
        self.0.kill()
    }
}

impl Job {
    /// Starts `command` in the job: the suspended path, with the command's
    /// creation flags and the job's new process group.
    pub(crate) fn spawn_native(&self, command: &Command) -> io::Result<Spawned> {
        let mut std_command = to_std(command)?;
        let mut flags = command.os.creation_flags;
        if self.new_process_groups {
            flags |= api::CREATE_NEW_PROCESS_GROUP;
        }
        let child = self.spawn_with_flags(&mut std_command, flags)?;
        Ok(spawned(child))
    }
}

/// Starts `command` outside any job.
pub(crate) fn spawn_native(command: &Command) -> io::Result<Spawned> {
    let mut std_command = to_std(command)?;
    std_command.creation_flags(command.os.creation_flags);
    let child = super::spawn::spawn_under_wine_retrying(&mut std_command)?;
    Ok(spawned(child))
}

fn spawned(mut child: std::process::Child) -> Spawned {
    Spawned {
        stdin: child.stdin.take(),
        stdout: child.stdout.take(),
        stderr: child.stderr.take(),
        child: NativeChild(child),
    }
}

fn to_std(command: &Command) -> io::Result<std::process::Command> {
    let mut out = std::process::Command::new(&command.program);
    for arg in &command.args {
        match arg {
            Arg::Regular(a) => out.arg(a),
            Arg::Raw(a) => out.raw_arg(a),
        };
    }
    for change in &command.env {
        match change {
            EnvChange::Set(key, value) => {
                check_name(key)?;
                out.env(key, value);
            }
            EnvChange::Remove(key) => {
                out.env_remove(key);
            }
            EnvChange::Clear => {
                out.env_clear();
            }
        }
    }
    if let Some(dir) = &command.current_dir {
        out.current_dir(dir);
    }
    if let Some(s) = &command.stdin {
        out.stdin(to_std_stdio(&s.0)?);
    }
    if let Some(s) = &command.stdout {
        out.stdout(to_std_stdio(&s.0)?);
    }
    if let Some(s) = &command.stderr {
        out.stderr(to_std_stdio(&s.0)?);
    }
    Ok(out)
}

/// A name is non-empty and has no `=` but as its first character (Windows
/// keeps per-drive directories in names like `=C:`).
fn check_name(key: &OsStr) -> io::Result<()> {
    let wide: Vec<u16> = key.encode_wide().collect();
    let eq = u16::from(b'=');
    if wide.is_empty() || wide.iter().skip(1).any(|&c| c == eq) || wide.contains(&0) {
        return Err(invalid_input(format!(
            "environment variable name {key:?} is empty or contains `=` or NUL; a name is any \
             non-empty string without NUL and without `=` after its first character"
        )));
    }
    Ok(())
}

fn to_std_stdio(kind: &StdioKind) -> io::Result<Stdio> {
    Ok(match kind {
        StdioKind::Inherit => Stdio::inherit(),
        StdioKind::Null => Stdio::null(),
        StdioKind::Piped => Stdio::piped(),
        StdioKind::File(f) => Stdio::from(f.try_clone()?),
    })
}

/// The streams std hands out, as files for a `Stdio`.
pub(crate) fn pipe_reader_file(pipe: std::io::PipeReader) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn pipe_writer_file(pipe: std::io::PipeWriter) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn child_stdin_file(pipe: std::process::ChildStdin) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn child_stdout_file(pipe: std::process::ChildStdout) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn child_stderr_file(pipe: std::process::ChildStderr) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}

/// Any owned handle — a file, a pipe end, a console.
impl From<OwnedHandle> for crate::Stdio {
    fn from(handle: OwnedHandle) -> crate::Stdio {
        crate::Stdio::from(std::fs::File::from(handle))
    }
}
