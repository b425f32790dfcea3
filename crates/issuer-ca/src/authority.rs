use std::fs;
use std::path::{Path, PathBuf};

use acme_core::{CertInfo, PrivateKeyPem, Secret};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::Error;

/// How long a generated CA is valid.
const GENERATED_CA_LIFETIME: time::Duration = time::Duration::days(3650);

/// Whether loading a generated CA may create it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Creation {
    /// Create the CA when it does not exist yet.
    Create,
    /// Use the CA only if it exists; never write.
    Existing,
}

/// A CA ready to sign: its key, its certificate, and what to hand out beside a leaf.
pub(crate) struct Authority {
    /// The signing key with the CA's name, key identifier and key usages.
    pub(crate) signer: rcgen::Issuer<'static, KeyPair>,
    /// The file the CA certificate came from, for messages.
    pub(crate) cert_path: PathBuf,
    /// The CA certificate, PEM.
    pub(crate) cert_pem: String,
    /// What goes between a leaf and the trust anchor: empty for a root CA.
    pub(crate) chain_pem: String,
    /// The certificate consumers should trust, when the bundle ends in a root.
    pub(crate) ca_pem: Option<String>,
    /// End of the CA's validity: no leaf outlives it.
    pub(crate) not_after: OffsetDateTime,
}

impl Authority {
    /// Loads an existing CA from its certificate file and key reference.
    pub(crate) fn from_files(cert: &Path, key_reference: &str) -> Result<Authority, Error> {
        let label = if Secret::is_reference(key_reference) {
            key_reference.to_string()
        } else {
            "(inline value)".to_string()
        };
        let cert_text = read_certificate(cert)?;
        let secret = Secret::resolve(key_reference)?;
        if !Secret::is_reference(key_reference) && !secret.expose().contains("-----BEGIN") {
            return Err(Error::CaKey {
                reference: label,
                reason: "the value is neither PEM text nor a reference; to read a file, \
                         write key = \"file:/path/to/ca.key\""
                    .into(),
            });
        }
        Authority::from_pem(cert, &cert_text, &label, secret.expose())
    }

    /// Loads the CA kept in `dir`; with [`Creation::Create`], creates it first if `dir` holds
    /// no CA certificate yet, else a missing CA is [`Error::NotCreated`] and nothing is written.
    ///
    /// The certificate is written last, so it marks a complete CA: a key without a
    /// certificate (an interrupted first start) is replaced, and a certificate without
    /// its key is an error rather than a silently new CA.
    pub(crate) fn generated(
        dir: &Path,
        common_name: &str,
        creation: Creation,
    ) -> Result<Authority, Error> {
        let cert_path = dir.join("ca.pem");
        let key_path = dir.join("ca.key");
        let exists = cert_path
            .try_exists()
            .map_err(|source| Error::ReadCertificate {
                path: cert_path.clone(),
                source,
            })?;
        if !exists {
            if creation == Creation::Existing {
                return Err(Error::NotCreated { dir: dir.into() });
            }
            acme_core::ensure_private_dir(dir, 0o700)?;
            create(&cert_path, &key_path, common_name)?;
        }
        let key = fs::read_to_string(&key_path).map_err(|e| Error::CaKey {
            reference: key_path.display().to_string(),
            reason: format!("{e}; the CA certificate {} needs it", cert_path.display()),
        })?;
        let label = key_path.display().to_string();
        Authority::from_pem(&cert_path, &read_certificate(&cert_path)?, &label, &key)
    }

    fn from_pem(
        cert_path: &Path,
        cert_text: &str,
        key_label: &str,
        key_pem: &str,
    ) -> Result<Authority, Error> {
        let invalid = |reason: String| Error::CaCertificate {
            path: cert_path.to_path_buf(),
            reason,
        };
        let bundle =
            acme_core::split_pem_certificates(cert_text).map_err(|e| invalid(e.to_string()))?;
        let (first, rest) = bundle
            .split_first()
            .ok_or_else(|| invalid("the file holds no PEM certificate".into()))?;
        let der = pem_to_der(first).map_err(&invalid)?;
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| invalid(format!("invalid X.509 certificate: {e}")))?;
        check_is_ca(&cert).map_err(&invalid)?;
        let not_after = cert.validity().not_after.to_datetime();
        if not_after <= OffsetDateTime::now_utc() {
            return Err(invalid(format!("expired at {not_after}")));
        }

        let key = KeyPair::from_pem(key_pem).map_err(|_| Error::CaKey {
            reference: key_label.to_string(),
            reason: "not an unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1)".into(),
        })?;
        let info = CertInfo::from_der(&der).map_err(|e| invalid(e.to_string()))?;
        if !info.matches_key(&PrivateKeyPem::new(key_pem.to_string())) {
            return Err(Error::KeyMismatch {
                reference: key_label.to_string(),
                cert: cert_path.to_path_buf(),
            });
        }
        let signer = rcgen::Issuer::from_ca_cert_der(&der.as_slice().into(), key)
            .map_err(|e| invalid(format!("cannot sign with it: {e}")))?;

        let (chain_pem, ca_pem) = if is_self_issued(&cert) {
            (String::new(), Some(first.clone()))
        } else {
            // An intermediate: hand out the bundle as the chain, minus a trailing root.
            match rest.split_last() {
                Some((last, middle)) if pem_is_self_issued(last) => {
                    (format!("{first}{}", middle.concat()), Some(last.clone()))
                }
                _ => (bundle.concat(), None),
            }
        };
        Ok(Authority {
            signer,
            cert_path: cert_path.to_path_buf(),
            cert_pem: first.clone(),
            chain_pem,
            ca_pem,
            not_after,
        })
    }
}

/// Creates a new ECDSA P-256 root CA, writing the key (0600) before the certificate.
fn create(cert_path: &Path, key_path: &Path, common_name: &str) -> Result<(), Error> {
    let sign_error = |source| Error::Sign {
        what: format!("a new CA certificate for {}", cert_path.display()),
        source,
    };
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(sign_error)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now.saturating_sub(time::Duration::minutes(1));
    params.not_after = now.saturating_add(GENERATED_CA_LIFETIME);
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key).map_err(sign_error)?;

    acme_core::write_atomic(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    acme_core::write_atomic(cert_path, cert.pem().as_bytes(), 0o644)?;
    tracing::info!(
        cert = %cert_path.display(),
        common_name,
        "generated a new local CA; distribute its certificate to clients that should trust it"
    );
    Ok(())
}

/// A positive serial number with 127 bits of randomness, as CAs should use (RFC 5280 §4.1.2.2
/// allows up to 20 octets; CA/B Forum asks for at least 64 random bits).
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Clear the sign bit, and keep the first octet non-zero so the encoding stays 16 octets.
    bytes[0] = (bytes[0] & 0x7f).max(1);
    SerialNumber::from_slice(&bytes)
}

fn read_certificate(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|source| Error::ReadCertificate {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map(|(_, pem)| pem.contents)
        .map_err(|e| format!("invalid PEM: {e}"))
}

fn check_is_ca(cert: &X509Certificate<'_>) -> Result<(), String> {
    let constraints = cert
        .basic_constraints()
        .map_err(|e| format!("malformed basicConstraints extension: {e}"))?;
    if !constraints.is_some_and(|c| c.value.ca) {
        return Err("not a CA certificate (basicConstraints CA:TRUE is missing)".into());
    }
    let usage = cert
        .key_usage()
        .map_err(|e| format!("malformed keyUsage extension: {e}"))?;
    if usage.is_some_and(|u| !u.value.key_cert_sign()) {
        return Err("its keyUsage does not allow signing certificates (keyCertSign)".into());
    }
    Ok(())
}

fn is_self_issued(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

fn pem_is_self_issued(pem: &str) -> bool {
    pem_to_der(pem).is_ok_and(|der| {
        X509Certificate::from_der(&der).is_ok_and(|(_, cert)| is_self_issued(&cert))
    })
}
