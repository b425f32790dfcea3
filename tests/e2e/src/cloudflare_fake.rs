//! A local stand-in for the Cloudflare v4 API: the few endpoints the DNS provider uses.
//!
//! No real Cloudflare account can be had in tests, so this fake follows the documented
//! behaviour of: `GET /zones?name=`, `POST`/`GET /zones/{id}/dns_records` (list filtered by
//! `type` and `name`), `DELETE /zones/{id}/dns_records/{record}`, bearer-token
//! authentication, and the v4 envelope `{"success","errors":[{"code","message"}],"messages",
//! "result"}` with Cloudflare's codes: 10000 "Authentication error" (HTTP 403) for a bad
//! token, 7003/7000 (HTTP 400) for an unknown zone id, 81058 for an identical record, 81044
//! (HTTP 404) for a record that does not exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value, json};

use crate::fake_server::FakeServer;

/// A TXT (or other) record the fake holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    /// The record id.
    pub id: String,
    /// The zone id it belongs to.
    pub zone_id: String,
    /// The record type, e.g. `TXT`.
    pub kind: String,
    /// The record name, without a trailing dot.
    pub name: String,
    /// The content as stored (quoted when [`CloudflareFake::quote_txt_content`] is on).
    pub content: String,
    /// The TTL the client asked for.
    pub ttl: u64,
}

#[derive(Debug, Default)]
struct Store {
    token: String,
    zones: Vec<(String, String)>,
    records: Vec<FakeRecord>,
    next_id: u64,
    quote_txt: bool,
}

type Shared = Arc<Mutex<Store>>;

/// A running fake Cloudflare API on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct CloudflareFake {
    server: FakeServer,
    store: Shared,
}

impl CloudflareFake {
    /// Starts the fake; it accepts `Authorization: Bearer TOKEN` for `token` only.
    pub fn start(token: &str) -> CloudflareFake {
        let store: Shared = Arc::new(Mutex::new(Store {
            token: token.to_string(),
            ..Store::default()
        }));
        let app = Router::new()
            .route("/client/v4/zones", get(list_zones))
            .route(
                "/client/v4/zones/{zone_id}/dns_records",
                get(list_records).post(create_record),
            )
            .route(
                "/client/v4/zones/{zone_id}/dns_records/{record_id}",
                delete(delete_record),
            )
            .fallback(no_route)
            .with_state(store.clone());
        let server = FakeServer::start("the Cloudflare fake", app);
        CloudflareFake { server, store }
    }

    /// The provider's `api_url`: `http://127.0.0.1:PORT/client/v4`.
    pub fn api_url(&self) -> String {
        format!("http://{}/client/v4", self.server.addr())
    }

    /// Adds a zone named `name` and returns its id (32 hex digits, like Cloudflare's).
    pub fn add_zone(&self, name: &str) -> String {
        let mut store = self.store();
        store.next_id += 1;
        let id = format!("{:032x}", 0xc10d_0000_u64 + store.next_id);
        store.zones.push((id.clone(), name.to_string()));
        id
    }

    /// Stores and returns TXT content wrapped in double quotes, as newer API versions do.
    pub fn quote_txt_content(&self, on: bool) {
        self.store().quote_txt = on;
    }

    /// Every record held, in creation order.
    pub fn records(&self) -> Vec<FakeRecord> {
        self.store().records.clone()
    }

    /// The TXT values at `name`, unquoted and sorted.
    pub fn txt(&self, name: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .store()
            .records
            .iter()
            .filter(|r| r.kind == "TXT" && r.name == name)
            .map(|r| r.content.trim_matches('"').to_string())
            .collect();
        values.sort();
        values
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn envelope(status: StatusCode, result: Value) -> Response {
    let body = json!({"success": true, "errors": [], "messages": [], "result": result});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn failure(status: StatusCode, errors: &[(u64, &str)]) -> Response {
    let errors: Vec<Value> = errors
        .iter()
        .map(|(code, message)| json!({"code": code, "message": message}))
        .collect();
    let body = json!({"success": false, "errors": errors, "messages": [], "result": null});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Checks the bearer token: the refusal to send when it is missing or wrong.
fn refusal(store: &Store, headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {}", store.token);
    match headers.get(header::AUTHORIZATION) {
        Some(value) if value.as_bytes() == expected.as_bytes() => None,
        _ => Some(failure(
            StatusCode::FORBIDDEN,
            &[(10000, "Authentication error")],
        )),
    }
}

fn unknown_zone(zone_id: &str, rest: &str) -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        &[
            (
                7003,
                &format!(
                    "Could not route to /client/v4/zones/{zone_id}{rest}, perhaps your object identifier is invalid?"
                ),
            ),
            (7000, "No route for that URI"),
        ],
    )
}

fn record_json(record: &FakeRecord, zone_name: &str) -> Value {
    json!({
        "id": record.id,
        "zone_id": record.zone_id,
        "zone_name": zone_name,
        "name": record.name,
        "type": record.kind,
        "content": record.content,
        "ttl": record.ttl,
        "proxied": false,
    })
}

async fn list_zones(
    State(store): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let store = lock(&store);
    if let Some(answer) = refusal(&store, &headers) {
        return answer;
    }
    let zones: Vec<Value> = store
        .zones
        .iter()
        .filter(|(_, name)| query.get("name").is_none_or(|wanted| wanted == name))
        .map(|(id, name)| json!({"id": id, "name": name, "status": "active"}))
        .collect();
    envelope(StatusCode::OK, Value::Array(zones))
}

async fn create_record(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut store = lock(&store);
    if let Some(answer) = refusal(&store, &headers) {
        return answer;
    }
    let Some(zone_name) = store
        .zones
        .iter()
        .find(|(id, _)| *id == zone_id)
        .map(|(_, name)| name.clone())
    else {
        return unknown_zone(&zone_id, "/dns_records");
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return failure(
            StatusCode::BAD_REQUEST,
            &[(9207, "Request body is invalid.")],
        );
    };
    let field = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_string);
    let (Some(kind), Some(name), Some(content)) = (field("type"), field("name"), field("content"))
    else {
        return failure(
            StatusCode::BAD_REQUEST,
            &[(9000, "DNS name, type and content are required.")],
        );
    };
    let ttl = request.get("ttl").and_then(Value::as_u64).unwrap_or(1);
    if ttl != 1 && !(60..=86400).contains(&ttl) {
        return failure(
            StatusCode::BAD_REQUEST,
            &[(
                9021,
                "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
            )],
        );
    }
    if name != zone_name && !name.ends_with(&format!(".{zone_name}")) {
        return failure(
            StatusCode::BAD_REQUEST,
            &[(
                9005,
                "Content for record name is invalid: it is not in the zone.",
            )],
        );
    }
    let content = if kind == "TXT" && store.quote_txt && !content.starts_with('"') {
        format!("\"{content}\"")
    } else {
        content
    };
    let identical = store
        .records
        .iter()
        .any(|r| r.zone_id == zone_id && r.kind == kind && r.name == name && r.content == content);
    if identical {
        return failure(
            StatusCode::BAD_REQUEST,
            &[(81058, "An identical record already exists.")],
        );
    }
    store.next_id += 1;
    let record = FakeRecord {
        id: format!("{:032x}", 0x7ec0_0000_u64 + store.next_id),
        zone_id,
        kind,
        name,
        content,
        ttl,
    };
    let answer = record_json(&record, &zone_name);
    store.records.push(record);
    envelope(StatusCode::OK, answer)
}

async fn list_records(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path(zone_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let store = lock(&store);
    if let Some(answer) = refusal(&store, &headers) {
        return answer;
    }
    let Some(zone_name) = store
        .zones
        .iter()
        .find(|(id, _)| *id == zone_id)
        .map(|(_, name)| name.clone())
    else {
        return unknown_zone(&zone_id, "/dns_records");
    };
    let records: Vec<Value> = store
        .records
        .iter()
        .filter(|r| r.zone_id == zone_id)
        .filter(|r| query.get("type").is_none_or(|kind| *kind == r.kind))
        .filter(|r| query.get("name").is_none_or(|name| *name == r.name))
        .map(|r| record_json(r, &zone_name))
        .collect();
    envelope(StatusCode::OK, Value::Array(records))
}

async fn delete_record(
    State(store): State<Shared>,
    headers: HeaderMap,
    Path((zone_id, record_id)): Path<(String, String)>,
) -> Response {
    let mut store = lock(&store);
    if let Some(answer) = refusal(&store, &headers) {
        return answer;
    }
    if !store.zones.iter().any(|(id, _)| *id == zone_id) {
        return unknown_zone(&zone_id, &format!("/dns_records/{record_id}"));
    }
    let before = store.records.len();
    store
        .records
        .retain(|r| !(r.zone_id == zone_id && r.id == record_id));
    if store.records.len() == before {
        return failure(StatusCode::NOT_FOUND, &[(81044, "Record does not exist.")]);
    }
    envelope(StatusCode::OK, json!({"id": record_id}))
}

async fn no_route() -> Response {
    failure(StatusCode::BAD_REQUEST, &[(7000, "No route for that URI")])
}
