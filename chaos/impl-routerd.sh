# shellcheck shell=bash
# Chaos, failover-bench and lab hooks for routerd: routerd + routerd-vrrp on
# r1/r2, routerd --witness on w, one shared config (the cluster, and the VRRP
# groups with a priority per router through metadata.nodes).
#
# The hook interface is described in chaos/impl-keepalived.sh and
# chaos/README.md. Sourced after deploy/pair-topology.sh. Binaries come from
# $RD_BIN_DIR (default: the release build of this checkout).
#
# Settings (environment):
#   ADVERT_INT     VRRP advert interval in seconds (default 0.1)
#   RD_LEASE       ownership lease (default 200ms)
#   RD_PREEMPT     true/false (default false, like the keepalived hooks)
#   RD_CONFIG      use this Router document instead of the generated one

IMPL_NAME=routerd
IMPL_HAS_GENERATION=1
IMPL_FAULT_KINDS="kill-vrrp kill-control cut-cluster lan-down"

RD_REPO="${RD_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
RD_BIN_DIR="${RD_BIN_DIR:-${CARGO_TARGET_DIR:-$RD_REPO/target}/release}"
RD_PORT=7946

rd_dir() { echo "$(pair_run_dir)/routerd-$1"; }
rd_socket() { echo "$(rd_dir "$1")/routerd.sock"; }
rd_ctl() {
  local node="$1"
  shift
  timeout 10 "$RD_BIN_DIR/routerctl" --socket "$(rd_socket "$node")" "$@"
}

# routerd's pid, from its pid file, if it is alive (and not a zombie).
rd_pid() {
  local f pid stat
  f="$(rd_dir "$1")/routerd.pid"
  [ -r "$f" ] || return 1
  pid="$(cat "$f" 2>/dev/null)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  stat="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
  [ "${stat:0:1}" != "Z" ] || return 1
  echo "$pid"
}

# Pids of the node's routerd-vrrp daemons (from their pid files).
rd_vrrp_pids() {
  local f pid
  for f in "$(rd_dir "$1")"/state/daemons/vrrp-*/pid; do
    [ -r "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null)"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
  done
  return 0
}

rd_config() {
  local advert_ms preempt="${RD_PREEMPT:-false}" lease="${RD_LEASE:-200ms}"
  if [ -n "${RD_CONFIG:-}" ]; then
    cat "$RD_CONFIG"
    return
  fi
  advert_ms="$(awk -v a="${ADVERT_INT:-0.1}" 'BEGIN { printf "%d", a * 1000 }')"
  cat <<EOF
# The paired branch: two routers and a witness replicate this document
# through Raft; each router applies the resources not pinned to the other.
apiVersion: routerd.net/v1alpha1
kind: Router
metadata:
  name: branch-pair
spec:
  resources:
    - apiVersion: system.routerd.net/v1alpha1
      kind: RouterdCluster
      metadata:
        name: branch
      spec:
        peers:
          - { name: r1, id: 1, address: "$(pair_cl4 r1):$RD_PORT" }
          - { name: r2, id: 2, address: "$(pair_cl4 r2):$RD_PORT" }
          - { name: w, id: 3, address: "$(pair_cl4 w):$RD_PORT", witness: true }
        leaseTTL: $lease
        tls:
          dir: $(pair_run_dir)/tls
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata:
        name: lan
      spec:
        ifname: lan0
        managed: false
EOF
  local node prio
  for node in r1 r2; do
    case "$node" in r1) prio=200 ;; r2) prio=100 ;; esac
    # Each router's own LAN addresses, kept by routerd: a LAN link that goes
    # down loses its IPv6 addresses in the kernel, and without its own
    # fd00:99::N the router has no route to the LAN whenever the VIP is
    # briefly gone.
    cat <<EOF
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata:
        name: lan-v4-$node
        nodes: [$node]
      spec:
        interface: lan
        address: $(pair_lan4 "$node")/24
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata:
        name: lan-v6-$node
        nodes: [$node]
      spec:
        interface: lan
        address: $(pair_lan6 "$node")/64
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata:
        name: gw-v4-$node
        nodes: [$node]
      spec:
        interface: lan
        address: $PAIR_VIP4/24
        vrrp:
          virtualRouterID: 51
          priority: $prio
          preempt: $preempt
          advertInterval: ${advert_ms}ms
    - apiVersion: net.routerd.net/v1alpha1
      kind: VirtualAddress
      metadata:
        name: gw-v6-$node
        nodes: [$node]
      spec:
        interface: lan
        address: $PAIR_VIP6/64
        vrrp:
          virtualRouterID: 52
          priority: $prio
          preempt: $preempt
          advertInterval: ${advert_ms}ms
          linkLocalAddress: $PAIR_VIP6_LL
EOF
  done
}

# The cluster CA and node certificates, once per lab.
rd_pki() {
  local tls
  tls="$(pair_run_dir)/tls"
  [ -s "$tls/ca.pem" ] && [ -s "$tls/w.key" ] && return 0
  "$RD_BIN_DIR/routerctl" cluster init --out "$tls" \
    --node "r1=$(pair_cl4 r1)" --node "r2=$(pair_cl4 r2)" --node "w=$(pair_cl4 w)" >/dev/null
}

impl_start() {
  local node="$1" d ns i extra=()
  d="$(rd_dir "$node")"
  rd_pid "$node" >/dev/null && return 0
  ns="$(pair_ns "$node")"
  mkdir -p "$d/state"
  rd_pki || return 1
  rd_config >"$d/router.yaml"
  [ "$node" = w ] && extra=(--witness)
  ip netns exec "$ns" setsid "$RD_BIN_DIR/routerd" serve -c "$d/router.yaml" --node "$node" \
    "${extra[@]}" --state-dir "$d/state" --socket "$(rd_socket "$node")" \
    --sysctl-dir "$d/sysctl.d" --daemon-dir "$RD_BIN_DIR" \
    </dev/null >>"$d/routerd.log" 2>&1 &
  echo $! >"$d/routerd.pid"
  disown $! 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    rd_ctl "$node" status -o json >/dev/null 2>&1 && return 0
    rd_pid "$node" >/dev/null || break
    sleep 0.1
  done
  echo "impl-routerd: routerd on $node did not come up; see $d/routerd.log" >&2
  tail -n 20 "$d/routerd.log" >&2
  return 1
}

impl_stop() {
  local node="$1" pid i vp ns
  vp="$(rd_vrrp_pids "$node" | xargs)"
  if pid="$(rd_pid "$node")"; then
    rd_ctl "$node" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      rd_pid "$node" >/dev/null || break
      sleep 0.1
    done
    pid="$(rd_pid "$node")" && kill -KILL "$pid" 2>/dev/null
  fi
  # Managed daemons outlive routerd by design; a stopped lab stops them too.
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$vp" ] || kill -TERM $vp 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    [ -z "$(rd_vrrp_pids "$node")" ] && break
    sleep 0.1
  done
  vp="$(rd_vrrp_pids "$node" | xargs)"
  # shellcheck disable=SC2086
  [ -z "$vp" ] || kill -KILL $vp 2>/dev/null || true
  case "$node" in
    r1 | r2)
      ns="$(pair_ns "$node")"
      ip -n "$ns" addr del "$PAIR_VIP4/24" dev lan0 2>/dev/null || true
      ip -n "$ns" addr del "$PAIR_VIP6_LL/64" dev lan0 2>/dev/null || true
      ip -n "$ns" addr del "$PAIR_VIP6/64" dev lan0 2>/dev/null || true
      ;;
  esac
  rm -rf "$(rd_dir "$node")"
  return 0
}

impl_kill_vrrp() {
  local vp
  vp="$(rd_vrrp_pids "$1" | xargs)"
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$vp" ] || kill -KILL $vp 2>/dev/null || true
}

impl_kill_control() {
  local pid
  pid="$(rd_pid "$1")" && kill -KILL "$pid" 2>/dev/null
  return 0
}

# What systemd does for routerd; routerd itself restarts routerd-vrrp.
impl_restart_killed() {
  rd_pid "$1" >/dev/null && return 0
  local d
  d="$(rd_dir "$1")"
  [ -s "$d/router.yaml" ] || {
    impl_start "$1"
    return
  }
  local ns extra=()
  ns="$(pair_ns "$1")"
  [ "$1" = w ] && extra=(--witness)
  ip netns exec "$ns" setsid "$RD_BIN_DIR/routerd" serve -c "$d/router.yaml" --node "$1" \
    "${extra[@]}" --state-dir "$d/state" --socket "$(rd_socket "$1")" \
    --sysctl-dir "$d/sysctl.d" --daemon-dir "$RD_BIN_DIR" \
    </dev/null >>"$d/routerd.log" 2>&1 &
  echo $! >"$d/routerd.pid"
  disown $! 2>/dev/null || true
  local i
  for ((i = 0; i < 300; i++)); do
    rd_ctl "$1" status -o json >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# Back: routerd answers, the node knows a leader, and a router's VRRP
# daemons run.
impl_ready() {
  local node="$1" j
  j="$(rd_ctl "$node" cluster status -o json 2>/dev/null)" || return 1
  [ "$(jq -r '.raft.leader // empty' <<<"$j")" != "" ] || return 1
  case "$node" in
    r1 | r2) [ "$(rd_vrrp_pids "$node" | wc -l)" -ge 2 ] ;;
    *) return 0 ;;
  esac
}

impl_generation() {
  rd_ctl "$1" cluster status -o json 2>/dev/null | jq -er '.generation.served'
}
