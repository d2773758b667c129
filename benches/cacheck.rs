//! Benchmark: `--ca-check` beside lego for the same validation, per lab scenario (issue 19
//! item 1). Each scenario gets its own lab with Pebble (`PEBBLE_VA_NOSLEEP=1`); acme-doctor
//! runs on the host with `--ca-check` (probes, then one validation, then its cleanup), and
//! lego asks the same Pebble for a certificate the same way (its webroot, or `--tls` on 443).
//! Run as root:
//!
//!     cargo bench --bench cacheck
//!
//! It prints the median wall time of each and the target: acme-doctor within lego's time
//! plus 0.5 s. A benchmark, not a test: nothing here asserts on time.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::lab::{DOMAIN, Lab, PEBBLE_DIR_URL, Setup};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// How lego and acme-doctor publish the challenge in a scenario.
#[derive(Clone, Copy)]
enum Publish {
    /// HTTP-01 through the webroot nginx serves.
    Webroot,
    /// HTTP-01 through a directory nginx does not serve.
    Elsewhere,
    /// HTTP-01 through the root read from nginx (`--webroot auto`); lego gets that root.
    Auto,
    /// TLS-ALPN-01 through a responder of their own on 443.
    TlsAlpn,
}

struct Scenario {
    name: &'static str,
    setup: fn() -> Setup,
    router: &'static [&'static str],
    publish: Publish,
}

fn seed() -> Setup {
    Setup {
        host_commands: vec![
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1"
                .split(' ')
                .map(String::from)
                .collect(),
        ],
        ..Setup::default()
    }
}

fn nat() -> Setup {
    Setup {
        host_records: vec![format!("{DOMAIN},203.0.113.80")],
        ..Setup::default()
    }
}

const DROP_80: &[&str] = &[
    "iptables -A FORWARD -i ro -p tcp --dport 80 -j DROP",
    "ip6tables -A FORWARD -i ro -p tcp --dport 80 -j DROP",
];

const NO_FORWARD: &[&str] = &[
    "ip addr add 203.0.113.80/32 dev lo",
    "iptables -t nat -A PREROUTING -d 203.0.113.80 -p tcp --dport 443 -j DNAT --to-destination 192.0.2.10",
    "iptables -t nat -A POSTROUTING -s 192.0.2.10 -o ro -j SNAT --to-source 203.0.113.80",
];

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "healthy",
        setup: Setup::default,
        router: &[],
        publish: Publish::Webroot,
    },
    Scenario {
        name: "seed",
        setup: seed,
        router: &[],
        publish: Publish::Webroot,
    },
    Scenario {
        name: "router-drops-80",
        setup: Setup::default,
        router: DROP_80,
        publish: Publish::Webroot,
    },
    Scenario {
        name: "no-port-forward",
        setup: nat,
        router: NO_FORWARD,
        publish: Publish::Webroot,
    },
    Scenario {
        name: "wrong-webroot",
        setup: Setup::default,
        router: &[],
        publish: Publish::Elsewhere,
    },
    Scenario {
        name: "webroot-auto",
        setup: Setup::default,
        router: &[],
        publish: Publish::Auto,
    },
    Scenario {
        name: "tls-alpn-standalone",
        setup: Setup::default,
        router: &[],
        publish: Publish::TlsAlpn,
    },
];

/// One acme-doctor `--ca-check` run, timed from start to exit; its CA outcome.
fn acme_doctor(lab: &Lab, extra: &[&str]) -> (Duration, String) {
    let ca = lab.dir.join("ca.pem").to_string_lossy().into_owned();
    let mut args = vec![
        "--json",
        DOMAIN,
        "--ca-check",
        "--acme-directory",
        PEBBLE_DIR_URL,
        "--acme-ca-cert",
        &ca,
    ];
    args.extend_from_slice(extra);
    let line = lab.acme_doctor_command(&lab.host, &args);
    let started = Instant::now();
    let out = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .output()
        .expect("run acme-doctor");
    let wall = started.elapsed();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let outcome = report["facts"]["targets"][0]["ca"][0]["said"]["check"]["outcome"]["status"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    (wall, outcome)
}

fn main() {
    if !common::is_root() {
        eprintln!("the --ca-check benchmark needs root (it creates network namespaces)");
        std::process::exit(2);
    }
    let mut rows = Vec::new();
    for s in SCENARIOS {
        eprintln!("benchmarking {} …", s.name);
        let mut lab = Lab::start(&(s.setup)());
        for c in s.router {
            let words: Vec<&str> = c.split_whitespace().collect();
            lab.ns_exec(&lab.router.clone(), &words).expect("router");
        }
        lab.start_pebble().expect("start Pebble");
        let www = lab.dir.join("www").to_string_lossy().into_owned();
        let elsewhere = lab.dir.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let elsewhere = elsewhere.to_string_lossy().into_owned();
        let (ours, theirs): (Vec<&str>, Vec<&str>) = match s.publish {
            Publish::Webroot => (
                vec!["--webroot", &www],
                vec!["--http", "--http.webroot", &www],
            ),
            Publish::Elsewhere => (
                vec!["--webroot", &elsewhere],
                vec!["--http", "--http.webroot", &elsewhere],
            ),
            Publish::Auto => (
                vec!["--webroot", "auto"],
                vec!["--http", "--http.webroot", &www],
            ),
            Publish::TlsAlpn => (
                vec!["--method", "tls-alpn-01"],
                vec!["--tls", "--tls.port", ":443"],
            ),
        };
        let mut ours_wall = Vec::new();
        let mut outcome = String::new();
        let mut lego_wall = Vec::new();
        let mut lego_issued = false;
        for run in 0..RUNS {
            let (wall, o) = acme_doctor(&lab, &ours);
            ours_wall.push(wall);
            outcome = o;
            let real = lab.lego_validation(&lab.host, DOMAIN, &format!("lego{run}"), &theirs);
            lego_wall.push(real.elapsed);
            lego_issued = real.issued;
        }
        rows.push((
            s.name,
            median(ours_wall),
            outcome,
            median(lego_wall),
            lego_issued,
        ));
        drop(lab);
    }
    println!(
        "\n{:<22} {:>22} {:>10} {:>18} {:>8} {:>9}",
        "scenario", "acme-doctor --ca-check", "CA said", "lego (same CA)", "lego", "target"
    );
    for (name, ours, outcome, lego, issued) in &rows {
        let met = *ours <= *lego + Duration::from_millis(500);
        println!(
            "{:<22} {:>20.2} s {:>10} {:>16.2} s {:>8} {:>9}",
            name,
            ours.as_secs_f64(),
            outcome,
            lego.as_secs_f64(),
            if *issued { "issued" } else { "failed" },
            if met { "met" } else { "MISSED" }
        );
    }
    println!(
        "\ntarget: acme-doctor's --ca-check (probes + validation + cleanup) within lego's time + 0.5 s; median of {RUNS} runs each"
    );
}
