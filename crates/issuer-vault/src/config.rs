use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;

/// How long one request to Vault may take, unless configured: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a pod's service-account token is mounted: the default `kubernetes.jwt`.
pub const DEFAULT_KUBERNETES_JWT: &str = "file:/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The configuration of one `kind = "vault"` issuer.
///
/// Exactly one of `token`, `approle` and `kubernetes` says how acmekeep authenticates.
///
/// ```toml
/// [issuers.vault]
/// kind = "vault"
/// url = "https://vault.example.com:8200"
/// path = "pki/sign/web"
/// approle = { role_id = "…", secret_id = "env:VAULT_SECRET_ID" }
/// ttl = "72h"
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultIssuerConfig {
    /// The Vault or OpenBao address, e.g. `https://vault.example.com:8200` (no `/v1`).
    pub url: String,
    /// The signing endpoint below `/v1/`: `<mount>/sign/<role>`, `<mount>/sign-verbatim`
    /// or `<mount>/sign-verbatim/<role>`.
    pub path: String,
    /// A Vault token: `env:NAME`, `file:/path` (read again at every use, so a token file
    /// an agent rewrites is picked up), or the token itself.
    #[serde(default)]
    pub token: Option<String>,
    /// Log in with AppRole instead of a fixed token.
    #[serde(default)]
    pub approle: Option<AppRoleConfig>,
    /// Log in with a Kubernetes service-account token instead of a fixed token.
    #[serde(default)]
    pub kubernetes: Option<KubernetesAuthConfig>,
    /// The Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace` on every request.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Extra PEM roots for Vault's TLS certificate (a private CA), besides the system's.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// The validity to ask for (`ttl`); default: the role's `ttl` (Vault caps it at `max_ttl`).
    #[serde(default, deserialize_with = "acme_core::duration::deserialize_option")]
    pub ttl: Option<Duration>,
    /// How long one request may take; default [`DEFAULT_TIMEOUT`].
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

/// AppRole login (`auth/<mount>/login` with a role id and a secret id).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRoleConfig {
    /// The role id (`env:`/`file:` references work here too).
    pub role_id: String,
    /// The secret id: `env:NAME`, `file:/path`, or the value itself.
    pub secret_id: String,
    /// Where the AppRole auth method is mounted; default `approle`.
    #[serde(default = "default_approle_mount")]
    pub mount: String,
}

/// Kubernetes login (`auth/<mount>/login` with a service-account JWT).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesAuthConfig {
    /// The Vault role bound to the service account.
    pub role: String,
    /// The service-account JWT; default [`DEFAULT_KUBERNETES_JWT`] (read at every login,
    /// since the kubelet rotates it).
    #[serde(default = "default_kubernetes_jwt")]
    pub jwt: String,
    /// Where the Kubernetes auth method is mounted; default `kubernetes`.
    #[serde(default = "default_kubernetes_mount")]
    pub mount: String,
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

fn default_approle_mount() -> String {
    "approle".to_string()
}

fn default_kubernetes_jwt() -> String {
    DEFAULT_KUBERNETES_JWT.to_string()
}

fn default_kubernetes_mount() -> String {
    "kubernetes".to_string()
}

/// A secret reference as it may be shown: `env:`/`file:` references as written, inline
/// values never.
pub(crate) fn shown(value: &str) -> &str {
    if acme_core::Secret::is_reference(value) {
        value
    } else {
        "[inline, redacted]"
    }
}

impl fmt::Debug for VaultIssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultIssuerConfig")
            .field("url", &self.url)
            .field("path", &self.path)
            .field("token", &self.token.as_deref().map(shown))
            .field("approle", &self.approle)
            .field("kubernetes", &self.kubernetes)
            .field("namespace", &self.namespace)
            .field("ca_bundle", &self.ca_bundle)
            .field("ttl", &self.ttl.map(humantime::format_duration))
            .field("timeout", &humantime::format_duration(self.timeout))
            .field("allow_insecure_http", &self.allow_insecure_http)
            .finish()
    }
}

impl fmt::Debug for AppRoleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRoleConfig")
            .field("role_id", &self.role_id)
            .field("secret_id", &shown(&self.secret_id))
            .field("mount", &self.mount)
            .finish()
    }
}

impl fmt::Debug for KubernetesAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesAuthConfig")
            .field("role", &self.role)
            .field("jwt", &shown(&self.jwt))
            .field("mount", &self.mount)
            .finish()
    }
}

/// The signing endpoint, taken apart for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The path below `/v1/`, without leading or trailing slashes.
    pub(crate) path: String,
    /// The PKI mount, e.g. `pki` or `pki/int`.
    pub(crate) mount: String,
    /// The role, if the path names one.
    pub(crate) role: Option<String>,
}

impl Endpoint {
    /// Parses `path`; the error says which shapes are accepted.
    pub(crate) fn parse(path: &str) -> Result<Endpoint, Error> {
        let trimmed = path.trim_matches('/');
        let shapes = "write `<mount>/sign/<role>` (e.g. \"pki/sign/web\"), \
                      `<mount>/sign-verbatim` or `<mount>/sign-verbatim/<role>`";
        if trimmed.starts_with("v1/") {
            return Err(Error::Config(format!(
                "`path` {path:?} is relative to {{url}}/v1/: drop the leading \"v1/\""
            )));
        }
        let segments: Vec<&str> = trimmed.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(Error::Config(format!(
                "`path` {path:?} has an empty segment: {shapes}"
            )));
        }
        let n = segments.len();
        let (mount_len, role) = match segments.as_slice() {
            [.., "sign", role] if n >= 3 => (n - 2, Some(role.to_string())),
            [.., "sign-verbatim", role] if n >= 3 => (n - 2, Some(role.to_string())),
            [.., "sign-verbatim"] if n >= 2 => (n - 1, None),
            _ => {
                return Err(Error::Config(format!(
                    "`path` {path:?} is not a PKI signing endpoint: {shapes}"
                )));
            }
        };
        Ok(Endpoint {
            path: trimmed.to_string(),
            mount: segments[..mount_len].join("/"),
            role,
        })
    }

    /// How the role is named in messages: `role "web" of mount pki`.
    pub(crate) fn describe_role(&self) -> String {
        match &self.role {
            Some(role) => format!("role {role:?} of PKI mount {}", self.mount),
            None => format!("sign-verbatim (no role) of PKI mount {}", self.mount),
        }
    }
}

/// How acmekeep authenticates, once the configuration is known to be consistent.
#[derive(Clone, Debug)]
pub(crate) enum AuthMethod {
    /// A fixed token (a reference, resolved at each use).
    Token { reference: String },
    /// AppRole login.
    AppRole(AppRoleConfig),
    /// Kubernetes service-account login.
    Kubernetes(KubernetesAuthConfig),
}

impl VaultIssuerConfig {
    /// Checks that exactly one authentication method is configured and returns it.
    pub(crate) fn auth_method(&self) -> Result<AuthMethod, Error> {
        let choose = "set exactly one of `token`, `approle` and `kubernetes`";
        match (&self.token, &self.approle, &self.kubernetes) {
            (Some(token), None, None) => Ok(AuthMethod::Token {
                reference: token.clone(),
            }),
            (None, Some(approle), None) => {
                for (key, value) in [
                    ("approle.mount", &approle.mount),
                    ("approle.role_id", &approle.role_id),
                    ("approle.secret_id", &approle.secret_id),
                ] {
                    if value.trim().is_empty() {
                        return Err(Error::Config(format!("`{key}` is empty")));
                    }
                }
                Ok(AuthMethod::AppRole(approle.clone()))
            }
            (None, None, Some(kubernetes)) => {
                for (key, value) in [
                    ("kubernetes.mount", &kubernetes.mount),
                    ("kubernetes.role", &kubernetes.role),
                    ("kubernetes.jwt", &kubernetes.jwt),
                ] {
                    if value.trim().is_empty() {
                        return Err(Error::Config(format!("`{key}` is empty")));
                    }
                }
                Ok(AuthMethod::Kubernetes(kubernetes.clone()))
            }
            (None, None, None) => Err(Error::Config(format!(
                "no authentication configured: {choose}"
            ))),
            _ => Err(Error::Config(format!(
                "more than one authentication method configured: {choose}"
            ))),
        }
    }

    /// The base URL without a trailing slash, checked to be https (or http where allowed,
    /// see [`acme_core::check_plain_http`]).
    pub(crate) fn base_url(&self) -> Result<String, Error> {
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            Error::Config(format!(
                "`url` {:?} is not a URL ({e}); write e.g. \"https://vault.example.com:8200\"",
                self.url
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "`url` {:?} must start with https:// (or http:// for a local test server)",
                self.url
            )));
        }
        acme_core::check_plain_http("url", &self.url, self.allow_insecure_http)
            .map_err(Error::Config)?;
        let base = self.url.trim_end_matches('/');
        if base.ends_with("/v1") {
            return Err(Error::Config(format!(
                "`url` {:?} must not end in /v1: acmekeep adds it",
                self.url
            )));
        }
        Ok(base.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<VaultIssuerConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_thirty_seconds_and_the_usual_auth_mounts() {
        let config = parse(
            r#"{"url": "https://vault.test:8200", "path": "pki/sign/web",
                "approle": {"role_id": "r", "secret_id": "env:S"}}"#,
        )
        .expect("parse");
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert_eq!(config.ttl, None);
        assert_eq!(config.approle.expect("approle").mount, "approle");
        let config = parse(
            r#"{"url": "https://vault.test:8200", "path": "pki/sign/web",
                "kubernetes": {"role": "acmekeep"}, "ttl": "72h"}"#,
        )
        .expect("parse");
        let kubernetes = config.kubernetes.expect("kubernetes");
        assert_eq!(kubernetes.jwt, DEFAULT_KUBERNETES_JWT);
        assert_eq!(kubernetes.mount, "kubernetes");
        assert_eq!(config.ttl, Some(Duration::from_secs(72 * 3600)));
    }

    #[test]
    fn inside_a_kind_tagged_enum_typos_are_named() {
        #[derive(Debug, Deserialize)]
        #[serde(tag = "kind")]
        enum Issuer {
            #[serde(rename = "vault")]
            Vault(VaultIssuerConfig),
        }
        let ok = r#"{"kind": "vault", "url": "http://127.0.0.1:8200", "path": "pki/sign/web", "token": "env:T"}"#;
        let Issuer::Vault(config) = serde_json::from_str(ok).expect("parse");
        assert_eq!(config.token.as_deref(), Some("env:T"));
        let typo = ok.replace("\"token\"", "\"tokne\"");
        let err = serde_json::from_str::<Issuer>(&typo)
            .expect_err("typo refused")
            .to_string();
        assert!(err.contains("tokne"), "{err}");
        let nested = r#"{"url": "http://v", "path": "pki/sign/web", "approle": {"role_id": "r", "secret": "s"}}"#;
        let err = parse(nested).expect_err("typo refused");
        assert!(err.contains("secret"), "{err}");
    }

    #[test]
    fn exactly_one_authentication_method_is_accepted() {
        let base = r#""url": "http://v", "path": "pki/sign/web""#;
        for (case, auth) in [
            ("none", ""),
            (
                "token and approle",
                r#", "token": "t", "approle": {"role_id": "r", "secret_id": "s"}"#,
            ),
            (
                "token and kubernetes",
                r#", "token": "t", "kubernetes": {"role": "r"}"#,
            ),
        ] {
            let config = parse(&format!("{{{base}{auth}}}")).expect(case);
            let err = config.auth_method().expect_err(case).to_string();
            for key in ["`token`", "`approle`", "`kubernetes`"] {
                assert!(err.contains(key), "{case}: {err}");
            }
        }
        let empty = parse(&format!(
            r#"{{{base}, "approle": {{"role_id": " ", "secret_id": "s"}}}}"#
        ))
        .expect("parse");
        let err = empty.auth_method().expect_err("empty role id").to_string();
        assert!(err.contains("`approle.role_id`"), "{err}");
    }

    #[test]
    fn signing_paths_name_their_mount_and_role() {
        let cases = [
            ("pki/sign/web", "pki", Some("web")),
            ("/pki/int/sign/web/", "pki/int", Some("web")),
            ("pki/sign-verbatim", "pki", None),
            ("pki/sign-verbatim/web", "pki", Some("web")),
        ];
        for (path, mount, role) in cases {
            let endpoint = Endpoint::parse(path).expect(path);
            assert_eq!(endpoint.mount, mount, "{path}");
            assert_eq!(endpoint.role.as_deref(), role, "{path}");
        }
        assert_eq!(
            Endpoint::parse("/pki/int/sign/web/").expect("parse").path,
            "pki/int/sign/web"
        );
    }

    #[test]
    fn other_paths_are_refused_with_the_accepted_shapes() {
        for path in ["pki/issue/web", "sign/web", "pki/sign", "pki//sign/web", ""] {
            let err = Endpoint::parse(path).expect_err(path).to_string();
            assert!(err.contains("<mount>/sign/<role>"), "{path}: {err}");
        }
        let err = Endpoint::parse("v1/pki/sign/web")
            .expect_err("v1")
            .to_string();
        assert!(err.contains("drop the leading \"v1/\""), "{err}");
    }

    #[test]
    fn urls_must_be_http_and_without_the_api_prefix() {
        let with = |url: &str| VaultIssuerConfig {
            url: url.to_string(),
            ..parse(r#"{"url": "x", "path": "pki/sign/web", "token": "t"}"#).expect("parse")
        };
        assert_eq!(
            with("https://vault.test:8200/").base_url().expect("ok"),
            "https://vault.test:8200"
        );
        for bad in [
            "vault.test:8200",
            "ftp://vault.test",
            "https://vault.test/v1",
        ] {
            let err = with(bad).base_url().expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_shows_references_but_never_inline_secrets() {
        let config = parse(
            r#"{"url": "http://v", "path": "pki/sign/web", "token": "hvs.inline-token",
                "approle": {"role_id": "r", "secret_id": "inline-secret-id"}}"#,
        )
        .expect("parse");
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hvs.inline-token") && !shown.contains("inline-secret-id"),
            "{shown}"
        );
        let config = VaultIssuerConfig {
            token: Some("file:/run/secrets/vault-token".into()),
            ..config
        };
        assert!(format!("{config:?}").contains("file:/run/secrets/vault-token"));
    }
}
