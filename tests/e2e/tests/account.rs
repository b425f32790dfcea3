//! The ACME account: registered once, kept private in the state directory, reused, and
//! bound to an external account where the CA requires it.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use e2e::{Config, Pebble, PebbleOptions, TestDir};

const EAB_KID: &str = "acmekeep-test";
const EAB_HMAC: &str = "QP2h6LpuN_HizZT9uCoVGlAuamFF170JqPmnWVWG-Lg";

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn registers_the_account_once_keeps_it_private_and_reuses_it() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stderr_contains("registered a new ACME account");
    let account = dir.state_dir().join("accounts").join("pebble.json");
    assert_eq!(
        mode(&account),
        0o600,
        "the account key file must be private"
    );
    assert_eq!(
        mode(&dir.state_dir()),
        0o700,
        "the state directory must be private"
    );
    let stored = fs::read(&account).expect("read account");

    let again = dir.acmekeep(&["--issue", "--force"]);
    again.assert_success();
    if again.stderr().contains("registered a new ACME account") {
        again.fail("the second run must reuse the stored account");
    }
    assert_eq!(fs::read(&account).expect("read account"), stored);
}

#[test]
fn binds_the_account_to_an_external_account_when_the_ca_requires_it() {
    let dir = TestDir::new();
    let options = PebbleOptions {
        eab: Some((EAB_KID.to_string(), EAB_HMAC.to_string())),
        ..PebbleOptions::default()
    };
    let pebble = Pebble::start(&dir, options);
    let hmac_file = dir.path().join("eab-hmac");
    fs::write(&hmac_file, format!("{EAB_HMAC}\n")).expect("write hmac");
    let reference = format!("file:{}", hmac_file.display());
    let config = Config::for_pebble(&dir, &pebble)
        .eab(EAB_KID, &reference)
        .certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success();
    if run.stdout().contains(EAB_HMAC) || run.stderr().contains(EAB_HMAC) {
        run.fail("the EAB HMAC key must never be printed");
    }
}

#[test]
fn a_ca_that_requires_external_account_binding_says_so_when_it_is_missing() {
    let dir = TestDir::new();
    let options = PebbleOptions {
        eab: Some((EAB_KID.to_string(), EAB_HMAC.to_string())),
        ..PebbleOptions::default()
    };
    let pebble = Pebble::start(&dir, options);
    let config = Config::for_pebble(&dir, &pebble).certificate("one", &["a.example.test"]);
    dir.write_config(&config.to_toml());

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1);
    let line = run.line_for("one");
    if !(line.contains("register account") && line.contains("externalAccountRequired")) {
        run.fail("the failure must name the registration step and the CA's problem type");
    }
}
