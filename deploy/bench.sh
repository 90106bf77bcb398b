#!/usr/bin/env bash
# routerd's foundation benchmarks, measured side by side with a peer in one run.
#
#   sudo deploy/bench.sh            # 10 repetitions of each figure
#   sudo deploy/bench.sh --quick    # 3 repetitions (drift repair keeps 20)
#   sudo deploy/bench.sh --no-build # reuse the release binaries already built
#
# Figures (docs/benchmarks.md explains each one and its method):
#   1. `routerd apply --once` of 1,000 IPv4Routes from empty   vs `ip -batch` route add
#   2. `routerd apply --once` again, nothing to change          vs `ip -batch` route replace
#   3. idle RSS of `routerd serve` and of routerd-healthcheck    (context: dnsmasq, http.server, ping)
#   4. drift repair: an address deleted by hand until it is back
#   5. routerd-healthcheck `kill -9` until the new one answers /v1/healthz
#
# Everything runs in network namespaces this script creates (rdbench-PID-*) and
# deletes on exit, also on failure or Ctrl-C. The host's own namespace is never
# touched. A missed goal is reported as MISSED and still exits 0: this is a
# benchmark, not a test. A figure that could not be measured is ERROR (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REPS=10
DRIFT_REPS=20
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --quick) REPS=3 ;;
    --no-build) BUILD=0 ;;
    -h | --help)
      sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "deploy/bench.sh: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/bench.sh: needs root (network namespaces); run: sudo $0 $*" >&2
  exit 1
fi
for tool in ip python3; do
  command -v "$tool" > /dev/null || {
    echo "deploy/bench.sh: $tool is missing" >&2
    exit 1
  }
done

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
if [ "$BUILD" = 1 ]; then
  command -v cargo > /dev/null || {
    echo "deploy/bench.sh: cargo is not on root's PATH; try: sudo env PATH=\"\$PATH\" $0 $*" >&2
    exit 1
  }
  echo "== cargo build --release --bins --locked (target dir $TARGET_DIR)"
  cargo build --release --bins --locked
fi
for b in routerd routerctl routerd-healthcheck; do
  [ -x "$BIN/$b" ] || {
    echo "deploy/bench.sh: $BIN/$b is missing (build without --no-build)" >&2
    exit 1
  }
done

# ---------------------------------------------------------------------------
# Scratch space, namespaces and the teardown that always runs
# ---------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/routerd-bench.XXXXXX)
PREFIX="rdbench-$$"
NAMESPACES=()
BG_PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  for pid in "${BG_PIDS[@]}"; do
    kill -9 "$pid" 2> /dev/null
  done
  for ns in "${NAMESPACES[@]}"; do
    # Every process left in the namespace (routerd, its daemons, which run in
    # their own process groups, the peers): two passes, bounded.
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
# and IPv6 DAD off; prints its name.
new_ns() {
  local ns="$PREFIX-$1"
  NAMESPACES+=("$ns")
  mkdir -p "/etc/netns/$ns"
  echo "# routerd bench" > "/etc/netns/$ns/resolv.conf"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# ---------------------------------------------------------------------------
# The timing helper (python3: monotonic clock, setns, netlink monitor parsing)
# ---------------------------------------------------------------------------
PY=$WORK/bench.py
cat > "$PY" << 'PYEOF'
import ctypes, datetime, json, os, re, select, signal, socket, subprocess, sys, time

CLONE_NEWNET = 0x40000000


def enter_netns(name):
    """Moves this (single-threaded) process into /run/netns/NAME, or dies."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns {name}: {os.strerror(err)}")
    os.close(fd)


def timed(ns, out, argv):
    """Runs argv inside netns NS (entered with setns only, as `ip -n` does),
    output to OUT; prints the wall time in ms; exits with argv's status."""
    enter_netns(ns)
    with open(out, "wb") as f:
        t0 = time.perf_counter_ns()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        t1 = time.perf_counter_ns()
    print(f"{(t1 - t0) / 1e6:.3f}")
    sys.exit(p.returncode)


def stats(path):
    """median min max p95 n of the numbers in PATH (one a line)."""
    v = sorted(float(x) for x in open(path).read().split())
    n = len(v)
    if n == 0:
        print("nan nan nan nan 0")
        return
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    p95 = v[min(n - 1, max(0, -(-95 * n // 100) - 1))]  # nearest rank
    print(f"{med:.3f} {v[0]:.3f} {v[-1]:.3f} {p95:.3f} {n}")


def healthz(sock_path, timeout=0.5):
    """True when the daemon on SOCK_PATH answers GET /v1/healthz with 200."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(b"GET /v1/healthz HTTP/1.1\r\nHost: daemon\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data and len(data) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
    except OSError:
        return False
    finally:
        s.close()


def alive(pid):
    """A process that can still run code (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def restart(sock_path, pid_file, timeout_s):
    """kill -9 the daemon whose pid is in PID_FILE; prints ms until a *new*
    process answers /v1/healthz on SOCK_PATH (the old one dead, the pid file
    naming another pid)."""
    old = int(open(pid_file).read().strip())
    if not alive(old):
        sys.exit(f"pid {old} from {pid_file} is not running")
    os.kill(old, signal.SIGKILL)
    t0 = time.perf_counter_ns()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(old):
            try:
                new = int(open(pid_file).read().strip())
            except (OSError, ValueError):
                new = old
            if new != old and healthz(sock_path, timeout=0.2):
                t1 = time.perf_counter_ns()
                print(f"{(t1 - t0) / 1e6:.3f} {new}")
                return
        time.sleep(0.001)
    sys.exit(f"no new daemon answered on {sock_path} within {timeout_s}s")


TS = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})\]\s*(.*)$")


class Monitor:
    """`ip -ts -o monitor address` in netns NS; lines with ip's own
    (microsecond) receive timestamps, so our scheduling adds nothing."""

    def __init__(self, ns):
        self.p = subprocess.Popen(["ip", "-n", ns, "-ts", "-o", "monitor", "address"],
                                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.buf = b""

    def lines(self, until):
        """Yields (time_s, text) until the monotonic deadline UNTIL."""
        fd = self.p.stdout.fileno()
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                m = TS.match(line.decode(errors="replace"))
                if m:
                    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
                    yield t, m.group(2)
            left = until - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                self.buf += chunk

    def drain(self, seconds):
        for _ in self.lines(time.monotonic() + seconds):
            pass

    def close(self):
        self.p.kill()
        self.p.wait()


def drift(ns, ifname, cidr, reps, spacing_ms, timeout_s):
    """Deletes CIDR from IFNAME REPS times; prints, per repetition, the ms from
    the kernel's RTM_DELADDR to the RTM_NEWADDR that puts it back."""
    mon = Monitor(ns)
    try:
        # Prove the monitor is subscribed before the first deletion counts.
        probe = "127.0.0.254/8"
        ready = False
        for _ in range(50):
            subprocess.run(["ip", "-n", ns, "addr", "add", probe, "dev", "lo"],
                           stderr=subprocess.DEVNULL)
            for _t, text in mon.lines(time.monotonic() + 0.1):
                if "127.0.0.254/8" in text:
                    ready = True
                    break
            subprocess.run(["ip", "-n", ns, "addr", "del", probe, "dev", "lo"],
                           stderr=subprocess.DEVNULL)
            if ready:
                break
        if not ready:
            sys.exit("ip monitor never reported the probe address")
        needle = f"inet {cidr} "
        for i in range(reps):
            mon.drain(spacing_ms / 1000)
            subprocess.run(["ip", "-n", ns, "addr", "del", cidr, "dev", ifname], check=True)
            t_del = t_add = None
            for t, text in mon.lines(time.monotonic() + timeout_s):
                if needle not in text:
                    continue
                if text.startswith("Deleted"):
                    t_del = t
                elif t_del is not None:
                    t_add = t
                    break
            if t_del is None or t_add is None:
                sys.exit(f"repetition {i + 1}: {cidr} was not restored within {timeout_s}s")
            print(f"{(t_add - t_del) * 1000:.3f}", flush=True)
    finally:
        mon.close()


def status_ready(routerctl, sock, timeout_s):
    """Waits (bounded) until routerctl status shows every resource Applied,
    Up or Healthy and every daemon Running; prints the phases."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        p = subprocess.run([routerctl, "--socket", sock, "status", "-o", "json"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            try:
                s = json.loads(p.stdout)
            except ValueError:
                s = None
            if s is not None:
                st = s.get("status", {})
                phases = st.get("phases") or {}
                total = st.get("resources")
                daemons = st.get("daemons") or []
                last = (phases, [(d.get("name"), d.get("state")) for d in daemons])
                good = set(phases) <= {"Applied", "Up", "Healthy"}
                if good and total == sum(phases.values()) and daemons and all(
                        d.get("state") == "Running" for d in daemons):
                    print(json.dumps(phases, sort_keys=True))
                    return
        time.sleep(0.2)
    sys.exit(f"not ready after {timeout_s}s; last status: {last}")


def daemons(routerctl, sock):
    """name pid, one a line, of routerd's managed daemons."""
    p = subprocess.run([routerctl, "--socket", sock, "status", "-o", "json"],
                       capture_output=True, text=True, check=True)
    for d in json.loads(p.stdout)["status"]["daemons"]:
        print(d["name"], d.get("pid") or "-")


def gen_routes(out_cfg, out_add, out_replace, count):
    """The 1,000-route config and the equivalent iproute2 batch files."""
    nets = [(a, b) for a in range(256) for b in range(256)][:count]
    with open(out_cfg, "w") as f:
        f.write("""apiVersion: routerd.net/v1alpha1
kind: Router
metadata:
  name: bench-routes
spec:
  resources:
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata:
        name: bench
      spec:
        ifname: bench0
        managed: true
        adminUp: true
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata:
        name: bench-v4
      spec:
        interface: bench
        address: 10.255.0.1/16
""")
        for a, b in nets:
            f.write(f"""    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4Route
      metadata:
        name: r-{a}-{b}
      spec:
        destination: 10.{a}.{b}.0/24
        gateway: 10.255.0.254
        device: bench0
""")
    for path, verb, addr in ((out_add, "add", "add"), (out_replace, "replace", "replace")):
        with open(path, "w") as f:
            f.write("link set bench0 up\n")
            f.write(f"addr {addr} 10.255.0.1/16 dev bench0\n")
            for a, b in nets:
                f.write(f"route {verb} 10.{a}.{b}.0/24 via 10.255.0.254 dev bench0 proto 157\n")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "timed":
        assert args[2] == "--"
        timed(args[0], args[1], args[3:])
    elif cmd == "stats":
        stats(args[0])
    elif cmd == "restart":
        restart(args[0], args[1], float(args[2]))
    elif cmd == "drift":
        drift(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]))
    elif cmd == "ready":
        status_ready(args[0], args[1], float(args[2]))
    elif cmd == "daemons":
        daemons(args[0], args[1])
    elif cmd == "healthz":
        sys.exit(0 if healthz(args[0]) else 1)
    elif cmd == "gen-routes":
        gen_routes(args[0], args[1], args[2], int(args[3]))
    else:
        sys.exit(f"unknown helper command {cmd}")
PYEOF
py() { python3 "$PY" "$@"; }

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
ROWS=()    # markdown rows of the summary table
ERRORS=0

# row FIGURE GOAL MEASURED VERDICT PEER RATIO
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }

# verdict VALUE LIMIT: PASS when VALUE <= LIMIT, else MISSED.
verdict() { python3 -c "import sys; print('PASS' if float(sys.argv[1]) <= float(sys.argv[2]) else 'MISSED')" "$1" "$2"; }
# ratio A B: "A/B" as "1.23x", or "—" when either is not a number.
ratio() {
  python3 -c "
import sys
try: print(f'{float(sys.argv[1]) / float(sys.argv[2]):.2f}x')
except (ValueError, ZeroDivisionError): print('—')" "$1" "$2"
}
# kb_to_mb KB: "12.3 MB", or "n/a" (a context peer that is not installed).
kb_to_mb() {
  python3 -c "
import sys
try: print(f'{int(sys.argv[1]) / 1024:.1f} MB')
except ValueError: print('n/a')" "$1"
}

# stats FILE: the numbers (ms) in FILE; sets MED MIN MAX P95 N and
# FMT="median ms (min–max, n=N)".
stats() {
  read -r MED MIN MAX P95 N < <(py stats "$1")
  FMT=$(printf '%.1f ms (%.1f–%.1f, n=%s)' "$MED" "$MIN" "$MAX" "$N")
}

vmrss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
vmhwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

fail() {
  echo "ERROR: $*" >&2
  ERRORS=$((ERRORS + 1))
}

# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
CORES=$(nproc)
RAM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024}' /proc/meminfo)
KERNEL=$(uname -r)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
REV=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2> /dev/null)" ]; then
  REV="$REV (+ uncommitted changes)"
fi
IPROUTE=$(ip -V | sed 's/^ip utility, //')
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "== machine: $CPU, $CORES cores, $RAM_MB MB RAM, kernel $KERNEL, $DATE"
echo "   routerd $REV, release profile (lto=thin, codegen-units=1, opt-level=3); $IPROUTE"
echo "   load average at start: $LOAD; repetitions: $REPS"

# routerd writes `persistent: true` Sysctls to /etc/sysctl.d; none of ours are,
# and it is pointed at a scratch directory anyway so the host's /etc is never touched.
SYSCTL_ARGS=()
if grep -q 'sysctl_dir' "$ROOT/cli/src/bin/routerd.rs"; then
  mkdir -p "$WORK/sysctl.d"
  SYSCTL_ARGS=(--sysctl-dir "$WORK/sysctl.d")
fi

ROUTES=1000
py gen-routes "$WORK/routes.yaml" "$WORK/add.batch" "$WORK/replace.batch" "$ROUTES"

# ---------------------------------------------------------------------------
# 1 and 2: apply 1,000 routes from empty, then again with nothing to change
# ---------------------------------------------------------------------------
bench_apply() {
  local nsr nsi
  nsr="$PREFIX-apply-routerd"
  nsi="$PREFIX-apply-iproute2"
  new_ns apply-routerd
  new_ns apply-iproute2
  for ns in "$nsr" "$nsi"; do
    ip -n "$ns" link add bench0 type veth peer name bench0p
    ip -n "$ns" link set bench0p up
  done
  # Even `validate` (no netlink at all) runs in a namespace of ours.
  py timed "$nsr" "$WORK/validate.out" -- "$BIN/routerd" validate --config "$WORK/routes.yaml" > /dev/null || {
    fail "the generated config does not validate: $(head -5 "$WORK/validate.out")"
    row "1. apply $ROUTES routes from empty" "≤ 200 ms" "—" "ERROR" "—" "—"
    return 1
  }

  # Back to empty: no address, no route, link down (IPv4 routes go with it).
  reset_ns() {
    ip -n "$1" link set bench0 down
    ip -n "$1" addr flush dev bench0
    ip -n "$1" -4 route flush table main 2> /dev/null || true
    local left
    left=$(ip -n "$1" -4 route show table main | wc -l)
    [ "$left" -eq 0 ] || {
      fail "$1 still has $left routes after the reset"
      return 1
    }
  }
  count_routes() { ip -n "$1" -4 route show table main proto 157 | wc -l; }

  run_routerd() { py timed "$nsr" "$WORK/apply.out" -- "$BIN/routerd" apply --once --config "$WORK/routes.yaml" "${SYSCTL_ARGS[@]}"; }
  run_iproute() { py timed "$nsi" "$WORK/ip.out" -- ip -batch "$1"; }

  echo
  echo "== 1. apply $ROUTES routes from empty: routerd apply --once vs ip -batch (route add), $REPS repetitions"
  # One untimed warm-up each (page cache, first-touch of the binaries).
  reset_ns "$nsr" && run_routerd > /dev/null || fail "warm-up routerd apply failed: $(tail -3 "$WORK/apply.out")"
  reset_ns "$nsi" && run_iproute "$WORK/add.batch" > /dev/null || fail "warm-up ip -batch failed: $(tail -3 "$WORK/ip.out")"
  : > "$WORK/t1.routerd"
  : > "$WORK/t1.ip"
  local i t ok=1
  for ((i = 1; i <= REPS; i++)); do
    if ! reset_ns "$nsr" || ! reset_ns "$nsi"; then
      ok=0
      break
    fi
    printf '   rep %2d ' "$i"
    # Alternate who goes first, so neither always runs on a warmer machine.
    local order=(r i)
    if ((i % 2 == 0)); then order=(i r); fi
    for who in "${order[@]}"; do
      if [ "$who" = r ]; then
        if ! t=$(run_routerd); then
          fail "routerd apply --once failed: $(tail -5 "$WORK/apply.out")"
          ok=0
          break 2
        fi
        [ "$(count_routes "$nsr")" -eq "$ROUTES" ] || {
          fail "routerd left $(count_routes "$nsr") routes, not $ROUTES"
          ok=0
          break 2
        }
        echo "$t" >> "$WORK/t1.routerd"
        printf '  routerd %7.1f ms' "$t"
      else
        if ! t=$(run_iproute "$WORK/add.batch"); then
          fail "ip -batch failed: $(tail -5 "$WORK/ip.out")"
          ok=0
          break 2
        fi
        [ "$(count_routes "$nsi")" -eq "$ROUTES" ] || {
          fail "ip -batch left $(count_routes "$nsi") routes"
          ok=0
          break 2
        }
        echo "$t" >> "$WORK/t1.ip"
        printf '  iproute2 %7.1f ms' "$t"
      fi
    done
    echo
  done
  if [ "$ok" = 1 ]; then
    local rs is rmed imed
    stats "$WORK/t1.routerd"
    rs=$FMT rmed=$MED
    stats "$WORK/t1.ip"
    is=$FMT imed=$MED
    echo "   routerd:  $rs"
    echo "   iproute2: $is"
    # How much of routerd's time is reading and validating the 1,000-resource
    # file (no netlink at all): context for the ratio.
    : > "$WORK/t1.validate"
    for ((i = 1; i <= REPS; i++)); do
      py timed "$nsr" "$WORK/validate.out" -- "$BIN/routerd" validate --config "$WORK/routes.yaml" >> "$WORK/t1.validate" || break
    done
    stats "$WORK/t1.validate"
    VALIDATE_FMT=$FMT
    echo "   of which reading + validating the config (routerd validate alone): $VALIDATE_FMT"
    row "1. apply $ROUTES routes from empty" "≤ 200 ms" "$rs" "$(verdict "$rmed" 200)" \
      "ip -batch add: $is" "$(ratio "$rmed" "$imed")"
  else
    echo
    row "1. apply $ROUTES routes from empty" "≤ 200 ms" "—" "ERROR" "—" "—"
    row "2. no-change re-apply ($ROUTES routes)" "≤ 50 ms" "—" "ERROR (needs figure 1)" "—" "—"
    return 1
  fi

  echo
  echo "== 2. no-change re-apply: routerd apply --once vs ip -batch (route replace), $REPS repetitions"
  run_routerd > /dev/null || fail "warm-up re-apply failed"
  run_iproute "$WORK/replace.batch" > /dev/null || fail "warm-up ip -batch replace failed"
  : > "$WORK/t2.routerd"
  : > "$WORK/t2.ip"
  for ((i = 1; i <= REPS; i++)); do
    if ! t=$(run_routerd); then
      fail "routerd re-apply failed: $(tail -5 "$WORK/apply.out")"
      ok=0
      break
    fi
    grep -q "No changes" "$WORK/apply.out" || {
      fail "routerd re-apply changed something: $(head -3 "$WORK/apply.out")"
      ok=0
      break
    }
    echo "$t" >> "$WORK/t2.routerd"
    local t2
    if ! t2=$(run_iproute "$WORK/replace.batch"); then
      fail "ip -batch replace failed: $(tail -5 "$WORK/ip.out")"
      ok=0
      break
    fi
    echo "$t2" >> "$WORK/t2.ip"
    printf '   rep %2d  routerd %8.1f ms   iproute2 %8.1f ms\n' "$i" "$t" "$t2"
  done
  if [ "$ok" = 1 ]; then
    local rs is rmed imed
    stats "$WORK/t2.routerd"
    rs=$FMT rmed=$MED
    stats "$WORK/t2.ip"
    is=$FMT imed=$MED
    echo "   routerd:  $rs"
    echo "   iproute2: $is"
    row "2. no-change re-apply ($ROUTES routes)" "≤ 50 ms" "$rs" "$(verdict "$rmed" 50)" \
      "ip -batch replace: $is" "$(ratio "$rmed" "$imed")"
  else
    row "2. no-change re-apply ($ROUTES routes)" "≤ 50 ms" "—" "ERROR" "—" "—"
  fi
}

# ---------------------------------------------------------------------------
# 3, 4 and 5: routerd serve with a lab-like config
# ---------------------------------------------------------------------------
write_lab_config() {
  cat > "$1" << 'EOF'
apiVersion: routerd.net/v1alpha1
kind: Router
metadata:
  name: bench-lab
spec:
  resources:
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata:
        name: wan
      spec:
        ifname: wan0
        managed: true
        adminUp: true
    - apiVersion: net.routerd.net/v1alpha1
      kind: Interface
      metadata:
        name: lan
      spec:
        ifname: lan0
        managed: true
        adminUp: true
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata:
        name: wan-v4
      spec:
        interface: wan
        address: 192.0.2.1/24
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata:
        name: wan-v6
      spec:
        interface: wan
        address: 2001:db8:1::1/64
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4StaticAddress
      metadata:
        name: lan-v4
      spec:
        interface: lan
        address: 10.10.0.1/24
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6StaticAddress
      metadata:
        name: lan-v6
      spec:
        interface: lan
        address: fd00:10::1/64
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv4Route
      metadata:
        name: far-v4
      spec:
        destination: 198.51.100.0/24
        gateway: 192.0.2.2
        device: wan0
    - apiVersion: net.routerd.net/v1alpha1
      kind: IPv6Route
      metadata:
        name: far-v6
      spec:
        destination: 2001:db8:100::/48
        gateway: 2001:db8:1::2
        device: wan0
    - apiVersion: system.routerd.net/v1alpha1
      kind: Sysctl
      metadata:
        name: forward-v4
      spec:
        key: net.ipv4.ip_forward
        value: "1"
        persistent: false
    - apiVersion: system.routerd.net/v1alpha1
      kind: Sysctl
      metadata:
        name: forward-v6
      spec:
        key: net.ipv6.conf.all.forwarding
        value: "1"
        persistent: false
    - apiVersion: net.routerd.net/v1alpha1
      kind: HealthCheck
      metadata:
        name: peer-v4
      spec:
        protocol: icmp
        target: 192.0.2.2
        interface: wan
        interval: 1s
        timeout: 500ms
    - apiVersion: net.routerd.net/v1alpha1
      kind: HealthCheck
      metadata:
        name: peer-v6
      spec:
        protocol: icmp
        target: 2001:db8:1::2
        interface: wan
        interval: 1s
        timeout: 500ms
EOF
}

serve_error_rows() {
  row "3. idle RSS (routerd, routerd-healthcheck)" "≤ 20 MB, ≤ 8 MB" "—" "ERROR" "—" "—"
  row "4. drift repair (address deleted → back)" "≤ 1000 ms" "—" "ERROR (needs routerd serve)" "—" "—"
  row "5. healthcheck kill -9 → /v1/healthz answers" "≤ 2000 ms" "—" "ERROR (needs routerd serve)" "—" "—"
}

bench_serve() {
  local nss nsp
  nss="$PREFIX-serve"
  nsp="$PREFIX-peer"
  new_ns serve
  new_ns peer
  ip link add wan0 netns "$nss" type veth peer name peer0 netns "$nsp"
  # A veth whose other end stays in the same namespace: a LAN port with carrier
  # (some kernels, this test VM's among them, have no dummy driver).
  ip -n "$nss" link add lan0 type veth peer name lan0p
  ip -n "$nss" link set lan0p up
  ip -n "$nsp" addr add 192.0.2.2/24 dev peer0
  ip -n "$nsp" addr add 2001:db8:1::2/64 dev peer0
  ip -n "$nsp" link set peer0 up

  local cfg="$WORK/lab.yaml" state="$WORK/state" sock="$WORK/routerd.sock"
  write_lab_config "$cfg"
  py timed "$nss" "$WORK/validate.out" -- "$BIN/routerd" validate --config "$cfg" > /dev/null || {
    fail "the lab config does not validate: $(head -5 "$WORK/validate.out")"
    serve_error_rows
    return 1
  }
  mkdir -p "$state"
  echo
  echo "== 3. routerd serve, idle RSS (lab config: 2 Interfaces, 4 addresses, 2 routes, 2 sysctls, 2 ICMP HealthChecks at 1 s)"
  # Telemetry off, default log level: the figures of a plain install.
  ip netns exec "$nss" env -u OTEL_EXPORTER_OTLP_ENDPOINT -u RUST_LOG \
    "$BIN/routerd" serve --config "$cfg" --state-dir "$state" --socket "$sock" --daemon-dir "$BIN" "${SYSCTL_ARGS[@]}" \
    > "$WORK/serve.log" 2>&1 &
  local serve_pid=$!
  BG_PIDS+=("$serve_pid")
  disown "$serve_pid" # the teardown kills it; no "Killed" notice from bash
  local phases
  if ! phases=$(py ready "$BIN/routerctl" "$sock" 30); then
    fail "routerd serve did not converge: $(tail -5 "$WORK/serve.log")"
    serve_error_rows
    return 1
  fi
  local converged_at
  converged_at=$(date +%s)
  echo "   converged: $phases; idling 5 s"
  sleep 5
  local rss hwm
  rss=$(vmrss_kb "$serve_pid")
  hwm=$(vmhwm_kb "$serve_pid")
  local hc_rss=() hc_names=() name pid
  while read -r name pid; do
    hc_names+=("$name")
    hc_rss+=("$(vmrss_kb "$pid")")
    echo "   $name pid $pid VmRSS $(kb_to_mb "${hc_rss[-1]}") (VmHWM $(kb_to_mb "$(vmhwm_kb "$pid")"))"
  done < <(py daemons "$BIN/routerctl" "$sock")
  echo "   routerd pid $serve_pid VmRSS $(kb_to_mb "$rss") (VmHWM $(kb_to_mb "$hwm"))"

  # Context, not competitors: what small daemons cost on this machine, each
  # started in the peer namespace, idle 5 s, VmRSS read the same way.
  local ctx_dir="$WORK/ctx" dns_pid http_pid ping_pid
  mkdir -p "$ctx_dir/www"
  local dnsmasq=dnsmasq
  command -v dnsmasq > /dev/null || dnsmasq=false # not installed: reported as n/a
  ip netns exec "$nsp" "$dnsmasq" --no-daemon --conf-file=/dev/null --no-resolv --no-hosts \
    --listen-address=127.0.0.1 --bind-interfaces --pid-file="$ctx_dir/dnsmasq.pid" \
    > "$ctx_dir/dnsmasq.log" 2>&1 &
  dns_pid=$!
  BG_PIDS+=("$dns_pid")
  (cd "$ctx_dir/www" && exec ip netns exec "$nsp" python3 -m http.server --bind 127.0.0.1 8000) \
    > "$ctx_dir/http.log" 2>&1 &
  http_pid=$!
  BG_PIDS+=("$http_pid")
  ip netns exec "$nsp" ping -q -i 1 192.0.2.1 > /dev/null 2>&1 &
  ping_pid=$!
  BG_PIDS+=("$ping_pid")
  sleep 5
  local dns_rss=- http_rss=- ping_rss=-
  [ -r "/proc/$dns_pid/status" ] && dns_rss=$(vmrss_kb "$dns_pid")
  [ -r "/proc/$http_pid/status" ] && http_rss=$(vmrss_kb "$http_pid")
  [ -r "/proc/$ping_pid/status" ] && ping_rss=$(vmrss_kb "$ping_pid")
  kill -9 "$dns_pid" "$http_pid" "$ping_pid" 2> /dev/null || true
  wait "$dns_pid" "$http_pid" "$ping_pid" 2> /dev/null || true
  local ctx
  ctx="dnsmasq $(kb_to_mb "$dns_rss"), python3 http.server $(kb_to_mb "$http_rss")"
  echo "   context: $ctx, ping -i 1 $(kb_to_mb "$ping_rss")"
  row "3a. routerd serve idle RSS" "≤ 20 MB" "$(kb_to_mb "$rss")" "$(verdict "$rss" $((20 * 1024)))" \
    "no peer; context: $ctx" "—"
  local k worst=0
  for k in "${!hc_names[@]}"; do
    if ((hc_rss[k] > worst)); then worst=${hc_rss[k]}; fi
  done
  row "3b. routerd-healthcheck idle RSS (max of ${#hc_names[@]})" "≤ 8 MB" "$(kb_to_mb "$worst")" \
    "$(verdict "$worst" $((8 * 1024)))" "ping -i 1: $(kb_to_mb "$ping_rss")" "$(ratio "$worst" "$ping_rss")"

  # -- 4. drift repair --------------------------------------------------------
  echo
  echo "== 4. drift repair: ip addr del 10.10.0.1/24 dev lan0 until routerd puts it back, $DRIFT_REPS repetitions"
  # 1.5 s between repetitions: each deletion is an isolated drift event, not
  # one landing on a controller's pending retry (400 ms, then 800 ms) from
  # the previous repetition, which would make the figure depend on the spacing.
  echo "   (1.5 s apart; time from the kernel's RTM_DELADDR to its RTM_NEWADDR, as ip monitor stamps them)"
  if py drift "$nss" lan0 10.10.0.1/24 "$DRIFT_REPS" 1500 5 > "$WORK/t4" 2> "$WORK/t4.err"; then
    local ds
    stats "$WORK/t4"
    ds=$FMT
    echo "   $(tr '\n' ' ' < "$WORK/t4")"
    echo "   $ds, p95 $P95 ms"
    row "4. drift repair (address deleted → back)" "≤ 1000 ms" "$ds; p95 $(printf %.1f "$P95") ms" \
      "$(verdict "$MAX" 1000)" "no peer" "—"
  else
    fail "drift repair: $(cat "$WORK/t4.err")"
    row "4. drift repair (address deleted → back)" "≤ 1000 ms" "—" "ERROR" "no peer" "—"
  fi

  # -- 5. healthcheck restart ---------------------------------------------------
  # routerd restarts a daemon at once only when it ran for 30 s (STABLE_AFTER);
  # quicker crashes get a growing backoff. So the figure kills the two daemons
  # in turn, each 31 s after its last start: "one crash of a stable daemon".
  echo
  echo "== 5. kill -9 routerd-healthcheck until the new one answers /v1/healthz, $REPS repetitions"
  echo "   (each daemon killed 31 s after its previous start, so no crash-loop backoff applies)"
  : > "$WORK/t5"
  local -A last_start
  local now d out
  # Their first start was before routerd converged.
  for name in "${hc_names[@]}"; do last_start[$name]=$converged_at; done
  local ok=1
  for ((i = 1; i <= REPS; i++)); do
    name=${hc_names[$(((i - 1) % ${#hc_names[@]}))]}
    d="$state/daemons/$name"
    now=$(date +%s)
    local wait_s=$((last_start[$name] + 31 - now))
    if ((wait_s > 0)); then sleep "$wait_s"; fi
    if ! out=$(py restart "$d/daemon.sock" "$d/pid" 20 2>&1); then
      fail "restart of $name: $out"
      ok=0
      break
    fi
    last_start[$name]=$(date +%s)
    echo "${out%% *}" >> "$WORK/t5"
    printf '   rep %2d  %-22s %8.1f ms (new pid %s)\n' "$i" "$name" "${out%% *}" "${out##* }"
  done
  if [ "$ok" = 1 ]; then
    local rs
    stats "$WORK/t5"
    rs=$FMT
    echo "   $rs"
    row "5. healthcheck kill -9 → /v1/healthz answers" "≤ 2000 ms" "$rs" "$(verdict "$MAX" 2000)" "no peer" "—"
  else
    row "5. healthcheck kill -9 → /v1/healthz answers" "≤ 2000 ms" "—" "ERROR" "no peer" "—"
  fi

  # Crash loop, for information: back-to-back kills of one daemon show the
  # supervisor's backoff (100 ms doubling), by design not a restart-time figure.
  echo
  echo "   crash loop (information only): 5 back-to-back kills of ${hc_names[0]}"
  d="$state/daemons/${hc_names[0]}"
  local loop=()
  for ((i = 1; i <= 5; i++)); do
    if out=$(py restart "$d/daemon.sock" "$d/pid" 20 2>&1); then
      loop+=("$(printf %.0f "${out%% *}")")
    else
      loop+=("failed")
      break
    fi
  done
  echo "   back after: ${loop[*]} ms"
  CRASH_LOOP="${loop[*]}"

  # Is routerd itself still healthy after all that?
  if ! kill -0 "$serve_pid" 2> /dev/null; then
    fail "routerd serve died during the benchmark: $(tail -5 "$WORK/serve.log")"
  fi
  local warnings
  warnings=$(grep -cE ' (WARN|ERROR) ' "$WORK/serve.log" || true)
  echo "   routerd serve log: $warnings WARN/ERROR lines over the run"
  if [ "$warnings" -gt 0 ]; then
    echo "   most frequent:"
    grep -E ' (WARN|ERROR) ' "$WORK/serve.log" |
      sed -E 's/^[^ ]+ +//; s/ id="[^"]*".*$//; s/^(WARN|ERROR) [^ ]*: //' |
      cut -c1-200 | sort | uniq -c | sort -rn | head -6 | sed 's/^/     /'
  fi
  SERVE_WARNINGS=$warnings
}

CRASH_LOOP=""
VALIDATE_FMT=""
SERVE_WARNINGS=""
bench_apply || true
bench_serve || true

# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------
echo
echo "== summary"
echo
echo "Machine: $CPU, $CORES cores, $RAM_MB MB RAM, kernel $KERNEL; $DATE; routerd $REV, release build; $IPROUTE."
echo "Load average: $LOAD at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (other work on the machine inflates the timings)."
echo
echo "| figure | goal | routerd: median (min–max) | verdict | peer in the same run | routerd/peer |"
echo "|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
[ -n "$VALIDATE_FMT" ] && echo "Of figure 1, \`routerd validate\` of the same file alone (read, parse, validate; no netlink): $VALIDATE_FMT."
[ -n "$CRASH_LOOP" ] && echo "Crash loop (information only): back-to-back kills of one daemon, back after $CRASH_LOOP ms (the supervisor's backoff)."
[ -n "$SERVE_WARNINGS" ] && echo "routerd serve logged $SERVE_WARNINGS WARN/ERROR lines during figures 3–5 (see above)."
echo
MISSED=$(printf '%s\n' "${ROWS[@]}" | grep -c '| MISSED |' || true)
if [ "$MISSED" -gt 0 ]; then
  echo "MISSED: $MISSED goal(s) not met (see the table); a benchmark reports, it does not fail."
fi
if [ "$ERRORS" -gt 0 ]; then
  echo "ERROR: $ERRORS problem(s) kept figures from being measured."
  exit 1
fi
exit 0
