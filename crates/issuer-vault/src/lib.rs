//! The Vault / OpenBao PKI issuer of acmekeep (`kind = "vault"`).
//!
//! [`VaultIssuer`] implements [`acme_core::Issuer`] by posting each certificate signing
//! request to a PKI secrets engine: `POST {url}/v1/{path}` with `{"csr": PEM, "format":
//! "pem", "ttl": …}`, where `path` is `<mount>/sign/<role>` (the role decides which names and
//! lifetimes are allowed) or `<mount>/sign-verbatim[/<role>]`. The leaf goes to the
//! certificate, the CA certificates Vault returns (`ca_chain`, else `issuing_ca`) that are not
//! self-signed to the chain, and the topmost one to the CA bundle consumers trust.
//!
//! Authentication is a fixed token (`env:`/`file:` reference, read again at each use), or a
//! login with AppRole or a Kubernetes service-account JWT. A login token is cached in memory,
//! renewed (`auth/token/renew-self`) once two thirds of its TTL have passed, and replaced by a
//! new login when it cannot be renewed or has expired; when Vault refuses it anyway, the
//! issuer logs in once more before reporting the error. `namespace` is sent as
//! `X-Vault-Namespace`, `ca_bundle` adds roots for a Vault behind a private CA.
//!
//! Refusals say what to change: a name the role does not allow names the role and the name,
//! a validity Vault cannot grant names the role and the `ttl`, an unknown or expired token
//! is told apart from a token whose policy lacks the sign path (the error never holds the
//! token). It does not revoke, read CRLs, or keep tokens alive while idle (logging in again
//! costs one request). The configuration is [`VaultIssuerConfig`]; failures are [`Error`],
//! wrapped as [`acme_core::Error::Issuer`] at the trait boundary.
//!
//! ```no_run
//! use acme_core::{build_csr, IssueRequest, Issuer, KeyType};
//! use issuer_vault::{VaultIssuer, VaultIssuerConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config: VaultIssuerConfig = serde_json::from_str(
//!     r#"{"url": "https://vault.example.com:8200", "path": "pki/sign/web",
//!         "token": "file:/run/secrets/vault-token"}"#,
//! )?;
//! let issuer = VaultIssuer::new("vault".into(), config, "/var/lib/acmekeep".as_ref())?;
//! let names = vec!["api.example.com".to_string()];
//! let key = KeyType::EcdsaP256.generate()?;
//! let request = IssueRequest {
//!     cert_name: "api".into(),
//!     csr_der: build_csr(&names, &key)?,
//!     names,
//!     solvers: Default::default(),
//!     replaces: None,
//!     cancel: Default::default(),
//! };
//! let issued = issuer.issue(&request).await?;
//! assert!(issued.ca_pem.is_some());
//! # Ok(())
//! # }
//! ```

mod auth;
mod client;
mod config;
mod error;
mod issuer;

pub use config::{
    AppRoleConfig, DEFAULT_KUBERNETES_JWT, DEFAULT_TIMEOUT, KubernetesAuthConfig, VaultIssuerConfig,
};
pub use error::Error;
pub use issuer::VaultIssuer;
