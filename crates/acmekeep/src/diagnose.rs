//! `acmekeep diagnose`: checks the command line's certificates, runs the diagnose crate's
//! walk over them and prints its findings.

use configuration::{Components, Config, GeneratedCa};

use crate::cli::DiagnoseArgs;
use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Runs the checks of the selected certificates, prints the findings, and returns the exit
/// code: 0 without an error finding, 1 with one, 2 for an unknown certificate or a
/// configuration whose components cannot be built.
pub async fn run(config: &Config, args: &DiagnoseArgs) -> u8 {
    let unknown: Vec<String> = args
        .names
        .iter()
        .filter_map(|name| config.certificate(name).err())
        .collect();
    if !unknown.is_empty() {
        for message in unknown {
            eprintln!("error: {message}");
        }
        return EXIT_USAGE;
    }
    let components = match Components::build(config, GeneratedCa::Existing) {
        Ok(components) => components,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_USAGE;
        }
    };
    let roots = match cert_inspect::load_roots(args.ca_bundle.as_deref()) {
        Ok(roots) => roots,
        Err(err) => {
            eprintln!("error: --ca-bundle: {err}");
            return EXIT_USAGE;
        }
    };
    let options = ::diagnose::Options {
        names: args.names.clone(),
        probe: !args.no_probe,
        nameserver: args.nameserver,
        roots,
        http_port: args.http_port,
        https_port: args.https_port,
    };
    let report = ::diagnose::diagnose(config, &components, &options).await;
    let failed = report.has_errors();
    if args.json {
        match serde_json::to_string_pretty(&report.into_findings()) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("error: {err}");
                return EXIT_FAILED;
            }
        }
    } else {
        print!("{}", report.render());
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}
