//! Pure rendering of a [`FirewallPlan`] into an nftables JSON batch.
//!
//! Everything goes through the `nftables` crate's types, never through
//! formatted nft syntax, so a name in the plan can never become nft syntax.
//! Expressions are written in the form nft 1.0.6 prints them back (single
//! element sets collapsed, `/32` prefixes as plain addresses, `tcp dport`
//! rather than `meta l4proto tcp th dport`), which keeps the canonical
//! comparison in [`crate::canon`] small.

use std::borrow::Cow;

use blixard_addr::plan::{FirewallPlan, FirewallVm};
use nftables::batch::Batch;
use nftables::expr::{Expression, NamedExpression};
use nftables::schema::{
    self, Chain, Element, NfCmd, NfListObject, NfObject, Nftables, Rule, Table,
};
use nftables::stmt::Statement;
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

pub mod counters;
mod expr;
pub mod forwards;
pub mod police;
mod rules;
mod user;

use expr::*;
pub use rules::rules;

/// Name of the set of our VM interfaces (`type ifname`).
pub const SET_IFACES: &str = "vm_ifaces";
/// Name of the set of `ifname . ipv4_addr` pairs a VM may send from.
pub const SET_V4: &str = "vm_v4";
/// Name of the set of `ifname . ipv6_addr` pairs a VM may send from.
pub const SET_V6: &str = "vm_v6";
/// Chain at hook prerouting (priority raw): anti-spoofing.
pub const CHAIN_PREROUTING: &str = "prerouting";
/// Chain at hook forward (priority filter): forwarding policy and user rules.
pub const CHAIN_FORWARD: &str = "forward";
/// Chain at hook input (priority filter): what VMs may open on the host.
pub const CHAIN_INPUT: &str = "input";
/// Chain at hook output (priority filter): user rules `from = "host"`.
pub const CHAIN_OUTPUT: &str = "output";
/// Chain at hook postrouting (nat, srcnat): masquerade.
pub const CHAIN_POSTROUTING: &str = "postrouting";

/// Every chain of our table, in the order they are created; forwards add
/// [`forwards::CHAIN_DSTNAT`] and [`forwards::CHAIN_DSTNAT_OUTPUT`].
pub const CHAINS: [&str; 7] = [
    CHAIN_PREROUTING,
    CHAIN_FORWARD,
    CHAIN_INPUT,
    CHAIN_OUTPUT,
    CHAIN_POSTROUTING,
    counters::CHAIN_COUNT_RX,
    counters::CHAIN_FIREWALL_DROP,
];

/// Huge element lists are split into several `add element` commands of this
/// size inside the same transaction, so no single command gets unwieldy.
pub const ELEMENT_CHUNK: usize = 1024;

/// The desired table as one atomic nftables JSON batch: `add table` (so the
/// delete cannot fail), `delete table`, `add table`, chains, sets, elements,
/// rules.
///
/// JSON rather than the crate's typed batch: the counter sets need a
/// `counter` statement in their declaration (every element then gets its
/// own counter), the police sets a `limit` (every element its own bucket),
/// which the crate's `Set` cannot carry.
pub fn render(plan: &FirewallPlan) -> serde_json::Value {
    let mut batch = serde_json::to_value(typed(plan)).expect("nftables JSON serializes");
    add_set_statements(&mut batch, plan);
    batch
}

/// [`render`] as the text `nft -j -f -` reads, written command by command:
/// only the set declarations go through a JSON value (for their
/// statements). The whole batch as one value held every element as a map
/// of its own, 28 MiB more at 4096 VMs than the text.
pub fn render_text(plan: &FirewallPlan) -> String {
    let mut out = String::from("{\"nftables\":[");
    for (i, object) in typed(plan).objects.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let declares_a_set = matches!(
            object,
            NfObject::CmdObject(NfCmd::Add(NfListObject::Set(_)))
        );
        if declares_a_set {
            let mut one = serde_json::json!({ "nftables": [object] });
            add_set_statements(&mut one, plan);
            out.push_str(&one["nftables"][0].to_string());
        } else {
            out.push_str(&serde_json::to_string(object).expect("nftables JSON serializes"));
        }
    }
    out.push_str("]}");
    out
}

/// The canonical form of [`render`]'s batch, as
/// [`crate::canon::CanonTable::from_batch`] reads it, without putting the
/// elements through JSON: at 4096 VMs there are seven sets of 4096, and
/// serialising them was most of a no-op apply's compare. Elements of a
/// shape the text conversion does not know still go through JSON.
pub fn canonical(plan: &FirewallPlan) -> crate::canon::CanonTable {
    let mut texts: Vec<(String, Vec<String>)> = Vec::new();
    let mut rest = Vec::new();
    for object in typed(plan).objects.into_owned() {
        if let NfObject::CmdObject(NfCmd::Add(NfListObject::Element(e))) = &object
            && let Some(elements) = e.elem.iter().map(element_text).collect::<Option<_>>()
        {
            texts.push((e.name.to_string(), elements));
            continue;
        }
        rest.push(object);
    }
    let mut batch = serde_json::to_value(Nftables {
        objects: Cow::Owned(rest),
    })
    .expect("nftables JSON serializes");
    add_set_statements(&mut batch, plan);
    let mut canon = crate::canon::CanonTable::from_batch(&batch);
    for (set, elements) in texts {
        canon.elements.entry(set).or_default().extend(elements);
    }
    canon
}

/// An element as the canonical form writes it (`vm1 . 10.0.0.1`, a map's
/// `tcp . 8080 : 10.0.0.3`), for the plain shapes the renderer makes;
/// `None` for any other.
fn element_text(e: &Expression<'_>) -> Option<String> {
    let scalar = |e: &Expression<'_>| match e {
        Expression::String(s) => Some(s.to_string()),
        Expression::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match e {
        Expression::Named(NamedExpression::Concat(parts)) => Some(
            parts
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()?
                .join(" . "),
        ),
        Expression::Named(NamedExpression::Elem(elem)) => element_text(&elem.val),
        Expression::List(pair) => match &pair[..] {
            [key, data] => Some(format!("{} : {}", element_text(key)?, element_text(data)?)),
            _ => None,
        },
        other => scalar(other),
    }
}

/// The counter sets need a `counter` statement in their declaration, the
/// police sets their `limit`, which the crate's `Set` cannot carry.
fn add_set_statements(batch: &mut serde_json::Value, plan: &FirewallPlan) {
    let commands = batch
        .get_mut("nftables")
        .and_then(serde_json::Value::as_array_mut)
        .into_iter()
        .flatten();
    for set in commands.filter_map(|c| c.pointer_mut("/add/set")) {
        let Some(name) = set.get("name").and_then(serde_json::Value::as_str) else {
            continue;
        };
        let stmt = if counters::COUNTER_SETS.contains(&name) {
            Some(serde_json::json!([{ "counter": null }]))
        } else {
            police::limit_of(plan, name).map(police::statement)
        };
        if let Some(stmt) = stmt {
            set["stmt"] = stmt;
        }
    }
}

/// [`render`] in the crate's types, without the sets' statements.
fn typed(plan: &FirewallPlan) -> Nftables<'static> {
    let t = plan.table.clone();
    let mut batch = Batch::new();
    batch.add(table(&t));
    batch.delete(table(&t));
    batch.add(table(&t));
    for chain in chains(&t, plan) {
        batch.add(NfListObject::Chain(chain));
    }
    for set in sets(&t, plan) {
        batch.add(NfListObject::Set(Box::new(set)));
    }
    for map in forwards::maps(&t, plan) {
        batch.add(NfListObject::Map(Box::new(map)));
    }
    for (name, elems) in [
        (
            SET_IFACES,
            plan.vms.iter().map(iface_elem).collect::<Vec<_>>(),
        ),
        (SET_V4, plan.vms.iter().map(v4_elem).collect()),
        (SET_V6, plan.vms.iter().filter_map(v6_elem).collect()),
    ]
    .into_iter()
    .map(|(name, elems)| (name.to_string(), elems))
    .chain(counters::COUNTER_SETS.map(|set| {
        (
            set.to_string(),
            plan.vms.iter().map(counters::counted).collect(),
        )
    }))
    .chain(police::members(plan))
    {
        let mut elems = elems.into_iter().peekable();
        while elems.peek().is_some() {
            let chunk = elems.by_ref().take(ELEMENT_CHUNK).collect();
            batch.add(NfListObject::Element(element(&t, &name, chunk)));
        }
    }
    for e in forwards::elements(&t, plan) {
        batch.add(NfListObject::Element(e));
    }
    for (chain, exprs) in rules(plan) {
        batch.add(NfListObject::Rule(rule(&t, chain, exprs)));
    }
    batch.to_nftables()
}

/// The `add element` commands that wire one VM into an existing table.
pub fn vm_elements(table: &str, vm: &FirewallVm) -> Vec<Element<'static>> {
    let mut out = vec![
        element(table, SET_IFACES, vec![iface_elem(vm)]),
        element(table, SET_V4, vec![v4_elem(vm)]),
    ];
    if let Some(e) = v6_elem(vm) {
        out.push(element(table, SET_V6, vec![e]));
    }
    for set in counters::COUNTER_SETS {
        out.push(element(table, set, vec![counters::counted(vm)]));
    }
    if let Some((set, elem)) = police::element_of(vm) {
        out.push(element(table, &set, vec![elem]));
    }
    out
}

/// `vm`'s element in each of `sets` (police sets of other limits, which
/// it must not be in).
pub fn police_elements(table: &str, vm: &FirewallVm, sets: &[String]) -> Vec<Element<'static>> {
    sets.iter()
        .map(|set| element(table, set, vec![iface_elem(vm)]))
        .collect()
}

/// Our table object (family `inet`).
pub fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::INet,
        name: Cow::Owned(name.to_owned()),
        handle: None,
    })
}

fn chains(t: &str, plan: &FirewallPlan) -> Vec<Chain<'static>> {
    let base = |name: &str, ty, hook, prio| Chain {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(name.to_owned()),
        _type: Some(ty),
        hook: Some(hook),
        prio: Some(prio),
        // Explicit, so that `list` shows the intent; our drops are rules.
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    };
    let mut out = vec![
        base(
            CHAIN_PREROUTING,
            NfChainType::Filter,
            NfHook::Prerouting,
            -300,
        ),
        base(CHAIN_FORWARD, NfChainType::Filter, NfHook::Forward, 0),
        base(CHAIN_INPUT, NfChainType::Filter, NfHook::Input, 0),
        base(CHAIN_OUTPUT, NfChainType::Filter, NfHook::Output, 0),
        base(
            CHAIN_POSTROUTING,
            NfChainType::NAT,
            NfHook::Postrouting,
            100,
        ),
        // After every NAT and filter of the packet's way out: what really
        // leaves by the tap.
        base(
            counters::CHAIN_COUNT_RX,
            NfChainType::Filter,
            NfHook::Postrouting,
            300,
        ),
        Chain {
            family: NfFamily::INet,
            table: Cow::Owned(t.to_owned()),
            name: Cow::Owned(counters::CHAIN_FIREWALL_DROP.to_owned()),
            ..Chain::default()
        },
    ];
    for (name, hook) in forwards::chains(plan) {
        out.push(base(name, NfChainType::NAT, hook, -100));
    }
    out
}

fn sets(t: &str, plan: &FirewallPlan) -> Vec<schema::Set<'static>> {
    use schema::{SetType, SetTypeValue};
    let set = |name: &str, ty| schema::Set {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(name.to_owned()),
        set_type: ty,
        ..schema::Set::default()
    };
    vec![
        set(SET_IFACES, SetTypeValue::Single(SetType::Ifname)),
        set(
            SET_V4,
            SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::Ipv4Addr])),
        ),
        set(
            SET_V6,
            SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::Ipv6Addr])),
        ),
    ]
    .into_iter()
    .chain(counters::COUNTER_SETS.map(|name| set(name, SetTypeValue::Single(SetType::Ifname))))
    .chain(
        plan.police
            .iter()
            .map(|limit| set(&limit.police_set(), SetTypeValue::Single(SetType::Ifname))),
    )
    .collect()
}

fn element(t: &str, set: &str, elem: Vec<Expression<'static>>) -> Element<'static> {
    Element {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(set.to_owned()),
        elem: Cow::Owned(elem),
    }
}

fn rule(t: &str, chain: &str, expr: Vec<Statement<'static>>) -> Rule<'static> {
    Rule {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        chain: Cow::Owned(chain.to_owned()),
        expr: Cow::Owned(expr),
        ..Rule::default()
    }
}

fn iface_elem(vm: &FirewallVm) -> Expression<'static> {
    s(&vm.interface)
}

fn v4_elem(vm: &FirewallVm) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        s(&vm.interface),
        s(vm.ipv4.to_string()),
    ]))
}

fn v6_elem(vm: &FirewallVm) -> Option<Expression<'static>> {
    vm.ipv6.map(|a| {
        Expression::Named(NamedExpression::Concat(vec![
            s(&vm.interface),
            s(a.to_string()),
        ]))
    })
}
