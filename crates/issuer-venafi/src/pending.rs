//! Requests TPP has accepted but not issued yet, kept on disk so a later attempt with the
//! same key picks them up instead of requesting again.
//!
//! One JSON file per certificate, `<dir>/<cert_name>.json` (0600): the certificate's DN in
//! TPP and a fingerprint of what was requested (zone, the CSR's public key, the names). The CSR
//! itself is not compared: its signature differs every time for ECDSA keys.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The record of one pending request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingRequest {
    /// The certificate's DN in TPP, e.g. `\VED\Policy\Web\api`.
    pub(crate) certificate_dn: String,
    /// SHA-256 (hex) of the public key and the sorted names requested.
    pub(crate) fingerprint: String,
    /// When the request was made, Unix seconds (for people reading the file).
    pub(crate) requested_at: u64,
}

impl PendingRequest {
    /// A record of a request made now.
    pub(crate) fn new(certificate_dn: String, fingerprint: String) -> PendingRequest {
        let requested_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        PendingRequest {
            certificate_dn,
            fingerprint,
            requested_at,
        }
    }
}

/// Where the records of one issuer live.
pub(crate) struct PendingStore {
    dir: PathBuf,
}

impl PendingStore {
    /// Records kept in `dir` (created 0700 on first write).
    pub(crate) fn new(dir: PathBuf) -> PendingStore {
        PendingStore { dir }
    }

    fn path(&self, cert_name: &str) -> PathBuf {
        self.dir.join(format!("{cert_name}.json"))
    }

    /// The record of `cert_name`, if there is a readable one (an unreadable one is
    /// logged and ignored: a new request is made).
    pub(crate) fn load(&self, cert_name: &str) -> Option<PendingRequest> {
        let path = self.path(cert_name);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable pending-request record");
                None
            }
        }
    }

    /// Writes the record of `cert_name` atomically, 0600.
    pub(crate) fn save(&self, cert_name: &str, record: &PendingRequest) -> Result<(), Error> {
        acme_core::ensure_private_dir(&self.dir, 0o700)?;
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::Config(format!("cannot encode the pending request: {e}")))?;
        acme_core::write_atomic(&self.path(cert_name), &bytes, 0o600)?;
        Ok(())
    }

    /// Forgets the record of `cert_name` (issued, or failed for good).
    pub(crate) fn remove(&self, cert_name: &str) {
        let path = self.path(cert_name);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(file = %path.display(), error = %e, "cannot remove the pending-request record");
        }
    }
}

/// Whether `name` can name a file in a directory of its own (issuer and certificate names).
pub(crate) fn is_file_name(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']))
}

/// The fingerprint of a request: SHA-256 over the zone, the DER SubjectPublicKeyInfo and the
/// names (lower-cased, sorted, de-duplicated).
pub(crate) fn fingerprint(zone: &str, spki_der: &[u8], names: &[String]) -> String {
    let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let mut input = zone.as_bytes().to_vec();
    input.push(0);
    input.extend_from_slice(spki_der);
    for name in names {
        input.push(0);
        input.extend_from_slice(name.as_bytes());
    }
    sha256_hex(&input)
}

/// SHA-256 of `bytes`, lower-case hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The directory of one issuer's records under the daemon's state directory.
pub(crate) fn issuer_dir(state_dir: &Path, issuer: &str) -> PathBuf {
    state_dir.join("venafi").join(issuer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn fingerprints_ignore_name_order_and_case_but_not_the_key_or_zone() {
        let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let web = "\\VED\\Policy\\Web";
        let both = names(&["a.example", "b.example"]);
        let a = fingerprint(web, b"key-1", &names(&["b.example", "A.example"]));
        assert_eq!(a, fingerprint(web, b"key-1", &both));
        assert_ne!(a, fingerprint(web, b"key-2", &both));
        assert_ne!(a, fingerprint(web, b"key-1", &names(&["a.example"])));
        assert_ne!(a, fingerprint("\\VED\\Policy\\Mobile", b"key-1", &both));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn records_round_trip_with_mode_0600_and_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = PendingStore::new(dir.path().join("venafi").join("corp"));
        assert_eq!(store.load("api"), None);
        let record = PendingRequest::new("\\VED\\Policy\\Web\\api".into(), "ab".into());
        store.save("api", &record).expect("save");
        assert_eq!(store.load("api"), Some(record));
        let path = dir.path().join("venafi/corp/api.json");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        store.remove("api");
        assert!(!path.exists());
    }

    #[test]
    fn only_plain_names_name_files() {
        assert!(is_file_name("web-api"));
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(!is_file_name(bad), "{bad:?}");
        }
    }
}
