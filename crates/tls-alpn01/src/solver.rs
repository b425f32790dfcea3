use std::fmt;
use std::net::SocketAddr;

use acme_core::{Challenge, ChallengeKind, Solver};
use async_trait::async_trait;
use tracing::debug;

use crate::server::ChallengeServer;
use crate::{Error, TlsAlpn01Config};

/// Answers TLS-ALPN-01 challenges from a built-in TLS listener.
///
/// The listener binds on the first [`present`](Solver::present), is shared by every
/// challenge presented meanwhile, and closes when the last of them is cleaned up (or the
/// solver is dropped or [`shutdown`](TlsAlpn01Solver::shutdown)); it completes a handshake
/// only for the `acme-tls/1` protocol and the name of a challenge presented and not yet
/// cleaned up.
pub struct TlsAlpn01Solver {
    name: String,
    server: ChallengeServer,
}

impl TlsAlpn01Solver {
    /// Builds the solver named `name` (its key under `[solvers]`). Nothing is bound until
    /// `present`.
    pub fn new(name: String, config: TlsAlpn01Config) -> TlsAlpn01Solver {
        TlsAlpn01Solver {
            name,
            server: ChallengeServer::new(config.listen),
        }
    }

    /// The address the challenge listener is bound to (the real port when `listen` asked
    /// for port 0); `None` before the first `present`.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        self.server.local_addr().await
    }

    /// Stops the challenge listener and closes its connections; the port is free when this
    /// returns. A later `present` binds again.
    pub async fn shutdown(&self) {
        self.server.shutdown().await;
    }

    fn check(challenge: &Challenge) -> Result<(), Error> {
        if challenge.kind != ChallengeKind::TlsAlpn01 {
            return Err(Error::WrongKind(challenge.kind));
        }
        Ok(())
    }

    async fn try_present(&self, challenge: &Challenge) -> Result<(), Error> {
        Self::check(challenge)?;
        if challenge.wildcard {
            return Err(Error::Wildcard {
                identifier: challenge.identifier.clone(),
            });
        }
        self.server
            .present(
                &self.name,
                &challenge.identifier,
                &challenge.token,
                &challenge.key_authorization,
            )
            .await?;
        debug!(
            solver = self.name,
            identifier = challenge.identifier,
            token = challenge.token,
            "tls-alpn-01 challenge presented"
        );
        Ok(())
    }

    async fn try_cleanup(&self, challenge: &Challenge) -> Result<(), Error> {
        Self::check(challenge)?;
        self.server
            .remove(&challenge.identifier, &challenge.token)
            .await;
        debug!(
            solver = self.name,
            identifier = challenge.identifier,
            token = challenge.token,
            "tls-alpn-01 challenge cleaned up"
        );
        Ok(())
    }

    fn wrap(&self, error: Error) -> acme_core::Error {
        acme_core::Error::Solver {
            solver: self.name.clone(),
            kind: error.kind(),
            source: Box::new(error),
        }
    }
}

#[async_trait]
impl Solver for TlsAlpn01Solver {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChallengeKind {
        ChallengeKind::TlsAlpn01
    }

    async fn present(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        self.try_present(challenge)
            .await
            .map_err(|error| self.wrap(error))
    }

    async fn cleanup(&self, challenge: &Challenge) -> Result<(), acme_core::Error> {
        self.try_cleanup(challenge)
            .await
            .map_err(|error| self.wrap(error))
    }
}

impl fmt::Debug for TlsAlpn01Solver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The certificates carry their keys: show only where challenges go.
        f.debug_struct("TlsAlpn01Solver")
            .field("name", &self.name)
            .field("listen", &self.server.listen())
            .finish_non_exhaustive()
    }
}
