//! `nft -j list ruleset` into the [`Ruleset`] model: base chains of type filter on the input
//! hook, their rules, named sets and verdict maps. Expressions the model does not cover
//! become `Unknown` with their text, never a guess.

use super::model::{
    Action, BaseChain, ChainRef, Cond, Hook, Match, NetSet, Origin, PortSet, Position, Redirect,
    Rule, RuleRef, Ruleset,
};
use crate::facts::Family;
use ipnet::IpNet;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

/// What conversion found besides the ruleset: tables made by iptables-nft whose rules use
/// compat (`xt`) expressions that nft cannot show in full, by family.
#[derive(Debug, Default)]
pub struct Opaque {
    pub xt_tables: BTreeSet<(String, String)>,
}

type SetKey = (String, String, String);

fn family_of(table_family: &str) -> Option<Option<Family>> {
    match table_family {
        "ip" => Some(Some(Family::Ipv4)),
        "ip6" => Some(Some(Family::Ipv6)),
        // A netdev table's ingress chains see every packet of their devices, both families.
        "inet" | "netdev" => Some(None),
        _ => None,
    }
}

fn chain_key(family: &str, table: &str, chain: &str) -> String {
    format!("nft/{family}/{table}/{chain}")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            if let Some(set) = o.get("set") {
                let items = match set {
                    Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
                    other => text(other),
                };
                format!("{{ {items} }}")
            } else if let Some(p) = o.get("prefix") {
                format!("{}/{}", text(&p["addr"]), text(&p["len"]))
            } else if let Some(Value::Array(r)) = o.get("range") {
                format!(
                    "{}-{}",
                    r.first().map(text).unwrap_or_default(),
                    r.get(1).map(text).unwrap_or_default()
                )
            } else if let Some(p) = o.get("payload") {
                format!("{} {}", text(&p["protocol"]), text(&p["field"]))
            } else if let Some(m) = o.get("meta") {
                format!("meta {}", text(&m["key"]))
            } else if let Some(c) = o.get("ct") {
                format!("ct {}", text(&c["key"]))
            } else if let Some(f) = o.get("fib") {
                let flags = match &f["flags"] {
                    Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(" . "),
                    other => text(other),
                };
                format!("fib {flags} {}", text(&f["result"]))
            } else if let Some(x) = o.get("exthdr") {
                match x.get("field") {
                    Some(field) => format!("{} {}", text(&x["name"]), text(field)),
                    None => format!("exthdr {}", text(&x["name"])),
                }
            } else if let Some(e) = o.get("elem") {
                text(&e["val"])
            } else {
                serde_json::to_string(v).unwrap_or_default()
            }
        }
        other => other.to_string(),
    }
}

/// One statement as nft would print it, near enough to recognise in `nft -a list ruleset`.
fn describe(stmt: &Value) -> String {
    let Some((key, body)) = stmt.as_object().and_then(|o| o.iter().next()) else {
        return stmt.to_string();
    };
    match key.as_str() {
        "match" => {
            let op = match body["op"].as_str() {
                Some("==") | Some("in") | None => String::new(),
                Some(op) => format!("{op} "),
            };
            // `fib … oif missing`, `exthdr frag exists`: nft words a boolean so.
            let right = match &body["right"] {
                Value::Bool(true) => "exists".to_string(),
                Value::Bool(false) => "missing".to_string(),
                other => text(other),
            };
            format!("{} {op}{right}", text(&body["left"]))
        }
        "jump" | "goto" => format!("{key} {}", text(&body["target"])),
        "reject" => match body.get("type") {
            Some(t) => format!(
                "reject with {} {}",
                text(t),
                body.get("expr").map(text).unwrap_or_default()
            )
            .trim_end()
            .to_string(),
            None => "reject".into(),
        },
        "vmap" => format!("{} vmap {}", text(&body["key"]), text(&body["data"])),
        other => other.to_string(),
    }
}

type VerdictMap = Arc<Vec<(Cond, Action)>>;

/// Named sets and maps converted once, shared by every rule that uses them: a set of 100,000
/// addresses used by 1,000 rules is built once, not copied 1,000 times.
#[derive(Default)]
struct Shared {
    nets: HashMap<SetKey, Option<Arc<NetSet>>>,
    ports: HashMap<SetKey, Option<Arc<PortSet>>>,
    /// Verdict maps, by map and the key expression they are looked up with.
    vmaps: HashMap<(SetKey, String), Option<VerdictMap>>,
}

struct Ctx<'a> {
    family: &'a str,
    table: &'a str,
    /// The kernel's view of inet rules' families, when it was read.
    kernel: Option<&'a KernelFamilies>,
    sets: &'a HashMap<SetKey, &'a [Value]>,
    shared: &'a RefCell<Shared>,
}

impl<'a> Ctx<'a> {
    /// The key of a named set (`@name`) in this table.
    fn named(&self, right: &Value) -> Option<SetKey> {
        let name = right.as_str()?.strip_prefix('@')?;
        Some((
            self.family.to_string(),
            self.table.to_string(),
            name.to_string(),
        ))
    }

    /// The items a right-hand side stands for: a literal, an anonymous set, a named set.
    fn items<'v>(&self, right: &'v Value) -> Option<Vec<&'v Value>>
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

    fn nets(&self, right: &Value) -> Option<Arc<NetSet>> {
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

    fn ports(&self, right: &Value) -> Option<Arc<PortSet>> {
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

    fn strings(&self, right: &Value) -> Option<Vec<String>> {
        all(self.items(right)?, |v| {
            unwrap_elem(v).as_str().map(str::to_string)
        })
    }
}

fn unwrap_elem(v: &Value) -> &Value {
    v.get("elem").and_then(|e| e.get("val")).unwrap_or(v)
}

fn port_range(v: &Value) -> Option<(u16, u16)> {
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

fn net(v: &Value) -> Option<IpNet> {
    let v = unwrap_elem(v);
    if let Some(p) = v.get("prefix") {
        let addr: IpAddr = p["addr"].as_str()?.parse().ok()?;
        let len = u8::try_from(p["len"].as_u64()?).ok()?;
        return IpNet::new(addr, len).ok();
    }
    let addr: IpAddr = v.as_str()?.parse().ok()?;
    Some(IpNet::from(addr))
}

fn all<'v, T>(
    items: impl IntoIterator<Item = &'v Value>,
    f: impl Fn(&Value) -> Option<T>,
) -> Option<Vec<T>> {
    items.into_iter().map(f).collect()
}

/// `left == right` as conditions: the asked one last, preceded by what the left side implies
/// (a family for `ip saddr` in an inet table, a protocol for `tcp dport`).
fn condition(cx: &Ctx, left: &Value, right: &Value) -> Vec<Cond> {
    let unknown = || vec![Cond::Unknown(format!("{} {}", text(left), text(right)))];
    if let Some(p) = left.get("payload") {
        let (proto, field) = (
            p["protocol"].as_str().unwrap_or(""),
            p["field"].as_str().unwrap_or(""),
        );
        // A header match implies its protocol: `icmpv6 type …` never matches a TCP packet,
        // whatever the field, and `ip saddr` never an IPv6 one.
        let implied = match proto {
            "ip" => Some(Cond::NfProto(Family::Ipv4)),
            "ip6" => Some(Cond::NfProto(Family::Ipv6)),
            "tcp" | "udp" | "udplite" | "sctp" | "dccp" | "icmp" | "icmpv6" => {
                Some(Cond::L4Proto(vec![if proto == "icmpv6" {
                    "ipv6-icmp".into()
                } else {
                    proto.to_string()
                }]))
            }
            _ => None,
        };
        let main = match (proto, field) {
            ("tcp" | "udp" | "udplite" | "sctp" | "dccp" | "th", "dport") => {
                cx.ports(right).map(Cond::DPort)
            }
            ("ip" | "ip6", "saddr") => cx.nets(right).map(Cond::SAddr),
            ("ip" | "ip6", "daddr") => cx.nets(right).map(Cond::DAddr),
            ("ip", "protocol") | ("ip6", "nexthdr") => cx.strings(right).map(Cond::L4Proto),
            _ => None,
        };
        let main = main.unwrap_or_else(|| Cond::Unknown(format!("{} {}", text(left), text(right))));
        return implied.into_iter().chain(std::iter::once(main)).collect();
    }
    if let Some(m) = left.get("meta") {
        let c = match m["key"].as_str().unwrap_or("") {
            "l4proto" => cx.strings(right).map(Cond::L4Proto),
            "nfproto" | "protocol" => cx.strings(right).and_then(|names| match names.as_slice() {
                [one] if one == "ipv4" || one == "ip" => Some(Cond::NfProto(Family::Ipv4)),
                [one] if one == "ipv6" || one == "ip6" => Some(Cond::NfProto(Family::Ipv6)),
                _ => None,
            }),
            "iif" | "iifname" => cx.strings(right).map(Cond::Iif),
            "pkttype" => cx.strings(right).map(Cond::PktType),
            "oif" | "oifname" => cx.strings(right).map(Cond::Oif),
            _ => None,
        };
        return c.map_or_else(unknown, |c| vec![c]);
    }
    if left.get("ct").is_some_and(|c| c["key"] == "state") {
        return cx
            .strings(right)
            .map_or_else(unknown, |s| vec![Cond::CtState(s)]);
    }
    // `ct status dnat`: the CA's connection is not destination-NATed on the way in, but is
    // on the forward path to a container (firewalld accepts those there).
    if left.get("ct").is_some_and(|c| c["key"] == "status")
        && cx
            .strings(right)
            .is_some_and(|s| s.iter().all(|x| x == "dnat"))
    {
        return vec![Cond::CtState(vec!["dnat".into()])];
    }
    // A new connection from outside has no status bit set yet (not DNATed, no reply seen) and
    // runs in the original direction.
    if let Some(key) = left.get("ct").and_then(|c| c["key"].as_str())
        && let Some(values) = cx.strings(right)
    {
        let what = format!("ct {key} {}", values.join(","));
        match key {
            "status" => return vec![Cond::Holds(false, what)],
            "direction" => return vec![Cond::Holds(values == ["original"], what)],
            _ => {}
        }
    }
    if let Some(f) = left.get("fib") {
        let flags: Vec<&str> = f["flags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let has = |flag: &str| flags.contains(&flag);
        match (f["result"].as_str(), right) {
            (Some("type"), _) if has("daddr") != has("saddr") => {
                if let Some(types) = cx.strings(right) {
                    let on_iif = has("iif");
                    if has("daddr") && !on_iif && types == ["local"] {
                        return vec![Cond::DstLocal];
                    }
                    return vec![Cond::AddrType {
                        dst: has("daddr"),
                        types,
                        on_iif,
                    }];
                }
            }
            // The reverse-path filter: `fib saddr [. mark] [. iif] oif missing` (or `exists`).
            // The mark is the CA's packet's, zero.
            (Some("oif" | "oifname"), Value::Bool(exists)) if has("saddr") && !has("oif") => {
                return vec![Cond::Rpf {
                    strict: has("iif"),
                    fails: !exists,
                }];
            }
            _ => {}
        }
    }
    // An IPv6 extension header (routing, fragment, hop-by-hop…): the CA's SYN carries none,
    // so a field of one never compares equal, and `exists` is false.
    if let Some(x) = left.get("exthdr") {
        let name = text(&x["name"]);
        return vec![match right {
            Value::Bool(exists) => Cond::Holds(
                !exists,
                format!(
                    "exthdr {name} {}: the CA's SYN carries no extension header",
                    if *exists { "exists" } else { "missing" }
                ),
            ),
            _ => Cond::Holds(
                false,
                format!(
                    "{name} {}: the CA's SYN carries no IPv6 extension header",
                    text(&x["field"])
                ),
            ),
        }];
    }
    unknown()
}

fn verdict(stmt: &Value) -> Option<Action> {
    let (key, body) = stmt.as_object()?.iter().next()?;
    Some(match key.as_str() {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "return" => Action::Return,
        "continue" => Action::Continue,
        "jump" => Action::Jump(body["target"].as_str()?.to_string()),
        "goto" => Action::Goto(body["target"].as_str()?.to_string()),
        "dnat" => Action::Redirected(dnat(body)),
        "redirect" | "tproxy" => {
            Action::Redirected(Redirect::other(format!("{key} {}", text(body))))
        }
        // Handed to a userspace program, which decides: nothing to evaluate here.
        "queue" => Action::Unknown(format!("queue {}", text(body))),
        "reject" => {
            // Plain reject sends ICMP port unreachable; `tcp reset` a RST: both read as
            // "connection refused". Other ICMP codes read as unreachable.
            let refused = match (
                body.get("type").and_then(Value::as_str),
                body.get("expr").and_then(Value::as_str),
            ) {
                (None, _) | (Some("tcp reset"), _) => true,
                (_, None) => true,
                (_, Some(code)) => code.contains("port-unreachable"),
            };
            Action::Reject { refused }
        }
        _ => return None,
    })
}

/// nft's `dnat` statement (`{"addr": "192.0.2.130", "port": 80}`, `family` in inet tables):
/// a literal address is followed, anything else (a map, a range) is not.
fn dnat(body: &Value) -> Redirect {
    let addr = body["addr"].as_str().and_then(|a| a.parse::<IpAddr>().ok());
    let port = body["port"].as_u64().and_then(|p| u16::try_from(p).ok());
    let shown = format!(
        "dnat to {}{}",
        body.get("addr").map(text).unwrap_or_default(),
        port.map_or(String::new(), |p| format!(":{p}"))
    );
    match addr {
        Some(a) => Redirect {
            kind: super::model::RedirectKind::Dnat,
            to: Some(a),
            port,
            text: shown,
        },
        None => Redirect::other(shown),
    }
}

fn rule_of(cx: &Ctx, item: &Value, maps: &HashMap<SetKey, &[Value]>, opaque: &mut bool) -> Rule {
    let exprs: &[Value] = item["expr"].as_array().map_or(&[], Vec::as_slice);
    let rendered = exprs.iter().map(describe).collect::<Vec<_>>().join(" ");
    let comment = item["comment"]
        .as_str()
        .map(|c| format!(" comment \"{c}\""))
        .unwrap_or_default();
    let mut rule = Rule {
        at: RuleRef {
            chain: ChainRef {
                origin: Origin::Nft {
                    family: cx.family.to_string(),
                },
                table: cx.table.to_string(),
                chain: item["chain"].as_str().unwrap_or("?").to_string(),
            },
            position: Position::Handle(item["handle"].as_u64()),
            text: format!("{rendered}{comment}"),
        },
        matches: Vec::new(),
        action: Action::Continue,
    };
    let mut reject_family = None;
    let mut tcp_reset = false;
    for stmt in exprs {
        let Some((key, body)) = stmt.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        match key.as_str() {
            "match" => {
                let negated = match body["op"].as_str() {
                    Some("==") | Some("in") | None => false,
                    Some("!=") => true,
                    Some(_) => {
                        rule.matches.push(Match {
                            cond: Cond::Unknown(describe(stmt)),
                            negated: false,
                        });
                        continue;
                    }
                };
                // `!=` negates the asked condition only, never the protocol or family it
                // implies: `tcp dport != 22` still matches TCP packets only.
                // A field of an absent extension header breaks the rule, `!=` or not.
                if negated && body["left"].get("exthdr").is_some() && !body["right"].is_boolean() {
                    rule.matches.push(Match {
                        cond: Cond::Holds(false, describe(stmt)),
                        negated: false,
                    });
                    continue;
                }
                let conds = condition(cx, &body["left"], &body["right"]);
                let last = conds.len().saturating_sub(1);
                for (i, cond) in conds.into_iter().enumerate() {
                    rule.matches.push(Match {
                        cond,
                        negated: negated && i == last,
                    });
                }
            }
            "counter" | "log" | "mangle" | "notrack" | "meta" | "ct" => {}
            // A single SYN is under any rate: `limit rate` matches it, `limit rate over` not.
            "limit" => {
                let over = body["inv"].as_bool().unwrap_or(false);
                rule.matches.push(Match {
                    cond: Cond::Holds(
                        !over,
                        format!("{}: a single SYN is under the limit", describe(stmt)),
                    ),
                    negated: false,
                });
            }
            // `reject with icmp …` sends ICMPv4 and matches IPv4 only (nft adds the family
            // match, and its listing may then drop it); `icmpv6` likewise IPv6.
            "reject" => {
                match body.get("type").and_then(Value::as_str) {
                    Some("icmp") => reject_family = Some(Family::Ipv4),
                    Some("icmpv6") => reject_family = Some(Family::Ipv6),
                    Some("tcp reset") => tcp_reset = true,
                    _ => {}
                }
                if let Some(a) = verdict(stmt) {
                    rule.action = a;
                }
            }
            "vmap" => {
                let convert = |entries: Vec<&Value>| -> Option<Vec<(Cond, Action)>> {
                    entries
                        .into_iter()
                        .map(|pair| {
                            let pair = pair.as_array()?;
                            let conds = condition(cx, &body["key"], pair.first()?);
                            let cond = conds.into_iter().last()?;
                            Some((cond, verdict(pair.get(1)?)?))
                        })
                        .collect()
                };
                let converted = match cx.named(&body["data"]) {
                    // A named map is converted once per key expression, and shared.
                    Some(key) => {
                        let memo_key = (key.clone(), text(&body["key"]));
                        let hit = cx.shared.borrow().vmaps.get(&memo_key).cloned();
                        match hit {
                            Some(hit) => hit,
                            None => {
                                let built = maps
                                    .get(&key)
                                    .and_then(|m| convert(m.iter().collect()))
                                    .map(Arc::new);
                                cx.shared.borrow_mut().vmaps.insert(memo_key, built.clone());
                                built
                            }
                        }
                    }
                    None => cx.items(&body["data"]).and_then(convert).map(Arc::new),
                };
                rule.action =
                    converted.map_or_else(|| Action::Unknown(describe(stmt)), Action::Vmap);
            }
            "xt" => {
                *opaque = true;
                rule.matches.push(Match {
                    cond: Cond::Unknown("an iptables-nft compat (xt) extension".into()),
                    negated: false,
                });
            }
            _ => match verdict(stmt) {
                Some(a) => rule.action = a,
                None => rule.matches.push(Match {
                    cond: Cond::Unknown(describe(stmt)),
                    negated: false,
                }),
            },
        }
    }
    family_from_kernel(cx, item, &mut rule, reject_family, tcp_reset);
    rule
}

/// The family a rule of a table for both families (`inet`) matches, where its listing may not
/// say: `reject with icmp` implies IPv4; otherwise the kernel's bytecode
/// (`nft --debug=netlink list ruleset`) shows a `meta nfproto` match the listing dropped. With
/// nftables 1.0.6, `meta nfproto ipv4 tcp dport 80 reject with tcp reset` lists as
/// `tcp dport 80 reject with tcp reset`; without the bytecode such a rule is undecidable, not a
/// drop of both families.
fn family_from_kernel(
    cx: &Ctx,
    item: &Value,
    rule: &mut Rule,
    reject_family: Option<Family>,
    tcp_reset: bool,
) {
    if cx.family != "inet"
        || rule
            .matches
            .iter()
            .any(|m| matches!(m.cond, Cond::NfProto(_)))
    {
        return;
    }
    let from_kernel = || {
        let key = (
            cx.table.to_string(),
            item["chain"].as_str().unwrap_or("").to_string(),
            item["handle"].as_u64()?,
        );
        cx.kernel?.get(&key).copied().flatten()
    };
    let implied = match reject_family {
        Some(f) => Some(f),
        None => {
            let kernel = from_kernel();
            if let Some(f) = kernel {
                // Say so where people read the rule: its listing does not show it.
                rule.at.text.push_str(&format!(
                    " (the kernel's bytecode also matches meta nfproto {})",
                    match f {
                        Family::Ipv4 => "ipv4",
                        Family::Ipv6 => "ipv6",
                    }
                ));
            }
            kernel
        }
    };
    if let Some(family) = implied {
        rule.matches.insert(
            0,
            Match {
                cond: Cond::NfProto(family),
                negated: false,
            },
        );
        return;
    }
    let seen = item["handle"].as_u64().is_some_and(|h| {
        cx.kernel.is_some_and(|k| {
            k.contains_key(&(
                cx.table.to_string(),
                item["chain"].as_str().unwrap_or("").to_string(),
                h,
            ))
        })
    });
    if tcp_reset && !seen {
        rule.matches.push(Match {
            cond: Cond::Unknown(
                "`reject with tcp reset` in an inet table without a visible family match: nft's listing can hide one (nftables 1.0.6), and the kernel's bytecode (nft --debug=netlink list ruleset) was not read"
                    .into(),
            ),
            negated: false,
        });
    }
}

/// Inet rules' families as the kernel holds them, by table, chain and handle: `Some` where the
/// bytecode compares `meta nfproto`, `None` where it does not.
pub type KernelFamilies = HashMap<(String, String, u64), Option<Family>>;

/// Reads `nft --debug=netlink list ruleset`: each rule is a header line
/// `FAMILY TABLE CHAIN HANDLE [POSITION]` followed by its expressions, one per line
/// (`  [ meta load nfproto => reg 1 ]`, `  [ cmp eq reg 1 0x00000002 ]`). Only inet rules
/// are kept; NFPROTO_IPV4 is 2, NFPROTO_IPV6 10.
pub fn kernel_families(netlink: &str) -> KernelFamilies {
    let mut out = KernelFamilies::new();
    let mut current: Option<(String, String, u64)> = None;
    let mut nfproto_reg: Option<String> = None;
    for line in netlink.lines() {
        let trimmed = line.trim();
        if let Some(expr) = trimmed.strip_prefix('[').and_then(|e| e.strip_suffix(']')) {
            let Some(key) = &current else { continue };
            let words: Vec<&str> = expr.split_whitespace().collect();
            match words.as_slice() {
                ["meta", "load", "nfproto", "=>", "reg", r] => {
                    nfproto_reg = Some((*r).to_string());
                    continue;
                }
                ["cmp", op @ ("eq" | "neq"), "reg", r, value, ..]
                    if nfproto_reg.as_deref() == Some(*r) =>
                {
                    let proto = u32::from_str_radix(value.trim_start_matches("0x"), 16)
                        .ok()
                        .map(|v| if v > 0xff { v >> 24 } else { v });
                    let family = match (proto, *op) {
                        (Some(2), "eq") | (Some(10), "neq") => Some(Family::Ipv4),
                        (Some(10), "eq") | (Some(2), "neq") => Some(Family::Ipv6),
                        _ => None,
                    };
                    if let (Some(f), Some(slot)) = (family, out.get_mut(key)) {
                        slot.get_or_insert(f);
                    }
                }
                _ => {}
            }
            nfproto_reg = None;
            continue;
        }
        nfproto_reg = None;
        current = None;
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        if let ["inet", table, chain, handle, ..] = words.as_slice()
            && let Ok(handle) = handle.parse::<u64>()
        {
            let key = ((*table).to_string(), (*chain).to_string(), handle);
            out.insert(key.clone(), None);
            current = Some(key);
        }
    }
    out
}

/// [`ruleset_with_kernel`] without the kernel's bytecode.
pub fn ruleset(json: &Value) -> (Ruleset, Opaque) {
    ruleset_with_kernel(json, None)
}

/// The ruleset of `nft -j list ruleset`, with the families of inet rules taken from the
/// kernel's bytecode (`nft --debug=netlink list ruleset`) where given.
pub fn ruleset_with_kernel(json: &Value, netlink: Option<&str>) -> (Ruleset, Opaque) {
    let kernel = netlink.map(kernel_families);
    let mut rs = Ruleset::default();
    let mut opaque = Opaque::default();
    let items: &[Value] = json["nftables"].as_array().map_or(&[], Vec::as_slice);
    // Borrowed from the document, never copied per rule.
    let mut sets: HashMap<SetKey, &[Value]> = HashMap::new();
    let mut maps: HashMap<SetKey, &[Value]> = HashMap::new();
    let shared = RefCell::new(Shared::default());
    let mut managers = BTreeSet::new();
    for item in items {
        for (kind, target) in [("set", &mut sets), ("map", &mut maps)] {
            if let Some(s) = item.get(kind) {
                let key = (
                    s["family"].as_str().unwrap_or("").to_string(),
                    s["table"].as_str().unwrap_or("").to_string(),
                    s["name"].as_str().unwrap_or("").to_string(),
                );
                target.insert(key, s["elem"].as_array().map_or(&[], Vec::as_slice));
            }
        }
        if item.get("table").is_some_and(|t| t["name"] == "firewalld") {
            managers.insert("firewalld".to_string());
        }
    }
    for item in items {
        if let Some(c) = item.get("chain") {
            let (family, table, name) = (
                c["family"].as_str().unwrap_or(""),
                c["table"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or(""),
            );
            let Some(fam) = family_of(family) else {
                continue;
            };
            manager_of(name).map(|m| managers.insert(m.to_string()));
            let key = chain_key(family, table, name);
            rs.chains.entry(key.clone()).or_default();
            // The way in: ingress (netdev, or inet since Linux 5.10), prerouting (filter and
            // nat: a DNAT sends the connection elsewhere) and input (filter).
            let hook = match (c["hook"].as_str(), c["type"].as_str()) {
                (Some("ingress"), Some("filter")) => Some(Hook::Ingress),
                (Some("prerouting"), Some("filter" | "nat")) => Some(Hook::Prerouting),
                (Some("input"), Some("filter")) => Some(Hook::Input),
                (Some("forward"), Some("filter")) => Some(Hook::Forward),
                _ => None,
            };
            if let Some(hook) = hook {
                rs.base.push(BaseChain {
                    hook,
                    key,
                    family: fam,
                    priority: c["prio"].as_i64().unwrap_or(0),
                    policy_drop: c["policy"] == "drop",
                    chain: ChainRef {
                        origin: Origin::Nft {
                            family: family.to_string(),
                        },
                        table: table.to_string(),
                        chain: name.to_string(),
                    },
                    devices: (hook == Hook::Ingress)
                        .then(|| devices(&c["dev"]))
                        .flatten(),
                });
            }
        }
        if let Some(r) = item.get("rule") {
            let (family, table) = (
                r["family"].as_str().unwrap_or(""),
                r["table"].as_str().unwrap_or(""),
            );
            if family_of(family).is_none() {
                continue;
            }
            let cx = Ctx {
                family,
                table,
                kernel: kernel.as_ref(),
                sets: &sets,
                shared: &shared,
            };
            let mut is_opaque = false;
            let rule = rule_of(&cx, r, &maps, &mut is_opaque);
            if is_opaque {
                opaque
                    .xt_tables
                    .insert((family.to_string(), table.to_string()));
            }
            let key = chain_key(family, table, r["chain"].as_str().unwrap_or(""));
            rs.chains.entry(key).or_default().push(rule);
        }
    }
    rs.managers = managers.into_iter().collect();
    (rs, opaque)
}

/// The devices an ingress chain is bound to (`"dev": "eth0"` or a list); `None` when the
/// chain names none.
fn devices(dev: &Value) -> Option<Vec<String>> {
    match dev {
        Value::String(d) => Some(vec![d.clone()]),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

/// Recognises firewall managers by the chains they create.
pub fn manager_of(chain: &str) -> Option<&'static str> {
    let lower = chain.to_ascii_lowercase();
    if lower.starts_with("ufw") {
        Some("ufw")
    } else if chain.starts_with("DOCKER") {
        Some("Docker")
    } else if lower.starts_with("f2b-") {
        Some("fail2ban")
    } else if lower.starts_with("crowdsec") {
        Some("CrowdSec")
    } else if chain.starts_with("filter_IN_") || chain.starts_with("IN_public") {
        Some("firewalld")
    } else {
        None
    }
}

impl Ruleset {
    /// Drops the chains of the given nft tables (replaced by their iptables-save view).
    pub fn without_tables(mut self, tables: &BTreeSet<(String, String)>) -> Ruleset {
        let prefixes: Vec<String> = tables
            .iter()
            .map(|(f, t)| format!("nft/{f}/{t}/"))
            .collect();
        self.base
            .retain(|b| !prefixes.iter().any(|p| b.key.starts_with(p)));
        self.chains
            .retain(|k, _| !prefixes.iter().any(|p| k.starts_with(p)));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::model::Verdict;
    use crate::firewall::model::tests::packet as pkt;

    #[test]
    fn an_inet_drop_of_ipv6_port_80_spares_ipv4() {
        let json: Value = serde_json::from_str(r#"{"nftables": [
          {"table": {"family": "inet", "name": "f", "handle": 1}},
          {"chain": {"family": "inet", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
            {"drop": null}]}}]}"#).unwrap();
        let (rs, opaque) = ruleset(&json);
        assert!(opaque.xt_tables.is_empty());
        match rs.evaluate(&pkt(Family::Ipv6, 80)) {
            Verdict::Drop { rule } => {
                assert_eq!(rule.position, Position::Handle(Some(2)));
                assert_eq!(rule.chain.table, "f");
                assert_eq!(
                    rule.to_string(),
                    "nft inet f input handle 2: meta nfproto ipv6 tcp dport 80 drop"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(rs.evaluate(&pkt(Family::Ipv4, 80)), Verdict::Accept);
    }

    #[test]
    fn named_sets_and_verdict_maps_decide() {
        let json: Value = serde_json::from_str(r#"{"nftables": [
          {"table": {"family": "inet", "name": "f", "handle": 1}},
          {"set": {"family": "inet", "table": "f", "name": "web", "type": "inet_service", "handle": 3, "elem": [80, 443]}},
          {"chain": {"family": "inet", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
          {"chain": {"family": "inet", "table": "f", "name": "web_in", "handle": 4}},
          {"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 5, "expr": [
            {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": {"set": [[22, {"accept": null}], [80, {"jump": {"target": "web_in"}}]]}}}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "web_in", "handle": 6, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": "@web"}}, {"accept": null}]}}]}"#).unwrap();
        let (rs, _) = ruleset(&json);
        assert_eq!(rs.evaluate(&pkt(Family::Ipv4, 80)), Verdict::Accept);
        assert!(
            matches!(rs.evaluate(&pkt(Family::Ipv4, 443)), Verdict::Drop { ref rule } if rule.contains("policy drop"))
        );
    }

    #[test]
    fn negation_applies_to_the_match_not_to_the_protocol_it_implies() {
        let json: Value = serde_json::from_str(r#"{"nftables": [
          {"chain": {"family": "inet", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 2, "expr": [
            {"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, 443]}}}, {"drop": null}]}},
          {"rule": {"family": "inet", "table": "f", "chain": "input", "handle": 3, "expr": [
            {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "198.51.100.0", "len": 24}}}}, {"drop": null}]}}]}"#).unwrap();
        let (rs, _) = ruleset(&json);
        assert!(
            matches!(rs.evaluate(&pkt(Family::Ipv4, 80)), Verdict::Drop { ref rule } if rule.contains("handle 2"))
        );
        assert!(
            matches!(rs.evaluate(&pkt(Family::Ipv4, 443)), Verdict::Drop { ref rule } if rule.contains("handle 3"))
        );
        // `ip saddr != …` concerns IPv4 only: an IPv6 packet to 443 passes both rules.
        assert_eq!(rs.evaluate(&pkt(Family::Ipv6, 443)), Verdict::Accept);
    }

    #[test]
    fn compat_expressions_mark_the_table_opaque() {
        let json: Value = serde_json::from_str(r#"{"nftables": [
          {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [{"xt": {"type": "match", "name": "recent"}}, {"drop": null}]}}]}"#).unwrap();
        let (rs, opaque) = ruleset(&json);
        assert!(
            opaque
                .xt_tables
                .contains(&("ip".to_string(), "filter".to_string()))
        );
        assert!(matches!(
            rs.evaluate(&pkt(Family::Ipv4, 80)),
            Verdict::Undecidable { .. }
        ));
        assert!(rs.without_tables(&opaque.xt_tables).base.is_empty());
    }

    /// An ingress drop comes before every input chain: it must never pass (issue 12, 5b).
    #[test]
    fn ingress_chains_are_evaluated_netdev_and_inet() {
        for (family, extra) in [("netdev", ""), ("inet", "")] {
            let json: Value = serde_json::from_str(&format!(r#"{{"nftables": [
              {{"chain": {{"family": "{family}", "table": "t", "name": "early", "handle": 1, "type": "filter", "hook": "ingress", "dev": "eth0", "prio": -500, "policy": "accept"}}}},
              {{"rule": {{"family": "{family}", "table": "t", "chain": "early", "handle": 2, "expr": [
                {{"match": {{"op": "==", "left": {{"payload": {{"protocol": "tcp", "field": "dport"}}}}, "right": 80}}}}, {{"drop": null}}]}}}},
              {{"chain": {{"family": "inet", "table": "f", "name": "input", "handle": 3, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}}{extra}]}}"#)).unwrap();
            let (rs, _) = ruleset(&json);
            for fam in [Family::Ipv4, Family::Ipv6] {
                assert!(
                    matches!(rs.evaluate(&pkt(fam, 80)), Verdict::Drop { ref rule } if rule.contains("handle 2")),
                    "{family} ingress, {fam:?}"
                );
                assert_eq!(rs.evaluate(&pkt(fam, 443)), Verdict::Accept);
            }
            let other_device = super::super::model::Packet {
                iif: Some("eth1".into()),
                ..pkt(Family::Ipv4, 80)
            };
            assert_eq!(rs.evaluate(&other_device), Verdict::Accept);
            let unknown_device = super::super::model::Packet {
                iif: None,
                ..pkt(Family::Ipv4, 80)
            };
            assert!(matches!(
                rs.evaluate(&unknown_device),
                Verdict::Undecidable { .. }
            ));
        }
    }

    #[test]
    fn conntrack_state_at_ingress_is_undecidable() {
        let json: Value = serde_json::from_str(r#"{"nftables": [
          {"chain": {"family": "netdev", "table": "t", "name": "early", "handle": 1, "type": "filter", "hook": "ingress", "dev": ["eth0", "eth1"], "prio": 0, "policy": "accept"}},
          {"rule": {"family": "netdev", "table": "t", "chain": "early", "handle": 2, "expr": [
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]}}]}"#).unwrap();
        let (rs, _) = ruleset(&json);
        assert!(matches!(
            rs.evaluate(&pkt(Family::Ipv4, 80)),
            Verdict::Undecidable { .. }
        ));
    }

    fn one_chain(rules: &[&str]) -> Value {
        let mut items = vec![
            r#"{"chain": {"family": "inet", "table": "t", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}"#.to_string(),
        ];
        for (n, expr) in rules.iter().enumerate() {
            items.push(format!(
                r#"{{"rule": {{"family": "inet", "table": "t", "chain": "input", "handle": {}, "expr": {expr}}}}}"#,
                n + 2
            ));
        }
        serde_json::from_str(&format!(r#"{{"nftables": [{}]}}"#, items.join(","))).unwrap()
    }

    const ACCEPT_80: &str = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"accept": null}]"#;

    /// Stock rules that never touch the CA's SYN, as `nft -j` prints them (nftables 1.0.6):
    /// evaluation goes on to the rule that decides.
    #[test]
    fn stock_matches_that_a_syn_does_not_meet_pass_it_on() {
        let json = one_chain(&[
            // ufw (iptables-nft) and hand-made rulesets
            r#"[{"match": {"op": "==", "left": {"exthdr": {"name": "rt", "field": "type"}}, "right": 0}}, {"drop": null}]"#,
            r#"[{"match": {"op": "==", "left": {"exthdr": {"name": "frag"}}, "right": true}}, {"drop": null}]"#,
            r#"[{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "broadcast"}}, {"drop": null}]"#,
            r#"[{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["saddr"]}}, "right": {"set": ["broadcast", "multicast"]}}}, {"drop": null}]"#,
            r#"[{"match": {"op": "!=", "left": {"meta": {"key": "pkttype"}}, "right": "host"}}, {"drop": null}]"#,
            r#"[{"limit": {"rate": 10, "burst": 5, "per": "second", "inv": true}}, {"drop": null}]"#,
            r#"[{"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": ["snat", "dnat"]}}, {"drop": null}]"#,
            r#"[{"match": {"op": "==", "left": {"ct": {"key": "direction"}}, "right": "reply"}}, {"drop": null}]"#,
            r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "icmpv6", "field": "type"}}, "right": {"set": ["nd-router-advert", "nd-neighbor-solicit"]}}}, {"drop": null}]"#,
            // firewalld's IPv6 reverse-path filter
            r#"[{"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv6"}}, {"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, "right": false}}, {"drop": null}]"#,
            r#"[{"limit": {"rate": 3, "burst": 10, "per": "minute"}}, {"log": {"prefix": "x"}}]"#,
            ACCEPT_80,
        ]);
        let (rs, _) = ruleset(&json);
        for family in [Family::Ipv4, Family::Ipv6] {
            assert_eq!(rs.evaluate(&pkt(family, 80)), Verdict::Accept, "{family:?}");
            assert!(
                matches!(rs.evaluate(&pkt(family, 443)), Verdict::Drop { ref rule } if rule.position == Position::Policy),
                "{family:?}"
            );
        }
    }

    #[test]
    fn the_reverse_path_filter_drops_a_syn_whose_route_back_leaves_elsewhere() {
        let rpf = r#"[{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr", "mark", "iif"]}}, "right": false}}, {"drop": null}]"#;
        let (rs, _) = ruleset(&one_chain(&[rpf, ACCEPT_80]));
        assert_eq!(rs.evaluate(&pkt(Family::Ipv6, 80)), Verdict::Accept);
        let elsewhere = super::super::model::Packet {
            return_iif: Some("wg0".into()),
            ..pkt(Family::Ipv6, 80)
        };
        assert!(matches!(rs.evaluate(&elsewhere), Verdict::Drop { .. }));
        let unknown = super::super::model::Packet {
            return_iif: None,
            ..pkt(Family::Ipv6, 80)
        };
        assert!(matches!(rs.evaluate(&unknown), Verdict::Undecidable { .. }));
        // Loose (no iif): any route back will do.
        let loose = r#"[{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr"]}}, "right": false}}, {"drop": null}]"#;
        let (rs, _) = ruleset(&one_chain(&[loose, ACCEPT_80]));
        assert_eq!(rs.evaluate(&elsewhere), Verdict::Accept);
    }

    #[test]
    fn destination_types_on_the_inbound_interface_stay_undecidable() {
        let on_iif = r#"[{"match": {"op": "!=", "left": {"fib": {"result": "type", "flags": ["daddr", "iif"]}}, "right": "local"}}, {"drop": null}]"#;
        let (rs, _) = ruleset(&one_chain(&[on_iif, ACCEPT_80]));
        assert!(matches!(
            rs.evaluate(&pkt(Family::Ipv4, 80)),
            Verdict::Undecidable { .. }
        ));
    }

    /// `nft --debug=netlink list ruleset` from nftables 1.0.6 for the rules of
    /// `reject_families_come_from_the_kernel_where_the_listing_hides_them`.
    const ELIDED_NETLINK: &str = "inet t input 2
  [ meta load nfproto => reg 1 ]
  [ cmp eq reg 1 0x00000002 ]
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x00005000 ]
  [ reject type 1 code 0 ]

inet t input 3 2
  [ meta load l4proto => reg 1 ]
  [ cmp eq reg 1 0x00000006 ]
  [ payload load 2b @ transport header + 2 => reg 1 ]
  [ cmp eq reg 1 0x00005100 ]
  [ reject type 1 code 0 ]

table inet t {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 80 reject with tcp reset
		tcp dport 81 reject with tcp reset
	}
}
";

    /// With nftables 1.0.6, `meta nfproto ipv4 tcp dport 80 reject with tcp reset` lists, as
    /// text and as JSON, as `tcp dport 80 reject with tcp reset` (issue 11): the kernel's
    /// bytecode says IPv4 only.
    #[test]
    fn reject_families_come_from_the_kernel_where_the_listing_hides_them() {
        let reset = |port: u16| {
            format!(
                r#"[{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "tcp", "field": "dport"}}}}, "right": {port}}}}}, {{"reject": {{"type": "tcp reset"}}}}]"#
            )
        };
        let icmp = r#"[{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 82}}, {"reject": {"type": "icmp", "expr": "port-unreachable"}}]"#;
        let (r80, r81) = (reset(80), reset(81));
        let mut json = one_chain(&[&r80, &r81, icmp]);
        json["nftables"][0]["chain"]["policy"] = "accept".into();
        let families = kernel_families(ELIDED_NETLINK);
        assert_eq!(
            families.get(&("t".into(), "input".into(), 2)),
            Some(&Some(Family::Ipv4))
        );
        assert_eq!(families.get(&("t".into(), "input".into(), 3)), Some(&None));
        let (rs, _) = ruleset_with_kernel(&json, Some(ELIDED_NETLINK));
        assert!(matches!(
            rs.evaluate(&pkt(Family::Ipv4, 80)),
            Verdict::Reject { refused: true, .. }
        ));
        assert_eq!(rs.evaluate(&pkt(Family::Ipv6, 80)), Verdict::Accept);
        // No family in the bytecode either: both families are refused.
        assert!(matches!(
            rs.evaluate(&pkt(Family::Ipv6, 81)),
            Verdict::Reject { .. }
        ));
        // `reject with icmp` is ICMPv4: IPv4 only, bytecode or not.
        assert_eq!(rs.evaluate(&pkt(Family::Ipv6, 82)), Verdict::Accept);
        let (without, _) = ruleset(&json);
        assert_eq!(without.evaluate(&pkt(Family::Ipv6, 82)), Verdict::Accept);
        assert!(matches!(
            without.evaluate(&pkt(Family::Ipv4, 82)),
            Verdict::Reject { .. }
        ));
        // Without the bytecode, a tcp reset reject in inet is no certain drop of either family.
        for family in [Family::Ipv4, Family::Ipv6] {
            assert!(matches!(
                without.evaluate(&pkt(family, 80)),
                Verdict::Undecidable { .. }
            ));
        }
    }
}
