//! Name resolution and HTTP for the checks: every call is bounded in time.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

/// How long one name resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one HTTP request or TLS handshake may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves names as clients would: through the system resolver, or through one DNS server
/// (`--nameserver`), e.g. a public resolver to see what a CA sees.
pub struct Resolver {
    nameserver: Option<SocketAddr>,
}

impl Resolver {
    /// The system resolver, or `nameserver` when given.
    pub fn new(nameserver: Option<SocketAddr>) -> Resolver {
        Resolver { nameserver }
    }

    /// Where the resolution happens, for messages.
    pub fn describe(&self) -> String {
        match self.nameserver {
            Some(server) => format!("DNS server {server}"),
            None => "the system resolver".to_string(),
        }
    }

    /// The addresses of `name`; the error says why there are none.
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let lookup = async {
            match self.nameserver {
                None => tokio::net::lookup_host((name, 0))
                    .await
                    .map(|addrs| addrs.map(|a| a.ip()).collect::<Vec<_>>())
                    .map_err(|e| e.to_string()),
                Some(server) => {
                    let mut config = NameServerConfig::udp_and_tcp(server.ip());
                    for connection in &mut config.connections {
                        connection.port = server.port();
                    }
                    let mut builder = hickory_resolver::Resolver::builder_with_config(
                        ResolverConfig::from_name_servers(vec![config]),
                        TokioRuntimeProvider::default(),
                    );
                    builder.options_mut().cache_size = 0;
                    builder.options_mut().timeout = Duration::from_secs(2);
                    let resolver = builder.build().map_err(|e| e.to_string())?;
                    resolver
                        .lookup_ip(format!("{}.", name.trim_end_matches('.')))
                        .await
                        .map(|ips| ips.iter().collect::<Vec<_>>())
                        .map_err(|e| e.to_string())
                }
            }
        };
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(ips)) if ips.is_empty() => Err("no address".to_string()),
            Ok(Ok(mut ips)) => {
                ips.dedup();
                Ok(ips)
            }
            Ok(Err(reason)) => Err(reason),
            Err(_) => Err(format!("no answer within {}s", RESOLVE_TIMEOUT.as_secs())),
        }
    }
}
