//! A real pebble ACME CA, with pebble-challtestsrv as its DNS, on free loopback ports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::port::free_port;
use crate::testdir::TestDir;
use crate::tool;
use crate::wait;

/// How long pebble may take to answer its directory before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How often pebble is started on fresh ports when it exits right away (a port was taken).
const START_ATTEMPTS: u32 = 3;

/// Knobs for one pebble instance.
#[derive(Debug, Clone, Default)]
pub struct PebbleOptions {
    /// Percentage of valid nonces pebble rejects with `badNonce` (`PEBBLE_WFE_NONCEREJECT`).
    pub nonce_reject_percent: u8,
    /// Lifetime of issued certificates (`certificateValidityPeriod`); pebble's default is five years.
    pub certificate_validity: Option<Duration>,
    /// Require external account binding with this key id and base64url HMAC key.
    pub eab: Option<(String, String)>,
    /// Resolve (and so validate DNS-01) through this DNS server instead of challtestsrv,
    /// e.g. a BIND that acmekeep updates.
    pub dns_server: Option<std::net::SocketAddr>,
    /// Skip validation (`PEBBLE_VA_ALWAYS_VALID`), for providers whose records no DNS
    /// server here serves (moto, the Cloudflare fake).
    pub always_valid: bool,
    /// How many alternate roots pebble issues under besides the default one
    /// (`PEBBLE_ALTERNATE_ROOTS`): every certificate then comes with that many alternate
    /// chains, offered as `Link: rel="alternate"` (RFC 8555 §7.4.2).
    pub alternate_roots: u32,
    /// How many intermediates each chain has between root and certificate
    /// (`PEBBLE_CHAIN_LENGTH`, as pebble 2.4 counts it); unset, pebble uses one.
    pub chain_length: Option<u32>,
}

/// A running pebble and pebble-challtestsrv pair; both are killed and reaped on drop.
///
/// challtestsrv answers every A query with 127.0.0.1 (and AAAA with nothing), so pebble's
/// validator reaches an HTTP-01 solver on `127.0.0.1:`[`Pebble::http_port`] for any name.
/// Authorization reuse is off and validation does not sleep.
#[derive(Debug)]
pub struct Pebble {
    pebble: Child,
    challtestsrv: Child,
    options: PebbleOptions,
    listen_port: u16,
    dns_port: u16,
    workdir: PathBuf,
    ca_bundle: PathBuf,
    directory_url: String,
    management_url: String,
    challtestsrv_url: String,
    http_port: u16,
    tls_port: u16,
}

/// Ports of one start attempt.
struct Ports {
    listen: u16,
    management: u16,
    http: u16,
    tls: u16,
    dns: u16,
    challtestsrv_management: u16,
}

impl Ports {
    fn pick() -> Ports {
        Ports {
            listen: free_port(),
            management: free_port(),
            http: free_port(),
            tls: free_port(),
            dns: free_port(),
            challtestsrv_management: free_port(),
        }
    }
}

impl Pebble {
    /// Starts pebble and challtestsrv with their files and logs under `DIR/pebble/`, and
    /// waits until the ACME directory answers over HTTPS.
    ///
    /// Fails the test if `pebble` is not installed or does not come up.
    pub fn start(dir: &TestDir, options: PebbleOptions) -> Pebble {
        tool::require("pebble");
        tool::require("pebble-challtestsrv");
        let workdir = dir.path().join("pebble");
        fs::create_dir_all(&workdir).expect("create the pebble directory");
        make_listener_certificate(&workdir);

        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Pebble::try_start(&workdir, &options, Ports::pick()) {
                Ok(pebble) => {
                    pebble.assert_directory_answers();
                    return pebble;
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!("pebble did not start:\n{}", failures.join("\n\n"))
    }

    fn try_start(workdir: &Path, options: &PebbleOptions, ports: Ports) -> Result<Pebble, String> {
        let config = workdir.join("pebble.json");
        fs::write(&config, pebble_config(workdir, options, &ports)).expect("write pebble.json");

        let challtestsrv = tool::spawn_logged(
            Command::new("pebble-challtestsrv")
                .args([
                    "-defaultIPv6",
                    "",
                    "-http01",
                    "",
                    "-https01",
                    "",
                    "-tlsalpn01",
                    "",
                ])
                .arg("-dns01")
                .arg(format!("127.0.0.1:{}", ports.dns))
                .arg("-management")
                .arg(format!("127.0.0.1:{}", ports.challtestsrv_management)),
            &workdir.join("challtestsrv.log"),
        );
        let pebble = spawn_pebble(workdir, options, ports.dns);
        let mut started = Pebble {
            pebble,
            challtestsrv,
            options: options.clone(),
            listen_port: ports.listen,
            dns_port: ports.dns,
            workdir: workdir.to_path_buf(),
            ca_bundle: workdir.join("ca.pem"),
            directory_url: format!("https://127.0.0.1:{}/dir", ports.listen),
            management_url: format!("https://127.0.0.1:{}", ports.management),
            challtestsrv_url: format!("http://127.0.0.1:{}", ports.challtestsrv_management),
            http_port: ports.http,
            tls_port: ports.tls,
        };
        started.wait_listening(&ports)?;
        Ok(started)
    }

    /// Stops pebble itself (challtestsrv keeps running), as a CA that went down; waits
    /// until it is gone, so its port refuses connections.
    pub fn stop(&mut self) {
        let _ = self.pebble.kill();
        let _ = self.pebble.wait();
    }

    /// Starts pebble again after [`Pebble::stop`], on the same ports with the same options
    /// and listener certificate, and waits until its directory answers. Like a real pebble
    /// restart it forgets every account, order and certificate, and issues under a new root.
    pub fn restart(&mut self) {
        let log = self.workdir.join("pebble.log");
        let previous = fs::read(&log).unwrap_or_default();
        fs::write(self.workdir.join("pebble-before-restart.log"), previous)
            .expect("keep the log of pebble before the restart");
        self.pebble = spawn_pebble(&self.workdir, &self.options, self.dns_port);
        let port = self.listen_port;
        let what = format!("pebble to listen on {port} again after its restart");
        wait::until(START_TIMEOUT, &what, || {
            wait::alive(&mut self.pebble)
                .map_err(|why| format!("{why}: was port {port} taken meanwhile?"))?;
            Ok(wait::listening(port))
        })
        .unwrap_or_else(|why| panic!("{why}\n{}", self.log_tails()));
        self.assert_directory_answers();
    }

    /// Waits until both servers accept connections; an early exit is an error (and the
    /// half-started pair is stopped when `self` is dropped).
    fn wait_listening(&mut self, ports: &Ports) -> Result<(), String> {
        let what = format!(
            "pebble to listen on {} and {}, pebble-challtestsrv on {}",
            ports.listen, ports.management, ports.challtestsrv_management
        );
        wait::until(START_TIMEOUT, &what, || {
            wait::alive(&mut self.pebble).map_err(|why| format!("pebble {why}"))?;
            wait::alive(&mut self.challtestsrv)
                .map_err(|why| format!("pebble-challtestsrv {why}"))?;
            Ok(wait::listening(ports.listen)
                && wait::listening(ports.management)
                && wait::listening(ports.challtestsrv_management))
        })
        .map_err(|why| format!("{why}\n{}", self.log_tails()))
    }

    /// Fetches the directory with curl, trusting only [`Pebble::ca_bundle`]: proves the
    /// listener certificate is usable before any test relies on it.
    fn assert_directory_answers(&self) {
        let body = self.curl(&self.directory_url);
        assert!(
            body.contains("newOrder"),
            "pebble's directory {} answered without newOrder:\n{body}\n{}",
            self.directory_url,
            self.log_tails()
        );
    }

    /// The ACME directory URL, `https://127.0.0.1:PORT/dir`.
    pub fn directory_url(&self) -> &str {
        &self.directory_url
    }

    /// The CA certificate that signed pebble's own HTTPS listener (the issuer's `ca_bundle`).
    pub fn ca_bundle(&self) -> &Path {
        &self.ca_bundle
    }

    /// The port pebble's validator connects to for HTTP-01 (the solver listens here).
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The port pebble's validator connects to for TLS-ALPN-01.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// Base URL of pebble's management API (`/roots/0`, `/intermediates/0`, `/cert-status-by-serial/…`).
    pub fn management_url(&self) -> &str {
        &self.management_url
    }

    /// Base URL of challtestsrv's management API (`/set-txt`, `/clear-txt`, …).
    pub fn challtestsrv_url(&self) -> &str {
        &self.challtestsrv_url
    }

    /// challtestsrv's DNS server (the resolver pebble validates through by default).
    pub fn challtestsrv_dns(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.dns_port))
    }

    /// Fetches the root that pebble issues under (it is generated anew at every start),
    /// writes it to `DIR/pebble/issuing-root.pem` and returns that path.
    pub fn root_file(&self) -> PathBuf {
        let pem = self.curl(&format!("{}/roots/0", self.management_url));
        let path = self.workdir.join("issuing-root.pem");
        fs::write(&path, pem).expect("write pebble's issuing root");
        path
    }

    fn curl(&self, url: &str) -> String {
        let ca_bundle = self.ca_bundle.to_string_lossy();
        tool::stdout(
            "curl",
            &[
                "--silent",
                "--show-error",
                "--fail",
                "--cacert",
                &ca_bundle,
                url,
            ],
        )
    }

    /// How many orders pebble received and how many certificates it issued so far, counted
    /// in its log ("Added order", "Issued certificate serial").
    pub fn orders_and_issued(&self) -> (usize, usize) {
        let log = fs::read_to_string(self.workdir.join("pebble.log")).unwrap_or_default();
        (
            log.matches("Added order").count(),
            log.matches("Issued certificate serial").count(),
        )
    }

    /// The last lines of pebble's and challtestsrv's logs.
    pub fn log_tails(&self) -> String {
        ["pebble.log", "challtestsrv.log"]
            .iter()
            .map(|name| crate::testdir::tail(&self.workdir.join(name)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.challtestsrv] {
            // Already exited is fine: the point is that nothing outlives the test.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spawns pebble with `DIR/pebble/pebble.json`, resolving through challtestsrv on
/// `dns_port` (or `options.dns_server`), its log appended to `DIR/pebble/pebble.log`.
fn spawn_pebble(workdir: &Path, options: &PebbleOptions, dns_port: u16) -> Child {
    tool::spawn_logged(
        Command::new("pebble")
            .arg("-config")
            .arg(workdir.join("pebble.json"))
            .arg("-dnsserver")
            .arg(
                options
                    .dns_server
                    .map_or(format!("127.0.0.1:{dns_port}"), |addr| addr.to_string()),
            )
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env(
                "PEBBLE_VA_ALWAYS_VALID",
                if options.always_valid { "1" } else { "0" },
            )
            .env("PEBBLE_AUTHZREUSE", "0")
            .env(
                "PEBBLE_WFE_NONCEREJECT",
                options.nonce_reject_percent.to_string(),
            )
            .env(
                "PEBBLE_ALTERNATE_ROOTS",
                options.alternate_roots.to_string(),
            )
            .envs(
                options
                    .chain_length
                    .map(|length| ("PEBBLE_CHAIN_LENGTH", length.to_string())),
            ),
        &workdir.join("pebble.log"),
    )
}

fn pebble_config(workdir: &Path, options: &PebbleOptions, ports: &Ports) -> String {
    let validity = options
        .certificate_validity
        .map(|validity| {
            format!(
                ",\n    \"certificateValidityPeriod\": {}",
                validity.as_secs()
            )
        })
        .unwrap_or_default();
    let eab = match &options.eab {
        Some((kid, hmac)) => {
            format!("true,\n    \"externalAccountMACKeys\": {{ \"{kid}\": \"{hmac}\" }}")
        }
        None => "false".to_string(),
    };
    format!(
        r#"{{
  "pebble": {{
    "listenAddress": "127.0.0.1:{listen}",
    "managementListenAddress": "127.0.0.1:{management}",
    "certificate": "{cert}",
    "privateKey": "{key}",
    "httpPort": {http},
    "tlsPort": {tls},
    "ocspResponderURL": "",
    "externalAccountBindingRequired": {eab}{validity}
  }}
}}
"#,
        listen = ports.listen,
        management = ports.management,
        cert = workdir.join("listener-cert.pem").display(),
        key = workdir.join("listener-key.pem").display(),
        http = ports.http,
        tls = ports.tls,
    )
}

/// Makes a small CA (`ca.pem`) and a `localhost`/127.0.0.1 leaf signed by it
/// (`listener-cert.pem`, `listener-key.pem`) for pebble's own HTTPS listeners.
///
/// rustls rejects a self-signed leaf used as its own trust root (`CaUsedAsEndEntity`), hence
/// the separate CA.
fn make_listener_certificate(workdir: &Path) {
    let path = |name: &str| workdir.join(name).to_string_lossy().into_owned();
    let ec_p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    fs::write(
        workdir.join("listener.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
         basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write the listener certificate extensions");

    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "30",
        "-subj",
        "/CN=acmekeep e2e listener CA",
    ];
    ca.extend(ec_p256);
    let (ca_key, ca_pem) = (path("ca-key.pem"), path("ca.pem"));
    ca.extend(["-keyout", &ca_key, "-out", &ca_pem]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    tool::stdout("openssl", &ca);

    let mut request = vec!["req", "-new", "-subj", "/CN=localhost"];
    request.extend(ec_p256);
    let (leaf_key, leaf_csr) = (path("listener-key.pem"), path("listener.csr"));
    request.extend(["-keyout", &leaf_key, "-out", &leaf_csr]);
    tool::stdout("openssl", &request);

    let (leaf_pem, extensions) = (path("listener-cert.pem"), path("listener.ext"));
    tool::stdout(
        "openssl",
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-set_serial",
            "2",
            "-in",
            &leaf_csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-extfile",
            &extensions,
            "-out",
            &leaf_pem,
        ],
    );
}
