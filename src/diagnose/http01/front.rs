//! What stands in front of the server: a CDN or reverse-proxy service whose edge the CA
//! reaches instead of the server, known by the address ranges its operator publishes
//! (`crate::cdn`, shipped with their source and date) and by the `Server` header its edge
//! sends.
//!
//! Code: `proxy-in-front`.

use crate::cdn::{self, Ranges};
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{Family, HttpOutcome, Method};
use std::net::IpAddr;

pub const CHECK: CheckDef = CheckDef {
    name: "front",
    codes: &[Code::ProxyInFront],
    methods: &[Method::Http01],
    run: |cx, out| run_check(&Front, cx, out),
};

pub struct Front;

/// One provider in front of some of the name's addresses.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub provider: String,
    /// Addresses in its published ranges: (address, range, source, as of).
    pub ranges: Vec<(IpAddr, String, String, String)>,
    /// Addresses whose answer named it in `Server`: (address, header).
    pub headers: Vec<(IpAddr, String)>,
}

impl Found {
    fn families(&self) -> Vec<Family> {
        let mut f: Vec<Family> = self
            .ranges
            .iter()
            .map(|r| Family::of(&r.0))
            .chain(self.headers.iter().map(|h| Family::of(&h.0)))
            .collect();
        f.sort();
        f.dedup();
        f
    }
}

impl Check for Front {
    type Evidence = Found;

    fn detect(&self, cx: &Context) -> Vec<Found> {
        let ranges = Ranges::new(cx.run.options.cdn_ranges.as_deref());
        let mut found: Vec<Found> = Vec::new();
        fn entry(found: &mut Vec<Found>, name: &str) -> usize {
            match found.iter().position(|f| f.provider == name) {
                Some(i) => i,
                None => {
                    found.push(Found {
                        provider: name.to_string(),
                        ranges: Vec::new(),
                        headers: Vec::new(),
                    });
                    found.len() - 1
                }
            }
        }
        // IPv6 first, as the CA dials.
        for ip in cx
            .usable(Family::Ipv6)
            .iter()
            .chain(cx.usable(Family::Ipv4))
        {
            if let Some((p, net)) = ranges.lookup(ip) {
                let i = entry(&mut found, &p.name);
                found[i]
                    .ranges
                    .push((*ip, net.to_string(), p.source.clone(), p.as_of.clone()));
            }
            if let Some(h) = cx.http(ip)
                && let HttpOutcome::Response {
                    server: Some(server),
                    ..
                } = &h.outcome
                && let Some(name) = cdn::by_server_header(server)
            {
                let i = entry(&mut found, name);
                found[i].headers.push((*ip, server.clone()));
            }
        }
        found
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let families = found.families();
        let by_range = !found.ranges.is_empty();
        let mut f = Finding::new(
            Code::ProxyInFront,
            Severity::Warning,
            format!(
                "{} answers for {}: the CA validates against {}'s edge, not this server",
                found.provider, cx.domain, found.provider
            ),
        )
        .detail(format!(
            "The CA connects to {0}, which passes the request on to the origin server (or not). HTTP-01 passes only if {0} forwards /.well-known/acme-challenge/ to the origin unchanged on port 80: no redirect the CA cannot follow, no challenge page, no cached answer. What this host shows about itself (its addresses, listeners, firewall) is not what the CA meets.",
            found.provider
        ))
        .evidence_lines(found.ranges.iter().map(|(ip, net, source, as_of)| {
            format!(
                "{} {} {ip} is in {}'s published range {net} ({source}, as of {as_of})",
                cx.domain,
                Family::of(ip).record_type(),
                found.provider
            )
        }))
        .evidence_lines(
            found
                .headers
                .iter()
                .map(|(ip, server)| format!("{ip} answered with Server: {server}")),
        )
        .fix("use dns-01 (the CDN is not in the way), or the CDN's own edge certificate with an origin certificate on the server")
        .fix(format!(
            "or make {} pass /.well-known/acme-challenge/ to the origin over plain HTTP (no \"always use HTTPS\" redirect, no bot challenge, no caching for that path)",
            found.provider
        ))
        .fix("or validate before the CDN is switched on (DNS only, not proxied), then switch it on");
        if let [family] = families.as_slice() {
            f = f.family(*family);
        }
        if !by_range {
            f = f.likely();
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    #[test]
    fn published_cloudflare_addresses_are_a_cdn_in_front() {
        let s = Scenario::dual_stack()
            .a(&["104.16.132.229"])
            .aaaa(&["2606:4700::6810:84e5"]);
        let found = Front.detect(&s.context());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].provider, "Cloudflare");
        let f = Front.word(&s.context(), &found[0]);
        assert_eq!(
            (f.code, f.severity, f.family),
            (Code::ProxyInFront, Severity::Warning, None)
        );
        assert!(f.evidence[0].contains("2606:4700::/32"), "{:?}", f.evidence);
        assert!(
            f.evidence[0].contains("https://www.cloudflare.com/ips-v4"),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn a_cdn_server_header_alone_is_likely() {
        let s = Scenario::dual_stack().http_server("192.0.2.10", 403, "cloudflare");
        let found = Front.detect(&s.context());
        let f = Front.word(&s.context(), &found[0]);
        assert_eq!(f.family, Some(Family::Ipv4));
        assert_eq!(f.certainty, crate::diagnose::Certainty::Likely);
    }

    #[test]
    fn the_lab_override_replaces_the_shipped_ranges() {
        let s = Scenario::dual_stack().cdn_ranges(
            "@provider Lab CDN\n@source https://lab.test/\n@as-of 2026-11-28\n2001:db8::/120\n",
        );
        let found = Front.detect(&s.context());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ranges.len(), 1);
        assert!(Front.detect(&Scenario::dual_stack().context()).is_empty());
    }

    /// Run on the origin behind Cloudflare: the addresses are not this host's, which the CDN
    /// explains.
    #[test]
    fn the_cdn_explains_why_the_addresses_are_not_this_hosts() {
        let s = Scenario::dual_stack()
            .a(&["104.16.132.229"])
            .aaaa(&["2606:4700::6810:84e5"])
            .not_on_host();
        let cx = s.context();
        let d = crate::diagnose::diagnose(cx.run, cx.target);
        let codes: Vec<Code> = d.findings.iter().map(|f| f.code).collect();
        assert_eq!(codes[0], Code::ProxyInFront, "{codes:?}");
        assert!(
            d.findings[0].explains.contains(&Code::NotOnHost),
            "{codes:?}"
        );
    }
}
