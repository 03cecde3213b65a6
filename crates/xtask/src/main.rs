//! `cargo xtask test`: the one command that runs every test of the workspace.
//!
//! 1. `cargo test --workspace --all-features` (unit, integration and doc tests);
//! 2. the interop suites in `interop/` against the official npm packages and python-socketio,
//!    installing their dependencies from the committed lock files first (our client against
//!    the npm server is `crates/socketio-client/tests/interop.rs`, run here with `--ignored`
//!    once `node_modules` is installed);
//! 3. the browser test in `interop/browser/`: headless Chromium (Debian's `chromium`, installed
//!    with apt-get when missing; `CHROMIUM` overrides the binary) driven by playwright-core
//!    against `sio serve`.
//! 4. the Autobahn WebSocket suite against `examples/autobahn-echo` (`interop/autobahn/run.sh`,
//!    skipped when no CPython 2.7 is installed).
//!
//! Services the tests need (Redis on 127.0.0.1:6379) are started if they are not running.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("interop") => interop(),
        _ => {
            eprintln!("usage: cargo xtask test [--no-interop]\n       cargo xtask interop");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    // crates/xtask -> workspace root. `cargo run` sets CARGO_MANIFEST_DIR for the process; it
    // is read at run time because checkouts sharing one target directory share one xtask
    // binary, and the path compiled in is the one of whichever checkout built it.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir.join("../..")
}

/// The cargo target directory: `CARGO_TARGET_DIR` when set (several checkouts may share one),
/// `target/` of the workspace otherwise.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn test(args: &[String]) -> Result<(), String> {
    ensure_redis()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(&cargo).current_dir(root()).args([
        "test",
        "--workspace",
        "--all-features",
        "--locked",
    ]))?;
    if args.iter().any(|a| a == "--no-interop") {
        return Ok(());
    }
    interop()
}

/// Runs the interop suites and the browser test, if present.
fn interop() -> Result<(), String> {
    let dir = root().join("interop");
    if !dir.join("package.json").exists() {
        eprintln!("xtask: no interop suite yet");
        return Ok(());
    }
    ensure_redis()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // The test servers and clients the Node tests drive.
    run(Command::new(&cargo).current_dir(root()).args([
        "build",
        "--locked",
        "--examples",
        "--bins",
        "--workspace",
    ]))?;
    if !dir.join("node_modules/.package-lock.json").exists() || lock_newer(&dir) {
        run(Command::new("npm")
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund"]))?;
    }
    // Our client against the official npm server: Rust tests that need node_modules.
    run(Command::new(&cargo).current_dir(root()).args([
        "test",
        "--locked",
        "-p",
        "socketio-client",
        "--test",
        "interop",
        "--",
        "--ignored",
    ]))?;
    run(Command::new("node")
        .current_dir(&dir)
        .env("TARGET_DIR", target_dir().join("debug"))
        .args(["--test", "--test-concurrency=1", "tests/"]))?;
    let py = dir.join("python");
    if py.join("requirements.txt").exists() {
        let venv = py.join(".venv");
        if !venv.join("bin/python").exists() {
            run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        }
        run(Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(py.join("requirements.txt")))?;
        run(Command::new(venv.join("bin/python"))
            .current_dir(&py)
            .env("TARGET_DIR", target_dir().join("debug"))
            .args(["-m", "pytest", "-q", "."]))?;
    }
    // Autobahn against the WebSocket layer (skips itself without a CPython 2.7).
    let autobahn = dir.join("autobahn/run.sh");
    if autobahn.exists() {
        run(Command::new("bash")
            .arg(autobahn)
            .arg(target_dir().join("debug")))?;
    }
    browser(&dir.join("browser"))
}

/// Runs the real-browser test in `dir` (`interop/browser`), if present.
fn browser(dir: &Path) -> Result<(), String> {
    if !dir.join("package.json").exists() {
        return Ok(());
    }
    let chromium = ensure_chromium()?;
    if !dir.join("node_modules/.package-lock.json").exists() || lock_newer(dir) {
        run(Command::new("npm")
            .current_dir(dir)
            .args(["ci", "--no-audit", "--no-fund"]))?;
    }
    run(Command::new("node")
        .current_dir(dir)
        .env("TARGET_DIR", target_dir().join("debug"))
        .env("CHROMIUM", chromium)
        .args(["--test", "--test-concurrency=1", "tests/"]))
}

/// The Chromium binary: `CHROMIUM`, or `chromium` on the PATH, installed from Debian's
/// packages when missing (the project's machines and CI run as root).
fn ensure_chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = which("chromium") {
        return Ok(path);
    }
    if which("apt-get").is_some() {
        eprintln!("xtask: chromium is not installed, installing Debian's package");
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        run(Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "chromium"]))?;
        if let Some(path) = which("chromium") {
            return Ok(path);
        }
    }
    Err(
        "the browser test needs Chromium: install Debian's `chromium` package, or set \
         CHROMIUM to a Chromium binary"
            .into(),
    )
}

/// The first executable file called `name` in the PATH's directories.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn lock_newer(dir: &Path) -> bool {
    let m = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        m(dir.join("package-lock.json")),
        m(dir.join("node_modules/.package-lock.json")),
    ) {
        (Some(lock), Some(installed)) => lock > installed,
        _ => true,
    }
}

/// Starts a throwaway Redis on 127.0.0.1:6379 when none answers there.
fn ensure_redis() -> Result<(), String> {
    let addr = "127.0.0.1:6379".parse().map_err(|e| format!("{e}"))?;
    if TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
        return Ok(());
    }
    eprintln!("xtask: redis is not running on 127.0.0.1:6379, starting it");
    let started = Command::new("redis-server")
        .args([
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
        ])
        .args(["--appendonly", "no"])
        .status();
    if !started.is_ok_and(|s| s.success()) {
        // Not every test needs Redis; the ones that do report it themselves.
        eprintln!("xtask: could not start redis-server");
        return Ok(());
    }
    for _ in 0..50 {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("redis-server started but does not answer on 127.0.0.1:6379".into())
}
