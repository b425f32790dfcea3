use std::path::PathBuf;

/// Everything that can go wrong setting up the local CA or signing with it.
///
/// No variant ever carries key material: keys are named by their reference
/// (`file:/path`, `env:NAME`, or "inline").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is inconsistent; the message names the keys to change.
    #[error("ca issuer configuration: {0}")]
    Config(String),
    /// A `generate = true` CA that has not been created yet; only `acmekeep run` and
    /// `acmekeep --issue` create it.
    #[error(
        "the generated CA in {} is not created yet: `acmekeep run` or `acmekeep --issue` creates it",
        dir.display()
    )]
    NotCreated {
        /// The directory it will be created in.
        dir: PathBuf,
    },
    /// The CA certificate file could not be read.
    #[error("reading CA certificate {}: {source}", path.display())]
    ReadCertificate {
        /// The configured or generated certificate file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The CA certificate cannot be used to issue certificates.
    #[error("CA certificate {}: {reason}", path.display())]
    CaCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it (not a CA, expired, unparsable).
        reason: String,
    },
    /// The CA private key cannot be used.
    #[error("CA private key {reference}: {reason}")]
    CaKey {
        /// Where the key came from (`file:/path`, `env:NAME`, `inline`), never the key.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CA private key is not the key of the CA certificate.
    #[error(
        "CA private key {reference} does not belong to the certificate {}: \
         check that `cert` and `key` come from the same CA",
        cert.display()
    )]
    KeyMismatch {
        /// Where the key came from, never the key.
        reference: String,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The certificate signing request is malformed, badly signed, or asks for something
    /// this issuer does not sign.
    #[error("certificate signing request for {cert_name}: {reason}")]
    Csr {
        /// The configured certificate name.
        cert_name: String,
        /// What is wrong with the request.
        reason: String,
    },
    /// The names in the signing request differ from the names requested.
    #[error(
        "certificate signing request for {cert_name} carries the names {csr:?}, \
         but the certificate is configured for {requested:?}"
    )]
    NamesMismatch {
        /// The configured certificate name.
        cert_name: String,
        /// The names inside the CSR.
        csr: Vec<String>,
        /// The names the certificate is configured for.
        requested: Vec<String>,
    },
    /// Building or signing a certificate failed.
    #[error("signing {what}: {source}")]
    Sign {
        /// What was being signed (the CA itself, or a certificate by name).
        what: String,
        /// The underlying error.
        source: rcgen::Error,
    },
    /// A helper from acme-core failed (writing the generated CA, resolving the key reference).
    #[error(transparent)]
    Core(#[from] acme_core::Error),
}

impl Error {
    /// What kind of failure this is: a CA that cannot be read or created is
    /// [`acme_core::FailureKind::Config`], a request it refuses [`acme_core::FailureKind::Issuer`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config(_)
            | Error::NotCreated { .. }
            | Error::ReadCertificate { .. }
            | Error::CaCertificate { .. }
            | Error::CaKey { .. }
            | Error::KeyMismatch { .. } => FailureKind::Config,
            Error::NamesMismatch { .. } => FailureKind::Issuer,
            Error::Csr { .. } | Error::Sign { .. } => FailureKind::Internal,
            Error::Core(err) => err.kind(),
        }
    }
}
