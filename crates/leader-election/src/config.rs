use std::time::Duration;

use sink_kubernetes::ClusterConfig;

use crate::Error;

/// Configuration of leader election (`[daemon.leader_election]`): which Lease the replicas
/// share and how fast leadership moves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderElectionConfig {
    /// The namespace of the Lease, usually the daemon's own.
    pub namespace: String,
    /// The name of the `coordination.k8s.io/v1` Lease. Default: `acmekeep`.
    #[serde(default = "default_name")]
    pub name: String,
    /// How long a lease is valid after its last renewal; another replica takes over only
    /// after observing no renewal for this long. Default: 15s.
    #[serde(
        default = "default_lease_duration",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal before it steps down;
    /// must be shorter than `lease_duration`. Default: 10s.
    #[serde(
        default = "default_renew_deadline",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub renew_deadline: Duration,
    /// How often the leader renews and candidates try to acquire; must be shorter than
    /// `renew_deadline`. Default: 2s.
    #[serde(
        default = "default_retry_period",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub retry_period: Duration,
    /// This replica's name in the Lease. Default: the host name and the process id
    /// (`acmekeep-7d9f-x2k4l-1`), unique per pod and process.
    #[serde(default)]
    pub identity: Option<String>,
    /// How to reach the API server. Default: `$KUBECONFIG`, else `~/.kube/config`, else the
    /// in-cluster service account.
    #[serde(default)]
    pub cluster: ClusterConfig,
}

impl LeaderElectionConfig {
    /// A configuration for Lease `acmekeep` in `namespace`, every other field at its default.
    pub fn new(namespace: impl Into<String>) -> Self {
        LeaderElectionConfig {
            namespace: namespace.into(),
            name: default_name(),
            lease_duration: default_lease_duration(),
            renew_deadline: default_renew_deadline(),
            retry_period: default_retry_period(),
            identity: None,
            cluster: ClusterConfig::default(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let fail = |reason: String| Err(Error::Config(reason));
        if self.namespace.is_empty() || self.name.is_empty() {
            return fail("`namespace` and `name` must not be empty".to_string());
        }
        if self.lease_duration < Duration::from_secs(1) {
            return fail(format!(
                "`lease_duration` {:?} is shorter than 1s, the Lease's resolution",
                self.lease_duration
            ));
        }
        if self.renew_deadline >= self.lease_duration {
            return fail(format!(
                "`renew_deadline` ({:?}) must be shorter than `lease_duration` ({:?}), so a leader steps down before another replica may take over",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return fail(format!(
                "`retry_period` ({:?}) must be above zero and shorter than `renew_deadline` ({:?}), so a leader gets several tries to renew",
                self.retry_period, self.renew_deadline
            ));
        }
        if self.identity.as_deref() == Some("") {
            return fail("`identity` must not be empty".to_string());
        }
        Ok(())
    }
}

fn default_name() -> String {
    "acmekeep".to_string()
}

fn default_lease_duration() -> Duration {
    Duration::from_secs(15)
}

fn default_renew_deadline() -> Duration {
    Duration::from_secs(10)
}

fn default_retry_period() -> Duration {
    Duration::from_secs(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LeaderElectionConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn only_the_namespace_is_required() {
        let config = parse(r#"{"namespace": "acmekeep"}"#).expect("parse");
        assert_eq!(config, LeaderElectionConfig::new("acmekeep"));
        assert_eq!(config.name, "acmekeep");
        assert_eq!(config.lease_duration, Duration::from_secs(15));
        assert_eq!(config.renew_deadline, Duration::from_secs(10));
        assert_eq!(config.retry_period, Duration::from_secs(2));
        config.validate().expect("the defaults are consistent");
    }

    #[test]
    fn durations_are_human_and_typos_are_named() {
        let config = parse(r#"{"namespace": "a", "lease_duration": "1m", "renew_deadline": "40s", "retry_period": "500ms"}"#)
            .expect("parse");
        assert_eq!(config.lease_duration, Duration::from_secs(60));
        assert_eq!(config.retry_period, Duration::from_millis(500));
        let err = parse(r#"{"namespace": "a", "lease_duraton": "1m"}"#).expect_err("typo");
        assert!(
            err.to_string().contains("unknown field `lease_duraton`"),
            "{err}"
        );
        let err = parse(r#"{"namespace": "a", "retry_period": "soon"}"#).expect_err("bad");
        assert!(err.to_string().contains("\"soon\""), "{err}");
    }

    #[test]
    fn a_renew_deadline_not_shorter_than_the_lease_is_refused() {
        let mut config = LeaderElectionConfig::new("a");
        config.renew_deadline = config.lease_duration;
        let err = config.validate().expect_err("unsafe timing");
        assert!(err.to_string().contains("`renew_deadline`"), "{err}");
        let mut config = LeaderElectionConfig::new("a");
        config.retry_period = config.renew_deadline;
        let err = config.validate().expect_err("no second try");
        assert!(err.to_string().contains("`retry_period`"), "{err}");
    }
}
