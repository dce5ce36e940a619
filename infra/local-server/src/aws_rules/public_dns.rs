//! Public DNS as AWS's services read it: what ACM looks a validation record
//! up in. Locally that is the stack's recursive resolver
//! (`RECURSIVE_RESOLVER` in `.local/<profile>/env`: unbound, which sends
//! the tenants' names to challtestsrv, the tenants' DNS host, and caches
//! nothing), so a record a test or a `make dev` user publishes there is
//! what the local AWS sees.
//!
//! Asked afresh on every look, through a resolver that caches nothing: a
//! record removed reads as gone at the next look, as AWS's next attempt
//! would find it.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;

/// The resolver, once known: named by [`resolve_through`], or read from
/// `RECURSIVE_RESOLVER` at the first look.
static RESOLVER: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// Names the resolver AWS's services read public DNS through, for a
/// process whose environment lacks `RECURSIVE_RESOLVER` (the tests read
/// the stack's env file themselves). The first one named, before any look,
/// stays.
pub fn resolve_through(addr: SocketAddr) {
    let _ = RESOLVER.set(Some(addr));
}

fn resolver_addr() -> Option<SocketAddr> {
    *RESOLVER.get_or_init(|| {
        std::env::var("RECURSIVE_RESOLVER")
            .ok()
            .and_then(|v| v.parse().ok())
    })
}

/// How long one look may take (a name that does not answer by then is
/// taken as not there, as by AWS's attempt that found nothing).
const LOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a look at a name's CNAME found.
#[derive(Debug, PartialEq, Eq)]
pub enum Cname {
    /// The CNAME's targets, lowercase, without the final dot (empty: the
    /// name has none).
    Targets(Vec<String>),
    /// No resolver is known (`RECURSIVE_RESOLVER` unset): nothing can be
    /// looked up.
    NoResolver,
    /// The resolver did not answer, or answered an error.
    Failed(String),
}

/// The CNAME at `name`, as public DNS answers it now.
pub async fn cname(name: &str) -> Cname {
    let Some(addr) = resolver_addr() else {
        return Cname::NoResolver;
    };
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let resolver = match resolver(addr) {
        Ok(r) => r,
        Err(e) => return Cname::Failed(format!("no resolver for {addr}: {e}")),
    };
    match resolver.lookup(fqdn.as_str(), RecordType::CNAME).await {
        Ok(lookup) => Cname::Targets(
            lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::CNAME(c) => Some(bare(&c.0.to_ascii())),
                    _ => None,
                })
                .collect(),
        ),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Cname::Targets(Vec::new()),
        Err(e) => Cname::Failed(e.to_string()),
    }
}

/// A name compared as DNS compares it: lowercase, without the final dot.
pub fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A resolver asking `addr` only, recursion desired, with no cache.
fn resolver(addr: SocketAddr) -> Result<TokioResolver, hickory_resolver::net::NetError> {
    let mut server = NameServerConfig::udp_and_tcp(addr.ip());
    for connection in &mut server.connections {
        connection.port = addr.port();
    }
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.timeout = LOOK_TIMEOUT;
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Never;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
}
