//! bond: IFLA_BOND_* of a bond and IFLA_BOND_SLAVE_* of its ports, with the
//! enumerated values as iproute2's words both ways. The primary port is an
//! ifindex: one made by the same plan is set once it exists.
use std::collections::HashMap;

use rtnetlink::packet_route::link::{
    BondAdSelect, BondAllPortActive, BondArpAllTargets, BondArpValidate, BondFailOverMac,
    BondLacpRate, BondMode, BondPrimaryReselect, BondXmitHashPolicy, InfoBond, InfoBondPort,
    InfoData, InfoKind, InfoPortData, InfoPortKind,
};

use super::{invalid, no_sample, Codec, PortCodec};
use crate::kernel::error::KernelError;
use crate::model::{BondOptions, BondPort, LinkKind, PortOptions};

/// The bond kind.
pub const CODEC: Codec = Codec {
    kind: InfoKind::Bond,
    parse: |data, seen| {
        let d = match data {
            Some(InfoData::Bond(d)) => d.as_slice(),
            _ => &[],
        };
        LinkKind::Bond(options(d, seen.names))
    },
    emit: |kind, w| {
        let LinkKind::Bond(o) = kind else {
            return Err(invalid(w.obj, "not a bond"));
        };
        // A primary that does not exist yet is left for a later change.
        let primary = match &o.primary {
            Some(p) => match w.indexes.get(p) {
                Some(i) => Some(*i),
                None if w.create => None,
                None => return Err(invalid(w.obj, format!("primary {p}: no such interface"))),
            },
            None => None,
        };
        Ok(Some(InfoData::Bond(info(o, primary, w.obj)?)))
    },
    names: |kind| match kind {
        LinkKind::Bond(BondOptions {
            primary: Some(p), ..
        }) => vec![p.clone()],
        _ => Vec::new(),
    },
    stacked: false,
    sample: no_sample,
    port: Some(PortCodec {
        kind: InfoPortKind::Bond,
        owns: |p| matches!(p, PortOptions::Bond(_)),
        parse: |data| match data {
            InfoPortData::BondPort(d) => Some(PortOptions::Bond(port(d))),
            _ => None,
        },
        emit: |p| match p {
            PortOptions::Bond(b) => {
                let v = port_info(b);
                Ok((!v.is_empty()).then_some(InfoPortData::BondPort(v)))
            }
            _ => Ok(None),
        },
    }),
};

/// Bond options; `primary` is resolved from its ifindex through `names`.
pub fn options(data: &[InfoBond], names: &HashMap<u32, String>) -> BondOptions {
    let mut o = BondOptions::default();
    for a in data {
        match a {
            InfoBond::Mode(m) => o.mode = Some(mode_word(m)),
            InfoBond::MiiMon(v) => o.miimon = Some(*v),
            InfoBond::UpDelay(v) => o.updelay = Some(*v),
            InfoBond::DownDelay(v) => o.downdelay = Some(*v),
            InfoBond::UseCarrier(v) => o.use_carrier = Some(*v),
            InfoBond::ArpInterval(v) => o.arp_interval = Some(*v),
            InfoBond::ArpIpTarget(t) => o.arp_ip_target = t.clone(),
            InfoBond::ArpValidate(v) => o.arp_validate = Some(arp_validate_word(v)),
            InfoBond::ArpAllTargets(v) => o.arp_all_targets = Some(arp_all_targets_word(v)),
            InfoBond::Primary(i) => o.primary = names.get(i).cloned(),
            InfoBond::PrimaryReselect(v) => o.primary_reselect = Some(primary_reselect_word(v)),
            InfoBond::FailOverMac(v) => o.fail_over_mac = Some(fail_over_mac_word(v)),
            InfoBond::XmitHashPolicy(v) => o.xmit_hash_policy = Some(xmit_hash_word(v)),
            InfoBond::AdLacpRate(v) => o.lacp_rate = Some(lacp_rate_word(v)),
            InfoBond::AdSelect(v) => o.ad_select = Some(ad_select_word(v)),
            InfoBond::MinLinks(v) => o.min_links = Some(*v),
            InfoBond::AllPortsActive(v) => {
                o.all_slaves_active = match v {
                    BondAllPortActive::Dropped => Some(false),
                    BondAllPortActive::Delivered => Some(true),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    o
}

/// iproute2's word for arp_all_targets.
fn arp_all_targets_word(v: &BondArpAllTargets) -> String {
    match v {
        BondArpAllTargets::Any => "any".into(),
        BondArpAllTargets::All => "all".into(),
        BondArpAllTargets::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for primary_reselect.
fn primary_reselect_word(v: &BondPrimaryReselect) -> String {
    match v {
        BondPrimaryReselect::Always => "always".into(),
        BondPrimaryReselect::Better => "better".into(),
        BondPrimaryReselect::Failure => "failure".into(),
        BondPrimaryReselect::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for fail_over_mac.
fn fail_over_mac_word(v: &BondFailOverMac) -> String {
    match v {
        BondFailOverMac::None => "none".into(),
        BondFailOverMac::Active => "active".into(),
        BondFailOverMac::Follow => "follow".into(),
        BondFailOverMac::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for lacp_rate.
fn lacp_rate_word(v: &BondLacpRate) -> String {
    match v {
        BondLacpRate::Slow => "slow".into(),
        BondLacpRate::Fast => "fast".into(),
        BondLacpRate::Other(n) => n.to_string(),
    }
}

/// iproute2's word for ad_select.
fn ad_select_word(v: &BondAdSelect) -> String {
    match v {
        BondAdSelect::Stable => "stable".into(),
        BondAdSelect::Bandwidth => "bandwidth".into(),
        BondAdSelect::Count => "count".into(),
        BondAdSelect::ActorPortPrio => "actor_port_prio".into(),
        BondAdSelect::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for a bonding mode.
pub fn mode_word(m: &BondMode) -> String {
    match m {
        BondMode::BalanceRr => "balance-rr".into(),
        BondMode::ActiveBackup => "active-backup".into(),
        BondMode::BalanceXor => "balance-xor".into(),
        BondMode::Broadcast => "broadcast".into(),
        BondMode::Ieee8023Ad => "802.3ad".into(),
        BondMode::BalanceTlb => "balance-tlb".into(),
        BondMode::BalanceAlb => "balance-alb".into(),
        BondMode::Other(n) => n.to_string(),
        _ => format!("{m:?}"),
    }
}

/// iproute2's word for an arp_validate value.
pub fn arp_validate_word(v: &BondArpValidate) -> String {
    match v {
        BondArpValidate::None => "none".into(),
        BondArpValidate::Active => "active".into(),
        BondArpValidate::Backup => "backup".into(),
        BondArpValidate::All => "all".into(),
        BondArpValidate::Filter => "filter".into(),
        BondArpValidate::FilterActive => "filter_active".into(),
        BondArpValidate::FilterBackup => "filter_backup".into(),
        BondArpValidate::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// iproute2's word for a transmit hash policy.
pub fn xmit_hash_word(v: &BondXmitHashPolicy) -> String {
    match v {
        BondXmitHashPolicy::Layer2 => "layer2".into(),
        BondXmitHashPolicy::Layer34 => "layer3+4".into(),
        BondXmitHashPolicy::Layer23 => "layer2+3".into(),
        BondXmitHashPolicy::Encap23 => "encap2+3".into(),
        BondXmitHashPolicy::Encap34 => "encap3+4".into(),
        BondXmitHashPolicy::VlanSrcMac => "vlan+srcmac".into(),
        BondXmitHashPolicy::Other(n) => n.to_string(),
        _ => format!("{v:?}"),
    }
}

/// Options of a bond port from IFLA_INFO_SLAVE_DATA.
pub fn port(data: &[InfoBondPort]) -> BondPort {
    let mut p = BondPort::default();
    for a in data {
        match a {
            InfoBondPort::Prio(v) => p.prio = Some(*v),
            InfoBondPort::QueueId(v) => p.queue_id = Some(*v),
            _ => {}
        }
    }
    p
}

/// Look up `word` in a table of iproute2 words, or explain what was expected.
fn word<T: Clone>(
    table: &[(&str, T)],
    what: &str,
    word: &str,
    object: &str,
) -> Result<T, KernelError> {
    table
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(w, _)| *w).collect();
            invalid(
                object,
                format!("bond {what} `{word}` is not one of {}", known.join(", ")),
            )
        })
}

const MODES: &[(&str, BondMode)] = &[
    ("balance-rr", BondMode::BalanceRr),
    ("active-backup", BondMode::ActiveBackup),
    ("balance-xor", BondMode::BalanceXor),
    ("broadcast", BondMode::Broadcast),
    ("802.3ad", BondMode::Ieee8023Ad),
    ("balance-tlb", BondMode::BalanceTlb),
    ("balance-alb", BondMode::BalanceAlb),
];
const ARP_VALIDATE: &[(&str, BondArpValidate)] = &[
    ("none", BondArpValidate::None),
    ("active", BondArpValidate::Active),
    ("backup", BondArpValidate::Backup),
    ("all", BondArpValidate::All),
    ("filter", BondArpValidate::Filter),
    ("filter_active", BondArpValidate::FilterActive),
    ("filter_backup", BondArpValidate::FilterBackup),
];
const ARP_ALL_TARGETS: &[(&str, BondArpAllTargets)] = &[
    ("any", BondArpAllTargets::Any),
    ("all", BondArpAllTargets::All),
];
const PRIMARY_RESELECT: &[(&str, BondPrimaryReselect)] = &[
    ("always", BondPrimaryReselect::Always),
    ("better", BondPrimaryReselect::Better),
    ("failure", BondPrimaryReselect::Failure),
];
const FAIL_OVER_MAC: &[(&str, BondFailOverMac)] = &[
    ("none", BondFailOverMac::None),
    ("active", BondFailOverMac::Active),
    ("follow", BondFailOverMac::Follow),
];
const XMIT_HASH: &[(&str, BondXmitHashPolicy)] = &[
    ("layer2", BondXmitHashPolicy::Layer2),
    ("layer3+4", BondXmitHashPolicy::Layer34),
    ("layer2+3", BondXmitHashPolicy::Layer23),
    ("encap2+3", BondXmitHashPolicy::Encap23),
    ("encap3+4", BondXmitHashPolicy::Encap34),
    ("vlan+srcmac", BondXmitHashPolicy::VlanSrcMac),
];
const LACP_RATE: &[(&str, BondLacpRate)] =
    &[("slow", BondLacpRate::Slow), ("fast", BondLacpRate::Fast)];
const AD_SELECT: &[(&str, BondAdSelect)] = &[
    ("stable", BondAdSelect::Stable),
    ("bandwidth", BondAdSelect::Bandwidth),
    ("count", BondAdSelect::Count),
];

/// The IFLA_BOND_* attributes for every option that is set. `primary` is the
/// ifindex of the `primary` port when it exists (the kernel takes an ifindex
/// and records the name, so the port need not be enslaved yet).
pub fn info(
    o: &BondOptions,
    primary: Option<u32>,
    object: &str,
) -> Result<Vec<InfoBond>, KernelError> {
    let mut v = Vec::new();
    // The mode goes first: the kernel checks later options against it.
    if let Some(m) = &o.mode {
        v.push(InfoBond::Mode(word(MODES, "mode", m, object)?));
    }
    if let Some(x) = o.miimon {
        v.push(InfoBond::MiiMon(x));
    }
    if let Some(x) = o.updelay {
        v.push(InfoBond::UpDelay(x));
    }
    if let Some(x) = o.downdelay {
        v.push(InfoBond::DownDelay(x));
    }
    if let Some(x) = o.use_carrier {
        v.push(InfoBond::UseCarrier(x));
    }
    if let Some(x) = o.arp_interval {
        v.push(InfoBond::ArpInterval(x));
    }
    if !o.arp_ip_target.is_empty() {
        v.push(InfoBond::ArpIpTarget(o.arp_ip_target.clone()));
    }
    if let Some(w) = &o.arp_validate {
        v.push(InfoBond::ArpValidate(word(
            ARP_VALIDATE,
            "arp_validate",
            w,
            object,
        )?));
    }
    if let Some(w) = &o.arp_all_targets {
        v.push(InfoBond::ArpAllTargets(word(
            ARP_ALL_TARGETS,
            "arp_all_targets",
            w,
            object,
        )?));
    }
    if let Some(i) = primary {
        v.push(InfoBond::Primary(i));
    }
    if let Some(w) = &o.primary_reselect {
        v.push(InfoBond::PrimaryReselect(word(
            PRIMARY_RESELECT,
            "primary_reselect",
            w,
            object,
        )?));
    }
    if let Some(w) = &o.fail_over_mac {
        v.push(InfoBond::FailOverMac(word(
            FAIL_OVER_MAC,
            "fail_over_mac",
            w,
            object,
        )?));
    }
    if let Some(w) = &o.xmit_hash_policy {
        v.push(InfoBond::XmitHashPolicy(word(
            XMIT_HASH,
            "xmit_hash_policy",
            w,
            object,
        )?));
    }
    if let Some(w) = &o.lacp_rate {
        v.push(InfoBond::AdLacpRate(word(
            LACP_RATE,
            "lacp_rate",
            w,
            object,
        )?));
    }
    if let Some(w) = &o.ad_select {
        v.push(InfoBond::AdSelect(word(AD_SELECT, "ad_select", w, object)?));
    }
    if let Some(x) = o.min_links {
        v.push(InfoBond::MinLinks(x));
    }
    if let Some(x) = o.all_slaves_active {
        v.push(InfoBond::AllPortsActive(if x {
            BondAllPortActive::Delivered
        } else {
            BondAllPortActive::Dropped
        }));
    }
    Ok(v)
}

/// The IFLA_BOND_SLAVE_* attributes for every port option that is set.
pub fn port_info(p: &BondPort) -> Vec<InfoBondPort> {
    let mut v = Vec::new();
    if let Some(x) = p.queue_id {
        v.push(InfoBondPort::QueueId(x));
    }
    if let Some(x) = p.prio {
        v.push(InfoBondPort::Prio(x));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumerations_become_iproute2_words() {
        assert_eq!(mode_word(&BondMode::Ieee8023Ad), "802.3ad");
        assert_eq!(mode_word(&BondMode::ActiveBackup), "active-backup");
        assert_eq!(xmit_hash_word(&BondXmitHashPolicy::Layer34), "layer3+4");
        assert_eq!(
            xmit_hash_word(&BondXmitHashPolicy::VlanSrcMac),
            "vlan+srcmac"
        );
        assert_eq!(
            arp_validate_word(&BondArpValidate::FilterBackup),
            "filter_backup"
        );
    }

    #[test]
    fn bond_attributes_map_to_options() {
        let names = HashMap::from([(4u32, "eth1".to_string())]);
        let o = options(
            &[
                InfoBond::Mode(BondMode::ActiveBackup),
                InfoBond::MiiMon(100),
                InfoBond::Primary(4),
                InfoBond::AdLacpRate(BondLacpRate::Fast),
                InfoBond::AllPortsActive(BondAllPortActive::Delivered),
                InfoBond::ArpIpTarget(vec!["10.0.0.1".parse().unwrap()]),
            ],
            &names,
        );
        assert_eq!(o.mode.as_deref(), Some("active-backup"));
        assert_eq!(o.miimon, Some(100));
        assert_eq!(o.primary.as_deref(), Some("eth1"));
        assert_eq!(o.lacp_rate.as_deref(), Some("fast"));
        assert_eq!(o.all_slaves_active, Some(true));
        assert_eq!(
            o.arp_ip_target,
            vec!["10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        let p = port(&[InfoBondPort::Prio(-3), InfoBondPort::QueueId(2)]);
        assert_eq!(
            p,
            BondPort {
                prio: Some(-3),
                queue_id: Some(2)
            }
        );
    }

    #[test]
    fn what_is_emitted_parses_back() {
        let o = BondOptions {
            mode: Some("active-backup".into()),
            miimon: Some(100),
            updelay: Some(200),
            downdelay: Some(200),
            primary: Some("eth0".into()),
            primary_reselect: Some("failure".into()),
            fail_over_mac: Some("active".into()),
            arp_validate: Some("none".into()),
            arp_all_targets: Some("any".into()),
            min_links: Some(1),
            ..BondOptions::default()
        };
        let kind = LinkKind::Bond(o);
        assert_eq!(super::super::round_trip::kind(&kind), kind);
        let lacp = LinkKind::Bond(BondOptions {
            mode: Some("802.3ad".into()),
            lacp_rate: Some("fast".into()),
            ad_select: Some("bandwidth".into()),
            xmit_hash_policy: Some("layer3+4".into()),
            ..BondOptions::default()
        });
        assert_eq!(super::super::round_trip::kind(&lacp), lacp);
        let p = PortOptions::Bond(BondPort {
            prio: Some(5),
            queue_id: Some(2),
        });
        assert_eq!(
            super::super::round_trip::port(&p, InfoPortKind::Bond),
            Some(p)
        );
    }
}
