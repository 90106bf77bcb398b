//! One upstream at run time: a hickory name-server pool per address, the
//! bootstrap of a host-name address, and its health record.
//!
//! Each address gets a pool of its own (one `NameServerConfig`): hickory's
//! pool gives all its servers one shared deadline, so with several addresses
//! in one pool a dead first address would eat the whole timeout. Failover
//! between addresses and between upstreams is done here instead, one address
//! at a time, in order; the address that answered last is tried first next
//! time.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverOpts, ServerOrderingStrategy,
};
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer};
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::op::{DnsRequestOptions, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::answer::Reply;
use crate::cause::ConnectCause;
use crate::error::UpstreamError;
use crate::health::{Health, Source, Thresholds, Transition};
use crate::spec::{ForwardingOptions, HealthSpec, Protocol};
use crate::status::UpstreamStatus;
use crate::transport::BoundRuntime;
use crate::validate::UpstreamPlan;

type Pool = NameServerPool<BoundRuntime>;

/// Shortest and longest time a bootstrap answer is used before it is asked again.
const BOOTSTRAP_TTL_MIN: Duration = Duration::from_secs(30);
const BOOTSTRAP_TTL_MAX: Duration = Duration::from_secs(3600);
/// After a failed re-resolution the old addresses stay in use this long.
const BOOTSTRAP_RETRY: Duration = Duration::from_secs(30);

/// One address of an upstream and hickory's pool for it.
#[derive(Clone)]
struct Server {
    ip: IpAddr,
    pool: Pool,
}

/// Where an upstream's addresses come from.
enum Addresses {
    /// Configured IP addresses.
    Static(Vec<Server>),
    /// A host name, resolved through bootstrap servers and refreshed by TTL.
    Host(Box<HostAddresses>),
}

struct HostAddresses {
    host: Name,
    bootstrap: Vec<Server>,
    /// Held while resolving, so concurrent lookups wait for one resolution
    /// instead of each asking the bootstrap servers.
    refreshing: tokio::sync::Mutex<()>,
    resolved: Mutex<Resolved>,
}

#[derive(Default)]
struct Resolved {
    servers: Vec<Server>,
    /// When to ask the bootstrap servers again; `None` before the first answer.
    refresh_at: Option<Instant>,
}

/// Active probing of one upstream.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// `None`: passive health only.
    pub(crate) interval: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) query: Query,
}

/// A successful exchange.
pub(crate) struct Exchanged {
    pub(crate) reply: Reply,
    /// The address that answered.
    pub(crate) server: IpAddr,
    /// From the first packet to the answer, failed addresses included.
    pub(crate) rtt: Duration,
}

/// One `DNSUpstream` at run time.
pub(crate) struct Upstream {
    pub(crate) name: String,
    protocol: Protocol,
    port: u16,
    server_name: Option<Arc<str>>,
    path: Arc<str>,
    cx: Arc<PoolContext>,
    runtime: BoundRuntime,
    cause: Arc<ConnectCause>,
    addresses: Addresses,
    /// The address that answered last; tried first.
    preferred: Mutex<Option<IpAddr>>,
    health: Mutex<Health>,
    thresholds: Thresholds,
    pub(crate) probe: Probe,
}

impl Upstream {
    /// Builds the pools of a validated upstream; `health` is the healthcheck
    /// of the first forwarder that lists it (or none).
    pub(crate) fn new(
        plan: UpstreamPlan,
        options: &ForwardingOptions,
        health: Option<&HealthSpec>,
    ) -> Self {
        let query_timeout = options.query_timeout;
        let mut opts = ResolverOpts::default();
        opts.timeout = query_timeout;
        // Failover is ours: one try per address, addresses in our order.
        opts.attempts = 1;
        opts.num_concurrent_reqs = 1;
        opts.server_ordering_strategy = ServerOrderingStrategy::UserProvidedOrder;
        // Never the host's /etc/hosts (nor its resolv.conf: no system config
        // is read anywhere in this crate).
        opts.use_hosts_file = ResolveHosts::Never;
        opts.cache_size = 0;
        let cx = Arc::new(PoolContext::new(opts, TlsConfig { config: plan.tls }));
        let runtime = BoundRuntime::new(
            plan.source_interface.as_deref(),
            query_timeout,
            plan.cause.clone(),
        );

        let thresholds = Thresholds {
            fail: health
                .and_then(|h| h.fail_threshold)
                .unwrap_or(Thresholds::default().fail),
            pass: health
                .and_then(|h| h.pass_threshold)
                .unwrap_or(Thresholds::default().pass),
        };
        let probe_name = health.and_then(|h| h.probe_name.as_deref());
        let probe = Probe {
            interval: health.and_then(|h| h.interval),
            timeout: health.and_then(|h| h.timeout).unwrap_or(query_timeout),
            query: match probe_name.map(crate::domain::parse) {
                Some(Ok(name)) => Query::query(name, RecordType::A),
                // Validation already refused a bad probe name.
                Some(Err(_)) | None => Query::query(Name::root(), RecordType::NS),
            },
        };

        let mut upstream = Self {
            name: plan.name,
            protocol: plan.protocol,
            port: plan.port,
            server_name: plan.server_name,
            path: plan.path,
            cx,
            runtime,
            cause: plan.cause,
            addresses: Addresses::Static(Vec::new()),
            preferred: Mutex::new(None),
            health: Mutex::new(Health::default()),
            thresholds,
            probe,
        };
        upstream.addresses = match plan.host {
            None => Addresses::Static(
                plan.addresses
                    .iter()
                    .map(|&ip| upstream.server(ip))
                    .collect(),
            ),
            Some(host) => Addresses::Host(Box::new(HostAddresses {
                host,
                bootstrap: plan
                    .bootstrap
                    .iter()
                    .map(|&ip| upstream.bootstrap_server(ip, options.bootstrap_port))
                    .collect(),
                refreshing: tokio::sync::Mutex::new(()),
                resolved: Mutex::new(Resolved::default()),
            })),
        };
        upstream
    }

    /// hickory's pool for one address of this upstream.
    fn server(&self, ip: IpAddr) -> Server {
        let mut connections = match self.protocol {
            // TCP only when an answer comes back truncated (RFC 7766 §5).
            Protocol::Udp => vec![ConnectionConfig::udp(), ConnectionConfig::tcp()],
            Protocol::Tcp => vec![ConnectionConfig::tcp()],
            Protocol::Dot => vec![ConnectionConfig::tls(self.tls_name())],
            Protocol::Doh => vec![ConnectionConfig::https(
                self.tls_name(),
                Some(self.path.clone()),
            )],
        };
        for c in &mut connections {
            c.port = self.port;
        }
        self.pool(ip, connections)
    }

    /// A plain-DNS pool to a bootstrap server (UDP, TCP on truncation).
    fn bootstrap_server(&self, ip: IpAddr, port: u16) -> Server {
        let mut connections = vec![ConnectionConfig::udp(), ConnectionConfig::tcp()];
        for c in &mut connections {
            c.port = port;
        }
        self.pool(ip, connections)
    }

    fn pool(&self, ip: IpAddr, connections: Vec<ConnectionConfig>) -> Server {
        // trust_negative_responses: an NXDOMAIN is an answer, not a reason to
        // ask the next server.
        let config = NameServerConfig::new(ip, true, connections);
        Server {
            ip,
            pool: NameServerPool::from_config([config], self.cx.clone(), self.runtime.clone()),
        }
    }

    fn tls_name(&self) -> Arc<str> {
        // Validation guarantees a name for DoT/DoH; the fallback is never used.
        self.server_name.clone().unwrap_or_else(|| Arc::from(""))
    }

    /// Asks this upstream, address by address, and records the outcome in its
    /// health. `deadline` bounds the whole attempt (probes).
    pub(crate) async fn query(
        &self,
        query: &Query,
        source: Source,
        deadline: Option<Duration>,
    ) -> Result<Exchanged, UpstreamError> {
        let start = Instant::now();
        let result = match deadline {
            Some(d) => tokio::time::timeout(d, self.exchange(query))
                .await
                .unwrap_or(Err(UpstreamError::Timeout)),
            None => self.exchange(query).await,
        };
        let rtt = start.elapsed();
        let transition = {
            let mut health = lock(&self.health);
            match &result {
                Ok(_) => health.success(rtt, source, self.thresholds),
                Err(e) => health.failure(e, source, self.thresholds),
            }
        };
        match (transition, &result) {
            (Some(Transition::BecameUnhealthy), Err(e)) => {
                warn!(upstream = %self.name, error = %e, "DNS upstream is now unhealthy");
            }
            (Some(Transition::BecameHealthy), _) => {
                info!(upstream = %self.name, "DNS upstream is healthy again");
            }
            _ => {}
        }
        result.map(|(reply, server)| Exchanged { reply, server, rtt })
    }

    async fn exchange(&self, query: &Query) -> Result<(Reply, IpAddr), UpstreamError> {
        let servers = self.servers().await?;
        let preferred = *lock(&self.preferred);
        let first = preferred
            .and_then(|p| servers.iter().position(|s| s.ip == p))
            .unwrap_or(0);
        let mut last = UpstreamError::Connect("no addresses".to_string());
        for i in 0..servers.len() {
            let server = &servers[(first + i) % servers.len()];
            match ask(&server.pool, query, &self.cause).await {
                Ok(reply) => {
                    *lock(&self.preferred) = Some(server.ip);
                    return Ok((reply, server.ip));
                }
                Err(e) => {
                    debug!(upstream = %self.name, server = %server.ip, error = %e, "DNS exchange failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// The addresses to use now, resolving the host name first if needed.
    async fn servers(&self) -> Result<Vec<Server>, UpstreamError> {
        let host = match &self.addresses {
            Addresses::Static(servers) => return Ok(servers.clone()),
            Addresses::Host(host) => host,
        };
        if let Some(servers) = host.fresh(Instant::now()) {
            return Ok(servers);
        }
        let _one_at_a_time = host.refreshing.lock().await;
        if let Some(servers) = host.fresh(Instant::now()) {
            return Ok(servers);
        }
        match resolve(&host.host, &host.bootstrap, &self.cause).await {
            Ok((ips, ttl)) => {
                let mut resolved = lock(&host.resolved);
                // Keep the pools (and their open connections) of addresses
                // that did not change.
                let servers: Vec<Server> = ips
                    .into_iter()
                    .map(|ip| match resolved.servers.iter().find(|s| s.ip == ip) {
                        Some(s) => s.clone(),
                        None => self.server(ip),
                    })
                    .collect();
                let ttl = ttl.clamp(BOOTSTRAP_TTL_MIN, BOOTSTRAP_TTL_MAX);
                debug!(upstream = %self.name, host = %host.host, addresses = ?servers.iter().map(|s| s.ip).collect::<Vec<_>>(), ?ttl, "resolved upstream host");
                resolved.servers = servers.clone();
                resolved.refresh_at = Some(Instant::now() + ttl);
                Ok(servers)
            }
            Err(e) => {
                let mut resolved = lock(&host.resolved);
                if resolved.servers.is_empty() {
                    return Err(e);
                }
                // Stale addresses beat none: the upstream probably did not move.
                warn!(upstream = %self.name, host = %host.host, error = %e, "cannot re-resolve upstream host; keeping its old addresses");
                resolved.refresh_at = Some(Instant::now() + BOOTSTRAP_RETRY);
                Ok(resolved.servers.clone())
            }
        }
    }

    /// Whether this upstream is healthy now.
    pub(crate) fn healthy(&self) -> bool {
        lock(&self.health).healthy
    }

    pub(crate) fn status(&self) -> UpstreamStatus {
        let health = lock(&self.health).clone();
        let (addresses, host) = match &self.addresses {
            Addresses::Static(servers) => (servers.iter().map(|s| s.ip).collect::<Vec<_>>(), None),
            Addresses::Host(h) => (
                lock(&h.resolved).servers.iter().map(|s| s.ip).collect(),
                Some(h.host.to_ascii().trim_end_matches('.').to_string()),
            ),
        };
        UpstreamStatus {
            name: self.name.clone(),
            protocol: self.protocol,
            healthy: health.healthy,
            addresses: addresses.iter().map(ToString::to_string).collect(),
            host,
            last_error: health.last_error.map(|e| e.to_string()),
            // Microsecond resolution: local resolvers answer in well under 1 ms.
            last_rtt_ms: health.last_rtt.map(|d| d.as_micros() as f64 / 1000.0),
            queries: health.queries,
            failures: health.failures,
            consecutive_failures: health.consecutive_failures,
            probes: health.probes,
        }
    }
}

impl HostAddresses {
    fn fresh(&self, now: Instant) -> Option<Vec<Server>> {
        let resolved = lock(&self.resolved);
        match resolved.refresh_at {
            Some(at) if at > now => Some(resolved.servers.clone()),
            _ => None,
        }
    }
}

/// Resolves `host` (AAAA and A at once) through the bootstrap servers, each
/// family asking them in order; returns the addresses (IPv6 first) and the
/// smallest TTL.
async fn resolve(
    host: &Name,
    bootstrap: &[Server],
    cause: &ConnectCause,
) -> Result<(Vec<IpAddr>, Duration), UpstreamError> {
    let (v6, v4) = tokio::join!(
        resolve_family(host, RecordType::AAAA, bootstrap, cause),
        resolve_family(host, RecordType::A, bootstrap, cause)
    );
    let mut ips = Vec::new();
    let mut ttl = None::<u32>;
    let mut errors = Vec::new();
    for result in [v6, v4] {
        match result {
            Ok((addrs, t)) => {
                if !addrs.is_empty() {
                    ttl = Some(ttl.map_or(t, |old| old.min(t)));
                }
                ips.extend(addrs);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if ips.is_empty() {
        return Err(UpstreamError::Bootstrap(if errors.is_empty() {
            format!("{host} has no AAAA or A records")
        } else {
            format!("cannot resolve {host}: {}", errors.join("; "))
        }));
    }
    Ok((ips, Duration::from_secs(u64::from(ttl.unwrap_or(0)))))
}

async fn resolve_family(
    host: &Name,
    rtype: RecordType,
    bootstrap: &[Server],
    cause: &ConnectCause,
) -> Result<(Vec<IpAddr>, u32), UpstreamError> {
    let query = Query::query(host.clone(), rtype);
    let mut last = UpstreamError::Connect("no bootstrap servers".to_string());
    for server in bootstrap {
        match ask(&server.pool, &query, cause).await {
            Ok(Reply::Records { answers, .. }) => {
                let records = answers.iter().filter(|r| r.record_type() == rtype);
                let ttl = records.clone().map(|r| r.ttl).min().unwrap_or(0);
                return Ok((records.filter_map(|r| r.data.ip_addr()).collect(), ttl));
            }
            Ok(Reply::Negative { .. }) => return Ok((Vec::new(), 0)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One exchange with one address: hickory's result sorted into an answer
/// (records, NXDOMAIN, NODATA) or a reason to fail over.
async fn ask(pool: &Pool, query: &Query, cause: &ConnectCause) -> Result<Reply, UpstreamError> {
    // A cause left over from an earlier exchange must not explain this one.
    cause.take();
    let response = pool
        .lookup(query.clone(), DnsRequestOptions::default())
        .first_answer()
        .await;
    match response {
        Ok(response) => match response.response_code {
            rcode @ (ResponseCode::NoError | ResponseCode::NXDomain) => Ok(Reply::Records {
                rcode,
                answers: response.into_message().answers,
            }),
            other => Err(rcode_error(other)),
        },
        Err(NetError::Dns(HickoryDnsError::NoRecordsFound(nr))) => match nr.response_code {
            ResponseCode::NXDomain => Ok(Reply::Negative {
                nxdomain: true,
                negative_ttl: nr.negative_ttl,
            }),
            ResponseCode::NoError => Ok(Reply::Negative {
                nxdomain: false,
                negative_ttl: nr.negative_ttl,
            }),
            other => Err(rcode_error(other)),
        },
        // hickory's placeholder for "could not connect": the socket layer or
        // the certificate verifier knows why.
        Err(e @ (NetError::NoConnections | NetError::Io(_))) => {
            Err(cause.take().unwrap_or_else(|| classify(e)))
        }
        Err(e) => Err(classify(e)),
    }
}

fn rcode_error(rcode: ResponseCode) -> UpstreamError {
    match rcode {
        ResponseCode::ServFail => UpstreamError::ServFail,
        ResponseCode::Refused => UpstreamError::Refused,
        other => UpstreamError::Rcode(other.to_string()),
    }
}

/// Sorts hickory's transport errors into ours.
fn classify(error: NetError) -> UpstreamError {
    match error {
        NetError::Timeout => UpstreamError::Timeout,
        NetError::Dns(HickoryDnsError::ResponseCode(rcode)) => rcode_error(rcode),
        NetError::Io(io) => {
            if io.kind() == std::io::ErrorKind::TimedOut {
                UpstreamError::Timeout
            } else if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                // tokio-rustls reports handshake failures (a certificate that
                // does not verify) as I/O errors wrapping rustls's.
                UpstreamError::Tls(io.to_string())
            } else {
                UpstreamError::Connect(io.to_string())
            }
        }
        NetError::RustlsError(e) => UpstreamError::Tls(e.to_string()),
        e @ (NetError::H2(_) | NetError::Decode(_)) => UpstreamError::Http(e.to_string()),
        e @ (NetError::NoConnections | NetError::Busy) => UpstreamError::Connect(e.to_string()),
        other => UpstreamError::Protocol(other.to_string()),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent even if a holder panicked
    // (every update is a few plain assignments).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
