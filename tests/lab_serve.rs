//! Lab tier: `acme-doctor serve` as a hostile caller uses it. The vantage runs in the outside
//! namespace with `--allow-reserved` (the lab's documentation addresses stand in for public
//! ones), so only the defences under test stand between the caller and what it asks for:
//!
//! - a name a URL parser reads as an IPv4 address (`0x7f.0x1`, published in the lab's DNS
//!   with the web server's address) used to make the vantage fetch from its own 127.0.0.1:80;
//!   now it is refused with 400 and nothing on that loopback is dialled;
//! - a name with 40 A records used to cost 4 connects per record; now the vantage dials at
//!   most its per-family cap and says how many addresses it left out.
//!
//! Connects are counted by iptables rules in the outside namespace (SYNs leaving it).

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{HOST_V4, Lab, RESOLVER, Setup};
use serde_json::Value;

const TOKEN: &str = "lab-serve-token-5c1e0b7a9d3f4e28";
const LISTEN: &str = "198.51.100.10:8080";
/// The vantage's per-family cap (`serve::MAX_DIAL_PER_FAMILY`), as README documents it.
const CAP: usize = 8;
/// Connects per dialled address: ports 80 and 443, then the challenge GET and `GET /`.
const CONNECTS_PER_ADDRESS: usize = 4;

/// Whether this file's tools exist; under CI=true their absence is a failure.
fn tools_available() -> bool {
    if !common::lab_available("serve") {
        return false;
    }
    let missing: Vec<&str> = ["curl", "busybox"]
        .into_iter()
        .filter(|t| !common::lab::tool_exists(t))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing tools: {}", missing.join(", "));
    if common::in_ci() {
        panic!("lab tier (serve) cannot run under CI=true: {why}");
    }
    common::announce_skip("lab tier (serve)", &why);
    false
}

fn start_serve(lab: &mut Lab) {
    let token = lab.dir.join("serve.token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let token = token.to_string_lossy().into_owned();
    let outside = lab.outside.clone();
    let args = [
        common::BIN,
        "serve",
        "--listen",
        LISTEN,
        "--token-file",
        &token,
        "--plain-http",
        "--allow-reserved",
        "--resolver",
        RESOLVER,
    ];
    lab.start_daemon(&outside, &args, "serve.log", 8080)
        .unwrap_or_else(|e| panic!("serve did not start: {e}"));
}

/// Asks the vantage about `domain` from the outside namespace: (status, body).
fn observe(lab: &Lab, domain: &str) -> (u16, String) {
    let url = format!(
        "http://{LISTEN}/v1/observe?domain={domain}&path=/.well-known/acme-challenge/abc&timeout_ms=2000"
    );
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.outside, "curl", "-sS", "-m", "60"])
        .args(["-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg(&url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Adds a rule counting TCP SYNs that leave the outside namespace and match `filter`, as
/// rule 1 of OUTPUT (one such rule per test); [`syns`] reads its count.
fn count_syns(lab: &Lab, filter: &str) {
    let mut rule = vec!["iptables", "-I", "OUTPUT", "1", "-p", "tcp", "--syn"];
    rule.extend(filter.split_whitespace());
    lab.ns_exec(&lab.outside, &rule).unwrap();
}

fn syns(lab: &Lab) -> u64 {
    let line = lab
        .ns_exec(
            &lab.outside,
            &["iptables", "-L", "OUTPUT", "1", "-n", "-v", "-x"],
        )
        .unwrap();
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// A vantage asked `domain=0x7f.0x1` (whose A record points at the lab's web server) used to
/// connect there, then send its GETs to its own 127.0.0.1:80, and return that server's
/// answer. Now the name is refused (400) and the web server on the vantage's loopback
/// receives nothing; so do `127.0.0.0x1` and `169.254.169.0xfe`.
#[test]
fn serve_refuses_a_name_read_as_an_address_and_dials_nothing() {
    if !tools_available() {
        return;
    }
    let mut setup = Setup::default();
    for name in ["0x7f.0x1", "127.0.0.0x1", "169.254.169.0xfe"] {
        setup.host_records.push(format!("{name},{HOST_V4}"));
    }
    let mut lab = Lab::start(&setup);
    let outside = lab.outside.clone();
    // A web server on the vantage's own loopback: what the crafted name used to reach.
    let www = lab.dir.join("loopback-www");
    std::fs::create_dir_all(www.join(".well-known/acme-challenge")).unwrap();
    std::fs::write(www.join("index.html"), "vantage-loopback-secret\n").unwrap();
    let www = www.to_string_lossy().into_owned();
    lab.start_daemon(
        &outside,
        &["busybox", "httpd", "-f", "-p", "127.0.0.1:80", "-h", &www],
        "loopback-httpd.log",
        80,
    )
    .unwrap();
    count_syns(&lab, "-d 127.0.0.0/8 --dport 80");
    start_serve(&mut lab);
    for name in ["0x7f.0x1", "127.0.0.0x1", "169.254.169.0xfe"] {
        let (status, body) = observe(&lab, name);
        assert_eq!(status, 400, "{name}: {body}");
        assert!(
            body.contains("Domain name does not end with a valid public suffix (TLD)"),
            "{name}: {body}"
        );
        assert!(!body.contains("vantage-loopback-secret"), "{name}: {body}");
    }
    assert_eq!(
        syns(&lab),
        0,
        "the vantage connected to its own 127.0.0.1:80"
    );
    // The vantage still observes an ordinary name, through the same web server's address.
    let (status, body) = observe(&lab, common::lab::DOMAIN);
    assert_eq!(status, 200, "{body}");
}

/// A name with 40 A records, each a live address of the lab's web server, used to cost 4
/// connects per record (a name with 2,000 records, 4,000 connects per request). Now the
/// vantage dials at most its cap per family, the first record (the one the CA dials) among
/// them, and says how many it left out.
#[test]
fn serve_dials_at_most_its_cap_of_a_name_with_many_records() {
    if !tools_available() {
        return;
    }
    const RECORDS: usize = 40;
    let addresses: Vec<String> = (0..RECORDS)
        .map(|i| format!("192.0.2.{}", 100 + i))
        .collect();
    // dnsmasq answers every line of a hosts file for a name, so one name gets them all.
    let hosts = std::env::temp_dir().join(format!(
        "acme-doctor-lab-serve-{}.hosts",
        std::process::id()
    ));
    let lines: String = addresses
        .iter()
        .map(|a| format!("{a} many.example.test\n"))
        .collect();
    std::fs::write(&hosts, lines).unwrap();
    let mut setup = Setup::default();
    setup
        .dns_extra
        .push(format!("--addn-hosts={}", hosts.display()));
    setup.host_commands = addresses
        .iter()
        .map(|a| {
            ["ip", "addr", "add", &format!("{a}/32"), "dev", "lo"]
                .map(str::to_string)
                .to_vec()
        })
        .collect();
    let mut lab = Lab::start(&setup);
    let _ = std::fs::remove_file(&hosts);
    count_syns(&lab, "-d 192.0.2.0/24 -m multiport --dports 80,443");
    start_serve(&mut lab);
    let (status, body) = observe(&lab, "many.example.test");
    assert_eq!(status, 200, "{body}");
    let o: Value = serde_json::from_str(&body).unwrap();
    let resolved = o["dns"]["a"]["addresses"].as_array().unwrap().len();
    assert_eq!(
        resolved, RECORDS,
        "the lab's DNS gives every record: {body}"
    );
    let dialled = syns(&lab) as usize;
    eprintln!(
        "serve: {dialled} connects for a name with {RECORDS} A records ({} bytes answered)",
        body.len()
    );
    assert!(
        dialled <= CAP * CONNECTS_PER_ADDRESS,
        "{dialled} connects for one request"
    );
    assert!(
        dialled >= CAP * 2,
        "the allowed addresses were dialled: {dialled}"
    );
    assert_eq!(o["targets_left_out"], RECORDS - CAP, "{body}");
    let probed: std::collections::BTreeSet<String> = o["connects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(probed.len(), CAP, "{probed:?}");
    let first = o["dns"]["a"]["addresses"][0].as_str().unwrap();
    assert!(
        probed.contains(first),
        "the CA's own pick {first} was left out"
    );
}
