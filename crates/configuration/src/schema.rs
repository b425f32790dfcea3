//! The shape of `acmekeep.toml`: one struct or tagged enum per table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use acme_core::{AcmeConfig, KeyType};
use dns01::Dns01Config;
use http01::Http01Config;
use issuer_ca::CaIssuerConfig;
use issuer_vault::VaultIssuerConfig;
use issuer_venafi::VenafiConfig;
use leader_election::LeaderElectionConfig;
use serde::Deserialize;
use sink_files::FilesSinkConfig;
use sink_kubernetes::KubernetesSinkConfig;
use tls_alpn01::TlsAlpn01Config;

use crate::hooks::HooksConfig;
use crate::providers::{PROVIDERS, ParseError, ProviderConfig};

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
    /// Several replicas share a Kubernetes Lease and only its holder issues.
    #[serde(default)]
    pub leader_election: Option<LeaderElectionConfig>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            state_dir: default_state_dir(),
            concurrency: default_concurrency(),
            listen_metrics: default_listen_metrics(),
            leader_election: None,
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
    /// Vault or OpenBao PKI.
    #[serde(rename = "vault")]
    Vault(VaultIssuerConfig),
    /// Venafi TLS Protect (TPP).
    #[serde(rename = "venafi")]
    Venafi(VenafiConfig),
}

impl IssuerConfig {
    /// Whether certificates from this issuer need a solver to prove control of names.
    pub fn needs_solver(&self) -> bool {
        matches!(self, IssuerConfig::Acme(_))
    }
}

/// `[solvers.NAME]`: how control of a name is proven to an ACME CA, and for which names.
#[derive(Clone, Debug)]
pub struct SolverConfig {
    /// Selector: names equal to or under these zones use this solver (longest match wins).
    pub zones: Vec<String>,
    /// The challenge type and its settings.
    pub kind: SolverKind,
}

/// The challenge type of a solver, with its settings.
#[derive(Clone, Debug)]
pub enum SolverKind {
    /// HTTP-01 from a built-in server or a webroot.
    Http01(Http01Config),
    /// TLS-ALPN-01 from a built-in TLS listener.
    TlsAlpn01(TlsAlpn01Config),
    /// DNS-01 through a DNS provider.
    Dns01 {
        /// Zone discovery, CNAME following and propagation settings.
        dns01: Dns01Config,
        /// The `provider` name and its settings.
        provider: ProviderConfig,
    },
}

impl SolverKind {
    /// The `kind` value that selects it.
    pub fn name(&self) -> &'static str {
        match self {
            SolverKind::Http01(_) => "http-01",
            SolverKind::TlsAlpn01(_) => "tls-alpn-01",
            SolverKind::Dns01 { .. } => "dns-01",
        }
    }
}

/// The `kind` values a solver may have.
const SOLVER_KINDS: &[&str] = &["http-01", "tls-alpn-01", "dns-01"];

/// The keys of a dns-01 solver that belong to the solver itself (`Dns01Config`); every
/// other key belongs to the provider.
const DNS01_KEYS: &[&str] = &[
    "zone",
    "follow_cname",
    "propagation_timeout",
    "check_propagation",
    "resolvers",
    "nameservers",
    "authoritative_port",
];

/// A solver table is read in two steps: the keys every solver has (`kind`, `zones`), then
/// the rest as the settings of that kind, which reject keys they do not know.
impl<'de> Deserialize<'de> for SolverConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let kind = match table.remove("kind") {
            Some(serde_json::Value::String(kind)) => kind,
            Some(_) => return Err(D::Error::custom("`kind` must be a string")),
            None => return Err(D::Error::missing_field("kind")),
        };
        let zones = match table.remove("zones") {
            Some(zones) => Vec::<String>::deserialize(zones).map_err(D::Error::custom)?,
            None => Vec::new(),
        };
        let kind = match kind.as_str() {
            "http-01" => SolverKind::Http01(
                Http01Config::deserialize(serde_json::Value::Object(table))
                    .map_err(D::Error::custom)?,
            ),
            "tls-alpn-01" => SolverKind::TlsAlpn01(
                TlsAlpn01Config::deserialize(serde_json::Value::Object(table))
                    .map_err(D::Error::custom)?,
            ),
            "dns-01" => {
                let provider = match table.remove("provider") {
                    Some(serde_json::Value::String(provider)) => provider,
                    Some(_) => return Err(D::Error::custom("`provider` must be a string")),
                    None => return Err(D::Error::missing_field("provider")),
                };
                let (own, rest): (serde_json::Map<_, _>, serde_json::Map<_, _>) = table
                    .into_iter()
                    .partition(|(key, _)| DNS01_KEYS.contains(&key.as_str()));
                let dns01 = Dns01Config::deserialize(serde_json::Value::Object(own))
                    .map_err(D::Error::custom)?;
                let provider = ProviderConfig::parse(&provider, serde_json::Value::Object(rest))
                    .map_err(|e| match e {
                        ParseError::Unknown => D::Error::unknown_variant(&provider, PROVIDERS),
                        ParseError::Settings(message) => D::Error::custom(message),
                    })?;
                SolverKind::Dns01 { dns01, provider }
            }
            other => return Err(D::Error::unknown_variant(other, SOLVER_KINDS)),
        };
        Ok(SolverConfig { zones, kind })
    }
}

/// One entry of a certificate's `sinks` list.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind")]
pub enum SinkConfig {
    /// A directory with the `..data` symlink layout.
    #[serde(rename = "files")]
    Files(FilesSinkConfig),
    /// A `kubernetes.io/tls` Secret.
    #[serde(rename = "kubernetes")]
    Kubernetes(KubernetesSinkConfig),
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
