//! The AWS Route53 DNS provider of acmekeep: adds and removes DNS-01 challenge TXT values in
//! a Route53 hosted zone.
//!
//! [`Provider`] implements [`acme_core::DnsProvider`]. `set_txt` reads the TXT record
//! set at the name, UPSERTs it with the new value added to the ones already there (TTL
//! [`acme_core::CHALLENGE_TTL`]) and waits until Route53 reports the change INSYNC
//! (GetChange, at most [`Config::propagation_wait`]). `remove_txt` UPSERTs the values that
//! remain, or DELETEs the set when none do; a value that is not there is already removed.
//! The hosted zone is [`Config::hosted_zone_id`], or the one zone whose name is the zone's
//! (ListHostedZonesByName; public and private zones alike, so a name both have must be
//! disambiguated with the id).
//!
//! Credentials are the configured access key, or the AWS default chain (environment,
//! profile, web identity / IRSA, ECS, EC2 instance metadata). The IAM permissions needed:
//! `route53:ListHostedZonesByName` (unless the id is configured),
//! `route53:ListResourceRecordSets` and `route53:ChangeResourceRecordSets` on the hosted
//! zone, `route53:GetChange` on `change/*`.
//!
//! It does not find the zone of a name, follow CNAMEs or check that the name servers serve
//! the value: the `dns01` solver does that for every provider.
//!
//! ```no_run
//! use acme_core::DnsProvider;
//! use dns_route53::{Config, Provider};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = Provider::new(Config {
//!     hosted_zone_id: Some("Z0123456789ABCDEFGHIJ".into()),
//!     ..Config::default()
//! })?;
//! provider.set_txt("example.com", "_acme-challenge.example.com", "token-digest").await?;
//! provider.remove_txt("example.com", "_acme-challenge.example.com", "token-digest").await?;
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
