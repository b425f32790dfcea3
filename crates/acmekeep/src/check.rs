//! `acmekeep check`: the configuration loaded, so report what it holds.

use crate::config::Config;

/// Prints a summary of a valid configuration.
pub fn run(config: &Config) -> u8 {
    println!(
        "{}: OK ({} certificates, {} issuers, {} solvers)",
        config.path.display(),
        config.certificates.len(),
        config.issuers.len(),
        config.solvers.len()
    );
    crate::EXIT_OK
}
