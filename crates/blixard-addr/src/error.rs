//! Typed errors of the pure core.

use thiserror::Error;

/// A layout or mapping problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The index is 0 or beyond what the pool holds.
    #[error(
        "VM index {index} is out of range: valid indices are 1..={max} (0 is the host gateway)"
    )]
    IndexOutOfRange {
        /// The index asked for.
        index: u32,
        /// The largest valid index.
        max: u32,
    },
    /// A pool was written with host bits set, e.g. `10.0.0.1/24`.
    #[error(
        "pool {0} is not a network address (did you mean its network, with the host bits zero?)"
    )]
    PoolNotNetwork(String),
    /// A pool in a range the kernel treats specially (loopback, multicast,
    /// link-local, ...): its addresses cannot be a VM's.
    #[error("pool {pool} cannot hold VMs: {reason}")]
    SpecialPool {
        /// The pool as given.
        pool: String,
        /// Which range it hits, and what to use instead.
        reason: String,
    },
    /// A pool too small to hold the gateway and a VM.
    #[error("pool {0} is too small: it must hold the gateway and at least one VM")]
    PoolTooSmall(String),
    /// A bad interface name template.
    #[error("interface template {template:?} {reason}")]
    BadTemplate {
        /// The template as given.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The interface name of the largest index is longer than the kernel allows.
    #[error("interface name {name:?} is longer than {max} bytes (the kernel's limit)")]
    NameTooLong {
        /// The offending name.
        name: String,
        /// The limit.
        max: usize,
    },
    /// The VM count does not fit in the pool.
    #[error("{count} VMs do not fit in the pool: at most {max} (use a larger pool, e.g. a /16)")]
    TooManyVms {
        /// The VM count asked for.
        count: u32,
        /// What the pool holds.
        max: u32,
    },
    /// A string that is not a MAC address.
    #[error("{0:?} is not a MAC address")]
    BadMac(String),
    /// No VM matches the query.
    #[error("no VM in this layout matches {0:?}")]
    NoSuchVm(String),
}

/// What an address of `[bgp]` is for, in an error about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BgpRole {
    /// `bgp.router_id`.
    RouterId,
    /// `bgp.peers[N].address`.
    Peer,
    /// `bgp.ipv6_next_hop`.
    Ipv6NextHop,
}

impl std::fmt::Display for BgpRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BgpRole::RouterId => "the router id",
            BgpRole::Peer => "a peer",
            BgpRole::Ipv6NextHop => "the IPv6 next hop",
        })
    }
}

/// What is wrong with a configuration; [`ConfigError`] adds where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A config file larger than [`crate::config::MAX_CONFIG_BYTES`].
    #[error(
        "the file is {bytes} bytes; config files are limited to 1 MiB ({} bytes)",
        crate::config::MAX_CONFIG_BYTES
    )]
    TooBig {
        /// Its size.
        bytes: u64,
    },
    /// TOML syntax, a wrong type or an unknown key (the parser's message).
    #[error("{0}")]
    Toml(String),
    /// A layout problem (pool, template, index, VM count).
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// `vms` selects no VM at all.
    #[error("no VMs selected: use a count >= 1 or a non-empty list")]
    NoVms,
    /// The same index is selected twice.
    #[error("VM index {index} is listed more than once")]
    DuplicateVm {
        /// The repeated index.
        index: u32,
    },
    /// A `"A-B"` range that is not two indices with A <= B.
    #[error("{range:?} is not a range: write \"A-B\" with indices A <= B, e.g. \"10-20\"")]
    BadRange {
        /// The range as written.
        range: String,
    },
    /// `tap.queues` is 0.
    #[error("queues must be at least 1")]
    ZeroQueues,
    /// `tap.queues` > 1 on single-queue taps.
    #[error("{queues} queues need multi-queue taps: set tap.multi_queue = true")]
    QueuesWithoutMultiQueue {
        /// The queue count asked for.
        queues: u16,
    },
    /// `tap.mtu` outside what the kernel accepts on a tap.
    #[error("MTU {mtu} is outside 68..=65521")]
    MtuOutOfRange {
        /// The MTU asked for.
        mtu: u32,
    },
    /// `tap.mtu` below what IPv6 needs, with IPv6 on.
    #[error(
        "MTU {mtu} is too small: IPv6 needs an MTU of at least 1280 (RFC 8200) and the kernel refuses IPv6 addresses on a smaller link; raise tap.mtu or set ipv6.enabled = false"
    )]
    MtuTooSmallForIpv6 {
        /// The MTU asked for.
        mtu: u32,
    },
    /// A host port or rule port of 0.
    #[error("port 0 is not a port: TCP and UDP ports are 1..=65535")]
    PortZero,
    /// An owner or group id that the kernel reads as "unset".
    #[error(
        "{id} is -1 as a 32-bit id, the kernel's \"unset\" value, which a tap cannot be given (TUNSETOWNER/TUNSETGROUP refuse it); name a real user or group"
    )]
    UnsetId {
        /// The id.
        id: u32,
    },
    /// The external interface is one of the taps the plan creates.
    #[error(
        "{name:?} is a tap this plan creates (VM {index}), not an uplink: name the interface towards the internet, \"auto\" (the default route's) or \"none\""
    )]
    ExternalIsPlannedTap {
        /// The interface named.
        name: String,
        /// The VM whose tap it is.
        index: u32,
    },
    /// The gateway device's name is one of the taps the plan creates.
    #[error(
        "{name:?} is the tap of VM {index} in this plan; the gateway device needs a name of its own"
    )]
    GatewayIsPlannedTap {
        /// The name given.
        name: String,
        /// The VM whose tap it is.
        index: u32,
    },
    /// The gateway device's name is the uplink's.
    #[error(
        "{name:?} is the external interface; the gateway device is one of ours and needs a name of its own"
    )]
    GatewayIsUplink {
        /// The name given.
        name: String,
    },
    /// A rule has a port but no tcp/udp protocol.
    #[error("a port needs protocol \"tcp\" or \"udp\"")]
    PortWithoutProtocol,
    /// A rule endpoint that cannot be parsed.
    #[error("{selector:?} is not a rule endpoint: {reason}")]
    BadSelector {
        /// The endpoint as written.
        selector: String,
        /// Why.
        reason: String,
    },
    /// A rule endpoint names a VM that `vms` does not wire.
    #[error("{selector:?} names VM {index}, which `vms` does not wire")]
    VmNotPlanned {
        /// The endpoint as written.
        selector: String,
        /// The index it names.
        index: u32,
    },
    /// A `[[forwards]]` entry that cannot be written: ICMP, a VM that is
    /// no name of the layout, an address of a family VMs do not have.
    #[error("this forward cannot work: {reason}")]
    BadForward {
        /// Why, and what to write instead.
        reason: String,
    },
    /// Two forwards of the same host address, port and protocol.
    #[error(
        "forwards[{earlier}] already forwards this address, port and protocol: a host port goes to one VM"
    )]
    DuplicateForward {
        /// The entry that forwards it first.
        earlier: usize,
    },
    /// A rule that can never match: an earlier rule with the same match
    /// already decides every packet it would see.
    #[error(
        "conflicting rules: rule {rule} can never match because rule {earlier} has the same from/to/protocol/port and comes first"
    )]
    ConflictingRule {
        /// The dead rule (0-based, as in `firewall.rules[N]`).
        rule: usize,
        /// The earlier rule that shadows it.
        earlier: usize,
    },
    /// A rule no packet can match where its endpoints put it (host to
    /// host, two networks neither of which is a VM, `external` with no
    /// external interface, an IPv4 and an IPv6 end).
    #[error("this rule can never match: {reason}")]
    RuleCannotMatch {
        /// Why, and what to write instead.
        reason: String,
    },
    /// A network written with host bits set, e.g. `192.168.50.1/24`.
    #[error("{network} is not a network address: write {suggest}")]
    NotANetwork {
        /// The value as written.
        network: String,
        /// Its network, with the host bits zero.
        suggest: String,
    },
    /// A name with characters that are unsafe in nft, shell or file names.
    #[error("{value:?} is not allowed: {reason}")]
    UnsafeName {
        /// The value as written.
        value: String,
        /// Why.
        reason: String,
    },
    /// `ownership.link_group` is 0, the group every link starts in.
    #[error("link_group 0 is the default group of every interface; pick another number")]
    LinkGroupZero,
    /// `ownership.route_protocol` is one the kernel reserves.
    #[error(
        "route protocol {protocol} is reserved by the kernel (0..=4); pick one of your own, e.g. 177"
    )]
    ReservedRouteProtocol {
        /// The protocol asked for.
        protocol: u8,
    },
    /// A BGP AS number that no session can use.
    #[error(
        "AS {asn} is reserved ({reason}); use a private AS such as 64512 (64512..=65534 or 4200000000..=4294967294) or your own"
    )]
    ReservedAsn {
        /// The AS asked for.
        asn: u32,
        /// Which reservation it hits.
        reason: String,
    },
    /// An address that cannot play its part in a BGP session (router id,
    /// peer, next hop).
    #[error("{address} cannot be {role}: {reason}")]
    BadBgpAddress {
        /// The address as given.
        address: std::net::IpAddr,
        /// What it was meant to be.
        role: BgpRole,
        /// Why it cannot.
        reason: String,
    },
    /// A BGP peer listed twice.
    #[error("peer {address} is already bgp.peers[{earlier}]: one session per peer")]
    DuplicatePeer {
        /// The repeated address.
        address: std::net::Ipv4Addr,
        /// The entry that lists it first.
        earlier: usize,
    },
    /// A file path that must be absolute.
    #[error(
        "{path:?} is not an absolute path: blixard-net and BIRD run from different directories"
    )]
    RelativePath {
        /// The path as given.
        path: String,
    },
    /// `bgp.bird_socket` without `bgp.bird_config`.
    #[error(
        "a socket to reload BIRD needs bgp.bird_config, the file BIRD is to reload: set both, or neither"
    )]
    SocketWithoutConfig,
    /// A bandwidth limit (`[limits]`) that cannot be used.
    #[error(transparent)]
    Limit(#[from] crate::config::LimitError),
    /// A value the host cannot satisfy (an unknown user, a missing
    /// interface, a foreign route inside a pool), found by the effect side;
    /// carried here so the error still points at the key's line.
    #[error("{0}")]
    Host(String),
}

/// A configuration error, with the file, line, column and key it concerns
/// when they are known.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", self.render())]
#[non_exhaustive]
pub struct ConfigError {
    /// File name (or other source label) of the config.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column (in characters).
    pub column: Option<u32>,
    /// Key path, e.g. `ipv4.pool` or `firewall.rules[2].to`.
    pub key: Option<String>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// An error about `key` with no location yet.
    pub fn at_key(key: impl Into<String>, kind: impl Into<ConfigErrorKind>) -> Self {
        Self {
            file: None,
            line: None,
            column: None,
            key: Some(key.into()),
            kind: kind.into(),
        }
    }

    /// Fills in the file name and, by parsing `text` with spans, the line and
    /// column of the key (or of its nearest parent written in the file). The
    /// CLI uses it for errors of [`crate::planner::build_plan`] too.
    pub fn locate(mut self, text: &str, file: &str) -> Self {
        self.file = Some(file.to_string());
        if self.line.is_none()
            && let Some(key) = &self.key
            && let Some(offset) = crate::config::key_offset(text, key)
        {
            let (line, column) = crate::config::line_column(text, offset);
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(file) = &self.file {
            out.push_str(file);
            if let Some(line) = self.line {
                out.push_str(&format!(":{line}"));
                if let Some(column) = self.column {
                    out.push_str(&format!(":{column}"));
                }
            }
            out.push_str(": ");
        }
        if let Some(key) = &self.key {
            out.push_str(key);
            out.push_str(": ");
        }
        out.push_str(&self.kind.to_string());
        out
    }
}
