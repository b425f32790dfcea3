//! The daemon (`acmekeep run`): renews by itself on schedule, reloads on SIGHUP, stops
//! cleanly on SIGTERM, keeps its state directory to itself, and recovers from lost state.

use std::net::TcpListener;
use std::time::Duration;

use e2e::{Acme2certifier, Config, Pebble, PebbleOptions, TestDir, free_port, unix_seconds};

/// Certificates this short-lived renew at half-life, 20 s after issuance.
const LIFETIME: Duration = Duration::from_secs(40);
const WAIT: Duration = Duration::from_secs(60);

fn short_lived(dir: &TestDir) -> Pebble {
    Pebble::start(
        dir,
        PebbleOptions {
            certificate_validity: Some(LIFETIME),
            ..PebbleOptions::default()
        },
    )
}

/// The TOML of `config` with extra keys for its last certificate.
fn with_extras(config: &Config, last_certificate: &str) -> String {
    config.to_toml() + last_certificate + "\n"
}

fn curl(url: &str) -> String {
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5", url])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn renews_by_itself_at_the_policy_time_runs_the_deploy_hook_and_exports_the_new_expiry() {
    let dir = TestDir::new();
    let pebble = short_lived(&dir);
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    let metrics = config.metrics_port();
    dir.write_config(&with_extras(
        &config,
        "hooks.deploy = ['echo \"$ACMEKEEP_CERT_NAME $ACMEKEEP_SERIAL\" >> deployed.txt']",
    ));

    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, WAIT);
    let first = dir.sink("one").serial();
    daemon.wait_for("issued and deployed", 2, WAIT);
    let second = dir.sink("one").serial();
    assert_ne!(first, second, "the renewal must deploy a new certificate");
    if daemon.count("basis=half of lifetime") == 0 {
        daemon.fail("the renewal time must come from the policy (half of a short lifetime)");
    }

    let hooks = std::fs::read_to_string(dir.path().join("deployed.txt")).unwrap_or_default();
    assert_eq!(
        hooks.lines().count(),
        2,
        "the deploy hook runs once per deployment: {hooks:?}"
    );
    assert!(
        hooks.lines().all(|line| line.starts_with("one ")),
        "{hooks:?}"
    );

    let not_after = dir.sink("one").not_after_unix();
    let scrape = curl(&format!("http://127.0.0.1:{metrics}/metrics"));
    let line = scrape
        .lines()
        .find(|l| {
            l.starts_with("acmekeep_certificate_expiration_timestamp_seconds")
                && l.contains("name=\"one\"")
        })
        .unwrap_or_else(|| daemon.fail(&format!("no expiration metric for one in:\n{scrape}")));
    let exported: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| daemon.fail(&format!("unparsable metric line {line:?}")));
    assert_eq!(
        exported as i64, not_after,
        "metrics must show the deployed expiry"
    );
    assert!(daemon.stop().success());
}

#[test]
fn sighup_issues_added_certificates_and_forgets_removed_ones() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let base = Config::for_pebble(&dir, &pebble);
    dir.write_config(
        &base
            .clone()
            .certificate("one", &["a.example.test"])
            .to_toml(),
    );
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, WAIT);

    dir.write_config(&base.certificate("two", &["b.example.test"]).to_toml());
    daemon.signal("HUP");
    daemon.wait_for("configuration reloaded", 1, WAIT);
    daemon.wait_for("no longer configured", 1, WAIT);
    daemon.wait_for("issued and deployed", 2, WAIT);
    assert_eq!(dir.sink("two").dns_names(), ["b.example.test"]);
    assert!(daemon.stop().success());
}

#[test]
fn an_invalid_configuration_on_sighup_is_rejected_and_the_running_one_kept() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, WAIT);

    dir.write_config(&config.to_toml().replace("domains", "domain"));
    daemon.signal("HUP");
    daemon.wait_for("reload rejected", 1, WAIT);
    if daemon.count("certificates.one.domain") == 0 {
        daemon.fail("the rejection must name the offending key");
    }
    assert!(
        daemon.stop().success(),
        "the daemon keeps running on the old configuration"
    );
}

#[test]
fn a_second_daemon_on_the_same_state_directory_refuses_to_start() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());
    let daemon = dir.spawn_daemon();
    daemon.wait_for("acmekeep is running", 1, WAIT);

    let second = dir.acmekeep(&["run"]);
    second.assert_exit(1).assert_stderr_contains(&format!(
        "in use by another acmekeep (pid {})",
        daemon.pid()
    ));
    assert!(daemon.stop().success());
}

#[test]
fn sigterm_mid_issuance_keeps_the_deployed_certificate_and_closes_the_challenge_server() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());
    dir.acmekeep(&["--issue"]).assert_success();
    let deployed = dir.sink("one").serial();

    // The CA's validator now reaches a listener that never answers, so validation hangs,
    // while acmekeep answers on another port; a new name makes the renewal due and needs a
    // fresh authorization (the one for a.example.test may still be valid and reused).
    let silent = TcpListener::bind(("127.0.0.1", pebble.http_port())).expect("bind pebble's port");
    let solver_port = free_port();
    let renewal = Config::for_pebble(&dir, &pebble)
        .solver_port(solver_port)
        .certificate("one", &["a.example.test", "b.example.test"]);
    dir.write_config(&renewal.to_toml());
    let daemon = dir.spawn_daemon();
    daemon.wait_for("presenting challenge", 1, WAIT);

    let status = daemon.stop();
    assert!(status.success(), "a clean stop exits 0, got {status}");
    assert_eq!(
        dir.sink("one").serial(),
        deployed,
        "the deployed certificate is untouched"
    );
    TcpListener::bind(("127.0.0.1", solver_port))
        .expect("the challenge server must be closed after the stop");
    drop(silent);
}

#[test]
fn deleted_state_is_recovered_from_what_the_sinks_hold() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, WAIT);
    assert!(daemon.stop().success());
    let serial = dir.sink("one").serial();

    std::fs::remove_dir_all(dir.state_dir()).expect("delete the state directory");
    let daemon = dir.spawn_daemon();
    daemon.wait_for("certificate is valid", 1, WAIT);
    assert_eq!(
        daemon.count("issuing"),
        0,
        "a valid deployed certificate is not issued again"
    );
    assert_eq!(dir.sink("one").serial(), serial);
    assert!(daemon.stop().success());
}

#[test]
fn failures_back_off_and_the_backoff_survives_a_restart() {
    let dir = TestDir::new();
    let directory = format!("https://127.0.0.1:{}/dir", free_port());
    let config = Config::for_directory(&dir, &directory).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issuance failed", 1, WAIT);
    assert!(daemon.stop().success());

    let status = dir.acmekeep(&["status", "--json"]);
    status.assert_exit(1);
    let rows: serde_json::Value = serde_json::from_str(status.stdout()).expect("status JSON");
    assert_eq!(rows[0]["name"], "one");
    assert_eq!(rows[0]["last_result"], "failed");
    assert_eq!(rows[0]["failures"], 1);
    assert_eq!(rows[0]["renewal_basis"], "backoff");

    let daemon = dir.spawn_daemon();
    daemon.wait_for("waiting before the next attempt", 1, WAIT);
    assert_eq!(
        daemon.count("issuing"),
        0,
        "the backoff is obeyed after a restart"
    );
    assert!(daemon.stop().success());
}

#[test]
fn the_renewal_time_comes_from_the_cas_ari_window() {
    let dir = TestDir::new();
    let server = Acme2certifier::start(&dir);
    let config = Config::for_acme2certifier(&dir, &server).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());
    let daemon = dir.spawn_daemon();
    daemon.wait_for("CA renewal window", 1, WAIT);

    // acme2certifier's window opens at 85 % of a 10-day lifetime; the policy alone would
    // renew at half-life, five days in.
    let status = dir.acmekeep(&["status", "--json"]);
    status.assert_success();
    let rows: serde_json::Value = serde_json::from_str(status.stdout()).expect("status JSON");
    assert_eq!(rows[0]["renewal_basis"], "ari", "{}", status.stdout());
    let renews_at = unix_seconds(rows[0]["renews_at"].as_str().unwrap_or_default());
    let not_after = dir.sink("one").not_after_unix();
    let lifetime = i64::from(Acme2certifier::CERT_VALIDITY_DAYS) * 86400;
    assert!(
        renews_at >= not_after - lifetime * 15 / 100 - 120 && renews_at <= not_after,
        "renews at {renews_at}, expected inside the window ending at {not_after}"
    );
    let state = std::fs::read_to_string(dir.state_dir().join("certificates/one.json"))
        .expect("state record");
    assert!(
        state.contains("\"chosen\""),
        "the chosen instant is persisted: {state}"
    );
    assert!(daemon.stop().success());
}
