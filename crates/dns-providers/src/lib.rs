//! The DNS provider registry of acmekeep: one list maps a `provider = "…"` name to its
//! configuration type and constructor.
//!
//! [`ProviderConfig`] is the parsed settings of one provider ([`ProviderConfig::parse`] from
//! the keys of a dns-01 solver table that are not the solver's own), and
//! [`ProviderConfig::build`] turns them into an `Arc<dyn DnsProvider>`. [`PROVIDERS`] lists the
//! names this build knows; [`config_keys`] gives a provider's configuration keys and
//! [`field_names`] those of any configuration struct, read from its `Deserialize` impl so no
//! list of keys is copied by hand.
//!
//! Each provider is a crate of the same shape (`NAME`, `Config`, `Provider::new`, an `Error`
//! with a `Config` variant and `From<Error> for acme_core::Error`) behind a cargo feature of
//! its name, all on by default, so a slim build can leave out the AWS SDK. Adding a provider
//! is one crate, one line in the registry and its section in docs/dns-providers.md.
//!
//! It does not find zones, follow CNAMEs or check propagation (the `dns01` solver does), and
//! it does not talk to any DNS server itself.
//!
//! ```
//! # #[cfg(feature = "exec")] {
//! use dns_providers::{ProviderConfig, PROVIDERS};
//!
//! assert!(PROVIDERS.contains(&"exec"));
//! // The keys of a dns-01 solver table that belong to the provider (`true` stands in for
//! // a hook script: the command must exist to be built).
//! let settings = serde_json::json!({ "command": "true", "timeout": "30s" });
//! let config = ProviderConfig::parse("exec", settings)?;
//! let provider = config.build()?;
//! assert_eq!(provider.name(), "exec");
//! assert!(ProviderConfig::parse("nsupdate", serde_json::json!({})).is_err());
//! # }
//! # Ok::<(), dns_providers::Error>(())
//! ```

mod error;
mod fields;
mod registry;

pub use error::Error;
pub use fields::field_names;
pub use registry::{PROVIDERS, ProviderConfig, config_keys};
