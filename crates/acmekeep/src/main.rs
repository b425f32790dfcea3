//! The `acmekeep` binary: command line, configuration and glue around the library crates.

mod check;
mod cli;
mod config;
mod daemon;
mod hooks;
mod issue;
mod lifecycle;
mod logging;
mod observe;
mod providers;
mod state;
mod status;
mod wiring;

use std::process::ExitCode;

use clap::Parser;

/// Exit code: every certificate is fine.
const EXIT_OK: u8 = 0;
/// Exit code: at least one certificate failed.
const EXIT_FAILED: u8 = 1;
/// Exit code: bad configuration or usage.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    ExitCode::from(run())
}

fn run() -> u8 {
    let cli = cli::Cli::parse();
    logging::init(cli.log_format, cli.verbose);
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    let config = match config::load(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_USAGE;
        }
    };
    match (&cli.command, &cli.issue) {
        (Some(_), Some(_)) => {
            eprintln!("error: --issue cannot be combined with a subcommand");
            EXIT_USAGE
        }
        (Some(cli::Command::Check { online: false }), None) => check::run(&config),
        (Some(cli::Command::Check { online: true }), None) => {
            runtime().map_or(EXIT_FAILED, |rt| rt.block_on(check::online(&config)))
        }
        (Some(cli::Command::Run), None) => {
            runtime().map_or(EXIT_FAILED, |rt| rt.block_on(daemon::run(config)))
        }
        (Some(cli::Command::Status { json }), None) => {
            let json = *json;
            runtime().map_or(EXIT_FAILED, |rt| rt.block_on(status::run(&config, json)))
        }
        (None, Some(names)) => runtime().map_or(EXIT_FAILED, |rt| {
            rt.block_on(issue::run(&config, names, cli.force))
        }),
        (None, None) => {
            eprintln!("error: nothing to do; use --issue or check (see --help)");
            EXIT_USAGE
        }
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            None
        }
    }
}
