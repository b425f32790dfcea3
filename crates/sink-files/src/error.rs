use std::path::{Path, PathBuf};

/// Everything that can go wrong when configuring, storing to or loading from a files sink.
///
/// Messages name the offending path or configuration value; they never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configured `dir` is not an absolute path.
    #[error("files sink: `dir` must be an absolute path, got {}", .0.display())]
    RelativeDir(PathBuf),
    /// The configured `group` names no group on this system.
    #[error("files sink: `group` {0:?} does not exist on this system")]
    UnknownGroup(String),
    /// Looking up the configured `group` failed.
    #[error("files sink: looking up `group` {group:?}: {source}")]
    GroupLookup {
        /// The group as configured.
        group: String,
        /// The error of the group database.
        source: nix::Error,
    },
    /// Reading or writing a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file, directory or symlink involved.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A path the sink manages holds something it did not put there (for example a symlink
    /// planted to redirect writes); the sink refuses to follow or replace it.
    #[error("{}: {found}; refusing to use or replace it (remove it if it is stale)", path.display())]
    Unexpected {
        /// The path that holds the unexpected entry.
        path: PathBuf,
        /// What was found there and what was expected.
        found: String,
    },
    /// The deployed files do not belong together: one of them was replaced or edited on its
    /// own, by hand or by another tool. The certificate is due to be deployed again.
    #[error("{}: {reason} (replaced or edited on its own); the certificate must be deployed again", path.display())]
    Disagreement {
        /// The stable name of the file that differs, e.g. `DIR/fullchain.pem`.
        path: PathBuf,
        /// How it differs.
        reason: String,
    },
    /// The background task that does the blocking file work did not finish.
    #[error("files sink: the file task for {} did not finish: {reason}", dir.display())]
    Task {
        /// The sink's directory.
        dir: PathBuf,
        /// Why the task ended (cancelled or panicked).
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn unexpected(path: impl AsRef<Path>, found: impl Into<String>) -> Self {
        Error::Unexpected {
            path: path.as_ref().to_path_buf(),
            found: found.into(),
        }
    }
}
