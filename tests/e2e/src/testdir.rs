//! One test's private directory, and runs of the binary inside it.

use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::sink::SinkDir;
use crate::wait;

/// How long one run of the binary may take before it is killed.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The config file's name inside the test directory.
const CONFIG_FILE: &str = "acmekeep.toml";

/// How many lines of each log a failure report shows.
const LOG_TAIL_LINES: usize = 40;

/// A temporary directory for one test: config file, state directory, sinks, server logs.
///
/// Removed when dropped. Layout: `acmekeep.toml`, `state/`, `out/<certificate>/`,
/// `pebble/` (see [`crate::Pebble::start`]), `run-N.stdout` / `run-N.stderr`.
#[derive(Debug)]
pub struct TestDir {
    dir: tempfile::TempDir,
    runs: Cell<u32>,
    env: RefCell<Vec<(OsString, Option<OsString>)>>,
}

impl Default for TestDir {
    fn default() -> Self {
        TestDir::new()
    }
}

impl TestDir {
    /// Creates a fresh, empty test directory.
    pub fn new() -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix("acmekeep-e2e-")
            .tempdir()
            .expect("create a temporary test directory");
        TestDir {
            dir,
            runs: Cell::new(0),
            env: RefCell::new(Vec::new()),
        }
    }

    /// Sets environment variable `key` for every later run and daemon of this directory.
    pub fn set_env(&self, key: impl Into<OsString>, value: impl Into<OsString>) {
        self.env.borrow_mut().push((key.into(), Some(value.into())));
    }

    /// Removes environment variable `key` for every later run and daemon of this directory.
    pub fn remove_env(&self, key: impl Into<OsString>) {
        self.env.borrow_mut().push((key.into(), None));
    }

    /// Applies what [`TestDir::set_env`] and [`TestDir::remove_env`] asked, in order.
    pub(crate) fn apply_env(&self, command: &mut Command) {
        for (key, value) in self.env.borrow().iter() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the config file is written, and what `--config` points at.
    pub fn config_path(&self) -> PathBuf {
        self.path().join(CONFIG_FILE)
    }

    /// The `state_dir` the configs from [`crate::Config`] use.
    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    /// The files sink directory of certificate `name`, as configured by [`crate::Config`].
    pub fn sink(&self, name: &str) -> SinkDir {
        SinkDir::new(self.path().join("out").join(name))
    }

    /// Writes `toml` as the config file and returns its path.
    pub fn write_config(&self, toml: &str) -> PathBuf {
        let path = self.config_path();
        fs::write(&path, toml).expect("write the config file");
        path
    }

    /// Runs `acmekeep --config <config_path> ARGS…` to completion (killing it after 60 s).
    ///
    /// The binary is `ACMEKEEP_BIN` if set, else `acmekeep` in the cargo profile directory
    /// this test executable was built into (`target/debug/deps/e2e-…` → `target/debug/acmekeep`).
    pub fn acmekeep(&self, args: &[&str]) -> Run {
        self.acmekeep_in(self.path(), &self.config_path(), args)
    }

    /// Runs `acmekeep --config CONFIG ARGS…` with working directory `cwd`, as a user does who
    /// gives a relative `--config` from some directory; otherwise like [`TestDir::acmekeep`].
    pub fn acmekeep_in(&self, cwd: &Path, config: &Path, args: &[&str]) -> Run {
        let binary = acmekeep_binary();
        let run = self.runs.get() + 1;
        self.runs.set(run);
        let stdout_path = self.path().join(format!("run-{run}.stdout"));
        let stderr_path = self.path().join(format!("run-{run}.stderr"));

        let mut command = Command::new(&binary);
        command
            .arg("--config")
            .arg(config)
            .args(args)
            .current_dir(cwd)
            .env_remove("ACMEKEEP_CONFIG")
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("create the stdout file"))
            .stderr(File::create(&stderr_path).expect("create the stderr file"));
        self.apply_env(&mut command);
        let rendered = format!("{command:?}");
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));

        let timed_out = wait::until(RUN_TIMEOUT, "acmekeep to exit", || {
            Ok(wait::exited(&mut child))
        })
        .is_err();
        if timed_out {
            // It may have exited just now; either way wait() below reaps it.
            let _ = child.kill();
        }
        let status = child.wait().expect("reap acmekeep");
        let read =
            |path: &Path| String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned();
        Run {
            command: rendered,
            status,
            timed_out,
            stdout: read(&stdout_path),
            stderr: read(&stderr_path),
            dir: self.path().to_path_buf(),
        }
    }
}

/// Locates the binary under test, or fails with how to build it.
pub(crate) fn acmekeep_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ACMEKEEP_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe.parent().and_then(Path::parent).unwrap_or_else(|| {
        panic!(
            "test executable {} is not in target/<profile>/deps",
            exe.display()
        )
    });
    let binary = profile_dir.join(format!("acmekeep{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        panic!(
            "acmekeep binary not found at {}: run scripts/test, or `cargo build -p acmekeep` \
             before `cargo test -p e2e` (or set ACMEKEEP_BIN)",
            binary.display()
        );
    }
    binary
}

/// The outcome of one run of the binary, with assertions that explain themselves.
///
/// Every failed assertion panics with the command line, exit status, stdout, stderr and the
/// tail of every `*.log` file under the test directory (pebble's and challtestsrv's).
#[derive(Debug)]
pub struct Run {
    command: String,
    status: ExitStatus,
    timed_out: bool,
    stdout: String,
    stderr: String,
    dir: PathBuf,
}

impl Run {
    /// What the binary wrote to stdout.
    pub fn stdout(&self) -> &str {
        &self.stdout
    }

    /// What the binary wrote to stderr.
    pub fn stderr(&self) -> &str {
        &self.stderr
    }

    /// The stdout line about certificate `name` (`name: …`), failing if there is none.
    pub fn line_for(&self, name: &str) -> &str {
        let prefix = format!("{name}: ");
        self.stdout
            .lines()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| self.fail(&format!("no stdout line starts with {prefix:?}")))
    }

    /// Asserts exit status 0.
    pub fn assert_success(&self) -> &Run {
        self.assert_exit(0)
    }

    /// Asserts the process exited by itself with `code`.
    pub fn assert_exit(&self, code: i32) -> &Run {
        if self.timed_out {
            self.fail(&format!(
                "expected exit {code}, but it was killed after {RUN_TIMEOUT:?}"
            ));
        }
        if self.status.code() != Some(code) {
            self.fail(&format!("expected exit {code}, got {}", self.status));
        }
        self
    }

    /// Asserts stdout contains `needle`.
    pub fn assert_stdout_contains(&self, needle: &str) -> &Run {
        if !self.stdout.contains(needle) {
            self.fail(&format!("stdout does not contain {needle:?}"));
        }
        self
    }

    /// Asserts stderr contains `needle`.
    pub fn assert_stderr_contains(&self, needle: &str) -> &Run {
        if !self.stderr.contains(needle) {
            self.fail(&format!("stderr does not contain {needle:?}"));
        }
        self
    }

    /// Fails the test with `why` followed by the full report of this run.
    pub fn fail(&self, why: &str) -> ! {
        panic!("{why}\n\n{self}")
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(
            f,
            "status: {}{}",
            self.status,
            if self.timed_out {
                " (killed: timeout)"
            } else {
                ""
            }
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        writeln!(f, "--- stderr ---\n{}", self.stderr)?;
        let config = self.dir.join(CONFIG_FILE);
        writeln!(
            f,
            "--- {} ---\n{}",
            config.display(),
            fs::read_to_string(&config).unwrap_or_default()
        )?;
        for log in log_files(&self.dir) {
            writeln!(f, "{}", tail(&log))?;
        }
        Ok(())
    }
}

/// Every `*.log` file under `dir`, sorted.
pub(crate) fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut logs = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "log") {
                logs.push(path);
            }
        }
    }
    logs.sort();
    logs
}

/// The last lines of the file at `path`, under a header naming it.
pub(crate) fn tail(path: &Path) -> String {
    let text = String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    format!(
        "--- {} (last {} lines) ---\n{}",
        path.display(),
        lines.len() - start,
        lines[start..].join("\n")
    )
}
