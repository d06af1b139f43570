//! From a node to the next: ARP for the next hop, then the frame, each a
//! simulation of the segment ([`crate::explain::frame`]).
use super::*;

impl Walker<'_, '_> {
    /// From `node` out of `out` to next hop `nh`: ARP, then the frame.
    /// Returns the interface it arrives at.
    pub(super) fn cross(
        &self,
        node: &str,
        out: If,
        nh: IpAddr,
        sender: IpAddr,
        pkt: &Pkt,
        steps: &mut Vec<(String, Step)>,
    ) -> Result<If, Box<Stop>> {
        let dst = pkt.dst;
        let src = pkt.src.unwrap_or(sender);
        // ipvlan l3/l3s: no ARP; to a sibling slave straight, else routed out of the master.
        if ipvlan::noarp(self.idx, out) {
            let lower = self.idx.lower(out).ok_or_else(|| {
                stop(
                    Disposition::InsufficientInfo,
                    format!("{}'s master is outside the topology", self.idx.label(out)),
                    None,
                )
            })?;
            if ipvlan::slave_holding(self.idx, lower, dst).is_none() {
                let d = format!(
                    "ipvlan {} ({}): {dst} is no slave's: routed out of master {}",
                    self.idx.label(out),
                    ipvlan::mode(self.idx, out),
                    self.idx.label(lower)
                );
                steps.push(self.step(node, StepType::Segment, d, Action::Forward));
                let lnode = self.idx.node_of(lower);
                let nh2 = match route::lookup(self.idx, lnode, dst, Some(lower)) {
                    Lookup::Unicast(h) => h.nexthop(dst),
                    _ => dst,
                };
                let snd = route::select_src(self.idx, lnode, lower, nh2).unwrap_or(src);
                return self.arp_and_carry(lnode, lower, nh2, snd, src, dst, pkt, steps);
            }
            let f = frame::from_stack(self.idx, out, Dst::Mac(lower), Kind::Ip, src, dst);
            return self.carry(node, out, f, lower, pkt, steps);
        }
        self.arp_and_carry(node, out, nh, sender, src, dst, pkt, steps)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn arp_and_carry(
        &self,
        node: &str,
        out: If,
        nh: IpAddr,
        sender: IpAddr,
        src: IpAddr,
        dst: IpAddr,
        pkt: &Pkt,
        steps: &mut Vec<(String, Step)>,
    ) -> Result<If, Box<Stop>> {
        let known = self
            .learned
            .borrow()
            .get(&(node.to_string(), out, nh))
            .copied();
        let by = match known {
            Some(asker) => {
                let d = format!(
                    "{nh} is known: learnt from its ARP request ({})",
                    self.idx.label(asker)
                );
                steps.push(self.step(node, StepType::Neighbour, d, Action::Forward));
                asker
            }
            None => {
                let r = self.resolve(node, out, nh, sender);
                steps.extend(r.steps);
                let by = r.by?;
                self.learned
                    .borrow_mut()
                    .insert((self.idx.node_of(by).to_string(), by, sender), out);
                by
            }
        };
        let f = frame::from_stack(
            self.idx,
            out,
            Dst::Mac(self.idx.mac_owner(by)),
            Kind::Ip,
            src,
            dst,
        );
        self.carry(node, out, f, by, pkt, steps)
    }

    /// The data frame from `out` to the owner of `to`'s address.
    pub(super) fn carry(
        &self,
        node: &str,
        out: If,
        f: Frame,
        to: If,
        pkt: &Pkt,
        steps: &mut Vec<(String, Step)>,
    ) -> Result<If, Box<Stop>> {
        // Without ipvlan (which tells slaves apart by IP) and nftables (which
        // filters by address), a frame's way depends on the interfaces
        // alone: the pairs of `--all` share it.
        let shareable = !self.idx.has_ipvlan && self.facts.nft.is_empty();
        if shareable {
            if let Some((at, known)) = self.carry_cache.borrow().get(&(out, to)) {
                steps.extend(known.iter().cloned());
                return Ok(*at);
            }
        }
        let mut sim = Sim::new(self.idx, self.facts, self.place, self.depth);
        sim.pkt = self.nft_pkt(pkt, None, None);
        let owner = self.idx.mac_owner(to);
        let dst = f.ip_dst;
        let found = sim.run(Ev::Tx(out), f, &|s, i, _| s.idx.mac_owner(i) == owner);
        self.touch(&found);
        if let (true, Some(at)) = (shareable, found.at) {
            self.carry_cache
                .borrow_mut()
                .insert((out, to), (at, found.steps.clone()));
        }
        steps.extend(found.steps);
        match found.at {
            Some(i) => Ok(i),
            None => {
                let hit = found.hits.into_iter().next();
                let d = hit
                    .as_ref()
                    .map_or(Disposition::NeighbourUnreachable, RuleHit::disposition);
                let why = format!(
                    "the packet to {dst} from {node} never reaches {}",
                    self.idx.label(to)
                );
                Err(stop(d, why, hit))
            }
        }
    }

    /// ARP for `nh` out of `out` of `node`, asked with sender address `sender`.
    pub(super) fn resolve(&self, node: &str, out: If, nh: IpAddr, sender: IpAddr) -> Resolved {
        let key = (out, nh, sender);
        if let Some(r) = self.arp_cache.borrow().get(&key) {
            return r.clone();
        }
        let r = self.resolve_now(node, out, nh, sender);
        self.arp_cache.borrow_mut().insert(key, r.clone());
        r
    }

    pub(super) fn resolve_now(&self, node: &str, out: If, nh: IpAddr, sender: IpAddr) -> Resolved {
        let word = if nh.is_ipv4() {
            "ARP"
        } else {
            "neighbour solicitation"
        };
        let mut steps = vec![self.step(
            node,
            StepType::Neighbour,
            format!("{word} for {nh} out of {}", self.idx.ifs[out].name),
            Action::Forward,
        )];
        let nkey = (node.to_string(), self.idx.ifs[out].name.to_string(), nh);
        match self.facts.neigh.get(&nkey) {
            Some(state) => steps.push(self.step(
                node,
                StepType::Neighbour,
                format!(
                    "the kernel's neighbour entry for {nh} on {}: {state}",
                    self.idx.ifs[out].name
                ),
                Action::Note,
            )),
            None if self.facts.live && self.facts.kernel_nodes.contains(node) => {
                self.wanted_neigh.borrow_mut().insert(nkey);
            }
            None => {}
        }
        let refusals: RefCell<Vec<RuleHit>> = RefCell::default();
        let want = |s: &Sim, i: If, _f: &Frame| self.answers(s, i, nh, sender, &refusals);
        let request =
            frame::from_stack(self.idx, out, Dst::Broadcast, Kind::ArpRequest, sender, nh);
        let mut sim = Sim::new(self.idx, self.facts, self.place, self.depth);
        let found = sim.run(Ev::Tx(out), request, &want);
        self.touch(&found);
        let Some(by) = found.at else {
            steps.extend(found.steps);
            let refused = refusals.borrow().first().cloned();
            let hit = refused
                .or_else(|| found.hits.into_iter().next())
                .unwrap_or_else(|| {
                    l3::NEIGH.hit(
                        format!(
                            "nothing reachable from {} holds {nh}: {word} goes unanswered",
                            self.idx.label(out)
                        ),
                        format!(
                            "put {nh} on the segment of {}, or route via a gateway there",
                            self.idx.label(out)
                        ),
                        self.place.at(node, Some(self.idx.ifs[out].name), None),
                    )
                });
            let d = hit.disposition();
            return Resolved {
                by: Err(stop(d, format!("{word} for {nh} unanswered"), Some(hit))),
                steps,
            };
        };
        steps.extend(found.steps);
        let rnode = self.idx.node_of(by);
        steps.push(self.step(
            rnode,
            StepType::Neighbour,
            format!(
                "{} holds {nh}: answers the {word} by {}",
                rnode, self.idx.ifs[by].name
            ),
            Action::Forward,
        ));
        // The answer, unicast back to the asker.
        let back = frame::from_stack(
            self.idx,
            by,
            Dst::Mac(self.idx.mac_owner(out)),
            Kind::ArpReply,
            nh,
            sender,
        );
        let owner = self.idx.mac_owner(out);
        let mut sim = Sim::new(self.idx, self.facts, self.place, self.depth);
        let found = sim.run(Ev::Tx(by), back, &|s, i, _| {
            s.idx.node_of(i) == node && s.idx.mac_owner(i) == owner
        });
        self.touch(&found);
        steps.extend(found.steps);
        match found.at {
            Some(_) => {
                steps.push(self.step(
                    node,
                    StepType::Neighbour,
                    format!("{nh} is at {}'s address", self.idx.label(by)),
                    Action::Forward,
                ));
                Resolved { by: Ok(by), steps }
            }
            None => {
                let hit = found.hits.into_iter().next();
                let d = hit
                    .as_ref()
                    .map_or(Disposition::NeighbourUnreachable, RuleHit::disposition);
                Resolved {
                    by: Err(stop(
                        d,
                        format!(
                            "the {word} answer from {} never reaches {node}",
                            self.idx.label(by)
                        ),
                        hit,
                    )),
                    steps,
                }
            }
        }
    }

    /// Whether the stack of `i` answers ARP for `nh` from `sender` (arp_process).
    pub(super) fn answers(
        &self,
        s: &Sim,
        i: If,
        nh: IpAddr,
        sender: IpAddr,
        refusals: &RefCell<Vec<RuleHit>>,
    ) -> bool {
        let node = s.idx.node_of(i);
        if !s.idx.node_holds(node, nh) || ipvlan::noarp(s.idx, i) {
            if ipvlan::noarp(s.idx, i) && s.idx.node_holds(node, nh) {
                refusals.borrow_mut().push(ipvlan::NOARP.hit(
                    format!(
                        "{} is an ipvlan slave in {} mode: it does not answer ARP",
                        s.idx.label(i),
                        ipvlan::mode(s.idx, i)
                    ),
                    "set `mode: l2`, or route to it through its master's node",
                    self.place.at(node, Some(s.idx.ifs[i].name), Some("mode")),
                ));
            }
            return false;
        }
        let Some(n) = s.idx.node(node) else {
            return false;
        };
        let dev = s.idx.ifs[i].name;
        if nh.is_ipv4()
            && self.facts.arp_ignore(n, dev) >= 1
            && s.idx
                .holder_in(node, nh)
                .is_some_and(|h| !s.idx.holders(nh).contains(&i) && h != i)
        {
            refusals.borrow_mut().push(l3::ARP_IGNORE.hit(
                format!("{node} has {nh} on another interface than {dev}, and arp_ignore is on"),
                format!("set net.ipv4.conf.{dev}.arp_ignore to 0 under `sysctl:` of {node}"),
                self.place.at(node, None, None),
            ));
            return false;
        }
        if let Decision::Rpf(why) = self.model_decision(node, nh, Some(sender), Some(i), None) {
            let hit = if why.contains("martian") {
                l3::MARTIAN.hit(
                    format!("{node} ignores the ARP request: {why}"),
                    "give the nodes distinct addresses",
                    self.place.at(node, None, None),
                )
            } else {
                l3::RP_FILTER.hit(
                    format!("{node} ignores the ARP request: {why}"),
                    format!(
                        "set net.ipv4.conf.{dev}.rp_filter to 0 or 2 under `sysctl:` of {node}"
                    ),
                    self.place.at(node, None, None),
                )
            };
            refusals.borrow_mut().push(hit);
            return false;
        }
        true
    }
}
