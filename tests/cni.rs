//! netloom-cni against CNI 1.1.0, executed as a runtime executes it: each
//! test names the spec's MUST (or SHOULD) it holds the plugin to, and every
//! refusal is checked to have changed nothing.
#[path = "support/cni_util/mod.rs"]
mod cni_util;

use cni_util::{bridge_conf, first_ip, Runtime};
use serde_json::{json, Value};

/// VERSION: `{cniVersion, supportedVersions}`, cniVersion echoing the input.
#[test]
fn version_answers_with_the_input_version_and_the_supported_list() {
    let rt = Runtime::new();
    let r = rt.exec(
        &cni_util::plugin(),
        &[("CNI_COMMAND", "VERSION")],
        r#"{"cniVersion":"0.4.0"}"#,
    );
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(r.json["cniVersion"], "0.4.0");
    let list: Vec<&str> = r.json["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(list, ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
}

/// ADD: creates CNI_IFNAME in CNI_NETNS, outputs the result structure
/// (interfaces with sandbox for the container's, ips with their interface
/// index, routes) in the version supplied; containers reach each other and
/// their gateway. DEL: removes it; repeated DEL succeeds; DEL without
/// CNI_NETNS succeeds. Nothing is left.
#[test]
fn add_result_shape_traffic_then_del_is_idempotent_and_leaves_nothing() {
    let rt = Runtime::new();
    let conf = bridge_conf("1.1.0", "10.22.0.0/24");
    let n1 = rt.container("c1");
    let n2 = rt.container("c2");
    let r1 = rt.add(&conf, "c1", &n1);
    let r2 = rt.add(&conf, "c2", &n2);
    assert_eq!(r1["cniVersion"], "1.1.0");
    let ifs = r1["interfaces"].as_array().unwrap();
    let at = r1["ips"][0]["interface"].as_u64().unwrap() as usize;
    assert_eq!(ifs[at]["name"], "eth0");
    assert_eq!(ifs[at]["sandbox"], n1.as_str());
    assert!(
        ifs.iter().filter(|i| i.get("sandbox").is_none()).count() >= 1,
        "host interfaces: {r1}"
    );
    assert_eq!(r1["ips"][0]["gateway"], "10.22.0.1");
    assert!(
        r1["ips"][0].get("version").is_none(),
        "1.x ips have no version: {r1}"
    );
    assert_eq!(r1["routes"][0]["dst"], "0.0.0.0/0");
    // The MAC reported is the interface's.
    let mac =
        rt.sh_ok("ip -n c1 -o link show eth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2");
    assert_eq!(ifs[at]["mac"].as_str().unwrap(), mac.trim());
    let (ip1, ip2) = (first_ip(&r1), first_ip(&r2));
    assert_ne!(ip1, ip2);
    assert!(rt.pings("c1", &ip2), "c1 -> c2");
    assert!(rt.pings("c2", "10.22.0.1"), "c2 -> gateway");
    assert!(rt.pings("c1", "10.22.0.1"), "c1 -> gateway");

    // The gateway's MAC is the bridge's own (set, NET_ADDR_SET = 3), not
    // its lowest port's, which would change under c2's ARP cache when c1
    // goes (br_stp_recalculate_bridge_id).
    assert_eq!(
        rt.sh_ok("cat /sys/class/net/nl0/addr_assign_type").trim(),
        "3"
    );
    let bridge_mac = rt.sh_ok("cat /sys/class/net/nl0/address");
    rt.del(&conf, "c1", Some(&n1));
    assert_eq!(rt.sh_ok("cat /sys/class/net/nl0/address"), bridge_mac);
    rt.del(&conf, "c1", Some(&n1));
    rt.del(&conf, "c1", None);
    assert_eq!(rt.links_in("c1"), "", "c1's eth0 gone");
    assert!(rt.pings("c2", "10.22.0.1"), "c2 unaffected");
    // DEL without CNI_NETNS still releases everything (the host end takes
    // the container end along).
    rt.del(&conf, "c2", None);
    assert_eq!(rt.links_in("c2"), "");
    assert_eq!(
        rt.host_links().trim(),
        "nl0",
        "only the network's bridge stays"
    );
    assert_eq!(
        rt.kept("cni-lab"),
        "",
        "no record, reservation or journal left"
    );
}

/// The result is written in the version asked for: `ips[].version` before
/// 1.0.0; a configuration without cniVersion gets the highest common one
/// of cniVersions.
#[test]
fn results_follow_the_negotiated_version() {
    let rt = Runtime::new();
    let n = rt.container("c1");
    let mut conf = bridge_conf("0.4.0", "10.23.0.0/24");
    let r = rt.add(&conf, "c1", &n);
    assert_eq!(r["cniVersion"], "0.4.0");
    assert_eq!(r["ips"][0]["version"], "4", "{r}");
    assert!(
        r["interfaces"][0].get("mtu").is_none(),
        "no mtu before 1.1.0: {r}"
    );
    rt.del(&conf, "c1", Some(&n));
    conf.as_object_mut().unwrap().remove("cniVersion");
    conf["cniVersions"] = json!(["0.3.1", "1.0.0", "9.0.0"]);
    let r = rt.add(&conf, "c1", &n);
    assert_eq!(r["cniVersion"], "1.0.0", "{r}");
    rt.del(&conf, "c1", Some(&n));
}

/// CHECK consults prevResult: passes right after ADD; fails when the
/// interface, its address or its reservation is not as ADD left it;
/// refuses without prevResult; older versions do not allow CHECK.
#[test]
fn check_passes_after_add_and_fails_on_drift() {
    let rt = Runtime::new();
    let mut conf = bridge_conf("1.1.0", "10.24.0.0/24");
    let n = rt.container("c1");
    let result = rt.add(&conf, "c1", &n);
    let bare = rt.call("CHECK", &conf, "c1", Some(&n), "eth0");
    assert_eq!(
        bare.cni_code(),
        Some(7),
        "CHECK without prevResult:\n{}",
        bare.text()
    );
    conf["prevResult"] = result.clone();
    let ok = rt.call("CHECK", &conf, "c1", Some(&n), "eth0");
    assert_eq!(ok.code, 0, "{}", ok.text());
    assert_eq!(ok.out, "");
    rt.sh_ok("ip -n c1 addr flush dev eth0");
    let bad = rt.call("CHECK", &conf, "c1", Some(&n), "eth0");
    assert_eq!(bad.cni_code(), Some(104), "{}", bad.text());
    assert!(
        bad.json["msg"].as_str().unwrap().contains("address"),
        "{}",
        bad.text()
    );
    rt.sh_ok("ip -n c1 link set eth0 down");
    let down = rt.call("CHECK", &conf, "c1", Some(&n), "eth0");
    assert!(
        down.json["msg"].as_str().unwrap().contains("down"),
        "{}",
        down.text()
    );
    let mut old = conf.clone();
    old["cniVersion"] = json!("0.3.1");
    assert_eq!(
        rt.call("CHECK", &old, "c1", Some(&n), "eth0").cni_code(),
        Some(1)
    );
    rt.del(&conf, "c1", Some(&n));
    let gone = rt.call("CHECK", &conf, "c1", Some(&n), "eth0");
    assert_eq!(
        gone.cni_code(),
        Some(3),
        "CHECK of a container not attached:\n{}",
        gone.text()
    );
}

/// ADD on an existing CNI_IFNAME MUST fail; nothing is created.
#[test]
fn add_refuses_an_existing_interface_name() {
    let rt = Runtime::new();
    let conf = bridge_conf("1.1.0", "10.25.0.0/24");
    let n = rt.container("c1");
    rt.sh_ok("ip link add eth0 netns c1 type veth peer name outside0");
    let before = rt.host_links();
    let r = rt.call("ADD", &conf, "c1", Some(&n), "eth0");
    assert_eq!(r.cni_code(), Some(101), "{}", r.text());
    assert!(
        r.json["msg"].as_str().unwrap().contains("eth0"),
        "{}",
        r.text()
    );
    assert_eq!(rt.host_links(), before, "nothing made on the host");
    assert_eq!(rt.kept("cni-lab"), "");
    // And a second ADD of an attached (container, interface) fails too.
    let n2 = rt.container("c2");
    rt.add(&conf, "c2", &n2);
    let again = rt.call("ADD", &conf, "c2", Some(&n2), "eth0");
    assert_eq!(again.cni_code(), Some(101), "{}", again.text());
    rt.del(&conf, "c2", Some(&n2));
}

/// Bad input: each gets the spec's code, a message naming the problem,
/// and changes nothing (no device, no record, no reservation).
#[test]
fn bad_input_gets_the_spec_codes_and_changes_nothing() {
    let rt = Runtime::new();
    let conf = bridge_conf("1.1.0", "10.26.0.0/24");
    let n = rt.container("c1");
    rt.sh_ok("touch /run/plainfile");
    let before = rt.host_links();
    let exe = cni_util::plugin();
    let full = |netns: &'static str| {
        vec![
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", netns),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", cni_util::CNI_PATH),
        ]
    };
    let good = conf.to_string();
    let mut unknown_field = conf.clone();
    unknown_field["colour"] = json!("blue");
    let mut bad_version = conf.clone();
    bad_version["cniVersion"] = json!("3.0.0");
    let mut two_kinds = conf.clone();
    two_kinds["macvlan"] = json!({"lower": "eth0"});
    // (what, environment, stdin, code, a word the error must say)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u64, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            full("/run/netns/c1"),
            "{\"cniVersion\": ".into(),
            6,
            "decode",
        ),
        (
            "unknown cniVersion",
            full("/run/netns/c1"),
            bad_version.to_string(),
            1,
            "3.0.0",
        ),
        (
            "unknown field",
            full("/run/netns/c1"),
            unknown_field.to_string(),
            2,
            "colour",
        ),
        (
            "two attachment kinds",
            full("/run/netns/c1"),
            two_kinds.to_string(),
            7,
            "exclusive",
        ),
        (
            "no CNI_COMMAND",
            full("/run/netns/c1")[1..].to_vec(),
            good.clone(),
            4,
            "CNI_COMMAND",
        ),
        (
            "no CNI_NETNS on ADD",
            full("/run/netns/c1")
                .into_iter()
                .filter(|(k, _)| *k != "CNI_NETNS")
                .collect(),
            good.clone(),
            4,
            "CNI_NETNS",
        ),
        (
            "CNI_NETNS a plain file",
            full("/run/plainfile"),
            good.clone(),
            4,
            "CNI_NETNS",
        ),
        (
            "CNI_NETNS another kind of namespace",
            full("/proc/self/ns/mnt"),
            good.clone(),
            4,
            "not a network namespace",
        ),
        (
            "CNI_NETNS missing",
            full("/run/netns/nope"),
            good.clone(),
            3,
            "does not exist",
        ),
        (
            "bad CNI_IFNAME",
            full("/run/netns/c1")
                .into_iter()
                .map(|(k, v)| {
                    if k == "CNI_IFNAME" {
                        (k, "a/b")
                    } else {
                        (k, v)
                    }
                })
                .collect(),
            good.clone(),
            4,
            "CNI_IFNAME",
        ),
    ];
    for (what, env, stdin, code, says) in cases {
        let r = rt.exec(&exe, &env, &stdin);
        assert_ne!(r.code, 0, "{what}: must fail\n{}", r.text());
        assert_eq!(r.cni_code(), Some(code), "{what}:\n{}", r.text());
        let all = format!("{} {}", r.json["msg"], r.json["details"]);
        assert!(
            all.contains(says),
            "{what}: message should say {says:?}:\n{}",
            r.text()
        );
        assert!(
            r.json["cniVersion"].is_string(),
            "{what}: error result has cniVersion"
        );
        assert_eq!(rt.host_links(), before, "{what}: a device was made");
        assert_eq!(
            rt.links_in("c1"),
            "",
            "{what}: a device was made in the container"
        );
        assert_eq!(rt.kept("cni-lab"), "", "{what}: state was written");
    }
    let _ = n;
}

/// GC removes every attachment not in cni.dev/valid-attachments (devices,
/// reservations, records) and keeps the valid ones working; older versions
/// do not allow GC.
#[test]
fn gc_removes_exactly_the_attachments_not_valid() {
    let rt = Runtime::new();
    let conf = bridge_conf("1.1.0", "10.27.0.0/24");
    let mut ips = Vec::new();
    for c in ["c1", "c2", "c3"] {
        let n = rt.container(c);
        ips.push(first_ip(&rt.add(&conf, c, &n)));
    }
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "c2", "ifname": "eth0"}]);
    let old = {
        let mut o = gc.clone();
        o["cniVersion"] = json!("1.0.0");
        o
    };
    let env = [("CNI_COMMAND", "GC"), ("CNI_PATH", cni_util::CNI_PATH)];
    assert_eq!(
        rt.exec(&cni_util::plugin(), &env, &old.to_string())
            .cni_code(),
        Some(1)
    );
    let r = rt.exec(&cni_util::plugin(), &env, &gc.to_string());
    assert_eq!(r.code, 0, "{}", r.text());
    assert_eq!(r.out, "");
    assert_eq!(rt.links_in("c1"), "");
    assert_eq!(rt.links_in("c3"), "");
    assert!(rt.links_in("c2").contains("eth0"));
    assert!(rt.pings("c2", "10.27.0.1"), "c2 still reaches its gateway");
    let kept = rt.kept("cni-lab");
    assert_eq!(
        kept.lines().count(),
        2,
        "c2's record and reservation only:\n{kept}"
    );
    assert!(kept.contains(&format!("ipam/{}", ips[1])), "{kept}");
}

/// STATUS: success while ADD can be served; 50 when the range is full.
#[test]
fn status_reports_an_exhausted_range() {
    let rt = Runtime::new();
    // A /30 has two hosts: the gateway and one container.
    let conf = bridge_conf("1.1.0", "10.28.0.0/30");
    let status = |rt: &Runtime| {
        rt.exec(
            &cni_util::plugin(),
            &[("CNI_COMMAND", "STATUS"), ("CNI_PATH", cni_util::CNI_PATH)],
            &conf.to_string(),
        )
    };
    assert_eq!(status(&rt).code, 0, "{}", status(&rt).text());
    let n1 = rt.container("c1");
    rt.add(&conf, "c1", &n1);
    let full = status(&rt);
    assert_eq!(full.cni_code(), Some(50), "{}", full.text());
    let n2 = rt.container("c2");
    let r = rt.call("ADD", &conf, "c2", Some(&n2), "eth0");
    assert_eq!(r.cni_code(), Some(102), "{}", r.text());
    assert_eq!(rt.links_in("c2"), "", "a failed ADD leaves nothing");
    let kept = rt.kept("cni-lab");
    assert_eq!(
        kept.lines().count(),
        2,
        "only c1's record and reservation:\n{kept}"
    );
    let mut old = conf.clone();
    old["cniVersion"] = json!("1.0.0");
    let r = rt.exec(
        &cni_util::plugin(),
        &[("CNI_COMMAND", "STATUS")],
        &old.to_string(),
    );
    assert_eq!(r.cni_code(), Some(1), "STATUS needs 1.1.0:\n{}", r.text());
}

/// Port options in netloom's words reach the kernel; the MTU applies to
/// both ends; extra routes are added.
#[test]
fn bridge_port_options_mtu_and_routes() {
    let rt = Runtime::new();
    let mut conf = bridge_conf("1.1.0", "10.29.0.0/24");
    conf["bridge"]["port"] = json!({"hairpin": true, "cost": 7, "learning": false});
    conf["mtu"] = json!(1400);
    conf["routes"] = json!([{"to": "192.0.2.0/24", "via": "10.29.0.1", "metric": 50}]);
    let n = rt.container("c1");
    let r = rt.add(&conf, "c1", &n);
    let host_if = r["interfaces"][1]["name"].as_str().unwrap().to_string();
    let detail = rt.sh_ok(&format!("ip -d link show {host_if}"));
    assert!(detail.contains("hairpin on"), "{detail}");
    assert!(detail.contains("cost 7"), "{detail}");
    assert!(detail.contains("learning off"), "{detail}");
    assert!(detail.contains("mtu 1400"), "{detail}");
    assert!(rt.sh_ok("ip -n c1 link show eth0").contains("mtu 1400"));
    let routes = rt.sh_ok("ip -n c1 route");
    assert!(
        routes.contains("192.0.2.0/24 via 10.29.0.1 dev eth0") && routes.contains("metric 50"),
        "{routes}"
    );
    assert!(routes.contains("default via 10.29.0.1"), "{routes}");
    let _: Value = r;
}
