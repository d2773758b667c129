//! Benchmark: what hostile inputs cost a run. No root, no network (names are looked up at a
//! loopback port where nothing answers):
//!
//!     cargo bench --bench hostile            (HOSTILE_RUNS=N for another count; default 5)
//!
//! For each hostile client file (`--all --client-config FILE`, beside one healthy certbot
//! certificate) and each hostile nginx dump (`--from-facts`, the webroot-mismatch fixture with
//! its dump extended), it prints the median wall time and the largest peak RSS of acme-doctor
//! (the child's ru_maxrss, from getrusage(RUSAGE_CHILDREN) in a measuring process with that one
//! child), the exit code and the output bytes, next to the targets: under a second and 300 MB
//! each. A baseline row runs the same without the hostile part. tests/held_bounds.rs asserts
//! how these runs end; this only prints what they cost.

// A benchmark panics on purpose: a broken input should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/hostile_inputs.rs"]
mod inputs;
#[path = "support/measure.rs"]
mod measure;

use measure::{Sample, measure, measure_child};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_acme-doctor");
const WALL_TARGET: Duration = Duration::from_secs(1);
/// Peak RSS target, in MB of 10^6 bytes.
const RSS_TARGET_MB: f64 = 300.0;

struct Row {
    input: String,
    wall: Duration,
    rss_kib: u64,
    exit: i64,
    out_bytes: u64,
}

/// `runs` measured runs of `args`: the median wall time, the largest peak RSS.
fn sample(input: &str, args: &[String], runs: usize, scratch: &Path) -> Row {
    let out = scratch.join("bench.out");
    let mut cmd = vec![BIN.to_string()];
    cmd.extend_from_slice(args);
    let mut samples: Vec<Sample> = (0..runs).map(|_| measure(Some(&out), &cmd)).collect();
    samples.sort_by_key(|s| s.wall);
    let median = &samples[samples.len() / 2];
    Row {
        input: input.to_string(),
        wall: median.wall,
        rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or(0),
        exit: median.exit,
        out_bytes: std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn client_root(scratch: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = scratch.join("root");
    let conf = root.join("etc/letsencrypt/renewal/web.example.test.conf");
    let pem = root.join("etc/letsencrypt/live/web.example.test/cert.pem");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
    std::fs::copy(
        manifest.join("tests/fixtures/clients/web.example.test.conf"),
        &conf,
    )
    .unwrap();
    std::fs::copy(manifest.join("tests/fixtures/clients/certs/web.pem"), &pem).unwrap();
    root
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3..]);
    }
    let runs: usize = std::env::var("HOSTILE_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
        .max(1);
    let scratch =
        std::env::temp_dir().join(format!("acme-doctor-bench-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let offline = [
        "--resolver",
        "127.0.0.1:9",
        "--timeout",
        "200ms",
        "--no-progress",
    ];
    let mut rows = Vec::new();

    // Client files under --all, each beside one healthy certificate.
    let root = client_root(&scratch);
    let root = root.to_str().unwrap();
    let mut all = strings(&["--all", "--client-root", root, "--json"]);
    all.extend(strings(&offline));
    rows.push(sample(
        "--all, no hostile file (baseline)",
        &all,
        runs,
        &scratch,
    ));
    for file in inputs::client_files(&scratch.join("planted")).unwrap() {
        let mut args = all.clone();
        args.push("--client-config".into());
        args.push(file.path.display().to_string());
        rows.push(sample(
            &format!("--all, {}", file.label),
            &args,
            runs,
            &scratch,
        ));
    }

    // nginx dumps in a facts file.
    let fixture = inputs::NGINX_FIXTURE.to_string();
    rows.push(sample(
        "--from-facts, the fixture's dump (baseline)",
        &strings(&["--from-facts", &fixture, "--json"]),
        runs,
        &scratch,
    ));
    for dump in inputs::NginxDump::ALL {
        let facts = scratch.join(format!("{dump:?}.json"));
        inputs::write_nginx_facts(dump, &facts).unwrap();
        let facts = facts.display().to_string();
        rows.push(sample(
            &format!("--from-facts, {}", dump.label()),
            &strings(&["--from-facts", &facts, "--json"]),
            runs,
            &scratch,
        ));
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!("\nhostile inputs: median wall of {runs} runs, largest peak RSS, --json output");
    println!(
        "| input | wall | peak RSS | exit | output | target ≤ {} s, ≤ {RSS_TARGET_MB} MB |",
        WALL_TARGET.as_secs(),
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let rss_mb = r.rss_kib as f64 * 1024.0 / 1e6;
        let met = r.wall <= WALL_TARGET && rss_mb <= RSS_TARGET_MB;
        println!(
            "| {} | {:.1} ms | {:.1} MB | {} | {} bytes | {} |",
            r.input,
            r.wall.as_secs_f64() * 1000.0,
            rss_mb,
            r.exit,
            r.out_bytes,
            if met { "met" } else { "MISSED" }
        );
    }
}
