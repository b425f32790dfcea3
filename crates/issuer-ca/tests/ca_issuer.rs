//! The local-CA issuer, specified by what it promises: a private CA on disk, leaves that
//! OpenSSL verifies for every key type, and clear refusals.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use acme_core::{CertInfo, HealthStatus, IssueRequest, Issuer, KeyType, build_csr};
use issuer_ca::{CaIssuer, CaIssuerConfig, Error};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

const DAY: Duration = Duration::from_secs(86_400);

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn request_for(requested: &[&str], csr_names: &[&str], key: &KeyPair) -> IssueRequest {
    IssueRequest {
        cert_name: "web".into(),
        names: names(requested),
        csr_der: build_csr(&names(csr_names), key).expect("csr"),
        solvers: Default::default(),
        replaces: None,
        cancel: Default::default(),
    }
}

fn request(requested: &[&str], key: &KeyPair) -> IssueRequest {
    request_for(requested, requested, key)
}

fn generated(state_dir: &Path, validity: Duration) -> CaIssuer {
    let config = CaIssuerConfig {
        generate: true,
        validity,
        ..Default::default()
    };
    CaIssuer::new("internal".into(), config, state_dir).expect("generated CA issuer")
}

fn from_files(cert: &Path, key_reference: String) -> Result<CaIssuer, Error> {
    let config = CaIssuerConfig {
        cert: Some(cert.to_path_buf()),
        key: Some(key_reference),
        ..Default::default()
    };
    CaIssuer::new("internal".into(), config, Path::new("/nonexistent-state"))
}

/// Writes a certificate and its key (PKCS#8 PEM) to `dir`, returning both paths.
fn write_pair(dir: &Path, stem: &str, cert_pem: &str, key: &KeyPair) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    std::fs::write(&cert, cert_pem).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert, key_path)
}

/// A self-signed certificate; a CA (keyCertSign) when `ca` is set.
fn self_signed(common_name: &str, ca: bool, lifetime: Duration, key: &KeyPair) -> String {
    let mut params =
        CertificateParams::new(if ca { vec![] } else { names(&["leaf.test"]) }).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    }
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::try_from(lifetime).expect("lifetime");
    params.self_signed(key).expect("self-sign").pem()
}

/// Runs the real `openssl verify`, printing its output on failure.
fn openssl_verify(ca_pem: &str, chain_pem: &str, leaf_pem: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&ca, ca_pem).expect("write ca");
    std::fs::write(&leaf, leaf_pem).expect("write leaf");
    let mut command = Command::new("openssl");
    command
        .arg("verify")
        .arg("-purpose")
        .arg("sslserver")
        .arg("-CAfile")
        .arg(&ca);
    if !chain_pem.is_empty() {
        let chain = dir.path().join("chain.pem");
        std::fs::write(&chain, chain_pem).expect("write chain");
        command.arg("-untrusted").arg(chain);
    }
    let output = command.arg(&leaf).output().expect("run openssl");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The issuer's own error behind the trait boundary, checking that it names the issuer.
fn issuer_error(err: acme_core::Error) -> Error {
    match err {
        acme_core::Error::Issuer { issuer, source, .. } => {
            assert_eq!(issuer, "internal");
            *source.downcast::<Error>().expect("an issuer_ca::Error")
        }
        other => panic!("expected an issuer error, got {other}"),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .expect("pem")
        .1
        .contents
}

fn assert_near(actual: SystemTime, expected: SystemTime, what: &str) {
    let gap = actual
        .duration_since(expected)
        .or_else(|_| expected.duration_since(actual))
        .expect("gap");
    assert!(gap < Duration::from_secs(120), "{what}: off by {gap:?}");
}

#[test]
fn generate_creates_a_private_ca_in_the_state_dir() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = generated(state.path(), 90 * DAY);

    let dir = state.path().join("ca").join("internal");
    assert_eq!(issuer.ca_cert_path(), dir.join("ca.pem"));
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    let ca = CertInfo::from_pem(issuer.ca_pem()).expect("parse CA");
    assert_eq!(ca.subject, "CN=acmekeep local CA");
    assert_eq!(ca.key_type, Some(KeyType::EcdsaP256));
    assert!(ca.lifetime() >= 3649 * DAY, "{:?}", ca.lifetime());
    let on_disk = std::fs::read_to_string(dir.join("ca.pem")).expect("read ca.pem");
    assert_eq!(on_disk, issuer.ca_pem());
    let ca_der = der(&on_disk);
    let (_, cert) = X509Certificate::from_der(&ca_der).expect("x509");
    assert!(cert.is_ca());
    let usage = cert.key_usage().expect("ku").expect("present").value;
    assert!(usage.key_cert_sign() && usage.crl_sign());
}

#[test]
fn a_second_issuer_over_the_same_state_dir_reuses_the_ca() {
    let state = tempfile::tempdir().expect("tempdir");
    let first = generated(state.path(), 90 * DAY);
    let on_disk = std::fs::read(first.ca_cert_path()).expect("read");
    let second = generated(state.path(), 30 * DAY);
    assert_eq!(second.ca_pem(), first.ca_pem());
    assert_eq!(std::fs::read(second.ca_cert_path()).expect("read"), on_disk);
}

#[test]
fn a_generated_ca_uses_the_configured_common_name() {
    let state = tempfile::tempdir().expect("tempdir");
    let config = CaIssuerConfig {
        generate: true,
        common_name: Some("Example Internal Root".into()),
        ..Default::default()
    };
    let issuer = CaIssuer::new("internal".into(), config, state.path()).expect("issuer");
    let ca = CertInfo::from_pem(issuer.ca_pem()).expect("parse CA");
    assert_eq!(ca.subject, "CN=Example Internal Root");
}

#[tokio::test]
async fn every_key_type_gets_a_leaf_that_openssl_verifies() {
    let state = tempfile::tempdir().expect("tempdir");
    let validity = 30 * DAY;
    let issuer = generated(state.path(), validity);
    let wanted = ["www.example.test", "*.api.example.test"];
    for kind in KeyType::ALL {
        let key = kind.generate().expect("key");
        let issued = issuer.issue(&request(&wanted, &key)).await.expect("issue");

        assert_eq!(issued.chain_pem, "", "{kind}: a root CA needs no chain");
        let ca_pem = issued.ca_pem.as_deref().expect("ca_pem");
        assert_eq!(ca_pem, issuer.ca_pem());
        openssl_verify(ca_pem, &issued.chain_pem, &issued.cert_pem);

        let leaf = CertInfo::from_pem(&issued.cert_pem).expect("parse leaf");
        assert_eq!(leaf.names, wanted, "{kind}");
        assert_eq!(leaf.subject, "CN=www.example.test", "{kind}");
        assert_eq!(leaf.issuer, "CN=acmekeep local CA", "{kind}");
        assert_eq!(leaf.key_type, Some(kind), "{kind}");
        assert_eq!(
            leaf.public_key_der,
            rcgen::PublicKeyData::subject_public_key_info(&key),
            "{kind}: the leaf carries the CSR's key"
        );
        let now = SystemTime::now();
        assert_near(leaf.not_before, now - Duration::from_secs(60), "not_before");
        assert_near(leaf.not_after, now + validity, "not_after");
    }
}

#[tokio::test]
async fn leaves_are_tls_server_and_client_certificates_signed_by_the_ca() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = generated(state.path(), 90 * DAY);
    let ca_der = der(issuer.ca_pem());
    let (_, ca) = X509Certificate::from_der(&ca_der).expect("ca");
    let ca_key_id = ca
        .extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .expect("the CA has a subjectKeyIdentifier");

    let mut serials = Vec::new();
    for kind in [KeyType::EcdsaP256, KeyType::Rsa2048, KeyType::Ed25519] {
        let key = kind.generate().expect("key");
        let issued = issuer
            .issue(&request(&["a.example.test"], &key))
            .await
            .expect("issue");
        let leaf_der = der(&issued.cert_pem);
        let (_, leaf) = X509Certificate::from_der(&leaf_der).expect("leaf");

        assert!(!leaf.is_ca(), "{kind}");
        let eku = leaf
            .extended_key_usage()
            .expect("eku")
            .expect("present")
            .value;
        assert!(eku.server_auth && eku.client_auth, "{kind}");
        let usage = leaf.key_usage().expect("ku").expect("present").value;
        assert!(usage.digital_signature(), "{kind}");
        assert_eq!(usage.key_encipherment(), kind == KeyType::Rsa2048, "{kind}");
        let aki = leaf
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.clone(),
                _ => None,
            })
            .expect("authorityKeyIdentifier");
        assert_eq!(aki.0, ca_key_id.as_slice(), "{kind}");

        let serial = leaf.raw_serial();
        assert!(
            serial.len() >= 9,
            "{kind}: serial of {} octets",
            serial.len()
        );
        assert!(serial[0] & 0x80 == 0, "{kind}: serial is positive");
        serials.push(serial.to_vec());
    }
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), 3, "serials are unique");
}

#[tokio::test]
async fn an_existing_ca_given_as_cert_and_file_key_issues_verifiable_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyType::EcdsaP384.generate().expect("key");
    let ca_pem = self_signed("Existing Root", true, 365 * DAY, &ca_key);
    let (cert, key) = write_pair(dir.path(), "ca", &ca_pem, &ca_key);

    let issuer = from_files(&cert, format!("file:{}", key.display())).expect("issuer");
    assert_eq!(issuer.ca_cert_path(), cert);
    let leaf_key = KeyType::Rsa3072.generate().expect("key");
    let issued = issuer
        .issue(&request(&["db.example.test"], &leaf_key))
        .await
        .expect("issue");
    assert_eq!(issued.ca_pem.as_deref(), Some(ca_pem.as_str()));
    openssl_verify(&ca_pem, &issued.chain_pem, &issued.cert_pem);
}

#[tokio::test]
async fn an_inline_pem_key_works_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyType::EcdsaP256.generate().expect("key");
    let ca_pem = self_signed("Inline Root", true, 365 * DAY, &ca_key);
    let (cert, _) = write_pair(dir.path(), "ca", &ca_pem, &ca_key);

    let issuer = from_files(&cert, ca_key.serialize_pem()).expect("issuer");
    let key = KeyType::EcdsaP256.generate().expect("key");
    let issued = issuer
        .issue(&request(&["x.example.test"], &key))
        .await
        .expect("issue");
    openssl_verify(&ca_pem, "", &issued.cert_pem);
}

#[tokio::test]
async fn an_intermediate_ca_hands_out_itself_as_the_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root_key = KeyType::EcdsaP256.generate().expect("key");
    let root_params = {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, "Root");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        params
    };
    let root_pem = root_params.self_signed(&root_key).expect("root").pem();
    let root = rcgen::Issuer::new(root_params, root_key);
    let sub_key = KeyType::EcdsaP256.generate().expect("key");
    let mut sub_params = CertificateParams::default();
    sub_params
        .distinguished_name
        .push(DnType::CommonName, "Intermediate");
    sub_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    sub_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    sub_params.use_authority_key_identifier_extension = true;
    let sub_pem = sub_params
        .signed_by(&sub_key, &root)
        .expect("intermediate")
        .pem();
    let (cert, key) = write_pair(dir.path(), "sub", &format!("{sub_pem}{root_pem}"), &sub_key);

    let issuer = from_files(&cert, format!("file:{}", key.display())).expect("issuer");
    let leaf_key = KeyType::EcdsaP256.generate().expect("key");
    let issued = issuer
        .issue(&request(&["m.example.test"], &leaf_key))
        .await
        .expect("issue");
    assert_eq!(issued.chain_pem, sub_pem);
    assert_eq!(issued.ca_pem.as_deref(), Some(root_pem.as_str()));
    openssl_verify(&root_pem, &issued.chain_pem, &issued.cert_pem);
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_a_clear_error_without_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyType::EcdsaP256.generate().expect("key");
    let other = KeyType::EcdsaP256.generate().expect("key");
    let (cert, _) = write_pair(
        dir.path(),
        "ca",
        &self_signed("Root", true, 365 * DAY, &ca_key),
        &ca_key,
    );
    let (_, wrong) = write_pair(dir.path(), "other", "", &other);

    let reference = format!("file:{}", wrong.display());
    let err = from_files(&cert, reference.clone()).expect_err("mismatch refused");
    assert!(matches!(err, Error::KeyMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&reference), "{message}");
    assert!(message.contains(&cert.display().to_string()), "{message}");
    assert!(message.contains("does not belong"), "{message}");

    let inline = from_files(&cert, other.serialize_pem()).expect_err("mismatch refused");
    let shown = format!("{inline} {inline:?}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("(inline value)"), "{shown}");
}

#[test]
fn a_certificate_that_is_not_a_ca_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = KeyType::EcdsaP256.generate().expect("key");
    let (cert, key_path) = write_pair(
        dir.path(),
        "leaf",
        &self_signed("leaf.test", false, 365 * DAY, &key),
        &key,
    );
    let err = from_files(&cert, format!("file:{}", key_path.display())).expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("not a CA certificate"), "{message}");
    assert!(message.contains(&cert.display().to_string()), "{message}");
}

#[test]
fn a_key_written_as_a_bare_path_gets_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = KeyType::EcdsaP256.generate().expect("key");
    let (cert, key_path) = write_pair(
        dir.path(),
        "ca",
        &self_signed("Root", true, 365 * DAY, &key),
        &key,
    );
    let err = from_files(&cert, key_path.display().to_string()).expect_err("refused");
    assert!(err.to_string().contains("key = \"file:"), "{err}");
}

#[test]
fn a_missing_certificate_file_is_named() {
    let err = from_files(
        Path::new("/nonexistent/ca.pem"),
        "file:/nonexistent/ca.key".into(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn leaves_never_outlive_the_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyType::EcdsaP256.generate().expect("key");
    let ca_pem = self_signed("Short Root", true, 2 * DAY, &ca_key);
    let (cert, key) = write_pair(dir.path(), "ca", &ca_pem, &ca_key);
    let issuer = from_files(&cert, format!("file:{}", key.display())).expect("issuer");

    let leaf_key = KeyType::EcdsaP256.generate().expect("key");
    let issued = issuer
        .issue(&request(&["s.example.test"], &leaf_key))
        .await
        .expect("issue");
    let ca = CertInfo::from_pem(&ca_pem).expect("ca");
    let leaf = CertInfo::from_pem(&issued.cert_pem).expect("leaf");
    assert_eq!(leaf.not_after, ca.not_after);
    openssl_verify(&ca_pem, "", &issued.cert_pem);
}

#[tokio::test]
async fn a_csr_whose_names_differ_from_the_request_is_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = generated(state.path(), 90 * DAY);
    let key = KeyType::EcdsaP256.generate().expect("key");

    let smuggled = request_for(
        &["a.example.test"],
        &["a.example.test", "bank.example"],
        &key,
    );
    let err = issuer_error(issuer.issue(&smuggled).await.expect_err("refused"));
    assert!(matches!(err, Error::NamesMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("bank.example"), "{err}");

    let reordered = request_for(
        &["B.example.test", "a.example.test"],
        &["a.example.test", "b.example.test"],
        &key,
    );
    issuer
        .issue(&reordered)
        .await
        .expect("order and case do not matter");
}

#[tokio::test]
async fn a_csr_with_a_broken_signature_is_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = generated(state.path(), 90 * DAY);
    let key = KeyType::EcdsaP256.generate().expect("key");
    let mut tampered = request(&["a.example.test"], &key);
    let last = tampered.csr_der.len() - 5;
    tampered.csr_der[last] ^= 0x01;

    let err = issuer_error(issuer.issue(&tampered).await.expect_err("refused"));
    assert!(matches!(err, Error::Csr { .. }), "{err:?}");
    assert!(err.to_string().contains("web"), "{err}");
}

#[tokio::test]
async fn trait_errors_name_the_issuer() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = generated(state.path(), 90 * DAY);
    let broken = IssueRequest {
        cert_name: "web".into(),
        names: names(&["a.example.test"]),
        csr_der: b"not a csr".to_vec(),
        solvers: Default::default(),
        replaces: None,
        cancel: Default::default(),
    };
    let err = issuer.issue(&broken).await.expect_err("refused");
    assert!(
        err.to_string()
            .starts_with("issuer internal: certificate signing request for web: "),
        "{err}"
    );
}

#[test]
fn configuration_errors_surface_from_the_constructor() {
    let state = tempfile::tempdir().expect("tempdir");
    let err = CaIssuer::new("internal".into(), CaIssuerConfig::default(), state.path())
        .expect_err("refused");
    let message = err.to_string();
    for word in ["`generate", "`cert`", "`key`"] {
        assert!(message.contains(word), "{message}");
    }

    let config = CaIssuerConfig {
        generate: true,
        ..Default::default()
    };
    let err = CaIssuer::new("../escape".into(), config, state.path()).expect_err("refused");
    assert!(err.to_string().contains("\"../escape\""), "{err}");
}

/// Regression (issue 12, item 7): commands that only look (`check`, `status`, `diagnose`)
/// created the generated CA, root-owned when run as root.
#[test]
fn open_never_creates_a_generated_ca_but_uses_one_that_exists() {
    let state = tempfile::tempdir().expect("tempdir");
    let config = CaIssuerConfig {
        generate: true,
        ..Default::default()
    };
    let Err(err) = CaIssuer::open("internal".into(), config.clone(), state.path()) else {
        panic!("a CA that was never created opened");
    };
    assert!(matches!(err, Error::NotCreated { .. }), "{err}");
    assert!(err.to_string().contains("not created yet"), "{err}");
    assert!(
        !state.path().join("ca").exists(),
        "open wrote to the state directory"
    );

    let created = CaIssuer::new("internal".into(), config.clone(), state.path()).expect("new");
    let opened = CaIssuer::open("internal".into(), config, state.path()).expect("open");
    assert_eq!(opened.ca_pem(), created.ca_pem());
}

#[test]
fn open_checks_the_configuration_like_new() {
    let state = tempfile::tempdir().expect("tempdir");
    let err = CaIssuer::open("internal".into(), CaIssuerConfig::default(), state.path())
        .expect_err("refused");
    assert!(err.to_string().contains("`generate"), "{err}");
}

#[test]
fn debug_output_shows_no_key() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = generated(state.path(), 90 * DAY);
    let shown = format!("{issuer:?}");
    assert!(
        shown.contains("internal") && !shown.contains("PRIVATE"),
        "{shown}"
    );
}

/// An issuer with a trust bundle, published as `run` and `--issue` do.
async fn with_trust_bundle(state_dir: &Path, bundle: &Path, also: Vec<PathBuf>) -> CaIssuer {
    let config = CaIssuerConfig {
        generate: true,
        trust_bundle: Some(bundle.to_path_buf()),
        trust_also: also,
        ..Default::default()
    };
    let issuer =
        CaIssuer::new("internal".into(), config, state_dir).expect("issuer with a trust bundle");
    issuer.publish().await.expect("publish the trust bundle");
    issuer
}

#[test]
fn building_the_issuer_writes_no_trust_bundle_so_check_and_status_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle.pem");
    let config = CaIssuerConfig {
        generate: true,
        trust_bundle: Some(bundle.clone()),
        ..Default::default()
    };
    CaIssuer::new("internal".into(), config, &dir.path().join("state")).expect("issuer");
    assert!(!bundle.exists());
}

#[tokio::test]
async fn the_trust_bundle_holds_the_root_public_and_verifies_issued_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("trust/internal-ca.pem");
    std::fs::create_dir(dir.path().join("trust")).expect("mkdir");
    let issuer = with_trust_bundle(&dir.path().join("state"), &bundle, vec![]).await;

    let written = std::fs::read_to_string(&bundle).expect("bundle written");
    assert_eq!(der(&written), der(issuer.ca_pem()));
    assert_eq!(mode(&bundle), 0o644, "consumers of any user must read it");
    let key = KeyType::EcdsaP256.generate().expect("key");
    let issued = issuer
        .issue(&request(&["t.example.test"], &key))
        .await
        .expect("issue");
    openssl_verify(&written, &issued.chain_pem, &issued.cert_pem);
}

#[tokio::test]
async fn during_a_rotation_the_trust_bundle_holds_both_cas_and_drops_expired_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let next_key = KeyType::EcdsaP256.generate().expect("key");
    let next = dir.path().join("next-ca.pem");
    let next_pem = self_signed("Next CA", true, 3650 * DAY, &next_key);
    std::fs::write(&next, &next_pem).expect("write next");
    let old_key = KeyType::EcdsaP256.generate().expect("key");
    let expired = dir.path().join("expired-ca.pem");
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "Old CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(20);
    params.not_after = now - time::Duration::days(1);
    std::fs::write(&expired, params.self_signed(&old_key).expect("old").pem()).expect("write");
    let bundle = dir.path().join("bundle.pem");

    let issuer = with_trust_bundle(
        &dir.path().join("state"),
        &bundle,
        vec![next.clone(), expired, next],
    )
    .await;

    let written = std::fs::read_to_string(&bundle).expect("bundle written");
    let certs = acme_core::split_pem_certificates(&written).expect("pem");
    let ders: Vec<Vec<u8>> = certs.iter().map(|c| der(c)).collect();
    assert_eq!(
        ders,
        [der(issuer.ca_pem()), der(&next_pem)],
        "current root first, the next CA once, the expired CA left out"
    );
}

#[tokio::test]
async fn a_trust_bundle_is_not_rewritten_when_nothing_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle.pem");
    let state = dir.path().join("state");
    with_trust_bundle(&state, &bundle, vec![]).await;
    let first = std::fs::metadata(&bundle)
        .expect("stat")
        .modified()
        .expect("mtime");
    std::thread::sleep(Duration::from_millis(20));
    with_trust_bundle(&state, &bundle, vec![]).await;
    let second = std::fs::metadata(&bundle)
        .expect("stat")
        .modified()
        .expect("mtime");
    assert_eq!(first, second);
}

#[test]
fn a_trust_also_file_without_certificates_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let config = CaIssuerConfig {
        generate: true,
        trust_bundle: Some(dir.path().join("bundle.pem")),
        trust_also: vec![empty.clone()],
        ..Default::default()
    };
    let Err(err) = CaIssuer::new("internal".into(), config, dir.path()) else {
        panic!("a trust_also file without certificates was accepted");
    };
    let err = err.to_string();
    assert!(err.contains(&empty.display().to_string()), "{err}");
    assert!(!dir.path().join("bundle.pem").exists());
}

#[tokio::test]
async fn health_is_the_ca_certificates_expiry_warned_about_thirty_days_ahead() {
    let state = tempfile::tempdir().expect("tempdir");
    let health = generated(state.path(), 90 * DAY).health().await;
    assert_eq!(health.status, HealthStatus::Healthy, "{health}");
    assert_eq!(health.endpoint, "the CA certificate");
    assert!(
        health
            .valid_until
            .is_some_and(|until| until > SystemTime::now() + 3000 * DAY),
        "{health}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyType::EcdsaP256.generate().expect("key");
    let ca_pem = self_signed("Ending Root", true, 10 * DAY, &ca_key);
    let (cert, key) = write_pair(dir.path(), "ca", &ca_pem, &ca_key);
    let issuer = from_files(&cert, format!("file:{}", key.display())).expect("issuer");
    let health = issuer.health().await;
    assert_eq!(health.status, HealthStatus::Expiring, "{health}");
    assert!(health.is_usable());
    assert!(health.detail.starts_with("expires at "), "{health}");
}
