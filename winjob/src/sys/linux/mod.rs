//! The Linux backend: a job is a cgroup directory, or a process group where no
//! cgroup is writable.
//!
//! # Strategy
//!
//! **Where jobs live.** [`detect`] reads `/proc/self/mountinfo` and
//! `/proc/self/cgroup` once, and makes a job root `winjob` inside this
//! process's own cgroup: in the cgroup v2 hierarchy if it is writable, else in
//! the v1 `freezer` hierarchy, else none, and jobs fall back to process
//! groups. A job is a directory in that root: its name for a named job,
//! `.anon-<pid>-<n>` for an anonymous one. The directory is made `0700`, so
//! other users cannot even list it. `WINJOB_MODE` and `WINJOB_CGROUP_ROOT` (or
//! the builder's `os::linux::JobBuilderExt`) override the choice.
//!
//! **Spawning** ([`spawn`]): winjob's own `Command` starts the child with a
//! vfork-style `clone3` on a stack of its own, created by the kernel in the
//! job's cgroup (`CLONE_INTO_CGROUP`, cgroup v2) or writing itself into the
//! job's `cgroup.procs` before `execve` (cgroup v1, older kernels), or
//! joining the job's process group; nothing of the caller's memory is
//! copied, and a failed step fails the spawn. `Job::spawn` with a std
//! `Command` does the same from a `pre_exec` hook (`spawn/hook.rs`), which
//! makes std `fork`. Either way no instruction of the program runs outside
//! the job. The child is waited for and killed through its pidfd
//! ([`child`]).
//!
//! **Ending** ([`cgroup`]): `cgroup.kill` (v2, Linux 5.14+) kills the whole tree
//! atomically, including a process forking at that moment; without it, and on
//! v1, the backend freezes the cgroup, kills every member and thaws, until
//! none is left. `wait` watches `populated` in `cgroup.events` (v2) or polls
//! `cgroup.procs` (v1) or `/proc` (process groups).
//!
//! **Kill on drop** ([`guardian`]): `Drop` kills the job, waits for it to be
//! empty and removes the directory. If this process dies first, a guardian
//! process outside the job does the same. A process-group job is led by an
//! anchor of winjob's own ([`anchor`]) that holds the group's id while the
//! job lives, so that no reuse of the number makes it another group's, and
//! kills its own group when this process dies.
//!
//! **Limits** ([`limits`], [`watchdog`]): job-wide limits are controller files
//! of the job's v2 directory, or of a directory of the same name in the v1
//! hierarchy of the controller (hybrid hosts); per-process limits are set in
//! the child before `execve` ([`spawn`]); the job CPU time is a budget the
//! event engine checks. A limit that cannot be enforced is refused before anything
//! changes.
//!
//! **Events and accounting** ([`engine`], [`monitor`], [`accounting`]): one
//! thread per process waits for every watched job on one proc-connector
//! socket ([`connector`]), each job's `cgroup.events` and controllers' event
//! files, and one timer heap; accounting reads the cgroup files into stack
//! buffers.
//!
//! # Known gaps
//!
//! - Linux cannot impose an exit code: `terminate` kills with `SIGKILL`.
//! - Process groups are escapable (`setsid`), and an existing process other
//!   than the caller cannot be moved into one.
//! - Breakaway does not exist: a member can leave a cgroup only with write
//!   access to a common ancestor's `cgroup.procs`: root can, and in a
//!   delegated scope (the unprivileged setup) so can any process of the same
//!   user, members included, since the scope and the job root are theirs.
//! - Nested jobs (a job inside another job's directory) are not created by this
//!   API yet; members of cgroups below a job's directory are listed and killed
//!   with it.
//! - Memory is resident memory (page cache included) and its limit ends in an
//!   OOM kill, where Windows limits committed memory and fails the
//!   allocation; the active-process limit counts threads too.
//! - Without the proc connector (Linux before 6.6 as a non-root user),
//!   processes that start and exit between two looks (200 ms) are missed by
//!   the events.
//! - Unprivileged use needs a delegated cgroup (for example from
//!   `systemd-run --user --scope -p Delegate=yes`); its controllers reach the
//!   jobs only after the caller opts in to moving the scope's processes into a
//!   leaf (`enter_leaf_cgroup`, in `detect.rs`). The leaf outlives the caller.

mod accounting;
mod anchor;
mod cgroup;
mod child;
mod connector;
mod detect;
mod engine;
mod guardian;
mod helper;
mod limits;
mod monitor;
mod parse;
mod pgroup;
mod process;
mod spawn;
mod usage;
mod watchdog;

pub(crate) use self::child::Child as NativeChild;
pub(crate) use self::spawn::CommandOptions;
pub(crate) use self::usage::children_usage;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use self::cgroup::{Cgroup, Version};
use self::guardian::{Kind, Ticket};
use self::limits::{LimitState, Target};
use self::monitor::{Members, Monitor};
use self::pgroup::ProcessGroup;
use self::spawn::Placement;
use super::CreateOptions;
use crate::error::{invalid_input, unsupported};
use crate::event::Broadcaster;
use crate::{Accounting, Capabilities, Events, Limits, Mode, ProcessInfo};

/// Linux settings from `os::linux::JobBuilderExt`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    pub(crate) mode: Option<Mode>,
    pub(crate) cgroup_root: Option<PathBuf>,
}

pub(crate) struct Job {
    name: Option<String>,
    kill_on_drop: bool,
    tracker: Tracker,
    /// The job's limits and the v1 directories holding some of them (shared
    /// with the monitor, which reads the v1 counters).
    limits: Arc<Mutex<LimitState>>,
    /// The event thread, started by the first `events` call.
    monitor: Mutex<Option<Monitor>>,
    /// Where the monitor and the job-time watchdog send events.
    broadcaster: Arc<Broadcaster>,
    /// True when the caller chose the cgroup root (no v1 fallback for limits).
    explicit_root: bool,
}

enum Tracker {
    Cgroup {
        cgroup: Arc<Cgroup>,
        /// True when this process made the directory (and so removes it).
        created: bool,
        /// The guardian registration of a kill-on-drop job.
        ticket: Option<Ticket>,
    },
    Group(Arc<ProcessGroup>),
}

/// Numbers anonymous job directories within this process.
static NEXT_ANONYMOUS: AtomicU64 = AtomicU64::new(1);

/// How long `Drop` waits for a killed job to empty before leaving its
/// directory to the guardian.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// `error`, or, if it is `EMFILE` (this process is out of descriptors),
/// the same error with what was being done and the limit that was met.
/// Applied once, at each entry point that can open descriptors (create,
/// spawn, events, limits), so that what lies below returns the OS's error.
fn descriptor_error(error: io::Error, doing: &str) -> io::Error {
    if crate::error::os_code(&error) != Some(rustix::io::Errno::MFILE.raw_os_error()) {
        return error;
    }
    crate::error::with_context(
        error,
        format_args!(
            "{doing}: this process has as many open files as RLIMIT_NOFILE allows \
             (`ulimit -n`); raise the limit or hold fewer jobs and children"
        ),
    )
}

impl Job {
    /// Creates the job; running out of descriptors is named as such (here
    /// and in the spawns and watches below).
    pub(crate) fn create(common: &CreateOptions<'_>, options: &Options) -> io::Result<Job> {
        Job::create_job(common, options).map_err(|e| descriptor_error(e, "cannot create the job"))
    }

    fn create_job(common: &CreateOptions<'_>, options: &Options) -> io::Result<Job> {
        if let Some(name) = common.name {
            check_name(name)?;
        }
        let detected = detect::detected()?;
        let (mode, root) = choose(detected, options)?;
        let tracker = match mode {
            Mode::ProcessGroup if common.name.is_some() => {
                return Err(unsupported(format!(
                    "process-group mode cannot create a named job: other processes could not \
                     open it by name ({})",
                    detected.reason
                )));
            }
            Mode::ProcessGroup if !detected.has_shell => {
                return Err(unsupported(format!(
                    "process-group mode needs {} to run the anchor that holds the job's group id \
                     (see anchor.rs)",
                    detect::SHELL
                )));
            }
            Mode::ProcessGroup => Tracker::Group(Arc::new(ProcessGroup::new(common.kill_on_drop))),
            _ => {
                let root = root.ok_or_else(|| unsupported("no cgroup root"))?;
                if common.kill_on_drop && !detected.has_shell {
                    return Err(unsupported(format!(
                        "kill-on-drop needs {} to run the guardian that ends the job if this \
                         process dies; create the job with kill_on_drop(false)",
                        detect::SHELL
                    )));
                }
                sweep_once(&root);
                let dir_name = match common.name {
                    Some(name) => name.to_owned(),
                    None => format!(
                        ".anon-{}-{}",
                        std::process::id(),
                        NEXT_ANONYMOUS.fetch_add(1, Ordering::Relaxed)
                    ),
                };
                let (version, kind) = match mode {
                    Mode::CgroupV2 => (Version::V2, Kind::CgroupV2),
                    _ => (Version::V1Freezer, Kind::CgroupV1),
                };
                // Registered before the directory exists: there is no moment
                // in which a member could outlive a crash of ours.
                let path = root.path.join(&dir_name);
                let path = path.to_string_lossy();
                let ticket = if common.kill_on_drop {
                    Some(Ticket::register(kind, &path)?)
                } else {
                    // Only tidiness is at stake: the directory is removed
                    // when empty after this process dies. Best effort.
                    Ticket::register(Kind::Keep, &path).ok()
                };
                let cgroup = Arc::new(Cgroup::create(version, &root, &dir_name)?);
                Tracker::Cgroup {
                    cgroup,
                    created: true,
                    ticket,
                }
            }
        };
        let job = Job {
            name: common.name.map(str::to_owned),
            kill_on_drop: common.kill_on_drop,
            tracker,
            limits: Arc::new(Mutex::new(LimitState::default())),
            monitor: Mutex::new(None),
            broadcaster: Arc::new(Broadcaster::default()),
            explicit_root: options.cgroup_root.is_some(),
        };
        // On failure the half-made job is dropped, which removes what it made.
        job.apply_limits(common.limits)?;
        Ok(job)
    }

    pub(crate) fn open(name: &str, options: &Options) -> io::Result<Job> {
        check_name(name)?;
        let detected = detect::detected()?;
        let (mode, root) = choose(detected, options)?;
        let version = match mode {
            Mode::CgroupV2 => Version::V2,
            Mode::CgroupV1 => Version::V1Freezer,
            _ => {
                return Err(unsupported(format!(
                    "cannot open job {name:?}: in process-group mode jobs have no name other \
                     processes can find ({})",
                    detected.reason
                )));
            }
        };
        let root = root.ok_or_else(|| unsupported("no cgroup root"))?;
        let cgroup = Arc::new(Cgroup::open(version, &root, name)?);
        Ok(Job {
            name: Some(name.to_owned()),
            kill_on_drop: false,
            tracker: Tracker::Cgroup {
                cgroup,
                created: false,
                ticket: None,
            },
            limits: Arc::new(Mutex::new(LimitState::default())),
            monitor: Mutex::new(None),
            broadcaster: Arc::new(Broadcaster::default()),
            explicit_root: options.cgroup_root.is_some(),
        })
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn kills_on_drop(&self) -> bool {
        self.kill_on_drop
    }

    pub(crate) fn mode(&self) -> Mode {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => match cgroup.version {
                Version::V2 => Mode::CgroupV2,
                Version::V1Freezer => Mode::CgroupV1,
            },
            Tracker::Group(_) => Mode::ProcessGroup,
        }
    }

    pub(crate) fn cgroup_path(&self) -> Option<&Path> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => Some(&cgroup.path),
            Tracker::Group(_) => None,
        }
    }

    pub(crate) fn cgroup_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => Some(cgroup.dir_fd()),
            Tracker::Group(_) => None,
        }
    }

    pub(crate) fn process_group(&self) -> Option<u32> {
        match &self.tracker {
            Tracker::Cgroup { .. } => None,
            Tracker::Group(group) => group.pgid(),
        }
    }

    pub(crate) fn set_frozen(&self, frozen: bool) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.freeze(frozen),
            Tracker::Group(group) => {
                let signal = if frozen {
                    rustix::process::Signal::STOP
                } else {
                    rustix::process::Signal::CONT
                };
                group.kill(signal)
            }
        }
    }

    pub(crate) fn spawn(&self, command: &mut Command) -> io::Result<Child> {
        self.spawn_std(command)
            .map_err(|e| descriptor_error(e, "cannot spawn into the job"))
    }

    fn spawn_std(&self, command: &mut Command) -> io::Result<Child> {
        let settings = self.lock_limits().spawn_settings();
        let child = match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => {
                let procs = Arc::new(cgroup.open_procs()?);
                let _armed = spawn::hook::prepare(command, Some(procs), settings);
                command.spawn()?
            }
            Tracker::Group(group) => {
                let _armed = spawn::hook::prepare(command, None, settings);
                group.spawn(command)?
            }
        };
        self.tell_monitor(child.id());
        Ok(child)
    }

    pub(crate) fn spawn_native(
        &self,
        command: &crate::Command,
    ) -> io::Result<crate::child::Spawned> {
        self.spawn_own(command)
            .map_err(|e| descriptor_error(e, "cannot spawn into the job"))
    }

    fn spawn_own(&self, command: &crate::Command) -> io::Result<crate::child::Spawned> {
        let settings = self.lock_limits().spawn_settings();
        let spawned = match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => {
                let procs = cgroup.open_procs()?;
                spawn::spawn(
                    command,
                    Placement {
                        cgroup: (cgroup.version == Version::V2).then(|| cgroup.dir_fd()),
                        cgroup_procs: Some(procs.as_fd()),
                        settings: Some(settings),
                        ..Placement::default()
                    },
                )?
            }
            Tracker::Group(group) => {
                if command.os.process_group.is_some() || command.os.new_session {
                    return Err(invalid_input(
                        "process_group and new_session cannot be set on a command spawned into a \
                         process-group job: the job's group is the job",
                    ));
                }
                group.spawn_with(|process_group| {
                    spawn::spawn(
                        command,
                        Placement {
                            settings: Some(settings.clone()),
                            process_group: Some(process_group),
                            ..Placement::default()
                        },
                    )
                })?
            }
        };
        self.tell_monitor(spawned.child.id());
        Ok(spawned)
    }

    /// Tells the event thread, if there is one, of a process the job took
    /// in, and a cgroup v1 job's record of them.
    fn tell_monitor(&self, pid: u32) {
        if let Tracker::Cgroup { cgroup, .. } = &self.tracker {
            cgroup.took_in(pid);
        }
        if let Some(monitor) = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            monitor.joined(pid);
        }
    }

    fn lock_limits(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn target(&self) -> io::Result<Target<'_>> {
        let (cgroup, dir_name) = match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => (
                Some(&**cgroup),
                cgroup.path.file_name().and_then(|n| n.to_str()),
            ),
            Tracker::Group(_) => (None, None),
        };
        let shared = match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => Some(Arc::clone(cgroup)),
            Tracker::Group(_) => None,
        };
        Ok(Target {
            detected: detect::detected()?,
            cgroup,
            dir_name,
            explicit_root: self.explicit_root,
            shared,
            broadcaster: Arc::clone(&self.broadcaster),
        })
    }

    pub(crate) fn set_limits(&self, limits: &Limits) -> io::Result<()> {
        self.apply_limits(limits)
            .map_err(|e| descriptor_error(e, "cannot set the job's limits"))
    }

    fn apply_limits(&self, limits: &Limits) -> io::Result<()> {
        let target = self.target()?;
        self.lock_limits().apply(&target, limits)
    }

    pub(crate) fn accounting_into(&self, out: &mut Accounting) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => {
                let limits = self.lock_limits();
                let is_v2 = cgroup.version == Version::V2;
                accounting::from_cgroup(
                    cgroup.dir_fd(),
                    is_v2,
                    limits.v1_memory(),
                    limits.v1_cpuacct(),
                    out,
                )
            }
            Tracker::Group(group) => accounting::from_process_group(group.pgid(), out),
        }
    }

    pub(crate) fn events(&self) -> io::Result<Events> {
        self.watch()
            .map_err(|e| descriptor_error(e, "cannot watch the job's events"))
    }

    fn watch(&self) -> io::Result<Events> {
        let mut monitor = self.monitor.lock().unwrap_or_else(|e| e.into_inner());
        if monitor.is_none() {
            let members = match &self.tracker {
                Tracker::Cgroup { cgroup, .. } => Members::Cgroup(Arc::clone(cgroup)),
                Tracker::Group(group) => Members::Group(Arc::clone(group)),
            };
            *monitor = Some(Monitor::start(
                members,
                Arc::clone(&self.limits),
                Arc::clone(&self.broadcaster),
            )?);
        }
        Ok(self.broadcaster.subscribe())
    }

    pub(crate) fn limits(&self) -> io::Result<Limits> {
        let target = self.target()?;
        self.lock_limits().read_back(&target)
    }

    pub(crate) fn assign_child(&self, child: &Child) -> io::Result<()> {
        self.assign_pid(child.id())
    }

    pub(crate) fn assign_pid(&self, pid: u32) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.write_pid(pid)?,
            Tracker::Group(group) if pid == std::process::id() => group.assign_current()?,
            Tracker::Group(_) => {
                return Err(unsupported(format!(
                    "process-group mode cannot move pid {pid} into the job: a process can join \
                     a group only before it runs a new program; spawn it with Job::spawn instead"
                )));
            }
        }
        self.tell_monitor(pid);
        Ok(())
    }

    pub(crate) fn assign_current_process(&self) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.write_pid(0)?,
            Tracker::Group(group) => group.assign_current()?,
        }
        self.tell_monitor(std::process::id());
        Ok(())
    }

    pub(crate) fn contains_child(&self, child: &Child) -> io::Result<bool> {
        self.contains_pid(child.id())
    }

    pub(crate) fn contains_pid(&self, pid: u32) -> io::Result<bool> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.contains(pid),
            Tracker::Group(group) => group.contains(pid),
        }
    }

    pub(crate) fn pids(&self) -> io::Result<Vec<u32>> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.pids(),
            Tracker::Group(group) => group.pids(),
        }
    }

    pub(crate) fn processes(&self) -> io::Result<Vec<ProcessInfo>> {
        Ok(self.pids()?.into_iter().filter_map(process::info).collect())
    }

    /// Linux cannot impose an exit code; `_exit_code` was validated by the
    /// caller and is otherwise unused.
    pub(crate) fn terminate(&self, _exit_code: u32) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.kill(),
            Tracker::Group(group) => group.kill(rustix::process::Signal::KILL),
        }
    }

    pub(crate) fn wait(&self, deadline: Option<Instant>) -> io::Result<bool> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.wait_empty(deadline),
            Tracker::Group(group) => group.wait_empty(deadline),
        }
    }

    pub(crate) fn signal(&self, sig: rustix::process::Signal) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.signal_all(sig),
            Tracker::Group(group) => group.kill(sig),
        }
    }

    pub(crate) fn request_stop(&self) -> io::Result<()> {
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => cgroup.terminate_gently(),
            Tracker::Group(group) => group.kill(rustix::process::Signal::TERM),
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // Stop the threads first: they read the directories removed below.
        drop(
            self.monitor
                .get_mut()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        self.lock_limits().stop_watchdog();
        self.drop_tracker();
        if matches!(
            &self.tracker,
            Tracker::Group(_) | Tracker::Cgroup { created: true, .. }
        ) {
            self.lock_limits().remove_dirs();
        }
        // Every subscription ends with the job.
        self.broadcaster.close();
    }
}

impl Job {
    fn drop_tracker(&mut self) {
        match &mut self.tracker {
            Tracker::Cgroup {
                cgroup,
                created,
                ticket,
            } => {
                if !*created {
                    return;
                }
                if self.kill_on_drop {
                    let _ = cgroup.kill();
                    let _ = cgroup.wait_empty(Some(Instant::now() + DROP_WAIT));
                }
                if cgroup.remove().is_ok() {
                    return;
                }
                if self.kill_on_drop {
                    // Killed but still busy after the wait: leave the job
                    // registered, so that the guardian ends it when this
                    // process ends.
                    if let Some(ticket) = ticket.take() {
                        std::mem::forget(ticket);
                    }
                } else {
                    // A job left running: like a Job Object without handles,
                    // it goes away once its last process has exited.
                    guardian::remove_when_empty(&cgroup.path);
                }
            }
            Tracker::Group(group) => group.close(),
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Job");
        d.field("name", &self.name)
            .field("kill_on_drop", &self.kill_on_drop);
        match &self.tracker {
            Tracker::Cgroup { cgroup, .. } => d.field("cgroup", &cgroup.path),
            Tracker::Group(group) => d.field("process_group", &group.pgid()),
        };
        d.finish()
    }
}

/// Linux rules for a job name, on top of the portable ones: it becomes a
/// directory name.
fn check_name(name: &str) -> io::Result<()> {
    if name.contains('/') {
        return Err(invalid_input(format!(
            "job name {name:?} contains '/'; on Linux a name is one directory name"
        )));
    }
    if name.starts_with('.') {
        return Err(invalid_input(format!(
            "job name {name:?} starts with '.', which Linux job roots reserve for anonymous jobs"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid_input(format!(
            "job name {name:?} contains a control character"
        )));
    }
    if let Some(file) = cgroup_file_name(name) {
        return Err(invalid_input(format!(
            "job name {name:?} is reserved: a cgroup directory holds its own files under names \
             like it ({file}); choose a name without a \"{}\" prefix",
            file.split_once('.').map_or(file, |(prefix, _)| prefix)
        )));
    }
    Ok(())
}

/// The cgroup interface file a job name would clash with in a job root, if
/// any: `<controller or "cgroup">.<anything>` (v2 and v1 alike), and v1's
/// unprefixed `tasks`, `notify_on_release` and `release_agent`.
fn cgroup_file_name(name: &str) -> Option<&str> {
    const PREFIXES: [&str; 16] = [
        "cgroup",
        "cpu",
        "cpuacct",
        "cpuset",
        "io",
        "blkio",
        "memory",
        "pids",
        "hugetlb",
        "rdma",
        "misc",
        "freezer",
        "devices",
        "net_cls",
        "net_prio",
        "perf_event",
    ];
    const PLAIN: [&str; 3] = ["tasks", "notify_on_release", "release_agent"];
    let prefixed = name
        .split_once('.')
        .is_some_and(|(prefix, _)| PREFIXES.contains(&prefix));
    (prefixed || PLAIN.contains(&name)).then_some(name)
}

/// The mode and root for a job, from the builder's options and the detection.
fn choose(
    detected: &detect::Detected,
    options: &Options,
) -> io::Result<(Mode, Option<detect::Root>)> {
    if let Some(path) = &options.cgroup_root {
        let (root, mode) = detect::explicit_root(path)?;
        if let Some(asked) = options.mode
            && asked != mode
        {
            return Err(invalid_input(format!(
                "cgroup root {} is a {mode} directory, but mode {asked} was asked for",
                path.display()
            )));
        }
        return Ok((mode, Some(root)));
    }
    let mode = options.mode.unwrap_or(detected.default_mode);
    let root = match mode {
        Mode::CgroupV2 => detected.v2.as_ref(),
        Mode::CgroupV1 => detected.v1.as_ref(),
        Mode::ProcessGroup => return Ok((mode, None)),
        Mode::JobObject => {
            return Err(invalid_input(
                "mode job-object exists only on Windows; on Linux: cgroup-v2, cgroup-v1, process-group",
            ));
        }
    };
    match root {
        Ok(root) => Ok((mode, Some(root.clone()))),
        Err(why) => Err(unsupported(format!(
            "{mode} mode is not available on this host: {why}"
        ))),
    }
}

/// Sweeps each job root once per process for directories of dead owners.
fn sweep_once(root: &detect::Root) {
    static SWEPT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
    if !swept.contains(&root.path) {
        cgroup::sweep(&root.path);
        swept.push(root.path.clone());
    }
}

/// See [`crate::os::linux::enter_leaf_cgroup`].
pub(crate) fn enter_leaf_cgroup() -> io::Result<PathBuf> {
    detect::enter_leaf()
}

/// See `os::linux::ChildExt::spawn_method`.
pub(crate) fn spawn_method() -> &'static str {
    spawn::method()
}

/// Starts `command` outside any job (`Command::spawn`).
pub(crate) fn spawn_native(command: &crate::Command) -> io::Result<crate::child::Spawned> {
    spawn::spawn(command, Placement::default())
}

/// The streams std hands out, as files for a `Stdio`.
pub(crate) fn pipe_reader_file(pipe: std::io::PipeReader) -> std::fs::File {
    std::fs::File::from(std::os::fd::OwnedFd::from(pipe))
}
pub(crate) fn pipe_writer_file(pipe: std::io::PipeWriter) -> std::fs::File {
    std::fs::File::from(std::os::fd::OwnedFd::from(pipe))
}
pub(crate) fn child_stdin_file(pipe: std::process::ChildStdin) -> std::fs::File {
    std::fs::File::from(std::os::fd::OwnedFd::from(pipe))
}
pub(crate) fn child_stdout_file(pipe: std::process::ChildStdout) -> std::fs::File {
    std::fs::File::from(std::os::fd::OwnedFd::from(pipe))
}
pub(crate) fn child_stderr_file(pipe: std::process::ChildStderr) -> std::fs::File {
    std::fs::File::from(std::os::fd::OwnedFd::from(pipe))
}

/// Any owned descriptor — a file, a pipe end, a socket, a terminal.
impl From<std::os::fd::OwnedFd> for crate::Stdio {
    fn from(fd: std::os::fd::OwnedFd) -> crate::Stdio {
        crate::Stdio::from(std::fs::File::from(fd))
    }
}

pub(crate) fn capabilities() -> io::Result<Capabilities> {
    let detected = detect::detected()?;
    let mode = detected.default_mode;
    let root = match mode {
        Mode::CgroupV2 => detected.v2.as_ref().ok(),
        Mode::CgroupV1 => detected.v1.as_ref().ok(),
        _ => None,
    };
    let atomic =
        mode == Mode::CgroupV2 && root.is_some_and(|r| r.path.join("cgroup.kill").exists());
    Ok(Capabilities {
        mode,
        job_root: root.map(|r| r.path.clone()),
        contained: matches!(mode, Mode::CgroupV2 | Mode::CgroupV1),
        kill_on_owner_crash: detected.has_shell,
        atomic_terminate: atomic,
        reason: detected.reason.clone(),
        limits: limits::support(detected, mode, root),
    })
}
