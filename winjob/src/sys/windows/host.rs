//! The Windows encoding on a non-Windows host, for its unit tests.
//!
//! `info.rs` (typed limits ↔ `JOBOBJECT_*` structures) is pure code over the
//! generated bindings and the public typed values, so its tests need no
//! Windows: this module compiles exactly those files — `bindings.rs` and
//! `unions.rs` (the children of `api.rs` that may use `unsafe`; nothing here
//! calls a Win32 function), `os/windows/limits.rs` and `info.rs` — under the
//! names `info.rs` uses. On a 64-bit host the structures have the layout of
//! 64-bit Windows (the sizes are asserted); on a 32-bit host `u64` is less
//! aligned than on Windows, so only the logic is tested there.
//!
//! Declared from `crate::limits` with `#[cfg(all(test, not(windows)))]`.

#[allow(unsafe_code)]
#[rustfmt::skip]
#[path = "bindings.rs"]
mod bindings;

#[allow(unsafe_code)]
#[path = "unions.rs"]
mod unions;

/// What `info.rs` finds under `super::api` on Windows.
mod api {
    pub(super) use super::bindings;
    pub(super) use super::unions::{cpu_rate_dword, notification2_unions, violation2_unions};
}

#[path = "../../os/windows/limits.rs"]
mod types;

#[path = "info.rs"]
mod info;
