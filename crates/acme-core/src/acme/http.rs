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

use crate::Error;

/// Requests sent to ACME servers, by `method`, `host` and `status` (a counter).
const REQUEST_COUNT: &str = "acmekeep_acme_client_request_count";
/// How long ACME requests took, by `method`, `host` and `status` (a histogram, seconds).
const REQUEST_DURATION: &str = "acmekeep_acme_client_request_duration_seconds";

/// The HTTP client the ACME engine talks through: system roots plus an optional extra
/// bundle, a timeout on every request, and a debug line and metrics per request.
///
/// The metrics go through the `metrics` facade (no-ops unless the binary installs a
/// recorder). Their labels stay bounded: the path is left out, since order, authorization
/// and certificate URLs are unique per request.
#[derive(Clone)]
pub(crate) struct AcmeHttp {
    client: HyperClient<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>,
    timeout: Duration,
}

impl AcmeHttp {
    pub(crate) fn new(ca_bundle: Option<&Path>, timeout: Duration) -> Result<AcmeHttp, Error> {
        let tls = crate::tls_client_config(ca_bundle)?;
        // Without TCP_NODELAY every JWS POST (written in two parts) waits ~40 ms for the
        // server's delayed ACK: Nagle's algorithm made each issuance three times slower.
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        metrics::describe_counter!(REQUEST_COUNT, "Requests sent to ACME servers.");
        metrics::describe_histogram!(
            REQUEST_DURATION,
            metrics::Unit::Seconds,
            "How long ACME requests took, answer or error."
        );
        Ok(AcmeHttp {
            client: HyperClient::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }
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
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(Transport(Box::new(e))))),
                Err(_) => Err(instant_acme::Error::Other(Box::new(Transport(
                    format!("no answer within {timeout:?}").into(),
                )))),
            };
            let elapsed = started.elapsed();
            let status = match &result {
                Ok(rsp) => {
                    tracing::debug!(%method, %uri, status = rsp.parts.status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "ACME request");
                    rsp.parts.status.as_str().to_string()
                }
                Err(e) => {
                    tracing::debug!(%method, %uri, error = %e, "ACME request failed");
                    "error".to_string()
                }
            };
            let labels = [
                ("method", method.to_string()),
                ("host", host_label(&uri)),
                ("status", status),
            ];
            metrics::counter!(REQUEST_COUNT, &labels).increment(1);
            metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
            result
        })
    }
}

/// The `host` label: host and, when the URL names one, port (never user information).
fn host_label(uri: &http::Uri) -> String {
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-connection HTTP server that answers 404 to whatever it is asked.
    async fn not_found_server() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut head = [0u8; 1024];
            let _ = stream.read(&mut head).await;
            let answer = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            stream.write_all(answer.as_bytes()).await.expect("answer");
        });
        addr
    }

    fn get(url: &str) -> Request<BodyWrapper<Bytes>> {
        Request::get(url)
            .body(BodyWrapper::from(Vec::new()))
            .expect("request")
    }

    #[tokio::test]
    async fn every_request_is_counted_and_timed_by_method_host_and_status() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let addr = not_found_server().await;
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let rsp = http
            .request(get(&format!("http://{addr}/acme/order/1234/5678")))
            .await
            .expect("answer");
        assert_eq!(rsp.parts.status, 404);

        let text = handle.render();
        let labels = format!("method=\"GET\",host=\"{addr}\",status=\"404\"");
        assert!(
            text.contains(&format!(
                "acmekeep_acme_client_request_count{{{labels}}} 1\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "acmekeep_acme_client_request_duration_seconds_count{{{labels}}} 1\n"
            )),
            "{text}"
        );
        assert!(
            !text.contains("/acme/order"),
            "paths stay out of labels: {text}"
        );
    }

    #[tokio::test]
    async fn a_request_without_an_answer_is_counted_with_status_error() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind")
            .local_addr()
            .expect("local addr");
        let http = AcmeHttp::new(None, Duration::from_secs(5)).expect("client");

        let result = http
            .request(get(&format!("http://{closed}/directory")))
            .await;
        assert!(result.is_err());

        let text = handle.render();
        let expected = format!(
            "acmekeep_acme_client_request_count{{method=\"GET\",host=\"{closed}\",status=\"error\"}} 1\n"
        );
        assert!(text.contains(&expected), "{text}");
    }
}

/// A request that got no HTTP answer (connection refused or reset, TLS failure, timeout):
/// the one kind of `instant_acme::Error::Other` that is safe to retry.
#[derive(Debug)]
pub(crate) struct Transport(pub(crate) crate::BoxError);

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Transport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
