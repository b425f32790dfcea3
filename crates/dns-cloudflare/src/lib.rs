//! DNS-01 TXT records through the Cloudflare v4 API, with a scoped API token.
//!
//! [`Provider`] implements [`acme_core::DnsProvider`]: `set_txt` creates one TXT
//! record per value (so a wildcard's and its apex's values coexist), `remove_txt` lists the
//! TXT records at the name and deletes the one holding the value. The zone id is taken from
//! the configuration or looked up once per zone by name. It is built from a [`Config`]
//! (`api_token`, `api_url`, `zone_id`) by [`Provider::new`], which checks the
//! configuration and resolves the token (`env:NAME`, `file:/path` or inline).
//!
//! The token needs Zone:DNS:Edit on the zone, and Zone:Zone:Read unless `zone_id` is set.
//! Errors are [`Error`]s that carry Cloudflare's error code and message and name the zone,
//! never the token. It does not wait for propagation (the DNS-01 solver does that).
//!
//! ```no_run
//! use acme_core::DnsProvider;
//! use dns_cloudflare::{Provider, Config};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: Config = serde_json::from_str(r#"{"api_token": "env:CF_DNS_API_TOKEN"}"#)?;
//! let provider = Provider::new(config)?;
//! provider.set_txt("example.com", "_acme-challenge.www.example.com", "abc").await?;
//! provider.remove_txt("example.com", "_acme-challenge.www.example.com", "abc").await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod config;
mod error;
mod provider;

pub use config::Config;
pub use error::Error;
pub use provider::{NAME, Provider};
