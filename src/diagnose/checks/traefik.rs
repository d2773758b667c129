//! Traefik in front on port 80: which router takes the CA's plain-HTTP request for the
//! challenge, read from the static configuration, the file provider's dynamic configuration
//! and the containers' `traefik.*` labels (`crate::webconf::traefik`). Issue 20 item 6.
//!
//! Code: `traefik-challenge-router`.

use crate::diagnose::ca;
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{HttpOutcome, Method, Probed};
use crate::firewall::nat;
use crate::probe::traefik_config::flatten;
use crate::webconf::traefik::{self, Catch, Dynamic, Static};

pub const CHECK: CheckDef = CheckDef {
    name: "traefik-challenge-router",
    codes: &[Code::TraefikChallengeRouter],
    methods: &[Method::Http01],
    run: |cx, out| run_check(&TraefikRouter, cx, out),
};

pub struct TraefikRouter;

/// The port the CA's HTTP-01 request comes to.
const PORT: u16 = 80;
const PROBE_PATH: &str = "/.well-known/acme-challenge/acme-doctor-token";

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The entry point of port 80 has `http.tls`.
    TlsEntryPoint { entry_point: String, at: String },
    /// Traefik's own solver takes every challenge path on the entry point, and no router
    /// with that resolver covers the name.
    InternalSolver {
        entry_point: String,
        resolver: String,
        at: String,
    },
    /// The entry point redirects every request (`http.redirections.entryPoint.to`).
    EntryPointRedirect {
        entry_point: String,
        to: String,
        at: String,
    },
    /// The router that takes the request redirects it (a `redirectScheme` middleware).
    RouterRedirect {
        entry_point: String,
        router: String,
        middleware: String,
        at: String,
    },
    /// Only TLS routers match the name on the entry point: the plain request is not taken.
    OnlyTls {
        entry_point: String,
        router: String,
        at: String,
    },
    /// A router whose rule is not evaluated here may take it.
    Unsure {
        entry_point: String,
        router: String,
        at: String,
    },
}

/// Whether Traefik is what answers port 80 here: its process holds it, or a container of a
/// Traefik image receives it. `None` when the listeners are unknown.
fn traefik_answers(cx: &Context) -> Option<bool> {
    let listeners = cx.host.listeners.known()?;
    let by_process = listeners
        .iter()
        .any(|l| l.port == PORT && l.process.as_ref().is_some_and(|p| p.name == "traefik"));
    let in_container =
        |c: &crate::facts::Container| c.image.to_ascii_lowercase().contains("traefik");
    let published = nat::publisher(cx.host, PORT).is_some_and(|c| in_container(&c));
    let dnat = cx.usable(crate::facts::Family::Ipv4).iter().any(|ip| {
        nat::dnat(cx.host, &[*ip], PORT)
            .and_then(|h| h.container)
            .is_some_and(|c| in_container(&c))
    });
    Some(by_process || published || dnat)
}

/// The configuration, read: static and dynamic.
fn configuration(cx: &Context) -> Option<(Static, Dynamic)> {
    let files = cx.host.traefik.as_ref()?;
    let Probed::Known(text) = &files.static_file.text else {
        return None;
    };
    let st = traefik::static_config(&flatten(&files.static_file.path, text));
    let mut dy = Dynamic::default();
    for f in &files.dynamic {
        if let Probed::Known(t) = &f.text {
            traefik::dynamic_config(&flatten(&f.path, t), &mut dy);
        }
    }
    for runtime in &cx.host.containers {
        for c in runtime
            .containers
            .known()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if !c.labels.is_empty() {
                traefik::dynamic_config(&traefik::flatten_labels(&c.name, &c.labels), &mut dy);
            }
        }
    }
    Some((st, dy))
}

/// The entry points that receive port 80: `:80`, or the container port a Traefik container
/// publishes host port 80 to.
fn entry_points_of_80<'a>(cx: &Context, st: &'a Static) -> Vec<&'a traefik::EntryPoint> {
    let forwarded: Option<u16> = nat::publisher(cx.host, PORT).and_then(|c| {
        c.ports
            .iter()
            .find(|p| p.protocol == "tcp" && p.host_port == Some(PORT))
            .map(|p| p.container_port)
    });
    st.entry_points
        .iter()
        .filter(|e| e.port == Some(PORT) || (e.port.is_some() && e.port == forwarded))
        .collect()
}

impl Check for TraefikRouter {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        if cx.on_host() != Some(true) || traefik_answers(cx) == Some(false) {
            return Vec::new();
        }
        let Some((st, dy)) = configuration(cx) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for ep in entry_points_of_80(cx, &st) {
            let entry_point = ep.name.clone();
            if let Some(at) = &ep.tls {
                found.push(Found::TlsEntryPoint {
                    entry_point,
                    at: at.clone(),
                });
                continue;
            }
            let catch = traefik::catch(&st, &dy, &ep.name, cx.domain, PROBE_PATH);
            if let Catch::Internal { resolver, at } = &catch {
                // Traefik answers tokens of its own orders: fine when a router of that
                // resolver covers the name.
                let own = dy.routers.iter().any(|r| {
                    r.cert_resolver.as_deref() == Some(*resolver)
                        && traefik::rule_matches(&r.rule.text, cx.domain, "/") == Some(true)
                });
                if !own {
                    found.push(Found::InternalSolver {
                        entry_point,
                        resolver: resolver.to_string(),
                        at: at.at.clone(),
                    });
                }
                continue;
            }
            if let Some(to) = &ep.redirect_to {
                found.push(Found::EntryPointRedirect {
                    entry_point,
                    to: to.text.clone(),
                    at: to.at.clone(),
                });
                continue;
            }
            match catch {
                Catch::Router(r) => {
                    if let Some((m, v)) = r
                        .middlewares
                        .iter()
                        .find_map(|m| dy.redirects.get(m).map(|v| (m, v)))
                    {
                        found.push(Found::RouterRedirect {
                            entry_point,
                            router: r.name.clone(),
                            middleware: m.clone(),
                            at: v.at.clone(),
                        });
                    }
                }
                Catch::Unsure(r) => found.push(Found::Unsure {
                    entry_point,
                    router: r.name.clone(),
                    at: r.rule.at.clone(),
                }),
                Catch::Nothing => {
                    if let Some(r) = dy.routers.iter().find(|r| {
                        r.on(&ep.name)
                            && r.tls.is_some()
                            && traefik::rule_matches(&r.rule.text, cx.domain, PROBE_PATH)
                                == Some(true)
                    }) {
                        found.push(Found::OnlyTls {
                            entry_point,
                            router: r.name.clone(),
                            at: r.tls.clone().unwrap_or_else(|| r.rule.at.clone()),
                        });
                    }
                }
                Catch::Internal { .. } => {}
            }
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let (severity, title, fix) = match found {
            Found::TlsEntryPoint { entry_point, at } => (
                Severity::Blocker,
                format!(
                    "Traefik's entry point {entry_point} on port 80 has http.tls ({at}): every router on it takes TLS only, and the CA's plain-HTTP request for the challenge gets 404"
                ),
                format!(
                    "remove `http.tls` from entryPoints.{entry_point} ({at}) and set TLS on the HTTPS entry point or its routers, then restart Traefik"
                ),
            ),
            Found::InternalSolver {
                entry_point,
                resolver,
                at,
            } => (
                Severity::Warning,
                format!(
                    "Traefik's own ACME solver (resolver {resolver}, httpChallenge.entryPoint {entry_point} at {at}) takes every /.well-known/acme-challenge/ request on port 80, and no router of that resolver covers {}: a token written by another ACME client is never served",
                    cx.domain
                ),
                format!(
                    "renew {} with Traefik's resolver {resolver} (a router with `tls.certresolver: {resolver}` and a rule for the name), or move httpChallenge off entry point {entry_point}",
                    cx.domain
                ),
            ),
            Found::EntryPointRedirect {
                entry_point,
                to,
                at,
            } => (
                Severity::Warning,
                format!(
                    "Traefik's entry point {entry_point} on port 80 redirects every request to {to} ({at}), the challenge included"
                ),
                format!(
                    "exempt the challenge: a router on {entry_point} with `rule: Host(`{}`) && PathPrefix(`/.well-known/acme-challenge/`)` and a high priority, or make sure the HTTPS router serves the token",
                    cx.domain
                ),
            ),
            Found::RouterRedirect {
                entry_point,
                router,
                middleware,
                at,
            } => (
                Severity::Warning,
                format!(
                    "Traefik's router {router} takes the challenge on entry point {entry_point} (port 80) and its middleware {middleware} redirects it to HTTPS ({at})"
                ),
                format!(
                    "add a router on {entry_point} for `Host(`{}`) && PathPrefix(`/.well-known/acme-challenge/`)` without the redirect, with a priority above {router}'s",
                    cx.domain
                ),
            ),
            Found::OnlyTls {
                entry_point,
                router,
                at,
            } => (
                Severity::Blocker,
                format!(
                    "Traefik's router {router} for {} on entry point {entry_point} (port 80) is a TLS router ({at}): the CA's plain-HTTP request for the challenge is taken by no router and gets 404",
                    cx.domain
                ),
                format!(
                    "add a router without TLS on {entry_point} for `Host(`{}`) && PathPrefix(`/.well-known/acme-challenge/`)`, pointing to the service that holds the token",
                    cx.domain
                ),
            ),
            Found::Unsure {
                entry_point,
                router,
                at,
            } => (
                Severity::Warning,
                format!(
                    "Traefik's router {router} ({at}) may take the challenge on entry point {entry_point} (port 80): its rule uses a matcher acme-doctor does not evaluate"
                ),
                format!(
                    "check that router {router} serves /.well-known/acme-challenge/ for {}",
                    cx.domain
                ),
            ),
        };
        let mut f = Finding::new(Code::TraefikChallengeRouter, severity, title)
            .port(PORT)
            .detail("Traefik picks, on the entry point that receives port 80, the router of highest priority whose rule matches the request; its own ACME solver (acme-http@internal) and an entry point's redirection come before every router, and a TLS router never takes a plain-HTTP request.")
            .fix(fix);
        if severity == Severity::Warning {
            f = f.likely();
        }
        // The answer this run met on port 80, in the CA's words, when it was not the token.
        let met = cx
            .usable(crate::facts::Family::Ipv6)
            .iter()
            .chain(cx.usable(crate::facts::Family::Ipv4))
            .find_map(|ip| match &cx.http(ip)?.outcome {
                HttpOutcome::Response { status, .. } if *status != 200 => Some((*ip, *status)),
                _ => None,
            });
        if let Some((ip, status)) = met {
            if severity == Severity::Warning && status == 404 {
                f.severity = Severity::Blocker;
            }
            f = f.ca(ca::status_error(&cx.challenge_url(), &ip, status));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::{Scenario, listener};
    use crate::facts::{ConfigFile, Listener, Process, TraefikFiles};

    fn traefik_on_80() -> Vec<Listener> {
        ["0.0.0.0", "::"]
            .iter()
            .map(|a| Listener {
                process: Some(Process {
                    pid: 77,
                    name: "traefik".into(),
                }),
                ..listener(a, None)
            })
            .collect()
    }

    fn with(static_yml: &str, dynamic: &[(&str, &str)]) -> Scenario {
        Scenario::dual_stack()
            .listeners(traefik_on_80())
            .traefik(TraefikFiles {
                static_file: ConfigFile {
                    path: "/etc/traefik/traefik.yml".into(),
                    text: Probed::Known(static_yml.into()),
                },
                dynamic: dynamic
                    .iter()
                    .map(|(p, t)| ConfigFile {
                        path: p.to_string(),
                        text: Probed::Known(t.to_string()),
                    })
                    .collect(),
            })
    }

    /// The static file of https://github.com/traefik/traefik/issues/7883.
    const ISSUE_7883: &str = "entryPoints:\n  web:\n    address: \":80\"\n    http:\n      tls:\n        certResolver: letsencrypt\n  websecure:\n    address: \":443\"\n\ncertificatesResolvers:\n  letsencrypt:\n    acme:\n      storage: /etc/traefik/acme.json\n      httpChallenge:\n        entryPoint: web\n";

    #[test]
    fn tls_on_the_port_80_entry_point_is_the_blocker_of_issue_7883() {
        let s = with(ISSUE_7883, &[]).http("2001:db8::10", 404, None);
        let cx = s.context();
        let found = TraefikRouter.detect(&cx);
        assert_eq!(
            found,
            [Found::TlsEntryPoint {
                entry_point: "web".into(),
                at: "/etc/traefik/traefik.yml:5".into()
            }]
        );
        let f = TraefikRouter.word(&cx, &found[0]);
        assert_eq!(
            (f.code, f.severity, f.port),
            (Code::TraefikChallengeRouter, Severity::Blocker, Some(80))
        );
        assert!(f.ca_error.unwrap().contains("404"));
        // Not Traefik on port 80: nothing said.
        let s = with(ISSUE_7883, &[]);
        let s = s.listeners(vec![listener("0.0.0.0", None)]);
        assert!(TraefikRouter.detect(&s.context()).is_empty());
    }

    /// A file provider directory (the documentation's shape): a TLS router for the name on
    /// `web`, and nothing else; then the same with a plain router redirecting by middleware.
    #[test]
    fn a_tls_router_alone_and_a_redirecting_router_on_web() {
        let st = "entryPoints:\n  web:\n    address: \":80\"\n  websecure:\n    address: \":443\"\nproviders:\n  file:\n    directory: /etc/traefik/dynamic\n";
        let tls_only = "http:\n  routers:\n    app:\n      rule: Host(`example.test`)\n      entryPoints:\n        - web\n        - websecure\n      service: app\n      tls: {}\n";
        let s = with(st, &[("/etc/traefik/dynamic/app.yml", tls_only)]);
        let found = TraefikRouter.detect(&s.context());
        assert_eq!(
            found,
            [Found::OnlyTls {
                entry_point: "web".into(),
                router: "app".into(),
                at: "/etc/traefik/dynamic/app.yml:9".into()
            }]
        );
        let redirect = "[http.routers.app-http]\n  rule = \"Host(`example.test`)\"\n  entryPoints = [\"web\"]\n  middlewares = [\"to-https\"]\n  service = \"app\"\n\n[http.middlewares.to-https.redirectScheme]\n  scheme = \"https\"\n";
        let s = with(st, &[("/etc/traefik/dynamic/app.toml", redirect)]);
        let found = TraefikRouter.detect(&s.context());
        assert_eq!(
            found,
            [Found::RouterRedirect {
                entry_point: "web".into(),
                router: "app-http".into(),
                middleware: "to-https".into(),
                at: "/etc/traefik/dynamic/app.toml:8".into()
            }]
        );
        assert_eq!(
            TraefikRouter.word(&s.context(), &found[0]).severity,
            Severity::Warning
        );
        // A challenge router of its own, longer rule (higher default priority): served.
        let exempt = format!(
            "{redirect}\n[http.routers.acme]\n  rule = \"Host(`example.test`) && PathPrefix(`/.well-known/acme-challenge/`)\"\n  entryPoints = [\"web\"]\n  service = \"certbot\"\n"
        );
        let s = with(st, &[("/etc/traefik/dynamic/app.toml", &exempt)]);
        assert!(TraefikRouter.detect(&s.context()).is_empty());
    }

    /// https://github.com/traefik/traefik/issues/8405: Traefik's httpChallenge on `web`, and a
    /// container (labels from the runtime's API) that renews its own certificate behind it.
    #[test]
    fn traefiks_own_solver_starves_another_client_named_by_labels() {
        let st = "entryPoints:\n  web:\n    address: \":80\"\ncertificatesResolvers:\n  le:\n    acme:\n      httpChallenge:\n        entryPoint: web\n";
        let mut runtime = nat::tests::docker_runtime(vec![80], None);
        if let Probed::Known(cs) = &mut runtime.containers {
            cs[0].labels = [
                ("traefik.enable", "true"),
                ("traefik.http.routers.apache.entrypoints", "web"),
                ("traefik.http.routers.apache.rule", "Host(`example.test`)"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        }
        let s = with(st, &[]).containers(runtime.clone());
        let found = TraefikRouter.detect(&s.context());
        assert!(
            matches!(&found[..], [Found::InternalSolver { resolver, .. }] if resolver == "le"),
            "{found:?}"
        );
        // The same router with Traefik's resolver: Traefik renews the name itself.
        if let Probed::Known(cs) = &mut runtime.containers {
            cs[0].labels.insert(
                "traefik.http.routers.apache.tls.certresolver".into(),
                "le".into(),
            );
        }
        let s = with(st, &[]).containers(runtime);
        assert!(TraefikRouter.detect(&s.context()).is_empty());
    }
}
