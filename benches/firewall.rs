//! Benchmark: the firewall evaluator on rulesets of 10k, 100k and 1M rules and set elements,
//! and on a 30-level fan-out (each of 30 chains jumping three times to the next).
//!
//! `cargo bench --bench firewall`. Each case runs in a child process of its own, so the peak
//! RSS it reports (VmHWM) is that case's alone: building the input text, parsing it,
//! converting it to the model, evaluating the CA's SYN and deriving the allow-list. It prints
//! the time of each phase and the targets met or missed. Nothing asserts on time; the tests
//! assert on the work counter instead.

// A benchmark stops loudly on a broken case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use acme_doctor::facts::{Family, IptablesBackend};
use acme_doctor::firewall::{eval, iptables, model, nft};
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

fn syn() -> model::Packet {
    model::Packet {
        family: Family::Ipv4,
        saddr: None,
        daddr: "192.0.2.10".parse().unwrap(),
        dport: 80,
        iif: Some("eth0".into()),
        return_iif: Some("eth0".into()),
    }
}

/// Every other address from 10.0.0.0 (so no two merge into one interval).
fn addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(0x0A00_0000u32 + 2 * u32::try_from(i).unwrap())
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Phases {
    build: Duration,
    parse: Duration,
    evaluate: Duration,
    allow_list: Duration,
    work: u64,
    verdict: String,
    allowed: usize,
}

/// nft: a named set of `elements` addresses, `rules` rules that accept port 80 from it, a
/// drop policy. The CA's source is in no set: dropped; the allow-list is the set.
fn nft_set(elements: usize, rules: usize) -> Phases {
    let t = Instant::now();
    let mut text = String::with_capacity(elements * 16 + rules * 256);
    text.push_str(r#"{"nftables": [{"set": {"family": "inet", "table": "t", "name": "allow", "type": "ipv4_addr", "elem": ["#);
    for i in 0..elements {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!("\"{}\"", addr(i)));
    }
    text.push_str(r#"]}}, {"chain": {"family": "inet", "table": "t", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}"#);
    for h in 0..rules {
        text.push_str(&format!(
            r#", {{"rule": {{"family": "inet", "table": "t", "chain": "input", "handle": {h}, "expr": [{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "ip", "field": "saddr"}}}}, "right": "@allow"}}}}, {{"match": {{"op": "==", "left": {{"payload": {{"protocol": "tcp", "field": "dport"}}}}, "right": 80}}}}, {{"accept": null}}]}}}}"#
        ));
    }
    text.push_str("]}");
    let build = t.elapsed();
    let t = Instant::now();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    drop(text);
    let (rs, _) = nft::ruleset(&json);
    let parse = t.elapsed();
    evaluate(&rs, build, parse)
}

/// iptables-save: `rules` rules `-s ADDR/32 -p tcp --dport 80 -j ACCEPT` and a DROP policy.
fn iptables_rules(rules: usize) -> Phases {
    let t = Instant::now();
    let mut dump = String::with_capacity(rules * 64);
    dump.push_str("*filter\n:INPUT DROP [0:0]\n");
    for i in 0..rules {
        dump.push_str(&format!(
            "-A INPUT -s {}/32 -p tcp -m tcp --dport 80 -j ACCEPT\n",
            addr(i)
        ));
    }
    dump.push_str("COMMIT\n");
    let build = t.elapsed();
    let t = Instant::now();
    let rs = iptables::ruleset(&dump, Family::Ipv4, IptablesBackend::Legacy);
    let parse = t.elapsed();
    evaluate(&rs, build, parse)
}

/// 30 chains, each jumping three times to the next; the last accepts port 22 only.
fn fan_out(levels: usize, width: usize) -> Phases {
    let t = Instant::now();
    let mut dump = String::from("*filter\n:INPUT DROP [0:0]\n");
    for l in 0..levels {
        dump.push_str(&format!(":c{l} - [0:0]\n"));
    }
    dump.push_str("-A INPUT -j c0\n");
    for l in 0..levels - 1 {
        for _ in 0..width {
            dump.push_str(&format!("-A c{l} -j c{}\n", l + 1));
        }
    }
    dump.push_str(&format!(
        "-A c{} -p tcp --dport 22 -j ACCEPT\nCOMMIT\n",
        levels - 1
    ));
    let build = t.elapsed();
    let t = Instant::now();
    let rs = iptables::ruleset(&dump, Family::Ipv4, IptablesBackend::Legacy);
    let parse = t.elapsed();
    evaluate(&rs, build, parse)
}

fn evaluate(rs: &model::Ruleset, build: Duration, parse: Duration) -> Phases {
    let t = Instant::now();
    let (verdict, work1) = rs.evaluate_counted(&syn(), eval::WORK_BUDGET);
    let evaluate = t.elapsed();
    let t = Instant::now();
    let (allowed, work2) = rs.accepted_sources_counted(&syn(), eval::WORK_BUDGET);
    let allow_list = t.elapsed();
    Phases {
        build,
        parse,
        evaluate,
        allow_list,
        work: work1 + work2,
        verdict: match verdict {
            model::Verdict::Accept => "accept".into(),
            model::Verdict::Drop { .. } => "drop".into(),
            model::Verdict::Reject { .. } => "reject".into(),
            model::Verdict::Undecidable { .. } => "undecidable".into(),
            model::Verdict::Redirected { .. } => "dnat".into(),
        },
        allowed: allowed.map_or(0, |a| a.len()),
    }
}

const CASES: &[&str] = &[
    "nft-set-10k-x1000",
    "nft-set-100k-x1000",
    "nft-set-1M-x1000",
    "iptables-10k-rules",
    "iptables-100k-rules",
    "iptables-1M-rules",
    "fan-out-30x3",
];

fn run_case(name: &str) {
    let p = match name {
        "nft-set-10k-x1000" => nft_set(10_000, 1_000),
        "nft-set-100k-x1000" => nft_set(100_000, 1_000),
        "nft-set-1M-x1000" => nft_set(1_000_000, 1_000),
        "iptables-10k-rules" => iptables_rules(10_000),
        "iptables-100k-rules" => iptables_rules(100_000),
        "iptables-1M-rules" => iptables_rules(1_000_000),
        "fan-out-30x3" => fan_out(30, 3),
        other => panic!("unknown case {other}"),
    };
    // One line for the parent: times in microseconds, then the rest.
    println!(
        "RESULT {} {} {} {} {} {} {} {}",
        p.build.as_micros(),
        p.parse.as_micros(),
        p.evaluate.as_micros(),
        p.allow_list.as_micros(),
        p.work,
        p.verdict,
        p.allowed,
        vm_hwm_kib()
    );
}

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        run_case(&args[i + 1]);
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!(
        "{:<22} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10} {:>9} {:>9}",
        "case",
        "build input",
        "parse",
        "evaluate",
        "allow-list",
        "eval total",
        "work",
        "allowed",
        "peak RSS"
    );
    let mut totals = Vec::new();
    for case in CASES {
        let out = Command::new(&exe).args(["--case", case]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            println!(
                "{case:<22} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let n = |i: usize| f[i].parse::<u64>().unwrap();
        let total = n(1) + n(2) + n(3);
        println!(
            "{:<22} {:>11} {:>11} {:>11} {:>11} {:>11} {:>10} {:>9} {:>6} MB   {}",
            case,
            ms(n(0)),
            ms(n(1)),
            ms(n(2)),
            ms(n(3)),
            ms(total),
            n(4),
            n(6),
            n(7) / 1024,
            f[5]
        );
        totals.push((*case, total, n(7)));
    }
    println!(
        "\n'eval total' = parse (text to model) + evaluate + allow-list; peak RSS includes building the input text."
    );
    for (case, total, rss) in totals {
        match case {
            "nft-set-100k-x1000" => println!(
                "target 100k elements x 1,000 rules <= 1 s and <= 100 MB: {} ({}, {} MB)",
                if total <= 1_000_000 && rss <= 100 * 1024 {
                    "met"
                } else {
                    "MISSED"
                },
                ms(total),
                rss / 1024
            ),
            "fan-out-30x3" => println!(
                "target 30-level fan-out <= 10 ms: {} ({})",
                if total <= 10_000 { "met" } else { "MISSED" },
                ms(total)
            ),
            _ => {}
        }
    }
}
