#!/usr/bin/env bash
# The HA lab topology: two routers, a witness, a WAN host and a LAN client in
# network namespaces, with the shared segments as bridges in a switch namespace.
#
#   sudo deploy/pair-topology.sh up      [PREFIX]   create (idempotent: fills in what is missing)
#   sudo deploy/pair-topology.sh down    [PREFIX]   remove everything it made, also half-built
#   sudo deploy/pair-topology.sh status  [PREFIX]   namespaces, addresses, who holds the VIPs
#
# or, sourced (PAIR_PREFIX set first, default rdlab):   source deploy/pair-topology.sh; pair_up
#
#                        PREFIX-wan  eth0 198.51.100.1/24, 2001:db8:100::1/64
#                              |
#                  wanbr (in PREFIX-sw)
#             wan0 .2 /   ::2           \ wan0 .3 / ::3
#        PREFIX-r1                      PREFIX-r2          routers: forwarding on, SNAT
#             lan0 .1 \ fd00:99::1      / lan0 .2 / fd00:99::2
#                  lanbr (in PREFIX-sw, mcast_snooping 0)   VIPs 10.99.0.254,
#                              |                             fe80::99:254, fd00:99::254
#                        PREFIX-client  eth0 10.99.0.100/24, fd00:99::100/64
#                                       default via the VIPs
#        r1 cl0 10.255.0.1, r2 cl0 .2, PREFIX-w cl0 .3 (fd00:255::1/2/3) on clbr (in PREFIX-sw)
#
# The return path. Each router source-NATs what it forwards to the WAN to its
# own WAN address (nft table `pair_nat`), so the WAN host's replies go back to
# the router that forwarded the request, which is the master of the moment.
# After a failover the new master forwards the client's next packet, creates
# its own conntrack entry and gets the replies: no WAN-side VIP and no route
# on the WAN host that would have to follow the master. (A route on the WAN
# host via one router would break whenever the other one is master; a WAN VIP
# would be a second VRRP group whose own failover would be measured too.)
#
# Everything lives in the PREFIX-* namespaces: links are created inside the
# switch namespace and their peers moved straight into the others, so nothing
# is ever created in, or changed in, the machine's own namespace.

# ------------------------------------------------------------------ layout

PAIR_PREFIX="${PAIR_PREFIX:-rdlab}"
# Where hooks keep per-lab state (configs, pid files, logs); `down` deletes it.
PAIR_RUN_BASE="${PAIR_RUN_BASE:-/run/routerd-pair}"

PAIR_WAN_HOST4=198.51.100.1
PAIR_WAN_HOST6=2001:db8:100::1
PAIR_LAN_NET4=10.99.0.0/24
PAIR_LAN_NET6=fd00:99::/64
PAIR_VIP4=10.99.0.254
PAIR_VIP6_LL=fe80::99:254
PAIR_VIP6=fd00:99::254
PAIR_CLIENT4=10.99.0.100
PAIR_CLIENT6=fd00:99::100

# The node names every script and hook uses.
PAIR_ROUTERS=(r1 r2)
PAIR_NODES=(r1 r2 w)

pair_ns() { echo "${PAIR_PREFIX}-$1"; }
pair_run_dir() { echo "$PAIR_RUN_BASE/$PAIR_PREFIX"; }
pair_all_ns() {
  local n
  for n in wan sw r1 r2 w client; do pair_ns "$n"; done
}

# Per-router addresses: index 1 or 2.
pair_router_index() {
  case "$1" in
    r1) echo 1 ;;
    r2) echo 2 ;;
    w) echo 3 ;;
    *) return 1 ;;
  esac
}
pair_lan4() { echo "10.99.0.$(pair_router_index "$1")"; }
pair_lan6() { echo "fd00:99::$(pair_router_index "$1")"; }
pair_wan4() { echo "198.51.100.$(($(pair_router_index "$1") + 1))"; }
pair_wan6() { echo "2001:db8:100::$(($(pair_router_index "$1") + 1))"; }
pair_cl4() { echo "10.255.0.$(pair_router_index "$1")"; }
pair_cl6() { echo "fd00:255::$(pair_router_index "$1")"; }

# ----------------------------------------------------------------- helpers

pair_die() {
  echo "pair-topology: ERROR: $*" >&2
  return 1
}

pair_ns_exists() {
  [ -e "/run/netns/$1" ]
}

# Creates a namespace unless it exists: resolv.conf first (so nothing run with
# `ip netns exec` can reach the host's), lo up, DAD off so addresses are usable
# at once, and IPv6 on.
pair_make_ns() {
  local ns="$1"
  mkdir -p "/etc/netns/$ns"
  [ -e "/etc/netns/$ns/resolv.conf" ] || printf '# routerd pair lab %s: no DNS\n' "$ns" >"/etc/netns/$ns/resolv.conf"
  pair_ns_exists "$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw \
    net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0
}

pair_link_exists() {
  ip -n "$1" link show dev "$2" >/dev/null 2>&1
}

# pair_bridge NAME: a bridge in the switch namespace, up, no multicast
# snooping (VRRP adverts are multicast: snooping without a querier drops them),
# no STP delay.
pair_bridge() {
  local sw br="$1"
  sw="$(pair_ns sw)"
  pair_link_exists "$sw" "$br" || ip -n "$sw" link add "$br" type bridge
  ip -n "$sw" link set "$br" type bridge mcast_snooping 0 stp_state 0 forward_delay 0
  ip -n "$sw" link set "$br" up
}

# pair_port BRIDGE SWPORT NODE_NS IFNAME: a veth from a bridge port in the
# switch namespace to IFNAME in NODE_NS. A half-made pair (one end missing) is
# removed and made again.
pair_port() {
  local br="$1" port="$2" ns="$3" ifname="$4" sw
  sw="$(pair_ns sw)"
  if pair_link_exists "$sw" "$port" && ! pair_link_exists "$ns" "$ifname"; then
    ip -n "$sw" link del "$port"
  fi
  if ! pair_link_exists "$sw" "$port"; then
    ip -n "$ns" link del "$ifname" 2>/dev/null || true
    ip -n "$sw" link add "$port" type veth peer name "$ifname" netns "$ns"
  fi
  ip -n "$sw" link set "$port" master "$br"
  ip -n "$sw" link set "$port" up
  ip -n "$ns" link set "$ifname" up
}

# The nft table a router uses to put its own WAN address on what it forwards.
pair_nat_rules() {
  local node="$1"
  cat <<EOF
table inet pair_nat
delete table inet pair_nat
table inet pair_nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr $PAIR_LAN_NET4 snat ip to $(pair_wan4 "$node")
    oifname "wan0" ip6 saddr $PAIR_LAN_NET6 snat ip6 to $(pair_wan6 "$node")
  }
}
EOF
}

# ---------------------------------------------------------------------- up

pair_up() {
  local ns n sw wan client
  [ "$(id -u)" -eq 0 ] || pair_die "needs root (network namespaces)" || return 1
  for ns in $(pair_all_ns); do pair_make_ns "$ns" || return 1; done
  sw="$(pair_ns sw)"
  wan="$(pair_ns wan)"
  client="$(pair_ns client)"

  pair_bridge wanbr || return 1
  pair_bridge lanbr || return 1
  pair_bridge clbr || return 1

  pair_port wanbr wan-host "$wan" eth0 || return 1
  pair_port lanbr lan-client "$client" eth0 || return 1
  for n in "${PAIR_ROUTERS[@]}"; do
    ns="$(pair_ns "$n")"
    pair_port wanbr "$n-wan" "$ns" wan0 || return 1
    pair_port lanbr "$n-lan" "$ns" lan0 || return 1
  done
  for n in "${PAIR_NODES[@]}"; do
    pair_port clbr "$n-cl" "$(pair_ns "$n")" cl0 || return 1
  done

  # The WAN host: the far end of every probe. No route to the LAN: the
  # routers' SNAT brings the replies back (see the header).
  ip -n "$wan" addr replace "$PAIR_WAN_HOST4/24" dev eth0 || return 1
  ip -n "$wan" addr replace "$PAIR_WAN_HOST6/64" dev eth0 || return 1

  for n in "${PAIR_ROUTERS[@]}"; do
    ns="$(pair_ns "$n")"
    ip -n "$ns" addr replace "$(pair_wan4 "$n")/24" dev wan0 || return 1
    ip -n "$ns" addr replace "$(pair_wan6 "$n")/64" dev wan0 || return 1
    ip -n "$ns" addr replace "$(pair_lan4 "$n")/24" dev lan0 || return 1
    ip -n "$ns" addr replace "$(pair_lan6 "$n")/64" dev lan0 || return 1
    ip -n "$ns" route replace default via "$PAIR_WAN_HOST4" dev wan0 || return 1
    ip -n "$ns" -6 route replace default via "$PAIR_WAN_HOST6" dev wan0 || return 1
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
    pair_nat_rules "$n" | ip netns exec "$ns" nft -f - || return 1
  done
  for n in "${PAIR_NODES[@]}"; do
    ns="$(pair_ns "$n")"
    ip -n "$ns" addr replace "$(pair_cl4 "$n")/24" dev cl0 || return 1
    ip -n "$ns" addr replace "$(pair_cl6 "$n")/64" dev cl0 || return 1
  done

  # The client: default routes via the VIPs, onlink because nobody may hold
  # them yet (the IPv6 one is the link-local VIP, as a router advertises it).
  ip -n "$client" addr replace "$PAIR_CLIENT4/24" dev eth0 || return 1
  ip -n "$client" addr replace "$PAIR_CLIENT6/64" dev eth0 || return 1
  ip -n "$client" route replace default via "$PAIR_VIP4" dev eth0 onlink || return 1
  ip -n "$client" -6 route replace default via "$PAIR_VIP6_LL" dev eth0 || return 1

  mkdir -p "$(pair_run_dir)"
}

# -------------------------------------------------------------------- down

# Pids of the processes inside one namespace, never one of the root namespace.
pair_ns_pids() {
  local ns="$1" root_net pid
  pair_ns_exists "$ns" || return 0
  root_net="$(readlink /proc/1/ns/net)"
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    [ "$pid" -gt 1 ] 2>/dev/null || continue
    [ "$pid" != "$$" ] || continue
    [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "$root_net" ] || continue
    echo "$pid"
  done
}

# Removes the namespaces (ending every process inside them first), their
# /etc/netns directories and the run directory. Works on any subset left by a
# half-built `up`; touches nothing that does not carry this prefix.
pair_down() {
  local ns pids i
  for ns in $(pair_all_ns); do
    pids="$(pair_ns_pids "$ns" | tr '\n' ' ')"
    if [ -n "${pids// /}" ]; then
      # shellcheck disable=SC2086 # a list of pids
      kill -TERM $pids 2>/dev/null || true
      for ((i = 0; i < 20; i++)); do
        [ -z "$(pair_ns_pids "$ns")" ] && break
        sleep 0.1
      done
      pids="$(pair_ns_pids "$ns" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      [ -z "${pids// /}" ] || kill -KILL $pids 2>/dev/null || true
    fi
  done
  for ns in $(pair_all_ns); do
    if pair_ns_exists "$ns"; then
      # A just-killed process may hold the mount for a moment: bounded retries.
      for ((i = 0; i < 30; i++)); do
        ip netns del "$ns" 2>/dev/null && break
        sleep 0.1
      done
      pair_ns_exists "$ns" && echo "pair-topology: WARNING: could not delete namespace $ns" >&2
    fi
    rm -rf "/etc/netns/${ns:?}"
  done
  rm -rf "$(pair_run_dir)"
  return 0
}

# ------------------------------------------------------------------ status

# Prints the routers that hold ADDR (default: the IPv4 VIP) on lan0, one a line.
pair_vip_holders() {
  local addr="${1:-$PAIR_VIP4}" n out
  for n in "${PAIR_ROUTERS[@]}"; do
    # Not `ip | grep -q`: grep exiting early makes ip die of SIGPIPE, which
    # pipefail turns into "not found".
    out="$(ip -n "$(pair_ns "$n")" -o addr show dev lan0 2>/dev/null)" || continue
    if grep -q " ${addr}/" <<<"$out"; then
      echo "$n"
    fi
  done
}

# The one router holding every VIP, or nothing (none, or they are split).
pair_master() {
  local h4 h6 h6g
  h4="$(pair_vip_holders "$PAIR_VIP4")"
  h6="$(pair_vip_holders "$PAIR_VIP6_LL")"
  h6g="$(pair_vip_holders "$PAIR_VIP6")"
  if [ -n "$h4" ] && [ "$(wc -l <<<"$h4")" -eq 1 ] && [ "$h4" = "$h6" ] && [ "$h4" = "$h6g" ]; then
    echo "$h4"
  fi
}

# True when every VIP has exactly one holder (the groups may have different ones).
pair_vips_owned() {
  local a
  for a in "$PAIR_VIP4" "$PAIR_VIP6_LL" "$PAIR_VIP6"; do
    [ "$(pair_vip_holders "$a" | wc -l)" -eq 1 ] || return 1
  done
}

# pair_wait_master TENTHS [STABLE_TENTHS]: waits until one router holds every
# VIP, unchanged for STABLE_TENTHS (default 10), and prints it; fails after TENTHS.
pair_wait_master() {
  local tenths="$1" stable="${2:-10}" i m last="" same=0
  for ((i = 0; i < tenths; i++)); do
    m="$(pair_master)"
    if [ -n "$m" ] && [ "$m" = "$last" ]; then
      same=$((same + 1))
    else
      same=0
    fi
    last="$m"
    if [ -n "$m" ] && [ "$same" -ge "$stable" ]; then
      echo "$m"
      return 0
    fi
    sleep 0.1
  done
  return 1
}

pair_status() {
  local ns n
  for ns in $(pair_all_ns); do
    if pair_ns_exists "$ns"; then echo "namespace $ns: present"; else echo "namespace $ns: absent"; fi
  done
  for n in "${PAIR_NODES[@]}"; do
    ns="$(pair_ns "$n")"
    pair_ns_exists "$ns" || continue
    echo "-- $n ($ns)"
    ip -n "$ns" -br addr show | grep -v '^lo ' || true
  done
  echo "-- VIP holders: v4 [$(pair_vip_holders "$PAIR_VIP4" | xargs)]" \
    "v6 link-local [$(pair_vip_holders "$PAIR_VIP6_LL" | xargs)]" \
    "v6 [$(pair_vip_holders "$PAIR_VIP6" | xargs)]"
}

# ---------------------------------------------------------------------- CLI

pair_main() {
  local cmd="${1:-}"
  [ $# -eq 0 ] || shift
  [ $# -eq 0 ] || PAIR_PREFIX="$1"
  case "$cmd" in
    up)
      [ "$(id -u)" -eq 0 ] || pair_die "needs root; run: sudo $0 up" || return 1
      if ! pair_up; then
        echo "pair-topology: up failed; removing what was made" >&2
        pair_down
        return 1
      fi
      echo "pair-topology: $PAIR_PREFIX is up"
      ;;
    down)
      [ "$(id -u)" -eq 0 ] || pair_die "needs root; run: sudo $0 down" || return 1
      pair_down
      echo "pair-topology: $PAIR_PREFIX is down"
      ;;
    status) pair_status ;;
    *)
      sed -n '5,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
      return 2
      ;;
  esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  pair_main "$@"
fi
