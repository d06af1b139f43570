//! One direction of a flow: node after node until delivered or stopped.
use super::*;

impl Walker<'_, '_> {
    /// One direction: from `start` (bound to `bound`) until delivered or stopped.
    pub(super) fn direction(
        &self,
        start: &str,
        bound: Option<If>,
        mut pkt: Pkt,
        nats: &mut Vec<Nat>,
    ) -> Leg {
        let mut steps: Vec<(String, Step)> = Vec::new();
        let mut at = start.to_string();
        let mut in_dev: Option<If> = None;
        let mut seen: HashSet<(String, Option<If>, IpAddr)> = HashSet::new();
        let fail = |mut steps: Vec<(String, Step)>,
                    at: String,
                    pkt: Pkt,
                    d: Disposition,
                    why: String,
                    hit: Option<RuleHit>| {
            // A stop decided at this node (not inside a segment, which has its own step).
            if let Some(h) = hit.as_ref().filter(|_| why.is_empty()) {
                let kind = match d {
                    Disposition::FilteredByNft | Disposition::ReversePathFilter => StepType::Filter,
                    _ => StepType::Route,
                };
                steps.push(frame::step(
                    self.facts,
                    &at,
                    kind,
                    h.message.clone(),
                    Action::Drop,
                ));
            }
            Leg {
                steps,
                end: End::Failed(d, hit.as_ref().map_or(why, |h| h.sentence()), hit),
                pkt,
                at,
                in_dev: None,
            }
        };
        loop {
            self.touched.borrow_mut().insert(at.clone());
            if self.facts.missing.contains(&at) {
                let hit = l3::NOT_READY.hit(
                    format!("node {at} has no namespace: the network is not (fully) up"),
                    "run `netloom up`",
                    self.place.at(&at, None, None),
                );
                return fail(
                    steps,
                    at,
                    pkt,
                    Disposition::NotReady,
                    String::new(),
                    Some(hit),
                );
            }
            if !seen.insert((at.clone(), in_dev, pkt.dst)) || seen.len() > 64 {
                let hit = l3::LOOP.hit(
                    format!(
                        "the packet to {} comes back to {at}: a routing loop",
                        pkt.dst
                    ),
                    "fix the routes so they lead towards the destination",
                    self.place.at(&at, None, None),
                );
                return fail(steps, at, pkt, Disposition::Loop, String::new(), Some(hit));
            }
            if in_dev.is_some() {
                if let Some(m) = nats.iter().find(|m| m.node == at && m.public == pkt.dst) {
                    let d = format!(
                        "conntrack: {} is the masquerade of {}: destination back to {}",
                        m.public, m.orig, m.orig
                    );
                    steps.push(self.step(&at, StepType::Transform, d, Action::Transform));
                    pkt.dst = m.orig;
                }
            }
            let oif = if in_dev.is_none() { bound } else { None };
            let decision = self.decide(&at, pkt.dst, pkt.src, in_dev, oif, &mut steps);
            let dev_name = |i: Option<If>| i.map(|i| self.idx.ifs[i].name).unwrap_or("-");
            match decision {
                Decision::Rpf(why) => {
                    let hit = if why.contains("martian") {
                        l3::MARTIAN.hit(
                            format!("{at} drops it: {why}"),
                            "give the nodes distinct addresses",
                            self.place.at(&at, None, None),
                        )
                    } else {
                        l3::RP_FILTER.hit(format!("{at} drops it: {why}"), format!("set net.ipv4.conf.{}.rp_filter (and .all) to 0 or 2 under `sysctl:` of {at}, or add the route back", dev_name(in_dev)), self.place.at(&at, None, None))
                    };
                    return fail(steps, at, pkt, hit.disposition(), String::new(), Some(hit));
                }
                Decision::NoForwarding => {
                    let hit = l3::FORWARDING_OFF.hit(
                        format!("{at} does not forward: forwarding is off for {} (the packet to {} came in by it)", dev_name(in_dev), pkt.dst),
                        format!("set `forwarding: true` on node {at}"),
                        self.place.at(&at, None, None),
                    );
                    return fail(
                        steps,
                        at,
                        pkt,
                        Disposition::ForwardingDisabled,
                        String::new(),
                        Some(hit),
                    );
                }
                Decision::NoRoute => {
                    let hit = l3::NO_ROUTE.hit(
                        format!("{at} has no route to {}", pkt.dst),
                        format!("add a route to {} under `routes:` of {at}", pkt.dst),
                        self.place.at(&at, None, None),
                    );
                    return fail(
                        steps,
                        at,
                        pkt,
                        Disposition::NoRoute,
                        String::new(),
                        Some(hit),
                    );
                }
                Decision::Local(holder) => {
                    let hooks: &[&str] = if in_dev.is_some() {
                        &["prerouting", "input"]
                    } else {
                        &["output", "input"]
                    };
                    if let Some(hit) = self.filter(&at, hooks, &pkt, in_dev, None) {
                        return fail(
                            steps,
                            at,
                            pkt,
                            Disposition::FilteredByNft,
                            String::new(),
                            Some(hit),
                        );
                    }
                    let how = match in_dev {
                        Some(i) => format!(
                            "{} is local ({}): delivered, in by {}",
                            pkt.dst,
                            self.idx.label(holder),
                            self.idx.ifs[i].name
                        ),
                        None => format!(
                            "{} is {}'s own address ({}): delivered over lo",
                            pkt.dst,
                            at,
                            self.idx.label(holder)
                        ),
                    };
                    if pkt.src.is_none() {
                        pkt.src = Some(pkt.dst);
                    }
                    steps.push(self.step(&at, StepType::Deliver, how, Action::Deliver));
                    return Leg {
                        steps,
                        end: End::Delivered,
                        pkt,
                        at,
                        in_dev,
                    };
                }
                Decision::Out(hop) => {
                    let out = hop.dev;
                    self.touched_links
                        .borrow_mut()
                        .insert((at.clone(), self.idx.ifs[out].name.to_string()));
                    let nh = hop.nexthop(pkt.dst);
                    if pkt.src.is_none() {
                        pkt.src = hop.src;
                    }
                    let Some(src) = pkt.src else {
                        let hit = l3::NO_SOURCE.hit(
                            format!("{at} has no address to send from"),
                            "give it an address",
                            self.place.at(&at, None, None),
                        );
                        return fail(
                            steps,
                            at,
                            pkt,
                            Disposition::NoReturnPath,
                            String::new(),
                            Some(hit),
                        );
                    };
                    let (kind, what) = match in_dev {
                        None => (
                            StepType::Originate,
                            format!("{} -> {}: route {}", src, pkt.dst, hop.matched),
                        ),
                        Some(i) => (
                            StepType::Route,
                            format!(
                                "in by {}, forwarded (forwarding on): route {}",
                                self.idx.ifs[i].name, hop.matched
                            ),
                        ),
                    };
                    steps.push(self.step(&at, kind, what, Action::Forward));
                    let hooks: &[&str] = if in_dev.is_some() {
                        &["prerouting", "forward", "postrouting"]
                    } else {
                        &["output", "postrouting"]
                    };
                    if let Some(hit) = self.filter(&at, hooks, &pkt, in_dev, Some(out)) {
                        return fail(
                            steps,
                            at,
                            pkt,
                            Disposition::FilteredByNft,
                            String::new(),
                            Some(hit),
                        );
                    }
                    self.masquerade(&at, out, nh, &mut pkt, nats, &mut steps);
                    // arp_solicit asks with the packet's source when it is
                    // the node's own, else with the output device's address.
                    let now = pkt.src.unwrap_or(src);
                    let sender = if self.idx.node_holds(&at, now) {
                        now
                    } else {
                        route::select_src(self.idx, &at, out, nh).unwrap_or(now)
                    };
                    match self.cross(&at, out, nh, sender, &pkt, &mut steps) {
                        Ok(arrival) => {
                            at = self.idx.node_of(arrival).to_string();
                            in_dev = Some(arrival);
                        }
                        Err(s) => return fail(steps, at, pkt, s.d, s.why, s.hit),
                    }
                }
            }
        }
    }

    /// Masquerade at `node` for a packet leaving by `out`.
    pub(super) fn masquerade(
        &self,
        node: &str,
        out: If,
        nh: IpAddr,
        pkt: &mut Pkt,
        nats: &mut Vec<Nat>,
        steps: &mut Vec<(String, Step)>,
    ) {
        let (Some(n), Some(src)) = (self.idx.node(node), pkt.src) else {
            return;
        };
        if pkt.reply {
            return;
        }
        let oname = self.idx.ifs[out].name;
        let Some(m) = n
            .nat
            .iter()
            .find(|m| m.source.contains(&src) && m.out == oname)
        else {
            for m in n.nat.iter().filter(|m| m.source.contains(&src)) {
                self.nat_misses.borrow_mut().push(format!(
                    "{node} masquerades {} only out of {}, and the request left by {oname} with its source {src} unchanged",
                    m.source, m.out
                ));
            }
            return;
        };
        let Some(public) =
            route::select_src(self.idx, node, out, nh).filter(|p| p.is_ipv4() == src.is_ipv4())
        else {
            return;
        };
        let d = format!(
            "masquerade ({} out of {oname}): source {src} -> {public}",
            m.source
        );
        steps.push(self.step(node, StepType::Transform, d, Action::Transform));
        nats.push(Nat {
            node: node.to_string(),
            public,
            orig: src,
        });
        pkt.src = Some(public);
    }
}
