//! The real binary with a `venafi` issuer, against the local TPP fake (not a real TPP): a
//! request waiting for approval is reported as pending, its key is kept, and the next run
//! collects the same request once it is approved.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use e2e::{TestDir, VENAFI_ZONE, VenafiFake, free_port};

/// Writes a config with one certificate `api` from issuer `corp` (token from a file).
fn write_config(dir: &TestDir, fake: &VenafiFake) {
    let (access, _refresh) = fake.issue_tokens();
    let token = dir.path().join("venafi-token");
    fs::write(&token, format!("{access}\n")).expect("write the token file");
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{port}"

[issuers.corp]
kind = "venafi"
url = "{url}"
zone = '{zone}'
access_token = "file:{token}"

[certificates.api]
domains = ["api.example.test"]
issuer = "corp"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = dir.state_dir().display(),
        port = free_port(),
        url = fake.url(),
        zone = VENAFI_ZONE,
        token = token.display(),
        out = dir.sink("api").path().display(),
    );
    dir.write_config(&toml);
}

#[test]
fn a_request_awaiting_approval_is_pending_and_the_next_run_collects_it_with_the_same_key() {
    let dir = TestDir::new();
    let fake = VenafiFake::start();
    fake.require_approval(true);
    write_config(&dir, &fake);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1)
        .assert_stdout_contains("api: PENDING")
        .assert_stdout_contains("0 issued, 0 still valid, 1 pending, 0 failed");
    assert!(
        dir.sink("api").is_empty(),
        "nothing may be deployed yet\n{run}"
    );
    let kept = dir.state_dir().join("pending/api.key");
    let mode = fs::metadata(&kept)
        .expect("the pending key is kept")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the kept key is private");

    fake.approve(&format!("{VENAFI_ZONE}\\api"));
    let run = dir.acmekeep(&["--issue"]);
    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    assert_eq!(
        fake.requests().len(),
        1,
        "the approved request was collected, not a new one\n{run}"
    );
    let sink = dir.sink("api");
    sink.assert_key_matches_cert();
    assert_eq!(sink.dns_names(), ["api.example.test"]);
    assert!(!kept.exists(), "the kept key is forgotten once deployed");
}

#[test]
fn a_policy_rejection_fails_the_run_and_names_the_zone() {
    let dir = TestDir::new();
    let fake = VenafiFake::start();
    fake.reject_with("Subject CN must be in an allowed domain");
    write_config(&dir, &fake);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1)
        .assert_stdout_contains("api: FAILED")
        .assert_stdout_contains("allowed domain")
        .assert_stdout_contains(VENAFI_ZONE);
    assert!(!dir.state_dir().join("pending/api.key").exists());
}
