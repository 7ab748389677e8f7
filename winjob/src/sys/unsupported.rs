//! The backend for targets that have neither Job Objects nor cgroups: every
//! operation fails with `ErrorKind::Unsupported`, so that code using the
//! crate still compiles there.

use std::io;
use std::process::{Child, Command};
use std::time::Instant;

use super::CreateOptions;
use crate::error::unsupported;
use crate::{Accounting, Capabilities, Events, Limits};

#[derive(Debug, Clone, Default)]
pub(crate) struct Options {}

/// A job that cannot exist: no value of this type is ever made.
#[derive(Debug)]
pub(crate) enum Job {}

fn none() -> io::Error {
    unsupported("winjob supports Windows and Linux only")
}

impl Job {
    pub(crate) fn create(_: &CreateOptions<'_>, _: &Options) -> io::Result<Job> {
        Err(none())
    }
    pub(crate) fn open(_: &str, _: &Options) -> io::Result<Job> {
        Err(none())
    }
    pub(crate) fn name(&self) -> Option<&str> {
        match *self {}
    }
    pub(crate) fn kills_on_drop(&self) -> bool {
        match *self {}
    }
    pub(crate) fn spawn(&self, _: &mut Command) -> io::Result<Child> {
        match *self {}
    }
    pub(crate) fn spawn_native(&self, _: &crate::Command) -> io::Result<crate::child::Spawned> {
        match *self {}
    }
    pub(crate) fn assign_child(&self, _: &Child) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn assign_pid(&self, _: u32) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn assign_current_process(&self) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn contains_child(&self, _: &Child) -> io::Result<bool> {
        match *self {}
    }
    pub(crate) fn contains_pid(&self, _: u32) -> io::Result<bool> {
        match *self {}
    }
    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        match *self {}
    }
    pub(crate) fn processes(&self) -> io::Result<Vec<crate::ProcessInfo>> {
        match *self {}
    }
    pub(crate) fn terminate(&self, _: u32) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn wait(&self, _: Option<Instant>) -> io::Result<bool> {
        match *self {}
    }
    pub(crate) fn request_stop(&self) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn set_limits(&self, _: &Limits) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn limits(&self) -> io::Result<Limits> {
        match *self {}
    }
    pub(crate) fn accounting_into(&self, _: &mut Accounting) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn events(&self) -> io::Result<Events> {
        match *self {}
    }
}

pub(crate) fn capabilities() -> io::Result<Capabilities> {
    Err(none())
}

#[derive(Debug, Clone, Default)]
pub(crate) struct CommandOptions {}

/// A child that cannot exist: no value of this type is ever made.
#[derive(Debug)]
pub(crate) enum NativeChild {}

impl NativeChild {
    pub(crate) fn id(&self) -> u32 {
        match *self {}
    }
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        match *self {}
    }
    pub(crate) fn wait(
        &mut self,
        _: Option<Instant>,
    ) -> io::Result<Option<std::process::ExitStatus>> {
        match *self {}
    }
    pub(crate) fn kill(&mut self) -> io::Result<()> {
        match *self {}
    }
}

pub(crate) fn spawn_native(_: &crate::Command) -> io::Result<crate::child::Spawned> {
    Err(none())
}

/// No conversion is needed where nothing can be spawned: the streams become
/// files anyway, for a `Stdio` no spawn will use.
#[cfg(unix)]
fn file(fd: impl Into<std::os::fd::OwnedFd>) -> std::fs::File {
    std::fs::File::from(fd.into())
}
#[cfg(unix)]
pub(crate) fn pipe_reader_file(pipe: std::io::PipeReader) -> std::fs::File {
    file(pipe)
}
#[cfg(unix)]
pub(crate) fn pipe_writer_file(pipe: std::io::PipeWriter) -> std::fs::File {
    file(pipe)
}
#[cfg(unix)]
pub(crate) fn child_stdin_file(pipe: std::process::ChildStdin) -> std::fs::File {
    file(pipe)
}
#[cfg(unix)]
pub(crate) fn child_stdout_file(pipe: std::process::ChildStdout) -> std::fs::File {
    file(pipe)
}
#[cfg(unix)]
pub(crate) fn child_stderr_file(pipe: std::process::ChildStderr) -> std::fs::File {
    file(pipe)
}
