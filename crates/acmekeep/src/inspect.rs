//! `acmekeep inspect`: what a certificate file, a files-sink directory, a Kubernetes TLS
//! Secret, a configured certificate's sinks or a live endpoint holds, and what is wrong with
//! it. Reading files, the analysis and the report are crate `cert-inspect`'s; this module
//! turns the arguments into its sources, reads Secrets and prints.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use cert_inspect::{
    Configured, EndpointTarget, InspectReport, StoredChain, StoredKey, load_roots,
    parse_pem_certificates,
};
use clap::{ArgGroup, Args};
use k8s_openapi::api::core::v1::Secret;
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
                print!("{}", report.render_text(SystemTime::now()));
            }
            if report.ok { EXIT_OK } else { EXIT_FAILED }
        }
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

async fn inspect(args: &InspectArgs, config: Option<&Config>) -> Result<InspectReport, String> {
    let roots = load_roots(args.ca_bundle.as_deref()).map_err(|e| e.to_string())?;
    let now = SystemTime::now();
    let mut stored = Vec::new();
    if let Some(path) = &args.file {
        stored.push(
            StoredChain::read_pem_file(path, args.key.as_deref()).map_err(|e| e.to_string())?,
        );
    }
    if let Some(dir) = &args.dir {
        stored.push(StoredChain::read_files_dir(dir).map_err(|e| e.to_string())?);
    }
    if let Some(secret) = &args.secret {
        let cluster = ClusterConfig {
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
        };
        stored.push(read_secret(secret, &cluster).await?);
    }
    let configured = match &args.cert {
        Some(name) => Some(read_configured(name, config, &mut stored).await?),
        None => None,
    };
    let endpoint = match &args.host {
        Some(host) => {
            let (host, port) = split_host_port(host)?;
            let sni = args.sni.clone().unwrap_or_else(|| host.clone());
            Some(EndpointTarget {
                host,
                port,
                sni,
                timeout: args.timeout,
            })
        }
        None => None,
    };
    InspectReport::build(&roots, stored, configured.as_ref(), endpoint.as_ref(), now)
        .await
        .map_err(|e| e.to_string())
}

/// `--cert NAME`: reads every sink of the configured certificate into `stored`.
async fn read_configured(
    name: &str,
    config: Option<&Config>,
    stored: &mut Vec<StoredChain>,
) -> Result<Configured, String> {
    let config = config.ok_or("--cert needs the configuration file")?;
    let cert = config.certificate(name)?;
    for sink in &cert.sinks {
        stored.push(match sink {
            SinkConfig::Files(files) => {
                StoredChain::read_files_dir(&files.dir).map_err(|e| e.to_string())?
            }
            SinkConfig::Kubernetes(kube) => {
                let secret = format!("{}/{}", kube.namespace, kube.secret);
                read_secret(&secret, &kube.cluster).await?
            }
        });
    }
    Ok(Configured {
        name: name.to_string(),
        domains: cert.domains.clone(),
    })
}

/// A kubernetes.io/tls Secret, `NAMESPACE/NAME`: `tls.crt` and `tls.key`.
async fn read_secret(secret: &str, cluster: &ClusterConfig) -> Result<StoredChain, String> {
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
    Ok(StoredChain {
        source: format!("kubernetes:{namespace}/{name}"),
        read_from,
        certs,
        key: key.map_or(StoredKey::Absent, StoredKey::Pem),
    })
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
}
