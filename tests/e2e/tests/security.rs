//! Security promises of the real binary (docs/security.md):
//!
//! - keys and state are private whatever the umask: the delivered `privkey.pem` is 0600,
//!   `state_dir` and every directory in it 0700, every key, account and record in it 0600;
//!   only certificates and the trust bundle are 0644;
//! - no secret reaches the output: TSIG secret, Cloudflare and PowerDNS API keys, EAB HMAC
//!   key, Vault token, Venafi password and tokens, and the private keys themselves (as PEM,
//!   base64, base64url or hex) appear nowhere in stdout or stderr of issuance at trace
//!   level (text and JSON logs), `status --json`, `diagnose --json` and `check [--online]`;
//! - a config file that holds inline secrets and that others can read is warned about.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use e2e::{
    BIND_KEY, Bind, BindZone, CloudflareFake, Config, OpenBao, Pebble, PebbleOptions, PowerDns,
    TestDir, VENAFI_ZONE, VenafiFake, free_port,
};

/// The binary under test, found the way the harness finds it.
fn acmekeep_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ACMEKEEP_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("acmekeep")
}

/// Runs `acmekeep --config <config> ARGS…` under umask 000 (through `sh`), killing it after
/// 60 s; returns its exit code and combined output.
fn acmekeep_with_open_umask(dir: &TestDir, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(acmekeep_binary())
        .arg("--config")
        .arg(dir.config_path())
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sh");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect the output");
    let text = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// Every file and directory under `root` (itself included), with its permission bits.
fn modes_under(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = fs::symlink_metadata(&path).expect("stat");
        found.push((
            path.clone(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            for entry in fs::read_dir(&path).expect("list") {
                pending.push(entry.expect("entry").path());
            }
        }
    }
    found.sort();
    found
}

fn mode_of(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn keys_and_state_are_private_even_under_umask_000() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let venafi = VenafiFake::start();
    venafi.require_approval(true);
    let (access, _) = venafi.issue_tokens();
    let trust = dir.path().join("trust.pem");
    let mut toml = Config::for_pebble(&dir, &pebble)
        .certificate("web", &["web.example.test"])
        .to_toml();
    let _ = write!(
        toml,
        r#"
[issuers.local]
kind = "ca"
generate = true
trust_bundle = "{trust}"

[issuers.corp]
kind = "venafi"
url = "{venafi}"
zone = '{VENAFI_ZONE}'
access_token = "{access}"

[certificates.internal]
domains = ["internal.example.test"]
issuer = "local"
sinks = [{{ kind = "files", dir = "{internal}" }}]

[certificates.pending]
domains = ["pending.example.test"]
issuer = "corp"
sinks = [{{ kind = "files", dir = "{pending}" }}]
"#,
        trust = trust.display(),
        venafi = venafi.url(),
        internal = dir.sink("internal").path().display(),
        pending = dir.sink("pending").path().display(),
    );
    dir.write_config(&toml);

    let (code, output) = acmekeep_with_open_umask(&dir, &["--issue"]);
    assert_eq!(
        code,
        Some(1),
        "web and internal issued, pending pending\n{output}"
    );
    assert!(output.contains("pending: PENDING"), "{output}");

    for name in ["web", "internal"] {
        let key = dir.sink(name).file("privkey.pem");
        assert_eq!(mode_of(&key), 0o600, "{}\n{output}", key.display());
    }
    assert_eq!(
        mode_of(&trust),
        0o644,
        "the trust bundle is public by design"
    );

    let state = modes_under(&dir.state_dir());
    let listing: String = state
        .iter()
        .map(|(path, mode, _)| format!("{mode:04o} {}\n", path.display()))
        .collect();
    for expected in ["pending/pending.key", ".json"] {
        assert!(
            listing.contains(expected),
            "no {expected} in state:\n{listing}"
        );
    }
    for (path, mode, is_dir) in &state {
        let public_certificate = path.extension().is_some_and(|ext| ext == "pem")
            && fs::read_to_string(path).is_ok_and(|pem| !pem.contains("PRIVATE KEY"));
        let allowed = match (is_dir, public_certificate) {
            (true, _) => *mode == 0o700,
            (false, true) => *mode == 0o644 || *mode == 0o600,
            (false, false) => *mode == 0o600,
        };
        assert!(
            allowed,
            "{} has mode {mode:04o}:\n{listing}",
            path.display()
        );
    }
    let ca_keys = state
        .iter()
        .filter(|(path, _, is_dir)| {
            !is_dir && fs::read_to_string(path).is_ok_and(|text| text.contains("PRIVATE KEY"))
        })
        .count();
    assert!(
        ca_keys >= 2,
        "the CA key and the pending key are in state:\n{listing}"
    );
}

/// Distinctive secrets, one per kind; none may appear in any output.
const EAB_HMAC: &str = "c2VjcmV0LWVhYi1obWFjLWtleS1mb3ItYWNtZWtlZXAtZTJlLXNlY3VyaXR5LXRlc3Q";
const CLOUDFLARE_TOKEN: &str = "cf-secret-token-Zq8rW2mX7pL4vN9kB3";
const VENAFI_PASSWORD: &str = "venafi-secret-password-Hj5tR8yU2";

/// The fragments of a private key that must never be printed: each line of its PEM body,
/// and 12-character pieces of its private scalar in base64, base64url and hex at every
/// byte alignment.
fn key_fragments(der: &[u8], pem_body_lines: &[&str]) -> Vec<String> {
    let mut fragments: Vec<String> = pem_body_lines
        .iter()
        .filter(|line| line.len() >= 20)
        .map(|line| line.to_string())
        .collect();
    let scalar =
        private_scalar(der).unwrap_or_else(|| panic!("no EC private scalar in {der:02x?}"));
    for shift in 0..3 {
        for encoded in [
            STANDARD_NO_PAD.encode(&scalar[shift..]),
            URL_SAFE_NO_PAD.encode(&scalar[shift..]),
        ] {
            let usable = encoded.len().saturating_sub(4);
            let mut start = 0;
            while start + 12 <= usable {
                fragments.push(encoded[start..start + 12].to_string());
                start += 4;
            }
        }
    }
    let hex: String = scalar.iter().map(|b| format!("{b:02x}")).collect();
    for start in (0..hex.len() - 16).step_by(8) {
        fragments.push(hex[start..start + 16].to_string());
        fragments.push(hex[start..start + 16].to_uppercase());
    }
    fragments
}

/// The private scalar of a PKCS#8 or SEC1 EC key (P-256 or P-384): the OCTET STRING that
/// follows `version 1` in the ECPrivateKey structure.
fn private_scalar(der: &[u8]) -> Option<Vec<u8>> {
    der.windows(5).enumerate().find_map(|(at, window)| {
        let len = match window {
            [0x02, 0x01, 0x01, 0x04, len @ (0x20 | 0x30)] => usize::from(*len),
            _ => return None,
        };
        der.get(at + 5..at + 5 + len).map(<[u8]>::to_vec)
    })
}

/// Every private key under `root`: PEM files and the PKCS#8 keys of ACME account files
/// (`credentials.key_pkcs8`); returns (where, fragments) per key.
fn private_keys_under(root: &Path) -> Vec<(String, Vec<String>)> {
    let mut keys = Vec::new();
    for (path, _, is_dir) in modes_under(root) {
        if is_dir {
            continue;
        }
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        if text.contains("PRIVATE KEY-----") {
            let body: Vec<&str> = text
                .lines()
                .filter(|line| !line.starts_with("-----") && !line.is_empty())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body.concat())
                .expect("PEM body");
            keys.push((path.display().to_string(), key_fragments(&der, &body)));
        } else if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(pkcs8) = json
                .pointer("/credentials/key_pkcs8")
                .and_then(|k| k.as_str())
        {
            let der = URL_SAFE_NO_PAD.decode(pkcs8).expect("base64url key_pkcs8");
            let mut fragments = key_fragments(&der, &[]);
            fragments.push(pkcs8.to_string());
            keys.push((format!("account key in {}", path.display()), fragments));
        }
    }
    keys
}

/// A config that uses every kind of secret against real (or faked) servers.
struct Everything {
    dir: TestDir,
    bind: Bind,
    _pebble: Pebble,
    _cloudflare: CloudflareFake,
    _powerdns: PowerDns,
    _openbao: OpenBao,
    _venafi: VenafiFake,
    vault_token: String,
}

fn everything() -> Everything {
    let dir = TestDir::new();
    let bind = Bind::start(&dir, &[BindZone::new("example.test")]);
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            eab: Some(("kid-security".to_string(), EAB_HMAC.to_string())),
            dns_server: Some(bind.address()),
            ..PebbleOptions::default()
        },
    );
    let cloudflare = CloudflareFake::start(CLOUDFLARE_TOKEN);
    cloudflare.add_zone("cf.test");
    let powerdns = PowerDns::start(&dir);
    powerdns.create_zone("pdns.test");
    let openbao = OpenBao::start(&dir);
    openbao.write_policy(
        "sign",
        &format!(
            "path \"pki_int/sign/{}\" {{ capabilities = [\"create\", \"update\"] }}",
            OpenBao::ROLE
        ),
    );
    let vault_token = openbao.create_token(&["sign"], "1h");
    let venafi = VenafiFake::start();
    venafi.add_user("svc-acme", VENAFI_PASSWORD);
    let (access, refresh) = venafi.issue_tokens();

    let out = |name: &str| dir.sink(name).path().display().to_string();
    let toml = format!(
        r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{metrics}"

[issuers.pebble]
kind = "acme"
directory = "{directory}"
ca_bundle = "{bundle}"
eab = {{ kid = "kid-security", hmac_key = "{EAB_HMAC}" }}

[issuers.vault]
kind = "vault"
url = "{vault}"
path = "pki_int/sign/{role}"
token = "{vault_token}"

[issuers.tpp-password]
kind = "venafi"
url = "{venafi}"
zone = '{VENAFI_ZONE}'
username = "svc-acme"
password = "{VENAFI_PASSWORD}"

[issuers.tpp-token]
kind = "venafi"
url = "{venafi}"
zone = '{VENAFI_ZONE}'
access_token = "{access}"
refresh_token = "{refresh}"

[issuers.local]
kind = "ca"
generate = true

[solvers.bind]
kind = "dns-01"
zones = ["example.test"]
provider = "rfc2136"
nameserver = "{bind_addr}"
tsig_key = "{BIND_KEY}"
tsig_secret = "{tsig}"
nameservers = ["{bind_addr}"]
authoritative_port = {bind_port}
propagation_timeout = "10s"

[solvers.cf]
kind = "dns-01"
zones = ["cf.test"]
provider = "cloudflare"
api_url = "{cf_url}"
api_token = "{CLOUDFLARE_TOKEN}"
zone = "cf.test"
check_propagation = false

[solvers.pdns]
kind = "dns-01"
zones = ["pdns.test"]
provider = "powerdns"
api_url = "{pdns_url}"
api_key = "{pdns_key}"
zone = "pdns.test"
check_propagation = false

[certificates.bind]
domains = ["www.example.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out_bind}" }}]

[certificates.cf]
domains = ["www.cf.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out_cf}" }}]

[certificates.pdns]
domains = ["www.pdns.test"]
issuer = "pebble"
sinks = [{{ kind = "files", dir = "{out_pdns}" }}]

[certificates.vault]
domains = ["vault.example.test"]
issuer = "vault"
sinks = [{{ kind = "files", dir = "{out_vault}" }}]

[certificates.tpp-password]
domains = ["password.example.test"]
issuer = "tpp-password"
sinks = [{{ kind = "files", dir = "{out_tpp_password}" }}]

[certificates.tpp-token]
domains = ["token.example.test"]
issuer = "tpp-token"
sinks = [{{ kind = "files", dir = "{out_tpp_token}" }}]

[certificates.local]
domains = ["local.example.test"]
issuer = "local"
sinks = [{{ kind = "files", dir = "{out_local}" }}]
"#,
        state = dir.state_dir().display(),
        metrics = free_port(),
        directory = pebble.directory_url(),
        bundle = pebble.ca_bundle().display(),
        vault = openbao.url(),
        role = OpenBao::ROLE,
        venafi = venafi.url(),
        bind_addr = bind.address(),
        bind_port = bind.port(),
        tsig = bind.secret(),
        cf_url = cloudflare.api_url(),
        pdns_url = powerdns.api_url(),
        pdns_key = PowerDns::API_KEY,
        out_bind = out("bind"),
        out_cf = out("cf"),
        out_pdns = out("pdns"),
        out_vault = out("vault"),
        out_tpp_password = out("tpp-password"),
        out_tpp_token = out("tpp-token"),
        out_local = out("local"),
    );
    dir.write_config(&toml);
    fs::set_permissions(dir.config_path(), fs::Permissions::from_mode(0o600))
        .expect("chmod the config");
    Everything {
        dir,
        bind,
        _pebble: pebble,
        _cloudflare: cloudflare,
        _powerdns: powerdns,
        _openbao: openbao,
        _venafi: venafi,
        vault_token,
    }
}

#[test]
fn no_secret_and_no_key_material_appears_in_any_output() {
    let setup = everything();
    let dir = &setup.dir;
    let bind_nameserver = setup.bind.address().to_string();
    let runs: Vec<(String, e2e::Run)> = [
        vec!["-vv", "--issue"],
        vec!["-vv", "--log-format", "json", "--issue", "--force"],
        vec!["-vv", "status", "--json"],
        vec![
            "-vv",
            "diagnose",
            "--json",
            "--nameserver",
            &bind_nameserver,
        ],
        vec!["-vv", "check"],
        vec!["-vv", "check", "--online"],
    ]
    .into_iter()
    .map(|args| (args.join(" "), dir.acmekeep(&args)))
    .collect();

    // The runs did the work whose output is checked: keys were issued through every path
    // that could succeed here.
    for name in ["bind", "vault", "tpp-password", "tpp-token", "local"] {
        let sink = dir.sink(name);
        assert!(
            sink.file("privkey.pem").is_file(),
            "certificate {name} was not issued\n{}",
            runs[0].1
        );
    }

    let mut secrets: Vec<(String, Vec<String>)> = vec![
        ("the EAB HMAC key".into(), pieces(EAB_HMAC)),
        ("the Cloudflare API token".into(), pieces(CLOUDFLARE_TOKEN)),
        ("the Venafi password".into(), pieces(VENAFI_PASSWORD)),
        ("the TSIG secret".into(), pieces(setup.bind.secret())),
        ("the Vault token".into(), pieces(&setup.vault_token)),
        (
            "the PowerDNS API key".into(),
            vec![PowerDns::API_KEY.into()],
        ),
        (
            "a Venafi token".into(),
            vec!["fake-access-".into(), "fake-refresh-".into()],
        ),
    ];
    let mut keys = private_keys_under(&dir.state_dir());
    keys.extend(private_keys_under(&dir.path().join("out")));
    let key_files: Vec<&str> = keys.iter().map(|(what, _)| what.as_str()).collect();
    for expected in ["account key", "state/", "out/bind/", "out/local/"] {
        assert!(
            key_files.iter().any(|what| what.contains(expected)),
            "no private key found matching {expected:?} among {key_files:#?}"
        );
    }
    secrets.extend(keys);

    for (args, run) in &runs {
        let output = format!("{}\n{}", run.stdout(), run.stderr());
        assert!(!output.is_empty(), "acmekeep {args} printed nothing");
        for (what, fragments) in &secrets {
            if let Some(fragment) = fragments.iter().find(|f| output.contains(f.as_str())) {
                run.fail(&format!(
                    "`acmekeep {args}` printed {what} (found {fragment:?})"
                ));
            }
        }
    }
}

/// A secret and its 16-character pieces (at a stride of 8), to catch a partial print.
fn pieces(secret: &str) -> Vec<String> {
    let mut pieces = vec![secret.to_string()];
    let mut start = 0;
    while start + 16 <= secret.len() {
        pieces.push(secret[start..start + 16].to_string());
        start += 8;
    }
    pieces
}

const INLINE_SECRET_CONFIG: &str = r#"
[daemon]
state_dir = "state"
[issuers.local]
kind = "ca"
generate = true
[solvers.dns]
kind = "dns-01"
provider = "cloudflare"
api_token = "inline-token-value"
[certificates.web]
domains = ["www.example.test"]
issuer = "local"
sinks = [{ kind = "files", dir = "out/web" }]
"#;

#[test]
fn a_readable_config_with_inline_secrets_is_warned_about_without_the_values() {
    let dir = TestDir::new();
    let path = dir.write_config(INLINE_SECRET_CONFIG);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");

    let run = dir.acmekeep(&["check"]);
    run.assert_success()
        .assert_stderr_contains(&format!("{} holds secrets inline", path.display()))
        .assert_stderr_contains("solvers.dns.api_token")
        .assert_stderr_contains("(mode 0644)")
        .assert_stderr_contains("chmod 600");
    if run.stderr().contains("inline-token-value") {
        run.fail("the warning printed the secret itself");
    }

    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = dir.acmekeep(&["check"]);
    if run
        .assert_success()
        .stderr()
        .contains("holds secrets inline")
    {
        run.fail("a 0600 file needs no warning");
    }
}
