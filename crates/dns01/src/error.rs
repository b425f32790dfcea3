use std::time::Duration;

/// Everything that can go wrong finding where to write a challenge record and waiting for it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (a malformed `zone`, an unreadable resolv.conf).
    #[error("{0}")]
    Config(String),
    /// A DNS lookup failed for another reason than "no such record".
    #[error("looking up {record_type} {name}: {reason}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The record type asked for.
        record_type: String,
        /// What failed.
        reason: String,
    },
    /// No SOA record was found at or above the name: no zone holds it.
    #[error(
        "no zone found for {name}: no SOA record at or above it (set `zone` if the resolver cannot see it)"
    )]
    NoZone {
        /// The record name.
        name: String,
    },
    /// The CNAME chain at the record name loops or is too long.
    #[error("CNAME chain from {name} loops or is longer than {limit}: {chain}")]
    CnameChain {
        /// Where the chain starts.
        name: String,
        /// The most links followed.
        limit: usize,
        /// The names seen, joined with " -> ".
        chain: String,
    },
    /// The record to write is not inside the configured zone.
    #[error("record {fqdn} is not inside the configured zone {zone}")]
    NotInZone {
        /// The record name.
        fqdn: String,
        /// The configured zone.
        zone: String,
    },
    /// The zone's NS records name no server with an address.
    #[error("zone {zone} has no authoritative server with an address: {reason}")]
    NoServers {
        /// The zone.
        zone: String,
        /// What was found.
        reason: String,
    },
    /// Some servers still did not serve the value when the timeout ran out.
    #[error("TXT {fqdn} was not served by every server after {}: {}", humantime_secs(*.timeout), .missing.join("; "))]
    Propagation {
        /// The record name.
        fqdn: String,
        /// The configured `propagation_timeout`.
        timeout: Duration,
        /// One entry per server that lacked the value: its address and what it served.
        missing: Vec<String>,
    },
}

impl Error {
    /// What kind of failure this is: [`acme_core::FailureKind::Propagation`] for a value not
    /// served in time, [`acme_core::FailureKind::Dns`] for lookups.
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config(_) => FailureKind::Config,
            Error::Propagation { .. } => FailureKind::Propagation,
            Error::Lookup { .. }
            | Error::NoZone { .. }
            | Error::CnameChain { .. }
            | Error::NotInZone { .. }
            | Error::NoServers { .. } => FailureKind::Dns,
        }
    }
}

fn humantime_secs(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}
