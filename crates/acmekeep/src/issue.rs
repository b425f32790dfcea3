//! `acmekeep --issue`: issue what is missing or due, report each certificate, then exit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use acme_core::policy::{self, Assessment, IssueReason, Wanted};
use acme_core::{Bundle, CertInfo, IssueRequest, PrivateKeyPem, Sink, Solver};
use futures::StreamExt;
use tracing::Instrument;

use crate::config::{CertificateConfig, Config};
use crate::wiring::Components;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// What happened to one certificate.
enum Outcome {
    Issued {
        reason: IssueReason,
        info: CertInfo,
    },
    Valid {
        renew_at: SystemTime,
        not_after: SystemTime,
    },
    Failed(String),
}

/// Runs the one-shot for the named certificates (all when `names` is empty).
pub async fn run(config: &Config, names: &[String], force: bool) -> u8 {
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !config.certificates.contains_key(*n))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config.certificates.keys().map(String::as_str).collect();
        for name in unknown {
            eprintln!(
                "error: no certificate named {name:?} in {} (configured: {})",
                config.path.display(),
                known.join(", ")
            );
        }
        return EXIT_USAGE;
    }
    if let Err(err) = acme_core::ensure_private_dir(&config.daemon.state_dir, 0o700) {
        eprintln!("error: state_dir: {err}");
        return EXIT_FAILED;
    }
    let components = match Components::build(config) {
        Ok(components) => components,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_USAGE;
        }
    };
    let selected: Vec<(&String, &CertificateConfig)> = config
        .certificates
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .collect();

    let mut results = futures::stream::iter(selected.into_iter().map(|(name, cert)| {
        let span = tracing::info_span!("certificate", name = %name);
        let components = &components;
        async move { (name, process(config, components, name, cert, force).await) }.instrument(span)
    }))
    .buffer_unordered(config.daemon.concurrency.max(1));

    let (mut issued, mut valid, mut failed) = (0, 0, 0);
    while let Some((name, outcome)) = results.next().await {
        match outcome {
            Outcome::Issued { reason, info } => {
                issued += 1;
                println!(
                    "{name}: issued ({reason}), serial {}, valid until {}",
                    info.serial,
                    humantime::format_rfc3339_seconds(info.not_after)
                );
            }
            Outcome::Valid {
                renew_at,
                not_after,
            } => {
                valid += 1;
                println!(
                    "{name}: still valid until {}, renews at {} (nothing to do)",
                    humantime::format_rfc3339_seconds(not_after),
                    humantime::format_rfc3339_seconds(renew_at)
                );
            }
            Outcome::Failed(error) => {
                failed += 1;
                println!("{name}: FAILED: {error}");
            }
        }
    }
    println!("{issued} issued, {valid} still valid, {failed} failed");
    if failed > 0 { EXIT_FAILED } else { EXIT_OK }
}

async fn process(
    config: &Config,
    components: &Components,
    name: &str,
    cert: &CertificateConfig,
    force: bool,
) -> Outcome {
    let sinks = components.sinks.get(name).cloned().unwrap_or_default();
    let wanted = Wanted {
        names: &cert.domains,
        key_type: cert.key,
        renew_before: cert.renew_before,
    };
    let reason = match assess_sinks(&sinks, &wanted).await {
        Assessment::Valid { .. } if force => IssueReason::Forced,
        Assessment::Valid {
            renew_at,
            not_after,
        } => {
            tracing::info!("deployed certificate is valid; nothing to do");
            return Outcome::Valid {
                renew_at,
                not_after,
            };
        }
        Assessment::Issue(reason) => reason,
    };
    tracing::info!(%reason, names = ?cert.domains, issuer = %cert.issuer, "issuing");
    match issue(config, components, name, cert, &sinks).await {
        Ok(info) => Outcome::Issued { reason, info },
        Err(error) => {
            tracing::error!(%error, "issuance failed; the deployed certificate was left as it was");
            Outcome::Failed(error)
        }
    }
}

/// The most urgent assessment over all sinks: a certificate is only valid if every sink
/// holds a valid one; the earliest renewal time counts.
async fn assess_sinks(sinks: &[Arc<dyn Sink>], wanted: &Wanted<'_>) -> Assessment {
    let now = SystemTime::now();
    let mut result: Option<Assessment> = None;
    for sink in sinks {
        let assessment = match sink.load().await {
            Ok(None) => Assessment::Issue(IssueReason::Missing),
            Ok(Some(bundle)) => match CertInfo::from_pem(&bundle.cert_pem) {
                Ok(info) => {
                    let key_matches = info.matches_key(&bundle.key);
                    policy::assess(Some((&info, key_matches)), wanted, now)
                }
                Err(err) => Assessment::Issue(IssueReason::Unusable(err.to_string())),
            },
            Err(err) => Assessment::Issue(IssueReason::Unusable(err.to_string())),
        };
        result = Some(match (result, assessment) {
            (Some(Assessment::Issue(reason)), _) | (_, Assessment::Issue(reason)) => {
                Assessment::Issue(reason)
            }
            (
                Some(Assessment::Valid {
                    renew_at: a,
                    not_after: na,
                }),
                Assessment::Valid {
                    renew_at: b,
                    not_after: nb,
                },
            ) => Assessment::Valid {
                renew_at: a.min(b),
                not_after: na.min(nb),
            },
            (None, valid) => valid,
        });
    }
    result.unwrap_or(Assessment::Issue(IssueReason::Missing))
}

async fn issue(
    config: &Config,
    components: &Components,
    name: &str,
    cert: &CertificateConfig,
    sinks: &[Arc<dyn Sink>],
) -> Result<CertInfo, String> {
    let issuer = components
        .issuers
        .get(&cert.issuer)
        .ok_or_else(|| format!("issuer {:?} is not configured", cert.issuer))?;
    let key_type = cert.key;
    let key = tokio::task::spawn_blocking(move || key_type.generate())
        .await
        .map_err(|e| format!("key generation stopped: {e}"))?
        .map_err(|e| e.to_string())?;
    let csr_der = acme_core::build_csr(&cert.domains, &key).map_err(|e| e.to_string())?;
    let mut solvers: BTreeMap<String, Arc<dyn Solver>> = BTreeMap::new();
    if let Some(solver) = config
        .solver_for(name)
        .and_then(|s| components.solvers.get(s))
    {
        for domain in &cert.domains {
            solvers.insert(domain.clone(), Arc::clone(solver));
        }
    }
    let request = IssueRequest {
        cert_name: name.to_string(),
        names: cert.domains.clone(),
        csr_der,
        solvers,
        replaces: None,
        cancel: acme_core::CancellationToken::new(),
    };
    let chain = issuer.issue(&request).await.map_err(|e| e.to_string())?;
    let info = CertInfo::from_pem(&chain.cert_pem).map_err(|e| e.to_string())?;
    let key = PrivateKeyPem::from_key_pair(&key).map_err(|e| e.to_string())?;
    if !info.covers_exactly(&cert.domains) {
        return Err(format!(
            "the issuer returned a certificate for {:?}, not for the configured {:?}; nothing was deployed",
            info.names, cert.domains
        ));
    }
    if !info.matches_key(&key) {
        return Err(
            "the issuer returned a certificate for another key; nothing was deployed".into(),
        );
    }
    let bundle = Bundle {
        cert_pem: chain.cert_pem,
        chain_pem: chain.chain_pem,
        key,
        ca_pem: chain.ca_pem,
    };
    for sink in sinks {
        sink.store(&bundle).await.map_err(|e| e.to_string())?;
        tracing::info!(sink = %sink.describe(), serial = %info.serial, "deployed");
    }
    Ok(info)
}
