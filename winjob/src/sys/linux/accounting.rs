//! Accounting on Linux, read from cgroup files without allocating.
//!
//! Every file is opened relative to a directory descriptor the job already
//! holds and read into a buffer on the stack; nested job directories and
//! `/proc` are walked with `RawDir` over a stack buffer too. So
//! `Job::accounting_into` can be called in a loop without touching the heap.
//!
//! | field | source |
//! |---|---|
//! | active processes | lines of `cgroup.procs`, this directory and below; `/proc` scan in process-group mode |
//! | user, kernel time | `cpu.stat` `user_usec` / `system_usec`: present in every v2 cgroup, exited processes included; in v1 freezer mode `cpuacct.usage_user` / `usage_sys` of the job's v1 cpuacct directory, which exists while `job_cpu_time` is set |
//! | page faults | `memory.stat` `pgfault` (v2) / `total_pgfault` (v1), where the memory controller holds the job |
//! | read/write operations and bytes | `io.stat` `rios` `wios` `rbytes` `wbytes`, summed over devices (v2 io controller): block I/O only |
//! | peak job memory | `memory.peak` (v2, Linux 5.19+) / `memory.max_usage_in_bytes` (v1) |
//!
//! Not measured (`None`): total and limit-terminated process counts, "other"
//! I/O, the per-process peak; CPU times in cgroup v1 freezer mode unless
//! `job_cpu_time` is set, and everything but the active count in
//! process-group mode.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use rustix::fs::{FileType, Mode as FileMode, OFlags, RawDir};

use crate::Accounting;

/// Room for any of the small control files read here.
const BUF: usize = 4096;

/// Reads `name` in `dir` into `buf`; the text read, or `None` if the file
/// does not exist (its controller is not there).
fn read<'b>(
    dir: BorrowedFd<'_>,
    name: &str,
    buf: &'b mut [u8; BUF],
) -> io::Result<Option<&'b str>> {
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut len = 0;
    while len < buf.len() {
        match rustix::io::read(&fd, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(std::str::from_utf8(&buf[..len]).unwrap_or("")))
}

/// The value of `key` in a flat-keyed file (`key value` lines).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Fills `out` from a job's cgroup directories: `main` (v2 or v1 freezer),
/// and the v1 memory and cpuacct directories if the job has them.
pub(crate) fn from_cgroup(
    main: BorrowedFd<'_>,
    is_v2: bool,
    v1_memory: Option<BorrowedFd<'_>>,
    v1_cpuacct: Option<BorrowedFd<'_>>,
    out: &mut Accounting,
) -> io::Result<()> {
    *out = Accounting::default();
    let mut buf = [0u8; BUF];
    out.active_processes = Some(count_procs(main, 0)?);
    if is_v2 {
        if let Some(text) = read(main, "cpu.stat", &mut buf)? {
            out.user_time = keyed(text, "user_usec").map(Duration::from_micros);
            out.kernel_time = keyed(text, "system_usec").map(Duration::from_micros);
        }
        if let Some(text) = read(main, "io.stat", &mut buf)? {
            let mut sums = [0u64; 4];
            for line in text.lines() {
                for field in line.split_whitespace().skip(1) {
                    let Some((k, v)) = field.split_once('=') else {
                        continue;
                    };
                    let slot = match k {
                        "rios" => 0,
                        "wios" => 1,
                        "rbytes" => 2,
                        "wbytes" => 3,
                        _ => continue,
                    };
                    sums[slot] += v.parse::<u64>().unwrap_or(0);
                }
            }
            out.read_operations = Some(sums[0]);
            out.write_operations = Some(sums[1]);
            out.read_bytes = Some(sums[2]);
            out.write_bytes = Some(sums[3]);
        }
    }
    if !is_v2 && let Some(dir) = v1_cpuacct {
        let nanos = |file: &str, buf: &mut [u8; BUF]| -> io::Result<Option<Duration>> {
            Ok(read(dir, file, buf)?
                .and_then(|t| t.trim().parse().ok())
                .map(Duration::from_nanos))
        };
        out.user_time = nanos("cpuacct.usage_user", &mut buf)?;
        out.kernel_time = nanos("cpuacct.usage_sys", &mut buf)?;
    }
    // Memory: the v2 directory if it has the controller, else the v1 one.
    let (memory, peak_file, fault_key) = if is_v2 && exists(main, "memory.peak") {
        (Some(main), "memory.peak", "pgfault")
    } else {
        (v1_memory, "memory.max_usage_in_bytes", "total_pgfault")
    };
    if let Some(dir) = memory {
        if let Some(text) = read(dir, peak_file, &mut buf)? {
            out.peak_job_memory = text.trim().parse().ok();
        }
        if let Some(text) = read(dir, "memory.stat", &mut buf)? {
            out.page_faults = keyed(text, fault_key);
        }
    }
    Ok(())
}

fn exists(dir: BorrowedFd<'_>, name: &str) -> bool {
    rustix::fs::accessat(
        dir,
        name,
        rustix::fs::Access::EXISTS,
        rustix::fs::AtFlags::empty(),
    )
    .is_ok()
}

/// Depth limit for nested cgroups (as for listing members).
const MAX_DEPTH: usize = 64;

/// The number of pids in `cgroup.procs` of `dir` and every directory below.
fn count_procs(dir: BorrowedFd<'_>, depth: usize) -> io::Result<u64> {
    let fd = match rustix::fs::openat(
        dir,
        "cgroup.procs",
        OFlags::RDONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    // The file can be longer than one buffer: count newlines chunk by chunk.
    let mut count = 0u64;
    let mut buf = [0u8; BUF];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => count += buf[..n].iter().filter(|b| **b == b'\n').count() as u64,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if depth >= MAX_DEPTH {
        return Ok(count);
    }
    let listing = rustix::fs::openat(
        dir,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    )?;
    let mut space = [MaybeUninit::<u8>::uninit(); 2048];
    let mut entries = RawDir::new(&listing, &mut space);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if entry.file_type() != FileType::Directory || bytes == b"." || bytes == b".." {
            continue;
        }
        match rustix::fs::openat(
            dir,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        ) {
            Ok(sub) => count += count_procs(sub.as_fd(), depth + 1)?,
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(count)
}

/// Process-group mode: the number of live processes in group `pgid` but
/// its leader (the job's anchor), from a `/proc` scan; nothing else is
/// measured.
pub(crate) fn from_process_group(pgid: Option<u32>, out: &mut Accounting) -> io::Result<()> {
    *out = Accounting::default();
    let Some(pgid) = pgid else {
        out.active_processes = Some(0);
        return Ok(());
    };
    let proc = rustix::fs::open(
        "/proc",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        FileMode::empty(),
    )?;
    let mut space = [MaybeUninit::<u8>::uninit(); 4096];
    let mut entries = RawDir::new(&proc, &mut space);
    let mut buf = [0u8; BUF];
    let mut count = 0;
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        let pid = std::str::from_utf8(name.to_bytes())
            .ok()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok());
        if pid.is_none_or(|pid| pid == pgid) {
            continue;
        }
        // Processes exit while we scan: skip what cannot be read.
        let Ok(dir) = rustix::fs::openat(
            &proc,
            name,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            FileMode::empty(),
        ) else {
            continue;
        };
        let Ok(Some(text)) = read(dir.as_fd(), "stat", &mut buf) else {
            continue;
        };
        if let Some(stat) = super::parse::stat(text)
            && stat.pgid == pgid
            && stat.state != 'Z'
        {
            count += 1;
        }
    }
    out.active_processes = Some(count);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files() {
        let cpu = "usage_usec 8134159\nuser_usec 5257465\nsystem_usec 2876693\nnice_usec 0\n";
        assert_eq!(keyed(cpu, "user_usec"), Some(5_257_465));
        assert_eq!(keyed(cpu, "system_usec"), Some(2_876_693));
        assert_eq!(keyed(cpu, "usage"), None);
        assert_eq!(
            keyed("pgfault 14734\npgmajfault 2\n", "pgfault"),
            Some(14734)
        );
    }
}
