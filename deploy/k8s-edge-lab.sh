#!/usr/bin/env bash
# routerd's dual-stack Kubernetes edge lab, in network namespaces.
#
# Three "node" namespaces speak BGP the way a cluster's speaker does
# (MetalLB/Calico/Cilium style): n1 and n2 run BIRD, n3 runs GoBGP; each
# advertises its pod CIDR and the LoadBalancer addresses it serves (/32 and
# /128, every node, so the routers spread them with ECMP) over IPv4 and IPv6
# sessions to a routerd pair. The pair (r1, r2, and a witness w in Raft)
# gives the nodes VRRPv3 gateway VIPs for IPv4 and IPv6, accepts the nodes as
# dynamic BGP neighbours from the LAN prefixes, and announces the service and
# pod aggregates upstream to FRR only from the router that owns the gateway
# in committed Raft state. A client behind FRR reaches a LoadBalancer address.
#
#   sudo deploy/k8s-edge-lab.sh [up]     install, build, create, start, prove
#   sudo deploy/k8s-edge-lab.sh status   sessions, routes, who announces
#   sudo deploy/k8s-edge-lab.sh failover kill the active router (every process -9,
#                                        links down) while the client keeps probing
#   sudo deploy/k8s-edge-lab.sh heal     bring the killed router back
#   sudo deploy/k8s-edge-lab.sh down     stop everything, delete the namespaces
#
#            client 203.0.113.2, 2001:db8:c::2
#              |
#            up (FRR, AS 65000) 10.0.0.1, 2001:db8:f::1         uplink (upbr)
#           /                      \
#   r1 10.0.0.2 (AS 64512)      r2 10.0.0.3 (AS 64512)   + w (witness) on clbr
#   lan0 192.168.70.2           lan0 192.168.70.3        VIPs 192.168.70.1,
#           \                      /                       fd00:70::1, fe80::70:1
#            lanbr: n1 .21 (BIRD), n2 .22 (BIRD), n3 .23 (GoBGP), AS 64513
#            pods 10.244.N.0/24, fd00:244:0:N::/64; LoadBalancer 198.51.100.10,
#            2001:db8:100::10 (a web server on every node answers with its name)
#
# K8S_LAB_PREBUILT=1 skips installing and building (RD_BIN_DIR names the
# binaries, e.g. a debug build).
#
# Nothing touches the machine's own network namespace: every link, bridge,
# address and process lives in the k8slab-* namespaces.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PFX="${K8S_LAB_PREFIX:-k8slab}"
RUN="/run/routerd-$PFX"
BIN="${RD_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}"
CL_PORT=7946

LB4=198.51.100.10
LB6=2001:db8:100::10
VIP4=192.168.70.1
VIP6=fd00:70::1
VIP6_LL=fe80::70:1
UP4=10.0.0.1
UP6=2001:db8:f::1
CLIENT4=203.0.113.2
CLIENT6=2001:db8:c::2
ROUTERS=(r1 r2)
NODES=(n1 n2 n3)

say() { printf '\n== %s\n' "$*"; }
die() {
  echo "k8s-edge-lab: ERROR: $*" >&2
  exit 1
}
ns() { echo "$PFX-$1"; }
all_ns() {
  local n
  for n in sw up client w "${ROUTERS[@]}" "${NODES[@]}"; do ns "$n"; done
}
idx() {
  case "$1" in
    r1) echo 2 ;; r2) echo 3 ;; w) echo 4 ;;
    n1) echo 21 ;; n2) echo 22 ;; n3) echo 23 ;;
    *) return 1 ;;
  esac
}
need_root() {
  [ "$(id -u)" -eq 0 ] || die "the lab creates network namespaces and needs root; run: sudo $0 $*"
}

# Waits up to $1 tenths of a second for `cmd...` to succeed.
wait_for() {
  local tenths="$1" i
  shift
  for ((i = 0; i < tenths; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

find_cargo() {
  command -v cargo >/dev/null 2>&1 && return 0
  local d
  for d in "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
    if [ -x "$d/cargo" ]; then
      PATH="$d:$PATH"
      export PATH
      return 0
    fi
  done
  die "cargo not found (install a Rust toolchain for root, e.g. with rustup)"
}

build() {
  say "building routerd, routerctl, routerd-vrrp, routerd-bgp (release)"
  find_cargo
  (cd "$REPO" && cargo build --release --locked -p routerd-cli -p routerd-vrrp \
    -p routerd-healthcheck -p routerd-bgp)
  local b
  for b in routerd routerctl routerd-vrrp routerd-bgp routerd-healthcheck; do
    [ -x "$BIN/$b" ] || die "$BIN/$b was not built"
  done
}

# ----------------------------------------------------------------- topology

mk_ns() {
  local n="$1"
  mkdir -p "/etc/netns/$n"
  [ -e "/etc/netns/$n/resolv.conf" ] || printf '# routerd k8s edge lab %s: no DNS\n' "$n" >"/etc/netns/$n/resolv.conf"
  [ -e "/run/netns/$n" ] || ip netns add "$n"
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.disable_ipv6=0 \
    net.ipv6.conf.default.disable_ipv6=0
}

bridge() {
  local sw br="$1"
  sw="$(ns sw)"
  ip -n "$sw" link add "$br" type bridge 2>/dev/null || true
  ip -n "$sw" link set "$br" type bridge mcast_snooping 0 stp_state 0 forward_delay 0
  ip -n "$sw" link set "$br" up
}

# port BRIDGE SWPORT NODE IFNAME: a veth from the switch's bridge to NODE.
port() {
  local br="$1" p="$2" node="$3" ifname="$4" sw
  sw="$(ns sw)"
  ip -n "$sw" link add "$p" type veth peer name "$ifname" netns "$(ns "$node")"
  ip -n "$sw" link set "$p" master "$br" up
  ip -n "$(ns "$node")" link set "$ifname" up
}

topology_up() {
  local n i s
  for s in $(all_ns); do mk_ns "$s"; done
  bridge lanbr
  bridge upbr
  bridge clbr
  # The client hangs off the upstream router directly.
  ip -n "$(ns up)" link add client0 type veth peer name eth0 netns "$(ns client)"
  ip -n "$(ns up)" link set client0 up
  ip -n "$(ns client)" link set eth0 up
  ip -n "$(ns up)" addr add 203.0.113.1/24 dev client0
  ip -n "$(ns up)" addr add 2001:db8:c::1/64 dev client0
  ip -n "$(ns client)" addr add "$CLIENT4/24" dev eth0
  ip -n "$(ns client)" addr add "$CLIENT6/64" dev eth0
  ip -n "$(ns client)" route add default via 203.0.113.1
  ip -n "$(ns client)" -6 route add default via 2001:db8:c::1

  port upbr up-up up up0
  ip -n "$(ns up)" addr add "$UP4/24" dev up0
  ip -n "$(ns up)" addr add "$UP6/64" dev up0
  ip netns exec "$(ns up)" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

  for n in "${ROUTERS[@]}"; do
    i="$(idx "$n")"
    port upbr "$n-up" "$n" up0
    port lanbr "$n-lan" "$n" lan0
    ip netns exec "$(ns "$n")" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
      net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1
  done
  for n in "${ROUTERS[@]}" w; do
    i="$(idx "$n")"
    port clbr "$n-cl" "$n" cl0
    ip -n "$(ns "$n")" addr add "10.255.0.$i/24" dev cl0
  done
  for n in "${NODES[@]}"; do
    i="$(idx "$n")"
    port lanbr "$n-lan" "$n" eth0
    ip -n "$(ns "$n")" addr add "192.168.70.$i/24" dev eth0
    ip -n "$(ns "$n")" addr add "fd00:70::$i/64" dev eth0
    # The gateway is the VIP: onlink, since nobody may hold it yet.
    ip -n "$(ns "$n")" route add default via "$VIP4" dev eth0 onlink
    ip -n "$(ns "$n")" -6 route add default via "$VIP6_LL" dev eth0
    # The LoadBalancer addresses this node serves (as kube-proxy/Cilium
    # would make it accept them).
    ip -n "$(ns "$n")" addr add "$LB4/32" dev lo
    ip -n "$(ns "$n")" addr add "$LB6/128" dev lo
  done
  mkdir -p "$RUN"
}

# ---------------------------------------------------------------- the peers

frr_up() {
  local d="$RUN/frr" v
  mkdir -p "$d"
  cat >"$d/bgpd.conf" <<EOF
frr defaults traditional
hostname upstream
log timestamp precision 3
router bgp 65000
 bgp router-id $UP4
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 bgp bestpath as-path multipath-relax
 neighbor 10.0.0.2 remote-as 64512
 neighbor 10.0.0.3 remote-as 64512
 neighbor 2001:db8:f::2 remote-as 64512
 neighbor 2001:db8:f::3 remote-as 64512
 address-family ipv4 unicast
  neighbor 10.0.0.2 activate
  neighbor 10.0.0.3 activate
  network 203.0.113.0/24
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:f::2 activate
  neighbor 2001:db8:f::3 activate
  network 2001:db8:c::/64
 exit-address-family
EOF
  printf 'log timestamp precision 3\n' >"$d/zebra.conf"
  chown -R frr:frr "$d"
  chmod 755 "$d"
  for v in zebra bgpd; do
    ip netns exec "$(ns up)" setsid "/usr/lib/frr/$v" -d -f "$d/$v.conf" -i "$d/$v.pid" \
      --vty_socket "$d" -z "$d/zserv.api" -P 0 -u frr -g frr \
      --log file:"$d/$v.log" </dev/null >/dev/null 2>&1
    if [ "$v" = zebra ]; then
      wait_for 100 test -S "$d/zserv.api" || die "zebra did not start ($d/zebra.log)"
    fi
  done
}

vtysh_up() { vtysh --vty_socket "$RUN/frr" -c "$@"; }

bird_up() {
  local n="$1" i d
  i="$(idx "$n")"
  d="$RUN/$n"
  mkdir -p "$d"
  cat >"$d/bird.conf" <<EOF
log "$d/bird.log" all;
router id 192.168.70.$i;
protocol device {}
protocol static pods4 { ipv4; route 10.244.$i.0/24 blackhole; route $LB4/32 blackhole; }
protocol static pods6 { ipv6; route fd00:244:0:$i::/64 blackhole; route $LB6/128 blackhole; }
template bgp rtr4 {
  local as 64513; hold time 9; keepalive time 3; connect retry time 2;
  ipv4 { import none; export where source = RTS_STATIC; };
}
template bgp rtr6 {
  local as 64513; hold time 9; keepalive time 3; connect retry time 2;
  ipv6 { import none; export where source = RTS_STATIC; };
}
protocol bgp r1v4 from rtr4 { neighbor 192.168.70.2 as 64512; }
protocol bgp r2v4 from rtr4 { neighbor 192.168.70.3 as 64512; }
protocol bgp r1v6 from rtr6 { neighbor fd00:70::2 as 64512; }
protocol bgp r2v6 from rtr6 { neighbor fd00:70::3 as 64512; }
EOF
  ip netns exec "$(ns "$n")" bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" \
    || die "BIRD on $n did not start"
}

gobgp_up() {
  local n="$1" i d r p
  i="$(idx "$n")"
  d="$RUN/$n"
  mkdir -p "$d"
  {
    printf '[global.config]\n  as = 64513\n  router-id = "192.168.70.%s"\n  port = -1\n' "$i"
    for r in 192.168.70.2 192.168.70.3 fd00:70::2 fd00:70::3; do
      printf '[[neighbors]]\n  [neighbors.config]\n    neighbor-address = "%s"\n    peer-as = 64512\n' "$r"
      printf '  [neighbors.timers.config]\n    hold-time = 9\n    keepalive-interval = 3\n    connect-retry = 2\n'
      case "$r" in
        *:*) printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "ipv6-unicast"\n' ;;
        *) printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = "ipv4-unicast"\n' ;;
      esac
    done
  } >"$d/gobgpd.toml"
  ip netns exec "$(ns "$n")" setsid gobgpd -f "$d/gobgpd.toml" --api-hosts 127.0.0.1:50051 \
    </dev/null >"$d/gobgpd.log" 2>&1 &
  echo $! >"$d/gobgpd.pid"
  wait_for 100 ip netns exec "$(ns "$n")" gobgp -u 127.0.0.1 global || die "gobgpd on $n did not start"
  # The gobgp CLI's default ORIGIN is INCOMPLETE; BIRD's static routes go
  # out as IGP, and paths that differ in ORIGIN never share a multipath.
  for p in "10.244.$i.0/24" "$LB4/32"; do
    ip netns exec "$(ns "$n")" gobgp -u 127.0.0.1 global rib -a ipv4 add "$p" origin igp
  done
  for p in "fd00:244:0:$i::/64" "$LB6/128"; do
    ip netns exec "$(ns "$n")" gobgp -u 127.0.0.1 global rib -a ipv6 add "$p" origin igp
  done
}

web_up() {
  local n="$1" d="$RUN/$1/www"
  mkdir -p "$d"
  printf '%s\n' "$n" >"$d/index.html"
  (cd "$d" && ip netns exec "$(ns "$n")" setsid python3 -m http.server 80 --bind :: \
    </dev/null >"$RUN/$n/http.log" 2>&1 &
    echo $! >"$RUN/$n/http.pid")
}

# ------------------------------------------------------------- the routers

rd_dir() { echo "$RUN/routerd-$1"; }
rd_socket() { echo "$(rd_dir "$1")/routerd.sock"; }
rd_ctl() {
  local n="$1"
  shift
  timeout 10 "$BIN/routerctl" --socket "$(rd_socket "$n")" "$@"
}

# The one config document all three nodes replicate; per-router resources
# carry metadata.nodes.
rd_config() {
  cat <<EOF
apiVersion: routerd.net/v1alpha1
kind: Router
metadata:
  name: k8s-edge
spec:
  resources:
    - apiVersion: system.routerd.net/v1alpha1
      kind: RouterdCluster
      metadata: { name: edge }
      spec:
        peers:
          - { name: r1, id: 1, address: "10.255.0.2:$CL_PORT" }
          - { name: r2, id: 2, address: "10.255.0.3:$CL_PORT" }
          - { name: w, id: 3, address: "10.255.0.4:$CL_PORT", witness: true }
        leaseTTL: 200ms
        tls: { dir: $RUN/tls }
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata: { name: lan }
      spec: { ifname: lan0, managed: false }
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata: { name: uplink }
      spec: { ifname: up0, managed: false }
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4Route
      metadata: { name: default-v4 }
      spec: { destination: 0.0.0.0/0, gateway: $UP4, device: up0 }
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6Route
      metadata: { name: default-v6 }
      spec: { destination: "::/0", gateway: "$UP6", device: up0 }
EOF
  local n i prio
  for n in "${ROUTERS[@]}"; do
    i="$(idx "$n")"
    case "$n" in r1) prio=200 ;; *) prio=100 ;; esac
    cat <<EOF
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata: { name: lan-v4-$n, nodes: [$n] }
      spec: { interface: lan, address: 192.168.70.$i/24 }
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata: { name: lan-v6-$n, nodes: [$n] }
      spec: { interface: lan, address: "fd00:70::$i/64" }
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata: { name: up-v4-$n, nodes: [$n] }
      spec: { interface: uplink, address: 10.0.0.$i/24 }
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata: { name: up-v6-$n, nodes: [$n] }
      spec: { interface: uplink, address: "2001:db8:f::$i/64" }
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata: { name: gw-v4-$n, nodes: [$n] }
      spec:
        interface: lan
        address: $VIP4/24
        vrrp: { virtualRouterID: 70, priority: $prio, advertInterval: 100ms }
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata: { name: gw-v6-$n, nodes: [$n] }
      spec:
        interface: lan
        address: "$VIP6/64"
        vrrp: { virtualRouterID: 71, priority: $prio, advertInterval: 100ms, linkLocalAddress: "$VIP6_LL" }
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPRouter
      metadata: { name: edge-$n, nodes: [$n] }
      spec:
        asn: 64512
        routerID: 10.0.0.$i
        timers: { profile: fast }
        importPolicy:
          allowedPrefixes:
            - 10.244.0.0/16
            - fd00:244::/48
            - 198.51.100.0/24
            - 2001:db8:100::/64
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPDynamicPeer
      metadata: { name: k8s-nodes-$n, nodes: [$n] }
      spec:
        routerRef: BGPRouter/edge-$n
        peerASN: 64513
        listen: { sourcePrefixes: [192.168.70.0/24, "fd00:70::/64"] }
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPPeer
      metadata: { name: upstream-$n, nodes: [$n] }
      spec:
        routerRef: BGPRouter/edge-$n
        peerASN: 65000
        peers: [$UP4, "$UP6"]
        importPolicy: { allowedPrefixes: [203.0.113.0/24, "2001:db8:c::/64"] }
        exportPolicy:
          allowedPrefixes:
            - "198.51.100.0/24 le 24"
            - "10.244.0.0/16 le 16"
            - "2001:db8:100::/64 le 64"
            - "fd00:244::/48 le 48"
    - apiVersion: net.routerd.net/v1alpha1
      kind: BGPAnnouncement
      metadata: { name: services-$n, nodes: [$n] }
      spec:
        routerRef: BGPRouter/edge-$n
        prefixes: [198.51.100.0/24, 10.244.0.0/16, "2001:db8:100::/64", "fd00:244::/48"]
        owner: VirtualAddress/gw-v4-$n
EOF
  done
}

rd_pid() {
  local f pid
  f="$(rd_dir "$1")/routerd.pid"
  [ -r "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
}

rd_start() {
  local n="$1" d extra=()
  d="$(rd_dir "$n")"
  mkdir -p "$d/state"
  rd_config >"$d/router.yaml"
  [ "$n" = w ] && extra=(--witness)
  ip netns exec "$(ns "$n")" setsid "$BIN/routerd" serve -c "$d/router.yaml" --node "$n" \
    "${extra[@]}" --state-dir "$d/state" --socket "$(rd_socket "$n")" \
    --sysctl-dir "$d/sysctl.d" --daemon-dir "$BIN" </dev/null >>"$d/routerd.log" 2>&1 &
  echo $! >"$d/routerd.pid"
  disown $! 2>/dev/null || true
  wait_for 300 rd_ctl "$n" status -o json || {
    tail -n 20 "$d/routerd.log" >&2
    die "routerd on $n did not come up; see $d/routerd.log"
  }
}

routers_up() {
  [ -s "$RUN/tls/ca.pem" ] || "$BIN/routerctl" cluster init --out "$RUN/tls" \
    --node r1=10.255.0.2 --node r2=10.255.0.3 --node w=10.255.0.4 >/dev/null
  rd_start w
  rd_start r1
  rd_start r2
}

# ------------------------------------------------------------------ checks

# The router holding the IPv4 gateway VIP.
active() {
  local n out
  for n in "${ROUTERS[@]}"; do
    # `up`: a killed router's downed lan0 still carries the VIP (nobody was
    # left to remove it), but it answers no one.
    out="$(ip -n "$(ns "$n")" -o addr show dev lan0 up 2>/dev/null)" || continue
    grep -q " $VIP4/" <<<"$out" && { echo "$n"; return 0; }
  done
  return 1
}

# How many paths FRR has for PREFIX (family from the address).
frr_paths() {
  local p="$1" fam=ipv4
  [[ "$p" == *:* ]] && fam=ipv6
  vtysh_up "show bgp $fam unicast $p json" 2>/dev/null | jq '[.paths // [] | .[]] | length'
}

# FRR's next hops for PREFIX, one a line.
frr_nexthops() {
  local p="$1" fam=ipv4
  [[ "$p" == *:* ]] && fam=ipv6
  vtysh_up "show bgp $fam unicast $p json" 2>/dev/null |
    jq -r '.paths // [] | .[] | .nexthops[0].ip' | sort
}

# Every router has the LB addresses from all three nodes, as ECMP routes.
router_has_ecmp() {
  local n="$1"
  [ "$(ip -n "$(ns "$n")" route show "$LB4" proto bgp | grep -c 'nexthop via')" -eq 3 ] &&
    [ "$(ip -n "$(ns "$n")" -6 route show "$LB6" proto bgp | grep -c 'nexthop via')" -eq 3 ]
}

one_announcer() {
  [ "$(frr_paths 198.51.100.0/24)" = 1 ] && [ "$(frr_paths 2001:db8:100::/64)" = 1 ]
}

client_reaches_lb() {
  ip netns exec "$(ns client)" curl -s -m 2 "http://$LB4/" | grep -q '^n[123]$' &&
    ip netns exec "$(ns client)" curl -s -m 2 "http://[$LB6]/" | grep -q '^n[123]$'
}

cmd_status() {
  local n
  say "gateway VIPs and announcements"
  echo "  active router (holds $VIP4): $(active || echo nobody)"
  echo "  FRR upstream, 198.51.100.0/24 next hops: $(frr_nexthops 198.51.100.0/24 | xargs)"
  echo "  FRR upstream, 2001:db8:100::/64 next hops: $(frr_nexthops 2001:db8:100::/64 | xargs)"
  for n in "${ROUTERS[@]}"; do
    say "$n: routerctl bgp summary"
    rd_ctl "$n" bgp summary || true
    say "$n: LoadBalancer routes in the kernel"
    ip -n "$(ns "$n")" route show "$LB4" || true
    ip -n "$(ns "$n")" -6 route show "$LB6" || true
  done
}

cmd_up() {
  need_root up
  if [ -z "${K8S_LAB_PREBUILT:-}" ]; then
    say "installing what the lab needs"
    "$REPO/deploy/install-deps.sh"
    build
  fi
  [ -e "/run/netns/$(ns r1)" ] && {
    say "a lab is running: taking it down first"
    cmd_down
  }
  say "creating the namespaces (prefix $PFX)"
  trap 'echo "k8s-edge-lab: failed; run: sudo $0 down" >&2' ERR
  topology_up
  say "starting FRR upstream, BIRD on n1 and n2, GoBGP on n3, web servers"
  frr_up
  bird_up n1
  bird_up n2
  gobgp_up n3
  for n in "${NODES[@]}"; do web_up "$n"; done
  say "starting the routerd pair and its witness"
  routers_up
  wait_for 300 active || die "no router took the gateway VIP"
  say "waiting for the nodes' routes (ECMP over three nodes) on both routers"
  wait_for 600 router_has_ecmp r1 || die "r1 did not learn the LoadBalancer routes from all nodes"
  wait_for 600 router_has_ecmp r2 || die "r2 did not learn the LoadBalancer routes from all nodes"
  say "waiting for FRR upstream to hear the service prefixes from exactly one router"
  wait_for 300 one_announcer || die "FRR does not see exactly one path for the service prefixes"
  wait_for 100 client_reaches_lb || die "the client cannot reach the LoadBalancer addresses"
  cmd_status
  say "the client reaches $LB4 and $LB6 through FRR and $(active)"
  cat <<EOF

Try:
  sudo $0 failover      kill the active router; the client keeps reaching the service
  sudo $0 heal          bring it back
  $BIN/routerctl --socket $(rd_socket r1) bgp summary
  $BIN/routerctl --socket $(rd_socket r1) bgp routes $LB4
  sudo $0 down
EOF
}

# Kills every process in a router's namespace and takes its links down: a
# power cut, not a clean stop.
kill_router() {
  local n="$1" s pids l
  s="$(ns "$n")"
  pids="$(ip netns pids "$s" | xargs)"
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  for l in lan0 up0 cl0; do ip -n "$s" link set "$l" down 2>/dev/null || true; done
}

cmd_failover() {
  need_root failover
  local a other probe i ok fail last_ok gap max_gap=0 t0 t
  a="$(active)" || die "no router holds $VIP4"
  other=r1
  [ "$a" = r1 ] && other=r2
  probe="$RUN/probe.log"
  : >"$probe"
  say "probing http://$LB4/ from the client every 100 ms"
  (
    for ((i = 0; i < 150; i++)); do
      t="$(date +%s%3N)"
      if ip netns exec "$(ns client)" curl -s -m 0.5 "http://$LB4/" >/dev/null; then
        echo "$t ok"
      else
        echo "$t fail"
      fi
      sleep 0.1
    done
  ) >"$probe" &
  local prober=$!
  sleep 2
  say "$a is active: killing every process in it and taking its links down"
  kill_router "$a"
  wait "$prober" || true
  ok=0
  fail=0
  last_ok=""
  while read -r t r; do
    if [ "$r" = ok ]; then
      ok=$((ok + 1))
      if [ -n "$last_ok" ]; then
        gap=$((t - last_ok))
        [ "$gap" -gt "$max_gap" ] && max_gap=$gap
      fi
      last_ok="$t"
    else
      fail=$((fail + 1))
    fi
  done <"$probe"
  t0="$(active || echo nobody)"
  echo "  probes: $ok answered, $fail failed; longest gap between answers: ${max_gap} ms"
  echo "  active router now: $t0"
  echo "  FRR upstream next hops for 198.51.100.0/24: $(frr_nexthops 198.51.100.0/24 | xargs)"
  [ "$t0" = "$other" ] || die "the gateway did not move to $other"
  one_announcer || die "FRR does not see exactly one announcer after the failover"
  client_reaches_lb || die "the client cannot reach the LoadBalancer addresses after the failover"
  say "$other took over; the client keeps reaching the LoadBalancer addresses"
}

cmd_heal() {
  need_root heal
  local n l
  for n in "${ROUTERS[@]}"; do
    for l in lan0 up0 cl0; do ip -n "$(ns "$n")" link set "$l" up 2>/dev/null || true; done
    if ! rd_pid "$n" >/dev/null; then
      rm -f "$(rd_dir "$n")/routerd.pid"
      rd_start "$n"
    fi
  done
  for n in "${ROUTERS[@]}"; do
    wait_for 600 router_has_ecmp "$n" || die "$n did not learn the LoadBalancer routes from all nodes again"
  done
  wait_for 300 one_announcer || die "FRR does not see exactly one announcer after the heal"
  cmd_status
}

cmd_down() {
  need_root down
  local s pids i
  for s in $(all_ns); do
    [ -e "/run/netns/$s" ] || continue
    pids="$(ip netns pids "$s" 2>/dev/null | xargs)"
    # shellcheck disable=SC2086 # a list of pids
    [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  done
  sleep 0.5
  for s in $(all_ns); do
    [ -e "/run/netns/$s" ] || continue
    pids="$(ip netns pids "$s" 2>/dev/null | xargs)"
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      ip netns del "$s" 2>/dev/null && break
      sleep 0.1
    done
    rm -rf "/etc/netns/${s:?}"
  done
  rm -rf "${RUN:?}"
  echo "k8s-edge-lab: down"
}

case "${1:-up}" in
  up) cmd_up ;;
  status) cmd_status ;;
  failover) cmd_failover ;;
  heal) cmd_heal ;;
  down) cmd_down ;;
  -h | --help | help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $1 (up, status, failover, heal, down)" ;;
esac
