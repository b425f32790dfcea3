//! The metrics registry: per-certificate series plus the `metrics` facade's recorder.
//!
//! Per-certificate series live in a small table of their own rather than in the facade's
//! recorder, because the facade cannot delete a series: a certificate removed from the
//! configuration must disappear from `/metrics` (as cert-manager does for a deleted
//! Certificate), or its last expiry would keep alerts firing forever.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::ObserveError;

const EXPIRATION: &str = "acmekeep_certificate_expiration_timestamp_seconds";
const NOT_BEFORE: &str = "acmekeep_certificate_not_before_timestamp_seconds";
const RENEWAL: &str = "acmekeep_certificate_renewal_timestamp_seconds";
const READY: &str = "acmekeep_certificate_ready_status";
const FAILURES: &str = "acmekeep_issuance_failures_total";

/// Histogram buckets (seconds) for durations recorded through the facade, i.e. ACME
/// requests: from a fast local CA to the 30 s request timeout.
const DURATION_BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The series of one certificate, keyed by (name, issuer).
#[derive(Clone, Copy, Debug, Default)]
struct Series {
    validity: Option<Validity>,
    ready: Option<bool>,
    failures: u64,
}

#[derive(Clone, Copy, Debug)]
struct Validity {
    not_before: i64,
    not_after: i64,
    renew_at: i64,
}

type Certificates = BTreeMap<(String, String), Series>;

/// A cheap, cloneable handle on everything `/metrics` shows.
#[derive(Clone)]
pub struct Metrics {
    facade: PrometheusHandle,
    certificates: Arc<RwLock<Certificates>>,
}

impl Metrics {
    /// Builds the registry and installs its recorder as the process-wide `metrics` recorder,
    /// so that what the libraries record shows up. Call once, early (before issuers are
    /// built, so their metric descriptions are registered); a second call fails.
    pub fn install() -> Result<Metrics, ObserveError> {
        let (metrics, recorder) = Metrics::with_recorder()?;
        ::metrics::set_global_recorder(recorder)
            .map_err(|e| ObserveError::Recorder(e.to_string()))?;
        Ok(metrics)
    }

    /// Builds the registry and returns its recorder without installing it, for tests (with
    /// `metrics::with_local_recorder`) or to install it some other way.
    pub fn with_recorder() -> Result<(Metrics, PrometheusRecorder), ObserveError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&DURATION_BUCKETS)
            .map_err(|e| ObserveError::Recorder(e.to_string()))?
            .build_recorder();
        let metrics = Metrics {
            facade: recorder.handle(),
            certificates: Arc::default(),
        };
        Ok((metrics, recorder))
    }

    /// Records the validity of the certificate `name` from `issuer` now deployed, and when
    /// it is due for renewal.
    pub fn record_certificate(
        &self,
        name: &str,
        issuer: &str,
        not_before: SystemTime,
        not_after: SystemTime,
        renew_at: SystemTime,
    ) {
        self.update(name, issuer, |series| {
            series.validity = Some(Validity {
                not_before: unix_seconds(not_before),
                not_after: unix_seconds(not_after),
                renew_at: unix_seconds(renew_at),
            });
        });
    }

    /// Records whether the certificate is ready: a valid certificate is deployed and not due.
    pub fn record_ready(&self, name: &str, issuer: &str, ready: bool) {
        self.update(name, issuer, |series| series.ready = Some(ready));
    }

    /// Counts one failed issuance of the certificate.
    pub fn record_failure(&self, name: &str, issuer: &str) {
        self.update(name, issuer, |series| series.failures += 1);
    }

    /// Removes every series of the certificate (it left the configuration or changed issuer).
    pub fn forget_certificate(&self, name: &str, issuer: &str) {
        self.certificates
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(name.to_string(), issuer.to_string()));
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        {
            let certificates = self
                .certificates
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            render_certificates(&certificates, &mut out);
        }
        out.push_str(&self.facade.render());
        out
    }

    /// Drains the facade's histogram samples into their buckets, so that memory stays
    /// bounded between scrapes; the daemon calls it after each task, not on a timer, so an
    /// idle daemon never wakes up.
    pub fn upkeep(&self) {
        self.facade.run_upkeep();
    }

    fn update(&self, name: &str, issuer: &str, change: impl FnOnce(&mut Series)) {
        let mut certificates = self
            .certificates
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        change(
            certificates
                .entry((name.to_string(), issuer.to_string()))
                .or_default(),
        );
    }
}

fn render_certificates(certificates: &Certificates, out: &mut String) {
    let validity = || {
        certificates
            .iter()
            .filter_map(|(key, series)| series.validity.map(|v| (key, v)))
    };
    family(
        out,
        EXPIRATION,
        "gauge",
        "The date after which the certificate expires, in seconds since the Unix epoch.",
        validity().map(|((name, issuer), v)| (labels(name, issuer, None), v.not_after)),
    );
    family(
        out,
        NOT_BEFORE,
        "gauge",
        "The date before which the certificate is not valid, in seconds since the Unix epoch.",
        validity().map(|((name, issuer), v)| (labels(name, issuer, None), v.not_before)),
    );
    family(
        out,
        RENEWAL,
        "gauge",
        "The date after which the certificate is renewed, in seconds since the Unix epoch.",
        validity().map(|((name, issuer), v)| (labels(name, issuer, None), v.renew_at)),
    );
    family(
        out,
        READY,
        "gauge",
        "The ready status of the certificate: 1 for the condition it is in, 0 for the other.",
        certificates.iter().flat_map(|((name, issuer), series)| {
            series.ready.into_iter().flat_map(move |ready| {
                [("True", ready), ("False", !ready)].map(|(condition, value)| {
                    (labels(name, issuer, Some(condition)), i64::from(value))
                })
            })
        }),
    );
    family(
        out,
        FAILURES,
        "counter",
        "Failed issuances of the certificate since acmekeep started.",
        certificates
            .iter()
            .map(|((name, issuer), series)| (labels(name, issuer, None), series.failures)),
    );
}

/// Writes one metric family; nothing at all when it has no series.
fn family<V: Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    series: impl Iterator<Item = (String, V)>,
) {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return;
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in series {
        let _ = writeln!(out, "{name}{{{labels}}} {value}");
    }
    out.push('\n');
}

fn labels(name: &str, issuer: &str, condition: Option<&str>) -> String {
    let mut labels = format!("name=\"{}\",issuer=\"{}\"", escape(name), escape(issuer));
    if let Some(condition) = condition {
        let _ = write!(labels, ",condition=\"{condition}\"");
    }
    labels
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn metrics() -> Metrics {
        Metrics::with_recorder().expect("recorder").0
    }

    #[test]
    fn a_recorded_certificate_shows_its_validity_renewal_readiness_and_failures() {
        let metrics = metrics();
        metrics.record_certificate(
            "web",
            "letsencrypt",
            at(1_700_000_000),
            at(1_707_776_000),
            at(1_705_184_000),
        );
        metrics.record_ready("web", "letsencrypt", true);
        let text = metrics.render();
        let expected = [
            "# HELP acmekeep_certificate_expiration_timestamp_seconds The date after which the certificate expires, in seconds since the Unix epoch.",
            "# TYPE acmekeep_certificate_expiration_timestamp_seconds gauge",
            "acmekeep_certificate_expiration_timestamp_seconds{name=\"web\",issuer=\"letsencrypt\"} 1707776000",
            "# TYPE acmekeep_certificate_not_before_timestamp_seconds gauge",
            "acmekeep_certificate_not_before_timestamp_seconds{name=\"web\",issuer=\"letsencrypt\"} 1700000000",
            "# TYPE acmekeep_certificate_renewal_timestamp_seconds gauge",
            "acmekeep_certificate_renewal_timestamp_seconds{name=\"web\",issuer=\"letsencrypt\"} 1705184000",
            "# TYPE acmekeep_certificate_ready_status gauge",
            "acmekeep_certificate_ready_status{name=\"web\",issuer=\"letsencrypt\",condition=\"True\"} 1",
            "acmekeep_certificate_ready_status{name=\"web\",issuer=\"letsencrypt\",condition=\"False\"} 0",
            "# TYPE acmekeep_issuance_failures_total counter",
            "acmekeep_issuance_failures_total{name=\"web\",issuer=\"letsencrypt\"} 0",
        ];
        for line in expected {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn failures_count_up_and_readiness_follows_the_last_record() {
        let metrics = metrics();
        metrics.record_ready("api", "internal", true);
        metrics.record_failure("api", "internal");
        metrics.record_failure("api", "internal");
        metrics.record_ready("api", "internal", false);
        let text = metrics.render();
        for line in [
            "acmekeep_issuance_failures_total{name=\"api\",issuer=\"internal\"} 2",
            "acmekeep_certificate_ready_status{name=\"api\",issuer=\"internal\",condition=\"True\"} 0",
            "acmekeep_certificate_ready_status{name=\"api\",issuer=\"internal\",condition=\"False\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(
            !text.contains("expiration"),
            "no validity series before a certificate is recorded:\n{text}"
        );
    }

    #[test]
    fn a_forgotten_certificate_leaves_no_series_behind() {
        let metrics = metrics();
        metrics.record_certificate("old", "le", at(1), at(2), at(3));
        metrics.record_ready("old", "le", true);
        metrics.record_failure("old", "le");
        metrics.record_ready("kept", "le", true);
        metrics.forget_certificate("old", "le");
        let text = metrics.render();
        assert!(!text.contains("name=\"old\""), "{text}");
        assert!(text.contains("name=\"kept\""), "{text}");
        assert!(
            !text.contains("expiration"),
            "empty families are left out:\n{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = metrics();
        metrics.record_failure("a\"b\\c\nd", "le");
        assert!(
            metrics
                .render()
                .contains("{name=\"a\\\"b\\\\c\\nd\",issuer=\"le\"} 1"),
            "{}",
            metrics.render()
        );
    }

    #[test]
    fn facade_durations_get_histogram_buckets() {
        let (metrics, recorder) = Metrics::with_recorder().expect("recorder");
        ::metrics::with_local_recorder(&recorder, || {
            ::metrics::histogram!("acmekeep_acme_client_request_duration_seconds", "method" => "POST")
                .record(0.2);
        });
        let text = metrics.render();
        for line in [
            "# TYPE acmekeep_acme_client_request_duration_seconds histogram",
            "acmekeep_acme_client_request_duration_seconds_bucket{method=\"POST\",le=\"0.1\"} 0",
            "acmekeep_acme_client_request_duration_seconds_bucket{method=\"POST\",le=\"0.25\"} 1",
            "acmekeep_acme_client_request_duration_seconds_bucket{method=\"POST\",le=\"+Inf\"} 1",
            "acmekeep_acme_client_request_duration_seconds_count{method=\"POST\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }

    #[test]
    fn times_before_the_epoch_are_negative() {
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
        assert_eq!(unix_seconds(at(7)), 7);
    }
}
