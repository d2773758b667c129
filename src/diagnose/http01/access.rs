//! nginx's own rules that refuse the CA by its address or User-Agent (issue 20 item 2), for
//! the web-config check: settled by `crate::webconf::access` for the CA's User-Agent, for the
//! address each failed perspective sent its request from, and, with no perspective, as the
//! list of rules that refuse some networks. Not a check: `webconf.rs` calls it with the routes
//! it chose.
//!
//! Code: `webserver-denies-client`.

use crate::diagnose::ca;
use crate::diagnose::sources::{self, Failure, PERSPECTIVES_UNPUBLISHED};
use crate::diagnose::{Code, Context, Finding, Severity};
use crate::facts::Family;
use crate::webconf::access::{self, By, Client, Denial};
use crate::webconf::{CHALLENGE_DIR, Route, Software, nginx};
use std::net::IpAddr;

/// The token routes and rules are computed for: any name in the ACME shape routes alike.
const TOKEN: &str = "acme-doctor-token";

/// The findings for nginx's routes of the challenge, one per rule.
pub fn findings(cx: &Context, config: &nginx::Config, routes: &[(Family, Route)]) -> Vec<Finding> {
    let uri = format!("{CHALLENGE_DIR}/{TOKEN}");
    let ua = ca::LETS_ENCRYPT_USER_AGENT;
    let mut out: Vec<(nginx::Pos, Finding)> = Vec::new();
    // One finding per rule: a rule met on both families is said once, for neither.
    let push = |pos: &nginx::Pos, f: Finding, out: &mut Vec<(nginx::Pos, Finding)>| match out
        .iter_mut()
        .find(|(p, _)| p == pos)
    {
        Some((_, seen)) => {
            if seen.family.is_some() && f.family.is_some() && seen.family != f.family {
                seen.family = None;
            }
        }
        None => out.push((pos.clone(), f)),
    };
    let nginx_routes: Vec<&(Family, Route)> = routes
        .iter()
        .filter(|(_, r)| r.software == Software::Nginx)
        .collect();
    // The CA's User-Agent: every perspective sends it.
    for (_, r) in &nginx_routes {
        let o = access::evaluate(
            config,
            r.server,
            cx.domain,
            &uri,
            Client {
                addr: None,
                user_agent: ua,
            },
        );
        if let Some(d) = o.denial.filter(|d| d.by == By::UserAgent) {
            let f = user_agent(cx, r, &d);
            push(&d.pos, f, &mut out);
        }
    }
    // Each perspective that failed, at the address it came from.
    for b in sources::blocked(cx) {
        if !b.failure.after_connect() {
            continue;
        }
        let family = Family::of(&b.target);
        let Some((_, r)) = nginx_routes.iter().find(|(f, _)| *f == family) else {
            continue;
        };
        let o = access::evaluate(
            config,
            r.server,
            cx.domain,
            &uri,
            Client {
                addr: Some(b.source),
                user_agent: ua,
            },
        );
        if let Some(d) = o.denial.filter(|d| d.by == By::Address) {
            let f = refused_perspective(cx, family, r, &d, &b.name, &b.source, &b.failure);
            push(&d.pos, f, &mut out);
        }
    }
    // Without a perspective in it: the rules that refuse some networks, as a risk.
    for (_, r) in &nginx_routes {
        for d in access::source_rules(config, r.server, cx.domain, &uri, ua) {
            let f = by_source(cx, Software::Nginx, &d);
            push(&d.pos, f, &mut out);
        }
    }
    out.into_iter().map(|(_, f)| f).collect()
}

/// The findings for Apache's routes: its `Require ip` / `Require not ip` rules (in
/// `<RequireAll>` and its kin) of the sections that apply to the challenge, for each failed
/// perspective's source, and as a risk without one. `file` gives a read file's text.
pub fn apache_findings<'a>(
    cx: &Context,
    file: impl Fn(&str) -> Option<&'a str>,
    routes: &[(Family, Route)],
) -> Vec<Finding> {
    let uri = format!("{CHALLENGE_DIR}/{TOKEN}");
    let mut out: Vec<(nginx::Pos, Finding)> = Vec::new();
    let apache_routes: Vec<(&Family, &Route, &str)> = routes
        .iter()
        .filter(|(_, r)| r.software == Software::Apache)
        .filter_map(|(f, r)| Some((f, r, file(&r.server_pos.file)?)))
        .collect();
    for b in sources::blocked(cx) {
        if !b.failure.after_connect() {
            continue;
        }
        let family = Family::of(&b.target);
        let Some((_, r, text)) = apache_routes.iter().find(|(f, _, _)| **f == family) else {
            continue;
        };
        let o = access::apache_evaluate(
            text,
            &r.server_pos,
            &uri,
            &r.docroot.challenge_dir,
            Client {
                addr: Some(b.source),
                user_agent: ca::LETS_ENCRYPT_USER_AGENT,
            },
        );
        if let Some(d) = o.denial.filter(|d| d.by == By::Address)
            && !out.iter().any(|(p, _)| *p == d.pos)
        {
            let f = refused_perspective(cx, family, r, &d, &b.name, &b.source, &b.failure);
            out.push((d.pos.clone(), f));
        }
    }
    for (_, r, text) in &apache_routes {
        for d in access::apache_source_rules(text, &r.server_pos, &uri, &r.docroot.challenge_dir) {
            if !out.iter().any(|(p, _)| *p == d.pos) {
                let f = by_source(cx, Software::Apache, &d);
                out.push((d.pos.clone(), f));
            }
        }
    }
    out.into_iter().map(|(_, f)| f).collect()
}

/// The rule and what made it apply, as evidence lines.
fn chain(d: &Denial) -> Vec<String> {
    let mut lines = vec![format!("{}: {}", d.pos, d.text)];
    lines.extend(d.because.iter().map(|(p, t)| format!("  because {p}: {t}")));
    lines
}

fn what(d: &Denial) -> String {
    if d.status == 444 {
        "closes the connection without an answer (444)".into()
    } else {
        format!("answers {}", d.status)
    }
}

/// How to take the challenge path out of the rule, by where the rule sits.
fn fixes(f: Finding, software: Software, d: &Denial) -> Finding {
    if software == Software::Apache {
        return f
            .fix(format!(
                "exempt the challenge path after the section of {}: `<Location /.well-known/acme-challenge/>` with `Require all granted` (the last section with Require lines decides)",
                d.pos
            ))
            .fix("then: apachectl configtest && systemctl reload apache2 (httpd on RHEL)")
            .fix("or validate with dns-01, which needs no inbound request");
    }
    let rewrite = d.text.starts_with("return");
    let vars: Vec<String> = d
        .because
        .iter()
        .filter_map(|(_, t)| t.strip_prefix("if "))
        .filter_map(|c| {
            c.trim_start_matches('(')
                .split(|ch: char| ch.is_whitespace() || ch == ')')
                .find(|w| w.starts_with('$') && *w != "$http_user_agent" && *w != "$remote_addr")
                .map(str::to_string)
        })
        .collect();
    let f = if rewrite && !vars.is_empty() {
        let sets: String = vars.iter().map(|v| format!(" set {v} 0;")).collect();
        f.fix(format!(
            "exempt the challenge path above the rule (the server's `if` runs before any location): `if ($request_uri ~ \"^/\\.well-known/acme-challenge/\") {{{sets} }}`"
        ))
    } else if rewrite {
        f.fix(format!(
            "exempt the challenge path from the rule at {}: wrap it in `location / {{ … }}`, so that `location ^~ /.well-known/acme-challenge/` does not meet it",
            d.pos
        ))
    } else {
        f.fix("give the challenge location its own `allow all;`: `location ^~ /.well-known/acme-challenge/ { allow all; root …; }` (a level with its own rules does not inherit the server's)")
    };
    f.fix("then: nginx -t && systemctl reload nginx")
        .fix("or validate with dns-01, which needs no inbound request")
}

/// The CA's words for the refusal, at the address the CA dials.
fn ca_error(cx: &Context, ip: &IpAddr, d: &Denial) -> ca::CaError {
    if d.status == 444 {
        ca::fetching(
            ca::ProblemType::Connection,
            ip,
            &cx.challenge_url(),
            ca::GETTING_DATA,
        )
    } else {
        ca::status_error(&cx.challenge_url(), ip, d.status)
    }
}

fn user_agent(cx: &Context, r: &Route, d: &Denial) -> Finding {
    let f = Finding::new(
        Code::WebserverDeniesClient,
        Severity::Blocker,
        format!(
            "{} refuses Let's Encrypt's User-Agent on the challenge path: {} at {}",
            r.software.name(),
            d.text,
            d.pos
        ),
    )
    .port(cx.dial_port())
    .detail(format!(
        "Every request the CA sends carries the User-Agent \"{}\", and nginx's own rule matches it and {} before the challenge file is read. Every perspective of the CA meets it.",
        ca::LETS_ENCRYPT_USER_AGENT,
        what(d)
    ))
    .evidence_lines(chain(d));
    fixes(f, r.software, d).ca(ca_error(cx, &r.dest, d))
}

#[allow(clippy::too_many_arguments)]
fn refused_perspective(
    cx: &Context,
    family: Family,
    r: &Route,
    d: &Denial,
    perspective: &str,
    source: &IpAddr,
    failure: &Failure,
) -> Finding {
    let f = Finding::new(
        Code::WebserverDeniesClient,
        Severity::Blocker,
        format!(
            "{} refuses {source} (where {perspective} failed): {} at {}",
            r.software.name(),
            d.text,
            d.pos
        ),
    )
    .family(family)
    .port(cx.dial_port())
    .detail(format!(
        "{perspective} failed here ({}). Its requests come from {source}, and {}'s own rules on the challenge path match that address and {}: the block is in this host's web server, not upstream. {PERSPECTIVES_UNPUBLISHED}",
        failure.describe(),
        r.software.name(),
        what(d)
    ))
    .evidence_lines(chain(d))
    .evidence(format!("evaluated: GET {CHALLENGE_DIR}/<token> from {source} with Let's Encrypt's User-Agent"));
    fixes(f, r.software, d).ca(ca_error(cx, &r.dest, d))
}

fn by_source(cx: &Context, software: Software, d: &Denial) -> Finding {
    let f = Finding::new(
        Code::WebserverDeniesClient,
        Severity::Warning,
        format!(
            "{} refuses some source addresses on the challenge path: {} at {}",
            software.name(),
            d.text,
            d.pos
        ),
    )
    .port(cx.dial_port())
    .detail(format!(
        "A rule on the way of the challenge request {} for the networks it lists (a country or \"bad bot\" list, a deny). Whether a CA perspective falls in one cannot be known from here. {PERSPECTIVES_UNPUBLISHED}",
        what(d)
    ))
    .evidence_lines(chain(d));
    // A risk, not a verdict: no CA words are predicted for it.
    fixes(f, software, d)
}

#[cfg(test)]
mod tests {
    use crate::diagnose::testkit::Scenario;
    use crate::diagnose::{Code, Severity};
    use crate::facts::{ConnectOutcome, Family, HttpOutcome};

    /// nginx-ultimate-bad-bot-blocker's shape: the IP list in a `geo`, the `if … return 444`
    /// included at the top of the server.
    fn bot_blocker() -> String {
        [
            (
                "/etc/nginx/nginx.conf",
                "events {}\nhttp {\n  include /etc/nginx/conf.d/*.conf;\n  server {\n    listen 80;\n    listen [::]:80;\n    server_name example.test;\n    include /etc/nginx/bots.d/blockbots.conf;\n    location ^~ /.well-known/acme-challenge/ { root /var/www/acme; }\n  }\n}\n",
            ),
            (
                "/etc/nginx/conf.d/globalblacklist.conf",
                "geo $validate_client {\n  default 0;\n  include /etc/nginx/bots.d/blacklist-ips.conf;\n}\n",
            ),
            ("/etc/nginx/bots.d/blacklist-ips.conf", "2001:db8:bad::/48 1;\n"),
            (
                "/etc/nginx/bots.d/blockbots.conf",
                "if ($validate_client) {\n  return 444;\n}\n",
            ),
        ]
        .iter()
        .map(|(p, t)| format!("# configuration file {p}:\n{t}\n"))
        .collect()
    }

    /// A vantage in the listed prefix got its connection closed: the included line is named,
    /// a blocker, on top, and what the outside saw is its symptom.
    #[test]
    fn a_vantage_in_the_bot_blocker_s_list_is_named_at_the_included_line() {
        let s = Scenario::dual_stack()
            .nginx_dump(&bot_blocker())
            .v4_connects(80)
            .v6_connects(80)
            .http("192.0.2.10", 200, None)
            .http("2001:db8::10", 200, None)
            .vantage("https://v.example", |v| {
                v.connect("2001:db8::10", 80, ConnectOutcome::Connected)
                    .http_outcome(
                        "2001:db8::10",
                        HttpOutcome::Error {
                            message: "connection closed before message completed".into(),
                        },
                    )
                    .connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .http("192.0.2.10", 200, None)
                    .own_source("2001:db8:bad::7")
                    .own_source("198.51.100.7")
            });
        let d = s.diagnose();
        let top = &d.findings[0];
        assert_eq!(top.code, Code::WebserverDeniesClient, "{:#?}", d.findings);
        assert_eq!(top.severity, Severity::Blocker);
        assert_eq!(top.family, Some(Family::Ipv6));
        assert!(
            top.title.contains("/etc/nginx/bots.d/blockbots.conf:2"),
            "{}",
            top.title
        );
        assert!(
            top.evidence
                .iter()
                .any(|e| e.contains("/etc/nginx/bots.d/blacklist-ips.conf:1")),
            "{:?}",
            top.evidence
        );
        assert!(
            top.fix
                .iter()
                .any(|f| f.contains("set $validate_client 0;"))
        );
        // Said once: the same rule is not repeated as a risk.
        assert_eq!(
            d.findings
                .iter()
                .filter(|f| f.code == Code::WebserverDeniesClient)
                .count(),
            1
        );
    }

    /// Without a vantage, the same configuration is a risk: a warning, never a blocker.
    #[test]
    fn without_a_vantage_a_rule_by_source_is_a_warning() {
        let s = Scenario::dual_stack()
            .nginx_dump(&bot_blocker())
            .v4_connects(80)
            .v6_connects(80);
        let d = s.diagnose();
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::WebserverDeniesClient)
            .expect("the rule is listed");
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.detail.contains("§6.8"), "{}", f.detail);
        assert_eq!(f.ca_error, None);
    }

    /// A rule on the CA's User-Agent refuses every perspective: a blocker with no vantage.
    #[test]
    fn a_rule_on_let_s_encrypt_s_user_agent_is_a_blocker_from_the_host_alone() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp {\n  server {\n    listen 80;\n    server_name example.test;\n    if ($http_user_agent ~* \"(bot|validation server)\") { return 403; }\n    root /var/www/html;\n  }\n}\n";
        let s = Scenario::ipv4_only().nginx_dump(dump).v4_connects(80);
        let d = s.diagnose();
        let f = d
            .findings
            .iter()
            .find(|f| f.code == Code::WebserverDeniesClient)
            .expect("the UA rule is found");
        assert_eq!(f.severity, Severity::Blocker);
        assert!(f.title.contains("nginx.conf:6"), "{}", f.title);
        assert!(
            f.ca_error.as_deref().is_some_and(|e| e.contains("403")),
            "{:#?}",
            d.findings
        );
    }

    /// Apache: a vantage refused by `Require not ip` in a `<RequireAll>` of the site's
    /// `<Location />`: the line is named, a blocker.
    #[test]
    fn apache_s_require_not_ip_refusing_the_vantage_is_named() {
        const DASH_S: &str = "VirtualHost configuration:\n*:80                   is a NameVirtualHost\n         default server example.test (/etc/apache2/sites-enabled/site.conf:1)\n         port 80 namevhost example.test (/etc/apache2/sites-enabled/site.conf:1)\nServerRoot: \"/etc/apache2\"\nMain DocumentRoot: \"/var/www/html\"\n";
        const SITE: &str = "<VirtualHost *:80>\n  ServerName example.test\n  DocumentRoot /var/www/site\n  <Location />\n    <RequireAll>\n      Require all granted\n      Require not ip 198.51.100.0/24\n    </RequireAll>\n  </Location>\n</VirtualHost>\n";
        let s = Scenario::ipv4_only()
            .apache(DASH_S, &[("/etc/apache2/sites-enabled/site.conf", SITE)])
            .v4_connects(80)
            .http("192.0.2.10", 404, None)
            .vantage("https://v.example", |v| {
                v.connect("192.0.2.10", 80, ConnectOutcome::Connected)
                    .http("192.0.2.10", 403, Some("Apache"))
                    .own_source("198.51.100.7")
            });
        let d = s.diagnose();
        let top = &d.findings[0];
        assert_eq!(top.code, Code::WebserverDeniesClient, "{:#?}", d.findings);
        assert_eq!(top.severity, Severity::Blocker);
        assert!(
            top.title.starts_with("Apache refuses 198.51.100.7"),
            "{}",
            top.title
        );
        assert!(top.title.contains("site.conf:7"), "{}", top.title);
    }
}
