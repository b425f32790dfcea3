//! One-shot issuance (`acmekeep --issue`) against a real pebble, through the http-01 solver
//! and the files sink.

use std::fs;

use e2e::{Config, Pebble, PebbleOptions, Run, TestDir};

/// Starts pebble in `dir` and writes a config with the given certificates (ecdsa-p256).
fn pebble_with(dir: &TestDir, certificates: &[(&str, &[&str])]) -> Pebble {
    let pebble = Pebble::start(dir, PebbleOptions::default());
    let config = certificates.iter().fold(
        Config::for_pebble(dir, &pebble),
        |config, (name, domains)| config.certificate(name, domains),
    );
    dir.write_config(&config.to_toml());
    pebble
}

/// Asserts the stdout line of certificate `name` says it was issued, with `serial` (as
/// openssl prints it: upper-case hex, maybe with a leading zero byte).
fn assert_reports_issued(run: &Run, name: &str, serial: &str) {
    let line = run.line_for(name);
    if !line.starts_with(&format!("{name}: issued")) {
        run.fail(&format!("{name}'s line must say it was issued"));
    }
    let reported = line
        .split("serial ")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next());
    let normalize = |serial: &str| serial.trim_start_matches('0').to_ascii_lowercase();
    if reported.map(normalize) != Some(normalize(serial)) {
        run.fail(&format!(
            "{name}'s line must report serial {serial}, the one delivered"
        ));
    }
}

#[test]
fn issues_a_verifiable_certificate_for_a_single_name() {
    let dir = TestDir::new();
    let pebble = pebble_with(&dir, &[("one", &["a.example.test"])]);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    let sink = dir.sink("one");
    assert_reports_issued(&run, "one", &sink.serial());
    for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        assert!(sink.file(file).is_file(), "{file} missing\n{run}");
    }
    assert_eq!(sink.dns_names(), ["a.example.test"]);
    assert_eq!(
        sink.privkey_mode(),
        0o600,
        "privkey.pem must be readable by its owner only"
    );
    sink.assert_chains_to(&pebble.root_file());
    sink.assert_key_matches_cert();
    sink.assert_fullchain_starts_with_cert();
}

#[test]
fn delivers_files_through_an_atomically_swapped_data_link() {
    let dir = TestDir::new();
    let _pebble = pebble_with(&dir, &[("one", &["a.example.test"])]);

    dir.acmekeep(&["--issue"]).assert_success();

    let sink = dir.sink("one");
    let is_symlink = |name: &str| {
        fs::symlink_metadata(sink.file(name)).is_ok_and(|meta| meta.file_type().is_symlink())
    };
    assert!(
        is_symlink("..data"),
        "..data must be a symlink to the current version"
    );
    for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
        assert!(is_symlink(file), "{file} must be a symlink");
        let target = fs::read_link(sink.file(file)).expect("read link");
        assert_eq!(
            target,
            std::path::Path::new("..data").join(file),
            "{file} must point through ..data"
        );
    }
}

#[test]
fn puts_every_name_in_one_certificate() {
    let dir = TestDir::new();
    let names = ["a.example.test", "b.example.test", "c.example.test"];
    let _pebble = pebble_with(&dir, &[("multi", &names)]);

    dir.acmekeep(&["--issue"]).assert_success();

    assert_eq!(dir.sink("multi").dns_names(), names);
}

/// Issues one certificate with `key` and checks the certificate's public key is of that type
/// (every fragment of `expected` appears in `openssl x509 -text`) and matches privkey.pem.
fn assert_issues_with_key(key: &str, expected: &[&str]) {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config =
        Config::for_pebble(&dir, &pebble).certificate_with_key("keyed", &["k.example.test"], key);
    dir.write_config(&config.to_toml());

    dir.acmekeep(&["--issue"]).assert_success();

    let sink = dir.sink("keyed");
    let text = sink.cert_text();
    for fragment in expected {
        assert!(
            text.contains(fragment),
            "key = {key:?}: certificate text lacks {fragment:?}:\n{text}"
        );
    }
    sink.assert_key_matches_cert();
    sink.assert_chains_to(&pebble.root_file());
}

#[test]
fn issues_rsa_2048_keys() {
    assert_issues_with_key(
        "rsa-2048",
        &[
            "Public Key Algorithm: rsaEncryption",
            "Public-Key: (2048 bit)",
        ],
    );
}

#[test]
fn issues_rsa_3072_keys() {
    assert_issues_with_key(
        "rsa-3072",
        &[
            "Public Key Algorithm: rsaEncryption",
            "Public-Key: (3072 bit)",
        ],
    );
}

#[test]
fn issues_rsa_4096_keys() {
    assert_issues_with_key(
        "rsa-4096",
        &[
            "Public Key Algorithm: rsaEncryption",
            "Public-Key: (4096 bit)",
        ],
    );
}

#[test]
fn issues_ecdsa_p256_keys() {
    assert_issues_with_key(
        "ecdsa-p256",
        &["Public Key Algorithm: id-ecPublicKey", "NIST CURVE: P-256"],
    );
}

#[test]
fn issues_ecdsa_p384_keys() {
    assert_issues_with_key(
        "ecdsa-p384",
        &["Public Key Algorithm: id-ecPublicKey", "NIST CURVE: P-384"],
    );
}

#[test]
fn issues_ed25519_keys() {
    assert_issues_with_key("ed25519", &["Public Key Algorithm: ED25519"]);
}

#[test]
fn second_run_leaves_a_valid_certificate_untouched() {
    let dir = TestDir::new();
    let _pebble = pebble_with(&dir, &[("one", &["a.example.test"])]);
    dir.acmekeep(&["--issue"]).assert_success();
    let sink = dir.sink("one");
    let (first_pem, first_serial) = (sink.cert_pem(), sink.serial());

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("0 issued, 1 still valid, 0 failed");
    assert!(run.line_for("one").contains("still valid"), "{run}");
    assert_eq!(
        sink.cert_pem(),
        first_pem,
        "cert.pem must keep the same bytes"
    );
    assert_eq!(sink.serial(), first_serial);
}

#[test]
fn force_renews_a_valid_certificate() {
    let dir = TestDir::new();
    let _pebble = pebble_with(&dir, &[("one", &["a.example.test"])]);
    dir.acmekeep(&["--issue"]).assert_success();
    let sink = dir.sink("one");
    let first_serial = sink.serial();

    let run = dir.acmekeep(&["--issue", "--force"]);

    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    assert_reports_issued(&run, "one", &sink.serial());
    assert_ne!(
        sink.serial(),
        first_serial,
        "--force must replace the certificate"
    );
    assert_eq!(sink.dns_names(), ["a.example.test"]);
    sink.assert_key_matches_cert();
}

#[test]
fn issue_with_a_name_touches_only_that_certificate() {
    let dir = TestDir::new();
    let _pebble = pebble_with(
        &dir,
        &[
            ("one", &["one.example.test"]),
            ("two", &["two.example.test"]),
        ],
    );

    let run = dir.acmekeep(&["--issue", "two"]);

    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    run.line_for("two");
    assert!(
        !run.stdout().lines().any(|line| line.starts_with("one: ")),
        "one was not selected\n{run}"
    );
    assert_eq!(dir.sink("two").dns_names(), ["two.example.test"]);
    assert!(
        dir.sink("one").is_empty(),
        "one was not selected, yet something was delivered\n{run}"
    );
}

#[test]
fn issues_several_certificates_in_one_run() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = (1..=5).fold(Config::for_pebble(&dir, &pebble), |config, i| {
        config.certificate(&format!("c{i}"), &[&format!("c{i}.example.test")])
    });
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("5 issued, 0 still valid, 0 failed");
    for i in 1..=5 {
        let name = format!("c{i}");
        assert_reports_issued(&run, &name, &dir.sink(&name).serial());
        assert_eq!(
            dir.sink(&name).dns_names(),
            [format!("{name}.example.test")]
        );
    }
}

#[test]
fn survives_thirty_percent_nonce_rejection() {
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            nonce_reject_percent: 30,
            ..PebbleOptions::default()
        },
    );
    let config = (1..=5).fold(Config::for_pebble(&dir, &pebble), |config, i| {
        config.certificate(&format!("n{i}"), &[&format!("n{i}.example.test")])
    });
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("5 issued, 0 still valid, 0 failed");
    for i in 1..=5 {
        assert_eq!(
            dir.sink(&format!("n{i}")).dns_names(),
            [format!("n{i}.example.test")]
        );
    }
}
