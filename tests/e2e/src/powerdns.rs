//! A real PowerDNS authoritative server (SQLite backend, HTTP API) on free loopback ports.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::port::free_port;
use crate::testdir::{TestDir, tail};
use crate::tool;
use crate::wait;

/// How long pdns_server may take to answer its API before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How often it is started on fresh ports when it exits right away (a port was taken).
const START_ATTEMPTS: u32 = 3;

/// How long a stopped server may take to exit (it takes over a second).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema the Debian package pdns-backend-sqlite3 ships.
const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

/// A running `pdns_server` with the gsqlite3 backend, its API and webserver on loopback;
/// killed on drop, which waits until the process has exited.
///
/// Files and the log are under `DIR/powerdns/`. Zones are created through the API
/// ([`PowerDns::create_zone`]); [`PowerDns::txt`] asks the server itself over DNS (with `dig`).
#[derive(Debug)]
pub struct PowerDns {
    child: Child,
    workdir: PathBuf,
    api_url: String,
    dns_port: u16,
}

impl PowerDns {
    /// The API key the server accepts.
    pub const API_KEY: &str = "acmekeep-e2e-pdns-key";

    /// Starts pdns_server with a fresh SQLite database under `DIR/powerdns/` and waits
    /// until its API answers.
    ///
    /// Fails the test if pdns_server, the SQLite backend or sqlite3 is not installed.
    pub fn start(dir: &TestDir) -> PowerDns {
        let pdns_server = require("pdns_server", "pdns-server");
        require("sqlite3", "sqlite3");
        if !Path::new(SCHEMA).is_file() {
            panic!("{SCHEMA} missing: run scripts/test (apt-get install pdns-backend-sqlite3)");
        }
        let workdir = dir.path().join("powerdns");
        fs::create_dir_all(&workdir).expect("create the powerdns directory");
        let mut failures = Vec::new();
        for attempt in 0..START_ATTEMPTS {
            match PowerDns::try_start(&pdns_server, &workdir, attempt) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("pdns_server did not start:\n{}", failures.join("\n\n"))
    }

    fn try_start(pdns_server: &Path, workdir: &Path, attempt: u32) -> Result<PowerDns, String> {
        let database = workdir.join(format!("pdns-{attempt}.sqlite3"));
        let schema = fs::read_to_string(SCHEMA).expect("read the PowerDNS SQLite schema");
        let output = Command::new("sqlite3")
            .arg(&database)
            .arg(schema)
            .output()
            .expect("run sqlite3");
        assert!(
            output.status.success(),
            "sqlite3 {} < {SCHEMA} failed:\n{}",
            database.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let (dns_port, api_port) = (free_port(), free_port());
        fs::write(
            workdir.join("pdns.conf"),
            format!(
                "launch=gsqlite3\n\
                 gsqlite3-database={database}\n\
                 local-address=127.0.0.1\n\
                 local-port={dns_port}\n\
                 socket-dir={dir}\n\
                 daemon=no\n\
                 guardian=no\n\
                 disable-syslog=yes\n\
                 api=yes\n\
                 api-key={key}\n\
                 webserver=yes\n\
                 webserver-address=127.0.0.1\n\
                 webserver-port={api_port}\n\
                 webserver-allow-from=127.0.0.1\n\
                 security-poll-suffix=\n",
                database = database.display(),
                dir = workdir.display(),
                key = PowerDns::API_KEY,
            ),
        )
        .expect("write pdns.conf");
        let child = tool::spawn_logged(
            Command::new(pdns_server).arg(format!("--config-dir={}", workdir.display())),
            &workdir.join("pdns.log"),
        );
        let mut server = PowerDns {
            child,
            workdir: workdir.to_path_buf(),
            api_url: format!("http://127.0.0.1:{api_port}"),
            dns_port,
        };
        let what = format!("pdns_server to listen on {api_port} (API) and {dns_port} (DNS)");
        wait::until(START_TIMEOUT, &what, || {
            wait::alive(&mut server.child)?;
            Ok(wait::listening(api_port) && wait::listening(dns_port))
        })
        .map_err(|why| format!("{why}\n{}", server.log_tail()))?;
        Ok(server)
    }

    /// The webserver's base URL, `http://127.0.0.1:PORT` (the provider's `api_url`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The address its DNS listener answers on (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.dns_port))
    }

    /// Creates the native zone `zone` (no trailing dot) with an NS record, through the API.
    pub fn create_zone(&self, zone: &str) {
        let body = format!(r#"{{"name":"{zone}.","kind":"Native","nameservers":["ns1.{zone}."]}}"#);
        let url = format!("{}/api/v1/servers/localhost/zones", self.api_url);
        let output = tool::output(
            "curl",
            &[
                "--silent",
                "--show-error",
                "--fail-with-body",
                "-H",
                &format!("X-API-Key: {}", PowerDns::API_KEY),
                "-H",
                "Content-Type: application/json",
                "-d",
                &body,
                &url,
            ],
        );
        assert!(
            output.status.success(),
            "creating zone {zone} at {url} failed ({}):\n{}{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
    }

    /// The TXT values the server serves at `name`, sorted (asked over DNS with `dig`).
    pub fn txt(&self, name: &str) -> Vec<String> {
        crate::dig::dig_txt(self.dns_addr(), name)
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        tail(&self.workdir.join("pdns.log"))
    }
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        // Already exited is fine: the point is that nothing outlives the test.
        let _ = self.child.kill();
        let _ = wait::until(STOP_TIMEOUT, "pdns_server to exit", || {
            Ok(wait::exited(&mut self.child))
        });
    }
}

/// Finds `program` on `PATH` (or in /usr/sbin), or fails the test naming the package.
fn require(program: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("{program} not installed: run scripts/test (apt-get install {package})")
        })
}
