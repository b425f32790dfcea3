//! What happens once a certificate is due and the delivery goes wrong, through the real
//! binary and a real pebble (whose log counts the orders):
//!
//! - a sink that cannot take a certificate is refused before anything is ordered;
//! - a sink that fails after issuance (a full disk) costs one order, not one per retry: the
//!   issued certificate is kept in `state_dir` (0600) and the next run deploys it;
//! - a files sink whose files disagree (a `fullchain.pem` replaced by another certificate) is
//!   noticed by `--issue`, which deploys again, and by `diagnose`, which names the file;
//! - a failed deploy hook is a failed deployment, shown by `status` and retried (the hook
//!   only, no new order) until it succeeds.
//!
//! Mounting the tmpfs needs root, as the tests run in CI.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use e2e::{Config, Mount, Pebble, PebbleOptions, Run, TestDir};

/// Fails `run` unless its line for `name` contains every one of `needles`.
fn assert_line(run: &Run, name: &str, needles: &[&str]) {
    let line = run.line_for(name);
    if let Some(missing) = needles.iter().find(|needle| !line.contains(*needle)) {
        run.fail(&format!("the line for {name} must say {missing:?}"));
    }
}

#[test]
fn a_sink_that_fails_after_issuance_costs_one_order_and_the_kept_certificate_is_deployed_later() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    // A full disk passes every check a sink can make before ordering (the directory exists
    // and takes an empty file), and fails the first certificate file written.
    let disk = Mount::tmpfs(&dir.path().join("out"), "64k");
    disk.fill_leaving(0);
    dir.write_config(
        &Config::for_pebble(&dir, &pebble)
            .certificate("one", &["a.example.test", "b.example.test"])
            .certificate("two", &["c.example.test"])
            .to_toml(),
    );

    for attempt in 1..=3 {
        let run = dir.acmekeep(&["--issue"]);
        run.assert_exit(1);
        for name in ["one", "two"] {
            assert_line(
                &run,
                name,
                &["issued, not deployed", "No space left on device"],
            );
        }
        assert_eq!(
            pebble.orders_and_issued().0,
            2,
            "attempt {attempt}: one order per certificate, however often the sink fails\n{run}"
        );
        if run.stderr().contains("PRIVATE KEY") || run.stdout().contains("PRIVATE KEY") {
            run.fail("a kept key must never be logged");
        }
    }
    for name in ["one", "two"] {
        let kept = dir.state_dir().join("kept").join(format!("{name}.json"));
        let mode = fs::metadata(&kept)
            .unwrap_or_else(|err| panic!("{}: {err}", kept.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{} holds a key", kept.display());
    }
    let status = dir.acmekeep(&["status"]);
    status.assert_exit(1);
    let not_deployed = status
        .stdout()
        .lines()
        .filter(|line| line.contains("issued, not deployed: "))
        .count();
    if not_deployed != 2 {
        status.fail("status must say \"issued, not deployed: <reason>\" for both");
    }

    fs::remove_file(dir.path().join("out/filler")).expect("free the disk");
    let run = dir.acmekeep(&["--issue"]);
    run.assert_success();
    assert_eq!(
        pebble.orders_and_issued().0,
        2,
        "the kept certificates were deployed\n{run}"
    );
    assert_eq!(
        dir.sink("one").dns_names(),
        ["a.example.test", "b.example.test"]
    );
    assert_eq!(dir.sink("two").dns_names(), ["c.example.test"]);
    for name in ["one", "two"] {
        dir.sink(name).assert_key_matches_cert();
        dir.sink(name).assert_fullchain_starts_with_cert();
        let kept = dir.state_dir().join("kept").join(format!("{name}.json"));
        assert!(!kept.exists(), "{} stays after deployment", kept.display());
    }

    let again = dir.acmekeep(&["--issue"]);
    again.assert_success();
    assert_line(&again, "one", &["still valid"]);
    assert_eq!(pebble.orders_and_issued().0, 2);
    dir.acmekeep(&["status"]).assert_success();
    drop(disk);
}

#[test]
fn a_sink_dir_below_a_regular_file_is_refused_before_ordering_and_the_others_are_issued() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let plain = dir.path().join("plain");
    fs::write(&plain, "not a directory\n").expect("write a regular file");
    let toml = Config::for_pebble(&dir, &pebble)
        .certificate("one", &["a.example.test"])
        .certificate("bad", &["b.example.test"])
        .to_toml()
        .replace(
            &*dir.path().join("out/bad").to_string_lossy(),
            &plain.join("bad").to_string_lossy(),
        );
    dir.write_config(&toml);

    for _ in 0..2 {
        let run = dir.acmekeep(&["--issue"]);
        run.assert_exit(1);
        assert_line(
            &run,
            "bad",
            &[
                "FAILED",
                &plain.to_string_lossy(),
                "Not a directory",
                "nothing was ordered",
            ],
        );
        assert_eq!(
            pebble.orders_and_issued().0,
            1,
            "only the certificate with a usable sink is ordered\n{run}"
        );
    }
    dir.sink("one").assert_key_matches_cert();
}

#[test]
fn a_fullchain_replaced_by_another_certificate_is_redeployed_and_diagnose_names_the_file() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    dir.write_config(
        &Config::for_pebble(&dir, &pebble)
            .certificate("one", &["a.example.test", "b.example.test"])
            .certificate("two", &["c.example.test"])
            .to_toml(),
    );
    dir.acmekeep(&["--issue"]).assert_success();
    let served = dir.sink("one").serial();

    // What `cp other/fullchain.pem one/fullchain.pem` does: the link is followed and the
    // deployed version's fullchain.pem now holds another certificate.
    let other = fs::read(dir.sink("two").file("fullchain.pem")).expect("read two's fullchain");
    fs::write(dir.sink("one").file("fullchain.pem"), other).expect("replace one's fullchain");

    let diagnose = dir.acmekeep(&["diagnose", "one"]);
    diagnose.assert_exit(1);
    diagnose.assert_stdout_contains("sink-files-disagree");
    diagnose.assert_stdout_contains("fullchain.pem");

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success();
    assert_line(&run, "one", &["issued", "fullchain.pem"]);
    assert_line(&run, "two", &["still valid"]);
    assert_ne!(dir.sink("one").serial(), served);
    dir.sink("one").assert_fullchain_starts_with_cert();
    dir.sink("one").assert_key_matches_cert();

    let again = dir.acmekeep(&["--issue"]);
    again.assert_success();
    assert_line(&again, "one", &["still valid"]);
}

#[test]
fn a_failed_deploy_hook_is_shown_and_retried_alone_until_it_succeeds() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let config = Config::for_pebble(&dir, &pebble)
        .certificate("two", &["c.example.test"])
        .certificate("one", &["a.example.test", "b.example.test"]);
    // The hook fails until the marker file exists; each success leaves a line.
    dir.write_config(&format!(
        "{}hooks.deploy = ['test -e hook-ok && echo \"$ACMEKEEP_SERIAL\" >> deployed.txt']\n",
        config.to_toml()
    ));
    let deployed = || fs::read_to_string(dir.path().join("deployed.txt")).unwrap_or_default();

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1);
    assert_line(&run, "one", &["deploy hook"]);
    let status = dir.acmekeep(&["status"]);
    status.assert_exit(1);
    status.assert_stdout_contains("deploy hook failed");

    let retry = dir.acmekeep(&["--issue"]);
    retry.assert_exit(1);
    assert_line(&retry, "one", &["deploy hook"]);
    assert_eq!(
        pebble.orders_and_issued().0,
        2,
        "a hook retry orders nothing\n{retry}"
    );
    assert_eq!(deployed(), "");

    fs::write(dir.path().join("hook-ok"), "").expect("write the marker");
    let fixed = dir.acmekeep(&["--issue"]);
    fixed.assert_success();
    assert_line(&fixed, "one", &["deploy hook"]);
    assert_eq!(
        pebble.orders_and_issued().0,
        2,
        "a hook retry orders nothing\n{fixed}"
    );
    assert_eq!(deployed().lines().count(), 1, "{:?}", deployed());
    dir.acmekeep(&["status"]).assert_success();

    let again = dir.acmekeep(&["--issue"]);
    again.assert_success();
    assert_eq!(
        deployed().lines().count(),
        1,
        "a hook that succeeded is not run again: {:?}",
        deployed()
    );
}

#[test]
fn a_kept_certificate_is_deployed_by_the_one_shot_even_while_the_daemon_backs_off() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let disk = Mount::tmpfs(&dir.path().join("out"), "64k");
    disk.fill_leaving(0);
    dir.write_config(
        &Config::for_pebble(&dir, &pebble)
            .certificate("one", &["a.example.test", "b.example.test"])
            .certificate("two", &["c.example.test"])
            .to_toml(),
    );

    // The daemon issues both, cannot deploy them, and records a backoff for each.
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issuance failed", 2, std::time::Duration::from_secs(60));
    daemon.stop();
    for name in ["one", "two"] {
        let record = fs::read_to_string(dir.state_dir().join(format!("certificates/{name}.json")))
            .unwrap_or_else(|err| panic!("state record of {name}: {err}"));
        assert!(
            record.contains("\"retry_at\""),
            "the daemon must record when it tries {name} again:\n{record}"
        );
    }
    assert_eq!(pebble.orders_and_issued().0, 2, "one order per certificate");

    // Deploying a kept certificate costs no order, so the backoff does not hold it back.
    fs::remove_file(dir.path().join("out/filler")).expect("free the disk");
    let run = dir.acmekeep(&["--issue"]);
    run.assert_success();
    assert_eq!(
        pebble.orders_and_issued().0,
        2,
        "the kept certificates were deployed without a new order\n{run}"
    );
    for name in ["one", "two"] {
        dir.sink(name).assert_key_matches_cert();
        let kept = dir.state_dir().join("kept").join(format!("{name}.json"));
        assert!(!kept.exists(), "{} stays after deployment", kept.display());
    }
    assert_eq!(
        dir.sink("one").dns_names(),
        ["a.example.test", "b.example.test"]
    );
    dir.acmekeep(&["--issue"]).assert_success();
    assert_eq!(pebble.orders_and_issued().0, 2);
    drop(disk);
}
