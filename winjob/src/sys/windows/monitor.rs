//! The notification thread of a created job: one I/O completion port per job,
//! one small thread reading it.
//!
//! The port is associated with the job before any process can be in it
//! (`Job::create` starts the monitor before it sets limits, and nothing is
//! assigned before `create` returns), so no `JOB_OBJECT_MSG_NEW_PROCESS` is
//! missed. The thread blocks in `GetQueuedCompletionStatusEx`; for every batch
//! of packets it turns each one into a [`Message`], hands it to
//! [`Monitor::dispatch`], and bumps a generation counter that
//! [`Monitor::wait_for_change`] sleeps on.
//!
//! Windows documents that job notifications are not guaranteed to be
//! delivered, and Wine sends no `EXIT_PROCESS` for processes killed by
//! `TerminateJobObject`. So a message is only ever a *hint* to look again:
//! `wait` confirms with the job's accounting and polls as well.
//!
//! Shutdown (on drop): a packet with the [`STOP_KEY`] completion key is
//! posted, the thread sees it and returns, the thread is joined, and only
//! then is the port closed.

use std::fmt;
use std::io;
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::api;

/// The completion key of the job's own packets.
const JOB_KEY: usize = 1;
/// The completion key of the packet that tells the thread to stop.
const STOP_KEY: usize = 2;
/// The thread's stack: it holds a 16-entry packet buffer and little else.
const STACK_SIZE: usize = 64 * 1024;

/// A notification from the job, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the pids are for the event API, which reads them in `dispatch`"
)]
pub(super) enum Message {
    /// `JOB_OBJECT_MSG_NEW_PROCESS`: process `pid` entered the job.
    NewProcess(u32),
    /// `JOB_OBJECT_MSG_EXIT_PROCESS`: process `pid` exited.
    ExitProcess(u32),
    /// `JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS`: process `pid` exited with an
    /// exception code (never sent by Wine).
    AbnormalExitProcess(u32),
    /// `JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO`: no process is running.
    ActiveProcessZero,
    /// Any other message (limit notifications): its id and value.
    Other { id: u32, value: usize },
}

impl Message {
    fn decode(id: u32, value: usize) -> Message {
        // For process messages the value is a pid, which is a u32; anything
        // else is passed on raw.
        let pid = u32::try_from(value);
        match (id, pid) {
            (api::JOB_OBJECT_MSG_NEW_PROCESS, Ok(pid)) => Message::NewProcess(pid),
            (api::JOB_OBJECT_MSG_EXIT_PROCESS, Ok(pid)) => Message::ExitProcess(pid),
            (api::JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS, Ok(pid)) => {
                Message::AbnormalExitProcess(pid)
            }
            (api::JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO, _) => Message::ActiveProcessZero,
            _ => Message::Other { id, value },
        }
    }
}

/// What the thread and the waiters share.
#[derive(Default)]
struct Shared {
    /// Bumped after every batch of messages (and when the thread ends).
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Shared {
    fn bump(&self) {
        let mut generation = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *generation = generation.wrapping_add(1);
        self.changed.notify_all();
    }
}

/// The completion port of a job and the thread that reads it.
pub(super) struct Monitor {
    /// `Some` until the thread is joined in `drop`.
    thread: Option<JoinHandle<()>>,
    port: Arc<OwnedHandle>,
    shared: Arc<Shared>,
}

impl Monitor {
    /// Creates a port, associates it with `job`, and starts the thread.
    pub(super) fn start(job: BorrowedHandle<'_>) -> io::Result<Monitor> {
        let port = Arc::new(api::create_io_completion_port()?);
        api::associate_completion_port(job, port.as_handle(), JOB_KEY)?;
        let shared = Arc::new(Shared::default());
        let thread = {
            let port = Arc::clone(&port);
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("winjob-monitor".to_owned())
                .stack_size(STACK_SIZE)
                .spawn(move || run(port.as_handle(), &shared))?
        };
        Ok(Monitor {
            thread: Some(thread),
            port,
            shared,
        })
    }

    /// The current generation; pass it to [`Monitor::wait_for_change`].
    pub(super) fn generation(&self) -> u64 {
        *self
            .shared
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps until the generation differs from `seen` or `timeout` passes.
    pub(super) fn wait_for_change(&self, seen: u64, timeout: Duration) {
        let generation = self
            .shared
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .shared
            .changed
            .wait_timeout_while(generation, timeout, |generation| *generation == seen)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Where each decoded message goes, on the monitor thread.
    ///
    /// EVENT HOOK: today nothing consumes individual messages (`wait` needs
    /// only the generation counter, bumped by the caller after each batch).
    /// The planned event API (a channel of job events) sends from here: give
    /// `Shared` an optional `mpsc::Sender`, and send `message` to it.
    fn dispatch(shared: &Shared, message: Message) {
        let _ = (shared, message);
    }
}

/// The thread: read packets until the stop packet arrives or the port fails.
fn run(port: BorrowedHandle<'_>, shared: &Shared) {
    let mut batch = Vec::with_capacity(16);
    loop {
        batch.clear();
        if api::get_queued_completion_status_ex(port, &mut batch).is_err() {
            // Only a closed or broken port fails an infinite wait; waiters
            // fall back to polling.
            shared.bump();
            return;
        }
        let mut stop = false;
        for packet in &batch {
            match packet.key {
                JOB_KEY => {
                    Monitor::dispatch(shared, Message::decode(packet.bytes, packet.overlapped))
                }
                STOP_KEY => stop = true,
                _ => {}
            }
        }
        shared.bump();
        if stop {
            return;
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if api::post_queued_completion_status(self.port.as_handle(), STOP_KEY, 0).is_ok() {
            // The thread returns at the stop packet; a panic in it (there is
            // no code that panics) would only be reported, not propagated.
            let _ = thread.join();
        }
        // If the post failed (out of memory in the kernel), joining would
        // hang: the thread is left blocked and keeps its reference to the
        // port. This is the only path that leaks, and it needs a failing
        // kernel.
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("port", &self.port)
            .field("generation", &self.generation())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_messages() {
        assert_eq!(
            Message::decode(api::JOB_OBJECT_MSG_NEW_PROCESS, 44),
            Message::NewProcess(44)
        );
        assert_eq!(
            Message::decode(api::JOB_OBJECT_MSG_EXIT_PROCESS, 8),
            Message::ExitProcess(8)
        );
        assert_eq!(
            Message::decode(api::JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS, 8),
            Message::AbnormalExitProcess(8)
        );
        assert_eq!(
            Message::decode(api::JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO, 0),
            Message::ActiveProcessZero
        );
        assert_eq!(Message::decode(3, 0), Message::Other { id: 3, value: 0 });
    }
}
