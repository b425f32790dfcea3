use std::net::SocketAddr;

/// Everything that can go wrong configuring or sending an RFC 2136 update.
///
/// Messages name the server, zone, record and key name; never the TSIG secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `tsig_secret` could not be resolved (`env:`/`file:` reference).
    #[error("tsig_secret: {0}")]
    Secret(#[source] acme_core::Error),
    /// The resolved secret is not base64, the form `tsig-keygen` prints.
    #[error(
        "tsig_secret for key {key:?} is not valid base64: paste the secret \"...\" that tsig-keygen printed"
    )]
    SecretNotBase64 {
        /// The key name the secret belongs to.
        key: String,
    },
    /// A configuration key has an unusable value (e.g. `tsig_key` is not a valid DNS name).
    #[error("{key} {value:?} {reason}")]
    Config {
        /// The configuration key.
        key: &'static str,
        /// The value as written (never a secret).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A zone or record name handed to the provider is not a valid DNS name, or the record
    /// is not inside the zone.
    #[error("record {fqdn:?} in zone {zone:?}: {reason}")]
    Name {
        /// The zone.
        zone: String,
        /// The record name.
        fqdn: String,
        /// What is wrong.
        reason: String,
    },
    /// The server could not be reached, or the exchange failed on the wire.
    #[error("update of zone {zone} at {server}: {reason}")]
    Transport {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
        /// What failed (connection refused, no answer after retries, malformed reply).
        reason: String,
    },
    /// The server did not accept the request's TSIG signature (wrong secret or algorithm).
    #[error(
        "update of zone {zone} at {server} with key {key:?}: TSIG verification failed (BADSIG/NOTAUTH): check tsig_key and tsig_secret"
    )]
    BadSignature {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
        /// The key name (never the secret).
        key: String,
    },
    /// The server does not know the key name.
    #[error(
        "update of zone {zone} at {server}: the server does not know TSIG key {key:?} (BADKEY): check tsig_key, tsig_algorithm and the key statement in the server's configuration"
    )]
    UnknownKey {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
        /// The key name.
        key: String,
    },
    /// The server's clock and ours differ by more than the TSIG fudge (300 s).
    #[error(
        "update of zone {zone} at {server}: TSIG time check failed (BADTIME): the clocks of this host and the server differ by more than 5 minutes"
    )]
    BadTime {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
    },
    /// The server refused the update (the key may not update this zone).
    #[error(
        "the server {server} refused the update for zone {zone}: check that key {key:?} may update it (allow-update / update-policy)"
    )]
    Refused {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
        /// The key name.
        key: String,
    },
    /// The server is not authoritative (primary) for the zone.
    #[error(
        "the server {server} is not authoritative for zone {zone} (NOTAUTH): point nameserver at the zone's primary, or check the zone name"
    )]
    NotAuthoritative {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
    },
    /// The server answered with another error code.
    #[error("the server {server} rejected the update of {fqdn} in zone {zone}: {rcode}")]
    Rejected {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
        /// The record being changed.
        fqdn: String,
        /// The response code, e.g. `SERVFAIL`.
        rcode: String,
    },
    /// The server's reply did not carry a valid TSIG signature: it may not come from the server.
    #[error("update of zone {zone} at {server}: the reply failed TSIG verification ({reason})")]
    UnverifiedReply {
        /// The configured `nameserver`.
        server: SocketAddr,
        /// The zone being updated.
        zone: String,
        /// Why verification failed.
        reason: String,
    },
    /// Adding or removing a value at a record failed: the record, and why.
    #[error("TXT {fqdn}: {source}")]
    Record {
        /// The record's name.
        fqdn: String,
        /// What failed.
        source: Box<Error>,
    },
}

impl From<Error> for acme_core::Error {
    fn from(err: Error) -> Self {
        acme_core::Error::Dns {
            provider: crate::NAME.to_string(),
            kind: err.kind(),
            source: Box::new(err),
        }
    }
}

impl Error {
    /// `err`, from a change of the TXT record `fqdn`, naming that record.
    pub(crate) fn at_record(fqdn: &str, err: Error) -> Error {
        Error::Record {
            fqdn: fqdn.to_string(),
            source: Box::new(err),
        }
    }
}

impl Error {
    /// What kind of failure this is: a key the server refuses is
    /// [`acme_core::FailureKind::Unauthorized`], an unreachable server
    /// [`acme_core::FailureKind::Connection`], other refusals [`acme_core::FailureKind::Dns`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Secret(_) | Error::SecretNotBase64 { .. } | Error::Config { .. } => {
                FailureKind::Config
            }
            Error::BadSignature { .. } | Error::UnknownKey { .. } | Error::Refused { .. } => {
                FailureKind::Unauthorized
            }
            Error::Transport { .. } => FailureKind::Connection,
            Error::Record { source, .. } => source.kind(),
            Error::Name { .. }
            | Error::BadTime { .. }
            | Error::NotAuthoritative { .. }
            | Error::Rejected { .. }
            | Error::UnverifiedReply { .. } => FailureKind::Dns,
        }
    }
}
