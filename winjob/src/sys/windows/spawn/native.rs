//! winjob's own `Command` on Windows: `CreateProcessW` with the process born
//! inside its job.
//!
//! # Strategy
//!
//! One `CreateProcessW` call, with a `STARTUPINFOEXW` whose attribute list
//! carries:
//!
//! - `PROC_THREAD_ATTRIBUTE_JOB_LIST`: the process is created in the job,
//!   so there is no moment in which it exists outside it, and nothing for a
//!   killed owner to leave behind (the suspended path of `spawn/mod.rs`
//!   leaves a suspended orphan if the owner dies between create and assign);
//! - `PROC_THREAD_ATTRIBUTE_HANDLE_LIST`: the child inherits its three
//!   standard handles and nothing else, so two threads spawning this way at
//!   once cannot leak a pipe into each other's child (std serializes its
//!   spawns with a lock for this instead).
//!
//! Everything else follows std's rules, so that a program behaves the same
//! started by either: the program lookup (`resolve`: a path as given, `.exe`
//! appended if that exists; a bare name searched in the child's `PATH` if
//! the command changed it, this program's directory, the system and Windows
//! directories, then this process's `PATH`), the quoting of the command line
//! and the running of `.bat`/`.cmd` files through `cmd.exe`, with the
//! arguments std refuses refused too (`command_line.rs`), the environment
//! block (names compared without case, sorted as Windows expects), and the
//! standard handles (inherited ones duplicated, `NUL`, and pipes made as
//! std makes them: a named pipe whose end here is overlapped, since std's
//! `ChildStdin`/`ChildStdout` use `WriteFileEx`/`ReadFileEx` on it, and
//! whose end in the child is synchronous).
//!
//! # Fallbacks
//!
//! Before Windows 10 the job attribute is refused (`ERROR_NOT_SUPPORTED`
//! from `UpdateProcThreadAttribute`, or `ERROR_INVALID_PARAMETER` from
//! `CreateProcessW`): the process is then created suspended, assigned, and
//! its main thread resumed; if that works, the rest of the process does the
//! same. That path has the owner-kill window of `spawn/mod.rs`. The
//! environment variable `WINJOB_WINDOWS_SPAWN=suspended` takes it from the
//! start (for its tests). Under Wine, the transient `ERROR_INTERNAL_ERROR`
//! (1359) is retried, as in `spawn/mod.rs`.
//!
//! # Known gaps
//!
//! - The child's standard handles are inheritable duplicates for the
//!   moment of the spawn; a std `Command` spawned on another thread in that
//!   moment (std inherits every inheritable handle) can inherit them, and a
//!   leaked write end keeps a reader of this child's pipe from its end. std
//!   has the same window against spawns that are not std's.
//! - A pipe end of another child (`Stdio::from(ChildStdout)`) is given to
//!   the new child as it is, overlapped; std relays such a pipe through a
//!   synchronous one and a thread. A program that reads its standard input
//!   with overlapped-unaware code may misbehave on it.
//! - Console handles of Windows 7 (pseudo-handles) are inherited as std
//!   does, without the handle list.
//! - The pipes are named pipes, as std's were before it used
//!   `NtCreateNamedPipeFile`: another local user could connect first and
//!   make the spawn fail (no data goes through before the spawn).

use std::cmp::Ordering;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::os::windows::io::{AsHandle, BorrowedHandle, OwnedHandle};
use std::os::windows::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::Instant;

use super::super::Job;
use super::super::api;
use super::command_line::{self, Piece, Refused};
use crate::child::Spawned;
use crate::command::{Arg, Command, EnvChange, StdioKind};
use crate::error::{invalid_input, not_found};

/// What `os::windows::CommandExt` sets on a [`Command`].
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandOptions {
    /// `dwCreationFlags` of `CreateProcessW`, besides the job's own.
    pub(crate) creation_flags: u32,
}

/// A process started by [`spawn`]: its handles, which name it for as long
/// as they are open (no pid reuse can confuse a wait or a kill).
#[derive(Debug)]
pub(crate) struct NativeChild {
    process: OwnedHandle,
    thread: OwnedHandle,
    pid: u32,
}

impl NativeChild {
    pub(crate) fn id(&self) -> u32 {
        self.pid
    }

    pub(crate) fn handle(&self) -> BorrowedHandle<'_> {
        self.process.as_handle()
    }

    pub(crate) fn main_thread(&self) -> BorrowedHandle<'_> {
        self.thread.as_handle()
    }

    fn status(&self) -> io::Result<ExitStatus> {
        api::get_exit_code_process(self.process.as_handle()).map(ExitStatus::from_raw)
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if api::wait_for_single_object(self.process.as_handle(), Some(std::time::Duration::ZERO))? {
            self.status().map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        loop {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if api::wait_for_single_object(self.process.as_handle(), timeout)? {
                return self.status().map(Some);
            }
            // A wait is at most ~49.7 days long: go on until the deadline.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// `TerminateProcess(1)`, as std's `kill`: `ERROR_ACCESS_DENIED` means it
    /// has exited or is being terminated already, and is `Ok` as long as the
    /// process can still be queried.
    pub(crate) fn kill(&mut self) -> io::Result<()> {
        match api::terminate_process(self.process.as_handle(), 1) {
            Err(e)
                if e.raw_os_error() == Some(api::ERROR_ACCESS_DENIED)
                    && self.try_wait().is_ok() =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

/// Set once the job attribute was refused (`UpdateProcThreadAttribute` says
/// `ERROR_NOT_SUPPORTED`, or `CreateProcessW` `ERROR_INVALID_PARAMETER`) and
/// the same spawn then succeeded without it: a Windows before 10.
static NO_JOB_LIST: AtomicBool = AtomicBool::new(false);

fn start_suspended() -> bool {
    static CHOICE: OnceLock<bool> = OnceLock::new();
    NO_JOB_LIST.load(AtomicOrdering::Relaxed)
        || *CHOICE.get_or_init(|| {
            std::env::var_os("WINJOB_WINDOWS_SPAWN").is_some_and(|v| v == "suspended")
        })
}

impl Job {
    /// Starts `command` in the job, in a new console process group unless
    /// the builder turned that off.
    pub(crate) fn spawn_native(&self, command: &Command) -> io::Result<Spawned> {
        let mut flags = command.os.creation_flags;
        if self.new_process_groups {
            flags |= api::CREATE_NEW_PROCESS_GROUP;
        }
        let mut spawned = spawn(command, Some(self), flags)?;
        if flags & api::CREATE_NEW_PROCESS_GROUP != 0
            && let Err(e) = self
                .leaders
                .record(spawned.child.id(), spawned.child.handle())
        {
            // Nothing is left running when spawn_in fails.
            let _ = spawned.child.kill();
            let _ = spawned.child.wait(None);
            return Err(e);
        }
        Ok(spawned)
    }
}

/// Starts `command` outside any job.
pub(crate) fn spawn_native(command: &Command) -> io::Result<Spawned> {
    spawn(command, None, command.os.creation_flags)
}

fn refused(e: Refused) -> io::Error {
    invalid_input(e)
}

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().collect()
}

fn nul_terminated(mut s: Vec<u16>) -> Vec<u16> {
    s.push(0);
    s
}

fn spawn(command: &Command, job: Option<&Job>, flags: u32) -> io::Result<Spawned> {
    let env = environment(&command.env)?;
    let child_path = env.changed_path.then(|| env.get("PATH")).flatten();
    let program = resolve(&command.program, child_path.as_deref())?;
    let args: Vec<(bool, Vec<u16>)> = command
        .args
        .iter()
        .map(|a| match a {
            Arg::Regular(s) => (false, wide(s)),
            Arg::Raw(s) => (true, wide(s)),
        })
        .collect();
    let pieces: Vec<Piece<'_>> = args
        .iter()
        .map(|(raw, a)| {
            if *raw {
                Piece::Raw(a)
            } else {
                Piece::Regular(a)
            }
        })
        .collect();
    let full = api::get_full_path_name_w(&program)?;
    let (application, line) = if command_line::is_batch_file(&full) {
        let mut cmd = api::get_system_directory_w()?;
        cmd.extend("\\cmd.exe".encode_utf16());
        (
            nul_terminated(cmd),
            command_line::batch_command_line(&program, &pieces).map_err(refused)?,
        )
    } else {
        (
            program,
            command_line::command_line(&wide(&command.program), &pieces).map_err(refused)?,
        )
    };
    let mut line = nul_terminated(line);
    let block = env.block()?;
    let current_dir = match &command.current_dir {
        Some(dir) => {
            let dir = wide(dir.as_os_str());
            if dir.contains(&0) {
                return Err(invalid_input(format!(
                    "current_dir {:?} contains a NUL character",
                    command.current_dir
                )));
            }
            Some(nul_terminated(dir))
        }
        None => None,
    };
    let streams = Streams::new(command)?;
    let suspended = job.is_some() && start_suspended();
    let mut create = |job_list: bool, extra: u32| {
        super::retry_under_wine(|| {
            api::create_process_w(api::NewProcess {
                application: &application,
                command_line: &mut line,
                flags: flags | extra,
                environment: block.as_deref(),
                current_dir: current_dir.as_deref(),
                stdio: streams.child(),
                job: job.filter(|_| job_list).map(Job::as_handle),
            })
        })
    };
    let created = if suspended {
        None
    } else {
        match create(true, 0) {
            Ok(created) => Some(created),
            // Before Windows 10: no job attribute.
            Err(e) if job.is_some() && e.raw_os_error() == Some(api::ERROR_INVALID_PARAMETER) => {
                NO_JOB_LIST.store(true, AtomicOrdering::Relaxed);
                None
            }
            Err(e) => return Err(e),
        }
    };
    let created = match (created, job) {
        (Some(created), _) => created,
        (None, Some(job)) => {
            let created = create(false, api::CREATE_SUSPENDED)?;
            if let Err(e) = adopt(job, &created, flags) {
                // It never ran: terminate it before returning the error.
                let _ = api::terminate_process(created.process.as_handle(), 1);
                let _ = api::wait_for_single_object(created.process.as_handle(), None);
                return Err(e);
            }
            created
        }
        (None, None) => create(false, 0)?,
    };
    let (stdin, stdout, stderr) = streams.parent_ends();
    Ok(Spawned {
        child: NativeChild {
            process: created.process,
            thread: created.thread,
            pid: created.pid,
        },
        stdin,
        stdout,
        stderr,
    })
}

/// The suspended fallback: assign, then resume the main thread unless the
/// caller asked for a suspended child.
fn adopt(job: &Job, created: &api::CreatedProcess, flags: u32) -> io::Result<()> {
    api::assign_process_to_job_object(job.as_handle(), created.process.as_handle())?;
    if flags & api::CREATE_SUSPENDED == 0 {
        api::resume_thread(created.thread.as_handle())?;
        // (The previous suspend count is of no use here.)
    }
    Ok(())
}

/// The file to run, NUL-terminated, by std's rules (see the module essay).
fn resolve(program: &OsStr, child_path: Option<&OsStr>) -> io::Result<Vec<u16>> {
    let bytes = program.as_encoded_bytes();
    if bytes.is_empty() || matches!(bytes.last(), Some(b'\\' | b'/')) {
        return Err(invalid_input(format!(
            "program {program:?} has no file name"
        )));
    }
    if bytes.contains(&0) {
        return Err(invalid_input(format!(
            "program {program:?} contains a NUL character"
        )));
    }
    let has_exe = bytes.len() >= 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".exe");
    let is_file_name = !bytes.iter().any(|&b| b == b'\\' || b == b'/');
    if !is_file_name {
        if has_exe {
            return Ok(user_path(Path::new(program)));
        }
        let mut with_exe = program.to_owned();
        with_exe.push(".exe");
        let candidate = user_path(Path::new(&with_exe));
        if api::get_file_attributes_w(&candidate).is_some() {
            return Ok(candidate);
        }
        return Ok(user_path(Path::new(program)));
    }
    let has_extension = bytes.contains(&b'.');
    let exists = |dir: &Path| -> Option<Vec<u16>> {
        let mut path = dir.join(program);
        if !has_extension {
            path.set_extension("exe");
        }
        let path = user_path(&path);
        api::get_file_attributes_w(&path).map(|_| path)
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(paths) = child_path {
        dirs.extend(std::env::split_paths(paths).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Ok(mut exe) = std::env::current_exe() {
        exe.pop();
        dirs.push(exe);
    }
    for dir in [
        api::get_system_directory_w(),
        api::get_windows_directory_w(),
    ]
    .into_iter()
    .flatten()
    {
        dirs.push(PathBuf::from(OsString::from_wide(&dir)));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&paths).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs.iter()
        .find_map(|d| exists(d))
        .ok_or_else(|| not_found(format!("program {program:?} not found")))
}

/// `path` as UTF-16, NUL-terminated, without a verbatim prefix where the
/// path means the same without it (as std's `to_user_path`): `\\?\C:\…`
/// becomes `C:\…` and `\\?\UNC\…` becomes `\\…`, for paths of at most 260
/// characters with the NUL whose full path is themselves, since `cmd.exe`
/// cannot take a verbatim path.
fn user_path(path: &Path) -> Vec<u16> {
    const SEP: u16 = 92;
    let w = nul_terminated(wide(path.as_os_str()));
    if w.len() > 260 {
        return w;
    }
    let plain: Option<Vec<u16>> = match &w[..] {
        [SEP, SEP, 63, SEP, _, 58, SEP, ..] => Some(w[4..].to_vec()),
        [SEP, SEP, 63, SEP, 85, 78, 67, SEP, ..] => {
            let mut unc = vec![SEP];
            unc.extend_from_slice(&w[7..]);
            Some(unc)
        }
        _ => None,
    };
    match plain {
        Some(plain)
            if api::get_full_path_name_w(&plain)
                .is_ok_and(|full| full[..] == plain[..plain.len() - 1]) =>
        {
            plain
        }
        _ => w,
    }
}

/// The child's environment, as std builds it: this process's, changed as
/// the command says, names compared without regard to case.
struct Environment {
    /// `None`: unchanged, the child inherits this process's.
    vars: Option<Vec<(Vec<u16>, OsString)>>,
    /// The command set, removed or cleared `PATH`.
    changed_path: bool,
}

fn environment(changes: &[EnvChange]) -> io::Result<Environment> {
    if changes.is_empty() {
        return Ok(Environment {
            vars: None,
            changed_path: false,
        });
    }
    let path_key = wide(OsStr::new("PATH"));
    let mut vars: Vec<(Vec<u16>, OsString)> = Vec::new();
    let insert = |vars: &mut Vec<(Vec<u16>, OsString)>, key: Vec<u16>, value: OsString| {
        match vars.binary_search_by(|(k, _)| api::compare_string_ordinal_ignore_case(k, &key)) {
            // The first spelling of a name stays, as in std.
            Ok(i) => vars[i].1 = value,
            Err(i) => vars.insert(i, (key, value)),
        }
    };
    for (key, value) in std::env::vars_os() {
        insert(&mut vars, wide(&key), value);
    }
    let mut changed_path = false;
    for change in changes {
        match change {
            EnvChange::Set(key, value) => {
                let k = wide(key);
                check_name(key, &k)?;
                if wide(value).contains(&0) {
                    return Err(invalid_input(format!(
                        "the value of environment variable {key:?} contains a NUL character"
                    )));
                }
                changed_path |=
                    api::compare_string_ordinal_ignore_case(&k, &path_key) == Ordering::Equal;
                insert(&mut vars, k, value.clone());
            }
            EnvChange::Remove(key) => {
                let k = wide(key);
                changed_path |=
                    api::compare_string_ordinal_ignore_case(&k, &path_key) == Ordering::Equal;
                if let Ok(i) = vars
                    .binary_search_by(|(name, _)| api::compare_string_ordinal_ignore_case(name, &k))
                {
                    vars.remove(i);
                }
            }
            EnvChange::Clear => {
                vars.clear();
                changed_path = true;
            }
        }
    }
    Ok(Environment {
        vars: Some(vars),
        changed_path,
    })
}

impl Environment {
    fn get(&self, name: &str) -> Option<OsString> {
        let key = wide(OsStr::new(name));
        let vars = self.vars.as_ref()?;
        vars.iter()
            .find(|(k, _)| api::compare_string_ordinal_ignore_case(k, &key) == Ordering::Equal)
            .map(|(_, v)| v.clone())
    }

    /// `K=V\0…\0\0`, or `None` to inherit.
    fn block(&self) -> io::Result<Option<Vec<u16>>> {
        let Some(vars) = &self.vars else {
            return Ok(None);
        };
        let mut block = Vec::new();
        if vars.is_empty() {
            block.push(0);
        }
        for (key, value) in vars {
            block.extend_from_slice(key);
            block.push(u16::from(b'='));
            block.extend(value.encode_wide());
            block.push(0);
        }
        block.push(0);
        Ok(Some(block))
    }
}

/// A name is non-empty and has no `=` but as its first character (Windows
/// keeps per-drive directories in names like `=C:`), and no NUL.
fn check_name(key: &OsStr, wide: &[u16]) -> io::Result<()> {
    let eq = u16::from(b'=');
    if wide.is_empty() || wide.iter().skip(1).any(|&c| c == eq) || wide.contains(&0) {
        return Err(invalid_input(format!(
            "environment variable name {key:?} is empty or contains `=` or NUL; a name is any \
             non-empty string without NUL and without `=` after its first character"
        )));
    }
    Ok(())
}

/// The standard handles of a spawn: the child's (inheritable copies, closed
/// once the child has its own), and this side's pipe ends.
#[derive(Default)]
struct Streams {
    child: [Option<OwnedHandle>; 3],
    parent_stdin: Option<OwnedHandle>,
    parent_stdout: Option<OwnedHandle>,
    parent_stderr: Option<OwnedHandle>,
}

impl Streams {
    fn new(command: &Command) -> io::Result<Streams> {
        let mut streams = Streams::default();
        let ids = [
            api::STD_INPUT_HANDLE,
            api::STD_OUTPUT_HANDLE,
            api::STD_ERROR_HANDLE,
        ];
        for (i, stdio) in [&command.stdin, &command.stdout, &command.stderr]
            .into_iter()
            .enumerate()
        {
            let kind = stdio.as_ref().map_or(&StdioKind::Inherit, |s| &s.0);
            let theirs: Option<OwnedHandle> = match kind {
                StdioKind::Inherit => match api::get_std_handle(ids[i]) {
                    Some(handle) => Some(api::duplicate_inheritable(handle)?),
                    None => None,
                },
                StdioKind::Null => {
                    let file = std::fs::OpenOptions::new()
                        .read(i == 0)
                        .write(i != 0)
                        .open(r"\\.\NUL")?;
                    Some(api::duplicate_inheritable(file.as_handle())?)
                }
                StdioKind::Piped => {
                    let (ours, theirs) = api::create_stdio_pipe(i != 0)?;
                    match i {
                        0 => streams.parent_stdin = Some(ours),
                        1 => streams.parent_stdout = Some(ours),
                        _ => streams.parent_stderr = Some(ours),
                    }
                    Some(api::duplicate_inheritable(theirs.as_handle())?)
                }
                StdioKind::File(file) => Some(api::duplicate_inheritable(file.as_handle())?),
            };
            streams.child[i] = theirs;
        }
        Ok(streams)
    }

    /// The child's handles for `STARTUPINFO`, or `None` if it has none at
    /// all (the OS default, as std does).
    fn child(&self) -> Option<[Option<BorrowedHandle<'_>>; 3]> {
        if self.child.iter().all(Option::is_none) {
            return None;
        }
        Some([0, 1, 2].map(|i| self.child[i].as_ref().map(AsHandle::as_handle)))
    }

    fn parent_ends(self) -> (Option<ChildStdin>, Option<ChildStdout>, Option<ChildStderr>) {
        (
            self.parent_stdin.map(ChildStdin::from),
            self.parent_stdout.map(ChildStdout::from),
            self.parent_stderr.map(ChildStderr::from),
        )
    }
}

/// The streams std hands out, as files for a `Stdio`.
pub(crate) fn pipe_reader_file(pipe: std::io::PipeReader) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn pipe_writer_file(pipe: std::io::PipeWriter) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn child_stdin_file(pipe: std::process::ChildStdin) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn child_stdout_file(pipe: std::process::ChildStdout) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}
pub(crate) fn child_stderr_file(pipe: std::process::ChildStderr) -> std::fs::File {
    std::fs::File::from(OwnedHandle::from(pipe))
}

/// Any owned handle — a file, a pipe end, a console.
impl From<OwnedHandle> for crate::Stdio {
    fn from(handle: OwnedHandle) -> crate::Stdio {
        crate::Stdio::from(std::fs::File::from(handle))
    }
}
