//! The built-in challenge server of listen mode.
//!
//! Routing is axum; connections are served by hyper directly rather than by `axum::serve`,
//! for two reasons: bounds on what one client can hold (the port stays open on the Internet
//! for as long as the daemon runs), and connection tasks owned by the server task, so that
//! stopping the server also ends keep-alive connections.
//!
//! The bounds: a request head must arrive within [`HEADER_READ_TIMEOUT`] (a slowloris client
//! is cut off) and fit in [`MAX_REQUEST_HEAD`] bytes (hyper answers `431` beyond it); a
//! connection lives at most [`CONNECTION_LIFETIME`]; at most [`MAX_CONNECTIONS`] are served
//! at once, and further ones wait in the kernel's listen backlog, unaccepted, so a flood of
//! connections costs no memory here. Every answer other than a key authorization is an
//! empty `404`/`405`: nothing of the request is echoed back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use listener::{Limits, Listener, Serving, WhenFull};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tracing::{debug, info};

use crate::Error;
use crate::token::is_valid_token;

/// The path prefix a CA fetches; the token is the one segment after it.
const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";
/// How long a client may take to send a request head (also between keep-alive requests).
/// A CA's validator sends its request at once; five seconds is ample for it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may live, keep-alive included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The largest request head accepted (hyper answers 431 beyond it); hyper's minimum is 8 KiB.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How many connections are served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// The bounds of the listener.
const LIMITS: Limits = Limits {
    name: "http-01 challenge server",
    max_connections: MAX_CONNECTIONS,
    when_full: WhenFull::Wait,
};
/// The longest request path written to the log.
const MAX_LOGGED_PATH: usize = 256;

/// Token → key authorization, for the challenges currently presented.
type Tokens = Arc<RwLock<HashMap<String, String>>>;

/// The challenge server: a token map and, once the first challenge is presented, a listener.
pub(crate) struct ChallengeServer {
    listen: SocketAddr,
    tokens: Tokens,
    /// The serving listener, once the first challenge is presented; dropping it stops it.
    running: Mutex<Option<Serving>>,
}

impl ChallengeServer {
    /// A server for `listen`; nothing is bound yet.
    pub(crate) fn new(listen: SocketAddr) -> Self {
        ChallengeServer {
            listen,
            tokens: Tokens::default(),
            running: Mutex::new(None),
        }
    }

    /// The configured address.
    pub(crate) fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Serves `key_authorization` for `token`, binding the listener first if needed.
    pub(crate) async fn present(
        &self,
        solver: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), Error> {
        self.start(solver).await?;
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_string(), key_authorization.to_string());
        Ok(())
    }

    /// Stops serving `token`; other tokens stay.
    pub(crate) fn remove(&self, token: &str) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }

    /// The address actually bound, once the server runs.
    pub(crate) async fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().map(Serving::local_addr)
    }

    /// Closes the listener and every open connection; returns once the port is released.
    pub(crate) async fn shutdown(&self) {
        if let Some(running) = self.running.lock().await.take() {
            let addr = running.local_addr();
            running.stop().await;
            debug!(%addr, "http-01 challenge server stopped");
        }
    }

    async fn start(&self, solver: &str) -> Result<(), Error> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Ok(());
        }
        let bind_error = |source| Error::Bind {
            addr: self.listen,
            source,
        };
        let listener = Listener::bind(self.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr();
        let router = router(self.tokens.clone());
        let serving = tracing::info_span!("http01", solver, %addr).in_scope(|| {
            listener.serve(LIMITS, move |stream| {
                serve_connection(stream, router.clone())
            })
        });
        info!(solver, %addr, "http-01 challenge server listening");
        *running = Some(serving);
        Ok(())
    }
}

fn router(tokens: Tokens) -> Router {
    Router::new()
        .route(&format!("{CHALLENGE_PREFIX}{{token}}"), get(serve_token))
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(tokens)
}

/// Answers with the key authorization of a presented token. The raw (still percent-encoded)
/// path segment is checked, so `%2e%2e` or `%2F` never match a token.
async fn serve_token(State(tokens): State<Tokens>, uri: Uri) -> Response {
    let token = uri
        .path()
        .strip_prefix(CHALLENGE_PREFIX)
        .unwrap_or_default();
    if !is_valid_token(token) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let key_authorization = tokens
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(token)
        .cloned();
    match key_authorization {
        Some(body) => ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// Logs each request's method, path and status (never the response body).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path();
    let path = path.get(..MAX_LOGGED_PATH).unwrap_or(path).to_string();
    let response = next.run(request).await;
    debug!(%method, path, status = response.status().as_u16(), "http-01 request");
    response
}

/// Serves one connection within the bounds above.
async fn serve_connection(stream: TcpStream, router: Router) {
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!("connection ended with an error: {error}"),
        Err(_) => debug!("connection closed after {CONNECTION_LIFETIME:?}"),
    }
}
