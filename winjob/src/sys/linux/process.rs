//! What `Job::processes` reports of one member, from its `/proc/PID` files.
//!
//! `exe` (a link) names the executable; it is unreadable for another user's
//! process, and then `comm` (at most 15 bytes, and the process may change it)
//! gives the name. `stat` gives the CPU times in clock ticks (`utime`,
//! `stime`, fields 14 and 15, read by `parse::stat`) and `statm` the resident
//! set in pages. A process that exits while it is read is left out; a file
//! that cannot be read leaves its field `None`.

use std::fs;

use super::parse;
use crate::ProcessInfo;

/// The record of `pid`, or `None` if it has exited.
pub(crate) fn info(pid: u32) -> Option<ProcessInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut info = ProcessInfo::new(pid);
    info.path = fs::read_link(format!("/proc/{pid}/exe")).ok();
    info.name = info
        .path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .map(|c| c.trim_end_matches('\n').to_owned())
        });
    if let Some(stat) = parse::stat(&stat) {
        info.user_time = stat.utime.map(parse::clock_ticks);
        info.kernel_time = stat.stime.map(parse::clock_ticks);
    }
    info.memory = fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages.saturating_mul(rustix::param::page_size() as u64));
    // A process reaped while we read is gone, not nameless.
    fs::metadata(format!("/proc/{pid}")).ok()?;
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_described() {
        let info = info(std::process::id()).expect("this process exists");
        assert_eq!(info.pid, std::process::id());
        assert_eq!(
            info.path.as_deref(),
            Some(std::env::current_exe().unwrap().as_path())
        );
        assert!(info.name.is_some());
        assert!(info.memory.unwrap() > 0);
        assert!(info.user_time.is_some() && info.kernel_time.is_some());
    }
}
