//! Loopback tier for issue 20 item 4: without `--all` and without `--method`, a name this
//! host's ACME client configuration names is checked with that configuration's method, and
//! the header says so; a name none names is checked as http-01, and a closed port says that
//! http-01 was assumed. The configurations live in a test root (the hidden `--client-root`),
//! laid out as certbot lays out its renewal files; the names resolve at an in-process DNS
//! server to 127.0.0.77, where nothing listens on port 80. No root, no traffic beyond
//! loopback; the machine's own `/etc` is never read.

// Tests panic on purpose: a broken setup should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;
use common::dns::{DnsServer, Entry, Rec};
use serde_json::Value;
use std::path::PathBuf;

const DNS01: &str = "dns.example.test";
const NONE: &str = "none.example.test";
/// certbot's renewal file of a DNS-01 lineage, as `certbot certonly --dns-cloudflare` writes
/// it (the `authenticator` line is the one that decides).
const RENEWAL: &str = "# renew_before_expiry = 30 days\nversion = 2.9.0\narchive_dir = /etc/letsencrypt/archive/dns.example.test\ncert = /etc/letsencrypt/live/dns.example.test/cert.pem\nprivkey = /etc/letsencrypt/live/dns.example.test/privkey.pem\nchain = /etc/letsencrypt/live/dns.example.test/chain.pem\nfullchain = /etc/letsencrypt/live/dns.example.test/fullchain.pem\n\n# Options used in the renewal process\n[renewalparams]\naccount = 0123456789abcdef0123456789abcdef\nauthenticator = dns-cloudflare\ndns_cloudflare_credentials = /root/.secrets/cloudflare.ini\nserver = https://acme-v02.api.letsencrypt.org/directory\nkey_type = ecdsa\n";

/// A test root, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(tag: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "acme-doctor-method-from-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("etc/letsencrypt/renewal/dns.example.test.conf");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, RENEWAL).unwrap();
        Tree(dir)
    }

    fn root(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn zone() -> DnsServer {
    let here = || Entry::Records(vec![Rec::A("127.0.0.77".parse().unwrap())]);
    DnsServer::start(vec![
        ("test", Entry::Records(vec![Rec::Soa(1)])),
        (DNS01, here()),
        (NONE, here()),
    ])
}

fn run(root: &str, resolver: &str, extra: &[&str]) -> common::Run {
    let mut args = vec![
        "--client-root",
        root,
        "--resolver",
        resolver,
        "--allow-reserved",
        "--timeout",
        "1s",
        "--no-progress",
        "--color",
        "never",
    ];
    args.extend_from_slice(extra);
    acme_doctor(&args)
}

fn result_for<'a>(batch: &'a Value, name: &str) -> &'a Value {
    batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"]["domain"] == name)
        .unwrap_or_else(|| panic!("no result for {name}: {batch:#}"))
}

fn on_port_80(result: &Value) -> Vec<String> {
    result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["port"] == 80)
        .map(|f| f["code"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The configuration names the domain with dns-01: it is diagnosed by DNS-01, so port 80,
/// refused here, is no blocker and not even looked at; the header names the file. The name
/// no configuration names is judged as http-01, and its refused port says so.
#[test]
fn a_configured_dns01_name_is_not_judged_by_port_80() {
    let t = Tree::new("json");
    let dns = zone();
    let resolver = dns.addr.to_string();
    let root = t.root();
    let out = run(&root, &resolver, &["--json", DNS01, NONE]);
    let batch: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    common::contract::parse_batch(&out.stdout);

    let configured = result_for(&batch, DNS01);
    assert_eq!(configured["target"]["method"], "dns-01", "{configured:#}");
    assert!(on_port_80(configured).is_empty(), "{configured:#}");
    let from = &configured["facts"]["targets"][0]["method_from"];
    assert_eq!(from["kind"], "config", "{from:#}");
    assert_eq!(from["config"]["client"], "certbot");
    assert_eq!(from["config"]["line"], 12);
    assert!(
        from["config"]["file"]
            .as_str()
            .unwrap()
            .ends_with("/etc/letsencrypt/renewal/dns.example.test.conf"),
        "{from:#}"
    );

    let assumed = result_for(&batch, NONE);
    assert_eq!(assumed["target"]["method"], "http-01");
    let refused = assumed["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "port-refused" && f["port"] == 80)
        .unwrap_or_else(|| panic!("no refusal on port 80: {assumed:#}"));
    assert_eq!(refused["severity"], "blocker");
    assert_eq!(refused["notes"], serde_json::json!(["method-assumed"]));
    assert!(
        refused["evidence"].as_array().unwrap().iter().any(|e| e
            == &Value::from(format!(
                "assumed http-01: no ACME client configuration on this host names {NONE}; pass --method if it is validated another way"
            ))),
        "{refused:#}"
    );

    // The human header says where the method came from.
    let human = run(&root, &resolver, &[DNS01]);
    assert!(
        human.stdout.contains(&format!(
            "method: dns-01, from certbot {root}/etc/letsencrypt/renewal/dns.example.test.conf:12"
        )),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains("port-refused"), "{}", human.stdout);
}

/// `--method` always wins; the header says the configuration uses another method. The refusal
/// then stands as the blocker it is for http-01, without the assumption.
#[test]
fn an_explicit_method_wins_over_the_configuration() {
    let t = Tree::new("given");
    let dns = zone();
    let resolver = dns.addr.to_string();
    let root = t.root();
    let out = run(&root, &resolver, &["--method", "http-01", DNS01]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "method: http-01 (--method), while certbot {root}/etc/letsencrypt/renewal/dns.example.test.conf:12 uses dns-01"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[port-refused] ipv4 :80"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("assumed http-01"), "{}", out.stdout);
}
