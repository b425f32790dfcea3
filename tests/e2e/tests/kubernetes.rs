//! The Kubernetes sink and leader election, at library level, against the fake API server
//! ([`e2e::KubeFake`]): no real API server can be installed on the test machines.

use std::time::{Duration, Instant};

use acme_core::{Bundle, KeyType, PrivateKeyPem, Sink};
use base64::Engine;
use e2e::{KubeFake, TestDir};
use leader_election::{Elector, LeaderElectionConfig, Leadership};
use serde_json::{Value, json};
use sink_kubernetes::{ClusterConfig, KubernetesSink, KubernetesSinkConfig, SecretMeta};

const USER: &str = "system:serviceaccount:app:acmekeep";

/// A self-signed leaf for `name`, a stand-in intermediate, and optionally a CA.
fn bundle(name: &str, with_ca: bool) -> Bundle {
    let pem = |names: Vec<String>| {
        let key = KeyType::EcdsaP256.generate().expect("key");
        let cert = rcgen::CertificateParams::new(names)
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        (cert.pem(), key)
    };
    let (cert_pem, key) = pem(vec![name.to_string()]);
    let (chain_pem, _) = pem(vec!["intermediate.example.test".to_string()]);
    Bundle {
        cert_pem,
        chain_pem,
        key: PrivateKeyPem::from_key_pair(&key).expect("key PEM"),
        ca_pem: with_ca.then(|| pem(vec!["ca.example.test".to_string()]).0),
    }
}

fn meta() -> SecretMeta {
    SecretMeta {
        cert_name: "web".into(),
        names: vec!["web.example.test".into(), "www.example.test".into()],
        issuer: "letsencrypt".into(),
    }
}

fn sink_config(fake: &KubeFake, dir: &TestDir, namespace: &str) -> KubernetesSinkConfig {
    KubernetesSinkConfig {
        cluster: ClusterConfig::kubeconfig(fake.kubeconfig(dir.path(), USER)),
        ..KubernetesSinkConfig::new(namespace, "web-tls")
    }
}

fn sink(fake: &KubeFake, dir: &TestDir) -> KubernetesSink {
    KubernetesSink::new(sink_config(fake, dir, "app"), meta()).expect("sink")
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret.pointer(&format!("/data/{}", key.replace('/', "~1")))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().expect("base64 string"))
        .expect("valid base64");
    Some(String::from_utf8(bytes).expect("UTF-8"))
}

fn managers(secret: &Value) -> Vec<String> {
    secret["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|entry| entry["manager"].as_str().expect("manager").to_string())
        .collect()
}

fn foreign_secret(kind: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "web-tls", "namespace": "app", "labels": {"team": "web"}},
        "type": kind,
        "data": {"tls.crt": "Zm9yZWlnbg==", "tls.key": "Zm9yZWlnbg=="}
    })
}

#[tokio::test]
async fn the_first_store_creates_a_tls_secret_with_keys_labels_and_annotations() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let mut config = sink_config(&fake, &dir, "app");
    config.labels.insert("team".into(), "web".into());
    config.annotations.insert("owner".into(), "platform".into());
    let sink = KubernetesSink::new(config, meta()).expect("sink");
    let bundle = bundle("web.example.test", true);

    sink.store(&bundle).await.expect("store");

    let secret = fake.secret("app", "web-tls").expect("the Secret exists");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(data(&secret, "tls.crt"), Some(bundle.fullchain_pem()));
    assert_eq!(
        data(&secret, "tls.key").as_deref(),
        Some(bundle.key.expose())
    );
    assert_eq!(data(&secret, "ca.crt"), bundle.ca_pem);
    let labels = &secret["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/managed-by"], "acmekeep");
    assert_eq!(labels["team"], "web");
    let annotations = &secret["metadata"]["annotations"];
    assert_eq!(annotations["acmekeep.io/certificate-name"], "web");
    assert_eq!(annotations["acmekeep.io/common-name"], "web.example.test");
    assert_eq!(
        annotations["acmekeep.io/alt-names"],
        "web.example.test,www.example.test"
    );
    assert_eq!(annotations["acmekeep.io/issuer-name"], "letsencrypt");
    assert_eq!(annotations["owner"], "platform");
    assert_eq!(managers(&secret), ["acmekeep"]);
    assert_eq!(secret["metadata"]["managedFields"][0]["operation"], "Apply");
    let apply = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("an apply request");
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert!(apply.query.contains("fieldManager=acmekeep"), "{apply:?}");
    assert!(
        !apply.query.contains("force=true"),
        "creating must not force: {apply:?}"
    );
    assert_eq!(apply.status, 201);
}

#[tokio::test]
async fn a_second_store_updates_the_secret_and_drops_a_ca_the_issuer_no_longer_names() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let sink = sink(&fake, &dir);
    sink.store(&bundle("web.example.test", true))
        .await
        .expect("first store");
    let first = fake.secret("app", "web-tls").expect("first version");
    let renewed = bundle("web.example.test", false);

    sink.store(&renewed).await.expect("second store");

    let second = fake.secret("app", "web-tls").expect("second version");
    assert_ne!(
        first["metadata"]["resourceVersion"],
        second["metadata"]["resourceVersion"]
    );
    assert_eq!(first["metadata"]["uid"], second["metadata"]["uid"]);
    assert_eq!(data(&second, "tls.crt"), Some(renewed.fullchain_pem()));
    assert_eq!(
        data(&second, "tls.key").as_deref(),
        Some(renewed.key.expose())
    );
    assert_eq!(data(&second, "ca.crt"), None);
    let last = fake.requests().into_iter().last().expect("requests");
    assert!(
        last.method == "PATCH" && last.query.contains("force=true"),
        "{last:?}"
    );
}

#[tokio::test]
async fn load_returns_what_was_stored_even_through_a_new_sink_and_none_when_absent() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    assert_eq!(sink(&fake, &dir).load().await.expect("load"), None);
    let stored = bundle("web.example.test", true);
    sink(&fake, &dir).store(&stored).await.expect("store");

    let restarted = sink(&fake, &dir);
    let loaded = restarted.load().await.expect("load").expect("deployed");

    assert_eq!(loaded, stored);
}

#[tokio::test]
async fn a_foreign_secret_is_left_alone_with_an_error_that_says_how_to_proceed() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.create_secret("kubectl-create", foreign_secret("kubernetes.io/tls"));
    let before = fake.secret("app", "web-tls").expect("planted");
    let sink = sink(&fake, &dir);

    let err = sink
        .store(&bundle("web.example.test", false))
        .await
        .expect_err("foreign Secret");

    let text = err.to_string();
    assert!(
        text.contains("Secret app/web-tls exists and was not created by acmekeep"),
        "{text}"
    );
    assert!(text.contains("kubectl-create"), "{text}");
    assert!(text.contains("adopt = true"), "{text}");
    assert_eq!(fake.secret("app", "web-tls"), Some(before));
    assert!(fake.requests().iter().all(|r| r.method == "GET"));
    let err = sink.load().await.expect_err("load refuses it too");
    assert!(err.to_string().contains("not created by acmekeep"), "{err}");
}

#[tokio::test]
async fn with_adopt_a_foreign_secret_is_taken_over() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.create_secret("kubectl-create", foreign_secret("kubernetes.io/tls"));
    let mut config = sink_config(&fake, &dir, "app");
    config.adopt = true;
    let sink = KubernetesSink::new(config, meta()).expect("sink");
    let bundle = bundle("web.example.test", false);

    sink.store(&bundle).await.expect("store adopts");

    let secret = fake.secret("app", "web-tls").expect("secret");
    assert_eq!(data(&secret, "tls.crt"), Some(bundle.fullchain_pem()));
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "acmekeep"
    );
    assert_eq!(
        secret["metadata"]["labels"]["team"], "web",
        "others' fields stay"
    );
    assert_eq!(sink.load().await.expect("load"), Some(bundle));
}

#[tokio::test]
async fn an_edit_by_another_manager_is_overwritten_by_the_next_store() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let sink = sink(&fake, &dir);
    sink.store(&bundle("web.example.test", false))
        .await
        .expect("first store");
    let renewed = bundle("web.example.test", false);
    // What `kubectl edit` does: a PUT that changes tls.crt, owned from then on by kubectl.
    let mut edited = fake.secret("app", "web-tls").expect("secret");
    edited["data"]["tls.crt"] = json!("ZWRpdGVk");
    assert_eq!(fake.replace_secret("kubectl-edit", edited), 200);
    let secret = fake.secret("app", "web-tls").expect("secret");
    assert!(managers(&secret).contains(&"kubectl-edit".to_string()));

    sink.store(&renewed)
        .await
        .expect("store takes its field back");

    let secret = fake.secret("app", "web-tls").expect("secret");
    assert_eq!(data(&secret, "tls.crt"), Some(renewed.fullchain_pem()));
}

#[tokio::test]
async fn a_secret_of_another_type_is_an_error_naming_it_and_its_type() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.create_secret("kubectl-create", foreign_secret("Opaque"));
    let mut config = sink_config(&fake, &dir, "app");
    config.adopt = true;
    let sink = KubernetesSink::new(config, meta()).expect("sink");

    let err = sink
        .store(&bundle("web.example.test", false))
        .await
        .expect_err("wrong type");

    let text = err.to_string();
    assert!(
        text.contains("Secret app/web-tls has type \"Opaque\""),
        "{text}"
    );
    assert!(text.contains("cannot be changed"), "{text}");
}

#[tokio::test]
async fn an_rbac_denial_names_the_verb_the_secret_and_the_role_rule_to_add() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.deny(None, "patch", "secrets");
    let sink = sink(&fake, &dir);

    let err = sink
        .store(&bundle("web.example.test", false))
        .await
        .expect_err("forbidden");

    let text = err.to_string();
    assert!(
        text.contains("not allowed to patch secrets \"web-tls\" in namespace \"app\""),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "User \"{USER}\" cannot patch resource \"secrets\""
        )),
        "{text}"
    );
    assert!(
        text.contains("{apiGroups: [\"\"], resources: [\"secrets\"], resourceNames: [\"web-tls\"], verbs: [\"patch\"]}"),
        "{text}"
    );
    assert_eq!(
        fake.requests().iter().filter(|r| r.status == 403).count(),
        1,
        "a denial is not retried"
    );
}

#[tokio::test]
async fn creating_the_secret_needs_create_which_cannot_be_limited_by_name() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.deny(None, "create", "secrets");

    let err = sink(&fake, &dir)
        .store(&bundle("web.example.test", false))
        .await
        .expect_err("forbidden");

    let text = err.to_string();
    assert!(
        text.contains("{apiGroups: [\"\"], resources: [\"secrets\"], verbs: [\"create\"]}"),
        "{text}"
    );
}

#[tokio::test]
async fn a_missing_namespace_is_named_as_such() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let sink = KubernetesSink::new(sink_config(&fake, &dir, "ap"), meta()).expect("sink");

    assert_eq!(sink.load().await.expect("absent"), None);
    let err = sink
        .store(&bundle("web.example.test", false))
        .await
        .expect_err("no namespace");

    let text = err.to_string();
    assert!(text.contains("namespace \"ap\" does not exist"), "{text}");
}

/// The requests that would write the Secret (create, apply, replace).
fn writes(fake: &KubeFake) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.contains("/secrets") && r.method != "GET")
        .count()
}

#[tokio::test]
async fn preflight_names_a_missing_namespace_without_writing() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let sink = KubernetesSink::new(sink_config(&fake, &dir, "ap"), meta()).expect("sink");

    let text = sink
        .preflight()
        .await
        .expect_err("no namespace")
        .to_string();

    assert!(text.contains("namespace \"ap\" does not exist"), "{text}");
    assert!(text.contains("\"web-tls\""), "{text}");
    assert_eq!(writes(&fake), 0);
}

#[tokio::test]
async fn preflight_names_each_denied_write_with_the_role_rule_to_add() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.deny(None, "patch", "secrets");
    let text = sink(&fake, &dir)
        .preflight()
        .await
        .expect_err("patch denied")
        .to_string();
    assert!(
        text.contains("not allowed to patch secrets \"web-tls\" in namespace \"app\""),
        "{text}"
    );
    assert!(
        text.contains("{apiGroups: [\"\"], resources: [\"secrets\"], resourceNames: [\"web-tls\"], verbs: [\"patch\"]}"),
        "{text}"
    );

    // A Secret that does not exist yet is created by the apply: that needs `create`, which
    // cannot be limited by name.
    fake.allow_all();
    fake.deny(None, "create", "secrets");
    let text = sink(&fake, &dir)
        .preflight()
        .await
        .expect_err("create denied")
        .to_string();
    assert!(
        text.contains("{apiGroups: [\"\"], resources: [\"secrets\"], verbs: [\"create\"]}"),
        "{text}"
    );
    assert_eq!(writes(&fake), 0, "a preflight writes nothing");
}

#[tokio::test]
async fn preflight_does_not_ask_for_create_once_the_secret_exists() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let sink = sink(&fake, &dir);
    sink.store(&bundle("web.example.test", false))
        .await
        .expect("store");
    fake.deny(None, "create", "secrets");

    sink.preflight().await.expect("get and patch are allowed");
}

#[tokio::test]
async fn preflight_relies_on_the_access_review_where_namespaces_cannot_be_read() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.deny(None, "get", "namespaces");

    sink(&fake, &dir)
        .preflight()
        .await
        .expect("a namespace that cannot be read is not missing");

    fake.deny(None, "patch", "secrets");
    let text = sink(&fake, &dir)
        .preflight()
        .await
        .expect_err("patch denied")
        .to_string();
    assert!(text.contains("not allowed to patch"), "{text}");
    let reviews = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .count();
    assert!(reviews >= 2, "each preflight asked the access review");
}

#[tokio::test]
async fn preflight_without_access_reviews_still_checks_the_namespace() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    fake.deny(None, "create", "selfsubjectaccessreviews");

    sink(&fake, &dir)
        .preflight()
        .await
        .expect("RBAC cannot be asked: the store will tell");
    let text = KubernetesSink::new(sink_config(&fake, &dir, "ap"), meta())
        .expect("sink")
        .preflight()
        .await
        .expect_err("no namespace")
        .to_string();
    assert!(text.contains("namespace \"ap\" does not exist"), "{text}");
}

#[tokio::test]
async fn an_unreachable_api_server_is_retried_then_named_by_url() {
    let dir = TestDir::new();
    let fake = KubeFake::start(&["app"]);
    let config = sink_config(&fake, &dir, "app");
    let url = fake.url();
    drop(fake);
    let sink = KubernetesSink::new(config, meta()).expect("sink");

    let err = sink.load().await.expect_err("unreachable");

    let text = err.to_string();
    assert!(
        text.contains(&format!("cannot reach the API server at {url}")),
        "{text}"
    );
    assert!(text.contains("3 attempts"), "{text}");
}

fn elector(fake: &KubeFake, dir: &TestDir, who: &str, lease: &str) -> Leadership {
    let config = LeaderElectionConfig {
        lease_duration: Duration::from_millis(lease.parse::<u64>().expect("ms")),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
        identity: Some(who.to_string()),
        cluster: ClusterConfig::kubeconfig(fake.kubeconfig(dir.path(), who)),
        ..LeaderElectionConfig::new("app")
    };
    Elector::new(config).expect("elector").start()
}

/// Polls until `done` holds, returning when it first did.
async fn until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) -> Instant {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Instant::now()
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_electors_exactly_one_leads_and_the_other_takes_over_at_once_on_release() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let a = elector(&fake, &dir, "replica-a", "5000");
    let b = elector(&fake, &dir, "replica-b", "5000");

    until(Duration::from_secs(5), "one leads", || {
        a.is_leader() || b.is_leader()
    })
    .await;
    for _ in 0..10 {
        assert!(a.is_leader() != b.is_leader(), "exactly one leads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (leader, follower) = if a.is_leader() { (a, b) } else { (b, a) };
    let lease = fake.lease("app", "acmekeep").expect("the Lease exists");
    assert!(
        lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| h.starts_with("replica-"))
    );

    let released = Instant::now();
    leader.shutdown().await;
    let took_over = until(Duration::from_secs(5), "the other leads", || {
        follower.is_leader()
    })
    .await;

    assert!(
        took_over - released < Duration::from_secs(2),
        "a released Lease is taken at the next try, not after the 5s lease: {:?}",
        took_over - released
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_leader_is_replaced_only_after_the_lease_duration() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let a = elector(&fake, &dir, "replica-a", "2000");
    until(Duration::from_secs(5), "a leads", || a.is_leader()).await;
    let b = elector(&fake, &dir, "replica-b", "2000");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.is_leader(), "b waits while a renews");

    let killed = Instant::now();
    drop(a);
    let took_over = until(Duration::from_secs(6), "b leads", || b.is_leader()).await;

    let waited = took_over - killed;
    assert!(
        waited >= Duration::from_millis(1700),
        "b must wait out the 2s lease (less one retry period): {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_that_cannot_renew_steps_down_before_another_can_take_over() {
    let fake = KubeFake::start(&["app"]);
    let dir = TestDir::new();
    let mut a = elector(&fake, &dir, "replica-a", "2000");
    until(Duration::from_secs(5), "a leads", || a.is_leader()).await;
    let term = a.acquired().await.expect("a's term");
    let b = elector(&fake, &dir, "replica-b", "2000");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let denied = Instant::now();
    fake.deny(Some("replica-a"), "update", "leases");
    let stepped_down = until(Duration::from_secs(3), "a steps down", || !a.is_leader()).await;
    let took_over = until(Duration::from_secs(6), "b leads", || b.is_leader()).await;

    assert!(term.is_cancelled(), "the term token fires on step-down");
    assert!(
        stepped_down - denied <= Duration::from_millis(1300),
        "a steps down within renew_deadline of its last renewal: {:?}",
        stepped_down - denied
    );
    assert!(
        took_over - stepped_down >= Duration::from_millis(500),
        "b starts only after a has stopped, with the lease_duration - renew_deadline margin: {:?}",
        took_over - stepped_down
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.user == "replica-a" && r.status == 403)
    );
}
