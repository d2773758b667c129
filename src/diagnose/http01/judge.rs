//! How the CA judges one HTTP answer, apart from any check: the problem it finds in an
//! answer (`docs/ca-behaviour.md` §2.5 redirects, §2.7 response checks), whether an answer
//! may pass, and the CA's words for it. Read by the answer check, by the web-server check
//! that names an answer's cause, and by `Context` to know which addresses may serve; it
//! reads no `Context` itself, so none of them depends on another through it.

use crate::diagnose::Code;
use crate::diagnose::Severity;
use crate::diagnose::ca::{self, CaError, ProblemType};
use crate::facts::{Answered, HopOutcome, HttpFact, HttpOutcome, TokenFacts};
use crate::keyauth::{self, Compared, Flaw};
use crate::redirect;
use std::net::IpAddr;

/// How the CA's detail is prefixed (`docs/ca-behaviour.md` §0.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Prefix {
    /// `<ip>: Fetching <url>: `: errors inside the HTTP client (connection, redirect policy).
    Fetching,
    /// `<ip>: `: errors about an answer (status, size).
    Ip,
    /// None: the key authorization mismatch.
    Bare,
}

/// One kind of wrong answer, with Boulder's words for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    pub(super) code: Code,
    /// A blocker everywhere it is seen, or a warning (a catch-all 200).
    pub(super) severity: Severity,
    pub(super) what: String,
    /// The core of the CA's message, and its problem type.
    pub(super) ca_core: String,
    pub(super) ca_problem: ProblemType,
    pub(super) prefix: Prefix,
    /// The URL the CA names in "Fetching …" when it is not the challenge URL: a redirect target.
    pub(super) fetching: Option<String>,
    /// The whole of the CA's error, when the walk already composed it.
    pub(super) ca_whole: Option<(ProblemType, String)>,
}

impl Problem {
    pub(super) fn new(code: Code, severity: Severity, what: String, ca_core: String) -> Problem {
        let (ca_problem, prefix) = match code {
            Code::ChallengeStatus | Code::ChallengeNotServed => {
                (ProblemType::Unauthorized, Prefix::Ip)
            }
            Code::ChallengeWrongContent => (ProblemType::Unauthorized, Prefix::Bare),
            _ => (ProblemType::Connection, Prefix::Fetching),
        };
        Problem {
            code,
            severity,
            what,
            ca_core,
            ca_problem,
            prefix,
            fetching: None,
            ca_whole: None,
        }
    }
}

/// What the answers are judged against.
#[derive(Clone, Copy)]
pub struct Judge<'a> {
    pub allow_reserved: bool,
    /// The real token, when its content is known.
    pub token: Option<&'a TokenFacts>,
}

fn redirect_problem(url: &str, status: u16, location: &str, judge: Judge) -> Option<Problem> {
    let base = url::Url::parse(url).ok()?;
    let refusal = redirect::judge(
        status,
        &base,
        location,
        0,
        &[url.to_string()],
        judge.allow_reserved,
    )
    .err()?;
    let mut p = Problem::new(
        Code::BadRedirect,
        Severity::Blocker,
        format!("redirects ({status}) to {location}, which the CA refuses to follow"),
        refusal.core(),
    );
    p.fetching = Some(
        base.join(location.trim())
            .map_or_else(|_| location.to_string(), |u| u.to_string()),
    );
    Some(p)
}

/// Whether the CA could accept this answer: no problem, or only a warning (a catch-all 200
/// may still serve the real token). Used by `Context::family_serves`.
pub fn may_pass(fact: &HttpFact, judge: Judge) -> bool {
    problem(fact, judge).is_none_or(|p| p.severity != Severity::Blocker)
}

/// What the CA would report for this answer when it fails the validation, in the words the
/// finding for it uses: for a check that names the cause of that answer. `url_host` is the
/// host as the CA's URL spells it (`Context::url_host`).
pub fn ca_error(fact: &HttpFact, judge: Judge, url_host: &str) -> Option<CaError> {
    let p = problem(fact, judge).filter(|p| p.severity == Severity::Blocker)?;
    let challenge = match judge.token {
        Some(_) => fact.url.clone(),
        None => ca::challenge_url(url_host),
    };
    Some(problem_error(&p, &fact.address, challenge))
}

pub(super) fn problem(fact: &HttpFact, judge: Judge) -> Option<Problem> {
    let url = &fact.url;
    let no_response = |what: &str, core: &str| {
        Some(Problem::new(
            Code::HttpNoResponse,
            Severity::Blocker,
            what.to_string(),
            core.to_string(),
        ))
    };
    let verified = judge.token.is_some();
    match &fact.outcome {
        HttpOutcome::Response { status: 404, .. } if !verified => None,
        // The content of a 200 for the real token is judged from the answers.
        HttpOutcome::Response { status: 200, .. } if verified => None,
        HttpOutcome::Response {
            status: 200,
            body_bytes,
            body_prefix,
            ..
        } => Some(Problem::new(
            Code::ChallengeStatus,
            Severity::Warning,
            format!(
                "answers 200 ({body_bytes} bytes) for a challenge file that does not exist: something else answers the challenge path (body starts {:?})",
                body_prefix.chars().take(60).collect::<String>()
            ),
            ca::invalid_body(url, body_prefix),
        )),
        HttpOutcome::Response {
            status: status @ (301 | 302 | 303 | 307 | 308),
            location: Some(location),
            ..
        } => redirect_problem(url, *status, location, judge),
        HttpOutcome::Response { status, .. } if verified => Some(Problem::new(
            Code::ChallengeNotServed,
            Severity::Blocker,
            format!("answers {status} for the real challenge file"),
            ca::invalid_status(url, *status),
        )),
        HttpOutcome::Response { status, .. } => Some(Problem::new(
            Code::ChallengeStatus,
            Severity::Blocker,
            format!("answers {status} on the challenge path"),
            ca::invalid_status(url, *status),
        )),
        HttpOutcome::Timeout => no_response(
            "accepts the connection but sends no HTTP response in time",
            ca::TIMEOUT_AFTER_CONNECT,
        ),
        HttpOutcome::Reset => no_response(
            "resets the connection instead of answering",
            ca::CONNECTION_RESET,
        ),
        // Go's client reads EOF: Boulder's catch-all (`docs/ca-behaviour.md` §2.8, row 11).
        HttpOutcome::Closed => no_response(
            "closes the connection after the request without answering (as nginx's `return 444` does)",
            ca::GETTING_DATA,
        ),
        // acme-doctor's own client could not read what the server sent; the CA's could.
        // Out of file descriptors here: the request was never made.
        HttpOutcome::Unread {
            limit_bytes: 0,
            message,
        } => Some(Problem::new(
            Code::ChallengeStatus,
            Severity::Info,
            format!("could not be asked: {message}; nothing was learnt of the server"),
            String::new(),
        )),
        HttpOutcome::Unread {
            limit_bytes,
            message,
        } => Some(Problem::new(
            Code::ChallengeStatus,
            Severity::Info,
            format!(
                "sent a response head larger than acme-doctor reads ({limit_bytes} bytes; the CA reads up to {} bytes), so its answer was not judged ({message})",
                ca::MAX_RESPONSE_HEADER_BYTES
            ),
            String::new(),
        )),
        HttpOutcome::Error { message } => no_response(
            &format!("gives no usable HTTP response ({message})"),
            ca::GETTING_DATA,
        ),
    }
}

/// The real token answered 200 on this address: its body as the CA compares it.
pub(super) fn content_problem(a: &Answered, url: &str, token: &TokenFacts) -> Option<Problem> {
    let head = a.body_head();
    let compared = if a.body_bytes >= keyauth::LIMIT as u64 {
        Compared::TooLarge
    } else {
        keyauth::compare(&token.expected, &head)
    };
    match compared {
        Compared::Match => None,
        Compared::TooLarge => {
            let mut p = Problem::new(
                Code::ChallengeWrongContent,
                Severity::Blocker,
                format!(
                    "serves {} bytes for the challenge file; the CA accepts at most 127 (an HTML page, not the file)",
                    a.body_bytes
                ),
                String::new(),
            );
            let ca = ca::body_too_large(&"0.0.0.0".parse().ok()?, url, &head);
            p.ca_problem = ca.problem;
            p.prefix = Prefix::Ip;
            // The core after `<ip>: `.
            p.ca_core = ca.detail.split_once(": ").map(|x| x.1.to_string())?;
            Some(p)
        }
        Compared::Mismatch { got, flaw } => {
            let ca = ca::key_authorization_mismatch(&token.expected, &got);
            Some(Problem::new(
                Code::ChallengeWrongContent,
                Severity::Blocker,
                format!(
                    "serves the challenge file with the wrong content: {}",
                    flaw_text(flaw)
                ),
                ca.detail,
            ))
        }
    }
}

pub(super) fn flaw_text(flaw: Flaw) -> &'static str {
    match flaw {
        Flaw::Bom => "it starts with a byte-order mark (U+FEFF), which the CA does not strip",
        Flaw::LeadingWhitespace => {
            "whitespace before the value; the CA trims only trailing whitespace"
        }
        Flaw::HtmlWrapper => "the value is wrapped in HTML",
        Flaw::Truncated => "the value is cut short",
        Flaw::ExtraContent => "the value has more around it",
        Flaw::Other => "another value (a stale token, or another client's file)",
    }
}

/// The CA's error for a blocking answer at `ip`, with the prefix Boulder gives that kind.
pub(super) fn problem_error(p: &Problem, ip: &IpAddr, challenge: String) -> CaError {
    if let Some((problem, detail)) = &p.ca_whole {
        return CaError {
            problem: *problem,
            detail: detail.clone(),
        };
    }
    match p.prefix {
        Prefix::Fetching => {
            let url = p.fetching.clone().unwrap_or(challenge);
            ca::fetching(p.ca_problem, ip, &url, &p.ca_core)
        }
        Prefix::Ip => CaError {
            problem: p.ca_problem,
            detail: format!("{ip}: {}", p.ca_core),
        },
        Prefix::Bare => CaError {
            problem: p.ca_problem,
            detail: p.ca_core.clone(),
        },
    }
}

/// Whether the CA would fail on what this address answered for the token: anything but a
/// 200 with the key authorization for the real token, anything but 200 or 404 for a random
/// one, and no answer at all.
pub fn token_fails(token: &HopOutcome, expected: Option<&TokenFacts>) -> bool {
    match (token, expected) {
        (HopOutcome::Answer(a), Some(t)) => {
            a.status != 200
                || a.body_bytes >= keyauth::LIMIT as u64
                || keyauth::compare(&t.expected, &a.body_head()) != Compared::Match
        }
        (HopOutcome::Answer(a), None) => !matches!(a.status, 200 | 404),
        _ => true,
    }
}
