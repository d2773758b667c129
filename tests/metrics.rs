//! CLI tier for `--metrics FILE` and `contrib/` (issue 21 items 1 and 2), with the real tools:
//! `promtool` (Debian's `prometheus`) checks every written file and the rules file, and
//! `systemd-analyze verify` checks the timer and its service. Names resolve at an in-process
//! DNS server on loopback; no traffic leaves it. The lab run whose series test the alerts is
//! in tests/lab_metrics.rs.
//!
//! Under CI=true a missing tool fails its test; elsewhere the skip is announced.

// Tests panic on purpose: a broken fixture should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use common::dns::{DnsServer, Entry, Rec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("acme-doctor-metrics-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, rel: &str) -> String {
        self.0.join(rel).to_string_lossy().into_owned()
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.0.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One sample of the text format: family name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an exposition (acme-doctor's label values hold no `"`, `\` or `,`; the
/// unit tests of `render::metrics` cover the escaping).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}').unwrap()),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once("=\"").unwrap();
                    (k.to_string(), v.trim_end_matches('"').to_string())
                })
                .collect();
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// The verdict each name got, from the one-hot `acme_doctor_verdict`.
fn verdicts(samples: &[Sample]) -> BTreeMap<String, String> {
    samples
        .iter()
        .filter(|s| s.name == "acme_doctor_verdict" && s.value == 1.0)
        .map(|s| (s.labels["name"].clone(), s.labels["verdict"].clone()))
        .collect()
}

fn promtool_check_metrics(text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && said.trim().is_empty(), said)
}

/// promtool accepts the file, and no series is written twice (promtool 2.42 does not look).
fn assert_promtool_accepts(text: &str) {
    let (ok, said) = promtool_check_metrics(text);
    assert!(ok, "promtool check metrics: {said}\n{text}");
    let mut seen = std::collections::HashSet::new();
    for s in samples(text) {
        assert!(
            seen.insert((s.name.clone(), s.labels.clone())),
            "written twice: {s:?}\n{text}"
        );
    }
}

/// Saved facts of two runs (a lego certificate under `--all`, one name): `--json` and
/// `--metrics` from one run agree, and promtool accepts the file. promtool is shown to refuse
/// a broken copy of it, so the check can fail.
#[test]
fn metrics_from_saved_facts_agree_with_json_and_pass_promtool() {
    if !common::tools_available("metrics: promtool check metrics", &["promtool"]) {
        return;
    }
    let s = Scratch::new("facts");
    let file = s.path("acme_doctor.prom");
    let run = acme_doctor(&[
        "--from-facts",
        "tests/fixtures/clients-standalone-busy-host.json",
        "tests/fixtures/challenge-403-host.json",
        "--json",
        "--metrics",
        &file,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_promtool_accepts(&text);
    let got = samples(&text);

    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        let name = r["target"]["domain"].as_str().unwrap();
        assert_eq!(
            verdicts(&got).get(name).map(String::as_str),
            r["verdict"].as_str(),
            "{name}"
        );
        let top = &r["findings"][0];
        assert_eq!(
            value_of(
                &got,
                "acme_doctor_top_finding",
                &[
                    ("name", name),
                    ("code", top["code"].as_str().unwrap()),
                    ("severity", top["severity"].as_str().unwrap())
                ]
            ),
            Some(1.0),
            "{name}"
        );
        let blockers = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "blocker")
            .count();
        assert_eq!(
            value_of(
                &got,
                "acme_doctor_findings",
                &[("name", name), ("severity", "blocker")]
            ),
            Some(blockers as f64)
        );
        assert_eq!(
            value_of(&got, "acme_doctor_incomplete", &[("name", name)]),
            Some(if r["incomplete"] == true { 1.0 } else { 0.0 })
        );
    }
    // The lego certificate: its expiry and next try as the JSON has them.
    let solo = results
        .iter()
        .find(|r| r["target"]["domain"] == "solo.example.test")
        .unwrap();
    let cert = &solo["target"]["certificate"];
    let labels = [("client", "lego"), ("certificate", "solo.example.test")];
    assert_eq!(
        value_of(
            &got,
            "acme_doctor_certificate_expiry_timestamp_seconds",
            &labels
        ),
        cert["expiry"]["known"]["unix"].as_f64()
    );
    assert_eq!(
        value_of(
            &got,
            "acme_doctor_certificate_next_renewal_timestamp_seconds",
            &labels
        ),
        cert["next_try"]["at"]["unix"].as_f64()
    );
    // The run's time: the saved run's start plus its duration, not the time of this test.
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/clients-standalone-busy-host.json").unwrap(),
    )
    .unwrap();
    let duration = saved["duration_ms"].as_f64().unwrap() / 1000.0;
    assert_eq!(
        value_of(&got, "acme_doctor_run_duration_seconds", &[]),
        Some((duration * 1000.0).round() / 1000.0)
    );
    assert!(
        value_of(&got, "acme_doctor_last_run_timestamp_seconds", &[]).unwrap() < 1.9e9,
        "{text}"
    );
    assert_eq!(
        value_of(
            &got,
            "acme_doctor_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    // Nothing but the file in its directory: the temporary file was renamed.
    assert_eq!(s.entries(), ["acme_doctor.prom"]);

    // The check can fail: a counter without `_total`, a unit that is not the base unit.
    let counter = text.replace(
        "# TYPE acme_doctor_incomplete gauge",
        "# TYPE acme_doctor_incomplete counter",
    );
    assert!(
        !promtool_check_metrics(&counter).0,
        "counter without _total accepted"
    );
    let unit = text.replace("_run_duration_seconds", "_run_duration_milliseconds");
    assert!(!promtool_check_metrics(&unit).0, "milliseconds accepted");
}

/// `--metrics` where it cannot be written: one line on stderr (or one JSON error under
/// `--json`), exit 2, before any probe (the resolver is a loopback port nothing answers on,
/// and the run ends at once), and nothing left behind.
#[test]
fn a_metrics_path_that_cannot_be_written_is_one_line_and_exit_2() {
    let s = Scratch::new("bad");
    std::fs::create_dir(s.0.join("a-directory.prom")).unwrap();
    for (path, why) in [
        (
            s.path("missing/acme_doctor.prom"),
            "No such file or directory",
        ),
        (s.path("a-directory.prom"), "is a directory"),
    ] {
        let started = std::time::Instant::now();
        let run = acme_doctor(&[
            "example.test",
            "--resolver",
            "127.0.0.1:9",
            "--timeout",
            "5s",
            "--metrics",
            &path,
        ]);
        assert_eq!(run.code, 2, "{path}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.starts_with(&format!(
                "acme-doctor: error: --metrics {path}: cannot write it: "
            )) && run.stderr.contains(why),
            "{}",
            run.stderr
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(3));

        let run = acme_doctor(&[
            "example.test",
            "--resolver",
            "127.0.0.1:9",
            "--json",
            "--metrics",
            &path,
        ]);
        assert_eq!(run.code, 2);
        assert!(
            run.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{}",
            run.stdout
        );
    }
    assert_eq!(s.entries(), ["a-directory.prom"]);
    assert!(
        std::fs::read_dir(s.0.join("a-directory.prom"))
            .unwrap()
            .next()
            .is_none()
    );

    // A directory this user may not write to: as root, the run drops to nobody, since root
    // writes anywhere.
    use std::os::unix::fs::PermissionsExt;
    let closed = s.0.join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o555)).unwrap();
    let path = closed
        .join("acme_doctor.prom")
        .to_string_lossy()
        .into_owned();
    let args = [
        "example.test",
        "--resolver",
        "127.0.0.1:9",
        "--metrics",
        path.as_str(),
    ];
    let out = if common::is_root() {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                common::BIN,
            ])
            .args(args)
            .output()
            .unwrap()
    } else {
        Command::new(common::BIN).args(args).output().unwrap()
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(std::fs::read_dir(&closed).unwrap().next().is_none());
}

const ONE: &str = "one.example.test";
const TWO: &str = "two.example.test";
const CADDY: &str = "web.example.test";

/// The names resolve to 127.0.0.1, where nothing listens on 80 or 443.
fn zone() -> DnsServer {
    let here = || Entry::Records(vec![Rec::A("127.0.0.1".parse().unwrap())]);
    DnsServer::start(vec![
        ("test", Entry::Records(vec![Rec::Soa(1)])),
        (ONE, here()),
        (TWO, here()),
        (CADDY, here()),
    ])
}

/// One domain, a domain list (printed whole, and streamed: `--ndjson` and `--json` of several
/// names keep no name's facts, only a row for the metrics), and `--all` with a Caddy
/// certificate, each beside `--json`, `--ndjson`, `--report` or the human output: every run
/// writes a file promtool accepts, with every name, and the certificate under `--all`.
#[test]
fn one_domain_a_list_and_all_each_write_metrics_beside_any_output() {
    if !common::tools_available("metrics: outputs", &["promtool"]) {
        return;
    }
    let s = Scratch::new("outputs");
    s.write(
        "root/etc/caddy/Caddyfile",
        &format!("{{\n\temail ops@example.test\n}}\n\n{CADDY} {{\n\troot * /usr/share/caddy\n\tfile_server\n}}\n"),
    );
    s.write(
        &format!("root/var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/{CADDY}/{CADDY}.crt"),
        &std::fs::read_to_string("tests/fixtures/clients/certs/web.pem").unwrap(),
    );
    let root = s.path("root");
    let dns = zone();
    let resolver = dns.addr.to_string();
    let common_args = [
        "--resolver",
        resolver.as_str(),
        "--allow-reserved",
        "--timeout",
        "1s",
    ];
    let cases: [(&str, Vec<&str>, Vec<&str>); 6] = [
        ("one-human", vec![ONE], vec![ONE]),
        ("one-report", vec![ONE, "--report"], vec![ONE]),
        ("list-json", vec![ONE, TWO, "--json"], vec![ONE, TWO]),
        ("list-ndjson", vec![ONE, TWO, "--ndjson"], vec![ONE, TWO]),
        (
            "all-json",
            vec!["--all", "--client-root", &root, "--json"],
            vec![CADDY],
        ),
        (
            "all-report",
            vec!["--all", "--client-root", &root, "--report"],
            vec![CADDY],
        ),
    ];
    for (label, args, names) in cases {
        let file = s.path(&format!("{label}.prom"));
        let mut all: Vec<&str> = args.clone();
        all.extend(common_args);
        all.extend(["--metrics", &file]);
        let run = acme_doctor(&all);
        assert!(
            [0, 1, 3].contains(&run.code),
            "{label}: exit {}: {}",
            run.code,
            run.stderr
        );
        assert!(
            !run.stdout.is_empty(),
            "{label}: the output is still printed"
        );
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{label}: {e}: {}", run.stderr));
        assert_promtool_accepts(&text);
        let got = samples(&text);
        let named: Vec<String> = verdicts(&got).into_keys().collect();
        assert_eq!(named, names, "{label}:\n{text}");
        for name in names {
            assert!(
                got.iter()
                    .any(|x| x.name == "acme_doctor_top_finding" && x.labels["name"] == name),
                "{label}: {name}: nothing listens, so a finding stands:\n{text}"
            );
        }
        let caddy = value_of(
            &got,
            "acme_doctor_certificate_expiry_timestamp_seconds",
            &[("client", "caddy"), ("certificate", CADDY)],
        );
        if label.starts_with("all") {
            // certs/web.pem's notAfter, 2026-12-30 (tests/fixtures/clients/README.md).
            assert_eq!(caddy, Some(1_798_588_800.0), "{label}:\n{text}");
            assert_eq!(
                value_of(
                    &got,
                    "acme_doctor_verdict",
                    &[
                        ("name", CADDY),
                        ("client", "caddy"),
                        ("method", "tls-alpn-01"),
                        ("verdict", "fail")
                    ]
                ),
                Some(1.0),
                "{label}:\n{text}"
            );
        } else {
            assert_eq!(caddy, None, "{label}: no certificate without --all");
        }
    }
}

/// The rules file, as Prometheus loads it.
#[test]
fn rules_pass_promtool_check_rules() {
    if !common::tools_available("metrics: promtool check rules", &["promtool"]) {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "rules", "contrib/prometheus/acme-doctor.rules.yml"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("SUCCESS: 5 rules found"), "{said}");
}

/// The timer and its service through `systemd-analyze verify`, which needs no running systemd:
/// in a root of its own (`--root`) holding the system's units (for `sysinit.target` and the
/// rest of the boot graph), the two files under `/etc/systemd/system` and the built binary as
/// `/usr/local/bin/acme-doctor`, which the service runs. Any complaint fails, and a broken
/// copy is shown to draw one.
#[test]
fn timer_and_service_pass_systemd_analyze_verify() {
    if !common::tools_available("metrics: systemd-analyze verify", &["systemd-analyze"]) {
        return;
    }
    let s = Scratch::new("units");
    let root = &s.0;
    let units = Path::new("/lib/systemd/system");
    copy_tree(units, &root.join("lib/systemd/system"));
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    std::fs::copy(common::BIN, root.join("usr/local/bin/acme-doctor")).unwrap();
    let etc = root.join("etc/systemd/system");
    std::fs::create_dir_all(&etc).unwrap();
    for unit in ["acme-doctor-metrics.service", "acme-doctor-metrics.timer"] {
        std::fs::copy(Path::new("contrib").join(unit), etc.join(unit)).unwrap();
    }
    let verify = || {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.display()))
            .args([
                "/etc/systemd/system/acme-doctor-metrics.timer",
                "/etc/systemd/system/acme-doctor-metrics.service",
            ])
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success() && said.trim().is_empty(), said)
    };
    let (ok, said) = verify();
    assert!(ok, "systemd-analyze verify: {said}");

    // The check can fail: a misspelt setting in the service, seen through the timer.
    let service = etc.join("acme-doctor-metrics.service");
    let text = std::fs::read_to_string(&service).unwrap();
    std::fs::write(
        &service,
        text.replace("ProtectSystem=full", "ProtectSystem=fully"),
    )
    .unwrap();
    let (ok, said) = verify();
    assert!(
        !ok && said.contains("acme-doctor-metrics.service:") && said.contains("fully"),
        "{said}"
    );
}

/// The service runs the daily `--all` into the textfile collector's directory, and the timer
/// runs it daily at a random time.
#[test]
fn the_service_runs_all_into_the_textfile_directory_daily() {
    let service = std::fs::read_to_string("contrib/acme-doctor-metrics.service").unwrap();
    let exec = exec_start(&service);
    assert_eq!(exec[0], "/usr/local/bin/acme-doctor");
    let args = exec[1..].join(" ");
    assert!(args.contains("--all"), "{args}");
    assert!(
        args.contains("--metrics /var/lib/prometheus/node-exporter/acme_doctor.prom"),
        "{args}"
    );
    let timer = std::fs::read_to_string("contrib/acme-doctor-metrics.timer").unwrap();
    for line in [
        "OnCalendar=daily",
        "RandomizedDelaySec=6h",
        "Persistent=true",
    ] {
        assert!(timer.lines().any(|l| l == line), "{line}");
    }
}

/// The words of the service's `ExecStart`, its continuation lines joined.
fn exec_start(service: &str) -> Vec<String> {
    let joined = service.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    line.split_whitespace().map(str::to_string).collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(link, target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The time of the last failure the client logged (`certificate.last_failure.at`, filled by
/// `--all` from the clients' logs) is the certificate's `_last_failure_timestamp_seconds`; the
/// kinds of incompleteness are series of their own. Saved facts with a logged failure added,
/// as a facts file of version 4 holds it.
#[test]
fn the_last_logged_failure_and_the_incomplete_kinds_are_metrics() {
    let s = Scratch::new("failure");
    let mut facts: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/clients-standalone-busy-host.json").unwrap(),
    )
    .unwrap();
    facts["targets"][0]["certificate"]["last_failure"] = serde_json::json!({
        "at": {"unix": 1_795_000_000, "utc": "2026-11-18T10:13:20Z"},
        "file": "/var/log/letsencrypt/letsencrypt.log",
        "line": 12,
        "words": "Timeout during connect (likely firewall problem)",
    });
    s.write("facts.json", &facts.to_string());
    let file = s.path("m.prom");
    let run = acme_doctor(&[
        "--from-facts",
        &s.path("facts.json"),
        "--json",
        "--metrics",
        &file,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let got = samples(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(
        value_of(
            &got,
            "acme_doctor_certificate_last_failure_timestamp_seconds",
            &[("client", "lego"), ("certificate", "solo.example.test")]
        ),
        Some(1_795_000_000.0)
    );
    let json = run.json();
    let kinds: Vec<&str> = json["incomplete_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(!kinds.is_empty());
    let series: Vec<&str> = got
        .iter()
        .filter(|x| x.name == "acme_doctor_incomplete_kind")
        .map(|x| x.labels["kind"].as_str())
        .collect();
    assert_eq!(series, kinds);
}
