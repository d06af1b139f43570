#!/usr/bin/env bash
# Unpack, once, the drivers of the VM variants' network cards from the
# kernel package in the cache (the base image leaves drivers/net/ethernet
# and drivers/virtio out, as the default VM has no card): virtio-net with
# what it needs (failover, net_failover, the virtio PCI transport) and
# e1000e. Prints the directory; it holds the .ko files and `order`, the
# order to insmod them in (dependencies first). Used by vm/failover.sh and
# vm/twohost.sh; run vm/setup.sh first.
set -euo pipefail
CACHE=${NETLOOM_VM_CACHE:-$HOME/.cache/netloom-vm}
KVER=$(cat "$CACHE/kernel-version")
MODS="$CACHE/nic-modules/$KVER"
ORDER="failover net_failover virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci e1000e virtio_net"
exec 9>"$CACHE/nic-modules.lock"
flock 9
if [ ! -f "$MODS/order" ]; then
    echo "vm/nic-modules: unpacking the NIC drivers of $KVER" >&2
    rm -rf "$MODS" "$MODS.tmp" && mkdir -p "$MODS.tmp"
    deb=$(compgen -G "$CACHE/debs/linux-image-${KVER}_*.deb" | head -n1)
    [ -n "$deb" ] || { echo "vm/nic-modules: no kernel package for $KVER in $CACHE/debs" >&2; exit 1; }
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$MODS.tmp" --wildcards \
        '*/net/core/failover.ko' '*/drivers/net/net_failover.ko' '*/drivers/net/virtio_net.ko' \
        '*/drivers/virtio/virtio_ring.ko' '*/drivers/virtio/virtio.ko' '*/drivers/virtio/virtio_pci*.ko' \
        '*/intel/e1000e/e1000e.ko'
    mkdir -p "$MODS"
    find "$MODS.tmp" -name '*.ko' -exec mv {} "$MODS/" \;
    rm -rf "$MODS.tmp"
    for m in $ORDER; do
        [ -f "$MODS/$m.ko" ] || { echo "vm/nic-modules: $m.ko missing" >&2; exit 1; }
    done
    echo "$ORDER" >"$MODS/order"
fi
echo "$MODS"
