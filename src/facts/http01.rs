//! HTTP-01's own facts: the challenge GETs, the CA's walk, what each address answers.

use super::{ConnectOutcome, DnsOutcome, Family};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What the CA's HTTP-01 fetch meets beyond the connects (the target's): the challenge GET,
/// the CA's walk, what each address answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http01Facts {
    /// The challenge GET per address on port 80: for the real token when there is one
    /// ([`Http01Facts::token`]), else for a random one (then a 404 is the healthy answer).
    #[serde(default)]
    pub http: Vec<HttpFact>,
    /// `GET /` per address on port 80, taken when an outside view is compared with this one
    /// (which site answers: another server behind a NAT shows another `/`).
    #[serde(default)]
    pub root: Vec<HttpFact>,
    /// `--webroot`, as given: the directory the ACME client writes challenge files under.
    #[serde(default)]
    pub webroot: Option<String>,
    /// The real token fetched (written under the webroot, or given with `--expect-body`).
    #[serde(default)]
    pub token: Option<TokenFacts>,
    /// One validation walked as the CA walks it: IPv6 first, IPv4 after a dial error,
    /// redirects followed by the CA's rules (`docs/ca-behaviour.md` §2.2, §2.5).
    #[serde(default)]
    pub ca_path: Option<CaPath>,
    /// Per address, what the token URL and `/` answer (no redirect followed): every address
    /// should give the same answer.
    #[serde(default)]
    pub answers: Vec<AddressAnswers>,
    /// The challenge GET per address again, with acme-doctor's own User-Agent (`http` sends
    /// the CA's): taken on the host only, so that a filter by User-Agent shows as a
    /// difference between the two (issue 20 item 1). Empty in files from before it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_agent: Vec<HttpFact>,
}

/// The token whose content is known, so the answer can be compared as the CA compares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFacts {
    /// Where it came from: `webroot` (a file acme-doctor wrote and removed) or `expect-body`.
    pub source: TokenSource,
    /// The last segment of the challenge URL.
    pub token: String,
    /// The body the server must serve (the key authorization).
    pub expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenSource {
    Webroot,
    ExpectBody,
}

/// The CA's walk: one attempt per candidate address (the first AAAA, then the first A after a
/// dial error), each a chain of hops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaPath {
    /// The URL the CA starts from.
    pub url: String,
    pub attempts: Vec<PathAttempt>,
    /// The whole walk, as the CA would spend it (dial timeouts included).
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathAttempt {
    pub hops: Vec<PathHop>,
}

/// One request of the walk, or the redirect the CA refused to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathHop {
    pub url: String,
    /// The address dialled; `None` when none was (a refused redirect, a failed lookup).
    pub address: Option<IpAddr>,
    pub family: Option<Family>,
    pub port: u16,
    pub outcome: HopOutcome,
    pub elapsed_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HopOutcome {
    /// The TCP connect failed: a dial error, after which the CA falls back to IPv4.
    Dial {
        connect: ConnectOutcome,
    },
    /// An answer, with what the CA reads of it.
    Answer(Box<Answered>),
    /// The redirect to this URL is one the CA refuses (`docs/ca-behaviour.md` §2.5).
    Refused {
        refusal: crate::redirect::Refusal,
    },
    /// The redirect host has no usable address: each family's DNS outcome.
    NoAddress {
        a: DnsOutcome,
        aaaa: DnsOutcome,
    },
    /// TLS failed on an HTTPS hop: the fatal alert the server sent, when it sent one.
    Tls {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alert: Option<u8>,
    },
    /// A plain-HTTP answer on an HTTPS hop.
    HttpOnTlsPort,
    /// Connected, then no response in time.
    Timeout,
    Reset,
    /// Connected, sent the request, and the server closed the connection without a
    /// response (see [`HttpOutcome::Closed`]).
    Closed,
    Error {
        message: String,
    },
    /// The request never reached the server: acme-doctor ran out of its own resources (local
    /// ports, file descriptors). Nothing was learnt about the server.
    OwnLimit {
        message: String,
    },
    /// The probe in use does not fetch (a scripted probe): nothing was asked of the server.
    NotProbed,
}

/// A response as the facts keep it: enough to compare bodies and recognise who answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answered {
    pub status: u16,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// `WWW-Authenticate`, sanitised (a router's or an auth realm).
    #[serde(default)]
    pub www_authenticate: Option<String>,
    /// Response header names that identify a proxy or WAF (`cf-ray`, `x-sucuri-id`, ...).
    #[serde(default)]
    pub marks: Vec<String>,
    /// The HTML `<title>`, sanitised, when there is one.
    #[serde(default)]
    pub title: Option<String>,
    /// The first bytes of the body (at most the CA's 128), hex: compared as the CA compares.
    #[serde(default)]
    pub body_head_hex: String,
    /// The first bytes of the body, escaped, for evidence.
    #[serde(default)]
    pub body_prefix: String,
    /// Bytes read (capped by acme-doctor; the CA needs under 128).
    pub body_bytes: u64,
    /// SHA-256 of the bytes read, hex: to tell whether two addresses serve the same thing.
    #[serde(default)]
    pub body_sha256: String,
}

impl Answered {
    /// The answer as the per-perspective comparison reads it, from a plain GET's response
    /// (which keeps no `WWW-Authenticate` and a shorter body excerpt).
    pub fn of_response(outcome: &HttpOutcome) -> Option<Answered> {
        match outcome {
            HttpOutcome::Response {
                status,
                server,
                location,
                body_prefix,
                body_bytes,
                page,
                ..
            } => Some(Answered {
                status: *status,
                server: server.clone(),
                location: location.clone(),
                www_authenticate: None,
                marks: page.marks.clone(),
                title: page.title.clone(),
                body_head_hex: String::new(),
                body_prefix: body_prefix.clone(),
                body_bytes: *body_bytes,
                body_sha256: page.body_sha256.clone(),
            }),
            _ => None,
        }
    }
}

impl Answered {
    /// The first body bytes kept.
    pub fn body_head(&self) -> Vec<u8> {
        (0..self.body_head_hex.len() / 2)
            .filter_map(|i| u8::from_str_radix(self.body_head_hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect()
    }
}

/// What one address answers for the token URL and for `/`, each without following redirects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressAnswers {
    pub address: IpAddr,
    pub token: HopOutcome,
    pub root: HopOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFact {
    pub address: IpAddr,
    pub port: u16,
    pub url: String,
    pub outcome: HttpOutcome,
    pub elapsed_ms: u64,
    /// Whose User-Agent the request sent. Missing in files from before issue 20, whose
    /// challenge GETs all sent acme-doctor's own.
    #[serde(default)]
    pub agent: Agent,
}

/// The User-Agent a GET sent: the CA's (`probe::http::CA_USER_AGENT`, with the CA's
/// request shape) or acme-doctor's own (`probe::http::USER_AGENT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    #[default]
    Own,
    Ca,
}

impl Agent {
    /// For evidence: which User-Agent.
    pub fn label(self) -> &'static str {
        match self {
            Agent::Own => "acme-doctor's own User-Agent",
            Agent::Ca => "the CA's User-Agent",
        }
    }
}

/// What identifies the page of a response beyond its status: its title, the marker headers
/// of a proxy or WAF, and the hash of the body bytes read. Empty in files from before issue 20.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body_sha256: String,
}

impl Page {
    pub fn is_empty(&self) -> bool {
        self == &Page::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HttpOutcome {
    Response {
        status: u16,
        /// `Server` header, sanitised and capped.
        server: Option<String>,
        /// `Location` header of a redirect, sanitised and capped.
        location: Option<String>,
        /// The first bytes of the body (lossy UTF-8, sanitised), for evidence.
        body_prefix: String,
        /// Bytes read before the cap.
        body_bytes: u64,
        body_truncated: bool,
        /// Title, marker headers and body hash, to compare perspectives by.
        #[serde(default, skip_serializing_if = "Page::is_empty")]
        page: Page,
    },
    Timeout,
    Reset,
    /// The server closed the connection after the request without sending a response
    /// (nginx's `return 444`, a filter that hangs up): not a timeout, not a reset. Asked
    /// again on a fresh connection before it is recorded, so a kept connection's ordinary
    /// end is not it. Boulder reads it as `EOF`: "Error getting validation data".
    Closed,
    Error {
        message: String,
    },
    /// The server answered, but beyond a limit of acme-doctor's own HTTP client that the
    /// CA's client does not share (a response head over `limit_bytes`): not judged, never
    /// the server's fault. `limit_bytes` 0: the request could not be made at all, acme-doctor
    /// being out of file descriptors.
    Unread {
        limit_bytes: u64,
        message: String,
    },
}
