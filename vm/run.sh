#!/usr/bin/env bash
# Run test binaries inside a VM booting a stock Debian kernel, all in one boot:
#
#   vm/run.sh TEST_BINARY... [-- ARGS...]
#
# Each binary runs as `BINARY --include-ignored --test-threads=1 ARGS...`, so
# the tests #[ignore]d on the host for lack of kernel drivers run too. Exits
# with the first failing binary's exit code, 0 if all passed, and 1 with a
# message when the VM ended without reporting (panic, crash, timeout).
#
# Binaries (and the netloom binary, NETLOOM_BIN or the one next to the test
# binary's deps/ directory) sit in the guest at their host paths, so paths
# compiled in (CARGO_BIN_EXE_netloom, CARGO_MANIFEST_DIR) stay valid.
#
# Environment:
#   NETLOOM_VM_CACHE    cache directory prepared by vm/setup.sh
#   NETLOOM_VM_TIMEOUT  seconds before the VM is killed (default 900)
#   NETLOOM_VM_FILES    extra host files/directories to copy in at the same
#                       paths (space separated; e.g. test fixtures)
#   NETLOOM_VM_CWD      directory the tests run in (default: current directory)
#   NETLOOM_VM_LOG      also keep the console output in this file
#   NETLOOM_VM_MACHINE  QEMU machine type (default pc)
#   NETLOOM_VM_DEVICES  extra QEMU arguments (space separated): devices of
#                       a harness variant (see vm/failover.sh); the default
#                       is none, the guest has no network card
#   NETLOOM_VM_QMP      a QMP socket path: QEMU serves QMP there, and each
#                       console line `NETLOOM-VM-QMP {json}` the guest prints
#                       is sent as a QMP command (vm/qmp-relay.py), so a test
#                       inside can ask the hypervisor to unplug a device
#   NETLOOM_VM_ENV      extra variables passed into the guest (names)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NETLOOM_VM_CACHE:-$HOME/.cache/netloom-vm}
TIMEOUT=${NETLOOM_VM_TIMEOUT:-900}

log() { printf 'vm/run: [%3ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "error: $*"; exit 1; }

binaries=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    binaries+=("$(realpath "$1")")
    shift
done
[ $# -gt 0 ] && shift # the "--"
args=("$@")
[ ${#binaries[@]} -gt 0 ] || die "usage: vm/run.sh TEST_BINARY... [-- ARGS...]"
for b in "${binaries[@]}"; do
    [ -f "$b" ] && [ -x "$b" ] || die "not an executable file: $b"
done

# Cheap when the cache is ready (a stamp check); builds it otherwise.
"$HERE/setup.sh"
ROOT="$CACHE/root"
BUSYBOX="$ROOT/usr/bin/busybox"

netloom_bin=""
if [ -n "${NETLOOM_BIN:-}" ]; then
    netloom_bin=$(realpath "$NETLOOM_BIN")
elif [ -x "$(dirname "${binaries[0]}")/../netloom" ]; then
    # cargo puts test executables in target/<profile>/deps/ and the crate's
    # binary in target/<profile>/.
    netloom_bin=$(realpath "$(dirname "${binaries[0]}")/../netloom")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
job="$work/job"
mkdir -p "$job/netloom-vm"

# Where a host path lands in the guest (its tree is usr-merged).
guest_path() {
    case $1 in
        /lib/* | /lib64/* | /bin/* | /sbin/*) printf '%s/usr%s' "$job" "$1" ;;
        *) printf '%s%s' "$job" "$1" ;;
    esac
}
in_base() {
    case $1 in
        /usr/*) [ -e "$ROOT$1" ] ;;
        *) [ -e "$ROOT/usr$1" ] ;;
    esac
}

# Copy an executable to its host path, without debug info when objcopy is
# there: debug test binaries are mostly DWARF, and smaller means faster
# packing and unpacking under emulation. Then any library it needs that the
# base image lacks.
add_binary() {
    local src=$1 dst lib
    dst=$(guest_path "$src")
    mkdir -p "$(dirname "$dst")"
    # (objcopy refuses non-ELF files such as scripts: those are copied.)
    if [ -n "${NETLOOM_VM_KEEP_DEBUG:-}" ] || ! command -v objcopy >/dev/null ||
        ! objcopy --strip-debug "$src" "$dst" 2>/dev/null; then
        cp "$src" "$dst"
    fi
    for lib in $(ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }'); do
        in_base "$lib" || { mkdir -p "$(dirname "$(guest_path "$lib")")" && cp -L "$lib" "$(guest_path "$lib")"; }
    done
}

for b in "${binaries[@]}"; do
    add_binary "$b"
    printf '%s\n' "$b" >>"$job/netloom-vm/binaries"
done
: >"$job/netloom-vm/env"
if [ -n "$netloom_bin" ]; then
    add_binary "$netloom_bin"
    echo "NETLOOM_BIN=$netloom_bin" >>"$job/netloom-vm/env"
else
    log "warning: no netloom binary found (set NETLOOM_BIN); tests that run it will fail"
fi
echo "RUST_BACKTRACE=${RUST_BACKTRACE:-1}" >>"$job/netloom-vm/env"
# What cargo would have set for the tests at run time, and logging.
for var in RUST_LOG CARGO_MANIFEST_DIR ${NETLOOM_VM_ENV:-}; do
    [ -z "${!var:-}" ] || echo "$var=${!var}" >>"$job/netloom-vm/env"
done
printf '%s\n' "${args[@]+"${args[@]}"}" | sed '/^$/d' >"$job/netloom-vm/args"
cwd=$(realpath "${NETLOOM_VM_CWD:-$PWD}")
mkdir -p "$job$cwd"
echo "$cwd" >"$job/netloom-vm/cwd"
for f in ${NETLOOM_VM_FILES:-}; do
    f=$(realpath "$f")
    mkdir -p "$(dirname "$job$f")"
    cp -a "$f" "$job$f"
done

# The initrd is two cpio archives back to back, which the kernel unpacks in
# turn: this job, uncompressed (no time spent compressing what is used once),
# then the cached compressed base image.
(cd "$job" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) >"$work/initrd"
cat "$CACHE/base.cpio.gz" >>"$work/initrd"

QEMU_DIR="$CACHE/qemu"
console="$work/console.log"
: >"$console"
qmp_args=()
if [ -n "${NETLOOM_VM_QMP:-}" ]; then
    qmp_args=(-qmp "unix:$NETLOOM_VM_QMP,server=on,wait=off")
    python3 "$HERE/qmp-relay.py" "$NETLOOM_VM_QMP" "$console" &
    relay=$!
    trap 'kill $relay 2>/dev/null; rm -rf "$work"' EXIT
fi
# shellcheck disable=SC2206 # the knob is a list of words
devices=(${NETLOOM_VM_DEVICES:--nic none})
log "booting $(cat "$CACHE/kernel-version") with ${#binaries[@]} test binar$([ ${#binaries[@]} = 1 ] && echo y || echo ies) (timeout ${TIMEOUT}s)"
set +e
# The serial console is streamed as it comes, without the CRs and the
# terminal resets SeaBIOS and the kernel send.
# TCG only: the machine's /dev/kvm is a paravirtual KVM on which a stock
# kernel hangs. -nic none: the guest has no network card, nothing leaves it.
LD_LIBRARY_PATH="$QEMU_DIR/usr/lib/x86_64-linux-gnu:$QEMU_DIR/lib/x86_64-linux-gnu" \
    timeout -k 10 "$TIMEOUT" "$QEMU_DIR/usr/bin/qemu-system-x86_64" \
    -L "$QEMU_DIR/usr/share/qemu" -L "$QEMU_DIR/usr/share/seabios" \
    -accel tcg -machine "${NETLOOM_VM_MACHINE:-pc}" -m 1024 -smp 1 -nographic -no-reboot -nodefaults \
    "${devices[@]}" "${qmp_args[@]+"${qmp_args[@]}"}" \
    -serial stdio -kernel "$CACHE/kernel-image" -initrd "$work/initrd" \
    -append 'console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off' \
    </dev/null 2>&1 | sed -u 's/\r$//; s/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g' | tee "$console"
qemu_status=${PIPESTATUS[0]}
set -e
if [ -n "${NETLOOM_VM_LOG:-}" ]; then cp "$console" "$NETLOOM_VM_LOG"; fi

# Anywhere in a line: a kernel message may share the line on the console.
code=$(sed -n 's/.*NETLOOM-VM-EXIT=\([0-9]\+\).*/\1/p' "$console" | tail -n1)
if [ -z "$code" ]; then
    if [ "$qemu_status" = 124 ]; then
        die "the VM timed out after ${TIMEOUT}s without reporting a result"
    fi
    die "the VM ended without reporting a result (qemu status $qemu_status): kernel panic or init crash, see the console output above"
fi
grep '^NETLOOM-VM-RESULT ' "$console" | sed 's/^/vm\/run: /' >&2 || true
if [ "$code" = 0 ]; then
    log "all passed"
else
    log "FAILED (exit code $code)"
fi
exit "$code"
