//! Benchmark: the cost of asking vantages. In the lab's healthy scenario, with two
//! `acme-doctor serve` vantages (the outside namespace, and a machine of its own behind the
//! router), it times the host run alone, one vantage's observation as the host asks for it
//! (curl from the host namespace), and the host run with both vantages. Run as root:
//!
//!     cargo bench --bench vantage
//!
//! Target: the host run with two vantages takes no longer than the slower of (host
//! run, vantage run) plus 100 ms: the vantages are asked in parallel with the host's own
//! probes, within the same deadline. A benchmark, not a test: it prints, it asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::lab::{DOMAIN, Lab, RESOLVER, Setup};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 9;
const TOKEN: &str = "bench-vantage-token-0123456789abcdef";

fn time(cmd: &[String]) -> Duration {
    let started = Instant::now();
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    let wall = started.elapsed();
    assert!(status.code().is_some(), "{cmd:?} was killed");
    wall
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !common::is_root() {
        eprintln!("bench vantage: needs root (network namespaces); skipped");
        return;
    }
    let mut lab = Lab::start(&Setup::default());
    let token = lab.dir.join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let token = token.to_string_lossy().into_owned();
    let second = lab
        .add_machine("v", "203.0.113.129/26", "203.0.113.130/26")
        .unwrap();
    for (ns, listen, log) in [
        (lab.outside.clone(), "198.51.100.10:8080", "serve1.log"),
        (second, "203.0.113.130:8080", "serve2.log"),
    ] {
        lab.start_daemon(
            &ns,
            &[
                common::BIN,
                "serve",
                "--listen",
                listen,
                "--token-file",
                &token,
                "--plain-http",
                "--allow-reserved",
                "--rate-limit",
                "10000",
                "--resolver",
                RESOLVER,
            ],
            log,
            8080,
        )
        .unwrap();
    }
    let host = lab.host.clone();
    let alone = lab.acme_doctor_command(&host, &["--json", DOMAIN]);
    let with = lab.acme_doctor_command(
        &host,
        &[
            "--json",
            "--vantage",
            "http://198.51.100.10:8080",
            "--vantage",
            "http://203.0.113.130:8080",
            "--vantage-token-file",
            &token,
            DOMAIN,
        ],
    );
    let observe: Vec<String> = [
        "ip",
        "netns",
        "exec",
        &host,
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-H",
        &format!("Authorization: Bearer {TOKEN}"),
        &format!(
            "http://198.51.100.10:8080/v1/observe?domain={DOMAIN}&path=/.well-known/acme-challenge/bench&timeout_ms=2000"
        ),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Warm-up, then interleaved runs so that drift hits all three alike.
    let _ = (time(&alone), time(&with), time(&observe));
    let (mut a, mut v, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        a.push(time(&alone));
        v.push(time(&observe));
        w.push(time(&with));
    }
    let (a, v, w) = (median(a), median(v), median(w));
    let bound = a.max(v) + Duration::from_millis(100);
    println!("vantage benchmark ({RUNS} runs each, medians, healthy lab, two vantages)");
    println!("  host run alone               {}", ms(a));
    println!("  one vantage's observation    {}", ms(v));
    println!("  host run with two vantages   {}", ms(w));
    println!(
        "  target: <= max(host, vantage) + 100 ms = {}: {}",
        ms(bound),
        if w <= bound { "met" } else { "MISSED" }
    );
}
