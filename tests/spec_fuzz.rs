//! parse_str never panics, whatever the input.
use proptest::prelude::*;

const SEED: &str = "name: lab
nodes:
  a:
    forwarding: true
    interfaces:
      br0: { kind: bridge, stp: true, ports: { v0: { cost: 5 } }, addresses: [10.0.0.1/24] }
      v0: {}
      mv0: { kind: macvlan, lower: b/eth0, mode: private }
      vx0: { kind: vxlan, vni: 7, remote: 10.0.0.2, dev: br0 }
      t0: { kind: team, runner: { name: lacp, tx_hash: [eth] }, link_watch: [{ name: arp_ping, target_host: 10.0.0.9 }] }
    routes:
      - { to: default, via: 10.0.0.254 }
    nat:
      - masquerade: { source: 10.0.0.0/24, out: br0 }
  b:
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
links:
  - [a/v0, b/eth0]
expect:
  - reach: a -> b
  - failover: { cut: a/v0, reach: a -> 10.0.0.2, within: 2s }
";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_text_never_panics(s in "[a-z0-9:/{}\\[\\],&*!|>'\" \n.-]{0,200}") {
        let _ = netloom::spec::parse_str("fuzz.yaml", &s);
    }

    #[test]
    fn mutated_topologies_never_panic(pos in 0usize..SEED.len(), len in 0usize..8, with in "[a-z0-9:/{}\\[\\], \n&*-]{0,6}") {
        let mut s = SEED.to_string();
        let end = (pos + len).min(s.len());
        s.replace_range(pos..end, &with);
        let _ = netloom::spec::parse_str("fuzz.yaml", &s);
    }
}

#[test]
fn the_seed_is_valid() {
    let t = netloom::spec::parse_str("seed.yaml", SEED);
    assert!(t.is_ok(), "{:#?}", t.err().map(|e| e.errors));
}

#[test]
fn huge_nesting_is_refused_without_overflow() {
    let s = "[".repeat(1 << 20);
    let e = netloom::spec::parse_str("deep.yaml", &s).unwrap_err();
    let m = &e.errors[0].message;
    assert!(
        m.contains("nesting") || m.contains("recursion limit"),
        "{m}"
    );
    let s = format!("a: {}", "{b: ".repeat(100_000));
    assert!(netloom::spec::parse_str("deep.yaml", &s).is_err());
}
