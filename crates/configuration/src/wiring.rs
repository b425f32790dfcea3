//! Turns a validated configuration into issuers, solvers and sinks.

use std::collections::BTreeMap;
use std::sync::Arc;

use acme_core::{AcmeIssuer, Issuer, Sink, Solver};
use dns01::Dns01Solver;
use http01::Http01Solver;
use issuer_ca::CaIssuer;
use issuer_vault::VaultIssuer;
use issuer_venafi::VenafiIssuer;
use sink_files::FilesSink;
use sink_kubernetes::{KubernetesSink, SecretMeta};
use tls_alpn01::TlsAlpn01Solver;

use crate::config::{Config, ConfigError, Problem};
use crate::schema::{IssuerConfig, SinkConfig, SolverKind};
use state::{Journal, Journaled};

/// Whether building the components may create what `generate = true` issuers keep in the
/// state directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GeneratedCa {
    /// Create a missing generated CA: `run` and `--issue`, which hold the state lock.
    Create,
    /// Never write; an issuer whose CA is not created yet is left out of
    /// [`Components::issuers`]: `check`, `status`, `diagnose`, `revoke`.
    Existing,
}

/// Everything a run needs, built once from the configuration.
#[derive(Clone)]
pub struct Components {
    /// Issuers by configured name.
    pub issuers: BTreeMap<String, Arc<dyn Issuer>>,
    /// Solvers by configured name.
    pub solvers: BTreeMap<String, Arc<dyn Solver>>,
    /// Each certificate's sinks, in configured order.
    pub sinks: BTreeMap<String, Vec<Arc<dyn Sink>>>,
    /// The dns-01 solvers again, by name, for `check --online`'s probes.
    pub dns_solvers: BTreeMap<String, Arc<Dns01Solver>>,
}

impl Components {
    /// Lets every issuer write what it keeps for consumers (a local CA's trust bundle);
    /// each failure is logged. False when one failed.
    pub async fn publish(&self) -> bool {
        let mut ok = true;
        for (name, issuer) in &self.issuers {
            if let Err(err) = issuer.publish().await {
                tracing::error!(issuer = %name, error = %err, "cannot publish");
                ok = false;
            }
        }
        ok
    }

    /// Builds every component; a component that refuses its settings is a problem at its key.
    /// This is the one place that checks what the components check: `check` runs it too.
    pub fn build(config: &Config, generated: GeneratedCa) -> Result<Components, ConfigError> {
        let state_dir = &config.daemon.state_dir;
        let mut problems = Vec::new();
        let mut issuers: BTreeMap<String, Arc<dyn Issuer>> = BTreeMap::new();
        for (name, issuer) in &config.issuers {
            let built: Result<Arc<dyn Issuer>, String> = match issuer {
                IssuerConfig::Acme(acme) => AcmeIssuer::new(name.clone(), acme.clone(), state_dir)
                    .map(|i| Arc::new(i) as Arc<dyn Issuer>)
                    .map_err(|e| e.to_string()),
                IssuerConfig::Ca(ca) => {
                    let built = match generated {
                        GeneratedCa::Create => CaIssuer::new(name.clone(), ca.clone(), state_dir),
                        GeneratedCa::Existing => {
                            CaIssuer::open(name.clone(), ca.clone(), state_dir)
                        }
                    };
                    match built {
                        Err(issuer_ca::Error::NotCreated { .. }) => continue,
                        built => built
                            .map(|i| Arc::new(i) as Arc<dyn Issuer>)
                            .map_err(|e| e.to_string()),
                    }
                }
                IssuerConfig::Vault(vault) => {
                    VaultIssuer::new(name.clone(), vault.clone(), state_dir)
                        .map(|i| Arc::new(i) as Arc<dyn Issuer>)
                        .map_err(|e| e.to_string())
                }
                IssuerConfig::Venafi(venafi) => {
                    VenafiIssuer::new(name.clone(), venafi.clone(), state_dir)
                        .map(|i| Arc::new(i) as Arc<dyn Issuer>)
                        .map_err(|e| e.to_string())
                }
            };
            match built {
                Ok(issuer) => {
                    issuers.insert(name.clone(), issuer);
                }
                Err(message) => problems.push(Problem {
                    key: format!("issuers.{name}"),
                    message,
                }),
            }
        }
        let mut solvers: BTreeMap<String, Arc<dyn Solver>> = BTreeMap::new();
        let mut dns_solvers = BTreeMap::new();
        for (name, solver) in &config.solvers {
            let built: Result<Arc<dyn Solver>, String> = match &solver.kind {
                SolverKind::Http01(http) => Http01Solver::new(name.clone(), http.clone())
                    .map_err(|e| e.to_string())
                    .and_then(|solver| match &http.webroot {
                        Some(webroot) if !webroot.is_dir() => Err(format!(
                            "`webroot` {} is not an existing directory; give the document root \
                             of the web server that answers on port 80",
                            webroot.display()
                        )),
                        _ => Ok(journal_webroot(Arc::new(solver), state_dir)),
                    }),
                SolverKind::TlsAlpn01(tls) => {
                    Ok(Arc::new(TlsAlpn01Solver::new(name.clone(), tls.clone()))
                        as Arc<dyn Solver>)
                }
                SolverKind::Dns01 { dns01, provider } => provider.build().and_then(|provider| {
                    let solver = Dns01Solver::new(name.clone(), dns01.clone(), provider)
                        .map(Arc::new)
                        .map_err(|e| e.to_string())?;
                    dns_solvers.insert(name.clone(), Arc::clone(&solver));
                    Ok(Arc::new(Journaled::dns(solver, Journal::new(state_dir)))
                        as Arc<dyn Solver>)
                }),
            };
            match built {
                Ok(solver) => {
                    solvers.insert(name.clone(), solver);
                }
                Err(message) => problems.push(Problem {
                    key: format!("solvers.{name}"),
                    message,
                }),
            }
        }
        let mut sinks = BTreeMap::new();
        for (name, cert) in &config.certificates {
            let mut built: Vec<Arc<dyn Sink>> = Vec::new();
            for (i, sink) in cert.sinks.iter().enumerate() {
                let sink: Result<Arc<dyn Sink>, String> = match sink {
                    SinkConfig::Files(files) => FilesSink::new(files.clone())
                        .map(|s| Arc::new(s) as Arc<dyn Sink>)
                        .map_err(|e| e.to_string()),
                    SinkConfig::Kubernetes(kubernetes) => {
                        let meta = SecretMeta {
                            cert_name: name.clone(),
                            names: cert.domains.clone(),
                            issuer: cert.issuer.clone(),
                        };
                        KubernetesSink::new(kubernetes.clone(), meta)
                            .map(|s| Arc::new(s) as Arc<dyn Sink>)
                            .map_err(|e| e.to_string())
                    }
                };
                match sink {
                    Ok(sink) => built.push(sink),
                    Err(err) => problems.push(Problem {
                        key: format!("certificates.{name}.sinks[{i}]"),
                        message: err.to_string(),
                    }),
                }
            }
            sinks.insert(name.clone(), built);
        }
        if problems.is_empty() {
            Ok(Components {
                issuers,
                solvers,
                sinks,
                dns_solvers,
            })
        } else {
            Err(ConfigError {
                path: config.path.clone(),
                problems,
            })
        }
    }
}

/// An http-01 solver, journaled when it writes token files into a webroot (so the next run
/// removes what a killed one left there).
fn journal_webroot(solver: Arc<Http01Solver>, state_dir: &std::path::Path) -> Arc<dyn Solver> {
    match Journaled::webroot(Arc::clone(&solver), Journal::new(state_dir)) {
        Some(journaled) => Arc::new(journaled),
        None => solver,
    }
}
