//! The challenge answer: what the GET on port 80 answered, read the way Boulder reads the
//! response (`docs/ca-behaviour.md` §2.5 redirects, §2.7 response checks). The token
//! acme-doctor asks for does not exist, so 404 is the healthy answer.
//!
//! Codes: `challenge-status`, `bad-redirect`, `http-no-response`.

use crate::diagnose::ca::{self, ProblemType, RedirectRefusal};
use crate::diagnose::registry::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{Family, HttpFact, HttpOutcome, Method};
use std::collections::HashMap;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "challenge-answer",
    codes: &[
        Code::ChallengeStatus,
        Code::BadRedirect,
        Code::HttpNoResponse,
    ],
    methods: &[Method::Http01],
    run: |cx, out| run_check(&Answer, cx, out),
};

pub struct Answer;

/// One wrong answer on some addresses of a family.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub family: Family,
    pub problem: Problem,
    pub hits: Vec<HttpFact>,
    /// Some other address of the family may serve the CA (see `Context::family_serves`):
    /// only then is a blocking answer on these addresses a warning.
    pub others_serve: bool,
}

/// One kind of wrong answer, with Boulder's words for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    code: Code,
    /// A blocker everywhere it is seen, or a warning (a catch-all 200).
    severity: Severity,
    what: String,
    /// The core of the CA's message, and its problem type.
    ca_core: String,
    ca_problem: ProblemType,
    /// The URL the CA names in "Fetching …" when it is not the challenge URL: a redirect target.
    fetching: Option<String>,
}

impl Problem {
    fn new(code: Code, severity: Severity, what: String, ca_core: String) -> Problem {
        let ca_problem = match code {
            Code::ChallengeStatus => ProblemType::Unauthorized,
            _ => ProblemType::Connection,
        };
        Problem {
            code,
            severity,
            what,
            ca_core,
            ca_problem,
            fetching: None,
        }
    }
}

fn redirect_problem(url: &str, status: u16, location: &str) -> Option<Problem> {
    let target = url::Url::parse(url).and_then(|base| base.join(location));
    let bad = |refusal: RedirectRefusal| {
        let mut p = Problem::new(
            Code::BadRedirect,
            Severity::Blocker,
            format!("redirects ({status}) to {location}, which the CA refuses to follow"),
            refusal.core(),
        );
        p.fetching = target.as_ref().ok().map(|u| u.to_string());
        Some(p)
    };
    if status == 303 {
        return bad(RedirectRefusal::Status303);
    }
    let Ok(target) = &target else {
        return bad(RedirectRefusal::EmptyHost);
    };
    let scheme = target.scheme();
    if scheme != "http" && scheme != "https" {
        return bad(RedirectRefusal::Scheme(scheme.to_string()));
    }
    if let Some(port) = target.port().filter(|p| *p != 80 && *p != 443) {
        return bad(RedirectRefusal::Port(port));
    }
    match target.host_str() {
        None | Some("") => bad(RedirectRefusal::EmptyHost),
        Some(host) if host.ends_with(".well-known") => {
            bad(RedirectRefusal::MissingSlash(host.to_string()))
        }
        Some(_) => None,
    }
}

/// Whether the CA could accept this answer: no problem, or only a warning (a catch-all 200
/// may still serve the real token). Used by `Context::family_serves`.
pub fn may_pass(fact: &HttpFact) -> bool {
    problem(fact).is_none_or(|p| p.severity != Severity::Blocker)
}

/// What the CA would report for this answer when it fails the validation, in the words the
/// finding for it uses: for a check that names the cause of that answer.
pub fn ca_error(domain: &str, fact: &HttpFact) -> Option<ca::CaError> {
    let p = problem(fact).filter(|p| p.severity == Severity::Blocker)?;
    let url = p
        .fetching
        .clone()
        .unwrap_or_else(|| ca::challenge_url(domain));
    Some(ca::fetching(p.ca_problem, &fact.address, &url, &p.ca_core))
}

fn problem(fact: &HttpFact) -> Option<Problem> {
    let url = &fact.url;
    let no_response = |what: &str, core: &str| {
        Some(Problem::new(
            Code::HttpNoResponse,
            Severity::Blocker,
            what.to_string(),
            core.to_string(),
        ))
    };
    match &fact.outcome {
        HttpOutcome::Response { status: 404, .. } => None,
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
        } => redirect_problem(url, *status, location),
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

impl Check for Answer {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let port = cx.dial_port();
        let mut found = Vec::new();
        for family in [Family::Ipv4, Family::Ipv6] {
            // One pass: each answer is judged once and grouped by its problem, in the order
            // first seen, so thousands of distinct answers stay linear.
            let mut index: HashMap<Problem, usize> = HashMap::new();
            let mut groups: Vec<(Problem, Vec<HttpFact>)> = Vec::new();
            for fact in cx
                .usable(family)
                .iter()
                .filter_map(|ip| cx.http(ip))
                .filter(|h| h.port == port)
            {
                let Some(p) = problem(fact) else { continue };
                match index.get(&p) {
                    Some(&i) => groups[i].1.push(fact.clone()),
                    None => {
                        index.insert(p.clone(), groups.len());
                        groups.push((p, vec![fact.clone()]));
                    }
                }
            }
            let others_serve = cx.family_serves(family, port);
            for (problem, hits) in groups {
                found.push(Found {
                    family,
                    problem,
                    hits,
                    others_serve,
                });
            }
        }
        found
    }

    fn incomplete(&self, _cx: &Context, found: &Found) -> Option<String> {
        (found.problem.severity == Severity::Info).then(|| {
            "a challenge answer could not be read within acme-doctor's own limits".to_string()
        })
    }

    /// A blocking answer is a warning only while another address of the family may serve
    /// the CA (its resolver may return that one first). When every address fails, each in
    /// its own way, the family fails.
    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let p = &found.problem;
        let severity = if found.others_serve {
            Severity::Warning.max(p.severity)
        } else {
            p.severity
        };
        finding(cx, found.family, p, severity, &found.hits)
    }
}

fn finding(
    cx: &Context,
    family: Family,
    p: &Problem,
    severity: Severity,
    hits: &[HttpFact],
) -> Finding {
    let addrs: Vec<IpAddr> = hits.iter().map(|h| h.address).collect();
    let list = addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let no_fallback = if family == Family::Ipv6 {
        " The connection over IPv6 succeeded, so the CA does not fall back to IPv4: this answer decides."
    } else {
        ""
    };
    let mut f = Finding::new(
        p.code,
        severity,
        format!("{} {list} {}", family.record_type(), p.what),
    )
    .family(family)
    .port(cx.dial_port())
    .detail(format!(
        "The CA fetches {} and needs a 200 with the key authorization.{no_fallback}",
        ca::challenge_url(cx.domain)
    ));
    for h in hits {
        let line = match &h.outcome {
            HttpOutcome::Response {
                status,
                server,
                location,
                ..
            } => format!(
                "GET {} via {}: {status}{}{}",
                h.url,
                h.address,
                server
                    .as_ref()
                    .map(|s| format!(", Server: {s}"))
                    .unwrap_or_default(),
                location
                    .as_ref()
                    .map(|l| format!(", Location: {l}"))
                    .unwrap_or_default()
            ),
            other => format!("GET {} via {}: {other:?}", h.url, h.address),
        };
        f = f.evidence(line);
    }
    f = match p.code {
        _ if p.severity == Severity::Info => f.fix(format!(
            "look at the response by hand: curl -sv --resolve {}:80:ADDR http://{}/.well-known/acme-challenge/test -o /dev/null",
            cx.domain, cx.domain
        )),
        Code::BadRedirect => f
            .fix("redirect to https://$host$request_uri (port 443), or exempt /.well-known/acme-challenge/ from the redirect")
            .fix("nginx: location ^~ /.well-known/acme-challenge/ { root /var/www/letsencrypt; } before the redirect"),
        Code::HttpNoResponse => f
            .fix("look for what cuts the connection: nginx `return 444`, fail2ban/IPS, a proxy's upstream timeout (curl -v --resolve DOMAIN:80:ADDR http://DOMAIN/.well-known/acme-challenge/test)"),
        _ => f
            .fix("serve the challenge directory before any auth, rewrite or catch-all: nginx location ^~ /.well-known/acme-challenge/ { root /var/www/letsencrypt; allow all; }")
            .fix("point the ACME client's webroot at the directory that vhost serves (certbot certonly --webroot -w DIR)"),
    };
    if severity == Severity::Blocker {
        let url = p
            .fetching
            .clone()
            .unwrap_or_else(|| ca::challenge_url(cx.domain));
        f = f.ca(ca::fetching(p.ca_problem, &addrs[0], &url, &p.ca_core));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, location: Option<&str>) -> HttpFact {
        HttpFact {
            address: "192.0.2.10".parse().unwrap(),
            port: 80,
            url: "http://example.test/.well-known/acme-challenge/T".into(),
            outcome: HttpOutcome::Response {
                status,
                server: None,
                location: location.map(str::to_string),
                body_prefix: String::new(),
                body_bytes: 0,
                body_truncated: false,
            },
            elapsed_ms: 1,
        }
    }

    #[test]
    fn redirects_follow_boulders_rules() {
        let code = |status, loc| problem(&response(status, Some(loc))).map(|p| p.ca_core);
        assert_eq!(
            code(301, "https://example.test/.well-known/acme-challenge/T"),
            None
        );
        assert_eq!(code(302, "/elsewhere"), None);
        assert_eq!(
            code(303, "https://example.test/"),
            Some("received disallowed redirect status code".into())
        );
        assert_eq!(
            code(301, "http://example.test:8080/x"),
            Some(
                "Invalid port in redirect target. Only ports 80 and 443 are supported, not 8080"
                    .into()
            )
        );
        assert!(
            code(301, "ftp://example.test/x")
                .unwrap()
                .contains("not \"ftp\"")
        );
        assert!(
            code(301, "https://example.test.well-known/acme-challenge/T")
                .unwrap()
                .contains("missing '/'")
        );
    }

    #[test]
    fn a_wrong_answer_everywhere_blocks_and_somewhere_warns() {
        let s = crate::diagnose::testkit::Scenario::dual_stack()
            .a(&["192.0.2.10", "192.0.2.11"])
            .http("192.0.2.10", 403, None)
            .http("192.0.2.11", 404, None);
        let found = Answer.detect(&s.context());
        assert_eq!(found.len(), 1);
        assert!(found[0].others_serve);
        assert_eq!(
            Answer.word(&s.context(), &found[0]).severity,
            Severity::Warning
        );
        let s = s.http("192.0.2.11", 403, None);
        let found = Answer.detect(&s.context());
        let f = Answer.word(&s.context(), &found[0]);
        assert_eq!(f.severity, Severity::Blocker);
        assert_eq!(f.ca_problem, Some(ProblemType::Unauthorized));
        assert!(f.ca_error.unwrap().ends_with(": 403"));
    }

    #[test]
    fn our_own_parser_limit_is_never_the_servers_fault() {
        let s = crate::diagnose::testkit::Scenario::ipv4_only().http_outcome(
            "192.0.2.10",
            HttpOutcome::Unread {
                limit_bytes: 417_792,
                message: "message head is too large".into(),
            },
        );
        let cx = s.context();
        let found = Answer.detect(&cx);
        let f = Answer.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Info);
        assert_ne!(f.code, Code::HttpNoResponse);
        assert!(f.ca_error.is_none());
        assert!(Answer.incomplete(&cx, &found[0]).is_some());
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_ne!(d.verdict, crate::diagnose::Verdict::Fail);
        assert!(d.incomplete);
    }

    #[test]
    fn a_request_we_had_no_descriptor_for_is_never_the_servers_fault() {
        let s = crate::diagnose::testkit::Scenario::ipv4_only().http_outcome(
            "192.0.2.10",
            HttpOutcome::Unread {
                limit_bytes: 0,
                message: "acme-doctor is out of file descriptors: error sending request".into(),
            },
        );
        let cx = s.context();
        let found = Answer.detect(&cx);
        let f = Answer.word(&cx, &found[0]);
        assert_eq!(f.severity, Severity::Info);
        assert!(f.title.contains("out of file descriptors"), "{}", f.title);
        assert!(!f.title.contains("larger than"), "{}", f.title);
        assert!(Answer.incomplete(&cx, &found[0]).is_some());
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_eq!(d.verdict, crate::diagnose::Verdict::Pass);
        assert!(d.incomplete);
    }

    #[test]
    fn statuses_other_than_404_are_read_as_the_ca_reads_them() {
        assert_eq!(problem(&response(404, None)), None);
        assert_eq!(
            problem(&response(403, None)).unwrap().severity,
            Severity::Blocker
        );
        assert_eq!(
            problem(&response(200, None)).unwrap().severity,
            Severity::Warning
        );
        assert_eq!(
            problem(&response(204, None)).unwrap().code,
            Code::ChallengeStatus
        );
    }
}
