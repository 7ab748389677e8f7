//! A private cgroup for one run of the Linux suites, so that their check for
//! leftovers counts only their own jobs.
//!
//! The library keeps jobs in `<own cgroup>/winjob`, in the v2 hierarchy and
//! in each v1 hierarchy it uses for limits. On a shared host that directory
//! is shared too: any other program using winjob on the machine has its jobs
//! there, and a check that counted every directory in it would fail on
//! theirs. So, before the suites, this process moves itself into a new
//! `winjob-ci-<pid>` cgroup in every hierarchy it is in (the tests, the
//! helpers and the `winjob` command it starts follow it), and the job roots
//! the tests use become `<own cgroup>/winjob-ci-<pid>/winjob`: whatever is
//! found there after a suite was left by this run. The library's own
//! clean-up is still what is checked.
//!
//! Moving needs write access to the parent's `cgroup.procs` (root, as CI
//! runs). Where it is refused the run goes on in the shared cgroup and says
//! so: the check then counts every job directory, as before. When the run
//! ends this process moves back and removes the private cgroups, depth
//! first; private cgroups of earlier runs whose process is gone (a run that
//! was killed) are removed when the next run starts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The name prefix of the private cgroups.
const PREFIX: &str = "winjob-ci-";

/// This process inside its private cgroups, until dropped.
pub(crate) struct Isolation {
    /// `(original cgroup directory, private directory)` per hierarchy.
    moved: Vec<(PathBuf, PathBuf)>,
}

impl Isolation {
    /// Moves this process into a private cgroup in every hierarchy it is in,
    /// or into none (with the reason printed) if any step fails.
    pub(crate) fn enter() -> Isolation {
        let mut isolation = Isolation { moved: Vec::new() };
        let own = std::process::id();
        let result = (|| -> Result<(), String> {
            let places = own_cgroups()?;
            for original in places {
                sweep(&original);
                let private = original.join(format!("{PREFIX}{own}"));
                match fs::create_dir(&private) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(format!("cannot create {}: {e}", private.display())),
                }
                // A new v1 cpuset has no CPUs and no memory nodes: nothing
                // can join it until they are set.
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    if let Ok(value) = fs::read_to_string(original.join(file)) {
                        let _ = fs::write(private.join(file), value.trim());
                    }
                }
                fs::write(private.join("cgroup.procs"), own.to_string()).map_err(|e| {
                    let _ = fs::remove_dir(&private);
                    format!("cannot move into {}: {e}", private.display())
                })?;
                isolation.moved.push((original, private));
            }
            Ok(())
        })();
        match result {
            Ok(()) if !isolation.moved.is_empty() => eprintln!(
                "xtask: the suites run in private cgroups ({}): the check for leftovers counts \
                 only their jobs",
                isolation
                    .moved
                    .iter()
                    .map(|(_, p)| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(()) => eprintln!("xtask: this process is in no cgroup; nothing to isolate"),
            Err(why) => {
                eprintln!(
                    "xtask: the suites run in the shared cgroup ({why}): the check for \
                     leftovers counts every job directory, other programs' too"
                );
                isolation.leave();
            }
        }
        isolation
    }

    /// Moves back and removes the private cgroups. A process left in one (a
    /// Wine server about to exit) is waited for, briefly.
    fn leave(&mut self) {
        let own = std::process::id().to_string();
        for (original, private) in self.moved.drain(..).rev() {
            if let Err(e) = fs::write(original.join("cgroup.procs"), &own) {
                eprintln!("xtask: cannot move back into {}: {e}", original.display());
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while let Err(e) = remove_tree(&private) {
                if Instant::now() >= deadline {
                    eprintln!(
                        "xtask: cannot remove {}: {e}; the next run removes it",
                        private.display()
                    );
                    break;
                }
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        self.leave();
    }
}

/// This process's cgroup directory in every mounted hierarchy it is in: the
/// v2 one and each v1 hierarchy with controllers (not named ones such as
/// `name=systemd`).
pub(crate) fn own_cgroups() -> Result<Vec<PathBuf>, String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let own = fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let mut places = Vec::new();
    for line in own.lines() {
        // "4:memory:/some/path", or "0::/path" for v2.
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.starts_with("name=") {
            continue;
        }
        let point = mountinfo.lines().find_map(|mount| {
            let (before, after) = mount.split_once(" - ")?;
            let mut fields = after.split(' ');
            let (kind, _source, options) = (fields.next()?, fields.next()?, fields.next()?);
            let matches = if controllers.is_empty() {
                kind == "cgroup2"
            } else {
                kind == "cgroup"
                    && controllers
                        .split(',')
                        .all(|c| options.split(',').any(|o| o == c))
            };
            // The mount's root must be `/` for `point/path` to be the cgroup.
            let mut fields = before.split(' ');
            let root = fields.nth(3)?;
            let point = fields.next()?;
            (matches && root == "/").then(|| point.to_owned())
        });
        if let Some(point) = point {
            places.push(Path::new(&point).join(path.trim_start_matches('/')));
        }
    }
    places.sort();
    places.dedup();
    Ok(places)
}

/// Removes the private cgroups of earlier runs whose process is gone.
fn sweep(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = remove_tree(&entry.path());
        }
    }
}

/// Removes a cgroup directory and every cgroup under it, deepest first. A
/// cgroup holding a process cannot be removed: that is an error.
fn remove_tree(dir: &Path) -> io::Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path())?;
            }
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
