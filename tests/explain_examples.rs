//! Never disagree with the kernel: for every example and every ordered
//! pair (node, address of the file), explain's verdict, static and live,
//! equals what a real probe sees. The examples this kernel has drivers for
//! run here; the others in the VM (`vm/test.sh explain`).
#[path = "support/explain_util/mod.rs"]
mod explain_util;

use explain_util::{compare, engine, known_gaps, report, up};

/// Bring the example up in this sandbox, compare, and insist on agreement.
fn check(example: &str) {
    let root = std::env::var_os("NETLOOM_ROOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let path = root.join("examples").join(example);
    let topo = netloom::spec::load(&path).unwrap_or_else(|e| panic!("{example}: {e:?}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let gaps = known_gaps();
    // The DHCP client and the LIF watcher are netloom's own program, which
    // this test binary (driving the library) is not.
    let bin =
        std::env::var_os("NETLOOM_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_netloom").into());
    std::env::set_var(netloom::kernel::apply::AGENT_EXE, bin);
    rt.block_on(async {
        let e = engine(&topo);
        up(&e, &topo).await;
        let c = compare(&e, &topo, example, example.trim_end_matches(".yaml"), &gaps).await;
        explain_util::tell(&format!(
            "{example}: {} pairs, {} reached by probes; static agrees on {}, live on {}; {} known gaps",
            c.pairs, c.reached, c.static_agree, c.live_agree, c.known.len()
        ));
        assert!(c.bad.is_empty(), "{example}: explain disagrees with the kernel:\n{}", report(&c.bad));
    });
}

macro_rules! host {
    ($name:ident, $file:expr) => {
        #[test]
        fn $name() {
            netloom::sandboxed!(concat!("explain_examples::", stringify!($name)));
            check($file);
        }
    };
}

macro_rules! vm {
    ($name:ident, $file:expr, $why:expr) => {
        #[test]
        #[ignore = $why]
        fn $name() {
            netloom::sandboxed!(concat!("explain_examples::", stringify!($name)));
            check($file);
        }
    };
}

/// In a module so `vm/test.sh explain` selects these tests.
mod explain_examples {
    use super::check;

    host!(veth_pair, "01-veth-pair.yaml");
    host!(macvlan_modes, "02-macvlan-modes.yaml");
    host!(lxc_nat, "03-lxc-nat.yaml");
    host!(vxlan, "04-vxlan.yaml");
    host!(stp_loop, "05-stp-loop.yaml");
    host!(macvtap, "06-macvtap.yaml");
    host!(macvlan_vepa, "15-macvlan-vepa.yaml");
    host!(ifb, "17-ifb.yaml");
    host!(vxlan_her, "18-vxlan-her.yaml");
    host!(lxc_dhcp, "19-lxc-dhcp.yaml");
    host!(lif, "20-lif.yaml");
    vm!(
        vrf,
        "16-vrf.yaml",
        "needs a kernel with vrf: runs in the VM"
    );
    vm!(
        bond_active_backup,
        "07-bond-active-backup.yaml",
        "needs a kernel with bonding: runs in the VM"
    );
    vm!(
        bond_lacp,
        "08-bond-lacp.yaml",
        "needs a kernel with bonding: runs in the VM"
    );
    vm!(
        team_activebackup,
        "09-team-activebackup.yaml",
        "needs a kernel with team and teamd: runs in the VM"
    );
    vm!(
        ipvlan_l3,
        "10-ipvlan-l3.yaml",
        "needs a kernel with ipvlan: runs in the VM"
    );
    vm!(
        ipvlan_l2,
        "11-ipvlan-l2.yaml",
        "needs a kernel with ipvlan: runs in the VM"
    );
    vm!(
        vlan,
        "12-vlan.yaml",
        "needs a kernel with 8021q: runs in the VM"
    );
    vm!(
        logical_switch,
        "13-logical-switch.yaml",
        "needs a kernel with 8021q: runs in the VM"
    );
    vm!(
        vtaps,
        "14-ipvtap-macvtap.yaml",
        "needs a kernel with ipvtap: runs in the VM"
    );
}

/// Every bundled example is compared, here or in the VM.
#[test]
fn every_example_is_compared() {
    let listed = include_str!("explain_examples.rs");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") && !listed.contains(&format!("\"{name}\"")) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "examples explain is not compared on: {missing:?}"
    );
}
