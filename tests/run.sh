#!/usr/bin/env bash
# Runs routerd's whole test suite: unit tests, integration tests and the
# netns interop tests against real peers. Needs root (network namespaces).
#
#   sudo tests/run.sh                 # everything
#   sudo tests/run.sh -E 'package(routerd-config)'   # extra args go to nextest
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh: the netns tests need root; run: sudo $0 $*" >&2
  exit 1
fi

deploy/install-deps.sh

# The harness finds routerd, routerctl and routerd-healthcheck beside the
# test binaries, so build every binary first.
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked --profile ci "$@"
