//! Running the commands of one stage.

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::output::OutputLog;
use crate::{Ending, HookEnv, HookError, Process, Stage};

/// How long output is still read after the hook's shell has exited; a process it left in
/// the background may hold the pipes open for much longer.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

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
    let mut process = Process::new("/bin/sh");
    let cmd = process.command().arg("-c").arg(command);
    for (key, value) in vars {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    info!(%stage, command, "running hook");
    let shared: Arc<str> = Arc::from(command);
    let finished = process
        .run(timeout, OUTPUT_GRACE, |stream, pipe| {
            OutputLog::new(stage, shared.clone(), stream).read(pipe)
        })
        .await
        .map_err(|source| HookError::Run {
            stage,
            command: command.to_string(),
            source,
        })?;
    match finished.ending {
        Ending::Exited(status) => check_status(status).map_err(|status| HookError::Failed {
            stage,
            command: command.to_string(),
            status,
        }),
        Ending::TimedOut => Err(HookError::TimedOut {
            stage,
            command: command.to_string(),
            timeout,
        }),
    }
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::output::MAX_LINE_BYTES;
    use crate::test_support::{capture_logs, is_running, logged, web_env};

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
