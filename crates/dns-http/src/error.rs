/// What can go wrong setting up an API client or sending a request.
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
    /// A credential reference could not be resolved.
    #[error("{key}: {source}")]
    Secret {
        /// The configuration key, e.g. `api_key`.
        key: &'static str,
        /// Why it could not be read (naming the reference, never the value).
        source: acme_core::Error,
    },
    /// The HTTP client could not be set up.
    #[error("HTTP client: {0}")]
    Client(String),
    /// The API could not be reached or did not answer.
    #[error("cannot reach the API at {url}: {reason}")]
    Network {
        /// The request URL.
        url: String,
        /// The transport error and its causes.
        reason: String,
    },
}
