//! How acmekeep finds the Kubernetes API server, like every Kubernetes tool: `$KUBECONFIG`,
//! else `~/.kube/config`, else the in-cluster service account; `cluster.kubeconfig` and
//! `cluster.context` override. The sink, the Lease elector and `inspect --secret` share it.
//! Runs the real binary against the fake API server ([`e2e::KubeFake`]) with a local CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e::{KubeFake, TestDir, free_port};

const USER: &str = "system:serviceaccount:app:acmekeep";

/// Writes a config with certificates `web` and `api` delivered to Secrets `web-tls` and
/// `api-tls` in namespace `app`, each sink with `cluster` (a TOML inline table, or nothing);
/// with `lease`, the replica campaigns for Lease `app/acmekeep` under that identity.
fn write_config(dir: &TestDir, cluster: Option<&str>, lease: Option<&str>) {
    let cluster = cluster.map_or(String::new(), |c| format!(", cluster = {c}"));
    let election = lease.map_or(String::new(), |identity| {
        format!(
            "\n[daemon.leader_election]\nnamespace = \"app\"\nidentity = \"{identity}\"\n\
             lease_duration = \"4s\"\nrenew_deadline = \"3s\"\nretry_period = \"500ms\"\n"
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
sinks = [{{ kind = "kubernetes", namespace = "app", secret = "web-tls"{cluster} }}]

[certificates.api]
domains = ["api.example.test"]
issuer = "internal"
sinks = [{{ kind = "kubernetes", namespace = "app", secret = "api-tls"{cluster} }}]
"#,
        state = dir.state_dir().display(),
        port = free_port(),
    );
    dir.write_config(&toml);
}

/// A directory of its own inside `dir`, to serve as `$HOME`.
fn home(dir: &TestDir, name: &str) -> PathBuf {
    let home = dir.path().join(name);
    std::fs::create_dir_all(&home).expect("create the home directory");
    home
}

/// Writes a kubeconfig for the fake into `dir/config` (a path without `:`, which would split
/// `$KUBECONFIG` in two) and returns its path.
fn kubeconfig_in(fake: &KubeFake, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the kubeconfig directory");
    let path = dir.join("config");
    std::fs::rename(fake.kubeconfig(dir, USER), &path).expect("rename the kubeconfig");
    path
}

/// Runs without any of the variables that would point acmekeep at a cluster, outside a pod.
fn outside_a_pod(dir: &TestDir, home: &Path) {
    dir.remove_env("KUBECONFIG");
    dir.remove_env("KUBERNETES_SERVICE_HOST");
    dir.remove_env("KUBERNETES_SERVICE_PORT");
    dir.set_env("HOME", home);
}

#[test]
fn the_kubeconfig_variable_reaches_the_sink_inspect_and_the_lease_elector() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let kubeconfig = kubeconfig_in(&fake, &dir.path().join("kube"));
    outside_a_pod(&dir, &home(&dir, "home"));
    dir.set_env("KUBECONFIG", &kubeconfig);
    write_config(&dir, None, None);

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    assert!(fake.secret("app", "web-tls").is_some());
    assert!(fake.secret("app", "api-tls").is_some());
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("0 issued, 2 still valid, 0 failed");

    dir.acmekeep(&["inspect", "--secret", "app/web-tls"])
        .assert_stdout_contains("kubernetes:app/web-tls")
        .assert_stdout_contains("web.example.test");

    write_config(&dir, None, Some("replica-a"));
    let daemon = dir.spawn_daemon();
    daemon.wait_for("became the leader", 1, Duration::from_secs(30));
    let lease = fake.lease("app", "acmekeep").expect("the Lease");
    assert_eq!(lease["spec"]["holderIdentity"], "replica-a");
    assert!(daemon.stop().success(), "the daemon stops cleanly");
}

#[test]
fn the_home_kube_config_is_used_when_the_variable_is_unset() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let home = home(&dir, "home");
    kubeconfig_in(&fake, &home.join(".kube"));
    outside_a_pod(&dir, &home);
    write_config(&dir, None, None);

    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    assert!(fake.secret("app", "web-tls").is_some());
    assert!(fake.secret("app", "api-tls").is_some());
    dir.acmekeep(&["inspect", "--secret", "app/api-tls"])
        .assert_stdout_contains("api.example.test");
}

#[test]
fn cluster_kubeconfig_and_context_override_the_inferred_configuration() {
    let good = KubeFake::start(&["app"]);
    let other = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let good_config = kubeconfig_in(&good, &dir.path().join("good"));
    outside_a_pod(&dir, &home(&dir, "home"));
    dir.set_env(
        "KUBECONFIG",
        kubeconfig_in(&other, &dir.path().join("other")),
    );

    // An explicit file wins over $KUBECONFIG.
    let cluster = format!("{{ kubeconfig = \"{}\" }}", good_config.display());
    write_config(&dir, Some(&cluster), None);
    dir.acmekeep(&["--issue"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    assert!(good.secret("app", "web-tls").is_some());
    assert!(other.secret("app", "web-tls").is_none());

    // A context alone picks that context of the inferred kubeconfig.
    write_config(&dir, Some("{ context = \"fake\" }"), None);
    dir.acmekeep(&["--issue", "--force"])
        .assert_success()
        .assert_stdout_contains("2 issued, 0 still valid, 0 failed");
    assert!(other.secret("app", "web-tls").is_some());

    // A context the inferred kubeconfig does not have is named.
    write_config(&dir, Some("{ context = \"prod\" }"), None);
    let run = dir.acmekeep(&["--issue", "--force"]);
    run.assert_exit(1);
    assert!(run.line_for("web").contains("prod"), "{run}");
}

#[test]
fn without_any_kubeconfig_outside_a_pod_the_error_names_every_place_looked_at() {
    let dir = TestDir::new();
    outside_a_pod(&dir, &home(&dir, "home"));
    write_config(&dir, None, None);

    let run = dir.acmekeep(&["--issue"]);
    run.assert_exit(1);
    let line = run.line_for("web");
    for place in [
        "KUBECONFIG",
        "~/.kube/config",
        "in-cluster",
        "cluster.kubeconfig",
    ] {
        assert!(
            line.contains(place),
            "the error must mention {place}\n{run}"
        );
    }
}
