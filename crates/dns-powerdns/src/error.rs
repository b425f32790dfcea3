/// What can go wrong configuring or talking to the PowerDNS API.
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
    /// The API key reference could not be resolved.
    #[error("api_key: {0}")]
    ApiKey(acme_core::Error),
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The API refused the key.
    #[error(
        "the API at {url} refused the API key (HTTP {status}); check api_key against api-key in pdns.conf"
    )]
    Unauthorized {
        /// The API base URL.
        url: String,
        /// The HTTP status (401 or 403).
        status: u16,
    },
    /// The zone does not exist on the server.
    #[error(
        "zone {zone} not found on server {server_id} at {url}; create it in PowerDNS or fix the solver's zone"
    )]
    ZoneNotFound {
        /// The zone, with its trailing dot.
        zone: String,
        /// The configured server id.
        server_id: String,
        /// The API base URL.
        url: String,
    },
    /// The API could not be reached or did not answer.
    #[error("cannot reach the API at {url}: {reason}")]
    Network {
        /// The request URL.
        url: String,
        /// The transport error and its causes.
        reason: String,
    },
    /// The API answered with an error for the zone.
    #[error("zone {zone}: HTTP {status}: {message}")]
    Api {
        /// The zone, with its trailing dot.
        zone: String,
        /// The HTTP status.
        status: u16,
        /// PowerDNS's `error` text, or the body.
        message: String,
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
            Error::Config { .. } | Error::PlainHttp(_) | Error::ApiKey(_) => FailureKind::Config,
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
            dns_http::Error::Secret { source, .. } => Error::ApiKey(source),
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
