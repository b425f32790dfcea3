//! The HTTP server for `/metrics`, `/healthz` and `/readyz`.
//!
//! Connections are served by hyper directly rather than through `axum::serve`: its graceful
//! shutdown waits for every open connection, so one client that never finishes its request
//! head would hold up the daemon's exit. Here a connection gets a bounded time to send its
//! head and to live, the number of open connections is capped, and cancellation drops the
//! listener and aborts every connection at once. Scrapes are short, so nothing is lost.

use std::net::SocketAddr;
use std::time::Duration;

use acme_core::CancellationToken;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use listener::{Limits, Listener, WhenFull};
use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::{Metrics, ObserveError, Readiness};

/// The content type of the Prometheus text format.
const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open, keep-alive included (Prometheus reuses its
/// connection between scrapes and reconnects when it is closed).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// The bounds of the listener: connections served at once; further ones are closed as
/// soon as they are accepted.
const LIMITS: Limits = Limits {
    name: "metrics server",
    max_connections: 64,
    when_full: WhenFull::Refuse,
};

/// A bound metrics listener, not serving yet: bind at start-up to report a busy port at
/// once, then spawn [`serve`](MetricsServer::serve).
#[derive(Debug)]
pub struct MetricsServer {
    listener: Listener,
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    readiness: Readiness,
}

impl MetricsServer {
    /// Binds `addr`; a busy or forbidden address is reported here, before serving starts.
    pub async fn bind(addr: SocketAddr) -> Result<MetricsServer, ObserveError> {
        let listener = Listener::bind(addr)
            .await
            .map_err(|source| ObserveError::Bind { addr, source })?;
        Ok(MetricsServer { listener })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled, then closes the listener and every connection.
    pub async fn serve(self, metrics: Metrics, readiness: Readiness, shutdown: CancellationToken) {
        let addr = self.listener.local_addr();
        info!(%addr, "serving /metrics, /healthz and /readyz");
        let router = router(AppState { metrics, readiness });
        let serving = self.listener.serve(LIMITS, move |stream| {
            serve_connection(stream, router.clone())
        });
        shutdown.cancelled().await;
        serving.stop().await;
        debug!(%addr, "metrics server stopped");
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn scrape(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, EXPOSITION_CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.readiness.check() {
        Ok(()) => "ready\n".into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response(),
    }
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!("metrics connection ended with an error: {error}"),
        Err(_) => debug!("metrics connection closed after {CONNECTION_LIFETIME:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;

    use super::*;

    struct Running {
        addr: SocketAddr,
        metrics: Metrics,
        recorder: metrics_exporter_prometheus::PrometheusRecorder,
        readiness: Readiness,
        shutdown: CancellationToken,
        task: JoinHandle<()>,
    }

    async fn start() -> Running {
        let (metrics, recorder) = Metrics::with_recorder().expect("recorder");
        let readiness = Readiness::new();
        let shutdown = CancellationToken::new();
        let server = MetricsServer::bind(([127, 0, 0, 1], 0).into())
            .await
            .expect("bind");
        let addr = server.local_addr();
        let task = tokio::spawn(server.serve(metrics.clone(), readiness.clone(), shutdown.clone()));
        Running {
            addr,
            metrics,
            recorder,
            readiness,
            shutdown,
            task,
        }
    }

    struct Answer {
        status: u16,
        head: String,
        body: String,
    }

    /// A plain HTTP/1.1 GET, as a scraper or a kubelet probe would send it.
    async fn get(addr: SocketAddr, path: &str) -> Answer {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("head and body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        Answer {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    #[tokio::test]
    async fn metrics_serves_certificate_and_acme_client_series_as_prometheus_text() {
        let server = start().await;
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        server
            .metrics
            .record_certificate("web", "le", at(1_000), at(9_000), at(6_000));
        ::metrics::with_local_recorder(&server.recorder, || {
            ::metrics::counter!(
                "acmekeep_acme_client_request_count",
                "method" => "POST", "host" => "acme.test", "status" => "201"
            )
            .increment(3);
        });

        let answer = get(server.addr, "/metrics").await;
        assert_eq!(answer.status, 200);
        assert!(
            answer
                .head
                .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{}",
            answer.head
        );
        for line in [
            "acmekeep_certificate_expiration_timestamp_seconds{name=\"web\",issuer=\"le\"} 9000",
            "acmekeep_certificate_renewal_timestamp_seconds{name=\"web\",issuer=\"le\"} 6000",
            "acmekeep_acme_client_request_count{method=\"POST\",host=\"acme.test\",status=\"201\"} 3",
        ] {
            assert!(
                answer.body.lines().any(|l| l == line),
                "missing {line:?} in:\n{}",
                answer.body
            );
        }
    }

    #[tokio::test]
    async fn healthz_answers_ok_while_the_process_runs() {
        let server = start().await;
        let answer = get(server.addr, "/healthz").await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "ok\n"));
    }

    #[tokio::test]
    async fn readyz_is_503_with_the_reason_until_loaded_and_while_a_certificate_is_expired() {
        let server = start().await;
        let answer = get(server.addr, "/readyz").await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (503, "not ready: configuration not loaded\n")
        );

        server.readiness.set_loaded(true);
        let answer = get(server.addr, "/readyz").await;
        assert_eq!((answer.status, answer.body.as_str()), (200, "ready\n"));

        server.readiness.set_expired(["web", "api"]);
        let answer = get(server.addr, "/readyz").await;
        assert_eq!(
            (answer.status, answer.body.as_str()),
            (503, "not ready: expired certificates: api, web\n")
        );
    }

    #[tokio::test]
    async fn other_paths_are_not_found() {
        let server = start().await;
        assert_eq!(get(server.addr, "/").await.status, 404);
    }

    #[tokio::test]
    async fn cancelling_stops_the_server_and_closes_open_connections() {
        let server = start().await;
        let mut idle = TcpStream::connect(server.addr).await.expect("connect");
        // Let the server accept the idle connection before it is told to stop.
        assert_eq!(get(server.addr, "/healthz").await.status, 200);
        server.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server.task)
            .await
            .expect("server stops promptly")
            .expect("server task");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut rest))
            .await
            .expect("idle connection is closed");
        assert!(read.is_err() || rest.is_empty(), "{rest:?}");
        assert!(
            TcpStream::connect(server.addr).await.is_err(),
            "listener closed"
        );
    }

    #[tokio::test]
    async fn an_address_in_use_is_named_in_the_error() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = MetricsServer::bind(addr).await.expect_err("port is taken");
        let message = err.to_string();
        assert!(message.contains(&addr.to_string()), "{message}");
        assert!(message.contains("daemon.listen_metrics"), "{message}");
    }
}
