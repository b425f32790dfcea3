//! The Vault issuer against a real OpenBao dev server: signing through a role on an
//! intermediate CA, renewal, the refusals a user must understand (names, TTL, tokens,
//! policies), AppRole login with token renewal and re-login, Kubernetes login, and
//! namespaces.
//!
//! No Kubernetes API server can be had here: OpenBao's Kubernetes auth method is pointed at
//! a small local stand-in for the one call it makes, the TokenReview of the service-account
//! JWT (`POST /apis/authentication.k8s.io/v1/tokenreviews`).

use std::fs;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use acme_core::{IssueRequest, IssuedChain, Issuer, KeyType, build_csr};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2e::{OpenBao, SinkDir, TestDir};
use issuer_vault::{VaultIssuer, VaultIssuerConfig};
use serde_json::{Value, json};

/// The signing path of the harness's role on the intermediate mount.
const SIGN_PATH: &str = "pki_int/sign/example-test";

/// A policy that may sign with the harness's role, and renew its own token.
const SIGN_POLICY: &str = r#"
path "pki_int/sign/example-test" { capabilities = ["create", "update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
"#;

/// Builds an issuer named `vault` for `bao` from the JSON keys in `config` (`url` is added).
fn issuer(bao: &OpenBao, config: Value) -> VaultIssuer {
    let mut config = config;
    config["url"] = json!(bao.url());
    let config: VaultIssuerConfig = serde_json::from_value(config).expect("a valid config");
    VaultIssuer::new("vault".into(), config, "/nonexistent".as_ref()).expect("build the issuer")
}

/// A request for `names` with a fresh ECDSA P-256 key.
fn request(names: &[&str]) -> IssueRequest {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let key = KeyType::EcdsaP256.generate().expect("generate a key");
    IssueRequest {
        cert_name: "web".into(),
        csr_der: build_csr(&names, &key).expect("build a CSR"),
        names,
        solvers: Default::default(),
        replaces: None,
        cancel: Default::default(),
    }
}

/// Writes what the issuer returned as a files sink would, to check it with openssl.
fn deliver(dir: &TestDir, name: &str, issued: &IssuedChain) -> SinkDir {
    let path = dir.path().join("out").join(name);
    fs::create_dir_all(&path).expect("create the output directory");
    fs::write(path.join("cert.pem"), &issued.cert_pem).expect("write cert.pem");
    fs::write(path.join("chain.pem"), &issued.chain_pem).expect("write chain.pem");
    SinkDir::new(path)
}

/// The subject common names of the PEM certificates in `pem`, in order (via openssl).
fn common_names(dir: &TestDir, pem: &str) -> Vec<String> {
    let path = dir.path().join("certs-to-inspect.pem");
    fs::write(&path, pem).expect("write the certificates");
    let output = std::process::Command::new("openssl")
        .args(["crl2pkcs7", "-nocrl", "-certfile"])
        .arg(&path)
        .output()
        .expect("run openssl crl2pkcs7");
    let pkcs7 = dir.path().join("certs-to-inspect.p7");
    fs::write(&pkcs7, &output.stdout).expect("write the PKCS#7 bundle");
    let printed = std::process::Command::new("openssl")
        .args(["pkcs7", "-print_certs", "-noout", "-in"])
        .arg(&pkcs7)
        .output()
        .expect("run openssl pkcs7");
    String::from_utf8_lossy(&printed.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("subject="))
        .map(|subject| {
            subject
                .rsplit("CN = ")
                .next()
                .unwrap_or(subject)
                .trim()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn issues_a_leaf_whose_chain_verifies_against_the_root() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    bao.write_policy("sign", SIGN_POLICY);
    let token = bao.create_token(&["sign"], "1h");
    let issuer = issuer(&bao, json!({"path": SIGN_PATH, "token": token}));

    let issued = issuer
        .issue(&request(&["www.example.test", "example.test"]))
        .await
        .expect("Vault signs a request its role allows");

    let sink = deliver(&dir, "web", &issued);
    assert_eq!(sink.dns_names(), ["example.test", "www.example.test"]);
    sink.assert_chains_to(&bao.root_file());
    assert_eq!(
        common_names(&dir, &issued.chain_pem),
        ["acmekeep Test Intermediate"],
        "the chain holds the intermediate only, not the root"
    );
    let root = fs::read_to_string(bao.root_file()).expect("read the root");
    assert_eq!(
        issued.ca_pem.as_deref().map(str::trim),
        Some(root.trim()),
        "the CA to trust is the root at the top of Vault's ca_chain"
    );
}

#[tokio::test]
async fn renewing_gets_a_new_serial_with_the_configured_ttl() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let issuer = issuer(
        &bao,
        json!({"path": SIGN_PATH, "token": OpenBao::ROOT_TOKEN, "ttl": "24h"}),
    );

    let first = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("issue");
    let second = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("renew");

    let first = deliver(&dir, "first", &first);
    let second = deliver(&dir, "second", &second);
    assert_ne!(
        first.serial(),
        second.serial(),
        "a renewal is a new certificate"
    );
    let now = e2e::unix_seconds("now");
    let lifetime = second.not_after_unix() - now;
    assert!(
        (23 * 3600..=24 * 3600 + 60).contains(&lifetime),
        "ttl = \"24h\" must give a day of validity, got {lifetime} s"
    );
}

#[tokio::test]
async fn a_name_the_role_forbids_is_refused_naming_the_role_and_the_name() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let issuer = issuer(
        &bao,
        json!({"path": SIGN_PATH, "token": OpenBao::ROOT_TOKEN}),
    );

    let err = issuer
        .issue(&request(&["a.example.test", "b.other.test"]))
        .await
        .expect_err("the role allows example.test only");

    let message = err.to_string();
    assert!(message.starts_with("issuer vault: "), "{message}");
    assert!(
        message.contains(
            "role \"example-test\" of PKI mount pki_int does not allow [\"b.other.test\"]"
        ),
        "{message}"
    );
    assert!(message.contains("allowed_domains"), "{message}");
    assert!(
        message.contains("subject alternate name b.other.test not allowed by this role"),
        "Vault's own error is shown: {message}"
    );
}

#[tokio::test]
async fn a_ttl_above_the_roles_max_ttl_is_capped_not_refused() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let issuer = issuer(
        &bao,
        json!({"path": SIGN_PATH, "token": OpenBao::ROOT_TOKEN, "ttl": "30d"}),
    );

    let issued = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("Vault caps the TTL with a warning");

    let lifetime = deliver(&dir, "web", &issued).not_after_unix() - e2e::unix_seconds("now");
    let max = OpenBao::ROLE_MAX_TTL.as_secs() as i64;
    assert!(
        (max - 120..=max + 60).contains(&lifetime),
        "the certificate lives the role's max_ttl ({max} s), got {lifetime} s"
    );
}

#[tokio::test]
async fn a_ttl_the_ca_cannot_cover_is_refused_naming_the_role_and_the_ttl() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    bao.mount_pki("pki_short", None);
    bao.api(
        "POST",
        "pki_short/root/generate/internal",
        Some(json!({"common_name": "Short-lived Root", "ttl": "1h", "key_type": "ec"})),
        None,
    );
    bao.create_role("pki_short", "web", json!({}));
    let issuer = issuer(
        &bao,
        json!({"path": "pki_short/sign/web", "token": OpenBao::ROOT_TOKEN, "ttl": "24h"}),
    );

    let err = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("a day outlives the one-hour CA");

    let message = err.to_string();
    assert!(
        message.contains("role \"web\" of PKI mount pki_short refused the validity ttl = \"1day\""),
        "{message}"
    );
    assert!(
        message.contains("lower `ttl`") && message.contains("beyond the expiration of the CA"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unknown_token_is_reported_as_refused_without_showing_it() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let token_file = dir.path().join("vault-token");
    fs::write(&token_file, "s.NotAValidTokenAtAll\n").expect("write the token file");
    let reference = format!("file:{}", token_file.display());
    let issuer = issuer(&bao, json!({"path": SIGN_PATH, "token": reference}));

    let err = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("an unknown token is refused");

    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "Vault refused the token from `token` = {reference}"
        )),
        "{message}"
    );
    assert!(message.contains("unknown, expired or revoked"), "{message}");
    assert!(!message.contains("NotAValidTokenAtAll"), "{message}");
}

#[tokio::test]
async fn a_valid_token_without_the_sign_policy_is_told_which_policy_it_needs() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let token = bao.create_token(&["default"], "1h");
    let issuer = issuer(&bao, json!({"path": SIGN_PATH, "token": token}));

    let err = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("the default policy may not sign");

    let message = err.to_string();
    assert!(
        message.contains(
            "may not sign at pki_int/sign/example-test (HTTP 403: permission denied); its policy \
             needs `path \"pki_int/sign/example-test\" { capabilities = [\"create\", \"update\"] }`"
        ),
        "{message}"
    );
    assert!(!message.contains(&token), "{message}");
}

#[tokio::test]
async fn approle_login_renews_its_token_and_logs_in_again_when_it_is_gone() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    bao.write_policy("sign", SIGN_POLICY);
    // Six-second tokens: used as they are for four seconds, renewable until the fifth.
    let approle = bao.approle("acmekeep", &["sign"], "6s", "1h");
    let issuer = issuer(
        &bao,
        json!({"path": SIGN_PATH, "approle": {"role_id": approle.role_id,
               "secret_id": approle.secret_id}}),
    );
    let logins = || bao.requests_to("auth/approle/login", None);
    let renewals = || bao.requests_to("auth/token/renew-self", None);

    issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("first issue logs in");
    issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("second issue");
    assert_eq!((logins(), renewals()), (1, 0), "a fresh token is reused");

    tokio::time::sleep(Duration::from_millis(4300)).await;
    issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("issue past 2/3 of the TTL");
    assert_eq!(
        (logins(), renewals()),
        (1, 1),
        "the token is renewed, not replaced"
    );

    tokio::time::sleep(Duration::from_secs(7)).await;
    issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("issue after expiry");
    assert_eq!(
        (logins(), renewals()),
        (2, 1),
        "an expired token is replaced by a login"
    );

    // Revoked behind the issuer's back: the sign answers 403, the issuer logs in once more.
    bao.api(
        "POST",
        "sys/leases/revoke-prefix/auth/approle",
        Some(json!({})),
        None,
    );
    issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("issue after revocation");
    assert_eq!(
        logins(),
        3,
        "a refused login token is replaced by one more login"
    );
}

#[tokio::test]
async fn a_wrong_secret_id_fails_the_login_naming_the_keys_to_check() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let approle = bao.approle("acmekeep", &["default"], "1h", "1h");
    let issuer = issuer(
        &bao,
        json!({"path": SIGN_PATH, "approle": {"role_id": approle.role_id,
               "secret_id": "00000000-0000-0000-0000-000000000000"}}),
    );

    let err = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("a wrong secret id cannot log in");

    let message = err.to_string();
    assert!(
        message.contains(
            "AppRole login at auth/approle/login failed (HTTP 400: invalid role or secret ID)"
        ),
        "{message}"
    );
    assert!(message.contains("approle.secret_id"), "{message}");
}

#[tokio::test]
async fn the_namespace_header_signs_with_the_pki_mount_of_that_namespace() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    bao.create_namespace("team");
    bao.mount_pki("pki", Some("team"));
    bao.api(
        "POST",
        "pki/root/generate/internal",
        Some(json!({"common_name": "Team Root", "ttl": "8760h", "key_type": "ec"})),
        Some("team"),
    );
    bao.api(
        "POST",
        "pki/roles/web",
        Some(
            json!({"allowed_domains": ["team.example.test"], "allow_subdomains": true,
                    "require_cn": false, "key_type": "any"}),
        ),
        Some("team"),
    );
    let issuer = issuer(
        &bao,
        json!({"path": "pki/sign/web", "token": OpenBao::ROOT_TOKEN, "namespace": "team"}),
    );

    let issued = issuer
        .issue(&request(&["api.team.example.test"]))
        .await
        .expect("the namespace's role signs");

    assert_eq!(bao.requests_to("pki/sign/web", Some("team")), 1);
    let ca = issued.ca_pem.expect("the namespace's root");
    assert_eq!(common_names(&dir, &ca), ["Team Root"]);
    assert!(issued.chain_pem.is_empty(), "signed by the root directly");
}

#[tokio::test]
async fn a_vault_behind_a_private_ca_is_trusted_through_ca_bundle() {
    let dir = TestDir::new();
    let bao = OpenBao::start_tls(&dir);
    let without = issuer(
        &bao,
        json!({"path": SIGN_PATH, "token": OpenBao::ROOT_TOKEN}),
    );
    let message = without
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("the system roots do not know OpenBao's dev CA")
        .to_string();
    assert!(
        message.contains(&format!(
            "cannot reach Vault at {}/v1/{SIGN_PATH}",
            bao.url()
        )) && message.to_lowercase().contains("certificate"),
        "{message}"
    );

    let with = issuer(
        &bao,
        json!({"path": SIGN_PATH, "token": OpenBao::ROOT_TOKEN,
               "ca_bundle": bao.tls_ca_file()}),
    );
    with.issue(&request(&["a.example.test"]))
        .await
        .expect("trusting the dev CA, the request goes through");
}

#[tokio::test]
async fn an_unknown_role_points_at_the_path_key() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    let issuer = issuer(
        &bao,
        json!({"path": "pki_int/sign/no-such-role", "token": OpenBao::ROOT_TOKEN}),
    );

    let err = issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("no such role");

    let message = err.to_string();
    assert!(
        message.contains(
            "POST pki_int/sign/no-such-role: HTTP 400: unknown role: no-such-role; check `path`"
        ),
        "{message}"
    );
}

/// The service account the Kubernetes login presents: namespace, name, uid.
const SERVICE_ACCOUNT: (&str, &str, &str) =
    ("certs", "acmekeep", "5e1f8a52-7d0c-4c55-9b1e-0c6f1d2e3a4b");

/// A service-account JWT as the kubelet mounts it (OpenBao reads its claims; the signature
/// is the TokenReview's business).
fn service_account_jwt() -> String {
    let (namespace, name, uid) = SERVICE_ACCOUNT;
    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "kid": "test"})),
        part(json!({
            "iss": "kubernetes/serviceaccount",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
        })),
        URL_SAFE_NO_PAD.encode(b"not checked here"),
    )
}

/// A stand-in for the Kubernetes API's TokenReview: `jwt` is authenticated as
/// [`SERVICE_ACCOUNT`], anything else is not. Returns its address and the review count.
async fn token_review_stand_in(jwt: String) -> (SocketAddr, Arc<AtomicUsize>) {
    let reviews = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the TokenReview stand-in");
    let addr = listener.local_addr().expect("its address");
    let review = |State((jwt, reviews)): State<(String, Arc<AtomicUsize>)>, body: String| async move {
        reviews.fetch_add(1, Ordering::SeqCst);
        let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let (namespace, name, uid) = SERVICE_ACCOUNT;
        let status = if request["spec"]["token"] == jwt.as_str() {
            json!({"authenticated": true, "user": {
                "username": format!("system:serviceaccount:{namespace}:{name}"), "uid": uid}})
        } else {
            json!({"authenticated": false, "error": "invalid bearer token"})
        };
        (
            [("content-type", "application/json")],
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                   "status": status})
            .to_string(),
        )
    };
    let app = Router::new()
        .route("/apis/authentication.k8s.io/v1/tokenreviews", post(review))
        .with_state((jwt, reviews.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, reviews)
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_login_presents_the_service_account_jwt_from_its_file() {
    let dir = TestDir::new();
    let bao = OpenBao::start(&dir);
    bao.write_policy("sign", SIGN_POLICY);
    let jwt = service_account_jwt();
    let (kubernetes_api, reviews) = token_review_stand_in(jwt.clone()).await;
    let ca = fs::read_to_string(bao.root_file()).expect("any CA certificate will do");
    bao.api(
        "POST",
        "sys/auth/kubernetes",
        Some(json!({"type": "kubernetes"})),
        None,
    );
    bao.api(
        "POST",
        "auth/kubernetes/config",
        Some(
            json!({"kubernetes_host": format!("http://{kubernetes_api}"),
                    "kubernetes_ca_cert": ca, "disable_local_ca_jwt": true,
                    "token_reviewer_jwt": "reviewer"}),
        ),
        None,
    );
    let (namespace, name, _) = SERVICE_ACCOUNT;
    bao.api(
        "POST",
        "auth/kubernetes/role/acmekeep",
        Some(json!({"bound_service_account_names": [name],
                    "bound_service_account_namespaces": [namespace],
                    "token_policies": ["sign"], "token_ttl": "1h"})),
        None,
    );
    let jwt_file = dir.path().join("serviceaccount-token");
    fs::write(&jwt_file, &jwt).expect("write the service-account token");
    let issuer = issuer_with_kubernetes_role(&bao, &jwt_file, "acmekeep");

    issuer
        .issue(&request(&["a.example.test"]))
        .await
        .expect("the service account logs in and signs");
    assert_eq!(bao.requests_to("auth/kubernetes/login", None), 1);
    assert_eq!(
        reviews.load(Ordering::SeqCst),
        1,
        "OpenBao reviewed the JWT"
    );

    let wrong_role = issuer_with_kubernetes_role(&bao, &jwt_file, "no-such-role");
    let message = wrong_role
        .issue(&request(&["a.example.test"]))
        .await
        .expect_err("an unknown role cannot log in")
        .to_string();
    assert!(
        message.contains("Kubernetes login at auth/kubernetes/login failed")
            && message.contains("kubernetes.role"),
        "{message}"
    );
    assert!(!message.contains(&jwt), "{message}");
}

/// An issuer logging in with Kubernetes role `role` and the JWT in `jwt_file`.
fn issuer_with_kubernetes_role(
    bao: &OpenBao,
    jwt_file: &std::path::Path,
    role: &str,
) -> VaultIssuer {
    issuer(
        bao,
        json!({"path": SIGN_PATH, "kubernetes": {"role": role,
               "jwt": format!("file:{}", jwt_file.display())}}),
    )
}
