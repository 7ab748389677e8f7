//! winjob's own `Command` and `Child`, on every OS and in every mode (the
//! harness runs this binary once per Linux mode with `WINJOB_MODE`, in the
//! pure cgroup v2 VM, and under Wine).
//!
//! What the child gets is read by the child itself (the helper prints its
//! arguments, environment, working directory, descriptors and membership),
//! and compared with what std's `Command` gives the same helper.

mod common;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::time::Duration;

use common::*;
use proptest::prelude::*;
use winjob::{Command, Job, Stdio};

const HELPER: &str = env!("CARGO_BIN_EXE_winjob-testbin");

fn native(args: &[&str]) -> Command {
    let mut command = Command::new(HELPER);
    command.args(args).stdin(Stdio::null());
    command
}

/// The lines a command printed, run in `job` (or outside any job).
fn lines_of(command: &mut Command, job: Option<&Job>) -> Vec<String> {
    let output = match job {
        Some(job) => command.output_in(job),
        None => command.output(),
    }
    .expect("run the helper");
    assert!(
        output.status.success(),
        "{:?}: {:?}\n{}",
        command,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    lines(output.stdout)
}

/// What std's `Command` gives the same helper, for comparison.
fn std_lines(args: &[OsString]) -> Vec<String> {
    let output = retry(|| {
        std::process::Command::new(HELPER)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .expect("std spawn");
    lines(output.stdout)
}

/// A child's output, line by line.
fn lines(output: Vec<u8>) -> Vec<String> {
    String::from_utf8(output)
        .expect("UTF-8 output")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn argv_lines(args: &[OsString]) -> Vec<String> {
    args.iter().map(|a| format!("arg {a:?}")).collect()
}

#[test]
fn hard_arguments_arrive_as_given_in_a_job_and_outside() {
    let job = Job::new().unwrap();
    let args: Vec<OsString> = [
        "",
        " ",
        "a b",
        "\t",
        "\"",
        "\\",
        "\\\\\"",
        "a\\",
        "a\\\\",
        "\"quoted\"",
        "trailing\\ ",
        "ünïcödé ✓",
        "%PATH%",
        "$HOME",
        "'single'",
        "new\nline",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let mut all = vec![OsString::from("argv")];
    all.extend(args.iter().cloned());
    let expected = argv_lines(&args);
    let mut command = Command::new(HELPER);
    command.args(&all);
    assert_eq!(lines_of(&mut command, Some(&job)), expected, "in a job");
    assert_eq!(lines_of(&mut command, None), expected, "outside");
    assert_eq!(std_lines(&all), expected, "std");
    assert_eq!(std_path_lines(&job, &all), expected, "Job::spawn");
}

/// What the same helper prints started by `Job::spawn` with a std
/// `Command` (the std path).
fn std_path_lines(job: &Job, args: &[OsString]) -> Vec<String> {
    let mut command = std::process::Command::new(HELPER);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped());
    let output = retry(|| job.spawn(&mut command))
        .and_then(std::process::Child::wait_with_output)
        .expect("Job::spawn");
    lines(output.stdout)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: if under_wine() { 16 } else { 64 }, ..ProptestConfig::default() })]

    /// Random arguments of the characters quoting gets wrong: the child
    /// prints exactly what was given, as it does for std.
    #[test]
    fn random_arguments_round_trip(args in proptest::collection::vec("[ a\\\\\"\t'ü✓]{0,8}", 0..6)) {
        let job = Job::new().unwrap();
        let args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
        let mut all = vec![OsString::from("argv")];
        all.extend(args.iter().cloned());
        let mut command = Command::new(HELPER);
        command.args(&all);
        let got = lines_of(&mut command, Some(&job));
        prop_assert_eq!(&got, &argv_lines(&args));
        prop_assert_eq!(&std_lines(&all), &got);
        prop_assert_eq!(std_path_lines(&job, &all), got);
    }
}

#[test]
fn environment_changes_reach_the_child_in_order() {
    let job = Job::new().unwrap();
    let mut command = native(&["env", "WINJOB_T1", "WINJOB_T2", "WINJOB_T3"]);
    command
        .env("WINJOB_T1", "one")
        .env("WINJOB_T2", "two")
        .env_remove("WINJOB_T2")
        .env("WINJOB_T3", "x y=z");
    let lines = lines_of(&mut command, Some(&job));
    assert_eq!(
        &lines[..3],
        [
            "env \"WINJOB_T1\"=\"one\"",
            "env \"WINJOB_T2\" unset",
            "env \"WINJOB_T3\"=\"x y=z\""
        ]
    );
    // A cleared environment holds only what was set after the clear (Wine
    // adds a few variables of its own to every process).
    let mut cleared = native(&["env", "WINJOB_T1", "WINJOB_T4"]);
    cleared
        .env("WINJOB_T1", "gone")
        .env_clear()
        .env("WINJOB_T4", "four");
    let lines = lines_of(&mut cleared, Some(&job));
    assert_eq!(lines[0], "env \"WINJOB_T1\" unset");
    assert_eq!(lines[1], "env \"WINJOB_T4\"=\"four\"");
    if !under_wine() {
        assert_eq!(lines[2], "env-count 1");
    }
}

#[test]
fn bad_environment_names_and_nul_bytes_are_refused_before_spawning() {
    let job = Job::new().unwrap();
    for (what, mut command) in [
        ("empty name", native(&["exit", "0"])),
        ("= in name", native(&["exit", "0"])),
        ("NUL in argument", native(&["exit", "0"])),
    ] {
        match what {
            "empty name" => command.env("", "x"),
            "= in name" => command.env("A=B", "x"),
            _ => command.arg("a\0b"),
        };
        let e = command.spawn_in(&job).expect_err(what);
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
    }
    assert!(job.pids().unwrap().is_empty());
}

#[test]
fn the_working_directory_is_the_one_given() {
    let job = Job::new().unwrap();
    // Canonical on Unix (a symlinked /tmp); as it is on Windows, where
    // canonical paths are verbatim (`\\?\C:\…`) and the child's are not.
    let dir = std::env::temp_dir();
    #[cfg(unix)]
    let dir = dir.canonicalize().unwrap();
    #[cfg(windows)]
    let dir = std::path::PathBuf::from(dir.to_str().unwrap().trim_end_matches('\\'));
    let mut command = native(&["cwd"]);
    command.current_dir(&dir);
    let lines = lines_of(&mut command, Some(&job));
    assert_eq!(lines, [format!("cwd {dir:?}")]);
}

#[test]
fn piped_stdin_reaches_the_child_and_its_stdout_comes_back() {
    let job = Job::new().unwrap();
    let mut child = Command::new(HELPER)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn_in(&job)
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"through the pipe\n").unwrap();
    drop(stdin);
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "through the pipe\n");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_mebibyte_on_stdout_and_stderr_at_once_does_not_deadlock() {
    let job = Job::new().unwrap();
    let output = native(&["spew", "1048576"]).output_in(&job).unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(output.stdout.len(), 1 << 20);
    assert_eq!(output.stderr.len(), 1 << 20);
}

#[test]
fn a_file_and_null_as_streams() {
    let job = Job::new().unwrap();
    let path = std::env::temp_dir().join(unique_name("stdout-file"));
    let file = std::fs::File::create(&path).unwrap();
    let status = native(&["argv", "to-a-file"])
        .stdout(file)
        .stderr(Stdio::null())
        .status_in(&job)
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(text.trim_end(), "arg \"to-a-file\"");
    // Another child's pipe as stdin.
    let mut first = Command::new(HELPER)
        .args(["argv", "piped-on"])
        .stdout(Stdio::piped())
        .spawn_in(&job)
        .unwrap();
    let second = Command::new(HELPER)
        .arg("cat")
        .stdin(first.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .spawn_in(&job)
        .unwrap();
    let output = second.wait_with_output().unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        "arg \"piped-on\""
    );
}

/// What `whereami` printed says the helper was in `job` at its start.
fn was_in(job: &Job, lines: &[String]) -> bool {
    let value = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .unwrap_or_default()
    };
    #[cfg(windows)]
    {
        let _ = job;
        value("in-job") == "yes"
    }
    #[cfg(target_os = "linux")]
    {
        use winjob::os::linux::JobExt;
        let dir = job
            .cgroup_path()
            .and_then(|p| Some(p.file_name()?.to_str()?.to_owned()));
        match job.mode() {
            winjob::Mode::CgroupV2 => value("cgroup").ends_with(&dir.unwrap()),
            winjob::Mode::CgroupV1 => value("freezer").ends_with(&dir.unwrap()),
            _ => value("pgid").parse().ok() == job.process_group(),
        }
    }
}

#[test]
fn the_child_is_in_the_job_from_its_first_instruction() {
    let job = Job::new().unwrap();
    for _ in 0..5 {
        let mut child = native(&["whereami"])
            .stdout(Stdio::piped())
            .spawn_in(&job)
            .unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let lines: Vec<String> = out.lines().map(str::to_owned).collect();
        // Before the child is reaped: a process group lasts as long as its
        // unreaped leader.
        assert!(was_in(&job, &lines), "{lines:?}");
        assert!(child.wait().unwrap().success());
    }
    let outside = lines_of(&mut native(&["whereami"]), None);
    assert!(!was_in(&job, &outside), "{outside:?}");
}

/// 16 threads start 1 000 piped children at once (100 under Wine, where a
/// process start costs tens of milliseconds): each reader sees the end of
/// its pipe when its child exits, so no write end leaked into another child,
/// and every child is in the job.
#[test]
fn concurrent_piped_spawns_leak_no_pipe() {
    let total = if under_wine() { 100 } else { 1000 };
    let job = std::sync::Arc::new(Job::new().unwrap());
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let job = std::sync::Arc::clone(&job);
            std::thread::spawn(move || {
                for i in 0..total / 16 + usize::from(t < total % 16) {
                    let mut child = Command::new(HELPER)
                        .arg("cat")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn_in(&job)
                        .unwrap();
                    // Alive (it waits for its input): a member. (Not a
                    // zombie: cgroup v1 lets go of exited processes.)
                    assert!(
                        job.contains_pid(child.id()).unwrap(),
                        "{t}-{i} not in the job"
                    );
                    let mut stdin = child.stdin.take().unwrap();
                    writeln!(stdin, "{t}-{i}").unwrap();
                    drop(stdin);
                    let mut out = String::new();
                    // Ends only when every write end is closed.
                    child
                        .stdout
                        .take()
                        .unwrap()
                        .read_to_string(&mut out)
                        .unwrap();
                    assert_eq!(out.trim_end(), format!("{t}-{i}"));
                    assert!(child.wait().unwrap().success());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn wait_try_wait_wait_timeout_and_kill() {
    let job = Job::new().unwrap();
    let mut child = native(&["sleep", "30"]).spawn_in(&job).unwrap();
    assert!(child.id() > 0);
    assert_eq!(child.try_wait().unwrap(), None);
    assert_eq!(child.wait_timeout(Duration::from_millis(50)).unwrap(), None);
    child.kill().unwrap();
    let status = child
        .wait_timeout(LONG)
        .unwrap()
        .expect("a killed child exits");
    assert!(!status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
    // Reaped: the same status again, and kill is a no-op.
    assert_eq!(child.wait().unwrap(), status);
    child.kill().unwrap();
    let mut quick = native(&["exit", "7"]).spawn_in(&job).unwrap();
    assert_eq!(quick.wait().unwrap().code(), Some(7));
}

/// Each way a program cannot start gives the error std gives, and leaves
/// nothing in the job.
#[test]
fn exec_failures_give_std_errors_and_leave_nothing() {
    let job = Job::new().unwrap();
    let dir = std::env::temp_dir().join(unique_name("exec-failures"));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing");
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut cases: Vec<(&str, std::path::PathBuf, Option<std::path::PathBuf>)> = vec![
        ("missing program", missing.clone(), None),
        ("bad current_dir", HELPER.into(), Some(missing.clone())),
    ];
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = dir.join("not-executable");
        std::fs::write(&plain, b"#!/bin/sh\n").unwrap();
        let garbage = dir.join("bad-elf");
        std::fs::write(&garbage, b"\x7fELF garbage that is no program").unwrap();
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o755)).unwrap();
        cases.push(("not executable", plain, None));
        cases.push(("a directory", dir.clone(), None));
        cases.push(("bad ELF", garbage, None));
    }
    for (what, program, cwd) in &cases {
        let mut ours = Command::new(program);
        let mut theirs = std::process::Command::new(program);
        if let Some(cwd) = cwd {
            ours.current_dir(cwd);
            theirs.current_dir(cwd);
        }
        let e = ours.spawn_in(&job).expect_err(what);
        let std_e = theirs.spawn().expect_err(what);
        assert_eq!(e.kind(), std_e.kind(), "{what}: {e} vs std's {std_e}");
        #[cfg(unix)]
        assert_eq!(
            e.raw_os_error(),
            std_e.raw_os_error(),
            "{what}: {e} vs {std_e}"
        );
        println!("{what}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(job.pids().unwrap().is_empty(), "{:?}", job.pids());
}

#[cfg(target_os = "linux")]
mod linux {
    use super::*;
    use winjob::os::linux::{ChildExt, CommandExt};

    /// The descriptors of this process that a child inherits: 0–2 and those
    /// without close-on-exec (the test harness's jobserver pipe, say).
    fn inheritable() -> Vec<u32> {
        let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&fd: &u32| {
                // `flags:` in fdinfo is octal, with O_CLOEXEC (0o2000000);
                // the directory being read is gone by then.
                std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).is_ok_and(|info| {
                    info.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                        .is_some_and(|flags| flags & 0o2_000_000 == 0)
                })
            })
            .collect();
        fds.sort_unstable();
        fds
    }

    /// The child has 0, 1 and 2 plus what this process left inheritable, and
    /// nothing of what it opened close-on-exec (everything std and winjob
    /// open), as the same helper started by std.
    #[test]
    fn the_child_has_exactly_its_streams() {
        let job = Job::new().unwrap();
        let _held = std::fs::File::open("/dev/null").unwrap();
        let mut expected: Vec<u32> = inheritable();
        for fd in 0..3 {
            if !expected.contains(&fd) {
                expected.push(fd);
            }
        }
        expected.sort_unstable();
        let lines = lines_of(&mut native(&["fds"]), Some(&job));
        assert_eq!(lines, [format!("fds {expected:?}")]);
        assert_eq!(std_lines(&["fds".into()]), lines);
    }

    #[test]
    fn arg0_and_a_pidfd() {
        let job = Job::new().unwrap();
        let mut child = native(&["sleep", "30"])
            .arg0("renamed")
            .spawn_in(&job)
            .unwrap();
        // `spawn` returns once the child released this process's memory in
        // `execve`, a moment before the kernel installs the new program's
        // memory: until then /proc shows the old image's (this process's)
        // command line, or none.
        let cmdline = || std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
        let renamed = eventually(LONG, || cmdline().starts_with(b"renamed\0"));
        let comm = cmdline();
        assert!(renamed, "{:?}", String::from_utf8_lossy(&comm));
        println!("spawned with {}", winjob::Child::spawn_method());
        assert!(child.pidfd().is_some());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// `clone3` without `CLONE_INTO_CGROUP` (kernels before 5.7): the child
    /// moves itself into the job before `execve`.
    #[test]
    fn clone3_without_the_cgroup_flag_puts_the_child_in_the_job_too() {
        let text = native_in_job(&[], &[], &[("WINJOB_LINUX_SPAWN", "clone3-no-cgroup")]);
        assert_child_in_its_job(&text);
        assert_eq!(value_of(&text, "method"), "clone3", "{text}");
    }

    /// A seccomp profile that refuses `clone3` (with `ENOSYS`, or `EPERM` as
    /// older Docker profiles did): the spawn falls back to the classic
    /// `clone`, and the child is still in the job. With `EPERM` the job is
    /// not kill-on-drop: glibc's own `posix_spawn` (2.34 and later), which
    /// std uses to start the guardian, falls back on `ENOSYS` only, so
    /// under such a profile std cannot spawn at all.
    #[test]
    fn a_seccomp_refusal_of_clone3_falls_back_to_clone() {
        for (errno, after) in [("38", &[][..]), ("1", &["--no-kill-on-drop"][..])] {
            let text = native_in_job(&["no-clone3", errno], after, &[]);
            assert_child_in_its_job(&text);
            assert!(
                value_of(&text, "method").starts_with("clone("),
                "errno {errno}: {text}"
            );
        }
    }

    #[test]
    fn a_process_group_job_decides_the_group() {
        let job = Job::new().unwrap();
        let mut command = native(&["exit", "0"]);
        command.process_group(0);
        let caps = winjob::capabilities().unwrap();
        if caps.mode == winjob::Mode::ProcessGroup {
            let e = command.spawn_in(&job).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        } else {
            assert!(command.status_in(&job).unwrap().success());
        }
    }
}

/// Runs the helper's `native-in-job` (a job of its own, `whereami` spawned
/// into it with winjob's `Command`) with `args` before it and `env` set, and
/// returns what it printed.
fn native_in_job(before: &[&str], after: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = std::process::Command::new(HELPER);
    command
        .args(before)
        .arg("native-in-job")
        .args(after)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null());
    let output = retry(|| command.output()).unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?}: {:?}: {text}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

/// The value after `key ` on a line of `text`.
fn value_of(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
        .unwrap_or_default()
        .to_owned()
}

/// What `native-in-job` printed says its child was in the helper's job.
fn assert_child_in_its_job(text: &str) {
    #[cfg(windows)]
    assert_eq!(value_of(text, "in-job"), "yes", "{text}");
    #[cfg(target_os = "linux")]
    match winjob::capabilities().unwrap().mode {
        winjob::Mode::CgroupV2 => assert!(
            value_of(text, "cgroup").ends_with(&value_of(text, "job-cgroup")),
            "{text}"
        ),
        winjob::Mode::CgroupV1 => assert!(
            value_of(text, "freezer").ends_with(&value_of(text, "job-cgroup")),
            "{text}"
        ),
        _ => assert_eq!(value_of(text, "pgid"), value_of(text, "job-pgid"), "{text}"),
    }
}

/// The fallback paths, chosen per process by an environment variable: the
/// classic `clone` on Linux, the suspended create-assign-resume on Windows.
#[test]
fn the_fallback_spawn_puts_the_child_in_the_job_too() {
    let env = if cfg!(windows) {
        ("WINJOB_WINDOWS_SPAWN", "suspended")
    } else {
        ("WINJOB_LINUX_SPAWN", "clone")
    };
    let text = native_in_job(&[], &[], &[env]);
    assert_child_in_its_job(&text);
    #[cfg(target_os = "linux")]
    assert!(value_of(&text, "method").starts_with("clone("), "{text}");
}

#[cfg(windows)]
mod windows {
    use super::*;
    use winjob::os::windows::{ChildExt, CommandExt};

    /// A batch file gets its arguments through cmd.exe as std passes them,
    /// and an argument std refuses for a batch file (a line break, which
    /// cmd.exe would end the command at: CVE-2024-24576) is refused too.
    #[test]
    fn batch_files_run_with_std_quoting_and_refusals() {
        let dir = std::env::temp_dir().join(unique_name("batch"));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("echo-args.bat");
        std::fs::write(&script, "@echo off\r\necho [%1] [%2] [%3]\r\n").unwrap();
        let job = Job::new().unwrap();
        let args = ["plain", "two words", "100%"];
        let ours = Command::new(&script).args(args).output_in(&job).unwrap();
        let theirs = retry(|| std::process::Command::new(&script).args(args).output()).unwrap();
        assert!(ours.status.success(), "{:?}", ours.status);
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout)
        );
        let e = Command::new(&script)
            .arg("a\nb")
            .spawn_in(&job)
            .unwrap_err();
        let std_e = std::process::Command::new(&script)
            .arg("a\nb")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert_eq!(std_e.kind(), io::ErrorKind::InvalidInput, "{std_e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `raw_arg` goes on the command line as it is.
    #[test]
    fn a_raw_argument_is_not_quoted() {
        let job = Job::new().unwrap();
        let output = Command::new("cmd.exe")
            .raw_arg("/c \"echo raw-arg\"")
            .output_in(&job)
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim_end(),
            "raw-arg"
        );
    }

    /// A child created with `CREATE_SUSPENDED` stays suspended, in the job,
    /// and its main thread handle is there for the caller.
    #[test]
    fn a_suspended_child_is_in_the_job_with_its_thread_handle() {
        const CREATE_SUSPENDED: u32 = 0x4;
        let job = Job::new().unwrap();
        let mut child = native(&["exit", "3"])
            .creation_flags(CREATE_SUSPENDED)
            .spawn_in(&job)
            .unwrap();
        let _thread = child.main_thread_handle();
        assert!(job.pids().unwrap().contains(&child.id()));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(child.try_wait().unwrap(), None, "a suspended child exited");
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(1));
    }
}
