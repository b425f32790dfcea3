//! A loaded configuration, and the problems found in one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::schema::{CertificateConfig, DaemonConfig, IssuerConfig, SolverConfig};

/// A loaded, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[daemon]`.
    pub daemon: DaemonConfig,
    /// `[issuers.NAME]`.
    pub issuers: BTreeMap<String, IssuerConfig>,
    /// `[solvers.NAME]`.
    pub solvers: BTreeMap<String, SolverConfig>,
    /// `[certificates.NAME]`.
    pub certificates: BTreeMap<String, CertificateConfig>,
}

/// One problem found in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key path, e.g. `certificates.web.domains`.
    pub key: String,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

/// Every problem found in one configuration file.
#[derive(Clone, Debug)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// The problems, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if problem.key.is_empty() {
                write!(f, "error: {}: {}", self.path.display(), problem.message)?;
            } else {
                write!(
                    f,
                    "error: {}: {}: {}",
                    self.path.display(),
                    problem.key,
                    problem.message
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
