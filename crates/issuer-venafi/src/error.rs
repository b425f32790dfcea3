/// Everything that can go wrong configuring the Venafi issuer or talking to TPP.
///
/// No variant carries a token or password: credentials are named by their configuration key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent; the message names the keys to change.
    #[error("venafi issuer configuration: {0}")]
    Config(String),
    /// A credential reference (`env:NAME`, `file:/path`) could not be resolved.
    #[error("{key}: {source}")]
    Secret {
        /// The configuration key (`access_token`, `refresh_token`, `password`).
        key: &'static str,
        /// Why it could not be read (names the reference, never the value).
        source: acme_core::Error,
    },
    /// The HTTP client could not be set up (e.g. an unusable `ca_bundle`).
    #[error("HTTP client: {0}")]
    Client(String),
    /// TPP could not be reached or did not answer.
    #[error("cannot reach TPP at {url}: {reason}")]
    Network {
        /// The request URL.
        url: String,
        /// The transport error and its causes.
        reason: String,
    },
    /// TPP's token service refused to issue or renew a token.
    #[error("TPP refused to {action} (HTTP {status}: {detail}): {hint}")]
    Login {
        /// What was asked for, e.g. `log in as svc-acme` or `refresh the access token`.
        action: String,
        /// The HTTP status.
        status: u16,
        /// TPP's `error` and `error_description`.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
    /// TPP refused the bearer token for a certificate call.
    #[error("TPP refused the access token in zone {zone} (HTTP {status}: {detail}): {hint}")]
    Unauthorized {
        /// The policy DN.
        zone: String,
        /// The HTTP status (401 or 403).
        status: u16,
        /// What TPP said.
        detail: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// TPP refused the certificate request (policy violation, unknown zone, bad custom field).
    #[error("TPP refused the request for {cert_name} in zone {zone} (HTTP {status}): {message}")]
    Rejected {
        /// The configured certificate name (the TPP object name).
        cert_name: String,
        /// The policy DN.
        zone: String,
        /// The HTTP status.
        status: u16,
        /// TPP's `Error` text, e.g. the policy rule that was violated.
        message: String,
    },
    /// TPP accepted the request but failed to issue (CA error, rejected approval).
    #[error("TPP could not issue {dn} (HTTP {status}): {message}")]
    Failed {
        /// The certificate's DN in TPP.
        dn: String,
        /// The HTTP status.
        status: u16,
        /// TPP's status text or error, with the stage where it stopped.
        message: String,
    },
    /// TPP answered with something that is not a usable certificate.
    #[error("TPP returned an unusable certificate for {dn}: {reason}")]
    Certificate {
        /// The certificate's DN in TPP.
        dn: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The certificate signing request handed to the issuer is unusable.
    #[error("certificate signing request for {cert_name}: {reason}")]
    Csr {
        /// The configured certificate name.
        cert_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A helper from acme-core failed (writing the pending-request record).
    #[error(transparent)]
    Core(#[from] acme_core::Error),
}

impl Error {
    /// Whether the same attempt may succeed later without a configuration change
    /// (TPP unreachable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Network { .. })
    }

    /// What kind of failure this is: a refused login or token is
    /// [`acme_core::FailureKind::Unauthorized`], an unreachable TPP
    /// [`acme_core::FailureKind::Connection`], a refused request [`acme_core::FailureKind::Issuer`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config(_) | Error::Secret { .. } => FailureKind::Config,
            Error::Client(_) | Error::Csr { .. } => FailureKind::Internal,
            Error::Network { .. } => FailureKind::Connection,
            Error::Login { .. } | Error::Unauthorized { .. } => FailureKind::Unauthorized,
            Error::Rejected { .. } | Error::Failed { .. } | Error::Certificate { .. } => {
                FailureKind::Issuer
            }
            Error::Core(err) => err.kind(),
        }
    }
}
