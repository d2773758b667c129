//! `iptables-save` / `ip6tables-save` output into the [`Ruleset`] model: the filter table's
//! INPUT chain (priority 0, as netfilter registers it) and the chains it jumps to.

use super::model::{
    Action, BaseChain, ChainRef, Cond, Hook, Match, NetSet, Origin, PortSet, Position, Redirect,
    Rule, RuleRef, Ruleset,
};
use super::nft::manager_of;
use crate::facts::{Family, IptablesBackend};
use ipnet::IpNet;
use std::collections::HashMap;
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
    "rt",
    "recent",
    "limit",
    "hashlimit",
    "icmp",
    "icmp6",
    "pkttype",
    "rpfilter",
];
/// Targets that do not end the traversal.
const CONTINUE_TARGETS: &[&str] = &[
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK",
];

/// The dump and table a rule line comes from.
struct Where<'a> {
    origin: Origin,
    table: String,
    /// How many rules of the dump add the source to each `recent` list (`--set`), by name.
    recent_sets: &'a HashMap<String, usize>,
}

/// The name `recent` gives a list when the rule names none.
const RECENT_DEFAULT: &str = "DEFAULT";

/// A rule's `-m recent` options, gathered until the match ends.
#[derive(Default)]
struct Recent {
    /// `--set`, `--rcheck`, `--update` or `--remove`.
    mode: Option<String>,
    negated: bool,
    hitcount: usize,
    name: Option<String>,
    rdest: bool,
}

impl Recent {
    /// What the match says of the CA's first SYN from a source it has never seen. `--set`
    /// records the source and matches; a check matches only a source already in the list,
    /// which needs as many `--set`s as `--hitcount` asks: a list no rule fills, or fills
    /// fewer times than that in one traversal, never holds it.
    fn decide(self, sets: &HashMap<String, usize>) -> Match {
        let name = self.name.unwrap_or_else(|| RECENT_DEFAULT.to_string());
        let mode = self.mode.unwrap_or_else(|| "rcheck".into());
        let text = format!("-m recent --{mode} --name {name}");
        let filled = sets.get(&name).copied().unwrap_or(0);
        let cond = if mode == "set" {
            Cond::Holds(
                true,
                format!("{text}: records the source and matches every packet"),
            )
        } else if self.rdest {
            Cond::Unknown(format!(
                "{text} --rdest (a list of this host's own addresses, filled by other traffic)"
            ))
        } else if filled == 0 {
            Cond::Holds(
                false,
                format!("{text}: no rule adds sources to this list, so a new source is not in it"),
            )
        } else if mode != "remove" && self.hitcount > filled {
            Cond::Holds(
                false,
                format!(
                    "{text} --hitcount {}: a first SYN from a new source is recorded at most {filled} time(s)",
                    self.hitcount
                ),
            )
        } else {
            Cond::Unknown(format!(
                "{text}: this ruleset also adds sources to the list, so whether the CA's source is in it depends on the order of the rules"
            ))
        };
        Match {
            cond,
            negated: self.negated,
        }
    }
}

/// `--tcp-flags` names: a comma-separated list, `ALL` or `NONE`.
fn tcp_flags(list: &str) -> Option<u8> {
    list.split(',')
        .map(|f| match f {
            "FIN" => Some(0x01),
            "SYN" => Some(0x02),
            "RST" => Some(0x04),
            "PSH" => Some(0x08),
            "ACK" => Some(0x10),
            "URG" => Some(0x20),
            "ECE" => Some(0x40),
            "CWR" => Some(0x80),
            "ALL" => Some(0xff),
            "NONE" => Some(0),
            _ => None,
        })
        .try_fold(0u8, |acc, f| f.map(|f| acc | f))
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
    // The match module whose options follow (`-m NAME`), and a `recent` being read.
    let mut module = String::new();
    let mut recent: Option<Recent> = None;
    let unknown = |t: &str| Cond::Unknown(t.to_string());
    while i < words.len() {
        let w = words[i].as_str();
        let value = words.get(i + 1).map(String::as_str).unwrap_or("");
        let takes_value = !value.is_empty() && !value.starts_with('-') && value != "!";
        // A flag or an option with a value, read by the module that owns it: skip it.
        let consumed = if takes_value { 2 } else { 1 };
        if (w == "-m" || w == "--match" || w == "-j" || w == "--jump" || w == "-g" || w == "--goto")
            && let Some(r) = recent.take()
        {
            matches.push(r.decide(where_.recent_sets));
        }
        if let Some(r) = recent.as_mut() {
            let step = match w {
                "!" => {
                    negate = true;
                    i += 1;
                    continue;
                }
                "--set" | "--rcheck" | "--update" | "--remove" => {
                    r.mode = Some(w.trim_start_matches('-').to_string());
                    r.negated = negate;
                    1
                }
                "--name" => {
                    r.name = Some(value.to_string());
                    2
                }
                "--hitcount" => {
                    r.hitcount = value.parse().unwrap_or(usize::MAX);
                    2
                }
                "--rdest" => {
                    r.rdest = true;
                    1
                }
                "--seconds" | "--reap" | "--rttl" | "--mask" | "--rsource" => consumed,
                _ => 0,
            };
            if step > 0 {
                negate = false;
                i += step;
                continue;
            }
            if let Some(r) = recent.take() {
                matches.push(r.decide(where_.recent_sets));
            }
        }
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
            // A new connection from outside: no status bit set yet (not DNATed, not seen a
            // reply), the original direction, TCP.
            "--ctstatus" => push(
                Some(Cond::Holds(
                    value.split(',').any(|s| s == "NONE"),
                    format!("--ctstatus {value}"),
                )),
                String::new(),
                negate,
            ),
            "--ctdir" => push(
                Some(Cond::Holds(value == "ORIGINAL", format!("--ctdir {value}"))),
                String::new(),
                negate,
            ),
            "--ctproto" => push(
                Some(Cond::L4Proto(vec![value.to_ascii_lowercase()])),
                String::new(),
                negate,
            ),
            "--dst-type" | "--src-type" => push(
                Some(Cond::AddrType {
                    dst: w == "--dst-type",
                    types: value.split(',').map(|t| t.to_ascii_lowercase()).collect(),
                    on_iif: false,
                }),
                String::new(),
                negate,
            ),
            "--limit-iface-in" => {
                for m in matches.iter_mut() {
                    if let Cond::AddrType { on_iif, .. } = &mut m.cond {
                        *on_iif = true;
                    }
                }
                negate = false;
                i += 1;
                continue;
            }
            "--pkt-type" => push(
                Some(Cond::PktType(vec![value.to_ascii_lowercase()])),
                String::new(),
                negate,
            ),
            // An ICMP type implies the protocol: never a TCP SYN, whichever type.
            "--icmp-type" => push(
                Some(Cond::L4Proto(vec!["icmp".into()])),
                String::new(),
                false,
            ),
            "--icmpv6-type" => push(
                Some(Cond::L4Proto(vec!["ipv6-icmp".into()])),
                String::new(),
                false,
            ),
            "--tcp-flags" => {
                let comp = words.get(i + 2).map(String::as_str).unwrap_or("");
                push(
                    tcp_flags(value)
                        .zip(tcp_flags(comp))
                        .map(|(mask, comp)| Cond::TcpFlags { mask, comp }),
                    format!("--tcp-flags {value} {comp}"),
                    negate,
                );
                negate = false;
                i += 3;
                continue;
            }
            "--comment" => {}
            "-m" | "--match" => {
                module = value.to_string();
                match value {
                    // ip6t_rt fails on a packet without a routing header, inverted or not.
                    "rt" => push(
                        Some(Cond::Holds(
                            false,
                            "-m rt: the CA's SYN carries no IPv6 routing header".into(),
                        )),
                        String::new(),
                        false,
                    ),
                    "limit" => push(
                        Some(Cond::Holds(
                            true,
                            "-m limit: a single SYN is under the limit".into(),
                        )),
                        String::new(),
                        false,
                    ),
                    // Matches when the reverse path is good, unless --invert follows.
                    "rpfilter" => push(
                        Some(Cond::Rpf {
                            strict: true,
                            fails: false,
                        }),
                        String::new(),
                        false,
                    ),
                    "recent" => recent = Some(Recent::default()),
                    m if KNOWN_MODULES.contains(&m) => {}
                    _ => push(None, format!("-m {value}"), negate),
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
                let owned = match module.as_str() {
                    "rt" => other.starts_with("--rt-"),
                    "limit" => other == "--limit" || other == "--limit-burst",
                    "rpfilter" => {
                        for m in matches.iter_mut().rev() {
                            if let Cond::Rpf { strict, fails } = &mut m.cond {
                                match other {
                                    "--loose" => *strict = false,
                                    "--invert" => *fails = true,
                                    _ => {}
                                }
                                break;
                            }
                        }
                        matches!(
                            other,
                            "--loose" | "--invert" | "--validmark" | "--accept-local"
                        )
                    }
                    "hashlimit" => match other {
                        // A single SYN is under any rate: `--hashlimit-upto` (or the old
                        // `--hashlimit`) matches it, `--hashlimit-above` does not.
                        "--hashlimit-upto" | "--hashlimit" | "--hashlimit-above" => {
                            matches.push(Match {
                                cond: Cond::Holds(
                                    other != "--hashlimit-above",
                                    format!("{other} {value}: a single SYN is under the limit"),
                                ),
                                negated: false,
                            });
                            true
                        }
                        "--hashlimit-rate-match" | "--hashlimit-rate-interval" => false,
                        o => o.starts_with("--hashlimit-"),
                    },
                    _ => false,
                };
                if !owned {
                    matches.push(Match {
                        cond: unknown(
                            format!("{other} {}", if takes_value { value } else { "" }).trim(),
                        ),
                        negated: negate,
                    });
                }
                negate = false;
                i += consumed;
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
    if let Some(r) = recent.take() {
        matches.push(r.decide(where_.recent_sets));
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

/// How many rules of a dump add sources to each `recent` list (`-m recent --set`).
fn recent_sets(lines: &[&str]) -> HashMap<String, usize> {
    let mut sets = HashMap::new();
    for line in lines {
        if !line.contains("--set") || !line.contains("recent") {
            continue;
        }
        let w = words(line);
        if !w.iter().any(|x| x == "--set") {
            continue;
        }
        let name = w
            .iter()
            .position(|x| x == "--name")
            .and_then(|p| w.get(p + 1))
            .map_or(RECENT_DEFAULT, String::as_str);
        *sets.entry(name.to_string()).or_insert(0) += 1;
    }
    sets
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
    let recent = recent_sets(&lines);
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
                recent_sets: &recent,
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
    use crate::firewall::model::{Packet, Verdict};

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
            return_iif: Some("eth0".into()),
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
                    -A INPUT -p udp -m string --string x --algo bm -j DROP\n\
                    -A INPUT -p tcp --dport 443 -m string --string x --algo bm -j DROP\n\
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

    fn pkt6(dport: u16) -> Packet {
        Packet {
            family: Family::Ipv6,
            saddr: None,
            daddr: "2001:db8:2::10".parse().unwrap(),
            dport,
            iif: Some("eth0".into()),
            return_iif: Some("eth0".into()),
        }
    }

    /// A filter table with `INPUT` policy DROP, the given rules, and port 22 accepted last.
    fn drop_policy(family_rules: &str) -> String {
        format!(
            "*filter\n:INPUT DROP [0:0]\n{family_rules}-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n"
        )
    }

    #[track_caller]
    fn verdict_of(rules: &str, p: &Packet) -> Verdict {
        ruleset(&drop_policy(rules), p.family, IptablesBackend::Nft).evaluate(p)
    }

    #[track_caller]
    fn assert_policy_drop(v: &Verdict) {
        assert!(
            matches!(v, Verdict::Drop { rule } if rule.position == Position::Policy),
            "{v:?}"
        );
    }

    /// ufw's `ufw6-before-input` drops type-0 routing headers ahead of the user rules: a SYN
    /// carries none, so evaluation goes on (issue 11).
    #[test]
    fn an_ipv6_routing_header_rule_does_not_touch_a_syn() {
        let rules = "-A INPUT -m rt --rt-type 0 -j DROP\n-A INPUT ! -m rt --rt-type 0 -j DROP\n\
                     -A INPUT -m rt ! --rt-type 0 --rt-segsleft 0 -j DROP\n\
                     -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n";
        assert_eq!(verdict_of(rules, &pkt6(80)), Verdict::Accept);
        assert_policy_drop(&verdict_of(rules, &pkt6(443)));
    }

    #[test]
    fn address_types_of_a_public_unicast_syn_to_a_local_address() {
        // ufw-not-local: local destinations return, everything else is dropped.
        let ufw_not_local = "-A INPUT -m addrtype --dst-type LOCAL -j ACCEPT\n-A INPUT -j DROP\n";
        assert_eq!(verdict_of(ufw_not_local, &pkt(None, 80)), Verdict::Accept);
        for (rule, expect_accept) in [
            ("-A INPUT -m addrtype --dst-type BROADCAST -j DROP\n", true),
            (
                "-A INPUT -m addrtype --dst-type MULTICAST,BROADCAST -j DROP\n",
                true,
            ),
            ("-A INPUT -m addrtype --dst-type UNICAST -j DROP\n", true),
            ("-A INPUT -m addrtype ! --dst-type LOCAL -j DROP\n", true),
            ("-A INPUT -m addrtype --src-type LOCAL -j DROP\n", true),
            ("-A INPUT -m addrtype --src-type UNICAST -j DROP\n", false),
            ("-A INPUT -m addrtype --dst-type LOCAL -j DROP\n", false),
        ] {
            let all = format!("{rule}-A INPUT -p tcp --dport 80 -j ACCEPT\n");
            let v = verdict_of(&all, &pkt(None, 80));
            assert_eq!(v == Verdict::Accept, expect_accept, "{rule}: {v:?}");
        }
        // On the inbound interface only, the answer depends on which interface holds it.
        let limited = "-A INPUT -m addrtype --dst-type LOCAL --limit-iface-in -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert!(matches!(
            verdict_of(limited, &pkt(None, 80)),
            Verdict::Undecidable { .. }
        ));
    }

    /// The hardening people add by hand: drop sources that connected too often. A first SYN
    /// from a new source is not in the list; the final DROP decides.
    #[test]
    fn recent_lists_do_not_hold_a_new_source() {
        let hardening = "-A INPUT -m recent --update --seconds 60 --hitcount 10 --name DEFAULT --mask 255.255.255.255 --rsource -j DROP\n\
                         -A INPUT -p tcp -m conntrack --ctstate NEW -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource\n\
                         -A INPUT -j DROP\n";
        match verdict_of(hardening, &pkt(None, 80)) {
            Verdict::Drop { rule } => assert_eq!(rule.text, "-A INPUT -j DROP"),
            other => panic!("{other:?}"),
        }
        // No rule fills the list: an --rcheck never matches, `! --rcheck` always.
        let unfilled = "-A INPUT -m recent --rcheck --name ssh -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert_eq!(verdict_of(unfilled, &pkt(None, 80)), Verdict::Accept);
        let inverted = "-A INPUT -m recent ! --rcheck --name ssh -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert!(matches!(
            verdict_of(inverted, &pkt(None, 80)),
            Verdict::Drop { .. }
        ));
        // Set first, then checked with a hit count one --set reaches: depends on order.
        let reachable = "-A INPUT -m recent --set --name web\n-A INPUT -m recent --update --hitcount 1 --name web -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert!(matches!(
            verdict_of(reachable, &pkt(None, 80)),
            Verdict::Undecidable { .. }
        ));
        let rdest = "-A INPUT -m recent --rcheck --rdest --name x -j DROP\n-A INPUT -m recent --set --rdest --name x\n-A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert!(matches!(
            verdict_of(rdest, &pkt(None, 80)),
            Verdict::Undecidable { .. }
        ));
    }

    #[test]
    fn a_single_syn_is_under_every_rate_limit() {
        let rules = "-A INPUT -p tcp --dport 80 -m hashlimit --hashlimit-above 20/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name web -j DROP\n\
                     -A INPUT -p tcp --dport 80 -m limit --limit 25/min --limit-burst 100 -j ACCEPT\n";
        assert_eq!(verdict_of(rules, &pkt(None, 80)), Verdict::Accept);
        let upto = "-A INPUT -p tcp --dport 80 -m hashlimit --hashlimit-upto 5/sec --hashlimit-name w -j ACCEPT\n";
        assert_eq!(verdict_of(upto, &pkt(None, 80)), Verdict::Accept);
    }

    #[test]
    fn conntrack_states_statuses_and_directions_of_a_new_connection() {
        for (rule, accepted) in [
            (
                "-A INPUT -m conntrack --ctstate NEW,UNTRACKED -j ACCEPT\n",
                true,
            ),
            (
                "-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT\n",
                false,
            ),
            (
                "-A INPUT -m conntrack ! --ctstate INVALID -p tcp --dport 80 -j ACCEPT\n",
                true,
            ),
            ("-A INPUT -m conntrack --ctstatus DNAT -j ACCEPT\n", false),
            (
                "-A INPUT -m conntrack --ctdir ORIGINAL --ctproto tcp -j ACCEPT\n",
                true,
            ),
        ] {
            let v = verdict_of(rule, &pkt(None, 80));
            assert_eq!(v == Verdict::Accept, accepted, "{rule}: {v:?}");
        }
        let not_new =
            "-A INPUT -m conntrack ! --ctstate NEW -j DROP\n-A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert_eq!(verdict_of(not_new, &pkt(None, 80)), Verdict::Accept);
    }

    #[test]
    fn icmp_packet_types_and_tcp_flags_rules_pass_a_syn_by() {
        let rules = "-A INPUT -m icmp6 --icmpv6-type 128 -j DROP\n-A INPUT -m icmp --icmp-type 8 -j DROP\n\
                     -A INPUT -m pkttype --pkt-type broadcast -j DROP\n-A INPUT -m pkttype ! --pkt-type unicast -j DROP\n\
                     -A INPUT -p tcp --tcp-flags ALL NONE -j DROP\n-A INPUT -p tcp --tcp-flags SYN,FIN SYN,FIN -j DROP\n\
                     -A INPUT -p tcp ! --tcp-flags FIN,SYN,RST,ACK SYN -m conntrack --ctstate NEW -j DROP\n\
                     -A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert_eq!(verdict_of(rules, &pkt(None, 80)), Verdict::Accept);
        let syn_drop = "-A INPUT -p tcp --tcp-flags SYN,ACK SYN -j DROP\n";
        assert!(matches!(
            verdict_of(syn_drop, &pkt(None, 80)),
            Verdict::Drop { .. }
        ));
    }

    /// firewalld's iptables backend and hand-made rulesets drop what fails the reverse-path
    /// check in raw PREROUTING.
    #[test]
    fn rpfilter_passes_a_syn_on_the_interface_its_route_uses() {
        let dump = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n\
                    *filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
        let rs = ruleset(dump, Family::Ipv6, IptablesBackend::Nft);
        assert_eq!(rs.evaluate(&pkt6(80)), Verdict::Accept);
        let asymmetric = Packet {
            return_iif: Some("eth1".into()),
            ..pkt6(80)
        };
        assert!(matches!(rs.evaluate(&asymmetric), Verdict::Drop { .. }));
        let loose = dump.replace("--invert", "--loose --invert");
        let rs = ruleset(&loose, Family::Ipv6, IptablesBackend::Nft);
        assert_eq!(rs.evaluate(&asymmetric), Verdict::Accept);
        let no_route = Packet {
            return_iif: None,
            ..pkt6(80)
        };
        assert!(matches!(
            rs.evaluate(&no_route),
            Verdict::Undecidable { .. }
        ));
    }

    /// Undecidable for one rule alone, but the rest of the chain gives the same outcome.
    #[test]
    fn an_undecidable_rule_whose_outcome_the_rest_shares_decides_nothing() {
        let rules = "-A INPUT -p tcp --dport 80 -m string --string x --algo bm -j ACCEPT\n\
                     -A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert_eq!(verdict_of(rules, &pkt(None, 80)), Verdict::Accept);
        let differs = "-A INPUT -p tcp --dport 80 -m string --string x --algo bm -j DROP\n\
                       -A INPUT -p tcp --dport 80 -j ACCEPT\n";
        assert!(matches!(
            verdict_of(differs, &pkt(None, 80)),
            Verdict::Undecidable { .. }
        ));
        let both_drop =
            "-A INPUT -p tcp --dport 80 -m string --string x --algo bm -j DROP\n-A INPUT -j DROP\n";
        assert!(matches!(
            verdict_of(both_drop, &pkt(None, 80)),
            Verdict::Drop { .. }
        ));
    }
}
