//! Shared test support: running the built binary, tier gating, the loopback DNS server, the
//! network-namespace lab and the DNS lab. Each test binary uses a different part of it.
#![allow(dead_code)]

pub mod contract;
pub mod dns;
pub mod dns_lab;
pub mod lab;

use std::io::Write;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_acme-doctor");

/// The binary's result: exit code, stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The output as a strict `--json` report (the contract), then as a loose value.
    pub fn report(&self) -> (contract::DomainReport, serde_json::Value) {
        (contract::parse(&self.stdout), self.json())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// A lab run's `--json` report checked against the verdict and completeness it must show, and
/// the exit code they imply (1 for a blocker, 3 for incomplete, else 0): each difference is
/// pushed to `problems`, labelled. `None` when stdout is no JSON (also a problem).
pub fn checked_report(
    label: &str,
    verdict: &str,
    incomplete: bool,
    run: &Run,
    problems: &mut Vec<String>,
) -> Option<serde_json::Value> {
    let report: serde_json::Value = match serde_json::from_str(&run.stdout) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!(
                "{label}: not JSON ({e}): {} {}",
                run.stdout, run.stderr
            ));
            return None;
        }
    };
    let want_exit = match (verdict, incomplete) {
        ("fail", _) => 1,
        (_, true) => 3,
        _ => 0,
    };
    if run.code != want_exit {
        problems.push(format!("{label}: exit {} instead of {want_exit}", run.code));
    }
    if report["verdict"] != verdict {
        problems.push(format!(
            "{label}: verdict {} instead of {verdict}",
            report["verdict"]
        ));
    }
    if report["incomplete"].as_bool() != Some(incomplete) {
        problems.push(format!(
            "{label}: incomplete {} instead of {incomplete}: {}",
            report["incomplete"], report["incomplete_reasons"]
        ));
    }
    Some(report)
}

/// A report in one line for a lab's table: the verdict, `(incomplete)`, and the top finding
/// that is not info as `code/family`.
pub fn verdict_line(report: &serde_json::Value) -> String {
    let top = report["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["severity"] != "info"))
        .map(|f| {
            format!(
                " {}/{}",
                f["code"].as_str().unwrap_or("?"),
                f["family"].as_str().unwrap_or("-")
            )
        })
        .unwrap_or_default();
    format!(
        "{}{}{}",
        report["verdict"].as_str().unwrap_or("?"),
        if report["incomplete"] == true {
            " (incomplete)"
        } else {
            ""
        },
        top
    )
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs acme-doctor with `args` (no terminal, no colour, no spinner).
pub fn acme_doctor(args: &[&str]) -> Run {
    Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run acme-doctor")
        .into()
}

/// Runs acme-doctor with `input` on its standard input.
#[allow(dead_code)]
pub fn acme_doctor_with_stdin(args: &[&str], input: &str) -> Run {
    use std::process::Stdio;
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run acme-doctor");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    child
        .wait_with_output()
        .expect("wait for acme-doctor")
        .into()
}

/// Says loudly, past the test harness's output capture, that a tier did not run.
pub fn announce_skip(tier: &str, why: &str) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "\n*** SKIPPED {tier}: {why} ***");
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether the lab tier can run here. Under CI=true a lab that cannot run is a failure, never
/// a silent skip; elsewhere the skip is announced on stderr.
pub fn lab_available(test: &str) -> bool {
    lab_available_with(test, &[])
}

/// [`lab_available`], with more tools this test needs (`caddy`, say).
pub fn lab_available_with(test: &str, more: &[&str]) -> bool {
    let missing: Vec<&str> = [
        "ip",
        "nginx",
        "dnsmasq",
        "sysctl",
        "ss",
        "pebble",
        "lego",
        "openssl",
        "nft",
        "iptables",
        "ip6tables",
        "iptables-legacy-restore",
        "setpriv",
        "bash",
        "timeout",
    ]
    .into_iter()
    .chain(more.iter().copied())
    .filter(|tool| !lab::tool_exists(tool))
    .collect();
    let why = if !is_root() {
        "not root (the lab creates network namespaces)".to_string()
    } else if !missing.is_empty() {
        format!("missing tools: {}", missing.join(", "))
    } else {
        return true;
    };
    if in_ci() {
        panic!("lab tier cannot run under CI=true: {why}");
    }
    announce_skip(&format!("lab tier ({test})"), &why);
    false
}

/// `--save-facts` arguments when `ACME_DOCTOR_CAPTURE_FIXTURES=DIR` is set: how the files
/// under tests/fixtures/ were captured from real runs (see tests/fixtures/README.md).
pub fn capture_args(label: &str) -> Vec<String> {
    match std::env::var_os("ACME_DOCTOR_CAPTURE_FIXTURES") {
        Some(dir) => vec![
            "--save-facts".into(),
            std::path::Path::new(&dir)
                .join(format!("{label}.json"))
                .to_string_lossy()
                .into_owned(),
        ],
        None => Vec::new(),
    }
}

/// Runs `run` over `items` on `workers` threads (a lab scenario is mostly waiting on timeouts
/// and the CA) and returns the results in the items' order. A panicking item gives
/// `on_panic(item, message)` instead, so one broken scenario still leaves the table whole.
pub fn run_pool<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    run: impl Fn(&T) -> R + Sync,
    on_panic: impl Fn(&T, String) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(item) = items.get(i) else { break };
                    let result =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(item)))
                            .unwrap_or_else(|panic| {
                                let message = panic
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_else(|| "?".into());
                                on_panic(item, message)
                            });
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, result));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Whether the tools a test runs (`promtool`, `systemd-analyze`) are installed. Under CI=true
/// a missing one is a failure, never a silent skip; elsewhere the skip is announced on stderr
/// with the tier and the tools.
pub fn tools_available(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !lab::tool_exists(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing tools: {}", missing.join(", "));
    if in_ci() {
        panic!("{test} cannot run under CI=true: {why}");
    }
    announce_skip(test, &why);
    false
}
