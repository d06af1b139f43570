//! Resolving references into other namespaces: a link reports a peer or lower
//! device there as (IFLA_LINK_NETNSID, ifindex), where the nsid is this
//! namespace's private number for the other one.
//!
//! Asking every namespace for its nsid of every other one (RTM_GETNSID by
//! fd) costs N² requests: a million at 1000 containers. Instead the dumps
//! themselves say which namespaces can be meant: a veth end `a` in X whose
//! peer is (nsid s, ifindex b) is matched with the veth `b` of a dumped
//! namespace Y whose peer is (some nsid, ifindex a). One RTM_GETNSID per
//! (namespace, nsid) confirms a guess, and a confirmed pair settles the
//! other side for free: if X's nsid s is Y, then X's veth `a` has its peer
//! `b` in Y, and that veth's peer is `a` in X, so Y's nsid for it names X.
//! Guesses are asked where the fewest nsids live (a container has one, the
//! host as many as containers), so the scale topology needs one request per
//! container. What no veth can settle (macvlan lowers, a failed guess,
//! namespaces that were not dumped) falls back to asking the namespace for
//! its nsid of each topology namespace it has not mapped yet. For `down`,
//! which reads no container, host's nsids of every one are asked beside
//! the host's dumps, 32 per round trip ([`prefetch`]).
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::AsRawFd;
use std::sync::Arc;

use rtnetlink::packet_route::nsid::{NsidAttribute, NsidMessage};
use rtnetlink::packet_route::RouteNetlinkMessage;

use super::link::LinkRef;
use crate::kernel::rtnl::Rtnl;
use crate::kernel::{netns, KernelError, Locator, Netns};
use crate::model::{IfRef, HOST};

/// A link of a dumped namespace that points into another namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Remote {
    /// The link's own ifindex.
    pub own: u32,
    /// Whether it is a veth (whose peer points back, so it can be matched).
    pub veth: bool,
    /// IFLA_LINK and IFLA_LINK_NETNSID.
    pub ifindex: u32,
    /// The nsid (always set: references without one are local).
    pub nsid: i32,
}

/// A guess to confirm: namespace `of` (index into the sides) calls `target` `nsid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ask {
    /// The namespace holding the nsid.
    pub of: usize,
    /// Its nsid.
    pub nsid: i32,
    /// The namespace the nsid is believed to name.
    pub target: usize,
}

/// Veth ends with a remote peer, by (own ifindex, peer ifindex): (side, nsid).
type VethIndex = HashMap<(u32, u32), Vec<(usize, i32)>>;

/// The matching of veth ends across the dumped namespaces `sides`.
pub(super) struct Matcher<'a> {
    sides: &'a [Vec<Remote>],
    veths: VethIndex,
}

impl<'a> Matcher<'a> {
    /// Index the veth ends of every side.
    pub fn new(sides: &'a [Vec<Remote>]) -> Self {
        let mut veths: VethIndex = HashMap::new();
        for (i, side) in sides.iter().enumerate() {
            for r in side.iter().filter(|r| r.veth) {
                veths
                    .entry((r.own, r.ifindex))
                    .or_default()
                    .push((i, r.nsid));
            }
        }
        Matcher { sides, veths }
    }

    /// Namespaces that `of`'s nsid `nsid` can name: those holding, for every
    /// veth of `of` with that nsid, the matching peer end. Empty when no veth
    /// of `of` uses the nsid.
    fn candidates(&self, of: usize, nsid: i32) -> Vec<usize> {
        let mut out: Option<BTreeSet<usize>> = None;
        for r in self.sides[of].iter().filter(|r| r.veth && r.nsid == nsid) {
            let here: BTreeSet<usize> = self
                .veths
                .get(&(r.ifindex, r.own))
                .into_iter()
                .flatten()
                .map(|&(side, _)| side)
                .filter(|&side| side != of)
                .collect();
            out = Some(match out {
                None => here,
                Some(o) => o.intersection(&here).copied().collect(),
            });
        }
        out.map(|s| s.into_iter().collect()).unwrap_or_default()
    }

    /// The nsids of `target` that must name `of` once `of`'s `nsid` is known
    /// to name `target`: those of the peer ends of `of`'s veths with that nsid.
    pub fn implied(&self, of: usize, nsid: i32, target: usize) -> Vec<i32> {
        let mut out = BTreeSet::new();
        for r in self.sides[of].iter().filter(|r| r.veth && r.nsid == nsid) {
            if let Some(ends) = self.veths.get(&(r.ifindex, r.own)) {
                out.extend(ends.iter().filter(|e| e.0 == target).map(|e| e.1));
            }
        }
        out.into_iter().collect()
    }

    /// Every (side, nsid) that appears in the dumps.
    pub fn pairs(&self) -> BTreeSet<(usize, i32)> {
        self.sides
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.iter().map(move |r| (i, r.nsid)))
            .collect()
    }

    /// The guesses to confirm: one per (side, nsid) that a veth can settle,
    /// skipping those an earlier guess implies, sides with fewer nsids first.
    pub fn asks(&self) -> Vec<Ask> {
        let pairs = self.pairs();
        let mut count: HashMap<usize, usize> = HashMap::new();
        for (side, _) in &pairs {
            *count.entry(*side).or_default() += 1;
        }
        let mut order: Vec<(usize, i32)> = pairs.into_iter().collect();
        order.sort_by_key(|&(side, nsid)| (count[&side], side, nsid));
        let mut covered: BTreeSet<(usize, i32)> = BTreeSet::new();
        let mut out = Vec::new();
        for (of, nsid) in order {
            if covered.contains(&(of, nsid)) {
                continue;
            }
            let Some(&target) = self.candidates(of, nsid).first() else {
                continue;
            };
            covered.insert((of, nsid));
            for t in self.implied(of, nsid, target) {
                covered.insert((target, t));
            }
            out.push(Ask { of, nsid, target });
        }
        out
    }
}

/// The nsid namespace `of` (through its socket) has for namespace `target`
/// (`None`: not assigned, so no link of `of` can refer to `target`).
pub(super) fn nsid(
    of: &mut Rtnl,
    target: &Netns,
    object: &str,
) -> Result<Option<i32>, KernelError> {
    let answers = of.ask(nsid_request(target), object, "get nsid")?;
    Ok(nsid_in(answers))
}

/// [`nsid`] for each of `targets`, [`NSID_WINDOW`] per round trip.
fn nsids(
    of: &mut Rtnl,
    targets: &[Arc<Netns>],
    object: &str,
) -> Result<Vec<Option<i32>>, KernelError> {
    let asked = targets.iter().map(|t| nsid_request(t)).collect();
    of.ask_all(asked, NSID_WINDOW, object, "get nsid")?
        .into_iter()
        .map(|a| a.map(nsid_in))
        .collect()
}

/// RTM_GETNSID for namespace `target`, by fd.
fn nsid_request(target: &Netns) -> RouteNetlinkMessage {
    let mut msg = NsidMessage::default();
    // The fd is looked up in this process's table while the kernel handles
    // the request, and `target` keeps it open until then.
    msg.attributes = vec![NsidAttribute::Fd(target.fd().as_raw_fd() as u32)];
    RouteNetlinkMessage::GetNsId(msg)
}

/// The nsid in the answers to [`nsid_request`].
fn nsid_in(answers: Vec<RouteNetlinkMessage>) -> Option<i32> {
    let mut id = None;
    for m in answers {
        if let RouteNetlinkMessage::NewNsId(n) = m {
            for a in n.attributes {
                if let NsidAttribute::Id(i) = a {
                    id = (i >= 0).then_some(i);
                }
            }
        }
    }
    id
}

/// For each namespace of `of`, its nsids of the `targets` nodes (those it
/// has one for). For nodes that are only located, not dumped, whose veths
/// cannot be matched (see [`resolve`]).
pub(super) fn prefetch(
    of: &[&Netns],
    targets: &[(String, Arc<Netns>)],
) -> Result<Vec<BTreeMap<i32, String>>, KernelError> {
    let nss: Vec<Arc<Netns>> = targets.iter().map(|(_, ns)| ns.clone()).collect();
    let mut out = Vec::with_capacity(of.len());
    for ns in of {
        let mut rtnl =
            netns::run_in(ns, Rtnl::open)?.map_err(|e| KernelError::io(ns.label(), e))?;
        let ids = nsids(&mut rtnl, &nss, &ns.label())?;
        out.push(
            targets
                .iter()
                .zip(ids)
                .filter_map(|((node, _), id)| Some((id?, node.clone())))
                .collect(),
        );
    }
    Ok(out)
}

/// How many RTM_GETNSID go in one round trip at most: each answer and its
/// ACK take some 1.6 KiB of the socket's receive buffer (208 KiB by
/// default), so 32 leave room on a machine with a smaller default.
const NSID_WINDOW: usize = 32;

/// The topology's nodes: `host` and every /run/netns/netloom-<topo>.<node>.
fn candidate_nodes(loc: &Locator) -> Result<Vec<String>, KernelError> {
    let prefix = crate::model::netns_prefix(loc.topo());
    let mut out = vec![HOST.to_string()];
    for n in netns::list()? {
        if let Some(node) = n.strip_prefix(&prefix) {
            // Only names that map back exactly belong to this topology's nodes.
            if loc.netns_name(node).as_deref() == Some(n.as_str()) {
                out.push(node.to_string());
            }
        }
    }
    Ok(out)
}

/// One dumped namespace, as the resolver needs it.
pub(super) struct Dumped<'a> {
    /// Node name.
    pub node: &'a str,
    /// Its namespace.
    pub netns: &'a Arc<Netns>,
    /// ifindex -> name of its links.
    pub names: &'a HashMap<u32, String>,
    /// Its links that point into other namespaces.
    pub remote: Vec<Remote>,
}

/// Resolve the remote references of every dumped namespace to interfaces of
/// other nodes: per dumped node, (ifindex, nsid) -> interface. References
/// into namespaces outside the topology are absent. `sockets[i]` is a
/// socket in `dumped[i]`'s namespace. Blocking: run on a helper thread.
///
/// `located` are nodes whose namespaces are known but not dumped: a
/// reference into one is named by the node and [`super::unread`].
/// `prefetched[i]`, when given, holds `dumped[i]`'s nsids already known
/// (see [`prefetch`]).
pub(super) fn resolve(
    loc: &Locator,
    dumped: &[Dumped<'_>],
    sockets: &mut [Rtnl],
    located: &HashMap<String, Arc<Netns>>,
    prefetched: &[BTreeMap<i32, String>],
) -> Result<Vec<HashMap<LinkRef, IfRef>>, KernelError> {
    let sides: Vec<Vec<Remote>> = dumped.iter().map(|d| d.remote.clone()).collect();
    let matcher = Matcher::new(&sides);
    // (side, nsid) -> node name of the namespace it names.
    let mut named: BTreeMap<(usize, i32), String> = BTreeMap::new();
    for (side, ids) in prefetched.iter().enumerate() {
        for (id, node) in ids {
            named.insert((side, *id), node.clone());
        }
    }
    for a in matcher.asks() {
        if named.contains_key(&(a.of, a.nsid)) {
            continue;
        }
        let object = format!("node {}", dumped[a.of].node);
        if nsid(&mut sockets[a.of], dumped[a.target].netns, &object)? != Some(a.nsid) {
            continue;
        }
        named.insert((a.of, a.nsid), dumped[a.target].node.to_string());
        for t in matcher.implied(a.of, a.nsid, a.target) {
            named
                .entry((a.target, t))
                .or_insert_with(|| dumped[a.of].node.to_string());
        }
    }
    let missing: BTreeSet<(usize, i32)> = matcher
        .pairs()
        .into_iter()
        .filter(|p| !named.contains_key(p))
        .collect();
    if !missing.is_empty() {
        fallback(loc, dumped, sockets, located, &missing, &mut named)?;
    }
    let known: HashMap<&str, &HashMap<u32, String>> =
        dumped.iter().map(|d| (d.node, d.names)).collect();
    let mut out = Vec::with_capacity(dumped.len());
    for (i, d) in dumped.iter().enumerate() {
        let mut refs = HashMap::new();
        for r in &d.remote {
            let Some(other) = named.get(&(i, r.nsid)) else {
                continue;
            };
            let name = match known.get(other.as_str()) {
                Some(names) => names.get(&r.ifindex).cloned(),
                None if located.contains_key(other) => Some(super::unread(r.ifindex)),
                None => match loc.open(other)? {
                    Some(ns) => link_name(&ns, r.ifindex, &format!("node {other}"))?,
                    None => None,
                },
            };
            if let Some(name) = name {
                refs.insert(
                    LinkRef {
                        ifindex: r.ifindex,
                        nsid: Some(r.nsid),
                    },
                    IfRef {
                        node: other.clone(),
                        name,
                    },
                );
            }
        }
        out.push(refs);
    }
    Ok(out)
}

/// Settle the `missing` (side, nsid) pairs the veth matching could not: ask
/// each such side for its nsid of every topology namespace it has not
/// mapped yet (the asking needs only the other's namespace fd, no socket
/// in it), until its missing nsids are found.
fn fallback(
    loc: &Locator,
    dumped: &[Dumped<'_>],
    sockets: &mut [Rtnl],
    located: &HashMap<String, Arc<Netns>>,
    missing: &BTreeSet<(usize, i32)>,
    named: &mut BTreeMap<(usize, i32), String>,
) -> Result<(), KernelError> {
    let candidates = candidate_nodes(loc)?;
    let mut by_side: BTreeMap<usize, BTreeSet<i32>> = BTreeMap::new();
    for &(side, nsid) in missing {
        by_side.entry(side).or_default().insert(nsid);
    }
    let mut fds: HashMap<String, Arc<Netns>> = located.clone();
    for d in dumped {
        fds.insert(d.node.to_string(), d.netns.clone());
    }
    for (side, mut wanted) in by_side {
        let d = &dumped[side];
        let object = format!("node {}", d.node);
        let mapped: BTreeSet<String> = named
            .range((side, i32::MIN)..=(side, i32::MAX))
            .map(|(_, n)| n.clone())
            .collect();
        // Stopping once every missing nsid is found: a side usually misses
        // one (a lower in host, the first candidate).
        for c in &candidates {
            if wanted.is_empty() {
                break;
            }
            if c.as_str() == d.node || mapped.contains(c) {
                continue;
            }
            let ns = match fds.get(c) {
                Some(ns) => Some(ns.clone()),
                None => loc.open(c)?,
            };
            let Some(ns) = ns else { continue };
            if let Some(id) = nsid(&mut sockets[side], &ns, &object)?.filter(|id| wanted.remove(id))
            {
                named.insert((side, id), c.clone());
            }
        }
    }
    Ok(())
}

/// The name of link `ifindex` in namespace `ns`; `None` if no such link.
fn link_name(ns: &Netns, ifindex: u32, object: &str) -> Result<Option<String>, KernelError> {
    use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
    let mut rtnl = netns::run_in(ns, Rtnl::open)?.map_err(|e| KernelError::io(ns.label(), e))?;
    let mut m = LinkMessage::default();
    m.header.index = ifindex;
    match rtnl.ask(RouteNetlinkMessage::GetLink(m), object, "get link") {
        Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n),
                _ => None,
            }),
            _ => None,
        })),
        Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host's nsids of namespaces, asked more than a window at a time,
    /// equal those asked one by one; a namespace host has no nsid for is
    /// left out.
    #[test]
    fn prefetch_names_each_namespace_host_has_an_nsid_for() {
        crate::sandboxed!(
            "kernel::observe::netnsid::tests::prefetch_names_each_namespace_host_has_an_nsid_for"
        );
        let host = netns::current().unwrap();
        let n = NSID_WINDOW + 3;
        let mut targets = Vec::new();
        for i in 0..n {
            let name = format!("pf{i}");
            let ns = Arc::new(netns::create(&name).unwrap());
            // A veth pair across gives host an nsid for every other one.
            if i % 2 == 0 {
                let out = std::process::Command::new("ip")
                    .args(["link", "add", &format!("v{i}"), "type", "veth"])
                    .args(["peer", "eth0", "netns", &name])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            }
            targets.push((name, ns));
        }
        let got = prefetch(&[&host], &targets).unwrap();
        let mut rtnl = Rtnl::open().unwrap();
        let mut want = BTreeMap::new();
        for (name, ns) in &targets {
            if let Some(id) = nsid(&mut rtnl, ns, "host").unwrap() {
                want.insert(id, name.clone());
            }
        }
        assert_eq!(want.len(), n.div_ceil(2), "{want:?}");
        assert_eq!(got, vec![want]);
    }

    fn veth(own: u32, ifindex: u32, nsid: i32) -> Remote {
        Remote {
            own,
            veth: true,
            ifindex,
            nsid,
        }
    }

    /// A host with N containers, each with eth0 (ifindex 2) peered with host's
    /// h<i> (ifindex 10 + i). The host names container i with nsid i - 1; every
    /// container names the host 0.
    fn star(n: usize) -> Vec<Vec<Remote>> {
        let mut sides = vec![(1..=n)
            .map(|i| veth(10 + i as u32, 2, i as i32 - 1))
            .collect::<Vec<_>>()];
        for i in 1..=n {
            sides.push(vec![veth(2, 10 + i as u32, 0)]);
        }
        sides
    }

    #[test]
    fn star_needs_one_request_per_container_and_settles_the_host() {
        let sides = star(100);
        let m = Matcher::new(&sides);
        let asks = m.asks();
        assert_eq!(asks.len(), 100);
        // Each container is asked about the host, never the host about each container.
        assert!(asks
            .iter()
            .all(|a| a.of != 0 && a.target == 0 && a.nsid == 0));
        // Confirming container i settles the host's nsid for it.
        assert_eq!(m.implied(5, 0, 0), vec![4]);
        assert_eq!(m.candidates(0, 4), vec![5]);
    }

    #[test]
    fn matching_needs_both_ends_to_point_at_each_other() {
        // Side 0: veth 7 -> (nsid 3, ifindex 2). Side 1 has veth 2 pointing at
        // ifindex 8 (not 7): no match. Side 2 has veth 2 pointing at 7: match.
        let sides = vec![
            vec![veth(7, 2, 3)],
            vec![veth(2, 8, 0)],
            vec![veth(2, 7, 5)],
        ];
        let m = Matcher::new(&sides);
        assert_eq!(m.candidates(0, 3), vec![2]);
        assert_eq!(m.implied(0, 3, 2), vec![5]);
        assert!(m.candidates(1, 0).is_empty());
    }

    #[test]
    fn ambiguity_is_narrowed_by_every_veth_with_the_same_nsid() {
        // Side 0 has two veths into nsid 1: (5 -> 2) and (6 -> 3). Sides 1 and
        // 2 both hold an end 2 -> 5, only side 2 also holds 3 -> 6.
        let sides = vec![
            vec![veth(5, 2, 1), veth(6, 3, 1)],
            vec![veth(2, 5, 0)],
            vec![veth(2, 5, 0), veth(3, 6, 0)],
        ];
        let m = Matcher::new(&sides);
        assert_eq!(m.candidates(0, 1), vec![2]);
        assert_eq!(m.implied(0, 1, 2), vec![0]);
    }

    #[test]
    fn lowers_in_other_namespaces_are_left_to_the_fallback() {
        // A macvlan in side 1 whose lower is ifindex 4 of nsid 0: no veth to match.
        let sides = vec![
            vec![],
            vec![Remote {
                own: 3,
                veth: false,
                ifindex: 4,
                nsid: 0,
            }],
        ];
        let m = Matcher::new(&sides);
        assert!(m.asks().is_empty());
        assert_eq!(m.pairs().into_iter().collect::<Vec<_>>(), vec![(1, 0)]);
    }

    #[test]
    fn a_pair_settled_by_an_earlier_guess_is_not_asked_again() {
        // Two namespaces joined by two veth pairs: one request settles all.
        let sides = vec![
            vec![veth(5, 7, 0), veth(6, 8, 0)],
            vec![veth(7, 5, 4), veth(8, 6, 4)],
        ];
        let asks = Matcher::new(&sides).asks();
        assert_eq!(asks.len(), 1, "{asks:?}");
    }
}
