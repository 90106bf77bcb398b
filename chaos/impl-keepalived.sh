# shellcheck shell=bash disable=SC2034 # the IMPL_* variables are read by the sourcing script
# Chaos and failover-bench hooks for keepalived 2.2.7 (Debian) as the VRRP
# implementation on r1/r2. Sourced by chaos/run.sh and deploy/failover-bench.sh
# after deploy/pair-topology.sh, so PAIR_PREFIX, pair_ns and pair_run_dir are set.
# The hook interface is described in chaos/impl-routerd.sh.
#
# keepalived has no control plane and no cluster link: it runs plain VRRPv3 on
# lan0 (VRID 51 for IPv4, 52 for IPv6 with the link-local VIP first), r1 at
# priority 200, r2 at 100, both starting as BACKUP. The witness runs nothing.
#
# Settings (environment):
#   ADVERT_INT           advert interval in seconds (default 0.1)
#   KEEPALIVED_PREEMPT   0 (default): nopreempt. 1: preempt, like the
#                        reference configs (the failover bench sets it). With
#                        preemption the hand-back to r1 after a fault is a real,
#                        short overlap: r1 adds the VIPs before r2 has heard
#                        its advert and dropped them. rdcheck caught it (one
#                        10 ms sample with both owners, seed 20260, right after
#                        kill-vrrp r1 and its restart); chaos runs therefore use
#                        nopreempt, which keepalived passes.

IMPL_NAME=keepalived

ka_dir() { echo "$(pair_run_dir)/keepalived-$1"; }

# The parent and VRRP child pids of NODE's keepalived, from its pid files.
ka_pids() {
  local d f pid
  d="$(ka_dir "$1")"
  for f in "$d/keepalived.pid" "$d/vrrp.pid"; do
    [ -r "$f" ] || continue
    pid="$(cat "$f" 2>/dev/null)"
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && echo "$pid"
  done
  return 0
}

ka_running() {
  local pid stat
  for pid in $(ka_pids "$1"); do
    stat="$(ps -o stat= -p "$pid" 2>/dev/null)" || continue
    [ "${stat:0:1}" != "Z" ] && return 0
  done
  return 1
}

ka_config() {
  local node="$1" prio advert="${ADVERT_INT:-0.1}" preempt=""
  case "$node" in
    r1) prio=200 ;;
    r2) prio=100 ;;
    *) return 1 ;;
  esac
  [ "${KEEPALIVED_PREEMPT:-0}" = 1 ] || preempt="nopreempt"
  cat <<EOF
global_defs {
  router_id $node
  vrrp_version 3
}
vrrp_instance V4 {
  state BACKUP
  interface lan0
  virtual_router_id 51
  priority $prio
  advert_int $advert
  $preempt
  virtual_ipaddress {
    $PAIR_VIP4/24 dev lan0
  }
}
vrrp_instance V6 {
  state BACKUP
  interface lan0
  virtual_router_id 52
  priority $prio
  advert_int $advert
  $preempt
  virtual_ipaddress {
    $PAIR_VIP6_LL/64 dev lan0
    $PAIR_VIP6/64 dev lan0
  }
}
EOF
}

impl_start() {
  local node="$1" d ns i
  case "$node" in r1 | r2) ;; *) return 0 ;; esac
  ka_running "$node" && return 0
  d="$(ka_dir "$node")"
  ns="$(pair_ns "$node")"
  mkdir -p "$d"
  ka_config "$node" >"$d/keepalived.conf"
  # Stale pid files make keepalived refuse to start.
  rm -f "$d/keepalived.pid" "$d/vrrp.pid"
  ip netns exec "$ns" setsid keepalived -P -n -l -D -G \
    -f "$d/keepalived.conf" -p "$d/keepalived.pid" -r "$d/vrrp.pid" \
    </dev/null >>"$d/keepalived.log" 2>&1 &
  disown $! 2>/dev/null || true
  # Started means both processes wrote their pid files.
  for ((i = 0; i < 50; i++)); do
    [ -s "$d/keepalived.pid" ] && [ -s "$d/vrrp.pid" ] && return 0
    sleep 0.1
  done
  echo "impl-keepalived: keepalived on $node did not start; see $d/keepalived.log" >&2
  return 1
}

# Stops keepalived and removes what a killed one left behind (its VIPs).
impl_stop() {
  local node="$1" pids i ns
  case "$node" in r1 | r2) ;; *) return 0 ;; esac
  pids="$(ka_pids "$node" | xargs)"
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      ka_running "$node" || break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    ka_running "$node" && kill -KILL $pids 2>/dev/null
  fi
  ns="$(pair_ns "$node")"
  ip -n "$ns" addr del "$PAIR_VIP4/24" dev lan0 2>/dev/null || true
  ip -n "$ns" addr del "$PAIR_VIP6_LL/64" dev lan0 2>/dev/null || true
  ip -n "$ns" addr del "$PAIR_VIP6/64" dev lan0 2>/dev/null || true
  return 0
}

# kill -9 of the whole daemon: the parent too, or it would respawn its VRRP
# child at once and the fault would be no fault.
impl_kill_vrrp() {
  local pids
  pids="$(ka_pids "$1" | xargs)"
  # shellcheck disable=SC2086 # a list of pids
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}

# keepalived has no separate control plane.
impl_kill_control() { return 0; }

# What a supervisor (systemd Restart=always) does: start it again if it is not running.
impl_restart_killed() {
  ka_running "$1" && return 0
  impl_start "$1"
}

impl_ready() {
  case "$1" in r1 | r2) ka_running "$1" ;; *) return 0 ;; esac
}

# keepalived has no committed configuration generation.
impl_generation() { return 1; }
IMPL_HAS_GENERATION=0
# kill-control would be a no-op: keepalived has no control plane.
IMPL_FAULT_KINDS="kill-vrrp cut-cluster lan-down"
