//! HTTP per perspective (issue 20 item 1): what each perspective got for the challenge path,
//! read from the facts in one shape, and the two comparisons the checks word:
//!
//! - **by User-Agent**, on the host: the same path with the CA's User-Agent (`http`) and with
//!   acme-doctor's own (`own_agent`), from the same source. A difference is a filter keyed
//!   on the User-Agent (a WAF or bot-blocker rule);
//! - **by source**: the CA's User-Agent from each perspective (the host, every vantage, the
//!   run itself when it ran elsewhere, the CA's own `--ca-check` or pasted words). Some
//!   refused, closed, reset or silent while others got 200 or 404: where the request comes
//!   from decides.
//!
//! A module that is no check: `ca-path` words `waf-blocks` from it, `outside` words
//! `vantage-dependent`. Perspectives are compared only with the same User-Agent: a saved
//! vantage from before issue 20 sent acme-doctor's own, and is compared with the host's own.

use super::who;
use crate::diagnose::Context;
use crate::diagnose::ca::observe::{self, Failure, Verdict};
use crate::facts::{Agent, Answered, Family, HttpFact, HttpOutcome, Method};
use std::fmt;
use std::net::IpAddr;

/// Where a perspective stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The server itself: its request to its own address goes through `lo`.
    Host,
    /// An `acme-doctor serve` elsewhere, or a run saved elsewhere.
    Vantage,
    /// This run, made elsewhere than on the server.
    ThisRun,
    /// The CA: a `--ca-check` or its pasted words.
    Ca,
}

/// What one perspective got for the challenge path at one address.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Who looked: "this host", a vantage's URL, "the CA (--ca-check)".
    pub name: String,
    pub place: Place,
    pub agent: Agent,
    pub address: IpAddr,
    pub said: Said,
}

/// An answer, in the terms the perspectives are compared by.
#[derive(Debug, Clone, PartialEq)]
pub enum Said {
    Answer {
        status: u16,
        server: Option<String>,
        /// SHA-256 of the body read, hex; empty when unknown (the CA's, a saved file's).
        body_sha256: String,
        /// The WAF or bot protection whose block page this is (`who::waf`).
        block_page: Option<&'static str>,
    },
    /// Closed after the request without an answer (nginx's `return 444`).
    Closed,
    /// Reset after the request.
    Reset,
    /// Connected, then no answer in time.
    Timeout,
    /// The CA's catch-all, `Error getting validation data` (an EOF among others).
    NoData,
}

/// Statuses a filter answers with when it refuses a request.
const REFUSAL_STATUSES: &[u16] = &[401, 403, 406, 429, 451];

impl Said {
    /// A GET's outcome; `None` for what says nothing about the server (acme-doctor's own
    /// limit, an error of its own client).
    pub fn of(outcome: &HttpOutcome) -> Option<Said> {
        match outcome {
            HttpOutcome::Response {
                status,
                server,
                page,
                ..
            } => Some(Said::Answer {
                status: *status,
                server: server.clone(),
                body_sha256: page.body_sha256.clone(),
                block_page: Answered::of_response(outcome).and_then(|a| who::waf(&a)),
            }),
            HttpOutcome::Closed => Some(Said::Closed),
            HttpOutcome::Reset => Some(Said::Reset),
            HttpOutcome::Timeout => Some(Said::Timeout),
            HttpOutcome::Error { .. } | HttpOutcome::Unread { .. } => None,
        }
    }

    /// The answers a working challenge path gives: 200, or 404 for a token that does not
    /// exist.
    pub fn served(&self) -> bool {
        matches!(
            self,
            Said::Answer {
                status: 200 | 404,
                ..
            }
        )
    }

    /// A refusal by status or by block page: what a WAF or an access rule answers.
    pub fn refusal(&self) -> bool {
        match self {
            Said::Answer {
                status, block_page, ..
            } => REFUSAL_STATUSES.contains(status) || block_page.is_some(),
            _ => false,
        }
    }

    /// A refusal, or the connection ended or silent after the request.
    pub fn blocked(&self) -> bool {
        self.refusal()
            || matches!(
                self,
                Said::Closed | Said::Reset | Said::Timeout | Said::NoData
            )
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Said::Answer { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn server(&self) -> Option<&str> {
        match self {
            Said::Answer { server, .. } => server.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Said::Answer {
                status,
                server,
                body_sha256,
                block_page,
            } => {
                write!(f, "{status}")?;
                if let Some(server) = server {
                    write!(f, ", Server {server}")?;
                }
                if let Some(page) = block_page {
                    write!(f, ", {page} block page")?;
                }
                if let Some(hash) = body_sha256.get(..12) {
                    write!(f, ", body sha256 {hash}…")?;
                }
                Ok(())
            }
            Said::Closed => f.write_str("connection closed without an answer (a 444-style close)"),
            Said::Reset => f.write_str("connection reset after the request"),
            Said::Timeout => f.write_str("no answer in time after the connect"),
            Said::NoData => f.write_str("Error getting validation data (no usable answer)"),
        }
    }
}

impl Seen {
    /// One evidence line: who, with which User-Agent, at which address, got what.
    pub fn line(&self) -> String {
        format!(
            "perspective {} ({}) at {}: {}",
            self.name,
            self.agent.label(),
            self.address,
            self.said
        )
    }

    /// Outside the server: what the CA's perspectives stand like.
    pub fn outside(&self) -> bool {
        self.place != Place::Host
    }
}

/// The usable addresses' port-80 GETs among `facts`.
fn usable_gets<'a>(cx: &'a Context, facts: &'a [HttpFact]) -> impl Iterator<Item = &'a HttpFact> {
    facts.iter().filter(move |h| {
        h.port == cx.dial_port() && cx.usable(Family::of(&h.address)).contains(&h.address)
    })
}

/// Every perspective's answer for the challenge path, each usable address it asked. Empty
/// for a method other than HTTP-01.
pub fn challenge(cx: &Context) -> Vec<Seen> {
    let mut all = Vec::new();
    if cx.target.method() != Method::Http01 {
        return all;
    }
    let facts = cx.http01();
    let (name, place) = if cx.on_host() == Some(true) {
        ("this host", Place::Host)
    } else {
        ("this run", Place::ThisRun)
    };
    for fact in usable_gets(cx, &facts.http).chain(usable_gets(cx, &facts.own_agent)) {
        if let Some(said) = Said::of(&fact.outcome) {
            all.push(Seen {
                name: name.into(),
                place,
                agent: fact.agent,
                address: fact.address,
                said,
            });
        }
    }
    for (vantage, o) in &cx.outside {
        for fact in usable_gets(cx, &o.http01.http) {
            if let Some(said) = Said::of(&fact.outcome) {
                all.push(Seen {
                    name: vantage.to_string(),
                    place: Place::Vantage,
                    agent: fact.agent,
                    address: fact.address,
                    said,
                });
            }
        }
    }
    // The CA itself, where its words say what it got on port 80 of the first hop.
    for o in observe::of_target(cx.target) {
        if !o.heard.is_now() || o.redirect_hop || o.port.is_some_and(|p| p != cx.dial_port()) {
            continue;
        }
        let Some(address) = o.address else { continue };
        let said = match (&o.verdict, &o.failure) {
            (Verdict::Valid, _) => Said::Answer {
                status: 200,
                server: None,
                body_sha256: String::new(),
                block_page: None,
            },
            (_, Some(Failure::Status(status))) => Said::Answer {
                status: *status,
                server: None,
                body_sha256: String::new(),
                block_page: None,
            },
            (_, Some(Failure::AfterConnect))
                if o.detail.contains(crate::diagnose::ca::CONNECTION_RESET) =>
            {
                Said::Reset
            }
            (_, Some(Failure::AfterConnect)) => Said::Timeout,
            (_, Some(Failure::NoData)) => Said::NoData,
            _ => continue,
        };
        all.push(Seen {
            name: o.heard.label().to_string(),
            place: Place::Ca,
            agent: Agent::Ca,
            address,
            said,
        });
    }
    all
}

/// On the host, one address answers the CA's User-Agent otherwise than acme-doctor's own.
#[derive(Debug, Clone, PartialEq)]
pub struct ByAgent {
    pub family: Family,
    pub address: IpAddr,
    pub ca: Said,
    pub own: Said,
}

/// The host's answers that differ by User-Agent, a blocked one for the CA's: per address.
pub fn by_agent(seen: &[Seen]) -> Vec<ByAgent> {
    let host = |agent: Agent| {
        seen.iter()
            .filter(move |s| s.place == Place::Host && s.agent == agent)
    };
    host(Agent::Ca)
        .filter(|ca| ca.said.blocked())
        .filter_map(|ca| {
            let own = host(Agent::Own).find(|o| o.address == ca.address)?;
            (!own.said.blocked() && own.said.status() != ca.said.status()).then(|| ByAgent {
                family: Family::of(&ca.address),
                address: ca.address,
                ca: ca.said.clone(),
                own: own.said.clone(),
            })
        })
        .collect()
}

/// In one family, with the CA's User-Agent: perspectives that got a working answer, and
/// perspectives that were refused, closed, reset or met silence.
#[derive(Debug, Clone, PartialEq)]
pub struct BySource {
    pub family: Family,
    pub served: Vec<Seen>,
    pub blocked: Vec<Seen>,
}

impl BySource {
    /// Whether any perspective outside the server got through: the CA's perspectives (not
    /// published) may too, so the failure is a risk rather than certain.
    pub fn outside_served(&self) -> bool {
        self.served.iter().any(Seen::outside)
    }

    /// Whether a refusal (a status or a block page) is among the blocked answers.
    pub fn refused(&self) -> bool {
        self.blocked.iter().any(|s| s.said.refusal())
    }
}

/// Per family, the perspectives that differ by where they stand, with the CA's User-Agent.
/// Each perspective counts once per family: it got through when any address served it,
/// else it was blocked when any address blocked it.
pub fn by_source(seen: &[Seen]) -> Vec<BySource> {
    let mut found = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        let mut served: Vec<Seen> = Vec::new();
        let mut blocked: Vec<Seen> = Vec::new();
        let of_family = seen
            .iter()
            .filter(|s| s.agent == Agent::Ca && Family::of(&s.address) == family);
        let mut names: Vec<(&str, Place)> = Vec::new();
        for s in of_family.clone() {
            if !names.contains(&(s.name.as_str(), s.place)) {
                names.push((s.name.as_str(), s.place));
            }
        }
        for (name, place) in names {
            let mine = || {
                of_family
                    .clone()
                    .filter(|s| s.name == name && s.place == place)
            };
            if let Some(ok) = mine().find(|s| s.said.served()) {
                served.push(ok.clone());
            } else if let Some(bad) = mine().find(|s| s.said.blocked()) {
                blocked.push(bad.clone());
            }
        }
        if !served.is_empty() && !blocked.is_empty() {
            found.push(BySource {
                family,
                served,
                blocked,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str, place: Place, agent: Agent, said: Said) -> Seen {
        Seen {
            name: name.into(),
            place,
            agent,
            address: "192.0.2.10".parse().unwrap(),
            said,
        }
    }

    fn status(status: u16) -> Said {
        Said::Answer {
            status,
            server: Some("nginx".into()),
            body_sha256: String::new(),
            block_page: None,
        }
    }

    #[test]
    fn a_close_a_reset_and_silence_are_told_apart_and_all_blocked() {
        let said: Vec<Said> = [
            HttpOutcome::Closed,
            HttpOutcome::Reset,
            HttpOutcome::Timeout,
        ]
        .iter()
        .filter_map(Said::of)
        .collect();
        assert_eq!(said, [Said::Closed, Said::Reset, Said::Timeout]);
        assert!(said.iter().all(Said::blocked));
        assert!(said.iter().all(|s| !s.refusal()));
        assert!(said[0].to_string().contains("444"));
        // acme-doctor's own trouble says nothing of the server.
        assert_eq!(
            Said::of(&HttpOutcome::Error {
                message: "x".into()
            }),
            None
        );
    }

    #[test]
    fn a_difference_by_user_agent_is_only_the_hosts_and_only_a_block() {
        let list = [
            seen("this host", Place::Host, Agent::Ca, status(403)),
            seen("this host", Place::Host, Agent::Own, status(404)),
        ];
        let found = by_agent(&list);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ca.status(), Some(403));
        // The same answer to both agents, or a CA answer that is no block: nothing.
        assert!(
            by_agent(&[
                list[0].clone(),
                seen("this host", Place::Host, Agent::Own, status(403))
            ])
            .is_empty()
        );
        assert!(
            by_agent(&[
                seen("this host", Place::Host, Agent::Ca, status(500)),
                list[1].clone()
            ])
            .is_empty()
        );
        // A 444-style close to the CA's agent only is a difference too.
        assert_eq!(
            by_agent(&[
                seen("this host", Place::Host, Agent::Ca, Said::Closed),
                list[1].clone()
            ])
            .len(),
            1
        );
    }

    #[test]
    fn a_difference_by_source_compares_only_the_cas_user_agent() {
        let list = [
            seen("this host", Place::Host, Agent::Ca, status(404)),
            seen("http://v1", Place::Vantage, Agent::Ca, Said::Closed),
            seen("http://v2", Place::Vantage, Agent::Ca, status(404)),
        ];
        let found = by_source(&list);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].blocked.len(), 1);
        assert_eq!(found[0].blocked[0].name, "http://v1");
        assert!(found[0].outside_served());
        assert!(!found[0].refused());
        // A saved vantage that sent acme-doctor's own User-Agent is not compared with the
        // CA's: its 404 could be the difference of agent, not of source.
        let old = [
            seen("this host", Place::Host, Agent::Ca, status(403)),
            seen("file:old.json", Place::Vantage, Agent::Own, status(404)),
        ];
        assert!(by_source(&old).is_empty());
        // Only the host got through: nothing outside served.
        let host_only = [list[0].clone(), list[1].clone()];
        assert!(!by_source(&host_only)[0].outside_served());
    }
}
