//! The table as data: chains, maps and rules built from [`Service`]s, pure
//! and printable in nft's own syntax (what `nft list table inet routerd`
//! shows, near enough to compare by eye), so the rule set is unit-tested
//! without a kernel and the same value is what [`crate::Nft::apply`] writes.

use std::fmt;
use std::net::IpAddr;

use crate::intent::{L4, NoBackend, Selection, Service};

/// The table's name (family `inet`: one table serves IPv4 and IPv6).
pub const TABLE: &str = "routerd";

/// Where a chain hooks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Before routing: DNAT of forwarded and local-bound traffic.
    Prerouting,
    /// Locally generated traffic: DNAT of the router's own connections.
    Output,
    /// Local delivery: what reaches the VIP without being DNATed.
    Input,
    /// After routing: hairpin masquerade.
    Postrouting,
}

/// A base chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Its name.
    pub name: &'static str,
    /// Its hook.
    pub hook: Hook,
    /// `nat` or `filter`.
    pub nat: bool,
    /// Priority (nft's dstnat is -100, filter 0, srcnat 100).
    pub priority: i32,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// Address family of a match or NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

/// One condition of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `meta nfproto ipv4|ipv6`.
    NfProto(Family),
    /// `ip daddr A` / `ip6 daddr A`.
    Daddr(IpAddr),
    /// `fib daddr type local`: the destination is an address of this node
    /// now. Rules are installed on every node with the service; this makes
    /// them act only where the VIP is held.
    DaddrLocal,
    /// `meta l4proto tcp|udp`.
    L4Proto(L4),
    /// `th dport P` (after an l4proto match).
    Dport(u16),
    /// `ct original ip daddr A`: the connection was opened to A.
    CtOriginalDaddr(IpAddr),
    /// `ct original proto-dst P`.
    CtOriginalDport(u16),
    /// `oifname "x"`.
    OifName(String),
    /// `ct state new`: the first packet of a connection.
    CtStateNew,
}

/// How a DNAT picks its slot in a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picker {
    /// `jhash ip saddr mod N seed S`.
    SourceHash {
        /// The hash seed.
        seed: u32,
    },
    /// `numgen random mod N`.
    Random,
}

/// What a rule does once it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `dnat ip to A:P`.
    Dnat(IpAddr, u16),
    /// `dnat ip to <picker> mod N map { 0 : A . P, ... }`: slot `i` is
    /// `slots[i]`. The map is anonymous, bound to the rule: it comes and goes
    /// with it, so a re-render never has a stale map to clean up.
    DnatMap {
        /// Family of the addresses.
        family: Family,
        /// Slot picker.
        picker: Picker,
        /// The slots.
        slots: Vec<(IpAddr, u16)>,
    },
    /// `reject with tcp reset` (tcp) or `reject with icmpx port-unreachable`.
    Reject(L4),
    /// `drop`.
    Drop,
    /// `masquerade`.
    Masquerade,
}

/// A rule: every match, then the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Conditions, all of which must hold.
    pub matches: Vec<Match>,
    /// The action.
    pub action: Action,
    /// Shown by `nft list` (the resource the rule serves).
    pub comment: String,
}

/// The whole `inet routerd` table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Base chains.
    pub chains: Vec<Chain>,
}

impl Table {
    /// A table with nothing in it is not installed at all.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }
}

/// Chain names.
pub const DNAT: &str = "ingress-dnat";
/// The output-hook twin of [`DNAT`].
pub const DNAT_LOCAL: &str = "ingress-dnat-local";
/// Refusals when no backend is eligible.
pub const REFUSE: &str = "ingress-refuse";
/// Hairpin masquerade.
pub const HAIRPIN: &str = "ingress-hairpin";

/// The table for `services`.
pub fn render(services: &[Service]) -> Table {
    let mut dnat = Vec::new();
    let mut refuse = Vec::new();
    let mut hairpin = Vec::new();
    for s in services {
        let family = Family::of(&s.address);
        let comment = format!("IngressService/{}", s.name);
        let to_vip = vec![
            Match::NfProto(family),
            Match::Daddr(s.address),
            Match::DaddrLocal,
            Match::L4Proto(s.protocol),
            Match::Dport(s.port),
        ];
        let slots = s.slots();
        let action = match (s.selection, s.backends.first()) {
            (_, None) => None,
            (Selection::Failover, Some(first)) => Some(Action::Dnat(first.address, first.port)),
            // One slot needs no map.
            (_, Some(_)) if slots.len() == 1 => Some(Action::Dnat(slots[0].0, slots[0].1)),
            (_, Some(_)) if slots.is_empty() => None,
            (selection, Some(_)) => {
                let picker = if selection == Selection::SourceHash {
                    Picker::SourceHash { seed: s.seed() }
                } else {
                    Picker::Random
                };
                Some(Action::DnatMap {
                    family,
                    picker,
                    slots: slots.clone(),
                })
            }
        };
        if let Some(action) = action {
            dnat.push(Rule {
                matches: to_vip.clone(),
                action,
                comment: comment.clone(),
            });
        }
        // Whatever was not DNATed is delivered locally: with backends that
        // happens only to a connection opened between two renders; without
        // any, to every new one. Either way it is refused here rather than
        // left to whatever listens on the router itself. `ct state new`
        // says so, and has a second job: a ct expression keeps conntrack
        // enabled in the namespace. Without one, a table whose nat chains
        // are empty (no backend left) would let the kernel switch conntrack
        // off, and every established DNATed connection would lose its
        // translation and be reset here.
        refuse.push(Rule {
            matches: vec![
                Match::NfProto(family),
                Match::Daddr(s.address),
                Match::L4Proto(s.protocol),
                Match::Dport(s.port),
                Match::CtStateNew,
            ],
            action: match s.no_backend {
                NoBackend::Reject => Action::Reject(s.protocol),
                NoBackend::Drop => Action::Drop,
            },
            comment: comment.clone(),
        });
        if let Some(h) = &s.hairpin {
            let base = vec![
                Match::NfProto(family),
                Match::CtOriginalDaddr(s.address),
                Match::L4Proto(s.protocol),
                Match::CtOriginalDport(s.port),
            ];
            if h.interfaces.is_empty() {
                hairpin.push(Rule {
                    matches: base.clone(),
                    action: Action::Masquerade,
                    comment: comment.clone(),
                });
            }
            for ifname in &h.interfaces {
                let mut matches = base.clone();
                matches.push(Match::OifName(ifname.clone()));
                hairpin.push(Rule {
                    matches,
                    action: Action::Masquerade,
                    comment: comment.clone(),
                });
            }
        }
    }
    if services.is_empty() {
        return Table::default();
    }
    // Every chain, even empty: deleting a nat base chain can drop the NAT
    // bindings of established connections (the kernel cleans them up when
    // a family's last nat hook goes), and a drain must never do that.
    let chains = vec![
        Chain {
            name: DNAT,
            hook: Hook::Prerouting,
            nat: true,
            priority: -100,
            rules: dnat.clone(),
        },
        Chain {
            name: DNAT_LOCAL,
            hook: Hook::Output,
            nat: true,
            priority: -100,
            rules: dnat,
        },
        Chain {
            name: REFUSE,
            hook: Hook::Input,
            nat: false,
            priority: 0,
            rules: refuse,
        },
        Chain {
            name: HAIRPIN,
            hook: Hook::Postrouting,
            nat: true,
            priority: 100,
            rules: hairpin,
        },
    ];
    Table { chains }
}

fn endpoint(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Match::NfProto(Family::V4) => f.write_str("meta nfproto ipv4"),
            Match::NfProto(Family::V6) => f.write_str("meta nfproto ipv6"),
            Match::Daddr(a) => write!(f, "{} daddr {a}", Family::of(a).nft()),
            Match::DaddrLocal => f.write_str("fib daddr type local"),
            Match::L4Proto(p) => write!(f, "meta l4proto {}", p.name()),
            Match::Dport(p) => write!(f, "th dport {p}"),
            Match::CtOriginalDaddr(a) => {
                write!(f, "ct original {} daddr {a}", Family::of(a).nft())
            }
            Match::CtOriginalDport(p) => write!(f, "ct original proto-dst {p}"),
            Match::OifName(n) => write!(f, "oifname \"{n}\""),
            Match::CtStateNew => f.write_str("ct state new"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Dnat(a, p) => write!(f, "dnat {} to {}", Family::of(a).nft(), endpoint(a, *p)),
            Action::DnatMap {
                family,
                picker,
                slots,
            } => {
                let n = slots.len();
                let pick = match picker {
                    Picker::SourceHash { seed } => {
                        format!("jhash {} saddr mod {n} seed {seed:#x}", family.nft())
                    }
                    Picker::Random => format!("numgen random mod {n}"),
                };
                let entries: Vec<String> = slots
                    .iter()
                    .enumerate()
                    .map(|(i, (a, p))| format!("{i} : {a} . {p}"))
                    .collect();
                write!(
                    f,
                    "dnat {} to {pick} map {{ {} }}",
                    family.nft(),
                    entries.join(", ")
                )
            }
            Action::Reject(L4::Tcp) => f.write_str("reject with tcp reset"),
            Action::Reject(L4::Udp) => f.write_str("reject with icmpx port-unreachable"),
            Action::Drop => f.write_str("drop"),
            Action::Masquerade => f.write_str("masquerade"),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.matches {
            write!(f, "{m} ")?;
        }
        write!(f, "{} comment \"{}\"", self.action, self.comment)
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "table inet {TABLE} {{")?;
        for c in &self.chains {
            let hook = match c.hook {
                Hook::Prerouting => "prerouting",
                Hook::Output => "output",
                Hook::Input => "input",
                Hook::Postrouting => "postrouting",
            };
            writeln!(f, "\tchain {} {{", c.name)?;
            writeln!(
                f,
                "\t\ttype {} hook {hook} priority {}; policy accept;",
                if c.nat { "nat" } else { "filter" },
                c.priority
            )?;
            for r in &c.rules {
                writeln!(f, "\t\t{r}")?;
            }
            writeln!(f, "\t}}")?;
        }
        writeln!(f, "}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{Backend, Hairpin};

    fn backend(name: &str, addr: &str, port: u16, weight: u32) -> Backend {
        Backend {
            name: name.into(),
            address: addr.parse().expect("address"),
            port,
            weight,
        }
    }

    fn service(selection: Selection, backends: Vec<Backend>) -> Service {
        Service {
            name: "web".into(),
            address: "192.0.2.10".parse().expect("vip"),
            protocol: L4::Tcp,
            port: 80,
            selection,
            backends,
            no_backend: NoBackend::Reject,
            hairpin: None,
        }
    }

    fn rules(table: &Table, chain: &str) -> Vec<String> {
        table
            .chains
            .iter()
            .find(|c| c.name == chain)
            .map(|c| c.rules.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn failover_sends_everything_to_the_first_eligible_backend() {
        let t = render(&[service(
            Selection::Failover,
            vec![
                backend("a", "10.0.1.1", 8080, 1),
                backend("b", "10.0.2.1", 8081, 5),
            ],
        )]);
        let want = "meta nfproto ipv4 ip daddr 192.0.2.10 fib daddr type local meta l4proto tcp th dport 80 dnat ip to 10.0.1.1:8080 comment \"IngressService/web\"";
        assert_eq!(rules(&t, DNAT), [want]);
        assert_eq!(
            rules(&t, DNAT_LOCAL),
            [want],
            "the router's own connections too"
        );
        assert_eq!(
            rules(&t, REFUSE),
            [
                "meta nfproto ipv4 ip daddr 192.0.2.10 meta l4proto tcp th dport 80 ct state new reject with tcp reset comment \"IngressService/web\""
            ]
        );
        assert!(
            rules(&t, HAIRPIN).is_empty(),
            "kept, empty, without hairpin"
        );
    }

    #[test]
    fn source_hash_maps_slots_by_weight_with_a_stable_seed() {
        let s = service(
            Selection::SourceHash,
            vec![
                backend("a", "10.0.1.1", 80, 2),
                backend("b", "10.0.2.1", 80, 1),
                backend("never", "10.0.3.1", 80, 0),
            ],
        );
        let t = render(std::slice::from_ref(&s));
        let seed = s.seed();
        assert_eq!(
            rules(&t, DNAT),
            [format!(
                "meta nfproto ipv4 ip daddr 192.0.2.10 fib daddr type local meta l4proto tcp th dport 80 dnat ip to jhash ip saddr mod 3 seed {seed:#x} map {{ 0 : 10.0.1.1 . 80, 1 : 10.0.1.1 . 80, 2 : 10.0.2.1 . 80 }} comment \"IngressService/web\""
            )]
        );
        // The seed depends on the name only: every node and every render agree.
        let mut other = s.clone();
        other.backends.pop();
        assert_eq!(other.seed(), seed);
        other.name = "api".into();
        assert_ne!(other.seed(), seed);
    }

    #[test]
    fn random_uses_numgen_and_ipv6_brackets_single_slots() {
        let mut s = service(
            Selection::Random,
            vec![
                backend("a", "2001:db8:1::1", 80, 1),
                backend("b", "2001:db8:2::1", 8080, 1),
            ],
        );
        s.address = "2001:db8::10".parse().expect("vip");
        s.protocol = L4::Udp;
        s.no_backend = NoBackend::Drop;
        let t = render(std::slice::from_ref(&s));
        assert_eq!(
            rules(&t, DNAT),
            [
                "meta nfproto ipv6 ip6 daddr 2001:db8::10 fib daddr type local meta l4proto udp th dport 80 dnat ip6 to numgen random mod 2 map { 0 : 2001:db8:1::1 . 80, 1 : 2001:db8:2::1 . 8080 } comment \"IngressService/web\""
            ]
        );
        assert!(rules(&t, REFUSE)[0].contains("meta l4proto udp th dport 80 ct state new drop"));
        // One eligible backend: a plain DNAT, no map.
        s.backends.pop();
        let t = render(&[s]);
        assert!(rules(&t, DNAT)[0].contains("dnat ip6 to [2001:db8:1::1]:80 comment"));
    }

    #[test]
    fn no_eligible_backend_leaves_only_the_refusal() {
        let t = render(&[service(Selection::SourceHash, vec![])]);
        assert!(rules(&t, DNAT).is_empty());
        assert_eq!(rules(&t, REFUSE).len(), 1);
        assert!(!t.is_empty());
        let mut udp = service(Selection::Failover, vec![]);
        udp.protocol = L4::Udp;
        assert!(rules(&render(&[udp]), REFUSE)[0].contains("reject with icmpx port-unreachable"));
    }

    #[test]
    fn hairpin_masquerades_connections_to_the_service() {
        let mut s = service(Selection::Failover, vec![backend("a", "10.0.1.1", 80, 1)]);
        s.hairpin = Some(Hairpin {
            interfaces: vec!["lan0".into()],
        });
        let t = render(&[s]);
        assert_eq!(
            rules(&t, HAIRPIN),
            [
                "meta nfproto ipv4 ct original ip daddr 192.0.2.10 meta l4proto tcp ct original proto-dst 80 oifname \"lan0\" masquerade comment \"IngressService/web\""
            ]
        );
    }

    #[test]
    fn no_services_no_table() {
        assert!(render(&[]).is_empty());
        let text = render(&[service(Selection::Failover, vec![])]).to_string();
        assert!(
            text.starts_with("table inet routerd {\n\tchain ingress-dnat {"),
            "{text}"
        );
        assert!(
            text.contains("type nat hook prerouting priority -100; policy accept;"),
            "{text}"
        );
    }
}
