//! Benchmark: batches of healthy names, all on one IPv4 and one IPv6 address as on a
//! shared-hosting server, in the lab (dnsmasq as the resolver, nginx at the lab's limits),
//! checked from outside and on the host. Run as root:
//!
//!     cargo bench --bench batch            (1,000 names)
//!     BATCH_SIZES=1000,3000,10000 cargo bench --bench batch
//!
//! It prints, per size and view: the wall time, the peak RSS of acme-doctor (the child's
//! ru_maxrss, from getrusage(RUSAGE_CHILDREN) in a measuring process with that one child),
//! the bytes of NDJSON output, the verdicts (every name is healthy, so anything but `pass` is
//! a false verdict), the TCP connections the host's listeners accepted (the `PassiveOpens`
//! counter of the host's namespace), and the queries the resolver received (dnsmasq's
//! `--log-queries`). Each run waits first until the last one's TIME_WAIT sockets are gone. For contrast it times real ACME attempts
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

/// One counter of the kernel's TCP MIB in a namespace (`/proc/net/snmp`, which is per
/// network namespace): `PassiveOpens` counts the connections its listeners accepted.
fn tcp_counter(lab: &Lab, ns: &str, name: &str) -> u64 {
    let text = lab
        .ns_exec(ns, &["cat", "/proc/net/snmp"])
        .unwrap_or_default();
    let mut rows = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (rows.next(), rows.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Sockets in TIME_WAIT in a namespace.
fn time_wait(lab: &Lab, ns: &str) -> usize {
    lab.ns_exec(ns, &["ss", "-Htan", "state", "time-wait"])
        .map(|o| o.lines().count())
        .unwrap_or(0)
}

/// The sizes to run: `BATCH_SIZES=1000,3000,10000`, else `BATCH_NAMES=N`, else 1,000.
fn sizes() -> Vec<usize> {
    if let Ok(list) = std::env::var("BATCH_SIZES") {
        let sizes: Vec<usize> = list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .filter(|n| *n > 0)
            .collect();
        if !sizes.is_empty() {
            return sizes;
        }
    }
    vec![
        std::env::var("BATCH_NAMES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000),
    ]
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
    let sizes = sizes();
    let most = sizes.iter().copied().max().unwrap_or(1000);
    let names: Vec<String> = (0..most).map(|i| format!("n{i}.{DOMAIN}")).collect();
    let mut setup = Setup::default();
    setup
        .host_records
        .extend(names.iter().map(|n| format!("{n},{HOST_V4},{HOST_V6}")));
    setup.dns_extra.push("--log-queries".into());
    eprintln!("starting the lab with {most} names …");
    let mut lab = Lab::start(&setup);

    // BATCH_ARGS="--jobs 1024": more options for both runs (to reproduce a flood, say).
    let extra: Vec<String> = std::env::var("BATCH_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for &count in &sizes {
        let list = lab.dir.join(format!("names-{count}.txt"));
        std::fs::write(&list, names[..count].join("\n") + "\n").expect("write the name list");
        let list = list.to_string_lossy().into_owned();
        for (view, ns) in [("outside", lab.outside.clone()), ("host", lab.host.clone())] {
            // Each run starts without the last one's TIME_WAIT sockets (they hold local
            // ports for 60 s), so the figures of one size do not depend on the one before.
            let waiting = Instant::now();
            while (time_wait(&lab, &lab.outside) + time_wait(&lab, &lab.host)) > 64
                && waiting.elapsed() < Duration::from_secs(65)
            {
                std::thread::sleep(Duration::from_millis(500));
            }
            eprintln!("batch of {count} from {view} …");
            let out = lab.dir.join(format!("batch-{count}-{view}.ndjson"));
            let mut args = vec!["--ndjson", "--no-progress", "-f", &list];
            args.extend(extra.iter().map(String::as_str));
            let cmd = lab.acme_doctor_command(&ns, &args);
            let before = queries_logged(&lab).len();
            let accepted_before = tcp_counter(&lab, &lab.host, "PassiveOpens");
            let sample = measure(Some(&out), &cmd);
            let accepted =
                tcp_counter(&lab, &lab.host, "PassiveOpens").saturating_sub(accepted_before);
            let left_waiting = time_wait(&lab, &ns);
            let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
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
                "{count:>6} {view:<8} {:>9.2} s {:>7.2} s {:>8.1} MB {:>8.1} MB {:>6} {:>7} {:>5} {:>8} {:>8} {:>6.2} {:>8.2}   exit {}",
                sample.wall.as_secs_f64(),
                sample.cpu.as_secs_f64(),
                sample.rss_kib as f64 / 1024.0,
                bytes as f64 / 1e6,
                passed,
                t.verdicts.get("at-risk").copied().unwrap_or(0),
                t.verdicts.get("fail").copied().unwrap_or(0),
                t.incomplete,
                accepted,
                accepted as f64 / count as f64,
                queries as f64 / count as f64,
                sample.exit
            ));
            rows.push(format!(
                "         resolver: {queries} queries, {} distinct questions ({} asked again: resends), by type: {}; {left_waiting} sockets in TIME_WAIT after the run",
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
                format!("{count} {view}: 0 false verdicts"),
                false_verdicts == 0 && t.lines == count && t.indexes.len() == count,
                format!(
                    "{false_verdicts} (lines {}, distinct indexes {})",
                    t.lines,
                    t.indexes.len()
                ),
            ));
            checks.push((
                format!("{count} {view}: resolver queries ≤ 2 per name, plus retries"),
                queries - distinct.len() + 2 * count >= queries,
                format!(
                    "{:.2} per name ({:.2} distinct questions per name; the CA itself asks 3: A, AAAA, CAA)",
                    queries as f64 / count as f64,
                    distinct.len() as f64 / count as f64
                ),
            ));
            checks.push((
                format!("{count} {view}: wall ≤ 10 s"),
                sample.wall <= Duration::from_secs(10),
                format!("{:.2} s", sample.wall.as_secs_f64()),
            ));
            if count <= 1000 {
                checks.push((
                    format!("{count} {view}: peak RSS ≤ 20 MB"),
                    sample.rss_kib <= 20 * 1024,
                    format!("{:.1} MB", sample.rss_kib as f64 / 1024.0),
                ));
            }
        }
    }

    let count = sizes[0];
    if std::env::var_os("BATCH_SKIP_REAL").is_some() {
        drop(lab);
        print_figures(&extra, &rows, &checks, None);
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
    print_figures(&extra, &rows, &checks, Some((real, issued, count)));
}

type Check = (String, bool, String);

fn print_figures(
    extra: &[String],
    rows: &[String],
    checks: &[Check],
    real: Option<(Duration, usize, usize)>,
) {
    println!(
        "\nbatches of healthy names on one IPv4 and one IPv6 address (dnsmasq resolver, nginx), --ndjson --timeout 2s {}:",
        if extra.is_empty() {
            "(default --jobs)".to_string()
        } else {
            extra.join(" ")
        }
    );
    println!(
        "{:>6} {:<8} {:>11} {:>9} {:>11} {:>11} {:>6} {:>7} {:>5} {:>8} {:>8} {:>6} {:>8}",
        "names",
        "view",
        "wall",
        "CPU",
        "peak RSS",
        "output",
        "pass",
        "at-risk",
        "fail",
        "incompl.",
        "accepted",
        "/name",
        "DNS/name"
    );
    println!("  (CPU: user plus system time of acme-doctor; below the wall time, it waits)");
    println!(
        "  (accepted: TCP connections the host's listeners accepted during the run, PassiveOpens of its namespace)"
    );
    for r in rows {
        println!("{r}");
    }
    if let Some((real, issued, count)) = real {
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
