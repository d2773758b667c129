//! The web server's own configuration, read the way nginx reads it (`crate::webconf`): which
//! `server` answers the name on each family, which `location` serves the challenge, where its
//! files come from. This turns "the token 404s" into the file and line that makes it so.
//!
//! Codes: `vhost-missing-ipv6-listen`, `challenge-location-shadowed`, `webroot-mismatch`.

use crate::diagnose::IncompleteKind;
use crate::diagnose::ca;
use crate::diagnose::check::CheckDef;
use crate::diagnose::context::socket;
use crate::diagnose::http01::judge::{self, Judge};
use crate::diagnose::{Check, Code, Context, Finding, Out, Severity};
use crate::facts::{
    ApacheConfig, ConfigFile, Container, Family, HostFacts, HttpOutcome, Method, Probed, Unknown,
};
use crate::firewall::nat;
use crate::sanitize;
use crate::webconf::select::{Handler, ListenAddr};
use crate::webconf::{self, Route, Software, apache, nginx};
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "web-config",
    codes: &[
        Code::VhostMissingIpv6Listen,
        Code::ChallengeLocationShadowed,
        Code::WebrootMismatch,
    ],
    methods: &[Method::Http01],
    run: run_web_config,
};

/// The check, and a configuration that could not be read said as such: the run is then
/// incomplete, never a pass on the part that was read.
fn run_web_config(cx: &Context, out: &mut Out) {
    if cx.on_host() != Some(true) {
        return;
    }
    match routes(cx) {
        Err(reason) => out.incomplete(IncompleteKind::WebConfigUnreadable, reason),
        Ok(routes) => {
            for found in found(cx, &routes) {
                out.push(WebConfig.word(cx, &found));
            }
        }
    }
}

pub struct WebConfig;

/// The token the routes are computed for: any name in the ACME shape routes alike.
const TOKEN: &str = "acme-doctor-token";

#[derive(Debug, Clone)]
pub enum Found {
    /// The name's block has no IPv6 listen on the port; IPv6 requests reach `v6`'s block.
    MissingIpv6Listen { v4: Box<Route>, v6: Box<Route> },
    /// Something other than a file answers the challenge path.
    Shadowed {
        family: Option<Family>,
        route: Box<Route>,
        handler: Handler,
    },
    /// The challenge files are read from another directory than `--webroot`'s.
    WebrootMismatch {
        family: Option<Family>,
        route: Box<Route>,
        webroot: String,
    },
}

/// The configuration of the web server that answers the port, as read, or why it could not
/// be read.
enum Answering<'a> {
    Nginx(std::sync::Arc<nginx::Config>),
    Apache(&'a ApacheConfig),
    Unreadable { software: Software, why: Unknown },
}

/// Which configured web server answers port 80 here: the one whose process holds it, when
/// the listeners name one; else the one whose configuration could be read (nginx first).
fn answering<'a>(cx: &Context<'a>) -> Option<Answering<'a>> {
    let host: &'a HostFacts = cx.host;
    let ws = host.web_server.as_ref()?;
    // Nothing listens on the port: no configuration is answering (no-listener says so).
    if cx
        .host
        .listeners
        .known()
        .is_some_and(|ls| ls.iter().all(|l| l.port != cx.dial_port()))
    {
        return None;
    }
    let names: Vec<&str> = cx
        .host
        .listeners
        .known()
        .map(|ls| {
            ls.iter()
                .filter(|l| l.port == cx.dial_port())
                .filter_map(|l| l.process.as_ref().map(|p| p.name.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let holds = |n: &[&str]| names.iter().any(|p| n.contains(p));
    let nginx = || match &ws.nginx {
        Probed::Known(n) => match parsed(&n.dump) {
            Ok(config) => Answering::Nginx(config),
            Err(e) => Answering::Unreadable {
                software: Software::Nginx,
                why: unparsable(&n.command, &e),
            },
        },
        Probed::Unknown(why) => Answering::Unreadable {
            software: Software::Nginx,
            why: why.clone(),
        },
    };
    let apache = || match &ws.apache {
        Probed::Known(a) => Answering::Apache(a),
        Probed::Unknown(why) => Answering::Unreadable {
            software: Software::Apache,
            why: why.clone(),
        },
    };
    if !names.is_empty() {
        // The program holding the port answers: a configuration of it that could not be
        // read leaves the choice unjudged, never judged on another program's.
        return if holds(&["nginx"]) {
            Some(nginx())
        } else if holds(&["apache2", "httpd"]) {
            Some(apache())
        } else {
            // Another program holds the port: these configurations are not what answers.
            None
        };
    }
    if ws.nginx.known().is_some() {
        Some(nginx())
    } else if ws.apache.known().is_some() {
        Some(apache())
    } else {
        None
    }
}

/// A reader's error as the fact it is: where it stopped, and which cap stopped it.
fn unparsable(source: &str, e: &nginx::ParseError) -> Unknown {
    Unknown::Unparsable {
        source: source.to_string(),
        at: e.at(),
        message: e.message.clone(),
        cap: e.cap.clone(),
    }
}

/// The parsed dump. Every name of a run on this host shares one dump, so the last parse is
/// kept (keyed by the dump's content): a thousand names cost one parse, not a thousand.
fn parsed(dump: &str) -> Result<std::sync::Arc<nginx::Config>, nginx::ParseError> {
    use std::hash::{Hash, Hasher};
    use std::sync::{Arc, Mutex};
    type Parsed = Result<Arc<nginx::Config>, nginx::ParseError>;
    static LAST: Mutex<Option<((usize, u64), Parsed)>> = Mutex::new(None);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dump.hash(&mut h);
    let key = (dump.len(), h.finish());
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((k, c)) = last.as_ref()
        && *k == key
    {
        return c.clone();
    }
    let config = nginx::load(dump).map(Arc::new);
    *last = Some((key, config.clone()));
    config
}

/// As [`unread_reason`], for a server running in a container (`label`).
fn unread_reason_in(software: Software, why: &Unknown, label: &str) -> String {
    sanitize::line(&format!("{label}: {}", unread_reason(software, why)), 600)
}

/// Why the answering server's configuration leaves the run without its verdict.
fn unread_reason(software: Software, why: &Unknown) -> String {
    let judged = match software {
        Software::Nginx => "its server and location choice was not judged",
        Software::Apache => "its VirtualHost choice was not judged",
    };
    // Paths and messages come from the configuration's own text.
    sanitize::line(
        &format!(
            "{}'s configuration could not be read ({why}): {judged}",
            software.name()
        ),
        600,
    )
}

/// An Apache route that could not be followed: the file's own reason when it was not read,
/// the cap when it was never asked for, else where the reader stopped in it.
fn apache_unread(a: &ApacheConfig, e: &nginx::ParseError) -> Unknown {
    match a.files.iter().find(|f| f.path == e.pos.file) {
        Some(ConfigFile {
            text: Probed::Unknown(why),
            ..
        }) => why.clone(),
        Some(f) => unparsable(&f.path, e),
        None => Unknown::Unparsable {
            source: a.command.clone(),
            at: e.at(),
            message: e.message.clone(),
            cap: (a.files.len() >= apache::MAX_FILES)
                .then(|| format!("{} files read", apache::MAX_FILES)),
        },
    }
}

/// The route of the challenge for each family whose published address is on this host, or
/// why the answering server's configuration could not be followed.
fn routes(cx: &Context) -> Result<Vec<(Family, Route)>, String> {
    let port = cx.dial_port();
    let local: Vec<(Family, IpAddr)> = [Family::Ipv6, Family::Ipv4]
        .into_iter()
        .filter(|f| *f == Family::Ipv4 || cx.ipv6_off.is_none())
        .filter_map(|f| Some((f, *cx.usable(f).iter().find(|ip| cx.is_local(ip))?)))
        .collect();
    // No published address here to route: nothing would have been judged.
    if local.is_empty() {
        return Ok(Vec::new());
    }
    // A container takes the port for some family: its nginx answers there, never the
    // host's configuration.
    let mut out = Vec::new();
    let mut host_side = Vec::new();
    for (f, ip) in local {
        match container_answering(cx, ip, port) {
            Some(inside) => {
                if let Some(r) = container_route(cx, ip, &inside)? {
                    out.push((f, r));
                }
            }
            None => host_side.push((f, ip)),
        }
    }
    if host_side.is_empty() {
        return Ok(out);
    }
    let answering = answering(cx);
    if let Some(Answering::Unreadable { software, why }) = &answering {
        return Err(unread_reason(*software, why));
    }
    for (f, ip) in host_side {
        let route = match &answering {
            Some(Answering::Nginx(config)) => {
                webconf::route(config.as_ref(), ip, port, cx.domain, TOKEN)
            }
            Some(Answering::Apache(a)) => {
                let file = |path: &str| {
                    a.files
                        .iter()
                        .find(|f| f.path == path)
                        .and_then(|f| f.text.known().map(String::as_str))
                };
                webconf::apache_route(&a.vhosts, file, ip, port, cx.domain, TOKEN)
                    .map_err(|e| unread_reason(Software::Apache, &apache_unread(a, &e)))?
            }
            _ => None,
        };
        if let Some(r) = route {
            out.push((f, r));
        }
    }
    Ok(out)
}

/// The container that takes the CA's connection to `ip`:`port`, and where it arrives inside
/// it: a DNAT to the container's address, or a docker-proxy relaying the published port.
pub struct Inside {
    pub container: Container,
    pub dest: IpAddr,
    pub port: u16,
}

pub fn container_answering(cx: &Context, ip: IpAddr, port: u16) -> Option<Inside> {
    if let Some(hop) = nat::dnat(cx.host, &[ip], port) {
        return hop.container.map(|container| Inside {
            container,
            dest: hop.to,
            port: hop.to_port,
        });
    }
    let bindv6only = cx.host.bindv6only.known().copied();
    let holders: Vec<&str> = cx
        .host
        .listeners
        .known()?
        .iter()
        .filter(|l| l.accepts(&ip, port, bindv6only))
        .filter_map(|l| l.process.as_ref().map(|p| p.name.as_str()))
        .collect();
    // Docker's userland proxy holds the published port and relays to the container's
    // address (its IPv4 one on a default bridge), whichever family the CA used.
    if holders.is_empty() || holders.iter().any(|h| *h != "docker-proxy") {
        return None;
    }
    let container = nat::publisher(cx.host, port)?;
    let inner = container
        .ports
        .iter()
        .find(|p| p.protocol == "tcp" && p.host_port == Some(port))?
        .container_port;
    let dest = container
        .addresses
        .iter()
        .map(|a| a.address)
        .find(IpAddr::is_ipv4)
        .or_else(|| container.addresses.first().map(|a| a.address))?;
    Some(Inside {
        container,
        dest,
        port: inner,
    })
}

/// The challenge's route through the nginx of the container, with its positions shown as
/// `container NAME:/etc/nginx/…:LINE`. `Ok(None)` when no nginx of the container was read
/// (another server runs there); an error when it runs and could not be read.
fn container_route(cx: &Context, ip: IpAddr, inside: &Inside) -> Result<Option<Route>, String> {
    let c = &inside.container;
    let label = format!("container {}", c.name);
    let n = match &c.nginx {
        None => return Ok(None),
        Some(Probed::Unknown(why)) => {
            return Err(unread_reason_in(Software::Nginx, why, &label));
        }
        Some(Probed::Known(n)) => n,
    };
    let mut config = match parsed(&n.dump) {
        Ok(config) => (*config).clone(),
        Err(e) => {
            return Err(unread_reason_in(
                Software::Nginx,
                &unparsable(&n.command, &e),
                &label,
            ));
        }
    };
    config.relabel(&label);
    Ok(
        webconf::route(&config, inside.dest, inside.port, cx.domain, TOKEN).map(|mut r| {
            // Findings look up what the CA's request met at the published address.
            r.dest = ip;
            r.container = Some(c.name.clone());
            r
        }),
    )
}

fn takes_ipv6(route: &Route) -> bool {
    route.listens.iter().any(|l| {
        l.port == route.port && matches!(&l.addr, ListenAddr::AnyV6 | ListenAddr::Ip(IpAddr::V6(_)))
    })
}

/// Whether two routes serve the challenge alike: the same directory, nothing in the way.
fn same_answer(a: &Route, b: &Route) -> bool {
    a.docroot.challenge_dir == b.docroot.challenge_dir
        && a.effective_handler().map(Handler::text) == b.effective_handler().map(Handler::text)
}

impl Check for WebConfig {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        if cx.on_host() != Some(true) {
            return Vec::new();
        }
        routes(cx).map_or_else(|_| Vec::new(), |routes| found(cx, &routes))
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        word(cx, found)
    }
}

/// What the routes show.
fn found(cx: &Context, routes: &[(Family, Route)]) -> Vec<Found> {
    let route = |f: Family| routes.iter().find(|(g, _)| *g == f).map(|(_, r)| r);
    let mut found = Vec::new();
    let (v4, v6) = (route(Family::Ipv4), route(Family::Ipv6));
    if let (Some(v4), Some(v6)) = (v4, v6)
        && v4.by_name()
        && !v6.by_name()
        && v6.server != v4.server
        && !takes_ipv6(v4)
        && !same_answer(v4, v6)
    {
        found.push(Found::MissingIpv6Listen {
            v4: Box::new(v4.clone()),
            v6: Box::new(v6.clone()),
        });
    }
    // One finding per distinct cause: both families meeting the same directive is one.
    let both = |pick: &dyn Fn(&Route) -> Option<String>| -> Vec<(Option<Family>, &Route)> {
        let keyed: Vec<(Family, &Route, String)> = routes
            .iter()
            .filter_map(|(f, r)| pick(r).map(|k| (*f, r, k)))
            .collect();
        match keyed.as_slice() {
            [(_, r, a), (_, _, b)] if a == b => vec![(None, *r)],
            _ => keyed.iter().map(|(f, r, _)| (Some(*f), *r)).collect(),
        }
    };
    // The IPv6 block of a missing listen is another site: its own configuration is not
    // the name's, so it is judged by that finding alone.
    let skip_v6 = found
        .iter()
        .any(|f| matches!(f, Found::MissingIpv6Listen { .. }));
    let consider = |f: Option<Family>| !(skip_v6 && f == Some(Family::Ipv6));
    for (family, r) in both(&|r: &Route| {
        r.effective_handler()
            .map(|h| format!("{}{}", r.server, h.pos()))
    }) {
        if let Some(handler) = r.effective_handler()
            && consider(family)
        {
            found.push(Found::Shadowed {
                family,
                route: Box::new(r.clone()),
                handler: handler.clone(),
            });
        }
    }
    if let Some(webroot) = &cx.http01().webroot
        && webroot.starts_with('/')
    {
        let wanted = webconf::select::trim(&format!("{webroot}{}", webconf::CHALLENGE_DIR));
        for (family, r) in both(&|r: &Route| {
            // A container sees the host's webroot under whatever path its mount gives it.
            (r.container.is_none()
                && r.effective_handler().is_none()
                && !r.docroot.variable
                && r.docroot.challenge_dir.starts_with('/')
                && r.docroot.challenge_dir != wanted)
                .then(|| r.docroot.challenge_dir.clone())
        }) {
            if consider(family) {
                found.push(Found::WebrootMismatch {
                    family,
                    route: Box::new(r.clone()),
                    webroot: webroot.clone(),
                });
            }
        }
    }
    found
}

fn word(cx: &Context, found: &Found) -> Finding {
    match found {
        Found::MissingIpv6Listen { v4, v6 } => missing_ipv6(cx, v4, v6),
        Found::Shadowed {
            family,
            route,
            handler,
        } => shadowed(cx, *family, route, handler),
        Found::WebrootMismatch {
            family,
            route,
            webroot,
        } => mismatch(cx, *family, route, webroot),
    }
}

/// The status the challenge GET met at `ip`, when it was not a 200.
fn observed_status(cx: &Context, ip: &IpAddr) -> Option<u16> {
    match &cx.http(ip)?.outcome {
        HttpOutcome::Response { status, .. } if *status != 200 => Some(*status),
        _ => None,
    }
}

fn with_family(f: Finding, family: Option<Family>) -> Finding {
    match family {
        Some(family) => f.family(family),
        None => f,
    }
}

/// How to apply a configuration change.
fn reload(r: &Route) -> String {
    if let Some(name) = &r.container {
        // The change goes into the image or the mounted file, not a copy edited inside.
        return format!(
            "rebuild or remount the container's configuration and `docker exec {name} nginx -t && docker exec {name} nginx -s reload` (or `docker restart {name}`)"
        );
    }
    match r.software {
        Software::Nginx => "`nginx -t && systemctl reload nginx`",
        Software::Apache => "`apachectl configtest && systemctl reload apache2` (httpd on RHEL)",
    }
    .to_string()
}

/// `nginx`, or `nginx in container web`.
fn server_name(r: &Route) -> String {
    match &r.container {
        Some(name) => format!("{} in container {name}", r.software.name()),
        None => r.software.name().to_string(),
    }
}

fn server_line(r: &Route) -> String {
    format!(
        "the {} at {} (server_name {})",
        match r.software {
            Software::Nginx => "server block",
            Software::Apache => "VirtualHost",
        },
        r.server_pos,
        r.server_label
    )
}

fn missing_ipv6(cx: &Context, v4: &Route, v6: &Route) -> Finding {
    let port = cx.dial_port();
    let own_listens: Vec<String> = v4
        .listens
        .iter()
        .map(|l| format!("{} at {}", l.text, l.pos))
        .collect();
    let anchor = v4.listens.iter().find(|l| l.port == port).map_or_else(
        || v4.server_pos.to_string(),
        |l| format!("`{}` at {}", l.text, l.pos),
    );
    let mut f = Finding::new(
        Code::VhostMissingIpv6Listen,
        Severity::Blocker,
        format!(
            "IPv6 requests for {} reach another {} site: {} has no IPv6 listen on port {port}, and `{}` at {} takes them",
            cx.domain,
            v4.software.name(),
            v4.server_pos,
            v6.listen.text,
            v6.listen.pos
        ),
    )
    .likely()
    .family(Family::Ipv6)
    .port(port)
    .detail(format!(
        "{} picks the listening address before it looks at the name: a request to {} lands on the sockets of `{}`, whose servers do not include {}'s block, so the server {} answers (its {} server for that address). The CA dials IPv6 first, and gets that site's answer.",
        v6.software.name(),
        socket(&v6.dest, port),
        v6.listen.text,
        cx.domain,
        v6.server_label,
        match v6.by {
            webconf::select::ChosenBy::DefaultServer => "default_server",
            _ => "first",
        },
    ))
    .evidence(format!("{}'s block: {}", cx.domain, server_line(v4)))
    .evidence_lines(own_listens.iter().map(|l| format!("  {l}")))
    .evidence(format!(
        "{} is taken by `{}` at {} ({})",
        socket(&v6.dest, port),
        v6.listen.text,
        v6.listen.pos,
        server_line(v6)
    ))
    .evidence(format!(
        "challenge files over IPv4: {}; over IPv6: {}",
        v4.docroot.challenge_dir, v6.docroot.challenge_dir
    ))
    .fix(match v4.software {
        Software::Nginx => format!(
            "add `listen [::]:{port};` to the server block at {} (next to {anchor}), then {}",
            v4.server_pos,
            reload(v4)
        ),
        Software::Apache => format!(
            "make the vhost at {} `<VirtualHost *:{port}>` (or add the IPv6 address to it: `<VirtualHost {} [{}]:{port}>`), then {}",
            v4.server_pos,
            v4.listen.text.trim_start_matches("<VirtualHost ").trim_end_matches('>'),
            v6.dest,
            reload(v4)
        ),
    });
    match observed_status(cx, &v6.dest) {
        Some(status) => f = f.ca(ca::status_error(&cx.challenge_url(), &v6.dest, status)),
        // No request reached it: the configuration alone says so.
        None => f.severity = Severity::Warning,
    }
    f
}

fn shadowed(cx: &Context, family: Option<Family>, r: &Route, h: &Handler) -> Finding {
    let port = cx.dial_port();
    let location = r.location.as_ref().map_or_else(
        || "no location".to_string(),
        |(t, p)| format!("`{t}` at {p}"),
    );
    let (severity, what, likely) = match h {
        Handler::Deny { .. } => (Severity::Blocker, "denies it (403)".to_string(), false),
        // nginx's own code: close the connection without a response.
        Handler::Return {
            code: 444,
            target: None,
            ..
        } => (
            Severity::Blocker,
            "closes the connection without an answer (444)".to_string(),
            false,
        ),
        Handler::Return {
            code, target: None, ..
        } => (Severity::Blocker, format!("answers it with {code}"), false),
        Handler::Return {
            code,
            target: Some(t),
            ..
        } if !h.is_redirect() => (
            Severity::Blocker,
            format!("answers it with {code} {t}"),
            false,
        ),
        Handler::Return {
            code,
            target: Some(t),
            ..
        } => (
            Severity::Warning,
            format!("redirects it ({code}) to {t}"),
            false,
        ),
        Handler::Redirect { target, .. } => (
            Severity::Warning,
            format!("redirects it to {target}"),
            false,
        ),
        Handler::Pass { .. } => (
            Severity::Warning,
            "hands it to another server or application".to_string(),
            true,
        ),
        Handler::TryFilesFallback { .. } => (
            Severity::Info,
            "sends a missing file to the application".to_string(),
            true,
        ),
    };
    let mut f = Finding::new(
        Code::ChallengeLocationShadowed,
        severity,
        format!(
            "{} does not serve the challenge from a file: `{}` at {} {what}",
            server_name(r),
            h.text(),
            h.pos()
        ),
    )
    .port(port)
    .detail(match h {
        Handler::Return { .. } | Handler::Redirect { .. } if h.is_redirect() => {
            "The CA follows the redirect (to ports 80 and 443 only); the challenge passes only if the target serves the token. An ACME client writing into the webroot expects the file to be served on port 80.".to_string()
        }
        Handler::Pass { .. } => {
            "The challenge path goes to an upstream or application: the token file an ACME client writes into the webroot is never read, unless that application serves it.".to_string()
        }
        _ => format!(
            "{} applies this before any file is looked for, so the token an ACME client writes under {} is never served.",
            r.software.name(),
            r.docroot.challenge_dir
        ),
    })
    .evidence(server_line(r))
    .evidence(format!("the challenge path is served by {location}"))
    .evidence(format!("{} {}", h.pos(), h.text()))
    .fix(match r.software {
        Software::Nginx => format!(
            "in the server block at {}, add `location ^~ /.well-known/acme-challenge/ {{ root {}; try_files $uri =404; }}` (^~ stops regex locations; the root where the ACME client writes){}, then {}",
            r.server_pos,
            r.docroot
                .challenge_dir
                .strip_suffix(webconf::CHALLENGE_DIR)
                .unwrap_or("<webroot>"),
            if matches!(h, Handler::Return { .. } | Handler::Redirect { .. }) {
                "; a server-level return or rewrite runs before any location: move it into `location / { … }`"
            } else {
                ""
            },
            reload(r)
        ),
        Software::Apache => format!(
            "exempt the challenge path before {}: `RewriteCond %{{REQUEST_URI}} !^/\\.well-known/acme-challenge/` above a RewriteRule, `ProxyPass /.well-known/acme-challenge/ !` before a ProxyPass, or `RedirectMatch 301 ^/(?!\\.well-known/acme-challenge/)(.*) https://…/$1` for a Redirect; then {}",
            h.pos(),
            reload(r)
        ),
    });
    // A redirect or an upstream may serve the token; when the answer acme-doctor met at that
    // address is one the CA rejects, this directive is why.
    // The same when the CA refuses a redirect further down the chain this directive starts
    // (a loop, too many redirects, a bad port). A dead target (443 closed) is the target's
    // fault, not the redirect's.
    let walk_fails = cx.http01().ca_path.as_ref().is_some_and(|p| {
        matches!(
            super::walk::outcome(p, cx.http01().token.as_ref()),
            Some(super::walk::Outcome::Fail(f)) if matches!(f.kind, super::walk::Kind::Refused(_))
        )
    });
    let fails_here = cx
        .http(&r.dest)
        .is_some_and(|h| !judge::may_pass(h, run_judge(cx)))
        || (walk_fails && h.is_redirect());
    if severity != Severity::Blocker && fails_here {
        f.severity = Severity::Blocker;
    }
    if likely {
        f = f.likely();
    }
    f = with_family(f, family);
    let is_status = matches!(h, Handler::Deny { .. })
        || matches!(h, Handler::Return { code, .. } if !h.is_redirect() && *code != 444);
    if f.severity == Severity::Blocker {
        let status = observed_status(cx, &r.dest).filter(|s| !(300..400).contains(s));
        match (status, cx.http(&r.dest)) {
            (Some(status), _) if is_status || matches!(h, Handler::Pass { .. }) => {
                f = f.ca(ca::status_error(&cx.challenge_url(), &r.dest, status));
            }
            // A refused redirect, a closed connection: the CA's words for what was met.
            (_, Some(fact)) => {
                if let Some(e) = judge::ca_error(fact, run_judge(cx), &cx.url_host) {
                    f = f.ca(e);
                }
            }
            _ => {}
        }
        // Nothing observed (no GET was made): what the directive itself answers.
        if f.ca_error.is_none() {
            f = match h {
                Handler::Deny { .. } => f.ca(ca::status_error(&cx.challenge_url(), &r.dest, 403)),
                Handler::Return { code: 444, .. } => f.ca(ca::fetching(
                    ca::ProblemType::Connection,
                    &r.dest,
                    &cx.challenge_url(),
                    ca::GETTING_DATA,
                )),
                Handler::Return { code, .. } => {
                    f.ca(ca::status_error(&cx.challenge_url(), &r.dest, *code))
                }
                _ => f,
            };
        }
    }
    f
}

fn mismatch(cx: &Context, family: Option<Family>, r: &Route, webroot: &str) -> Finding {
    let port = cx.dial_port();
    let wanted = webconf::select::trim(&format!("{webroot}{}", webconf::CHALLENGE_DIR));
    let at = r
        .docroot
        .pos
        .as_ref()
        .map_or_else(|| r.server_pos.to_string(), ToString::to_string);
    let f = Finding::new(
        Code::WebrootMismatch,
        Severity::Blocker,
        format!(
            "{} serves the challenge from {}, not from --webroot {webroot}: `{}` at {at}",
            r.software.name(),
            r.docroot.challenge_dir, r.docroot.directive
        ),
    )
    .likely()
    .port(port)
    .detail(format!(
        "The ACME client writes the token to {wanted}/<token>, but the server block that answers {} reads {}/<token>: the CA gets a 404.",
        cx.domain, r.docroot.challenge_dir
    ))
    .evidence(server_line(r))
    .evidence(format!("{at} {}", r.docroot.directive))
    .evidence(format!("--webroot {webroot} → {wanted}"))
    .fix(format!(
        "give the ACME client the webroot {} serves (certbot: `--webroot -w {}`), or {}",
        r.software.name(),
        r.docroot
            .challenge_dir
            .strip_suffix(webconf::CHALLENGE_DIR)
            .unwrap_or(&r.docroot.challenge_dir),
        match r.software {
            Software::Nginx => format!(
                "set `root {webroot};` at {at}, or add `location ^~ /.well-known/acme-challenge/ {{ root {webroot}; }}` to the server block at {}",
                r.server_pos
            ),
            Software::Apache => format!(
                "add `Alias /.well-known/acme-challenge/ {webroot}/.well-known/acme-challenge/` to the vhost at {}",
                r.server_pos
            ),
        }
    ))
    // The file is not where the server looks: a missing file is a 404.
    .ca(ca::status_error(&cx.challenge_url(), &r.dest, 404));
    with_family(f, family)
}

/// The run's judge: reserved addresses as the run allows them, its real token if any.
fn run_judge<'a>(cx: &'a Context) -> Judge<'a> {
    Judge {
        allow_reserved: cx.allow_reserved(),
        token: cx.http01().token.as_ref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    const DEBIAN: &str = include_str!("../../webconf/testdata/debian-nginx-T.txt");

    /// Debian's dump, with the scenario's name substituted for one of its sites.
    fn with_site(site: &str) -> Scenario {
        let dump = DEBIAN.replace(site, "example.test");
        Scenario::dual_stack().nginx_dump(&dump)
    }

    #[test]
    fn certbots_block_without_ipv6_listen_sends_ipv6_to_the_default_site() {
        let s = with_site("shop.example.com").http("2001:db8::10", 404, None);
        let found = WebConfig.detect(&s.context());
        assert!(
            matches!(found.first(), Some(Found::MissingIpv6Listen { .. })),
            "{found:?}"
        );
        let f = WebConfig.word(&s.context(), &found[0]);
        assert_eq!(
            (f.code, f.family, f.port),
            (Code::VhostMissingIpv6Listen, Some(Family::Ipv6), Some(80))
        );
        assert!(
            f.title.contains("/etc/nginx/sites-enabled/default:23"),
            "{}",
            f.title
        );
        assert!(
            f.fix[0].contains("/etc/nginx/sites-enabled/shop:13"),
            "{}",
            f.fix[0]
        );
        assert_eq!(
            f.ca_error.as_deref(),
            Some(
                "2001:db8::10: Invalid response from http://example.test/.well-known/acme-challenge/<token>: 404"
            )
        );
        // IPv4 meets certbot's redirect to https: a warning, at its line.
        let redirect = found
            .iter()
            .map(|e| WebConfig.word(&s.context(), e))
            .find(|f| f.code == Code::ChallengeLocationShadowed)
            .unwrap();
        assert_eq!(
            (redirect.severity, redirect.family),
            (Severity::Warning, Some(Family::Ipv4))
        );
        assert!(
            redirect.title.contains("sites-enabled/shop:20"),
            "{}",
            redirect.title
        );
    }

    #[test]
    fn the_wordpress_hidden_file_rule_shadows_the_challenge_on_both_families() {
        // The blog block listens on IPv4 only; give it the IPv6 listen it lacks.
        let dump = DEBIAN.replace("blog.example.com", "example.test").replace(
            "        listen 80;\n        ## Your website",
            "        listen 80;\n        listen [::]:80;\n        ## Your website",
        );
        let s = Scenario::dual_stack()
            .nginx_dump(&dump)
            .http("192.0.2.10", 403, None);
        let found = WebConfig.detect(&s.context());
        assert_eq!(found.len(), 1, "{found:?}");
        let f = WebConfig.word(&s.context(), &found[0]);
        assert_eq!(
            (f.code, f.severity, f.family),
            (Code::ChallengeLocationShadowed, Severity::Blocker, None)
        );
        // Line 16 of the recipe, one lower for the added listen.
        assert!(
            f.title.contains("/etc/nginx/sites-enabled/blog:17"),
            "{}",
            f.title
        );
        assert!(
            f.evidence.iter().any(|e| e.contains("location ~ /\\.")),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn a_webroot_other_than_the_served_root_is_a_mismatch() {
        let s = Scenario::dual_stack()
            .nginx_dump(&DEBIAN.replace("/var/www/html", "/srv/site"))
            .webroot("/var/www/html");
        let found = WebConfig.detect(&s.context());
        assert_eq!(found.len(), 1, "{found:?}");
        let f = WebConfig.word(&s.context(), &found[0]);
        assert_eq!((f.code, f.family), (Code::WebrootMismatch, None));
        assert!(
            f.title.contains("/etc/nginx/sites-enabled/default:"),
            "{}",
            f.title
        );
        // The same webroot is no finding.
        let s = Scenario::dual_stack()
            .nginx_dump(DEBIAN)
            .webroot("/var/www/html/");
        assert!(WebConfig.detect(&s.context()).is_empty());
    }

    #[test]
    fn nothing_is_said_off_the_host_or_when_another_server_holds_the_port() {
        // nginx installed, its configuration readable, but nothing listens on port 80.
        let s = with_site("shop.example.com").listeners(vec![]);
        assert!(WebConfig.detect(&s.context()).is_empty());
        let s = with_site("shop.example.com").not_on_host();
        assert!(WebConfig.detect(&s.context()).is_empty());
        let s = with_site("shop.example.com").listeners(vec![crate::facts::Listener {
            family: Family::Ipv4,
            address: "0.0.0.0".parse().unwrap(),
            port: 80,
            v6only: None,
            process: Some(crate::facts::Process {
                pid: 7,
                name: "apache2".into(),
            }),
        }]);
        assert!(WebConfig.detect(&s.context()).is_empty());
    }

    /// `apache2ctl -S` on Debian 12 with the default site and one more, and the port-80 vhost
    /// `certbot --apache --redirect` leaves (its three Rewrite lines).
    const DASH_S: &str = r#"VirtualHost configuration:
*:80                   is a NameVirtualHost
         default server 127.0.1.1 (/etc/apache2/sites-enabled/000-default.conf:1)
         port 80 namevhost 127.0.1.1 (/etc/apache2/sites-enabled/000-default.conf:1)
         port 80 namevhost example.test (/etc/apache2/sites-enabled/shop.conf:1)
ServerRoot: "/etc/apache2"
Main DocumentRoot: "/var/www/html"
"#;
    const SHOP: &str = "<VirtualHost *:80>\n\tServerName example.test\n\tDocumentRoot /var/www/shop\nRewriteEngine on\nRewriteCond %{SERVER_NAME} =example.test\nRewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n</VirtualHost>\n";

    #[test]
    fn apaches_vhost_is_read_too() {
        let s = Scenario::dual_stack()
            .apache(DASH_S, &[("/etc/apache2/sites-enabled/shop.conf", SHOP)])
            .webroot("/var/www/html");
        let found = WebConfig.detect(&s.context());
        // certbot's redirect on both families, one finding; no mismatch judged behind it.
        assert_eq!(found.len(), 1, "{found:?}");
        let f = WebConfig.word(&s.context(), &found[0]);
        assert_eq!(
            (f.code, f.severity, f.family),
            (Code::ChallengeLocationShadowed, Severity::Warning, None)
        );
        assert!(f.title.starts_with("Apache does not serve"), "{}", f.title);
        assert!(
            f.title.contains("/etc/apache2/sites-enabled/shop.conf:6"),
            "{}",
            f.title
        );
        // Without the redirect, the DocumentRoot is compared with the webroot.
        let plain = SHOP.replace("RewriteRule", "#RewriteRule");
        let s = Scenario::dual_stack()
            .apache(DASH_S, &[("/etc/apache2/sites-enabled/shop.conf", &plain)])
            .webroot("/var/www/html");
        let found = WebConfig.detect(&s.context());
        let f = WebConfig.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::WebrootMismatch);
        assert!(
            f.title.contains("/etc/apache2/sites-enabled/shop.conf:3"),
            "{}",
            f.title
        );
        assert!(
            f.fix[0].contains("Alias /.well-known/acme-challenge/ /var/www/html/"),
            "{}",
            f.fix[0]
        );
    }

    /// The reasons a scenario's run is incomplete for a web server's configuration.
    fn unread(s: &Scenario) -> Vec<String> {
        let cx = s.context();
        crate::diagnose::diagnose(cx.run, cx.target)
            .incomplete_reasons
            .into_iter()
            .filter(|r| r.contains("configuration could not be read"))
            .collect()
    }

    #[test]
    fn an_nginx_configuration_that_cannot_be_read_is_incomplete_never_a_pass() {
        // Debian's dump, with a site whose Lua block never ends.
        let broken = format!(
            "{DEBIAN}\n# configuration file /etc/nginx/conf.d/lua.conf:\nserver {{\n  listen 8080;\n  location / {{ content_by_lua_block {{ ngx.say(\"}}\")\n"
        );
        let s = with_site("shop.example.com").nginx_dump(&broken);
        assert!(WebConfig.detect(&s.context()).is_empty());
        let reasons = unread(&s);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].starts_with("nginx's configuration could not be read (/usr/sbin/nginx -T: stopped at /etc/nginx/conf.d/lua.conf:3: ")
                && reasons[0].ends_with("its server and location choice was not judged"),
            "{}",
            reasons[0]
        );
        // `nginx -T` itself failing while nginx holds the port.
        let s = Scenario::dual_stack().nginx_unread(Unknown::TimedOut {
            program: "/usr/sbin/nginx".into(),
            after_ms: 5000,
        });
        let reasons = unread(&s);
        assert!(
            reasons.len() == 1 && reasons[0].contains("did not finish within 5 s"),
            "{reasons:?}"
        );
        // Not on this host, or another program holds the port: nothing is said.
        let s = with_site("shop.example.com")
            .nginx_dump(&broken)
            .not_on_host();
        assert!(unread(&s).is_empty());
        let mut caddy = crate::diagnose::testkit::listener("0.0.0.0", None);
        if let Some(p) = &mut caddy.process {
            p.name = "caddy".into();
        }
        let s = with_site("shop.example.com")
            .nginx_dump(&broken)
            .listeners(vec![caddy]);
        assert!(unread(&s).is_empty());
        // Hostile text in the dump's paths reaches no output raw.
        let s = Scenario::dual_stack()
            .nginx_dump("# configuration file /etc/nginx/\u{1b}[2J\u{202e}.conf:\nhttp {\n");
        let reasons = unread(&s);
        assert!(
            reasons.len() == 1 && !reasons[0].contains(['\u{1b}', '\u{202e}']),
            "{reasons:?}"
        );
    }

    #[test]
    fn an_apache_vhost_that_cannot_be_followed_is_incomplete_never_a_pass() {
        let shop = "/etc/apache2/sites-enabled/shop.conf";
        // The answering vhost's file was not read.
        let s = Scenario::dual_stack()
            .apache(DASH_S, &[])
            .webroot("/var/www/html");
        assert!(WebConfig.detect(&s.context()).is_empty());
        let reasons = unread(&s);
        assert!(
            reasons.len() == 1
                && reasons[0].starts_with("Apache's configuration could not be read (apache2ctl -S: stopped at /etc/apache2/sites-enabled/shop.conf:1: the file of the VirtualHost that answers was not read)"),
            "{reasons:?}"
        );
        // Cut short before </VirtualHost>.
        let cut = &SHOP[..SHOP.find("</VirtualHost>").unwrap()];
        let s = Scenario::dual_stack()
            .apache(DASH_S, &[(shop, cut)])
            .webroot("/var/www/html");
        let reasons = unread(&s);
        assert!(
            reasons.len() == 1
                && reasons[0].contains("shop.conf:6: the file ends before </VirtualHost>"),
            "{reasons:?}"
        );
        // Over the cap of directives in one vhost.
        let huge = SHOP.replace("RewriteEngine on\n", &"Header set X-A b\n".repeat(10_001));
        let s = Scenario::dual_stack()
            .apache(DASH_S, &[(shop, &huge)])
            .webroot("/var/www/html");
        let reasons = unread(&s);
        assert!(
            reasons.len() == 1 && reasons[0].contains("(cap: 10000 directives per VirtualHost)"),
            "{reasons:?}"
        );
    }

    /// The "redirect to port 8080" of the lab: a redirect alone is a warning, but where the
    /// answer met is one the CA refuses, the directive is the blocker, in the CA's words.
    #[test]
    fn a_redirect_the_ca_refuses_makes_its_line_the_blocker() {
        let dump = "# configuration file /etc/nginx/nginx.conf:\nhttp {\n  server {\n    listen 80;\n    listen [::]:80;\n    root /var/www/html;\n    location /.well-known/acme-challenge/ { return 301 http://$host:8080$request_uri; }\n  }\n}\n";
        let target = "http://example.test:8080/.well-known/acme-challenge/T";
        let s = Scenario::dual_stack().nginx_dump(dump);
        let found = WebConfig.detect(&s.context());
        assert_eq!(found.len(), 1);
        assert_eq!(
            WebConfig.word(&s.context(), &found[0]).severity,
            Severity::Warning
        );
        let s = s
            .http("2001:db8::10", 301, Some(target))
            .http("192.0.2.10", 301, Some(target));
        let f = WebConfig.word(&s.context(), &WebConfig.detect(&s.context())[0]);
        assert_eq!((f.severity, f.family), (Severity::Blocker, None));
        assert!(f.title.contains("/etc/nginx/nginx.conf:6"), "{}", f.title);
        let ca = f.ca_error.unwrap();
        assert!(
            ca.starts_with("2001:db8::10: Fetching http://example.test:8080/"),
            "{ca}"
        );
        // Ranked above the bad-redirect findings it explains.
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        assert_eq!(d.findings[0].code, Code::ChallengeLocationShadowed);
        assert!(d.findings[0].explains.contains(&Code::BadRedirect));
    }

    /// nginx in a container (the official image's layout) with the dotfile rule above the
    /// challenge's prefix location, as in https://github.com/uselagoon/lagoon-images/issues/650.
    mod container {
        use super::*;
        use crate::diagnose::testkit::listener;
        use crate::facts::{ContainerFacts, Listener, NginxConfig, Process};
        use crate::firewall::nat::tests::{docker_firewall, docker_runtime};

        const INSIDE: &str = "# configuration file /etc/nginx/nginx.conf:\nevents {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n\n# configuration file /etc/nginx/conf.d/default.conf:\nserver {\n    listen 80;\n    server_name example.test;\n    root /usr/share/nginx/html;\n    location ~ /\\. {\n        deny all;\n    }\n    location /.well-known/acme-challenge/ {\n        root /var/www/certbot;\n    }\n}\n";

        fn runtime(nginx: Option<Probed<NginxConfig>>) -> ContainerFacts {
            let mut r = docker_runtime(vec![80], Some(80));
            if let Probed::Known(cs) = &mut r.containers {
                cs[0].nginx = nginx;
            }
            r
        }

        fn read(dump: &str) -> Option<Probed<NginxConfig>> {
            Some(Probed::Known(NginxConfig {
                command: "read through /proc/10029/root (container web)".into(),
                dump: dump.into(),
            }))
        }

        fn docker_proxy(address: &str) -> Listener {
            Listener {
                process: Some(Process {
                    pid: 9984,
                    name: "docker-proxy".into(),
                }),
                ..listener(address, None)
            }
        }

        /// The host's own nginx serves the challenge well: it must not be what is judged.
        const HOST_OK: &str = "# configuration file /etc/nginx/nginx.conf:\nhttp {\n  server {\n    listen 80;\n    listen [::]:80;\n    root /var/www/html;\n  }\n}\n";

        #[test]
        fn the_containers_nginx_is_judged_with_its_own_file_and_line() {
            // Docker's default: the DNAT for IPv4, docker-proxy on [::]:80 for IPv6.
            let s = Scenario::dual_stack()
                .nginx_dump(HOST_OK)
                .firewall(docker_firewall(""))
                .containers(runtime(read(INSIDE)))
                .listeners(vec![docker_proxy("0.0.0.0"), docker_proxy("::")])
                .http("2001:db8::10", 403, None)
                .http("192.0.2.10", 403, None);
            let cx = s.context();
            let found = WebConfig.detect(&cx);
            // Both families meet the same line: one finding.
            let [f @ Found::Shadowed { family: None, .. }] = &found[..] else {
                panic!("{found:?}");
            };
            let f = WebConfig.word(&cx, f);
            assert_eq!(
                (f.code, f.severity),
                (Code::ChallengeLocationShadowed, Severity::Blocker)
            );
            assert!(
                f.title.contains(
                    "nginx in container web does not serve the challenge from a file: `deny all;` at container web:/etc/nginx/conf.d/default.conf:6"
                ),
                "{}",
                f.title
            );
            assert!(
                f.fix[0].contains("docker exec web nginx -s reload"),
                "{:?}",
                f.fix
            );
            assert!(f.ca_error.unwrap().contains("403"));
            let d = crate::diagnose::diagnose(cx.run, cx.target);
            assert_eq!(d.findings[0].code, Code::ChallengeLocationShadowed);
        }

        #[test]
        fn a_dnat_alone_routes_into_the_container_and_ipv6_is_left_to_the_host() {
            // userland-proxy off: IPv4 by the DNAT, IPv6 reaches nothing (no host socket).
            let s = Scenario::dual_stack()
                .nginx_dump(HOST_OK)
                .firewall(docker_firewall(""))
                .containers(runtime(read(INSIDE)))
                .listeners(vec![]);
            let found = WebConfig.detect(&s.context());
            let [Found::Shadowed { family, route, .. }] = &found[..] else {
                panic!("{found:?}");
            };
            assert_eq!(*family, Some(Family::Ipv4));
            assert_eq!(route.container.as_deref(), Some("web"));
            // The route is keyed by the published address, where the CA's answer was met.
            assert_eq!(route.dest, "192.0.2.10".parse::<IpAddr>().unwrap());
        }

        #[test]
        fn an_unreadable_nginx_in_the_container_leaves_the_run_incomplete() {
            let why = Unknown::PermissionDenied {
                program: "/proc/10029/root/etc/nginx/nginx.conf".into(),
                message: "Permission denied".into(),
            };
            let s = Scenario::dual_stack()
                .nginx_dump(HOST_OK)
                .firewall(docker_firewall(""))
                .containers(runtime(Some(Probed::Unknown(why))))
                .listeners(vec![docker_proxy("0.0.0.0"), docker_proxy("::")]);
            let err = routes(&s.context()).unwrap_err();
            assert!(
                err.starts_with("container web: nginx's configuration could not be read"),
                "{err}"
            );
            // A container that runs no nginx: nothing judged, and not the host's nginx either.
            let s = Scenario::dual_stack()
                .nginx_dump(&HOST_OK.replace("root /var/www/html;", "return 404;"))
                .firewall(docker_firewall(""))
                .containers(runtime(None))
                .listeners(vec![docker_proxy("0.0.0.0"), docker_proxy("::")]);
            assert!(WebConfig.detect(&s.context()).is_empty());
        }
    }
}
