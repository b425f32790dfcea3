use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use acme_core::ChallengeKind;

/// Everything that can go wrong in the HTTP-01 solver.
///
/// At the [`acme_core::Solver`] boundary these become [`acme_core::Error::Solver`], which
/// adds the solver's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; the message names the keys to change.
    #[error("http-01 solver {solver}: {problem}")]
    Config {
        /// The solver's configured name.
        solver: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The challenge server could not listen on its address.
    #[error("cannot listen on {addr}: {source}{}", bind_hint(.source))]
    Bind {
        /// The configured `listen` address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The CA handed out a token outside the ACME alphabet; it is neither served nor written.
    #[error(
        "refusing challenge token {token:?}: a token may only contain A-Z, a-z, 0-9, '-' and '_', \
         and be at most {max} characters long",
        max = crate::token::MAX_TOKEN_LEN
    )]
    InvalidToken {
        /// The token as received.
        token: String,
    },
    /// The solver was handed a challenge of another type.
    #[error("cannot answer a {0} challenge, only http-01")]
    WrongKind(ChallengeKind),
    /// A directory or file under the webroot could not be created or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Webroot {
        /// What was being done, e.g. "create directory".
        action: &'static str,
        /// The directory or file involved.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// `.well-known` or `.well-known/acme-challenge` under the webroot is a symbolic link;
    /// challenge files are neither written nor removed through it.
    #[error(
        "refusing to write challenge files through {}: it is a symbolic link; make it a real \
         directory (acmekeep creates it if missing) or set `webroot` to the document root the \
         link points into",
        path.display()
    )]
    SymlinkInWebroot {
        /// The directory that is a link.
        path: PathBuf,
    },
    /// A temporary file an interrupted write left could not be removed (the message names it).
    #[error("cannot remove what an interrupted run left in the webroot: {source}")]
    RemoveLeftover {
        /// The error from the removal.
        source: acme_core::Error,
    },
    /// The challenge file could not be written (the message names the file).
    #[error("cannot write the challenge file: {source}")]
    WriteFile {
        /// The error from the atomic write.
        source: acme_core::Error,
    },
}

impl Error {
    /// What kind of failure this is: the solver's setup (listener, webroot) is
    /// [`acme_core::FailureKind::Config`], a token the CA sent that cannot be served
    /// [`acme_core::FailureKind::Validation`].
    pub fn kind(&self) -> acme_core::FailureKind {
        use acme_core::FailureKind;
        match self {
            Error::Config { .. }
            | Error::Bind { .. }
            | Error::Webroot { .. }
            | Error::SymlinkInWebroot { .. }
            | Error::RemoveLeftover { .. }
            | Error::WriteFile { .. } => FailureKind::Config,
            Error::InvalidToken { .. } => FailureKind::Validation,
            Error::WrongKind(_) => FailureKind::Internal,
        }
    }
}

/// The usual fix for a failed bind, appended to the OS reason.
fn bind_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability \
             (AmbientCapabilities=CAP_NET_BIND_SERVICE in a systemd unit), \
             or set `webroot` instead of `listen` to let a running web server answer"
        }
        io::ErrorKind::AddrInUse => {
            "; another program already listens there: stop it, or set `webroot` to its \
             document root instead of `listen`"
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
            addr: SocketAddr::from(([0, 0, 0, 0], 80)),
            source: io::Error::from_raw_os_error(13),
        };
        let message = error.to_string();
        assert!(
            message.starts_with("cannot listen on 0.0.0.0:80: Permission denied (os error 13); "),
            "{message}"
        );
        assert!(message.contains("CAP_NET_BIND_SERVICE"), "{message}");
        assert!(message.contains("`webroot`"), "{message}");
    }

    #[test]
    fn an_unusual_bind_failure_gets_no_misleading_hint() {
        let error = Error::Bind {
            addr: SocketAddr::from(([127, 0, 0, 1], 80)),
            source: io::Error::other("something else"),
        };
        assert_eq!(
            error.to_string(),
            "cannot listen on 127.0.0.1:80: something else"
        );
    }
}
