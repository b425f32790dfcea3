//! A local stand-in for Venafi TLS Protect (TPP): the token service and the two certificate
//! calls the Venafi issuer uses.
//!
//! No TPP server can be had in tests, so this fake follows the documented behaviour of
//! `POST /vedauth/authorize/oauth` (password grant with `client_id` and `scope`),
//! `POST /vedauth/authorize/token` (refresh; a refresh token works once),
//! `POST /vedsdk/certificates/request` (`PolicyDN`, `PKCS10`, `ObjectName`, `CustomFields`,
//! answered with `{"CertificateDN", "Guid"}`, or HTTP 400 `{"Error": "..."}`) and
//! `POST /vedsdk/certificates/retrieve` (HTTP 202 `{"Stage", "Status"}` while processing,
//! HTTP 200 `{"CertificateData", "Filename", "Format"}` with the Base64 of the PEM chain,
//! leaf first and CRLF line ends, HTTP 400 `{"Error"}` for an unknown DN). Bearer tokens
//! that are unknown or expired get HTTP 401 with an OAuth `{"error", "error_description"}`.
//!
//! It signs with its own two-level CA (a root and an issuing CA, made with the `openssl`
//! command line tool for each instance) and has knobs for what a real TPP may do: require
//! an approval ([`VenafiFake::require_approval`], then [`VenafiFake::approve`]), refuse by
//! policy ([`VenafiFake::reject_with`]), expire tokens ([`VenafiFake::expire_access_tokens`])
//! and process slowly ([`VenafiFake::processing_polls`]). It records every request.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::fake_server::FakeServer;
use crate::tool;

/// The policy folder the fake knows from the start.
pub const VENAFI_ZONE: &str = "\\VED\\Policy\\Web";
/// The API integration (client id) the fake accepts.
pub const VENAFI_CLIENT_ID: &str = "acmekeep";

/// One `POST /vedsdk/certificates/request` the fake accepted or refused.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeVenafiRequest {
    /// `PolicyDN` as sent.
    pub policy_dn: String,
    /// `ObjectName` as sent.
    pub object_name: String,
    /// `CustomFields` as sent (`Null` when absent).
    pub custom_fields: Value,
    /// `DisableAutomaticRenewal` as sent.
    pub disable_automatic_renewal: bool,
    /// `PKCS10` as sent.
    pub pkcs10: String,
}

/// A certificate object the fake holds.
#[derive(Debug)]
struct CertObject {
    /// Base64 of the PEM chain, ready to hand out.
    data: String,
    /// 202 answers still to give before the certificate is handed out.
    polls_left: u32,
    /// Whether an approver must act first.
    needs_approval: bool,
}

#[derive(Debug, Default)]
struct Store {
    users: Vec<(String, String)>,
    access_tokens: HashSet<String>,
    expired_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    zones: Vec<String>,
    require_approval: bool,
    approved: HashSet<String>,
    policy_error: Option<String>,
    processing_polls: u32,
    objects: HashMap<String, CertObject>,
    requests: Vec<FakeVenafiRequest>,
    refreshes: usize,
    next_id: u64,
    workdir: PathBuf,
}

type Shared = Arc<Mutex<Store>>;

/// A running fake TPP on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct VenafiFake {
    server: FakeServer,
    store: Shared,
    ca: TempDir,
}

impl VenafiFake {
    /// Starts the fake with its CA and the zone [`VENAFI_ZONE`]; no token is valid yet.
    pub fn start() -> VenafiFake {
        tool::require("openssl");
        let ca = tempfile::tempdir().expect("a directory for the fake TPP's CA");
        make_ca(ca.path());
        let store: Shared = Arc::new(Mutex::new(Store {
            zones: vec![VENAFI_ZONE.to_string()],
            workdir: ca.path().to_path_buf(),
            ..Store::default()
        }));
        let app = Router::new()
            .route("/vedauth/authorize/oauth", post(oauth))
            .route("/vedauth/authorize/token", post(refresh))
            .route("/vedsdk/certificates/request", post(request))
            .route("/vedsdk/certificates/retrieve", post(retrieve))
            .fallback(no_route)
            .with_state(store.clone());
        let server = FakeServer::start("the TPP fake", app);
        VenafiFake { server, store, ca }
    }

    /// The issuer's `url`: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// Issues a valid token pair (access, refresh) for [`VENAFI_CLIENT_ID`], as
    /// `vcert getcred` would.
    pub fn issue_tokens(&self) -> (String, String) {
        new_pair(&mut self.store())
    }

    /// Adds a user who may log in with a password.
    pub fn add_user(&self, username: &str, password: &str) {
        self.store()
            .users
            .push((username.to_string(), password.to_string()));
    }

    /// Every access token issued so far expires: TPP answers 401 `expired_token` to it.
    pub fn expire_access_tokens(&self) {
        let mut store = self.store();
        let tokens: Vec<String> = store.access_tokens.drain().collect();
        store.expired_tokens.extend(tokens);
    }

    /// New requests wait for an approver until [`VenafiFake::approve`].
    pub fn require_approval(&self, on: bool) {
        self.store().require_approval = on;
    }

    /// Approves the request of the certificate `dn`.
    pub fn approve(&self, dn: &str) {
        self.store().approved.insert(dn.to_string());
    }

    /// New requests are refused with HTTP 400 and this policy error.
    pub fn reject_with(&self, error: &str) {
        self.store().policy_error = Some(error.to_string());
    }

    /// Retrieve answers 202 "being processed" this many times before handing out a new
    /// certificate.
    pub fn processing_polls(&self, polls: u32) {
        self.store().processing_polls = polls;
    }

    /// Every certificate request received, in order.
    pub fn requests(&self) -> Vec<FakeVenafiRequest> {
        self.store().requests.clone()
    }

    /// How many times a refresh token was exchanged.
    pub fn refreshes(&self) -> usize {
        self.store().refreshes
    }

    /// The fake's root CA certificate file.
    pub fn root_cert(&self) -> PathBuf {
        self.ca.path().join("root.pem")
    }

    /// Checks with `openssl verify` that `leaf_pem` chains through `chain_pem` to the
    /// fake's root; returns openssl's complaint if it does not.
    pub fn verify(&self, leaf_pem: &str, chain_pem: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().expect("a directory for openssl verify");
        let leaf = dir.path().join("leaf.pem");
        let chain = dir.path().join("chain.pem");
        std::fs::write(&leaf, leaf_pem).expect("write the leaf");
        std::fs::write(&chain, chain_pem).expect("write the chain");
        let root = self.root_cert();
        let mut args = vec!["verify", "-CAfile", path_str(&root)];
        if !chain_pem.trim().is_empty() {
            args.extend(["-untrusted", path_str(&chain)]);
        }
        args.push(path_str(&leaf));
        let output = tool::output("openssl", &args);
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

fn lock(store: &Shared) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}

fn new_pair(store: &mut Store) -> (String, String) {
    store.next_id += 1;
    let access = format!("fake-access-{:08x}", 0xacce_0000_u64 + store.next_id);
    let refresh = format!("fake-refresh-{:08x}", 0x4ef4_0000_u64 + store.next_id);
    store.access_tokens.insert(access.clone());
    store.refresh_tokens.insert(refresh.clone());
    (access, refresh)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn token_answer(access: &str, refresh: &str) -> Response {
    answer(
        StatusCode::OK,
        json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires": 1_900_000_000,
            "refresh_until": 1_950_000_000,
            "scope": "certificate:manage",
            "token_type": "Bearer",
            "identity": "local:{fake-identity}",
        }),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    answer(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn parse(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

fn text<'a>(body: &'a Value, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or_default()
}

async fn oauth(State(store): State<Shared>, body: Bytes) -> Response {
    let body = parse(&body);
    let mut store = lock(&store);
    if text(&body, "client_id") != VENAFI_CLIENT_ID {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Application not found or not enabled",
        );
    }
    if !text(&body, "scope")
        .split(';')
        .any(|scope| scope.trim().starts_with("certificate:manage"))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Requested scope is not valid for the application",
        );
    }
    let (username, password) = (text(&body, "username"), text(&body, "password"));
    if !store
        .users
        .iter()
        .any(|(u, p)| u == username && p == password)
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Username/password combination not valid",
        );
    }
    let (access, refresh) = new_pair(&mut store);
    token_answer(&access, &refresh)
}

async fn refresh(State(store): State<Shared>, body: Bytes) -> Response {
    let body = parse(&body);
    let mut store = lock(&store);
    let refresh_token = text(&body, "refresh_token");
    if text(&body, "client_id") != VENAFI_CLIENT_ID || !store.refresh_tokens.remove(refresh_token) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Grant has been revoked, has expired, or the refresh token is invalid",
        );
    }
    store.refreshes += 1;
    let (access, refresh) = new_pair(&mut store);
    token_answer(&access, &refresh)
}

/// The 401 answer for a missing, unknown or expired bearer token.
fn refusal(store: &Store, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if store.access_tokens.contains(token) {
        None
    } else if store.expired_tokens.contains(token) {
        Some(oauth_error(
            StatusCode::UNAUTHORIZED,
            "expired_token",
            "Access token expired",
        ))
    } else {
        Some(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Failed to validate token",
        ))
    }
}

fn sdk_error(status: StatusCode, error: &str) -> Response {
    answer(status, json!({"Error": error}))
}

async fn request(State(store): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut store = lock(&store);
    if let Some(refused) = refusal(&store, &headers) {
        return refused;
    }
    let body = parse(&body);
    let recorded = FakeVenafiRequest {
        policy_dn: text(&body, "PolicyDN").to_string(),
        object_name: text(&body, "ObjectName").to_string(),
        custom_fields: body.get("CustomFields").cloned().unwrap_or(Value::Null),
        disable_automatic_renewal: body
            .get("DisableAutomaticRenewal")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        pkcs10: text(&body, "PKCS10").to_string(),
    };
    store.requests.push(recorded.clone());
    if recorded.object_name.is_empty() {
        return sdk_error(
            StatusCode::BAD_REQUEST,
            "An 'ObjectName' or 'Subject' is required for requesting a certificate.",
        );
    }
    if !store.zones.contains(&recorded.policy_dn) {
        return sdk_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Argument error. Policy DN {} does not exist.",
                recorded.policy_dn
            ),
        );
    }
    if let Some(error) = &store.policy_error {
        return sdk_error(StatusCode::BAD_REQUEST, error);
    }
    store.next_id += 1;
    let serial = store.next_id + 100;
    let Some(data) = sign(&store.workdir, &recorded.pkcs10, serial) else {
        return sdk_error(
            StatusCode::BAD_REQUEST,
            "Certificate request error. The PKCS#10 request could not be parsed.",
        );
    };
    let dn = format!("{}\\{}", recorded.policy_dn, recorded.object_name);
    let object = CertObject {
        data,
        polls_left: store.processing_polls,
        needs_approval: store.require_approval,
    };
    store.approved.remove(&dn);
    store.objects.insert(dn.clone(), object);
    answer(
        StatusCode::OK,
        json!({
            "CertificateDN": dn,
            "Guid": format!("{{{:08x}-0000-4000-8000-000000000000}}", serial),
        }),
    )
}

async fn retrieve(State(store): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut store = lock(&store);
    if let Some(refused) = refusal(&store, &headers) {
        return refused;
    }
    let body = parse(&body);
    let dn = text(&body, "CertificateDN").to_string();
    let approved = store.approved.contains(&dn);
    let Some(object) = store.objects.get_mut(&dn) else {
        return sdk_error(
            StatusCode::BAD_REQUEST,
            &format!("Certificate {dn} does not exist."),
        );
    };
    if object.needs_approval && !approved {
        return answer(
            StatusCode::ACCEPTED,
            json!({"Stage": 500, "Status": "Pending Workflow Resolution"}),
        );
    }
    if object.polls_left > 0 {
        object.polls_left -= 1;
        return answer(
            StatusCode::ACCEPTED,
            json!({"Stage": 500, "Status": "Post CSR"}),
        );
    }
    let name = dn.rsplit('\\').next().unwrap_or_default();
    answer(
        StatusCode::OK,
        json!({
            "CertificateData": object.data,
            "Filename": format!("{name}.cer"),
            "Format": "Base64",
        }),
    )
}

async fn no_route() -> Response {
    sdk_error(StatusCode::NOT_FOUND, "No HTTP resource was found.")
}

/// Creates `root.pem`/`root.key` and the issuing CA `issuing.pem`/`issuing.key` in `dir`.
fn make_ca(dir: &Path) {
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut root = vec![
        "req",
        "-x509",
        "-days",
        "30",
        "-subj",
        "/CN=Venafi fake root CA",
    ];
    root.extend(ec);
    let (root_key, root_pem) = (file("root.key"), file("root.pem"));
    root.extend(["-keyout", &root_key, "-out", &root_pem]);
    root.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    root.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    tool::stdout("openssl", &root);

    let mut issuing = vec!["req", "-new", "-subj", "/CN=Venafi fake issuing CA"];
    issuing.extend(ec);
    let (issuing_key, issuing_csr) = (file("issuing.key"), file("issuing.csr"));
    issuing.extend(["-keyout", &issuing_key, "-out", &issuing_csr]);
    tool::stdout("openssl", &issuing);
    std::fs::write(
        dir.join("issuing.ext"),
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .expect("write the issuing CA's extensions");
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write the leaf extensions");
    let (issuing_pem, issuing_ext) = (file("issuing.pem"), file("issuing.ext"));
    tool::stdout(
        "openssl",
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-set_serial",
            "1",
            "-in",
            &issuing_csr,
            "-CA",
            &root_pem,
            "-CAkey",
            &root_key,
            "-extfile",
            &issuing_ext,
            "-out",
            &issuing_pem,
        ],
    );
}

/// Signs `pkcs10` with the issuing CA (names copied from the request) and returns the
/// Base64 of the chain leaf, issuing CA, root, with CRLF line ends as TPP sends it; `None`
/// if openssl cannot read the request.
fn sign(dir: &Path, pkcs10: &str, serial: u64) -> Option<String> {
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (csr, leaf) = (
        file(&format!("{serial}.csr")),
        file(&format!("{serial}.pem")),
    );
    std::fs::write(&csr, pkcs10).expect("write the request");
    let serial_text = serial.to_string();
    let (issuing_pem, issuing_key, leaf_ext) =
        (file("issuing.pem"), file("issuing.key"), file("leaf.ext"));
    let output = tool::output(
        "openssl",
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-set_serial",
            &serial_text,
            "-in",
            &csr,
            "-CA",
            &issuing_pem,
            "-CAkey",
            &issuing_key,
            "-copy_extensions",
            "copy",
            "-extfile",
            &leaf_ext,
            "-out",
            &leaf,
        ],
    );
    if !output.status.success() {
        return None;
    }
    let read = |path: &str| std::fs::read_to_string(path).expect("read a certificate");
    let chain = [read(&leaf), read(&issuing_pem), read(&file("root.pem"))]
        .concat()
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let bundle = file(&format!("{serial}.bundle"));
    std::fs::write(&bundle, chain).expect("write the bundle");
    let encoded = tool::stdout("openssl", &["base64", "-A", "-in", &bundle]);
    Some(encoded.trim().to_string())
}
