//! Reading: a whole dump with its one retry policy, and one object by key.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_ECHO, NLM_F_REQUEST, NetlinkDeserializable,
    NetlinkPayload, NetlinkSerializable,
};
use nix::errno::Errno;

use crate::error::{ErrorKind, NetlinkError};
use crate::socket::NetlinkSocket;
use crate::wire;

/// How often a dump (or get) is tried before [`ErrorKind::Interrupted`].
pub const ATTEMPTS: u32 = 8;

/// Answers to a `get` that mean "there is no such object".
const MISSING: [Errno; 4] = [
    Errno::ENODEV,
    Errno::ENOENT,
    Errno::ESRCH,
    Errno::ENETUNREACH,
];

/// How one pass stopped short.
enum Failure {
    /// Interrupted by a concurrent change: start over on the same socket.
    Interrupted,
    /// Messages were lost (receive buffer overrun): the rest of the pass
    /// may still be queued, so start over on a fresh socket.
    Lost,
    /// Final.
    Fatal(ErrorKind),
}

impl<M: NetlinkSerializable + NetlinkDeserializable> NetlinkSocket<M> {
    /// A complete, consistent dump of what `request` asks for, each message
    /// mapped by `keep` as it arrives (a dump of thousands of links never
    /// exists as parsed messages all at once).
    ///
    /// The one retry policy: a dump the kernel marks interrupted
    /// (`NLM_F_DUMP_INTR`, or `EINTR`) is run again; one that lost messages
    /// (`ENOBUFS`, overrun) is run again on a fresh socket; up to
    /// [`ATTEMPTS`] times. `ENOENT` is an empty result: a strict-check route
    /// dump filtered by table answers it when that table does not exist yet
    /// (a fresh namespace has no main table until its first route).
    pub fn dump<T>(
        &mut self,
        request: &M,
        object: &str,
        mut keep: impl FnMut(M) -> Option<T>,
    ) -> Result<Vec<T>, NetlinkError> {
        let mut out = Vec::new();
        self.retrying("dump", object, |socket| {
            out.clear();
            socket.dump_once(request, &mut |m| out.extend(keep(m)))
        })?;
        Ok(out)
    }

    /// The answer to a request for one object (`RTM_GETLINK` by name, a
    /// route lookup, nf_tables `GETTABLE`), or `None` when the kernel
    /// answers that there is no such object (`ENODEV`, `ENOENT`, `ESRCH`,
    /// `ENETUNREACH`). Retried on a fresh socket when replies were lost.
    pub fn get(&mut self, request: &M, object: &str) -> Result<Option<M>, NetlinkError> {
        self.retrying("get", object, |socket| socket.get_once(request, 0))
    }

    /// [`Self::get`] for requests the kernel answers only when asked to
    /// echo (`NLM_F_ECHO`): traffic control's `RTM_GETQDISC` and the like
    /// otherwise announce their answer to the multicast group alone.
    pub fn get_echoed(&mut self, request: &M, object: &str) -> Result<Option<M>, NetlinkError> {
        self.retrying("get", object, |socket| socket.get_once(request, NLM_F_ECHO))
    }

    /// Runs `pass` under the retry policy of [`Self::dump`].
    fn retrying<T>(
        &mut self,
        op: &'static str,
        object: &str,
        mut pass: impl FnMut(&mut Self) -> Result<T, Failure>,
    ) -> Result<T, NetlinkError> {
        for _ in 0..ATTEMPTS {
            match pass(self) {
                Ok(v) => return Ok(v),
                Err(Failure::Interrupted) => {}
                Err(Failure::Lost) => self.reopen()?,
                Err(Failure::Fatal(kind)) => {
                    // The kernel may still be answering: nothing of that
                    // may reach the next request.
                    self.reopen()?;
                    return Err(NetlinkError::new(op, object, kind));
                }
            }
        }
        Err(NetlinkError::new(
            op,
            object,
            ErrorKind::Interrupted { attempts: ATTEMPTS },
        ))
    }

    fn dump_once(&mut self, request: &M, each: &mut dyn FnMut(M)) -> Result<(), Failure> {
        let seq = self
            .send_one(request, NLM_F_REQUEST | NLM_F_DUMP)
            .map_err(io_failure)?;
        let mut interrupted = false;
        self.replies_to(seq, |flags, payload| {
            // The kernel flags the message where it noticed the change,
            // often the final DONE.
            interrupted |= flags & NLM_F_DUMP_INTR != 0;
            let outcome = match payload {
                NetlinkPayload::InnerMessage(m) => {
                    each(m);
                    return None;
                }
                NetlinkPayload::Done(done) => {
                    ended(-done.code, || wire::done_ext_ack(flags, &done.extended_ack))
                }
                NetlinkPayload::Error(e) => {
                    ended(-e.raw_code(), || wire::error_ext_ack(flags, &e.header))
                }
                NetlinkPayload::Overrun(_) => Err(Failure::Lost),
                _ => return None,
            };
            Some(match outcome {
                Ok(()) if interrupted => Err(Failure::Interrupted),
                other => other,
            })
        })
    }

    fn get_once(&mut self, request: &M, extra: u16) -> Result<Option<M>, Failure> {
        // With the ack, the answer always ends in an error message (code 0
        // after a reply), so the reading knows when it is complete.
        let seq = self
            .send_one(request, NLM_F_REQUEST | NLM_F_ACK | extra)
            .map_err(io_failure)?;
        let mut answer = None;
        self.replies_to(seq, |flags, payload| match payload {
            NetlinkPayload::InnerMessage(m) => {
                answer = Some(m);
                None
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                let errno = -e.raw_code();
                Some(if MISSING.iter().any(|&m| m as i32 == errno) {
                    Ok(None)
                } else {
                    Err(kernel(errno, wire::error_ext_ack(flags, &e.header)))
                })
            }
            NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => Some(Ok(answer.take())),
            NetlinkPayload::Overrun(_) => Some(Err(Failure::Lost)),
            _ => None,
        })
    }

    /// Reads the replies to request `seq` (skipping any other), handing each
    /// to `each` with its header flags until it returns the outcome.
    fn replies_to<R>(
        &mut self,
        seq: u32,
        mut each: impl FnMut(u16, NetlinkPayload<M>) -> Option<Result<R, Failure>>,
    ) -> Result<R, Failure> {
        loop {
            let data = self.recv().map_err(io_failure)?;
            for frame in wire::frames(data) {
                let frame = frame.map_err(reply_failure)?;
                if frame.seq != seq {
                    continue;
                }
                let message = frame.decode::<M>().map_err(reply_failure)?;
                if let Some(outcome) = each(frame.flags, message.payload) {
                    return outcome;
                }
            }
        }
    }
}

/// What a dump's final errno means.
fn ended(errno: i32, ext_ack: impl FnOnce() -> Option<String>) -> Result<(), Failure> {
    match Errno::from_raw(errno) {
        _ if errno == 0 => Ok(()),
        Errno::ENOENT => Ok(()),
        Errno::EINTR => Err(Failure::Interrupted),
        Errno::ENOBUFS => Err(Failure::Lost),
        _ => Err(kernel(errno, ext_ack())),
    }
}

fn kernel(errno: i32, ext_ack: Option<String>) -> Failure {
    Failure::Fatal(ErrorKind::Kernel {
        errno: io::Error::from_raw_os_error(errno),
        ext_ack,
    })
}

fn io_failure(e: io::Error) -> Failure {
    if e.raw_os_error() == Some(Errno::ENOBUFS as i32) {
        Failure::Lost
    } else {
        Failure::Fatal(ErrorKind::Io(e))
    }
}

fn reply_failure(reason: String) -> Failure {
    Failure::Fatal(ErrorKind::Reply(reason))
}
