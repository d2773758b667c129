//! One rule line of `iptables-save` (`-A CHAIN …`) into the model: its matches (modules and
//! their options) and its target. A module or target the model does not cover makes the rule
//! undecidable, never a guess.

use crate::firewall::model::{
    Action, ChainRef, Cond, Match, NetSet, Origin, PortSet, Position, Redirect, Rule, RuleRef,
};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// Splits a line as iptables-save quotes it: double quotes with backslash escapes.
pub(super) fn words(line: &str) -> Vec<String> {
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
pub(super) struct Where<'a> {
    pub(super) origin: Origin,
    pub(super) table: String,
    /// How many rules of the dump add the source to each `recent` list (`--set`), by name.
    pub(super) recent_sets: &'a HashMap<String, usize>,
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

pub(super) fn parse_rule(
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
            // `-m length --length 100:65535` (a single value, or a range).
            "--length" if module == "length" => {
                let range = match value.split_once(':') {
                    Some((lo, hi)) => lo.parse().ok().zip(if hi.is_empty() {
                        Some(u32::MAX)
                    } else {
                        hi.parse().ok()
                    }),
                    None => value.parse().ok().map(|n| (n, n)),
                };
                push(
                    range.map(|(min, max)| Cond::Length { min, max }),
                    format!("--length {value}"),
                    negate,
                );
            }
            // `-m string --string TEXT --algo bm`: a match on the payload.
            "--string" | "--hex-string" if module == "string" => push(
                Some(Cond::Payload(format!("{w} {value}"))),
                String::new(),
                negate,
            ),
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
                    // Their options carry the condition (`--length`, `--string`).
                    "length" | "string" => {}
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
                    "string" => matches!(other, "--algo" | "--from" | "--to" | "--icase"),
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
pub(super) fn recent_sets(lines: &[&str]) -> HashMap<String, usize> {
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
