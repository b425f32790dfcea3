use std::time::Duration;

use acme_core::Secret;
use reqwest::{Method, RequestBuilder, StatusCode};

use crate::Error;

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for one HTTP API: acmekeep's TLS setup, a timeout, a base URL.
#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
}

/// What the API answered: any status, with its body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body as received.
    pub body: Vec<u8>,
}

impl ApiClient {
    /// A client for the API at `base_url` (a trailing `/` is dropped); sends nothing yet.
    pub fn new(base_url: &str) -> Result<ApiClient, Error> {
        let http = acme_core::https_client(None, REQUEST_TIMEOUT)
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(ApiClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request to `url` (usually the base URL and a path).
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Sends `request` (to `url`, named in errors) and reads the whole answer, whatever its
    /// status; only a transport failure is an error.
    pub async fn send(&self, request: RequestBuilder, url: &str) -> Result<Answer, Error> {
        let network = |e: reqwest::Error| Error::Network {
            url: url.to_string(),
            reason: acme_core::error_chain(&e),
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status();
        let body = response.bytes().await.map_err(network)?;
        Ok(Answer {
            status,
            body: body.to_vec(),
        })
    }
}

/// Resolves the credential reference configured under `key` (`env:NAME`, `file:/path` or
/// the value itself). Empty is refused, and so is a reference that resolves to nothing,
/// with `empty_reason` (e.g. `"resolves to an empty key"`).
pub fn credential(
    key: &'static str,
    reference: &str,
    empty_reason: &'static str,
) -> Result<Secret, Error> {
    if reference.is_empty() {
        return Err(Error::Config {
            key,
            value: String::new(),
            reason: "must not be empty",
        });
    }
    let secret = Secret::resolve(reference).map_err(|source| Error::Secret { key, source })?;
    if secret.expose().is_empty() {
        return Err(Error::Config {
            key,
            value: reference.to_string(),
            reason: empty_reason,
        });
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_credential_or_one_that_resolves_to_nothing_names_the_key() {
        let empty = credential("api_key", "", "resolves to an empty key").expect_err("empty");
        assert_eq!(empty.to_string(), "api_key \"\": must not be empty");
        let reference = "env:ACMEKEEP_DNS_HTTP_TEST_UNSET";
        let missing = credential("api_key", reference, "resolves to an empty key")
            .expect_err("unset variable");
        assert!(missing.to_string().starts_with("api_key: "), "{missing}");
    }

    #[test]
    fn an_inline_credential_is_taken_as_is_and_the_base_url_loses_its_slash() {
        let token =
            credential("api_token", "s3cret", "resolves to an empty token").expect("inline");
        assert_eq!(token.expose(), "s3cret");
        let client = ApiClient::new("https://api.example/v4/").expect("client");
        assert_eq!(client.base_url(), "https://api.example/v4");
    }

    #[test]
    fn the_chain_lists_every_cause() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error sending request")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let outer = Outer(std::io::Error::other("connection refused"));
        assert_eq!(
            acme_core::error_chain(&outer),
            "error sending request: connection refused"
        );
    }
}
