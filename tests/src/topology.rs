//! Links between test namespaces: veth pairs and bridges, always created inside
//! the namespaces, never in the machine's own.

use crate::Netns;

/// Longest interface name the kernel accepts (IFNAMSIZ 16 including the NUL).
pub const IFNAMSIZ_MAX: usize = 15;

fn check_ifname(name: &str) {
    if name.is_empty() || name.len() > IFNAMSIZ_MAX {
        panic!(
            "interface name {name:?} is {} bytes: Linux allows 1 to {IFNAMSIZ_MAX}; pass a shorter name",
            name.len()
        );
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        panic!("interface name {name:?} contains '/', ':' or whitespace");
    }
}

/// Creates a veth pair `a_if` (in `a`) ↔ `b_if` (in `b`) and sets both ends up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    check_ifname(a_if);
    check_ifname(b_if);
    // Created inside `a` with the peer placed straight into `b`: neither end ever
    // exists in the root namespace.
    a.ip(&format!(
        "link add {a_if} type veth peer name {b_if} netns {}",
        b.name()
    ));
    a.ip(&format!("link set {a_if} up"));
    b.ip(&format!("link set {b_if} up"));
}

/// Creates bridge `name` in `ns` (multicast snooping off, so VRRP and ND multicast
/// always flood; no forward delay), enslaves `ports` and sets everything up.
pub fn bridge(ns: &Netns, name: &str, ports: &[&str]) {
    check_ifname(name);
    ns.ip(&format!(
        "link add {name} type bridge mcast_snooping 0 forward_delay 0"
    ));
    ns.ip(&format!("link set {name} up"));
    for port in ports {
        ns.ip(&format!("link set {port} master {name}"));
        ns.ip(&format!("link set {port} up"));
    }
}
