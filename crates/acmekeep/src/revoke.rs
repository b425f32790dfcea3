//! `acmekeep revoke NAME`: revokes the certificate deployed for NAME at the issuer that
//! issued it, after showing it and asking for confirmation, and records the revocation so
//! that the next `--issue` or daemon pass replaces it (unless `--no-reissue`).

use std::io::{BufRead, IsTerminal, Write};
use std::time::SystemTime;

use acme_core::{CertInfo, RevocationReason};
use clap::{Args, ValueEnum};

use crate::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use configuration::{Components, GeneratedCa};
use configuration::{Config, IssuerConfig};
use state::{Revocation, Store};

/// The arguments of `acmekeep revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The configured certificate whose deployed certificate is revoked.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Why, as RFC 5280 names it (the reasons a subscriber may give).
    #[arg(long, value_enum, default_value_t = Reason::Unspecified)]
    pub reason: Reason,

    /// Revoke without asking; needed when standard input is not a terminal.
    #[arg(long)]
    pub yes: bool,

    /// Do not replace the revoked certificate on the next run; `--issue NAME --force` does.
    #[arg(long)]
    pub no_reissue: bool,
}

/// A revocation reason on the command line, by its RFC 5280 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reason {
    /// No reason given.
    #[value(name = "unspecified")]
    Unspecified,
    /// The private key was, or may have been, disclosed.
    #[value(name = "keyCompromise", alias = "key-compromise")]
    KeyCompromise,
    /// The names or other information in the certificate changed.
    #[value(name = "affiliationChanged", alias = "affiliation-changed")]
    AffiliationChanged,
    /// The certificate was replaced by another one.
    #[value(name = "superseded")]
    Superseded,
    /// The certificate is no longer needed: the service or domain is gone.
    #[value(name = "cessationOfOperation", alias = "cessation-of-operation")]
    CessationOfOperation,
}

impl From<Reason> for RevocationReason {
    fn from(reason: Reason) -> RevocationReason {
        match reason {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
        }
    }
}

/// Revokes the deployed certificate of `args.name`; returns the exit code.
pub async fn run(config: &Config, args: &RevokeArgs) -> u8 {
    let name = args.name.as_str();
    let cert = match config.certificate(name) {
        Ok(cert) => cert,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        eprintln!(
            "error: not revoking {name}: standard input is not a terminal, so there is no one \
             to confirm; pass --yes to revoke without confirmation"
        );
        return EXIT_USAGE;
    }
    let lock = match state::lock(&config.daemon.state_dir) {
        Ok(lock) => Some(lock),
        Err(err) => {
            eprintln!("note: {err}");
            eprintln!(
                "note: revoking anyway: revoke writes only its own record \
                 (certificates/{name}.revoked.json), which the running acmekeep reads"
            );
            None
        }
    };
    let components = match Components::build(config, GeneratedCa::Existing) {
        Ok(components) => components,
        Err(err) => {
            eprintln!("{err}");
            return EXIT_USAGE;
        }
    };
    let store = Store::new(&config.daemon.state_dir);
    let state = store.load(name);
    // The issuer that issued the deployed certificate, where state remembers one that is
    // still configured; else the configured one.
    let issuer_name = state
        .issuer
        .clone()
        .filter(|issuer| config.issuers.contains_key(issuer))
        .unwrap_or_else(|| cert.issuer.clone());
    let (Some(issuer), Some(issuer_config)) = (
        components.issuers.get(&issuer_name),
        config.issuers.get(&issuer_name),
    ) else {
        eprintln!("error: issuer {issuer_name:?} of certificate {name} is not configured");
        return EXIT_USAGE;
    };
    let sinks = components.sinks.get(name).cloned().unwrap_or_default();
    let deployed = renewal::inspect(&sinks, &renewal::wanted(cert)).await;
    let (Some(cert_pem), Some(info)) = (deployed.cert_pem, deployed.info) else {
        let places: Vec<String> = sinks.iter().map(|sink| sink.describe()).collect();
        eprintln!(
            "error: {name}: no certificate is deployed (sinks: {}); nothing to revoke",
            places.join(", ")
        );
        return EXIT_FAILED;
    };
    let reason = RevocationReason::from(args.reason);
    let kind = issuer_kind(issuer_config);
    print_target(name, &info, &issuer_name, kind, reason);
    if !args.yes && !confirmed(name) {
        eprintln!("not revoked: the confirmation was not given");
        return EXIT_FAILED;
    }

    let already = match issuer.revoke(&cert_pem, reason).await {
        Ok(()) => false,
        Err(err) if err.acme_problem() == Some("alreadyRevoked") => true,
        Err(err) => {
            eprintln!(
                "error: {name}: serial {} was not revoked through issuer {issuer_name:?} \
                 (kind = {kind:?}): {err}",
                info.serial
            );
            return EXIT_FAILED;
        }
    };
    let revocation = Revocation {
        serial: info.serial.clone(),
        reason: reason.name().to_string(),
        revoked_at: SystemTime::now(),
        reissue: !args.no_reissue,
    };
    if already {
        println!(
            "{name}: serial {} was already revoked at the CA (nothing more to do there)",
            info.serial
        );
    } else {
        println!("{name}: revoked serial {} (reason {reason})", info.serial);
    }
    if let Err(err) = store.record_revocation(name, &revocation) {
        eprintln!(
            "error: {name}: the certificate is revoked, but the revocation could not be \
             recorded in {}: {err}; run acmekeep --issue {name} --force to replace it",
            config.daemon.state_dir.display()
        );
        return EXIT_FAILED;
    }
    if args.no_reissue {
        println!(
            "{name}: not reissued automatically (--no-reissue); run acmekeep --issue {name} \
             --force to replace it"
        );
    } else if lock.is_some() {
        println!("{name}: the next acmekeep --issue or daemon pass replaces it");
    } else {
        println!(
            "{name}: the running acmekeep replaces it at its next look; \
             systemctl reload acmekeep (SIGHUP) makes it look now"
        );
    }
    EXIT_OK
}

/// Shows what is about to be revoked.
fn print_target(name: &str, info: &CertInfo, issuer: &str, kind: &str, reason: RevocationReason) {
    let left = info
        .not_after
        .duration_since(SystemTime::now())
        .map_or("expired".to_string(), |left| {
            format!("{} days left", left.as_secs() / 86_400)
        });
    println!("certificate {name}:");
    println!("  serial     {}", info.serial);
    println!("  names      {}", info.names.join(", "));
    println!(
        "  not after  {} ({left})",
        humantime::format_rfc3339_seconds(info.not_after)
    );
    println!("  issued by  {}", info.issuer);
    println!("  revoke at  issuer {issuer:?} (kind = {kind:?}), reason {reason}");
}

/// Asks on the terminal; true when the answer is the certificate's name or "yes".
fn confirmed(name: &str) -> bool {
    eprint!("Type {name} or yes to revoke it: ");
    if std::io::stderr().flush().is_err() {
        return false;
    }
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    let answer = answer.trim();
    answer == name || answer == "yes"
}

/// The `kind` of an issuer, as written in the configuration.
fn issuer_kind(issuer: &IssuerConfig) -> &'static str {
    match issuer {
        IssuerConfig::Acme(_) => "acme",
        IssuerConfig::Ca(_) => "ca",
        IssuerConfig::Vault(_) => "vault",
        IssuerConfig::Venafi(_) => "venafi",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_maps_to_the_rfc_5280_reason_of_the_same_name() {
        for reason in Reason::value_variants() {
            let name = reason
                .to_possible_value()
                .map(|value| value.get_name().to_string());
            assert_eq!(
                name.as_deref(),
                Some(RevocationReason::from(*reason).name())
            );
        }
        assert_eq!(
            Reason::value_variants().len(),
            RevocationReason::ALL.len(),
            "every reason acme-core knows is offered"
        );
    }
}
