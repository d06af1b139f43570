//! nftables over NETLINK_NETFILTER, read natively: whether a namespace has
//! any table (NFT_MSG_GETTABLE dump), and the trace events of packets
//! marked with `meta nftrace set 1` (NFT_MSG_TRACE on group
//! NFNLGRP_NFTRACE, per namespace), decoded from their NFTA_TRACE_*
//! attributes (include/uapi/linux/netfilter/nf_tables.h).
use std::io;
use std::time::{Duration, Instant};

use rtnetlink::sys::Socket;

/// NETLINK_NETFILTER.
const NETLINK_NETFILTER: isize = 12;
/// NFNL_SUBSYS_NFTABLES.
const SUBSYS_NFTABLES: u16 = 10;
/// NFT_MSG_NEWTABLE / GETTABLE / TRACE.
const MSG_NEWTABLE: u16 = 0;
const MSG_GETTABLE: u16 = 1;
const MSG_TRACE: u16 = 17;
/// NFNLGRP_NFTRACE.
pub const GROUP_NFTRACE: u32 = 9;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const HDR: usize = 16;
const NFGEN: usize = 4;

/// A netfilter netlink socket in the calling thread's namespace.
fn socket() -> io::Result<Socket> {
    let mut s = Socket::new(NETLINK_NETFILTER)?;
    s.bind_auto()?;
    Ok(s)
}

/// How many nftables tables the calling thread's namespace has.
pub fn tables() -> io::Result<usize> {
    let s = socket()?;
    let mut req = Vec::with_capacity(HDR + NFGEN);
    req.extend_from_slice(&((HDR + NFGEN) as u32).to_ne_bytes());
    req.extend_from_slice(&((SUBSYS_NFTABLES << 8) | MSG_GETTABLE).to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[0, 0, 0, 0]); // NFPROTO_UNSPEC, NFNETLINK_V0, res_id
    s.send(&req, 0)?;
    let mut n = 0;
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        s.recv(&mut buf, 0)?;
        for (kind, body) in messages(&buf) {
            match kind {
                NLMSG_DONE => return Ok(n),
                NLMSG_ERROR => {
                    let code = body
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    if code < 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    return Ok(n);
                }
                k if k == (SUBSYS_NFTABLES << 8) | MSG_NEWTABLE => n += 1,
                _ => {}
            }
        }
    }
}

/// The netlink messages in `buf`: (type, body after the header).
fn messages(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HDR <= buf.len() {
        let len = u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        if len < HDR || at + len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        out.push((kind, &buf[at + HDR..at + len]));
        at += (len + 3) & !3;
    }
    out
}

/// The attributes in `b`: (type without flags, value).
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let kind = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((kind, &b[4..len]));
        b = b.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}

fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

fn be64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v.split(|c| *c == 0).next().unwrap_or_default()).into_owned()
}

/// One NFT_MSG_TRACE event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TraceEvent {
    /// NFTA_TRACE_ID: one id per packet.
    pub id: u32,
    /// The table's family (nfgenmsg): inet, ip, ip6, bridge, ...
    pub family: String,
    /// NFTA_TRACE_TABLE.
    pub table: String,
    /// NFTA_TRACE_CHAIN.
    pub chain: String,
    /// NFTA_TRACE_RULE_HANDLE.
    pub handle: Option<u64>,
    /// NFTA_TRACE_TYPE: rule, return or policy.
    pub kind: String,
    /// NFTA_TRACE_VERDICT (or NFTA_TRACE_POLICY): accept, drop, continue, jump CHAIN, ...
    pub verdict: String,
    /// NFTA_TRACE_IIF.
    pub iif: Option<u32>,
    /// NFTA_TRACE_OIF.
    pub oif: Option<u32>,
}

fn family(f: u8) -> String {
    match f {
        1 => "inet",
        2 => "ip",
        3 => "arp",
        5 => "netdev",
        7 => "bridge",
        10 => "ip6",
        _ => "unspec",
    }
    .to_string()
}

fn verdict(code: i32, chain: Option<String>) -> String {
    let base = match code {
        0 => "drop",
        1 => "accept",
        2 => "stolen",
        3 => "queue",
        4 => "repeat",
        -1 => "continue",
        -2 => "break",
        -3 => "jump",
        -4 => "goto",
        -5 => "return",
        _ => "unknown",
    };
    match chain {
        Some(c) => format!("{base} {c}"),
        None => base.to_string(),
    }
}

/// Decode one NFT_MSG_TRACE message body (nfgenmsg + attributes).
pub fn decode(body: &[u8]) -> Option<TraceEvent> {
    let fam = *body.first()?;
    let mut e = TraceEvent {
        id: 0,
        family: family(fam),
        table: String::new(),
        chain: String::new(),
        handle: None,
        kind: String::new(),
        verdict: String::new(),
        iif: None,
        oif: None,
    };
    let mut policy = None;
    for (k, v) in attrs(body.get(NFGEN..)?) {
        match k {
            1 => e.table = text(v),
            2 => e.chain = text(v),
            3 => e.handle = be64(v),
            4 => {
                // enum nft_trace_types: UNSPEC, POLICY, RETURN, RULE.
                e.kind = match be32(v)? {
                    1 => "policy",
                    2 => "return",
                    3 => "rule",
                    _ => "other",
                }
                .into()
            }
            5 => {
                let (mut code, mut chain) = (None, None);
                for (vk, vv) in attrs(v) {
                    match vk {
                        1 => code = be32(vv).map(|c| c as i32),
                        2 => chain = Some(text(vv)),
                        _ => {}
                    }
                }
                e.verdict = verdict(code.unwrap_or(i32::MIN), chain);
            }
            6 => e.id = be32(v)?,
            10 => e.iif = be32(v),
            12 => e.oif = be32(v),
            16 => policy = be32(v),
            _ => {}
        }
    }
    if let Some(p) = policy {
        e.verdict = verdict(p as i32, None);
    }
    Some(e)
}

/// A socket listening to the trace events of the calling thread's namespace.
pub struct TraceListener {
    socket: Socket,
}

impl TraceListener {
    /// Subscribe in the calling thread's namespace (reading works from any thread).
    pub fn open() -> io::Result<TraceListener> {
        let socket = socket()?;
        socket.add_membership(GROUP_NFTRACE)?;
        socket.set_non_blocking(true)?;
        Ok(TraceListener { socket })
    }

    /// The trace events that arrive until `until`.
    pub fn collect(&self, until: Instant) -> Vec<TraceEvent> {
        let mut out = Vec::new();
        let mut buf = Vec::with_capacity(64 * 1024);
        loop {
            buf.clear();
            match self.socket.recv(&mut buf, 0) {
                Ok(_) => {
                    for (kind, body) in messages(&buf) {
                        if kind == (SUBSYS_NFTABLES << 8) | MSG_TRACE {
                            out.extend(decode(body));
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= until {
                        return out;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return out,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, v: &[u8]) -> Vec<u8> {
        let mut a = ((4 + v.len()) as u16).to_ne_bytes().to_vec();
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(v);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    #[test]
    fn a_trace_event_decodes() {
        let mut body = vec![1u8, 0, 0, 0];
        body.extend(attr(1, b"t\0"));
        body.extend(attr(2, b"fwd\0"));
        body.extend(attr(3, &7u64.to_be_bytes()));
        body.extend(attr(4, &3u32.to_be_bytes()));
        let mut v = attr(1, &0u32.to_be_bytes());
        v.extend(attr(2, b"x\0"));
        body.extend(attr(5 | 0x8000, &v));
        body.extend(attr(6, &0xf8ba5965u32.to_be_bytes()));
        body.extend(attr(10, &3u32.to_be_bytes()));
        let e = decode(&body).unwrap();
        assert_eq!(e.family, "inet");
        assert_eq!((e.table.as_str(), e.chain.as_str()), ("t", "fwd"));
        assert_eq!(e.handle, Some(7));
        assert_eq!(e.kind, "rule");
        assert_eq!(e.verdict, "drop x");
        assert_eq!(e.id, 0xf8ba5965);
        assert_eq!(e.iif, Some(3));
    }
}
