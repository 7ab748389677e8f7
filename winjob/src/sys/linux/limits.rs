//! The portable limits on Linux: cgroup controller files for the job-wide
//! ones, settings applied to each spawned process for the per-process ones.
//!
//! # Where each limit goes
//!
//! | limit | cgroup v2 file | cgroup v1 file | per process, at spawn |
//! |---|---|---|---|
//! | job memory | `memory.max` | `memory.limit_in_bytes` | |
//! | active processes | `pids.max` | `pids.max` | |
//! | CPU rate (hard cap) | `cpu.max` | `cpu.cfs_quota_us` / `cpu.cfs_period_us` | |
//! | CPU weight | `cpu.weight` | `cpu.shares` | |
//! | affinity | `cpuset.cpus` | `cpuset.cpus` | `sched_setaffinity` without cpuset |
//! | process memory | | | `RLIMIT_AS` |
//! | process CPU time | | | `RLIMIT_CPU` |
//! | priority | | | nice (`setpriority`) |
//! | job CPU time | a watchdog on `cpu.stat` `user_usec` (`watchdog.rs`) | the same watchdog on `cpuacct.usage_user` of a v1 `cpuacct` directory the processes join | |
//!
//! A job-wide limit uses the job's own v2 directory when the controller is
//! enabled there (the job root enables every controller its parent gives it);
//! otherwise, on hybrid hosts, a directory of the same name in the v1 hierarchy
//! of that controller, which the job's processes join at spawn (and which the
//! running members are moved into, with the job frozen meanwhile, when the
//! first such limit is set). When neither exists — process-group mode, an
//! explicit cgroup root, a host without the controller — the limit is refused
//! with `Unsupported`, saying which controller is missing where, before any
//! file is written.
//!
//! # Atomicity
//!
//! Every file is written from the new `Limits` itself, never read and
//! modified. If a write fails, the files already written are written again
//! from the previous `Limits`, so the job keeps the limits it had.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use rustix::fs::{Mode as FileMode, OFlags};

use super::cgroup::{Cgroup, Version};
use super::detect::{self, Detected};
use super::guardian::{self, Kind, Ticket};
use super::watchdog::{CpuCounter, Watchdog};
use crate::error::{invalid_input, unsupported, with_context};
use crate::event::Broadcaster;
use crate::{CpuRate, CpuSet, CpuWeight, LimitSupport, Limits, Mode};

/// The CFS period used for CPU rate caps, in microseconds (the kernel's
/// default).
const CPU_PERIOD_US: u64 = 100_000;

/// The kernel's `PID_MAX_LIMIT`: the most tasks Linux can have at once, and
/// the highest number `pids.max` takes (4 Mi on 64-bit, 32 Ki on 32-bit).
#[cfg(target_pointer_width = "64")]
const PID_MAX_LIMIT: u32 = 4 * 1024 * 1024;
#[cfg(not(target_pointer_width = "64"))]
const PID_MAX_LIMIT: u32 = 32 * 1024;

/// A controller of the portable limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Controller {
    Memory,
    Pids,
    Cpu,
    Cpuset,
    /// cgroup v1 `cpuacct`: no limit of its own; it counts the job's CPU time
    /// for the `job_cpu_time` watchdog where the job is a v1 freezer cgroup
    /// (a v2 job has `cpu.stat` without any controller).
    Cpuacct,
}

impl Controller {
    const ALL: [Controller; 5] = [
        Controller::Memory,
        Controller::Pids,
        Controller::Cpu,
        Controller::Cpuset,
        Controller::Cpuacct,
    ];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
            Controller::Cpuset => "cpuset",
            Controller::Cpuacct => "cpuacct",
        }
    }

    /// A file that exists in a v2 directory exactly when the controller is
    /// enabled for it.
    fn v2_probe(self) -> &'static str {
        match self {
            Controller::Memory => "memory.max",
            Controller::Pids => "pids.max",
            Controller::Cpu => "cpu.max",
            Controller::Cpuset => "cpuset.cpus",
            // Never in v2: there a job's CPU time is in its own cpu.stat.
            Controller::Cpuacct => "cpuacct.usage",
        }
    }

    /// True if `limits` sets anything this controller enforces (or, for
    /// `cpuacct`, counts) for a job whose cgroup is a v1 one if `v1_job`.
    fn wanted(self, limits: &Limits, cpuset_available: bool, v1_job: bool) -> bool {
        match self {
            Controller::Memory => limits.job_memory.is_some(),
            Controller::Pids => limits.active_processes.is_some(),
            Controller::Cpu => limits.cpu_rate.is_some() || limits.cpu_weight.is_some(),
            Controller::Cpuset => limits.affinity.is_some() && cpuset_available,
            Controller::Cpuacct => limits.job_cpu_time.is_some() && v1_job,
        }
    }

    /// The names of the limits this controller enforces, for messages.
    fn limit_names(self) -> &'static str {
        match self {
            Controller::Memory => "job_memory",
            Controller::Pids => "active_processes",
            Controller::Cpu => "cpu_rate/cpu_weight",
            Controller::Cpuset => "affinity",
            Controller::Cpuacct => "job_cpu_time",
        }
    }
}

/// A v1 directory holding one controller's limits for a job.
#[derive(Debug)]
struct V1Dir {
    controller: Controller,
    path: PathBuf,
    /// The directory, for reading its files (accounting).
    dir: OwnedFd,
    procs: Arc<OwnedFd>,
    /// Registration with the guardian, which removes the directory once
    /// empty should this process die.
    ticket: Option<Ticket>,
}

/// The limits of one job and where they live.
#[derive(Debug, Default)]
pub(crate) struct LimitState {
    /// What was last applied.
    limits: Limits,
    /// The v1 directories made for this job's limits.
    v1: Vec<V1Dir>,
    /// The thread that enforces `job_cpu_time`.
    watchdog: Option<Watchdog>,
}

/// What a spawn needs: the extra `cgroup.procs` to join, and the
/// per-process settings.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpawnSettings {
    pub(crate) procs: Vec<Arc<OwnedFd>>,
    pub(crate) address_space: Option<u64>,
    pub(crate) cpu_seconds: Option<u64>,
    pub(crate) nice: Option<i32>,
    /// Affinity set per process (when no cpuset controller holds it).
    pub(crate) affinity: Option<CpuSet>,
}

impl SpawnSettings {
    pub(crate) fn is_empty(&self) -> bool {
        self.procs.is_empty()
            && self.address_space.is_none()
            && self.cpu_seconds.is_none()
            && self.nice.is_none()
            && self.affinity.is_none()
    }
}

/// Where one controller's files are for a job.
#[derive(Debug, Clone)]
enum Place {
    /// In the job's own v2 directory.
    V2(PathBuf),
    /// In a v1 directory (existing, or to create under the root).
    V1 { path: PathBuf, exists: bool },
}

impl Place {
    fn path(&self) -> &PathBuf {
        match self {
            Place::V2(p) | Place::V1 { path: p, .. } => p,
        }
    }
}

/// The job a limit state belongs to, as far as limits care.
pub(crate) struct Target<'a> {
    pub(crate) detected: &'a Detected,
    /// The job's cgroup, `None` in process-group mode.
    pub(crate) cgroup: Option<&'a Cgroup>,
    /// The job's directory name (the same in every hierarchy).
    pub(crate) dir_name: Option<&'a str>,
    /// True when the caller chose the cgroup root: no v1 fallback then.
    pub(crate) explicit_root: bool,
    /// The job's cgroup, shared with the job-time watchdog.
    pub(crate) shared: Option<Arc<Cgroup>>,
    /// Where the watchdog reports `EndOfJobTime`.
    pub(crate) broadcaster: Arc<Broadcaster>,
}

impl LimitState {
    /// The settings for the next spawn.
    pub(crate) fn spawn_settings(&self) -> SpawnSettings {
        let l = &self.limits;
        let cpuset_holds_affinity = self.v1.iter().any(|d| d.controller == Controller::Cpuset);
        SpawnSettings {
            procs: self.v1.iter().map(|d| Arc::clone(&d.procs)).collect(),
            address_space: l.process_memory,
            cpu_seconds: l.process_cpu_time.map(|t| t.as_secs().max(1)),
            nice: l.priority.map(|p| p.nice()),
            affinity: if cpuset_holds_affinity {
                None
            } else {
                l.affinity.clone()
            },
        }
    }

    /// Applies `new` (validated) in place of the current limits.
    pub(crate) fn apply(&mut self, target: &Target<'_>, new: &Limits) -> io::Result<()> {
        if let Some(count) = new.active_processes
            && count > PID_MAX_LIMIT
        {
            return Err(invalid_input(format!(
                "active_processes of {count} is above {PID_MAX_LIMIT}, the most tasks Linux can \
                 have (PID_MAX_LIMIT), which is also the most pids.max accepts"
            )));
        }
        let job_time_cgroup = match (&new.job_cpu_time, &target.shared) {
            (None, _) => None,
            (Some(_), Some(cgroup)) => Some(Arc::clone(cgroup)),
            (Some(_), None) => {
                return Err(unsupported(
                    "job_cpu_time cannot be enforced: process-group mode has no cgroup to count \
                     the CPU time of exited processes; process_cpu_time (RLIMIT_CPU) limits each \
                     process",
                ));
            }
        };
        let v1_job = target
            .cgroup
            .is_some_and(|c| c.version == Version::V1Freezer);
        if let Some(cpus) = &new.affinity {
            check_cpus_exist(cpus)?;
        }
        // Plan every controller first: an unsupported limit is refused before
        // any file changes.
        let cpuset_available =
            target.cgroup.is_some() && self.place(target, Controller::Cpuset).is_ok();
        let mut plan = Vec::new();
        for controller in Controller::ALL {
            let wanted = controller.wanted(new, cpuset_available, v1_job);
            let had = controller.wanted(&self.limits, cpuset_available, v1_job);
            if !wanted && !had {
                continue;
            }
            match self.place(target, controller) {
                Ok(place) => plan.push((controller, place)),
                Err(why) if wanted => {
                    return Err(unsupported(format!(
                        "{} cannot be enforced: {why}",
                        controller.limit_names()
                    )));
                }
                Err(_) => {}
            }
        }
        // Create the v1 directories that are missing, moving the members in.
        for (controller, place) in &mut plan {
            if let Place::V1 {
                path,
                exists: false,
            } = place
            {
                self.create_v1(target, *controller, path)?;
                *place = Place::V1 {
                    path: path.clone(),
                    exists: true,
                };
            }
        }
        let mut written: Vec<(Controller, &Place)> = Vec::new();
        for (controller, place) in &plan {
            if let Err(e) = write_controller(*controller, place, new) {
                // Put back what was there before.
                for (c, p) in written.iter().rev() {
                    let _ = write_controller(*c, p, &self.limits);
                }
                let _ = write_controller(*controller, place, &self.limits);
                return Err(e);
            }
            written.push((*controller, place));
        }
        // The budget restarts only when the limit changes.
        if new.job_cpu_time != self.limits.job_cpu_time {
            self.watchdog = None;
            if let (Some(budget), Some(cgroup)) = (new.job_cpu_time, job_time_cgroup) {
                // A v2 job counts in its own cpu.stat; a v1 job in the
                // cpuacct directory just planned.
                let counter = if v1_job {
                    let dir = plan
                        .iter()
                        .find(|(c, _)| *c == Controller::Cpuacct)
                        .map(|(_, place)| place.path().clone())
                        .ok_or_else(|| io::Error::other("no cpuacct directory was planned"))?;
                    CpuCounter::Cpuacct(dir)
                } else {
                    CpuCounter::CpuStat
                };
                match Watchdog::start(cgroup, counter, budget, Arc::clone(&target.broadcaster)) {
                    Ok(watchdog) => self.watchdog = Some(watchdog),
                    Err(e) => {
                        for (c, p) in written.iter().rev() {
                            let _ = write_controller(*c, p, &self.limits);
                        }
                        return Err(e);
                    }
                }
            }
        }
        self.limits = new.clone();
        Ok(())
    }

    /// Stops the job-time watchdog (the job is being dropped).
    pub(crate) fn stop_watchdog(&mut self) {
        self.watchdog = None;
    }

    /// Where `controller`'s files are for this job, or why there are none.
    fn place(&self, target: &Target<'_>, controller: Controller) -> Result<Place, String> {
        let Some(cgroup) = target.cgroup else {
            return Err(format!(
                "process-group mode has no cgroup to hold the {} controller",
                controller.name()
            ));
        };
        if cgroup.version == Version::V2 && cgroup.path.join(controller.v2_probe()).exists() {
            return Ok(Place::V2(cgroup.path.clone()));
        }
        if let Some(dir) = self.v1.iter().find(|d| d.controller == controller) {
            return Ok(Place::V1 {
                path: dir.path.clone(),
                exists: true,
            });
        }
        let v2_why = match cgroup.version {
            Version::V2 => format!(
                "the {} controller is not enabled at {} (cgroup.subtree_control of its parent)",
                controller.name(),
                cgroup.path.display()
            ),
            Version::V1Freezer => "the job is a cgroup v1 freezer directory".to_owned(),
        };
        if target.explicit_root {
            return Err(format!("{v2_why}, and the job root was given explicitly"));
        }
        let root = target
            .detected
            .v1_limit_root(controller.name())
            .map_err(|why| {
                let v2_why = match (&target.detected.v2, cgroup.version) {
                    (Ok(root), Version::V2) => {
                        detect::v2_controller_missing(root, controller.name())
                    }
                    _ => v2_why.clone(),
                };
                format!("{v2_why}; and in cgroup v1: {why}")
            })?;
        let name = target.dir_name.unwrap_or_default();
        Ok(Place::V1 {
            path: root.path.join(name),
            exists: false,
        })
    }

    fn create_v1(
        &mut self,
        target: &Target<'_>,
        controller: Controller,
        path: &PathBuf,
    ) -> io::Result<()> {
        // Only tidiness is at stake (the directory is removed once empty if
        // this process dies): best effort.
        let ticket = Ticket::register(Kind::Keep, &path.to_string_lossy()).ok();
        rustix::fs::mkdir(path, FileMode::from_raw_mode(0o700))
            .or_else(|e| {
                if e == rustix::io::Errno::EXIST {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| with_context(e.into(), format!("cannot create {}", path.display())))?;
        let made = (|| {
            if controller == Controller::Cpuset {
                detect::inherit_cpuset(path)?;
            }
            let dir = rustix::fs::open(
                path,
                OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
                FileMode::empty(),
            )?;
            let procs = rustix::fs::openat(
                &dir,
                "cgroup.procs",
                OFlags::WRONLY | OFlags::CLOEXEC,
                FileMode::empty(),
            )?;
            Ok::<_, io::Error>((dir, procs))
        })();
        let (dir, procs) = match made {
            Ok(made) => made,
            Err(e) => {
                let _ = fs::remove_dir(path);
                return Err(with_context(e, format!("cannot set up {}", path.display())));
            }
        };
        // Running members join too; the job is frozen meanwhile, so that none
        // forks a child that would stay behind.
        if let Some(cgroup) = target.cgroup {
            let members = cgroup.pids()?;
            if !members.is_empty() {
                let frozen = cgroup.set_frozen(true).is_ok();
                let mut moved = Ok(());
                for pid in cgroup.pids()? {
                    if let Err(e) = rustix::io::write(&procs, pid.to_string().as_bytes())
                        && e != rustix::io::Errno::SRCH
                    {
                        moved = Err(io::Error::from(e));
                    }
                }
                if frozen {
                    let _ = cgroup.set_frozen(false);
                }
                moved?;
            }
        }
        self.v1.push(V1Dir {
            controller,
            path: path.clone(),
            dir,
            procs: Arc::new(procs),
            ticket,
        });
        Ok(())
    }

    /// The limits in force, read back from the cgroup files; per-process
    /// limits from what was applied (they live in each process).
    pub(crate) fn read_back(&self, target: &Target<'_>) -> io::Result<Limits> {
        let mut limits = Limits::new();
        limits.process_memory = self.limits.process_memory;
        limits.job_cpu_time = self.watchdog.as_ref().and(self.limits.job_cpu_time);
        limits.process_cpu_time = self.limits.process_cpu_time;
        limits.priority = self.limits.priority;
        limits.affinity = self.limits.affinity.clone();
        for controller in Controller::ALL {
            let Ok(place) = self.place(target, controller) else {
                continue;
            };
            if let Place::V1 { exists: false, .. } = place {
                continue;
            }
            read_controller(controller, &place, &mut limits)?;
        }
        Ok(limits)
    }

    /// The job's v1 memory directory, if a limit made one.
    pub(crate) fn v1_memory(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.v1
            .iter()
            .find(|d| d.controller == Controller::Memory)
            .map(|d| d.dir.as_fd())
    }

    /// The job's v1 cpuacct directory, if `job_cpu_time` made one.
    pub(crate) fn v1_cpuacct(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.v1
            .iter()
            .find(|d| d.controller == Controller::Cpuacct)
            .map(|d| d.dir.as_fd())
    }

    /// The job's v1 pids directory, if a limit made one.
    pub(crate) fn v1_pids(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.v1
            .iter()
            .find(|d| d.controller == Controller::Pids)
            .map(|d| d.dir.as_fd())
    }

    /// Removes the v1 directories; one still in use (a job left running) is
    /// removed by the guardian once empty.
    pub(crate) fn remove_dirs(&mut self) {
        for dir in self.v1.drain(..) {
            // Where cpu and cpuacct share a hierarchy (`cpu,cpuacct`), two
            // entries name one directory: the second finds it gone.
            if super::cgroup::remove_tree(&dir.path).is_err() && dir.path.exists() {
                guardian::remove_when_empty(&dir.path);
            }
            drop(dir.ticket);
        }
    }
}

/// What jobs of `mode` created under `root` enforce, limit by limit, as
/// [`LimitState::place`] would decide it.
pub(crate) fn support(
    detected: &Detected,
    mode: Mode,
    root: Option<&detect::Root>,
) -> Vec<LimitSupport> {
    // Where a controller's files would be: (its name, v2 files, v1 files).
    let controller_at = |controller: Controller, v2_files: &str, v1_files: &str| {
        if mode == Mode::ProcessGroup {
            return Err(format!(
                "process-group mode has no cgroup to hold the {} controller",
                controller.name()
            ));
        }
        if mode == Mode::CgroupV2
            && let Some(root) = root
        {
            let enabled =
                fs::read_to_string(root.path.join("cgroup.subtree_control")).unwrap_or_default();
            if enabled.split_whitespace().any(|c| c == controller.name()) {
                return Ok(format!(
                    "{v2_files} (cgroup v2, under {})",
                    root.path.display()
                ));
            }
        }
        match detected.v1_limit_root(controller.name()) {
            Ok(v1) => Ok(format!(
                "{v1_files} (cgroup v1, under {})",
                v1.path.display()
            )),
            Err(why) => Err(match root {
                Some(root) if mode == Mode::CgroupV2 => format!(
                    "{}; and in cgroup v1: {why}",
                    detect::v2_controller_missing(root, controller.name())
                ),
                _ => format!(
                    "the {} controller is available neither in cgroup v2 nor in v1 ({why})",
                    controller.name()
                ),
            }),
        }
    };
    let entry = |limit: &'static str, answer: Result<String, String>| match answer {
        Ok(how) => LimitSupport::new(limit, true, how),
        Err(why) => LimitSupport::new(limit, false, why),
    };
    let per_process = |how: &str| Ok(how.to_owned());
    vec![
        entry(
            "job_memory",
            controller_at(Controller::Memory, "memory.max", "memory.limit_in_bytes"),
        ),
        entry(
            "process_memory",
            per_process("RLIMIT_AS on each process at spawn"),
        ),
        entry(
            "active_processes",
            controller_at(
                Controller::Pids,
                "pids.max (threads count too)",
                "pids.max (threads count too)",
            ),
        ),
        entry(
            "cpu_rate",
            controller_at(Controller::Cpu, "cpu.max", "cpu.cfs_quota_us"),
        ),
        entry(
            "cpu_weight",
            controller_at(Controller::Cpu, "cpu.weight", "cpu.shares"),
        ),
        entry(
            "job_cpu_time",
            match mode {
                Mode::CgroupV2 => Ok(
                    "a watchdog on user_usec in cpu.stat (cgroup v2) that kills the job; \
                    checked at least every second"
                        .into(),
                ),
                Mode::CgroupV1 => match detected.v1_limit_root("cpuacct") {
                    Ok(root) => Ok(format!(
                        "a watchdog on cpuacct.usage_user (cgroup v1, under {}) that kills the \
                         job; checked at least every second",
                        root.path.display()
                    )),
                    Err(why) => Err(format!(
                        "a v1 job's CPU time is counted by the cpuacct controller: {why}"
                    )),
                },
                _ => Err(
                    "process-group mode has no cgroup to count the CPU time of exited processes"
                        .into(),
                ),
            },
        ),
        entry(
            "process_cpu_time",
            per_process("RLIMIT_CPU on each process at spawn"),
        ),
        entry(
            "priority",
            per_process("nice value of each process at spawn (raising it needs CAP_SYS_NICE)"),
        ),
        entry(
            "affinity",
            controller_at(Controller::Cpuset, "cpuset.cpus", "cpuset.cpus").or_else(|_| {
                per_process("sched_setaffinity on each process at spawn (a process may change it)")
            }),
        ),
    ]
}

fn write_controller(controller: Controller, place: &Place, limits: &Limits) -> io::Result<()> {
    let dir = place.path();
    let v2 = matches!(place, Place::V2(_));
    let write = |file: &str, value: String| {
        fs::write(dir.join(file), &value).map_err(|e| {
            with_context(
                e,
                format!("cannot write {value:?} to {}", dir.join(file).display()),
            )
        })
    };
    match controller {
        Controller::Memory => match (v2, limits.job_memory) {
            (true, Some(bytes)) => write("memory.max", bytes.to_string()),
            (true, None) => write("memory.max", "max".into()),
            (false, Some(bytes)) => write("memory.limit_in_bytes", bytes.to_string()),
            (false, None) => write("memory.limit_in_bytes", "-1".into()),
        },
        Controller::Pids => write(
            "pids.max",
            limits
                .active_processes
                .map_or_else(|| "max".into(), |n| n.to_string()),
        ),
        Controller::Cpu => {
            let quota = limits.cpu_rate.map(cpu_quota_us).transpose()?;
            if v2 {
                let quota = quota.map_or_else(|| "max".into(), |q| q.to_string());
                write("cpu.max", format!("{quota} {CPU_PERIOD_US}"))?;
                let weight = limits.cpu_weight.map_or(100, cgroup_weight);
                write("cpu.weight", weight.to_string())
            } else {
                write("cpu.cfs_period_us", CPU_PERIOD_US.to_string())?;
                write(
                    "cpu.cfs_quota_us",
                    quota.map_or_else(|| "-1".into(), |q| q.to_string()),
                )?;
                let shares = limits
                    .cpu_weight
                    .map_or(1024, |w| cgroup_weight(w) * 1024 / 100);
                write("cpu.shares", shares.to_string())
            }
        }
        // Nothing to write: the directory only counts.
        Controller::Cpuacct => Ok(()),
        Controller::Cpuset => {
            let cpus = match &limits.affinity {
                Some(cpus) => cpus.to_string(),
                // v2: empty means "the parent's"; v1 needs the list itself.
                None if v2 => String::new(),
                None => fs::read_to_string(dir.parent().unwrap_or(dir).join("cpuset.cpus"))?
                    .trim()
                    .to_owned(),
            };
            write("cpuset.cpus", cpus)
        }
    }
}

fn read_controller(controller: Controller, place: &Place, limits: &mut Limits) -> io::Result<()> {
    let dir = place.path();
    let v2 = matches!(place, Place::V2(_));
    let read = |file: &str| -> io::Result<String> {
        Ok(fs::read_to_string(dir.join(file))?.trim().to_owned())
    };
    match controller {
        Controller::Memory => {
            let text = read(if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            })?;
            // v1 reports "no limit" as a huge page-aligned number.
            limits.job_memory = text
                .parse::<u64>()
                .ok()
                .filter(|&b| b < i64::MAX.unsigned_abs() / 2);
        }
        Controller::Pids => limits.active_processes = read("pids.max")?.parse().ok(),
        Controller::Cpu => {
            let (quota, period) = if v2 {
                let text = read("cpu.max")?;
                let mut parts = text.split_whitespace();
                (
                    parts.next().and_then(|q| q.parse::<u64>().ok()),
                    parts.next().and_then(|p| p.parse::<u64>().ok()),
                )
            } else {
                (
                    read("cpu.cfs_quota_us")?.parse::<u64>().ok(),
                    read("cpu.cfs_period_us")?.parse::<u64>().ok(),
                )
            };
            limits.cpu_rate = match (quota, period) {
                (Some(q), Some(p)) if p > 0 => rate_from_quota(q, p),
                _ => None,
            };
            let weight = if v2 {
                read("cpu.weight")?.parse::<u32>().ok()
            } else {
                read("cpu.shares")?
                    .parse::<u32>()
                    .ok()
                    .map(|s| s * 100 / 1024)
            };
            limits.cpu_weight = weight.filter(|&w| w != 100).map(weight_from_cgroup);
        }
        Controller::Cpuacct => {}
        Controller::Cpuset => {
            let text = read("cpuset.cpus")?;
            limits.affinity = if text.is_empty() {
                None
            } else {
                text.parse().ok()
            };
        }
    }
    Ok(())
}

/// The online CPUs of this machine (`/sys/devices/system/cpu/online`).
pub(crate) fn online_cpus() -> io::Result<CpuSet> {
    fs::read_to_string("/sys/devices/system/cpu/online")?
        .trim()
        .parse()
}

fn check_cpus_exist(cpus: &CpuSet) -> io::Result<()> {
    let online = online_cpus()?;
    if let Some(missing) = cpus.iter().find(|&c| !online.contains(c)) {
        return Err(invalid_input(format!(
            "affinity names CPU {missing}, which this machine does not have (online CPUs: {online})"
        )));
    }
    Ok(())
}

/// The CFS quota for a share of the whole machine: rate × CPUs × period.
fn cpu_quota_us(rate: CpuRate) -> io::Result<u64> {
    let cpus = u64::try_from(online_cpus()?.len()).unwrap_or(1);
    // At least 1 ms: the kernel refuses smaller quotas.
    Ok((u64::from(rate.hundredths()) * cpus * CPU_PERIOD_US / 10_000).max(1_000))
}

fn rate_from_quota(quota: u64, period: u64) -> Option<CpuRate> {
    let cpus = u64::try_from(online_cpus().ok()?.len()).ok()?.max(1);
    let hundredths = (quota * 10_000).div_ceil(period * cpus);
    CpuRate::from_hundredths(u32::try_from(hundredths).ok()?).ok()
}

/// Windows' weights 1–9 on cgroup v2's scale (1–10 000, default 100): a
/// factor of √2 per step around 5 = 100, so 1 → 25 and 9 → 400.
const WEIGHTS: [u32; 9] = [25, 35, 50, 71, 100, 141, 200, 283, 400];

fn cgroup_weight(weight: CpuWeight) -> u32 {
    WEIGHTS[usize::from(weight.get() - 1)]
}

fn weight_from_cgroup(value: u32) -> CpuWeight {
    let nearest = WEIGHTS
        .iter()
        .enumerate()
        .min_by_key(|(_, w)| w.abs_diff(value))
        .map_or(5, |(i, _)| i + 1);
    CpuWeight::new(u8::try_from(nearest).unwrap_or(5)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_round_trip() {
        for w in 1..=9 {
            let weight = CpuWeight::new(w).unwrap();
            assert_eq!(weight_from_cgroup(cgroup_weight(weight)), weight);
        }
        assert_eq!(cgroup_weight(CpuWeight::DEFAULT), 100);
        assert_eq!(weight_from_cgroup(1024 * 100 / 1024), CpuWeight::DEFAULT);
    }
}
