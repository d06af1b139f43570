//! The routing decision at a node, the kernel's when it answered, and the
//! nftables hooks met there.
use super::*;

impl Walker<'_, '_> {
    /// The nft view of the packet.
    pub(super) fn nft_pkt(&self, p: &Pkt, iif: Option<If>, oif: Option<If>) -> Option<Packet> {
        let src = p.src?;
        let v6 = p.dst.is_ipv6();
        let (l4, icmp, dport) = match p.probe {
            Probe::Icmp | Probe::Arp => (
                if v6 { "icmpv6" } else { "icmp" },
                Some(if p.reply {
                    "echo-reply"
                } else {
                    "echo-request"
                }),
                None,
            ),
            Probe::Tcp(port) => ("tcp", None, if p.reply { None } else { Some(port) }),
            Probe::Udp(port) => ("udp", None, if p.reply { None } else { Some(port) }),
        };
        Some(Packet {
            src,
            dst: p.dst,
            l4,
            icmp_type: icmp,
            dport,
            iif: iif.map(|i| self.idx.ifs[i].name.to_string()),
            oif: oif.map(|i| self.idx.ifs[i].name.to_string()),
            ct: if p.reply { "established" } else { "new" },
        })
    }

    /// The nft hooks `hooks` at `node`: the first drop.
    pub(super) fn filter(
        &self,
        node: &str,
        hooks: &[&str],
        p: &Pkt,
        iif: Option<If>,
        oif: Option<If>,
    ) -> Option<RuleHit> {
        let pkt = self.nft_pkt(p, iif, oif)?;
        hooks
            .iter()
            .find_map(|h| rules::nft::at_hook(self.facts, node, h, &pkt))
    }

    /// The routing decision at `node`, the kernel's when it answered.
    pub(super) fn decide(
        &self,
        node: &str,
        dst: IpAddr,
        src: Option<IpAddr>,
        iif: Option<If>,
        oif: Option<If>,
        steps: &mut Vec<(String, Step)>,
    ) -> Decision {
        let model = self.model_decision(node, dst, src, iif, oif);
        // Live, every node's own answer is asked (in the round that reads
        // the node, so one round does both).
        if !self.facts.live || self.facts.missing.contains(node) {
            return model;
        }
        let key = RouteKey {
            node: node.to_string(),
            dst,
            src: if iif.is_some() { src } else { None },
            iif: iif.map(|i| self.idx.ifs[i].name.to_string()),
            oif: oif.map(|i| self.idx.ifs[i].name.to_string()),
        };
        let Some(answer) = self.facts.routes.get(&key) else {
            self.wanted.borrow_mut().insert(key);
            return model;
        };
        let kernel = match answer {
            RouteAnswer::Local => Decision::Local(match &model {
                Decision::Local(h) => *h,
                _ => self.idx.ifaces_of(node).first().copied().unwrap_or(0),
            }),
            RouteAnswer::Unicast {
                dev,
                via,
                src: ksrc,
                matched,
            } => match self.idx.find(node, dev) {
                Some(d) => Decision::Out(route::Hop {
                    dev: d,
                    via: *via,
                    matched: matched
                        .clone()
                        .unwrap_or_else(|| format!("{dst} dev {dev}")),
                    prefix: match &model {
                        Decision::Out(h) => h.prefix,
                        _ => ipnet::IpNet::from(dst),
                    },
                    src: ksrc.or(match &model {
                        Decision::Out(h) => h.src,
                        _ => None,
                    }),
                }),
                None => model.clone(),
            },
            RouteAnswer::Refused { errno, .. } => match *errno {
                libc::EHOSTUNREACH if iif.is_some() => Decision::NoForwarding,
                libc::EINVAL | libc::EXDEV if iif.is_some() => {
                    Decision::Rpf("the kernel refuses the source (rp_filter or martian)".into())
                }
                _ => Decision::NoRoute,
            },
        };
        let same = match (&model, &kernel) {
            (Decision::Out(a), Decision::Out(b)) => a.dev == b.dev && a.via == b.via,
            (Decision::Local(_), Decision::Local(_)) => true,
            (Decision::Rpf(_), Decision::Rpf(_)) => true,
            (a, b) => a == b,
        };
        if !same {
            let line = format!(
                "{node}: route to {dst}{}: the file says {}, the kernel says {}",
                iif.map(|i| format!(" (in by {})", self.idx.ifs[i].name))
                    .unwrap_or_default(),
                self.words(&model),
                self.words(&kernel)
            );
            steps.push(self.step(node, StepType::Drift, line, Action::Note));
        }
        kernel
    }

    pub(super) fn words(&self, d: &Decision) -> String {
        match d {
            Decision::Local(_) => "local".into(),
            Decision::Out(h) => format!(
                "{} via {}",
                self.idx.ifs[h.dev].name,
                h.via.map_or("-".into(), |v| v.to_string())
            ),
            Decision::NoRoute => "no route".into(),
            Decision::NoForwarding => "not forwarded".into(),
            Decision::Rpf(_) => "refused by the reverse-path check".into(),
        }
    }

    /// The decision from the model: local, input checks, route.
    pub(super) fn model_decision(
        &self,
        node: &str,
        dst: IpAddr,
        src: Option<IpAddr>,
        iif: Option<If>,
        oif: Option<If>,
    ) -> Decision {
        let Some(n) = self.idx.node(node) else {
            return Decision::NoRoute;
        };
        if let (Some(i), Some(s)) = (iif, src) {
            let dev = self.idx.ifs[i].name;
            if s.is_ipv4() && self.idx.node_holds(node, s) && !self.facts.accept_local(n, dev) {
                return Decision::Rpf(format!(
                    "{s} is one of {node}'s own addresses (martian source)"
                ));
            }
            let rpf = if s.is_ipv4() {
                self.facts.rp_filter(n, dev)
            } else {
                0
            };
            if rpf > 0 {
                match route::lookup_in(self.idx, node, s, None, route::vrf_of(self.idx, i)) {
                    Lookup::Unicast(back) if rpf == 2 || back.dev == i => {}
                    Lookup::Unicast(back) => {
                        return Decision::Rpf(format!(
                        "rp_filter {rpf} on {dev}: the route back to {s} leaves by {}, not {dev}",
                        self.idx.ifs[back.dev].name
                    ))
                    }
                    _ => {
                        return Decision::Rpf(format!(
                            "rp_filter {rpf} on {dev}: no route back to {s}"
                        ))
                    }
                }
            }
        }
        // A packet that came in is routed in its ingress port's VRF.
        let vrf = iif.or(oif).and_then(|i| route::vrf_of(self.idx, i));
        match route::lookup_in(self.idx, node, dst, oif, vrf) {
            Lookup::Local { holder } => Decision::Local(holder),
            Lookup::None => {
                if let Some(i) = iif {
                    if !self.facts.forwards(n, self.idx.ifs[i].name, dst.is_ipv6()) {
                        return Decision::NoForwarding;
                    }
                }
                Decision::NoRoute
            }
            Lookup::Unicast(h) => {
                if let Some(i) = iif {
                    if !self.facts.forwards(n, self.idx.ifs[i].name, dst.is_ipv6()) {
                        return Decision::NoForwarding;
                    }
                }
                Decision::Out(h)
            }
        }
    }
}
