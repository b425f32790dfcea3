//! The DNS-01 challenge values acmekeep has written and not yet removed, kept in
//! `state_dir/challenges.json` (0600): a run that is killed between writing a TXT value and
//! removing it leaves the value in DNS, and the next run (`--issue` or `run`) removes it.
//!
//! HTTP-01 and TLS-ALPN-01 need no journal: their listeners end with the process, and webroot
//! token files of a killed run are removed by the next `present` (see `http01`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use acme_core::{Challenge, ChallengeKind, Solver};
use async_trait::async_trait;
use dns01::Dns01Solver;
use serde::{Deserialize, Serialize};

/// Serialises every read-modify-write of the journal file in this process (the state lock
/// keeps other processes out).
static WRITING: Mutex<()> = Mutex::new(());

/// One value written through a dns-01 solver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// The configured solver that wrote it.
    solver: String,
    /// The name validated, without `*.`.
    identifier: String,
    /// The TXT value (a digest of the key authorization: not a secret).
    value: String,
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

    /// Removes every value a previous run left behind, through the solver that wrote it.
    /// A value that cannot be removed stays in the journal for the next run; one whose solver
    /// is no longer configured is forgotten with a warning naming the record.
    pub async fn sweep(&self, solvers: &BTreeMap<String, Arc<Dns01Solver>>) {
        for entry in self.entries() {
            match solvers.get(&entry.solver) {
                Some(solver) => match solver.remove_value(&entry.identifier, &entry.value).await {
                    Ok(()) => {
                        tracing::info!(solver = %entry.solver, name = %entry.identifier,
                            "removed a challenge value an interrupted run left in DNS");
                        self.update(|entries| entries.retain(|e| e != &entry));
                    }
                    Err(err) => tracing::warn!(solver = %entry.solver, name = %entry.identifier,
                        error = %err, "cannot remove a challenge value an interrupted run left in DNS; trying again next run"),
                },
                None => {
                    tracing::warn!(solver = %entry.solver, name = %entry.identifier,
                        record = %format!("_acme-challenge.{}", entry.identifier),
                        "an interrupted run left a challenge value through a solver that is no longer configured; remove the TXT record by hand");
                    self.update(|entries| entries.retain(|e| e != &entry));
                }
            }
        }
    }

    fn entries(&self) -> Vec<Entry> {
        crate::state::read_json(&self.path).unwrap_or_default()
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

/// A dns-01 solver whose values are journaled: recorded before they are written, forgotten
/// once removed.
pub struct Journaled {
    inner: Arc<Dns01Solver>,
    journal: Journal,
}

impl Journaled {
    /// Journals the values `inner` writes in `journal`.
    pub fn new(inner: Arc<Dns01Solver>, journal: Journal) -> Journaled {
        Journaled { inner, journal }
    }

    fn entry(&self, challenge: &Challenge) -> Entry {
        Entry {
            solver: self.inner.name().to_string(),
            identifier: challenge.identifier.clone(),
            value: challenge.dns_value.clone(),
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
        let entry = self.entry(challenge);
        self.journal.update(|entries| {
            if !entries.contains(&entry) {
                entries.push(entry.clone());
            }
        });
        self.inner.present(challenge).await
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        self.inner.cleanup(challenge).await?;
        let entry = self.entry(challenge);
        self.journal
            .update(|entries| entries.retain(|e| e != &entry));
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
        let solver = Journaled::new(solver(Arc::clone(&zone)), journal.clone());

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
        let killed = Journaled::new(solver(Arc::clone(&zone)), Journal::new(dir.path()));
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
        Journaled::new(solver(Arc::clone(&zone)), Journal::new(dir.path()))
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
}
