#!/usr/bin/env bash
# The net_failover harness variant: a q35 VM whose NIC is a failover pair,
# as a hypervisor gives a guest for live migration with a VF
# (docs/failover.md):
#   - an e1000e (PCI, the `primary`) and a virtio-net offering STANDBY
#     (`failover=on`, the `standby`) with one MAC, each on its own PCIe
#     root port; the guest's kernel makes the failover master itself;
#   - both on one QEMU hub with a user-mode network in restrict mode
#     (it answers pings to 10.0.2.2, and nothing reaches past it: no
#     traffic leaves the machine);
#   - a QMP socket, through which the test inside unplugs the primary
#     (vm/qmp-relay.py relays its requests from the console).
# Runs tests/vm_failover.rs there; exit code as vm/run.sh's.
#
#   vm/failover.sh [LIBTEST ARGS...]
#
# About 60-100 s of TCG. vm/test.sh runs it after the other VMs unless
# NETLOOM_VM_FAILOVER=0.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${NETLOOM_VM_CACHE:-$HOME/.cache/netloom-vm}
log() { printf 'vm/failover: %s\n' "$*" >&2; }

"$HERE/setup.sh"

# The pair's drivers (the base image leaves drivers/net/ethernet and
# drivers/virtio out), unpacked once from the cached kernel package.
MODS=$("$HERE/nic-modules.sh")
artifacts=$(cd "$REPO" && cargo test --no-run --test vm_failover --message-format=json ${NETLOOM_VM_CARGO_FLAGS:-})
test_bin=$(jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | .executable' <<<"$artifacts" | tail -n1)
netloom_bin=$(cd "$REPO" && cargo build --message-format=json --bin netloom ${NETLOOM_VM_CARGO_FLAGS:-} |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null) | .executable' | tail -n1)
[ -n "$test_bin" ] && [ -n "$netloom_bin" ] || { log "error: build gave no test or netloom binary"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mac=52:54:00:fa:11:0e
devices="-device pcie-root-port,id=root1,chassis=1,slot=1 -device pcie-root-port,id=root2,chassis=2,slot=2
 -netdev user,id=slirp0,restrict=on,net=10.0.2.0/24
 -netdev hubport,id=hub0,hubid=0,netdev=slirp0
 -netdev hubport,id=hub1,hubid=0 -netdev hubport,id=hub2,hubid=0
 -device virtio-net-pci,netdev=hub2,id=standby0,mac=$mac,bus=root2,failover=on,romfile=
 -device e1000e,netdev=hub1,id=primary0,mac=$mac,bus=root1,failover_pair_id=standby0,romfile="
log "booting q35 with an e1000e primary and a virtio-net standby sharing $mac"
NETLOOM_VM_MACHINE=q35 NETLOOM_VM_DEVICES="$devices" NETLOOM_VM_QMP="$work/qmp.sock" \
    NETLOOM_VM_ENV=NETLOOM_FAILOVER_MODULES NETLOOM_FAILOVER_MODULES="$MODS" \
    NETLOOM_VM_FILES="$MODS $REPO/tests" NETLOOM_VM_CWD="$REPO" CARGO_MANIFEST_DIR="$REPO" \
    NETLOOM_BIN="$netloom_bin" NETLOOM_VM_TIMEOUT="${NETLOOM_VM_TIMEOUT:-400}" \
    "$HERE/run.sh" "$test_bin" -- "$@"
