//! The forwarding database codec against the kernel's own view: entries
//! netloom adds and entries iproute2 adds (static, permanent, appended,
//! learned) are read back by netloom exactly as `bridge -j -s fdb show`
//! prints them, field by field, and what netloom observes as managed is
//! what it added.
use std::collections::BTreeSet;
use std::process::Command;

use netloom::kernel::{apply, fdb, Kernel};
use netloom::model::fdb::FLOOD;
use netloom::model::*;

/// Run a shell script, failing the test with its output.
fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-ec", script])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One entry in the words both sides share.
fn line(
    mac: &str,
    ifname: &str,
    master: Option<&str>,
    state: &str,
    extra: &[(&str, String)],
) -> String {
    let mut s = format!(
        "{mac} dev {ifname} master {} state {state:?}",
        master.unwrap_or("-")
    );
    for (k, v) in extra {
        s += &format!(" {k} {v}");
    }
    s
}

/// iproute2's view: `bridge -j fdb show`, one line per entry.
fn iproute2() -> BTreeSet<String> {
    let v: serde_json::Value =
        serde_json::from_str(&sh("bridge -j fdb show")).expect("bridge -j output");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().map(str::to_string);
            let mut extra = Vec::new();
            for k in ["dst", "viaIf"] {
                if let Some(x) = s(k) {
                    extra.push((k, x));
                }
            }
            for k in ["vlan", "vni", "port"] {
                if let Some(x) = e[k].as_u64() {
                    extra.push((k, x.to_string()));
                }
            }
            line(
                &s("mac").unwrap(),
                &s("ifname").unwrap(),
                s("master").as_deref(),
                &s("state").unwrap_or_default(),
                &extra,
            )
        })
        .collect()
}

/// netloom's view of the same dump.
fn netloom(rows: &[fdb::Row]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| {
            let e = &r.entry;
            let state = match r.origin {
                fdb::Origin::Permanent => "permanent",
                fdb::Origin::Static => "static",
                fdb::Origin::Learned if r.flags.contains(&"stale") => "stale",
                fdb::Origin::Learned => "",
            };
            let mut extra = Vec::new();
            if let Some(d) = e.dst {
                extra.push(("dst", d.to_string()));
            }
            if let Some(v) = &e.via {
                extra.push(("viaIf", v.clone()));
            }
            for (k, v) in [
                ("vlan", e.vlan.map(u32::from)),
                ("vni", e.vni),
                ("port", e.dstport.map(u32::from)),
            ] {
                if let Some(v) = v {
                    extra.push((k, v.to_string()));
                }
            }
            let (ifname, master) = match &e.port {
                Some(p) if r.master => (p.as_str(), Some(e.dev.as_str())),
                _ => (e.dev.as_str(), None),
            };
            line(&e.mac.to_string(), ifname, master, state, &extra)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_as_bridge_fdb_shows_them() {
    netloom::sandboxed!("rows_read_as_bridge_fdb_shows_them");
    sh("ip link set lo up
        ip link add br0 type bridge
        ip link add p1 type veth peer name q1
        ip link add p2 type veth peer name q2
        ip link set p1 master br0
        ip link set p2 master br0
        ip addr add 10.0.0.1/24 dev q2
        for d in br0 p1 q1 p2 q2; do ip link set $d up; done
        ip link add vx0 type vxlan id 100 dstport 4789 local 10.0.0.1 nolearning
        ip link add vx1 type vxlan id 101 dstport 4789 local 10.0.0.1 remote 10.0.0.9
        bridge fdb add 02:00:00:00:00:0a dev p1 master static
        bridge fdb add 02:00:00:00:00:0b dev p1 master
        bridge fdb append 00:00:00:00:00:00 dev vx0 dst 10.0.0.3
        bridge fdb add 02:00:00:00:00:21 dev vx1 dst 10.0.0.4 vni 7 port 4790 via q2");
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    let mac = |s: &str| s.parse::<MacAddr>().unwrap();
    let mut via = FdbEntry::vxlan("vx0", mac("02:00:00:00:00:22"), "10.0.0.5".parse().unwrap());
    via.vni = Some(9);
    via.dstport = Some(4791);
    via.via = Some("q2".into());
    let ours = [
        FdbEntry::bridge("br0", mac("02:00:00:00:00:09"), "p2", None),
        FdbEntry::vxlan("vx0", FLOOD, "10.0.0.2".parse().unwrap()),
        via,
    ];
    for e in &ours {
        let op = Op::AddFdb {
            node: HOST.into(),
            entry: e.clone(),
        };
        apply::run(&k, &op)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e}"));
    }
    // A learned entry: the bridge learns q1's address from a frame q1 sends.
    sh("ping -c1 -W1 -I q1 10.0.0.99 >/dev/null 2>&1 || true");
    let rows = fdb::dump(&k, HOST).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.origin == fdb::Origin::Learned && r.entry.port.as_deref() == Some("p1")),
        "nothing learned: {rows:#?}"
    );
    let (want, got) = (iproute2(), netloom(&rows));
    let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| -> Vec<String> {
        a.difference(b).cloned().collect()
    };
    assert!(
        want == got,
        "only in bridge fdb show: {:#?}\nonly in netloom: {:#?}",
        only(&want, &got),
        only(&got, &want)
    );
    println!("{} entries read alike", want.len());
    // What netloom manages: the entries it added and the static ones
    // iproute2 added, not the local, learned, or vxlan-made ones.
    let node = netloom::kernel::observe::node(&k, HOST, &[])
        .await
        .unwrap()
        .unwrap();
    let managed: Vec<String> = node.fdb.iter().map(ToString::to_string).collect();
    let mut want: Vec<String> = ours.iter().map(ToString::to_string).collect();
    want.push("02:00:00:00:00:0a dev p1 master br0".into());
    want.push("00:00:00:00:00:00 dev vx0 dst 10.0.0.3".into());
    want.push("02:00:00:00:00:21 dev vx1 dst 10.0.0.4 vni 7 port 4790 via q2".into());
    want.sort();
    let mut managed_sorted = managed.clone();
    managed_sorted.sort();
    assert_eq!(managed_sorted, want);
    // Deleting through netloom removes exactly its entries.
    for e in &ours {
        let op = Op::DelFdb {
            node: HOST.into(),
            entry: e.clone(),
        };
        apply::run(&k, &op)
            .await
            .unwrap_or_else(|e| panic!("{op}: {e}"));
    }
    let left = netloom(&fdb::dump(&k, HOST).await.unwrap());
    for e in &ours {
        assert!(
            !left.iter().any(|l| l.starts_with(&e.mac.to_string())
                && l.contains(&e.dev)
                && e.dst.is_none_or(|d| l.contains(&d.to_string()))),
            "{e} still there: {left:#?}"
        );
    }
}

/// What the kernel refuses is refused with its own words and the entry named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_entry() {
    netloom::sandboxed!("refusals_name_the_entry");
    sh("ip link add br0 type bridge
        ip link add p1 type veth peer name q1");
    let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
    let e = FdbEntry::bridge("br0", "02:00:00:00:00:09".parse().unwrap(), "p1", None);
    let op = Op::AddFdb {
        node: HOST.into(),
        entry: e,
    };
    let err = apply::run(&k, &op).await.unwrap_err();
    assert_eq!(err.errno(), Some(libc_eopnotsupp()), "{err}");
    assert!(
        err.to_string()
            .contains("host/br0: fdb add 02:00:00:00:00:09 dev p1 master br0"),
        "{err}"
    );
}

/// EOPNOTSUPP: rtnl_fdb_add for a device that is no bridge port.
fn libc_eopnotsupp() -> i32 {
    95
}
