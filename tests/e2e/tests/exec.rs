//! The exec provider running real scripts: one that drives pebble-challtestsrv's management
//! API (checked over DNS in between), one that fails, one that hangs.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use acme_core::DnsProvider;
use dns_exec::{Config, Provider};
use e2e::{TestDir, dig_txt, free_port, wait};

const ZONE: &str = "example.test";
const NAME: &str = "_acme-challenge.x.example.test";

/// pebble-challtestsrv alone, as a DNS server whose TXT records a script sets over HTTP.
struct Challtestsrv {
    child: Child,
    dns: SocketAddr,
    management_url: String,
    log: PathBuf,
}

impl Challtestsrv {
    fn start(dir: &TestDir) -> Challtestsrv {
        let (dns_port, management_port) = (free_port(), free_port());
        let log = dir.path().join("challtestsrv.log");
        let out = File::create(&log).expect("create the challtestsrv log");
        let child = Command::new("pebble-challtestsrv")
            .args([
                "-defaultIPv6",
                "",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .arg("-dns01")
            .arg(format!("127.0.0.1:{dns_port}"))
            .arg("-management")
            .arg(format!("127.0.0.1:{management_port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("duplicate the log handle"))
            .stderr(out)
            .spawn()
            .expect("pebble-challtestsrv not installed: run scripts/test (apt-get install pebble)");
        let mut server = Challtestsrv {
            child,
            dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
            management_url: format!("http://127.0.0.1:{management_port}"),
            log,
        };
        let what = format!("pebble-challtestsrv to listen on {management_port}");
        wait::until(Duration::from_secs(10), &what, || {
            wait::alive(&mut server.child)?;
            Ok(wait::listening(management_port))
        })
        .unwrap_or_else(|why| panic!("{why}\n{}", server.log_text()));
        server
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Challtestsrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes an executable shell script `name` with `body` into the test directory.
///
/// The executable itself is written by `install` in a child process: if this (threaded)
/// test process held a writable descriptor on it, a child forked meanwhile by another test
/// could inherit that descriptor, and running the script would fail with ETXTBSY.
fn script(dir: &TestDir, name: &str, body: &str) -> String {
    let path = dir.path().join(name);
    let source = dir.path().join(format!("{name}.source"));
    fs::write(&source, format!("#!/bin/sh\n{body}\n")).expect("write the script text");
    let status = std::process::Command::new("install")
        .arg("-m")
        .arg("0755")
        .arg(&source)
        .arg(&path)
        .status()
        .expect("run install");
    assert!(status.success(), "install {} failed", path.display());
    path.to_string_lossy().into_owned()
}

fn provider(command: &str, timeout: Duration, env: &[(&str, &str)]) -> Provider {
    Provider::new(Config {
        command: command.to_string(),
        timeout,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    })
    .expect("a valid exec config")
}

/// A lego-style hook: `present|cleanup FQDN VALUE`, talking to challtestsrv's management API.
const CHALLTESTSRV_HOOK: &str = r#"set -eu
case "$1" in
  present) curl -sS --fail -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" "$CHALLTESTSRV_URL/set-txt" ;;
  cleanup) curl -sS --fail -X POST -d "{\"host\":\"$2\"}" "$CHALLTESTSRV_URL/clear-txt" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac"#;

#[tokio::test]
async fn a_script_presents_the_record_and_cleans_it_up() {
    let dir = TestDir::new();
    let challtestsrv = Challtestsrv::start(&dir);
    let hook = script(&dir, "hook.sh", CHALLTESTSRV_HOOK);
    let provider = provider(
        &hook,
        Duration::from_secs(20),
        &[("CHALLTESTSRV_URL", &challtestsrv.management_url)],
    );
    assert!(dig_txt(challtestsrv.dns, NAME).is_empty());

    provider
        .set_txt(ZONE, NAME, "the-value")
        .await
        .expect("present");
    assert_eq!(
        dig_txt(challtestsrv.dns, NAME),
        ["the-value"],
        "{}",
        challtestsrv.log_text()
    );

    provider
        .remove_txt(ZONE, NAME, "the-value")
        .await
        .expect("cleanup");
    assert!(dig_txt(challtestsrv.dns, NAME).is_empty());
}

#[tokio::test]
async fn a_failing_script_reports_its_exit_status_and_stderr() {
    let dir = TestDir::new();
    let hook = script(
        &dir,
        "failing.sh",
        "echo 'starting' >&2\necho \"zone $ACMEKEEP_ZONE is read-only\" >&2\nexit 3",
    );
    let provider = provider(&hook, Duration::from_secs(20), &[]);

    let err = provider
        .set_txt(ZONE, NAME, "value")
        .await
        .expect_err("the script fails");
    assert_eq!(
        err.to_string(),
        format!(
            "DNS provider exec: {hook} present _acme-challenge.x.example.test. failed (exit status: 3); \
             stderr: starting\\nzone example.test is read-only"
        )
    );
}

#[tokio::test]
async fn a_hanging_script_is_killed_at_the_timeout() {
    let dir = TestDir::new();
    let hook = script(
        &dir,
        "hanging.sh",
        "echo 'waiting for the API' >&2\nsleep 30\necho done",
    );
    let provider = provider(&hook, Duration::from_secs(1), &[]);

    let started = Instant::now();
    let err = provider
        .remove_txt(ZONE, NAME, "value")
        .await
        .expect_err("the script hangs");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}: the script's children were not killed with it",
        started.elapsed()
    );
    assert_eq!(
        err.to_string(),
        format!(
            "DNS provider exec: {hook} cleanup _acme-challenge.x.example.test. did not finish within 1s; \
             it was killed; stderr: waiting for the API"
        )
    );
}
