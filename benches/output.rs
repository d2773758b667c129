//! Benchmark: output size, time and peak RSS as the names grow, where the host snapshot must be
//! printed once per output and nothing may grow with the square of the names.
//!
//!     cargo bench --bench output          (OUTPUT_NAMES=1000,10000 to choose the sizes)
//!
//! (a) `--all` over N certificates under a test root (`--client-root`), with the names' DNS
//!     at a loopback server that answers NXDOMAIN at once, so the figures are acme-doctor's
//!     own cost: N certbot renewal files (the discovery stops at its cap of files, said
//!     below), and one certificate of N names with a `[[webroot_map]]`; `--json` and the
//!     human output. No lab, no root needed.
//! (b) N healthy names under `--json` in the lab (dnsmasq, nginx; every name on the lab host's
//!     one address), run from outside, with `--ndjson` for contrast. Needs root; skipped
//!     (and said so) without it.
//!
//! For each run: wall time, peak RSS of acme-doctor (`support/measure.rs`), bytes written,
//! and how many times the host snapshot occurs in the output (once is right). A benchmark,
//! not a test: the figures are for reading, the targets are checked and printed at the end.

// A broken fixture or lab step should stop the benchmark loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/measure.rs"]
mod measure;

use common::dns::DnsServer;
use common::lab::{DOMAIN, HOST_V4, HOST_V6, Lab, Setup};
use measure::{Sample, measure, measure_child};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One measured run.
struct Row {
    what: String,
    names: usize,
    sample: Sample,
    bytes: u64,
    /// Occurrences of a key only the host snapshot has (`"default_route_v4"`).
    hosts: usize,
    /// Domains in the output (results, lines or sections).
    domains: usize,
}

impl Row {
    fn print(&self) {
        println!(
            "{:<34} {:>6} {:>9.2} s {:>8.1} MB {:>11} {:>8.0} {:>6} {:>8}   exit {}",
            self.what,
            self.names,
            self.sample.wall.as_secs_f64(),
            self.sample.rss_kib as f64 / 1024.0,
            self.bytes,
            self.bytes as f64 / self.domains.max(1) as f64,
            self.hosts,
            self.domains,
            self.sample.exit
        );
    }
}

fn sizes() -> Vec<usize> {
    std::env::var("OUTPUT_NAMES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1000, 10_000])
}

/// Counts what a run printed: host snapshots, and domains (JSON results or NDJSON lines,
/// or the human output's verdict lines).
fn read_output(path: &Path, kind: &str) -> (u64, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let hosts = text.matches("\"default_route_v4\"").count();
    let domains = match kind {
        "--json" => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .map_or(0, |v| match v["results"].as_array() {
                Some(r) => r.len(),
                None => usize::from(v["target"].is_object()),
            }),
        "--ndjson" => text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["target"].is_object())
            })
            .count(),
        _ => text
            .lines()
            .filter(|l| {
                ["PASS ", "FAIL ", "AT RISK "]
                    .iter()
                    .any(|v| l.starts_with(v))
            })
            .count(),
    };
    (text.len() as u64, hosts, domains)
}

/// A certbot renewal file for `names`, each in the `[[webroot_map]]`.
fn certbot_conf(lineage: &str, names: &[String]) -> String {
    let mut conf = format!(
        "version = 2.1.0\ncert = /etc/letsencrypt/live/{lineage}/cert.pem\n\n[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n[[webroot_map]]\n"
    );
    for name in names {
        conf.push_str(&format!("{name} = /var/www/html\n"));
    }
    conf
}

/// A test root holding N certbot certificates, or one certificate of N names.
fn client_root(dir: &Path, n: usize, one_certificate: bool) -> PathBuf {
    let root = dir.join(format!(
        "{}-{n}",
        if one_certificate { "map" } else { "confs" }
    ));
    let renewal = root.join("etc/letsencrypt/renewal");
    std::fs::create_dir_all(&renewal).unwrap();
    std::fs::create_dir_all(root.join("var/www/html")).unwrap();
    if one_certificate {
        let names: Vec<String> = (0..n).map(|i| format!("n{i}.map.example.test")).collect();
        std::fs::write(
            renewal.join("map.example.test.conf"),
            certbot_conf("map.example.test", &names),
        )
        .unwrap();
    } else {
        for i in 0..n {
            let name = format!("n{i}.confs.example.test");
            std::fs::write(
                renewal.join(format!("{name}.conf")),
                certbot_conf(&name, std::slice::from_ref(&name)),
            )
            .unwrap();
        }
    }
    root
}

fn all_part(dir: &Path, rows: &mut Vec<Row>) {
    // Every name is NXDOMAIN at once: what is measured is acme-doctor, not a resolver's timeout.
    let dns = DnsServer::start(Vec::new());
    let resolver = dns.addr.to_string();
    for n in sizes() {
        for one_certificate in [false, true] {
            let root = client_root(dir, n, one_certificate);
            let root = root.to_string_lossy().into_owned();
            for kind in ["--json", "human"] {
                let what = format!(
                    "--all {} {kind}",
                    if one_certificate {
                        "1 cert, webroot_map"
                    } else {
                        "certbot confs"
                    }
                );
                eprintln!("{what}, {n} names …");
                let mut cmd = vec![
                    common::BIN.to_string(),
                    "--all".into(),
                    "--client-root".into(),
                    root.clone(),
                    "--resolver".into(),
                    resolver.clone(),
                    "--timeout".into(),
                    "2s".into(),
                    "--no-progress".into(),
                    "--color".into(),
                    "never".into(),
                ];
                if kind != "human" {
                    cmd.push(kind.into());
                }
                let out = dir.join("out");
                let sample = measure(Some(&out), &cmd);
                let (bytes, hosts, domains) = read_output(&out, kind);
                rows.push(Row {
                    what,
                    names: n,
                    sample,
                    bytes,
                    hosts,
                    domains,
                });
            }
        }
    }
}

fn lab_part(rows: &mut Vec<Row>) -> Result<(), String> {
    if !common::is_root() {
        return Err("needs root (it creates network namespaces)".into());
    }
    let sizes = sizes();
    let most = sizes.iter().copied().max().unwrap_or(0);
    let names: Vec<String> = (0..most).map(|i| format!("n{i}.{DOMAIN}")).collect();
    let mut setup = Setup::default();
    setup
        .host_records
        .extend(names.iter().map(|n| format!("{n},{HOST_V4},{HOST_V6}")));
    eprintln!("starting the lab with {most} names …");
    let lab = Lab::start(&setup);
    for n in sizes {
        let list = lab.dir.join(format!("names-{n}.txt"));
        std::fs::write(&list, names[..n].join("\n") + "\n").expect("write the name list");
        let list = list.to_string_lossy().into_owned();
        for kind in ["--json", "--ndjson"] {
            eprintln!("lab {kind}, {n} names …");
            let out = lab.dir.join(format!("out-{n}{kind}"));
            let cmd = lab.acme_doctor_command(&lab.outside, &[kind, "--no-progress", "-f", &list]);
            let sample = measure(Some(&out), &cmd);
            let (bytes, hosts, domains) = read_output(&out, kind);
            rows.push(Row {
                what: format!("lab, healthy names {kind}"),
                names: n,
                sample,
                bytes,
                hosts,
                domains,
            });
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3..]);
    }
    let dir = std::env::temp_dir().join(format!("acme-doctor-bench-output-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rows = Vec::new();
    all_part(&dir, &mut rows);
    let _ = std::fs::remove_dir_all(&dir);
    let lab = if std::env::var_os("OUTPUT_SKIP_LAB").is_some() {
        Err("OUTPUT_SKIP_LAB is set".to_string())
    } else {
        lab_part(&mut rows)
    };

    println!(
        "\n{:<34} {:>6} {:>11} {:>11} {:>11} {:>8} {:>6} {:>8}",
        "run", "names", "wall", "peak RSS", "bytes", "B/domain", "hosts", "domains"
    );
    for r in &rows {
        r.print();
    }
    if let Err(why) = &lab {
        println!("(lab part not run: {why})");
    }
    println!(
        "\n`hosts`: times the host snapshot occurs in the output (1 is right). certbot confs stop at the discovery's cap of {} files; `domains` says how many names were checked.",
        4096
    );

    println!("\ntargets:");
    let check = |what: String, met: bool, figure: String| {
        println!(
            "  {} {what}: {figure}",
            if met { "met   " } else { "MISSED" }
        );
    };
    for r in rows.iter().filter(|r| !r.what.ends_with("human")) {
        check(
            format!("{} {}: host snapshot once", r.what, r.names),
            r.hosts == 1,
            format!("{}", r.hosts),
        );
    }
    for r in rows.iter().filter(|r| r.names == 1000) {
        if r.what == "lab, healthy names --json" {
            check(
                "1,000 names under --json: peak RSS ≤ 20 MB".into(),
                r.sample.rss_kib <= 20 * 1024,
                format!("{:.1} MB", r.sample.rss_kib as f64 / 1024.0),
            );
        }
        if r.what.starts_with("--all") {
            check(
                format!("{} 1,000: ≤ 2 s and ≤ 50 MB", r.what),
                r.sample.wall <= Duration::from_secs(2) && r.sample.rss_kib <= 50 * 1024,
                format!(
                    "{:.2} s, {:.1} MB",
                    r.sample.wall.as_secs_f64(),
                    r.sample.rss_kib as f64 / 1024.0
                ),
            );
        }
    }
    // Linear: from the smallest to the largest size, bytes per domain stay within 1.5×, and
    // peak RSS and wall grow no faster than the domains (2× slack for fixed costs and noise).
    let mut kinds: Vec<&str> = Vec::new();
    for r in &rows {
        if !kinds.contains(&r.what.as_str()) {
            kinds.push(&r.what);
        }
    }
    for what in kinds {
        let of: Vec<&Row> = rows.iter().filter(|r| r.what == what).collect();
        let (Some(small), Some(large)) = (
            of.iter().min_by_key(|r| r.names),
            of.iter().max_by_key(|r| r.names),
        ) else {
            continue;
        };
        if small.names == large.names || small.domains == 0 || large.domains == 0 {
            continue;
        }
        let grew = large.domains as f64 / small.domains as f64;
        let per = |r: &Row| r.bytes as f64 / r.domains as f64;
        let bytes = per(large) / per(small);
        let rss = large.sample.rss_kib as f64 / small.sample.rss_kib.max(1) as f64;
        let wall = large.sample.wall.as_secs_f64() / small.sample.wall.as_secs_f64().max(1e-3);
        check(
            format!(
                "{what}: linear from {} to {} domains",
                small.domains, large.domains
            ),
            bytes <= 1.5 && rss <= 2.0 * grew && wall <= 2.0 * grew,
            format!(
                "domains ×{grew:.1}: bytes per domain ×{bytes:.2}, peak RSS ×{rss:.1}, wall ×{wall:.1}"
            ),
        );
    }
}
