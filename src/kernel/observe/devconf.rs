//! Per-interface sysctls answered by the link dump instead of /proc/sys.
//!
//! Every link in an RTM_GETLINK answer carries its IPv4 and IPv6 settings
//! (IFLA_AF_SPEC: IFLA_INET_CONF, IFLA_INET6_CONF), the very values behind
//! `net.ipv4.conf.<if>.*` and `net.ipv6.conf.<if>.*`. Reading them there
//! spares two /proc/sys lookups per key, each a fresh dentry and inode for
//! every namespace: the host of 1000 containers asks `disable_ipv6` of its
//! 1000 veth ends on every `up`. Only long-standing fields are taken (the
//! crate pads an older kernel's shorter array with zeros); other keys, and
//! `all`/`default`, which no link carries, stay with /proc/sys.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, Inet6DevConf, InetDevConf, LinkAttribute, LinkMessage,
};

use crate::kernel::sysctl::key_path;

/// Sysctl names and how each is read off a settings array.
type Table<C> = &'static [(&'static str, fn(&C) -> i32)];

/// The IPv4 fields taken from IFLA_INET_CONF, by sysctl name.
const INET: Table<InetDevConf> = &[
    ("forwarding", |c| c.forwarding),
    ("proxy_arp", |c| c.proxy_arp),
    ("accept_redirects", |c| c.accept_redirects),
    ("secure_redirects", |c| c.secure_redirects),
    ("send_redirects", |c| c.send_redirects),
    ("rp_filter", |c| c.rp_filter),
    ("accept_source_route", |c| c.accept_source_route),
    ("log_martians", |c| c.log_martians),
    ("arp_announce", |c| c.arp_announce),
    ("arp_ignore", |c| c.arp_ignore),
    ("promote_secondaries", |c| c.promote_secondaries),
    ("arp_accept", |c| c.arp_accept),
    ("arp_notify", |c| c.arp_notify),
    ("accept_local", |c| c.accept_local),
    ("proxy_arp_pvlan", |c| c.proxy_arp_pvlan),
    ("route_localnet", |c| c.route_localnet),
];

/// The IPv6 fields taken from IFLA_INET6_CONF, by sysctl name.
const INET6: Table<Inet6DevConf> = &[
    ("forwarding", |c| c.forwarding),
    ("hop_limit", |c| c.hoplimit),
    ("mtu", |c| c.mtu6),
    ("accept_ra", |c| c.accept_ra),
    ("accept_redirects", |c| c.accept_redirects),
    ("autoconf", |c| c.autoconf),
    ("dad_transmits", |c| c.dad_transmits),
    ("use_tempaddr", |c| c.use_tempaddr),
    ("proxy_ndp", |c| c.proxy_ndp),
    ("disable_ipv6", |c| c.disable_ipv6),
    ("accept_dad", |c| c.accept_dad),
    ("keep_addr_on_down", |c| c.keep_addr_on_down),
    ("addr_gen_mode", |c| c.addr_gen_mode),
];

/// Field `field` of `conf` through `table`.
fn take<C>(table: Table<C>, conf: &C, field: &str) -> Option<i32> {
    table
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, get)| get(conf))
}

/// A per-interface key: its family (`ipv4`/`ipv6`), interface and field.
fn split(key: &str) -> Option<(String, String, String)> {
    let path = key_path(key).ok()?;
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        ["/", "proc", "sys", "net", fam @ ("ipv4" | "ipv6"), "conf", dev, field]
            if !matches!(*dev, "all" | "default") =>
        {
            Some((fam.to_string(), dev.to_string(), field.to_string()))
        }
        _ => None,
    }
}

/// The value of per-interface `key` as carried by the link message
/// for its interface (`by_name`: the dump's links by name); `None` when the key is not per-interface, its field
/// not taken, the interface absent or its settings not in the message.
fn value(key: &str, by_name: &HashMap<&str, &LinkMessage>) -> Option<String> {
    let (fam, dev, field) = split(key)?;
    let msg = by_name.get(dev.as_str())?;
    let specs = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::AfSpecUnspec(s) => Some(s),
        _ => None,
    })?;
    let v = specs.iter().find_map(|s| match (s, fam.as_str()) {
        (AfSpecUnspec::Inet(v), "ipv4") => v.iter().find_map(|i| match i {
            AfSpecInet::DevConf(c) => take(INET, c, &field),
            _ => None,
        }),
        (AfSpecUnspec::Inet6(v), "ipv6") => v.iter().find_map(|i| match i {
            AfSpecInet6::DevConf(c) => take(INET6, c, &field),
            _ => None,
        }),
        _ => None,
    })?;
    Some(v.to_string())
}

/// Split `keys` into the values the link dump `msgs` answers and the keys
/// left for /proc/sys, each in the order asked.
pub(super) fn answer(
    keys: &[String],
    msgs: &[LinkMessage],
) -> (Vec<(String, String)>, Vec<String>) {
    let (mut known, mut rest) = (Vec::new(), Vec::new());
    if keys.is_empty() {
        return (known, rest);
    }
    // By name, once: the host of 1000 containers asks 1000 keys of 1000 links.
    let by_name: HashMap<&str, &LinkMessage> = msgs
        .iter()
        .filter_map(|m| {
            m.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => Some((n.as_str(), m)),
                _ => None,
            })
        })
        .collect();
    for k in keys {
        match value(k, &by_name) {
            Some(v) => known.push((k.clone(), v)),
            None => rest.push(k.clone()),
        }
    }
    (known, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_interface_keys_are_split() {
        let s = |k: &str| split(k);
        assert_eq!(
            s("net.ipv6.conf.h1.disable_ipv6"),
            Some(("ipv6".into(), "h1".into(), "disable_ipv6".into()))
        );
        // A dot in an interface name is written `/` in a dotted key.
        assert_eq!(
            s("net.ipv4.conf.eth0/10.rp_filter"),
            Some(("ipv4".into(), "eth0.10".into(), "rp_filter".into()))
        );
        assert_eq!(
            s("net/ipv4/conf/eth0/forwarding"),
            Some(("ipv4".into(), "eth0".into(), "forwarding".into()))
        );
        assert_eq!(s("net.ipv6.conf.all.disable_ipv6"), None);
        assert_eq!(s("net.ipv6.conf.default.disable_ipv6"), None);
        assert_eq!(s("net.ipv4.ip_forward"), None);
        assert_eq!(s("net.ipv4.neigh.eth0.gc_stale_time"), None);
    }

    fn link(name: &str, v4: InetDevConf, v6: Inet6DevConf) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::AfSpecUnspec(vec![
                AfSpecUnspec::Inet(vec![AfSpecInet::DevConf(v4)]),
                AfSpecUnspec::Inet6(vec![AfSpecInet6::DevConf(v6)]),
            ]),
        ];
        m
    }

    #[test]
    fn answers_known_fields_of_present_links_and_leaves_the_rest() {
        let mut v4 = InetDevConf::default();
        v4.rp_filter = 2;
        let mut v6 = Inet6DevConf::default();
        v6.disable_ipv6 = 1;
        let msgs = [
            link("h1", v4, v6),
            link("h2", InetDevConf::default(), Inet6DevConf::default()),
        ];
        let keys: Vec<String> = [
            "net.ipv6.conf.h1.disable_ipv6",
            "net.ipv4.conf.h1.rp_filter",
            "net.ipv6.conf.h2.disable_ipv6",
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.h3.disable_ipv6",
            "net.ipv6.conf.h1.stable_secret",
        ]
        .map(String::from)
        .to_vec();
        let (known, rest) = answer(&keys, &msgs);
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            known,
            vec![
                kv("net.ipv6.conf.h1.disable_ipv6", "1"),
                kv("net.ipv4.conf.h1.rp_filter", "2"),
                kv("net.ipv6.conf.h2.disable_ipv6", "0"),
            ]
        );
        assert_eq!(
            rest,
            [
                "net.ipv6.conf.all.disable_ipv6",
                "net.ipv6.conf.h3.disable_ipv6",
                "net.ipv6.conf.h1.stable_secret"
            ]
        );
    }

    /// Every field taken from the link dump reads as /proc/sys reads it,
    /// checked after each field in turn is set off its default (so a field
    /// mapped to the wrong one of the kernel's array shows).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_taken_field_reads_as_proc_sys_does() {
        crate::sandboxed!(
            "kernel::observe::devconf::tests::every_taken_field_reads_as_proc_sys_does"
        );
        use crate::kernel::{rtnl::Rtnl, sysctl, Kernel};
        let k = Kernel::new("t", std::env::temp_dir().join("netloom-test-teamd")).unwrap();
        let h = k.node("host").await.unwrap().unwrap();
        h.handle
            .link()
            .add(rtnetlink::LinkVeth::new("p0", "p1").build())
            .execute()
            .await
            .unwrap();
        let values = [
            ("ipv4", "forwarding", "1"),
            ("ipv4", "proxy_arp", "1"),
            ("ipv4", "accept_redirects", "0"),
            ("ipv4", "secure_redirects", "0"),
            ("ipv4", "send_redirects", "0"),
            ("ipv4", "rp_filter", "2"),
            ("ipv4", "accept_source_route", "1"),
            ("ipv4", "log_martians", "1"),
            ("ipv4", "arp_announce", "2"),
            ("ipv4", "arp_ignore", "3"),
            ("ipv4", "promote_secondaries", "1"),
            ("ipv4", "arp_accept", "1"),
            ("ipv4", "arp_notify", "1"),
            ("ipv4", "accept_local", "1"),
            ("ipv4", "proxy_arp_pvlan", "1"),
            ("ipv4", "route_localnet", "1"),
            ("ipv6", "forwarding", "1"),
            ("ipv6", "hop_limit", "17"),
            ("ipv6", "mtu", "1300"),
            ("ipv6", "accept_ra", "2"),
            ("ipv6", "accept_redirects", "0"),
            ("ipv6", "autoconf", "0"),
            ("ipv6", "dad_transmits", "3"),
            ("ipv6", "use_tempaddr", "2"),
            ("ipv6", "proxy_ndp", "1"),
            ("ipv6", "accept_dad", "2"),
            ("ipv6", "keep_addr_on_down", "1"),
            ("ipv6", "addr_gen_mode", "1"),
            ("ipv6", "disable_ipv6", "1"),
        ];
        assert_eq!(values.len(), INET.len() + INET6.len());
        let keys: Vec<String> = INET
            .iter()
            .map(|(f, _)| format!("net.ipv4.conf.p0.{f}"))
            .chain(INET6.iter().map(|(f, _)| format!("net.ipv6.conf.p0.{f}")))
            .collect();
        let mut rtnl = Rtnl::open().unwrap();
        for (fam, field, v) in values {
            sysctl::write(&h.netns, &format!("net.{fam}.conf.p0.{field}"), v).unwrap();
            let msgs = super::super::new_links(
                rtnl.dump(super::super::link_request, "t", "dump links")
                    .unwrap(),
            );
            let (known, rest) = answer(&keys, &msgs);
            assert!(rest.is_empty(), "{rest:?}");
            let proc_sys = sysctl::read_many(&h.netns, &keys).unwrap();
            assert_eq!(known, proc_sys, "after {fam} {field} = {v}");
        }
    }
}
