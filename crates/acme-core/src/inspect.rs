use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::{Error, KeyType};

/// What acmekeep needs to know about a deployed or freshly issued certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject, as an RFC 4514 string.
    pub subject: String,
    /// The issuer, as an RFC 4514 string.
    pub issuer: String,
    /// The serial number, lower-case hex without separators.
    pub serial: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// The DNS names of the subjectAltName extension, in certificate order.
    pub names: Vec<String>,
    /// The key type of the certificate's public key, if acmekeep knows it.
    pub key_type: Option<KeyType>,
    /// The DER SubjectPublicKeyInfo, to match the certificate against a private key.
    pub public_key_der: Vec<u8>,
}

impl CertInfo {
    /// Parses the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<CertInfo, Error> {
        let der = CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()
            .ok_or_else(|| Error::Certificate("no PEM certificate found".into()))?
            .map_err(|e| Error::Certificate(format!("invalid PEM: {e}")))?;
        CertInfo::from_der(&der)
    }

    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertInfo, Error> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::Certificate(format!("invalid X.509 certificate: {e}")))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(dns) = name {
                    names.push(dns.to_string());
                }
            }
        }
        let spki = cert.public_key().raw.to_vec();
        Ok(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.tbs_certificate.raw_serial_as_string().replace(':', ""),
            not_before: to_system_time(cert.validity().not_before.timestamp()),
            not_after: to_system_time(cert.validity().not_after.timestamp()),
            names,
            key_type: key_type_of_spki(&cert),
            public_key_der: spki,
        })
    }

    /// Total validity period.
    pub fn lifetime(&self) -> Duration {
        self.not_after
            .duration_since(self.not_before)
            .unwrap_or_default()
    }

    /// Whether the certificate is valid for exactly these names (order does not matter,
    /// DNS names compare case-insensitively).
    pub fn covers_exactly(&self, names: &[String]) -> bool {
        let mut want: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        let mut have: Vec<String> = self.names.iter().map(|n| n.to_ascii_lowercase()).collect();
        want.sort();
        want.dedup();
        have.sort();
        have.dedup();
        want == have
    }
}

fn to_system_time(unix: i64) -> SystemTime {
    if unix >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    }
}

fn key_type_of_spki(cert: &X509Certificate<'_>) -> Option<KeyType> {
    use x509_parser::public_key::{ECPoint, PublicKey};
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(KeyType::Rsa2048),
            3072 => Some(KeyType::Rsa3072),
            4096 => Some(KeyType::Rsa4096),
            _ => None,
        },
        PublicKey::EC(ECPoint { .. }) => {
            let curve = cert
                .public_key()
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())?;
            match curve.to_id_string().as_str() {
                "1.2.840.10045.3.1.7" => Some(KeyType::EcdsaP256),
                "1.3.132.0.34" => Some(KeyType::EcdsaP384),
                _ => None,
            }
        }
        _ if cert.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112" => {
            Some(KeyType::Ed25519)
        }
        _ => None,
    }
}

/// Splits a PEM text into one PEM string per certificate, ignoring anything else in it.
pub fn split_pem_certificates(pem: &str) -> Result<Vec<String>, Error> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|der| {
            let der = der.map_err(|e| Error::Certificate(format!("invalid PEM: {e}")))?;
            Ok(der_to_pem(&der))
        })
        .collect()
}

/// Encodes one DER certificate as PEM.
pub fn der_to_pem(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrivateKeyPem;
    use rcgen::{CertificateParams, DnType};

    fn self_signed(names: &[&str], key: &rcgen::KeyPair) -> String {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.self_signed(key).expect("sign").pem()
    }

    #[test]
    fn reads_names_dates_serial_and_key_type() {
        for kind in KeyType::ALL {
            let key = kind.generate().expect("key");
            let pem = self_signed(&["a.example.test", "*.b.example.test"], &key);
            let info = CertInfo::from_pem(&pem).expect("parse");
            assert_eq!(info.names, ["a.example.test", "*.b.example.test"]);
            assert!(info.not_before < info.not_after);
            assert!(!info.serial.is_empty());
            assert!(info.subject.contains("a.example.test"));
            assert_eq!(info.key_type, Some(kind), "{kind}");
        }
    }

    #[test]
    fn matches_only_its_own_key() {
        let key = KeyType::EcdsaP256.generate().expect("key");
        let other = KeyType::EcdsaP256.generate().expect("key");
        let info = CertInfo::from_pem(&self_signed(&["a.test"], &key)).expect("parse");
        assert!(info.matches_key(&PrivateKeyPem::from_key_pair(&key).expect("encode")));
        assert!(!info.matches_key(&PrivateKeyPem::from_key_pair(&other).expect("encode")));
    }

    #[test]
    fn name_comparison_ignores_order_and_case() {
        let key = KeyType::EcdsaP256.generate().expect("key");
        let info = CertInfo::from_pem(&self_signed(&["a.test", "B.test"], &key)).expect("parse");
        assert!(info.covers_exactly(&["b.test".into(), "a.test".into()]));
        assert!(!info.covers_exactly(&["a.test".into()]));
    }

    #[test]
    fn garbage_is_a_clean_error() {
        assert!(CertInfo::from_pem("not a certificate").is_err());
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(CertInfo::from_pem(bad).is_err());
    }

    #[test]
    fn splits_a_bundle_into_certificates() {
        let key = KeyType::EcdsaP256.generate().expect("key");
        let one = self_signed(&["a.test"], &key);
        let two = self_signed(&["b.test"], &key);
        let parts = split_pem_certificates(&format!("{one}\n{two}")).expect("split");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            CertInfo::from_pem(&parts[1]).expect("parse").names,
            ["b.test"]
        );
    }
}
