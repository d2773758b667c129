//! Wall time and peak RSS of one command, shared by the benchmarks that run acme-doctor.
//!
//! The bench re-executes itself as `--measure OUT CMD...`: that child's only child is CMD, so
//! `getrusage(RUSAGE_CHILDREN)` is CMD's own peak RSS, exactly.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sample {
    pub wall: Duration,
    pub rss_kib: u64,
    pub exit: i64,
    /// User plus system CPU time: beside `wall`, whether a run waits or computes.
    pub cpu: Duration,
}

/// The `--measure OUT CMD...` side: runs CMD with its stdout to OUT (`-`: discarded) and
/// prints its wall time (µs), peak RSS (KiB), exit code and CPU time (µs).
pub fn measure_child(out: &str, cmd: &[String]) -> ! {
    let stdout = if out == "-" {
        Stdio::null()
    } else {
        Stdio::from(std::fs::File::create(out).expect("output file"))
    };
    let started = Instant::now();
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .status();
    let wall = started.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN);
    let rss = usage.as_ref().map(|u| u.max_rss()).unwrap_or(0);
    let cpu_us = usage
        .map(|u| {
            let micros = |t: nix::sys::time::TimeVal| t.tv_sec() * 1_000_000 + t.tv_usec();
            micros(u.user_time()) + micros(u.system_time())
        })
        .unwrap_or(0);
    println!(
        "{} {} {} {}",
        wall.as_micros(),
        rss,
        status.map(|s| s.code().unwrap_or(-1)).unwrap_or(-1),
        cpu_us
    );
    std::process::exit(0)
}

/// Runs CMD through a measuring child of this bench; its stdout goes to `out` when given.
pub fn measure(out: Option<&Path>, cmd: &[String]) -> Sample {
    let me = std::env::current_exe().expect("own path");
    let out = out.map_or_else(|| "-".to_string(), |p| p.display().to_string());
    let run = Command::new(me)
        .arg("--measure")
        .arg(out)
        .args(cmd)
        .output()
        .expect("run the measuring child");
    let text = String::from_utf8_lossy(&run.stdout);
    let f: Vec<i64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    Sample {
        wall: Duration::from_micros(f.first().copied().unwrap_or(0).max(0) as u64),
        rss_kib: f.get(1).copied().unwrap_or(0).max(0) as u64,
        exit: f.get(2).copied().unwrap_or(-1),
        cpu: Duration::from_micros(f.get(3).copied().unwrap_or(0).max(0) as u64),
    }
}
