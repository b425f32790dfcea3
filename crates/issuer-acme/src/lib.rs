//! The ACME (RFC 8555) issuer of acmekeep (`kind = "acme"`), on top of instant-acme.
//!
//! [`AcmeIssuer`] implements [`acme_core::Issuer`] against any ACME CA (Let's Encrypt,
//! ZeroSSL, Google, Buypass, pebble, a private CA): it registers an account once and keeps it
//! in `state_dir/accounts/<issuer>.json` (0600), with external account binding
//! ([`EabConfig`]) where the CA requires it; places an order naming the configured profile and
//! the certificate it replaces (RFC 9773); has each name's [`acme_core::Solver`] present its
//! challenge and always cleans up; finalizes with the caller's CSR; and downloads the chain,
//! the one [`AcmeConfig::preferred_chain`] names where the CA offers alternates. It also
//! fetches the CA's renewal window (ARI) and revokes. Every protocol step is retried on
//! badNonce, 5xx and network errors, polling backs off and honours Retry-After, and the whole
//! issuance is bounded by [`AcmeConfig::timeout`]. Requests are counted and timed through the
//! `metrics` facade (`acmekeep_acme_client_request_*`).
//!
//! It does not generate keys or build CSRs (the caller brings the CSR, see acme-core's `keys`
//! feature), choose solvers for names, or decide when to renew: that is the daemon's job.
//! [`AcmeConfig`] is the issuer's configuration, [`resolve_directory`] turns an alias from
//! [`DIRECTORY_ALIASES`] into a URL. Failures are [`acme_core::Error::Acme`] (with the
//! CA's problem type, whether a retry may help, and the CA's Retry-After), so the daemon's
//! back-off and `diagnose` read them the same way for every caller.
//!
//! ```no_run
//! use acme_core::{IssueRequest, Issuer, KeyType, build_csr};
//! use issuer_acme::{AcmeConfig, AcmeIssuer};
//!
//! # async fn demo(solvers: std::collections::BTreeMap<String, std::sync::Arc<dyn acme_core::Solver>>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let config: AcmeConfig = serde_json::from_str(
//!     r#"{"directory": "letsencrypt-staging", "email": "ops@example.com"}"#,
//! )?;
//! let issuer = AcmeIssuer::new("letsencrypt".into(), config, "/var/lib/acmekeep".as_ref())?;
//! let names = vec!["www.example.com".to_string()];
//! let key = KeyType::EcdsaP256.generate()?;
//! let request = IssueRequest {
//!     cert_name: "www".into(),
//!     csr_der: build_csr(&names, &key)?,
//!     names,
//!     solvers, // one per name, e.g. an HTTP-01 solver for www.example.com
//!     replaces: None,
//!     cancel: Default::default(),
//! };
//! let issued = issuer.issue(&request).await?;
//! assert!(!issued.cert_pem.is_empty());
//! # Ok(())
//! # }
//! ```

mod account;
mod ari;
mod chain;
mod directory;
#[cfg(test)]
mod fuzz;
mod http;
mod issuer;
mod profile;
mod retry;

pub use account::EabConfig;
pub use directory::{DIRECTORY_ALIASES, resolve_directory};
pub use issuer::{AcmeConfig, AcmeIssuer};
