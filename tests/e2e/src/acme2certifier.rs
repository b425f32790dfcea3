//! A real acme2certifier ACME server (with ARI and profiles) on a free loopback port.
//!
//! acme2certifier is a Python package: scripts/test installs it into a venv
//! (`target/e2e-tools/a2c-venv`, or `$ACME2CERTIFIER_VENV`); this module only starts it. Its own entry point binds 0.0.0.0:80, so it is
//! served here through its WSGI application with `wsgiref` on 127.0.0.1.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::port::free_port;
use crate::testdir::{TestDir, tail};
use crate::tool;
use crate::wait;

/// The environment variable naming the venv that holds acme2certifier, when it is not the
/// default `target/e2e-tools/a2c-venv` of this workspace.
const VENV_ENV: &str = "ACME2CERTIFIER_VENV";

/// How long acme2certifier may take to import and listen (Python start-up is slow).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How often it is started on fresh ports when it exits right away (a port was taken).
const START_ATTEMPTS: u32 = 3;

/// The WSGI server: acme2certifier's application on the port given as first argument.
const SERVE_PY: &str = r#"import sys
from wsgiref.simple_server import make_server
from acme2certifier.share.acme2certifier_wsgi import application, get_handler_cls

server = make_server("127.0.0.1", int(sys.argv[1]), application, handler_class=get_handler_cls())
server.serve_forever()
"#;

/// A running acme2certifier, killed and reaped on drop.
///
/// It signs with its own CA (made with openssl for each instance, [`Acme2certifier::ca_cert`]),
/// keeps its state in SQLite under `DIR/acme2certifier/`, and skips challenge validation
/// (`challenge_validation_disable`, acknowledged with `ACME2CERTIFIER_I_KNOW_THE_RISK=1`):
/// every presented challenge is valid, so tests exercise the protocol, not the solvers.
/// Its directory (plain http) offers `renewalInfo` and the profiles in
/// [`Acme2certifier::PROFILES`].
#[derive(Debug)]
pub struct Acme2certifier {
    child: Child,
    workdir: PathBuf,
    directory_url: String,
}

impl Acme2certifier {
    /// The certificate profiles its directory offers, name and description.
    pub const PROFILES: [(&str, &str); 2] = [
        ("classic", "certificates for ten days"),
        ("shortlived", "the same certificates, under another name"),
    ];

    /// How long its certificates are valid, in days (`cert_validity_days`).
    pub const CERT_VALIDITY_DAYS: u32 = 10;

    /// The Retry-After, in seconds, it sends with renewal information.
    pub const RENEWAL_INFO_RETRY_AFTER: u64 = 600;

    /// Starts acme2certifier with its files and log under `DIR/acme2certifier/` and waits
    /// until its directory answers with `renewalInfo` and `meta.profiles`.
    ///
    /// Fails the test if the venv is missing (with the command that creates it) or the
    /// server does not come up.
    pub fn start(dir: &TestDir) -> Acme2certifier {
        Acme2certifier::start_with_window(dir, RenewalWindowRule::default())
    }

    /// Like [`Acme2certifier::start`], with renewal windows placed by `rule` (for a CA that
    /// announces an early renewal).
    pub fn start_with_window(dir: &TestDir, rule: RenewalWindowRule) -> Acme2certifier {
        let python = venv_dir().join("bin").join("python");
        if !python.is_file() {
            panic!(
                "acme2certifier is not installed: no {} (run scripts/test, which creates the \
                 venv and pip-installs acme2certifier; or point {VENV_ENV} at a venv that has it)",
                python.display()
            );
        }
        let workdir = dir.path().join("acme2certifier");
        fs::create_dir_all(workdir.join("certs")).expect("create the acme2certifier directory");
        make_ca(&workdir);
        fs::write(workdir.join("acme_srv.cfg"), server_config(&workdir, &rule))
            .expect("write acme_srv.cfg");
        fs::write(workdir.join("serve.py"), SERVE_PY).expect("write serve.py");

        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Acme2certifier::try_start(&python, &workdir, free_port()) {
                Ok(server) => {
                    server.assert_directory_offers_ari_and_profiles();
                    return server;
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!("acme2certifier did not start:\n{}", failures.join("\n\n"))
    }

    fn try_start(python: &Path, workdir: &Path, port: u16) -> Result<Acme2certifier, String> {
        let child = tool::spawn_logged(
            Command::new(python)
                .arg(workdir.join("serve.py"))
                .arg(port.to_string())
                .current_dir(workdir)
                .env("ACME_SRV_CONFIGFILE", workdir.join("acme_srv.cfg"))
                .env("ACME2CERTIFIER_I_KNOW_THE_RISK", "1")
                .env("PYTHONUNBUFFERED", "1"),
            &workdir.join("acme2certifier.log"),
        );
        let mut server = Acme2certifier {
            child,
            workdir: workdir.to_path_buf(),
            directory_url: format!("http://127.0.0.1:{port}/directory"),
        };
        wait::until(
            START_TIMEOUT,
            &format!("acme2certifier to listen on {port}"),
            || {
                wait::alive(&mut server.child)?;
                Ok(wait::listening(port))
            },
        )
        .map_err(|why| format!("{why}\n{}", server.log_tail()))?;
        Ok(server)
    }

    /// Fetches the directory with curl: proves the server works and is configured as the
    /// tests assume before any of them relies on it.
    fn assert_directory_offers_ari_and_profiles(&self) {
        let body = tool::stdout(
            "curl",
            &["--silent", "--show-error", "--fail", &self.directory_url],
        );
        let wanted = ["\"newOrder\"", "\"renewalInfo\"", "\"profiles\""]
            .into_iter()
            .chain(Acme2certifier::PROFILES.map(|(name, _)| name));
        for needle in wanted {
            assert!(
                body.contains(needle),
                "acme2certifier's directory {} lacks {needle}:\n{body}\n{}",
                self.directory_url,
                self.log_tail()
            );
        }
    }

    /// The ACME directory URL, `http://127.0.0.1:PORT/directory`.
    pub fn directory_url(&self) -> &str {
        &self.directory_url
    }

    /// The CA certificate that signs the issued certificates (their chain ends here).
    pub fn ca_cert(&self) -> PathBuf {
        self.workdir.join("ca-cert.pem")
    }

    /// The profile recorded with each order so far, oldest first (empty for an order that
    /// named none), read from acme2certifier's database: what the CA actually received.
    pub fn order_profiles(&self) -> Vec<String> {
        let python = venv_dir().join("bin").join("python");
        let db = self.workdir.join("acme_srv.db").display().to_string();
        let script = "import sqlite3, sys\n\
                      rows = sqlite3.connect(sys.argv[1]).execute('SELECT profile FROM orders ORDER BY id')\n\
                      for (profile,) in rows: print(profile or '')\n";
        let python = python.display().to_string();
        tool::stdout(&python, &["-c", script, &db])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many HTTP requests so far had a path containing `needle` (e.g. `renewal-info`),
    /// counted in the request lines of its log.
    pub fn requests_to(&self, needle: &str) -> usize {
        fs::read_to_string(self.workdir.join("acme2certifier.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                line.split('"')
                    .nth(1)
                    .and_then(|request| request.split(' ').nth(1))
                    .is_some_and(|path| path.contains(needle))
            })
            .count()
    }

    /// The last lines of acme2certifier's log.
    pub fn log_tail(&self) -> String {
        tail(&self.workdir.join("acme2certifier.log"))
    }
}

impl Drop for Acme2certifier {
    fn drop(&mut self) {
        // Already exited is fine: the point is that nothing outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The venv holding acme2certifier: `$ACME2CERTIFIER_VENV`, else
/// `target/e2e-tools/a2c-venv` in this workspace (where scripts/test creates it).
fn venv_dir() -> PathBuf {
    std::env::var_os(VENV_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-tools/a2c-venv")
        })
}

/// Where acme2certifier places the renewal window it suggests for a certificate.
#[derive(Debug, Clone)]
pub struct RenewalWindowRule {
    /// The window opens after this percentage of the lifetime (`renewalthreshold_pctg`).
    pub threshold_percent: u32,
    /// The window closes this long after it opens, or at expiry when unset
    /// (`renewal_window_duration`).
    pub length: Option<Duration>,
}

impl Default for RenewalWindowRule {
    /// acme2certifier's default: from 85 % of the lifetime until expiry.
    fn default() -> Self {
        RenewalWindowRule {
            threshold_percent: 85,
            length: None,
        }
    }
}

/// acme_srv.cfg: the openssl CA handler with the CA from [`make_ca`], SQLite, no challenge
/// validation, the profiles, and renewal information with a short Retry-After and windows
/// placed by `rule`.
fn server_config(workdir: &Path, rule: &RenewalWindowRule) -> String {
    let path = |name: &str| workdir.join(name).display().to_string();
    let profiles = Acme2certifier::PROFILES
        .iter()
        .map(|(name, description)| format!("\"{name}\": \"{description}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[DEFAULT]\n\
         debug: False\n\
         dns_server_list: [\"127.0.0.1\"]\n\
         \n\
         [CAhandler]\n\
         handler_module: acme2certifier.cahandlers.openssl_ca_handler\n\
         issuing_ca_key: {ca_key}\n\
         issuing_ca_cert: {ca_cert}\n\
         ca_cert_chain_list: [\"{ca_cert}\"]\n\
         cert_save_path: {certs}\n\
         issuing_ca_crl: {crl}\n\
         cert_validity_days: {validity}\n\
         \n\
         [DBhandler]\n\
         handler: wsgi\n\
         dbfile: {db}\n\
         \n\
         [Challenge]\n\
         challenge_validation_disable: True\n\
         \n\
         [Order]\n\
         profiles: {{{profiles}}}\n\
         \n\
         [Renewalinfo]\n\
         retry_after_timeout: {retry_after}\n\
         renewalthreshold_pctg: {threshold}\n\
         renewal_window_duration: {window}\n",
        ca_key = path("ca-key.pem"),
        ca_cert = path("ca-cert.pem"),
        certs = path("certs"),
        // The openssl handler refuses to enroll without a CRL path; the file itself is
        // only written on revocation.
        crl = path("crl.pem"),
        db = path("acme_srv.db"),
        validity = Acme2certifier::CERT_VALIDITY_DAYS,
        retry_after = Acme2certifier::RENEWAL_INFO_RETRY_AFTER,
        threshold = rule.threshold_percent,
        window = rule
            .length
            .map_or(String::new(), |length| length.as_secs().to_string()),
    )
}

/// The issuing CA: `ca-key.pem` and `ca-cert.pem` (P-256, valid for 30 days, longer than
/// the certificates it signs).
fn make_ca(workdir: &Path) {
    let key = workdir.join("ca-key.pem").display().to_string();
    let cert = workdir.join("ca-cert.pem").display().to_string();
    tool::stdout(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=acmekeep e2e acme2certifier CA",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}
