//! The DNS precheck: will the CA find the TXT record, and may it issue?
//!
//! The CA asks the zone's **authoritative** servers, from several vantage
//! points, so one lagging secondary fails the validation and spends one of
//! the 5 failed validations a name may have per hour. The precheck therefore
//! asks what the CA asks:
//! - It finds the zone's nameservers (the nearest enclosing name with NS
//!   records, through the configured resolvers) and asks **every** one of
//!   them directly, without recursion, in parallel. The record counts as
//!   present only when all of them answer the value ([`Presence`]).
//! - An `_acme-challenge` CNAME (a delegation to a zone of the tenant's, as
//!   acme-dns offers) is followed to the zone that serves its target, as the
//!   CA follows it, up to [`MAX_CNAME_HOPS`].
//! - The configured resolvers (`DNS_PRECHECK_RESOLVERS`) are asked too, with
//!   caching off, and reported; they decide only when no authoritative server
//!   could be found (a zone whose NS lookup fails).
//! - CAA (RFC 8659): the relevant record set is the first found climbing
//!   from the hostname towards the root (recursive resolvers follow CNAMEs).
//!   If it has `issue` properties and none names the CA, the CA will refuse:
//!   [`DnsPrecheck::caa_forbids`] says which record forbids it.
//!
//! A tenant's NS records are the tenant's to choose, so an address learned
//! from them is asked only when it is on the public internet: loopback,
//! private, link-local, shared, documentation and reserved ranges are
//! skipped (and reported), never queried. `DNS_PRECHECK_ALLOW_ADDRESSES`
//! lists the exceptions a local stack needs, with the port to ask them on.
//!
//! Everything is bounded by the caller's deadline: a name with slow or dead
//! nameservers answers with what was seen in time, never past the call's
//! budget.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

/// CNAMEs followed from the challenge name before giving up (the CA follows
/// a handful; a longer chain is a loop or a mistake).
pub const MAX_CNAME_HOPS: usize = 8;
/// Nameservers asked per zone (a zone rarely has more; each costs a query).
const MAX_NAMESERVERS: usize = 8;
/// One query's own limit (the deadline may cut it shorter).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// What one source answered for the TXT name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TxtObservation {
    /// `resolver 1.1.1.1:53` or `authoritative ns1.example.net (192.0.2.1)`.
    pub source: String,
    /// The name asked (the challenge name, or a CNAME's target).
    pub name: String,
    /// Whether this source is one of the zone's authoritative servers, whose
    /// answers decide.
    pub authoritative: bool,
    /// The TXT values seen (empty when the name has none).
    pub values: Vec<String>,
    /// Set when the source could not be asked (timeout, refused, skipped).
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

/// The verdict on a set of observations for one expected value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Every authoritative server (or, with none found, some resolver)
    /// answers the value.
    Present,
    /// Some authoritative servers answer it and these do not yet.
    Lagging(Vec<String>),
    Missing,
}

/// Decides whether the CA will find `expected` (see the module docs).
pub fn presence(seen: &[TxtObservation], expected: &str) -> Presence {
    let has = |o: &&TxtObservation| o.values.iter().any(|v| v == expected);
    let asked: Vec<&TxtObservation> = seen.iter().filter(|o| o.authoritative).collect();
    // A server that could not be reached does not vote (the CA's resolver
    // moves on to another), unless none answered at all.
    let answered: Vec<&TxtObservation> = asked
        .iter()
        .copied()
        .filter(|o| o.error.is_none())
        .collect();
    if !asked.is_empty() && answered.is_empty() {
        return Presence::Missing;
    }
    let authoritative = answered;
    if authoritative.is_empty() {
        return if seen.iter().any(|o| has(&o)) {
            Presence::Present
        } else {
            Presence::Missing
        };
    }
    let lagging: Vec<String> = authoritative
        .iter()
        .filter(|o| !has(o))
        .map(|o| o.source.clone())
        .collect();
    if lagging.is_empty() {
        Presence::Present
    } else if lagging.len() < authoritative.len() {
        Presence::Lagging(lagging)
    } else {
        Presence::Missing
    }
}

/// A CAA record set that forbids the CA.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CaaForbids {
    /// Where the relevant record set was found.
    pub name: String,
    /// Its records, in presentation form (`0 issue "ca.example"`).
    pub records: Vec<String>,
}

#[derive(Clone)]
pub struct DnsPrecheck {
    resolvers: Vec<(SocketAddr, TokioResolver)>,
    /// Also ask the zone's authoritative servers (found by NS lookup).
    find_authoritative: bool,
    /// Non-public addresses that may be asked, each with its port.
    allowed: Vec<SocketAddr>,
}

impl std::fmt::Debug for DnsPrecheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<_> = self.resolvers.iter().map(|(a, _)| a).collect();
        f.debug_struct("DnsPrecheck")
            .field("resolvers", &addrs)
            .field("allowed", &self.allowed)
            .finish()
    }
}

fn resolver(addr: SocketAddr, recursion: bool) -> TokioResolver {
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = QUERY_TIMEOUT;
    opts.attempts = 1;
    opts.recursion_desired = recursion;
    opts.edns0 = true;
    // The precheck asks DNS servers what they publish; a local hosts file
    // has no say in that (and reading it is file I/O at a container's init).
    opts.use_hosts_file = ResolveHosts::Never;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    .unwrap_or_else(|e| panic!("a resolver for {addr} could not be built: {e}"))
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn bare(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

impl DnsPrecheck {
    /// Builds one resolver per address; no network I/O. `allowed` are the
    /// non-public nameserver addresses that may be asked (local stacks).
    pub fn new(addrs: &[SocketAddr], allowed: &[SocketAddr]) -> Self {
        Self {
            resolvers: addrs.iter().map(|a| (*a, resolver(*a, true))).collect(),
            find_authoritative: true,
            allowed: allowed.to_vec(),
        }
    }

    /// Asks one authoritative server only (non-recursive), e.g. the primary
    /// of the delegation zone.
    pub fn authoritative(addr: SocketAddr) -> Self {
        Self {
            resolvers: vec![(addr, resolver(addr, false))],
            find_authoritative: false,
            allowed: Vec::new(),
        }
    }

    /// Asks every configured resolver for a CNAME at `name`: whether the
    /// tenant's `_acme-challenge` is delegated, and to what.
    pub async fn observe_cname(&self, name: &str) -> Vec<CnameObservation> {
        let fqdn = fqdn(name);
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
                            RData::CNAME(c) => Some(bare(&c.0)),
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

    /// What every configured resolver and every authoritative server of the
    /// name's zone (following CNAMEs) answer for the TXT records at `name`,
    /// as far as `deadline` allows. Decide with [`presence`].
    pub async fn observe(&self, name: &str, deadline: Instant) -> Vec<TxtObservation> {
        let mut seen = Vec::new();
        // Running out of time is no answer: it decides against (the
        // resolvers must not decide in the authoritative servers' place).
        let out_of_time = |name: &str| TxtObservation {
            source: "precheck".into(),
            name: name.to_owned(),
            authoritative: true,
            values: Vec::new(),
            error: Some("ran out of the call's time before every server answered".into()),
        };
        let asked = async {
            let mut resolvers = Vec::new();
            for (addr, r) in &self.resolvers {
                resolvers.push(async move {
                    let source = format!("resolver {addr}");
                    match r.lookup(fqdn(name).as_str(), RecordType::TXT).await {
                        Ok(lookup) => observation(source, name, false, lookup.answers()),
                        Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                            observation(source, name, false, &[])
                        }
                        Err(e) => failed(source, name, false, e.to_string()),
                    }
                });
            }
            futures_util::future::join_all(resolvers).await
        };
        match tokio::time::timeout_at(deadline, asked).await {
            Ok(found) => seen.extend(found),
            Err(_) => {
                seen.push(out_of_time(name));
                return seen;
            }
        }
        if !self.find_authoritative {
            return seen;
        }
        let mut current = name.trim_end_matches('.').to_ascii_lowercase();
        for _ in 0..=MAX_CNAME_HOPS {
            let step = self.ask_authoritative(&current);
            let Ok((mut answers, next)) = tokio::time::timeout_at(deadline, step).await else {
                seen.push(out_of_time(&current));
                return seen;
            };
            // Servers that answered with a CNAME are not where the record
            // lives: only the last hop's servers decide.
            if next.is_some() {
                for o in &mut answers {
                    o.authoritative = false;
                }
            }
            // No nameserver found for this name's zone (its NS lookup
            // failed): the resolvers say whether it is a CNAME to follow.
            let next = match next {
                Some(target) => Some(target),
                None if !answers
                    .iter()
                    .any(|o| o.source.starts_with("authoritative")) =>
                {
                    match tokio::time::timeout_at(deadline, self.observe_cname(&current)).await {
                        Ok(found) => found.into_iter().find_map(|o| o.targets.into_iter().next()),
                        Err(_) => {
                            seen.extend(answers);
                            seen.push(out_of_time(&current));
                            return seen;
                        }
                    }
                }
                None => None,
            };
            seen.extend(answers);
            match next {
                Some(target) => current = target,
                None => return seen,
            }
        }
        seen.push(failed(
            "precheck".into(),
            &current,
            false,
            format!("more than {MAX_CNAME_HOPS} CNAMEs from {name}"),
        ));
        seen
    }

    /// Asks each authoritative server of `name`'s zone for its TXT records;
    /// answers the observations and the CNAME target to follow, if the
    /// servers answer a CNAME instead.
    async fn ask_authoritative(&self, name: &str) -> (Vec<TxtObservation>, Option<String>) {
        let servers = self.nameservers(name).await;
        let mut seen = Vec::new();
        let mut queries = Vec::new();
        for (ns, ip) in servers {
            match self.address_to_ask(ip) {
                Some(addr) => queries.push(async move {
                    let source = format!("authoritative {ns} ({ip})");
                    match query(addr, name, RecordType::TXT).await {
                        Ok(answer) => (
                            observation(source, name, true, &answer.answers),
                            Some(answer),
                        ),
                        Err(e) => (failed(source, name, true, e), None),
                    }
                }),
                None => seen.push(failed(
                    format!("authoritative {ns} ({ip})"),
                    name,
                    false,
                    format!("not asked: {ip} is not a public internet address"),
                )),
            }
        }
        let answers = futures_util::future::join_all(queries).await;
        let mut target = None;
        for (observation, answer) in answers {
            if observation.values.is_empty() {
                if let Some(answer) = &answer {
                    target = target.or_else(|| cname_in(answer, name));
                }
            }
            seen.push(observation);
        }
        (seen, target)
    }

    /// The nameservers of the nearest enclosing zone with NS records, with
    /// one address each, found through the first resolver that answers.
    async fn nameservers(&self, name: &str) -> Vec<(String, IpAddr)> {
        let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
        // From the name itself (an `_acme-challenge` may be a zone of its
        // own) up to (not including) the top-level domain.
        for start in 0..labels.len().saturating_sub(1) {
            let zone = format!("{}.", labels[start..].join("."));
            for (_, r) in &self.resolvers {
                let Ok(lookup) = r.lookup(zone.as_str(), RecordType::NS).await else {
                    continue;
                };
                let owner = zone.trim_end_matches('.').to_ascii_lowercase();
                let names: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter(|rec| bare(&rec.name) == owner)
                    .filter_map(|rec| match &rec.data {
                        RData::NS(ns) => Some(bare(&ns.0)),
                        _ => None,
                    })
                    .collect();
                if names.is_empty() {
                    continue;
                }
                let mut servers = Vec::new();
                for ns in names.into_iter().take(MAX_NAMESERVERS) {
                    if let Ok(ips) = r.lookup_ip(fqdn(&ns).as_str()).await {
                        if let Some(ip) = ips.iter().next() {
                            servers.push((ns, ip));
                        }
                    }
                }
                return servers;
            }
        }
        Vec::new()
    }

    /// Where to ask a nameserver at `ip`: port 53 on a public address, the
    /// configured port on an allowed one, nowhere otherwise.
    fn address_to_ask(&self, ip: IpAddr) -> Option<SocketAddr> {
        if let Some(allowed) = self.allowed.iter().find(|a| a.ip() == ip) {
            return Some(*allowed);
        }
        is_public(ip).then_some(SocketAddr::new(ip, 53))
    }

    /// Whether `host` resolves to `expected` (drift, `drift-check`): a
    /// CNAME chain from `host` (up to [`MAX_CNAME_HOPS`]) that reaches it,
    /// or, with no CNAME at `host` (an apex, flattened by the tenant's DNS
    /// host), an address in common with `expected`'s. Answers the verdict
    /// and what was found (the chain, or `host`'s addresses); `None` when
    /// the resolvers did not answer in time (no verdict either way).
    pub async fn points_at(
        &self,
        host: &str,
        expected: &str,
        deadline: Instant,
    ) -> Option<crate::domain::drift::Observation> {
        use crate::domain::drift::Observation;
        let expected = expected.trim_end_matches('.').to_ascii_lowercase();
        let check = async {
            let mut chain = Vec::new();
            let mut current = host.trim_end_matches('.').to_ascii_lowercase();
            for _ in 0..MAX_CNAME_HOPS {
                let seen = self.observe_cname(&current).await;
                // No resolver answered: no verdict (a resolver outage is
                // not a tenant's misconfiguration).
                if !seen.is_empty() && seen.iter().all(|o| o.error.is_some()) {
                    return None;
                }
                let Some(next) = seen.into_iter().find_map(|o| o.targets.into_iter().next()) else {
                    break;
                };
                if next == expected {
                    return Some(Observation {
                        pointed: true,
                        certain: true,
                        found: vec![next],
                    });
                }
                if chain.contains(&next) {
                    break;
                }
                chain.push(next.clone());
                current = next;
            }
            // No CNAME reaching the target: the addresses decide (an apex
            // flattened by the tenant's DNS host, or a name that is itself
            // an alias of the target). Only a CNAME chain that ends
            // elsewhere *and* shares no address is certain to point away;
            // an address comparison alone never detaches (an edge's
            // addresses differ by where they are resolved from).
            let (mine, theirs) =
                futures_util::future::join(self.addresses(host), self.addresses(&expected)).await;
            let (mine, theirs) = (mine?, theirs?);
            let pointed = mine.iter().any(|a| theirs.contains(a));
            Some(Observation {
                pointed,
                certain: !pointed && !chain.is_empty(),
                found: if chain.is_empty() {
                    mine.iter().map(ToString::to_string).collect()
                } else {
                    chain
                },
            })
        };
        tokio::time::timeout_at(deadline, check)
            .await
            .ok()
            .flatten()
    }

    /// `name`'s addresses, from the first resolver that answers; `None` when
    /// none did.
    async fn addresses(&self, name: &str) -> Option<Vec<IpAddr>> {
        for (_, r) in &self.resolvers {
            match r.lookup_ip(fqdn(name).as_str()).await {
                Ok(ips) => return Some(ips.iter().collect()),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Some(Vec::new()),
                Err(_) => continue,
            }
        }
        None
    }

    /// The CAA record set that forbids every issuer in `identities` (the
    /// CA's CAA identities, e.g. `letsencrypt.org`) from issuing for
    /// `hostname`, if there is one (RFC 8659 §3). A lookup that fails is
    /// not a refusal here: the CA decides then.
    pub async fn caa_forbids(
        &self,
        hostname: &str,
        identities: &[String],
        deadline: Instant,
    ) -> Option<CaaForbids> {
        let labels: Vec<&str> = hostname.trim_end_matches('.').split('.').collect();
        for start in 0..labels.len() {
            let name = labels[start..].join(".");
            // Out of time, or no resolver answered: no verdict here (the
            // CA decides), never one from a level further up.
            let Ok(Some(records)) = tokio::time::timeout_at(deadline, self.caa(&name)).await else {
                return None;
            };
            if records.is_empty() {
                continue;
            }
            return forbids(&name, &records, identities);
        }
        None
    }

    /// The CAA records at `name` from the first resolver that answers
    /// (`Some(vec![])` for none; `None` when no resolver answered).
    async fn caa(&self, name: &str) -> Option<Vec<hickory_proto::rr::rdata::CAA>> {
        for (_, r) in &self.resolvers {
            match r.lookup(fqdn(name).as_str(), RecordType::CAA).await {
                Ok(lookup) => {
                    return Some(
                        lookup
                            .answers()
                            .iter()
                            .filter_map(|rec| match &rec.data {
                                RData::CAA(caa) => Some(caa.clone()),
                                _ => None,
                            })
                            .collect(),
                    )
                }
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Some(Vec::new()),
                Err(_) => continue,
            }
        }
        None
    }
}

/// RFC 8659 §4: with `issue` properties present, one must name the CA; an
/// unknown property flagged critical forbids every CA.
fn forbids(
    name: &str,
    records: &[hickory_proto::rr::rdata::CAA],
    identities: &[String],
) -> Option<CaaForbids> {
    let known = [
        "issue",
        "issuewild",
        "iodef",
        "contactemail",
        "contactphone",
        "issuemail",
        "issuevmc",
    ];
    let critical_unknown = records
        .iter()
        .any(|r| r.issuer_critical && !known.iter().any(|k| r.tag.eq_ignore_ascii_case(k)));
    let issue: Vec<&hickory_proto::rr::rdata::CAA> = records
        .iter()
        .filter(|r| r.tag.eq_ignore_ascii_case("issue"))
        .collect();
    // A record naming the CA counts only if its `validationmethods`
    // parameter (RFC 8657), when given, allows dns-01, the method used here.
    let named = issue.iter().any(|r| {
        let value = String::from_utf8_lossy(&r.value);
        let mut parts = value.split(';');
        let issuer = parts.next().unwrap_or("").trim().trim_end_matches('.');
        let dns01_allowed = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("validationmethods"))
            .is_none_or(|(_, methods)| {
                methods
                    .split(',')
                    .any(|m| m.trim().eq_ignore_ascii_case("dns-01"))
            });
        !issuer.is_empty()
            && dns01_allowed
            && identities.iter().any(|i| i.eq_ignore_ascii_case(issuer))
    });
    if critical_unknown || (!issue.is_empty() && !named) {
        return Some(CaaForbids {
            name: name.to_owned(),
            records: records
                .iter()
                .map(|r| {
                    format!(
                        "{} {} \"{}\"",
                        r.flags(),
                        r.tag,
                        String::from_utf8_lossy(&r.value)
                    )
                })
                .collect(),
        });
    }
    None
}

fn observation(
    source: String,
    name: &str,
    authoritative: bool,
    answers: &[hickory_proto::rr::Record],
) -> TxtObservation {
    TxtObservation {
        source,
        name: name.to_owned(),
        authoritative,
        values: answers
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
    }
}

fn failed(source: String, name: &str, authoritative: bool, error: String) -> TxtObservation {
    TxtObservation {
        source,
        name: name.to_owned(),
        authoritative,
        values: Vec::new(),
        error: Some(error),
    }
}

/// The CNAME target an answer gives for `name`, if any.
fn cname_in(answer: &Message, name: &str) -> Option<String> {
    answer.answers.iter().find_map(|rec| match &rec.data {
        RData::CNAME(c) if bare(&rec.name) == name => Some(bare(&c.0)),
        _ => None,
    })
}

/// One non-recursive query to one server: UDP, then TCP if truncated.
async fn query(server: SocketAddr, name: &str, kind: RecordType) -> Result<Message, String> {
    let mut message = Message::query();
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(
        Name::from_ascii(fqdn(name)).map_err(|e| e.to_string())?,
        kind,
    ));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    let bytes = message.to_vec().map_err(|e| e.to_string())?;
    let id = message.metadata.id;
    let udp = async {
        let socket = UdpSocket::bind(if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })
        .await
        .map_err(|e| e.to_string())?;
        socket.connect(server).await.map_err(|e| e.to_string())?;
        socket.send(&bytes).await.map_err(|e| e.to_string())?;
        let mut buffer = vec![0u8; 4096];
        loop {
            let n = socket.recv(&mut buffer).await.map_err(|e| e.to_string())?;
            let answer = Message::from_vec(&buffer[..n]).map_err(|e| e.to_string())?;
            if answer.metadata.id == id {
                return Ok::<Message, String>(answer);
            }
        }
    };
    let mut answer = tokio::time::timeout(QUERY_TIMEOUT, udp)
        .await
        .map_err(|_| "no answer in time".to_owned())??;
    if answer.metadata.truncation {
        let tcp = async {
            let mut stream = TcpStream::connect(server)
                .await
                .map_err(|e| e.to_string())?;
            let length = u16::try_from(bytes.len()).map_err(|e| e.to_string())?;
            stream
                .write_all(&length.to_be_bytes())
                .await
                .map_err(|e| e.to_string())?;
            stream.write_all(&bytes).await.map_err(|e| e.to_string())?;
            let length = stream.read_u16().await.map_err(|e| e.to_string())?;
            let mut buffer = vec![0u8; usize::from(length)];
            stream
                .read_exact(&mut buffer)
                .await
                .map_err(|e| e.to_string())?;
            Message::from_vec(&buffer).map_err(|e| e.to_string())
        };
        answer = tokio::time::timeout(QUERY_TIMEOUT, tcp)
            .await
            .map_err(|_| "no answer in time over TCP".to_owned())??;
    }
    match answer.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(answer),
        code => Err(format!("answered {code}")),
    }
}

/// Whether `ip` is an address on the public internet (not loopback,
/// private, shared, link-local, documentation, benchmarking, multicast or
/// reserved); IPv4-mapped IPv6 addresses are judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64
        || first == 0x0100) // discard
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(source: &str, authoritative: bool, values: &[&str]) -> TxtObservation {
        TxtObservation {
            source: source.into(),
            name: "_acme-challenge.shop.example.com".into(),
            authoritative,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            error: None,
        }
    }

    #[test]
    fn every_authoritative_server_must_answer_and_resolvers_do_not_outvote_them() {
        let all = [
            seen("resolver", false, &["v"]),
            seen("ns1", true, &["v"]),
            seen("ns2", true, &["v"]),
        ];
        assert_eq!(presence(&all, "v"), Presence::Present);
        let lag = [
            seen("resolver", false, &["v"]),
            seen("ns1", true, &["v"]),
            seen("ns2", true, &[]),
        ];
        assert_eq!(presence(&lag, "v"), Presence::Lagging(vec!["ns2".into()]));
        let none = [seen("resolver", false, &["v"]), seen("ns1", true, &["old"])];
        assert_eq!(presence(&none, "v"), Presence::Missing);
        let resolvers_only = [seen("r1", false, &[]), seen("r2", false, &["v"])];
        assert_eq!(presence(&resolvers_only, "v"), Presence::Present);
        // A server that could not be asked does not vote, unless none could.
        let mut dead = seen("ns2", true, &[]);
        dead.error = Some("no answer in time".into());
        let one_dead = [seen("ns1", true, &["v"]), dead.clone()];
        assert_eq!(presence(&one_dead, "v"), Presence::Present);
        let all_dead = [seen("resolver", false, &["v"]), dead];
        assert_eq!(presence(&all_dead, "v"), Presence::Missing);
    }

    #[test]
    fn only_public_addresses_are_asked() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "240.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "::ffff:9.9.9.9",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        let precheck = DnsPrecheck::new(&[], &["127.0.0.2:8163".parse().unwrap()]);
        assert_eq!(
            precheck.address_to_ask("127.0.0.2".parse().unwrap()),
            Some("127.0.0.2:8163".parse().unwrap())
        );
        assert_eq!(precheck.address_to_ask("127.0.0.3".parse().unwrap()), None);
        assert_eq!(
            precheck.address_to_ask("1.1.1.1".parse().unwrap()),
            Some("1.1.1.1:53".parse().unwrap())
        );
    }

    fn caa(flags: u8, tag: &str, value: &str) -> hickory_proto::rr::rdata::CAA {
        let mut record = hickory_proto::rr::rdata::CAA::new_issue(flags >= 128, None, vec![]);
        record.tag = tag.to_owned();
        record.value = value.as_bytes().to_vec();
        record
    }

    #[test]
    fn caa_rules_follow_rfc_8659() {
        let le = vec!["letsencrypt.org".to_owned()];
        assert!(forbids("x", &[caa(0, "issue", "letsencrypt.org")], &le).is_none());
        assert!(forbids(
            "x",
            &[caa(0, "issue", "LetsEncrypt.org; accounturi=https://a/1")],
            &le
        )
        .is_none());
        assert!(forbids(
            "x",
            &[
                caa(0, "issue", "pki.goog"),
                caa(0, "issue", "letsencrypt.org")
            ],
            &le
        )
        .is_none());
        assert!(forbids("x", &[caa(0, "iodef", "mailto:a@b.c")], &le).is_none());
        assert!(forbids("x", &[caa(0, "issuewild", "pki.goog")], &le).is_none());
        let no = forbids("shop.example.com", &[caa(0, "issue", "pki.goog")], &le).unwrap();
        assert_eq!(no.name, "shop.example.com");
        assert_eq!(no.records, vec!["0 issue \"pki.goog\"".to_owned()]);
        assert!(forbids("x", &[caa(0, "issue", ";")], &le).is_some());
        // RFC 8657: a record naming the CA for other methods only.
        let http_only = caa(0, "issue", "letsencrypt.org; validationmethods=http-01");
        assert!(forbids("x", &[http_only], &le).is_some());
        let both = caa(
            0,
            "issue",
            "letsencrypt.org; validationmethods=http-01,dns-01",
        );
        assert!(forbids("x", &[both], &le).is_none());
        assert!(forbids(
            "x",
            &[caa(128, "tbs", "x"), caa(0, "issue", "letsencrypt.org")],
            &le
        )
        .is_some());
    }
}
