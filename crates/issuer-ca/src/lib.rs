//! The local-CA issuer of acmekeep (`kind = "ca"`).
//!
//! [`CaIssuer`] implements [`acme_core::Issuer`] by signing each certificate signing request
//! with a CA key pair held on this machine: either an existing CA (`cert` + `key`, the key as
//! a `file:`/`env:` reference or inline PEM), or one it generates on first start in the state
//! directory (`generate = true`: ECDSA P-256, 10 years, `<state_dir>/ca/<issuer>/ca.pem` and
//! `ca.key`) and reuses afterwards. [`CaIssuer::new`] creates that CA when missing (call it
//! with the state directory locked); [`CaIssuer::open`] never does, for commands that only look. It suits internal services, test environments and
//! service meshes whose clients are told to trust that CA. With `trust_bundle`, it keeps the
//! root (and any `trust_also` certificates, for a CA rotation) in a file consumers read.
//!
//! Leaves carry the CSR's names (which must equal the requested names), the first name as
//! common name, a random 127-bit serial, `digitalSignature` (plus `keyEncipherment` for RSA
//! keys), `serverAuth` + `clientAuth`, and the configured validity, never outliving the CA.
//!
//! It does not publish CRLs or OCSP, revoke, or enforce name constraints: it signs what the
//! daemon asks for. The configuration is [`CaIssuerConfig`]; failures are [`Error`], wrapped
//! as [`acme_core::Error::Issuer`] at the trait boundary.
//!
//! ```no_run
//! use acme_core::{build_csr, IssueRequest, Issuer, KeyType};
//! use issuer_ca::{CaIssuer, CaIssuerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = CaIssuerConfig { generate: true, ..Default::default() };
//! let issuer = CaIssuer::new("internal".into(), config, "/var/lib/acmekeep".as_ref())?;
//! let names = vec!["api.internal.test".to_string()];
//! let key = KeyType::EcdsaP256.generate()?;
//! let request = IssueRequest {
//!     cert_name: "api".into(),
//!     csr_der: build_csr(&names, &key)?,
//!     names,
//!     solvers: Default::default(),
//!     replaces: None,
//!     cancel: Default::default(),
//! };
//! let issued = issuer.issue(&request).await?;
//! assert_eq!(issued.ca_pem.as_deref(), Some(issuer.ca_pem()));
//! # Ok(())
//! # }
//! ```

mod authority;
mod config;
mod error;
mod issuer;
mod trust;

pub use config::{CaIssuerConfig, DEFAULT_COMMON_NAME, DEFAULT_VALIDITY};
pub use error::Error;
pub use issuer::CaIssuer;
