//! Notifications: joining multicast groups and reading what the kernel
//! announces there (a link, address, route or neighbour that changed), for
//! a long-running reconcile that repairs drift as it happens.

use netlink_packet_core::{NetlinkDeserializable, NetlinkPayload, NetlinkSerializable};
use nix::errno::Errno;

use crate::error::{ErrorKind, NetlinkError};
use crate::socket::NetlinkSocket;
use crate::wire;

impl<M: NetlinkSerializable + NetlinkDeserializable> NetlinkSocket<M> {
    /// Joins multicast `groups` (`RTNLGRP_*` numbers for rtnetlink): from
    /// now on the kernel copies each change it announces there to this
    /// socket. A socket that listens should make no requests, or their
    /// replies and the notifications interleave.
    pub fn join_groups(&mut self, groups: &[u32]) -> Result<(), NetlinkError> {
        for &group in groups {
            self.raw().add_membership(group).map_err(|e| {
                NetlinkError::new("join", format!("multicast group {group}"), ErrorKind::Io(e))
            })?;
        }
        Ok(())
    }

    /// Blocks until the kernel sends the next datagram and returns the
    /// notifications in it, decoded (one datagram may hold several).
    /// [`ErrorKind::Overrun`] (`ENOBUFS`): notifications were lost, so the
    /// caller must read the whole state again; the socket stays usable.
    pub fn next_notifications(&mut self) -> Result<Vec<M>, NetlinkError> {
        let fail = |kind| NetlinkError::new("receive", "notifications", kind);
        let data = match self.recv() {
            Ok(data) => data,
            Err(e) if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => {
                return Err(fail(ErrorKind::Overrun));
            }
            Err(e) => return Err(fail(ErrorKind::Io(e))),
        };
        let mut out = Vec::new();
        for frame in wire::frames(data) {
            let frame = frame.map_err(|e| fail(ErrorKind::Reply(e)))?;
            match frame
                .decode::<M>()
                .map_err(|e| fail(ErrorKind::Reply(e)))?
                .payload
            {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Overrun(_) => return Err(fail(ErrorKind::Overrun)),
                _ => {}
            }
        }
        Ok(out)
    }
}
