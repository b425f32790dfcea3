use std::time::Duration;

use crate::Error;

/// How often one protocol step is tried before its error is final.
pub(crate) const ATTEMPTS: u32 = 6;

/// The pause before retry number `attempt` (1-based): 50 ms, doubling, at most 2 s.
pub(crate) fn pause(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(2))
}

/// Turns instant-acme's error into ours, deciding whether the step may be retried.
pub(crate) fn classify(step: &'static str, err: instant_acme::Error) -> Error {
    use instant_acme::Error as E;
    let mut problem_type = None;
    let (message, retryable) = match &err {
        E::Api(problem) => {
            let kind = problem
                .r#type
                .as_deref()
                .map(|t| t.trim_start_matches("urn:ietf:params:acme:error:"))
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
            (message, retryable)
        }
        E::Hyper(_) => (format!("cannot reach the CA: {}", chain(&err)), true),
        E::Other(inner) if inner.is::<super::http::Transport>() => {
            (format!("cannot reach the CA: {}", chain(&err)), true)
        }
        E::Timeout(_) => (
            "the CA did not finish in time (order still pending or processing)".to_string(),
            false,
        ),
        _ => (chain(&err), false),
    };
    Error::Acme {
        step,
        message,
        problem: problem_type,
        retryable,
        retry_after: None,
    }
}

/// An error with all its causes, `outer: inner: innermost`, so "connection refused" is seen.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Runs one ACME step, trying again on badNonce, 5xx and network errors with a short,
/// growing pause. The expression is evaluated anew for every attempt.
macro_rules! retrying {
    ($step:expr, $call:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match $call.await {
                Ok(value) => break Ok(value),
                Err(err) => {
                    let err = $crate::acme::retry::classify($step, err);
                    if err.is_retryable() && attempt < $crate::acme::retry::ATTEMPTS {
                        tracing::debug!(step = $step, attempt, error = %err, "retrying");
                        tokio::time::sleep($crate::acme::retry::pause(attempt)).await;
                        continue;
                    }
                    break Err(err);
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
        assert!(classify("new order", problem("badNonce", 400)).is_retryable());
        assert!(classify("new order", problem("serverInternal", 500)).is_retryable());
        assert!(!classify("new order", problem("rejectedIdentifier", 400)).is_retryable());
        assert!(!classify("new order", problem("rateLimited", 429)).is_retryable());
    }

    #[test]
    fn only_requests_without_an_answer_count_as_network_errors() {
        let refused = instant_acme::Error::Other(Box::new(super::super::http::Transport(
            "connection refused".into(),
        )));
        let err = classify("new order", refused);
        assert!(err.is_retryable());
        assert!(
            err.to_string()
                .contains("cannot reach the CA: connection refused"),
            "{err}"
        );
        let other = instant_acme::Error::Other("replaces field mismatch".into());
        assert!(!classify("new order", other).is_retryable());
    }

    #[test]
    fn problem_messages_carry_detail_and_type() {
        let err = classify("finalize", problem("badCSR", 400));
        assert_eq!(
            err.to_string(),
            "ACME finalize: something happened (badCSR)"
        );
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        assert_eq!(pause(1), Duration::from_millis(50));
        assert_eq!(pause(2), Duration::from_millis(100));
        assert!(pause(30) <= Duration::from_secs(2));
    }
}
