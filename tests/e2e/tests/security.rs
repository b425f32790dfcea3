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
    acmekeep_with(
        dir,
        &["sh", "-c", "umask 000; exec \"$0\" \"$@\""],
        args,
        &[],
    )
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

/// Runs `[wrapper…] acmekeep --config <config> ARGS…` with `env` added, killing it after
/// 60 s; returns its exit code and combined output.
fn acmekeep_with(
    dir: &TestDir,
    wrapper: &[&str],
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let binary = acmekeep_binary();
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(&binary);
            command
        }
        None => Command::new(&binary),
    };
    let mut child = command
        .arg("--config")
        .arg(dir.config_path())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start acmekeep");
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

/// Writes an executable shell script `name` with `body` into the test directory (through
/// `install`, so no writable descriptor on it can leak into a child forked meanwhile).
fn script(dir: &TestDir, name: &str, body: &str) -> PathBuf {
    let path = dir.path().join(name);
    let source = dir.path().join(format!("{name}.source"));
    fs::write(&source, format!("#!/bin/sh\n{body}\n")).expect("write the script text");
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(&source)
        .arg(&path)
        .status()
        .expect("run install");
    assert!(status.success(), "install {} failed", path.display());
    path
}

/// Every `NAME=` line of the environment dumps under `dir` whose file name starts with
/// `prefix`, with the file it came from.
fn dumped_variables(dir: &Path, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).expect("list the dumps") {
        let path = entry.expect("dir entry").path();
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !file.starts_with(prefix) {
            continue;
        }
        for line in fs::read_to_string(&path).expect("read a dump").lines() {
            if let Some((name, _)) = line.split_once('=') {
                found.push((file.clone(), name.to_string()));
            }
        }
    }
    found
}

/// Regression (issue 12, item 9): hooks and exec DNS scripts inherited the `ACMEKEEP__…`
/// configuration overrides, which may hold secrets. Every hook stage and every exec call
/// of two certificates, in two runs, sees none of them, yet the override still applies.
#[test]
fn hooks_and_exec_dns_scripts_do_not_inherit_configuration_overrides() {
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            always_valid: true,
            ..PebbleOptions::default()
        },
    );
    let dumps = dir.path().join("dumps");
    fs::create_dir(&dumps).expect("mkdir dumps");
    let exec = script(
        &dir,
        "dns.sh",
        &format!("env > {}/exec-$1-$$", dumps.display()),
    );
    let hook = |stage: &str| format!("env > {}/hook-{stage}-$$", dumps.display());
    let mut toml = Config::for_pebble(&dir, &pebble).to_toml();
    let _ = write!(
        toml,
        r#"
[solvers.exec]
kind = "dns-01"
provider = "exec"
command = "{exec}"
zone = "example.test"
check_propagation = false

[certificates.multi]
domains = ["a.example.test", "b.example.test", "c.example.test"]
issuer = "{issuer}"
solver = "exec"
sinks = [{{ kind = "files", dir = "{multi}" }}]
hooks = {{ pre = ["{pre}"], deploy = ["{deploy}"], post = ["{post}"] }}

[certificates.single]
domains = ["d.example.test"]
issuer = "{issuer}"
solver = "exec"
sinks = [{{ kind = "files", dir = "{single}" }}]
hooks = {{ deploy = ["{deploy}"] }}
"#,
        exec = exec.display(),
        issuer = Config::for_pebble(&dir, &pebble).issuer_name(),
        multi = dir.sink("multi").path().display(),
        single = dir.sink("single").path().display(),
        pre = hook("pre"),
        deploy = hook("deploy"),
        post = hook("post"),
    );
    dir.write_config(&toml);

    let overrides = [
        ("ACMEKEEP__DAEMON__CONCURRENCY", "2"),
        ("ACMEKEEP__SOLVERS__EXEC__TIMEOUT", "45s"),
    ];
    for args in [&["--issue"][..], &["--issue", "--force"][..]] {
        let (code, output) = acmekeep_with(&dir, &[], args, &overrides);
        assert_eq!(code, Some(0), "{args:?}\n{output}");
    }
    let hooks = dumped_variables(&dumps, "hook-");
    let execs = dumped_variables(&dumps, "exec-");
    for stage in ["hook-pre", "hook-deploy", "hook-post"] {
        assert!(
            hooks.iter().any(|(file, _)| file.starts_with(stage)),
            "no {stage} dump: {hooks:?}"
        );
    }
    assert!(
        execs
            .iter()
            .any(|(file, _)| file.starts_with("exec-present")),
        "no exec dump: {execs:?}"
    );
    assert!(
        hooks.iter().any(|(_, name)| name == "ACMEKEEP_CERT_NAME"),
        "hooks still get their own ACMEKEEP_* variables: {hooks:?}"
    );
    let leaked: Vec<_> = hooks
        .iter()
        .chain(&execs)
        .filter(|(_, name)| name.starts_with("ACMEKEEP__"))
        .collect();
    assert!(leaked.is_empty(), "overrides leaked: {leaked:?}");
}

/// Two plain HTTP servers on free loopback ports: `origin` answers every request with
/// `307 Temporary Redirect` to the same path on `elsewhere`, which records each request
/// head it gets and answers 500. Both stop when dropped.
struct RedirectToElsewhere {
    origin: u16,
    elsewhere: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl RedirectToElsewhere {
    fn start() -> RedirectToElsewhere {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let elsewhere_log = Arc::new(Mutex::new(Vec::new()));
        let bind = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.set_nonblocking(true).expect("non-blocking");
            listener
        };
        let (origin, elsewhere) = (bind(), bind());
        let origin_port = origin.local_addr().expect("addr").port();
        let elsewhere_port = elsewhere.local_addr().expect("addr").port();
        let serve = |listener: std::net::TcpListener,
                     log: Option<Arc<Mutex<Vec<String>>>>,
                     stop: Arc<AtomicBool>| {
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok((stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    answer_once(stream, log.as_deref(), elsewhere_port);
                }
            })
        };
        let threads = vec![
            serve(origin, None, stop.clone()),
            serve(elsewhere, Some(elsewhere_log.clone()), stop.clone()),
        ];
        RedirectToElsewhere {
            origin: origin_port,
            elsewhere: elsewhere_log,
            stop,
            threads,
        }
    }

    /// `http://127.0.0.1:<origin>`.
    fn origin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.origin)
    }

    /// The request heads `elsewhere` received.
    fn elsewhere_requests(&self) -> Vec<String> {
        self.elsewhere
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for RedirectToElsewhere {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Reads one request head from `stream` and answers it: recorded and 500 when `log` is
/// given, else a 307 to the same path on port `elsewhere`.
fn answer_once(
    mut stream: std::net::TcpStream,
    log: Option<&std::sync::Mutex<Vec<String>>>,
    elsewhere: u16,
) {
    use std::io::{Read, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    let response = match log {
        Some(log) => {
            log.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(head);
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                .to_string()
        }
        None => format!(
            "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{elsewhere}{path}\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        ),
    };
    let _ = stream.write_all(response.as_bytes());
}

/// Regression (issue 12, item 9): the clients that send credentials followed a 307 to
/// another origin and re-sent `X-Vault-Token`, `X-API-Key`, the Venafi bearer token and the
/// Cloudflare token, with the body, to it. Vault, Venafi, PowerDNS and Cloudflare, four
/// certificates in one run and again in a second: the other origin is never contacted and
/// each failure says a redirect was refused.
#[test]
fn credentialed_clients_never_follow_a_redirect_to_another_origin() {
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            always_valid: true,
            ..PebbleOptions::default()
        },
    );
    let redirect = RedirectToElsewhere::start();
    let origin = redirect.origin_url();
    let pebble_config = Config::for_pebble(&dir, &pebble);
    let mut toml = pebble_config.to_toml();
    let _ = write!(
        toml,
        r#"
[issuers.vault]
kind = "vault"
url = "{origin}"
path = "pki/sign/web"
token = "vault-token-for-redirect-test"

[issuers.tpp]
kind = "venafi"
url = "{origin}"
zone = '{VENAFI_ZONE}'
access_token = "venafi-token-for-redirect-test"

[solvers.pdns]
kind = "dns-01"
provider = "powerdns"
api_url = "{origin}"
api_key = "pdns-key-for-redirect-test"
zone = "pdns.test"
zones = ["pdns.test"]
check_propagation = false

[solvers.cf]
kind = "dns-01"
provider = "cloudflare"
api_url = "{origin}/client/v4"
api_token = "cf-token-for-redirect-test"
zone = "cf.test"
zones = ["cf.test"]
check_propagation = false

[certificates.vault]
domains = ["vault.example.test", "www.vault.example.test"]
issuer = "vault"
sinks = [{{ kind = "files", dir = "{vault}" }}]

[certificates.tpp]
domains = ["tpp.example.test"]
issuer = "tpp"
sinks = [{{ kind = "files", dir = "{tpp}" }}]

[certificates.pdns]
domains = ["www.pdns.test", "api.pdns.test"]
issuer = "{acme}"
sinks = [{{ kind = "files", dir = "{pdns}" }}]

[certificates.cf]
domains = ["www.cf.test"]
issuer = "{acme}"
sinks = [{{ kind = "files", dir = "{cf}" }}]
"#,
        acme = pebble_config.issuer_name(),
        vault = dir.sink("vault").path().display(),
        tpp = dir.sink("tpp").path().display(),
        pdns = dir.sink("pdns").path().display(),
        cf = dir.sink("cf").path().display(),
    );
    dir.write_config(&toml);

    for run in 1..=2 {
        let (code, output) = acmekeep_with(&dir, &[], &["--issue"], &[]);
        assert_eq!(
            code,
            Some(1),
            "run {run}: every certificate fails\n{output}"
        );
        let seen = redirect.elsewhere_requests();
        assert!(
            seen.is_empty(),
            "run {run}: the other origin was contacted:\n{}\n{output}",
            seen.join("\n")
        );
        for name in ["vault", "tpp", "pdns", "cf"] {
            let line = output
                .lines()
                .find(|line| line.starts_with(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no result line for {name}\n{output}"));
            assert!(
                line.contains("redirect"),
                "{name} does not say a redirect was refused: {line}\n{output}"
            );
        }
    }
}

/// Regression (issue 12, item 9): text from remote parties reached terminals and logs raw,
/// so a CA, an API or a hook could rewrite the operator's screen with escape sequences or
/// forge log lines with CR/LF. A Venafi policy error, an exec DNS script's stderr and hook
/// output, each with ESC, BEL, CR and LF and a very long tail, in text and JSON logs: no
/// control character is printed, each is shown escaped, and long text is cut.
#[test]
fn remote_text_is_printed_with_control_characters_escaped_and_length_capped() {
    let dir = TestDir::new();
    let pebble = Pebble::start(
        &dir,
        PebbleOptions {
            always_valid: true,
            ..PebbleOptions::default()
        },
    );
    let venafi = VenafiFake::start();
    let (access, _) = venafi.issue_tokens();
    let tail = "x".repeat(20_000);
    venafi.reject_with(&format!(
        "\u{1b}]0;pwned\u{7}\u{1b}[2Jpolicy says no\r\nforged: line{tail}"
    ));
    let exec = script(
        &dir,
        "dns.sh",
        "printf '\\033[31mzone is locked\\r\\nforged: line\\n' >&2; exit 1",
    );
    let hook = "printf '\\033[2Jhook says hi\\r\\n'";
    let pebble_config = Config::for_pebble(&dir, &pebble);
    let mut toml = pebble_config.to_toml();
    let _ = write!(
        toml,
        r#"
[issuers.tpp]
kind = "venafi"
url = "{venafi}"
zone = '{VENAFI_ZONE}'
access_token = "{access}"

[solvers.exec]
kind = "dns-01"
provider = "exec"
command = "{exec}"
zone = "exec.test"
zones = ["exec.test"]
check_propagation = false

[certificates.tpp]
domains = ["tpp.example.test", "www.tpp.example.test"]
issuer = "tpp"
sinks = [{{ kind = "files", dir = "{tpp}" }}]
hooks = {{ pre = ["{hook}"] }}

[certificates.exec]
domains = ["www.exec.test"]
issuer = "{acme}"
sinks = [{{ kind = "files", dir = "{exec_out}" }}]
hooks = {{ pre = ["{hook}"] }}
"#,
        venafi = venafi.url(),
        exec = exec.display(),
        acme = pebble_config.issuer_name(),
        tpp = dir.sink("tpp").path().display(),
        exec_out = dir.sink("exec").path().display(),
        hook = hook.replace('\\', "\\\\"),
    );
    dir.write_config(&toml);

    for format in ["text", "json"] {
        let (code, output) = acmekeep_with(&dir, &[], &["--log-format", format, "--issue"], &[]);
        assert_eq!(code, Some(1), "{format}: both fail\n{output}");
        let raw: Vec<char> = output
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert!(
            raw.is_empty(),
            "{format}: raw control characters {raw:?}:\n{output}"
        );
        assert!(
            !output.lines().any(|line| line.starts_with("forged:")),
            "{format}: a forged line:\n{output}"
        );
        for shown in ["policy says no", "zone is locked", "hook says hi"] {
            assert!(output.contains(shown), "{format}: no {shown:?}:\n{output}");
        }
        assert!(
            !output.contains(&"x".repeat(4_000)),
            "{format}: the 20 000-character error was not cut:\n{output}"
        );
        if format == "text" {
            for escaped in [
                r"\u{1b}]0;pwned\u{7}",
                r"\u{1b}[31mzone is locked",
                r"\u{1b}[2Jhook says hi",
            ] {
                assert!(output.contains(escaped), "no {escaped}:\n{output}");
            }
        }
    }
}

/// Regression (issue 12, item 9): an `http://` URL for an issuer or a provider API sent
/// credentials and certificates in clear text to any host. Plain HTTP is refused unless the
/// host is a loopback address, naming the key and the file, or unless the component says
/// `allow_insecure_http = true`, which is then warned about on every start. The ACME
/// directory is refused by `check` too; the others by the components' own checks, which
/// the run makes (and `check`, once it builds every component).
#[test]
fn plain_http_is_refused_off_loopback_unless_explicitly_allowed() {
    let dir = TestDir::new();
    let config = |directory: &str, allow: &str| {
        format!(
            r#"[daemon]
state_dir = "{state}"
listen_metrics = "127.0.0.1:{metrics}"

[issuers.acme]
kind = "acme"
directory = "{directory}"
{allow}
[issuers.vault]
kind = "vault"
url = "http://vault.example.test:8200"
path = "pki/sign/web"
token = "t"
{allow}
[issuers.tpp]
kind = "venafi"
url = "http://tpp.example.test"
zone = '{VENAFI_ZONE}'
access_token = "t"
{allow}
[issuers.loopback]
kind = "vault"
url = "http://127.0.0.1:8200"
path = "pki/sign/web"
token = "t"

[solvers.pdns]
kind = "dns-01"
provider = "powerdns"
api_url = "http://pdns.example.test:8081"
api_key = "k"
zones = ["pdns.test"]
{allow}
[solvers.cf]
kind = "dns-01"
provider = "cloudflare"
api_url = "http://cf.example.test/client/v4"
api_token = "t"
zones = ["cf.test"]
{allow}
[certificates.acme]
domains = ["www.pdns.test", "www.cf.test"]
issuer = "acme"
sinks = [{{ kind = "files", dir = "{out}/acme" }}]

[certificates.vault]
domains = ["vault.example.test"]
issuer = "vault"
sinks = [{{ kind = "files", dir = "{out}/vault" }}]

[certificates.tpp]
domains = ["tpp.example.test"]
issuer = "tpp"
sinks = [{{ kind = "files", dir = "{out}/tpp" }}]

[certificates.loopback]
domains = ["loopback.example.test"]
issuer = "loopback"
sinks = [{{ kind = "files", dir = "{out}/loopback" }}]
"#,
            state = dir.state_dir().display(),
            metrics = free_port(),
            out = dir.path().join("out").display(),
        )
    };
    let refused = |command: &str, keys: &[&str]| {
        let (code, output) = acmekeep_with(&dir, &[], &[command], &[]);
        assert_eq!(code, Some(2), "{command}\n{output}");
        assert!(
            output.contains(&dir.config_path().display().to_string()),
            "{command}: the file\n{output}"
        );
        for key in keys {
            let line = output
                .lines()
                .find(|line| line.contains(key) && line.contains("is plain http://"))
                .unwrap_or_else(|| panic!("{command}: nothing about {key}\n{output}"));
            assert!(
                line.contains("allow_insecure_http = true"),
                "{command}: {key} does not say how to allow it: {line}"
            );
        }
        assert!(
            !output.contains("issuers.loopback:"),
            "{command}: loopback is fine\n{output}"
        );
    };

    dir.write_config(&config("http://acme.example.test/directory", ""));
    refused("check", &["issuers.acme.directory"]);
    refused("--issue", &["issuers.acme.directory"]);
    dir.write_config(&config("https://127.0.0.1:9/directory", ""));
    refused(
        "--issue",
        &["issuers.vault", "issuers.tpp", "solvers.pdns", "solvers.cf"],
    );

    dir.write_config(&config(
        "http://acme.example.test/directory",
        "allow_insecure_http = true\n",
    ));
    let (code, output) = acmekeep_with(&dir, &[], &["check"], &[]);
    assert_eq!(code, Some(0), "allowed\n{output}");
    let (_, output) = acmekeep_with(&dir, &[], &["--issue", "vault"], &[]);
    for url in [
        "http://acme.example.test/directory",
        "http://vault.example.test:8200",
        "http://tpp.example.test",
        "http://pdns.example.test:8081",
        "http://cf.example.test/client/v4",
    ] {
        assert!(
            output.lines().any(|line| line.contains("WARN")
                && line.contains(url)
                && line.contains("allowed by allow_insecure_http = true")),
            "no warning about {url}\n{output}"
        );
    }
}

/// Regression (issue 12, item 9): the TLS-ALPN-01 listener stayed open for the daemon's
/// whole life after its first challenge, and the process kept a low soft descriptor limit,
/// so a flood of idle connections used up the descriptors that ACME requests and sink
/// writes need. Two certificates (one with three names) issued over TLS-ALPN-01, then a
/// second run: the soft limit is raised to the hard one at start, and once the challenges
/// are cleaned up the port is closed.
#[test]
fn the_tls_alpn_listener_closes_after_its_challenges_and_the_descriptor_limit_is_raised() {
    let dir = TestDir::new();
    let pebble = Pebble::start(&dir, PebbleOptions::default());
    let limits = dir.path().join("limits");
    let pebble_config = Config::for_pebble(&dir, &pebble);
    let mut toml = pebble_config.to_toml();
    let _ = write!(
        toml,
        r#"
[solvers.alpn]
kind = "tls-alpn-01"
listen = "127.0.0.1:{port}"

[certificates.three]
domains = ["a.example.test", "b.example.test", "c.example.test"]
issuer = "{acme}"
solver = "alpn"
sinks = [{{ kind = "files", dir = "{three}" }}]
hooks = {{ deploy = ["ulimit -n >> {limits}"] }}

[certificates.one]
domains = ["d.example.test"]
issuer = "{acme}"
solver = "alpn"
sinks = [{{ kind = "files", dir = "{one}" }}]
"#,
        port = pebble.tls_port(),
        acme = pebble_config.issuer_name(),
        three = dir.sink("three").path().display(),
        one = dir.sink("one").path().display(),
        limits = limits.display(),
    );
    dir.write_config(&toml);

    let (code, output) = acmekeep_with(
        &dir,
        &["prlimit", "--nofile=256:4096", "--"],
        &["--issue"],
        &[],
    );
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(
        fs::read_to_string(&limits)
            .expect("the hook wrote the limit")
            .trim(),
        "4096",
        "the soft limit of open files was not raised to the hard one\n{output}"
    );

    let later = format!(
        "{toml}\n[certificates.later]\ndomains = [\"e.example.test\", \"f.example.test\"]\n\
         issuer = \"{acme}\"\nsolver = \"alpn\"\nsinks = [{{ kind = \"files\", dir = \"{out}\" }}]\n",
        acme = pebble_config.issuer_name(),
        out = dir.sink("later").path().display(),
    );
    dir.write_config(&later);
    let daemon = dir.spawn_daemon();
    daemon.wait_for("issued and deployed", 1, Duration::from_secs(60));
    assert_eq!(
        dir.sink("later").dns_names(),
        ["e.example.test", "f.example.test"]
    );
    if std::net::TcpStream::connect(("127.0.0.1", pebble.tls_port())).is_ok() {
        daemon.fail("the tls-alpn-01 port is still open after the last challenge");
    }
    drop(daemon);
}
