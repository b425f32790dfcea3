//! The real binary delivering to `kubernetes.io/tls` Secrets and electing a leader, against
//! the fake API server ([`e2e::KubeFake`]; no real API server can be installed here), with
//! the local-CA issuer, and with a real pebble where orders are counted.

use std::time::Duration;

use e2e::{Config, Daemon, KubeFake, Pebble, PebbleOptions, Run, TestDir, free_port};
use serde_json::Value;

const USER: &str = "system:serviceaccount:app:acmekeep";

/// Writes a config with certificates `web` and `api` delivered to Secrets `web-tls` and
/// `api-tls` in namespace `app`, from a generated local CA; with `lease`, the replica
/// campaigns for Lease `app/acmekeep` under the identity `lease`.
fn write_config(dir: &TestDir, fake: &KubeFake, lease: Option<&str>) {
    let kubeconfig = fake.kubeconfig(dir.path(), USER);
    let cluster = format!("{{ kubeconfig = \"{}\" }}", kubeconfig.display());
    let election = lease.map_or(String::new(), |identity| {
        format!(
            "\n[daemon.leader_election]\nnamespace = \"app\"\nidentity = \"{identity}\"\n\
             lease_duration = \"4s\"\nrenew_deadline = \"3s\"\nretry_period = \"500ms\"\n\
             cluster = {cluster}\n"
        )
    });
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{port}"
{election}
[issuers.internal]
kind = "ca"
generate = true

[certificates.web]
domains = ["web.example.test", "www.example.test"]
issuer = "internal"
sinks = [{{ kind = "kubernetes", namespace = "app", secret = "web-tls", cluster = {cluster} }}]

[certificates.api]
domains = ["api.example.test"]
issuer = "internal"
sinks = [{{ kind = "kubernetes", namespace = "app", secret = "api-tls", cluster = {cluster} }}]
"#,
        state = dir.state_dir().display(),
        port = free_port(),
    );
    dir.write_config(&toml);
}

/// How many times a Secret was written (successful server-side applies).
fn applies(fake: &KubeFake, secret: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| {
            r.method == "PATCH"
                && r.path.ends_with(&format!("/secrets/{secret}"))
                && (200..300).contains(&r.status)
        })
        .count()
}

fn data_keys(secret: &Value) -> Vec<String> {
    let mut keys: Vec<String> = secret["data"]
        .as_object()
        .expect("the Secret has data")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[test]
fn issue_creates_tls_secrets_and_a_second_run_leaves_valid_ones_alone() {
    let dir = TestDir::new();
    let fake = KubeFake::start(&["app"]);
    write_config(&dir, &fake, None);

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    for name in ["web-tls", "api-tls"] {
        let secret = fake.secret("app", name).expect("the Secret exists");
        assert_eq!(secret["type"], "kubernetes.io/tls");
        assert_eq!(data_keys(&secret), ["ca.crt", "tls.crt", "tls.key"]);
        assert_eq!(
            secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "acmekeep"
        );
    }
    let web = fake.secret("app", "web-tls").expect("web-tls");
    assert_eq!(
        web["metadata"]["annotations"]["acmekeep.io/alt-names"],
        "web.example.test,www.example.test"
    );

    // A restarted pod reads the Secrets back and does not reissue.
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("0 issued, 2 still valid, 0 failed");
    assert_eq!(applies(&fake, "web-tls"), 1);
    assert_eq!(applies(&fake, "api-tls"), 1);
}

#[test]
fn an_rbac_denial_fails_with_the_role_rule_to_add_and_writes_nothing() {
    let dir = TestDir::new();
    let fake = KubeFake::start(&["app"]);
    fake.deny(None, "patch", "secrets");
    write_config(&dir, &fake, None);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1)
        .assert_stdout_contains("web: FAILED")
        .assert_stdout_contains(
            "resources: [\"secrets\"], resourceNames: [\"web-tls\"], verbs: [\"patch\"]",
        );
    assert!(fake.secret("app", "web-tls").is_none());
}

#[test]
fn a_namespace_that_does_not_exist_is_named() {
    let dir = TestDir::new();
    let fake = KubeFake::start(&["other"]);
    write_config(&dir, &fake, None);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1).assert_stdout_contains("\"app\"");
    assert!(
        run.line_for("web").contains("does not exist"),
        "the message must say the namespace is missing\n{run}"
    );
}

/// Waits until `daemon` logged `needle` at least `count` times.
fn wait(daemon: &Daemon, needle: &str, count: usize) {
    daemon.wait_for(needle, count, Duration::from_secs(30));
}

#[test]
fn two_replicas_issue_each_certificate_once_and_the_second_takes_over_when_the_first_stops() {
    let fake = KubeFake::start(&["app"]);
    let (dir_a, dir_b) = (TestDir::new(), TestDir::new());
    write_config(&dir_a, &fake, Some("replica-a"));
    write_config(&dir_b, &fake, Some("replica-b"));

    let a = dir_a.spawn_daemon();
    wait(&a, "became the leader", 1);
    let b = dir_b.spawn_daemon();
    wait(&a, "issued and deployed", 2);
    wait(&b, "campaigning for leadership", 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(b.count("became the leader"), 0, "one leader at a time");
    assert_eq!(b.count("issuing"), 0, "a follower issues nothing");
    assert_eq!(applies(&fake, "web-tls"), 1);
    assert_eq!(applies(&fake, "api-tls"), 1);

    // Someone breaks a Secret while the leader goes away: the new leader repairs it.
    let mut web = fake.secret("app", "web-tls").expect("web-tls");
    web["data"]["tls.crt"] = Value::String(String::new());
    assert_eq!(fake.replace_secret("kubectl-edit", web), 200);
    assert!(a.stop().success(), "the leader stops cleanly");
    let lease = fake.lease("app", "acmekeep").expect("the Lease");
    assert_ne!(
        lease["spec"]["holderIdentity"], "replica-a",
        "the stopped leader released the Lease"
    );
    wait(&b, "became the leader", 1);
    wait(&b, "issued and deployed", 1);
    assert_eq!(
        applies(&fake, "web-tls"),
        2,
        "the broken Secret was reissued"
    );
    assert_eq!(
        applies(&fake, "api-tls"),
        1,
        "the valid Secret was left alone"
    );
    let web = fake.secret("app", "web-tls").expect("web-tls");
    assert_ne!(web["data"]["tls.crt"], "");
    assert!(b.stop().success());
}

/// Fails `run` unless its line for `name` contains every one of `needles`.
fn assert_line(run: &Run, name: &str, needles: &[&str]) {
    let line = run.line_for(name);
    if let Some(missing) = needles.iter().find(|needle| !line.contains(*needle)) {
        run.fail(&format!("the line for {name} must say {missing:?}"));
    }
}

/// Pebble's config with certificate `name` delivered to Secret `namespace`/`secret` as `user`
/// instead of its files sink.
fn to_secret(toml: &str, dir: &TestDir, fake: &KubeFake, spec: (&str, &str, &str, &str)) -> String {
    let (name, namespace, secret, user) = spec;
    let files = format!(
        "{{ kind = \"files\", dir = \"{}\" }}",
        dir.path().join("out").join(name).display()
    );
    let kubernetes = format!(
        "{{ kind = \"kubernetes\", namespace = \"{namespace}\", secret = \"{secret}\", cluster = {{ kubeconfig = \"{}\" }} }}",
        fake.kubeconfig(dir.path(), user).display()
    );
    assert!(toml.contains(&files), "certificate {name} has a files sink");
    toml.replace(&files, &kubernetes)
}

#[test]
fn a_secret_in_a_missing_namespace_or_denied_by_rbac_is_refused_before_ordering() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let fake = KubeFake::start(&["app"]);
    // `restricted` may read Secrets but not write them, and may not read namespaces (common
    // in real clusters): its namespace cannot be checked, the access review still answers.
    const RESTRICTED: &str = "system:serviceaccount:app:restricted";
    fake.deny(Some(RESTRICTED), "patch", "secrets");
    fake.deny(Some(RESTRICTED), "create", "secrets");
    fake.deny(Some(RESTRICTED), "get", "namespaces");
    let mut toml = Config::for_pebble(&dir, &pebble)
        .certificate("ok", &["ok.example.test", "www.ok.example.test"])
        .certificate("denied", &["denied.example.test"])
        .certificate("lost", &["lost.example.test"])
        .to_toml();
    for spec in [
        ("ok", "app", "ok-tls", USER),
        ("denied", "app", "denied-tls", RESTRICTED),
        ("lost", "gone", "lost-tls", USER),
    ] {
        toml = to_secret(&toml, &dir, &fake, spec);
    }
    dir.write_config(&toml);

    for attempt in 1..=2 {
        let run = dir.acmekeep(&["--issue"]);
        run.assert_exit(1);
        assert_line(
            &run,
            "denied",
            &[
                "FAILED",
                "not allowed to patch secrets \"denied-tls\" in namespace \"app\"",
                "resources: [\"secrets\"], resourceNames: [\"denied-tls\"], verbs: [\"patch\"]",
                "nothing was ordered",
            ],
        );
        assert_line(
            &run,
            "lost",
            &[
                "FAILED",
                "namespace \"gone\" does not exist",
                "\"lost-tls\"",
                "nothing was ordered",
            ],
        );
        assert_line(
            &run,
            "ok",
            &[if attempt == 1 {
                "issued"
            } else {
                "still valid"
            }],
        );
        assert_eq!(
            pebble.orders_and_issued(),
            (1, 1),
            "attempt {attempt}: only the certificate whose Secret can be written is ordered\n{run}"
        );
    }
    assert!(fake.secret("app", "denied-tls").is_none());
    assert_eq!(applies(&fake, "ok-tls"), 1);

    fake.allow_all();
    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1);
    assert_line(&run, "denied", &["issued"]);
    assert_line(&run, "lost", &["FAILED", "nothing was ordered"]);
    assert_eq!(pebble.orders_and_issued(), (2, 2), "{run}");

    fake.create_namespace("gone");
    let run = dir.acmekeep(&["--issue"]);
    run.assert_success();
    assert_line(&run, "lost", &["issued"]);
    assert_line(&run, "denied", &["still valid"]);
    assert_eq!(pebble.orders_and_issued(), (3, 3), "{run}");
    assert_eq!(applies(&fake, "denied-tls"), 1);
    assert_eq!(applies(&fake, "lost-tls"), 1);
}
