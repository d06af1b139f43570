//! bond: IFLA_BOND_* options (iproute2 words to kernel numbers) and
//! IFLA_BOND_SLAVE_* port options.
use rtnetlink::packet_route::link::{
    BondAdSelect, BondAllPortActive, BondArpAllTargets, BondArpValidate, BondFailOverMac,
    BondLacpRate, BondMode, BondPrimaryReselect, BondXmitHashPolicy, InfoBond, InfoBondPort,
};

use super::invalid;
use crate::kernel::error::KernelError;
use crate::model::{BondOptions, BondPort};

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
pub(super) fn info(
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
pub(super) fn port_info(p: &BondPort) -> Vec<InfoBondPort> {
    let mut v = Vec::new();
    if let Some(x) = p.queue_id {
        v.push(InfoBondPort::QueueId(x));
    }
    if let Some(x) = p.prio {
        v.push(InfoBondPort::Prio(x));
    }
    v
}
