//! Lab tier: HTTP per perspective (issue 20 item 1). Real nginx on the host, `acme-doctor
//! serve` vantages outside, lego and Pebble as the real CA. Each perspective sends the CA's
//! User-Agent; the host sends its own too:
//!
//! - `ua-403`: nginx answers 403 to Let's Encrypt's User-Agent
//!   (`if ($http_user_agent ~* "letsencrypt") { return 403; }`), as a bot rule did to the
//!   validation server in https://github.com/PrivateBin/PrivateBin/issues/413 (403 in the
//!   access log for "Let's Encrypt validation server") and the bad-bot blocker in
//!   https://github.com/mitchellkrogza/nginx-ultimate-bad-bot-blocker/issues/554. From the
//!   host alone the difference of User-Agent shows it: `waf-blocks`, under the nginx line
//!   that does it (`webserver-denies-client`, issue 20 item 2) on top; with a vantage, the
//!   same. Pebble's VA sends its own User-Agent (`LetsEncrypt-Pebble-VA (linux; amd64)`),
//!   which the same rule matches, so Pebble proves the rule fails a real validation; that
//!   production's User-Agent matches it too is what the host's CA-shaped GET shows (403).
//! - `source-444`: nginx `geo` answers 444 (closes without an answer) to the outside
//!   namespace's prefix, where the first vantage and Pebble stand, and serves a second
//!   vantage elsewhere, as a blocklist of sources did to the validation server in
//!   https://community.letsencrypt.org/t/validation-server-is-blacklisted/87931. With both
//!   vantages: `vantage-dependent` at the HTTP level (a risk: one outside view got through);
//!   with the blocked one alone against the host: `vantage-dependent` as a blocker; each
//!   under the `geo` line that does it (`webserver-denies-client`) on top; never
//!   `outside-sees-other-server`. Pebble, from the blocked prefix, fails with Boulder's
//!   catch-all for the close.

// Tests panic on purpose: a broken lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, HOST_V4, Lab, RESOLVER, Setup};
use std::io::Write;

const TOKEN: &str = "lab-perspective-token-3c9e1f7a0b6d";
/// The vantage in the outside namespace, beside Pebble.
const V1: &str = "http://198.51.100.10:8080";
/// A second vantage, in a machine of its own behind the router.
const V2: &str = "http://203.0.113.130:8080";

/// What one host run must show.
#[derive(Clone, Copy, Debug)]
struct Expect {
    verdict: &'static str,
    incomplete: bool,
    /// The top finding that is not info: the host's own rule that does it (issue 20 item 2),
    /// and words its evidence must hold (the rule, at file:line).
    root: (&'static str, &'static [&'static str]),
    /// The perspective finding under it: (code, family).
    top: (&'static str, &'static str),
    /// Words that finding's evidence must hold.
    evidence: &'static [&'static str],
}

/// One host run: its vantages and what it must show.
struct HostRun {
    label: &'static str,
    vantages: &'static [&'static str],
    expect: Expect,
}

struct Scenario {
    name: &'static str,
    about: &'static str,
    setup: fn() -> Setup,
    second_vantage: bool,
    runs: &'static [HostRun],
    /// Whether the real CA (Pebble, in the outside namespace) issues.
    pebble_issues: bool,
}

fn ua_403() -> Setup {
    Setup {
        nginx_extra: vec![r#"if ($http_user_agent ~* "letsencrypt") { return 403; }"#.into()],
        ..Setup::default()
    }
}

fn source_444() -> Setup {
    Setup {
        host_records: vec![format!("{DOMAIN},{HOST_V4}")],
        nginx_servers: Some(
            "  geo $blocked_source { default 0; 198.51.100.0/24 1; }\n\
             server {\n    listen 80;\n    listen [::]:80;\n    server_name _;\n    root {www};\n    \
             if ($blocked_source) { return 444; }\n    location / { try_files $uri =404; }\n  }\n"
                .into(),
        ),
        ..Setup::default()
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "ua-403",
        about: "nginx answers 403 to Let's Encrypt's User-Agent",
        setup: ua_403,
        second_vantage: false,
        runs: &[
            HostRun {
                label: "host alone",
                vantages: &[],
                expect: Expect {
                    verdict: "fail",
                    incomplete: true,
                    root: ("webserver-denies-client", &["http_user_agent", ":"]),
                    top: ("waf-blocks", "ipv6"),
                    evidence: &["filter: by User-Agent", "403", "404"],
                },
            },
            HostRun {
                label: "with a vantage",
                vantages: &[V1],
                expect: Expect {
                    verdict: "fail",
                    incomplete: false,
                    root: ("webserver-denies-client", &["http_user_agent", ":"]),
                    top: ("waf-blocks", "ipv6"),
                    evidence: &["filter: by User-Agent", "403", "404"],
                },
            },
        ],
        pebble_issues: false,
    },
    Scenario {
        name: "source-444",
        about: "nginx geo closes without an answer (444) for the outside prefix only",
        setup: source_444,
        second_vantage: true,
        runs: &[
            HostRun {
                label: "two vantages",
                vantages: &[V1, V2],
                expect: Expect {
                    verdict: "at-risk",
                    incomplete: false,
                    root: ("webserver-denies-client", &["geo", "198.51.100.0/24"]),
                    top: ("vantage-dependent", "ipv4"),
                    evidence: &[V1, "444", V2, "404", "this host"],
                },
            },
            HostRun {
                label: "vantage against the host",
                vantages: &[V1],
                expect: Expect {
                    verdict: "fail",
                    incomplete: false,
                    root: ("webserver-denies-client", &["geo", "198.51.100.0/24"]),
                    top: ("vantage-dependent", "ipv4"),
                    evidence: &[V1, "444", "this host", "404"],
                },
            },
        ],
        pebble_issues: false,
    },
];

fn token_file(lab: &Lab) -> String {
    let path = lab.dir.join("vantage.token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    path.to_string_lossy().into_owned()
}

/// Starts `acme-doctor serve` in `ns`, listening on `listen`.
fn start_serve(lab: &mut Lab, ns: &str, listen: &str, log: &str) {
    let token = token_file(lab);
    let args = [
        common::BIN,
        "serve",
        "--listen",
        listen,
        "--token-file",
        &token,
        "--plain-http",
        "--allow-reserved",
        "--resolver",
        RESOLVER,
    ];
    let port: u16 = listen.rsplit(':').next().unwrap().parse().unwrap();
    lab.start_daemon(ns, &args, log, port)
        .unwrap_or_else(|e| panic!("serve did not start: {e}"));
}

/// The problems of one run against its expectation.
fn judge(label: &str, expect: &Expect, run: &common::Run, problems: &mut Vec<String>) -> String {
    let Some(report) =
        common::checked_report(label, expect.verdict, expect.incomplete, run, problems)
    else {
        return "-".into();
    };
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let root = findings.iter().find(|f| f["severity"] != "info");
    let (root_code, root_words) = expect.root;
    match root {
        Some(f) if f["code"] == root_code => {
            let evidence = f["evidence"].to_string();
            for word in root_words {
                if !evidence.contains(word) {
                    problems.push(format!("{label}: root evidence lacks {word:?}: {evidence}"));
                }
            }
        }
        _ => problems.push(format!(
            "{label}: top finding {:?} instead of {root_code}; findings {:#}",
            root.map(|f| format!("{}/{}", f["code"], f["family"])),
            report["findings"]
        )),
    }
    let (code, family) = expect.top;
    let top = findings
        .iter()
        .find(|f| f["code"] == code && f["family"] == family);
    match top {
        Some(f) if f["code"] == code && f["family"] == family => {
            let evidence = f["evidence"].to_string();
            for word in expect.evidence {
                if !evidence.contains(word) {
                    problems.push(format!("{label}: top evidence lacks {word:?}: {evidence}"));
                }
            }
        }
        _ => problems.push(format!(
            "{label}: no {code}/{family} under the root; findings {:#}",
            report["findings"]
        )),
    }
    // A refusal or a close by the same server is never "another server" (issue 20).
    if findings
        .iter()
        .any(|f| f["code"] == "outside-sees-other-server")
    {
        problems.push(format!(
            "{label}: outside-sees-other-server: {:#}",
            report["findings"]
        ));
    }
    root.map(|f| {
        format!(
            "{} {}/{}",
            report["verdict"].as_str().unwrap_or("?"),
            f["code"].as_str().unwrap_or("?"),
            f["family"].as_str().unwrap_or("-")
        )
    })
    .unwrap_or_else(|| "-".into())
}

struct Row {
    name: &'static str,
    runs: Vec<String>,
    real: String,
    problems: Vec<String>,
}

fn run_scenario(s: &Scenario) -> Row {
    let mut lab = Lab::start(&(s.setup)());
    let mut problems = Vec::new();
    let outside = lab.outside.clone();
    start_serve(&mut lab, &outside, "198.51.100.10:8080", "serve.log");
    if s.second_vantage {
        let ns = lab
            .add_machine("v", "203.0.113.129/26", "203.0.113.130/26")
            .unwrap();
        start_serve(&mut lab, &ns, "203.0.113.130:8080", "serve2.log");
    }
    let token = lab.dir.join("vantage.token").to_string_lossy().into_owned();
    let host = lab.host.clone();
    let mut runs = Vec::new();
    for r in s.runs {
        let mut args = vec!["--json"];
        for v in r.vantages {
            args.extend(["--vantage", v]);
        }
        if !r.vantages.is_empty() {
            args.extend(["--vantage-token-file", &token]);
        }
        args.push(DOMAIN);
        let label = format!("perspective-{}-{}", s.name, r.label.replace(' ', "-"));
        let run = lab.acme_doctor(&host, &label, &args);
        let summary = judge(r.label, &r.expect, &run, &mut problems);
        runs.push(format!("{}: {summary}", r.label));
    }
    let real = match lab.start_pebble() {
        Err(e) => {
            problems.push(format!("Pebble did not start: {e}"));
            "-".to_string()
        }
        Ok(()) => {
            let real = lab.real_validation(DOMAIN);
            if real.issued != s.pebble_issues {
                problems.push(format!(
                    "Pebble was expected to {}, but: {}",
                    if s.pebble_issues { "issue" } else { "fail" },
                    real.error
                ));
            }
            if real.issued {
                "issued".to_string()
            } else {
                format!("failed: {}", real.error)
            }
        }
    };
    if !problems.is_empty() {
        problems.push(format!("serve.log: {}", lab.log("serve.log")));
    }
    Row {
        name: s.name,
        runs,
        real,
        problems,
    }
}

#[test]
fn lab_perspective_scenarios() {
    if !common::lab_available("perspective") {
        return;
    }
    let rows = common::run_pool(SCENARIOS, 2, run_scenario, |s, panic| Row {
        name: s.name,
        runs: Vec::new(),
        real: "-".into(),
        problems: vec![format!("panicked: {panic}")],
    });
    let mut table =
        String::from("\nperspective scenarios: each host run, and the real CA (lego + Pebble)\n");
    for r in &rows {
        let s = SCENARIOS.iter().find(|s| s.name == r.name).unwrap();
        table += &format!(
            "{:<12} {}  real: {}  {}\n    {}\n",
            r.name,
            r.runs.join("; "),
            r.real.chars().take(160).collect::<String>(),
            if r.problems.is_empty() { "ok" } else { "NO" },
            s.about
        );
    }
    let _ = std::io::stderr().write_all(table.as_bytes());
    let problems: Vec<String> = rows
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.name)))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(rows.len(), SCENARIOS.len());
}
