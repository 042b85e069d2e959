//! Our traffic control on the wire. A limit is our `tbf` qdisc with our
//! handle, built with `linklayer` ethernet in its `tc_ratespec` and the rate
//! and burst as `TCA_TBF_RATE64` / `TCA_TBF_BURST`, so the kernel needs no
//! rate table: the root of a tap (towards its VM) or of the VM's ifb (from
//! it, the tap's `ingress` qdisc redirecting there). And any root qdisc
//! read back from a dump.

use blixard_addr::plan::{LIMIT_QDISC_MAJOR, RateLimit};
use blixard_addr::state::ObservedRootQdisc;
use netlink_packet_core::{DefaultNla, NLA_TYPE_MASK, Nla, NlasIterator};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};

/// `TCA_OPTIONS` of a qdisc message.
const TCA_OPTIONS: u16 = 2;
const TCA_TBF_PARMS: u16 = 1;
const TCA_TBF_RATE64: u16 = 4;
const TCA_TBF_BURST: u16 = 6;
/// `TC_LINKLAYER_ETHERNET`: the kernel computes transmit times itself.
const LINKLAYER_ETHERNET: u8 = 1;
/// `struct tc_tbf_qopt`: two `tc_ratespec` of 12 bytes, then limit,
/// buffer and mtu.
const QOPT_LEN: usize = 36;
/// psched ticks are 64 ns (`PSCHED_SHIFT` 6).
const NS_PER_TICK: u128 = 64;

/// Our root qdisc's handle.
pub(crate) fn our_handle() -> TcHandle {
    TcHandle {
        major: LIMIT_QDISC_MAJOR,
        minor: 0,
    }
}

/// `RTM_NEWQDISC` body for `limit` on `ifindex` (sent with create and
/// replace: a new root, or ours changed in place).
pub(crate) fn limit_message(ifindex: u32, limit: &RateLimit) -> TcMessage {
    let mut m = root_message(ifindex);
    m.attributes.push(TcAttribute::Kind("tbf".into()));
    let rate32 = u32::try_from(limit.rate).unwrap_or(u32::MAX);
    let mut qopt = [0u8; QOPT_LEN];
    qopt[1] = LINKLAYER_ETHERNET;
    qopt[8..12].copy_from_slice(&rate32.to_ne_bytes());
    qopt[24..28].copy_from_slice(&limit.queue.to_ne_bytes());
    qopt[28..32].copy_from_slice(&burst_ticks(limit).to_ne_bytes());
    m.attributes.push(TcAttribute::Options(vec![
        TcOption::Other(DefaultNla::new(TCA_TBF_PARMS, qopt.to_vec())),
        TcOption::Other(DefaultNla::new(
            TCA_TBF_RATE64,
            limit.rate.to_ne_bytes().to_vec(),
        )),
        TcOption::Other(DefaultNla::new(
            TCA_TBF_BURST,
            limit.burst.to_ne_bytes().to_vec(),
        )),
    ]));
    m
}

/// `RTM_DELQDISC` body for our root qdisc on `ifindex`.
pub(crate) fn delete_message(ifindex: u32) -> TcMessage {
    root_message(ifindex)
}

fn root_message(ifindex: u32) -> TcMessage {
    let mut m = TcMessage::default();
    m.header.index = i32::try_from(ifindex).expect("ifindex fits in i32");
    m.header.parent = TcHandle::ROOT;
    m.header.handle = our_handle();
    m
}

/// `RTM_NEWQDISC`/`RTM_DELQDISC` body for the `ingress` qdisc of `ifindex`
/// (`ffff:`, where a limit from the VM is redirected to its ifb).
pub(crate) fn ingress_message(ifindex: u32) -> TcMessage {
    let mut m = TcMessage::default();
    m.header.index = i32::try_from(ifindex).expect("ifindex fits in i32");
    m.header.parent = TcHandle::INGRESS;
    m.header.handle = TcHandle {
        major: 0xffff,
        minor: 0,
    };
    m.attributes.push(TcAttribute::Kind("ingress".into()));
    m
}

/// `TCA_U32_SEL`, `TCA_U32_ACT`, `TCA_ACT_KIND`, `TCA_ACT_OPTIONS`,
/// `TCA_MIRRED_PARMS`.
const TCA_U32_SEL: u16 = 5;
const TCA_U32_ACT: u16 = 7;
const TCA_ACT_KIND: u16 = 1;
const TCA_ACT_OPTIONS: u16 = 2;
const TCA_MIRRED_PARMS: u16 = 2;
/// `TC_U32_TERMINAL`: a match ends the classification.
const U32_TERMINAL: u8 = 1;
/// `TC_ACT_STOLEN` and `TCA_EGRESS_REDIR`: the packet is redirected, not
/// passed on.
const ACT_STOLEN: i32 = 4;
const EGRESS_REDIRECT: i32 = 1;
/// The filter's handle (`800::800`, the first node of the root hash
/// table), fixed so that adding it again is `EEXIST`, not a second copy.
const REDIRECT_HANDLE: u32 = 0x8000_0800;

/// One netlink attribute, padded to 4 bytes.
fn nla(kind: u16, payload: &[u8]) -> Vec<u8> {
    let len = 4 + payload.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&u16::try_from(len).expect("small").to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// `RTM_NEWTFILTER` body: on the `ingress` qdisc of `tap`, everything
/// (`u32` with one key that masks nothing) redirected to `ifb` (`mirred
/// egress redirect`). The kernel has neither `matchall` nor `police`
/// everywhere; this is what `tc filter add dev TAP parent ffff: protocol
/// all u32 match u32 0 0 action mirred egress redirect dev IFB` sends.
pub(crate) fn redirect_message(tap: u32, ifb: u32) -> TcMessage {
    let mut m = TcMessage::default();
    m.header.index = i32::try_from(tap).expect("ifindex fits in i32");
    m.header.parent = TcHandle {
        major: 0xffff,
        minor: 0,
    };
    m.header.handle = TcHandle::from(REDIRECT_HANDLE);
    // Priority 1, protocol ETH_P_ALL in network order.
    m.header.info = (1 << 16) | u32::from(0x0003u16.to_be());
    m.attributes.push(TcAttribute::Kind("u32".into()));
    // struct tc_u32_sel with one struct tc_u32_key, all zero: matches all.
    let mut selector = [0u8; 32];
    selector[0] = U32_TERMINAL;
    selector[2] = 1;
    // struct tc_mirred: index, capab, action, refcnt, bindcnt, eaction, ifindex.
    let mut mirred = [0u8; 28];
    mirred[8..12].copy_from_slice(&ACT_STOLEN.to_ne_bytes());
    mirred[20..24].copy_from_slice(&EGRESS_REDIRECT.to_ne_bytes());
    mirred[24..28].copy_from_slice(&ifb.to_ne_bytes());
    let action = [
        nla(TCA_ACT_KIND, b"mirred\0"),
        nla(TCA_ACT_OPTIONS, &nla(TCA_MIRRED_PARMS, &mirred)),
    ]
    .concat();
    m.attributes.push(TcAttribute::Options(vec![
        TcOption::Other(DefaultNla::new(TCA_U32_SEL, selector.to_vec())),
        TcOption::Other(DefaultNla::new(TCA_U32_ACT, nla(1, &action))),
    ]));
    m
}

/// The time the burst lasts at the rate, in psched ticks.
fn burst_ticks(limit: &RateLimit) -> u32 {
    let ns = u128::from(limit.burst) * 1_000_000_000 / u128::from(limit.rate.max(1));
    u32::try_from(ns / NS_PER_TICK).unwrap_or(u32::MAX)
}

/// What a link's root qdisc is, as observe reports it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Root {
    /// `noqueue`.
    Noqueue,
    /// Not the root: the `ingress` qdisc.
    Ingress,
    /// Neither the default nor `noqueue`.
    Other(ObservedRootQdisc),
}

/// The root qdisc a dump message describes, by ifindex: `noqueue`, or
/// anything else but the kernel's default (handle 0); `None` for the
/// default and for what is not a root.
pub(crate) fn root_of(q: &TcMessage) -> Option<(i32, Root)> {
    if q.header.parent == TcHandle::INGRESS {
        return Some((q.header.index, Root::Ingress));
    }
    if q.header.parent != TcHandle::ROOT {
        return None;
    }
    let kind = q.attributes.iter().find_map(|a| match a {
        TcAttribute::Kind(k) => Some(k.as_str()),
        _ => None,
    })?;
    let major = q.header.handle.major;
    let observed = match (kind, major) {
        ("noqueue", _) => return Some((q.header.index, Root::Noqueue)),
        (_, 0) => return None,
        ("tbf", LIMIT_QDISC_MAJOR) => match tbf_limit(q) {
            Some(limit) => ObservedRootQdisc::Limit(limit),
            None => ObservedRootQdisc::Foreign {
                kind: kind.into(),
                major,
            },
        },
        _ => ObservedRootQdisc::Foreign {
            kind: kind.into(),
            major,
        },
    };
    Some((q.header.index, Root::Other(observed)))
}

/// A `tbf`'s rate, burst and queue from its `TCA_OPTIONS`.
fn tbf_limit(q: &TcMessage) -> Option<RateLimit> {
    let options = q.attributes.iter().find_map(|a| match a {
        TcAttribute::Options(o) => Some(o),
        _ => None,
    })?;
    let bytes = |nla: &DefaultNla| {
        let mut buf = vec![0u8; nla.value_len()];
        nla.emit_value(&mut buf);
        buf
    };
    // netlink-packet-route keeps the options of a kind it does not know
    // (`tbf`) as one attribute, the nest itself; what we build holds them
    // one by one.
    let attributes: Vec<(u16, Vec<u8>)> = match options.as_slice() {
        [TcOption::Other(nest)] if nest.kind() & NLA_TYPE_MASK == TCA_OPTIONS => {
            let nest = bytes(nest);
            NlasIterator::new(nest.as_slice())
                .filter_map(Result::ok)
                .map(|nla| (nla.kind(), nla.value().to_vec()))
                .collect()
        }
        list => list
            .iter()
            .filter_map(|o| match o {
                TcOption::Other(nla) => Some((nla.kind(), bytes(nla))),
                _ => None,
            })
            .collect(),
    };
    let value = |kind: u16| {
        attributes
            .iter()
            .find(|(k, _)| *k & NLA_TYPE_MASK == kind)
            .map(|(_, v)| v.clone())
    };
    let qopt = value(TCA_TBF_PARMS)?;
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(qopt.get(at..at + 4)?.try_into().ok()?))
    };
    let rate = match value(TCA_TBF_RATE64) {
        Some(v) => u64::from_ne_bytes(v.get(..8)?.try_into().ok()?),
        None => u64::from(word(8)?),
    };
    let queue = word(24)?;
    let ticks = u128::from(word(28)?);
    let burst = ticks * NS_PER_TICK * u128::from(rate) / 1_000_000_000;
    Some(RateLimit {
        rate,
        burst: u32::try_from(burst).unwrap_or(u32::MAX),
        queue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_reads_back_from_its_own_message_as_itself() {
        let limit = RateLimit::new(12_500_000, 262_144);
        let mut m = limit_message(7, &limit);
        m.header.handle = our_handle();
        let (index, observed) = root_of(&m).unwrap();
        assert_eq!(index, 7);
        let Root::Other(ObservedRootQdisc::Limit(back)) = observed else {
            panic!("{observed:?}")
        };
        assert!(limit.matches(&back), "{limit:?} {back:?}");
    }

    #[test]
    fn another_handle_or_kind_is_foreign_and_defaults_are_nothing() {
        let mut m = limit_message(3, &RateLimit::new(1_000_000, 16_384));
        m.header.handle.major = 1;
        assert!(matches!(
            root_of(&m),
            Some((3, Root::Other(ObservedRootQdisc::Foreign { major: 1, .. })))
        ));
        m.header.handle.major = 0;
        assert_eq!(root_of(&m), None);
    }
}
