use crate::PROVIDERS;

/// Why a provider's settings could not be read or the provider not built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No provider of that name in this build.
    #[error("no DNS provider {name:?} in this build (known: {})", PROVIDERS.join(", "))]
    Unknown {
        /// The name as written.
        name: String,
    },
    /// The provider refused its settings (serde's message, naming the key).
    #[error("{message}")]
    Settings {
        /// The provider.
        provider: &'static str,
        /// serde's message.
        message: String,
    },
    /// The provider refused to be built from its settings (its own error).
    #[error(transparent)]
    Build(Box<dyn std::error::Error + Send + Sync>),
}
