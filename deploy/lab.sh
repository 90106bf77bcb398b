#!/usr/bin/env bash
# routerd's lab: a router in network namespaces, run on an embedded config.
#
#   sudo deploy/lab.sh [up]          build, create the namespaces, start routerd, prove it
#   sudo deploy/lab.sh up -c FILE    the same with your own Router document
#   sudo deploy/lab.sh status        routerctl status and resources
#   sudo deploy/lab.sh down          stop routerd and its daemons, delete the namespaces
#
#   rdlab-wan (WAN host)              rdlab-r1 (routerd)                rdlab-lan (client)
#   lo 203.0.113.1/32
#   wan0 198.51.100.1/24  <-veth->  r1wan 198.51.100.2/24
#        2001:db8:100::1/64               2001:db8:100::2/64
#                                   r1lan 192.168.50.1/24  <-veth->  lan0 192.168.50.10/24
#                                         fd00:50::1/64                   fd00:50::10/64
#
# Everything happens inside the rdlab-* namespaces; the machine's own network
# namespace is never changed. `up` on a running lab tears it down first.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NS_WAN=rdlab-wan
NS_R1=rdlab-r1
NS_LAN=rdlab-lan
NAMESPACES=("$NS_WAN" "$NS_R1" "$NS_LAN")
STATE_DIR=/var/lib/routerd-lab
RUN_DIR=/run/routerd-lab
SOCKET="$RUN_DIR/routerd.sock"
LOG="$STATE_DIR/routerd.log"
READY_TIMEOUT=30

say() { printf '\n== %s\n' "$*"; }
die() {
  echo "lab: ERROR: $*" >&2
  exit 1
}

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------- the config

default_config() {
  cat <<'EOF'
# The lab router: two interfaces, static dual-stack addresses, default
# routes to the WAN host, forwarding on, and two health checks of the uplink.
apiVersion: routerd.net/v1alpha1
kind: Router
metadata:
  name: lab-r1
spec:
  resources:
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata:
        name: wan
      spec:
        ifname: r1wan
        managed: true
        role: wan
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata:
        name: lan
      spec:
        ifname: r1lan
        managed: true
        role: trust

    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata:
        name: wan-v4
      spec:
        interface: wan
        address: 198.51.100.2/24
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata:
        name: wan-v6
      spec:
        interface: wan
        address: 2001:db8:100::2/64
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata:
        name: lan-v4
      spec:
        interface: lan
        address: 192.168.50.1/24
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata:
        name: lan-v6
      spec:
        interface: lan
        address: fd00:50::1/64

    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4Route
      metadata:
        name: default-v4
      spec:
        destination: 0.0.0.0/0
        gateway: 198.51.100.1
        device: r1wan
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6Route
      metadata:
        name: default-v6
      spec:
        destination: ::/0
        gateway: 2001:db8:100::1
        device: r1wan

    - apiVersion: system.routerd.net/v1alpha1
      kind: Sysctl
      metadata:
        name: ipv4-forwarding
      spec:
        key: net.ipv4.ip_forward
        value: "1"
    - apiVersion: system.routerd.net/v1alpha1
      kind: Sysctl
      metadata:
        name: ipv6-forwarding
      spec:
        key: net.ipv6.conf.all.forwarding
        value: "1"

    - apiVersion: net.routerd.net/v1alpha1
      kind: HealthCheck
      metadata:
        name: uplink-v4
      spec:
        protocol: icmp
        target: 198.51.100.1
        interface: wan
        interval: 1s
        role: next-hop
    - apiVersion: net.routerd.net/v1alpha1
      kind: HealthCheck
      metadata:
        name: uplink-v6
      spec:
        protocol: icmp
        target: 2001:db8:100::1
        interface: wan
        interval: 1s
        role: next-hop
EOF
}

# ------------------------------------------------------------------ helpers

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

bin_dir() {
  echo "${CARGO_TARGET_DIR:-$REPO/target}/release"
}

routerctl() {
  # Bounded: a wedged routerd must not hang the script.
  timeout 20 "$(bin_dir)/routerctl" --socket "$SOCKET" "$@"
}

ns_exists() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$1"
}

# Runs a command in a namespace.
in_ns() {
  local ns="$1"
  shift
  ip netns exec "$ns" "$@"
}

# A namespace with its own resolv.conf (mounted over /etc/resolv.conf by
# `ip netns exec`, so nothing run inside can touch the host's), lo up and
# IPv6 DAD off so addresses are usable at once.
make_ns() {
  local ns="$1"
  mkdir -p "/etc/netns/$ns"
  printf '# routerd lab namespace %s: no DNS\n' "$ns" >"/etc/netns/$ns/resolv.conf"
  ip netns add "$ns"
  in_ns "$ns" ip link set lo up
  in_ns "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# Pids of the processes in a lab namespace, never one in the root namespace.
ns_pids() {
  local ns="$1" root_net pid
  ns_exists "$ns" || return 0
  root_net="$(readlink /proc/1/ns/net)"
  for pid in $(ip netns pids "$ns" 2>/dev/null); do
    [ "$pid" -gt 1 ] 2>/dev/null || continue
    [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" != "$root_net" ] || continue
    echo "$pid"
  done
}

# True while a process runs (a zombie has exited: kill -0 would still succeed).
running() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [ -n "$stat" ] && [ "${stat:0:1}" != "Z" ]
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

lab_present() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    ns_exists "$ns" && return 0
  done
  [ -e "$SOCKET" ]
}

# ------------------------------------------------------------------- down

cmd_down() {
  need_root down
  local ns pids i
  if [ -S "$SOCKET" ] && [ -x "$(bin_dir)/routerctl" ]; then
    echo "lab: routerctl stop"
    routerctl stop >/dev/null 2>&1 || true
    # routerd exits within a few seconds of stop.
    for ((i = 0; i < 50; i++)); do
      pids="$(ns_pids "$NS_R1" | xargs -r ps -o pid= -o comm= -p 2>/dev/null | awk '$2 == "routerd" {print $1}')"
      [ -z "$pids" ] && break
      sleep 0.1
    done
  fi
  # routerd leaves its managed daemons running on purpose (a restarted routerd
  # adopts them); the lab is going away, so end everything in its namespaces.
  for ns in "${NAMESPACES[@]}"; do
    pids="$(ns_pids "$ns" | tr '\n' ' ')"
    if [ -n "${pids// /}" ]; then
      echo "lab: stopping processes in $ns: $pids"
      # shellcheck disable=SC2086 # a list of pids
      kill -TERM $pids 2>/dev/null || true
      for ((i = 0; i < 30; i++)); do
        [ -z "$(ns_pids "$ns")" ] && break
        sleep 0.1
      done
      pids="$(ns_pids "$ns" | tr '\n' ' ')"
      # shellcheck disable=SC2086
      [ -z "${pids// /}" ] || kill -KILL $pids 2>/dev/null || true
    fi
  done
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then
      echo "lab: deleting namespace $ns"
      # A just-killed process may hold the namespace for a moment.
      wait_for 30 ip netns del "$ns" || ip netns del "$ns" || die "cannot delete namespace $ns"
    fi
    rm -rf "/etc/netns/${ns:?}"
  done
  rm -rf "${RUN_DIR:?}"
  echo "lab: down (logs and state kept in $STATE_DIR)"
}

# -------------------------------------------------------------------- up

build() {
  say "building routerd, routerctl and routerd-healthcheck (release)"
  find_cargo
  (cd "$REPO" && cargo build --release --bins --locked)
  local b
  for b in routerd routerctl routerd-healthcheck; do
    [ -x "$(bin_dir)/$b" ] || die "$(bin_dir)/$b is missing after the build"
  done
}

topology() {
  say "creating namespaces ${NAMESPACES[*]}"
  local ns
  for ns in "${NAMESPACES[@]}"; do
    make_ns "$ns"
  done

  # Links are created inside the WAN/LAN namespaces and their peers moved
  # straight into the router's, so nothing ever appears in the root namespace.
  in_ns "$NS_WAN" ip link add wan0 type veth peer name r1wan netns "$NS_R1"
  in_ns "$NS_LAN" ip link add lan0 type veth peer name r1lan netns "$NS_R1"

  # The WAN host: its side of the uplink, an "internet" address on lo, and
  # routes back to the LAN through the router (the lab does no NAT).
  in_ns "$NS_WAN" ip addr add 198.51.100.1/24 dev wan0
  in_ns "$NS_WAN" ip addr add 2001:db8:100::1/64 dev wan0
  in_ns "$NS_WAN" ip addr add 203.0.113.1/32 dev lo
  in_ns "$NS_WAN" ip link set wan0 up
  in_ns "$NS_WAN" ip route add 192.168.50.0/24 via 198.51.100.2
  in_ns "$NS_WAN" ip -6 route add fd00:50::/64 via 2001:db8:100::2

  # The LAN client, with default routes via the router's LAN addresses
  # (onlink: routerd has not put them on r1lan yet).
  in_ns "$NS_LAN" ip addr add 192.168.50.10/24 dev lan0
  in_ns "$NS_LAN" ip addr add fd00:50::10/64 dev lan0
  in_ns "$NS_LAN" ip link set lan0 up
  in_ns "$NS_LAN" ip route add default via 192.168.50.1 dev lan0
  in_ns "$NS_LAN" ip -6 route add default via fd00:50::1 dev lan0

  # The router's links are left down and bare: routerd does the rest.
}

start_routerd() {
  local config="$1" pid
  say "starting routerd serve in $NS_R1"
  mkdir -p "$STATE_DIR" "$RUN_DIR"
  : >"$LOG"
  echo "config:    $config"
  echo "state dir: $STATE_DIR"
  echo "socket:    $SOCKET"
  echo "log:       $LOG"
  if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
    echo "OTLP:      spans go to $OTEL_EXPORTER_OTLP_ENDPOINT, as seen from inside $NS_R1"
  fi
  # setsid + nohup: routerd outlives this script and the terminal.
  ip netns exec "$NS_R1" setsid nohup "$(bin_dir)/routerd" serve \
    -c "$config" --state-dir "$STATE_DIR" --socket "$SOCKET" \
    --sysctl-dir "$STATE_DIR/sysctl.d" \
    </dev/null >>"$LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$RUN_DIR/routerd.pid"
  disown "$pid" 2>/dev/null || true
  echo "pid:       $pid"
}

# True when every resource is Applied, Up or Healthy.
all_ready() {
  local json
  json="$(routerctl get all -o json 2>/dev/null)" || return 1
  jq -e 'length > 0 and all(.[]; .status.phase as $p | ["Applied", "Up", "Healthy"] | index($p))' \
    >/dev/null <<<"$json"
}

wait_ready() {
  say "waiting (at most ${READY_TIMEOUT}s) for every resource to be Applied, Up or Healthy"
  local start=$SECONDS i
  for ((i = 0; i < READY_TIMEOUT * 4; i++)); do
    if ! running "$(cat "$RUN_DIR/routerd.pid")"; then
      tail -n 30 "$LOG" >&2 || true
      die "routerd exited; its log is above and in $LOG"
    fi
    if all_ready; then
      echo "ready after $((SECONDS - start))s"
      return 0
    fi
    ((SECONDS - start >= READY_TIMEOUT)) && break
    sleep 0.25
  done
  echo "lab: not ready after ${READY_TIMEOUT}s; the end of routerd's log:" >&2
  tail -n 10 "$LOG" >&2 || true
  echo "lab: what routerd reports (resources not Applied/Up/Healthy are the problem):" >&2
  routerctl get all >&2 || true
  die "the lab did not converge within ${READY_TIMEOUT}s (routerd's log: $LOG)"
}

prove() {
  say "data plane: the LAN client reaches the internet through the router"
  echo "\$ ip netns exec $NS_LAN ping -c 3 -i 0.2 -W 1 203.0.113.1"
  in_ns "$NS_LAN" ping -c 3 -i 0.2 -W 1 203.0.113.1 \
    || die "IPv4 ping from the LAN client to 203.0.113.1 through the router failed"
  echo "\$ ip netns exec $NS_LAN ping -6 -c 3 -i 0.2 -W 1 2001:db8:100::1"
  in_ns "$NS_LAN" ping -6 -c 3 -i 0.2 -W 1 2001:db8:100::1 \
    || die "IPv6 ping from the LAN client to 2001:db8:100::1 through the router failed"
  echo "\$ ip netns exec $NS_LAN ip route get 203.0.113.1"
  in_ns "$NS_LAN" ip route get 203.0.113.1
  echo "\$ ip netns exec $NS_WAN ip route get 192.168.50.10"
  in_ns "$NS_WAN" ip route get 192.168.50.10
}

explore() {
  cat <<EOF

== the lab is up. Explore it:

  export ROUTERD_SOCKET=$SOCKET    # or pass --socket to routerctl
  alias routerctl=$(bin_dir)/routerctl

  routerctl status
  routerctl get all
  routerctl get ipv4staticaddress -o yaml
  routerctl describe HealthCheck uplink-v4
  routerctl events --follow            # Ctrl-C to stop
  routerctl daemon list
  routerctl actors

  ip netns exec $NS_R1 ip -br addr
  ip netns exec $NS_R1 ip route
  ip netns exec $NS_LAN ping -c 3 203.0.113.1

Drift repair: take an address away by hand and watch routerd put it back:
  ip netns exec $NS_R1 ip addr del 192.168.50.1/24 dev r1lan
  ip netns exec $NS_R1 ip -br addr show r1lan     # back within a second
  routerctl events | tail -n 3                     # ... DriftRepaired

Supervision: kill -9 a managed daemon; its supervisor restarts it at once:
  kill -9 "\$(routerctl daemon status healthcheck-uplink-v4 -o json | jq .supervisor.pid)"
  routerctl daemon list                            # a new pid, restarts 1

The daemon contract, by hand:
  curl -s --unix-socket $SOCKET http://x/v1/status | jq .
  curl -s --unix-socket $STATE_DIR/daemons/healthcheck-uplink-v4/daemon.sock http://x/v1/status | jq .

Log and state: $LOG, $STATE_DIR
Status:        sudo $0 status
Tear down:     sudo $0 down
EOF
}

# Tears a half-built lab down when `up` fails.
on_up_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "lab: up failed; tearing the lab down" >&2
    cmd_down >&2 || true
  fi
  exit "$rc"
}

cmd_up() {
  need_root up
  local config=""
  while [ $# -gt 0 ]; do
    case "$1" in
      -c | --config)
        [ $# -ge 2 ] || die "$1 needs a file"
        config="$(realpath "$2")"
        shift 2
        ;;
      *) die "unknown argument to up: $1 (try: $0 up -c FILE)" ;;
    esac
  done
  [ -z "$config" ] || [ -r "$config" ] || die "cannot read config $config"
  case "$config" in
    "$STATE_DIR"/*) die "$config is in $STATE_DIR, which up wipes; copy it elsewhere first" ;;
  esac

  say "dependencies"
  "$REPO/deploy/install-deps.sh"
  build

  # Validate before touching a running lab: a typo must not take it down.
  local staged=""
  if [ -z "$config" ]; then
    staged="$(mktemp /tmp/routerd-lab.XXXXXX.yaml)"
    default_config >"$staged"
    say "validating the embedded config"
  else
    say "validating $config"
  fi
  if ! "$(bin_dir)/routerd" validate -c "${config:-$staged}"; then
    rm -f "$staged"
    die "the config is not valid; nothing was changed"
  fi
  echo "valid"

  if lab_present; then
    say "the lab is already up: restarting it (down, then up)"
    cmd_down
  fi

  # A fresh lab: no generations or daemon state from an earlier run.
  rm -rf "${STATE_DIR:?}"
  mkdir -p "$STATE_DIR" "$RUN_DIR"
  if [ -z "$config" ]; then
    # routerd serves the file it was started with (routerctl reload re-reads it).
    config="$STATE_DIR/lab.yaml"
    mv "$staged" "$config"
    chmod 0644 "$config"
  fi

  # From here on, a failure would leave a half-built lab: tear it down on
  # any exit that is not success (the log in $STATE_DIR stays).
  trap on_up_exit EXIT
  topology
  start_routerd "$config"
  wait_for 100 test -S "$SOCKET" || die "routerd did not open $SOCKET within 10s (see $LOG)"
  wait_ready

  say "routerctl status"
  routerctl status
  say "routerctl get all"
  routerctl get all
  prove
  trap - EXIT
  explore
}

cmd_status() {
  need_root status
  local ns
  for ns in "${NAMESPACES[@]}"; do
    if ns_exists "$ns"; then echo "namespace $ns: present"; else echo "namespace $ns: absent"; fi
  done
  [ -S "$SOCKET" ] || die "no routerd socket at $SOCKET; is the lab up? (sudo $0 up)"
  say "routerctl status"
  routerctl status
  say "routerctl get all"
  routerctl get all
  say "routerctl daemon list"
  routerctl daemon list
}

main() {
  local cmd="${1:-up}"
  [ $# -eq 0 ] || shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
