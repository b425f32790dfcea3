use std::path::PathBuf;
use std::time::Duration;

/// Why something could not be inspected at all (as opposed to a [`crate::Problem`] found
/// in what was inspected).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A certificate in the input is not valid PEM or X.509.
    #[error("{what}: not a valid certificate: {reason}")]
    Certificate {
        /// Which input, e.g. `certificate 2 of the chain` or a file name.
        what: String,
        /// What the parser said.
        reason: String,
    },
    /// The input holds no certificate at all.
    #[error("{what}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// Which input.
        what: String,
    },
    /// A private key could not be read.
    #[error("{what}: not a private key acmekeep can read (PKCS#8, SEC1 or PKCS#1 PEM): {reason}")]
    Key {
        /// Which input.
        what: String,
        /// What the parser said.
        reason: String,
    },
    /// The CA bundle given as trust anchors is unusable.
    #[error("CA bundle {path}: {reason}")]
    CaBundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The name to send as SNI is neither a DNS name nor an IP address.
    #[error("`{name}` is not a valid TLS server name: use a DNS name or an IP address")]
    ServerName {
        /// The rejected name.
        name: String,
    },
    /// The endpoint could not be reached.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// `host:port`.
        address: String,
        /// What the operating system said.
        reason: String,
    },
    /// The TLS handshake failed before the server sent its certificates.
    #[error("TLS handshake with {address} (SNI {sni}) failed: {reason}")]
    Handshake {
        /// `host:port`.
        address: String,
        /// The name sent as SNI.
        sni: String,
        /// What rustls said.
        reason: String,
    },
    /// Connecting and the handshake together took too long.
    #[error("{address} did not complete a TLS handshake within {}", humantime::format_duration(*.timeout))]
    Timeout {
        /// `host:port`.
        address: String,
        /// The limit that was exceeded.
        timeout: Duration,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A directory given as a files sink holds no certificate.
    #[error(
        "{} holds neither fullchain.pem nor cert.pem: is it a files sink directory, and has a \
         certificate been issued yet?",
        dir.display()
    )]
    NotAFilesSink {
        /// The directory.
        dir: PathBuf,
    },
    /// What was read from one source or endpoint could not be analyzed.
    #[error("{what}: {error}")]
    Within {
        /// The source or endpoint, e.g. `files:/etc/ssl/acmekeep/web`.
        what: String,
        /// Why.
        #[source]
        error: Box<Error>,
    },
}

impl Error {
    /// Whether the error is about reaching an endpoint (rather than about local input):
    /// trying again later may help.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::Handshake { .. } | Error::Timeout { .. }
        )
    }
}
