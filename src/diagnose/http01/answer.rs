//! The challenge answer: what the GET on port 80 answered, read the way Boulder reads the
//! response (`docs/ca-behaviour.md` §2.5 redirects, §2.7 response checks), and where the CA's
//! walk (`path.rs`) ends past the first hop.
//!
//! Without a token whose content is known, the token asked for does not exist, so 404 is the
//! healthy answer ("a web server answers here, content not verified"). With `--webroot` or
//! `--expect-body` the real token is asked for: then anything but a 200 with the key
//! authorization fails, `challenge-not-served` or `challenge-wrong-content`.
//!
//! Codes: `challenge-status`, `bad-redirect`, `http-no-response`, `challenge-not-served`,
//! `challenge-wrong-content`.

use super::judge::{Judge, Problem, content_problem, flaw_text, problem, problem_error};
use super::walk::{self, Kind, Outcome};
use crate::diagnose::ca::{self, CaError};
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::diagnose::{Incomplete, IncompleteKind};
use crate::facts::{Answered, Family, HopOutcome, HttpFact, HttpOutcome, Method};
use std::collections::HashMap;
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "challenge-answer",
    codes: &[
        Code::ChallengeStatus,
        Code::BadRedirect,
        Code::HttpNoResponse,
        Code::ChallengeNotServed,
        Code::ChallengeWrongContent,
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

/// Whether the answers prove only that a web server answers: without a real token, the one
/// asked for does not exist, so its 404 is the healthy answer and the content the CA needs
/// was not seen. False for a method without HTTP answers.
pub fn content_unverified(cx: &Context) -> bool {
    let facts = cx.http01();
    facts.token.is_none()
        && facts
            .http
            .iter()
            .any(|f| matches!(f.outcome, HttpOutcome::Response { status: 404, .. }))
}

/// Why the real token is not served, from the evidence at hand: the status, the realm, and
/// whether the 404 is the web server's own page or an application's.
fn likely_cause(a: Option<&Answered>, webroot: Option<&str>) -> String {
    let Some(a) = a else {
        return "the path is not served from the directory the file was written to".into();
    };
    let body = a.body_prefix.to_ascii_lowercase();
    let server_page = body.contains("<center>nginx")
        || body.contains("<address>apache")
        || body.contains("was not found on this server")
        || body.contains("<center>openresty")
        || body.is_empty();
    match a.status {
        401 => "HTTP authentication covers the path (auth_basic / AuthType): exempt /.well-known/acme-challenge/ from it".into(),
        _ if a.www_authenticate.is_some() => "HTTP authentication covers the path: exempt /.well-known/acme-challenge/ from it".into(),
        403 => "an access rule refuses it (deny/Require, a location block, or file permissions the web server cannot read)".into(),
        500..=599 => "the path is passed to an application or upstream that fails (proxy_pass, FastCGI)".into(),
        404 if server_page => match webroot {
            Some(dir) => format!("wrong webroot: the web server looks for the file elsewhere, its root (or an alias for the path) for this name is not {dir}"),
            None => "the web server looks for the file in another directory than the ACME client writes to (wrong webroot, or a location/alias for the path)".into(),
        },
        404 => "the path is routed to an application (proxy_pass, try_files to index.php, a CMS route) that does not serve the file".into(),
        _ => "the path does not lead to the challenge file".into(),
    }
}

impl Check for Answer {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let port = cx.dial_port();
        let facts = cx.http01();
        let judge = Judge {
            allow_reserved: cx.allow_reserved(),
            token: facts.token.as_ref(),
        };
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
                let mut p = problem(fact, judge);
                if p.is_none()
                    && let Some(token) = judge.token
                    && let Some(HopOutcome::Answer(a)) = cx.answer(&fact.address).map(|x| &x.token)
                    && a.status == 200
                {
                    p = content_problem(a, &fact.url, token);
                }
                if let Some(p) = &mut p
                    && p.code == Code::ChallengeNotServed
                {
                    let a = match cx.answer(&fact.address).map(|x| &x.token) {
                        Some(HopOutcome::Answer(a)) => Some(a.as_ref()),
                        _ => None,
                    };
                    p.what = format!(
                        "{}; likely cause: {}",
                        p.what,
                        likely_cause(a, facts.webroot.as_deref())
                    );
                }
                let Some(p) = p else { continue };
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
        found.extend(from_path(cx));
        found
    }

    fn incomplete(&self, _cx: &Context, found: &Found) -> Option<Incomplete> {
        (found.problem.severity == Severity::Info).then(|| {
            Incomplete::new(
                IncompleteKind::OwnLimit,
                "a challenge answer could not be read within acme-doctor's own limits",
            )
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

/// Where the CA's walk fails past the first hop (after a redirect), which the per-address
/// answers on port 80 cannot show: a refusal deeper in the chain (too many redirects, a
/// loop, a bad port on the second hop), or a wrong answer at the redirect's target.
fn from_path(cx: &Context) -> Option<Found> {
    let facts = cx.http01();
    let path = facts.ca_path.as_ref()?;
    let Some(Outcome::Fail(f)) = walk::outcome(path, facts.token.as_ref()) else {
        return None;
    };
    let family = f.family?;
    // Depth 1 is a refusal of the first redirect: the per-address answers show it already.
    let (code, what) = match &f.kind {
        Kind::Refused(r) if f.depth >= 2 => (
            Code::BadRedirect,
            format!(
                "the redirect chain ends in a redirect the CA refuses to follow ({})",
                r.core()
            ),
        ),
        Kind::Status(status) if f.depth >= 1 && facts.token.is_some() => (
            Code::ChallengeNotServed,
            format!(
                "the redirect target {} answers {status} for the real challenge file",
                f.hop.url
            ),
        ),
        Kind::Status(status) if f.depth >= 1 => (
            Code::ChallengeStatus,
            format!("the redirect target {} answers {status}", f.hop.url),
        ),
        Kind::Mismatch { flaw, .. } if f.depth >= 1 => (
            Code::ChallengeWrongContent,
            format!(
                "the redirect target serves the wrong content: {}",
                flaw_text(*flaw)
            ),
        ),
        Kind::TooLarge if f.depth >= 1 => (
            Code::ChallengeWrongContent,
            "the redirect target serves a page of 128 bytes or more, not the file".to_string(),
        ),
        Kind::NoResponse if f.depth >= 1 => (
            Code::HttpNoResponse,
            format!("the redirect target {} gives no usable response", f.hop.url),
        ),
        _ => return None,
    };
    let mut p = Problem::new(code, Severity::Blocker, what, String::new());
    p.ca_whole = Some((f.ca.problem, f.ca.detail));
    Some(Found {
        family,
        problem: p,
        hits: Vec::new(),
        others_serve: false,
    })
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
    let facts = cx.http01();
    let challenge = match (&facts.token, hits.first()) {
        (Some(_), Some(h)) => h.url.clone(),
        _ => ca::challenge_url(&cx.url_host),
    };
    let title = if list.is_empty() {
        p.what.clone()
    } else {
        format!("{} {list} {}", family.record_type(), p.what)
    };
    let mut f = Finding::new(p.code, severity, title)
        .family(family)
        .port(cx.dial_port())
        .detail(format!(
            "The CA fetches {challenge} and needs a 200 with the key authorization.{no_fallback}"
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
    if hits.is_empty()
        && let Some(path) = &facts.ca_path
    {
        f = f.evidence_lines(walk::evidence(path));
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
        Code::ChallengeWrongContent => f
            .fix("serve the file as written: no template, no BOM (save as UTF-8 without BOM), no leading newline; nginx: default_type text/plain in the challenge location")
            .fix("with a client that answers itself (--expect-body), check that nothing in front rewrites the body"),
        _ => f
            .fix("serve the challenge directory before any auth, rewrite or catch-all: nginx location ^~ /.well-known/acme-challenge/ { root /var/www/letsencrypt; allow all; }")
            .fix("point the ACME client's webroot at the directory that vhost serves (certbot certonly --webroot -w DIR)"),
    };
    if severity == Severity::Blocker {
        if let Some((problem, detail)) = &p.ca_whole {
            return f.ca(CaError {
                problem: *problem,
                detail: detail.clone(),
            });
        }
        let Some(ip) = addrs.first() else { return f };
        f = f.ca(problem_error(p, ip, challenge));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::ca::ProblemType;

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
                page: Default::default(),
            },
            elapsed_ms: 1,
            agent: crate::facts::Agent::Ca,
        }
    }

    #[test]
    fn a_404_for_a_random_token_leaves_the_content_unverified() {
        use crate::diagnose::testkit::Scenario;
        let random = Scenario::ipv4_only().http("192.0.2.10", 404, None);
        assert!(content_unverified(&random.context()));
        let real = Scenario::ipv4_only()
            .token("T.key")
            .http("192.0.2.10", 404, None);
        assert!(!content_unverified(&real.context()));
    }

    fn problem_plain(fact: &HttpFact) -> Option<Problem> {
        problem(
            fact,
            Judge {
                allow_reserved: true,
                token: None,
            },
        )
    }

    fn answered(status: u16, body: &[u8], prefix: &str) -> HopOutcome {
        HopOutcome::Answer(Box::new(Answered {
            status,
            server: Some("nginx/1.22.1".into()),
            location: None,
            www_authenticate: None,
            marks: Vec::new(),
            title: None,
            body_head_hex: body.iter().map(|b| format!("{b:02x}")).collect(),
            body_prefix: prefix.into(),
            body_bytes: body.len() as u64,
            body_sha256: String::new(),
        }))
    }

    #[test]
    fn with_the_real_token_a_404_is_not_served_and_names_its_likely_cause() {
        let s = crate::diagnose::testkit::Scenario::ipv4_only()
            .token("T.thumb")
            .http("192.0.2.10", 404, None)
            .answers(
                "192.0.2.10",
                answered(404, b"", "<html><center>nginx</center>"),
                answered(200, b"<html>", "<html>"),
            );
        let cx = s.context();
        let found = Answer.detect(&cx);
        let f = Answer.word(&cx, &found[0]);
        assert_eq!(f.code, Code::ChallengeNotServed);
        assert_eq!(f.severity, Severity::Blocker);
        assert!(
            f.title.contains("web server looks for the file"),
            "{}",
            f.title
        );
        let ca = f.ca_error.unwrap();
        assert!(
            ca.starts_with(
                "192.0.2.10: Invalid response from http://example.test/.well-known/acme-challenge/"
            ),
            "{ca}"
        );
        assert!(ca.ends_with(": 404"), "{ca}");
    }

    #[test]
    fn with_the_real_token_a_bom_is_wrong_content_without_an_ip_prefix() {
        let s = crate::diagnose::testkit::Scenario::ipv4_only()
            .token("T.thumb")
            .http("192.0.2.10", 200, None)
            .answers(
                "192.0.2.10",
                answered(200, "\u{FEFF}T.thumb\n".as_bytes(), ""),
                answered(200, b"<html>", "<html>"),
            );
        let cx = s.context();
        let found = Answer.detect(&cx);
        let f = Answer.word(&cx, &found[0]);
        assert_eq!(f.code, Code::ChallengeWrongContent);
        assert_eq!(f.severity, Severity::Blocker);
        assert_eq!(
            f.ca_error.as_deref(),
            Some(
                "The key authorization file from the server did not match this challenge. Expected \"T.thumb\" (got \"\\ufeffT.thumb\")"
            )
        );
    }

    #[test]
    fn redirects_follow_boulders_rules() {
        let code = |status, loc| problem_plain(&response(status, Some(loc))).map(|p| p.ca_core);
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
        assert_eq!(problem_plain(&response(404, None)), None);
        assert_eq!(
            problem_plain(&response(403, None)).unwrap().severity,
            Severity::Blocker
        );
        assert_eq!(
            problem_plain(&response(200, None)).unwrap().severity,
            Severity::Warning
        );
        assert_eq!(
            problem_plain(&response(204, None)).unwrap().code,
            Code::ChallengeStatus
        );
    }
}
