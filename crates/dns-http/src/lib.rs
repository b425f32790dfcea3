//! The HTTP client setup that acmekeep's HTTP API DNS providers (PowerDNS, Cloudflare) share.
//!
//! [`ApiClient`] is a reqwest client on acmekeep's TLS setup with a request timeout and a
//! base URL; [`ApiClient::send`] sends a request and returns the status and body, turning a
//! transport failure into [`Error::Network`] with its causes on one line ([`acme_core::error_chain`]).
//! [`credential`] resolves an API key or token reference (`env:NAME`, `file:/path` or the
//! value) and refuses an empty one, naming the key.
//!
//! It does not know any provider's API: URLs, authentication headers, answers and error
//! classification stay in the provider crates, which map [`Error`] into their own errors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), dns_http::Error> {
//! let token = dns_http::credential("api_token", "env:CF_DNS_API_TOKEN", "resolves to an empty token")?;
//! let client = dns_http::ApiClient::new("https://api.cloudflare.com/client/v4")?;
//! let url = format!("{}/zones", client.base_url());
//! let request = client.request(reqwest::Method::GET, &url).bearer_auth(token.expose());
//! let answer = client.send(request, &url).await?;
//! println!("HTTP {}: {} bytes", answer.status, answer.body.len());
//! # Ok(()) }
//! ```

mod client;
mod error;

pub use client::{Answer, ApiClient, credential};
pub use error::Error;
