//! Entry points for fuzzing: each takes arbitrary bytes and drives one parser or judge the way
//! acme-doctor drives it, rendering what comes out. Shared by the `fuzz/` crate (libFuzzer,
//! nightly) and the property tier of `cargo test` (`tests/properties.rs`, stable). Any panic
//! here is a bug; any error is a normal outcome.

use crate::facts::{
    Family, FirewallFacts, Http01Facts, HttpFact, HttpOutcome, IptablesBackend, MethodFacts,
    ProbeOptions, Probed, Resolver, RunFacts, Target, TargetFacts,
};
use crate::firewall::model::{Packet, Ruleset};
use crate::render::{self, Outcome, Palette};
use crate::{diagnose, firewall};
use std::net::IpAddr;

/// Renders every target of every run in every output mode.
fn render_all(runs: &[RunFacts]) {
    let outcomes: Vec<Outcome> = runs
        .iter()
        .flat_map(|run| run.targets.iter().map(move |t| (run, t)))
        .enumerate()
        .map(|(index, (run, target))| Outcome {
            run,
            target,
            diagnosis: diagnose::diagnose(run, target),
            index,
        })
        .collect();
    let palette = Palette {
        enabled: true,
        glyphs: render::path::Glyphs::Unicode,
    };
    let _ = render::human::render(&outcomes, &palette, true);
    let _ = render::json::render(&outcomes);
    let _ = render::json::render_ndjson(&outcomes);
    let _ = render::report::render(&outcomes, "acme-doctor --from-facts fuzz");
}

/// A facts file, as `--from-facts` reads it.
pub fn facts_file(bytes: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return;
    };
    if let Ok(runs) = crate::facts::from_json(value) {
        render_all(&runs);
    }
}

fn packets(daddr4: IpAddr, daddr6: IpAddr) -> Vec<Packet> {
    let mut out = Vec::new();
    for (family, daddr) in [(Family::Ipv4, daddr4), (Family::Ipv6, daddr6)] {
        for dport in [80, 443] {
            for iif in [Some("eth0".to_string()), None] {
                out.push(Packet {
                    family,
                    saddr: None,
                    daddr,
                    dport,
                    return_iif: iif.clone(),
                    iif,
                });
            }
        }
    }
    out
}

fn walk(rs: &Ruleset) {
    let v4 = IpAddr::from([192, 0, 2, 10]);
    let v6 = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]);
    for p in packets(v4, v6) {
        let _ = rs.evaluate(&p);
        let _ = rs.accepted_sources(&p);
    }
}

/// A ruleset: the first byte chooses nft JSON (even) or an iptables-save dump (odd).
pub fn ruleset(bytes: &[u8]) {
    let Some((&choice, rest)) = bytes.split_first() else {
        return;
    };
    if choice % 2 == 0 {
        if let Ok(json) = serde_json::from_slice::<serde_json::Value>(rest) {
            let (rs, _) = firewall::nft::ruleset(&json);
            walk(&rs);
            let facts = FirewallFacts {
                nft_netlink: None,
                nft: Probed::Known(json),
                iptables: Vec::new(),
            };
            let (rs, _) = firewall::ruleset(&facts);
            walk(&rs);
        }
    } else {
        let text = String::from_utf8_lossy(rest);
        for family in [Family::Ipv4, Family::Ipv6] {
            for backend in [IptablesBackend::Nft, IptablesBackend::Legacy] {
                walk(&firewall::iptables::ruleset(&text, family, backend));
            }
        }
    }
}

/// A domain name as typed, and a domain list as `-f` reads it.
///
/// Whatever passes the gate is what it claims: a name that a URL parser reads as that very
/// name, or an IP identifier whose text is the address's canonical form and whose URL host is
/// that address (the pin then allows no other).
pub fn domain(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(d) = crate::domain::parse(&text) {
        let url = crate::probe::http::domain_url(&d.ascii, "/");
        match (d.ip, url.as_ref().map(url::Url::host)) {
            (None, Ok(Some(url::Host::Domain(host)))) => assert_eq!(host, d.ascii),
            (Some(IpAddr::V4(ip)), Ok(Some(url::Host::Ipv4(host)))) => {
                assert_eq!(host, ip);
            }
            (Some(IpAddr::V6(ip)), Ok(Some(url::Host::Ipv6(host)))) => {
                assert_eq!(host, ip);
            }
            (ip, other) => panic!("{text:?} passed the gate as {ip:?} but its URL is {other:?}"),
        }
        if let Some(ip) = d.ip {
            assert_eq!(d.ascii, ip.to_string(), "{text:?}");
        }
    }
    let _ = crate::config::domain_list(&text, "fuzz");
}

/// A DNS message as the raw client decodes it.
pub fn dns_answer(bytes: &[u8]) {
    if let Some(answer) = crate::probe::dns_raw::decode_for_fuzzing(bytes) {
        let _ = answer.cname_chain("example.test");
    }
}

/// An HTTP answer to the challenge GET, judged and rendered: status from the first two
/// bytes, then `Location`, `Server` and the body prefix split at NUL bytes.
pub fn http_answer(bytes: &[u8]) {
    let Some((head, rest)) = bytes.split_at_checked(2) else {
        return;
    };
    let status = u16::from_be_bytes([head[0], head[1]]);
    let mut parts = rest.split(|b| *b == 0);
    let mut text = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let location = text();
    let server = text();
    let body = text().unwrap_or_default();
    let address = IpAddr::from([192, 0, 2, 10]);
    let fact = HttpFact {
        address,
        port: 80,
        url: "http://example.test/.well-known/acme-challenge/T".into(),
        outcome: HttpOutcome::Response {
            status,
            server,
            location,
            body_bytes: body.len() as u64,
            body_prefix: body,
            body_truncated: false,
            page: Default::default(),
        },
        elapsed_ms: 1,
        agent: crate::facts::Agent::Ca,
    };
    let connect = crate::facts::ConnectFact {
        address,
        port: 80,
        outcome: crate::facts::ConnectOutcome::Connected,
        elapsed_ms: 1,
    };
    let run = RunFacts {
        facts_version: crate::facts::FACTS_VERSION,
        tool_version: "fuzz".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        options: ProbeOptions {
            timeout_ms: 1000,
            allow_reserved: true,
            ca_issuer: "letsencrypt.org".into(),
            account_uri: None,
            cdn_ranges: None,
        },
        host: crate::probe::host::unknown_host_facts("fuzz"),
        targets: vec![TargetFacts {
            target: Target {
                domain: crate::domain::DomainName {
                    input: "example.test".into(),
                    ascii: "example.test".into(),
                    wildcard: false,
                    ip: None,
                },
                resolver: Resolver::System {
                    servers: Vec::new(),
                },
            },
            dns: Some(crate::facts::DnsFacts {
                a: crate::facts::DnsLookup {
                    outcome: crate::facts::DnsOutcome::Answer,
                    addresses: vec![address],
                    cname_chain: Vec::new(),
                    ttl: None,
                    elapsed_ms: 1,
                    queued_ms: 0,
                    own_limit: false,
                },
                aaaa: crate::facts::DnsLookup {
                    outcome: crate::facts::DnsOutcome::NoData,
                    addresses: Vec::new(),
                    cname_chain: Vec::new(),
                    ttl: None,
                    elapsed_ms: 1,
                    queued_ms: 0,
                    own_limit: false,
                },
            }),
            connects: vec![connect],
            method: MethodFacts::Http01(Http01Facts {
                http: vec![fact],
                ..Http01Facts::default()
            }),
            caa: None,
            dnssec: Vec::new(),
            authoritative: None,
            vantages: Vec::new(),
            certificate: None,
            ca: Vec::new(),
            duration_ms: 1,
        }],
        duration_ms: 1,
    };
    render_all(std::slice::from_ref(&run));
}

/// A web server's configuration: the first byte chooses an `nginx -T` dump (even) or Apache's
/// `-S` output and one vhost file, split at the first NUL (odd); the challenge is routed
/// through it for both families and a few names.
pub fn web_config(bytes: &[u8]) {
    let Some((&choice, rest)) = bytes.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let dests = [
        IpAddr::from([192, 0, 2, 10]),
        IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]),
    ];
    let hosts = ["example.test", "shop.example.com", "a.b.example.org", ""];
    if choice % 2 == 0 {
        let Ok(config) = crate::webconf::nginx::load(&text) else {
            return;
        };
        for dest in dests {
            for host in hosts {
                if let Some(r) = crate::webconf::route(&config, dest, 80, host, "T") {
                    let _ = r.effective_handler();
                }
            }
        }
    } else {
        let (dash_s, file) = text.split_once('\0').unwrap_or((&text, ""));
        for dest in dests {
            for host in hosts {
                let _ = crate::webconf::apache_route(dash_s, |_| Some(file), dest, 80, host, "T");
            }
        }
    }
}

// Lean targets: one parser or judge each, nothing rendered, so libFuzzer reaches millions of
// executions in minutes. The targets above remain for the whole pipeline.

/// The HTTP answer as `probe::http` reads it and `diagnose` judges it, without rendering:
/// status from the first two bytes, then `Location`, `Server` and `WWW-Authenticate` split at
/// NUL bytes, and the rest is the body.
pub fn http_parse(bytes: &[u8]) {
    use crate::diagnose::http01::who;
    let Some((head, rest)) = bytes.split_at_checked(2) else {
        return;
    };
    let status = u16::from_be_bytes([head[0], head[1]]);
    let mut parts = rest.splitn(4, |b| *b == 0);
    // As `read_answer` keeps a header: lossy, sanitised, capped.
    let mut header = || {
        parts
            .next()
            .map(|p| crate::sanitize::line(&String::from_utf8_lossy(p), 200))
    };
    let location = header();
    let server = header();
    let www_authenticate = header();
    let body = parts.next().unwrap_or_default();
    // `read_answer` reads 8 KiB of a body at most.
    let body = &body[..body.len().min(8 * 1024)];
    let head = &body[..body.len().min(crate::ca_limits::MAX_RESPONSE_BODY)];
    let answered = crate::facts::Answered {
        status,
        server,
        location,
        www_authenticate,
        marks: Vec::new(),
        title: crate::probe::http::html_title(body),
        body_head_hex: head.iter().map(|b| format!("{b:02x}")).collect(),
        body_prefix: crate::sanitize::line(
            &String::from_utf8_lossy(&body[..body.len().min(1024)])
                .escape_debug()
                .to_string(),
            2048,
        ),
        body_bytes: body.len() as u64,
        body_sha256: String::new(),
    };
    let _ = who::router(&answered);
    let _ = who::waf(&answered);
    if let Some(server) = &answered.server {
        let _ = crate::cdn::by_server_header(server);
    }
    if let crate::keyauth::Compared::Mismatch { got, .. } =
        crate::keyauth::compare("T.thumbprint", &answered.body_head())
    {
        let _ = crate::keyauth::go_quote(&got);
    }
    if crate::redirect::is_redirect(status)
        && let Some(location) = &answered.location
        && let Ok(from) = url::Url::parse("http://example.test/.well-known/acme-challenge/T")
    {
        let visited = [from.to_string()];
        for allow_reserved in [false, true] {
            let _ = crate::redirect::judge(status, &from, location, 0, &visited, allow_reserved);
        }
    }
}

/// A ruleset, parsed and walked once: the first byte chooses nft JSON (bit 0 clear) or an
/// iptables-save dump (set), whose family (bit 1) and backend (bit 2) it also chooses.
pub fn ruleset_parse(bytes: &[u8]) {
    let Some((&choice, rest)) = bytes.split_first() else {
        return;
    };
    let family = if choice & 2 == 0 {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let daddr = match family {
        Family::Ipv4 => IpAddr::from([192, 0, 2, 10]),
        Family::Ipv6 => IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]),
    };
    let packet = Packet {
        family,
        saddr: None,
        daddr,
        dport: 80,
        iif: Some("eth0".into()),
        return_iif: Some("eth0".into()),
    };
    let rs = if choice & 1 == 0 {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(rest) else {
            return;
        };
        firewall::nft::ruleset(&json).0
    } else {
        let backend = if choice & 4 == 0 {
            IptablesBackend::Nft
        } else {
            IptablesBackend::Legacy
        };
        firewall::iptables::ruleset(&String::from_utf8_lossy(rest), family, backend)
    };
    let _ = rs.evaluate(&packet);
    let _ = rs.accepted_sources(&packet);
}

/// An ACME client's configuration, read through an in-memory filesystem (no disk I/O): the
/// first byte chooses the parser, the rest up to the first NUL is the file, and what follows
/// is served as the certificate (or `acme.json`) at the paths the fixtures' configurations
/// name under `/c`.
pub fn client_config(bytes: &[u8]) {
    use crate::probe::clients::{self, Fs, acmesh, caddy, certbot, lego, traefik};
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    let Some((&choice, rest)) = bytes.split_first() else {
        return;
    };
    let (file, other) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let text = String::from_utf8_lossy(file);
    let path: &Path = Path::new(match choice % 8 {
        0 | 7 => "/c/example.test.conf",
        1 => "/c/example.test/example.test.conf",
        2 => "/c/certificates/example.test.json",
        3 => "/c/crontab",
        4 => "/c/Caddyfile",
        5 => "/c/traefik.yml",
        _ => "/c/acme.json",
    });
    let mut files: HashMap<PathBuf, Vec<u8>> = [
        "/c/cert.pem",
        "/c/example.test/example.test.cer",
        "/c/certificates/example.test.crt",
        "/c/acme.json",
        "/c/lego/certificates/example.test.crt",
        "/var/lib/caddy/.local/share/caddy/certificates/acme/example.test/example.test.crt",
    ]
    .into_iter()
    .map(|p| (PathBuf::from(p), other.to_vec()))
    .collect();
    files.insert(path.to_path_buf(), file.to_vec());
    let mut fs = Fs::in_memory(Path::new("/"), files);
    match choice % 8 {
        0 => certbot::parse_file(&mut fs, path, &text),
        1 => acmesh::parse_file(&mut fs, path, &text),
        2 => lego::parse_json_file(&mut fs, path, &text),
        3 => lego::parse_commands_file(&mut fs, path, &text),
        4 => caddy::parse_file(&mut fs, path, &text),
        5 => traefik::parse_static(&mut fs, path, &text),
        6 => traefik::parse_acme_json(&mut fs, path, &text, None),
        _ => clients::by_content(&mut fs, path, true),
    }
}

/// The two routes a lean web-server target asks for: a name on IPv4, no name on IPv6 (the
/// default server's path).
fn routes() -> [(IpAddr, &'static str); 2] {
    [
        (IpAddr::from([192, 0, 2, 10]), "example.test"),
        (IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10]), ""),
    ]
}

/// An `nginx -T` dump, loaded and the challenge routed through it.
pub fn nginx_config(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let Ok(config) = crate::webconf::nginx::load(&text) else {
        return;
    };
    for (dest, host) in routes() {
        if let Some(r) = crate::webconf::route(&config, dest, 80, host, "T") {
            let _ = r.effective_handler();
        }
    }
}

/// Apache's `-S` output and one vhost file, split at the first NUL: the files it names, and
/// the challenge routed through it.
pub fn apache_config(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let (dash_s, file) = text.split_once('\0').unwrap_or((&text, ""));
    let _ = crate::probe::webconf::vhost_files(dash_s);
    for (dest, host) in routes() {
        if let Ok(Some(r)) =
            crate::webconf::apache_route(dash_s, |_| Some(file), dest, 80, host, "T")
        {
            let _ = r.effective_handler();
        }
    }
}

/// A certificate as `--all` reads it: the first byte chooses PEM or DER bytes (even) or the
/// base64 of a PEM chain as Traefik's acme.json holds it (odd). Even bytes are also read as
/// the leaf a TLS-ALPN-01 server presents, and that certificate judged as the CA judges it
/// (`diagnose::tlsalpn01::verdict`), for a name and for an IP identifier.
pub fn der_walk(bytes: &[u8]) {
    let Some((&choice, rest)) = bytes.split_first() else {
        return;
    };
    if choice % 2 == 0 {
        let _ = crate::probe::clients::cert::read(rest);
        let _ = crate::probe::clients::cert::public_key(rest);
        if let Ok(c) = crate::probe::clients::cert::challenge(rest) {
            use crate::diagnose::tlsalpn01::verdict;
            let digest = c.acme_identifier.as_ref().and_then(|a| a.digest.clone());
            for identifier in [
                verdict::Identifier::Dns("tls.example.test"),
                verdict::Identifier::Ip(IpAddr::from([203, 0, 113, 5])),
            ] {
                let _ = verdict::check_certificate(identifier, &c, digest.as_deref());
            }
            let _ = verdict::alt_names(&c);
        }
    } else {
        let _ = crate::probe::clients::cert::read_base64_pem(&String::from_utf8_lossy(rest));
    }
}

/// The bearer token `serve_request` seeds carry.
pub const SERVE_TOKEN: &str = "fuzz-token";

/// A request head as `serve` receives it: the request line and the headers, taken apart as
/// hyper takes them (method, URI and header names and values through `http`'s own checks),
/// then vetted as `serve` vets it, the client found behind a trusted proxy, and the query
/// parsed whatever the token.
pub fn serve_request(bytes: &[u8]) {
    use hyper::header::{HeaderName, HeaderValue};
    let mut lines = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(request_line) = lines.next() else {
        return;
    };
    let mut parts = request_line.splitn(3, |b| *b == b' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let Ok(method) = hyper::Method::from_bytes(method) else {
        return;
    };
    let Ok(uri) = hyper::Uri::try_from(target) else {
        return;
    };
    let mut headers = hyper::HeaderMap::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            return;
        };
        headers.append(name, value);
    }
    let _ = crate::serve::vet(&method, &uri, &headers, SERVE_TOKEN);
    let _ = crate::serve::parse_ask(uri.query().unwrap_or(""));
    let proxy = IpAddr::from([192, 0, 2, 1]);
    let _ = crate::serve::client_of(proxy, &headers, &[proxy, IpAddr::from([192, 0, 2, 2])]);
}

/// What users paste with `--ca-error` and ACME clients log (issue 19): the CA vocabulary
/// module's parser on the text, then each problem read into its typed observation, as the
/// diagnosis reads it.
pub fn ca_words(bytes: &[u8]) {
    use crate::diagnose::ca::{observe, words};
    let text = String::from_utf8_lossy(bytes);
    let parsed = words::parse(&text);
    for said in &parsed.said {
        let o = observe::of_said(observe::Heard::Pasted, said);
        let _ = o.problem_or_inferred();
        let _ = o.dial_outcome();
        let _ = o.is_about("example.test");
        let _ = crate::sanitize::line(&o.detail, 1000);
    }
}
