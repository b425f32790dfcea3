//! DNS provider for acmekeep: RFC 2136 dynamic updates signed with TSIG.
//!
//! [`Rfc2136Provider`] implements [`acme_core::DnsProvider`] for any server that accepts
//! signed dynamic updates (BIND, Knot, PowerDNS, Windows DNS with TSIG): `set_txt` appends one
//! TXT value beside any others (an RFC 2136 "add to an RRset"), `remove_txt` deletes exactly
//! that value ("delete an RR from an RRset"). Every update is signed with the configured TSIG
//! key (hmac-sha256/384/512, on aws-lc-rs) and the server's signed reply is verified.
//!
//! Error codes become messages that say what to fix: a wrong secret gives "TSIG verification
//! failed (BADSIG/NOTAUTH): check tsig_key and tsig_secret", an unknown key names the key, and
//! REFUSED points at `allow-update` / `update-policy`.
//!
//! What it does not do: find the zone, follow CNAMEs or wait for propagation (the `dns01`
//! crate does that for every provider), or manage keys on the server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use acme_core::DnsProvider;
//! use dns_rfc2136::{Rfc2136Config, Rfc2136Provider};
//!
//! let config: Rfc2136Config = serde_json::from_str(
//!     r#"{"nameserver": "10.0.0.53:53", "tsig_key": "acme-key", "tsig_secret": "env:TSIG_SECRET"}"#,
//! )?;
//! let provider = Rfc2136Provider::new(config)?;
//! provider.set_txt("example.com", "_acme-challenge.www.example.com", "value").await?;
//! # Ok(()) }
//! ```

mod config;
mod error;
mod update;

use async_trait::async_trait;
use base64::Engine;
use hickory_proto::rr::{Name, TSigner};

pub use config::{Protocol, Rfc2136Config, TsigAlgorithm};
pub use error::Error;

use update::{Change, UpdateClient};

/// The provider kind, as used in messages and configuration.
pub const PROVIDER_NAME: &str = "rfc2136";

/// The seconds of clock difference the server may accept for a TSIG signature (RFC 8945
/// recommends 300).
const TSIG_FUDGE: u16 = 300;

/// Adds and removes TXT values with TSIG-signed RFC 2136 updates sent to one server.
pub struct Rfc2136Provider {
    client: UpdateClient,
}

impl std::fmt::Debug for Rfc2136Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136Provider")
            .field("nameserver", &self.client.server)
            .field("tsig_key", &self.client.key_name)
            .field("protocol", &self.client.protocol)
            .finish_non_exhaustive()
    }
}

impl Rfc2136Provider {
    /// Checks the configuration, resolves and decodes the TSIG secret.
    pub fn new(config: Rfc2136Config) -> Result<Self, Error> {
        let key_name = config.tsig_key.trim_end_matches('.').to_ascii_lowercase();
        let key_error = |reason: String| Error::KeyName {
            key: config.tsig_key.clone(),
            reason,
        };
        if key_name.is_empty() {
            return Err(key_error("it is empty".into()));
        }
        let name =
            Name::from_ascii(format!("{key_name}.")).map_err(|e| key_error(e.to_string()))?;
        let secret = acme_core::Secret::resolve(&config.tsig_secret).map_err(Error::Secret)?;
        let not_base64 = || Error::SecretNotBase64 {
            key: key_name.clone(),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(secret.expose().trim())
            .map_err(|_| not_base64())?;
        if raw.is_empty() {
            return Err(not_base64());
        }
        let signer = TSigner::new(raw, config.tsig_algorithm.to_hickory(), name, TSIG_FUDGE)
            .map_err(|e| key_error(e.to_string()))?;
        Ok(Rfc2136Provider {
            client: UpdateClient {
                server: config.nameserver,
                protocol: config.protocol,
                signer,
                key_name,
            },
        })
    }

    async fn update(
        &self,
        change: Change,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        self.client
            .update(change, zone, fqdn, value)
            .await
            .map_err(|e| acme_core::Error::Dns {
                provider: PROVIDER_NAME.to_string(),
                kind: e.kind(),
                source: Box::new(e),
            })?;
        tracing::debug!(server = %self.client.server, zone, fqdn, ?change, "RFC 2136 update accepted");
        Ok(())
    }
}

#[async_trait]
impl acme_core::DnsProvider for Rfc2136Provider {
    fn name(&self) -> &str {
        PROVIDER_NAME
    }

    async fn set_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), acme_core::Error> {
        self.update(Change::Append, zone, fqdn, value).await
    }

    async fn remove_txt(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        self.update(Change::Delete, zone, fqdn, value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(json: &str) -> Result<Rfc2136Provider, String> {
        let config: Rfc2136Config = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Rfc2136Provider::new(config).map_err(|e| e.to_string())
    }

    #[test]
    fn a_minimal_config_uses_hmac_sha256_over_udp() {
        let config: Rfc2136Config = serde_json::from_str(
            r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "c2VjcmV0"}"#,
        )
        .expect("valid");
        assert_eq!(config.tsig_algorithm, TsigAlgorithm::HmacSha256);
        assert_eq!(config.protocol, Protocol::Udp);
        assert!(Rfc2136Provider::new(config).is_ok());
    }

    #[test]
    fn configuration_errors_say_what_to_fix() {
        let cases = [
            (
                r#"{"nameserver": "ns1.example.com", "tsig_key": "k", "tsig_secret": "c2VjcmV0"}"#,
                "invalid socket address",
            ),
            (
                r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "c2VjcmV0", "tsig_algorithm": "hmac-md5"}"#,
                "unknown variant `hmac-md5`, expected one of `hmac-sha256`, `hmac-sha384`, `hmac-sha512`",
            ),
            (
                r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "c2VjcmV0", "protocol": "tls"}"#,
                "unknown variant `tls`, expected `udp` or `tcp`",
            ),
            (
                r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "c2VjcmV0", "tsig_name": "k"}"#,
                "unknown field `tsig_name`",
            ),
            (
                r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "not base64!"}"#,
                "tsig_secret for key \"k\" is not valid base64",
            ),
            (
                r#"{"nameserver": "127.0.0.1:53", "tsig_key": "", "tsig_secret": "c2VjcmV0"}"#,
                "tsig_key \"\" is not a valid key name: it is empty",
            ),
            (
                r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "env:ACMEKEEP_TEST_UNSET_TSIG"}"#,
                "tsig_secret: secret env:ACMEKEEP_TEST_UNSET_TSIG: the environment variable is not set",
            ),
        ];
        for (json, expected) in cases {
            let err = build(json).expect_err(json);
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let provider =
            build(r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "c2VjcmV0"}"#)
                .expect("valid");
        let debug = format!("{provider:?}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
        assert!(debug.contains("127.0.0.1:53"), "{debug}");
    }

    #[test]
    fn the_secret_never_appears_in_errors() {
        let err =
            build(r#"{"nameserver": "127.0.0.1:53", "tsig_key": "k", "tsig_secret": "hunter2!"}"#)
                .expect_err("not base64");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
