//! What clients get: the deployed chain's completeness, and for each name, what its TLS
//! endpoint serves with SNI = the name, against what the sinks hold (through
//! `cert-inspect`, the analysis behind `acmekeep inspect`).

use std::time::SystemTime;

use cert_inspect::{CertSummary, ProblemKind, Roots};

use crate::net::{REQUEST_TIMEOUT, Resolver};
use crate::renewing::Material;
use crate::report::Issue;
use configuration::Config;

/// Checks the deployed chain and each name's endpoint on `port`.
pub async fn check(
    config: &Config,
    name: &str,
    material: Option<&Material>,
    roots: &Roots,
    resolver: &Resolver,
    port: u16,
) -> Vec<Issue> {
    let (Some(cert), Some(material)) = (config.certificates.get(name), material) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut issues = Vec::new();
    let with_issuer_root = issuer_roots(roots, material);
    let roots = with_issuer_root.as_ref().unwrap_or(roots);
    let deployed = cert_inspect::parse_pem_certificates(
        &format!(
            "{}\n{}",
            material.bundle.cert_pem, material.bundle.chain_pem
        ),
        "the deployed chain",
    );
    let deployed = match deployed {
        Ok(chain) => chain,
        Err(_) => return issues,
    };
    let stored = match deployed
        .first()
        .map(|leaf| CertSummary::from_der(leaf, "the deployed certificate"))
    {
        Some(Ok(stored)) => stored,
        _ => return issues,
    };
    if let Ok(report) = cert_inspect::analyze_chain(&deployed, roots, None, now) {
        issues.extend(chain_issues(&report.problems, &material.sink, None));
    }

    let names = cert
        .domains
        .iter()
        .filter(|d| !d.starts_with("*."))
        .map(|domain| async move { (domain, endpoint(domain, port, resolver).await) });
    for (domain, served) in futures::future::join_all(names).await {
        let endpoint_text = format!("{domain}:{port} (SNI {domain})");
        let chain = match served {
            Ok(chain) => chain,
            Err(reason) => {
                issues.push(
                    Issue::warning(
                        "served-unreachable",
                        format!("{endpoint_text}: {reason}"),
                        "nothing serves TLS for the name there (fine if clients use the certificate elsewhere), or a firewall",
                        format!("openssl s_client -connect {domain}:{port} -servername {domain}"),
                    )
                    .for_name(domain),
                );
                continue;
            }
        };
        let Ok(report) = cert_inspect::analyze_chain(&chain, roots, Some(domain), now) else {
            continue;
        };
        let Some(served_leaf) = report.leaf() else {
            continue;
        };
        let covered = report.name.as_ref().is_none_or(|n| n.covered);
        let s_client = format!(
            "openssl s_client -connect {domain}:{port} -servername {domain} -showcerts; acmekeep inspect --host {domain}:{port}"
        );
        if let Some(problem) =
            cert_inspect::compare_served(served_leaf, &stored, &endpoint_text, &material.sink)
        {
            let (check, cause) = if covered {
                (
                    "wrong-certificate-served",
                    "the server was not reloaded after the renewal (deploy hook), or it reads another file or Secret",
                )
            } else {
                (
                    "default-certificate-served",
                    "the server has no certificate configured for this name and serves its default one: the TLS block, Ingress or SNI routing does not reference the sink",
                )
            };
            issues.push(Issue::error(check, problem.message, cause, s_client).for_name(domain));
            continue;
        }
        if !covered {
            issues.push(
                Issue::error(
                    "name-not-covered-served",
                    format!(
                        "{endpoint_text} serves the deployed certificate, which does not cover {domain} ({})",
                        served_leaf.names.join(", ")
                    ),
                    "the certificate's SANs lack a name clients use",
                    s_client.clone(),
                )
                .for_name(domain),
            );
        }
        issues.extend(
            chain_issues(&report.problems, &endpoint_text, Some(&s_client))
                .into_iter()
                .map(|issue| issue.for_name(domain)),
        );
    }
    issues
}

/// `roots` plus the issuer's own CA certificate delivered with the deployed certificate (a
/// local CA's or a private CA's root, the sink's `ca.pem`), so that a chain from a private
/// issuer is checked against the root it comes from; `None` when there is none to add.
fn issuer_roots(roots: &Roots, material: &Material) -> Option<Roots> {
    let ca_pem = material.bundle.ca_pem.as_deref()?;
    let certs = cert_inspect::parse_pem_certificates(ca_pem, "the issuer's CA").ok()?;
    roots
        .also_trusting(&certs, &format!("the issuer's CA in {}", material.sink))
        .ok()
}

/// Chain findings of one report: `incomplete-chain` for a missing intermediate, `invalid-chain`
/// for a chain that does not verify, a warning for an untrusted root. `where_` is the sink or
/// endpoint; `served` the command for an endpoint.
fn chain_issues(
    problems: &[cert_inspect::Problem],
    where_: &str,
    served: Option<&str>,
) -> Vec<Issue> {
    let (check, invalid, untrusted, check_first) = match served {
        Some(command) => (
            "incomplete-chain-served",
            "invalid-chain-served",
            "served-chain-untrusted",
            command.to_string(),
        ),
        None => (
            "incomplete-chain",
            "invalid-chain",
            "chain-untrusted",
            format!("acmekeep inspect on {where_}; openssl verify -untrusted chain.pem cert.pem"),
        ),
    };
    problems
        .iter()
        .filter_map(|problem| match problem.kind {
            ProblemKind::MissingIntermediate => Some(Issue::error(
                check,
                format!("{where_}: {}", problem.message),
                match served {
                    Some(_) => "the server is configured with cert.pem instead of fullchain.pem, or with a chain that lacks the intermediate",
                    None => "the issuer returned no intermediates, or the sink's chain was replaced",
                },
                check_first.clone(),
            )),
            ProblemKind::InvalidChain => Some(Issue::error(
                invalid,
                format!("{where_}: {}", problem.message),
                "a certificate of the chain, or the CA delivered with it, was replaced by one of another CA (e.g. a regenerated local CA of the same name)",
                check_first.clone(),
            )),
            ProblemKind::UntrustedRoot => Some(Issue::warning(
                untrusted,
                format!("{where_}: {}", problem.message),
                "a private or test CA: clients must trust it (give its root with --ca-bundle to check against it)",
                check_first.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// The chain `domain` serves on `port`, resolved through `resolver`.
async fn endpoint(
    domain: &str,
    port: u16,
    resolver: &Resolver,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    let addresses = resolver.addresses(domain).await.map_err(|reason| {
        format!(
            "{domain} does not resolve through {}: {reason}",
            resolver.describe()
        )
    })?;
    let mut last = String::new();
    for ip in addresses {
        match cert_inspect::fetch_served_chain(&ip.to_string(), port, domain, REQUEST_TIMEOUT).await
        {
            Ok(chain) => return Ok(chain),
            Err(err) => last = err.to_string(),
        }
    }
    Err(last)
}
