use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::Error;

/// The HTTP client the ACME engine talks through: system roots plus an optional extra
/// bundle, a timeout on every request, and a debug line per request.
#[derive(Clone)]
pub(crate) struct AcmeHttp {
    client: HyperClient<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    timeout: Duration,
}

impl AcmeHttp {
    pub(crate) fn new(ca_bundle: Option<&Path>, timeout: Duration) -> Result<AcmeHttp, Error> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_bundle {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bundle_error(path, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bundle_error(path, e))?;
            if certs.is_empty() {
                return Err(bundle_error(path, "no PEM certificate in it"));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bundle_error(path, e))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(
            rustls::crypto::aws_lc_rs::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Certificate(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        Ok(AcmeHttp {
            client: HyperClient::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }
}

fn bundle_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Certificate(format!("ca_bundle {}: {reason}", path.display()))
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let timeout = self.timeout;
        let fut = self.client.request(req);
        Box::pin(async move {
            let started = std::time::Instant::now();
            let result = match tokio::time::timeout(timeout, fut).await {
                Ok(Ok(rsp)) => Ok(BytesResponse::from(rsp)),
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Other(
                    format!("no answer within {timeout:?}").into(),
                )),
            };
            match &result {
                Ok(rsp) => {
                    tracing::debug!(%method, %uri, status = rsp.parts.status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "ACME request")
                }
                Err(e) => tracing::debug!(%method, %uri, error = %e, "ACME request failed"),
            }
            result
        })
    }
}
