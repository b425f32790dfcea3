use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;

/// The subject common name of a CA that `generate = true` creates, unless configured.
pub const DEFAULT_COMMON_NAME: &str = "acmekeep local CA";

/// The validity of issued certificates, unless configured: 90 days.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// The configuration of one `kind = "ca"` issuer.
///
/// Exactly one of two modes: `cert` + `key` (an existing CA) or `generate = true`
/// (a CA created in the state directory on first start and reused afterwards).
///
/// ```toml
/// [issuers.internal]
/// kind = "ca"
/// cert = "/etc/acmekeep/ca.pem"
/// key = "file:/etc/acmekeep/ca.key"
/// validity = "30d"
/// trust_bundle = "/etc/ssl/internal-ca.pem"
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaIssuerConfig {
    /// PEM file holding the CA certificate (first) and, for an intermediate CA, its issuers.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// The CA private key: `file:/path`, `env:NAME`, or the PEM text itself.
    #[serde(default)]
    pub key: Option<String>,
    /// Create a CA in the state directory instead of using `cert` and `key`.
    #[serde(default)]
    pub generate: bool,
    /// How long issued certificates are valid (capped at the CA's own expiry); default 90 days.
    #[serde(
        default = "default_validity",
        deserialize_with = "acme_core::duration::deserialize"
    )]
    pub validity: Duration,
    /// The subject common name of a generated CA; default [`DEFAULT_COMMON_NAME`].
    #[serde(default)]
    pub common_name: Option<String>,
    /// A file to keep the CA's root certificate in (0644), for consumers that must trust it.
    #[serde(default)]
    pub trust_bundle: Option<PathBuf>,
    /// More CA certificate files to put in the trust bundle: the next CA before a rotation,
    /// the previous one until its certificates have expired.
    #[serde(default)]
    pub trust_also: Vec<PathBuf>,
}

impl Default for CaIssuerConfig {
    fn default() -> Self {
        CaIssuerConfig {
            cert: None,
            key: None,
            generate: false,
            validity: DEFAULT_VALIDITY,
            common_name: None,
            trust_bundle: None,
            trust_also: Vec::new(),
        }
    }
}

impl fmt::Debug for CaIssuerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An inline key is the key itself: show references only.
        let key = self.key.as_deref().map(|key| {
            if acme_core::Secret::is_reference(key) {
                key
            } else {
                "[inline, redacted]"
            }
        });
        f.debug_struct("CaIssuerConfig")
            .field("cert", &self.cert)
            .field("key", &key)
            .field("generate", &self.generate)
            .field("validity", &humantime::format_duration(self.validity))
            .field("common_name", &self.common_name)
            .field("trust_bundle", &self.trust_bundle)
            .field("trust_also", &self.trust_also)
            .finish()
    }
}

/// Where the CA comes from, once the configuration is known to be consistent.
pub(crate) enum CaSource {
    /// An existing CA: certificate file and key reference.
    Files { cert: PathBuf, key: String },
    /// A CA kept in the state directory, created with this common name when missing.
    Generated { common_name: String },
}

impl CaIssuerConfig {
    /// Checks that exactly one mode is configured and returns it.
    pub(crate) fn source(&self) -> Result<CaSource, Error> {
        const CHOOSE: &str = "set either `generate = true` or both `cert` and `key`";
        if self.validity.is_zero() {
            return Err(Error::Config("`validity` must be longer than zero".into()));
        }
        if self.trust_bundle.is_none() && !self.trust_also.is_empty() {
            return Err(Error::Config(
                "`trust_also` adds certificates to the trust bundle: set `trust_bundle` too".into(),
            ));
        }
        match (self.generate, &self.cert, &self.key) {
            (true, None, None) => Ok(CaSource::Generated {
                common_name: self
                    .common_name
                    .clone()
                    .unwrap_or_else(|| DEFAULT_COMMON_NAME.to_string()),
            }),
            (true, _, _) => Err(Error::Config(format!(
                "`generate = true` cannot be combined with `cert` or `key`: {CHOOSE}"
            ))),
            (false, Some(_), Some(_)) if self.common_name.is_some() => Err(Error::Config(
                "`common_name` only applies with `generate = true`, not with `cert` and `key`"
                    .into(),
            )),
            (false, Some(cert), Some(key)) => Ok(CaSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (false, Some(_), None) => Err(Error::Config(format!(
                "`cert` is set but `key` is missing: {CHOOSE}"
            ))),
            (false, None, Some(_)) => Err(Error::Config(format!(
                "`key` is set but `cert` is missing: {CHOOSE}"
            ))),
            (false, None, None) => Err(Error::Config(format!("no CA configured: {CHOOSE}"))),
        }
    }
}

fn default_validity() -> Duration {
    DEFAULT_VALIDITY
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a configuration the way the binary's config loader hands it over (as a map);
    /// JSON keeps the fixtures short.
    fn parse(json: &str) -> Result<CaIssuerConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_ninety_days_and_no_mode() {
        let config = parse(r#"{"generate": true}"#).expect("parse");
        assert_eq!(config.validity, DEFAULT_VALIDITY);
        assert!(config.common_name.is_none());
        assert_eq!(
            config,
            CaIssuerConfig {
                generate: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn validity_reads_humantime_durations() {
        for (text, secs) in [
            ("90d", 90 * 86_400),
            ("12h", 12 * 3_600),
            ("1w 2d", 9 * 86_400),
        ] {
            let config =
                parse(&format!(r#"{{"generate": true, "validity": {text:?}}}"#)).expect(text);
            assert_eq!(config.validity, Duration::from_secs(secs), "{text}");
        }
    }

    #[test]
    fn a_bad_validity_names_the_value_and_the_expected_form() {
        let err = parse(r#"{"generate": true, "validity": "soon"}"#).unwrap_err();
        assert!(err.contains("\"soon\"") && err.contains("\"12h\""), "{err}");
    }

    #[test]
    fn inside_a_kind_tagged_enum_typos_are_still_named() {
        #[derive(Debug, Deserialize)]
        #[serde(tag = "kind")]
        enum Issuer {
            #[serde(rename = "ca")]
            Ca(CaIssuerConfig),
        }
        let Issuer::Ca(config) =
            serde_json::from_str(r#"{"kind": "ca", "generate": true}"#).expect("parse");
        assert!(config.generate);
        let err = serde_json::from_str::<Issuer>(r#"{"kind": "ca", "genrate": true}"#)
            .expect_err("typo refused")
            .to_string();
        assert!(err.contains("genrate"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse(r#"{"generate": true, "validitiy": "30d"}"#).unwrap_err();
        assert!(err.contains("validitiy"), "{err}");
    }

    #[test]
    fn every_inconsistent_mode_names_generate_cert_and_key() {
        let cases = [
            ("neither", r#"{}"#),
            (
                "both",
                r#"{"generate": true, "cert": "/ca.pem", "key": "file:/ca.key"}"#,
            ),
            (
                "generate and cert",
                r#"{"generate": true, "cert": "/ca.pem"}"#,
            ),
            ("cert only", r#"{"cert": "/ca.pem"}"#),
            ("key only", r#"{"key": "file:/ca.key"}"#),
        ];
        for (case, json) in cases {
            let config = parse(json).expect(case);
            let Err(err) = config.source() else {
                panic!("{case}: accepted");
            };
            let message = err.to_string();
            for word in ["`generate", "`cert`", "`key`"] {
                assert!(message.contains(word), "{case}: {message}");
            }
        }
    }

    #[test]
    fn common_name_is_refused_for_an_existing_ca() {
        let config = parse(r#"{"cert": "/ca.pem", "key": "file:/ca.key", "common_name": "x"}"#)
            .expect("parse");
        let err = config.source().err().expect("refused").to_string();
        assert!(err.contains("`common_name`"), "{err}");
    }

    #[test]
    fn trust_also_without_a_trust_bundle_is_refused() {
        let config = parse(r#"{"generate": true, "trust_also": ["/old-ca.pem"]}"#).expect("parse");
        let err = config.source().err().expect("refused").to_string();
        assert!(err.contains("`trust_bundle`"), "{err}");
    }

    #[test]
    fn zero_validity_is_refused() {
        let config = parse(r#"{"generate": true, "validity": "0s"}"#).expect("parse");
        let err = config.source().err().expect("refused").to_string();
        assert!(err.contains("`validity`"), "{err}");
    }

    #[test]
    fn debug_shows_key_references_but_never_inline_keys() {
        let inline = CaIssuerConfig {
            cert: Some("/ca.pem".into()),
            key: Some("-----BEGIN PRIVATE KEY-----\nMIG...".into()),
            ..Default::default()
        };
        let shown = format!("{inline:?}");
        assert!(
            !shown.contains("BEGIN") && shown.contains("redacted"),
            "{shown}"
        );
        let reference = CaIssuerConfig {
            key: Some("file:/etc/acmekeep/ca.key".into()),
            ..inline
        };
        assert!(format!("{reference:?}").contains("file:/etc/acmekeep/ca.key"));
    }
}
