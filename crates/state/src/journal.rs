//! The challenge records acmekeep has written and not yet removed, kept in
//! `state_dir/challenges.json` (0600): DNS-01 TXT values, and HTTP-01 token files under a
//! webroot. Each is recorded before it is written, so a run that is killed anywhere in between
//! (even inside the atomic write of a token file, whose temporary file it then leaves) is
//! cleaned up by the next run (`--issue` or `run`) before it presents anything.
//!
//! The built-in HTTP-01 and TLS-ALPN-01 listeners need no journal: they end with the process.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use acme_core::{Challenge, ChallengeKind, Solver};
use async_trait::async_trait;
use dns01::Dns01Solver;
use http01::Http01Solver;
use serde::{Deserialize, Serialize};

/// Serialises every read-modify-write of the journal file in this process (the state lock
/// keeps other processes out).
static WRITING: Mutex<()> = Mutex::new(());

/// One challenge record written through a solver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// The configured solver that wrote it.
    solver: String,
    /// The name validated, without `*.`.
    identifier: String,
    /// What was written where.
    #[serde(flatten)]
    record: Record,
}

/// What a solver wrote. Untagged so that journals written before webroot entries existed
/// (`{"solver","identifier","value"}`) still read; the two shapes share no field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Record {
    /// A TXT value (a digest of the key authorization: not a secret).
    Txt { value: String },
    /// The token file `<webroot>/.well-known/acme-challenge/<token>`.
    TokenFile { webroot: PathBuf, token: String },
}

/// The journal file of one state directory.
#[derive(Clone, Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal of `state_dir`.
    pub fn new(state_dir: &Path) -> Journal {
        Journal {
            path: state_dir.join("challenges.json"),
        }
    }

    /// Removes every record a previous run left behind: TXT values through the solver that
    /// wrote them, token files (and their temporary files) from the webroot they were written
    /// to. A record that cannot be removed stays in the journal for the next run; a TXT value
    /// whose solver is no longer configured is forgotten with a warning naming the record.
    /// Call it under the state lock, before anything is presented.
    pub async fn sweep(&self, solvers: &BTreeMap<String, Arc<Dns01Solver>>) {
        if let Err(err) = acme_core::remove_atomic_leftovers(&self.path) {
            tracing::warn!(error = %err, "cannot remove a temporary file of the challenge journal");
        }
        for entry in self.entries() {
            match &entry.record {
                Record::Txt { value } => self.sweep_txt(&entry, value, solvers).await,
                Record::TokenFile { webroot, token } => {
                    match http01::remove_leftovers(webroot, token).await {
                        Ok(()) => {
                            tracing::info!(solver = %entry.solver, name = %entry.identifier,
                                webroot = %webroot.display(),
                                "removed the challenge file of an interrupted run from the webroot");
                            self.forget(&entry);
                        }
                        Err(err) => {
                            tracing::warn!(solver = %entry.solver, name = %entry.identifier,
                            error = %err, "cannot remove the challenge file of an interrupted run from the webroot; trying again next run")
                        }
                    }
                }
            }
        }
    }

    async fn sweep_txt(
        &self,
        entry: &Entry,
        value: &str,
        solvers: &BTreeMap<String, Arc<Dns01Solver>>,
    ) {
        match solvers.get(&entry.solver) {
            Some(solver) => match solver.remove_value(&entry.identifier, value).await {
                Ok(()) => {
                    tracing::info!(solver = %entry.solver, name = %entry.identifier,
                        "removed a challenge value an interrupted run left in DNS");
                    self.forget(entry);
                }
                Err(err) => tracing::warn!(solver = %entry.solver, name = %entry.identifier,
                    error = %err, "cannot remove a challenge value an interrupted run left in DNS; trying again next run"),
            },
            None => {
                tracing::warn!(solver = %entry.solver, name = %entry.identifier,
                    record = %format!("_acme-challenge.{}", entry.identifier),
                    "an interrupted run left a challenge value through a solver that is no longer configured; remove the TXT record by hand");
                self.forget(entry);
            }
        }
    }

    fn entries(&self) -> Vec<Entry> {
        crate::store::read_json(&self.path).unwrap_or_default()
    }

    /// Records `entry` (once).
    fn remember(&self, entry: &Entry) {
        self.update(|entries| {
            if !entries.contains(entry) {
                entries.push(entry.clone());
            }
        });
    }

    /// Drops `entry`.
    fn forget(&self, entry: &Entry) {
        self.update(|entries| entries.retain(|e| e != entry));
    }

    /// Applies `change` to the entries and writes them back (the file is removed when empty).
    fn update(&self, change: impl FnOnce(&mut Vec<Entry>)) {
        let _writing = WRITING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut entries = self.entries();
        change(&mut entries);
        let written = if entries.is_empty() {
            match std::fs::remove_file(&self.path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.to_string()),
                _ => Ok(()),
            }
        } else {
            serde_json::to_vec_pretty(&entries)
                .map_err(|e| e.to_string())
                .and_then(|json| {
                    acme_core::write_atomic(&self.path, &json, 0o600).map_err(|e| e.to_string())
                })
        };
        if let Err(err) = written {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot write the challenge journal");
        }
    }
}

/// A solver whose challenge records are journaled: recorded before they are written,
/// forgotten once removed. Built for dns-01 solvers and for http-01 solvers in webroot mode.
pub struct Journaled {
    inner: Arc<dyn Solver>,
    /// `Some(webroot)` for an http-01 webroot solver, `None` for dns-01.
    webroot: Option<PathBuf>,
    journal: Journal,
}

impl Journaled {
    /// Journals the TXT values `inner` writes in `journal`.
    pub fn dns(inner: Arc<Dns01Solver>, journal: Journal) -> Journaled {
        Journaled {
            inner,
            webroot: None,
            journal,
        }
    }

    /// Journals the token files `inner` writes under its webroot in `journal`; `None` when
    /// `inner` listens itself (nothing outlives the process then).
    pub fn webroot(inner: Arc<Http01Solver>, journal: Journal) -> Option<Journaled> {
        let webroot = inner.webroot()?.to_path_buf();
        Some(Journaled {
            inner,
            webroot: Some(webroot),
            journal,
        })
    }

    fn entry(&self, challenge: &Challenge) -> Entry {
        let record = match &self.webroot {
            Some(webroot) => Record::TokenFile {
                webroot: webroot.clone(),
                token: challenge.token.clone(),
            },
            None => Record::Txt {
                value: challenge.dns_value.clone(),
            },
        };
        Entry {
            solver: self.inner.name().to_string(),
            identifier: challenge.identifier.clone(),
            record,
        }
    }
}

#[async_trait]
impl Solver for Journaled {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn kind(&self) -> ChallengeKind {
        self.inner.kind()
    }

    async fn present(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        self.journal.remember(&self.entry(challenge));
        self.inner.present(challenge).await
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        self.inner.cleanup(challenge).await?;
        self.journal.forget(&self.entry(challenge));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::fs::PermissionsExt;

    use acme_core::DnsProvider;
    use dns01::Dns01Config;

    /// A zone in memory: the TXT values at each name, and whether the journal already named
    /// a value when it was written.
    #[derive(Default)]
    struct Zone {
        values: Mutex<Vec<(String, String)>>,
        journaled_first: Mutex<Vec<bool>>,
        journal: Option<PathBuf>,
    }

    #[async_trait]
    impl DnsProvider for Zone {
        fn name(&self) -> &str {
            "memory"
        }

        async fn set_txt(
            &self,
            _zone: &str,
            fqdn: &str,
            value: &str,
        ) -> Result<(), acme_core::Error> {
            let journaled = self
                .journal
                .as_ref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .is_some_and(|text| text.contains(value));
            self.journaled_first.lock().expect("lock").push(journaled);
            self.values
                .lock()
                .expect("lock")
                .push((fqdn.to_string(), value.to_string()));
            Ok(())
        }

        async fn remove_txt(
            &self,
            _zone: &str,
            fqdn: &str,
            value: &str,
        ) -> Result<(), acme_core::Error> {
            self.values
                .lock()
                .expect("lock")
                .retain(|(f, v)| !(f == fqdn && v == value));
            Ok(())
        }
    }

    fn solver(zone: Arc<Zone>) -> Arc<Dns01Solver> {
        let config = Dns01Config {
            zone: Some("example.test".into()),
            follow_cname: false,
            check_propagation: false,
            ..Dns01Config::default()
        };
        Arc::new(Dns01Solver::new("dns", config, zone).expect("solver"))
    }

    fn challenge(value: &str) -> Challenge {
        Challenge {
            kind: ChallengeKind::Dns01,
            identifier: "www.example.test".into(),
            wildcard: false,
            token: "token".into(),
            key_authorization: "token.thumbprint".into(),
            dns_value: value.into(),
        }
    }

    #[tokio::test]
    async fn a_value_is_journaled_before_it_is_written_and_forgotten_once_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = Journal::new(dir.path());
        let zone = Arc::new(Zone {
            journal: Some(journal.path.clone()),
            ..Zone::default()
        });
        let solver = Journaled::dns(solver(Arc::clone(&zone)), journal.clone());

        solver.present(&challenge("v1")).await.expect("present");
        assert_eq!(*zone.journaled_first.lock().expect("lock"), [true]);
        let mode = std::fs::metadata(&journal.path)
            .expect("journal")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        solver.cleanup(&challenge("v1")).await.expect("cleanup");
        assert!(zone.values.lock().expect("lock").is_empty());
        assert!(!journal.path.exists(), "an empty journal is removed");
    }

    #[tokio::test]
    async fn the_next_run_removes_what_a_killed_run_left_in_dns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = Arc::new(Zone::default());
        let killed = Journaled::dns(solver(Arc::clone(&zone)), Journal::new(dir.path()));
        killed.present(&challenge("left")).await.expect("present");
        drop(killed);
        zone.values.lock().expect("lock").push((
            "_acme-challenge.www.example.test".into(),
            "someone-else".into(),
        ));

        let solvers = BTreeMap::from([("dns".to_string(), solver(Arc::clone(&zone)))]);
        Journal::new(dir.path()).sweep(&solvers).await;

        assert_eq!(
            *zone.values.lock().expect("lock"),
            [(
                "_acme-challenge.www.example.test".to_string(),
                "someone-else".to_string()
            )],
            "only the journaled value is removed"
        );
        assert!(Journal::new(dir.path()).entries().is_empty());
    }

    #[tokio::test]
    async fn values_of_a_solver_no_longer_configured_are_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = Arc::new(Zone::default());
        Journaled::dns(solver(Arc::clone(&zone)), Journal::new(dir.path()))
            .present(&challenge("left"))
            .await
            .expect("present");

        Journal::new(dir.path()).sweep(&BTreeMap::new()).await;

        assert!(Journal::new(dir.path()).entries().is_empty());
        assert_eq!(
            zone.values.lock().expect("lock").len(),
            1,
            "nothing could remove it"
        );
    }

    fn webroot_solver(webroot: &Path, journal: Journal) -> Journaled {
        let config = http01::Http01Config {
            listen: None,
            webroot: Some(webroot.to_path_buf()),
        };
        let solver = Http01Solver::new("web".into(), config).expect("solver");
        Journaled::webroot(Arc::new(solver), journal).expect("webroot mode is journaled")
    }

    fn http_challenge(token: &str) -> Challenge {
        Challenge {
            kind: ChallengeKind::Http01,
            identifier: "www.example.test".into(),
            wildcard: false,
            token: token.into(),
            key_authorization: format!("{token}.thumbprint"),
            dns_value: String::new(),
        }
    }

    fn challenge_files(webroot: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(webroot.join(".well-known/acme-challenge"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_webroot_token_is_journaled_while_its_file_exists() {
        let state = tempfile::tempdir().expect("tempdir");
        let webroot = tempfile::tempdir().expect("tempdir");
        let journal = Journal::new(state.path());
        let solver = webroot_solver(webroot.path(), journal.clone());

        solver
            .present(&http_challenge("tok-1"))
            .await
            .expect("present");
        assert_eq!(
            journal.entries(),
            [Entry {
                solver: "web".into(),
                identifier: "www.example.test".into(),
                record: Record::TokenFile {
                    webroot: webroot.path().to_path_buf(),
                    token: "tok-1".into()
                },
            }]
        );
        assert_eq!(challenge_files(webroot.path()), ["tok-1"]);

        solver
            .cleanup(&http_challenge("tok-1"))
            .await
            .expect("cleanup");
        assert!(challenge_files(webroot.path()).is_empty());
        assert!(!journal.path.exists(), "an empty journal is removed");
    }

    /// Regression (issue 12, item 2): a run killed between write_atomic's temporary file and
    /// its rename left `.TOKEN.tmp.…` in the webroot, which no later run removed.
    #[tokio::test]
    async fn the_next_run_removes_token_and_temporary_files_a_killed_run_left() {
        let state = tempfile::tempdir().expect("tempdir");
        let webroot = tempfile::tempdir().expect("tempdir");
        let killed = webroot_solver(webroot.path(), Journal::new(state.path()));
        killed
            .present(&http_challenge("done"))
            .await
            .expect("present");
        killed
            .present(&http_challenge("mid-write"))
            .await
            .expect("present");
        drop(killed);
        let dir = webroot.path().join(".well-known/acme-challenge");
        // "mid-write" was killed after its temporary file was created, before the rename.
        std::fs::remove_file(dir.join("mid-write")).expect("undo the rename");
        std::fs::write(dir.join(".mid-write.tmp.1234abcd1234abcd"), "half").expect("temp");
        std::fs::write(dir.join("not-ours"), "another tool's file").expect("other");

        Journal::new(state.path()).sweep(&BTreeMap::new()).await;

        assert_eq!(challenge_files(webroot.path()), ["not-ours"]);
        assert!(Journal::new(state.path()).entries().is_empty());
    }

    #[tokio::test]
    async fn a_journal_of_dns_values_written_before_webroot_entries_still_reads() {
        let state = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            state.path().join("challenges.json"),
            r#"[{"solver":"dns","identifier":"www.example.test","value":"left"}]"#,
        )
        .expect("journal");
        let zone = Arc::new(Zone::default());
        zone.values
            .lock()
            .expect("lock")
            .push(("_acme-challenge.www.example.test".into(), "left".into()));

        let solvers = BTreeMap::from([("dns".to_string(), solver(Arc::clone(&zone)))]);
        Journal::new(state.path()).sweep(&solvers).await;

        assert!(zone.values.lock().expect("lock").is_empty());
        assert!(Journal::new(state.path()).entries().is_empty());
    }
}
