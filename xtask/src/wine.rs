//! Running the Windows build under Wine 8.0: tools, a private prefix, the
//! `ProcessPrng` shim, and one persistent `wineserver` for the whole run.
//!
//! The facts behind each step are in the research notes on Wine: Rust 1.78+
//! binaries import `bcryptprimitives.dll!ProcessPrng`, which Wine 8.0 lacks
//! (every exe would exit 53 silently), so a ten-line DLL is built with mingw
//! and put in the prefix's `system32`; crash dialogs (`winedbg`, which would
//! join the job under test) are pointed at an exe that does not exist; the
//! persistent server gets `/dev/null` for its output, or it would hold the
//! caller's pipe open for ever; and leftover Linux processes of Wine programs
//! are looked for and killed after the server stops.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::run::{root, run, succeeds, target_dir};

/// The Windows target the suite is cross-compiled for.
pub(crate) const TARGET: &str = "x86_64-pc-windows-gnu";

/// The other Windows targets the library is compiled for (not run): 32-bit
/// and ARM64 layouts.
pub(crate) const OTHER_WINDOWS_TARGETS: [&str; 2] =
    ["i686-pc-windows-gnu", "aarch64-pc-windows-msvc"];

/// Debian packages the Wine suite needs.
/// Wine, mingw, and GNU `time` (`/usr/bin/time`, which the CLI tests
/// compare `winjob run`'s figures with; `timeout` and `script` are in
/// Debian's essential packages).
const PACKAGES: &[&str] = &["wine64", "wine", "gcc-mingw-w64-x86-64", "time"];

/// The private prefix, kept between runs (about 700 MB; `wineboot` takes
/// seconds the first time only).
pub(crate) fn prefix() -> PathBuf {
    target_dir().join("wineprefix")
}

/// Installs what is missing: the Debian packages (with `apt-get`, through
/// `sudo` when not root) and the Rust target (with `rustup`).
pub(crate) fn ensure_tools() -> Result<(), String> {
    let have_wine = succeeds("wine", &["--version"]);
    let have_mingw = succeeds("x86_64-w64-mingw32-gcc", &["--version"]);
    let have_time = std::path::Path::new("/usr/bin/time").exists();
    if !(have_wine && have_mingw && have_time) {
        eprintln!(
            "xtask: installing {PACKAGES:?} (wine: {have_wine}, mingw: {have_mingw}, time: \
             {have_time})"
        );
        let sudo = !is_root() && succeeds("sudo", &["-n", "true"]);
        let apt = |args: &[&str]| {
            let mut command = if sudo {
                let mut c = Command::new("sudo");
                c.arg("-n")
                    .arg("env")
                    .arg("DEBIAN_FRONTEND=noninteractive")
                    .arg("apt-get");
                c
            } else {
                let mut c = Command::new("apt-get");
                c.env("DEBIAN_FRONTEND", "noninteractive");
                c
            };
            command.args(args);
            run(&mut command)
        };
        apt(&["update", "-qq"])?;
        let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
        install.extend_from_slice(PACKAGES);
        apt(&install)?;
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    for target in std::iter::once(TARGET).chain(OTHER_WINDOWS_TARGETS) {
        if !installed.lines().any(|l| l.trim() == target) {
            run(Command::new("rustup").args(["target", "add", target]))
                .map_err(|e| format!("cannot add the Rust target {target}: {e}"))?;
        }
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Sets the environment a Wine run needs on `command`.
pub(crate) fn configure(command: &mut Command) {
    command
        .env("WINEPREFIX", prefix())
        .env("WINEDEBUG", "-all")
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine")
        .env("WINJOB_UNDER_WINE", "1");
}

fn wine(program: &str) -> Command {
    let mut command = Command::new(program);
    configure(&mut command);
    command.stdin(Stdio::null());
    command
}

/// A persistent `wineserver` for one run; stopped (and its stray processes
/// killed) on drop.
pub(crate) struct Server(());

impl Server {
    /// Prepares the prefix and starts the server.
    pub(crate) fn start() -> Result<Server, String> {
        let prefix = prefix();
        fs::create_dir_all(&prefix)
            .map_err(|e| format!("cannot create {}: {e}", prefix.display()))?;
        // `-p`: stay up until `-k`. It must start before any other Wine
        // program, and must not hold our output open (see the module docs).
        let _ = wine("wineserver")
            .arg("-p")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let server = Server(());
        let system32 = prefix.join("drive_c/windows/system32");
        if !system32.is_dir() {
            run(wine("wineboot")
                .arg("-i")
                .stdout(Stdio::null())
                .stderr(Stdio::null()))?;
        }
        run(wine("wine")
            .args([
                "reg",
                "add",
                r"HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug",
                "/v",
                "Debugger",
                "/t",
                "REG_SZ",
                "/d",
                r"C:\nodebugger.exe",
                "/f",
            ])
            .stdout(Stdio::null()))?;
        let dll = target_dir().join("bcryptprimitives.dll");
        run(Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "-o"])
            .arg(&dll)
            .arg(root().join("xtask/wine/bcryptprimitives.c"))
            .arg("-ladvapi32"))?;
        fs::copy(&dll, system32.join("bcryptprimitives.dll"))
            .map_err(|e| format!("cannot install the ProcessPrng shim: {e}"))?;
        // Start Wine's services now, not inside the first test.
        run(wine("wine")
            .args(["cmd", "/c", "exit", "0"])
            .stdout(Stdio::null()))?;
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = wine("wineserver")
            .arg("-k")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        thread::sleep(Duration::from_millis(300));
        let strays = stray_processes();
        if !strays.is_empty() {
            eprintln!("xtask: killing Wine processes left after the server stopped: {strays:?}");
            for pid in strays {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

/// Linux processes that belong to the prefix or run a test binary of this
/// workspace's Windows build.
fn stray_processes() -> Vec<u32> {
    let prefix = prefix().to_string_lossy().into_owned();
    let build = target_dir().join(TARGET).to_string_lossy().into_owned();
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        let in_prefix = environ
            .split(|b| *b == 0)
            .any(|var| var == format!("WINEPREFIX={prefix}").as_bytes());
        if in_prefix || cmdline.contains(&build) {
            found.push(pid);
        }
    }
    found
}
