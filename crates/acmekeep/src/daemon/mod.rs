//! `acmekeep run`: keeps every configured certificate fresh until SIGTERM.
//!
//! One timer queue holds the next event of every certificate; the loop sleeps until the
//! earliest one, so an idle daemon does no work however many certificates it manages.
//! Each due event runs as its own task ([`tend`]); issuance is bounded by
//! `daemon.concurrency`. SIGHUP reloads the configuration, SIGTERM/SIGINT stop cleanly.
//!
//! With `[daemon.leader_election]`, replicas campaign for a Kubernetes Lease and only the
//! holder schedules anything: it starts from every certificate when it wins the Lease, and
//! abandons in-flight issuances (after cleanup) and empties its queue the moment its term
//! ends, which the elector guarantees is before the Lease can expire for another replica.

mod tend;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acme_core::CancellationToken;
use leader_election::{Elector, Leadership};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use renewal::{Event, Queue};
use tend::{Context, Outcome};

use crate::observe::{Metrics, MetricsServer, Readiness};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use configuration::Config;
use configuration::{Components, GeneratedCa};
use state::Journal;
use state::Store;

/// The longest single sleep: wall-clock jumps (suspend, NTP) are noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub async fn run(config: Config) -> u8 {
    let _lock = match state::lock(&config.daemon.state_dir) {
        Ok(lock) => lock,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_FAILED;
        }
    };
    match Daemon::start(config).await {
        Ok(daemon) => daemon.serve().await,
        Err(code) => code,
    }
}

/// The signals the daemon acts on.
struct Signals {
    hup: Signal,
    sigterm: Signal,
    int: Signal,
}

/// The running daemon: the scheduler's state between two events.
struct Daemon {
    /// The configuration file, read again on SIGHUP.
    path: PathBuf,
    /// What the tasks started from now share.
    context: Arc<Context>,
    /// The next event of every certificate.
    queue: Queue,
    /// The current term of leadership; always one without leader election.
    term: Option<CancellationToken>,
    /// The campaign for the Lease, with leader election.
    leadership: Option<Leadership>,
    readiness: Readiness,
    /// Cancelled on shutdown: stops the tasks and the metrics server.
    stop: CancellationToken,
    serving: JoinHandle<()>,
    signals: Signals,
    /// The certificates whose deployed certificate has expired, for `/readyz`.
    expired: BTreeSet<String>,
    tasks: JoinSet<Outcome>,
    /// The certificates a task is working on.
    busy: HashSet<String>,
    exit: u8,
}

impl Daemon {
    /// Sets everything up: metrics, components, the journal sweep, the metrics server,
    /// signals and the campaign; a failure is reported and ends the run with its exit code.
    async fn start(config: Config) -> Result<Daemon, u8> {
        // Installed before the issuers are built, so the ACME client's metrics are registered.
        let metrics = Metrics::install().map_err(|err| {
            eprintln!("error: {err}");
            EXIT_FAILED
        })?;
        let components = Components::build(&config, GeneratedCa::Create).map_err(|err| {
            crate::logging::error(err);
            EXIT_USAGE
        })?;
        Journal::new(&config.daemon.state_dir)
            .sweep(&components.dns_solvers)
            .await;
        components.publish().await;
        let server = MetricsServer::bind(config.daemon.listen_metrics)
            .await
            .map_err(|err| {
                eprintln!("error: {err}");
                EXIT_FAILED
            })?;
        let (Ok(hup), Ok(sigterm), Ok(int)) = (
            signal(SignalKind::hangup()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            eprintln!("error: cannot listen for signals");
            return Err(EXIT_FAILED);
        };
        let leadership = campaign_if_elected(&config)?;
        let path = config.path.clone();
        let stop = CancellationToken::new();
        let readiness = Readiness::new();
        let serving = tokio::spawn(server.serve(metrics.clone(), readiness.clone(), stop.clone()));
        let context = Arc::new(Context {
            store: Store::new(&config.daemon.state_dir),
            issuance: Arc::new(Semaphore::new(config.daemon.concurrency.max(1))),
            config,
            components,
            cancel: stop.child_token(),
            metrics,
        });
        let mut daemon = Daemon {
            path,
            context,
            queue: Queue::default(),
            term: None,
            leadership,
            readiness,
            stop,
            serving,
            signals: Signals { hup, sigterm, int },
            expired: BTreeSet::new(),
            tasks: JoinSet::new(),
            busy: HashSet::new(),
            exit: EXIT_OK,
        };
        // Without leader election this replica always leads, in one term that never ends.
        if daemon.leadership.is_none() {
            schedule_all(&mut daemon.queue, &daemon.context);
            daemon.term = Some(CancellationToken::new());
        }
        Ok(daemon)
    }

    /// The scheduler's loop: sleeps until the earliest event, a finished task, a signal or
    /// a change of leadership; then shuts down and returns the exit code.
    async fn serve(mut self) -> u8 {
        tracing::info!(
            certificates = self.context.config.certificates.len(),
            "acmekeep is running"
        );
        self.readiness.set_loaded(true);
        notify(&[sd_notify::NotifyState::Ready]);
        loop {
            let now = SystemTime::now();
            let leading = self.term.is_some();
            self.spawn_due(now);
            let sleep = self
                .queue
                .next_due()
                .map(|at| at.duration_since(now).unwrap_or_default())
                .unwrap_or(MAX_SLEEP)
                .min(MAX_SLEEP);
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                Some(done) = self.tasks.join_next() => match done {
                    Ok(outcome) => self.finished(outcome, leading),
                    Err(err) => tracing::error!(error = %err, "a certificate task failed"),
                },
                _ = self.signals.hup.recv() => self.reload(leading).await,
                won = campaign(&mut self.leadership), if !leading => {
                    let Some(won) = won else {
                        tracing::error!("leader election ended; stopping (see the errors above)");
                        self.exit = EXIT_FAILED;
                        break;
                    };
                    self.lead(won);
                }
                () = term_ended(&self.term), if leading => self.step_down(),
                _ = self.signals.sigterm.recv() => break,
                _ = self.signals.int.recv() => break,
            }
        }
        self.shut_down().await
    }

    /// Starts a task for every due event of a configured certificate no task works on.
    fn spawn_due(&mut self, now: SystemTime) {
        while let Some((name, event)) = self.queue.pop_due(now) {
            if !self.context.config.certificates.contains_key(&name) || self.busy.contains(&name) {
                continue;
            }
            self.busy.insert(name.clone());
            let span = tracing::info_span!("certificate", certificate = %name);
            self.tasks.spawn(tracing::Instrument::instrument(
                tend::tend(Arc::clone(&self.context), name, event),
                span,
            ));
        }
    }

    /// Takes in what a task reports: readiness, and (while leading) its next events.
    fn finished(&mut self, outcome: Outcome, leading: bool) {
        self.context.metrics.upkeep();
        self.busy.remove(&outcome.name);
        let changed = match outcome.expired {
            Some(true) => self.expired.insert(outcome.name.clone()),
            Some(false) => self.expired.remove(&outcome.name),
            None => false,
        };
        if changed {
            self.readiness.set_expired(self.expired.iter().cloned());
        }
        if leading && self.context.config.certificates.contains_key(&outcome.name) {
            for (event, at) in outcome.next {
                self.queue.schedule(&outcome.name, event, at);
            }
        }
    }

    /// SIGHUP: loads the configuration anew; certificates no longer configured are
    /// forgotten, and (while leading) every configured one is looked at now.
    async fn reload(&mut self, leading: bool) {
        notify(&[sd_notify::NotifyState::Reloading]);
        if let Some(fresh) = reload(&self.path, &self.context).await {
            let now = SystemTime::now();
            for (name, cert) in &self.context.config.certificates {
                match fresh.config.certificates.get(name) {
                    None => {
                        tracing::info!(certificate = %name, "no longer configured; not renewed any more");
                        self.queue.forget(name);
                        self.expired.remove(name);
                        self.context.metrics.forget_certificate(name, &cert.issuer);
                    }
                    Some(new) if new.issuer != cert.issuer => {
                        self.context.metrics.forget_certificate(name, &cert.issuer);
                    }
                    Some(_) => {}
                }
            }
            self.readiness.set_expired(self.expired.iter().cloned());
            if leading {
                for name in fresh.config.certificates.keys() {
                    self.queue.schedule(name, Event::Renew, now);
                }
            }
            self.context = fresh;
        }
        notify(&[sd_notify::NotifyState::Ready]);
    }

    /// Won the Lease: a new term, with every certificate looked at now.
    fn lead(&mut self, term: CancellationToken) {
        tracing::info!("became the leader; issuing");
        self.context = Arc::new(Context {
            cancel: self.stop.child_token(),
            ..Context::clone(&self.context)
        });
        schedule_all(&mut self.queue, &self.context);
        self.term = Some(term);
    }

    /// The term ended: in-flight issuances are abandoned (after cleanup) and nothing is
    /// scheduled until the next term.
    fn step_down(&mut self) {
        tracing::warn!(
            in_flight = self.tasks.len(),
            "no longer the leader; abandoning in-flight issuances and waiting to lead again"
        );
        self.context.cancel.cancel();
        self.queue.clear();
        self.term = None;
    }

    /// Stops the tasks, releases the Lease, stops the metrics server; returns the exit code.
    async fn shut_down(mut self) -> u8 {
        tracing::info!(in_flight = self.tasks.len(), "stopping");
        notify(&[sd_notify::NotifyState::Stopping]);
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(leadership) = self.leadership {
            leadership.shutdown().await;
            tracing::info!("released the leader lease");
        }
        if let Err(err) = self.serving.await {
            tracing::warn!(error = %err, "the metrics server ended abnormally");
        }
        tracing::info!("stopped");
        self.exit
    }
}

/// Starts campaigning for the Lease when `[daemon.leader_election]` is set.
fn campaign_if_elected(config: &Config) -> Result<Option<Leadership>, u8> {
    let Some(election) = &config.daemon.leader_election else {
        return Ok(None);
    };
    match Elector::new(election.clone()) {
        Ok(elector) => {
            tracing::info!(
                identity = %elector.identity(),
                lease = %format!("{}/{}", election.namespace, election.name),
                "campaigning for leadership; only the leader issues"
            );
            Ok(Some(elector.start()))
        }
        Err(err) => {
            eprintln!("error: daemon.leader_election: {err}");
            Err(EXIT_USAGE)
        }
    }
}

/// Schedules a look at every configured certificate now.
fn schedule_all(queue: &mut Queue, context: &Context) {
    let now = SystemTime::now();
    for name in context.config.certificates.keys() {
        queue.schedule(name, Event::Renew, now);
    }
}

/// The next term of leadership, or never when there is no campaign (or it ended).
async fn campaign(leadership: &mut Option<Leadership>) -> Option<CancellationToken> {
    match leadership {
        Some(leadership) => leadership.acquired().await,
        None => std::future::pending().await,
    }
}

/// Resolves when the current term of leadership ends; never without one.
async fn term_ended(term: &Option<CancellationToken>) {
    match term {
        Some(term) => term.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Loads and builds the configuration anew; on any problem logs it and keeps the old one.
async fn reload(path: &Path, old: &Arc<Context>) -> Option<Arc<Context>> {
    let config = match configuration::load(path) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("reload rejected, keeping the running configuration:\n{err}");
            return None;
        }
    };
    if config.daemon.state_dir != old.config.daemon.state_dir {
        tracing::error!(
            "reload rejected: daemon.state_dir cannot change while running; restart instead"
        );
        return None;
    }
    let components = match Components::build(&config, GeneratedCa::Create) {
        Ok(components) => components,
        Err(err) => {
            tracing::error!("reload rejected, keeping the running configuration:\n{err}");
            return None;
        }
    };
    components.publish().await;
    tracing::info!(
        certificates = config.certificates.len(),
        "configuration reloaded"
    );
    Some(Arc::new(Context {
        store: old.store.clone(),
        issuance: Arc::new(Semaphore::new(config.daemon.concurrency.max(1))),
        config,
        components,
        cancel: old.cancel.clone(),
        metrics: old.metrics.clone(),
    }))
}

/// Tells systemd about a state change; a no-op outside systemd.
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(error = %err, "sd_notify failed");
    }
}
