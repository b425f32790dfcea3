//! Crash consistency: the one-shot (`--issue --force`) and the daemon are killed with SIGKILL
//! at random moments. After every kill the files sink serves a certificate and key that
//! belong together (the old pair or the new one, never a torn version), every stable name
//! resolves through `..data`, and the next run completes, leaving no challenge record (no
//! webroot token file, no TXT value in BIND — also none the killed run wrote: the challenge
//! journal in the state directory lets the next run remove it) and no listener behind.
//!
//! Kill moments are drawn from a seeded random source; the seed is printed at the start of
//! each scenario and `ACMEKEEP_FAULT_SEED=<seed>` replays it. Most trials use the local CA
//! issuer (fast, so many kills land in key generation, signing and the sink write); the ACME
//! trials use pebble, so kills also land between network steps with challenges presented.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use e2e::{
    BIND_KEY, Bind, BindZone, FaultRng, Pebble, PebbleOptions, SinkState, TestDir, WebrootServer,
    assert_crash_consistent,
};

/// Trials of the one-shot against the local CA.
const ONE_SHOT_TRIALS: usize = 16;
/// Trials of the daemon against the local CA.
const DAEMON_TRIALS: usize = 8;
/// Trials of the one-shot against pebble, with each kind of solver.
const ACME_TRIALS: usize = 10;

/// The two certificates of the local CA scenarios, each with two key types that the
/// daemon trials alternate between so that every daemon start has to issue.
const LOCAL_CERTS: [(&str, &str, [&str; 2]); 2] = [
    ("one", "one.example.test", ["ecdsa-p256", "ecdsa-p384"]),
    ("two", "two.example.test", ["ecdsa-p384", "ecdsa-p256"]),
];

fn local_ca_config(dir: &TestDir, key_choice: usize) -> String {
    let mut toml = format!(
        "[daemon]\nstate_dir = \"{}\"\nlisten_metrics = \"127.0.0.1:{}\"\n\n\
         [issuers.local]\nkind = \"ca\"\ngenerate = true\n",
        dir.state_dir().display(),
        e2e::free_port(),
    );
    for (name, domain, keys) in LOCAL_CERTS {
        toml.push_str(&format!(
            "\n[certificates.{name}]\ndomains = [\"{domain}\"]\nissuer = \"local\"\n\
             key = \"{}\"\nsinks = [{{ kind = \"files\", dir = \"{}\" }}]\n",
            keys[key_choice % 2],
            dir.sink(name).path().display(),
        ));
    }
    toml
}

/// The state of every sink of `names` after a kill: consistent, and never emptied.
fn check_after_kill(
    dir: &TestDir,
    names: &[&str],
    before: &[SinkState],
    trial: usize,
    rng: &FaultRng,
) -> Vec<SinkState> {
    names
        .iter()
        .zip(before)
        .map(|(name, before)| {
            let after = assert_crash_consistent(&dir.sink(name), false);
            assert!(
                !(matches!(before, SinkState::Deployed(_)) && after == SinkState::Empty),
                "trial {trial} (seed {}): the kill removed the deployed certificate of {name}",
                rng.seed()
            );
            after
        })
        .collect()
}

/// How long an uninterrupted `--issue --force` takes here: the range kill moments are drawn from.
fn calibrate(dir: &TestDir) -> Duration {
    let start = Instant::now();
    dir.acmekeep(&["--issue", "--force"]).assert_success();
    start.elapsed()
}

#[test]
fn the_one_shot_killed_at_random_moments_never_leaves_a_torn_certificate() {
    let mut rng = FaultRng::for_scenario("one-shot, local CA");
    let dir = TestDir::new();
    dir.write_config(&local_ca_config(&dir, 0));
    let names = ["one", "two"];
    let window = calibrate(&dir);
    let started = Instant::now();
    let mut killed = 0;
    for trial in 0..ONE_SHOT_TRIALS {
        // Every fourth trial starts from an empty sink, so kills also hit a first deployment.
        if trial % 4 == 0 {
            fs::remove_dir_all(dir.sink("one").path()).expect("empty the sink of one");
        }
        let before: Vec<SinkState> = names
            .iter()
            .map(|name| deployed_or_empty(&dir, name))
            .collect();
        let delay = rng.below(window);
        let run = dir.acmekeep_killed_after(&["--issue", "--force"], delay);
        killed += usize::from(run.killed);
        check_after_kill(&dir, &names, &before, trial, &rng);

        let next = dir.acmekeep(&["--issue"]);
        next.assert_success();
        for name in names {
            assert!(
                matches!(
                    assert_crash_consistent(&dir.sink(name), true),
                    SinkState::Deployed(_)
                ),
                "trial {trial} (seed {}, killed after {delay:?}): {name} not deployed after \
                 the next run\n{next}",
                rng.seed()
            );
        }
    }
    eprintln!(
        "one-shot, local CA: {ONE_SHOT_TRIALS} trials ({killed} killed mid-run, kill window \
         {window:?}), 0 failures, {:?}",
        started.elapsed()
    );
}

/// What the sink of `name` held before a trial, as far as "never emptied" is concerned (the
/// previous trial's checks already proved it consistent).
fn deployed_or_empty(dir: &TestDir, name: &str) -> SinkState {
    if dir.sink(name).file("..data").exists() {
        SinkState::Deployed(String::new())
    } else {
        SinkState::Empty
    }
}

#[test]
fn the_daemon_killed_at_random_moments_never_leaves_a_torn_certificate() {
    let mut rng = FaultRng::for_scenario("daemon, local CA");
    let dir = TestDir::new();
    dir.write_config(&local_ca_config(&dir, 0));
    let names = ["one", "two"];
    // Each trial switches the key types, so the daemon must reissue both right at start.
    let start = Instant::now();
    dir.write_config(&local_ca_config(&dir, 1));
    let daemon = dir.spawn_daemon();
    for name in names {
        daemon.wait_for(
            &format!("deployed sink=files:{}", dir.sink(name).path().display()),
            1,
            Duration::from_secs(30),
        );
    }
    let window = start.elapsed();
    drop(daemon);
    let started = Instant::now();
    for trial in 0..DAEMON_TRIALS {
        let before: Vec<SinkState> = names
            .iter()
            .map(|name| deployed_or_empty(&dir, name))
            .collect();
        dir.write_config(&local_ca_config(&dir, trial));
        let delay = rng.below(window);
        let daemon = dir.spawn_daemon();
        std::thread::sleep(delay);
        // Dropping the daemon sends SIGKILL.
        drop(daemon);
        check_after_kill(&dir, &names, &before, trial, &rng);

        let next = dir.acmekeep(&["--issue"]);
        next.assert_success();
        for name in names {
            assert!(
                matches!(
                    assert_crash_consistent(&dir.sink(name), true),
                    SinkState::Deployed(_)
                ),
                "trial {trial} (seed {}, killed after {delay:?}): {name} not deployed after \
                 the next run\n{next}",
                rng.seed()
            );
        }
    }
    eprintln!(
        "daemon, local CA: {DAEMON_TRIALS} trials (kill window {window:?}), 0 failures, {:?}",
        started.elapsed()
    );
}

/// The ACME scenario's config: `web` through http-01 (built-in listener or webroot) and
/// `txt` through dns-01 on BIND.
fn acme_config(dir: &TestDir, pebble: &Pebble, bind: &Bind, webroot: Option<&Path>) -> String {
    let http = match webroot {
        Some(root) => format!("webroot = \"{}\"", root.display()),
        None => format!("listen = \"127.0.0.1:{}\"", pebble.http_port()),
    };
    format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{metrics}"

[issuers.pebble]
kind = "acme"
directory = "{directory}"
ca_bundle = "{bundle}"

[solvers.web]
kind = "http-01"
{http}

[solvers.dns]
kind = "dns-01"
provider = "rfc2136"
nameserver = "{addr}"
tsig_key = "{BIND_KEY}"
tsig_secret = "{secret}"
nameservers = ["{addr}"]
authoritative_port = {port}
propagation_timeout = "10s"

[certificates.web]
domains = ["web.example.test"]
issuer = "pebble"
solver = "web"
sinks = [{{ kind = "files", dir = "{web}" }}]

[certificates.txt]
domains = ["txt.example.test"]
issuer = "pebble"
solver = "dns"
sinks = [{{ kind = "files", dir = "{txt}" }}]
"#,
        state = dir.state_dir().display(),
        metrics = e2e::free_port(),
        directory = pebble.directory_url(),
        bundle = pebble.ca_bundle().display(),
        addr = bind.address(),
        secret = bind.secret(),
        port = bind.port(),
        web = dir.sink("web").path().display(),
        txt = dir.sink("txt").path().display(),
    )
}

/// The token files left in a webroot's challenge directory.
fn token_files(webroot: &Path) -> Vec<String> {
    fs::read_dir(webroot.join(".well-known/acme-challenge"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn assert_port_free(port: u16, what: &str) {
    if let Err(err) = TcpListener::bind(("127.0.0.1", port)) {
        panic!("{what}: the solver port 127.0.0.1:{port} is still bound: {err}");
    }
}

#[test]
fn the_one_shot_killed_during_acme_issuance_leaves_no_challenge_or_listener_behind() {
    let mut rng = FaultRng::for_scenario("one-shot, pebble");
    let dir = TestDir::new();
    let bind = Bind::start(
        &dir,
        &[BindZone::new("example.test")
            .record("web IN A 127.0.0.1")
            .record("txt IN A 127.0.0.1")],
    );
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            dns_server: Some(bind.address()),
            ..PebbleOptions::default()
        },
    );
    let webroot = dir.path().join("webroot");
    let names = ["web", "txt"];
    dir.write_config(&acme_config(&dir, &pebble, &bind, None));
    let window = calibrate(&dir);
    let started = Instant::now();
    let mut server = None;
    let mut killed = 0;
    let mut stale_records = 0;
    for trial in 0..ACME_TRIALS {
        // The first half answers HTTP-01 with the built-in listener, the second half through
        // a web server's webroot.
        let webroot_mode = trial >= ACME_TRIALS / 2;
        if webroot_mode && server.is_none() {
            dir.write_config(&acme_config(&dir, &pebble, &bind, Some(&webroot)));
            server = Some(WebrootServer::start(&dir, &webroot, pebble.http_port()));
        }
        let before: Vec<SinkState> = names
            .iter()
            .map(|name| deployed_or_empty(&dir, name))
            .collect();
        let delay = rng.below(window);
        let run = dir.acmekeep_killed_after(&["--issue", "--force"], delay);
        killed += usize::from(run.killed);
        let context = format!(
            "trial {trial} (seed {}, killed after {delay:?})",
            rng.seed()
        );
        check_after_kill(&dir, &names, &before, trial, &rng);
        if !webroot_mode {
            assert_port_free(pebble.http_port(), &context);
        }
        let left_by_kill = bind.acme_challenge_records("example.test");

        let next = dir.acmekeep(&["--issue", "--force"]);
        next.assert_success();
        for name in names {
            assert_crash_consistent(&dir.sink(name), true);
        }
        if !webroot_mode {
            assert_port_free(pebble.http_port(), &context);
        }
        assert_eq!(
            token_files(&webroot),
            Vec::<String>::new(),
            "{context}: token files left in the webroot after the next run\n{next}"
        );
        // A TXT value the killed run wrote is in the challenge journal, so the next run
        // removes it before issuing, and removes everything it wrote itself.
        let after_next = bind.acme_challenge_records("example.test");
        assert!(
            after_next.is_empty(),
            "{context}: challenge TXT records left after the next run: {after_next:?} \
             (left by the kill: {left_by_kill:?})\n{next}"
        );
        stale_records += left_by_kill.len();
    }
    eprintln!(
        "one-shot, pebble: {ACME_TRIALS} trials ({killed} killed mid-run, kill window \
         {window:?}), 0 failures, {stale_records} TXT values left by killed runs and removed by the next, {:?}",
        started.elapsed()
    );
}
