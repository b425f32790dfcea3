//! The analysis over chains built here: root → intermediate → leaf, and broken variants.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::CertificateDer;

use crate::*;

/// A test CA hierarchy: a root, an intermediate it signed, and leaves the intermediate signs.
struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Pki {
    fn new() -> Pki {
        Pki::with_root("Test Root")
    }

    fn with_root(root_name: &str) -> Pki {
        let root =
            CertifiedIssuer::self_signed(ca_params(root_name), KeyPair::generate().expect("key"))
                .expect("root");
        let intermediate = CertifiedIssuer::signed_by(
            ca_params("Test Intermediate"),
            KeyPair::generate().expect("key"),
            &root,
        )
        .expect("intermediate");
        Pki { root, intermediate }
    }

    /// A leaf for `names`, valid from `not_before` to `not_after`, with its key.
    fn leaf_valid(
        &self,
        names: &[&str],
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params.signed_by(&key, &self.intermediate).expect("leaf");
        (cert.der().clone(), key)
    }

    /// A leaf valid from a day ago for 90 days.
    fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, KeyPair) {
        let now = SystemTime::now();
        self.leaf_valid(names, now - DAY, now + 90 * DAY)
    }

    fn roots(&self) -> Roots {
        Roots::from_certificates(&[self.root.der().clone()], "test-root.pem").expect("roots")
    }

    fn intermediate(&self) -> CertificateDer<'static> {
        self.intermediate.der().clone()
    }
}

const DAY: Duration = Duration::from_secs(86_400);

fn kinds(report: &ChainReport) -> Vec<ProblemKind> {
    report.problems.iter().map(|p| p.kind).collect()
}

#[test]
fn a_full_chain_is_complete_up_to_the_trusted_root() {
    let pki = Pki::new();
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let report = analyze_chain(
        &[leaf, pki.intermediate()],
        &pki.roots(),
        Some("www.example.test"),
        SystemTime::now(),
    )
    .expect("analyze");
    assert!(report.complete, "{report:#?}");
    assert_eq!(report.trusted_by.as_deref(), Some("CN=Test Root"));
    assert_eq!(report.problems, []);
    let links: Vec<_> = report.certs.iter().map(|c| c.signed_by_next).collect();
    assert_eq!(links, [Some(true), None]);
    assert_eq!(report.certs[1].cert.subject, "CN=Test Intermediate");
    assert!(report.certs[1].cert.is_ca);
    assert!(report.certs[0].seconds_left > 89 * 86_400);
    assert_eq!(
        report.certs[0].cert.time_left(SystemTime::now()),
        "in 89 days"
    );
}

#[test]
fn a_chain_that_stops_at_an_intermediate_says_its_issuer_is_lacking() {
    let pki = Pki::new();
    let other = Pki::with_root("Other Root");
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let report = analyze_chain(
        &[leaf, pki.intermediate()],
        &other.roots(),
        None,
        SystemTime::now(),
    )
    .expect("analyze");
    assert_eq!(kinds(&report), [ProblemKind::MissingIntermediate]);
    let message = &report.problems[0].message;
    assert!(
        message.contains(
            "the chain ends at CN=Test Intermediate, issued by CN=Test Root, which is not a \
             trusted root and was not sent: either CN=Test Root is a root these trust anchors \
             lack (test-root.pem: check --ca-bundle)"
        ),
        "{message}"
    );
}

#[test]
fn a_leaf_without_its_intermediate_names_the_missing_intermediate() {
    let pki = Pki::new();
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let report = analyze_chain(&[leaf], &pki.roots(), None, SystemTime::now()).expect("analyze");
    assert!(!report.complete);
    assert_eq!(report.trusted_by, None);
    assert_eq!(kinds(&report), [ProblemKind::MissingIntermediate]);
    let message = &report.problems[0].message;
    assert!(
        message.contains(
            "the chain ends at CN=www.example.test, issued by CN=Test Intermediate, which is \
             not a trusted root and was not sent: the intermediate CN=Test Intermediate is missing"
        ),
        "{message}"
    );
}

#[test]
fn a_chain_to_a_root_that_is_not_trusted_names_the_root() {
    let pki = Pki::new();
    let other = Pki::with_root("Other Root");
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let chain = [leaf, pki.intermediate(), pki.root.der().clone()];
    let report = analyze_chain(&chain, &other.roots(), None, SystemTime::now()).expect("analyze");
    assert_eq!(kinds(&report), [ProblemKind::UntrustedRoot], "{report:#?}");
    assert!(
        report.problems[0]
            .message
            .contains("ends at the root CN=Test Root, which is not a trusted root"),
        "{}",
        report.problems[0].message
    );
    let links: Vec<_> = report.certs.iter().map(|c| c.signed_by_next).collect();
    assert_eq!(links, [Some(true), Some(true), None]);
    let trusted = analyze_chain(&chain, &pki.roots(), None, SystemTime::now()).expect("analyze");
    assert!(trusted.complete, "sending the root as well is harmless");
}

#[test]
fn a_root_with_the_right_name_but_another_key_is_explained() {
    let pki = Pki::new();
    let regenerated = Pki::new();
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let report = analyze_chain(
        &[leaf, pki.intermediate()],
        &regenerated.roots(),
        None,
        SystemTime::now(),
    )
    .expect("analyze");
    assert_eq!(kinds(&report), [ProblemKind::InvalidChain]);
    assert!(
        report.problems[0]
            .message
            .contains("same name but another key"),
        "{}",
        report.problems[0].message
    );
}

#[test]
fn certificates_out_of_order_are_reported_but_the_chain_still_verifies() {
    let pki = Pki::new();
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let chain = [leaf, pki.root.der().clone(), pki.intermediate()];
    let report = analyze_chain(&chain, &pki.roots(), None, SystemTime::now()).expect("analyze");
    let links: Vec<_> = report.certs.iter().map(|c| c.signed_by_next).collect();
    assert_eq!(links, [Some(false), Some(false), None]);
    assert!(report.complete);
}

#[test]
fn an_expired_leaf_is_a_problem_and_does_not_hide_the_chain_verdict() {
    let pki = Pki::new();
    let now = SystemTime::now();
    let (leaf, _) = pki.leaf_valid(&["old.example.test"], now - 100 * DAY, now - 10 * DAY);
    let complete = analyze_chain(&[leaf.clone(), pki.intermediate()], &pki.roots(), None, now)
        .expect("analyze");
    assert_eq!(kinds(&complete), [ProblemKind::Expired]);
    assert!(complete.complete);
    let message = &complete.problems[0].message;
    assert!(
        message.starts_with("the certificate for old.example.test expired 10 days ago"),
        "{message}"
    );
    assert!(complete.certs[0].seconds_left < 0);
    let incomplete = analyze_chain(&[leaf], &pki.roots(), None, now).expect("analyze");
    assert_eq!(
        kinds(&incomplete),
        [ProblemKind::Expired, ProblemKind::MissingIntermediate]
    );
}

#[test]
fn a_leaf_that_is_not_valid_yet_says_to_check_the_clock() {
    let pki = Pki::new();
    let now = SystemTime::now();
    let (leaf, _) = pki.leaf_valid(&["new.example.test"], now + DAY, now + 10 * DAY);
    let report =
        analyze_chain(&[leaf, pki.intermediate()], &pki.roots(), None, now).expect("analyze");
    assert_eq!(kinds(&report), [ProblemKind::NotYetValid]);
    assert!(report.problems[0].message.contains("clock"));
}

#[test]
fn names_are_matched_as_tls_clients_match_them() {
    let pki = Pki::new();
    let (leaf, _) = pki.leaf(&["example.test", "*.api.example.test"]);
    let chain = [leaf, pki.intermediate()];
    let check = |name: &str| {
        analyze_chain(&chain, &pki.roots(), Some(name), SystemTime::now()).expect("analyze")
    };
    for covered in ["example.test", "EXAMPLE.test", "v1.api.example.test"] {
        assert_eq!(check(covered).problems, [], "{covered}");
    }
    for not_covered in [
        "www.example.test",
        "a.b.api.example.test",
        "api.example.test",
    ] {
        let report = check(not_covered);
        assert_eq!(report.name.as_ref().map(|n| n.covered), Some(false));
        assert_eq!(
            kinds(&report),
            [ProblemKind::NameNotCovered],
            "{not_covered}"
        );
        assert!(
            report.problems[0]
                .message
                .starts_with(&format!("{not_covered} is not among the certificate's names (example.test, *.api.example.test)")),
            "{}",
            report.problems[0].message
        );
    }
    let summary = &check("example.test").certs[0].cert;
    assert!(summary.covers("v1.api.example.test") && !summary.covers("api.example.test"));
}

#[test]
fn the_key_check_tells_the_right_key_from_a_wrong_or_unreadable_one() {
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(&["www.example.test"]);
    assert_eq!(
        check_key(&leaf, &key.serialize_pem(), "privkey.pem").expect("check"),
        None
    );
    let other = KeyPair::generate().expect("key");
    let mismatch = check_key(&leaf, &other.serialize_pem(), "privkey.pem")
        .expect("check")
        .expect("a wrong key is a problem");
    assert_eq!(mismatch.kind, ProblemKind::KeyMismatch);
    assert!(
        mismatch
            .message
            .starts_with("privkey.pem is not the private key")
    );
    let garbage = check_key(&leaf, "not a key", "tls.key")
        .expect("check")
        .expect("an unreadable key is a problem");
    assert_eq!(garbage.kind, ProblemKind::KeyUnreadable);
    assert!(!mismatch.message.contains("PRIVATE KEY"));
}

#[test]
fn an_endpoint_serving_another_certificate_is_told_apart_by_its_hash() {
    let pki = Pki::new();
    let summary = |der: &CertificateDer<'_>| CertSummary::from_der(der, "test").expect("summary");
    let (stored, _) = pki.leaf(&["www.example.test"]);
    let (served, _) = pki.leaf(&["www.example.test"]);
    let (stored, served) = (summary(&stored), summary(&served));
    assert_eq!(compare_served(&stored, &stored, "h:443", "files:/x"), None);
    let problem = compare_served(&served, &stored, "h:443 (SNI www.example.test)", "files:/x")
        .expect("different certificates");
    assert_eq!(problem.kind, ProblemKind::ServesAnotherCertificate);
    assert!(
        problem.message.starts_with(
            "h:443 (SNI www.example.test) serves another certificate than files:/x: served serial"
        ),
        "{}",
        problem.message
    );
}

#[test]
fn summaries_name_key_type_and_size() {
    let cases = [
        (&rcgen::PKCS_ECDSA_P256_SHA256, "ECDSA P-256"),
        (&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA P-384"),
        (&rcgen::PKCS_ED25519, "Ed25519"),
        (&rcgen::PKCS_RSA_SHA256, "RSA 2048"),
    ];
    for (algorithm, expected) in cases {
        let key = if expected.starts_with("RSA") {
            KeyPair::generate_rsa_for(algorithm, rcgen::RsaKeySize::_2048).expect("key")
        } else {
            KeyPair::generate_for(algorithm).expect("key")
        };
        let mut params = CertificateParams::new(vec!["k.example.test".to_string()]).expect("p");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress([192, 0, 2, 1].into()));
        let cert = params.self_signed(&key).expect("cert");
        let summary = CertSummary::from_der(cert.der(), "test").expect("summary");
        assert_eq!(summary.key, expected);
        assert_eq!(summary.names, ["k.example.test", "192.0.2.1"]);
        assert_eq!(summary.sha256.len(), 64);
    }
}

#[test]
fn pem_input_without_a_certificate_is_an_error_naming_the_input() {
    let err = parse_pem_certificates("hello\n", "cert.pem").expect_err("no certificate");
    assert!(
        err.to_string()
            .starts_with("cert.pem: no PEM certificate found"),
        "{err}"
    );
    let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = parse_pem_certificates(bad, "cert.pem").expect_err("not X.509");
    assert!(
        err.to_string()
            .starts_with("cert.pem, certificate 1: not a valid certificate"),
        "{err}"
    );
}

#[test]
fn a_ca_bundle_is_read_or_its_problem_named() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, pki.root.pem()).expect("write");
    let roots = load_roots(Some(&bundle)).expect("roots");
    assert_eq!(
        (roots.len(), roots.source()),
        (1, bundle.to_string_lossy().as_ref())
    );
    std::fs::write(&bundle, "nothing\n").expect("write");
    let err = load_roots(Some(&bundle)).expect_err("empty bundle");
    assert!(
        err.to_string()
            .contains("bundle.pem: no PEM certificate in it"),
        "{err}"
    );
    let missing = dir.path().join("missing.pem");
    let err = load_roots(Some(&missing)).expect_err("missing bundle");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    assert_eq!(
        load_roots(None).expect("system").source(),
        "the system trust store"
    );
}

/// Serves `chain` with `key` on a loopback port for one connection; returns the port.
async fn serve_once(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> u16 {
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        if let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    port
}

#[tokio::test]
async fn the_served_chain_is_fetched_as_sent_even_when_incomplete() {
    let pki = Pki::new();
    let (leaf, key) = pki.leaf(&["www.example.test"]);
    let port = serve_once(vec![leaf.clone()], &key).await;
    let served = fetch_served_chain(
        "127.0.0.1",
        port,
        "www.example.test",
        Duration::from_secs(5),
    )
    .await
    .expect("fetch");
    assert_eq!(served, std::slice::from_ref(&leaf));
    let report = analyze_chain(
        &served,
        &pki.roots(),
        Some("www.example.test"),
        SystemTime::now(),
    )
    .expect("analyze");
    assert_eq!(kinds(&report), [ProblemKind::MissingIntermediate]);

    let port = serve_once(vec![leaf.clone(), pki.intermediate()], &key).await;
    let served = fetch_served_chain(
        "127.0.0.1",
        port,
        "www.example.test",
        Duration::from_secs(5),
    )
    .await
    .expect("fetch");
    assert_eq!(served, [leaf, pki.intermediate()]);
}

#[tokio::test]
async fn an_endpoint_that_does_not_answer_is_a_network_error_naming_it() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let err = fetch_served_chain("127.0.0.1", port, "x.example.test", Duration::from_secs(5))
        .await
        .expect_err("nothing listens");
    assert!(err.is_network());
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
        "{err}"
    );
    let err = fetch_served_chain("127.0.0.1", port, "not a name!", Duration::from_secs(5))
        .await
        .expect_err("bad SNI");
    assert!(
        err.to_string()
            .contains("`not a name!` is not a valid TLS server name"),
        "{err}"
    );
}

#[tokio::test]
async fn a_files_sink_directory_is_reported_with_its_key_and_the_configured_names() {
    let pki = Pki::new();
    let (leaf, _) = pki.leaf(&["www.example.test"]);
    let other_key = KeyPair::generate().expect("key");
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = |der: &CertificateDer<'_>| acme_core::der_to_pem(der);
    std::fs::write(dir.path().join("cert.pem"), pem(&leaf)).expect("cert.pem");
    std::fs::write(dir.path().join("chain.pem"), pem(&pki.intermediate())).expect("chain.pem");
    std::fs::write(dir.path().join("privkey.pem"), other_key.serialize_pem()).expect("key");

    let stored = StoredChain::read_files_dir(dir.path()).expect("read the directory");
    assert_eq!(stored.certs.len(), 2);
    let configured = Configured {
        name: "web".to_string(),
        domains: vec![
            "www.example.test".to_string(),
            "api.example.test".to_string(),
        ],
    };
    let now = SystemTime::now();
    let report = InspectReport::build(&pki.roots(), vec![stored], Some(&configured), None, now)
        .await
        .expect("report");
    let kinds: Vec<_> = report.problems.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [ProblemKind::KeyMismatch, ProblemKind::NameNotCovered]
    );
    assert!(!report.ok);
    assert_eq!(report.stored[0].key.matches, Some(false));
    let text = report.render_text(now);
    assert!(
        text.contains("  private key  DOES NOT MATCH the certificate\n"),
        "{text}"
    );
    assert!(text.contains("`acmekeep --issue web --force`"), "{text}");
    assert!(text.contains("2 problem(s):\n"), "{text}");
}

#[test]
fn a_directory_without_a_certificate_says_what_it_expected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = StoredChain::read_files_dir(dir.path()).expect_err("no certificate");
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds neither fullchain.pem nor cert.pem: is it a files sink directory, and has \
             a certificate been issued yet?",
            dir.path().display()
        )
    );
}
