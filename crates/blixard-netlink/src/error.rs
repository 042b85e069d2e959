//! The one error type: what was attempted, on what, and why (the kernel's
//! errno with its extended-ack text, or what went wrong on our side).

use std::io;

/// A netlink operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {object}: {kind}")]
#[non_exhaustive]
pub struct NetlinkError {
    /// What was attempted: `dump`, `get`, or the request's own op
    /// (`add route`, `marking`).
    pub op: &'static str,
    /// What it was attempted on (`links`, `10.0.0.7/32 dev vm7 proto 177`).
    pub object: String,
    /// Why it failed.
    pub kind: ErrorKind,
}

/// Why a netlink operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The kernel refused the request.
    #[error("{errno}{}", ext_ack.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel {
        /// The kernel's errno.
        errno: io::Error,
        /// The kernel's extended-ack message (`NLMSGERR_ATTR_MSG`), when it
        /// gave one.
        ext_ack: Option<String>,
    },
    /// The socket failed (open, send or receive).
    #[error("{0}")]
    Io(io::Error),
    /// The socket's receive buffer overflowed: replies were lost, so the
    /// outcome of some requests is unknown. Reported instead of waiting for
    /// acks that will never come.
    #[error(
        "netlink receive buffer overran: replies were lost, so the outcome of some requests is unknown"
    )]
    Overrun,
    /// A dump kept being interrupted by concurrent changes
    /// (`NLM_F_DUMP_INTR`, `EINTR`) or overruns.
    #[error("interrupted by concurrent changes {attempts} times in a row")]
    Interrupted {
        /// How often it was tried.
        attempts: u32,
    },
    /// A reply could not be decoded, or made no sense.
    #[error("unexpected netlink reply: {0}")]
    Reply(String),
}

impl NetlinkError {
    pub(crate) fn new(op: &'static str, object: impl Into<String>, kind: ErrorKind) -> Self {
        NetlinkError {
            op,
            object: object.into(),
            kind,
        }
    }

    /// The errno behind the error: the kernel's, or the socket's.
    pub fn errno(&self) -> Option<i32> {
        match &self.kind {
            ErrorKind::Kernel { errno, .. } | ErrorKind::Io(errno) => errno.raw_os_error(),
            _ => None,
        }
    }

    /// The kernel's extended-ack message, if it gave one.
    pub fn ext_ack(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Kernel { ext_ack, .. } => ext_ack.as_deref(),
            _ => None,
        }
    }

    /// Whether replies were lost to a receive-buffer overrun.
    pub fn is_overrun(&self) -> bool {
        matches!(self.kind, ErrorKind::Overrun)
    }
}

impl From<NetlinkError> for io::Error {
    /// Keeps the errno's kind where there is one, with the whole message.
    fn from(e: NetlinkError) -> io::Error {
        match e.errno() {
            Some(errno) => io::Error::new(io::Error::from_raw_os_error(errno).kind(), e),
            None => io::Error::other(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_op_object_errno_and_ext_ack() {
        let e = NetlinkError::new(
            "add route",
            "10.0.0.7/32 dev vm7 proto 177",
            ErrorKind::Kernel {
                errno: io::Error::from_raw_os_error(17),
                ext_ack: Some("Route exists".into()),
            },
        );
        assert_eq!(
            e.to_string(),
            "add route 10.0.0.7/32 dev vm7 proto 177: File exists (os error 17) (Route exists)"
        );
        assert_eq!((e.errno(), e.ext_ack()), (Some(17), Some("Route exists")));
        let plain = NetlinkError::new(
            "get",
            "vm7",
            ErrorKind::Kernel {
                errno: io::Error::from_raw_os_error(1),
                ext_ack: None,
            },
        );
        assert_eq!(
            plain.to_string(),
            "get vm7: Operation not permitted (os error 1)"
        );
        assert!(!plain.is_overrun());
    }

    #[test]
    fn converts_to_io_keeping_the_errno_kind() {
        let e = NetlinkError::new(
            "get",
            "table",
            ErrorKind::Kernel {
                errno: io::Error::from_raw_os_error(1),
                ext_ack: None,
            },
        );
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
        assert!(io.to_string().contains("get table"), "{io}");
        let lost: io::Error = NetlinkError::new("dump", "links", ErrorKind::Overrun).into();
        assert_eq!(lost.kind(), io::ErrorKind::Other);
    }
}
