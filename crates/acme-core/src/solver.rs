use std::fmt;

use async_trait::async_trait;

use crate::Error;

/// The ACME challenge types acmekeep can answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// RFC 8555 §8.3: a file served over plain HTTP on port 80.
    Http01,
    /// RFC 8555 §8.4: a TXT record at `_acme-challenge.<name>`.
    Dns01,
    /// RFC 8737: a certificate served for the `acme-tls/1` ALPN protocol on port 443.
    TlsAlpn01,
}

impl fmt::Display for ChallengeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::Dns01 => "dns-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        })
    }
}

/// One challenge to present, as the CA handed it out.
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The challenge type.
    pub kind: ChallengeKind,
    /// The DNS name being validated, without a `*.` prefix.
    pub identifier: String,
    /// Whether the order asked for the wildcard of `identifier`.
    pub wildcard: bool,
    /// The challenge token (the last path segment for HTTP-01).
    pub token: String,
    /// `token.thumbprint`: the HTTP-01 response body.
    pub key_authorization: String,
    /// The base64url SHA-256 digest of the key authorization: the DNS-01 TXT value.
    pub dns_value: String,
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key authorization proves control of the account; keep it out of logs.
        f.debug_struct("Challenge")
            .field("kind", &self.kind)
            .field("identifier", &self.identifier)
            .field("wildcard", &self.wildcard)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Proves control of a name to an ACME CA by answering one challenge type.
///
/// `cleanup` is always called once `present` has been called, whether `present` succeeded,
/// failed half-way or was cancelled, and whether validation succeeded or not. It must
/// remove only what this challenge created, and succeed when there is nothing to remove.
#[async_trait]
pub trait Solver: Send + Sync {
    /// The configured name of this solver, for messages.
    fn name(&self) -> &str;

    /// The challenge type this solver answers.
    fn kind(&self) -> ChallengeKind;

    /// Makes the challenge response available to the CA.
    async fn present(&self, challenge: &Challenge) -> Result<(), Error>;

    /// Removes what `present` made available.
    async fn cleanup(&self, challenge: &Challenge) -> Result<(), Error>;
}
