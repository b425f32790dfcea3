//! `acmekeep status`: every certificate as the sinks and the state records show it, with no
//! network traffic.

use std::time::SystemTime;

use serde::Serialize;

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use configuration::Config;
use configuration::{Components, GeneratedCa};
use renewal::Basis;
use state::FailedHook;
use state::Kept;
use state::{LastResult, Store};

/// One certificate's row.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    names: Vec<String>,
    issuer: String,
    serial: Option<String>,
    #[serde(with = "rfc3339_option")]
    not_after: Option<SystemTime>,
    #[serde(with = "rfc3339_option")]
    renews_at: Option<SystemTime>,
    renewal_basis: Basis,
    /// The deployed certificate was revoked by `acmekeep revoke`.
    revoked: bool,
    last_result: Option<LastResult>,
    last_error: Option<String>,
    failures: u32,
    /// Why the certificate issued by the last attempt, kept in `state_dir`, is not deployed.
    not_deployed: Option<String>,
    /// The deploy hook failed for the deployed certificate and is retried until it succeeds.
    deploy_hook_failed: Option<FailedHook>,
}

/// Prints the status table (or JSON); exits 1 if a certificate is missing, expired or failing.
pub async fn run(config: &Config, json: bool) -> u8 {
    let components = match Components::build(config, GeneratedCa::Existing) {
        Ok(components) => components,
        Err(err) => {
            crate::logging::error(err);
            return EXIT_USAGE;
        }
    };
    let store = Store::new(&config.daemon.state_dir);
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for (name, cert) in &config.certificates {
        let sinks = components.sinks.get(name).cloned().unwrap_or_default();
        let deployed = renewal::inspect(&sinks, &renewal::wanted(cert)).await;
        let state = store.load(name);
        let plan = renewal::plan(
            &renewal::Target::new(config, cert),
            &deployed.assessment,
            deployed.info.as_ref(),
            &state,
            now,
        );
        let revoked = deployed
            .info
            .as_ref()
            .is_some_and(|info| state.revocation_of(&info.serial).is_some());
        rows.push(Row {
            name: name.clone(),
            names: cert.domains.clone(),
            issuer: cert.issuer.clone(),
            serial: deployed.info.as_ref().map(|i| i.serial.clone()),
            not_after: deployed.info.as_ref().map(|i| i.not_after),
            renews_at: (plan.basis != Basis::RevokedNotReissued).then_some(plan.at),
            renewal_basis: plan.basis,
            revoked,
            last_result: state.last_result,
            last_error: state.last_error.clone(),
            failures: state.failures,
            not_deployed: Kept::new(&config.daemon.state_dir, name).reason(),
            deploy_hook_failed: state.failed_deploy_hook.clone().filter(|failed| {
                deployed
                    .info
                    .as_ref()
                    .is_some_and(|info| info.serial == failed.serial)
            }),
        });
    }
    let unhealthy = rows.iter().any(|r| {
        r.not_after.is_none_or(|t| t <= now)
            || r.last_result == Some(LastResult::Failed)
            || r.revoked
            || r.not_deployed.is_some()
            || r.deploy_hook_failed.is_some()
    });
    if json {
        match serde_json::to_string_pretty(&rows) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_FAILED;
            }
        }
    } else {
        print_table(&rows);
    }
    if unhealthy { EXIT_FAILED } else { EXIT_OK }
}

fn print_table(rows: &[Row]) {
    let time = |t: Option<SystemTime>| {
        t.map_or("-".to_string(), |t| {
            humantime::format_rfc3339_seconds(t).to_string()
        })
    };
    let mut lines = vec![[
        "NAME".to_string(),
        "NAMES".to_string(),
        "ISSUER".to_string(),
        "NOT AFTER".to_string(),
        "RENEWS AT (WHY)".to_string(),
        "LAST RESULT".to_string(),
    ]];
    for row in rows {
        let last = match (&row.not_deployed, &row.deploy_hook_failed) {
            (Some(reason), _) => format!("issued, not deployed: {reason}"),
            (None, Some(failed)) => format!(
                "issued, deploy hook failed ({}x, retried at {}): {}",
                failed.failures,
                humantime::format_rfc3339_seconds(failed.retry_at),
                failed.error
            ),
            (None, None) => last_result(&row.last_result, &row.last_error, row.failures),
        };
        lines.push([
            row.name.clone(),
            row.names.join(","),
            row.issuer.clone(),
            time(row.not_after),
            match row.renewal_basis {
                Basis::RevokedNotReissued => format!(
                    "- (revoked; not reissued — run --issue {} --force)",
                    row.name
                ),
                ref basis => format!("{} ({basis})", time(row.renews_at)),
            },
            last,
        ]);
    }
    let mut widths = [0usize; 6];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(widths.iter())
            .enumerate()
            .map(|(i, (cell, width))| {
                if i + 1 == line.len() {
                    cell.clone()
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        println!("{}", cells.join("  "));
    }
}

/// The last result of a certificate's record, for the table.
fn last_result(result: &Option<LastResult>, error: &Option<String>, failures: u32) -> String {
    match (result, error) {
        (Some(LastResult::Failed), Some(error)) => {
            format!("failed ({}x): {error}", failures)
        }
        (Some(LastResult::Issued), _) => "issued".to_string(),
        (Some(LastResult::Pending), Some(status)) => format!("pending: {status}"),
        (Some(LastResult::Pending), None) => "pending".to_string(),
        (Some(LastResult::Failed), None) => "failed".to_string(),
        (None, _) => "-".to_string(),
    }
}

mod rfc3339_option {
    use std::time::SystemTime;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => s.serialize_str(&humantime::format_rfc3339_seconds(*time).to_string()),
            None => s.serialize_none(),
        }
    }
}
