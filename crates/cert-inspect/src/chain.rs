use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use x509_parser::prelude::X509Certificate;

use crate::summary::parse;
use crate::{CertSummary, Error, Problem, ProblemKind, Roots};

/// One certificate of a chain, as found or served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainCert {
    /// What it is.
    #[serde(flatten)]
    pub cert: CertSummary,
    /// Seconds until its not-after at the time of the analysis, negative once expired.
    pub seconds_left: i64,
    /// Whether its signature verifies with the next certificate's key; `None` for the last.
    pub signed_by_next: Option<bool>,
}

/// Whether a chain leads to a trust anchor, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// The certificates in the order found or served; the first is the leaf.
    pub certs: Vec<ChainCert>,
    /// Whether a path from the leaf to a trust anchor exists, using only the certificates
    /// of the chain as intermediates (checked at a time inside the leaf's validity, so an
    /// expired leaf does not hide a missing intermediate).
    pub complete: bool,
    /// The subject of the trust anchor the path ends at, when complete.
    pub trusted_by: Option<String>,
    /// The name checked against the leaf, when one was given.
    pub name: Option<NameCheck>,
    /// Everything found wrong: validity, chain, name. Empty when all is well.
    pub problems: Vec<Problem>,
}

/// Whether the leaf is valid for a name clients use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NameCheck {
    /// The name (a DNS name or an IP address).
    pub name: String,
    /// Whether the leaf's subjectAltName covers it (wildcards included, as TLS clients match).
    pub covered: bool,
}

impl ChainReport {
    /// The leaf (always there in a report from [`analyze_chain`], which refuses an empty chain).
    pub fn leaf(&self) -> Option<&CertSummary> {
        self.certs.first().map(|c| &c.cert)
    }
}

/// Analyzes a chain (leaf first) against `roots` at `now`: each certificate's summary, whether
/// each is signed by the next, whether the leaf is expired or not yet valid, whether the
/// chain is complete up to a trust anchor or which intermediate is missing, and, with
/// `name`, whether the leaf covers it. Verification is rustls-webpki's, with rustls's
/// aws-lc-rs algorithms, for the server-authentication usage.
pub fn analyze_chain(
    certs: &[CertificateDer<'_>],
    roots: &Roots,
    name: Option<&str>,
    now: SystemTime,
) -> Result<ChainReport, Error> {
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            what: "the chain".into(),
        });
    }
    let label = |i: usize| format!("certificate {} of the chain", i + 1);
    let parsed = certs
        .iter()
        .enumerate()
        .map(|(i, der)| parse(der, &label(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut chain = Vec::with_capacity(certs.len());
    for (i, der) in certs.iter().enumerate() {
        let cert = CertSummary::from_der(der, &label(i))?;
        chain.push(ChainCert {
            seconds_left: cert.seconds_left(now),
            signed_by_next: parsed
                .get(i + 1)
                .map(|next| parsed[i].verify_signature(Some(next.public_key())).is_ok()),
            cert,
        });
    }
    let mut problems = Vec::new();
    let leaf = &chain[0].cert;
    if leaf.not_after < now {
        problems.push(Problem::new(
            ProblemKind::Expired,
            format!(
                "the certificate for {} {} (not after {}): deploy a renewed one",
                names_or_subject(leaf),
                leaf.time_left(now),
                crate::summary::format_time(leaf.not_after)
            ),
        ));
    } else if leaf.not_before > now {
        problems.push(Problem::new(
            ProblemKind::NotYetValid,
            format!(
                "the certificate for {} is not valid before {}: check this machine's clock",
                names_or_subject(leaf),
                crate::summary::format_time(leaf.not_before)
            ),
        ));
    }
    // Not `clamp`: a certificate may claim a not-before after its not-after, and clamp
    // panics on such a range (the path is then checked at the not-after).
    let at = now.max(leaf.not_before).min(leaf.not_after);
    let (trusted_by, chain_problem) = verify_path(certs, &parsed, &chain, roots, at);
    problems.extend(chain_problem);
    let name = match name {
        Some(name) => {
            let covered = covers(&certs[0], name)?;
            if !covered {
                problems.push(Problem::new(
                    ProblemKind::NameNotCovered,
                    format!(
                        "{name} is not among the certificate's names ({}): clients asking for \
                         {name} reject it; add {name} to the certificate's domains or serve \
                         another certificate for it",
                        leaf.names.join(", ")
                    ),
                ));
            }
            Some(NameCheck {
                name: name.to_string(),
                covered,
            })
        }
        None => None,
    };
    Ok(ChainReport {
        certs: chain,
        complete: trusted_by.is_some(),
        trusted_by,
        name,
        problems,
    })
}

/// Path building by rustls-webpki; on failure, says which link is missing.
fn verify_path(
    certs: &[CertificateDer<'_>],
    parsed: &[X509Certificate<'_>],
    chain: &[ChainCert],
    roots: &Roots,
    at: SystemTime,
) -> (Option<String>, Option<Problem>) {
    let invalid = |reason: String| {
        Some(Problem::new(
            ProblemKind::InvalidChain,
            format!("the chain does not verify: {reason}"),
        ))
    };
    let leaf = match webpki::EndEntityCert::try_from(&certs[0]) {
        Ok(leaf) => leaf,
        Err(e) => return (None, invalid(format!("the leaf is unusable: {e}"))),
    };
    let algorithms = rustls::crypto::aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .all;
    let time = UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or_default());
    let verified = leaf.verify_for_usage(
        algorithms,
        roots.anchors(),
        &certs[1..],
        time,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    match verified {
        Ok(path) => (
            Some(
                roots
                    .subject_of(path.anchor())
                    .unwrap_or("a trust anchor")
                    .to_string(),
            ),
            None,
        ),
        Err(webpki::Error::UnknownIssuer) => (None, Some(missing_link(parsed, chain, roots))),
        Err(webpki::Error::CertExpired { .. }) => {
            match chain.iter().skip(1).find(|c| c.cert.not_after < at) {
                Some(expired) => (
                    None,
                    Some(Problem::new(
                        ProblemKind::Expired,
                        format!(
                            "the chain certificate {} expired at {}: deploy the chain the CA \
                             serves now",
                            expired.cert.subject,
                            crate::summary::format_time(expired.cert.not_after)
                        ),
                    )),
                ),
                None => (
                    None,
                    invalid("a certificate of the path has expired".into()),
                ),
            }
        }
        Err(webpki::Error::CaUsedAsEndEntity) => (
            None,
            invalid(
                "the first certificate is a CA certificate (basicConstraints CA:TRUE), not a \
                 server certificate: TLS clients refuse it as a leaf; a self-signed certificate \
                 made with `openssl req -x509` is one — issue a server certificate instead"
                    .into(),
            ),
        ),
        Err(webpki::Error::InvalidSignatureForPublicKey) => (
            None,
            invalid(
                "a signature does not verify with the key of the certificate named as its \
                 issuer: an intermediate or trust anchor has the same name but another key \
                 (a re-created CA, or a chain from another issuance)"
                    .into(),
            ),
        ),
        Err(e) => (None, invalid(format!("{e:?}"))),
    }
}

/// Follows the chain from the leaf while each certificate is signed by the next, and explains
/// where it stops.
fn missing_link(parsed: &[X509Certificate<'_>], chain: &[ChainCert], roots: &Roots) -> Problem {
    let top = chain
        .iter()
        .position(|c| c.signed_by_next != Some(true))
        .unwrap_or(chain.len() - 1);
    let last = &chain[top].cert;
    let self_signed = last.subject == last.issuer && parsed[top].verify_signature(None).is_ok();
    if self_signed {
        Problem::new(
            ProblemKind::UntrustedRoot,
            format!(
                "the chain ends at the root {}, which is not a trusted root (trust anchors: {}, \
                 {} certificates): clients will reject it unless they trust that CA; check \
                 --ca-bundle, or the issuer",
                last.subject,
                roots.source(),
                roots.len()
            ),
        )
    } else if top == 0 {
        Problem::new(
            ProblemKind::MissingIntermediate,
            format!(
                "the chain ends at {}, issued by {}, which is not a trusted root and was not \
                 sent: the intermediate {} is missing (trust anchors: {}); deliver the full \
                 chain (fullchain.pem, or tls.crt with the intermediates after the leaf)",
                last.subject,
                last.issuer,
                last.issuer,
                roots.source()
            ),
        )
    } else {
        Problem::new(
            ProblemKind::MissingIntermediate,
            format!(
                "the chain ends at {}, issued by {}, which is not a trusted root and was not \
                 sent: either {} is a root these trust anchors lack ({}: check --ca-bundle) or \
                 the intermediate {} is missing from the chain",
                last.subject,
                last.issuer,
                last.issuer,
                roots.source(),
                last.issuer
            ),
        )
    }
}

/// Whether the leaf is valid for `name`, as a TLS client checks it.
fn covers(leaf: &CertificateDer<'_>, name: &str) -> Result<bool, Error> {
    let server_name = ServerName::try_from(name).map_err(|_| Error::ServerName {
        name: name.to_string(),
    })?;
    let leaf = webpki::EndEntityCert::try_from(leaf).map_err(|e| Error::Certificate {
        what: "the leaf".into(),
        reason: e.to_string(),
    })?;
    Ok(leaf.verify_is_valid_for_subject_name(&server_name).is_ok())
}

fn names_or_subject(cert: &CertSummary) -> String {
    if cert.names.is_empty() {
        cert.subject.clone()
    } else {
        cert.names.join(", ")
    }
}
