//! The built-in listener, spoken to as a CA would: TLS with ALPN `acme-tls/1` and an SNI.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use acme_core::{Challenge, ChallengeKind, Solver};
use aws_lc_rs::digest::{SHA256, digest};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tls_alpn01::{TlsAlpn01Config, TlsAlpn01Solver};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// Accepts any server certificate: the CA checks the challenge certificate's contents, not
/// a chain, and so do these tests.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "the test client speaks TLS 1.3 only".into(),
        ))
    }

    /// Checks the handshake signature against the certificate's own key, read with
    /// x509-parser: webpki refuses to parse a certificate with the critical acmeIdentifier.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = X509Certificate::from_der(cert)
            .map_err(|e| rustls::Error::General(format!("unparsable certificate: {e}")))?;
        let spki = SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a handshake yielded: the negotiated protocol and the server's certificate.
struct Handshake {
    alpn: Option<Vec<u8>>,
    certificate: Vec<u8>,
}

/// Connects to `addr` with `sni` and the `alpn` protocols offered, as a CA validator does.
async fn handshake(addr: SocketAddr, sni: &str, alpn: &[&[u8]]) -> Result<Handshake, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).expect("a valid SNI");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let (_, connection) = tls.get_ref();
    Ok(Handshake {
        alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
        certificate: connection
            .peer_certificates()
            .and_then(|certs| certs.first())
            .expect("a completed handshake has a server certificate")
            .to_vec(),
    })
}

fn challenge(identifier: &str, token: &str) -> Challenge {
    Challenge {
        kind: ChallengeKind::TlsAlpn01,
        identifier: identifier.to_string(),
        wildcard: false,
        token: token.to_string(),
        key_authorization: format!("{token}.thumbprint-of-the-account-key"),
        dns_value: String::new(),
    }
}

fn solver_on(listen: SocketAddr) -> TlsAlpn01Solver {
    TlsAlpn01Solver::new("alpn".to_string(), TlsAlpn01Config { listen })
}

async fn presenting(challenge: &Challenge) -> (TlsAlpn01Solver, SocketAddr) {
    let solver = solver_on("127.0.0.1:0".parse().expect("address"));
    solver.present(challenge).await.expect("present");
    let addr = solver.local_addr().await.expect("bound after present");
    (solver, addr)
}

async fn port_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_ok()
}

#[tokio::test]
async fn the_solver_answers_tls_alpn_01_and_binds_nothing_before_the_first_challenge() {
    let solver = solver_on("127.0.0.1:0".parse().expect("address"));
    assert_eq!(solver.kind(), ChallengeKind::TlsAlpn01);
    assert_eq!(solver.name(), "alpn");
    assert_eq!(solver.local_addr().await, None);
}

#[tokio::test]
async fn a_presented_name_gets_acme_tls_and_a_certificate_proving_the_key_authorization() {
    let challenge = challenge("a.example.test", "token-a");
    let (_solver, addr) = presenting(&challenge).await;

    let handshake = handshake(addr, "a.example.test", &[b"acme-tls/1"])
        .await
        .expect("the handshake succeeds");

    assert_eq!(handshake.alpn.as_deref(), Some(&b"acme-tls/1"[..]));
    let (_, cert) =
        X509Certificate::from_der(&handshake.certificate).expect("an X.509 certificate");
    assert_eq!(
        cert.subject(),
        cert.issuer(),
        "the certificate is self-signed"
    );
    let san = cert
        .subject_alternative_name()
        .expect("a well-formed SAN")
        .expect("a SAN extension");
    assert_eq!(
        san.value.general_names,
        vec![GeneralName::DNSName("a.example.test")],
        "the SAN is exactly the identifier"
    );
    let acme = cert
        .extensions()
        .iter()
        .find(|ext| ext.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .expect("an id-pe-acmeIdentifier extension");
    assert!(acme.critical, "id-pe-acmeIdentifier must be critical");
    assert!(matches!(
        acme.parsed_extension(),
        ParsedExtension::UnsupportedExtension { .. }
    ));
    let expected = digest(&SHA256, challenge.key_authorization.as_bytes());
    let mut der_octet_string = vec![0x04, 0x20];
    der_octet_string.extend_from_slice(expected.as_ref());
    assert_eq!(
        acme.value, der_octet_string,
        "the value is the DER OCTET STRING of SHA-256(key authorization)"
    );
}

#[tokio::test]
async fn the_sni_is_matched_without_regard_to_case() {
    let (_solver, addr) = presenting(&challenge("A.Example.Test", "token-a")).await;
    handshake(addr, "a.example.TEST", &[b"acme-tls/1"])
        .await
        .expect("DNS names compare case-insensitively");
}

#[tokio::test]
async fn another_sni_fails_the_handshake() {
    let (_solver, addr) = presenting(&challenge("a.example.test", "token-a")).await;
    assert!(
        handshake(addr, "b.example.test", &[b"acme-tls/1"])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_client_not_offering_acme_tls_fails_the_handshake() {
    let (_solver, addr) = presenting(&challenge("a.example.test", "token-a")).await;
    assert!(
        handshake(addr, "a.example.test", &[]).await.is_err(),
        "no ALPN"
    );
    assert!(
        handshake(addr, "a.example.test", &[b"h2", b"http/1.1"])
            .await
            .is_err(),
        "other protocols only"
    );
}

#[tokio::test]
async fn two_names_share_one_listener_and_are_cleaned_up_separately() {
    let a = challenge("a.example.test", "token-a");
    let b = challenge("b.example.test", "token-b");
    let (solver, addr) = presenting(&a).await;
    solver.present(&b).await.expect("present b");
    assert_eq!(solver.local_addr().await, Some(addr), "one listener");

    solver.cleanup(&a).await.expect("cleanup a");

    assert!(
        handshake(addr, "a.example.test", &[b"acme-tls/1"])
            .await
            .is_err(),
        "a cleaned-up name fails the handshake"
    );
    handshake(addr, "b.example.test", &[b"acme-tls/1"])
        .await
        .expect("the other name is still served");
}

/// Regression (issue 12, item 9): the listener stayed open after its last challenge, for as
/// long as the daemon ran.
#[tokio::test]
async fn the_port_closes_with_the_last_challenge_and_opens_again_for_the_next() {
    let a = challenge("a.example.test", "token-a");
    let b = challenge("b.example.test", "token-b");
    let (solver, addr) = presenting(&a).await;
    solver.present(&b).await.expect("present b");

    solver.cleanup(&a).await.expect("cleanup a");
    assert!(port_accepts(addr).await, "b is still presented");

    solver.cleanup(&b).await.expect("cleanup b");
    assert_eq!(solver.local_addr().await, None, "no listener");
    assert!(!port_accepts(addr).await, "the port is closed");

    let c = challenge("c.example.test", "token-c");
    solver.present(&c).await.expect("present c");
    let again = solver.local_addr().await.expect("bound again");
    handshake(again, "c.example.test", &[b"acme-tls/1"])
        .await
        .expect("the next challenge is served");
    solver.cleanup(&c).await.expect("cleanup c");
    assert!(!port_accepts(again).await, "closed again");
}

#[tokio::test]
async fn cleanup_of_an_older_challenge_leaves_a_newer_one_for_the_same_name() {
    let old = challenge("a.example.test", "token-old");
    let new = challenge("a.example.test", "token-new");
    let (solver, addr) = presenting(&old).await;
    solver
        .present(&new)
        .await
        .expect("present the newer challenge");

    solver
        .cleanup(&old)
        .await
        .expect("cleanup the older challenge");

    handshake(addr, "a.example.test", &[b"acme-tls/1"])
        .await
        .expect("the newer challenge is still served");
}

#[tokio::test]
async fn cleanup_without_present_succeeds() {
    let solver = solver_on("127.0.0.1:0".parse().expect("address"));
    solver
        .cleanup(&challenge("a.example.test", "token-a"))
        .await
        .expect("nothing to remove is not an error");
}

#[tokio::test]
async fn a_wildcard_or_another_challenge_type_is_refused() {
    let solver = solver_on("127.0.0.1:0".parse().expect("address"));
    let wildcard = Challenge {
        wildcard: true,
        ..challenge("example.test", "token-a")
    };
    let message = solver
        .present(&wildcard)
        .await
        .expect_err("refused")
        .to_string();
    assert!(message.contains("*.example.test"), "{message}");
    assert!(message.contains("dns-01"), "{message}");

    let http = Challenge {
        kind: ChallengeKind::Http01,
        ..challenge("example.test", "token-a")
    };
    let message = solver
        .present(&http)
        .await
        .expect_err("refused")
        .to_string();
    assert!(message.contains("http-01"), "{message}");
    assert_eq!(
        solver.local_addr().await,
        None,
        "nothing bound for refused challenges"
    );
}

#[tokio::test]
async fn shutdown_releases_the_port_before_it_returns() {
    let (solver, addr) = presenting(&challenge("a.example.test", "token-a")).await;
    solver.shutdown().await;
    assert!(!port_accepts(addr).await);
    TcpListener::bind(addr)
        .await
        .expect("the port is free again");
}

#[tokio::test]
async fn dropping_the_solver_releases_the_port() {
    let (solver, addr) = presenting(&challenge("a.example.test", "token-a")).await;
    drop(solver);
    // The listener task is aborted on drop and goes away at the runtime's next turn.
    for _ in 0..100 {
        if TcpListener::bind(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{addr} is still bound after the solver was dropped");
}

#[tokio::test]
async fn a_port_in_use_is_reported_with_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = taken.local_addr().expect("local addr");
    let solver = solver_on(addr);

    let message = solver
        .present(&challenge("a.example.test", "token-a"))
        .await
        .expect_err("the port is taken")
        .to_string();

    assert!(
        message.contains(&format!("cannot listen on {addr}")),
        "{message}"
    );
    assert!(message.contains("already listens there"), "{message}");
}
