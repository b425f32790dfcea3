//! What a certificate, a stored chain or a live TLS endpoint holds, and what is wrong with
//! it: the analysis behind `acmekeep inspect`, reused by `acmekeep diagnose`.
//!
//! - [`CertSummary`] is one certificate: subject, issuer, serial, validity, names, key type
//!   and size, SHA-256.
//! - [`analyze_chain`] takes a chain (leaf first, as found in a file or served), the trust
//!   anchors from [`load_roots`] (a CA bundle, or the system store) and optionally the name
//!   clients use, and returns a [`ChainReport`]: each certificate and whether the next one
//!   signed it, whether the chain is complete up to a trust anchor (which one), and every
//!   [`Problem`] found — expired, not yet valid, which intermediate is missing, an untrusted
//!   root, a name not covered.
//! - [`check_key`] says whether a stored private key belongs to the leaf;
//!   [`compare_served`] whether an endpoint serves the certificate a store holds.
//! - [`fetch_served_chain`] connects to an endpoint with a given SNI and returns the chain it
//!   sends, accepting it whatever it is so that a broken chain can be analyzed rather than
//!   just failing the handshake.
//! - [`StoredChain`] reads a chain and its key from a PEM file or a files-sink directory
//!   (or takes them as read elsewhere, e.g. from a Kubernetes Secret);
//!   [`InspectReport::build`] analyzes stored chains and a live endpoint together, the report
//!   of `acmekeep inspect`, and [`InspectReport::render_text`] prints it for people (its
//!   `Serialize` form is the JSON document).
//!
//! Everything is plain data (`Serialize`); [`Problem::kind`] is a stable code for machines,
//! [`Problem::message`] says what to check. Signatures and paths are verified by
//! x509-parser (on aws-lc-rs) and rustls-webpki, never by code of this crate. It reads no
//! files besides a CA bundle and the PEM files it is pointed at, knows nothing of the
//! configuration, of Kubernetes or of sinks beyond a files-sink directory's file names, and
//! never sees key bytes beyond the match check.
//!
//! ```
//! use std::time::SystemTime;
//! use cert_inspect::{Roots, analyze_chain, parse_pem_certificates};
//!
//! # let key = rcgen::KeyPair::generate()?;
//! # let pem = rcgen::CertificateParams::new(vec!["www.example.test".to_string()])?.self_signed(&key)?.pem();
//! let chain = parse_pem_certificates(&pem, "fullchain.pem")?;
//! let roots = Roots::from_certificates(&[], "no roots")?;
//! let report = analyze_chain(&chain, &roots, Some("www.example.test"), SystemTime::now())?;
//! assert!(!report.complete);
//! assert_eq!(report.name.map(|n| n.covered), Some(true));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
mod compare;
mod error;
mod fetch;
mod problem;
mod render;
mod report;
mod roots;
mod stored;
mod summary;

pub use chain::{ChainCert, ChainReport, NameCheck, analyze_chain};
pub use compare::{check_key, compare_served};
pub use error::Error;
pub use fetch::fetch_served_chain;
pub use problem::{Problem, ProblemKind};
pub use report::{
    Configured, EndpointReport, EndpointTarget, Finding, InspectReport, KeyStatus, SameAs,
    StoredReport, TrustAnchors,
};
pub use roots::{Roots, load_roots};
pub use stored::{StoredChain, StoredKey};
pub use summary::{CertSummary, parse_pem_certificates};

#[cfg(test)]
mod tests;
