//! DNS-01: where the challenge record goes (CNAME delegation, zone found against zone
//! configured), and whether the provider takes a throwaway value that every authoritative
//! server then serves (the dns01 crate's probe, with a shortened propagation timeout).

use std::sync::Arc;
use std::time::Duration;

use dns01::{Dns01Config, Dns01Solver, Placement};

use crate::report::Issue;
use configuration::{Config, SolverKind};

/// The longest the probe waits for propagation, whatever `propagation_timeout` says.
const MAX_PROPAGATION_WAIT: Duration = Duration::from_secs(20);

/// Checks every name of certificate `name` that a dns-01 solver proves, all at once.
pub async fn check(config: &Config, name: &str) -> Vec<Issue> {
    let Some(cert) = config.certificates.get(name) else {
        return Vec::new();
    };
    if !config
        .issuers
        .get(&cert.issuer)
        .is_some_and(|i| i.needs_solver())
    {
        return Vec::new();
    }
    // A wildcard and its apex share one record: probe each record name once.
    let mut seen = Vec::new();
    let mut checks = Vec::new();
    for domain in &cert.domains {
        let bare = domain
            .strip_prefix("*.")
            .unwrap_or(domain)
            .to_ascii_lowercase();
        let Ok(solver_name) = config.solver_for(name, domain) else {
            continue;
        };
        let Some(SolverKind::Dns01 { dns01, provider }) =
            config.solvers.get(solver_name).map(|s| &s.kind)
        else {
            continue;
        };
        if seen.contains(&bare) {
            continue;
        }
        seen.push(bare.clone());
        checks.push(async move {
            let provider = match provider.build() {
                Ok(provider) => provider,
                Err(err) => {
                    return vec![
                        Issue::error(
                            "dns-provider-unusable",
                            format!(
                                "solver {solver_name}: the DNS provider cannot be built: {err}"
                            ),
                            "its settings or credentials are missing or malformed",
                            format!("acmekeep check; the solvers.{solver_name} settings"),
                        )
                        .for_name(&bare),
                    ];
                }
            };
            check_name(solver_name, dns01, provider, &bare).await
        });
    }
    futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

async fn check_name(
    solver_name: &str,
    settings: &Dns01Config,
    provider: Arc<dyn acme_core::DnsProvider>,
    domain: &str,
) -> Vec<Issue> {
    let mut settings = settings.clone();
    settings.propagation_timeout = settings.propagation_timeout.min(MAX_PROPAGATION_WAIT);
    let record = format!("_acme-challenge.{domain}");
    let configured_zone = settings.zone.clone();
    let discovering = Dns01Config {
        zone: None,
        ..settings.clone()
    };
    let (solver, discover) = match (
        Dns01Solver::new(solver_name, settings, Arc::clone(&provider)),
        Dns01Solver::new(solver_name, discovering, provider),
    ) {
        (Ok(solver), Ok(discover)) => (solver, discover),
        (Err(err), _) | (_, Err(err)) => {
            return vec![
                Issue::error(
                    "dns-provider-unusable",
                    format!("solver {solver_name}: {err}"),
                    "the solver's settings are unusable",
                    format!("acmekeep check; the solvers.{solver_name} settings"),
                )
                .for_name(domain),
            ];
        }
    };
    let placement = match solver.placement(domain).await {
        Ok(placement) => placement,
        Err(err) => return vec![placement_issue(solver_name, domain, &record, &err)],
    };
    let mut issues = Vec::new();
    if let Some(zone) = &configured_zone
        && let Ok(Placement {
            zone: discovered, ..
        }) = discover.placement(domain).await
        && discovered != *zone
    {
        issues.push(
            Issue::error(
                "dns-wrong-zone",
                format!(
                    "solver {solver_name} writes {} in the configured zone {zone}, but the zone that holds it is {discovered}",
                    placement.fqdn
                ),
                "the configured `zone` is not the authoritative zone of the record (a parent zone with a delegated child, or a typo)",
                format!("dig SOA {}; the solvers.{solver_name}.zone setting", placement.fqdn),
            )
            .for_name(domain),
        );
    }
    if let Err(err) = solver.probe(domain).await {
        issues.push(probe_issue(solver_name, domain, &placement, &err));
    }
    issues
}

/// A failure to find where the record goes.
fn placement_issue(solver: &str, domain: &str, record: &str, err: &dns01::Error) -> Issue {
    let dig = format!("dig CNAME {record}; dig SOA {record}");
    let issue = match err {
        dns01::Error::CnameChain { .. } => Issue::error(
            "dns-cname-broken",
            format!("solver {solver}: {err}"),
            "the CNAME delegation of the challenge record loops or is too long",
            dig,
        ),
        dns01::Error::NoZone { name } if name != record => Issue::error(
            "dns-cname-broken",
            format!("solver {solver}: {record} is a CNAME to {name}, which no zone holds"),
            "the CNAME delegation points at a name in a zone that does not exist (a typo, or the delegated zone was deleted)",
            dig,
        ),
        dns01::Error::NotInZone { fqdn, zone } if fqdn != record => Issue::error(
            "dns-cname-broken",
            format!(
                "solver {solver}: {record} is a CNAME to {fqdn}, outside the configured zone {zone}"
            ),
            "the CNAME delegation points into a zone this solver does not manage",
            format!("{dig}; the solvers.{solver}.zone setting"),
        ),
        dns01::Error::NoZone { .. } | dns01::Error::NotInZone { .. } => Issue::error(
            "dns-wrong-zone",
            format!("solver {solver}: {err}"),
            "the zone is not served where the solver looks, or the configured `zone` does not hold the name",
            format!("{dig}; the solvers.{solver}.zone and nameservers settings"),
        ),
        _ => Issue::error(
            "dns-lookup-failed",
            format!("solver {solver}: {err}"),
            "the resolver used for zone discovery does not answer, or answers SERVFAIL",
            format!("{dig}; the solvers.{solver}.nameservers setting"),
        ),
    };
    issue.for_name(domain)
}

/// A failed probe: the provider refused, or the value was not served everywhere.
fn probe_issue(solver: &str, domain: &str, placement: &Placement, err: &acme_core::Error) -> Issue {
    let inner = match err {
        acme_core::Error::Solver { source, .. } => source.downcast_ref::<dns01::Error>(),
        _ => None,
    };
    let issue = match inner {
        Some(dns01::Error::Propagation { .. }) => Issue::error(
            "dns-txt-not-propagated",
            format!(
                "a throwaway TXT value at {} (zone {}) was not served by every authoritative server: {err}",
                placement.fqdn, placement.zone
            ),
            "an authoritative server is not updated: a secondary that lags or does not get NOTIFY, a stale NS record, or a provider that writes to another server",
            format!(
                "dig NS {}; dig @each-NS TXT {}",
                placement.zone, placement.fqdn
            ),
        ),
        Some(_) => Issue::error(
            "dns-lookup-failed",
            format!("solver {solver}: {err}"),
            "the zone's authoritative servers cannot be found or do not answer",
            format!("dig NS {}", placement.zone),
        ),
        None => Issue::error(
            "dns-credentials-rejected",
            format!(
                "the DNS provider refused to write {} in zone {}: {err}",
                placement.fqdn, placement.zone
            ),
            "wrong or insufficient credentials (TSIG key, API token), or the zone is not managed by them",
            format!("acmekeep check --online; the solvers.{solver} credentials"),
        ),
    };
    issue.for_name(domain)
}
