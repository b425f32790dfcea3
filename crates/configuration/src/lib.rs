//! acmekeep's configuration: reading and validating `acmekeep.toml`, and building the
//! components it describes.
//!
//! - [`load`] reads the file with the `config` crate (so `ACMEKEEP__SECTION__KEY`
//!   environment variables override single keys), deserializes every table entry on its
//!   own and cross-checks them, so that all problems of a file are reported at once, each
//!   with its key path ([`ConfigError`], [`Problem`]). The result is a [`Config`]: the
//!   `[daemon]` table ([`DaemonConfig`]) and the named [`IssuerConfig`]s, [`SolverConfig`]s
//!   and [`CertificateConfig`]s.
//! - [`Components::build`] turns a loaded configuration into the issuers, solvers and sinks
//!   of the library crates; `check`, `diagnose`, the one-shot and the daemon all build them
//!   this one way. dns-01 providers come from the provider registry ([`ProviderConfig`]).
//! - [`HooksConfig`] holds a certificate's hook commands and runs them ([`Stage`],
//!   [`HookEnv`]).
//!
//! It does not decide when a certificate is due, issue, or remember anything between runs
//! (the renewal and state crates do), and it prints nothing: problems are returned for the
//! binary to report.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("configuration-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("acmekeep.toml");
//! std::fs::write(&path, "[certificates.web]\ndomains = [\"www.example.com\"]\nissuer = \"nowhere\"\nsinks = []\n")?;
//! let error = configuration::load(&path).unwrap_err();
//! assert!(error.problems.iter().any(|p| p.key == "certificates.web.issuer"));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod config;
#[cfg(test)]
mod fuzz;
mod hooks;
mod load;
mod providers;
mod schema;
mod validate;
mod wiring;

pub use config::{Config, ConfigError, Problem};
pub use hooks::{HookEnv, HookError, HooksConfig, Outcome, Stage};
pub use load::{load, load_with_problems};
pub use providers::{PROVIDERS, ParseError, ProviderConfig};
pub use schema::{
    CertificateConfig, DaemonConfig, IssuerConfig, SinkConfig, SolverConfig, SolverKind,
};
pub use wiring::{Components, GeneratedCa};
