//! Entry points for fuzzing: each takes arbitrary bytes and drives one parser or judge the way
//! acme-doctor drives it, rendering what comes out. Shared by the `fuzz/` crate (libFuzzer,
//! nightly) and the property tier of `cargo test` (`tests/properties.rs`, stable). Any panic
//! here is a bug; any error is a normal outcome.

use crate::diagnose::firewall::model::{Packet, Ruleset};
use crate::diagnose::{self, firewall};
use crate::facts::{
    Family, FirewallFacts, Http01Facts, HttpFact, HttpOutcome, IptablesBackend, MethodFacts,
    ProbeOptions, Probed, Resolver, RunFacts, Target, TargetFacts,
};
use crate::render::{self, Outcome, Palette};
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
    let palette = Palette { enabled: true };
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
pub fn domain(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = crate::domain::parse(&text);
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
        },
        elapsed_ms: 1,
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
            method: MethodFacts::Http01(Http01Facts {
                connects: vec![connect],
                http: vec![fact],
                ..Http01Facts::default()
            }),
            caa: None,
            dnssec: Vec::new(),
            authoritative: None,
            vantages: Vec::new(),
            certificate: None,
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
