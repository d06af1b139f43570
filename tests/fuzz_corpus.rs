//! The fuzz corpus (fuzz/corpus/parse_validate) replayed as ordinary tests,
//! and property tests over random valid and invalid documents: parsing never
//! panics, and every rejection carries errors located inside the text.
#[path = "support/common/mod.rs"]
mod common;

use proptest::prelude::*;

/// Parse `text`; on rejection insist every error points inside it. Returns
/// whether the text was accepted.
fn check(name: &str, text: &str) -> Result<bool, String> {
    match netloom::spec::parse_str("doc.yaml", text) {
        Ok(_) => Ok(true),
        Err(e) => {
            if e.errors.is_empty() {
                return Err(format!("{name}: rejected without an error"));
            }
            let lines = text.split('\n').count();
            for err in &e.errors {
                let at = err.at;
                if at.line < 1
                    || at.line > lines
                    || at.column < 1
                    || at.offset > text.len()
                    || at.offset + at.len > text.len()
                {
                    return Err(format!(
                        "{name}: error `{}` at {at:?} is outside the text ({} bytes, {lines} lines)",
                        err.message,
                        text.len()
                    ));
                }
            }
            Ok(false)
        }
    }
}

#[test]
fn fuzz_corpus_replays_without_panic_and_every_rejection_is_located() {
    let dir = common::root().join("fuzz/corpus/parse_validate");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 100, "only {} corpus files", files.len());
    let (mut accepted, mut rejected) = (0, 0);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        // Like the fuzz target: bytes that are not UTF-8 never reach the parser.
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let name = f.display().to_string();
        let outcome = std::panic::catch_unwind(|| check(&name, text))
            .unwrap_or_else(|_| Err(format!("{name}: parse_str panicked")));
        match outcome {
            Ok(true) => accepted += 1,
            Ok(false) => rejected += 1,
            Err(m) => panic!("{m}"),
        }
    }
    // The corpus holds both kinds: the examples parse, the invalid files do not.
    assert!(
        accepted >= 10 && rejected >= 60,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn alias_bombs_and_absurd_sizes_are_refused_before_any_work() {
    let dir = common::root().join("fuzz/corpus/parse_validate");
    for (file, says) in [
        ("alias-bomb", "anchors and aliases"),
        ("merge-key", "anchors and aliases"),
        ("many-nodes", "at most"),
        ("deep-flow", "recursion limit"),
        ("path-topo", "name"),
        ("path-node", "node name"),
        ("path-iface", "interface name"),
        ("long-iface", "at most 15"),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let e = netloom::spec::parse_str(file, &text).expect_err(file);
        assert!(
            e.errors.iter().any(|x| x.message.contains(says)),
            "{file}: no error says `{says}`: {:#?}",
            e.errors
        );
    }
}

/// A node name: valid (`[a-z0-9][a-z0-9_-]{0,31}`) or not.
fn node_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9][a-z0-9_-]{0,12}",
        1 => "[A-Za-z0-9_./ -]{0,40}",
    ]
}

/// An interface name: valid (<= 15 bytes, no `/`, `:`, whitespace) or not.
fn iface_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z][a-z0-9_.-]{0,10}",
        1 => "[a-z0-9/:. ]{0,20}",
    ]
}

/// The node-name rule of docs/format.md, written out independently.
fn node_ok(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn iface_ok(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 15
        && n != "."
        && n != ".."
        && !n.contains(['/', ':'])
        && !n.chars().any(char::is_whitespace)
}

/// YAML-quote a string so that any text stays one scalar.
fn q(s: &str) -> String {
    format!("{s:?}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random documents of nodes with addressed interfaces: refused (located)
    /// when a name breaks the rules, accepted when all follow them.
    #[test]
    fn random_documents_are_accepted_iff_their_names_are_valid(
        nodes in proptest::collection::btree_map(node_name(), proptest::collection::btree_set(iface_name(), 0..4), 1..5),
        mtu in proptest::option::of(0u32..70000),
    ) {
        let mut doc = String::from("name: lab\nnodes:\n");
        let mut valid = true;
        let mut net = 0;
        for (n, ifaces) in &nodes {
            valid &= node_ok(n);
            doc += &format!("  {}:\n    interfaces:\n", q(n));
            if ifaces.is_empty() {
                doc += "      {}\n";
            }
            for i in ifaces {
                valid &= iface_ok(i) && i != "lo";
                net += 1;
                let m = mtu.map(|m| format!(", mtu: {m}")).unwrap_or_default();
                doc += &format!("      {}: {{ kind: bridge, addresses: [10.{net}.0.1/24]{m} }}\n", q(i));
            }
        }
        let accepted = check("doc", &doc).map_err(TestCaseError::fail)?;
        if !valid {
            prop_assert!(!accepted, "accepted an invalid document:\n{}", doc);
        } else if mtu.is_none() {
            prop_assert!(accepted, "refused a valid document:\n{}", doc);
        }
        // With an MTU the oracle does not model the bounds: either way is fine,
        // a rejection located (checked above).
    }

    /// Mutations of a valid document (bytes cut, duplicated or inserted):
    /// never a panic, every rejection located.
    #[test]
    fn mutated_documents_never_panic_and_rejections_are_located(
        n in 1usize..4,
        cuts in proptest::collection::vec((0usize..2000, 0usize..6, "[a-z0-9:/{}\\[\\],&*!|>'\"# \n\t.-]{0,4}"), 1..4),
    ) {
        let mut doc = base(n);
        for (pos, len, with) in cuts {
            let pos = pos % (doc.len() + 1);
            let end = (pos + len).min(doc.len());
            if doc.is_char_boundary(pos) && doc.is_char_boundary(end) {
                doc.replace_range(pos..end, &with);
            }
        }
        check("mutant", &doc).map_err(TestCaseError::fail)?;
    }
}

/// A valid document with `n` containers on a bridge.
fn base(n: usize) -> String {
    let mut t = String::from("name: lab\nnodes:\n  gw:\n    forwarding: true\n    interfaces:\n      br0: { kind: bridge, addresses: [10.0.0.1/24], ports: [");
    t += &(1..=n)
        .map(|i| format!("v{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    t += "] }\n";
    for i in 1..=n {
        t += &format!("      v{i}: {{}}\n");
    }
    for i in 1..=n {
        t += &format!("  c{i}:\n    interfaces:\n      eth0: {{ addresses: [10.0.0.{}/24] }}\n    routes:\n      - {{ to: default, via: 10.0.0.1 }}\n", i + 1);
    }
    t += "links:\n";
    for i in 1..=n {
        t += &format!("  - [gw/v{i}, c{i}/eth0]\n");
    }
    t
}

#[test]
fn the_base_document_is_valid() {
    for n in 1..4 {
        assert_eq!(check("base", &base(n)), Ok(true), "{}", base(n));
    }
}
