//! Log setup: human text or JSON lines on standard error.

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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}
