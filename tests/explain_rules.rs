//! One mutation file per rule of the catalogue (tests/explain/RULE.yaml):
//! a working topology with one knob flipped. For each: explain names the
//! rule, from the file alone and live; the file's `fix` (the knob flipped
//! back) makes the flow deliver; and a real probe, sent in the topology
//! brought up in a sandbox, agrees that the flow does not get through.
//!
//! Header lines of a file: `# rule: ID`, `# flow: SRC -> DST`, `# fix: "A"
//! => "B"` (every occurrence), `# live: only` (the file cannot say it: the
//! static explanation is not checked), `# kernel: DRIVER` (the VM runs it),
//! `# exec: NODE: COMMAND` (run after `up`), `# wait: no` (explain and
//! probe at once after `up`), `# gone: NODE` (its namespace is removed),
//! `# when: NODE: KEY = VALUE` (the rule applies only on kernels where that
//! sysctl has that value; elsewhere explain must say the flow gets through,
//! and the probe must agree).
#[path = "support/explain_util/mod.rs"]
mod explain_util;

use std::time::Duration;

use netloom::engine::ExplainOptions;
use netloom::explain::{self, target};
use netloom::model::{Claim, Endpoint, Expectation, Probe, Target};

/// A mutation file's header.
#[derive(Default, Debug)]
struct Header {
    rule: String,
    src: String,
    dst: String,
    fixes: Vec<(String, String)>,
    live_only: bool,
    execs: Vec<(String, Vec<String>)>,
    wait: bool,
    gone: Vec<String>,
    when: Option<(String, String, String)>,
}

/// Split a command line into words, keeping "double quoted" ones whole,
/// quotes included (nft wants its strings quoted).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn header(text: &str) -> Header {
    let mut h = Header {
        wait: true,
        ..Header::default()
    };
    for l in text.lines().map_while(|l| l.strip_prefix("# ")) {
        let Some((k, v)) = l.split_once(": ") else {
            continue;
        };
        match k {
            "rule" => h.rule = v.trim().to_string(),
            "flow" => {
                let (s, d) = v.split_once(" -> ").expect("flow: SRC -> DST");
                h.src = s.trim().to_string();
                h.dst = d.trim().to_string();
            }
            "fix" => {
                let (a, b) = v.split_once(" => ").expect("fix: \"A\" => \"B\"");
                let unq = |s: &str| s.trim().trim_matches('"').to_string();
                h.fixes.push((unq(a), unq(b)));
            }
            "live" => h.live_only = v.trim() == "only",
            "wait" => h.wait = v.trim() != "no",
            "gone" => h.gone.push(v.trim().to_string()),
            "when" => {
                let (node, kv) = v.split_once(": ").expect("when: NODE: KEY = VALUE");
                let (k, val) = kv.split_once(" = ").expect("when: NODE: KEY = VALUE");
                h.when = Some((
                    node.trim().to_string(),
                    k.trim().to_string(),
                    val.trim().to_string(),
                ));
            }
            "exec" => {
                let (node, cmd) = v.split_once(": ").expect("exec: NODE: COMMAND");
                h.execs.push((node.trim().to_string(), words(cmd)));
            }
            _ => {}
        }
    }
    assert!(
        !h.rule.is_empty() && !h.src.is_empty(),
        "header incomplete: {h:?}"
    );
    h
}

/// The file of `rule`: its text, header, flow and topology, with the
/// static checks done (the rule named from the file alone, the fix delivers).
fn statically(rule: &str) -> (Header, netloom::spec::Topology, explain::Flow, String) {
    let root = std::env::var_os("NETLOOM_ROOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let path = root.join("tests/explain").join(format!("{rule}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = header(&text);
    assert_eq!(h.rule, rule, "the file is named after its rule");
    assert!(
        explain::rules::get(rule).is_some(),
        "{rule} is not in the catalogue"
    );
    let file = format!("tests/explain/{rule}.yaml");
    let topo = netloom::spec::parse_str(&file, &text).unwrap_or_else(|e| panic!("{rule}: {e:?}"));
    let flow = target::flow(&topo, &file, &h.src, &h.dst, Probe::Icmp).unwrap();
    if !h.live_only {
        let e = explain::explain_static(&topo, &file, &flow);
        let got = e.rule.as_ref().map(|r| r.id);
        assert!(
            !e.ok() && got == Some(rule),
            "{rule}: static says {} ({got:?}):\n{}",
            e.disposition,
            explain::render::explanation(&e, "  ")
        );
    }
    if !h.fixes.is_empty() {
        let mut fixed = text.clone();
        for (a, b) in &h.fixes {
            assert!(
                fixed.contains(a.as_str()),
                "{rule}: fix `{a}` not in the file"
            );
            fixed = fixed.replace(a.as_str(), b);
        }
        let t = netloom::spec::parse_str(&file, &fixed)
            .unwrap_or_else(|e| panic!("{rule} fixed: {e:?}"));
        let f = target::flow(&t, &file, &h.src, &h.dst, Probe::Icmp).unwrap();
        let e = explain::explain_static(&t, &file, &f);
        assert!(
            e.ok(),
            "{rule}: the fix does not deliver:\n{}",
            explain::render::explanation(&e, "  ")
        );
    }
    (h, topo, flow, file)
}

fn check(rule: &str) {
    let (h, topo, flow, file) = statically(rule);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let engine = explain_util::engine(&topo);
        if h.wait {
            explain_util::up(&engine, &topo).await;
        } else {
            engine.up(&topo, netloom::engine::Options::default()).await.unwrap();
        }
        for (node, cmd) in &h.execs {
            let st = engine.exec(node, cmd).unwrap();
            assert!(st.success(), "{rule}: {node}: {cmd:?} failed");
        }
        for node in &h.gone {
            let ns = netloom::model::netns_name(&topo.network.name, node).unwrap();
            netloom::kernel::netns::delete(&ns).unwrap();
        }
        let applies = match &h.when {
            Some((node, key, want)) => {
                let ns = netloom::kernel::netns::open(&netloom::model::netns_name(&topo.network.name, node).unwrap())
                    .unwrap()
                    .unwrap();
                netloom::kernel::sysctl::read(&ns, key).unwrap().as_deref() == Some(want.as_str())
            }
            None => true,
        };
        let live = engine
            .explain(&topo, &file, std::slice::from_ref(&flow), ExplainOptions::default())
            .await
            .unwrap();
        let e = &live[0];
        let got = e.rule.as_ref().map(|r| r.id);
        if applies {
            assert!(!e.ok() && got == Some(rule), "{rule}: live says {} ({got:?}):\n{}", e.disposition, explain::render::explanation(e, "  "));
        } else {
            assert!(e.ok(), "{rule} does not apply on this kernel, yet live says {}:\n{}", e.disposition, explain::render::explanation(e, "  "));
        }
        let claim = Expectation {
            claim: Claim::Reach,
            from: Endpoint {
                node: flow.src.clone(),
                iface: None,
            },
            to: Target::Addr(flow.dst),
            probe: Probe::Icmp,
            count: 1,
            timeout_ms: u32::try_from(Duration::from_millis(500).as_millis()).unwrap(),
            text: format!("{} -> {}", flow.src, flow.dst),
        };
        let net = topo.network.clone();
        let o = tokio::task::spawn_blocking(move || netloom::verify::judge(&net, &[claim])).await.unwrap();
        assert_eq!(o[0].ok, e.ok(), "{rule}: explain says {}, a probe: {}", e.disposition, o[0].reason);
        if applies {
            let who = if h.live_only { "live names it (the file cannot say it)" } else { "static and live name it" };
            explain_util::tell(&format!("{rule}: {who}; a probe agrees ({})", o[0].reason));
        } else {
            explain_util::tell(&format!("{rule}: does not apply on this kernel; explain says delivered and a probe agrees ({})", o[0].reason));
        }
    });
}

macro_rules! host {
    ($($name:ident => $rule:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            netloom::sandboxed!(concat!("explain_rules::", stringify!($name)));
            check($rule);
        }
    )*};
}

macro_rules! vm {
    ($($name:ident => $rule:expr, $why:expr);* $(;)?) => {$(
        #[test]
        #[ignore = $why]
        fn $name() {
            netloom::sandboxed!(concat!("explain_rules::", stringify!($name)));
            check($rule);
        }
    )*};
}

/// In a module so `vm/test.sh explain` selects these tests.
mod explain_rules {
    use super::check;

    host! {
        l3_no_route => "l3.no_route",
        l3_no_return => "l3.no_return",
        l3_forwarding_off => "l3.forwarding_off",
        l3_rp_filter => "l3.rp_filter",
        l3_martian_source => "l3.martian_source",
        l3_loop => "l3.loop",
        l3_not_ready => "l3.not_ready",
        neigh_unanswered => "neigh.unanswered",
        neigh_arp_ignore => "neigh.arp_ignore",
        link_admin_down => "link.admin_down",
        veth_peer_down => "veth.peer_down",
        tun_no_reader => "tun.no_reader",
        bridge_port_disabled => "bridge.port_disabled",
        bridge_isolated => "bridge.isolated",
        bridge_unknown_unicast => "bridge.unknown_unicast",
        bridge_stp_settling => "bridge.stp_settling",
        bridge_hairpin => "bridge.hairpin",
        macvlan_private => "macvlan.private",
        macvlan_vepa => "macvlan.vepa",
        macvlan_mixed_modes => "macvlan.mixed_modes",
        macvlan_source => "macvlan.source",
        macvlan_lower => "macvlan.lower",
        vxlan_vni_mismatch => "vxlan.vni_mismatch",
        vxlan_dstport_mismatch => "vxlan.dstport_mismatch",
        vxlan_no_underlay => "vxlan.no_underlay",
        nft_drop => "nft.drop",
        nft_br_netfilter => "nft.br_netfilter",
        nat_masquerade_out => "nat.masquerade_out",
        ifb_discard => "ifb.discard",
        bridge_static_entry => "bridge.static_entry",
        vxlan_static_entry => "vxlan.static_entry",
    }

    vm! {
        vlan_id_mismatch => "vlan.id_mismatch", "needs a kernel with 8021q: runs in the VM";
        bridge_vlan_ingress => "bridge.vlan_ingress", "needs a kernel with bridge vlan filtering: runs in the VM";
        bridge_vlan_egress => "bridge.vlan_egress", "needs a kernel with bridge vlan filtering: runs in the VM";
        ipvlan_private => "ipvlan.private", "needs a kernel with ipvlan: runs in the VM";
        ipvlan_vepa => "ipvlan.vepa", "needs a kernel with ipvlan: runs in the VM";
        ipvlan_l3_noarp => "ipvlan.l3_noarp", "needs a kernel with ipvlan: runs in the VM";
        ipvlan_master => "ipvlan.master", "needs a kernel with ipvlan: runs in the VM";
        bond_no_port => "bond.no_port", "needs a kernel with bonding: runs in the VM";
        bond_inactive_port => "bond.inactive_port", "needs a kernel with bonding: runs in the VM";
        dummy_discard => "dummy.discard", "needs a kernel with dummy: runs in the VM";
    }
}

/// Every rule of the catalogue has its mutation file, or is listed here
/// with the reason it cannot have one.
#[test]
fn every_rule_has_a_mutation_file() {
    const WITHOUT: &[(&str, &str)] = &[
        ("external.outside", "an external device leads outside the sandbox: nothing there to probe"),
        ("vxlan.no_remote", "validation refuses a vxlan without remote, group or remotes"),
        ("l3.no_source", "a node without any address cannot be the source of a probe"),
        ("vrf.device_route", "explain stops where the VRF driver routes a second time, so it names no verdict a probe could refute"),
        ("bridge.stp_blocking", "STP blocks only redundant links, so no flow depends on a blocking port; with STP off the kernel puts a port set blocking back to forwarding (br_port_state_selection)"),
    ];
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/explain");
    let mut missing = Vec::new();
    for r in explain::rules::all() {
        let has = root.join(format!("{}.yaml", r.id)).exists();
        let excused = WITHOUT.iter().any(|(id, _)| *id == r.id);
        if !has && !excused {
            missing.push(r.id);
        }
    }
    assert!(
        missing.is_empty(),
        "rules without a mutation file: {missing:?}"
    );
}

/// docs/explain.md lists every rule with its kernel function.
#[test]
fn every_rule_is_documented() {
    // Built in: the VM's copy of the tree has no docs/.
    let doc = include_str!("../docs/explain.md");
    for r in explain::rules::all() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", r.id)))
            .unwrap_or_else(|| panic!("docs/explain.md has no row for {}", r.id));
        assert!(
            row.contains(&r.kernel.replace('|', "\\|")),
            "{}: the row names another kernel function: {row}",
            r.id
        );
        assert!(row.contains(r.disposition.word()), "{}: {row}", r.id);
    }
}

/// The static half of every mutation file, those the VM runs included.
#[test]
fn every_mutation_file_names_its_rule_from_the_file_alone() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/explain");
    let mut n = 0;
    for e in std::fs::read_dir(root).unwrap() {
        let p = e.unwrap().path();
        let Some(rule) = p
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_suffix(".yaml"))
        else {
            continue;
        };
        statically(rule);
        n += 1;
    }
    assert!(n >= 30, "only {n} mutation files");
}
