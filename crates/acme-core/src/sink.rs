use std::path::PathBuf;

use async_trait::async_trait;

use crate::{Error, Health, PrivateKeyPem};

/// One issued certificate with its key, as delivered to and read back from a sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The intermediate certificates that complete the chain, PEM, leaf's issuer first
    /// (may be empty when the leaf is signed directly by a root).
    pub chain_pem: String,
    /// The private key of the leaf.
    pub key: PrivateKeyPem,
    /// The root or CA certificate that consumers should trust, where the issuer knows it.
    pub ca_pem: Option<String>,
}

impl Bundle {
    /// Leaf followed by the chain: what a TLS server sends.
    pub fn fullchain_pem(&self) -> String {
        let mut out = self.cert_pem.clone();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&self.chain_pem);
        out
    }
}

/// The stable file names a sink delivers to, for hooks and operators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkFiles {
    /// The leaf certificate.
    pub cert: PathBuf,
    /// The intermediates.
    pub chain: PathBuf,
    /// Leaf and intermediates.
    pub fullchain: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Where an issued certificate is delivered.
///
/// `store` must be atomic from a consumer's point of view: a failed store leaves what was
/// deployed before untouched. `preflight` runs before an order, so that a sink that cannot
/// take a certificate fails the attempt before it costs the CA anything. `load` reads back what is deployed now, so decisions are
/// made from reality rather than from acmekeep's own records.
#[async_trait]
pub trait Sink: Send + Sync {
    /// A short description for messages, e.g. `files:/etc/ssl/acmekeep/web`.
    fn describe(&self) -> String;

    /// Checks, before anything is ordered, what can be checked cheaply about a later
    /// `store`: that the destination exists or can be created and accepts writes with the
    /// configured ownership. An error here costs no order at the CA. The default checks nothing.
    async fn preflight(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Checks, read-only, whether the sink could take a certificate now: the default runs
    /// [`preflight`](Sink::preflight), which a sink overrides where that would create or
    /// change something.
    async fn health(&self) -> Health {
        match self.preflight().await {
            Ok(()) => Health::healthy(self.describe(), "accepts certificates"),
            Err(Error::Sink { source, .. }) => Health::refused(self.describe(), source.to_string()),
            Err(err) => Health::refused(self.describe(), err.to_string()),
        }
    }

    /// Delivers a new certificate and key.
    async fn store(&self, bundle: &Bundle) -> Result<(), Error>;

    /// Reads the currently deployed certificate and key, `None` if nothing is deployed.
    async fn load(&self) -> Result<Option<Bundle>, Error>;

    /// Reads what is deployed as it is, without refusing parts that disagree with each other
    /// (which `load` does): for reports that look at a broken deployment anyway. The default
    /// is `load`.
    async fn load_as_is(&self) -> Result<Option<Bundle>, Error> {
        self.load().await
    }

    /// The files consumers read, for sinks that write files.
    fn files(&self) -> Option<SinkFiles> {
        None
    }
}
