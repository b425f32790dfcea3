//! The ACME (RFC 8555) issuer on top of instant-acme.

mod account;
mod directory;
mod http;
pub(crate) mod retry;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, Order, OrderStatus,
    RetryPolicy,
};
use serde::Deserialize;
use tokio::sync::Mutex;

pub use account::EabConfig;
pub use directory::{DIRECTORY_ALIASES, resolve_directory};
use retry::retrying;

use crate::{Challenge, ChallengeKind, Error, IssueRequest, IssuedChain, Issuer, Solver};

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
    /// The deadline for one whole issuance, from new order to downloaded chain.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::duration::deserialize"
    )]
    pub timeout: Duration,
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
        let directory = resolve_directory(&config.directory).map_err(|message| Error::Acme {
            step: "configuration",
            message,
            problem: None,
            retryable: false,
            retry_after: None,
        })?;
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

    async fn account(&self, fresh: bool) -> Result<Account, Error> {
        let mut slot = self.account.lock().await;
        if let (Some(account), false) = (slot.as_ref(), fresh) {
            return Ok(account.clone());
        }
        let account = self.store.load_or_create(&self.http, fresh).await?;
        *slot = Some(account.clone());
        Ok(account)
    }

    async fn new_order(&self, request: &IssueRequest) -> Result<(Account, Order), Error> {
        let identifiers: Vec<Identifier> = request
            .names
            .iter()
            .map(|n| Identifier::Dns(n.clone()))
            .collect();
        let mut account = self.account(false).await?;
        let mut fresh = false;
        loop {
            match retrying!("new order", account.new_order(&NewOrder::new(&identifiers))) {
                Ok(order) => return Ok((account, order)),
                Err(err) if err.acme_problem() == Some("accountDoesNotExist") && !fresh => {
                    tracing::warn!("the CA does not know the stored account; registering anew");
                    account = self.account(true).await?;
                    fresh = true;
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
        let (_account, mut order) = self.new_order(request).await?;
        tracing::info!(order = order.url(), "order created");

        retrying!("fetch authorizations", fetch_authorizations(&mut order))?;
        present_challenges(&mut order, request, presented).await?;

        let mut answered = HashSet::new();
        retrying!(
            "answer challenges",
            answer_challenges(&mut order, presented, &mut answered)
        )?;

        match retrying!(
            "wait for validation",
            order.poll_ready(&poll_policy(deadline))
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
            order.poll_certificate(&poll_policy(deadline))
        )?;
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
        match outcome {
            // A step that kept failing for transient reasons: say which CA it was.
            Err(Error::Acme {
                step,
                message,
                problem,
                retryable: true,
                retry_after,
            }) => Err(Error::Acme {
                step,
                message: format!("{message} (directory {})", self.store.directory),
                problem,
                retryable: true,
                retry_after,
            }),
            other => other,
        }
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
            authorization.map_err(|e| retry::classify("fetch authorizations", e))?;
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
        solver.present(&challenge).await?;
        presented.push((solver, challenge));
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
            let detail = state
                .challenges
                .iter()
                .filter_map(|c| c.error.as_ref())
                .map(|p| {
                    let kind = p
                        .r#type
                        .as_deref()
                        .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"))
                        .unwrap_or("error");
                    format!("{} ({kind})", p.detail.as_deref().unwrap_or("no detail"))
                })
                .next()
                .unwrap_or_else(|| "the CA gave no reason".into());
            return Some(Error::Challenge {
                identifier: name,
                message: format!("validation failed: {detail}"),
            });
        }
    }
    None
}
