//! When a certificate is next renewed, and why: DESIGN.md's "Renewal" section as pure
//! functions of what is deployed, what the configuration says and what state remembers.

use std::fmt;
use std::time::{Duration, SystemTime};

use acme_core::policy::Assessment;
use acme_core::{CertInfo, RenewalWindow};
use rand::Rng;
use serde::Serialize;

use crate::config::CertificateConfig;
use crate::state::{AriState, CertState, LastResult};

/// Lifetimes at or below this renew at half-life.
const SHORT_LIVED: Duration = Duration::from_secs(10 * 24 * 3600);
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

/// Plans the renewal of a certificate from its assessment, the deployed leaf and state.
///
/// A deployed certificate that `acmekeep revoke` revoked is due now, or, with
/// `--no-reissue`, never: the plan then only says when to look again (at its expiry, then
/// hourly).
pub fn plan(
    cert: &CertificateConfig,
    assessment: &Assessment,
    info: Option<&CertInfo>,
    state: &CertState,
    now: SystemTime,
) -> Plan {
    let revocation = info.and_then(|info| state.revocation_of(&info.serial));
    if let (Some(info), Some(revocation)) = (info, revocation)
        && !revocation.reissue
    {
        return Plan {
            at: info.not_after.max(now + REVOKED_RECHECK),
            basis: Basis::RevokedNotReissued,
        };
    }
    let mut base = match (assessment, info) {
        (Assessment::Issue(reason), _) => Plan {
            at: now,
            basis: Basis::Now(reason.to_string()),
        },
        (Assessment::Valid { .. }, _)
            if state.issuer.as_ref().is_some_and(|i| *i != cert.issuer) =>
        {
            Plan {
                at: now,
                basis: Basis::Now(format!(
                    "issuer changed from {:?} to {:?}",
                    state.issuer.as_deref().unwrap_or_default(),
                    cert.issuer
                )),
            }
        }
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

fn policy_basis(cert: &CertificateConfig, info: &CertInfo) -> Basis {
    if cert.renew_before.is_some() {
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
pub fn adopt_window(
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

    use crate::state::Revocation;

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
            &cert(),
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
        let plan = plan(&cert(), &valid(), Some(&info()), &state, t(1));
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
        let plan = plan(&cert(), &valid(), Some(&info()), &state, t(1));
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
    }

    #[test]
    fn renew_before_and_short_lifetimes_are_named() {
        let mut configured = cert();
        configured.renew_before = Some(30 * DAY);
        let plan = plan(
            &configured,
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
        let plan = super::plan(&cert(), &valid(), Some(&short), &CertState::default(), t(1));
        assert_eq!(plan.basis, Basis::HalfOfLifetime);
    }

    #[test]
    fn a_changed_issuer_renews_now() {
        let state = CertState {
            issuer: Some("old".into()),
            ..CertState::default()
        };
        let plan = plan(&cert(), &valid(), Some(&info()), &state, t(1));
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
        let plan = plan(&cert(), &due, None, &state, t(1));
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
        let plan = plan(&cert(), &due, None, &state, t(1));
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
        let plan = plan(&cert(), &valid(), Some(&info()), &revoked("0a", true), t(2));
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
        let plan = plan(&cert(), &valid(), Some(&info()), &revoked("0b", true), t(2));
        assert_eq!(plan.basis, Basis::ThirdOfLifetime);
        let plan = super::plan(
            &cert(),
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
        let plan = plan(&cert(), &valid(), Some(&info()), &state, t(2));
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
        let plan = super::plan(&cert(), &valid(), Some(&info()), &held, t(2));
        assert_eq!(
            plan,
            Plan {
                at: t(90),
                basis: Basis::RevokedNotReissued
            }
        );
        let expired = Assessment::Issue(IssueReason::Expired);
        let plan = super::plan(&cert(), &expired, Some(&info()), &held, t(91));
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
}
