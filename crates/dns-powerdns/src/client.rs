//! The few PowerDNS API calls the provider needs.

use std::time::Duration;

use acme_core::Secret;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::Error;

/// How long one API request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A TXT record set as the API returns and accepts it (content with its inner quotes).
#[derive(Debug, Deserialize)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) content: String,
    #[serde(default)]
    pub(crate) disabled: bool,
}

#[derive(Debug, Deserialize)]
struct Zone {
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

#[derive(Serialize)]
struct Patch<'a> {
    rrsets: [Change<'a>; 1],
}

#[derive(Serialize)]
struct Change<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    changetype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<&'a [Record]>,
}

/// An authenticated client for one PowerDNS server.
pub(crate) struct Client {
    http: reqwest::Client,
    base_url: String,
    server_id: String,
    api_key: Secret,
}

impl Client {
    pub(crate) fn new(base_url: &str, server_id: &str, api_key: Secret) -> Result<Client, Error> {
        let http = acme_core::https_client(None, REQUEST_TIMEOUT)
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Client {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            server_id: server_id.to_string(),
            api_key,
        })
    }

    fn zone_url(&self, zone: &str) -> String {
        format!(
            "{}/api/v1/servers/{}/zones/{zone}",
            self.base_url, self.server_id
        )
    }

    /// The records of the TXT set at `name` (both with trailing dots); empty if there is none.
    pub(crate) async fn txt_records(&self, zone: &str, name: &str) -> Result<Vec<Record>, Error> {
        let url = self.zone_url(zone);
        let body = self
            .send(
                zone,
                self.http
                    .request(Method::GET, &url)
                    .query(&[("rrset_name", name), ("rrset_type", "TXT")]),
                &url,
            )
            .await?;
        let parsed: Zone = serde_json::from_slice(&body).map_err(|e| Error::Api {
            zone: zone.to_string(),
            status: StatusCode::OK.as_u16(),
            message: format!("unexpected answer from {url}: {e}"),
        })?;
        Ok(parsed
            .rrsets
            .into_iter()
            .filter(|set| set.kind == "TXT" && set.name.eq_ignore_ascii_case(name))
            .flat_map(|set| set.records)
            .collect())
    }

    /// Replaces the TXT set at `name` with `records`, or deletes it when `records` is empty.
    pub(crate) async fn replace_txt(
        &self,
        zone: &str,
        name: &str,
        records: &[Record],
        ttl: u32,
    ) -> Result<(), Error> {
        let change = if records.is_empty() {
            Change {
                name,
                kind: "TXT",
                changetype: "DELETE",
                ttl: None,
                records: None,
            }
        } else {
            Change {
                name,
                kind: "TXT",
                changetype: "REPLACE",
                ttl: Some(ttl),
                records: Some(records),
            }
        };
        let url = self.zone_url(zone);
        let request = self
            .http
            .request(Method::PATCH, &url)
            .json(&Patch { rrsets: [change] });
        self.send(zone, request, &url).await.map(drop)
    }

    async fn send(
        &self,
        zone: &str,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Vec<u8>, Error> {
        let network = |e: reqwest::Error| Error::Network {
            url: url.to_string(),
            reason: acme_core::error_chain(&e),
        };
        let response = request
            .header("X-API-Key", self.api_key.expose())
            .send()
            .await
            .map_err(network)?;
        let status = response.status();
        let body = response.bytes().await.map_err(network)?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let message = api_message(&body);
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
                url: self.base_url.clone(),
                status: status.as_u16(),
            },
            StatusCode::NOT_FOUND => self.zone_not_found(zone),
            StatusCode::UNPROCESSABLE_ENTITY
                if message.contains("Could not find domain") || message.contains("Not Found") =>
            {
                self.zone_not_found(zone)
            }
            _ => Error::Api {
                zone: zone.to_string(),
                status: status.as_u16(),
                message,
            },
        })
    }

    fn zone_not_found(&self, zone: &str) -> Error {
        Error::ZoneNotFound {
            zone: zone.to_string(),
            server_id: self.server_id.clone(),
            url: self.base_url.clone(),
        }
    }
}

/// PowerDNS's `{"error": "…"}` text, or the body itself when it is not that; printable.
fn api_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ApiError {
        error: String,
    }
    match serde_json::from_slice::<ApiError>(body) {
        Ok(err) => acme_core::printable(&err.error),
        Err(_) => acme_core::printable(&String::from_utf8_lossy(body)),
    }
}
