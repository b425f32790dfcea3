//! `acmekeep check`: the configuration loaded, so report what it holds; with `--online`,
//! try every dns-01 solver for real.

use crate::config::Config;
use crate::wiring::Components;
use crate::{EXIT_FAILED, EXIT_USAGE};

/// Prints a summary of a valid configuration, and warnings about settings that will not
/// do what they say.
pub fn run(config: &Config) -> u8 {
    for warning in crate::due::config_warnings(config) {
        println!("warning: {warning}");
    }
    println!(
        "{}: OK ({} certificates, {} issuers, {} solvers)",
        config.path.display(),
        config.certificates.len(),
        config.issuers.len(),
        config.solvers.len()
    );
    crate::EXIT_OK
}

/// `check --online`: for each dns-01 solver, writes a throwaway TXT value for a name it
/// serves, waits until every server serves it, removes it, and reports zone, record and
/// propagation time; exits 1 if any solver fails.
pub async fn online(config: &Config) -> u8 {
    let code = run(config);
    let components = match Components::build(config) {
        Ok(components) => components,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_USAGE;
        }
    };
    if components.dns_solvers.is_empty() {
        println!("no dns-01 solvers to try");
        return code;
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
    if failed { EXIT_FAILED } else { code }
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
