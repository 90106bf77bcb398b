//! Import and export policy: prefix lists with ge/le, community matches
//! and sets, local preference, and RFC 8212's default: an eBGP session
//! without a policy for a direction accepts and sends nothing.

use std::str::FromStr;

use ipnet::IpNet;
use thiserror::Error;

/// Policies match on the codec's community type, so a received route's
/// attribute set is judged as decoded, without a conversion per route.
pub use crate::wire::Community;

/// Why a policy term does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Not a community.
    #[error(
        "`{0}` is not a community: ASN:VALUE (each 0-65535) or no-export, no-advertise, no-export-subconfed, blackhole, graceful-shutdown"
    )]
    Community(String),
    /// Not a prefix rule.
    #[error("`{0}` is not a prefix rule: PREFIX, optionally followed by `ge N` and/or `le N`")]
    PrefixRule(String),
    /// ge/le out of range for the prefix.
    #[error("`{0}`: need prefix length <= ge <= le <= {1}")]
    Lengths(String, u8),
}

impl FromStr for Community {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let named = match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "no-export" => Some(Community::NO_EXPORT),
            "no-advertise" => Some(Community::NO_ADVERTISE),
            "no-export-subconfed" | "local-as" => Some(Community::NO_EXPORT_SUBCONFED),
            "blackhole" => Some(Community::BLACKHOLE),
            "graceful-shutdown" => Some(Community::GRACEFUL_SHUTDOWN),
            _ => None,
        };
        if let Some(c) = named {
            return Ok(c);
        }
        let (a, v) = s
            .split_once(':')
            .ok_or_else(|| PolicyError::Community(s.into()))?;
        let a: u16 = a.parse().map_err(|_| PolicyError::Community(s.into()))?;
        let v: u16 = v.parse().map_err(|_| PolicyError::Community(s.into()))?;
        Ok(Community((u32::from(a) << 16) | u32::from(v)))
    }
}

/// One entry of a prefix list: `10.0.0.0/8` matches exactly that prefix;
/// `10.0.0.0/8 le 24` any prefix inside it up to /24; `ge 16` from /16 on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixRule {
    /// The covering prefix.
    pub prefix: IpNet,
    /// Shortest length matched.
    pub ge: u8,
    /// Longest length matched.
    pub le: u8,
}

impl PrefixRule {
    /// Whether `p` matches.
    pub fn matches(&self, p: &IpNet) -> bool {
        let same_family = matches!(
            (self.prefix, p),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        same_family
            && self.prefix.contains(&p.network())
            && p.prefix_len() >= self.prefix.prefix_len()
            && (self.ge..=self.le).contains(&p.prefix_len())
    }
}

impl FromStr for PrefixRule {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        let bad = || PolicyError::PrefixRule(s.into());
        let mut words = s.split_whitespace();
        let prefix: IpNet = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        if prefix.trunc() != prefix {
            return Err(bad());
        }
        let max = prefix.max_prefix_len();
        let (mut ge, mut le) = (None, None);
        while let Some(w) = words.next() {
            let n: u8 = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
            match w {
                "ge" if ge.is_none() => ge = Some(n),
                "le" if le.is_none() => le = Some(n),
                _ => return Err(bad()),
            }
        }
        let len = prefix.prefix_len();
        let (ge, le) = match (ge, le) {
            (None, None) => (len, len),
            (Some(g), None) => (g, max),
            (None, Some(l)) => (len, l),
            (Some(g), Some(l)) => (g, l),
        };
        if !(len <= ge && ge <= le && le <= max) {
            return Err(PolicyError::Lengths(s.into(), max));
        }
        Ok(PrefixRule { prefix, ge, le })
    }
}

/// What a policy looks at in a route.
#[derive(Debug, Clone, Copy)]
pub struct RouteFacts<'a> {
    /// The prefix.
    pub prefix: &'a IpNet,
    /// Its standard communities.
    pub communities: &'a [Community],
}

/// One direction's policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Accepted prefixes; `None`: any.
    pub allowed: Option<Vec<PrefixRule>>,
    /// Shortest accepted prefix length.
    pub length_min: Option<u8>,
    /// Longest accepted prefix length.
    pub length_max: Option<u8>,
    /// Every one of these must be present.
    pub required_communities: Vec<Community>,
    /// None of these may be present.
    pub forbidden_communities: Vec<Community>,
    /// Set LOCAL_PREF on accepted routes (import).
    pub local_pref: Option<u32>,
    /// Communities added to accepted routes.
    pub add_communities: Vec<Community>,
}

/// What a policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept, with these changes.
    Accept {
        /// LOCAL_PREF to set.
        local_pref: Option<u32>,
        /// Communities to add.
        add_communities: Vec<Community>,
    },
    /// Refuse, with why (for counters and `routerctl bgp routes`).
    Reject(&'static str),
}

impl Policy {
    /// Judges one route.
    pub fn judge(&self, route: RouteFacts<'_>) -> Verdict {
        let len = route.prefix.prefix_len();
        if self.length_min.is_some_and(|m| len < m) || self.length_max.is_some_and(|m| len > m) {
            return Verdict::Reject("prefix length out of range");
        }
        if let Some(rules) = &self.allowed
            && !rules.iter().any(|r| r.matches(route.prefix))
        {
            return Verdict::Reject("not in the allowed prefixes");
        }
        if !self
            .required_communities
            .iter()
            .all(|c| route.communities.contains(c))
        {
            return Verdict::Reject("a required community is missing");
        }
        if self
            .forbidden_communities
            .iter()
            .any(|c| route.communities.contains(c))
        {
            return Verdict::Reject("carries a forbidden community");
        }
        Verdict::Accept {
            local_pref: self.local_pref,
            add_communities: self.add_communities.clone(),
        }
    }
}

/// The import or export decision of a session: its policy, or RFC 8212's
/// default when it has none (eBGP: nothing; iBGP: everything).
pub fn decide(policy: Option<&Policy>, ebgp: bool, route: RouteFacts<'_>) -> Verdict {
    match policy {
        Some(p) => p.judge(route),
        None if ebgp => Verdict::Reject("no policy on an eBGP session (RFC 8212)"),
        None => Verdict::Accept {
            local_pref: None,
            add_communities: Vec::new(),
        },
    }
}

/// Whether a route may be sent to a peer at all, whatever the policy says
/// (RFC 1997 well-known communities).
pub fn may_advertise(communities: &[Community], to_ebgp: bool) -> bool {
    !(communities.contains(&Community::NO_ADVERTISE)
        || (to_ebgp
            && (communities.contains(&Community::NO_EXPORT)
                || communities.contains(&Community::NO_EXPORT_SUBCONFED))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("prefix")
    }

    #[test]
    fn prefix_rules_follow_ge_and_le() {
        let exact: PrefixRule = "10.0.0.0/8".parse().expect("rule");
        assert!(exact.matches(&net("10.0.0.0/8")));
        assert!(!exact.matches(&net("10.1.0.0/16")));
        let le: PrefixRule = "10.0.0.0/8 le 24".parse().expect("rule");
        assert!(le.matches(&net("10.1.2.0/24")) && !le.matches(&net("10.1.2.0/25")));
        let ge: PrefixRule = "10.0.0.0/8 ge 30".parse().expect("rule");
        assert!(ge.matches(&net("10.9.9.4/30")) && ge.matches(&net("10.9.9.9/32")));
        assert!(!ge.matches(&net("10.9.0.0/16")));
        let v6: PrefixRule = "fd00:244::/48 le 64".parse().expect("rule");
        assert!(v6.matches(&net("fd00:244:0:1::/64")));
        assert!(!v6.matches(&net("10.0.0.0/8")), "other family");
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/8 le 4",
            "10.0.0.0/8 ge 33",
            "10/8",
            "10.0.0.0/8 le",
        ] {
            assert!(bad.parse::<PrefixRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn communities_parse_and_print() {
        let c: Community = "65000:100".parse().expect("community");
        assert_eq!(c, Community(0xFDE8_0064));
        assert_eq!(c.to_string(), "65000:100");
        assert_eq!("no-export".parse::<Community>(), Ok(Community::NO_EXPORT));
        assert_eq!("BLACKHOLE".parse::<Community>(), Ok(Community::BLACKHOLE));
        assert!("65536:1".parse::<Community>().is_err());
        assert!(may_advertise(&[c], true));
        assert!(!may_advertise(&[Community::NO_EXPORT], true));
        assert!(may_advertise(&[Community::NO_EXPORT], false));
        assert!(!may_advertise(&[Community::NO_ADVERTISE], false));
    }

    #[test]
    fn ebgp_without_policy_accepts_nothing_and_policies_filter() {
        let p = net("10.244.1.0/24");
        let facts = RouteFacts {
            prefix: &p,
            communities: &[],
        };
        assert!(matches!(decide(None, true, facts), Verdict::Reject(_)));
        assert!(matches!(decide(None, false, facts), Verdict::Accept { .. }));
        let policy = Policy {
            allowed: Some(vec!["10.244.0.0/16 le 24".parse().expect("rule")]),
            local_pref: Some(200),
            required_communities: vec!["65000:1".parse().expect("c")],
            ..Policy::default()
        };
        assert_eq!(
            decide(Some(&policy), true, facts),
            Verdict::Reject("a required community is missing")
        );
        let tagged = [Community(0xFDE8_0001)];
        let ok = decide(
            Some(&policy),
            true,
            RouteFacts {
                prefix: &p,
                communities: &tagged,
            },
        );
        assert_eq!(
            ok,
            Verdict::Accept {
                local_pref: Some(200),
                add_communities: vec![]
            }
        );
        let outside = net("10.245.0.0/24");
        assert_eq!(
            policy.judge(RouteFacts {
                prefix: &outside,
                communities: &tagged
            }),
            Verdict::Reject("not in the allowed prefixes")
        );
    }
}
