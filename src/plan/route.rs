//! Routes: observed routes come back with `dev` and `metric` filled in, so a
//! desired route matches an observed one when destination, gateway and table
//! agree and the desired dev/metric are unset or equal.
use ipnet::IpNet;

use super::effect::{iref, Ctx};
use super::graph::{Key, Pending, Phase};
use crate::model::Op;
use crate::model::{Node, Route, HOST};

/// The local table, filled by the kernel for every address.
const LOCAL: u32 = 255;

/// True when observed route `have` satisfies desired route `want`. A route
/// without `metric` has the kernel's: 0 for IPv4, 1024 for IPv6, which is
/// also what IPv6 makes of 0 (ip6_route_info_create: IP6_RT_PRIO_USER).
pub(crate) fn matches(want: &Route, have: &Route) -> bool {
    want.to == have.to
        && want.via == have.via
        && want.table_id() == have.table_id()
        && want
            .dev
            .as_ref()
            .is_none_or(|d| have.dev.as_ref() == Some(d))
        && metric(want) == metric(have)
        && want.src.is_none_or(|s| have.src == Some(s))
}

/// The metric the kernel gives a route.
pub(crate) fn metric(r: &Route) -> u32 {
    match (r.to.addr().is_ipv6(), r.metric) {
        (true, None | Some(0)) => 1024,
        (_, m) => m.unwrap_or(0),
    }
}

/// Routes the kernel adds by itself (local table, IPv6 link-local and
/// multicast, prefix routes of addresses): never netloom's to remove.
pub fn kernel_made(node: &Node, r: &Route) -> bool {
    if r.table_id() == LOCAL {
        return true;
    }
    if let IpNet::V6(n) = r.to {
        let first = n.addr().segments()[0];
        if (first & 0xffc0) == 0xfe80 || (first & 0xff00) == 0xff00 {
            return true;
        }
    }
    r.via.is_none()
        && r.dev.as_ref().is_some_and(|d| {
            node.links
                .get(d)
                .is_some_and(|l| l.addresses.iter().any(|a| a.net.trunc() == r.to))
        })
}

/// True when an observed route in `node` is netloom's to manage.
pub(crate) fn ours(ctx: &Ctx, node: &str, have: &Node, r: &Route) -> bool {
    if kernel_made(have, r) {
        return false;
    }
    if node != HOST {
        return true;
    }
    r.dev
        .as_ref()
        .and_then(|d| have.links.get(d))
        .is_some_and(|l| ctx.ours(node, l))
}

/// DelRoute for our routes the file no longer lists; AddRoute for missing ones.
pub(crate) fn plan(ctx: &Ctx, out: &mut Vec<Pending>) {
    for node in ctx.kept_nodes() {
        let want = ctx.want(&node);
        let have = ctx.have(&node);
        for r in &have.routes {
            if ours(ctx, &node, have, r) && !want.routes.iter().any(|w| matches(w, r)) {
                let mut gives = vec![Key::RouteGone(node.clone(), r.to, r.table_id())];
                if let Some(d) = &r.dev {
                    gives.push(Key::Cleared(iref(&node, d)));
                }
                let op = Op::DelRoute {
                    node: node.clone(),
                    route: r.clone(),
                };
                out.push(Pending::new(Phase::DelRoute, op, vec![], gives));
            }
        }
        // Device routes first: a gateway may be on link only through one, and
        // the graph links a need only to ops pushed before it.
        let (device, gatewayed): (Vec<&Route>, Vec<&Route>) =
            want.routes.iter().partition(|r| r.via.is_none());
        for r in device.into_iter().chain(gatewayed) {
            if have.routes.iter().any(|h| matches(r, h)) {
                continue;
            }
            let op = Op::AddRoute {
                node: node.clone(),
                route: r.clone(),
            };
            let gives = match r.via {
                None => vec![Key::Route(node.clone(), r.to, r.table_id())],
                Some(_) => vec![],
            };
            out.push(Pending::new(
                Phase::AddRoute,
                op,
                needs(&node, want, r),
                gives,
            ));
        }
    }
}

/// A route needs its device up and, for a gateway, the address or device
/// route (main table or its own) whose prefix holds it.
fn needs(node: &str, want: &Node, r: &Route) -> Vec<Key> {
    let mut needs = vec![
        Key::Netns(node.to_string()),
        Key::RouteGone(node.to_string(), r.to, r.table_id()),
    ];
    // A gateway reached through a LIF's subnet is on link once its
    // watcher placed the LIF's address.
    if let Some(via) = r.via {
        for s in want.services.values() {
            if let crate::model::ServiceSetup::LifWatch(l) = &s.setup {
                if l.lifs.iter().any(|f| f.address.contains(&via)) {
                    needs.push(Key::Service(node.to_string(), s.setup.name()));
                }
            }
        }
    }
    if let Some(via) = r.via {
        for d in &want.routes {
            if d.puts_on_link(via, r.table_id()) {
                needs.push(Key::Route(node.to_string(), d.to, d.table_id()));
            }
        }
    }
    for (name, link) in &want.links {
        // A preferred source must be an address of the node when the route
        // is made (fib_valid_prefsrc), and one deleted takes the route along
        // (see plan::address): after its address.
        if let Some(a) = r
            .src
            .and_then(|s| link.addresses.iter().find(|a| a.net.addr() == s))
        {
            needs.push(Key::Addr(iref(node, name), a.net));
        }
        let on_dev = r.dev.as_deref() == Some(name.as_str());
        let gateway_net = r
            .via
            .and_then(|via| link.addresses.iter().find(|a| a.net.contains(&via)));
        if on_dev || (r.dev.is_none() && gateway_net.is_some()) {
            needs.push(Key::Link(iref(node, name)));
            needs.push(Key::Up(iref(node, name)));
        }
        if let Some(a) = gateway_net.filter(|_| on_dev || r.dev.is_none()) {
            needs.push(Key::Addr(iref(node, name), a.net));
            // The gateway must resolve to this link, not to an old one on its way out.
            needs.push(Key::AddrGone(node.to_string(), a.net));
        }
    }
    needs
}
