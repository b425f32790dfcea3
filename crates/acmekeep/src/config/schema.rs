//! The shape of `acmekeep.toml`: one struct or tagged enum per table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use acme_core::{AcmeConfig, KeyType};
use http01::Http01Config;
use issuer_ca::CaIssuerConfig;
use serde::Deserialize;
use sink_files::FilesSinkConfig;

use crate::hooks::HooksConfig;

/// `[daemon]`: process-wide settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// Accounts, generated CAs and per-certificate state (created 0700).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    /// How many certificates are issued at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Where the daemon serves `/metrics`, `/healthz` and `/readyz`.
    #[serde(default = "default_listen_metrics")]
    pub listen_metrics: SocketAddr,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            state_dir: default_state_dir(),
            concurrency: default_concurrency(),
            listen_metrics: default_listen_metrics(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/acmekeep")
}

fn default_concurrency() -> usize {
    8
}

fn default_listen_metrics() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

/// `[issuers.NAME]`: where certificates come from.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind")]
pub enum IssuerConfig {
    /// An RFC 8555 CA.
    #[serde(rename = "acme")]
    Acme(AcmeConfig),
    /// A local CA key pair.
    #[serde(rename = "ca")]
    Ca(CaIssuerConfig),
}

impl IssuerConfig {
    /// Whether certificates from this issuer need a solver to prove control of names.
    pub fn needs_solver(&self) -> bool {
        matches!(self, IssuerConfig::Acme(_))
    }
}

/// `[solvers.NAME]`: how control of a name is proven to an ACME CA.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind")]
pub enum SolverConfig {
    /// HTTP-01 from a built-in server or a webroot.
    #[serde(rename = "http-01")]
    Http01(Http01Config),
}

/// One entry of a certificate's `sinks` list.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind")]
pub enum SinkConfig {
    /// A directory with the `..data` symlink layout.
    #[serde(rename = "files")]
    Files(FilesSinkConfig),
}

/// `[certificates.NAME]`: one managed certificate.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// DNS names, the first one becomes the subject; `*.` wildcards need DNS-01.
    pub domains: Vec<String>,
    /// The name of an entry of `[issuers]`.
    pub issuer: String,
    /// The name of an entry of `[solvers]`; optional when there is only one solver.
    #[serde(default)]
    pub solver: Option<String>,
    /// The key type.
    #[serde(default = "default_key")]
    pub key: KeyType,
    /// Renew this long before expiry instead of when 1/3 of the lifetime is left.
    #[serde(default, deserialize_with = "acme_core::duration::deserialize_option")]
    pub renew_before: Option<Duration>,
    /// Where the certificate is delivered.
    pub sinks: Vec<SinkConfig>,
    /// Commands run around an issuance.
    #[serde(default)]
    pub hooks: HooksConfig,
}

fn default_key() -> KeyType {
    KeyType::EcdsaP256
}
