//! rtnetlink connections opened inside a namespace, and kernel errors turned
//! into [`KernelError`]s that carry the kernel's own explanation.
use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket};

use super::error::KernelError;
use super::netns::{run_in, Netns};

/// Length of a netlink message header (struct nlmsghdr).
const NLMSG_HDRLEN: usize = 16;
/// NLMSGERR_ATTR_MSG: the kernel's human-readable error text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// Open an rtnetlink connection whose socket lives in `ns`.
///
/// A netlink socket belongs to the namespace it was created in, so the socket
/// is made on a thread inside `ns`; everything after that (bind, I/O) happens
/// from netloom's own threads. Extended ACKs are asked for so errors carry the
/// kernel's text, and capped ACKs so errors do not echo whole requests back.
/// The connection task is spawned on the current tokio runtime.
pub async fn connect(ns: &Netns) -> Result<rtnetlink::Handle, KernelError> {
    let socket = run_in(ns, socket)?.map_err(|e| KernelError::io(ns.label(), e))?;
    Ok(handle(socket))
}

/// A ready rtnetlink socket in the calling thread's namespace (see [`connect`]).
pub fn socket() -> std::io::Result<Socket> {
    let mut s = Socket::new(NETLINK_ROUTE)?;
    s.set_ext_ack(true)?;
    s.set_cap_ack(true)?;
    s.bind_auto()?;
    s.set_non_blocking(true)?;
    Ok(s)
}

/// The rtnetlink connection over a socket from [`socket`]; its task is
/// spawned on the current tokio runtime.
pub fn handle(socket: Socket) -> rtnetlink::Handle {
    let (conn, handle, _messages) = rtnetlink::from_socket(super::sys::adopt(socket));
    tokio::spawn(conn);
    handle
}

/// Turn an rtnetlink error into a [`KernelError`] about `object` during `op`.
///
/// For kernel refusals the message is the kernel's extended-ACK text when it
/// sent one (e.g. "Device is already a port of a bridge"), else strerror.
pub fn map_err(e: rtnetlink::Error, object: &str, op: &str) -> KernelError {
    match e {
        rtnetlink::Error::NetlinkError(msg) => {
            let errno = msg.raw_code().abs();
            let strerror = nix::errno::Errno::from_raw(errno).desc().to_string();
            // The errno is kept separately; the text is the kernel's own words.
            let message = ext_ack(&msg.header).msg.unwrap_or(strerror);
            KernelError::Netlink {
                object: object.to_string(),
                op: op.to_string(),
                errno,
                message,
            }
        }
        other => KernelError::Netlink {
            object: object.to_string(),
            op: op.to_string(),
            errno: 0,
            message: other.to_string(),
        },
    }
}

/// What an extended ACK said.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ExtAck {
    /// NLMSGERR_ATTR_MSG text.
    pub msg: Option<String>,
}

/// Parse the payload of an NLMSG_ERROR that follows the errno: with
/// NETLINK_CAP_ACK set (always, by [`connect`]) it is the original request's
/// nlmsghdr, then NLMSGERR_ATTR_* attributes.
pub(crate) fn ext_ack(payload: &[u8]) -> ExtAck {
    let mut out = ExtAck::default();
    let Some(mut rest) = payload.get(NLMSG_HDRLEN..) else {
        return out;
    };
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let kind = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        if len < 4 || len > rest.len() {
            break;
        }
        let value = &rest[4..len];
        if kind == NLMSGERR_ATTR_MSG {
            let text = value.split(|b| *b == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(text).trim().to_string();
            if !text.is_empty() {
                out.msg = Some(text);
            }
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).unwrap_or_default();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(value);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn ext_ack_reads_message_after_the_capped_header() {
        let mut p = vec![0u8; NLMSG_HDRLEN];
        p.extend(attr(NLMSGERR_ATTR_MSG, b"Device is busy\0"));
        // NLMSGERR_ATTR_OFFS (2) is skipped.
        p.extend(attr(2, &40u32.to_ne_bytes()));
        assert_eq!(
            ext_ack(&p),
            ExtAck {
                msg: Some("Device is busy".into()),
            }
        );
    }

    #[test]
    fn ext_ack_without_attributes_or_truncated_is_empty() {
        assert_eq!(ext_ack(&[0u8; NLMSG_HDRLEN]), ExtAck::default());
        assert_eq!(ext_ack(&[0u8; 3]), ExtAck::default());
        let mut p = vec![0u8; NLMSG_HDRLEN];
        // Length claims more bytes than present: stop, do not panic.
        p.extend_from_slice(&100u16.to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(b"ab");
        assert_eq!(ext_ack(&p), ExtAck::default());
    }

    #[test]
    fn map_err_uses_strerror_without_ext_ack() {
        let mut msg = rtnetlink::packet_core::ErrorMessage::default();
        msg.code = std::num::NonZeroI32::new(-libc::EEXIST);
        msg.header = vec![0u8; NLMSG_HDRLEN];
        match map_err(rtnetlink::Error::NetlinkError(msg), "link x", "create") {
            KernelError::Netlink { errno, message, .. } => {
                assert_eq!(errno, libc::EEXIST);
                assert_eq!(message, "File exists");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
