//! A blocking rtnetlink socket, for reading many namespaces from helper
//! threads that enter each in turn (see [`super::netns::run_in_each`]).
//!
//! Why not the async connection: a no-op `up` of 1000 containers opens a
//! socket in every namespace only to make three dumps there. An rtnetlink
//! connection costs a tokio task, a reactor registration and 72 KiB of
//! buffers each (a third of that run's page faults), and every answer a
//! wake-up across threads. Here the thread that opened the socket makes the
//! dumps at once, into one receive buffer per thread; the socket can then be
//! handed to an async connection (see [`Rtnl::into_socket`]) if later work
//! needs it.
use std::cell::RefCell;

use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::Socket;

use super::conn::map_err;
use super::error::KernelError;

/// NLM_F_DUMP_INTR: the dump raced with a change and may be inconsistent.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// How often an interrupted dump is retried before giving up.
const DUMP_ATTEMPTS: usize = 5;
/// Receive buffer size: above the kernel's largest dump chunk (32 KiB), so
/// no answer is ever truncated.
const RECV_SIZE: usize = 64 * 1024;

thread_local! {
    /// The receive buffer of this thread, shared by every socket it reads.
    static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(RECV_SIZE));
}

/// A blocking rtnetlink socket of one namespace.
#[derive(Debug)]
pub struct Rtnl {
    socket: Socket,
    seq: u32,
}

impl Rtnl {
    /// Open a socket in the calling thread's namespace, set up as the async
    /// connections are (see [`super::conn::socket`]) but blocking.
    pub fn open() -> std::io::Result<Rtnl> {
        let socket = super::conn::socket()?;
        socket.set_non_blocking(false)?;
        Ok(Rtnl { socket, seq: 0 })
    }

    /// The socket, made non-blocking again for an async connection.
    pub fn into_socket(self) -> std::io::Result<Socket> {
        self.socket.set_non_blocking(true)?;
        Ok(self.socket)
    }

    /// Send `request` as a dump and collect the answers; a dump the kernel
    /// marks as interrupted by a concurrent change is made again.
    pub fn dump(
        &mut self,
        request: impl Fn() -> RouteNetlinkMessage,
        object: &str,
        op: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            if !self.exchange(request(), NLM_F_DUMP, object, op, &mut |m| out.push(m))? {
                return Ok(out);
            }
        }
        Err(KernelError::Decode {
            object: object.to_string(),
            message: format!("{op}: interrupted by concurrent changes {DUMP_ATTEMPTS} times"),
        })
    }

    /// [`Rtnl::dump`], handing each answer to `each` as it is read instead
    /// of collecting them (a thousand parsed answers held at once are
    /// megabytes). A dump interrupted by a concurrent change is made again,
    /// so `each` may see an object twice: it must keep the last.
    pub fn dump_each(
        &mut self,
        request: impl Fn() -> RouteNetlinkMessage,
        object: &str,
        op: &str,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> Result<(), KernelError> {
        for _ in 0..DUMP_ATTEMPTS {
            if !self.exchange(request(), NLM_F_DUMP, object, op, &mut each)? {
                return Ok(());
            }
        }
        Err(KernelError::Decode {
            object: object.to_string(),
            message: format!("{op}: interrupted by concurrent changes {DUMP_ATTEMPTS} times"),
        })
    }

    /// Send one acknowledged request and collect its answers.
    pub fn ask(
        &mut self,
        request: RouteNetlinkMessage,
        object: &str,
        op: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let mut out = Vec::new();
        self.exchange(request, NLM_F_ACK, object, op, &mut |m| out.push(m))?;
        Ok(out)
    }

    /// Send one acknowledged request that makes something new
    /// (NLM_F_CREATE | NLM_F_EXCL): the kernel refuses with EEXIST when it exists.
    pub fn create(
        &mut self,
        request: RouteNetlinkMessage,
        object: &str,
        op: &str,
    ) -> Result<(), KernelError> {
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.exchange(request, flags, object, op, &mut |_| {})?;
        Ok(())
    }

    /// Send `request` with `flags` and read until its end: NLMSG_DONE for a
    /// dump, the ACK otherwise, handing each answer to `each`. Returns
    /// whether any answer was marked interrupted (the rest is still read,
    /// so nothing is left over).
    fn exchange(
        &mut self,
        request: RouteNetlinkMessage,
        flags: u16,
        object: &str,
        op: &str,
        each: &mut dyn FnMut(RouteNetlinkMessage),
    ) -> Result<bool, KernelError> {
        let io = |e: std::io::Error| KernelError::io(format!("{object}: {op}"), e);
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut req = NetlinkMessage::from(request);
        req.header.flags = NLM_F_REQUEST | flags;
        req.header.sequence_number = seq;
        req.finalize();
        let mut bytes = vec![0; req.buffer_len()];
        req.serialize(&mut bytes);
        self.socket.send(&bytes, 0).map_err(io)?;
        let mut interrupted = false;
        self.receive(object, op, |msg| {
            // Answers to an earlier request cannot be pending (every
            // exchange reads to its end), but skip any all the same.
            if msg.header.sequence_number != seq {
                return Ok(false);
            }
            interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => each(m),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(map_err(rtnetlink::Error::NetlinkError(e), object, op))
                }
                // An ACK (error code 0) ends a plain request.
                NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => return Ok(true),
                _ => {}
            }
            Ok(false)
        })?;
        Ok(interrupted)
    }

    /// Send each of `requests` acknowledged and collect its answers, in
    /// order; a request the kernel refuses gives its error in its place.
    /// Up to `window` requests go in one write and are answered together:
    /// one round trip per window instead of one per request (a thousand
    /// RTM_GETNSID took 23 ms one by one).
    pub fn ask_all(
        &mut self,
        requests: Vec<RouteNetlinkMessage>,
        window: usize,
        object: &str,
        op: &str,
    ) -> Result<Vec<Result<Vec<RouteNetlinkMessage>, KernelError>>, KernelError> {
        let io = |e: std::io::Error| KernelError::io(format!("{object}: {op}"), e);
        let mut out = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let first = self.seq.wrapping_add(1);
            let mut bytes = Vec::new();
            for request in requests.by_ref().take(window.max(1)) {
                self.seq = self.seq.wrapping_add(1);
                let mut req = NetlinkMessage::from(request);
                req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
                req.header.sequence_number = self.seq;
                req.finalize();
                let at = bytes.len();
                bytes.resize(at + req.buffer_len(), 0);
                req.serialize(&mut bytes[at..]);
            }
            self.socket.send(&bytes, 0).map_err(io)?;
            let sent = self.seq.wrapping_sub(first) as usize + 1;
            let mut answers: Vec<Result<Vec<_>, KernelError>> =
                (0..sent).map(|_| Ok(Vec::new())).collect();
            let mut open = sent;
            let mut finished = vec![false; sent];
            self.receive(object, op, |msg| {
                let i = msg.header.sequence_number.wrapping_sub(first) as usize;
                if i >= sent || finished[i] {
                    return Ok(false);
                }
                let done = match msg.payload {
                    NetlinkPayload::InnerMessage(m) => {
                        if let Ok(v) = &mut answers[i] {
                            v.push(m);
                        }
                        false
                    }
                    NetlinkPayload::Error(e) if e.code.is_some() => {
                        answers[i] = Err(map_err(rtnetlink::Error::NetlinkError(e), object, op));
                        true
                    }
                    NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => true,
                    _ => false,
                };
                if done {
                    finished[i] = true;
                    open -= 1;
                }
                Ok(open == 0)
            })?;
            out.extend(answers);
        }
        Ok(out)
    }

    /// Read answers into this thread's buffer and hand each message to `f`
    /// until it says it has seen the last one.
    fn receive(
        &mut self,
        object: &str,
        op: &str,
        mut f: impl FnMut(NetlinkMessage<RouteNetlinkMessage>) -> Result<bool, KernelError>,
    ) -> Result<(), KernelError> {
        let io = |e: std::io::Error| KernelError::io(format!("{object}: {op}"), e);
        BUF.with_borrow_mut(|buf| loop {
            buf.clear();
            buf.reserve(RECV_SIZE);
            self.socket.recv(buf, 0).map_err(io)?;
            let mut at = 0;
            while at < buf.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[at..]).map_err(
                    |e| KernelError::Decode {
                        object: object.to_string(),
                        message: format!("{op}: {e}"),
                    },
                )?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
                if f(msg)? {
                    return Ok(());
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::LinkMessage;

    /// A dump answers every link of the namespace, and a request the kernel
    /// refuses comes back as its error with the object named.
    #[test]
    fn dumps_links_and_reports_refusals() {
        crate::sandboxed!("kernel::rtnl::tests::dumps_links_and_reports_refusals");
        let mut r = Rtnl::open().unwrap();
        let links = r
            .dump(
                || RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "t",
                "dump",
            )
            .unwrap();
        assert!(links
            .iter()
            .any(|m| matches!(m, RouteNetlinkMessage::NewLink(l) if l.header.index == 1)));
        let mut missing = LinkMessage::default();
        missing.header.index = 999_999;
        let err = r
            .ask(RouteNetlinkMessage::GetLink(missing), "node x", "get link")
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
        assert!(err.to_string().starts_with("node x: get link"), "{err}");
        // The socket still answers after a refusal.
        let again = r
            .dump(
                || RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "t",
                "dump",
            )
            .unwrap();
        assert_eq!(again.len(), links.len());
    }

    /// Requests asked together are answered in order, each with its own
    /// answers or refusal, across windows.
    #[test]
    fn asks_many_in_windows() {
        crate::sandboxed!("kernel::rtnl::tests::asks_many_in_windows");
        let mut r = Rtnl::open().unwrap();
        let get = |index: u32| {
            let mut m = LinkMessage::default();
            m.header.index = index;
            RouteNetlinkMessage::GetLink(m)
        };
        let asked = vec![get(1), get(999_999), get(1), get(1), get(999_998)];
        let answers = r.ask_all(asked, 2, "node x", "get link").unwrap();
        assert_eq!(answers.len(), 5);
        for i in [0, 2, 3] {
            let got = answers[i].as_ref().unwrap();
            assert!(
                matches!(&got[..], [RouteNetlinkMessage::NewLink(l)] if l.header.index == 1),
                "{i}: {got:?}"
            );
        }
        for i in [1, 4] {
            let err = answers[i].as_ref().unwrap_err();
            assert_eq!(err.errno(), Some(libc::ENODEV), "{i}: {err}");
        }
        // Nothing is left over for the next exchange.
        let one = r.ask(get(1), "node x", "get link").unwrap();
        assert_eq!(one.len(), 1);
    }
}
