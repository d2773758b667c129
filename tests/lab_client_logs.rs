//! Lab tier for issue 19 item 4: real ACME clients from Debian's packages (certbot, lego,
//! dehydrated, uacme, Caddy) fail against Pebble for real, each logging where it logs on a
//! real host, and `acme-doctor --all` reads each certificate's last failure from there.
//!
//! No systemd runs here, so no journal: the clients run as their unit or cron line says, with
//! their output appended to the file that unit (`StandardOutput=append:FILE`) or cron line
//! (`>> FILE 2>&1`) names, the test itself standing in for systemd and cron (it starts the
//! command line of the unit or crontab, in the lab's host namespace, appending to that file).
//! certbot writes its own `letsencrypt.log` in the `logs-dir` its `cli.ini` sets.
//!
//! Each client first obtains its certificate (so that its configuration lists it), then
//! fails:
//! - certbot: a firewall rule in the host namespace rejects port 80 during `certbot renew`,
//!   and is removed after: the failure is history, today's host is healthy;
//! - lego, dehydrated, uacme: renewed through a challenge directory nginx does not serve (a
//!   moved site), which their unit or cron line still names: Pebble gets a 404.
//!
//! A second test removes a certbot lineage's `archive/` directory: certbot refuses the
//! lineage as broken, and acme-doctor says so (`lineage-broken`).

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::lab::{HOST_V4, HOST_V6, Lab, PEBBLE_DIR_URL, Setup};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CB: &str = "cb.example.test";
const LG: &str = "lg.example.test";
const DH: &str = "dh.example.test";
const UA: &str = "ua.example.test";
const BROKEN: &str = "broken.example.test";
const TOOLS: &[&str] = &["certbot", "dehydrated", "uacme", "unshare", "curl"];

fn setup() -> Setup {
    Setup {
        host_records: [CB, LG, DH, UA, BROKEN]
            .iter()
            .map(|n| format!("{n},{HOST_V4},{HOST_V6}"))
            .collect(),
        ..Setup::default()
    }
}

fn write(path: &Path, text: &str) -> String {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Runs `args` in the lab's host namespace with `env`, its output appended to `log` (as
/// cron's `>>` and systemd's `StandardOutput=append:` do), killed by its own pid after 120 s.
/// Whether it succeeded.
fn run_client(lab: &Lab, args: &[&str], env: &[(&str, &str)], log: &Path) -> bool {
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lab.host])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} did not finish within 120 s");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// certbot with its own `cli.ini` (Pebble, the lab's directories); the renewal file path.
struct Certbot {
    dir: PathBuf,
    cli: String,
    ca: String,
}

impl Certbot {
    fn new(lab: &Lab) -> Certbot {
        let dir = lab.dir.join("certbot");
        let config = dir.join("config");
        // `/etc/letsencrypt/cli.ini` of this lab's certbot: where acme-doctor looks for
        // `logs-dir`, beside the renewal files.
        let cli = write(
            &config.join("cli.ini"),
            &format!(
                "server = {PEBBLE_DIR_URL}\nconfig-dir = {}\nwork-dir = {}\nlogs-dir = {}\nagree-tos = True\nregister-unsafely-without-email = True\nnon-interactive = True\n",
                config.display(),
                dir.join("work").display(),
                dir.join("logs").display()
            ),
        );
        Certbot {
            dir,
            cli,
            ca: s(&lab.dir.join("ca.pem")),
        }
    }

    fn run(&self, lab: &Lab, args: &[&str], label: &str) -> bool {
        let mut all = vec!["certbot", "-c", self.cli.as_str()];
        all.extend_from_slice(args);
        run_client(
            lab,
            &all,
            &[("REQUESTS_CA_BUNDLE", self.ca.as_str())],
            &self.dir.join(format!("{label}.out")),
        )
    }

    fn obtain(&self, lab: &Lab, name: &str) {
        let www = s(&lab.dir.join("www"));
        assert!(
            self.run(
                lab,
                &["certonly", "--webroot", "-w", &www, "-d", name],
                &format!("obtain-{name}")
            ),
            "certbot could not obtain {name} from Pebble: {}",
            read(&self.dir.join(format!("obtain-{name}.out")))
        );
    }

    fn renewal(&self, name: &str) -> String {
        s(&self.dir.join(format!("config/renewal/{name}.conf")))
    }

    fn log(&self) -> String {
        read(&self.dir.join("logs/letsencrypt.log"))
    }
}

/// `acme-doctor --all` in the host namespace over the given `--client-config` files, the
/// default paths pointed at an empty directory.
fn acme_doctor_all(lab: &Lab, configs: &[String], json: bool, label: &str) -> (i32, String) {
    let empty = lab.dir.join("empty-root");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = s(&empty);
    let mut args = vec!["--all", "--client-root", empty.as_str()];
    if json {
        args.push("--json");
    }
    for c in configs {
        args.extend(["--client-config", c.as_str()]);
    }
    let run = lab.acme_doctor(&lab.host, label, &args);
    eprintln!("{label}: exit {}, stderr: {}", run.code, run.stderr);
    (run.code, run.stdout)
}

/// Each domain's report.
fn reports(stdout: &str) -> Vec<Value> {
    let value: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    match value["results"].as_array() {
        Some(r) => r.clone(),
        None => vec![value],
    }
}

fn report<'a>(reports: &'a [Value], domain: &str) -> &'a Value {
    reports
        .iter()
        .find(|r| r["target"]["domain"] == domain)
        .unwrap_or_else(|| panic!("no report for {domain}"))
}

/// The certificate's logged failure, and the evidence on its target, agree; returns the
/// failure.
fn logged<'a>(r: &'a Value, client: &str) -> &'a Value {
    let cert = &r["target"]["certificate"];
    assert_eq!(cert["client"], client, "{cert}");
    let failure = &cert["last_failure"];
    assert!(failure.is_object(), "{client}: no last_failure: {cert}");
    let ca = r["facts"]["targets"][0]["ca"]
        .as_array()
        .unwrap_or_else(|| panic!("{client}: no ca evidence: {}", r["facts"]["targets"][0]));
    let evidence = ca
        .iter()
        .find(|e| e["source"]["kind"] == "client-log")
        .unwrap_or_else(|| panic!("{client}: no client-log evidence: {ca:?}"));
    assert_eq!(evidence["source"]["client"], client);
    assert_eq!(evidence["source"]["file"], failure["file"]);
    assert_eq!(evidence["said"]["words"], failure["words"]);
    failure
}

#[test]
fn clients_log_their_failures() {
    if !common::lab_available_with("client logs: real clients against Pebble", TOOLS) {
        return;
    }
    let mut lab = Lab::start(&setup());
    lab.start_pebble().unwrap();
    let ca = s(&lab.dir.join("ca.pem"));
    let www = lab.dir.join("www");
    // A moved site's old directory: it exists, nginx does not serve it.
    let old = lab.dir.join("old-www");
    let old_challenges = old.join(".well-known/acme-challenge");
    std::fs::create_dir_all(&old_challenges).unwrap();
    let logs = lab.dir.join("logs");

    // certbot: obtained, then a renewal while port 80 is rejected.
    let certbot = Certbot::new(&lab);
    certbot.obtain(&lab, CB);
    lab.host_exec(&["nft", "add", "table", "inet", "calogs"])
        .unwrap();
    lab.host_exec(&[
        "nft",
        "add chain inet calogs input { type filter hook input priority 0; }",
    ])
    .unwrap();
    lab.host_exec(&[
        "nft",
        "add rule inet calogs input tcp dport 80 reject with tcp reset",
    ])
    .unwrap();
    let renewed = certbot.run(
        &lab,
        &[
            "renew",
            "--force-renewal",
            "--no-random-sleep-on-renew",
            "--cert-name",
            CB,
        ],
        "renew-cb",
    );
    lab.host_exec(&["nft", "delete", "table", "inet", "calogs"])
        .unwrap();
    assert!(!renewed, "certbot renewed through a rejected port 80");
    assert!(
        certbot.log().contains(&format!("Domain: {CB}")),
        "certbot logged no failure block: {}",
        certbot.log()
    );

    // lego: obtained, then renewed by a unit that still names the old webroot.
    let store = s(&lab.dir.join("lego"));
    let lego_env = [("LEGO_CA_CERTIFICATES", ca.as_str())];
    let lego_base = [
        "lego",
        "--server",
        PEBBLE_DIR_URL,
        "--accept-tos",
        "--email",
        "lab@example.test",
        "--path",
        store.as_str(),
        "--domains",
        LG,
        "--http",
        "--http.webroot",
    ];
    let mut first = lego_base.to_vec();
    let www_s = s(&www);
    first.extend([www_s.as_str(), "run"]);
    assert!(
        run_client(&lab, &first, &lego_env, &lab.dir.join("lego-obtain.out")),
        "lego could not obtain {LG}: {}",
        read(&lab.dir.join("lego-obtain.out"))
    );
    let lego_log = logs.join("lego.log");
    let old_s = s(&old);
    let mut renew = lego_base.to_vec();
    renew.extend([
        old_s.as_str(),
        "renew",
        "--days",
        "9999",
        "--no-random-sleep",
    ]);
    let lego_unit = write(
        &lab.dir.join("units/lego-renew.service"),
        &format!(
            "[Unit]\nDescription=Renew certificates with lego\n\n[Service]\nType=oneshot\nEnvironment=LEGO_CA_CERTIFICATES={ca}\nStandardOutput=append:{}\nStandardError=append:{}\nExecStart=/usr/bin/{}\n",
            lego_log.display(),
            lego_log.display(),
            renew.join(" ")
        ),
    );
    assert!(
        !run_client(&lab, &renew, &lego_env, &lego_log),
        "lego renewed through a webroot nginx does not serve"
    );

    // dehydrated: its cron line appends to a log; its WELLKNOWN is the old site's.
    let dh = lab.dir.join("dehydrated");
    let dh_config = write(
        &dh.join("config"),
        &format!(
            "CA=\"{PEBBLE_DIR_URL}\"\nBASEDIR=\"{}\"\nWELLKNOWN=\"{}\"\nDOMAINS_TXT=\"${{BASEDIR}}/domains.txt\"\nCHALLENGETYPE=\"http-01\"\n",
            dh.display(),
            old_challenges.display()
        ),
    );
    write(&dh.join("domains.txt"), &format!("{DH}\n"));
    let dh_log = logs.join("dehydrated.log");
    let dh_cron = write(
        &lab.dir.join("cron.d/dehydrated"),
        &format!(
            "# m h dom mon dow user command\n17 3 * * * root /usr/bin/dehydrated -c -f {dh_config} >> {} 2>&1\n",
            dh_log.display()
        ),
    );
    let curl_env = [("CURL_CA_BUNDLE", ca.as_str())];
    assert!(
        run_client(
            &lab,
            &[
                "dehydrated",
                "-f",
                &dh_config,
                "--register",
                "--accept-terms"
            ],
            &curl_env,
            &lab.dir.join("dehydrated-register.out"),
        ),
        "dehydrated could not register: {}",
        read(&lab.dir.join("dehydrated-register.out"))
    );
    assert!(
        !run_client(
            &lab,
            &["dehydrated", "-c", "-f", &dh_config],
            &curl_env,
            &dh_log
        ),
        "dehydrated obtained a certificate through a directory nginx does not serve"
    );

    // uacme: obtained with the packaged hook, then forced to renew by a unit whose
    // UACME_CHALLENGE_PATH is the old site's. uacme reads the system's CA bundle: Pebble's
    // CA is bound over it in a mount namespace of the command's own.
    let ua = s(&lab.dir.join("uacme"));
    let with_ca = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/ssl/certs/ca-certificates.crt && exec \"$@\"",
            ca.as_str(),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        all.extend(args.iter().map(|a| a.to_string()));
        all
    };
    let new = with_ca(&["uacme", "-v", "-c", &ua, "-y", "-a", PEBBLE_DIR_URL, "new"]);
    assert!(
        run_client(&lab, &as_refs(&new), &[], &lab.dir.join("uacme-new.out")),
        "uacme could not create its account: {}",
        read(&lab.dir.join("uacme-new.out"))
    );
    let issue_args = [
        "uacme",
        "-v",
        "-c",
        &ua,
        "-a",
        PEBBLE_DIR_URL,
        "-h",
        "/usr/share/uacme/uacme.sh",
        "-f",
        "issue",
        UA,
    ];
    let good_path = s(&www.join(".well-known/acme-challenge"));
    assert!(
        run_client(
            &lab,
            &as_refs(&with_ca(&issue_args)),
            &[("UACME_CHALLENGE_PATH", good_path.as_str())],
            &lab.dir.join("uacme-obtain.out"),
        ),
        "uacme could not obtain {UA}: {}",
        read(&lab.dir.join("uacme-obtain.out"))
    );
    let ua_log = logs.join("uacme.log");
    let old_path = s(&old_challenges);
    let ua_unit = write(
        &lab.dir.join("units/uacme-renew.service"),
        &format!(
            "[Service]\nType=oneshot\nEnvironment=UACME_CHALLENGE_PATH={old_path}\nStandardOutput=append:{}\nStandardError=append:{}\nExecStart=/usr/bin/{}\n",
            ua_log.display(),
            ua_log.display(),
            issue_args.join(" ")
        ),
    );
    assert!(
        !run_client(
            &lab,
            &as_refs(&with_ca(&issue_args)),
            &[("UACME_CHALLENGE_PATH", old_path.as_str())],
            &ua_log,
        ),
        "uacme renewed through a directory nginx does not serve"
    );

    let configs = vec![certbot.renewal(CB), lego_unit, dh_cron, ua_unit];
    let (_, stdout) = acme_doctor_all(&lab, &configs, true, "client-logs-all-host");
    let all = reports(&stdout);

    let cb = logged(report(&all, CB), "certbot");
    assert!(
        cb["file"]
            .as_str()
            .unwrap()
            .ends_with("certbot/logs/letsencrypt.log"),
        "{cb}"
    );
    let words = cb["words"].as_str().unwrap();
    assert!(
        words.starts_with(&format!("Domain: {CB}\nType:")) && words.contains("Detail: "),
        "{words}"
    );
    assert!(cb["at"]["utc"].is_string() && cb["line"].is_u64(), "{cb}");

    let lg = logged(report(&all, LG), "lego");
    assert_eq!(lg["file"], s(&lego_log));
    let words = lg["words"].as_str().unwrap();
    assert!(
        words.starts_with(&format!("[{LG}] acme: error: "))
            && words.contains("urn:ietf:params:acme:error:"),
        "{words}"
    );
    assert!(lg["at"]["utc"].is_string(), "lego's lines are dated: {lg}");

    for (name, client, log) in [(DH, "dehydrated", &dh_log), (UA, "uacme", &ua_log)] {
        let f = logged(report(&all, name), client);
        assert_eq!(f["file"], s(log));
        let problem: Value = serde_json::from_str(f["words"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{client}: not the problem document ({e}): {f}"));
        assert!(
            problem["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:ietf:params:acme:error:")),
            "{client}: {problem}"
        );
        assert!(f["line"].is_u64(), "{client}: {f}");
    }

    // The listing, for a person.
    let (_, text) = acme_doctor_all(&lab, &configs, false, "client-logs-listing");
    let listed = text.matches("last failure: ").count();
    assert_eq!(listed, 4, "{text}");
    assert!(
        text.contains(", the CA said: Domain: cb.example.test Type:"),
        "{text}"
    );
    assert!(text.contains(&format!("({}:", s(&dh_log))), "{text}");
}

/// certbot obtains a certificate, its `archive/` directory is removed (a backup restored
/// without it): certbot refuses the lineage as broken, and acme-doctor names it.
#[test]
fn certbot_lineage_broken() {
    if !common::lab_available_with("client logs: broken certbot lineage", TOOLS) {
        return;
    }
    let mut lab = Lab::start(&setup());
    lab.start_pebble().unwrap();
    let certbot = Certbot::new(&lab);
    certbot.obtain(&lab, BROKEN);
    std::fs::remove_dir_all(certbot.dir.join("config/archive").join(BROKEN)).unwrap();
    let renewed = certbot.run(
        &lab,
        &["renew", "--no-random-sleep-on-renew"],
        "renew-broken",
    );
    assert!(!renewed, "certbot renewed a lineage without its files");
    assert!(
        certbot
            .log()
            .contains(&format!("renewal/{BROKEN}.conf is broken")),
        "certbot did not call it broken: {}",
        certbot.log()
    );
    let (_, stdout) = acme_doctor_all(
        &lab,
        &[certbot.renewal(BROKEN)],
        true,
        "client-logs-lineage-broken-host",
    );
    let all = reports(&stdout);
    let r = report(&all, BROKEN);
    let missing = r["target"]["certificate"]["missing_files"].to_string();
    for key in ["cert ", "privkey ", "chain ", "fullchain "] {
        assert!(missing.contains(key), "{key}: {missing}");
    }
    let finding = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "lineage-broken")
        .unwrap_or_else(|| panic!("lineage-broken: {}", r["findings"]));
    assert_eq!(finding["severity"], "warning");
    assert!(finding["evidence"].to_string().contains("missing: cert "));
}

/// The facts `clients_log_their_failures` captured (tests/fixtures/client-logs/all-host.json),
/// read again: each target carries its client's logged failure as `client-log` evidence, and
/// today's diagnosis is what the lab left: certbot's host healthy again (its failure is
/// history that nothing today explains: a warning), the three others still serving the
/// challenge from the wrong directory, which explains what they logged.
#[test]
fn saved_logged_failures_reach_each_target() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/client-logs/all-host.json"
    );
    let run = common::acme_doctor(&["--from-facts", path, "--json"]);
    let all = reports(&run.stdout);
    assert_eq!(all.len(), 4, "{}", run.stdout);
    for (name, client) in [
        (CB, "certbot"),
        (LG, "lego"),
        (DH, "dehydrated"),
        (UA, "uacme"),
    ] {
        let r = report(&all, name);
        logged(r, client);
        if name == CB {
            // The host serves again, so nothing today explains certbot's failure: a warning
            // that says so (fixed since, transient, or seen only by the CA), never a pass
            // that hides it.
            assert_eq!(r["verdict"], "at-risk", "{name}: {}", r["findings"]);
            let top = &r["findings"][0];
            assert_eq!(top["code"], "ca-logged-failure", "{name}");
            assert_eq!(top["severity"], "warning", "{name}");
            assert!(top["explained_by"].is_null(), "{name}: {top}");
        } else {
            assert_eq!(r["verdict"], "fail", "{name}: {}", r["findings"]);
            assert_eq!(r["findings"][0]["code"], "webroot-mismatch", "{name}");
            // Today's wrong webroot explains what the client logged.
            let logged = r["findings"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["code"] == "ca-logged-failure"))
                .unwrap_or_else(|| panic!("{name}: no ca-logged-failure: {}", r["findings"]));
            assert_eq!(
                logged["explained_by"], "webroot-mismatch",
                "{name}: {logged}"
            );
            assert_eq!(logged["severity"], "info", "{name}");
        }
    }
}

/// Caddy (Debian's) asks Pebble for its certificate while port 443 is rejected: it logs the
/// failure, as JSON lines, to the file its Caddyfile's global `log` block names, and `--all`
/// (its Caddyfile under the client root) reads it there. Caddy writes to that path inside a
/// mount namespace of its own whose `/var/log` is the client root's, so that the path the
/// Caddyfile names is the one acme-doctor reads under `--client-root`.
#[test]
fn caddy_logs_its_failure() {
    const CD: &str = "cd.example.test";
    if !common::lab_available_with("client logs: Caddy against Pebble", &["caddy", "unshare"]) {
        return;
    }
    let mut lab = Lab::start(&Setup {
        host_records: vec![format!("{CD},{HOST_V4},{HOST_V6}")],
        nginx: false,
        ..Setup::default()
    });
    lab.start_pebble().unwrap();
    lab.host_exec(&["nft", "add", "table", "inet", "calogs"])
        .unwrap();
    lab.host_exec(&[
        "nft",
        "add chain inet calogs input { type filter hook input priority 0; }",
    ])
    .unwrap();
    lab.host_exec(&[
        "nft",
        "add rule inet calogs input tcp dport 443 reject with tcp reset",
    ])
    .unwrap();
    let root = lab.dir.join("root");
    let log_dir = root.join("var/log");
    std::fs::create_dir_all(log_dir.join("caddy")).unwrap();
    let home = root.join("var/lib/caddy");
    std::fs::create_dir_all(&home).unwrap();
    let caddyfile = write(
        &root.join("etc/caddy/Caddyfile"),
        &format!(
            "{{\n\tadmin off\n\tskip_install_trust\n\temail lab@example.test\n\tlog {{\n\t\toutput file /var/log/caddy/caddy.log\n\t}}\n}}\n\n{CD} {{\n\ttls {{\n\t\tissuer acme {{\n\t\t\tdir {PEBBLE_DIR_URL}\n\t\t\ttrusted_roots {}\n\t\t\tdisable_http_challenge\n\t\t}}\n\t}}\n\trespond \"caddy in the lab\"\n}}\n",
            lab.dir.join("ca.pem").display()
        ),
    );
    let home_s = s(&home);
    let data = s(&home.join(".local/share"));
    let config = s(&home.join(".config"));
    let log_dir_s = s(&log_dir);
    lab.spawn_in_host(
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$0\" /var/log && exec \"$@\"",
            &log_dir_s,
            "caddy",
            "run",
            "--config",
            &caddyfile,
            "--adapter",
            "caddyfile",
        ],
        &[
            ("HOME", &home_s),
            ("XDG_DATA_HOME", &data),
            ("XDG_CONFIG_HOME", &config),
        ],
        "caddy-stderr.log",
    )
    .unwrap();
    let log = log_dir.join("caddy/caddy.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !read(&log).contains("could not get certificate from issuer") {
        assert!(
            Instant::now() < deadline,
            "Caddy logged no failure within 60 s: {}\n{}",
            read(&log),
            lab.log("caddy-stderr.log")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let root_s = s(&root);
    let run = lab.acme_doctor(
        &lab.host,
        "client-logs-caddy",
        &["--all", "--json", "--client-root", &root_s],
    );
    let all = reports(&run.stdout);
    let f = logged(report(&all, CD), "caddy");
    assert_eq!(f["file"], s(&log));
    let line: Value = serde_json::from_str(f["words"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("not Caddy's JSON line ({e}): {f}"));
    assert_eq!(line["identifier"], CD);
    assert_eq!(line["level"], "error");
    assert!(f["at"]["utc"].is_string(), "Caddy's ts: {f}");
}
