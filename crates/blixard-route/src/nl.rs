//! Netlink plumbing: one request and its ack, dumps with retry, and the
//! pipelined execution of many requests on one socket.

use futures::StreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{Socket, SocketAddr};

use crate::RouteError;

/// Requests in flight at once. Bounded so that the acks of one window fit in
/// the socket's receive buffer (the kernel drops acks that do not fit).
pub(crate) const IN_FLIGHT: usize = 256;

/// How often an interrupted dump is retried before giving up.
const DUMP_ATTEMPTS: u32 = 5;

/// One request whose only answer is an ack.
pub(crate) struct Request {
    pub message: RouteNetlinkMessage,
    /// Flags besides `NLM_F_REQUEST | NLM_F_ACK`.
    pub flags: u16,
    pub op: &'static str,
    pub object: String,
    /// Errnos that mean "already the way we want it" (e.g. ESRCH when
    /// deleting a route that is gone).
    pub already_done: &'static [i32],
}

/// Sends one request and waits for its ack.
pub(crate) async fn ack(mut handle: Handle, req: Request) -> Result<(), RouteError> {
    let mut msg = NetlinkMessage::from(req.message);
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK | req.flags;
    let no_reply = |reason: String| RouteError::NoReply {
        op: req.op,
        object: req.object.clone(),
        reason,
    };
    let mut replies = handle
        .request(msg)
        .map_err(|e| no_reply(format!("cannot send: {e}")))?;
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::Error(e) => {
                let errno = -e.raw_code();
                if errno == 0 || req.already_done.contains(&errno) {
                    return Ok(());
                }
                return Err(RouteError::Kernel {
                    op: req.op,
                    object: req.object,
                    errno: std::io::Error::from_raw_os_error(errno),
                });
            }
            NetlinkPayload::Overrun(_) => {
                return Err(RouteError::Overrun {
                    during: format!("{} {}", req.op, req.object),
                });
            }
            _ => {}
        }
    }
    Err(no_reply(
        "the netlink connection closed before the ack".into(),
    ))
}

/// Sends all requests on the one socket with up to [`IN_FLIGHT`] outstanding
/// and returns the outcome of each, in no particular order.
pub(crate) async fn pipeline(handle: &Handle, reqs: Vec<Request>) -> Vec<Result<(), RouteError>> {
    futures::stream::iter(reqs)
        .map(|r| ack(handle.clone(), r))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

/// Why one pass of a dump stopped short.
enum DumpFailure {
    /// The kernel answered with this errno.
    Kernel(std::io::Error),
    /// The socket failed, or the reply made no sense.
    Socket(std::io::Error),
    /// Messages were dropped (receive buffer overrun).
    Lost,
}

/// A blocking socket for dumps, beside the connection that pipelines
/// changes. Each message is handed to the caller as it is read, so a dump
/// of thousands of links never exists as parsed messages all at once
/// (netlink-proto would decode the whole dump into its channel first: the
/// kernel refills the socket on every read, so it never runs dry).
pub(crate) struct DumpSocket {
    socket: Socket,
    seq: u32,
}

impl DumpSocket {
    /// A socket in the calling thread's namespace, with strict checking so
    /// that the kernel filters route dumps by the request's header fields.
    pub(crate) fn open() -> std::io::Result<DumpSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        socket.set_netlink_get_strict_chk(true)?;
        let _ = socket.set_ext_ack(true);
        Ok(DumpSocket { socket, seq: 0 })
    }

    /// A complete, consistent dump (retried when the kernel marks it
    /// interrupted), each message mapped by `keep` as it arrives.
    pub(crate) fn dump<T>(
        &mut self,
        request: &RouteNetlinkMessage,
        what: &'static str,
        mut keep: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, RouteError> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            match self.dump_once(request, what, &mut |m| out.extend(keep(m))) {
                Ok(true) => return Ok(out),
                Ok(false) => continue,
                // Messages were lost: the rest of this dump may still be
                // queued, so start over on a clean socket.
                Err(DumpFailure::Lost) => {
                    *self = DumpSocket::open().map_err(RouteError::Setup)?;
                }
                Err(DumpFailure::Kernel(errno)) => {
                    return Err(RouteError::Kernel {
                        op: "dump",
                        object: what.to_string(),
                        errno,
                    });
                }
                Err(DumpFailure::Socket(e)) => {
                    return Err(RouteError::NoReply {
                        op: "dump",
                        object: what.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        Err(RouteError::DumpInterrupted {
            what,
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// One request that is answered by one message (`RTM_GETLINK` by name,
    /// a route lookup): `None` when the kernel answers that there is no
    /// such object (`ENODEV`, `ENOENT`, `ESRCH`, `ENETUNREACH`).
    pub(crate) fn get(
        &mut self,
        request: &RouteNetlinkMessage,
        what: &str,
    ) -> Result<Option<RouteNetlinkMessage>, RouteError> {
        let no_reply = |reason: String| RouteError::NoReply {
            op: "get",
            object: what.to_string(),
            reason,
        };
        // With the ack the answer always ends in an error message (code 0
        // after a reply), so the loop below knows when it is complete.
        let seq = self
            .send(request, NLM_F_REQUEST | NLM_F_ACK)
            .map_err(|e| no_reply(e.to_string()))?;
        let mut answer = None;
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .map_err(|e| no_reply(e.to_string()))?;
            for reply in decode(&data).map_err(no_reply)? {
                if reply.header.sequence_number != seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => answer = Some(m),
                    NetlinkPayload::Error(e) => {
                        let errno = -e.raw_code();
                        if errno == 0 {
                            return Ok(answer);
                        }
                        use nix::errno::Errno;
                        if [
                            Errno::ENODEV,
                            Errno::ENOENT,
                            Errno::ESRCH,
                            Errno::ENETUNREACH,
                        ]
                        .iter()
                        .any(|&e| e as i32 == errno)
                        {
                            return Ok(None);
                        }
                        return Err(RouteError::Kernel {
                            op: "get",
                            object: what.to_string(),
                            errno: std::io::Error::from_raw_os_error(errno),
                        });
                    }
                    NetlinkPayload::Overrun(_) => return Err(no_reply("overrun".into())),
                    _ => {}
                }
            }
        }
    }

    /// Sends `request` with `flags`; returns its sequence number.
    fn send(&mut self, request: &RouteNetlinkMessage, flags: u16) -> std::io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = NetlinkMessage::from(request.clone());
        msg.header.flags = flags;
        msg.header.sequence_number = self.seq;
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        Ok(self.seq)
    }

    /// One pass: `Ok(true)` complete, `Ok(false)` interrupted.
    fn dump_once(
        &mut self,
        request: &RouteNetlinkMessage,
        what: &'static str,
        each: &mut dyn FnMut(RouteNetlinkMessage),
    ) -> Result<bool, DumpFailure> {
        let seq = self
            .send(request, NLM_F_REQUEST | NLM_F_DUMP)
            .map_err(DumpFailure::Socket)?;
        let mut interrupted = false;
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(|e| {
                if e.raw_os_error() == Some(libc_enobufs()) {
                    DumpFailure::Lost
                } else {
                    DumpFailure::Socket(e)
                }
            })?;
            let replies = decode(&data).map_err(|e| {
                DumpFailure::Socket(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("reply to the {what} dump: {e}"),
                ))
            })?;
            for reply in replies {
                if reply.header.sequence_number != seq {
                    continue;
                }
                // The kernel flags the message where it noticed the change,
                // often the final DONE.
                interrupted |= reply.header.flags & NLM_F_DUMP_INTR != 0;
                match reply.payload {
                    NetlinkPayload::InnerMessage(m) => each(m),
                    NetlinkPayload::Done(done) => {
                        let errno = -done.code;
                        // A strict-check dump filtered by routing table
                        // answers ENOENT when that table does not exist yet
                        // (a fresh namespace has no main table until its
                        // first route): that is an empty result.
                        if errno == 0 || errno == nix::errno::Errno::ENOENT as i32 {
                            return Ok(!interrupted);
                        }
                        if errno == libc_eintr() {
                            return Ok(false);
                        }
                        return Err(DumpFailure::Kernel(std::io::Error::from_raw_os_error(
                            errno,
                        )));
                    }
                    NetlinkPayload::Error(e) if e.code.is_some() => {
                        let errno = -e.raw_code();
                        if errno == libc_eintr() {
                            return Ok(false);
                        }
                        if errno == nix::errno::Errno::ENOENT as i32 {
                            return Ok(true);
                        }
                        if errno == libc_enobufs() {
                            return Err(DumpFailure::Lost);
                        }
                        return Err(DumpFailure::Kernel(std::io::Error::from_raw_os_error(
                            errno,
                        )));
                    }
                    NetlinkPayload::Overrun(_) => return Err(DumpFailure::Lost),
                    _ => {}
                }
            }
        }
    }
}

/// The messages of one received buffer, in order.
fn decode(data: &[u8]) -> Result<Vec<NetlinkMessage<RouteNetlinkMessage>>, String> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let reply: NetlinkMessage<RouteNetlinkMessage> =
            NetlinkMessage::deserialize(&data[offset..])
                .map_err(|e| format!("undecodable netlink message: {e}"))?;
        let len = reply.header.length as usize;
        if len == 0 {
            return Err("zero-length netlink message".into());
        }
        offset += (len + 3) & !3;
        out.push(reply);
    }
    Ok(out)
}

fn libc_eintr() -> i32 {
    nix::errno::Errno::EINTR as i32
}

fn libc_enobufs() -> i32 {
    nix::errno::Errno::ENOBUFS as i32
}
