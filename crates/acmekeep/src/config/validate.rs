use std::collections::BTreeMap;

use super::schema::{IssuerConfig, SinkConfig, SolverConfig};
use super::{Config, Problem};

/// Cross-checks the entries: references resolve, names are usable, solvers fit the names.
pub(super) fn validate(config: &Config, problems: &mut Vec<Problem>) {
    let mut report = |key: String, message: String| problems.push(Problem { key, message });
    if config.daemon.concurrency == 0 {
        report("daemon.concurrency".into(), "must be at least 1".into());
    }
    for (name, issuer) in &config.issuers {
        if let IssuerConfig::Acme(acme) = issuer
            && let Err(message) = acme_core::resolve_directory(&acme.directory)
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
        let key = |field: &str| format!("certificates.{name}.{field}");
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
        if cert.sinks.is_empty() {
            report(
                key("sinks"),
                "no sinks; add e.g. { kind = \"files\", dir = \"/etc/ssl/acmekeep/NAME\" }".into(),
            );
        }
        for (i, sink) in cert.sinks.iter().enumerate() {
            let SinkConfig::Files(files) = sink;
            let dir = files.dir.display().to_string();
            if let Some(other) = sink_owners.insert(dir.clone(), name) {
                report(
                    format!("certificates.{name}.sinks[{i}].dir"),
                    format!(
                        "{dir} is already the sink of certificate {other:?}; give each certificate its own directory"
                    ),
                );
            }
        }
        let Some(issuer) = config.issuers.get(&cert.issuer) else {
            report(
                key("issuer"),
                format!(
                    "no issuer named {:?} (configured: {})",
                    cert.issuer,
                    names(&config.issuers)
                ),
            );
            continue;
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
            continue;
        }
        if !issuer.needs_solver() {
            continue;
        }
        match config.solver_for(name) {
            Some(solver) => {
                let SolverConfig::Http01(_) = &config.solvers[solver];
                for domain in cert.domains.iter().filter(|d| d.starts_with("*.")) {
                    report(
                        key("domains"),
                        format!(
                            "{domain} is a wildcard, which only dns-01 can validate, but solver {solver:?} is http-01"
                        ),
                    );
                }
            }
            None if config.solvers.is_empty() => report(
                key("solver"),
                format!(
                    "issuer {:?} is ACME and needs a solver, but no [solvers.NAME] is configured",
                    cert.issuer
                ),
            ),
            None => report(
                key("solver"),
                format!(
                    "several solvers are configured ({}); name the one to use",
                    names(&config.solvers)
                ),
            ),
        }
    }
}

impl Config {
    /// The solver a certificate uses: the one it names, or the only one configured.
    pub fn solver_for(&self, certificate: &str) -> Option<&str> {
        let cert = self.certificates.get(certificate)?;
        match &cert.solver {
            Some(name) => self.solvers.get_key_value(name).map(|(k, _)| k.as_str()),
            None if self.solvers.len() == 1 => self.solvers.keys().next().map(String::as_str),
            None => None,
        }
    }
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
}
