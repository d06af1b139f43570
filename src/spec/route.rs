//! Routes: decoded from the file, then checked once a node is decoded: the output device and the gateway as
//! the kernel judges them when the route is added (fib_check_nh for IPv4,
//! ip6_validate_gw for IPv6), so a route it would refuse is an error here.
use std::net::IpAddr;

use ipnet::IpNet;

use super::decode::{net_of, str_of, suggest, word_of, Ctx, Fields};
use super::yaml::{Value, Yaml};
use crate::model::{Link, LinkKind, Node, Route, ServiceSetup};

/// Checks every route of `node`; errors go to `cx`.
pub fn check(cx: &mut Ctx, node: &str, n: &Node) {
    for (i, r) in n.routes.iter().enumerate() {
        if let Some(dev) = &r.dev {
            let Some(link) = n.links.get(dev) else {
                let names: Vec<&str> = n.links.keys().map(String::as_str).collect();
                let at = cx.loc(&format!("{node}#route{i}.dev"), node);
                cx.err(
                    at,
                    format!("route dev `{dev}` is not an interface of node `{node}`"),
                    Some(suggest(dev, &names, &format!("interfaces of `{node}`"))),
                );
                continue;
            };
            if link.up == Some(false) {
                let at = cx.loc(&format!("{node}#route{i}.dev"), node);
                cx.err(
                    at,
                    format!("route dev `{dev}` is set down (`state: down`)"),
                    Some(format!("the kernel refuses a route through a down interface (\"Nexthop device is not up\"): drop `state: down` from `{dev}` or this route")),
                );
                continue;
            }
        }
        if let Some(via) = r.via {
            gateway(cx, node, n, i, r, via);
        }
    }
}

/// The gateway must be on link: link-local with a `dev`, or inside a subnet
/// the kernel routes through an up interface (through `dev`, when given).
fn gateway(cx: &mut Ctx, node: &str, n: &Node, i: usize, r: &Route, via: IpAddr) {
    let at = cx.loc(&format!("{node}#route{i}.via"), node);
    if let IpAddr::V6(v6) = via {
        if v6.is_unicast_link_local() {
            if r.dev.is_none() {
                cx.err(
                    at,
                    format!("link-local gateway `{via}` needs `dev`"),
                    Some("a link-local address means something on one link only: name the interface with `dev`".into()),
                );
            }
            return;
        }
    }
    if let Some(why) = not_a_gateway(n, via) {
        cx.err(
            at,
            format!("gateway `{via}` is {why}"),
            Some("the kernel refuses it as a next hop: name a neighbour's address".into()),
        );
        return;
    }
    if placed_by_service(n, r, via) {
        return;
    }
    let holders = holders(n, r, via);
    // An external device's addresses are the machine's, unknown here.
    let external = |l: &Link| l.kind == LinkKind::External;
    let unknown = match &r.dev {
        Some(dev) => n.links.get(dev).is_some_and(external),
        None => holders.is_empty() && n.links.values().any(external),
    };
    if unknown {
        return;
    }
    let up: Vec<&str> = holders.iter().filter(|h| h.1).map(|h| h.0).collect();
    let down: Vec<&str> = holders.iter().filter(|h| !h.1).map(|h| h.0).collect();
    match &r.dev {
        Some(dev) if up.contains(&dev.as_str()) => {}
        None if !up.is_empty() => {}
        Some(dev) if !up.is_empty() => cx.err(
            at,
            format!("gateway `{via}` is reached through `{}`, not through `{dev}`", up[0]),
            Some(format!("the kernel looks the gateway up through `dev` only: write `dev: {}` or leave `dev` out", up[0])),
        ),
        _ if !down.is_empty() => cx.err(
            at,
            format!("gateway `{via}` is only in subnets of interfaces set down: {}", down.join(", ")),
            Some("a down interface has no prefix routes, so the kernel refuses the gateway: set it up, or use a gateway on an up interface".into()),
        ),
        dev => {
            let on = |name: &str| dev.as_deref().is_none_or(|d| d == name);
            let subnets: Vec<String> = n
                .links
                .iter()
                .filter(|(name, _)| on(name))
                .flat_map(|(_, l)| &l.addresses)
                .map(|a| a.net.trunc().to_string())
                .collect();
            let whose = match dev {
                Some(d) => format!("`{d}`"),
                None => format!("node `{node}`"),
            };
            let help = if subnets.is_empty() {
                format!("{whose} has no addresses; give it an address in the gateway's subnet")
            } else {
                format!("the gateway must be in a subnet of {whose}: {}", subnets.join(", "))
            };
            cx.err(at, format!("gateway `{via}` is outside every subnet of {whose}"), Some(help));
        }
    }
}

/// Whether `via` is on link through an address a service places: a LIF's
/// subnet (on whichever of its ports holds it, see spec::lif), or a DHCP
/// client's (unknown until leased).
fn placed_by_service(n: &Node, r: &Route, via: IpAddr) -> bool {
    let dev_ok = |port: &str| r.dev.as_deref().is_none_or(|d| d == port);
    n.services.values().any(|s| match &s.setup {
        ServiceSetup::LifWatch(l) => l
            .lifs
            .iter()
            .any(|f| f.address.contains(&via) && f.ports().any(dev_ok)),
        ServiceSetup::DhcpClient(c) => dev_ok(&c.iface),
        ServiceSetup::Dnsmasq(_) => false,
    })
}

/// Why `via` cannot be a gateway at all: an IPv6 address of the node itself
/// ("Gateway can not be a local address"), or the broadcast address of one
/// of its IPv4 subnets (the kernel finds a broadcast route to it).
fn not_a_gateway(n: &Node, via: IpAddr) -> Option<String> {
    let nets = n.links.values().flat_map(|l| &l.addresses).map(|a| a.net);
    for net in nets {
        match (net, via) {
            (IpNet::V6(net), IpAddr::V6(v)) if net.addr() == v => {
                return Some("an address of this node".into())
            }
            (IpNet::V4(net), IpAddr::V4(v)) if net.prefix_len() < 31 && net.broadcast() == v => {
                return Some(format!("the broadcast address of {}", net.trunc()))
            }
            _ => {}
        }
    }
    None
}

/// Interfaces the kernel would find `via` on, each with whether it is up: those
/// with an address whose subnet holds it, and the `dev` of a device route (no
/// `via`) that covers it in the main table, the route's own table or (IPv4)
/// the `default` table.
fn holders<'a>(n: &'a Node, r: &Route, via: IpAddr) -> Vec<(&'a str, bool)> {
    let table = r.table_id();
    let mut out: Vec<(&str, bool)> = Vec::new();
    let by_address = n
        .links
        .iter()
        .filter(|(_, l)| l.addresses.iter().any(|a| a.net.contains(&via)))
        .map(|(name, _)| name.as_str());
    let by_route = n
        .routes
        .iter()
        .filter(|d| d.puts_on_link(via, table))
        .filter_map(|d| d.dev.as_deref());
    for name in by_address.chain(by_route) {
        if let Some(l) = n.links.get(name) {
            if !out.iter().any(|h| h.0 == name) {
                out.push((name, l.up != Some(false)));
            }
        }
    }
    out
}

/// Decodes route `i` of node `node`.
pub(super) fn decode(cx: &mut Ctx, node: &str, i: usize, y: &Yaml) -> Option<Route> {
    let f = Fields::new(
        cx,
        y,
        "a route",
        &["to", "via", "dev", "metric", "table", "src"],
    )?;
    let via = f.ip(cx, "via");
    let to_y = f.need(cx, "to")?;
    let to = match str_of(cx, to_y)? {
        "default" => match via {
            Some(std::net::IpAddr::V6(_)) => "::/0".parse().ok()?,
            _ => "0.0.0.0/0".parse().ok()?,
        },
        _ => net_of(cx, to_y)?.trunc(),
    };
    let dev = f.get("dev").and_then(|d| str_of(cx, d)).map(str::to_string);
    if via.is_none() && dev.is_none() {
        cx.err(
            f.at,
            "a route needs `via` or `dev`",
            Some("give a gateway address (`via`) or an output interface (`dev`)".into()),
        );
    }
    if let Some(v) = via {
        if v.is_ipv4() != to.addr().is_ipv4() {
            let at = f.get("via").map_or(f.at, |y| y.at);
            cx.err(
                at,
                format!("gateway `{v}` is not of the same IP family as `{to}`"),
                None,
            );
        }
    }
    let src = f.ip(cx, "src");
    if let Some(s) = src {
        if s.is_ipv4() != to.addr().is_ipv4() {
            let at = f.get("src").map_or(f.at, |y| y.at);
            cx.err(
                at,
                format!("source `{s}` is not of the same IP family as `{to}`"),
                None,
            );
        }
    }
    for key in ["via", "dev", "src"] {
        if let Some(v) = f.get(key) {
            cx.locs.insert(format!("{node}#route{i}.{key}"), v.at);
        }
    }
    let table = f.get("table").and_then(|t| match &t.value {
        Value::Scalar { text, .. } if text.parse::<u32>().is_err() => {
            word_of(cx, t, "table", &["main", "local", "default"]).map(|w| match w.as_str() {
                "main" => 254,
                "local" => 255,
                _ => 253,
            })
        }
        _ => f.u32(cx, "table"),
    });
    Some(Route {
        to,
        via,
        dev,
        metric: f.u32(cx, "metric"),
        table,
        src,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Address, Link, LinkKind};

    fn link(name: &str, addr: &str, up: Option<bool>) -> Link {
        let mut l = Link::new(name, LinkKind::Dummy(Default::default()));
        l.addresses.push(Address {
            net: addr.parse().unwrap(),
            dad: false,
            secondary: false,
        });
        l.up = up;
        l
    }

    fn route(to: &str, via: Option<&str>, dev: Option<&str>) -> Route {
        Route {
            to: to.parse().unwrap(),
            via: via.map(|v| v.parse().unwrap()),
            dev: dev.map(str::to_string),
            metric: None,
            table: None,
            src: None,
        }
    }

    fn errors(links: Vec<Link>, routes: Vec<Route>) -> Vec<String> {
        let mut n = Node::default();
        for l in links {
            n.links.insert(l.name.clone(), l);
        }
        n.routes = routes;
        let mut cx = Ctx::default();
        check(&mut cx, "a", &n);
        cx.errors.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn gateways_must_be_on_link_and_devs_must_exist() {
        let errs = errors(
            vec![link("d0", "10.0.0.1/24", None)],
            vec![
                route("0.0.0.0/0", Some("10.0.0.254"), Some("d0")),
                route("0.0.0.0/0", Some("10.0.1.1"), None),
                route("0.0.0.0/0", Some("10.0.0.2"), Some("d9")),
            ],
        );
        assert_eq!(
            errs,
            [
                "gateway `10.0.1.1` is outside every subnet of node `a`",
                "route dev `d9` is not an interface of node `a`",
            ]
        );
    }

    #[test]
    fn down_interfaces_carry_no_routes() {
        let links = || {
            vec![
                link("d0", "10.0.0.1/24", Some(false)),
                link("d1", "10.0.1.1/24", Some(true)),
            ]
        };
        let errs = errors(
            links(),
            vec![
                route("10.9.0.0/16", None, Some("d0")),
                route("0.0.0.0/0", Some("10.0.0.254"), None),
                route("10.8.0.0/16", Some("10.0.1.254"), None),
            ],
        );
        assert_eq!(
            errs,
            [
                "route dev `d0` is set down (`state: down`)",
                "gateway `10.0.0.254` is only in subnets of interfaces set down: d0",
            ]
        );
    }

    #[test]
    fn a_gateway_given_a_dev_must_be_reached_through_it() {
        let errs = errors(
            vec![
                link("d0", "10.0.0.1/24", None),
                link("d1", "10.0.1.1/24", None),
            ],
            vec![
                route("0.0.0.0/0", Some("10.0.0.254"), Some("d1")),
                route("10.7.0.0/16", Some("10.0.5.1"), Some("d1")),
            ],
        );
        assert_eq!(
            errs,
            [
                "gateway `10.0.0.254` is reached through `d0`, not through `d1`",
                "gateway `10.0.5.1` is outside every subnet of `d1`",
            ]
        );
    }

    #[test]
    fn device_routes_put_gateways_on_link_in_their_tables() {
        let mut other_table = route("10.0.0.0/8", Some("10.20.0.1"), None);
        other_table.table = Some(100);
        let mut in_100 = route("10.30.0.0/16", None, Some("d0"));
        in_100.table = Some(100);
        // The rules look in `default` after main for IPv4, never for IPv6.
        let mut in_default = route("10.50.0.0/16", None, Some("d0"));
        in_default.table = Some(253);
        let mut in_default_v6 = route("2001:db8:50::/48", None, Some("d0"));
        in_default_v6.table = Some(253);
        let errs = errors(
            vec![link("d0", "192.168.0.1/24", None)],
            vec![
                route("10.20.0.0/16", None, Some("d0")),
                route("0.0.0.0/0", Some("10.20.0.1"), None),
                other_table,
                in_100,
                route("10.40.0.0/16", Some("10.30.0.1"), None),
                in_default,
                route("10.60.0.0/16", Some("10.50.0.1"), None),
                in_default_v6,
                route("2001:db8:60::/48", Some("2001:db8:50::1"), None),
            ],
        );
        assert_eq!(
            errs,
            [
                "gateway `10.30.0.1` is outside every subnet of node `a`",
                "gateway `2001:db8:50::1` is outside every subnet of node `a`"
            ]
        );
    }

    #[test]
    fn own_ipv6_addresses_and_ipv4_broadcasts_are_no_gateways() {
        let mut d0 = link("d0", "10.0.0.1/24", None);
        d0.addresses.push(Address {
            net: "2001:db8::1/64".parse().unwrap(),
            dad: false,
            secondary: false,
        });
        let errs = errors(
            vec![d0],
            vec![
                route("10.5.0.0/16", Some("10.0.0.255"), None),
                route("10.6.0.0/16", Some("10.0.0.0"), None),
                route("10.7.0.0/16", Some("10.0.0.1"), None),
                route("2001:db8:7::/48", Some("2001:db8::1"), None),
            ],
        );
        assert_eq!(
            errs,
            [
                "gateway `10.0.0.255` is the broadcast address of 10.0.0.0/24",
                "gateway `2001:db8::1` is an address of this node",
            ]
        );
    }

    #[test]
    fn gateways_through_external_devices_are_not_judged() {
        let errs = errors(
            vec![
                Link::new("eth0", LinkKind::External),
                link("d0", "10.0.0.1/24", None),
            ],
            vec![
                route("0.0.0.0/0", Some("192.0.2.1"), Some("eth0")),
                route("10.8.0.0/16", Some("198.51.100.1"), None),
                route("10.9.0.0/16", Some("10.0.0.254"), Some("eth0")),
            ],
        );
        assert_eq!(errs, Vec::<String>::new());
    }

    #[test]
    fn link_local_gateways_need_a_dev_and_no_subnet() {
        let errs = errors(
            vec![link("d0", "2001:db8::1/64", None)],
            vec![
                route("::/0", Some("fe80::1"), Some("d0")),
                route("2001:db8:1::/48", Some("fe80::2"), None),
            ],
        );
        assert_eq!(errs, ["link-local gateway `fe80::2` needs `dev`"]);
    }
}
