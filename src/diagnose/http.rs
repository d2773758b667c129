//! HTTP rules: what the challenge GET on port 80 answered, read the way Boulder reads the
//! response (`reference/ca-validation.md` §1 "Redirects" and "Response checks", §6).
//! The token acme-doctor asks for does not exist, so 404 is the healthy answer.
//!
//! Codes: `challenge-status`, `bad-redirect`, `http-no-response`.

use super::host::fetch_error;
use super::{Code, Context, Finding, Out, Severity};
use crate::facts::{Family, HttpFact, HttpOutcome};
use std::net::IpAddr;

/// One kind of wrong answer, with Boulder's words for it.
#[derive(Debug, Clone, PartialEq)]
struct Problem {
    code: Code,
    /// A blocker everywhere it is seen, or a warning (a catch-all 200).
    severity: Severity,
    what: String,
    /// The core of the CA's message.
    ca_core: String,
    /// The URL the CA names in "Fetching …" when it is not the challenge URL: a redirect target.
    fetching: Option<String>,
}

impl Problem {
    fn new(code: Code, severity: Severity, what: String, ca_core: String) -> Problem {
        Problem {
            code,
            severity,
            what,
            ca_core,
            fetching: None,
        }
    }
}

fn redirect_problem(url: &str, status: u16, location: &str) -> Option<Problem> {
    let target = url::Url::parse(url).and_then(|base| base.join(location));
    let bad = |ca_core: String| {
        let mut p = Problem::new(
            Code::BadRedirect,
            Severity::Blocker,
            format!("redirects ({status}) to {location}, which the CA refuses to follow"),
            ca_core,
        );
        p.fetching = target.as_ref().ok().map(|u| u.to_string());
        Some(p)
    };
    if status == 303 {
        return bad("received disallowed redirect status code".into());
    }
    let Ok(target) = &target else {
        return bad("Invalid empty host in redirect target".into());
    };
    let scheme = target.scheme();
    if scheme != "http" && scheme != "https" {
        return bad(format!(
            "Invalid protocol scheme in redirect target. Only \"http\" and \"https\" protocol schemes are supported, not \"{scheme}\""
        ));
    }
    if let Some(port) = target.port().filter(|p| *p != 80 && *p != 443) {
        return bad(format!(
            "Invalid port in redirect target. Only ports 80 and 443 are supported, not {port}"
        ));
    }
    match target.host_str() {
        None | Some("") => bad("Invalid empty host in redirect target".into()),
        Some(host) if host.ends_with(".well-known") => bad(format!(
            "Invalid host in redirect target \"{host}\". Check webserver config for missing '/' in redirect target."
        )),
        Some(_) => None,
    }
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
            // Boulder quotes the first 128 bytes of the body.
            format!(
                "Invalid response from {url}: \"{}\"",
                body_prefix.chars().take(128).collect::<String>()
            ),
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
            format!("Invalid response from {url}: {status}"),
        )),
        HttpOutcome::Timeout => no_response(
            "accepts the connection but sends no HTTP response in time",
            "Timeout after connect (your server may be slow or overloaded)",
        ),
        HttpOutcome::Reset => no_response(
            "resets the connection instead of answering",
            "Connection reset by peer",
        ),
        HttpOutcome::Error { message } => no_response(
            &format!("gives no usable HTTP response ({message})"),
            "Error getting validation data",
        ),
    }
}

pub fn check(cx: &Context, out: &mut Out) {
    for family in [Family::Ipv4, Family::Ipv6] {
        let facts: Vec<&HttpFact> = cx
            .usable(family)
            .iter()
            .filter_map(|ip| cx.http(ip))
            .filter(|h| h.port == 80)
            .collect();
        let mut seen: Vec<Problem> = Vec::new();
        for fact in &facts {
            if let Some(p) = problem(fact).filter(|p| !seen.contains(p)) {
                seen.push(p);
            }
        }
        for p in seen {
            let hits: Vec<&&HttpFact> = facts
                .iter()
                .filter(|f| problem(f).as_ref() == Some(&p))
                .collect();
            // On some addresses only: the CA meets it when its resolver returns one of those
            // first.
            let everywhere = hits.len() == facts.len();
            let severity = if everywhere {
                p.severity
            } else {
                Severity::Warning
            };
            out.push(finding(cx, family, &p, severity, &hits));
        }
    }
}

fn finding(
    cx: &Context,
    family: Family,
    p: &Problem,
    severity: Severity,
    hits: &[&&HttpFact],
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
    let mut f = Finding::new(p.code, severity, format!("{} {list} {}", family.record_type(), p.what))
        .family(family)
        .port(80)
        .detail(format!("The CA fetches http://{}/.well-known/acme-challenge/<token> and needs a 200 with the key authorization.{no_fallback}", cx.domain));
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
        f = f.ca_error(match &p.fetching {
            Some(target) => format!("{}: Fetching {target}: {}", addrs[0], p.ca_core),
            None => fetch_error(cx, &addrs[0], &p.ca_core),
        });
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
