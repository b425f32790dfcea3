use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::Error;

/// The facts about one certificate that an operator asks for first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    /// The subject, RFC 4514 (`CN=www.example.com`).
    pub subject: String,
    /// The issuer, RFC 4514.
    pub issuer: String,
    /// The serial number, lower-case hex without separators.
    pub serial: String,
    /// Start of validity (RFC 3339 in JSON).
    #[serde(with = "rfc3339")]
    pub not_before: SystemTime,
    /// End of validity (RFC 3339 in JSON).
    #[serde(with = "rfc3339")]
    pub not_after: SystemTime,
    /// The subjectAltName entries: DNS names, then IP addresses, in certificate order.
    pub names: Vec<String>,
    /// The public key's type and size: `ECDSA P-256`, `RSA 2048`, `Ed25519`, or the OID.
    pub key: String,
    /// SHA-256 of the DER certificate, lower-case hex: what tells two certificates apart.
    pub sha256: String,
    /// Whether it is a CA certificate (basicConstraints CA:TRUE).
    pub is_ca: bool,
}

impl CertSummary {
    /// Summarizes one DER certificate; `what` names it in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<CertSummary, Error> {
        let cert = parse(der, what)?;
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(name) => dns.push(name.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_from_bytes(bytes) {
                            ips.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        dns.extend(ips);
        Ok(CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.tbs_certificate.raw_serial_as_string().replace(':', ""),
            not_before: system_time(cert.validity().not_before.timestamp()),
            not_after: system_time(cert.validity().not_after.timestamp()),
            names: dns,
            key: describe_key(&cert),
            sha256: sha256_hex(der),
            is_ca: cert.is_ca(),
        })
    }

    /// Seconds until not-after, negative once expired.
    pub fn seconds_left(&self, now: SystemTime) -> i64 {
        signed_seconds(self.not_after, now)
    }

    /// `in 89 days`, `in 5h 12m` (under two days) or `expired 3 days ago`.
    pub fn time_left(&self, now: SystemTime) -> String {
        let left = self.seconds_left(now);
        let span = describe_span(left.unsigned_abs());
        if left > 0 {
            format!("in {span}")
        } else {
            format!("expired {span} ago")
        }
    }

    /// Whether `name` (a DNS name, maybe matched by a `*.` wildcard, or an IP address) is
    /// among the names. Case-insensitive; a wildcard covers exactly one label.
    pub fn covers(&self, name: &str) -> bool {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.names.iter().any(|have| {
            let have = have.to_ascii_lowercase();
            match have.strip_prefix("*.") {
                Some(base) => name
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == base),
                None => have == name,
            }
        })
    }
}

/// Parses one DER certificate; `what` names it in the error.
pub(crate) fn parse<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, Error> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| Error::Certificate {
            what: what.to_string(),
            reason: e.to_string(),
        })
}

/// Every certificate in a PEM text, in order (other PEM blocks, such as a key, are skipped);
/// `what` names the text in errors. An input without any certificate is an error.
pub fn parse_pem_certificates(
    pem: &str,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Certificate {
            what: what.to_string(),
            reason: format!("invalid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            what: what.to_string(),
        });
    }
    for (i, der) in certs.iter().enumerate() {
        parse(der, &format!("{what}, certificate {}", i + 1))?;
    }
    Ok(certs)
}

fn describe_key(cert: &X509Certificate<'_>) -> String {
    let algorithm = cert.public_key().algorithm.algorithm.to_id_string();
    match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = cert
                .public_key()
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ECDSA P-256".to_string(),
                Some("1.3.132.0.34") => "ECDSA P-384".to_string(),
                Some("1.3.132.0.35") => "ECDSA P-521".to_string(),
                Some(other) => format!("ECDSA (curve {other})"),
                None => "ECDSA".to_string(),
            }
        }
        _ if algorithm == "1.3.101.112" => "Ed25519".to_string(),
        _ => format!("unknown ({algorithm})"),
    }
}

/// Whole days from two days on, else hours and minutes.
fn describe_span(secs: u64) -> String {
    let days = secs / 86_400;
    if days >= 2 {
        format!("{days} days")
    } else {
        format!("{}h {}m", secs / 3_600, secs % 3_600 / 60)
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// SHA-256 of `der`, lower-case hex.
pub(crate) fn sha256_hex(der: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn system_time(unix: i64) -> SystemTime {
    if unix >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(unix.unsigned_abs())
    }
}

/// `a - b` in whole seconds, saturating.
fn signed_seconds(a: SystemTime, b: SystemTime) -> i64 {
    match a.duration_since(b) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// `time` as RFC 3339 in seconds, `2026-11-28T07:40:00Z`.
///
/// Not `humantime::format_rfc3339_seconds` alone: it panics before 1970, and a certificate
/// (from a CA, a file or a TLS peer) may carry any date from year 0 to 9999.
pub(crate) fn format_time(time: SystemTime) -> String {
    if time >= UNIX_EPOCH {
        return humantime::format_rfc3339_seconds(time).to_string();
    }
    let when = ::time::OffsetDateTime::from(time);
    when.format(&::time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| format!("year {}", when.year()))
}

/// RFC 3339 (seconds) for `SystemTime` fields.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::Serializer;

    /// Serializes as `2026-11-28T07:40:00Z`.
    pub fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*time))
    }
}
