//! `acmekeep diagnose`: each finding comes from building its broken situation for real —
//! a stopped pebble, a sink edited by hand, a certificate past its renewal time with no
//! daemon, an endpoint on loopback serving the wrong certificate or a chain without its
//! intermediate, a BIND zone whose second server never gets the TXT record, a provider key
//! BIND refuses, the state record of a failed attempt — and a healthy setup gives none.
//!
//! Names resolve through a BIND zone (`--nameserver`) that points them at 127.0.0.1; the
//! HTTP-01 probe is fetched on the solver's port (`--http-port`) and TLS endpoints are
//! `openssl s_server` on a free port (`--https-port`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use e2e::{
    BIND_KEY, BIND_UNAUTHORIZED_KEY, Bind, BindZone, Config, Pebble, PebbleOptions, Run, TestDir,
    free_port, wait,
};

const ZONE: &str = "example.test";
const WAIT: Duration = Duration::from_secs(60);

/// One test bed: BIND resolving `*.example.test` names to 127.0.0.1, pebble, and a port for
/// the TLS endpoint.
struct Bed {
    dir: TestDir,
    bind: Bind,
    pebble: Option<Pebble>,
    https_port: u16,
}

impl Bed {
    fn start(options: PebbleOptions, zone: BindZone) -> Bed {
        let dir = TestDir::new();
        let bind = Bind::start(&dir, &[zone]);
        let pebble = Pebble::start(&dir, options);
        Bed {
            dir,
            bind,
            pebble: Some(pebble),
            https_port: free_port(),
        }
    }

    fn pebble(&self) -> &Pebble {
        self.pebble.as_ref().expect("pebble is running")
    }

    /// The usual config (http-01 on pebble's validation port) with `certificates`.
    fn config(&self, certificates: &[(&str, &str)]) -> Config {
        certificates.iter().fold(
            Config::for_pebble(&self.dir, self.pebble()),
            |c, (name, domain)| c.certificate(name, &[domain]),
        )
    }

    /// `acmekeep diagnose ARGS…` resolving through BIND, probing on the test ports.
    fn diagnose(&self, args: &[&str]) -> Run {
        let nameserver = self.bind.address().to_string();
        let http_port = self.pebble().http_port().to_string();
        let https_port = self.https_port.to_string();
        let root = self.pebble().root_file();
        let root = root.to_string_lossy();
        let mut all = vec![
            "diagnose",
            "--nameserver",
            &nameserver,
            "--http-port",
            &http_port,
            "--https-port",
            &https_port,
            "--ca-bundle",
            &root,
        ];
        all.extend(args);
        self.dir.acmekeep(&all)
    }

    /// Serves `cert` (and `chain`, if given) with `key` on the test HTTPS port.
    fn serve(&self, cert: &Path, key: &Path, chain: Option<&Path>) -> Server {
        Server::start(self.https_port, cert, key, chain, &self.dir)
    }
}

/// `openssl s_server` on loopback; killed on drop.
struct Server(Child);

impl Server {
    fn start(port: u16, cert: &Path, key: &Path, chain: Option<&Path>, dir: &TestDir) -> Server {
        let log = std::fs::File::create(dir.path().join(format!("s_server-{port}.log")))
            .expect("create the s_server log");
        let mut command = Command::new("openssl");
        command
            .args(["s_server", "-quiet", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key);
        if let Some(chain) = chain {
            command.arg("-cert_chain").arg(chain);
        }
        let child = command
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start openssl s_server");
        let mut server = Server(child);
        let what = format!("openssl s_server to listen on {port}");
        wait::until(Duration::from_secs(10), &what, || {
            wait::alive(&mut server.0)?;
            Ok(wait::listening(port))
        })
        .unwrap_or_else(|why| panic!("{why}"));
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Copies the sink's current files of certificate `name` to `DIR/kept-<name>/`.
fn keep(dir: &TestDir, name: &str) -> std::path::PathBuf {
    let kept = dir.path().join(format!("kept-{name}"));
    std::fs::create_dir_all(&kept).expect("mkdir");
    for file in ["cert.pem", "chain.pem", "privkey.pem"] {
        std::fs::copy(dir.sink(name).file(file), kept.join(file)).expect("copy a sink file");
    }
    kept
}

fn findings(run: &Run) -> serde_json::Value {
    serde_json::from_str(run.stdout())
        .unwrap_or_else(|e| run.fail(&format!("stdout is not JSON: {e}")))
}

/// The findings of `--json` output with check `check`.
fn with_check<'a>(all: &'a serde_json::Value, check: &str) -> Vec<&'a serde_json::Value> {
    all.as_array()
        .expect("an array")
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

#[test]
fn a_healthy_setup_gives_no_finding_and_exit_0() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir
        .write_config(&bed.config(&[("web", "www.example.test")]).to_toml());
    bed.dir.acmekeep(&["--issue"]).assert_success();
    let sink = bed.dir.sink("web");
    let _server = bed.serve(
        &sink.file("cert.pem"),
        &sink.file("privkey.pem"),
        Some(&sink.file("chain.pem")),
    );

    let run = bed.diagnose(&[]);
    run.assert_success()
        .assert_stdout_contains("web: no problems found")
        .assert_stdout_contains("1 without problems, 0 error(s), 0 warning(s)");
    let run = bed.diagnose(&["--json"]);
    run.assert_success();
    assert_eq!(findings(&run), serde_json::json!([]), "{run}");
}

#[test]
fn a_stopped_issuer_is_reported_unreachable() {
    let mut bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir
        .write_config(&bed.config(&[("web", "www.example.test")]).to_toml());
    bed.dir.acmekeep(&["--issue"]).assert_success();
    let root = bed.pebble().root_file();
    let http_port = bed.pebble().http_port();
    let directory = bed.pebble().directory_url().to_string();
    drop(bed.pebble.take());

    let run = bed.dir.acmekeep(&[
        "diagnose",
        "--json",
        "--nameserver",
        &bed.bind.address().to_string(),
        "--http-port",
        &http_port.to_string(),
        "--https-port",
        &bed.https_port.to_string(),
        "--ca-bundle",
        &root.to_string_lossy(),
    ]);
    run.assert_exit(1);
    let all = findings(&run);
    let unreachable = with_check(&all, "issuer-unreachable");
    assert_eq!(unreachable.len(), 1, "{run}");
    assert_eq!(unreachable[0]["severity"], "error");
    assert_eq!(unreachable[0]["certificate"], "web");
    let symptom = unreachable[0]["symptom"].as_str().expect("symptom");
    assert!(
        symptom.starts_with(&format!("issuer pebble does not answer at {directory}")),
        "{run}"
    );
    assert!(symptom.contains("onnection refused"), "{run}");
    assert!(
        unreachable[0]["check_first"]
            .as_str()
            .is_some_and(|c| c.contains("curl -v")),
        "{run}"
    );
}

#[test]
fn a_certificate_copied_over_the_sink_is_reported_as_changed_by_hand() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir.write_config(
        &bed.config(&[("web", "www.example.test"), ("api", "example.test")])
            .to_toml(),
    );
    bed.dir.acmekeep(&["--issue"]).assert_success();
    std::fs::copy(
        bed.dir.sink("api").file("cert.pem"),
        bed.dir.sink("web").file("cert.pem"),
    )
    .expect("copy a certificate over the sink");

    let run = bed.diagnose(&["web", "--no-probe"]);
    run.assert_exit(1)
        .assert_stdout_contains("ERROR sink-changed-by-hand: ")
        .assert_stdout_contains(", the certificate acmekeep last deployed")
        .assert_stdout_contains("ERROR key-mismatch")
        .assert_stdout_contains("ERROR name-not-covered [www.example.test]");
    assert!(
        !run.stdout().contains("api"),
        "only `web` was asked for: {run}"
    );
}

#[test]
fn past_its_renewal_time_with_no_daemon_is_overdue() {
    let bed = Bed::start(
        PebbleOptions {
            certificate_validity: Some(Duration::from_secs(30)),
            ..PebbleOptions::default()
        },
        BindZone::new(ZONE),
    );
    bed.dir
        .write_config(&bed.config(&[("web", "www.example.test")]).to_toml());
    bed.dir.acmekeep(&["--issue"]).assert_success();
    // A 30 s certificate renews at half-life.
    sleep(Duration::from_secs(16));

    let run = bed.diagnose(&["--no-probe"]);
    run.assert_exit(1)
        .assert_stdout_contains("ERROR renewal-overdue: past its renewal time")
        .assert_stdout_contains("and no acmekeep daemon holds the lock of")
        .assert_stdout_contains("systemctl status acmekeep");
}

#[test]
fn an_endpoint_serving_another_certificate_is_found_per_name() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir.write_config(
        &bed.config(&[("web", "www.example.test"), ("api", "example.test")])
            .to_toml(),
    );
    bed.dir.acmekeep(&["--issue"]).assert_success();

    // A server whose default certificate is another one: it does not cover the name.
    let api = bed.dir.sink("api");
    let server = bed.serve(
        &api.file("cert.pem"),
        &api.file("privkey.pem"),
        Some(&api.file("chain.pem")),
    );
    let run = bed.diagnose(&["web", "--no-probe"]);
    run.assert_exit(1)
        .assert_stdout_contains("ERROR default-certificate-served [www.example.test]: ")
        .assert_stdout_contains("serves another certificate than");
    drop(server);

    // A server not reloaded after a renewal: the older certificate, for the right name.
    let old = keep(&bed.dir, "web");
    // Validity has a resolution of one second: make the renewed certificate end later.
    sleep(Duration::from_millis(1100));
    bed.dir
        .acmekeep(&["--issue", "web", "--force"])
        .assert_success();
    let _server = bed.serve(
        &old.join("cert.pem"),
        &old.join("privkey.pem"),
        Some(&old.join("chain.pem")),
    );
    let run = bed.diagnose(&["web", "--no-probe", "--json"]);
    run.assert_exit(1);
    let all = findings(&run);
    let wrong = with_check(&all, "wrong-certificate-served");
    assert_eq!(wrong.len(), 1, "{run}");
    assert_eq!(wrong[0]["name"], "www.example.test");
    assert!(
        wrong[0]["symptom"]
            .as_str()
            .is_some_and(|s| s.contains("an older certificate")),
        "{run}"
    );
}

#[test]
fn a_chain_without_its_intermediate_is_incomplete_served_and_deployed() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir
        .write_config(&bed.config(&[("web", "www.example.test")]).to_toml());
    bed.dir.acmekeep(&["--issue"]).assert_success();
    let sink = bed.dir.sink("web");
    let _server = bed.serve(&sink.file("cert.pem"), &sink.file("privkey.pem"), None);

    let run = bed.diagnose(&["--no-probe"]);
    run.assert_exit(1)
        .assert_stdout_contains("ERROR incomplete-chain-served [www.example.test]: ")
        .assert_stdout_contains("the intermediate");
    assert!(
        !run.stdout().contains("ERROR incomplete-chain:"),
        "the sink's own chain is complete: {run}"
    );

    std::fs::write(sink.file("chain.pem"), "").expect("empty the deployed chain");
    let run = bed.diagnose(&["--no-probe"]);
    run.assert_exit(1)
        .assert_stdout_contains("ERROR incomplete-chain: ");
}

#[test]
fn an_http01_path_that_leads_elsewhere_is_found_by_the_probe() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir
        .write_config(&bed.config(&[("web", "www.example.test")]).to_toml());
    // Fetched on another port than the solver's: as if port 80 went to another server.
    let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = elsewhere.local_addr().expect("addr").port();
    drop(elsewhere);
    let run = bed.dir.acmekeep(&[
        "diagnose",
        "--nameserver",
        &bed.bind.address().to_string(),
        "--http-port",
        &port.to_string(),
        "--https-port",
        &bed.https_port.to_string(),
    ]);
    run.assert_exit(1)
        .assert_stdout_contains(
            "ERROR http01-unreachable [www.example.test]: fetching http://www.example.test:",
        )
        .assert_stdout_contains("/.well-known/acme-challenge/");

    // On the solver's port the probe token comes back: no HTTP-01 finding.
    let run = bed.diagnose(&[]);
    assert!(!run.stdout().contains("http01-unreachable"), "{run}");
}

/// A config with one dns-01 solver (rfc2136 on `bind`, TSIG key `key`/`secret`) for
/// `www.example.test`, never issued.
fn dns_config(bed: &Bed, key: &str, secret: &str) -> String {
    format!(
        r#"[daemon]
state_dir = "{state}"

[issuers.pebble]
kind = "acme"
directory = "{directory}"
ca_bundle = "{bundle}"

[solvers.dns]
kind = "dns-01"
provider = "rfc2136"
nameserver = "{addr}"
tsig_key = "{key}"
tsig_secret = "{secret}"
nameservers = ["{addr}"]
authoritative_port = {port}
propagation_timeout = "2s"

[certificates.web]
domains = ["www.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out}" }}]
"#,
        state = bed.dir.state_dir().display(),
        directory = bed.pebble().directory_url(),
        bundle = bed.pebble().ca_bundle().display(),
        addr = bed.bind.address(),
        port = bed.bind.port(),
        out = bed.dir.path().join("out/web").display(),
    )
}

#[test]
fn a_txt_record_one_authoritative_server_never_serves_is_not_propagated() {
    // The zone names a second server, at 127.0.0.2, that never gets the update.
    let zone = BindZone::new(ZONE)
        .record("@ IN NS ns2.example.test.")
        .record("ns2 IN A 127.0.0.2");
    let bed = Bed::start(PebbleOptions::default(), zone);
    bed.dir
        .write_config(&dns_config(&bed, BIND_KEY, bed.bind.secret()));

    let run = bed.diagnose(&["--json"]);
    run.assert_exit(1);
    let all = findings(&run);
    let missing = with_check(&all, "dns-txt-not-propagated");
    assert_eq!(missing.len(), 1, "{run}");
    let symptom = missing[0]["symptom"].as_str().expect("symptom");
    assert!(
        symptom.contains("_acme-challenge.www.example.test (zone example.test)"),
        "{run}"
    );
    assert!(symptom.contains("127.0.0.2:"), "{run}");
    assert!(
        bed.bind
            .dig_txt("_acme-challenge.www.example.test")
            .is_empty(),
        "the probe value is removed again"
    );
}

#[test]
fn a_dns_key_the_server_refuses_is_reported_as_rejected_credentials() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    bed.dir.write_config(&dns_config(
        &bed,
        BIND_UNAUTHORIZED_KEY,
        bed.bind.unauthorized_secret(),
    ));

    let run = bed.diagnose(&[]);
    run.assert_exit(1).assert_stdout_contains(
        "ERROR dns-credentials-rejected [www.example.test]: the DNS provider refused to write _acme-challenge.www.example.test in zone example.test",
    );
}

#[test]
fn the_last_failed_attempt_is_classified_with_its_backoff() {
    let bed = Bed::start(PebbleOptions::default(), BindZone::new(ZONE));
    let directory = format!("https://127.0.0.1:{}/dir", free_port());
    let config =
        Config::for_directory(&bed.dir, &directory).certificate("web", &["www.example.test"]);
    bed.dir.write_config(&config.to_toml());
    let daemon = bed.dir.spawn_daemon();
    daemon.wait_for("issuance failed", 1, WAIT);
    assert!(daemon.stop().success());

    let run = bed.diagnose(&["--no-probe", "--json"]);
    run.assert_exit(1);
    let all = findings(&run);
    let last = with_check(&all, "issuer-unreachable")
        .into_iter()
        .find(|f| {
            f["symptom"]
                .as_str()
                .is_some_and(|s| s.starts_with("the last issuance attempt failed"))
        })
        .unwrap_or_else(|| run.fail("no finding about the last attempt"));
    let symptom = last["symptom"].as_str().expect("symptom");
    assert!(symptom.contains("cannot reach the CA"), "{run}");
    assert!(symptom.contains("; next attempt not before "), "{run}");
    assert!(
        with_check(&all, "not-deployed").len() == 1,
        "nothing was ever deployed: {run}"
    );
}
