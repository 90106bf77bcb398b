#!/usr/bin/env bash
# Installs what routerd's tests and the lab need on a Debian machine, and
# nothing when it is all there already (then it takes well under a second).
#
#   sudo deploy/install-deps.sh
#
# dnsmasq-base is the dnsmasq binary alone: never install the `dnsmasq`
# package, whose service would start a DNS/DHCP server in the host namespace.
set -euo pipefail

die() {
  echo "install-deps: ERROR: $*" >&2
  exit 1
}

if [ "$(id -u)" -ne 0 ]; then
  die "needs root (it installs packages); run: sudo $0"
fi

PACKAGES=(
  iproute2       # ip, ip netns, veth pairs
  iputils-ping   # ping in the lab and the tests
  procps         # sysctl, pgrep, ps
  psmisc         # killall/fuser for teardown checks
  curl           # the daemon contract over Unix sockets
  python3        # helper scripts in tests
  dnsmasq-base   # a DNS/DHCP peer (binary only, no service)
  nftables       # nft, for link cuts and firewall tests
  libnftnl-dev   # nftables programming
  libmnl-dev
  pkg-config
  tcpdump        # packet assertions and debugging
  jq             # JSON from routerctl and the contract
  keepalived     # VRRP peer for the HA lab, chaos and failover bench (its service
                 # needs /etc/keepalived/keepalived.conf, which nothing here writes)
  kea-dhcp6-server # DHCPv6-PD server for the DHCPv6 client's interop tests (run in
                 # test namespaces with their own config; its default config
                 # listens on no interface)
  dhcpcd-base    # the dhcpcd binary alone (no service): the DHCPv6-PD benchmark's
                 # reference client and a DHCPv6 client peer for the LAN server
  ndisc6         # rdisc6: an independent reader of routerd's router advertisements
  bird2          # BGP and BFD peer (run in test namespaces with their own configs)
  frr            # BGP (bgpd) and BFD (bfdd) peer, likewise
  gobgpd         # GoBGP (gobgpd + gobgp CLI): BGP peer, likewise
)

# Peers whose packages ship a service: it must never run in the machine's own
# namespace (tests start them in namespaces they create).
SERVICES=(bird frr gobgpd)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg -s succeeds for removed-but-not-purged packages too; check the state.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || die "apt-get update failed"
  # While installing, forbid every service start (policy-rc.d exit 101):
  # bird and frr would otherwise start in the host namespace.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && own_policy=1
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || { [ "$own_policy" = 1 ] && rm -f "$policy"; die "apt-get install ${missing[*]} failed"; }
  [ "$own_policy" = 1 ] && rm -f "$policy"
  for p in "${missing[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || die "$p is still not installed"
  done
else
  echo "install-deps: all ${#PACKAGES[@]} packages present"
fi

# And keep them from starting at boot, or now if something started them.
for svc in "${SERVICES[@]}"; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled "$svc" >/dev/null 2>&1; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
    echo "install-deps: disabled the $svc service (tests run $svc in their own namespaces)"
  fi
done

# The dnsmasq service package must not be here: it runs dnsmasq in the host
# namespace and rewrites the host's resolver.
if dpkg-query -W -f='${Status}' dnsmasq 2>/dev/null | grep -q 'install ok installed'; then
  echo "install-deps: WARNING: the \`dnsmasq\` package is installed; its service runs in the host namespace." >&2
  echo "install-deps: WARNING: routerd only needs dnsmasq-base; consider: apt-get purge dnsmasq" >&2
fi

# cargo-nextest runs the test suite (tests/run.sh).
command -v cargo >/dev/null 2>&1 \
  || die "cargo is not on PATH (install a Rust toolchain, e.g. with rustup, and re-run)"
if cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: $(cargo nextest --version 2>/dev/null | head -n1)"
else
  echo "install-deps: installing cargo-nextest (cargo install cargo-nextest --locked)"
  cargo install cargo-nextest --locked || die "cargo install cargo-nextest failed"
  cargo nextest --version >/dev/null 2>&1 \
    || die "cargo-nextest installed but \`cargo nextest\` still fails (is ~/.cargo/bin on PATH?)"
fi
