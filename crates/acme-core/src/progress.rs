//! When a long wait says it is still waiting.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::time::MissedTickBehavior;

/// Paces the progress lines of one long wait (DNS propagation, ACME validation): one line
/// every [`Progress::EVERY`], however often the wait polls.
#[derive(Clone, Debug)]
pub struct Progress {
    start: Instant,
    every: Duration,
    next: Instant,
}

impl Progress {
    /// How often a long wait logs that it is still waiting.
    pub const EVERY: Duration = Duration::from_secs(5);

    /// A wait that began at `start`, with a line due every `every` from then.
    pub fn new(start: Instant, every: Duration) -> Progress {
        Progress {
            start,
            every,
            next: start + every,
        }
    }

    /// How long it has waited, when a progress line is due at `now` (then the next one is
    /// due `every` later); `None` between lines.
    pub fn due(&mut self, now: Instant) -> Option<Duration> {
        if now < self.next {
            return None;
        }
        self.next = now + self.every;
        Some(now.saturating_duration_since(self.start))
    }
}

/// Awaits `wait`, logging every [`Progress::EVERY`] that it still waits for `what` (e.g.
/// "validation of www.example.com") and for how long.
pub async fn with_progress<F: Future>(what: &str, wait: F) -> F::Output {
    paced(Progress::EVERY, wait, |waited| {
        tracing::info!(
            waiting_for = what,
            waited_s = waited.as_secs(),
            "still waiting"
        );
    })
    .await
}

/// Awaits `wait`, calling `report` with the time waited so far every `every`.
async fn paced<F: Future>(every: Duration, wait: F, mut report: impl FnMut(Duration)) -> F::Output {
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval_at(start + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut wait = std::pin::pin!(wait);
    loop {
        tokio::select! {
            biased;
            out = &mut wait => return out,
            tick = ticks.tick() => report(tick.duration_since(start)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_long_wait_reports_each_interval_until_it_ends_and_then_stops() {
        let (reports, mut seen) = tokio::sync::watch::channel(0usize);
        let mut waited = Vec::new();
        let wait = async move { seen.wait_for(|n| *n >= 3).await.map(|_| ()) };
        paced(Duration::from_millis(10), wait, |d| {
            waited.push(d);
            reports.send_modify(|n| *n += 1);
        })
        .await
        .expect("the wait ends");
        assert_eq!(waited.len(), 3, "{waited:?}");
        assert!(waited.windows(2).all(|w| w[0] < w[1]), "{waited:?}");
        assert!(waited[0] >= Duration::from_millis(10), "{waited:?}");
    }

    #[tokio::test]
    async fn a_short_wait_reports_nothing() {
        let mut reports = 0;
        let out = paced(Duration::from_secs(3600), async { 7 }, |_| reports += 1).await;
        assert_eq!((out, reports), (7, 0));
    }

    #[test]
    fn one_line_every_interval_however_often_it_polls() {
        let start = Instant::now();
        let mut progress = Progress::new(start, Duration::from_secs(5));
        let due: Vec<u64> = (0..=130)
            .map(|tenth| start + Duration::from_millis(tenth * 100))
            .filter_map(|now| progress.due(now))
            .map(|waited| waited.as_secs())
            .collect();
        assert_eq!(due, [5, 10]);
    }

    #[test]
    fn a_late_poll_gives_one_line_with_the_real_wait_not_a_burst() {
        let start = Instant::now();
        let mut progress = Progress::new(start, Duration::from_secs(5));
        assert_eq!(progress.due(start + Duration::from_secs(1)), None);
        assert_eq!(
            progress.due(start + Duration::from_secs(17)),
            Some(Duration::from_secs(17))
        );
        assert_eq!(progress.due(start + Duration::from_secs(18)), None);
        assert_eq!(
            progress.due(start + Duration::from_secs(22)),
            Some(Duration::from_secs(22))
        );
    }
}
