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

/// In a fresh test directory, writes the config with `certificates` (see [`write_config`]) and
/// asserts it is rejected as [`assert_rejected`] says.
fn assert_certificates_rejected(certificates: &str, needles: &[&str]) {
    let dir = TestDir::new();
    write_config(&dir, certificates);
    assert_rejected(&dir, needles);
}

#[test]
fn unknown_key_is_named_with_its_section_and_file() {
    assert_certificates_rejected(
        r#"
[certificates.one]
domain = ["a.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
        &["certificates.one", "domain"],
    );
}

#[test]
fn reference_to_an_undefined_issuer_is_rejected() {
    assert_certificates_rejected(
        r#"
[certificates.one]
domains = ["a.example.test"]
issuer = "nosuch"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
        &["certificates.one.issuer", "nosuch"],
    );
}

#[test]
fn unparsable_duration_is_rejected() {
    assert_certificates_rejected(
        r#"
[certificates.one]
domains = ["a.example.test"]
issuer = "pebble"
renew_before = "3 fortnights"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
        &["certificates.one.renew_before"],
    );
}

#[test]
fn certificate_without_names_is_rejected() {
    assert_certificates_rejected(
        r#"
[certificates.one]
domains = []
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
        &["certificates.one.domains"],
    );
}

#[test]
fn wildcard_that_only_an_http01_solver_could_prove_is_rejected() {
    assert_certificates_rejected(
        r#"
[certificates.one]
domains = ["*.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "{out}/one" }]
"#,
        &["certificates.one", "*.example.test"],
    );
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

/// A certificate that is fine on its own, for configs whose mistake is elsewhere.
const GOOD_CERTIFICATE: &str = r#"
[certificates.good]
domains = ["good.example.test", "www.good.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "out/good" }]
"#;

/// Regression (issue 12, item 7): `[certificates."../accounts/p"]` overwrote issuer p's
/// account file, `"a/b"` lost its state record and `""` wrote `.json`. Names of certificates,
/// issuers and solvers become file names, so they must be identifiers.
#[test]
fn names_that_are_not_identifiers_are_refused_by_check_and_by_the_run() {
    let cases = [
        (
            r#"
[certificates."../accounts/pebble"]
domains = ["a.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "out/a" }]
"#,
            r#"certificates."../accounts/pebble""#,
        ),
        (
            r#"
[certificates."a/b"]
domains = ["a.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "out/a" }]
"#,
            r#"certificates."a/b""#,
        ),
        (
            r#"
[certificates.""]
domains = ["a.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "out/a" }]
"#,
            r#"certificates."""#,
        ),
        (
            r#"
[issuers.".."]
kind = "ca"
generate = true
"#,
            r#"issuers."..""#,
        ),
        (
            r#"
[solvers.".hidden"]
kind = "http-01"
zones = ["other.example.test"]
listen = "127.0.0.1:9"
"#,
            r#"solvers.".hidden""#,
        ),
    ];
    for (toml, key) in cases {
        let dir = TestDir::new();
        write_config(&dir, &format!("{GOOD_CERTIFICATE}{toml}"));
        assert_rejected(&dir, &[key, "A-Za-z0-9"]);
        assert!(
            !dir.state_dir().join("accounts").exists() && !dir.path().join("out").exists(),
            "{key}: a refused config must not write anything"
        );
    }
}

/// Regression (issue 12, item 7): each of these passed `check` and then failed `--issue`
/// (or, for secrets, the first issuance); both must refuse them, naming the key.
#[test]
fn check_refuses_everything_the_run_refuses() {
    let cases = [
        (
            "a ca issuer with neither generate nor cert/key",
            "[issuers.local]\nkind = \"ca\"\n",
            vec!["issuers.local", "`generate"],
        ),
        (
            "a ca issuer with both generate and cert",
            "[issuers.local]\nkind = \"ca\"\ngenerate = true\ncert = \"ca.pem\"\n",
            vec!["issuers.local", "`generate"],
        ),
        (
            "a ca issuer whose CA file is missing",
            "[issuers.local]\nkind = \"ca\"\ncert = \"/nonexistent/ca.pem\"\nkey = \"file:/dev/null\"\n",
            vec!["issuers.local", "/nonexistent/ca.pem"],
        ),
        (
            "an http-01 solver with neither listen nor webroot",
            "[solvers.other]\nkind = \"http-01\"\nzones = [\"other.example.test\"]\n",
            vec!["solvers.other", "`listen`"],
        ),
        (
            "an http-01 solver with both listen and webroot",
            "[solvers.other]\nkind = \"http-01\"\nzones = [\"other.example.test\"]\nlisten = \"127.0.0.1:9\"\nwebroot = \"/tmp\"\n",
            vec!["solvers.other", "not both"],
        ),
        (
            "an http-01 solver whose webroot is missing",
            "[solvers.other]\nkind = \"http-01\"\nzones = [\"other.example.test\"]\nwebroot = \"no-such-webroot\"\n",
            vec!["solvers.other", "no-such-webroot"],
        ),
        (
            "an EAB key from an unset environment variable",
            "[issuers.zerossl]\nkind = \"acme\"\ndirectory = \"https://127.0.0.1:9/dir\"\neab = { kid = \"kid-1\", hmac_key = \"env:ACMEKEEP_TEST_SURELY_UNSET_EAB\" }\n",
            vec![
                "issuers.zerossl.eab.hmac_key",
                "ACMEKEEP_TEST_SURELY_UNSET_EAB",
            ],
        ),
        (
            "a Vault token from a missing file",
            "[issuers.vault]\nkind = \"vault\"\nurl = \"https://127.0.0.1:9\"\npath = \"pki/sign/web\"\ntoken = \"file:/nonexistent/vault-token\"\n",
            vec!["issuers.vault.token", "/nonexistent/vault-token"],
        ),
        (
            "a bare IP address in domains",
            "[certificates.ip]\ndomains = [\"192.0.2.7\"]\nissuer = \"pebble\"\nsinks = [{ kind = \"files\", dir = \"out/ip\" }]\n",
            vec!["certificates.ip.domains", "192.0.2.7", "IP address"],
        ),
    ];
    for (case, toml, needles) in cases {
        eprintln!("case: {case}");
        assert_certificates_rejected(&format!("{GOOD_CERTIFICATE}\n{toml}"), &needles);
    }
}

/// Regression (issue 12, item 7): two spellings of one directory passed the duplicate-sink
/// check, and one certificate overwrote the other's files.
#[test]
fn two_spellings_of_one_sink_directory_are_one_directory() {
    let spellings = [
        ("\"out/shared\"", "\"./out/shared/\""),
        ("\"out/shared\"", "\"out/../out/shared\""),
        ("\"out/shared\"", "\"link/shared\""),
    ];
    for (first, second) in spellings {
        let dir = TestDir::new();
        std::fs::create_dir_all(dir.path().join("out")).expect("create out");
        std::os::unix::fs::symlink(dir.path().join("out"), dir.path().join("link"))
            .expect("symlink");
        write_config(
            &dir,
            &format!(
                r#"
[certificates.one]
domains = ["one.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = {first} }}]

[certificates.two]
domains = ["two.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = {second} }}]
"#
            ),
        );
        assert_rejected(
            &dir,
            &["sinks[0].dir", "is already the sink of certificate"],
        );
    }
}

#[test]
fn mistakes_in_issuers_solvers_and_certificates_are_all_reported_at_once() {
    let dir = TestDir::new();
    write_config(
        &dir,
        &format!(
            "{GOOD_CERTIFICATE}{}",
            r#"
[issuers.local]
kind = "ca"

[solvers.other]
kind = "http-01"
zones = ["other.example.test"]

[certificates."a/b"]
domains = ["a.example.test"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "out/a" }]
"#
        ),
    );

    let run = dir.acmekeep(&["check"]);

    run.assert_exit(2);
    let errors = error_lines(&run);
    for key in ["issuers.local", "solvers.other", r#"certificates."a/b""#] {
        if !errors.iter().any(|line| line.contains(key)) {
            run.fail(&format!("no `error:` line names {key}"));
        }
    }
    if errors.len() != 3 {
        run.fail(&format!("expected 3 `error:` lines, got {}", errors.len()));
    }
}

/// An unreadable secret is reported together with the certificates' own mistakes: the
/// cross-checks need every entry parsed, not every secret readable.
#[test]
fn an_unreadable_secret_does_not_hide_the_other_mistakes() {
    let dir = TestDir::new();
    write_config(
        &dir,
        r#"
[issuers.vault]
kind = "vault"
url = "https://127.0.0.1:9"
path = "pki/sign/web"
token = "env:ACMEKEEP_TEST_NEVER_SET_TOKEN"

[certificates.ip]
domains = ["192.0.2.7"]
issuer = "pebble"
sinks = [{ kind = "files", dir = "out/same" }]

[certificates.twin]
domains = ["twin.example.test"]
issuer = "vault"
sinks = [{ kind = "files", dir = "./out/same/" }]
"#,
    );

    let run = dir.acmekeep(&["check"]);

    run.assert_exit(2);
    let errors = error_lines(&run);
    for needle in [
        "issuers.vault.token",
        "certificates.ip.domains",
        "is already the sink of certificate",
    ] {
        if !errors.iter().any(|line| line.contains(needle)) {
            run.fail(&format!("no `error:` line says {needle}"));
        }
    }
}

/// The repository's demo config, copied into `dir/config/demo.toml`; returns that directory.
fn copy_demo_config(dir: &TestDir) -> std::path::PathBuf {
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.toml");
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(&config_dir).expect("create config/");
    std::fs::copy(&demo, config_dir.join("demo.toml")).expect("copy the demo config");
    config_dir
}

/// Regression (issue 12, item 7): `cd config && acmekeep --config demo.toml --issue` failed
/// with "`dir` must be an absolute path" while `check` accepted it.
#[test]
fn relative_paths_mean_the_same_whatever_the_working_directory() {
    let dir = TestDir::new();
    let config_dir = copy_demo_config(&dir);
    let demo = std::path::Path::new("demo.toml");

    dir.acmekeep_in(&config_dir, demo, &["check"])
        .assert_success();
    let first = dir.acmekeep_in(&config_dir, demo, &["--issue"]);
    first.assert_success();
    first.line_for("www");
    let sink = e2e::SinkDir::new(dir.path().join("demo/certs/www"));
    assert_eq!(sink.dns_names(), ["demo.test", "www.demo.test"]);
    assert!(dir.path().join("demo/state/ca/demo-ca/ca.pem").is_file());

    // The same file named from elsewhere, and through a symlink to its directory, is the
    // same configuration: the certificate is found, not issued again.
    std::os::unix::fs::symlink(&config_dir, dir.path().join("linked")).expect("symlink");
    for (cwd, config) in [
        (dir.path().to_path_buf(), "config/demo.toml"),
        (dir.path().join("linked"), "demo.toml"),
    ] {
        dir.acmekeep_in(&cwd, std::path::Path::new(config), &["--issue"])
            .assert_success()
            .assert_stdout_contains("www: still valid");
        dir.acmekeep_in(&cwd, std::path::Path::new(config), &["status"])
            .assert_success();
    }
    assert!(
        !dir.path().join("config/demo").exists(),
        "relative paths resolve against the file's directory, not the working directory"
    );
}

/// Regression (issue 12, item 7): `status`, `check` and `diagnose` created the generated
/// local CA (root-owned when run as root, which then broke the daemon's user). Only `run`
/// and `--issue` create it.
#[test]
fn only_the_run_creates_a_generated_ca() {
    let dir = TestDir::new();
    let config_dir = copy_demo_config(&dir);
    let config = config_dir.join("demo.toml");
    let ca_dir = dir.path().join("demo/state/ca");
    let nameserver = format!("127.0.0.1:{}", e2e::free_port());
    let https_port = e2e::free_port().to_string();

    dir.acmekeep_in(dir.path(), &config, &["check"])
        .assert_success();
    dir.acmekeep_in(dir.path(), &config, &["status"]);
    let diagnose = dir.acmekeep_in(
        dir.path(),
        &config,
        &[
            "diagnose",
            "--no-probe",
            "--nameserver",
            &nameserver,
            "--https-port",
            &https_port,
        ],
    );
    if ca_dir.exists() {
        diagnose.fail(&format!(
            "{} exists after check, status and diagnose",
            ca_dir.display()
        ));
    }
    diagnose.assert_stdout_contains("not created yet");

    dir.acmekeep_in(dir.path(), &config, &["--issue"])
        .assert_success();
    assert!(ca_dir.join("demo-ca/ca.pem").is_file());
    dir.acmekeep_in(dir.path(), &config, &["status"])
        .assert_success();
}
