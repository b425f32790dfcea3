//! Protocol faults, against the real binary and a real pebble: a storm of rejected nonces,
//! the CA going down and coming back, rate limits with Retry-After (through a
//! fault-injecting proxy), and a certificate already expired when the daemon starts.
//!
//! Each scenario prints one `fault figures:` line (trials, failures, time) for
//! docs/reliability.md; run with `--nocapture` to see them.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::{Config, FaultProxy, Pebble, PebbleOptions, Refusal, TestDir, unix_seconds};

/// How long the daemon may take for what one scenario waits for.
const WAIT: Duration = Duration::from_secs(30);

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

/// The files of a sink directory with their contents, to prove a failed run left it alone.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("list {}: {err}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            (name, std::fs::read(&path).unwrap_or_default())
        })
        .collect();
    files.sort();
    files
}

/// The state record of certificate `name` as JSON.
fn state_record(dir: &TestDir, name: &str) -> serde_json::Value {
    let path = dir.state_dir().join(format!("certificates/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}\n{text}", path.display()))
}

#[test]
fn a_storm_of_rejected_nonces_still_gives_twenty_certificates_in_a_row() {
    const CERTIFICATES: usize = 20;
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            nonce_reject_percent: 50,
            ..PebbleOptions::default()
        },
    );
    let names: Vec<String> = (1..=CERTIFICATES).map(|i| format!("storm{i:02}")).collect();
    let mut config = Config::for_pebble(&dir, &pebble);
    for name in &names {
        config = config.certificate(name, &[&format!("{name}.example.test")]);
    }
    dir.write_config(&config.to_toml());

    let started = Instant::now();
    let run = dir.acmekeep(&["-v", "--issue"]);
    let elapsed = started.elapsed();

    run.assert_success()
        .assert_stdout_contains(&format!("{CERTIFICATES} issued, 0 still valid, 0 failed"));
    for name in &names {
        let sink = dir.sink(name);
        assert_eq!(sink.dns_names(), [format!("{name}.example.test")]);
        sink.assert_key_matches_cert();
    }
    let rejected = run
        .stderr()
        .lines()
        .filter(|line| line.contains("ACME request") && line.contains("status=400"))
        .count();
    let step_retries = run
        .stderr()
        .lines()
        .filter(|line| line.contains("retrying") && line.contains("badNonce"))
        .count();
    assert!(
        rejected > 0,
        "pebble rejected no nonce: the storm tested nothing\n{}",
        run.stderr()
    );
    println!(
        "fault figures: nonce storm: trials={CERTIFICATES} failures=0 badNonce_answers={rejected} \
         step_retries={step_retries} time={:.1}s",
        elapsed.as_secs_f64()
    );
}

#[test]
fn with_the_ca_down_the_one_shot_fails_cleanly_and_issues_once_the_ca_is_back() {
    let dir = TestDir::new();
    let mut pebble = Pebble::start(&dir, PebbleOptions::default());
    dir.write_config(
        &Config::for_pebble(&dir, &pebble)
            .certificate("web", &["web.example.test"])
            .to_toml(),
    );
    dir.acmekeep(&["--issue"]).assert_success();
    let deployed = snapshot(dir.sink("web").path());
    let old_serial = dir.sink("web").serial();
    let started = Instant::now();

    pebble.stop();
    let down = dir.acmekeep(&["--issue", "--force"]);

    down.assert_exit(1);
    let line = down.line_for("web");
    assert!(
        line.contains("FAILED") && line.contains("cannot reach the CA"),
        "the failure must say the CA cannot be reached: {line}"
    );
    assert!(
        line.contains(pebble.directory_url()),
        "the failure must name the directory: {line}"
    );
    assert_eq!(
        snapshot(dir.sink("web").path()),
        deployed,
        "a failed run must leave the deployed files exactly as they were, with nothing added"
    );

    pebble.restart();
    let back = dir.acmekeep(&["--issue", "--force"]);

    back.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed")
        .assert_stderr_contains("the CA does not know the stored account");
    let sink = dir.sink("web");
    assert_ne!(
        sink.serial(),
        old_serial,
        "the CA that came back issued anew"
    );
    sink.assert_key_matches_cert();
    sink.assert_chains_to(&pebble.root_file());
    println!(
        "fault figures: CA down and back: trials=1 failures=0 time={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_rate_limit_with_retry_after_is_obeyed_persisted_and_shown_by_status() {
    /// Longer than the daemon's own one-hour floor after a rate limit, so the test tells
    /// the CA's value from the floor.
    const RETRY_AFTER: i64 = 2 * 3600;
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let proxy = FaultProxy::start(&dir, &pebble);
    // Only the first new order is refused: an early retry would be forwarded and issue.
    proxy.refuse_new_orders(Refusal::rate_limited(&RETRY_AFTER.to_string()), 1);
    let config = Config::for_pebble(&dir, &pebble).certificate("web", &["web.example.test"]);
    dir.write_config(
        &config
            .to_toml()
            .replace(pebble.directory_url(), &proxy.directory_url()),
    );
    let started = Instant::now();

    let before = now_unix();
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issuance failed", 1, WAIT);
    let after = now_unix();

    let record = state_record(&dir, "web");
    let retry_at = record["retry_at"]
        .as_str()
        .unwrap_or_else(|| daemon.fail(&format!("no retry_at in the state record: {record}")));
    let retry_unix = unix_seconds(retry_at);
    if retry_unix < before + RETRY_AFTER || retry_unix > after + RETRY_AFTER + 1 {
        daemon.fail(&format!(
            "retry_at {retry_at} is not the CA's Retry-After ({RETRY_AFTER} s after {before}..{after})"
        ));
    }
    assert_eq!(record["last_result"], "failed", "{record}");

    let status = dir.acmekeep(&["status"]);
    status.assert_exit(1);
    let row = status
        .stdout()
        .lines()
        .find(|line| line.starts_with("web "))
        .unwrap_or_else(|| status.fail("no status row for web"));
    assert!(
        row.contains(&retry_at[..19]) && row.contains("backoff") && row.contains("rateLimited"),
        "status must show when it retries, why, and the CA's rate limit: {row}"
    );
    let json = dir.acmekeep(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(json.stdout()).expect("status --json");
    let web = &rows[0];
    assert_eq!(
        unix_seconds(web["renews_at"].as_str().unwrap_or("")),
        retry_unix,
        "{web}"
    );
    assert!(
        web["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("rateLimited"),
        "{web}"
    );

    // Obeyed across a restart: the new daemon reads the record and orders nothing.
    daemon.stop();
    let daemon = dir.spawn_daemon();
    daemon.wait_for("waiting before the next attempt", 1, WAIT);
    std::thread::sleep(Duration::from_secs(1));
    let orders = proxy.new_orders().len();
    if orders != 1 {
        daemon.fail(&format!(
            "{orders} new-order requests reached the CA; only the refused one may, before Retry-After"
        ));
    }
    assert!(dir.sink("web").is_empty(), "nothing may be issued yet");
    daemon.stop();
    println!(
        "fault figures: rate limit: trials=1 failures=0 new_orders=1 retry_after={RETRY_AFTER}s \
         time={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_short_retry_after_on_an_unavailable_ca_is_waited_out_within_the_run() {
    const RETRY_AFTER: u64 = 2;
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let proxy = FaultProxy::start(&dir, &pebble);
    proxy.refuse_new_orders(Refusal::unavailable(&RETRY_AFTER.to_string()), 1);
    let config = Config::for_pebble(&dir, &pebble).certificate("web", &["web.example.test"]);
    dir.write_config(
        &config
            .to_toml()
            .replace(pebble.directory_url(), &proxy.directory_url()),
    );
    let started = Instant::now();

    dir.acmekeep(&["--issue"]).assert_success();

    let orders = proxy.new_orders();
    assert_eq!(
        orders.len(),
        2,
        "one refused new order, then one that went through"
    );
    let gap = orders[1].duration_since(orders[0]).unwrap_or_default();
    assert!(
        gap >= Duration::from_secs(RETRY_AFTER),
        "the second new order came {gap:?} after the first, before the CA's Retry-After"
    );
    dir.sink("web").assert_key_matches_cert();
    println!(
        "fault figures: 503 with short Retry-After: trials=1 failures=0 gap={:.1}s time={:.1}s",
        gap.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_certificate_expired_at_start_is_renewed_first_and_the_valid_ones_are_left_alone() {
    /// The lifetime of the certificate that expires before the daemon starts.
    const SHORT: Duration = Duration::from_secs(2);
    let dir = TestDir::new();
    let started = Instant::now();
    let short = Pebble::start(
        &dir,
        PebbleOptions {
            certificate_validity: Some(SHORT),
            ..PebbleOptions::default()
        },
    );
    dir.write_config(
        &Config::for_pebble(&dir, &short)
            .certificate("stale", &["stale.example.test"])
            .to_toml(),
    );
    dir.acmekeep(&["--issue"]).assert_success();
    let stale_serial = dir.sink("stale").serial();
    drop(short);

    let other = TestDir::new();
    let pebble = Pebble::start(&other, PebbleOptions::default());
    // "stale" is listed last, so that renewing it first is the daemon's choice, not the order
    // of the file.
    let config = Config::for_pebble(&dir, &pebble)
        .certificate("fresh-a", &["fresh-a.example.test"])
        .certificate("fresh-b", &["fresh-b.example.test"])
        .certificate("stale", &["stale.example.test"]);
    dir.write_config(&config.to_toml());
    dir.acmekeep(&["--issue", "fresh-a", "fresh-b"])
        .assert_success();
    let fresh = [dir.sink("fresh-a").serial(), dir.sink("fresh-b").serial()];
    while dir.sink("stale").not_after_unix() >= now_unix() {
        std::thread::sleep(Duration::from_millis(100));
    }

    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, WAIT);
    daemon.wait_for("certificate is valid", 3, WAIT);
    daemon.stop();

    let log = std::fs::read_to_string(dir.path().join("daemon-1.log")).expect("the daemon log");
    let issuing: Vec<&str> = log.lines().filter(|l| l.contains(" issuing")).collect();
    assert_eq!(
        issuing.len(),
        1,
        "only the expired certificate is renewed:\n{log}"
    );
    assert!(
        issuing[0].contains("certificate=stale") && issuing[0].contains("expired"),
        "the renewal names the expired certificate and why: {}",
        issuing[0]
    );
    assert_ne!(dir.sink("stale").serial(), stale_serial);
    assert!(dir.sink("stale").not_after_unix() > now_unix());
    assert_eq!(
        [dir.sink("fresh-a").serial(), dir.sink("fresh-b").serial()],
        fresh,
        "valid certificates are not reissued"
    );
    println!(
        "fault figures: expired at start: trials=1 failures=0 time={:.1}s",
        started.elapsed().as_secs_f64()
    );
}
