//! Lab tier for issue 20 item 4, "the host's plain truth ranks first": two scenarios where
//! what the server plainly says must beat a symptom its own probe saw.
//!
//! - **renewal-on-the-old-server**: the site moved to a second machine (DNS now points at
//!   203.0.113.194, which runs its own nginx), but the old server still holds certbot's
//!   renewal configuration for the name and runs `--all`. Before issue 20 the top blocker
//!   blamed a "wrong webroot"; the plain truth is that the renewal runs on the wrong server.
//!   The reports: https://caddy.community/t/minimizing-downtime-when-moving-an-https-site-from-one-server-to-another/13619
//!   (after a move, the CA's challenge goes to whichever server the name points at, not the
//!   one that asked) and "DNS points to a different machine" as a leading renewal failure in
//!   https://www.hostmycode.com/tutorials/ssl-renewal-troubleshooting-tutorial-2026-fix-lets-encrypt-failures-vps-nginx-apache-cpanel.
//!   Pebble, asked by lego from the old server, refuses it too.
//! - **hairpin-through-the-router**: the name's A is the router's public address, which
//!   forwards port 80 to the host and hairpins the host's own request back to it (NAT
//!   loopback, masqueraded to the router's inside address). nginx's deny list holds that
//!   address (NAT loopback makes every inside client look like the router, and a ban tool
//!   banned it: https://gmasich.ru/en/blog/fail2ban-archaeology shows the hairpinned
//!   requests arriving from the gateway's address), so only the hairpinned request gets
//!   403 while the CA, from outside, is served. The same shape as a node that reaches its
//!   own load balancer through a hairpin, where the self-check fails and the CA succeeds
//!   (https://github.com/cert-manager/cert-manager/issues/466,
//!   https://github.com/cert-manager/cert-manager/issues/863). With a vantage the
//!   self-probe's 403 is labelled "seen through the hairpin" and is info; without one it
//!   is a labelled warning and the run is incomplete: never a pass, never the CA's words.
//!   Pebble, validating from outside, issues.
//!
//! Both scenarios run at once, each in its own namespaces.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{DOMAIN, Lab, RESOLVER, Setup};
use serde_json::Value;
use std::path::Path;

const TOKEN: &str = "lab-plaintruth-token-3b9e0c1d7a5f4e28";
/// The vantage in the outside namespace (where Pebble stands too).
const VANTAGE: &str = "http://198.51.100.10:8080";
/// The second machine the site moved to.
const NEW_SERVER: &str = "203.0.113.194";
/// The router's public address, forwarded to the host.
const PUBLISHED: &str = "203.0.113.80";
const WEB: &str = "web.example.test";

fn write(path: &Path, text: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn cmd(words: &str) -> Vec<&str> {
    words.split_whitespace().collect()
}

fn findings(r: &Value) -> &Vec<Value> {
    r["findings"].as_array().expect("findings")
}

fn summary(r: &Value) -> Vec<String> {
    findings(r)
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["code"].as_str().unwrap_or("?"),
                f["severity"].as_str().unwrap_or("?"),
                f["title"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// Each domain's object of a `--json` run of one or several names, with the run's host
/// snapshot put back beside its facts, as a one-domain output carries it.
fn reports_of(value: &Value) -> Vec<Value> {
    match value["results"].as_array() {
        Some(results) => results
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r["host"] = value["host"].clone();
                r
            })
            .collect(),
        None => vec![value.clone()],
    }
}

/// certbot's renewal configuration for web.example.test (and www), as
/// `certbot certonly --webroot -w <root>` writes it, with its lineage's files, under the
/// lab's directory: the old server's.
fn certbot_config(lab: &Lab) -> String {
    let fixture =
        |name: &str| std::fs::read_to_string(format!("tests/fixtures/clients/{name}")).unwrap();
    let dir = lab.dir.join("clients");
    let live = dir.join("letsencrypt/live").join(WEB);
    for file in ["cert.pem", "privkey.pem", "chain.pem", "fullchain.pem"] {
        write(&live.join(file), &fixture("certs/web.pem"));
    }
    let conf = fixture("web.example.test.conf")
        .replace(
            "/etc/letsencrypt/live",
            &dir.join("letsencrypt/live").to_string_lossy(),
        )
        .replace("/var/www/html", &lab.dir.join("www").to_string_lossy());
    write(
        &dir.join("letsencrypt/renewal/web.example.test.conf"),
        &conf,
    )
}

/// The site moved: the old server (the lab's host) keeps nginx and certbot's renewal for
/// web.example.test, DNS points at a second machine with its own nginx and site.
fn renewal_on_the_old_server() -> Vec<String> {
    let mut problems = Vec::new();
    let setup = Setup {
        host_records: vec![
            format!("{WEB},{NEW_SERVER}"),
            format!("www.example.test,{NEW_SERVER}"),
        ],
        ..Setup::default()
    };
    let mut lab = Lab::start(&setup);
    let new = lab
        .add_machine("n", "203.0.113.193/26", "203.0.113.194/26")
        .unwrap();
    let new_www = lab.dir.join("new-www");
    write(&new_www.join("index.html"), "<h1>the new server</h1>\n");
    lab.start_nginx_in(
        &new,
        "new-nginx",
        &format!(
            "  server {{\n    listen 80;\n    server_name _;\n    root {};\n    location / {{ try_files $uri =404; }}\n  }}",
            new_www.display()
        ),
    )
    .unwrap();
    let conf = certbot_config(&lab);
    // The vantage: it shows the old server's own address as where its requests come from,
    // which rules out a NAT in front of it (a lab address plays "private" otherwise).
    let token = start_vantage(&mut lab);
    let empty = lab.dir.join("empty-root");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_string_lossy().into_owned();
    let host = lab.host.clone();

    // --all on the old server: the plain truth first.
    let run = lab.acme_doctor(
        &host,
        "plaintruth-old-server-all",
        &[
            "--all",
            "--json",
            "--client-root",
            &empty,
            "--client-config",
            &conf,
            "--vantage",
            VANTAGE,
            "--vantage-token-file",
            &token,
        ],
    );
    let value = run.json();
    let reports = reports_of(&value);
    for name in [WEB, "www.example.test"] {
        let Some(r) = reports.iter().find(|r| r["target"]["domain"] == name) else {
            problems.push(format!("--all: no report for {name}: {value}"));
            continue;
        };
        common::contract::parse(&r.to_string());
        let list = findings(r);
        let top = &list[0];
        if top["code"] != "not-on-host" || top["severity"] != "blocker" {
            problems.push(format!(
                "--all {name}: the top finding is not the not-on-host blocker: {:#?}",
                summary(r)
            ));
            continue;
        }
        if !top["title"].as_str().unwrap_or("").contains("wrong server") {
            problems.push(format!("--all {name}: title {}", top["title"]));
        }
        if r["verdict"] != "fail" {
            problems.push(format!("--all {name}: verdict {}", r["verdict"]));
        }
        // The token written in the old webroot is not served by the new machine: the
        // challenge finding is there, explained by the plain truth.
        let explained: Vec<&str> = list
            .iter()
            .filter(|f| f["explained_by"] == "not-on-host")
            .filter_map(|f| f["code"].as_str())
            .collect();
        if !explained.contains(&"challenge-not-served") {
            problems.push(format!(
                "--all {name}: challenge-not-served is not explained by not-on-host: {:#?}",
                summary(r)
            ));
        }
        let explains: Vec<&str> = top["explains"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !explains.contains(&"challenge-not-served") {
            problems.push(format!("--all {name}: not-on-host explains {explains:?}"));
        }
        if !top["evidence"]
            .as_array()
            .is_some_and(|e| e.iter().any(|l| l.as_str().unwrap_or("").contains(&conf)))
        {
            problems.push(format!(
                "--all {name}: the evidence does not name {conf}: {}",
                top["evidence"]
            ));
        }
    }
    if run.code != 1 {
        problems.push(format!("--all: exit {} (want 1)", run.code));
    }

    // The same name checked from here without any client that renews it: a run from a
    // workstation is normal, so not-on-host stays info.
    let plain = lab.acme_doctor(
        &host,
        "plaintruth-old-server-no-client",
        &[
            "--json",
            "--client-root",
            &empty,
            "--vantage",
            VANTAGE,
            "--vantage-token-file",
            &token,
            WEB,
        ],
    );
    let r = plain.json();
    match findings(&r).iter().find(|f| f["code"] == "not-on-host") {
        Some(f)
            if f["severity"] == "info" && f["explains"].as_array().is_some_and(Vec::is_empty) => {}
        other => problems.push(format!(
            "without a client: not-on-host should be info and explain nothing: {other:?}"
        )),
    }

    // The oracle: lego on the old server, through its webroot, asks the real CA.
    lab.start_pebble().unwrap();
    let real = lab.real_validation(WEB);
    if real.issued {
        problems.push("Pebble issued from the old server, whose token the CA cannot read".into());
    } else if !real.error.contains("404") && !real.error.contains("unauthorized") {
        problems.push(format!("Pebble refused for another reason: {}", real.error));
    }
    eprintln!(
        "renewal-on-the-old-server: --all top {:?}; Pebble: issued={} ({})",
        reports
            .iter()
            .map(|r| summary(r).first().cloned().unwrap_or_default())
            .collect::<Vec<_>>(),
        real.issued,
        real.error
    );
    problems
}

/// Starts `acme-doctor serve` in the outside namespace.
fn start_vantage(lab: &mut Lab) -> String {
    let token = write(&lab.dir.join("vantage.token"), &format!("{TOKEN}\n"));
    let outside = lab.outside.clone();
    lab.start_daemon(
        &outside,
        &[
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
        ],
        "serve.log",
        8080,
    )
    .unwrap_or_else(|e| panic!("serve did not start: {e}"));
    token
}

/// The router publishes 203.0.113.80, forwards 80 to the host and hairpins the host's own
/// request (masqueraded to 192.0.2.1); nginx denies 192.0.2.1 only.
fn hairpin_through_the_router() -> Vec<String> {
    let mut problems = Vec::new();
    let setup = Setup {
        host_records: vec![format!("{DOMAIN},{PUBLISHED}")],
        // The deny list a ban tool writes, included in the site: it holds the router's
        // inside address, where every hairpinned request comes from.
        nginx_extra: vec!["include {dir}/blocklist.conf;".into()],
        ..Setup::default()
    };
    let mut lab = Lab::start(&Setup {
        nginx: false,
        ..setup.clone()
    });
    let blocklist = write(&lab.dir.join("blocklist.conf"), "deny 192.0.2.1;\n");
    let extra: Vec<String> = setup
        .nginx_extra
        .iter()
        .map(|l| l.replace("{dir}/blocklist.conf", &blocklist))
        .collect();
    let www = lab.dir.join("www");
    let host = lab.host.clone();
    lab.start_nginx_in(
        &host,
        "nginx",
        &format!(
            "  server {{\n    listen 80;\n    listen [::]:80;\n    server_name _;\n    root {};\n    {}\n    location / {{ try_files $uri =404; }}\n  }}",
            www.display(),
            extra.join("\n    ")
        ),
    )
    .unwrap();
    let router = lab.router.clone();
    for c in [
        "ip addr add 203.0.113.80/32 dev lo",
        "iptables -t nat -A PREROUTING -d 203.0.113.80 -p tcp -m multiport --dports 80,443 -j DNAT --to-destination 192.0.2.10",
        "iptables -t nat -A POSTROUTING -s 192.0.2.10 -o ro -j SNAT --to-source 203.0.113.80",
        // The hairpin (NAT loopback): the host's own request, back to it, from the router.
        "iptables -t nat -A POSTROUTING -s 192.0.2.0/24 -d 192.0.2.10 -o rh -p tcp -m multiport --dports 80,443 -j MASQUERADE",
    ] {
        if let Err(e) = lab.ns_exec(&router, &cmd(c)) {
            problems.push(format!("router: {e}"));
        }
    }
    let token = start_vantage(&mut lab);

    // With a vantage: the self-probe's 403 is the hairpin's, and the CA's side is served.
    let with = lab.acme_doctor(
        &host,
        "plaintruth-hairpin-vantage",
        &[
            "--json",
            "--vantage",
            VANTAGE,
            "--vantage-token-file",
            &token,
            DOMAIN,
        ],
    );
    let with_report = with.json();
    common::contract::parse(&with.stdout);
    let r = &with_report;
    let hairpinned = |r: &Value| -> Option<Value> {
        findings(r)
            .iter()
            .find(|f| {
                f["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("seen through the hairpin"))
            })
            .cloned()
    };
    match hairpinned(r) {
        Some(f) => {
            if f["severity"] != "info" {
                problems.push(format!(
                    "with the vantage: the hairpin's finding is {}",
                    f["severity"]
                ));
            }
            if !f["ca_error"].is_null() {
                problems.push(format!(
                    "with the vantage: CA words on the hairpin's finding: {}",
                    f["ca_error"]
                ));
            }
        }
        None => problems.push(format!(
            "with the vantage: no finding labelled as seen through the hairpin: {:#?}",
            summary(r)
        )),
    }
    if r["verdict"] != "pass" || r["incomplete"] != false || with.code != 0 {
        problems.push(format!(
            "with the vantage: verdict {} incomplete {} exit {} (want pass, complete, 0): {:#?}",
            r["verdict"],
            r["incomplete"],
            with.code,
            summary(r)
        ));
    }
    for f in findings(r) {
        if f["ca_error"].as_str().is_some_and(|e| e.contains("403")) {
            problems.push(format!("with the vantage: the 403 worded as the CA's: {f}"));
        }
    }

    // Without a vantage: the honest symptom, labelled, and incomplete: never a pass, never
    // the CA's words.
    let without = lab.acme_doctor(&host, "plaintruth-hairpin-alone", &["--json", DOMAIN]);
    let r = without.json();
    match hairpinned(&r) {
        Some(f) => {
            if f["severity"] == "info" {
                problems.push("without a vantage: the hairpin's finding is info".into());
            }
            if !f["ca_error"].is_null() {
                problems.push(format!(
                    "without a vantage: CA words on the hairpin's finding: {}",
                    f["ca_error"]
                ));
            }
        }
        None => problems.push(format!(
            "without a vantage: no finding labelled as seen through the hairpin: {:#?}",
            summary(&r)
        )),
    }
    if r["verdict"] == "pass" || r["incomplete"] != true || without.code != 3 {
        problems.push(format!(
            "without a vantage: verdict {} incomplete {} exit {} (want at-risk, incomplete, 3): {:#?}",
            r["verdict"],
            r["incomplete"],
            without.code,
            summary(&r)
        ));
    }

    // The oracle: the real CA validates from outside, where the deny list does not apply.
    lab.start_pebble().unwrap();
    let real = lab.real_validation(DOMAIN);
    if !real.issued {
        problems.push(format!("Pebble did not issue: {}", real.error));
    }
    eprintln!(
        "hairpin-through-the-router: with vantage {} (exit {}), without {} (exit {}); Pebble issued={}",
        with_report["verdict"], with.code, r["verdict"], without.code, real.issued
    );
    problems
}

/// A scenario runs its lab and returns what went wrong.
type Scenario = fn() -> Vec<String>;

#[test]
fn lab_plaintruth_scenarios() {
    if !common::lab_available("plaintruth") {
        return;
    }
    let scenarios: [(&str, Scenario); 2] = [
        ("renewal-on-the-old-server", renewal_on_the_old_server),
        ("hairpin-through-the-router", hairpin_through_the_router),
    ];
    let results = common::run_pool(
        &scenarios,
        2,
        |(name, run)| (name.to_string(), run()),
        |(name, _), panic| (name.to_string(), vec![format!("panicked: {panic}")]),
    );
    let failed: Vec<String> = results
        .into_iter()
        .filter(|(_, problems)| !problems.is_empty())
        .map(|(name, problems)| format!("{name}:\n  {}", problems.join("\n  ")))
        .collect();
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}
