//! Loopback tier for `--all` and TLS-ALPN-01 certificates: a test root (the hidden
//! `--client-root`) holding Debian's Caddy layout (`/etc/caddy/Caddyfile`, the packaged
//! service's storage under `/var/lib/caddy/.local/share/caddy`) and a Traefik static
//! configuration with `tlsChallenge` whose HTTPS entry point is on 8443. The names resolve, at an
//! in-process DNS server, to 127.0.0.1, where nothing listens on 443. No root, no traffic beyond
//! loopback; the machine's own `/etc` and `/var/lib` are never read.

// Tests panic on purpose: a broken fixture should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::acme_doctor;
use common::dns::{DnsServer, Entry, Rec};
use serde_json::Value;
use std::path::PathBuf;

const CADDY: &str = "web.example.test";
const TRAEFIK: &str = "solo.example.test";

/// A test root, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(tag: &str) -> Tree {
        let dir = std::env::temp_dir().join(format!(
            "acme-doctor-clients-tlsalpn-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree(dir)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.0.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/clients/certs/{name}.pem")).unwrap()
}

/// Debian's Caddy as packaged (the Caddyfile's site, the certificate where the `caddy` user's
/// certmagic stores it for Let's Encrypt's directory), and a Traefik whose `websecure` entry point
/// listens on 8443 (as behind a `443:8443` mapping that is not there).
fn tree(tag: &str) -> Tree {
    let t = Tree::new(tag);
    t.write(
        "/etc/caddy/Caddyfile",
        &format!("{{\n\temail ops@example.test\n}}\n\n{CADDY} {{\n\troot * /usr/share/caddy\n\tfile_server\n}}\n"),
    );
    t.write(
        &format!("/var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/{CADDY}/{CADDY}.crt"),
        &pem("web"),
    );
    t.write(
        "/etc/traefik/traefik.yml",
        "entryPoints:\n  web:\n    address: \":80\"\n  websecure:\n    address: \":8443\"\n\ncertificatesResolvers:\n  myresolver:\n    acme:\n      email: ops@example.test\n      storage: /etc/traefik/acme.json\n      tlsChallenge: {}\n",
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(pem("solo"));
    t.write(
        "/etc/traefik/acme.json",
        &format!("{{\"myresolver\": {{\"Account\": null, \"Certificates\": [{{\"domain\": {{\"main\": \"{TRAEFIK}\"}}, \"certificate\": \"{b64}\", \"key\": \"\", \"Store\": \"default\"}}]}}}}"),
    );
    t
}

fn zone() -> DnsServer {
    let here = || Entry::Records(vec![Rec::A("127.0.0.1".parse().unwrap())]);
    DnsServer::start(vec![
        ("test", Entry::Records(vec![Rec::Soa(1)])),
        (CADDY, here()),
        (TRAEFIK, here()),
    ])
}

fn result_for<'a>(batch: &'a Value, name: &str) -> &'a Value {
    batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"]["domain"] == name)
        .unwrap_or_else(|| panic!("no result for {name}: {batch:#}"))
}

fn ports(result: &Value) -> Vec<u64> {
    result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["port"].as_u64())
        .collect()
}

#[test]
fn all_lists_caddys_and_traefiks_certificates_as_tls_alpn_01_and_diagnoses_them() {
    let t = tree("json");
    let dns = zone();
    let resolver = dns.addr.to_string();
    let root = t.0.to_string_lossy().into_owned();
    let run = acme_doctor(&[
        "--all",
        "--client-root",
        &root,
        "--resolver",
        &resolver,
        "--allow-reserved",
        "--timeout",
        "1s",
        "--json",
    ]);
    let batch: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));

    // The listing: Caddy's default issuer is tls-alpn-01 with http-01 as its fallback, at the
    // site address's line; Traefik's resolver is tls-alpn-01 with its entry points.
    let listed = batch["host"]["acme_clients"]["certificates"]
        .as_array()
        .unwrap();
    let caddy = listed.iter().find(|c| c["client"] == "caddy").unwrap();
    assert_eq!(caddy["name"], CADDY);
    assert_eq!(
        caddy["challenge"],
        serde_json::json!({"kind": "tls-alpn", "port": 443, "http_fallback": true})
    );
    assert_eq!(
        (caddy["key"].as_str(), caddy["line"].as_u64()),
        (Some("site address"), Some(5))
    );
    assert!(
        caddy["certificate"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{CADDY}/{CADDY}.crt"))
    );
    let traefik = listed.iter().find(|c| c["client"] == "traefik").unwrap();
    assert_eq!(traefik["challenge"]["kind"], "tls-alpn");
    assert_eq!(traefik["entry_points"].as_array().unwrap().len(), 2);

    // Each name diagnosed by TLS-ALPN-01: on port 443, never port 80.
    for name in [CADDY, TRAEFIK] {
        let r = result_for(&batch, name);
        assert_eq!(r["target"]["method"], "tls-alpn-01", "{r:#}");
        let p = ports(r);
        assert!(p.contains(&443), "{name}: {:#}", r["findings"]);
        assert!(!p.contains(&80), "{name}: {:#}", r["findings"]);
    }
    // Traefik's entry point on 8443, with nothing on 443: the finding names the file and key.
    let r = result_for(&batch, TRAEFIK);
    let f = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "tls-challenge-entrypoint")
        .unwrap_or_else(|| panic!("{:#}", r["findings"]));
    assert_eq!(f["severity"], "blocker");
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains("/etc/traefik/traefik.yml:5: entryPoints.websecure.address"),
        "{evidence}"
    );
    assert!(
        !result_for(&batch, CADDY)["findings"]
            .to_string()
            .contains("tls-challenge-entrypoint")
    );
    // A blocker stands: the CA's validation would fail.
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// Traefik alone, so the run is one name: the facts captured from it are
/// `tests/fixtures/clients-traefik-tls-challenge-8443-host.json`
/// (`ACME_DOCTOR_CAPTURE_FIXTURES=DIR`, see tests/fixtures/README.md).
#[test]
fn a_traefik_tls_challenge_on_8443_is_named_at_its_entry_point() {
    let t = tree("traefik");
    std::fs::remove_dir_all(t.0.join("etc/caddy")).unwrap();
    std::fs::remove_dir_all(t.0.join("var/lib/caddy")).unwrap();
    let dns = zone();
    let resolver = dns.addr.to_string();
    let root = t.0.to_string_lossy().into_owned();
    let capture = common::capture_args("clients-traefik-tls-challenge-8443-host");
    let mut args = vec![
        "--all",
        "--client-root",
        &root,
        "--resolver",
        &resolver,
        "--allow-reserved",
        "--timeout",
        "1s",
        "--json",
    ];
    args.extend(capture.iter().map(String::as_str));
    let run = acme_doctor(&args);
    let (_, report) = run.report();
    assert_eq!(report["target"]["domain"], TRAEFIK, "{report:#}");
    assert_eq!(report["target"]["method"], "tls-alpn-01");
    let first = &report["findings"][0];
    assert_eq!(
        (
            first["code"].as_str(),
            first["severity"].as_str(),
            first["port"].as_u64()
        ),
        (Some("tls-challenge-entrypoint"), Some("blocker"), Some(443)),
        "{:#}",
        report["findings"]
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// The human listing says how each certificate renews.
#[test]
fn the_listing_names_the_method_and_the_fallback() {
    let t = tree("human");
    let dns = zone();
    let resolver = dns.addr.to_string();
    let root = t.0.to_string_lossy().into_owned();
    let run = acme_doctor(&[
        "--all",
        "--client-root",
        &root,
        "--resolver",
        &resolver,
        "--allow-reserved",
        "--timeout",
        "1s",
        "--color",
        "never",
        "--no-progress",
    ]);
    assert!(
        run.stdout.contains("tls-alpn-01 (http-01 as fallback)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("(not checked:"), "{}", run.stdout);
}
