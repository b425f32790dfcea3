//! The walk over the selected certificates, and the findings it reports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use cert_inspect::Roots;
use configuration::{Components, Config};
use futures::StreamExt;
use serde::Serialize;

use crate::{dns01, http01, issuance, net, renewing, served};

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

/// What to check, and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// The configured certificates to check (`[certificates.NAME]`); all when empty.
    pub names: Vec<String>,
    /// Run the checks that act: the HTTP-01 probe token and the DNS-01 throwaway TXT record.
    pub probe: bool,
    /// Resolve names through this DNS server instead of the system resolver.
    pub nameserver: Option<SocketAddr>,
    /// Trust anchors for the chain checks.
    pub roots: Roots,
    /// The port the HTTP-01 challenge URL is fetched on.
    pub http_port: u16,
    /// The port each name's TLS endpoint is checked on.
    pub https_port: u16,
}

/// The findings of one walk, per configured certificate (an empty list: no problem found).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    by_certificate: BTreeMap<String, Vec<Finding>>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.by_certificate
            .values()
            .flatten()
            .any(|f| f.severity == Severity::Error)
    }

    /// Every finding, certificate by certificate: what `diagnose --json` prints.
    pub fn into_findings(self) -> Vec<Finding> {
        self.by_certificate.into_values().flatten().collect()
    }

    /// The human report: findings grouped per certificate, then a summary line.
    pub fn render(&self) -> String {
        render(&self.by_certificate)
    }
}

/// Runs the checks of the selected certificates (every one when `options.names` is empty;
/// names that are not configured are skipped) with the components built from `config`.
pub async fn diagnose(config: &Config, components: &Components, options: &Options) -> Report {
    let selected: Vec<String> = config
        .certificates
        .keys()
        .filter(|name| options.names.is_empty() || options.names.contains(name))
        .cloned()
        .collect();
    let resolver = net::Resolver::new(options.nameserver);
    let roots = &options.roots;

    // Issuers and HTTP-01 listeners are shared between certificates: checked once each.
    let issuers = issuance::check_issuers(config, &selected).await;
    let http = if options.probe {
        http01::probe(config, &selected, &resolver, options.http_port).await
    } else {
        BTreeMap::new()
    };
    let lock = renewing::daemon_holds_lock(&config.daemon.state_dir);

    let checks = futures::stream::iter(selected.iter().map(|name| {
        let (resolver, issuers, http) = (&resolver, &issuers, &http);
        async move {
            let work = async {
                let mut issues = Vec::new();
                if let Some(cert) = config.certificates.get(name) {
                    issues.extend(issuers.get(&cert.issuer).cloned().unwrap_or_default());
                }
                issues.extend(http.get(name).cloned().unwrap_or_default());
                issues.extend(issuance::last_attempt(config, name));
                let deployed = renewing::check(config, components, name, lock).await;
                issues.extend(deployed.issues);
                if options.probe {
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
    let by_certificate = checks
        .map(|(name, issues)| {
            let mut findings: Vec<Finding> =
                issues.into_iter().map(|i| i.into_finding(&name)).collect();
            findings.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
            (name, findings)
        })
        .collect()
        .await;
    Report { by_certificate }
}

/// The human report of `by_certificate`: findings grouped per certificate, then a summary
/// line.
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
