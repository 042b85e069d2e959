//! Socket setup, and sending and receiving whole datagrams.

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use netlink_packet_core::{NetlinkDeserializable, NetlinkSerializable};
use netlink_sys::{Socket, SocketAddr};
use nix::libc;

use crate::error::{ErrorKind, NetlinkError};
use crate::wire;

/// Receive buffer asked for: room for the acks of a full pipeline window
/// and for dump replies the caller is slow to read. Root may exceed
/// `net.core.rmem_max` (`SO_RCVBUFFORCE`); others get what `SO_RCVBUF`
/// allows, and the pipeline window shrinks to fit.
pub const RECEIVE_BUFFER: usize = 8 << 20;

/// What one queued ack costs in the receive buffer: the kernel charges an
/// skb's true size (a few hundred bytes of bookkeeping around a 36-byte
/// capped ack, more with an extended-ack message), not its payload.
const ACK_TRUESIZE: usize = 1024;

/// A blocking netlink socket speaking messages of type `M` (for example
/// `RouteNetlinkMessage` on [`NETLINK_ROUTE`](crate::protocols::NETLINK_ROUTE)),
/// made in the network namespace of the thread that opened it.
pub struct NetlinkSocket<M> {
    socket: Socket,
    protocol: isize,
    /// The namespace the socket lives in, so that a fresh socket (and
    /// [`Self::in_netns`]) goes there even from a thread elsewhere.
    netns: File,
    netns_ino: u64,
    seq: u32,
    /// Reused for every datagram received.
    buffer: Vec<u8>,
    _message: PhantomData<fn(M) -> M>,
}

impl<M> std::fmt::Debug for NetlinkSocket<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetlinkSocket")
            .field("protocol", &self.protocol)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<M: NetlinkSerializable + NetlinkDeserializable> NetlinkSocket<M> {
    /// A socket of `protocol` in the calling thread's network namespace,
    /// with strict checking (`NETLINK_GET_STRICT_CHK`: the kernel filters
    /// route dumps by the request's header fields and rejects what it does
    /// not understand), extended acks (errors come with the kernel's text),
    /// capped acks (an ack does not echo the whole request) and a receive
    /// buffer of [`RECEIVE_BUFFER`] where allowed.
    pub fn open(protocol: isize) -> Result<Self, NetlinkError> {
        let fail = |e| NetlinkError::new("open", "netlink socket", ErrorKind::Io(e));
        let netns = File::open(THREAD_NETNS).map_err(fail)?;
        let netns_ino = netns.metadata().map_err(fail)?.ino();
        Ok(NetlinkSocket {
            socket: setup(protocol)?,
            protocol,
            netns,
            netns_ino,
            seq: 0,
            buffer: Vec::with_capacity(64 << 10),
            _message: PhantomData,
        })
    }

    /// Replaces the socket with a fresh one of the same protocol in the
    /// same namespace: what is still queued on the old one (the rest of an
    /// abandoned dump, acks after an overrun) goes with it. Sequence
    /// numbers keep counting, so nothing old is mistaken for a new answer.
    pub(crate) fn reopen(&mut self) -> Result<(), NetlinkError> {
        let protocol = self.protocol;
        self.socket = self.in_netns(|| setup(protocol)).map_err(|e| {
            NetlinkError::new("open", "netlink socket", ErrorKind::Io(io::Error::other(e)))
        })??;
        Ok(())
    }

    /// Runs `f` in the socket's network namespace: directly when the
    /// calling thread is already there, else on a helper thread that enters
    /// it (for what only the calling thread's namespace reaches, such as
    /// `/proc/sys/net`).
    pub fn in_netns<T: Send>(
        &self,
        f: impl FnOnce() -> T + Send,
    ) -> Result<T, blixard_netns::NetnsError> {
        let here = std::fs::metadata(THREAD_NETNS).map(|m| m.ino()).ok();
        if here == Some(self.netns_ino) {
            return Ok(f());
        }
        let path = format!("/proc/self/fd/{}", self.netns.as_raw_fd());
        blixard_netns::run_in(&blixard_netns::Netns::Path(path.into()), f)
    }

    /// The receive buffer the kernel granted, in bytes (`SO_RCVBUF`, which
    /// reports twice the size asked for).
    pub fn receive_buffer(&self) -> usize {
        self.socket.get_rx_buf_sz().unwrap_or(0)
    }

    /// How many acks fit in the receive buffer at once.
    pub(crate) fn ack_capacity(&self) -> usize {
        (self.receive_buffer() / ACK_TRUESIZE).max(1)
    }

    /// The next `count` sequence numbers; returns the first.
    pub(crate) fn reserve_seq(&mut self, count: usize) -> u32 {
        let first = self.seq.wrapping_add(1);
        self.seq = self.seq.wrapping_add(count as u32);
        first
    }

    /// Sends `message` alone; returns its sequence number.
    pub(crate) fn send_one(&mut self, message: &M, flags: u16) -> io::Result<u32> {
        let seq = self.reserve_seq(1);
        let mut buf = Vec::new();
        wire::encode(&mut buf, message, flags, seq);
        self.send(&buf)?;
        Ok(seq)
    }

    /// The socket itself, for options this layer does not wrap.
    pub(crate) fn raw(&self) -> &Socket {
        &self.socket
    }

    /// Sends one datagram holding one or more encoded messages.
    pub(crate) fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.socket.send(datagram, 0).map(|_| ())
    }

    /// Reads one whole datagram, whatever its size. `ENOBUFS` here means the
    /// kernel dropped messages because the receive buffer was full.
    pub(crate) fn recv(&mut self) -> io::Result<&[u8]> {
        loop {
            self.buffer.clear();
            let len = self
                .socket
                .recv(&mut self.buffer, libc::MSG_PEEK | libc::MSG_TRUNC)?;
            if len <= self.buffer.capacity() {
                break;
            }
            self.buffer.reserve(len);
        }
        self.buffer.clear();
        let got = self.socket.recv(&mut self.buffer, libc::MSG_TRUNC)?;
        if got > self.buffer.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a {got}-byte datagram was cut to {}", self.buffer.len()),
            ));
        }
        Ok(&self.buffer)
    }
}

const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// A connected socket of `protocol` in the calling thread's namespace,
/// with the options [`NetlinkSocket::open`] describes.
fn setup(protocol: isize) -> Result<Socket, NetlinkError> {
    let fail = |e| NetlinkError::new("open", "netlink socket", ErrorKind::Io(e));
    let mut socket = Socket::new(protocol).map_err(fail)?;
    socket.bind_auto().map_err(fail)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(fail)?;
    socket.set_netlink_get_strict_chk(true).map_err(fail)?;
    // Best effort: older kernels lack them, and the errors stay usable.
    let _ = socket.set_ext_ack(true);
    let _ = socket.set_cap_ack(true);
    let forced = nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::RcvBufForce,
        &RECEIVE_BUFFER,
    );
    if forced.is_err() {
        // Capped by rmem_max; the pipeline window follows what we got.
        let _ = socket.set_rx_buf_sz(RECEIVE_BUFFER as libc::c_int);
    }
    Ok(socket)
}
