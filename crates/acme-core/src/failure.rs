use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// What kind of failure an [`Error`] is, for the operator: decided where the error is made,
/// stored with a failed attempt and read back by `diagnose`, so nothing has to search an
/// error's text to say what went wrong.
///
/// The string form ([`FailureKind::as_str`], also the serde form) is stable: it is written to
/// state records and JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The CA's rate limit (ACME `rateLimited`).
    RateLimited,
    /// The CA refused the account, or an issuer or DNS provider refused the credentials.
    Unauthorized,
    /// A DNS provider failed, or a DNS lookup (ours or the CA's) failed.
    Dns,
    /// The challenge TXT value was not served by every authoritative server in time.
    Propagation,
    /// A connection failed: the CA, an issuer or an API could not be reached, TLS failed, a
    /// request timed out, or the CA could not connect to the name (ACME `connection`).
    Connection,
    /// A CAA record forbids the CA to issue for the name (ACME `caa`).
    Caa,
    /// The CA reached the name but the challenge answer was wrong (ACME `unauthorized`,
    /// `incorrectResponse`, `tls` on a challenge), or the challenge could not be started.
    Validation,
    /// A sink could not store or load the certificate.
    Sink,
    /// A hook command failed.
    Hook,
    /// The configuration (or a secret it names) is wrong.
    Config,
    /// The CA or issuer refused the request for another reason.
    Issuer,
    /// Something on this machine failed (keys, files), or nothing more specific fits.
    Internal,
}

impl FailureKind {
    /// The stable lowercase name, e.g. `rate-limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::RateLimited => "rate-limited",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::Dns => "dns",
            FailureKind::Propagation => "propagation",
            FailureKind::Connection => "connection",
            FailureKind::Caa => "caa",
            FailureKind::Validation => "validation",
            FailureKind::Sink => "sink",
            FailureKind::Hook => "hook",
            FailureKind::Config => "config",
            FailureKind::Issuer => "issuer",
            FailureKind::Internal => "internal",
        }
    }

    /// The kind of an ACME problem type (without the `urn:ietf:params:acme:error:` prefix)
    /// that the CA returned for a request of the protocol itself (account, order, finalize).
    pub fn of_acme_problem(problem: &str) -> FailureKind {
        match problem {
            "rateLimited" => FailureKind::RateLimited,
            "accountDoesNotExist"
            | "unauthorized"
            | "externalAccountRequired"
            | "userActionRequired"
            | "invalidContact"
            | "unsupportedContact" => FailureKind::Unauthorized,
            "caa" => FailureKind::Caa,
            "dns" => FailureKind::Dns,
            "connection" => FailureKind::Connection,
            "incorrectResponse" | "tls" => FailureKind::Validation,
            _ => FailureKind::Issuer,
        }
    }

    /// The kind of an ACME problem type the CA reported for a challenge: there
    /// `unauthorized` means the answer was wrong, not that the account was refused.
    pub fn of_challenge_problem(problem: &str) -> FailureKind {
        match problem {
            "unauthorized" => FailureKind::Validation,
            other => match FailureKind::of_acme_problem(other) {
                FailureKind::Issuer => FailureKind::Validation,
                kind => kind,
            },
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// What kind of failure this is (see [`FailureKind`]).
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::Key(_) | Error::Csr(_) | Error::Io { .. } | Error::Cancelled => {
                FailureKind::Internal
            }
            Error::Certificate(_) | Error::Pending { .. } => FailureKind::Issuer,
            Error::Secret { .. } => FailureKind::Config,
            Error::Acme {
                problem: Some(problem),
                ..
            } => FailureKind::of_acme_problem(problem),
            // The engine names this step when the issuer's settings are unusable.
            Error::Acme {
                step: "configuration",
                ..
            } => FailureKind::Config,
            Error::Acme { retryable, .. } => {
                if *retryable {
                    FailureKind::Connection
                } else {
                    FailureKind::Issuer
                }
            }
            Error::Challenge {
                problem: Some(problem),
                ..
            } => FailureKind::of_challenge_problem(problem),
            Error::Challenge { problem: None, .. } => FailureKind::Validation,
            Error::Deadline(_) => FailureKind::Connection,
            Error::Sink { .. } => FailureKind::Sink,
            Error::Solver { kind, .. } | Error::Dns { kind, .. } | Error::Issuer { kind, .. } => {
                *kind
            }
        }
    }
}

/// An error and all its causes on one line, `outer: inner: innermost`, so that a cause such
/// as "connection refused" is seen; a cause whose text the line already holds is left out.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme(problem: &str) -> Error {
        Error::Acme {
            step: "new order",
            message: "refused".into(),
            problem: Some(problem.into()),
            retryable: false,
            retry_after: None,
        }
    }

    fn challenge(problem: &str) -> Error {
        Error::Challenge {
            identifier: "www.example.com".into(),
            message: "validation failed".into(),
            problem: Some(problem.into()),
        }
    }

    #[test]
    fn every_acme_problem_type_has_its_kind() {
        let cases = [
            (
                "rateLimited",
                FailureKind::RateLimited,
                FailureKind::RateLimited,
            ),
            (
                "accountDoesNotExist",
                FailureKind::Unauthorized,
                FailureKind::Unauthorized,
            ),
            (
                "unauthorized",
                FailureKind::Unauthorized,
                FailureKind::Validation,
            ),
            (
                "externalAccountRequired",
                FailureKind::Unauthorized,
                FailureKind::Unauthorized,
            ),
            (
                "userActionRequired",
                FailureKind::Unauthorized,
                FailureKind::Unauthorized,
            ),
            (
                "invalidContact",
                FailureKind::Unauthorized,
                FailureKind::Unauthorized,
            ),
            (
                "unsupportedContact",
                FailureKind::Unauthorized,
                FailureKind::Unauthorized,
            ),
            ("caa", FailureKind::Caa, FailureKind::Caa),
            ("dns", FailureKind::Dns, FailureKind::Dns),
            (
                "connection",
                FailureKind::Connection,
                FailureKind::Connection,
            ),
            (
                "incorrectResponse",
                FailureKind::Validation,
                FailureKind::Validation,
            ),
            ("tls", FailureKind::Validation, FailureKind::Validation),
            ("badNonce", FailureKind::Issuer, FailureKind::Validation),
            (
                "serverInternal",
                FailureKind::Issuer,
                FailureKind::Validation,
            ),
            (
                "rejectedIdentifier",
                FailureKind::Issuer,
                FailureKind::Validation,
            ),
            ("badCSR", FailureKind::Issuer, FailureKind::Validation),
            ("malformed", FailureKind::Issuer, FailureKind::Validation),
            (
                "orderNotReady",
                FailureKind::Issuer,
                FailureKind::Validation,
            ),
            (
                "unknown problem",
                FailureKind::Issuer,
                FailureKind::Validation,
            ),
        ];
        for (problem, on_request, on_challenge) in cases {
            assert_eq!(acme(problem).kind(), on_request, "{problem} on a request");
            assert_eq!(
                challenge(problem).kind(),
                on_challenge,
                "{problem} on a challenge"
            );
        }
    }

    #[test]
    fn errors_without_a_problem_type_get_their_kind_from_the_variant() {
        let unreachable = Error::Acme {
            step: "new order",
            message: "cannot reach the CA: connection refused".into(),
            problem: None,
            retryable: true,
            retry_after: None,
        };
        assert_eq!(unreachable.kind(), FailureKind::Connection);
        let misconfigured = Error::Acme {
            step: "configuration",
            message: "not a URL".into(),
            problem: None,
            retryable: false,
            retry_after: None,
        };
        assert_eq!(misconfigured.kind(), FailureKind::Config);
        let secret = Error::Secret {
            reference: "env:TOKEN".into(),
            reason: "not set".into(),
        };
        assert_eq!(secret.kind(), FailureKind::Config);
        let sink = Error::Sink {
            sink: "files /etc/tls".into(),
            source: "disk full".into(),
        };
        assert_eq!(sink.kind(), FailureKind::Sink);
        let provider = Error::Dns {
            provider: "rfc2136".into(),
            kind: FailureKind::Unauthorized,
            source: "NOTAUTH".into(),
        };
        assert_eq!(provider.kind(), FailureKind::Unauthorized);
    }

    #[test]
    fn the_string_form_is_the_serde_form() {
        for kind in [
            FailureKind::RateLimited,
            FailureKind::Unauthorized,
            FailureKind::Dns,
            FailureKind::Propagation,
            FailureKind::Connection,
            FailureKind::Caa,
            FailureKind::Validation,
            FailureKind::Sink,
            FailureKind::Hook,
            FailureKind::Config,
            FailureKind::Issuer,
            FailureKind::Internal,
        ] {
            let json = serde_json::to_string(&kind).expect("serializes");
            assert_eq!(json, format!("\"{kind}\""));
            let back: FailureKind = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn the_chain_shows_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("sending the request")]
        struct Outer(#[source] std::io::Error);
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(error_chain(&Outer(refused)), "sending the request: refused");

        #[derive(Debug, thiserror::Error)]
        #[error("sending the request: refused")]
        struct Repeating(#[source] std::io::Error);
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            error_chain(&Repeating(refused)),
            "sending the request: refused"
        );
    }
}
