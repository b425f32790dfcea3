//! Asking a DNS server directly, with `dig`, so checks share no code with the program under test.

use std::net::SocketAddr;

use crate::tool;

/// The TXT values `server` answers for `name`, sorted, each string of a value joined and
/// unquoted; empty when the name has no TXT record. Fails the test if `dig` fails.
pub fn dig_txt(server: SocketAddr, name: &str) -> Vec<String> {
    let installed = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .any(|dir| dir.join("dig").is_file());
    if !installed {
        panic!("dig not installed: run scripts/test (apt-get install bind9-dnsutils)");
    }
    let out = tool::stdout(
        "dig",
        &[
            format!("@{}", server.ip()),
            "-p".to_string(),
            server.port().to_string(),
            "+short".to_string(),
            "+norecurse".to_string(),
            "+time=2".to_string(),
            "+tries=2".to_string(),
            "TXT".to_string(),
            name.to_string(),
        ],
    );
    let mut values: Vec<String> = out
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split('"').skip(1).step_by(2).collect())
        .collect();
    values.sort();
    values
}
