//! What acmekeep remembers between runs, in its `state_dir`.
//!
//! - [`lock`] takes the state directory's lock ([`StateLock`]), so that two acmekeep
//!   processes never work the same directory at once.
//! - [`Store`] reads and writes one small JSON record per certificate ([`CertState`]: what
//!   the deployed certificate was issued from, the CA's renewal window, failures, waits the
//!   CA asked for, revocations).
//! - [`Journal`] records every challenge value acmekeep writes before it writes it, so that
//!   the next run removes what a killed run left behind; [`Journaled`] is the solver wrapper
//!   that keeps it.
//! - [`Kept`] holds a certificate that was issued but could not be deployed, so the next
//!   attempt deploys it instead of ordering again.
//!
//! It does not decide anything: when a certificate is due, what to do after a failure and
//! which kept certificate still fits the configuration are the renewal crate's questions;
//! this crate only stores the answers. Nothing in it is needed to keep serving: the sinks
//! hold the truth about what is deployed, and every file may be deleted.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("state-doc-{}", std::process::id()));
//! let store = state::Store::new(&dir);
//! let mut record = store.load("web");
//! record.failures += 1;
//! store.save("web", &record)?;
//! assert_eq!(store.load("web").failures, 1);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), String>(())
//! ```

mod journal;
mod kept;
mod store;

pub use journal::{Journal, Journaled};
pub use kept::Kept;
pub use store::{
    AriState, CertState, FailedHook, IssuedFrom, LastResult, Revocation, StateLock, Store, lock,
};
