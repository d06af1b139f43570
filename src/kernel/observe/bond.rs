//! Bonds' ports as the bond uses them now: which one is active
//! (IFLA_BOND_SLAVE_STATE), for `graph --live` and `status`.
use std::collections::BTreeMap;

use rtnetlink::packet_route::link::{
    BondPortState, InfoBondPort, InfoPortData, LinkAttribute, LinkInfo,
};
use rtnetlink::packet_route::RouteNetlinkMessage;

use crate::kernel::rtnl::Rtnl;
use crate::kernel::{netns, Kernel, KernelError};

/// Each bond port of `node` and whether the bond uses it now
/// (IFLA_BOND_SLAVE_STATE: active or backup).
pub async fn bond_ports(k: &Kernel, node: &str) -> Result<BTreeMap<String, bool>, KernelError> {
    let Some(ns) = k.netns_of(node)? else {
        return Ok(BTreeMap::new());
    };
    let object = format!("node {node}");
    let read = tokio::task::spawn_blocking(move || {
        netns::run_in(&ns, || {
            let mut rtnl = Rtnl::open().map_err(|e| KernelError::io(object.clone(), e))?;
            let mut out = BTreeMap::new();
            rtnl.dump_each(super::link_request, &object, "dump links", |m| {
                if let RouteNetlinkMessage::NewLink(m) = m {
                    if let Some((name, active)) = bond_port(&m.attributes) {
                        out.insert(name, active);
                    }
                }
            })?;
            Ok::<_, KernelError>(out)
        })?
    })
    .await
    .map_err(|_| KernelError::Thread {
        object: format!("bond ports of {node}"),
    })??;
    Ok(read)
}

/// A bond port's name and whether it is active, from a link answer.
fn bond_port(attrs: &[LinkAttribute]) -> Option<(String, bool)> {
    let mut name = None;
    let mut state = None;
    for a in attrs {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::PortData(InfoPortData::BondPort(p)) = i {
                        state = p.iter().find_map(|x| match x {
                            InfoBondPort::BondPortState(s) => Some(*s == BondPortState::Active),
                            _ => None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Some((name?, state?))
}
