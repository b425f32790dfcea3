//! `acmekeep --issue`: issue what is missing or due, report each certificate, then exit.

use std::time::SystemTime;

use acme_core::policy::{Assessment, IssueReason};
use acme_core::{CancellationToken, CertInfo};
use futures::StreamExt;
use tracing::Instrument;

use crate::config::{CertificateConfig, Config};
use crate::journal::Journal;
use crate::lifecycle::{Failure, Issued};
use crate::state::{CertState, LastResult};
use crate::wiring::{Components, GeneratedCa};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::{lifecycle, state};

/// What happened to one certificate.
enum Outcome {
    Issued {
        reason: String,
        info: CertInfo,
        hook_error: Option<String>,
    },
    Valid {
        renew_at: SystemTime,
        not_after: SystemTime,
    },
    Failed(String),
    /// The issuer has the request but has not issued yet.
    Pending(String),
    /// The deployed certificate was revoked with `--no-reissue`: left as it is.
    RevokedKept,
    /// The deployed certificate is valid, and its deploy hook, which had failed, succeeded now.
    HookRetried {
        not_after: SystemTime,
    },
}

/// Runs the one-shot for the named certificates (all when `names` is empty).
pub async fn run(config: &Config, names: &[String], force: bool) -> u8 {
    let unknown: Vec<String> = names
        .iter()
        .filter_map(|name| config.certificate(name).err())
        .collect();
    if !unknown.is_empty() {
        for message in unknown {
            eprintln!("error: {message}");
        }
        return EXIT_USAGE;
    }
    let _lock = match state::lock(&config.daemon.state_dir) {
        Ok(lock) => lock,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_FAILED;
        }
    };
    let components = match Components::build(config, GeneratedCa::Create) {
        Ok(components) => components,
        Err(err) => {
            crate::logging::error(err);
            return EXIT_USAGE;
        }
    };
    Journal::new(&config.daemon.state_dir)
        .sweep(&components.dns_solvers)
        .await;
    let published = components.publish().await;
    let selected: Vec<(&String, &CertificateConfig)> = config
        .certificates
        .iter()
        .filter(|(name, _)| names.is_empty() || names.contains(name))
        .collect();

    // SIGINT/SIGTERM abandon in-flight issuances, which still clean up their challenges.
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));
    let mut results = futures::stream::iter(selected.into_iter().map(|(name, cert)| {
        let span = tracing::info_span!("certificate", certificate = %name);
        let components = &components;
        let cancel = &cancel;
        async move {
            (
                name,
                process(config, components, name, cert, force, cancel).await,
            )
        }
        .instrument(span)
    }))
    .buffer_unordered(config.daemon.concurrency.max(1));

    let (mut issued, mut valid, mut failed, mut pending, mut kept) = (0, 0, 0, 0, 0);
    while let Some((name, outcome)) = results.next().await {
        match outcome {
            Outcome::Issued {
                reason,
                info,
                hook_error,
            } => {
                issued += 1;
                let hook = match hook_error {
                    Some(error) => {
                        failed += 1;
                        format!("; but {error}")
                    }
                    None => String::new(),
                };
                println!(
                    "{name}: issued ({reason}), serial {}, valid until {}{hook}",
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
            Outcome::HookRetried { not_after } => {
                valid += 1;
                println!(
                    "{name}: still valid until {}; the deploy hook that had failed succeeded now",
                    humantime::format_rfc3339_seconds(not_after)
                );
            }
            Outcome::Failed(error) => {
                failed += 1;
                println!("{name}: FAILED: {error}");
            }
            Outcome::Pending(status) => {
                pending += 1;
                println!("{name}: PENDING: {status}; run again later to collect it");
            }
            Outcome::RevokedKept => {
                kept += 1;
                println!(
                    "{name}: REVOKED: not reissued (revoked with --no-reissue); \
                     run --issue {name} --force to replace it"
                );
            }
        }
    }
    if kept > 0 {
        println!("{kept} revoked and not reissued");
    }
    if pending > 0 {
        println!("{issued} issued, {valid} still valid, {pending} pending, {failed} failed");
    } else {
        println!("{issued} issued, {valid} still valid, {failed} failed");
    }
    if !published {
        println!("an issuer could not publish its trust bundle (see the error above)");
    }
    if failed > 0 || pending > 0 || kept > 0 || !published {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

async fn process(
    config: &Config,
    components: &Components,
    name: &str,
    cert: &CertificateConfig,
    force: bool,
    cancel: &CancellationToken,
) -> Outcome {
    let sinks = components.sinks.get(name).cloned().unwrap_or_default();
    let deployed = lifecycle::inspect(&sinks, &lifecycle::wanted(cert)).await;
    let store = state::Store::new(&config.daemon.state_dir);
    let revoked = deployed
        .info
        .as_ref()
        .and_then(|info| Some(store.load(name).revocation_of(&info.serial)?.clone()));
    if revoked.as_ref().is_some_and(|r| !r.reissue) && !force {
        tracing::info!("the deployed certificate was revoked with --no-reissue; left as it is");
        return Outcome::RevokedKept;
    }
    let reason = match (deployed.assessment, revoked) {
        (_, Some(revocation)) => format!("revoked: {}", revocation.reason),
        (Assessment::Valid { .. }, None) if force => IssueReason::Forced.to_string(),
        (Assessment::Valid { .. }, None) if lifecycle::kept_waiting(config, name, cert) => {
            "a certificate issued earlier waits to be deployed".to_string()
        }
        (
            Assessment::Valid {
                renew_at,
                not_after,
            },
            None,
        ) => {
            if let Some(info) = &deployed.info {
                let mut state = store.load(name);
                let retried =
                    lifecycle::retry_deploy_hook(config, components, name, info, &mut state).await;
                if let Some(result) = retried {
                    if let Err(err) = store.save(name, &state) {
                        tracing::warn!(error = %err, "cannot write the state record");
                    }
                    return match result {
                        Ok(()) => Outcome::HookRetried { not_after },
                        Err(error) => Outcome::Failed(format!(
                            "the certificate is deployed, but its deploy hook failed again: {error}"
                        )),
                    };
                }
            }
            tracing::info!("deployed certificate is valid; nothing to do");
            return Outcome::Valid {
                renew_at,
                not_after,
            };
        }
        (Assessment::Issue(reason), None) => reason.to_string(),
    };
    tracing::info!(%reason, names = ?cert.domains, issuer = %cert.issuer, "issuing");
    let result =
        lifecycle::issue_and_deploy(config, components, name, deployed.cert_pem, cancel).await;
    record(&store, name, &cert.issuer, &result);
    match result {
        Ok(issued) => {
            if let Err(err) = store.clear_revocation(name) {
                tracing::warn!(error = %err, "cannot forget the revocation of the replaced certificate");
            }
            Outcome::Issued {
                reason,
                info: issued.info,
                hook_error: issued.hook_error,
            }
        }
        Err(failure) if failure.pending_until.is_some() => {
            tracing::info!(status = %failure.message, "the issuer has not issued yet");
            Outcome::Pending(failure.message)
        }
        Err(failure) => {
            tracing::error!(error = %failure.message, "issuance failed; the deployed certificate was left as it was");
            Outcome::Failed(failure.message)
        }
    }
}

/// Records the attempt in the state record, as the daemon does, so `status` and `diagnose`
/// see the last result and error (and a sink changed by hand later). A failure counts
/// towards the daemon's backoff but sets no wait of its own: the one-shot was asked for.
fn record(store: &state::Store, name: &str, issuer: &str, result: &Result<Issued, Failure>) {
    if matches!(result, Err(failure) if failure.cancelled) {
        return;
    }
    let mut state = store.load(name);
    state.last_attempt = Some(SystemTime::now());
    match result {
        Ok(issued) => {
            state = CertState {
                issuer: Some(issuer.to_string()),
                last_attempt: state.last_attempt,
                last_result: Some(LastResult::Issued),
                last_error: issued.hook_error.clone(),
                deployed_serial: Some(issued.info.serial.clone()),
                ..CertState::default()
            };
            lifecycle::record_deploy_hook(
                &mut state,
                &issued.info.serial,
                issued.deploy_hook_error.clone(),
            );
        }
        Err(failure) => {
            state.last_error = Some(failure.message.clone());
            match failure.pending_until {
                Some(until) => {
                    state.last_result = Some(LastResult::Pending);
                    state.retry_at = Some(until);
                }
                None => {
                    state.last_result = Some(LastResult::Failed);
                    state.failures += 1;
                }
            }
        }
    }
    if let Err(err) = store.save(name, &state) {
        tracing::warn!(error = %err, "cannot write the state record");
    }
}

/// Cancels `token` on the first SIGINT or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot listen for SIGINT/SIGTERM");
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::warn!("stopping: abandoning in-flight issuances after cleaning up");
    token.cancel();
}
