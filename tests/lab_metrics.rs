//! Lab tier for `--metrics` and the alerts (issue 21, "Done when"): a lab host with certbot-,
//! lego- and Caddy-style certificates, each made by openssl when the test runs (so their
//! expiry is days from now), configured as the clients write them:
//!
//! - certbot, webroot = nginx's root, 80 days left: healthy (the real token round trip);
//! - Caddy (Debian's layout under `--client-root`), its default TLS-ALPN-01 with nothing on
//!   443 in the lab, 25 days left: failing, within the 30 days of `AcmeRenewalWillFail`;
//! - lego, `--http --http.webroot` nginx's root from a systemd unit, 10 days left: passing
//!   but expiring, within the 14 days of `AcmeCertificateExpiresSoon`.
//!
//! acme-doctor runs inside the host namespace with the service's own arguments
//! (`contrib/acme-doctor-metrics.service`'s ExecStart, the file moved into the lab), twice: the
//! timer's first day, then its second with `--json` beside it. `promtool check metrics`
//! takes both files; then `promtool test rules` runs `contrib/prometheus/acme-doctor.rules.yml`
//! on series built from them: the files' samples as the node exporter would serve them,
//! repeated daily for the days a scenario lasts, every `_timestamp_seconds` shifted so that the
//! first run finished at the test's time 0. Each scenario is evaluated at several times for
//! every alert of the file, and promtool fails on any alert fired that is not expected and
//! any expected that did not fire.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{HOST_V4, HOST_V6, Lab, Setup};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const HEALTHY: &str = "healthy.example.test";
const FAILING: &str = "failing.example.test";
const EXPIRING: &str = "expiring.example.test";
const DAY: i64 = 86_400;
/// The labels Prometheus adds to every series the node exporter serves.
const INSTANCE: &str = "lab-host.example.test:9100";
const JOB: &str = "node";
/// Series step: well inside Prometheus's five-minute lookback.
const STEP: i64 = 120;
const ALERTS: [&str; 5] = [
    "AcmeCertificateExpiresSoon",
    "AcmeRenewalWillFail",
    "AcmeDoctorStale",
    "AcmeDoctorAbsent",
    "AcmeDoctorIncomplete",
];

fn write(path: &Path, text: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A self-signed certificate for `name`, valid from now for `days`, in PEM.
fn certificate(lab: &Lab, name: &str, days: u32) -> String {
    let key = lab.dir.join(format!("{name}.key"));
    let crt = lab.dir.join(format!("{name}.crt"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .args(["-days", &days.to_string(), "-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl: {out:?}");
    std::fs::read_to_string(crt).unwrap()
}

/// The clients' files: certbot's and lego's in the lab's directory (`--client-config`), Caddy's
/// in Debian's layout under the returned root (`--client-root`).
fn write_clients(lab: &Lab) -> (Vec<String>, String) {
    let dir = lab.dir.join("clients");
    let www = lab.dir.join("www").to_string_lossy().into_owned();
    // certbot, as `certbot certonly --webroot -w <root> -d healthy…` writes it.
    let live = dir.join("letsencrypt/live").join(HEALTHY);
    write(&live.join("cert.pem"), &certificate(lab, HEALTHY, 80));
    // A whole lineage: certbot refuses one with a file missing (`lineage-broken`).
    for other in ["privkey.pem", "chain.pem", "fullchain.pem"] {
        write(
            &live.join(other),
            "stand-in: only its presence is checked\n",
        );
    }
    let certbot = write(
        &dir.join(format!("letsencrypt/renewal/{HEALTHY}.conf")),
        &format!(
            "# renew_before_expiry = 30 days\nversion = 2.1.0\narchive_dir = {d}/letsencrypt/archive/{HEALTHY}\ncert = {l}/cert.pem\nprivkey = {l}/privkey.pem\nchain = {l}/chain.pem\nfullchain = {l}/fullchain.pem\n\n# Options used in the renewal process\n[renewalparams]\naccount = 6a4f2c3b8e1d0f9a7c5b3e2d1f0a9b8c\nauthenticator = webroot\nwebroot_path = {www},\nserver = https://acme-v02.api.letsencrypt.org/directory\nkey_type = ecdsa\n[[webroot_map]]\n{HEALTHY} = {www}\n",
            d = dir.display(),
            l = live.display(),
        ),
    );
    // lego, webroot, renewed by a systemd unit.
    let store = dir.join("lego");
    write(
        &store.join(format!("certificates/{EXPIRING}.crt")),
        &certificate(lab, EXPIRING, 10),
    );
    write(
        &store.join(format!("certificates/{EXPIRING}.json")),
        &format!(
            "{{\n\t\"domain\": \"{EXPIRING}\",\n\t\"certUrl\": \"https://acme-v02.api.letsencrypt.org/acme/cert/04cd\",\n\t\"certStableUrl\": \"https://acme-v02.api.letsencrypt.org/acme/cert/04cd\"\n}}"
        ),
    );
    let unit = write(
        &dir.join("lego-renew.service"),
        &format!(
            "[Unit]\nDescription=Renew certificates with lego\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/lego --accept-tos --email ops@example.test --path {} --domains {EXPIRING} --http --http.webroot {www} renew --days 30\n",
            store.display()
        ),
    );
    // Caddy as Debian packages it: the Caddyfile's site, the certificate where the `caddy`
    // user's certmagic stores it.
    let root = lab.dir.join("root");
    write(
        &root.join("etc/caddy/Caddyfile"),
        &format!(
            "{{\n\temail ops@example.test\n}}\n\n{FAILING} {{\n\troot * /usr/share/caddy\n\tfile_server\n}}\n"
        ),
    );
    write(
        &root.join(format!("var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/{FAILING}/{FAILING}.crt")),
        &certificate(lab, FAILING, 25),
    );
    (vec![certbot, unit], root.to_string_lossy().into_owned())
}

/// The service's ExecStart arguments, its `--metrics` file moved to `metrics`.
fn service_args(metrics: &str) -> Vec<String> {
    let service = std::fs::read_to_string("contrib/acme-doctor-metrics.service").unwrap();
    let joined = service.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let mut words: Vec<String> = line.split_whitespace().skip(1).map(String::from).collect();
    let at = words.iter().position(|w| w == "--metrics").unwrap();
    assert_eq!(
        words[at + 1],
        "/var/lib/prometheus/node-exporter/acme_doctor.prom"
    );
    words[at + 1] = metrics.to_string();
    words
}

/// One sample: family, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

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
            (name.to_string(), labels, value.parse().unwrap())
        })
        .collect()
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A run's samples as series for the test: each day of `days`, the samples of the run that
/// day stands for, with Prometheus's target labels; `_timestamp_seconds` shifted by `-t0`, the
/// last run's time moved on a day each day the timer ran (`ran(day)`), and left as it was on
/// the days it did not (the node exporter serving the last file).
fn series(runs: &[&[Sample]], days: i64, ran: impl Fn(i64) -> bool, t0: i64) -> Vec<Value> {
    let per_day = DAY / STEP;
    let mut by_series: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last_run_day = 0;
    for day in 0..days {
        if ran(day) {
            last_run_day = day;
        }
        let run = runs[usize::try_from(last_run_day).unwrap().min(runs.len() - 1)];
        for (name, labels, value) in run {
            let mut labels = labels.clone();
            labels.insert("instance".into(), INSTANCE.into());
            labels.insert("job".into(), JOB.into());
            let rendered: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            let key = format!("{name}{{{}}}", rendered.join(","));
            let value = if name == "acme_doctor_last_run_timestamp_seconds" {
                *value as i64 - t0 + last_run_day * DAY
            } else if name.ends_with("_timestamp_seconds") {
                *value as i64 - t0
            } else {
                *value as i64
            };
            let segments = by_series.entry(key).or_default();
            segments.push(format!("{value}x{}", per_day - 1));
        }
    }
    by_series
        .into_iter()
        .map(|(series, segments)| json!({"series": series, "values": segments.join(" ")}))
        .collect()
}

/// Go's `humanizeDuration` (Prometheus's template function) for whole seconds of a day or
/// more down to a second.
fn humanize_duration(seconds: i64) -> String {
    let (sign, v) = if seconds < 0 {
        ("-", -seconds)
    } else {
        ("", seconds)
    };
    let (d, h, m, s) = (v / DAY, v / 3600 % 24, v / 60 % 60, v % 60);
    if d != 0 {
        format!("{sign}{d}d {h}h {m}m {s}s")
    } else if h != 0 {
        format!("{sign}{h}h {m}m {s}s")
    } else if m != 0 {
        format!("{sign}{m}m {s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// The `summary` and `description` templates of each alert in the rules file.
fn annotation_templates() -> BTreeMap<String, Vec<(String, String)>> {
    let text = std::fs::read_to_string("contrib/prometheus/acme-doctor.rules.yml").unwrap();
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            current = name.to_string();
        }
        for key in ["summary", "description"] {
            if let Some(quoted) = line.strip_prefix(&format!("{key}: ")) {
                let inner = quoted.strip_prefix('"').unwrap().strip_suffix('"').unwrap();
                assert!(
                    !inner.contains('\\'),
                    "an escape the test does not read: {line}"
                );
                out.entry(current.clone())
                    .or_default()
                    .push((key.to_string(), inner.to_string()));
            }
        }
    }
    out
}

/// A template with `{{ $labels.X }}`, `{{ $value }}` and `{{ $value | humanizeDuration }}`
/// filled in; any other action fails the test.
fn fill(template: &str, labels: &BTreeMap<String, String>, value: i64) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").unwrap() + start;
        let action = rest[start + 2..end].trim();
        out.push_str(&match action {
            "$value" => value.to_string(),
            "$value | humanizeDuration" => humanize_duration(value),
            a => {
                let label = a.strip_prefix("$labels.").unwrap_or_else(|| panic!("{a}"));
                labels.get(label).cloned().unwrap_or_default()
            }
        });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// One expected alert: its labels (the target's added unless `absent()`'s) and value, for its
/// annotations.
fn alert(alertname: &str, severity: &str, labels: &[(&str, &str)], value: i64) -> Value {
    let templates = annotation_templates();
    let mut all: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if alertname != "AcmeDoctorAbsent" {
        all.insert("instance".into(), INSTANCE.into());
        all.insert("job".into(), JOB.into());
    }
    let annotations: BTreeMap<String, String> = templates[alertname]
        .iter()
        .map(|(k, t)| (k.clone(), fill(t, &all, value)))
        .collect();
    all.insert("severity".into(), severity.into());
    json!({"exp_labels": all, "exp_annotations": annotations})
}

/// Every alert of the file at `at` seconds, each with the alerts expected of it.
fn cases(at: i64, expected: &BTreeMap<&str, Vec<Value>>) -> Vec<Value> {
    ALERTS
        .iter()
        .map(|name| {
            json!({
                "eval_time": format!("{at}s"),
                "alertname": name,
                "exp_alerts": expected.get(name).cloned().unwrap_or_default(),
            })
        })
        .collect()
}

#[test]
fn daily_all_runs_write_metrics_that_fire_exactly_the_expected_alerts() {
    if !common::lab_available_with("metrics: --all --metrics and the alerts", &["promtool"]) {
        return;
    }
    let lab = Lab::start(&Setup {
        host_records: [HEALTHY, FAILING, EXPIRING]
            .iter()
            .map(|n| format!("{n},{HOST_V4},{HOST_V6}"))
            .collect(),
        ..Setup::default()
    });
    let (configs, root) = write_clients(&lab);
    let exporter = lab.dir.join("node-exporter");
    std::fs::create_dir_all(&exporter).unwrap();
    let run_day = |day: u32, json_too: bool| {
        let file = exporter
            .join("acme_doctor.prom")
            .to_string_lossy()
            .into_owned();
        let mut args = service_args(&file);
        args.extend(["--client-root".into(), root.clone()]);
        for c in &configs {
            args.extend(["--client-config".into(), c.clone()]);
        }
        if json_too {
            args.push("--json".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = lab.acme_doctor(&lab.host, &format!("metrics-day-{day}"), &args);
        eprintln!("day {day}: exit {}, stderr: {}", run.code, run.stderr);
        // A blocker stands: exit 1, which the service counts as success.
        assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
        let text = std::fs::read_to_string(&file).unwrap();
        let (ok, said) = promtool(&["check", "metrics"], Some(&text));
        assert!(
            ok && said.trim().is_empty(),
            "promtool check metrics: {said}\n{text}"
        );
        // Only the file is left in the collector's directory.
        let left: Vec<_> = std::fs::read_dir(&exporter)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["acme_doctor.prom"]);
        (run, text)
    };
    let (_, first) = run_day(0, false);
    let (second_run, second) = run_day(1, true);
    eprintln!("{second}");
    let day0 = samples(&first);
    let day1 = samples(&second);

    // What the runs found, as --json says and the metrics say.
    let json = second_run.json();
    for (name, verdict) in [(HEALTHY, "pass"), (FAILING, "fail"), (EXPIRING, "pass")] {
        let result = json["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["target"]["domain"] == name)
            .unwrap_or_else(|| panic!("{name}: {json:#}"));
        assert_eq!(
            result["verdict"], verdict,
            "{name}: {:#}",
            result["findings"]
        );
        for run in [&day0, &day1] {
            let got = find(
                run,
                "acme_doctor_verdict",
                &[("name", name), ("verdict", verdict)],
            );
            assert_eq!(got.len(), 1, "{name}");
            assert_eq!(got[0].2, 1.0, "{name}");
        }
    }
    let top = find(&day1, "acme_doctor_top_finding", &[("name", FAILING)]);
    assert_eq!(top[0].1["severity"], "blocker");
    let code = top[0].1["code"].clone();
    let method = top[0].1["method"].clone();
    assert_eq!(method, "tls-alpn-01");
    let blockers = find(
        &day1,
        "acme_doctor_findings",
        &[("name", FAILING), ("severity", "blocker")],
    )[0]
    .2 as i64;
    assert!(blockers >= 1);
    let expiry = |client: &str, cert: &str| {
        let found = find(
            &day1,
            "acme_doctor_certificate_expiry_timestamp_seconds",
            &[("client", client), ("certificate", cert)],
        );
        assert_eq!(found.len(), 1, "{client} {cert}:\n{second}");
        found[0].2 as i64
    };
    let t0 = find(&day0, "acme_doctor_last_run_timestamp_seconds", &[])[0].2 as i64;
    let healthy_expiry = expiry("certbot", HEALTHY) - t0;
    let failing_expiry = expiry("caddy", FAILING) - t0;
    let expiring_expiry = expiry("lego", EXPIRING) - t0;
    // openssl's -days from about now (the runs take seconds).
    for (left, days) in [
        (healthy_expiry, 80),
        (failing_expiry, 25),
        (expiring_expiry, 10),
    ] {
        assert!((left - days * DAY).abs() < 600, "{left} for {days} days");
    }
    // Names incomplete in both runs (a host-only run: what stands outside is not seen).
    let incomplete: Vec<(String, String, String, String)> =
        find(&day1, "acme_doctor_incomplete", &[])
            .into_iter()
            .filter(|(_, l, v)| {
                *v == 1.0
                    && find(
                        &day0,
                        "acme_doctor_incomplete",
                        &[("name", &l["name"]), ("client", &l["client"])],
                    )
                    .iter()
                    .all(|s| s.2 == 1.0)
            })
            .map(|(_, l, _)| {
                (
                    l["name"].clone(),
                    l["method"].clone(),
                    l["client"].clone(),
                    l["certificate"].clone(),
                )
            })
            .collect();

    let expires_soon = |at: i64| {
        alert(
            "AcmeCertificateExpiresSoon",
            "critical",
            &[("client", "lego"), ("certificate", EXPIRING)],
            expiring_expiry - at,
        )
    };
    let will_fail = alert(
        "AcmeRenewalWillFail",
        "warning",
        &[
            ("name", FAILING),
            ("method", &method),
            ("client", "caddy"),
            ("certificate", FAILING),
            ("code", &code),
        ],
        blockers,
    );
    let incomplete_alerts: Vec<Value> = incomplete
        .iter()
        .map(|(name, method, client, cert)| {
            alert(
                "AcmeDoctorIncomplete",
                "info",
                &[
                    ("name", name),
                    ("method", method),
                    ("client", client),
                    ("certificate", cert),
                ],
                1,
            )
        })
        .collect();
    let hour = 3600;

    // The timer runs every day: the two alerts of the certificates from the first hour, the
    // incompleteness once it has lasted a week; nothing stale.
    let mut daily = Vec::new();
    for at in [hour, 3 * DAY + hour, 7 * DAY + hour] {
        let mut expected = BTreeMap::new();
        expected.insert("AcmeCertificateExpiresSoon", vec![expires_soon(at)]);
        expected.insert("AcmeRenewalWillFail", vec![will_fail.clone()]);
        if at > 7 * DAY {
            expected.insert("AcmeDoctorIncomplete", incomplete_alerts.clone());
        }
        daily.extend(cases(at, &expected));
    }
    // The timer stops after its second day: stale once two days have passed since that run.
    let last_run =
        find(&day1, "acme_doctor_last_run_timestamp_seconds", &[])[0].2 as i64 - t0 + DAY;
    let mut stopped = Vec::new();
    for at in [2 * DAY + hour, 3 * DAY + hour] {
        let mut expected = BTreeMap::new();
        expected.insert("AcmeCertificateExpiresSoon", vec![expires_soon(at)]);
        expected.insert("AcmeRenewalWillFail", vec![will_fail.clone()]);
        if at - last_run > 2 * DAY {
            expected.insert(
                "AcmeDoctorStale",
                vec![alert("AcmeDoctorStale", "warning", &[], at - last_run)],
            );
        }
        stopped.extend(cases(at, &expected));
    }
    // No metrics at all: absent after an hour.
    let up = json!([{"series": format!("up{{instance=\"{INSTANCE}\",job=\"{JOB}\"}}"), "values": format!("1x{}", 3 * hour / STEP)}]);
    let mut absent_cases = cases(30 * 60, &BTreeMap::new());
    let mut expected = BTreeMap::new();
    expected.insert(
        "AcmeDoctorAbsent",
        vec![alert("AcmeDoctorAbsent", "warning", &[], 0)],
    );
    absent_cases.extend(cases(2 * hour, &expected));

    let rules = std::fs::canonicalize("contrib/prometheus/acme-doctor.rules.yml").unwrap();
    let test = json!({
        "rule_files": [rules.to_string_lossy()],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "the timer runs daily",
                "interval": format!("{STEP}s"),
                "input_series": series(&[&day0, &day1], 9, |_| true, t0),
                "alert_rule_test": daily,
            },
            {
                "name": "the timer stopped after its second run",
                "interval": format!("{STEP}s"),
                "input_series": series(&[&day0, &day1], 4, |day| day < 2, t0),
                "alert_rule_test": stopped,
            },
            {
                "name": "no acme-doctor metrics",
                "interval": format!("{STEP}s"),
                "input_series": up,
                "alert_rule_test": absent_cases,
            },
        ],
    });
    // JSON is YAML.
    let file = lab.dir.join("acme-doctor.rules.test.yml");
    std::fs::write(&file, serde_json::to_string_pretty(&test).unwrap()).unwrap();
    let (ok, said) = promtool(&["test", "rules", &file.to_string_lossy()], None);
    assert!(ok, "promtool test rules:\n{said}");
    assert!(said.contains("SUCCESS"), "{said}");
    eprintln!("promtool test rules: {}", said.trim());

    // The test can fail: an alert expected that the series do not fire.
    let mut wrong = test;
    wrong["tests"][0]["alert_rule_test"][0]["exp_alerts"] = json!([]);
    std::fs::write(&file, serde_json::to_string_pretty(&wrong).unwrap()).unwrap();
    let (ok, said) = promtool(&["test", "rules", &file.to_string_lossy()], None);
    assert!(!ok, "a wrong expectation passed: {said}");
}
