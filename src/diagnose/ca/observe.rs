//! What the CA said, read once into one typed observation per identifier: a `--ca-check`'s
//! ACME objects, pasted words (`--ca-error`) and a client's logged failure alike. The join
//! (`super::join`) reasons on these, never on text.
//!
//! Boulder composes its details as
//! `[During secondary validation: ][While processing CAA for <id>: ][<IP>: ][Fetching <URL>: ]<core>`
//! (`docs/ca-behaviour.md` §0.5, §13.2); this module takes that apart.

use super::words::{self, Format, Said};
use super::{CONNECT_TIMEOUT, Dial, GETTING_DATA, ProblemType, TIMEOUT_AFTER_CONNECT};
use crate::facts::{
    AcmeProblem, CaCheckOutcome, CaEvidence, CaSaid, CaSource, Family, TargetFacts,
    ValidationRecord,
};
use std::net::IpAddr;

/// Where the observation came from, and so what it is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// acme-doctor's own `--ca-check`: evidence of now.
    Check,
    /// `--ca-error`: the user's paste, taken as evidence of now.
    Pasted,
    /// An ACME client's log: history.
    Logged,
}

impl Heard {
    /// Whether this is evidence of now, which decides (a log is history).
    pub fn is_now(self) -> bool {
        matches!(self, Heard::Check | Heard::Pasted)
    }

    /// Where the words came from, for evidence.
    pub fn source(self) -> &'static str {
        match self {
            Heard::Check => "from --ca-check",
            Heard::Pasted => "pasted with --ca-error",
            Heard::Logged => "from an ACME client's log",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Heard::Check => "the CA (--ca-check)",
            Heard::Pasted => "the CA (pasted with --ca-error)",
            Heard::Logged => "the CA (in a client's log)",
        }
    }
}

/// How the CA's validation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    /// The check gave no verdict: the stage and why.
    NotDone(String),
    /// The client's own pre-check (cert-manager), not the CA's verdict.
    SelfCheck,
}

/// Which of the CA's perspectives saw it (`docs/ca-behaviour.md` §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perspective {
    /// No `During secondary validation:` prefix: the primary failed, or the whole check.
    Primary,
    /// The primary passed; remote perspectives failed.
    Secondary,
}

/// What failed, as the CA's core message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connect: timeout, refused, network unreachable.
    Dial(Dial),
    /// Boulder's catch-all (`Error getting validation data`): EHOSTUNREACH, EOF, a malformed
    /// answer.
    NoData,
    /// Connected, then no answer in time, or a reset.
    AfterConnect,
    /// The final HTTP status, not 200.
    Status(u16),
    /// A 200 whose body is not the key authorization (too long, or another value).
    WrongContent,
    /// A redirect the CA refuses.
    Redirect,
    /// A DNS lookup failed: its record type, name, rcode or EDE as said.
    Dns {
        rtype: Option<String>,
        name: Option<String>,
        rcode: Option<String>,
        ede: Option<String>,
    },
    /// CAA forbids: where the record set was found.
    Caa {
        set_at: Option<String>,
    },
    /// DNS-01: the TXT record is missing or wrong.
    Txt,
    /// TLS-ALPN-01 or an HTTPS hop: the handshake or the certificate.
    Tls,
    /// A rate limit.
    RateLimit,
    /// The identifier is refused at order time.
    Rejected,
    /// The CA's own trouble (`serverInternal`).
    CaSide,
    Other,
}

/// A rate limit the CA applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// The limit's name as Let's Encrypt documents it, when recognised.
    pub limit: Option<&'static str>,
    /// The limit's documentation: the detail's own URL, else the limit's anchor.
    pub doc_url: String,
    /// `retry after …` as the detail says it (a UTC time), when it does.
    pub retry_after: Option<String>,
    /// `Retry-After` in seconds, when the answer carried it.
    pub retry_after_s: Option<u64>,
}

/// One identifier's validation, as the CA told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub heard: Heard,
    /// The format it was read from (a check's objects read as a problem document).
    pub format: Format,
    pub identifier: Option<String>,
    pub verdict: Verdict,
    pub problem: Option<ProblemType>,
    /// The problem type's URN as said (an unknown type is kept as is).
    pub type_urn: Option<String>,
    /// The CA's detail, word for word (capped).
    pub detail: String,
    pub perspective: Perspective,
    /// The address the CA used last (the detail's `<IP>:` prefix, or the check's
    /// `addressUsed`).
    pub address: Option<IpAddr>,
    /// The URL it fetched, when it says (a redirect target carries its own port).
    pub url: Option<String>,
    pub port: Option<u16>,
    /// The URL is not the first one the CA fetches: it followed a redirect.
    pub redirect_hop: bool,
    pub failure: Option<Failure>,
    pub rate_limit: Option<RateLimit>,
    /// The HTTP status of the CA's answer (400, 403, 429), when known.
    pub status: Option<u16>,
}

impl Observation {
    pub fn family(&self) -> Option<Family> {
        self.address.as_ref().map(Family::of)
    }

    /// The ACME problem type to quote beside the detail: the one said, else the one
    /// Boulder's mapping gives its core message (`docs/ca-behaviour.md` §2.8).
    pub fn problem_or_inferred(&self) -> Option<ProblemType> {
        self.problem.or_else(|| {
            Some(match self.failure.as_ref()? {
                Failure::Dial(_) | Failure::NoData | Failure::AfterConnect | Failure::Redirect => {
                    ProblemType::Connection
                }
                Failure::Status(_) | Failure::WrongContent | Failure::Txt => {
                    ProblemType::Unauthorized
                }
                Failure::Dns { .. } => ProblemType::Dns,
                Failure::Caa { .. } => ProblemType::Caa,
                Failure::Tls => ProblemType::Tls,
                Failure::RateLimit => ProblemType::RateLimited,
                Failure::Rejected => ProblemType::RejectedIdentifier,
                Failure::CaSide => ProblemType::ServerInternal,
                Failure::Other => return None,
            })
        })
    }

    /// Whether this observation is about `domain` (an observation that names nothing is
    /// about every target it was given to).
    pub fn is_about(&self, domain: &str) -> bool {
        self.identifier.as_deref().is_none_or(|id| {
            let id = id.trim().trim_end_matches('.').trim_matches(['[', ']']);
            let id = id.strip_prefix("*.").unwrap_or(id);
            match (id.parse::<IpAddr>(), domain.parse::<IpAddr>()) {
                (Ok(a), Ok(b)) => a == b,
                _ => id.eq_ignore_ascii_case(domain),
            }
        })
    }

    /// A view of the CA's dial, for the outside check: the address and how the connect
    /// ended, when the CA's words say it (a dial failure, or an answer after connecting).
    pub fn dial_outcome(&self) -> Option<(IpAddr, crate::facts::ConnectOutcome)> {
        use crate::facts::ConnectOutcome;
        let address = self.address?;
        if self.verdict == Verdict::Valid {
            return Some((address, ConnectOutcome::Connected));
        }
        let outcome = match self.failure.as_ref()? {
            Failure::Dial(Dial::Timeout) => ConnectOutcome::Timeout,
            Failure::Dial(Dial::Refused) => ConnectOutcome::Refused,
            Failure::Dial(Dial::NetworkUnreachable) => ConnectOutcome::NetworkUnreachable,
            Failure::Dial(Dial::Unreachable) => ConnectOutcome::HostUnreachable,
            // It answered: the connect got through.
            Failure::Status(_) | Failure::WrongContent | Failure::AfterConnect => {
                ConnectOutcome::Connected
            }
            _ => return None,
        };
        Some((address, outcome))
    }
}

/// The observations of every piece of CA evidence of `target`, about its identifier.
pub fn of_target(target: &TargetFacts) -> Vec<Observation> {
    let domain = target.target.domain.ascii.as_str();
    let mut all = Vec::new();
    for evidence in target.ca.iter().take(words::MAX_PROBLEMS) {
        all.extend(of_evidence(evidence));
    }
    all.retain(|o| o.is_about(domain));
    all
}

/// One piece of evidence, read.
pub fn of_evidence(evidence: &CaEvidence) -> Vec<Observation> {
    let heard = match evidence.source {
        CaSource::Check => Heard::Check,
        CaSource::Pasted => Heard::Pasted,
        CaSource::ClientLog { .. } => Heard::Logged,
    };
    match &evidence.said {
        CaSaid::Words(text) => words::parse(text)
            .said
            .iter()
            .map(|s| of_said(heard, s))
            .collect(),
        CaSaid::Check(check) => match &check.outcome {
            CaCheckOutcome::Valid { records } => {
                let mut o = blank(heard, Format::ProblemJson, Verdict::Valid);
                from_records(&mut o, records);
                vec![o]
            }
            CaCheckOutcome::Invalid { problem, records } => {
                let mut list = Vec::new();
                of_problem(heard, problem, records, 0, &mut list);
                list
            }
            CaCheckOutcome::NotDone { stage, reason } => {
                let stage = serde_json::to_value(stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                vec![blank(
                    heard,
                    Format::ProblemJson,
                    Verdict::NotDone(crate::sanitize::line(&format!("{stage}: {reason}"), 1000)),
                )]
            }
        },
    }
}

fn blank(heard: Heard, format: Format, verdict: Verdict) -> Observation {
    Observation {
        heard,
        format,
        identifier: None,
        verdict,
        problem: None,
        type_urn: None,
        detail: String::new(),
        perspective: Perspective::Primary,
        address: None,
        url: None,
        port: None,
        redirect_hop: false,
        failure: None,
        rate_limit: None,
        status: None,
    }
}

/// The last validation record is the hop that decided (Boulder appends one per hop).
fn from_records(o: &mut Observation, records: &[ValidationRecord]) {
    let Some(last) = records.last() else {
        return;
    };
    if o.address.is_none() {
        o.address = last.address_used;
    }
    if o.url.is_none() {
        o.url = last.url.clone();
    }
    if o.port.is_none() {
        o.port = last.port.as_deref().and_then(|p| p.parse().ok());
    }
    if o.identifier.is_none() {
        o.identifier = records.first().and_then(|r| r.hostname.clone());
    }
    o.redirect_hop |= records.len() > 1;
}

fn of_problem(
    heard: Heard,
    problem: &AcmeProblem,
    records: &[ValidationRecord],
    depth: usize,
    out: &mut Vec<Observation>,
) {
    if depth > 2 || out.len() >= words::MAX_PROBLEMS {
        return;
    }
    if !problem.subproblems.is_empty() {
        for sub in problem.subproblems.iter().take(words::MAX_PROBLEMS) {
            of_problem(heard, sub, records, depth + 1, out);
        }
        return;
    }
    let said = Said {
        format: Format::ProblemJson,
        identifier: problem.identifier.clone(),
        kind: problem
            .type_urn
            .rsplit(':')
            .next()
            .map(str::to_string)
            .filter(|k| !k.is_empty()),
        detail: words::cap(&problem.detail, crate::facts::MAX_CA_TEXT).to_string(),
        status: problem.status,
        retry_after_s: problem.retry_after_s,
        self_check: false,
        text: String::new(),
    };
    let mut o = of_said(heard, &said);
    o.type_urn = Some(problem.type_urn.clone());
    from_records(&mut o, records);
    out.push(o);
}

/// One problem, as said, read.
pub fn of_said(heard: Heard, said: &Said) -> Observation {
    let verdict = if said.self_check {
        Verdict::SelfCheck
    } else {
        Verdict::Invalid
    };
    let mut o = blank(heard, said.format, verdict);
    o.identifier = said.identifier.clone();
    o.status = said.status;
    o.detail = said.detail.clone();
    if let Some(kind) = &said.kind {
        o.type_urn = Some(format!("{}{kind}", words::URN_PREFIX));
        o.problem = problem_type(kind);
    }
    // Old certbot and Boulder's WFE put a generic description before the detail
    // (`The server could not connect to the client … :: Fetching …`, `Error creating new
    // order :: too many …`): the detail proper is the last part. It is quoted whole.
    let proper = said.detail.rsplit(" :: ").next().unwrap_or(&said.detail);
    read_detail(&mut o, proper);
    if o.failure == Some(Failure::RateLimit) || o.problem == Some(ProblemType::RateLimited) {
        o.failure = Some(Failure::RateLimit);
        o.rate_limit = Some(rate_limit(&said.detail, said.retry_after_s));
    }
    o
}

/// The problem types acme-doctor reasons on, by short name.
fn problem_type(kind: &str) -> Option<ProblemType> {
    Some(match kind {
        "connection" => ProblemType::Connection,
        "dns" => ProblemType::Dns,
        "unauthorized" => ProblemType::Unauthorized,
        "caa" => ProblemType::Caa,
        "tls" => ProblemType::Tls,
        "malformed" => ProblemType::Malformed,
        "rejectedIdentifier" => ProblemType::RejectedIdentifier,
        "rateLimited" => ProblemType::RateLimited,
        "serverInternal" => ProblemType::ServerInternal,
        _ => return None,
    })
}

/// `<IP>: ` at the start: an address parse before the first `": "` (an IPv6 address has
/// colons, never a colon and a space).
fn leading_address(text: &str) -> Option<(IpAddr, &str)> {
    let (head, rest) = text.split_once(": ")?;
    let ip = head.trim().parse::<IpAddr>().ok()?;
    Some((ip, rest))
}

fn read_detail(o: &mut Observation, detail: &str) {
    let mut rest = detail.trim();
    if let Some(r) = rest.strip_prefix("During secondary validation:") {
        o.perspective = Perspective::Secondary;
        rest = r.trim_start();
    }
    let mut caa = false;
    if let Some(r) = rest.strip_prefix("While processing CAA for ") {
        caa = true;
        if let Some((id, after)) = r.split_once(": ") {
            if o.identifier.is_none() {
                o.identifier = Some(id.trim().to_string());
            }
            rest = after;
        }
    }
    if let Some((ip, after)) = leading_address(rest) {
        o.address = Some(ip);
        rest = after;
    }
    if let Some(r) = rest.strip_prefix("Fetching ")
        && let Some((url, after)) = r.split_once(": ")
    {
        set_url(o, url);
        rest = after;
    }
    if let Some(r) = rest.strip_prefix("Invalid response from ")
        && let Some((head, after)) = r.split_once(": ")
    {
        // Before 2022 the address came after the URL: `<url> [<ip>]`.
        let (url, legacy_ip) = match head.rsplit_once(" [") {
            Some((url, ip)) => (url, ip.trim_end_matches(']').parse().ok()),
            None => (head, None),
        };
        set_url(o, url);
        if o.address.is_none() {
            o.address = legacy_ip;
        }
        let after = after.trim();
        o.failure = Some(match after.parse::<u16>() {
            Ok(status) => Failure::Status(status),
            Err(_) => Failure::WrongContent,
        });
        return;
    }
    if let Some(failure) = pebble_words(o, rest) {
        o.failure = Some(failure);
        return;
    }
    o.failure = Some(core(rest, caa));
    if o.failure == Some(Failure::Other) && o.problem == Some(ProblemType::ServerInternal) {
        o.failure = Some(Failure::CaSide);
    }
}

/// Pebble's VA (the lab's CA, `--ca-check` against it) speaks Go's `net/http` errors, not
/// Boulder's mapping (`docs/ca-behaviour.md` §9.5): `Get "<url>": dial tcp <ip:port>:
/// connect: connection refused`, `… dial tcp [<ip>]:80: i/o timeout (Client.Timeout …)`,
/// `Get "<url>": context deadline exceeded (Client.Timeout exceeded while awaiting
/// headers)`, `Non-200 status code from HTTP: <url> returned 404`. Issue 19 item 1 (cacheck),
/// found by `tests/lab_cacheck.rs`.
fn pebble_words(o: &mut Observation, text: &str) -> Option<Failure> {
    if let Some(r) = text.strip_prefix("Non-200 status code from HTTP: ")
        && let Some((url, status)) = r.rsplit_once(" returned ")
    {
        set_url(o, url);
        return status.trim().parse().ok().map(Failure::Status);
    }
    let r = text.strip_prefix("Get \"")?;
    let (url, rest) = r.split_once("\": ")?;
    set_url(o, url);
    if let Some((_, dial)) = rest.split_once("dial tcp ")
        && let Some((addr, _)) = dial.split_once(": ")
        && let Ok(addr) = addr.parse::<std::net::SocketAddr>()
    {
        o.address = Some(addr.ip());
    }
    Some(if rest.contains("connection refused") {
        Failure::Dial(Dial::Refused)
    } else if rest.contains("network is unreachable") {
        Failure::Dial(Dial::NetworkUnreachable)
    } else if rest.contains("i/o timeout")
        || rest.contains("Client.Timeout exceeded while awaiting headers")
    {
        // No header came within Pebble's deadline: with nothing dialled past the connect
        // (no `read`/`write` in the words), the connect is what waited.
        Failure::Dial(Dial::Timeout)
    } else if rest.contains("connection reset by peer") {
        Failure::AfterConnect
    } else {
        Failure::Other
    })
}

fn set_url(o: &mut Observation, text: &str) {
    let text = text.trim().trim_matches('"');
    o.url = Some(crate::sanitize::line(text, 2000));
    if let Ok(url) = url::Url::parse(text) {
        o.port = url.port_or_known_default();
        if o.identifier.is_none() {
            o.identifier = url
                .host_str()
                .map(|h| h.trim_matches(['[', ']']).to_string());
        }
        // The CA's first fetch is `http://<identifier>:80/.well-known/acme-challenge/<token>`;
        // any other URL is a hop it was redirected to.
        let first = url.scheme() == "http"
            && url.port_or_known_default() == Some(super::HTTP01_PORT)
            && url.path().starts_with("/.well-known/acme-challenge/");
        o.redirect_hop |= !first;
    }
}

/// The core message, by Boulder's mapping (`docs/ca-behaviour.md` §2.8, §13.2).
fn core(text: &str, caa: bool) -> Failure {
    let t = text.trim();
    let has = |p: &str| t.contains(p);
    if has(CONNECT_TIMEOUT) || has("Timeout during connect") {
        Failure::Dial(Dial::Timeout)
    } else if has("Connection refused") {
        Failure::Dial(Dial::Refused)
    } else if has("Network unreachable") {
        Failure::Dial(Dial::NetworkUnreachable)
    } else if has(TIMEOUT_AFTER_CONNECT)
        || has("Timeout after connect")
        || has("Timeout during read")
        || has("Timeout during write")
        || has("Connection reset by peer")
    {
        Failure::AfterConnect
    } else if has(GETTING_DATA) {
        Failure::NoData
    } else if has("key authorization file from the server did not match") {
        Failure::WrongContent
    } else if has("redirect") || has("Too many redirects") || has("Redirect loop") {
        Failure::Redirect
    } else if has("prevents issuance") {
        let set_at = t
            .split_once("CAA record for ")
            .and_then(|(_, r)| r.split(' ').next())
            .map(str::to_string);
        Failure::Caa { set_at }
    } else if has("DNS problem:") || has("no valid A records") || has("no valid AAAA records") {
        dns_failure(t)
    } else if has("No TXT record found") || has("Incorrect TXT record") {
        Failure::Txt
    } else if has("tls-alpn-01")
        || has("remote error: tls:")
        || has("local error: tls:")
        || has("Server only speaks HTTP")
        || has("Unable to contact")
    {
        Failure::Tls
    } else if has("too many ") || has("rate limit") || has("is paused") {
        Failure::RateLimit
    } else if has("Cannot issue for") || has("Invalid identifiers") {
        Failure::Rejected
    } else if has("Secondary validation RPC")
        || has("Insufficient remote perspectives")
        || has("Could not communicate with VA")
        || has("problem is unavailable")
    {
        Failure::CaSide
    } else if caa {
        Failure::Caa { set_at: None }
    } else {
        Failure::Other
    }
}

/// `DNS problem: NXDOMAIN looking up A for x - …` or, with an EDE,
/// `DNS problem: looking up A for x: DNSSEC: Bogus` (`docs/ca-behaviour.md` §7).
fn dns_failure(text: &str) -> Failure {
    let body = text
        .split_once("DNS problem: ")
        .map_or(text, |(_, rest)| rest);
    let (head, tail) = body.split_once("looking up ").unwrap_or((body, ""));
    let rcode = Some(head.trim())
        .filter(|h| !h.is_empty())
        .map(|h| h.split(" - ").next().unwrap_or(h).trim().to_string());
    let mut parts = tail.splitn(3, ' ');
    let rtype = parts.next().filter(|s| !s.is_empty()).map(str::to_string);
    let _for = parts.next();
    let rest = parts.next().unwrap_or_default();
    let (name, ede) = match rest.split_once(": ") {
        Some((name, ede)) if rcode.is_none() => (name, Some(ede.trim().to_string())),
        _ => (rest.split([' ', ';']).next().unwrap_or_default(), None),
    };
    let name = Some(name.trim().to_string()).filter(|n| !n.is_empty());
    Failure::Dns {
        rtype,
        name,
        rcode,
        ede,
    }
}

/// Let's Encrypt's limits, by the words of their errors, with the anchor of their section on
/// <https://letsencrypt.org/docs/rate-limits/>.
const LIMITS: &[(&str, &str, &str)] = &[
    (
        "exact set",
        "New Certificates per Exact Set of Identifiers",
        "new-certificates-per-exact-set-of-identifiers",
    ),
    (
        "too many failed authorizations",
        "Authorization Failures per Identifier per Account",
        "authorization-failures-per-identifier-per-account",
    ),
    (
        "is paused",
        "Consecutive Authorization Failures per Identifier per Account",
        "consecutive-authorization-failures-per-identifier-per-account",
    ),
    (
        "too many new orders",
        "New Orders per Account",
        "new-orders-per-account",
    ),
    (
        "too many registrations",
        "New Registrations per IP Address",
        "new-registrations-per-ip-address",
    ),
    (
        "too many certificates",
        "New Certificates per Registered Domain",
        "new-certificates-per-registered-domain",
    ),
];

pub const RATE_LIMITS_DOC: &str = "https://letsencrypt.org/docs/rate-limits/";

fn rate_limit(detail: &str, retry_after_s: Option<u64>) -> RateLimit {
    let lower = detail.to_ascii_lowercase();
    let known = LIMITS.iter().find(|(words, _, _)| lower.contains(words));
    // The detail's own link names the limit best (`see https://…#anchor`).
    let own_url = detail.find("https://letsencrypt.org/docs/").map(|at| {
        detail[at..]
            .split(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == ')')
            .next()
            .unwrap_or_default()
            .trim_end_matches(['.', ':', ';'])
            .to_string()
    });
    let doc_url = match (own_url, known) {
        // A bare link to the rate limits page gains the limit's anchor.
        (Some(url), Some((_, _, anchor)))
            if url.trim_end_matches('/') == RATE_LIMITS_DOC.trim_end_matches('/') =>
        {
            format!("{RATE_LIMITS_DOC}#{anchor}")
        }
        (Some(url), _) => url,
        (None, Some((_, _, anchor))) => format!("{RATE_LIMITS_DOC}#{anchor}"),
        (None, None) => RATE_LIMITS_DOC.to_string(),
    };
    let retry_after = lower.find("retry after ").map(|at| {
        let text = &detail[at + "retry after ".len()..];
        text.split(':')
            .take(3)
            .collect::<Vec<_>>()
            .join(":")
            .trim()
            .to_string()
    });
    RateLimit {
        limit: known.map(|(_, name, _)| *name),
        doc_url: crate::sanitize::line(&doc_url, 300),
        retry_after: retry_after.map(|r| crate::sanitize::line(&r, 100)),
        retry_after_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Observation {
        let parsed = words::parse(text);
        assert_eq!(parsed.said.len(), 1, "{parsed:?}");
        of_said(Heard::Pasted, &parsed.said[0])
    }

    /// Pebble's Go wording, as `tests/lab_cacheck.rs` met it.
    #[test]
    fn pebbles_go_errors_are_read_with_their_address() {
        // As a --ca-check against Pebble keeps them: the problem's detail.
        let read = |text: &str| {
            let mut o = blank(Heard::Check, Format::ProblemJson, Verdict::Invalid);
            read_detail(&mut o, text);
            o
        };
        let o = read(
            "Get \"http://example.test:80/.well-known/acme-challenge/T\": dial tcp [2001:db8:2::10]:80: i/o timeout (Client.Timeout exceeded while awaiting headers)",
        );
        assert_eq!(o.failure, Some(Failure::Dial(Dial::Timeout)));
        assert_eq!(o.address, Some("2001:db8:2::10".parse().unwrap()));
        assert_eq!(o.port, Some(80));
        let o = read(
            "Get \"http://example.test:80/.well-known/acme-challenge/T\": dial tcp 203.0.113.80:80: connect: connection refused",
        );
        assert_eq!(o.failure, Some(Failure::Dial(Dial::Refused)));
        assert_eq!(o.address, Some("203.0.113.80".parse().unwrap()));
        let o = read(
            "Non-200 status code from HTTP: http://example.test:80/.well-known/acme-challenge/T returned 404",
        );
        assert_eq!(o.failure, Some(Failure::Status(404)));
    }

    #[test]
    fn an_ipv6_timeout_gives_address_family_url_and_port() {
        let o = read(
            "2001:db8::10: Fetching http://example.test/.well-known/acme-challenge/T: Timeout during connect (likely firewall problem)",
        );
        assert_eq!(o.address, Some("2001:db8::10".parse().unwrap()));
        assert_eq!(o.family(), Some(Family::Ipv6));
        assert_eq!(o.port, Some(80));
        assert!(!o.redirect_hop);
        assert_eq!(o.identifier.as_deref(), Some("example.test"));
        assert_eq!(o.failure, Some(Failure::Dial(Dial::Timeout)));
        assert_eq!(o.perspective, Perspective::Primary);
        assert_eq!(o.problem_or_inferred(), Some(ProblemType::Connection));
    }

    #[test]
    fn secondary_validation_and_a_redirect_hop_to_443() {
        let o = read(
            "During secondary validation: 192.0.2.10: Fetching https://example.test/.well-known/acme-challenge/T: Connection refused",
        );
        assert_eq!(o.perspective, Perspective::Secondary);
        assert_eq!(o.port, Some(443));
        assert!(o.redirect_hop);
        assert_eq!(o.failure, Some(Failure::Dial(Dial::Refused)));
    }

    #[test]
    fn a_404_and_the_legacy_address_after_the_url() {
        let o = read(
            "192.0.2.10: Invalid response from http://example.test/.well-known/acme-challenge/T: 404",
        );
        assert_eq!(o.failure, Some(Failure::Status(404)));
        assert_eq!(o.problem_or_inferred(), Some(ProblemType::Unauthorized));
        let o = read(
            "Invalid response from http://example.test/.well-known/acme-challenge/T [2001:db8::1]: 403",
        );
        assert_eq!(o.address, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(o.failure, Some(Failure::Status(403)));
    }

    #[test]
    fn dns_rcode_and_ede() {
        let o = read(
            "DNS problem: SERVFAIL looking up CAA for example.test - the domain's nameservers may be malfunctioning",
        );
        assert_eq!(
            o.failure,
            Some(Failure::Dns {
                rtype: Some("CAA".into()),
                name: Some("example.test".into()),
                rcode: Some("SERVFAIL".into()),
                ede: None
            })
        );
        let o = read("DNS problem: looking up TXT for _acme-challenge.example.test: DNSSEC: Bogus");
        assert_eq!(
            o.failure,
            Some(Failure::Dns {
                rtype: Some("TXT".into()),
                name: Some("_acme-challenge.example.test".into()),
                rcode: None,
                ede: Some("DNSSEC: Bogus".into())
            })
        );
    }

    #[test]
    fn caa_names_the_identifier_and_where_the_set_is() {
        let o = read(
            "urn:ietf:params:acme:error:caa :: While processing CAA for www.example.test: CAA record for example.test prevents issuance",
        );
        assert_eq!(o.identifier.as_deref(), Some("www.example.test"));
        assert_eq!(
            o.failure,
            Some(Failure::Caa {
                set_at: Some("example.test".into())
            })
        );
        assert_eq!(o.problem, Some(ProblemType::Caa));
    }

    /// Boulder's current wording (acme-client pull request #260) and an old one (acmesh
    /// issue #4522).
    #[test]
    fn rate_limits_name_the_limit_the_retry_time_and_the_doc() {
        let o = read(
            "urn:ietf:params:acme:error:rateLimited :: too many certificates (2) already issued for this exact set of identifiers in the last 3h0m0s, retry after 2025-11-27 05:06:44 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers",
        );
        let limit = o.rate_limit.expect("a rate limit");
        assert_eq!(
            limit.limit,
            Some("New Certificates per Exact Set of Identifiers")
        );
        assert_eq!(
            limit.retry_after.as_deref(),
            Some("2025-11-27 05:06:44 UTC")
        );
        assert_eq!(
            limit.doc_url,
            "https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers"
        );
        let o = read(
            "{\"type\": \"urn:ietf:params:acme:error:rateLimited\", \"detail\": \"Error creating new order :: too many failed authorizations recently: see https://letsencrypt.org/docs/rate-limits/\", \"status\": 429}",
        );
        let limit = o.rate_limit.expect("a rate limit");
        assert_eq!(o.status, Some(429));
        assert_eq!(
            limit.doc_url,
            "https://letsencrypt.org/docs/rate-limits/#authorization-failures-per-identifier-per-account"
        );
        assert_eq!(limit.retry_after, None);
    }

    /// Old certbot's `urn … :: <generic description> :: <detail>` (docs/ca-behaviour.md §0.6).
    #[test]
    fn a_generic_description_before_the_detail_is_skipped() {
        let o = read(
            "urn:ietf:params:acme:error:connection :: The server could not connect to the client to verify the domain :: 2001:db8::1: Fetching http://example.test/.well-known/acme-challenge/T: Timeout during connect (likely firewall problem)",
        );
        assert_eq!(o.address, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(o.port, Some(80));
        assert!(o.detail.starts_with("The server could not connect"));
    }

    #[test]
    fn ca_side_trouble_is_the_cas() {
        let o = read(
            "Domain: example.test\nType:   serverInternal\nDetail: During secondary validation: Secondary validation RPC failed",
        );
        assert_eq!(o.failure, Some(Failure::CaSide));
        assert_eq!(o.perspective, Perspective::Secondary);
    }

    #[test]
    fn an_observation_is_about_its_own_identifier_only() {
        let o = read("Domain: a.example.test\nType: connection\nDetail: Connection refused");
        assert!(o.is_about("a.example.test"));
        assert!(o.is_about("A.Example.Test"));
        assert!(!o.is_about("b.example.test"));
        let o = read("Connection refused");
        assert!(o.is_about("anything.test"));
    }
}
