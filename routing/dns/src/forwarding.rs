//! The resolver routerd uses for its own lookups: the forwarder with the
//! longest matching `match` suffix picks the upstreams, which are asked in
//! preference order (healthy ones first) until one answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::time::{Instant, MissedTickBehavior};

use crate::answer::{self, Answer, IpAnswer, Origin, TtlCaps};
use crate::cache::Cache;
use crate::domain;
use crate::error::{Attempt, DnsError, UpstreamError};
use crate::health::Source;
use crate::spec::{ForwarderSpec, ForwardingOptions, UpstreamSpec};
use crate::status::{ForwarderStatus, ForwardingStatus};
use crate::upstream::Upstream;
use crate::validate;

/// DNS forwarding for routerd's own lookups, built from the `DNSUpstream` and
/// `DNSForwarder` resources. Share it (`Arc`) between the tasks that look up
/// names and the one that runs [`run_health_checks`](Self::run_health_checks).
///
/// Needs a tokio runtime (with the time and I/O drivers) for lookups and
/// probes; building it does not.
pub struct Forwarding {
    upstreams: Vec<Upstream>,
    forwarders: Vec<Forwarder>,
    cache: Mutex<Cache>,
    caps: TtlCaps,
}

struct Forwarder {
    name: String,
    domains: Vec<Name>,
    /// Indices into `Forwarding::upstreams`, in preference order.
    upstreams: Vec<usize>,
}

/// The result of probing one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// The upstream probed.
    pub upstream: String,
    /// The round-trip time, or why it failed.
    pub result: Result<Duration, UpstreamError>,
}

impl Forwarding {
    /// Validates the specs and builds the forwarding with default options.
    pub fn new(upstreams: &[UpstreamSpec], forwarders: &[ForwarderSpec]) -> Result<Self, DnsError> {
        Self::with_options(upstreams, forwarders, ForwardingOptions::default())
    }

    /// Validates the specs and builds the forwarding.
    pub fn with_options(
        upstreams: &[UpstreamSpec],
        forwarders: &[ForwarderSpec],
        options: ForwardingOptions,
    ) -> Result<Self, DnsError> {
        if options.query_timeout.is_zero() {
            return Err(DnsError::InvalidOptions(
                "query_timeout must be greater than zero".to_string(),
            ));
        }
        if options.bootstrap_port == 0 {
            return Err(DnsError::InvalidOptions(
                "bootstrap_port must not be 0".to_string(),
            ));
        }
        let (up_plans, fwd_plans) = validate::plans(upstreams, forwarders)?;

        let mut built = Vec::with_capacity(up_plans.len());
        for (index, plan) in up_plans.into_iter().enumerate() {
            // An upstream shared by forwarders with different healthchecks
            // follows the first of them (spec order) that has one.
            let health = fwd_plans
                .iter()
                .filter(|f| f.upstreams.contains(&index))
                .find_map(|f| f.health.as_ref());
            built.push(Upstream::new(plan, &options, health));
        }

        Ok(Self {
            upstreams: built,
            forwarders: fwd_plans
                .into_iter()
                .map(|f| Forwarder {
                    name: f.name,
                    domains: f.domains,
                    upstreams: f.upstreams,
                })
                .collect(),
            cache: Mutex::new(Cache::new(options.cache_entries)),
            caps: TtlCaps {
                max_ttl: options.max_ttl,
                max_negative_ttl: options.max_negative_ttl,
            },
        })
    }

    /// Looks `name` up: from the cache while its TTL lasts, else through the
    /// forwarder whose `match` covers it best, whose upstreams are asked in
    /// order (healthy first) until one answers. NXDOMAIN and NODATA are
    /// answers ([`AnswerKind`](crate::AnswerKind)); timeouts, connection
    /// errors, SERVFAIL and REFUSED move on to the next upstream.
    ///
    /// Each address of each upstream may take up to the query timeout; wrap
    /// the call in `tokio::time::timeout` for an overall bound.
    pub async fn lookup(&self, name: &str, record_type: RecordType) -> Result<Answer, DnsError> {
        let qname = domain::parse(name).map_err(|reason| DnsError::InvalidName {
            name: name.to_string(),
            reason,
        })?;
        let key = (domain::key(&qname), record_type);
        if let Some(hit) = self.lock_cache().get(&key, Instant::now()) {
            return Ok(hit);
        }

        let forwarder = self
            .forwarder_for(&qname)
            .ok_or_else(|| DnsError::NoForwarder {
                name: key.0.clone(),
            })?;
        if forwarder.upstreams.is_empty() {
            return Err(DnsError::NoUpstreams {
                forwarder: forwarder.name.clone(),
                name: key.0,
            });
        }

        let query = Query::query(qname.clone(), record_type);
        let mut attempts = Vec::new();
        for index in self.order(forwarder) {
            let upstream = &self.upstreams[index];
            match upstream.query(&query, Source::Lookup, None).await {
                Ok(exchanged) => {
                    let answer = answer::build(
                        &qname,
                        record_type,
                        exchanged.reply,
                        Origin {
                            forwarder: &forwarder.name,
                            upstream: &upstream.name,
                            server: exchanged.server,
                        },
                        self.caps,
                    );
                    self.lock_cache()
                        .insert(key, answer.clone(), Instant::now());
                    return Ok(answer);
                }
                Err(error) => attempts.push(Attempt {
                    upstream: upstream.name.clone(),
                    error,
                }),
            }
        }
        Err(DnsError::AllUpstreamsFailed {
            forwarder: forwarder.name.clone(),
            name: key.0,
            record_type,
            attempts,
        })
    }

    /// Looks up the AAAA records of `name`.
    pub async fn lookup_ipv6(&self, name: &str) -> Result<Answer, DnsError> {
        self.lookup(name, RecordType::AAAA).await
    }

    /// Looks up the A records of `name`.
    pub async fn lookup_ipv4(&self, name: &str) -> Result<Answer, DnsError> {
        self.lookup(name, RecordType::A).await
    }

    /// Looks up AAAA and A together. Fails only if both lookups fail (with the
    /// AAAA lookup's error); a family that failed is `None` in the answer.
    pub async fn lookup_ip(&self, name: &str) -> Result<IpAnswer, DnsError> {
        let (v6, v4) = tokio::join!(self.lookup_ipv6(name), self.lookup_ipv4(name));
        let (ipv6, ipv4) = match (v6, v4) {
            (Err(e), Err(_)) => return Err(e),
            (v6, v4) => (v6.ok(), v4.ok()),
        };
        let answers = || ipv6.iter().chain(ipv4.iter());
        Ok(IpAnswer {
            addresses: answers()
                .flat_map(|a| a.addresses.iter().copied())
                .collect(),
            ttl: answers().map(|a| a.ttl).min().unwrap_or(0),
            ipv6,
            ipv4,
        })
    }

    /// Probes every upstream once, all at the same time, with the probe query
    /// and timeout of its forwarder's healthcheck (`. NS` and the query
    /// timeout by default). Results count towards health like lookups do.
    pub async fn probe_upstreams(&self) -> Vec<ProbeOutcome> {
        join_all(self.upstreams.iter().map(probe)).await
    }

    /// Probes each upstream whose forwarder's healthcheck sets an `interval`,
    /// every interval, forever: spawn it next to the lookups. Returns at once
    /// when no healthcheck sets an interval: health is then judged passively,
    /// from lookups alone.
    pub async fn run_health_checks(&self) {
        let loops = self.upstreams.iter().filter_map(|upstream| {
            let interval = upstream.probe.interval?;
            Some(async move {
                let mut tick = tokio::time::interval(interval);
                // A probe slower than the interval delays the next one rather
                // than firing a burst to catch up.
                tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    probe(upstream).await;
                }
            })
        });
        join_all(loops).await;
    }

    /// Forgets every cached answer, e.g. after the WAN changed.
    pub fn clear_cache(&self) {
        let mut cache = self.lock_cache();
        *cache = Cache::new(cache.capacity());
    }

    /// A snapshot for the resources' status.
    pub fn status(&self) -> ForwardingStatus {
        ForwardingStatus {
            upstreams: self.upstreams.iter().map(Upstream::status).collect(),
            forwarders: self
                .forwarders
                .iter()
                .map(|f| ForwarderStatus {
                    name: f.name.clone(),
                    domains: f.domains.iter().map(domain::key).collect(),
                    upstreams: f
                        .upstreams
                        .iter()
                        .map(|&i| self.upstreams[i].name.clone())
                        .collect(),
                    effective_order: self
                        .order(f)
                        .map(|i| self.upstreams[i].name.clone())
                        .collect(),
                })
                .collect(),
        }
    }

    fn forwarder_for(&self, name: &Name) -> Option<&Forwarder> {
        // Suffixes are unique across forwarders (validated), so the longest
        // match names exactly one forwarder.
        let suffixes = self
            .forwarders
            .iter()
            .enumerate()
            .flat_map(|(i, f)| f.domains.iter().map(move |d| (i, d)));
        let (owners, domains): (Vec<usize>, Vec<&Name>) = suffixes.unzip();
        domain::longest_match(name, domains).map(|best| &self.forwarders[owners[best]])
    }

    /// The forwarder's upstreams in the order to try them: healthy ones in
    /// preference order, then the unhealthy ones, also in preference order.
    /// Unhealthy upstreams are tried last rather than skipped, so a forwarder
    /// with a single upstream keeps working, and a recovered upstream is
    /// noticed by real traffic.
    fn order<'a>(&'a self, forwarder: &'a Forwarder) -> impl Iterator<Item = usize> + 'a {
        let healthy: Vec<bool> = forwarder
            .upstreams
            .iter()
            .map(|&i| self.upstreams[i].healthy())
            .collect();
        let pick = move |want: bool| {
            forwarder
                .upstreams
                .iter()
                .zip(healthy.clone())
                .filter(move |(_, h)| *h == want)
                .map(|(&i, _)| i)
        };
        pick(true).chain(pick(false))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn probe(upstream: &Upstream) -> ProbeOutcome {
    let result = upstream
        .query(
            &upstream.probe.query,
            Source::Probe,
            Some(upstream.probe.timeout),
        )
        .await
        .map(|exchanged| exchanged.rtt);
    ProbeOutcome {
        upstream: upstream.name.clone(),
        result,
    }
}

/// Runs futures concurrently on the current task and collects their outputs
/// in order: the few probes of a router do not warrant a dependency on
/// `futures` or spawned tasks (which would need `'static` borrows).
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integrator shares one `Forwarding` between tasks and spawns its
    /// futures on a multi-threaded runtime.
    #[test]
    fn forwarding_and_its_futures_are_send() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>(_: &T) {}
        send_sync::<Forwarding>();
        let fwd = Forwarding::new(&[], &[]).unwrap_or_else(|e| panic!("{e}"));
        send(&fwd.lookup("a.example", RecordType::A));
        send(&fwd.lookup_ip("a.example"));
        send(&fwd.probe_upstreams());
        send(&fwd.run_health_checks());
    }
}
