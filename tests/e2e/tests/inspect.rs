//! `acmekeep inspect` on what pebble issued: a files-sink directory, a Secret, a PEM file,
//! and live endpoints (`openssl s_server` on loopback) serving a full chain, a leaf without
//! its intermediate, or another certificate than the sink holds.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use e2e::{Config, KubeFake, Pebble, PebbleOptions, Run, TestDir, TlsServer};

/// Starts pebble and issues the certificates `(name, domains)` into `DIR/out/<name>`.
fn issued(dir: &TestDir, certificates: &[(&str, &[&str])]) -> Pebble {
    let pebble = Pebble::start(dir, PebbleOptions::default());
    let config = certificates.iter().fold(
        Config::for_pebble(dir, &pebble),
        |config, (name, domains)| config.certificate(name, domains),
    );
    dir.write_config(&config.to_toml());
    dir.acmekeep(&["--issue"]).assert_success();
    pebble
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 test path")
}

/// The issuer of `cert` as openssl prints it (RFC 2253), e.g. `CN=Pebble Intermediate CA 1a2b3c`.
fn openssl_issuer(cert: &Path) -> String {
    let output = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-issuer",
            "-nameopt",
            "RFC2253",
            "-in",
            path(cert),
        ])
        .output()
        .expect("run openssl x509");
    assert!(output.status.success(), "openssl x509 failed: {output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .trim_start_matches("issuer=")
        .to_string()
}

/// Asserts the word after `marker` in stdout is the serial `expected` (as openssl prints it:
/// upper-case hex without leading zeros).
fn assert_same_serial(run: &Run, marker: &str, expected: &str) {
    let found = run
        .stdout()
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| run.fail(&format!("no {marker:?} in stdout")));
    let normalize = |serial: &str| serial.trim_start_matches('0').to_ascii_lowercase();
    if normalize(found) != normalize(expected) {
        run.fail(&format!("{marker:?} must be followed by serial {expected}"));
    }
}

#[test]
fn a_sink_directory_shows_names_a_complete_chain_and_a_matching_key() {
    let dir = TestDir::new();
    let pebble = issued(&dir, &[("web", &["a.example.test", "b.example.test"])]);
    let sink = dir.sink("web");
    let root = pebble.root_file();

    let run = dir.acmekeep(&[
        "inspect",
        "--dir",
        path(sink.path()),
        "--ca-bundle",
        path(&root),
    ]);
    run.assert_success()
        .assert_stdout_contains("names        a.example.test, b.example.test")
        .assert_stdout_contains("key          ECDSA P-256")
        .assert_stdout_contains("chain        2 certificate(s)")
        .assert_stdout_contains(", signed by [1]")
        .assert_stdout_contains("trust        complete: ends at the trust anchor CN=Pebble Root CA")
        .assert_stdout_contains("private key  matches the certificate")
        .assert_stdout_contains("ok: no problem found");
    assert_same_serial(&run, "serial       ", &sink.serial());
}

#[test]
fn json_output_parses_and_has_the_documented_fields() {
    let dir = TestDir::new();
    let pebble = issued(&dir, &[("web", &["a.example.test"])]);
    let root = pebble.root_file();
    let run = dir.acmekeep(&[
        "inspect",
        "--dir",
        path(dir.sink("web").path()),
        "--ca-bundle",
        path(&root),
        "--json",
    ]);
    run.assert_success();
    let report: serde_json::Value = serde_json::from_str(run.stdout())
        .unwrap_or_else(|err| run.fail(&format!("stdout is not JSON: {err}")));
    assert_eq!(report["ok"], true, "{run}");
    assert_eq!(report["problems"], serde_json::json!([]));
    assert_eq!(report["trust_anchors"]["source"], path(&root));
    assert_eq!(report["endpoint"], serde_json::Value::Null);
    let stored = &report["stored"][0];
    assert!(
        stored["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("files:")),
        "{stored}"
    );
    assert_eq!(stored["key"]["present"], true);
    assert_eq!(stored["key"]["matches"], true);
    let chain = &stored["chain"];
    assert_eq!(chain["complete"], true);
    assert!(
        chain["trusted_by"]
            .as_str()
            .is_some_and(|s| s.starts_with("CN=Pebble Root CA"))
    );
    let leaf = &chain["certs"][0];
    assert_eq!(leaf["names"], serde_json::json!(["a.example.test"]));
    assert_eq!(leaf["signed_by_next"], true);
    for field in [
        "subject",
        "issuer",
        "serial",
        "not_before",
        "not_after",
        "key",
        "sha256",
    ] {
        assert!(leaf[field].is_string(), "certs[0].{field} missing: {leaf}");
    }
    assert!(leaf["seconds_left"].as_i64().is_some_and(|s| s > 0));
    assert_eq!(chain["certs"][1]["signed_by_next"], serde_json::Value::Null);
}

#[test]
fn an_endpoint_serving_the_full_chain_of_the_configured_certificate_is_fine() {
    let dir = TestDir::new();
    let pebble = issued(&dir, &[("web", &["a.example.test"])]);
    let sink = dir.sink("web");
    let server = TlsServer::start(
        &dir,
        "full",
        &sink.file("cert.pem"),
        &sink.file("privkey.pem"),
        Some(&sink.file("chain.pem")),
    );
    let root = pebble.root_file();
    let run = dir.acmekeep(&[
        "inspect",
        "--cert",
        "web",
        "--host",
        &server.address(),
        "--sni",
        "a.example.test",
        "--ca-bundle",
        path(&root),
    ]);
    run.assert_success()
        .assert_stdout_contains(&format!(
            "endpoint {} (SNI a.example.test)",
            server.address()
        ))
        .assert_stdout_contains("name         a.example.test covered")
        .assert_stdout_contains(&format!(
            "serves the same certificate as files:{}",
            sink.path().display()
        ))
        .assert_stdout_contains("ok: no problem found");
}

#[test]
fn an_endpoint_without_the_intermediate_fails_and_names_it() {
    let dir = TestDir::new();
    let pebble = issued(&dir, &[("web", &["a.example.test"])]);
    let sink = dir.sink("web");
    let server = TlsServer::start(
        &dir,
        "leaf-only",
        &sink.file("cert.pem"),
        &sink.file("privkey.pem"),
        None,
    );
    let intermediate = openssl_issuer(&sink.file("cert.pem"));
    let root = pebble.root_file();
    let run = dir.acmekeep(&[
        "inspect",
        "--host",
        &server.address(),
        "--sni",
        "a.example.test",
        "--ca-bundle",
        path(&root),
    ]);
    run.assert_exit(1)
        .assert_stdout_contains("chain        1 certificate(s)")
        .assert_stdout_contains("INCOMPLETE")
        .assert_stdout_contains(&format!(
            "which is not a trusted root and was not sent: the intermediate {intermediate} is missing"
        ));
    let json = dir.acmekeep(&[
        "inspect",
        "--host",
        &server.address(),
        "--sni",
        "a.example.test",
        "--ca-bundle",
        path(&root),
        "--json",
    ]);
    json.assert_exit(1);
    let report: serde_json::Value = serde_json::from_str(json.stdout()).expect("JSON");
    assert_eq!(
        report["problems"][0]["kind"], "missing_intermediate",
        "{json}"
    );
    assert_eq!(report["endpoint"]["chain"]["complete"], false);
}

#[test]
fn an_endpoint_serving_another_certificate_than_the_sink_fails() {
    let dir = TestDir::new();
    let _pebble = issued(
        &dir,
        &[("one", &["a.example.test"]), ("two", &["a.example.test"])],
    );
    let (one, two) = (dir.sink("one"), dir.sink("two"));
    let server = TlsServer::start(
        &dir,
        "two",
        &two.file("cert.pem"),
        &two.file("privkey.pem"),
        Some(&two.file("chain.pem")),
    );
    let run = dir.acmekeep(&[
        "inspect",
        "--dir",
        path(one.path()),
        "--host",
        &server.address(),
        "--sni",
        "a.example.test",
    ]);
    run.assert_exit(1)
        .assert_stdout_contains(&format!(
            "SERVES ANOTHER CERTIFICATE than files:{}",
            one.path().display()
        ))
        .assert_stdout_contains(&format!(
            "the endpoint serves another certificate than files:{}: served serial",
            one.path().display(),
        ));
    assert_same_serial(&run, "served serial ", &two.serial());
    assert_same_serial(&run, "stored serial ", &one.serial());
}

#[test]
fn a_secret_whose_key_does_not_match_its_certificate_fails() {
    let dir = TestDir::new();
    let pebble = issued(
        &dir,
        &[("one", &["a.example.test"]), ("two", &["b.example.test"])],
    );
    let fake = KubeFake::start(&["app"]);
    let kubeconfig = fake.kubeconfig(dir.path(), "admin");
    let b64 = |file: &Path| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(file).expect("read"))
    };
    fake.create_secret(
        "kubectl",
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "web-tls", "namespace": "app"},
            "type": "kubernetes.io/tls",
            "data": {
                "tls.crt": b64(&dir.sink("one").file("fullchain.pem")),
                "tls.key": b64(&dir.sink("two").file("privkey.pem")),
            },
        }),
    );
    let root = pebble.root_file();
    let run = dir.acmekeep(&[
        "inspect",
        "--secret",
        "app/web-tls",
        "--kubeconfig",
        path(&kubeconfig),
        "--ca-bundle",
        path(&root),
    ]);
    run.assert_exit(1)
        .assert_stdout_contains("kubernetes:app/web-tls")
        .assert_stdout_contains("names        a.example.test")
        .assert_stdout_contains("trust        complete")
        .assert_stdout_contains("private key  DOES NOT MATCH the certificate")
        .assert_stdout_contains("tls.key is not the private key of the certificate");
}

#[test]
fn an_expired_certificate_file_fails() {
    let dir = TestDir::new();
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["old.example.test".to_string()]).expect("params");
    let now = SystemTime::now();
    params.not_before = (now - Duration::from_secs(30 * 86_400)).into();
    params.not_after = (now - Duration::from_secs(2 * 86_400)).into();
    let cert = params.self_signed(&key).expect("certificate");
    let file = dir.path().join("old.pem");
    std::fs::write(&file, format!("{}{}", cert.pem(), key.serialize_pem())).expect("write");

    let run = dir.acmekeep(&["inspect", "--file", path(&file), "--ca-bundle", path(&file)]);
    run.assert_exit(1)
        .assert_stdout_contains("(expired 2 days")
        .assert_stdout_contains("private key  matches the certificate")
        .assert_stdout_contains("the certificate for old.example.test expired 2 days");
    let json = dir.acmekeep(&["inspect", "--file", path(&file), "--json"]);
    json.assert_exit(1);
    let report: serde_json::Value = serde_json::from_str(json.stdout()).expect("JSON");
    assert_eq!(report["problems"][0]["kind"], "expired", "{json}");
    assert!(
        report["stored"][0]["chain"]["certs"][0]["seconds_left"]
            .as_i64()
            .is_some_and(|s| s < 0)
    );
}

#[test]
fn unreadable_input_and_unreachable_endpoints_are_usage_errors() {
    let dir = TestDir::new();
    dir.acmekeep(&["inspect", "--dir", path(&dir.path().join("nothing"))])
        .assert_exit(2)
        .assert_stderr_contains("holds neither fullchain.pem nor cert.pem");
    let port = e2e::free_port();
    dir.acmekeep(&[
        "inspect",
        "--host",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "5s",
    ])
    .assert_exit(2)
    .assert_stderr_contains(&format!("cannot connect to 127.0.0.1:{port}"));
    dir.acmekeep(&["inspect"]).assert_exit(2);
    dir.acmekeep(&["inspect", "--cert", "nope"]).assert_exit(2);
}
