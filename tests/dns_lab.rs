//! DNS lab tier: CAA, DNSSEC, the authoritative view and DNS-01, on real DNS software (nsd,
//! unbound, dnsmasq; zones signed with ldns) in a network namespace the test creates (root).
//! Every scenario is declared once, as data: what the servers hold, the `dig` checks that prove
//! the lab serves what the scenario intends, and what acme-doctor must conclude (verdict, top
//! finding code and, where it matters, the CA's error in Boulder's exact wording,
//! docs/ca-behaviour.md §4, §5, §7). A table of outcomes is printed whether the test passes or
//! fails.
//!
//! Both the infrastructure checks and the diagnosis always assert.

// Tests panic on purpose: a broken lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dns_lab::{
    BASE, DnsLab, DnsSetup, Dnssec, NAMESERVER_ADDRS, NS1, NS2, PARENT, RESOLVER, STALE_RESOLVER,
    SUB_NS, TXT_VALUE, challenge_txt, dns_lab_available, own_namespaces_left,
};
use serde_json::Value;
use std::io::Write;
use std::time::Instant;

/// What acme-doctor must conclude.
#[derive(Clone, Copy)]
struct Expect {
    verdict: &'static str,
    /// The code of `findings[0]`; `None`: no blocker and no warning at all.
    top_code: Option<&'static str>,
    /// `findings[0].ca_error`, as a pattern: `<ns>` stands for any lab nameserver address
    /// (unbound names the one it asked, at random), `<…>` for any text, `{a|b}` for either.
    ca_error: Option<&'static str>,
}

const PASS: Expect = Expect {
    verdict: "pass",
    top_code: None,
    ca_error: None,
};

const fn fail(code: &'static str, ca_error: &'static str) -> Expect {
    Expect {
        verdict: "fail",
        top_code: Some(code),
        ca_error: Some(ca_error),
    }
}

const fn at_risk(code: &'static str) -> Expect {
    Expect {
        verdict: "at-risk",
        top_code: Some(code),
        ca_error: None,
    }
}

/// One `dig` the lab must answer as the scenario intends.
struct Dig {
    /// The server asked: `unbound`, `ns1`, `ns2`, `parent`, `sub` or `stale`.
    at: &'static str,
    /// dig's arguments after the server, e.g. `+cd _acme-challenge.example.test TXT`.
    query: &'static str,
    /// Substrings the output must contain.
    want: &'static [&'static str],
    /// Substrings it must not contain.
    not: &'static [&'static str],
}

const fn dig(
    at: &'static str,
    query: &'static str,
    want: &'static [&'static str],
    not: &'static [&'static str],
) -> Dig {
    Dig {
        at,
        query,
        want,
        not,
    }
}

struct Scenario {
    name: &'static str,
    /// What it reproduces, in words.
    about: &'static str,
    setup: fn() -> DnsSetup,
    /// The name given to acme-doctor.
    domain: &'static str,
    /// More acme-doctor arguments (`--account-uri …`).
    args: &'static [&'static str],
    /// The resolver acme-doctor is pointed at.
    resolver: &'static str,
    digs: &'static [Dig],
    expect: Expect,
}

const NOERROR: &str = "status: NOERROR";
const NXDOMAIN: &str = "status: NXDOMAIN";
const SERVFAIL: &str = "status: SERVFAIL";
/// The answer's flags when it came from the zone's own server.
const AUTHORITATIVE: &str = "flags: qr aa";
/// The TXT record that passes.
const GOOD_TXT: &str = "\"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0\"";

fn zone(records: &[&str]) -> DnsSetup {
    DnsSetup::zone(records)
}

fn with_good_txt(records: &[&str]) -> DnsSetup {
    let txt = challenge_txt();
    let mut all: Vec<&str> = vec![&txt];
    all.extend_from_slice(records);
    zone(&all)
}

fn signed(dnssec: Dnssec) -> DnsSetup {
    DnsSetup {
        dnssec,
        ..with_good_txt(&["@ CAA 0 issue \"letsencrypt.org\""])
    }
}

const LE_PREVENTS: &str =
    "While processing CAA for example.test: CAA record for example.test prevents issuance";
const TXT_NXDOMAIN: &str = "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.example.test - check that a DNS record exists for this domain";

const SCENARIOS: &[Scenario] = &[
    // ---- the healthy baselines -------------------------------------------------------------
    Scenario {
        name: "healthy-signed",
        about: "signed zone, valid chain from the test. anchor, CAA allows letsencrypt.org, TXT right",
        setup: || signed(Dnssec::Valid),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[NOERROR, "flags: qr rd ra ad", GOOD_TXT],
                &[],
            ),
            dig(
                "parent",
                "+norec +dnssec example.test DS",
                &[AUTHORITATIVE, "IN\tDS\t"],
                &[],
            ),
            dig("unbound", "test CAA", &[NOERROR, "ANSWER: 0"], &[]),
        ],
        expect: PASS,
    },
    Scenario {
        // Delegating the challenge by CNAME to another zone works at the CA
        // (docs/ca-behaviour.md §4.2).
        name: "txt-behind-cname",
        about: "_acme-challenge is a CNAME to validation.other.test, which holds the right TXT",
        setup: || DnsSetup {
            parent: vec![format!("validation.other TXT \"{TXT_VALUE}\"")],
            ..zone(&["_acme-challenge CNAME validation.other.test."])
        },
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "_acme-challenge.example.test TXT",
            &[NOERROR, "IN\tCNAME\tvalidation.other.test.", GOOD_TXT],
            &[],
        )],
        expect: PASS,
    },
    // ---- CAA (docs/ca-behaviour.md §5) -----------------------------------------------------
    Scenario {
        // https://www.ctrl.blog/entry/letsencrypt-caa-iodef (a CAA record that does not name
        // Let's Encrypt exactly blocked the author's own issuance)
        name: "caa-other-ca",
        about: "example.test CAA 0 issue \"sectigo.com\": another CA, on the name itself",
        setup: || with_good_txt(&["@ CAA 0 issue \"sectigo.com\""]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "unbound",
                "example.test CAA",
                &[NOERROR, "0 issue \"sectigo.com\""],
                &[],
            ),
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[NOERROR, GOOD_TXT],
                &[],
            ),
        ],
        expect: fail("caa-forbids", LE_PREVENTS),
    },
    Scenario {
        // The same report: the issuer domain written as an absolute name with a trailing dot
        // matches no CA (§5.6, compared byte for byte).
        name: "caa-trailing-dot",
        about: "example.test CAA 0 issue \"letsencrypt.org.\": the trailing dot matches no CA",
        setup: || with_good_txt(&["@ CAA 0 issue \"letsencrypt.org.\""]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "example.test CAA",
            &[NOERROR, "0 issue \"letsencrypt.org.\""],
            &[],
        )],
        expect: fail("caa-forbids", LE_PREVENTS),
    },
    Scenario {
        // https://serverfault.com/questions/977364/where-to-put-caa-record (a restrictive CAA
        // on the client's apex blocked a subdomain: "CAA record for … prevents issuance")
        name: "caa-parent-only",
        about: "www.example.test has no CAA; its parent example.test names another CA",
        setup: || {
            zone(&[
                "@ CAA 0 issue \"sectigo.com\"",
                "www A 192.0.2.10",
                &format!("_acme-challenge.www TXT \"{TXT_VALUE}\""),
            ])
        },
        domain: "www.example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "unbound",
                "www.example.test CAA",
                &[NOERROR, "ANSWER: 0"],
                &[],
            ),
            dig(
                "unbound",
                "example.test CAA",
                &[NOERROR, "0 issue \"sectigo.com\""],
                &[],
            ),
        ],
        expect: fail(
            "caa-forbids",
            "While processing CAA for www.example.test: CAA record for example.test prevents issuance",
        ),
    },
    Scenario {
        // RFC 8659 §4.1; Let's Debug ignores the flag, the CA does not. No public failure report
        // found.
        name: "caa-critical-unknown",
        about: "letsencrypt.org allowed, but a record with flag 128 on an unknown tag (tbs)",
        setup: || {
            with_good_txt(&[
                "@ CAA 0 issue \"letsencrypt.org\"",
                "@ CAA 128 tbs \"unknown\"",
            ])
        },
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "example.test CAA",
            &[
                NOERROR,
                "128 tbs \"unknown\"",
                "0 issue \"letsencrypt.org\"",
            ],
            &[],
        )],
        expect: fail("caa-critical-unknown", LE_PREVENTS),
    },
    Scenario {
        // §5.5: for a wildcard, issuewild records replace issue records when the set has any.
        name: "caa-issuewild-wildcard",
        about: "issue letsencrypt.org but issuewild sectigo.com; *.example.test by dns-01",
        setup: || {
            with_good_txt(&[
                "@ CAA 0 issue \"letsencrypt.org\"",
                "@ CAA 0 issuewild \"sectigo.com\"",
            ])
        },
        domain: "*.example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "example.test CAA",
            &[NOERROR, "0 issuewild \"sectigo.com\""],
            &[],
        )],
        expect: fail(
            "caa-forbids",
            "While processing CAA for *.example.test: CAA record for example.test prevents issuance",
        ),
    },
    Scenario {
        // §5.5: issuewild alone says nothing about a non-wildcard name: no false alarm.
        name: "caa-issuewild-only-plain-name",
        about: "only issuewild sectigo.com; example.test itself is not a wildcard, so allowed",
        setup: || with_good_txt(&["@ CAA 0 issuewild \"sectigo.com\""]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "example.test CAA",
            &[NOERROR, "0 issuewild \"sectigo.com\""],
            &["issue \"letsencrypt.org\""],
        )],
        expect: PASS,
    },
    Scenario {
        // RFC 8657 validationmethods (§5.7).
        name: "caa-method-forbidden",
        about: "letsencrypt.org allowed for http-01 only; the validation is dns-01",
        setup: || with_good_txt(&["@ CAA 0 issue \"letsencrypt.org; validationmethods=http-01\""]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "example.test CAA",
            &[NOERROR, "validationmethods=http-01"],
            &[],
        )],
        expect: fail("caa-method-forbidden", LE_PREVENTS),
    },
    Scenario {
        // RFC 8657 accounturi (§5.7).
        name: "caa-account-mismatch",
        about: "letsencrypt.org allowed for account 1111 only; the account is 2222",
        setup: || {
            with_good_txt(&[
                "@ CAA 0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1111\"",
            ])
        },
        domain: "example.test",
        args: &[
            "--account-uri",
            "https://acme-v02.api.letsencrypt.org/acme/acct/2222",
        ],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "example.test CAA",
            &[NOERROR, "acct/1111"],
            &[],
        )],
        expect: fail("caa-account-mismatch", LE_PREVENTS),
    },
    Scenario {
        // https://community.letsencrypt.org/t/servfail-looking-up-caa-how-to-detect-ahead-of-time/45137
        // and https://community.letsencrypt.org/t/caa-servfail-changes/38298 (DNS servers that
        // mishandle CAA queries: "DNS problem: SERVFAIL looking up CAA for …").
        // The subzone's server answers TXT but never CAA; the TXT is asked first, as the CA
        // does (DCV before CAA, §1.3), because once unbound has seen CAA time out it marks the
        // server down and SERVFAILs every query to it.
        name: "caa-subzone-timeout",
        about: "sub.example.test is delegated to a server that drops CAA queries (they time out)",
        setup: || DnsSetup {
            sub: Some(vec![
                "@ A 192.0.2.10".into(),
                format!("_acme-challenge TXT \"{TXT_VALUE}\""),
            ]),
            ..DnsSetup::healthy()
        },
        domain: "sub.example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "sub",
                "+norec _acme-challenge.sub.example.test TXT",
                &[AUTHORITATIVE, GOOD_TXT],
                &[],
            ),
            dig(
                "sub",
                "+norec sub.example.test CAA",
                &["timed out"],
                &[NOERROR],
            ),
            dig(
                "unbound",
                "_acme-challenge.sub.example.test TXT",
                &[NOERROR, GOOD_TXT],
                &[],
            ),
            dig("unbound", "sub.example.test CAA", &[SERVFAIL], &["EDE"]),
        ],
        expect: fail(
            "caa-lookup-failed",
            "While processing CAA for sub.example.test: DNS problem: SERVFAIL looking up CAA for sub.example.test - the domain's nameservers may be malfunctioning",
        ),
    },
    // ---- DNSSEC (docs/ca-behaviour.md §4.5, §7.3) ------------------------------------------
    Scenario {
        // https://community.letsencrypt.org/t/caa-exception-notifications-dont-mention-the-failing-domain/39551/12
        // (names failing at the CA on an invalid DNSSEC signature while plain lookups worked)
        name: "dnssec-expired",
        about: "example.test signed with signatures that expired in 2020 (ldns-signzone -e/-i)",
        setup: || signed(Dnssec::Expired),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[SERVFAIL, "EDE: 7 (Signature Expired)", "signature expired"],
                &[],
            ),
            dig(
                "unbound",
                "+cd _acme-challenge.example.test TXT",
                &[NOERROR, GOOD_TXT],
                &[],
            ),
            dig(
                "ns1",
                "+norec +dnssec _acme-challenge.example.test TXT",
                &[AUTHORITATIVE, "20200101000000 20191201000000"],
                &[],
            ),
            // Another name, once the key is marked bad: still 7, with the earlier failure as text.
            dig(
                "unbound",
                "example.test CAA",
                &[SERVFAIL, "EDE: 7 (Signature Expired)", "marked as invalid"],
                &[],
            ),
            // The first name again, from unbound's cache.
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[SERVFAIL, "EDE: "],
                &[],
            ),
        ],
        expect: fail(
            "dnssec-bogus",
            // unbound says Signature Expired (with its reason) the first time it meets the
            // bad key, and a bare DNSSEC Bogus when the answer comes from its cache.
            "DNS problem: looking up TXT for _acme-challenge.example.test: DNSSEC: {Signature Expired: validation failure <_acme-challenge.example.test. TXT IN>: signature expired from <ns> for key example.test. while building chain of trust|Signature Expired: validation failure <_acme-challenge.example.test. TXT IN>: key for validation example.test. is marked as invalid because of a previous validation failure <…>|Bogus}",
        ),
    },
    Scenario {
        // https://github.com/virtualmin/virtualmin-gpl/issues/418 (after a server transfer:
        // "DNS problem: SERVFAIL looking up TXT for _acme-challenge…", fixed by correcting the
        // DNSSEC records at the registrar)
        name: "dnssec-wrong-ds",
        about: "the parent's DS is of a key example.test is not signed with (stale DS after a move)",
        setup: || signed(Dnssec::WrongDs),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[SERVFAIL, "EDE: 9 (DNSKEY Missing)", "no keys have a DS"],
                &[],
            ),
            dig(
                "unbound",
                "+cd _acme-challenge.example.test TXT",
                &[NOERROR, GOOD_TXT],
                &[],
            ),
            // Another name, once the key is marked bad: the EDE changes from 9 to 6.
            dig(
                "unbound",
                "example.test CAA",
                &[SERVFAIL, "EDE: 6 (DNSSEC Bogus)", "marked as invalid"],
                &[],
            ),
            // The first name again, from unbound's cache.
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[SERVFAIL, "EDE: "],
                &[],
            ),
        ],
        expect: fail(
            "dnssec-bogus",
            // DNSKEY Missing (with its reason) the first time unbound meets the bad key; Bogus
            // for later names (with the earlier failure as text) and from its cache (bare).
            "DNS problem: looking up TXT for _acme-challenge.example.test: DNSSEC: {DNSKEY Missing: validation failure <_acme-challenge.example.test. TXT IN>: no keys have a DS with algorithm ECDSAP256SHA256 from <ns> for key example.test. while building chain of trust|Bogus: validation failure <_acme-challenge.example.test. TXT IN>: key for validation example.test. is marked as invalid because of a previous validation failure <…>|Bogus}",
        ),
    },
    // ---- the authoritative view ------------------------------------------------------------
    Scenario {
        // https://community.letsencrypt.org/t/lets-encrypts-dns-resolution-process/178637
        // ("all of your NS for the domain have to give a valid response, not just one")
        name: "ns-disagree-aaaa",
        about: "ns1 (serial 2024010102) has the new AAAA, ns2 (serial 2024010101) the old one",
        setup: || {
            let mut s = DnsSetup::healthy();
            s.ns2 = vec![
                "@ A 192.0.2.10".into(),
                "@ AAAA 2001:db8:2::99".into(),
                challenge_txt(),
            ];
            s.serials = (2024010102, 2024010101);
            s
        },
        domain: "example.test",
        // A and AAAA matter to HTTP-01. No web server runs here and the namespace has no route
        // to the addresses, so the connects are a limit of this vantage (incomplete, exit 3).
        args: &["--method", "http-01"],
        resolver: RESOLVER,
        digs: &[
            dig(
                "ns1",
                "+norec example.test AAAA",
                &[AUTHORITATIVE, "2001:db8:2::10"],
                &["2001:db8:2::99"],
            ),
            dig(
                "ns2",
                "+norec example.test AAAA",
                &[AUTHORITATIVE, "2001:db8:2::99"],
                &["2001:db8:2::10"],
            ),
            dig("ns1", "+norec example.test SOA", &["2024010102"], &[]),
            dig("ns2", "+norec example.test SOA", &["2024010101"], &[]),
        ],
        expect: at_risk("nameservers-disagree"),
    },
    Scenario {
        // No public report cited: the classic "dig shows the old address here" case.
        name: "resolver-stale",
        about: "this machine's resolver (dnsmasq) still serves the old A/AAAA, TTL 1800",
        setup: || DnsSetup {
            stale: vec!["example.test,192.0.2.99,2001:db8:2::99".into()],
            ..DnsSetup::healthy()
        },
        domain: "example.test",
        // A and AAAA matter to HTTP-01. No web server runs here and the namespace has no route
        // to the addresses, so the connects are a limit of this vantage (incomplete, exit 3).
        args: &["--method", "http-01"],
        resolver: STALE_RESOLVER,
        digs: &[
            dig(
                "stale",
                "example.test AAAA",
                &[NOERROR, "1800\tIN\tAAAA\t2001:db8:2::99"],
                &[],
            ),
            dig("stale", "example.test A", &["192.0.2.99"], &[]),
            dig(
                "ns1",
                "+norec example.test AAAA",
                &[AUTHORITATIVE, "2001:db8:2::10"],
                &[],
            ),
            // Everything else reaches the real answer through it.
            dig(
                "stale",
                "_acme-challenge.example.test TXT",
                &[NOERROR, GOOD_TXT],
                &[],
            ),
        ],
        expect: at_risk("resolver-stale"),
    },
    // ---- DNS-01 (docs/ca-behaviour.md §4) --------------------------------------------------
    Scenario {
        name: "txt-missing",
        about: "no record at _acme-challenge.example.test at all",
        setup: || zone(&[]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "_acme-challenge.example.test TXT",
            &[NXDOMAIN],
            &[],
        )],
        expect: fail("txt-missing", TXT_NXDOMAIN),
    },
    Scenario {
        // http://blog.alteholz.eu/2018/04/bind-rndc-addzone-and-also-notify/ (the CA found a
        // previous value: "Incorrect TXT record \"…\" found at _acme-challenge…")
        name: "txt-wrong",
        about: "_acme-challenge holds an old value",
        setup: || zone(&["_acme-challenge TXT \"old-token-from-last-renewal\""]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "_acme-challenge.example.test TXT",
            &[NOERROR, "old-token-from-last-renewal"],
            &[GOOD_TXT],
        )],
        expect: fail(
            "txt-wrong",
            "Incorrect TXT record \"old-token-from-last-renewal\" found at _acme-challenge.example.test",
        ),
    },
    Scenario {
        // https://github.com/letsencrypt/boulder/issues/3572 (a Let's Encrypt engineer: "dig
        // each of the authoritative nameservers… Every authoritative nameserver should return
        // the expected TXT values"); http://blog.alteholz.eu/2018/04/bind-rndc-addzone-and-also-notify/
        // (the challenge reached the master but never the slaves).
        name: "txt-one-server",
        about: "the TXT is on ns1 (serial 2024010102) only; ns2 (2024010101) never got it",
        setup: || {
            let mut s = DnsSetup::healthy();
            s.ns2 = BASE.iter().map(|r| r.to_string()).collect();
            s.serials = (2024010102, 2024010101);
            s
        },
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "ns1",
                "+norec _acme-challenge.example.test TXT",
                &[AUTHORITATIVE, GOOD_TXT],
                &[],
            ),
            dig(
                "ns2",
                "+norec _acme-challenge.example.test TXT",
                &[NXDOMAIN, AUTHORITATIVE],
                &[],
            ),
        ],
        // What the CA says when it happens to ask ns2.
        expect: fail("txt-not-propagated", TXT_NXDOMAIN),
    },
    Scenario {
        // The CNAME that delegates the challenge points at a name that does not exist.
        name: "txt-cname-dangling",
        about: "_acme-challenge is a CNAME to gone.other.test, which does not exist",
        setup: || zone(&["_acme-challenge CNAME gone.other.test."]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "_acme-challenge.example.test TXT",
            &[NXDOMAIN, "IN\tCNAME\tgone.other.test."],
            &[],
        )],
        expect: fail("acme-challenge-cname-dangling", TXT_NXDOMAIN),
    },
    Scenario {
        // https://github.com/srvrco/getssl/pull/668 (a wildcard CNAME *.mydomain.com made
        // _acme-challenge resolve into another name)
        name: "txt-wildcard-cname-shadow",
        about: "no TXT; *.example.test CNAME web.other.test answers for _acme-challenge",
        setup: || DnsSetup {
            parent: vec!["web.other A 192.0.2.10".into()],
            ..zone(&["* CNAME web.other.test."])
        },
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "_acme-challenge.example.test TXT",
            &[NOERROR, "IN\tCNAME\tweb.other.test."],
            &["IN\tTXT\t"],
        )],
        expect: fail(
            "wildcard-shadows-challenge",
            "No TXT record found at _acme-challenge.example.test",
        ),
    },
    Scenario {
        name: "txt-wildcard-txt-shadow",
        about: "no TXT; *.example.test TXT \"v=spf1 -all\" answers for _acme-challenge",
        setup: || zone(&["* TXT \"v=spf1 -all\""]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[dig(
            "unbound",
            "_acme-challenge.example.test TXT",
            &[NOERROR, "\"v=spf1 -all\""],
            &[],
        )],
        expect: fail(
            "wildcard-shadows-challenge",
            "Incorrect TXT record \"v=spf1 -all\" found at _acme-challenge.example.test",
        ),
    },
    Scenario {
        // The DNS panel appends the zone: `_acme-challenge.example.test` typed as a relative
        // name. No public report cited.
        name: "txt-doubled-label",
        about: "the TXT sits at _acme-challenge.example.test.example.test",
        setup: || zone(&[&format!("_acme-challenge.example.test TXT \"{TXT_VALUE}\"")]),
        domain: "example.test",
        args: &[],
        resolver: RESOLVER,
        digs: &[
            dig(
                "unbound",
                "_acme-challenge.example.test.example.test TXT",
                &[NOERROR, GOOD_TXT],
                &[],
            ),
            dig(
                "unbound",
                "_acme-challenge.example.test TXT",
                &[NXDOMAIN],
                &[],
            ),
        ],
        expect: fail("txt-doubled-label", TXT_NXDOMAIN),
    },
];

fn server(at: &str) -> &'static str {
    match at {
        "unbound" => RESOLVER,
        "ns1" => NS1,
        "ns2" => NS2,
        "parent" => PARENT,
        "sub" => SUB_NS,
        "stale" => STALE_RESOLVER,
        other => panic!("no lab server {other:?}"),
    }
}

/// One line of what dig showed: the status, the EDE and the answers' data.
fn dig_summary(out: &str) -> String {
    if out.contains("no servers could be reached") {
        return "timeout".into();
    }
    let status = out
        .split(", status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("?");
    let ede = out
        .lines()
        .find_map(|l| l.strip_prefix("; EDE: "))
        .map(|e| format!(" EDE {e}"))
        .unwrap_or_default();
    let mut answers = Vec::new();
    let mut in_answer = false;
    for line in out.lines() {
        if line.starts_with(";; ANSWER SECTION") {
            in_answer = true;
        } else if line.trim().is_empty() {
            in_answer = false;
        } else if in_answer {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 4 && fields[3] != "RRSIG" {
                answers.push(format!("{} {}", fields[3], fields[4..].join(" ")));
            }
        }
    }
    let answers = if answers.is_empty() {
        String::new()
    } else {
        format!(" [{}]", answers.join("; "))
    };
    format!("{status}{ede}{answers}")
}

/// Whether `text` matches `pattern`: `<ns>` matches one lab nameserver address, `<…>` any
/// text, `{a|b}` either alternative, everything else itself.
fn matches(pattern: &str, text: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("<…>") {
        return (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .any(|i| matches(rest, &text[i..]));
    }
    if let Some(body) = pattern.strip_prefix('{') {
        // `{a|b}`: one of the alternatives (no nesting), then the rest.
        let (alternatives, rest) = body.split_once('}').expect("an unclosed { in a pattern");
        return alternatives
            .split('|')
            .any(|alt| matches(&format!("{alt}{rest}"), text));
    }
    if let Some(rest) = pattern.strip_prefix("<ns>") {
        return NAMESERVER_ADDRS.iter().any(|a| {
            text.strip_prefix(a)
                .is_some_and(|after| matches(rest, after))
        });
    }
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some(p), Some(t)) if p == t => matches(&pattern[p.len_utf8()..], &text[t.len_utf8()..]),
        _ => false,
    }
}

struct Row {
    scenario: &'static str,
    digs: Vec<String>,
    diagnosis: String,
    infra_problems: Vec<String>,
    diagnosis_problems: Vec<String>,
    secs: f64,
}

fn judge(expect: Expect, run: &common::Run, problems: &mut Vec<String>) -> String {
    let report: Value = match serde_json::from_str(&run.stdout) {
        Ok(v) => v,
        Err(_) => {
            let err = run.stderr.lines().next().unwrap_or("").trim();
            problems.push(format!(
                "exit {}, no JSON report: {err} {}",
                run.code,
                run.stdout.trim()
            ));
            return format!(
                "exit {}: {}",
                run.code,
                err.chars().take(60).collect::<String>()
            );
        }
    };
    if let Some(message) = report["error"]["message"].as_str() {
        problems.push(format!("exit {}, error: {message}", run.code));
        return format!("exit {}: {message}", run.code);
    }
    // A run that could not test everything (here: HTTP-01 from a namespace with no route to
    // the addresses) ends in 3 when nothing blocks, and says so.
    let want_exit = match (expect.verdict, report["incomplete"].as_bool()) {
        ("fail", _) => 1,
        (_, Some(true)) => 3,
        _ => 0,
    };
    if run.code != want_exit {
        problems.push(format!("exit {} instead of {want_exit}", run.code));
    }
    if report["verdict"] != expect.verdict {
        problems.push(format!(
            "verdict {} instead of {}",
            report["verdict"], expect.verdict
        ));
    }
    let first = &report["findings"][0];
    match expect.top_code {
        Some(code) => {
            if first["code"] != code {
                problems.push(format!(
                    "top finding {} instead of {code}; findings {:#}",
                    first["code"], report["findings"]
                ));
            }
        }
        None => {
            if report["findings"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f["severity"] != "info"))
            {
                problems.push(format!(
                    "expected no blocker or warning: {:#}",
                    report["findings"]
                ));
            }
        }
    }
    if let Some(want) = expect.ca_error {
        let got = first["ca_error"].as_str().unwrap_or("");
        if !matches(want, got) {
            problems.push(format!("ca_error {got:?}, expected {want:?}"));
        }
    }
    format!(
        "{} {}",
        report["verdict"].as_str().unwrap_or("?"),
        first["code"].as_str().unwrap_or("-")
    )
}

fn run_scenario(s: &Scenario) -> Row {
    let started = Instant::now();
    let mut lab = DnsLab::start(&(s.setup)());
    let mut infra_problems = Vec::new();
    let mut digs = Vec::new();
    for d in s.digs {
        let out = lab.dig(server(d.at), d.query);
        let summary = dig_summary(&out);
        for want in d.want {
            if !out.contains(want) {
                infra_problems.push(format!("dig @{} {}: no {want:?} in:\n{out}", d.at, d.query));
            }
        }
        for not in d.not {
            if out.contains(not) {
                infra_problems.push(format!(
                    "dig @{} {}: unexpected {not:?} in:\n{out}",
                    d.at, d.query
                ));
            }
        }
        digs.push(format!("{} {}: {summary}", d.at, d.query));
    }
    // acme-doctor meets a resolver that has forgotten the checks above.
    lab.restart_resolver();
    let run = lab.acme_doctor(s.resolver, s.args, s.domain);
    let mut diagnosis_problems = Vec::new();
    let diagnosis = judge(s.expect, &run, &mut diagnosis_problems);
    Row {
        scenario: s.name,
        digs,
        diagnosis,
        infra_problems,
        diagnosis_problems,
        secs: started.elapsed().as_secs_f64(),
    }
}

fn expected(e: Expect) -> String {
    format!("{} {}", e.verdict, e.top_code.unwrap_or("-"))
}

#[test]
fn dns_lab_scenarios() {
    if !dns_lab_available("scenarios") {
        return;
    }
    let started = Instant::now();
    // Two at a time: the machine has two cores, and a scenario is mostly waiting.
    let rows = common::run_pool(SCENARIOS, 2, run_scenario, |s, panic| Row {
        scenario: s.name,
        digs: Vec::new(),
        diagnosis: "-".into(),
        infra_problems: vec![format!("panicked: {panic}")],
        diagnosis_problems: Vec::new(),
        secs: 0.0,
    });

    let mut table = format!(
        "\nDNS lab scenarios ({:.1} s)\n{:<30} {:<40} {:<40} {:<5} {}\n",
        started.elapsed().as_secs_f64(),
        "scenario",
        "expected",
        "acme-doctor",
        "lab",
        "diagnosis"
    );
    let mut notes = String::new();
    for row in &rows {
        let s = SCENARIOS.iter().find(|s| s.name == row.scenario).unwrap();
        let diagnosis = if row.diagnosis_problems.is_empty() {
            "ok"
        } else {
            "FAIL"
        };
        table += &format!(
            "{:<30} {:<40} {:<40} {:<5} {}\n",
            row.scenario,
            expected(s.expect),
            row.diagnosis.chars().take(40).collect::<String>(),
            if row.infra_problems.is_empty() {
                "ok"
            } else {
                "FAIL"
            },
            diagnosis
        );
        notes += &format!("  {} ({:.1} s): {}\n", s.name, row.secs, s.about);
        for d in &row.digs {
            notes += &format!("    dig {d}\n");
        }
        if let Some(ca) = s.expect.ca_error {
            notes += &format!("    ca_error: {ca}\n");
        }
    }
    table += &notes;
    let _ = std::io::stderr().write_all(table.as_bytes());

    let mut problems: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.infra_problems
                .iter()
                .map(move |p| format!("{} (lab): {p}", r.scenario))
        })
        .collect();
    problems.extend(rows.iter().flat_map(|r| {
        r.diagnosis_problems
            .iter()
            .map(move |p| format!("{} (diagnosis): {p}", r.scenario))
    }));
    let left = own_namespaces_left();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(rows.len(), SCENARIOS.len());
}

#[test]
fn ca_error_patterns() {
    assert!(matches("a <ns> b", "a 203.0.113.11 b"));
    assert!(matches("a <ns> b", "a 2001:db8:53::12 b"));
    assert!(!matches("a <ns> b", "a 192.0.2.1 b"));
    assert!(matches("x: <…>", "x: anything at all"));
    assert!(matches("x: <…>: y", "x: a: b: y"));
    assert!(!matches("exact", "exactly"));
    assert!(matches("", ""));
    assert!(matches("DNSSEC: {A: <…>|Bogus}", "DNSSEC: Bogus"));
    assert!(matches("DNSSEC: {A: <…>|Bogus}", "DNSSEC: A: why"));
    assert!(!matches("DNSSEC: {A: <…>|Bogus}", "DNSSEC: Bogus: why"));
    // Boulder's composition (§7.1) of what unbound 1.17 really answered in this lab.
    let pattern = |name: &str| {
        SCENARIOS
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.expect.ca_error)
            .unwrap()
    };
    let txt = "DNS problem: looking up TXT for _acme-challenge.example.test: ";
    for seen in [
        "DNSSEC: Signature Expired: validation failure <_acme-challenge.example.test. TXT IN>: signature expired from 2001:db8:53::11 for key example.test. while building chain of trust",
        "DNSSEC: Signature Expired: validation failure <_acme-challenge.example.test. TXT IN>: key for validation example.test. is marked as invalid because of a previous validation failure <example.test. CAA IN>: signature expired from 203.0.113.12 for key example.test. while building chain of trust",
        "DNSSEC: Bogus",
    ] {
        assert!(
            matches(pattern("dnssec-expired"), &format!("{txt}{seen}")),
            "{seen}"
        );
    }
    for seen in [
        "DNSSEC: DNSKEY Missing: validation failure <_acme-challenge.example.test. TXT IN>: no keys have a DS with algorithm ECDSAP256SHA256 from 203.0.113.12 for key example.test. while building chain of trust",
        "DNSSEC: Bogus",
    ] {
        assert!(
            matches(pattern("dnssec-wrong-ds"), &format!("{txt}{seen}")),
            "{seen}"
        );
    }
    assert!(!matches(
        pattern("dnssec-wrong-ds"),
        &format!("{txt}DNSSEC: Signature Expired")
    ));
}
