use std::path::PathBuf;

use crate::FailureKind;

/// A boxed error from a component (a sink, a solver, an issuer) that acme-core wraps.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the certificate lifecycle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Generating or parsing a private key failed.
    #[error("private key: {0}")]
    Key(String),
    /// Building a certificate signing request failed.
    #[error("certificate signing request: {0}")]
    Csr(String),
    /// A certificate or chain could not be parsed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A secret reference (`env:NAME`, `file:/path`) could not be resolved.
    #[error("secret {reference}: {reason}")]
    Secret {
        /// The reference as written in the configuration (never the secret itself).
        reference: String,
        /// Why it could not be read.
        reason: String,
    },
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The ACME server answered with a problem document or the exchange failed.
    #[error("ACME {step}: {message}")]
    Acme {
        /// The protocol step that failed (e.g. "new order", "finalize"; "configuration" when
        /// the issuer's settings are unusable).
        step: &'static str,
        /// What went wrong, including the server's problem detail.
        message: String,
        /// The problem type the CA named, without the `urn:ietf:params:acme:error:` prefix.
        problem: Option<String>,
        /// Whether trying the same step again may succeed (badNonce, 5xx, network).
        retryable: bool,
        /// When the CA asked us to come back, if it said so (Retry-After, rateLimited).
        retry_after: Option<std::time::SystemTime>,
    },
    /// A challenge could not be completed.
    #[error("challenge for {identifier}: {message}")]
    Challenge {
        /// The name being validated.
        identifier: String,
        /// What the CA or the solver reported.
        message: String,
        /// The problem type the CA named for the challenge, without the
        /// `urn:ietf:params:acme:error:` prefix.
        problem: Option<String>,
    },
    /// The issuance was abandoned because acmekeep is stopping.
    #[error("abandoned because acmekeep is stopping")]
    Cancelled,
    /// The whole issuance ran past its deadline.
    #[error("issuance did not finish within {0:?}")]
    Deadline(std::time::Duration),
    /// A solver failed to present or clean up a challenge.
    #[error("solver {solver}: {source}")]
    Solver {
        /// The solver's configured name.
        solver: String,
        /// What kind of failure the solver's error is.
        kind: FailureKind,
        /// The solver's own error.
        source: BoxError,
    },
    /// A DNS provider failed to add or remove a TXT record.
    #[error("DNS provider {provider}: {source}")]
    Dns {
        /// The provider kind (`rfc2136`, `route53`, …).
        provider: String,
        /// What kind of failure the provider's error is: [`FailureKind::Dns`], or
        /// [`FailureKind::Unauthorized`] when the credentials were refused.
        kind: FailureKind,
        /// The provider's own error, naming the zone or record.
        source: BoxError,
    },
    /// A sink failed to store or load a certificate.
    #[error("sink {sink}: {source}")]
    Sink {
        /// A description of the sink (kind and location).
        sink: String,
        /// The sink's own error.
        source: BoxError,
    },
    /// The issuer accepted the request but has not issued yet (e.g. waiting for an approval);
    /// asking again later with the same key picks the request up.
    #[error("issuer {issuer}: pending: {message}")]
    Pending {
        /// The issuer's configured name.
        issuer: String,
        /// What the request waits for, as the issuer said it.
        message: String,
        /// When to ask again, if the issuer said.
        retry_after: Option<std::time::SystemTime>,
    },
    /// A non-ACME issuer failed.
    #[error("issuer {issuer}: {source}")]
    Issuer {
        /// The issuer's configured name.
        issuer: String,
        /// What kind of failure the issuer's error is.
        kind: FailureKind,
        /// The issuer's own error.
        source: BoxError,
    },
}

impl Error {
    /// Whether repeating the failed operation soon may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Acme {
                retryable: true,
                ..
            }
        )
    }

    /// The ACME problem type behind this error (e.g. `rateLimited`), if there is one.
    pub fn acme_problem(&self) -> Option<&str> {
        match self {
            Error::Acme { problem, .. } => problem.as_deref(),
            _ => None,
        }
    }

    /// The ACME problem type the CA named for a failed challenge (e.g. `incorrectResponse`),
    /// if this is one.
    pub fn challenge_problem(&self) -> Option<&str> {
        match self {
            Error::Challenge { problem, .. } => problem.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
