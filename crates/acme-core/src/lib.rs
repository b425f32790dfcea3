//! The lifecycle vocabulary of acmekeep: the contracts every other crate plugs into.
//!
//! - [`Issuer`] signs a certificate signing request ([`IssueRequest`] → [`IssuedChain`]);
//!   each issuer lives in its own crate (the ACME one is `issuer-acme`).
//! - [`Solver`] presents and cleans up one ACME [`Challenge`] type; [`DnsProvider`] is the
//!   two-verb interface (`set_txt`, `remove_txt`) DNS-01 providers implement.
//! - [`Sink`] stores a [`Bundle`] (certificate, chain, key) and loads back what is deployed.
//! - [`Error`] is the one error of the lifecycle; [`Secret`] resolves `env:`/`file:`
//!   references; [`KeyType`] and [`CertInfo`] name and inspect keys and certificates;
//!   [`policy`] decides when a certificate is due.
//! - Each of them reports its [`Health`] from one read-only look (the CA answers, the
//!   credentials are accepted, the destination takes writes), for `check --online` and
//!   `diagnose`.
//!
//! Two opt-in features add what needs crypto, so that a DNS provider or a sink that does not
//! use them builds without a TLS stack or a key generator:
//!
//! - `keys` (rcgen on aws-lc-rs): `KeyType::generate`, `KeyType::of`,
//!   `PrivateKeyPem::key_pair` / `from_key_pair`, `CertInfo::matches_key` and `build_csr`.
//! - `https` (rustls on aws-lc-rs, reqwest): `tls_client_config`, the `https_client` for APIs
//!   that are sent credentials, and `check_plain_http`.
//!
//! It does not speak ACME, read configuration files, choose solvers for names, or schedule
//! renewals: that is `issuer-acme`'s and the binary's job. It never logs or formats key
//! material ([`PrivateKeyPem`] and [`Secret`] redact themselves).
//!
//! ```
//! use std::time::Duration;
//! use acme_core::{KeyType, Secret, policy};
//!
//! let key: KeyType = "ecdsa-p256".parse()?;
//! assert_eq!(key, KeyType::EcdsaP256);
//! assert!(Secret::is_reference("env:TSIG_SECRET"));
//! // a certificate of 90 days is kept at least 1/10 of its lifetime, at most an hour
//! let day = Duration::from_secs(24 * 3600);
//! assert_eq!(policy::renewal_floor(90 * day), Duration::from_secs(3600));
//! # Ok::<(), String>(())
//! ```

mod child_env;
#[cfg(feature = "keys")]
mod csr;
mod dns;
pub mod duration;
mod error;
mod failure;
mod fsutil;
mod health;
mod inspect;
mod issuer;
mod key;
#[cfg(feature = "keys")]
mod keypair;
pub mod policy;
mod progress;
#[cfg(feature = "https")]
mod remote;
mod secret;
mod sink;
mod solver;
mod text;
#[cfg(feature = "https")]
mod tls;

pub use tokio_util::sync::CancellationToken;

pub use child_env::{CONFIG_OVERRIDE_PREFIX, config_override_vars};
#[cfg(feature = "keys")]
pub use csr::build_csr;
pub use dns::{CHALLENGE_TTL, DnsProvider};
pub use error::{BoxError, Error};
pub use failure::{FailureKind, error_chain};
pub use fsutil::{ensure_private_dir, remove_atomic_leftovers, write_atomic};
pub use health::{HEALTH_TIMEOUT, Health, HealthStatus};
pub use inspect::{CertInfo, der_to_pem, split_pem_certificates};
pub use issuer::{IssueRequest, IssuedChain, Issuer, RenewalWindow, RevocationReason};
pub use key::{KeyType, PrivateKeyPem};
pub use progress::{Progress, with_progress};
#[cfg(feature = "https")]
pub use remote::{check_plain_http, https_client};
pub use secret::Secret;
pub use sink::{Bundle, Sink, SinkFiles};
pub use solver::{Challenge, ChallengeKind, Solver};
pub use text::{MAX_REMOTE_TEXT, printable};
#[cfg(feature = "https")]
pub use tls::tls_client_config;
