//! Finding out, once per process, where jobs can live on this host.
//!
//! The layout is read from `/proc/self/mountinfo` (never assumed to be
//! `/sys/fs/cgroup`: on hybrid hosts that is a tmpfs, and cgroup2 is mounted
//! elsewhere, e.g. `/sys/fs/cgroup/unified`) and `/proc/self/cgroup` (where this
//! process is). The job root of each kind is a directory `winjob` inside this
//! process's own cgroup, created if missing; creating it is the writability
//! test. That directory is the library's and stays; the job directories in it
//! are removed when their jobs end.
//!
//! cgroup v2 lets a cgroup hand controllers to its children only while it holds
//! no process itself (the "no internal processes" rule; the root cgroup is
//! exempt). A delegated cgroup such as a `systemd-run --user --scope -p
//! Delegate=yes` scope holds the caller, so its `winjob` directory gets no
//! controller. [`enter_leaf`], called only when the caller opts in
//! ([`crate::os::linux::enter_leaf_cgroup`]), moves the cgroup's processes into
//! a child `winjob-leaf` and then enables the controllers. A process found in
//! a `winjob-leaf` (the caller after the move, and everything it starts outside
//! jobs) takes the leaf's parent as its own cgroup, so the job root is the same
//! before and after the move.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::parse;
use crate::Mode;
use crate::error::{invalid_input, unsupported};

/// The name of the directory, inside the own cgroup, that holds the jobs.
const ROOT_DIR_NAME: &str = "winjob";

/// The name of the leaf cgroup [`enter_leaf`] moves the own cgroup's processes
/// into.
pub(crate) const LEAF_DIR_NAME: &str = "winjob-leaf";

/// `statfs` magic numbers of the two cgroup filesystems (linux/magic.h).
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// A directory under which jobs of one kind are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root {
    /// The directory itself.
    pub(crate) path: PathBuf,
    /// The mount point of its hierarchy, to turn `/proc/<pid>/cgroup` paths
    /// into directories.
    pub(crate) mount_point: PathBuf,
    /// The hierarchy path mounted at `mount_point` (`/` usually).
    pub(crate) mount_root: String,
}

/// What the detection found.
#[derive(Debug)]
pub(crate) struct Detected {
    /// The v2 job root, or why there is none.
    pub(crate) v2: Result<Root, String>,
    /// The v1 freezer job root, or why there is none.
    pub(crate) v1: Result<Root, String>,
    /// The mode new jobs use unless told otherwise.
    pub(crate) default_mode: Mode,
    /// Why `default_mode` was chosen.
    pub(crate) reason: String,
    /// True when `/bin/sh` is there to run the guardian.
    pub(crate) has_shell: bool,
    /// For each controller of [`LIMIT_CONTROLLERS`], its v1 job root (used for
    /// limits where the v2 hierarchy lacks the controller), or why there is
    /// none.
    pub(crate) v1_limits: Vec<(&'static str, Result<Root, String>)>,
}

impl Detected {
    /// The v1 job root for `controller`'s limits.
    pub(crate) fn v1_limit_root(&self, controller: &str) -> Result<&Root, &str> {
        self.v1_limits
            .iter()
            .find(|(c, _)| *c == controller)
            .map_or(Err("not a limit controller"), |(_, r)| {
                r.as_ref().map_err(String::as_str)
            })
    }
}

/// The path of the shell that runs the guardian.
pub(crate) const SHELL: &str = "/bin/sh";

static DETECTED: OnceLock<Result<Detected, (io::ErrorKind, String)>> = OnceLock::new();

/// The cached detection; runs it on first use.
pub(crate) fn detected() -> io::Result<&'static Detected> {
    DETECTED
        .get_or_init(|| detect().map_err(|e| (e.kind(), e.to_string())))
        .as_ref()
        .map_err(|(kind, message)| io::Error::new(*kind, message.clone()))
}

fn detect() -> io::Result<Detected> {
    let forced_mode = match env::var("WINJOB_MODE") {
        Ok(value) => Some(parse_mode(&value)?),
        Err(env::VarError::NotPresent) => None,
        Err(env::VarError::NotUnicode(_)) => {
            return Err(invalid_input("WINJOB_MODE is not valid UTF-8"));
        }
    };
    let forced_root = env::var_os("WINJOB_CGROUP_ROOT").map(PathBuf::from);

    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mounts = parse::cgroup_mounts(&mountinfo);
    let own = parse::proc_cgroup(&own);

    let (v2, v1) = match &forced_root {
        Some(root) => {
            let root = explicit_root(root)?;
            match root.1 {
                Mode::CgroupV2 => (
                    Ok(root.0),
                    Err("WINJOB_CGROUP_ROOT is a cgroup v2 directory".into()),
                ),
                _ => (
                    Err("WINJOB_CGROUP_ROOT is a cgroup v1 directory".into()),
                    Ok(root.0),
                ),
            }
        }
        None => (v2_root(&mounts, &own), v1_root(&mounts, &own)),
    };

    let (default_mode, reason) = match forced_mode {
        Some(mode) => {
            let available = match mode {
                Mode::CgroupV2 => v2.as_ref().map(drop).map_err(String::as_str),
                Mode::CgroupV1 => v1.as_ref().map(drop).map_err(String::as_str),
                _ => Ok(()),
            };
            if let Err(why) = available {
                return Err(unsupported(format!(
                    "WINJOB_MODE={mode} cannot be used on this host: {why}"
                )));
            }
            (mode, format!("forced by WINJOB_MODE={mode}"))
        }
        None => match (&v2, &v1) {
            (Ok(root), _) => (
                Mode::CgroupV2,
                format!("cgroup v2 job root {} is writable", root.path.display()),
            ),
            (Err(v2_why), Ok(root)) => (
                Mode::CgroupV1,
                format!(
                    "no usable cgroup v2 ({v2_why}); cgroup v1 freezer job root {} is writable",
                    root.path.display()
                ),
            ),
            (Err(v2_why), Err(v1_why)) => (
                Mode::ProcessGroup,
                format!(
                    "no writable cgroup (v2: {v2_why}; v1: {v1_why}); falling back to process \
                     groups, which a process can leave with setsid"
                ),
            ),
        },
    };

    if let Ok(root) = &v2 {
        enable_v2_controllers(root);
    }
    let v1_limits = LIMIT_CONTROLLERS
        .iter()
        .map(|c| (*c, v1_root_for(&mounts, &own, c)))
        .collect();
    Ok(Detected {
        v2,
        v1,
        default_mode,
        reason,
        has_shell: is_executable(Path::new(SHELL)),
        v1_limits,
    })
}

/// Parses a mode name as `WINJOB_MODE` and reports accept it.
pub(crate) fn parse_mode(value: &str) -> io::Result<Mode> {
    match value {
        "cgroup-v2" => Ok(Mode::CgroupV2),
        "cgroup-v1" => Ok(Mode::CgroupV1),
        "process-group" => Ok(Mode::ProcessGroup),
        other => Err(invalid_input(format!(
            "WINJOB_MODE={other:?} is not a Linux mode; accepted: cgroup-v2, cgroup-v1, process-group"
        ))),
    }
}

fn v2_root(mounts: &[parse::CgroupMount], own: &[parse::CgroupLine]) -> Result<Root, String> {
    let mount = mounts
        .iter()
        .find(|m| m.is_v2())
        .ok_or("no cgroup2 filesystem is mounted")?;
    let own_path = parse::v2_path(own).ok_or("this process has no cgroup v2 path")?;
    make_root(mount, outside_leaf(own_path))
}

/// The cgroup whose jobs a process in `cgroup_path` uses: the path itself, or
/// the parent of a [`LEAF_DIR_NAME`] leaf.
fn outside_leaf(cgroup_path: &str) -> &str {
    match cgroup_path.strip_suffix(LEAF_DIR_NAME) {
        Some(parent) if parent.ends_with('/') => match parent.trim_end_matches('/') {
            "" => "/",
            parent => parent,
        },
        _ => cgroup_path,
    }
}

/// Moves every process of this process's cgroup v2 cgroup into its child
/// [`LEAF_DIR_NAME`], then enables the limit controllers that cgroup has in its
/// `cgroup.subtree_control` and in the job root's, so that job directories get
/// them. Returns the leaf (or the root cgroup, which needs no leaf).
pub(crate) fn enter_leaf() -> io::Result<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let own = fs::read_to_string("/proc/self/cgroup")?;
    let mounts = parse::cgroup_mounts(&mountinfo);
    let mount = mounts.iter().find(|m| m.is_v2()).ok_or_else(|| {
        unsupported("no cgroup2 filesystem is mounted; a leaf cgroup is a cgroup v2 notion")
    })?;
    let own_path = parse::v2_path(&parse::proc_cgroup(&own))
        .ok_or_else(|| unsupported("this process has no cgroup v2 path"))?
        .to_owned();
    let mount_point = PathBuf::from(&mount.mount_point);
    let parent_path = outside_leaf(&own_path);
    let parent = dir_in_mount(&mount_point, &mount.root, parent_path);
    let leaf = if parent_path == "/" {
        // The root cgroup may hold processes and still hand out controllers.
        parent.clone()
    } else {
        let leaf = parent.join(LEAF_DIR_NAME);
        match fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(with_path(e, "cannot create", &leaf)),
        }
        move_all(&parent, &leaf)?;
        leaf
    };
    let available = fs::read_to_string(parent.join("cgroup.controllers"))
        .map_err(|e| with_path(e, "cannot read", &parent.join("cgroup.controllers")))?;
    for controller in available.split_whitespace() {
        if LIMIT_CONTROLLERS.contains(&controller) {
            // What cannot be enabled (a threaded subtree, a controller the
            // delegation withholds) shows in `capabilities()`.
            let _ = fs::write(
                parent.join("cgroup.subtree_control"),
                format!("+{controller}"),
            );
        }
    }
    let root = make_root(mount, parent_path).map_err(unsupported)?;
    enable_v2_controllers(&root);
    Ok(leaf)
}

/// Moves every process in `from` to `to`, until `from` is empty (processes
/// may fork meanwhile).
fn move_all(from: &Path, to: &Path) -> io::Result<()> {
    for _ in 0..100 {
        let procs = fs::read_to_string(from.join("cgroup.procs"))
            .map_err(|e| with_path(e, "cannot read", &from.join("cgroup.procs")))?;
        if procs.trim().is_empty() {
            return Ok(());
        }
        for pid in procs.split_whitespace() {
            match fs::write(to.join("cgroup.procs"), pid) {
                Ok(()) => {}
                // It exited meanwhile.
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => {}
                Err(e) => {
                    return Err(with_path(
                        e,
                        &format!("cannot move process {pid} into"),
                        &to.join("cgroup.procs"),
                    ));
                }
            }
        }
    }
    Err(io::Error::other(format!(
        "{} kept getting new processes; not every one could be moved into {}",
        from.display(),
        to.display()
    )))
}

fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Why the v2 job root has no `controller`, as a hint for the caller: not
/// delegated to the own cgroup, or withheld by the no-internal-processes rule.
pub(crate) fn v2_controller_missing(root: &Root, controller: &str) -> String {
    let Some(parent) = root.path.parent() else {
        return format!(
            "the {controller} controller is not enabled at {}",
            root.path.display()
        );
    };
    let available = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    if !available.split_whitespace().any(|c| c == controller) {
        return format!(
            "the {controller} controller is not delegated to {} (absent from its cgroup.controllers)",
            parent.display()
        );
    }
    let procs = fs::read_to_string(parent.join("cgroup.procs")).unwrap_or_default();
    if !procs.trim().is_empty() {
        return format!(
            "{} holds processes, so cgroup v2's no-internal-processes rule keeps the {controller} \
             controller from its children; winjob::os::linux::enter_leaf_cgroup() (winjob run \
             --leaf-cgroup) moves them into a leaf first",
            parent.display()
        );
    }
    format!(
        "the {controller} controller is not enabled in {}",
        parent.join("cgroup.subtree_control").display()
    )
}

fn v1_root(mounts: &[parse::CgroupMount], own: &[parse::CgroupLine]) -> Result<Root, String> {
    v1_root_for(mounts, own, "freezer")
}

/// The job root in the v1 hierarchy of `controller`.
fn v1_root_for(
    mounts: &[parse::CgroupMount],
    own: &[parse::CgroupLine],
    controller: &str,
) -> Result<Root, String> {
    let mount = mounts
        .iter()
        .find(|m| m.has_v1_controller(controller))
        .ok_or_else(|| format!("no cgroup v1 {controller} hierarchy is mounted"))?;
    let own_path = parse::v1_path(own, controller)
        .ok_or_else(|| format!("this process has no {controller} cgroup"))?;
    let root = make_root(mount, own_path)?;
    if controller == "cpuset" {
        // A v1 cpuset cgroup takes no process until it has CPUs and memory
        // nodes; the root gets its parent's, so that jobs below can.
        inherit_cpuset(&root.path).map_err(|e| format!("{}: {e}", root.path.display()))?;
    }
    Ok(root)
}

/// Copies `cpuset.cpus` and `cpuset.mems` from the parent where empty.
pub(crate) fn inherit_cpuset(dir: &Path) -> io::Result<()> {
    let parent = dir.parent().unwrap_or(dir);
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if fs::read_to_string(dir.join(file))?.trim().is_empty() {
            fs::write(
                dir.join(file),
                fs::read_to_string(parent.join(file))?.trim(),
            )?;
        }
    }
    Ok(())
}

/// Enables, in the v2 job root's `cgroup.subtree_control`, every controller
/// a limit can use that the root has available, so that job directories get
/// their files. Best effort: what cannot be enabled is simply absent from the
/// job directories, and the limits that need it say so.
fn enable_v2_controllers(root: &Root) {
    let available = fs::read_to_string(root.path.join("cgroup.controllers")).unwrap_or_default();
    for controller in available.split_whitespace() {
        if LIMIT_CONTROLLERS.contains(&controller) {
            let _ = fs::write(
                root.path.join("cgroup.subtree_control"),
                format!("+{controller}"),
            );
        }
    }
}

/// The controllers the portable limits use (`cpuacct` exists in cgroup v1
/// only: it counts a v1 job's CPU time for `job_cpu_time`).
pub(crate) const LIMIT_CONTROLLERS: [&str; 5] = ["memory", "pids", "cpu", "cpuset", "cpuacct"];

/// `<mount>/<own cgroup>/winjob`, created if missing.
fn make_root(mount: &parse::CgroupMount, own_path: &str) -> Result<Root, String> {
    let mount_point = PathBuf::from(&mount.mount_point);
    let own_dir = dir_in_mount(&mount_point, &mount.root, own_path);
    let path = own_dir.join(ROOT_DIR_NAME);
    match fs::create_dir(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
    }
    // The directory may exist but belong to someone else.
    if let Err(e) = rustix::fs::access(
        path.join("cgroup.procs").as_path(),
        rustix::fs::Access::WRITE_OK,
    ) {
        return Err(format!(
            "{} is not writable: {}",
            path.display(),
            io::Error::from(e)
        ));
    }
    Ok(Root {
        path,
        mount_point,
        mount_root: mount.root.clone(),
    })
}

/// A root given by the caller: it must exist and be a cgroup directory; its
/// filesystem says which version.
pub(crate) fn explicit_root(path: &Path) -> io::Result<(Root, Mode)> {
    if path.to_str().is_none_or(|p| p.contains('\n')) {
        return Err(invalid_input(format!(
            "cgroup root {} must be valid UTF-8 without newlines",
            path.display()
        )));
    }
    let statfs = rustix::fs::statfs(path).map_err(|e| {
        invalid_input(format!(
            "cgroup root {}: {}",
            path.display(),
            io::Error::from(e)
        ))
    })?;
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    let mode = match statfs.f_type as i64 {
        CGROUP2_SUPER_MAGIC => Mode::CgroupV2,
        CGROUP_SUPER_MAGIC => Mode::CgroupV1,
        _ => {
            return Err(invalid_input(format!(
                "cgroup root {} is not in a cgroup filesystem (cgroup2 or cgroup v1 freezer)",
                path.display()
            )));
        }
    };
    let path = fs::canonicalize(path)?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")?;
    let mount = parse::cgroup_mounts(&mountinfo)
        .into_iter()
        .filter(|m| m.is_v2() == (mode == Mode::CgroupV2))
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.len())
        .ok_or_else(|| {
            invalid_input(format!(
                "cgroup root {} is in no listed cgroup mount",
                path.display()
            ))
        })?;
    if mode == Mode::CgroupV1 && !mount.has_v1_controller("freezer") {
        return Err(invalid_input(format!(
            "cgroup root {} is in a v1 hierarchy without the freezer controller",
            path.display()
        )));
    }
    let root = Root {
        path,
        mount_point: PathBuf::from(&mount.mount_point),
        mount_root: mount.root,
    };
    Ok((root, mode))
}

/// The directory of `cgroup_path` in a hierarchy mounted at `mount_point`,
/// where the mount shows the hierarchy from `mount_root` down.
fn dir_in_mount(mount_point: &Path, mount_root: &str, cgroup_path: &str) -> PathBuf {
    let relative = if mount_root == "/" {
        cgroup_path
    } else {
        cgroup_path.strip_prefix(mount_root).unwrap_or(cgroup_path)
    };
    mount_point.join(relative.trim_start_matches('/'))
}

/// The cgroup path (as `/proc/<pid>/cgroup` shows it) of a directory.
pub(crate) fn cgroup_path_of(root: &Root, dir: &Path) -> String {
    let relative = dir.strip_prefix(&root.mount_point).unwrap_or(dir);
    let base = root.mount_root.trim_end_matches('/');
    format!("{base}/{}", relative.display())
}

pub(crate) fn is_executable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(parse_mode("cgroup-v2").unwrap(), Mode::CgroupV2);
        assert_eq!(parse_mode("process-group").unwrap(), Mode::ProcessGroup);
        let e = parse_mode("systemd").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string()
                .contains("cgroup-v2, cgroup-v1, process-group")
        );
    }

    #[test]
    fn a_leaf_uses_the_jobs_of_its_parent() {
        assert_eq!(outside_leaf("/a/b/winjob-leaf"), "/a/b");
        assert_eq!(outside_leaf("/winjob-leaf"), "/");
        assert_eq!(outside_leaf("/a/b"), "/a/b");
        assert_eq!(outside_leaf("/a/not-winjob-leaf"), "/a/not-winjob-leaf");
        assert_eq!(outside_leaf("/"), "/");
    }

    #[test]
    fn paths_in_mounts() {
        let m = Path::new("/sys/fs/cgroup/unified");
        assert_eq!(
            dir_in_mount(m, "/", "/"),
            Path::new("/sys/fs/cgroup/unified")
        );
        assert_eq!(
            dir_in_mount(m, "/", "/a/b"),
            Path::new("/sys/fs/cgroup/unified/a/b")
        );
        assert_eq!(
            dir_in_mount(m, "/a", "/a/b"),
            Path::new("/sys/fs/cgroup/unified/b")
        );
        let root = Root {
            path: PathBuf::from("/sys/fs/cgroup/unified/winjob"),
            mount_point: m.to_path_buf(),
            mount_root: "/".into(),
        };
        assert_eq!(
            cgroup_path_of(&root, Path::new("/sys/fs/cgroup/unified/winjob/j")),
            "/winjob/j"
        );
    }
}
