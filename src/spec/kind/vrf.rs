//! vrf: `kind: vrf` with its routing `table`; ports join it with `ports:`.
use std::collections::BTreeMap;

use super::{KindSpec, PortSpec};
use crate::model::vrf::VrfOptions;
use crate::model::{LinkKind, Node};
use crate::spec::decode::{Ctx, Fields};
use crate::spec::emit::Out;

/// VRF fields.
pub const FIELDS: &[&str] = &["table"];

/// The vrf kind in the file.
pub const SPEC: KindSpec = KindSpec {
    word: "vrf",
    fields: FIELDS,
    decode: |cx, f, _, _| LinkKind::Vrf(decode(cx, f)),
    mtu: (
        (1280, 65575),
        "a vrf's MTU is 1280..=65575, IPV6_MIN_MTU..=IP6_MAX_MTU (vrf_setup)",
    ),
    ports: Some(PortSpec {
        fields: &[],
        decode: |_, _| None,
        encode: |_| Vec::new(),
    }),
    check: Some(check),
    encode: |kind, _| match kind {
        LinkKind::Vrf(o) => vec![("table".into(), Out::of(o.table))],
        _ => Vec::new(),
    },
};

/// Decodes vrf options: `table` is required and not 0 (vrf_newlink: "VRF
/// table id is missing", "Invalid VRF table id").
pub fn decode(cx: &mut Ctx, f: &Fields) -> VrfOptions {
    let table = f.need(cx, "table").and_then(|_| {
        f.kernel_range(
            cx,
            "table",
            (1, u64::from(u32::MAX)),
            "a vrf's table is any routing table id but 0 (vrf_newlink: \"Invalid VRF table id\")",
        )
    });
    VrfOptions {
        table: table.and_then(|t| u32::try_from(t).ok()).unwrap_or(1),
    }
}

/// A vrf cannot be a port of a vrf (vrf_add_slave refuses an L3 master:
/// EINVAL).
pub fn check(cx: &mut Ctx, nodes: &BTreeMap<String, Node>) {
    for (node, n) in nodes {
        for (name, l) in &n.links {
            let Some(m) = l.master.as_deref().and_then(|m| n.links.get(m)) else {
                continue;
            };
            if matches!(l.kind, LinkKind::Vrf(_)) && matches!(m.kind, LinkKind::Vrf(_)) {
                let me = format!("{node}/{name}");
                let at = cx.loc(&format!("{me}#master"), &me);
                cx.err(
                    at,
                    format!("vrf `{me}` cannot be a port of vrf `{}`", m.name),
                    Some("the kernel refuses an L3 domain inside another (vrf_add_slave: EINVAL): take it out of `ports`".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::kind::test_util::{decode, file_errors};

    #[test]
    fn a_vrf_needs_a_table_other_than_0() {
        let (k, e) = decode("vrf", "{ table: 10 }");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            k,
            crate::model::LinkKind::Vrf(crate::model::vrf::VrfOptions { table: 10 })
        );
        let (_, e) = decode("vrf", "{}");
        assert!(e[0].contains("table"), "{e:?}");
        let (_, e) = decode("vrf", "{ table: 0 }");
        assert!(e[0].contains("0"), "{e:?}");
    }

    /// The kernel refuses an L3 domain inside another (vrf_add_slave: EINVAL).
    #[test]
    fn a_vrf_in_a_vrf_is_refused() {
        let e = file_errors(&[
            "red: { kind: vrf, table: 10, ports: [blue] }",
            "blue: { kind: vrf, table: 20 }",
        ]);
        assert!(
            e.iter().any(|m| m.contains("cannot be a port of vrf")),
            "{e:?}"
        );
    }
}
