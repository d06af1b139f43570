//! The ifb kind (examples/17-ifb.yaml) on this machine's kernel: made,
//! read back option by option, its address reached by traffic, changed in
//! place, removed without residue.
#[path = "support/common/mod.rs"]
mod common;

use common::{link, Lab};

#[test]
fn an_ifb_is_made_read_back_and_reached() {
    let lab = Lab::new("17-ifb.yaml");
    let edit = (
        "ifb0: { kind: ifb, mac:",
        "ifb0: { kind: ifb, mtu: 9000, mac:",
    );
    common::life_cycle(&lab, edit, "mtu 9000", |lab| {
        let l = link(lab, "a", "ifb0");
        assert_eq!(l["linkinfo"]["info_kind"], "ifb", "{l}");
        assert_eq!(l["address"], "02:17:00:00:00:01", "{l}");
        assert_eq!(l["mtu"], 1500, "{l}");
        assert!(
            l["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP")),
            "{l}"
        );
        let a = lab.exec("a", &["ip", "-j", "addr", "show", "dev", "ifb0"]);
        assert!(a.out.contains("10.17.9.1"), "{}", a.text());
        let p = lab.exec("b", &["ping", "-c", "1", "-W", "2", "10.17.9.1"]);
        assert_eq!(p.code, 0, "{}", p.text());
    });
}
