#!/usr/bin/env bash
# The chaos runner: random faults against an HA pair, judged by rdcheck.
#
#   sudo chaos/run.sh --short                     # CI: <= 3 minutes, 40 faults at most
#   sudo chaos/run.sh --long --faults 1000        # hours
#   sudo chaos/run.sh --seed 1234 --faults 20     # replay a run (the seed is printed)
#
# Options:
#   --impl NAME|FILE   hooks to use: keepalived (default), routerd, or a hook file
#   --faults N         at most N faults        --time S    loop for at most S seconds
#   --seed N           RNG seed (default: random, printed)
#   --prefix P         namespace prefix (default rdchaos-PID)
#   --advert S         VRRP advert interval in seconds (default 0.1)
#   --out DIR          keep the run's files here (default: a new /tmp/routerd-chaos.* dir)
#   --keep             leave the lab up at the end (tear down: deploy/pair-topology.sh down P)
#
# Each fault is picked (seeded) among: kill-vrrp (kill -9 the VRRP daemon of a
# random router, then restart it as a supervisor would), kill-control (the
# same for the control plane), cut-cluster (an nftables table in one node's
# namespace dropping everything on cl0, deleted on heal) and lan-down (ip link
# set lan0 down on a router, then up). The runner declares each fault's window
# to rdcheck (JSON lines in faults.jsonl), heals it, waits (with deadlines) until
# every VIP has one owner, every node is ready and the client reaches the WAN
# through the VIPs, then lets the pair settle before the next fault.
#
# rdcheck samples the VIP owners every 10 ms for the whole run and judges:
# never two owners (faults or not), no ownerless VIP outside fault windows plus
# grace, no client-observed traffic gap over the bound (rdprobe, v4 and v6 at
# 10 ms), and, where the implementation has one, equal committed generations.
# Exit status: 0 when rdcheck passes and every recovery met its deadline.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

# ---------------------------------------------------------------- arguments

MAX_FAULTS=40
MAX_TIME=150
SEED=""
IMPL=keepalived
PREFIX="rdchaos-$$"
ADVERT=0.1
OUT=""
KEEP=0
RESTART_DELAY="${CHAOS_RESTART_DELAY:-0.1}" # systemd's default RestartSec
RECOVERY_TIMEOUT="${CHAOS_RECOVERY_TIMEOUT:-20}"

die() {
  echo "chaos: ERROR: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --short)
      MAX_FAULTS=40
      MAX_TIME=150
      shift
      ;;
    --long)
      MAX_FAULTS=1000
      MAX_TIME=$((6 * 3600))
      shift
      ;;
    --faults | --time | --seed | --impl | --prefix | --advert | --out)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --faults) MAX_FAULTS="$2" ;;
        --time) MAX_TIME="$2" ;;
        --seed) SEED="$2" ;;
        --impl) IMPL="$2" ;;
        --prefix) PREFIX="$2" ;;
        --advert) ADVERT="$2" ;;
        --out) OUT="$2" ;;
      esac
      shift 2
      ;;
    --keep)
      KEEP=1
      shift
      ;;
    -h | --help)
      sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); run: sudo $0 $*"
[[ "$MAX_FAULTS" =~ ^[0-9]+$ ]] || die "--faults wants a number"
[[ "$MAX_TIME" =~ ^[0-9]+$ ]] || die "--time wants a number of seconds"
[ -n "$SEED" ] || SEED=$(((RANDOM << 15) | RANDOM))
[[ "$SEED" =~ ^[0-9]+$ ]] || die "--seed wants a number"
case "$IMPL" in
  keepalived | routerd) IMPL_FILE="$HERE/impl-$IMPL.sh" ;;
  *) IMPL_FILE="$(realpath "$IMPL")" ;;
esac
[ -r "$IMPL_FILE" ] || die "no hook file $IMPL_FILE"

# The measuring tools: given, or built (release) into the target directory.
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"
RDPROBE="${RDPROBE:-$BIN/rdprobe}"
RDCHECK="${RDCHECK:-$BIN/rdcheck}"
if [ ! -x "$RDPROBE" ] || [ ! -x "$RDCHECK" ]; then
  command -v cargo >/dev/null || die "rdprobe/rdcheck are not built and cargo is not on PATH"
  echo "chaos: building rdprobe and rdcheck (release)"
  (cd "$REPO" && cargo build --release --locked -p routerd-chaos --bins)
fi
for b in "$RDPROBE" "$RDCHECK"; do [ -x "$b" ] || die "$b is missing"; done
for t in ip nft; do command -v "$t" >/dev/null || die "$t is missing (run deploy/install-deps.sh)"; done

[ -n "$OUT" ] || OUT="$(mktemp -d /tmp/routerd-chaos.XXXXXX)"
mkdir -p "$OUT"
OUT="$(realpath "$OUT")"
FAULTS="$OUT/faults.jsonl"
: >"$FAULTS"

# ------------------------------------------------------- topology and hooks

export PAIR_PREFIX="$PREFIX" ADVERT_INT="$ADVERT"
# shellcheck source=../deploy/pair-topology.sh
source "$REPO/deploy/pair-topology.sh"
# Defaults for the optional hooks, then the implementation's.
impl_ready() { return 0; }
IMPL_HAS_GENERATION=0
IMPL_FAULT_KINDS="kill-vrrp kill-control cut-cluster lan-down"
# shellcheck disable=SC1090
source "$IMPL_FILE"
for h in impl_start impl_stop impl_kill_vrrp impl_kill_control impl_restart_killed impl_generation; do
  declare -F "$h" >/dev/null || die "$IMPL_FILE does not define $h"
done

# A hook entry point for rdcheck's convergence commands.
cat >"$OUT/hook.sh" <<EOF
#!/usr/bin/env bash
# Calls one hook of $IMPL_FILE for lab $PREFIX: hook.sh HOOK NODE
export PAIR_PREFIX='$PREFIX' ADVERT_INT='$ADVERT'
source '$REPO/deploy/pair-topology.sh'
source '$IMPL_FILE'
"\$@"
EOF
chmod +x "$OUT/hook.sh"

PROBE_PID=""
CHECK_PID=""
cleanup() {
  local rc=$? n
  trap - EXIT INT TERM
  set +e
  [ -z "$PROBE_PID" ] || kill -TERM "$PROBE_PID" 2>/dev/null
  [ -z "$CHECK_PID" ] || kill -TERM "$CHECK_PID" 2>/dev/null
  wait 2>/dev/null
  if [ "$KEEP" = 1 ]; then
    echo "chaos: lab $PREFIX left up (tear down: $REPO/deploy/pair-topology.sh down $PREFIX)"
  else
    for n in "${PAIR_NODES[@]}"; do impl_stop "$n" >/dev/null 2>&1; done
    pair_down
  fi
  echo "chaos: files in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_ms() { date +%s%3N; }
log() { printf '%s chaos: %s\n' "$(date +%T.%3N)" "$*"; }

# Seeded choices from our own generator, in this shell: bash reseeds RANDOM
# in every subshell, so `$(...)` around it would make runs unrepeatable.
# Each function leaves its result in REPLY.
RNG_STATE=$((SEED % 2147483648))
rand() {
  RNG_STATE=$(((RNG_STATE * 1103515245 + 12345) % 2147483648))
  REPLY=$(((RNG_STATE >> 8) % $1))
}
pick() {
  local -a items
  read -r -a items <<<"$1"
  rand "${#items[@]}"
  REPLY="${items[$REPLY]}"
}
# rand_secs MIN_MS SPAN_MS: MIN_MS plus up to SPAN_MS, in seconds for sleep.
rand_secs() {
  rand "$2"
  local ms=$(($1 + REPLY))
  printf -v REPLY '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

fault_event() {
  local event="$1" id="$2" kind="${3:-}" node="${4:-}"
  printf '{"at_ms":%s,"event":"%s","id":%d,"kind":"%s","node":"%s"}\n' \
    "$(now_ms)" "$event" "$id" "$kind" "$node" >>"$FAULTS"
}

client_reaches_wan() {
  ip netns exec "$(pair_ns client)" ping -c 1 -W 1 "$PAIR_WAN_HOST4" >/dev/null 2>&1 \
    && ip netns exec "$(pair_ns client)" ping -6 -c 1 -W 1 "$PAIR_WAN_HOST6" >/dev/null 2>&1
}

all_ready() {
  local n
  for n in "${PAIR_NODES[@]}"; do impl_ready "$n" || return 1; done
}

# Waits up to SECONDS for: every node ready, every VIP one owner, the client
# through. Prints how long it took (ms).
wait_recovered() {
  local limit_ms=$(($1 * 1000)) t0
  t0=$(now_ms)
  while (($(now_ms) - t0 < limit_ms)); do
    if all_ready && pair_vips_owned && client_reaches_wan; then
      echo $(($(now_ms) - t0))
      return 0
    fi
    sleep 0.1
  done
  return 1
}

cut_cluster() {
  ip netns exec "$(pair_ns "$1")" nft -f - <<'EOF'
table inet chaos_cut {
  chain cut_in { type filter hook input priority -300; policy accept; iifname "cl0" drop; }
  chain cut_out { type filter hook output priority -300; policy accept; oifname "cl0" drop; }
  chain cut_fwd { type filter hook forward priority -300; policy accept; iifname "cl0" drop; oifname "cl0" drop; }
}
EOF
}
heal_cluster() { ip netns exec "$(pair_ns "$1")" nft delete table inet chaos_cut; }

# -------------------------------------------------------------------- setup

log "seed $SEED (replay: $0 --seed $SEED --faults $MAX_FAULTS --time $MAX_TIME --impl $IMPL --advert $ADVERT)"
log "implementation $IMPL_NAME ($IMPL_FILE), lab $PREFIX, advert ${ADVERT}s, files in $OUT"
pair_up || die "could not build the topology"
for n in "${PAIR_NODES[@]}"; do impl_start "$n" || die "impl_start $n failed"; done
wait_recovered 30 >/dev/null || die "the pair did not come up (every VIP owned, client through) within 30s"
log "pair up: v4 VIP on $(pair_vip_holders "$PAIR_VIP4" | xargs), v6 on $(pair_vip_holders "$PAIR_VIP6" | xargs)"

# Bounds scale with the advert interval: a failover takes about 3.5 adverts.
ADV_MS=$(awk -v a="$ADVERT" 'BEGIN { printf "%d", a * 1000 }')
MAX_GAP_MS=$((2000 + 6 * ADV_MS))
GRACE_MS=$((3000 + 4 * ADV_MS))
CONVERGE=()
if [ "$IMPL_HAS_GENERATION" = 1 ]; then
  for n in "${PAIR_NODES[@]}"; do CONVERGE+=(--converge "$n=$OUT/hook.sh impl_generation $n"); done
fi
"$RDCHECK" --router "r1=$(pair_ns r1)" --router "r2=$(pair_ns r2)" \
  --vip "lan0=$PAIR_VIP4" --vip "lan0=$PAIR_VIP6_LL" --vip "lan0=$PAIR_VIP6" \
  --faults "$FAULTS" --grace "${GRACE_MS}ms" --max-ownerless 1s \
  --probe "$OUT/probe.json" --max-gap "${MAX_GAP_MS}ms" \
  --duration "$((MAX_TIME + 600))s" --json "$OUT/verdict.json" "${CONVERGE[@]}" \
  2>"$OUT/rdcheck.log" &
CHECK_PID=$!
"$RDPROBE" --netns "$(pair_ns client)" --duration "$((MAX_TIME + 600))s" \
  --ready-file "$OUT/probe.ready" --output "$OUT/probe.json" \
  "$PAIR_WAN_HOST4" "$PAIR_WAN_HOST6" 2>"$OUT/rdprobe.log" &
PROBE_PID=$!
for ((i = 0; i < 100; i++)); do
  [ -e "$OUT/probe.ready" ] && break
  sleep 0.1
done
[ -e "$OUT/probe.ready" ] || die "rdprobe got no replies within 10s (see $OUT/rdprobe.log)"

# --------------------------------------------------------------- the faults

RECOVERY_FAILED=0
START=$SECONDS
done_faults=0
declare -A KIND_COUNT=()
for ((id = 1; id <= MAX_FAULTS; id++)); do
  ((SECONDS - START < MAX_TIME)) || break
  pick "$IMPL_FAULT_KINDS"
  kind="$REPLY"
  case "$kind" in
    cut-cluster) pick "${PAIR_NODES[*]}" ;;
    *) pick "${PAIR_ROUTERS[*]}" ;;
  esac
  node="$REPLY"
  rand_secs 200 2300
  hold="$REPLY"
  rand_secs 300 1000
  settle="$REPLY"
  holders="v4:$(pair_vip_holders "$PAIR_VIP4" | xargs) v6:$(pair_vip_holders "$PAIR_VIP6" | xargs)"

  fault_event start "$id" "$kind" "$node"
  case "$kind" in
    kill-vrrp)
      impl_kill_vrrp "$node"
      hold="$RESTART_DELAY"
      sleep "$hold"
      impl_restart_killed "$node"
      ;;
    kill-control)
      impl_kill_control "$node"
      hold="$RESTART_DELAY"
      sleep "$hold"
      impl_restart_killed "$node"
      ;;
    cut-cluster)
      cut_cluster "$node"
      sleep "$hold"
      heal_cluster "$node"
      ;;
    lan-down)
      ip -n "$(pair_ns "$node")" link set lan0 down
      sleep "$hold"
      ip -n "$(pair_ns "$node")" link set lan0 up
      ;;
  esac
  fault_event end "$id"
  if took="$(wait_recovered "$RECOVERY_TIMEOUT")"; then
    log "fault $id: $kind $node (owners before: $holders; held ${hold}s): recovered in ${took} ms"
  else
    log "fault $id: $kind $node: NOT recovered within ${RECOVERY_TIMEOUT}s; stopping"
    pair_status >&2 || true
    RECOVERY_FAILED=1
    break
  fi
  KIND_COUNT[$kind]=$((${KIND_COUNT[$kind]:-0} + 1))
  done_faults=$((done_faults + 1))
  sleep "$settle"
done

# ---------------------------------------------------------------- judgement

summary=""
for k in "${!KIND_COUNT[@]}"; do summary+=" $k=${KIND_COUNT[$k]}"; done
log "$done_faults faults in $((SECONDS - START))s:$summary"
kill -INT "$PROBE_PID" 2>/dev/null || true
wait "$PROBE_PID" || true
PROBE_PID=""
fault_event stop 0
check_rc=0
wait "$CHECK_PID" || check_rc=$?
CHECK_PID=""
cat "$OUT/rdcheck.log"
if [ "$check_rc" -eq 0 ] && [ "$RECOVERY_FAILED" = 0 ]; then
  log "PASS (seed $SEED)"
  exit 0
fi
[ "$RECOVERY_FAILED" = 0 ] || log "a recovery missed its deadline"
log "FAIL (seed $SEED; verdict in $OUT/verdict.json)"
exit 1
