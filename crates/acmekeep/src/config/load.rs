use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::schema::{
    CertificateConfig, DaemonConfig, IssuerConfig, SinkConfig, SolverConfig, SolverKind,
};
use super::{Config, ConfigError, Problem};

const TOP_LEVEL: [&str; 4] = ["daemon", "issuers", "solvers", "certificates"];

/// Reads `path`, applies `ACMEKEEP__…` environment overrides, and validates the result.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let fail = |message: String| ConfigError {
        path: path.to_path_buf(),
        problems: vec![Problem {
            key: String::new(),
            message,
        }],
    };
    if !path.exists() {
        return Err(fail(
            "no such file (use --config PATH or ACMEKEEP_CONFIG to point elsewhere)".into(),
        ));
    }
    let root = read(path, environment()).map_err(fail)?;
    let mut problems = Vec::new();
    let mut config = from_value(path, root, &mut problems);
    config.resolve_relative_paths();
    if problems.is_empty() {
        super::validate::validate(&config, &mut problems);
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            path: path.to_path_buf(),
            problems,
        })
    }
}

impl Config {
    /// Makes every relative path of the file relative to the file's own directory, so a
    /// configuration means the same thing whatever the working directory.
    fn resolve_relative_paths(&mut self) {
        let base = self
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let base = std::path::absolute(&base).unwrap_or(base);
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.daemon.state_dir);
        for issuer in self.issuers.values_mut() {
            match issuer {
                IssuerConfig::Acme(acme) => acme.ca_bundle.iter_mut().for_each(fix),
                IssuerConfig::Ca(ca) => {
                    ca.cert.iter_mut().for_each(fix);
                    ca.trust_bundle.iter_mut().for_each(fix);
                    ca.trust_also.iter_mut().for_each(fix);
                }
                IssuerConfig::Vault(vault) => vault.ca_bundle.iter_mut().for_each(fix),
                IssuerConfig::Venafi(venafi) => venafi.ca_bundle.iter_mut().for_each(fix),
            }
        }
        for solver in self.solvers.values_mut() {
            if let SolverKind::Http01(http) = &mut solver.kind {
                http.webroot.iter_mut().for_each(fix);
            }
        }
        for cert in self.certificates.values_mut() {
            for sink in &mut cert.sinks {
                match sink {
                    SinkConfig::Files(files) => fix(&mut files.dir),
                    SinkConfig::Kubernetes(kubernetes) => {
                        kubernetes.cluster.kubeconfig.iter_mut().for_each(fix);
                    }
                }
            }
        }
        if let Some(election) = &mut self.daemon.leader_election {
            election.cluster.kubeconfig.iter_mut().for_each(fix);
        }
    }
}

/// The `ACMEKEEP__SECTION__KEY` overrides.
fn environment() -> config::Environment {
    config::Environment::with_prefix("ACMEKEEP")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
}

/// The file merged with the environment overrides, as one JSON-like tree.
fn read(path: &Path, environment: config::Environment) -> Result<Value, String> {
    config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .add_source(environment)
        .build()
        .and_then(|raw| raw.try_deserialize())
        .map_err(|e| strip_origin(&e.to_string(), path))
}

/// The `config` crate appends "in FILE" to its messages; we print the file once, in front.
fn strip_origin(message: &str, path: &Path) -> String {
    message
        .replace(&format!(" in {}", path.display()), "")
        .to_string()
}

fn from_value(path: &Path, root: Value, problems: &mut Vec<Problem>) -> Config {
    let mut root = match root {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for key in root.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            problems.push(Problem {
                key: key.clone(),
                message: format!("unknown key; expected one of {}", TOP_LEVEL.join(", ")),
            });
        }
    }
    let daemon = match root.remove("daemon") {
        Some(value) => entry::<DaemonConfig>("daemon", value, problems).unwrap_or_default(),
        None => DaemonConfig::default(),
    };
    Config {
        path: path.to_path_buf(),
        daemon,
        issuers: table::<IssuerConfig>("issuers", root.remove("issuers"), problems),
        solvers: table::<SolverConfig>("solvers", root.remove("solvers"), problems),
        certificates: table::<CertificateConfig>(
            "certificates",
            root.remove("certificates"),
            problems,
        ),
    }
}

/// Deserializes each entry of a `[table.NAME]` on its own, collecting every failure.
fn table<T: DeserializeOwned>(
    name: &str,
    value: Option<Value>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    match value {
        None => {}
        Some(Value::Object(entries)) => {
            for (key, value) in entries {
                if let Some(parsed) = entry::<T>(&format!("{name}.{key}"), value, problems) {
                    out.insert(key, parsed);
                }
            }
        }
        Some(_) => problems.push(Problem {
            key: name.to_string(),
            message: format!("must be a table of named entries, e.g. [{name}.example]"),
        }),
    }
    out
}

/// Deserializes one entry, turning serde's message into a problem at the right key path.
fn entry<T: DeserializeOwned>(
    prefix: &str,
    value: Value,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(err) => {
            let mut key = prefix.to_string();
            let inner = err.path().to_string();
            if inner != "." {
                key.push('.');
                key.push_str(&inner);
            }
            let message = err.into_inner().to_string();
            problems.push(problem_at(key, message));
            None
        }
    }
}

/// Rewrites serde's wording so the key path names the offending key itself.
fn problem_at(key: String, message: String) -> Problem {
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, rest)| (name.to_string(), rest.trim_start_matches(", ").to_string()))
    };
    // serde_path_to_error's path sometimes already ends with the field, sometimes not.
    let at = |field: &str| {
        if key.ends_with(&format!(".{field}")) {
            key.clone()
        } else {
            format!("{key}.{field}")
        }
    };
    if let Some((field, expected)) = quoted("unknown field `") {
        return Problem {
            key: at(&field),
            message: format!("unknown key; {expected}"),
        };
    }
    if let Some((field, _)) = quoted("missing field `") {
        return Problem {
            key: at(&field),
            message: "required key is missing".into(),
        };
    }
    if let Some((variant, expected)) = quoted("unknown variant `") {
        return Problem {
            key,
            message: format!("unknown value {variant:?}; {expected}"),
        };
    }
    Problem { key, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(toml: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        std::fs::write(&path, toml).expect("write");
        match load(&path) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .problems
                .iter()
                .map(|p| format!("{}: {}", p.key, p.message))
                .collect(),
        }
    }

    const GOOD: &str = r#"
        [daemon]
        state_dir = "/tmp/acmekeep-test-state"
        [issuers.local]
        kind = "ca"
        generate = true
        [certificates.web]
        domains = ["www.example.test"]
        issuer = "local"
        sinks = [{ kind = "files", dir = "/tmp/acmekeep-test-out" }]
    "#;

    #[test]
    fn a_good_file_loads_with_defaults() {
        assert_eq!(problems_of(GOOD), Vec::<String>::new());
    }

    #[test]
    fn a_typo_names_the_key_and_what_is_expected() {
        let problems = problems_of(&GOOD.replace("domains =", "domain ="));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("certificates.web.domain: unknown key; expected one of `domains`"),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_top_level_tables_are_reported() {
        let problems = problems_of(&format!("{GOOD}\n[deamon]\nx = 1\n"));
        assert_eq!(
            problems,
            ["deamon: unknown key; expected one of daemon, issuers, solvers, certificates"]
        );
    }

    #[test]
    fn an_unknown_kind_lists_the_kinds() {
        let problems = problems_of(&GOOD.replace("kind = \"ca\"", "kind = \"vualt\""));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("issuers.local"), "{problems:?}");
        assert!(
            problems[0].contains("`acme`, `ca`, `vault`, `venafi`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_bad_duration_names_the_key_and_the_value() {
        let problems = problems_of(&GOOD.replace(
            "issuer = \"local\"",
            "issuer = \"local\"\nrenew_before = \"3 fortnights\"",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("certificates.web.renew_before: invalid duration \"3 fortnights\""),
            "{problems:?}"
        );
    }

    #[test]
    fn a_bad_key_type_lists_the_key_types() {
        let problems = problems_of(&GOOD.replace(
            "issuer = \"local\"",
            "issuer = \"local\"\nkey = \"rsa-1024\"",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("certificates.web.key: unknown value \"rsa-1024\""),
            "{problems:?}"
        );
    }

    #[test]
    fn every_broken_entry_is_reported_at_once() {
        let toml = format!(
            "{GOOD}\n[certificates.two]\ndomain = [\"a.test\"]\n[certificates.three]\ndomains = [\"b.test\"]\nissuer = \"local\"\nsinks = []\nkey = 5\n"
        );
        let problems = problems_of(&toml);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn environment_variables_override_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        std::fs::write(&path, GOOD).expect("write");
        let overrides = [("ACMEKEEP__DAEMON__CONCURRENCY".to_string(), "3".to_string())];
        let root = read(&path, environment().source(Some(overrides.into()))).expect("read");
        let mut problems = Vec::new();
        let config = from_value(&path, root, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.daemon.concurrency, 3);
    }

    const ACME: &str = r#"
        [daemon]
        state_dir = "/tmp/acmekeep-test-state"
        [issuers.le]
        kind = "acme"
        directory = "letsencrypt-staging"
        [solvers.web]
        kind = "http-01"
        listen = "127.0.0.1:8080"
        [certificates.web]
        domains = ["www.example.test"]
        issuer = "le"
        sinks = [{ kind = "files", dir = "/tmp/acmekeep-test-out" }]
    "#;

    #[test]
    fn an_acme_certificate_uses_the_only_solver() {
        assert_eq!(problems_of(ACME), Vec::<String>::new());
    }

    #[test]
    fn a_wildcard_with_an_http01_solver_is_refused() {
        let problems = problems_of(&ACME.replace(
            "[\"www.example.test\"]",
            "[\"example.test\", \"*.example.test\"]",
        ));
        assert_eq!(
            problems,
            [
                "certificates.web.domains: *.example.test is a wildcard, which only dns-01 can validate, but solver \"web\" is http-01"
            ]
        );
    }

    #[test]
    fn references_to_missing_issuers_and_solvers_list_what_exists() {
        let problems = problems_of(&ACME.replace("issuer = \"le\"", "issuer = \"lets\""));
        assert_eq!(
            problems,
            ["certificates.web.issuer: no issuer named \"lets\" (configured: le)"]
        );
        let problems =
            problems_of(&ACME.replace("issuer = \"le\"", "issuer = \"le\"\nsolver = \"dns\""));
        assert_eq!(
            problems,
            ["certificates.web.solver: no solver named \"dns\" (configured: web)"]
        );
    }

    #[test]
    fn an_acme_certificate_without_any_solver_is_refused() {
        let without = ACME.replace(
            "[solvers.web]\n        kind = \"http-01\"\n        listen = \"127.0.0.1:8080\"",
            "",
        );
        let problems = problems_of(&without);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("certificates.web.solver: issuer \"le\" is ACME and needs a solver"),
            "{problems:?}"
        );
    }

    #[test]
    fn empty_names_bad_names_and_missing_sinks_are_each_reported() {
        let problems = problems_of(&ACME.replace("[\"www.example.test\"]", "[]").replace(
            "sinks = [{ kind = \"files\", dir = \"/tmp/acmekeep-test-out\" }]",
            "sinks = []",
        ));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("certificates.web.domains: no names"),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("certificates.web.sinks: no sinks"),
            "{problems:?}"
        );
        let problems = problems_of(&ACME.replace("www.example.test", "WWW.example.test"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("not a usable DNS name"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_unknown_directory_alias_lists_the_aliases() {
        let problems = problems_of(&ACME.replace("letsencrypt-staging", "letsencrpyt"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("issuers.le.directory: \"letsencrpyt\" is neither"),
            "{problems:?}"
        );
    }

    #[test]
    fn two_certificates_cannot_share_a_sink_directory() {
        let toml = format!(
            "{ACME}\n[certificates.other]\ndomains = [\"b.example.test\"]\nissuer = \"le\"\nsinks = [{{ kind = \"files\", dir = \"/tmp/acmekeep-test-out\" }}]\n"
        );
        let problems = problems_of(&toml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("is already the sink of certificate"),
            "{problems:?}"
        );
    }

    #[test]
    fn two_certificates_cannot_share_a_kubernetes_secret() {
        let kubernetes =
            r#"sinks = [{ kind = "kubernetes", namespace = "app", secret = "web-tls" }]"#;
        let toml = format!(
            "{}\n[certificates.other]\ndomains = [\"b.example.test\"]\nissuer = \"local\"\n{kubernetes}\n",
            GOOD.replace(
                r#"sinks = [{ kind = "files", dir = "/tmp/acmekeep-test-out" }]"#,
                kubernetes
            )
        );
        let problems = problems_of(&toml);
        assert_eq!(
            problems,
            [
                "certificates.web.sinks[0].secret: Secret app/web-tls is already the sink of \
                 certificate \"other\"; give each certificate its own Secret"
            ]
        );
    }

    #[test]
    fn leader_election_settings_are_checked_like_every_table() {
        let toml =
            format!("{GOOD}\n[daemon.leader_election]\nnamespace = \"app\"\nlease = \"x\"\n");
        let problems = problems_of(&toml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("daemon.leader_election.lease: unknown key"),
            "{problems:?}"
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        std::fs::write(&path, GOOD.replace("/tmp/acmekeep-test-state", "state")).expect("write");
        let config = load(&path).expect("load");
        assert_eq!(
            config.daemon.state_dir,
            std::path::absolute(dir.path().join("state")).expect("absolute")
        );
    }

    #[test]
    fn a_missing_file_says_how_to_point_elsewhere() {
        let err = load(Path::new("/nonexistent/acmekeep.toml")).expect_err("missing file");
        assert_eq!(
            err.to_string(),
            "error: /nonexistent/acmekeep.toml: no such file (use --config PATH or ACMEKEEP_CONFIG to point elsewhere)"
        );
    }

    const TWO_SOLVERS: &str = r#"
        [daemon]
        state_dir = "/tmp/acmekeep-test-state"
        [issuers.le]
        kind = "acme"
        directory = "letsencrypt-staging"
        [solvers.web]
        kind = "http-01"
        listen = "127.0.0.1:8080"
        [solvers.internal]
        kind = "http-01"
        zones = ["internal.example.test"]
        webroot = "/var/www"
        [certificates.web]
        domains = ["www.example.test", "api.internal.example.test", "internal.example.test"]
        issuer = "le"
        sinks = [{ kind = "files", dir = "/tmp/acmekeep-test-out" }]
    "#;

    #[test]
    fn names_go_to_the_solver_whose_zones_match_most_specifically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        let toml = TWO_SOLVERS.replace(
            "[solvers.internal]",
            "[solvers.deep]\nkind = \"http-01\"\nzones = [\"api.internal.example.test\"]\nwebroot = \"/srv\"\n[solvers.internal]",
        );
        std::fs::write(&path, toml).expect("write");
        let config = load(&path).expect("load");
        assert_eq!(config.solver_for("web", "www.example.test"), Ok("web"));
        assert_eq!(
            config.solver_for("web", "internal.example.test"),
            Ok("internal")
        );
        assert_eq!(
            config.solver_for("web", "api.internal.example.test"),
            Ok("deep")
        );
    }

    #[test]
    fn a_name_no_selector_matches_needs_a_single_fallback_solver() {
        let problems = problems_of(&TWO_SOLVERS.replace(
            "kind = \"http-01\"\n        listen",
            "kind = \"http-01\"\n        zones = [\"other.test\"]\n        listen",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "certificates.web.solver: no solver's `zones` matches www.example.test"
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn an_unknown_solver_kind_lists_the_kinds() {
        let problems = problems_of(&TWO_SOLVERS.replace(
            "kind = \"http-01\"\n        listen",
            "kind = \"http-02\"\n        listen",
        ));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("solvers.web: unknown value \"http-02\""),
            "{problems:?}"
        );
    }
}
