//! Where the kernel's node differs from the file's, in the words live
//! explain prints as drift.
use crate::model::{self, LinkKind, Node};

/// Where the kernel's node differs from the file's, in words.
pub fn drift(name: &str, file: &Node, kernel: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for (lname, l) in &file.links {
        let at = format!("{name}/{lname}");
        let Some(k) = kernel.links.get(lname) else {
            if !matches!(l.kind, LinkKind::Loopback) {
                out.push(format!("{at}: in the file, not in the kernel"));
            }
            continue;
        };
        if l.up.unwrap_or(true) != k.up.unwrap_or(true) {
            out.push(format!(
                "{at}: {} in the kernel, {} in the file",
                updown(k.up),
                updown(l.up)
            ));
        }
        if !matches!(l.kind, LinkKind::External) && l.kind.word() != k.kind.word() {
            out.push(format!(
                "{at}: a {} in the kernel, a {} in the file",
                k.kind.word(),
                l.kind.word()
            ));
        }
        match (&l.kind, &k.kind) {
            (
                LinkKind::Macvlan(a) | LinkKind::Macvtap(a),
                LinkKind::Macvlan(b) | LinkKind::Macvtap(b),
            ) if a.mode.is_some() && a.mode != b.mode => out.push(format!(
                "{at}: macvlan mode {} in the kernel, {} in the file",
                b.mode.as_deref().unwrap_or("?"),
                a.mode.as_deref().unwrap_or("?")
            )),
            (
                LinkKind::Ipvlan(a) | LinkKind::Ipvtap(a),
                LinkKind::Ipvlan(b) | LinkKind::Ipvtap(b),
            ) if a.mode.is_some() && a.mode != b.mode => out.push(format!(
                "{at}: ipvlan mode {} in the kernel, {} in the file",
                b.mode.as_deref().unwrap_or("?"),
                a.mode.as_deref().unwrap_or("?")
            )),
            (LinkKind::Vlan(a), LinkKind::Vlan(b)) if a.id != b.id => out.push(format!(
                "{at}: VLAN id {} in the kernel, {} in the file",
                b.id, a.id
            )),
            (LinkKind::Vxlan(a), LinkKind::Vxlan(b)) => {
                if a.vni != b.vni {
                    out.push(format!(
                        "{at}: VNI {} in the kernel, {} in the file",
                        b.vni, a.vni
                    ));
                }
                if a.remote.is_some() && a.remote != b.remote {
                    out.push(format!(
                        "{at}: remote {:?} in the kernel, {:?} in the file",
                        b.remote, a.remote
                    ));
                }
            }
            _ => {}
        }
        let refs = |x: &LinkKind| match x {
            LinkKind::Veth(v) => v.peer.clone(),
            other => other.lower().cloned(),
        };
        if let (Some(a), Some(b)) = (refs(&l.kind), refs(&k.kind)) {
            if a != b {
                out.push(format!(
                    "{at}: linked to {b} in the kernel, to {a} in the file"
                ));
            }
        }
        if l.master != k.master {
            out.push(format!(
                "{at}: master {} in the kernel, {} in the file",
                k.master.as_deref().unwrap_or("none"),
                l.master.as_deref().unwrap_or("none")
            ));
        }
        if let (Some(model::PortOptions::Bridge(a)), Some(model::PortOptions::Bridge(b))) =
            (&l.port, &k.port)
        {
            for (what, fa, fb) in [
                ("hairpin", a.hairpin, b.hairpin),
                ("isolated", a.isolated, b.isolated),
                ("learning", a.learning, b.learning),
                ("flood", a.flood, b.flood),
            ] {
                if fa.is_some() && fa != fb {
                    out.push(format!(
                        "{at}: bridge port {what} {} in the kernel, {} in the file",
                        onoff(fb),
                        onoff(fa)
                    ));
                }
            }
        }
        for a in &l.addresses {
            if !k.addresses.iter().any(|b| b.net == a.net) {
                out.push(format!(
                    "{at}: address {} in the file, not in the kernel",
                    a.net
                ));
            }
        }
    }
    for r in &file.routes {
        let same = |k: &model::Route| {
            k.to == r.to
                && k.via == r.via
                && k.table_id() == r.table_id()
                && (r.dev.is_none() || k.dev == r.dev)
        };
        if !kernel.routes.iter().any(same) {
            out.push(format!(
                "{name}: route `{r}` in the file, not in the kernel"
            ));
        }
    }
    for (key, v) in &file.sysctls {
        if let Some(kv) = kernel.sysctls.get(key) {
            if kv.trim() != v.trim() {
                out.push(format!(
                    "{name}: sysctl {key} = {} in the kernel, {v} in the file",
                    kv.trim()
                ));
            }
        }
    }
    out
}

fn updown(u: Option<bool>) -> &'static str {
    if u.unwrap_or(true) {
        "up"
    } else {
        "down"
    }
}

fn onoff(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "on",
        Some(false) => "off",
        None => "unknown",
    }
}
