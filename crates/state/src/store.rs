//! What acmekeep remembers between runs, in `state_dir`: a lock, and one small JSON record
//! per certificate. Nothing here is needed to keep serving: the sinks hold the truth about
//! what is deployed, and every file may be deleted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// Holds the state directory's lock for as long as it lives.
#[derive(Debug)]
pub struct StateLock {
    _lock: Flock<File>,
}

/// Takes the lock of `state_dir`, creating the directory (0700) if needed, or says who holds it.
pub fn lock(state_dir: &Path) -> Result<StateLock, String> {
    acme_core::ensure_private_dir(state_dir, 0o700).map_err(|e| format!("state_dir: {e}"))?;
    let path = state_dir.join("lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, _)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                "another acmekeep".to_string()
            } else {
                format!("another acmekeep (pid {holder})")
            };
            return Err(format!(
                "state_dir {} is in use by {who}; two acmekeep processes must not share a state directory",
                state_dir.display()
            ));
        }
    };
    let pid = std::process::id().to_string();
    let written = lock
        .set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| lock.write_all(pid.as_bytes()));
    if let Err(e) = written {
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(StateLock { _lock: lock })
}

/// The renewal window a CA suggested through ARI, and the instant chosen inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriState {
    /// The serial of the certificate the window is for.
    pub serial: String,
    /// Start of the window.
    #[serde(with = "rfc3339")]
    pub start: SystemTime,
    /// End of the window.
    #[serde(with = "rfc3339")]
    pub end: SystemTime,
    /// The instant chosen once, uniformly at random, inside the window.
    #[serde(with = "rfc3339")]
    pub chosen: SystemTime,
    /// When to ask the CA again.
    #[serde(with = "rfc3339")]
    pub refresh_at: SystemTime,
    /// The CA's explanation URL, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// The outcome of the last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LastResult {
    /// A certificate was issued and deployed.
    Issued,
    /// The attempt failed.
    Failed,
    /// The issuer accepted the request and has not issued yet (an approval, say).
    Pending,
}

/// A certificate `acmekeep revoke` revoked, so that it is not left deployed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The serial of the revoked certificate (lower-case hex, as [`acme_core::CertInfo`] has it).
    pub serial: String,
    /// The RFC 5280 reason given to the CA, e.g. `keyCompromise`.
    pub reason: String,
    /// When it was revoked.
    #[serde(with = "rfc3339")]
    pub revoked_at: SystemTime,
    /// Whether the next `--issue` or daemon pass replaces it; `false` (`--no-reissue`) keeps
    /// it until `--issue NAME --force`.
    pub reissue: bool,
}

/// A deploy hook that failed for a deployed certificate: it is run again, alone (no new
/// issuance), until it succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedHook {
    /// The serial of the deployed certificate the hook failed for.
    pub serial: String,
    /// Consecutive failures.
    pub failures: u32,
    /// When the daemon runs it again (its backoff; `--issue` runs it at once).
    #[serde(with = "rfc3339")]
    pub retry_at: SystemTime,
    /// The last error.
    pub error: String,
}

/// What the deployed certificate was issued from, as configured when it was issued, so a
/// later change of the configuration makes it due.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedFrom {
    /// The serial of the certificate this describes.
    pub serial: String,
    /// Where the issuer gets certificates: the ACME directory URL, the local CA's
    /// certificate file, the Vault URL and path, the Venafi URL and zone.
    pub source: String,
    /// The ACME profile asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The key type.
    pub key: acme_core::KeyType,
    /// The names, as configured.
    pub names: Vec<String>,
}

/// One certificate's record: `state_dir/certificates/NAME.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertState {
    /// The issuer the deployed certificate came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// What the deployed certificate was issued from, besides the issuer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_from: Option<IssuedFrom>,
    /// ARI window of the deployed certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ari: Option<AriState>,
    /// Consecutive failed attempts.
    #[serde(default)]
    pub failures: u32,
    /// Do not try again before this (backoff, or the CA's Retry-After / rate limit).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339::option"
    )]
    pub retry_at: Option<SystemTime>,
    /// When the last attempt ended.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rfc3339::option"
    )]
    pub last_attempt: Option<SystemTime>,
    /// Its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<LastResult>,
    /// Its error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// What kind of failure that error was, when it failed. Records written before
    /// acmekeep stored it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_kind: Option<acme_core::FailureKind>,
    /// The ACME problem type the CA named for that failure (e.g. `connection`), if it
    /// named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_problem: Option<String>,
    /// The serial of the certificate acmekeep last deployed, so that `diagnose` notices a
    /// sink changed by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_serial: Option<String>,
    /// The deploy hook that failed for the deployed certificate, until it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_deploy_hook: Option<FailedHook>,
    /// The last certificate `acmekeep revoke` revoked. Kept in its own file,
    /// `certificates/NAME.revoked.json`, written only by `revoke` and removed only by
    /// `--issue`, so a running daemon saving this record cannot lose it.
    #[serde(skip)]
    pub revoked: Option<Revocation>,
}

impl CertState {
    /// The revocation of the certificate with `serial`, if `acmekeep revoke` revoked it.
    pub fn revocation_of(&self, serial: &str) -> Option<&Revocation> {
        self.revoked.as_ref().filter(|r| r.serial == serial)
    }
}

/// Reads and writes the per-certificate records.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The records under `state_dir`.
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("certificates"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn revocation_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.revoked.json"))
    }

    /// The record of `name`; a missing or unreadable record is an empty one (logged).
    pub fn load(&self, name: &str) -> CertState {
        let mut state: CertState = read_json(&self.path(name)).unwrap_or_default();
        state.revoked = read_json(&self.revocation_path(name));
        state
    }

    /// Writes the record of `name` atomically (0600).
    pub fn save(&self, name: &str, state: &CertState) -> Result<(), String> {
        acme_core::ensure_private_dir(&self.dir, 0o700).map_err(|e| e.to_string())?;
        let json = serde_json::to_vec_pretty(state).map_err(|e| e.to_string())?;
        acme_core::write_atomic(&self.path(name), &json, 0o600).map_err(|e| e.to_string())
    }

    /// Remembers that the deployed certificate of `name` was revoked (atomically, 0600).
    pub fn record_revocation(&self, name: &str, revocation: &Revocation) -> Result<(), String> {
        acme_core::ensure_private_dir(&self.dir, 0o700).map_err(|e| e.to_string())?;
        let json = serde_json::to_vec_pretty(revocation).map_err(|e| e.to_string())?;
        acme_core::write_atomic(&self.revocation_path(name), &json, 0o600)
            .map_err(|e| e.to_string())
    }

    /// Forgets the revocation of `name`, once its certificate was replaced.
    pub fn clear_revocation(&self, name: &str) -> Result<(), String> {
        let path = self.revocation_path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// Reads one JSON record of the state directory; `None` when it is missing, or unreadable
/// (logged).
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .inspect_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable state record; starting afresh");
            })
            .ok(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read state record; starting afresh");
            None
        }
    }
}

/// RFC 3339 timestamps in JSON, readable by people and `jq`.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_rfc3339_millis(*time).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use std::time::SystemTime;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            time: &Option<SystemTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match time {
                Some(time) => super::serialize(time, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<SystemTime>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn records_round_trip_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let state = CertState {
            issuer: Some("le".into()),
            failures: 2,
            retry_at: Some(at),
            last_result: Some(LastResult::Failed),
            last_error: Some("rate limited".into()),
            ..CertState::default()
        };
        store.save("web", &state).expect("save");
        assert_eq!(store.load("web"), state);
        let path = dir.path().join("certificates/web.json");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("\"retry_at\": \"2027-01-15T08:00:00.000Z\""),
            "{text}"
        );
    }

    #[test]
    fn a_missing_or_corrupt_record_is_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        assert_eq!(store.load("web"), CertState::default());
        std::fs::create_dir_all(dir.path().join("certificates")).expect("mkdir");
        std::fs::write(dir.path().join("certificates/web.json"), "{not json").expect("write");
        assert_eq!(store.load("web"), CertState::default());
    }

    #[test]
    fn a_revocation_is_kept_apart_from_the_record_and_survives_its_saves() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let revocation = Revocation {
            serial: "0a1b".into(),
            reason: "keyCompromise".into(),
            revoked_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            reissue: false,
        };
        store.record_revocation("web", &revocation).expect("record");
        // A daemon that loaded the record before the revocation saves it afterwards.
        store.save("web", &CertState::default()).expect("save");
        let state = store.load("web");
        assert_eq!(state.revocation_of("0a1b"), Some(&revocation));
        assert_eq!(state.revocation_of("0c"), None);
        let record = std::fs::read_to_string(dir.path().join("certificates/web.json"))
            .expect("read the record");
        assert!(!record.contains("revoked"), "{record}");
        store.clear_revocation("web").expect("clear");
        store
            .clear_revocation("web")
            .expect("clearing twice is fine");
        assert_eq!(store.load("web").revoked, None);
    }

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = lock(dir.path()).expect("first lock");
        let err = lock(dir.path()).expect_err("second lock");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("must not share a state directory"), "{err}");
    }
}
