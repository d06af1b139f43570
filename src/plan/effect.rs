//! The planning context: ownership, which namespaces and links go away, and
//! what the observed network looks like once those deletions are done (the
//! "effective" state that additions and changes are computed against).
use std::collections::{BTreeMap, BTreeSet};

use super::graph::Key;
use super::kind::{self, KindDiff};
use super::Owned;
use crate::model::{owner_mark, IfRef, Link, LinkKind, Network, Node, HOST};

/// No fresh values: what [`super::up`] plans with.
static NO_FRESH: BTreeMap<String, String> = BTreeMap::new();

/// Everything the per-object planners share.
pub(crate) struct Ctx<'a> {
    pub desired: &'a Network,
    pub observed: &'a Network,
    pub owned: &'a Owned,
    /// IFLA_IFALIAS value of links this topology created.
    pub mark: String,
    /// Owned namespaces that are no longer desired.
    pub del_nodes: BTreeSet<String>,
    /// Desired namespaces that do not exist yet.
    pub new_nodes: BTreeSet<String>,
    /// Links to delete explicitly (orphans and links to recreate).
    pub del_links: BTreeSet<IfRef>,
    /// Every link that will not exist once deletions are done.
    pub gone: BTreeSet<IfRef>,
    /// Observed network after deletions, with fresh namespaces added.
    pub eff: Network,
    /// What each deletion op takes away with it (links and their routes).
    pub vanish: BTreeMap<Cause, Vec<Key>>,
    /// The values sysctls have in a namespace made now (see [`super::up_with`]).
    pub fresh: &'a BTreeMap<String, String>,
    /// Routes the address deletions on each link take along (see
    /// [`super::address`]): missing in `eff`, added again if wanted.
    pub flushed: BTreeMap<IfRef, Vec<crate::model::Route>>,
    empty: Node,
}

impl<'a> Ctx<'a> {
    /// Build the context for turning `observed` into `desired`; `topo` names
    /// the topology whose ownership marks count.
    pub fn new(desired: &'a Network, observed: &'a Network, owned: &'a Owned, topo: &str) -> Self {
        let mut ctx = Ctx {
            desired,
            observed,
            owned,
            mark: owner_mark(topo),
            del_nodes: BTreeSet::new(),
            new_nodes: BTreeSet::new(),
            del_links: BTreeSet::new(),
            gone: BTreeSet::new(),
            eff: Network::default(),
            vanish: BTreeMap::new(),
            flushed: BTreeMap::new(),
            fresh: &NO_FRESH,
            empty: Node::default(),
        };
        for name in observed.nodes.keys() {
            if name != HOST && owned.namespaces.contains(name) && !desired.nodes.contains_key(name)
            {
                ctx.del_nodes.insert(name.clone());
            }
        }
        for name in desired.nodes.keys() {
            if name != HOST && !observed.nodes.contains_key(name) {
                ctx.new_nodes.insert(name.clone());
            }
        }
        ctx.find_gone();
        ctx.eff = ctx.effective();
        ctx.flush_routes();
        ctx.vanish = ctx.vanishing();
        ctx
    }

    /// True when a link observed in `node` belongs to this topology.
    pub fn ours(&self, node: &str, link: &Link) -> bool {
        link.alias.as_deref() == Some(self.mark.as_str())
            || (node != HOST && self.owned.namespaces.contains(node))
            // Created but not yet marked when netloom was killed: the name was
            // written ahead, and an unmarked device cannot be anyone's mark.
            || (link.alias.as_deref().unwrap_or("").is_empty()
                && self.owned.links.contains(&iref(node, &link.name)))
    }

    /// True when netloom may manage this node's contents (host or an owned namespace).
    pub fn managed(&self, node: &str) -> bool {
        node == HOST || self.owned.namespaces.contains(node) || self.new_nodes.contains(node)
    }

    /// Nodes whose contents are diffed: desired managed ones, plus `host` when observed.
    pub fn kept_nodes(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .desired
            .nodes
            .keys()
            .filter(|n| self.managed(n))
            .cloned()
            .collect();
        if self.observed.nodes.contains_key(HOST) {
            names.insert(HOST.to_string());
        }
        names.into_iter().collect()
    }

    /// Whether `node` is among [`Ctx::kept_nodes`], without listing them all
    /// (asked once per link, so listing would make planning O(N²)).
    pub fn is_kept(&self, node: &str) -> bool {
        (self.desired.nodes.contains_key(node) && self.managed(node))
            || (node == HOST && self.observed.nodes.contains_key(HOST))
    }

    /// The desired contents of a node (`host` absent from the file wants nothing).
    pub fn want(&self, node: &str) -> &Node {
        self.desired.nodes.get(node).unwrap_or(&self.empty)
    }

    /// The effective (post-deletion) contents of a node.
    pub fn have(&self, node: &str) -> &Node {
        self.eff.nodes.get(node).unwrap_or(&self.empty)
    }

    /// Links of our own that must go: not desired any more, or of a kind or
    /// with options that cannot be changed in place. Then everything that
    /// vanishes with them, to a fixed point.
    fn find_gone(&mut self) {
        for node in &self.del_nodes {
            for name in self.observed.nodes[node].links.keys() {
                self.gone.insert(iref(node, name));
            }
        }
        for (node, obs) in &self.observed.nodes {
            if self.del_nodes.contains(node) || !self.managed(node) {
                continue;
            }
            for (name, link) in &obs.links {
                if !self.ours(node, link) || link.kind == LinkKind::Loopback {
                    continue;
                }
                let recreate = match self.want(node).links.get(name) {
                    None => true,
                    Some(want) if want.kind == LinkKind::External => false,
                    Some(want) => {
                        matches!(kind::compare(&want.kind, &link.kind), KindDiff::Recreate(_))
                    }
                };
                if recreate {
                    self.del_links.insert(iref(node, name));
                    self.gone.insert(iref(node, name));
                }
            }
        }
        // Stacked devices die with their lower, veth ends with their peer, and
        // a desired pair whose other end must be made anew needs this end too.
        loop {
            let mut more = Vec::new();
            for (node, obs) in &self.observed.nodes {
                for (name, link) in &obs.links {
                    let me = iref(node, name);
                    if self.gone.contains(&me) {
                        continue;
                    }
                    let lower_gone = link.kind.lower().is_some_and(|l| self.goes(l));
                    let peer_gone = matches!(&link.kind, LinkKind::Veth(v) if v.peer.as_ref().is_some_and(|p| self.goes(p)));
                    if lower_gone || peer_gone {
                        more.push((me, false));
                    } else if self.managed(node)
                        && self.ours(node, link)
                        && self.pair_incomplete(node, name)
                    {
                        more.push((me, true));
                    }
                }
            }
            if more.is_empty() {
                break;
            }
            for (me, explicit) in more {
                if explicit {
                    self.del_links.insert(me.clone());
                }
                self.gone.insert(me);
            }
        }
    }

    /// True when link `r` goes: deleted, vanishing with another, or in a
    /// namespace that is deleted (whose links `down` may not have read).
    fn goes(&self, r: &IfRef) -> bool {
        self.gone.contains(r) || self.del_nodes.contains(&r.node)
    }

    /// A desired veth end that exists while its desired peer will not.
    fn pair_incomplete(&self, node: &str, name: &str) -> bool {
        let Some(LinkKind::Veth(v)) = self.want(node).links.get(name).map(|l| &l.kind) else {
            return false;
        };
        let Some(peer) = &v.peer else { return false };
        let exists = self
            .observed
            .nodes
            .get(&peer.node)
            .is_some_and(|n| n.links.contains_key(&peer.name));
        !exists || self.gone.contains(peer)
    }

    /// True when deleting `link` explicitly is needed, i.e. it does not vanish
    /// with its lower, its namespace or (veth) a peer deleted first.
    pub fn needs_del(&self, me: &IfRef) -> bool {
        let Some(link) = self
            .observed
            .nodes
            .get(&me.node)
            .and_then(|n| n.links.get(&me.name))
        else {
            return false;
        };
        if link.kind.lower().is_some_and(|l| self.goes(l)) {
            return false;
        }
        if let LinkKind::Veth(v) = &link.kind {
            if let Some(p) = &v.peer {
                if self.goes(p) && (!self.del_links.contains(p) || p < me) {
                    return false;
                }
            }
        }
        true
    }

    /// Observed state minus deleted namespaces and gone links (with their
    /// addresses, routes and enslavements), plus fresh namespaces with `lo`.
    fn effective(&self) -> Network {
        let mut nodes = BTreeMap::new();
        for (name, obs) in &self.observed.nodes {
            if self.del_nodes.contains(name) {
                continue;
            }
            let mut node = obs.clone();
            node.links
                .retain(|l, _| !self.gone.contains(&iref(name, l)));
            for (lname, link) in node.links.iter_mut() {
                let Some(m) = link.master.clone() else {
                    continue;
                };
                let master_gone = self.gone.contains(&iref(name, &m));
                let leaves = self.want(name).links.get(lname).is_some_and(|w| {
                    w.kind != LinkKind::External && w.master.as_deref() != Some(m.as_str())
                });
                // A bond or a team closes a port it releases (deleted, or
                // the port leaves it).
                let closes = obs
                    .links
                    .get(&m)
                    .is_some_and(|b| b.kind.facts().closes_released_port());
                if closes && (master_gone || leaves) {
                    link.up = Some(false);
                }
                if master_gone {
                    link.master = None;
                    link.port = None;
                }
            }
            // Per-interface sysctls of a recreated link start from the kernel's defaults.
            node.sysctls.retain(|k, _| {
                crate::effects::sysctl::interface(k)
                    .is_none_or(|l| !self.gone.contains(&iref(name, &l)))
            });
            node.routes.retain(|r| {
                r.dev
                    .as_ref()
                    .is_none_or(|d| !self.gone.contains(&iref(name, d)))
            });
            let fdb = std::mem::take(&mut node.fdb);
            let want = self.want(name);
            node.fdb = fdb
                .into_iter()
                .filter(|e| super::fdb::survives(e, &node, want))
                .collect();
            nodes.insert(name.clone(), node);
        }
        for name in &self.new_nodes {
            let mut lo = Link::new("lo", LinkKind::Loopback);
            lo.up = Some(false);
            let mut node = Node::default();
            node.links.insert("lo".to_string(), lo);
            nodes.insert(name.clone(), node);
        }
        Network {
            name: self.observed.name.clone(),
            nodes,
        }
    }
}

impl Ctx<'_> {
    /// Take out of `eff` the routes that the address changes of kept links
    /// flush (see [`super::address::flushed`]), remembering them by link.
    fn flush_routes(&mut self) {
        let mut flushed = BTreeMap::new();
        for (name, node) in self.eff.nodes.iter_mut() {
            let Some(want) = self.desired.nodes.get(name) else {
                continue;
            };
            if !(self.owned.namespaces.contains(name)
                || name == HOST
                || self.new_nodes.contains(name))
            {
                continue;
            }
            let mut gone: Vec<crate::model::Route> = Vec::new();
            for (lname, link) in &node.links {
                let Some(w) = want
                    .links
                    .get(lname)
                    .filter(|w| w.kind != LinkKind::External)
                else {
                    continue;
                };
                let c = super::address::change(w, &link.addresses);
                if c.del.is_empty() {
                    continue;
                }
                let routes: Vec<_> = super::address::flushed(&node.routes, lname, &c)
                    .cloned()
                    .collect();
                if !routes.is_empty() {
                    gone.extend(routes.iter().cloned());
                    flushed.insert(iref(name, lname), routes);
                }
            }
            node.routes.retain(|r| !gone.contains(r));
        }
        self.flushed = flushed;
    }

    /// The routes the address changes of link `me` flush.
    pub fn flushed_by(&self, me: &IfRef) -> &[crate::model::Route] {
        self.flushed.get(me).map_or(&[], Vec::as_slice)
    }
}

/// The op that makes a link disappear.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cause {
    /// Deleting this namespace.
    Netns(String),
    /// Deleting this link explicitly.
    Link(IfRef),
}

impl Ctx<'_> {
    /// Which op takes `me` (a gone link) away; `level` bounds the recursion.
    pub(crate) fn cause(&self, me: &IfRef, level: usize) -> Cause {
        if self.del_nodes.contains(&me.node) || level > 32 {
            return Cause::Netns(me.node.clone());
        }
        let link = self
            .observed
            .nodes
            .get(&me.node)
            .and_then(|n| n.links.get(&me.name));
        if let Some(l) = link.and_then(|l| l.kind.lower()).filter(|l| self.goes(l)) {
            return self.cause(l, level + 1);
        }
        if let Some(LinkKind::Veth(v)) = link.map(|l| &l.kind) {
            if let Some(p) = v.peer.as_ref().filter(|p| self.goes(p)) {
                if !self.del_links.contains(p) || p < me {
                    return self.cause(p, level + 1);
                }
            }
        }
        Cause::Link(me.clone())
    }

    /// For each deletion op, the names it frees and the addresses and routes it removes, so
    /// that additions reusing them wait for it.
    fn vanishing(&self) -> BTreeMap<Cause, Vec<Key>> {
        let mut out: BTreeMap<Cause, Vec<Key>> = BTreeMap::new();
        for me in &self.gone {
            let keys = out.entry(self.cause(me, 0)).or_default();
            keys.push(Key::LinkGone(me.clone()));
            if let Some(node) = self.observed.nodes.get(&me.node) {
                if let Some(link) = node.links.get(&me.name) {
                    for a in &link.addresses {
                        keys.push(Key::AddrGone(me.node.clone(), a.net));
                    }
                }
                for r in node
                    .routes
                    .iter()
                    .filter(|r| r.dev.as_deref() == Some(me.name.as_str()))
                {
                    keys.push(Key::RouteGone(me.node.clone(), r.to, r.table_id()));
                }
            }
        }
        out
    }
}

/// Shorthand for an interface reference.
pub(crate) fn iref(node: &str, name: &str) -> IfRef {
    IfRef {
        node: node.to_string(),
        name: name.to_string(),
    }
}
