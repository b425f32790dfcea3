use std::time::{Duration, SystemTime};

use acme_core::Error;

/// How often one protocol step is tried before its error is final.
pub(crate) const ATTEMPTS: u32 = 6;

/// The longest Retry-After a step waits out itself; a CA asking for more gets the error
/// back to the scheduler, which comes back then (or later).
pub(crate) const LONGEST_INLINE_WAIT: Duration = Duration::from_secs(5);

/// The pause before retry number `attempt` (1-based): 50 ms, doubling, at most 2 s.
pub(crate) fn pause(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(2))
}

/// How long to wait before trying `err`'s step again as attempt `attempt + 1`, or `None`
/// when the error is final: not retryable, out of attempts, or the CA asked (Retry-After)
/// for more than [`LONGEST_INLINE_WAIT`].
pub(crate) fn wait_before_retry(attempt: u32, err: &Error, now: SystemTime) -> Option<Duration> {
    if !err.is_retryable() || attempt >= ATTEMPTS {
        return None;
    }
    let asked = match err {
        Error::Acme {
            retry_after: Some(at),
            ..
        } => at.duration_since(now).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    (asked <= LONGEST_INLINE_WAIT).then(|| asked.max(pause(attempt)))
}

/// Turns instant-acme's error into ours, deciding whether the step may be retried.
/// `refusal` is when the CA's answer asked to be retried (see `http::watch_refusals`); it
/// becomes the error's `retry_after` when the error is that answer's problem document.
pub(crate) fn classify(
    step: &'static str,
    err: instant_acme::Error,
    refusal: Option<SystemTime>,
) -> Error {
    use instant_acme::Error as E;
    let mut problem_type = None;
    let retry_after = refusal.filter(|_| matches!(err, E::Api(_)));
    let (message, retryable) = match &err {
        E::Api(problem) => {
            let kind = problem
                .r#type
                .as_deref()
                .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"))
                .filter(|kind| !kind.trim().is_empty())
                .unwrap_or("unknown problem");
            problem_type = Some(kind.to_string());
            let mut message = match &problem.detail {
                Some(detail) => format!("{detail} ({kind})"),
                None => kind.to_string(),
            };
            for sub in &problem.subproblems {
                if let Some(detail) = &sub.detail {
                    message.push_str("; ");
                    message.push_str(detail);
                }
            }
            let retryable = kind == "badNonce" || problem.status.is_some_and(|s| s >= 500);
            (acme_core::printable(&message), retryable)
        }
        E::Hyper(_) => (
            format!("cannot reach the CA: {}", acme_core::error_chain(&err)),
            true,
        ),
        E::Other(inner) if inner.is::<super::http::Transport>() => (
            format!("cannot reach the CA: {}", acme_core::error_chain(&err)),
            true,
        ),
        E::Timeout(_) => (
            "the CA did not finish in time (order still pending or processing)".to_string(),
            false,
        ),
        _ => (acme_core::printable(&acme_core::error_chain(&err)), false),
    };
    Error::Acme {
        step,
        message,
        problem: problem_type,
        retryable,
        retry_after,
    }
}

/// Runs one ACME step, trying again on badNonce, 5xx and network errors with a short,
/// growing pause, or after the CA's Retry-After when it is short (see
/// [`wait_before_retry`]). The expression is evaluated anew for every attempt.
macro_rules! retrying {
    ($step:expr, $call:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match $crate::http::watch_refusals($call).await {
                (Ok(value), _) => break Ok(value),
                (Err(err), refusal) => {
                    let err = $crate::retry::classify($step, err, refusal);
                    let now = std::time::SystemTime::now();
                    match $crate::retry::wait_before_retry(attempt, &err, now) {
                        Some(wait) => {
                            tracing::debug!(step = $step, attempt, error = %err, "retrying");
                            tokio::time::sleep(wait).await;
                        }
                        None => break Err(err),
                    }
                }
            }
        }
    }};
}
pub(crate) use retrying;

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &str, status: u16) -> instant_acme::Error {
        instant_acme::Error::Api(
            serde_json::from_value(serde_json::json!({
                "type": format!("urn:ietf:params:acme:error:{kind}"),
                "detail": "something happened",
                "status": status,
            }))
            .expect("problem"),
        )
    }

    #[test]
    fn bad_nonce_and_server_errors_are_retried_but_rejections_are_not() {
        assert!(classify("new order", problem("badNonce", 400), None).is_retryable());
        assert!(classify("new order", problem("serverInternal", 500), None).is_retryable());
        assert!(!classify("new order", problem("rejectedIdentifier", 400), None).is_retryable());
        assert!(!classify("new order", problem("rateLimited", 429), None).is_retryable());
    }

    #[test]
    fn only_requests_without_an_answer_count_as_network_errors() {
        let refused = instant_acme::Error::Other(Box::new(super::super::http::Transport(
            "connection refused".into(),
        )));
        let err = classify("new order", refused, None);
        assert!(err.is_retryable());
        assert!(
            err.to_string()
                .contains("cannot reach the CA: connection refused"),
            "{err}"
        );
        let other = instant_acme::Error::Other("replaces field mismatch".into());
        assert!(!classify("new order", other, None).is_retryable());
    }

    #[test]
    fn a_problem_with_an_empty_type_and_no_detail_still_says_something() {
        let empty = instant_acme::Error::Api(
            serde_json::from_value(serde_json::json!({"type": "urn:ietf:params:acme:error:"}))
                .expect("problem"),
        );
        assert_eq!(
            classify("new order", empty, None).to_string(),
            "ACME new order: unknown problem"
        );
    }

    #[test]
    fn problem_messages_carry_detail_and_type() {
        let err = classify("finalize", problem("badCSR", 400), None);
        assert_eq!(
            err.to_string(),
            "ACME finalize: something happened (badCSR)"
        );
    }

    #[test]
    fn a_rate_limit_or_unavailable_problem_carries_the_cas_retry_after() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let limited = classify("new order", problem("rateLimited", 429), Some(at));
        assert_eq!(limited.acme_problem(), Some("rateLimited"));
        assert!(
            matches!(limited, Error::Acme { retry_after: Some(t), .. } if t == at),
            "{limited:?}"
        );
        let unavailable = classify("finalize", problem("serverInternal", 503), Some(at));
        assert!(
            matches!(unavailable, Error::Acme { retry_after: Some(t), .. } if t == at),
            "{unavailable:?}"
        );
    }

    #[test]
    fn an_error_that_is_no_answer_of_the_ca_carries_no_retry_after() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let refused = instant_acme::Error::Other(Box::new(super::super::http::Transport(
            "connection reset".into(),
        )));
        assert!(matches!(
            classify("new order", refused, Some(at)),
            Error::Acme {
                retry_after: None,
                ..
            }
        ));
    }

    fn unavailable_until(at: SystemTime) -> Error {
        classify("new order", problem("serverInternal", 503), Some(at))
    }

    #[test]
    fn a_short_retry_after_is_waited_out_within_the_step() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let err = unavailable_until(now + Duration::from_secs(3));
        assert_eq!(
            wait_before_retry(1, &err, now),
            Some(Duration::from_secs(3))
        );
        let past = unavailable_until(now - Duration::from_secs(3));
        assert_eq!(wait_before_retry(1, &past, now), Some(pause(1)));
    }

    #[test]
    fn a_long_retry_after_ends_the_step_for_the_scheduler_to_come_back() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let err = unavailable_until(now + LONGEST_INLINE_WAIT + Duration::from_secs(1));
        assert_eq!(wait_before_retry(1, &err, now), None);
    }

    #[test]
    fn final_errors_and_the_last_attempt_are_not_retried() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let limited = classify("new order", problem("rateLimited", 429), Some(now));
        assert_eq!(wait_before_retry(1, &limited, now), None);
        let nonce = classify("new order", problem("badNonce", 400), None);
        assert_eq!(wait_before_retry(1, &nonce, now), Some(pause(1)));
        assert_eq!(wait_before_retry(ATTEMPTS, &nonce, now), None);
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        assert_eq!(pause(1), Duration::from_millis(50));
        assert_eq!(pause(2), Duration::from_millis(100));
        assert!(pause(30) <= Duration::from_secs(2));
    }
}
