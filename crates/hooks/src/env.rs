//! What a hook learns about the certificate.

use std::path::Path;
use std::time::SystemTime;

use acme_core::SinkFiles;

use crate::{Outcome, Stage};

/// What hooks are told about the certificate, as `ACMEKEEP_*` environment variables.
///
/// | variable | value | stages |
/// |---|---|---|
/// | `ACMEKEEP_CERT_NAME` | the certificate's name in the configuration | all |
/// | `ACMEKEEP_DOMAINS` | its names, space separated | all |
/// | `ACMEKEEP_ISSUER` | the issuer's name in the configuration | all |
/// | `ACMEKEEP_CERT_PATH`, `_CHAIN_PATH`, `_FULLCHAIN_PATH`, `_KEY_PATH` | files of the first `files` sink | all, with a files sink |
/// | `ACMEKEEP_SINK_DIRS` | directories of all `files` sinks, space separated | all, with a files sink |
/// | `ACMEKEEP_SERIAL` | serial number of the certificate (hex) | deploy, post, when known |
/// | `ACMEKEEP_NOT_AFTER` | its expiry, RFC 3339 | deploy, post, when known |
/// | `ACMEKEEP_RESULT` | `success` or `failure` | post |
#[derive(Clone, Debug, Default)]
pub struct HookEnv {
    /// The certificate's name in the configuration.
    pub cert_name: String,
    /// The names the certificate covers.
    pub names: Vec<String>,
    /// The issuer's name in the configuration.
    pub issuer: String,
    /// The files of each `files` sink, in configuration order.
    pub files: Vec<SinkFiles>,
    /// The serial number of the current certificate, when known.
    pub serial: Option<String>,
    /// The expiry of the current certificate, when known.
    pub not_after: Option<SystemTime>,
}

impl HookEnv {
    /// Every `ACMEKEEP_*` variable with its value for `stage`, `None` where it is to be
    /// removed from the inherited environment.
    pub(crate) fn vars(&self, stage: Stage) -> Vec<(&'static str, Option<String>)> {
        let first = self.files.first();
        let path = |pick: fn(&SinkFiles) -> &Path| first.map(|f| pick(f).display().to_string());
        let dirs = self
            .files
            .iter()
            .filter_map(|f| f.cert.parent())
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>();
        let issued = matches!(stage, Stage::Deploy | Stage::Post(_));
        let result = match stage {
            Stage::Post(Outcome::Success) => Some("success".to_string()),
            Stage::Post(Outcome::Failure) => Some("failure".to_string()),
            Stage::Pre | Stage::Deploy => None,
        };
        vec![
            ("ACMEKEEP_CERT_NAME", Some(self.cert_name.clone())),
            ("ACMEKEEP_DOMAINS", Some(self.names.join(" "))),
            ("ACMEKEEP_ISSUER", Some(self.issuer.clone())),
            ("ACMEKEEP_CERT_PATH", path(|f| &f.cert)),
            ("ACMEKEEP_CHAIN_PATH", path(|f| &f.chain)),
            ("ACMEKEEP_FULLCHAIN_PATH", path(|f| &f.fullchain)),
            ("ACMEKEEP_KEY_PATH", path(|f| &f.key)),
            (
                "ACMEKEEP_SINK_DIRS",
                (!dirs.is_empty()).then(|| dirs.join(" ")),
            ),
            ("ACMEKEEP_SERIAL", self.serial.clone().filter(|_| issued)),
            (
                "ACMEKEEP_NOT_AFTER",
                self.not_after
                    .filter(|_| issued)
                    .map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            ),
            ("ACMEKEEP_RESULT", result),
        ]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::test_support::{hook_env, web_env};

    #[tokio::test]
    async fn deploy_hooks_learn_the_certificate_its_files_serial_and_expiry() {
        let vars = hook_env(Stage::Deploy, &web_env()).await;
        let expected = [
            ("ACMEKEEP_CERT_NAME", "web"),
            ("ACMEKEEP_DOMAINS", "example.com www.example.com"),
            ("ACMEKEEP_ISSUER", "letsencrypt"),
            ("ACMEKEEP_CERT_PATH", "/etc/ssl/web/cert.pem"),
            ("ACMEKEEP_CHAIN_PATH", "/etc/ssl/web/chain.pem"),
            ("ACMEKEEP_FULLCHAIN_PATH", "/etc/ssl/web/fullchain.pem"),
            ("ACMEKEEP_KEY_PATH", "/etc/ssl/web/privkey.pem"),
            ("ACMEKEEP_SINK_DIRS", "/etc/ssl/web /srv/shared/web"),
            ("ACMEKEEP_SERIAL", "0a1b2c"),
            ("ACMEKEEP_NOT_AFTER", "2027-01-15T08:00:00Z"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(vars, BTreeMap::from(expected));
    }

    #[tokio::test]
    async fn post_hooks_learn_the_result() {
        let vars = hook_env(Stage::Post(Outcome::Success), &web_env()).await;
        assert_eq!(vars["ACMEKEEP_RESULT"], "success");
        let vars = hook_env(Stage::Post(Outcome::Failure), &web_env()).await;
        assert_eq!(vars["ACMEKEEP_RESULT"], "failure");
        assert_eq!(vars["ACMEKEEP_SERIAL"], "0a1b2c");
    }

    #[tokio::test]
    async fn pre_hooks_get_no_serial_expiry_or_result_and_no_paths_without_a_files_sink() {
        let env = HookEnv {
            files: Vec::new(),
            ..web_env()
        };
        let vars = hook_env(Stage::Pre, &env).await;
        assert_eq!(
            vars.keys().collect::<Vec<_>>(),
            ["ACMEKEEP_CERT_NAME", "ACMEKEEP_DOMAINS", "ACMEKEEP_ISSUER"]
        );
    }
}
