//! DNS as the CA sees it, on loopback: CAA, DNSSEC (a resolver that answers SERVFAIL unless
//! asked with CD), the authoritative view (two nameservers on 127.0.0.11 and 127.0.0.12, one
//! port), and the DNS-01 method. In-process DNS servers only; no root, no traffic beyond
//! loopback. The lab tier proves the same with real nsd and unbound (tests/dns_lab.rs).

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use common::dns::{DnsServer, Entry, Rec};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;
use serde_json::Value;

/// A DNS server's table: name → what it answers.
type Zone = Vec<(&'static str, Entry)>;

const GOOD: &str = "gfj9Xq8Ku-kmS5Q3UnbGfk0zTgB7iP5PGJ5YQ8F8Y8o";

/// The resolver's view of the lab zone, with `extra` names added or replacing the defaults.
fn resolver(extra: Zone) -> Zone {
    let mut zone: Zone = vec![
        ("test", Entry::Records(vec![Rec::Soa(1)])),
        (
            "example.test",
            Entry::Records(vec![
                Rec::Soa(7),
                Rec::Ns("ns1.example.test"),
                Rec::Ns("ns2.example.test"),
                Rec::A("192.0.2.10".parse().unwrap()),
            ]),
        ),
        (
            "ns1.example.test",
            Entry::Records(vec![Rec::A("127.0.0.11".parse().unwrap())]),
        ),
        (
            "ns2.example.test",
            Entry::Records(vec![Rec::A("127.0.0.12".parse().unwrap())]),
        ),
        (
            "_acme-challenge.example.test",
            Entry::Records(vec![Rec::Txt(GOOD)]),
        ),
    ];
    for (name, entry) in extra {
        zone.retain(|(n, _)| *n != name);
        zone.push((name, entry));
    }
    zone
}

/// An authoritative server's copy of example.test.
fn authoritative(serial: u32, a: &'static str, txt: Option<&'static str>) -> Zone {
    let mut zone = vec![(
        "example.test",
        Entry::Records(vec![
            Rec::Soa(serial),
            Rec::Ns("ns1.example.test"),
            Rec::Ns("ns2.example.test"),
            Rec::A(a.parse().unwrap()),
        ]),
    )];
    if let Some(t) = txt {
        zone.push((
            "_acme-challenge.example.test",
            Entry::Records(vec![Rec::Txt(t)]),
        ));
    }
    zone
}

struct Lab {
    resolver: DnsServer,
    port: u16,
    _ns: (DnsServer, DnsServer),
}

// Callers build the zones inline; taking them by value reads better there.
#[allow(clippy::needless_pass_by_value)]
fn lab(extra: Zone, ns1: Zone, ns2: Zone) -> Lab {
    lab_with(resolver(extra), &ns1, ns2)
}

fn lab_with(zone: Zone, ns1: &[(&'static str, Entry)], ns2: Zone) -> Lab {
    let ns = DnsServer::pair("127.0.0.11", "127.0.0.12", ns1, ns2);
    Lab {
        resolver: DnsServer::start(zone),
        port: ns.0.addr.port(),
        _ns: ns,
    }
}

fn healthy_ns() -> (Zone, Zone) {
    (
        authoritative(7, "192.0.2.10", Some(GOOD)),
        authoritative(7, "192.0.2.10", Some(GOOD)),
    )
}

/// Runs acme-doctor against the lab; with ACME_DOCTOR_CAPTURE_FIXTURES set, the facts are
/// saved as `dns-<label>.json`.
fn run(lab: &Lab, label: &str, args: &[&str], domain: &str) -> (i32, Value) {
    let resolver = lab.resolver.addr.to_string();
    let port = lab.port.to_string();
    let capture = common::capture_args(&format!("dns-{label}"));
    let mut all = vec![
        "--json",
        "--timeout",
        "1s",
        "--resolver",
        &resolver,
        "--authoritative-port",
        &port,
    ];
    all.extend(capture.iter().map(String::as_str));
    all.extend_from_slice(args);
    all.push(domain);
    let run = acme_doctor(&all);
    (run.code, run.report().1)
}

fn dns01(lab: &Lab, label: &str) -> (i32, Value) {
    run(
        lab,
        label,
        &["--method", "dns-01", "--expect-txt", GOOD],
        "example.test",
    )
}

fn codes(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

fn top<'a>(report: &'a Value, code: &str) -> &'a Value {
    let first = &report["findings"][0];
    assert_eq!(first["code"], code, "{report:#}");
    first
}

#[test]
fn dns01_with_the_txt_everywhere_passes() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(vec![], ns1, ns2);
    let (code, report) = dns01(&lab, "dns01-healthy");
    assert_eq!(code, 0, "{report:#}");
    assert!(codes(&report).is_empty(), "{report:#}");
    let facts = &report["facts"]["targets"][0];
    assert_eq!(
        facts["authoritative"]["servers"].as_array().unwrap().len(),
        2
    );
}

#[test]
fn a_wrong_txt_is_quoted_as_the_ca_quotes_it() {
    let lab = lab(
        vec![(
            "_acme-challenge.example.test",
            Entry::Records(vec![Rec::Txt("stale-value")]),
        )],
        authoritative(7, "192.0.2.10", Some("stale-value")),
        authoritative(7, "192.0.2.10", Some("stale-value")),
    );
    let (code, report) = dns01(&lab, "txt-wrong");
    assert_eq!(code, 1);
    let f = top(&report, "txt-wrong");
    assert_eq!(
        f["ca_error"],
        "Incorrect TXT record \"stale-value\" found at _acme-challenge.example.test"
    );
    assert_eq!(f["ca_problem"], "urn:ietf:params:acme:error:unauthorized");
}

#[test]
fn a_txt_on_one_nameserver_only_is_not_propagated() {
    let lab = lab(
        vec![],
        authoritative(8, "192.0.2.10", Some(GOOD)),
        authoritative(7, "192.0.2.10", None),
    );
    let (code, report) = dns01(&lab, "txt-on-one-server");
    assert_eq!(code, 1, "{report:#}");
    let f = top(&report, "txt-not-propagated");
    assert!(
        f["evidence"][0].as_str().unwrap().contains("127.0.0.12"),
        "{f:#}"
    );
    // What the CA gets when its resolver asks ns2, which does not know the name.
    assert_eq!(
        f["ca_error"],
        "DNS problem: NXDOMAIN looking up TXT for _acme-challenge.example.test - check that a DNS record exists for this domain"
    );
}

#[test]
fn a_missing_txt_entered_with_the_zone_twice_is_a_doubled_label() {
    let lab = lab(
        vec![
            ("_acme-challenge.example.test", Entry::Records(vec![])),
            (
                "_acme-challenge.example.test.example.test",
                Entry::Records(vec![Rec::Txt(GOOD)]),
            ),
        ],
        authoritative(7, "192.0.2.10", None),
        authoritative(7, "192.0.2.10", None),
    );
    let (code, report) = dns01(&lab, "txt-doubled-label");
    assert_eq!(code, 1);
    assert_eq!(
        codes(&report)[..2],
        ["txt-doubled-label", "txt-missing"],
        "{report:#}"
    );
    assert_eq!(report["findings"][1]["explained_by"], "txt-doubled-label");
    assert_eq!(
        report["findings"][1]["ca_error"],
        "No TXT record found at _acme-challenge.example.test"
    );
}

#[test]
fn a_challenge_cname_to_nowhere_is_dangling() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "_acme-challenge.example.test",
            Entry::Records(vec![Rec::Cname("gone.acme-dns.test")]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "txt-cname-dangling");
    assert_eq!(code, 1);
    top(&report, "acme-challenge-cname-dangling");
    assert!(codes(&report).contains(&"txt-missing"));
}

#[test]
fn a_wildcard_cname_shadows_the_challenge_name() {
    let (ns1, ns2) = healthy_ns();
    // No record of its own at _acme-challenge: the wildcard answers for it.
    let zone = resolver(vec![
        (
            "*.example.test",
            Entry::Records(vec![Rec::Cname("www.example.test")]),
        ),
        (
            "www.example.test",
            Entry::Records(vec![Rec::A("192.0.2.10".parse().unwrap())]),
        ),
    ])
    .into_iter()
    .filter(|(n, _)| *n != "_acme-challenge.example.test")
    .collect();
    let lab = lab_with(zone, &ns1, ns2);
    let (code, report) = dns01(&lab, "txt-wildcard-shadow");
    assert_eq!(code, 1);
    let f = top(&report, "wildcard-shadows-challenge");
    assert_eq!(
        f["ca_error"],
        "No TXT record found at _acme-challenge.example.test"
    );
}

#[test]
fn caa_naming_another_ca_forbids_with_the_record_to_add() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "example.test",
            Entry::Records(vec![
                Rec::Soa(7),
                Rec::Ns("ns1.example.test"),
                Rec::Ns("ns2.example.test"),
                Rec::Caa(0, "issue", "pki.goog"),
            ]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "caa-other-ca-on-name");
    assert_eq!(code, 1);
    let f = top(&report, "caa-forbids");
    assert_eq!(
        f["ca_error"],
        "While processing CAA for example.test: CAA record for example.test prevents issuance"
    );
    assert_eq!(f["ca_problem"], "urn:ietf:params:acme:error:caa");
    assert!(
        f["fix"][0]
            .as_str()
            .unwrap()
            .contains("example.test CAA 0 issue \"letsencrypt.org\"")
    );
    // The same record allows Google Trust Services.
    let (code, _) = run(
        &lab,
        "caa-allows-google",
        &["--method", "dns-01", "--expect-txt", GOOD, "--ca", "google"],
        "example.test",
    );
    assert_eq!(code, 0);
}

#[test]
fn caa_on_the_parent_only_is_found_by_the_tree_walk() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "test",
            Entry::Records(vec![Rec::Soa(1), Rec::Caa(0, "issue", "sectigo.com")]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "caa-other-ca-on-parent");
    assert_eq!(code, 1);
    let f = top(&report, "caa-forbids");
    assert_eq!(
        f["ca_error"],
        "While processing CAA for example.test: CAA record for test prevents issuance"
    );
}

#[test]
fn caa_with_a_critical_unknown_tag_forbids() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "example.test",
            Entry::Records(vec![
                Rec::Soa(7),
                Rec::Ns("ns1.example.test"),
                Rec::Ns("ns2.example.test"),
                Rec::Caa(0, "issue", "letsencrypt.org"),
                Rec::Caa(128, "tbs", "unknown"),
            ]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "caa-critical-unknown-tag");
    assert_eq!(code, 1);
    top(&report, "caa-critical-unknown");
}

#[test]
fn a_caa_servfail_at_the_tld_fails_the_check() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "test",
            Entry::TypeRcode(RecordType::CAA, ResponseCode::ServFail, vec![Rec::Soa(1)]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "caa-servfail-at-tld");
    assert_eq!(code, 1);
    let f = top(&report, "caa-lookup-failed");
    assert_eq!(
        f["ca_error"],
        "While processing CAA for example.test: DNS problem: SERVFAIL looking up CAA for test - the domain's nameservers may be malfunctioning"
    );
}

#[test]
fn a_bogus_signature_is_told_apart_from_a_dead_server_with_cd() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "_acme-challenge.example.test",
            Entry::Bogus(vec![Rec::Txt(GOOD)], 7),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "dnssec-bogus-txt");
    assert_eq!(code, 1);
    let f = top(&report, "dnssec-bogus");
    assert_eq!(
        f["ca_error"],
        "DNS problem: looking up TXT for _acme-challenge.example.test: DNSSEC: Signature Expired: lab: broken chain of trust"
    );
    assert_eq!(report["findings"][1]["code"], "txt-lookup-failed");
    assert_eq!(report["findings"][1]["explained_by"], "dnssec-bogus");
}

#[test]
fn nameservers_that_disagree_and_a_stale_resolver_are_named() {
    let lab = lab(
        vec![],
        authoritative(8, "192.0.2.20", None),
        authoritative(7, "192.0.2.10", None),
    );
    // http-01 without --allow-reserved: the documentation addresses are dropped, never dialled.
    let (_, report) = run(&lab, "ns-disagree-aaaa", &[], "example.test");
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "nameservers-disagree")
        .unwrap_or_else(|| panic!("{report:#}"));
    let evidence: Vec<&str> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("192.0.2.20") && e.contains("SOA serial 8")),
        "{evidence:?}"
    );

    let lab = self::lab(
        vec![],
        authoritative(8, "192.0.2.20", None),
        authoritative(8, "192.0.2.20", None),
    );
    let (_, report) = run(&lab, "stale-local-resolver", &[], "example.test");
    assert!(codes(&report).contains(&"resolver-stale"), "{report:#}");
}

#[test]
fn a_nameserver_that_does_not_answer_is_named() {
    let (ns1, _) = healthy_ns();
    // ns2's address has no server on the port.
    let lab = lab(
        vec![(
            "ns2.example.test",
            Entry::Records(vec![Rec::A("127.0.0.13".parse().unwrap())]),
        )],
        ns1,
        vec![],
    );
    let (code, report) = dns01(&lab, "nameserver-unreachable");
    assert_eq!(code, 0, "{report:#}");
    assert!(
        codes(&report).contains(&"nameserver-unreachable"),
        "{report:#}"
    );
}

fn with_caa(value: &'static str) -> Zone {
    vec![(
        "example.test",
        Entry::Records(vec![
            Rec::Soa(7),
            Rec::Ns("ns1.example.test"),
            Rec::Ns("ns2.example.test"),
            Rec::Caa(0, "issue", value),
        ]),
    )]
}

#[test]
fn caa_validationmethods_without_the_method_forbids_it() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        with_caa("letsencrypt.org; validationmethods=http-01"),
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "caa-method-forbidden");
    assert_eq!(code, 1);
    top(&report, "caa-method-forbidden");
}

#[test]
fn caa_accounturi_for_another_account_forbids() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        with_caa("letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/1"),
        ns1,
        ns2,
    );
    let (code, report) = run(
        &lab,
        "caa-account-mismatch",
        &[
            "--method",
            "dns-01",
            "--expect-txt",
            GOOD,
            "--account-uri",
            "https://acme-v02.api.letsencrypt.org/acme/acct/2",
        ],
        "example.test",
    );
    assert_eq!(code, 1);
    top(&report, "caa-account-mismatch");
    // Without --account-uri the account cannot be compared: a warning, not a blocker.
    let (code, report) = dns01(&lab, "caa-account-unknown");
    assert_eq!(code, 0);
    assert_eq!(top(&report, "caa-account-mismatch")["severity"], "warning");
}

#[test]
fn a_resolver_with_an_old_txt_is_stale_when_every_server_has_the_new_one() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "_acme-challenge.example.test",
            Entry::Records(vec![Rec::Txt("old-value")]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = dns01(&lab, "txt-stale-resolver");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(codes(&report), ["resolver-stale"]);
}

#[test]
fn a_txt_missing_everywhere_is_missing() {
    let lab = lab(
        vec![("_acme-challenge.example.test", Entry::Records(vec![]))],
        authoritative(7, "192.0.2.10", None),
        authoritative(7, "192.0.2.10", None),
    );
    let (code, report) = dns01(&lab, "txt-missing");
    assert_eq!(code, 1);
    assert_eq!(codes(&report), ["txt-missing"], "{report:#}");
}

#[test]
fn issuewild_decides_for_a_wildcard() {
    let (ns1, ns2) = healthy_ns();
    let lab = lab(
        vec![(
            "example.test",
            Entry::Records(vec![
                Rec::Soa(7),
                Rec::Ns("ns1.example.test"),
                Rec::Ns("ns2.example.test"),
                Rec::Caa(0, "issue", "letsencrypt.org"),
                Rec::Caa(0, "issuewild", "sectigo.com"),
            ]),
        )],
        ns1,
        ns2,
    );
    let (code, report) = run(
        &lab,
        "caa-issuewild-only-wildcard",
        &["--method", "dns-01", "--expect-txt", GOOD],
        "*.example.test",
    );
    assert_eq!(code, 1, "{report:#}");
    let f = top(&report, "caa-forbids");
    assert_eq!(
        f["ca_error"],
        "While processing CAA for *.example.test: CAA record for example.test prevents issuance"
    );
    // The plain name goes by issue, which allows Let's Encrypt.
    let (code, _) = dns01(&lab, "caa-issue-allows-plain-name");
    assert_eq!(code, 0);
}
