//! Configuration errors: exit 2, one `error: FILE: KEY: …` line per problem, all at once.

use e2e::{Config, Pebble, PebbleOptions, Run, TestDir};

/// A valid config with no certificates (issuer `pebble`, http-01 solver `web`), followed by
/// `certificates`, raw TOML in which `{sink}` stands for a files sink under the test directory.
fn write_config(dir: &TestDir, certificates: &str) {
    let base = Config::for_directory(dir, "https://127.0.0.1:9/dir").to_toml();
    let sink = format!(
        "[{{ kind = \"files\", dir = \"{}\" }}]",
        dir.path().join("out").display()
    );
    dir.write_config(&format!(
        "{base}\n{}",
        certificates.replace("{sink}", &sink)
    ));
}

/// The stderr lines that report a problem.
fn error_lines(run: &Run) -> Vec<&str> {
    run.stderr()
        .lines()
        .filter(|line| line.starts_with("error: "))
        .collect()
}

/// Asserts that both `check` and `--issue` refuse the config with exit 2 and an `error:` line
/// naming the config file and every one of `needles`.
fn assert_rejected(dir: &TestDir, needles: &[&str]) {
    let file = dir.config_path().display().to_string();
    for args in [&["check"][..], &["--issue"][..]] {
        let run = dir.acmekeep(args);
        run.assert_exit(2);
        let named = error_lines(&run)
            .into_iter()
            .any(|line| line.contains(&file) && needles.iter().all(|needle| line.contains(needle)));
        if !named {
            run.fail(&format!(
                "no `error:` line names {file} and all of {needles:?}"
            ));
        }
    }
}

#[test]
fn unknown_key_is_named_with_its_section_and_file() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[certificates.one]
domain = ["a.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
    );
    assert_rejected(&dir, &["certificates.one", "domain"]);
}

#[test]
fn reference_to_an_undefined_issuer_is_rejected() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[certificates.one]
domains = ["a.example.test"]
issuer = "nosuch"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
    );
    assert_rejected(&dir, &["certificates.one.issuer", "nosuch"]);
}

#[test]
fn unparsable_duration_is_rejected() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[certificates.one]
domains = ["a.example.test"]
issuer = "pebble"
renew_before = "3 fortnights"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
    );
    assert_rejected(&dir, &["certificates.one.renew_before"]);
}

#[test]
fn certificate_without_names_is_rejected() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[certificates.one]
domains = []
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
    );
    assert_rejected(&dir, &["certificates.one.domains"]);
}

#[test]
fn wildcard_that_only_an_http01_solver_could_prove_is_rejected() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[certificates.one]
domains = ["*.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
    );
    assert_rejected(&dir, &["certificates.one", "*.example.test"]);
}

#[test]
fn every_problem_in_a_file_is_reported_at_once() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[certificates.one]
domains = ["a.example.test"]
issuer = "nosuch"
sinks = [{ kind = "files", dir = "{out}/one" }]

[certificates.two]
domains = []
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/two" }]

[certificates.three]
domains = ["*.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/three" }]
"#,
    );

    let run = dir.acmekeep(&["check"]);

    run.assert_exit(2);
    let errors = error_lines(&run);
    if errors.len() != 3 {
        run.fail(&format!(
            "expected 3 `error:` lines (one per problem), got {}",
            errors.len()
        ));
    }
    for name in ["certificates.one", "certificates.two", "certificates.three"] {
        if !errors.iter().any(|line| line.contains(name)) {
            run.fail(&format!("no `error:` line names {name}"));
        }
    }
}

#[test]
fn check_accepts_a_good_config() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble)
        .certificate("one", &["a.example.test"])
        .certificate_with_key("two", &["b.example.test", "c.example.test"], "rsa-2048");
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["check"]);

    run.assert_success();
    if !error_lines(&run).is_empty() {
        run.fail("a good config must not produce `error:` lines");
    }
}
