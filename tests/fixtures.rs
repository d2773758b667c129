//! Diagnosis fixtures: facts captured from real runs (lab and loopback, see
//! tests/fixtures/README.md) go in, the ranked codes must come out. The diagnosis is pure, so
//! these run in milliseconds and never touch a network.

mod common;

use acme_doctor::diagnose::diagnose;
use acme_doctor::facts::Facts;

/// fixture, verdict, incomplete, ranked findings as `code/family/port/severity-initial`.
const CASES: &[(&str, &str, bool, &[&str])] = &[
    ("healthy-host", "pass", false, &[]),
    ("healthy-outside", "pass", false, &["not-on-host/-/-/i"]),
    (
        "seed-host",
        "fail",
        false,
        &["ipv6-disabled/ipv6/80/b", "address-unreachable/ipv6/80/b"],
    ),
    (
        "seed-outside",
        "fail",
        false,
        &["port-timeout/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    // docker0 came up after `all=1` and took `default`=0: the carrying interface decides.
    (
        "derived-ipv6-disabled-docker0-later",
        "fail",
        false,
        &["ipv6-disabled/ipv6/80/b", "address-unreachable/ipv6/80/b"],
    ),
    (
        "derived-kernel-without-ipv6",
        "fail",
        false,
        &["ipv6-disabled/ipv6/80/b", "address-unreachable/ipv6/80/b"],
    ),
    (
        "stale-aaaa-host",
        "fail",
        false,
        &["aaaa-not-local/ipv6/80/b", "port-timeout/ipv6/80/b"],
    ),
    (
        "stale-aaaa-outside",
        "fail",
        false,
        &["port-timeout/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "ipv4-only-nginx-host",
        "fail",
        false,
        &["no-listener/ipv6/80/b", "port-refused/ipv6/80/b"],
    ),
    (
        "ipv4-only-nginx-outside",
        "fail",
        false,
        &["port-refused/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "nothing-listening-host",
        "fail",
        false,
        &[
            "no-listener/ipv4/80/b",
            "port-refused/ipv4/80/b",
            "no-listener/ipv6/80/b",
            "port-refused/ipv6/80/b",
        ],
    ),
    (
        "nothing-listening-outside",
        "fail",
        false,
        &[
            "port-refused/ipv4/80/b",
            "port-refused/ipv6/80/b",
            "not-on-host/-/-/i",
        ],
    ),
    (
        "ipv6-no-route-host",
        "fail",
        false,
        &["ipv6-no-route/ipv6/80/b"],
    ),
    (
        "ipv6-no-route-outside",
        "fail",
        false,
        &["port-timeout/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "aaaa-unroutable-host",
        "fail",
        false,
        &["aaaa-not-local/ipv6/80/b", "address-unreachable/ipv6/80/b"],
    ),
    (
        "aaaa-unroutable-outside",
        "fail",
        false,
        &["address-unreachable/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "derived-laptop-without-ipv6",
        "pass",
        true,
        &["address-unreachable/ipv6/80/i", "not-on-host/-/-/i"],
    ),
    (
        "derived-https-redirect-443-dead",
        "fail",
        false,
        &[
            "port-timeout/ipv4/443/b",
            "port-timeout/ipv6/443/b",
            "not-on-host/-/-/i",
        ],
    ),
    (
        "derived-aaaa-servfail",
        "at-risk",
        false,
        &["dns-servfail/ipv6/-/w", "not-on-host/-/-/i"],
    ),
    ("nxdomain-host", "fail", false, &["dns-nxdomain/-/-/b"]),
    (
        "loopback-missing.test",
        "fail",
        false,
        &["dns-nxdomain/-/-/b"],
    ),
    (
        "loopback-servfail.test",
        "fail",
        false,
        &["dns-servfail/ipv4/-/b", "dns-servfail/ipv6/-/b"],
    ),
    (
        "loopback-silent.test",
        "at-risk",
        true,
        &["dns-no-answer/-/-/w"],
    ),
    (
        "loopback-nodata.test",
        "fail",
        false,
        &["no-address-records/-/-/b"],
    ),
    (
        "loopback-private.test",
        "fail",
        false,
        &["reserved-address/ipv4/-/b"],
    ),
    (
        "loopback-alias.test",
        "fail",
        false,
        &["reserved-address/ipv4/-/b"],
    ),
    (
        "reserved-only-host",
        "fail",
        false,
        &["reserved-address/-/-/b"],
    ),
    (
        "fw-allowlist-host",
        "at-risk",
        false,
        &[
            "firewall-allowlist/ipv4/80/w",
            "firewall-allowlist/ipv6/80/w",
        ],
    ),
    (
        "fw-allowlist-outside",
        "pass",
        false,
        &["not-on-host/-/-/i"],
    ),
    (
        "fw-firewalld-style-host",
        "fail",
        false,
        &["firewall-drops/ipv4/80/b"],
    ),
    (
        "fw-firewalld-style-outside",
        "fail",
        false,
        &["address-unreachable/ipv4/80/b", "not-on-host/-/-/i"],
    ),
    (
        "fw-ip6tables-drop-host",
        "fail",
        false,
        &["firewall-drops/ipv6/80/b"],
    ),
    (
        "fw-ip6tables-drop-outside",
        "fail",
        false,
        &["port-timeout/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "fw-legacy-policy-drop-host",
        "fail",
        false,
        &["firewall-drops/ipv4/80/b"],
    ),
    (
        "fw-legacy-policy-drop-outside",
        "fail",
        false,
        &["port-timeout/ipv4/80/b", "not-on-host/-/-/i"],
    ),
    (
        "fw-nft-drop-v6-host",
        "fail",
        false,
        &["firewall-drops/ipv6/80/b", "port-timeout/ipv6/80/b"],
    ),
    (
        "fw-nft-drop-v6-outside",
        "fail",
        false,
        &["port-timeout/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "fw-nft-reject-v4-host",
        "fail",
        false,
        &["firewall-drops/ipv4/80/b"],
    ),
    (
        "fw-nft-reject-v4-outside",
        "fail",
        false,
        &["port-refused/ipv4/80/b", "not-on-host/-/-/i"],
    ),
    ("fw-nft-rich-accept-host", "pass", false, &[]),
    (
        "fw-nft-rich-accept-outside",
        "pass",
        false,
        &["not-on-host/-/-/i"],
    ),
    (
        "fw-ufw-style-host",
        "fail",
        false,
        &["firewall-drops/ipv4/80/b"],
    ),
    (
        "fw-ufw-style-outside",
        "fail",
        false,
        &["port-timeout/ipv4/80/b", "not-on-host/-/-/i"],
    ),
    (
        "listener-wrong-address-host",
        "fail",
        false,
        &["listener-wrong-address/ipv6/80/b", "port-refused/ipv6/80/b"],
    ),
    (
        "listener-wrong-address-outside",
        "fail",
        false,
        &["port-refused/ipv6/80/b", "not-on-host/-/-/i"],
    ),
    (
        "unprivileged-host",
        "pass",
        true,
        &["firewall-unknown/-/-/i"],
    ),
    (
        "ipv4-firewall-drop-host",
        "at-risk",
        false,
        &["firewall-drops/ipv4/80/w", "port-timeout/ipv4/80/w"],
    ),
    (
        "port-refused-host",
        "fail",
        false,
        &["firewall-drops/ipv6/80/b", "port-refused/ipv6/80/b"],
    ),
    (
        "challenge-403-host",
        "fail",
        false,
        &["challenge-status/ipv4/80/b", "challenge-status/ipv6/80/b"],
    ),
    (
        "redirect-8080-outside",
        "fail",
        false,
        &[
            "bad-redirect/ipv4/80/b",
            "bad-redirect/ipv6/80/b",
            "not-on-host/-/-/i",
        ],
    ),
    (
        "no-response-host",
        "fail",
        false,
        &["http-no-response/ipv4/80/b", "http-no-response/ipv6/80/b"],
    ),
    ("wildcard", "fail", false, &["wildcard-needs-dns01/-/-/b"]),
];

fn path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Facts {
    let text = std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn each_fixture_gives_its_ranked_codes() {
    let mut failures = Vec::new();
    for (name, verdict, incomplete, expected) in CASES {
        let d = diagnose(&load(name));
        let got: Vec<String> = d
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}/{}/{}/{}",
                    f.code,
                    f.family.map_or("-", |x| x.as_str()),
                    f.port.map_or("-".into(), |p| p.to_string()),
                    &f.severity.as_str()[..1]
                )
            })
            .collect();
        if got != *expected || d.verdict.as_str() != *verdict || d.incomplete != *incomplete {
            failures.push(format!(
                "{name}: got {} {} {got:?}, expected {verdict} {incomplete} {expected:?}",
                d.verdict.as_str(),
                d.incomplete
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_code_is_produced_by_some_fixture() {
    let produced: std::collections::BTreeSet<String> = CASES
        .iter()
        .flat_map(|(name, ..)| {
            diagnose(&load(name))
                .findings
                .into_iter()
                .map(|f| f.code.to_string())
        })
        .collect();
    for code in acme_doctor::diagnose::Code::ALL {
        assert!(
            produced.contains(code.as_str()),
            "no fixture produces {code}"
        );
    }
}

#[test]
fn every_fixture_file_is_listed() {
    for entry in
        std::fs::read_dir(format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"))).unwrap()
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            assert!(
                CASES.iter().any(|c| c.0 == stem),
                "tests/fixtures/{name} has no expectation"
            );
        }
    }
}

#[test]
fn the_binary_rediagnoses_saved_facts_offline_with_the_same_exit_codes() {
    for (name, verdict, incomplete, _) in CASES {
        let run = common::acme_doctor(&["--json", "--from-facts", &path(name)]);
        let want = match (*verdict, *incomplete) {
            ("fail", _) => 1,
            (_, true) => 3,
            _ => 0,
        };
        assert_eq!(run.code, want, "{name}: {}", run.stderr);
        let (strict, _) = run.report();
        assert_eq!(
            strict.facts,
            load(name),
            "{name}: facts survive the round trip"
        );
        // Every output renders every diagnosis, with the same exit code and no panic.
        let file = path(name);
        for mode in [
            &["-v"][..],
            &["--report"],
            &["--ndjson"],
            &["--color", "always"],
        ] {
            let mut args = mode.to_vec();
            args.extend(["--from-facts", file.as_str()]);
            let other = common::acme_doctor(&args);
            assert_eq!(other.code, want, "{name} {mode:?}: {}", other.stderr);
            assert!(other.stderr.is_empty(), "{name} {mode:?}: {}", other.stderr);
            assert!(!other.stdout.is_empty(), "{name} {mode:?}");
        }
    }
}

#[test]
fn diagnosis_is_deterministic() {
    for (name, ..) in CASES {
        let facts = load(name);
        assert_eq!(diagnose(&facts), diagnose(&facts), "{name}");
    }
}
