//! Whether a certificate is due, and why: the one-shot (`--issue`, as a cron job or systemd
//! timer runs it) decides exactly like the daemon — the CA's renewal window (ARI), the
//! renewal policy, configuration changes, and a wait the CA asked for — and no setting makes
//! either of them renew a freshly issued certificate in a loop.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::{
    Acme2certifier, Config, FaultProxy, Pebble, PebbleOptions, Refusal, RenewalWindowRule, TestDir,
};

const WAIT: Duration = Duration::from_secs(60);

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The line `--issue` printed for certificate `name`.
fn line<'a>(run: &'a e2e::Run, name: &str) -> &'a str {
    run.line_for(name)
}

#[test]
fn the_one_shot_asks_the_cas_renewal_window_and_keeps_the_instant_it_chose() {
    let dir = TestDir::new();
    let server = Acme2certifier::start(&dir);
    let config = Config::for_acme2certifier(&dir, &server)
        .certificate("one", &["a.example.test", "www.a.example.test"])
        .certificate("two", &["b.example.test"]);
    dir.write_config(&config.to_toml());
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");

    let second = dir.acmekeep(&["--issue"]);

    second
        .assert_success()
        .assert_stdout_contains("0 issued, 2 still valid, 0 failed");
    let asked = server.requests_to("renewal-info");
    if asked < 2 {
        second.fail(&format!(
            "the one-shot must ask the CA's renewalInfo for each certificate; it asked {asked} times"
        ));
    }
    if !line(&second, "one").contains("ARI window") {
        second.fail("the renewal time must come from the CA's window and say so");
    }
    // The instant is chosen once and kept: a third run renews at the same time, without
    // asking again before the CA's Retry-After.
    let third = dir.acmekeep(&["--issue"]);
    third.assert_success();
    assert_eq!(
        line(&third, "one"),
        line(&second, "one"),
        "the chosen instant must be persisted\n{third}"
    );
    assert_eq!(
        server.requests_to("renewal-info"),
        asked,
        "the window is asked again only after the CA's Retry-After\n{third}"
    );
    assert_eq!(
        server.order_profiles().len(),
        2,
        "no renewal was due\n{third}"
    );
}

#[test]
fn a_timer_loop_of_the_one_shot_renews_once_the_cas_window_has_passed_naming_the_replaced_certificate()
 {
    let dir = TestDir::new();
    // Every certificate's window opens at its not-before and closes a second later: the CA
    // announces an early renewal, as it does before a mass revocation.
    let server = Acme2certifier::start_with_window(
        &dir,
        RenewalWindowRule {
            threshold_percent: 0,
            length: Some(Duration::from_secs(1)),
        },
    );
    let config = Config::for_acme2certifier(&dir, &server)
        .certificate("one", &["a.example.test", "www.a.example.test"]);
    dir.write_config(&config.to_toml());
    let lifetime = i64::from(Acme2certifier::CERT_VALIDITY_DAYS) * 86400;
    dir.acmekeep(&["--issue"]).assert_success();

    let mut serials = vec![dir.sink("one").serial()];
    for round in 1..=2 {
        // Bounded: the window closes two seconds after the certificate's not-before.
        let window_closed = dir.sink("one").not_after_unix() - lifetime + 2;
        while now_unix() <= window_closed {
            std::thread::sleep(Duration::from_millis(200));
        }
        let asked = server.requests_to("renewal-info");
        let replaced = dir.sink("one").ari_certificate_id();

        let run = dir.acmekeep(&["--issue"]);

        run.assert_success()
            .assert_stdout_contains("1 issued, 0 still valid, 0 failed")
            .assert_stderr_contains(&format!("renewal order replaces {replaced}"));
        if !line(&run, "one").contains("ARI window") {
            run.fail(&format!(
                "round {round}: the renewal must say the CA's window asked for it"
            ));
        }
        assert!(
            server.requests_to("renewal-info") > asked,
            "round {round}: the one-shot must ask renewalInfo\n{run}"
        );
        let serial = dir.sink("one").serial();
        assert!(
            !serials.contains(&serial),
            "round {round}: a new certificate\n{run}"
        );
        serials.push(serial);
        dir.sink("one").assert_key_matches_cert();
    }
}

#[test]
fn a_changed_profile_is_issued_again_by_the_one_shot_and_then_kept() {
    let dir = TestDir::new();
    let server = Acme2certifier::start(&dir);
    let config = Config::for_acme2certifier(&dir, &server)
        .certificate("one", &["a.example.test"])
        .certificate("two", &["b.example.test"]);
    dir.write_config(&config.clone().profile("classic").to_toml());
    dir.acmekeep(&["--issue"]).assert_success();

    dir.write_config(&config.clone().profile("shortlived").to_toml());
    let changed = dir.acmekeep(&["--issue"]);

    changed
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    if !line(&changed, "one").contains("profile") {
        changed.fail("the reason must name the changed profile");
    }
    let orders = server.order_profiles();
    let again = dir.acmekeep(&["--issue"]);
    again
        .assert_success()
        .assert_stdout_contains("0 issued, 2 still valid, 0 failed");
    // acme2certifier does not echo `replaces`, so each renewal is ordered once more
    // without it (see profiles_and_replaces.rs).
    assert_eq!(orders[..2], ["classic", "classic"], "{again}");
    assert!(
        orders.len() > 2 && orders[2..].iter().all(|p| p == "shortlived"),
        "the renewals ask for the new profile: {orders:?}\n{again}"
    );
    assert_eq!(
        server.order_profiles(),
        orders,
        "a third run orders nothing\n{again}"
    );
}

#[test]
fn a_rate_limit_recorded_by_the_one_shot_is_obeyed_by_the_next_run_until_forced() {
    const RETRY_AFTER: i64 = 2 * 3600;
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let proxy = FaultProxy::start(&dir, &pebble);
    proxy.refuse_new_orders(Refusal::rate_limited(&RETRY_AFTER.to_string()), 1);
    let config = Config::for_pebble(&dir, &pebble)
        .certificate("one", &["a.example.test", "www.a.example.test"])
        .certificate("two", &["b.example.test"]);
    dir.write_config(
        &config
            .to_toml()
            .replace(pebble.directory_url(), &proxy.directory_url()),
    );
    let first = dir.acmekeep(&["--issue"]);
    first
        .assert_exit(1)
        .assert_stdout_contains("1 issued, 0 still valid, 1 failed");
    let limited = if first.line_for("one").contains("rateLimited") {
        "one"
    } else {
        "two"
    };
    let orders = proxy.new_orders().len();

    let second = dir.acmekeep(&["--issue"]);

    second.assert_exit(1);
    let waiting = line(&second, limited);
    if !waiting.contains("not before") || !waiting.contains("--force") {
        second.fail(&format!(
            "{limited} must wait for the CA's Retry-After, say until when and how to override it"
        ));
    }
    assert_eq!(
        proxy.new_orders().len(),
        orders,
        "no order may reach the CA before its Retry-After\n{second}"
    );
    assert!(dir.sink(limited).is_empty(), "{second}");

    let forced = dir.acmekeep(&["--issue", limited, "--force"]);
    forced
        .assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    assert_eq!(
        dir.sink(limited).dns_names().len(),
        if limited == "one" { 2 } else { 1 }
    );
}

/// `renew_before = "2200d"` with pebble's five-year certificates once made every run issue
/// anew (71 orders in 4 s from the daemon).
const TOO_LONG: &str = "renew_before = \"2200d\"";

fn renew_before_longer_than_the_lifetime(dir: &TestDir, pebble: &Pebble) {
    let config = Config::for_pebble(dir, pebble)
        .certificate("one", &["a.example.test", "www.a.example.test"])
        .certificate("two", &["b.example.test"]);
    dir.write_config(&config.to_toml().replace(
        "key = \"ecdsa-p256\"",
        &format!("key = \"ecdsa-p256\"\n{TOO_LONG}"),
    ));
}

#[test]
fn a_renew_before_longer_than_the_lifetime_issues_once_per_certificate_from_the_one_shot() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    renew_before_longer_than_the_lifetime(&dir, &pebble);
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");

    let second = dir.acmekeep(&["--issue"]);

    second
        .assert_success()
        .assert_stdout_contains("0 issued, 2 still valid, 0 failed")
        .assert_stderr_contains("renew_before");
    assert_eq!(
        pebble.orders_and_issued(),
        (2, 2),
        "one order per certificate\n{second}"
    );
}

#[test]
fn a_renew_before_longer_than_the_lifetime_does_not_loop_in_the_daemon() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    renew_before_longer_than_the_lifetime(&dir, &pebble);

    let daemon = dir.spawn_daemon();
    daemon.wait_for("certificate is valid", 2, WAIT);

    assert_eq!(
        pebble.orders_and_issued(),
        (2, 2),
        "one order per certificate, then none\n{}",
        daemon.log()
    );
    if daemon.count("falling back to the default policy") == 0 {
        daemon.fail("the daemon must warn that renew_before is not shorter than the lifetime");
    }
    assert!(daemon.stop().success());
}

#[test]
fn check_warns_about_a_renew_before_not_shorter_than_a_local_cas_validity() {
    let dir = TestDir::new();
    let state_dir = dir.state_dir();
    dir.write_config(&format!(
        "[daemon]\nstate_dir = \"{}\"\n\n\
         [issuers.local]\nkind = \"ca\"\ngenerate = true\nvalidity = \"30d\"\n\n\
         [certificates.web]\ndomains = [\"web.example.test\"]\nissuer = \"local\"\n\
         renew_before = \"45d\"\n\
         sinks = [{{ kind = \"files\", dir = \"{}\" }}]\n",
        state_dir.display(),
        dir.path().join("out/web").display()
    ));

    let check = dir.acmekeep(&["check"]);

    check.assert_success();
    let warned = format!("{}{}", check.stdout(), check.stderr());
    if !warned.contains("certificates.web.renew_before") || !warned.contains("30d") {
        check.fail(
            "check must warn that renew_before (45d) is not shorter than the CA's validity (30d)",
        );
    }
}

/// A local CA (`ca.pem`, `ca.key`, P-256) with common name `cn`, made by openssl in `dir`.
fn local_ca(dir: &TestDir, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.path().join(format!("{cn}.pem"));
    let key = dir.path().join(format!("{cn}.key"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "30", "-subj", &format!("/CN={cn}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .output()
        .expect("run openssl");
    assert!(status.status.success(), "openssl: {status:?}");
    (cert, key)
}

fn local_ca_config(dir: &TestDir, ca: &(std::path::PathBuf, std::path::PathBuf)) -> String {
    let mut toml = format!(
        "[daemon]\nstate_dir = \"{}\"\n\n\
         [issuers.local]\nkind = \"ca\"\ncert = \"{}\"\nkey = \"file:{}\"\n",
        dir.state_dir().display(),
        ca.0.display(),
        ca.1.display()
    );
    for (name, domains) in [
        ("one", "\"a.example.test\", \"www.a.example.test\""),
        ("two", "\"b.example.test\""),
    ] {
        toml += &format!(
            "\n[certificates.{name}]\ndomains = [{domains}]\nissuer = \"local\"\n\
             sinks = [{{ kind = \"files\", dir = \"{}\" }}]\n",
            dir.path().join("out").join(name).display()
        );
    }
    toml
}

#[test]
fn a_new_local_ca_is_noticed_even_after_the_state_records_were_deleted() {
    let dir = TestDir::new();
    let old = local_ca(&dir, "old-ca");
    let new = local_ca(&dir, "new-ca");
    dir.write_config(&local_ca_config(&dir, &old));
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    std::fs::remove_dir_all(dir.state_dir().join("certificates")).expect("delete the records");
    dir.write_config(&local_ca_config(&dir, &new));

    let run = dir.acmekeep(&["--issue"]);

    run.assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    if !line(&run, "one").contains("not by the configured CA CN=new-ca") {
        run.fail("the reason must name the CA that issued the deployed certificate and the configured one");
    }
    let text = dir.sink("one").cert_text();
    assert!(text.contains("Issuer: CN = new-ca"), "{text}");
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("0 issued, 2 still valid, 0 failed");
}
