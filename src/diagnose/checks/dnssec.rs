//! DNSSEC: a validating resolver answers SERVFAIL for a name whose signatures do not verify.
//! The same question with the CD (checking disabled) bit then gets an answer: the data is
//! there, only its chain of trust is broken (`docs/ca-behaviour.md` §4.5, §7.3).
//!
//! Code: `dnssec-bogus`.

use crate::diagnose::ca;
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::facts::{CdRetry, ChainFacts, DnsOutcome, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "dnssec",
    codes: &[Code::DnssecBogus],
    methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Dnssec, cx, out),
};

pub struct Dnssec;

/// What the chain of trust shows, when it shows something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Every signature over the record expired before the facts were taken.
    Expired {
        at: u64,
    },
    NotYetValid {
        from: u64,
    },
    /// The parent's DS records name keys the zone does not have.
    DsWithoutKey {
        ds: Vec<u16>,
        keys: Vec<u16>,
    },
}

/// Reads the chain of trust as a validator would, in the order that explains most.
pub fn read_chain(chain: &ChainFacts) -> Option<Why> {
    let now = chain.fetched_at;
    if !chain.ds_tags.is_empty() && !chain.ds_tags.iter().any(|t| chain.dnskey_tags.contains(t)) {
        return Some(Why::DsWithoutKey {
            ds: chain.ds_tags.clone(),
            keys: chain.dnskey_tags.clone(),
        });
    }
    if !chain.rrsigs.is_empty() && chain.rrsigs.iter().all(|r| r.expiration < now) {
        return chain
            .rrsigs
            .iter()
            .map(|r| r.expiration)
            .max()
            .map(|at| Why::Expired { at });
    }
    if !chain.rrsigs.is_empty() && chain.rrsigs.iter().all(|r| r.inception > now) {
        return chain
            .rrsigs
            .iter()
            .map(|r| r.inception)
            .min()
            .map(|from| Why::NotYetValid { from });
    }
    None
}

/// EDE codes that mean DNSSEC validation failed (RFC 8914 §4: 1, 2, 5–12).
fn dnssec_ede(code: u16) -> bool {
    matches!(code, 1 | 2 | 5..=12)
}

impl Check for Dnssec {
    /// The retries that prove it, one finding for all.
    type Evidence = Vec<CdRetry>;

    fn detect(&self, cx: &Context) -> Vec<Vec<CdRetry>> {
        let bogus: Vec<CdRetry> = cx
            .target
            .dnssec
            .iter()
            .filter(|r| {
                matches!(r.with_cd, DnsOutcome::Answer | DnsOutcome::NoData)
                    || r.ede.as_ref().is_some_and(|e| dnssec_ede(e.code))
            })
            .cloned()
            .collect();
        if bogus.is_empty() {
            Vec::new()
        } else {
            vec![bogus]
        }
    }

    fn word(&self, cx: &Context, bogus: &Vec<CdRetry>) -> Finding {
        let first = &bogus[0];
        let why = first
            .ede
            .as_ref()
            .map(|e| ca::ede_summary(e.code))
            .unwrap_or_else(|| "DNSSEC: Bogus".into());
        let mut f = Finding::new(
            Code::DnssecBogus,
            Severity::Blocker,
            format!(
                "DNSSEC validation fails for {} ({why}): validating resolvers, the CA's among them, answer SERVFAIL",
                first.name
            ),
        )
        .likely()
        .detail("The records exist (asked with DNSSEC checking disabled, the resolver answers), but their signatures do not verify up the chain of trust. The CA's resolvers validate DNSSEC, so for the CA the name fails to resolve. A resolver that does not validate, perhaps the one you test with, sees nothing wrong.");
        for r in bogus {
            f = f.evidence(format!(
                "{} {} via {}: SERVFAIL; with checking disabled (+cd): {}",
                r.name, r.rtype, cx.target.target.resolver, r.with_cd
            ));
            if let Some(e) = &r.ede {
                f = f.evidence(format!(
                    "extended DNS error {}: {}{}",
                    e.code,
                    ca::ede_summary(e.code),
                    if e.text.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", e.text)
                    }
                ));
            }
        }
        let reason = first.chain.as_ref().and_then(read_chain);
        if let Some(chain) = &first.chain {
            let tags = |t: &[u16]| {
                if t.is_empty() {
                    "none".to_string()
                } else {
                    t.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
                }
            };
            f = f
                .evidence(format!(
                    "zone {}: DS key tags at the parent: {}",
                    chain.zone,
                    tags(&chain.ds_tags)
                ))
                .evidence(format!(
                    "zone {}: DNSKEY key tags: {}",
                    chain.zone,
                    tags(&chain.dnskey_tags)
                ));
            for r in &chain.rrsigs {
                f = f.evidence(format!(
                    "RRSIG over {} {} by key {}: valid {} to {}",
                    first.name,
                    first.rtype,
                    r.key_tag,
                    crate::timefmt::unix(r.inception),
                    crate::timefmt::unix(r.expiration)
                ));
            }
        }
        match &reason {
            Some(Why::DsWithoutKey { ds, .. }) => {
                f.title = format!(
                    "DNSSEC validation fails for {}: the DS at the parent (key tag {}) matches no key of the zone",
                    first.name,
                    ds.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
                );
            }
            Some(Why::Expired { at }) => {
                f.title = format!(
                    "DNSSEC validation fails for {}: its signatures expired on {}",
                    first.name,
                    crate::timefmt::unix(*at)
                );
            }
            _ => {}
        }
        let expired = matches!(reason, Some(Why::Expired { .. }))
            || (reason.is_none() && first.ede.as_ref().is_some_and(|e| e.code == 7));
        let early = matches!(reason, Some(Why::NotYetValid { .. }))
            || (reason.is_none() && first.ede.as_ref().is_some_and(|e| e.code == 8));
        f = if early {
            f.fix("the signatures start in the future: check the clock of the signing host, and re-sign")
        } else if expired {
            f.fix("re-sign the zone: the signatures have expired (a stopped signer, a broken cron job, a clock far off on the signing host)")
        } else {
            f.fix("after a move to another DNS provider or a key roll, the DS record at the registrar still names the old key: update or remove the DS at the registrar")
                .fix("compare: dig +cd DS ZONE (the parent's view) with dig +cd +multi DNSKEY ZONE (the zone's keys, with their key ids); the key tags must match")
        };
        f = f.fix(format!(
            "confirm: dig {} {}   # SERVFAIL; with +cd it answers",
            first.name, first.rtype
        ));
        let error = ca::dns_lookup_error(
            &first.rtype,
            &first.name,
            &DnsOutcome::ServerFailure {
                rcode: crate::facts::Rcode::SERVFAIL,
            },
            first.ede.as_ref(),
        )
        .unwrap_or_default();
        // Only the AAAA is bogus while A resolves: the CA validates over IPv4.
        if bogus.iter().all(|r| r.rtype == "AAAA") && !cx.usable_v4.is_empty() {
            f.severity = Severity::Warning;
            return f;
        }
        if first.rtype == "CAA" {
            let ident = ca::caa_identifier(cx.domain, cx.target.target.domain.wildcard);
            return f.ca(ca::caa_lookup_failed(&ident, &error));
        }
        f.ca(ca::dns_problem(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;
    use crate::facts::Ede;

    fn retry(with_cd: DnsOutcome, ede: Option<u16>) -> CdRetry {
        CdRetry {
            name: "example.test".into(),
            rtype: "A".into(),
            ede: ede.map(|code| Ede {
                code,
                text: String::new(),
            }),
            with_cd,
            chain: None,
        }
    }

    fn chain(ds: &[u16], keys: &[u16], expiration: u64) -> ChainFacts {
        ChainFacts {
            zone: "example.test".into(),
            ds_tags: ds.to_vec(),
            dnskey_tags: keys.to_vec(),
            rrsigs: vec![crate::facts::Rrsig {
                key_tag: keys.first().copied().unwrap_or(1),
                inception: 1_000,
                expiration,
            }],
            fetched_at: 2_000,
        }
    }

    #[test]
    fn the_chain_tells_a_stale_ds_from_expired_signatures() {
        assert_eq!(
            read_chain(&chain(&[111], &[222], 3_000)),
            Some(Why::DsWithoutKey {
                ds: vec![111],
                keys: vec![222]
            })
        );
        assert_eq!(
            read_chain(&chain(&[222], &[222], 1_500)),
            Some(Why::Expired { at: 1_500 })
        );
        assert_eq!(read_chain(&chain(&[222], &[222], 3_000)), None);
        let mut r = retry(DnsOutcome::Answer, Some(6));
        r.chain = Some(chain(&[111], &[222], 3_000));
        let s = Scenario::dual_stack().dnssec(vec![r]);
        let f = Dnssec.word(&s.context(), &Dnssec.detect(&s.context())[0]);
        assert!(f.title.contains("matches no key"), "{}", f.title);
        assert!(f.fix[0].contains("registrar"), "{:?}", f.fix);
    }

    #[test]
    fn an_answer_with_cd_after_servfail_is_bogus_dnssec() {
        let s = Scenario::dual_stack().dnssec(vec![retry(DnsOutcome::Answer, Some(7))]);
        let found = Dnssec.detect(&s.context());
        let f = Dnssec.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::DnssecBogus);
        assert_eq!(
            f.ca_error.as_deref(),
            Some("DNS problem: looking up A for example.test: DNSSEC: Signature Expired")
        );
        assert!(f.fix[0].contains("re-sign"));
    }

    #[test]
    fn a_servfail_also_with_cd_is_a_dead_server_not_dnssec() {
        let s = Scenario::dual_stack().dnssec(vec![retry(
            DnsOutcome::ServerFailure {
                rcode: crate::facts::Rcode::SERVFAIL,
            },
            Some(22),
        )]);
        assert!(Dnssec.detect(&s.context()).is_empty());
    }
}
