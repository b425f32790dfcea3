//! The Venafi TLS Protect (TPP) issuer of acmekeep (`kind = "venafi"`).
//!
//! [`VenafiIssuer`] implements [`acme_core::Issuer`] against the TPP REST API: it sends the
//! daemon's CSR into a policy folder (`POST /vedsdk/certificates/request` with `PolicyDN`,
//! `PKCS10`, `ObjectName` = the certificate's name, the configured `CustomFields`, and
//! `DisableAutomaticRenewal`, since acmekeep renews), then polls
//! `POST /vedsdk/certificates/retrieve` with a growing pause until TPP hands out the chain
//! or the attempt's `timeout` passes.
//!
//! A request that waits for an approver, or is still being processed at the deadline, is
//! reported as [`acme_core::Error::Pending`], not as a failure. The request's DN is kept in
//! `<state_dir>/venafi/<issuer>/<certificate>.json` with a fingerprint of zone, key and names;
//! the next `issue()` with the same key picks the request up instead of requesting again,
//! and a new key starts a new request. The record is removed once the certificate is issued
//! or TPP fails it for good.
//!
//! Authentication is an OAuth bearer token (`access_token`, renewed through
//! `refresh_token` when TPP refuses it, the new pair kept in the state directory) or a
//! username and password exchanged for a token with scope `certificate:manage`. The older
//! API-key login (`/vedsdk/authorize/`) is not supported. Errors are [`Error`]s that name the
//! zone or the certificate's DN and say what to check; no token or password ever appears in
//! one. The configuration is [`VenafiConfig`].
//!
//! It does not read TPP's policy ahead of a request, revoke, or renew certificates inside
//! TPP: TPP checks its policy when the request arrives and its answer is reported.
//!
//! ```no_run
//! use acme_core::{build_csr, IssueRequest, Issuer, KeyType};
//! use issuer_venafi::{VenafiConfig, VenafiIssuer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config: VenafiConfig = serde_json::from_str(r#"{
//!     "url": "https://tpp.example.com",
//!     "zone": "\\VED\\Policy\\Web",
//!     "access_token": "env:TPP_ACCESS_TOKEN"
//! }"#)?;
//! let issuer = VenafiIssuer::new("corp".into(), config, "/var/lib/acmekeep".as_ref())?;
//! let names = vec!["api.example.com".to_string()];
//! let key = KeyType::EcdsaP256.generate()?;
//! let request = IssueRequest {
//!     cert_name: "api".into(),
//!     csr_der: build_csr(&names, &key)?,
//!     names,
//!     solvers: Default::default(),
//!     replaces: None,
//!     cancel: Default::default(),
//! };
//! match issuer.issue(&request).await {
//!     Ok(issued) => println!("{}", issued.cert_pem),
//!     Err(acme_core::Error::Pending { message, .. }) => println!("later: {message}"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod issuer;
mod pending;

pub use config::{CustomField, DEFAULT_CLIENT_ID, DEFAULT_TIMEOUT, SCOPE, VenafiConfig};
pub use error::Error;
pub use issuer::VenafiIssuer;
