use std::io;
use std::net::SocketAddr;

use acme_core::ChallengeKind;

/// Everything that can go wrong in the TLS-ALPN-01 solver.
///
/// At the [`acme_core::Solver`] boundary these become [`acme_core::Error::Solver`], which
/// adds the solver's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The challenge listener could not listen on its address.
    #[error("cannot listen on {addr}: {source}{}", bind_hint(.source))]
    Bind {
        /// The configured `listen` address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The solver was handed a challenge of another type.
    #[error("cannot answer a {0} challenge, only tls-alpn-01")]
    WrongKind(ChallengeKind),
    /// RFC 8737 §3 forbids TLS-ALPN-01 for wildcard names.
    #[error("cannot prove control of *.{identifier} with tls-alpn-01: wildcard names need dns-01")]
    Wildcard {
        /// The name without its `*.` prefix.
        identifier: String,
    },
    /// The challenge certificate for a name could not be built.
    #[error("cannot build the tls-alpn-01 certificate for {identifier:?}: {reason}")]
    Certificate {
        /// The name the certificate was for.
        identifier: String,
        /// What rcgen or rustls refused.
        reason: String,
    },
    /// The TLS server configuration could not be built.
    #[error("cannot configure the tls-alpn-01 listener: {0}")]
    Tls(#[from] rustls::Error),
}

impl Error {
    /// What kind of failure this is: the listener's setup and wildcard names are
    /// [`acme_core::FailureKind::Config`], the rest [`acme_core::FailureKind::Internal`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Bind { .. } | Error::Wildcard { .. } => FailureKind::Config,
            Error::WrongKind(_) | Error::Certificate { .. } | Error::Tls(_) => {
                FailureKind::Internal
            }
        }
    }
}

/// The usual fix for a failed bind, appended to the OS reason.
fn bind_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability \
             (AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit)"
        }
        io::ErrorKind::AddrInUse => {
            "; another program (often the web server) already listens there: stop it while \
             certificates are issued, or use http-01 or dns-01 for these names"
        }
        io::ErrorKind::AddrNotAvailable => "; no network interface of this host has that address",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_privileged_port_names_the_address_the_reason_and_the_fix() {
        let error = Error::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 443)),
            source: io::Error::from_raw_os_error(13),
        };
        let message = error.to_string();
        assert!(
            message.starts_with("cannot listen on 0.0.0.0:443: Permission denied (os error 13); "),
            "{message}"
        );
        assert!(message.contains("CAP_NET_BIND_SERVICE"), "{message}");
    }

    #[test]
    fn an_unusual_bind_failure_gets_no_misleading_hint() {
        let error = Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 443)),
            source: io::Error::other("something else"),
        };
        assert_eq!(
            error.to_string(),
            "cannot listen on 127.0.0.1:443: something else"
        );
    }
}
