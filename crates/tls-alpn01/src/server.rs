//! The challenge listener: a TLS server that completes a handshake only for `acme-tls/1`
//! with the SNI of a presented name, serving that name's challenge certificate, and closes
//! the connection right after.
//!
//! It listens only while a challenge is presented: bound by the first `present`, closed when
//! the last presented challenge is removed. Its bounds: a connection lives at most
//! [`HANDSHAKE_TIMEOUT`], and at most [`MAX_CONNECTIONS`] are open at once; a further one
//! closes the oldest. A validator completes its handshake within milliseconds of
//! connecting, so the oldest connection is the one least likely to be it, and a flood of
//! idle connections can neither use up the process's descriptors nor keep a validator out.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use listener::{Limits, Listener, Serving, WhenFull};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info};

use crate::Error;
use crate::cert::challenge_certificate;

/// The ALPN protocol name of RFC 8737 §6.2.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// How long a client may take to complete the handshake and the closing exchange.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many connections are open at once; a further one closes the oldest.
const MAX_CONNECTIONS: usize = 128;
/// The bounds of the listener.
const LIMITS: Limits = Limits {
    name: "tls-alpn-01 challenge listener",
    max_connections: MAX_CONNECTIONS,
    when_full: WhenFull::CloseOldest,
};

/// The challenge certificates currently presented, by lowercase name.
#[derive(Default)]
struct ChallengeCertificates {
    by_name: RwLock<HashMap<String, Presented>>,
}

/// One presented challenge: its token (so a late cleanup of an older challenge for the same
/// name leaves a newer one alone) and its certificate.
struct Presented {
    token: String,
    certificate: Arc<CertifiedKey>,
}

impl ResolvesServerCert for ChallengeCertificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme_tls = client_hello
            .alpn()?
            .any(|protocol| protocol == ACME_TLS_ALPN);
        if !offers_acme_tls {
            debug!("refusing a handshake that does not offer acme-tls/1");
            return None;
        }
        let name = client_hello.server_name()?.to_ascii_lowercase();
        let certificate = self
            .by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .map(|presented| Arc::clone(&presented.certificate));
        if certificate.is_none() {
            debug!(
                sni = name,
                "refusing a handshake for a name with no challenge"
            );
        }
        certificate
    }
}

impl fmt::Debug for ChallengeCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Certificates carry their signing keys: list only the names.
        let names = self.by_name.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_set().entries(names.keys()).finish()
    }
}

/// The challenge listener: the certificates presented and, while at least one is, a bound
/// listener.
pub(crate) struct ChallengeServer {
    listen: SocketAddr,
    provider: Arc<CryptoProvider>,
    certificates: Arc<ChallengeCertificates>,
    /// The serving listener, while a challenge is presented; dropping it stops it.
    running: Mutex<Option<Serving>>,
}

impl ChallengeServer {
    /// A server for `listen`; nothing is bound yet.
    pub(crate) fn new(listen: SocketAddr) -> Self {
        ChallengeServer {
            listen,
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            certificates: Arc::default(),
            running: Mutex::new(None),
        }
    }

    /// The configured address.
    pub(crate) fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Serves a fresh challenge certificate for `identifier`, binding the listener first
    /// if needed. A challenge presented earlier for the same name is replaced.
    pub(crate) async fn present(
        &self,
        solver: &str,
        identifier: &str,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), Error> {
        let certificate = challenge_certificate(&self.provider, identifier, key_authorization)?;
        // Held while the certificate is added, so a concurrent `remove` of the last other
        // challenge cannot close the listener in between.
        let mut running = self.running.lock().await;
        if running.is_none() {
            *running = Some(self.start(solver).await?);
        }
        self.certificates
            .by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                identifier.to_ascii_lowercase(),
                Presented {
                    token: token.to_string(),
                    certificate: Arc::new(certificate),
                },
            );
        Ok(())
    }

    /// Stops serving the certificate of `identifier` if it belongs to `token`; other names
    /// stay. Removing the last one closes the listener; the port is free when this returns.
    pub(crate) async fn remove(&self, identifier: &str, token: &str) {
        let mut running = self.running.lock().await;
        let none_left = {
            let mut by_name = self
                .certificates
                .by_name
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let name = identifier.to_ascii_lowercase();
            if by_name
                .get(&name)
                .is_some_and(|presented| presented.token == token)
            {
                by_name.remove(&name);
            }
            by_name.is_empty()
        };
        if none_left && let Some(stopped) = running.take() {
            stop(stopped).await;
        }
    }

    /// The address actually bound, once the server runs.
    pub(crate) async fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().await.as_ref().map(Serving::local_addr)
    }

    /// Closes the listener and every open connection; returns once the port is released.
    pub(crate) async fn shutdown(&self) {
        if let Some(running) = self.running.lock().await.take() {
            stop(running).await;
        }
    }

    /// Binds the listener and starts serving.
    async fn start(&self, solver: &str) -> Result<Serving, Error> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.certificates.clone());
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let bind_error = |source| Error::Bind {
            addr: self.listen,
            source,
        };
        let listener = Listener::bind(self.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr();
        let serving = tracing::info_span!("tls_alpn01", solver, %addr)
            .in_scope(|| listener.serve(LIMITS, move |stream| answer(stream, acceptor.clone())));
        info!(solver, %addr, "tls-alpn-01 challenge listener listening");
        Ok(serving)
    }
}

/// Stops a running listener and its connections; returns once the port is released.
async fn stop(running: Serving) {
    let addr = running.local_addr();
    running.stop().await;
    info!(%addr, "tls-alpn-01 challenge listener closed");
}

/// Completes (or refuses) one handshake, then closes the connection: RFC 8737 §3 has the
/// CA close it once it has seen the certificate, and nothing else is ever served.
async fn answer(stream: TcpStream, acceptor: TlsAcceptor) {
    let exchange = async {
        let mut tls = acceptor.accept(stream).await?;
        debug!("tls-alpn-01 handshake completed");
        tls.shutdown().await
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, exchange).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!("tls-alpn-01 connection ended with an error: {error}"),
        Err(_) => debug!("tls-alpn-01 connection closed after {HANDSHAKE_TIMEOUT:?}"),
    }
}
