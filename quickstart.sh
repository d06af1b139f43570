#!/usr/bin/env bash
# Quick start: build netloom, bring up a bundled example (an LXC-style bridge
# with two containers and NAT), prove it by traffic, show it, take it down.
# Everything lives in network namespaces netloom creates; the machine's own
# interfaces are not touched. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")"
for p in nftables iproute2 iputils-ping; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need=1
done
if [[ -n "${need:-}" ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables iproute2 iputils-ping >/dev/null
fi
cargo build --release --quiet
nl=./target/release/netloom
ex=examples/03-lxc-nat.yaml
set -x
$nl validate $ex
$nl plan $ex || true          # exit 2: changes pending
$nl up $ex --verify           # apply, then prove every expectation with real packets
$nl up $ex                    # idempotent: 0 operations
$nl status $ex
$nl exec $ex c1 -- ping -c 2 -W 1 10.0.3.1
$nl down $ex
