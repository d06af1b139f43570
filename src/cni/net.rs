//! The devices a CNI network shares between its attachments (its bridge,
//! or the VLAN device a macvlan/ipvlan sits on) form a netloom topology of
//! their own, `cni-<network>` (see `state::network_topology`), brought up
//! by the engine like any file's: the first ADD makes them, `netloom down
//! --name cni-<network>` removes them, and netloom never touches them
//! from another topology. An ADD finding them in place only looks them up.
use ipnet::IpNet;

use super::conf::{Attach, NetConf};
use super::error::{CniError, INVALID_CONFIG, KERNEL, TRY_AGAIN_LATER};
use super::state::digest;
use crate::engine::{Engine, EngineError, Options};
use crate::kernel::{observe, Kernel};
use crate::model::{
    owner_mark, BridgeOptions, BridgeVlan, IfRef, Link, LinkKind, MacAddr, Network, Node,
    VlanOptions, HOST,
};
use crate::spec::Topology;
use crate::state::{StateError, Store};

/// The name of the VLAN device carrying tag `id` on `lower`: `lower.id`
/// when that fits IFNAMSIZ, else `nlv<id>-` and a digest of the lower.
pub fn vlan_name(lower: &str, id: u16) -> String {
    let plain = format!("{lower}.{id}");
    if plain.len() <= 15 {
        plain
    } else {
        format!("nlv{id}-{}", &digest(&[lower])[..6])
    }
}

/// The MAC of a network's bridge: locally administered, unicast, from a
/// digest of the network's name (stable across netloom versions).
pub fn bridge_mac(net: &str) -> MacAddr {
    let d = digest(&["bridge", net]);
    let byte = |i: usize| u8::from_str_radix(&d[2 * i..2 * i + 2], 16).unwrap_or(0);
    MacAddr([0x02, byte(0), byte(1), byte(2), byte(3), byte(4)])
}

/// The host device an attachment's macvlan/ipvlan sits on: the lower, or
/// the VLAN device on it.
pub fn lower_of(conf: &NetConf) -> Option<String> {
    match &conf.attach {
        Some(Attach::Macvlan { lower, .. } | Attach::Ipvlan { lower, .. }) => {
            Some(match conf.vlan {
                Some(id) => vlan_name(lower, id),
                None => lower.clone(),
            })
        }
        _ => None,
    }
}

/// The network topology's desired state: in the host, the bridge (up,
/// holding `gateways` when it is the gateway; VLAN filtering with the tag
/// as the bridge's own PVID when tagged), or a macvlan/ipvlan lower's VLAN
/// device on the external lower. `None` when the network shares nothing
/// netloom makes (an external bridge, an untagged lower).
pub fn desired(conf: &NetConf, topo: &str, gateways: &[IpNet]) -> Option<Network> {
    let mut host = Node::default();
    match conf.attach.as_ref()? {
        Attach::Bridge(b) if b.external => return None,
        Attach::Bridge(b) => {
            let mut o = BridgeOptions {
                stp: Some(b.stp),
                ..BridgeOptions::default()
            };
            if let Some(id) = conf.vlan {
                // Only the tag: no default VLAN 1 joining every port.
                o.vlan_filtering = Some(true);
                o.default_pvid = Some(0);
                o.vlans = vec![BridgeVlan {
                    vid: id,
                    pvid: true,
                    untagged: true,
                }];
            }
            let mut l = Link::new(b.name.clone(), LinkKind::Bridge(o));
            l.up = Some(true);
            // A MAC of its own: without one a bridge takes its lowest
            // port's (br_stp_recalculate_bridge_id), so removing that
            // container's port changes the gateway's MAC under every other
            // container's ARP cache, and they lose the gateway for seconds.
            // An address set by hand stays (NET_ADDR_SET, br_set_mac_address).
            l.mac = Some(bridge_mac(&conf.name));
            if b.gateway {
                l.addresses = gateways
                    .iter()
                    .map(|net| crate::model::Address {
                        net: *net,
                        dad: false,
                        secondary: false,
                    })
                    .collect();
            }
            host.links.insert(b.name.clone(), l);
        }
        Attach::Macvlan { lower, .. } | Attach::Ipvlan { lower, .. } => {
            let id = conf.vlan?;
            host.links
                .insert(lower.clone(), Link::new(lower.clone(), LinkKind::External));
            let name = vlan_name(lower, id);
            let mut l = Link::new(
                name.clone(),
                LinkKind::Vlan(VlanOptions {
                    lower: Some(IfRef {
                        node: HOST.into(),
                        name: lower.clone(),
                    }),
                    id,
                    ..VlanOptions::default()
                }),
            );
            l.up = Some(true);
            host.links.insert(name, l);
        }
    }
    Some(Network {
        name: topo.to_string(),
        nodes: [(HOST.to_string(), host)].into_iter().collect(),
    })
}

/// Make sure the network's shared devices are in place: looked up by name
/// (no dump of the host's links) and, when one is missing, not netloom's
/// or down, brought up through the engine.
pub async fn ensure(k: &Kernel, want: &Network, store: &Store) -> Result<(), CniError> {
    let mark = owner_mark(&want.name);
    let mut fine = true;
    for l in want.nodes.get(HOST).iter().flat_map(|n| n.links.values()) {
        let have = observe::link_named(k, HOST, &l.name)
            .await
            .map_err(kernel)?;
        fine &= match (&l.kind, have) {
            (_, None) => false,
            (LinkKind::External, Some(_)) => true,
            (_, Some(h)) => h.alias.as_deref() == Some(mark.as_str()) && h.up == Some(true),
        };
    }
    if fine {
        return Ok(());
    }
    let engine = Engine::new(&want.name, store.clone()).map_err(engine_error)?;
    let topo = Topology {
        network: want.clone(),
        expect: Vec::new(),
        locations: Default::default(),
    };
    engine
        .up(&topo, Options::default())
        .await
        .map(drop)
        .map_err(engine_error)
}

/// A kernel error as a CNI error.
pub fn kernel(e: crate::kernel::KernelError) -> CniError {
    CniError::new(KERNEL, "the kernel refused").with(e.to_string())
}

/// An engine error as a CNI error: another netloom holding the lock is a
/// transient condition; a device in the way is the configuration's.
fn engine_error(e: EngineError) -> CniError {
    match e {
        EngineError::State(StateError::Locked { holder }) => {
            CniError::new(TRY_AGAIN_LATER, "another netloom is changing the machine").with(holder)
        }
        EngineError::Conflicts { .. } => {
            CniError::new(INVALID_CONFIG, "the network's devices cannot be made")
                .with(e.to_string())
        }
        other => {
            CniError::new(KERNEL, "the network's devices cannot be made").with(other.to_string())
        }
    }
}
