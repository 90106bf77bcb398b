//! The DS-Lite softwire link against a real kernel. Where the kernel has
//! ip6tnl, the link is created, found unchanged, updated in place (a new
//! AFTR) and deleted; where it lacks ip6tnl (this test bench's kernel does),
//! the test proves the refusal is reported by name, and says so.

mod common;

use common::Lab;
use routerd_kernel::{Ip6TnlIntent, Kernel, TunnelChange};

fn intent(remote: &str, ifindex: u32) -> Ip6TnlIntent {
    Ip6TnlIntent {
        owner: "DSLiteTunnel/t".into(),
        name: "ds-t".into(),
        local: "2001:db8:1::2".parse().expect("ip"),
        remote: remote.parse().expect("ip"),
        link: Some(ifindex),
        encap_limit: None,
        mtu: 1460,
    }
}

/// Whether this kernel can make ip6tnl links at all (`ip link add` is the
/// independent judge).
fn kernel_has_ip6tnl(lab: &Lab) -> bool {
    lab.r
        .try_ip("link add probe6t type ip6tnl mode ipip6 local 2001:db8:1::2 remote 2001:db8::9")
        .map(|_| lab.r.ip("link del probe6t"))
        .is_ok()
}

#[test]
fn an_ip6tnl_softwire_is_created_kept_updated_and_deleted() {
    let lab = Lab::new("tnl");
    let ifindex: u32 = lab.r.ip_json("link show eth1")[0]["ifindex"]
        .as_u64()
        .and_then(|i| u32::try_from(i).ok())
        .expect("eth1 index");
    let supported = kernel_has_ip6tnl(&lab);
    lab.block(|| async move {
        let k = Kernel::connect().expect("netlink");
        let first = k.ensure_ip6tnl(&intent("2001:db8::9", ifindex)).await;
        if !supported {
            let e = first.expect_err("no ip6tnl in this kernel");
            assert!(
                e.to_string().contains("ip6tnl ds-t") && e.to_string().contains("Unknown device type"),
                "the refusal must name the link and the kernel's reason: {e}"
            );
            eprintln!(
                "ip6tnl: this kernel has no ip6tnl support ({e}); the request itself is checked by the unit test, the link's life cycle runs where the kernel has ip6tnl"
            );
            return;
        }
        assert_eq!(first.expect("created"), TunnelChange::Created);
        let again = k.ensure_ip6tnl(&intent("2001:db8::9", ifindex)).await;
        assert_eq!(again.expect("unchanged"), TunnelChange::Unchanged);
        let moved = k.ensure_ip6tnl(&intent("2001:db8::a", ifindex)).await;
        assert_eq!(moved.expect("updated"), TunnelChange::Updated);
        let state = k.tunnel("ds-t").await.expect("dump").expect("exists");
        assert_eq!(state.remote, Some("2001:db8::a".parse().expect("ip")));
        assert!(state.up && state.ignore_encap_limit);
        assert!(k.delete_ip6tnl("ds-t").await.expect("deleted"));
        assert!(!k.delete_ip6tnl("ds-t").await.expect("already gone"));
    });
    if supported {
        let link = lab.r.try_ip("link show ds-t");
        assert!(link.is_err(), "the link is gone: {link:?}");
    }
}
