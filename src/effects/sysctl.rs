//! Sysctls: the keys that belong to a link, what a new link starts from,
//! writes the kernel passes on to other keys, and writes that take
//! addresses along.
use super::address::ipv6_disabled;
use super::{iref, Effects};
use crate::model::Network;

/// For a key whose write the kernel cascades, the `default` key it sets too.
pub fn cascade(key: &str) -> Option<String> {
    const CASCADING: [&str; 3] = [
        "net.ipv6.conf.all.disable_ipv6",
        "net.ipv6.conf.all.forwarding",
        "net.ipv4.conf.all.forwarding",
    ];
    CASCADING
        .contains(&key)
        .then(|| key.replace(".all.", ".default."))
}

/// For a `default` or interface key of a cascading family, the `all` key
/// whose write sets it too (so it must be written after that one).
pub fn cascaded_from(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["net", family @ ("ipv4" | "ipv6"), "conf", name, last] if *name != "all" => {
            let all = format!("net.{family}.conf.all.{last}");
            cascade(&all).map(|_| all)
        }
        _ => None,
    }
}

/// The interface a per-interface key names (`net.ipv4.conf.eth0/2.rp_filter`
/// names `eth0.2`: sysctl writes dots inside names as slashes); `None` for
/// node-wide keys and for `all` / `default`.
pub fn interface(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["net", "ipv4" | "ipv6", "conf" | "neigh", name, _, ..]
            if *name != "all" && *name != "default" =>
        {
            Some(name.replace('/', "."))
        }
        _ => None,
    }
}

/// The `default` key a per-interface key starts from when its link is
/// created (`net.ipv6.conf.p0.disable_ipv6` -> `net.ipv6.conf.default.disable_ipv6`).
pub fn default_of(key: &str) -> Option<String> {
    interface(key)?;
    let mut parts: Vec<&str> = key.split('.').collect();
    parts[3] = "default";
    Some(parts.join("."))
}

/// Writing `key` = `value` in `node`: disabling IPv6 on a link (or on
/// `all`, which the kernel passes on to every link: addrconf_disable_ipv6)
/// takes the IPv6 addresses and routes of the links it reaches.
pub(super) fn written(before: &Network, node: &str, key: &str, value: &str, e: &mut Effects) {
    if value != "1" || !key.ends_with(".disable_ipv6") || !key.starts_with("net.ipv6.conf.") {
        return;
    }
    let Some(n) = before.nodes.get(node) else {
        return;
    };
    let links: Vec<String> = match interface(key) {
        Some(l) => vec![l],
        None if key == "net.ipv6.conf.all.disable_ipv6" => n.links.keys().cloned().collect(),
        None => return,
    };
    for l in links {
        ipv6_disabled(before, &iref(node, &l), e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_keys_name_their_link_with_dots_for_slashes() {
        assert_eq!(
            interface("net.ipv4.conf.eth0/2.rp_filter").as_deref(),
            Some("eth0.2")
        );
        assert_eq!(interface("net.ipv4.conf.all.rp_filter"), None);
        assert_eq!(interface("net.ipv4.ip_forward"), None);
        assert_eq!(
            default_of("net.ipv6.conf.p0.disable_ipv6").as_deref(),
            Some("net.ipv6.conf.default.disable_ipv6")
        );
        assert_eq!(
            cascade("net.ipv4.conf.all.forwarding").as_deref(),
            Some("net.ipv4.conf.default.forwarding")
        );
        assert_eq!(
            cascaded_from("net.ipv6.conf.eth0.disable_ipv6").as_deref(),
            Some("net.ipv6.conf.all.disable_ipv6")
        );
    }
}
