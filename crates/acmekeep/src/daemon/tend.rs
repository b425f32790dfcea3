//! One due event of one certificate: look at what is deployed, renew it if due, refresh its
//! ARI window, remember the outcome, and say when to look again.

use std::sync::Arc;
use std::time::SystemTime;

use acme_core::CancellationToken;
use acme_core::policy::{Assessment, IssueReason};
use observe::Metrics;
use tokio::sync::Semaphore;

use configuration::{CertificateConfig, Components, Config};
use renewal::{Basis, Event, Failure, Plan, Retry, Target};
use state::{CertState, Store};

/// What every task shares: the configuration it was started with and its components.
#[derive(Clone)]
pub struct Context {
    /// The configuration.
    pub config: Config,
    /// Issuers, solvers and sinks built from it.
    pub components: Components,
    /// Per-certificate state records.
    pub store: Store,
    /// Bounds how many issuances run at once.
    pub issuance: Arc<Semaphore>,
    /// Cancelled when the daemon stops or, with leader election, when this replica stops
    /// leading.
    pub cancel: CancellationToken,
    /// What `/metrics` shows.
    pub metrics: Metrics,
}

/// What a task reports back to the scheduler.
pub struct Outcome {
    /// The certificate.
    pub name: String,
    /// Events to schedule for it.
    pub next: Vec<(Event, SystemTime)>,
    /// Whether its deployed certificate is missing or expired, where the task looked.
    pub expired: Option<bool>,
}

/// Handles one due event of certificate `name`.
pub async fn tend(context: Arc<Context>, name: String, event: Event) -> Outcome {
    match event {
        Event::Renew => renew(&context, &name).await,
        Event::RefreshWindow => Outcome {
            next: refresh_window(&context, &name).await,
            name,
            expired: None,
        },
    }
}

async fn renew(context: &Context, name: &str) -> Outcome {
    let Some(cert) = context.config.certificates.get(name) else {
        return Outcome {
            name: name.to_string(),
            next: Vec::new(),
            expired: None,
        };
    };
    let sinks = context
        .components
        .sinks
        .get(name)
        .cloned()
        .unwrap_or_default();
    let deployed = renewal::inspect(&sinks, &renewal::wanted(cert)).await;
    let now = SystemTime::now();
    let expired = deployed
        .info
        .as_ref()
        .is_none_or(|info| info.not_after <= now);
    let next = renew_deployed(context, name, deployed).await;
    Outcome {
        name: name.to_string(),
        next,
        expired: Some(expired),
    }
}

/// Decides from what is deployed: waits (and says when to look again) while the
/// certificate is not due, else issues and deploys it and records the attempt.
async fn renew_deployed(
    context: &Context,
    name: &str,
    deployed: renewal::Deployed,
) -> Vec<(Event, SystemTime)> {
    let Some(cert) = context.config.certificates.get(name) else {
        return Vec::new();
    };
    let mut state = context.store.load(name);
    let now = SystemTime::now();
    let target = Target::new(&context.config, cert);
    let planned = renewal::plan(
        &target,
        &deployed.assessment,
        deployed.info.as_ref(),
        &state,
        now,
    );
    record_deployed(context, name, cert, &deployed, &planned);
    if planned.at > now && !renewal::kept_waiting(&context.config, name, cert) {
        return wait(context, name, cert, &deployed, &planned, &mut state, now).await;
    }

    let Ok(_permit) = context.issuance.acquire().await else {
        return Vec::new();
    };
    if context.cancel.is_cancelled() {
        return Vec::new();
    }
    let reason = match (&planned.basis, &deployed.assessment) {
        (Basis::Now(reason), _) => reason.clone(),
        (basis, Assessment::Valid { .. }) => format!("due ({basis})"),
        (basis, Assessment::Issue(reason)) => format!("{reason} ({basis})"),
    };
    tracing::info!(%reason, names = ?cert.domains, issuer = %cert.issuer, "issuing");
    let result = renewal::issue_and_deploy(
        &context.config,
        &context.components,
        name,
        deployed.cert_pem.clone(),
        &context.cancel,
    )
    .await;
    record_attempt(context, name, &target, state, result)
}

/// What `/metrics` shows of the deployed certificate, and the `renew_before` warning.
fn record_deployed(
    context: &Context,
    name: &str,
    cert: &CertificateConfig,
    deployed: &renewal::Deployed,
    planned: &Plan,
) {
    if let Some(info) = &deployed.info {
        context.metrics.record_certificate(
            name,
            &cert.issuer,
            info.not_before,
            info.not_after,
            planned.at,
        );
    }
    let ready = matches!(
        deployed.assessment,
        Assessment::Valid { .. } | Assessment::Issue(IssueReason::Due { .. })
    );
    context.metrics.record_ready(name, &cert.issuer, ready);
    if let Some(warning) = deployed
        .info
        .as_ref()
        .and_then(|info| renewal::renew_before_warning(name, cert, info))
    {
        tracing::warn!("{warning}");
    }
}

/// Not due yet: retries a failed deploy hook when its time has come, and returns when to
/// renew and to refresh the renewal window.
async fn wait(
    context: &Context,
    name: &str,
    cert: &CertificateConfig,
    deployed: &renewal::Deployed,
    planned: &Plan,
    state: &mut CertState,
    now: SystemTime,
) -> Vec<(Event, SystemTime)> {
    if planned.basis == Basis::Backoff {
        tracing::info!(
            retry_at = %humantime::format_rfc3339_seconds(planned.at),
            failures = state.failures,
            "waiting before the next attempt"
        );
    } else {
        tracing::info!(
            renews_at = %humantime::format_rfc3339_seconds(planned.at),
            basis = %planned.basis,
            "certificate is valid"
        );
    }
    let mut renew_at = planned.at;
    if let Some(info) = &deployed.info
        && let Some(failed) = state
            .failed_deploy_hook
            .as_ref()
            .filter(|failed| failed.serial == info.serial)
    {
        if failed.retry_at <= now {
            let retried =
                renewal::retry_deploy_hook(&context.config, &context.components, name, info, state)
                    .await;
            if let Some(Err(error)) = retried {
                tracing::error!(%error, "the deploy hook failed again; trying again later");
            }
            save(context, name, state);
        }
        if let Some(failed) = &state.failed_deploy_hook {
            renew_at = renew_at.min(failed.retry_at);
        }
    }
    let mut next = vec![(Event::Renew, renew_at)];
    // Only ACME CAs can offer a renewal window; asking any other issuer would only
    // read every sink a second time.
    if let Some(info) = deployed.info.as_ref() {
        if renewal::window_wanted(&context.config, cert, info, state, now) {
            next.push((Event::RefreshWindow, now));
        } else if let Some(ari) = state.ari.as_ref().filter(|ari| ari.serial == info.serial) {
            next.push((Event::RefreshWindow, ari.refresh_at));
        }
    }
    next
}

/// Records an issuance attempt in the state record (and, when it failed, in `/metrics`)
/// and returns when to look again.
fn record_attempt(
    context: &Context,
    name: &str,
    target: &Target<'_>,
    mut state: CertState,
    result: Result<renewal::Issued, Failure>,
) -> Vec<(Event, SystemTime)> {
    let now = SystemTime::now();
    if !renewal::record_attempt(&mut state, target, &result, now, Retry::Backoff) {
        tracing::warn!("issuance abandoned; the deployed certificate was left as it was");
        return Vec::new();
    }
    // Saved before it is logged, so whoever reads the log finds the record written.
    save(context, name, &state);
    let retry_at = state.retry_at.unwrap_or(now);
    match result {
        Ok(issued) => {
            tracing::info!(
                serial = %issued.info.serial,
                not_after = %humantime::format_rfc3339_seconds(issued.info.not_after),
                "issued and deployed"
            );
            // Look again at once: that plans the new certificate and fetches its window.
            vec![(Event::Renew, now)]
        }
        Err(failure) if failure.pending_until.is_some() => {
            tracing::info!(
                status = %failure.message,
                retry_at = %humantime::format_rfc3339_seconds(retry_at),
                "the issuer has not issued yet; asking again then"
            );
            vec![(Event::Renew, retry_at)]
        }
        Err(failure) => {
            context.metrics.record_failure(name, &target.cert.issuer);
            tracing::error!(
                error = %failure.message,
                failures = state.failures,
                retry_at = %humantime::format_rfc3339_seconds(retry_at),
                "issuance failed; the deployed certificate was left as it was"
            );
            vec![(Event::Renew, retry_at)]
        }
    }
}

async fn refresh_window(context: &Context, name: &str) -> Vec<(Event, SystemTime)> {
    let Some(cert) = context.config.certificates.get(name) else {
        return Vec::new();
    };
    let Some(issuer) = context.components.issuers.get(&cert.issuer) else {
        return Vec::new();
    };
    let sinks = context
        .components
        .sinks
        .get(name)
        .cloned()
        .unwrap_or_default();
    let deployed = renewal::inspect(&sinks, &renewal::wanted(cert)).await;
    let (Some(info), Some(pem)) = (deployed.info, deployed.cert_pem) else {
        return Vec::new();
    };
    let now = SystemTime::now();
    let mut state = context.store.load(name);
    match renewal::ask_window(issuer.as_ref(), &pem, &info, &mut state, now).await {
        Ok(None) => Vec::new(),
        Ok(Some(refresh_at)) => {
            save(context, name, &state);
            let planned = renewal::plan(
                &Target::new(&context.config, cert),
                &deployed.assessment,
                Some(&info),
                &state,
                now,
            );
            vec![
                (Event::Renew, planned.at),
                (Event::RefreshWindow, refresh_at),
            ]
        }
        Err(retry_at) => vec![(Event::RefreshWindow, retry_at)],
    }
}

fn save(context: &Context, name: &str, state: &CertState) {
    if let Err(err) = context.store.save(name, state) {
        tracing::warn!(error = %err, "cannot write the state record");
    }
}
