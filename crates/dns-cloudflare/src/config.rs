use serde::Deserialize;

/// The `[solvers.NAME]` keys of a Cloudflare provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A scoped API token (Zone:DNS:Edit, plus Zone:Zone:Read for the lookup):
    /// `env:NAME`, `file:/path`, or the token itself.
    pub api_token: String,
    /// The API base URL (default `https://api.cloudflare.com/client/v4`).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The zone's id; when absent it is looked up by the zone's name.
    #[serde(default)]
    pub zone_id: Option<String>,
    /// Accept a plain `http://` URL to a host that is not a loopback address (dangerous:
    /// credentials and certificates cross the network unencrypted; warned about at every
    /// start). Default `false`: `http://` only to `127.0.0.0/8`, `::1` or `localhost`.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// The public Cloudflare v4 API.
pub(crate) const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

fn default_api_url() -> String {
    DEFAULT_API_URL.to_string()
}
