//! `acmekeep revoke NAME` against a real pebble: the deployed certificate is revoked at the
//! CA (checked through pebble's management API), and replaced on the next run unless
//! `--no-reissue`.

use std::process::Command;
use std::time::Duration;

use e2e::{Config, Pebble, PebbleOptions, TestDir};
use serde_json::Value;

/// How long the daemon may take to issue.
const WAIT: Duration = Duration::from_secs(30);

/// Starts pebble and writes a config with certificate `web` (web.example.test, www.example.test).
fn pebble_with_web(dir: &TestDir) -> Pebble {
    let pebble = Pebble::start(dir, PebbleOptions::default());
    let config = Config::for_pebble(dir, &pebble)
        .certificate("web", &["web.example.test", "www.example.test"]);
    dir.write_config(&config.to_toml());
    pebble
}

/// What pebble's management API says about the certificate with `serial` (hex, as openssl
/// prints it): `{"Status": "Valid" | "Revoked", "Reason": code, …}`.
fn status_at_ca(pebble: &Pebble, serial: &str) -> Value {
    let url = format!("{}/cert-status-by-serial/{serial}", pebble.management_url());
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--cacert"])
        .arg(pebble.ca_bundle())
        .arg(&url)
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "GET {url} failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        pebble.log_tails()
    );
    serde_json::from_slice(&output.stdout).expect("pebble answers JSON")
}

#[test]
fn revokes_the_deployed_certificate_at_the_ca_with_the_reason_given() {
    let dir = TestDir::new();
    let pebble = pebble_with_web(&dir);
    dir.acmekeep(&["--issue"]).assert_success();
    let serial = dir.sink("web").serial();

    let run = dir.acmekeep(&["revoke", "web", "--reason", "keyCompromise", "--yes"]);

    run.assert_success()
        .assert_stdout_contains("names      web.example.test, www.example.test")
        .assert_stdout_contains(
            "revoke at  issuer \"pebble\" (kind = \"acme\"), reason keyCompromise",
        )
        .assert_stdout_contains("web: revoked serial")
        .assert_stdout_contains("the next acmekeep --issue or daemon pass replaces it");
    let status = status_at_ca(&pebble, &serial);
    assert_eq!(status["Status"], "Revoked", "{status}\n{run}");
    assert_eq!(
        status["Reason"], 1,
        "keyCompromise is reason code 1: {status}"
    );
}

#[test]
fn the_next_issue_replaces_a_revoked_certificate() {
    let dir = TestDir::new();
    let pebble = pebble_with_web(&dir);
    dir.acmekeep(&["--issue"]).assert_success();
    let revoked = dir.sink("web").serial();
    dir.acmekeep(&["revoke", "web", "--yes"]).assert_success();

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("web: issued (revoked: unspecified)");
    let replacement = dir.sink("web").serial();
    assert_ne!(
        replacement, revoked,
        "a new certificate must be deployed\n{run}"
    );
    assert_eq!(status_at_ca(&pebble, &replacement)["Status"], "Valid");
    let status = status_at_ca(&pebble, &revoked);
    assert_eq!(status["Status"], "Revoked", "{status}");
    assert_eq!(
        status["Reason"], 0,
        "the default reason is unspecified: {status}"
    );
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("web: still valid");
}

#[test]
fn no_reissue_keeps_the_revoked_certificate_until_issue_force() {
    let dir = TestDir::new();
    let pebble = pebble_with_web(&dir);
    dir.acmekeep(&["--issue"]).assert_success();
    let revoked = dir.sink("web").serial();
    dir.acmekeep(&["revoke", "web", "--yes", "--no-reissue"])
        .assert_success()
        .assert_stdout_contains("not reissued automatically (--no-reissue)");
    assert_eq!(status_at_ca(&pebble, &revoked)["Status"], "Revoked");

    dir.acmekeep(&["--issue"])
        .assert_exit(1)
        .assert_stdout_contains("web: REVOKED: not reissued")
        .assert_stdout_contains("run --issue web --force");
    assert_eq!(dir.sink("web").serial(), revoked, "kept until --force");
    dir.acmekeep(&["status"])
        .assert_exit(1)
        .assert_stdout_contains("revoked; not reissued — run --issue web --force");

    dir.acmekeep(&["--issue", "web", "--force"])
        .assert_success()
        .assert_stdout_contains("web: issued (revoked: unspecified)");
    let replacement = dir.sink("web").serial();
    assert_ne!(replacement, revoked);
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("web: still valid");
    dir.acmekeep(&["status"]).assert_success();
}

#[test]
fn revoking_a_certificate_the_ca_already_revoked_is_reported_and_succeeds() {
    let dir = TestDir::new();
    let _pebble = pebble_with_web(&dir);
    dir.acmekeep(&["--issue"]).assert_success();
    dir.acmekeep(&["revoke", "web", "--yes", "--no-reissue"])
        .assert_success();

    dir.acmekeep(&["revoke", "web", "--yes", "--no-reissue"])
        .assert_success()
        .assert_stdout_contains("was already revoked at the CA");
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_revoked() {
    let dir = TestDir::new();
    let pebble = pebble_with_web(&dir);
    dir.acmekeep(&["--issue"]).assert_success();
    let serial = dir.sink("web").serial();

    dir.acmekeep(&["revoke", "web"])
        .assert_exit(2)
        .assert_stderr_contains("standard input is not a terminal")
        .assert_stderr_contains("pass --yes");

    assert_eq!(status_at_ca(&pebble, &serial)["Status"], "Valid");
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("web: still valid");
}

#[test]
fn an_unknown_name_is_a_usage_error_that_lists_the_configured_names() {
    let dir = TestDir::new();
    let config = Config::for_directory(&dir, "https://127.0.0.1:9/dir")
        .certificate("web", &["web.example.test"])
        .certificate("api", &["api.example.test"]);
    dir.write_config(&config.to_toml());

    dir.acmekeep(&["revoke", "wbe", "--yes"])
        .assert_exit(2)
        .assert_stderr_contains("no certificate named \"wbe\"")
        .assert_stderr_contains("(configured: api, web)");
}

#[test]
fn a_certificate_that_is_not_deployed_cannot_be_revoked() {
    let dir = TestDir::new();
    let config = Config::for_directory(&dir, "https://127.0.0.1:9/dir")
        .certificate("web", &["web.example.test"]);
    dir.write_config(&config.to_toml());

    dir.acmekeep(&["revoke", "web", "--yes"])
        .assert_exit(1)
        .assert_stderr_contains("web: no certificate is deployed")
        .assert_stderr_contains("nothing to revoke");
}

#[test]
fn an_issuer_that_cannot_revoke_says_so_and_what_to_do_instead() {
    let dir = TestDir::new();
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"

[issuers.internal]
kind = "ca"
generate = true

[certificates.web]
domains = ["web.example.test"]
issuer = "internal"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        out = dir.sink("web").path().display(),
    );
    dir.write_config(&toml);
    dir.acmekeep(&["--issue"]).assert_success();

    dir.acmekeep(&["revoke", "web", "--yes"])
        .assert_exit(1)
        .assert_stderr_contains("through issuer \"internal\" (kind = \"ca\")")
        .assert_stderr_contains("cannot revoke certificates")
        .assert_stderr_contains("remove the CA from the trust stores");
}

#[test]
fn a_running_daemon_replaces_the_revoked_certificate_when_told_to_look() {
    let dir = TestDir::new();
    let pebble = pebble_with_web(&dir);
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, WAIT);
    let revoked = dir.sink("web").serial();

    dir.acmekeep(&["revoke", "web", "--yes"])
        .assert_success()
        .assert_stderr_contains("is in use by another acmekeep")
        .assert_stdout_contains("the running acmekeep replaces it at its next look");
    assert_eq!(status_at_ca(&pebble, &revoked)["Status"], "Revoked");
    daemon.signal("HUP");
    daemon.wait_for("issued and deployed", 2, WAIT);

    let replacement = dir.sink("web").serial();
    assert_ne!(replacement, revoked, "{}", daemon.log());
    assert_eq!(status_at_ca(&pebble, &replacement)["Status"], "Valid");
    assert!(
        daemon.log().contains("revoked: unspecified"),
        "the daemon must say why it issued:\n{}",
        daemon.log()
    );
    daemon.stop();
}

#[test]
fn a_certificate_issued_under_another_account_is_refused_with_the_likely_cause() {
    let dir = TestDir::new();
    let pebble = pebble_with_web(&dir);
    dir.acmekeep(&["--issue"]).assert_success();
    let serial = dir.sink("web").serial();
    std::fs::remove_file(dir.state_dir().join("accounts/pebble.json"))
        .expect("remove the account that issued the certificate");

    dir.acmekeep(&["revoke", "web", "--yes"])
        .assert_exit(1)
        .assert_stderr_contains("(unauthorized)")
        .assert_stderr_contains("issued under another account");

    assert_eq!(status_at_ca(&pebble, &serial)["Status"], "Valid");
}
