//! Lab tier for `--all` (every certificate the clients renew) and the standalone client's mode
//! (it listens on port 80 only while it runs):
//! a lab host whose certbot-, acme.sh- and lego-format configurations are written by the test
//! into the lab's own directory and handed over with `--client-config` (the machine's real
//! `/etc/letsencrypt` is never touched: `--client-root` points the default paths at an empty
//! directory). acme-doctor runs inside the host namespace, with real nginx on port 80 and the
//! lab's DNS.
//!
//! The configurations follow what the clients write (see `src/probe/clients/*.rs` for the
//! sources): a certbot webroot lineage whose webroot is nginx's root, an acme.sh webroot conf
//! whose `Le_Webroot` is a directory nginx does not serve (the wrong webroot), and a lego
//! standalone renewal (`--http`, no webroot) run from a systemd unit.
//!
//! The wrong webroot is found by the real token round trip (`cli::app::tokens_for_targets`
//! writes one token per client webroot), and the finding names the file and key.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{HOST_V4, HOST_V6, Lab, Setup};
use serde_json::Value;
use std::path::Path;

const WEB: &str = "web.example.test";
const WRONG: &str = "wrong.example.test";
const SOLO: &str = "solo.example.test";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/clients/{name}")).unwrap()
}

fn write(path: &Path, text: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn setup(nginx: bool) -> Setup {
    Setup {
        host_records: [WEB, "www.example.test", WRONG, SOLO]
            .iter()
            .map(|n| format!("{n},{HOST_V4},{HOST_V6}"))
            .collect(),
        nginx,
        ..Setup::default()
    }
}

/// The three clients' files in the lab's directory; returns the `--client-config` paths.
fn write_configs(lab: &Lab) -> Vec<String> {
    let dir = lab.dir.join("clients");
    let www = lab.dir.join("www");
    // certbot, webroot: nginx's own root, as `certbot certonly --webroot -w <root>` writes it.
    let live = dir.join("letsencrypt/live").join(WEB);
    write(&live.join("cert.pem"), &fixture("certs/web.pem"));
    // The lineage's other files: certbot skips a lineage whose files are gone
    // (`lineage-broken`).
    for other in ["privkey.pem", "chain.pem", "fullchain.pem"] {
        write(&live.join(other), &fixture("certs/web.pem"));
    }
    let certbot = fixture("web.example.test.conf")
        .replace(
            "/etc/letsencrypt/live",
            &dir.join("letsencrypt/live").to_string_lossy(),
        )
        .replace("/var/www/html", &www.to_string_lossy());
    let certbot = write(
        &dir.join("letsencrypt/renewal/web.example.test.conf"),
        &certbot,
    );
    // acme.sh, webroot: a directory nginx does not serve.
    // The old site's directory still exists (a moved site), but nginx serves another.
    std::fs::create_dir_all(lab.dir.join("old-www")).unwrap();
    let acme_dir = dir.join("acme.sh").join(format!("{WRONG}_ecc"));
    write(
        &acme_dir.join(format!("{WRONG}.cer")),
        &fixture("certs/wrong.pem"),
    );
    let acmesh = write(
        &acme_dir.join(format!("{WRONG}.conf")),
        &format!(
            "Le_Domain='{WRONG}'\nLe_Alt='no'\nLe_Webroot='{}'\nLe_PreHook=''\nLe_API='https://acme-v02.api.letsencrypt.org/directory'\nLe_Keylength='ec-256'\nLe_NextRenewTime='1797163200'\n",
            lab.dir.join("old-www").display()
        ),
    );
    // lego, standalone (`--http` without `--http.webroot`), renewed by a systemd unit.
    let store = dir.join("lego");
    write(
        &store.join(format!("certificates/{SOLO}.crt")),
        &fixture("certs/solo.pem"),
    );
    write(
        &store.join(format!("certificates/{SOLO}.json")),
        &format!(
            "{{\n\t\"domain\": \"{SOLO}\",\n\t\"certUrl\": \"https://acme-v02.api.letsencrypt.org/acme/cert/04cd\",\n\t\"certStableUrl\": \"https://acme-v02.api.letsencrypt.org/acme/cert/04cd\"\n}}"
        ),
    );
    let unit = write(
        &dir.join("lego-renew.service"),
        &format!(
            "[Unit]\nDescription=Renew certificates with lego\n\n[Service]\nType=oneshot\nExecStart=/usr/bin/lego --accept-tos --email ops@example.test --path {} --domains {SOLO} --http renew --days 30\n",
            store.display()
        ),
    );
    vec![certbot, acmesh, unit]
}

fn run_all(lab: &Lab, configs: &[String], label: &str) -> (i32, Vec<Value>) {
    let empty = lab.dir.join("empty-root");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_string_lossy().into_owned();
    let mut args = vec!["--all", "--json", "--client-root", empty.as_str()];
    for c in configs {
        args.extend(["--client-config", c.as_str()]);
    }
    let run = lab.acme_doctor(&lab.host, label, &args);
    let value = run.json();
    eprintln!("{label}: exit {}, stderr: {}", run.code, run.stderr);
    (run.code, reports_of(&value))
}

/// Each domain's object with the run's host snapshot put back beside its facts, as a
/// one-domain output carries it (several domains print it once, at the top).
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

fn report<'a>(reports: &'a [Value], domain: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["target"]["domain"] == domain)
        .unwrap_or_else(|| panic!("no report for {domain}"))
}

fn codes(r: &Value) -> Vec<(String, String)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// nginx holds port 80; the lego certificate renews standalone on port 80: its renewal
/// cannot bind the port (`standalone-port-busy`, naming the unit file and line). The two
/// webroot certificates are listed with their own webroots and keys.
#[test]
fn standalone_port_busy() {
    if !common::lab_available("clients: --all") {
        return;
    }
    let lab = Lab::start(&setup(true));
    let configs = write_configs(&lab);
    let (code, reports) = run_all(&lab, &configs, "clients-all");
    assert_eq!(reports.len(), 4, "web, www, wrong, solo: {reports:#?}");
    for r in &reports {
        common::contract::parse(&r.to_string());
        assert_eq!(r["target"]["method"], "http-01");
        let listed = r["host"]["acme_clients"]["certificates"]
            .as_array()
            .unwrap();
        let clients: Vec<&str> = listed
            .iter()
            .map(|c| c["client"].as_str().unwrap())
            .collect();
        assert_eq!(clients, ["certbot", "acme.sh", "lego"]);
    }
    let web = report(&reports, WEB);
    // certbot renews each name with its `[[webroot_map]]` entry: that is the key to change.
    assert_eq!(
        web["target"]["certificate"]["key"],
        "[[webroot_map]] web.example.test"
    );
    assert_eq!(web["target"]["certificate"]["line"], 17);
    assert_eq!(
        web["target"]["certificate"]["challenge"]["path"],
        lab.dir.join("www").to_string_lossy().as_ref()
    );
    assert_eq!(web["verdict"], "pass", "{:?}", codes(web));
    let www = report(&reports, "www.example.test");
    assert_eq!(
        www["target"]["certificate"]["key"],
        "[[webroot_map]] www.example.test"
    );

    let wrong = report(&reports, WRONG);
    assert_eq!(wrong["target"]["certificate"]["client"], "acme.sh");
    assert_eq!(wrong["target"]["certificate"]["key"], "Le_Webroot");
    assert!(
        wrong["target"]["certificate"]["challenge"]["path"]
            .as_str()
            .unwrap()
            .ends_with("/old-www")
    );
    assert_eq!(
        wrong["target"]["certificate"]["next_try"]["at"]["utc"],
        "2026-12-13T12:00:00Z"
    );
    // The real token round trip, per certificate, with no flag: a token written in each
    // client's webroot. nginx serves certbot's, so web passes on the real token; acme.sh's is
    // not what nginx serves, so wrong fails on the challenge path, naming Le_Webroot.
    for (r, name) in [(web, WEB), (wrong, WRONG)] {
        let token = &r["facts"]["targets"][0]["method"]["http-01"]["token"];
        assert_eq!(token["source"], "webroot", "{name}: no real token: {token}");
    }
    assert_eq!(wrong["verdict"], "fail", "{:?}", codes(wrong));
    let top = &wrong["findings"][0];
    assert!(
        ["webroot-mismatch", "challenge-not-served"].contains(&top["code"].as_str().unwrap()),
        "{:?}",
        codes(wrong)
    );
    assert!(
        wrong.to_string().contains("Le_Webroot"),
        "the fix names the key to change: {top}"
    );
    // Nothing is left in either webroot.
    for dir in ["www", "old-www"] {
        let challenge = lab.dir.join(dir).join(".well-known/acme-challenge");
        let left: Vec<_> = std::fs::read_dir(&challenge)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{dir}: {left:?} left behind");
    }

    let solo = report(&reports, SOLO);
    assert_eq!(solo["target"]["certificate"]["client"], "lego");
    assert_eq!(
        solo["target"]["certificate"]["challenge"]["kind"],
        "standalone"
    );
    let busy = solo["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "standalone-port-busy")
        .unwrap_or_else(|| panic!("standalone-port-busy: {:?}", codes(solo)));
    assert_eq!(busy["severity"], "blocker");
    let evidence = busy["evidence"].to_string();
    assert!(
        evidence.contains("lego-renew.service:6: `--http`"),
        "{evidence}"
    );
    assert!(evidence.contains("nginx"), "{evidence}");
    assert_eq!(solo["verdict"], "fail");
    assert_eq!(code, 1);

    // The lego certificate alone: the busy port is its top finding (fixture
    // `clients-standalone-busy-host`).
    let (code, reports) = run_all(&lab, &configs[2..], "clients-standalone-busy-host");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["findings"][0]["code"], "standalone-port-busy");
    assert_eq!(code, 1);
}

/// Nothing listens on port 80 and lego renews standalone: `no-listener` is information that
/// names the unit, the refused connects are expected, and the name passes: the client binds
/// the port itself when it runs.
#[test]
fn standalone_between_runs() {
    if !common::lab_available("clients: standalone between runs") {
        return;
    }
    let lab = Lab::start(&setup(false));
    let configs = write_configs(&lab);
    let (code, reports) = run_all(&lab, &configs[2..], "clients-standalone-between-runs-host");
    assert_eq!(reports.len(), 1);
    let solo = report(&reports, SOLO);
    let found = codes(solo);
    assert!(
        found.contains(&("no-listener".to_string(), "info".to_string())),
        "{found:?}"
    );
    assert!(found.iter().all(|(_, s)| s == "info"), "{found:?}");
    let info = solo["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "no-listener")
        .unwrap();
    assert!(
        info["title"]
            .as_str()
            .unwrap()
            .contains("lego answers the challenge itself")
    );
    assert!(
        info["evidence"]
            .to_string()
            .contains("lego-renew.service:6")
    );
    assert_eq!(solo["verdict"], "pass");
    // Pass, but seen from this host only (no vantage, so what stands between the CA and the
    // host was not seen): incomplete, exit 3.
    assert_eq!(solo["incomplete"], true);
    assert_eq!(code, 3);
}
