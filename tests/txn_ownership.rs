//! Ownership under attack: objects that carry the names the file uses but
//! that netloom did not create are never modified or deleted. `up` names
//! each of them and stops before touching anything; `down` leaves them be.
#[path = "support/common/mod.rs"]
mod common;
#[path = "support/txn_support/mod.rs"]
mod txn_support;

use common::Lab;
use txn_support::{diff, dump_until, settled_dump, topology};

#[test]
fn foreign_objects_with_our_names_are_never_touched() {
    let lab = Lab::from_text("own.yaml", &topology("own", 2));
    // Someone else's: a host interface named like the uplink, a namespace
    // named like node c1's, and a host nft table named like netloom's.
    let r = lab.sh("set -e
         ip link add up0 mtu 1500 type veth peer name fx0
         ip addr add 192.0.2.1/24 dev up0
         ip link set up0 up
         ip netns add netloom-own.c1
         ip -n netloom-own.c1 link set lo up
         nft add table inet netloom-own
         nft add chain inet netloom-own keep '{ type filter hook forward priority 0; }'");
    assert_eq!(r.code, 0, "{}", r.text());
    let before = settled_dump(&lab);

    let up = lab.verb("up", &[]);
    assert_eq!(up.code, 1, "{}", up.text());
    for needle in [
        "host/up0",
        "netns netloom-own.c1",
        "nft table inet netloom-own in host",
        "did not create",
    ] {
        assert!(
            up.err.contains(needle),
            "up does not name `{needle}`:\n{}",
            up.text()
        );
    }
    let after = dump_until(&lab, &before);
    assert!(
        after == before,
        "up touched foreign objects:\n{}",
        diff(&before, &after)
    );

    // `down`, by file and by name, owns nothing here.
    for args in [
        vec!["down", lab.file.to_str().unwrap()],
        vec!["down", "--name", "own"],
    ] {
        let r = lab.netloom(&args);
        assert_eq!(r.code, 0, "{args:?}:\n{}", r.text());
        let after = dump_until(&lab, &before);
        assert!(
            after == before,
            "{args:?} touched foreign objects:\n{}",
            diff(&before, &after)
        );
    }
}

#[test]
fn a_foreign_object_appearing_after_up_is_not_taken_over_or_deleted() {
    let lab = Lab::from_text("own.yaml", &topology("own", 2));
    lab.expect("up", &[], 0);
    // The file now wants a new uplink name that someone else already uses.
    let r = lab.sh("ip link add up9 type veth peer name fx9 && nft add table inet other");
    assert_eq!(r.code, 0, "{}", r.text());
    let text = std::fs::read_to_string(&lab.file)
        .unwrap()
        .replace("up0", "up9");
    std::fs::write(&lab.file, text).unwrap();
    let before = settled_dump(&lab);
    let up = lab.verb("up", &[]);
    assert_eq!(up.code, 1, "{}", up.text());
    assert!(up.err.contains("host/up9"), "{}", up.text());
    let after = dump_until(&lab, &before);
    assert!(
        after == before,
        "refused up changed the machine:\n{}",
        diff(&before, &after)
    );
    lab.expect("down", &[], 0);
    // Ours is gone, theirs stays.
    let r = lab
        .sh("ls -A /run/netns; ip -o link show | grep -v ': lo:' | cut -d: -f2; nft list tables");
    let left: Vec<&str> = r.out.split_whitespace().collect();
    assert!(
        left.contains(&"up9@fx9") && left.contains(&"fx9@up9") && left.contains(&"other"),
        "foreign objects were removed:\n{}",
        r.out
    );
    assert!(
        !r.out.contains("netloom-own") && !r.out.contains("br0") && !r.out.contains("up0"),
        "netloom objects left:\n{}",
        r.out
    );
}
