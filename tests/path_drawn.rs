//! The CA's path, drawn (issue 21 item 3): one line per family in the human output, in Unicode
//! or plain ASCII as the environment asks, and a Mermaid flowchart in `--report` that the real
//! Mermaid parser (tests/mermaid/, the `mermaid` npm package under node) accepts for every
//! fixture, hostile names and server text included.

// Tests panic on purpose: a broken fixture or tool should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

/// The human output of a fixture under the given environment (locale and `NO_COLOR` cleared
/// first, so the machine's own do not leak in).
fn human(name: &str, env: &[(&str, &str)]) -> String {
    human_of(Path::new(&fixture(name)), env)
}

fn human_of(file: &Path, env: &[(&str, &str)]) -> String {
    let name = file.display();
    let mut cmd = Command::new(common::BIN);
    cmd.arg("--from-facts").arg(file);
    for var in ["NO_COLOR", "LC_ALL", "LC_CTYPE", "LANG"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let run: common::Run = cmd.output().expect("run acme-doctor").into();
    assert_ne!(run.code, 2, "{name}: {}", run.stderr);
    run.stdout
}

/// The lines that draw a path: `  IPv6  …`, `  IPv4  …`, `  DNS-01  …`.
fn path_lines(out: &str) -> Vec<&str> {
    out.lines()
        .filter(|l| {
            ["  IPv6  ", "  IPv4  ", "  DNS-01  "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect()
}

const UTF8: &[(&str, &str)] = &[("LANG", "C.UTF-8")];

#[test]
fn a_host_firewall_drop_fails_the_connect_the_self_probe_made_through_lo() {
    let out = human("fw-ip6tables-drop-host", UTF8);
    let lines = path_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    // IPv6 first, as the CA dials; the finding that explains the failed hop in brackets.
    assert!(
        lines[0].starts_with(
            "  IPv6  DNS ✔ AAAA 2001:db8:2::10 → connect :80 ✘ → (firewall-drops: the firewall drops new IPv6 connections to port 80"
        ),
        "{out}"
    );
    // The path stops where the CA stops: no HTTP hop after the dropped connect.
    assert!(!lines[0].contains("HTTP"), "{out}");
    assert_eq!(
        lines[1],
        "  IPv4  DNS ✔ A 192.0.2.10 → connect :80 ✔ via lo → HTTP 404 ✔"
    );
}

#[test]
fn a_redirect_to_a_dead_https_port_is_drawn_hop_by_hop() {
    // The Location is cut at 48 characters.
    let out = human("derived-https-redirect-443-dead", UTF8);
    let lines = path_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    for (line, family) in lines.iter().zip(["AAAA 2001:db8:2::10", "A 192.0.2.10"]) {
        assert!(
            line.contains(&format!(
                "DNS ✔ {family} → connect :80 ✔ → HTTP 301 ✔ to https://example.test/.well-known/acme-challenge… → connect :443 ✘ timeout → (port-timeout: "
            )),
            "{out}"
        );
    }
}

#[test]
fn the_cas_own_walk_shows_its_redirects_folded_and_the_one_it_refuses() {
    let out = human("http01-twelve-redirects-host", UTF8);
    let v6 = path_lines(&out)[0];
    assert!(v6.contains("HTTP 301 ✔ to http://example.test/r1"), "{v6}");
    assert!(v6.contains("8 more redirects ✔"), "{v6}");
    assert!(v6.contains("HTTP 302 ✔ to http://example.test/r12"), "{v6}");
    assert!(
        v6.contains("redirect ✘ refused: too many redirects → (bad-redirect: "),
        "{v6}"
    );
}

#[test]
fn dns01_draws_the_txt_lookup_and_tls_alpn01_the_handshake() {
    let out = human("dns-txt-wrong", UTF8);
    assert_eq!(
        path_lines(&out),
        [
            "  DNS-01  TXT _acme-challenge.example.test ✘ \"stale-value\" → (txt-wrong: _acme-challenge.example.test holds TXT \"stale-value\", not the expected …)"
        ],
        "{out}"
    );
    let out = human("derived-tlsalpn-nginx-holds-443-host", UTF8);
    let lines = path_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        assert!(
            line.contains(
                "→ connect :443 ✔ via lo → handshake ✘ alert: no application protocol → (tls-alpn-not-negotiated: "
            ),
            "{out}"
        );
    }
}

#[test]
fn a_wrong_txt_behind_a_cname_fails_the_txt_not_the_cname() {
    // acme-dns style: the challenge name delegated by CNAME, the record at the end wrong.
    let mut facts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("dns-txt-wrong")).unwrap()).unwrap();
    facts["targets"][0]["method"]["dns-01"]["txt"]["cname_chain"] = serde_json::json!([
        {"name": "_acme-challenge.example.test", "target": "d420c923.auth.acme-dns.test"}
    ]);
    let tmp = std::env::temp_dir().join(format!("acme-doctor-cname-{}.json", std::process::id()));
    std::fs::write(&tmp, facts.to_string()).unwrap();
    let out = human_of(&tmp, UTF8);
    assert_eq!(
        path_lines(&out),
        [
            "  DNS-01  CNAME _acme-challenge.example.test ✔ to d420c923.auth.acme-dns.test → TXT _acme-challenge.example.test ✘ \"stale-value\" → (txt-wrong: _acme-challenge.example.test holds TXT \"stale-value\", not the expected …)"
        ],
        "{out}"
    );
    // A long chain keeps three CNAMEs and folds the rest.
    let chain: Vec<serde_json::Value> = (0..7)
        .map(|i| serde_json::json!({"name": format!("c{i}.example.test"), "target": format!("c{}.example.test", i + 1)}))
        .collect();
    facts["targets"][0]["method"]["dns-01"]["txt"]["cname_chain"] = chain.into();
    std::fs::write(&tmp, facts.to_string()).unwrap();
    let out = human_of(&tmp, UTF8);
    let _ = std::fs::remove_file(&tmp);
    assert!(
        path_lines(&out)[0].starts_with(
            "  DNS-01  CNAME c0.example.test ✔ to c1.example.test → CNAME c1.example.test ✔ to c2.example.test → CNAME c2.example.test ✔ to c3.example.test → 4 more CNAMEs ✔ → TXT _acme-challenge.example.test ✘"
        ),
        "{out}"
    );
}

#[test]
fn a_hop_this_machine_could_not_test_is_unknown_not_failed() {
    // A laptop without IPv6: the CA's IPv6 path was not tested, which is no failure of it.
    let out = human("derived-laptop-without-ipv6", UTF8);
    assert!(
        path_lines(&out)[0].contains(
            "connect :80 ? network unreachable → (address-unreachable: this machine has no IPv6"
        ),
        "{out}"
    );
}

#[test]
fn a_name_without_any_address_fails_both_families_and_a_missing_aaaa_alone_does_not() {
    let out = human("loopback-nodata.test", UTF8);
    assert_eq!(
        path_lines(&out),
        [
            "  IPv6  DNS ✘ no AAAA record → (no-address-records: nodata.test exists but has no A and no AAAA record)",
            "  IPv4  DNS ✘ no A record → (no-address-records: nodata.test exists but has no A and no AAAA record)",
        ],
        "{out}"
    );
    // With an A record, no AAAA is simply not the CA's way in.
    let out = human("fw-nft-reject-v4-outside", UTF8);
    assert_eq!(
        path_lines(&out),
        [
            "  IPv6  DNS – no AAAA record",
            "  IPv4  DNS ✔ A 192.0.2.10 → connect :80 ✘ refused → (port-refused: A 192.0.2.10 refuses connections on port 80)",
        ],
        "{out}"
    );
}

#[test]
fn plain_ascii_under_no_color_or_a_locale_without_utf8() {
    let expected = "  IPv6  DNS OK AAAA 2001:db8:2::10 -> connect :80 X -> (firewall-drops: ";
    let cases: &[&[(&str, &str)]] = &[
        &[("LANG", "C.UTF-8"), ("NO_COLOR", "1")],
        &[("LANG", "C")],
        &[],
        &[("LANG", "en_US.ISO-8859-1")],
        // LC_ALL wins over LANG, as POSIX reads the locale.
        &[("LANG", "en_US.UTF-8"), ("LC_ALL", "POSIX")],
        &[("LC_CTYPE", "de_DE.ISO-8859-15"), ("LANG", "de_DE.UTF-8")],
    ];
    for env in cases {
        let out = human("fw-ip6tables-drop-host", env);
        let lines = path_lines(&out);
        assert!(lines[0].starts_with(expected), "{env:?}: {out}");
        for line in lines {
            assert!(line.is_ascii(), "{env:?}: {line}");
        }
    }
    // Unicode whenever the locale says UTF-8 and NO_COLOR is not set (an empty NO_COLOR is
    // not set, per no-color.org).
    for env in [
        &[("LC_ALL", "en_GB.utf8")][..],
        &[("LC_CTYPE", "C.UTF-8"), ("LANG", "C")],
        &[("LANG", "C.UTF-8"), ("NO_COLOR", "")],
    ] {
        let out = human("fw-ip6tables-drop-host", env);
        assert!(
            path_lines(&out)[0].starts_with("  IPv6  DNS ✔ "),
            "{env:?}: {out}"
        );
    }
}

/// The ```` ```mermaid ```` blocks of a report.
fn mermaid_blocks(report: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in report.lines() {
        match (&mut current, line) {
            (None, "```mermaid") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed mermaid block:\n{report}");
    blocks
}

fn report_of(path: &Path) -> String {
    let run = common::acme_doctor(&["--report", "--from-facts", path.to_str().unwrap()]);
    assert_ne!(run.code, 2, "{}: {}", path.display(), run.stderr);
    assert!(!run.stdout.contains('\x1b'), "{}", path.display());
    run.stdout
}

/// Where the parser lives, when it can run here: node and `npm ci` in tests/mermaid. Under
/// CI=true a missing parser fails the test; elsewhere the skip is said aloud.
fn parser() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mermaid");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = dir.join("node_modules/mermaid/package.json").is_file()
        && dir.join("node_modules/jsdom/package.json").is_file();
    if node && installed {
        return Some(dir.join("check.mjs"));
    }
    let why = format!(
        "the Mermaid parser is not installed (node found: {node}; run `npm ci` in {})",
        dir.display()
    );
    assert!(!common::in_ci(), "CI=true: {why}");
    common::announce_skip("Mermaid parser tests", &why);
    None
}

/// Feeds `(name, diagram)` pairs to the parser; returns its verdict line per diagram.
fn parse_all(script: &Path, diagrams: &[(String, String)]) -> Vec<String> {
    let input = serde_json::Value::Array(
        diagrams
            .iter()
            .map(|(name, text)| serde_json::json!({"name": name, "text": text}))
            .collect(),
    );
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("wait for node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert_eq!(
        lines.len(),
        diagrams.len(),
        "one verdict per diagram; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

#[test]
fn the_mermaid_parser_accepts_the_report_of_every_fixture() {
    let Some(script) = parser() else {
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() > 100, "{} fixtures", files.len());
    let mut diagrams = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let blocks = mermaid_blocks(&report_of(file));
        // Every name has a path to draw but a wildcard by HTTP-01, which asks no DNS.
        if name == "wildcard.json" {
            assert!(blocks.is_empty(), "{name}");
        } else {
            assert!(!blocks.is_empty(), "{name}: no path drawn");
        }
        for (i, block) in blocks.into_iter().enumerate() {
            assert!(block.starts_with("flowchart LR\n"), "{name}: {block}");
            diagrams.push((format!("{name}#{i}"), block));
        }
    }
    // The parser can fail: a broken diagram must come back as an error.
    diagrams.push((
        "control-broken".into(),
        "flowchart LR\n    a[\"x\" y\"] --> b\n".into(),
    ));
    let verdicts = parse_all(&script, &diagrams);
    let (control, fixtures) = verdicts.split_last().unwrap();
    assert!(control.starts_with("error control-broken"), "{control}");
    let failed: Vec<&String> = fixtures.iter().filter(|v| !v.starts_with("ok ")).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    eprintln!(
        "Mermaid parser: {} diagrams from {} fixtures accepted",
        fixtures.len(),
        files.len()
    );
}

/// Text a hostile server or zone could put in a label: quotes and brackets that would close
/// it, `#` and `;` of entity codes, backticks, a newline and the keywords that end a
/// subgraph or start a comment, a link or a click handler, and markup.
const HOSTILE: &str = "x\"] end\nsubgraph s\n%% c\n`y` #quot; &amp; <b>b</b> [l](j:a) {c} (p) |e| ; click ca call f() end";

/// Every string of `value` equal to `from` replaced by `to`.
fn replace_strings(value: &mut serde_json::Value, from: &str, to: &str) -> usize {
    match value {
        serde_json::Value::String(s) if s == from => {
            *s = to.to_string();
            1
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().map(|v| replace_strings(v, from, to)).sum()
        }
        serde_json::Value::Object(map) => {
            map.values_mut().map(|v| replace_strings(v, from, to)).sum()
        }
        _ => 0,
    }
}

#[test]
fn hostile_text_stays_inside_its_mermaid_label() {
    let Some(script) = parser() else {
        return;
    };
    let tmp = std::env::temp_dir().join(format!("acme-doctor-path-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let cases = [
        // A TXT value, a redirect's Location, a CNAME target.
        ("dns-txt-wrong", "stale-value"),
        (
            "derived-https-redirect-443-dead",
            "https://example.test/.well-known/acme-challenge/x",
        ),
        ("http01-twelve-redirects-host", "http://example.test/r1"),
    ];
    let mut diagrams = Vec::new();
    for (name, original) in cases {
        let mut facts: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
        assert!(replace_strings(&mut facts, original, HOSTILE) > 0, "{name}");
        let file = tmp.join(format!("{name}.json"));
        std::fs::write(&file, facts.to_string()).unwrap();
        let report = report_of(&file);
        let blocks = mermaid_blocks(&report);
        assert_eq!(blocks.len(), 1, "{name}:\n{report}");
        let block = &blocks[0];
        // The hostile text got in (escaped), and nothing of it broke a line or a label.
        assert!(block.contains("#quot;#93; end"), "{name}:\n{block}");
        assert!(!block.contains("<b>") && !block.contains('`'), "{block}");
        for line in block.lines().skip(1) {
            assert!(
                line.starts_with("    "),
                "{name}: a line broke out: {line:?}"
            );
        }
        diagrams.push((name.to_string(), block.clone()));
        // The human output holds it on its path line, without a control character.
        let out = human_of(&file, UTF8);
        assert!(out.contains("x\"] end\u{fffd}subgraph"), "{out}");
        assert!(
            path_lines(&out).iter().any(|l| l.contains("subgraph")),
            "{out}"
        );
    }
    let verdicts = parse_all(&script, &diagrams);
    let _ = std::fs::remove_dir_all(&tmp);
    for v in &verdicts {
        assert!(v.starts_with("ok "), "{v}\n{diagrams:#?}");
    }
}
