//! The stress suite (issue #7): what must hold however often, however
//! concurrently and however brutally jobs are used.
//!
//! - Thousands of job lifetimes (create, spawn, terminate, drop) leave this
//!   process with the descriptors (Linux: `/proc/self/fd`) or handles
//!   (Windows: WMI's `HandleCount`), the threads (`/proc/self/status`, WMI's
//!   `ThreadCount`), the child processes and the job cgroup directories it
//!   had before: nothing leaks.
//! - Sixteen threads spawning into one job while others list its members and
//!   read its accounting neither deadlock (a watchdog fails the test) nor
//!   panic, and every answer is consistent with what was spawned.
//! - The owner of a kill-on-drop job, killed (`SIGKILL`, `TerminateProcess`)
//!   at pseudo-random moments while it creates the job and spawns into it,
//!   leaves no process behind. Every member inherits the owner's stdout, a
//!   pipe this test reads: the pipe ends only when the owner, every member
//!   and every child forked but not yet in the job are gone. If it does not
//!   end in time (30 s on Linux), the survivors are counted (Linux: every
//!   process holding the pipe, from `/proc/*/fd`). Most kills come at
//!   seeded pseudo-random moments; every fifth comes right after the owner
//!   reported a member spawned, so some land mid-spawn on any machine.
//! - `terminate` while two threads spawn into the job as fast as they can
//!   (Linux) kills every process the job had when it was called, and takes
//!   one freeze–kill–thaw round in cgroup v1, not one per spawn (each
//!   call's time is printed).
//! - A fork bomb under a limit of 40 active processes stays at or below 40
//!   and keeps pushing against it, and `terminate` empties the job (how fast
//!   is printed; `cargo xtask bench` measures kills).
//!
//! - Thousands of watched jobs, created and dropped in a seeded random order
//!   by 8 threads, each job with one short-lived member: every job sees its
//!   own member's start, exit code and `Empty`, and no process of another
//!   job; afterwards nothing is left (descriptors, threads, children,
//!   directories).
//!
//! No figure is judged against the clock: deadlines are only against hangs,
//! so the suite passes on a busy machine too.
//!
//! Every number comes from the OS, not from the library's view of itself,
//! and is printed. The tests are `#[ignore]`d so that the ordinary suites
//! leave them out: `cargo xtask stress` runs them (`--ignored`), natively in
//! each Linux mode and under Wine, one at a time, with sizes from the
//! environment (bounded for CI, the sizes with `--full`):
//! `WINJOB_STRESS_CYCLES`, `WINJOB_STRESS_SPAWNS` (per spawning thread),
//! `WINJOB_STRESS_KILLS`, `WINJOB_STRESS_OWNER_MEMBERS`,
//! `WINJOB_STRESS_BOMB_SECS`, `WINJOB_STRESS_TERMINATES`,
//! `WINJOB_STRESS_WATCHED` and `WINJOB_STRESS_SEED`.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use winjob::{Job, Limits};

/// The tests measure process-wide counts: they run one at a time even when
/// the harness runs tests in parallel.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A size from the environment, or `default`.
fn size(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

/// Spawns `command` into `job`; under Wine, retries its transient error 1359.
fn spawn_into(job: &Job, command: &mut Command) -> Child {
    #[cfg(windows)]
    let child = retry(|| job.spawn(command));
    #[cfg(not(windows))]
    let child = job.spawn(command);
    child.unwrap_or_else(|e| panic!("spawn into the job: {e}"))
}

/// A quiet helper: `winjob-testbin ARGS` with no output.
fn quiet(args: &[&str]) -> Command {
    let mut command = testbin();
    command.args(args).stdout(Stdio::null());
    command
}

/// SplitMix64: a small, seeded, deterministic sequence.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

// ---------------------------------------------------------------------------
// What this process holds, read from the OS.

/// The resources of this process that a job's lifetime could leak. `None`:
/// not measurable here (the reason is printed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Usage {
    /// Open file descriptors (Linux) or handles (Windows).
    descriptors: Option<usize>,
    threads: Option<usize>,
    /// Child processes of this process, zombies included (Linux).
    children: Option<usize>,
    /// This process's anonymous job directories, in every cgroup hierarchy.
    job_dirs: Option<usize>,
}

impl Usage {
    fn show(before: &Usage, after: &Usage) -> String {
        let pair = |name: &str, a: Option<usize>, b: Option<usize>| match (a, b) {
            (Some(a), Some(b)) => format!("{name} {a} -> {b}"),
            _ => format!("{name} not measured"),
        };
        let descriptors = if cfg!(windows) { "handles" } else { "fds" };
        [
            pair(descriptors, before.descriptors, after.descriptors),
            pair("threads", before.threads, after.threads),
            pair("child processes", before.children, after.children),
            pair("job directories", before.job_dirs, after.job_dirs),
        ]
        .join(", ")
    }
}

#[cfg(target_os = "linux")]
mod usage {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::Usage;

    pub(crate) fn now() -> Usage {
        let me = std::process::id();
        // `read_dir` holds one descriptor of its own while it lists.
        let descriptors = fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count().saturating_sub(1));
        let threads = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|n| n.trim().parse().ok())
        });
        let children = fs::read_dir("/proc").ok().map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| parent_of(*pid) == Some(me))
                .count()
        });
        let prefix = format!(".anon-{me}-");
        let job_dirs = Some(
            job_roots()
                .iter()
                .map(|root| dirs_starting_with(root, &prefix).len())
                .sum(),
        );
        Usage {
            descriptors,
            threads,
            children,
            job_dirs,
        }
    }

    pub(crate) fn not_measured() -> Option<&'static str> {
        None
    }

    /// The parent pid of `pid`, from `/proc/<pid>/stat`.
    pub(crate) fn parent_of(pid: u32) -> Option<u32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(1)?.parse().ok()
    }

    /// Every place the library keeps job directories for this process: the
    /// `winjob` directory inside this process's cgroup in each hierarchy, v2
    /// and every v1 controller (hybrid hosts keep limits there).
    pub(crate) fn job_roots() -> Vec<PathBuf> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut roots = Vec::new();
        for line in own.lines() {
            // "4:memory:/some/path", or "0::/path" for v2.
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            for mount in mountinfo.lines() {
                let Some((before, after)) = mount.split_once(" - ") else {
                    continue;
                };
                let mut fields = after.split(' ');
                let (Some(kind), Some(_source), Some(options)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                let matches = if controllers.is_empty() {
                    kind == "cgroup2"
                } else {
                    kind == "cgroup"
                        && controllers
                            .split(',')
                            .all(|c| options.split(',').any(|o| o == c))
                };
                if let (true, Some(point)) = (matches, before.split(' ').nth(4)) {
                    roots.push(
                        Path::new(point)
                            .join(path.trim_start_matches('/'))
                            .join("winjob"),
                    );
                }
            }
        }
        roots.sort();
        roots.dedup();
        roots
    }

    pub(crate) fn dirs_starting_with(root: &Path, prefix: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect()
    }
}

#[cfg(windows)]
mod usage {
    use super::Usage;
    use super::wmi;

    /// Handles and threads of this process, as WMI's `Win32_Process` reports
    /// them through `wmic` (tests cannot call `GetProcessHandleCount`: no
    /// `unsafe` outside the library). Wine's WMI has no `HandleCount`
    /// column, so there only the threads are counted.
    pub(crate) fn now() -> Usage {
        let (handles, threads) = counts();
        Usage {
            descriptors: handles,
            threads,
            children: None,
            job_dirs: None,
        }
    }

    /// Why the handle count is missing here, if it is.
    pub(crate) fn not_measured() -> Option<&'static str> {
        match counts() {
            (Some(_), _) => None,
            (None, Some(_)) => Some(
                "handle count not measurable: Wine's WMI has no Win32_Process.HandleCount and \
                 its GetProcessHandleCount answers 0 (the thread count is checked)",
            ),
            (None, None) => Some("handle and thread counts not measurable: wmic is not available"),
        }
    }

    fn counts() -> (Option<usize>, Option<usize>) {
        let me = u64::from(std::process::id());
        for columns in [
            &["HandleCount", "ProcessId", "ThreadCount"][..],
            &["ProcessId", "ThreadCount"],
        ] {
            let Some(rows) = wmi::processes(columns) else {
                continue;
            };
            if let Some(row) = rows.iter().find(|r| r.values.get("processid") == Some(&me)) {
                let number =
                    |name: &str| row.values.get(name).and_then(|&n| usize::try_from(n).ok());
                return (number("handlecount"), number("threadcount"));
            }
        }
        (None, None)
    }
}

/// WMI's process table through `wmic` (present on Windows 10 and 11 until
/// 24H2, and in Wine).
#[cfg(windows)]
mod wmi {
    use std::collections::BTreeMap;
    use std::process::{Command, Stdio};

    /// One row of the table.
    pub(crate) struct Process {
        /// The image name, if `Name` was asked for.
        pub(crate) name: String,
        /// The numeric columns, by lower-case name.
        pub(crate) values: BTreeMap<String, u64>,
    }

    /// The `columns` of every process: `Name` (which may contain spaces,
    /// and comes first in both Windows' and Wine's order) and numbers. `None`
    /// if `wmic` fails or refuses a column (Wine has no `HandleCount`).
    pub(crate) fn processes(columns: &[&str]) -> Option<Vec<Process>> {
        let output = Command::new("wmic")
            .args(["process", "get", &columns.join(",")])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        // UTF-16 when the output is not a console.
        let bytes = output.stdout;
        let text = if bytes.starts_with(&[0xFF, 0xFE]) || bytes.get(1) == Some(&0) {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let mut lines = text
            .trim_start_matches('\u{feff}')
            .lines()
            .filter(|l| !l.trim().is_empty());
        let mut names = header(lines.next()?, columns)?;
        let named = names.first().is_some_and(|n| n == "name");
        if named {
            names.remove(0);
        }
        if names.iter().any(|n| n == "name") {
            return None;
        }
        let mut rows = Vec::new();
        for line in lines {
            let cells: Vec<&str> = line.split_whitespace().collect();
            // The numbers are the last cells; the name is what precedes them.
            let split = cells.len().checked_sub(names.len())?;
            if !named && split != 0 {
                return None;
            }
            let mut values = BTreeMap::new();
            for (name, cell) in names.iter().zip(&cells[split..]) {
                values.insert(name.clone(), cell.parse().ok()?);
            }
            rows.push(Process {
                name: cells[..split].join(" "),
                values,
            });
        }
        Some(rows)
    }

    /// The column names in the order the header has them. Windows separates
    /// them with spaces; Wine's `wmic` writes them with none
    /// (`ParentProcessIDProcessIDThreadCount`), so the header is read as a
    /// sequence of the asked names, the longest match first.
    fn header(line: &str, columns: &[&str]) -> Option<Vec<String>> {
        let mut wanted: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
        wanted.sort_by_key(|c| std::cmp::Reverse(c.len()));
        let line = line.to_ascii_lowercase();
        let mut rest = line.trim();
        let mut names = Vec::new();
        while !rest.is_empty() {
            let name = wanted.iter().find(|w| rest.starts_with(w.as_str()))?;
            names.push(name.clone());
            rest = rest[name.len()..].trim_start();
        }
        Some(names)
    }
}

/// What this process holds once it equals `before` again, or after 10 s:
/// threads and processes the library ended may take a moment to vanish from
/// the OS's lists, and the final count must be equal, not close.
fn settled(before: &Usage) -> Usage {
    let settle = Instant::now();
    let mut after = usage::now();
    while after != *before && settle.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(50));
        after = usage::now();
    }
    after
}

// ---------------------------------------------------------------------------
// 1. Job lifetimes leak nothing.

/// One job lifetime: create, spawn a helper, terminate, reap, drop. Every
/// fourth also subscribes to the events (the monitor thread), every fourth
/// reads the members and the accounting.
fn lifetime(i: u64) {
    let job = Job::new().unwrap();
    let events = i.is_multiple_of(4).then(|| job.events().unwrap());
    let mut child = spawn_into(&job, &mut quiet(&["sleep", "60"]));
    if i % 4 == 1 {
        assert_eq!(job.pids().unwrap(), [child.id()]);
        job.accounting().unwrap();
    }
    job.terminate(1).unwrap();
    let status = child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "cycle {i}: {status:?}");
    }
    #[cfg(windows)]
    assert_eq!(status.code(), Some(1), "cycle {i}: {status:?}");
    drop(job);
    drop(events);
}

#[test]
#[ignore = "stress: run by cargo xtask stress"]
fn many_job_lifetimes_leak_nothing() {
    let _serial = serial();
    let test = "many_job_lifetimes_leak_nothing";
    let cycles = size("WINJOB_STRESS_CYCLES", 200);
    // The first job starts what lives as long as the process: the guardian
    // and its socket (Linux), the detection cache. Not a leak; not counted.
    lifetime(0);
    lifetime(1);
    let before = usage::now();
    let started = Instant::now();
    for i in 2..cycles + 2 {
        lifetime(i);
    }
    let took = started.elapsed();
    let settle = Instant::now();
    let after = settled(&before);
    println!(
        "{cycles} cycles (create, spawn, terminate, drop) in {took:.1?} ({:.1?} each); \
         settled in {:.0?}: {}",
        took / u32::try_from(cycles.max(1)).unwrap_or(u32::MAX),
        settle.elapsed(),
        Usage::show(&before, &after)
    );
    if let Some(why) = usage::not_measured() {
        skip(&format!("{test} (handles)"), why);
    }
    assert!(
        before.threads.is_some() || cfg!(windows),
        "the thread count must be measurable on Linux"
    );
    assert_eq!(after, before, "leaked over {cycles} job lifetimes");
}

// ---------------------------------------------------------------------------
// 2. Sixteen threads spawning into one job, while others watch it.

const SPAWNERS: usize = 16;
const LISTERS: usize = 2;
const ACCOUNTANTS: usize = 2;

/// Progress, readable by the watchdog when something hangs.
#[derive(Default)]
struct Progress {
    spawned: AtomicUsize,
    lists: AtomicUsize,
    accountings: AtomicUsize,
    done: AtomicBool,
}

struct Seen {
    children: Vec<KillOnDrop>,
    listed: BTreeSet<u32>,
    longest_list: usize,
    most_active: u64,
}

fn spawn_and_watch(job: &Job, per_thread: usize, progress: &Progress) -> Seen {
    let total = SPAWNERS * per_thread;
    let barrier = Barrier::new(SPAWNERS + LISTERS + ACCOUNTANTS);
    thread::scope(|s| {
        let spawners: Vec<_> = (0..SPAWNERS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let mut mine = Vec::new();
                    for _ in 0..per_thread {
                        let child = KillOnDrop(spawn_into(job, &mut quiet(&["sleep", "600"])));
                        progress.spawned.fetch_add(1, Ordering::SeqCst);
                        // Alive (it sleeps for ten minutes) and a member.
                        assert!(
                            job.contains(&child).unwrap(),
                            "pid {} is not a member right after its spawn",
                            child.id()
                        );
                        mine.push(child);
                    }
                    mine
                })
            })
            .collect();
        let listers: Vec<_> = (0..LISTERS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let mut listed = BTreeSet::new();
                    let mut longest = 0;
                    while !progress.done.load(Ordering::SeqCst) {
                        let pids = job.pids().unwrap();
                        assert!(pids.len() <= total, "{} members listed", pids.len());
                        longest = longest.max(pids.len());
                        listed.extend(pids);
                        progress.lists.fetch_add(1, Ordering::SeqCst);
                    }
                    (listed, longest)
                })
            })
            .collect();
        let accountants: Vec<_> = (0..ACCOUNTANTS)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let mut most = 0;
                    while !progress.done.load(Ordering::SeqCst) {
                        let acct = job.accounting().unwrap();
                        if let Some(active) = acct.active_processes {
                            assert!(active <= total as u64, "{active} active processes");
                            most = most.max(active);
                            if let Some(ever) = acct.total_processes {
                                assert!(active <= ever, "{active} active of {ever} ever");
                            }
                        }
                        progress.accountings.fetch_add(1, Ordering::SeqCst);
                    }
                    most
                })
            })
            .collect();
        // Joined before anything can panic here, so that the watchers are
        // always told to stop.
        let spawned: Vec<_> = spawners.into_iter().map(|t| t.join()).collect();
        progress.done.store(true, Ordering::SeqCst);
        let children: Vec<KillOnDrop> = spawned
            .into_iter()
            .flat_map(|r| r.expect("a spawning thread panicked"))
            .collect();
        let mut listed = BTreeSet::new();
        let mut longest_list = 0;
        for lister in listers {
            let (pids, longest) = lister.join().expect("a listing thread panicked");
            listed.extend(pids);
            longest_list = longest_list.max(longest);
        }
        let most_active = accountants
            .into_iter()
            .map(|t| t.join().expect("an accounting thread panicked"))
            .max()
            .unwrap_or(0);
        Seen {
            children,
            listed,
            longest_list,
            most_active,
        }
    })
}

#[test]
#[ignore = "stress: run by cargo xtask stress"]
fn sixteen_threads_spawn_into_one_job_while_others_watch_it() {
    let _serial = serial();
    let per_thread = usize::try_from(size("WINJOB_STRESS_SPAWNS", 4)).unwrap();
    let total = SPAWNERS * per_thread;
    let budget = Duration::from_secs(180);
    let job = Arc::new(Job::new().unwrap());
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let (finished, finish) = mpsc::channel();
    let worker = {
        let job = Arc::clone(&job);
        let progress = Arc::clone(&progress);
        thread::spawn(move || {
            // Tells the watchdog below that the work ended, even by a panic.
            struct Finished(mpsc::Sender<()>);
            impl Drop for Finished {
                fn drop(&mut self) {
                    let _ = self.0.send(());
                }
            }
            let _finished = Finished(finished);
            spawn_and_watch(&job, per_thread, &progress)
        })
    };
    if finish.recv_timeout(budget).is_err() {
        let _ = job.terminate(1);
        panic!(
            "no end after {budget:?}: a deadlock? spawned {} of {total}, {} lists, {} accountings",
            progress.spawned.load(Ordering::SeqCst),
            progress.lists.load(Ordering::SeqCst),
            progress.accountings.load(Ordering::SeqCst)
        );
    }
    let seen = worker.join().expect("the test's threads panicked");
    let took = started.elapsed();

    let spawned: BTreeSet<u32> = seen.children.iter().map(|c| c.id()).collect();
    assert_eq!(spawned.len(), total, "pids are not distinct");
    let strangers: Vec<_> = seen.listed.difference(&spawned).collect();
    assert!(
        strangers.is_empty(),
        "listed pids that were never spawned: {strangers:?}"
    );
    let members: BTreeSet<u32> = job.pids().unwrap().into_iter().collect();
    assert_eq!(members, spawned, "the members are not what was spawned");
    let acct = job.accounting().unwrap();
    assert_eq!(acct.active_processes, Some(total as u64), "{acct:?}");
    if let Some(ever) = acct.total_processes {
        assert!(
            ever >= total as u64,
            "{ever} processes ever, {total} spawned"
        );
    }
    println!(
        "{SPAWNERS} threads spawned {total} processes into one job in {took:.1?} while \
         {LISTERS} threads listed it {} times (longest list {}, {} distinct pids) and \
         {ACCOUNTANTS} read its accounting {} times (most active {}); at the end: {} members, \
         accounting active {:?}, total {:?}",
        progress.lists.load(Ordering::SeqCst),
        seen.longest_list,
        seen.listed.len(),
        progress.accountings.load(Ordering::SeqCst),
        seen.most_active,
        members.len(),
        acct.active_processes,
        acct.total_processes,
    );
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap(), "{:?}", job.pids());
    drop(seen.children);
}

// ---------------------------------------------------------------------------
// 3. The owner killed at any moment leaves nothing behind.

/// What one owner printed and what was left after it was killed.
struct Killed {
    owner: u32,
    spawned: usize,
    all_spawned: bool,
    pids: Vec<u32>,
    /// From the kill until the pipe ended; `None`: it did not end in time
    /// ([`PIPE_WAIT`]).
    closed_after: Option<Duration>,
    survivors: Vec<u32>,
    /// Calibration only: when `job-ready` and `spawned 1` arrived.
    first_spawn: Option<(Duration, Duration)>,
}

/// How long the pipe of a killed owner may take to end before its holders
/// are looked for. Linux: long, since only a survivor keeps it open (and a
/// busy machine may take its time to end the others). Under Wine a child the
/// owner left suspended outside its job (the known gap) keeps it open too,
/// every time: a shorter wait, after which a member that ran and is still
/// there gets the long one (see `windows::alive`).
#[cfg(target_os = "linux")]
const PIPE_WAIT: Duration = LONG;
#[cfg(windows)]
const PIPE_WAIT: Duration = Duration::from_secs(5);

/// When [`kill_owner`] kills the owner.
#[derive(Debug, Clone, Copy)]
enum When {
    /// Once it printed `all-spawned` (the calibration runs).
    AllSpawned,
    /// This long after it started.
    After(Duration),
    /// As soon as it printed `spawned K`: in the middle of spawning, on a
    /// machine of any speed.
    Spawned(u64),
}

/// Starts `owner-spawning members`, kills it as `when` says, and sees what
/// is left.
fn kill_owner(members: u64, when: When) -> (Killed, Duration) {
    let mut owner = testbin()
        .args(["owner-spawning", &members.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let stdout = owner.stdout.take().unwrap();
    #[cfg(target_os = "linux")]
    let pipe = {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", stdout.as_raw_fd())).unwrap()
    };
    let (lines_tx, lines) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    let (mut ready_at, mut first_at) = (None, None);
    match when {
        When::After(delay) => thread::sleep(delay.saturating_sub(started.elapsed())),
        When::AllSpawned | When::Spawned(_) => loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the owner did not get there in 60 s");
            match line.as_str() {
                "job-ready" => ready_at = Some(started.elapsed()),
                "spawned 1" => first_at = Some(started.elapsed()),
                _ => {}
            }
            let done = match when {
                When::Spawned(k) => line == format!("spawned {k}"),
                _ => line == "all-spawned",
            };
            printed.push(line);
            if done {
                break;
            }
        },
    }
    let lived = started.elapsed();
    owner.kill().unwrap();
    owner.wait().unwrap();
    let killed = Instant::now();
    let mut closed_after = None;
    loop {
        match lines.recv_timeout(PIPE_WAIT.saturating_sub(killed.elapsed())) {
            Ok(line) => printed.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                closed_after = Some(killed.elapsed());
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => break,
        }
    }
    let pids: Vec<u32> = printed
        .iter()
        .filter_map(|l| l.strip_prefix("pid ")?.parse().ok())
        .collect();
    // The pipe ends when the last holder closes it, a moment before that
    // process is a zombie: give the printed pids that moment too.
    #[cfg(target_os = "linux")]
    let survivors = {
        eventually(LONG, || pids.iter().all(|&p| !linux::alive(p)));
        let mut found: Vec<u32> = pids.iter().copied().filter(|&p| linux::alive(p)).collect();
        if closed_after.is_none() {
            found.extend(linux::holders(&pipe));
        }
        found.sort_unstable();
        found.dedup();
        // What a survivor is, for the record: how it escaped is the question.
        for &pid in &found {
            println!("survivor {pid}: {}", linux::describe(pid));
        }
        found
    };
    // Once the pipe has ended every printed pid is gone (and, under Wine, may
    // already be reused): only an open pipe is looked into.
    #[cfg(windows)]
    let survivors = if closed_after.is_none() {
        // A member that ran may still be dying on a busy machine: it gets
        // until the long deadline (looked at without killing it).
        eventually(LONG.saturating_sub(killed.elapsed()), || {
            windows::alive(owner.id(), &pids, false)
                .iter()
                .all(|p| !pids.contains(p))
        });
        windows::alive(owner.id(), &pids, true)
    } else {
        Vec::new()
    };
    if closed_after.is_none() {
        // Clean up, so that one failure does not spoil the other runs.
        #[cfg(target_os = "linux")]
        for &pid in &survivors {
            linux::kill(pid);
        }
    }
    let record = Killed {
        owner: owner.id(),
        spawned: printed.iter().filter(|l| l.starts_with("spawned ")).count(),
        all_spawned: printed.iter().any(|l| l == "all-spawned"),
        pids,
        closed_after,
        survivors,
        first_spawn: ready_at.zip(first_at),
    };
    // The reader ends with the pipe (after the clean-up, if there was one).
    drop(lines);
    if record.closed_after.is_some() {
        reader.join().unwrap();
    }
    (record, lived)
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;
    use std::path::Path;

    /// True while `/proc/<pid>` shows a process that is not a zombie.
    pub(crate) fn alive(pid: u32) -> bool {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next())
                != Some("Z")
        })
    }

    /// Every process but this one with a descriptor on `pipe` (a
    /// `pipe:[inode]` link target).
    pub(crate) fn holders(pipe: &Path) -> Vec<u32> {
        let me = std::process::id();
        let mut found = Vec::new();
        let Ok(entries) = fs::read_dir("/proc") else {
            return found;
        };
        for pid in entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != me)
        {
            let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            if fds
                .flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == pipe))
            {
                found.push(pid);
            }
        }
        found
    }

    /// A process's state, parent, cgroup (v2 line) and command line, from
    /// `/proc`.
    pub(crate) fn describe(pid: u32) -> String {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map_or("?", str::trim)
                .to_owned()
        };
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let v2 = cgroup
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("?")
            .to_owned();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        format!(
            "state {}, parent {}, cgroup {v2}, signals pending {} blocked {}, command {}",
            field("State:"),
            field("PPid:"),
            field("ShdPnd:"),
            field("SigBlk:"),
            cmdline.trim()
        )
    }

    pub(crate) fn kill(pid: u32) {
        if let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(windows)]
mod windows {
    use std::collections::BTreeSet;
    use std::io;

    use winjob::Job;

    use super::wmi;

    /// What still runs of a killed owner's tree, while its pipe is still
    /// open: the printed pids, and every helper process the owner or one of
    /// them created (WMI's `ParentProcessId`; this finds a child that never
    /// ran, so never printed). Only helpers: Wine reuses pids at once, so a
    /// system process may have a parent id that is now an owner's. A probe
    /// job is the test's way to ask whether a pid runs: assigning it opens
    /// the process, which fails with `NotFound` once it is gone. Dropping the
    /// probe job kills what it took in, so the pipe can end and the run go
    /// on; with `kill` false the probe leaves them be. If nothing is found,
    /// the holder is unknown: counted as pid 0.
    pub(crate) fn alive(owner: u32, pids: &[u32], kill: bool) -> Vec<u32> {
        let mut suspects: BTreeSet<u32> = pids.iter().copied().collect();
        let mut parents: BTreeSet<u32> = suspects.clone();
        parents.insert(owner);
        let helper = std::path::Path::new(env!("CARGO_BIN_EXE_winjob-testbin"))
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if let Some(rows) = wmi::processes(&["Name", "ParentProcessId", "ProcessId"]) {
            // Helpers that are children of suspects, to any depth.
            loop {
                let found: Vec<u32> = rows
                    .iter()
                    .filter(|r| r.name.to_ascii_lowercase() == helper)
                    .filter(|r| {
                        r.values
                            .get("parentprocessid")
                            .is_some_and(|p| u32::try_from(*p).is_ok_and(|p| parents.contains(&p)))
                    })
                    .filter_map(|r| u32::try_from(*r.values.get("processid")?).ok())
                    .filter(|pid| !parents.contains(pid))
                    .collect();
                if found.is_empty() {
                    break;
                }
                suspects.extend(&found);
                parents.extend(found);
            }
        }
        let probe = Job::builder().kill_on_drop(kill).create().unwrap();
        let mut alive = Vec::new();
        for pid in suspects {
            match probe.assign_pid(pid) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
                _ => alive.push(pid),
            }
        }
        if alive.is_empty() {
            alive.push(0);
        }
        alive
    }
}

#[test]
#[ignore = "stress: run by cargo xtask stress"]
fn killing_the_owner_at_any_moment_leaves_no_member() {
    let _serial = serial();
    let kills = size("WINJOB_STRESS_KILLS", 20);
    let members = size("WINJOB_STRESS_OWNER_MEMBERS", 10);
    let seed = size("WINJOB_STRESS_SEED", 0x7_5EED);
    // How long an owner takes to start, create its job and spawn every
    // member here: the kill moments are spread over that span (and a fifth
    // more, to cover the end of spawning too).
    // Every other kill aims at the first spawn, from the job's creation to
    // the first member's start: where a job first has a process to lose
    // (in process-group mode the group and its anchor start only then).
    // The slowest of three calibration runs: an owner that starts slower
    // than the calibration (Wine's process start varies from 20 to 100 ms)
    // would otherwise be killed before it spawns, run after run.
    let mut calibrations: Vec<(Killed, Duration)> = (0..3)
        .map(|_| kill_owner(members, When::AllSpawned))
        .collect();
    calibrations.sort_by_key(|(_, span)| *span);
    let (calibration, span) = calibrations.pop().expect("three calibration runs");
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let span_us = micros(span).max(1) * 6 / 5;
    let (ready, first) = calibration
        .first_spawn
        .expect("calibration saw the first spawn");
    let first_from = micros(ready) * 4 / 5;
    let first_len = (micros(first) * 6 / 5).saturating_sub(first_from).max(1);
    println!(
        "seed {seed:#x}; an owner takes {span:.1?} to create its job and spawn {members} \
         members (each with a child), its job is ready after {ready:.1?} and the first member \
         started after {first:.1?}; kills alternate between 0..{:.1?} and {:.1?}..{:.1?}",
        Duration::from_micros(span_us),
        Duration::from_micros(first_from),
        Duration::from_micros(first_from + first_len),
    );
    let mut runs = vec![calibration];
    runs.extend(calibrations.into_iter().map(|(run, _)| run));
    let mut sequence = Sequence(seed);
    for i in 0..kills {
        // Every fifth kill lands right after a member was reported spawned,
        // before the last: whatever the machine's speed, some kills hit an
        // owner in the middle of spawning.
        let when = if i % 5 == 4 && members > 1 {
            When::Spawned(1 + sequence.below(members - 1))
        } else {
            When::After(Duration::from_micros(if i % 2 == 0 {
                sequence.below(span_us)
            } else {
                first_from + sequence.below(first_len)
            }))
        };
        let (run, lived) = kill_owner(members, when);
        println!(
            "killed owner {} after {lived:.1?}: {} of {members} spawned{}, {} pids printed, \
             pipe {}{}",
            run.owner,
            run.spawned,
            if run.all_spawned { " (all)" } else { "" },
            run.pids.len(),
            match run.closed_after {
                Some(after) => format!("closed {after:.1?} after the kill"),
                None => format!("still open {PIPE_WAIT:?} after the kill"),
            },
            if run.survivors.is_empty() {
                String::new()
            } else {
                let silent = run
                    .survivors
                    .iter()
                    .filter(|p| !run.pids.contains(p))
                    .count();
                format!(
                    ", SURVIVORS {:?} ({silent} of them never printed a pid: never ran)",
                    run.survivors
                )
            }
        );
        runs.push(run);
    }
    let before_job = runs.iter().filter(|r| r.spawned == 0).count();
    let during = runs
        .iter()
        .filter(|r| r.spawned > 0 && !r.all_spawned)
        .count();
    let in_first = runs
        .iter()
        .filter(|r| r.spawned == 0 && !r.pids.is_empty())
        .count();
    let after_all = runs.iter().filter(|r| r.all_spawned).count();
    let survivors: usize = runs.iter().map(|r| r.survivors.len()).sum();
    let pids: usize = runs.iter().map(|r| r.pids.len()).sum();
    // Directories of the killed owners' jobs: removed by the guardian.
    #[cfg(target_os = "linux")]
    let dirs_left = {
        let roots = usage::job_roots();
        let left = || -> Vec<std::path::PathBuf> {
            runs.iter()
                .flat_map(|r| {
                    let prefix = format!(".anon-{}-", r.owner);
                    roots
                        .iter()
                        .flat_map(move |root| usage::dirs_starting_with(root, &prefix))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        eventually(Duration::from_secs(15), || left().is_empty());
        left()
    };
    #[cfg(not(target_os = "linux"))]
    let dirs_left: Vec<std::path::PathBuf> = Vec::new();
    println!(
        "{} owners killed (seed {seed:#x}): {before_job} before a member was reported spawned \
         ({in_first} of them with the first member started), {during} while spawning, \
         {after_all} after; {pids} member pids printed; {survivors} survivors; {} job \
         directories left",
        runs.len(),
        dirs_left.len()
    );
    // The owner spawns with winjob's own `Command`, which creates each
    // member inside the job (Linux: `clone3(CLONE_INTO_CGROUP)` or the
    // child's own move before `execve`; Windows: `CreateProcessW` with
    // `PROC_THREAD_ATTRIBUTE_JOB_LIST`): there is no moment in which a
    // member exists outside the job, so no kill may leave one, not even a
    // process that never ran (which the suspended path of `Job::spawn` on
    // Windows can leave, and which this test reported as a known failure
    // until issue #13). A survivor that never printed a pid is counted
    // apart in the message; under Wine the search reports pid 0 for a
    // holder of the pipe that WMI does not list.
    let ran: Vec<u32> = runs
        .iter()
        .flat_map(|r| r.survivors.iter().filter(|p| r.pids.contains(p)))
        .copied()
        .collect();
    let unseen = runs
        .iter()
        .flat_map(|r| r.survivors.iter().filter(|p| **p == 0))
        .count();
    let never_ran = survivors - ran.len();
    let kills_with_survivors = runs.iter().filter(|r| !r.survivors.is_empty()).count();
    // Under Wine, a kill that lands inside `CreateProcessW` can leave the
    // Unix process Wine was making for the new one: it holds the pipe (its
    // handles are inherited descriptors), never runs the program, and is no
    // Windows process at all (WMI does not list it; the search reports pid
    // 0). Seen once in many runs, on a machine loaded with one busy process
    // per core. It is Wine's, outside anything a Windows program can create
    // or see, so it is reported and not counted here; Windows' own
    // `JOB_LIST` creation is one kernel step, and the windows-latest
    // workflow counts every holder.
    let wine_unlisted = if under_wine() { unseen } else { 0 };
    if wine_unlisted > 0 {
        println!(
            "skipped: killing_the_owner_at_any_moment_leaves_no_member: in part: under Wine \
             {wine_unlisted} kill(s) inside CreateProcessW left a holder of the pipe that is no \
             Windows process (WMI does not list it; it never ran), which only Windows itself \
             can rule out"
        );
    }
    assert_eq!(
        survivors - wine_unlisted,
        0,
        "{kills_with_survivors} of {} kills left processes behind: {ran:?} had run, {never_ran} \
         never ran ({unseen} of them unseen holders of the pipe)",
        runs.len()
    );
    assert!(dirs_left.is_empty(), "left behind: {dirs_left:?}");
    // Every fifth kill waits for a `spawned K` line: some must have landed
    // while the owner was spawning.
    assert!(
        during > 0 || kills < 5 || members < 2,
        "no kill of {kills} landed while the owner was spawning"
    );
}

// ---------------------------------------------------------------------------
// 4. A fork bomb under a process limit.

#[test]
#[ignore = "stress: run by cargo xtask stress"]
fn a_fork_bomb_is_contained_by_a_process_limit_and_ended_at_once() {
    let _serial = serial();
    let test = "a_fork_bomb_is_contained_by_a_process_limit_and_ended_at_once";
    const LIMIT: u32 = 40;
    if under_wine() {
        skip(
            test,
            "Wine accepts JOB_OBJECT_LIMIT_ACTIVE_PROCESS but does not enforce it",
        );
        return;
    }
    let job = match Job::builder()
        .limits(Limits::new().active_processes(LIMIT))
        .create()
    {
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            skip(
                test,
                &format!("no job-wide process limit in this mode: {e}"),
            );
            return;
        }
        other => other.unwrap(),
    };
    let watch = Duration::from_secs(size("WINJOB_STRESS_BOMB_SECS", 2));
    // At most 4^6 leaves without the limit: far more than 40, yet finite
    // should the limit fail.
    let mut bomb = KillOnDrop(spawn_into(&job, &mut quiet(&["fork-bomb", "6"])));
    // First at the limit, however long a busy machine takes to get there;
    // then watched for a while, pushing against it.
    let mut most = 0;
    let reached = eventually(LONG, || {
        let count = job.pids().unwrap().len();
        most = most.max(count);
        assert!(
            count <= LIMIT as usize,
            "{count} processes in a job limited to {LIMIT}"
        );
        count >= LIMIT as usize - 1
    });
    assert!(
        reached,
        "the bomb never reached the limit: at most {most} of {LIMIT}"
    );
    let started = Instant::now();
    let mut samples = 0;
    let mut full = 0;
    while started.elapsed() < watch {
        let count = job.pids().unwrap().len();
        samples += 1;
        most = most.max(count);
        if count >= LIMIT as usize - 1 {
            full += 1;
        }
        if count > LIMIT as usize {
            job.terminate(1).unwrap();
            panic!("{count} processes in a job limited to {LIMIT}");
        }
        thread::sleep(Duration::from_millis(2));
    }
    let active = job.accounting().unwrap().active_processes;
    assert!(
        bomb.try_wait().unwrap().is_none(),
        "the bomb's root died under the limit"
    );
    let kill = Instant::now();
    job.terminate(1).unwrap();
    // How fast is printed (and measured by `cargo xtask bench`); the
    // deadline is against a hang.
    let emptied = job.wait_timeout(LONG).unwrap();
    let took = kill.elapsed();
    println!(
        "fork bomb under active_processes({LIMIT}): {samples} samples over {watch:?}, at most \
         {most} processes, at the limit in {full} samples, accounting active {active:?}; \
         terminate emptied the job in {took:.1?}"
    );
    assert!(
        emptied,
        "still in the job {LONG:?} after terminate: {:?}",
        job.pids()
    );
    bomb.wait().unwrap();
}

/// `terminate` during a spawn storm: two threads spawn `sleep 600` into the
/// job without pause while the test terminates it again and again. Every
/// process listed just before a call is dead soon after it (a spawn that
/// lands after the list is a later member), and each call's time is
/// printed: in cgroup v1 one freeze–kill–thaw round, where it took rounds
/// until the storm paused (~2.5 s per call). Linux only: Wine's spawns are
/// too slow to make a storm.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "stress: run by cargo xtask stress"]
fn terminate_during_a_spawn_storm_kills_what_was_there() {
    let _serial = serial();
    let job = Arc::new(Job::new().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    // The children are reaped only at the end, so that no listed pid can
    // be reused meanwhile; a budget keeps their zombies well below a
    // `pid_max` of 32768.
    let budget = Arc::new(AtomicUsize::new(4000));
    let storm: Vec<_> = (0..2)
        .map(|_| {
            let (job, stop, budget) = (Arc::clone(&job), Arc::clone(&stop), Arc::clone(&budget));
            thread::spawn(move || {
                let mut children = Vec::new();
                while !stop.load(Ordering::SeqCst)
                    && budget
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                {
                    children.push(spawn_into(&job, &mut quiet(&["sleep", "600"])));
                }
                children
            })
        })
        .collect();
    let calls = size("WINJOB_STRESS_TERMINATES", 20);
    let mut took = Vec::new();
    let mut listed = 0;
    for _ in 0..calls {
        thread::sleep(Duration::from_millis(20));
        let before = job.pids().unwrap();
        listed += before.len();
        let started = Instant::now();
        job.terminate(1).unwrap();
        took.push(started.elapsed());
        let dead = eventually(LONG, || before.iter().all(|&p| !linux::alive(p)));
        let survivors: Vec<u32> = before.into_iter().filter(|&p| linux::alive(p)).collect();
        assert!(dead, "alive after terminate: {survivors:?}");
    }
    stop.store(true, Ordering::SeqCst);
    let mut children: Vec<Child> = storm.into_iter().flat_map(|t| t.join().unwrap()).collect();
    job.terminate(1).unwrap();
    assert!(job.wait_timeout(LONG).unwrap(), "the job did not empty");
    for child in &mut children {
        child.wait().unwrap();
    }
    took.sort();
    println!(
        "terminate during a storm of {} spawns{}: {calls} calls, {listed} members listed before \
         them, all killed; per call median {:?}, max {:?}",
        children.len(),
        if budget.load(Ordering::SeqCst) == 0 {
            " (the whole budget: the storm ended before the calls)"
        } else {
            ""
        },
        took[took.len() / 2],
        took[took.len() - 1]
    );
}

// ---------------------------------------------------------------------------
// 6. Thousands of watched jobs from eight threads.

const WATCHERS: usize = 8;

/// A watched job of the test, with its one member.
struct Watched {
    job: Job,
    events: winjob::Events,
    pid: u32,
    code: u32,
}

/// Drops `watched` after reading its events: its member's start and exit
/// with its code, then `Empty`, and nothing of any other job's process
/// (`all` holds every member of every job, by pid → job number).
fn check_and_drop(
    watched: Watched,
    number: usize,
    all: &Mutex<std::collections::HashMap<u32, usize>>,
) {
    let Watched {
        job,
        events,
        pid,
        code,
    } = watched;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut started, mut exited, mut lost) = (false, false, false);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(event) = events.recv_timeout(left) else {
            panic!("job {number}: no Empty within 60 s (started {started}, exited {exited})");
        };
        let other = |p: u32| {
            let all = all.lock().unwrap_or_else(|e| e.into_inner());
            all.get(&p).copied().filter(|n| *n != number)
        };
        match event {
            winjob::Event::NewProcess { pid: p } | winjob::Event::ExitProcess { pid: p, .. }
                if p != pid =>
            {
                assert_eq!(
                    other(p),
                    None,
                    "job {number} was told of another job's process {p}"
                );
                // Under Wine a retried spawn can leave a process of its own
                // in the job; natively the member is the only process.
                if !under_wine() {
                    panic!("job {number} was told of pid {p}, not its member {pid}");
                }
            }
            winjob::Event::NewProcess { .. } => started = true,
            winjob::Event::ExitProcess { exit, .. } => {
                exited = true;
                if !lost {
                    assert_eq!(
                        exit,
                        Some(winjob::ProcessExit::Code(code)),
                        "job {number}: the exit of {pid}"
                    );
                }
            }
            winjob::Event::MessagesLost => lost = true,
            winjob::Event::Empty => break,
            _ => {}
        }
    }
    assert!(
        started && exited,
        "job {number}: start {started}, exit {exited} of {pid}"
    );
    drop(job);
    assert!(
        events.recv_timeout(Duration::from_secs(10)).is_none(),
        "job {number}: the subscription outlived the job"
    );
}

#[test]
#[ignore = "stress: run by cargo xtask stress"]
fn thousands_of_watched_jobs_from_eight_threads() {
    let _serial = serial();
    let total = usize::try_from(size("WINJOB_STRESS_WATCHED", 1000)).unwrap_or(1000);
    let seed = size("WINJOB_STRESS_SEED", 7);
    // What lives as long as the process starts first (the guardian, the
    // engine with its watch of it).
    drop(Job::new().unwrap());
    let before = usage::now();
    let all = Arc::new(Mutex::new(std::collections::HashMap::new()));
    let started = Instant::now();
    let threads: Vec<_> = (0..WATCHERS)
        .map(|t| {
            let all = Arc::clone(&all);
            thread::spawn(move || {
                let mut order = Sequence(seed.wrapping_add(t as u64));
                let mine = total / WATCHERS + usize::from(t < total % WATCHERS);
                // Up to this many alive at once per thread, dropped at random.
                let keep = 1 + usize::try_from(order.below(total as u64 / WATCHERS as u64 + 1))
                    .unwrap_or(0);
                let mut alive: Vec<(usize, Watched)> = Vec::new();
                let mut most = 0;
                for i in 0..mine {
                    let number = t + i * WATCHERS;
                    let job = Job::new().unwrap();
                    let events = job.events().unwrap();
                    let code = u32::try_from(order.below(200)).unwrap_or(0);
                    let mut child = spawn_into(&job, &mut quiet(&["exit", &code.to_string()]));
                    let pid = child.id();
                    all.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(pid, number);
                    assert_eq!(
                        child.wait().unwrap().code(),
                        Some(i32::try_from(code).unwrap())
                    );
                    alive.push((
                        number,
                        Watched {
                            job,
                            events,
                            pid,
                            code,
                        },
                    ));
                    most = most.max(alive.len());
                    while alive.len() > keep || (!alive.is_empty() && order.below(3) == 0) {
                        let at = usize::try_from(order.below(alive.len() as u64)).unwrap_or(0);
                        let (number, watched) = alive.swap_remove(at);
                        check_and_drop(watched, number, &all);
                    }
                }
                while !alive.is_empty() {
                    let at = usize::try_from(order.below(alive.len() as u64)).unwrap_or(0);
                    let (number, watched) = alive.swap_remove(at);
                    check_and_drop(watched, number, &all);
                }
                most
            })
        })
        .collect();
    let most: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let took = started.elapsed();
    let after = settled(&before);
    println!(
        "{total} watched jobs from {WATCHERS} threads (up to {most} alive at once) in \
         {took:.1?}: {}",
        Usage::show(&before, &after)
    );
    assert_eq!(after, before, "leaked over {total} watched jobs");
}
