//! One model for nftables and iptables rulesets, and the evaluation of a new inbound TCP SYN
//! through the input hook: base chains in priority order, policies, jump/goto/return, verdict
//! maps. Three-valued: a match acme-doctor does not model makes the rule undecidable, never a
//! guessed verdict.

use crate::facts::{Family, IptablesBackend};
use ipnet::IpNet;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

/// Which tool's view a chain comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `nft`, with the table's family (`ip`, `ip6`, `inet`, `netdev`, …).
    Nft { family: String },
    /// `iptables-save` / `ip6tables-save` of one backend.
    Iptables {
        family: Family,
        backend: IptablesBackend,
    },
}

impl Origin {
    /// The command that manages this view: `iptables-legacy`, `ip6tables-nft`, `nft`.
    pub fn tool(&self) -> String {
        match self {
            Origin::Nft { .. } => "nft".into(),
            Origin::Iptables { family, backend } => format!(
                "{}-{}",
                match family {
                    Family::Ipv4 => "iptables",
                    Family::Ipv6 => "ip6tables",
                },
                match backend {
                    IptablesBackend::Nft => "nft",
                    IptablesBackend::Legacy => "legacy",
                }
            ),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Nft { family } => write!(f, "nft {family}"),
            Origin::Iptables { family, .. } => write!(f, "{} ({})", self.tool(), family.label()),
        }
    }
}

/// A chain, by where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRef {
    pub origin: Origin,
    pub table: String,
    pub chain: String,
}

/// Where in its chain a rule sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// An nft rule handle (`nft -a` shows it).
    Handle(Option<u64>),
    /// The line of the `iptables-save` dump.
    Line(usize),
    /// The chain's policy: no rule decided.
    Policy,
}

/// One rule (or a chain's policy), structured: commands that act on it are built from these
/// fields, and `Display` is only for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub chain: ChainRef,
    pub position: Position,
    /// The rule as its tool prints it (nft expressions, or the `-A …` line).
    pub text: String,
}

impl RuleRef {
    pub fn policy(chain: &ChainRef) -> RuleRef {
        RuleRef {
            chain: chain.clone(),
            position: Position::Policy,
            text: String::new(),
        }
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ChainRef {
            origin,
            table,
            chain,
        } = &self.chain;
        const POLICY: &str = "policy drop (no rule accepts it)";
        match (origin, &self.position) {
            (Origin::Nft { family }, Position::Policy) => {
                write!(f, "nft table {family} {table} chain {chain}: {POLICY}")
            }
            (Origin::Nft { .. }, Position::Handle(Some(h))) => {
                write!(f, "{origin} {table} {chain} handle {h}: {}", self.text)
            }
            (Origin::Nft { .. }, _) => write!(f, "{origin} {table} {chain}: {}", self.text),
            (Origin::Iptables { .. }, Position::Policy) => {
                write!(f, "{origin} {table} {chain}: {POLICY}")
            }
            (Origin::Iptables { .. }, Position::Line(n)) => {
                write!(f, "{origin} {table} line {n}: {}", self.text)
            }
            (Origin::Iptables { .. }, Position::Handle(_)) => {
                write!(f, "{origin} {table} {chain}: {}", self.text)
            }
        }
    }
}

/// A condition of a rule, as far as it concerns a new TCP connection to the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Layer-4 protocol names (`tcp`, `udp`, `icmp`…); `all` matches any.
    L4Proto(Vec<String>),
    DPort(Vec<(u16, u16)>),
    SAddr(Vec<IpNet>),
    DAddr(Vec<IpNet>),
    /// Input interface names; a trailing `*` (nft) or `+` (iptables) is a wildcard.
    Iif(Vec<String>),
    /// Conntrack states (`new`, `established`, …).
    CtState(Vec<String>),
    /// The packet's family (nft `meta nfproto`, or implied by an `ip`/`ip6` match in inet).
    NfProto(Family),
    /// The destination is a local address (`fib daddr type local`, `-m addrtype --dst-type LOCAL`).
    DstLocal,
    /// Anything else: the text of the match, for evidence.
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub cond: Cond,
    pub negated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Accept,
    Drop,
    /// `refused`: the client sees "connection refused" (TCP reset or ICMP port unreachable).
    Reject {
        refused: bool,
    },
    Jump(String),
    Goto(String),
    Return,
    /// No verdict: counters, logs, marks.
    Continue,
    /// A verdict map: the first element whose condition holds gives the action.
    Vmap(Vec<(Cond, Action)>),
    /// DNAT, REDIRECT, TPROXY: the connection goes elsewhere (a container, a proxy), and the
    /// forward path, which is not evaluated, decides. Its text, for evidence.
    Redirected(String),
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Where and what: `nft inet filter input handle 5: tcp dport 80 drop`.
    pub at: RuleRef,
    pub matches: Vec<Match>,
    pub action: Action,
}

/// Where on the way in a base chain sits: prerouting comes before input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    Prerouting,
    Input,
}

/// A chain that a hook calls directly.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseChain {
    pub hook: Hook,
    /// Key into [`Ruleset::chains`].
    pub key: String,
    /// Which packets reach it: `None` for both families (nft `inet`).
    pub family: Option<Family>,
    pub priority: i64,
    pub policy_drop: bool,
    pub chain: ChainRef,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    pub base: Vec<BaseChain>,
    /// Chains by key (`<origin>/<table>/<chain>`); jumps are resolved within one origin/table.
    pub chains: HashMap<String, Vec<Rule>>,
    /// Firewall managers recognised by their tables and chains (ufw, firewalld, Docker…).
    pub managers: Vec<String>,
}

/// A new inbound TCP SYN, as the CA sends it.
#[derive(Debug, Clone)]
pub struct Packet {
    pub family: Family,
    /// `None`: an arbitrary public address, in no list the ruleset names.
    pub saddr: Option<IpAddr>,
    pub daddr: IpAddr,
    pub dport: u16,
    /// The interface the packet arrives on, when known.
    pub iif: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept,
    Drop {
        rule: RuleRef,
    },
    Reject {
        rule: RuleRef,
        refused: bool,
    },
    /// `rule` names the rule or chain, for people only.
    Undecidable {
        rule: String,
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tri {
    Yes,
    No,
    Unknown(String),
}

fn iface_matches(pattern: &str, name: &str) -> bool {
    match pattern
        .strip_suffix('*')
        .or_else(|| pattern.strip_suffix('+'))
    {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn family_of_net(net: &IpNet) -> Family {
    match net {
        IpNet::V4(_) => Family::Ipv4,
        IpNet::V6(_) => Family::Ipv6,
    }
}

fn eval_cond(cond: &Cond, p: &Packet) -> Tri {
    let yes = |b: bool| if b { Tri::Yes } else { Tri::No };
    match cond {
        Cond::L4Proto(names) => yes(names.iter().any(|n| n == "tcp" || n == "all" || n == "6")),
        Cond::DPort(ranges) => yes(ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&p.dport))),
        Cond::SAddr(nets) => {
            // An address match never holds for a packet of the other family.
            if nets.iter().all(|n| family_of_net(n) != p.family) {
                return Tri::No;
            }
            match p.saddr {
                Some(ip) => yes(nets.iter().any(|n| n.contains(&ip))),
                // An arbitrary public source is in no list, unless the list is everything.
                None => yes(nets
                    .iter()
                    .any(|n| n.prefix_len() == 0 && family_of_net(n) == p.family)),
            }
        }
        Cond::DAddr(nets) => yes(nets.iter().any(|n| n.contains(&p.daddr))),
        Cond::Iif(names) => match &p.iif {
            Some(iif) => yes(names.iter().any(|pat| iface_matches(pat, iif))),
            None => Tri::Unknown("the inbound interface is unknown".into()),
        },
        Cond::CtState(states) => yes(states.iter().any(|s| s.eq_ignore_ascii_case("new"))),
        Cond::NfProto(f) => yes(*f == p.family),
        Cond::DstLocal => Tri::Yes,
        Cond::Unknown(text) => Tri::Unknown(format!("cannot evaluate `{text}`")),
    }
}

/// All matches of a rule: any `No` wins over an `Unknown` (the rule surely does not match).
fn eval_matches(matches: &[Match], p: &Packet) -> Tri {
    let mut unknown = None;
    for m in matches {
        let r = match (eval_cond(&m.cond, p), m.negated) {
            (Tri::Yes, true) => Tri::No,
            (Tri::No, true) => Tri::Yes,
            (r, _) => r,
        };
        match r {
            Tri::No => return Tri::No,
            Tri::Unknown(why) => unknown = unknown.or(Some(why)),
            Tri::Yes => {}
        }
    }
    unknown.map_or(Tri::Yes, Tri::Unknown)
}

enum Flow {
    Verdict(Verdict),
    /// The chain ended or returned: the caller goes on.
    Fallthrough,
}

const MAX_DEPTH: usize = 32;

fn sibling(key: &str, chain: &str) -> String {
    match key.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{chain}"),
        None => chain.to_string(),
    }
}

fn run_action(
    rs: &Ruleset,
    key: &str,
    rule: &Rule,
    action: &Action,
    p: &Packet,
    depth: usize,
) -> Option<Flow> {
    match action {
        Action::Accept => Some(Flow::Verdict(Verdict::Accept)),
        Action::Drop => Some(Flow::Verdict(Verdict::Drop {
            rule: rule.at.clone(),
        })),
        Action::Reject { refused } => Some(Flow::Verdict(Verdict::Reject {
            rule: rule.at.clone(),
            refused: *refused,
        })),
        Action::Continue => None,
        Action::Return => Some(Flow::Fallthrough),
        Action::Jump(target) => match eval_chain(rs, &sibling(key, target), p, depth + 1) {
            Flow::Fallthrough => None,
            verdict => Some(verdict),
        },
        // A goto replaces this chain: when the target falls through, so does this chain.
        Action::Goto(target) => Some(eval_chain(rs, &sibling(key, target), p, depth + 1)),
        Action::Vmap(entries) => {
            for (cond, action) in entries {
                match eval_cond(cond, p) {
                    Tri::Yes => return run_action(rs, key, rule, action, p, depth),
                    Tri::No => {}
                    Tri::Unknown(why) => {
                        return Some(Flow::Verdict(Verdict::Undecidable {
                            rule: rule.at.to_string(),
                            why,
                        }));
                    }
                }
            }
            None
        }
        Action::Redirected(text) => Some(Flow::Verdict(Verdict::Undecidable {
            rule: rule.at.to_string(),
            why: format!(
                "the connection is redirected ({text}); the forward path that then decides is not evaluated"
            ),
        })),
        Action::Unknown(text) => Some(Flow::Verdict(Verdict::Undecidable {
            rule: rule.at.to_string(),
            why: format!("cannot evaluate the action `{text}`"),
        })),
    }
}

fn eval_chain(rs: &Ruleset, key: &str, p: &Packet, depth: usize) -> Flow {
    if depth > MAX_DEPTH {
        return Flow::Verdict(Verdict::Undecidable {
            rule: key.to_string(),
            why: "jumps nest too deep (a loop?)".into(),
        });
    }
    let Some(rules) = rs.chains.get(key) else {
        return Flow::Verdict(Verdict::Undecidable {
            rule: key.to_string(),
            why: "jump to a chain that does not exist".into(),
        });
    };
    for rule in rules {
        match eval_matches(&rule.matches, p) {
            Tri::No => continue,
            Tri::Unknown(why) => {
                // A rule without a verdict cannot change the outcome, known or not.
                if rule.action == Action::Continue {
                    continue;
                }
                return Flow::Verdict(Verdict::Undecidable {
                    rule: rule.at.to_string(),
                    why,
                });
            }
            Tri::Yes => {
                if let Some(flow) = run_action(rs, key, rule, &rule.action, p, depth) {
                    return flow;
                }
            }
        }
    }
    Flow::Fallthrough
}

impl Ruleset {
    /// What the way in does with `p`: every base chain that sees the packet, prerouting then
    /// input, each in priority order; an accept passes it to the next one, a drop or reject
    /// ends it.
    pub fn evaluate(&self, p: &Packet) -> Verdict {
        let mut chains: Vec<&BaseChain> = self
            .base
            .iter()
            .filter(|b| b.family.is_none_or(|f| f == p.family))
            .collect();
        chains.sort_by_key(|b| (b.hook, b.priority));
        for base in chains {
            match eval_chain(self, &base.key, p, 0) {
                Flow::Verdict(Verdict::Accept) => {}
                Flow::Verdict(v) => return v,
                Flow::Fallthrough if base.policy_drop => {
                    return Verdict::Drop {
                        rule: RuleRef::policy(&base.chain),
                    };
                }
                Flow::Fallthrough => {}
            }
        }
        Verdict::Accept
    }

    /// Every source network a rule matches on, for the packet's family: the candidates of an
    /// allow-list.
    pub fn source_networks(&self, family: Family) -> Vec<IpNet> {
        let mut nets: Vec<IpNet> = Vec::new();
        for rules in self.chains.values() {
            for rule in rules {
                for m in &rule.matches {
                    if let (Cond::SAddr(list), false) = (&m.cond, m.negated) {
                        for n in list {
                            if family_of_net(n) == family && n.prefix_len() > 0 && !nets.contains(n)
                            {
                                nets.push(*n);
                            }
                        }
                    }
                }
            }
        }
        nets.sort();
        nets
    }

    pub fn merge(&mut self, other: Ruleset) {
        self.base.extend(other.base);
        self.chains.extend(other.chains);
        for m in other.managers {
            if !self.managers.contains(&m) {
                self.managers.push(m);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn chain_ref(name: &str) -> ChainRef {
        ChainRef {
            origin: Origin::Nft {
                family: "inet".into(),
            },
            table: "t".into(),
            chain: name.into(),
        }
    }

    fn rule(text: &str, matches: Vec<Cond>, action: Action) -> Rule {
        Rule {
            at: RuleRef {
                chain: chain_ref("c"),
                position: Position::Handle(None),
                text: text.into(),
            },
            matches: matches
                .into_iter()
                .map(|cond| Match {
                    cond,
                    negated: false,
                })
                .collect(),
            action,
        }
    }

    /// A SYN from an arbitrary source to the lab host's address, arriving on eth0.
    pub(crate) fn packet(family: Family, dport: u16) -> Packet {
        Packet {
            family,
            saddr: None,
            daddr: if family == Family::Ipv4 {
                "192.0.2.10".parse().unwrap()
            } else {
                "2001:db8:2::10".parse().unwrap()
            },
            dport,
            iif: Some("eth0".into()),
        }
    }

    fn base(key: &str, policy_drop: bool) -> BaseChain {
        BaseChain {
            hook: Hook::Input,
            key: key.into(),
            family: None,
            priority: 0,
            policy_drop,
            chain: chain_ref(key),
        }
    }

    #[test]
    fn policy_drop_without_exception_drops() {
        let mut rs = Ruleset::default();
        rs.base.push(base("t/input", true));
        rs.chains.insert(
            "t/input".into(),
            vec![rule(
                "ssh",
                vec![Cond::DPort(vec![(22, 22)])],
                Action::Accept,
            )],
        );
        assert!(matches!(
            rs.evaluate(&packet(Family::Ipv4, 80)),
            Verdict::Drop { .. }
        ));
        assert_eq!(rs.evaluate(&packet(Family::Ipv4, 22)), Verdict::Accept);
    }

    #[test]
    fn jump_return_and_goto_follow_netfilter_semantics() {
        let mut rs = Ruleset::default();
        rs.base.push(base("t/input", false));
        rs.chains.insert(
            "t/input".into(),
            vec![
                rule("j", vec![], Action::Jump("web".into())),
                rule("last", vec![Cond::DPort(vec![(80, 80)])], Action::Drop),
            ],
        );
        rs.chains.insert(
            "t/web".into(),
            vec![
                rule("ret", vec![Cond::DPort(vec![(443, 443)])], Action::Return),
                rule("g", vec![], Action::Goto("deeper".into())),
            ],
        );
        rs.chains.insert(
            "t/deeper".into(),
            vec![rule(
                "acc80",
                vec![Cond::DPort(vec![(80, 80)])],
                Action::Accept,
            )],
        );
        assert_eq!(rs.evaluate(&packet(Family::Ipv4, 80)), Verdict::Accept);
        // 443 returns from web, then falls to the end of input: accepted by policy.
        assert_eq!(rs.evaluate(&packet(Family::Ipv4, 443)), Verdict::Accept);
        // 8080 goes to deeper, falls through, so web falls through, then input's last rule does
        // not match: policy accept.
        assert_eq!(rs.evaluate(&packet(Family::Ipv4, 8080)), Verdict::Accept);
    }

    #[test]
    fn a_source_allow_list_drops_the_arbitrary_source_and_names_the_candidates() {
        let mut rs = Ruleset::default();
        rs.base.push(base("t/input", true));
        let allowed: IpNet = "203.0.113.0/24".parse().unwrap();
        rs.chains.insert(
            "t/input".into(),
            vec![rule(
                "allow",
                vec![Cond::SAddr(vec![allowed]), Cond::DPort(vec![(80, 80)])],
                Action::Accept,
            )],
        );
        let p = packet(Family::Ipv4, 80);
        assert!(matches!(rs.evaluate(&p), Verdict::Drop { .. }));
        assert_eq!(rs.source_networks(Family::Ipv4), vec![allowed]);
        let from_allowed = Packet {
            saddr: Some("203.0.113.7".parse().unwrap()),
            ..p
        };
        assert_eq!(rs.evaluate(&from_allowed), Verdict::Accept);
    }

    #[test]
    fn an_unknown_match_is_undecidable_unless_another_match_rules_it_out() {
        let mut rs = Ruleset::default();
        rs.base.push(base("t/input", false));
        rs.chains.insert(
            "t/input".into(),
            vec![
                rule(
                    "udp-limit",
                    vec![
                        Cond::L4Proto(vec!["udp".into()]),
                        Cond::Unknown("limit rate 5/second".into()),
                    ],
                    Action::Drop,
                ),
                rule(
                    "web-limit",
                    vec![
                        Cond::DPort(vec![(80, 80)]),
                        Cond::Unknown("limit rate 5/second".into()),
                    ],
                    Action::Drop,
                ),
            ],
        );
        assert!(
            matches!(rs.evaluate(&packet(Family::Ipv4, 80)), Verdict::Undecidable { ref rule, .. } if rule.ends_with("web-limit"))
        );
        assert_eq!(rs.evaluate(&packet(Family::Ipv4, 22)), Verdict::Accept);
    }

    #[test]
    fn every_base_chain_must_accept_in_priority_order() {
        let mut rs = Ruleset::default();
        rs.base.push(BaseChain {
            priority: 10,
            ..base("a/input", false)
        });
        rs.base.push(BaseChain {
            priority: -5,
            family: Some(Family::Ipv6),
            ..base("b/input", false)
        });
        rs.chains.insert(
            "a/input".into(),
            vec![rule(
                "drop80",
                vec![Cond::DPort(vec![(80, 80)])],
                Action::Reject { refused: true },
            )],
        );
        rs.chains
            .insert("b/input".into(), vec![rule("acc", vec![], Action::Accept)]);
        assert!(matches!(
            rs.evaluate(&packet(Family::Ipv6, 80)),
            Verdict::Reject { refused: true, .. }
        ));
    }
}
