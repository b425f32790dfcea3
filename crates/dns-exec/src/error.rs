use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong configuring or running the command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has an unusable value.
    #[error("{key} {value:?}: {reason}")]
    Config {
        /// The configuration key.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `env` value reference could not be resolved.
    #[error("env.{name}: {source}")]
    Env {
        /// The variable's name.
        name: String,
        /// Why its value could not be read.
        source: acme_core::Error,
    },
    /// The command could not be started.
    #[error("cannot run {}: {source}", command.display())]
    Spawn {
        /// The program.
        command: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The command exited unsuccessfully.
    #[error("{} {action} {fqdn} failed ({status}){}", command.display(), stderr_suffix(stderr))]
    Failed {
        /// The program.
        command: PathBuf,
        /// `present` or `cleanup`.
        action: &'static str,
        /// The name it was given (with the trailing dot).
        fqdn: String,
        /// The exit status, e.g. `exit status: 3`.
        status: String,
        /// The last lines of its stderr.
        stderr: String,
    },
    /// The command ran past the timeout and was killed.
    #[error("{} {action} {fqdn} did not finish within {timeout:?}; it was killed{}", command.display(), stderr_suffix(stderr))]
    Timeout {
        /// The program.
        command: PathBuf,
        /// `present` or `cleanup`.
        action: &'static str,
        /// The name it was given (with the trailing dot).
        fqdn: String,
        /// The configured timeout.
        timeout: Duration,
        /// The last lines of its stderr.
        stderr: String,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

impl Error {
    /// What kind of failure this is: a command that cannot run is a configuration problem,
    /// one that fails or hangs a DNS one.
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config { .. } | Error::Env { .. } | Error::Spawn { .. } => FailureKind::Config,
            Error::Failed { .. } | Error::Timeout { .. } => FailureKind::Dns,
        }
    }
}

impl From<Error> for acme_core::Error {
    fn from(err: Error) -> Self {
        acme_core::Error::Dns {
            provider: crate::provider::NAME.to_string(),
            kind: err.kind(),
            source: Box::new(err),
        }
    }
}
