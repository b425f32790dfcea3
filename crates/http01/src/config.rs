use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The configuration of one HTTP-01 solver (`[solvers.NAME]` with `kind = "http-01"`).
///
/// Exactly one of `listen` and `webroot` must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http01Config {
    /// Serve challenges from a built-in server on this address, usually `0.0.0.0:80` or
    /// `[::]:80` (binding port 80 needs root or the `CAP_NET_BIND_SERVICE` capability).
    pub listen: Option<SocketAddr>,
    /// Write challenges under this document root of a web server that already listens on
    /// port 80 (an absolute path; it must exist).
    pub webroot: Option<PathBuf>,
}
