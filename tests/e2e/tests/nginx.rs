//! acmekeep beside a real nginx, the way most VMs run it: nginx serves the webroot on the CA's
//! HTTP-01 port while acmekeep writes the challenge files (the setup certbot users migrate
//! with), and nginx serves the files sink over TLS while the daemon renews and reloads it.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use e2e::{Config, Nginx, NginxSite, Pebble, PebbleOptions, Run, TestDir};

/// Everything under the webroot, as paths relative to it (directories end with `/`).
fn webroot_contents(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in fs::read_dir(dir).expect("read the webroot").flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .expect("under the webroot")
                .display()
                .to_string();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                found.push(format!("{relative}/"));
                walk(root, &path, found);
            } else {
                found.push(relative);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, root, &mut found);
    found.sort();
    found
}

/// Asserts that nginx answered every challenge request it got with 200, and got at least
/// `count` of them.
fn assert_every_challenge_was_served(nginx: &Nginx, count: usize, run: &Run) {
    let challenges: Vec<String> = nginx
        .access_log()
        .into_iter()
        .filter(|line| line.contains("/.well-known/acme-challenge/"))
        .collect();
    if challenges.len() < count || challenges.iter().any(|line| !line.starts_with("200 ")) {
        run.fail(&format!(
            "nginx must serve all {count} challenges with 200, it logged: {challenges:#?}\n{}",
            nginx.logs()
        ));
    }
}

/// Starts pebble and nginx serving `DIR/webroot` on pebble's HTTP-01 port, and writes a
/// config whose http-01 solver uses that webroot.
fn pebble_and_nginx(dir: &TestDir, certificates: &[(&str, &[&str])]) -> (Pebble, Nginx) {
    let pebble = Pebble::start(dir, PebbleOptions::default());
    let webroot = dir.path().join("webroot");
    fs::create_dir(&webroot).expect("create the webroot");
    let nginx = Nginx::start(dir, NginxSite::Webroot(webroot.clone()), pebble.http_port());
    let config = certificates.iter().fold(
        Config::for_pebble(dir, &pebble).webroot(&webroot),
        |config, (name, domains)| config.certificate(name, domains),
    );
    dir.write_config(&config.to_toml());
    (pebble, nginx)
}

/// Regression (issue 12, item 1): presenting the second name's challenge deleted the first
/// name's token file, so the CA got 404 for the first name.
#[test]
fn a_certificate_for_three_names_validates_through_nginx_serving_the_webroot() {
    let dir = TestDir::new();
    let names = ["a.example.test", "b.example.test", "c.example.test"];
    let (pebble, nginx) = pebble_and_nginx(&dir, &[("three", &names)]);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success()
        .assert_stdout_contains("1 issued, 0 still valid, 0 failed");
    let sink = dir.sink("three");
    let mut issued = sink.dns_names();
    issued.sort();
    assert_eq!(issued, names);
    sink.assert_chains_to(&pebble.root_file());
    assert_every_challenge_was_served(&nginx, names.len(), &run);
    assert_eq!(
        webroot_contents(&dir.path().join("webroot")),
        [".well-known/", ".well-known/acme-challenge/"],
        "no challenge file may be left in the webroot\n{run}"
    );

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("0 issued, 1 still valid, 0 failed");
}

/// Certificates issued at once by one run share the webroot: none removes another's tokens.
#[test]
fn certificates_issued_at_once_through_one_webroot_all_validate() {
    let dir = TestDir::new();
    let certificates: [(&str, &[&str]); 3] = [
        ("www", &["example.test", "www.example.test"]),
        ("api", &["api.example.test", "v2.api.example.test"]),
        ("mail", &["mail.example.test"]),
    ];
    let (_pebble, nginx) = pebble_and_nginx(&dir, &certificates);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_success()
        .assert_stdout_contains("3 issued, 0 still valid, 0 failed");
    for (name, domains) in certificates {
        let mut issued = dir.sink(name).dns_names();
        issued.sort();
        let mut expected: Vec<&str> = domains.to_vec();
        expected.sort();
        assert_eq!(issued, expected, "{name}\n{run}");
    }
    assert_every_challenge_was_served(&nginx, 5, &run);
    assert_eq!(
        webroot_contents(&dir.path().join("webroot")),
        [".well-known/", ".well-known/acme-challenge/"],
        "no challenge file may be left in the webroot\n{run}"
    );

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("0 issued, 3 still valid, 0 failed");
}

/// What one TLS handshake with `127.0.0.1:port` got: the leaf's serial (lower-case hex, no
/// leading zeros), or why it failed.
fn handshake_serial(port: u16) -> Result<String, String> {
    let output = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "tls.example.test"])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run openssl s_client: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let pem = stdout
        .find("-----BEGIN CERTIFICATE-----")
        .and_then(|start| {
            let end = stdout[start..].find("-----END CERTIFICATE-----")? + start + 25;
            Some(stdout[start..end].to_string())
        });
    let (true, Some(pem)) = (output.status.success(), pem) else {
        return Err(format!(
            "handshake failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    };
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run openssl x509: {err}"))?;
    x509.stdin
        .take()
        .expect("piped stdin")
        .write_all(pem.as_bytes())
        .map_err(|err| err.to_string())?;
    let serial = x509.wait_with_output().map_err(|err| err.to_string())?;
    Ok(normalize_serial(
        String::from_utf8_lossy(&serial.stdout)
            .trim()
            .trim_start_matches("serial="),
    ))
}

fn normalize_serial(serial: &str) -> String {
    serial.trim().trim_start_matches('0').to_ascii_lowercase()
}

/// nginx serves the files sink over TLS while the daemon renews a short-lived certificate
/// several times and reloads nginx from its deploy hook: a client that keeps connecting sees
/// every new certificate, and not one handshake fails.
#[test]
fn nginx_serving_the_files_sink_picks_up_every_renewal_without_a_failed_handshake() {
    const RENEWALS: usize = 3;
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            certificate_validity: Some(Duration::from_secs(16)),
            ..PebbleOptions::default()
        },
    );
    let config = Config::for_pebble(&dir, &pebble).certificate("tls", &["tls.example.test"]);
    dir.write_config(&config.to_toml());
    dir.acmekeep(&["--issue"]).assert_success();
    let sink = dir.sink("tls");
    let nginx = Nginx::start(
        &dir,
        NginxSite::Tls {
            fullchain: sink.file("fullchain.pem"),
            privkey: sink.file("privkey.pem"),
        },
        e2e::free_port(),
    );
    let deployed_file = dir.path().join("deployed.txt");
    dir.write_config(&format!(
        "{}hooks.deploy = ['kill -HUP {} && echo \"$ACMEKEEP_SERIAL\" >> {}']\n",
        config.to_toml(),
        nginx.pid(),
        deployed_file.display()
    ));
    let first = normalize_serial(&sink.serial());

    let daemon = dir.spawn_daemon();
    let deployed = || -> Vec<String> {
        fs::read_to_string(&deployed_file)
            .unwrap_or_default()
            .lines()
            .map(normalize_serial)
            .collect()
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut failures = Vec::new();
    let mut handshakes = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        handshakes += 1;
        match handshake_serial(nginx.port()) {
            Ok(serial) => {
                seen.insert(serial);
            }
            Err(failure) => failures.push(failure),
        }
        let deployed = deployed();
        if deployed.len() >= RENEWALS && deployed.iter().all(|serial| seen.contains(serial)) {
            break;
        }
        if Instant::now() > deadline {
            daemon.fail(&format!(
                "after 120 s: {} renewals deployed ({deployed:?}), handshakes saw {seen:?}\n{}",
                deployed.len(),
                nginx.logs()
            ));
        }
        sleep(Duration::from_millis(50));
    }
    daemon.stop();
    eprintln!(
        "nginx over TLS: {handshakes} handshakes, {} failed, {} certificates served",
        failures.len(),
        seen.len()
    );

    assert!(
        failures.is_empty(),
        "{} of {handshakes} handshakes failed: {failures:#?}\n{}",
        failures.len(),
        nginx.logs()
    );
    let mut expected: BTreeSet<String> = deployed().into_iter().collect();
    expected.insert(first);
    assert!(
        expected.is_subset(&seen) && expected.len() > RENEWALS,
        "every deployed certificate must be served: deployed {expected:?}, seen {seen:?}"
    );
}
