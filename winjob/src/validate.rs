//! Checks of caller input that run before any system call.
//!
//! Pure functions, tested on every platform. Each returns an
//! [`InvalidInput`](std::io::ErrorKind::InvalidInput) error whose message names
//! the argument and what is accepted.

use std::io;
use std::time::{Duration, Instant};

use crate::error::invalid_input;

/// The longest job name accepted, in bytes of UTF-8.
///
/// 255 is the longest file name Linux accepts (a named job is a cgroup
/// directory), and 255 bytes of UTF-8 are never more than the 260 UTF-16 units
/// (`MAX_PATH`) that `CreateJobObjectW` accepts.
pub const MAX_NAME_LEN: usize = 255;

/// Checks a job name for the rules shared by every backend: not empty, no NUL,
/// at most [`MAX_NAME_LEN`] bytes. Backends add their own rules on top.
pub(crate) fn job_name(name: &str) -> io::Result<()> {
    if name.is_empty() {
        return Err(invalid_input(
            "job name is empty; use an anonymous job (no name) or a name of 1 to 255 bytes",
        ));
    }
    if name.contains('\0') {
        return Err(invalid_input(format!(
            "job name {name:?} contains a NUL character, which no OS accepts in a name"
        )));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid_input(format!(
            "job name is {} bytes long; at most {MAX_NAME_LEN} bytes are accepted",
            name.len()
        )));
    }
    Ok(())
}

/// `STILL_ACTIVE` (259): `GetExitCodeProcess` reports it for a process that
/// is still running, so a process that *exits* with it looks alive forever.
pub(crate) const STILL_ACTIVE: u32 = 259;

/// Checks an exit code given to `terminate`. Every `u32` is a valid Windows
/// exit code except `STILL_ACTIVE` (259).
pub(crate) fn exit_code(code: u32) -> io::Result<()> {
    if code == STILL_ACTIVE {
        return Err(invalid_input(
            "exit code 259 (STILL_ACTIVE) is refused: a process that exits with it looks \
             as if it were still running; any other u32 is accepted",
        ));
    }
    Ok(())
}

/// Turns a timeout into a deadline, refusing one so long that the clock cannot
/// represent it (which would otherwise panic deep inside `Instant`).
pub(crate) fn deadline(what: &str, timeout: Duration) -> io::Result<Instant> {
    Instant::now().checked_add(timeout).ok_or_else(|| {
        invalid_input(format!(
            "{what} of {timeout:?} is too long for this system's clock; \
             use a shorter one, or the variant without a timeout to wait for ever"
        ))
    })
}

/// Checks a process id given by the caller.
pub(crate) fn pid(pid: u32) -> io::Result<()> {
    if pid == 0 {
        return Err(invalid_input(
            "pid 0 does not name a process; give the id of a running process",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(job_name("build-42").is_ok());
        assert!(job_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
        for bad in ["", "a\0b"] {
            let e = job_name(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("job name"), "{e}");
        }
        let long = "é".repeat(128); // 256 bytes
        let e = job_name(&long).unwrap_err();
        assert!(e.to_string().contains("256 bytes"), "{e}");
    }

    #[test]
    fn exit_codes() {
        assert!(exit_code(0).is_ok());
        assert!(exit_code(u32::MAX).is_ok());
        let e = exit_code(259).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("STILL_ACTIVE"));
    }

    #[test]
    fn deadlines() {
        assert!(deadline("timeout", Duration::from_secs(1)).is_ok());
        let e = deadline("timeout", Duration::MAX).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().starts_with("timeout of"), "{e}");
    }

    #[test]
    fn pids() {
        assert!(pid(1).is_ok());
        assert_eq!(pid(0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
