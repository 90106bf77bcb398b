#!/usr/bin/env bash
# routerd's WAN DHCP clients against the stock client (dhcpcd), side by side in one run.
#
#   sudo deploy/bench-wan.sh            # 20 repetitions of each figure
#   sudo deploy/bench-wan.sh --quick    # 5 repetitions
#   sudo deploy/bench-wan.sh --no-build # reuse the release binaries already built
#
# Figures (docs/benchmarks.md explains each one and its method):
#   1a. DHCPv6-PD, client start to Bound, kea default (four messages): routerd-dhcpv6-client vs dhcpcd
#   1b. the same with "rapid-commit": true on kea's subnet (and, for information,
#       dhcpcd once more with `option rapid_commit`)
#   2.  kill -9 with a valid lease, restart to Bound again: routerd-dhcpv6-client vs dhcpcd
#   3.  VmRSS after Bound: routerd-dhcpv6-client (dhcpcd for context)
#   4.  DHCPv4 start to Bound and VmRSS: routerd-dhcpv4-client vs dhcpcd -4, dnsmasq as the server
#       (only when routerd-dhcpv4-client is built; otherwise skipped by name)
# The two (three) clients take turns run by run, against the same server.
#
# Everything runs in network namespaces this script creates (rdwan-PID-*) and
# deletes on exit, also on failure or Ctrl-C. The host's own namespace is never
# touched; dhcpcd's /run and /var/lib/dhcpcd are scratch directories bind-mounted
# in its private mount namespace. A missed goal is reported as MISSED and still
# exits 0: this is a benchmark, not a test. A figure that could not be measured
# is ERROR (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REPS=20
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --quick) REPS=5 ;;
    --no-build) BUILD=0 ;;
    -h | --help)
      sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "deploy/bench-wan.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/bench-wan.sh: needs root (network namespaces); run: sudo $0 $*" >&2
  exit 1
fi
for tool in ip python3 mount kea-dhcp6 dhcpcd; do
  command -v "$tool" > /dev/null || {
    echo "deploy/bench-wan.sh: $tool is missing (kea-dhcp6: kea-dhcp6-server, dhcpcd: dhcpcd-base)" >&2
    exit 1
  }
done
HAVE_TCPDUMP=1
command -v tcpdump > /dev/null || HAVE_TCPDUMP=0 # only for the on-the-wire breakdown
HAVE_DNSMASQ=1
command -v dnsmasq > /dev/null || HAVE_DNSMASQ=0 # only for figure 4

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
V4_NOTE=""
if [ "$BUILD" = 1 ]; then
  command -v cargo > /dev/null || {
    echo "deploy/bench-wan.sh: cargo is not on root's PATH; try: sudo env PATH=\"\$PATH\" $0 $*" >&2
    exit 1
  }
  PKGS=(-p routerd-dhcpv6-client)
  if grep -q '"daemons/dhcpv4-client"' Cargo.toml; then PKGS+=(-p routerd-dhcpv4-client); fi
  echo "== cargo build --release --locked ${PKGS[*]} (target dir $TARGET_DIR)"
  if ! cargo build --release --locked "${PKGS[@]}"; then
    if [ "${#PKGS[@]}" -gt 2 ] && cargo build --release --locked -p routerd-dhcpv6-client; then
      V4_NOTE="the routerd-dhcpv4-client build failed"
    else
      echo "deploy/bench-wan.sh: the build failed" >&2
      exit 1
    fi
  fi
fi
[ -x "$BIN/routerd-dhcpv6-client" ] || {
  echo "deploy/bench-wan.sh: $BIN/routerd-dhcpv6-client is missing (build without --no-build)" >&2
  exit 1
}
if [ -z "$V4_NOTE" ] && [ ! -x "$BIN/routerd-dhcpv4-client" ]; then
  V4_NOTE="$BIN/routerd-dhcpv4-client is not built"
fi
if [ -z "$V4_NOTE" ] && [ "$HAVE_DNSMASQ" = 0 ]; then
  V4_NOTE="dnsmasq is not installed"
fi

# ---------------------------------------------------------------------------
# Scratch space, namespaces and the teardown that always runs
# ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/routerd-bench-wan.XXXXXX)
PREFIX="rdwan-$$"
NAMESPACES=()

# What a DHCP client or kea could touch on the host, to compare at the end.
host_state() {
  echo "/var/lib/dhcpcd: $(find /var/lib/dhcpcd -mindepth 1 -maxdepth 1 -printf '%f ' 2> /dev/null)"
  for p in /run/dhcpcd /var/lib/kea /var/lib/dhcpcd/duid; do
    [ -e "$p" ] && echo "$p exists"
  done
  echo "/etc/resolv.conf: $(sha256sum /etc/resolv.conf 2> /dev/null | cut -c1-16)"
}
HOST_BEFORE=$(host_state)

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for ns in "${NAMESPACES[@]}"; do
    # Everything left in the namespace (clients, kea, dnsmasq, tcpdump):
    # two passes, bounded.
    for _ in 1 2; do
      for pid in $(ip netns pids "$ns" 2> /dev/null); do
        kill -9 "$pid" 2> /dev/null
      done
      sleep 0.1
    done
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

# new_ns SUFFIX: creates PREFIX-SUFFIX with its own resolv.conf (first), lo up
# and IPv6 DAD off; prints nothing.
new_ns() {
  local ns="$PREFIX-$1"
  NAMESPACES+=("$ns")
  mkdir -p "/etc/netns/$ns"
  echo "# routerd bench-wan" > "/etc/netns/$ns/resolv.conf"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# ---------------------------------------------------------------------------
# The helper (python3): start stamps, waits, memory, statistics, pcap reading
# ---------------------------------------------------------------------------
PY=$WORK/bench_wan.py
cat > "$PY" << 'PYEOF'
import collections, datetime, json, os, struct, sys, time


def stamp(out, argv):
    """Appends 'PID WALLCLOCK' to OUT, then becomes ARGV (same pid): the start
    time is taken right before execve, on the clock the clients stamp with."""
    with open(out, "a") as f:
        f.write(f"{os.getpid()} {time.time_ns() / 1e9:.6f}\n")
    os.execvp(argv[0], argv)


def rfc3339(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_event(path, kind, skip, timeout):
    """First event of type KIND after the first SKIP lines of an events.jsonl;
    prints 'TIME MESSAGE' (TIME: the event's own RFC 3339 stamp, ms)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            lines = []
        for line in lines[skip:]:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line being written
            if e.get("type") == kind:
                print(f"{rfc3339(e['time']):.6f} {e.get('message', '')}")
                return
        if time.monotonic() > deadline:
            sys.exit(f"no {kind} event in {path} within {timeout} s")
        time.sleep(0.005)


def wait_hook(path, reasons, skip, timeout):
    """First line 'REASON TIME DETAIL' with REASON in REASONS after the first
    SKIP lines of the hook log; prints it."""
    want = set(reasons.split(","))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            lines = []
        for line in lines[skip:]:
            f = line.split()
            if len(f) >= 2 and f[0] in want:
                print(line)
                return
        if time.monotonic() > deadline:
            sys.exit(f"no {reasons} in {path} within {timeout} s")
        time.sleep(0.005)


def count_lines(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def gone(pids, timeout):
    """Waits (bounded) until none of PIDS runs; exits 1 otherwise."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            sys.exit(f"still running after {timeout} s: {[p for p in pids if alive(p)]}")
        time.sleep(0.005)


def mem(pids):
    """'VMRSS_KB PSS_KB N' summed over PIDS."""
    rss = pss = n = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                rss += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss += next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
            n += 1
        except (OSError, StopIteration):
            pass
    print(rss, pss, n)


def quantiles(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return None
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    p90 = v[min(n - 1, max(0, -(-90 * n // 100) - 1))]  # nearest rank
    return med, p90, v[0], v[-1], n


def stats(path):
    """median p90 min max n of the numbers in PATH (one a line)."""
    with open(path) as f:
        q = quantiles([float(x) for x in f.read().split()])
    print("nan nan nan nan 0" if q is None else "%.3f %.3f %.3f %.3f %d" % q)


# -- pcap ------------------------------------------------------------------

V6_NAMES = {1: "Solicit", 2: "Advertise", 3: "Request", 4: "Confirm", 5: "Renew",
            6: "Rebind", 7: "Reply", 8: "Release", 9: "Decline", 11: "Inf-req"}
V4_NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK",
            7: "RELEASE", 8: "INFORM"}


def packets(path):
    """(time, text, from_client, is_answer) of each DHCPv6, DHCPv4 or ARP frame."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack(endian + "I", data[:4])[0] == 0xA1B23C4D
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frame = data[off:off + incl]
        off += incl
        t = sec + frac / (1e9 if nano else 1e6)
        if len(frame) < 14:
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        if ethertype == 0x86DD and len(frame) >= 62 and frame[20] == 17:
            sport = struct.unpack("!H", frame[54:56])[0]
            p = frame[62:]
            if not p:
                continue
            opts, i = set(), 4
            while i + 4 <= len(p):
                code, ln = struct.unpack("!HH", p[i:i + 4])
                opts.add(code)
                i += 4 + ln
            name = V6_NAMES.get(p[0], f"type{p[0]}")
            if 14 in opts:  # Rapid Commit
                name += "(rc)"
            out.append((t, name, sport == 546, p[0] == 7))
        elif ethertype == 0x0800 and len(frame) >= 34 and frame[23] == 17:
            ihl = (frame[14] & 0x0F) * 4
            udp = 14 + ihl
            sport = struct.unpack("!H", frame[udp:udp + 2])[0]
            b = frame[udp + 8:]
            kind, i = None, 240
            while i + 2 <= len(b) and b[i] != 255:
                if b[i] == 0:
                    i += 1
                    continue
                if b[i] == 53:
                    kind = b[i + 2]
                i += 2 + b[i + 1]
            name = V4_NAMES.get(kind, f"type{kind}")
            out.append((t, name, sport == 68, kind in (5, 6)))
        elif ethertype == 0x0806 and len(frame) >= 42:
            spa = frame[28:32]
            op = struct.unpack("!H", frame[20:22])[0]
            name = "ARP-probe" if spa == b"\0\0\0\0" else ("ARP-announce" if op == 1 and
                                                           frame[28:32] == frame[38:42] else "ARP")
            out.append((t, name, True, False))
    return out


def wire(pcaps, runs_path):
    """For each run window in RUNS ('group client start end bound' a line),
    the frames inside it: when the client spoke first, when the answer that
    bound it arrived, how long after that the client recorded Bound, and the
    message sequence. Prints one summary per (group, client)."""
    frames = sorted(x for p in pcaps.split(",") for x in packets(p))
    acc = collections.OrderedDict()
    with open(runs_path) as f:
        for line in f:
            g, client, start, end, bound = line.split()
            start, end, bound = float(start), float(end), float(bound)
            inside = [x for x in frames if start <= x[0] < end]
            first = next((x[0] for x in inside if x[2] and not x[1].startswith("ARP")), None)
            answer = next((x[0] for x in inside if x[3]), None)
            a = acc.setdefault((g, client), {"first": [], "answer": [], "lag": [], "seq": []})
            if first is not None:
                a["first"].append((first - start) * 1000)
            if answer is not None:
                a["answer"].append((answer - start) * 1000)
                a["lag"].append((bound - answer) * 1000)
            seq, last, reps = [], None, 0
            for x in inside:
                if x[1] == last:
                    reps += 1
                    seq[-1] = f"{last}x{reps + 1}"
                else:
                    last, reps = x[1], 0
                    seq.append(x[1])
            a["seq"].append(" ".join(seq) or "(nothing)")
    for (g, client), a in acc.items():
        def med(v):
            q = quantiles(v)
            return "n/a" if q is None else f"{q[0]:.1f} ms"
        seqs = collections.Counter(a["seq"]).most_common()
        seq_text = "; ".join(f"{s} ({n}x)" for s, n in seqs)
        print(f"{g}|{client}|first message {med(a['first'])}|answer {med(a['answer'])}"
              f"|Bound recorded {med(a['lag'])} after the answer|{seq_text}")


def main(cmd, args):
    if cmd == "stamp":
        assert args[1] == "--"
        stamp(args[0], args[2:])
    elif cmd == "wait-event":
        wait_event(args[0], args[1], int(args[2]), float(args[3]))
    elif cmd == "wait-hook":
        wait_hook(args[0], args[1], int(args[2]), float(args[3]))
    elif cmd == "lines":
        print(count_lines(args[0]))
    elif cmd == "gone":
        gone([int(p) for p in args[1:]], float(args[0]))
    elif cmd == "mem":
        mem([int(p) for p in args])
    elif cmd == "stats":
        stats(args[0])
    elif cmd == "wire":
        wire(args[0], args[1])
    else:
        sys.exit(f"unknown helper command {cmd}")


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2:])
    except KeyboardInterrupt:
        sys.exit(130)  # Ctrl-C: the script's trap cleans up
PYEOF
py() { python3 "$PY" "$@"; }

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
ROWS=() # markdown rows of the summary table
NOTES=() # lines printed under it
ERRORS=0

# row FIGURE GOAL ROUTERD VERDICT PEER RATIO
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

fail() {
  echo "ERROR: $*" >&2
  ERRORS=$((ERRORS + 1))
}

# stats FILE: the numbers (ms) in FILE; sets MED P90 MIN MAX N and
# FMT="median / p90 (min–max, n=N)".
stats() {
  read -r MED P90 MIN MAX N < <(py stats "$1")
  FMT=$(printf '%.1f ms / p90 %.1f ms (%.1f–%.1f, n=%s)' "$MED" "$P90" "$MIN" "$MAX" "$N")
}
# ratio A B: "A/B" as "1.23x", or "—" when either is not a number.
ratio() {
  python3 -c "
import sys
try: print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')
except (ValueError, ZeroDivisionError): print('—')" "$1" "$2"
}
# le A B: true when A <= B (floats).
le() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }
# ms_between T0 T1: (T1 - T0) in ms, 3 decimals.
ms_between() { python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.3f}')" "$1" "$2"; }
kb_to_mb() {
  python3 -c "
import sys
try: print(f'{int(sys.argv[1]) / 1024:.1f} MB')
except ValueError: print('n/a')" "$1"
}
now() { python3 -c 'import time; print(f"{time.time_ns() / 1e9:.6f}")'; }

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
DHCPCD_V=$(dhcpcd --version 2> /dev/null | head -1)
KEA_V="kea-dhcp6 $(kea-dhcp6 -v 2> /dev/null)"
DNSMASQ_V="no dnsmasq"
if ((HAVE_DNSMASQ)); then DNSMASQ_V=$(dnsmasq --version | awk 'NR == 1 {print "dnsmasq " $3}'); fi
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "== machine: $CPU, $CORES cores, kernel $KERNEL, $DATE"
echo "   routerd $REV, release build; $DHCPCD_V, $KEA_V, $DNSMASQ_V"
echo "   load average at start: $LOAD; repetitions: $REPS"

# ---------------------------------------------------------------------------
# The lab: server namespace (kea / dnsmasq, tcpdump) — veth — client namespace
# ---------------------------------------------------------------------------
SRV="$PREFIX-srv"
CLI="$PREFIX-cli"
new_ns srv
new_ns cli
ip link add srv0 netns "$SRV" type veth peer name wan0 netns "$CLI"
ip -n "$SRV" addr add fd00:99:2::1/64 dev srv0
ip -n "$SRV" link set srv0 up
ip -n "$CLI" link set wan0 up

# link_ready NS IF: a link-local address that is not tentative.
link_ready() {
  local out
  out=$(ip -n "$1" -6 addr show dev "$2" scope link 2> /dev/null)
  [[ $out == *fe80* && $out != *tentative* ]]
}
for _ in $(seq 100); do
  link_ready "$SRV" srv0 && link_ready "$CLI" wan0 && break
  sleep 0.1
done
if ! { link_ready "$SRV" srv0 && link_ready "$CLI" wan0; }; then
  fail "no usable link-local address on srv0/wan0 after 10 s"
  exit 1
fi

# The only processes in the client namespace are the client under test and
# its children: stop_clients sends SIGTERM to PID (a clean stop: dhcpcd removes
# its routes), then SIGKILL to whatever is left there.
stop_clients() {
  local pid=$1 left
  if [ -n "$pid" ]; then
    kill "$pid" 2> /dev/null || true
    py gone 5 "$pid" 2> /dev/null || true
  fi
  for _ in 1 2 3; do
    left=$(ip netns pids "$CLI")
    [ -z "$left" ] && break
    # shellcheck disable=SC2086 # one pid a word
    kill -9 $left 2> /dev/null || true
    # shellcheck disable=SC2086
    py gone 2 $left 2> /dev/null || true
  done
  [ -z "$(ip netns pids "$CLI")" ] || {
    fail "processes left in $CLI: $(ip netns pids "$CLI" | tr '\n' ' ')"
    return 1
  }
  # What a killed dhcpcd may have left (a reject route, addresses).
  ip -n "$CLI" -6 route flush proto dhcp 2> /dev/null || true
  ip -n "$CLI" -4 addr flush dev wan0 2> /dev/null || true
}

# bg_in_ns NS LOG CMD...: CMD in the background inside NS (ip netns exec, so
# /etc/netns/NS/resolv.conf is mounted over /etc/resolv.conf); prints its pid.
bg_in_ns() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" > "$log" 2>&1 &
  local pid=$!
  disown "$pid"
  echo "$pid"
}

# wait_log FILE TEXT SECONDS: until FILE contains TEXT (bounded).
wait_log() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -qF -- "$2" "$1" 2> /dev/null && return 0
    sleep 0.05
  done
  return 1
}

# tcpdump on the server side of the link, one capture per figure.
TCPDUMP_PID=""
start_capture() {
  TCPDUMP_PID=""
  ((HAVE_TCPDUMP)) || return 0
  # --immediate-mode: every frame reaches the file at once (libpcap would
  # otherwise hold up to a second of frames, lost when tcpdump is stopped).
  TCPDUMP_PID=$(bg_in_ns "$SRV" "$1.log" tcpdump --immediate-mode -U -Z root -ni srv0 -w "$1" "$2")
  wait_log "$1.log" "listening on" 10 || {
    echo "   (tcpdump did not start; no on-the-wire breakdown)"
    kill -9 "$TCPDUMP_PID" 2> /dev/null || true
    TCPDUMP_PID=""
  }
}
stop_capture() {
  [ -n "$TCPDUMP_PID" ] || return 0
  sleep 0.2
  kill "$TCPDUMP_PID" 2> /dev/null || true
  py gone 5 "$TCPDUMP_PID" || kill -9 "$TCPDUMP_PID" 2> /dev/null || true
  TCPDUMP_PID=""
}

# dhcpcd's hook: records the reason and the time; configures nothing (no
# resolv.conf, hostname or NTP hooks run: -c replaces dhcpcd-run-hooks).
HOOK=$WORK/dhcpcd-hook.sh
cat > "$HOOK" << 'EOF'
#!/bin/sh
# deploy/bench-wan.sh: reason, wall-clock time, what was bound. Nothing else.
echo "$reason $(date +%s.%N) ${new_dhcp6_ia_pd1_prefix1:-}${new_dhcp6_ia_pd1_prefix1_length:+/$new_dhcp6_ia_pd1_prefix1_length}${new_ip_address:-}" >> "$RDBENCH_HOOK_LOG"
EOF
chmod 755 "$HOOK"

# The fixture /work/shared/fixtures/peers/dhcpcd-pd.conf, on wan0, plus
# `nohook resolv.conf` (belt and braces: -c already replaces the hooks).
DHCPCD6_CONF=$WORK/dhcpcd-pd.conf
cat > "$DHCPCD6_CONF" << 'EOF'
noipv4
noipv6rs
ipv6only
duid
nohook resolv.conf
interface wan0
  ia_pd 1
EOF
# The same, asking for Rapid Commit (dhcpcd's default is not to).
DHCPCD6_RC_CONF=$WORK/dhcpcd-pd-rc.conf
sed 's/^interface wan0$/option rapid_commit\ninterface wan0/' "$DHCPCD6_CONF" > "$DHCPCD6_RC_CONF"

# spawn_dhcpcd DIR STAMPFILE ARGS...: dhcpcd in the client namespace with DIR/run
# as its /run and DIR/db as its /var/lib/dhcpcd (bind mounts in the private
# mount namespace of ip netns exec: the host's directories are never written;
# mount -n keeps libmount away from the host's /run/mount too). Prints the pid.
spawn_dhcpcd() {
  local d=$1 st=$2
  shift 2
  mkdir -p "$d/run" "$d/db"
  # shellcheck disable=SC2016 # expanded by the inner sh
  bg_in_ns "$CLI" "$d/out" sh -c 'mount -n --bind "$1" /run && mount -n --bind "$2" /var/lib/dhcpcd && shift 2 && exec "$@"' \
    sh "$d/run" "$d/db" python3 "$PY" stamp "$st" -- \
    dhcpcd -B -c "$HOOK" -e "RDBENCH_HOOK_LOG=$d/hook.log" -j "$d/dhcpcd.log" "$@"
}

# stamp_time FILE [LINE]: the time python wrote there right before exec.
stamp_time() { sed -n "${2:-1}p" "$1" | cut -d' ' -f2; }

# ---------------------------------------------------------------------------
# DHCPv6-PD: one run of each client
# ---------------------------------------------------------------------------
KEA_PID=""
start_kea() { # MODE: a (default) | b (rapid-commit on the subnet)
  local k="$WORK/kea-$1" rc=""
  mkdir -p "$k"
  [ "$1" = b ] && rc='"rapid-commit": true,'
  # /work/shared/fixtures/peers/kea-dhcp6-pd.json; persist false everywhere,
  # so kea writes nothing under /var/lib.
  cat > "$k/kea.json" << EOF
{
  "Dhcp6": {
    "interfaces-config": { "interfaces": [ "srv0" ] },
    "lease-database": { "type": "memfile", "persist": false, "lfc-interval": 0 },
    "server-id": { "type": "EN", "enterprise-id": 2495, "identifier": "0102030405060708", "persist": false },
    "renew-timer": 1000,
    "rebind-timer": 2000,
    "preferred-lifetime": 3000,
    "valid-lifetime": 4000,
    "subnet6": [
      {
        "id": 1,
        "subnet": "fd00:99:2::/64",
        "interface": "srv0",
        $rc
        "pd-pools": [
          { "prefix": "fd00:99:100::", "prefix-len": 48, "delegated-len": 56 }
        ]
      }
    ],
    "loggers": [
      { "name": "kea-dhcp6", "output_options": [ { "output": "stdout" } ], "severity": "INFO" }
    ]
  }
}
EOF
  rm -f "$k"/*.pid
  KEA_PID=$(bg_in_ns "$SRV" "$k/kea.log" env KEA_PIDFILE_DIR="$k" KEA_LOCKFILE_DIR="$k" kea-dhcp6 -c "$k/kea.json")
  wait_log "$k/kea.log" "DHCP6_STARTED" 20 || {
    fail "kea-dhcp6 did not start: $(tail -3 "$k/kea.log")"
    return 1
  }
}
stop_kea() {
  [ -n "$KEA_PID" ] || return 0
  kill "$KEA_PID" 2> /dev/null || true
  py gone 10 "$KEA_PID" || kill -9 "$KEA_PID" 2> /dev/null || true
  KEA_PID=""
}

DUID_SEED=$WORK/dhcpcd.duid # dhcpcd's DUID, kept across its fresh lease dirs

# run6 MODE CLIENT REP WITH_RESTART: one run. Appends the ms to
# $RES/MODE.CLIENT.start (and .restart), VmRSS/Pss to .rss, the wire windows
# to $RES/MODE.runs. REP 0 is the untimed warm-up.
RES=$WORK/results
mkdir -p "$RES"
run6() {
  local mode=$1 client=$2 rep=$3 restart=$4
  local d="$WORK/v6-$mode/$client-$rep" pid t0 t1 t2 tb out skip kill_at end_at
  local conf=$DHCPCD6_CONF
  [ "$client" = dhcpcd-rc ] && conf=$DHCPCD6_RC_CONF
  mkdir -p "$d"
  link_ready "$CLI" wan0 || {
    fail "wan0's link-local address is not usable before run $rep"
    return 1
  }
  if [ "$client" = routerd ]; then
    mkdir -p "$d/state"
    echo '{"name":"wan","interface":"wan0","prefixHint":56,"rapidCommit":true}' > "$d/client.json"
    local cmd=("$BIN/routerd-dhcpv6-client" --config "$d/client.json" --socket "$d/client.sock" --state-dir "$d/state")
    pid=$(bg_in_ns "$CLI" "$d/out" python3 "$PY" stamp "$d/stamp" -- "${cmd[@]}")
    out=$(py wait-event "$d/state/events.jsonl" dhcpv6.lease.bound 0 20) || {
      fail "routerd-dhcpv6-client ($mode, run $rep) did not bind: $(tail -3 "$d/out")"
      stop_clients "$pid"
      return 1
    }
  else
    mkdir -p "$d/db"
    [ -f "$DUID_SEED" ] && cp "$DUID_SEED" "$d/db/duid"
    pid=$(spawn_dhcpcd "$d" "$d/stamp" -f "$conf" wan0)
    out=$(py wait-hook "$d/hook.log" BOUND6,REBIND6,REBOOT6,RENEW6 0 20) || {
      fail "$client ($mode, run $rep) did not bind: $(tail -3 "$d/dhcpcd.log" 2> /dev/null)"
      stop_clients "$pid"
      return 1
    }
    [ -f "$DUID_SEED" ] || cp "$d/db/duid" "$DUID_SEED"
    out=${out#* } # drop the reason: "TIME PREFIX"
  fi
  t0=$(stamp_time "$d/stamp")
  tb=${out%% *}
  t1=$(ms_between "$t0" "$tb")
  ((rep == 0)) || echo "$t1" >> "$RES/$mode.$client.start"
  printf '  %-9s %7.1f ms' "$client" "$t1"

  if [ "$restart" = 1 ]; then
    # Memory after Bound (half a second to settle), then kill -9 and restart
    # with the same state: routerd's state dir, dhcpcd's lease and run dirs.
    sleep 0.5
    local pids mem
    if [ "$client" = routerd ]; then pids=$pid; else pids=$(ip netns pids "$CLI" | tr '\n' ' '); fi
    # shellcheck disable=SC2086 # one pid a word
    mem=$(py mem $pids)
    ((rep == 0)) || echo "$mem $(py mem "$pid")" >> "$RES/$mode.$client.rss"
    kill_at=$(now)
    ((rep == 0)) || echo "$client-start $client $t0 $kill_at $tb" >> "$RES/$mode.runs"
    # shellcheck disable=SC2086 # dhcpcd: the manager and all its helpers
    kill -9 $pids 2> /dev/null || true
    # shellcheck disable=SC2086
    py gone 5 $pids || {
      fail "$client did not die on kill -9"
      stop_clients ""
      return 1
    }
    if [ "$client" = routerd ]; then
      skip=$(py lines "$d/state/events.jsonl")
      pid=$(bg_in_ns "$CLI" "$d/out2" python3 "$PY" stamp "$d/stamp" -- "${cmd[@]}")
      out=$(py wait-event "$d/state/events.jsonl" dhcpv6.lease.bound "$skip" 20) || {
        fail "routerd-dhcpv6-client ($mode, run $rep) did not bind again after kill -9: $(tail -3 "$d/out2")"
        stop_clients "$pid"
        return 1
      }
    else
      skip=$(py lines "$d/hook.log")
      pid=$(spawn_dhcpcd "$d" "$d/stamp" -f "$conf" wan0)
      out=$(py wait-hook "$d/hook.log" BOUND6,REBIND6,REBOOT6,RENEW6 "$skip" 20) || {
        fail "$client ($mode, run $rep) did not bind again after kill -9: $(tail -3 "$d/dhcpcd.log")"
        stop_clients "$pid"
        return 1
      }
      ((rep == 0)) || echo "${out%% *}" >> "$RES/$mode.$client.reasons"
      out=${out#* }
    fi
    t0=$(stamp_time "$d/stamp" 2)
    tb=${out%% *}
    t2=$(ms_between "$t0" "$tb")
    ((rep == 0)) || echo "$t2" >> "$RES/$mode.$client.restart"
    printf ' (restart %6.1f ms)' "$t2"
    end_at=$(now)
    ((rep == 0)) || echo "$client-restart $client $t0 $end_at $tb" >> "$RES/$mode.runs"
  else
    end_at=$(now)
    ((rep == 0)) || echo "$client-start $client $t0 $end_at $tb" >> "$RES/$mode.runs"
  fi
  stop_clients "$pid"
}

# bench6 MODE TITLE CLIENT...: warm-up of each client, then REPS runs, the
# clients taking turns (who goes first rotates).
bench6() {
  local mode=$1 title=$2 i k who restart=0
  shift 2
  local clients=("$@") n=$#
  [ "$mode" = a ] && restart=1
  echo
  echo "== $title, $REPS runs each, taking turns"
  start_kea "$mode" || return 1
  start_capture "$WORK/v6-$mode.pcap" "udp port 546 or udp port 547"
  for ((i = 0; i <= REPS; i++)); do
    if ((i == 0)); then printf '   warm-up'; else printf '   run %2d ' "$i"; fi
    for ((k = 0; k < n; k++)); do
      who=${clients[$(((i + k) % n))]}
      run6 "$mode" "$who" "$i" "$restart" || {
        echo
        stop_capture
        stop_kea
        return 1
      }
    done
    echo
  done
  stop_capture
  stop_kea
  if [ -f "$WORK/v6-$mode.pcap" ]; then
    py wire "$WORK/v6-$mode.pcap" "$RES/$mode.runs" > "$RES/$mode.wire" || true
  fi
}

# wire_notes MODE LABEL: the on-the-wire breakdown, echoed and kept for the summary.
wire_notes() {
  [ -s "$RES/$1.wire" ] || return 0
  local g client first answer lag seq line
  while IFS='|' read -r g client first answer lag seq; do
    line="$2, $g: $first, $answer, $lag; on the wire: $seq"
    echo "   $line"
    NOTES+=("- $line")
  done < "$RES/$1.wire"
}

v6_error_rows() {
  row "1a. DHCPv6-PD start → Bound, kea default" "≤ 0.6× dhcpcd" "—" "ERROR" "—" "—"
  row "2. kill -9 with a valid lease → Bound again" "≤ 50 ms" "—" "ERROR" "—" "—"
  row "3. routerd-dhcpv6-client VmRSS after Bound" "≤ 8 MB" "—" "ERROR" "—" "—"
}

bench_v6() {
  if ! bench6 a "1a, 2, 3: DHCPv6-PD against kea (default: Solicit, Advertise, Request, Reply)" routerd dhcpcd; then
    v6_error_rows
  else
    local rs rmed ds dmed
    stats "$RES/a.routerd.start"
    rs=$FMT rmed=$MED
    stats "$RES/a.dhcpcd.start"
    ds=$FMT dmed=$MED
    echo "   start → Bound: routerd $rs"
    echo "                  dhcpcd  $ds"
    local goal v
    goal=$(python3 -c "import sys; print(0.6 * float(sys.argv[1]))" "$dmed")
    if le "$rmed" "$goal"; then v=PASS; else v=MISSED; fi
    row "1a. DHCPv6-PD start → Bound, kea default" "≤ 0.6× dhcpcd" "$rs" "$v" "dhcpcd: $ds" "$(ratio "$rmed" "$dmed")"
    stats "$RES/a.routerd.restart"
    rs=$FMT rmed=$MED
    stats "$RES/a.dhcpcd.restart"
    ds=$FMT dmed=$MED
    local reasons
    reasons=$(sort "$RES/a.dhcpcd.reasons" | uniq -c | awk '{printf "%s%s %sx", (NR > 1 ? ", " : ""), $2, $1}')
    echo "   kill -9, restart → Bound: routerd $rs"
    echo "                             dhcpcd  $ds (hook reasons: $reasons)"
    if le "$rmed" 50; then v=PASS; else v=MISSED; fi
    row "2. kill -9 with a valid lease → Bound again" "≤ 50 ms" "$rs" "$v" "dhcpcd ($reasons): $ds" "$(ratio "$rmed" "$dmed")"
    # VmRSS of routerd's one process; dhcpcd: its manager, and all its processes.
    local r_rss d_rss d_all d_pss r_pss d_n
    r_rss=$(awk '{print $1}' "$RES/a.routerd.rss" | sort -n | tail -1)
    r_pss=$(awk '{print $2}' "$RES/a.routerd.rss" | sort -n | tail -1)
    d_rss=$(awk '{print $4}' "$RES/a.dhcpcd.rss" | sort -n | tail -1)
    d_all=$(awk '{print $1}' "$RES/a.dhcpcd.rss" | sort -n | tail -1)
    d_pss=$(awk '{print $2}' "$RES/a.dhcpcd.rss" | sort -n | tail -1)
    d_n=$(awk '{print $3}' "$RES/a.dhcpcd.rss" | sort -n | tail -1)
    echo "   VmRSS after Bound (max of $REPS): routerd-dhcpv6-client $(kb_to_mb "$r_rss") (Pss $(kb_to_mb "$r_pss"));"
    echo "     dhcpcd manager $(kb_to_mb "$d_rss"), all $d_n dhcpcd processes $(kb_to_mb "$d_all") (Pss $(kb_to_mb "$d_pss"))"
    if le "$r_rss" $((8 * 1024)); then v=PASS; else v=MISSED; fi
    row "3. routerd-dhcpv6-client VmRSS after Bound (max)" "≤ 8 MB" "$(kb_to_mb "$r_rss") (Pss $(kb_to_mb "$r_pss"))" "$v" \
      "dhcpcd manager $(kb_to_mb "$d_rss"); all $d_n processes $(kb_to_mb "$d_all") (Pss $(kb_to_mb "$d_pss"))" \
      "$(ratio "$r_pss" "$d_pss") (Pss)"
    wire_notes a "kea default"
  fi

  if ! bench6 b "1b: DHCPv6-PD against kea with \"rapid-commit\": true on the subnet" routerd dhcpcd dhcpcd-rc; then
    row "1b. DHCPv6-PD start → Bound, kea rapid-commit" "≤ 0.6× dhcpcd" "—" "ERROR" "—" "—"
  else
    local rs rmed ds dmed cs cmed goal v
    stats "$RES/b.routerd.start"
    rs=$FMT rmed=$MED
    stats "$RES/b.dhcpcd.start"
    ds=$FMT dmed=$MED
    stats "$RES/b.dhcpcd-rc.start"
    cs=$FMT cmed=$MED
    echo "   start → Bound: routerd   $rs"
    echo "                  dhcpcd    $ds"
    echo "                  dhcpcd-rc $cs (dhcpcd with option rapid_commit)"
    goal=$(python3 -c "import sys; print(0.6 * float(sys.argv[1]))" "$dmed")
    if le "$rmed" "$goal"; then v=PASS; else v=MISSED; fi
    row "1b. DHCPv6-PD start → Bound, kea rapid-commit" "≤ 0.6× dhcpcd" "$rs" "$v" "dhcpcd: $ds" "$(ratio "$rmed" "$dmed")"
    row "1b′. the same, dhcpcd told to ask for Rapid Commit (information)" "—" "$rs" "—" "dhcpcd + option rapid_commit: $cs" "$(ratio "$rmed" "$cmed")"
    wire_notes b "kea rapid-commit"
  fi
}

# ---------------------------------------------------------------------------
# DHCPv4 (figure 4): routerd-dhcpv4-client vs dhcpcd -4, dnsmasq as the server
# ---------------------------------------------------------------------------
# dhcpcd -4 as it comes (its random start delay, RFC 5227 ARP probing of the
# offered address), and dhcpcd -4 told to skip both, which is what
# routerd-dhcpv4-client does by default (no start delay, no probe).
DHCPCD4_CONF=$WORK/dhcpcd-v4.conf
cat > "$DHCPCD4_CONF" << 'EOF'
noipv6
nohook resolv.conf
interface wan0
EOF
DHCPCD4_FAST_CONF=$WORK/dhcpcd-v4-fast.conf
cat > "$DHCPCD4_FAST_CONF" << 'EOF'
noipv6
nohook resolv.conf
noarp
nodelay
interface wan0
EOF

run4() {
  local client=$1 rep=$2 d="$WORK/v4/$1-$2" pid out t0 tb t1
  mkdir -p "$d"
  case "$client" in
    routerd)
      mkdir -p "$d/state"
      echo '{"name":"wan-v4","interface":"wan0"}' > "$d/client.json"
      pid=$(bg_in_ns "$CLI" "$d/out" python3 "$PY" stamp "$d/stamp" -- \
        "$BIN/routerd-dhcpv4-client" --config "$d/client.json" --socket "$d/client.sock" --state-dir "$d/state")
      out=$(py wait-event "$d/state/events.jsonl" dhcpv4.lease.bound 0 30) || {
        fail "routerd-dhcpv4-client (run $rep) did not bind: $(tail -3 "$d/out")"
        stop_clients "$pid"
        return 1
      }
      ;;
    dhcpcd | dhcpcd-fast)
      local conf=$DHCPCD4_CONF
      [ "$client" = dhcpcd-fast ] && conf=$DHCPCD4_FAST_CONF
      pid=$(spawn_dhcpcd "$d" "$d/stamp" -4 -f "$conf" wan0)
      out=$(py wait-hook "$d/hook.log" BOUND,REBOOT,RENEW,REBIND 0 30) || {
        fail "$client -4 (run $rep) did not bind: $(tail -3 "$d/dhcpcd.log" 2> /dev/null)"
        stop_clients "$pid"
        return 1
      }
      out=${out#* }
      ;;
  esac
  t0=$(stamp_time "$d/stamp")
  tb=${out%% *}
  t1=$(ms_between "$t0" "$tb")
  printf '  %-11s %7.1f ms' "$client" "$t1"
  if ((rep > 0)); then
    echo "$t1" >> "$RES/v4.$client.start"
    sleep 0.5
    local pids
    if [ "$client" = routerd ]; then pids=$pid; else pids=$(ip netns pids "$CLI" | tr '\n' ' '); fi
    # shellcheck disable=SC2086 # one pid a word
    echo "$(py mem $pids) $(py mem "$pid")" >> "$RES/v4.$client.rss"
    echo "$client $client $t0 $(now) $tb" >> "$RES/v4.runs"
  fi
  stop_clients "$pid"
}

bench_v4() {
  echo
  if [ -n "$V4_NOTE" ]; then
    echo "== 4. DHCPv4: skipped, $V4_NOTE"
    NOTES+=("- Figure 4 (routerd-dhcpv4-client vs dhcpcd -4) was skipped: $V4_NOTE.")
    return 0
  fi
  echo "== 4. DHCPv4 against dnsmasq: routerd-dhcpv4-client vs dhcpcd -4 (defaults) vs dhcpcd -4 noarp nodelay, $REPS runs each, taking turns"
  ip -n "$SRV" addr add 192.0.2.1/24 dev srv0
  local k="$WORK/dnsmasq" dns_pid
  mkdir -p "$k"
  dns_pid=$(bg_in_ns "$SRV" "$k/dnsmasq.log" dnsmasq --keep-in-foreground --log-facility=- \
    --conf-file=/dev/null --port=0 --dhcp-leasefile="$k/leases" --pid-file="$k/dnsmasq.pid" \
    --interface=srv0 --bind-interfaces --dhcp-authoritative --user=root --group=root --no-ping \
    --dhcp-range=192.0.2.100,192.0.2.199,255.255.255.0,2m)
  wait_log "$k/dnsmasq.log" "sockets bound exclusively to interface srv0" 20 || {
    fail "dnsmasq did not start: $(tail -3 "$k/dnsmasq.log")"
    row "4. DHCPv4 start → Bound" "—" "—" "ERROR" "—" "—"
    return 1
  }
  start_capture "$WORK/v4.pcap" "udp port 67 or udp port 68 or arp"
  local i who ok=1
  local clients=(routerd dhcpcd dhcpcd-fast)
  printf '   warm-up '
  for who in "${clients[@]}"; do run4 "$who" 0 || ok=0; done
  echo
  for ((i = 1; i <= REPS && ok; i++)); do
    printf '   run %2d ' "$i"
    # Rotate who goes first.
    local k2 n=${#clients[@]}
    for ((k2 = 0; k2 < n; k2++)); do
      run4 "${clients[$(((i + k2) % n))]}" "$i" || {
        ok=0
        break
      }
    done
    echo
  done
  stop_capture
  kill "$dns_pid" 2> /dev/null || true
  py gone 5 "$dns_pid" || kill -9 "$dns_pid" 2> /dev/null || true
  if ((!ok)); then
    row "4. DHCPv4 start → Bound" "—" "—" "ERROR" "—" "—"
    return 1
  fi
  local rs rmed ds dmed fs fmed
  stats "$RES/v4.routerd.start"
  rs=$FMT rmed=$MED
  stats "$RES/v4.dhcpcd.start"
  ds=$FMT dmed=$MED
  stats "$RES/v4.dhcpcd-fast.start"
  fs=$FMT fmed=$MED
  echo "   start → Bound: routerd              $rs"
  echo "                  dhcpcd -4            $ds"
  echo "                  dhcpcd -4 noarp nodelay $fs"
  row "4a. DHCPv4 start → Bound vs dhcpcd -4 defaults" "none set" "$rs" "—" "dhcpcd -4: $ds" "$(ratio "$rmed" "$dmed")"
  row "4b. DHCPv4 start → Bound vs dhcpcd -4 noarp nodelay" "none set" "$rs" "—" "dhcpcd -4 noarp nodelay: $fs" "$(ratio "$rmed" "$fmed")"
  local r_rss r_pss d_rss d_all d_pss d_n v
  r_rss=$(awk '{print $1}' "$RES/v4.routerd.rss" | sort -n | tail -1)
  r_pss=$(awk '{print $2}' "$RES/v4.routerd.rss" | sort -n | tail -1)
  d_rss=$(awk '{print $4}' "$RES/v4.dhcpcd.rss" | sort -n | tail -1)
  d_all=$(awk '{print $1}' "$RES/v4.dhcpcd.rss" | sort -n | tail -1)
  d_pss=$(awk '{print $2}' "$RES/v4.dhcpcd.rss" | sort -n | tail -1)
  d_n=$(awk '{print $3}' "$RES/v4.dhcpcd.rss" | sort -n | tail -1)
  echo "   VmRSS after Bound (max): routerd-dhcpv4-client $(kb_to_mb "$r_rss") (Pss $(kb_to_mb "$r_pss")); dhcpcd -4 manager $(kb_to_mb "$d_rss"), all $d_n processes $(kb_to_mb "$d_all") (Pss $(kb_to_mb "$d_pss"))"
  if le "$r_rss" $((8 * 1024)); then v=PASS; else v=MISSED; fi
  row "4c. routerd-dhcpv4-client VmRSS after Bound (max)" "≤ 8 MB" "$(kb_to_mb "$r_rss") (Pss $(kb_to_mb "$r_pss"))" "$v" \
    "dhcpcd -4 manager $(kb_to_mb "$d_rss"); all $d_n processes $(kb_to_mb "$d_all") (Pss $(kb_to_mb "$d_pss"))" \
    "$(ratio "$r_pss" "$d_pss") (Pss)"
  if [ -f "$WORK/v4.pcap" ]; then
    py wire "$WORK/v4.pcap" "$RES/v4.runs" > "$RES/v4.wire" || true
    wire_notes v4 "DHCPv4"
  fi
}

bench_v6 || true
bench_v4 || true

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
HOST_AFTER=$(host_state)
echo
echo "== summary"
echo
echo "Machine: $CPU, $CORES cores, kernel $KERNEL; $DATE; routerd $REV, release build; $DHCPCD_V, $KEA_V, $DNSMASQ_V."
echo "Load average: $LOAD at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine inflates the timings)."
echo
echo "| figure | goal | routerd: median / p90 (min–max, n) | verdict | peer in the same run | routerd/peer (medians) |"
echo "|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
if [ "${#NOTES[@]}" -gt 0 ]; then
  echo "On the wire (tcpdump on the server's side of the link; times from the client's start; medians):"
  for n in "${NOTES[@]}"; do echo "$n"; done
  echo
fi
if [ "$HOST_BEFORE" != "$HOST_AFTER" ]; then
  echo "WARNING: the host's DHCP client state changed during the run (not necessarily by this script):"
  diff <(echo "$HOST_BEFORE") <(echo "$HOST_AFTER") | sed 's/^/   /' || true
else
  echo "Host untouched: /var/lib/dhcpcd, /run/dhcpcd, /var/lib/kea and /etc/resolv.conf are as they were."
fi
MISSED=$(printf '%s\n' "${ROWS[@]}" | grep -c '| MISSED |' || true)
if [ "$MISSED" -gt 0 ]; then
  echo "MISSED: $MISSED goal(s) not met (see the table); a benchmark reports, it does not fail."
fi
if [ "$ERRORS" -gt 0 ]; then
  echo "ERROR: $ERRORS problem(s) kept figures from being measured."
  exit 1
fi
exit 0
