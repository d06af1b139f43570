#!/usr/bin/env bash
# The whole test suite: host tests against this machine's kernel, then the
# same test binaries inside a VM booting a stock Debian kernel (for bond,
# team, vlan, ipvlan, ipvtap, dummy and bridge VLAN filtering).
# Run as root on Debian 12. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use: nft for NAT, iproute2 and ping as independent
# cross-checks, teamd for team devices, busybox-static for the VM's userland,
# Graphviz for `netloom graph`'s SVG, chromium to open that SVG in a real
# browser (measured on a fresh machine: graphviz 19 s with apt-get update,
# 12 packages; chromium 49 s more, 129 packages, 357 MB); the CNI reference
# plugins that netloom-cni is chained with and measured against; busybox's
# nslookup in DNS tests and dnsmasq-base for `dhcp:` (DHCP and DNS).
packages=(nftables iproute2 iputils-ping libteam-utils busybox-static cpio python3 graphviz chromium containernetworking-plugins dnsmasq-base)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# podman, the real runtime netloom-cni is tested under (tests/cni_podman.rs),
# without its recommends (buildah, slirp4netns, fuse-overlayfs: unused).
if ! dpkg-query -W -f='${Status}' podman 2>/dev/null | grep -q "install ok installed"; then
    echo "installing: podman"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman >/dev/null
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Both parts run whatever the first one gives; the exit status says if any failed.
set +e
echo "== host kernel $(uname -r): cargo test"
cargo test --no-fail-fast 2>&1 | tee "$log"
host=${PIPESTATUS[0]}

echo "== stock Debian kernel in a VM: the same test binaries, including VM-only tests"
vm/test.sh 2>&1 | tee -a "$log"
vm=${PIPESTATUS[0]}
set -e

# One closing line for both kernels, summed from libtest's result lines.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
[ "$host" = 0 ] && [ "$vm" = 0 ]
