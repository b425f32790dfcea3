use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use acme_core::{Challenge, ChallengeKind, Solver};
use async_trait::async_trait;
use tracing::debug;

use crate::server::ChallengeServer;
use crate::token::is_valid_token;
use crate::{Error, Http01Config};

/// Answers HTTP-01 challenges, from a built-in server or through a webroot.
///
/// In listen mode the server binds on the first [`present`](Solver::present), is shared by
/// every challenge until the solver is dropped or [`shutdown`](Http01Solver::shutdown), and
/// serves only the tokens presented and not yet cleaned up.
pub struct Http01Solver {
    name: String,
    mode: Mode,
}

enum Mode {
    Listen(ChallengeServer),
    Webroot(PathBuf),
}

impl Http01Solver {
    /// Builds the solver named `name` (its key under `[solvers]`), checking that exactly one
    /// of `listen` and `webroot` is set. Nothing is bound or written until `present`.
    pub fn new(name: String, config: Http01Config) -> Result<Http01Solver, Error> {
        let problem = match (config.listen, config.webroot) {
            (Some(listen), None) => {
                return Ok(Http01Solver {
                    name,
                    mode: Mode::Listen(ChallengeServer::new(listen)),
                });
            }
            (None, Some(webroot)) if webroot.is_absolute() => {
                return Ok(Http01Solver {
                    name,
                    mode: Mode::Webroot(webroot),
                });
            }
            (None, Some(webroot)) => format!(
                "`webroot` must be an absolute path, not {:?}",
                webroot.display().to_string()
            ),
            (Some(_), Some(_)) => "set either `listen` or `webroot`, not both".to_string(),
            (None, None) => "set `listen` (the address of a built-in server, usually \
                             \"0.0.0.0:80\" or \"[::]:80\") or `webroot` (the document root \
                             of a web server already listening on port 80)"
                .to_string(),
        };
        Err(Error::Config {
            solver: name,
            problem,
        })
    }

    /// The address the challenge server is bound to (the real port when `listen` asked for
    /// port 0); `None` in webroot mode or before the first `present`.
    pub async fn local_addr(&self) -> Option<SocketAddr> {
        match &self.mode {
            Mode::Listen(server) => server.local_addr().await,
            Mode::Webroot(_) => None,
        }
    }

    /// The document root challenges are written under; `None` in listen mode.
    pub fn webroot(&self) -> Option<&std::path::Path> {
        match &self.mode {
            Mode::Listen(_) => None,
            Mode::Webroot(webroot) => Some(webroot),
        }
    }

    /// Stops the challenge server and closes its connections; the port is free when this
    /// returns. A later `present` binds again. Does nothing in webroot mode.
    pub async fn shutdown(&self) {
        if let Mode::Listen(server) = &self.mode {
            server.shutdown().await;
        }
    }

    fn check(challenge: &Challenge) -> Result<(), Error> {
        if challenge.kind != ChallengeKind::Http01 {
            return Err(Error::WrongKind(challenge.kind));
        }
        if !is_valid_token(&challenge.token) {
            return Err(Error::InvalidToken {
                token: challenge.token.clone(),
            });
        }
        Ok(())
    }

    async fn try_present(&self, challenge: &Challenge) -> Result<(), Error> {
        Self::check(challenge)?;
        match &self.mode {
            Mode::Listen(server) => {
                server
                    .present(&self.name, &challenge.token, &challenge.key_authorization)
                    .await?
            }
            Mode::Webroot(webroot) => {
                crate::webroot::write(webroot, &challenge.token, &challenge.key_authorization)
                    .await?
            }
        }
        debug!(
            solver = self.name,
            identifier = challenge.identifier,
            token = challenge.token,
            "http-01 challenge presented"
        );
        Ok(())
    }

    async fn try_cleanup(&self, challenge: &Challenge) -> Result<(), Error> {
        Self::check(challenge)?;
        match &self.mode {
            Mode::Listen(server) => server.remove(&challenge.token),
            Mode::Webroot(webroot) => crate::webroot::remove(webroot, &challenge.token).await?,
        }
        debug!(
            solver = self.name,
            identifier = challenge.identifier,
            token = challenge.token,
            "http-01 challenge cleaned up"
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
impl Solver for Http01Solver {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChallengeKind {
        ChallengeKind::Http01
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

impl fmt::Debug for Http01Solver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token map holds key authorizations: show only where challenges go.
        let mut debug = f.debug_struct("Http01Solver");
        debug.field("name", &self.name);
        match &self.mode {
            Mode::Listen(server) => debug.field("listen", &server.listen()),
            Mode::Webroot(webroot) => debug.field("webroot", webroot),
        };
        debug.finish()
    }
}
