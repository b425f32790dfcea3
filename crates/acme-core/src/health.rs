use std::fmt;
use std::time::{Duration, SystemTime};

/// How long one health check may wait for an answer: `check --online` and `diagnose` ask
/// every component, and a component that does not answer within this is unreachable.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What one look at a component found, from the best to the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HealthStatus {
    /// It answered as the service it should be, or there was nothing to ask.
    Healthy,
    /// It works now, but something it depends on expires soon (a local CA's certificate).
    Expiring,
    /// Something it depends on has expired: what it signs is not trusted.
    Expired,
    /// It answered, but refuses or cannot do its job: credentials rejected, sealed, not
    /// writable.
    Refused,
    /// It did not answer, or not as the expected service: network, TLS, timeout, wrong URL.
    Unreachable,
}

impl HealthStatus {
    /// The word `check --online` prints: `OK`, `EXPIRING`, `EXPIRED`, `REFUSED`, `UNREACHABLE`.
    pub fn label(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "OK",
            HealthStatus::Expiring => "EXPIRING",
            HealthStatus::Expired => "EXPIRED",
            HealthStatus::Refused => "REFUSED",
            HealthStatus::Unreachable => "UNREACHABLE",
        }
    }
}

/// The answer of a component's `health()`: which endpoint was asked, what it said, and
/// what else the answer showed (the server's clock, an expiry).
///
/// A health check is read-only and bounded by [`HEALTH_TIMEOUT`]: it never orders, writes a
/// certificate or leaves anything behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The verdict.
    pub status: HealthStatus,
    /// What was asked, e.g. an ACME directory URL, `the CA certificate`, a sink's directory.
    pub endpoint: String,
    /// What the answer was, or why there was none; for a failure, what to change.
    pub detail: String,
    /// The server's `Date` header, for comparing clocks.
    pub server_date: Option<SystemTime>,
    /// When what the component depends on stops being valid (a local CA's certificate).
    pub valid_until: Option<SystemTime>,
}

impl Health {
    /// A healthy answer from `endpoint`.
    pub fn healthy(endpoint: impl Into<String>, detail: impl Into<String>) -> Health {
        Health::new(HealthStatus::Healthy, endpoint, detail)
    }

    /// No answer, or not the expected service, at `endpoint`.
    pub fn unreachable(endpoint: impl Into<String>, detail: impl Into<String>) -> Health {
        Health::new(HealthStatus::Unreachable, endpoint, detail)
    }

    /// `endpoint` answered, and refused or cannot work.
    pub fn refused(endpoint: impl Into<String>, detail: impl Into<String>) -> Health {
        Health::new(HealthStatus::Refused, endpoint, detail)
    }

    /// The verdict for something valid until `valid_until`: expired at or after it, expiring
    /// when less than `warning` is left, else healthy.
    pub fn by_expiry(
        endpoint: impl Into<String>,
        valid_until: SystemTime,
        warning: Duration,
        now: SystemTime,
    ) -> Health {
        let at = humantime::format_rfc3339_seconds(valid_until);
        let (status, detail) = if valid_until <= now {
            (HealthStatus::Expired, format!("expired at {at}"))
        } else if valid_until < now + warning {
            (HealthStatus::Expiring, format!("expires at {at}"))
        } else {
            (HealthStatus::Healthy, format!("valid until {at}"))
        };
        Health {
            valid_until: Some(valid_until),
            ..Health::new(status, endpoint, detail)
        }
    }

    /// The same, with the server's `Date` header (an HTTP date; ignored when unreadable).
    pub fn with_server_date(mut self, date: Option<SystemTime>) -> Health {
        self.server_date = date;
        self
    }

    /// Whether the component can do its job now (healthy, or expiring but still valid).
    pub fn is_usable(&self) -> bool {
        matches!(self.status, HealthStatus::Healthy | HealthStatus::Expiring)
    }

    fn new(status: HealthStatus, endpoint: impl Into<String>, detail: impl Into<String>) -> Health {
        Health {
            status,
            endpoint: endpoint.into(),
            detail: detail.into(),
            server_date: None,
            valid_until: None,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.status.label(),
            self.endpoint,
            self.detail
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_decides_between_healthy_expiring_and_expired() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let day = Duration::from_secs(86_400);
        let verdict = |until| Health::by_expiry("the CA certificate", until, 30 * day, now);
        assert_eq!(verdict(now + 31 * day).status, HealthStatus::Healthy);
        let expiring = verdict(now + 29 * day);
        assert_eq!(expiring.status, HealthStatus::Expiring);
        assert!(expiring.is_usable());
        assert_eq!(expiring.valid_until, Some(now + 29 * day));
        let expired = verdict(now);
        assert_eq!(expired.status, HealthStatus::Expired);
        assert!(!expired.is_usable());
        assert_eq!(
            expired.to_string(),
            "EXPIRED (the CA certificate): expired at 2027-01-15T08:00:00Z"
        );
    }

    #[test]
    fn only_healthy_and_expiring_components_are_usable() {
        assert!(Health::healthy("u", "answered").is_usable());
        assert!(!Health::unreachable("u", "connection refused").is_usable());
        assert!(!Health::refused("u", "sealed").is_usable());
    }
}
