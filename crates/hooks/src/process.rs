//! The runner: one program in its own process group, bounded in time.

use std::ffi::OsStr;
use std::future::Future;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::process::Command;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug};

/// One output stream of a running program, as handed to its reader.
pub type Pipe = Pin<Box<dyn AsyncRead + Send>>;

/// Which output stream a [`Pipe`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// How a program's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It exited (or was killed by someone else) with this status.
    Exited(ExitStatus),
    /// It outlived the timeout and was killed with its process group.
    TimedOut,
}

/// A finished run: how it ended and what the readers of its output returned. A reader
/// still busy when the output grace period ends is stopped and gives `None`.
#[derive(Debug)]
pub struct Finished<T> {
    /// How the program ended.
    pub ending: Ending,
    /// What the stdout reader returned.
    pub stdout: Option<T>,
    /// What the stderr reader returned.
    pub stderr: Option<T>,
}

/// A program to run in its own process group, with stdin closed, stdout and stderr piped to
/// readers, and the `ACMEKEEP__…` configuration overrides removed from its environment.
#[derive(Debug)]
pub struct Process {
    command: Command,
}

impl Process {
    /// Prepares `program`; add arguments and environment through [`command`](Self::command).
    pub fn new(program: impl AsRef<OsStr>) -> Process {
        let mut command = Command::new(program);
        for name in acme_core::config_override_vars() {
            command.env_remove(name);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        Process { command }
    }

    /// The command, for its arguments and environment.
    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Runs the program until it exits or `timeout` passes, when it is killed together with
    /// everything it started. Each output stream is handed to `read` in a task of its own;
    /// once the program has ended, the readers get `output_grace` to finish, since a process
    /// it left in the background may hold the pipes open for much longer. If this future is
    /// dropped before the program ends, the whole process group is killed.
    ///
    /// An error means the program could not be started or waited for.
    pub async fn run<T, F, Fut>(
        mut self,
        timeout: Duration,
        output_grace: Duration,
        read: F,
    ) -> std::io::Result<Finished<T>>
    where
        F: Fn(Stream, Pipe) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let mut child = self.command.spawn()?;
        let mut group = ProcessGroup::of(child.id());
        let span = tracing::Span::current();
        let spawn_reader = |stream: Stream, pipe: Option<Pipe>| {
            pipe.map(|pipe| tokio::spawn(read(stream, pipe).instrument(span.clone())))
        };
        let stdout = spawn_reader(
            Stream::Stdout,
            child.stdout.take().map(|pipe| Box::pin(pipe) as Pipe),
        );
        let stderr = spawn_reader(
            Stream::Stderr,
            child.stderr.take().map(|pipe| Box::pin(pipe) as Pipe),
        );

        let ending = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => {
                // The program has exited and been reaped: its process group id may be
                // reused from now on, so it must not be signalled any more.
                group.disarm();
                Ok(Ending::Exited(status))
            }
            Ok(Err(error)) => Err(error),
            Err(_) => {
                group.kill();
                if let Err(error) = child.wait().await {
                    debug!("cannot reap a timed-out program: {error}");
                }
                Ok(Ending::TimedOut)
            }
        };

        let deadline = tokio::time::Instant::now() + output_grace;
        let stdout = collect(stdout, deadline).await;
        let stderr = collect(stderr, deadline).await;
        Ok(Finished {
            ending: ending?,
            stdout,
            stderr,
        })
    }
}

/// What a reader returned, or `None` (and the reader stopped) if it is still busy at
/// `deadline`.
async fn collect<T>(reader: Option<JoinHandle<T>>, deadline: tokio::time::Instant) -> Option<T> {
    let mut task = reader?;
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(result) => result.ok(),
        Err(_) => {
            debug!("output still open after the program ended; no longer read");
            task.abort();
            None
        }
    }
}

/// The process group of a running program; killed as a whole when dropped while still
/// armed, so a cancelled run (the daemon shutting down) leaves nothing behind.
struct ProcessGroup(Option<nix::unistd::Pid>);

impl ProcessGroup {
    fn of(pid: Option<u32>) -> ProcessGroup {
        ProcessGroup(
            pid.and_then(|pid| i32::try_from(pid).ok())
                .map(nix::unistd::Pid::from_raw),
        )
    }

    /// Sends SIGKILL to every process of the group.
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            match nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(error) => debug!(%pgid, "cannot kill the process group: {error}"),
            }
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
