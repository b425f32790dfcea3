//! A real BIND 9 authoritative server accepting TSIG-signed dynamic updates, on a free
//! loopback port.
//!
//! Every zone is served from `127.0.0.1:PORT` and names `ns1.<zone>` (A 127.0.0.1) as its
//! authoritative server, so a DNS-01 propagation check finds it when told to ask the
//! authoritative servers on PORT (`authoritative_port`). Checks use `dig` and `nsupdate`
//! (bind9-dnsutils), so they share no code with the program under test.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use crate::port::free_port;
use crate::testdir::{TestDir, tail};
use crate::tool;
use crate::wait;

/// How long named may take to listen before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How often named is started on a fresh port when it exits right away (the port was taken).
const START_ATTEMPTS: u32 = 3;

/// The key every zone accepts updates from.
pub const BIND_KEY: &str = "acme-key";
/// A key the server knows but that may update no zone (updates signed with it are REFUSED).
pub const BIND_UNAUTHORIZED_KEY: &str = "other-key";

/// A zone to serve: its name and extra zone-file lines (relative names are inside the zone).
#[derive(Debug, Clone)]
pub struct BindZone {
    name: String,
    records: Vec<String>,
    nameserver: String,
}

impl BindZone {
    /// A zone with SOA, `NS ns1`, `ns1 A 127.0.0.1`, `@ A` and `www A` 127.0.0.1.
    pub fn new(name: &str) -> BindZone {
        BindZone {
            name: name.to_string(),
            records: Vec::new(),
            nameserver: "127.0.0.1".to_string(),
        }
    }

    /// Adds one zone-file line, e.g. `_acme-challenge.alias CNAME _acme-challenge.target.other.test.`.
    pub fn record(mut self, line: &str) -> BindZone {
        self.records.push(line.to_string());
        self
    }

    /// Makes `ns1.<zone>` point at `address` instead of 127.0.0.1, e.g. an address where no
    /// server listens, to prove a check does not ask this zone's servers.
    pub fn nameserver_address(mut self, address: &str) -> BindZone {
        self.nameserver = address.to_string();
        self
    }

    fn zone_file(&self) -> String {
        let mut text = format!(
            "$TTL 60\n\
             @   IN SOA ns1.{zone}. hostmaster.{zone}. ( 1 60 60 3600 60 )\n\
             \x20   IN NS  ns1.{zone}.\n\
             ns1 IN A {ns}\n\
             @   IN A 127.0.0.1\n\
             www IN A 127.0.0.1\n",
            zone = self.name,
            ns = self.nameserver,
        );
        for line in &self.records {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// A running named; killed and reaped on drop.
#[derive(Debug)]
pub struct Bind {
    child: Child,
    workdir: PathBuf,
    address: SocketAddr,
    secret: String,
    unauthorized_secret: String,
}

impl Bind {
    /// Starts named serving `zones` (each updatable with [`BIND_KEY`]), with its files and log
    /// under `DIR/bind/`, running as `nobody` when the tests run as root.
    ///
    /// Fails the test if BIND is not installed or does not come up.
    pub fn start(dir: &TestDir, zones: &[BindZone]) -> Bind {
        Bind::start_with(dir, zones, false)
    }

    /// Like [`Bind::start`], but also answering recursive queries from loopback, as a
    /// resolver would: a CNAME into another of its zones is followed in the answer, which a
    /// CA's resolver does and an authoritative-only server does not. Names outside its zones
    /// get NXDOMAIN from a local root zone, so nothing waits for the internet.
    pub fn start_resolving(dir: &TestDir, zones: &[BindZone]) -> Bind {
        Bind::start_with(dir, zones, true)
    }

    fn start_with(dir: &TestDir, zones: &[BindZone], resolving: bool) -> Bind {
        let named = Path::new("/usr/sbin/named");
        if !named.is_file() {
            tool::not_installed("named");
        }
        tool::require("tsig-keygen");
        tool::require("dig");
        tool::require("nsupdate");
        let workdir = dir.path().join("bind");
        fs::create_dir_all(&workdir).expect("create the bind directory");
        let secret = make_key(&workdir, BIND_KEY);
        let unauthorized_secret = make_key(&workdir, BIND_UNAUTHORIZED_KEY);
        for zone in zones {
            fs::write(
                workdir.join(format!("{}.zone", zone.name)),
                zone.zone_file(),
            )
            .expect("write a zone file");
        }
        if resolving {
            fs::write(
                workdir.join("root.zone"),
                "$TTL 60\n@ IN SOA ns.root. hostmaster.root. ( 1 60 60 3600 60 )\n\
                 @ IN NS ns.root.\nns.root. IN A 127.0.0.1\n",
            )
            .expect("write the root zone");
        }
        let as_root = tool::stdout("id", &["-u"]).trim() == "0";
        if as_root {
            // named runs as nobody: it must reach its directory and own its files.
            fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711))
                .expect("let named traverse the test directory");
            tool::stdout(
                "chown",
                &["-R", "nobody:nogroup", &workdir.to_string_lossy()],
            );
        }

        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            fs::write(
                workdir.join("named.conf"),
                named_conf(
                    &workdir,
                    port,
                    zones,
                    &secret,
                    &unauthorized_secret,
                    resolving,
                ),
            )
            .expect("write named.conf");
            let mut command = if as_root {
                let mut command = Command::new("setpriv");
                command.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
                command.arg(named);
                command
            } else {
                Command::new(named)
            };
            command.arg("-g").arg("-c").arg(workdir.join("named.conf"));
            let child = tool::spawn_logged(&mut command, &workdir.join("named.log"));
            let mut bind = Bind {
                child,
                workdir: workdir.clone(),
                address: SocketAddr::from(([127, 0, 0, 1], port)),
                secret: secret.clone(),
                unauthorized_secret: unauthorized_secret.clone(),
            };
            match bind.wait_ready(zones) {
                Ok(()) => return bind,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("named did not start:\n{}", failures.join("\n\n"))
    }

    /// Waits until named listens and serves the SOA of every zone (it listens before the
    /// zones are loaded, and answers SERVFAIL until then).
    fn wait_ready(&mut self, zones: &[BindZone]) -> Result<(), String> {
        let what = format!("named to serve its zones on {}", self.address);
        wait::until(START_TIMEOUT, &what, || {
            wait::alive(&mut self.child)?;
            Ok(TcpStream::connect(self.address).is_ok()
                && zones.iter().all(|zone| self.serves(&zone.name)))
        })
        .map_err(|why| format!("{why}\n{}", self.log_tail()))
    }

    /// Whether named answers the zone's SOA (a failing `dig` is just "not yet").
    pub(crate) fn serves(&self, zone: &str) -> bool {
        let port = self.port().to_string();
        let output = tool::output(
            "dig",
            &[
                "+short",
                "+norecurse",
                "+tries=1",
                "+time=1",
                "@127.0.0.1",
                "-p",
                &port,
                zone,
                "SOA",
            ],
        );
        output.status.success() && !output.stdout.is_empty()
    }

    /// Where named listens (UDP and TCP), `127.0.0.1:PORT`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port named listens on, which is also where the zones' NS (127.0.0.1) answer.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The base64 secret of [`BIND_KEY`] (hmac-sha256), as `tsig-keygen` printed it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The base64 secret of [`BIND_UNAUTHORIZED_KEY`], valid but allowed to update nothing.
    pub fn unauthorized_secret(&self) -> &str {
        &self.unauthorized_secret
    }

    /// The TXT values at `name`, asked of this server with `dig`.
    pub fn dig_txt(&self, name: &str) -> Vec<String> {
        self.dig(name, "TXT")
            .into_iter()
            .map(|line| line.trim_matches('"').to_string())
            .collect()
    }

    /// `dig +short` for `name` and `record_type`, one answer per element.
    pub fn dig(&self, name: &str, record_type: &str) -> Vec<String> {
        let port = self.port().to_string();
        tool::stdout(
            "dig",
            &[
                "+short",
                "+norecurse",
                "@127.0.0.1",
                "-p",
                &port,
                name,
                record_type,
            ],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// Every record name in `zone` that starts with `_acme-challenge`, from a zone transfer.
    pub fn acme_challenge_records(&self, zone: &str) -> Vec<String> {
        let port = self.port().to_string();
        let key = self.workdir.join(format!("{BIND_KEY}.key"));
        tool::stdout(
            "dig",
            &[
                "+noall",
                "+answer",
                "-k",
                &key.to_string_lossy(),
                "@127.0.0.1",
                "-p",
                &port,
                zone,
                "AXFR",
            ],
        )
        .lines()
        .filter(|line| line.starts_with("_acme-challenge"))
        .map(str::to_string)
        .collect()
    }

    /// Runs `nsupdate` with [`BIND_KEY`] and `commands` (e.g. `update add NAME 60 TXT "v"`),
    /// followed by `send`.
    pub fn nsupdate(&self, commands: &[&str]) {
        let script = self.workdir.join(format!(
            "nsupdate-{}.txt",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_nanos()
        ));
        let mut text = format!("server 127.0.0.1 {}\n", self.port());
        for command in commands {
            text.push_str(command);
            text.push('\n');
        }
        text.push_str("send\n");
        fs::write(&script, text).expect("write an nsupdate script");
        let key = self.workdir.join(format!("{BIND_KEY}.key"));
        tool::stdout("nsupdate", &[Path::new("-k"), &key, script.as_path()]);
    }

    /// The last lines of named's log.
    pub fn log_tail(&self) -> String {
        tail(&self.workdir.join("named.log"))
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        // Already exited is fine: the point is that nothing outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generates an hmac-sha256 key with `tsig-keygen` into `DIR/<name>.key` and returns its secret.
fn make_key(workdir: &Path, name: &str) -> String {
    let text = tool::stdout("tsig-keygen", &["-a", "hmac-sha256", name]);
    fs::write(workdir.join(format!("{name}.key")), &text).expect("write a TSIG key file");
    text.split('"')
        .nth(3)
        .unwrap_or_else(|| panic!("no secret in tsig-keygen output:\n{text}"))
        .to_string()
}

fn named_conf(
    workdir: &Path,
    port: u16,
    zones: &[BindZone],
    secret: &str,
    unauthorized_secret: &str,
    resolving: bool,
) -> String {
    let dir = workdir.display();
    let recursion = if resolving {
        "recursion yes; allow-recursion { 127.0.0.1; };"
    } else {
        "recursion no;"
    };
    let mut conf = format!(
        r#"options {{
  directory "{dir}"; pid-file "{dir}/named.pid"; session-keyfile "{dir}/session.key";
  managed-keys-directory "{dir}"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  {recursion} dnssec-validation no; allow-query {{ any; }}; notify no;
}};
controls {{ }};
key "{BIND_KEY}" {{ algorithm hmac-sha256; secret "{secret}"; }};
key "{BIND_UNAUTHORIZED_KEY}" {{ algorithm hmac-sha256; secret "{unauthorized_secret}"; }};
"#
    );
    if resolving {
        conf.push_str(&format!(
            "zone \".\" {{ type primary; file \"{dir}/root.zone\"; }};\n"
        ));
    }
    for zone in zones {
        let name = &zone.name;
        conf.push_str(&format!(
            "zone \"{name}\" {{ type primary; file \"{dir}/{name}.zone\"; \
             journal \"{dir}/{name}.zone.jnl\"; allow-update {{ key \"{BIND_KEY}\"; }}; \
             allow-transfer {{ key \"{BIND_KEY}\"; }}; }};\n"
        ));
    }
    conf
}
