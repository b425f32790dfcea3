//! Stuck or failing issuance: does the issuer answer (and is its clock ours), and what did
//! the last attempt say.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use acme_core::{CertInfo, FailureKind, error_chain};
use issuer_ca::CaIssuer;

use crate::net::https_client;
use crate::report::Issue;
use configuration::{Config, IssuerConfig};
use state::{CertState, LastResult, Store};

/// A clock further than this from the CA's is worth a warning.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// A local CA closer than this to its own expiry is worth a warning.
const CA_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);
/// Failures in a row from which a failing issuance is called repeated.
const REPEATED_FAILURES: u32 = 3;

/// Checks every issuer the `selected` certificates use, each once, all at once; the
/// findings are keyed by issuer name.
pub async fn check_issuers(config: &Config, selected: &[String]) -> BTreeMap<String, Vec<Issue>> {
    let used: BTreeSet<&String> = selected
        .iter()
        .filter_map(|name| config.certificates.get(name))
        .map(|cert| &cert.issuer)
        .collect();
    let checks = used.into_iter().filter_map(|name| {
        let issuer = config.issuers.get(name)?;
        Some(async move { (name.clone(), check_issuer(config, name, issuer).await) })
    });
    futures::future::join_all(checks)
        .await
        .into_iter()
        .collect()
}

async fn check_issuer(config: &Config, name: &str, issuer: &IssuerConfig) -> Vec<Issue> {
    match issuer {
        IssuerConfig::Acme(acme) => {
            let url = match acme_core::resolve_directory(&acme.directory) {
                Ok(url) => url,
                Err(err) => return vec![unreachable(name, &acme.directory, err)],
            };
            let client = match https_client(acme.ca_bundle.as_deref()) {
                Ok(client) => client,
                Err(err) => return vec![unreachable(name, &url, err)],
            };
            let response = match client.get(&url).send().await {
                Ok(response) => response,
                Err(err) => return vec![unreachable(name, &url, error_chain(&err))],
            };
            let status = response.status();
            let date = response
                .headers()
                .get(reqwest::header::DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(httpdate_to_system_time);
            let body = response.text().await.unwrap_or_default();
            if !status.is_success() || !body.contains("newOrder") {
                return vec![unreachable(
                    name,
                    &url,
                    format!("it answered HTTP {status} without an ACME directory (no newOrder)"),
                )];
            }
            date.and_then(|date| clock_skew(name, date, SystemTime::now()))
                .into_iter()
                .collect()
        }
        IssuerConfig::Vault(vault) => {
            let url = format!("{}/v1/sys/health", vault.url.trim_end_matches('/'));
            let client = match https_client(vault.ca_bundle.as_deref()) {
                Ok(client) => client,
                Err(err) => return vec![unreachable(name, &url, err)],
            };
            match client.get(&url).send().await {
                Err(err) => vec![unreachable(name, &url, error_chain(&err))],
                // 200 active, 429 standby, 472/473 performance standby: all can sign.
                Ok(response) if [200, 429, 472, 473].contains(&response.status().as_u16()) => {
                    Vec::new()
                }
                Ok(response) => vec![unreachable(
                    name,
                    &url,
                    match response.status().as_u16() {
                        503 => "Vault is sealed (HTTP 503): unseal it".to_string(),
                        501 => "Vault is not initialized (HTTP 501)".to_string(),
                        other => format!("health check answered HTTP {other}"),
                    },
                )],
            }
        }
        IssuerConfig::Venafi(venafi) => {
            let base = venafi.url.trim_end_matches('/').trim_end_matches("/vedsdk");
            let url = format!("{base}/vedsdk/");
            let client = match https_client(venafi.ca_bundle.as_deref()) {
                Ok(client) => client,
                Err(err) => return vec![unreachable(name, &url, err)],
            };
            // Any HTTP answer proves the server is there; credentials show in the last attempt.
            match client.get(&url).send().await {
                Ok(_) => Vec::new(),
                Err(err) => vec![unreachable(name, &url, error_chain(&err))],
            }
        }
        IssuerConfig::Ca(ca) => {
            let built = match CaIssuer::open(name.to_string(), ca.clone(), &config.daemon.state_dir)
            {
                Err(err @ issuer_ca::Error::NotCreated { .. }) => {
                    return vec![Issue::warning(
                        "issuer-ca-not-created",
                        format!("issuer {name}: {err}"),
                        "nothing was issued from it yet; diagnose never creates it",
                        "acmekeep --issue (or start acmekeep run) as the user the daemon runs as"
                            .to_string(),
                    )];
                }
                built => built.map_err(|e| e.to_string()).and_then(|issuer| {
                    CertInfo::from_pem(issuer.ca_pem()).map_err(|e| e.to_string())
                }),
            };
            let info = match built {
                Ok(info) => info,
                Err(err) => return vec![unreachable(name, "the CA certificate", err)],
            };
            let now = SystemTime::now();
            let check_first = format!(
                "openssl x509 -noout -subject -dates -in <issuers.{name}.cert>; rotate the CA (issuers.md, \"CA rotation\")"
            );
            if info.not_after <= now {
                vec![Issue::error(
                    "issuer-ca-expired",
                    format!(
                        "issuer {name}: the CA certificate expired at {}",
                        humantime::format_rfc3339_seconds(info.not_after)
                    ),
                    "the local CA was not rotated in time; certificates it signs are not trusted",
                    check_first,
                )]
            } else if info.not_after < now + CA_EXPIRY_WARNING {
                vec![Issue::warning(
                    "issuer-ca-expiring",
                    format!(
                        "issuer {name}: the CA certificate expires at {}",
                        humantime::format_rfc3339_seconds(info.not_after)
                    ),
                    "the local CA is near its end; issued certificates are capped at its expiry",
                    check_first,
                )]
            } else {
                Vec::new()
            }
        }
    }
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

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate_to_system_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(&imf_fixdate_to_rfc3339(text)?).ok()
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` → `1994-11-06T08:49:37Z`.
fn imf_fixdate_to_rfc3339(text: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_whitespace().skip(1);
    let (day, month, year, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    (zone == "GMT").then(|| format!("{year}-{month:02}-{day:0>2}T{time}Z"))
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
    fn http_dates_are_read_and_skew_beyond_a_minute_is_a_warning() {
        let date = httpdate_to_system_time("Sun, 06 Nov 1994 08:49:37 GMT").expect("date");
        assert_eq!(
            humantime::format_rfc3339_seconds(date).to_string(),
            "1994-11-06T08:49:37Z"
        );
        assert!(clock_skew("le", date, date + Duration::from_secs(59)).is_none());
        let issue = clock_skew("le", date, date - Duration::from_secs(120)).expect("skew");
        assert_eq!(
            issue.symptom,
            "this machine's clock is 120s behind the clock of issuer le"
        );
        assert!(httpdate_to_system_time("yesterday").is_none());
    }
}
