//! The issuer itself: its configuration, orders, challenges through solvers, revocation.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use instant_acme::{
    Account, AuthorizationStatus, CertificateIdentifier, ChallengeType, Identifier, NewOrder,
    Order, OrderStatus, RetryPolicy, RevocationRequest,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use tokio::sync::Mutex;

use acme_core::{
    Challenge, ChallengeKind, Error, Health, IssueRequest, IssuedChain, Issuer, RenewalWindow,
    RevocationReason, Solver, with_progress,
};

use crate::retry::{self, retrying};
use crate::{EabConfig, account, ari, chain, http, profile, resolve_directory};

/// Configuration of an ACME issuer (`kind = "acme"`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The directory URL, or an alias such as `letsencrypt` or `letsencrypt-staging`.
    pub directory: String,
    /// Contact address registered with the account.
    #[serde(default)]
    pub email: Option<String>,
    /// Extra PEM roots to trust for the CA's own HTTPS (private or test CAs).
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// External account binding, for CAs that require it (ZeroSSL, Google, …).
    #[serde(default)]
    pub eab: Option<EabConfig>,
    /// The certificate profile to ask for (ACME profiles extension), e.g. `classic` or
    /// `shortlived` at Let's Encrypt. It must be one the directory lists in `meta.profiles`;
    /// unset, the CA's default profile is used.
    #[serde(default)]
    pub profile: Option<String>,
    /// The certificate chain to deliver when the CA offers several (RFC 8555 §7.4.2
    /// `Link: rel="alternate"`), by Common Name, e.g. `ISRG Root X1`: the first chain whose
    /// topmost certificate that CA issued, else the first with a certificate of that subject
    /// name. Unset, or when nothing matches (logged at info), the CA's default chain is used.
    #[serde(default)]
    pub preferred_chain: Option<String>,
    /// The deadline for one whole issuance, from new order to downloaded chain.
    #[serde(
        default = "default_timeout",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub timeout: Duration,
    /// Accept a plain `http://` URL to a host that is not a loopback address (dangerous:
    /// credentials and certificates cross the network unencrypted; warned about at every
    /// start). Default `false`: `http://` only to `127.0.0.0/8`, `::1` or `localhost`.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl AcmeConfig {
    /// The directory URL `directory` names, checked: an alias, an `https://` URL, or an
    /// `http://` URL to a loopback address (elsewhere only with `allow_insecure_http`).
    pub fn directory_url(&self) -> Result<String, String> {
        let url = resolve_directory(&self.directory)?;
        acme_core::check_plain_http("directory", &url, self.allow_insecure_http)?;
        Ok(url)
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(300)
}

/// How long one HTTP request to the CA may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The first pause while polling an order; it grows by half each time.
const FIRST_POLL: Duration = Duration::from_millis(20);

/// Issues certificates from an ACME CA, proving control of names through solvers.
///
/// The account is registered once and kept in `state_dir/accounts/<name>.json` (0600).
/// Every protocol step is retried on badNonce, 5xx and network errors; polling starts
/// at tens of milliseconds and backs off, honouring Retry-After; the whole issuance is
/// bounded by [`AcmeConfig::timeout`]. Challenges are always cleaned up.
///
/// Extensions, where the CA's directory offers them: orders name [`AcmeConfig::profile`]
/// (checked against `meta.profiles` first); a renewal names the certificate it replaces
/// (RFC 9773 `replaces`, dropped if the CA refuses it); [`Issuer::renewal_window`] returns
/// the CA's suggested renewal window. Where the CA offers alternate chains,
/// [`AcmeConfig::preferred_chain`] picks the one delivered.
pub struct AcmeIssuer {
    name: String,
    config: AcmeConfig,
    http: http::AcmeHttp,
    store: account::AccountStore,
    account: Mutex<Option<Account>>,
}

impl AcmeIssuer {
    /// Prepares an issuer; no network traffic happens until the first issuance.
    pub fn new(name: String, config: AcmeConfig, state_dir: &Path) -> Result<AcmeIssuer, Error> {
        let directory = config.directory_url().map_err(|message| Error::Acme {
            step: "configuration",
            message,
            problem: None,
            retryable: false,
            retry_after: None,
        })?;
        if config
            .preferred_chain
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            return Err(Error::Acme {
                step: "configuration",
                message: "preferred_chain is empty: set it to the Common Name of the root \
                          (issuer) you want, e.g. \"ISRG Root X1\", or remove it"
                    .into(),
                problem: None,
                retryable: false,
                retry_after: None,
            });
        }
        let http = http::AcmeHttp::new(config.ca_bundle.as_deref(), REQUEST_TIMEOUT)?;
        let store = account::AccountStore {
            path: account::account_path(state_dir, &name),
            directory,
            email: config.email.clone(),
            eab: config.eab.clone(),
        };
        Ok(AcmeIssuer {
            name,
            config,
            http,
            store,
            account: Mutex::new(None),
        })
    }

    /// The directory URL this issuer talks to.
    pub fn directory_url(&self) -> &str {
        &self.store.directory
    }

    /// Names the directory in an error that persisted for transient reasons (network, 5xx),
    /// so the operator knows which CA could not be reached.
    fn naming_directory(&self, err: Error) -> Error {
        match err {
            Error::Acme {
                step,
                message,
                problem,
                retryable: true,
                retry_after,
            } => Error::Acme {
                step,
                message: format!("{message} (directory {})", self.store.directory),
                problem,
                retryable: true,
                retry_after,
            },
            other => other,
        }
    }

    async fn account(&self, fresh: bool) -> Result<Account, Error> {
        let mut slot = self.account.lock().await;
        if let (Some(account), false) = (slot.as_ref(), fresh) {
            return Ok(account.clone());
        }
        let account = self.store.load_or_create(&self.http, fresh).await?;
        *slot = Some(account.clone());
        Ok(account)
    }

    /// Creates the order: with the configured profile (checked against the directory's
    /// list first) and, when renewing at a CA that offers ARI, naming the certificate it
    /// replaces. A CA that refuses the `replaces` field gets the order once more without it.
    async fn new_order(&self, request: &IssueRequest) -> Result<(Account, Order), Error> {
        let identifiers: Vec<Identifier> = request
            .names
            .iter()
            .map(|n| Identifier::Dns(n.clone()))
            .collect();
        let mut replaces = replaced_certificate_id(request);
        let mut account = self.account(false).await?;
        let mut fresh = false;
        loop {
            let mut new_order = NewOrder::new(&identifiers);
            if let Some(profile) = &self.config.profile {
                let offered = account.profiles().map(|p| p.name);
                profile::check(profile, offered, &self.store.directory)?;
                new_order = new_order.profile(profile);
            }
            if let Some(id) = &replaces {
                new_order = new_order.replaces(id.clone());
            }
            match retrying!("new order", request_order(&account, &new_order)) {
                Ok(OrderAnswer::Created(order)) => {
                    if let Some(id) = &replaces {
                        tracing::info!("renewal order replaces {id}");
                    }
                    return Ok((account, *order));
                }
                Ok(OrderAnswer::NoRenewalInfo) => {
                    tracing::debug!(
                        "the directory offers no renewal information; ordering without replaces"
                    );
                    replaces = None;
                }
                Ok(OrderAnswer::ReplacesIgnored) => {
                    if let Some(id) = replaces.take() {
                        tracing::warn!(
                            "renewal order replaces {id}, but the CA did not echo the field \
                             as RFC 9773 requires; ordering again without replaces"
                        );
                    }
                }
                Err(err) if err.acme_problem() == Some("accountDoesNotExist") && !fresh => {
                    tracing::warn!("the CA does not know the stored account; registering anew");
                    account = self.account(true).await?;
                    fresh = true;
                }
                Err(err) if replaces.is_some() && refuses_replacement(&err) => {
                    if let Some(id) = replaces.take() {
                        tracing::warn!(
                            error = %err,
                            "renewal order replaces {id}, but the CA refused it; \
                             ordering again without replaces"
                        );
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    async fn run_order(
        &self,
        request: &IssueRequest,
        deadline: Instant,
        presented: &mut Vec<(Arc<dyn Solver>, Challenge)>,
    ) -> Result<IssuedChain, Error> {
        let (account, mut order) = self.new_order(request).await?;
        tracing::info!(order = order.url(), "order created");

        retrying!("fetch authorizations", fetch_authorizations(&mut order))?;
        present_challenges(&mut order, request, presented).await?;

        let mut answered = HashSet::new();
        retrying!(
            "answer challenges",
            answer_challenges(&mut order, presented, &mut answered)
        )?;

        let validation = format!("validation of {}", request.names.join(", "));
        match retrying!(
            "wait for validation",
            with_progress(&validation, order.poll_ready(&poll_policy(deadline)))
        ) {
            Ok(OrderStatus::Ready) => {}
            // The order failed: the failed authorization says which name and why.
            Ok(_) => {
                return Err(explain_invalid(&mut order).await.unwrap_or(Error::Acme {
                    step: "wait for validation",
                    message: "the order became invalid".into(),
                    problem: None,
                    retryable: false,
                    retry_after: None,
                }));
            }
            Err(err) if err.acme_problem().is_some() => {
                return Err(explain_invalid(&mut order).await.unwrap_or(err));
            }
            Err(err) => return Err(err),
        }
        tracing::info!("names validated; finalizing");

        retrying!("finalize", order.finalize_csr(&request.csr_der))?;
        let pem = retrying!(
            "download certificate",
            with_progress(
                "the CA to issue the certificate",
                order.poll_certificate(&poll_policy(deadline))
            )
        )?;
        let pem = chain::choose(
            &self.http,
            &account,
            &mut order,
            pem,
            self.config.preferred_chain.as_deref(),
        )
        .await?;
        IssuedChain::from_pem_bundle(&pem)
    }
}

#[async_trait]
impl Issuer for AcmeIssuer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn issue(&self, request: &IssueRequest) -> Result<IssuedChain, Error> {
        let timeout = self.config.timeout;
        let deadline = Instant::now() + timeout;
        let mut presented = Vec::new();
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(timeout, self.run_order(request, deadline, &mut presented)) => {
                outcome.unwrap_or(Err(Error::Deadline(timeout)))
            }
            () = request.cancel.cancelled() => Err(Error::Cancelled),
        };
        for (solver, challenge) in presented.iter().rev() {
            if let Err(err) = solver.cleanup(challenge).await {
                tracing::warn!(identifier = %challenge.identifier, error = %err, "challenge cleanup failed");
            }
        }
        outcome.map_err(|err| self.naming_directory(err))
    }

    /// Asks the CA's renewal information (RFC 9773) for `cert_pem`.
    ///
    /// `Ok(None)` when the directory has no `renewalInfo`, or when the certificate has no
    /// Authority Key Identifier to name it by. The CA's Retry-After becomes `refresh_after`,
    /// bounded to between one minute and one day.
    async fn renewal_window(&self, cert_pem: &str) -> Result<Option<RenewalWindow>, Error> {
        let Some(id) = ari::certificate_id(cert_pem)? else {
            tracing::debug!(
                "the certificate has no Authority Key Identifier; no renewal information"
            );
            return Ok(None);
        };
        let account = self.account(false).await?;
        ari::fetch(&account, &id).await
    }

    /// Revokes `cert_pem` at the CA with a request signed by this issuer's account key
    /// (RFC 8555 §7.6), retrying badNonce, 5xx and network failures.
    ///
    /// A CA that already revoked the certificate answers with the `alreadyRevoked` problem,
    /// which callers can tell apart through [`Error::acme_problem`].
    async fn revoke(&self, cert_pem: &str, reason: RevocationReason) -> Result<(), Error> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            Error::Certificate(format!("cannot revoke: no readable PEM certificate ({e})"))
        })?;
        let account = self.account(false).await?;
        let request = RevocationRequest {
            certificate: &der,
            reason: Some(acme_reason(reason)),
        };
        match retrying!("revoke", account.revoke(&request)) {
            Ok(()) => Ok(()),
            Err(Error::Acme {
                step,
                message,
                problem: Some(problem),
                retryable,
                retry_after,
            }) if problem == "unauthorized" => Err(Error::Acme {
                step,
                message: format!(
                    "{message}; the CA does not let account {} revoke this certificate: was it \
                     issued under another account (a replaced state_dir/accounts/{}.json)?",
                    account.id(),
                    self.name
                ),
                problem: Some(problem),
                retryable,
                retry_after,
            }),
            Err(err) => Err(self.naming_directory(err)),
        }
    }

    async fn health(&self) -> Health {
        crate::directory::health(&self.store.directory, self.config.ca_bundle.as_deref()).await
    }
}

/// instant-acme's code for a revocation reason.
fn acme_reason(reason: RevocationReason) -> instant_acme::RevocationReason {
    use instant_acme::RevocationReason as R;
    match reason {
        RevocationReason::Unspecified => R::Unspecified,
        RevocationReason::KeyCompromise => R::KeyCompromise,
        RevocationReason::AffiliationChanged => R::AffiliationChanged,
        RevocationReason::Superseded => R::Superseded,
        RevocationReason::CessationOfOperation => R::CessationOfOperation,
    }
}

/// The ARI identifier of the certificate a request replaces, if it names one and it can be
/// identified (a certificate that cannot is renewed all the same, just without `replaces`).
fn replaced_certificate_id(request: &IssueRequest) -> Option<CertificateIdentifier<'static>> {
    let pem = request.replaces.as_deref()?;
    match ari::certificate_id(pem) {
        Ok(id) => id,
        Err(err) => {
            tracing::warn!(error = %err, "cannot identify the certificate being replaced; ordering without replaces");
            None
        }
    }
}

/// What became of one new-order request, beyond success and errors worth retrying.
enum OrderAnswer {
    /// The CA created the order (boxed: it is much larger than the other answers).
    Created(Box<Order>),
    /// The order named a replaced certificate, but the directory has no `renewalInfo`:
    /// nothing was sent (instant-acme refuses such an order locally).
    NoRenewalInfo,
    /// The CA created an order but did not echo `replaces`, as RFC 9773 requires of a CA
    /// that accepts it; instant-acme rejects such an answer.
    ReplacesIgnored,
}

async fn request_order(
    account: &Account,
    new_order: &NewOrder<'_>,
) -> Result<OrderAnswer, instant_acme::Error> {
    match account.new_order(new_order).await {
        Ok(order) => Ok(OrderAnswer::Created(Box::new(order))),
        Err(instant_acme::Error::Unsupported(_)) => Ok(OrderAnswer::NoRenewalInfo),
        // instant-acme has no dedicated variant for this; without the match the answer would
        // count as a network failure and be retried as one.
        Err(instant_acme::Error::Other(err))
            if err.to_string().starts_with("replaces field mismatch") =>
        {
            Ok(OrderAnswer::ReplacesIgnored)
        }
        Err(err) => Err(err),
    }
}

/// Whether a new order that named a replaced certificate may have failed because of it: any
/// problem document from the CA, except badNonce (and network errors), which `retrying!`
/// already retried and which have nothing to do with the order's content.
fn refuses_replacement(err: &Error) -> bool {
    match err.acme_problem() {
        Some("badNonce") | None => false,
        Some(_) => true,
    }
}

fn poll_policy(deadline: Instant) -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(FIRST_POLL)
        .backoff(1.5)
        .timeout(deadline.saturating_duration_since(Instant::now()))
}

fn acme_type(kind: ChallengeKind) -> ChallengeType {
    match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::Dns01 => ChallengeType::Dns01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

/// Fetches every authorization not fetched yet (those already fetched are cached).
async fn fetch_authorizations(order: &mut Order) -> Result<(), instant_acme::Error> {
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        authorization?;
    }
    Ok(())
}

/// Presents a challenge for every pending authorization, with the solver chosen for its name.
async fn present_challenges(
    order: &mut Order,
    request: &IssueRequest,
    presented: &mut Vec<(Arc<dyn Solver>, Challenge)>,
) -> Result<(), Error> {
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization =
            authorization.map_err(|e| retry::classify("fetch authorizations", e, None))?;
        let identifier = authorization.identifier();
        let name = identifier.to_string();
        let wildcard = identifier.wildcard;
        let bare = name.trim_start_matches("*.").to_string();
        match authorization.status {
            AuthorizationStatus::Valid => {
                tracing::info!(identifier = %name, "already authorized");
                continue;
            }
            AuthorizationStatus::Pending => {}
            other => {
                return Err(Error::Challenge {
                    identifier: name,
                    message: format!("the authorization is {other:?}, not pending"),
                    problem: None,
                });
            }
        }
        let solver = request
            .solvers
            .get(&name)
            .cloned()
            .ok_or_else(|| Error::Challenge {
                identifier: name.clone(),
                message: "no solver is configured for this name".into(),
                problem: None,
            })?;
        let offered: Vec<String> = authorization
            .challenges
            .iter()
            .map(|c| format!("{:?}", c.r#type))
            .collect();
        let Some(handle) = authorization.challenge(acme_type(solver.kind())) else {
            return Err(Error::Challenge {
                identifier: name,
                message: format!(
                    "the CA does not offer {} for this name (offered: {})",
                    solver.kind(),
                    offered.join(", ")
                ),
                problem: None,
            });
        };
        let key_authorization = handle.key_authorization();
        let challenge = Challenge {
            kind: solver.kind(),
            identifier: bare,
            wildcard,
            token: handle.token.clone(),
            key_authorization: key_authorization.as_str().to_string(),
            dns_value: key_authorization.dns_value(),
        };
        tracing::info!(identifier = %name, kind = %challenge.kind, solver = solver.name(), "presenting challenge");
        // Recorded before presenting, so a present that fails half-way or is cancelled is
        // still cleaned up.
        presented.push((Arc::clone(&solver), challenge.clone()));
        solver.present(&challenge).await?;
    }
    Ok(())
}

/// Tells the CA every presented challenge is ready, skipping those already answered
/// (so that a retried step does not answer twice).
async fn answer_challenges(
    order: &mut Order,
    presented: &[(Arc<dyn Solver>, Challenge)],
    answered: &mut HashSet<String>,
) -> Result<(), instant_acme::Error> {
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        if authorization.status != AuthorizationStatus::Pending {
            continue;
        }
        let name = authorization.identifier().to_string();
        let Some((solver, _)) = presented.iter().find(|(_, c)| wildcard_name(c) == name) else {
            continue;
        };
        let Some(mut handle) = authorization.challenge(acme_type(solver.kind())) else {
            continue;
        };
        if answered.contains(&handle.url) {
            continue;
        }
        handle.set_ready().await?;
        answered.insert(handle.url.clone());
    }
    Ok(())
}

fn wildcard_name(challenge: &Challenge) -> String {
    if challenge.wildcard {
        format!("*.{}", challenge.identifier)
    } else {
        challenge.identifier.clone()
    }
}

/// Finds out why an order became invalid: the first failed challenge's problem.
async fn explain_invalid(order: &mut Order) -> Option<Error> {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let name = authorization.identifier().to_string();
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        if state.status == AuthorizationStatus::Invalid {
            let problem = state
                .challenges
                .iter()
                .find_map(|c| c.error.as_ref())
                .map(|p| {
                    let kind = p
                        .r#type
                        .as_deref()
                        .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"));
                    let detail = p.detail.as_deref().unwrap_or("no detail");
                    (format!("{detail} ({})", kind.unwrap_or("error")), kind)
                });
            let detail = problem
                .as_ref()
                .map_or("the CA gave no reason", |(detail, _)| detail);
            return Some(Error::Challenge {
                identifier: name,
                message: format!("validation failed: {}", acme_core::printable(detail)),
                problem: problem.and_then(|(_, kind)| kind.map(str::to_string)),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme_error(problem: Option<&str>, retryable: bool) -> Error {
        Error::Acme {
            step: "new order",
            message: "something happened".into(),
            problem: problem.map(str::to_string),
            retryable,
            retry_after: None,
        }
    }

    #[test]
    fn a_problem_from_the_ca_on_a_replacing_order_counts_as_refusing_replaces() {
        for problem in ["alreadyReplaced", "malformed", "conflict", "serverInternal"] {
            let retryable = problem == "serverInternal";
            assert!(
                refuses_replacement(&acme_error(Some(problem), retryable)),
                "{problem}"
            );
        }
    }

    #[test]
    fn bad_nonces_and_network_failures_do_not_count_as_refusing_replaces() {
        assert!(!refuses_replacement(&acme_error(Some("badNonce"), true)));
        assert!(!refuses_replacement(&acme_error(None, true)));
        assert!(!refuses_replacement(&Error::Deadline(Duration::from_secs(
            1
        ))));
    }

    #[test]
    fn revocation_reasons_reach_the_ca_as_their_rfc_5280_codes() {
        for reason in RevocationReason::ALL {
            let sent = serde_json::to_value(acme_reason(reason)).expect("serializes");
            assert_eq!(sent, serde_json::json!(reason.code()), "{reason}");
        }
    }

    #[test]
    fn profile_defaults_to_none_and_is_read_from_config() {
        let config: AcmeConfig =
            serde_json::from_str(r#"{"directory": "letsencrypt"}"#).expect("minimal config");
        assert_eq!(config.profile, None);
        let config: AcmeConfig =
            serde_json::from_str(r#"{"directory": "letsencrypt", "profile": "shortlived"}"#)
                .expect("config with profile");
        assert_eq!(config.profile.as_deref(), Some("shortlived"));
    }

    #[test]
    fn preferred_chain_defaults_to_none_and_is_read_from_config() {
        let config: AcmeConfig =
            serde_json::from_str(r#"{"directory": "letsencrypt"}"#).expect("minimal config");
        assert_eq!(config.preferred_chain, None);
        let config: AcmeConfig = serde_json::from_str(
            r#"{"directory": "letsencrypt", "preferred_chain": "ISRG Root X1"}"#,
        )
        .expect("config with preferred_chain");
        assert_eq!(config.preferred_chain.as_deref(), Some("ISRG Root X1"));
    }

    #[test]
    fn an_empty_preferred_chain_is_rejected_with_an_example() {
        let config: AcmeConfig =
            serde_json::from_str(r#"{"directory": "letsencrypt", "preferred_chain": " "}"#)
                .expect("config");
        let dir = tempfile::tempdir().expect("temp dir");
        let err = AcmeIssuer::new("le".into(), config, dir.path())
            .err()
            .expect("an empty preferred_chain must be rejected");
        assert!(err.to_string().contains("ISRG Root X1"), "{err}");
    }
}
