//! HTTP-01 through the public path: serve a random token on each http-01 solver (its
//! listener, or its webroot) for a few seconds, fetch
//! `http://NAME/.well-known/acme-challenge/TOKEN` for every name it proves, the way a CA
//! would (name resolved, redirects followed), then take the token away.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use acme_core::{Challenge, ChallengeKind, Solver, error_chain};
use http01::Http01Solver;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::net::{REQUEST_TIMEOUT, Resolver};
use crate::report::Issue;
use configuration::{Config, SolverKind};

/// Fetches the probe URL of every name, per certificate; findings keyed by certificate.
pub async fn probe(
    config: &Config,
    selected: &[String],
    resolver: &Resolver,
    port: u16,
) -> BTreeMap<String, Vec<Issue>> {
    // (certificate, name) pairs per http-01 solver: one listener serves them all.
    let mut by_solver: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for name in selected {
        let Some(cert) = config.certificates.get(name) else {
            continue;
        };
        if !config
            .issuers
            .get(&cert.issuer)
            .is_some_and(|i| i.needs_solver())
        {
            continue;
        }
        for domain in cert.domains.iter().filter(|d| !d.starts_with("*.")) {
            let Ok(solver) = config.solver_for(name, domain) else {
                continue;
            };
            if matches!(
                config.solvers.get(solver).map(|s| &s.kind),
                Some(SolverKind::Http01(_))
            ) {
                by_solver.entry(solver).or_default().push((name, domain));
            }
        }
    }
    let mut out: BTreeMap<String, Vec<Issue>> = BTreeMap::new();
    for (solver_name, pairs) in by_solver {
        let Some(SolverKind::Http01(settings)) = config.solvers.get(solver_name).map(|s| &s.kind)
        else {
            continue;
        };
        let solver = match Http01Solver::new(solver_name.to_string(), settings.clone()) {
            Ok(solver) => solver,
            Err(err) => {
                for (cert, domain) in &pairs {
                    out.entry(cert.to_string()).or_default().push(skipped(
                        solver_name,
                        domain,
                        &err.to_string(),
                    ));
                }
                continue;
            }
        };
        let token: String = random_text(43);
        let challenge = Challenge {
            kind: ChallengeKind::Http01,
            identifier: pairs.first().map_or("", |(_, d)| *d).to_string(),
            wildcard: false,
            key_authorization: format!("{token}.acmekeep-diagnose-{}", random_text(16)),
            token,
            dns_value: String::new(),
        };
        if let Err(err) = solver.present(&challenge).await {
            for (cert, domain) in &pairs {
                out.entry(cert.to_string()).or_default().push(skipped(
                    solver_name,
                    domain,
                    &err.to_string(),
                ));
            }
            continue;
        }
        let fetches = pairs.iter().map(|(cert, domain)| {
            let challenge = &challenge;
            async move {
                let issue = fetch(domain, port, challenge, resolver, solver_name).await;
                (cert.to_string(), issue)
            }
        });
        for (cert, issue) in futures::future::join_all(fetches).await {
            if let Some(issue) = issue {
                out.entry(cert).or_default().push(issue);
            }
        }
        if let Err(err) = solver.cleanup(&challenge).await {
            tracing::warn!(solver = %solver_name, error = %err, "removing the probe token failed");
        }
        solver.shutdown().await;
    }
    out
}

fn skipped(solver: &str, domain: &str, reason: &str) -> Issue {
    Issue::warning(
        "http01-probe-skipped",
        format!("could not serve a probe token on solver {solver}: {reason}"),
        "the listen address is taken (a running acmekeep daemon holds it while it lives, or another server) or the webroot is not writable",
        format!("ss -ltnp; the solvers.{solver} settings"),
    )
    .for_name(domain)
}

/// Fetches the probe token through `domain`; `None` when the solver answered with it.
async fn fetch(
    domain: &str,
    port: u16,
    challenge: &Challenge,
    resolver: &Resolver,
    solver: &str,
) -> Option<Issue> {
    let authority = if port == 80 {
        domain.to_string()
    } else {
        format!("{domain}:{port}")
    };
    let url = format!(
        "http://{authority}/.well-known/acme-challenge/{}",
        challenge.token
    );
    let check_first = format!(
        "curl -v {url} (while `acmekeep diagnose` runs, or with any token: the solver answers 404 only for unknown tokens); dig {domain} A"
    );
    let addresses = match resolver.addresses(domain).await {
        Ok(ips) => ips,
        Err(reason) => {
            return Some(
                Issue::error(
                    "http01-unreachable",
                    format!(
                        "{domain} does not resolve through {}: {reason}",
                        resolver.describe()
                    ),
                    "no A/AAAA record for the name: the CA cannot reach it either",
                    format!("dig {domain} A; dig {domain} AAAA"),
                )
                .for_name(domain),
            );
        }
    };
    let addrs: Vec<SocketAddr> = addresses
        .iter()
        .map(|ip| SocketAddr::new(*ip, port))
        .collect();
    // A CA follows redirects and does not verify the certificate of a redirect to HTTPS:
    // neither does the probe.
    let client = reqwest::Client::builder()
        .resolve_to_addrs(domain, &addrs)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(10))
        .danger_accept_invalid_certs(true)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(err) => return Some(skipped(solver, domain, &err.to_string())),
    };
    let shown: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    let shown = shown.join(", ");
    let problem = match client.get(&url).send().await {
        Err(err) => format!("fetching {url} (at {shown}) failed: {}", error_chain(&err)),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            if status.is_success() && body.trim() == challenge.key_authorization {
                return None;
            }
            let snippet: String = body.chars().take(80).collect();
            format!(
                "{url} (at {shown}) answered HTTP {status} {snippet:?} instead of the probe token served by solver {solver}"
            )
        }
    };
    Some(
        Issue::error(
            "http01-unreachable",
            problem,
            "the public path for the name does not lead to acmekeep's solver: DNS points elsewhere, a firewall blocks port 80, or the load balancer, ingress or proxy does not route /.well-known/acme-challenge/ to it",
            check_first,
        )
        .for_name(domain),
    )
}

fn random_text(length: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}
