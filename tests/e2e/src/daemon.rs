//! The daemon (`acmekeep run`) as a background process of one test.

use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::testdir::{TestDir, acmekeep_binary, log_files, tail};
use crate::wait;

/// How long [`Daemon::stop`] waits for a clean exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `acmekeep run`; killed on drop if the test did not stop it.
///
/// Its standard error goes to `daemon-N.log` in the test directory, so every failure report
/// of the test shows its tail.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    log: PathBuf,
    dir: PathBuf,
}

impl TestDir {
    /// Starts `acmekeep --config … run` in the background.
    pub fn spawn_daemon(&self) -> Daemon {
        let binary = acmekeep_binary();
        let mut n = 1;
        while self.path().join(format!("daemon-{n}.log")).exists() {
            n += 1;
        }
        let log = self.path().join(format!("daemon-{n}.log"));
        let mut command = Command::new(&binary);
        command
            .arg("--config")
            .arg(self.config_path())
            .arg("run")
            .current_dir(self.path())
            .env_remove("ACMEKEEP_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(
                File::create(self.path().join(format!("daemon-{n}.stdout"))).expect("stdout file"),
            )
            .stderr(File::create(&log).expect("create the daemon log"));
        self.apply_env(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        Daemon {
            child,
            log,
            dir: self.path().to_path_buf(),
        }
    }
}

impl Daemon {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }

    /// Waits until `count` log lines contain `needle`, failing the test after `timeout`.
    pub fn wait_for(&self, needle: &str, count: usize, timeout: Duration) {
        let what = format!("{count} log line(s) containing {needle:?}");
        wait::until(timeout, &what, || Ok(self.count(needle) >= count))
            .unwrap_or_else(|why| self.fail(&why));
    }

    /// Sends a signal by name (`HUP`, `TERM`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Sends SIGTERM and waits for the exit, failing the test if it takes too long.
    pub fn stop(mut self) -> ExitStatus {
        self.signal("TERM");
        wait::until(STOP_TIMEOUT, "the daemon to exit after SIGTERM", || {
            Ok(wait::exited(&mut self.child))
        })
        .unwrap_or_else(|why| self.fail(&why));
        // Reaped above; `wait` hands back the status it kept.
        self.child.wait().expect("the daemon's exit status")
    }

    /// Fails the test with `why`, the daemon's log and every server log.
    pub fn fail(&self, why: &str) -> ! {
        let mut report = format!(
            "{why}\n\n--- daemon log {} ---\n{}\n",
            self.log.display(),
            self.log()
        );
        for log in log_files(&self.dir) {
            if log != self.log {
                report.push_str(&tail(&log));
                report.push('\n');
            }
        }
        panic!("{report}")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
