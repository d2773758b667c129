//! `iptables-save` / `ip6tables-save` output into the [`Ruleset`] model: the filter table's
//! INPUT chain (priority 0, as netfilter registers it) and the chains it jumps to.

use super::model::{
    Action, BaseChain, ChainRef, Cond, Hook, Match, NetSet, Origin, PortSet, Position, Redirect,
    Rule, RuleRef, Ruleset,
};
use super::nft::manager_of;
use crate::facts::{Family, IptablesBackend};
use ipnet::IpNet;
use std::net::IpAddr;

/// Splits a line as iptables-save quotes it: double quotes with backslash escapes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut chars = line.chars();
    let mut started = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_quotes = !in_quotes;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    out.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

fn nets(list: &str) -> Option<Vec<IpNet>> {
    list.split(',')
        .map(|item| match item.split_once('/') {
            Some((addr, len)) => {
                let addr: IpAddr = addr.parse().ok()?;
                let len: u8 = len.parse().ok()?;
                IpNet::new(addr, len).ok()
            }
            None => item.parse::<IpAddr>().ok().map(IpNet::from),
        })
        .collect()
}

fn ports(list: &str) -> Option<Vec<(u16, u16)>> {
    list.split(',')
        .map(|item| match item.split_once(':') {
            Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
            None => item.parse().ok().map(|p| (p, p)),
        })
        .collect()
}

/// Matches (modules) whose options are understood; any other module makes the rule
/// undecidable for the packets its other matches do not rule out.
const KNOWN_MODULES: &[&str] = &[
    "tcp",
    "udp",
    "multiport",
    "state",
    "conntrack",
    "comment",
    "addrtype",
];
/// Targets that do not end the traversal.
const CONTINUE_TARGETS: &[&str] = &[
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK",
];

/// The dump and table a rule line comes from.
struct Where {
    origin: Origin,
    table: String,
}

fn parse_rule(
    words: &[String],
    chains: &[String],
    where_: &Where,
    line_no: usize,
    line: &str,
) -> (String, Rule) {
    let chain = words.get(1).cloned().unwrap_or_default();
    let mut matches: Vec<Match> = Vec::new();
    let mut action = Action::Continue;
    let mut i = 2;
    let mut negate = false;
    let unknown = |t: &str| Cond::Unknown(t.to_string());
    while i < words.len() {
        let w = words[i].as_str();
        let value = words.get(i + 1).map(String::as_str).unwrap_or("");
        let mut push = |cond: Option<Cond>, text: String, negated: bool| {
            matches.push(Match {
                cond: cond.unwrap_or(Cond::Unknown(text)),
                negated,
            });
        };
        match w {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-p" | "--protocol" => push(
                Some(Cond::L4Proto(vec![value.to_ascii_lowercase()])),
                String::new(),
                negate,
            ),
            "-s" | "--source" => push(
                nets(value).map(|n| Cond::SAddr(NetSet::new(n))),
                format!("-s {value}"),
                negate,
            ),
            "-d" | "--destination" => {
                push(
                    nets(value).map(|n| Cond::DAddr(NetSet::new(n))),
                    format!("-d {value}"),
                    negate,
                );
            }
            "-i" | "--in-interface" => push(
                Some(Cond::Iif(vec![value.to_string()])),
                String::new(),
                negate,
            ),
            "-o" | "--out-interface" => push(
                Some(Cond::Oif(vec![value.to_string()])),
                String::new(),
                negate,
            ),
            "--dport" | "--destination-port" | "--dports" | "--destination-ports" => push(
                ports(value).map(|p| Cond::DPort(PortSet::new(p))),
                format!("{w} {value}"),
                negate,
            ),
            "--state" | "--ctstate" => push(
                Some(Cond::CtState(
                    value.split(',').map(|s| s.to_ascii_lowercase()).collect(),
                )),
                String::new(),
                negate,
            ),
            "--dst-type" => push(
                (value == "LOCAL").then_some(Cond::DstLocal),
                format!("--dst-type {value}"),
                negate,
            ),
            "--comment" => {}
            "-m" | "--match" => {
                if !KNOWN_MODULES.contains(&value) {
                    push(None, format!("-m {value}"), negate);
                }
            }
            "--syn" => {
                // The CA's packet is a SYN: `--syn` holds, `! --syn` never does.
                if negate {
                    push(Some(Cond::L4Proto(Vec::new())), String::new(), false);
                }
                negate = false;
                i += 1;
                continue;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let goto = w == "-g" || w == "--goto";
                action = match value {
                    "ACCEPT" => Action::Accept,
                    "DROP" => Action::Drop,
                    "RETURN" => Action::Return,
                    "REJECT" => {
                        let with = words
                            .iter()
                            .position(|x| x == "--reject-with")
                            .and_then(|p| words.get(p + 1));
                        let refused =
                            with.is_none_or(|w| w.contains("port-unreach") || w == "tcp-reset");
                        Action::Reject { refused }
                    }
                    t if CONTINUE_TARGETS.contains(&t) => Action::Continue,
                    "DNAT" | "REDIRECT" | "TPROXY" => {
                        let dest = words
                            .iter()
                            .position(|x| {
                                x == "--to-destination" || x == "--to-ports" || x == "--on-port"
                            })
                            .and_then(|p| words.get(p + 1));
                        let text = format!(
                            "{value}{}",
                            dest.map_or(String::new(), |d| format!(" to {d}"))
                        );
                        match (value, dest) {
                            ("DNAT", Some(d)) => Action::Redirected(Redirect::dnat(d, text)),
                            _ => Action::Redirected(Redirect::other(text)),
                        }
                    }
                    t if chains.iter().any(|c| c == t) => {
                        if goto {
                            Action::Goto(t.to_string())
                        } else {
                            Action::Jump(t.to_string())
                        }
                    }
                    t => Action::Unknown(format!("-j {t}")),
                };
                // Target options follow the target; only --reject-with matters, read above.
                break;
            }
            other if other.starts_with('-') => {
                let takes_value = !value.is_empty() && !value.starts_with('-') && value != "!";
                push(
                    Some(unknown(
                        format!("{other} {}", if takes_value { value } else { "" }).trim(),
                    )),
                    String::new(),
                    negate,
                );
                if takes_value {
                    i += 1;
                }
                negate = false;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        negate = false;
        i += 2;
    }
    let rule = Rule {
        at: RuleRef {
            chain: ChainRef {
                origin: where_.origin.clone(),
                table: where_.table.clone(),
                chain: chain.clone(),
            },
            position: Position::Line(line_no),
            text: line.to_string(),
        },
        matches,
        action,
    };
    (chain, rule)
}

/// The built-in chains a new inbound connection meets, with netfilter's priorities
/// (NF_IP_PRI_RAW, _MANGLE, _NAT_DST, _FILTER, _SECURITY).
const WAY_IN: &[(&str, &str, Hook, i64)] = &[
    ("raw", "PREROUTING", Hook::Prerouting, -300),
    ("mangle", "PREROUTING", Hook::Prerouting, -150),
    ("nat", "PREROUTING", Hook::Prerouting, -100),
    ("mangle", "INPUT", Hook::Input, -150),
    ("filter", "INPUT", Hook::Input, 0),
    ("security", "INPUT", Hook::Input, 50),
    // The forward path, for a DNAT to a container (`nat.rs`).
    ("mangle", "FORWARD", Hook::Forward, -150),
    ("filter", "FORWARD", Hook::Forward, 0),
    ("security", "FORWARD", Hook::Forward, 50),
];

/// The tables of one dump on the way in. `origin` names it in evidence:
/// `iptables-legacy (IPv4)`.
pub fn ruleset(dump: &str, family: Family, backend: IptablesBackend) -> Ruleset {
    let origin = Origin::Iptables { family, backend };
    let mut rs = Ruleset::default();
    let slug = origin.to_string().replace(' ', "-");
    let key = |table: &str, chain: &str| format!("{slug}/{table}/{chain}");
    let mut table = String::new();
    let mut chains: Vec<String> = Vec::new();
    let lines: Vec<&str> = dump.lines().collect();
    // Chain names first: a jump target is a chain, anything else an extension target.
    for line in &lines {
        if let Some(decl) = line.strip_prefix(':') {
            chains.extend(decl.split_whitespace().next().map(str::to_string));
        }
    }
    for (n, line) in lines.iter().enumerate() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
            continue;
        }
        if table.is_empty() || line.is_empty() || line.starts_with('#') || line == "COMMIT" {
            continue;
        }
        if let Some(decl) = line.strip_prefix(':') {
            let mut parts = decl.split_whitespace();
            let (Some(name), Some(policy)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Some(m) = manager_of(name).filter(|m| !rs.managers.iter().any(|x| x == m)) {
                rs.managers.push(m.to_string());
            }
            rs.chains.entry(key(&table, name)).or_default();
            if let Some((_, _, hook, priority)) =
                WAY_IN.iter().find(|(t, c, ..)| *t == table && *c == name)
            {
                rs.base.push(BaseChain {
                    hook: *hook,
                    key: key(&table, name),
                    family: Some(family),
                    priority: *priority,
                    policy_drop: policy == "DROP",
                    chain: ChainRef {
                        origin: origin.clone(),
                        table: table.clone(),
                        chain: name.to_string(),
                    },
                    devices: None,
                });
            }
            continue;
        }
        let w = words(line);
        if w.first().map(String::as_str) == Some("-A") {
            let where_ = Where {
                origin: origin.clone(),
                table: table.clone(),
            };
            let (chain, rule) = parse_rule(&w, &chains, &where_, n + 1, line);
            rs.chains.entry(key(&table, &chain)).or_default().push(rule);
        }
    }
    rs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::firewall::model::{Packet, Verdict};

    const UFW_LIKE: &str = "# Generated by iptables-save v1.8.9 on Fri Nov 27 10:00:00 2026
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-before-input - [0:0]
:ufw-user-input - [0:0]
-A INPUT -j ufw-before-input
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-input -m conntrack --ctstate INVALID -j DROP
-A ufw-before-input -j ufw-user-input
-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT
-A ufw-user-input -s 203.0.113.0/24 -p tcp -m multiport --dports 80,443 -m comment --comment \"office \\\"only\\\"\" -j ACCEPT
COMMIT
";

    fn pkt(saddr: Option<&str>, dport: u16) -> Packet {
        Packet {
            family: Family::Ipv4,
            saddr: saddr.map(|s| s.parse().unwrap()),
            daddr: "192.0.2.10".parse().unwrap(),
            dport,
            iif: Some("eth0".into()),
        }
    }

    #[test]
    fn quoted_comments_split_as_one_word() {
        assert_eq!(
            words(r#"-A X -m comment --comment "a \"b\" c" -j ACCEPT"#),
            [
                "-A",
                "X",
                "-m",
                "comment",
                "--comment",
                "a \"b\" c",
                "-j",
                "ACCEPT"
            ]
        );
    }

    #[test]
    fn ufw_style_allow_list_drops_others_by_policy() {
        let rs = ruleset(UFW_LIKE, Family::Ipv4, IptablesBackend::Legacy);
        assert_eq!(rs.managers, ["ufw"]);
        match rs.evaluate(&pkt(None, 80)) {
            Verdict::Drop { rule } => assert!(rule.contains("policy drop"), "{rule}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(rs.evaluate(&pkt(Some("203.0.113.9"), 443)), Verdict::Accept);
        assert_eq!(rs.evaluate(&pkt(None, 22)), Verdict::Accept);
        assert_eq!(
            rs.accepted_sources(&pkt(None, 80)),
            Some(vec!["203.0.113.0/24".parse::<IpNet>().unwrap()])
        );
    }

    #[test]
    fn reject_kinds_and_unknown_modules() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n\
                    -A INPUT -p udp -m recent --name x --rcheck -j DROP\n\
                    -A INPUT -p tcp --dport 443 -m recent --name x --rcheck -j DROP\n\
                    -A INPUT -p tcp --dport 80 -j REJECT --reject-with icmp-host-prohibited\n\
                    -A INPUT -p tcp --dport 81 -j REJECT\nCOMMIT\n";
        let rs = ruleset(dump, Family::Ipv4, IptablesBackend::Nft);
        assert!(matches!(
            rs.evaluate(&pkt(None, 80)),
            Verdict::Reject { refused: false, .. }
        ));
        assert!(matches!(
            rs.evaluate(&pkt(None, 81)),
            Verdict::Reject { refused: true, .. }
        ));
        assert!(matches!(
            rs.evaluate(&pkt(None, 443)),
            Verdict::Undecidable { .. }
        ));
        assert_eq!(rs.evaluate(&pkt(None, 8080)), Verdict::Accept);
    }

    #[test]
    fn docker_style_dnat_in_prerouting_is_followed_not_a_drop() {
        let dump = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n\
                    -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
                    -A DOCKER -i docker0 -j RETURN\n\
                    -A DOCKER ! -i docker0 -p tcp -m tcp --dport 80 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n\
                    *filter\n:INPUT DROP [0:0]\nCOMMIT\n";
        let rs = ruleset(dump, Family::Ipv4, IptablesBackend::Nft);
        assert!(rs.managers.iter().any(|m| m == "Docker"));
        // The DNAT leaves the way in: the forward path decides (`nat.rs`).
        match rs.evaluate(&pkt(None, 80)) {
            Verdict::Redirected { to, .. } => {
                assert_eq!(to.to, Some("172.17.0.2".parse().unwrap()));
                assert_eq!(to.port, Some(80));
                assert_eq!(to.text, "DNAT to 172.17.0.2:80");
            }
            other => panic!("{other:?}"),
        }
        // Port 443 is not forwarded: the filter policy drops it.
        assert!(
            matches!(rs.evaluate(&pkt(None, 443)), Verdict::Drop { ref rule } if rule.contains("filter INPUT: policy drop"))
        );
    }

    #[test]
    fn negations_and_interfaces() {
        let dump = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT ! -i lo -p tcp -m tcp --dport 80 -j DROP\nCOMMIT\n";
        let rs = ruleset(dump, Family::Ipv4, IptablesBackend::Legacy);
        assert!(matches!(rs.evaluate(&pkt(None, 80)), Verdict::Drop { .. }));
        let on_lo = Packet {
            iif: Some("lo".into()),
            ..pkt(None, 80)
        };
        assert_eq!(rs.evaluate(&on_lo), Verdict::Accept);
    }
}
