//! `acmekeep check`: every validation the run makes, without network and without writing;
//! with `--online`, try every dns-01 solver for real.

use std::path::Path;

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use configuration::{Components, GeneratedCa};
use configuration::{Config, ConfigError};

/// Loads the file, builds every component the way the run does (creating nothing), prints
/// every problem found (exit 2) or a summary and the warnings about settings that will not
/// do what they say; with `online`, then probes the dns-01 solvers.
pub async fn run(path: &Path, online: bool) -> u8 {
    let (config, mut problems) = match configuration::load_with_problems(path) {
        Ok(loaded) => loaded,
        Err(err) => {
            crate::logging::error(err);
            return EXIT_USAGE;
        }
    };
    // Entries with a problem already are left out, so each problem is reported once.
    let components =
        match Components::build(&config.without_entries_in(&problems), GeneratedCa::Existing) {
            Ok(components) => Some(components),
            Err(err) => {
                problems.extend(err.problems);
                None
            }
        };
    let Some(components) = components.filter(|_| problems.is_empty()) else {
        crate::logging::error(ConfigError {
            path: path.to_path_buf(),
            problems,
        });
        return EXIT_USAGE;
    };
    for warning in renewal::config_warnings(&config) {
        println!("warning: {warning}");
    }
    println!(
        "{}: OK ({} certificates, {} issuers, {} solvers)",
        config.path.display(),
        config.certificates.len(),
        config.issuers.len(),
        config.solvers.len()
    );
    if online {
        probe(&config, &components).await
    } else {
        EXIT_OK
    }
}

/// `check --online`: for each dns-01 solver, writes a throwaway TXT value for a name it
/// serves, waits until every server serves it, removes it, and reports zone, record and
/// propagation time; exits 1 if any solver fails.
async fn probe(config: &Config, components: &Components) -> u8 {
    if components.dns_solvers.is_empty() {
        println!("no dns-01 solvers to try");
        return EXIT_OK;
    }
    let mut failed = false;
    for (name, solver) in &components.dns_solvers {
        let Some(identifier) = probe_name(config, name) else {
            failed = true;
            println!(
                "solvers.{name}: FAILED: no name to try; give the solver `zones` or use it for a certificate"
            );
            continue;
        };
        match solver.probe(&identifier).await {
            Ok(report) => println!(
                "solvers.{name}: OK for {identifier}: zone {}, record {} written and removed, served by {} server(s) after {} ms",
                report.placement.zone,
                report.placement.fqdn,
                report.servers.len(),
                report.propagation.as_millis()
            ),
            Err(err) => {
                failed = true;
                println!("solvers.{name}: FAILED for {identifier}: {err}");
            }
        }
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}

/// A name solver `solver` proves: the first certificate name routed to it, else its first zone.
fn probe_name(config: &Config, solver: &str) -> Option<String> {
    let from_certificates = config.certificates.iter().find_map(|(cert, settings)| {
        settings
            .domains
            .iter()
            .find(|domain| config.solver_for(cert, domain).ok() == Some(solver))
    });
    from_certificates
        .map(|domain| domain.trim_start_matches("*.").to_string())
        .or_else(|| config.solvers.get(solver)?.zones.first().cloned())
}
