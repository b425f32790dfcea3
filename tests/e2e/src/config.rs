//! Writing the usual test configuration: one ACME issuer, one http-01 solver, certificates.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::acme2certifier::Acme2certifier;
use crate::pebble::Pebble;
use crate::port::free_port;
use crate::testdir::TestDir;

/// Builder for an acmekeep TOML config with one ACME issuer (named `pebble`, or
/// `acme2certifier`), one http-01 solver named `web`, and certificates delivered to
/// `DIR/out/<name>` by the files sink.
#[derive(Debug, Clone)]
pub struct Config {
    issuer: String,
    state_dir: PathBuf,
    out_dir: PathBuf,
    directory_url: String,
    ca_bundle: Option<PathBuf>,
    http_port: u16,
    webroot: Option<PathBuf>,
    metrics_port: u16,
    eab: Option<(String, String)>,
    profile: Option<String>,
    preferred_chain: Option<String>,
    certificates: Vec<(String, Vec<String>, String)>,
}

impl Config {
    /// A config for `pebble`: its directory, its listener CA as `ca_bundle`, the solver on
    /// its HTTP-01 port.
    pub fn for_pebble(dir: &TestDir, pebble: &Pebble) -> Config {
        Config {
            ca_bundle: Some(pebble.ca_bundle().to_path_buf()),
            http_port: pebble.http_port(),
            ..Config::for_directory(dir, pebble.directory_url())
        }
    }

    /// A config for `acme2certifier` (issuer `acme2certifier`): its plain-http directory,
    /// no `ca_bundle`, the solver on a free port (acme2certifier does not validate).
    pub fn for_acme2certifier(dir: &TestDir, server: &Acme2certifier) -> Config {
        Config {
            issuer: "acme2certifier".to_string(),
            ..Config::for_directory(dir, server.directory_url())
        }
    }

    /// A config for an arbitrary directory URL, without `ca_bundle`, the solver on a free port.
    pub fn for_directory(dir: &TestDir, directory_url: &str) -> Config {
        Config {
            issuer: "pebble".to_string(),
            state_dir: dir.state_dir(),
            out_dir: dir.path().join("out"),
            directory_url: directory_url.to_string(),
            ca_bundle: None,
            http_port: free_port(),
            webroot: None,
            metrics_port: free_port(),
            eab: None,
            profile: None,
            preferred_chain: None,
            certificates: Vec::new(),
        }
    }

    /// The port the daemon serves metrics on (a free one, so parallel daemons do not clash).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// Makes the http-01 solver listen on `port` instead of the CA's validation port.
    pub fn solver_port(mut self, port: u16) -> Config {
        self.http_port = port;
        self
    }

    /// Makes the http-01 solver write challenges under `root` (its `webroot` key) for a web
    /// server to serve, instead of listening itself.
    pub fn webroot(mut self, root: &std::path::Path) -> Config {
        self.webroot = Some(root.to_path_buf());
        self
    }

    /// Registers the account with external account binding: key id and HMAC key (or a
    /// secret reference such as `env:NAME`).
    pub fn eab(mut self, kid: &str, hmac_key: &str) -> Config {
        self.eab = Some((kid.to_string(), hmac_key.to_string()));
        self
    }

    /// Asks the CA for certificate profile `profile` (the issuer's `profile` key).
    pub fn profile(mut self, profile: &str) -> Config {
        self.profile = Some(profile.to_string());
        self
    }

    /// Asks for the chain that ends at (or contains) the CA named `name` (the issuer's
    /// `preferred_chain` key).
    pub fn preferred_chain(mut self, name: &str) -> Config {
        self.preferred_chain = Some(name.to_string());
        self
    }

    /// The name of the configured issuer (`[issuers.NAME]`; also its account file's name).
    pub fn issuer_name(&self) -> &str {
        &self.issuer
    }

    /// Adds certificate `name` for `domains` with an `ecdsa-p256` key.
    pub fn certificate(self, name: &str, domains: &[&str]) -> Config {
        self.certificate_with_key(name, domains, "ecdsa-p256")
    }

    /// Adds certificate `name` for `domains` with the given `key` type.
    pub fn certificate_with_key(mut self, name: &str, domains: &[&str], key: &str) -> Config {
        let domains = domains.iter().map(|domain| domain.to_string()).collect();
        self.certificates
            .push((name.to_string(), domains, key.to_string()));
        self
    }

    /// Renders the TOML.
    pub fn to_toml(&self) -> String {
        let mut toml = String::new();
        let _ = writeln!(
            toml,
            "[daemon]\nstate_dir = {}\nconcurrency = 4\nlisten_metrics = \"127.0.0.1:{}\"\n",
            quote(&self.state_dir.to_string_lossy()),
            self.metrics_port
        );
        let _ = writeln!(
            toml,
            "[issuers.{}]\nkind = \"acme\"\ndirectory = {}",
            self.issuer,
            quote(&self.directory_url)
        );
        let _ = writeln!(toml, "email = \"test@example.test\"");
        if let Some((kid, hmac_key)) = &self.eab {
            let _ = writeln!(
                toml,
                "eab = {{ kid = {}, hmac_key = {} }}",
                quote(kid),
                quote(hmac_key)
            );
        }
        if let Some(profile) = &self.profile {
            let _ = writeln!(toml, "profile = {}", quote(profile));
        }
        if let Some(name) = &self.preferred_chain {
            let _ = writeln!(toml, "preferred_chain = {}", quote(name));
        }
        if let Some(ca_bundle) = &self.ca_bundle {
            let _ = writeln!(toml, "ca_bundle = {}", quote(&ca_bundle.to_string_lossy()));
        }
        let _ = writeln!(toml, "\n[solvers.web]\nkind = \"http-01\"");
        let _ = match &self.webroot {
            Some(root) => writeln!(toml, "webroot = {}", quote(&root.to_string_lossy())),
            None => writeln!(toml, "listen = \"127.0.0.1:{}\"", self.http_port),
        };
        for (name, domains, key) in &self.certificates {
            let domains: Vec<String> = domains.iter().map(|domain| quote(domain)).collect();
            let sink = self.out_dir.join(name);
            let _ = writeln!(
                toml,
                "\n[certificates.{name}]\ndomains = [{}]",
                domains.join(", ")
            );
            let _ = writeln!(
                toml,
                "issuer = {}\nkey = {}",
                quote(&self.issuer),
                quote(key)
            );
            let _ = writeln!(
                toml,
                "sinks = [{{ kind = \"files\", dir = {} }}]",
                quote(&sink.to_string_lossy())
            );
        }
        toml
    }
}

/// A TOML basic string.
fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}
