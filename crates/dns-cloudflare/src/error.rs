/// What can go wrong configuring or talking to the Cloudflare API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration key has an unusable value.
    #[error("{key} {value:?}: {reason}")]
    Config {
        /// The configuration key.
        key: &'static str,
        /// The value as written (never a secret).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `api_url` is plain HTTP to a host that is not loopback, and that is not allowed.
    #[error("{0}")]
    PlainHttp(String),
    /// The API token reference could not be resolved.
    #[error("api_token: {0}")]
    ApiToken(acme_core::Error),
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(String),
    /// Cloudflare refused the token for the zone.
    #[error(
        "the API token lacks Zone:DNS:Edit (and Zone:Zone:Read for lookup) on zone {zone}, or is not valid (HTTP {status}: {errors})"
    )]
    Unauthorized {
        /// The zone.
        zone: String,
        /// The HTTP status.
        status: u16,
        /// Cloudflare's errors, `code N: message`.
        errors: String,
    },
    /// No zone of that name is visible to the token, or the configured zone id is unknown.
    #[error("zone {zone} not found{}", zone_id.as_ref().map(|id| format!(" (zone_id {id}: {detail})")).unwrap_or_else(|| format!(" among the zones the API token can read ({detail}); check the name, or set zone_id")))]
    ZoneNotFound {
        /// The zone.
        zone: String,
        /// The zone id used, if one was configured.
        zone_id: Option<String>,
        /// What Cloudflare said.
        detail: String,
    },
    /// The API could not be reached or did not answer.
    #[error("cannot reach the API at {url}: {reason}")]
    Network {
        /// The request URL.
        url: String,
        /// The transport error and its causes.
        reason: String,
    },
    /// Cloudflare answered with errors.
    #[error("zone {zone}: {action}: HTTP {status}: {errors}")]
    Api {
        /// The zone.
        zone: String,
        /// What was being done, e.g. `create TXT _acme-challenge.example.com`.
        action: String,
        /// The HTTP status.
        status: u16,
        /// Cloudflare's errors, `code N: message`, or the body.
        errors: String,
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

impl Error {
    /// What kind of failure this is: refused credentials are
    /// [`acme_core::FailureKind::Unauthorized`], other API failures
    /// [`acme_core::FailureKind::Dns`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config { .. } | Error::PlainHttp(_) | Error::ApiToken(_) => FailureKind::Config,
            Error::Client(_) => FailureKind::Internal,
            Error::Unauthorized { .. } => FailureKind::Unauthorized,
            Error::Network { .. } => FailureKind::Connection,
            Error::ZoneNotFound { .. } | Error::Api { .. } => FailureKind::Dns,
            Error::Record { source, .. } => source.kind(),
        }
    }
}

impl From<Error> for acme_core::Error {
    fn from(err: Error) -> Self {
        acme_core::Error::Dns {
            provider: crate::provider::NAME.to_string(),
            kind: err.kind(),
            source: Box::new(err),
        }
    }
}

impl From<dns_http::Error> for Error {
    fn from(err: dns_http::Error) -> Self {
        match err {
            dns_http::Error::Config { key, value, reason } => Error::Config { key, value, reason },
            dns_http::Error::Secret { source, .. } => Error::ApiToken(source),
            dns_http::Error::Network { url, reason } => Error::Network { url, reason },
            other => Error::Client(other.to_string()),
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
