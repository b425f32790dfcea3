//! Stuck or failing issuance: does the issuer answer (and is its clock ours), and what did
//! the last attempt say.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use acme_core::{FailureKind, Health, HealthStatus};
use issuer_ca::CaIssuer;

use crate::report::Issue;
use configuration::{Components, Config, IssuerConfig};
use state::{CertState, LastResult, Store};

/// A clock further than this from the CA's is worth a warning.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Failures in a row from which a failing issuance is called repeated.
const REPEATED_FAILURES: u32 = 3;

/// Asks every issuer the `selected` certificates use for its health, each once, all at
/// once; the findings are keyed by issuer name.
pub async fn check_issuers(
    config: &Config,
    components: &Components,
    selected: &[String],
) -> BTreeMap<String, Vec<Issue>> {
    let used: BTreeSet<&String> = selected
        .iter()
        .filter_map(|name| config.certificates.get(name))
        .map(|cert| &cert.issuer)
        .collect();
    let checks = used.into_iter().map(|name| async move {
        let issues = match components.issuers.get(name) {
            Some(issuer) => health_issues(name, &issuer.health().await, SystemTime::now()),
            None => config
                .issuers
                .get(name)
                .map_or_else(Vec::new, |issuer| not_built(config, name, issuer)),
        };
        (name.clone(), issues)
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .collect()
}

/// An issuer the components leave out: a `generate = true` CA that is not created yet.
fn not_built(config: &Config, name: &str, issuer: &IssuerConfig) -> Vec<Issue> {
    let IssuerConfig::Ca(ca) = issuer else {
        return Vec::new();
    };
    match CaIssuer::open(name.to_string(), ca.clone(), &config.daemon.state_dir) {
        Err(err @ issuer_ca::Error::NotCreated { .. }) => vec![Issue::warning(
            "issuer-ca-not-created",
            format!("issuer {name}: {err}"),
            "nothing was issued from it yet; diagnose never creates it",
            "acmekeep --issue (or start acmekeep run) as the user the daemon runs as".to_string(),
        )],
        Err(err) => vec![unreachable(name, "the CA certificate", err.to_string())],
        Ok(_) => Vec::new(),
    }
}

/// The findings of issuer `name`'s health at `now`: not answering, an expired or expiring
/// CA certificate, a clock apart from the issuer's.
fn health_issues(name: &str, health: &Health, now: SystemTime) -> Vec<Issue> {
    let check_first = || {
        format!(
            "openssl x509 -noout -subject -dates -in <issuers.{name}.cert>; rotate the CA (issuers.md, \"CA rotation\")"
        )
    };
    let at = || {
        health.valid_until.map_or(String::new(), |t| {
            humantime::format_rfc3339_seconds(t).to_string()
        })
    };
    match health.status {
        HealthStatus::Healthy => Vec::new(),
        HealthStatus::Expiring => vec![Issue::warning(
            "issuer-ca-expiring",
            format!("issuer {name}: the CA certificate expires at {}", at()),
            "the local CA is near its end; issued certificates are capped at its expiry",
            check_first(),
        )],
        HealthStatus::Expired => vec![Issue::error(
            "issuer-ca-expired",
            format!("issuer {name}: the CA certificate expired at {}", at()),
            "the local CA was not rotated in time; certificates it signs are not trusted",
            check_first(),
        )],
        _ => vec![unreachable(name, &health.endpoint, health.detail.clone())],
    }
    .into_iter()
    .chain(
        health
            .server_date
            .filter(|_| health.is_usable())
            .and_then(|date| clock_skew(name, date, now)),
    )
    .collect()
}

fn unreachable(issuer: &str, url: &str, reason: String) -> Issue {
    Issue::error(
        "issuer-unreachable",
        format!("issuer {issuer} does not answer at {url}: {reason}"),
        "the CA is down, or a firewall, proxy, DNS or TLS trust (ca_bundle) problem stands between acmekeep and it",
        format!("curl -v {url}; acmekeep check --online"),
    )
}

/// A warning when our clock and the CA's `Date` differ by more than [`MAX_CLOCK_SKEW`].
fn clock_skew(issuer: &str, ca_date: SystemTime, now: SystemTime) -> Option<Issue> {
    let (skew, direction) = match now.duration_since(ca_date) {
        Ok(ahead) => (ahead, "ahead of"),
        Err(behind) => (behind.duration(), "behind"),
    };
    // The Date header has a resolution of one second, and the request took some time.
    (skew > MAX_CLOCK_SKEW).then(|| {
        Issue::warning(
            "clock-skew",
            format!(
                "this machine's clock is {}s {direction} the clock of issuer {issuer}",
                skew.as_secs()
            ),
            "the system clock is not synchronized: renewal times are computed wrongly and fresh certificates may look not yet valid",
            "timedatectl status; chronyc tracking".to_string(),
        )
    })
}

/// The last attempt's outcome, from the state record: a failure classified by the CA's
/// problem type, repeated failures with their backoff, a request pending at the issuer.
pub fn last_attempt(config: &Config, name: &str) -> Vec<Issue> {
    let state = Store::new(&config.daemon.state_dir).load(name);
    let retry = state.retry_at.map_or(String::new(), |at| {
        format!(
            "; next attempt not before {}",
            humantime::format_rfc3339_seconds(at)
        )
    });
    let error = state.last_error.clone().unwrap_or_default();
    match state.last_result {
        Some(LastResult::Failed) => {
            let class = classify(&state);
            let repeated = if state.failures >= REPEATED_FAILURES {
                format!(" ({} failures in a row)", state.failures)
            } else {
                String::new()
            };
            vec![Issue::error(
                class.check,
                format!("the last issuance attempt failed{repeated}: {error}{retry}"),
                class.cause,
                format!(
                    "{}; acmekeep status; acmekeep --issue {name} -v",
                    class.check_first
                ),
            )]
        }
        Some(LastResult::Pending) => vec![Issue::warning(
            "issuance-pending",
            format!("the issuer has the request but has not issued yet: {error}{retry}"),
            "an approval workflow or a policy review at the issuer (Venafi), or a slow CA",
            format!(
                "the request's status in the issuer's console (Venafi: the certificate in policy zone of issuers.{}); acmekeep status",
                config
                    .certificates
                    .get(name)
                    .map_or("?", |c| c.issuer.as_str())
            ),
        )],
        Some(LastResult::Issued) if !error.is_empty() => vec![Issue::warning(
            "hook-failed",
            format!("the certificate was deployed, but a hook failed: {error}"),
            "the deploy or post hook command failed: the server may still use the previous certificate",
            format!("run the hooks of certificates.{name} by hand; journalctl -u acmekeep"),
        )],
        _ => Vec::new(),
    }
}

/// How a failure message is read.
#[derive(Debug, PartialEq, Eq)]
struct Class {
    check: &'static str,
    cause: &'static str,
    check_first: &'static str,
}

const RATE_LIMITED: Class = Class {
    check: "rate-limited",
    cause: "the CA's rate limit: too many certificates or failed validations for these names or this account",
    check_first: "wait until the retry time; test against the CA's staging directory",
};
const ACCOUNT_INVALID: Class = Class {
    check: "account-invalid",
    cause: "the CA does not accept the stored ACME account (deactivated, or from another directory)",
    check_first: "the account file in state_dir/accounts/; delete it to register anew",
};
const CREDENTIALS_REJECTED: Class = Class {
    check: "credentials-rejected",
    cause: "an issuer or a DNS provider refused acmekeep's credentials (API token, TSIG key, Vault token, TPP login) or what they may do",
    check_first: "acmekeep check --online",
};
const CHALLENGE_UNAUTHORIZED: Class = Class {
    check: "challenge-unauthorized",
    cause: "the CA reached a server that answered the challenge wrongly: the public path for the name leads elsewhere, or a stale TXT value",
    check_first: "curl http://NAME/.well-known/acme-challenge/test; dig TXT _acme-challenge.NAME",
};
const CHALLENGE_CONNECTION: Class = Class {
    check: "challenge-connection",
    cause: "the CA could not connect to the name: a firewall, the load balancer, or DNS pointing elsewhere",
    check_first: "curl -v http://NAME/.well-known/acme-challenge/test from outside the network",
};
const CHALLENGE_DNS: Class = Class {
    check: "challenge-dns",
    cause: "the CA's DNS lookup failed: no A/AAAA record, SERVFAIL or DNSSEC trouble, or the TXT record not served",
    check_first: "dig NAME A; dig TXT _acme-challenge.NAME; dig NAME CAA",
};
const CAA_FORBIDS: Class = Class {
    check: "caa-forbids",
    cause: "a CAA record of the domain does not allow this CA",
    check_first: "dig NAME CAA",
};
const ISSUER_UNREACHABLE: Class = Class {
    check: "issuer-unreachable",
    cause: "the CA could not be reached at the last attempt: the CA is down, or a firewall, proxy or DNS problem",
    check_first: "curl -v <issuer directory URL>",
};
const DNS_TXT_NOT_PROPAGATED: Class = Class {
    check: "dns-txt-not-propagated",
    cause: "the challenge TXT value was not served by every authoritative server in time: a secondary lags, or a server is not updated",
    check_first: "dig @each-NS TXT _acme-challenge.NAME",
};
const DNS_CREDENTIALS_REJECTED: Class = Class {
    check: "dns-credentials-rejected",
    cause: "the DNS provider refused the update: wrong or insufficient credentials, or the zone is not managed by them",
    check_first: "acmekeep check --online",
};
const ISSUANCE_FAILED: Class = Class {
    check: "issuance-failed",
    cause: "see the error: the issuer or a solver refused",
    check_first: "the daemon's log for this certificate",
};

/// Classifies the last failure of `state` by the kind and the ACME problem type stored with
/// it. Records written before acmekeep stored the kind fall back to reading the error's
/// text ([`classify_text`]); that fallback goes after one release.
fn classify(state: &CertState) -> Class {
    let Some(kind) = state.last_failure_kind else {
        return classify_text(state.last_error.as_deref().unwrap_or_default());
    };
    let from_ca = state.last_problem.is_some();
    match kind {
        FailureKind::RateLimited => RATE_LIMITED,
        FailureKind::Unauthorized if from_ca => ACCOUNT_INVALID,
        FailureKind::Unauthorized => CREDENTIALS_REJECTED,
        FailureKind::Validation => CHALLENGE_UNAUTHORIZED,
        FailureKind::Connection if from_ca => CHALLENGE_CONNECTION,
        FailureKind::Connection => ISSUER_UNREACHABLE,
        FailureKind::Dns if from_ca => CHALLENGE_DNS,
        FailureKind::Dns => DNS_CREDENTIALS_REJECTED,
        FailureKind::Propagation => DNS_TXT_NOT_PROPAGATED,
        FailureKind::Caa => CAA_FORBIDS,
        _ => ISSUANCE_FAILED,
    }
}

/// Classifies a failure by the ACME problem type in its message (acme-core writes
/// `detail (type)`) or by its wording: only for records from before the kind was stored.
fn classify_text(error: &str) -> Class {
    let has = |needle: &str| error.contains(needle);
    if has("(rateLimited)") {
        RATE_LIMITED
    } else if has("(accountDoesNotExist)") || (has("(unauthorized)") && has("account")) {
        ACCOUNT_INVALID
    } else if has("(unauthorized)") || has("(incorrectResponse)") {
        CHALLENGE_UNAUTHORIZED
    } else if has("(connection)") {
        CHALLENGE_CONNECTION
    } else if has("(dns)") {
        CHALLENGE_DNS
    } else if has("(caa)") {
        CAA_FORBIDS
    } else if has("cannot reach the CA") || has("Connection refused") || has("connection refused") {
        ISSUER_UNREACHABLE
    } else if has("was not served by every server") {
        DNS_TXT_NOT_PROPAGATED
    } else if has("DNS provider") || has("REFUSED") || has("NOTAUTH") {
        DNS_CREDENTIALS_REJECTED
    } else {
        ISSUANCE_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_records_are_classified_by_the_acme_problem_type_in_the_message() {
        let cases = [
            (
                "ACME new order: too many certificates (rateLimited)",
                "rate-limited",
            ),
            (
                "ACME new order: no such account (accountDoesNotExist)",
                "account-invalid",
            ),
            (
                "challenge for a.test: 404 from 127.0.0.1 (unauthorized)",
                "challenge-unauthorized",
            ),
            (
                "challenge for a.test: connection refused (connection)",
                "challenge-connection",
            ),
            ("challenge for a.test: SERVFAIL (dns)", "challenge-dns"),
            (
                "ACME load account: cannot reach the CA: tcp connect error: Connection refused (os error 111)",
                "issuer-unreachable",
            ),
            ("something else", "issuance-failed"),
        ];
        for (message, check) in cases {
            assert_eq!(classify_text(message).check, check, "{message}");
            let old = CertState {
                last_error: Some(message.to_string()),
                ..CertState::default()
            };
            assert_eq!(classify(&old).check, check, "{message}");
        }
    }

    #[test]
    fn failures_are_classified_by_their_stored_kind_and_problem_type() {
        let cases = [
            (
                FailureKind::RateLimited,
                Some("rateLimited"),
                "rate-limited",
            ),
            (
                FailureKind::Unauthorized,
                Some("accountDoesNotExist"),
                "account-invalid",
            ),
            (FailureKind::Unauthorized, None, "credentials-rejected"),
            (
                FailureKind::Validation,
                Some("incorrectResponse"),
                "challenge-unauthorized",
            ),
            (
                FailureKind::Connection,
                Some("connection"),
                "challenge-connection",
            ),
            (FailureKind::Connection, None, "issuer-unreachable"),
            (FailureKind::Dns, Some("dns"), "challenge-dns"),
            (FailureKind::Dns, None, "dns-credentials-rejected"),
            (FailureKind::Propagation, None, "dns-txt-not-propagated"),
            (FailureKind::Caa, Some("caa"), "caa-forbids"),
            (FailureKind::Sink, None, "issuance-failed"),
            (
                FailureKind::Issuer,
                Some("rejectedIdentifier"),
                "issuance-failed",
            ),
        ];
        for (kind, problem, check) in cases {
            let state = CertState {
                // The text says otherwise: the stored kind decides.
                last_error: Some("something (rateLimited)".into()),
                last_failure_kind: Some(kind),
                last_problem: problem.map(str::to_string),
                ..CertState::default()
            };
            assert_eq!(classify(&state).check, check, "{kind} {problem:?}");
        }
    }

    #[test]
    fn skew_beyond_a_minute_is_a_warning() {
        let date = humantime::parse_rfc3339("1994-11-06T08:49:37Z").expect("date");
        assert!(clock_skew("le", date, date + Duration::from_secs(59)).is_none());
        let issue = clock_skew("le", date, date - Duration::from_secs(120)).expect("skew");
        assert_eq!(
            issue.symptom,
            "this machine's clock is 120s behind the clock of issuer le"
        );
    }

    #[test]
    fn an_issuers_health_becomes_its_findings() {
        let now = humantime::parse_rfc3339("2026-01-01T00:00:00Z").expect("now");
        let checks = |health: &Health| -> Vec<&'static str> {
            health_issues("le", health, now)
                .iter()
                .map(|issue| issue.check)
                .collect()
        };
        let answered = Health::healthy("https://ca/dir", "answered");
        assert!(checks(&answered).is_empty());
        let skewed = answered.with_server_date(Some(now - Duration::from_secs(120)));
        assert_eq!(checks(&skewed), ["clock-skew"]);

        let sealed = Health::unreachable(
            "https://v/v1/sys/health",
            "Vault is sealed (HTTP 503): unseal it",
        )
        .with_server_date(Some(now - Duration::from_secs(120)));
        let issues = health_issues("vault", &sealed, now);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            issues[0].symptom,
            "issuer vault does not answer at https://v/v1/sys/health: Vault is sealed (HTTP 503): unseal it"
        );

        let day = Duration::from_secs(86_400);
        let expiring = Health::by_expiry("the CA certificate", now + 10 * day, 30 * day, now);
        assert_eq!(checks(&expiring), ["issuer-ca-expiring"]);
        assert_eq!(
            health_issues("internal", &expiring, now)[0].symptom,
            "issuer internal: the CA certificate expires at 2026-01-11T00:00:00Z"
        );
        let expired = Health::by_expiry("the CA certificate", now - day, 30 * day, now);
        assert_eq!(checks(&expired), ["issuer-ca-expired"]);
    }
}
