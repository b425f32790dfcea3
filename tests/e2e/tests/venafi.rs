//! The Venafi issuer against a local fake of the TPP REST API (tests/e2e/src/venafi_fake.rs),
//! not a real TPP: requests into a zone, token and password authentication, pending
//! approvals picked up with the same key, and the errors an operator sees.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use acme_core::{CertInfo, IssueRequest, IssuedChain, Issuer, KeyType, PrivateKeyPem, build_csr};
use e2e::{VENAFI_ZONE, VenafiFake};
use issuer_venafi::{VenafiConfig, VenafiIssuer};
use serde_json::{Value, json};

const ISSUER: &str = "corp";
const CERT: &str = "api";
const NAMES: [&str; 2] = ["api.example.test", "www.api.example.test"];

/// A configuration for the fake: `url` and `zone` plus `auth` (and any other keys).
fn config(fake: &VenafiFake, extra: Value) -> VenafiConfig {
    let mut config = json!({"url": fake.url(), "zone": VENAFI_ZONE});
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    serde_json::from_value(config).expect("a valid Venafi configuration")
}

fn issuer(config: VenafiConfig, state_dir: &Path) -> VenafiIssuer {
    VenafiIssuer::new(ISSUER.into(), config, state_dir).expect("a valid Venafi issuer")
}

/// A request for [`NAMES`] with a fresh CSR of `key` (ECDSA: a new signature every time).
fn request(key: &PrivateKeyPem) -> IssueRequest {
    let names: Vec<String> = NAMES.iter().map(|n| n.to_string()).collect();
    IssueRequest {
        cert_name: CERT.into(),
        csr_der: build_csr(&names, &key.key_pair().expect("the key pair")).expect("build a CSR"),
        names,
        solvers: Default::default(),
        replaces: None,
        cancel: Default::default(),
    }
}

fn new_key() -> PrivateKeyPem {
    let key = KeyType::EcdsaP256.generate().expect("generate a key");
    PrivateKeyPem::from_key_pair(&key).expect("the key as PEM")
}

fn pending_record(state_dir: &Path) -> std::path::PathBuf {
    state_dir
        .join("venafi")
        .join(ISSUER)
        .join(format!("{CERT}.json"))
}

/// Asserts what every issued chain must be: the leaf for `key` and the names, verifying
/// through the chain to the fake's root, which comes back as the CA to trust.
fn assert_issued(fake: &VenafiFake, issued: &IssuedChain, key: &PrivateKeyPem) {
    let leaf = CertInfo::from_pem(&issued.cert_pem).expect("a leaf certificate");
    assert!(leaf.matches_key(key), "the leaf carries another key");
    assert!(
        leaf.covers_exactly(&NAMES.map(String::from)),
        "{:?}",
        leaf.names
    );
    assert!(!issued.chain_pem.is_empty(), "no intermediate in the chain");
    fake.verify(&issued.cert_pem, &issued.chain_pem)
        .expect("the leaf verifies against the fake's root");
    let root = std::fs::read_to_string(fake.root_cert()).expect("read the fake's root");
    let ca = issued
        .ca_pem
        .as_deref()
        .expect("the root comes back as ca_pem");
    assert_eq!(
        CertInfo::from_pem(ca).expect("ca_pem").public_key_der,
        CertInfo::from_pem(&root).expect("root").public_key_der
    );
}

fn assert_no_secrets(message: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!message.contains(secret), "a secret leaked into: {message}");
    }
}

#[tokio::test]
async fn issues_into_the_zone_with_custom_fields_and_returns_the_chain() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(
        config(
            &fake,
            json!({
                "access_token": access,
                "custom_fields": [
                    {"name": "Cost Center", "values": ["CC-1042"]},
                    {"name": "Owners", "values": ["web", "platform"]},
                ],
            }),
        ),
        state.path(),
    );
    let key = new_key();

    let issued = issuer.issue(&request(&key)).await.expect("issued");

    assert_issued(&fake, &issued, &key);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.policy_dn, VENAFI_ZONE);
    assert_eq!(sent.object_name, CERT);
    assert!(sent.disable_automatic_renewal);
    assert!(
        sent.pkcs10
            .starts_with("-----BEGIN CERTIFICATE REQUEST-----")
    );
    assert_eq!(
        sent.custom_fields,
        json!([
            {"Name": "Cost Center", "Values": ["CC-1042"]},
            {"Name": "Owners", "Values": ["web", "platform"]},
        ])
    );
    assert!(
        !pending_record(state.path()).exists(),
        "the record outlived the issuance"
    );
}

#[tokio::test]
async fn a_slow_issuance_is_polled_until_the_certificate_is_ready() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    fake.processing_polls(2);
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(config(&fake, json!({"access_token": access})), state.path());
    let key = new_key();

    let issued = issuer
        .issue(&request(&key))
        .await
        .expect("issued after polling");

    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn username_and_password_get_a_token_and_a_short_zone_is_completed() {
    let fake = VenafiFake::start();
    fake.add_user("svc-acme", "correct horse");
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(
        config(
            &fake,
            json!({"zone": "Web", "username": "svc-acme", "password": "correct horse"}),
        ),
        state.path(),
    );
    let key = new_key();

    let issued = issuer.issue(&request(&key)).await.expect("issued");

    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.requests()[0].policy_dn, VENAFI_ZONE);
}

#[tokio::test]
async fn a_wrong_password_names_the_user_and_what_to_check_but_not_the_password() {
    let fake = VenafiFake::start();
    fake.add_user("svc-acme", "correct horse");
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(
        config(
            &fake,
            json!({"username": "svc-acme", "password": "battery staple"}),
        ),
        state.path(),
    );

    let err = issuer
        .issue(&request(&new_key()))
        .await
        .expect_err("refused")
        .to_string();

    assert!(err.contains("log in as svc-acme"), "{err}");
    assert!(
        err.contains("Username/password combination not valid"),
        "{err}"
    );
    assert!(err.contains("certificate:manage"), "{err}");
    assert_no_secrets(&err, &["battery staple"]);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_new_pair_survives_a_restart() {
    let fake = VenafiFake::start();
    let (access, refresh) = fake.issue_tokens();
    let state = tempfile::tempdir().expect("state dir");
    let settings = json!({"access_token": access, "refresh_token": refresh});
    fake.expire_access_tokens();

    let key = new_key();
    let issued = issuer(config(&fake, settings.clone()), state.path())
        .issue(&request(&key))
        .await
        .expect("issued after a refresh");
    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.refreshes(), 1);
    let token_file = state.path().join("venafi").join(ISSUER).join("token.json");
    let mode = std::fs::metadata(&token_file)
        .expect("the refreshed pair is kept")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The configured refresh token has been used up; a restarted issuer with the same
    // configuration goes on with the kept pair.
    fake.expire_access_tokens();
    let key = new_key();
    let issued = issuer(config(&fake, settings), state.path())
        .issue(&request(&key))
        .await
        .expect("issued after a restart and another refresh");
    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.refreshes(), 2);
}

#[tokio::test]
async fn an_expired_token_without_a_refresh_token_is_a_clear_401() {
    let fake = VenafiFake::start();
    let (access, refresh) = fake.issue_tokens();
    fake.expire_access_tokens();
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(config(&fake, json!({"access_token": access})), state.path());

    let err = issuer
        .issue(&request(&new_key()))
        .await
        .expect_err("refused")
        .to_string();

    assert!(err.contains(&format!("zone {VENAFI_ZONE}")), "{err}");
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(err.contains("Access token expired"), "{err}");
    assert!(
        err.contains("certificate:manage") && err.contains("refresh_token"),
        "{err}"
    );
    assert_no_secrets(&err, &[&access, &refresh]);
}

#[tokio::test]
async fn a_used_up_refresh_token_is_reported_with_what_to_do() {
    let fake = VenafiFake::start();
    let (_, refresh) = fake.issue_tokens();
    let (access, _) = fake.issue_tokens();
    fake.expire_access_tokens();
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(
        config(
            &fake,
            json!({"access_token": access, "refresh_token": format!("{refresh}-revoked")}),
        ),
        state.path(),
    );

    let err = issuer
        .issue(&request(&new_key()))
        .await
        .expect_err("refused")
        .to_string();

    assert!(err.contains("refresh the access token"), "{err}");
    assert!(err.contains("invalid_grant"), "{err}");
    assert!(err.contains("update refresh_token"), "{err}");
    assert_no_secrets(&err, &[&access, &refresh]);
}

#[tokio::test]
async fn a_request_awaiting_approval_is_pending_and_picked_up_with_the_same_key() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    fake.require_approval(true);
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(config(&fake, json!({"access_token": access})), state.path());
    let key = new_key();
    let dn = format!("{VENAFI_ZONE}\\{CERT}");

    let err = issuer.issue(&request(&key)).await.expect_err("pending");
    let acme_core::Error::Pending {
        issuer: name,
        message,
        ..
    } = &err
    else {
        panic!("expected Pending, got {err}");
    };
    assert_eq!(name, ISSUER);
    assert!(
        message.contains(&dn) && message.contains("approval"),
        "{message}"
    );
    assert_no_secrets(message, &[&access]);
    assert!(pending_record(state.path()).exists());

    let err = issuer
        .issue(&request(&key))
        .await
        .expect_err("still pending");
    assert!(matches!(err, acme_core::Error::Pending { .. }), "{err}");

    fake.approve(&dn);
    let issued = issuer
        .issue(&request(&key))
        .await
        .expect("issued after the approval");

    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.requests().len(), 1, "the request was made again");
    assert!(!pending_record(state.path()).exists());
}

#[tokio::test]
async fn a_new_key_after_a_pending_request_starts_a_new_request() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    fake.require_approval(true);
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(config(&fake, json!({"access_token": access})), state.path());

    let first = issuer
        .issue(&request(&new_key()))
        .await
        .expect_err("pending");
    assert!(matches!(first, acme_core::Error::Pending { .. }), "{first}");
    let key = new_key();
    let second = issuer.issue(&request(&key)).await.expect_err("pending");
    assert!(
        matches!(second, acme_core::Error::Pending { .. }),
        "{second}"
    );
    assert_eq!(fake.requests().len(), 2);

    fake.approve(&format!("{VENAFI_ZONE}\\{CERT}"));
    let issued = issuer.issue(&request(&key)).await.expect("issued");
    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn processing_past_the_timeout_is_pending_and_resumed_later() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    fake.processing_polls(4);
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(
        config(&fake, json!({"access_token": access, "timeout": "1s"})),
        state.path(),
    );
    let key = new_key();

    let err = issuer
        .issue(&request(&key))
        .await
        .expect_err("not ready in 1s");
    let acme_core::Error::Pending { message, .. } = &err else {
        panic!("expected Pending, got {err}");
    };
    assert!(message.contains("still being processed"), "{message}");

    let issued = issuer
        .issue(&request(&key))
        .await
        .expect("issued on the next attempt");
    assert_issued(&fake, &issued, &key);
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_policy_rejection_names_the_zone_and_shows_the_policy_text() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    let policy = "Certificate request error. Subject Alternative Name www.api.example.test \
                  is not allowed by policy: the domain is not on the allowed list.";
    fake.reject_with(policy);
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(config(&fake, json!({"access_token": access})), state.path());

    let err = issuer
        .issue(&request(&new_key()))
        .await
        .expect_err("refused");

    assert!(matches!(err, acme_core::Error::Issuer { .. }), "{err}");
    let err = err.to_string();
    assert!(err.contains(&format!("zone {VENAFI_ZONE}")), "{err}");
    assert!(err.contains(&format!("request for {CERT}")), "{err}");
    assert!(err.contains(policy), "{err}");
    assert_no_secrets(&err, &[&access]);
    assert!(!pending_record(state.path()).exists());
}

#[tokio::test]
async fn an_unknown_zone_is_named_in_the_error() {
    let fake = VenafiFake::start();
    let (access, _) = fake.issue_tokens();
    let state = tempfile::tempdir().expect("state dir");
    let issuer = issuer(
        config(&fake, json!({"access_token": access, "zone": "Mobile"})),
        state.path(),
    );

    let err = issuer
        .issue(&request(&new_key()))
        .await
        .expect_err("refused")
        .to_string();

    assert!(err.contains("zone \\VED\\Policy\\Mobile"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
}
