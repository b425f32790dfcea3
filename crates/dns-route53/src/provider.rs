use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use acme_core::{CHALLENGE_TTL, DnsProvider, Secret};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_route53::config::{Credentials, ProvideCredentials};
use aws_sdk_route53::error::DisplayErrorContext;
use aws_sdk_route53::types::ChangeAction;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::client::{Api, Context, TxtSet, bare_zone_id};
use crate::{Config, Error};

/// The first pause between two GetChange polls; it doubles up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The longest pause between two GetChange polls.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(8);

/// The name credentials from the configuration carry in the SDK (shown in its debug logs).
const CONFIG_CREDENTIALS_SOURCE: &str = "acmekeep-config";

/// A [`DnsProvider`] writing TXT records into AWS Route53.
///
/// The AWS client is built on first use (loading profiles and the credential chain is
/// asynchronous); hosted zone ids found by name are remembered. Changes to record sets are
/// serialized within one provider, so a wildcard and its apex adding values to the same
/// name at once do not overwrite each other.
pub struct Route53Provider {
    hosted_zone_id: Option<String>,
    region: String,
    profile: Option<String>,
    credentials: Option<(Secret, Secret)>,
    endpoint_url: Option<String>,
    propagation_wait: Duration,
    api: OnceCell<Api>,
    zone_ids: Mutex<HashMap<String, String>>,
    changes: tokio::sync::Mutex<()>,
}

impl Route53Provider {
    /// Checks the configuration and reads the credential references; no AWS call is made
    /// until the first record is set.
    pub fn new(config: Config) -> Result<Route53Provider, Error> {
        let hosted_zone_id = match config.hosted_zone_id {
            Some(id) => {
                let bare = bare_zone_id(id.trim());
                if bare.is_empty() || !bare.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(Error::Config {
                        key: "hosted_zone_id",
                        reason: format!(
                            "{id:?} is not a hosted zone id; write the id Route53 shows, \
                             e.g. \"Z0123456789ABCDEFGHIJ\""
                        ),
                    });
                }
                Some(bare.to_string())
            }
            None => None,
        };
        if config.region.is_empty()
            || !config
                .region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error::Config {
                key: "region",
                reason: format!(
                    "{:?} is not an AWS region; Route53 is global, \"us-east-1\" fits \
                     (\"cn-north-1\" or \"us-gov-west-1\" in those partitions)",
                    config.region
                ),
            });
        }
        if config
            .profile
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err(Error::Config {
                key: "profile",
                reason: "is empty; name a profile from ~/.aws/config or leave the key out".into(),
            });
        }
        let credentials = match (config.access_key_id, config.secret_access_key) {
            (Some(id), Some(secret)) => {
                if config.profile.is_some() {
                    return Err(Error::Config {
                        key: "profile",
                        reason: "cannot be combined with access_key_id / secret_access_key; \
                                 use one or the other"
                            .into(),
                    });
                }
                let id = Secret::resolve(&id).map_err(|source| Error::Secret {
                    key: "access_key_id",
                    source,
                })?;
                let secret = Secret::resolve(&secret).map_err(|source| Error::Secret {
                    key: "secret_access_key",
                    source,
                })?;
                Some((id, secret))
            }
            (Some(_), None) => {
                return Err(Error::Config {
                    key: "secret_access_key",
                    reason: "is missing: access_key_id needs it (or remove both to use the \
                             default credential chain)"
                        .into(),
                });
            }
            (None, Some(_)) => {
                return Err(Error::Config {
                    key: "access_key_id",
                    reason: "is missing: secret_access_key needs it (or remove both to use \
                             the default credential chain)"
                        .into(),
                });
            }
            (None, None) => None,
        };
        if let Some(url) = &config.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::Config {
                key: "endpoint_url",
                reason: format!("{url:?} is not an http:// or https:// URL"),
            });
        }
        Ok(Route53Provider {
            hosted_zone_id,
            region: config.region,
            profile: config.profile,
            credentials,
            endpoint_url: config.endpoint_url,
            propagation_wait: config.propagation_wait,
            api: OnceCell::new(),
            zone_ids: Mutex::new(HashMap::new()),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// The API client, built on first use; fails if no credentials can be found.
    async fn api(&self) -> Result<&Api, Error> {
        self.api.get_or_try_init(|| self.connect()).await
    }

    async fn connect(&self) -> Result<Api, Error> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()));
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let Some((id, secret)) = &self.credentials {
            loader = loader.credentials_provider(Credentials::new(
                id.expose(),
                secret.expose(),
                None,
                None,
                CONFIG_CREDENTIALS_SOURCE,
            ));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let no_credentials = |detail: String| Error::NoCredentials {
            profile: match &self.profile {
                Some(profile) => format!("{profile:?}"),
                None => "default (or AWS_PROFILE)".to_string(),
            },
            detail,
        };
        let chain = sdk
            .credentials_provider()
            .ok_or_else(|| no_credentials("no credential provider configured".into()))?;
        chain
            .provide_credentials()
            .await
            .map_err(|e| no_credentials(DisplayErrorContext(&e).to_string()))?;
        Ok(Api::new(aws_sdk_route53::Client::new(&sdk)))
    }

    /// The hosted zone id for `zone`: the configured one, else looked up by name (once).
    async fn zone_id(&self, api: &Api, zone: &str) -> Result<String, Error> {
        if let Some(id) = &self.hosted_zone_id {
            return Ok(id.clone());
        }
        if let Some(id) = self.cached_zone_id(zone) {
            return Ok(id);
        }
        let zones = api.zones_named(zone).await?;
        let id = match zones.as_slice() {
            [] => {
                return Err(Error::ZoneNotFound {
                    zone: zone.to_string(),
                });
            }
            [only] => only.id.clone(),
            several => {
                return Err(Error::AmbiguousZone {
                    zone: zone.to_string(),
                    ids: several
                        .iter()
                        .map(|z| {
                            if z.private {
                                format!("{} (private)", z.id)
                            } else {
                                format!("{} (public)", z.id)
                            }
                        })
                        .collect(),
                });
            }
        };
        tracing::debug!(zone, hosted_zone_id = %id, "found the Route53 hosted zone");
        self.zone_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(zone.to_string(), id.clone());
        Ok(id)
    }

    fn cached_zone_id(&self, zone: &str) -> Option<String> {
        self.zone_ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(zone)
            .cloned()
    }

    /// Polls GetChange until the change is INSYNC, with a growing pause, for at most
    /// `propagation_wait`.
    async fn wait_in_sync(
        &self,
        api: &Api,
        change: &str,
        fqdn: &str,
        ctx: Context<'_>,
    ) -> Result<(), Error> {
        if self.propagation_wait.is_zero() {
            return Ok(());
        }
        let started = Instant::now();
        let deadline = started + self.propagation_wait;
        let mut pause = FIRST_POLL_INTERVAL;
        loop {
            let in_sync = api.in_sync(change, ctx).await?;
            tracing::debug!(change, fqdn, in_sync, "Route53 GetChange");
            if in_sync {
                tracing::debug!(change, fqdn, waited = ?started.elapsed(), "Route53 change is INSYNC");
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::NotInSync {
                    change: change.to_string(),
                    fqdn: fqdn.to_string(),
                    waited: self.propagation_wait,
                });
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_POLL_INTERVAL);
        }
    }

    async fn add(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error> {
        let api = self.api().await?;
        let zone_id = self.zone_id(api, zone).await?;
        let ctx = Context {
            zone,
            zone_id: &zone_id,
            subject: fqdn,
        };
        let quoted = quote(value);
        let change = {
            let _serialized = self.changes.lock().await;
            let mut values = api
                .txt_set(fqdn, ctx)
                .await?
                .map(|set| set.values)
                .unwrap_or_default();
            if values.contains(&quoted) {
                tracing::debug!(fqdn, zone, "the TXT value is already in Route53");
                None
            } else {
                values.push(quoted);
                let set = TxtSet {
                    ttl: i64::from(CHALLENGE_TTL),
                    values,
                };
                let change = api.change(ChangeAction::Upsert, fqdn, &set, ctx).await?;
                tracing::info!(fqdn, zone, hosted_zone_id = %zone_id, change, values = set.values.len(), "Route53 TXT record set");
                Some(change)
            }
        };
        match change {
            Some(change) => self.wait_in_sync(api, &change, fqdn, ctx).await,
            None => Ok(()),
        }
    }

    async fn remove(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), Error> {
        let api = self.api().await?;
        let zone_id = self.zone_id(api, zone).await?;
        let ctx = Context {
            zone,
            zone_id: &zone_id,
            subject: fqdn,
        };
        let quoted = quote(value);
        let _serialized = self.changes.lock().await;
        let Some(current) = api.txt_set(fqdn, ctx).await? else {
            return Ok(());
        };
        if !current.values.contains(&quoted) {
            return Ok(());
        }
        let remaining: Vec<String> = current
            .values
            .iter()
            .filter(|v| **v != quoted)
            .cloned()
            .collect();
        let change = if remaining.is_empty() {
            // DELETE must repeat the set exactly as it is: same TTL, same values.
            api.change(ChangeAction::Delete, fqdn, &current, ctx)
                .await?
        } else {
            let set = TxtSet {
                ttl: current.ttl,
                values: remaining,
            };
            api.change(ChangeAction::Upsert, fqdn, &set, ctx).await?
        };
        tracing::info!(fqdn, zone, hosted_zone_id = %zone_id, change, "Route53 TXT value removed");
        Ok(())
    }
}

impl fmt::Debug for Route53Provider {
    /// The settings, without credentials or the SDK client (whose debug output would show
    /// the access key id).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route53Provider")
            .field("hosted_zone_id", &self.hosted_zone_id)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field(
                "credentials",
                &if self.credentials.is_some() {
                    "access_key_id"
                } else {
                    "default chain"
                },
            )
            .field("endpoint_url", &self.endpoint_url)
            .field("propagation_wait", &self.propagation_wait)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DnsProvider for Route53Provider {
    fn name(&self) -> &str {
        "route53"
    }

    async fn set_txt(&self, zone: &str, fqdn: &str, value: &str) -> Result<(), acme_core::Error> {
        self.add(zone, fqdn, value).await.map_err(dns_error)
    }

    async fn remove_txt(
        &self,
        zone: &str,
        fqdn: &str,
        value: &str,
    ) -> Result<(), acme_core::Error> {
        self.remove(zone, fqdn, value).await.map_err(dns_error)
    }
}

fn dns_error(err: Error) -> acme_core::Error {
    acme_core::Error::Dns {
        provider: "route53".to_string(),
        kind: err.kind(),
        source: Box::new(err),
    }
}

/// A TXT value as Route53 stores it: one quoted character-string, with `"` and `\` escaped.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(edit: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config::default();
        edit(&mut config);
        config
    }

    #[test]
    fn invalid_configurations_are_refused_naming_the_key() {
        let cases: Vec<(Config, &str)> = vec![
            (
                config(|c| c.hosted_zone_id = Some("Z12 34".into())),
                "route53 config key hosted_zone_id: \"Z12 34\" is not a hosted zone id",
            ),
            (
                config(|c| c.hosted_zone_id = Some("/hostedzone/".into())),
                "route53 config key hosted_zone_id: \"/hostedzone/\" is not a hosted zone id",
            ),
            (
                config(|c| c.region = String::new()),
                "route53 config key region: \"\" is not an AWS region",
            ),
            (
                config(|c| c.region = "us east".into()),
                "route53 config key region: \"us east\" is not an AWS region",
            ),
            (
                config(|c| c.profile = Some(" ".into())),
                "route53 config key profile: is empty",
            ),
            (
                config(|c| c.access_key_id = Some("AKIDEXAMPLE".into())),
                "route53 config key secret_access_key: is missing",
            ),
            (
                config(|c| c.secret_access_key = Some("wJalrXUtnFEMI".into())),
                "route53 config key access_key_id: is missing",
            ),
            (
                config(|c| {
                    c.access_key_id = Some("AKIDEXAMPLE".into());
                    c.secret_access_key = Some("wJalrXUtnFEMI".into());
                    c.profile = Some("dns".into());
                }),
                "route53 config key profile: cannot be combined with access_key_id",
            ),
            (
                config(|c| {
                    c.access_key_id = Some("env:ACMEKEEP_TEST_ROUTE53_SURELY_UNSET".into());
                    c.secret_access_key = Some("wJalrXUtnFEMI".into());
                }),
                "route53 config key access_key_id: secret env:ACMEKEEP_TEST_ROUTE53_SURELY_UNSET: \
                 the environment variable is not set",
            ),
            (
                config(|c| {
                    c.access_key_id = Some("AKIDEXAMPLE".into());
                    c.secret_access_key = Some("file:/nonexistent/acmekeep-route53-secret".into());
                }),
                "route53 config key secret_access_key: secret file:/nonexistent/acmekeep-route53-secret: ",
            ),
            (
                config(|c| c.endpoint_url = Some("127.0.0.1:5000".into())),
                "route53 config key endpoint_url: \"127.0.0.1:5000\" is not an http:// or https:// URL",
            ),
        ];
        for (config, expected) in cases {
            let message = Route53Provider::new(config.clone())
                .expect_err(&format!("{config:?} must be refused"))
                .to_string();
            assert!(
                message.starts_with(expected),
                "for {config:?}\n  got: {message}\n want: {expected}…"
            );
        }
    }

    #[test]
    fn inline_secrets_never_appear_in_debug_output() {
        let provider = Route53Provider::new(config(|c| {
            c.access_key_id = Some("AKIDEXAMPLE".into());
            c.secret_access_key = Some("wJalrXUtnFEMI-very-secret".into());
        }))
        .expect("valid config");
        let debug = format!("{provider:?}");
        assert!(!debug.contains("AKIDEXAMPLE"), "{debug}");
        assert!(!debug.contains("very-secret"), "{debug}");
    }

    #[test]
    fn hosted_zone_ids_are_accepted_with_or_without_their_prefix() {
        for id in ["Z0123456789ABCDEFGHIJ", "/hostedzone/Z0123456789ABCDEFGHIJ"] {
            let provider = Route53Provider::new(config(|c| c.hosted_zone_id = Some(id.into())))
                .expect("valid id");
            assert_eq!(
                provider.hosted_zone_id.as_deref(),
                Some("Z0123456789ABCDEFGHIJ")
            );
        }
    }

    #[test]
    fn values_are_stored_as_one_quoted_string() {
        assert_eq!(quote("abc-_123"), "\"abc-_123\"");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
