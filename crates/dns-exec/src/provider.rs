use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use acme_core::{DnsProvider, Secret};
use async_trait::async_trait;
use hooks::{Ending, Process};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Mutex;

use crate::{Config, Error};

/// The provider kind, as the configuration and messages name it.
pub const NAME: &str = "exec";

/// How many bytes of each output stream are kept while the command runs.
const KEEP_BYTES: usize = 8 * 1024;
/// How many lines of stderr an error shows.
const STDERR_LINES: usize = 20;
/// How long the output pipes may stay open after the command exited or was killed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`DnsProvider`] that runs a user command with `present|cleanup FQDN VALUE`.
pub struct Provider {
    command: PathBuf,
    timeout: Duration,
    env: Vec<(String, Secret)>,
    /// One run at a time: scripts that read, change and write a zone need not be safe
    /// against themselves.
    running: Mutex<()>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProvider")
            .field("command", &self.command)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Checks `config`: the command exists and is executable, the timeout is positive, the
    /// `env` names are valid and their references resolve.
    pub fn new(config: Config) -> Result<Provider, Error> {
        let invalid = |key: &str, value: &str, reason: &str| Error::Config {
            key: key.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let command = find_program(&config.command)
            .map_err(|reason| invalid("command", &config.command, &reason))?;
        if config.timeout.is_zero() {
            return Err(invalid("timeout", "0s", "must be longer than zero"));
        }
        let mut env = Vec::with_capacity(config.env.len());
        for (name, value) in &config.env {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(invalid(
                    "env",
                    name,
                    "is not a valid environment variable name",
                ));
            }
            let secret = Secret::resolve(value).map_err(|source| Error::Env {
                name: name.clone(),
                source,
            })?;
            env.push((name.clone(), secret));
        }
        Ok(Provider {
            command,
            timeout: config.timeout,
            env,
            running: Mutex::new(()),
        })
    }

    /// Runs `COMMAND ACTION FQDN. VALUE` to completion or timeout.
    async fn run(
        &self,
        action: &'static str,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), Error> {
        let fqdn = format!("{}.", fqdn.trim_end_matches('.'));
        let _running = self.running.lock().await;
        tracing::debug!(command = %self.command.display(), action, %fqdn, %value, "running the DNS command");
        let mut process = Process::new(&self.command);
        process
            .command()
            .args([action, &fqdn, value])
            .envs(self.env.iter().map(|(name, value)| (name, value.expose())))
            .env("ACMEKEEP_ZONE", zone);
        let finished = process
            .run(self.timeout, DRAIN_TIMEOUT, |_, pipe| keep_tail(pipe))
            .await
            .map_err(|source| Error::Spawn {
                command: self.command.clone(),
                source,
            })?;
        let stdout = finished.stdout.unwrap_or_default();
        let stderr = last_lines(&finished.stderr.unwrap_or_default());
        if !stdout.is_empty() {
            tracing::debug!(command = %self.command.display(), action, stdout = %acme_core::printable(&String::from_utf8_lossy(&stdout)), "DNS command output");
        }
        match finished.ending {
            Ending::TimedOut => Err(Error::Timeout {
                command: self.command.clone(),
                action,
                fqdn,
                timeout: self.timeout,
                stderr,
            }),
            Ending::Exited(status) if status.success() => Ok(()),
            Ending::Exited(status) => Err(Error::Failed {
                command: self.command.clone(),
                action,
                fqdn,
                status: status.to_string(),
                stderr,
            }),
        }
    }
}

#[async_trait]
impl DnsProvider for Provider {
    fn name(&self) -> &str {
        NAME
    }

    async fn set_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), acme_core::Error> {
        Ok(self.run("present", zone, fqdn, value).await?)
    }

    async fn remove_txt(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        Ok(self.run("cleanup", zone, fqdn, value).await?)
    }
}

/// The executable `command` names: a path as given, or a bare name looked up on `PATH`.
fn find_program(command: &str) -> Result<PathBuf, String> {
    if command.trim().is_empty() {
        return Err("must name a program".to_string());
    }
    if command.contains('/') {
        let path = Path::new(command);
        return match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => Err("is not a file".to_string()),
            Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
                Err("is not executable (chmod +x it)".to_string())
            }
            Ok(_) => Ok(path.to_path_buf()),
            Err(err) => Err(err.to_string()),
        };
    }
    if command.contains(char::is_whitespace) {
        return Err(
            "names a program, not a command line: put arguments and pipes in a script".to_string(),
        );
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(command))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| "not found on PATH".to_string())
}

/// Reads `pipe` to its end, keeping only the last [`KEEP_BYTES`].
async fn keep_tail(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > KEEP_BYTES {
            kept.drain(..kept.len() - KEEP_BYTES);
        }
    }
    kept
}

/// The last [`STDERR_LINES`] non-empty lines of `output`, printable (line breaks escaped).
fn last_lines(output: &[u8]) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    acme_core::printable(&lines[lines.len().saturating_sub(STDERR_LINES)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;

    use super::*;

    fn config(command: &str, timeout: Duration, env: &[(&str, &str)]) -> Config {
        Config {
            command: command.to_string(),
            timeout,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn script(dir: &Path, name: &str, body: &str, mode: u32) -> String {
        let path = dir.join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn unusable_configurations_are_refused_with_the_key_and_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let not_executable = script(dir.path(), "plain.sh", "exit 0", 0o644);
        let ok = script(dir.path(), "ok.sh", "exit 0", 0o755);
        let minute = Duration::from_secs(60);
        let cases = [
            (config("", minute, &[]), "command \"\": must name a program".to_string()),
            (
                config(&not_executable, minute, &[]),
                format!("command {not_executable:?}: is not executable (chmod +x it)"),
            ),
            (
                config("/nonexistent/hook.sh", minute, &[]),
                "command \"/nonexistent/hook.sh\": No such file or directory (os error 2)"
                    .to_string(),
            ),
            (
                config("surely-no-such-acmekeep-hook", minute, &[]),
                "command \"surely-no-such-acmekeep-hook\": not found on PATH".to_string(),
            ),
            (
                config("sh -c 'echo hi'", minute, &[]),
                "command \"sh -c 'echo hi'\": names a program, not a command line: put arguments and pipes in a script".to_string(),
            ),
            (
                config(&ok, Duration::ZERO, &[]),
                "timeout \"0s\": must be longer than zero".to_string(),
            ),
            (
                config(&ok, minute, &[("A=B", "x")]),
                "env \"A=B\": is not a valid environment variable name".to_string(),
            ),
            (
                config(&ok, minute, &[("TOKEN", "env:ACMEKEEP_TEST_EXEC_SURELY_UNSET")]),
                "env.TOKEN: secret env:ACMEKEEP_TEST_EXEC_SURELY_UNSET: the environment variable is not set".to_string(),
            ),
        ];
        for (config, expected) in cases {
            let err = Provider::new(config).expect_err(&expected);
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn config_defaults_the_timeout_and_refuses_unknown_keys() {
        let config: Config = serde_json::from_str(r#"{"command": "sh"}"#).expect("minimal config");
        assert_eq!(config.timeout, Duration::from_secs(60));
        assert!(config.env.is_empty());
        let config: Config = serde_json::from_str(
            r#"{"command": "sh", "timeout": "5s", "env": {"API_TOKEN": "x"}}"#,
        )
        .expect("full config");
        assert_eq!(config.timeout, Duration::from_secs(5));

        let err = serde_json::from_str::<Config>(r#"{"command": "sh", "args": ["-c"]}"#)
            .expect_err("unknown key");
        assert!(err.to_string().starts_with("unknown field `args`"), "{err}");
        let err = serde_json::from_str::<Config>(r#"{"command": "sh", "timeout": "soon"}"#)
            .expect_err("bad duration");
        assert!(
            err.to_string().contains("invalid duration \"soon\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_command_gets_action_absolute_name_value_zone_and_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("calls");
        let hook = script(
            dir.path(),
            "hook.sh",
            &format!(
                "echo \"$1 $2 $3 $ACMEKEEP_ZONE $API_TOKEN\" >> {}",
                out.display()
            ),
            0o755,
        );
        let provider = Provider::new(config(
            &hook,
            Duration::from_secs(10),
            &[("API_TOKEN", "t0k")],
        ))
        .expect("valid config");
        provider
            .set_txt("example.com", "_acme-challenge.www.example.com", "v1")
            .await
            .expect("present");
        provider
            .remove_txt("example.com", "_acme-challenge.www.example.com", "v1")
            .await
            .expect("cleanup");
        assert_eq!(
            fs::read_to_string(&out).expect("calls"),
            "present _acme-challenge.www.example.com. v1 example.com t0k\n\
             cleanup _acme-challenge.www.example.com. v1 example.com t0k\n"
        );
    }

    #[test]
    fn error_output_is_bounded_to_the_last_lines_on_one_printable_line() {
        let many: String = (1..=100).map(|n| format!("line {n}\r\n")).collect();
        let tail = last_lines(many.as_bytes());
        assert_eq!(tail.lines().count(), 1, "{tail}");
        assert_eq!(tail.split("\\n").count(), STDERR_LINES, "{tail}");
        assert!(!tail.contains('\r'), "{tail}");
        assert!(tail.ends_with("line 100"));
        assert!(tail.starts_with("line 81"));
    }
}
