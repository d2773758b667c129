//! Loopback tier: the real binary against an in-process DNS server on 127.0.0.1. No root, no
//! traffic beyond loopback. DNS outcomes the lab's dnsmasq cannot produce (SERVFAIL, silence)
//! are proven here.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use common::dns::{DnsServer, Entry, Rec};
use hickory_resolver::proto::op::ResponseCode;
use serde_json::Value;

fn zone() -> DnsServer {
    DnsServer::start(vec![
        // The TLD exists, as real ones do: the CA's CAA walk reaches it.
        ("test", Entry::Records(vec![Rec::Soa(1)])),
        ("nodata.test", Entry::Records(vec![])),
        ("servfail.test", Entry::Rcode(ResponseCode::ServFail)),
        ("silent.test", Entry::Silent),
        (
            "slow.test",
            Entry::Slow(1500, vec![Rec::A("127.0.0.5".parse().unwrap())]),
        ),
        (
            "private.test",
            Entry::Records(vec![Rec::A("127.0.0.5".parse().unwrap())]),
        ),
        (
            "alias.test",
            Entry::Records(vec![Rec::Cname("private.test")]),
        ),
    ])
}

fn check(server: &DnsServer, extra: &[&str], domain: &str) -> (i32, Value) {
    let resolver = server.addr.to_string();
    let capture = common::capture_args(&format!("loopback-{domain}"));
    let mut args = vec!["--json", "--timeout", "1s", "--resolver", &resolver];
    args.extend(capture.iter().map(String::as_str));
    args.extend_from_slice(extra);
    args.push(domain);
    let run = acme_doctor(&args);
    (run.code, run.report().1)
}

fn codes(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

#[test]
fn nxdomain_is_a_blocker_with_boulders_exact_words() {
    let server = zone();
    let (code, report) = check(&server, &[], "missing.test");
    assert_eq!(code, 1);
    assert_eq!(codes(&report), ["dns-nxdomain"]);
    assert_eq!(
        report["findings"][0]["ca_error"],
        "DNS problem: NXDOMAIN looking up A for missing.test - check that a DNS record exists for this domain; \
         DNS problem: NXDOMAIN looking up AAAA for missing.test - check that a DNS record exists for this domain"
    );
    assert_eq!(
        report["facts"]["targets"][0]["dns"]["a"]["outcome"]["kind"],
        "nx-domain"
    );
}

/// Issue 21 item 5: with no zone at all (not even the TLD, as when the resolver's DNS is dead),
/// the CA's CAA walk fails at the TLD too; that blocker is the NXDOMAIN's symptom, not a second
/// cause.
#[test]
fn the_tlds_caa_failure_under_nxdomain_is_explained_by_it() {
    let server = DnsServer::start(vec![]);
    let (code, report) = check(&server, &[], "example.test");
    assert_eq!(code, 1);
    assert_eq!(codes(&report), ["dns-nxdomain", "caa-lookup-failed"]);
    assert_eq!(report["findings"][1]["explained_by"], "dns-nxdomain");
    assert_eq!(report["findings"][0]["explains"][0], "caa-lookup-failed");
}

#[test]
fn servfail_on_both_families_is_a_blocker() {
    let server = zone();
    let (code, report) = check(&server, &[], "servfail.test");
    assert_eq!(code, 1);
    // The same broken nameservers fail the CAA lookup the CA makes next.
    // (under the first SERVFAIL, IPv6 as the CA dials).
    assert_eq!(
        codes(&report),
        ["dns-servfail", "caa-lookup-failed", "dns-servfail"]
    );
    assert_eq!(report["findings"][1]["explained_by"], "dns-servfail");
    assert!(report["findings"][0]["ca_error"].as_str().unwrap().starts_with(
        "DNS problem: SERVFAIL looking up A for servfail.test - the domain's nameservers may be malfunctioning"
    ));
}

#[test]
fn a_name_without_addresses_is_no_address_records() {
    let server = zone();
    let (code, report) = check(&server, &[], "nodata.test");
    assert_eq!(code, 1);
    assert_eq!(codes(&report), ["no-address-records"]);
    assert_eq!(
        report["findings"][0]["ca_error"],
        "no valid A records found for nodata.test; no valid AAAA records found for nodata.test"
    );
}

#[test]
fn the_cname_chain_is_recorded_and_shown() {
    let server = zone();
    let (code, report) = check(&server, &[], "alias.test");
    assert_eq!(code, 1);
    assert_eq!(codes(&report), ["reserved-address"]);
    let hop = &report["facts"]["targets"][0]["dns"]["a"]["cname_chain"][0];
    assert_eq!(
        (hop["name"].as_str(), hop["target"].as_str()),
        (Some("alias.test"), Some("private.test"))
    );
    assert_eq!(
        report["facts"]["targets"][0]["dns"]["a"]["addresses"][0],
        "127.0.0.5"
    );
}

#[test]
fn a_silent_resolver_makes_the_run_incomplete() {
    let server = zone();
    let (code, report) = check(&server, &[], "silent.test");
    assert_eq!(code, 3, "{report:#}");
    // The CAA lookups meet the same silence: explained by it, not blamed on the domain.
    assert_eq!(codes(&report), ["dns-no-answer", "caa-lookup-failed"]);
    assert_eq!(report["findings"][1]["explained_by"], "dns-no-answer");
    assert_eq!(report["incomplete"], true);
    assert_eq!(report["verdict"], "at-risk");
}

#[test]
fn a_reserved_only_address_is_dropped_like_the_ca_does_and_never_probed() {
    let server = zone();
    let (code, report) = check(&server, &[], "private.test");
    assert_eq!(code, 1);
    assert_eq!(codes(&report), ["reserved-address"]);
    assert!(
        report["findings"][0]["evidence"][0]
            .as_str()
            .unwrap()
            .contains("[RFC1122]: Loopback")
    );
    assert_eq!(
        report["facts"]["targets"][0]["connects"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn a_resolver_that_is_not_there_is_one_finding_and_exit_3() {
    // A port nothing listens on: bind, note it, release it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let resolver = format!("127.0.0.1:{port}");
    let run = acme_doctor(&["--timeout", "1s", "--resolver", &resolver, "example.test"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let findings: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("[dns-no-answer]"))
        .collect();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// A resolver slower than half the timeout still answers in time: its late answer to the
/// first query is taken, not thrown away for a second try.
#[test]
fn a_slow_resolver_within_the_timeout_is_an_answer() {
    let server = zone();
    let resolver = server.addr.to_string();
    let run = acme_doctor(&[
        "--json",
        "--timeout",
        "2s",
        "--resolver",
        &resolver,
        "slow.test",
    ]);
    let report = run.json();
    let a = &report["facts"]["targets"][0]["dns"]["a"];
    assert_eq!(a["outcome"]["kind"], "answer", "{report:#}");
    assert_ne!(report["findings"][0]["code"], "dns-no-answer", "{report:#}");
}

/// Starved of file descriptors (a tiny `ulimit -n`, soft and hard, set in the child's shell),
/// acme-doctor never blames the resolver or the server for its own limit: each run either
/// stops with a tool error (exit 2, one JSON error object, no panic), or is incomplete with
/// no warning and no blocker (exit 3), or, with enough descriptors, gives the true answer
/// (nothing listens on 127.0.0.5:80: port-refused). Both of the first kinds must be seen in
/// the range, so the test cannot pass without meeting the limit.
#[test]
fn out_of_file_descriptors_is_never_the_servers_fault() {
    let server = zone();
    let resolver = server.addr.to_string();
    let (mut tool_errors, mut own_limits, mut answers) = (0, 0, 0);
    for limit in 6..=24 {
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\"")])
            .arg(common::BIN)
            .args([
                "--json",
                "--allow-reserved",
                "--timeout",
                "1s",
                "--resolver",
                &resolver,
                "private.test",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "limit {limit}: {stderr}");
        let report: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("limit {limit}: {e}: {stdout} {stderr}"));
        match out.status.code() {
            Some(2) => {
                assert!(report["error"]["message"].is_string(), "{report:#}");
                tool_errors += 1;
            }
            Some(3) => {
                assert_eq!(report["verdict"], "pass", "limit {limit}: {report:#}");
                assert_eq!(report["incomplete"], true);
                for f in report["findings"].as_array().unwrap() {
                    assert_eq!(f["severity"], "info", "limit {limit}: {f:#}");
                }
                assert!(stdout.contains("\"own_limit\": true"), "{report:#}");
                own_limits += 1;
            }
            Some(1) => {
                // (With few descriptors the host snapshot may be partial: its info lines vary.)
                let judged: Vec<&str> = report["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["severity"] != "info")
                    .map(|f| f["code"].as_str().unwrap())
                    .collect();
                assert_eq!(judged, ["port-refused"], "limit {limit}: {report:#}");
                let connects = &report["facts"]["targets"][0]["connects"];
                for c in connects.as_array().unwrap() {
                    assert_eq!(c["outcome"]["kind"], "refused", "limit {limit}: {c:#}");
                }
                answers += 1;
            }
            other => panic!("limit {limit}: exit {other:?}: {report:#}"),
        }
    }
    assert!(
        tool_errors > 0 && own_limits > 0 && answers > 0,
        "{tool_errors} {own_limits} {answers}"
    );
}
