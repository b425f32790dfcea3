//! acmekeep's `diagnose`: walks, per certificate, the checks an operator would otherwise do
//! by hand (describe the order, read the logs, `openssl s_client -servername`, `dig TXT
//! _acme-challenge…`) and reports each problem as a [`Finding`]: symptom, likely cause and
//! what to check first, as in the "Symptom To Cause" table of the troubleshooting guide.
//!
//! [`diagnose`] runs the checks of the selected certificates with the given [`Options`] and
//! returns a [`Report`]: its findings per certificate, each of a [`Severity`]. The checks,
//! one private module per group:
//! - issuance: the issuer answers (ACME directory, Vault health, Venafi, local CA), its
//!   clock, and the last attempt's error from the state record, classified;
//! - http01: the challenge URL is reachable through the public path;
//! - dns01: zone, CNAME delegation, provider credentials and propagation;
//! - served: what each name's endpoint serves against what the sinks hold;
//! - renewing: what is deployed against the configuration, the renewal plan, the daemon,
//!   hand edits and expiry.
//!
//! Everything is bounded in time, and nothing is changed except by the two active probes
//! (a random HTTP-01 token served for a few seconds, a throwaway TXT record written and
//! removed), which [`Options::probe`] turns off. It does not parse the command line, load
//! the configuration, build the components or print: the binary's `diagnose` command does,
//! around [`diagnose`].
//!
//! ```no_run
//! # async fn example(config: &configuration::Config) -> Result<(), Box<dyn std::error::Error>> {
//! let components = configuration::Components::build(config, configuration::GeneratedCa::Existing)?;
//! let options = diagnose::Options {
//!     names: vec![],
//!     probe: false,
//!     nameserver: None,
//!     roots: cert_inspect::load_roots(None)?,
//!     http_port: 80,
//!     https_port: 443,
//! };
//! let report = diagnose::diagnose(config, &components, &options).await;
//! print!("{}", report.render());
//! # Ok(())
//! # }
//! ```

mod dns01;
mod http01;
mod issuance;
mod net;
mod renewing;
mod report;
mod served;

pub use report::{Finding, Options, Report, Severity, diagnose};
