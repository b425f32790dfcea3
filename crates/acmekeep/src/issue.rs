//! `acmekeep --issue`: issue what is missing or due, report each certificate, then exit.

use std::time::SystemTime;

use acme_core::policy::{Assessment, IssueReason};
use acme_core::{CancellationToken, CertInfo};
use futures::StreamExt;
use tracing::Instrument;

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use configuration::{CertificateConfig, Config};
use configuration::{Components, GeneratedCa};
use renewal::{Basis, Target};
use renewal::{Failure, Issued, Retry};
use state::Journal;

/// What happened to one certificate.
enum Outcome {
    Issued {
        reason: String,
        info: CertInfo,
        hook_error: Option<String>,
    },
    Valid {
        renew_at: SystemTime,
        basis: Basis,
        not_after: SystemTime,
    },
    /// Due, but not before this: the CA asked for the wait (a rate limit, Retry-After), or
    /// the daemon's backoff after failures runs.
    Waiting {
        until: SystemTime,
        why: String,
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
    let mut waiting = 0;
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
                basis,
                not_after,
            } => {
                valid += 1;
                println!(
                    "{name}: still valid until {}, renews at {} ({basis}; nothing to do)",
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
            Outcome::Waiting { until, why } => {
                waiting += 1;
                println!(
                    "{name}: WAITING: due, but not before {} ({why}); run --issue {name} --force to try now",
                    humantime::format_rfc3339_seconds(until)
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
    if waiting > 0 {
        println!("{waiting} waiting before the next attempt");
    }
    if pending > 0 {
        println!("{issued} issued, {valid} still valid, {pending} pending, {failed} failed");
    } else {
        println!("{issued} issued, {valid} still valid, {failed} failed");
    }
    if !published {
        println!("an issuer could not publish its trust bundle (see the error above)");
    }
    if failed > 0 || pending > 0 || kept > 0 || waiting > 0 || !published {
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
    let deployed = renewal::inspect(&sinks, &renewal::wanted(cert)).await;
    let store = state::Store::new(&config.daemon.state_dir);
    let mut state = store.load(name);
    let now = SystemTime::now();
    if let (Some(info), Some(pem)) = (&deployed.info, &deployed.cert_pem)
        && renewal::window_wanted(config, cert, info, &state, now)
        && let Some(issuer) = components.issuers.get(&cert.issuer)
        && let Ok(Some(_)) = renewal::ask_window(issuer.as_ref(), pem, info, &mut state, now).await
        && let Err(err) = store.save(name, &state)
    {
        tracing::warn!(error = %err, "cannot write the state record");
    }
    if let Some(warning) = deployed
        .info
        .as_ref()
        .and_then(|info| renewal::renew_before_warning(name, cert, info))
    {
        tracing::warn!("{warning}");
    }
    let target = Target::new(config, cert);
    let planned = renewal::plan(
        &target,
        &deployed.assessment,
        deployed.info.as_ref(),
        &state,
        now,
    );
    let revoked = deployed
        .info
        .as_ref()
        .and_then(|info| state.revocation_of(&info.serial));
    let reason = match (&planned.basis, &deployed.assessment) {
        (Basis::RevokedNotReissued, _) if !force => {
            tracing::info!("the deployed certificate was revoked with --no-reissue; left as it is");
            return Outcome::RevokedKept;
        }
        // Deploying it costs no order, so no wait (a backoff, a CA's rate limit) holds it back.
        _ if renewal::kept_waiting(config, name, cert) => {
            "a certificate issued earlier waits to be deployed".to_string()
        }
        (Basis::Backoff, _) if !force && planned.at > now => {
            let why = state
                .last_error
                .clone()
                .unwrap_or_else(|| "after earlier failures".to_string());
            tracing::info!(
                retry_at = %humantime::format_rfc3339_seconds(planned.at),
                "waiting before the next attempt"
            );
            return Outcome::Waiting {
                until: planned.at,
                why,
            };
        }
        (basis, Assessment::Valid { not_after, .. }) if !force && planned.at > now => {
            if let Some(outcome) =
                retry_deploy_hook(config, components, name, &deployed, &store, *not_after).await
            {
                return outcome;
            }
            tracing::info!(renews_at = %humantime::format_rfc3339_seconds(planned.at), %basis, "deployed certificate is valid; nothing to do");
            return Outcome::Valid {
                renew_at: planned.at,
                basis: basis.clone(),
                not_after: *not_after,
            };
        }
        _ if revoked.is_some() => {
            format!(
                "revoked: {}",
                revoked.map(|r| r.reason.as_str()).unwrap_or_default()
            )
        }
        (Basis::Now(reason), _) => reason.clone(),
        (_, Assessment::Issue(reason)) => reason.to_string(),
        (_, Assessment::Valid { .. }) if force => IssueReason::Forced.to_string(),
        (basis, Assessment::Valid { .. }) => format!("due ({basis})"),
    };
    tracing::info!(%reason, names = ?cert.domains, issuer = %cert.issuer, "issuing");
    let result =
        renewal::issue_and_deploy(config, components, name, deployed.cert_pem, cancel).await;
    record(&store, name, &target, &result);
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

/// Runs a deploy hook that failed for the deployed certificate again, alone (no new
/// order); `None` when no hook waits to be retried.
async fn retry_deploy_hook(
    config: &Config,
    components: &Components,
    name: &str,
    deployed: &renewal::Deployed,
    store: &state::Store,
    not_after: SystemTime,
) -> Option<Outcome> {
    let info = deployed.info.as_ref()?;
    let mut state = store.load(name);
    let result = renewal::retry_deploy_hook(config, components, name, info, &mut state).await?;
    if let Err(err) = store.save(name, &state) {
        tracing::warn!(error = %err, "cannot write the state record");
    }
    Some(match result {
        Ok(()) => Outcome::HookRetried { not_after },
        Err(error) => Outcome::Failed(format!(
            "the certificate is deployed, but its deploy hook failed again: {error}"
        )),
    })
}

/// Records the attempt in the state record, as the daemon does, so `status` and `diagnose`
/// see the last result and error (and a sink changed by hand later). A failure counts
/// towards the daemon's backoff but sets no wait of its own — the one-shot was asked for —
/// except the one the CA asked for (a rate limit, a Retry-After), which the next run obeys.
fn record(store: &state::Store, name: &str, target: &Target<'_>, result: &Result<Issued, Failure>) {
    let mut state = store.load(name);
    if renewal::record_attempt(
        &mut state,
        target,
        result,
        SystemTime::now(),
        Retry::CaWaitOnly,
    ) && let Err(err) = store.save(name, &state)
    {
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
