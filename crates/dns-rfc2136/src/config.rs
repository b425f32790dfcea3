use std::net::SocketAddr;

use serde::Deserialize;

/// The configuration of the RFC 2136 provider (keys of the solver table).
///
/// ```toml
/// nameserver = "10.0.0.53:53"
/// tsig_key = "acme-key"
/// tsig_secret = "file:/etc/acmekeep/tsig.secret"
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The primary server that accepts updates, as `address:port`.
    pub nameserver: SocketAddr,
    /// The TSIG key name, as in the server's `key "…" { … }` statement.
    pub tsig_key: String,
    /// The TSIG algorithm (default `hmac-sha256`).
    #[serde(default)]
    pub tsig_algorithm: TsigAlgorithm,
    /// The base64 TSIG secret as `tsig-keygen` prints it, or a reference to it
    /// (`env:NAME`, `file:/path`).
    pub tsig_secret: String,
    /// The transport for updates (default `udp`).
    #[serde(default)]
    pub protocol: Protocol,
}

/// The TSIG MAC algorithms supported (the SHA-2 HMACs; MD5 and SHA-1 are refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TsigAlgorithm {
    /// `hmac-sha256`, what `tsig-keygen` generates by default.
    #[default]
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl TsigAlgorithm {
    pub(crate) fn to_hickory(self) -> hickory_proto::rr::rdata::tsig::TsigAlgorithm {
        use hickory_proto::rr::rdata::tsig::TsigAlgorithm as H;
        match self {
            TsigAlgorithm::HmacSha256 => H::HmacSha256,
            TsigAlgorithm::HmacSha384 => H::HmacSha384,
            TsigAlgorithm::HmacSha512 => H::HmacSha512,
        }
    }
}

/// How updates travel to the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// UDP, falling back to TCP when the reply is truncated.
    #[default]
    Udp,
    /// TCP only.
    Tcp,
}
