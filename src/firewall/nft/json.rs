//! `nft -j list ruleset` into the [`Ruleset`] model: base chains of the way in (ingress,
//! prerouting, input) and of the forward path, their rules, named sets and verdict maps.
//! Expressions the model does not cover become `Unknown` with their text, never a guess.

use super::expr::{condition, describe, text, verdict};
use super::netlink::{KernelFamilies, family_from_kernel, kernel_families};
use super::table::{Ctx, SetKey, Shared};
use crate::facts::Family;
use crate::firewall::model::{
    Action, BaseChain, ChainRef, Cond, Hook, Match, Origin, Position, Rule, RuleRef, Ruleset,
    manager_of,
};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// What conversion found besides the ruleset: tables made by iptables-nft whose rules use
/// compat (`xt`) expressions that nft cannot show in full, by family.
#[derive(Debug, Default)]
pub struct Opaque {
    pub xt_tables: BTreeSet<(String, String)>,
}

fn family_of(table_family: &str) -> Option<Option<Family>> {
    match table_family {
        "ip" => Some(Some(Family::Ipv4)),
        "ip6" => Some(Some(Family::Ipv6)),
        // A netdev table's ingress chains see every packet of their devices, both families.
        "inet" | "netdev" => Some(None),
        _ => None,
    }
}

fn chain_ref(family: &str, table: &str, chain: &str) -> ChainRef {
    ChainRef {
        origin: Origin::Nft {
            family: family.to_string(),
        },
        table: table.to_string(),
        chain: chain.to_string(),
    }
}

fn rule_of(
    cx: &Ctx,
    kernel: Option<&KernelFamilies>,
    item: &Value,
    maps: &HashMap<SetKey, &[Value]>,
    opaque: &mut bool,
) -> Rule {
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
                    Some(op) => {
                        rule.matches.push(Match {
                            cond: super::expr::ordered(op, &body["left"], &body["right"])
                                .unwrap_or_else(|| Cond::Unknown(describe(stmt))),
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
    family_from_kernel(
        cx.family,
        cx.table,
        kernel,
        item,
        &mut rule,
        reject_family,
        tcp_reset,
    );
    rule
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
            let key = chain_ref(family, table, name);
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
                    family: fam,
                    priority: c["prio"].as_i64().unwrap_or(0),
                    policy_drop: c["policy"] == "drop",
                    chain: key,
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
                sets: &sets,
                shared: &shared,
            };
            let mut is_opaque = false;
            let rule = rule_of(&cx, kernel.as_ref(), r, &maps, &mut is_opaque);
            if is_opaque {
                opaque
                    .xt_tables
                    .insert((family.to_string(), table.to_string()));
            }
            let key = chain_ref(family, table, r["chain"].as_str().unwrap_or(""));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::eval::tests::packet as pkt;
    use crate::firewall::model::Verdict;
    use crate::firewall::nft::netlink::tests::ELIDED_NETLINK;

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

    /// An IPS-style rule on established flows, as `nft -j` lists `meta length > 100`: the SYN
    /// passes, the request segment is dropped; a length the SYN has is decided for it too.
    #[test]
    fn a_length_match_on_established_flows_drops_the_request_not_the_syn() {
        let json: Value = serde_json::from_str(r#"{"nftables": [
          {"table": {"family": "inet", "name": "ips", "handle": 1}},
          {"chain": {"family": "inet", "table": "ips", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
          {"rule": {"family": "inet", "table": "ips", "chain": "input", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "established"}},
            {"match": {"op": ">", "left": {"meta": {"key": "length"}}, "right": 100}},
            {"drop": null}]}},
          {"rule": {"family": "inet", "table": "ips", "chain": "input", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "length"}}, "right": {"range": [1000, 2000]}}},
            {"drop": null}]}}]}"#).unwrap();
        let (rs, _) = ruleset(&json);
        for family in [Family::Ipv4, Family::Ipv6] {
            assert_eq!(rs.evaluate(&pkt(family, 80)), Verdict::Accept);
            match rs.evaluate_request(&pkt(family, 80)) {
                Verdict::Drop { rule } => assert_eq!(rule.position, Position::Handle(Some(2))),
                other => panic!("{other:?}"),
            }
            // Port 22's request meets only the range rule, which its length may or may not
            // reach: undecidable, never guessed.
            assert!(matches!(
                rs.evaluate_request(&pkt(family, 22)),
                Verdict::Undecidable { .. }
            ));
        }
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

    /// An ingress drop comes before every input chain: a SYN it drops never reaches input, so
    /// an accepting input chain must not hide it.
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
            let other_device = crate::firewall::model::Packet {
                iif: Some("eth1".into()),
                ..pkt(Family::Ipv4, 80)
            };
            assert_eq!(rs.evaluate(&other_device), Verdict::Accept);
            let unknown_device = crate::firewall::model::Packet {
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
        let elsewhere = crate::firewall::model::Packet {
            return_iif: Some("wg0".into()),
            ..pkt(Family::Ipv6, 80)
        };
        assert!(matches!(rs.evaluate(&elsewhere), Verdict::Drop { .. }));
        let unknown = crate::firewall::model::Packet {
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

    /// With nftables 1.0.6, `meta nfproto ipv4 tcp dport 80 reject with tcp reset` lists, as
    /// text and as JSON, as `tcp dport 80 reject with tcp reset`: the family match is lost from
    /// the listing, not from the kernel, whose bytecode says IPv4 only.
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
