#!/usr/bin/env bash
# routerd's lab: a paired branch office in network namespaces. Two routers
# (r1, r2) and a witness (w) form a Raft cluster; the routers share VRRPv3
# gateway addresses for IPv4 and IPv6 that only the lease holder may carry.
#
#   sudo deploy/lab.sh [up]      install, build, create the namespaces, start the cluster, prove it
#   sudo deploy/lab.sh status    cluster status, VIP owners
#   sudo deploy/lab.sh failover  kill -9 the master's routerd-vrrp and take its LAN link down;
#                                show the VIPs move and the client's traffic come back
#   sudo deploy/lab.sh heal      bring the LAN link back and restart what was killed
#   sudo deploy/lab.sh down      stop everything and delete the namespaces
#
#                       rdlab-wan  198.51.100.1, 2001:db8:100::1
#                            |  (wanbr)
#            rdlab-r1 ------+------ rdlab-r2         routerd + routerd-vrrp each
#               |  \       (clbr)      /  |
#               |   +---- rdlab-w ----+   |          routerd --witness (Raft voter)
#               +-----------(lanbr)-------+          VIPs 10.99.0.254, fe80::99:254, fd00:99::254
#                            |
#                      rdlab-client  10.99.0.100, fd00:99::100 (default via the VIPs)
#
# Everything happens inside the rdlab-* namespaces (bridges too); the
# machine's own network namespace is never changed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PAIR_PREFIX=rdlab
export PAIR_RUN_BASE=/run/routerd-lab
# shellcheck source=deploy/pair-topology.sh
source "$REPO/deploy/pair-topology.sh"
# shellcheck source=chaos/impl-routerd.sh
source "$REPO/chaos/impl-routerd.sh"

say() { printf '\n== %s\n' "$*"; }
die() {
  echo "lab: ERROR: $*" >&2
  exit 1
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "the lab creates network namespaces and needs root; run: sudo $0 $*"
}

# cargo under sudo: sudo's secure_path usually hides ~/.cargo/bin.
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
  say "building routerd, routerctl and routerd-vrrp (release)"
  find_cargo
  (cd "$REPO" && cargo build --release --locked -p routerd-cli -p routerd-vrrp -p routerd-healthcheck)
  local b
  for b in routerd routerctl routerd-vrrp routerd-healthcheck; do
    [ -x "$RD_BIN_DIR/$b" ] || die "$RD_BIN_DIR/$b was not built"
  done
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

owners() {
  local vip n holders
  for vip in "$PAIR_VIP4" "$PAIR_VIP6"; do
    holders=""
    for n in r1 r2; do
      ip -n "$(pair_ns "$n")" -o addr show dev lan0 2>/dev/null | grep -q " ${vip}/" && holders+="$n "
    done
    printf '  %-16s held by: %s\n' "$vip" "${holders:-nobody}"
  done
}

one_owner() {
  local vip n count
  for vip in "$PAIR_VIP4" "$PAIR_VIP6"; do
    count=0
    for n in r1 r2; do
      ip -n "$(pair_ns "$n")" -o addr show dev lan0 2>/dev/null | grep -q " ${vip}/" && count=$((count + 1))
    done
    [ "$count" -eq 1 ] || return 1
  done
}

master() {
  local n
  for n in r1 r2; do
    ip -n "$(pair_ns "$n")" -o addr show dev lan0 2>/dev/null | grep -q " ${PAIR_VIP4}/" && {
      echo "$n"
      return 0
    }
  done
  return 1
}

client_reaches_wan() {
  ip netns exec "$(pair_ns client)" ping -c 1 -W 1 "$PAIR_WAN_HOST4" >/dev/null 2>&1 &&
    ip netns exec "$(pair_ns client)" ping -6 -c 1 -W 1 "$PAIR_WAN_HOST6" >/dev/null 2>&1
}

cmd_status() {
  local n
  say "cluster status (from r1)"
  rd_ctl r1 cluster status || true
  say "who holds the gateway addresses"
  owners
  for n in r1 r2; do
    say "VirtualAddress resources on $n"
    rd_ctl "$n" get VirtualAddress || true
  done
}

cmd_up() {
  need_root up
  say "installing what the lab needs"
  "$REPO/deploy/install-deps.sh"
  build
  if pair_ns_exists "$(pair_ns r1)"; then
    say "a lab is running: taking it down first"
    cmd_down
  fi
  say "creating the namespaces (prefix $PAIR_PREFIX)"
  pair_up || die "the topology did not come up"
  say "starting the witness and both routers"
  impl_start w || die "the witness did not start"
  impl_start r1 || die "r1 did not start"
  impl_start r2 || die "r2 did not start"
  wait_for 300 impl_ready r1 || die "r1 is not ready (see $(rd_dir r1)/routerd.log)"
  wait_for 300 impl_ready r2 || die "r2 is not ready (see $(rd_dir r2)/routerd.log)"
  wait_for 300 one_owner || {
    owners
    die "the VIPs did not settle on one router"
  }
  wait_for 100 client_reaches_wan || die "the client cannot reach the WAN host through the VIPs"
  cmd_status
  say "the client reaches the WAN host through the VIPs (IPv4 and IPv6)"
  cat <<EOF

Try:
  sudo deploy/lab.sh failover      kill -9 the master's routerd-vrrp + LAN link down
  sudo deploy/lab.sh heal          undo it
  $RD_BIN_DIR/routerctl --socket $(rd_socket r1) cluster status
  $RD_BIN_DIR/routerctl --socket $(rd_socket r2) events --follow
  sudo deploy/lab.sh down
EOF
}

cmd_failover() {
  need_root failover
  local m other
  m="$(master)" || die "no router holds $PAIR_VIP4"
  other=r1
  [ "$m" = r1 ] && other=r2
  say "$m is master: kill -9 its routerd-vrrp and take its LAN link down"
  impl_kill_vrrp "$m"
  ip -n "$(pair_ns "$m")" link set lan0 down
  wait_for 100 one_owner || true
  owners
  [ "$(master)" = "$other" ] || die "the VIPs did not move to $other"
  wait_for 100 client_reaches_wan || die "the client's traffic did not come back"
  say "the VIPs moved to $other and the client reaches the WAN host again"
}

cmd_heal() {
  need_root heal
  local n
  for n in r1 r2; do
    ip -n "$(pair_ns "$n")" link set lan0 up
    impl_restart_killed "$n" || true
  done
  wait_for 100 one_owner || true
  owners
}

cmd_down() {
  need_root down
  local n
  for n in r1 r2 w; do
    impl_stop "$n" || true
  done
  pair_down || die "the namespaces could not all be removed"
  echo "lab: down"
}

case "${1:-up}" in
  up) cmd_up ;;
  status) cmd_status ;;
  failover) cmd_failover ;;
  heal) cmd_heal ;;
  down) cmd_down ;;
  -h | --help | help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $1 (up, status, failover, heal, down)" ;;
esac
