//! CAA exactly as the CA evaluates it (`docs/ca-behaviour.md` §5, RFC 8659, RFC 8657): the
//! closest non-empty record set from the name up to its TLD, `issue` or `issuewild`, the issuer
//! domain compared byte for byte, parameters, and the critical flag.
//!
//! Codes: `caa-forbids`, `caa-method-forbidden`, `caa-account-mismatch`,
//! `caa-critical-unknown`, `caa-lookup-failed`.

use crate::diagnose::ca;
use crate::diagnose::check::CheckDef;
use crate::diagnose::{Check, Code, Context, Finding, Severity, run_check};
use crate::diagnose::{Incomplete, IncompleteKind};
use crate::facts::{CaaRecord, DnsOutcome, Ede, Method};

pub const CHECK: CheckDef = CheckDef {
    name: "caa",
    codes: &[
        Code::CaaForbids,
        Code::CaaMethodForbidden,
        Code::CaaAccountMismatch,
        Code::CaaCriticalUnknown,
        Code::CaaLookupFailed,
    ],
    methods: &[Method::Http01, Method::Dns01, Method::TlsAlpn01],
    run: |cx, out| run_check(&Caa, cx, out),
};

pub struct Caa;

const KNOWN_TAGS: [&str; 5] = ["issue", "issuewild", "iodef", "issuemail", "issuevmc"];

/// What the CA's evaluation of one record set concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// An unknown tag marked critical (flag 128, or 1 as Boulder also reads it).
    CriticalUnknown {
        tag: String,
    },
    /// A record names this CA but its `validationmethods` leaves the method out.
    MethodForbidden {
        allowed: String,
    },
    /// A record names this CA for another account.
    AccountMismatch {
        wanted: String,
    },
    /// A record names this CA for an account, and the account in use is not known here.
    AccountUnknown {
        wanted: String,
    },
    /// No record names this CA.
    OtherIssuers {
        issuers: Vec<String>,
    },
}

/// The parsed value of an `issue`/`issuewild` record, or `None` when a parameter is malformed
/// (the CA then skips the record).
fn parse_value(value: &str) -> Option<(String, Vec<(String, String)>)> {
    let (issuer, rest) = value.split_once(';').unwrap_or((value, ""));
    let issuer = issuer.trim_matches([' ', '\t']).to_string();
    let mut params = Vec::new();
    // One empty part is allowed (`letsencrypt.org;`); an empty part among others is not.
    if rest.trim_matches([' ', '\t']).is_empty() {
        return Some((issuer, params));
    }
    for part in rest.split(';') {
        let part = part.trim_matches([' ', '\t']);
        if part.is_empty() {
            return None;
        }
        let (tag, val) = part.split_once('=')?;
        let (tag, val) = (tag.trim_matches([' ', '\t']), val.trim_matches([' ', '\t']));
        let tag_ok = !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_alphanumeric());
        let val_ok = val
            .bytes()
            .all(|b| (0x21..=0x3A).contains(&b) || (0x3C..=0x7E).contains(&b));
        if !(tag_ok && val_ok) {
            return None;
        }
        params.push((tag.to_string(), val.to_string()));
    }
    Some((issuer, params))
}

/// Boulder's evaluation of one record set (§5.4–§5.7).
pub fn evaluate(
    records: &[CaaRecord],
    wildcard: bool,
    issuer: &str,
    method: Method,
    account: Option<&str>,
) -> Decision {
    let tag = |r: &CaaRecord| r.tag.to_ascii_lowercase();
    if let Some(r) = records.iter().find(|r| {
        !KNOWN_TAGS.contains(&tag(r).as_str()) && (r.flags & 0x80 != 0 || r.flags & 1 != 0)
    }) {
        return Decision::CriticalUnknown { tag: r.tag.clone() };
    }
    let issuewild: Vec<&CaaRecord> = records.iter().filter(|r| tag(r) == "issuewild").collect();
    let relevant: Vec<&CaaRecord> = if wildcard && !issuewild.is_empty() {
        issuewild
    } else {
        records.iter().filter(|r| tag(r) == "issue").collect()
    };
    if relevant.is_empty() {
        return Decision::Allowed;
    }
    let mut issuers = Vec::new();
    let mut near_miss = None;
    for r in relevant {
        let Some((name, params)) = parse_value(&r.value) else {
            continue;
        };
        issuers.push(if name.is_empty() {
            ";".into()
        } else {
            name.clone()
        });
        if name != issuer {
            continue;
        }
        let named = |key: &str| -> Vec<&String> {
            params
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v)
                .collect()
        };
        let methods = named("validationmethods");
        if !methods.is_empty() {
            let list = methods[0];
            let labels_ok = methods.len() == 1
                && list.split(',').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !labels_ok || !list.split(',').any(|l| l == method.as_str()) {
                near_miss = Some(Decision::MethodForbidden {
                    allowed: list.clone(),
                });
                continue;
            }
        }
        let accounts = named("accounturi");
        if !accounts.is_empty() {
            let wanted = accounts[0].clone();
            match account {
                _ if accounts.len() != 1 => continue,
                Some(a) if a == wanted => {}
                Some(_) => {
                    near_miss = Some(Decision::AccountMismatch { wanted });
                    continue;
                }
                None => {
                    near_miss.get_or_insert(Decision::AccountUnknown { wanted });
                    continue;
                }
            }
        }
        return Decision::Allowed;
    }
    near_miss.unwrap_or(Decision::OtherIssuers { issuers })
}

#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A level the CA needs could not be looked up.
    LookupFailed {
        level: String,
        outcome: DnsOutcome,
        ede: Option<Ede>,
        /// acme-doctor was out of file descriptors: its own limit, nothing said of the domain.
        own_limit: bool,
    },
    /// The relevant set, where it sits, and what it decides (never `Allowed`).
    Decided {
        set_at: String,
        records: Vec<CaaRecord>,
        decision: Decision,
    },
}

/// The resolver itself gave no answer (timeout, refusal, network error): a missing fact about
/// this run, not evidence about the domain, which the CA's resolvers may well answer for.
fn resolver_silent(outcome: &DnsOutcome) -> bool {
    matches!(
        outcome,
        DnsOutcome::Timeout | DnsOutcome::Refused | DnsOutcome::Error { .. }
    )
}

impl Check for Caa {
    type Evidence = Found;

    fn incomplete(&self, _cx: &Context, found: &Found) -> Option<Incomplete> {
        match found {
            // The query never left: acme-doctor's limit, not the resolver's silence.
            Found::LookupFailed {
                level,
                own_limit: true,
                ..
            } => Some(Incomplete::new(
                IncompleteKind::OwnLimit,
                format!(
                    "acme-doctor ran out of file descriptors before asking CAA {level}; check fewer names at once: --jobs"
                ),
            )),
            Found::LookupFailed { level, outcome, .. } if resolver_silent(outcome) => {
                Some(Incomplete::new(
                    IncompleteKind::ResolverSilent,
                    format!("no DNS answer for CAA {level}"),
                ))
            }
            _ => None,
        }
    }

    fn detect(&self, cx: &Context) -> Vec<Found> {
        // The CA checks CAA for DNS names only (`docs/ca-behaviour.md` §11.3).
        if cx.target.target.domain.ip.is_some() {
            return Vec::new();
        }
        let Some(caa) = &cx.target.caa else {
            return Vec::new();
        };
        let last = caa.levels.len().saturating_sub(1);
        for (i, level) in caa.levels.iter().enumerate() {
            let failed = match &level.outcome {
                DnsOutcome::Answer => {
                    let decision = evaluate(
                        &level.records,
                        cx.target.target.domain.wildcard,
                        &cx.run.options.ca_issuer,
                        cx.method(),
                        cx.run.options.account_uri.as_deref(),
                    );
                    if decision == Decision::Allowed {
                        return Vec::new();
                    }
                    return vec![Found::Decided {
                        set_at: level.name.clone(),
                        records: level.records.clone(),
                        decision,
                    }];
                }
                DnsOutcome::NoData => false,
                // NXDOMAIN below the TLD is "no records"; for the TLD itself it is an error.
                DnsOutcome::NxDomain => i == last,
                _ => true,
            };
            if failed {
                return vec![Found::LookupFailed {
                    level: level.name.clone(),
                    outcome: level.outcome.clone(),
                    ede: level.ede.clone(),
                    own_limit: level.own_limit,
                }];
            }
        }
        Vec::new()
    }

    fn word(&self, cx: &Context, found: &Found) -> Finding {
        let ident = ca::caa_identifier(cx.domain, cx.target.target.domain.wildcard);
        match found {
            Found::LookupFailed {
                level,
                outcome,
                ede,
                own_limit,
            } => {
                let dns_error =
                    ca::dns_lookup_error("CAA", level, outcome, ede.as_ref()).unwrap_or_default();
                let severity = if *own_limit {
                    Severity::Info
                } else if resolver_silent(outcome) {
                    Severity::Warning
                } else {
                    Severity::Blocker
                };
                let f = Finding::new(
                    Code::CaaLookupFailed,
                    severity,
                    format!("the CAA lookup for {level} fails, so the CA cannot check CAA for {ident}"),
                )
                .detail("The CA looks up CAA at every level from the name to its TLD; a failure at any level below the closest record set fails the whole check, even where no CAA record exists.")
                .evidence(format!("{level} CAA -> {} via {}", outcome, cx.target.target.resolver))
                .evidence_lines(ede.iter().map(|e| format!("extended DNS error {}: {} {}", e.code, ca::ede_summary(e.code), e.text)))
                .fix(format!("dig {level} CAA   # every nameserver of that zone must answer CAA queries (NOERROR, even empty)"))
                .fix("a delegated subzone whose servers time out or refuse CAA (some load balancers and old DNS appliances) must be fixed or answer for the CAA type");
                if severity == Severity::Blocker {
                    f.ca(ca::caa_lookup_failed(&ident, &dns_error))
                } else {
                    f.fix("this resolver gave no answer at all: ask another with --resolver IP[:PORT]")
                }
            }
            Found::Decided {
                set_at,
                records,
                decision,
            } => decided(cx, &ident, set_at, records, decision),
        }
    }
}

fn decided(
    cx: &Context,
    ident: &str,
    set_at: &str,
    records: &[CaaRecord],
    decision: &Decision,
) -> Finding {
    let issuer = &cx.run.options.ca_issuer;
    let wildcard = cx.target.target.domain.wildcard;
    let tag = if wildcard { "issuewild" } else { "issue" };
    let (code, severity, title) = match decision {
        Decision::CriticalUnknown { tag } => (
            Code::CaaCriticalUnknown,
            Severity::Blocker,
            format!(
                "the CAA record set of {set_at} has a critical tag {tag:?} that no CA understands, which forbids issuance"
            ),
        ),
        Decision::MethodForbidden { allowed } => (
            Code::CaaMethodForbidden,
            Severity::Blocker,
            format!(
                "CAA at {set_at} allows {issuer} only with validationmethods={allowed}, not {}",
                cx.method().as_str()
            ),
        ),
        Decision::AccountMismatch { wanted } => (
            Code::CaaAccountMismatch,
            Severity::Blocker,
            format!(
                "CAA at {set_at} allows {issuer} only for the account {wanted}, not the one in use"
            ),
        ),
        Decision::AccountUnknown { wanted } => (
            Code::CaaAccountMismatch,
            Severity::Warning,
            format!(
                "CAA at {set_at} allows {issuer} only for the account {wanted}; check it is yours (--account-uri)"
            ),
        ),
        Decision::OtherIssuers { issuers } => (
            Code::CaaForbids,
            Severity::Blocker,
            format!(
                "CAA at {set_at} allows only {} to issue for {ident}, not {issuer}",
                issuers.join(", ")
            ),
        ),
        Decision::Allowed => (Code::CaaForbids, Severity::Info, String::new()),
    };
    let mut f = Finding::new(code, severity, title)
        .detail(format!(
            "The CA uses the closest CAA record set, walking up from {ident} to its TLD; it is at {set_at}. {}",
            if wildcard {
                "For a wildcard, issuewild records count when the set has any, otherwise issue records."
            } else {
                "For this name only issue records count."
            }
        ))
        .evidence_lines(records.iter().map(|r| {
            format!("{set_at} CAA {} {} \"{}\"", r.flags, r.tag, r.value)
        }));
    if decision == &Decision::Allowed {
        return f;
    }
    f = match decision {
        Decision::CriticalUnknown { tag: t } => f
            .fix(format!("remove the record with tag {t:?} from {set_at}, or clear its critical flag (128)"))
            .fix(format!("if the set has {tag} records, one must name {issuer}: {set_at} CAA 0 {tag} \"{issuer}\"")),
        Decision::MethodForbidden { allowed } => f.fix(format!(
            "add {} to validationmethods, e.g. {set_at} CAA 0 {tag} \"{issuer}; validationmethods={allowed},{}\", or validate with one of {allowed}",
            cx.method().as_str(),
            cx.method().as_str()
        )),
        Decision::AccountMismatch { wanted } | Decision::AccountUnknown { wanted } => f
            .fix(format!("use the ACME account {wanted}, or add a record for yours: {set_at} CAA 0 {tag} \"{issuer}; accounturi=YOUR-ACCOUNT-URI\""))
            .fix("your account URI: certbot show_account; lego and acme.sh keep it in their account files"),
        _ => f.fix(format!("add: {set_at} CAA 0 {tag} \"{issuer}\"   (keep the others if you use those CAs too)")),
    };
    if severity == Severity::Blocker {
        f = f.ca(ca::caa_forbids(ident, set_at));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::Scenario;

    fn rec(flags: u8, tag: &str, value: &str) -> CaaRecord {
        CaaRecord {
            flags,
            tag: tag.into(),
            value: value.into(),
        }
    }

    const LE: &str = "letsencrypt.org";

    fn eval(records: &[CaaRecord]) -> Decision {
        evaluate(records, false, LE, Method::Http01, None)
    }

    // RFC 8659 §4 examples, read as Boulder reads them.
    #[test]
    fn rfc_8659_examples() {
        assert_eq!(
            eval(&[rec(0, "issue", "letsencrypt.org")]),
            Decision::Allowed
        );
        assert!(matches!(
            eval(&[rec(0, "issue", "ca.example.net")]),
            Decision::OtherIssuers { .. }
        ));
        // `;` alone forbids every CA.
        assert!(matches!(
            eval(&[rec(0, "issue", ";")]),
            Decision::OtherIssuers { .. }
        ));
        // Only iodef: nothing restricts issuance.
        assert_eq!(
            eval(&[rec(0, "iodef", "mailto:x@example.com")]),
            Decision::Allowed
        );
        // An unknown tag that is not critical is ignored.
        assert_eq!(
            eval(&[rec(0, "tbs", "Unknown"), rec(0, "issue", LE)]),
            Decision::Allowed
        );
    }

    #[test]
    fn flag_128_on_an_unknown_tag_forbids_and_so_does_flag_1() {
        assert!(matches!(
            eval(&[rec(128, "tbs", "x"), rec(0, "issue", LE)]),
            Decision::CriticalUnknown { .. }
        ));
        assert!(matches!(
            eval(&[rec(1, "tbs", "x"), rec(0, "issue", LE)]),
            Decision::CriticalUnknown { .. }
        ));
        // A critical known tag is fine.
        assert_eq!(eval(&[rec(128, "issue", LE)]), Decision::Allowed);
    }

    #[test]
    fn tags_are_case_insensitive_and_issuers_exact() {
        assert_eq!(eval(&[rec(0, "ISSUE", LE)]), Decision::Allowed);
        assert!(matches!(
            eval(&[rec(0, "issue", "LetsEncrypt.org")]),
            Decision::OtherIssuers { .. }
        ));
        assert!(matches!(
            eval(&[rec(0, "issue", "letsencrypt.org.")]),
            Decision::OtherIssuers { .. }
        ));
        assert_eq!(
            eval(&[rec(0, "issue", " letsencrypt.org ; ")]),
            Decision::Allowed
        );
    }

    #[test]
    fn issuewild_counts_for_wildcards_only() {
        let set = [rec(0, "issuewild", LE), rec(0, "issue", "other.example")];
        assert_eq!(
            evaluate(&set, true, LE, Method::Dns01, None),
            Decision::Allowed
        );
        assert!(matches!(
            evaluate(&set, false, LE, Method::Dns01, None),
            Decision::OtherIssuers { .. }
        ));
        // issuewild only: a plain name has no relevant record and is allowed.
        assert_eq!(
            evaluate(
                &[rec(0, "issuewild", "other.example")],
                false,
                LE,
                Method::Dns01,
                None
            ),
            Decision::Allowed
        );
        // A wildcard without issuewild falls back to issue.
        assert_eq!(
            evaluate(&[rec(0, "issue", LE)], true, LE, Method::Dns01, None),
            Decision::Allowed
        );
    }

    #[test]
    fn validationmethods_and_accounturi() {
        let v = rec(0, "issue", "letsencrypt.org; validationmethods=dns-01");
        assert!(matches!(
            eval(std::slice::from_ref(&v)),
            Decision::MethodForbidden { .. }
        ));
        assert_eq!(
            evaluate(&[v], false, LE, Method::Dns01, None),
            Decision::Allowed
        );
        let a = rec(
            0,
            "issue",
            "letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1",
        );
        assert!(matches!(
            eval(std::slice::from_ref(&a)),
            Decision::AccountUnknown { .. }
        ));
        assert!(matches!(
            evaluate(
                std::slice::from_ref(&a),
                false,
                LE,
                Method::Http01,
                Some("https://acme-v02.api.letsencrypt.org/acme/acct/2")
            ),
            Decision::AccountMismatch { .. }
        ));
        assert_eq!(
            evaluate(
                &[a],
                false,
                LE,
                Method::Http01,
                Some("https://acme-v02.api.letsencrypt.org/acme/acct/1")
            ),
            Decision::Allowed
        );
        // One trailing `;` is allowed; an empty part among others makes the record unusable.
        assert_eq!(
            eval(&[rec(0, "issue", "letsencrypt.org;")]),
            Decision::Allowed
        );
        assert!(matches!(
            eval(&[rec(0, "issue", "letsencrypt.org; a=b;")]),
            Decision::OtherIssuers { .. }
        ));
        // A malformed parameter makes the record unusable.
        assert!(matches!(
            eval(&[rec(0, "issue", "letsencrypt.org; bad tag=x")]),
            Decision::OtherIssuers { .. }
        ));
        // Parameter tags are case-sensitive: an unknown parameter is no restriction.
        assert_eq!(
            eval(&[rec(0, "issue", "letsencrypt.org; ValidationMethods=dns-01")]),
            Decision::Allowed
        );
    }

    #[test]
    fn the_closest_set_wins_and_a_failure_below_it_fails() {
        let s = Scenario::dual_stack().caa(vec![
            ("www.example.test", DnsOutcome::NoData, vec![]),
            (
                "example.test",
                DnsOutcome::Answer,
                vec![rec(0, "issue", "other.example")],
            ),
            (
                "test",
                DnsOutcome::ServerFailure {
                    rcode: crate::facts::Rcode::SERVFAIL,
                },
                vec![],
            ),
        ]);
        let found = Caa.detect(&s.context());
        assert!(matches!(&found[..], [Found::Decided { set_at, .. }] if set_at == "example.test"));
        let f = Caa.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::CaaForbids);
        assert_eq!(
            f.ca_error.as_deref(),
            Some(
                "While processing CAA for example.test: CAA record for example.test prevents issuance"
            )
        );
        assert!(f.fix[0].contains("example.test CAA 0 issue \"letsencrypt.org\""));

        let servfail = DnsOutcome::ServerFailure {
            rcode: crate::facts::Rcode::SERVFAIL,
        };
        let s = Scenario::dual_stack().caa(vec![
            ("example.test", servfail, vec![]),
            ("test", DnsOutcome::NoData, vec![]),
        ]);
        let found = Caa.detect(&s.context());
        let f = Caa.word(&s.context(), &found[0]);
        assert_eq!(f.code, Code::CaaLookupFailed);
        assert_eq!(f.severity, Severity::Blocker);
        assert_eq!(
            f.ca_error.as_deref(),
            Some(
                "While processing CAA for example.test: DNS problem: SERVFAIL looking up CAA for example.test - the domain's nameservers may be malfunctioning"
            )
        );
        // A resolver that says nothing leaves the run incomplete, and blames no one.
        let s = Scenario::dual_stack().caa(vec![
            ("example.test", DnsOutcome::Timeout, vec![]),
            ("test", DnsOutcome::NoData, vec![]),
        ]);
        let cx = s.context();
        let found = Caa.detect(&cx);
        let why = Caa.incomplete(&cx, &found[0]).expect("incomplete");
        assert_eq!(why.kind, IncompleteKind::ResolverSilent);
        assert_eq!(Caa.word(&cx, &found[0]).severity, Severity::Warning);
        // A query that never left (out of file descriptors) is acme-doctor's own limit.
        let never_left = Found::LookupFailed {
            level: "example.test".into(),
            outcome: DnsOutcome::Error {
                message: "Too many open files (os error 24)".into(),
            },
            ede: None,
            own_limit: true,
        };
        let why = Caa.incomplete(&cx, &never_left).expect("incomplete");
        assert_eq!(why.kind, IncompleteKind::OwnLimit);
        assert_eq!(Caa.word(&cx, &never_left).severity, Severity::Info);
    }

    #[test]
    fn nxdomain_is_empty_below_the_tld_and_an_error_at_it() {
        let s = Scenario::dual_stack().caa(vec![
            ("example.test", DnsOutcome::NxDomain, vec![]),
            ("test", DnsOutcome::NoData, vec![]),
        ]);
        assert!(Caa.detect(&s.context()).is_empty());
        let s = Scenario::dual_stack().caa(vec![
            ("example.test", DnsOutcome::NoData, vec![]),
            ("test", DnsOutcome::NxDomain, vec![]),
        ]);
        assert!(matches!(
            &Caa.detect(&s.context())[..],
            [Found::LookupFailed { .. }]
        ));
    }
}
