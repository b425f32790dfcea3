use std::fmt;
use std::path::Path;
use std::time::Duration;

use acme_core::{CertInfo, Health, IssueRequest, IssuedChain, Secret};
use async_trait::async_trait;
use serde_json::json;

use crate::Error;
use crate::auth::Credentials;
use crate::client::{Client, Failure, Signed};
use crate::config::{Endpoint, VaultIssuerConfig};

/// An issuer that has a Vault or OpenBao PKI secrets engine sign each request.
///
/// Built once from its [`VaultIssuerConfig`] by [`VaultIssuer::new`], which checks the
/// configuration and reads the credential references; it talks to Vault only when it issues.
pub struct VaultIssuer {
    name: String,
    endpoint: Endpoint,
    ttl: Option<Duration>,
    client: Client,
    credentials: Credentials,
}

impl VaultIssuer {
    /// Builds the issuer named `name` (its key under `[issuers]`).
    ///
    /// `state_dir` is not used: tokens obtained by logging in live in memory only.
    pub fn new(
        name: String,
        config: VaultIssuerConfig,
        _state_dir: &Path,
    ) -> Result<VaultIssuer, Error> {
        let endpoint = Endpoint::parse(&config.path)?;
        let base_url = config.base_url()?;
        if config.timeout.is_zero() {
            return Err(Error::Config("`timeout` must be longer than zero".into()));
        }
        if config.ttl.is_some_and(|ttl| ttl.as_secs() == 0) {
            return Err(Error::Config(
                "`ttl` must be at least one second; leave it out to use the role's ttl".into(),
            ));
        }
        let namespace = match config.namespace.as_deref().map(|n| n.trim_matches('/')) {
            Some("") => {
                return Err(Error::Config(
                    "`namespace` is empty; leave it out for the root namespace".into(),
                ));
            }
            other => other.map(str::to_string),
        };
        let credentials = Credentials::new(config.auth_method()?)?;
        let client = Client::new(
            base_url,
            namespace,
            config.ca_bundle.as_deref(),
            config.timeout,
        )?;
        Ok(VaultIssuer {
            name,
            endpoint,
            ttl: config.ttl,
            client,
            credentials,
        })
    }

    /// Sends the CSR to the sign endpoint, logging in again once if a login token is refused.
    async fn sign(&self, request: &IssueRequest) -> Result<IssuedChain, Error> {
        let mut body = json!({
            "csr": der_to_csr_pem(&request.csr_der),
            "format": "pem",
        });
        if let Some(ttl) = self.ttl {
            body["ttl"] = json!(format!("{}s", ttl.as_secs()));
        }
        let path = &self.endpoint.path;
        let mut token = self.credentials.token(&self.client).await?;
        let mut outcome = self.client.sign(path, &token, &body).await?;
        if matches!(&outcome, Err(failure) if failure.status == 403) && self.credentials.logs_in() {
            tracing::debug!(issuer = %self.name, "Vault refused the login token; logging in again");
            self.credentials.forget().await;
            token = self.credentials.token(&self.client).await?;
            outcome = self.client.sign(path, &token, &body).await?;
        }
        match outcome {
            Ok((signed, warnings)) => {
                for warning in warnings {
                    tracing::warn!(issuer = %self.name, cert = %request.cert_name, "Vault: {warning}");
                }
                let chain = issued_chain(signed)?;
                tracing::debug!(issuer = %self.name, cert = %request.cert_name, "Vault signed a certificate");
                Ok(chain)
            }
            Err(failure) => Err(self.refusal(failure, request, &token).await),
        }
    }

    /// Turns a refusal of the sign request into the error that says what to change.
    async fn refusal(&self, failure: Failure, request: &IssueRequest, token: &Secret) -> Error {
        let Failure { status, errors } = failure;
        let path = self.endpoint.path.clone();
        if status == 403 {
            let source_desc = self.credentials.describe();
            // Vault says "permission denied" both for an unknown token and for a missing
            // policy; asking about the token itself tells them apart.
            return match self.client.lookup_self(token).await {
                Ok(Ok(())) => Error::PermissionDenied {
                    source_desc,
                    path,
                    errors,
                },
                _ => Error::TokenRefused {
                    source_desc,
                    errors,
                },
            };
        }
        let lower = errors.to_ascii_lowercase();
        if status == 400 && lower.contains("not allowed") {
            let mut names: Vec<String> = request
                .names
                .iter()
                .filter(|name| lower.contains(&name.to_ascii_lowercase()))
                .cloned()
                .collect();
            if names.is_empty() {
                names = request.names.clone();
            }
            return Error::NameNotAllowed {
                role: self.endpoint.describe_role(),
                names,
                errors,
            };
        }
        if status == 400 && (lower.contains("ttl") || lower.contains("notafter")) {
            return Error::TtlRejected {
                role: self.endpoint.describe_role(),
                ttl: self.ttl,
                errors,
            };
        }
        let hint = if lower.contains("unknown role") || status == 404 {
            "; check `path` (the PKI mount and the role name)"
        } else if lower.contains("keys of type") || lower.contains("key bits") {
            "; the certificate's `key` must be of a type and size the role's key_type and \
             key_bits allow"
        } else {
            ""
        };
        Error::Api {
            path,
            status,
            errors,
            hint,
        }
    }
}

/// The CSR as PEM, the form Vault's `csr` parameter takes.
fn der_to_csr_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der))
}

/// Leaf, intermediates and root from a sign answer.
///
/// The chain is every CA certificate Vault returned (`ca_chain`, else `issuing_ca`) that is
/// not self-signed, issuer of the leaf first; the CA to trust is the last one (the root, or
/// the topmost intermediate Vault knows).
fn issued_chain(signed: Signed) -> Result<IssuedChain, Error> {
    let mut leaf_and_more =
        acme_core::split_pem_certificates(&signed.certificate).map_err(Error::Certificate)?;
    if leaf_and_more.is_empty() {
        return Err(Error::Certificate(acme_core::Error::Certificate(
            "the answer's `certificate` holds no PEM certificate".into(),
        )));
    }
    let leaf = leaf_and_more.remove(0);
    let returned = match signed.ca_chain {
        Some(chain) if !chain.is_empty() => chain.join("\n"),
        _ => signed.issuing_ca.unwrap_or_default(),
    };
    let mut authorities = leaf_and_more;
    for cert in acme_core::split_pem_certificates(&returned).map_err(Error::Certificate)? {
        if !authorities.contains(&cert) {
            authorities.push(cert);
        }
    }
    let mut chain = String::new();
    for cert in &authorities {
        let info = CertInfo::from_pem(cert).map_err(Error::Certificate)?;
        if info.subject != info.issuer {
            chain.push_str(cert);
        }
    }
    Ok(IssuedChain {
        cert_pem: leaf,
        chain_pem: chain,
        ca_pem: authorities.last().cloned(),
    })
}

#[async_trait]
impl acme_core::Issuer for VaultIssuer {
    fn name(&self) -> &str {
        &self.name
    }

    async fn issue(&self, request: &IssueRequest) -> Result<IssuedChain, acme_core::Error> {
        let wrap = |source: Error| acme_core::Error::Issuer {
            issuer: self.name.clone(),
            kind: source.kind(),
            source: Box::new(source),
        };
        tokio::select! {
            result = self.sign(request) => result.map_err(wrap),
            () = request.cancel.cancelled() => Err(acme_core::Error::Cancelled),
        }
    }

    async fn health(&self) -> Health {
        self.client.health().await
    }
}

impl fmt::Debug for VaultIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultIssuer")
            .field("name", &self.name)
            .field("path", &self.endpoint.path)
            .field("ttl", &self.ttl.map(humantime::format_duration))
            .field("credentials", &self.credentials.describe())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    use super::*;

    /// A root, an intermediate it signed, and a leaf the intermediate signed, as Vault
    /// returns PEM: without a trailing newline.
    fn hierarchy() -> (String, String, String) {
        let ca_params = |name: &str| {
            let mut params = CertificateParams::new(Vec::new()).expect("params");
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
        };
        let root_key = KeyPair::generate().expect("key");
        let root = ca_params("Root").self_signed(&root_key).expect("root");
        let root_issuer = Issuer::new(ca_params("Root"), &root_key);
        let int_key = KeyPair::generate().expect("key");
        let int = ca_params("Intermediate")
            .signed_by(&int_key, &root_issuer)
            .expect("intermediate");
        let int_issuer = Issuer::new(ca_params("Intermediate"), &int_key);
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["a.example.test".to_string()])
            .expect("params")
            .signed_by(&leaf_key, &int_issuer)
            .expect("leaf");
        let trim = |pem: String| pem.trim_end().to_string();
        (trim(leaf.pem()), trim(int.pem()), trim(root.pem()))
    }

    #[test]
    fn the_chain_holds_intermediates_and_the_root_is_the_ca_to_trust() {
        let (leaf, int, root) = hierarchy();
        let issued = issued_chain(Signed {
            certificate: leaf.clone(),
            issuing_ca: Some(int.clone()),
            ca_chain: Some(vec![int.clone(), root.clone()]),
        })
        .expect("usable");
        assert_eq!(issued.cert_pem.trim(), leaf);
        assert_eq!(issued.chain_pem.trim(), int);
        assert_eq!(issued.ca_pem.as_deref().map(str::trim), Some(root.as_str()));
    }

    #[test]
    fn a_chain_that_stops_at_an_intermediate_trusts_that_intermediate() {
        let (leaf, int, _) = hierarchy();
        let issued = issued_chain(Signed {
            certificate: leaf,
            issuing_ca: Some(int.clone()),
            ca_chain: None,
        })
        .expect("usable");
        assert_eq!(issued.chain_pem.trim(), int);
        assert_eq!(issued.ca_pem.as_deref().map(str::trim), Some(int.as_str()));
    }

    #[test]
    fn an_answer_without_a_certificate_is_an_error() {
        let err = issued_chain(Signed {
            certificate: String::new(),
            issuing_ca: None,
            ca_chain: None,
        })
        .expect_err("no certificate");
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }
}
