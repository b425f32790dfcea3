//! The DNS-01 solver of acmekeep, on top of any [`acme_core::DnsProvider`].
//!
//! [`Dns01Solver`] implements [`acme_core::Solver`] for `dns-01` challenges. For a challenge on
//! `www.example.com` it:
//!
//! 1. takes the record name `_acme-challenge.www.example.com` and, with `follow_cname`,
//!    follows a CNAME chain from it (bounded, loop-safe), so a delegated name is written at its
//!    target;
//! 2. finds the zone holding that name by walking SOA records up from it (or uses `zone`);
//! 3. asks the provider to add the value (other values at the same name stay: a wildcard and
//!    its apex share one name);
//! 4. polls every authoritative server of the zone directly (NS → A/AAAA, no cache, no
//!    recursion), or the configured `resolvers`, until all serve the value, starting at 50 ms
//!    and slowing ×1.5 up to 2 s, until `propagation_timeout`.
//!
//! `cleanup` removes only the value its `present` added. A `present` that fails after writing
//! removes its value before returning (acme-core cleans up only challenges whose `present`
//! succeeded); one whose future is dropped removes it from a spawned task.
//! [`Dns01Solver::probe`] runs the same path with a throwaway value, for configuration checks.
//!
//! What it does not do: talk to any DNS API (that is the provider's job), or validate
//! DNSSEC.
//!
//! ```no_run
//! # async fn demo(provider: std::sync::Arc<dyn acme_core::DnsProvider>) -> Result<(), Box<dyn std::error::Error>> {
//! use dns01::{Dns01Config, Dns01Solver};
//!
//! let solver = Dns01Solver::new("dns", Dns01Config::default(), provider)?;
//! let report = solver.probe("www.example.com").await?;
//! println!("{} in zone {}: visible after {:?}", report.placement.fqdn, report.placement.zone, report.propagation);
//! # Ok(()) }
//! ```

mod config;
mod error;
mod lookup;
mod solver;

pub use config::Dns01Config;
pub use error::Error;
pub use solver::{Dns01Solver, Placement, ProbeReport};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_cnames_and_wait_two_minutes_on_the_authoritative_servers() {
        let config: Dns01Config = serde_json::from_str("{}").expect("empty config");
        assert!(config.follow_cname);
        assert_eq!(
            config.propagation_timeout,
            std::time::Duration::from_secs(120)
        );
        assert!(config.resolvers.is_empty() && config.nameservers.is_empty());
        assert_eq!(config.authoritative_port, 53);
        assert!(config.zone.is_none());
    }

    #[test]
    fn configuration_errors_name_the_offending_key_or_value() {
        let cases = [
            (
                r#"{"propagation_timeout": "2 fortnights"}"#,
                "invalid duration \"2 fortnights\"",
            ),
            (r#"{"resolvers": ["10.0.0.1"]}"#, "invalid socket address"),
            (
                r#"{"follow_cnames": false}"#,
                "unknown field `follow_cnames`",
            ),
        ];
        for (json, expected) in cases {
            let err = serde_json::from_str::<Dns01Config>(json)
                .expect_err(json)
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
