//! The report of `acmekeep inspect` as text for people.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::{ChainReport, EndpointReport, InspectReport, KeyStatus, StoredReport, TrustAnchors};

impl InspectReport {
    /// The report as text for people, with times left counted from `now`.
    pub fn render_text(&self, now: SystemTime) -> String {
        let mut out = String::new();
        for stored in &self.stored {
            render_stored(&mut out, stored, &self.trust_anchors, now);
        }
        if let Some(endpoint) = &self.endpoint {
            render_endpoint(&mut out, endpoint, &self.trust_anchors, now);
        }
        if self.problems.is_empty() {
            out.push_str("ok: no problem found\n");
        } else {
            let _ = writeln!(out, "{} problem(s):", self.problems.len());
            for problem in &self.problems {
                let _ = writeln!(out, "  - {}: {}", problem.source, problem.message);
            }
        }
        out
    }
}

fn render_stored(out: &mut String, stored: &StoredReport, anchors: &TrustAnchors, now: SystemTime) {
    let _ = writeln!(out, "{}", stored.source);
    let _ = writeln!(out, "  read from    {}", stored.read_from.join(", "));
    render_chain(out, &stored.chain, anchors, now);
    let _ = writeln!(out, "  private key  {}\n", key_verdict(&stored.key));
}

fn key_verdict(key: &KeyStatus) -> String {
    match (&key.note, key.present, key.matches) {
        (Some(note), _, _) => format!("not checked: {note}"),
        (None, false, _) => "none found (give one with --key)".to_string(),
        (None, true, Some(true)) => "matches the certificate".to_string(),
        (None, true, Some(false)) => "DOES NOT MATCH the certificate".to_string(),
        (None, true, None) => "unreadable".to_string(),
    }
}

fn render_endpoint(
    out: &mut String,
    endpoint: &EndpointReport,
    anchors: &TrustAnchors,
    now: SystemTime,
) {
    let _ = writeln!(out, "endpoint {} (SNI {})", endpoint.address, endpoint.sni);
    render_chain(out, &endpoint.chain, anchors, now);
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

fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn render_chain(out: &mut String, chain: &ChainReport, anchors: &TrustAnchors, now: SystemTime) {
    render_leaf(out, chain, now);
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

fn render_leaf(out: &mut String, chain: &ChainReport, now: SystemTime) {
    let Some(leaf) = chain.leaf() else {
        return;
    };
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
