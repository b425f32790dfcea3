//! What the acmekeep daemon shows to monitoring: Prometheus metrics and health endpoints.
//!
//! - [`Metrics`] holds what Prometheus scrapes: the per-certificate series the daemon
//!   records (expiry, renewal time, readiness, failures; names follow cert-manager's) and
//!   whatever the libraries record through the `metrics` facade (the ACME client's request
//!   count and duration).
//! - [`Readiness`] is what `/readyz` answers from: configuration loaded, no certificate
//!   expired.
//! - [`MetricsServer`] serves `/metrics`, `/healthz` and `/readyz` on `daemon.listen_metrics`
//!   until cancelled; [`ObserveError`] says why it could not be set up.
//!
//! It does not decide what is recorded or when (the daemon does), push metrics anywhere, or
//! set up logging.
//!
//! ```
//! use observe::{Metrics, Readiness};
//! let (metrics, _recorder) = Metrics::with_recorder()?;
//! metrics.record_ready("web", "letsencrypt", true);
//! assert!(metrics.render().contains("acmekeep_certificate_ready_status"));
//! let readiness = Readiness::new();
//! readiness.set_loaded(true);
//! assert!(readiness.check().is_ok());
//! # Ok::<(), observe::ObserveError>(())
//! ```

mod error;
mod metrics;
mod readiness;
mod server;

pub use error::ObserveError;
pub use metrics::Metrics;
pub use readiness::Readiness;
pub use server::MetricsServer;
