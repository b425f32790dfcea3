use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::{Error, Health, Solver};

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

/// Why a certificate is revoked: the RFC 5280 §5.3.1 reason codes a subscriber may give.
///
/// The CA/Browser Forum Baseline Requirements (§7.2.2) allow subscribers these five; the
/// others (`cACompromise`, `certificateHold`, `privilegeWithdrawn`, …) are the CA's to give,
/// and CAs such as Let's Encrypt refuse them from subscribers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RevocationReason {
    /// No reason given (code 0).
    #[default]
    Unspecified,
    /// The certificate's private key was, or may have been, disclosed (code 1).
    KeyCompromise,
    /// The subject's name or other information changed (code 3).
    AffiliationChanged,
    /// The certificate was replaced by another one (code 4).
    Superseded,
    /// The certificate is no longer needed: the service or domain is gone (code 5).
    CessationOfOperation,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 5] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
    ];

    /// The RFC 5280 `CRLReason` code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
        }
    }

    /// The RFC 5280 name, e.g. `keyCompromise`.
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where certificates come from: an ACME CA, a local CA, Vault, Venafi…
#[async_trait]
pub trait Issuer: Send + Sync {
    /// The configured name of this issuer, for messages.
    fn name(&self) -> &str;

    /// Writes what the issuer keeps beside its certificates for consumers (a local CA's
    /// trust bundle). Called by the commands that deliver (`run` at start and on reload,
    /// `--issue`), never by the ones that only look (`check`, `status`, `diagnose`).
    async fn publish(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Signs the request, proving control of the names first where the issuer requires it.
    async fn issue(&self, request: &IssueRequest) -> Result<IssuedChain, Error>;

    /// Asks the issuer, read-only and within [`HEALTH_TIMEOUT`](crate::HEALTH_TIMEOUT), whether
    /// it can sign now: the CA answers, its own certificate is valid. Never orders anything.
    /// The default, for issuers with nothing to reach, says so.
    async fn health(&self) -> Health {
        Health::healthy(format!("issuer {}", self.name()), "nothing to reach")
    }

    /// The CA's suggested renewal window for a certificate it issued, where it offers one.
    async fn renewal_window(&self, _cert_pem: &str) -> Result<Option<RenewalWindow>, Error> {
        Ok(None)
    }

    /// Revokes `cert_pem` (a certificate this issuer issued) at the CA, for `reason`.
    ///
    /// Issuers that cannot revoke keep this default, which says so: the certificate must then
    /// be revoked at the CA by other means, or the CA removed from its clients' trust stores.
    async fn revoke(&self, _cert_pem: &str, _reason: RevocationReason) -> Result<(), Error> {
        Err(Error::Issuer {
            issuer: self.name().to_string(),
            kind: crate::FailureKind::Config,
            source: "this kind of issuer cannot revoke certificates through acmekeep: revoke \
                     the certificate at the CA itself, or remove the CA from the trust stores \
                     of the certificate's clients"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;

    #[async_trait]
    impl Issuer for Plain {
        fn name(&self) -> &str {
            "internal"
        }

        async fn issue(&self, _request: &IssueRequest) -> Result<IssuedChain, Error> {
            Err(Error::Certificate("not used".into()))
        }
    }

    #[tokio::test]
    async fn an_issuer_without_revocation_says_so_and_where_to_revoke_instead() {
        let err = Plain
            .revoke(
                "-----BEGIN CERTIFICATE-----",
                RevocationReason::KeyCompromise,
            )
            .await
            .expect_err("the default cannot revoke");
        let text = err.to_string();
        assert!(text.starts_with("issuer internal: "), "{text}");
        assert!(text.contains("cannot revoke"), "{text}");
        assert!(text.contains("trust stores"), "{text}");
    }

    #[test]
    fn reasons_carry_their_rfc_5280_names_and_codes() {
        let named: Vec<(&str, u8)> = RevocationReason::ALL
            .iter()
            .map(|r| (r.name(), r.code()))
            .collect();
        assert_eq!(
            named,
            [
                ("unspecified", 0),
                ("keyCompromise", 1),
                ("affiliationChanged", 3),
                ("superseded", 4),
                ("cessationOfOperation", 5)
            ]
        );
        assert_eq!(RevocationReason::default(), RevocationReason::Unspecified);
    }
}
