//! The TLS-ALPN-01 solver of acmekeep (RFC 8737).
//!
//! An ACME CA validates a TLS-ALPN-01 challenge by opening a TLS connection to port 443 of
//! the name, offering only the ALPN protocol `acme-tls/1` with the name as SNI, and checking
//! the certificate it gets: self-signed, for that one name, with a critical
//! `id-pe-acmeIdentifier` extension (OID 1.3.6.1.5.5.7.1.31) holding the SHA-256 digest of
//! the key authorization. [`TlsAlpn01Solver`] implements [`acme_core::Solver`] with a
//! built-in listener (tokio-rustls on aws-lc-rs) that generates such a certificate, with a
//! fresh P-256 key, for each presented challenge, completes a handshake only for
//! `acme-tls/1` and a presented name, and closes every connection right after it. The
//! listener binds on the first `present` and keeps listening while any challenge is
//! presented, so several certificates issued at once share it; cleaning up the last
//! challenge, dropping the solver or calling [`TlsAlpn01Solver::shutdown`] closes it. At most
//! 128 connections are open at once (a further one closes the oldest), each for at most
//! ten seconds.
//!
//! It does not serve any other TLS traffic, so it cannot share port 443 with a running web
//! server (use http-01 or dns-01 there), does not answer wildcard names (RFC 8737 forbids
//! it) or IP identifiers (RFC 8738), and never logs the key authorization.
//!
//! ```
//! use acme_core::{Challenge, ChallengeKind, Solver};
//! use tls_alpn01::{TlsAlpn01Config, TlsAlpn01Solver};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = TlsAlpn01Config { listen: "127.0.0.1:0".parse()? };
//! let solver = TlsAlpn01Solver::new("alpn".to_string(), config);
//! let challenge = Challenge {
//!     kind: ChallengeKind::TlsAlpn01,
//!     identifier: "www.example.com".to_string(),
//!     wildcard: false,
//!     token: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA".to_string(),
//!     key_authorization: "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3r".to_string(),
//!     dns_value: String::new(),
//! };
//! solver.present(&challenge).await?;
//! // The CA can now fetch the challenge certificate from this address.
//! assert!(solver.local_addr().await.is_some());
//! solver.cleanup(&challenge).await?;
//! solver.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod cert;
mod config;
mod error;
mod server;
mod solver;

pub use config::TlsAlpn01Config;
pub use error::Error;
pub use solver::TlsAlpn01Solver;
