#!/usr/bin/env bash
# Build netloom's test executables and run them all in one VM boot with a
# stock Debian kernel, including the tests #[ignore]d on the host for lack of
# drivers (bond, team, 8021q, ipvlan, dummy, bridge vlan filtering...).
#
#   vm/test.sh [FILTER ARGS...]     e.g. vm/test.sh bond   (libtest filters)
#
# Run after the host `cargo test`; exits non-zero if any test fails in the VM.
# Extra cargo flags (e.g. --release) go in NETLOOM_VM_CARGO_FLAGS.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"

log() { printf 'vm/test: %s\n' "$*" >&2; }

# Downloads/builds the VM cache on first use, and installs jq used below.
"$HERE/setup.sh"

# cargo prints one JSON object per built artifact; test executables carry
# profile.test = true, the netloom binary is the "bin" target built normally.
# Both are in the same listing, so one build gives every path.
# shellcheck disable=SC2086 # the flags are meant to split into words
artifacts=$(cargo test --no-run --message-format=json ${NETLOOM_VM_CARGO_FLAGS:-})
mapfile -t tests < <(jq -r 'select(.reason == "compiler-artifact" and .profile.test
        and .executable != null) | .executable' <<<"$artifacts" | sort -u)
netloom_bin=$(jq -r 'select(.reason == "compiler-artifact" and (.profile.test | not)
        and .target.name == "netloom" and (.target.kind | index("bin"))
        and .executable != null) | .executable' <<<"$artifacts" | tail -n1)
cni_bin=$(jq -r 'select(.reason == "compiler-artifact" and (.profile.test | not)
        and .target.name == "netloom-cni" and (.target.kind | index("bin"))
        and .executable != null) | .executable' <<<"$artifacts" | tail -n1)

# Binaries whose tests cannot tell two kernels apart are not re-run in the VM
# (TCG is ~20x slower): pure logic (spec, plan, packet views, the fuzz corpus)
# and the host-only stress runs (fault injection at every step, kill -9
# loops), which exercise netloom's journal, not drivers, the progress bar
# on a terminal and the shell completions (script(1) and bash, which the
# guest lacks), the model-based edit
# test and the address-edit regressions (~3 min and ~1 min on the host, an
# hour and 7 minutes under TCG; they test the planner with drivers this
# machine has), the architecture test (the guest has no sources), the
# pictures of `graph` from files (Graphviz and chromium, which the guest
# lacks; its live overlay, graph_live, runs in both), the ifupdown2 peer
# script and explain's 200 random topologies (made of the host kernel's
# kinds; under TCG they would take most of an hour), the CNI latency,
# stress and podman runs (the host has the reference plugins and podman) and
# the failover and two-host tests, which boot VMs of their own, and the
# DHCP and LIF tests (veth, bridge and dnsmasq, which the host has; their
# lease renewals and failovers would only be slower under TCG). Everything
# that touches the kernel runs in both. Override with NETLOOM_VM_SKIP.
skip=${NETLOOM_VM_SKIP-'^(spec_.*|plan_.*|verify_wire|fuzz_corpus|txn_rollback|txn_crash|cli_progress|cli_shell|edits_model|edit_address|scale|architecture|graph|peer_ifupdown2|explain_prop|cni_latency|cni_stress|cni_podman|vm_failover|vm_twohost|dhcp|lif)-[0-9a-f]+$'}
if [ -n "$skip" ]; then
    kept=()
    for t in "${tests[@]}"; do
        if [[ $(basename "$t") =~ $skip ]]; then
            log "not in the VM (kernel-independent, or needing no driver the host lacks): $(basename "$t")"
        else
            kept+=("$t")
        fi
    done
    tests=("${kept[@]}")
fi

[ ${#tests[@]} -gt 0 ] || { log "error: cargo built no test executables"; exit 1; }
[ -n "$netloom_bin" ] || { log "error: cargo built no netloom binary"; exit 1; }
log "${#tests[@]} test executables, netloom binary $netloom_bin"

# Test fixtures are read relative to the crate root (cargo's working
# directory for tests): ship the directories that hold them.
files=""
for d in tests examples; do
    [ -d "$REPO/$d" ] && files="$files $REPO/$d"
done
# netloom-cni, at its host path (the tests run the path cargo compiled in).
[ -n "$cni_bin" ] && files="$files $cni_bin"

filter=()
[ $# -gt 0 ] && filter=(-- "$@")

# TCG emulates on one host thread per VM (-smp 1), so with two cores two VMs
# run side by side. Binaries are dealt out greedily by their rough cost in
# seconds under TCG (measured; unknown ones count 10), heaviest first.
jobs=${NETLOOM_VM_JOBS:-2}
cost() {
    case $(basename "$1" | sed 's/-[0-9a-f]*$//') in
        examples_vm) echo 220 ;; examples_verify) echo 150 ;; examples) echo 90 ;;
        examples_team) echo 55 ;; options) echo 47 ;; options_vm) echo 41 ;;
        verify_cli) echo 40 ;; verify_lan) echo 26 ;; txn_vm) echo 40 ;; cni) echo 30 ;;
        edit_address) echo 400 ;; import_ifupdown) echo 110 ;; graph_live) echo 60 ;;
        export) echo 110 ;; fdb) echo 60 ;;
        explain_rules) echo 140 ;; explain_examples) echo 85 ;; explain_cli) echo 30 ;; *) echo 10 ;;
    esac
}
declare -a group load
for ((j = 0; j < jobs; j++)); do group[j]=""; load[j]=0; done
while read -r c t; do
    best=0
    for ((j = 1; j < jobs; j++)); do ((load[j] < load[best])) && best=$j; done
    group[best]="${group[best]} $t"
    load[best]=$((load[best] + c))
done < <(for t in "${tests[@]}"; do echo "$(cost "$t") $t"; done | sort -rn)

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
pids=()
for ((j = 0; j < jobs; j++)); do
    [ -n "${group[j]}" ] || continue
    # shellcheck disable=SC2086 # the group is a list of paths without spaces
    NETLOOM_BIN=$netloom_bin NETLOOM_VM_FILES=$files NETLOOM_VM_CWD=$REPO CARGO_MANIFEST_DIR=$REPO \
        "$HERE/run.sh" ${group[j]} "${filter[@]+"${filter[@]}"}" >"$logs/vm$j.log" 2>&1 &
    pids[j]=$!
    log "VM $j: $(echo ${group[j]} | wc -w) binaries (about ${load[j]} s)"
done
status=0
for j in "${!pids[@]}"; do
    wait "${pids[j]}" || status=1
done
# The net_failover variant needs a VM of its own (q35, a failover NIC pair,
# QMP): about 20 s more, after the others. NETLOOM_VM_FAILOVER=0 skips it;
# a filtered run includes it only when a filter names it.
run_failover=${NETLOOM_VM_FAILOVER:-1}
if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -q failover; then run_failover=0; fi
if [ "$run_failover" != 0 ]; then
    "$HERE/failover.sh" "$@" >"$logs/failover.log" 2>&1 || status=1
fi
# Two hosts of one logical switch, two VMs on one wire: about 40 s more.
# NETLOOM_VM_TWOHOST=0 skips it; a filtered run includes it when named.
run_twohost=${NETLOOM_VM_TWOHOST:-1}
if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -q -e twohost -e logical_switch; then run_twohost=0; fi
if [ "$run_twohost" != 0 ]; then
    "$HERE/twohost.sh" "$@" >"$logs/twohost.log" 2>&1 || status=1
fi
# One VM's whole output after the other, so each reads in order.
for j in "${!pids[@]}"; do
    echo "===== VM $j"
    cat "$logs/vm$j.log"
done
if [ -f "$logs/failover.log" ]; then
    echo "===== VM net_failover (vm/failover.sh)"
    cat "$logs/failover.log"
fi
if [ -f "$logs/twohost.log" ]; then
    echo "===== two VMs, one logical switch (vm/twohost.sh)"
    cat "$logs/twohost.log"
fi
exit $status
