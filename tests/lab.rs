//! Lab tier: the headline scenarios on real networks in namespaces the test creates (root).
//! Each scenario runs acme-doctor twice: on the server (host namespace, local truth) and from
//! outside (the CA's side of the router).

mod common;

use common::lab::{DOMAIN, HOST_V6, Lab, Setup};
use serde_json::Value;

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| f["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn top(report: &Value) -> &Value {
    &report["findings"][0]
}

fn say(scenario: &str, view: &str, report: &Value, code: i32) {
    eprintln!(
        "lab scenario {scenario:<18} {view:<8} exit {code} verdict {:<8} codes {:?}",
        report["verdict"].as_str().unwrap_or("?"),
        codes(report)
    );
}

#[test]
fn lab_seed_ipv6_disabled_is_named_on_the_host_and_times_out_from_outside() {
    if !common::lab_available("seed") {
        return;
    }
    let mut setup = Setup::default();
    setup.host_commands.push(vec![
        "sysctl".into(),
        "-qw".into(),
        "net.ipv6.conf.all.disable_ipv6=1".into(),
    ]);
    let lab = Lab::start(&setup);

    let run = lab.acme_doctor(&lab.host, &["--json", DOMAIN]);
    let report = run.json();
    say("seed", "host", &report, run.code);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(report["verdict"], "fail");
    let first = top(&report);
    assert_eq!(first["code"], "ipv6-disabled", "{:#}", report["findings"]);
    assert_eq!(first["family"], "ipv6");
    assert_eq!(first["port"], 80);
    let evidence = first["evidence"].to_string();
    assert!(
        evidence.contains("net.ipv6.conf.all.disable_ipv6 = 1"),
        "{evidence}"
    );
    assert!(
        first["ca_error"]
            .as_str()
            .unwrap_or("")
            .contains("Timeout during connect")
    );
    // The host's own facts settle it: no waiting for a 2 s connect timeout.
    let ms = report["duration_ms"].as_u64().unwrap_or(u64::MAX);
    eprintln!("lab scenario seed on the host diagnosed in {ms} ms");
    assert!(ms < 1500, "the seed case on the host took {ms} ms");

    let run = lab.acme_doctor(&lab.outside, &["--json", DOMAIN]);
    let report = run.json();
    say("seed", "outside", &report, run.code);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let first = top(&report);
    assert_eq!(first["code"], "port-timeout", "{:#}", report["findings"]);
    assert_eq!(first["family"], "ipv6");
    assert!(first["title"].as_str().unwrap_or("").contains(HOST_V6));
    assert!(
        first["title"]
            .as_str()
            .unwrap_or("")
            .contains("does not answer")
    );
    assert!(codes(&report).contains(&"not-on-host".to_string()));
}

#[test]
fn lab_healthy_dual_stack_passes_from_both_views() {
    if !common::lab_available("healthy") {
        return;
    }
    let lab = Lab::start(&Setup::default());
    for (view, ns) in [("host", &lab.host), ("outside", &lab.outside)] {
        let run = lab.acme_doctor(ns, &["--json", DOMAIN]);
        let report = run.json();
        say("healthy", view, &report, run.code);
        assert_eq!(run.code, 0, "{view}: {}", run.stdout);
        assert_eq!(report["verdict"], "pass", "{view}");
        assert_eq!(report["incomplete"], false);
        assert!(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["severity"] == "info")
        );
    }
}

#[test]
fn lab_stale_aaaa_is_named_on_the_host() {
    if !common::lab_available("stale AAAA") {
        return;
    }
    let setup = Setup {
        host_records: vec![format!("{DOMAIN},192.0.2.10,2001:db8:2::99")],
        ..Setup::default()
    };
    let lab = Lab::start(&setup);
    let run = lab.acme_doctor(&lab.host, &["--json", DOMAIN]);
    let report = run.json();
    say("stale-aaaa", "host", &report, run.code);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        top(&report)["code"],
        "aaaa-not-local",
        "{:#}",
        report["findings"]
    );
    assert_eq!(top(&report)["family"], "ipv6");
    assert!(
        top(&report)["title"]
            .as_str()
            .unwrap_or("")
            .contains("2001:db8:2::99")
    );

    let run = lab.acme_doctor(&lab.outside, &["--json", DOMAIN]);
    let report = run.json();
    say("stale-aaaa", "outside", &report, run.code);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let first = top(&report);
    assert_eq!(first["family"], "ipv6");
    assert!(
        first["code"] == "port-timeout" || first["code"] == "address-unreachable",
        "{:#}",
        report["findings"]
    );
}

#[test]
fn lab_ipv4_only_nginx_is_a_missing_ipv6_listener() {
    if !common::lab_available("IPv4-only nginx") {
        return;
    }
    let setup = Setup {
        listen: vec!["listen 80;".into()],
        ..Setup::default()
    };
    let lab = Lab::start(&setup);
    let run = lab.acme_doctor(&lab.host, &["--json", DOMAIN]);
    let report = run.json();
    say("ipv4-only-nginx", "host", &report, run.code);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let first = top(&report);
    assert_eq!(first["code"], "no-listener", "{:#}", report["findings"]);
    assert_eq!(first["family"], "ipv6");
    assert!(
        first["title"].as_str().unwrap_or("").contains("0.0.0.0:80"),
        "{}",
        first["title"]
    );

    let run = lab.acme_doctor(&lab.outside, &["--json", DOMAIN]);
    let report = run.json();
    say("ipv4-only-nginx", "outside", &report, run.code);
    assert_eq!(run.code, 1);
    assert_eq!(top(&report)["code"], "port-refused");
    assert_eq!(top(&report)["family"], "ipv6");
}
