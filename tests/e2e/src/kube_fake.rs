//! A local stand-in for the Kubernetes API server: Secrets and Leases in namespaces.
//!
//! No API server can be installed on the test machines, so this fake follows the documented
//! semantics (kubernetes.io/docs/reference/using-api/api-concepts and server-side-apply) for
//! what acmekeep uses: create (`POST`, 409 AlreadyExists), get and list, replace (`PUT`, 409
//! when the `resourceVersion` is stale; a Lease may be created by `PUT` but not updated
//! without a `resourceVersion`, 422), server-side apply (`PATCH` with
//! `application/apply-patch+yaml`, `fieldManager` required, field ownership per manager
//! reported in `managedFields`, 409 Conflict with `FieldManagerConflict` causes when another
//! manager owns a field with another value and `force` is off, fields the applier no longer
//! sends removed), delete, and Secret types being immutable (422). Unknown namespaces give
//! a plain 404 for a named read, an empty list for a list, and `namespaces "x" not found`
//! for writes. Requests authenticate with a bearer token that is taken as the user name;
//! [`KubeFake::deny`] makes RBAC refuse a verb on a resource with the real 403 message.
//! A namespace can be read (`GET /api/v1/namespaces/NS`, 404 when missing), and a
//! SelfSubjectAccessReview (`POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`)
//! answers `status.allowed` (and `status.reason` when allowed) as RBAC would decide the
//! request it describes; both are subject to [`KubeFake::deny`] themselves (`namespaces`,
//! `selfsubjectaccessreviews`). Every request is recorded for assertions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use crate::fake_server::FakeServer;

/// One request the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRequest {
    /// The HTTP method.
    pub method: String,
    /// The path, e.g. `/api/v1/namespaces/app/secrets/web-tls`.
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// The `Content-Type` header (empty when none).
    pub content_type: String,
    /// The user (the bearer token).
    pub user: String,
    /// The status code of the answer.
    pub status: u16,
}

/// The two resources the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Secrets,
    Leases,
}

impl Kind {
    fn parse(plural: &str) -> Option<Kind> {
        match plural {
            "secrets" => Some(Kind::Secrets),
            "leases" => Some(Kind::Leases),
            _ => None,
        }
    }
    fn plural(self) -> &'static str {
        match self {
            Kind::Secrets => "secrets",
            Kind::Leases => "leases",
        }
    }
    fn group(self) -> &'static str {
        match self {
            Kind::Secrets => "",
            Kind::Leases => "coordination.k8s.io",
        }
    }
    /// `secrets`, `leases.coordination.k8s.io`: how messages name the resource.
    fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            group => format!("{}.{group}", self.plural()),
        }
    }
    fn kind(self) -> &'static str {
        match self {
            Kind::Secrets => "Secret",
            Kind::Leases => "Lease",
        }
    }
    fn api_version(self) -> &'static str {
        match self {
            Kind::Secrets => "v1",
            Kind::Leases => "coordination.k8s.io/v1",
        }
    }
}

type FieldPath = Vec<String>;

#[derive(Debug, Clone)]
struct Manager {
    operation: &'static str,
    fields: BTreeSet<FieldPath>,
    time: String,
}

#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    managers: BTreeMap<String, Manager>,
}

#[derive(Debug, Default)]
struct Store {
    namespaces: BTreeSet<String>,
    objects: BTreeMap<(Kind, String, String), Stored>,
    next_version: u64,
    denied: Vec<(Option<String>, String, String)>,
    requests: Vec<KubeRequest>,
}

type Shared = Arc<Mutex<Store>>;

/// A running fake Kubernetes API server on a free loopback port (plain HTTP), stopped on drop.
#[derive(Debug)]
pub struct KubeFake {
    server: FakeServer,
    store: Shared,
}

impl KubeFake {
    /// Starts the fake with these namespaces.
    pub fn start(namespaces: &[&str]) -> KubeFake {
        let store: Shared = Arc::new(Mutex::new(Store {
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            next_version: 1000,
            ..Store::default()
        }));
        let app = Router::new()
            .route("/api/v1/namespaces/{ns}", any(namespace))
            .route(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                any(access_review),
            )
            .route("/api/v1/namespaces/{ns}/{resource}", any(collection))
            .route("/api/v1/namespaces/{ns}/{resource}/{name}", any(object))
            .route(
                "/apis/{group}/v1/namespaces/{ns}/{resource}",
                any(collection),
            )
            .route(
                "/apis/{group}/v1/namespaces/{ns}/{resource}/{name}",
                any(object),
            )
            .with_state(store.clone());
        let server = FakeServer::start("the Kubernetes fake", app);
        KubeFake { server, store }
    }

    /// The API server's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Writes a kubeconfig for `user` (whose bearer token is its name) into `dir` and
    /// returns its path; its context is named `fake`.
    pub fn kubeconfig(&self, dir: &FsPath, user: &str) -> PathBuf {
        let path = dir.join(format!("kubeconfig-{user}.yaml"));
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: {user}\n    namespace: default\nusers:\n- name: {user}\n  user:\n    token: {user}\n",
            url = self.url()
        );
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// Creates namespace `name` (as `kubectl create namespace` would).
    pub fn create_namespace(&self, name: &str) {
        self.store().namespaces.insert(name.to_string());
    }

    /// Makes RBAC refuse `verb` on `resource` (`secrets`, `leases`, `namespaces`,
    /// `selfsubjectaccessreviews`) for `user`, or for everyone when `user` is `None`.
    pub fn deny(&self, user: Option<&str>, verb: &str, resource: &str) {
        self.store().denied.push((
            user.map(str::to_string),
            verb.to_string(),
            resource.to_string(),
        ));
    }

    /// Lifts every [`KubeFake::deny`].
    pub fn allow_all(&self) {
        self.store().denied.clear();
    }

    /// The Secret as the API server would return it (with `managedFields`), if it exists.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get(Kind::Secrets, namespace, name)
    }

    /// The Lease as the API server would return it, if it exists.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get(Kind::Leases, namespace, name)
    }

    /// Creates a Secret as `manager` would with `kubectl create` (an Update operation), so
    /// tests can plant Secrets acmekeep did not write. `object` is a full Secret.
    pub fn create_secret(&self, manager: &str, object: Value) {
        let mut store = self.store();
        let namespace = str_at(&object, &["metadata", "namespace"]).to_string();
        let name = str_at(&object, &["metadata", "name"]).to_string();
        let key = (Kind::Secrets, namespace, name);
        let stored = create(&mut store, Kind::Secrets, manager, object);
        store.objects.insert(key, stored);
    }

    /// Replaces a Secret as `manager` would with `kubectl edit` (a `PUT` with the
    /// `resourceVersion` in `object`), and returns the HTTP status the API would answer.
    pub fn replace_secret(&self, manager: &str, object: Value) -> u16 {
        let call = Call {
            method: Method::PUT,
            kind: Kind::Secrets,
            namespace: str_at(&object, &["metadata", "namespace"]).to_string(),
            name: Some(str_at(&object, &["metadata", "name"]).to_string()),
            query: HashMap::from([("fieldManager".to_string(), manager.to_string())]),
            content_type: "application/json".to_string(),
            user_agent: String::new(),
            body: Bytes::from(object.to_string()),
        };
        serve(&mut self.store(), "admin", call).0.as_u16()
    }

    /// Every request answered so far.
    pub fn requests(&self) -> Vec<KubeRequest> {
        self.store().requests.clone()
    }

    fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let store = self.store();
        let key = (kind, namespace.to_string(), name.to_string());
        store.objects.get(&key).map(render)
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one request asks for.
struct Call {
    method: Method,
    kind: Kind,
    namespace: String,
    name: Option<String>,
    query: HashMap<String, String>,
    content_type: String,
    user_agent: String,
    body: Bytes,
}

async fn collection(
    State(store): State<Shared>,
    method: Method,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&store, method, params, query, headers, body)
}

async fn object(
    State(store): State<Shared>,
    method: Method,
    Path(params): Path<HashMap<String, String>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&store, method, params, query, headers, body)
}

fn handle(
    store: &Shared,
    method: Method,
    params: HashMap<String, String>,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!(
        "/{}namespaces/{}/{}{}",
        params
            .get("group")
            .map(|g| format!("apis/{g}/v1/"))
            .unwrap_or_else(|| "api/v1/".to_string()),
        params.get("ns").map(String::as_str).unwrap_or_default(),
        params
            .get("resource")
            .map(String::as_str)
            .unwrap_or_default(),
        params
            .get("name")
            .map(|n| format!("/{n}"))
            .unwrap_or_default()
    );
    let record = KubeRequest::new(&method, path, query.unwrap_or_default(), &headers);
    let mut store = lock(store);
    let answer = match route(&params) {
        None => not_found_route(&record.path),
        Some(kind) => {
            let call = Call {
                method,
                kind,
                namespace: params.get("ns").cloned().unwrap_or_default(),
                name: params.get("name").cloned(),
                query: record
                    .query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                content_type: record.content_type.clone(),
                user_agent: header_text(&headers, header::USER_AGENT),
                body,
            };
            if record.user.is_empty() {
                unauthorized()
            } else {
                serve(&mut store, &record.user, call)
            }
        }
    };
    respond(&mut store, record, answer)
}

/// `GET /api/v1/namespaces/NS`: the namespace, 404 when it does not exist.
async fn namespace(
    State(store): State<Shared>,
    method: Method,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let record = KubeRequest::new(
        &method,
        format!("/api/v1/namespaces/{ns}"),
        query.unwrap_or_default(),
        &headers,
    );
    let mut store = lock(&store);
    let answer = if record.user.is_empty() {
        unauthorized()
    } else if method != Method::GET {
        failure(
            405,
            "MethodNotAllowed",
            "the fake only reads namespaces",
            None,
        )
    } else if is_denied(&store, &record.user, "get", "namespaces") {
        failure(
            403,
            "Forbidden",
            &format!(
                "namespaces {ns:?} is forbidden: User {:?} cannot get resource \"namespaces\" in API group \"\" in the namespace {ns:?}",
                record.user
            ),
            Some(json!({"name": ns, "kind": "namespaces"})),
        )
    } else if store.namespaces.contains(&ns) {
        (
            StatusCode::OK,
            json!({"kind": "Namespace", "apiVersion": "v1",
                   "metadata": {"name": ns, "resourceVersion": "1"},
                   "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
        )
    } else {
        namespace_not_found(&ns)
    };
    respond(&mut store, record, answer)
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: whether RBAC allows the
/// caller the request in `spec.resourceAttributes`, decided as the other requests are.
async fn access_review(
    State(store): State<Shared>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let record = KubeRequest::new(
        &method,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".to_string(),
        query.unwrap_or_default(),
        &headers,
    );
    let mut store = lock(&store);
    let answer = review(&store, &record.user, &method, &body);
    respond(&mut store, record, answer)
}

fn review(store: &Store, user: &str, method: &Method, body: &Bytes) -> (StatusCode, Value) {
    if user.is_empty() {
        return unauthorized();
    }
    if method != Method::POST {
        return failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            None,
        );
    }
    if is_denied(store, user, "create", "selfsubjectaccessreviews") {
        return failure(
            403,
            "Forbidden",
            &format!(
                "selfsubjectaccessreviews.authorization.k8s.io is forbidden: User {user:?} cannot create resource \"selfsubjectaccessreviews\" in API group \"authorization.k8s.io\" at the cluster scope"
            ),
            Some(json!({"group": "authorization.k8s.io", "kind": "selfsubjectaccessreviews"})),
        );
    }
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return bad_request("the body is not a JSON object");
    };
    let attributes = object
        .pointer("/spec/resourceAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    let verb = str_at(&attributes, &["verb"]);
    let resource = str_at(&attributes, &["resource"]);
    if verb.is_empty() || resource.is_empty() {
        return failure(
            422,
            "Invalid",
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: verb and resource are required",
            None,
        );
    }
    let status = if is_denied(store, user, verb, resource) {
        json!({"allowed": false})
    } else {
        json!({"allowed": true,
               "reason": format!("RBAC: allowed by RoleBinding \"acmekeep\" to User {user:?}")})
    };
    set_at(&mut object, &["status"], status);
    set_at(&mut object, &["metadata"], json!({}));
    (StatusCode::CREATED, object)
}

impl KubeRequest {
    /// A request to record, its status not yet known.
    fn new(method: &Method, path: String, query: String, headers: &HeaderMap) -> KubeRequest {
        KubeRequest {
            method: method.to_string(),
            path,
            query,
            content_type: header_text(headers, header::CONTENT_TYPE),
            user: header_text(headers, header::AUTHORIZATION)
                .strip_prefix("Bearer ")
                .unwrap_or_default()
                .to_string(),
            status: 0,
        }
    }
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Records `record` with the answer's status and renders the answer.
fn respond(store: &mut Store, mut record: KubeRequest, answer: (StatusCode, Value)) -> Response {
    let (status, body) = answer;
    record.status = status.as_u16();
    store.requests.push(record);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn unauthorized() -> (StatusCode, Value) {
    failure(401, "Unauthorized", "Unauthorized", None)
}

fn route(params: &HashMap<String, String>) -> Option<Kind> {
    let kind = Kind::parse(params.get("resource")?)?;
    let group = params.get("group").map(String::as_str).unwrap_or_default();
    (group == kind.group()).then_some(kind)
}

fn not_found_route(path: &str) -> (StatusCode, Value) {
    failure(
        404,
        "NotFound",
        &format!("the server could not find the requested resource ({path})"),
        None,
    )
}

fn serve(store: &mut Store, user: &str, call: Call) -> (StatusCode, Value) {
    let verb = match (&call.method, &call.name) {
        (&Method::GET, Some(_)) => "get",
        (&Method::GET, None) => "list",
        (&Method::POST, None) => "create",
        (&Method::PUT, Some(_)) => "update",
        (&Method::PATCH, Some(_)) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        _ => {
            return failure(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                None,
            );
        }
    };
    if let Some(denied) = forbidden(store, user, verb, &call, call.name.as_deref()) {
        return denied;
    }
    let namespace_exists = store.namespaces.contains(&call.namespace);
    match verb {
        "list" => {
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|((kind, ns, _), _)| *kind == call.kind && *ns == call.namespace)
                .map(|(_, stored)| render(stored))
                .collect();
            let version = store.next_version.to_string();
            (
                StatusCode::OK,
                json!({"kind": format!("{}List", call.kind.kind()), "apiVersion": call.kind.api_version(),
                       "metadata": {"resourceVersion": version}, "items": items}),
            )
        }
        "create" => {
            if !namespace_exists {
                return namespace_not_found(&call.namespace);
            }
            let Ok(object) = serde_json::from_slice::<Value>(&call.body) else {
                return bad_request("the body is not a JSON object");
            };
            let name = str_at(&object, &["metadata", "name"]).to_string();
            let key = (call.kind, call.namespace.clone(), name.clone());
            if store.objects.contains_key(&key) {
                return failure(
                    409,
                    "AlreadyExists",
                    &format!("{} {name:?} already exists", call.kind.qualified()),
                    Some(details(call.kind, &name)),
                );
            }
            let manager = manager_of(&call);
            let mut object = object;
            set_at(
                &mut object,
                &["metadata", "namespace"],
                json!(call.namespace),
            );
            let stored = create(store, call.kind, &manager, object);
            let body = render(&stored);
            store.objects.insert(key, stored);
            (StatusCode::CREATED, body)
        }
        _ => {
            let name = call.name.clone().unwrap_or_default();
            let key = (call.kind, call.namespace.clone(), name.clone());
            match verb {
                "get" => match store.objects.get(&key) {
                    Some(stored) => (StatusCode::OK, render(stored)),
                    None => object_not_found(call.kind, &name),
                },
                "delete" => match store.objects.remove(&key) {
                    Some(_) => (
                        StatusCode::OK,
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                               "status": "Success", "details": details(call.kind, &name)}),
                    ),
                    None => object_not_found(call.kind, &name),
                },
                "update" => update(store, &call, key),
                _ => apply(store, user, &call, key),
            }
        }
    }
}

/// The real RBAC message: `secrets "x" is forbidden: User "u" cannot patch resource
/// "secrets" in API group "" in the namespace "ns"`.
fn forbidden(
    store: &Store,
    user: &str,
    verb: &str,
    call: &Call,
    name: Option<&str>,
) -> Option<(StatusCode, Value)> {
    if !is_denied(store, user, verb, call.kind.plural()) {
        return None;
    }
    let object = match name {
        Some(name) if verb != "create" => format!("{} {name:?}", call.kind.qualified()),
        _ => call.kind.qualified(),
    };
    let message = format!(
        "{object} is forbidden: User {user:?} cannot {verb} resource {:?} in API group {:?} in the namespace {:?}",
        call.kind.plural(),
        call.kind.group(),
        call.namespace
    );
    Some(failure(
        403,
        "Forbidden",
        &message,
        Some(details(call.kind, name.unwrap_or_default())),
    ))
}

/// Whether RBAC refuses `verb` on `resource` to `user` (see [`KubeFake::deny`]).
fn is_denied(store: &Store, user: &str, verb: &str, resource: &str) -> bool {
    store
        .denied
        .iter()
        .any(|(who, v, r)| who.as_deref().is_none_or(|w| w == user) && v == verb && r == resource)
}

fn manager_of(call: &Call) -> String {
    call.query.get("fieldManager").cloned().unwrap_or_else(|| {
        call.user_agent
            .split('/')
            .next()
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .to_string()
    })
}

/// A new object owned wholly by `manager` (an Update operation, as for `POST`).
fn create(store: &mut Store, kind: Kind, manager: &str, mut object: Value) -> Stored {
    if kind == Kind::Secrets && object.get("type").is_none() {
        set_at(&mut object, &["type"], json!("Opaque"));
    }
    store.next_version += 1;
    let version = store.next_version;
    set_at(&mut object, &["apiVersion"], json!(kind.api_version()));
    set_at(&mut object, &["kind"], json!(kind.kind()));
    set_at(
        &mut object,
        &["metadata", "resourceVersion"],
        json!(version.to_string()),
    );
    set_at(
        &mut object,
        &["metadata", "uid"],
        json!(format!("00000000-0000-4000-8000-{version:012}")),
    );
    set_at(
        &mut object,
        &["metadata", "creationTimestamp"],
        json!(timestamp()),
    );
    let fields = leaves(&object);
    Stored {
        object,
        managers: BTreeMap::from([(
            manager.to_string(),
            Manager {
                operation: "Update",
                fields,
                time: timestamp(),
            },
        )]),
    }
}

fn update(store: &mut Store, call: &Call, key: (Kind, String, String)) -> (StatusCode, Value) {
    let kind = call.kind;
    let name = key.2.clone();
    if !store.namespaces.contains(&call.namespace) {
        return namespace_not_found(&call.namespace);
    }
    let Ok(mut object) = serde_json::from_slice::<Value>(&call.body) else {
        return bad_request("the body is not a JSON object");
    };
    let manager = manager_of(call);
    let sent_version = object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(current) = store.objects.get(&key).cloned() else {
        if kind == Kind::Leases {
            set_at(
                &mut object,
                &["metadata", "namespace"],
                json!(call.namespace),
            );
            let stored = create(store, kind, &manager, object);
            let body = render(&stored);
            store.objects.insert(key, stored);
            return (StatusCode::CREATED, body);
        }
        return object_not_found(kind, &name);
    };
    match &sent_version {
        None if kind == Kind::Leases => {
            return failure(
                422,
                "Invalid",
                &format!(
                    "{}.{} {name:?} is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                    kind.kind(),
                    kind.group()
                ),
                Some(details(kind, &name)),
            );
        }
        Some(sent)
            if Some(sent.as_str())
                != current
                    .object
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str) =>
        {
            return failure(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                    kind.qualified()
                ),
                Some(details(kind, &name)),
            );
        }
        _ => {}
    }
    if let Some(err) = immutable_type(kind, &name, &current.object, &object) {
        return err;
    }
    for field in ["uid", "creationTimestamp", "namespace", "name"] {
        if let Some(value) = current.object.pointer(&format!("/metadata/{field}")) {
            set_at(&mut object, &["metadata", field], value.clone());
        }
    }
    let old = leaf_values(&current.object);
    let new = leaf_values(&object);
    let mut managers = current.managers;
    let changed: BTreeSet<FieldPath> = new
        .iter()
        .filter(|(path, value)| old.get(*path) != Some(*value))
        .map(|(path, _)| path.clone())
        .collect();
    for manager in managers.values_mut() {
        manager
            .fields
            .retain(|path| new.contains_key(path) && !changed.contains(path));
    }
    let entry = managers.entry(manager).or_insert_with(|| Manager {
        operation: "Update",
        fields: BTreeSet::new(),
        time: timestamp(),
    });
    entry.fields.extend(changed);
    entry.time = timestamp();
    managers.retain(|_, m| !m.fields.is_empty());
    finish_write(store, key, object, managers, StatusCode::OK)
}

fn apply(
    store: &mut Store,
    user: &str,
    call: &Call,
    key: (Kind, String, String),
) -> (StatusCode, Value) {
    let kind = call.kind;
    let name = key.2.clone();
    if call.content_type != "application/apply-patch+yaml" {
        return failure(
            415,
            "UnsupportedMediaType",
            &format!(
                "the fake only serves server-side apply patches, not {:?}",
                call.content_type
            ),
            None,
        );
    }
    let Some(manager) = call.query.get("fieldManager").cloned() else {
        return failure(
            400,
            "BadRequest",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            None,
        );
    };
    let force = call.query.get("force").is_some_and(|v| v == "true");
    let Ok(applied) = serde_json::from_slice::<Value>(&call.body) else {
        return bad_request("error decoding YAML: the body is not an object");
    };
    if str_at(&applied, &["metadata", "name"]) != name
        || str_at(&applied, &["kind"]) != kind.kind()
        || str_at(&applied, &["apiVersion"]) != kind.api_version()
    {
        return bad_request(
            "the apply patch's apiVersion, kind or metadata.name does not match the URL",
        );
    }
    let exists = store.objects.contains_key(&key);
    if !exists {
        if !store.namespaces.contains(&call.namespace) {
            return namespace_not_found(&call.namespace);
        }
        // Creating through apply needs the create permission as well (kube-apiserver checks it).
        if let Some(denied) = forbidden(store, user, "create", call, Some(&name)) {
            return denied;
        }
    }
    let applied_values = leaf_values(&applied);
    let applied_fields: BTreeSet<FieldPath> = applied_values.keys().cloned().collect();
    let (mut object, mut managers, status) = match store.objects.get(&key).cloned() {
        Some(current) => (current.object, current.managers, StatusCode::OK),
        None => (
            json!({"apiVersion": kind.api_version(), "kind": kind.kind(),
                   "metadata": {"name": name, "namespace": call.namespace}}),
            BTreeMap::new(),
            StatusCode::CREATED,
        ),
    };
    if let Some(err) = immutable_type(kind, &name, &object, &applied) {
        return err;
    }
    let current_values = leaf_values(&object);
    let mut conflicts: Vec<(String, FieldPath)> = Vec::new();
    for (other, owned) in managers.iter().filter(|(m, _)| **m != manager) {
        for path in owned.fields.intersection(&applied_fields) {
            if current_values.get(path) != applied_values.get(path) {
                conflicts.push((other.clone(), path.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(other, path)| {
                json!({"type": "FieldManagerConflict",
                       "message": format!("conflict with {other:?} using {}", kind.api_version()),
                       "field": dotted(path)})
            })
            .collect();
        let listed: Vec<String> = conflicts
            .iter()
            .map(|(other, path)| {
                format!(
                    "conflict with {other:?} using {}: {}",
                    kind.api_version(),
                    dotted(path)
                )
            })
            .collect();
        let plural = if conflicts.len() == 1 { "" } else { "s" };
        let message = format!(
            "Apply failed with {} conflict{plural}: {}",
            conflicts.len(),
            listed.join("\n")
        );
        let mut detail = details(kind, &name);
        set_at(&mut detail, &["causes"], json!(causes));
        return failure(409, "Conflict", &message, Some(detail));
    }
    for (other, path) in &conflicts {
        if let Some(m) = managers.get_mut(other) {
            m.fields.remove(path);
        }
    }
    let previously: BTreeSet<FieldPath> = managers
        .get(&manager)
        .filter(|m| m.operation == "Apply")
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    for path in previously.difference(&applied_fields) {
        let shared = managers
            .iter()
            .any(|(m, owned)| *m != manager && owned.fields.contains(path));
        if !shared {
            remove_at(&mut object, path);
        }
    }
    for (path, value) in &applied_values {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        set_at(&mut object, &segments, value.clone());
    }
    if kind == Kind::Secrets && object.get("type").is_none() {
        set_at(&mut object, &["type"], json!("Opaque"));
    }
    managers.insert(
        manager,
        Manager {
            operation: "Apply",
            fields: applied_fields,
            time: timestamp(),
        },
    );
    managers.retain(|_, m| !m.fields.is_empty());
    if status == StatusCode::CREATED {
        store.next_version += 1;
        let version = store.next_version;
        set_at(
            &mut object,
            &["metadata", "uid"],
            json!(format!("00000000-0000-4000-8000-{version:012}")),
        );
        set_at(
            &mut object,
            &["metadata", "creationTimestamp"],
            json!(timestamp()),
        );
    }
    finish_write(store, key, object, managers, status)
}

fn finish_write(
    store: &mut Store,
    key: (Kind, String, String),
    mut object: Value,
    managers: BTreeMap<String, Manager>,
    status: StatusCode,
) -> (StatusCode, Value) {
    store.next_version += 1;
    set_at(
        &mut object,
        &["metadata", "resourceVersion"],
        json!(store.next_version.to_string()),
    );
    let stored = Stored { object, managers };
    let body = render(&stored);
    store.objects.insert(key, stored);
    (status, body)
}

fn immutable_type(
    kind: Kind,
    name: &str,
    current: &Value,
    new: &Value,
) -> Option<(StatusCode, Value)> {
    if kind != Kind::Secrets {
        return None;
    }
    let old = current.get("type").and_then(Value::as_str)?;
    let new = new.get("type").and_then(Value::as_str)?;
    (old != new).then(|| {
        failure(
            422,
            "Invalid",
            &format!(
                "Secret {name:?} is invalid: type: Invalid value: {new:?}: field is immutable"
            ),
            Some(details(kind, name)),
        )
    })
}

/// The object with `managedFields` rendered from the ownership records.
fn render(stored: &Stored) -> Value {
    let mut object = stored.object.clone();
    let entries: Vec<Value> = stored
        .managers
        .iter()
        .map(|(manager, m)| {
            json!({"manager": manager, "operation": m.operation,
                   "apiVersion": object.get("apiVersion").cloned().unwrap_or(Value::Null),
                   "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": fields_v1(&m.fields)})
        })
        .collect();
    set_at(&mut object, &["metadata", "managedFields"], json!(entries));
    object
}

fn fields_v1(fields: &BTreeSet<FieldPath>) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut node = &mut root;
        for segment in path {
            node = node
                .entry(format!("f:{segment}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

/// The fields a manager can own: every scalar (or list) below the top level, except the
/// identity and server-set metadata.
fn leaf_values(object: &Value) -> BTreeMap<FieldPath, Value> {
    fn walk(value: &Value, path: &mut FieldPath, out: &mut BTreeMap<FieldPath, Value>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    path.push(key.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            other => {
                out.insert(path.clone(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Value::Object(map) = object {
        for (key, child) in map {
            if key == "apiVersion" || key == "kind" {
                continue;
            }
            let mut path = vec![key.clone()];
            walk(child, &mut path, &mut out);
        }
    }
    const SERVER_SET: [&str; 6] = [
        "name",
        "namespace",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "managedFields",
    ];
    out.retain(|path, _| {
        !(path[0] == "metadata" && path.len() >= 2 && SERVER_SET.contains(&path[1].as_str()))
    });
    out
}

fn leaves(object: &Value) -> BTreeSet<FieldPath> {
    leaf_values(object).into_keys().collect()
}

fn dotted(path: &FieldPath) -> String {
    path.iter().map(|s| format!(".{s}")).collect()
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn set_at(value: &mut Value, path: &[&str], new: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = value;
    for key in parents {
        if !node.get(key).is_some_and(Value::is_object) {
            node[*key] = json!({});
        }
        node = &mut node[*key];
    }
    node[*last] = new;
}

fn remove_at(value: &mut Value, path: &FieldPath) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = value;
    for key in parents {
        match node.get_mut(key) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(map) = node.as_object_mut() {
        map.remove(last);
    }
}

/// `details` as the API server sends them: empty fields left out (kube cannot parse nulls).
fn details(kind: Kind, name: &str) -> Value {
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), json!(name));
    }
    if !kind.group().is_empty() {
        details.insert("group".into(), json!(kind.group()));
    }
    details.insert("kind".into(), json!(kind.plural()));
    Value::Object(details)
}

fn failure(code: u16, reason: &str, message: &str, details: Option<Value>) -> (StatusCode, Value) {
    let mut status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason, "code": code});
    if let Some(details) = details {
        status["details"] = details;
    }
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        status,
    )
}

fn bad_request(message: &str) -> (StatusCode, Value) {
    failure(400, "BadRequest", message, None)
}

fn object_not_found(kind: Kind, name: &str) -> (StatusCode, Value) {
    failure(
        404,
        "NotFound",
        &format!("{} {name:?} not found", kind.qualified()),
        Some(details(kind, name)),
    )
}

fn namespace_not_found(namespace: &str) -> (StatusCode, Value) {
    failure(
        404,
        "NotFound",
        &format!("namespaces {namespace:?} not found"),
        Some(json!({"name": namespace, "kind": "namespaces"})),
    )
}

/// Now as RFC 3339 in UTC, seconds precision, as `managedFields[].time` is written.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
