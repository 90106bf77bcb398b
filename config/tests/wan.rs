//! The WAN and LAN kinds of a residential or branch router: a valid
//! DHCPv6-PD + RA + DS-Lite config loads with its defaults; mistakes are
//! named with their position and field.

use routerd_config::kinds::{
    DHCPv4Client, DHCPv6PrefixDelegation, DNSForwarder, DSLiteTunnel, IPv6DelegatedAddress,
    IPv6RouterAdvertisement,
};
use routerd_config::load_str;

const HEADER: &str = r#"apiVersion: routerd.net/v1alpha1
kind: Router
metadata: {name: home}
spec:
  resources:
  - apiVersion: net.routerd.net/v1alpha1
    kind: Interface
    metadata: {name: wan}
    spec: {ifname: wan0, managed: false}
  - apiVersion: net.routerd.net/v1alpha1
    kind: Interface
    metadata: {name: lan}
    spec: {ifname: lan0, managed: true}
"#;

#[test]
fn a_home_router_with_pd_ra_dns_and_dslite_loads() {
    let text = format!(
        "{HEADER}{}",
        r#"  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6PrefixDelegation
    metadata: {name: wan-pd}
    spec: {interface: wan, profile: ntt-hgw-lan-pd}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6Information
    metadata: {name: wan-info}
    spec: {interface: wan}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv4Client
    metadata: {name: wan-v4}
    spec: {interface: wan, hostname: router, routeMetric: 100}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv6DelegatedAddress
    metadata: {name: lan-v6}
    spec: {prefixDelegation: wan-pd, interface: lan, subnetID: "1", addressSuffix: "::1", announce: true}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv6RouterAdvertisement
    metadata: {name: lan-ra}
    spec:
      interface: lan
      prefixFrom: {resource: IPv6DelegatedAddress/lan-v6, field: address}
      rdnssFrom: [{resource: IPv6DelegatedAddress/lan-v6, field: address}]
      dnssl: [home.example]
      oFlag: true
      mtu: 1500
      maxInterval: 30s
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6Server
    metadata: {name: lan-dhcpv6}
    spec: {interface: lan, delegatedAddress: lan-v6, domainSearch: [home.example]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSUpstream
    metadata: {name: isp}
    spec:
      protocol: udp
      addressFrom: [{resource: DHCPv6Information/wan-info, field: dnsServers}]
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSForwarder
    metadata: {name: aftr}
    spec: {match: [transix.jp], upstreams: [DNSUpstream/isp]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DSLiteTunnel
    metadata: {name: transix}
    spec:
      interface: wan
      tunnelName: ds-transix
      aftrFQDN: gw.transix.jp
      localAddressSource: delegatedAddress
      localDelegatedAddress: lan-v6
      localAddressSuffix: "::100"
"#
    );
    let loaded = load_str("home.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let c = &loaded.config;
    let pd = c.spec_of::<DHCPv6PrefixDelegation>("wan-pd").expect("pd");
    assert_eq!(pd.prefix_hint(), Some(60), "the NTT profiles hint /60");
    let da = c.spec_of::<IPv6DelegatedAddress>("lan-v6").expect("da");
    assert_eq!(da.subnet(), Some(1));
    assert_eq!(da.prefix_len(), 64);
    let ra = c.spec_of::<IPv6RouterAdvertisement>("lan-ra").expect("ra");
    assert_eq!(ra.router_lifetime().as_secs(), 90, "3 × maxInterval");
    assert_eq!(ra.min_interval().as_millis(), 9900);
    let v4 = c.spec_of::<DHCPv4Client>("wan-v4").expect("v4");
    assert_eq!(v4.route_metric, Some(100));
    let fwd = c.spec_of::<DNSForwarder>("aftr").expect("fwd");
    assert_eq!(fwd.upstreams[0].to_string(), "DNSUpstream/isp");
    let ds = c.spec_of::<DSLiteTunnel>("transix").expect("ds");
    assert_eq!(ds.ifname("transix"), "ds-transix");
    assert_eq!((ds.mtu(1500), ds.encap_limit()), (1452, Some(4)));
}

#[test]
fn wan_mistakes_are_named_with_their_field() {
    let text = format!(
        "{HEADER}{}",
        r#"  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6PrefixDelegation
    metadata: {name: wan-pd}
    spec: {interface: wan, clientDUID: "xyz", prefixLength: 0}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6PrefixDelegation
    metadata: {name: wan-pd2}
    spec: {interface: wan}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv6DelegatedAddress
    metadata: {name: lan-v6}
    spec: {prefixDelegation: wan-pdd, interface: lan, subnetID: "zz", addressSuffix: "2001:db8::1"}
  - apiVersion: net.routerd.net/v1alpha1
    kind: IPv6RouterAdvertisement
    metadata: {name: lan-ra}
    spec: {interface: lan, prefix: 2001:db8::/64, prefixFrom: {resource: IPv6DelegatedAddress/lan-v6}, mtu: 1000, preferredLifetime: 2h, validLifetime: 1h}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSUpstream
    metadata: {name: up}
    spec: {protocol: udp, address: dns.example, path: /q}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSForwarder
    metadata: {name: f}
    spec: {match: ["bad..name"], upstreams: [DNSForwarder/f]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DSLiteTunnel
    metadata: {name: ds}
    spec: {interface: wan, aftrIPv6: "2001:db8::1", aftrFQDN: aftr.example, localAddressSource: delegatedAddress, encapsulationLimit: lots}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6Server
    metadata: {name: s}
    spec: {interface: lan, mode: stateful}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv6Server
    metadata: {name: s2}
    spec: {interface: lan}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSUpstream
    metadata: {name: dot-ip}
    spec: {protocol: dot, address: 192.0.2.53}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSForwarder
    metadata: {name: f2}
    spec: {match: ["BAD..name."], upstreams: [DNSUpstream/dot-ip]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSForwarder
    metadata: {name: f3}
    spec: {match: [example.net], upstreams: [DNSUpstream/dot-ip]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DNSForwarder
    metadata: {name: f4}
    spec: {match: [Example.NET.], upstreams: [DNSUpstream/dot-ip]}
  - apiVersion: net.routerd.net/v1alpha1
    kind: DHCPv4Client
    metadata: {name: v4}
    spec: {interface: wan, clientID: "x", requestedAddress: 240.0.0.1, hostname: "a..b"}
"#
    );
    let err = load_str("f.yaml", &text).unwrap_err().to_string();
    for needle in [
        "f.yaml:17:40: DHCPv6PrefixDelegation/wan-pd: spec.clientDUID: `xyz` is not a DUID",
        "DHCPv6PrefixDelegation/wan-pd: spec.prefixLength: a prefix length of 1-128",
        "DHCPv6PrefixDelegation/wan-pd2: spec.interface: interface `wan` already has a prefix delegation, DHCPv6PrefixDelegation/wan-pd",
        "IPv6DelegatedAddress/lan-v6: spec.prefixDelegation: `wan-pdd` names no DHCPv6PrefixDelegation resource; did you mean `wan-pd`?",
        "IPv6DelegatedAddress/lan-v6: spec.subnetID: `zz` is not a subnet number",
        "IPv6DelegatedAddress/lan-v6: spec.addressSuffix: `2001:db8::1` is not an interface identifier",
        "IPv6RouterAdvertisement/lan-ra: spec.prefixFrom: give either prefix or prefixFrom, not both",
        "IPv6RouterAdvertisement/lan-ra: spec.mtu: an IPv6 link MTU of 1280-65535",
        "IPv6RouterAdvertisement/lan-ra: spec.preferredLifetime: the preferred lifetime cannot exceed the valid lifetime",
        "DNSUpstream/up: spec.address: `dns.example` is not an IP address",
        "DNSUpstream/up: spec.path: path is for doh upstreams",
        "DNSForwarder/f: spec.match[0]: `bad..name` is not a domain name",
        "DNSForwarder/f: spec.upstreams[0]: `DNSForwarder/f` is not a DNSUpstream",
        "DSLiteTunnel/ds: spec.aftrFQDN: give one of aftrIPv6, aftrFQDN and aftrFrom",
        "DSLiteTunnel/ds: spec.localDelegatedAddress: localAddressSource delegatedAddress needs localDelegatedAddress",
        "DSLiteTunnel/ds: spec.encapsulationLimit: `lots` is not an encapsulation limit",
        "DHCPv6Server/s: spec.mode: stateful DHCPv6 (address leases) is not implemented by this build",
        "DHCPv6Server/s2: spec.interface: interface `lan` already has a DHCPv6 server, DHCPv6Server/s",
        "DNSUpstream/dot-ip: spec.tlsName: a dot or doh upstream given by IP address needs tlsName",
        "DNSForwarder/f4: spec.match[0]: `Example.NET.` is already forwarded by DNSForwarder/f3",
        "DHCPv4Client/v4: spec.clientID: a client identifier of 2-255 bytes",
        "DHCPv4Client/v4: spec.requestedAddress: 240.0.0.1 cannot be leased to an interface",
        "DHCPv4Client/v4: spec.hostname: `a..b` is not a host name",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
}
