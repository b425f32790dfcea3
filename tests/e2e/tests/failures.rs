//! How `acmekeep --issue` reports a CA it cannot use.

use e2e::{Config, Pebble, PebbleOptions, TestDir, free_port};

#[test]
fn unreachable_ca_fails_the_certificate_and_writes_nothing() {
    let dir = TestDir::new();
    let authority = format!("127.0.0.1:{}", free_port());
    let directory = format!("https://{authority}/dir");
    let config = Config::for_directory(&dir, &directory).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);

    run.assert_exit(1)
        .assert_stdout_contains("0 issued, 0 still valid, 1 failed");
    let line = run.line_for("one");
    if !line.starts_with("one: FAILED: ") {
        run.fail("the certificate's line must say FAILED");
    }
    if !(line.to_lowercase().contains("connect") || line.contains(&authority)) {
        run.fail(&format!(
            "the failure must say the CA could not be reached (\"connect\" or {authority})"
        ));
    }
    assert!(
        dir.sink("one").is_empty(),
        "nothing may be delivered when issuance failed\n{run}"
    );

    // The failure is remembered, so `status` and `diagnose` can show it afterwards.
    dir.acmekeep(&["--issue"]).assert_exit(1);
    let status = dir.acmekeep(&["status", "--json"]);
    let rows: serde_json::Value =
        serde_json::from_str(status.stdout()).expect("status --json prints JSON");
    let row = &rows[0];
    assert_eq!(row["last_result"], "failed", "{status}");
    assert_eq!(row["failures"], 2, "two failed runs in a row\n{status}");
    assert!(
        row["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&authority) || e.to_lowercase().contains("connect")),
        "{status}"
    );
}

#[test]
fn a_challenge_the_ca_cannot_reach_fails_with_the_cas_reason_and_deploys_nothing() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    // The solver listens somewhere the CA's validator never connects to.
    let config = Config::for_pebble(&dir, &pebble)
        .solver_port(free_port())
        .certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);

    run.assert_exit(1);
    let line = run.line_for("one");
    if !(line.contains("a.example.test") && line.contains("validation failed")) {
        run.fail("the failure must name the name that failed and the CA's reason");
    }
    assert!(
        dir.sink("one").is_empty(),
        "nothing may be delivered when validation failed\n{run}"
    );
}
