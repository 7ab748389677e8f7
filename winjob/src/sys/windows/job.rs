//! The job itself: creating and opening it, membership, listing, killing,
//! waiting. Spawning is in `spawn.rs`, the polite stop in `stop.rs`.

use std::fmt;
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use super::accounting::under_wine;
use super::api::{self, WideCString};
use super::limits::SharedState;
use super::monitor::Monitor;
use super::stop::Leaders;
use super::types::Breakaway;
use crate::ProcessInfo;
use crate::error::{invalid_input, not_found, unsupported, with_context};
use crate::event::Events;
use crate::sys::CreateOptions;

/// `JOB_OBJECT_ALL_ACCESS`: what [`Job::open`] asks for.
const JOB_OBJECT_ALL_ACCESS: u32 = 0x001F_001F;

/// How often `wait` re-reads the job's accounting even without a message:
/// Windows does not guarantee that job messages are delivered.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// The longest pause between two polls of a job opened by name, which has no
/// completion port of ours. Polling starts at 1 ms and doubles up to this.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// Access asked for when a process is named by pid: enough to assign it
/// (`SET_QUOTA | TERMINATE`) and to see whether it still runs.
const ASSIGN_ACCESS: u32 =
    api::PROCESS_SET_QUOTA | api::PROCESS_TERMINATE | api::PROCESS_QUERY_LIMITED_INFORMATION;

/// The Windows settings of a `JobBuilder`, set through
/// `os::windows::JobBuilderExt`.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Whether members may start children outside the job.
    pub(crate) breakaway: Breakaway,
    /// The job's security descriptor, in SDDL.
    pub(crate) security_descriptor: Option<String>,
    /// Whether the job handle is inheritable.
    pub(crate) inheritable: bool,
    /// Whether `spawn` starts each child in a new console process group.
    pub(crate) new_process_groups: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            breakaway: Breakaway::Never,
            security_descriptor: None,
            inheritable: false,
            new_process_groups: true,
        }
    }
}

/// A Windows job object and, for a job this process created, its watcher in
/// the process's event engine.
pub(crate) struct Job {
    // Fields drop in declaration order: the monitor leaves the engine
    // before the job handle is closed.
    /// `Some` for a created job; `None` for one opened by name, or after
    /// `into_handle`.
    pub(super) monitor: Option<Monitor>,
    pub(super) handle: OwnedHandle,
    pub(super) name: Option<String>,
    /// Created by this process (rather than opened by name): only such a job
    /// is kill-on-drop, when its kill-on-close flag is set.
    pub(super) created: bool,
    /// The limits this process has set (`limits.rs`).
    pub(super) state: SharedState,
    pub(super) new_process_groups: bool,
    /// The console process groups started by `spawn`, for `request_stop`.
    pub(super) leaders: Leaders,
}

impl Job {
    /// `CreateJobObjectW`, then the completion port, then the limits.
    pub(crate) fn create(common: &CreateOptions<'_>, options: &Options) -> io::Result<Job> {
        // Everything that can be refused is checked before the job exists.
        let descriptor = match &options.security_descriptor {
            Some(sddl) => Some(security_descriptor(sddl)?),
            None => None,
        };
        let wide_name = common.name.map(wide_name).transpose()?;

        let created =
            api::create_job_object_w(wide_name.as_ref(), descriptor.as_ref(), options.inheritable)
                .map_err(|e| create_error(e, common.name))?;
        drop(descriptor);
        if created.existed {
            drop(created.handle);
            let name = common.name.unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("a job named {name:?} already exists; use Job::open to open it"),
            ));
        }
        let handle = created.handle;

        // The port first, so that no notification can be missed; nothing can
        // be assigned to the job before this function returns it.
        let monitor = Monitor::start(handle.as_handle())
            .map_err(|e| with_context(e, "cannot attach a completion port to the new job"))?;

        let job = Job {
            monitor: Some(monitor),
            handle,
            name: common.name.map(str::to_owned),
            created: true,
            state: SharedState::default(),
            new_process_groups: options.new_process_groups,
            leaders: Leaders::default(),
        };
        // Kill-on-close, breakaway and the portable limits, from the job's own
        // copy: set, never queried and modified (Wine answers the query with
        // zeros). On failure the job is dropped before anything is in it.
        job.apply_initial(common.kill_on_drop, options.breakaway, common.limits)?;
        Ok(job)
    }

    /// `OpenJobObjectW(JOB_OBJECT_ALL_ACCESS, FALSE, name)`.
    pub(crate) fn open(name: &str, options: &Options) -> io::Result<Job> {
        let mut job = Job::open_with_access(name, JOB_OBJECT_ALL_ACCESS)?;
        job.new_process_groups = options.new_process_groups;
        Ok(job)
    }

    /// `OpenJobObjectW(access, FALSE, name)`. The job is never kill-on-drop
    /// here and has no watcher in the event engine (a job has one completion port,
    /// and its creator holds it), so `wait` polls.
    pub(crate) fn open_with_access(name: &str, access: u32) -> io::Result<Job> {
        let wide = wide_name(name)?;
        let handle = api::open_job_object_w(access, &wide).map_err(|e| open_error(e, name))?;
        let state = SharedState::from_job(handle.as_handle());
        Ok(Job {
            monitor: None,
            handle,
            name: Some(name.to_owned()),
            created: false,
            state,
            new_process_groups: Options::default().new_process_groups,
            leaders: Leaders::default(),
        })
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// A created job whose kill-on-close flag is set (in this process's copy:
    /// the typed extended limits can turn it off or on).
    pub(crate) fn kills_on_drop(&self) -> bool {
        self.created && self.kill_on_close_in_state()
    }

    pub(crate) fn as_handle(&self) -> BorrowedHandle<'_> {
        self.handle.as_handle()
    }

    /// Takes the job's watcher out of the engine and gives up the job handle
    /// with every limit it carries (the job stays associated with the
    /// engine's port; its packets are dropped).
    pub(crate) fn into_handle(self) -> OwnedHandle {
        let Job {
            monitor, handle, ..
        } = self;
        drop(monitor);
        handle
    }

    pub(crate) fn assign_child(&self, child: &Child) -> io::Result<()> {
        let what = format!("the child (pid {})", child.id());
        assign(self.as_handle(), child.as_handle(), &what)
    }

    pub(crate) fn assign_pid(&self, pid: u32) -> io::Result<()> {
        let process = open_pid(pid, ASSIGN_ACCESS)?;
        assign(
            self.as_handle(),
            process.as_handle(),
            &format!("process {pid}"),
        )
    }

    pub(crate) fn assign_current_process(&self) -> io::Result<()> {
        assign(
            self.as_handle(),
            api::get_current_process(),
            "the current process",
        )
    }

    pub(crate) fn assign_handle(&self, process: BorrowedHandle<'_>) -> io::Result<()> {
        assign(self.as_handle(), process, "the process")
    }

    pub(crate) fn contains_child(&self, child: &Child) -> io::Result<bool> {
        self.contains_handle(child.as_handle())
    }

    pub(crate) fn contains_pid(&self, pid: u32) -> io::Result<bool> {
        // IsProcessInJob documents either query right as enough; Wine accepts
        // only the full one, which protected processes refuse: ask for the
        // full right first, and fall back to the limited one.
        let process = match api::open_process(api::PROCESS_QUERY_INFORMATION, pid) {
            Err(e) if e.raw_os_error() == Some(api::ERROR_ACCESS_DENIED) => {
                open_pid(pid, api::PROCESS_QUERY_LIMITED_INFORMATION)?
            }
            result => result.map_err(|e| open_pid_error(e, pid))?,
        };
        self.contains_handle(process.as_handle())
    }

    pub(crate) fn contains_handle(&self, process: BorrowedHandle<'_>) -> io::Result<bool> {
        api::is_process_in_job(process, Some(self.as_handle()))
            .map_err(|e| with_context(e, "IsProcessInJob failed"))
    }

    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        pids_of(self.as_handle())
    }

    pub(crate) fn processes(&self) -> io::Result<Vec<ProcessInfo>> {
        Ok(self
            .pids()?
            .into_iter()
            .filter_map(|pid| self.process_info(pid))
            .collect())
    }

    /// One member's record; `None` if it has exited or its pid now belongs
    /// to a process outside the job.
    fn process_info(&self, pid: u32) -> Option<ProcessInfo> {
        let mut info = ProcessInfo::new(pid);
        // The full query right first, as in `contains_pid` (Wine's
        // IsProcessInJob wants it); the limited one for protected processes.
        let opened = [
            api::PROCESS_QUERY_INFORMATION | api::PROCESS_VM_READ,
            api::PROCESS_QUERY_LIMITED_INFORMATION,
        ]
        .into_iter()
        .map(|access| api::open_process(access, pid))
        .find(|r| {
            !r.as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(api::ERROR_ACCESS_DENIED))
        });
        let process = match opened {
            Some(Ok(process)) => process,
            // No such process any more.
            Some(Err(e)) if e.raw_os_error() == Some(api::ERROR_INVALID_PARAMETER) => return None,
            // Not ours to read: the pid alone.
            _ => return Some(info),
        };
        let process = process.as_handle();
        if has_exited(process) || self.contains_handle(process).is_ok_and(|member| !member) {
            return None;
        }
        info.path = api::query_full_process_image_name_w(process)
            .ok()
            .map(std::path::PathBuf::from);
        info.name = info
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned());
        // Wine's times of another process are stale (a spinner that had run
        // for a second showed its 0.06 s of start-up): not a measure.
        if !under_wine()
            && let Ok((user, kernel)) = api::get_process_times(process)
        {
            info.user_time = Some(user);
            info.kernel_time = Some(kernel);
        }
        // A running process always has pages in its working set; a zero is
        // an emulator's answer, not a measure.
        info.memory = api::get_process_working_set(process)
            .ok()
            .filter(|bytes| *bytes > 0);
        Some(info)
    }

    /// A new subscription to the job's events, from the engine's watcher of
    /// a job this process created. A job opened by name has no monitor: a job
    /// object posts to one completion port, set by its creator, so there is
    /// nothing this process could read (see the module documentation).
    pub(crate) fn events(&self) -> io::Result<Events> {
        match &self.monitor {
            Some(monitor) => monitor.subscribe(),
            None => Err(unsupported(format!(
                "events of job {:?} are not available here: it was opened by name, and a job \
                 object sends its notifications to the one completion port its creator \
                 associated, which only the creator reads; subscribe through the Job that \
                 created it",
                self.name.as_deref().unwrap_or("(unnamed)")
            ))),
        }
    }

    pub(crate) fn terminate(&self, exit_code: u32) -> io::Result<()> {
        api::terminate_job_object(self.as_handle(), exit_code)
            .map_err(|e| with_context(e, "TerminateJobObject failed"))
    }

    /// Waits until the job's accounting says no process is active.
    ///
    /// A created job sleeps on its monitor's generation counter (woken by any
    /// notification) with a [`POLL_INTERVAL`] cap; an opened job polls with
    /// a backoff from 1 ms to [`MAX_BACKOFF`].
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<bool> {
        let mut backoff = Duration::from_millis(1);
        loop {
            // Read the generation before the count: a message that arrives
            // after the count was read makes the wait below return at once.
            let seen = self.monitor.as_ref().map(Monitor::generation);
            let active = api::active_processes(self.as_handle()).map_err(|e| {
                with_context(
                    e,
                    "QueryInformationJobObject(JobObjectBasicAccountingInformation) failed",
                )
            })?;
            if active == 0 {
                return Ok(true);
            }
            let mut pause = match seen {
                Some(_) => POLL_INTERVAL,
                None => {
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
            };
            if let Some(deadline) = deadline {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(false);
                }
                pause = pause.min(deadline - now);
            }
            match (&self.monitor, seen) {
                (Some(monitor), Some(seen)) => monitor.wait_for_change(seen, pause),
                _ => thread::sleep(pause),
            }
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("handle", &self.handle.as_raw_handle())
            .field("name", &self.name)
            .field("kill_on_drop", &self.kills_on_drop())
            .field("new_process_groups", &self.new_process_groups)
            .field("monitor", &self.monitor)
            .finish()
    }
}

/// The whole `JobObjectBasicProcessIdList` of `job`, however long: the buffer
/// grows until every id fits.
pub(super) fn pids_of(job: BorrowedHandle<'_>) -> io::Result<Vec<u32>> {
    let mut capacity: usize = 64;
    loop {
        let list = api::query_process_id_list(job, capacity).map_err(|e| {
            with_context(
                e,
                "QueryInformationJobObject(JobObjectBasicProcessIdList) failed",
            )
        })?;
        let assigned = usize::try_from(list.assigned).unwrap_or(usize::MAX);
        // Cut short either by ERROR_MORE_DATA or by a full buffer while the
        // job counts more processes. A short list in a roomy buffer is
        // complete (processes that are exiting are counted but not listed).
        let truncated = list.more_data || (list.ids.len() == capacity && assigned > capacity);
        if !truncated {
            return list
                .ids
                .into_iter()
                .map(|id| {
                    u32::try_from(id).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("the job listed a process id that is not a u32: {id}"),
                        )
                    })
                })
                .collect();
        }
        // Room for what the job reported and some that may start meanwhile.
        capacity = capacity.saturating_mul(2).max(assigned.saturating_add(16));
    }
}

/// `IsProcessInJob(process, NULL)`.
pub(crate) fn is_process_in_any_job(process: BorrowedHandle<'_>) -> io::Result<bool> {
    api::is_process_in_job(process, None).map_err(|e| with_context(e, "IsProcessInJob failed"))
}

/// `IsProcessInJob(GetCurrentProcess(), NULL)`.
pub(crate) fn is_current_process_in_any_job() -> io::Result<bool> {
    is_process_in_any_job(api::get_current_process())
}

/// Assigns `process` to `job`, telling an exited process (`NotFound`) from a
/// refusal.
fn assign(job: BorrowedHandle<'_>, process: BorrowedHandle<'_>, what: &str) -> io::Result<()> {
    if has_exited(process) {
        return Err(not_found(format!("{what} has exited")));
    }
    api::assign_process_to_job_object(job, process).map_err(|e| {
        // An exit between the check and the call shows up as access denied.
        if e.raw_os_error() == Some(api::ERROR_ACCESS_DENIED) && has_exited(process) {
            return not_found(format!("{what} has exited"));
        }
        with_context(e, format!("AssignProcessToJobObject failed for {what}"))
    })
}

/// True if the process has certainly exited. A handle without query access
/// gives no answer, which counts as "not known to have exited".
fn has_exited(process: BorrowedHandle<'_>) -> bool {
    api::get_exit_code_process(process).is_ok_and(|code| code != api::STILL_ACTIVE)
}

/// `OpenProcess` on a pid from the caller, saying plainly when there is no
/// such process.
fn open_pid(pid: u32, access: u32) -> io::Result<OwnedHandle> {
    api::open_process(access, pid).map_err(|e| open_pid_error(e, pid))
}

fn open_pid_error(e: io::Error, pid: u32) -> io::Error {
    if e.raw_os_error() == Some(api::ERROR_INVALID_PARAMETER) {
        not_found(format!("no process with pid {pid}"))
    } else {
        with_context(e, format!("OpenProcess failed for pid {pid}"))
    }
}

/// A job name as UTF-16. The portable checks (not empty, no NUL, length) ran
/// before this.
fn wide_name(name: &str) -> io::Result<WideCString> {
    WideCString::new(name)
        .ok_or_else(|| invalid_input(format!("job name {name:?} contains a NUL character")))
}

/// The security descriptor from the builder's SDDL; every failure is the
/// caller's string, so `InvalidInput`.
fn security_descriptor(sddl: &str) -> io::Result<api::SecurityDescriptor> {
    let wide = WideCString::new(sddl).ok_or_else(|| {
        invalid_input(format!(
            "security descriptor {sddl:?} contains a NUL character"
        ))
    })?;
    api::SecurityDescriptor::from_sddl(&wide).map_err(|e| {
        invalid_input(format!(
            "security descriptor {sddl:?} is not valid SDDL ({e}); \
             example of a valid one: \"D:P(A;;GA;;;OW)\""
        ))
    })
}

/// What a failed `CreateJobObjectW` means for this name.
fn create_error(e: io::Error, name: Option<&str>) -> io::Error {
    let Some(name) = name else {
        return with_context(e, "CreateJobObjectW failed");
    };
    match e.raw_os_error() {
        Some(api::ERROR_INVALID_HANDLE) => io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "the name {name:?} is taken by an object that is not a job; choose another job name"
            ),
        ),
        Some(code) if is_bad_name(code) => bad_name(name, &e),
        _ => with_context(e, format!("CreateJobObjectW failed for job name {name:?}")),
    }
}

/// What a failed `OpenJobObjectW` means for this name.
fn open_error(e: io::Error, name: &str) -> io::Error {
    match e.raw_os_error() {
        Some(api::ERROR_FILE_NOT_FOUND) => not_found(format!("no job named {name:?}")),
        Some(api::ERROR_INVALID_HANDLE) => not_found(format!(
            "no job named {name:?}: the name belongs to an object that is not a job"
        )),
        Some(code) if is_bad_name(code) => bad_name(name, &e),
        _ => with_context(e, format!("OpenJobObjectW failed for job name {name:?}")),
    }
}

fn is_bad_name(code: i32) -> bool {
    [
        api::ERROR_PATH_NOT_FOUND,
        api::ERROR_BAD_PATHNAME,
        api::ERROR_INVALID_NAME,
    ]
    .contains(&code)
}

fn bad_name(name: &str, e: &io::Error) -> io::Error {
    invalid_input(format!(
        "job name {name:?} is not a valid object name ({e}); a name may start with \
         `Local\\` or `Global\\` and must not contain another `\\`"
    ))
}
