use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use sink_kubernetes::{ApiCall, Cluster};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Error, LeaderElectionConfig};

/// A candidate for leadership on one Lease; [`Elector::start`] begins campaigning.
#[derive(Debug)]
pub struct Elector {
    config: LeaderElectionConfig,
    identity: String,
}

impl Elector {
    /// Validates `config` and settles this replica's identity.
    pub fn new(config: LeaderElectionConfig) -> Result<Elector, Error> {
        config.validate()?;
        let identity = config.identity.clone().unwrap_or_else(default_identity);
        Ok(Elector { config, identity })
    }

    /// The name this replica writes into the Lease's `holderIdentity`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Spawns the campaign on the current tokio runtime and returns its handle.
    pub fn start(self) -> Leadership {
        let (leader_tx, leader) = watch::channel(false);
        let (term_tx, term) = watch::channel(None);
        let stop = CancellationToken::new();
        let campaign = Campaign {
            lease_seconds: i32::try_from(self.config.lease_duration.as_secs_f64().ceil() as u64)
                .unwrap_or(i32::MAX),
            config: self.config,
            identity: self.identity,
            leader_tx,
            term_tx,
            stop: stop.clone(),
        };
        let task = tokio::spawn(campaign.run());
        Leadership {
            leader,
            term,
            stop,
            task: Some(task),
        }
    }
}

/// The running campaign: tells whether this replica leads, hands out one cancellation token
/// per term, and releases the Lease on [`Leadership::shutdown`].
///
/// Dropping it without `shutdown` aborts the campaign like a killed process: the Lease is
/// not released, and another replica takes over once it expires.
#[derive(Debug)]
pub struct Leadership {
    leader: watch::Receiver<bool>,
    term: watch::Receiver<Option<CancellationToken>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Whether this replica holds the Lease now.
    pub fn is_leader(&self) -> bool {
        *self.leader.borrow()
    }

    /// A receiver of "am I leader", updated on every change.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leader.clone()
    }

    /// Waits until this replica leads and returns a token that is cancelled when this term
    /// ends (renewal failed past `renew_deadline`, the Lease was taken, or shutdown).
    /// `None` when the campaign has ended.
    pub async fn acquired(&mut self) -> Option<CancellationToken> {
        let term = self.term.wait_for(|term| term.is_some()).await.ok()?;
        term.clone()
    }

    /// Stops campaigning; a leader steps down first and then releases the Lease so another
    /// replica takes over at once.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

struct Campaign {
    config: LeaderElectionConfig,
    identity: String,
    lease_seconds: i32,
    leader_tx: watch::Sender<bool>,
    term_tx: watch::Sender<Option<CancellationToken>>,
    stop: CancellationToken,
}

/// The last change of the Lease a candidate saw, and when it saw it (its own clock).
struct Observed {
    resource_version: Option<String>,
    at: Instant,
}

impl Campaign {
    async fn run(self) {
        let Some(cluster) = self.connect().await else {
            return;
        };
        let api: Api<Lease> = Api::namespaced(cluster.client(), &self.config.namespace);
        let mut observed: Option<Observed> = None;
        loop {
            let acquired = tokio::select! {
                () = self.stop.cancelled() => return,
                result = self.try_acquire(&api, cluster.url(), &mut observed) => result,
            };
            match acquired {
                Ok(Some(started)) => {
                    if self.lead(&api, cluster.url(), started).await {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "leader election: cannot acquire the Lease"),
            }
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(self.config.retry_period) => {}
            }
        }
    }

    async fn connect(&self) -> Option<Cluster> {
        loop {
            match self.config.cluster.connect().await {
                Ok(cluster) => return Some(cluster),
                Err(e) => tracing::warn!(error = %e, "leader election: cannot connect"),
            }
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(self.config.retry_period) => {}
            }
        }
    }

    fn call<'a>(&'a self, verb: &'a str) -> ApiCall<'a> {
        ApiCall {
            verb,
            resource: "leases",
            group: "coordination.k8s.io",
            namespace: &self.config.namespace,
            name: &self.config.name,
        }
    }

    /// One attempt to become leader; `Some(when the winning request was sent)` on success.
    async fn try_acquire(
        &self,
        api: &Api<Lease>,
        url: &str,
        observed: &mut Option<Observed>,
    ) -> Result<Option<Instant>, Error> {
        let started = Instant::now();
        let current = api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.call("get").error(e, url))?;
        let Some(lease) = current else {
            let lease = self.lease(ObjectMeta::default(), None, 0);
            return match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Some(started)),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
                Err(e) => Err(self.call("create").error(e, url).into()),
            };
        };
        let rv = lease.metadata.resource_version.clone();
        if observed.as_ref().is_none_or(|o| o.resource_version != rv) {
            *observed = Some(Observed {
                resource_version: rv,
                at: started,
            });
        }
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let duration = Duration::from_secs(
            u64::try_from(spec.lease_duration_seconds.unwrap_or(self.lease_seconds)).unwrap_or(0),
        );
        let expired = observed
            .as_ref()
            .is_some_and(|o| o.at.elapsed() >= duration);
        if holder.is_some_and(|h| h != self.identity) && !expired {
            return Ok(None);
        }
        let transitions = spec.lease_transitions.unwrap_or(0)
            + i32::from(holder.is_some_and(|h| h != self.identity));
        let acquire_time = if holder == Some(self.identity.as_str()) {
            spec.acquire_time
        } else {
            None
        };
        let update = self.lease(lease.metadata, acquire_time, transitions);
        match api
            .replace(&self.config.name, &PostParams::default(), &update)
            .await
        {
            Ok(_) => Ok(Some(started)),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(None),
            Err(e) => Err(self.call("update").error(e, url).into()),
        }
    }

    /// Leads until the term ends; `true` when the campaign should end (shutdown).
    async fn lead(&self, api: &Api<Lease>, url: &str, started: Instant) -> bool {
        let term = CancellationToken::new();
        tracing::info!(identity = %self.identity, lease = %self.config.name, "leader election: now leading");
        self.term_tx.send_replace(Some(term.clone()));
        self.leader_tx.send_replace(true);
        let mut last_ok = started;
        let stopping = loop {
            let deadline = last_ok + self.config.renew_deadline;
            tokio::select! {
                () = self.stop.cancelled() => break true,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(identity = %self.identity, "leader election: no renewal succeeded within renew_deadline; stepping down");
                    break false;
                }
                () = tokio::time::sleep(self.config.retry_period) => {}
            }
            let attempt = Instant::now();
            let renewed = tokio::select! {
                () = self.stop.cancelled() => break true,
                result = tokio::time::timeout_at(deadline, self.renew(api, url)) => result,
            };
            match renewed {
                Ok(Ok(true)) => last_ok = attempt,
                Ok(Ok(false)) => {
                    tracing::warn!(identity = %self.identity, "leader election: the Lease was taken by another replica; stepping down");
                    break false;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "leader election: renewal failed"),
                Err(_) => {
                    tracing::warn!(identity = %self.identity, "leader election: renewal did not finish within renew_deadline; stepping down");
                    break false;
                }
            }
        };
        term.cancel();
        self.term_tx.send_replace(None);
        self.leader_tx.send_replace(false);
        if stopping {
            let release = self.release(api, url);
            match tokio::time::timeout(self.config.renew_deadline, release).await {
                Ok(Ok(())) => {
                    tracing::info!(identity = %self.identity, "leader election: released the Lease")
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "leader election: could not release the Lease")
                }
                Err(_) => tracing::warn!("leader election: releasing the Lease timed out"),
            }
        }
        stopping
    }

    /// Renews the Lease; `false` when another replica holds it.
    async fn renew(&self, api: &Api<Lease>, url: &str) -> Result<bool, Error> {
        let lease = api
            .get(&self.config.name)
            .await
            .map_err(|e| self.call("get").error(e, url))?;
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let update = self.lease(lease.metadata, spec.acquire_time, transitions);
        api.replace(&self.config.name, &PostParams::default(), &update)
            .await
            .map_err(|e| self.call("update").error(e, url))?;
        Ok(true)
    }

    /// Clears the holder so that the next candidate need not wait for expiry.
    async fn release(&self, api: &Api<Lease>, url: &str) -> Result<(), Error> {
        let lease = api
            .get(&self.config.name)
            .await
            .map_err(|e| self.call("get").error(e, url))?;
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        let released = Lease {
            metadata: lease.metadata,
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(now()),
                acquire_time: None,
                lease_transitions: spec.lease_transitions,
                ..LeaseSpec::default()
            }),
        };
        api.replace(&self.config.name, &PostParams::default(), &released)
            .await
            .map_err(|e| self.call("update").error(e, url))?;
        Ok(())
    }

    /// The Lease held by this replica, renewed now; `metadata` carries the resourceVersion
    /// the update is conditional on.
    fn lease(&self, metadata: ObjectMeta, acquired: Option<MicroTime>, transitions: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                resource_version: metadata.resource_version,
                labels: metadata.labels,
                annotations: metadata.annotations,
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.identity.clone()),
                lease_duration_seconds: Some(self.lease_seconds),
                acquire_time: Some(acquired.unwrap_or_else(now)),
                renew_time: Some(now()),
                lease_transitions: Some(transitions),
                ..LeaseSpec::default()
            }),
        }
    }
}

fn now() -> MicroTime {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    MicroTime(Timestamp::from_microsecond(micros).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// `HOSTNAME-PID`: the pod's name inside Kubernetes, unique per process.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "acmekeep".to_string());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_identity_ends_with_the_process_id() {
        let identity = default_identity();
        assert!(
            identity.ends_with(&format!("-{}", std::process::id())),
            "{identity}"
        );
    }

    #[test]
    fn an_inconsistent_configuration_is_refused_by_the_constructor() {
        let mut config = LeaderElectionConfig::new("acmekeep");
        config.renew_deadline = Duration::from_secs(20);
        let err = Elector::new(config).expect_err("unsafe");
        assert!(err.to_string().starts_with("leader election:"), "{err}");
    }
}
