//! Parsers for the kernel's text files the Linux backend reads:
//! `/proc/self/mountinfo`, `/proc/<pid>/cgroup`, `/proc/<pid>/stat`,
//! `cgroup.procs` and `cgroup.events`.
//!
//! Pure functions over `&str`, so they are unit-tested with real file contents
//! (taken from the hosts described in the research notes) on every platform.

/// One cgroup filesystem from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    /// Where it is mounted, with mountinfo's octal escapes decoded.
    pub(crate) mount_point: String,
    /// The path inside the hierarchy that is mounted there (`/` for a whole
    /// hierarchy; something else for bind mounts and cgroup namespaces).
    pub(crate) root: String,
    /// `None` for cgroup2; for cgroup v1, the controllers (and `name=`
    /// entries) bound to this hierarchy.
    pub(crate) v1_controllers: Option<Vec<String>>,
}

impl CgroupMount {
    /// True for the cgroup v2 (unified) hierarchy.
    pub(crate) fn is_v2(&self) -> bool {
        self.v1_controllers.is_none()
    }

    /// True for a v1 hierarchy that has `controller` bound to it.
    pub(crate) fn has_v1_controller(&self, controller: &str) -> bool {
        self.v1_controllers
            .as_ref()
            .is_some_and(|c| c.iter().any(|x| x == controller))
    }
}

/// Every cgroup and cgroup2 mount listed in `mountinfo`.
///
/// Line format (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS
/// [OPTIONAL_FIELDS...] - FSTYPE SOURCE SUPER_OPTIONS`.
pub(crate) fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fields: Vec<&str> = before.split(' ').collect();
        let (Some(root), Some(mount_point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let mut after = after.split(' ');
        let fstype = after.next().unwrap_or("");
        let _source = after.next();
        let super_options = after.next().unwrap_or("");
        let v1_controllers = match fstype {
            "cgroup2" => None,
            "cgroup" => Some(
                super_options
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains("release_agent"))
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => continue,
        };
        mounts.push(CgroupMount {
            mount_point: unescape_octal(mount_point),
            root: unescape_octal(root),
            v1_controllers,
        });
    }
    mounts
}

/// Decodes mountinfo's `\NNN` escapes (space, tab, newline, backslash).
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/<pid>/cgroup`: `ID:CONTROLLERS:PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupLine {
    /// 0 for the unified (v2) hierarchy.
    pub(crate) hierarchy: u32,
    /// Empty for v2; for v1 the comma-separated controllers of the hierarchy.
    pub(crate) controllers: Vec<String>,
    /// The process's cgroup in that hierarchy, relative to the hierarchy root
    /// (or to the cgroup namespace root).
    pub(crate) path: String,
}

/// Parses `/proc/<pid>/cgroup`.
pub(crate) fn proc_cgroup(text: &str) -> Vec<CgroupLine> {
    text.lines()
        .filter_map(|line| {
            let (id, rest) = line.split_once(':')?;
            let (controllers, path) = rest.split_once(':')?;
            Some(CgroupLine {
                hierarchy: id.parse().ok()?,
                controllers: controllers
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect(),
                path: path.to_owned(),
            })
        })
        .collect()
}

/// The v2 path of a process: the `0::PATH` line.
pub(crate) fn v2_path(lines: &[CgroupLine]) -> Option<&str> {
    lines
        .iter()
        .find(|l| l.hierarchy == 0 && l.controllers.is_empty())
        .map(|l| l.path.as_str())
}

/// The path of a process in the v1 hierarchy that has `controller`.
pub(crate) fn v1_path<'a>(lines: &'a [CgroupLine], controller: &str) -> Option<&'a str> {
    lines
        .iter()
        .find(|l| l.hierarchy != 0 && l.controllers.iter().any(|c| c == controller))
        .map(|l| l.path.as_str())
}

/// The fields of `/proc/<pid>/stat` the backend needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// One letter: `R`, `S`, `D`, `Z` (zombie), `T`, …
    pub(crate) state: char,
    pub(crate) ppid: u32,
    pub(crate) pgid: u32,
    /// CPU time in user and kernel mode, in clock ticks (fields 14 and 15);
    /// `None` if the line ends before them.
    pub(crate) utime: Option<u64>,
    pub(crate) stime: Option<u64>,
    /// When the process started, in clock ticks after boot (field 22).
    pub(crate) start_time: Option<u64>,
    /// The kernel's `PF_*` flags (field 9).
    pub(crate) flags: Option<u64>,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and
/// may itself contain spaces and parentheses, so the fields after it are found
/// from the *last* `)`.
pub(crate) fn stat(text: &str) -> Option<Stat> {
    let (_, after) = text.rsplit_once(')')?;
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    // Session, terminal, its group, then the flags (field 9).
    let mut rest = fields.skip(3).map(|f| f.parse::<u64>().ok());
    let flags = rest.next().flatten();
    let mut times = rest.skip(4);
    let utime = times.next().flatten();
    let stime = times.next().flatten();
    let start_time = times.nth(6).flatten();
    Some(Stat {
        state,
        ppid,
        pgid,
        utime,
        stime,
        start_time,
        flags,
    })
}

/// Parses `cgroup.procs`: one pid a line.
pub(crate) fn pid_list(text: &str, into: &mut Vec<u32>) {
    into.extend(text.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
}

/// Reads `populated` from `cgroup.events` (`populated 0|1`, `frozen 0|1`).
pub(crate) fn populated(events: &str) -> Option<bool> {
    events
        .lines()
        .find_map(|l| match l.trim().strip_prefix("populated ")? {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        })
}

/// A time in clock ticks (`USER_HZ`, as `/proc/PID/stat` and `cpuacct.stat`
/// count it) as a `Duration`.
pub(crate) fn clock_ticks(ticks: u64) -> std::time::Duration {
    let hz = rustix::param::clock_ticks_per_second().max(1);
    std::time::Duration::from_secs(ticks / hz)
        + std::time::Duration::from_nanos((ticks % hz).saturating_mul(1_000_000_000) / hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This research host: a tmpfs at /sys/fs/cgroup with one v1 hierarchy per
    /// controller and cgroup2 at /sys/fs/cgroup/unified.
    const HYBRID: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd host with only cgroup2, with optional fields before the `-`.
    const PURE_V2: &str = "\
25 1 8:2 / / rw,relatime shared:1 - ext4 /dev/sda2 rw
28 24 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn mountinfo_hybrid() {
        let mounts = cgroup_mounts(HYBRID);
        assert_eq!(mounts.len(), 5);
        let v2: Vec<_> = mounts.iter().filter(|m| m.is_v2()).collect();
        assert_eq!(v2.len(), 1);
        assert_eq!(v2[0].mount_point, "/sys/fs/cgroup/unified");
        let freezer = mounts
            .iter()
            .find(|m| m.has_v1_controller("freezer"))
            .unwrap();
        assert_eq!(freezer.mount_point, "/sys/fs/cgroup/freezer");
        assert_eq!(freezer.root, "/");
        assert!(mounts.iter().any(|m| m.has_v1_controller("name=systemd")));
        assert!(!mounts.iter().any(|m| m.has_v1_controller("rw")));
    }

    #[test]
    fn mountinfo_pure_v2_and_escapes() {
        let mounts = cgroup_mounts(PURE_V2);
        assert_eq!(mounts.len(), 1);
        assert!(mounts[0].is_v2());
        assert_eq!(mounts[0].mount_point, "/sys/fs/cgroup");
        let escaped = "41 31 0:38 /a\\040b /mnt/my\\040cg\\134x rw - cgroup2 cgroup2 rw\n";
        let m = &cgroup_mounts(escaped)[0];
        assert_eq!(m.mount_point, "/mnt/my cg\\x");
        assert_eq!(m.root, "/a b");
        assert!(cgroup_mounts("garbage line\n\n").is_empty());
    }

    #[test]
    fn proc_cgroup_hybrid() {
        let text =
            "9:name=systemd:/\n8:pids:/\n6:freezer:/jobs/x\n4:memory:/process_api/1ef8\n0::/\n";
        let lines = proc_cgroup(text);
        assert_eq!(lines.len(), 5);
        assert_eq!(v2_path(&lines), Some("/"));
        assert_eq!(v1_path(&lines, "freezer"), Some("/jobs/x"));
        assert_eq!(v1_path(&lines, "memory"), Some("/process_api/1ef8"));
        assert_eq!(v1_path(&lines, "cpu"), None);
        let pure = proc_cgroup("0::/user.slice/user-1000.slice/session-2.scope\n");
        assert_eq!(
            v2_path(&pure),
            Some("/user.slice/user-1000.slice/session-2.scope")
        );
        // A path with a colon in it stays whole.
        let colon = proc_cgroup("0::/a:b\n");
        assert_eq!(v2_path(&colon), Some("/a:b"));
    }

    #[test]
    fn stat_cpu_times_skip_the_command_name() {
        let s = stat("123 (a) b) (c) S 1 123 123 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5")
            .unwrap();
        assert_eq!((s.utime, s.stime), (Some(250), Some(75)));
        assert_eq!(s.start_time, Some(5));
        assert_eq!(s.flags, Some(4_194_560));
    }

    #[test]
    fn stat_fields() {
        let s = stat("4242 (winjob-testbin) S 4241 4240 4240 0 -1 4194560 100").unwrap();
        assert_eq!(
            s,
            Stat {
                state: 'S',
                ppid: 4241,
                pgid: 4240,
                utime: None,
                stime: None,
                start_time: None,
                flags: Some(4_194_560),
            }
        );
        // A command name with spaces and parentheses.
        let s = stat("77 (a) b (c)) Z 1 77 77 0").unwrap();
        assert_eq!(
            s,
            Stat {
                state: 'Z',
                ppid: 1,
                pgid: 77,
                utime: None,
                stime: None,
                start_time: None,
                flags: None,
            }
        );
        assert_eq!(stat("77 (broken"), None);
        assert_eq!(stat(""), None);
    }

    #[test]
    fn procs_and_events() {
        let mut pids = vec![1];
        pid_list("12\n13\n\n 14 \n", &mut pids);
        assert_eq!(pids, [1, 12, 13, 14]);
        assert_eq!(populated("populated 1\nfrozen 0\n"), Some(true));
        assert_eq!(populated("populated 0\nfrozen 0\n"), Some(false));
        assert_eq!(populated("frozen 0\n"), None);
    }
}
