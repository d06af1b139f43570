//! The value words of interfaces(5) options, as ifupdown, bridge-utils,
//! ifenslave and ifupdown2 read them: booleans, seconds, netmasks, MAC
//! addresses, VLAN lists and ifupdown2's port globs.
use std::net::IpAddr;

use ipnet::IpNet;

/// A yes/no word (`yes no on off 1 0 true false`, any case).
pub fn boolean(w: &str) -> Option<bool> {
    match w.to_ascii_lowercase().as_str() {
        "yes" | "on" | "1" | "true" => Some(true),
        "no" | "off" | "0" | "false" => Some(false),
        _ => None,
    }
}

/// Seconds (bridge-utils' `brctl setfd 1.5` takes fractions) as centiseconds.
pub fn centiseconds(w: &str) -> Option<u32> {
    let (int, frac) = w.split_once('.').unwrap_or((w, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut cs = whole.checked_mul(100)?;
    let digits: Vec<u64> = frac.bytes().map(|b| u64::from(b - b'0')).collect();
    cs += digits.first().copied().unwrap_or(0) * 10 + digits.get(1).copied().unwrap_or(0);
    u32::try_from(cs).ok()
}

/// A netmask: dotted quad (contiguous) or a prefix length.
pub fn prefix(w: &str, v6: bool) -> Option<u8> {
    if let Ok(n) = w.parse::<u8>() {
        return (n <= if v6 { 128 } else { 32 }).then_some(n);
    }
    let ip: std::net::Ipv4Addr = w.parse().ok()?;
    if v6 {
        return None;
    }
    let bits = u32::from(ip);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// An address with or without `/prefix`.
pub enum Addr {
    /// With its prefix.
    Net(IpNet),
    /// A bare address (its prefix comes from `netmask`).
    Bare(IpAddr),
}

/// An address word.
pub fn address(w: &str) -> Option<Addr> {
    if let Ok(n) = w.parse::<IpNet>() {
        return Some(Addr::Net(n));
    }
    // `10.0.0.1/255.255.255.0` is read by ifupdown's compute_v4_mask.
    if let Some((a, m)) = w.split_once('/') {
        let ip: IpAddr = a.parse().ok()?;
        let p = prefix(m, ip.is_ipv6())?;
        return IpNet::new(ip, p).ok().map(Addr::Net);
    }
    w.parse::<IpAddr>().ok().map(Addr::Bare)
}

/// A MAC address (`hwaddress [ether] 00:11:22:33:44:55`, any case, `-` or
/// `:` separated) in netloom's spelling (lower case, `:`).
pub fn mac(w: &str) -> Option<String> {
    let parts: Vec<&str> = w.split([':', '-']).collect();
    if parts.len() != 6 || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
        return None;
    }
    let mut out = Vec::new();
    for p in parts {
        let b = u8::from_str_radix(p, 16).ok()?;
        out.push(format!("{b:02x}"));
    }
    Some(out.join(":"))
}

/// A VLAN list: ids and ranges (`10 20-22`, ifupdown2's `bridge-vids`),
/// in order without repeats; `None` when a word is not one.
pub fn vids(words: &[&str]) -> Option<Vec<u16>> {
    let mut out: Vec<u16> = Vec::new();
    for w in words {
        for item in w.split(',').filter(|s| !s.is_empty()) {
            let (a, b) = match item.split_once('-') {
                Some((a, b)) => (a.parse::<u16>().ok()?, b.parse::<u16>().ok()?),
                None => {
                    let v = item.parse::<u16>().ok()?;
                    (v, v)
                }
            };
            if a == 0 || a > b || b > 4094 {
                return None;
            }
            for v in a..=b {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
    }
    Some(out)
}

/// One port word of ifupdown2's `glob` form (`swp1-3`, `swp[1-3].100`,
/// `swp[1-2]s[0-1]`), expanded; `None` when it is not a glob.
pub fn glob(w: &str) -> Option<Vec<String>> {
    // Bracketed ranges, possibly two levels.
    if w.contains('[') {
        let mut names = vec![String::new()];
        let mut rest = w;
        while let Some(open) = rest.find('[') {
            let close = open + rest[open..].find(']')?;
            let (a, b) = rest[open + 1..close].split_once('-')?;
            let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
            if a > b || b - a > 4096 {
                return None;
            }
            let head = &rest[..open];
            names = names
                .iter()
                .flat_map(|n| (a..=b).map(move |i| format!("{n}{head}{i}")))
                .collect();
            rest = &rest[close + 1..];
        }
        return Some(names.into_iter().map(|n| format!("{n}{rest}")).collect());
    }
    // PREFIX A-B SUFFIX, the range right after the last letter of the prefix.
    let dash = w.find('-')?;
    let start = w[..dash]
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let end = dash
        + 1
        + w[dash + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(w.len() - dash - 1);
    if start == dash || end == dash + 1 || start == 0 {
        return None;
    }
    let (a, b): (u32, u32) = (w[start..dash].parse().ok()?, w[dash + 1..end].parse().ok()?);
    if a > b || b - a > 4096 {
        return None;
    }
    let (head, tail) = (&w[..start], &w[end..]);
    Some((a..=b).map(|i| format!("{head}{i}{tail}")).collect())
}

/// A bond word given by name or by the kernel's number (`bond-mode 4`).
pub fn bond_word(w: &str, names: &[&str]) -> Option<String> {
    if let Ok(i) = w.parse::<usize>() {
        return names.get(i).map(|s| s.to_string());
    }
    names.contains(&w).then(|| w.to_string())
}

/// Bond modes by number (the kernel's `bond_mode_tbl`).
pub const BOND_MODES: &[&str] = &[
    "balance-rr",
    "active-backup",
    "balance-xor",
    "broadcast",
    "802.3ad",
    "balance-tlb",
    "balance-alb",
];
/// `xmit_hash_policy` by number.
pub const XMIT_HASH: &[&str] = &[
    "layer2",
    "layer3+4",
    "layer2+3",
    "encap2+3",
    "encap3+4",
    "vlan+srcmac",
];
/// `lacp_rate` by number.
pub const LACP_RATE: &[&str] = &["slow", "fast"];
/// `primary_reselect` by number.
pub const PRIMARY_RESELECT: &[&str] = &["always", "better", "failure"];
/// `ad_select` by number.
pub const AD_SELECT: &[&str] = &["stable", "bandwidth", "count"];
/// `arp_validate` by number.
pub const ARP_VALIDATE: &[&str] = &[
    "none",
    "active",
    "backup",
    "all",
    "filter",
    "filter_active",
    "filter_backup",
];
/// `fail_over_mac` by number.
pub const FAIL_OVER_MAC: &[&str] = &["none", "active", "follow"];
/// `arp_all_targets` by number.
pub const ARP_ALL_TARGETS: &[&str] = &["any", "all"];

/// A YAML scalar for a name or word: plain when it cannot be misread,
/// double-quoted otherwise.
pub fn yaml_str(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | ':'))
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_read_as_the_tools_read_them() {
        assert_eq!(boolean("On"), Some(true));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(centiseconds("0"), Some(0));
        assert_eq!(centiseconds("1.5"), Some(150));
        assert_eq!(centiseconds("2.25"), Some(225));
        assert_eq!(centiseconds("15"), Some(1500));
        assert_eq!(centiseconds("-1"), None);
        assert_eq!(prefix("255.255.255.0", false), Some(24));
        assert_eq!(prefix("255.0.255.0", false), None);
        assert_eq!(prefix("64", true), Some(64));
        assert_eq!(prefix("129", true), None);
        assert!(
            matches!(address("10.0.0.1/255.255.0.0"), Some(Addr::Net(n)) if n.prefix_len() == 16)
        );
        assert!(matches!(address("2001:db8::1"), Some(Addr::Bare(_))));
        assert_eq!(
            mac("00-11-22-AA-bb-0c").as_deref(),
            Some("00:11:22:aa:bb:0c")
        );
        assert_eq!(mac("00:11:22:33:44"), None);
        assert_eq!(vids(&["10", "20-22,30"]), Some(vec![10, 20, 21, 22, 30]));
        assert_eq!(vids(&["0"]), None);
        assert_eq!(vids(&["4095"]), None);
        assert_eq!(bond_word("4", BOND_MODES).as_deref(), Some("802.3ad"));
        assert_eq!(
            bond_word("active-backup", BOND_MODES).as_deref(),
            Some("active-backup")
        );
        assert_eq!(bond_word("7", BOND_MODES), None);
    }

    #[test]
    fn ifupdown2_globs_expand() {
        assert_eq!(glob("swp1-3").unwrap(), vec!["swp1", "swp2", "swp3"]);
        assert_eq!(glob("swp1-2.100").unwrap(), vec!["swp1.100", "swp2.100"]);
        assert_eq!(glob("swp[1-2].100").unwrap(), vec!["swp1.100", "swp2.100"]);
        assert_eq!(
            glob("swp[1-2]s[0-1]").unwrap(),
            vec!["swp1s0", "swp1s1", "swp2s0", "swp2s1"]
        );
        assert_eq!(glob("eth0"), None);
        assert_eq!(glob("3-4"), None);
    }

    #[test]
    fn yaml_scalars_are_quoted_when_they_could_be_misread() {
        assert_eq!(yaml_str("eth0.100"), "eth0.100");
        assert_eq!(yaml_str("yes"), "\"yes\"");
        assert_eq!(yaml_str("10"), "\"10\"");
        assert_eq!(yaml_str("a b"), "\"a b\"");
        assert_eq!(yaml_str("x#y"), "\"x#y\"");
    }
}
