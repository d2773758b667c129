//! What a rule of `nft -j list ruleset` is read against: its table's named sets and maps,
//! each converted once and shared by every rule that uses it, and the set elements' values
//! (addresses, prefixes, port ranges).

use crate::firewall::model::{Action, Cond, NetSet, PortSet};
use ipnet::IpNet;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A named set or map: (table family, table, name).
pub(super) type SetKey = (String, String, String);

/// A verdict map's entries, converted once and shared.
pub(super) type VerdictMap = Arc<Vec<(Cond, Action)>>;

/// Named sets and maps converted once, shared by every rule that uses them: a set of 100,000
/// addresses used by 1,000 rules is built once, not copied 1,000 times.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) nets: HashMap<SetKey, Option<Arc<NetSet>>>,
    pub(super) ports: HashMap<SetKey, Option<Arc<PortSet>>>,
    /// Verdict maps, by map and the key expression they are looked up with.
    pub(super) vmaps: HashMap<(SetKey, String), Option<VerdictMap>>,
}

/// The table a rule is read in, and the named sets it may name.
pub(super) struct Ctx<'a> {
    pub(super) family: &'a str,
    pub(super) table: &'a str,
    pub(super) sets: &'a HashMap<SetKey, &'a [Value]>,
    pub(super) shared: &'a RefCell<Shared>,
}

impl<'a> Ctx<'a> {
    /// The key of a named set (`@name`) in this table.
    pub(super) fn named(&self, right: &Value) -> Option<SetKey> {
        let name = right.as_str()?.strip_prefix('@')?;
        Some((
            self.family.to_string(),
            self.table.to_string(),
            name.to_string(),
        ))
    }

    /// The items a right-hand side stands for: a literal, an anonymous set, a named set.
    pub(super) fn items<'v>(&self, right: &'v Value) -> Option<Vec<&'v Value>>
    where
        'a: 'v,
    {
        if let Some(key) = self.named(right) {
            return self.sets.get(&key).map(|items| items.iter().collect());
        }
        Some(match right {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) if o.contains_key("set") => match &o["set"] {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            },
            other => vec![other],
        })
    }

    pub(super) fn nets(&self, right: &Value) -> Option<Arc<NetSet>> {
        let convert = |items: Vec<&Value>| all(items, net).map(NetSet::new);
        match self.named(right) {
            Some(key) => {
                if let Some(hit) = self.shared.borrow().nets.get(&key) {
                    return hit.clone();
                }
                let built = self.items(right).and_then(convert);
                self.shared.borrow_mut().nets.insert(key, built.clone());
                built
            }
            None => self.items(right).and_then(convert),
        }
    }

    pub(super) fn ports(&self, right: &Value) -> Option<Arc<PortSet>> {
        let convert = |items: Vec<&Value>| all(items, port_range).map(PortSet::new);
        match self.named(right) {
            Some(key) => {
                if let Some(hit) = self.shared.borrow().ports.get(&key) {
                    return hit.clone();
                }
                let built = self.items(right).and_then(convert);
                self.shared.borrow_mut().ports.insert(key, built.clone());
                built
            }
            None => self.items(right).and_then(convert),
        }
    }

    pub(super) fn strings(&self, right: &Value) -> Option<Vec<String>> {
        all(self.items(right)?, |v| {
            unwrap_elem(v).as_str().map(str::to_string)
        })
    }
}

pub(super) fn unwrap_elem(v: &Value) -> &Value {
    v.get("elem").and_then(|e| e.get("val")).unwrap_or(v)
}

pub(super) fn port_range(v: &Value) -> Option<(u16, u16)> {
    let v = unwrap_elem(v);
    let port = |x: &Value| -> Option<u16> {
        match x {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => match s.as_str() {
                "http" => Some(80),
                "https" => Some(443),
                other => other.parse().ok(),
            },
            _ => None,
        }
    };
    if let Some(Value::Array(r)) = v.get("range") {
        return Some((port(r.first()?)?, port(r.get(1)?)?));
    }
    port(v).map(|p| (p, p))
}

pub(super) fn net(v: &Value) -> Option<IpNet> {
    let v = unwrap_elem(v);
    if let Some(p) = v.get("prefix") {
        let addr: IpAddr = p["addr"].as_str()?.parse().ok()?;
        let len = u8::try_from(p["len"].as_u64()?).ok()?;
        return IpNet::new(addr, len).ok();
    }
    let addr: IpAddr = v.as_str()?.parse().ok()?;
    Some(IpNet::from(addr))
}

pub(super) fn all<'v, T>(
    items: impl IntoIterator<Item = &'v Value>,
    f: impl Fn(&Value) -> Option<T>,
) -> Option<Vec<T>> {
    items.into_iter().map(f).collect()
}
