//! The polite half of `Job::stop`: ask every member to exit.
//!
//! Windows has no signal that every process understands, so two requests go
//! out, each to the processes that can understand it:
//!
//! - **Console programs**: `GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, g)` for
//!   each console process group `g` that `spawn` created
//!   (`CREATE_NEW_PROCESS_GROUP`, on by default) whose leader is still
//!   running in the job. The group id is the leader's pid; we keep a handle
//!   to each leader, so that pid cannot have been reused by another process.
//!   The event only reaches processes attached to the same console as this
//!   one; a program without a handler exits with `STATUS_CONTROL_C_EXIT`.
//! - **Windowed programs**: `PostMessageW(WM_CLOSE)` to every top-level window
//!   (`EnumWindows`) whose owning process is a member of the job.
//!
//! A failure for one target (it exited meanwhile, it has no console) is
//! ignored: `Job::stop` terminates whatever is left after the grace period.
//!
//! Under Wine 8.0 neither request arrives in practice: its
//! `GenerateConsoleCtrlEvent` fails for a process group (error 12 in a process
//! without a console, error 6 in one attached to a Unix terminal), and console
//! programs have no windows to close. There `stop` of a console tree ends
//! with `Stopped::Killed`, after the grace period.

use std::collections::HashSet;
use std::io;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::{Mutex, PoisonError};

use super::Job;
use super::api;

/// A process that `spawn` made the leader of a new console process group.
#[derive(Debug)]
struct Leader {
    pid: u32,
    /// Held so that the pid (which is also the group id) is not reused.
    process: OwnedHandle,
}

impl Leader {
    fn is_running(&self) -> bool {
        api::get_exit_code_process(self.process.as_handle())
            .is_ok_and(|code| code == api::STILL_ACTIVE)
    }
}

/// The group leaders a job spawned, pruned of exited ones as it goes.
#[derive(Debug, Default)]
pub(super) struct Leaders(Mutex<Vec<Leader>>);

impl Leaders {
    /// Remembers `child` as the leader of its own console process group.
    pub(super) fn record(&self, pid: u32, process: BorrowedHandle<'_>) -> io::Result<()> {
        let process = process.try_clone_to_owned()?;
        let mut leaders = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        leaders.retain(Leader::is_running);
        leaders.push(Leader { pid, process });
        Ok(())
    }

    /// The pids of the leaders still running.
    fn running(&self) -> Vec<u32> {
        let mut leaders = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        leaders.retain(Leader::is_running);
        leaders.iter().map(|leader| leader.pid).collect()
    }
}

impl Job {
    /// Sends `CTRL_BREAK` to the job's console process groups and `WM_CLOSE`
    /// to its members' top-level windows; returns at once.
    pub(crate) fn request_stop(&self) -> io::Result<()> {
        let members: HashSet<u32> = self.pids()?.into_iter().collect();
        if members.is_empty() {
            return Ok(());
        }
        for group in self.leaders.running() {
            if members.contains(&group) {
                // Fails if this process has no console, or not the same one.
                let _ = api::generate_console_ctrl_event(api::CTRL_BREAK_EVENT, group);
            }
        }
        // Fails only without a desktop (a service session, say): then there
        // is no window to close either.
        let windows = api::enum_windows().unwrap_or_default();
        for window in &windows {
            if api::get_window_thread_process_id(window).is_some_and(|pid| members.contains(&pid)) {
                // Fails if the window was destroyed meanwhile.
                let _ = api::post_close_message(window);
            }
        }
        Ok(())
    }
}
