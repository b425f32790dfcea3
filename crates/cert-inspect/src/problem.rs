use serde::Serialize;

/// What kind of problem was found; serialized in `snake_case` (`"missing_intermediate"`),
/// the stable name monitoring can match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The leaf or a certificate of its chain is past its not-after.
    Expired,
    /// The leaf is not valid yet (or the local clock is wrong).
    NotYetValid,
    /// The chain stops at a certificate whose issuer was neither sent nor trusted.
    MissingIntermediate,
    /// The chain ends at a self-signed root that is not among the trust anchors.
    UntrustedRoot,
    /// The chain is unusable for another reason (bad signature, wrong key usage, …).
    InvalidChain,
    /// The name clients use is not among the certificate's names.
    NameNotCovered,
    /// The stored private key is not the certificate's key.
    KeyMismatch,
    /// The stored private key cannot be read.
    KeyUnreadable,
    /// A live endpoint serves another certificate than the one stored.
    ServesAnotherCertificate,
}

/// One thing found wrong, with a message for people that names what to check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The kind, for machines.
    pub kind: ProblemKind,
    /// The explanation, for people.
    pub message: String,
}

impl Problem {
    /// A problem of `kind` explained by `message`.
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: message.into(),
        }
    }
}
