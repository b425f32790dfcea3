//! The few Cloudflare v4 API calls the provider needs.

use std::time::Duration;

use acme_core::Secret;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Error;

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Cloudflare's error code for "An identical record already exists."
pub(crate) const IDENTICAL_RECORD_EXISTS: u64 = 81058;
/// Cloudflare's error code for "Record does not exist."
pub(crate) const RECORD_DOES_NOT_EXIST: u64 = 81044;
/// Cloudflare's error codes for a zone id that routes nowhere ("Could not route to …",
/// "Invalid zone identifier").
const UNKNOWN_ZONE_CODES: [u64; 3] = [7000, 7003, 1001];
/// Cloudflare's authentication error codes (bad, expired or under-scoped token).
const AUTH_CODES: [u64; 4] = [10000, 9109, 6003, 6111];

/// The envelope of every v4 answer.
#[derive(Debug, Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiError>,
    result: Option<T>,
}

/// One entry of an answer's `errors`.
#[derive(Debug, Deserialize)]
pub(crate) struct ApiError {
    #[serde(default)]
    pub(crate) code: u64,
    #[serde(default)]
    pub(crate) message: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Zone {
    pub(crate) id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct DnsRecord {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) content: String,
}

#[derive(Serialize)]
struct NewRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    content: &'a str,
    ttl: u32,
}

/// A failed call: the HTTP status and Cloudflare's errors.
pub(crate) struct Failure {
    pub(crate) status: StatusCode,
    pub(crate) errors: Vec<ApiError>,
    /// The body, when it was not a v4 envelope.
    pub(crate) body: String,
}

impl Failure {
    pub(crate) fn has_code(&self, code: u64) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }

    /// Turns the failure into the provider's error for `zone`.
    pub(crate) fn into_error(self, zone: &str, zone_id: Option<&str>, action: String) -> Error {
        let errors = self.describe();
        let code_in = |codes: &[u64]| self.errors.iter().any(|e| codes.contains(&e.code));
        if matches!(
            self.status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) || code_in(&AUTH_CODES)
        {
            Error::Unauthorized {
                zone: zone.to_string(),
                status: self.status.as_u16(),
                errors,
            }
        } else if code_in(&UNKNOWN_ZONE_CODES) {
            Error::ZoneNotFound {
                zone: zone.to_string(),
                zone_id: zone_id.map(str::to_string),
                detail: errors,
            }
        } else {
            Error::Api {
                zone: zone.to_string(),
                action,
                status: self.status.as_u16(),
                errors,
            }
        }
    }

    /// Cloudflare's errors, or the body when it gave none; printable.
    fn describe(&self) -> String {
        if self.errors.is_empty() {
            return acme_core::printable(&self.body);
        }
        let joined = self
            .errors
            .iter()
            .map(|e| format!("code {}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        acme_core::printable(&joined)
    }
}

/// An outcome of one call: the result, a Cloudflare failure, or a provider error.
pub(crate) type Outcome<T> = Result<Result<T, Failure>, Error>;

/// An authenticated client for the v4 API.
pub(crate) struct Client {
    http: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl Client {
    pub(crate) fn new(base_url: &str, token: Secret) -> Result<Client, Error> {
        let http = acme_core::https_client(None, REQUEST_TIMEOUT)
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// The zones named `zone` that the token can read.
    pub(crate) async fn zones_named(&self, zone: &str) -> Outcome<Vec<Zone>> {
        let url = format!("{}/zones", self.base_url);
        self.call(
            self.http
                .request(Method::GET, &url)
                .query(&[("name", zone)]),
            &url,
        )
        .await
    }

    /// Creates a TXT record.
    pub(crate) async fn create_txt(
        &self,
        zone_id: &str,
        name: &str,
        content: &str,
        ttl: u32,
    ) -> Outcome<DnsRecord> {
        let url = format!("{}/zones/{zone_id}/dns_records", self.base_url);
        let record = NewRecord {
            kind: "TXT",
            name,
            content,
            ttl,
        };
        self.call(self.http.request(Method::POST, &url).json(&record), &url)
            .await
    }

    /// The TXT records at `name`.
    pub(crate) async fn list_txt(&self, zone_id: &str, name: &str) -> Outcome<Vec<DnsRecord>> {
        let url = format!("{}/zones/{zone_id}/dns_records", self.base_url);
        let query = [("type", "TXT"), ("name", name), ("per_page", "100")];
        self.call(self.http.request(Method::GET, &url).query(&query), &url)
            .await
    }

    /// Deletes the record `record_id`.
    pub(crate) async fn delete(
        &self,
        zone_id: &str,
        record_id: &str,
    ) -> Outcome<serde_json::Value> {
        let url = format!("{}/zones/{zone_id}/dns_records/{record_id}", self.base_url);
        self.call(self.http.request(Method::DELETE, &url), &url)
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Outcome<T> {
        let network = |e: reqwest::Error| Error::Network {
            url: url.to_string(),
            reason: acme_core::error_chain(&e),
        };
        let response = request
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        let body = response.bytes().await.map_err(network)?;
        match serde_json::from_slice::<Envelope<T>>(&body) {
            Ok(Envelope {
                success: true,
                result: Some(result),
                ..
            }) if status.is_success() => Ok(Ok(result)),
            Ok(envelope) => Ok(Err(Failure {
                status,
                errors: envelope.errors,
                body: String::from_utf8_lossy(&body).into_owned(),
            })),
            Err(_) => Ok(Err(Failure {
                status,
                errors: Vec::new(),
                body: String::from_utf8_lossy(&body).into_owned(),
            })),
        }
    }
}
