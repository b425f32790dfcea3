//! When acmekeep renews a certificate and why, and the step that renews it.
//!
//! - [`plan`] is the one due/why decision the one-shot, the daemon, `status` and `diagnose`
//!   share: DESIGN.md's "Renewal" section as a pure function of what is deployed, what the
//!   configuration wants ([`Target`]) and what state remembers. It answers with a [`Plan`]:
//!   when, on what [`Basis`]. [`ask_window`] is the one place that asks the CA for a
//!   renewal window (ARI) and remembers it; [`backoff`] and [`ca_wait`] decide the pause
//!   after a [`Failure`].
//! - [`inspect`] reads what a certificate's sinks hold ([`Deployed`]);
//!   [`issue_and_deploy`] runs one lifecycle step: the `pre` hooks, an issuance (or the
//!   certificate an earlier attempt kept), delivery to every sink, the `deploy` and `post`
//!   hooks ([`Issued`] or [`Failure`]); [`record_attempt`] writes its outcome into the
//!   certificate's record, the same way for the one-shot and the daemon.
//! - [`Queue`] is the daemon's timer queue of [`Event`]s: only the earliest is looked at,
//!   so an idle daemon costs nothing however many certificates it manages.
//!
//! It does not parse configuration, store records (it hands [`state::CertState`] values to
//! the caller to save), schedule tasks or print anything: the binary's commands and daemon
//! do that around these functions.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! let now = SystemTime::now();
//! let mut queue = renewal::Queue::default();
//! queue.schedule("web", renewal::Event::Renew, now + Duration::from_secs(60));
//! queue.schedule("api", renewal::Event::Renew, now);
//! assert_eq!(queue.pop_due(now), Some(("api".to_string(), renewal::Event::Renew)));
//! assert_eq!(queue.pop_due(now), None);
//! ```

mod due;
mod lifecycle;
mod queue;

pub use due::{
    Basis, Plan, Target, ask_window, backoff, ca_wait, config_warnings, issued_state, plan,
    renew_before_warning, window_wanted,
};
pub use lifecycle::{
    Deployed, Failure, Issued, Retry, inspect, issue_and_deploy, kept_waiting, record_attempt,
    record_deploy_hook, retry_deploy_hook, wanted,
};
pub use queue::{Event, Queue};
