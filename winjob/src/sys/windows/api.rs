//! Safe wrappers over every Win32 call the Windows backend makes.
//!
//! This file (with the generated `bindings.rs`, compiled as its child module)
//! is the only place in `sys/windows` where `unsafe` is allowed. The charter,
//! after std's `sys/pal/windows/api.rs`:
//!
//! - Every `unsafe` block holds one unsafe operation and has a `// SAFETY:`
//!   comment that says why it is sound.
//! - No unchecked `as` casts: integer conversions are `try_from` or the
//!   explicit `cast_unsigned`/`cast_signed`, pointer casts are `.cast()`.
//! - A wrapper is named after the call it wraps, in `lower_snake_case`, and
//!   returns `io::Result`, with std's owned types: `OwnedHandle` for a handle
//!   this process must close, `BorrowedHandle` for one it only uses.
//! - No raw Win32 handle or pointer leaves this file: callers see `u32`,
//!   `usize`, handles and the small owning types defined here. The one
//!   exception is the plain-data `JOBOBJECT_*` structures of the limit
//!   classes, which `info.rs` encodes and decodes: `bindings` is visible to
//!   the backend for that, and its functions stay unusable there (calling
//!   them is `unsafe`, which is denied outside this file and its children).
//! - Reading a union field is `unsafe` too; those reads are in `unions.rs`,
//!   a child of this file.
//!
//! The wrappers add nothing but safety: which call to make, in what order, and
//! what an error means to the caller is decided by the safe files around it.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_void};
use std::io;
use std::mem;
use std::os::windows::io::{
    AsHandle, AsRawHandle, BorrowedHandle, FromRawHandle, HandleOrNull, OwnedHandle, RawHandle,
};
use std::ptr::{self, NonNull};
use std::sync::OnceLock;
use std::time::Duration;

#[rustfmt::skip]
#[path = "bindings.rs"]
pub(super) mod bindings;
#[path = "unions.rs"]
mod unions;

use self::bindings as b;
pub(super) use self::unions::{cpu_rate_dword, notification2_unions, violation2_unions};

// Constants the safe files need, with the types the calls take. The generated
// bindings spell most of them `i32`; `cast_unsigned` is the checked-by-type,
// bit-preserving conversion (every value here is small and positive).
pub(crate) const CREATE_SUSPENDED: u32 = b::CREATE_SUSPENDED.cast_unsigned();
pub(crate) const CREATE_NEW_PROCESS_GROUP: u32 = b::CREATE_NEW_PROCESS_GROUP.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_NEW_PROCESS: u32 = b::JOB_OBJECT_MSG_NEW_PROCESS.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_EXIT_PROCESS: u32 = b::JOB_OBJECT_MSG_EXIT_PROCESS.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS: u32 =
    b::JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO: u32 =
    b::JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_END_OF_JOB_TIME: u32 =
    b::JOB_OBJECT_MSG_END_OF_JOB_TIME.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_END_OF_PROCESS_TIME: u32 =
    b::JOB_OBJECT_MSG_END_OF_PROCESS_TIME.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT: u32 =
    b::JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT: u32 =
    b::JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_JOB_MEMORY_LIMIT: u32 =
    b::JOB_OBJECT_MSG_JOB_MEMORY_LIMIT.cast_unsigned();
pub(crate) const JOB_OBJECT_MSG_NOTIFICATION_LIMIT: u32 =
    b::JOB_OBJECT_MSG_NOTIFICATION_LIMIT.cast_unsigned();
pub(crate) const PROCESS_SET_QUOTA: u32 = b::PROCESS_SET_QUOTA.cast_unsigned();
pub(crate) const PROCESS_TERMINATE: u32 = b::PROCESS_TERMINATE.cast_unsigned();
pub(crate) const PROCESS_VM_READ: u32 = b::PROCESS_VM_READ.cast_unsigned();
pub(crate) const PROCESS_QUERY_INFORMATION: u32 = b::PROCESS_QUERY_INFORMATION.cast_unsigned();
pub(crate) const PROCESS_QUERY_LIMITED_INFORMATION: u32 =
    b::PROCESS_QUERY_LIMITED_INFORMATION.cast_unsigned();
pub(crate) const THREAD_SUSPEND_RESUME: u32 = b::THREAD_SUSPEND_RESUME.cast_unsigned();
pub(crate) const STILL_ACTIVE: u32 = b::STILL_ACTIVE.cast_unsigned();
pub(crate) const CTRL_BREAK_EVENT: u32 = b::CTRL_BREAK_EVENT.cast_unsigned();
pub(crate) const ERROR_ACCESS_DENIED: i32 = b::ERROR_ACCESS_DENIED;
pub(crate) const ERROR_ALREADY_EXISTS: i32 = b::ERROR_ALREADY_EXISTS;
pub(crate) const ERROR_BAD_PATHNAME: i32 = b::ERROR_BAD_PATHNAME;
pub(crate) const ERROR_FILE_NOT_FOUND: i32 = b::ERROR_FILE_NOT_FOUND;
pub(crate) const ERROR_INVALID_HANDLE: i32 = b::ERROR_INVALID_HANDLE;
pub(crate) const ERROR_INVALID_NAME: i32 = b::ERROR_INVALID_NAME;
pub(crate) const ERROR_INVALID_PARAMETER: i32 = b::ERROR_INVALID_PARAMETER;
pub(crate) const ERROR_INVALID_FUNCTION: i32 = b::ERROR_INVALID_FUNCTION;
pub(crate) const ERROR_NOT_SUPPORTED: i32 = b::ERROR_NOT_SUPPORTED;
pub(crate) const ERROR_CALL_NOT_IMPLEMENTED: i32 = b::ERROR_CALL_NOT_IMPLEMENTED;
const ERROR_INSUFFICIENT_BUFFER: i32 = b::ERROR_INSUFFICIENT_BUFFER;
pub(crate) const ERROR_PATH_NOT_FOUND: i32 = b::ERROR_PATH_NOT_FOUND;
const ERROR_MORE_DATA: i32 = b::ERROR_MORE_DATA;
const ERROR_NO_MORE_FILES: i32 = b::ERROR_NO_MORE_FILES;
const WAIT_TIMEOUT: i32 = b::WAIT_TIMEOUT;

/// The size of `T` as the `u32` that Win32 length parameters take, checked
/// at compile time.
const fn win32_size_of<T>() -> u32 {
    let size = mem::size_of::<T>();
    assert!(
        size <= u32::MAX as usize,
        "a Win32 structure larger than 4 GiB"
    );
    // The assertion above makes this cast lossless.
    #[allow(clippy::cast_possible_truncation)]
    let size = size as u32;
    size
}

/// Turns a Win32 `BOOL` result into `io::Result`, reading `GetLastError` on
/// failure. Must be called right after the call, before anything else can
/// overwrite the thread's last error.
fn cvt(result: b::BOOL) -> io::Result<()> {
    if result == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Takes ownership of a handle returned by a call that reports failure with
/// `NULL`, reading `GetLastError` on failure.
///
/// # Safety
///
/// `handle` must be NULL or a handle the caller owns and nothing else closes.
unsafe fn owned_or_null(handle: b::HANDLE) -> io::Result<OwnedHandle> {
    // SAFETY: the caller guarantees that a non-NULL `handle` is owned and
    // closed by nobody else; `HandleOrNull` holds it until it is checked.
    let handle = unsafe { HandleOrNull::from_raw_handle(handle) };
    // `try_from` forgets (does not close) a NULL handle, so `GetLastError` is
    // still the call's.
    OwnedHandle::try_from(handle).map_err(|_| io::Error::last_os_error())
}

/// The raw value of a borrowed handle, for passing to a call.
fn raw(handle: BorrowedHandle<'_>) -> b::HANDLE {
    handle.as_raw_handle()
}

/// A NUL-terminated UTF-16 string without interior NULs: what every `W`
/// function's string parameter must point to.
pub(crate) struct WideCString(Vec<u16>);

impl WideCString {
    /// Encodes `s` as UTF-16 and terminates it; `None` if `s` contains NUL.
    pub(crate) fn new(s: &str) -> Option<WideCString> {
        if s.contains('\0') {
            return None;
        }
        Some(WideCString(s.encode_utf16().chain([0]).collect()))
    }

    fn as_ptr(&self) -> b::PCWSTR {
        self.0.as_ptr()
    }
}

/// A security descriptor made from SDDL, freed with `LocalFree` on drop.
pub(crate) struct SecurityDescriptor(NonNull<c_void>);

impl SecurityDescriptor {
    /// `ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
    /// SDDL_REVISION_1)`.
    pub(crate) fn from_sddl(sddl: &WideCString) -> io::Result<SecurityDescriptor> {
        let mut descriptor: b::PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `sddl` is NUL-terminated; `descriptor` is a valid out
        // pointer; the size out-parameter is optional (NULL).
        let ok = unsafe {
            b::ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                b::SDDL_REVISION_1.cast_unsigned(),
                &mut descriptor,
                ptr::null_mut(),
            )
        };
        cvt(ok)?;
        NonNull::new(descriptor)
            .map(SecurityDescriptor)
            .ok_or_else(|| io::Error::other("the SDDL conversion returned no security descriptor"))
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: the pointer was allocated by the conversion with
        // `LocalAlloc`, is freed only here, and is not used afterwards.
        unsafe { b::LocalFree(self.0.as_ptr()) };
    }
}

/// What `CreateJobObjectW` returned.
pub(crate) struct CreatedJob {
    /// The job handle.
    pub(crate) handle: OwnedHandle,
    /// `GetLastError() == ERROR_ALREADY_EXISTS`: the name was taken, and
    /// `handle` is the existing job.
    pub(crate) existed: bool,
}

/// `CreateJobObjectW`, with a `SECURITY_ATTRIBUTES` carrying the descriptor
/// and the inheritance flag.
pub(crate) fn create_job_object_w(
    name: Option<&WideCString>,
    descriptor: Option<&SecurityDescriptor>,
    inheritable: bool,
) -> io::Result<CreatedJob> {
    let attributes = b::SECURITY_ATTRIBUTES {
        nLength: win32_size_of::<b::SECURITY_ATTRIBUTES>(),
        lpSecurityDescriptor: descriptor.map_or(ptr::null_mut(), |d| d.0.as_ptr()),
        bInheritHandle: b::BOOL::from(inheritable),
    };
    let name = name.map_or(ptr::null(), WideCString::as_ptr);
    // SAFETY: `attributes` is a valid SECURITY_ATTRIBUTES whose descriptor
    // (if any) outlives the call; `name` is NULL or NUL-terminated.
    let handle = unsafe { b::CreateJobObjectW(&attributes, name) };
    // Read before anything else can change the thread's last error.
    let existed = !handle.is_null()
        && io::Error::last_os_error().raw_os_error() == Some(ERROR_ALREADY_EXISTS);
    // SAFETY: CreateJobObjectW returns NULL or a new handle that we own.
    let handle = unsafe { owned_or_null(handle) }?;
    Ok(CreatedJob { handle, existed })
}

/// `OpenJobObjectW(access, FALSE, name)`.
pub(crate) fn open_job_object_w(access: u32, name: &WideCString) -> io::Result<OwnedHandle> {
    // SAFETY: `name` is NUL-terminated.
    let handle = unsafe { b::OpenJobObjectW(access, 0, name.as_ptr()) };
    // SAFETY: OpenJobObjectW returns NULL or a new handle that we own.
    unsafe { owned_or_null(handle) }
}

/// `AssignProcessToJobObject`.
pub(crate) fn assign_process_to_job_object(
    job: BorrowedHandle<'_>,
    process: BorrowedHandle<'_>,
) -> io::Result<()> {
    // SAFETY: both handles are valid for the duration of the call.
    cvt(unsafe { b::AssignProcessToJobObject(raw(job), raw(process)) })
}

/// `TerminateJobObject`.
pub(crate) fn terminate_job_object(job: BorrowedHandle<'_>, exit_code: u32) -> io::Result<()> {
    // SAFETY: the handle is valid for the duration of the call.
    cvt(unsafe { b::TerminateJobObject(raw(job), exit_code) })
}

/// `IsProcessInJob(process, job)`; `job` `None` asks about any job.
pub(crate) fn is_process_in_job(
    process: BorrowedHandle<'_>,
    job: Option<BorrowedHandle<'_>>,
) -> io::Result<bool> {
    // A 4-byte BOOL, as the call writes (a Rust `bool` would be overrun).
    let mut result: b::BOOL = 0;
    let job = job.map_or(ptr::null_mut(), raw);
    // SAFETY: the handles are valid or NULL (allowed for the job); `result`
    // is a valid, writable BOOL.
    cvt(unsafe { b::IsProcessInJob(raw(process), job, &mut result) })?;
    Ok(result != 0)
}

/// An information class of `Query/SetInformationJobObject` and the structure
/// that goes with it.
///
/// # Safety
///
/// `CLASS` must be the class whose data has exactly the layout of `Self`, and
/// every bit pattern the system writes must be a valid `Self` (plain integers,
/// or pointers that are never dereferenced).
pub(super) unsafe trait JobInformation: Copy + Default {
    /// The information class.
    const CLASS: b::JOBOBJECTINFOCLASS;
}

macro_rules! job_information {
    ($($class:ident => $ty:ident;)*) => {$(
        // SAFETY: the Windows SDK pairs class `$class` with `$ty`, whose
        // generated layout is pinned to the SDK's size in `info.rs`; every
        // field is a plain integer (or a pointer only ever compared).
        unsafe impl JobInformation for b::$ty {
            const CLASS: b::JOBOBJECTINFOCLASS = b::$class;
        }
    )*};
}

job_information! {
    JobObjectBasicAccountingInformation => JOBOBJECT_BASIC_ACCOUNTING_INFORMATION;
    JobObjectBasicAndIoAccountingInformation => JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION;
    JobObjectAssociateCompletionPortInformation => JOBOBJECT_ASSOCIATE_COMPLETION_PORT;
    JobObjectExtendedLimitInformation => JOBOBJECT_EXTENDED_LIMIT_INFORMATION;
    JobObjectBasicUIRestrictions => JOBOBJECT_BASIC_UI_RESTRICTIONS;
    JobObjectEndOfJobTimeInformation => JOBOBJECT_END_OF_JOB_TIME_INFORMATION;
    JobObjectCpuRateControlInformation => JOBOBJECT_CPU_RATE_CONTROL_INFORMATION;
    JobObjectNetRateControlInformation => JOBOBJECT_NET_RATE_CONTROL_INFORMATION;
    JobObjectNotificationLimitInformation => JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION;
    JobObjectNotificationLimitInformation2 => JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2;
    JobObjectLimitViolationInformation => JOBOBJECT_LIMIT_VIOLATION_INFORMATION;
    JobObjectLimitViolationInformation2 => JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2;
}

/// `SetInformationJobObject` for a fixed-size class: one call, the whole
/// structure.
pub(super) fn set_information_job_object<T: JobInformation>(
    job: BorrowedHandle<'_>,
    info: &T,
) -> io::Result<()> {
    let data: *const T = info;
    // SAFETY: `data` points to a valid `T` of the size passed, which is the
    // layout `T::CLASS` expects (the `JobInformation` contract).
    cvt(unsafe {
        b::SetInformationJobObject(raw(job), T::CLASS, data.cast(), win32_size_of::<T>())
    })
}

/// `QueryInformationJobObject` for a fixed-size class.
pub(super) fn query_information_job_object<T: JobInformation>(
    job: BorrowedHandle<'_>,
) -> io::Result<T> {
    let mut info = T::default();
    let data: *mut T = &mut info;
    // SAFETY: `data` points to a writable `T` of the size passed, the layout
    // `T::CLASS` fills; the returned-length out-parameter is optional.
    cvt(unsafe {
        b::QueryInformationJobObject(
            raw(job),
            T::CLASS,
            data.cast(),
            win32_size_of::<T>(),
            ptr::null_mut(),
        )
    })?;
    Ok(info)
}

/// `SetInformationJobObject(JobObjectGroupInformationEx)` with `groups`.
pub(super) fn set_group_information_ex(
    job: BorrowedHandle<'_>,
    groups: &[b::GROUP_AFFINITY],
) -> io::Result<()> {
    let length = u32::try_from(mem::size_of_val(groups))
        .map_err(|_| io::Error::other(format!("{} group affinities are too many", groups.len())))?;
    // SAFETY: `groups` is `length` readable bytes of GROUP_AFFINITY entries,
    // the array class 14 takes.
    cvt(unsafe {
        b::SetInformationJobObject(
            raw(job),
            b::JobObjectGroupInformationEx,
            groups.as_ptr().cast(),
            length,
        )
    })
}

/// `QueryInformationJobObject(JobObjectGroupInformationEx)`, the buffer
/// growing until the whole array fits.
pub(super) fn query_group_information_ex(
    job: BorrowedHandle<'_>,
) -> io::Result<Vec<b::GROUP_AFFINITY>> {
    let entry = mem::size_of::<b::GROUP_AFFINITY>();
    let mut capacity = 4usize;
    loop {
        let mut groups = vec![b::GROUP_AFFINITY::default(); capacity];
        let length = u32::try_from(mem::size_of_val(groups.as_slice()))
            .map_err(|_| io::Error::other("the group affinity list is too large"))?;
        let mut returned = 0u32;
        // SAFETY: `groups` is `length` writable bytes, aligned for
        // GROUP_AFFINITY; `returned` is a valid out pointer.
        let ok = unsafe {
            b::QueryInformationJobObject(
                raw(job),
                b::JobObjectGroupInformationEx,
                groups.as_mut_ptr().cast(),
                length,
                &mut returned,
            )
        };
        match cvt(ok) {
            Ok(()) => {
                let count = usize::try_from(returned).unwrap_or(usize::MAX) / entry;
                groups.truncate(count);
                return Ok(groups);
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(ERROR_MORE_DATA | ERROR_INSUFFICIENT_BUFFER)
                ) && capacity < 1024 =>
            {
                capacity *= 4;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The I/O rate control functions of kernel32, found at run time: Windows
/// documents them as unsupported from Windows 10 1607 on, and Wine 8.0 lacks
/// them, so importing them would keep every program from loading there.
struct IoRateFunctions {
    set: b::SetIoRateControlInformationJobObject,
    query: b::QueryIoRateControlInformationJobObject,
    free: b::FreeMemoryJobObject,
}

fn io_rate_functions() -> Option<&'static IoRateFunctions> {
    static FUNCTIONS: OnceLock<Option<IoRateFunctions>> = OnceLock::new();
    FUNCTIONS
        .get_or_init(|| {
            let name = WideCString::new("kernel32.dll")?;
            // SAFETY: the name is NUL-terminated; kernel32 is loaded in every
            // process and never unloaded.
            let module = unsafe { b::GetModuleHandleW(name.as_ptr()) };
            if module.is_null() {
                return None;
            }
            let find = |symbol: &CStr| {
                // SAFETY: `module` is loaded; `symbol` is NUL-terminated.
                unsafe { b::GetProcAddress(module, symbol.as_ptr().cast()) }
            };
            let set = find(c"SetIoRateControlInformationJobObject")?;
            let query = find(c"QueryIoRateControlInformationJobObject")?;
            let free = find(c"FreeMemoryJobObject")?;
            type Farproc = unsafe extern "system" fn() -> isize;
            Some(IoRateFunctions {
                // SAFETY: kernel32's SetIoRateControlInformationJobObject has
                // the signature of the generated alias; only the type changes.
                set: unsafe {
                    mem::transmute::<Farproc, b::SetIoRateControlInformationJobObject>(set)
                },
                // SAFETY: likewise for QueryIoRateControlInformationJobObject.
                query: unsafe {
                    mem::transmute::<Farproc, b::QueryIoRateControlInformationJobObject>(query)
                },
                // SAFETY: likewise for FreeMemoryJobObject.
                free: unsafe { mem::transmute::<Farproc, b::FreeMemoryJobObject>(free) },
            })
        })
        .as_ref()
}

/// `SetIoRateControlInformationJobObject(job, info)` with `VolumeName` set
/// to `volume` (or NULL). `None` when this system has no such function.
pub(super) fn set_io_rate_control_information_job_object(
    job: BorrowedHandle<'_>,
    info: &b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION,
    volume: Option<&WideCString>,
) -> Option<io::Result<()>> {
    let functions = io_rate_functions()?;
    let info = b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION {
        VolumeName: volume.map_or(ptr::null(), WideCString::as_ptr),
        ..*info
    };
    // SAFETY: `info` is a valid structure whose volume name (if any) is
    // NUL-terminated and outlives the call.
    let result = unsafe { (functions.set)(raw(job), &info) };
    // Documented: nonzero on success, zero and GetLastError on failure.
    Some(if result == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    })
}

/// One block of `QueryIoRateControlInformationJobObject`: the structure with
/// `VolumeName` cleared, and that name (empty for all volumes).
pub(super) type IoRateBlock = (b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION, String);

/// `QueryIoRateControlInformationJobObject(job, NULL, ..)`: every block.
/// `None` when this system has no such function.
pub(super) fn query_io_rate_control_information_job_object(
    job: BorrowedHandle<'_>,
) -> Option<io::Result<Vec<IoRateBlock>>> {
    let functions = io_rate_functions()?;
    let mut blocks: *mut b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION = ptr::null_mut();
    let mut count = 0u32;
    // SAFETY: both out pointers are valid; a NULL volume asks for all.
    let result = unsafe { (functions.query)(raw(job), ptr::null(), &mut blocks, &mut count) };
    if result == 0 {
        return Some(Err(io::Error::last_os_error()));
    }
    if blocks.is_null() {
        return Some(Ok(Vec::new()));
    }
    let count = usize::try_from(count).unwrap_or(0);
    // SAFETY: the system allocated `count` blocks at `blocks`, valid and not
    // written to until FreeMemoryJobObject below, after the last use.
    let allocated = unsafe { std::slice::from_raw_parts(blocks, count) };
    let mut out = Vec::with_capacity(count);
    for &block in allocated {
        let mut units = Vec::new();
        let mut unit_ptr = block.VolumeName;
        while !unit_ptr.is_null() {
            // SAFETY: the volume name is NUL-terminated and lives in the same
            // allocation; the loop stops at the NUL, before its end.
            let unit = unsafe { *unit_ptr };
            if unit == 0 {
                break;
            }
            units.push(unit);
            unit_ptr = unit_ptr.wrapping_add(1);
        }
        let block = b::JOBOBJECT_IO_RATE_CONTROL_INFORMATION {
            VolumeName: ptr::null(),
            ..block
        };
        out.push((block, String::from_utf16_lossy(&units)));
    }
    // SAFETY: `blocks` came from the query above and is freed once; nothing
    // points into it any more (the names were copied, the pointers cleared).
    unsafe { (functions.free)(blocks.cast()) };
    Some(Ok(out))
}

/// `GetPriorityClass(process)`.
pub(crate) fn get_priority_class(process: BorrowedHandle<'_>) -> io::Result<u32> {
    // SAFETY: the handle is valid for the duration of the call.
    match unsafe { b::GetPriorityClass(raw(process)) } {
        0 => Err(io::Error::last_os_error()),
        class => Ok(class),
    }
}

/// `GetProcessAffinityMask(process)`: the process's mask and the system's.
pub(crate) fn get_process_affinity_mask(process: BorrowedHandle<'_>) -> io::Result<(usize, usize)> {
    let (mut mine, mut system) = (0usize, 0usize);
    // SAFETY: the handle is valid; both out pointers are valid.
    cvt(unsafe { b::GetProcessAffinityMask(raw(process), &mut mine, &mut system) })?;
    Ok((mine, system))
}

/// `SetInformationJobObject(JobObjectAssociateCompletionPortInformation)`:
/// the job posts its notifications to `port` with completion key `key`.
pub(crate) fn associate_completion_port(
    job: BorrowedHandle<'_>,
    port: BorrowedHandle<'_>,
    key: usize,
) -> io::Result<()> {
    let info = b::JOBOBJECT_ASSOCIATE_COMPLETION_PORT {
        // The key is an opaque number, carried in a pointer-typed field.
        CompletionKey: ptr::without_provenance_mut(key),
        CompletionPort: raw(port),
    };
    set_information_job_object(job, &info)
}

/// `QueryInformationJobObject(JobObjectBasicAccountingInformation)
/// .ActiveProcesses`: how many processes in the job are running.
pub(crate) fn active_processes(job: BorrowedHandle<'_>) -> io::Result<u32> {
    let info: b::JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = query_information_job_object(job)?;
    Ok(info.ActiveProcesses)
}

/// One answer of `QueryInformationJobObject(JobObjectBasicProcessIdList)`.
pub(crate) struct ProcessIdList {
    /// `NumberOfAssignedProcesses`: how many processes the job had.
    pub(crate) assigned: u32,
    /// The ids that fitted (`NumberOfProcessIdsInList` of them).
    pub(crate) ids: Vec<usize>,
    /// The call failed with `ERROR_MORE_DATA`: the buffer was too small.
    pub(crate) more_data: bool,
}

/// `QueryInformationJobObject(JobObjectBasicProcessIdList)` with room for
/// `capacity` (at least 1) ids.
///
/// The structure has a variable-length tail of `ULONG_PTR`s after two `u32`
/// counts; the buffer is a `Vec<usize>`, so it has the structure's alignment.
pub(crate) fn query_process_id_list(
    job: BorrowedHandle<'_>,
    capacity: usize,
) -> io::Result<ProcessIdList> {
    const HEADER_BYTES: usize = mem::offset_of!(b::JOBOBJECT_BASIC_PROCESS_ID_LIST, ProcessIdList);
    const HEADER_WORDS: usize = HEADER_BYTES / mem::size_of::<usize>();
    const _: () = assert!(HEADER_BYTES == 8 && HEADER_WORDS * mem::size_of::<usize>() == 8);
    const _: () =
        assert!(mem::align_of::<b::JOBOBJECT_BASIC_PROCESS_ID_LIST>() <= mem::align_of::<usize>());

    let too_big = || io::Error::other(format!("a list of {capacity} process ids is too large"));
    let words = capacity
        .max(1)
        .checked_add(HEADER_WORDS)
        .ok_or_else(too_big)?;
    let bytes = words
        .checked_mul(mem::size_of::<usize>())
        .ok_or_else(too_big)?;
    let length = u32::try_from(bytes).map_err(|_| too_big())?;
    let mut buffer = vec![0usize; words];

    // SAFETY: `buffer` is `length` writable bytes, aligned for the structure
    // (checked above); the returned-length out-parameter is optional.
    let ok = unsafe {
        b::QueryInformationJobObject(
            raw(job),
            b::JobObjectBasicProcessIdList,
            buffer.as_mut_ptr().cast(),
            length,
            ptr::null_mut(),
        )
    };
    let more_data = match cvt(ok) {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(ERROR_MORE_DATA) => true,
        Err(e) => return Err(e),
    };

    // The two counts, read from the header words' bytes (no pointer casts).
    let mut header = [0u8; HEADER_BYTES];
    for (chunk, word) in header.chunks_mut(mem::size_of::<usize>()).zip(&buffer) {
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    let assigned = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
    let in_list = u32::from_ne_bytes([header[4], header[5], header[6], header[7]]);
    let in_list = usize::try_from(in_list)
        .unwrap_or(usize::MAX)
        .min(words - HEADER_WORDS);
    buffer.drain(..HEADER_WORDS);
    buffer.truncate(in_list);
    Ok(ProcessIdList {
        assigned,
        ids: buffer,
        more_data,
    })
}

/// `CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1)`: a new port
/// not yet tied to any file, served by one thread.
pub(crate) fn create_io_completion_port() -> io::Result<OwnedHandle> {
    let invalid: b::HANDLE = ptr::without_provenance_mut(usize::MAX);
    // SAFETY: INVALID_HANDLE_VALUE with a NULL existing port asks for a new
    // port; no pointer is passed.
    let port = unsafe { b::CreateIoCompletionPort(invalid, ptr::null_mut(), 0, 1) };
    // SAFETY: CreateIoCompletionPort returns NULL or a new handle that we own.
    unsafe { owned_or_null(port) }
}

/// One completion packet, as plain numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    /// `lpCompletionKey`.
    pub(crate) key: usize,
    /// `dwNumberOfBytesTransferred`: for a job, the `JOB_OBJECT_MSG_*` id.
    pub(crate) bytes: u32,
    /// The address in `lpOverlapped`: for a job, the process id (or 0).
    pub(crate) overlapped: usize,
}

/// `GetQueuedCompletionStatusEx(port, .., timeout, FALSE)`: waits until at
/// least one packet arrives, then appends up to 16 of them to `out`. With a
/// `timeout` (`None`: `INFINITE`; rounded up to whole milliseconds, capped
/// just below `INFINITE`), returns `Ok` with nothing appended when it passes.
/// A zero timeout only takes what is already queued.
pub(crate) fn get_queued_completion_status_ex(
    port: BorrowedHandle<'_>,
    out: &mut Vec<Completion>,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let milliseconds = match timeout {
        None => b::INFINITE,
        Some(t) => {
            let rounded = t.as_micros().div_ceil(1000);
            u32::try_from(rounded).map_or(b::INFINITE - 1, |ms| ms.min(b::INFINITE - 1))
        }
    };
    let mut entries = [b::OVERLAPPED_ENTRY::default(); 16];
    let capacity = u32::try_from(entries.len()).unwrap_or(1);
    let mut removed = 0u32;
    // SAFETY: `entries` has room for `capacity` entries; `removed` is a valid
    // out pointer; the wait is not alertable.
    let result = cvt(unsafe {
        b::GetQueuedCompletionStatusEx(
            raw(port),
            entries.as_mut_ptr(),
            capacity,
            &mut removed,
            milliseconds,
            0,
        )
    });
    match result {
        Ok(()) => {}
        Err(e) if timeout.is_some() && e.raw_os_error() == Some(WAIT_TIMEOUT) => return Ok(()),
        Err(e) => return Err(e),
    }
    let removed = usize::try_from(removed)
        .unwrap_or(usize::MAX)
        .min(entries.len());
    out.extend(entries[..removed].iter().map(|entry| Completion {
        key: entry.lpCompletionKey,
        bytes: entry.dwNumberOfBytesTransferred,
        overlapped: entry.lpOverlapped.addr(),
    }));
    Ok(())
}

/// `PostQueuedCompletionStatus(port, bytes, key, NULL)`.
pub(crate) fn post_queued_completion_status(
    port: BorrowedHandle<'_>,
    key: usize,
    bytes: u32,
) -> io::Result<()> {
    // SAFETY: the handle is valid; no OVERLAPPED is passed.
    cvt(unsafe { b::PostQueuedCompletionStatus(raw(port), bytes, key, ptr::null()) })
}

/// `OpenProcess(access, FALSE, pid)`.
pub(crate) fn open_process(access: u32, pid: u32) -> io::Result<OwnedHandle> {
    // SAFETY: no pointer is passed.
    let handle = unsafe { b::OpenProcess(access, 0, pid) };
    // SAFETY: OpenProcess returns NULL or a new handle that we own.
    unsafe { owned_or_null(handle) }
}

/// `QueryFullProcessImageNameW(process, 0, ...)`: the full path of the
/// process's executable, in Win32 form.
pub(crate) fn query_full_process_image_name_w(
    process: BorrowedHandle<'_>,
) -> io::Result<std::ffi::OsString> {
    use std::os::windows::ffi::OsStringExt;
    // Long paths (`\\?\` prefixes) fit in 32 767 UTF-16 units.
    let mut buffer = vec![0u16; 1024];
    loop {
        let mut size = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        // SAFETY: the handle is valid; `buffer` holds `size` writable units;
        // `size` is a valid in/out pointer.
        let done = unsafe {
            b::QueryFullProcessImageNameW(raw(process), 0, buffer.as_mut_ptr(), &mut size)
        };
        if done != 0 {
            let length = usize::try_from(size).unwrap_or(0).min(buffer.len());
            return Ok(std::ffi::OsString::from_wide(&buffer[..length]));
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(ERROR_INSUFFICIENT_BUFFER) || buffer.len() >= 32_768 {
            return Err(error);
        }
        buffer.resize(buffer.len() * 4, 0);
    }
}

/// `GetProcessTimes`: (user, kernel) CPU time of a process.
pub(crate) fn get_process_times(process: BorrowedHandle<'_>) -> io::Result<(Duration, Duration)> {
    let mut creation = b::FILETIME::default();
    let mut exit = b::FILETIME::default();
    let mut kernel = b::FILETIME::default();
    let mut user = b::FILETIME::default();
    // SAFETY: the handle is valid; the four out pointers are valid FILETIMEs.
    cvt(unsafe {
        b::GetProcessTimes(
            raw(process),
            &mut creation,
            &mut exit,
            &mut kernel,
            &mut user,
        )
    })?;
    let ticks = |t: b::FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    Ok((
        duration_from_100ns(ticks(user)),
        duration_from_100ns(ticks(kernel)),
    ))
}

fn duration_from_100ns(ticks: u64) -> Duration {
    Duration::new(
        ticks / 10_000_000,
        u32::try_from(ticks % 10_000_000).unwrap_or(0) * 100,
    )
}

/// `GetProcessMemoryInfo` (`K32GetProcessMemoryInfo` in kernel32): the
/// process's working set, in bytes.
pub(crate) fn get_process_working_set(process: BorrowedHandle<'_>) -> io::Result<u64> {
    let mut counters = b::PROCESS_MEMORY_COUNTERS::default();
    let size = u32::try_from(mem::size_of::<b::PROCESS_MEMORY_COUNTERS>()).unwrap_or(u32::MAX);
    counters.cb = size;
    // SAFETY: the handle is valid; `counters` is a writable structure of `size`
    // bytes.
    cvt(unsafe { b::GetProcessMemoryInfo(raw(process), &mut counters, size) })?;
    Ok(u64::try_from(counters.WorkingSetSize).unwrap_or(u64::MAX))
}

/// `GetExitCodeProcess`: `STILL_ACTIVE` while the process runs.
pub(crate) fn get_exit_code_process(process: BorrowedHandle<'_>) -> io::Result<u32> {
    let mut code = 0u32;
    // SAFETY: the handle is valid; `code` is a valid out pointer.
    cvt(unsafe { b::GetExitCodeProcess(raw(process), &mut code) })?;
    Ok(code)
}

/// `GetProcessHandleCount(GetCurrentProcess())`: how many handles this
/// process has open (for the tests that check nothing leaks).
#[cfg(test)]
pub(crate) fn get_process_handle_count() -> io::Result<u32> {
    let mut count = 0u32;
    // SAFETY: the pseudo-handle is always valid; `count` is a valid out
    // pointer.
    cvt(unsafe { b::GetProcessHandleCount(raw(get_current_process()), &mut count) })?;
    Ok(count)
}

/// `GetCurrentProcess()`: the pseudo-handle of the calling process, valid for
/// ever and never closed.
pub(crate) fn get_current_process() -> BorrowedHandle<'static> {
    // SAFETY: no arguments; the call cannot fail.
    let handle: RawHandle = unsafe { b::GetCurrentProcess() };
    // SAFETY: the pseudo-handle (-1) is valid for the life of the process and
    // must not be closed, which a `BorrowedHandle` never does.
    unsafe { BorrowedHandle::borrow_raw(handle) }
}

/// `OpenThread(access, FALSE, tid)`.
pub(crate) fn open_thread(access: u32, tid: u32) -> io::Result<OwnedHandle> {
    // SAFETY: no pointer is passed.
    let handle = unsafe { b::OpenThread(access, 0, tid) };
    // SAFETY: OpenThread returns NULL or a new handle that we own.
    unsafe { owned_or_null(handle) }
}

/// `ResumeThread`: returns the thread's previous suspend count.
pub(crate) fn resume_thread(thread: BorrowedHandle<'_>) -> io::Result<u32> {
    // SAFETY: the handle is valid for the duration of the call.
    let previous = unsafe { b::ResumeThread(raw(thread)) };
    if previous == u32::MAX {
        Err(io::Error::last_os_error())
    } else {
        Ok(previous)
    }
}

/// The ids of the threads of process `pid`, from a Toolhelp snapshot
/// (`CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD)`, `Thread32First/Next`).
pub(crate) fn thread_ids_of(pid: u32) -> io::Result<Vec<u32>> {
    // SAFETY: no pointer is passed.
    let snapshot = unsafe { b::CreateToolhelp32Snapshot(b::TH32CS_SNAPTHREAD.cast_unsigned(), 0) };
    if snapshot.addr() == usize::MAX {
        // INVALID_HANDLE_VALUE
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the snapshot is a new handle that we own and close once.
    let snapshot = unsafe { OwnedHandle::from_raw_handle(snapshot) };
    let mut entry = b::THREADENTRY32 {
        dwSize: win32_size_of::<b::THREADENTRY32>(),
        ..Default::default()
    };
    let mut ids = Vec::new();
    // SAFETY: the snapshot handle is valid; `entry` is a THREADENTRY32 with
    // `dwSize` set, as the call requires.
    let mut next = cvt(unsafe { b::Thread32First(raw(snapshot.as_handle()), &mut entry) });
    loop {
        match next {
            Ok(()) => {
                if entry.th32OwnerProcessID == pid {
                    ids.push(entry.th32ThreadID);
                }
            }
            Err(e) if e.raw_os_error() == Some(ERROR_NO_MORE_FILES) => return Ok(ids),
            Err(e) => return Err(e),
        }
        // SAFETY: as for Thread32First.
        next = cvt(unsafe { b::Thread32Next(raw(snapshot.as_handle()), &mut entry) });
    }
}

/// `NtResumeProcess` from ntdll: resumes every thread of a process. Not in
/// the Win32 metadata (it is an undocumented native call), so its type is
/// written here: `NTSTATUS NtResumeProcess(HANDLE ProcessHandle)`.
type NtResumeProcessFn = unsafe extern "system" fn(process: b::HANDLE) -> i32;

/// The address of an export of ntdll, or `None`.
fn ntdll_export(name: &CStr) -> b::FARPROC {
    let ntdll = WideCString::new("ntdll.dll")?;
    // SAFETY: the name is NUL-terminated. ntdll is loaded in every process
    // and never unloaded, so the module handle stays valid.
    let module = unsafe { b::GetModuleHandleW(ntdll.as_ptr()) };
    if module.is_null() {
        return None;
    }
    // SAFETY: `module` is a loaded module; `name` is NUL-terminated.
    unsafe { b::GetProcAddress(module, name.as_ptr().cast()) }
}

/// `NtResumeProcess(process)`, resolved once with `GetProcAddress`. `None`
/// when ntdll does not export it.
pub(crate) fn nt_resume_process(process: BorrowedHandle<'_>) -> Option<io::Result<()>> {
    static RESOLVED: OnceLock<Option<NtResumeProcessFn>> = OnceLock::new();
    let resume = (*RESOLVED.get_or_init(|| {
        let address = ntdll_export(c"NtResumeProcess")?;
        // SAFETY: ntdll's NtResumeProcess has the signature of
        // `NtResumeProcessFn`; only the pointer's type changes.
        Some(unsafe {
            mem::transmute::<unsafe extern "system" fn() -> isize, NtResumeProcessFn>(address)
        })
    }))?;
    // SAFETY: `resume` is NtResumeProcess; the handle is valid for the call.
    let status = unsafe { resume(raw(process)) };
    Some(if status >= 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "NtResumeProcess failed with NTSTATUS {:#010X}",
            status.cast_unsigned()
        )))
    })
}

/// The version string of Wine (`wine_get_version` in ntdll), or `None` when
/// not running under Wine.
pub(crate) fn wine_version() -> Option<String> {
    type WineGetVersion = unsafe extern "C" fn() -> *const std::ffi::c_char;
    let address = ntdll_export(c"wine_get_version")?;
    // SAFETY: Wine's `const char *wine_get_version(void)`; only the pointer's
    // type changes.
    let get =
        unsafe { mem::transmute::<unsafe extern "system" fn() -> isize, WineGetVersion>(address) };
    // SAFETY: takes no arguments; returns a static string or NULL.
    let version = unsafe { get() };
    if version.is_null() {
        return Some(String::from("(unknown version)"));
    }
    // SAFETY: a non-NULL result is a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(version) };
    Some(version.to_string_lossy().into_owned())
}

/// `GenerateConsoleCtrlEvent(event, group)`.
pub(crate) fn generate_console_ctrl_event(event: u32, group: u32) -> io::Result<()> {
    // SAFETY: no pointer is passed.
    cvt(unsafe { b::GenerateConsoleCtrlEvent(event, group) })
}

/// The three user32 functions `stop` needs, found at run time.
///
/// user32 is loaded only when first needed (`LoadLibraryExW` from system32),
/// not imported: a process that imports it pays for its initialisation at
/// every start (under Wine it doubles the start-up time of a small program),
/// and every program that links winjob would pay, though few ever stop a
/// job. Once loaded it stays loaded.
struct User32 {
    enum_windows: b::EnumWindows,
    get_window_thread_process_id: b::GetWindowThreadProcessId,
    post_message_w: b::PostMessageW,
}

/// user32, loaded and resolved once; `None` where it cannot be loaded.
fn user32() -> Option<&'static User32> {
    static USER32: OnceLock<Option<User32>> = OnceLock::new();
    USER32
        .get_or_init(|| {
            let name = WideCString::new("user32.dll")?;
            // SAFETY: the name is NUL-terminated; no file handle is passed;
            // the flag restricts the search to system32.
            let module = unsafe {
                b::LoadLibraryExW(
                    name.as_ptr(),
                    ptr::null_mut(),
                    b::LOAD_LIBRARY_SEARCH_SYSTEM32.cast_unsigned(),
                )
            };
            if module.is_null() {
                return None;
            }
            // SAFETY: `module` is loaded and never freed; the name is
            // NUL-terminated.
            let enum_windows =
                unsafe { b::GetProcAddress(module, c"EnumWindows".as_ptr().cast()) }?;
            // SAFETY: as above.
            let get_pid =
                unsafe { b::GetProcAddress(module, c"GetWindowThreadProcessId".as_ptr().cast()) }?;
            // SAFETY: as above.
            let post = unsafe { b::GetProcAddress(module, c"PostMessageW".as_ptr().cast()) }?;
            type Farproc = unsafe extern "system" fn() -> isize;
            Some(User32 {
                // SAFETY: user32's EnumWindows has the signature of the
                // `b::EnumWindows` alias; only the pointer's type changes.
                enum_windows: unsafe { mem::transmute::<Farproc, b::EnumWindows>(enum_windows) },
                // SAFETY: likewise for GetWindowThreadProcessId.
                get_window_thread_process_id: unsafe {
                    mem::transmute::<Farproc, b::GetWindowThreadProcessId>(get_pid)
                },
                // SAFETY: likewise for PostMessageW.
                post_message_w: unsafe { mem::transmute::<Farproc, b::PostMessageW>(post) },
            })
        })
        .as_ref()
}

/// A top-level window, as found by [`enum_windows`]. Only good for the calls
/// below, and only while the window exists (a stale one makes them fail).
pub(crate) struct Window {
    handle: b::HWND,
    user32: &'static User32,
}

/// The callback of `EnumWindows`: appends each window to the
/// `Vec<b::HWND>` whose address is in `lparam`.
unsafe extern "system" fn collect_window(window: b::HWND, lparam: b::LPARAM) -> b::BOOL {
    let list = ptr::with_exposed_provenance_mut::<Vec<b::HWND>>(lparam.cast_unsigned());
    // SAFETY: `lparam` is the address of the `Vec` that `enum_windows` lends
    // for the duration of EnumWindows, which calls back on the same thread.
    let list = unsafe { &mut *list };
    list.push(window);
    1
}

/// `EnumWindows`: every top-level window on the desktop.
pub(crate) fn enum_windows() -> io::Result<Vec<Window>> {
    let user32 = user32().ok_or_else(|| {
        crate::error::unsupported("user32.dll cannot be loaded here, so there are no windows")
    })?;
    let mut list: Vec<b::HWND> = Vec::new();
    let lparam = ptr::from_mut(&mut list).expose_provenance().cast_signed();
    // SAFETY: the callback only touches `list` through `lparam`, and `list`
    // outlives the call; EnumWindows does not keep the callback.
    cvt(unsafe { (user32.enum_windows)(Some(collect_window), lparam) })?;
    Ok(list
        .into_iter()
        .map(|handle| Window { handle, user32 })
        .collect())
}

/// `GetWindowThreadProcessId`: the id of the process that created the
/// window, or `None` if the window is gone.
pub(crate) fn get_window_thread_process_id(window: &Window) -> Option<u32> {
    let mut pid = 0u32;
    // SAFETY: `pid` is a valid out pointer; a stale window handle only makes
    // the call fail (return 0).
    let thread = unsafe { (window.user32.get_window_thread_process_id)(window.handle, &mut pid) };
    (thread != 0).then_some(pid)
}

/// `PostMessageW(window, WM_CLOSE, 0, 0)`.
pub(crate) fn post_close_message(window: &Window) -> io::Result<()> {
    // SAFETY: WM_CLOSE carries no pointers; a stale window handle only makes
    // the call fail.
    cvt(unsafe { (window.user32.post_message_w)(window.handle, b::WM_CLOSE.cast_unsigned(), 0, 0) })
}

// ---------------------------------------------------------------------------
// Process creation (winjob's own `Command`, `spawn/native.rs`)

pub(crate) const CREATE_UNICODE_ENVIRONMENT: u32 = b::CREATE_UNICODE_ENVIRONMENT.cast_unsigned();
pub(crate) const STD_INPUT_HANDLE: u32 = b::STD_INPUT_HANDLE;
pub(crate) const STD_OUTPUT_HANDLE: u32 = b::STD_OUTPUT_HANDLE;
pub(crate) const STD_ERROR_HANDLE: u32 = b::STD_ERROR_HANDLE;

/// What [`create_process_w`] starts.
pub(crate) struct NewProcess<'a> {
    /// The file to run, NUL-terminated (`lpApplicationName`).
    pub(crate) application: &'a [u16],
    /// The command line, NUL-terminated; `CreateProcessW` may write to it.
    pub(crate) command_line: &'a mut [u16],
    /// `dwCreationFlags`; `EXTENDED_STARTUPINFO_PRESENT` and
    /// `CREATE_UNICODE_ENVIRONMENT` are added.
    pub(crate) flags: u32,
    /// A double-NUL-terminated UTF-16 environment block, or `None` for this
    /// process's environment.
    pub(crate) environment: Option<&'a [u16]>,
    /// The working directory, NUL-terminated.
    pub(crate) current_dir: Option<&'a [u16]>,
    /// The child's standard input, output and error (inheritable handles;
    /// `None` for one it has not), or none at all (the OS default).
    pub(crate) stdio: Option<[Option<BorrowedHandle<'a>>; 3]>,
    /// The job the process is created in (`PROC_THREAD_ATTRIBUTE_JOB_LIST`).
    pub(crate) job: Option<BorrowedHandle<'a>>,
}

/// A process created by [`create_process_w`].
pub(crate) struct CreatedProcess {
    pub(crate) process: OwnedHandle,
    pub(crate) thread: OwnedHandle,
    pub(crate) pid: u32,
}

/// An initialized `PROC_THREAD_ATTRIBUTE_LIST`, deleted on drop. The values
/// it points to must outlive it (they are borrowed by the caller's frame).
struct AttributeList {
    /// `usize` for the alignment the list needs.
    buffer: Vec<usize>,
}

impl AttributeList {
    fn new(count: u32) -> io::Result<AttributeList> {
        let mut size: usize = 0;
        // SAFETY: a size query: a NULL list and a valid out pointer; it fails
        // with ERROR_INSUFFICIENT_BUFFER and writes the size needed.
        let _ =
            unsafe { b::InitializeProcThreadAttributeList(ptr::null_mut(), count, 0, &mut size) };
        if size == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buffer = vec![0usize; size.div_ceil(mem::size_of::<usize>())];
        // SAFETY: `buffer` holds at least `size` bytes, aligned for a pointer.
        cvt(unsafe {
            b::InitializeProcThreadAttributeList(buffer.as_mut_ptr().cast(), count, 0, &mut size)
        })?;
        Ok(AttributeList { buffer })
    }

    fn as_ptr(&mut self) -> b::LPPROC_THREAD_ATTRIBUTE_LIST {
        self.buffer.as_mut_ptr().cast()
    }

    /// `UpdateProcThreadAttribute(attribute, values)`.
    ///
    /// # Safety
    ///
    /// `values` must outlive every use of the list (the call stores the
    /// pointer, not the values).
    unsafe fn set(&mut self, attribute: i32, values: &[b::HANDLE]) -> io::Result<()> {
        let attribute = usize::try_from(attribute.cast_unsigned())
            .map_err(|_| io::Error::other("attribute number out of range"))?;
        let list = self.as_ptr();
        // SAFETY: `list` was initialized with room for this attribute;
        // `values` points to `size_of_val(values)` bytes of handles, which the
        // caller keeps alive as long as the list is used.
        cvt(unsafe {
            b::UpdateProcThreadAttribute(
                list,
                0,
                attribute,
                values.as_ptr().cast(),
                mem::size_of_val(values),
                ptr::null_mut(),
                ptr::null(),
            )
        })
    }
}

impl Drop for AttributeList {
    fn drop(&mut self) {
        let list = self.as_ptr();
        // SAFETY: the list was initialized by `new` and is deleted once.
        unsafe { b::DeleteProcThreadAttributeList(list) };
    }
}

/// `CreateProcessW` with a `STARTUPINFOEXW` whose attribute list names the
/// job (`PROC_THREAD_ATTRIBUTE_JOB_LIST`) and the only handles the child
/// inherits (`PROC_THREAD_ATTRIBUTE_HANDLE_LIST`: its three standard
/// handles, without duplicates), so that a concurrent spawn in this process
/// cannot leak a handle into this child or the reverse.
pub(crate) fn create_process_w(new: NewProcess<'_>) -> io::Result<CreatedProcess> {
    if new.application.last() != Some(&0) || new.command_line.last() != Some(&0) {
        return Err(io::Error::other(
            "create_process_w: strings must be NUL-terminated",
        ));
    }
    let mut inherited: Vec<b::HANDLE> = Vec::with_capacity(3);
    if let Some(stdio) = &new.stdio {
        for handle in stdio.iter().flatten() {
            let raw = raw(*handle);
            // A console pseudo-handle of Windows 7 (low bits 0b11) cannot be
            // in the list (ERROR_NO_SYSTEM_RESOURCES); it is inherited as
            // std inherits it. Real handles are multiples of 4.
            let pseudo = raw.addr() & 3 == 3;
            if !pseudo && !inherited.contains(&raw) {
                inherited.push(raw);
            }
        }
    }
    let job: Vec<b::HANDLE> = new.job.iter().map(|j| raw(*j)).collect();
    let count = u32::from(!inherited.is_empty()) + u32::from(!job.is_empty());
    let mut list = if count > 0 {
        Some(AttributeList::new(count)?)
    } else {
        None
    };
    if let Some(list) = list.as_mut() {
        if !job.is_empty() {
            // SAFETY: `job` lives until this function returns, after the
            // list's last use.
            unsafe { list.set(b::PROC_THREAD_ATTRIBUTE_JOB_LIST, &job)? };
        }
        if !inherited.is_empty() {
            // SAFETY: as above, for `inherited`.
            unsafe { list.set(b::PROC_THREAD_ATTRIBUTE_HANDLE_LIST, &inherited)? };
        }
    }
    let mut info = b::STARTUPINFOEXW::default();
    info.StartupInfo.cb = if list.is_some() {
        win32_size_of::<b::STARTUPINFOEXW>()
    } else {
        win32_size_of::<b::STARTUPINFOW>()
    };
    if let Some([input, output, error]) = &new.stdio {
        let or_null = |h: &Option<BorrowedHandle<'_>>| h.map_or(ptr::null_mut(), raw);
        info.StartupInfo.dwFlags |= b::STARTF_USESTDHANDLES.cast_unsigned();
        info.StartupInfo.hStdInput = or_null(input);
        info.StartupInfo.hStdOutput = or_null(output);
        info.StartupInfo.hStdError = or_null(error);
    }
    if let Some(list) = list.as_mut() {
        info.lpAttributeList = list.as_ptr();
    }
    let mut flags = new.flags | CREATE_UNICODE_ENVIRONMENT;
    if list.is_some() {
        flags |= b::EXTENDED_STARTUPINFO_PRESENT.cast_unsigned();
    }
    let mut pi = b::PROCESS_INFORMATION::default();
    // SAFETY: the strings are NUL-terminated (checked above) and the command
    // line is writable; the environment block, if any, is double-NUL
    // terminated UTF-16 (built by the caller) and flagged as such; `info` is
    // a STARTUPINFOEXW with `cb` set to its size, whose attribute list and
    // handles outlive the call; `pi` is a valid out pointer. Handles are
    // inherited only if listed, but for Windows 7's console pseudo-handles,
    // which are never in the list.
    let ok = unsafe {
        b::CreateProcessW(
            new.application.as_ptr(),
            new.command_line.as_mut_ptr(),
            ptr::null(),
            ptr::null(),
            b::BOOL::from(new.stdio.is_some()),
            flags,
            new.environment.map_or(ptr::null(), |e| e.as_ptr().cast()),
            new.current_dir.map_or(ptr::null(), <[u16]>::as_ptr),
            (&raw const info).cast(),
            &mut pi,
        )
    };
    cvt(ok)?;
    drop(list);
    // SAFETY: on success both handles are new and ours to close.
    let process = unsafe { OwnedHandle::from_raw_handle(pi.hProcess) };
    // SAFETY: as above.
    let thread = unsafe { OwnedHandle::from_raw_handle(pi.hThread) };
    Ok(CreatedProcess {
        process,
        thread,
        pid: pi.dwProcessId,
    })
}

/// `WaitForSingleObject`: true once `handle` is signalled, false at the
/// timeout (`None`: no timeout).
pub(crate) fn wait_for_single_object(
    handle: BorrowedHandle<'_>,
    timeout: Option<Duration>,
) -> io::Result<bool> {
    let ms = match timeout {
        None => b::INFINITE,
        // Just under INFINITE at most; rounded up, so that a wait never
        // returns before its time.
        Some(t) => u32::try_from(t.as_nanos().div_ceil(1_000_000))
            .unwrap_or(b::INFINITE - 1)
            .min(b::INFINITE - 1),
    };
    // SAFETY: the handle is valid for the duration of the call.
    let result = unsafe { b::WaitForSingleObject(raw(handle), ms) };
    match result {
        r if r == b::WAIT_OBJECT_0.cast_unsigned() => Ok(true),
        r if r == WAIT_TIMEOUT.cast_unsigned() => Ok(false),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `TerminateProcess`.
pub(crate) fn terminate_process(process: BorrowedHandle<'_>, exit_code: u32) -> io::Result<()> {
    // SAFETY: the handle is valid for the duration of the call.
    cvt(unsafe { b::TerminateProcess(raw(process), exit_code) })
}

/// `GetStdHandle`: this process's standard handle, `None` if it has none.
pub(crate) fn get_std_handle(which: u32) -> Option<BorrowedHandle<'static>> {
    // SAFETY: no pointer is involved.
    let handle = unsafe { b::GetStdHandle(which) };
    // INVALID_HANDLE_VALUE is -1.
    if handle.is_null() || handle.addr() == usize::MAX {
        return None;
    }
    // SAFETY: a standard handle stays open for the life of the process
    // unless the program closes it, which std's own spawn assumes too.
    Some(unsafe { BorrowedHandle::borrow_raw(handle) })
}

/// `DuplicateHandle` within this process, with the same access, as an
/// inheritable handle.
pub(crate) fn duplicate_inheritable(handle: BorrowedHandle<'_>) -> io::Result<OwnedHandle> {
    let this = get_current_process();
    let mut out: b::HANDLE = ptr::null_mut();
    // SAFETY: the handles are valid, `out` is a valid out pointer.
    cvt(unsafe {
        b::DuplicateHandle(
            raw(this),
            raw(handle),
            raw(this),
            &mut out,
            0,
            1,
            b::DUPLICATE_SAME_ACCESS.cast_unsigned(),
        )
    })?;
    // SAFETY: a new handle, ours to close.
    Ok(unsafe { OwnedHandle::from_raw_handle(out) })
}

/// `GetFileAttributesW`: `None` if the path does not exist (or cannot be
/// read).
pub(crate) fn get_file_attributes_w(path: &[u16]) -> Option<u32> {
    if path.last() != Some(&0) {
        return None;
    }
    // SAFETY: `path` is NUL-terminated.
    let attributes = unsafe { b::GetFileAttributesW(path.as_ptr()) };
    (attributes != b::INVALID_FILE_ATTRIBUTES).then_some(attributes)
}

/// A `W` function that fills a buffer and returns the length written, or
/// the size needed if the buffer is too small.
fn fill_wide(mut call: impl FnMut(*mut u16, u32) -> u32) -> io::Result<Vec<u16>> {
    let mut buffer = vec![0u16; 260];
    loop {
        let capacity = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        let n = call(buffer.as_mut_ptr(), capacity);
        if n == 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n < buffer.len() {
            buffer.truncate(n);
            return Ok(buffer);
        }
        // The size needed, or at least twice as much: never the same again.
        let grown = n.max(buffer.len().saturating_mul(2));
        buffer.resize(grown, 0);
    }
}

/// `GetSystemDirectoryW`, without a terminating NUL.
pub(crate) fn get_system_directory_w() -> io::Result<Vec<u16>> {
    // SAFETY: the buffer has `size` elements.
    fill_wide(|buf, size| unsafe { b::GetSystemDirectoryW(buf, size) })
}

/// `GetWindowsDirectoryW`, without a terminating NUL.
pub(crate) fn get_windows_directory_w() -> io::Result<Vec<u16>> {
    // SAFETY: the buffer has `size` elements.
    fill_wide(|buf, size| unsafe { b::GetWindowsDirectoryW(buf, size) })
}

/// `GetFullPathNameW` of a NUL-terminated path, without a terminating NUL.
pub(crate) fn get_full_path_name_w(path: &[u16]) -> io::Result<Vec<u16>> {
    if path.last() != Some(&0) {
        return Err(io::Error::other(
            "get_full_path_name_w: path must be NUL-terminated",
        ));
    }
    // SAFETY: `path` is NUL-terminated, the buffer has `size` elements, and
    // the file-part out pointer is optional (NULL).
    fill_wide(|buf, size| unsafe { b::GetFullPathNameW(path.as_ptr(), size, buf, ptr::null_mut()) })
}

/// `CompareStringOrdinal(a, b, ignore case)`: how Windows orders (and
/// matches) environment variable names.
pub(crate) fn compare_string_ordinal_ignore_case(a: &[u16], b_: &[u16]) -> std::cmp::Ordering {
    let len = |s: &[u16]| i32::try_from(s.len()).unwrap_or(i32::MAX);
    // SAFETY: each pointer is valid for the length given.
    let result = unsafe { b::CompareStringOrdinal(a.as_ptr(), len(a), b_.as_ptr(), len(b_), 1) };
    match result {
        r if r == b::CSTR_LESS_THAN => std::cmp::Ordering::Less,
        r if r == b::CSTR_GREATER_THAN => std::cmp::Ordering::Greater,
        r if r == b::CSTR_EQUAL => std::cmp::Ordering::Equal,
        // The call failed (it cannot for valid lengths): never merge two
        // names that differ.
        _ => a.cmp(b_),
    }
}

/// The buffer of each direction of a stdio pipe, as std's.
const PIPE_BUFFER: u32 = 64 * 1024;

/// A pipe for a child's standard stream, made as std makes its own: a named
/// pipe whose end in this process is overlapped (std's `ChildStdin` and
/// `ChildStdout` read and write with `ReadFileEx`/`WriteFileEx`, which need
/// that), and whose other end, for the child, is an ordinary synchronous
/// handle. `ours_reads`: this process reads (the child's stdout or stderr).
/// Returns (ours, theirs), neither inheritable.
pub(crate) fn create_stdio_pipe(ours_reads: bool) -> io::Result<(OwnedHandle, OwnedHandle)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let access = if ours_reads {
        b::PIPE_ACCESS_INBOUND
    } else {
        b::PIPE_ACCESS_OUTBOUND
    };
    let open_mode =
        (access | b::FILE_FLAG_FIRST_PIPE_INSTANCE | b::FILE_FLAG_OVERLAPPED).cast_unsigned();
    let pipe_mode =
        (b::PIPE_TYPE_BYTE | b::PIPE_READMODE_BYTE | b::PIPE_WAIT | b::PIPE_REJECT_REMOTE_CLIENTS)
            .cast_unsigned();
    let mut tries = 0;
    loop {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            r"\\.\pipe\__winjob_stdio_pipe__.{}.{}.{nonce}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        );
        let wide: Vec<u16> = name.encode_utf16().chain([0]).collect();
        // SAFETY: `wide` is NUL-terminated; one instance, 64 KiB buffers, the
        // default timeout, no security attributes (not inheritable).
        let handle = unsafe {
            b::CreateNamedPipeW(
                wide.as_ptr(),
                open_mode,
                pipe_mode,
                1,
                PIPE_BUFFER,
                PIPE_BUFFER,
                0,
                ptr::null(),
            )
        };
        // INVALID_HANDLE_VALUE (-1) on failure.
        if handle.addr() == usize::MAX || handle.is_null() {
            let e = io::Error::last_os_error();
            // Another pipe of that name exists (FILE_FLAG_FIRST_PIPE_INSTANCE).
            if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) && tries < 10 {
                tries += 1;
                continue;
            }
            return Err(e);
        }
        // SAFETY: a new handle, ours to close.
        let ours = unsafe { OwnedHandle::from_raw_handle(handle) };
        let theirs = std::fs::OpenOptions::new()
            .read(!ours_reads)
            .write(ours_reads)
            .open(&name)?;
        return Ok((ours, OwnedHandle::from(theirs)));
    }
}
