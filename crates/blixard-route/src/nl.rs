//! Netlink plumbing: one request and its ack, dumps with retry, and the
//! pipelined execution of many requests on one socket.

use futures::StreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;

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

enum DumpOutcome {
    Complete(Vec<RouteNetlinkMessage>),
    Interrupted,
}

async fn dump_once(
    mut handle: Handle,
    request: RouteNetlinkMessage,
    what: &'static str,
) -> Result<DumpOutcome, RouteError> {
    let mut msg = NetlinkMessage::from(request);
    msg.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let no_reply = |reason: String| RouteError::NoReply {
        op: "dump",
        object: what.to_string(),
        reason,
    };
    let mut replies = handle
        .request(msg)
        .map_err(|e| no_reply(format!("cannot send: {e}")))?;
    let mut out = Vec::new();
    let mut interrupted = false;
    while let Some(reply) = replies.next().await {
        // The kernel flags the message where it noticed the change, often
        // the final DONE.
        interrupted |= reply.header.flags & NLM_F_DUMP_INTR != 0;
        match reply.payload {
            NetlinkPayload::InnerMessage(m) => out.push(m),
            NetlinkPayload::Done(done) => {
                // See below: a missing routing table is an empty dump.
                if done.code == -(nix::errno::Errno::ENOENT as i32) {
                    return Ok(DumpOutcome::Complete(out));
                }
                if done.code != 0 && done.code != -libc_eintr() {
                    return Err(RouteError::Kernel {
                        op: "dump",
                        object: what.to_string(),
                        errno: std::io::Error::from_raw_os_error(-done.code),
                    });
                }
                interrupted |= done.code == -libc_eintr();
                return Ok(if interrupted {
                    DumpOutcome::Interrupted
                } else {
                    DumpOutcome::Complete(out)
                });
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                let errno = -e.raw_code();
                if errno == libc_eintr() || errno == libc_enobufs() {
                    return Ok(DumpOutcome::Interrupted);
                }
                // A strict-check dump filtered by routing table answers
                // ENOENT when that table does not exist yet (a fresh
                // namespace has no main table until its first route): that
                // is an empty result, not an error.
                if errno == nix::errno::Errno::ENOENT as i32 {
                    return Ok(DumpOutcome::Complete(out));
                }
                return Err(RouteError::Kernel {
                    op: "dump",
                    object: what.to_string(),
                    errno: std::io::Error::from_raw_os_error(errno),
                });
            }
            NetlinkPayload::Overrun(_) => return Ok(DumpOutcome::Interrupted),
            _ => {}
        }
    }
    Err(no_reply(
        "the netlink connection closed before the dump ended".into(),
    ))
}

/// A complete, consistent dump, retried when interrupted.
pub(crate) async fn dump(
    handle: &Handle,
    request: RouteNetlinkMessage,
    what: &'static str,
) -> Result<Vec<RouteNetlinkMessage>, RouteError> {
    for _ in 0..DUMP_ATTEMPTS {
        if let DumpOutcome::Complete(out) = dump_once(handle.clone(), request.clone(), what).await?
        {
            return Ok(out);
        }
    }
    Err(RouteError::DumpInterrupted {
        what,
        attempts: DUMP_ATTEMPTS,
    })
}

fn libc_eintr() -> i32 {
    nix::errno::Errno::EINTR as i32
}

fn libc_enobufs() -> i32 {
    nix::errno::Errno::ENOBUFS as i32
}
