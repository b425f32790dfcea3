use std::net::SocketAddr;

use serde::Deserialize;

/// The configuration of one TLS-ALPN-01 solver (`[solvers.NAME]` with `kind = "tls-alpn-01"`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAlpn01Config {
    /// The address of the built-in TLS listener, usually `0.0.0.0:443` or `[::]:443`
    /// (binding port 443 needs root or the `CAP_NET_BIND_SERVICE` capability). The CA
    /// always connects to port 443, so another port only makes sense behind a forward.
    pub listen: SocketAddr,
}
