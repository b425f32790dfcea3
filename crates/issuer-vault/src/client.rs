//! The few Vault HTTP API calls the issuer needs.

use std::path::Path;
use std::time::Duration;

use acme_core::{HEALTH_TIMEOUT, Health, Secret};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// The `data` of a PKI sign answer (`format = "pem"`).
#[derive(Debug, Deserialize)]
pub(crate) struct Signed {
    pub(crate) certificate: String,
    #[serde(default)]
    pub(crate) issuing_ca: Option<String>,
    #[serde(default)]
    pub(crate) ca_chain: Option<Vec<String>>,
}

/// The `auth` of a login or renewal answer.
#[derive(Deserialize)]
pub(crate) struct TokenGrant {
    pub(crate) client_token: String,
    /// Seconds; 0 means the token does not expire.
    #[serde(default)]
    pub(crate) lease_duration: u64,
    #[serde(default)]
    pub(crate) renewable: bool,
}

/// Every Vault answer: data, auth, warnings, or errors.
#[derive(Deserialize)]
struct Envelope<T> {
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default)]
    auth: Option<TokenGrant>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
    #[serde(default)]
    errors: Option<Vec<String>>,
}

/// A refusal by Vault: the status and what it said.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: u16,
    /// Vault's `errors` joined with "; ", or the start of the body.
    pub(crate) errors: String,
}

/// A call's outcome: Vault's answer or its refusal; `Err` for transport problems.
pub(crate) type Outcome<T> = Result<Result<T, Failure>, Error>;

/// A Vault API client for one server (and namespace).
pub(crate) struct Client {
    http: reqwest::Client,
    base_url: String,
    namespace: Option<String>,
}

impl Client {
    /// A client for `base_url` (no `/v1`), trusting `ca_bundle` besides the system roots.
    pub(crate) fn new(
        base_url: String,
        namespace: Option<String>,
        ca_bundle: Option<&Path>,
        timeout: Duration,
    ) -> Result<Client, Error> {
        let http = acme_core::https_client(ca_bundle, timeout)
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Client {
            http,
            base_url,
            namespace,
        })
    }

    /// `POST /v1/<path>` of a PKI sign endpoint; returns the data and Vault's warnings.
    pub(crate) async fn sign(
        &self,
        path: &str,
        token: &Secret,
        body: &serde_json::Value,
    ) -> Outcome<(Signed, Vec<String>)> {
        Ok(self
            .call::<Signed>(path, Some(token), body)
            .await?
            .and_then(|envelope| match envelope.data {
                Some(data) => Ok((data, envelope.warnings.unwrap_or_default())),
                None => Err(Failure {
                    status: 200,
                    errors: "the answer has no `data`".into(),
                }),
            }))
    }

    /// `POST /v1/auth/<mount>/login`, returning the granted token.
    pub(crate) async fn login(&self, path: &str, body: &serde_json::Value) -> Outcome<TokenGrant> {
        self.auth(path, None, body).await
    }

    /// `POST /v1/auth/token/renew-self`, returning the renewed grant.
    pub(crate) async fn renew_self(&self, token: &Secret) -> Outcome<TokenGrant> {
        self.auth("auth/token/renew-self", Some(token), &serde_json::json!({}))
            .await
    }

    /// `GET /v1/auth/token/lookup-self`: whether Vault knows the token at all.
    pub(crate) async fn lookup_self(&self, token: &Secret) -> Outcome<()> {
        let url = self.url("auth/token/lookup-self");
        let request = self.headers(self.http.get(&url), Some(token));
        let (status, body) = self.send(request, &url).await?;
        Ok(if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(failure(status, &body))
        })
    }

    async fn auth(
        &self,
        path: &str,
        token: Option<&Secret>,
        body: &serde_json::Value,
    ) -> Outcome<TokenGrant> {
        Ok(self
            .call::<serde_json::Value>(path, token, body)
            .await?
            .and_then(|envelope| {
                envelope
                    .auth
                    .filter(|grant| !grant.client_token.is_empty())
                    .ok_or_else(|| Failure {
                        status: 200,
                        errors: "the answer has no `auth.client_token`".into(),
                    })
            }))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&Secret>,
        body: &serde_json::Value,
    ) -> Outcome<Envelope<T>> {
        let url = self.url(path);
        let request = self.headers(self.http.post(&url).json(body), token);
        let (status, bytes) = self.send(request, &url).await?;
        if !(200..300).contains(&status) {
            return Ok(Err(failure(status, &bytes)));
        }
        serde_json::from_slice::<Envelope<T>>(&bytes)
            .map(Ok)
            .map_err(|e| Error::Response {
                url,
                status,
                reason: format!("not a Vault answer ({e})"),
            })
    }

    /// `GET /v1/sys/health` (no token): whether the server answers and can sign. Active
    /// (200), standby (429) and performance standby (472, 473) nodes all can.
    pub(crate) async fn health(&self) -> Health {
        let url = self.url("sys/health");
        let response = match self.http.get(&url).timeout(HEALTH_TIMEOUT).send().await {
            Ok(response) => response,
            Err(err) => return Health::unreachable(url, acme_core::error_chain(&err)),
        };
        let date = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok());
        let health = match response.status().as_u16() {
            200 => Health::healthy(&url, "active"),
            429 | 472 | 473 => Health::healthy(&url, "standby; requests are forwarded"),
            503 => Health::unreachable(&url, "Vault is sealed (HTTP 503): unseal it"),
            501 => Health::unreachable(&url, "Vault is not initialized (HTTP 501)"),
            other => Health::unreachable(&url, format!("health check answered HTTP {other}")),
        };
        health.with_server_date(date)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.base_url)
    }

    fn headers(
        &self,
        mut request: reqwest::RequestBuilder,
        token: Option<&Secret>,
    ) -> reqwest::RequestBuilder {
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token.expose());
        }
        if let Some(namespace) = &self.namespace {
            request = request.header("X-Vault-Namespace", namespace);
        }
        request.header("X-Vault-Request", "true")
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<(u16, Vec<u8>), Error> {
        let network = |e: reqwest::Error| Error::Network {
            url: url.to_string(),
            reason: acme_core::error_chain(&e),
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(network)?;
        Ok((status, body.to_vec()))
    }
}

/// Vault's `{"errors": [...]}` joined, or the start of a body that is not one, printable.
fn failure(status: u16, body: &[u8]) -> Failure {
    let errors = match serde_json::from_slice::<Envelope<serde_json::Value>>(body) {
        Ok(Envelope {
            errors: Some(errors),
            ..
        }) if !errors.is_empty() => errors
            .iter()
            .map(|e| tidy(e))
            .collect::<Vec<_>>()
            .join("; "),
        _ if body.is_empty() => "(empty body)".to_string(),
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    Failure {
        status,
        errors: acme_core::printable(&errors),
    }
}

/// One of Vault's errors on one line: a multi-error ("1 error occurred:\n\t* permission
/// denied\n\n") becomes its items joined with "; ".
fn tidy(error: &str) -> String {
    let items: Vec<&str> = error
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("* "))
        .map(str::trim)
        .collect();
    if items.is_empty() {
        error.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        items.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_errors_are_joined_and_other_bodies_shortened() {
        let vault = failure(
            400,
            br#"{"errors":["common name x not allowed by this role", "second"]}"#,
        );
        assert_eq!(
            vault.errors,
            "common name x not allowed by this role; second"
        );
        let html = failure(502, "<html>bad gateway</html>\r\n".repeat(100).as_bytes());
        assert!(
            html.errors
                .starts_with(r"<html>bad gateway</html>\r\n<html>")
        );
        assert!(html.errors.ends_with('…'), "{}", html.errors);
        assert!(!html.errors.contains(['\r', '\n']), "{}", html.errors);
        assert_eq!(failure(404, b"").errors, "(empty body)");
        let multi = failure(
            403,
            br#"{"errors":["1 error occurred:\n\t* permission denied\n\n"]}"#,
        );
        assert_eq!(multi.errors, "permission denied");
    }
}
