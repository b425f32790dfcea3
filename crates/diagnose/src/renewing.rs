//! What is deployed against what the configuration wants: missing or unreadable material,
//! names not covered, renewal overdue (and the daemon not running), a sink changed by hand,
//! expiry inside the emergency window.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

use acme_core::policy::{Assessment, IssueReason};
use acme_core::{Bundle, CertInfo, Sink};
use nix::fcntl::{Flock, FlockArg};

use crate::report::Issue;
use configuration::Components;
use configuration::Config;
use renewal::Plan;
use state::Store;

/// How long reading one sink may take.
const SINK_TIMEOUT: Duration = Duration::from_secs(10);
/// Time left below which expiry is an emergency, whatever the lifetime…
const EMERGENCY_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// …or, for short-lived certificates, below this fraction of the lifetime.
const EMERGENCY_FRACTION: u32 = 10;
/// A renewal this late, with the daemon running, is worth a warning.
const OVERDUE_WITH_DAEMON: Duration = Duration::from_secs(3600);

/// The material the first readable sink holds, for the served-certificate checks.
pub struct Material {
    /// The sink it came from, for messages.
    pub sink: String,
    /// The deployed certificate and chain.
    pub bundle: Bundle,
    /// The leaf, inspected.
    pub info: CertInfo,
}

/// What [`check`] found.
pub struct Deployed {
    /// The findings.
    pub issues: Vec<Issue>,
    /// What is deployed, if anything readable is.
    pub material: Option<Material>,
}

/// Whether an acmekeep process holds the state directory's lock: `None` when there is no
/// lock file (no daemon ever ran there). The probe takes a shared lock for an instant,
/// which an exclusive holder refuses; it writes nothing.
pub fn daemon_holds_lock(state_dir: &Path) -> Option<bool> {
    let file = File::open(state_dir.join("lock")).ok()?;
    Some(Flock::lock(file, FlockArg::LockSharedNonblock).is_err())
}

/// Checks what the sinks of certificate `name` hold.
pub async fn check(
    config: &Config,
    components: &Components,
    name: &str,
    lock_held: Option<bool>,
) -> Deployed {
    let mut issues = Vec::new();
    let Some(cert) = config.certificates.get(name) else {
        return Deployed {
            issues,
            material: None,
        };
    };
    let now = SystemTime::now();
    let sinks = components.sinks.get(name).cloned().unwrap_or_default();
    let mut material = None;
    for sink in &sinks {
        let where_ = sink.describe();
        if let Some((bundle, info)) = read_sink(sink.as_ref(), &where_, name, &mut issues).await
            && material.is_none()
        {
            material = Some(Material {
                sink: where_,
                bundle,
                info,
            });
        }
    }
    let Some(deployed) = &material else {
        return Deployed { issues, material };
    };
    let info = &deployed.info;
    let inspect = format!(
        "acmekeep inspect on {}; openssl x509 -noout -ext subjectAltName",
        deployed.sink
    );
    issues.extend(names_not_covered(&cert.domains, info, &inspect, name));
    let state = Store::new(&config.daemon.state_dir).load(name);
    if let Some(serial) = &state.deployed_serial
        && *serial != info.serial
    {
        issues.push(Issue::error(
            "sink-changed-by-hand",
            format!(
                "{} holds serial {} ({}), not serial {serial}, the certificate acmekeep last deployed",
                deployed.sink, info.serial, info.subject
            ),
            "the certificate was changed by hand or by another tool; acmekeep renews from what is deployed",
            format!("{inspect}; restore it with acmekeep --issue {name} --force"),
        ));
    }
    issues.extend(expiry(info, name, now));
    let looked = renewal::inspect(&sinks, &renewal::wanted(cert)).await;
    let planned = renewal::plan(
        &renewal::Target::new(config, cert),
        &looked.assessment,
        looked.info.as_ref(),
        &state,
        now,
    );
    if let Assessment::Issue(IssueReason::Due { since }) = looked.assessment {
        issues.extend(overdue(config, name, since, &planned, lock_held, now));
    }
    if let Assessment::Issue(IssueReason::KeyTypeChanged { .. }) = looked.assessment {
        issues.push(Issue::warning(
            "key-type-changed",
            format!(
                "the deployed key type differs from the configured {}",
                cert.key
            ),
            "the key type was changed in the configuration; the next run replaces the certificate",
            format!("acmekeep --issue {name}"),
        ));
    }
    Deployed { issues, material }
}

/// Reads one sink (`where_` describes it) of certificate `name`: its bundle and leaf when it
/// holds a readable certificate; every problem found on the way is added to `issues`.
async fn read_sink(
    sink: &dyn Sink,
    where_: &str,
    name: &str,
    issues: &mut Vec<Issue>,
) -> Option<(Bundle, CertInfo)> {
    let loaded = match tokio::time::timeout(SINK_TIMEOUT, sink.load()).await {
        Ok(Err(err)) => match sink.load_as_is().await {
            // The files are there but disagree: name the file, and look at them anyway.
            Ok(Some(bundle)) => {
                issues.push(Issue::error(
                    "sink-files-disagree",
                    format!("{where_}: {err}"),
                    "a file of the sink was replaced or edited on its own, by hand or by another tool",
                    format!("acmekeep inspect on the sink; acmekeep --issue {name} deploys it again"),
                ));
                Ok(Ok(Some(bundle)))
            }
            _ => Ok(Err(err)),
        },
        other => other,
    };
    let bundle = match loaded {
        Err(_) => {
            issues.push(Issue::error(
                "sink-unreadable",
                format!("{where_} did not answer within {}s", SINK_TIMEOUT.as_secs()),
                "the sink's storage or API is unavailable",
                "acmekeep inspect on the sink; acmekeep status".to_string(),
            ));
            return None;
        }
        Ok(Err(err)) => {
            issues.push(Issue::error(
                "sink-unreadable",
                format!("{where_} cannot be read: {err}"),
                "permissions, a missing directory or Secret, or an unreachable API",
                format!("the sink's files or Secret; acmekeep --issue {name} -v"),
            ));
            return None;
        }
        Ok(Ok(None)) => {
            issues.push(Issue::error(
                "not-deployed",
                format!("{where_} holds no certificate"),
                "issuance has not succeeded yet (see the other findings), or the sink was emptied",
                format!("acmekeep --issue {name} -v"),
            ));
            return None;
        }
        Ok(Ok(Some(bundle))) => bundle,
    };
    let info = match CertInfo::from_pem(&bundle.cert_pem) {
        Ok(info) => info,
        Err(err) => {
            issues.push(Issue::error(
                "sink-unreadable",
                format!("{where_} holds no readable certificate: {err}"),
                "the certificate file was edited or truncated",
                format!("acmekeep inspect on the sink; acmekeep --issue {name} --force"),
            ));
            return None;
        }
    };
    if !info.matches_key(&bundle.key) {
        issues.push(Issue::error(
            "key-mismatch",
            format!(
                "{where_}: the private key does not belong to the certificate (serial {})",
                info.serial
            ),
            "the certificate or the key was replaced on its own, by hand or by another tool",
            format!("acmekeep inspect on the sink; acmekeep --issue {name} --force"),
        ));
    }
    Some((bundle, info))
}

/// The configured `domains` the deployed leaf `info` does not name.
fn names_not_covered(domains: &[String], info: &CertInfo, inspect: &str, name: &str) -> Vec<Issue> {
    domains
        .iter()
        .filter(|domain| !info.names.iter().any(|n| n.eq_ignore_ascii_case(domain)))
        .map(|domain| {
            Issue::error(
                "name-not-covered",
                format!(
                    "{domain} is configured but not in the deployed certificate's names ({})",
                    info.names.join(", ")
                ),
                "the names were changed after the last issuance and it has not been renewed since, or the sink holds another certificate",
                format!("{inspect}; acmekeep --issue {name}"),
            )
            .for_name(domain)
        })
        .collect()
}

/// An expired deployed leaf, or one inside the emergency window.
fn expiry(info: &CertInfo, name: &str, now: SystemTime) -> Option<Issue> {
    let left = info.not_after.duration_since(now).unwrap_or_default();
    let window = EMERGENCY_WINDOW.min(info.lifetime() / EMERGENCY_FRACTION);
    if info.not_after <= now {
        Some(Issue::error(
            "expired",
            format!(
                "the deployed certificate expired at {}",
                humantime::format_rfc3339_seconds(info.not_after)
            ),
            "renewal did not happen: see the other findings (issuer, challenges, daemon)",
            format!("acmekeep status; acmekeep --issue {name} -v"),
        ))
    } else if left < window {
        Some(Issue::error(
            "expiry-soon",
            format!(
                "the deployed certificate expires in {} (at {}), inside the emergency window of {}",
                humantime::format_duration(Duration::from_secs(left.as_secs())),
                humantime::format_rfc3339_seconds(info.not_after),
                humantime::format_duration(window)
            ),
            "renewal has not happened although it was due long ago",
            format!("acmekeep status; acmekeep --issue {name} -v"),
        ))
    } else {
        None
    }
}

/// A certificate past its renewal time (`since`): a warning when the daemon runs and it is
/// late by more than an hour, an error when no daemon holds the state lock.
fn overdue(
    config: &Config,
    name: &str,
    since: SystemTime,
    planned: &Plan,
    lock_held: Option<bool>,
    now: SystemTime,
) -> Option<Issue> {
    let late = now.duration_since(since).unwrap_or_default();
    let late_text = humantime::format_duration(Duration::from_secs(late.as_secs()));
    let since_text = humantime::format_rfc3339_seconds(since);
    match lock_held {
        Some(true) if late > OVERDUE_WITH_DAEMON => Some(Issue::warning(
            "renewal-overdue",
            format!(
                "past its renewal time ({since_text}) by {late_text}, although an acmekeep daemon runs; next: {} ({})",
                humantime::format_rfc3339_seconds(planned.at),
                planned.basis
            ),
            "renewal attempts fail or back off: see the last attempt",
            "acmekeep status; journalctl -u acmekeep".to_string(),
        )),
        Some(true) => None,
        _ => Some(Issue::error(
            "renewal-overdue",
            format!(
                "past its renewal time ({since_text}) by {late_text}, and no acmekeep daemon holds the lock of {}",
                config.daemon.state_dir.display()
            ),
            "the daemon is not running (stopped, crashed, never enabled) and no one-shot run renewed it",
            format!(
                "systemctl status acmekeep; acmekeep run (or acmekeep --issue {name} from cron)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_probe_sees_a_held_lock_and_a_free_one_and_no_lock_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(daemon_holds_lock(dir.path()), None);
        let held = state::lock(dir.path()).expect("lock");
        assert_eq!(daemon_holds_lock(dir.path()), Some(true));
        drop(held);
        assert_eq!(daemon_holds_lock(dir.path()), Some(false));
    }
}
