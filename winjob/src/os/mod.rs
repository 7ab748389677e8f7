//! Operating-system specific extensions.
//!
//! Each module holds sealed extension traits for [`Job`](crate::Job) and
//! [`JobBuilder`](crate::JobBuilder), in the manner of `std::os`, and is
//! compiled only on its own OS.

#[cfg(windows)]
pub mod windows;

#[cfg(target_os = "linux")]
pub mod linux;

/// Keeps the extension traits implementable only by this crate, so that
/// methods can be added to them without breaking anyone.
mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::Job {}
    impl Sealed for crate::JobBuilder {}
    impl Sealed for crate::Command {}
    impl Sealed for crate::Child {}
}
