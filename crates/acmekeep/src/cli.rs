//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// acmekeep keeps TLS certificates valid: it issues them from ACME CAs or a local CA,
/// proves control of the names, delivers them atomically and renews them on time.
#[derive(Debug, Parser)]
#[command(name = "acmekeep", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "ACMEKEEP_CONFIG",
        default_value = "/etc/acmekeep/acmekeep.toml"
    )]
    pub config: PathBuf,

    /// One-shot: issue the named certificates (all if none named) that are missing or due, then exit.
    #[arg(long, value_name = "NAME", num_args = 0..)]
    pub issue: Option<Vec<String>>,

    /// With --issue: renew even if the deployed certificate is still valid.
    #[arg(long, requires = "issue")]
    pub force: bool,

    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// More detail in logs (-v: debug, -vv: trace). ACMEKEEP_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration file and report every problem in it.
    Check {
        /// Also try each dns-01 solver for real: write, wait for and remove a throwaway TXT record.
        #[arg(long)]
        online: bool,
    },
    /// Keep every certificate fresh until SIGTERM; SIGHUP reloads the configuration.
    Run,
    /// Show each certificate: names, issuer, expiry, when it renews and why, last result.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the certificate deployed for NAME at its issuer; it is replaced on the next
    /// --issue or daemon pass unless --no-reissue.
    Revoke(crate::revoke::RevokeArgs),
    /// Walk the checks behind each symptom (issuer, challenges, DNS, what is served, renewal)
    /// and print every problem found: symptom, likely cause, what to check.
    Diagnose(DiagnoseArgs),
    /// Show what a certificate file, a files-sink directory, a TLS Secret, a configured
    /// certificate's sinks or a live endpoint holds, and what is wrong with it.
    Inspect(crate::inspect::InspectArgs),
}

/// `acmekeep diagnose [NAME…]`: what the command line asked for.
#[derive(Clone, Debug, clap::Args)]
pub struct DiagnoseArgs {
    /// The certificates to check (`[certificates.NAME]`); all when none is named.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Print the findings as a JSON array instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the checks that act: the HTTP-01 probe token and the DNS-01 throwaway TXT record.
    #[arg(long)]
    pub no_probe: bool,
    /// Resolve names through this DNS server (IP:PORT) instead of the system resolver, e.g. a
    /// public resolver to see what a CA sees.
    #[arg(long, value_name = "IP:PORT")]
    pub nameserver: Option<SocketAddr>,
    /// Trust anchors (PEM) for the chain checks, instead of the system trust store.
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,
    /// The port the HTTP-01 challenge URL is fetched on (test beds).
    #[arg(long, default_value_t = 80, hide = true)]
    pub http_port: u16,
    /// The port each name's TLS endpoint is checked on.
    #[arg(long, default_value_t = 443)]
    pub https_port: u16,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn issue_takes_optional_names_and_force() {
        let cli = Cli::parse_from([
            "acmekeep", "--config", "x.toml", "--issue", "a", "b", "--force",
        ]);
        assert_eq!(cli.issue, Some(vec!["a".to_string(), "b".to_string()]));
        assert!(cli.force);
        let cli = Cli::parse_from(["acmekeep", "--issue"]);
        assert_eq!(cli.issue, Some(vec![]));
    }

    #[test]
    fn force_without_issue_is_a_usage_error() {
        assert!(Cli::try_parse_from(["acmekeep", "--force"]).is_err());
    }
}
