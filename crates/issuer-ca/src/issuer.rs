use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use acme_core::{CertInfo, Health, IssueRequest, IssuedChain};
use async_trait::async_trait;
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SubjectPublicKeyInfo,
};
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::Error;
use crate::authority::{Authority, Creation, random_serial};
use crate::config::{CaIssuerConfig, CaSource};
use crate::trust::TrustBundle;

/// A CA certificate closer than this to its expiry makes the issuer's health `Expiring`.
const CA_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// An issuer that signs certificate requests with a local CA key pair.
///
/// Built once from its [`CaIssuerConfig`]; the CA is loaded (or, with `generate = true`,
/// created) by [`CaIssuer::new`], so a broken CA is reported at start-up, not at the first
/// renewal.
pub struct CaIssuer {
    name: String,
    trust_bundle: Option<TrustBundle>,
    validity: Duration,
    authority: Authority,
}

impl CaIssuer {
    /// Builds the issuer named `name` (its key under `[issuers]`).
    ///
    /// With `cert` and `key`, loads them and checks that the certificate is a CA, is not
    /// expired, and belongs to the key. With `generate = true`, uses the CA kept in
    /// `<state_dir>/ca/<name>/` (`ca.pem`, and `ca.key` with mode 0600 in a 0700
    /// directory), creating an ECDSA P-256 CA valid for 10 years there if none exists yet.
    /// With `trust_bundle`, reads the `trust_also` files and composes the bundle that
    /// [`acme_core::Issuer::publish`] writes.
    ///
    /// Creating the CA writes to the state directory: call it with the state directory
    /// locked. [`CaIssuer::open`] never writes.
    pub fn new(name: String, config: CaIssuerConfig, state_dir: &Path) -> Result<CaIssuer, Error> {
        CaIssuer::build(name, config, state_dir, Creation::Create)
    }

    /// Builds the issuer like [`CaIssuer::new`], with every check, but never creates a
    /// generated CA: one not created yet is [`Error::NotCreated`]. For commands that only
    /// look (`check`, `status`, `diagnose`).
    pub fn open(name: String, config: CaIssuerConfig, state_dir: &Path) -> Result<CaIssuer, Error> {
        CaIssuer::build(name, config, state_dir, Creation::Existing)
    }

    fn build(
        name: String,
        config: CaIssuerConfig,
        state_dir: &Path,
        creation: Creation,
    ) -> Result<CaIssuer, Error> {
        let authority = match config.source()? {
            CaSource::Files { cert, key } => Authority::from_files(&cert, &key)?,
            CaSource::Generated { common_name } => {
                if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
                    return Err(Error::Config(format!(
                        "issuer name {name:?} cannot name the directory of a generated CA; \
                         rename the issuer"
                    )));
                }
                Authority::generated(&state_dir.join("ca").join(&name), &common_name, creation)?
            }
        };
        let trust_bundle = config
            .trust_bundle
            .as_deref()
            .map(|path| TrustBundle::compose(path, authority.ca_pem.as_deref(), &config.trust_also))
            .transpose()?;
        Ok(CaIssuer {
            name,
            trust_bundle,
            validity: config.validity,
            authority,
        })
    }

    /// The CA certificate (PEM) that clients must trust to accept issued certificates.
    pub fn ca_pem(&self) -> &str {
        &self.authority.cert_pem
    }

    /// The file the CA certificate is read from (inside the state directory when generated).
    pub fn ca_cert_path(&self) -> &Path {
        &self.authority.cert_path
    }

    /// Signs a leaf for the request's CSR (signing is fast enough to run on the async task).
    fn sign(&self, request: &IssueRequest) -> Result<IssuedChain, Error> {
        let cert_name = &request.cert_name;
        let csr_error = |reason: String| Error::Csr {
            cert_name: cert_name.clone(),
            reason,
        };
        let first_name = request
            .names
            .first()
            .ok_or_else(|| csr_error("the request names no DNS name".into()))?;
        let csr = CertificateSigningRequestParams::from_der(&request.csr_der.as_slice().into())
            .map_err(|e| csr_error(format!("cannot accept it: {e}")))?;

        let csr_names = csr
            .params
            .subject_alt_names
            .iter()
            .map(|san| match san {
                SanType::DnsName(name) => Ok(name.as_str().to_string()),
                SanType::IpAddress(ip) => Ok(ip.to_string()),
                other => Err(csr_error(format!("unsupported subjectAltName {other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if normalized(&csr_names) != normalized(&request.names) {
            return Err(Error::NamesMismatch {
                cert_name: cert_name.clone(),
                csr: csr_names,
                requested: request.names.clone(),
            });
        }

        // Take the public key exactly as the CSR carries it (rcgen would rebuild it from the
        // signature algorithm, which need not match the key's curve).
        let (_, parsed) = X509CertificationRequest::from_der(&request.csr_der)
            .map_err(|e| csr_error(format!("invalid request: {e}")))?;
        let spki = &parsed.certification_request_info.subject_pki;
        let is_rsa = matches!(spki.parsed(), Ok(PublicKey::RSA(_)));
        let public_key = SubjectPublicKeyInfo::from_der(spki.raw)
            .map_err(|e| csr_error(format!("unsupported public key: {e}")))?;

        let mut params = CertificateParams::default();
        params.subject_alt_names = csr.params.subject_alt_names;
        let mut subject = DistinguishedName::new();
        // The common name is limited to 64 characters; the SAN carries the name regardless.
        if first_name.len() <= 64 {
            subject.push(DnType::CommonName, first_name.as_str());
        }
        params.distinguished_name = subject;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = if is_rsa {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        } else {
            vec![KeyUsagePurpose::DigitalSignature]
        };
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let (not_before, not_after) = self.validity_window()?;
        params.not_before = not_before;
        params.not_after = not_after;

        let cert = params
            .signed_by(&public_key, &self.authority.signer)
            .map_err(|source| Error::Sign {
                what: format!("the certificate for {cert_name}"),
                source,
            })?;
        tracing::debug!(issuer = %self.name, cert = %cert_name, %not_after, "signed a certificate");
        Ok(IssuedChain {
            cert_pem: cert.pem(),
            chain_pem: self.authority.chain_pem.clone(),
            ca_pem: self.authority.ca_pem.clone(),
        })
    }

    /// From a minute ago (clock skew) to the configured validity, capped at the CA's expiry.
    fn validity_window(&self) -> Result<(OffsetDateTime, OffsetDateTime), Error> {
        let now = OffsetDateTime::now_utc();
        let ca_end = self.authority.not_after;
        if ca_end <= now {
            return Err(Error::CaCertificate {
                path: self.authority.cert_path.clone(),
                reason: format!("expired at {ca_end}"),
            });
        }
        let wanted = time::Duration::try_from(self.validity)
            .ok()
            .and_then(|validity| now.checked_add(validity));
        let not_after = match wanted {
            Some(end) if end <= ca_end => end,
            _ => {
                tracing::warn!(
                    issuer = %self.name,
                    ca_not_after = %ca_end,
                    "the CA expires before the configured validity ends; \
                     the certificate ends with the CA"
                );
                ca_end
            }
        };
        Ok((now.saturating_sub(time::Duration::minutes(1)), not_after))
    }
}

/// Names as a set: order and letter case do not matter.
fn normalized(names: &[String]) -> Vec<String> {
    let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    names
}

#[async_trait]
impl acme_core::Issuer for CaIssuer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn publish(&self) -> Result<(), acme_core::Error> {
        match &self.trust_bundle {
            Some(bundle) => bundle.write().map_err(|source| acme_core::Error::Issuer {
                issuer: self.name.clone(),
                kind: source.kind(),
                source: Box::new(source),
            }),
            None => Ok(()),
        }
    }

    async fn issue(&self, request: &IssueRequest) -> Result<IssuedChain, acme_core::Error> {
        self.sign(request)
            .map_err(|source| acme_core::Error::Issuer {
                issuer: self.name.clone(),
                kind: source.kind(),
                source: Box::new(source),
            })
    }
    /// Nothing to reach: the CA certificate's expiry decides, expiring within
    /// 30 days.
    async fn health(&self) -> Health {
        match CertInfo::from_pem(self.ca_pem()) {
            Ok(info) => Health::by_expiry(
                "the CA certificate",
                info.not_after,
                CA_EXPIRY_WARNING,
                SystemTime::now(),
            ),
            Err(err) => Health::unreachable("the CA certificate", err.to_string()),
        }
    }
}

impl fmt::Debug for CaIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaIssuer")
            .field("name", &self.name)
            .field("validity", &humantime::format_duration(self.validity))
            .field("ca_cert", &self.authority.cert_path)
            .finish_non_exhaustive()
    }
}
