#!/usr/bin/env bash
# routerd-bgp against BIRD 2, FRR (bgpd + zebra) and GoBGP, side by side in one
# run, each fed by the same sender over a veth.
#
#   sudo deploy/bench-bgp.sh                 # 5 timed runs per figure and receiver
#   sudo deploy/bench-bgp.sh --runs 10
#   sudo deploy/bench-bgp.sh --only bird,frr # a subset of the receivers
#   sudo deploy/bench-bgp.sh --no-build      # reuse the release binaries already built
#   sudo deploy/bench-bgp.sh --skip-v6 --skip-bfd
#
# Figures (docs/benchmarks.md explains each one and its method):
#   1. 100k IPv4 prefixes: the sender's Established → all in the receiver's RIB,
#      and → all in its kernel table (GoBGP: RIB only, it has no FIB writer)
#   2. VmRSS after those 100k (FRR: bgpd + zebra, summed)
#   3. the same for 20k IPv6 prefixes (an IPv6 session, MP_REACH_NLRI)
#   4. BFD 50 ms x 3 on the session: all the sender's packets dropped silently
#      (nft in its namespace), until the learned routes are gone from the
#      receiver's kernel (routerd-bgp, BIRD, FRR)
# Goals: ingest ≤ 1.0x BIRD (RIB and kernel), RSS ≤ 2x BIRD, BFD ≤ 150 ms.
#
# The sender is routing/bgp/bench's bench-sender, not BIRD: BIRD 2 as a
# sender may hold its last UPDATE until its next keepalive. Each run gets fresh
# namespaces (rdbgp-PID-snd/-rcv) and a fresh receiver; a trap kills whatever
# runs in them and deletes them on exit, also on failure or Ctrl-C. Nothing
# runs in the host's namespace. routerd-bgp is measured when it is built (or
# builds); otherwise the peers are measured and the table says so. A missed
# goal is MISSED and still exits 0; a figure that could not be measured is
# ERROR (exit 1).
# shellcheck disable=SC2317 # start_NAME and the rounds' functions are called through variables
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUNS=5
BUILD=1
ONLY=""
DO_V6=1
DO_BFD=1
V4_COUNT=100000
V6_COUNT=20000
BFD_COUNT=1000
die() {
  echo "deploy/bench-bgp.sh: $*" >&2
  exit 1
}
while [ $# -gt 0 ]; do
  case "$1" in
    --runs | --only | --prefixes | --v6-prefixes | --bfd-prefixes)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --runs) RUNS=$2 ;;
        --only) ONLY=$2 ;;
        --prefixes) V4_COUNT=$2 ;;
        --v6-prefixes) V6_COUNT=$2 ;;
        --bfd-prefixes) BFD_COUNT=$2 ;;
      esac
      shift 2
      ;;
    --no-build) BUILD=0 && shift ;;
    --skip-v6) DO_V6=0 && shift ;;
    --skip-bfd) DO_BFD=0 && shift ;;
    -h | --help)
      sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
done
for n in "$RUNS" "$V4_COUNT" "$V6_COUNT" "$BFD_COUNT"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "counts and --runs want positive numbers"
done
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); run: sudo $0 $*"
for tool in ip python3 nft ss; do
  command -v "$tool" > /dev/null || die "$tool is missing (iproute2, python3, nftables)"
done

# ---------------------------------------------------------------------------
# Receivers: which exist here, which were asked for
# ---------------------------------------------------------------------------
FRR_DIR=/usr/lib/frr
ALL=(routerd bird frr gobgp)
declare -A WHY_NOT=() # receiver -> why it is not measured
command -v bird > /dev/null && command -v birdc > /dev/null || WHY_NOT[bird]="bird2 is not installed"
[ -x "$FRR_DIR/bgpd" ] && [ -x "$FRR_DIR/zebra" ] && [ -x "$FRR_DIR/bfdd" ] || WHY_NOT[frr]="frr is not installed"
command -v gobgpd > /dev/null && command -v gobgp > /dev/null || WHY_NOT[gobgp]="gobgpd is not installed"
# The BFD figure's sender side answers BFD with BIRD (see bfd_run).
if [ -n "$ONLY" ]; then
  for r in "${ALL[@]}"; do
    [[ ",$ONLY," == *",$r,"* ]] || WHY_NOT[$r]="not asked for (--only $ONLY)"
  done
fi

# ---------------------------------------------------------------------------
# Build: the sender and the watcher always; routerd-bgp when its crate has a
# binary (another change may still be on its way)
# ---------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
if [ "$BUILD" = 1 ]; then
  command -v cargo > /dev/null || die "cargo is not on root's PATH; try: sudo env PATH=\"\$PATH\" $0 $*"
  echo "== cargo build --release --locked -p routerd-bgp-bench (target dir $TARGET_DIR)"
  cargo build --release --locked -p routerd-bgp-bench || die "the build of the benchmark tools failed"
  if [ -z "${WHY_NOT[routerd]:-}" ]; then
    if [ ! -f daemons/bgp/src/main.rs ]; then
      WHY_NOT[routerd]="routerd-bgp has no binary yet (daemons/bgp/src/main.rs)"
    else
      echo "== cargo build --release --locked -p routerd-bgp"
      cargo build --release --locked -p routerd-bgp || WHY_NOT[routerd]="the routerd-bgp build failed"
    fi
  fi
fi
for b in bench-sender route-watch; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing (build without --no-build)"
done
if [ -z "${WHY_NOT[routerd]:-}" ] && [ ! -x "$BIN/routerd-bgp" ]; then
  WHY_NOT[routerd]="$BIN/routerd-bgp is not built"
fi
RECEIVERS=()
for r in "${ALL[@]}"; do
  [ -z "${WHY_NOT[$r]:-}" ] && RECEIVERS+=("$r")
done
[ ${#RECEIVERS[@]} -gt 0 ] || die "no receiver to measure"
# BFD: the sender's side of the session is a BIRD too.
BFD_RECEIVERS=()
for r in "${RECEIVERS[@]}"; do
  [ "$r" = gobgp ] || BFD_RECEIVERS+=("$r")
done
if [ -n "${WHY_NOT[bird]:-}" ] && [ "${WHY_NOT[bird]}" = "bird2 is not installed" ]; then
  BFD_RECEIVERS=()
  DO_BFD=0
fi

# ---------------------------------------------------------------------------
# Scratch space, namespaces and the teardown that always runs
# ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/routerd-bench-bgp.XXXXXX)
chmod 755 "$WORK" # FRR runs as frr and must reach its own directory below
PREFIX="rdbgp-$$"
SND="$PREFIX-snd"
RCV="$PREFIX-rcv"
NAMESPACES=("$SND" "$RCV")
BG_PIDS=()

# kill_ns NS: every process in NS, SIGKILL, two bounded passes.
kill_ns() {
  local pid
  for _ in 1 2 3; do
    for pid in $(ip netns pids "$1" 2> /dev/null); do
      kill -9 "$pid" 2> /dev/null || true
    done
    [ -z "$(ip netns pids "$1" 2> /dev/null)" ] && return 0
    sleep 0.1
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for pid in "${BG_PIDS[@]}"; do
    kill -9 "$pid" 2> /dev/null
  done
  for ns in "${NAMESPACES[@]}"; do
    kill_ns "$ns"
    ip netns del "$ns" 2> /dev/null
    rm -rf "/etc/netns/$ns"
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "(scratch files kept in $WORK)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SND4=10.99.1.1
RCV4=10.99.1.2
SND6=fd00:99:1::1
RCV6=fd00:99:1::2
SND_AS=65001
RCV_AS=65002
HOLD=9 # s; BFD or the routes, not the hold timer, end every figure
V4_FIRST=16.0.0.0
V4_LEN=24
V6_FIRST=2001:db8::
V6_LEN=48

# topo_up: fresh sender and receiver namespaces joined by a veth (snd0 — rcv0).
topo_up() {
  local ns
  for ns in "$SND" "$RCV"; do
    mkdir -p "/etc/netns/$ns"
    echo "# routerd bench-bgp" > "/etc/netns/$ns/resolv.conf"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  ip link add snd0 netns "$SND" type veth peer name rcv0 netns "$RCV"
  ip -n "$SND" addr add "$SND4/24" dev snd0
  ip -n "$SND" addr add "$SND6/64" dev snd0
  ip -n "$RCV" addr add "$RCV4/24" dev rcv0
  ip -n "$RCV" addr add "$RCV6/64" dev rcv0
  ip -n "$SND" link set snd0 up
  ip -n "$RCV" link set rcv0 up
}

# topo_down: everything in both namespaces is killed, the namespaces go.
topo_down() {
  local ns
  for ns in "$SND" "$RCV"; do
    kill_ns "$ns"
    ip netns del "$ns" 2> /dev/null || true
    rm -rf "/etc/netns/$ns"
  done
}

# bg_in_ns NS LOG CMD...: CMD in the background inside NS; prints its pid
# (ip netns exec execs CMD: the pid is CMD's).
bg_in_ns() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" > "$log" 2>&1 &
  local pid=$!
  disown "$pid"
  echo "$pid"
}

# wait_log FILE REGEX SECONDS: until a line of FILE matches (bounded).
wait_log() {
  local i
  for ((i = 0; i < $3 * 50; i++)); do
    grep -qE -- "$2" "$1" 2> /dev/null && return 0
    sleep 0.02
  done
  return 1
}

# ---------------------------------------------------------------------------
# The helper (python3): RIB polling, readiness, memory, statistics
# ---------------------------------------------------------------------------
PY=$WORK/bench_bgp.py
cat > "$PY" << 'PYEOF'
import json, os, re, socket, subprocess, sys, time


def bird_cmd(path, cmd):
    """One command on BIRD's control socket; the reply text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rb")
    f.readline()  # 0001 BIRD x.y.z ready.
    s.sendall(cmd.encode() + b"\n")
    out = []
    while True:
        line = f.readline()
        if not line:
            break
        line = line.decode(errors="replace").rstrip("\n")
        out.append(line)
        # A reply ends with a line "DDDD text" (code, then a space).
        if len(line) >= 5 and line[:4].isdigit() and line[4] == " ":
            break
    s.close()
    return "\n".join(out)


class Vty:
    """FRR's daemon vty socket (what vtysh speaks): a command ends with a NUL,
    the answer with three NULs and a status byte."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\0")
        buf = b""
        while True:
            d = self.s.recv(1 << 16)
            if not d:
                raise OSError("vty closed")
            buf += d
            if len(buf) >= 4 and buf[-4:-1] == b"\0\0\0":
                return buf[:-4].decode(errors="replace")


def http_get(path, url):
    """GET over a Unix socket (routerd-bgp's contract socket); the JSON body."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(f"GET {url} HTTP/1.1\r\nHost: routerd-bgp\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        buf += d
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if b" " in head else b"?"
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    if status != b"200":
        raise OSError(f"HTTP {status.decode()}: {body[:200]!r}")
    return json.loads(body)


def rib_count(kind, target, family, peer, state):
    """How many of the benchmark's prefixes the receiver's RIB holds now."""
    if kind == "bird":
        out = bird_cmd(target, "show protocols all peer")
        m = re.search(r"Routes:\s+(\d+) imported", out)
        return int(m.group(1)) if m else 0
    if kind == "frr":
        if "vty" not in state:
            state["vty"] = Vty(target)
        j = json.loads(state["vty"].cmd(f"show bgp {family} unicast summary json"))
        return int(j.get("peers", {}).get(peer, {}).get("pfxRcd", 0))
    if kind == "gobgp":
        out = subprocess.run(["gobgp", "-u", "127.0.0.1", "-p", "50051", "global", "rib",
                              "summary", "-a", family], capture_output=True, text=True,
                             timeout=30).stdout
        m = re.search(r"Destination: (\d+)", out)
        return int(m.group(1)) if m else 0
    if kind == "routerd":
        return int(http_get(target, "/v1/bgp/summary").get("prefixes", 0))
    raise SystemExit(f"unknown receiver kind {kind}")


def rib_watch(kind, target, family, peer, count, timeout):
    """Polls until the RIB holds COUNT prefixes. Prints 'ready T N' once the
    first answer came, then 'done T N polls=K call_ms=M' with T the wall
    clock when the first answer showing all COUNT arrived (an upper bound;
    the previous answer, not yet complete, bounds it from below)."""
    state, polls, spent = {}, 0, 0.0
    deadline = time.monotonic() + timeout
    pause = 0.01 if kind == "gobgp" else 0.005
    ready = False
    while time.monotonic() < deadline:
        t0 = time.time()
        try:
            n = rib_count(kind, target, family, peer, state)
        except (OSError, ValueError) as e:
            if not ready:
                time.sleep(0.05)
                continue
            print(f"error {time.time():.6f} {e}", flush=True)
            sys.exit(1)
        t1 = time.time()
        polls += 1
        spent += t1 - t0
        if not ready:
            print(f"ready {t1:.6f} {n}", flush=True)
            ready = True
        if n >= count:
            print(f"done {t1:.6f} {n} polls={polls} call_ms={spent / polls * 1000:.2f}", flush=True)
            return
        time.sleep(pause)
    print(f"timeout {time.time():.6f}", flush=True)
    sys.exit(1)


def ctl_ready(kind, target, timeout):
    """Until the receiver's control interface answers and knows the peer."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            if kind == "bird":
                out = bird_cmd(target, "show protocols peer")
                if re.search(r"^(\d{4}-| )peer\s", out, re.M):
                    return
                last = out
            elif kind == "frr":
                out = Vty(target).cmd("show bgp summary json")
                if "peers" in out:
                    return
                last = out
            elif kind == "gobgp":
                out = subprocess.run(["gobgp", "-u", "127.0.0.1", "-p", "50051", "neighbor"],
                                     capture_output=True, text=True, timeout=10)
                if out.returncode == 0 and "Peer" in out.stdout:
                    return
                last = out.stdout + out.stderr
            elif kind == "routerd":
                j = http_get(target, "/v1/bgp/summary")
                if j.get("peers"):
                    return
                last = json.dumps(j)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            last = str(e)
        time.sleep(0.05)
    sys.exit(f"{kind} did not answer within {timeout} s: {last[-300:]}")


def bfd_up(sock, timeout):
    """Until the sender-side BIRD shows its BFD session Up."""
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        try:
            out = bird_cmd(sock, "show bfd sessions")
            if re.search(r"\sUp\s", out):
                return
        except OSError as e:
            out = str(e)
        time.sleep(0.05)
    sys.exit(f"BFD not Up within {timeout} s: {out[-300:]}")


def stamped(argv):
    """Runs ARGV; prints the wall clock right after it returned."""
    r = subprocess.run(argv)
    t = time.time()
    if r.returncode != 0:
        sys.exit(f"{argv[0]} failed ({r.returncode})")
    print(f"{t:.6f}")


def mem(pids):
    """VmRSS (kB) summed over PIDS; 'n/a' if one is gone."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            print("n/a")
            return
    print(total)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def gone(timeout, pids):
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.01)


def stats(path):
    """median min max n of the numbers in PATH (one a line)."""
    try:
        with open(path) as f:
            v = sorted(float(x) for x in f.read().split())
    except FileNotFoundError:
        v = []
    n = len(v)
    if n == 0:
        print("nan nan nan 0")
        return
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    print(f"{med:.3f} {v[0]:.3f} {v[-1]:.3f} {n}")


def main(cmd, a):
    if cmd == "rib-watch":
        rib_watch(a[0], a[1], a[2], a[3], int(a[4]), float(a[5]))
    elif cmd == "ctl-ready":
        ctl_ready(a[0], a[1], float(a[2]))
    elif cmd == "bfd-up":
        bfd_up(a[0], float(a[1]))
    elif cmd == "stamped":
        stamped(a)
    elif cmd == "mem":
        mem([int(p) for p in a])
    elif cmd == "gone":
        gone(float(a[0]), [int(p) for p in a[1:]])
    elif cmd == "stats":
        stats(a[0])
    elif cmd == "ms":
        print(f"{(float(a[1]) - float(a[0])) * 1000:.1f}")
    elif cmd == "ratio":
        try:
            r = float(a[0]) / float(a[1])
            print("—" if r != r else f"{r:.2f}x")  # nan: one side has no figure
        except (ValueError, ZeroDivisionError):
            print("—")
    elif cmd == "le":
        sys.exit(0 if float(a[0]) <= float(a[1]) else 1)
    else:
        sys.exit(f"unknown helper command {cmd}")


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2:])
    except KeyboardInterrupt:
        sys.exit(130)
PYEOF
py() { python3 "$PY" "$@"; }

# ---------------------------------------------------------------------------
# Receivers. start_NAME DIR FAMILY BFD: starts it in $RCV, configured for
# FAMILY (ipv4|ipv6) with a passive session to the sender (BFD 50 ms x 3 if
# BFD=1); sets RCV_PIDS (the processes whose VmRSS counts), RIB_KIND and
# RIB_TARGET (how rib-watch asks it), and waits until it answers.
# ---------------------------------------------------------------------------
RCV_PIDS=()
RIB_KIND=""
RIB_TARGET=""

peer_addr() { if [ "$1" = ipv4 ]; then echo "$SND4"; else echo "$SND6"; fi; }
local_addr() { if [ "$1" = ipv4 ]; then echo "$RCV4"; else echo "$RCV6"; fi; }

start_bird() {
  local d=$1 fam=$2 bfd=$3 ch k bfdline="" bfdproto=""
  ch=$([ "$fam" = ipv4 ] && echo ipv4 || echo ipv6)
  if [ "$bfd" = 1 ]; then
    bfdproto="protocol bfd { interface \"rcv0\" { interval 50 ms; multiplier 3; }; }"
    bfdline="bfd on;"
  fi
  # /work/shared/fixtures/peers/bird-receiver.conf, passive, one family.
  cat > "$d/bird.conf" << EOF
log "$d/bird.log" all;
timeformat log "%s.%3f";
router id $RCV4;
protocol device {}
# the default netlink rx buffer overflows when 10k+ routes are pushed at once
protocol kernel k { $ch { export all; import none; }; netlink rx buffer 33554432; }
$bfdproto
protocol bgp peer {
  local $(local_addr "$fam") as $RCV_AS;
  neighbor $(peer_addr "$fam") as $SND_AS;
  passive on;
  hold time $HOLD; keepalive time $((HOLD / 3));
  $bfdline
  $ch { import all; export none; };
}
EOF
  RCV_PIDS=("$(bg_in_ns "$RCV" "$d/bird.out" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid")")
  RIB_KIND=bird
  RIB_TARGET=$d/bird.ctl
  py ctl-ready bird "$RIB_TARGET" 20
}

# frr_args DIR DAEMON: the options every FRR daemon here takes (no TCP vty).
frr_args() {
  echo "-f $1/$2.conf -i $1/$2.pid --vty_socket $1 -z $1/zserv.api -P 0 -u frr -g frr --log file:$1/$2.log"
}

start_frr() {
  local d=$1/frr fam=$2 bfd=$3 peer bfdlines=""
  peer=$(peer_addr "$fam")
  mkdir -p "$d"
  if [ "$bfd" = 1 ]; then
    bfdlines=" neighbor $peer bfd
 neighbor $peer bfd profile bench"
    cat > "$d/bfdd.conf" << EOF
log timestamp precision 3
bfd
 profile bench
  receive-interval 50
  transmit-interval 50
  detect-multiplier 3
 !
!
EOF
  fi
  # /work/shared/fixtures/peers/frr-bgpd.conf, passive, one family.
  cat > "$d/bgpd.conf" << EOF
frr defaults traditional
hostname rcv
log timestamp precision 3
router bgp $RCV_AS
 bgp router-id $RCV4
 no bgp ebgp-requires-policy
 no bgp network import-check
 no bgp default ipv4-unicast
 neighbor $peer remote-as $SND_AS
 neighbor $peer passive
 neighbor $peer timers $((HOLD / 3)) $HOLD
$bfdlines
 address-family $fam unicast
  neighbor $peer activate
 exit-address-family
EOF
  echo "log timestamp precision 3" > "$d/zebra.conf"
  # FRR drops to frr:frr: its directory and files must be its own.
  chown -R frr:frr "$d"
  chmod 755 "$d"
  # zebra: a netlink receive buffer large enough for a full table.
  # shellcheck disable=SC2046 # one argument a word
  RCV_PIDS=("$(bg_in_ns "$RCV" "$d/zebra.out" "$FRR_DIR/zebra" $(frr_args "$d" zebra) -s 90000000)")
  local i
  for ((i = 0; i < 200; i++)); do
    [ -S "$d/zserv.api" ] && break
    sleep 0.05
  done
  [ -S "$d/zserv.api" ] || {
    echo "zebra did not start: $(tail -3 "$d/zebra.out")" >&2
    return 1
  }
  # shellcheck disable=SC2046
  RCV_PIDS+=("$(bg_in_ns "$RCV" "$d/bgpd.out" "$FRR_DIR/bgpd" $(frr_args "$d" bgpd))")
  if [ "$bfd" = 1 ]; then
    # bfdd's memory is not counted: the other receivers run BFD inside the
    # process whose RSS is measured, but only BFD runs measure nothing else.
    # shellcheck disable=SC2046
    bg_in_ns "$RCV" "$d/bfdd.out" "$FRR_DIR/bfdd" $(frr_args "$d" bfdd) --bfdctl "$d/bfdd.sock" > /dev/null
  fi
  RIB_KIND=frr
  RIB_TARGET=$d/bgpd.vty
  py ctl-ready frr "$RIB_TARGET" 20
}

start_gobgp() {
  local d=$1 fam=$2
  # /work/shared/fixtures/peers/gobgpd-receiver.toml, passive, one family.
  cat > "$d/gobgpd.toml" << EOF
[global.config]
  as = $RCV_AS
  router-id = "$RCV4"
  port = 179
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$(peer_addr "$fam")"
    peer-as = $SND_AS
  [neighbors.transport.config]
    passive-mode = true
  [neighbors.timers.config]
    hold-time = $HOLD
    keepalive-interval = $((HOLD / 3))
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "$fam-unicast"
EOF
  RCV_PIDS=("$(bg_in_ns "$RCV" "$d/gobgpd.out" gobgpd -f "$d/gobgpd.toml" -p --pprof-disable --api-hosts 127.0.0.1:50051)")
  RIB_KIND=gobgp
  RIB_TARGET=-
  ip netns exec "$RCV" python3 "$PY" ctl-ready gobgp - 20
}

start_routerd() {
  local d=$1 fam=$2 bfd=$3 peer bfdspec=null
  peer=$(peer_addr "$fam")
  [ "$bfd" = 1 ] && bfdspec='{"minTxMs": 50, "minRxMs": 50, "multiplier": 3}'
  mkdir -p "$d/state"
  # An empty import policy accepts everything (null would be RFC 8212's
  # eBGP default: nothing).
  cat > "$d/routerd-bgp.json" << EOF
{
  "name": "bench",
  "asn": $RCV_AS,
  "routerId": "$RCV4",
  "listen": {"address": "$(local_addr "$fam")", "port": 179},
  "holdTime": $HOLD,
  "fib": {"install": true, "table": 254, "metric": 20},
  "peers": [{
    "name": "BGPPeer/sender#$peer",
    "resource": "BGPPeer/sender",
    "address": "$peer",
    "peerAsn": $SND_AS,
    "passive": true,
    "import": {},
    "export": null,
    "bfd": $bfdspec
  }]
}
EOF
  RCV_PIDS=("$(bg_in_ns "$RCV" "$d/routerd-bgp.out" "$BIN/routerd-bgp" --config "$d/routerd-bgp.json" --socket "$d/routerd-bgp.sock" --state-dir "$d/state")")
  RIB_KIND=routerd
  RIB_TARGET=$d/routerd-bgp.sock
  py ctl-ready routerd "$RIB_TARGET" 20
}

# start_receiver NAME DIR FAMILY BFD, then until port 179 listens.
start_receiver() {
  local i
  "start_$1" "$2" "$3" "$4" || return 1
  for ((i = 0; i < 200; i++)); do
    [ -n "$(ip netns exec "$RCV" ss -Hltn 'sport = :179' 2> /dev/null)" ] && return 0
    sleep 0.05
  done
  echo "$1 does not listen on port 179" >&2
  return 1
}

receiver_log() {
  local f
  for f in "$1"/*.out "$1"/*.log "$1"/frr/*.log "$1"/frr/*.out; do
    [ -s "$f" ] && echo "--- $f" && tail -5 "$f"
  done 2> /dev/null | tail -30
}

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
RES=$WORK/results
mkdir -p "$RES"
ERRORS=0
fail() {
  echo "ERROR: $*" >&2
  ERRORS=$((ERRORS + 1))
}
# field FILE KEY: the second word of FILE's first line starting with KEY.
field() { awk -v k="$1" '$1 == k {print $2; exit}' "$2" 2> /dev/null; }

# ingest_run NAME FAMILY COUNT REP: one run; appends ms to
# $RES/FAMILY-rib.NAME / FAMILY-kernel.NAME and kB to FAMILY-rss.NAME (REP 0
# is an untimed warm-up).
ingest_run() {
  local name=$1 fam=$2 count=$3 rep=$4
  local d="$WORK/$fam/$name-$rep" first len est rib kern t rss kpid="" i
  mkdir -p "$d"
  if [ "$fam" = ipv4 ]; then first=$V4_FIRST len=$V4_LEN; else first=$V6_FIRST len=$V6_LEN; fi
  topo_up
  if ! start_receiver "$name" "$d" "$fam" 0 2> "$d/start.err"; then
    fail "$name ($fam, run $rep) did not start: $(cat "$d/start.err")"
    receiver_log "$d" >&2
    topo_down
    return 1
  fi
  # The kernel watcher (setns into $RCV itself) and the RIB poller, both
  # ready before the sender starts.
  if [ "$name" != gobgp ]; then
    "$BIN/route-watch" --netns "$RCV" --family "$fam" --first "$first" --prefix-len "$len" \
      --count "$count" --until all --timeout 90 > "$d/kernel.out" 2>&1 &
    kpid=$!
    BG_PIDS+=("$kpid")
  fi
  bg_in_ns "$RCV" "$d/rib.out" python3 "$PY" rib-watch "$RIB_KIND" "$RIB_TARGET" "$fam" \
    "$(peer_addr "$fam")" "$count" 90 > /dev/null
  if ! wait_log "$d/rib.out" '^ready' 20 || { [ -n "$kpid" ] && ! wait_log "$d/kernel.out" '^ready' 20; }; then
    fail "$name ($fam, run $rep): the watchers did not start: $(tail -2 "$d/rib.out" "$d/kernel.out" 2> /dev/null)"
    topo_down
    return 1
  fi
  bg_in_ns "$SND" "$d/sender.out" "$BIN/bench-sender" --connect "$(local_addr "$fam")" \
    --local-as "$SND_AS" --router-id "$SND4" --family "$fam" --count "$count" \
    --next-hop "$(peer_addr "$fam")" --hold "$HOLD" > /dev/null
  # Both watchers end by themselves (done, timeout or error), bounded at 90 s.
  for ((i = 0; i < 95 * 50; i++)); do
    if grep -qE '^(done|timeout|error)' "$d/rib.out" &&
      { [ -z "$kpid" ] || grep -qE '^(done|timeout|error)' "$d/kernel.out"; }; then
      break
    fi
    sleep 0.02
  done
  est=$(field established "$d/sender.out")
  rib=$(field 'done' "$d/rib.out")
  kern=""
  [ -n "$kpid" ] && kern=$(field 'done' "$d/kernel.out")
  if [ -z "$est" ] || [ -z "$rib" ] || { [ -n "$kpid" ] && [ -z "$kern" ]; }; then
    fail "$name ($fam, run $rep): not all $count prefixes arrived; sender: $(tr '\n' ' ' < "$d/sender.out"); RIB: $(tail -1 "$d/rib.out"); kernel: $(tail -1 "$d/kernel.out" 2> /dev/null)"
    receiver_log "$d" >&2
    topo_down
    return 1
  fi
  # Memory once everything is in and the receiver had a second to settle.
  sleep 1
  rss=$(py mem "${RCV_PIDS[@]}")
  t=$(py ms "$est" "$rib")
  printf '   %-8s RIB %8.1f ms' "$name" "$t"
  ((rep == 0)) || echo "$t" >> "$RES/$fam-rib.$name"
  if [ -n "$kern" ]; then
    t=$(py ms "$est" "$kern")
    printf '   kernel %8.1f ms' "$t"
    ((rep == 0)) || echo "$t" >> "$RES/$fam-kernel.$name"
  else
    printf '   kernel %8s   ' "—"
  fi
  printf '   RSS %s kB' "$rss"
  printf '   (%s)\n' "$(sed -n 's/^done [0-9.]* [0-9]* //p' "$d/rib.out")"
  ((rep == 0)) || echo "$rss" >> "$RES/$fam-rss.$name"
  [ -f "$RES/$fam.sender" ] || sed -n 's/^sent [0-9.]* //p' "$d/sender.out" > "$RES/$fam.sender"
  topo_down
}

# bfd_run NAME REP: the session with BFD 50 ms x 3, BFD_COUNT prefixes in
# the kernel, then every packet of the sender's namespace dropped; appends
# (drop → all routes gone) ms to $RES/bfd.NAME, (drop → first gone) to
# $RES/bfd-first.NAME.
bfd_run() {
  local name=$1 rep=$2
  local d="$WORK/bfd/$name-$rep" t0 t1 tf t i
  mkdir -p "$d"
  topo_up
  # The sender's side of BFD: BIRD with a BFD session and nothing else
  # (bench-sender speaks BGP only). Its packets are dropped with the rest.
  cat > "$d/snd-bird.conf" << EOF
log "$d/snd-bird.log" all;
router id $SND4;
protocol device {}
protocol bfd {
  interface "snd0" { interval 50 ms; multiplier 3; };
  neighbor $RCV4 dev "snd0" local $SND4;
}
EOF
  bg_in_ns "$SND" "$d/snd-bird.out" bird -f -c "$d/snd-bird.conf" -s "$d/snd-bird.ctl" -P "$d/snd-bird.pid" > /dev/null
  if ! start_receiver "$name" "$d" ipv4 1 2> "$d/start.err"; then
    fail "$name (BFD, run $rep) did not start: $(cat "$d/start.err")"
    receiver_log "$d" >&2
    topo_down
    return 1
  fi
  bg_in_ns "$SND" "$d/sender.out" "$BIN/bench-sender" --connect "$RCV4" --local-as "$SND_AS" \
    --router-id "$SND4" --family ipv4 --count "$BFD_COUNT" --next-hop "$SND4" --hold "$HOLD" > /dev/null
  "$BIN/route-watch" --netns "$RCV" --family ipv4 --first "$V4_FIRST" --prefix-len "$V4_LEN" \
    --count "$BFD_COUNT" --until all --timeout 30 > "$d/in.out" 2>&1 || {
    fail "$name (BFD, run $rep): the routes did not reach the kernel: $(tail -1 "$d/in.out"); sender: $(tr '\n' ' ' < "$d/sender.out")"
    receiver_log "$d" >&2
    topo_down
    return 1
  }
  if ! py bfd-up "$d/snd-bird.ctl" 20 2> "$d/bfd.err"; then
    fail "$name (BFD, run $rep): $(cat "$d/bfd.err")"
    receiver_log "$d" >&2
    topo_down
    return 1
  fi
  # Up, then two seconds at the negotiated 50 ms (the slow start rate ends
  # with the poll sequence after Up).
  sleep 2
  "$BIN/route-watch" --netns "$RCV" --family ipv4 --first "$V4_FIRST" --prefix-len "$V4_LEN" \
    --count "$BFD_COUNT" --until none --timeout 30 > "$d/out.out" 2>&1 &
  local wpid=$!
  BG_PIDS+=("$wpid")
  wait_log "$d/out.out" "^ready .* present=$BFD_COUNT\$" 10 || {
    fail "$name (BFD, run $rep): the watcher did not see the $BFD_COUNT routes: $(cat "$d/out.out")"
    topo_down
    return 1
  }
  # The silent failure: everything in and out of the sender's namespace is
  # dropped (no FIN, no RST, no BFD Down). The clock starts when nft returns.
  cat > "$d/drop.nft" << 'EOF'
table inet rdbench_drop {
  chain in { type filter hook input priority -300; policy drop; }
  chain out { type filter hook output priority -300; policy drop; }
}
EOF
  t0=$(py stamped ip netns exec "$SND" nft -f "$d/drop.nft") || {
    fail "$name (BFD, run $rep): nft failed"
    topo_down
    return 1
  }
  wait "$wpid" || true
  t1=$(field 'done' "$d/out.out")
  tf=$(field first "$d/out.out")
  if [ -z "$t1" ]; then
    fail "$name (BFD, run $rep): the routes were not withdrawn within 30 s: $(tail -1 "$d/out.out")"
    receiver_log "$d" >&2
    topo_down
    return 1
  fi
  t=$(py ms "$t0" "$t1")
  printf '   %-8s drop → first route gone %7.1f ms, → all %d gone %7.1f ms\n' "$name" "$(py ms "$t0" "$tf")" "$BFD_COUNT" "$t"
  if ((rep > 0)); then
    echo "$t" >> "$RES/bfd.$name"
    py ms "$t0" "$tf" >> "$RES/bfd-first.$name"
  fi
  topo_down
}

# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
CORES=$(nproc)
KERNEL=$(uname -r)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2> /dev/null)" ]; then
  REV="$REV (+ uncommitted changes in the tree)"
fi
declare -A VERSION=(
  [routerd]="routerd-bgp $REV"
  [bird]="BIRD $(bird --version 2>&1 | awk '{print $3}')"
  [frr]="FRR $("$FRR_DIR/bgpd" --version 2> /dev/null | awk 'NR == 1 {print $3}')"
  [gobgp]="GoBGP $(gobgpd --version 2> /dev/null | awk '{print $3}')"
)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "== machine: $CPU, $CORES cores, kernel $KERNEL, $DATE"
echo "   ${VERSION[routerd]}, release build; ${VERSION[bird]}, ${VERSION[frr]}, ${VERSION[gobgp]}"
echo "   load average at start: $LOAD; timed runs: $RUNS (after one untimed warm-up each)"
for r in "${ALL[@]}"; do
  [ -z "${WHY_NOT[$r]:-}" ] || echo "   $r is NOT measured: ${WHY_NOT[$r]}"
done

# each_round TITLE FUNCTION ARGS...: the warm-up and RUNS timed rounds; in
# each round every receiver runs once, who goes first rotates.
each_round() {
  local title=$1 fn=$2 i k n
  shift 2
  local list=("${@}")
  n=${#list[@]}
  echo
  echo "== $title"
  for ((i = 0; i <= RUNS; i++)); do
    if ((i == 0)); then echo "   warm-up"; else echo "   run $i"; fi
    for ((k = 0; k < n; k++)); do
      $fn "${list[$(((i + k) % n))]}" "$i" || true
    done
  done
}
ingest_v4() { ingest_run "$1" ipv4 "$V4_COUNT" "$2"; }
ingest_v6() { ingest_run "$1" ipv6 "$V6_COUNT" "$2"; }

each_round "1, 2: $V4_COUNT IPv4 prefixes, Established → all in RIB / in kernel, RSS after" ingest_v4 "${RECEIVERS[@]}"
if ((DO_V6)); then
  each_round "3: $V6_COUNT IPv6 prefixes, the same" ingest_v6 "${RECEIVERS[@]}"
fi
if ((DO_BFD)) && [ ${#BFD_RECEIVERS[@]} -gt 0 ]; then
  each_round "4: BFD 50 ms x 3, sender silenced (nft drop) → all $BFD_COUNT routes gone from the kernel" bfd_run "${BFD_RECEIVERS[@]}"
fi

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
# cell FILE [kb]: sets CELL to "median (min–max)" of FILE (or "—") and MED.
cell() {
  local med min max n
  read -r med min max n < <(py stats "$1")
  MED=$med
  if [ "$n" = 0 ]; then
    CELL="—"
  elif [ "${2:-}" = kb ]; then
    CELL=$(python3 -c "import sys; a = [float(x) / 1024 for x in sys.argv[1:4]]; print(f'{a[0]:.1f} MB ({a[1]:.1f}–{a[2]:.1f})')" "$med" "$min" "$max")
  else
    CELL=$(printf '%.0f ms (%.0f–%.0f)' "$med" "$min" "$max")
  fi
}
ROWS=()
MED=""
CELL=""
# row TITLE GOAL STEM UNIT GOAL-KIND GOAL-VALUE: one row of the table, from
# $RES/STEM.RECEIVER; UNIT kb for memory, "" for ms.
# GOAL-KIND: bird (routerd ≤ VALUE × BIRD) or abs (routerd ≤ VALUE).
row() {
  local title=$1 goal=$2 stem=$3 unit=$4 kind=$5 value=$6 r line cells=() rmed="" bmed="" verdict ratio
  for r in "${ALL[@]}"; do
    cell "$RES/$stem.$r" "$unit"
    cells+=("$CELL")
    [ "$r" = routerd ] && rmed=$MED
    [ "$r" = bird ] && bmed=$MED
  done
  ratio=$(py ratio "$rmed" "$bmed")
  if [ -n "${WHY_NOT[routerd]:-}" ]; then
    verdict="not measured"
  elif [ "$rmed" = nan ]; then
    verdict=ERROR
  elif [ "$kind" = bird ]; then
    if [ "$bmed" = nan ]; then
      verdict="no BIRD figure"
    elif py le "$rmed" "$(python3 -c "import sys; print(float(sys.argv[1]) * float(sys.argv[2]))" "$bmed" "$value")"; then
      verdict=PASS
    else
      verdict=MISSED
    fi
  elif [ "$kind" = abs ]; then
    if py le "$rmed" "$value"; then verdict=PASS; else verdict=MISSED; fi
  else
    verdict="—"
  fi
  line="| $title | $goal"
  for r in "${cells[@]}"; do line="$line | $r"; done
  ROWS+=("$line | $ratio | $verdict |")
}
row "$V4_COUNT IPv4: Established → all in RIB" "≤ 1.0× BIRD" ipv4-rib "" bird 1.0
row "$V4_COUNT IPv4: Established → all in kernel" "≤ 1.0× BIRD" ipv4-kernel "" bird 1.0
row "VmRSS after $V4_COUNT IPv4" "≤ 2× BIRD" ipv4-rss kb bird 2.0
if ((DO_V6)); then
  row "$V6_COUNT IPv6: Established → all in RIB" "≤ 1.0× BIRD" ipv6-rib "" bird 1.0
  row "$V6_COUNT IPv6: Established → all in kernel" "≤ 1.0× BIRD" ipv6-kernel "" bird 1.0
  row "VmRSS after $V6_COUNT IPv6" "≤ 2× BIRD" ipv6-rss kb bird 2.0
fi
if ((DO_BFD)); then
  row "BFD 50 ms × 3: sender silenced → all $BFD_COUNT routes gone from the kernel" "≤ 150 ms" bfd "" abs 150
  row "the same, → first route gone (information)" "—" bfd-first "" none 0
fi

echo
echo "== summary"
echo
echo "Machine: $CPU, $CORES cores, kernel $KERNEL; $DATE; ${VERSION[routerd]}, release build; ${VERSION[bird]}, ${VERSION[frr]}, ${VERSION[gobgp]}."
echo "Load average: $LOAD at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine inflates the timings)."
echo "Sender: bench-sender (routing/bgp/bench), $([ -f "$RES/ipv4.sender" ] && cat "$RES/ipv4.sender") for IPv4$([ -f "$RES/ipv6.sender" ] && echo "; $(cat "$RES/ipv6.sender") for IPv6"); medians (min–max) of $RUNS timed runs."
echo
echo "| figure | goal | routerd-bgp | ${VERSION[bird]} | ${VERSION[frr]} (bgpd + zebra) | ${VERSION[gobgp]} (RIB only) | routerd/BIRD | verdict |"
echo "|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
for r in "${ALL[@]}"; do
  [ -z "${WHY_NOT[$r]:-}" ] || echo "$r was NOT measured: ${WHY_NOT[$r]}."
done
MISSED=$(printf '%s\n' "${ROWS[@]}" | grep -c '| MISSED |' || true)
if [ "$MISSED" -gt 0 ]; then
  echo "MISSED: $MISSED goal(s) not met (see the table); a benchmark reports, it does not fail."
fi
if [ "$ERRORS" -gt 0 ]; then
  echo "ERROR: $ERRORS run(s) could not be measured (see above)."
  exit 1
fi
exit 0
