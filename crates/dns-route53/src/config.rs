use std::time::Duration;

use serde::Deserialize;

/// The Route53 provider's configuration keys (flattened into a `[solvers.NAME]` table
/// beside the solver's own keys).
///
/// Credentials come from `access_key_id` + `secret_access_key` when both are set, else from
/// the AWS default chain: environment, `profile` (or `AWS_PROFILE`) in the shared config
/// files, web identity (IRSA), ECS and EC2 instance metadata.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The hosted zone's id (`Z0123…`, with or without `/hostedzone/`); by default the
    /// zone is looked up by name with ListHostedZonesByName.
    #[serde(default)]
    pub hosted_zone_id: Option<String>,
    /// The AWS region the API client signs for; Route53 is global, so the default
    /// `us-east-1` fits every commercial partition account.
    #[serde(default = "default_region")]
    pub region: String,
    /// A named profile from `~/.aws/config` / `~/.aws/credentials`.
    #[serde(default)]
    pub profile: Option<String>,
    /// An access key id (a secret reference: `env:NAME`, `file:/path` or inline); needs
    /// `secret_access_key`.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key (a secret reference); needs `access_key_id`.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Another API endpoint, e.g. `http://127.0.0.1:5000` for an emulator such as moto.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// How long `set_txt` waits for Route53 to report the change INSYNC (`"0s"`: not at all).
    #[serde(
        default = "default_propagation_wait",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub propagation_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hosted_zone_id: None,
            region: default_region(),
            profile: None,
            access_key_id: None,
            secret_access_key: None,
            endpoint_url: None,
            propagation_wait: default_propagation_wait(),
        }
    }
}

fn default_region() -> String {
    "us-east-1".to_string()
}

fn default_propagation_wait() -> Duration {
    Duration::from_secs(120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_optional_and_the_defaults_are_us_east_1_and_two_minutes() {
        let config: Config = serde_json::from_str("{}").expect("empty config");
        assert_eq!(config, Config::default());
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.propagation_wait, Duration::from_secs(120));
        assert_eq!(config.hosted_zone_id, None);
    }

    #[test]
    fn all_keys_are_read() {
        let config: Config = serde_json::from_str(
            r#"{"hosted_zone_id": "Z1", "region": "eu-west-1", "profile": "dns",
                "access_key_id": "env:AK", "secret_access_key": "file:/run/sk",
                "endpoint_url": "http://127.0.0.1:5000", "propagation_wait": "30s"}"#,
        )
        .expect("full config");
        assert_eq!(config.hosted_zone_id.as_deref(), Some("Z1"));
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.profile.as_deref(), Some("dns"));
        assert_eq!(config.access_key_id.as_deref(), Some("env:AK"));
        assert_eq!(config.secret_access_key.as_deref(), Some("file:/run/sk"));
        assert_eq!(
            config.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.propagation_wait, Duration::from_secs(30));
    }

    #[test]
    fn a_misspelt_key_is_named_with_the_keys_that_exist() {
        let err = serde_json::from_str::<Config>(r#"{"hosted_zone": "Z1"}"#).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unknown field `hosted_zone`"), "{message}");
        assert!(message.contains("hosted_zone_id"), "{message}");
    }

    #[test]
    fn a_bad_propagation_wait_says_what_is_accepted() {
        let err = serde_json::from_str::<Config>(r#"{"propagation_wait": "soon"}"#).unwrap_err();
        assert!(
            err.to_string().contains("invalid duration \"soon\""),
            "{err}"
        );
    }
}
