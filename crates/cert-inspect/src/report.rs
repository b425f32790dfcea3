//! The report of `acmekeep inspect`: stored chains and a live endpoint, analyzed together.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::{
    CertSummary, ChainReport, Error, Problem, ProblemKind, Roots, StoredChain, StoredKey,
    analyze_chain, check_key, compare_served, fetch_served_chain,
};

/// A configured certificate whose stores are inspected: the names its deployed leaf must
/// cover.
#[derive(Clone, Debug)]
pub struct Configured {
    /// Its name in the configuration.
    pub name: String,
    /// The domains configured for it.
    pub domains: Vec<String>,
}

/// A live endpoint to inspect.
#[derive(Clone, Debug)]
pub struct EndpointTarget {
    /// The host name or IP address to connect to.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The name to send as SNI and check the served leaf against.
    pub sni: String,
    /// How long connecting and the TLS handshake may take.
    pub timeout: Duration,
}

/// Everything `inspect` found: also its JSON document (field names are stable, see
/// docs/troubleshooting.md).
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The trust anchors chains were verified against.
    pub trust_anchors: TrustAnchors,
    /// Each stored source inspected (one, or one per sink of a configured certificate).
    pub stored: Vec<StoredReport>,
    /// The live endpoint, when one was inspected.
    pub endpoint: Option<EndpointReport>,
    /// Every problem, from all of the above.
    pub problems: Vec<Finding>,
    /// Whether there is no problem.
    pub ok: bool,
}

/// Which trust anchors chains were verified against.
#[derive(Debug, Serialize)]
pub struct TrustAnchors {
    /// Where they come from (a CA bundle or the system store).
    pub source: String,
    /// How many there are.
    pub count: usize,
}

/// One stored source and what was found in it.
#[derive(Debug, Serialize)]
pub struct StoredReport {
    /// `file:PATH`, `files:DIR` or `kubernetes:NS/NAME`.
    pub source: String,
    /// The files or Secret keys the chain and key were read from.
    pub read_from: Vec<String>,
    /// The analysis of its chain.
    pub chain: ChainReport,
    /// Whether its private key belongs to the leaf.
    pub key: KeyStatus,
}

/// The private key stored beside a chain.
#[derive(Debug, Serialize)]
pub struct KeyStatus {
    /// Whether a private key was found next to the certificate.
    pub present: bool,
    /// Whether it is the certificate's key (`null` when absent or unreadable).
    pub matches: Option<bool>,
    /// Why it could not be checked (e.g. permission denied).
    pub note: Option<String>,
}

/// A live endpoint and what it serves.
#[derive(Debug, Serialize)]
pub struct EndpointReport {
    /// `HOST:PORT`.
    pub address: String,
    /// The name sent as SNI and checked against the served certificate.
    pub sni: String,
    /// The analysis of the chain it serves.
    pub chain: ChainReport,
    /// For each stored source: whether the endpoint serves the same leaf (SHA-256).
    pub same_as_stored: Vec<SameAs>,
}

/// Whether an endpoint serves the leaf one stored source holds.
#[derive(Debug, Serialize)]
pub struct SameAs {
    /// The stored source.
    pub source: String,
    /// Whether the leaves are the same certificate.
    pub same: bool,
}

/// One problem and where it was found.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// The stored source or endpoint the problem was found in.
    pub source: String,
    /// The kind, for machines.
    pub kind: ProblemKind,
    /// The explanation, for people.
    pub message: String,
}

impl InspectReport {
    /// Analyzes each `stored` chain (and whether its leaf covers the domains of
    /// `configured`) and, with `endpoint`, the chain it serves and whether it is the stored
    /// leaf, against `roots` at `now`.
    pub async fn build(
        roots: &Roots,
        stored: Vec<StoredChain>,
        configured: Option<&Configured>,
        endpoint: Option<&EndpointTarget>,
        now: SystemTime,
    ) -> Result<InspectReport, Error> {
        let mut problems = Vec::new();
        let mut reports = Vec::new();
        for chain in stored {
            let (report, found) = stored_report(chain, roots, configured, now)?;
            problems.extend(findings(&report.source, found));
            reports.push(report);
        }
        let endpoint = match endpoint {
            Some(target) => {
                let (report, label, found) = endpoint_report(target, roots, &reports, now).await?;
                problems.extend(findings(&label, found));
                Some(report)
            }
            None => None,
        };
        Ok(InspectReport {
            trust_anchors: TrustAnchors {
                source: roots.source().to_string(),
                count: roots.len(),
            },
            stored: reports,
            endpoint,
            ok: problems.is_empty(),
            problems,
        })
    }
}

/// The report of one stored chain, and every problem found in it.
fn stored_report(
    stored: StoredChain,
    roots: &Roots,
    configured: Option<&Configured>,
    now: SystemTime,
) -> Result<(StoredReport, Vec<Problem>), Error> {
    let within = |error| Error::Within {
        what: stored.source.clone(),
        error: Box::new(error),
    };
    let chain = analyze_chain(&stored.certs, roots, None, now).map_err(within)?;
    let mut found = chain.problems.clone();
    let key = key_status(&stored, &mut found).map_err(within)?;
    if let (Some(leaf), Some(configured)) = (chain.leaf(), configured) {
        found.extend(uncovered(leaf, configured));
    }
    let report = StoredReport {
        source: stored.source,
        read_from: stored.read_from,
        chain,
        key,
    };
    Ok((report, found))
}

/// Whether the stored key belongs to the leaf; a mismatch or an unreadable key is added to
/// `found`.
fn key_status(stored: &StoredChain, found: &mut Vec<Problem>) -> Result<KeyStatus, Error> {
    let key_pem = match &stored.key {
        StoredKey::Absent => {
            return Ok(KeyStatus {
                present: false,
                matches: None,
                note: None,
            });
        }
        StoredKey::Unreadable(note) => {
            return Ok(KeyStatus {
                present: true,
                matches: None,
                note: Some(note.clone()),
            });
        }
        StoredKey::Pem(pem) => pem,
    };
    let leaf = stored.certs.first().ok_or_else(|| Error::NoCertificate {
        what: "the chain".to_string(),
    })?;
    let problem = check_key(leaf, key_pem, &key_label(&stored.read_from))?;
    let matches = match &problem {
        None => Some(true),
        Some(problem) => (problem.kind == ProblemKind::KeyMismatch).then_some(false),
    };
    found.extend(problem);
    Ok(KeyStatus {
        present: true,
        matches,
        note: None,
    })
}

/// How messages name the key: the file or Secret key it was read from.
fn key_label(read_from: &[String]) -> String {
    read_from
        .iter()
        .find(|f| f.contains("key"))
        .cloned()
        .unwrap_or_else(|| "the private key".to_string())
}

/// A problem for each configured domain the deployed leaf does not cover.
fn uncovered(leaf: &CertSummary, configured: &Configured) -> Vec<Problem> {
    configured
        .domains
        .iter()
        .filter(|name| !leaf.covers(name))
        .map(|name| {
            Problem::new(
                ProblemKind::NameNotCovered,
                format!(
                    "the configured domain {name} is not among the deployed certificate's \
                     names ({}): issue it again with `acmekeep --issue {} --force`",
                    leaf.names.join(", "),
                    configured.name
                ),
            )
        })
        .collect()
}

/// The report of a live endpoint, how problems name it, and every problem found in what it
/// serves (compared with each stored leaf).
async fn endpoint_report(
    target: &EndpointTarget,
    roots: &Roots,
    stored: &[StoredReport],
    now: SystemTime,
) -> Result<(EndpointReport, String, Vec<Problem>), Error> {
    let EndpointTarget {
        host,
        port,
        sni,
        timeout,
    } = target;
    let served = fetch_served_chain(host, *port, sni, *timeout).await?;
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let label = format!("{address} (SNI {sni})");
    let chain = analyze_chain(&served, roots, Some(sni), now).map_err(|error| Error::Within {
        what: label.clone(),
        error: Box::new(error),
    })?;
    let mut found = chain.problems.clone();
    let mut same_as_stored = Vec::new();
    for stored in stored {
        if let (Some(served_leaf), Some(stored_leaf)) = (chain.leaf(), stored.chain.leaf()) {
            let problem = compare_served(served_leaf, stored_leaf, "the endpoint", &stored.source);
            same_as_stored.push(SameAs {
                source: stored.source.clone(),
                same: problem.is_none(),
            });
            found.extend(problem);
        }
    }
    let report = EndpointReport {
        address,
        sni: sni.clone(),
        chain,
        same_as_stored,
    };
    Ok((report, label, found))
}

fn findings(source: &str, problems: Vec<Problem>) -> impl Iterator<Item = Finding> + '_ {
    problems.into_iter().map(move |p| Finding {
        source: source.to_string(),
        kind: p.kind,
        message: p.message,
    })
}
