//! CLI tier for `--ca-check` (issue 19 item 1): its flags are checked once (a bad value is
//! one line, exit 2), and a directory that does not answer is a check without a verdict,
//! never a blame. Loopback only.

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::acme_doctor;

#[test]
fn bad_ca_check_flags_are_one_line_and_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "example.test",
                "--ca-check",
                "--acme-directory",
                "http://ca.example/dir",
            ],
            "https://",
        ),
        (
            &[
                "example.test",
                "--ca-check",
                "--acme-directory",
                "not a url",
            ],
            "--acme-directory",
        ),
        (&["example.test", "--webroot", "auto"], "--ca-check"),
        (
            &["example.test", "--ca-check", "--method", "dns-01"],
            "--dns-hook",
        ),
        (
            &[
                "example.test",
                "--ca-check",
                "--eab-kid",
                "k",
                "--eab-hmac-key",
                "!!",
            ],
            "--eab-hmac-key",
        ),
        (
            &["example.test", "--acme-directory", "letsencrypt"],
            "--ca-check",
        ),
        (&["--from-facts", "x.json", "--ca-check"], "--ca-check"),
        (
            &["example.test", "--ca-check", "--ca-check-timeout", "5m"],
            "--ca-check-timeout",
        ),
    ];
    for (args, says) in cases {
        let run = acme_doctor(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", run.stderr);
        assert!(lines[0].contains(says), "{args:?}: {}", run.stderr);
    }
}

/// A directory that refuses the connection: the check is `not-done` at the directory stage,
/// nothing is published, nothing consumed; never a blame.
#[test]
fn a_silent_directory_is_no_verdict() {
    let run = acme_doctor(&[
        "--json",
        "--allow-reserved",
        "--timeout",
        "500ms",
        "127.0.0.1",
        "--ca-check",
        "--acme-directory",
        "https://127.0.0.1:9/dir",
    ]);
    let report = run.json();
    let check = &report["facts"]["targets"][0]["ca"][0]["said"]["check"];
    assert_eq!(check["outcome"]["status"], "not-done", "{check}");
    assert_eq!(check["outcome"]["stage"], "directory", "{check}");
    assert_eq!(check["published"]["kind"], "nothing");
    assert_eq!(check["failed_authorizations"], 0);
    assert_eq!(check["directory"], "https://127.0.0.1:9/dir");
    let kinds = report["incomplete_kinds"].to_string();
    assert!(kinds.contains("ca-check-not-done"), "{kinds}");
    assert!(
        !report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "ca-disagrees" || f["code"] == "ca-validated"),
        "{}",
        report["findings"]
    );
}
