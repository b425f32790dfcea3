//! Metrics and health endpoints.
//!
//! [`Metrics`] holds what Prometheus scrapes: the per-certificate series the daemon records
//! (expiry, renewal time, readiness, failures; names follow cert-manager's) and whatever the
//! libraries record through the `metrics` facade (the ACME client's request count and
//! duration). [`Readiness`] is what `/readyz` answers from. [`MetricsServer`] serves
//! `/metrics`, `/healthz` and `/readyz` on `daemon.listen_metrics` until cancelled.

mod metrics;
mod readiness;
mod server;

pub use metrics::Metrics;
pub use readiness::Readiness;
pub use server::MetricsServer;

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
