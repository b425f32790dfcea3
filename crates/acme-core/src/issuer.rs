use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{Error, Solver};

/// What an issuer needs to sign one certificate.
#[derive(Clone)]
pub struct IssueRequest {
    /// The configured certificate name, for messages and logs.
    pub cert_name: String,
    /// The DNS names (first one is the subject), possibly with `*.` wildcards.
    pub names: Vec<String>,
    /// The DER-encoded certificate signing request.
    pub csr_der: Vec<u8>,
    /// For ACME issuers: the solver that proves control of each name, keyed by name
    /// exactly as in `names`.
    pub solvers: BTreeMap<String, Arc<dyn Solver>>,
    /// The PEM certificate this issuance replaces, if any (ACME sends its ARI identifier).
    pub replaces: Option<String>,
    /// Cancelled when acmekeep is stopping: the issuer abandons the order, cleaning up.
    pub cancel: CancellationToken,
}

/// A freshly issued certificate chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedChain {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The intermediates, PEM, leaf's issuer first (may be empty).
    pub chain_pem: String,
    /// The CA certificate consumers should trust, where the issuer knows it.
    pub ca_pem: Option<String>,
}

impl IssuedChain {
    /// Splits a PEM bundle (leaf first, as ACME delivers it) into leaf and chain.
    pub fn from_pem_bundle(bundle: &str) -> Result<IssuedChain, Error> {
        let mut certs = crate::inspect::split_pem_certificates(bundle)?;
        if certs.is_empty() {
            return Err(Error::Certificate(
                "the issuer returned no certificate".into(),
            ));
        }
        let leaf = certs.remove(0);
        Ok(IssuedChain {
            cert_pem: leaf,
            chain_pem: certs.concat(),
            ca_pem: None,
        })
    }
}

/// The window in which the CA suggests renewing a certificate (ACME Renewal Information).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewalWindow {
    /// Renew no earlier than this.
    pub start: SystemTime,
    /// Renew no later than this.
    pub end: SystemTime,
    /// When to ask the CA again for an updated window.
    pub refresh_after: Duration,
    /// A URL explaining why the CA moved the window, if it gave one.
    pub explanation: Option<String>,
}

/// Where certificates come from: an ACME CA, a local CA, Vault, Venafi…
#[async_trait]
pub trait Issuer: Send + Sync {
    /// The configured name of this issuer, for messages.
    fn name(&self) -> &str;

    /// Signs the request, proving control of the names first where the issuer requires it.
    async fn issue(&self, request: &IssueRequest) -> Result<IssuedChain, Error>;

    /// The CA's suggested renewal window for a certificate it issued, where it offers one.
    async fn renewal_window(&self, _cert_pem: &str) -> Result<Option<RenewalWindow>, Error> {
        Ok(None)
    }
}
