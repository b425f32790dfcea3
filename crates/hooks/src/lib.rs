//! Runs the commands acmekeep starts: hook commands around an issuance, and any program
//! that must finish within a timeout (the `exec` DNS provider's script).
//!
//! - [`Process`] is the runner: one program in its own process group, stdin closed, its
//!   stdout and stderr handed to readers of the caller's choice, killed with everything it
//!   started when it outlives its timeout or when the run is dropped. The `ACMEKEEP__…`
//!   configuration overrides are removed from its environment: they may hold secrets.
//! - [`HooksConfig`] is a certificate's `hooks` table: shell command lines for the
//!   [`Stage`]s `pre`, `deploy` and `post`, and their timeout. [`run`] runs one stage's
//!   commands with `/bin/sh -c`, in order, stopping at the first that fails
//!   ([`HookError`]); their output is logged line by line, within bounds.
//! - [`HookEnv`] is what a hook learns about the certificate, as `ACMEKEEP_*` variables.
//!
//! It does not decide when a stage runs (the renewal lifecycle does), and it does not
//! interpret a command's output: hooks' output is logged, other callers read it themselves.
//!
//! ```
//! use std::time::Duration;
//! use hooks::{HookEnv, Stage};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), hooks::HookError> {
//! let env = HookEnv { cert_name: "web".to_string(), ..HookEnv::default() };
//! hooks::run(Stage::Deploy, &["true".to_string()], &env, Duration::from_secs(5)).await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod env;
mod error;
mod output;
mod process;
mod stage;
#[cfg(test)]
mod test_support;

pub use config::{HooksConfig, Outcome, Stage};
pub use env::HookEnv;
pub use error::HookError;
pub use process::{Ending, Finished, Pipe, Process, Stream};
pub use stage::run;
