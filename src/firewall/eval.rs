//! The evaluation of a new inbound TCP SYN through a [`Ruleset`]: the way in (ingress,
//! prerouting, input: base chains in priority order, policies, jump/goto/return, verdict
//! maps), or the forward path a DNAT sends it on. Three-valued: a match acme-doctor does not
//! model makes the rule undecidable, never a guessed verdict.
//!
//! Evaluation is linear in the size of the ruleset: each chain is evaluated once per set of
//! sources (memoised), sets are shared and searched by interval, and a work budget ends a
//! hostile ruleset in `Undecidable`, never a hang. The source address is not a single value
//! but a set ([`Sources`]) that rules split, so the sources an allow-list admits come out of
//! one walk instead of one walk per network the ruleset names.

use super::cond::{Tri, eval_static};
use super::model::{
    Action, BaseChain, ChainRef, Cond, Hook, NetSet, Packet, RedirectKind, Rule, RuleRef, Ruleset,
    Sources, Stage, Verdict,
};
use crate::facts::Family;
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Flow {
    Verdict(Verdict),
    /// The chain ended or returned: the caller goes on.
    Fallthrough,
}

/// Sources and what happened to them: a partition of the sources a chain was given.
type Pieces = Vec<(Sources, Flow)>;

const MAX_DEPTH: usize = 32;

/// The most work one evaluation may do (rules visited, set intervals walked, verdict-map
/// entries tried) before it ends in `Undecidable`. A million rules or set elements take a
/// few million steps; a hostile ruleset stops here, in about a second, instead of hanging.
pub const WORK_BUDGET: u64 = 50_000_000;

/// Undecidable rules per evaluation whose outcome is checked against the rest of their chain:
/// bounded, so a ruleset of many such rules stays linear.
const MAX_ALTERNATIVES: usize = 16;

/// Chains given at most this many source intervals are memoised (the key is hashed).
const MEMO_MAX: usize = 16;

/// One evaluation of one packet (with a set of sources) through the ruleset.
struct Eval<'r> {
    rs: &'r Ruleset,
    p: &'r Packet,
    hook: Hook,
    work: u64,
    budget: u64,
    exhausted: bool,
    /// Keyed by the chain as the ruleset holds it: a lookup clones no name.
    memo: HashMap<(Hook, &'r ChainRef, Sources), Rc<Pieces>>,
    stack: Vec<&'r ChainRef>,
    /// Second walks tried so far (see [`Eval::same_either_way`]).
    alternatives: usize,
    /// The output interface, on the forward path.
    oif: Option<&'r str>,
    /// Which packet of the connection is evaluated.
    stage: Stage,
}

impl<'r> Eval<'r> {
    fn over_budget(&mut self) -> bool {
        if self.work > self.budget {
            self.exhausted = true;
        }
        self.exhausted
    }

    fn out_of_budget(&self, at: &str) -> Flow {
        Flow::Verdict(Verdict::Undecidable {
            rule: at.to_string(),
            why: format!(
                "evaluating the ruleset took more than {} steps; acme-doctor stopped rather than hang",
                self.budget
            ),
        })
    }

    fn undecidable(rule: &str, why: impl Into<String>) -> Flow {
        Flow::Verdict(Verdict::Undecidable {
            rule: rule.to_string(),
            why: why.into(),
        })
    }

    fn chain(&mut self, key: &ChainRef, input: Sources, depth: usize) -> Pieces {
        if input.is_empty() {
            return Vec::new();
        }
        self.work += 1;
        if self.over_budget() {
            return vec![(input, self.out_of_budget(&key.to_string()))];
        }
        if depth > MAX_DEPTH {
            return vec![(
                input,
                Self::undecidable(&key.to_string(), "jumps nest too deep (a loop?)"),
            )];
        }
        let rs: &'r Ruleset = self.rs;
        let Some((key, rules)) = rs.chains.get_key_value(key) else {
            return vec![(
                input,
                Self::undecidable(&key.to_string(), "jump to a chain that does not exist"),
            )];
        };
        if self.stack.contains(&key) {
            return vec![(
                input,
                Self::undecidable(
                    &key.to_string(),
                    "a jump loop: the chain is reached again from itself",
                ),
            )];
        }
        let memo_key = (input.len() <= MEMO_MAX).then(|| (self.hook, key, input.clone()));
        if let Some(hit) = memo_key.as_ref().and_then(|k| self.memo.get(k)) {
            return hit.as_ref().clone();
        }
        self.stack.push(key);
        let out = self.walk(key, rules, input, depth);
        self.stack.pop();
        if let Some(k) = memo_key {
            self.memo.insert(k, Rc::new(out.clone()));
        }
        out
    }

    /// Puts sources back on the chain's walk. `excluded` (sets known disjoint from `rest`)
    /// no longer holds then.
    fn give_back(&mut self, rest: &mut Sources, s: Sources, excluded: &mut HashSet<usize>) {
        if !s.is_empty() {
            excluded.clear();
            rest.absorb(s, &mut self.work);
        }
    }

    fn walk(&mut self, key: &ChainRef, rules: &[Rule], input: Sources, depth: usize) -> Pieces {
        let (p, hook) = (self.p, self.hook);
        let mut out = Vec::new();
        let mut rest = input;
        // Sets that `rest` is known to be disjoint from: a rule matching one of them again
        // (1,000 rules on one 100,000-element set) costs nothing.
        let mut excluded: HashSet<usize> = HashSet::new();
        for (index, rule) in rules.iter().enumerate() {
            if rest.is_empty() {
                break;
            }
            self.work += 1;
            if self.over_budget() {
                out.push((rest, self.out_of_budget(&rule.at.to_string())));
                return out;
            }
            // Everything but the source first: any `No` rules the rule out, whatever else.
            let mut unknown = None;
            let mut ruled_out = false;
            let mut by_source: Vec<(&Arc<NetSet>, bool)> = Vec::new();
            for m in &rule.matches {
                if let Cond::SAddr(set) = &m.cond {
                    by_source.push((set, m.negated));
                    continue;
                }
                match (
                    eval_static(&m.cond, p, hook, self.oif, self.stage),
                    m.negated,
                ) {
                    (Tri::Yes, true) | (Tri::No, false) => {
                        ruled_out = true;
                        break;
                    }
                    (Tri::Unknown(why), _) => unknown = unknown.or(Some(why)),
                    _ => {}
                }
            }
            if ruled_out {
                continue;
            }
            // Then split the sources on the address matches.
            let mut matched = std::mem::take(&mut rest);
            let mut unmatched = Sources::default();
            for (set, negated) in &by_source {
                let id = Arc::as_ptr(set) as usize;
                if excluded.contains(&id) {
                    if !negated {
                        unmatched.absorb(std::mem::take(&mut matched), &mut self.work);
                    }
                    continue;
                }
                let inside = matched.take(set, p.family, &mut self.work);
                if *negated {
                    unmatched.absorb(inside, &mut self.work);
                } else {
                    unmatched.absorb(std::mem::replace(&mut matched, inside), &mut self.work);
                }
            }
            rest = unmatched;
            if let [(set, false)] = by_source.as_slice() {
                excluded.insert(Arc::as_ptr(set) as usize);
            }
            if matched.is_empty() {
                continue;
            }
            match unknown {
                // A rule without a verdict cannot change the outcome, known or not.
                Some(_) if rule.action == Action::Continue => {
                    self.give_back(&mut rest, matched, &mut excluded);
                }
                // Undecidable for this rule alone: if the rest of the chain gives these
                // sources the same outcome the rule would, the outcome does not depend on it.
                Some(why) => {
                    if self.alternatives < MAX_ALTERNATIVES
                        && let Some(same) =
                            self.same_either_way(key, rule, &rules[index + 1..], &matched, depth)
                    {
                        out.extend(same);
                        continue;
                    }
                    out.push((matched, Self::undecidable(&rule.at.to_string(), why)));
                }
                None => self.act(
                    key,
                    rule,
                    &rule.action,
                    matched,
                    depth,
                    &mut rest,
                    &mut excluded,
                    &mut out,
                ),
            }
        }
        if !rest.is_empty() {
            out.push((rest, Flow::Fallthrough));
        }
        out
    }

    /// Where a rule ending in accept, drop or reject cannot be evaluated: the walk of the
    /// chain's remaining rules for the same sources, when every source meets the same outcome
    /// there (accept, drop, or reject of the same kind) that the rule would give it.
    fn same_either_way(
        &mut self,
        key: &ChainRef,
        rule: &Rule,
        rest_of_chain: &[Rule],
        sources: &Sources,
        depth: usize,
    ) -> Option<Pieces> {
        let same = |flow: &Flow| match (&rule.action, flow) {
            (Action::Accept, Flow::Verdict(Verdict::Accept)) => true,
            (Action::Drop, Flow::Verdict(Verdict::Drop { .. })) => true,
            (Action::Reject { refused }, Flow::Verdict(Verdict::Reject { refused: r, .. })) => {
                refused == r
            }
            _ => false,
        };
        if !matches!(
            rule.action,
            Action::Accept | Action::Drop | Action::Reject { .. }
        ) {
            return None;
        }
        self.alternatives += 1;
        let other = self.walk(key, rest_of_chain, sources.clone(), depth);
        other.iter().all(|(_, flow)| same(flow)).then_some(other)
    }

    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        key: &ChainRef,
        rule: &Rule,
        action: &Action,
        m: Sources,
        depth: usize,
        rest: &mut Sources,
        excluded: &mut HashSet<usize>,
        out: &mut Pieces,
    ) {
        let at = || rule.at.to_string();
        match action {
            Action::Accept => out.push((m, Flow::Verdict(Verdict::Accept))),
            Action::Drop => out.push((
                m,
                Flow::Verdict(Verdict::Drop {
                    rule: rule.at.clone(),
                }),
            )),
            Action::Reject { refused } => out.push((
                m,
                Flow::Verdict(Verdict::Reject {
                    rule: rule.at.clone(),
                    refused: *refused,
                }),
            )),
            Action::Continue => self.give_back(rest, m, excluded),
            Action::Return => out.push((m, Flow::Fallthrough)),
            Action::Jump(target) => {
                for (s, flow) in self.chain(&key.sibling(target), m, depth + 1) {
                    match flow {
                        Flow::Fallthrough => self.give_back(rest, s, excluded),
                        verdict => out.push((s, verdict)),
                    }
                }
            }
            // A goto replaces this chain: what falls through the target falls through this
            // chain.
            Action::Goto(target) => out.extend(self.chain(&key.sibling(target), m, depth + 1)),
            Action::Vmap(entries) => {
                let mut left = m;
                for (cond, action) in entries.iter() {
                    if left.is_empty() {
                        break;
                    }
                    self.work += 1;
                    if self.over_budget() {
                        out.push((std::mem::take(&mut left), self.out_of_budget(&at())));
                        break;
                    }
                    let hit = match cond {
                        Cond::SAddr(set) => left.take(set, self.p.family, &mut self.work),
                        other => {
                            match eval_static(other, self.p, self.hook, self.oif, self.stage) {
                                Tri::Yes => std::mem::take(&mut left),
                                Tri::No => continue,
                                Tri::Unknown(why) => {
                                    out.push((
                                        std::mem::take(&mut left),
                                        Self::undecidable(&at(), why),
                                    ));
                                    break;
                                }
                            }
                        }
                    };
                    if !hit.is_empty() {
                        self.act(key, rule, action, hit, depth, rest, excluded, out);
                    }
                }
                self.give_back(rest, left, excluded);
            }
            // A DNAT to a named address leaves the way in: the caller follows it.
            Action::Redirected(r) if r.kind == RedirectKind::Dnat && r.to.is_some() => out.push((
                m,
                Flow::Verdict(Verdict::Redirected {
                    rule: rule.at.clone(),
                    to: r.clone(),
                }),
            )),
            Action::Redirected(r) => out.push((
                m,
                Self::undecidable(
                    &at(),
                    format!(
                        "the connection is redirected ({}); where it then goes is not evaluated",
                        r.text
                    ),
                ),
            )),
            Action::Unknown(text) => out.push((
                m,
                Self::undecidable(&at(), format!("cannot evaluate the action `{text}`")),
            )),
        }
    }
}

/// What an evaluation found for a set of sources.
struct Outcome {
    /// Sources and their verdicts; together they are the sources evaluated.
    pieces: Vec<(Sources, Verdict)>,
    work: u64,
    exhausted: bool,
}

impl Ruleset {
    fn run(&self, p: &Packet, input: Sources, budget: u64) -> Outcome {
        self.run_path(p, input, budget, None, Stage::Syn)
    }

    /// The way in (`forward_oif` `None`: every hook but forward) or the forward path out
    /// through `forward_oif` (the forward hook only).
    fn run_path(
        &self,
        p: &Packet,
        input: Sources,
        budget: u64,
        forward_oif: Option<&str>,
        stage: Stage,
    ) -> Outcome {
        let forward = forward_oif.is_some();
        let mut chains: Vec<&BaseChain> = self
            .base
            .iter()
            .filter(|b| b.family.is_none_or(|f| f == p.family))
            .filter(|b| (b.hook == Hook::Forward) == forward)
            .collect();
        chains.sort_by_key(|b| (b.hook, b.priority));
        let mut ev = Eval {
            rs: self,
            p,
            hook: Hook::Input,
            work: 0,
            budget,
            exhausted: false,
            memo: HashMap::new(),
            stack: Vec::new(),
            alternatives: 0,
            oif: forward_oif,
            stage,
        };
        let mut pieces = Vec::new();
        let mut live = input;
        for base in chains {
            if live.is_empty() {
                break;
            }
            // An ingress chain is bound to devices: it sees the packet only if it arrives
            // on one of them.
            let device_unknown = match (&base.devices, &p.iif) {
                (Some(devs), Some(iif)) if !devs.iter().any(|d| d == iif) => continue,
                (Some(devs), None) => Some(devs.join(", ")),
                _ => None,
            };
            ev.hook = base.hook;
            let given = std::mem::take(&mut live);
            for (s, flow) in ev.chain(&base.chain, given, 0) {
                let verdict = match flow {
                    Flow::Verdict(Verdict::Accept) => None,
                    Flow::Verdict(v) => Some(v),
                    Flow::Fallthrough if base.policy_drop => Some(Verdict::Drop {
                        rule: RuleRef::policy(&base.chain),
                    }),
                    Flow::Fallthrough => None,
                };
                match (verdict, &device_unknown) {
                    (None, _) => live.absorb(s, &mut ev.work),
                    (Some(Verdict::Undecidable { rule, why }), _) => {
                        pieces.push((s, Verdict::Undecidable { rule, why }));
                    }
                    (Some(v), Some(devs)) => pieces.push((
                        s,
                        Verdict::Undecidable {
                            rule: match v {
                                Verdict::Drop { rule } | Verdict::Reject { rule, .. } => {
                                    rule.to_string()
                                }
                                _ => base.chain.to_string(),
                            },
                            why: format!(
                                "this ingress chain sees only packets from {devs}, and the inbound interface is unknown"
                            ),
                        },
                    )),
                    (Some(v), None) => pieces.push((s, v)),
                }
            }
        }
        if !live.is_empty() {
            pieces.push((live, Verdict::Accept));
        }
        Outcome {
            pieces,
            work: ev.work,
            exhausted: ev.exhausted,
        }
    }

    /// What the way in does with `p`: every base chain that sees the packet, ingress, then
    /// prerouting, then input, each in priority order; an accept passes it to the next one,
    /// a drop or reject ends it.
    pub fn evaluate(&self, p: &Packet) -> Verdict {
        self.evaluate_counted(p, WORK_BUDGET).0
    }

    /// What the forward path does with `p` (already translated: `daddr`/`dport` are the DNAT's
    /// destination) on its way out through `oif`: the forward hook's base chains only.
    pub fn evaluate_forward(&self, p: &Packet, oif: &str) -> Verdict {
        let input = p
            .saddr
            .as_ref()
            .map_or_else(Sources::arbitrary, Sources::one);
        self.run_path(p, input, WORK_BUDGET, Some(oif), Stage::Syn)
            .pieces
            .into_iter()
            .find(|(s, _)| !s.is_empty())
            .map_or(Verdict::Accept, |(_, v)| v)
    }

    /// What the way in does with the segment that carries the CA's HTTP request, once the
    /// SYN got through and the handshake is done: an IPS rule on established flows (`ct
    /// state established meta length > 100 drop`) lets the connect through and drops this.
    pub fn evaluate_request(&self, p: &Packet) -> Verdict {
        let input = p
            .saddr
            .as_ref()
            .map_or_else(Sources::arbitrary, Sources::one);
        self.run_path(p, input, WORK_BUDGET, None, Stage::Request)
            .pieces
            .into_iter()
            .find(|(s, _)| !s.is_empty())
            .map_or(Verdict::Accept, |(_, v)| v)
    }

    /// Whether any chain hooks the forward path (a ruleset read without it says nothing).
    pub fn has_forward_path(&self, family: Family) -> bool {
        self.base
            .iter()
            .any(|b| b.hook == Hook::Forward && b.family.is_none_or(|f| f == family))
    }

    /// [`Ruleset::evaluate`] within `budget` steps, and the steps it took.
    pub fn evaluate_counted(&self, p: &Packet, budget: u64) -> (Verdict, u64) {
        let input = p
            .saddr
            .as_ref()
            .map_or_else(Sources::arbitrary, Sources::one);
        let outcome = self.run(p, input, budget);
        let verdict = outcome
            .pieces
            .into_iter()
            .find(|(s, _)| !s.is_empty())
            .map_or(Verdict::Accept, |(_, v)| v);
        (verdict, outcome.work)
    }

    /// The sources of `p`'s family that get in, as prefixes, from one walk of the ruleset
    /// with the source address left open; `None` when that walk ran out of budget.
    pub fn accepted_sources(&self, p: &Packet) -> Option<Vec<IpNet>> {
        self.accepted_sources_counted(p, WORK_BUDGET).0
    }

    /// [`Ruleset::accepted_sources`] within `budget` steps, and the steps it took.
    pub fn accepted_sources_counted(&self, p: &Packet, budget: u64) -> (Option<Vec<IpNet>>, u64) {
        let outcome = self.run(p, Sources::everything(p.family), budget);
        if outcome.exhausted {
            return (None, outcome.work);
        }
        // Pieces of one partition: adjacent ones merge into the fewest prefixes.
        let ranges = super::sets::normalise(
            outcome
                .pieces
                .iter()
                .filter(|(_, v)| *v == Verdict::Accept)
                .flat_map(|(s, _)| s.ranges())
                .collect(),
        );
        let nets = ranges
            .into_iter()
            .flat_map(|(lo, hi)| super::sets::prefixes(lo, hi, p.family))
            .collect();
        (Some(nets), outcome.work)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::firewall::model::{ChainRef, Match, Origin, PortSet, Position};

    fn chain_in(table: &str, name: &str) -> ChainRef {
        ChainRef {
            origin: Origin::Nft {
                family: "inet".into(),
            },
            table: table.into(),
            chain: name.into(),
        }
    }

    fn chain_ref(name: &str) -> ChainRef {
        chain_in("t", name)
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
            return_iif: Some("eth0".into()),
        }
    }

    fn base(chain: ChainRef, policy_drop: bool) -> BaseChain {
        BaseChain {
            hook: Hook::Input,
            family: None,
            priority: 0,
            policy_drop,
            chain,
            devices: None,
        }
    }

    #[test]
    fn policy_drop_without_exception_drops() {
        let mut rs = Ruleset::default();
        rs.base.push(base(chain_ref("input"), true));
        rs.chains.insert(
            chain_ref("input"),
            vec![rule(
                "ssh",
                vec![Cond::DPort(PortSet::new([(22, 22)]))],
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
        rs.base.push(base(chain_ref("input"), false));
        rs.chains.insert(
            chain_ref("input"),
            vec![
                rule("j", vec![], Action::Jump("web".into())),
                rule(
                    "last",
                    vec![Cond::DPort(PortSet::new([(80, 80)]))],
                    Action::Drop,
                ),
            ],
        );
        rs.chains.insert(
            chain_ref("web"),
            vec![
                rule(
                    "ret",
                    vec![Cond::DPort(PortSet::new([(443, 443)]))],
                    Action::Return,
                ),
                rule("g", vec![], Action::Goto("deeper".into())),
            ],
        );
        rs.chains.insert(
            chain_ref("deeper"),
            vec![rule(
                "acc80",
                vec![Cond::DPort(PortSet::new([(80, 80)]))],
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
        rs.base.push(base(chain_ref("input"), true));
        let allowed: IpNet = "203.0.113.0/24".parse().unwrap();
        rs.chains.insert(
            chain_ref("input"),
            vec![rule(
                "allow",
                vec![
                    Cond::SAddr(NetSet::new([allowed])),
                    Cond::DPort(PortSet::new([(80, 80)])),
                ],
                Action::Accept,
            )],
        );
        let p = packet(Family::Ipv4, 80);
        assert!(matches!(rs.evaluate(&p), Verdict::Drop { .. }));
        assert_eq!(rs.accepted_sources(&p), Some(vec![allowed]));
        let from_allowed = Packet {
            saddr: Some("203.0.113.7".parse().unwrap()),
            ..p
        };
        assert_eq!(rs.evaluate(&from_allowed), Verdict::Accept);
    }

    #[test]
    fn an_unknown_match_is_undecidable_unless_another_match_rules_it_out() {
        let mut rs = Ruleset::default();
        rs.base.push(base(chain_ref("input"), false));
        rs.chains.insert(
            chain_ref("input"),
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
                        Cond::DPort(PortSet::new([(80, 80)])),
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
            ..base(chain_in("a", "input"), false)
        });
        rs.base.push(BaseChain {
            priority: -5,
            family: Some(Family::Ipv6),
            ..base(chain_in("b", "input"), false)
        });
        rs.chains.insert(
            chain_in("a", "input"),
            vec![rule(
                "drop80",
                vec![Cond::DPort(PortSet::new([(80, 80)]))],
                Action::Reject { refused: true },
            )],
        );
        rs.chains.insert(
            chain_in("b", "input"),
            vec![rule("acc", vec![], Action::Accept)],
        );
        assert!(matches!(
            rs.evaluate(&packet(Family::Ipv6, 80)),
            Verdict::Reject { refused: true, .. }
        ));
    }

    /// A jump resolves in its own table, whatever the chain names hold.
    #[test]
    fn a_jump_from_a_chain_named_with_a_slash_stays_in_its_table() {
        let mut rs = Ruleset::default();
        rs.base.push(base(chain_ref("in/put"), true));
        rs.chains.insert(
            chain_ref("in/put"),
            vec![rule("j", vec![], Action::Jump("web".into()))],
        );
        rs.chains.insert(
            chain_ref("web"),
            vec![rule(
                "acc80",
                vec![Cond::DPort(PortSet::new([(80, 80)]))],
                Action::Accept,
            )],
        );
        assert_eq!(rs.evaluate(&packet(Family::Ipv4, 80)), Verdict::Accept);
        assert!(matches!(
            rs.evaluate(&packet(Family::Ipv4, 22)),
            Verdict::Drop { .. }
        ));
    }

    /// A jump to a chain that does not exist names the chain it looked for.
    #[test]
    fn a_jump_to_a_missing_chain_is_undecidable_and_named() {
        let mut rs = Ruleset::default();
        rs.base.push(base(chain_ref("input"), false));
        rs.chains.insert(
            chain_ref("input"),
            vec![rule("j", vec![], Action::Jump("gone".into()))],
        );
        assert_eq!(
            rs.evaluate(&packet(Family::Ipv4, 80)),
            Verdict::Undecidable {
                rule: "nft/inet/t/gone".into(),
                why: "jump to a chain that does not exist".into(),
            }
        );
    }
}
