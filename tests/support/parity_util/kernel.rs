//! Asking the kernel: trials of `ip` lines in batches, the others raw
//! (rtnetlink requests, tun ioctls), each after the last one's devices are
//! deleted, and what was asked read back where the kernel might alter it.
use std::io::Write;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

use rtnetlink::packet_route::link::{
    BondMode, InfoBond, InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage,
};

use super::{Act, Kernel, Trial};

/// The lines deleting every link but `lo`, so a trial starts clean (the
/// sandbox mounted its own sysfs, so /sys/class/net lists its links). A
/// device's deletion can take others with it (a veth's peer, the devices
/// stacked on a lower), so these lines may fail.
fn cleanup() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .expect("sysfs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "lo")
        .map(|n| format!("link del dev {n}"))
        .collect()
}

/// Deletes what the last trial made.
pub fn clean() {
    batch(&cleanup());
}

/// Runs `lines` in one `ip -d -j -force -batch -` (which goes on past a
/// failure): its stdout, and each failed line's index with the error.
fn batch(lines: &[String]) -> (String, Vec<(usize, String)>) {
    let mut child = Command::new("ip")
        .args(["-d", "-j", "-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ip");
    let mut input = lines.join("\n");
    input.push('\n');
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed ip");
    let out = child.wait_with_output().expect("ip");
    // Each failure prints its error, then `Command failed -:LINE`.
    let mut failed = Vec::new();
    let mut said = None;
    for l in String::from_utf8_lossy(&out.stderr).lines() {
        match l.strip_prefix("Command failed -:") {
            Some(n) => {
                let n = n.trim().parse::<usize>().map_or(usize::MAX, |n| n - 1);
                failed.push((n, said.take().unwrap_or_else(|| "failed".to_string())));
            }
            None if said.is_none() => {
                let e = l.trim().trim_start_matches("RTNETLINK answers: ");
                said = Some(
                    e.trim_start_matches("Error: ")
                        .trim_end_matches('.')
                        .to_string(),
                );
            }
            None => {}
        }
    }
    (String::from_utf8_lossy(&out.stdout).into_owned(), failed)
}

/// `path` (dotted) in the output of `ip -d -j link show dev DEV`, as text.
fn value_at(shown: &serde_json::Value, path: &str) -> String {
    let mut at = &shown[0];
    for key in path.split('.') {
        at = &at[key];
    }
    match at {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "nothing".into(),
        other => other.to_string(),
    }
}

/// Sends one RTM_NEWLINK; `create` adds NLM_F_CREATE|EXCL (else a change).
fn netlink(msg: LinkMessage, create: bool) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let req = if create {
            handle.link().add(msg)
        } else {
            handle.link().change(msg)
        };
        req.execute().await.map_err(|e| match e {
            rtnetlink::Error::NetlinkError(m) => nix::errno::Errno::from_raw(m.raw_code().abs())
                .desc()
                .to_string(),
            other => other.to_string(),
        })
    })
}

/// The ifindex of `dev`.
fn index(dev: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{dev}/ifindex"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ifindex for {dev}"))
}

/// Makes a tap with the tun ioctls (not persistent: it goes when the fd
/// closes) and names it; the name the kernel gave it, or its error.
fn tap(name: &[u8], owner: Option<u32>, group: Option<u32>) -> Result<Vec<u8>, String> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const TUNSETOWNER: libc::c_ulong = 0x4004_54cc;
    const TUNSETGROUP: libc::c_ulong = 0x4004_54ce;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(|e| e.to_string())?;
    let fd = file.as_raw_fd();
    // struct ifreq: the name (16 bytes), then the flags (IFF_TAP | IFF_NO_PI).
    let mut ifr = [0u8; 40];
    let n = name.len().min(16);
    ifr[..n].copy_from_slice(&name[..n]);
    ifr[16..18].copy_from_slice(&(0x0002u16 | 0x1000).to_ne_bytes());
    let errno = || std::io::Error::last_os_error().to_string();
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which `ifr` is
    // large enough for, on an open /dev/net/tun.
    if unsafe { libc::ioctl(fd, TUNSETIFF, ifr.as_mut_ptr()) } != 0 {
        return Err(errno());
    }
    for (req, id) in [(TUNSETOWNER, owner), (TUNSETGROUP, group)] {
        let Some(id) = id else { continue };
        // SAFETY: TUNSETOWNER/TUNSETGROUP take the id by value.
        if unsafe { libc::ioctl(fd, req, libc::c_ulong::from(id)) } != 0 {
            return Err(errno());
        }
    }
    let end = ifr[..16].iter().position(|b| *b == 0).unwrap_or(16);
    Ok(ifr[..end].to_vec())
}

/// The kernel's verdicts on `trials`, in order. Consecutive trials made of
/// `ip` lines go to one batch, each after deleting what the one before
/// made; the others are run one by one.
pub fn judge(trials: &[Trial]) -> Vec<Kernel> {
    let mut out = Vec::with_capacity(trials.len());
    let mut i = 0;
    while i < trials.len() {
        let ip_only = |j: &usize| matches!(trials[*j].act, Act::Ip(_));
        let j = (i..trials.len())
            .find(|j| !ip_only(j))
            .unwrap_or(trials.len());
        if j > i {
            out.extend(ip_group(&trials[i..j]));
            i = j;
        } else {
            out.push(raw(&trials[i]));
            i += 1;
        }
    }
    out
}

/// The device a line makes, if it makes one.
fn created(line: &str) -> Option<String> {
    let w: Vec<&str> = line.split(' ').collect();
    match w.as_slice() {
        ["link", "add", "link", _, "name", n, ..] => Some(n.to_string()),
        ["link", "add", n, ..] | ["tuntap", "add", n, ..] => Some(n.to_string()),
        _ => None,
    }
}

/// Where one trial's lines sit in a batch.
struct Span {
    setup: std::ops::Range<usize>,
    act: std::ops::Range<usize>,
    show: Option<usize>,
}

/// Trials made of `ip` lines, judged in one `ip -batch`.
fn ip_group(trials: &[Trial]) -> Vec<Kernel> {
    let mut lines = cleanup();
    let mut spans = Vec::new();
    let mut made: Vec<String> = Vec::new();
    for t in trials {
        // Stacked devices first, so no deletion takes another's device.
        lines.extend(made.iter().rev().map(|n| format!("link del dev {n}")));
        let Act::Ip(act) = &t.act else {
            unreachable!("only ip trials are grouped")
        };
        let setup = lines.len()..lines.len() + t.setup.len();
        lines.extend(t.setup.iter().cloned());
        let acts = lines.len()..lines.len() + act.len();
        lines.extend(act.iter().cloned());
        let show = t.readback.as_ref().map(|(dev, _, _)| {
            lines.push(format!("link show dev {dev}"));
            lines.len() - 1
        });
        spans.push(Span {
            setup,
            act: acts,
            show,
        });
        made = t
            .setup
            .iter()
            .chain(act)
            .filter_map(|l| created(l))
            .collect();
    }
    let (stdout, failed) = batch(&lines);
    let mut shown = serde_json::Deserializer::from_str(&stdout).into_iter::<serde_json::Value>();
    let failure = |range: &std::ops::Range<usize>| failed.iter().find(|(n, _)| range.contains(n));
    spans
        .iter()
        .zip(trials)
        .map(|(sp, t)| {
            if let Some((n, e)) = failure(&sp.setup) {
                panic!(
                    "{} {}: setup `ip {}` failed: {e}",
                    t.option, t.value, lines[*n]
                );
            }
            // Every show that worked printed one value, in order.
            let value = sp
                .show
                .filter(|n| failure(&(*n..n + 1)).is_none())
                .map(|_| shown.next().and_then(Result::ok).unwrap_or_default());
            match failure(&sp.act) {
                Some((_, e)) => Kernel::Refuses(e.clone()),
                None => verdict(t, value.as_ref()),
            }
        })
        .collect()
}

/// The verdict on a trial sent raw, after deleting what the last one made.
fn raw(t: &Trial) -> Kernel {
    let clean = cleanup();
    let mut pre = clean.clone();
    pre.extend(t.setup.iter().cloned());
    let show = t
        .readback
        .as_ref()
        .map(|(dev, _, _)| format!("link show dev {dev}"));
    // Past the deletions, every line of the setup must work.
    let check_setup = |failed: &[(usize, String)]| {
        if let Some((n, e)) = failed
            .iter()
            .find(|(n, _)| (clean.len()..pre.len()).contains(n))
        {
            panic!(
                "{} {}: setup `ip {}` failed: {e}",
                t.option, t.value, pre[*n]
            );
        }
    };
    if !pre.is_empty() {
        check_setup(&batch(&pre).1);
    }
    let done = match &t.act {
        Act::Ip(_) => unreachable!("ip trials go in batches"),
        Act::Vxlan {
            vni,
            local,
            peer,
            dev,
        } => {
            let mut data = vec![InfoVxlan::Id(*vni), InfoVxlan::Port(4789)];
            data.extend(peer.map(|a| match a {
                IpAddr::V4(a) => InfoVxlan::Group(a),
                IpAddr::V6(a) => InfoVxlan::Group6(a),
            }));
            data.extend(local.map(|a| match a {
                IpAddr::V4(a) => InfoVxlan::Local(a),
                IpAddr::V6(a) => InfoVxlan::Local6(a),
            }));
            data.extend(dev.as_deref().map(|d| InfoVxlan::Link(index(d))));
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName("vx0".into()));
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Vxlan),
                LinkInfo::Data(InfoData::Vxlan(data)),
            ]));
            netlink(msg, true)
        }
        Act::BondTargets(targets) => {
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName("b0".into()));
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Bond),
                LinkInfo::Data(InfoData::Bond(vec![
                    InfoBond::Mode(BondMode::BalanceXor),
                    InfoBond::ArpInterval(100),
                    InfoBond::ArpIpTarget(targets.clone()),
                ])),
            ]));
            netlink(msg, true)
        }
        Act::Mtu(dev, mtu) => {
            let mut msg = LinkMessage::default();
            msg.header.index = index(dev);
            msg.attributes.push(LinkAttribute::Mtu(*mtu));
            netlink(msg, false)
        }
        Act::Tap(name, owner, group) => match tap(name, *owner, *group) {
            Ok(got) if got != *name => {
                return Kernel::Alters(format!("named {:?}", String::from_utf8_lossy(&got)))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        },
    };
    if let Err(e) = done {
        return Kernel::Refuses(e);
    }
    let shown = show.map(|line| {
        let out = batch(&[line]).0;
        serde_json::from_str(&out).unwrap_or_default()
    });
    verdict(t, shown.as_ref())
}

/// Accepts, or alters when the value read back (`shown`, the output of
/// `ip -d -j link show`) is not the one asked for.
fn verdict(t: &Trial, shown: Option<&serde_json::Value>) -> Kernel {
    let Some((_, path, want)) = &t.readback else {
        return Kernel::Accepts;
    };
    let got = shown.map_or("nothing".to_string(), |v| value_at(v, path));
    if got == *want {
        Kernel::Accepts
    } else {
        Kernel::Alters(format!("reads {got}"))
    }
}
