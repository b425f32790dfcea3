use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{Config, ConfigError, Problem};
use crate::schema::{
    CertificateConfig, DaemonConfig, IssuerConfig, SinkConfig, SolverConfig, SolverKind,
};

const TOP_LEVEL: [&str; 4] = ["daemon", "issuers", "solvers", "certificates"];

/// The keys that hold a secret, as dotted paths where `*` stands for any entry's name.
/// Each accepts `env:NAME` and `file:/path` references instead of the value itself.
const SECRET_KEYS: &[&str] = &[
    "issuers.*.eab.hmac_key",
    "issuers.*.key",
    "issuers.*.token",
    "issuers.*.approle.secret_id",
    "issuers.*.kubernetes.jwt",
    "issuers.*.access_token",
    "issuers.*.refresh_token",
    "issuers.*.password",
    "solvers.*.tsig_secret",
    "solvers.*.api_token",
    "solvers.*.api_key",
    "solvers.*.secret_access_key",
];

/// Reads `path`, applies `ACMEKEEP__…` environment overrides, and validates the result.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let (config, problems) = load_with_problems(path)?;
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            path: path.to_path_buf(),
            problems,
        })
    }
}

/// Like [`load`], but hands back what could be read together with every problem found, so
/// that `check` can go on to build the entries that have none. Fails only when the file
/// cannot be read at all.
pub fn load_with_problems(path: &Path) -> Result<(Config, Vec<Problem>), ConfigError> {
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
    let mut problems = unresolvable_secrets(&root);
    let unreadable_secrets = problems.len();
    let mut config = from_value(path, root, &mut problems);
    config.resolve_relative_paths();
    // The cross-checks need every entry parsed (else they would report missing references),
    // not every secret readable.
    if problems.len() == unreadable_secrets {
        crate::validate::validate(&config, &mut problems);
    }
    if problems.is_empty()
        && let Some(warning) = exposed_secrets_warning(path)
    {
        tracing::warn!("{warning}");
    }
    Ok((config, problems))
}

/// `name` as one segment of a key path: as it is when it is an identifier, else quoted the
/// way TOML writes it (`certificates."a/b"`).
pub(crate) fn key_segment(name: &str) -> String {
    if check_name(name).is_ok() {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// Certificate, issuer and solver names become file names in the state directory, so they
/// must be identifiers: `^[A-Za-z0-9][A-Za-z0-9._-]*$`.
fn check_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(
            "names must match ^[A-Za-z0-9][A-Za-z0-9._-]*$ (letters, digits, '.', '_' and '-', \
             starting with a letter or digit); rename the entry",
        );
    }
    Ok(())
}

impl Config {
    /// This configuration without the issuers, solvers and certificates that `problems`
    /// name, so that the rest can still be built and checked.
    pub fn without_entries_in(&self, problems: &[Problem]) -> Config {
        let mentioned = |table: &str, name: &str| {
            [name.to_string(), key_segment(name)].iter().any(|segment| {
                let prefix = format!("{table}.{segment}");
                problems.iter().any(|problem| {
                    problem.key == prefix
                        || problem.key.starts_with(&format!("{prefix}."))
                        || problem.key.starts_with(&format!("{prefix}["))
                })
            })
        };
        let mut config = self.clone();
        config.issuers.retain(|name, _| !mentioned("issuers", name));
        config.solvers.retain(|name, _| !mentioned("solvers", name));
        config
            .certificates
            .retain(|name, _| !mentioned("certificates", name));
        config
    }
}

impl Config {
    /// Makes every relative path of the file relative to the file's own directory, so a
    /// configuration means the same thing whatever the working directory.
    /// The base is the canonical directory of the file (symlinks resolved), whatever the
    /// working directory and however `--config` spelled the path.
    fn resolve_relative_paths(&mut self) {
        let file = std::fs::canonicalize(&self.path)
            .or_else(|_| std::path::absolute(&self.path))
            .unwrap_or_else(|_| self.path.clone());
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
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

/// A warning when the file holds secrets inline (not as `env:`/`file:` references) and
/// other users may read it: names the file, its mode and the keys, never the values.
fn exposed_secrets_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;

    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    let readers = match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (false, false) => return None,
        (true, false) => "its group",
        (false, true) => "every user",
        (true, true) => "its group and every user",
    };
    // The file alone: a secret given by an ACMEKEEP__… variable is not in the file.
    let no_overrides = environment().source(Some(std::collections::HashMap::new()));
    let keys = inline_secrets(&read(path, no_overrides).ok()?);
    if keys.is_empty() {
        return None;
    }
    Some(format!(
        "{file} holds secrets inline ({keys}) and is readable by {readers} (mode {mode:04o}): \
         run `chmod 600 {file}`, or give each as an \"env:NAME\" or \"file:/path\" reference",
        file = path.display(),
        keys = keys.join(", "),
    ))
}

/// A problem for each `env:`/`file:` reference at a [`SECRET_KEYS`] key that cannot be
/// read now (unset variable, missing file), so `check` finds what the first issuance would.
fn unresolvable_secrets(root: &Value) -> Vec<Problem> {
    secret_values(root)
        .into_iter()
        .filter(|(_, value)| acme_core::Secret::is_reference(value))
        .filter_map(|(key, value)| {
            acme_core::Secret::resolve(&value).err().map(|err| Problem {
                key,
                message: err.to_string(),
            })
        })
        .collect()
}

/// The dotted keys of `root` that match [`SECRET_KEYS`] and hold a literal value.
fn inline_secrets(root: &Value) -> Vec<String> {
    secret_values(root)
        .into_iter()
        .filter(|(_, value)| !value.is_empty() && !acme_core::Secret::is_reference(value))
        .map(|(key, _)| key)
        .collect()
}

/// Every string at a key matching [`SECRET_KEYS`], with its dotted key, sorted by key.
fn secret_values(root: &Value) -> Vec<(String, String)> {
    fn walk(value: &Value, pattern: &[&str], at: String, found: &mut Vec<(String, String)>) {
        let Some((first, rest)) = pattern.split_first() else {
            if let Value::String(text) = value {
                found.push((at, text.clone()));
            }
            return;
        };
        let Value::Object(table) = value else {
            return;
        };
        let join = |key: &str| {
            if at.is_empty() {
                key.to_string()
            } else {
                format!("{at}.{key}")
            }
        };
        if *first == "*" {
            for (key, child) in table {
                walk(child, rest, join(&key_segment(key)), found);
            }
        } else if let Some(child) = table.get(*first) {
            walk(child, rest, join(first), found);
        }
    }
    let mut found = Vec::new();
    for pattern in SECRET_KEYS {
        let pattern: Vec<&str> = pattern.split('.').collect();
        walk(root, &pattern, String::new(), &mut found);
    }
    found.sort();
    found
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
/// It also quotes the offending source line of a TOML syntax error, which may hold an inline
/// secret: only the position and the reason are kept.
fn strip_origin(message: &str, path: &Path) -> String {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    message
        .lines()
        .filter(|line| !is_source_excerpt(line))
        .map(|line| match line.rfind(" in ") {
            // The crate names the file as given or relative to the working directory.
            Some(at) if !file_name.is_empty() && line.ends_with(&file_name) => &line[..at],
            _ => line,
        })
        .filter(|line| !line.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line of the quoted source in a TOML error: `  |`, `6 | text`, or the caret line.
fn is_source_excerpt(line: &str) -> bool {
    let rest = line
        .trim_start()
        .trim_start_matches(|c: char| c.is_ascii_digit());
    rest.trim_start().starts_with('|')
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
                let prefix = format!("{name}.{}", key_segment(&key));
                if let Err(message) = check_name(&key) {
                    problems.push(Problem {
                        key: prefix.clone(),
                        message: message.to_string(),
                    });
                }
                if let Some(parsed) = entry::<T>(&prefix, value, problems) {
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
    fn metrics_and_health_listen_on_loopback_unless_configured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        std::fs::write(&path, GOOD).expect("write");
        let config = load(&path).expect("load");
        assert_eq!(config.daemon.listen_metrics.to_string(), "127.0.0.1:9464");
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
    fn an_unknown_certificate_name_lists_the_configured_ones_and_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        std::fs::write(&path, GOOD).expect("write");
        let config = load(&path).expect("load");
        assert!(config.certificate("web").is_ok());
        let err = config.certificate("wbe").expect_err("unknown");
        assert_eq!(
            err,
            format!(
                "no certificate named \"wbe\" in {} (configured: web)",
                path.display()
            )
        );
    }

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
    fn names_that_are_not_identifiers_are_refused_and_quoted_in_the_key() {
        for name in [
            "../accounts/le",
            "a/b",
            "",
            ".",
            "..",
            ".hidden",
            "-x",
            "a b",
        ] {
            let toml = GOOD.replace("[certificates.web]", &format!("[certificates.{name:?}]"));
            let problems = problems_of(&toml);
            assert_eq!(problems.len(), 1, "{name:?}: {problems:?}");
            assert!(
                problems[0].starts_with(&format!("certificates.{name:?}: names must match")),
                "{name:?}: {problems:?}"
            );
        }
        let problems =
            problems_of(&GOOD.replace("[certificates.web]", "[certificates.\"web.revoked\"]"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("certificates.web.revoked: the state record of"),
            "{problems:?}"
        );
        for name in ["web", "a..b", "web_2.example-x", "0"] {
            let toml = GOOD.replace("[certificates.web]", &format!("[certificates.{name:?}]"));
            assert_eq!(problems_of(&toml), Vec::<String>::new(), "{name:?}");
        }
    }

    #[test]
    fn secret_references_that_cannot_be_read_are_named_by_key() {
        let toml = INLINE_SECRETS
            .replace(
                "\"hmac-value-do-not-print\"",
                "\"env:ACMEKEEP_TEST_SURELY_UNSET\"",
            )
            .replace(
                "\"cloudflare-value-do-not-print\"",
                "\"file:/nonexistent/cf-token\"",
            );
        let problems = problems_of(&toml);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "issuers.le.eab.hmac_key: secret env:ACMEKEEP_TEST_SURELY_UNSET: the environment variable is not set"
            ),
            "{problems:?}"
        );
        assert!(
            problems[1].starts_with("solvers.dns.api_token: secret file:/nonexistent/cf-token"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_config_named_without_a_directory_resolves_against_its_canonical_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("acmekeep.toml"),
            GOOD.replace("/tmp/acmekeep-test-state", "state"),
        )
        .expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).expect("symlink");
        let mut config = load(&link.join("acmekeep.toml")).expect("load");
        let canonical = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(config.daemon.state_dir, canonical.join("state"));
        config.path = PathBuf::from("acmekeep.toml");
        config.daemon.state_dir = PathBuf::from("state");
        config.resolve_relative_paths();
        let cwd = std::env::current_dir().expect("cwd");
        assert!(config.daemon.state_dir.is_absolute(), "{config:?}");
        assert_eq!(config.daemon.state_dir, cwd.join("state"));
    }

    #[test]
    fn a_missing_file_says_how_to_point_elsewhere() {
        let err = load(Path::new("/nonexistent/acmekeep.toml")).expect_err("missing file");
        assert_eq!(
            err.to_string(),
            "error: /nonexistent/acmekeep.toml: no such file (use --config PATH or ACMEKEEP_CONFIG to point elsewhere)"
        );
    }

    /// `toml` written with `mode`, and the warning `load` gives for it.
    fn permission_warning(toml: &str, mode: u32) -> (PathBuf, Option<String>) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("acmekeep.toml");
        std::fs::write(&path, toml).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        assert!(load(&path).is_ok(), "{toml}");
        let warning = exposed_secrets_warning(&path);
        (path, warning)
    }

    const INLINE_SECRETS: &str = r#"
        [daemon]
        state_dir = "/tmp/acmekeep-test-state"
        [issuers.le]
        kind = "acme"
        directory = "letsencrypt-staging"
        eab = { kid = "kid-1", hmac_key = "hmac-value-do-not-print" }
        [solvers.dns]
        kind = "dns-01"
        provider = "cloudflare"
        api_token = "cloudflare-value-do-not-print"
        [certificates.web]
        domains = ["www.example.test"]
        issuer = "le"
        sinks = [{ kind = "files", dir = "/tmp/acmekeep-test-out" }]
    "#;

    #[test]
    fn a_world_readable_file_with_inline_secrets_is_named_with_its_mode_and_keys() {
        let (path, warning) = permission_warning(INLINE_SECRETS, 0o644);
        let warning = warning.expect("a warning");
        assert_eq!(
            warning,
            format!(
                "{file} holds secrets inline (issuers.le.eab.hmac_key, solvers.dns.api_token) \
                 and is readable by its group and every user (mode 0644): run `chmod 600 {file}`, \
                 or give each as an \"env:NAME\" or \"file:/path\" reference",
                file = path.display()
            )
        );
        assert!(!warning.contains("do-not-print"), "{warning}");
    }

    #[test]
    fn a_group_readable_file_is_warned_about_too() {
        let (_, warning) = permission_warning(INLINE_SECRETS, 0o640);
        assert!(
            warning
                .as_deref()
                .is_some_and(|w| w.contains("readable by its group (mode 0640)")),
            "{warning:?}"
        );
    }

    #[test]
    fn a_private_file_or_one_holding_only_references_gets_no_warning() {
        assert_eq!(permission_warning(INLINE_SECRETS, 0o600).1, None);
        assert_eq!(permission_warning(INLINE_SECRETS, 0o400).1, None);
        let references = INLINE_SECRETS
            .replace("\"hmac-value-do-not-print\"", "\"env:PATH\"")
            .replace("\"cloudflare-value-do-not-print\"", "\"file:/dev/null\"");
        assert_eq!(permission_warning(&references, 0o644).1, None);
        assert_eq!(permission_warning(GOOD, 0o644).1, None);
    }

    #[test]
    fn every_kind_of_inline_secret_is_found() {
        let root = serde_json::json!({
            "issuers": {
                "le": { "kind": "acme", "eab": { "kid": "k", "hmac_key": "x" } },
                "ca": { "kind": "ca", "key": "-----BEGIN PRIVATE KEY-----" },
                "vault": { "kind": "vault", "token": "x",
                           "approle": { "role_id": "r", "secret_id": "x" },
                           "kubernetes": { "role": "r", "jwt": "x" } },
                "tpp": { "kind": "venafi", "access_token": "x", "refresh_token": "x",
                         "username": "u", "password": "x" },
            },
            "solvers": {
                "bind": { "tsig_key": "k", "tsig_secret": "x" },
                "cf": { "api_token": "x" },
                "pdns": { "api_key": "x" },
                "aws": { "access_key_id": "AKIA", "secret_access_key": "x" },
            },
            "certificates": { "web": { "key": "ecdsa-p256" } },
        });
        assert_eq!(
            inline_secrets(&root),
            [
                "issuers.ca.key",
                "issuers.le.eab.hmac_key",
                "issuers.tpp.access_token",
                "issuers.tpp.password",
                "issuers.tpp.refresh_token",
                "issuers.vault.approle.secret_id",
                "issuers.vault.kubernetes.jwt",
                "issuers.vault.token",
                "solvers.aws.secret_access_key",
                "solvers.bind.tsig_secret",
                "solvers.cf.api_token",
                "solvers.pdns.api_key",
            ]
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
