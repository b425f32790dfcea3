use std::net::SocketAddr;

/// Why metrics could not be set up or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObserveError {
    /// The metrics listener could not be bound.
    #[error("cannot listen for metrics on {addr} (daemon.listen_metrics): {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The metrics recorder could not be built or installed.
    #[error("cannot set up the metrics recorder: {0}")]
    Recorder(String),
}
