#!/usr/bin/env bash
# Prepare everything the test VM needs, once, into a cache directory:
#   - a stock Debian kernel (it has bond, team, 8021q, ipvlan, dummy... as
#     modules, which the machine's own kernel lacks),
#   - QEMU, unpacked privately (installing qemu-system-x86 would remove the
#     machine's newer qemu-utils, and we never want a system-wide kernel),
#   - a guest root tree: busybox, the host's network tools with their
#     libraries, the kernel modules with their dependencies, packed as a
#     compressed cpio that vm/run.sh joins with each run's test binaries.
#
# Idempotent: once done, a run only compares a stamp (this script and the
# guest init) and exits, without network or apt. Delete the cache directory,
# or set NETLOOM_VM_REFRESH=1 to pick up a newer kernel, to start over.
#
# Needs root (apt-get, mknod) on Debian 12 amd64, when it has work to do.
# Environment:
#   NETLOOM_VM_CACHE    cache directory (default ~/.cache/netloom-vm)
#   NETLOOM_VM_REFRESH  rebuild even if the cache is ready
set -euo pipefail

CACHE=${NETLOOM_VM_CACHE:-$HOME/.cache/netloom-vm}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Elapsed seconds in every line: the cold path is the slow one worth watching.
log() { printf 'vm/setup: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# apt-get download runs as _apt, which cannot write into root's cache; download
# as root instead of weakening the cache directory's permissions.
APT_DL=(apt-get -q -o APT::Sandbox::User=root download)

# Package lists may be missing on a fresh machine (or in a container image that
# deleted them); then nothing can be resolved.
ensure_apt_lists() {
    if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
        log "apt-get update (no package lists yet)"
        apt-get -q update >&2
    fi
}

# The kernel ABI package changes with every security update: ask apt which one
# linux-image-amd64 points at right now.
resolve_kernel_pkg() {
    apt-cache depends linux-image-amd64 |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

# The stamp ties the cache to this script's and the guest init's content: a
# changed module or tool list rebuilds the guest tree by itself. The kernel
# found on the first run is kept (no apt query on the warm path, which must
# stay fast); NETLOOM_VM_REFRESH=1 resolves the newest one again.
STAMP=$(cat "$HERE/setup.sh" "$HERE/init" | sha256sum | cut -d' ' -f1)
# Several runs may start at once (parallel CI jobs, a developer's two
# terminals): one builds, the others wait and then find the cache ready.
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9
if [ -z "${NETLOOM_VM_REFRESH:-}" ] && [ -f "$CACHE/ready" ] &&
    [ "$(cat "$CACHE/ready")" = "$STAMP" ]; then
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, device nodes in the guest tree)"
command -v apt-get >/dev/null || die "needs a Debian system (apt-get)"
ensure_apt_lists
KPKG=$(resolve_kernel_pkg)
[ -n "$KPKG" ] || die "cannot resolve the kernel package behind linux-image-amd64"
KVER=${KPKG#linux-image-}

log "preparing $CACHE for kernel $KVER"
mkdir -p "$CACHE/debs"
rm -f "$CACHE/ready"
# Kernels of earlier ABIs are of no further use.
find "$CACHE/debs" -name 'linux-image-*.deb' ! -name "${KPKG}_*" -delete

# --- Host tools shipped into the guest -------------------------------------
# The guest runs the host's own binaries (same glibc as the test binaries), so
# they must be installed here; these are small and start no service. jq is
# for vm/test.sh (it picks test executables out of cargo's JSON), xz to
# unpack the kernel below.
HOST_PKGS=(nftables libteam-utils iproute2 dnsmasq-base jq xz-utils)
missing=()
for p in "${HOST_PKGS[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing host tools: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}" >&2
fi

# --- Downloads ---------------------------------------------------------------
# Installed packages, read once (one dpkg-query per package is slow).
declare -A INSTALLED=()
while read -r name status; do
    [[ $status == ii* ]] && INSTALLED[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n')

# Print the packages (first alternative of every unsatisfied dependency group)
# that QEMU's libraries need and the host lacks, recursing through those only:
# qemu-system-x86's own Depends are nearly all shared libraries, and the
# helpers in qemu-system-common (whose deps pull in audio/GL) are not used.
qemu_missing_libs() {
    local -A seen=()
    local level=(qemu-system-x86) next group alt first sat
    while [ ${#level[@]} -gt 0 ]; do
        next=()
        # One dependency group per line, versions and arch qualifiers cut:
        # "a (>= 1) | b:any" becomes "a|b".
        while IFS= read -r group; do
            first="" sat=""
            IFS='|' read -ra alts <<<"$group"
            for alt in "${alts[@]}"; do
                [ -n "$first" ] || first=$alt
                [ -z "${INSTALLED[$alt]:-}" ] || sat=1
            done
            [ -z "$sat" ] && [ -n "$first" ] || continue
            case $first in qemu-* | seabios | ipxe-qemu) continue ;; esac
            [ -z "${seen[$first]:-}" ] || continue
            seen[$first]=1
            echo "$first"
            next+=("$first")
        done < <(apt-cache show --no-all-versions "${level[@]}" |
            awk -F': ' '/^(Pre-)?Depends:/ { print $2 }' | tr ',' '\n' |
            sed -E 's/\([^)]*\)//g; s/:any//g; s/[[:space:]]//g')
        level=("${next[@]+"${next[@]}"}")
    done
}

# apt-get download writes into the current directory; it skips nothing by
# itself, so only ask for packages without a .deb in the cache yet.
download() {
    local want=() p
    for p in "$@"; do
        compgen -G "$CACHE/debs/${p}_*.deb" >/dev/null || want+=("$p")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    log "downloading: ${want[*]}"
    # Stale package lists name versions the mirror no longer has (the kernel
    # ABI moves with security updates): refresh once and retry.
    (cd "$CACHE/debs" && "${APT_DL[@]}" "${want[@]}" >&2) || {
        log "download failed; apt-get update and retry"
        apt-get -q update >&2
        (cd "$CACHE/debs" && "${APT_DL[@]}" "${want[@]}" >&2)
    }
}

log "resolving QEMU's libraries"
QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
mapfile -t QEMU_LIBS < <(qemu_missing_libs)
download "$KPKG" busybox-static "${QEMU_PKGS[@]}" "${QEMU_LIBS[@]}"

deb_of() { compgen -G "$CACHE/debs/${1}_*.deb" | head -n1; }

log "unpacking QEMU"
# --- QEMU ---------------------------------------------------------------------
rm -rf "$CACHE/qemu"
mkdir -p "$CACHE/qemu"
for p in "${QEMU_PKGS[@]}" "${QEMU_LIBS[@]}"; do
    dpkg-deb -x "$(deb_of "$p")" "$CACHE/qemu"
done
QEMU_LD="$CACHE/qemu/usr/lib/x86_64-linux-gnu:$CACHE/qemu/lib/x86_64-linux-gnu"
if LD_LIBRARY_PATH=$QEMU_LD ldd "$CACHE/qemu/usr/bin/qemu-system-x86_64" | grep 'not found'; then
    die "qemu-system-x86_64 misses the libraries above"
fi

# --- Guest root tree ----------------------------------------------------------
log "building the guest tree"
ROOT="$CACHE/root"
rm -rf "$ROOT"
# usr-merged layout, like Debian 12 itself: a library copied to the path ldd
# printed on the host is found at the same path in the guest.
mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,run,tmp,etc/modprobe.d,root,mnt}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$ROOT/$d"; done
# teamd and dnsmasq keep pid files and sockets under /var/run.
mkdir -p "$ROOT/var/lib/misc" && ln -s /run "$ROOT/var/run"
chmod 1777 "$ROOT/tmp"

# The kernel opens /dev/console for init before init can mount devtmpfs.
mknod -m 600 "$ROOT/dev/console" c 5 1
mknod -m 666 "$ROOT/dev/null" c 1 3

# busybox: coreutils, sleep, ping, mount, modprobe/depmod. Its `ip` and `tc`
# applets (and their old net-tools kin) are left out on purpose so the real
# iproute2 tools answer; its `sh` too (dash is /bin/sh, see below).
BB="$CACHE/busybox"
rm -rf "$BB" && mkdir -p "$BB"
dpkg-deb -x "$(deb_of busybox-static)" "$BB"
cp "$BB/bin/busybox" "$ROOT/usr/bin/busybox"
for applet in $("$BB/bin/busybox" --list); do
    case $applet in busybox | sh | ip | tc | ipneigh | route | ifconfig | arp | nameif | vconfig) continue ;; esac
    [ -e "$ROOT/usr/bin/$applet" ] || ln -s busybox "$ROOT/usr/bin/$applet"
done
# The kernel runs /sbin/modprobe to load a driver on a netlink request
# ("ip link add type bond" -> rtnl-link-bond): point it at busybox.
ln -s ../bin/busybox "$ROOT/usr/sbin/modprobe"
ln -s ../bin/busybox "$ROOT/usr/sbin/depmod"

# Where a host path lands in the usr-merged guest tree.
guest_path() { printf '%s/usr/%s' "$ROOT" "${1#/usr/}"; }
# Copy a host file to the same path in the guest.
copy_host_file() {
    local dst
    dst=$(guest_path "$1")
    mkdir -p "$(dirname "$dst")"
    cp -L "$1" "$dst"
}
# A binary plus every library ldd resolves for it (and the dynamic loader).
copy_with_libs() {
    local bin=$1 lib
    copy_host_file "$bin"
    for lib in $(ldd "$bin" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }'); do
        [ -e "$(guest_path "$lib")" ] || copy_host_file "$lib"
    done
}
# /bin/sh is dash, as on the host: busybox's shell would run its own `ip`
# applet instead of iproute2 inside `sh -c "ip ..."`, a silent difference.
for tool in ip bridge tc ss nft teamd teamdctl dnsmasq dash; do
    path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool") || die "host tool $tool not found"
    copy_with_libs "$path"
done
ln -sf dash "$ROOT/usr/bin/sh"
# Rust test binaries link libc, libm, libgcc_s; vm/run.sh adds anything else
# a given binary needs, but these are always wanted.
for lib in /lib/x86_64-linux-gnu/libgcc_s.so.1 /lib/x86_64-linux-gnu/libm.so.6; do
    if [ -e "$lib" ]; then copy_host_file "$lib"; fi
done
# iproute2 reads its name tables (rt_tables, protocols) from these.
for d in /etc/iproute2 /usr/share/iproute2 /usr/lib/iproute2; do
    if [ -d "$d" ]; then mkdir -p "$ROOT$d" && cp -r "$d/." "$ROOT$d/"; fi
done
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
dnsmasq:x:100:65534:dnsmasq:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo "127.0.0.1 localhost" >"$ROOT/etc/hosts"
# What `netloom exec` binds a node's /etc/netns/NETNS/resolv.conf over (a
# DHCP client's name servers), as on any Debian system.
: >"$ROOT/etc/resolv.conf"

# --- Kernel and modules -----------------------------------------------------
log "unpacking the kernel and its modules"
KTMP="$CACHE/kernel-full"
rm -rf "$KTMP" && mkdir -p "$KTMP"
# Only the parts where network drivers and what they depend on live (the
# whole package unpacks to ~400 MB; this is a fraction and much faster).
dpkg-deb --fsys-tarfile "$(deb_of "$KPKG")" |
    tar -x -C "$KTMP" --wildcards \
        --exclude='*/drivers/net/wireless/*' --exclude='*/drivers/net/ethernet/*' \
        './boot/vmlinuz-*' './lib/modules/*/modules.*' \
        './lib/modules/*/kernel/net/*' './lib/modules/*/kernel/drivers/net/*' \
        './lib/modules/*/kernel/crypto/*' './lib/modules/*/kernel/lib/*'
# Boot the uncompressed ELF kernel through its PVH entry point: under TCG
# the bzImage spends most of the boot (over 10 s on a busy machine)
# decompressing its xz payload. The payload starts at the xz magic; xz
# complains about the bytes after it (exit 1) but writes the whole kernel.
VMLINUZ="$KTMP/boot/vmlinuz-$KVER"
xz_at=$(LC_ALL=C grep -obUa $'\xfd7zXZ' "$VMLINUZ" | head -n1 | cut -d: -f1 || true)
rm -f "$CACHE/kernel-image" "$CACHE/vmlinuz"
if [ -n "$xz_at" ]; then
    tail -c +"$((xz_at + 1))" "$VMLINUZ" | xz -dcq >"$CACHE/kernel-image" 2>/dev/null || true
fi
if [ "$(head -c 4 "$CACHE/kernel-image" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]; then
    log "no xz payload in the kernel image: booting the compressed bzImage"
    cp "$VMLINUZ" "$CACHE/kernel-image"
fi
# The package carries no modules.dep (its postinst runs depmod): build one to
# learn each module's dependencies.
"$BB/bin/busybox" depmod -b "$KTMP" "$KVER"
KMOD="$KTMP/lib/modules/$KVER"

# Drivers the tests need, as path prefixes under kernel/; their dependencies
# are added from modules.dep below. Prefixes take whole families where many
# small modules matter (team modes, nft expressions, tc qdiscs); netfilter's
# xtables/ipvs/ipset parts are left out (netloom speaks nftables only).
MODULE_PREFIXES=(
    drivers/net/bonding/ drivers/net/team/ drivers/net/ipvlan/ drivers/net/vxlan/
    drivers/net/dummy.ko drivers/net/ifb.ko drivers/net/veth.ko drivers/net/macvlan.ko
    drivers/net/macvtap.ko drivers/net/tap.ko drivers/net/tun.ko drivers/net/vrf.ko
    drivers/net/geneve.ko drivers/net/nlmon.ko
    net/8021q/ net/bridge/ net/netfilter/nf net/netfilter/nft_ net/ipv4/netfilter/nf
    net/ipv4/netfilter/nft_ net/ipv6/netfilter/nf net/ipv6/netfilter/nft_ net/sched/
    crypto/crc32c_generic.ko
)
wanted=$(for pre in "${MODULE_PREFIXES[@]}"; do
    (cd "$KMOD" && find kernel -path "kernel/$pre*" -name '*.ko')
done | sort -u)
[ -n "$wanted" ] || die "no modules found under $KMOD"
# Closure: a module's line in modules.dep lists every module it needs,
# already transitively.
closure=$(printf '%s\n' "$wanted" | awk '
    NR == FNR { want[$0] = 1; next }
    { sub(":", "", $1); if ($1 in want) for (i = 1; i <= NF; i++) print $i }
' - "$KMOD/modules.dep" | sort -u)
for m in $closure; do
    mkdir -p "$ROOT/usr/lib/modules/$KVER/$(dirname "$m")"
    cp "$KMOD/$m" "$ROOT/usr/lib/modules/$KVER/$m"
done
cp "$KMOD"/modules.builtin* "$KMOD/modules.order" "$ROOT/usr/lib/modules/$KVER/"
"$BB/bin/busybox" depmod -b "$ROOT" "$KVER"
rm -rf "$KTMP"
# Loading these drivers would otherwise create bond0/dummy0/ifb0 in the
# initial namespace; tests expect to create exactly what they ask for.
cat >"$ROOT/etc/modprobe.d/netloom.conf" <<'EOF'
options bonding max_bonds=0
options dummy numdummies=0
options ifb numifbs=0
EOF

install -m 755 "$HERE/init" "$ROOT/init"
echo "$KVER" >"$ROOT/etc/netloom-vm-kernel"

log "packing the base initramfs"
# --- Pack ---------------------------------------------------------------------
# newc cpio, built by busybox so the host needs no cpio package.
(cd "$ROOT" && find . | LC_ALL=C sort | "$BB/bin/busybox" cpio -o -H newc 2>/dev/null) |
    gzip -6 >"$CACHE/base.cpio.gz.new"
mv "$CACHE/base.cpio.gz.new" "$CACHE/base.cpio.gz"
echo "$KVER" >"$CACHE/kernel-version"
echo "$STAMP" >"$CACHE/ready"
log "ready: kernel $KVER, base initramfs $(du -h "$CACHE/base.cpio.gz" | cut -f1), $(echo "$closure" | wc -w) modules"
