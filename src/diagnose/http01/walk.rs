//! The CA's walk (`Http01Facts::ca_path`) read as the CA reads it: where it ends, and in what
//! words (`docs/ca-behaviour.md` §0.5, §2.2–§2.8). No check: the answer and ca-path checks
//! and the pass that predicts the CA's words all read it.

use crate::diagnose::ca::{self, CaError, Dial, ProblemType, RedirectRefusal};
use crate::diagnose::context::{duration, socket};
use crate::facts::{Answered, CaPath, Family, HopOutcome, PathHop, TokenFacts};
use crate::keyauth::{self, Compared, Flaw};
use std::net::IpAddr;

/// Where the walk ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'a> {
    /// The CA accepts the answer.
    Pass,
    /// A web server answered (a 404 for a random token, or a 200 whose content is unknown):
    /// nothing is predicted without the real token.
    Unverified {
        hop: &'a PathHop,
    },
    Fail(Failure<'a>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure<'a> {
    /// The hop where it ended (for a refused redirect or a failed lookup, the target).
    pub hop: &'a PathHop,
    /// Its index in its attempt: 0 is the challenge URL itself.
    pub depth: usize,
    /// The family and port of the last connection the CA used.
    pub family: Option<Family>,
    pub port: u16,
    pub kind: Kind,
    pub ca: CaError,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Dial(Dial),
    Refused(RedirectRefusal),
    NoAddress,
    Tls,
    HttpOnTls,
    NoResponse,
    Status(u16),
    TooLarge,
    Mismatch { flaw: Flaw, got: String },
}

/// The outcome of the walk; `None` when there was none (no usable address, or facts from a
/// probe that does not walk).
pub fn outcome<'a>(path: &'a CaPath, token: Option<&TokenFacts>) -> Option<Outcome<'a>> {
    let hops = &path.attempts.last()?.hops;
    let depth = hops.len().checked_sub(1)?;
    let hop = &hops[depth];
    // The connection the CA last used: this hop's, or the redirecting hop's.
    let previous = depth.checked_sub(1).map(|i| &hops[i]);
    let last_used = hop
        .address
        .map(|ip| (ip, hop.family, hop.port))
        .or_else(|| previous.and_then(|p| p.address.map(|ip| (ip, p.family, p.port))));
    let (ip, family, port) = last_used?;
    let fetching = |problem, core: &str| ca::fetching(problem, &ip, &hop.url, core);
    let fail = |kind, ca| {
        Some(Outcome::Fail(Failure {
            hop,
            depth,
            family,
            port,
            kind,
            ca,
        }))
    };
    match &hop.outcome {
        // acme-doctor's own limit (out of local ports or descriptors): the CA's dial was not
        // reproduced, so the walk predicts nothing (the reachability check says so).
        HopOutcome::Dial { connect } if connect.is_own_limit() => None,
        HopOutcome::OwnLimit { .. } => None,
        HopOutcome::Dial { connect } => {
            let dial = Dial::of(connect)?;
            fail(
                Kind::Dial(dial),
                fetching(ProblemType::Connection, dial.core()),
            )
        }
        HopOutcome::Refused { refusal } => fail(
            Kind::Refused(refusal.clone()),
            fetching(ProblemType::Connection, &refusal.core()),
        ),
        HopOutcome::NoAddress { a, aaaa } => {
            let host = url::Url::parse(&hop.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            let dns = ca::no_usable_address(&host, a, aaaa);
            fail(Kind::NoAddress, fetching(ProblemType::Dns, &dns.detail))
        }
        HopOutcome::Tls { alert, .. } => {
            let (problem, core) = ca::tls_core(*alert);
            fail(Kind::Tls, fetching(problem, &core))
        }
        HopOutcome::HttpOnTlsPort => fail(
            Kind::HttpOnTls,
            fetching(ProblemType::Connection, ca::GETTING_DATA),
        ),
        HopOutcome::Timeout => fail(
            Kind::NoResponse,
            fetching(ProblemType::Connection, ca::TIMEOUT_AFTER_CONNECT),
        ),
        HopOutcome::Reset => fail(
            Kind::NoResponse,
            fetching(ProblemType::Connection, ca::CONNECTION_RESET),
        ),
        // Go's client reads EOF: Boulder's catch-all (`docs/ca-behaviour.md` §2.8, row 11).
        HopOutcome::Closed => fail(
            Kind::NoResponse,
            fetching(ProblemType::Connection, ca::GETTING_DATA),
        ),
        // A probe that does not fetch says so; that is no fact about the server.
        HopOutcome::NotProbed => None,
        HopOutcome::Error { .. } => fail(
            Kind::NoResponse,
            fetching(ProblemType::Connection, ca::GETTING_DATA),
        ),
        HopOutcome::Answer(a) => answered(a, token, hop, &ip, |kind, ca| {
            Outcome::Fail(Failure {
                hop,
                depth,
                family,
                port,
                kind,
                ca,
            })
        }),
    }
}

fn answered<'a>(
    a: &Answered,
    token: Option<&TokenFacts>,
    hop: &'a PathHop,
    ip: &IpAddr,
    fail: impl Fn(Kind, CaError) -> Outcome<'a>,
) -> Option<Outcome<'a>> {
    if a.status != 200 {
        if token.is_none() && a.status == 404 {
            return Some(Outcome::Unverified { hop });
        }
        return Some(fail(
            Kind::Status(a.status),
            ca::bad_status(ip, &hop.url, a.status),
        ));
    }
    let Some(token) = token else {
        return Some(Outcome::Unverified { hop });
    };
    let head = a.body_head();
    if a.body_bytes >= keyauth::LIMIT as u64 {
        return Some(fail(
            Kind::TooLarge,
            ca::body_too_large(ip, &hop.url, &head),
        ));
    }
    Some(match keyauth::compare(&token.expected, &head) {
        Compared::Match => Outcome::Pass,
        Compared::TooLarge => fail(Kind::TooLarge, ca::body_too_large(ip, &hop.url, &head)),
        Compared::Mismatch { got, flaw } => fail(
            Kind::Mismatch {
                flaw,
                got: got.clone(),
            },
            ca::key_authorization_mismatch(&token.expected, &got),
        ),
    })
}

/// The walk as evidence lines: every hop with its URL, address, outcome and time.
pub fn evidence(path: &CaPath) -> Vec<String> {
    let mut lines = Vec::new();
    for (n, attempt) in path.attempts.iter().enumerate() {
        for hop in &attempt.hops {
            let at = match hop.address {
                Some(ip) => format!(" via {}", socket(&ip, hop.port)),
                None => String::new(),
            };
            let what = match &hop.outcome {
                HopOutcome::Dial { connect } => connect.to_string(),
                HopOutcome::Answer(a) => format!(
                    "{}{}",
                    a.status,
                    a.location
                        .as_ref()
                        .map(|l| format!(" → {l}"))
                        .unwrap_or_default()
                ),
                HopOutcome::Refused { refusal } => format!("refused: {}", refusal.core()),
                HopOutcome::NoAddress { .. } => "no usable address".into(),
                HopOutcome::Tls { message, .. } => format!("TLS failed: {message}"),
                HopOutcome::HttpOnTlsPort => "plain HTTP answered on the HTTPS port".into(),
                HopOutcome::Timeout => "no response in time".into(),
                HopOutcome::Reset => "connection reset".into(),
                HopOutcome::Closed => "closed without an answer".into(),
                HopOutcome::Error { message } | HopOutcome::OwnLimit { message } => message.clone(),
                HopOutcome::NotProbed => "not fetched".into(),
            };
            lines.push(format!(
                "CA path, attempt {}: GET {}{at}: {what} ({})",
                n + 1,
                hop.url,
                duration(hop.elapsed_ms)
            ));
        }
    }
    lines
}
