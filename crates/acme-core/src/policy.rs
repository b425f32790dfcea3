//! Renewal policy: when a deployed certificate must be issued again.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::{CertInfo, KeyType};

/// Lifetimes at or below this renew at half-life instead of at one third left.
const SHORT_LIVED: Duration = Duration::from_secs(10 * 24 * 3600);

/// The least time a certificate is kept before a renewal by the policy: 1/10 of its
/// lifetime, at most one hour. Only an expiry, a configuration change, the CA's renewal
/// window, a revocation or `--force` replace a certificate sooner.
const FLOOR_FRACTION: u32 = 10;
/// The longest floor.
const MAX_FLOOR: Duration = Duration::from_secs(3600);

/// When a certificate should be renewed, by the policy of DESIGN.md's "Renewal" section
/// (without ARI): `renew_before` if configured and shorter than the lifetime, else when 1/3
/// of the lifetime remains (1/2 for lifetimes of 10 days or less); never before
/// [`renewal_floor`] has passed since its not-before.
pub fn renewal_time(info: &CertInfo, renew_before: Option<Duration>) -> SystemTime {
    let lifetime = info.lifetime();
    let lead = match renew_before {
        Some(lead) if lead < lifetime => lead,
        _ if lifetime <= SHORT_LIVED => lifetime / 2,
        _ => lifetime / 3,
    };
    let earliest = info.not_before + renewal_floor(lifetime);
    info.not_after
        .checked_sub(lead)
        .map_or(earliest, |at| at.max(earliest))
}

/// How long after its not-before a certificate of `lifetime` is renewed at the earliest by
/// the policy: 1/10 of the lifetime, at most one hour.
pub fn renewal_floor(lifetime: Duration) -> Duration {
    (lifetime / FLOOR_FRACTION).min(MAX_FLOOR)
}

/// Whether `renew_before` is ignored for a certificate of `lifetime` (it is not shorter
/// than the lifetime, so it would renew at once, every time): the default policy applies.
pub fn renew_before_ignored(renew_before: Option<Duration>, lifetime: Duration) -> bool {
    renew_before.is_some_and(|lead| lead >= lifetime)
}

/// Why a certificate has to be issued now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssueReason {
    /// No certificate is deployed yet.
    Missing,
    /// The deployed certificate cannot be read or its key does not belong to it.
    Unusable(String),
    /// The configured names differ from the deployed certificate's.
    NamesChanged,
    /// The configured key type differs from the deployed key's.
    KeyTypeChanged {
        /// What is deployed.
        deployed: Option<KeyType>,
    },
    /// The renewal time has come.
    Due {
        /// The renewal time that passed.
        since: SystemTime,
    },
    /// The certificate has expired.
    Expired,
    /// The operator asked for it (`--force`).
    Forced,
}

impl fmt::Display for IssueReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueReason::Missing => f.write_str("no certificate deployed yet"),
            IssueReason::Unusable(why) => write!(f, "deployed certificate unusable: {why}"),
            IssueReason::NamesChanged => f.write_str("configured names changed"),
            IssueReason::KeyTypeChanged { deployed: Some(k) } => {
                write!(f, "configured key type changed (deployed: {k})")
            }
            IssueReason::KeyTypeChanged { deployed: None } => {
                f.write_str("configured key type changed")
            }
            IssueReason::Due { .. } => f.write_str("due for renewal"),
            IssueReason::Expired => f.write_str("expired"),
            IssueReason::Forced => f.write_str("renewal forced"),
        }
    }
}

/// The outcome of comparing what is deployed with what is configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assessment {
    /// Issue now, for this reason.
    Issue(IssueReason),
    /// The deployed certificate is fine until `renew_at`.
    Valid {
        /// When it becomes due.
        renew_at: SystemTime,
        /// When it expires.
        not_after: SystemTime,
    },
}

/// What the configuration asks of one certificate.
#[derive(Clone, Debug)]
pub struct Wanted<'a> {
    /// The configured names.
    pub names: &'a [String],
    /// The configured key type.
    pub key_type: KeyType,
    /// The configured `renew_before`, if any.
    pub renew_before: Option<Duration>,
}

/// Decides whether a certificate must be issued, given what is deployed (`None` if nothing).
/// `key_matches` says whether the deployed key belongs to the deployed certificate.
pub fn assess(
    deployed: Option<(&CertInfo, bool)>,
    wanted: &Wanted<'_>,
    now: SystemTime,
) -> Assessment {
    let Some((info, key_matches)) = deployed else {
        return Assessment::Issue(IssueReason::Missing);
    };
    if !key_matches {
        return Assessment::Issue(IssueReason::Unusable(
            "the private key does not belong to the certificate".into(),
        ));
    }
    if !info.covers_exactly(wanted.names) {
        return Assessment::Issue(IssueReason::NamesChanged);
    }
    if info.key_type != Some(wanted.key_type) {
        return Assessment::Issue(IssueReason::KeyTypeChanged {
            deployed: info.key_type,
        });
    }
    if info.not_after <= now {
        return Assessment::Issue(IssueReason::Expired);
    }
    let renew_at = renewal_time(info, wanted.renew_before);
    if renew_at <= now {
        return Assessment::Issue(IssueReason::Due { since: renew_at });
    }
    Assessment::Valid {
        renew_at,
        not_after: info.not_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn info(start: SystemTime, lifetime: Duration) -> CertInfo {
        CertInfo {
            subject: "CN=a.test".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: start,
            not_after: start + lifetime,
            names: vec!["a.test".into()],
            key_type: Some(KeyType::EcdsaP256),
            public_key_der: vec![],
        }
    }

    fn wanted(names: &[String]) -> Wanted<'_> {
        Wanted {
            names,
            key_type: KeyType::EcdsaP256,
            renew_before: None,
        }
    }

    #[test]
    fn ninety_day_certificate_renews_with_a_third_left() {
        let start = SystemTime::UNIX_EPOCH + 1000 * DAY;
        assert_eq!(renewal_time(&info(start, 90 * DAY), None), start + 60 * DAY);
    }

    #[test]
    fn short_lived_certificate_renews_at_half_life() {
        let start = SystemTime::UNIX_EPOCH + 1000 * DAY;
        assert_eq!(renewal_time(&info(start, 6 * DAY), None), start + 3 * DAY);
        assert_eq!(renewal_time(&info(start, 10 * DAY), None), start + 5 * DAY);
    }

    #[test]
    fn renew_before_overrides_the_fraction_and_never_precedes_not_before() {
        let start = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let cert = info(start, 90 * DAY);
        assert_eq!(renewal_time(&cert, Some(30 * DAY)), start + 60 * DAY);
        assert_eq!(renewal_time(&cert, Some(7 * DAY)), start + 83 * DAY);
        assert_eq!(renewal_time(&cert, Some(89 * DAY)), start + DAY);
    }

    #[test]
    fn a_renew_before_not_shorter_than_the_lifetime_falls_back_to_the_default_policy() {
        let start = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let five_years = info(start, 1826 * DAY);
        assert_eq!(
            renewal_time(&five_years, Some(2200 * DAY)),
            renewal_time(&five_years, None)
        );
        assert!(renew_before_ignored(Some(2200 * DAY), 1826 * DAY));
        assert!(renew_before_ignored(Some(90 * DAY), 90 * DAY));
        assert!(!renew_before_ignored(Some(30 * DAY), 90 * DAY));
        assert!(!renew_before_ignored(None, 90 * DAY));
    }

    #[test]
    fn no_renew_before_renews_a_certificate_before_the_floor_has_passed() {
        let start = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let hour = Duration::from_secs(3600);
        // Long lifetimes: one hour.
        let long = info(start, 90 * DAY);
        assert_eq!(renewal_floor(90 * DAY), hour);
        assert_eq!(renewal_time(&long, Some(90 * DAY - hour / 2)), start + hour);
        // Short lifetimes: a tenth of it.
        let short = info(start, Duration::from_secs(120));
        assert_eq!(
            renewal_floor(Duration::from_secs(120)),
            Duration::from_secs(12)
        );
        assert_eq!(
            renewal_time(&short, Some(Duration::from_secs(119))),
            start + Duration::from_secs(12)
        );
        let names = ["a.test".to_string()];
        assert_eq!(
            assess(
                Some((&long, true)),
                &Wanted {
                    renew_before: Some(90 * DAY - Duration::from_secs(1)),
                    ..wanted(&names)
                },
                start + hour / 2
            ),
            Assessment::Valid {
                renew_at: start + hour,
                not_after: start + 90 * DAY
            }
        );
    }

    #[test]
    fn missing_mismatched_and_changed_certificates_are_issued() {
        let names = vec!["a.test".to_string()];
        let now = SystemTime::UNIX_EPOCH + 1001 * DAY;
        let cert = info(SystemTime::UNIX_EPOCH + 1000 * DAY, 90 * DAY);
        assert_eq!(
            assess(None, &wanted(&names), now),
            Assessment::Issue(IssueReason::Missing)
        );
        assert!(matches!(
            assess(Some((&cert, false)), &wanted(&names), now),
            Assessment::Issue(IssueReason::Unusable(_))
        ));
        let more = vec!["a.test".to_string(), "b.test".to_string()];
        assert_eq!(
            assess(Some((&cert, true)), &wanted(&more), now),
            Assessment::Issue(IssueReason::NamesChanged)
        );
        let rsa = Wanted {
            key_type: KeyType::Rsa2048,
            ..wanted(&names)
        };
        assert!(matches!(
            assess(Some((&cert, true)), &rsa, now),
            Assessment::Issue(IssueReason::KeyTypeChanged { .. })
        ));
    }

    #[test]
    fn valid_until_due_then_due_then_expired() {
        let names = vec!["a.test".to_string()];
        let start = SystemTime::UNIX_EPOCH + 1000 * DAY;
        let cert = info(start, 90 * DAY);
        assert_eq!(
            assess(Some((&cert, true)), &wanted(&names), start + DAY),
            Assessment::Valid {
                renew_at: start + 60 * DAY,
                not_after: start + 90 * DAY
            }
        );
        assert_eq!(
            assess(Some((&cert, true)), &wanted(&names), start + 61 * DAY),
            Assessment::Issue(IssueReason::Due {
                since: start + 60 * DAY
            })
        );
        assert_eq!(
            assess(Some((&cert, true)), &wanted(&names), start + 91 * DAY),
            Assessment::Issue(IssueReason::Expired)
        );
    }
}
