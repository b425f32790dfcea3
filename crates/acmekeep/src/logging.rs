//! Log setup: human text or JSON lines on standard error.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. `ACMEKEEP_LOG` (an env-filter) wins over `-v`.
pub fn init(format: LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "info,acmekeep=debug,acme_core=debug,http01=debug,sink_files=debug,issuer_ca=debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("ACMEKEEP_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only on a terminal, and never with NO_COLOR (https://no-color.org): the
    // journal and log files would otherwise be full of escape codes.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    match format {
        LogFormat::Text => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}
