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
//!   - `fn terminate(&self, exit_code: u32) -> io::Result<()>`
//!   - `fn wait(&self, deadline: Option<Instant>) -> io::Result<bool>` — true
//!     once the job has no running process, false at the deadline.
//!   - `fn request_stop(&self) -> io::Result<()>` — the polite half of
//!     `Job::stop`: ask every member to exit, return at once.
//! - `fn capabilities() -> io::Result<Capabilities>`
//!
//! The Windows backend lives in `windows/`, the Linux one in `linux/`. Any
//! other target gets `unsupported.rs`, whose every operation returns
//! `ErrorKind::Unsupported`, so that code using the crate still compiles there.

use crate::Capabilities;

/// What every backend's `create` receives from the portable builder.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CreateOptions<'a> {
    /// `None` for an anonymous job.
    pub(crate) name: Option<&'a str>,
    /// Kill every member when the last handle in this process is dropped, or
    /// this process dies.
    pub(crate) kill_on_drop: bool,
}

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use self::windows::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use self::linux::*;

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
