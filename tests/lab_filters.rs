//! Lab tier for issue 20 item 2: a perspective blocked by the host's own filters, and the
//! rule named on the host instead of `blocked-upstream`. Real nginx and real nftables in the
//! lab's host namespace, `acme-doctor serve` as the vantage in the outside namespace (where
//! Pebble, the real CA, stands too: a rule that refuses the vantage's prefix refuses Pebble),
//! and the host run twice: with `--vantage` and without.
//!
//! Each scenario comes from a real report:
//!
//! - `nginx-geo-bot-blocker`: nginx-ultimate-bad-bot-blocker's shape: `geo $validate_client`
//!   in `http` including `bots.d/blacklist-ips.conf`, and `blockbots.conf` (`if
//!   ($validate_client) { return 444; }`) included at the top of the server, beside a
//!   challenge location. Reported at
//!   https://github.com/mitchellkrogza/nginx-ultimate-bad-bot-blocker/issues/576 ("I guess
//!   the IP of the certbot servers are somehow blocked"; disabling the blocker fixed it) and
//!   .../issues/554 (444 in the access log for /.well-known/acme-challenge/); the geo-block
//!   that failed only secondary validation:
//!   https://mattstenson.com/certbot-http-verification-debugging-details/.
//! - `nft-bot-set-v6`: an nft set of "bad bot" IPv6 ranges dropped on ports 80/443, holding
//!   the vantage's source. Block lists that swallowed the CA's addresses:
//!   https://github.com/certbot/certbot/issues/3952 ("an extensive blacklist of IP addresses
//!   … my firewall is dropping the packets"),
//!   https://github.com/romainmarcoux/malicious-ip/issues/2 (a router's ban list stopped
//!   renewals until Let's Encrypt's addresses were taken out).
//! - `nft-ips-after-handshake`: an inline IPS that passes the handshake and drops the data
//!   segment of established port-80 flows, modelled by `ct state established meta length >
//!   100 drop`: the CA connects, then times out. Suricata in IPS mode dropping established
//!   traffic it judged invalid: https://blog.jeanbruenn.info/?p=445; an "enterprise grade"
//!   firewall in front of the servers failing renewals:
//!   https://community.letsencrypt.org/t/renewal-or-new-issue-behind-a-firewall-fails-due-to-le-operation/135571.
//!
//! Pebble is the oracle for each: it dials the first address (IPv6) only, from the outside
//! namespace, so it meets the same rule the vantage did.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, Lab, RESOLVER, Setup};
use serde_json::Value;

const TOKEN: &str = "lab-filters-token-3c9e1f7a20b84d55";
/// The vantage in the outside namespace, beside Pebble.
const V1: &str = "http://198.51.100.10:8080";

/// What one host run must show.
#[derive(Clone, Copy, Debug)]
struct Expect {
    verdict: &'static str,
    incomplete: bool,
    /// The first finding that is not info: (code, family or "-"); `None`: none.
    top: Option<(&'static str, &'static str)>,
    /// Text the top finding must hold (the rule, at file:line or by set).
    names: &'static [&'static str],
}

struct Scenario {
    name: &'static str,
    about: &'static str,
    setup: fn() -> Setup,
    /// nginx `server` blocks and the files they include, written before nginx starts.
    nginx: Option<(&'static str, &'static [(&'static str, &'static str)])>,
    with_vantage: Expect,
    without: Expect,
    pebble_issues: bool,
}

/// The bot blocker's files, as the project lays them out under /etc/nginx (here under the
/// lab's directory): the `geo` with its included list, the UA map, and `blockbots.conf`.
const BOT_BLOCKER_FILES: &[(&str, &str)] = &[
    (
        "conf.d/globalblacklist.conf",
        "map $http_user_agent $bad_bot {\n  default 0;\n  \"~*(?:\\b)SemrushBot(?:\\b)\" 3;\n  \"~*(?:\\b)MJ12bot(?:\\b)\" 3;\n}\ngeo $validate_client {\n  default 0;\n  include {dir}/bots.d/whitelist-ips.conf;\n  include {dir}/bots.d/blacklist-ips.conf;\n}\n",
    ),
    ("bots.d/whitelist-ips.conf", "127.0.0.1 0;\n"),
    (
        "bots.d/blacklist-ips.conf",
        "# bad bot ranges\n203.0.113.200/29 1;\n198.51.100.0/24 1;\n2001:db8:51::/48 1;\n",
    ),
    (
        "bots.d/blockbots.conf",
        "if ($bad_bot = '3') {\n  return 444;\n}\nif ($validate_client) {\n  return 444;\n}\n",
    ),
];

const BOT_BLOCKER_SERVERS: &str = "  include {dir}/conf.d/*.conf;\n  server {\n    listen 80;\n    listen [::]:80;\n    server_name example.test;\n    include {dir}/bots.d/blockbots.conf;\n    location ^~ /.well-known/acme-challenge/ { root {www}; }\n    location / { root {www}; }\n  }\n";

fn no_nginx_default() -> Setup {
    Setup {
        nginx: false,
        ..Setup::default()
    }
}

fn bad_bot_set() -> Setup {
    Setup {
        rulesets: vec![(
            "nft -f".into(),
            "table inet filter {\n  set bad_bots_v6 {\n    type ipv6_addr\n    flags interval\n    elements = { 2001:db8:51::/48, 2001:db8:666::/48 }\n  }\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip6 saddr @bad_bots_v6 tcp dport { 80, 443 } drop\n  }\n}\n"
                .into(),
        )],
        ..Setup::default()
    }
}

fn ips_rule() -> Setup {
    Setup {
        rulesets: vec![(
            "nft -f".into(),
            "table inet ips {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    iifname \"h0\" tcp dport 80 ct state established meta length > 100 drop\n  }\n}\n"
                .into(),
        )],
        ..Setup::default()
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "nginx-geo-bot-blocker",
        about: "a bot blocker's geo list holds the vantage's prefix: 444 before any location",
        setup: no_nginx_default,
        nginx: Some((BOT_BLOCKER_SERVERS, BOT_BLOCKER_FILES)),
        with_vantage: Expect {
            verdict: "fail",
            incomplete: false,
            top: Some(("webserver-denies-client", "-")),
            names: &["bots.d/blockbots.conf:5", "bots.d/blacklist-ips.conf:"],
        },
        without: Expect {
            verdict: "at-risk",
            incomplete: true,
            top: Some(("webserver-denies-client", "-")),
            names: &["bots.d/blockbots.conf:5"],
        },
        pebble_issues: false,
    },
    Scenario {
        name: "nft-bot-set-v6",
        about: "an nft set of bad-bot IPv6 ranges holds the vantage's (and the CA's) source",
        setup: bad_bot_set,
        nginx: None,
        with_vantage: Expect {
            verdict: "fail",
            incomplete: false,
            top: Some(("firewall-drops", "ipv6")),
            names: &["@bad_bots_v6", "2001:db8:51::10"],
        },
        // Nothing on the host refuses an arbitrary source: the honest symptom is none, and
        // the run says it could not see more.
        without: Expect {
            verdict: "pass",
            incomplete: true,
            top: None,
            names: &[],
        },
        pebble_issues: false,
    },
    Scenario {
        name: "nft-ips-after-handshake",
        about: "an IPS-style rule passes the SYN and drops the request segment on port 80",
        setup: ips_rule,
        nginx: None,
        with_vantage: Expect {
            verdict: "fail",
            incomplete: false,
            top: Some(("firewall-drops", "ipv6")),
            names: &["meta length", "then drops the request"],
        },
        without: Expect {
            verdict: "fail",
            incomplete: true,
            top: Some(("firewall-drops", "ipv6")),
            names: &["meta length"],
        },
        pebble_issues: false,
    },
];

fn token_file(lab: &Lab) -> String {
    let path = lab.dir.join("vantage.token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    path.to_string_lossy().into_owned()
}

fn start_serve(lab: &mut Lab) {
    let token = token_file(lab);
    let outside = lab.outside.clone();
    let args = [
        common::BIN,
        "serve",
        "--listen",
        "198.51.100.10:8080",
        "--token-file",
        &token,
        "--plain-http",
        "--resolver",
        RESOLVER,
        "--allow-reserved",
    ];
    lab.start_daemon(&outside, &args, "serve.log", 8080)
        .unwrap_or_else(|e| panic!("serve did not start: {e}"));
}

/// Checks one run against its expectation; returns the report.
fn judge(label: &str, expect: Expect, run: &common::Run, problems: &mut Vec<String>) -> Value {
    let Some(report) =
        common::checked_report(label, expect.verdict, expect.incomplete, run, problems)
    else {
        return Value::Null;
    };
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let top = findings.iter().find(|f| f["severity"] != "info");
    let family = |f: &Value| f["family"].as_str().unwrap_or("-").to_string();
    match (expect.top, top) {
        (None, None) => {}
        (Some((code, fam)), Some(f)) if f["code"] == code && family(f) == fam => {
            let text = format!("{} {} {}", f["title"], f["detail"], f["evidence"]);
            for needle in expect.names {
                if !text.contains(needle) {
                    problems.push(format!(
                        "{label}: the top finding does not name {needle:?}: {f:#}"
                    ));
                }
            }
        }
        _ => problems.push(format!(
            "{label}: top finding {:?} instead of {:?}; findings {:#}",
            top.map(|f| format!("{}/{}", f["code"], family(f))),
            expect.top,
            report["findings"]
        )),
    }
    report
}

struct Row {
    name: &'static str,
    line: String,
    problems: Vec<String>,
}

fn run_scenario(s: &Scenario) -> Row {
    let mut lab = Lab::start(&(s.setup)());
    let mut problems = Vec::new();
    if let Some((servers, files)) = s.nginx {
        let dir = lab.dir.to_string_lossy().into_owned();
        for (path, text) in files {
            let file = lab.dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text.replace("{dir}", &dir)).unwrap();
        }
        let host = lab.host.clone();
        lab.start_nginx_in(&host, "nginx", servers)
            .unwrap_or_else(|e| panic!("nginx did not start: {e}"));
    }
    start_serve(&mut lab);
    let token = lab.dir.join("vantage.token").to_string_lossy().into_owned();
    let host = lab.host.clone();
    let with_run = lab.acme_doctor(
        &host,
        &format!("filters-{}-host", s.name),
        &[
            "--json",
            "--vantage",
            V1,
            "--vantage-token-file",
            &token,
            DOMAIN,
        ],
    );
    let with_report = judge("with --vantage", s.with_vantage, &with_run, &mut problems);
    let without_run = lab.acme_doctor(
        &host,
        &format!("filters-{}-blind", s.name),
        &["--json", DOMAIN],
    );
    let without_report = judge("without", s.without, &without_run, &mut problems);
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
            for (label, report) in [
                ("with --vantage", &with_report),
                ("without", &without_report),
            ] {
                if report["verdict"] == "fail" && real.issued {
                    problems.push(format!("{label}: fail, but the real CA issued"));
                }
            }
            if real.issued {
                "issued".to_string()
            } else {
                format!("failed: {}", real.error.lines().last().unwrap_or(""))
            }
        }
    };
    if !problems.is_empty() {
        problems.push(format!("serve.log: {}", lab.log("serve.log")));
    }
    Row {
        name: s.name,
        line: format!(
            "with: {:<44} without: {:<40} real: {}\n    {}",
            common::verdict_line(&with_report),
            common::verdict_line(&without_report),
            real,
            s.about
        ),
        problems,
    }
}

#[test]
fn lab_filters_scenarios() {
    if !common::lab_available_with("lab_filters", &["curl"]) {
        return;
    }
    let rows = common::run_pool(SCENARIOS, 3, run_scenario, |s, panic| Row {
        name: s.name,
        line: "-".into(),
        problems: vec![format!("panicked: {panic}")],
    });
    let mut table =
        String::from("\nfilter scenarios: the host with --vantage, without, and the real CA\n");
    for r in &rows {
        table += &format!(
            "{:<26} {} {}\n",
            r.name,
            if r.problems.is_empty() { "ok" } else { "NO" },
            r.line
        );
    }
    eprintln!("{table}");
    let problems: Vec<String> = rows
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.name)))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(rows.len(), SCENARIOS.len());
}
