//! Why a stage of hooks failed.

use std::time::Duration;

use crate::Stage;

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

/// `60s`, `500ms`: the timeout as the operator would write it.
fn format_timeout(timeout: Duration) -> String {
    if timeout.subsec_nanos() == 0 {
        format!("{}s", timeout.as_secs())
    } else {
        format!("{}ms", timeout.as_millis())
    }
}
