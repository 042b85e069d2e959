//! Changing things: one request and its ack, and many requests pipelined
//! on the one socket with a bounded window.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkDeserializable, NetlinkPayload, NetlinkSerializable,
};
use nix::errno::Errno;

use crate::error::{ErrorKind, NetlinkError};
use crate::socket::NetlinkSocket;
use crate::wire;

/// Bytes of requests sent in one datagram at most (the kernel refuses a
/// datagram larger than the socket's send buffer).
const DATAGRAM_MAX: usize = 64 << 10;

/// One request whose only answer is an ack.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request<M> {
    /// The message.
    pub message: M,
    /// Header flags besides `NLM_F_REQUEST | NLM_F_ACK` (e.g.
    /// `NLM_F_CREATE | NLM_F_REPLACE`).
    pub flags: u16,
    /// What it does, for errors: `add route`.
    pub op: &'static str,
    /// What it does it to, for errors: `10.0.0.7/32 dev vm7 proto 177`.
    pub object: String,
    /// Errnos that mean "already the way we want it" (`ESRCH` when deleting
    /// a route that is gone).
    pub already_done: &'static [i32],
}

impl<M> Request<M> {
    /// A request with no extra flags, for which only success counts.
    pub fn new(message: M, op: &'static str, object: impl Into<String>) -> Self {
        Request {
            message,
            flags: 0,
            op,
            object: object.into(),
            already_done: &[],
        }
    }

    /// With these header flags besides `NLM_F_REQUEST | NLM_F_ACK`.
    pub fn flags(mut self, flags: u16) -> Self {
        self.flags = flags;
        self
    }

    /// With these errnos counting as success.
    pub fn already_done(mut self, errnos: &'static [i32]) -> Self {
        self.already_done = errnos;
        self
    }
}

impl<M: NetlinkSerializable + NetlinkDeserializable> NetlinkSocket<M> {
    /// Sends one request and waits for its ack.
    pub fn request(&mut self, request: Request<M>) -> Result<(), NetlinkError> {
        self.pipeline(vec![request], 1)?
            .pop()
            .expect("one answer per request")
    }

    /// Sends `requests` on the one socket with at most `window` of them
    /// unanswered at once (fewer if the receive buffer holds fewer acks:
    /// the kernel drops acks that do not fit), reading acks as they come and
    /// matching them to requests by sequence number. The kernel carries out
    /// each request whatever happened to the ones before it.
    ///
    /// Returns the outcome of each request, in the order given: every
    /// failure with its errno and extended-ack text. The outer error is for
    /// the pipeline as a whole: the socket failed, or the receive buffer
    /// overran ([`ErrorKind::Overrun`]), so some acks were lost and the
    /// outcome of some requests is unknown (reported, rather than waiting
    /// for acks that will never come).
    pub fn pipeline(
        &mut self,
        mut requests: Vec<Request<M>>,
        window: usize,
    ) -> Result<Vec<Result<(), NetlinkError>>, NetlinkError> {
        let Some(head) = requests.first() else {
            return Ok(Vec::new());
        };
        let whole = format!(
            "{} request(s) starting with {} {}",
            requests.len(),
            head.op,
            head.object
        );
        let fail = |kind| NetlinkError::new("pipeline", whole.clone(), kind);
        let window = window.min(self.ack_capacity()).max(1);
        let first = self.reserve_seq(requests.len());
        let mut answers: Vec<Option<Result<(), NetlinkError>>> =
            requests.iter().map(|_| None).collect();
        let (mut sent, mut answered) = (0, 0);
        let mut datagram = Vec::new();
        while answered < requests.len() {
            // Refill once half the window is answered: one datagram carries
            // many requests, so sends stay few.
            if sent < requests.len() && sent - answered <= window / 2 {
                let end = (answered + window).min(requests.len());
                for (i, r) in requests.iter().enumerate().take(end).skip(sent) {
                    let seq = first.wrapping_add(i as u32);
                    wire::encode(
                        &mut datagram,
                        &r.message,
                        NLM_F_REQUEST | NLM_F_ACK | r.flags,
                        seq,
                    );
                    if datagram.len() >= DATAGRAM_MAX || i + 1 == end {
                        self.send(&datagram).map_err(|e| fail(ErrorKind::Io(e)))?;
                        datagram.clear();
                    }
                }
                sent = end;
            }
            let data = match self.recv() {
                Ok(data) => data,
                Err(e) if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => {
                    self.reopen()?;
                    return Err(fail(ErrorKind::Overrun));
                }
                Err(e) => return Err(fail(ErrorKind::Io(e))),
            };
            let mut lost = false;
            for frame in wire::frames(data) {
                let frame = frame.map_err(|e| fail(ErrorKind::Reply(e)))?;
                let i = frame.seq.wrapping_sub(first) as usize;
                if i >= sent || answers[i].is_some() {
                    continue;
                }
                match frame
                    .decode::<M>()
                    .map_err(|e| fail(ErrorKind::Reply(e)))?
                    .payload
                {
                    NetlinkPayload::Error(e) => {
                        let r = &mut requests[i];
                        let errno = -e.raw_code();
                        answers[i] = Some(if errno == 0 || r.already_done.contains(&errno) {
                            Ok(())
                        } else {
                            Err(NetlinkError::new(
                                r.op,
                                std::mem::take(&mut r.object),
                                ErrorKind::Kernel {
                                    errno: io::Error::from_raw_os_error(errno),
                                    ext_ack: wire::error_ext_ack(frame.flags, &e.header),
                                },
                            ))
                        });
                        answered += 1;
                    }
                    NetlinkPayload::Overrun(_) => lost = true,
                    _ => {}
                }
            }
            if lost {
                self.reopen()?;
                return Err(fail(ErrorKind::Overrun));
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request answered"))
            .collect())
    }
}
