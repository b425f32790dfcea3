use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The `[solvers.NAME]` keys of an exec provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The program to run: a path, or a name looked up on `PATH`; no shell, no arguments.
    pub command: String,
    /// How long one run may take before it is killed (default `"60s"`).
    #[serde(
        default = "default_timeout",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub timeout: Duration,
    /// Extra environment variables for the command; values may be `env:NAME` or
    /// `file:/path` references, resolved once at start.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}
