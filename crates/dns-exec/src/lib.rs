//! DNS-01 TXT records through a command the user provides, for any DNS with a script.
//!
//! [`Provider`] implements [`acme_core::DnsProvider`] by running the configured program
//! the way lego's `exec` provider does:
//!
//! ```text
//! COMMAND present _acme-challenge.www.example.com. VALUE
//! COMMAND cleanup _acme-challenge.www.example.com. VALUE
//! ```
//!
//! The name is absolute and ends with a dot (as lego passes it, so lego scripts work
//! unchanged); the value is the TXT record's content, without quotes. `command` is a program
//! (a path, or a name looked up on `PATH`), run directly without a shell, with stdin closed,
//! the configured `env` added to acmekeep's environment, and `ACMEKEEP_ZONE` set to the
//! zone. Exit status 0 means done; anything else is an [`Error`] with the status and the last
//! lines of stderr. A command still running after `timeout` is killed with its whole process
//! group. A script must accept a second `present` for the same name with a different value
//! (a wildcard and its apex share one name) and remove only the value `cleanup` names.
//!
//! It does not wait for propagation (the DNS-01 solver does that for every provider).
//!
//! ```no_run
//! use acme_core::DnsProvider;
//! use dns_exec::{Config, Provider};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config: Config = serde_json::from_str(
//!     r#"{"command": "/etc/acmekeep/dns-hook.sh", "timeout": "30s"}"#,
//! )?;
//! let provider = Provider::new(config)?;
//! provider.set_txt("example.com", "_acme-challenge.www.example.com", "abc").await?;
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod provider;

pub use config::Config;
pub use error::Error;
pub use provider::{NAME, Provider};
