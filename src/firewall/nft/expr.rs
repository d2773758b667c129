//! One expression or statement of `nft -j`: its text for evidence, a match as the model's
//! conditions, a verdict as the model's action. Expressions the model does not cover become
//! `Unknown` with their text, never a guess.

use super::table::Ctx;
use crate::facts::Family;
use crate::firewall::model::{Action, Cond, Redirect, RedirectKind};
use serde_json::Value;
use std::net::IpAddr;

pub(super) fn text(v: &Value) -> String {
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
pub(super) fn describe(stmt: &Value) -> String {
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

/// `left == right` as conditions: the asked one last, preceded by what the left side implies
/// (a family for `ip saddr` in an inet table, a protocol for `tcp dport`).
pub(super) fn condition(cx: &Ctx, left: &Value, right: &Value) -> Vec<Cond> {
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
            "length" => length_range(right).map(|(min, max)| Cond::Length { min, max }),
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

/// `meta length 100-200` or `meta length 100`: the inclusive range.
fn length_range(right: &Value) -> Option<(u32, u32)> {
    let num = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match right {
        Value::Object(o) => {
            let r = o.get("range")?.as_array()?;
            Some((num(r.first()?)?, num(r.get(1)?)?))
        }
        other => num(other).map(|n| (n, n)),
    }
}

/// `left OP right` with an ordering operator (`<`, `>`, `<=`, `>=`), where the model has it:
/// the packet's length (`meta length > 100`, as IPS-style rules drop data segments by).
pub(super) fn ordered(op: &str, left: &Value, right: &Value) -> Option<Cond> {
    if left.get("meta")?["key"].as_str()? != "length" {
        return None;
    }
    let n = u32::try_from(right.as_u64()?).ok()?;
    let (min, max) = match op {
        ">" => (n.checked_add(1)?, u32::MAX),
        ">=" => (n, u32::MAX),
        "<" => (0, n.checked_sub(1)?),
        "<=" => (0, n),
        _ => return None,
    };
    Some(Cond::Length { min, max })
}

pub(super) fn verdict(stmt: &Value) -> Option<Action> {
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
            kind: RedirectKind::Dnat,
            to: Some(a),
            port,
            text: shown,
        },
        None => Redirect::other(shown),
    }
}
