use acme_core::{CHALLENGE_TTL, DnsProvider, HEALTH_TIMEOUT, Health};
use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::client::{Client, Record};
use crate::{Config, Error};

/// The provider kind, as the configuration and messages name it.
pub const NAME: &str = "powerdns";

/// A [`DnsProvider`] that writes TXT records through the PowerDNS HTTP API.
pub struct Provider {
    client: Client,
    /// Serializes read-modify-write changes, so two values set at once for one name both stay.
    changes: Mutex<()>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerDnsProvider").finish_non_exhaustive()
    }
}

impl Provider {
    /// Checks `config` and resolves its API key; no request is sent yet.
    pub fn new(config: Config) -> Result<Provider, Error> {
        let url = config.api_url.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| Error::Config {
                key: "api_url",
                value: config.api_url.clone(),
                reason: "must start with http:// or https://",
            })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(Error::Config {
                key: "api_url",
                value: config.api_url.clone(),
                reason: "names no host",
            });
        }
        if url.trim_end_matches('/').ends_with("/api/v1") {
            return Err(Error::Config {
                key: "api_url",
                value: config.api_url.clone(),
                reason: "write the server's base URL without /api/v1",
            });
        }
        acme_core::check_plain_http("api_url", url, config.allow_insecure_http)
            .map_err(Error::PlainHttp)?;
        if config.server_id.is_empty() || config.server_id.contains('/') {
            return Err(Error::Config {
                key: "server_id",
                value: config.server_id.clone(),
                reason: "must be a non-empty id without '/' (usually localhost)",
            });
        }
        let api_key = dns_http::credential("api_key", &config.api_key, "resolves to an empty key")?;
        Ok(Provider {
            client: Client::new(url, &config.server_id, api_key)?,
            changes: Mutex::new(()),
        })
    }
}

/// `name` with the trailing dot PowerDNS expects.
fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// TXT content as PowerDNS writes it: the value in double quotes.
fn quoted(value: &str) -> String {
    format!("\"{value}\"")
}

/// Whether a record's content is `value` (PowerDNS may split long content into quoted strings).
fn holds(record: &Record, value: &str) -> bool {
    let unquoted: String = record.content.split('"').skip(1).step_by(2).collect();
    unquoted == value || record.content == value
}

impl Provider {
    /// Adds `value` at `fqdn` (the body of `set_txt`).
    async fn set(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error> {
        let (zone, name) = (absolute(zone), absolute(fqdn));
        let _change = self.changes.lock().await;
        let mut records = self.client.txt_records(&zone, &name).await?;
        if records.iter().any(|record| holds(record, value)) {
            tracing::debug!(%zone, %name, "the TXT value is already there");
            return Ok(());
        }
        records.push(Record {
            content: quoted(value),
            disabled: false,
        });
        self.client
            .replace_txt(&zone, &name, &records, CHALLENGE_TTL)
            .await?;
        tracing::debug!(%zone, %name, values = records.len(), "TXT value added");
        Ok(())
    }

    /// Removes `value` at `fqdn` (the body of `remove_txt`).
    async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error> {
        let (zone, name) = (absolute(zone), absolute(fqdn));
        let _change = self.changes.lock().await;
        let records = self.client.txt_records(&zone, &name).await?;
        let remaining: Vec<Record> = records
            .iter()
            .filter(|record| !holds(record, value))
            .cloned()
            .collect();
        if remaining.len() == records.len() {
            tracing::debug!(%zone, %name, "the TXT value is already gone");
            return Ok(());
        }
        self.client
            .replace_txt(&zone, &name, &remaining, CHALLENGE_TTL)
            .await?;
        tracing::debug!(%zone, %name, values = remaining.len(), "TXT value removed");
        Ok(())
    }
}

#[async_trait]
impl DnsProvider for Provider {
    fn name(&self) -> &str {
        NAME
    }

    async fn set_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), acme_core::Error> {
        self.set(zone, fqdn, value)
            .await
            .map_err(|e| Error::at_record(fqdn, e).into())
    }

    async fn remove_txt(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        self.remove(zone, fqdn, value)
            .await
            .map_err(|e| Error::at_record(fqdn, e).into())
    }

    /// Reads the zone's apex TXT set: proves the API answers, takes the key and serves the zone.
    async fn health(&self, zone: &str) -> Health {
        let endpoint = format!("{} for zone {zone}", self.client.base_url());
        let zone = absolute(zone);
        match tokio::time::timeout(HEALTH_TIMEOUT, self.client.txt_records(&zone, &zone)).await {
            Ok(Ok(_)) => Health::healthy(endpoint, "the API key may read the zone"),
            Ok(Err(err @ Error::Network { .. })) => Health::unreachable(endpoint, err.to_string()),
            Ok(Err(err)) => Health::refused(endpoint, err.to_string()),
            Err(_) => Health::unreachable(
                endpoint,
                format!("no answer within {}s", HEALTH_TIMEOUT.as_secs()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(api_url: &str, api_key: &str, server_id: &str) -> Config {
        Config {
            api_url: api_url.to_string(),
            api_key: api_key.to_string(),
            server_id: server_id.to_string(),
            allow_insecure_http: false,
        }
    }

    #[test]
    fn unusable_configurations_are_refused_with_the_key_and_value() {
        let cases = [
            (
                config("127.0.0.1:8081", "k", "localhost"),
                "api_url \"127.0.0.1:8081\": must start with http:// or https://",
            ),
            (
                config("http://", "k", "localhost"),
                "api_url \"http://\": names no host",
            ),
            (
                config("http://pdns:8081/api/v1", "k", "localhost"),
                "api_url \"http://pdns:8081/api/v1\": write the server's base URL without /api/v1",
            ),
            (
                config("http://pdns:8081", "k", "localhost"),
                "api_url \"http://pdns:8081\" is plain http:// to a host that is not a loopback address, \
                 which would send credentials and certificates unencrypted: use https://, or set \
                 allow_insecure_http = true beside it to accept that",
            ),
            (
                config("https://pdns:8081", "k", ""),
                "server_id \"\": must be a non-empty id without '/' (usually localhost)",
            ),
            (
                config("https://pdns:8081", "", "localhost"),
                "api_key \"\": must not be empty",
            ),
            (
                config(
                    "https://pdns:8081",
                    "env:ACMEKEEP_TEST_PDNS_SURELY_UNSET",
                    "localhost",
                ),
                "api_key: secret env:ACMEKEEP_TEST_PDNS_SURELY_UNSET: the environment variable is not set",
            ),
        ];
        for (config, expected) in cases {
            let err = Provider::new(config).expect_err(expected);
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn config_defaults_the_server_id_and_refuses_unknown_keys() {
        let config: Config =
            serde_json::from_str(r#"{"api_url": "http://127.0.0.1:8081", "api_key": "k"}"#)
                .expect("minimal config");
        assert_eq!(config.server_id, "localhost");
        assert!(Provider::new(config).is_ok());

        let err = serde_json::from_str::<Config>(
            r#"{"api_url": "http://127.0.0.1:8081", "apikey": "k"}"#,
        )
        .expect_err("typo");
        assert!(
            err.to_string().starts_with("unknown field `apikey`"),
            "{err}"
        );
    }

    #[test]
    fn values_match_quoted_and_split_content() {
        let record = |content: &str| Record {
            content: content.to_string(),
            disabled: false,
        };
        assert!(holds(&record("\"abc\""), "abc"));
        assert!(holds(&record("\"ab\" \"c\""), "abc"));
        assert!(!holds(&record("\"abcd\""), "abc"));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let provider = Provider::new(config("https://pdns:8081", "s3cret-key", "localhost"))
            .expect("valid config");
        assert!(!format!("{provider:?}").contains("s3cret"));
    }
}
