#!/usr/bin/env bash
# Compare `netloom import ifupdown` with ifupdown2's own test suite (not
# part of CI): its input files tests/eni/*.eni against its expected
# `ifquery -ac -o json` outputs in tests/output/.
#
#   tests/peers/ifupdown2.sh GIT_DIR_OR_CHECKOUT
#
# GIT_DIR_OR_CHECKOUT: a clone of github.com/CumulusNetworks/ifupdown2, or
# its bare git directory. Only its tests/ directory is read, into a
# temporary directory; nothing of it is copied into this repository.
set -euo pipefail
src=${1:?usage: $0 GIT_DIR_OR_CHECKOUT (of github.com/CumulusNetworks/ifupdown2)}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -d "$src/tests/eni" ]; then
    cp -r "$src/tests" "$tmp/"
else
    git --git-dir="$src" archive HEAD tests | tar -x -C "$tmp"
    echo "ifupdown2 at $(git --git-dir="$src" rev-parse --short HEAD)"
fi
NETLOOM_IFUPDOWN2=$tmp cargo test --test peer_ifupdown2 -- --nocapture
