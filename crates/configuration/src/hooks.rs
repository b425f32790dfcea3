//! Hook commands run around an issuance.
//!
//! `pre` hooks run before an issuance is attempted, `deploy` hooks after a new certificate
//! has been delivered to every sink, `post` hooks after every attempt, successful or not.
//! Each hook is a shell command line, run with `/bin/sh -c` in its own process group, with
//! stdin closed and stdout/stderr logged line by line. The commands of a stage run in
//! order; the first that fails or outlives the timeout stops the stage. A hook that times
//! out is killed together with everything it started (the whole process group).
//!
//! What a hook learns about the certificate comes through `ACMEKEEP_*` environment
//! variables (see [`HookEnv`]); variables a stage does not define are removed, so a value
//! inherited from acmekeep's own environment is never mistaken for one about the certificate.
//! The `ACMEKEEP__…` configuration overrides are removed too: they may hold secrets. Output
//! is logged [printable](acme_core::printable): control characters escaped.

use std::fmt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acme_core::SinkFiles;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tracing::{Instrument, debug, info};

/// How long a hook may run when the configuration does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long output is still read after the hook's shell has exited; a process it left in
/// the background may hold the pipes open for much longer.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);
/// The longest line of output logged; the rest of a longer line is counted, not logged.
/// No longer than what [`acme_core::printable`] prints whole.
const MAX_LINE_BYTES: usize = acme_core::MAX_REMOTE_TEXT;
/// The most lines logged per stream of one command; further lines are counted.
const MAX_LINES: usize = 100;

/// `hooks` of a certificate: shell command lines per stage, and how long each may run.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    /// Run before an issuance is attempted (e.g. to free port 80).
    pub pre: Vec<String>,
    /// Run after every issuance attempt, with `ACMEKEEP_RESULT=success|failure`.
    pub post: Vec<String>,
    /// Run after a new certificate was delivered to every sink (e.g. reload a web server).
    pub deploy: Vec<String>,
    /// How long one command may run before it and its children are killed (default 60s).
    #[serde(deserialize_with = "acme_core::duration::deserialize")]
    pub timeout: Duration,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            pre: Vec::new(),
            post: Vec::new(),
            deploy: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl HooksConfig {
    /// The commands configured for `stage`.
    pub fn commands(&self, stage: Stage) -> &[String] {
        match stage {
            Stage::Pre => &self.pre,
            Stage::Deploy => &self.deploy,
            Stage::Post(_) => &self.post,
        }
    }

    /// Runs the commands configured for `stage` with the configured timeout.
    pub async fn run(&self, stage: Stage, env: &HookEnv) -> Result<(), HookError> {
        run(stage, self.commands(stage), env, self.timeout).await
    }
}

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Before an issuance is attempted.
    Pre,
    /// After a new certificate was delivered.
    Deploy,
    /// After an issuance attempt, with its outcome.
    Post(Outcome),
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Pre => "pre",
            Stage::Deploy => "deploy",
            Stage::Post(_) => "post",
        })
    }
}

/// How an issuance attempt ended, for `post` hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A certificate was issued and delivered.
    Success,
    /// The attempt failed.
    Failure,
}

/// What hooks are told about the certificate, as `ACMEKEEP_*` environment variables.
///
/// | variable | value | stages |
/// |---|---|---|
/// | `ACMEKEEP_CERT_NAME` | the certificate's name in the configuration | all |
/// | `ACMEKEEP_DOMAINS` | its names, space separated | all |
/// | `ACMEKEEP_ISSUER` | the issuer's name in the configuration | all |
/// | `ACMEKEEP_CERT_PATH`, `_CHAIN_PATH`, `_FULLCHAIN_PATH`, `_KEY_PATH` | files of the first `files` sink | all, with a files sink |
/// | `ACMEKEEP_SINK_DIRS` | directories of all `files` sinks, space separated | all, with a files sink |
/// | `ACMEKEEP_SERIAL` | serial number of the certificate (hex) | deploy, post, when known |
/// | `ACMEKEEP_NOT_AFTER` | its expiry, RFC 3339 | deploy, post, when known |
/// | `ACMEKEEP_RESULT` | `success` or `failure` | post |
#[derive(Clone, Debug, Default)]
pub struct HookEnv {
    /// The certificate's name in the configuration.
    pub cert_name: String,
    /// The names the certificate covers.
    pub names: Vec<String>,
    /// The issuer's name in the configuration.
    pub issuer: String,
    /// The files of each `files` sink, in configuration order.
    pub files: Vec<SinkFiles>,
    /// The serial number of the current certificate, when known.
    pub serial: Option<String>,
    /// The expiry of the current certificate, when known.
    pub not_after: Option<SystemTime>,
}

impl HookEnv {
    /// Every `ACMEKEEP_*` variable with its value for `stage`, `None` where it is to be
    /// removed from the inherited environment.
    fn vars(&self, stage: Stage) -> Vec<(&'static str, Option<String>)> {
        let first = self.files.first();
        let path = |pick: fn(&SinkFiles) -> &Path| first.map(|f| pick(f).display().to_string());
        let dirs = self
            .files
            .iter()
            .filter_map(|f| f.cert.parent())
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>();
        let issued = matches!(stage, Stage::Deploy | Stage::Post(_));
        let result = match stage {
            Stage::Post(Outcome::Success) => Some("success".to_string()),
            Stage::Post(Outcome::Failure) => Some("failure".to_string()),
            Stage::Pre | Stage::Deploy => None,
        };
        vec![
            ("ACMEKEEP_CERT_NAME", Some(self.cert_name.clone())),
            ("ACMEKEEP_DOMAINS", Some(self.names.join(" "))),
            ("ACMEKEEP_ISSUER", Some(self.issuer.clone())),
            ("ACMEKEEP_CERT_PATH", path(|f| &f.cert)),
            ("ACMEKEEP_CHAIN_PATH", path(|f| &f.chain)),
            ("ACMEKEEP_FULLCHAIN_PATH", path(|f| &f.fullchain)),
            ("ACMEKEEP_KEY_PATH", path(|f| &f.key)),
            (
                "ACMEKEEP_SINK_DIRS",
                (!dirs.is_empty()).then(|| dirs.join(" ")),
            ),
            ("ACMEKEEP_SERIAL", self.serial.clone().filter(|_| issued)),
            (
                "ACMEKEEP_NOT_AFTER",
                self.not_after
                    .filter(|_| issued)
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            ),
            ("ACMEKEEP_RESULT", result),
        ]
    }
}

/// Why a stage of hooks failed; each message names the stage and the command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The shell could not be started or waited for.
    #[error("{stage} hook {command:?} could not be run: {source}")]
    Run {
        /// The stage.
        stage: Stage,
        /// The command line.
        command: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The command ended unsuccessfully.
    #[error("{stage} hook {command:?} {status}")]
    Failed {
        /// The stage.
        stage: Stage,
        /// The command line.
        command: String,
        /// How it ended, e.g. "exited with status 1".
        status: String,
    },
    /// The command ran longer than the timeout and was killed with its process group.
    #[error("{stage} hook {command:?} timed out after {}", format_timeout(*.timeout))]
    TimedOut {
        /// The stage.
        stage: Stage,
        /// The command line.
        command: String,
        /// The configured timeout.
        timeout: Duration,
    },
}

/// Runs `commands` in order for `stage`; the first one that fails or times out stops the
/// stage and is returned as the error.
pub async fn run(
    stage: Stage,
    commands: &[String],
    env: &HookEnv,
    timeout: Duration,
) -> Result<(), HookError> {
    let vars = env.vars(stage);
    for command in commands {
        run_one(stage, command, &vars, timeout).await?;
    }
    Ok(())
}

async fn run_one(
    stage: Stage,
    command: &str,
    vars: &[(&'static str, Option<String>)],
    timeout: Duration,
) -> Result<(), HookError> {
    let run_error = |source| HookError::Run {
        stage,
        command: command.to_string(),
        source,
    };
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in acme_core::config_override_vars() {
        cmd.env_remove(name);
    }
    for (key, value) in vars {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    info!(%stage, command, "running hook");
    let mut child = cmd.spawn().map_err(run_error)?;
    let mut group = ProcessGroup::of(child.id());
    let shared: Arc<str> = Arc::from(command);
    let mut output = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        output.push(spawn_output_log(stdout, stage, shared.clone(), "stdout"));
    }
    if let Some(stderr) = child.stderr.take() {
        output.push(spawn_output_log(stderr, stage, shared, "stderr"));
    }

    let result = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            // The shell has exited and been reaped: its process group id may be reused
            // from now on, so it must not be signalled any more.
            group.disarm();
            check_status(status).map_err(|status| HookError::Failed {
                stage,
                command: command.to_string(),
                status,
            })
        }
        Ok(Err(source)) => Err(run_error(source)),
        Err(_) => {
            group.kill();
            if let Err(error) = child.wait().await {
                debug!(command, "cannot reap a timed-out hook: {error}");
            }
            Err(HookError::TimedOut {
                stage,
                command: command.to_string(),
                timeout,
            })
        }
    };

    let deadline = tokio::time::Instant::now() + OUTPUT_GRACE;
    for mut task in output {
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            debug!(
                command,
                "hook output still open after it exited; no longer read"
            );
            task.abort();
        }
    }
    result
}

/// `Ok` for exit status 0, else how the command ended.
fn check_status(status: ExitStatus) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return Ok(());
    }
    Err(match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    })
}

/// `60s`, `500ms`: the timeout as the operator would write it.
fn format_timeout(timeout: Duration) -> String {
    if timeout.subsec_nanos() == 0 {
        format!("{}s", timeout.as_secs())
    } else {
        format!("{}ms", timeout.as_millis())
    }
}

/// The process group of a running hook; killed as a whole when dropped while still armed,
/// so a cancelled run (the daemon shutting down) leaves nothing behind.
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
                Err(error) => debug!(%pgid, "cannot kill the hook's process group: {error}"),
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

fn spawn_output_log(
    reader: impl AsyncRead + Unpin + Send + 'static,
    stage: Stage,
    command: Arc<str>,
    stream: &'static str,
) -> tokio::task::JoinHandle<()> {
    let log = OutputLog {
        stage,
        command,
        stream,
        line: Vec::new(),
        cut: 0,
        logged: 0,
        unlogged: 0,
    };
    tokio::spawn(log.read(reader).instrument(tracing::Span::current()))
}

/// Logs one output stream of a hook line by line, within bounds: lines longer than
/// [`MAX_LINE_BYTES`] are shortened and say by how much, lines beyond [`MAX_LINES`] are
/// counted and the count is logged at the end. Reading goes on past the bounds so that the
/// hook never blocks on a full pipe.
struct OutputLog {
    stage: Stage,
    command: Arc<str>,
    stream: &'static str,
    /// The start of the current line, at most `MAX_LINE_BYTES`.
    line: Vec<u8>,
    /// Bytes of the current line beyond `line`.
    cut: usize,
    logged: usize,
    unlogged: usize,
}

impl OutputLog {
    async fn read(mut self, reader: impl AsyncRead + Unpin) {
        let mut reader = BufReader::new(reader);
        loop {
            let (consumed, line_ends) = match reader.fill_buf().await {
                Ok([]) => break,
                Ok(buf) => {
                    let newline = buf.iter().position(|&b| b == b'\n');
                    let part = &buf[..newline.unwrap_or(buf.len())];
                    let room = MAX_LINE_BYTES - self.line.len();
                    let kept = part.len().min(room);
                    self.line.extend_from_slice(&part[..kept]);
                    self.cut += part.len() - kept;
                    (newline.map_or(buf.len(), |at| at + 1), newline.is_some())
                }
                Err(error) => {
                    debug!(stream = self.stream, "cannot read hook output: {error}");
                    break;
                }
            };
            reader.consume(consumed);
            if line_ends {
                self.emit();
            }
        }
        if !self.line.is_empty() || self.cut > 0 {
            self.emit();
        }
        if self.unlogged > 0 {
            info!(
                stage = %self.stage,
                command = &*self.command,
                stream = self.stream,
                "… {} more lines of {} not logged",
                self.unlogged,
                self.stream
            );
        }
    }

    fn emit(&mut self) {
        if self.logged < MAX_LINES {
            let text = String::from_utf8_lossy(&self.line);
            let text = acme_core::printable(text.strip_suffix('\r').unwrap_or(&text));
            let more = match self.cut {
                0 => String::new(),
                cut => format!(" … ({cut} more bytes)"),
            };
            info!(stage = %self.stage, command = &*self.command, stream = self.stream, "{text}{more}");
            self.logged += 1;
        } else {
            self.unlogged += 1;
        }
        self.line.clear();
        self.cut = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;

    fn files(dir: &str) -> SinkFiles {
        let dir = PathBuf::from(dir);
        SinkFiles {
            cert: dir.join("cert.pem"),
            chain: dir.join("chain.pem"),
            fullchain: dir.join("fullchain.pem"),
            key: dir.join("privkey.pem"),
        }
    }

    fn web_env() -> HookEnv {
        HookEnv {
            cert_name: "web".to_string(),
            names: vec!["example.com".to_string(), "www.example.com".to_string()],
            issuer: "letsencrypt".to_string(),
            files: vec![files("/etc/ssl/web"), files("/srv/shared/web")],
            serial: Some("0a1b2c".to_string()),
            not_after: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        }
    }

    /// Runs one hook that dumps its environment, and returns the `ACMEKEEP_*` part.
    async fn hook_env(stage: Stage, env: &HookEnv) -> BTreeMap<String, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("env");
        let command = format!("env > {}", out.display());
        run(stage, &[command], env, Duration::from_secs(10))
            .await
            .expect("hook runs");
        std::fs::read_to_string(&out)
            .expect("env dump")
            .lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(key, _)| key.starts_with("ACMEKEEP_"))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    /// Collects everything logged on this thread while the guard lives.
    fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("log buffer").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(writer.clone()))
            .finish();
        (buffer, tracing::subscriber::set_default(subscriber))
    }

    fn logged(buffer: &Mutex<Vec<u8>>) -> String {
        String::from_utf8_lossy(&buffer.lock().expect("log buffer")).into_owned()
    }

    /// Whether `pid` is still a live process (a zombie is dead: only its exit status is left).
    fn is_running(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z')),
            Err(_) => false,
        }
    }

    #[test]
    fn hooks_config_defaults_to_no_commands_and_a_60s_timeout() {
        let config: HooksConfig = serde_json::from_str("{}").expect("empty hooks");
        assert_eq!(config, HooksConfig::default());
        assert_eq!(config.timeout, Duration::from_secs(60));
        let config: HooksConfig =
            serde_json::from_str(r#"{"deploy": ["systemctl reload nginx"], "timeout": "2m"}"#)
                .expect("hooks");
        assert_eq!(config.deploy, ["systemctl reload nginx"]);
        assert_eq!(config.timeout, Duration::from_secs(120));
    }

    #[test]
    fn a_misspelt_hooks_key_is_named_in_the_error() {
        let err = serde_json::from_str::<HooksConfig>(r#"{"deploi": ["true"]}"#)
            .expect_err("unknown key");
        assert!(err.to_string().contains("deploi"), "{err}");
        let err = serde_json::from_str::<HooksConfig>(r#"{"timeout": "soon"}"#)
            .expect_err("bad duration");
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }

    #[tokio::test]
    async fn deploy_hooks_learn_the_certificate_its_files_serial_and_expiry() {
        let vars = hook_env(Stage::Deploy, &web_env()).await;
        let expected = [
            ("ACMEKEEP_CERT_NAME", "web"),
            ("ACMEKEEP_DOMAINS", "example.com www.example.com"),
            ("ACMEKEEP_ISSUER", "letsencrypt"),
            ("ACMEKEEP_CERT_PATH", "/etc/ssl/web/cert.pem"),
            ("ACMEKEEP_CHAIN_PATH", "/etc/ssl/web/chain.pem"),
            ("ACMEKEEP_FULLCHAIN_PATH", "/etc/ssl/web/fullchain.pem"),
            ("ACMEKEEP_KEY_PATH", "/etc/ssl/web/privkey.pem"),
            ("ACMEKEEP_SINK_DIRS", "/etc/ssl/web /srv/shared/web"),
            ("ACMEKEEP_SERIAL", "0a1b2c"),
            ("ACMEKEEP_NOT_AFTER", "2027-01-15T08:00:00Z"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(vars, BTreeMap::from(expected));
    }

    #[tokio::test]
    async fn post_hooks_learn_the_result() {
        let vars = hook_env(Stage::Post(Outcome::Success), &web_env()).await;
        assert_eq!(vars["ACMEKEEP_RESULT"], "success");
        let vars = hook_env(Stage::Post(Outcome::Failure), &web_env()).await;
        assert_eq!(vars["ACMEKEEP_RESULT"], "failure");
        assert_eq!(vars["ACMEKEEP_SERIAL"], "0a1b2c");
    }

    #[tokio::test]
    async fn pre_hooks_get_no_serial_expiry_or_result_and_no_paths_without_a_files_sink() {
        let env = HookEnv {
            files: Vec::new(),
            ..web_env()
        };
        let vars = hook_env(Stage::Pre, &env).await;
        assert_eq!(
            vars.keys().collect::<Vec<_>>(),
            ["ACMEKEEP_CERT_NAME", "ACMEKEEP_DOMAINS", "ACMEKEEP_ISSUER"]
        );
    }

    #[tokio::test]
    async fn commands_run_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("order");
        let commands = ["first", "second"].map(|w| format!("echo {w} >> {}", out.display()));
        run(
            Stage::Deploy,
            &commands,
            &web_env(),
            Duration::from_secs(10),
        )
        .await
        .expect("hooks run");
        assert_eq!(
            std::fs::read_to_string(out).expect("output"),
            "first\nsecond\n"
        );
    }

    #[tokio::test]
    async fn output_of_both_streams_is_logged_line_by_line_with_stage_and_command() {
        let (logs, _guard) = capture_logs();
        let command = "echo reloaded; echo 'warning: old config' >&2".to_string();
        run(
            Stage::Deploy,
            &[command],
            &web_env(),
            Duration::from_secs(10),
        )
        .await
        .expect("hook runs");
        let logs = logged(&logs);
        let line = |text: &str| {
            logs.lines()
                .find(|line| line.contains(&format!(": {text} stage=")))
                .unwrap_or_else(|| panic!("{text:?} not logged in:\n{logs}"))
                .to_string()
        };
        let stdout = line("reloaded");
        assert!(stdout.contains("stage=deploy"), "{stdout}");
        assert!(stdout.contains("command=\"echo reloaded;"), "{stdout}");
        assert!(stdout.contains("stream=\"stdout\""), "{stdout}");
        assert!(line("warning: old config").contains("stream=\"stderr\""));
    }

    #[tokio::test]
    async fn long_lines_and_long_output_are_logged_within_bounds_and_say_what_was_left_out() {
        let (logs, _guard) = capture_logs();
        let command = "head -c 5000 /dev/zero | tr '\\0' x; echo; seq 1 300".to_string();
        run(
            Stage::Deploy,
            &[command],
            &web_env(),
            Duration::from_secs(10),
        )
        .await
        .expect("hook runs");
        let logs = logged(&logs);
        let long = format!(
            "{} … ({} more bytes)",
            "x".repeat(MAX_LINE_BYTES),
            5000 - MAX_LINE_BYTES
        );
        assert!(logs.contains(&long), "{logs}");
        assert!(logs.contains(": 99 stage=deploy"), "{logs}");
        assert!(!logs.contains(": 100 stage=deploy"), "{logs}");
        assert!(
            logs.contains("… 201 more lines of stdout not logged"),
            "{logs}"
        );
    }

    #[tokio::test]
    async fn a_failing_hook_stops_the_stage_and_reports_its_exit_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("ran");
        let commands = ["exit 3".to_string(), format!("touch {}", marker.display())];
        let err = run(
            Stage::Deploy,
            &commands,
            &web_env(),
            Duration::from_secs(10),
        )
        .await
        .expect_err("first hook fails");
        assert_eq!(
            err.to_string(),
            "deploy hook \"exit 3\" exited with status 3"
        );
        assert!(!marker.exists(), "the second hook must not run");
    }

    #[tokio::test]
    async fn a_hook_killed_by_a_signal_says_so() {
        let err = run(
            Stage::Pre,
            &["kill -TERM $$".to_string()],
            &web_env(),
            Duration::from_secs(10),
        )
        .await
        .expect_err("hook is killed");
        assert_eq!(
            err.to_string(),
            "pre hook \"kill -TERM $$\" was killed by signal 15"
        );
    }

    #[tokio::test]
    async fn a_hook_that_outlives_its_timeout_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pids = dir.path().join("pids");
        let command = format!("sleep 100 & echo $$ $! > {}; wait", pids.display());
        let started = Instant::now();
        let err = run(
            Stage::Deploy,
            std::slice::from_ref(&command),
            &web_env(),
            Duration::from_millis(500),
        )
        .await
        .expect_err("hook times out");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            err.to_string(),
            format!("deploy hook {command:?} timed out after 500ms")
        );

        let pids = std::fs::read_to_string(&pids).expect("pids");
        let (shell, sleep) = pids.trim().split_once(' ').expect("two pids");
        let shell: u32 = shell.parse().expect("shell pid");
        let sleep: u32 = sleep.parse().expect("sleep pid");
        assert!(
            !std::path::Path::new(&format!("/proc/{shell}")).exists(),
            "the hook's shell is killed and reaped, not left as a zombie"
        );
        // The child is killed with the group. Once its shell is gone it belongs to init,
        // which reaps it (or, where init does not reap, keeps it as a zombie: dead either way).
        let deadline = Instant::now() + Duration::from_secs(2);
        while is_running(sleep) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!is_running(sleep), "the hook's child {sleep} still runs");
    }

    #[tokio::test]
    async fn a_process_left_in_the_background_does_not_hold_up_the_stage() {
        let started = Instant::now();
        run(
            Stage::Deploy,
            &["sleep 4 &".to_string()],
            &web_env(),
            Duration::from_secs(10),
        )
        .await
        .expect("hook succeeds");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
