//! The DNS questions the solver asks: SOA (zone discovery), CNAME, NS and addresses through the
//! discovery resolver, and TXT directly at one server.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use crate::Error;

/// The most CNAME links followed from `_acme-challenge.<name>`.
pub(crate) const MAX_CNAME_LINKS: usize = 8;
/// How long one query to one server may take before it counts as unanswered.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Writes a name the way `DnsProvider` wants it: lower case, no trailing dot.
pub(crate) fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The parent of a name (`b.c` for `a.b.c`), or `None` at a top-level label.
fn parent(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, rest)| rest)
}

/// Whether `fqdn` is `zone` or below it.
pub(crate) fn is_within(fqdn: &str, zone: &str) -> bool {
    fqdn == zone || fqdn.ends_with(&format!(".{zone}"))
}

/// The resolver that answers discovery questions (SOA, CNAME, NS, A/AAAA).
pub(crate) struct Discovery {
    resolver: TokioResolver,
}

impl Discovery {
    /// Uses `nameservers` if given, the system resolver (`/etc/resolv.conf`) otherwise.
    pub(crate) fn new(nameservers: &[SocketAddr]) -> Result<Self, Error> {
        let mut builder = if nameservers.is_empty() {
            Resolver::builder_tokio().map_err(|e| {
                Error::Config(format!(
                    "reading the system resolver configuration (/etc/resolv.conf): {e}; set `nameservers`"
                ))
            })?
        } else {
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(
                    nameservers.iter().copied().map(server_config).collect(),
                ),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        // Answers change while we work (CNAMEs, fresh records): never reuse one.
        options.cache_size = 0;
        options.timeout = QUERY_TIMEOUT;
        let resolver = builder
            .build()
            .map_err(|e| Error::Config(format!("building the DNS resolver: {e}")))?;
        Ok(Discovery { resolver })
    }

    /// Follows CNAMEs from `name` and returns the final name (`name` itself if it is no
    /// alias).
    pub(crate) async fn follow_cname(&self, name: &str) -> Result<String, Error> {
        let mut chain = vec![name.to_string()];
        let mut current = name.to_string();
        while let Some(target) = self.cname_of(&current).await? {
            let looped = chain.contains(&target);
            chain.push(target.clone());
            if looped || chain.len() > MAX_CNAME_LINKS + 1 {
                return Err(Error::CnameChain {
                    name: name.to_string(),
                    limit: MAX_CNAME_LINKS,
                    chain: chain.join(" -> "),
                });
            }
            current = target;
        }
        Ok(current)
    }

    async fn cname_of(&self, name: &str) -> Result<Option<String>, Error> {
        let Some(lookup) = self.lookup(name, RecordType::CNAME).await? else {
            return Ok(None);
        };
        Ok(lookup
            .answers()
            .iter()
            .find_map(|record| match &record.data {
                RData::CNAME(target) if normalize(&record.name.to_ascii()) == name => {
                    Some(normalize(&target.0.to_ascii()))
                }
                _ => None,
            }))
    }

    /// Finds the zone holding `name`: the owner of the SOA record that answers for it, walking
    /// up one label at a time when an answer carries no SOA.
    pub(crate) async fn find_zone(&self, name: &str) -> Result<String, Error> {
        let mut candidate = Some(name);
        while let Some(current) = candidate {
            match self
                .resolver
                .lookup(format!("{current}."), RecordType::SOA)
                .await
            {
                Ok(lookup) => {
                    let owner = lookup.answers().iter().find_map(|record| {
                        let owner = normalize(&record.name.to_ascii());
                        (matches!(record.data, RData::SOA(_)) && owner == current).then_some(owner)
                    });
                    if let Some(zone) = owner {
                        return Ok(zone);
                    }
                }
                Err(NetError::Dns(DnsError::NoRecordsFound(no_records))) => {
                    if let Some(soa) = no_records.soa {
                        return Ok(normalize(&soa.name.to_ascii()));
                    }
                }
                Err(e) => return Err(lookup_error(current, RecordType::SOA, e)),
            }
            candidate = parent(current);
        }
        Err(Error::NoZone {
            name: name.to_string(),
        })
    }

    /// The addresses of the zone's authoritative servers (its NS records' A/AAAA), each
    /// with `port`.
    pub(crate) async fn authoritative_servers(
        &self,
        zone: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, Error> {
        let no_servers = |reason: String| Error::NoServers {
            zone: zone.to_string(),
            reason,
        };
        let Some(lookup) = self.lookup(zone, RecordType::NS).await? else {
            return Err(no_servers("it has no NS records".into()));
        };
        let hosts: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::NS(host) => Some(normalize(&host.0.to_ascii())),
                _ => None,
            })
            .collect();
        let mut servers = Vec::new();
        for host in &hosts {
            let addresses = self
                .resolver
                .lookup_ip(format!("{host}."))
                .await
                .map_err(|e| no_servers(format!("resolving NS {host}: {e}")))?;
            for ip in addresses.iter() {
                let server = SocketAddr::new(ip, port);
                if !servers.contains(&server) {
                    servers.push(server);
                }
            }
        }
        if servers.is_empty() {
            return Err(no_servers(format!("NS {}", hosts.join(", "))));
        }
        Ok(servers)
    }

    /// Looks `name` up; `None` when the name or type does not exist.
    async fn lookup(
        &self,
        name: &str,
        record_type: RecordType,
    ) -> Result<Option<hickory_resolver::lookup::Lookup>, Error> {
        match self.resolver.lookup(format!("{name}."), record_type).await {
            Ok(lookup) => Ok(Some(lookup)),
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Ok(None),
            Err(e) => Err(lookup_error(name, record_type, e)),
        }
    }
}

fn lookup_error(name: &str, record_type: RecordType, error: NetError) -> Error {
    Error::Lookup {
        name: name.to_string(),
        record_type: record_type.to_string(),
        reason: error.to_string(),
    }
}

fn server_config(address: SocketAddr) -> NameServerConfig {
    let mut config = NameServerConfig::udp_and_tcp(address.ip());
    for connection in &mut config.connections {
        connection.port = address.port();
    }
    config
}

/// Asks one server, and only that server, for the TXT values at a name.
pub(crate) struct DirectQuery {
    pub(crate) server: SocketAddr,
    resolver: TokioResolver,
}

/// What one server answered for the TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Served {
    /// These values (possibly none: the name or type does not exist).
    Values(Vec<String>),
    /// No usable answer.
    Failed(String),
}

impl DirectQuery {
    /// `recursion` is false for authoritative servers (ask them about their own data only)
    /// and true for configured resolvers.
    pub(crate) fn new(server: SocketAddr, recursion: bool) -> Result<Self, Error> {
        let mut builder = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server_config(server)]),
            TokioRuntimeProvider::default(),
        );
        let options = builder.options_mut();
        options.cache_size = 0;
        options.recursion_desired = recursion;
        options.timeout = QUERY_TIMEOUT;
        options.attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| Error::Config(format!("building a DNS client for {server}: {e}")))?;
        Ok(DirectQuery { server, resolver })
    }

    pub(crate) async fn txt(&self, fqdn: &str) -> Served {
        match self
            .resolver
            .lookup(format!("{fqdn}."), RecordType::TXT)
            .await
        {
            Ok(lookup) => Served::Values(
                lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|chunk| String::from_utf8_lossy(chunk))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect(),
            ),
            Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Served::Values(Vec::new()),
            Err(e) => Served::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_without_the_trailing_dot() {
        assert_eq!(
            normalize("_ACME-Challenge.Example.COM."),
            "_acme-challenge.example.com"
        );
    }

    #[test]
    fn parents_walk_up_one_label_at_a_time() {
        assert_eq!(parent("a.b.example.com"), Some("b.example.com"));
        assert_eq!(parent("com"), None);
    }

    #[test]
    fn within_means_the_zone_itself_or_below_a_label_boundary() {
        assert!(is_within("example.com", "example.com"));
        assert!(is_within("_acme-challenge.example.com", "example.com"));
        assert!(!is_within("badexample.com", "example.com"));
        assert!(!is_within("example.com", "www.example.com"));
    }
}
