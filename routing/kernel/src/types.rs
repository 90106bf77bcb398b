//! What the kernel holds (observed) and what routerd's config wants (intents).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The main routing table (`RT_TABLE_MAIN`), where intents go unless they say otherwise.
pub const MAIN_TABLE: u32 = 254;
/// The local table (`RT_TABLE_LOCAL`): the kernel's own, never observed or written.
pub const LOCAL_TABLE: u32 = 255;

/// A snapshot of the kernel's links, addresses and routes in one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Every link.
    pub links: Vec<Link>,
    /// Every IPv4 and IPv6 address.
    pub addresses: Vec<Address>,
    /// IPv4 and IPv6 routes of every table but `local`, without cached clones.
    pub routes: Vec<Route>,
}

impl Observed {
    /// The link called `ifname`, if it exists.
    pub fn link(&self, ifname: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == ifname)
    }
}

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// Administratively up (IFF_UP).
    pub admin_up: bool,
    /// Operationally up: carrier and operstate up or unknown (IFF_RUNNING).
    pub oper_up: bool,
    /// MTU in bytes.
    pub mtu: u32,
    /// Link-layer address as colon-separated hex, if the link has one.
    pub mac: Option<String>,
    /// Link kind (`veth`, `bridge`, `vlan`, …) for virtual links.
    pub kind: Option<String>,
}

/// Flags of an address that matter to a router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressFlags {
    /// Duplicate address detection is still running (IPv6).
    pub tentative: bool,
    /// Preferred lifetime expired (IPv6).
    pub deprecated: bool,
    /// No lifetime: configured, not learned.
    pub permanent: bool,
    /// Duplicate address detection failed (IPv6).
    pub dadfailed: bool,
    /// A secondary IPv4 address: another address of its subnet came first (the
    /// primary), and removing that one takes this one with it.
    pub secondary: bool,
}

/// An IP address on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Index of the link holding it.
    pub ifindex: u32,
    /// Name of the link holding it.
    pub ifname: String,
    /// The address itself (IFA_LOCAL, else IFA_ADDRESS).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope: `global`, `site`, `link`, `host`, `nowhere` or a number.
    pub scope: String,
    /// State flags.
    pub flags: AddressFlags,
    /// IFA_PROTO: who added it (routerd's addresses carry [`crate::ROUTERD_PROTO`]); 0 if absent.
    pub protocol: u8,
}

/// The type of a route, as far as routerd distinguishes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RouteKind {
    /// Forward to a gateway or out of a device.
    Unicast,
    /// Drop silently.
    Blackhole,
    /// Drop with ICMP unreachable.
    Unreachable,
    /// Drop with ICMP administratively prohibited.
    Prohibit,
    /// Deliver locally (local table).
    Local,
    /// Any other type (broadcast, multicast, throw, nat, …).
    Other,
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
            RouteKind::Local => "local",
            RouteKind::Other => "other",
        })
    }
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// Routing table id.
    pub table: u32,
    /// Destination prefix (`0.0.0.0/0` / `::/0` for a default route).
    pub destination: IpNet,
    /// Next-hop gateway, if any (none for multipath routes).
    pub gateway: Option<IpAddr>,
    /// Output interface index, if any.
    pub oif: Option<u32>,
    /// Output interface name, if any.
    pub ifname: Option<String>,
    /// Metric (priority); the kernel's defaults already applied.
    pub metric: u32,
    /// rtm_protocol: who added it (routerd's routes carry [`crate::ROUTERD_PROTO`]).
    pub protocol: u8,
    /// Route type.
    pub kind: RouteKind,
    /// Preferred source address, if set.
    pub pref_src: Option<IpAddr>,
}

/// Everything routerd's configuration wants from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Desired {
    /// Link settings.
    pub links: Vec<LinkIntent>,
    /// Addresses.
    pub addresses: Vec<AddressIntent>,
    /// Routes.
    pub routes: Vec<RouteIntent>,
    /// Sysctls.
    pub sysctls: Vec<SysctlIntent>,
}

/// Settings wanted for an existing link; links are never created or deleted here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkIntent {
    /// Resource that wants it, for display (e.g. `Interface/lan`).
    pub owner: String,
    /// Interface name.
    pub ifname: String,
    /// Wanted administrative state; `None` leaves it alone.
    pub admin_up: Option<bool>,
    /// Wanted MTU; `None` leaves it alone.
    pub mtu: Option<u32>,
}

/// An address wanted on a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressIntent {
    /// Resource that wants it, for display.
    pub owner: String,
    /// Interface name.
    pub ifname: String,
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Remove every other address of this family on the link (IPv6 link-local excepted).
    pub exclusive: bool,
}

impl AddressIntent {
    /// An intent for `net` (address with prefix length, e.g. `192.0.2.1/24`) on `ifname`.
    pub fn new(owner: &str, ifname: &str, net: IpNet, exclusive: bool) -> AddressIntent {
        AddressIntent {
            owner: owner.to_string(),
            ifname: ifname.to_string(),
            address: net.addr(),
            prefix_len: net.prefix_len(),
            exclusive,
        }
    }
}

/// A route wanted in a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteIntent {
    /// Resource that wants it, for display.
    pub owner: String,
    /// Destination prefix; host bits are ignored.
    pub destination: IpNet,
    /// Next-hop gateway (unicast only).
    pub gateway: Option<IpAddr>,
    /// Output interface (unicast only); without it the kernel picks one from the gateway.
    pub ifname: Option<String>,
    /// Metric; `None` means the kernel's default (IPv4 0, IPv6 1024).
    pub metric: Option<u32>,
    /// Unicast, blackhole, unreachable or prohibit.
    pub kind: RouteKind,
    /// Preferred source address.
    pub pref_src: Option<IpAddr>,
    /// Routing table id ([`MAIN_TABLE`] unless configured).
    pub table: u32,
}

impl RouteIntent {
    /// A unicast route in the main table with the kernel's default metric.
    pub fn unicast(
        owner: &str,
        destination: IpNet,
        gateway: Option<IpAddr>,
        ifname: Option<&str>,
    ) -> RouteIntent {
        RouteIntent {
            owner: owner.to_string(),
            destination,
            gateway,
            ifname: ifname.map(str::to_string),
            metric: None,
            kind: RouteKind::Unicast,
            pref_src: None,
            table: MAIN_TABLE,
        }
    }

    /// A blackhole route in the main table with the kernel's default metric.
    pub fn blackhole(owner: &str, destination: IpNet) -> RouteIntent {
        RouteIntent {
            kind: RouteKind::Blackhole,
            ..RouteIntent::unicast(owner, destination, None, None)
        }
    }
}

/// How an observed sysctl value is compared with the wanted one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SysctlCompare {
    /// Equal after normalising whitespace.
    Exact,
    /// Numerically at least the wanted value (e.g. buffer sizes someone raised further).
    AtLeast,
}

/// A sysctl value wanted in this network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SysctlIntent {
    /// Resource that wants it, for display.
    pub owner: String,
    /// Dotted (`net.ipv4.ip_forward`) or slash form (`net/ipv6/conf/eth0.100/forwarding`;
    /// needed when an interface name contains a dot).
    pub key: String,
    /// Wanted value.
    pub value: String,
    /// How to compare.
    pub compare: SysctlCompare,
    /// What the kernel reads back when it normalises the written value
    /// (e.g. a mask); compared instead of `value` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// A missing key is not an error (e.g. a module not loaded).
    pub optional: bool,
}

impl SysctlIntent {
    /// An exact, mandatory sysctl intent.
    pub fn exact(owner: &str, key: &str, value: &str) -> SysctlIntent {
        SysctlIntent {
            owner: owner.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            compare: SysctlCompare::Exact,
            expected: None,
            optional: false,
        }
    }
}

/// The metric the kernel gives a route that was added without one.
pub fn default_metric(destination: &IpNet) -> u32 {
    match destination {
        IpNet::V4(_) => 0,
        IpNet::V6(_) => 1024,
    }
}

/// Human name of a routing table.
pub(crate) fn table_name(table: u32) -> String {
    match table {
        MAIN_TABLE => "main".to_string(),
        LOCAL_TABLE => "local".to_string(),
        253 => "default".to_string(),
        t => t.to_string(),
    }
}
