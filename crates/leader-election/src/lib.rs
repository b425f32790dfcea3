//! Leader election for acmekeep replicas on a `coordination.k8s.io/v1` Lease, so that of
//! several replicas of the daemon exactly one issues certificates.
//!
//! [`Elector::new`] validates a [`LeaderElectionConfig`]; [`Elector::start`] spawns the
//! campaign and returns a [`Leadership`]: [`Leadership::is_leader`] and
//! [`Leadership::subscribe`] tell whether this replica leads, [`Leadership::acquired`] waits
//! for a term and returns a [`CancellationToken`](tokio_util::sync::CancellationToken) that
//! is cancelled when the term ends, and [`Leadership::shutdown`] steps down and releases the
//! Lease. The crate does not decide what a leader does; the daemon runs its scheduler while
//! the token is live.
//!
//! # Timing guarantees
//!
//! Every write is conditional on the Lease's `resourceVersion` (a 409 means another replica
//! wrote first; the candidate re-reads and tries again), so at most one replica wins each
//! change of holder.
//!
//! - A candidate takes a held Lease only after it has observed no change to it for
//!   `lease_duration`, measured on its own monotonic clock from the moment it first saw the
//!   current version (as client-go does), so clock skew between nodes does not matter.
//! - The leader renews every `retry_period`. When no renewal *sent* within the last
//!   `renew_deadline` has succeeded, it cancels its term token and reports `false`, without
//!   waiting for a slow request. Since a renewal is written after it is sent, and others wait
//!   `lease_duration` after seeing it, the leader stops at least `lease_duration -
//!   renew_deadline` (5s by default) before anyone else may start: that margin is the time the
//!   daemon has to stop its work once the token fires, and it also absorbs clock-rate drift.
//! - A leader that sees another holder in the Lease steps down at once.
//! - On [`Leadership::shutdown`] the leader steps down, then clears `holderIdentity` (with a
//!   1 s duration), so a waiting candidate takes over at its next try (within
//!   `retry_period`). A killed replica does not release; the others wait `lease_duration`.
//!
//! ```no_run
//! use leader_election::{Elector, LeaderElectionConfig};
//!
//! # async fn demo() -> Result<(), leader_election::Error> {
//! let mut leadership = Elector::new(LeaderElectionConfig::new("acmekeep"))?.start();
//! while let Some(term) = leadership.acquired().await {
//!     // issue and renew certificates until `term` is cancelled
//!     term.cancelled().await;
//! }
//! leadership.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod config;
mod elector;
mod error;

pub use config::LeaderElectionConfig;
pub use elector::{Elector, Leadership};
pub use error::Error;
