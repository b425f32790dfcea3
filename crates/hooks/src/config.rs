//! The `hooks` table of a certificate and the stages its commands run at.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::{HookEnv, HookError};

/// How long a hook may run when the configuration does not say.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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
        crate::run(stage, self.commands(stage), env, self.timeout).await
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
