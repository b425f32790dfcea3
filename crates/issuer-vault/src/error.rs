use std::time::Duration;

/// Everything that can go wrong configuring the Vault issuer or signing through Vault.
///
/// No variant ever carries a token, a secret id or a JWT: credentials are named by the
/// configuration key and reference they came from. Vault's own `errors` are shown as it
/// sent them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent; the message names the keys to change.
    #[error("vault issuer configuration: {0}")]
    Config(String),
    /// A credential reference (`env:NAME`, `file:/path`) could not be read.
    #[error("`{key}`: {source}")]
    Credential {
        /// The configuration key, e.g. `token` or `approle.secret_id`.
        key: &'static str,
        /// What acme-core reported (naming the reference, never the value).
        source: acme_core::Error,
    },
    /// The HTTP client could not be set up (e.g. an unreadable `ca_bundle`).
    #[error("HTTP client: {0}")]
    Client(String),
    /// Vault could not be reached or did not answer in time.
    #[error("cannot reach Vault at {url}: {reason}")]
    Network {
        /// The request URL.
        url: String,
        /// The transport error and its causes.
        reason: String,
    },
    /// Vault answered with something that is not what its API documents.
    #[error("unexpected answer from {url} (HTTP {status}): {reason}")]
    Response {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// Vault refused the token itself (unknown, expired or revoked).
    #[error(
        "Vault refused the token from {source_desc} (HTTP 403: {errors}): it is unknown, \
         expired or revoked; give a valid token"
    )]
    TokenRefused {
        /// Where the token came from, e.g. `token = file:/run/secrets/vault-token`.
        source_desc: String,
        /// Vault's `errors`.
        errors: String,
    },
    /// The token is valid but its policies do not allow signing at the path.
    #[error(
        "the Vault token from {source_desc} may not sign at {path} (HTTP 403: {errors}); \
         its policy needs `path \"{path}\" {{ capabilities = [\"create\", \"update\"] }}`"
    )]
    PermissionDenied {
        /// Where the token came from.
        source_desc: String,
        /// The signing path.
        path: String,
        /// Vault's `errors`.
        errors: String,
    },
    /// Logging in (AppRole, Kubernetes) failed.
    #[error("{method} login at {path} failed (HTTP {status}: {errors}); {hint}")]
    Login {
        /// The method, `AppRole` or `Kubernetes`.
        method: &'static str,
        /// The login path, e.g. `auth/approle/login`.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Vault's `errors`.
        errors: String,
        /// What to check.
        hint: &'static str,
    },
    /// The role does not allow some of the requested names.
    #[error(
        "{role} does not allow {names:?} (Vault: {errors}); add them to the role's \
         allowed_domains (with allow_subdomains, allow_bare_domains or \
         allow_wildcard_certificates as needed) or request names the role allows"
    )]
    NameNotAllowed {
        /// The role and its mount, as in `role "web" of PKI mount pki`.
        role: String,
        /// The names Vault named, or every requested name when it named none.
        names: Vec<String>,
        /// Vault's `errors`.
        errors: String,
    },
    /// The requested validity cannot be granted.
    #[error(
        "{role} refused the validity {} (Vault: {errors}); lower `ttl` in the issuer \
         configuration, or raise the role's max_ttl or renew the CA so it outlives the \
         certificate", ttl.map(|t| format!("ttl = {:?}", humantime::format_duration(t).to_string())).unwrap_or_else(|| "of the role's default ttl".into())
    )]
    TtlRejected {
        /// The role and its mount.
        role: String,
        /// The configured `ttl`, if any.
        ttl: Option<Duration>,
        /// Vault's `errors`.
        errors: String,
    },
    /// Vault rejected the request for another reason.
    #[error("POST {path}: HTTP {status}: {errors}{hint}")]
    Api {
        /// The request path below `/v1/`.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Vault's `errors`, or the body.
        errors: String,
        /// What to check, when the answer suggests it (empty otherwise).
        hint: &'static str,
    },
    /// The certificate Vault returned cannot be used.
    #[error("certificate returned by Vault: {0}")]
    Certificate(acme_core::Error),
}

impl Error {
    /// What kind of failure this is: a refused token, login or policy is
    /// [`acme_core::FailureKind::Unauthorized`], an unreachable Vault
    /// [`acme_core::FailureKind::Connection`], a refused request [`acme_core::FailureKind::Issuer`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config(_) | Error::Credential { .. } => FailureKind::Config,
            Error::Client(_) => FailureKind::Internal,
            Error::Network { .. } => FailureKind::Connection,
            Error::TokenRefused { .. } | Error::PermissionDenied { .. } | Error::Login { .. } => {
                FailureKind::Unauthorized
            }
            Error::Response { .. }
            | Error::NameNotAllowed { .. }
            | Error::TtlRejected { .. }
            | Error::Api { .. }
            | Error::Certificate(_) => FailureKind::Issuer,
        }
    }
}
