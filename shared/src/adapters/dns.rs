//! The DNS precheck: does the TXT record the CA will look for exist yet?
//!
//! Each configured resolver (`DNS_PRECHECK_RESOLVERS`) is asked on its own,
//! with caching off, so one lagging resolver does not hide another's answer.
//! Public resolvers keep a "no such record" answer for the zone's negative
//! TTL, long after the tenant has added the record; the CA itself asks the
//! zone's authoritative servers. So the precheck also finds the zone's
//! nameservers (the nearest enclosing name with NS records) and asks them
//! directly, as cert-manager does. The record counts as present when any
//! source returns the expected value; when none does, the caller reports what
//! each source saw.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

/// What one source answered for the TXT name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TxtObservation {
    /// `resolver 1.1.1.1:53` or `authoritative ns1.example.net (192.0.2.1)`.
    pub source: String,
    /// The TXT values seen (empty when the name has none).
    pub values: Vec<String>,
    /// Set when the source could not be asked (timeout, refused).
    pub error: Option<String>,
}

/// What one resolver answered for a CNAME at a name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CnameObservation {
    pub source: String,
    /// The CNAME targets seen, lower case, without the trailing dot.
    pub targets: Vec<String>,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct DnsPrecheck {
    resolvers: Vec<(SocketAddr, TokioResolver)>,
    timeout: Duration,
    /// Also ask the zone's authoritative servers (found by NS lookup).
    find_authoritative: bool,
}

impl std::fmt::Debug for DnsPrecheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<_> = self.resolvers.iter().map(|(a, _)| a).collect();
        f.debug_struct("DnsPrecheck")
            .field("resolvers", &addrs)
            .finish()
    }
}

fn resolver(addr: SocketAddr, recursion: bool, timeout: Duration) -> TokioResolver {
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.recursion_desired = recursion;
    opts.edns0 = true;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .unwrap_or_else(|e| panic!("a resolver for {addr} could not be built: {e}"))
}

impl DnsPrecheck {
    /// Builds one resolver per address; no network I/O.
    pub fn new(addrs: &[SocketAddr]) -> Self {
        let timeout = Duration::from_secs(2);
        Self {
            resolvers: addrs
                .iter()
                .map(|a| (*a, resolver(*a, true, timeout)))
                .collect(),
            timeout,
            find_authoritative: true,
        }
    }

    /// Asks one authoritative server only (non-recursive), e.g. the primary
    /// of the delegation zone.
    pub fn authoritative(addr: SocketAddr) -> Self {
        let timeout = Duration::from_secs(2);
        Self {
            resolvers: vec![(addr, resolver(addr, false, timeout))],
            timeout,
            find_authoritative: false,
        }
    }

    /// Asks every configured resolver for a CNAME at `name`: whether the
    /// tenant's `_acme-challenge` is delegated, and to what.
    pub async fn observe_cname(&self, name: &str) -> Vec<CnameObservation> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let mut seen = Vec::new();
        for (addr, r) in &self.resolvers {
            let source = format!("resolver {addr}");
            seen.push(match r.lookup(fqdn.as_str(), RecordType::CNAME).await {
                Ok(lookup) => CnameObservation {
                    source,
                    targets: lookup
                        .answers()
                        .iter()
                        .filter_map(|rec| match &rec.data {
                            RData::CNAME(c) => {
                                Some(c.0.to_ascii().trim_end_matches('.').to_ascii_lowercase())
                            }
                            _ => None,
                        })
                        .collect(),
                    error: None,
                },
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => CnameObservation {
                    source,
                    targets: Vec::new(),
                    error: None,
                },
                Err(e) => CnameObservation {
                    source,
                    targets: Vec::new(),
                    error: Some(e.to_string()),
                },
            });
        }
        seen
    }

    /// Asks every configured resolver and the zone's authoritative servers
    /// for the TXT records at `name`.
    pub async fn observe(&self, name: &str) -> Vec<TxtObservation> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let mut seen = Vec::new();
        for (addr, r) in &self.resolvers {
            seen.push(ask(r, &fqdn, format!("resolver {addr}")).await);
        }
        if !self.find_authoritative {
            return seen;
        }
        for (ns_name, ip) in self.authoritative_servers(&fqdn).await {
            let r = resolver(SocketAddr::new(ip, 53), false, self.timeout);
            seen.push(ask(&r, &fqdn, format!("authoritative {ns_name} ({ip})")).await);
        }
        seen
    }

    /// The nameservers of the nearest enclosing zone that has NS records, with
    /// their addresses (at most four), found through the first resolver.
    async fn authoritative_servers(&self, fqdn: &str) -> Vec<(String, IpAddr)> {
        let Some((_, r)) = self.resolvers.first() else {
            return Vec::new();
        };
        let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
        // From the name's parent up to (not including) the top-level domain.
        for start in 1..labels.len().saturating_sub(1) {
            let zone = format!("{}.", labels[start..].join("."));
            let Ok(lookup) = r.lookup(zone.as_str(), RecordType::NS).await else {
                continue;
            };
            let names: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|rec| match &rec.data {
                    RData::NS(ns) => Some(ns.0.to_ascii()),
                    _ => None,
                })
                .collect();
            if names.is_empty() {
                continue;
            }
            let mut servers = Vec::new();
            for ns in names.into_iter().take(4) {
                if let Ok(ips) = r.lookup_ip(ns.as_str()).await {
                    if let Some(ip) = ips.iter().next() {
                        servers.push((ns.trim_end_matches('.').to_owned(), ip));
                    }
                }
            }
            return servers;
        }
        Vec::new()
    }
}

async fn ask(r: &TokioResolver, fqdn: &str, source: String) -> TxtObservation {
    match r.lookup(fqdn, RecordType::TXT).await {
        Ok(lookup) => TxtObservation {
            source,
            values: lookup
                .answers()
                .iter()
                .filter_map(|rec| match &rec.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
            error: None,
        },
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => TxtObservation {
            source,
            values: Vec::new(),
            error: None,
        },
        Err(e) => TxtObservation {
            source,
            values: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}
