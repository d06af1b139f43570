//! Validation parity with the kernel: for each option with a range, a set
//! of allowed values or a uniqueness rule, values just inside and just
//! outside each limit are judged by `netloom validate` and by the kernel
//! itself (see parity_util for how), and validate must refuse exactly what
//! the kernel refuses or alters. The table of results is printed
//! (`cargo test --test kernel_parity -- --nocapture`).
//!
//! `host` tries what every kernel here has (bridge, veth, macvlan,
//! macvtap, vxlan, tun/tap); `vm` the drivers only the VM's kernel has
//! (bond, vlan, ipvlan, dummy, team): `vm/test.sh kernel_parity` runs both
//! there, so the host's trials are judged by 6.1 as well as 6.18.
#[path = "kernel_parity/links.rs"]
mod links;
#[path = "support/parity_util/mod.rs"]
mod parity_util;
#[path = "kernel_parity/tunnels.rs"]
mod tunnels;
#[path = "kernel_parity/vm.rs"]
mod vm;

/// In a module so `vm/test.sh kernel_parity` selects both tests.
mod kernel_parity {
    use super::parity_util::sandboxed;
    use super::{links, tunnels, vm};

    #[test]
    #[ignore = "needs a kernel with bonding, 8021q, ipvlan, dummy and team: runs in the VM"]
    fn vm() {
        sandboxed("kernel_parity::vm", || {
            [vm::dummy_and_vlan(), vm::ipvlan(), vm::bond()]
                .into_iter()
                .flatten()
                .collect()
        });
    }

    #[test]
    fn host() {
        sandboxed("kernel_parity::host", || {
            [
                links::bridge(),
                links::mtus(),
                links::macs(),
                links::macvlan_port(),
                tunnels::vxlan(),
                tunnels::tap_and_names(),
            ]
            .into_iter()
            .flatten()
            .collect()
        });
    }
}
