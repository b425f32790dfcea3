//! DNS-01 TXT records through the PowerDNS authoritative server's HTTP API.
//!
//! [`Provider`] implements [`acme_core::DnsProvider`]: `set_txt` reads the TXT
//! record set at the challenge name and replaces it with the same values plus the new one
//! (a wildcard and its apex share one name, so both values coexist); `remove_txt` replaces it
//! with the values that remain, or deletes the set when none do. It is built from a
//! [`Config`] (`api_url`, `api_key`, `server_id`) by [`Provider::new`], which checks
//! the configuration and resolves the key (`env:NAME`, `file:/path` or inline).
//!
//! It does not find zones, follow CNAMEs or wait for propagation (the DNS-01 solver does
//! that once for every provider), and it does not create zones. Errors are [`Error`]s that
//! name the zone and the API URL, never the key.
//!
//! ```no_run
//! use acme_core::DnsProvider;
//! use dns_powerdns::{Config, Provider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: Config = serde_json::from_str(
//!     r#"{"api_url": "http://127.0.0.1:8081", "api_key": "env:PDNS_API_KEY"}"#,
//! )?;
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
