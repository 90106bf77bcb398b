//! The status detail routerd reads (by field name) into the resource's
//! status, and the events' attributes. One shape whether or not a lease is
//! held: fields without a value are `null` (or empty arrays).
//!
//! | field | value |
//! |---|---|
//! | `interface` | the configured interface |
//! | `address` | `yiaddr/prefix` from the subnet mask (classful without one) |
//! | `gateway` | the first router of option 3 (RFC 3442's precedence of option 121 is the reader's) |
//! | `routers`, `dnsServers` | options 3 and 6, as strings |
//! | `domain`, `mtu` | options 15 and 26 |
//! | `routes` | option 121 as `[{"destination": "10.0.0.0/8", "gateway": "192.0.2.1"}]`; gateway `0.0.0.0` is on-link |
//! | `serverId` | option 54 of the server holding the lease |
//! | `leaseSecs` | option 51 as sent (4294967295: infinite) |
//! | `t1Secs`, `t2Secs` | T1/T2 in use, after repairs (`null`: infinite lease) |
//! | `renewInSecs`, `rebindInSecs`, `expiresInSecs` | time left until T1, T2, the end (0 once passed) |
//! | `counters` | `sent`, `accepted`, `ignored`, `malformed`, `naks`, `repaired`, `sendErrors` |
//!
//! In `Rebooting` the fields show the stored lease being confirmed.

use std::time::Instant;

use routerd_dhcpv4_core::{Counters, Lease};
use serde_json::{Value, json};

/// Counters the edge keeps besides the machine's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeCounters {
    /// Messages the kernel refused to send (e.g. a RENEWING REQUEST before
    /// the address is installed).
    pub send_errors: u64,
}

fn strings<T: ToString>(items: &[T]) -> Value {
    Value::Array(items.iter().map(|i| Value::String(i.to_string())).collect())
}

/// The routes of option 121 as `[{"destination", "gateway"}]`.
pub fn routes_json(lease: &Lease) -> Value {
    Value::Array(
        lease
            .options
            .routes
            .iter()
            .flatten()
            .map(|r| {
                json!({
                    "destination": r.destination.to_string(),
                    "gateway": r.gateway.to_string(),
                })
            })
            .collect(),
    )
}

/// The `detail` of `GET /v1/status` at `now`.
pub fn detail(
    interface: &str,
    lease: Option<&Lease>,
    counters: Counters,
    edge: EdgeCounters,
    now: Instant,
) -> Value {
    let secs = |at: Option<Instant>| at.map(|t| t.saturating_duration_since(now).as_secs());
    let l = lease;
    json!({
        "interface": interface,
        "address": l.map(|l| l.network().to_string()),
        "gateway": l.and_then(|l| l.options.routers.first()).map(ToString::to_string),
        "routers": l.map_or(json!([]), |l| strings(&l.options.routers)),
        "dnsServers": l.map_or(json!([]), |l| strings(&l.options.dns_servers)),
        "domain": l.and_then(|l| l.options.domain.clone()),
        "mtu": l.and_then(|l| l.options.mtu),
        "routes": l.map_or(json!([]), routes_json),
        "serverId": l.map(|l| l.server_id.to_string()),
        "leaseSecs": l.and_then(|l| l.times.lease),
        "t1Secs": l.and_then(|l| l.timers.renew).map(|d| d.as_secs()),
        "t2Secs": l.and_then(|l| l.timers.rebind).map(|d| d.as_secs()),
        "renewInSecs": secs(l.and_then(Lease::renew_at)),
        "rebindInSecs": secs(l.and_then(Lease::rebind_at)),
        "expiresInSecs": secs(l.and_then(Lease::expires_at)),
        "counters": {
            "sent": counters.sent,
            "accepted": counters.accepted,
            "ignored": counters.ignored,
            "malformed": counters.malformed,
            "naks": counters.naks,
            "repaired": counters.repaired,
            "sendErrors": edge.send_errors,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use routerd_dhcpv4_core::{LeaseOptions, LeaseTimes, Route, Timers};

    use super::*;

    const FIELDS: [&str; 16] = [
        "interface",
        "address",
        "gateway",
        "routers",
        "dnsServers",
        "domain",
        "mtu",
        "routes",
        "serverId",
        "leaseSecs",
        "t1Secs",
        "t2Secs",
        "renewInSecs",
        "rebindInSecs",
        "expiresInSecs",
        "counters",
    ];

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn the_detail_has_exactly_the_fields_routerd_reads_with_or_without_a_lease() {
        let now = Instant::now();
        let times = LeaseTimes {
            lease: Some(120),
            t1: Some(10),
            t2: Some(20),
        };
        let lease = Lease {
            address: "192.0.2.10".parse().expect("ip"),
            server_id: "192.0.2.1".parse().expect("ip"),
            options: LeaseOptions {
                prefix_len: Some(24),
                routers: vec!["192.0.2.1".parse().expect("ip")],
                dns_servers: vec!["192.0.2.53".parse().expect("ip")],
                domain: Some("lab.example".into()),
                mtu: Some(1500),
                routes: Some(vec![Route {
                    destination: "10.0.0.0/8".parse().expect("net"),
                    gateway: "0.0.0.0".parse().expect("ip"),
                }]),
            },
            times,
            timers: Timers::from_reply(times).expect("valid").0,
            obtained: now,
        };
        let later = now + Duration::from_secs(4);
        let d = detail(
            "wan0",
            Some(&lease),
            Counters::default(),
            EdgeCounters::default(),
            later,
        );
        let mut want: Vec<String> = FIELDS.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(keys(&d), want);
        assert_eq!(d["address"], "192.0.2.10/24");
        assert_eq!(d["gateway"], "192.0.2.1");
        assert_eq!(
            d["routes"],
            json!([{"destination": "10.0.0.0/8", "gateway": "0.0.0.0"}])
        );
        assert_eq!(d["dnsServers"], json!(["192.0.2.53"]));
        assert_eq!(
            (d["t1Secs"].as_u64(), d["t2Secs"].as_u64()),
            (Some(10), Some(20))
        );
        assert_eq!(d["renewInSecs"], 6);
        assert_eq!(d["expiresInSecs"], 116);
        assert_eq!(d["counters"]["sendErrors"], 0);
        let none = detail(
            "wan0",
            None,
            Counters::default(),
            EdgeCounters::default(),
            now,
        );
        assert_eq!(keys(&none), want);
        assert!(none["address"].is_null() && none["gateway"].is_null());
        assert_eq!(none["routes"], json!([]));
    }
}
