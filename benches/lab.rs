//! Benchmark: wall time and peak RSS of acme-doctor (on the host and from outside) against a
//! real ACME validation (lego + Pebble), in the lab's namespaces. Run as root:
//!
//!     cargo bench --bench lab
//!
//! It prints medians, the ratio acme-doctor / real attempt, and the targets met or missed.
//! A benchmark, not a test: the figures are for reading, nothing here asserts on time.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/measure.rs"]
mod measure;

use common::lab::{DOMAIN, Lab, Setup};
use measure::{Sample, measure, measure_child};
use std::time::Duration;

const RUNS: usize = 7;
const REAL_RUNS: usize = 3;

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fmt_wall(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

struct Line {
    scenario: &'static str,
    what: String,
    runs: usize,
    wall: Duration,
    rss_kib: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3..]);
    }
    if !common::is_root() {
        eprintln!("the lab benchmark needs root (it creates network namespaces)");
        std::process::exit(2);
    }
    let scenarios: [(&'static str, Setup); 3] = [
        ("healthy", Setup::default()),
        (
            "seed",
            Setup {
                host_commands: vec![vec![
                    "sysctl".into(),
                    "-qw".into(),
                    "net.ipv6.conf.all.disable_ipv6=1".into(),
                ]],
                ..Setup::default()
            },
        ),
        (
            "ipv4-firewall-drop",
            Setup {
                host_commands: vec![
                    "iptables -A INPUT -p tcp --dport 80 -j DROP"
                        .split(' ')
                        .map(String::from)
                        .collect(),
                ],
                ..Setup::default()
            },
        ),
    ];
    let mut lines = Vec::new();
    let mut checks = Vec::new();
    for (name, setup) in scenarios {
        eprintln!("benchmarking {name} …");
        let mut lab = Lab::start(&setup);
        let mut medians = Vec::new();
        for (view, ns) in [
            ("acme-doctor on the host", lab.host.clone()),
            ("acme-doctor from outside", lab.outside.clone()),
        ] {
            let cmd = lab.acme_doctor_command(&ns, &["--json", DOMAIN]);
            let _warm = measure(None, &cmd);
            let samples: Vec<Sample> = (0..RUNS).map(|_| measure(None, &cmd)).collect();
            let wall = median(samples.iter().map(|s| s.wall).collect());
            let rss = median(samples.iter().map(|s| s.rss_kib).collect());
            medians.push((view, wall, rss));
            lines.push(Line {
                scenario: name,
                what: view.to_string(),
                runs: RUNS,
                wall,
                rss_kib: rss,
            });
        }
        lab.start_pebble().expect("start Pebble");
        let real: Vec<Duration> = (0..REAL_RUNS)
            .map(|_| lab.real_validation(DOMAIN).elapsed)
            .collect();
        let real_wall = median(real);
        let pebble_rss = lab.pid_of("pebble.log").map(vm_hwm_kib).unwrap_or(0);
        lines.push(Line {
            scenario: name,
            what: "real validation (lego + Pebble)".into(),
            runs: REAL_RUNS,
            wall: real_wall,
            rss_kib: pebble_rss,
        });
        for (view, wall, rss) in &medians {
            let ratio = wall.as_secs_f64() / real_wall.as_secs_f64().max(1e-9);
            lines.push(Line {
                scenario: name,
                what: format!("  ratio {view} / real: {ratio:.3}"),
                runs: 0,
                wall: Duration::ZERO,
                rss_kib: 0,
            });
            checks.push((
                format!("{name}: peak RSS of {view} ≤ 20 MB"),
                *rss <= 20 * 1024,
                format!("{:.1} MB", *rss as f64 / 1024.0),
            ));
            if view.contains("outside") {
                checks.push((
                    format!("{name}: {view} ≤ timeout (2 s) + 0.2 s"),
                    *wall <= Duration::from_millis(2200),
                    fmt_wall(*wall),
                ));
            }
        }
        if name == "seed" {
            checks.push((
                "seed: named on the host in ≤ 0.5 s".into(),
                medians[0].1 <= Duration::from_millis(500),
                fmt_wall(medians[0].1),
            ));
        }
        if name == "healthy" {
            for (view, wall, _) in &medians {
                checks.push((
                    format!("healthy: {view} ≤ 100 ms"),
                    *wall <= Duration::from_millis(100),
                    fmt_wall(*wall),
                ));
            }
        }
        drop(lab);
    }
    println!(
        "\n{:<20} {:<40} {:>5} {:>12} {:>14}",
        "scenario", "what", "runs", "median wall", "median peakRSS"
    );
    for l in &lines {
        if l.runs == 0 {
            println!("{:<20} {}", l.scenario, l.what);
        } else {
            let rss = if l.what.starts_with("real") {
                format!("Pebble {:.1} MB", l.rss_kib as f64 / 1024.0)
            } else {
                format!("{:.1} MB", l.rss_kib as f64 / 1024.0)
            };
            println!(
                "{:<20} {:<40} {:>5} {:>12} {:>14}",
                l.scenario,
                l.what,
                l.runs,
                fmt_wall(l.wall),
                rss
            );
        }
    }
    println!("\ntargets:");
    for (what, met, figure) in &checks {
        println!(
            "  {} {what}: {figure}",
            if *met { "met   " } else { "MISSED" }
        );
    }
}
