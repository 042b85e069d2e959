//! Small builders for the nftables expressions and statements the table
//! uses, written in the form nft prints them back.

use std::borrow::Cow;

use blixard_addr::config::Action;
use ipnet::IpNet;
use nftables::expr::{
    Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, SetItem,
};
use nftables::stmt::{Counter, Match, Operator, Reject, RejectType, Statement};
use nftables::types::RejectCode;

pub(super) fn s(x: impl AsRef<str>) -> Expression<'static> {
    Expression::String(Cow::Owned(x.as_ref().to_owned()))
}

pub(super) fn set_ref(name: &str) -> Expression<'static> {
    s(format!("@{name}"))
}

pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

pub(super) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

pub(super) fn concat_saddr(family: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        meta(MetaKey::Iifname),
        payload(family, "saddr"),
    ]))
}

pub(super) fn prefix(addr: &str, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(addr)),
        len,
    }))
}

/// nft prints a full-length prefix as a plain address, and host bits are
/// meaningless in a match: render the truncated network the way nft shows it.
pub(super) fn net(n: IpNet) -> Expression<'static> {
    let n = n.trunc();
    if n.prefix_len() == n.max_prefix_len() {
        s(n.addr().to_string())
    } else {
        prefix(&n.network().to_string(), n.prefix_len().into())
    }
}

/// An anonymous set; nft prints a one-element set as the bare element.
pub(super) fn set_of(mut items: Vec<Expression<'static>>) -> Expression<'static> {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    Expression::Named(NamedExpression::Set(
        items.into_iter().map(SetItem::Element).collect(),
    ))
}

fn m(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

pub(super) fn m_eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    m(left, Operator::EQ, right)
}

pub(super) fn m_neq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    m(left, Operator::NEQ, right)
}

pub(super) fn ct_state(states: &[&str]) -> Statement<'static> {
    ct_is("state", states)
}

/// `ct status dnat`: the connection was forwarded by a DNAT of ours.
pub(super) fn ct_dnat() -> Statement<'static> {
    ct_is("status", &["dnat"])
}

fn ct_is(key: &'static str, states: &[&str]) -> Statement<'static> {
    let ct = Expression::Named(NamedExpression::CT(nftables::expr::CT {
        key: Cow::Borrowed(key),
        family: None,
        dir: None,
    }));
    let right = if states.len() == 1 {
        s(states[0])
    } else {
        Expression::List(states.iter().map(s).collect())
    };
    m(ct, Operator::IN, right)
}

pub(super) fn family(n: &IpNet) -> &'static str {
    match n {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    }
}

pub(super) fn reject_unreachable() -> Statement<'static> {
    Statement::Reject(Some(Reject::new(
        Some(RejectType::ICMPX),
        Some(RejectCode::HostUnreach),
    )))
}

/// `fib saddr . iif oif missing`: no route back to the source leaves by
/// the interface the packet came in on (a strict reverse-path check).
pub(super) fn fib_saddr_iif_missing() -> Statement<'static> {
    use nftables::expr::{Fib, FibFlag, FibResult};
    let fib = Expression::Named(NamedExpression::Fib(Fib {
        result: FibResult::Oif,
        flags: [FibFlag::Saddr, FibFlag::Iif].into_iter().collect(),
    }));
    m_eq(fib, Expression::Boolean(false))
}

pub(super) fn counter() -> Statement<'static> {
    Statement::Counter(Counter::Anonymous(None))
}

pub(super) fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

pub(super) fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

/// A policy's or rule's verdict; a drop is counted for its VM first.
pub(super) fn verdict(a: Action) -> Statement<'static> {
    match a {
        Action::Accept => accept(),
        Action::Drop => super::counters::firewall_drop(),
    }
}
