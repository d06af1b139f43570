//! What a plan needs from the kernel before it runs: the device kinds it
//! creates and the features it turns on (tried by `kernel::support`).
use std::collections::BTreeSet;

use crate::model::{LinkKind, Need, Op, Plan};

/// What `plan` needs: each kind it creates (veth peers included), bridge
/// VLAN filtering when turned on, teamd when a team is made or restarted.
pub fn needs(plan: &Plan) -> BTreeSet<Need> {
    let mut out = BTreeSet::new();
    let kind = |k: &LinkKind, out: &mut BTreeSet<Need>| {
        if let Some(word) = k.kernel_kind() {
            if !matches!(k, LinkKind::Other(_)) {
                out.insert(Need::Kind(word.to_string()));
            }
        }
        if let LinkKind::Bridge(b) = k {
            if b.vlan_filtering == Some(true) {
                out.insert(Need::BridgeVlanFiltering);
            }
        }
    };
    for s in &plan.steps {
        match &s.op {
            Op::AddLink { link, .. } => kind(&link.kind, &mut out),
            Op::SetLink { change, .. } => {
                if let Some(LinkKind::Bridge(b)) = &change.kind {
                    if b.vlan_filtering == Some(true) {
                        out.insert(Need::BridgeVlanFiltering);
                    }
                }
            }
            Op::StartTeamd { .. } => {
                out.insert(Need::Teamd);
            }
            Op::StartService {
                setup: crate::model::ServiceSetup::Dnsmasq(_),
                ..
            } => {
                out.insert(Need::Dnsmasq);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BridgeOptions, Link, Step, TeamdSetup};

    fn step(op: Op) -> Step {
        Step { op, after: vec![] }
    }

    #[test]
    fn needs_lists_created_kinds_vlan_filtering_and_teamd_only() {
        let veth = Link::veth("v0", "b", "v1");
        let br = Link::new(
            "br0",
            LinkKind::Bridge(BridgeOptions {
                vlan_filtering: Some(true),
                ..BridgeOptions::default()
            }),
        );
        let plan = Plan {
            steps: vec![
                step(Op::AddNetns { node: "a".into() }),
                step(Op::AddLink {
                    node: "a".into(),
                    link: veth,
                    peer: None,
                }),
                step(Op::AddLink {
                    node: "a".into(),
                    link: br,
                    peer: None,
                }),
                step(Op::StartTeamd {
                    node: "a".into(),
                    dev: "team0".into(),
                    setup: TeamdSetup::default(),
                    prior: None,
                }),
                step(Op::DelLink {
                    node: "a".into(),
                    name: "bond0".into(),
                }),
            ],
        };
        let got: Vec<Need> = needs(&plan).into_iter().collect();
        assert_eq!(
            got,
            vec![
                Need::Kind("bridge".into()),
                Need::Kind("veth".into()),
                Need::BridgeVlanFiltering,
                Need::Teamd
            ]
        );
        assert!(needs(&Plan::default()).is_empty());
    }
}
