//! What `/readyz` answers from: is the configuration loaded, is any certificate expired.

use std::sync::{Arc, PoisonError, RwLock};

/// A cheap, cloneable handle the daemon updates and `/readyz` reads. Not ready until
/// [`set_loaded(true)`](Readiness::set_loaded).
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<RwLock<State>>);

#[derive(Debug, Default)]
struct State {
    loaded: bool,
    expired: Vec<String>,
}

impl Readiness {
    /// A handle that is not ready yet.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Records whether a valid configuration is loaded.
    pub fn set_loaded(&self, loaded: bool) {
        self.write().loaded = loaded;
    }

    /// Records the names of the managed certificates that are expired now (replacing the
    /// previous list; empty when none is).
    pub fn set_expired<S: Into<String>>(&self, names: impl IntoIterator<Item = S>) {
        let mut expired = names.into_iter().map(Into::into).collect::<Vec<_>>();
        expired.sort();
        expired.dedup();
        self.write().expired = expired;
    }

    /// `Ok` when ready, else why not, in a short sentence for people.
    pub fn check(&self) -> Result<(), String> {
        let state = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if !state.loaded {
            return Err("configuration not loaded".to_string());
        }
        if !state.expired.is_empty() {
            return Err(format!(
                "expired certificates: {}",
                state.expired.join(", ")
            ));
        }
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_loaded_with_no_expired_certificate() {
        let readiness = Readiness::new();
        assert_eq!(
            readiness.check(),
            Err("configuration not loaded".to_string())
        );
        readiness.set_loaded(true);
        assert_eq!(readiness.check(), Ok(()));
    }

    #[test]
    fn expired_certificates_are_named_sorted_and_once() {
        let readiness = Readiness::new();
        readiness.set_loaded(true);
        readiness.set_expired(["web", "api", "web"]);
        assert_eq!(
            readiness.check(),
            Err("expired certificates: api, web".to_string())
        );
        readiness.set_expired(Vec::<String>::new());
        assert_eq!(readiness.check(), Ok(()));
    }
}
