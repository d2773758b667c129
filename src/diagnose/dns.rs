//! DNS rules: what the CA's address resolution (`reference/ca-validation.md` §1 "Address
//! resolution") makes of the A and AAAA answers.
//!
//! Codes: `wildcard-needs-dns01`, `dns-nxdomain`, `dns-servfail`, `dns-no-answer`,
//! `no-address-records`, `reserved-address`.

use super::{Code, Context, Finding, Out, Severity};
use crate::facts::{DnsOutcome, Family, Method};

const FAMILIES: [Family; 2] = [Family::Ipv4, Family::Ipv6];

pub fn check(cx: &Context, out: &mut Out) {
    if cx.facts.target.wildcard && cx.facts.target.method == Method::Http01 {
        out.push(wildcard(cx));
    }
    let Some(dns) = &cx.facts.dns else {
        return;
    };
    // Boulder proceeds with whichever family gives usable addresses; only when neither does
    // is a DNS problem fatal (§1: "Only when both fail does the VA return a dns problem").
    let fatal = !cx.has_usable();
    let severity = if fatal {
        Severity::Blocker
    } else {
        Severity::Warning
    };
    let ca_error = if fatal {
        Some(boulder_dns_error(cx))
    } else {
        None
    };
    let with_ca = |f: Finding| match &ca_error {
        Some(text) => f.ca_error(text.clone()),
        None => f,
    };

    let nx: Vec<Family> = FAMILIES
        .into_iter()
        .filter(|f| dns.lookup(*f).outcome == DnsOutcome::NxDomain)
        .collect();
    if !nx.is_empty() {
        let types = nx
            .iter()
            .map(|f| f.record_type())
            .collect::<Vec<_>>()
            .join(" and ");
        let mut finding = Finding::new(
            Code::DnsNxdomain,
            severity,
            format!("{} does not exist in DNS (NXDOMAIN for {types})", cx.domain),
        )
        .detail(
            "The resolver says the name does not exist. The CA cannot find an address to connect to.",
        )
        .fix(format!("check the spelling, then publish an A (and, if the host has IPv6, an AAAA) record for {}", cx.domain))
        .fix(format!("dig +trace {} A   # shows where the delegation breaks", cx.domain));
        for family in &nx {
            finding = finding.evidence(format!(
                "{} {} -> NXDOMAIN ({} via {})",
                cx.domain,
                family.record_type(),
                super::context::duration(dns.lookup(*family).elapsed_ms),
                cx.facts.target.resolver
            ));
        }
        out.push(with_ca(finding));
    }

    for family in FAMILIES {
        let lookup = dns.lookup(family);
        let rtype = family.record_type();
        if let DnsOutcome::ServerFailure { rcode } = &lookup.outcome {
            let finding = Finding::new(
                    Code::DnsServfail,
                    severity,
                    format!("the {rtype} lookup for {} fails with {rcode}", cx.domain),
                )
                .family(family)
                .detail(if fatal {
                    "The domain's nameservers (or its DNSSEC) are broken; the CA's resolvers will fail the same way.".to_string()
                } else {
                    format!("The CA ignores a failing {rtype} lookup while the other family resolves, but a broken nameserver is fragile.")
                })
                .evidence(format!("{} {rtype} -> {rcode} via {}", cx.domain, cx.facts.target.resolver))
                .fix(format!("dig +trace {} {rtype}   # find the nameserver that fails", cx.domain))
                .fix(format!("dig +cd {} {rtype}   # answers with +cd but not without: DNSSEC is broken", cx.domain));
            out.push(with_ca(finding));
        }
    }

    no_answer(cx, out);

    let nodata_everywhere = FAMILIES.into_iter().all(|f| {
        let l = dns.lookup(f);
        matches!(l.outcome, DnsOutcome::NoData | DnsOutcome::Answer) && l.addresses.is_empty()
    });
    if nodata_everywhere {
        out.push(
            Finding::new(
                Code::NoAddressRecords,
                Severity::Blocker,
                format!("{} exists but has no A and no AAAA record", cx.domain),
            )
            .detail("The CA has no address to connect to for the http-01 challenge.")
            .evidence(format!("{} A -> NOERROR, no records", cx.domain))
            .evidence(format!("{} AAAA -> NOERROR, no records", cx.domain))
            .fix(format!(
                "publish an A record (and an AAAA if the server has IPv6) for {}",
                cx.domain
            ))
            .ca_error(boulder_dns_error(cx)),
        );
    }

    if !cx.reserved.is_empty() {
        let mut finding = Finding::new(
            Code::ReservedAddress,
            severity,
            if fatal {
                format!("{} resolves only to reserved addresses, which the CA drops", cx.domain)
            } else {
                format!("{} also publishes reserved addresses; the CA ignores them", cx.domain)
            },
        )
        .detail(if fatal {
            "Private, loopback, link-local and documentation addresses are not reachable from the internet; the CA drops them and finds nothing left.".to_string()
        } else {
            "The CA silently drops reserved addresses and validates against the public ones; the reserved records are useless to anyone outside.".to_string()
        })
        .fix("publish the server's public address; if it sits behind NAT, publish the router's public address and forward port 80")
        .fix("if the private address comes from split-horizon DNS, check what a public resolver answers: dig @1.1.1.1 NAME");
        for (ip, entry) in &cx.reserved {
            finding = finding.family(Family::of(ip)).evidence(format!(
                "{ip} is in {} ({})",
                entry.block,
                entry.boulder_text()
            ));
        }
        if cx
            .reserved
            .iter()
            .map(|(ip, _)| Family::of(ip))
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1
        {
            finding.family = None;
        }
        out.push(with_ca(finding));
    }
}

/// Why the resolver gave no answer at all, or `None` when it answered (even negatively).
fn no_answer_reason(outcome: &DnsOutcome, elapsed_ms: u64) -> Option<String> {
    match outcome {
        DnsOutcome::Refused => Some("refused the query".into()),
        DnsOutcome::Timeout => Some(format!(
            "did not answer within {}",
            super::context::duration(elapsed_ms)
        )),
        DnsOutcome::Error { message } => Some(format!("could not be asked: {message}")),
        _ => None,
    }
}

/// A resolver that does not answer leaves the diagnosis without its first facts: one finding
/// for the families concerned, and the run is incomplete (exit 3).
fn no_answer(cx: &Context, out: &mut Out) {
    let Some(dns) = &cx.facts.dns else {
        return;
    };
    let silent: Vec<(Family, String)> = FAMILIES
        .into_iter()
        .filter_map(|f| {
            let l = dns.lookup(f);
            no_answer_reason(&l.outcome, l.elapsed_ms).map(|why| (f, why))
        })
        .collect();
    let Some((_, why)) = silent.first() else {
        return;
    };
    let types = silent
        .iter()
        .map(|(f, _)| f.record_type())
        .collect::<Vec<_>>()
        .join(" and ");
    let resolver = &cx.facts.target.resolver;
    out.incomplete(format!("no DNS answer for {types} {}", cx.domain));
    let mut finding = Finding::new(
        Code::DnsNoAnswer,
        Severity::Warning,
        format!("the resolver {resolver} {why} ({types} {})", cx.domain),
    )
    .detail("Without this answer acme-doctor cannot tell which addresses the CA will use.")
    .fix(format!(
        "check the resolver: dig @{} {} A",
        resolver_host(resolver),
        cx.domain
    ))
    .fix("or ask another resolver with --resolver IP[:PORT]")
    .fix(format!(
        "dig +trace {} A   # are the domain's own nameservers reachable?",
        cx.domain
    ));
    if let [(family, _)] = silent.as_slice() {
        finding = finding.family(*family);
    }
    for (family, why) in &silent {
        finding = finding.evidence(format!(
            "{} {}: {resolver} {why}",
            cx.domain,
            family.record_type()
        ));
    }
    out.push(finding);
}

/// `192.0.2.53:53` → `192.0.2.53` for a dig command line; the system description as it is.
/// `192.0.2.53:53` or `system (192.0.2.53, …)` → `192.0.2.53`, for a dig command line.
fn resolver_host(resolver: &str) -> String {
    if let Ok(addr) = resolver.parse::<std::net::SocketAddr>() {
        return addr.ip().to_string();
    }
    resolver
        .strip_prefix("system (")
        .and_then(|rest| rest.split([',', ')']).next())
        .map(str::trim)
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map_or_else(|| "RESOLVER".to_string(), str::to_string)
}

fn wildcard(cx: &Context) -> Finding {
    Finding::new(
        Code::WildcardNeedsDns01,
        Severity::Blocker,
        format!("*.{} can only be validated with dns-01, not http-01", cx.domain),
    )
    .detail("CAs offer only DNS-based challenges for wildcard names (RFC 8555 §7.1.3); the authorization has no http-01 challenge.")
    .evidence(format!("asked: {} with http-01", cx.facts.target.input))
    .fix("use dns-01: certbot --preferred-challenges dns with a DNS plugin, acme.sh --dns, lego --dns PROVIDER")
    .fix(format!("or request the plain name {} (http-01 works there)", cx.domain))
}

/// Boulder's `dns` problem detail when no family yields a usable address: the per-family
/// halves joined with "; " in A-then-AAAA order (`reference/ca-validation.md` §1, §6).
pub fn boulder_dns_error(cx: &Context) -> String {
    let Some(dns) = &cx.facts.dns else {
        return String::new();
    };
    FAMILIES
        .into_iter()
        .map(|family| {
            let rtype = family.record_type();
            let d = cx.domain;
            match &dns.lookup(family).outcome {
                DnsOutcome::NxDomain => format!(
                    "DNS problem: NXDOMAIN looking up {rtype} for {d} - check that a DNS record exists for this domain"
                ),
                DnsOutcome::ServerFailure { rcode } if rcode == "SERVFAIL" => format!(
                    "DNS problem: SERVFAIL looking up {rtype} for {d} - the domain's nameservers may be malfunctioning"
                ),
                DnsOutcome::ServerFailure { rcode } => {
                    format!("DNS problem: {rcode} looking up {rtype} for {d}")
                }
                DnsOutcome::Refused => format!("DNS problem: REFUSED looking up {rtype} for {d}"),
                DnsOutcome::Timeout => format!("DNS problem: query timed out looking up {rtype} for {d}"),
                DnsOutcome::Error { .. } => format!("DNS problem: networking error looking up {rtype} for {d}"),
                DnsOutcome::Answer | DnsOutcome::NoData => {
                    format!("no valid {rtype} records found for {d}")
                }
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
