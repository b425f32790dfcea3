//! The Kubernetes sink of acmekeep: delivers certificates into `kubernetes.io/tls` Secrets,
//! the form Ingress controllers, Gateways, webhooks and service meshes read.
//!
//! [`KubernetesSink`] implements [`acme_core::Sink`]. A store writes `tls.crt` (leaf and
//! chain), `tls.key` and, when the issuer names a CA, `ca.crt`, by server-side apply with
//! field manager [`FIELD_MANAGER`] (`acmekeep`), in one request, so consumers see the new
//! certificate and key together. The Secret carries the label
//! `app.kubernetes.io/managed-by: acmekeep` and annotations that mirror cert-manager's
//! (`acmekeep.io/certificate-name`, `acmekeep.io/common-name`, `acmekeep.io/alt-names`,
//! `acmekeep.io/ip-sans`, `acmekeep.io/issuer-name`), plus the configured extra ones.
//!
//! The sink never takes over a Secret it did not create (one without that label and without
//! acmekeep among its field managers) unless the configuration says `adopt = true`; it then
//! forces the apply and logs a warning. A Secret of another type is an error, as Kubernetes
//! cannot change a Secret's type. A load reads the deployed Secret back, so a restarted pod
//! does not reissue a valid certificate. A preflight, before anything is ordered, checks
//! that the namespace exists (where namespaces may be read) and asks SelfSubjectAccessReviews
//! whether RBAC allows the Secret's `get`, `patch` and, while it is absent, `create`.
//! Forbidden answers name the Role rule to add;
//! network and server errors are retried with a short backoff; apply conflicts re-read the
//! Secret and try again a few times.
//!
//! [`ClusterConfig`] says how to reach the API server (by default as every Kubernetes tool
//! does: `$KUBECONFIG`, else `~/.kube/config`, else the in-cluster service account; or a
//! configured kubeconfig file and context); its [`ClusterConfig::connect`] gives a
//! [`Cluster`], which the leader elector uses too. [`ApiCall::error`] turns a client error
//! into an [`Error`] that says what to fix. The sink does not create namespaces, delete
//! Secrets or restart the pods that read them.
//!
//! ```
//! use acme_core::Sink;
//! use sink_kubernetes::{KubernetesSink, KubernetesSinkConfig, SecretMeta};
//!
//! let meta = SecretMeta {
//!     cert_name: "web".into(),
//!     names: vec!["www.example.com".into()],
//!     issuer: "letsencrypt".into(),
//! };
//! let sink = KubernetesSink::new(KubernetesSinkConfig::new("app", "web-tls"), meta)?;
//! assert_eq!(sink.describe(), "kubernetes:app/web-tls");
//! # Ok::<(), sink_kubernetes::Error>(())
//! ```

mod cluster;
mod config;
mod error;
mod sink;

pub use cluster::Cluster;
pub use config::{ClusterConfig, KubernetesSinkConfig, SecretMeta};
pub use error::{ApiCall, Error};
pub use sink::{FIELD_MANAGER, KubernetesSink};
