use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use acme_core::{Challenge, ChallengeKind, DnsProvider, Health, Progress, Solver};
use async_trait::async_trait;
use tokio::time::Instant;

use crate::lookup::{DirectQuery, Discovery, Served, is_within, normalize};
use crate::{Dns01Config, Error};

/// The first pause between two rounds of propagation queries.
const FIRST_POLL: Duration = Duration::from_millis(50);
/// The longest pause between two rounds.
const MAX_POLL: Duration = Duration::from_secs(2);

/// Where a challenge value goes: the zone and the record name (after CNAMEs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The zone the provider is asked to change, e.g. `example.com`.
    pub zone: String,
    /// The TXT record name, e.g. `_acme-challenge.www.example.com` or a CNAME's target.
    pub fqdn: String,
}

/// What [`Dns01Solver::probe`] found out.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The zone and record name a challenge for the identifier is written at.
    pub placement: Placement,
    /// The servers that were checked.
    pub servers: Vec<SocketAddr>,
    /// How long it took until every server served the probe value.
    pub propagation: Duration,
}

/// The DNS-01 solver: writes `_acme-challenge.<name>` TXT values through a [`DnsProvider`]
/// and returns from `present` only once every authoritative server serves the value.
pub struct Dns01Solver {
    name: String,
    config: Dns01Config,
    provider: Arc<dyn DnsProvider>,
    discovery: Discovery,
    /// Values `present` left in DNS, by (identifier, value), for `cleanup` to remove.
    presented: Mutex<HashMap<(String, String), Placement>>,
}

impl std::fmt::Debug for Dns01Solver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns01Solver")
            .field("name", &self.name)
            .field("provider", &self.provider.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Dns01Solver {
    /// Builds the solver named `name` (for messages) over `provider`; fails if `zone` is not
    /// a DNS name or the system resolver configuration cannot be read.
    pub fn new(
        name: impl Into<String>,
        mut config: Dns01Config,
        provider: Arc<dyn DnsProvider>,
    ) -> Result<Self, Error> {
        if let Some(zone) = &config.zone {
            let zone = normalize(zone);
            if zone.is_empty() || zone.split('.').any(str::is_empty) {
                return Err(Error::Config(format!(
                    "zone {:?} is not a DNS name",
                    config.zone.as_deref().unwrap_or_default()
                )));
            }
            config.zone = Some(zone);
        }
        let discovery = Discovery::new(&config.nameservers)?;
        Ok(Dns01Solver {
            name: name.into(),
            config,
            provider,
            discovery,
            presented: Mutex::new(HashMap::new()),
        })
    }

    /// Finds where a challenge for `identifier` is written: `_acme-challenge.<identifier>`,
    /// or the end of its CNAME chain when `follow_cname` is on, in the configured or
    /// discovered zone.
    pub async fn placement(&self, identifier: &str) -> Result<Placement, Error> {
        let identifier = normalize(identifier.strip_prefix("*.").unwrap_or(identifier));
        let mut fqdn = format!("_acme-challenge.{identifier}");
        if self.config.follow_cname {
            fqdn = self.discovery.follow_cname(&fqdn).await?;
        }
        let zone = match &self.config.zone {
            Some(zone) if is_within(&fqdn, zone) => zone.clone(),
            Some(zone) => {
                return Err(Error::NotInZone {
                    fqdn,
                    zone: zone.clone(),
                });
            }
            None => self.discovery.find_zone(&fqdn).await?,
        };
        Ok(Placement { zone, fqdn })
    }

    /// Removes `value` for `identifier` from wherever `present` would write it: for values a
    /// previous process wrote and could not remove (it was killed). Removing a value that is
    /// not there succeeds.
    pub async fn remove_value(
        &self,
        identifier: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        let placement = self
            .placement(identifier)
            .await
            .map_err(|e| self.error(e))?;
        self.remove(&placement, value).await
    }

    /// The provider's health for the zone a challenge for `identifier` is written to: a
    /// read-only call, nothing written. A zone that cannot be found is reported unreachable.
    pub async fn health(&self, identifier: &str) -> Health {
        match self.placement(identifier).await {
            Ok(placement) => self.provider.health(&placement.zone).await,
            Err(err) => Health::unreachable(
                format!("the zone of _acme-challenge.{identifier}"),
                err.to_string(),
            ),
        }
    }

    /// The kind of DNS provider the solver writes through, e.g. `rfc2136`.
    pub fn provider_name(&self) -> &str {
        self.provider.name()
    }

    /// Writes a throwaway value for `identifier` through the provider, waits until every
    /// server serves it, removes it again, and reports where it went and how long it took.
    pub async fn probe(&self, identifier: &str) -> Result<ProbeReport, acme_core::Error> {
        let placement = self
            .placement(identifier)
            .await
            .map_err(|e| self.error(e))?;
        let value = format!("acmekeep-probe-{:016x}", rand::random::<u64>());
        let (servers, propagation) = self.write_and_wait(&placement, &value).await?;
        self.remove(&placement, &value).await?;
        Ok(ProbeReport {
            placement,
            servers,
            propagation,
        })
    }

    /// Sets the value and waits for it. If anything fails after the value was written, or the
    /// caller gives up on the future, the value is removed again: on success the caller owns it.
    async fn write_and_wait(
        &self,
        placement: &Placement,
        value: &str,
    ) -> Result<(Vec<SocketAddr>, Duration), acme_core::Error> {
        self.provider
            .set_txt(&placement.zone, &placement.fqdn, value)
            .await
            .map_err(|e| self.provider_error(e))?;
        let mut guard = RemoveOnDrop {
            provider: Arc::clone(&self.provider),
            placement: Some(placement.clone()),
            value: value.to_string(),
        };
        match self.wait_for(placement, value).await {
            Ok(done) => {
                guard.placement = None;
                Ok(done)
            }
            Err(err) => {
                guard.placement = None;
                if let Err(cleanup) = self.remove(placement, value).await {
                    tracing::warn!(solver = %self.name, record = %placement.fqdn, error = %cleanup,
                        "removing the challenge value after a failed propagation check failed");
                }
                Err(self.error(err))
            }
        }
    }

    async fn remove(&self, placement: &Placement, value: &str) -> Result<(), acme_core::Error> {
        self.provider
            .remove_txt(&placement.zone, &placement.fqdn, value)
            .await
            .map_err(|e| self.provider_error(e))
    }

    /// Polls every server until all serve `value` or `propagation_timeout` runs out.
    async fn wait_for(
        &self,
        placement: &Placement,
        value: &str,
    ) -> Result<(Vec<SocketAddr>, Duration), Error> {
        if !self.config.check_propagation {
            tracing::warn!(solver = %self.name, record = %placement.fqdn,
                "check_propagation = false: telling the CA to validate without checking that the record is served");
            return Ok((Vec::new(), Duration::ZERO));
        }
        let start = Instant::now();
        let deadline = start + self.config.propagation_timeout;
        let (servers, recursion) = if self.config.resolvers.is_empty() {
            let servers = self
                .discovery
                .authoritative_servers(&placement.zone, self.config.authoritative_port)
                .await?;
            (servers, false)
        } else {
            (self.config.resolvers.clone(), true)
        };
        let mut pending = servers
            .iter()
            .map(|server| DirectQuery::new(*server, recursion))
            .collect::<Result<Vec<_>, _>>()?;
        let mut last_seen: HashMap<SocketAddr, Served> = HashMap::new();
        let mut pause = FIRST_POLL;
        let mut progress = Progress::new(start.into_std(), Progress::EVERY);
        loop {
            let round =
                futures::future::join_all(pending.iter().map(|query| query.txt(&placement.fqdn)));
            if let Ok(answers) = tokio::time::timeout_at(deadline, round).await {
                let mut still = Vec::new();
                for (query, served) in pending.into_iter().zip(answers) {
                    if !matches!(&served, Served::Values(values) if values.iter().any(|v| v == value))
                    {
                        last_seen.insert(query.server, served);
                        still.push(query);
                    }
                }
                pending = still;
            }
            if pending.is_empty() {
                let took = start.elapsed();
                tracing::info!(solver = %self.name, record = %placement.fqdn, zone = %placement.zone,
                    servers = servers.len(), took_ms = took.as_millis() as u64,
                    "challenge TXT value served by every server");
                return Ok((servers, took));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Propagation {
                    fqdn: placement.fqdn.clone(),
                    timeout: self.config.propagation_timeout,
                    missing: pending
                        .iter()
                        .map(|query| describe(query.server, last_seen.get(&query.server)))
                        .collect(),
                });
            }
            if let Some(waited) = progress.due(now.into_std()) {
                let waiting_for: Vec<String> = pending
                    .iter()
                    .map(|query| describe(query.server, last_seen.get(&query.server)))
                    .collect();
                tracing::info!(solver = %self.name, record = %placement.fqdn, zone = %placement.zone,
                    waited_s = waited.as_secs(), timeout_s = self.config.propagation_timeout.as_secs(),
                    waiting_for = %waiting_for.join("; "),
                    "still waiting for every server to serve the challenge TXT value");
            }
            tokio::time::sleep_until(deadline.min(now + pause)).await;
            pause = next_pause(pause);
        }
    }

    /// Wraps this crate's error with the solver's name.
    fn error(&self, error: Error) -> acme_core::Error {
        acme_core::Error::Solver {
            solver: self.name.clone(),
            kind: error.kind(),
            source: Box::new(error),
        }
    }

    /// Wraps the provider's error with the solver's name, keeping the provider's kind.
    fn provider_error(&self, error: acme_core::Error) -> acme_core::Error {
        acme_core::Error::Solver {
            solver: self.name.clone(),
            kind: error.kind(),
            source: Box::new(error),
        }
    }

    fn presented(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Placement>> {
        self.presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Solver for Dns01Solver {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Dns01
    }

    async fn present(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        let placement = self
            .placement(&challenge.identifier)
            .await
            .map_err(|e| self.error(e))?;
        self.write_and_wait(&placement, &challenge.dns_value)
            .await?;
        self.presented().insert(
            (challenge.identifier.clone(), challenge.dns_value.clone()),
            placement,
        );
        Ok(())
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        let key = (challenge.identifier.clone(), challenge.dns_value.clone());
        let Some(placement) = self.presented().remove(&key) else {
            // `present` failed and removed its value itself, or never wrote one.
            return Ok(());
        };
        self.remove(&placement, &challenge.dns_value).await
    }
}

/// Removes a value written by a `present` whose future was dropped before it finished
/// (issuance cancelled or past its deadline): acme-core cleans up only challenges whose
/// `present` returned.
struct RemoveOnDrop {
    provider: Arc<dyn DnsProvider>,
    placement: Option<Placement>,
    value: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(placement) = self.placement.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(record = %placement.fqdn, "challenge value left in DNS: no runtime to remove it");
            return;
        };
        let provider = Arc::clone(&self.provider);
        let value = std::mem::take(&mut self.value);
        runtime.spawn(async move {
            if let Err(err) = provider
                .remove_txt(&placement.zone, &placement.fqdn, &value)
                .await
            {
                tracing::warn!(record = %placement.fqdn, error = %err,
                    "removing the challenge value of an abandoned present failed");
            }
        });
    }
}

/// The pause after `pause`: ×1.5, at most [`MAX_POLL`].
fn next_pause(pause: Duration) -> Duration {
    pause.mul_f64(1.5).min(MAX_POLL)
}

/// One server in a propagation timeout message: its address and what it served instead.
fn describe(server: SocketAddr, served: Option<&Served>) -> String {
    match served {
        None => format!("{server} did not answer in time"),
        Some(Served::Values(values)) if values.is_empty() => format!("{server} served no value"),
        Some(Served::Values(values)) => format!("{server} served only {values:?}"),
        Some(Served::Failed(reason)) => format!("{server} failed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_starts_fast_and_slows_to_two_seconds() {
        let mut pause = FIRST_POLL;
        let mut pauses = vec![pause];
        for _ in 0..12 {
            pause = next_pause(pause);
            pauses.push(pause);
        }
        assert_eq!(pauses[1], Duration::from_millis(75));
        assert_eq!(pauses[2], Duration::from_micros(112_500));
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*pauses.last().expect("pauses"), MAX_POLL);
    }

    #[test]
    fn timeout_descriptions_say_what_each_server_served() {
        let server: SocketAddr = "192.0.2.1:53".parse().expect("address");
        assert_eq!(
            describe(server, None),
            "192.0.2.1:53 did not answer in time"
        );
        assert_eq!(
            describe(server, Some(&Served::Values(vec![]))),
            "192.0.2.1:53 served no value"
        );
        assert_eq!(
            describe(server, Some(&Served::Values(vec!["old".into()]))),
            "192.0.2.1:53 served only [\"old\"]"
        );
    }
}
