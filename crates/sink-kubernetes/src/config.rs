use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::Error;

/// How to reach the Kubernetes API server, shared by the sink and the leader elector
/// (`cluster = { … }` in their configuration).
///
/// By default acmekeep finds the cluster as every Kubernetes tool does: the kubeconfig named
/// by `$KUBECONFIG`, else `~/.kube/config`, else the pod's service account (the token, CA and
/// namespace mounted under `/var/run/secrets/kubernetes.io/serviceaccount`, and the
/// `KUBERNETES_SERVICE_HOST`/`_PORT` variables). With `kubeconfig` set it reads that file
/// instead. `context` picks a context of the kubeconfig used; default its current context.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// A kubeconfig file to use instead of `$KUBECONFIG`, `~/.kube/config` or the in-cluster
    /// service account. Default: none.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The context of the kubeconfig to use (`kubeconfig`, else the one from `$KUBECONFIG` or
    /// `~/.kube/config`). Default: its `current-context`.
    #[serde(default)]
    pub context: Option<String>,
}

impl ClusterConfig {
    /// Connects through the kubeconfig file at `path`, with its current context.
    pub fn kubeconfig(path: impl Into<PathBuf>) -> Self {
        ClusterConfig {
            kubeconfig: Some(path.into()),
            context: None,
        }
    }
}

/// Configuration of one Kubernetes sink
/// (`{ kind = "kubernetes", namespace = "…", secret = "…" }` in a certificate's `sinks`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSinkConfig {
    /// The namespace of the Secret (a DNS label, e.g. `app`).
    pub namespace: String,
    /// The name of the `kubernetes.io/tls` Secret (a DNS subdomain, e.g. `web-tls`).
    pub secret: String,
    /// Take over a Secret of that name that acmekeep did not create. Default: false, so a
    /// foreign Secret is left alone and the store fails with a message saying so.
    #[serde(default)]
    pub adopt: bool,
    /// Extra labels for the Secret. Default: none. The keys acmekeep sets itself
    /// (`app.kubernetes.io/managed-by`, `acmekeep.io/…`) are refused.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations for the Secret. Default: none. `acmekeep.io/…` keys are refused.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// How to reach the API server. Default: the in-cluster service account.
    #[serde(default)]
    pub cluster: ClusterConfig,
}

impl KubernetesSinkConfig {
    /// A configuration for Secret `secret` in `namespace`, every other field at its default.
    pub fn new(namespace: impl Into<String>, secret: impl Into<String>) -> Self {
        KubernetesSinkConfig {
            namespace: namespace.into(),
            secret: secret.into(),
            adopt: false,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            cluster: ClusterConfig::default(),
        }
    }

    /// Checks names and keys before anything is sent to the API server.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_dns_label("namespace", &self.namespace)?;
        check_dns_subdomain("secret", &self.secret)?;
        for key in self.labels.keys() {
            if key == crate::sink::MANAGED_BY_LABEL || is_ours(key) {
                return Err(Error::ReservedKey {
                    field: "labels",
                    key: key.clone(),
                });
            }
        }
        for key in self.annotations.keys() {
            if is_ours(key) {
                return Err(Error::ReservedKey {
                    field: "annotations",
                    key: key.clone(),
                });
            }
        }
        Ok(())
    }
}

fn is_ours(key: &str) -> bool {
    key.starts_with(crate::sink::ANNOTATION_PREFIX)
}

/// What the Secret's annotations say about the certificate: the binary passes the
/// certificate's configured name, its names and its issuer's name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretMeta {
    /// The certificate's name in the configuration (`[certificates.NAME]`).
    pub cert_name: String,
    /// The names the certificate covers, first one taken as the common name.
    pub names: Vec<String>,
    /// The name of the issuer that signs it (`[issuers.NAME]`).
    pub issuer: String,
}

fn check_dns_label(field: &'static str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field,
            value: value.to_string(),
            rule: "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
        })
    }
}

fn check_dns_subdomain(field: &'static str, value: &str) -> Result<(), Error> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            field,
            value: value.to_string(),
            rule: "at most 253 lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<KubernetesSinkConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn namespace_and_secret_are_required_and_the_rest_defaults() {
        let config = parse(r#"{"namespace": "app", "secret": "web-tls"}"#).expect("parse");
        assert_eq!(config, KubernetesSinkConfig::new("app", "web-tls"));
        assert!(!config.adopt);
        assert_eq!(config.cluster, ClusterConfig::default());
    }

    #[test]
    fn it_deserializes_inside_the_binarys_kind_tagged_enum() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(tag = "kind")]
        enum SinkConfig {
            #[serde(rename = "kubernetes")]
            Kubernetes(KubernetesSinkConfig),
        }
        let json = r#"{"kind": "kubernetes", "namespace": "app", "secret": "web-tls",
            "adopt": true, "labels": {"team": "web"}, "annotations": {"owner": "ops"},
            "cluster": {"kubeconfig": "/etc/acmekeep/kubeconfig", "context": "prod"}}"#;
        let SinkConfig::Kubernetes(config) = serde_json::from_str(json).expect("parse");
        assert!(config.adopt);
        assert_eq!(config.labels["team"], "web");
        assert_eq!(config.annotations["owner"], "ops");
        assert_eq!(config.cluster.context.as_deref(), Some("prod"));
        let typo = r#"{"kind": "kubernetes", "namespace": "app", "secret": "x", "adpot": true}"#;
        let err = serde_json::from_str::<SinkConfig>(typo).expect_err("typo");
        assert!(err.to_string().contains("unknown field `adpot`"), "{err}");
    }

    #[test]
    fn a_misspelt_cluster_key_is_an_error_that_names_it() {
        let json = r#"{"namespace": "app", "secret": "x", "cluster": {"kubecfg": "/k"}}"#;
        let err = parse(json).expect_err("typo");
        assert!(err.to_string().contains("unknown field `kubecfg`"), "{err}");
    }

    #[test]
    fn names_the_api_server_would_refuse_are_rejected_up_front() {
        for (namespace, secret, bad) in [
            ("App", "web-tls", "App"),
            ("app", "web_tls", "web_tls"),
            ("-app", "web-tls", "-app"),
            ("app", "", "\"\""),
        ] {
            let err = KubernetesSinkConfig::new(namespace, secret)
                .validate()
                .expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
        KubernetesSinkConfig::new("app", "web.example.com-tls")
            .validate()
            .expect("a dotted secret name is fine");
    }

    #[test]
    fn labels_and_annotations_acmekeep_sets_itself_are_refused() {
        let mut config = KubernetesSinkConfig::new("app", "web-tls");
        config
            .labels
            .insert("app.kubernetes.io/managed-by".into(), "me".into());
        let err = config.validate().expect_err("reserved label");
        assert!(
            err.to_string().contains("app.kubernetes.io/managed-by"),
            "{err}"
        );
        let mut config = KubernetesSinkConfig::new("app", "web-tls");
        config
            .annotations
            .insert("acmekeep.io/issuer-name".into(), "x".into());
        let err = config.validate().expect_err("reserved annotation");
        assert!(err.to_string().contains("acmekeep.io/issuer-name"), "{err}");
    }
}
