use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// How the DNS-01 solver finds where to write and when the record is visible (the common
/// keys of a `kind = "dns-01"` solver table; the provider's own keys sit beside them).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns01Config {
    /// The zone to write in, skipping zone discovery (default: found by walking SOA
    /// records up from the record name).
    #[serde(default)]
    pub zone: Option<String>,
    /// Whether a CNAME at `_acme-challenge.<name>` is followed so the TXT record is written
    /// at its target (default `true`).
    #[serde(default = "default_follow_cname")]
    pub follow_cname: bool,
    /// How long to wait for every server to serve the value (default `"120s"`).
    #[serde(
        default = "default_propagation_timeout",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub propagation_timeout: Duration,
    /// Whether to wait until every server serves the value before the CA is told to validate
    /// (default true). Turning it off is dangerous — the CA may look before the record
    /// exists and fail the order — and is logged as a warning on every challenge; it is for
    /// providers whose records cannot be queried from here (an API-only test emulator).
    #[serde(default = "default_check_propagation")]
    pub check_propagation: bool,
    /// Servers to check for the value instead of the zone's authoritative servers, e.g. the
    /// resolvers of a split-horizon setup (default: empty, ask the zone's NS directly).
    #[serde(default)]
    pub resolvers: Vec<SocketAddr>,
    /// Resolvers for zone discovery, CNAME and NS lookups (default: empty, the system
    /// resolver from `/etc/resolv.conf`).
    #[serde(default)]
    pub nameservers: Vec<SocketAddr>,
    /// The port on which the zone's authoritative servers are asked (default 53). Only for
    /// setups whose authoritative servers listen elsewhere, such as test beds.
    #[serde(default = "default_authoritative_port")]
    pub authoritative_port: u16,
}

impl Default for Dns01Config {
    fn default() -> Self {
        Dns01Config {
            zone: None,
            follow_cname: default_follow_cname(),
            propagation_timeout: default_propagation_timeout(),
            check_propagation: default_check_propagation(),
            resolvers: Vec::new(),
            nameservers: Vec::new(),
            authoritative_port: default_authoritative_port(),
        }
    }
}

fn default_follow_cname() -> bool {
    true
}

fn default_check_propagation() -> bool {
    true
}

fn default_propagation_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_authoritative_port() -> u16 {
    53
}
