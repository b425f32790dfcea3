use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use acme_core::Secret;
use serde::Deserialize;

use crate::Error;

/// The API integration (client id) acmekeep names when it asks TPP for a token, unless
/// configured: a TPP administrator creates an API integration with this id.
pub const DEFAULT_CLIENT_ID: &str = "acmekeep";

/// How long one `issue()` waits for TPP to issue before it reports the request as pending.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The OAuth scope acmekeep asks for: request and retrieve certificates.
pub const SCOPE: &str = "certificate:manage";

/// The configuration of one `kind = "venafi"` issuer.
///
/// Exactly one way to authenticate: `access_token` (optionally with `refresh_token`, or a
/// `refresh_token` alone), or `username` + `password`.
///
/// ```toml
/// [issuers.corp]
/// kind = "venafi"
/// url = "https://tpp.example.com"
/// zone = "\\VED\\Policy\\Web"
/// access_token = "file:/run/secrets/tpp-access-token"
/// refresh_token = "file:/run/secrets/tpp-refresh-token"
/// custom_fields = [{ name = "Cost Center", values = ["CC-1042"] }]
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenafiConfig {
    /// The TPP server, e.g. `https://tpp.example.com` (a trailing `/vedsdk` is accepted).
    pub url: String,
    /// The policy folder certificates are requested into: `\VED\Policy\Web`, or `Web` for short.
    pub zone: String,
    /// An OAuth bearer token with scope `certificate:manage`: `env:NAME`, `file:/path` or inline.
    #[serde(default)]
    pub access_token: Option<String>,
    /// The refresh token issued with `access_token`, used when TPP says the access token expired.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The client id of the TPP API integration the tokens belong to; default [`DEFAULT_CLIENT_ID`].
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// A TPP user name, for password authentication (`POST /vedauth/authorize/oauth`).
    #[serde(default)]
    pub username: Option<String>,
    /// The password of `username`: `env:NAME`, `file:/path` or inline.
    #[serde(default)]
    pub password: Option<String>,
    /// Custom field values sent with every request, as TPP's `CustomFields`.
    #[serde(default)]
    pub custom_fields: Vec<CustomField>,
    /// Extra PEM root certificates for the TPP server's TLS certificate (private CAs).
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// How long one attempt waits for issuance before reporting it pending; default 2 minutes.
    #[serde(
        default = "default_timeout",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub timeout: Duration,
    /// Accept a plain `http://` URL to a host that is not a loopback address (dangerous:
    /// credentials and certificates cross the network unencrypted; warned about at every
    /// start). Default `false`: `http://` only to `127.0.0.0/8`, `::1` or `localhost`.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// One TPP custom field and its values (`{ name = "Cost Center", values = ["CC-1042"] }`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomField {
    /// The field's name as defined in TPP (case-sensitive).
    pub name: String,
    /// Its values (most fields take one).
    pub values: Vec<String>,
}

impl fmt::Debug for VenafiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenafiConfig")
            .field("url", &self.url)
            .field("zone", &self.zone)
            .field("access_token", &shown(self.access_token.as_deref()))
            .field("refresh_token", &shown(self.refresh_token.as_deref()))
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &shown(self.password.as_deref()))
            .field("custom_fields", &self.custom_fields)
            .field("ca_bundle", &self.ca_bundle)
            .field("timeout", &humantime::format_duration(self.timeout))
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

/// A secret setting as it may be shown: references as written, inline values redacted.
fn shown(value: Option<&str>) -> Option<&str> {
    value.map(|v| {
        if Secret::is_reference(v) {
            v
        } else {
            "[inline, redacted]"
        }
    })
}

fn default_client_id() -> String {
    DEFAULT_CLIENT_ID.to_string()
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

/// How the issuer authenticates, once the configuration is known to be consistent.
pub(crate) enum Auth {
    /// Bearer tokens; without `refresh` an expired token is an error for the operator.
    Token {
        access: Option<Secret>,
        refresh: Option<Secret>,
    },
    /// Password grant: a fresh token is asked for whenever the current one stops working.
    Password { username: String, password: Secret },
}

impl Auth {
    /// A hint on what to do when TPP refuses the current token.
    pub(crate) fn renewal_hint(&self) -> &'static str {
        match self {
            Auth::Token { refresh: None, .. } => {
                "the token expired or lacks scope certificate:manage: issue a new one, or \
                 configure refresh_token so acmekeep renews it"
            }
            Auth::Token { .. } => {
                "the renewed token was refused too: check that the API integration grants \
                 scope certificate:manage and the user may create certificates in the zone"
            }
            Auth::Password { .. } => {
                "the user's token was refused: check that the API integration grants scope \
                 certificate:manage and the user may create certificates in the zone"
            }
        }
    }
}

/// The checked settings the issuer runs with.
pub(crate) struct Settings {
    pub(crate) base_url: String,
    pub(crate) zone: String,
    pub(crate) client_id: String,
    pub(crate) auth: Auth,
    pub(crate) custom_fields: Vec<CustomField>,
    pub(crate) timeout: Duration,
}

impl VenafiConfig {
    /// Checks the configuration, resolves its secrets and normalizes URL and zone.
    pub(crate) fn settings(&self) -> Result<Settings, Error> {
        let config = |message: String| Error::Config(message);
        let url = self.url.trim().trim_end_matches('/');
        let url = url.strip_suffix("/vedsdk").unwrap_or(url);
        let has_host = url.split_once("://").is_some_and(|(scheme, rest)| {
            (scheme == "https" || scheme == "http") && !rest.is_empty() && !rest.starts_with('/')
        });
        if !has_host {
            return Err(config(format!(
                "url {:?}: must be the TPP server's https:// URL, e.g. \"https://tpp.example.com\"",
                self.url
            )));
        }
        acme_core::check_plain_http("url", url, self.allow_insecure_http).map_err(config)?;
        let zone = policy_dn(&self.zone).ok_or_else(|| {
            config(format!(
                "zone {:?}: must name a policy folder, e.g. \"\\\\VED\\\\Policy\\\\Web\"",
                self.zone
            ))
        })?;
        if self.client_id.trim().is_empty() {
            return Err(config("client_id must not be empty".into()));
        }
        if self.timeout.is_zero() {
            return Err(config("timeout must be longer than zero".into()));
        }
        for field in &self.custom_fields {
            if field.name.trim().is_empty() || field.values.is_empty() {
                return Err(config(format!(
                    "custom_fields: {:?} needs a name and at least one value",
                    field.name
                )));
            }
        }
        Ok(Settings {
            base_url: url.to_string(),
            zone,
            client_id: self.client_id.clone(),
            auth: self.auth()?,
            custom_fields: self.custom_fields.clone(),
            timeout: self.timeout,
        })
    }

    fn auth(&self) -> Result<Auth, Error> {
        const CHOOSE: &str = "configure either access_token (optionally with refresh_token), \
                              or username and password";
        let secret = |key: &'static str, value: &Option<String>| -> Result<Option<Secret>, Error> {
            let Some(value) = value else {
                return Ok(None);
            };
            let resolved =
                Secret::resolve(value).map_err(|source| Error::Secret { key, source })?;
            if resolved.expose().trim().is_empty() {
                return Err(Error::Config(format!("{key} is empty")));
            }
            Ok(Some(resolved))
        };
        let token_set = self.access_token.is_some() || self.refresh_token.is_some();
        match (token_set, &self.username, &self.password) {
            (true, None, None) => Ok(Auth::Token {
                access: secret("access_token", &self.access_token)?,
                refresh: secret("refresh_token", &self.refresh_token)?,
            }),
            (false, Some(username), Some(_)) if !username.trim().is_empty() => {
                let password = secret("password", &self.password)?
                    .ok_or_else(|| Error::Config("password is missing".into()))?;
                Ok(Auth::Password {
                    username: username.clone(),
                    password,
                })
            }
            (false, Some(_), Some(_)) => Err(Error::Config("username is empty".into())),
            (true, _, _) => Err(Error::Config(format!(
                "access_token/refresh_token cannot be combined with username/password: {CHOOSE}"
            ))),
            (false, Some(_), None) => Err(Error::Config(format!(
                "username is set but password is missing: {CHOOSE}"
            ))),
            (false, None, Some(_)) => Err(Error::Config(format!(
                "password is set but username is missing: {CHOOSE}"
            ))),
            (false, None, None) => Err(Error::Config(format!(
                "no credentials configured: {CHOOSE}"
            ))),
        }
    }
}

/// The policy DN of a zone: `\VED\Policy\Web` as is, `Web` or `\Web` under `\VED\Policy`.
fn policy_dn(zone: &str) -> Option<String> {
    let zone = zone.trim().trim_end_matches('\\');
    if zone.is_empty() {
        return None;
    }
    let lower = zone.to_ascii_lowercase();
    if lower == "\\ved\\policy" {
        return None;
    }
    if lower.starts_with("\\ved\\policy\\") {
        return Some(zone.to_string());
    }
    if lower.starts_with("\\ved\\") || lower == "\\ved" {
        return None;
    }
    Some(format!("\\VED\\Policy\\{}", zone.trim_start_matches('\\')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<VenafiConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    const BASE: &str = r#""url": "https://tpp.example.com", "zone": "\\VED\\Policy\\Web""#;

    fn with(extra: &str) -> VenafiConfig {
        parse(&format!("{{{BASE}, {extra}}}")).expect("parse")
    }

    #[test]
    fn defaults_are_client_id_acmekeep_and_two_minutes() {
        let config = with(r#""access_token": "t""#);
        assert_eq!(config.client_id, "acmekeep");
        assert_eq!(config.timeout, Duration::from_secs(120));
        assert!(config.custom_fields.is_empty());
        let settings = config.settings().expect("valid");
        assert_eq!(settings.base_url, "https://tpp.example.com");
        assert_eq!(settings.zone, "\\VED\\Policy\\Web");
    }

    #[test]
    fn unknown_keys_and_bad_timeouts_are_named() {
        let err = parse(&format!("{{{BASE}, \"acess_token\": \"t\"}}")).unwrap_err();
        assert!(err.contains("acess_token"), "{err}");
        let err = parse(&format!("{{{BASE}, \"timeout\": \"soon\"}}")).unwrap_err();
        assert!(err.contains("\"soon\""), "{err}");
    }

    #[test]
    fn exactly_one_authentication_method_is_accepted() {
        let refused = [
            ("none", ""),
            (
                "token and password",
                r#""access_token": "t", "username": "u", "password": "p""#,
            ),
            ("username only", r#""username": "u""#),
            ("password only", r#""password": "p""#),
        ];
        for (case, extra) in refused {
            let json = if extra.is_empty() {
                format!("{{{BASE}}}")
            } else {
                format!("{{{BASE}, {extra}}}")
            };
            let config = parse(&json).expect(case);
            let Err(err) = config.settings() else {
                panic!("{case}: accepted");
            };
            let message = err.to_string();
            assert!(
                message.contains("access_token") && message.contains("username"),
                "{case}: {message}"
            );
        }
        for accepted in [
            r#""access_token": "t""#,
            r#""access_token": "t", "refresh_token": "r""#,
            r#""refresh_token": "r""#,
            r#""username": "u", "password": "p""#,
        ] {
            assert!(with(accepted).settings().is_ok(), "{accepted}");
        }
    }

    #[test]
    fn zones_are_completed_to_policy_dns() {
        assert_eq!(policy_dn("Web").as_deref(), Some("\\VED\\Policy\\Web"));
        assert_eq!(
            policy_dn("\\Web\\Internal").as_deref(),
            Some("\\VED\\Policy\\Web\\Internal")
        );
        assert_eq!(
            policy_dn("\\VED\\Policy\\Web\\").as_deref(),
            Some("\\VED\\Policy\\Web")
        );
        assert_eq!(policy_dn(""), None);
        assert_eq!(policy_dn("\\VED\\Policy"), None);
        assert_eq!(policy_dn("\\VED\\Other\\Web"), None);
    }

    #[test]
    fn bad_urls_are_refused_and_a_vedsdk_suffix_is_dropped() {
        for url in ["tpp.example.com", "https://", "ftp://tpp.example.com"] {
            let config = parse(&format!(
                r#"{{"url": "{url}", "zone": "Web", "access_token": "t"}}"#
            ))
            .expect(url);
            let err = config.settings().err().expect(url).to_string();
            assert!(err.contains(&format!("url {url:?}")), "{err}");
        }
        let config = parse(
            r#"{"url": "https://tpp.example.com/vedsdk/", "zone": "Web", "access_token": "t"}"#,
        )
        .expect("parse");
        assert_eq!(
            config.settings().expect("valid").base_url,
            "https://tpp.example.com"
        );
    }

    #[test]
    fn debug_shows_references_but_never_inline_secrets() {
        let config = with(r#""access_token": "s3cret-access", "refresh_token": "env:TPP_REFRESH""#);
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("env:TPP_REFRESH"), "{shown}");
    }
}
