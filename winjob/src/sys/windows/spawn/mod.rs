//! Starting a process inside the job: suspended, assigned, resumed.
//!
//! `std::process::Command` cannot create a process directly into a job on
//! stable Rust (`PROC_THREAD_ATTRIBUTE_JOB_LIST` needs the unstable
//! `raw_attribute`), and does not hand out the main thread's handle. So:
//!
//! 1. `Command::spawn` with `CREATE_SUSPENDED` (plus the caller's flags): the
//!    process exists, but its only thread has not run an instruction.
//! 2. `AssignProcessToJobObject`.
//! 3. `NtResumeProcess`, which resumes every thread of the process given only
//!    the process handle. It is an ntdll export without a documented
//!    contract, resolved once with `GetProcAddress`. Should a Windows ever
//!    stop exporting it, the fallback walks a Toolhelp snapshot for the
//!    threads of the child's pid and calls `ResumeThread` on each. The pid
//!    cannot have been reused: we hold the (suspended, living) child.
//!
//! If step 2 or 3 fails, the child is terminated and waited for before the
//! error is returned, so no suspended process is left behind by a failure.
//!
//! Under Wine (only there), step 1 is retried up to five times when
//! `CreateProcessW` fails with `ERROR_INTERNAL_ERROR` (1359): Wine returns it
//! now and then on a busy machine, for a process that failed to start, and a
//! second try succeeds. On Windows that error is returned as it is.
//!
//! Known gap: if the owner itself dies between step 1 and step 2 (killed,
//! or crashing in another thread), nothing is left to kill the child, which
//! stays suspended outside the job. It never runs an instruction of its
//! program, but it stays until someone kills it. The stress suite finds this
//! under Wine in about half of its random owner kills, because Wine's
//! `CreateProcess` takes tens of milliseconds; on Windows the window is the
//! end of `CreateProcessW` plus one system call. Only creating the process
//! inside the job (`PROC_THREAD_ATTRIBUTE_JOB_LIST`) closes it, which needs
//! std's unstable `raw_attribute`, or a `CreateProcessW` of our own, which
//! cannot return a `std::process::Child`.

use std::io;
use std::os::windows::io::AsHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};

mod command_line;
pub(super) mod native;

use super::Job;
use super::api;
use crate::error::with_context;

impl Job {
    /// Spawns `command` into the job, in a new console process group unless
    /// the builder turned that off. The command's creation flags are left at
    /// 0 afterwards.
    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        let flags = if self.new_process_groups {
            api::CREATE_NEW_PROCESS_GROUP
        } else {
            0
        };
        self.spawn_suspended(command, flags, 0)
    }

    /// Spawns `command` into the job with the caller's creation flags (plus
    /// `CREATE_SUSPENDED`); leaves the child suspended if those flags asked for
    /// it. The command's creation flags are left at `flags` afterwards.
    pub(crate) fn spawn_with_flags(&self, command: &mut Command, flags: u32) -> io::Result<Child> {
        self.spawn_suspended(command, flags, flags)
    }

    fn spawn_suspended(
        &self,
        command: &mut Command,
        flags: u32,
        flags_after: u32,
    ) -> io::Result<Child> {
        let leave_suspended = flags & api::CREATE_SUSPENDED != 0;
        command.creation_flags(flags | api::CREATE_SUSPENDED);
        let spawned = spawn_under_wine_retrying(command);
        // The command may be spawned again, outside any job: don't leave
        // CREATE_SUSPENDED behind for that.
        command.creation_flags(flags_after);
        let mut child = spawned?;
        match self.adopt(&child, flags, leave_suspended) {
            Ok(()) => Ok(child),
            Err(e) => {
                // Terminate the suspended child and reap it. It never ran.
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Steps 2 and 3 for a freshly spawned, suspended child.
    fn adopt(&self, child: &Child, flags: u32, leave_suspended: bool) -> io::Result<()> {
        api::assign_process_to_job_object(self.as_handle(), child.as_handle()).map_err(|e| {
            with_context(
                e,
                format!(
                    "AssignProcessToJobObject failed for the new child {}",
                    child.id()
                ),
            )
        })?;
        if flags & api::CREATE_NEW_PROCESS_GROUP != 0 {
            self.leaders.record(child.id(), child.as_handle())?;
        }
        if !leave_suspended {
            resume(child)?;
        }
        Ok(())
    }
}

/// `ERROR_INTERNAL_ERROR`, Wine's transient `CreateProcess` failure.
const ERROR_INTERNAL_ERROR: i32 = 1359;

/// `create()`, tried again (at most five times, 50 ms apart and more) while
/// Wine fails it with its transient [`ERROR_INTERNAL_ERROR`]; on Windows that
/// error is returned as it is. Both spawn paths create through this.
pub(super) fn retry_under_wine<T>(mut create: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries: u64 = 0;
    loop {
        match create() {
            Err(e)
                if e.raw_os_error() == Some(ERROR_INTERNAL_ERROR)
                    && tries < 5
                    && super::accounting::under_wine() =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50 * tries));
            }
            other => return other,
        }
    }
}

/// `command.spawn()`, through [`retry_under_wine`].
fn spawn_under_wine_retrying(command: &mut Command) -> io::Result<Child> {
    retry_under_wine(|| command.spawn())
}

/// Resumes every thread of a suspended child.
fn resume(child: &Child) -> io::Result<()> {
    match api::nt_resume_process(child.as_handle()) {
        Some(result) => result,
        None => resume_threads(child.id()),
    }
}

/// The fallback of [`resume`]: `ResumeThread` on each thread of `pid` found
/// in a Toolhelp snapshot. `pid` must be a process we hold a handle to, so
/// that it cannot have been reused.
pub(super) fn resume_threads(pid: u32) -> io::Result<()> {
    let threads = api::thread_ids_of(pid)
        .map_err(|e| with_context(e, "CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD) failed"))?;
    if threads.is_empty() {
        return Err(io::Error::other(format!(
            "cannot resume process {pid}: the thread snapshot lists no thread of it"
        )));
    }
    for tid in threads {
        let thread = api::open_thread(api::THREAD_SUSPEND_RESUME, tid).map_err(|e| {
            with_context(
                e,
                format!("OpenThread failed for thread {tid} of process {pid}"),
            )
        })?;
        api::resume_thread(thread.as_handle()).map_err(|e| {
            with_context(
                e,
                format!("ResumeThread failed for thread {tid} of process {pid}"),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::windows::process::CommandExt;
    use std::process::{Command, Stdio};

    use super::*;

    /// The Toolhelp fallback really resumes a suspended process: a child
    /// created suspended exits with its own code only once resumed.
    #[test]
    fn thread_walk_resumes_a_suspended_child() {
        let mut command = Command::new("cmd.exe");
        command
            .args(["/c", "exit 7"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .creation_flags(api::CREATE_SUSPENDED);
        let mut child = spawn_under_wine_retrying(&mut command).expect("spawn cmd.exe");
        // Suspended: it cannot have exited on its own.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let early = child.try_wait().expect("try_wait");
        if early.is_some() {
            let _ = child.kill();
            panic!("a suspended child exited: {early:?}");
        }
        let resumed = resume_threads(child.id());
        if let Err(e) = resumed {
            let _ = child.kill();
            let _ = child.wait();
            panic!("resume_threads: {e}");
        }
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(7), "{status:?}");
    }
}
