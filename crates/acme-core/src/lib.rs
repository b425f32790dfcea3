//! The lifecycle vocabulary of acmekeep and its ACME engine.
//!
//! This crate defines what every other part plugs into:
//!
//! - [`Issuer`] signs a certificate signing request ([`IssueRequest`] → [`IssuedChain`]);
//!   [`AcmeIssuer`] is the RFC 8555 implementation, other issuers live in their own crates.
//! - [`Solver`] presents and cleans up one ACME [`Challenge`] type; [`DnsProvider`] is the
//!   two-verb interface (`set_txt`, `remove_txt`) DNS-01 providers implement.
//! - [`Sink`] stores a [`Bundle`] (certificate, chain, key) and loads back what is deployed.
//! - [`KeyType`], [`build_csr`] and [`CertInfo`] generate keys, build CSRs and inspect
//!   certificates; [`policy`] decides when a certificate is due.
//!
//! It does not read configuration files, choose solvers for names, or schedule renewals:
//! that is the binary's job. It never logs or formats key material ([`PrivateKeyPem`] and
//! [`Secret`] redact themselves).
//!
//! ```
//! use acme_core::{build_csr, KeyType};
//! let key = KeyType::EcdsaP256.generate()?;
//! let csr = build_csr(&["www.example.com".to_string()], &key)?;
//! assert!(!csr.is_empty());
//! # Ok::<(), acme_core::Error>(())
//! ```

mod acme;
mod child_env;
mod csr;
mod dns;
pub mod duration;
mod error;
mod failure;
mod fsutil;
mod inspect;
mod issuer;
mod key;
pub mod policy;
mod progress;
mod remote;
mod secret;
mod sink;
mod solver;
mod text;
mod tls;

pub use tokio_util::sync::CancellationToken;

pub use acme::{AcmeConfig, AcmeIssuer, DIRECTORY_ALIASES, EabConfig, resolve_directory};
pub use child_env::{CONFIG_OVERRIDE_PREFIX, config_override_vars};
pub use csr::build_csr;
pub use dns::{CHALLENGE_TTL, DnsProvider};
pub use error::{BoxError, Error};
pub use failure::{FailureKind, error_chain};
pub use fsutil::{ensure_private_dir, remove_atomic_leftovers, write_atomic};
pub use inspect::{CertInfo, der_to_pem, split_pem_certificates};
pub use issuer::{IssueRequest, IssuedChain, Issuer, RenewalWindow, RevocationReason};
pub use key::{KeyType, PrivateKeyPem};
pub use progress::Progress;
pub use remote::{check_plain_http, https_client};
pub use secret::Secret;
pub use sink::{Bundle, Sink, SinkFiles};
pub use solver::{Challenge, ChallengeKind, Solver};
pub use text::{MAX_REMOTE_TEXT, printable};
pub use tls::tls_client_config;
