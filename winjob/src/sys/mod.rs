//! The backends: one per operating system, behind one contract.
//!
//! The public types in this crate are thin: [`crate::Job`] holds a
//! `sys::Job` and forwards to it, after checking the caller's input. Every
//! backend must provide the items below, with these signatures and the
//! behaviour documented on the public method each one serves. Input has been
//! validated by the caller (`crate::validate`) before any of these is called.
//!
//! Required items:
//!
//! - `struct Options` — backend-specific builder settings, `Default + Clone +
//!   Debug`, set through the `os::<os>::JobBuilderExt` trait.
//! - `struct Job` — `Send + Sync + Debug`, with:
//!   - `fn create(common: &CreateOptions<'_>, options: &Options) -> io::Result<Job>`
//!   - `fn open(name: &str, options: &Options) -> io::Result<Job>`
//!   - `fn name(&self) -> Option<&str>`
//!   - `fn kills_on_drop(&self) -> bool`
//!   - `fn spawn(&self, command: &mut Command) -> io::Result<Child>` — the
//!     child must be in the job before it runs its first instruction; on any
//!     failure after the process was created it is killed and reaped.
//!   - `fn assign_child(&self, child: &Child) -> io::Result<()>`
//!   - `fn assign_pid(&self, pid: u32) -> io::Result<()>`
//!   - `fn assign_current_process(&self) -> io::Result<()>`
//!   - `fn contains_child(&self, child: &Child) -> io::Result<bool>`
//!   - `fn contains_pid(&self, pid: u32) -> io::Result<bool>`
//!   - `fn pids(&self) -> io::Result<Vec<u32>>`
//!   - `fn processes(&self) -> io::Result<Vec<ProcessInfo>>` — `pids`, then
//!     each one's name, path, CPU times and memory; exited ones left out.
//!   - `fn terminate(&self, exit_code: u32) -> io::Result<()>`
//!   - `fn wait(&self, deadline: Option<Instant>) -> io::Result<bool>` — true
//!     once the job has no running process, false at the deadline.
//!   - `fn request_stop(&self) -> io::Result<()>` — the polite half of
//!     `Job::stop`: ask every member to exit, return at once.
//!   - `fn set_limits(&self, limits: &Limits) -> io::Result<()>` — replace
//!     the job's portable limits with `limits` (validated). A limit the backend
//!     cannot enforce is `Unsupported`, naming it, before anything changes; if
//!     the OS refuses one, the job keeps the limits it had.
//!   - `fn limits(&self) -> io::Result<Limits>` — the limits in force, read
//!     back from the OS where it can say.
//!   - `fn events(&self) -> io::Result<Events>` — a new subscription to the
//!     job's events (see `crate::event`).
//!   - `fn accounting_into(&self, out: &mut Accounting) -> io::Result<()>` —
//!     what the job used, without allocating; `None` for what cannot be
//!     measured.
//! - `fn capabilities() -> io::Result<Capabilities>`
//!
//! The Windows backend lives in `windows/`, the Linux one in `linux/`. Any
//! other target gets `unsupported.rs`, whose every operation returns
//! `ErrorKind::Unsupported`, so that code using the crate still compiles there.

use crate::{Capabilities, Limits};

/// What every backend's `create` receives from the portable builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CreateOptions<'a> {
    /// `None` for an anonymous job.
    pub(crate) name: Option<&'a str>,
    /// Kill every member when the last handle in this process is dropped, or
    /// this process dies.
    pub(crate) kill_on_drop: bool,
    /// Limits to apply before any process can join (validated).
    pub(crate) limits: &'a Limits,
}

#[cfg(any(windows, target_os = "linux"))]
mod slab;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use self::windows::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use self::linux::*;

// The Windows encoding of limits is pure code: its unit tests run on every
// host, not only on Windows (see `windows/host.rs`).
#[cfg(all(test, not(windows)))]
#[allow(unreachable_pub, dead_code)]
#[path = "windows/host.rs"]
mod windows_encoding;

// The Windows command line's quoting is pure code too.
#[cfg(all(test, not(windows)))]
#[allow(unreachable_pub, dead_code)]
#[path = "windows/spawn/command_line.rs"]
mod windows_command_line;

#[cfg(not(any(windows, target_os = "linux")))]
mod unsupported;
#[cfg(not(any(windows, target_os = "linux")))]
pub(crate) use self::unsupported::*;

// A compile-time check that each backend's job can be shared between threads,
// which the public `Job` promises.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Job>();
};

#[allow(dead_code)]
fn _capabilities_signature() -> std::io::Result<Capabilities> {
    capabilities()
}
