//! A fault-injecting HTTPS proxy in front of pebble: it forwards every request unchanged,
//! except the new-order requests a test told it to refuse (429 `rateLimited`, 503), each
//! answered with an ACME problem document and a `Retry-After`.
//!
//! It serves pebble's own listener certificate (so the issuer's `ca_bundle` stays
//! [`Pebble::ca_bundle`]) and passes the client's `Host` on: pebble builds every URL it
//! hands out (directory, `Location`, `Link`) from that header and checks each JWS `url`
//! against it, so the whole exchange runs through the proxy with no rewriting.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::pebble::Pebble;
use crate::testdir::TestDir;

/// How long a client may take over its TLS handshake with the proxy.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request body the proxy reads (ACME requests are a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// How the proxy answers a refused request.
#[derive(Debug, Clone)]
pub struct Refusal {
    status: u16,
    problem: &'static str,
    retry_after: String,
}

impl Refusal {
    /// `429 Too Many Requests` with problem `rateLimited` and `Retry-After: retry_after`
    /// (delta-seconds or an HTTP-date, written as given).
    pub fn rate_limited(retry_after: &str) -> Refusal {
        Refusal {
            status: 429,
            problem: "rateLimited",
            retry_after: retry_after.to_string(),
        }
    }

    /// `503 Service Unavailable` with problem `serverInternal` and `Retry-After: retry_after`.
    pub fn unavailable(retry_after: &str) -> Refusal {
        Refusal {
            status: 503,
            problem: "serverInternal",
            retry_after: retry_after.to_string(),
        }
    }
}

/// What the proxy was told to do and what it saw, shared with its handler.
#[derive(Debug, Default)]
struct Faults {
    /// The path of pebble's newOrder resource (from its directory).
    new_order_path: String,
    /// Refusals still to give, one per new-order request, in order.
    refusals: VecDeque<Refusal>,
    /// When each new-order request arrived, refused or forwarded.
    new_orders: Vec<SystemTime>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    faults: Arc<Mutex<Faults>>,
}

/// A running proxy on a free loopback port in front of one pebble; stopped on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Mutex<Faults>>,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("faults", &self.faults)
            .finish()
    }
}

impl FaultProxy {
    /// Starts the proxy in front of `pebble` (whose files are under `dir`), forwarding
    /// everything until told otherwise; learns pebble's newOrder path from its directory.
    pub fn start(dir: &TestDir, pebble: &Pebble) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fault proxy");
        let workdir = dir.path().join("pebble");
        let tls = server_tls(
            &workdir.join("listener-cert.pem"),
            &workdir.join("listener-key.pem"),
        );
        let client = upstream_client(pebble);
        let upstream = pebble
            .directory_url()
            .strip_suffix("/dir")
            .unwrap_or_else(|| panic!("pebble's directory {} ends in /dir", pebble.directory_url()))
            .to_string();
        let faults = Arc::new(Mutex::new(Faults::default()));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let addr = runtime.block_on(async {
            let tcp = TcpListener::bind(("127.0.0.1", 0))
                .await
                .expect("bind the fault proxy");
            let addr = tcp.local_addr().expect("the fault proxy's address");
            let directory = client
                .get(format!("{upstream}/dir"))
                .header(header::HOST, addr.to_string())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .unwrap_or_else(|err| panic!("the proxy cannot read pebble's directory: {err}"));
            let directory: serde_json::Value = directory
                .json()
                .await
                .expect("pebble's directory is JSON");
            let new_order = directory["newOrder"]
                .as_str()
                .expect("pebble's directory names newOrder");
            let prefix = format!("https://{addr}");
            let path = new_order.strip_prefix(&prefix).unwrap_or_else(|| {
                panic!("pebble's newOrder {new_order} is not under the proxy's {prefix}: Host was not honoured")
            });
            lock(&faults).new_order_path = path.to_string();
            let proxy = Proxy {
                upstream,
                client,
                faults: faults.clone(),
            };
            let app = Router::new().fallback(forward).with_state(proxy);
            let listener = TlsListener {
                tcp,
                acceptor: TlsAcceptor::from(Arc::new(tls)),
            };
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            addr
        });
        FaultProxy {
            addr,
            faults,
            shutdown: Some(shutdown),
            runtime: Some(runtime),
        }
    }

    /// The ACME directory URL through the proxy, `https://127.0.0.1:PORT/dir`.
    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.addr)
    }

    /// Answers the next `times` new-order requests with `refusal` instead of forwarding them.
    pub fn refuse_new_orders(&self, refusal: Refusal, times: usize) {
        lock(&self.faults)
            .refusals
            .extend(std::iter::repeat_n(refusal, times));
    }

    /// When each new-order request arrived so far, refused or forwarded.
    pub fn new_orders(&self) -> Vec<SystemTime> {
        lock(&self.faults).new_orders.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn lock(faults: &Mutex<Faults>) -> MutexGuard<'_, Faults> {
    faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forwards one request to pebble, or refuses it when it is a new order and a refusal is due.
async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let refusal = {
        let mut faults = lock(&proxy.faults);
        if parts.method == "POST" && parts.uri.path() == faults.new_order_path {
            faults.new_orders.push(SystemTime::now());
            faults.refusals.pop_front()
        } else {
            None
        }
    };
    if let Some(refusal) = refusal {
        return refuse(&refusal);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::BAD_REQUEST, "unreadable request body").into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let answer = proxy
        .client
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            return (StatusCode::BAD_GATEWAY, format!("pebble: {err}")).into_response();
        }
    };
    let status = answer.status();
    let headers = end_to_end(answer.headers());
    let body = answer.bytes().await.unwrap_or_else(|_| Bytes::new());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// An ACME problem document answer for `refusal`.
fn refuse(refusal: &Refusal) -> Response {
    let body = serde_json::json!({
        "type": format!("urn:ietf:params:acme:error:{}", refusal.problem),
        "detail": format!("refused by the fault proxy; retry after {}", refusal.retry_after),
        "status": refusal.status,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status).expect("refusal statuses are valid");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&refusal.retry_after).expect("a Retry-After header value"),
    );
    response
}

/// `headers` without the hop-by-hop ones (and the length, which each side sets itself).
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
    ] {
        kept.remove(name);
    }
    kept
}

/// The TLS server side: pebble's listener certificate and key.
fn server_tls(cert: &std::path::Path, key: &std::path::Path) -> rustls::ServerConfig {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .unwrap_or_else(|err| panic!("read {}: {err}", cert.display()));
    let key = PrivateKeyDer::from_pem_file(key)
        .unwrap_or_else(|err| panic!("read {}: {err}", key.display()));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("pebble's listener certificate and key form a TLS identity");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// The client side: trusts only pebble's listener CA.
fn upstream_client(pebble: &Pebble) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pebble.ca_bundle()).expect("read pebble's CA") {
        roots
            .add(cert.expect("pebble's CA is PEM"))
            .expect("pebble's CA is a usable root");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTPS client for pebble")
}

/// A TCP listener that hands axum only connections whose TLS handshake completed.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            if let Ok(Ok(tls)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp)).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
