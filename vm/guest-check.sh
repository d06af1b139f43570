#!/bin/sh
# Check that the VM guest has every driver and tool netloom's tests rely on:
#   vm/run.sh vm/guest-check.sh
# Runs inside the guest (as if it were a test binary; the libtest arguments
# are ignored). Works in a private network namespace and exits non-zero at
# the first missing capability, naming it.
set -eu

if [ -z "${GUEST_CHECK_INSIDE:-}" ]; then
    # A fresh namespace of our own, like the tests' sandbox.
    export GUEST_CHECK_INSIDE=1
    exec unshare -n -m --propagation private "$0"
fi
mount -t tmpfs tmpfs /run
mount -t sysfs sysfs /sys

IP=/usr/sbin/ip
step() { printf 'guest-check: %s\n' "$*"; }

step "drivers load on demand for ip link add"
$IP link add d0 type dummy
$IP link add b0 type bond mode active-backup
$IP link add t0 type team
$IP link add br0 type bridge vlan_filtering 1
$IP link add v0 link d0 type vlan id 10
$IP link add v1 link d0 type vlan proto 802.1ad id 20
$IP link add iv0 link d0 type ipvlan mode l2
$IP link add ivt0 link d0 type ipvtap mode l3
$IP link add mv0 link b0 type macvlan mode bridge
$IP link add mvt0 link b0 type macvtap mode bridge
$IP link add vx0 type vxlan id 42 dstport 4789 local 127.0.0.1
$IP link add ve0 type veth peer name ve1
$IP link add vrf0 type vrf table 10
$IP tuntap add tap0 mode tap
[ "$(cat /sys/class/net/br0/bridge/vlan_filtering)" = 1 ]
for dev in bond0 dummy0 ifb0; do
    ! $IP link show "$dev" 2>/dev/null || { echo "driver default device $dev exists"; exit 1; }
done

step "teamd runs and answers teamdctl, and the init reaps it"
$IP link del t0
teamd -d -t t1 -c '{"runner": {"name": "activebackup"}, "link_watch": {"name": "ethtool"}}' 2>/dev/null
$IP link set ve0 down
teamdctl t1 port add ve0
teamdctl t1 state view | grep -q 've0'
teamd -k -t t1 2>/dev/null

step "nft masquerade and conntrack rules load"
nft -f - <<'EOF'
table ip netloom_check {
    chain postrouting_nat {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "ve0" masquerade
    }
    chain forward_filter {
        type filter hook forward priority filter; policy accept;
        ct state established,related accept
    }
}
EOF
nft list table ip netloom_check | grep -q masquerade

step "ping between two namespaces"
$IP netns add a
$IP netns add b
$IP link add pa netns a type veth peer name pb netns b
$IP -n a addr add 10.9.0.1/24 dev pa
$IP -n b addr add 10.9.0.2/24 dev pb
$IP -n a link set pa up
$IP -n b link set pb up
$IP netns exec a ping -c 1 -W 5 10.9.0.2 >/dev/null

step "dnsmasq starts"
dnsmasq --version >/dev/null

step "all present"
