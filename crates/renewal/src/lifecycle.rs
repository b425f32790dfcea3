//! One certificate's lifecycle step, shared by the one-shot and the daemon: read what the
//! sinks hold, decide, and issue and deploy a new certificate when needed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acme_core::policy::{self, Assessment, IssueReason, Wanted};
use acme_core::{
    Bundle, CancellationToken, CertInfo, FailureKind, IssueRequest, KeyType, PrivateKeyPem, Sink,
    Solver,
};
use hooks::{HookEnv, Outcome, Stage};

use configuration::Components;
use configuration::{CertificateConfig, Config};
use state::Kept;
use state::{CertState, FailedHook, LastResult};

use crate::due::{Target, backoff, ca_wait, issued_state};

/// What the sinks of one certificate hold, and what the policy makes of it.
pub struct Deployed {
    /// Issue now, or valid until when.
    pub assessment: Assessment,
    /// The deployed leaf, PEM, when one is deployed and readable.
    pub cert_pem: Option<String>,
    /// The deployed leaf, inspected.
    pub info: Option<CertInfo>,
}

/// Reads every sink of a certificate: it is only valid if every sink holds a valid one,
/// and the earliest renewal time counts.
pub async fn inspect(sinks: &[Arc<dyn Sink>], wanted: &Wanted<'_>) -> Deployed {
    let now = SystemTime::now();
    let mut deployed = Deployed {
        assessment: Assessment::Issue(IssueReason::Missing),
        cert_pem: None,
        info: None,
    };
    let mut result: Option<Assessment> = None;
    for sink in sinks {
        let assessment = match sink.load().await {
            Ok(None) => Assessment::Issue(IssueReason::Missing),
            Ok(Some(bundle)) => match CertInfo::from_pem(&bundle.cert_pem) {
                Ok(info) => {
                    let key_matches = info.matches_key(&bundle.key);
                    let assessment = policy::assess(Some((&info, key_matches)), wanted, now);
                    if deployed.info.is_none() {
                        deployed.cert_pem = Some(bundle.cert_pem);
                        deployed.info = Some(info);
                    }
                    assessment
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
    if let Some(assessment) = result {
        deployed.assessment = assessment;
    }
    deployed
}

/// Whether a certificate issued by an earlier attempt waits in `state_dir` to be deployed
/// (and still can be): then the certificate is due whatever the deployed one says.
pub fn kept_waiting(config: &Config, name: &str, cert: &CertificateConfig) -> bool {
    Kept::new(&config.daemon.state_dir, name)
        .usable(&cert.issuer, &wanted(cert), SystemTime::now())
        .is_some()
}

/// What the configuration wants of a certificate, for the policy.
pub fn wanted(cert: &CertificateConfig) -> Wanted<'_> {
    Wanted {
        names: &cert.domains,
        key_type: cert.key,
        renew_before: cert.renew_before,
    }
}

/// Why an issuance failed, with what the scheduler needs to decide when to try again.
#[derive(Debug)]
pub struct Failure {
    /// For people.
    pub message: String,
    /// What kind of failure it is, for the state record and `diagnose`.
    pub kind: FailureKind,
    /// The ACME problem type the CA named, if it named one (for the request or a challenge).
    pub problem: Option<String>,
    /// The CA said we are rate limited.
    pub rate_limited: bool,
    /// When the CA asked us to come back (its Retry-After on a rate limit or a 503).
    pub retry_after: Option<SystemTime>,
    /// The issuance was abandoned because acmekeep is stopping.
    pub cancelled: bool,
    /// The issuer accepted the request but has not issued yet (an approval, say): not a
    /// failure, ask again then (the key is kept for it).
    pub pending_until: Option<SystemTime>,
}

/// How long to wait before asking a pending issuer again when it did not say.
const PENDING_RECHECK: Duration = Duration::from_secs(5 * 60);

impl From<acme_core::Error> for Failure {
    fn from(err: acme_core::Error) -> Failure {
        let pending_until = match &err {
            acme_core::Error::Pending { retry_after, .. } => {
                Some(retry_after.unwrap_or_else(|| SystemTime::now() + PENDING_RECHECK))
            }
            _ => None,
        };
        let retry_after = match &err {
            acme_core::Error::Acme { retry_after, .. } => *retry_after,
            _ => None,
        };
        Failure {
            rate_limited: err.acme_problem() == Some("rateLimited"),
            retry_after,
            cancelled: matches!(err, acme_core::Error::Cancelled),
            pending_until,
            kind: err.kind(),
            problem: err
                .acme_problem()
                .or_else(|| err.challenge_problem())
                .map(str::to_string),
            message: err.to_string(),
        }
    }
}

impl Failure {
    /// A failure outside the issuer (configuration, hooks, sinks), of `kind`.
    pub fn new(kind: FailureKind, message: String) -> Failure {
        Failure {
            message,
            kind,
            problem: None,
            rate_limited: false,
            retry_after: None,
            cancelled: false,
            pending_until: None,
        }
    }
}

/// A deployed certificate, and a hook failure that did not undo it.
#[derive(Debug)]
pub struct Issued {
    /// The new certificate.
    pub info: CertInfo,
    /// The deploy or post hook that failed, if one did.
    pub hook_error: Option<String>,
    /// The deploy hook's error, if it failed: it is run again until it succeeds.
    pub deploy_hook_error: Option<String>,
}

/// Runs the `pre` hooks, issues and deploys, then runs the `deploy` hooks (after success)
/// and the `post` hooks (always). A failing `pre` hook fails the attempt; a failing
/// `deploy` or `post` hook is reported but does not undo the deployment.
pub async fn issue_and_deploy(
    config: &Config,
    components: &Components,
    name: &str,
    replaces: Option<String>,
    cancel: &CancellationToken,
) -> Result<Issued, Failure> {
    let cert = config.certificates.get(name).ok_or_else(|| {
        Failure::new(
            FailureKind::Config,
            format!("certificate {name:?} is no longer configured"),
        )
    })?;
    let sinks = components.sinks.get(name).cloned().unwrap_or_default();
    let mut env = HookEnv {
        cert_name: name.to_string(),
        names: cert.domains.clone(),
        issuer: cert.issuer.clone(),
        files: sinks.iter().filter_map(|s| s.files()).collect(),
        serial: None,
        not_after: None,
    };
    let result = match cert.hooks.run(Stage::Pre, &env).await {
        Ok(()) => deploy(config, components, name, &sinks, replaces, cancel).await,
        Err(err) => Err(Failure::new(FailureKind::Hook, err.to_string())),
    };
    let mut hook_error = None;
    let mut deploy_hook_error = None;
    let outcome = match &result {
        Ok(info) => {
            env.serial = Some(info.serial.clone());
            env.not_after = Some(info.not_after);
            if let Err(err) = cert.hooks.run(Stage::Deploy, &env).await {
                tracing::error!(error = %err, "deploy hook failed; the new certificate stays deployed");
                hook_error = Some(err.to_string());
                deploy_hook_error = Some(err.to_string());
            }
            Outcome::Success
        }
        Err(_) => Outcome::Failure,
    };
    if let Err(err) = cert.hooks.run(Stage::Post(outcome), &env).await {
        tracing::error!(error = %err, "post hook failed");
        hook_error.get_or_insert(err.to_string());
    }
    result.map(|info| Issued {
        info,
        hook_error,
        deploy_hook_error,
    })
}

/// Records in `state` how the deploy hooks went for the deployed certificate `serial`: a
/// failure is remembered (with the daemon's backoff) until they succeed.
pub fn record_deploy_hook(state: &mut CertState, serial: &str, error: Option<String>) {
    state.failed_deploy_hook = error.map(|error| {
        let failures = state
            .failed_deploy_hook
            .as_ref()
            .filter(|failed| failed.serial == serial)
            .map_or(0, |failed| failed.failures)
            + 1;
        FailedHook {
            serial: serial.to_string(),
            failures,
            retry_at: SystemTime::now() + backoff(failures, false),
            error,
        }
    });
}

/// How a failed attempt delays the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The daemon's backoff, or the CA's wait when it asked for longer.
    Backoff,
    /// Only the wait the CA asked for (a rate limit, a Retry-After): the one-shot was asked
    /// to run, so it sets no wait of its own, but its failure counts towards the backoff.
    CaWaitOnly,
}

/// Records one issuance attempt in `state`, for the caller to save: the new certificate,
/// or the failure with its kind, the count of failures in a row and when to try again.
/// The one-shot and the daemon both record through this. An abandoned attempt (acmekeep
/// stopping) records nothing: the answer is `false`.
pub fn record_attempt(
    state: &mut CertState,
    target: &Target<'_>,
    result: &Result<Issued, Failure>,
    now: SystemTime,
    retry: Retry,
) -> bool {
    match result {
        Err(failure) if failure.cancelled => return false,
        Ok(issued) => {
            *state = issued_state(target, &issued.info, now, issued.hook_error.clone());
            record_deploy_hook(state, &issued.info.serial, issued.deploy_hook_error.clone());
        }
        Err(failure) => {
            state.last_attempt = Some(now);
            state.last_error = Some(failure.message.clone());
            if let Some(until) = failure.pending_until {
                // Waiting on the issuer is not a failure: no backoff, ask again when it said.
                state.last_result = Some(LastResult::Pending);
                state.retry_at = Some(until.max(now));
                state.last_failure_kind = None;
                state.last_problem = None;
            } else {
                state.last_result = Some(LastResult::Failed);
                state.failures += 1;
                state.last_failure_kind = Some(failure.kind);
                state.last_problem = failure.problem.clone();
                state.retry_at = match retry {
                    Retry::Backoff => {
                        let backoff = now + backoff(state.failures, failure.rate_limited);
                        Some(
                            failure
                                .retry_after
                                .map_or(backoff, |asked| asked.max(backoff)),
                        )
                    }
                    Retry::CaWaitOnly => ca_wait(failure, now),
                };
            }
        }
    }
    true
}

/// Runs the deploy hooks of `name` again, alone, when they failed for the deployed
/// certificate `info`, and records the outcome in `state` (for the caller to save).
/// `None` when no deploy hook failed for `info`.
pub async fn retry_deploy_hook(
    config: &Config,
    components: &Components,
    name: &str,
    info: &CertInfo,
    state: &mut CertState,
) -> Option<Result<(), String>> {
    state
        .failed_deploy_hook
        .as_ref()
        .filter(|failed| failed.serial == info.serial)?;
    let cert = config.certificates.get(name)?;
    let sinks = components.sinks.get(name).cloned().unwrap_or_default();
    let env = HookEnv {
        cert_name: name.to_string(),
        names: cert.domains.clone(),
        issuer: cert.issuer.clone(),
        files: sinks.iter().filter_map(|s| s.files()).collect(),
        serial: Some(info.serial.clone()),
        not_after: Some(info.not_after),
    };
    tracing::info!(serial = %info.serial, "running the deploy hook again, which failed for this certificate");
    let result = cert
        .hooks
        .run(Stage::Deploy, &env)
        .await
        .map_err(|err| err.to_string());
    record_deploy_hook(state, &info.serial, result.clone().err());
    Some(result)
}

/// Issues a certificate with a fresh key, checks it, and stores it in every sink.
///
/// Nothing is deployed unless the issuer returned a certificate for exactly the configured
/// names and for the new key. Cancellation is honoured up to the first sink write; once
/// writing starts, every sink is written.
async fn deploy(
    config: &Config,
    components: &Components,
    name: &str,
    sinks: &[Arc<dyn Sink>],
    replaces: Option<String>,
    cancel: &CancellationToken,
) -> Result<CertInfo, Failure> {
    let cert = config.certificates.get(name).ok_or_else(|| {
        Failure::new(
            FailureKind::Config,
            format!("certificate {name:?} is no longer configured"),
        )
    })?;
    let issuer = components.issuers.get(&cert.issuer).ok_or_else(|| {
        Failure::new(
            FailureKind::Config,
            format!("issuer {:?} is not configured", cert.issuer),
        )
    })?;
    let kept = Kept::new(&config.daemon.state_dir, name);
    if let Some(bundle) = kept.usable(&cert.issuer, &wanted(cert), SystemTime::now()) {
        tracing::info!("deploying the certificate issued by an earlier attempt; no new order");
        let info = CertInfo::from_pem(&bundle.cert_pem)?;
        store_everywhere(sinks, &bundle, &info, &kept, &cert.issuer).await?;
        return Ok(info);
    }
    preflight(sinks).await?;
    let pending = PendingKey::new(&config.daemon.state_dir, name);
    let key = match pending.load(cert.key) {
        Some(kept) => kept.key_pair()?,
        None => {
            let key_type = cert.key;
            tokio::task::spawn_blocking(move || key_type.generate())
                .await
                .map_err(|e| {
                    Failure::new(
                        FailureKind::Internal,
                        format!("key generation stopped: {e}"),
                    )
                })??
        }
    };
    let csr_der = acme_core::build_csr(&cert.domains, &key)?;
    let mut solvers: BTreeMap<String, Arc<dyn Solver>> = BTreeMap::new();
    if config
        .issuers
        .get(&cert.issuer)
        .is_some_and(|issuer| issuer.needs_solver())
    {
        for domain in &cert.domains {
            let solver = config
                .solver_for(name, domain)
                .ok()
                .and_then(|s| components.solvers.get(s))
                .ok_or_else(|| {
                    Failure::new(
                        FailureKind::Config,
                        format!("no solver is configured for {domain}"),
                    )
                })?;
            solvers.insert(domain.clone(), Arc::clone(solver));
        }
    }
    let request = IssueRequest {
        cert_name: name.to_string(),
        names: cert.domains.clone(),
        csr_der,
        solvers,
        replaces,
        cancel: cancel.clone(),
    };
    let key = PrivateKeyPem::from_key_pair(&key)?;
    let chain = match issuer.issue(&request).await {
        Ok(chain) => chain,
        Err(err @ acme_core::Error::Pending { .. }) => {
            pending.keep(&key)?;
            return Err(err.into());
        }
        Err(err) => return Err(err.into()),
    };
    let info = CertInfo::from_pem(&chain.cert_pem)?;
    if !info.covers_exactly(&cert.domains) {
        return Err(Failure::new(
            FailureKind::Issuer,
            format!(
                "the issuer returned a certificate for {:?}, not for the configured {:?}; nothing was deployed",
                info.names, cert.domains
            ),
        ));
    }
    if !info.matches_key(&key) {
        return Err(Failure::new(
            FailureKind::Issuer,
            "the issuer returned a certificate for another key; nothing was deployed".to_string(),
        ));
    }
    if cancel.is_cancelled() {
        return Err(acme_core::Error::Cancelled.into());
    }
    let bundle = Bundle {
        cert_pem: chain.cert_pem,
        chain_pem: chain.chain_pem,
        key,
        ca_pem: chain.ca_pem,
    };
    pending.clear();
    store_everywhere(sinks, &bundle, &info, &kept, &cert.issuer).await?;
    Ok(info)
}

/// Asks every sink whether it can take a certificate, before anything is ordered.
async fn preflight(sinks: &[Arc<dyn Sink>]) -> Result<(), Failure> {
    for sink in sinks {
        sink.preflight().await.map_err(|err| {
            Failure::new(
                FailureKind::Sink,
                format!("{err}; nothing was ordered (fix the sink and run again)"),
            )
        })?;
    }
    Ok(())
}

/// Stores `bundle` (certificate `info`, from `issuer`) in every sink. If a sink fails, the
/// bundle is kept in `state_dir` for the next attempt, which deploys it without a new order.
async fn store_everywhere(
    sinks: &[Arc<dyn Sink>],
    bundle: &Bundle,
    info: &CertInfo,
    kept: &Kept,
    issuer: &str,
) -> Result<(), Failure> {
    for sink in sinks {
        if let Err(err) = sink.store(bundle).await {
            let reason = err.to_string();
            let message = match kept.keep(issuer, bundle, &reason) {
                Ok(()) => format!(
                    "issued, not deployed: {reason}; kept in {} for the next attempt, which deploys it without a new order",
                    kept.path().display()
                ),
                Err(keep) => format!(
                    "issued, not deployed: {reason}; and it could not be kept for the next attempt: {keep}"
                ),
            };
            return Err(Failure::new(FailureKind::Sink, message));
        }
        tracing::info!(sink = %sink.describe(), serial = %info.serial, "deployed");
    }
    kept.clear();
    Ok(())
}

/// The key of a request an issuer is still processing, kept in
/// `state_dir/pending/NAME.key` (0600) so the next attempt asks for the same request.
struct PendingKey {
    path: PathBuf,
}

impl PendingKey {
    fn new(state_dir: &Path, cert_name: &str) -> PendingKey {
        PendingKey {
            path: state_dir.join("pending").join(format!("{cert_name}.key")),
        }
    }

    /// The kept key, if there is one of the wanted type (another one is discarded). It stays
    /// kept until a certificate is deployed, so a failed attempt asks again with it.
    fn load(&self, key_type: KeyType) -> Option<PrivateKeyPem> {
        let pem = PrivateKeyPem::new(std::fs::read_to_string(&self.path).ok()?);
        let usable = pem
            .key_pair()
            .is_ok_and(|key| KeyType::of(&key) == Some(key_type));
        if usable {
            tracing::info!("asking again for the pending request, with its key");
            Some(pem)
        } else {
            self.clear();
            None
        }
    }

    /// Keeps `key` for the next attempt.
    fn keep(&self, key: &PrivateKeyPem) -> Result<(), Failure> {
        if let Some(dir) = self.path.parent() {
            acme_core::ensure_private_dir(dir, 0o700)?;
        }
        acme_core::write_atomic(&self.path, key.expose().as_bytes(), 0o600)?;
        Ok(())
    }

    /// Forgets the kept key, if any.
    fn clear(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot remove the kept key of a pending request");
            }
        }
    }
}
