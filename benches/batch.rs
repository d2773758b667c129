//! Benchmark: one batch of 1,000 healthy names in the lab (dnsmasq as the resolver, nginx at
//! the lab's limits), checked from outside and on the host. Run as root:
//!
//!     cargo bench --bench batch            (BATCH_NAMES=N to change the size)
//!
//! It prints, per view: the wall time, the peak RSS of acme-doctor (the child's ru_maxrss,
//! from getrusage(RUSAGE_CHILDREN) in a measuring process with that one child), the verdicts
//! (every name is healthy, so anything but `pass` is a false verdict), and the queries the
//! resolver received (dnsmasq's `--log-queries`). For contrast it times real ACME attempts
//! (lego + Pebble) for 5 of the names, one after the other, and extrapolates to all of them,
//! stated as such. A benchmark, not a test: the figures are for reading.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/measure.rs"]
mod measure;

use common::lab::{DOMAIN, HOST_V4, HOST_V6, Lab, Setup};
use measure::{measure, measure_child};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Real ACME attempts timed for the extrapolation.
const REAL_SAMPLE: usize = 5;

/// Verdicts of an NDJSON output, and the top codes of the names that did not pass.
struct Tally {
    lines: usize,
    verdicts: BTreeMap<String, usize>,
    incomplete: usize,
    codes: BTreeMap<String, usize>,
    indexes: std::collections::BTreeSet<u64>,
}

fn tally(path: &std::path::Path) -> Tally {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut t = Tally {
        lines: 0,
        verdicts: BTreeMap::new(),
        incomplete: 0,
        codes: BTreeMap::new(),
        indexes: Default::default(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            t.lines += 1;
            *t.verdicts.entry("unparsable".into()).or_default() += 1;
            continue;
        };
        // The host record comes before the names; it is no name's line.
        if v["record"] == "host" {
            continue;
        }
        t.lines += 1;
        let verdict = v["verdict"].as_str().unwrap_or("none").to_string();
        if v["incomplete"].as_bool() == Some(true) {
            t.incomplete += 1;
        }
        if let Some(i) = v["index"].as_u64() {
            t.indexes.insert(i);
        }
        if verdict != "pass" {
            for f in v["findings"].as_array().into_iter().flatten() {
                if f["severity"] != "info" {
                    let code = f["code"].as_str().unwrap_or("?").to_string();
                    *t.codes.entry(code).or_default() += 1;
                }
            }
        }
        *t.verdicts.entry(verdict).or_default() += 1;
    }
    t
}

/// The questions dnsmasq logged so far (`--log-queries` writes one `query[TYPE] NAME from
/// ADDR` per question it receives), as `TYPE NAME`.
fn queries_logged(lab: &Lab) -> Vec<String> {
    std::fs::read_to_string(lab.dir.join("dnsmasq.log"))
        .map(|s| {
            s.lines()
                .filter_map(|l| {
                    let rest = &l[l.find(" query[")? + 7..];
                    let (rtype, rest) = rest.split_once("] ")?;
                    let name = rest.split_whitespace().next()?;
                    Some(format!("{rtype} {}", name.to_ascii_lowercase()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3..]);
    }
    if !common::is_root() {
        eprintln!("the batch benchmark needs root (it creates network namespaces)");
        std::process::exit(2);
    }
    let count: usize = std::env::var("BATCH_NAMES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let names: Vec<String> = (0..count).map(|i| format!("n{i}.{DOMAIN}")).collect();
    let mut setup = Setup::default();
    setup
        .host_records
        .extend(names.iter().map(|n| format!("{n},{HOST_V4},{HOST_V6}")));
    setup.dns_extra.push("--log-queries".into());
    eprintln!("starting the lab with {count} names …");
    let mut lab = Lab::start(&setup);
    let list = lab.dir.join("names.txt");
    std::fs::write(&list, names.join("\n") + "\n").expect("write the name list");
    let list = list.to_string_lossy().into_owned();

    // BATCH_ARGS="--jobs 1024": more options for both runs (to reproduce a flood, say).
    let extra: Vec<String> = std::env::var("BATCH_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for (view, ns) in [("outside", lab.outside.clone()), ("host", lab.host.clone())] {
        eprintln!("batch of {count} from {view} …");
        let out = lab.dir.join(format!("batch-{view}.ndjson"));
        let mut args = vec!["--ndjson", "--no-progress", "-f", &list];
        args.extend(extra.iter().map(String::as_str));
        let cmd = lab.acme_doctor_command(&ns, &args);
        let before = queries_logged(&lab).len();
        let sample = measure(Some(&out), &cmd);
        // dnsmasq writes its log as it answers; give it a moment to flush the last lines.
        std::thread::sleep(Duration::from_millis(300));
        let asked: Vec<String> = queries_logged(&lab).split_off(before);
        let queries = asked.len();
        let distinct: std::collections::HashSet<&String> = asked.iter().collect();
        let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
        for q in &asked {
            *by_type
                .entry(q.split(' ').next().unwrap_or("?"))
                .or_default() += 1;
        }
        let t = tally(&out);
        let passed = t.verdicts.get("pass").copied().unwrap_or(0);
        let false_verdicts = count - passed;
        rows.push(format!(
            "{view:<8} {:>9.2} s {:>8.1} MB {:>6} {:>7} {:>9} {:>8} {:>10} {:>8.2}   exit {}",
            sample.wall.as_secs_f64(),
            sample.rss_kib as f64 / 1024.0,
            passed,
            t.verdicts.get("at-risk").copied().unwrap_or(0),
            t.verdicts.get("fail").copied().unwrap_or(0),
            t.incomplete,
            queries,
            queries as f64 / count as f64,
            sample.exit
        ));
        rows.push(format!(
            "         resolver: {queries} queries, {} distinct questions ({} asked again: resends), by type: {}",
            distinct.len(),
            queries - distinct.len(),
            by_type
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if !t.codes.is_empty() {
            let mut top: Vec<_> = t.codes.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1));
            let top: Vec<String> = top
                .iter()
                .take(6)
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            rows.push(format!(
                "         codes of the names that did not pass: {}",
                top.join(", ")
            ));
        }
        checks.push((
            format!("{view}: 0 false verdicts"),
            false_verdicts == 0 && t.lines == count && t.indexes.len() == count,
            format!(
                "{false_verdicts} (lines {}, distinct indexes {})",
                t.lines,
                t.indexes.len()
            ),
        ));
        checks.push((
            format!("{view}: resolver queries ≤ 2 per name, plus retries"),
            queries - distinct.len() + 2 * count >= queries,
            format!(
                "{:.2} per name ({:.2} distinct questions per name; the CA itself asks 3: A, AAAA, CAA)",
                queries as f64 / count as f64,
                distinct.len() as f64 / count as f64
            ),
        ));
        checks.push((
            format!("{view}: wall ≤ 10 s"),
            sample.wall <= Duration::from_secs(10),
            format!("{:.2} s", sample.wall.as_secs_f64()),
        ));
        checks.push((
            format!("{view}: peak RSS ≤ 20 MB"),
            sample.rss_kib <= 20 * 1024,
            format!("{:.1} MB", sample.rss_kib as f64 / 1024.0),
        ));
    }

    if std::env::var_os("BATCH_SKIP_REAL").is_some() {
        drop(lab);
        print_figures(count, &extra, &rows, &checks, None);
        return;
    }
    eprintln!("timing {REAL_SAMPLE} real ACME attempts (lego + Pebble), one after the other …");
    lab.start_pebble().expect("start Pebble");
    let started = Instant::now();
    let mut issued = 0;
    for name in names.iter().take(REAL_SAMPLE) {
        if lab.real_validation(name).issued {
            issued += 1;
        }
    }
    let real = started.elapsed();
    drop(lab);
    print_figures(count, &extra, &rows, &checks, Some((real, issued)));
}

type Check = (String, bool, String);

fn print_figures(
    count: usize,
    extra: &[String],
    rows: &[String],
    checks: &[Check],
    real: Option<(Duration, usize)>,
) {
    println!(
        "\nbatch of {count} healthy names (dnsmasq resolver, nginx), --timeout 2s {}:",
        if extra.is_empty() {
            "(default --jobs)".to_string()
        } else {
            extra.join(" ")
        }
    );
    println!(
        "{:<8} {:>11} {:>11} {:>6} {:>7} {:>9} {:>8} {:>10} {:>8}",
        "view",
        "wall",
        "peak RSS",
        "pass",
        "at-risk",
        "fail",
        "incompl.",
        "DNS queries",
        "per name"
    );
    for r in rows {
        println!("{r}");
    }
    if let Some((real, issued)) = real {
        let per_name = real.as_secs_f64() / REAL_SAMPLE as f64;
        println!(
            "\nreal ACME attempts, sequential (lego + Pebble): {REAL_SAMPLE} names measured in {:.2} s ({issued} issued), {:.2} s per name;\n  extrapolated (not measured) to {count} names: {:.0} s",
            real.as_secs_f64(),
            per_name,
            per_name * count as f64
        );
    }
    println!("\ntargets:");
    for (what, met, figure) in checks {
        println!(
            "  {} {what}: {figure}",
            if *met { "met   " } else { "MISSED" }
        );
    }
}
