//! The `acmekeep` binary: command line, configuration and glue around the library crates.

mod check;
mod cli;
mod daemon;
mod diagnose;
mod inspect;
mod issue;
mod limits;
mod logging;
mod observe;
mod revoke;
mod status;

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
    limits::raise_open_files_limit();
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    if cli.command.is_some() && cli.issue.is_some() {
        logging::error("error: --issue cannot be combined with a subcommand");
        return EXIT_USAGE;
    }
    let load = || match configuration::load(&cli.config) {
        Ok(config) => Ok(config),
        Err(err) => {
            logging::error(err);
            Err(EXIT_USAGE)
        }
    };
    let result = match (&cli.command, &cli.issue) {
        (Some(cli::Command::Check { online }), _) => Ok(runtime().map_or(EXIT_FAILED, |rt| {
            rt.block_on(check::run(&cli.config, *online))
        })),
        (Some(cli::Command::Run), _) => load()
            .map(|config| runtime().map_or(EXIT_FAILED, |rt| rt.block_on(daemon::run(config)))),
        (Some(cli::Command::Diagnose(args)), _) => load().map(|config| {
            runtime().map_or(EXIT_FAILED, |rt| rt.block_on(diagnose::run(&config, args)))
        }),
        (Some(cli::Command::Revoke(args)), _) => load().map(|config| {
            runtime().map_or(EXIT_FAILED, |rt| rt.block_on(revoke::run(&config, args)))
        }),
        (Some(cli::Command::Inspect(args)), _) => {
            let config = if args.cert.is_some() {
                load().map(Some)
            } else {
                Ok(None)
            };
            config.map(|config| {
                runtime().map_or(EXIT_FAILED, |rt| {
                    rt.block_on(inspect::run(args, config.as_ref()))
                })
            })
        }
        (Some(cli::Command::Status { json }), _) => load().map(|config| {
            runtime().map_or(EXIT_FAILED, |rt| rt.block_on(status::run(&config, *json)))
        }),
        (None, Some(names)) => load().map(|config| {
            runtime().map_or(EXIT_FAILED, |rt| {
                rt.block_on(issue::run(&config, names, cli.force))
            })
        }),
        (None, None) => {
            logging::error("error: nothing to do; use --issue or check (see --help)");
            Err(EXIT_USAGE)
        }
    };
    result.unwrap_or_else(|code| code)
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
