#!/usr/bin/env bash
# VRRP failover as a LAN client sees it, side by side for each implementation
# in one run: same topology (deploy/pair-topology.sh), same timers, same prober.
#
#   sudo deploy/failover-bench.sh                      # keepalived, 10 runs per case
#   sudo deploy/failover-bench.sh --impl keepalived --impl routerd
#   sudo deploy/failover-bench.sh --runs 20 --advert 0.1
#
# Options:
#   --impl NAME|FILE   an implementation's hooks (chaos/impl-NAME.sh); repeat. Default keepalived.
#   --runs N           failovers per implementation and advert interval (default 10)
#   --advert S         an advert interval in seconds; repeat (default 0.1 and 1)
#   --no-build         use the rdprobe already built
#
# One run: start the pair, wait until one router holds every VIP (stable for
# 1 s), start rdprobe in the client (ICMP to the WAN host every 10 ms, IPv4 and
# IPv6 at once), then at the same moment kill -9 the master's VRRP daemon and
# take its lan0 down (a killed keepalived leaves its VIPs in place and would
# keep answering), and take the largest gap between replies once traffic is
# back (20 replies in a row) as the client-observed outage. Then restore and
# stop everything, so each run starts cold. Prints median and p90 per case, and
# the ratio to keepalived for the other implementations.
#
# Reference (shared/fixtures/peers/README.md): keepalived 2.2.7 at 0.1 s adverts,
# 296 ms IPv4 / 330 ms IPv6; at 1 s, 2938 / 2940 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

IMPLS=()
ADVERTS=()
RUNS=10
BUILD=1
die() {
  echo "failover-bench: ERROR: $*" >&2
  exit 1
}
while [ $# -gt 0 ]; do
  case "$1" in
    --impl | --runs | --advert)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --impl) IMPLS+=("$2") ;;
        --runs) RUNS="$2" ;;
        --advert) ADVERTS+=("$2") ;;
      esac
      shift 2
      ;;
    --no-build)
      BUILD=0
      shift
      ;;
    -h | --help)
      sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
done
[ ${#IMPLS[@]} -gt 0 ] || IMPLS=(keepalived)
[ ${#ADVERTS[@]} -gt 0 ] || ADVERTS=(0.1 1)
if ! [[ "$RUNS" =~ ^[1-9][0-9]*$ ]]; then die "--runs wants a positive number"; fi
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); run: sudo $0 $*"
for t in ip jq awk; do command -v "$t" >/dev/null || die "$t is missing (deploy/install-deps.sh)"; done

# RDPROBE=path uses that binary and builds nothing.
[ -z "${RDPROBE:-}" ] || BUILD=0
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
RDPROBE="${RDPROBE:-$BIN/rdprobe}"
if [ "$BUILD" = 1 ]; then
  command -v cargo >/dev/null || die "cargo is not on root's PATH; try: sudo env PATH=\"\$PATH\" $0"
  echo "== cargo build --release -p routerd-chaos (target dir ${CARGO_TARGET_DIR:-$ROOT/target})"
  cargo build --release --locked -p routerd-chaos --bins
fi
[ -x "$RDPROBE" ] || die "$RDPROBE is missing (build without --no-build)"

WORK="$(mktemp -d /tmp/routerd-failover.XXXXXX)"
export PAIR_PREFIX="rdfo-$$"
# shellcheck source=pair-topology.sh
source "$ROOT/deploy/pair-topology.sh"

PROBE_PID=""
cleanup() {
  local rc=$? n
  trap - EXIT INT TERM
  set +e
  [ -z "$PROBE_PID" ] || kill -TERM "$PROBE_PID" 2>/dev/null
  if declare -F impl_stop >/dev/null; then
    for n in "${PAIR_NODES[@]}"; do impl_stop "$n" >/dev/null 2>&1; done
  fi
  pair_down
  echo "(raw results in $WORK)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pair_up || die "could not build the topology"

impl_file() {
  case "$1" in
    */*) realpath "$1" ;;
    *) echo "$ROOT/chaos/impl-$1.sh" ;;
  esac
}

# One failover; appends "v4_gap v6_gap" (ms) to $1, or returns 1.
one_run() {
  local out="$1" i m n ns json gaps
  for n in "${PAIR_NODES[@]}"; do impl_start "$n" || return 1; done
  m="$(pair_wait_master 300 10)" || {
    echo "   no stable master within 30 s" >&2
    return 1
  }
  ns="$(pair_ns "$m")"
  json="$WORK/probe-$IMPL_NAME-$ADVERT_INT-$RANDOM.json"
  rm -f "$WORK/ready"
  "$RDPROBE" --netns "$(pair_ns client)" --until-recovered-after-loss 20 --duration 30s \
    --ready-file "$WORK/ready" --output "$json" "$PAIR_WAN_HOST4" "$PAIR_WAN_HOST6" 2>>"$WORK/rdprobe.log" &
  PROBE_PID=$!
  for ((i = 0; i < 100; i++)); do
    [ -e "$WORK/ready" ] && break
    sleep 0.1
  done
  [ -e "$WORK/ready" ] || {
    echo "   rdprobe got no replies within 10 s" >&2
    return 1
  }
  sleep 0.3
  # The master dies: its VRRP daemon and its LAN link at the same moment.
  local kill_pid link_pid
  impl_kill_vrrp "$m" &
  kill_pid=$!
  ip -n "$ns" link set lan0 down &
  link_pid=$!
  wait "$kill_pid" "$link_pid" || true
  wait "$PROBE_PID" || true
  PROBE_PID=""
  ip -n "$ns" link set lan0 up
  for n in "${PAIR_NODES[@]}"; do impl_stop "$n"; done
  [ "$(jq -r .stopped_by "$json")" = recovered ] || {
    echo "   traffic did not recover within 30 s" >&2
    return 1
  }
  gaps="$(jq -r '[.streams[] | .max_gap_ms | round] | join(" ")' "$json")"
  echo "$gaps" >>"$out"
  echo "   run: master $m, gap v4 ${gaps% *} ms, v6 ${gaps#* } ms"
}

# median and p90 (nearest rank) of column $2 of file $1.
stats() {
  awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- -"; exit }
      med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      r = int((90 * NR + 99) / 100); if (r < 1) r = 1
      printf "%d %d\n", med, v[r]
    }'
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
for impl in "${IMPLS[@]}"; do
  f="$(impl_file "$impl")"
  [ -r "$f" ] || die "no hook file $f"
  # shellcheck disable=SC1090
  source "$f"
  # The reference configs preempt: the higher priority (r1) is master at each start.
  export KEEPALIVED_PREEMPT=1
  for adv in "${ADVERTS[@]}"; do
    export ADVERT_INT="$adv"
    echo "== $IMPL_NAME, advert ${adv}s, $RUNS runs"
    data="$WORK/$IMPL_NAME-$adv.txt"
    : >"$data"
    for ((r = 1; r <= RUNS; r++)); do
      one_run "$data" || echo "   run $r failed; not counted" >&2
    done
    read -r m4 p4 <<<"$(stats "$data" 1)"
    read -r m6 p6 <<<"$(stats "$data" 2)"
    echo "$IMPL_NAME $adv v4 $(wc -l <"$data") $m4 $p4" >>"$RESULTS"
    echo "$IMPL_NAME $adv v6 $(wc -l <"$data") $m6 $p6" >>"$RESULTS"
  done
done

echo
echo "== client-observed failover (kill -9 + lan0 down on the master), ms"
printf '%-12s %7s %-6s %5s %8s %8s %s\n' implementation advert family runs median p90 "vs keepalived (median)"
while read -r name adv fam n med p90; do
  ratio=""
  if [ "$name" != keepalived ]; then
    ref="$(awk -v a="$adv" -v f="$fam" '$1 == "keepalived" && $2 == a && $3 == f { print $5 }' "$RESULTS")"
    if [ -n "$ref" ] && [ "$ref" != - ] && [ "$med" != - ]; then
      ratio="$(awk -v a="$med" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2fx", a / b }')"
    fi
  fi
  printf '%-12s %6ss %-6s %5s %8s %8s %s\n' "$name" "$adv" "$fam" "$n" "$med" "$p90" "$ratio"
done <"$RESULTS"
echo "(reference, keepalived 2.2.7 here earlier: 0.1 s 296 v4 / 330 v6; 1 s 2938 / 2940)"
