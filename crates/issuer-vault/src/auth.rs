//! Vault tokens: a fixed one read from its reference at each use, or one obtained by logging
//! in, cached, renewed past two thirds of its TTL and replaced by a new login when it cannot
//! be renewed.

use std::time::{Duration, Instant};

use acme_core::Secret;
use serde_json::json;
use tokio::sync::Mutex;

use crate::Error;
use crate::client::{Client, TokenGrant};
use crate::config::{AppRoleConfig, AuthMethod, KubernetesAuthConfig, shown};

/// A token obtained by logging in, and what Vault said about its lifetime.
pub(crate) struct Lease {
    token: Secret,
    /// When it was obtained or last renewed.
    since: Instant,
    /// Its TTL at `since`; zero for a token that does not expire.
    ttl: Duration,
    /// Its TTL right after the login, to notice renewals that hit the maximum TTL.
    login_ttl: Duration,
    renewable: bool,
}

impl Lease {
    /// The lease of a token Vault granted at `path` (login or renew-self).
    fn from_grant(
        grant: TokenGrant,
        login_ttl: Option<Duration>,
        path: &str,
    ) -> Result<Lease, Error> {
        // acme-core builds a `Secret` only through `resolve`, which takes anything but an
        // `env:`/`file:` reference literally; Vault tokens (`hvs.…`, `s.…`) never look like one.
        let unexpected = || Error::Response {
            url: path.to_string(),
            status: 200,
            reason: "the granted client token has an unexpected form".into(),
        };
        if Secret::is_reference(&grant.client_token) {
            return Err(unexpected());
        }
        let token = Secret::resolve(&grant.client_token).map_err(|_| unexpected())?;
        let ttl = Duration::from_secs(grant.lease_duration);
        Ok(Lease {
            token,
            since: Instant::now(),
            ttl,
            login_ttl: login_ttl.unwrap_or(ttl),
            renewable: grant.renewable,
        })
    }

    /// Used as it is until two thirds of its TTL have passed.
    fn is_fresh(&self) -> bool {
        self.ttl.is_zero() || self.since.elapsed() < self.ttl * 2 / 3
    }

    /// Can still be renewed: renewable, and more than a second left.
    fn can_renew(&self) -> bool {
        self.renewable && self.since.elapsed() + Duration::from_secs(1) < self.ttl
    }
}

/// Where the issuer's Vault token comes from.
pub(crate) enum Credentials {
    /// A fixed token: its reference, resolved at each use.
    Fixed { reference: String },
    /// A token obtained by logging in, cached.
    Login {
        method: LoginMethod,
        lease: Mutex<Option<Lease>>,
    },
}

/// How to log in.
pub(crate) enum LoginMethod {
    AppRole(AppRoleConfig),
    Kubernetes(KubernetesAuthConfig),
}

impl Credentials {
    /// Credentials for `method`; every reference is read once now, so a missing
    /// environment variable or file is reported at start-up.
    pub(crate) fn new(method: AuthMethod) -> Result<Credentials, Error> {
        let login = |method| Credentials::Login {
            method,
            lease: Mutex::new(None),
        };
        Ok(match method {
            AuthMethod::Token { reference } => {
                read("token", &reference)?;
                Credentials::Fixed { reference }
            }
            AuthMethod::AppRole(approle) => {
                read("approle.role_id", &approle.role_id)?;
                read("approle.secret_id", &approle.secret_id)?;
                login(LoginMethod::AppRole(approle))
            }
            // The service-account token may be mounted after start-up; it is read at login.
            AuthMethod::Kubernetes(kubernetes) => login(LoginMethod::Kubernetes(kubernetes)),
        })
    }

    /// Where the token comes from, for messages: `token = file:/…`, or the login path.
    pub(crate) fn describe(&self) -> String {
        match self {
            Credentials::Fixed { reference } => format!("`token` = {}", shown(reference)),
            Credentials::Login {
                method: LoginMethod::AppRole(approle),
                ..
            } => format!("the AppRole login at auth/{}/login", approle.mount),
            Credentials::Login {
                method: LoginMethod::Kubernetes(kubernetes),
                ..
            } => format!("the Kubernetes login at auth/{}/login", kubernetes.mount),
        }
    }

    /// Whether the token comes from a login (and can be replaced by logging in again).
    pub(crate) fn logs_in(&self) -> bool {
        matches!(self, Credentials::Login { .. })
    }

    /// Forgets a cached login token (Vault refused it), so the next use logs in again.
    pub(crate) async fn forget(&self) {
        if let Credentials::Login { lease, .. } = self {
            *lease.lock().await = None;
        }
    }

    /// The token to use now: the fixed one, the cached one, a renewed one, or a new login.
    pub(crate) async fn token(&self, client: &Client) -> Result<Secret, Error> {
        let (method, lease) = match self {
            Credentials::Fixed { reference } => return read("token", reference),
            Credentials::Login { method, lease } => (method, lease),
        };
        let mut lease = lease.lock().await;
        if let Some(current) = lease.as_mut() {
            if current.is_fresh() {
                return Ok(current.token.clone());
            }
            if current.can_renew() {
                match client.renew_self(&current.token).await {
                    // Renewed for at least a third of the login TTL: keep using it. A shorter
                    // TTL means the token approaches its maximum TTL: log in instead.
                    Ok(Ok(grant)) if grant.lease_duration * 3 >= current.login_ttl.as_secs() => {
                        let renewed = Lease::from_grant(
                            grant,
                            Some(current.login_ttl),
                            "auth/token/renew-self",
                        )?;
                        tracing::debug!(
                            ttl = %humantime::format_duration(renewed.ttl),
                            "renewed the Vault token"
                        );
                        *current = renewed;
                        return Ok(current.token.clone());
                    }
                    Ok(Ok(_)) => {
                        tracing::debug!("the Vault token nears its maximum TTL; logging in again")
                    }
                    Ok(Err(failure)) => tracing::debug!(
                        status = failure.status,
                        errors = %failure.errors,
                        "renewing the Vault token failed; logging in again"
                    ),
                    Err(err) => return Err(err),
                }
            }
        }
        let fresh = login(method, client).await?;
        let token = fresh.token.clone();
        *lease = Some(fresh);
        Ok(token)
    }
}

/// Logs in with `method` and returns the granted token.
async fn login(method: &LoginMethod, client: &Client) -> Result<Lease, Error> {
    let (name, mount, body, hint) = match method {
        LoginMethod::AppRole(approle) => (
            "AppRole",
            &approle.mount,
            json!({
                "role_id": read("approle.role_id", &approle.role_id)?.expose(),
                "secret_id": read("approle.secret_id", &approle.secret_id)?.expose(),
            }),
            "check approle.role_id, approle.secret_id (a secret id can expire or run out \
             of uses) and approle.mount",
        ),
        LoginMethod::Kubernetes(kubernetes) => (
            "Kubernetes",
            &kubernetes.mount,
            json!({
                "role": kubernetes.role,
                "jwt": read("kubernetes.jwt", &kubernetes.jwt)?.expose(),
            }),
            "check kubernetes.role (bound to this service account and namespace), \
             kubernetes.jwt and kubernetes.mount",
        ),
    };
    let path = format!("auth/{mount}/login");
    match client.login(&path, &body).await? {
        Ok(grant) => {
            let lease = Lease::from_grant(grant, None, &path)?;
            tracing::debug!(
                method = name,
                ttl = %humantime::format_duration(lease.ttl),
                renewable = lease.renewable,
                "logged in to Vault"
            );
            Ok(lease)
        }
        Err(failure) => Err(Error::Login {
            method: name,
            path,
            status: failure.status,
            errors: failure.errors,
            hint,
        }),
    }
}

/// Resolves the credential reference of configuration key `key`.
fn read(key: &'static str, reference: &str) -> Result<Secret, Error> {
    Secret::resolve(reference).map_err(|source| Error::Credential { key, source })
}
