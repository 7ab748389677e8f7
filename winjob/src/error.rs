//! Constructors for the errors the library reports itself.
//!
//! Every error the library makes (as opposed to one the OS returns) names what
//! was wrong and what is accepted, so that a caller who prints it can act on it
//! without reading our source. OS errors pass through as `io::Error::from_raw_os_error`
//! or `last_os_error`, sometimes wrapped with the same kind and a message that
//! says which call failed.

use std::fmt::Display;
use std::io;

/// Bad input from the caller, caught before any system call.
pub(crate) fn invalid_input(message: impl Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_string())
}

/// Something the caller named does not exist (a job, a process).
pub(crate) fn not_found(message: impl Display) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, message.to_string())
}

/// The running system or the backend in use cannot do what was asked.
pub(crate) fn unsupported(message: impl Display) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, message.to_string())
}

/// Wraps an OS error with context, keeping its kind (and so its meaning to
/// callers that match on `kind()`), the raw OS code in the message, and the
/// original error as the wrapper's `source()`, where its `raw_os_error()`
/// can still be read.
pub(crate) fn with_context(error: io::Error, context: impl Display) -> io::Error {
    let kind = error.kind();
    io::Error::new(
        kind,
        Context {
            message: format!("{context}: {error}"),
            source: error,
        },
    )
}

/// The OS error code of `error`, or of the OS error it wraps (see
/// [`with_context`]).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn os_code(error: &io::Error) -> Option<i32> {
    error.raw_os_error().or_else(|| {
        error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Context>())
            .and_then(|context| os_code(&context.source))
    })
}

/// An OS error and what was being done.
#[derive(Debug)]
struct Context {
    message: String,
    source: io::Error,
}

impl Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
