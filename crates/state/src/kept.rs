//! Certificates that were issued but could not be deployed, kept in
//! `state_dir/kept/NAME.json` (0600, in a 0700 directory) so that the next attempt, by
//! `--issue` or the daemon, deploys them instead of ordering again: a broken sink must not
//! cost the CA's quota on every retry. A kept certificate is used only while it is valid,
//! not yet due, and matches the configuration (names, key type, issuer); it is removed once
//! deployed, or when it is unusable. Its key is never logged.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use acme_core::policy::{self, Assessment, Wanted};
use acme_core::{Bundle, CertInfo, PrivateKeyPem};
use serde::{Deserialize, Serialize};

/// What is kept of one certificate.
#[derive(Serialize, Deserialize)]
struct Record {
    /// The issuer (its name in the configuration) the certificate came from.
    issuer: String,
    /// Why it could not be deployed.
    reason: String,
    cert_pem: String,
    chain_pem: String,
    key_pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_pem: Option<String>,
}

/// The kept certificate of one configured certificate, if any.
pub struct Kept {
    path: PathBuf,
}

impl Kept {
    /// The kept certificate of `cert_name` under `state_dir`.
    pub fn new(state_dir: &Path, cert_name: &str) -> Kept {
        Kept {
            path: state_dir.join("kept").join(format!("{cert_name}.json")),
        }
    }

    /// Where it is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps `bundle`, issued by `issuer` and not deployed because of `reason`.
    pub fn keep(&self, issuer: &str, bundle: &Bundle, reason: &str) -> Result<(), String> {
        let record = Record {
            issuer: issuer.to_string(),
            reason: reason.to_string(),
            cert_pem: bundle.cert_pem.clone(),
            chain_pem: bundle.chain_pem.clone(),
            key_pem: bundle.key.expose().to_string(),
            ca_pem: bundle.ca_pem.clone(),
        };
        if let Some(dir) = self.path.parent() {
            acme_core::ensure_private_dir(dir, 0o700).map_err(|e| e.to_string())?;
        }
        let json = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
        acme_core::write_atomic(&self.path, &json, 0o600).map_err(|e| e.to_string())
    }

    /// Why the kept certificate was not deployed, when one is kept (for `status`).
    pub fn reason(&self) -> Option<String> {
        self.read().map(|record| record.reason)
    }

    /// The kept certificate, when it can still be deployed at `now` as a certificate from
    /// `issuer` (its configured name) that is `wanted`: from that issuer, for exactly the
    /// wanted names and key type, with its own key, and not yet due. An unusable one is
    /// removed (and why is logged).
    pub fn usable(&self, issuer: &str, wanted: &Wanted<'_>, now: SystemTime) -> Option<Bundle> {
        let record = self.read()?;
        let bundle = Bundle {
            cert_pem: record.cert_pem,
            chain_pem: record.chain_pem,
            key: PrivateKeyPem::new(record.key_pem),
            ca_pem: record.ca_pem,
        };
        let unusable = if record.issuer != issuer {
            Some(format!(
                "it came from issuer {:?}, the configuration now says {:?}",
                record.issuer, issuer
            ))
        } else {
            match CertInfo::from_pem(&bundle.cert_pem) {
                Err(err) => Some(err.to_string()),
                Ok(info) => {
                    let key_matches = info.matches_key(&bundle.key);
                    match policy::assess(Some((&info, key_matches)), wanted, now) {
                        Assessment::Valid { .. } => None,
                        Assessment::Issue(reason) => Some(reason.to_string()),
                    }
                }
            }
        };
        match unusable {
            None => Some(bundle),
            Some(why) => {
                tracing::info!(path = %self.path.display(), %why, "the kept certificate cannot be used; discarding it");
                self.clear();
                None
            }
        }
    }

    /// Forgets the kept certificate, if any.
    pub fn clear(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot remove the kept certificate");
            }
        }
    }

    fn read(&self) -> Option<Record> {
        crate::store::read_json(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use acme_core::KeyType;

    use super::*;

    /// What a configured certificate for `names` with the default key and renewal wants.
    fn wanted(names: &[String]) -> Wanted<'_> {
        Wanted {
            names,
            key_type: KeyType::EcdsaP256,
            renew_before: None,
        }
    }

    fn bundle(name: &str) -> Bundle {
        let key = KeyType::EcdsaP256.generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("self-sign");
        Bundle {
            cert_pem: cert.pem(),
            chain_pem: String::new(),
            key: PrivateKeyPem::from_key_pair(&key).expect("encode"),
            ca_pem: None,
        }
    }

    #[test]
    fn a_kept_certificate_is_private_and_usable_while_it_matches_the_configuration() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = Kept::new(dir.path(), "web");
        let issued = bundle("www.example.test");
        kept.keep("le", &issued, "disk full").expect("keep");
        let mode = std::fs::metadata(kept.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(kept.reason().as_deref(), Some("disk full"));
        let now = SystemTime::now();
        assert_eq!(
            kept.usable("le", &wanted(&["www.example.test".to_string()]), now),
            Some(issued)
        );
        kept.clear();
        assert_eq!(kept.reason(), None);
    }

    #[test]
    fn a_kept_certificate_for_other_names_or_another_issuer_is_discarded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = Kept::new(dir.path(), "web");
        let now = SystemTime::now();
        kept.keep("le", &bundle("www.example.test"), "x")
            .expect("keep");
        assert_eq!(
            kept.usable("le", &wanted(&["other.example.test".to_string()]), now),
            None
        );
        assert!(!kept.path().exists());
        kept.keep("le", &bundle("www.example.test"), "x")
            .expect("keep");
        assert_eq!(
            kept.usable("zerossl", &wanted(&["www.example.test".to_string()]), now),
            None
        );
        assert!(!kept.path().exists());
    }
}
