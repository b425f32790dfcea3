use serde::Deserialize;

/// The `[solvers.NAME]` keys of a PowerDNS provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the PowerDNS webserver, e.g. `http://127.0.0.1:8081` (without `/api/v1`).
    pub api_url: String,
    /// The API key (`api-key` in pdns.conf): `env:NAME`, `file:/path`, or the key itself.
    pub api_key: String,
    /// The server id in API paths; `localhost` unless PowerDNS sits behind a proxy that says otherwise.
    #[serde(default = "default_server_id")]
    pub server_id: String,
    /// Accept a plain `http://` URL to a host that is not a loopback address (dangerous:
    /// credentials and certificates cross the network unencrypted; warned about at every
    /// start). Default `false`: `http://` only to `127.0.0.0/8`, `::1` or `localhost`.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

fn default_server_id() -> String {
    "localhost".to_string()
}
