//! What the kernel does on its own: the side effects of each change netloom
//! asks for, stated once. The planner orders operations by them, the
//! journal derives undo from them, apply waits for those that come later,
//! and [`sim`] applies them to a [`Network`] as a model kernel (the tests'
//! kernel, checked against the real one by tests/effects_kernel.rs).
//!
//! Each fact is one function in the file of its subject, citing the kernel
//! function that does it: [`link`] (what vanishes with a link or a
//! namespace, ports a master releases, opens or closes), [`mtu`] (MTUs that
//! follow a lower's), [`address`] (what an address or a link going down
//! takes along), [`sysctl`] (keys tied to a link, writes that cascade),
//! [`fdb`] (forwarding database entries that go with their devices).
pub mod address;
pub mod fdb;
pub mod link;
pub mod mtu;
pub mod sim;
pub mod sysctl;

use crate::model::{Address, FdbEntry, IfRef, Network, Op, PortOptions, Route};

/// What the kernel does along with one op, besides the op's own change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Links that vanish (for a deleted link: not itself; for a deleted
    /// namespace: every link inside and those elsewhere that go with them).
    pub links: Vec<IfRef>,
    /// Addresses that vanish, on links that stay or go.
    pub addresses: Vec<(IfRef, Address)>,
    /// Routes that vanish, by node.
    pub routes: Vec<(String, Route)>,
    /// Static forwarding database entries that vanish, by node.
    pub fdb: Vec<(String, FdbEntry)>,
    /// Settings of other links the kernel changes along.
    pub follows: Vec<Follow>,
    /// What the kernel finishes only after the request returned.
    pub later: Vec<Later>,
}

/// A setting of a link the kernel changes along with an op.
#[derive(Debug, Clone, PartialEq)]
pub enum Follow {
    /// The link's MTU changes.
    Mtu {
        /// The link.
        link: IfRef,
        /// Its MTU before.
        from: Option<u32>,
        /// Its MTU after.
        to: u32,
    },
    /// The link is opened or closed (IFF_UP).
    Up {
        /// The link.
        link: IfRef,
        /// Its state before.
        from: Option<bool>,
        /// Its state after.
        to: bool,
    },
    /// The link is released from its master.
    Released {
        /// The port.
        link: IfRef,
        /// The master it had.
        master: String,
        /// Its options as a port of that master.
        port: Option<PortOptions>,
    },
}

/// Something the kernel completes after the request that caused it returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Later {
    /// A link in another namespace goes when the teardown of a deleted
    /// namespace reaches it (cleanup_net runs from a workqueue); `ifindex`
    /// tells it from a link made anew under the same name.
    Vanishes {
        /// The link.
        link: IfRef,
        /// Its ifindex, when known.
        ifindex: Option<u32>,
    },
    /// A bridge port starts forwarding once the linkwatch worker has seen
    /// its carrier (linkwatch_do_dev -> br_port_carrier_check).
    Forwards {
        /// The port.
        port: IfRef,
    },
}

impl Effects {
    /// True when the op changes nothing besides its own target.
    pub fn is_empty(&self) -> bool {
        self == &Effects::default()
    }

    /// True when link `r` vanishes.
    pub fn removes_link(&self, r: &IfRef) -> bool {
        self.links.contains(r)
    }
}

/// The side effects of `op` on the network as it is `before` the op.
pub fn of(op: &Op, before: &Network) -> Effects {
    let mut e = Effects::default();
    match op {
        Op::AddNetns { .. }
        | Op::AddLink { .. }
        | Op::AddAddress { .. }
        | Op::AddRoute { .. }
        | Op::DelRoute { .. }
        | Op::SetNat { .. }
        | Op::DelNat { .. }
        // What a service does to addresses and routes it does on its own
        // time; the read-back after apply sees it (see plan::dynamic).
        | Op::StartService { .. }
        | Op::StopService { .. }
        | Op::AddFdb { .. }
        | Op::DelFdb { .. } => {}
        Op::DelNetns { node } => link::netns_deleted(before, node, &mut e),
        Op::DelLink { node, name } => link::deleted(before, &iref(node, name), &mut e),
        Op::SetLink {
            node, name, change, ..
        } => {
            let me = iref(node, name);
            if let Some(mtu) = change.mtu {
                mtu::changed(before, &me, mtu, &mut e);
            }
            if let Some(master) = &change.master {
                link::master_changed(before, &me, master.as_deref(), &mut e);
            }
            if change.up == Some(false) {
                address::link_down(before, &me, &mut e);
            }
            if let Some(up) = change.up {
                link::state_changed(before, &me, up, &mut e);
            }
            if change.up == Some(true) || matches!(change.master, Some(Some(_))) {
                link::port_forwards_later(before, &me, change, &mut e);
            }
        }
        Op::DelAddress { node, link, addr } => {
            address::deleted(before, &iref(node, link), addr, &mut e)
        }
        Op::SetSysctl {
            node, key, value, ..
        } => sysctl::written(before, node, key, value, &mut e),
        Op::StartTeamd {
            node, dev, setup, ..
        } => link::teamd_started(before, &iref(node, dev), setup, &mut e),
        Op::StopTeamd { node, dev, .. } => link::teamd_stopped(before, &iref(node, dev), &mut e),
    }
    e
}

/// Shorthand for an interface reference.
pub(crate) fn iref(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.to_string(),
        name: name.to_string(),
    }
}
