//! Whether a certificate is due, when it is next renewed, and why — the one decision the
//! daemon, `--issue`, `status` and `diagnose` share: DESIGN.md's "Renewal" section as pure
//! functions of what is deployed, what the configuration says and what state remembers
//! (the CA's renewal window, what the deployed certificate was issued from, failures and
//! the waits the CA asked for). [`ask_window`] is the one place that asks the CA for a
//! renewal window and remembers it.

use std::fmt;
use std::time::{Duration, SystemTime};

use acme_core::policy::{self, Assessment};
use acme_core::{CertInfo, Issuer, RenewalWindow};
use rand::Rng;
use serde::Serialize;

use crate::lifecycle::Failure;
use configuration::{CertificateConfig, Config, IssuerConfig};
use state::{AriState, CertState, IssuedFrom, LastResult};

/// Lifetimes at or below this renew at half-life.
const SHORT_LIVED: Duration = Duration::from_secs(10 * 24 * 3600);
/// How long to wait before asking the CA for a renewal window again after a failed request.
const WINDOW_RETRY: Duration = Duration::from_secs(3600);
/// What the issuer DN of a certificate from a test CA (Let's Encrypt staging) contains.
const STAGING_MARKERS: [&str; 2] = ["(STAGING)", "Fake LE"];
/// The first pause after a failure; it doubles per failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// The longest pause after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(4 * 3600);
/// The least pause after the CA said we are rate limited.
const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(3600);
/// How often a revoked certificate kept by `--no-reissue` is looked at again once expired.
const REVOKED_RECHECK: Duration = Duration::from_secs(3600);

/// Why a certificate renews when it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Now, for this reason.
    Now(String),
    /// The instant chosen in the CA's ARI window.
    Ari,
    /// The configured `renew_before`.
    RenewBefore,
    /// When a third of the lifetime is left.
    ThirdOfLifetime,
    /// At half-life (lifetimes of 10 days or less).
    HalfOfLifetime,
    /// `renew_before` is not shorter than the lifetime, so the default policy applies.
    RenewBeforeIgnored,
    /// After earlier failures, not before this backoff ends.
    Backoff,
    /// The issuer is processing a request (an approval, say): ask again then.
    Pending,
    /// `acmekeep revoke --no-reissue` revoked the deployed certificate: it is not replaced
    /// until `--issue NAME --force`.
    RevokedNotReissued,
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Basis::Now(reason) => write!(f, "now: {reason}"),
            Basis::Ari => f.write_str("ARI window"),
            Basis::RenewBefore => f.write_str("renew_before"),
            Basis::ThirdOfLifetime => f.write_str("1/3 of lifetime left"),
            Basis::HalfOfLifetime => f.write_str("half of lifetime"),
            Basis::RenewBeforeIgnored => f.write_str(
                "renew_before is not shorter than the lifetime; falling back to the default policy",
            ),
            Basis::Backoff => f.write_str("backoff after failure"),
            Basis::Pending => f.write_str("request pending at the issuer"),
            Basis::RevokedNotReissued => {
                f.write_str("revoked; not reissued — run --issue NAME --force")
            }
        }
    }
}

/// When to renew and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The renewal time (in the past or now when due).
    pub at: SystemTime,
    /// Why then.
    pub basis: Basis,
}

/// What the configuration wants of one certificate, as far as the renewal decision goes.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// The certificate's settings.
    pub cert: &'a CertificateConfig,
    /// Where its issuer gets certificates (see [`IssuedFrom::source`]).
    pub source: String,
    /// The ACME profile asked for, if any.
    pub profile: Option<String>,
    /// The configured ACME directory is a production one of a CA that also runs a staging
    /// one, so a certificate from that staging CA is not what is wanted.
    pub production_acme: bool,
    /// The subject of the configured local CA's certificate (a `ca` issuer with a readable
    /// `cert` file): the issuer every certificate it signs names.
    pub ca_subject: Option<String>,
}

impl<'a> Target<'a> {
    /// What `config` wants of `cert`.
    pub fn new(config: &Config, cert: &'a CertificateConfig) -> Target<'a> {
        let (source, profile, production_acme) = match config.issuers.get(&cert.issuer) {
            Some(IssuerConfig::Acme(acme)) => {
                let url = issuer_acme::resolve_directory(&acme.directory)
                    .unwrap_or_else(|_| acme.directory.clone());
                let production = issuer_acme::DIRECTORY_ALIASES
                    .iter()
                    .any(|(alias, known)| *known == url && !alias.ends_with("-staging"));
                (url, acme.profile.clone(), production)
            }
            Some(IssuerConfig::Ca(ca)) => (
                ca.cert.as_ref().map_or("generated CA".to_string(), |cert| {
                    cert.display().to_string()
                }),
                None,
                false,
            ),
            Some(IssuerConfig::Vault(vault)) => {
                (format!("{} {}", vault.url, vault.path), None, false)
            }
            Some(IssuerConfig::Venafi(venafi)) => {
                (format!("{} zone {}", venafi.url, venafi.zone), None, false)
            }
            None => (String::new(), None, false),
        };
        let ca_subject = match config.issuers.get(&cert.issuer) {
            Some(IssuerConfig::Ca(ca)) => ca
                .cert
                .as_ref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .and_then(|pem| CertInfo::from_pem(&pem).ok())
                .map(|ca| ca.subject),
            _ => None,
        };
        Target {
            cert,
            source,
            profile,
            production_acme,
            ca_subject,
        }
    }

    /// What state records about a certificate issued now for this target.
    pub fn issued_from(&self, info: &CertInfo) -> IssuedFrom {
        IssuedFrom {
            serial: info.serial.clone(),
            source: self.source.clone(),
            profile: self.profile.clone(),
            key: self.cert.key,
            names: self.cert.domains.clone(),
        }
    }

    /// How the deployed certificate differs from what is configured, in what the policy
    /// does not see (names and key type): the issuer, its source or profile as recorded at
    /// issuance; without a record for it, what the certificate itself tells.
    fn changed(&self, info: &CertInfo, state: &CertState) -> Option<String> {
        if let Some(issuer) = state.issuer.as_ref().filter(|i| **i != self.cert.issuer) {
            return Some(format!(
                "issuer changed from {issuer:?} to {:?}",
                self.cert.issuer
            ));
        }
        match state
            .issued_from
            .as_ref()
            .filter(|f| f.serial == info.serial)
        {
            Some(from) if from.source != self.source => Some(format!(
                "issuer source changed from {} to {}",
                from.source, self.source
            )),
            Some(from) if from.profile != self.profile => Some(format!(
                "profile changed from {} to {}",
                from.profile.as_deref().unwrap_or("(none)"),
                self.profile.as_deref().unwrap_or("(none)")
            )),
            Some(_) => None,
            None if self
                .ca_subject
                .as_ref()
                .is_some_and(|subject| *subject != info.issuer) =>
            {
                Some(format!(
                    "the deployed certificate was issued by {}, not by the configured CA {}",
                    info.issuer,
                    self.ca_subject.as_deref().unwrap_or_default()
                ))
            }
            None if self.production_acme
                && STAGING_MARKERS.iter().any(|m| info.issuer.contains(m)) =>
            {
                Some(format!(
                    "the deployed certificate is from a staging CA ({}), the configured directory {} is not",
                    info.issuer, self.source
                ))
            }
            None => None,
        }
    }
}

/// Plans the renewal of a certificate from its assessment, the deployed leaf and state.
///
/// A deployed certificate that `acmekeep revoke` revoked is due now, or, with
/// `--no-reissue`, never: the plan then only says when to look again (at its expiry, then
/// hourly).
pub fn plan(
    target: &Target<'_>,
    assessment: &Assessment,
    info: Option<&CertInfo>,
    state: &CertState,
    now: SystemTime,
) -> Plan {
    let cert = target.cert;
    let revocation = info.and_then(|info| state.revocation_of(&info.serial));
    if let (Some(info), Some(revocation)) = (info, revocation)
        && !revocation.reissue
    {
        return Plan {
            at: info.not_after.max(now + REVOKED_RECHECK),
            basis: Basis::RevokedNotReissued,
        };
    }
    let changed = info.and_then(|info| target.changed(info, state));
    let mut base = match (assessment, info) {
        (Assessment::Issue(reason), _) => Plan {
            at: now,
            basis: Basis::Now(reason.to_string()),
        },
        (Assessment::Valid { .. }, _) if changed.is_some() => Plan {
            at: now,
            basis: Basis::Now(changed.unwrap_or_default()),
        },
        (Assessment::Valid { renew_at, .. }, Some(info)) => match usable_window(state, info) {
            Some(ari) => Plan {
                at: ari.chosen,
                basis: Basis::Ari,
            },
            None => Plan {
                at: *renew_at,
                basis: policy_basis(cert, info),
            },
        },
        (Assessment::Valid { renew_at, .. }, None) => Plan {
            at: *renew_at,
            basis: Basis::ThirdOfLifetime,
        },
    };
    if let Some(revocation) = revocation {
        base = Plan {
            at: now,
            basis: Basis::Now(format!("revoked: {}", revocation.reason)),
        };
    }
    match state.retry_at {
        Some(retry_at) if retry_at > base.at && state.last_result == Some(LastResult::Pending) => {
            Plan {
                at: retry_at,
                basis: Basis::Pending,
            }
        }
        Some(retry_at) if retry_at > base.at && state.failures > 0 => Plan {
            at: retry_at,
            basis: Basis::Backoff,
        },
        _ => base,
    }
}

/// The warning for a `renew_before` the policy ignores for the deployed certificate, if it
/// does (see [`acme_core::policy::renew_before_ignored`]).
pub fn renew_before_warning(
    name: &str,
    cert: &CertificateConfig,
    info: &CertInfo,
) -> Option<String> {
    let renew_before = cert.renew_before?;
    policy::renew_before_ignored(Some(renew_before), info.lifetime()).then(|| {
        format!(
            "certificates.{name}.renew_before ({}) is not shorter than the certificate's lifetime ({}); falling back to the default policy",
            span(renew_before),
            span(info.lifetime())
        )
    })
}

/// A duration as a configuration would spell it: whole days as `90d`, else humantime's
/// spelling rounded to the second.
fn span(duration: Duration) -> String {
    const DAY: u64 = 86400;
    let secs = duration.as_secs();
    if secs > 0 && secs.is_multiple_of(DAY) {
        format!("{}d", secs / DAY)
    } else {
        humantime::format_duration(Duration::from_secs(secs)).to_string()
    }
}

/// Warnings about the configuration that `check` can give without any certificate: a
/// `renew_before` not shorter than the validity a local CA or Vault is configured to give.
pub fn config_warnings(config: &Config) -> Vec<String> {
    config
        .certificates
        .iter()
        .filter_map(|(name, cert)| {
            let renew_before = cert.renew_before?;
            let (validity, key) = match config.issuers.get(&cert.issuer)? {
                IssuerConfig::Ca(ca) => (ca.validity, "validity"),
                IssuerConfig::Vault(vault) => (vault.ttl?, "ttl"),
                _ => return None,
            };
            policy::renew_before_ignored(Some(renew_before), validity).then(|| {
                format!(
                    "certificates.{name}.renew_before ({}) is not shorter than issuers.{}.{key} ({}); \
                     the default policy will be used instead",
                    span(renew_before),
                    cert.issuer,
                    span(validity)
                )
            })
        })
        .collect()
}

/// Whether the CA should be asked for the deployed certificate's renewal window now: its
/// issuer offers windows (ACME) and no window for it is remembered, or the CA's
/// Retry-After has passed.
pub fn window_wanted(
    config: &Config,
    cert: &CertificateConfig,
    info: &CertInfo,
    state: &CertState,
    now: SystemTime,
) -> bool {
    matches!(
        config.issuers.get(&cert.issuer),
        Some(IssuerConfig::Acme(_))
    ) && state
        .ari
        .as_ref()
        .filter(|ari| ari.serial == info.serial)
        .is_none_or(|ari| ari.refresh_at <= now)
}

/// Asks `issuer` for the renewal window of the deployed certificate and remembers it in
/// `state` (the chosen instant kept while the window stays). Returns when to ask again
/// (`None` when the CA offers no windows), or, when asking failed (logged), when to try
/// again, with `state` untouched.
pub async fn ask_window(
    issuer: &dyn Issuer,
    cert_pem: &str,
    info: &CertInfo,
    state: &mut CertState,
    now: SystemTime,
) -> Result<Option<SystemTime>, SystemTime> {
    match issuer.renewal_window(cert_pem).await {
        Ok(None) => Ok(None),
        Ok(Some(window)) => {
            let adopted = adopt_window(&window, info, state.ari.as_ref(), now);
            match &adopted {
                Some(ari) => tracing::info!(
                    window_start = %humantime::format_rfc3339_seconds(ari.start),
                    window_end = %humantime::format_rfc3339_seconds(ari.end),
                    renews_at = %humantime::format_rfc3339_seconds(ari.chosen),
                    "CA renewal window"
                ),
                None => tracing::warn!(
                    "ignoring the CA's renewal window: it starts before the certificate's not-before or is empty"
                ),
            }
            state.ari = adopted;
            Ok(Some(now + window.refresh_after))
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot fetch the CA's renewal window; trying again later");
            Err(now + WINDOW_RETRY)
        }
    }
}

/// The record of a certificate just issued and deployed for `target`.
pub fn issued_state(
    target: &Target<'_>,
    info: &CertInfo,
    now: SystemTime,
    hook_error: Option<String>,
) -> CertState {
    CertState {
        issuer: Some(target.cert.issuer.clone()),
        issued_from: Some(target.issued_from(info)),
        last_attempt: Some(now),
        last_result: Some(LastResult::Issued),
        last_error: hook_error,
        deployed_serial: Some(info.serial.clone()),
        ..CertState::default()
    }
}

/// Until when the CA asked not to be asked again after `failure` (its Retry-After, at least
/// an hour after a rate limit), if it did: the one-shot records this, not a backoff of its
/// own, since it was asked to run.
pub fn ca_wait(failure: &Failure, now: SystemTime) -> Option<SystemTime> {
    let floor = failure.rate_limited.then(|| now + RATE_LIMIT_BACKOFF);
    match (failure.retry_after, floor) {
        (Some(asked), Some(floor)) => Some(asked.max(floor)),
        (asked, floor) => asked.or(floor),
    }
}

fn policy_basis(cert: &CertificateConfig, info: &CertInfo) -> Basis {
    if policy::renew_before_ignored(cert.renew_before, info.lifetime()) {
        Basis::RenewBeforeIgnored
    } else if cert.renew_before.is_some() {
        Basis::RenewBefore
    } else if info.lifetime() <= SHORT_LIVED {
        Basis::HalfOfLifetime
    } else {
        Basis::ThirdOfLifetime
    }
}

/// The remembered ARI window, if it belongs to the deployed certificate.
fn usable_window<'a>(state: &'a CertState, info: &CertInfo) -> Option<&'a AriState> {
    state
        .ari
        .as_ref()
        .filter(|ari| ari.serial == info.serial && ari.start >= info.not_before)
}

/// Turns a fresh window from the CA into what state remembers: the chosen instant is kept
/// if the window did not move, otherwise drawn anew, uniformly inside the window. A window
/// that starts before the certificate's not-before is ignored (`None`).
fn adopt_window(
    window: &RenewalWindow,
    info: &CertInfo,
    previous: Option<&AriState>,
    now: SystemTime,
) -> Option<AriState> {
    if window.start < info.not_before || window.end <= window.start {
        return None;
    }
    let chosen = match previous {
        Some(prev)
            if prev.serial == info.serial
                && prev.start == window.start
                && prev.end == window.end =>
        {
            prev.chosen
        }
        _ => {
            let span = window
                .end
                .duration_since(window.start)
                .unwrap_or_default()
                .as_millis() as u64;
            let offset = rand::rng().random_range(0..=span);
            window.start + Duration::from_millis(offset)
        }
    };
    Some(AriState {
        serial: info.serial.clone(),
        start: window.start,
        end: window.end,
        chosen,
        refresh_at: now + window.refresh_after,
        explanation: window.explanation.clone(),
    })
}

/// When to try again after `failures` consecutive failures: a minute, doubling, at most
/// four hours, with ±10 % jitter; at least an hour after a rate limit.
pub fn backoff(failures: u32, rate_limited: bool) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << exponent)
        .min(MAX_BACKOFF);
    let jitter = rand::rng().random_range(0.9..=1.1);
    let pause = base.mul_f64(jitter);
    if rate_limited {
        pause.max(RATE_LIMIT_BACKOFF)
    } else {
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acme_core::KeyType;
    use acme_core::policy::IssueReason;

    use state::Revocation;

    const DAY: Duration = Duration::from_secs(86400);

    fn t(days: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + DAY * days as u32
    }

    fn cert() -> CertificateConfig {
        CertificateConfig {
            domains: vec!["a.example.test".into()],
            issuer: "le".into(),
            solver: None,
            key: KeyType::EcdsaP256,
            renew_before: None,
            sinks: vec![],
            hooks: Default::default(),
        }
    }

    fn target(cert: &CertificateConfig) -> Target<'_> {
        Target {
            cert,
            source: "https://ca.test/directory".into(),
            profile: Some("classic".into()),
            production_acme: false,
            ca_subject: None,
        }
    }

    fn info() -> CertInfo {
        CertInfo {
            subject: "CN=a.example.test".into(),
            issuer: "CN=ca".into(),
            serial: "0a".into(),
            not_before: t(0),
            not_after: t(90),
            names: vec!["a.example.test".into()],
            key_type: Some(KeyType::EcdsaP256),
            public_key_der: vec![],
        }
    }

    fn valid() -> Assessment {
        Assessment::Valid {
            renew_at: t(60),
            not_after: t(90),
        }
    }

    fn window(start: u64, end: u64) -> RenewalWindow {
        RenewalWindow {
            start: t(start),
            end: t(end),
            refresh_after: Duration::from_secs(6 * 3600),
            explanation: None,
        }
    }

    #[test]
    fn without_ari_the_policy_time_and_its_reason_count() {
        let plan = plan(
            &target(&cert()),
            &valid(),
            Some(&info()),
            &CertState::default(),
            t(1),
        );
        assert_eq!(
            plan,
            Plan {
                at: t(60),
                basis: Basis::ThirdOfLifetime
            }
        );
    }

    #[test]
    fn an_ari_window_wins_and_its_instant_lies_inside_it() {
        let ari = adopt_window(&window(50, 55), &info(), None, t(1)).expect("usable window");
        assert!(ari.chosen >= t(50) && ari.chosen <= t(55));
        assert_eq!(ari.refresh_at, t(1) + Duration::from_secs(6 * 3600));
        let state = CertState {
            ari: Some(ari.clone()),
            ..CertState::default()
        };
        let plan = plan(&target(&cert()), &valid(), Some(&info()), &state, t(1));
        assert_eq!(
            plan,
            Plan {
                at: ari.chosen,
                basis: Basis::Ari
            }
        );
    }

    #[test]
    fn the_chosen_instant_is_kept_while_the_window_stays_and_redrawn_when_it_moves() {
        let first = adopt_window(&window(50, 55), &info(), None, t(1)).expect("window");
        let again = adopt_window(&window(50, 55), &info(), Some(&first), t(2)).expect("window");
        assert_eq!(again.chosen, first.chosen);
        let moved = adopt_window(&window(10, 11), &info(), Some(&first), t(2)).expect("window");
        assert!(moved.chosen >= t(10) && moved.chosen <= t(11));
    }

    #[test]
    fn a_window_before_not_before_or_for_another_certificate_is_ignored() {
        let early = RenewalWindow {
            start: t(0) - DAY,
            ..window(0, 5)
        };
        assert_eq!(adopt_window(&early, &info(), None, t(1)), None);
        let ari = adopt_window(&window(50, 55), &info(), None, t(1)).expect("window");
        let state = CertState {
            ari: Some(AriState {
                serial: "0b".into(),
                ..ari
            }),
            ..CertState::default()
        };
        let plan = plan(&target(&cert()), &valid(), Some(&info()), &state, t(1));
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
    }

    #[test]
    fn renew_before_and_short_lifetimes_are_named() {
        let mut configured = cert();
        configured.renew_before = Some(30 * DAY);
        let plan = plan(
            &target(&configured),
            &valid(),
            Some(&info()),
            &CertState::default(),
            t(1),
        );
        assert_eq!(plan.basis, Basis::RenewBefore);
        let short = CertInfo {
            not_after: t(6),
            ..info()
        };
        let plan = super::plan(
            &target(&cert()),
            &valid(),
            Some(&short),
            &CertState::default(),
            t(1),
        );
        assert_eq!(plan.basis, Basis::HalfOfLifetime);
    }

    #[test]
    fn a_changed_issuer_renews_now() {
        let state = CertState {
            issuer: Some("old".into()),
            ..CertState::default()
        };
        let plan = plan(&target(&cert()), &valid(), Some(&info()), &state, t(1));
        assert_eq!(plan.at, t(1));
        assert!(matches!(plan.basis, Basis::Now(ref why) if why.contains("issuer changed")));
    }

    #[test]
    fn a_pending_request_is_asked_again_when_the_issuer_said_not_as_a_failure() {
        let state = CertState {
            last_result: Some(LastResult::Pending),
            retry_at: Some(t(2)),
            ..CertState::default()
        };
        let due = Assessment::Issue(IssueReason::Missing);
        let plan = plan(&target(&cert()), &due, None, &state, t(1));
        assert_eq!(
            plan,
            Plan {
                at: t(2),
                basis: Basis::Pending
            }
        );
    }

    #[test]
    fn failures_push_the_next_attempt_back_until_the_backoff_ends() {
        let state = CertState {
            failures: 2,
            retry_at: Some(t(2)),
            ..CertState::default()
        };
        let due = Assessment::Issue(IssueReason::Missing);
        let plan = plan(&target(&cert()), &due, None, &state, t(1));
        assert_eq!(
            plan,
            Plan {
                at: t(2),
                basis: Basis::Backoff
            }
        );
    }

    fn revoked(serial: &str, reissue: bool) -> CertState {
        CertState {
            revoked: Some(Revocation {
                serial: serial.into(),
                reason: "keyCompromise".into(),
                revoked_at: t(1),
                reissue,
            }),
            ..CertState::default()
        }
    }

    #[test]
    fn a_revoked_deployed_certificate_is_due_now() {
        let plan = plan(
            &target(&cert()),
            &valid(),
            Some(&info()),
            &revoked("0a", true),
            t(2),
        );
        assert_eq!(
            plan,
            Plan {
                at: t(2),
                basis: Basis::Now("revoked: keyCompromise".into())
            }
        );
    }

    #[test]
    fn a_revocation_of_another_serial_changes_nothing() {
        let plan = plan(
            &target(&cert()),
            &valid(),
            Some(&info()),
            &revoked("0b", true),
            t(2),
        );
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
        let plan = super::plan(
            &target(&cert()),
            &valid(),
            Some(&info()),
            &revoked("0b", false),
            t(2),
        );
        assert_eq!(plan.at, t(60));
    }

    #[test]
    fn failing_to_replace_a_revoked_certificate_backs_off() {
        let state = CertState {
            failures: 1,
            retry_at: Some(t(3)),
            ..revoked("0a", true)
        };
        let plan = plan(&target(&cert()), &valid(), Some(&info()), &state, t(2));
        assert_eq!(
            plan,
            Plan {
                at: t(3),
                basis: Basis::Backoff
            }
        );
    }

    #[test]
    fn a_revoked_certificate_kept_by_no_reissue_is_not_due_before_expiry_nor_after() {
        let held = revoked("0a", false);
        let plan = super::plan(&target(&cert()), &valid(), Some(&info()), &held, t(2));
        assert_eq!(
            plan,
            Plan {
                at: t(90),
                basis: Basis::RevokedNotReissued
            }
        );
        let expired = Assessment::Issue(IssueReason::Expired);
        let plan = super::plan(&target(&cert()), &expired, Some(&info()), &held, t(91));
        assert_eq!(plan.basis, Basis::RevokedNotReissued);
        assert!(
            plan.at > t(91),
            "an expired kept certificate must not be due"
        );
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_four_hours_and_respects_rate_limits() {
        let within = |d: Duration, base: u64| {
            let secs = d.as_secs_f64();
            secs >= base as f64 * 0.9 && secs <= base as f64 * 1.1
        };
        assert!(within(backoff(1, false), 60));
        assert!(within(backoff(2, false), 120));
        assert!(within(backoff(3, false), 240));
        assert!(within(backoff(30, false), 4 * 3600));
        assert!(backoff(1, true) >= Duration::from_secs(3600));
    }

    fn issued(target: &Target<'_>) -> CertState {
        issued_state(target, &info(), t(0), None)
    }

    #[test]
    fn a_certificate_issued_from_another_source_or_profile_is_due_now() {
        let cert = cert();
        let before = target(&cert);
        let state = issued(&before);
        let same = plan(&before, &valid(), Some(&info()), &state, t(1));
        assert_eq!(same.basis, Basis::ThirdOfLifetime);
        let moved = Target {
            source: "https://other.test/directory".into(),
            ..before.clone()
        };
        let plan = super::plan(&moved, &valid(), Some(&info()), &state, t(1));
        assert_eq!(plan.at, t(1));
        assert!(
            matches!(plan.basis, Basis::Now(ref why) if why.contains("https://other.test/directory")),
            "{plan:?}"
        );
        let reprofiled = Target {
            profile: Some("shortlived".into()),
            ..before.clone()
        };
        let plan = super::plan(&reprofiled, &valid(), Some(&info()), &state, t(1));
        assert_eq!(
            plan.basis,
            Basis::Now("profile changed from classic to shortlived".into())
        );
    }

    #[test]
    fn a_record_of_another_certificate_says_nothing_about_the_deployed_one() {
        let cert = cert();
        let mut state = issued(&target(&cert));
        state.issued_from = state.issued_from.map(|from| IssuedFrom {
            serial: "0b".into(),
            ..from
        });
        let reprofiled = Target {
            profile: None,
            ..target(&cert)
        };
        let plan = plan(&reprofiled, &valid(), Some(&info()), &state, t(1));
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
    }

    #[test]
    fn without_a_record_a_staging_certificate_is_replaced_when_production_is_configured() {
        let cert = cert();
        let staging = CertInfo {
            issuer: "C=US, O=(STAGING) Let's Encrypt, CN=(STAGING) Ersatz Edamame E1".into(),
            ..info()
        };
        let production = Target {
            production_acme: true,
            ..target(&cert)
        };
        let plan = super::plan(
            &production,
            &valid(),
            Some(&staging),
            &CertState::default(),
            t(1),
        );
        assert!(
            matches!(plan.basis, Basis::Now(ref why) if why.contains("staging CA")),
            "{plan:?}"
        );
        let plan = super::plan(
            &target(&cert),
            &valid(),
            Some(&staging),
            &CertState::default(),
            t(1),
        );
        assert_eq!(plan.basis, Basis::ThirdOfLifetime, "staging stays staging");
        let plan = super::plan(
            &production,
            &valid(),
            Some(&info()),
            &CertState::default(),
            t(1),
        );
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
    }

    #[test]
    fn without_a_record_a_certificate_from_another_ca_than_the_configured_one_is_replaced() {
        let cert = cert();
        let local = Target {
            ca_subject: Some("CN=new local CA".into()),
            ..target(&cert)
        };
        let plan = super::plan(&local, &valid(), Some(&info()), &CertState::default(), t(1));
        assert_eq!(
            plan.basis,
            Basis::Now(
                "the deployed certificate was issued by CN=ca, not by the configured CA CN=new local CA"
                    .into()
            )
        );
        let same = Target {
            ca_subject: Some("CN=ca".into()),
            ..target(&cert)
        };
        let plan = super::plan(&same, &valid(), Some(&info()), &CertState::default(), t(1));
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
    }

    #[test]
    fn a_renew_before_not_shorter_than_the_lifetime_is_named_and_warned_about() {
        let mut configured = cert();
        configured.renew_before = Some(90 * DAY);
        let plan = plan(
            &target(&configured),
            &valid(),
            Some(&info()),
            &CertState::default(),
            t(1),
        );
        assert_eq!(plan.basis, Basis::RenewBeforeIgnored);
        let warning = renew_before_warning("web", &configured, &info()).expect("a warning");
        assert_eq!(
            warning,
            "certificates.web.renew_before (90d) is not shorter than the certificate's \
             lifetime (90d); falling back to the default policy"
        );
        configured.renew_before = Some(30 * DAY);
        assert_eq!(renew_before_warning("web", &configured, &info()), None);
    }

    #[test]
    fn the_one_shot_records_only_the_waits_the_ca_asked_for() {
        let failure = |rate_limited, retry_after| Failure {
            message: "x".into(),
            kind: acme_core::FailureKind::Issuer,
            problem: None,
            rate_limited,
            retry_after,
            cancelled: false,
            pending_until: None,
        };
        assert_eq!(ca_wait(&failure(false, None), t(1)), None);
        assert_eq!(ca_wait(&failure(false, Some(t(2))), t(1)), Some(t(2)));
        assert_eq!(
            ca_wait(&failure(true, None), t(1)),
            Some(t(1) + Duration::from_secs(3600))
        );
        assert_eq!(ca_wait(&failure(true, Some(t(3))), t(1)), Some(t(3)));
    }
}
