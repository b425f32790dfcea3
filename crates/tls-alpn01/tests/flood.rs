//! A flood of idle connections against the challenge listener, in a process of its own so
//! that its descriptor count is this test's alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use acme_core::{Challenge, ChallengeKind, Solver};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tls_alpn01::{TlsAlpn01Config, TlsAlpn01Solver};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// More idle connections than the listener keeps open (128).
const FLOOD: usize = 384;

/// Accepts the challenge certificate unchecked: this test is about getting a handshake at
/// all (listen.rs checks the certificate).
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
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
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An `acme-tls/1` handshake for `sni`, as a validator makes it.
async fn validator_handshake(addr: SocketAddr, sni: &str) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_string()).expect("a valid SNI");
    TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// How many descriptors this process has open.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .count()
}

/// Regression (issue 12, item 9): every idle connection held a descriptor for ten seconds,
/// without bound, so a flood used up the process's descriptors (ACME requests and sink
/// writes then failed). Under a flood of idle connections the listener holds at most its
/// bound, and a validator arriving after the flood still gets its handshake, twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_holds_few_descriptors_and_keeps_no_validator_out() {
    let solver = TlsAlpn01Solver::new(
        "alpn".to_string(),
        TlsAlpn01Config {
            listen: "127.0.0.1:0".parse().expect("address"),
        },
    );
    let challenge = Challenge {
        kind: ChallengeKind::TlsAlpn01,
        identifier: "a.example.test".to_string(),
        wildcard: false,
        token: "token-a".to_string(),
        key_authorization: "token-a.thumbprint".to_string(),
        dns_value: String::new(),
    };
    solver.present(&challenge).await.expect("present");
    let addr = solver.local_addr().await.expect("bound");
    let before = open_descriptors();

    let mut idle = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        idle.push(TcpStream::connect(addr).await.expect("connect"));
    }
    for attempt in 1..=2 {
        validator_handshake(addr, "a.example.test")
            .await
            .unwrap_or_else(|e| panic!("handshake {attempt} after the flood: {e}"));
    }

    // The validator's connections were accepted after every idle one, so each idle one has
    // been accepted too; a closed one is released at the runtime's next turn.
    let server_side = || open_descriptors().saturating_sub(before + FLOOD);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server_side() > 128 + 16 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server_side() <= 128 + 16,
        "the listener holds {} descriptors for {FLOOD} idle connections",
        server_side()
    );
    drop(idle);
    solver.cleanup(&challenge).await.expect("cleanup");
}
