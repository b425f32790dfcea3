use std::collections::HashMap;

use acme_core::{CHALLENGE_TTL, DnsProvider, HEALTH_TIMEOUT, Health};
use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::client::{Client, IDENTICAL_RECORD_EXISTS, RECORD_DOES_NOT_EXIST};
use crate::{Config, Error};

/// The provider kind, as the configuration and messages name it.
pub const NAME: &str = "cloudflare";

/// A [`DnsProvider`] that writes TXT records through the Cloudflare v4 API.
pub struct Provider {
    client: Client,
    zone_id: Option<String>,
    /// Zone ids looked up by name, so each zone is looked up once.
    zone_ids: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareProvider")
            .field("zone_id", &self.zone_id)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Checks `config` and resolves its token; no request is sent yet.
    pub fn new(config: Config) -> Result<Provider, Error> {
        let url = config.api_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url
                .split("://")
                .nth(1)
                .is_none_or(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            return Err(Error::Config {
                key: "api_url",
                value: config.api_url.clone(),
                reason: "must be an http:// or https:// URL with a host",
            });
        }
        acme_core::check_plain_http("api_url", url, config.allow_insecure_http)
            .map_err(Error::PlainHttp)?;
        if let Some(id) = &config.zone_id
            && (id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(Error::Config {
                key: "zone_id",
                value: id.clone(),
                reason: "must be the zone's id (letters and digits, as shown on the zone's overview page)",
            });
        }
        let token =
            dns_http::credential("api_token", &config.api_token, "resolves to an empty token")?;
        Ok(Provider {
            client: Client::new(url, token)?,
            zone_id: config.zone_id,
            zone_ids: Mutex::new(HashMap::new()),
        })
    }

    /// The configured zone id, or the id of the zone named `zone` (looked up once).
    async fn zone_id(&self, zone: &str) -> Result<String, Error> {
        if let Some(id) = &self.zone_id {
            return Ok(id.clone());
        }
        let mut known = self.zone_ids.lock().await;
        if let Some(id) = known.get(zone) {
            return Ok(id.clone());
        }
        let zones = self
            .client
            .zones_named(zone)
            .await?
            .map_err(|failure| failure.into_error(zone, None, "look up the zone".into()))?;
        let id = zones
            .into_iter()
            .next()
            .ok_or_else(|| Error::ZoneNotFound {
                zone: zone.to_string(),
                zone_id: None,
                detail: "GET /zones?name= found nothing".to_string(),
            })?
            .id;
        known.insert(zone.to_string(), id.clone());
        Ok(id)
    }

    fn zone_error(&self, zone: &str, failure: crate::client::Failure, action: String) -> Error {
        failure.into_error(zone, self.zone_id.as_deref(), action)
    }
}

/// Whether record content is `value`: Cloudflare returns TXT content quoted in some API
/// versions and unquoted in others.
fn holds(content: &str, value: &str) -> bool {
    let unquoted: String = if content.starts_with('"') {
        content.split('"').skip(1).step_by(2).collect()
    } else {
        content.to_string()
    };
    unquoted == value
}

impl Provider {
    /// Adds `value` at `fqdn` (the body of `set_txt`).
    async fn set(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error> {
        let zone_id = self.zone_id(zone).await?;
        match self
            .client
            .create_txt(&zone_id, fqdn, value, CHALLENGE_TTL)
            .await?
        {
            Ok(record) => {
                tracing::debug!(%zone, %fqdn, record = %record.id, "TXT record created");
                Ok(())
            }
            Err(failure) if failure.has_code(IDENTICAL_RECORD_EXISTS) => {
                tracing::debug!(%zone, %fqdn, "the TXT record is already there");
                Ok(())
            }
            Err(failure) => Err(self.zone_error(zone, failure, format!("create TXT {fqdn}"))),
        }
    }

    /// Removes `value` at `fqdn` (the body of `remove_txt`).
    async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error> {
        let zone_id = self.zone_id(zone).await?;
        let records = self
            .client
            .list_txt(&zone_id, fqdn)
            .await?
            .map_err(|failure| self.zone_error(zone, failure, format!("list TXT {fqdn}")))?;
        for record in records
            .iter()
            .filter(|record| holds(&record.content, value))
        {
            match self.client.delete(&zone_id, &record.id).await? {
                Ok(_) => tracing::debug!(%zone, %fqdn, record = %record.id, "TXT record deleted"),
                Err(failure) if failure.has_code(RECORD_DOES_NOT_EXIST) => {}
                Err(failure) => {
                    return Err(self.zone_error(
                        zone,
                        failure,
                        format!("delete TXT {fqdn} ({})", record.id),
                    ));
                }
            }
        }
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

    /// Finds the zone and lists its apex TXT records (`GET /zones`, `GET dns_records`):
    /// proves the token and its read access, without changing anything.
    async fn health(&self, zone: &str) -> Health {
        let endpoint = format!("{} for zone {zone}", self.client.base_url());
        let read = async {
            let zone_id = self.zone_id(zone).await?;
            self.client
                .list_txt(&zone_id, zone)
                .await?
                .map_err(|failure| self.zone_error(zone, failure, format!("list TXT {zone}")))?;
            Ok::<_, Error>(zone_id)
        };
        match tokio::time::timeout(HEALTH_TIMEOUT, read).await {
            Ok(Ok(zone_id)) => {
                Health::healthy(endpoint, format!("the token may read zone {zone_id}"))
            }
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

    fn config(api_token: &str, api_url: &str, zone_id: Option<&str>) -> Config {
        Config {
            api_token: api_token.to_string(),
            api_url: api_url.to_string(),
            zone_id: zone_id.map(str::to_string),
            allow_insecure_http: false,
        }
    }

    #[test]
    fn unusable_configurations_are_refused_with_the_key_and_value() {
        let api = crate::config::DEFAULT_API_URL;
        let cases = [
            (
                config("t", "api.cloudflare.com/client/v4", None),
                "api_url \"api.cloudflare.com/client/v4\": must be an http:// or https:// URL with a host",
            ),
            (
                config("t", "https://", None),
                "api_url \"https://\": must be an http:// or https:// URL with a host",
            ),
            (
                config("t", api, Some("example.com")),
                "zone_id \"example.com\": must be the zone's id (letters and digits, as shown on the zone's overview page)",
            ),
            (config("", api, None), "api_token \"\": must not be empty"),
            (
                config("t", "http://cf.example.test/client/v4", None),
                "api_url \"http://cf.example.test/client/v4\" is plain http:// to a host that is not a \
                 loopback address, which would send credentials and certificates unencrypted: use \
                 https://, or set allow_insecure_http = true beside it to accept that",
            ),
            (
                config("env:ACMEKEEP_TEST_CF_SURELY_UNSET", api, None),
                "api_token: secret env:ACMEKEEP_TEST_CF_SURELY_UNSET: the environment variable is not set",
            ),
        ];
        for (config, expected) in cases {
            let err = Provider::new(config).expect_err(expected);
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn config_defaults_to_the_public_api_and_refuses_unknown_keys() {
        let config: Config = serde_json::from_str(r#"{"api_token": "t"}"#).expect("minimal config");
        assert_eq!(config.api_url, "https://api.cloudflare.com/client/v4");
        assert_eq!(config.zone_id, None);
        assert!(Provider::new(config).is_ok());

        let err = serde_json::from_str::<Config>(r#"{"api_token": "t", "api_key": "k"}"#)
            .expect_err("unknown key");
        assert!(
            err.to_string().starts_with("unknown field `api_key`"),
            "{err}"
        );
    }

    #[test]
    fn quoted_and_unquoted_content_both_match() {
        assert!(holds("abc", "abc"));
        assert!(holds("\"abc\"", "abc"));
        assert!(!holds("\"abcd\"", "abc"));
        assert!(!holds("abcd", "abc"));
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let provider = Provider::new(config("s3cret-token", crate::config::DEFAULT_API_URL, None))
            .expect("valid config");
        assert!(!format!("{provider:?}").contains("s3cret"));
    }
}
