//! The perspectives that failed, with the address their requests came from: what the host's
//! own filters (its firewall, the web server's access rules) are asked about, so that a block
//! on the host is named there instead of being blamed on the path (issue 20 item 2). Not a
//! check: the firewall check and the web-server access check both read it.

use super::Context;
use super::context::{outside_connect, vantage_limited};
use crate::facts::{ConnectOutcome, Family, HttpOutcome};
use std::net::IpAddr;

/// What the CA's perspectives are, in one sentence every source-dependent finding says.
pub const PERSPECTIVES_UNPUBLISHED: &str = "The CA validates from several perspectives at once, from addresses it does not publish and that change (docs/ca-behaviour.md §6.8): any block by source address or region (a ban list, a country or \"bot\" set) risks failing validation from whichever perspective falls in it.";

/// How a perspective failed at the host's address.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The TCP connect did not complete.
    Connect(ConnectOutcome),
    /// The connect completed, then the request met nothing: a timeout, a reset, a close
    /// without an answer (nginx's `444`). The words say which.
    AfterConnect(String),
    /// The server answered with a refusal (403 and its kin).
    Status(u16),
}

impl Failure {
    /// Whether the connection was made: the filter that failed it sits after the handshake.
    pub fn after_connect(&self) -> bool {
        !matches!(self, Failure::Connect(_))
    }

    pub fn describe(&self) -> String {
        match self {
            Failure::Connect(o) => format!("connect: {o}"),
            Failure::AfterConnect(what) => format!("connected, then {what}"),
            Failure::Status(s) => format!("answered {s}"),
        }
    }
}

/// One perspective that failed at one of the host's addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    /// The vantage (its URL) or the saved run (`file:NAME`).
    pub name: String,
    /// Where its request came from: its own outward address of the family.
    pub source: IpAddr,
    /// The host's address it dialled.
    pub target: IpAddr,
    pub port: u16,
    pub failure: Failure,
}

/// Statuses a filter answers with; a 404 or a 500 is the site's own, not a refusal.
const REFUSALS: &[u16] = &[401, 403, 406, 429, 444, 451];

/// Every outside view that failed at the first address of a family it dialled on the
/// validation port, and whose own source address of that family is known.
pub fn blocked(cx: &Context) -> Vec<Blocked> {
    let mut out = Vec::new();
    let port = cx.dial_port();
    for (name, o) in &cx.outside {
        // IPv6 first, as the CA dials.
        for family in [Family::Ipv6, Family::Ipv4] {
            let Some(source) = o
                .own_sources
                .iter()
                .map(|ip| ip.to_canonical())
                .find(|ip| Family::of(ip) == family)
            else {
                continue;
            };
            let Some((target, outcome)) = cx
                .usable(family)
                .iter()
                .find_map(|ip| outside_connect(o, ip, port).map(|c| (*ip, c)))
            else {
                continue;
            };
            let failure = match outcome {
                ConnectOutcome::Connected => {
                    let answer = o
                        .http01
                        .http
                        .iter()
                        .find(|h| h.address == target && h.port == port);
                    match answer.map(|h| &h.outcome) {
                        Some(HttpOutcome::Timeout) => {
                            Failure::AfterConnect("the request timed out".into())
                        }
                        Some(HttpOutcome::Reset) => {
                            Failure::AfterConnect("the connection was reset".into())
                        }
                        Some(HttpOutcome::Error { message }) => Failure::AfterConnect(format!(
                            "the connection ended without an answer ({})",
                            crate::sanitize::line(message, 120)
                        )),
                        Some(HttpOutcome::Response { status, .. }) if REFUSALS.contains(status) => {
                            Failure::Status(*status)
                        }
                        _ => continue,
                    }
                }
                o if vantage_limited(o) || o.is_own_limit() => continue,
                o => Failure::Connect(o.clone()),
            };
            out.push(Blocked {
                name: name.to_string(),
                source,
                target,
                port,
                failure,
            });
        }
    }
    out
}
