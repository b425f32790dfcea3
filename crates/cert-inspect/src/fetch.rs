use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::Error;

/// Connects to `host:port`, sends `sni` as the server name (an IP address sends none, as
/// browsers do) and returns the certificates the server sent, leaf first, exactly as sent.
///
/// The chain is accepted whatever it is, so that a broken one can be analyzed
/// ([`crate::analyze_chain`]) rather than just failing the handshake; the handshake
/// signature is still checked against the leaf. Nothing is sent after the handshake.
pub async fn fetch_served_chain(
    host: &str,
    port: u16,
    sni: &str,
    timeout: Duration,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let server_name = ServerName::try_from(sni.to_string()).map_err(|_| Error::ServerName {
        name: sni.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(RecordOnly {
        algorithms: provider.signature_verification_algorithms,
    });
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| handshake_error(&address, sni, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let handshake = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| Error::Connect {
                address: address.clone(),
                reason: e.to_string(),
            })?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| handshake_error(&address, sni, e.to_string()))?;
        let (_, connection) = tls.get_ref();
        Ok(connection
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|der| der.clone().into_owned())
            .collect::<Vec<_>>())
    };
    let chain = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| Error::Timeout {
            address: address.clone(),
            timeout,
        })??;
    if chain.is_empty() {
        return Err(handshake_error(
            &address,
            sni,
            "the server sent no certificate".to_string(),
        ));
    }
    Ok(chain)
}

fn handshake_error(address: &str, sni: &str, reason: String) -> Error {
    Error::Handshake {
        address: address.to_string(),
        sni: sni.to_string(),
        reason,
    }
}

/// Accepts any certificate chain (the analysis judges it afterwards) but checks the
/// handshake signatures, so the chain read back is the one the server holds the key of.
#[derive(Debug)]
struct RecordOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for RecordOnly {
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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
