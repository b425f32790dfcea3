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
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use acme_core::CancellationToken;
use leader_election::{Elector, Leadership};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

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
    // Installed before the issuers are built, so the ACME client's metrics are registered.
    let metrics = match Metrics::install() {
        Ok(metrics) => metrics,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_FAILED;
        }
    };
    let components = match Components::build(&config, GeneratedCa::Create) {
        Ok(components) => components,
        Err(err) => {
            crate::logging::error(err);
            return EXIT_USAGE;
        }
    };
    Journal::new(&config.daemon.state_dir)
        .sweep(&components.dns_solvers)
        .await;
    components.publish().await;
    let server = match MetricsServer::bind(config.daemon.listen_metrics).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("error: {err}");
            return EXIT_FAILED;
        }
    };
    let (Ok(mut hup), Ok(mut sigterm), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("error: cannot listen for signals");
        return EXIT_FAILED;
    };
    let mut leadership = match &config.daemon.leader_election {
        Some(election) => match Elector::new(election.clone()) {
            Ok(elector) => {
                tracing::info!(
                    identity = %elector.identity(),
                    lease = %format!("{}/{}", election.namespace, election.name),
                    "campaigning for leadership; only the leader issues"
                );
                Some(elector.start())
            }
            Err(err) => {
                eprintln!("error: daemon.leader_election: {err}");
                return EXIT_USAGE;
            }
        },
        None => None,
    };
    let path = config.path.clone();
    let stop = CancellationToken::new();
    let readiness = Readiness::new();
    let serving = tokio::spawn(server.serve(metrics.clone(), readiness.clone(), stop.clone()));
    let mut context = Arc::new(Context {
        store: Store::new(&config.daemon.state_dir),
        issuance: Arc::new(Semaphore::new(config.daemon.concurrency.max(1))),
        config,
        components,
        cancel: stop.child_token(),
        metrics,
    });
    let mut queue = Queue::default();
    // Without leader election this replica always leads, in one term that never ends.
    let mut term = match leadership {
        Some(_) => None,
        None => {
            schedule_all(&mut queue, &context);
            Some(CancellationToken::new())
        }
    };
    tracing::info!(
        certificates = context.config.certificates.len(),
        "acmekeep is running"
    );
    readiness.set_loaded(true);
    notify(&[sd_notify::NotifyState::Ready]);

    let mut exit = EXIT_OK;
    let mut expired: BTreeSet<String> = BTreeSet::new();
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut busy: HashSet<String> = HashSet::new();
    loop {
        let now = SystemTime::now();
        let leading = term.is_some();
        while let Some((name, event)) = queue.pop_due(now) {
            if !context.config.certificates.contains_key(&name) || busy.contains(&name) {
                continue;
            }
            busy.insert(name.clone());
            let span = tracing::info_span!("certificate", certificate = %name);
            tasks.spawn(tracing::Instrument::instrument(
                tend::tend(Arc::clone(&context), name, event),
                span,
            ));
        }
        let sleep = queue
            .next_due()
            .map(|at| at.duration_since(now).unwrap_or_default())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            Some(done) = tasks.join_next() => match done {
                Ok(outcome) => {
                    context.metrics.upkeep();
                    busy.remove(&outcome.name);
                    let changed = match outcome.expired {
                        Some(true) => expired.insert(outcome.name.clone()),
                        Some(false) => expired.remove(&outcome.name),
                        None => false,
                    };
                    if changed {
                        readiness.set_expired(expired.iter().cloned());
                    }
                    if leading && context.config.certificates.contains_key(&outcome.name) {
                        for (event, at) in outcome.next {
                            queue.schedule(&outcome.name, event, at);
                        }
                    }
                }
                Err(err) => tracing::error!(error = %err, "a certificate task failed"),
            },
            _ = hup.recv() => {
                notify(&[sd_notify::NotifyState::Reloading]);
                if let Some(fresh) = reload(&path, &context).await {
                    let now = SystemTime::now();
                    for (name, cert) in &context.config.certificates {
                        match fresh.config.certificates.get(name) {
                            None => {
                                tracing::info!(certificate = %name, "no longer configured; not renewed any more");
                                queue.forget(name);
                                expired.remove(name);
                                context.metrics.forget_certificate(name, &cert.issuer);
                            }
                            Some(new) if new.issuer != cert.issuer => {
                                context.metrics.forget_certificate(name, &cert.issuer);
                            }
                            Some(_) => {}
                        }
                    }
                    readiness.set_expired(expired.iter().cloned());
                    if leading {
                        for name in fresh.config.certificates.keys() {
                            queue.schedule(name, Event::Renew, now);
                        }
                    }
                    context = fresh;
                }
                notify(&[sd_notify::NotifyState::Ready]);
            }
            won = campaign(&mut leadership), if !leading => {
                let Some(won) = won else {
                    tracing::error!("leader election ended; stopping (see the errors above)");
                    exit = EXIT_FAILED;
                    break;
                };
                tracing::info!("became the leader; issuing");
                context = Arc::new(Context {
                    cancel: stop.child_token(),
                    ..Context::clone(&context)
                });
                schedule_all(&mut queue, &context);
                term = Some(won);
            }
            () = term_ended(&term), if leading => {
                tracing::warn!(
                    in_flight = tasks.len(),
                    "no longer the leader; abandoning in-flight issuances and waiting to lead again"
                );
                context.cancel.cancel();
                queue.clear();
                term = None;
            }
            _ = sigterm.recv() => break,
            _ = int.recv() => break,
        }
    }

    tracing::info!(in_flight = tasks.len(), "stopping");
    notify(&[sd_notify::NotifyState::Stopping]);
    stop.cancel();
    while tasks.join_next().await.is_some() {}
    if let Some(leadership) = leadership {
        leadership.shutdown().await;
        tracing::info!("released the leader lease");
    }
    if let Err(err) = serving.await {
        tracing::warn!(error = %err, "the metrics server ended abnormally");
    }
    tracing::info!("stopped");
    exit
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
