use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use acme_core::{Bundle, PrivateKeyPem, Sink, split_pem_certificates};
use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::OnceCell;

use crate::{ApiCall, Cluster, Error, KubernetesSinkConfig, SecretMeta};

/// The label that marks a Secret as written by acmekeep.
pub(crate) const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The prefix of acmekeep's own annotations.
pub(crate) const ANNOTATION_PREFIX: &str = "acmekeep.io/";
/// acmekeep's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "acmekeep";
const TLS_TYPE: &str = "kubernetes.io/tls";
/// Attempts of a request that failed on the network or with a server error.
const NETWORK_ATTEMPTS: u32 = 3;
/// Attempts of a store whose apply conflicted with another writer.
const CONFLICT_ATTEMPTS: u32 = 3;

/// Delivers certificates into a `kubernetes.io/tls` Secret by server-side apply (see the
/// crate docs). The API server is first contacted on the first preflight, store or load.
#[derive(Debug)]
pub struct KubernetesSink {
    config: KubernetesSinkConfig,
    meta: SecretMeta,
    cluster: OnceCell<Cluster>,
}

/// Whether an existing Secret may be written.
#[derive(Debug, PartialEq, Eq)]
enum Ownership {
    Ours,
    Adopted,
}

impl KubernetesSink {
    /// Validates `config` (names, reserved keys); `meta` fills the Secret's annotations.
    pub fn new(config: KubernetesSinkConfig, meta: SecretMeta) -> Result<KubernetesSink, Error> {
        config.validate()?;
        if config.adopt {
            tracing::warn!(
                sink = %format!("kubernetes:{}/{}", config.namespace, config.secret),
                "adopt = true: a Secret of this name that acmekeep did not create will be taken over"
            );
        }
        Ok(KubernetesSink {
            config,
            meta,
            cluster: OnceCell::new(),
        })
    }

    async fn cluster(&self) -> Result<&Cluster, Error> {
        self.cluster
            .get_or_try_init(|| self.config.cluster.connect())
            .await
    }

    fn call<'a>(&'a self, verb: &'a str) -> ApiCall<'a> {
        ApiCall {
            verb,
            resource: "secrets",
            group: "",
            namespace: &self.config.namespace,
            name: &self.config.secret,
        }
    }

    async fn api(&self) -> Result<(Api<Secret>, String), Error> {
        let cluster = self.cluster().await?;
        let api = Api::namespaced(cluster.client(), &self.config.namespace);
        Ok((api, cluster.url().to_string()))
    }

    async fn get(&self) -> Result<Option<Secret>, Error> {
        let (api, url) = self.api().await?;
        with_retries(&self.call("get"), &url, || api.get_opt(&self.config.secret)).await
    }

    /// Refuses a Secret of another type, and one acmekeep did not write unless adopting.
    fn ownership(&self, secret: &Secret) -> Result<Ownership, Error> {
        let found = secret.type_.as_deref().unwrap_or("Opaque");
        if found != TLS_TYPE {
            return Err(Error::WrongType {
                namespace: self.config.namespace.clone(),
                name: self.config.secret.clone(),
                found: found.to_string(),
            });
        }
        let labelled = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(MANAGED_BY_LABEL))
            .is_some_and(|value| value == FIELD_MANAGER);
        let managers: Vec<&str> = secret
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|entry| entry.manager.as_deref())
            .collect();
        if labelled || managers.contains(&FIELD_MANAGER) {
            Ok(Ownership::Ours)
        } else if self.config.adopt {
            Ok(Ownership::Adopted)
        } else {
            Err(Error::Foreign {
                namespace: self.config.namespace.clone(),
                name: self.config.secret.clone(),
                managers: if managers.is_empty() {
                    "unknown".to_string()
                } else {
                    managers.join(", ")
                },
            })
        }
    }

    /// The Secret as acmekeep wants it: only the fields acmekeep owns.
    fn desired(&self, bundle: &Bundle) -> Secret {
        let mut labels = self.config.labels.clone();
        labels.insert(MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string());
        let mut annotations = self.config.annotations.clone();
        let (ips, dns): (Vec<&String>, Vec<&String>) = self
            .meta
            .names
            .iter()
            .partition(|name| name.parse::<IpAddr>().is_ok());
        let ours = [
            ("certificate-name", self.meta.cert_name.clone()),
            ("issuer-name", self.meta.issuer.clone()),
            (
                "common-name",
                self.meta.names.first().cloned().unwrap_or_default(),
            ),
            ("alt-names", join(&dns)),
            ("ip-sans", join(&ips)),
        ];
        for (key, value) in ours {
            if !value.is_empty() {
                annotations.insert(format!("{ANNOTATION_PREFIX}{key}"), value);
            }
        }
        let mut data = BTreeMap::from([
            (
                "tls.crt".to_string(),
                ByteString(bundle.fullchain_pem().into_bytes()),
            ),
            (
                "tls.key".to_string(),
                ByteString(bundle.key.expose().as_bytes().to_vec()),
            ),
        ]);
        if let Some(ca) = &bundle.ca_pem {
            data.insert("ca.crt".to_string(), ByteString(ca.as_bytes().to_vec()));
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(self.config.secret.clone()),
                namespace: Some(self.config.namespace.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            type_: Some(TLS_TYPE.to_string()),
            data: Some(data),
            ..Secret::default()
        }
    }

    async fn store_inner(&self, bundle: &Bundle) -> Result<(), Error> {
        let desired = self.desired(bundle);
        let mut last = String::new();
        for attempt in 1..=CONFLICT_ATTEMPTS {
            let force = match self.get().await? {
                None => false,
                Some(existing) => {
                    if self.ownership(&existing)? == Ownership::Adopted {
                        tracing::warn!(
                            sink = %self.describe(),
                            "adopting a Secret acmekeep did not create (adopt = true)"
                        );
                    }
                    true
                }
            };
            let mut params = PatchParams::apply(FIELD_MANAGER);
            if force {
                params = params.force();
            }
            let (api, url) = self.api().await?;
            let patch = Patch::Apply(&desired);
            let result = with_retries(&self.call("patch"), &url, || {
                api.patch(&self.config.secret, &params, &patch)
            })
            .await;
            match result {
                Ok(_) => {
                    tracing::info!(sink = %self.describe(), "stored certificate in Secret");
                    return Ok(());
                }
                Err(Error::Conflict { message, .. }) => {
                    tracing::debug!(sink = %self.describe(), attempt, %message, "apply conflicted; reading the Secret again");
                    last = message;
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict {
            resource: "secrets".to_string(),
            namespace: self.config.namespace.clone(),
            name: self.config.secret.clone(),
            attempts: CONFLICT_ATTEMPTS,
            message: last,
        })
    }

    async fn load_inner(&self) -> Result<Option<Bundle>, Error> {
        let Some(secret) = self.get().await? else {
            return Ok(None);
        };
        self.ownership(&secret)?;
        let data = secret.data.unwrap_or_default();
        let text = |key: &str| -> Result<Option<String>, Error> {
            match data.get(key) {
                Some(bytes) if !bytes.0.is_empty() => String::from_utf8(bytes.0.clone())
                    .map(Some)
                    .map_err(|_| self.invalid(format!("`{key}` is not UTF-8 text"))),
                _ => Ok(None),
            }
        };
        let (Some(fullchain), Some(key)) = (text("tls.crt")?, text("tls.key")?) else {
            return Ok(None);
        };
        let (cert_pem, chain_pem) = split_leaf(&fullchain).map_err(|e| self.invalid(e))?;
        Ok(Some(Bundle {
            cert_pem,
            chain_pem,
            key: PrivateKeyPem::new(key),
            ca_pem: text("ca.crt")?,
        }))
    }

    /// Checks what a store needs before anything is ordered: that the namespace exists (where
    /// namespaces may be read) and that RBAC allows the requests a store makes: `get` and
    /// `patch` on the Secret, and `create` while it does not exist (an apply that creates).
    async fn preflight_inner(&self) -> Result<(), Error> {
        self.namespace_exists().await?;
        for verb in ["get", "patch"] {
            if !self.allowed(verb).await? {
                return Ok(());
            }
        }
        if self.get().await?.is_none() {
            self.allowed("create").await?;
        }
        Ok(())
    }

    /// Fails when the namespace is missing. A namespace the service account may not read
    /// (common, and not needed to write Secrets) passes: the access review decides then.
    async fn namespace_exists(&self) -> Result<(), Error> {
        let cluster = self.cluster().await?;
        let api: Api<Namespace> = Api::all(cluster.client());
        let namespace = &self.config.namespace;
        let call = ApiCall {
            verb: "get",
            resource: "namespaces",
            group: "",
            namespace,
            name: namespace,
        };
        match with_retries(&call, cluster.url(), || api.get_opt(namespace)).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(Error::NamespaceNotFound {
                namespace: namespace.clone(),
                resource: "secrets".to_string(),
                name: self.config.secret.clone(),
            }),
            Err(Error::Forbidden { .. }) => {
                tracing::debug!(sink = %self.describe(), "namespaces cannot be read; RBAC is checked by access review only");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Asks the API server (SelfSubjectAccessReview) whether `verb` on the Secret is allowed:
    /// `Ok(true)` if so, an error naming the Role rule if not, and `Ok(false)` when access
    /// reviews cannot be asked here (the store then reports what RBAC refuses).
    async fn allowed(&self, verb: &str) -> Result<bool, Error> {
        let cluster = self.cluster().await?;
        let api: Api<SelfSubjectAccessReview> = Api::all(cluster.client());
        let secret = self.call(verb);
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(secret.namespace.to_string()),
                    verb: Some(verb.to_string()),
                    group: Some(secret.group.to_string()),
                    version: Some("v1".to_string()),
                    resource: Some(secret.resource.to_string()),
                    name: (verb != "create").then(|| secret.name.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let call = ApiCall {
            verb: "create",
            resource: "selfsubjectaccessreviews",
            group: "authorization.k8s.io",
            namespace: "",
            name: "",
        };
        let params = PostParams::default();
        let answer = with_retries(&call, cluster.url(), || api.create(&params, &review)).await;
        let status = match answer {
            Ok(review) => review.status.unwrap_or_default(),
            Err(err @ (Error::Forbidden { .. } | Error::Api { code: 404, .. })) => {
                tracing::warn!(
                    sink = %self.describe(),
                    error = %err,
                    "cannot ask the API server what RBAC allows (SelfSubjectAccessReview); the permissions are checked when the Secret is written"
                );
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if status.allowed {
            return Ok(true);
        }
        let why = [status.reason, status.evaluation_error]
            .into_iter()
            .flatten()
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let message = if why.is_empty() {
            "a SelfSubjectAccessReview answered not allowed".to_string()
        } else {
            format!("a SelfSubjectAccessReview answered not allowed: {why}")
        };
        Err(secret.forbidden(verb, &message))
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::Invalid {
            namespace: self.config.namespace.clone(),
            name: self.config.secret.clone(),
            reason: reason.into(),
        }
    }
}

#[async_trait]
impl Sink for KubernetesSink {
    fn describe(&self) -> String {
        format!(
            "kubernetes:{}/{}",
            self.config.namespace, self.config.secret
        )
    }

    async fn preflight(&self) -> Result<(), acme_core::Error> {
        self.preflight_inner().await.map_err(|e| self.wrap(e))
    }

    async fn store(&self, bundle: &Bundle) -> Result<(), acme_core::Error> {
        self.store_inner(bundle).await.map_err(|e| self.wrap(e))
    }

    async fn load(&self) -> Result<Option<Bundle>, acme_core::Error> {
        self.load_inner().await.map_err(|e| self.wrap(e))
    }
}

impl KubernetesSink {
    fn wrap(&self, e: Error) -> acme_core::Error {
        acme_core::Error::Sink {
            sink: self.describe(),
            source: Box::new(e),
        }
    }
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits `tls.crt` into the leaf and the rest of the chain, keeping the text as stored.
fn split_leaf(fullchain: &str) -> Result<(String, String), String> {
    const END: &str = "-----END CERTIFICATE-----";
    let count = split_pem_certificates(fullchain)
        .map_err(|e| format!("`tls.crt`: {e}"))?
        .len();
    let end = match fullchain.find(END) {
        Some(at) if count > 0 => at + END.len(),
        _ => return Err("`tls.crt` holds no PEM certificate".to_string()),
    };
    let (leaf, rest) = fullchain.split_at(end);
    let rest = rest
        .strip_prefix("\r\n")
        .or(rest.strip_prefix('\n'))
        .unwrap_or(rest);
    Ok((format!("{leaf}\n"), rest.to_string()))
}

/// Runs one request, repeating it after network and server errors with a short backoff.
async fn with_retries<T, F, Fut>(call: &ApiCall<'_>, url: &str, mut request: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 1;
    loop {
        let err = match request().await {
            Ok(value) => return Ok(value),
            Err(e) => call.error(e, url),
        };
        let transient = err.is_retryable() && !matches!(err, Error::Conflict { .. });
        if !transient {
            return Err(err);
        }
        if attempt >= NETWORK_ATTEMPTS {
            return Err(match err {
                Error::Unreachable { url, reason, .. } => Error::Unreachable {
                    url,
                    attempts: attempt,
                    reason,
                },
                other => other,
            });
        }
        tracing::debug!(%url, attempt, error = %err, "Kubernetes API request failed; retrying");
        tokio::time::sleep(Duration::from_millis(250) * 2u32.pow(attempt - 1)).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_namespace_and_secret() {
        let sink = KubernetesSink::new(
            KubernetesSinkConfig::new("app", "web-tls"),
            SecretMeta::default(),
        )
        .expect("sink");
        assert_eq!(sink.describe(), "kubernetes:app/web-tls");
    }

    #[test]
    fn the_leaf_is_split_from_the_chain_as_stored() {
        let leaf = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let chain = "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        // Not real DER: split_pem_certificates only decodes base64, it does not parse.
        let (l, c) = split_leaf(&format!("{leaf}{chain}")).expect("split");
        assert_eq!((l.as_str(), c.as_str()), (leaf, chain));
        let err = split_leaf("no pem here").expect_err("no certificate");
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
