//! `acmekeep inspect`: what a certificate file, a files-sink directory, a Kubernetes TLS
//! Secret, a configured certificate's sinks or a live endpoint holds, and what is wrong with
//! it. The analysis is crate `cert-inspect`'s; this module reads the sources and prints.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use cert_inspect::{
    ChainReport, Problem, ProblemKind, analyze_chain, check_key, compare_served,
    fetch_served_chain, load_roots, parse_pem_certificates,
};
use clap::{ArgGroup, Args};
use k8s_openapi::api::core::v1::Secret;
use rustls::pki_types::CertificateDer;
use serde::Serialize;
use sink_kubernetes::{ApiCall, ClusterConfig};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use configuration::{Config, SinkConfig};

/// `acmekeep inspect` arguments: one stored source and/or a live endpoint.
#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("source")
        .args(["file", "dir", "secret", "cert", "host"])
        .required(true)
        .multiple(true)
))]
#[command(group(ArgGroup::new("stored").args(["file", "dir", "secret", "cert"])))]
pub struct InspectArgs {
    /// A PEM file: a certificate, optionally followed by its chain and a private key.
    #[arg(long, value_name = "PEM")]
    pub file: Option<PathBuf>,
    /// With --file: the private key, when it is not in the PEM file itself.
    #[arg(long, value_name = "FILE", requires = "file")]
    pub key: Option<PathBuf>,
    /// A files-sink directory (fullchain.pem or cert.pem + chain.pem, privkey.pem).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// A kubernetes.io/tls Secret, as NAMESPACE/NAME.
    #[arg(long, value_name = "NS/NAME")]
    pub secret: Option<String>,
    /// With --secret: a kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster service account).
    #[arg(long, value_name = "PATH", requires = "secret")]
    pub kubeconfig: Option<PathBuf>,
    /// With --secret: the kubeconfig's context to use (default: its current one).
    #[arg(long, value_name = "NAME", requires = "secret")]
    pub context: Option<String>,
    /// A configured certificate: every one of its sinks, from the configuration file.
    #[arg(long = "cert", value_name = "NAME")]
    pub cert: Option<String>,
    /// A live endpoint, HOST[:PORT] (port 443 by default; [IPv6]:PORT).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Option<String>,
    /// With --host: the server name to send (SNI) and check the certificate against (default: HOST).
    #[arg(long, value_name = "NAME", requires = "host")]
    pub sni: Option<String>,
    /// Trust anchors to verify chains against, instead of the system trust store.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// With --host: how long connecting and the TLS handshake may take.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Everything `inspect` found: the JSON document (field names are stable, see
/// docs/troubleshooting.md).
#[derive(Debug, Serialize)]
struct Report {
    /// The trust anchors chains were verified against.
    trust_anchors: Anchors,
    /// Each stored source inspected (one, or one per sink with --cert).
    stored: Vec<Stored>,
    /// The live endpoint, with --host.
    endpoint: Option<Endpoint>,
    /// Every problem, from all of the above.
    problems: Vec<Finding>,
    /// Whether there is no problem.
    ok: bool,
}

#[derive(Debug, Serialize)]
struct Anchors {
    source: String,
    count: usize,
}

#[derive(Debug, Serialize)]
struct Stored {
    /// `file:PATH`, `files:DIR` or `kubernetes:NS/NAME`.
    source: String,
    /// The files or Secret keys the chain and key were read from.
    read_from: Vec<String>,
    chain: ChainReport,
    key: KeyStatus,
}

#[derive(Debug, Serialize)]
struct KeyStatus {
    /// Whether a private key was found next to the certificate.
    present: bool,
    /// Whether it is the certificate's key (`null` when absent or unreadable).
    matches: Option<bool>,
    /// Why it could not be checked (e.g. permission denied).
    note: Option<String>,
}

#[derive(Debug, Serialize)]
struct Endpoint {
    /// `HOST:PORT`.
    address: String,
    /// The name sent as SNI and checked against the served certificate.
    sni: String,
    chain: ChainReport,
    /// For each stored source: whether the endpoint serves the same leaf (SHA-256).
    same_as_stored: Vec<SameAs>,
}

#[derive(Debug, Serialize)]
struct SameAs {
    source: String,
    same: bool,
}

#[derive(Debug, Serialize)]
struct Finding {
    /// The stored source or endpoint the problem was found in.
    source: String,
    kind: ProblemKind,
    message: String,
}

/// Runs `inspect`; `config` is loaded by the caller only for `--cert`.
pub async fn run(args: &InspectArgs, config: Option<&Config>) -> u8 {
    match inspect(args, config).await {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(err) => {
                        eprintln!("error: cannot render JSON: {err}");
                        return EXIT_USAGE;
                    }
                }
            } else {
                print!("{}", render(&report, SystemTime::now()));
            }
            if report.ok { EXIT_OK } else { EXIT_FAILED }
        }
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

/// A certificate chain and maybe a key, as read from one source.
struct Material {
    source: String,
    read_from: Vec<String>,
    certs: Vec<CertificateDer<'static>>,
    key: Result<Option<String>, String>,
}

async fn inspect(args: &InspectArgs, config: Option<&Config>) -> Result<Report, String> {
    let roots = load_roots(args.ca_bundle.as_deref()).map_err(|e| e.to_string())?;
    let now = SystemTime::now();
    let mut materials = Vec::new();
    let mut wanted_names: Vec<String> = Vec::new();
    if let Some(path) = &args.file {
        materials.push(read_file(path, args.key.as_deref())?);
    }
    if let Some(dir) = &args.dir {
        materials.push(read_dir(dir)?);
    }
    if let Some(secret) = &args.secret {
        let cluster = ClusterConfig {
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
        };
        materials.push(read_secret(secret, &cluster).await?);
    }
    if let Some(name) = &args.cert {
        let config = config.ok_or("--cert needs the configuration file")?;
        let cert = config.certificate(name)?;
        wanted_names.clone_from(&cert.domains);
        for sink in &cert.sinks {
            materials.push(match sink {
                SinkConfig::Files(files) => read_dir(&files.dir)?,
                SinkConfig::Kubernetes(kube) => {
                    let secret = format!("{}/{}", kube.namespace, kube.secret);
                    read_secret(&secret, &kube.cluster).await?
                }
            });
        }
    }

    let mut problems = Vec::new();
    let mut stored = Vec::new();
    for material in materials {
        let chain = analyze_chain(&material.certs, &roots, None, now)
            .map_err(|e| format!("{}: {e}", material.source))?;
        let mut found = chain.problems.clone();
        let key = match material.key {
            Ok(None) => KeyStatus {
                present: false,
                matches: None,
                note: None,
            },
            Err(note) => KeyStatus {
                present: true,
                matches: None,
                note: Some(note),
            },
            Ok(Some(key_pem)) => {
                let what = key_label(&material.read_from);
                let leaf = material
                    .certs
                    .first()
                    .ok_or_else(|| format!("{}: no certificate", material.source))?;
                match check_key(leaf, &key_pem, &what)
                    .map_err(|e| format!("{}: {e}", material.source))?
                {
                    None => KeyStatus {
                        present: true,
                        matches: Some(true),
                        note: None,
                    },
                    Some(problem) => {
                        let status = KeyStatus {
                            present: true,
                            matches: (problem.kind == ProblemKind::KeyMismatch).then_some(false),
                            note: None,
                        };
                        found.push(problem);
                        status
                    }
                }
            }
        };
        if let Some(leaf) = chain.leaf() {
            for name in &wanted_names {
                if !leaf.covers(name) {
                    found.push(Problem::new(
                        ProblemKind::NameNotCovered,
                        format!(
                            "the configured domain {name} is not among the deployed \
                             certificate's names ({}): issue it again with `acmekeep --issue {} \
                             --force`",
                            leaf.names.join(", "),
                            args.cert.as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        problems.extend(found.into_iter().map(|p| Finding {
            source: material.source.clone(),
            kind: p.kind,
            message: p.message,
        }));
        stored.push(Stored {
            source: material.source,
            read_from: material.read_from,
            chain,
            key,
        });
    }

    let endpoint = match &args.host {
        Some(host) => {
            let (host, port) = split_host_port(host)?;
            let sni = args.sni.clone().unwrap_or_else(|| host.clone());
            let served = fetch_served_chain(&host, port, &sni, args.timeout)
                .await
                .map_err(|e| e.to_string())?;
            let address = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let label = format!("{address} (SNI {sni})");
            let chain = analyze_chain(&served, &roots, Some(&sni), now)
                .map_err(|e| format!("{label}: {e}"))?;
            let mut found = chain.problems.clone();
            let mut same_as_stored = Vec::new();
            if let Some(served_leaf) = chain.leaf() {
                for stored in &stored {
                    if let Some(stored_leaf) = stored.chain.leaf() {
                        let problem = compare_served(
                            served_leaf,
                            stored_leaf,
                            "the endpoint",
                            &stored.source,
                        );
                        same_as_stored.push(SameAs {
                            source: stored.source.clone(),
                            same: problem.is_none(),
                        });
                        found.extend(problem);
                    }
                }
            }
            problems.extend(found.into_iter().map(|p| Finding {
                source: label.clone(),
                kind: p.kind,
                message: p.message,
            }));
            Some(Endpoint {
                address,
                sni,
                chain,
                same_as_stored,
            })
        }
        None => None,
    };
    Ok(Report {
        trust_anchors: Anchors {
            source: roots.source().to_string(),
            count: roots.len(),
        },
        stored,
        endpoint,
        ok: problems.is_empty(),
        problems,
    })
}

fn key_label(read_from: &[String]) -> String {
    read_from
        .iter()
        .find(|f| f.contains("key"))
        .cloned()
        .unwrap_or_else(|| "the private key".to_string())
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_file(path: &Path, key: Option<&Path>) -> Result<Material, String> {
    let text = read_text(path)?;
    let label = path.display().to_string();
    let certs = parse_pem_certificates(&text, &label).map_err(|e| e.to_string())?;
    let mut read_from = vec![label];
    let key = match key {
        Some(key_path) => {
            read_from.push(key_path.display().to_string());
            read_text(key_path).map(Some)?
        }
        None => private_key_block(&text),
    };
    Ok(Material {
        source: format!("file:{}", path.display()),
        read_from,
        certs,
        key: Ok(key),
    })
}

/// A files-sink directory: `fullchain.pem` (what servers send), else `cert.pem` and
/// `chain.pem`; `privkey.pem` when present.
fn read_dir(dir: &Path) -> Result<Material, String> {
    let mut read_from = Vec::new();
    let mut read = |name: &str| -> Result<Option<String>, String> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        read_from.push(path.display().to_string());
        read_text(&path).map(Some)
    };
    let pem = match read("fullchain.pem")? {
        Some(fullchain) => fullchain,
        None => match read("cert.pem")? {
            Some(mut cert) => {
                if let Some(chain) = read("chain.pem")? {
                    if !cert.ends_with('\n') {
                        cert.push('\n');
                    }
                    cert.push_str(&chain);
                }
                cert
            }
            None => {
                return Err(format!(
                    "{} holds neither fullchain.pem nor cert.pem: is it a files sink directory, \
                     and has a certificate been issued yet?",
                    dir.display()
                ));
            }
        },
    };
    let label = read_from.join(" + ");
    let certs = parse_pem_certificates(&pem, &label).map_err(|e| e.to_string())?;
    let key_path = dir.join("privkey.pem");
    let key = if key_path.exists() {
        read_from.push(key_path.display().to_string());
        std::fs::read_to_string(&key_path)
            .map(Some)
            .map_err(|e| format!("cannot read {}: {e}", key_path.display()))
    } else {
        Ok(None)
    };
    Ok(Material {
        source: format!("files:{}", dir.display()),
        read_from,
        certs,
        key,
    })
}

async fn read_secret(secret: &str, cluster: &ClusterConfig) -> Result<Material, String> {
    let Some((namespace, name)) = secret
        .split_once('/')
        .filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
    else {
        return Err(format!(
            "--secret {secret:?}: expected NAMESPACE/NAME, e.g. `app/web-tls`"
        ));
    };
    let connected = cluster.connect().await.map_err(|e| e.to_string())?;
    let api: kube::Api<Secret> = kube::Api::namespaced(connected.client(), namespace);
    let call = ApiCall {
        verb: "get",
        resource: "secrets",
        group: "",
        namespace,
        name,
    };
    let found = api
        .get_opt(name)
        .await
        .map_err(|e| call.error(e, connected.url()).to_string())?
        .ok_or_else(|| format!("Secret {namespace}/{name} not found in {}", connected.url()))?;
    let data = found.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .filter(|bytes| !bytes.0.is_empty())
            .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned())
    };
    let label = format!("Secret {namespace}/{name} `tls.crt`");
    let pem = text("tls.crt").ok_or_else(|| {
        format!(
            "Secret {namespace}/{name} has no `tls.crt` (type {}): is it a kubernetes.io/tls Secret?",
            found.type_.as_deref().unwrap_or("Opaque")
        )
    })?;
    let certs = parse_pem_certificates(&pem, &label).map_err(|e| e.to_string())?;
    let key = text("tls.key");
    let mut read_from = vec!["tls.crt".to_string()];
    if key.is_some() {
        read_from.push("tls.key".to_string());
    }
    Ok(Material {
        source: format!("kubernetes:{namespace}/{name}"),
        read_from,
        certs,
        key: Ok(key),
    })
}

/// The first `-----BEGIN … PRIVATE KEY-----` block of a PEM text, if any.
fn private_key_block(text: &str) -> Option<String> {
    let mut block = String::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim_end();
        if !inside && line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----") {
            inside = true;
        }
        if inside {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                return Some(block);
            }
        }
    }
    None
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; port 443 by default.
fn split_host_port(value: &str) -> Result<(String, u16), String> {
    let bad =
        |why: &str| format!("--host {value:?}: {why}; expected HOST[:PORT], e.g. example.com:443");
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("no closing `]`"))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("unexpected text after `]`")),
        }
    } else if value.matches(':').count() > 1 {
        (value, None)
    } else {
        match value.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
        None => 443,
    };
    Ok((host.to_string(), port))
}

/// The human-readable report.
fn render(report: &Report, now: SystemTime) -> String {
    let mut out = String::new();
    for stored in &report.stored {
        let _ = writeln!(out, "{}", stored.source);
        let _ = writeln!(out, "  read from    {}", stored.read_from.join(", "));
        render_chain(&mut out, &stored.chain, &report.trust_anchors, now);
        let key = match (&stored.key.note, stored.key.present, stored.key.matches) {
            (Some(note), _, _) => format!("not checked: {note}"),
            (None, false, _) => "none found (give one with --key)".to_string(),
            (None, true, Some(true)) => "matches the certificate".to_string(),
            (None, true, Some(false)) => "DOES NOT MATCH the certificate".to_string(),
            (None, true, None) => "unreadable".to_string(),
        };
        let _ = writeln!(out, "  private key  {key}\n");
    }
    if let Some(endpoint) = &report.endpoint {
        let _ = writeln!(out, "endpoint {} (SNI {})", endpoint.address, endpoint.sni);
        render_chain(&mut out, &endpoint.chain, &report.trust_anchors, now);
        for same in &endpoint.same_as_stored {
            let verdict = if same.same {
                "serves the same certificate as"
            } else {
                "SERVES ANOTHER CERTIFICATE than"
            };
            let _ = writeln!(out, "  stored       {verdict} {}", same.source);
        }
        out.push('\n');
    }
    if report.problems.is_empty() {
        out.push_str("ok: no problem found\n");
    } else {
        let _ = writeln!(out, "{} problem(s):", report.problems.len());
        for problem in &report.problems {
            let _ = writeln!(out, "  - {}: {}", problem.source, problem.message);
        }
    }
    out
}

fn render_chain(out: &mut String, chain: &ChainReport, anchors: &Anchors, now: SystemTime) {
    let time = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    if let Some(leaf) = chain.leaf() {
        let _ = writeln!(out, "  subject      {}", leaf.subject);
        let _ = writeln!(out, "  issuer       {}", leaf.issuer);
        let _ = writeln!(out, "  serial       {}", leaf.serial);
        let _ = writeln!(out, "  not before   {}", time(leaf.not_before));
        let _ = writeln!(
            out,
            "  not after    {} ({})",
            time(leaf.not_after),
            leaf.time_left(now)
        );
        let _ = writeln!(out, "  names        {}", leaf.names.join(", "));
        let _ = writeln!(out, "  key          {}", leaf.key);
        let _ = writeln!(out, "  sha256       {}", leaf.sha256);
    }
    if let Some(name) = &chain.name {
        let verdict = if name.covered {
            "covered"
        } else {
            "NOT COVERED"
        };
        let _ = writeln!(out, "  name         {} {verdict}", name.name);
    }
    let _ = writeln!(out, "  chain        {} certificate(s)", chain.certs.len());
    for (i, cert) in chain.certs.iter().enumerate() {
        let _ = writeln!(out, "    [{i}] {}", cert.cert.subject);
        let link = match cert.signed_by_next {
            Some(true) => format!(", signed by [{}]", i + 1),
            Some(false) => format!(", NOT signed by [{}]", i + 1),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "        issuer {}, not after {}{link}",
            cert.cert.issuer,
            time(cert.cert.not_after)
        );
    }
    let trust = match &chain.trusted_by {
        Some(anchor) => format!("complete: ends at the trust anchor {anchor}"),
        None => "INCOMPLETE: no path to a trust anchor".to_string(),
    };
    let _ = writeln!(
        out,
        "  trust        {trust} ({}, {} anchors)",
        anchors.source, anchors.count
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_split_with_443_by_default() {
        let ok = |v: &str| split_host_port(v).expect(v);
        assert_eq!(ok("example.com"), ("example.com".into(), 443));
        assert_eq!(ok("example.com:8443"), ("example.com".into(), 8443));
        assert_eq!(ok("[::1]:8443"), ("::1".into(), 8443));
        assert_eq!(ok("[::1]"), ("::1".into(), 443));
        assert_eq!(ok("::1"), ("::1".into(), 443));
        for bad in ["example.com:x", "example.com:0", ":443", "[::1"] {
            let err = split_host_port(bad).expect_err(bad);
            assert!(err.contains("expected HOST[:PORT]"), "{err}");
        }
    }

    #[test]
    fn the_private_key_block_is_found_among_certificates() {
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(
            private_key_block(text).as_deref(),
            Some("-----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----\n")
        );
        assert_eq!(private_key_block("-----BEGIN CERTIFICATE-----\n"), None);
    }
}
