//! The files sink of acmekeep: delivers certificates into a directory so that consumers
//! never see a certificate next to the wrong key.
//!
//! Each store writes a fresh hidden version directory, fsyncs it, and then atomically swaps
//! the `..data` symlink to it (the scheme Kubernetes uses for projected volumes). Stable
//! names point through `..data`, so a reader that opens `DIR/cert.pem` and `DIR/privkey.pem`
//! sees one version or the next, never a mix:
//!
//! ```text
//! DIR/..2026_11_28_07_40_00.123456/{cert.pem,chain.pem,fullchain.pem,privkey.pem[,ca.pem]}
//! DIR/..data -> ..2026_11_28_07_40_00.123456
//! DIR/cert.pem -> ..data/cert.pem        (and chain.pem, fullchain.pem, privkey.pem, ca.pem)
//! ```
//!
//! `privkey.pem` is 0600, or 0640 owned by the configured group; certificates are 0644,
//! whatever the umask. A store that fails before the swap removes its half-written version
//! and leaves the deployed one untouched; the `keep` most recent older versions stay, the
//! rest are pruned. The sink refuses to work through entries it did not create (a `..data`
//! pointing elsewhere, a stable name that is a file or a foreign symlink).
//!
//! [`FilesSink`] implements [`acme_core::Sink`]; [`FilesSinkConfig`] is its configuration and
//! [`Error`] its error, wrapped in [`acme_core::Error::Sink`] at the trait boundary. The sink
//! does not reload servers (that is what deploy hooks are for) and does not check that the
//! certificate matches the key.
//!
//! ```
//! use acme_core::Sink;
//! use sink_files::{FilesSink, FilesSinkConfig};
//!
//! let sink = FilesSink::new(FilesSinkConfig::new("/etc/ssl/acmekeep/web"))?;
//! assert_eq!(sink.describe(), "files:/etc/ssl/acmekeep/web");
//! # Ok::<(), sink_files::Error>(())
//! ```

mod config;
mod deploy;
mod error;
mod sink;

pub use config::FilesSinkConfig;
pub use error::Error;
pub use sink::FilesSink;
