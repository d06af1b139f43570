#!/usr/bin/env bash
# Two hosts of one logical switch: two VMs joined by a virtual wire that
# carries nothing off the machine (QEMU `-netdev dgram` over a pair of Unix
# sockets in a private directory), each running tests/vm_twohost.rs with
# its own netloom file (docs/logical-switch.md). Both must pass.
#
#   vm/twohost.sh [LIBTEST ARGS...]
#
# About 40 s of TCG (the two VMs run side by side). vm/test.sh runs it
# after the other VMs unless NETLOOM_VM_TWOHOST=0.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
log() { printf 'vm/twohost: %s\n' "$*" >&2; }

"$HERE/setup.sh"
MODS=$("$HERE/nic-modules.sh")
artifacts=$(cd "$REPO" && cargo test --no-run --test vm_twohost --message-format=json ${NETLOOM_VM_CARGO_FLAGS:-})
test_bin=$(jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | .executable' <<<"$artifacts" | tail -n1)
netloom_bin=$(cd "$REPO" && cargo build --message-format=json --bin netloom ${NETLOOM_VM_CARGO_FLAGS:-} |
    jq -r 'select(.reason == "compiler-artifact" and .executable != null) | .executable' | tail -n1)
[ -n "$test_bin" ] && [ -n "$netloom_bin" ] || { log "error: build gave no test or netloom binary"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
boot() { # role, own socket, peer's socket, MAC
    NETLOOM_VM_DEVICES="-netdev dgram,id=wire,local.type=unix,local.path=$work/$2,remote.type=unix,remote.path=$work/$3
 -device virtio-net-pci,netdev=wire,mac=$4,romfile=" \
        NETLOOM_VM_ENV="NETLOOM_TWOHOST_ROLE NETLOOM_NIC_MODULES" NETLOOM_TWOHOST_ROLE=$1 NETLOOM_NIC_MODULES="$MODS" \
        NETLOOM_VM_FILES="$MODS $REPO/tests" NETLOOM_VM_CWD="$REPO" CARGO_MANIFEST_DIR="$REPO" \
        NETLOOM_BIN="$netloom_bin" NETLOOM_VM_TIMEOUT="${NETLOOM_VM_TIMEOUT:-400}" \
        "$HERE/run.sh" "$test_bin" -- "${@:5}" >"$work/$1.log" 2>&1
}
log "booting hosts a and b, joined by a datagram wire between two Unix sockets"
boot a a.sock b.sock 52:54:00:0a:00:01 "$@" &
pa=$!
boot b b.sock a.sock 52:54:00:0a:00:02 "$@" &
pb=$!
status=0
wait $pa || status=1
wait $pb || status=1
for r in a b; do
    echo "===== host $r"
    cat "$work/$r.log"
done
exit $status
