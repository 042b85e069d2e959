//! A canonical form of our table, built the same way from the batch we would
//! send and from what `nft -j list table` prints back, so that "unchanged"
//! costs no write and every missing chain, rule or element is named.
//!
//! It works on `serde_json::Value` rather than the crate's typed schema: nft
//! may print expressions the crate cannot type, and an unknown expression
//! must show up as a difference, not as a parse failure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Chains, sets, elements and rules of one table, normalised.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CanonTable {
    /// chain name -> `{type, hook, prio, policy, dev}`.
    pub chains: BTreeMap<String, Value>,
    /// set or map name -> `{type, map, stmt, flags}`.
    pub sets: BTreeMap<String, Value>,
    /// set name -> elements (canonical JSON).
    pub elements: BTreeMap<String, BTreeSet<String>>,
    /// chain name -> rule bodies in order (canonical JSON of `expr`).
    pub rules: BTreeMap<String, Vec<String>>,
}

impl CanonTable {
    /// From a batch of commands (`{"add": {"chain": ..}}`, ...) as rendered;
    /// `delete` commands are skipped, the batch replaces the table.
    pub fn from_batch(batch: &Value) -> CanonTable {
        let mut t = CanonTable::default();
        for obj in objects(batch) {
            if let Some(Value::Object(cmd)) = obj.get("add") {
                for (kind, body) in cmd {
                    t.take(kind, body);
                }
            }
        }
        t
    }

    /// From `nft -j list table` output (`{"chain": ..}`, ...).
    pub fn from_listing(listing: &Value) -> CanonTable {
        let mut t = CanonTable::default();
        for obj in objects(listing) {
            if let Value::Object(o) = obj {
                for (kind, body) in o {
                    t.take(kind, body);
                }
            }
        }
        t
    }

    /// Our table `inet NAME` out of a whole-ruleset listing
    /// (`nft -j list ruleset`); `None` when the ruleset does not hold it.
    pub fn from_ruleset(ruleset: &Value, table: &str) -> Option<CanonTable> {
        let mut t = CanonTable::default();
        let mut found = false;
        for obj in objects(ruleset) {
            let Value::Object(o) = obj else { continue };
            for (kind, body) in o {
                if body.get("family").and_then(Value::as_str) != Some("inet") {
                    continue;
                }
                let field = if kind == "table" { "name" } else { "table" };
                if body.get(field).and_then(Value::as_str) != Some(table) {
                    continue;
                }
                found |= kind == "table";
                t.take(kind, body);
            }
        }
        found.then_some(t)
    }

    fn take(&mut self, kind: &str, body: &Value) {
        let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "chain" => {
                let mut props = serde_json::Map::new();
                for key in ["type", "hook", "prio", "policy", "dev"] {
                    if let Some(v) = body.get(key) {
                        props.insert(key.into(), v.clone());
                    }
                }
                self.chains.insert(name.into(), Value::Object(props));
            }
            // A map is a set with data (`map`: its type); its elements
            // are `[key, data]` pairs.
            "set" | "map" => {
                let mut props = serde_json::Map::new();
                for key in ["type", "map", "stmt"] {
                    if let Some(v) = body.get(key) {
                        props.insert(key.into(), normalize(v));
                    }
                }
                if let Some(v) = body.get("flags") {
                    props.insert("flags".into(), sorted(normalize(v)));
                }
                self.sets.insert(name.into(), Value::Object(props));
                let elems = self.elements.entry(name.into()).or_default();
                elems.extend(elements(body.get("elem")));
            }
            "element" => {
                let elems = self.elements.entry(name.into()).or_default();
                elems.extend(elements(body.get("elem")));
            }
            "rule" => {
                let chain = body
                    .get("chain")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let expr = body.get("expr").map(normalize).unwrap_or(Value::Null);
                self.rules
                    .entry(chain.into())
                    .or_default()
                    .push(expr.to_string());
            }
            _ => {}
        }
    }

    /// Everything that differs, worded from the point of view of `self` being
    /// the desired table: what is missing, extra or changed in `observed`.
    pub fn differences(&self, observed: &CanonTable) -> Vec<String> {
        let mut out = Vec::new();
        for (name, want) in &self.chains {
            match observed.chains.get(name) {
                None => out.push(format!("chain {name} is missing")),
                Some(have) if have != want => {
                    out.push(format!("chain {name} is {have}, the plan wants {want}"))
                }
                Some(_) => {}
            }
        }
        for name in observed
            .chains
            .keys()
            .filter(|n| !self.chains.contains_key(*n))
        {
            out.push(format!("chain {name} is not in the plan"));
        }
        for (name, want) in &self.sets {
            match observed.sets.get(name) {
                None => out.push(format!("set {name} is missing")),
                Some(have) if have != want => {
                    out.push(format!("set {name} is {have}, the plan wants {want}"))
                }
                Some(_) => {}
            }
        }
        for name in observed.sets.keys().filter(|n| !self.sets.contains_key(*n)) {
            out.push(format!("set {name} is not in the plan"));
        }
        let empty = BTreeSet::new();
        for (name, want) in &self.elements {
            if !observed.sets.contains_key(name) {
                continue;
            }
            let have = observed.elements.get(name).unwrap_or(&empty);
            let missing: Vec<_> = want.difference(have).collect();
            let extra: Vec<_> = have.difference(want).collect();
            if !missing.is_empty() {
                out.push(format!("set {name} lacks {}", listing(&missing)));
            }
            if !extra.is_empty() {
                out.push(format!("set {name} has extra {}", listing(&extra)));
            }
        }
        let none = Vec::new();
        let chains: BTreeSet<_> = self.rules.keys().chain(observed.rules.keys()).collect();
        for chain in chains {
            let want = self.rules.get(chain).unwrap_or(&none);
            let have = observed.rules.get(chain).unwrap_or(&none);
            if want == have {
                continue;
            }
            if want.len() != have.len() {
                out.push(format!(
                    "chain {chain} has {} rule(s), the plan wants {}",
                    have.len(),
                    want.len()
                ));
            }
            if let Some(i) = want.iter().zip(have).position(|(w, h)| w != h) {
                out.push(format!(
                    "chain {chain} rule {} is {}, the plan wants {}",
                    i + 1,
                    have[i],
                    want[i]
                ));
            } else if want.len() > have.len() {
                out.push(format!("chain {chain} lacks rule {}", want[have.len()]));
            }
        }
        out
    }

    /// Number of rules across all chains.
    pub fn rule_count(&self) -> usize {
        self.rules.values().map(Vec::len).sum()
    }
}

fn objects(doc: &Value) -> impl Iterator<Item = &Value> {
    doc.get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn elements(elem: Option<&Value>) -> Vec<String> {
    let items: Vec<&Value> = match elem {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v) => vec![v],
    };
    items
        .into_iter()
        .map(|e| {
            // Elements with per-element options print as {"elem": {"val": ..}}.
            let e = e.get("elem").and_then(|x| x.get("val")).unwrap_or(e);
            // Thousands of elements per set: normalising a plain one would
            // only copy it.
            if is_plain(e) {
                element_text(e)
            } else {
                element_text(&normalize(e))
            }
        })
        .collect()
}

/// Scalars, and lists and concatenations of plain values: what
/// [`normalize`] leaves as it is.
fn is_plain(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(is_plain),
        Value::Object(o) => match o.get("concat") {
            Some(Value::Array(parts)) if o.len() == 1 => parts.iter().all(is_plain),
            _ => false,
        },
        _ => true,
    }
}

/// `vm1 . 10.0.0.1` for a concatenation, `tcp . 8080 : 10.0.0.3` for a
/// map's `[key, data]`, the plain value otherwise.
fn element_text(v: &Value) -> String {
    if let Some([key, data]) = v.as_array().map(Vec::as_slice) {
        return format!("{} : {}", element_text(key), element_text(data));
    }
    match v.get("concat").and_then(Value::as_array) {
        Some(parts) => parts
            .iter()
            .map(scalar_text)
            .collect::<Vec<_>>()
            .join(" . "),
        None => scalar_text(v),
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn listing(items: &[&String]) -> String {
    const SHOWN: usize = 8;
    let mut s = items
        .iter()
        .take(SHOWN)
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    s
}

/// Counter values and anonymous-set order and arity are not part of a
/// rule's meaning; everything else is compared verbatim.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            if o.len() == 1 {
                if o.contains_key("counter") {
                    return serde_json::json!({ "counter": null });
                }
                if let Some(Value::Object(limit)) = o.get("limit") {
                    return serde_json::json!({ "limit": limit_in_bytes(limit) });
                }
                // The crate keeps fib's flags in a hash set: their order
                // is not what was meant, nor what nft prints.
                if let Some(Value::Object(fib)) = o.get("fib") {
                    let mut fib = fib.clone();
                    if let Some(flags) = fib.get("flags").cloned() {
                        fib.insert("flags".into(), sorted(flags));
                    }
                    return serde_json::json!({ "fib": normalize(&Value::Object(fib)) });
                }
                if let Some(Value::Array(items)) = o.get("set") {
                    let mut items: Vec<Value> = items.iter().map(normalize).collect();
                    if items.len() == 1 {
                        return items.pop().expect("one item");
                    }
                    items.sort_by_key(|a| a.to_string());
                    return serde_json::json!({ "set": items });
                }
            }
            Value::Object(o.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

/// A byte limit with its rate and burst in bytes: nft lists them back in
/// the largest unit of 1024 that keeps them whole (`1 mbytes`, `16
/// kbytes`), whatever they were written in. A packet limit has no unit.
fn limit_in_bytes(limit: &serde_json::Map<String, Value>) -> Value {
    let mut out = limit.clone();
    for (value, unit) in [("rate", "rate_unit"), ("burst", "burst_unit")] {
        let scale: u64 = match limit.get(unit).and_then(Value::as_str) {
            Some("bytes") => 1,
            Some("kbytes") => 1 << 10,
            Some("mbytes") => 1 << 20,
            Some("gbytes") => 1 << 30,
            _ => continue,
        };
        if let Some(n) = limit.get(value).and_then(Value::as_u64) {
            out.insert(value.into(), n.saturating_mul(scale).into());
            out.insert(unit.into(), "bytes".into());
        }
    }
    Value::Object(out)
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Array(mut a) => {
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
