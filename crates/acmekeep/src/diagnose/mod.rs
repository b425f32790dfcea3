//! `acmekeep diagnose`: walks, per certificate, the checks an operator would otherwise do by
//! hand (describe the order, read the logs, `openssl s_client -servername`, `dig TXT
//! _acme-challenge…`) and reports each problem as a [`Finding`]: symptom, likely cause and
//! what to check first, as in the "Symptom To Cause" table of the troubleshooting guide.
//!
//! The checks, one module per group:
//! - [`issuance`]: the issuer answers (ACME directory, Vault health, Venafi, local CA), its
//!   clock, and the last attempt's error from the state record, classified;
//! - [`http01`]: the challenge URL is reachable through the public path;
//! - [`dns01`]: zone, CNAME delegation, provider credentials and propagation;
//! - [`served`]: what each name's endpoint serves against what the sinks hold;
//! - [`renewal`]: what is deployed against the configuration, the renewal plan, the daemon,
//!   hand edits and expiry.
//!
//! Everything is bounded in time, and nothing is changed except by the two active probes
//! (a random HTTP-01 token served for a few seconds, a throwaway TXT record written and
//! removed), which `--no-probe` skips.

mod dns01;
mod http01;
mod issuance;
mod net;
mod renewal;
mod served;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use configuration::Config;
use configuration::{Components, GeneratedCa};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// How many certificates are checked at once.
const CONCURRENCY: usize = 8;
/// The most one certificate's checks may take together.
const CERTIFICATE_DEADLINE: Duration = Duration::from_secs(45);

/// How bad a finding is: an error makes the exit code 1, a warning does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is broken or will break: issuance fails, clients see a wrong certificate.
    Error,
    /// Worth a look, but nothing is broken yet.
    Warning,
}

/// One problem found: the JSON array `diagnose --json` prints is a list of these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The configured certificate (`[certificates.NAME]`).
    pub certificate: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// A stable identifier of the check, e.g. `issuer-unreachable`, for alerting rules.
    pub check: &'static str,
    /// The DNS name concerned, for checks made per name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What is wrong, as an operator sees it.
    pub symptom: String,
    /// The likely cause.
    pub cause: String,
    /// What to check first: the acmekeep or manual command.
    pub check_first: String,
}

/// A finding before it is attached to a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub severity: Severity,
    pub check: &'static str,
    pub name: Option<String>,
    pub symptom: String,
    pub cause: String,
    pub check_first: String,
}

impl Issue {
    /// An error of check `check`.
    pub fn error(check: &'static str, symptom: String, cause: &str, check_first: String) -> Issue {
        Issue {
            severity: Severity::Error,
            check,
            name: None,
            symptom,
            cause: cause.to_string(),
            check_first,
        }
    }

    /// A warning of check `check`.
    pub fn warning(
        check: &'static str,
        symptom: String,
        cause: &str,
        check_first: String,
    ) -> Issue {
        Issue {
            severity: Severity::Warning,
            ..Issue::error(check, symptom, cause, check_first)
        }
    }

    /// The same, about DNS name `name`.
    pub fn for_name(mut self, name: &str) -> Issue {
        self.name = Some(name.to_string());
        self
    }

    fn into_finding(self, certificate: &str) -> Finding {
        Finding {
            certificate: certificate.to_string(),
            severity: self.severity,
            check: self.check,
            name: self.name,
            symptom: self.symptom,
            cause: self.cause,
            check_first: self.check_first,
        }
    }
}

/// `acmekeep diagnose [NAME…]`: what the command line asked for.
#[derive(Clone, Debug, clap::Args)]
pub struct DiagnoseArgs {
    /// The certificates to check (`[certificates.NAME]`); all when none is named.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Print the findings as a JSON array instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the checks that act: the HTTP-01 probe token and the DNS-01 throwaway TXT record.
    #[arg(long)]
    pub no_probe: bool,
    /// Resolve names through this DNS server (IP:PORT) instead of the system resolver, e.g. a
    /// public resolver to see what a CA sees.
    #[arg(long, value_name = "IP:PORT")]
    pub nameserver: Option<SocketAddr>,
    /// Trust anchors (PEM) for the chain checks, instead of the system trust store.
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,
    /// The port the HTTP-01 challenge URL is fetched on (test beds).
    #[arg(long, default_value_t = 80, hide = true)]
    pub http_port: u16,
    /// The port each name's TLS endpoint is checked on.
    #[arg(long, default_value_t = 443)]
    pub https_port: u16,
}

/// Runs the checks of the selected certificates, prints the findings, and returns the exit
/// code: 0 without an error finding, 1 with one, 2 for an unknown certificate or a
/// configuration whose components cannot be built.
pub async fn run(config: &Config, options: &DiagnoseArgs) -> u8 {
    let unknown: Vec<String> = options
        .names
        .iter()
        .filter_map(|name| config.certificate(name).err())
        .collect();
    if !unknown.is_empty() {
        for message in unknown {
            eprintln!("error: {message}");
        }
        return EXIT_USAGE;
    }
    let components = match Components::build(config, GeneratedCa::Existing) {
        Ok(components) => components,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_USAGE;
        }
    };
    let selected: Vec<String> = config
        .certificates
        .keys()
        .filter(|name| options.names.is_empty() || options.names.contains(name))
        .cloned()
        .collect();
    let resolver = net::Resolver::new(options.nameserver);
    let roots = match cert_inspect::load_roots(options.ca_bundle.as_deref()) {
        Ok(roots) => roots,
        Err(err) => {
            eprintln!("error: --ca-bundle: {err}");
            return EXIT_USAGE;
        }
    };

    // Issuers and HTTP-01 listeners are shared between certificates: checked once each.
    let issuers = issuance::check_issuers(config, &selected).await;
    let http = if options.no_probe {
        BTreeMap::new()
    } else {
        http01::probe(config, &selected, &resolver, options.http_port).await
    };
    let lock = renewal::daemon_holds_lock(&config.daemon.state_dir);

    let checks = futures::stream::iter(selected.iter().map(|name| {
        let (components, resolver, issuers, http, roots) =
            (&components, &resolver, &issuers, &http, &roots);
        async move {
            let work = async {
                let mut issues = Vec::new();
                if let Some(cert) = config.certificates.get(name) {
                    issues.extend(issuers.get(&cert.issuer).cloned().unwrap_or_default());
                }
                issues.extend(http.get(name).cloned().unwrap_or_default());
                issues.extend(issuance::last_attempt(config, name));
                let deployed = renewal::check(config, components, name, lock).await;
                issues.extend(deployed.issues);
                if !options.no_probe {
                    issues.extend(dns01::check(config, name).await);
                }
                let material = deployed.material.as_ref();
                issues.extend(
                    served::check(config, name, material, roots, resolver, options.https_port)
                        .await,
                );
                issues
            };
            let issues = tokio::time::timeout(CERTIFICATE_DEADLINE, work)
                .await
                .unwrap_or_else(|_| {
                    vec![Issue::warning(
                        "checks-timed-out",
                        format!(
                            "the checks did not finish within {}s",
                            CERTIFICATE_DEADLINE.as_secs()
                        ),
                        "a server that accepts connections but does not answer",
                        format!("acmekeep diagnose {name} -v"),
                    )]
                });
            (name.clone(), issues)
        }
    }))
    .buffer_unordered(CONCURRENCY);
    let mut by_certificate: BTreeMap<String, Vec<Finding>> = checks
        .map(|(name, issues)| {
            let mut findings: Vec<Finding> =
                issues.into_iter().map(|i| i.into_finding(&name)).collect();
            findings.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
            (name, findings)
        })
        .collect()
        .await;

    let failed = by_certificate
        .values()
        .flatten()
        .any(|f| f.severity == Severity::Error);
    if options.json {
        let all: Vec<Finding> = std::mem::take(&mut by_certificate)
            .into_values()
            .flatten()
            .collect();
        match serde_json::to_string_pretty(&all) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_FAILED;
            }
        }
    } else {
        print!("{}", render(&by_certificate));
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}

/// The human report: findings grouped per certificate, then a summary line.
fn render(by_certificate: &BTreeMap<String, Vec<Finding>>) -> String {
    let mut out = String::new();
    let (mut errors, mut warnings, mut healthy) = (0, 0, 0);
    for (certificate, findings) in by_certificate {
        if findings.is_empty() {
            healthy += 1;
            out.push_str(&format!("{certificate}: no problems found\n"));
            continue;
        }
        out.push_str(&format!("{certificate}:\n"));
        for finding in findings {
            let label = match finding.severity {
                Severity::Error => {
                    errors += 1;
                    "ERROR"
                }
                Severity::Warning => {
                    warnings += 1;
                    "WARNING"
                }
            };
            let name = finding
                .name
                .as_ref()
                .map_or(String::new(), |n| format!(" [{n}]"));
            out.push_str(&format!(
                "  {label} {}{name}: {}\n    likely cause: {}\n    check: {}\n",
                finding.check, finding.symptom, finding.cause, finding.check_first
            ));
        }
    }
    out.push_str(&format!(
        "\n{} certificate(s) checked: {healthy} without problems, {errors} error(s), {warnings} warning(s)\n",
        by_certificate.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(certificate: &str, severity: Severity) -> Finding {
        Issue {
            severity,
            check: "sink-changed-by-hand",
            name: None,
            symptom: "the deployed certificate is not the one acmekeep wrote".into(),
            cause: "someone copied another certificate over the sink".into(),
            check_first: "acmekeep inspect DIR".into(),
        }
        .into_finding(certificate)
    }

    #[test]
    fn the_report_groups_per_certificate_says_when_one_is_healthy_and_sums_up() {
        let mut by = BTreeMap::new();
        by.insert("api".to_string(), vec![finding("api", Severity::Error)]);
        by.insert("web".to_string(), Vec::new());
        let text = render(&by);
        assert_eq!(
            text,
            "api:\n  ERROR sink-changed-by-hand: the deployed certificate is not the one acmekeep wrote\n    \
             likely cause: someone copied another certificate over the sink\n    check: acmekeep inspect DIR\n\
             web: no problems found\n\n\
             2 certificate(s) checked: 1 without problems, 1 error(s), 0 warning(s)\n"
        );
    }

    #[test]
    fn the_json_of_a_finding_has_stable_keys_and_lower_case_severity() {
        let json = serde_json::to_value(finding("api", Severity::Warning)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "certificate": "api",
                "severity": "warning",
                "check": "sink-changed-by-hand",
                "symptom": "the deployed certificate is not the one acmekeep wrote",
                "cause": "someone copied another certificate over the sink",
                "check_first": "acmekeep inspect DIR",
            })
        );
    }
}
