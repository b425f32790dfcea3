use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use crate::config::{Config, Problem};
use crate::schema::{CertificateConfig, IssuerConfig, SinkConfig};

/// Cross-checks the entries: references resolve, names are usable, solvers fit the names.
pub(crate) fn validate(config: &Config, problems: &mut Vec<Problem>) {
    let mut report = |key: String, message: String| problems.push(Problem { key, message });
    if config.daemon.concurrency == 0 {
        report("daemon.concurrency".into(), "must be at least 1".into());
    }
    for (name, issuer) in &config.issuers {
        if let IssuerConfig::Acme(acme) = issuer
            && let Err(message) = acme.directory_url()
        {
            report(format!("issuers.{name}.directory"), message);
        }
    }
    if config.certificates.is_empty() {
        report(
            "certificates".into(),
            "no certificates configured; add a [certificates.NAME] table".into(),
        );
    }
    let mut sink_owners: BTreeMap<String, &str> = BTreeMap::new();
    for (name, cert) in &config.certificates {
        check_domains(name, cert, &mut report);
        check_sinks(name, cert, &mut sink_owners, &mut report);
        check_references(config, name, cert, &mut report);
    }
    for (name, solver) in &config.solvers {
        for zone in &solver.zones {
            if let Err(why) = check_dns_name(zone) {
                report(
                    format!("solvers.{name}.zones"),
                    format!("{zone:?} is not a usable zone name: {why}"),
                );
            }
        }
    }
}

/// The certificate's name and its `domains`: present, usable, each listed once.
fn check_domains(name: &str, cert: &CertificateConfig, report: &mut impl FnMut(String, String)) {
    let key = |field: &str| format!("certificates.{name}.{field}");
    if let Some(other) = name.strip_suffix(".revoked") {
        report(
            format!("certificates.{name}"),
            format!(
                "the state record of {name:?} would be the revocation record of certificate \
                 {other:?} (certificates/{name}.json); rename it"
            ),
        );
    }
    if cert.domains.is_empty() {
        report(
            key("domains"),
            "no names; list at least one DNS name".into(),
        );
    }
    for domain in &cert.domains {
        if let Err(why) = check_dns_name(domain) {
            report(
                key("domains"),
                format!("{domain:?} is not a usable DNS name: {why}"),
            );
        }
    }
    let mut seen = cert.domains.clone();
    seen.sort();
    seen.dedup();
    if seen.len() != cert.domains.len() {
        report(key("domains"), "lists a name more than once".into());
    }
}

/// The certificate's `sinks`: at least one, and none shared with another certificate
/// (`sink_owners` remembers which certificate each directory or Secret belongs to).
fn check_sinks<'a>(
    name: &'a str,
    cert: &CertificateConfig,
    sink_owners: &mut BTreeMap<String, &'a str>,
    report: &mut impl FnMut(String, String),
) {
    if cert.sinks.is_empty() {
        report(
            format!("certificates.{name}.sinks"),
            "no sinks; add e.g. { kind = \"files\", dir = \"/etc/ssl/acmekeep/NAME\" }".into(),
        );
    }
    for (i, sink) in cert.sinks.iter().enumerate() {
        let (field, place, what) = match sink {
            SinkConfig::Files(files) => (
                "dir",
                format!("directory {}", normalised(&files.dir).display()),
                "directory",
            ),
            SinkConfig::Kubernetes(kubernetes) => (
                "secret",
                format!("Secret {}/{}", kubernetes.namespace, kubernetes.secret),
                "Secret",
            ),
        };
        if let Some(other) = sink_owners.insert(place.clone(), name) {
            report(
                format!("certificates.{name}.sinks[{i}].{field}"),
                format!(
                    "{place} is already the sink of certificate {other:?}; give each certificate its own {what}"
                ),
            );
        }
    }
}

/// The certificate's `issuer` and `solver` exist, and an ACME issuer has a solver that
/// fits each name (only dns-01 validates a wildcard).
fn check_references(
    config: &Config,
    name: &str,
    cert: &CertificateConfig,
    report: &mut impl FnMut(String, String),
) {
    let key = |field: &str| format!("certificates.{name}.{field}");
    let Some(issuer) = config.issuers.get(&cert.issuer) else {
        report(
            key("issuer"),
            format!(
                "no issuer named {:?} (configured: {})",
                cert.issuer,
                names(&config.issuers)
            ),
        );
        return;
    };
    if let Some(solver) = &cert.solver
        && !config.solvers.contains_key(solver)
    {
        report(
            key("solver"),
            format!(
                "no solver named {solver:?} (configured: {})",
                names(&config.solvers)
            ),
        );
        return;
    }
    if !issuer.needs_solver() {
        return;
    }
    if config.solvers.is_empty() {
        report(
            key("solver"),
            format!(
                "issuer {:?} is ACME and needs a solver, but no [solvers.NAME] is configured",
                cert.issuer
            ),
        );
        return;
    }
    for domain in &cert.domains {
        match config.solver_for(name, domain) {
            Ok(solver) => {
                let kind = config.solvers[solver].kind.name();
                if domain.starts_with("*.") && kind != "dns-01" {
                    report(
                        key("domains"),
                        format!(
                            "{domain} is a wildcard, which only dns-01 can validate, but solver {solver:?} is {kind}"
                        ),
                    );
                }
            }
            Err(message) => report(key("solver"), message),
        }
    }
}

impl Config {
    /// The certificate configured as `name`, or an error naming the file and listing the
    /// certificates it configures, for commands that take certificate names.
    pub fn certificate(&self, name: &str) -> Result<&CertificateConfig, String> {
        self.certificates.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.certificates.keys().map(String::as_str).collect();
            format!(
                "no certificate named {name:?} in {} (configured: {})",
                self.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })
    }

    /// The solver that proves `domain` of certificate `certificate`: the one the certificate
    /// names; else the solver whose `zones` selector matches the name most specifically
    /// (the longest zone equal to the name or a parent of it); else the only solver without
    /// a selector.
    pub fn solver_for(&self, certificate: &str, domain: &str) -> Result<&str, String> {
        let cert = self
            .certificates
            .get(certificate)
            .ok_or_else(|| format!("no certificate named {certificate:?}"))?;
        if let Some(name) = &cert.solver {
            return self
                .solvers
                .get_key_value(name)
                .map(|(k, _)| k.as_str())
                .ok_or_else(|| format!("no solver named {name:?}"));
        }
        let bare = domain.strip_prefix("*.").unwrap_or(domain);
        let selected = self
            .solvers
            .iter()
            .flat_map(|(name, solver)| solver.zones.iter().map(move |zone| (name, zone)))
            .filter(|(_, zone)| bare == *zone || bare.ends_with(&format!(".{zone}")))
            .max_by_key(|(_, zone)| zone.len());
        if let Some((name, _)) = selected {
            return Ok(name);
        }
        let fallback: Vec<&String> = self
            .solvers
            .iter()
            .filter(|(_, solver)| solver.zones.is_empty())
            .map(|(name, _)| name)
            .collect();
        match fallback.as_slice() {
            [only] => Ok(only.as_str()),
            [] => Err(format!(
                "no solver's `zones` matches {domain}; add its zone to a solver's zones or name a solver with `solver = \"…\"`"
            )),
            several => Err(format!(
                "{domain} matches no solver's `zones`, and several solvers have none ({}); name one with `solver = \"…\"`",
                several
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// `path` (absolute) as the file system knows it: symlinks of its existing part resolved,
/// `.`, `..` and trailing slashes removed from the rest, so two spellings of one directory
/// compare equal.
fn normalised(path: &Path) -> PathBuf {
    let components: Vec<Component<'_>> = path.components().collect();
    for existing in (0..=components.len()).rev() {
        let Ok(mut out) = std::fs::canonicalize(components[..existing].iter().collect::<PathBuf>())
        else {
            continue;
        };
        for component in &components[existing..] {
            match component {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        return out;
    }
    path.to_path_buf()
}

fn names<T>(table: &BTreeMap<String, T>) -> String {
    if table.is_empty() {
        "none".to_string()
    } else {
        table.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Checks the syntax of a DNS name as a CA will: lower-case LDH labels, an optional
/// leading `*.` wildcard label, at most 253 characters.
fn check_dns_name(name: &str) -> Result<(), &'static str> {
    if name.parse::<IpAddr>().is_ok() {
        return Err(
            "it is an IP address, and IP identifiers are not supported yet; list DNS names only",
        );
    }
    let bare = name.strip_prefix("*.").unwrap_or(name);
    if bare.is_empty() || name.len() > 253 {
        return Err("empty or longer than 253 characters");
    }
    if name.ends_with('.') {
        return Err("write it without the trailing dot");
    }
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("every label must have 1 to 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("use lower-case letters, digits and '-' only (IDNs in their xn-- form)");
        }
    }
    if !bare.contains('.') {
        return Err("a certificate name needs at least two labels");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_dns_name;

    #[test]
    fn dns_names_follow_ldh_rules() {
        assert!(check_dns_name("www.example.com").is_ok());
        assert!(check_dns_name("*.example.com").is_ok());
        assert!(check_dns_name("xn--bcher-kva.example").is_ok());
        assert!(check_dns_name("Www.example.com").is_err());
        assert!(check_dns_name("a.*.example.com").is_err());
        assert!(check_dns_name("example.com.").is_err());
        assert!(check_dns_name("-a.example.com").is_err());
        assert!(check_dns_name("localhost").is_err());
        assert!(check_dns_name("").is_err());
    }

    #[test]
    fn ip_addresses_are_named_as_such() {
        for ip in ["192.0.2.7", "2001:db8::1"] {
            let why = check_dns_name(ip).expect_err(ip);
            assert!(why.contains("IP address"), "{ip}: {why}");
        }
    }
}
