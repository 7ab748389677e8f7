//! The Windows backend: a job is a Job Object.
//!
//! # How a job is built
//!
//! `Job::create` makes the job in this order, and never in another:
//!
//! 1. **The object.** `CreateJobObjectW`, with a `SECURITY_ATTRIBUTES` that
//!    carries the caller's security descriptor (SDDL, converted by
//!    `ConvertStringSecurityDescriptorToSecurityDescriptorW`, freed with
//!    `LocalFree`) and `bInheritHandle = FALSE` unless asked. A non-inheritable
//!    handle matters: a child that inherits the job handle keeps a
//!    kill-on-close job open for as long as it lives. A named create that finds
//!    the name taken (`ERROR_ALREADY_EXISTS`) closes what it got and fails with
//!    `AlreadyExists` instead of silently sharing another creator's job.
//! 2. **The completion port.** The process's one I/O completion port
//!    (`engine.rs`), associated with the job under the job's own key
//!    (`JobObjectAssociateCompletionPortInformation`) before any process can
//!    be in the job, so no notification is missed. One thread reads it for
//!    every job.
//! 3. **The limits.** `JobObjectExtendedLimitInformation` with
//!    `KILL_ON_JOB_CLOSE` (kill-on-drop), `BREAKAWAY_OK` or
//!    `SILENT_BREAKAWAY_OK`, and the portable limits of the builder; then
//!    `JobObjectCpuRateControlInformation` if a CPU rate or weight was asked
//!    for. The values come from the job's own copy (`limits.rs`); they are
//!    never read back and modified (Wine answers that query with zeros, which
//!    would silently drop flags).
//! 4. **Then processes.** Only once `create` has returned can anything be
//!    assigned.
//!
//! # Spawning without a race
//!
//! `spawn` creates the child with `CREATE_SUSPENDED`, assigns it, and resumes
//! it with `NtResumeProcess` (resolved once from ntdll), so the child is in
//! the job before its first instruction and everything it starts is too. If
//! `NtResumeProcess` cannot be resolved, a documented fallback resumes each
//! thread found in a Toolhelp snapshot. Any failure after the process exists
//! kills and reaps it. Details in `spawn.rs`.
//!
//! # Killing
//!
//! `terminate` is `TerminateJobObject`: one call, every member, the caller's
//! exit code. Kill-on-drop is `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: the kernel
//! kills the members when the last handle to the job closes — when the `Job`
//! is dropped, and equally when this process exits, crashes or is killed,
//! since its handles are closed then. That is why the handle must not leak
//! into children.
//!
//! # Waiting
//!
//! Job notifications are not guaranteed to be delivered, so `wait` never
//! trusts one: the answer is always the job's own count of active processes
//! (`JobObjectBasicAccountingInformation.ActiveProcesses`). Notifications only
//! make the wait wake early; it re-reads the count at least every 50 ms
//! anyway. A job opened by name has no port of ours (a job has one port, its
//! creator's), so it polls with a backoff from 1 to 50 ms.
//!
//! # Events
//!
//! Every created job is associated, from its creation on, with the one
//! completion port of the process's event engine (`engine.rs`: one port,
//! one thread, each job under its own completion key), whose watcher for
//! the job (`monitor.rs`) turns each message into an `Event` for every
//! subscription (`crate::event::Broadcaster`):
//!
//! | message | event |
//! |---|---|
//! | `NEW_PROCESS` | `NewProcess { pid }` |
//! | `EXIT_PROCESS` | `ExitProcess { pid, exit }`: the code from `GetExitCodeProcess` if the process can still be opened, else `None` |
//! | `ABNORMAL_EXIT_PROCESS` | `AbnormalExitProcess { pid, exit }`, likewise |
//! | `ACTIVE_PROCESS_ZERO` | `Empty`, once `ActiveProcesses` confirms 0 |
//! | `END_OF_JOB_TIME` | `EndOfJobTime` |
//! | `END_OF_PROCESS_TIME` | `EndOfProcessTime { pid }` |
//! | `ACTIVE_PROCESS_LIMIT` | `ActiveProcessLimit` |
//! | `PROCESS_MEMORY_LIMIT` | `ProcessMemoryLimit { pid }` |
//! | `JOB_MEMORY_LIMIT` | `JobMemoryLimit` |
//! | `NOTIFICATION_LIMIT` | `NotificationLimit { limit }`, one per limit the limit-violation query reports crossed (`io_read_bytes`, `job_memory_high`, `cpu_rate`, …, the field names of `LimitViolation`); one with `None` if it reports none |
//! | anything else | nothing |
//!
//! Messages are not guaranteed, so the engine also reads each job's count
//! every 200 ms (every second for a job that had no member since its last
//! `Empty`): `Empty` always arrives once a job that had members is empty
//! (once per transition), every member announced with `NewProcess` gets one
//! exit event before it, and a disagreement between the members announced
//! and the count is settled with the member list. Details in `monitor.rs`.
//! `MessagesLost` is never sent: a completion port does not overflow.
//!
//! A job opened by name has no events: a job object posts to one completion
//! port, associated by its creator, and only the creator can read it.
//! `events` there is `Unsupported`, saying so. (Polling the member list
//! instead would miss short-lived processes and every exit code, and be a
//! different contract under the same name.)
//!
//! # Accounting
//!
//! `accounting_into` (`accounting.rs`) reads
//! `JobObjectBasicAndIoAccountingInformation` (class 8), or
//! `JobObjectBasicAccountingInformation` (class 1) on a system that refuses
//! class 8 (remembered process-wide after the first refusal), and the peaks
//! of `JobObjectExtendedLimitInformation`, into values on the stack: no
//! allocation unless a query fails.
//!
//! | field | Windows | Wine 8.0 |
//! |---|---|---|
//! | `total_processes` | `TotalProcesses` | real |
//! | `active_processes` | `ActiveProcesses` | real |
//! | `terminated_processes` | `TotalTerminatedProcesses` | `None` (fake 0) |
//! | `user_time`, `kernel_time` | `TotalUserTime`, `TotalKernelTime` (100 ns units) | `None` (fake 0) |
//! | `page_faults` | `TotalPageFaultCount` | `None` (fake 0) |
//! | `read/write/other_operations` | `IoInfo.Read/Write/OtherOperationCount` (class 8; `None` with class 1) | `None` (no class 8) |
//! | `read/write/other_bytes` | `IoInfo.Read/Write/OtherTransferCount` (likewise) | `None` |
//! | `peak_process_memory` | `PeakProcessMemoryUsed` | `None` (fake 0) |
//! | `peak_job_memory` | `PeakJobMemoryUsed` | `None` (fake 0) |
//!
//! Wine is recognised as `capabilities` does (`wine_get_version` in ntdll),
//! once per process; there only the process counts are asked for.
//!
//! # Stopping politely
//!
//! `CTRL_BREAK` to the console process groups the job spawned, `WM_CLOSE` to
//! its members' windows; see `stop.rs`.
//!
//! # What Wine (8.0) does not do
//!
//! The test suite runs under Wine, which implements the parts this backend
//! relies on: creation and names, assignment, inheritance, breakaway, nested
//! jobs, `TerminateJobObject` with its exit code, kill-on-close, the process
//! id list, the active and total process counts, the completion port and
//! `NtResumeProcess`. It does not enforce any other limit (the calls succeed
//! and do nothing), answers limit queries with zeros, reports no CPU times,
//! page faults or peaks (zeros, which `accounting_into` turns into `None`),
//! has no I/O accounting class, sends no `EXIT_PROCESS` message for
//! processes killed by `TerminateJobObject` or kill-on-close (the monitor
//! reports their exits when the job empties) and never
//! `ABNORMAL_EXIT_PROCESS`, and does not deliver `CTRL_BREAK` to a process
//! group (so `stop` there always ends by terminating). Nothing here depends
//! on those.
//!
//! # Limits
//!
//! Every information class that carries a limit has one typed value in
//! `os::windows` (`ExtendedLimits`, `UiRestrictions`, `CpuRateControl`, …),
//! encoded and decoded in `info.rs` (safe, tested on every host), and set in
//! one `SetInformationJobObject` call per class from the job's own copy
//! (`limits.rs`), which the portable `Limits` share. Getters query the job.
//! The mapping of the portable limits:
//!
//! | `Limits` | Windows |
//! |---|---|
//! | `job_memory`, `process_memory` | `JOB_OBJECT_LIMIT_JOB_MEMORY`, `_PROCESS_MEMORY` |
//! | `active_processes` | `JOB_OBJECT_LIMIT_ACTIVE_PROCESS` |
//! | `job_cpu_time` | `JOB_OBJECT_LIMIT_JOB_TIME`, or `_PRESERVE_JOB_TIME` when unchanged |
//! | `process_cpu_time` | `JOB_OBJECT_LIMIT_PROCESS_TIME` |
//! | `priority` | `JOB_OBJECT_LIMIT_PRIORITY_CLASS` |
//! | `affinity` (CPUs 0–63) | `JOB_OBJECT_LIMIT_AFFINITY`; more CPUs: `Unsupported` (use group affinity) |
//! | `cpu_rate` | `JobObjectCpuRateControlInformation`, `ENABLE \| HARD_CAP` |
//! | `cpu_weight` | `JobObjectCpuRateControlInformation`, `ENABLE \| WEIGHT_BASED` |
//!
//! # Files
//!
//! - `api.rs`: the only file with `unsafe`; one safe wrapper per Win32 call.
//! - `bindings.rs`: generated by `cargo xtask bindings`; a child of `api.rs`.
//! - `unions.rs`: the union reads of the generated structures; a child of
//!   `api.rs`.
//! - `info.rs`: typed limits ↔ `JOBOBJECT_*` structures, and the portable
//!   mapping; its tests are `info_tests.rs`. `host.rs` compiles it (with the
//!   bindings and the typed values) on non-Windows hosts for those tests.
//! - `limits.rs`: the job's copy of its limits; setting, rollback, reading
//!   back.
//! - `job.rs`: `Job` and `Options`: create, open, assign, list, kill, wait.
//! - `engine.rs`: the process's one completion port and thread.
//! - `monitor.rs`: one job's watcher in it; the events.
//! - `accounting.rs`: `accounting_into`.
//! - `spawn.rs`: suspended spawn, assign, resume.
//! - `stop.rs`: the polite stop.

mod accounting;
mod api;
mod engine;
mod info;
mod job;
mod limits;
mod monitor;
mod spawn;
mod stop;

use std::io;

pub(crate) use self::job::{Job, Options, is_current_process_in_any_job, is_process_in_any_job};
pub(crate) use self::limits::{current_affinity, current_priority_class};
pub(crate) use self::spawn::native::{
    CommandOptions, NativeChild, child_stderr_file, child_stdin_file, child_stdout_file,
    pipe_reader_file, pipe_writer_file, spawn_native,
};
/// The public typed limit values, under the name `info.rs` and `host.rs`
/// share.
use crate::os::windows::limits as types;
use crate::{Capabilities, Mode};

/// Always a Job Object. Under Wine the reason says so, and which limits that
/// leaves unenforced.
pub(crate) fn capabilities() -> io::Result<Capabilities> {
    let mut reason = String::from(
        "Windows Job Object: every child of a member is a member; TerminateJobObject kills \
         the whole job at once; JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE kills it when the last \
         handle closes, including when the owner dies",
    );
    if let Some(version) = api::wine_version() {
        reason.push_str(&format!(
            "; running under Wine {version}, which implements membership, breakaway, \
             termination and kill-on-close but enforces no other limit"
        ));
    }
    Ok(Capabilities {
        mode: Mode::JobObject,
        job_root: None,
        contained: true,
        kill_on_owner_crash: true,
        atomic_terminate: true,
        reason,
        // Filled in by `crate::capabilities`, from the reason.
        limits: Vec::new(),
    })
}
