//! ACME extensions through the binary, against a real acme2certifier: certificate profiles
//! (the issuer's `profile` key) and renewal orders that name the certificate they replace
//! (RFC 9773 `replaces`).

use e2e::{Acme2certifier, Config, TestDir};

/// Starts acme2certifier in `dir` and writes a config for certificate `one`
/// (`a.example.test`), with `profile` if given.
fn acme2certifier_with(dir: &TestDir, profile: Option<&str>) -> Acme2certifier {
    let server = Acme2certifier::start(dir);
    let config = Config::for_acme2certifier(dir, &server).certificate("one", &["a.example.test"]);
    let config = match profile {
        Some(profile) => config.profile(profile),
        None => config,
    };
    dir.write_config(&config.to_toml());
    server
}

#[test]
fn issues_a_verifiable_certificate_from_acme2certifier() {
    let dir = TestDir::new();
    let server = acme2certifier_with(&dir, None);

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    let sink = dir.sink("one");
    assert_eq!(sink.dns_names(), ["a.example.test"]);
    sink.assert_chains_to(&server.ca_cert());
    sink.assert_key_matches_cert();
    assert_eq!(
        server.order_profiles(),
        [""],
        "without a profile key, the order must name none\n{run}"
    );
}

#[test]
fn an_offered_profile_is_sent_with_the_order() {
    let dir = TestDir::new();
    let server = acme2certifier_with(&dir, Some("shortlived"));

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    assert_eq!(dir.sink("one").dns_names(), ["a.example.test"]);
    assert_eq!(
        server.order_profiles(),
        ["shortlived"],
        "the CA must have received the configured profile\n{run}"
    );
}

#[test]
fn a_profile_the_ca_does_not_offer_fails_naming_the_offered_ones_and_orders_nothing() {
    let dir = TestDir::new();
    let server = acme2certifier_with(&dir, Some("nope"));

    let run = dir.acmekeep(&["--issue"]);

    run.assert_exit(1)
        .assert_stdout_contains("0 issued, 0 still valid, 1 failed");
    let expected = format!(
        "profile \"nope\" is not offered by {} (offered: classic, shortlived)",
        server.directory_url()
    );
    if !run.line_for("one").contains(&expected) {
        run.fail(&format!("the failure must say {expected:?}"));
    }
    assert!(
        server.order_profiles().is_empty(),
        "no order may be sent with an unknown profile\n{run}"
    );
    assert!(
        dir.sink("one").is_empty(),
        "nothing may be delivered\n{run}"
    );
}

#[test]
fn forced_renewal_names_the_certificate_it_replaces_and_is_issued() {
    let dir = TestDir::new();
    let _server = acme2certifier_with(&dir, None);
    dir.acmekeep(&["--issue"]).assert_success();
    let sink = dir.sink("one");
    let (first_serial, first_id) = (sink.serial(), sink.ari_certificate_id());

    let run = dir.acmekeep(&["--issue", "--force"]);

    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    // acme2certifier 0.46 accepts the field without echoing it (RFC 9773 says it must), so
    // acmekeep warns and orders again without it; a CA that echoes it gets only this line.
    run.assert_stderr_contains(&format!("renewal order replaces {first_id}"));
    assert_ne!(
        sink.serial(),
        first_serial,
        "--force must deliver a new certificate"
    );
    assert_eq!(sink.dns_names(), ["a.example.test"]);
    sink.assert_key_matches_cert();
}
