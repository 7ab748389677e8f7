//! `cargo xtask vm`: the Linux integration tests on a pure cgroup v2 host,
//! made on the spot in a throw-away QEMU virtual machine.
//!
//! # Why a VM
//!
//! The development and CI machines are hybrid: cgroup2 is mounted at
//! `/sys/fs/cgroup/unified` with no controller, and the limits live in cgroup
//! v1 hierarchies that cannot be rebound while the sandbox holds cgroups in
//! them. The v2 controller paths of the library (`memory.max`, `pids.max`,
//! `cpu.max`, `cpu.weight`, `cpuset.cpus`, `io.*`, the no-internal-process
//! rule) would never run there. In the VM the only hierarchy is cgroup2
//! (`cgroup_no_v1=all`), mounted at `/sys/fs/cgroup` with `nsdelegate`, with
//! `+memory +pids +cpu +cpuset +io` in the root's `cgroup.subtree_control`:
//! the layout of a current systemd distribution.
//!
//! # What it does
//!
//! 1. **Packages**, without installing anything: the Debian cloud kernel (the
//!    dependency of `linux-image-cloud-amd64`), `busybox-static`, and
//!    `qemu-system-x86` with those of its dependencies this machine lacks
//!    (the `Inst` lines of `apt-get install --dry-run`). `apt-get download`
//!    fetches them into `target/vm/debs/` (kept: a second run downloads
//!    nothing), `dpkg-deb -x` unpacks them into `target/vm/root/` (redone
//!    only when the set of `.deb`s changes). QEMU runs from there with
//!    `LD_LIBRARY_PATH` at the unpacked libraries and `-L` at the unpacked
//!    SeaBIOS and option ROMs. `apt-get update` runs only if an apt step
//!    fails, and then everything is looked up again. (If `qemu-system-x86`
//!    is installed already, the dry run lists nothing and the installed QEMU
//!    is used. Installing it is avoided on purpose: on these machines it
//!    would remove the backported `qemu-utils`.)
//! 2. **Test binaries**: the integration tests of `winjob-testbins` and the
//!    helper program, built with `-C target-feature=+crt-static`, so the
//!    initramfs needs no libc, in `target/vm/build` so the normal build is
//!    not invalidated. The tests find the helper through
//!    `env!("CARGO_BIN_EXE_winjob-testbin")`, a host path compiled in: the
//!    helper is put at exactly that path in the VM.
//! 3. **Initramfs** (`target/vm/initramfs.cpio`, written by the small `newc`
//!    writer below, no `cpio` tool needed): busybox (its applets installed as
//!    symlinks at boot; the library's guardian is a `/bin/sh` script), the
//!    tests under `/tests/`, the helper, `/dev/console`, and `/init`, a shell
//!    script that mounts `/proc`, `/sys`, `/dev` and cgroup2, enables
//!    the controllers, runs each test binary with `--show-output
//!    --test-threads=2` between `winjob-vm: begin`/`end` markers, checks
//!    that `/sys/fs/cgroup/winjob/` holds no job directory and no helper is
//!    running, and powers off.
//! 4. **Boot** under TCG (`-accel tcg,thread=multi -cpu max -smp 2 -m 2048`),
//!    console on the serial port, which is this process's stdout. KVM cannot
//!    be used: nested KVM on these machines aborts ("failed to set MSR
//!    0x10a", then emulation failures on `lock cmpxchg16b`). TCG is slower,
//!    but the tests take about 20 s in the VM, boot included. `panic=-1`
//!    and `-no-reboot` end QEMU if the guest's init dies; a host-side
//!    timeout kills it after 15 minutes.
//! 5. **Counts**: the console is echoed and saved to `target/vm/console.log`;
//!    the libtest `test result:` and `skipped:` lines between the markers
//!    are counted per binary with [`Counts::of_text`]. The run fails if a
//!    test failed, a binary did not finish, no test ran, something was left
//!    behind, or the library chose another mode than `cgroup-v2` (the
//!    `mode:` line `capabilities_name_a_mode` prints).
//!
//! # Debugging
//!
//! * `cargo xtask vm FILTER...` passes the filters to every test binary.
//! * `cargo xtask vm --shell` boots the same initramfs and gives a busybox
//!   shell on the console instead of running the tests (`/tests/linux
//!   --show-output NAME`, `cat /sys/fs/cgroup/winjob/*/memory.events`,
//!   `dmesg`); `exit` powers the VM off.
//! * The kernel logs to the console at `loglevel=1` only (OOM reports would
//!   tear the test output apart); `dmesg` in the shell shows everything.
//! * The QEMU command line is printed before it runs and can be rerun by
//!   hand (quote the `-append` value); everything it needs is under
//!   `target/vm/`, and the last console is in `target/vm/console.log`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::run::{Counts, Failed, Outcome, cargo, run, show, target_dir};

/// The target the test binaries are built for (explicit, so that
/// `RUSTFLAGS` do not reach build scripts and proc macros).
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The prefix of the integration tests that have nothing to run on Linux
/// (`windows`, `windows_limits`, ...).
const WINDOWS_ONLY: &str = "windows";

/// The controllers enabled in the root's `cgroup.subtree_control`.
const CONTROLLERS: &str = "+memory +pids +cpu +cpuset +io";

/// The longest a VM may run before it is killed.
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The prefix of the lines the init script prints for the host.
const MARK: &str = "winjob-vm: ";

/// `cargo xtask vm [--shell] [FILTER...]`.
pub(crate) fn run_command(args: &[&str]) -> Result<(), String> {
    match args {
        ["--shell"] => shell(),
        filters => suite(filters).map(drop).map_err(|f| f.why),
    }
}

/// The suite: the Linux integration tests in the VM, counted. `filters` go
/// to every test binary.
pub(crate) fn suite(filters: &[&str]) -> Outcome {
    let started = Instant::now();
    let machine = Machine::prepare()?;
    let prepared = started.elapsed();
    let tests = build()?;
    let built = started.elapsed();
    let initrd = initramfs(&machine, &tests, filters)?;
    let console = machine.boot(&initrd, false)?;
    let result = verdict(&console, &tests);
    println!(
        "vm: packages {:.0?}, build {:.0?}, initramfs and VM {:.0?}; console in {}",
        prepared,
        built - prepared,
        started.elapsed() - built,
        vm_dir().join("console.log").display()
    );
    result
}

/// Boots the VM with a shell on the console instead of the tests.
fn shell() -> Result<(), String> {
    let machine = Machine::prepare()?;
    let tests = build()?;
    let initrd = initramfs(&machine, &tests, &[])?;
    machine.boot(&initrd, true).map(drop)
}

/// `target/vm/`, where everything the VM needs is kept.
fn vm_dir() -> PathBuf {
    target_dir().join("vm")
}

// ---------------------------------------------------------------------------
// Packages

/// The kernel, busybox and QEMU, unpacked.
struct Machine {
    qemu: PathBuf,
    /// `LD_LIBRARY_PATH` for an unpacked QEMU.
    libraries: Option<OsString>,
    /// `-L` directories for an unpacked QEMU.
    firmware: Vec<PathBuf>,
    kernel: PathBuf,
    busybox: PathBuf,
}

impl Machine {
    /// Downloads (once) and unpacks (once) the packages.
    fn prepare() -> Result<Machine, String> {
        let dir = vm_dir();
        let fetch = || -> Result<(String, Vec<PathBuf>), String> {
            let (kernel_package, packages) = packages()?;
            Ok((kernel_package, download(&dir.join("debs"), &packages)?))
        };
        // Stale or missing package lists: update them and start again (the
        // kernel's name may have changed too).
        let (kernel_package, debs) = fetch().or_else(|e| {
            eprintln!("vm: {e}; updating the package lists");
            run(Command::new("apt-get").args(["update", "-q"]))?;
            fetch()
        })?;
        let tree = dir.join("root");
        extract(&debs, &tree)?;

        let abi = kernel_package
            .strip_prefix("linux-image-")
            .ok_or_else(|| format!("unexpected kernel package {kernel_package}"))?;
        let kernel = tree.join("boot").join(format!("vmlinuz-{abi}"));
        let busybox = tree.join("bin").join("busybox");
        for needed in [&kernel, &busybox] {
            if !needed.is_file() {
                return Err(format!("{} is missing after unpacking", needed.display()));
            }
        }
        let unpacked = tree.join("usr/bin/qemu-system-x86_64");
        if !unpacked.is_file() {
            // `qemu-system-x86` is installed: the dry run listed nothing.
            return Ok(Machine {
                qemu: "qemu-system-x86_64".into(),
                libraries: None,
                firmware: Vec::new(),
                kernel,
                busybox,
            });
        }
        // The unpacked libraries, then the system's (not the inherited
        // `LD_LIBRARY_PATH`: cargo's toolchain directories).
        let mut libraries = OsString::from(tree.join("usr/lib/x86_64-linux-gnu"));
        libraries.push(":");
        libraries.push(tree.join("lib/x86_64-linux-gnu"));
        let firmware: Vec<PathBuf> = ["usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu"]
            .iter()
            .map(|d| tree.join(d))
            .collect();
        for file in [
            "usr/share/seabios/bios-256k.bin",
            "usr/share/qemu/linuxboot_dma.bin",
        ] {
            if fs::metadata(tree.join(file)).is_err() {
                return Err(format!(
                    "{file} is missing (or a dangling link) after unpacking"
                ));
            }
        }
        Ok(Machine {
            qemu: unpacked,
            libraries: Some(libraries),
            firmware,
            kernel,
            busybox,
        })
    }

    /// Boots the VM with `initrd`: in test mode its console is echoed,
    /// saved and returned; in shell mode it is this terminal.
    fn boot(&self, initrd: &Path, shell: bool) -> Result<String, String> {
        let mut command = Command::new(&self.qemu);
        if let Some(libraries) = &self.libraries {
            command.env("LD_LIBRARY_PATH", libraries);
        }
        command.args([
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "max",
            "-smp",
            "2",
            "-m",
            "2048",
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ]);
        for dir in &self.firmware {
            command.arg("-L").arg(dir);
        }
        let mut append = String::from("console=ttyS0 panic=-1 rdinit=/init cgroup_no_v1=all");
        if shell {
            append.push_str(" winjob.shell");
        } else {
            append.push_str(" loglevel=1");
        }
        command
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(initrd)
            .arg("-append")
            .arg(append);
        show(&command);
        if shell {
            let status = command
                .status()
                .map_err(|e| format!("cannot run {}: {e}", self.qemu.display()))?;
            return if status.success() {
                Ok(String::new())
            } else {
                Err(format!("qemu failed: {status}"))
            };
        }

        let log_path = vm_dir().join("console.log");
        let mut log = File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.qemu.display()))?;
        let (sender, receiver) = mpsc::channel();
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        thread::spawn(move || {
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line);
                if sender
                    .send(text.trim_end_matches(['\r', '\n']).to_owned())
                    .is_err()
                {
                    break;
                }
                line.clear();
            }
        });
        let deadline = Instant::now() + TIMEOUT;
        let mut console = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) => {
                    println!("{line}");
                    let _ = writeln!(log, "{line}");
                    console.push_str(&line);
                    console.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the VM did not finish within {TIMEOUT:?} and was killed; console in {}",
                        log_path.display()
                    ));
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("cannot wait for qemu: {e}"))?;
        if !status.success() {
            return Err(format!("qemu failed: {status}"));
        }
        Ok(console)
    }
}

/// The kernel package and every package to download.
fn packages() -> Result<(String, Vec<String>), String> {
    let depends = output(Command::new("apt-cache").args(["depends", "linux-image-cloud-amd64"]))?;
    let kernel = depends
        .lines()
        .find_map(|l| {
            let name = l.trim().strip_prefix("Depends: ")?;
            name.starts_with("linux-image-").then(|| name.to_owned())
        })
        .ok_or("apt-cache knows no linux-image-cloud-amd64 dependency")?;
    let dry_run = output(Command::new("apt-get").args([
        "install",
        "--dry-run",
        "-qq",
        "--no-install-recommends",
        "qemu-system-x86",
    ]))?;
    let mut packages = vec![kernel.clone(), "busybox-static".to_owned()];
    packages.extend(dry_run.lines().filter_map(|l| {
        let name = l.strip_prefix("Inst ")?.split_whitespace().next()?;
        Some(name.to_owned())
    }));
    Ok((kernel, packages))
}

/// A command's stdout, or an error with its stderr.
fn output(command: &mut Command) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if !output.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The `.deb` of `package` in `dir`, if it was downloaded before.
fn deb_of(dir: &Path, package: &str) -> Option<PathBuf> {
    let prefix = format!("{package}_");
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .max()
}

/// Downloads the packages not in `dir` yet; the `.deb` of each package.
/// Downloads land in `dir/incoming` first, so that an interrupted run leaves
/// no truncated `.deb` behind.
fn download(dir: &Path, packages: &[String]) -> Result<Vec<PathBuf>, String> {
    let missing: Vec<&String> = packages
        .iter()
        .filter(|p| deb_of(dir, p).is_none())
        .collect();
    if !missing.is_empty() {
        let incoming = dir.join("incoming");
        let _ = fs::remove_dir_all(&incoming);
        fs::create_dir_all(&incoming).map_err(|e| format!("cannot create {incoming:?}: {e}"))?;
        let mut get = Command::new("apt-get");
        get.current_dir(&incoming)
            // Root would hand the download to the `_apt` user, who cannot
            // write here; apt ignores the option for other users.
            .args(["download", "-q", "-o", "APT::Sandbox::User=root"])
            .args(&missing);
        run(&mut get)?;
        for entry in fs::read_dir(&incoming)
            .map_err(|e| format!("cannot read {incoming:?}: {e}"))?
            .flatten()
        {
            let to = dir.join(entry.file_name());
            fs::rename(entry.path(), &to).map_err(|e| format!("cannot move to {to:?}: {e}"))?;
        }
        let _ = fs::remove_dir(&incoming);
    }
    packages
        .iter()
        .map(|p| deb_of(dir, p).ok_or_else(|| format!("apt-get did not download {p}")))
        .collect()
}

/// Unpacks the `.deb`s into `tree`, unless exactly these were unpacked there
/// last time.
fn extract(debs: &[PathBuf], tree: &Path) -> Result<(), String> {
    let stamp = tree.join(".winjob-unpacked");
    let names: Vec<String> = debs
        .iter()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let wanted = names.join("\n");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    let _ = fs::remove_dir_all(tree);
    fs::create_dir_all(tree).map_err(|e| format!("cannot create {tree:?}: {e}"))?;
    eprintln!(
        "vm: unpacking {} packages into {}",
        debs.len(),
        tree.display()
    );
    for deb in debs {
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(tree)
            .status()
            .map_err(|e| format!("cannot run dpkg-deb: {e}"))?;
        if !status.success() {
            return Err(format!("dpkg-deb -x {} failed: {status}", deb.display()));
        }
    }
    fs::write(&stamp, wanted).map_err(|e| format!("cannot write {stamp:?}: {e}"))
}

// ---------------------------------------------------------------------------
// Test binaries

/// The static test binaries to run, and the helper they spawn.
struct Tests {
    /// `(name, executable)` of each integration test to run, by name.
    binaries: Vec<(String, PathBuf)>,
    /// The helper, whose path is also where the tests look for it.
    helper: PathBuf,
}

/// Builds the integration tests and the helper statically, and finds them
/// in cargo's JSON messages.
fn build() -> Result<Tests, String> {
    let mut command = cargo();
    command
        .args([
            "test",
            "--no-run",
            "--target",
            TARGET,
            "-p",
            "winjob-testbins",
            "--message-format=json",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", vm_dir().join("build"));
    show(&command);
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the static tests failed: {}",
            output.status
        ));
    }
    let mut binaries = Vec::new();
    let mut helper = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if !line.contains(r#""reason":"compiler-artifact""#) {
            continue;
        }
        let (Some(target), Some(executable)) = (
            json_object(line, "target"),
            json_string(line, "executable").map(PathBuf::from),
        ) else {
            continue;
        };
        let Some(name) = json_string(target, "name") else {
            continue;
        };
        let test_profile =
            json_object(line, "profile").is_some_and(|p| p.contains(r#""test":true"#));
        if target.contains(r#""kind":["test"]"#) && !name.starts_with(WINDOWS_ONLY) {
            binaries.push((name, executable));
        } else if target.contains(r#""kind":["bin"]"#) && name == "winjob-testbin" && !test_profile
        {
            helper = Some(executable);
        }
    }
    binaries.sort();
    let helper = helper.ok_or("cargo built no winjob-testbin helper")?;
    if binaries.is_empty() {
        return Err("cargo built no integration test".into());
    }
    Ok(Tests { binaries, helper })
}

/// The text of the object `"key":{...}` in a line of JSON (up to the first
/// `}`: enough for cargo's flat `target` and `profile` objects).
fn json_object<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\":{{"))?;
    let rest = &json[start..];
    Some(&rest[..=rest.find('}')?])
}

/// The value of the first `"key":"..."` in a line of JSON, unescaped.
fn json_string(json: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":\"");
    let start = json.find(&pattern)? + pattern.len();
    let mut value = String::new();
    let mut chars = json[start..].chars();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    value.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
}

// ---------------------------------------------------------------------------
// Initramfs

/// Writes `target/vm/initramfs.cpio`: busybox, `tests` and the init script.
fn initramfs(machine: &Machine, tests: &Tests, filters: &[&str]) -> Result<PathBuf, String> {
    let path = vm_dir().join("initramfs.cpio");
    let write = || -> io::Result<()> {
        let mut cpio = Cpio::new(File::create(&path)?);
        for dir in [
            "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "tests",
        ] {
            cpio.dir(dir)?;
        }
        cpio.entry("dev/console", 0o020_600, (5, 1), &mut io::empty(), 0)?;
        cpio.file("init", init_script(tests, filters).as_bytes())?;
        cpio.copy("bin/busybox", &machine.busybox)?;
        for (name, executable) in &tests.binaries {
            cpio.copy(&format!("tests/{name}"), executable)?;
        }
        cpio.copy(&tests.helper.to_string_lossy(), &tests.helper)?;
        cpio.finish()
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Quotes `word` for the shell.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The VM's `/init`.
fn init_script(tests: &Tests, filters: &[&str]) -> String {
    let names: Vec<&str> = tests.binaries.iter().map(|(n, _)| n.as_str()).collect();
    let filters: Vec<String> = filters.iter().map(|f| quote(f)).collect();
    format!(
        r#"#!/bin/busybox sh
# PID 1 of the winjob cgroup v2 VM, written by xtask/src/vm.rs.
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp RUST_BACKTRACE=1
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# /tmp lives in the initramfs (already in RAM): a tmpfs mounted over it would
# hide the helper when the workspace itself is under /tmp.
mkdir -p /tmp && chmod 1777 /tmp
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "{CONTROLLERS}" > /sys/fs/cgroup/cgroup.subtree_control
echo "{MARK}kernel $(uname -r), $(nproc) CPUs, $(free -m | awk '/Mem:/ {{ print $2 }}') MiB"
echo "{MARK}cgroup mounts: $(awk '$3 ~ /cgroup/ {{ print $3 " at " $2 " (" $4 ")" }}' /proc/mounts)"
echo "{MARK}root subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
if grep -qw winjob.shell /proc/cmdline; then
  echo "{MARK}shell; the tests are in /tests, 'exit' powers off"
  cd /tmp
  setsid cttyhack sh
  poweroff -f
fi
cd /tmp
for t in {names}; do
  echo "{MARK}begin $t"
  /tests/$t --show-output --test-threads=2 {filters}
  echo "{MARK}end $t status $?"
done
n=0
while :; do
  dirs=''
  for d in /sys/fs/cgroup/winjob/*/; do [ -d "$d" ] && dirs="$dirs ${{d%/}}"; done
  helpers=''
  for c in $(grep -l 'winjob-testbi[n]' /proc/[0-9]*/cmdline 2>/dev/null); do
    c=${{c#/proc/}}; helpers="$helpers ${{c%/cmdline}}"
  done
  [ -z "$dirs$helpers" ] && break
  n=$((n + 1)); [ $n -ge 50 ] && break
  sleep 0.1
done
if [ -z "$dirs$helpers" ]; then
  echo "{MARK}leftovers: none"
else
  echo "{MARK}leftovers: job directories [$dirs ] helper processes [$helpers ]"
fi
echo "{MARK}done"
poweroff -f
"#,
        names = names.join(" "),
        filters = filters.join(" "),
    )
}

/// A writer of `newc` cpio archives, the format the kernel unpacks into its
/// initial root file system. Parent directories are written before their
/// entries (the kernel does not create them).
struct Cpio {
    out: BufWriter<File>,
    written: u64,
    inode: u32,
    dirs: BTreeSet<String>,
}

impl Cpio {
    fn new(file: File) -> Cpio {
        Cpio {
            out: BufWriter::new(file),
            written: 0,
            inode: 0,
            dirs: BTreeSet::new(),
        }
    }

    /// A directory and its parents (mode 0755).
    fn dir(&mut self, path: &str) -> io::Result<()> {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return Ok(());
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        self.dirs.insert(path.to_owned());
        self.entry(path, 0o040_755, (0, 0), &mut io::empty(), 0)
    }

    /// An executable file (mode 0755) with `data`.
    fn file(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.entry(path, 0o100_755, (0, 0), &mut &data[..], data.len() as u64)
    }

    /// An executable file (mode 0755) with the contents of `from`.
    fn copy(&mut self, path: &str, from: &Path) -> io::Result<()> {
        let mut source = File::open(from)?;
        let size = source.metadata()?.len();
        self.entry(path, 0o100_755, (0, 0), &mut source, size)
    }

    /// One entry: its header, its name and `size` bytes of `data`, each
    /// padded to 4 bytes. `device` is the (major, minor) of a device node.
    fn entry(
        &mut self,
        path: &str,
        mode: u32,
        device: (u32, u32),
        data: &mut dyn io::Read,
        size: u64,
    ) -> io::Result<()> {
        let path = path.trim_start_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent)?;
        }
        let too_big = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
        let size32 = u32::try_from(size).map_err(|_| too_big("file over 4 GiB"))?;
        let name_size = u32::try_from(path.len() + 1).map_err(|_| too_big("name too long"))?;
        self.inode += 1;
        let links = if mode & 0o170_000 == 0o040_000 { 2 } else { 1 };
        let fields = [
            self.inode, mode, 0, 0, links, 0, size32, 0, 0, device.0, device.1, name_size, 0,
        ];
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(path.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        let copied = io::copy(&mut io::Read::take(data, size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: {copied} of {size} bytes"),
            ));
        }
        self.written += size;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let padding = (4 - self.written % 4) % 4;
        self.put(&[0; 3][..padding.try_into().unwrap_or(0)])
    }

    /// The trailer entry, and the end of the archive.
    fn finish(mut self) -> io::Result<()> {
        self.entry("TRAILER!!!", 0, (0, 0), &mut io::empty(), 0)?;
        self.out.flush()
    }
}

// ---------------------------------------------------------------------------
// Counts

/// What the console says: per binary counts, and whether anything went
/// wrong.
fn verdict(console: &str, tests: &Tests) -> Outcome {
    let mut current: Option<(String, String)> = None;
    let mut finished: Vec<(String, i32, Counts)> = Vec::new();
    let mut leftovers = None;
    for line in console.lines() {
        let Some(said) = line.find(MARK).map(|at| &line[at + MARK.len()..]) else {
            if let Some((_, text)) = &mut current {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        };
        if let Some(name) = said.strip_prefix("begin ") {
            current = Some((name.to_owned(), String::new()));
        } else if let Some(end) = said.strip_prefix("end ") {
            let (name, status) = end.split_once(" status ").unwrap_or((end, "-1"));
            let text = current.take().map(|(_, t)| t).unwrap_or_default();
            finished.push((
                name.to_owned(),
                status.trim().parse().unwrap_or(-1),
                Counts::of_text(&text),
            ));
        } else if let Some(rest) = said.strip_prefix("leftovers: ") {
            leftovers = Some(rest.to_owned());
        }
    }

    let mut total = Counts::default();
    let mut problems = Vec::new();
    println!("\n---------- pure cgroup v2 VM ----------");
    for (name, _) in &tests.binaries {
        let Some((_, status, counts)) = finished.iter().find(|(n, ..)| n == name) else {
            println!("{name:<16} did not finish");
            problems.push(format!("{name} did not finish"));
            continue;
        };
        println!(
            "{name:<16} {:>3} passed, {:>2} failed, {:>2} ignored, {:>2} skipped",
            counts.passed,
            counts.failed,
            counts.ignored,
            counts.skipped.len()
        );
        for skip in &counts.skipped {
            // Not "skipped: ": this summary must not be counted again by a
            // reader of this process's output (the host suite runs these
            // unit tests with --show-output).
            println!("    skips {skip}");
        }
        if *status != 0 {
            problems.push(format!(
                "{name} exited with status {status} ({} failed)",
                counts.failed
            ));
        }
        for known in &counts.known {
            println!("    known {known}");
        }
        total.add(Counts {
            failures: counts
                .failures
                .iter()
                .map(|test| format!("{name}: {test}"))
                .collect(),
            ..counts.clone()
        });
    }
    // `capabilities_name_a_mode` prints the capabilities: the library must
    // have chosen cgroup v2 by itself.
    let modes: BTreeSet<&str> = console
        .lines()
        .filter_map(|l| l.strip_prefix("mode: "))
        .collect();
    if let Some(other) = modes.iter().find(|m| **m != "cgroup-v2") {
        problems.push(format!("the library chose mode {other}, not cgroup-v2"));
    }
    match leftovers.as_deref() {
        Some("none") => println!("nothing left behind"),
        Some(what) => problems.push(format!("left behind: {what}")),
        None => problems.push("the check for leftovers did not run".into()),
    }
    if total.passed == 0 && problems.is_empty() {
        problems.push("the VM ran no test".into());
    }
    if problems.is_empty() {
        Ok(total)
    } else {
        Err(Failed {
            why: format!(
                "{} ({} passed, {} failed)",
                problems.join("; "),
                total.passed,
                total.failed
            ),
            counts: Box::new(total),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_json_strings_are_read() {
        let line = r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"linux","test":true},"profile":{"test":true},"executable":"/a \"b\"/linux-1"}"#;
        let target = json_object(line, "target").unwrap();
        assert_eq!(json_string(target, "name").as_deref(), Some("linux"));
        assert!(target.contains(r#""kind":["test"]"#));
        assert_eq!(
            json_string(line, "executable").as_deref(),
            Some(r#"/a "b"/linux-1"#)
        );
    }

    #[test]
    fn the_console_is_counted_per_binary() {
        let tests = Tests {
            binaries: vec![("a".into(), "a".into()), ("b".into(), "b".into())],
            helper: "h".into(),
        };
        let console = "boot noise\n\
            winjob-vm: begin a\n\
            skipped: t: no way\n\
            test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n\
            winjob-vm: end a status 0\n\
            winjob-vm: begin b\n\
            test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\
            winjob-vm: end b status 0\n\
            winjob-vm: leftovers: none\n";
        let counts = verdict(console, &tests).unwrap();
        assert_eq!(
            (counts.passed, counts.ignored, counts.skipped.len()),
            (5, 1, 1)
        );

        let unfinished = console.replace("winjob-vm: end b status 0\n", "");
        assert!(
            verdict(&unfinished, &tests)
                .unwrap_err()
                .why
                .contains("b did not finish")
        );
        let left = console.replace("leftovers: none", "leftovers: job directories [ x ]");
        assert!(
            verdict(&left, &tests)
                .unwrap_err()
                .why
                .contains("left behind")
        );
        let v1 = console.replace("boot noise", "mode: cgroup-v1");
        assert!(
            verdict(&v1, &tests)
                .unwrap_err()
                .why
                .contains("chose mode cgroup-v1")
        );
    }

    #[test]
    fn cpio_entries_are_aligned() {
        let path = std::env::temp_dir().join(format!("xtask-cpio-{}", std::process::id()));
        let mut cpio = Cpio::new(File::create(&path).unwrap());
        cpio.file("a/b/init", b"12345").unwrap();
        cpio.finish().unwrap();
        let bytes = fs::read(&path).unwrap();
        let _ = fs::remove_file(&path);
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(&bytes[..6], b"070701");
        // "a", "a/b", "a/b/init", then the trailer.
        assert_eq!(bytes.windows(6).filter(|w| w == b"070701").count(), 4);
    }
}
