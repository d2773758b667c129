//! CLI tier: the built binary's contract: exit codes, one-line errors, JSON errors, explain,
//! the catalogue kept one-to-one with the codes, batches and their interruption. None of these
//! tests touches the network beyond loopback (a resolver there that never answers).

// Tests panic on purpose: a broken fixture or lab step should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{acme_doctor, acme_doctor_with_stdin};
use std::collections::BTreeSet;

fn stderr_is_one_error_line(run: &common::Run) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {:?}", run.stderr);
    assert!(lines[0].starts_with("acme-doctor: error: "), "{}", lines[0]);
}

#[test]
fn version_and_help_exit_zero() {
    let run = acme_doctor(&["--version"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains(env!("CARGO_PKG_VERSION")));
    let run = acme_doctor(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--from-facts"));
}

#[test]
fn explain_prints_the_catalogue_entry_verbatim() {
    let run = acme_doctor(&["explain", "ipv6-disabled"]);
    assert_eq!(run.code, 0);
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/checks/ipv6-disabled.md"
    ))
    .unwrap();
    assert_eq!(run.stdout.trim_end(), file.trim_end());
}

/// Issue 21 item 4: a typo gets the nearest codes, not the list of all of them; exit 2.
#[test]
fn explain_of_an_unknown_code_is_a_usage_error_that_suggests_the_nearest() {
    let run = acme_doctor(&["explain", "no-listner"]);
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
    assert!(
        run.stderr.contains("did you mean no-listener?"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("ipv6-disabled"), "{}", run.stderr);
    let run = acme_doctor(&["explain", "no-such-code"]);
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
}

/// Issue 21 item 4: codes in any case; raw Markdown on a pipe and with `--markdown`.
#[test]
fn explain_takes_any_case_and_prints_markdown_off_a_terminal() {
    let raw = acme_doctor(&["explain", "no-listener"]);
    assert_eq!(raw.code, 0);
    assert!(raw.stdout.starts_with("# no-listener: "), "{}", raw.stdout);
    let upper = acme_doctor(&["explain", "NO-LISTENER"]);
    assert_eq!(upper.code, 0, "{}", upper.stderr);
    assert_eq!(upper.stdout, raw.stdout);
    let markdown = acme_doctor(&["explain", "--markdown", "No-Listener"]);
    assert_eq!(markdown.stdout, raw.stdout);
}

/// Issue 21 item 4: on a terminal (a pseudo-terminal of 64 columns from util-linux's
/// `script`), the entry is rendered: no `##`, no backticks outside code blocks, no trailing
/// spaces, wrapped to the width.
#[test]
fn explain_renders_markdown_for_a_terminal() {
    let command = format!(
        "stty rows 40 cols 64; NO_COLOR=1 {} explain ipv6-disabled",
        common::BIN
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs the binary on a pseudo-terminal");
    assert!(out.status.success(), "{out:?}");
    // The terminal ends lines with CR LF.
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/checks/ipv6-disabled.md"
    ))
    .unwrap();
    assert!(
        text.starts_with("ipv6-disabled: the domain has an AAAA record"),
        "{text}"
    );
    assert!(text.contains("\nWhat it means\n"), "{text}");
    assert!(!text.contains('\u{1b}'), "NO_COLOR: {text:?}");
    for line in text.lines() {
        let code = source.lines().any(|l| l.trim() == line.trim());
        assert!(!line.ends_with(' '), "{line:?}");
        if !code {
            assert!(!line.contains('`') && !line.starts_with('#'), "{line:?}");
            assert!(line.chars().count() <= 64, "{line:?}");
        }
    }
}

#[test]
fn codes_and_catalogue_files_are_one_to_one() {
    let run = acme_doctor(&["explain"]);
    assert_eq!(run.code, 0);
    let codes: BTreeSet<String> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/checks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .map(|name| {
            name.strip_suffix(".md")
                .unwrap_or_else(|| panic!("stray file checks/{name}"))
                .to_string()
        })
        .collect();
    assert_eq!(codes, files);
    assert!(codes.len() >= 14);
}

#[test]
fn malformed_domains_exit_2_with_one_line() {
    for bad in [
        "bad..name",
        "-x.example",
        "localhost",
        "http://example.com/",
        "192.0.2.1",
        "",
        "a_b.example",
        "ab--cd.example.com",
    ] {
        let run = acme_doctor(&["--", bad]);
        assert_eq!(run.code, 2, "{bad:?}: {}", run.stderr);
        stderr_is_one_error_line(&run);
        assert!(run.stdout.is_empty());
    }
    let long = format!("{}.example", "a".repeat(64));
    let run = acme_doctor(&[&long]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("63"));
}

#[test]
fn under_json_even_errors_are_json() {
    let run = acme_doctor(&["--json", "bad..name"]);
    assert_eq!(run.code, 2);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "input");
    assert_eq!(v["schema_version"], 2);
    let run = acme_doctor(&["--json", "--no-such-flag"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "usage");
    let run = acme_doctor(&["--json", "--timeout", "forever", "example.test"]);
    assert_eq!(run.code, 2);
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("forever")
    );
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [&["-x.example"][..], &[], &["--bogus", "example.test"]] {
        let run = acme_doctor(args);
        assert_eq!(run.code, 2);
        stderr_is_one_error_line(&run);
    }
    assert_eq!(acme_doctor(&["--timeout", "0", "example.test"]).code, 2);
    assert_eq!(
        acme_doctor(&["--resolver", "dns.example", "example.test"]).code,
        2
    );
    assert_eq!(
        acme_doctor(&["--method", "tls-alpn-02", "example.test"]).code,
        2
    );
    for args in [
        &["--expect-txt", "abc", "example.test"][..],
        &["--expect-keyauth", "tok.thumb", "example.test"],
        &["--ca", "no-such-ca", "example.test"],
    ] {
        let run = acme_doctor(args);
        assert_eq!(run.code, 2, "{args:?}");
        stderr_is_one_error_line(&run);
    }
    assert_eq!(acme_doctor(&["--json", "--report", "example.test"]).code, 2);
}

/// Issue 20 item 3: `--wait` takes a duration and waits for one dns-01 value; anything else
/// is a one-line usage error before anything is asked.
#[test]
fn wait_usage_errors_exit_2_with_one_line() {
    let dns01 = ["--method", "dns-01", "--expect-txt", "v"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--wait", "5x"], "give a duration such as 90s"),
        (vec!["--wait", "0s"], "between 1s and 1h"),
        (vec!["--wait", "2h"], "between 1s and 1h"),
        (vec!["--wait=-5s"], "give a duration"),
        (vec!["--wait", ""], "give a duration"),
    ];
    for (mut args, says) in cases {
        args.extend(dns01);
        args.push("example.test");
        let run = acme_doctor(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        stderr_is_one_error_line(&run);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    for args in [
        &["--wait", "90s", "example.test"][..],
        &["--wait", "90s", "--method", "dns-01", "example.test"],
        &["--wait", "90s", "--method", "http-01", "example.test"],
    ] {
        let run = acme_doctor(args);
        assert_eq!(run.code, 2, "{args:?}");
        stderr_is_one_error_line(&run);
        assert!(
            run.stderr
                .contains("use it with --method dns-01 --expect-txt VALUE"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let run = acme_doctor(&[
        "--wait",
        "1m30s",
        "--method",
        "dns-01",
        "--expect-txt",
        "v",
        "a.test",
        "b.test",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("exactly one name"), "{}", run.stderr);
    // Under --json the error is the JSON object, as every usage error.
    let run = acme_doctor(&["--json", "--wait", "soon", "example.test"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "usage");
}

#[test]
fn unreadable_or_wrong_facts_files_exit_2_with_one_line() {
    let scratch = Scratch::new("cli");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.json");
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "hello").unwrap();
    let wrong = dir.join("wrong.json");
    std::fs::write(&wrong, r#"{"hello": 1}"#).unwrap();
    for path in [&missing, &not_json, &wrong, &dir] {
        let run = acme_doctor(&["--from-facts", path.to_str().unwrap()]);
        assert_eq!(run.code, 2, "{}", path.display());
        stderr_is_one_error_line(&run);
    }
}

#[test]
fn a_wildcard_with_http01_is_diagnosed_without_any_lookup() {
    let run = acme_doctor(&["--json", "*.example.test"]);
    assert_eq!(run.code, 1);
    let v = run.json();
    assert_eq!(v["findings"][0]["code"], "wildcard-needs-dns01");
    let target = &v["facts"]["targets"][0];
    assert_eq!(target["target"]["domain"]["wildcard"], true);
    assert_eq!(target["dns"], serde_json::Value::Null);
}

#[test]
fn idn_names_are_checked_in_their_ascii_form() {
    let run = acme_doctor(&["--json", "*.bücher.example"]);
    assert_eq!(run.json()["target"]["domain"], "xn--bcher-kva.example");
}

#[test]
fn saving_facts_to_an_unwritable_place_still_prints_the_diagnosis() {
    let run = acme_doctor(&[
        "--save-facts",
        "/nonexistent-dir/facts.json",
        "*.example.test",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("wildcard-needs-dns01"),
        "the diagnosis is not lost"
    );
    stderr_is_one_error_line(&run);
}

#[test]
fn under_json_a_failed_save_keeps_stdout_one_document() {
    let run = acme_doctor(&[
        "--json",
        "--save-facts",
        "/nonexistent-dir/facts.json",
        "*.example.test",
    ]);
    assert_eq!(run.code, 2);
    let v = run.json();
    assert_eq!(v["findings"][0]["code"], "wildcard-needs-dns01");
    let err: serde_json::Value =
        serde_json::from_str(run.stderr.trim()).expect("stderr error is JSON");
    assert_eq!(err["error"]["kind"], "input");
}

#[test]
fn an_endless_facts_file_is_refused_not_read_forever() {
    let run = acme_doctor(&["--from-facts", "/dev/zero"]);
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
    assert!(run.stderr.contains("larger than"), "{}", run.stderr);
}

#[test]
fn the_report_is_plain_markdown_with_the_facts_minus_the_firewall() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fw-nft-drop-v6-host.json"
    );
    let run = acme_doctor(&["--report", "--color", "always", "--from-facts", fixture]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stdout.contains('\x1b'), "no ANSI in a report");
    assert!(
        run.stdout
            .starts_with("## acme-doctor report: example.test")
    );
    assert!(
        run.stdout
            .contains("| 1 | blocker | `firewall-drops` | ipv6 | 80 |")
    );
    assert!(run.stdout.contains("### Top finding: `firewall-drops`"));
    assert!(run.stdout.contains("omit the firewall ruleset"));
    // The facts block re-diagnoses: extract it and feed it back.
    let start = run.stdout.find("```json\n").expect("facts block") + "```json\n".len();
    let end = start
        + run.stdout[start..]
            .find("\n```")
            .expect("end of facts block");
    let scratch = Scratch::new("report");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("facts.json");
    std::fs::write(&path, &run.stdout[start..end]).unwrap();
    let again = acme_doctor(&["--json", "--from-facts", path.to_str().unwrap()]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert_eq!(
        again.json()["findings"][0]["code"],
        "port-timeout",
        "without the firewall, the symptom stays"
    );
}

/// Names come from arguments, `-f FILE` and standard input (`-`), each once, in that order.
/// Wildcards need no lookup, so these runs touch no network.
#[test]
fn domain_lists_come_from_a_file_and_from_stdin() {
    let scratch = Scratch::new("list");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("names.txt");
    std::fs::write(
        &list,
        "# wildcards: settled without DNS\n*.a.example\n\n*.b.example  # second\n*.a.example\n",
    )
    .unwrap();
    let file = list.to_string_lossy().into_owned();
    let run = acme_doctor(&["--ndjson", "--jobs", "2", "-f", &file, "*.c.example"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // Printed as each is done; `index` gives the input order back.
    // The host record comes first, then the names.
    common::contract::parse_host_record(run.stdout.lines().next().unwrap());
    let mut lines: Vec<(u64, String)> = run
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["index"].as_u64().unwrap(),
                v["target"]["domain"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    lines.sort();
    let domains: Vec<&str> = lines.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(domains, ["c.example", "a.example", "b.example"]);
    assert_eq!(lines.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);

    let run = acme_doctor_with_stdin(&["--json", "-"], "*.d.example\n*.e.example\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.json()["results"].as_array().unwrap().len(), 2);

    // A list with only bad lines stops with one error line naming them.
    std::fs::write(&list, "not a name\nbad_name!\n").unwrap();
    let run = acme_doctor(&["-f", &file]);
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
    assert!(
        run.stderr.contains("line 1") && run.stderr.contains("line 2"),
        "{}",
        run.stderr
    );
    let run = acme_doctor(&["-f", "/nonexistent/names.txt"]);
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
    let run = acme_doctor_with_stdin(&["-"], "# nothing\n");
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
    for bad in ["0", "100000", "many"] {
        assert_eq!(
            acme_doctor(&["--jobs", bad, "*.a.example"]).code,
            2,
            "{bad}"
        );
    }
}

/// Issue 21 item 5: a bad line in `-f` or standard input is reported with its line number and
/// the characters that make it bad; the other names are still checked, and the run exits 2.
#[test]
fn a_bad_line_in_a_list_is_reported_and_the_other_names_are_checked() {
    let scratch = Scratch::new("badline");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("names.txt");
    // Wildcards are settled without DNS: no network.
    std::fs::write(&list, "*.a.example\nbad_name!\n\n*.b.example # ok\n").unwrap();
    let file = list.to_string_lossy().into_owned();
    let run = acme_doctor(&["-f", &file, "--color", "never"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for name in ["*.a.example", "*.b.example"] {
        assert!(
            run.stdout.contains(&format!("FAIL {name}  http-01")),
            "{name} not checked:\n{}",
            run.stdout
        );
    }
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("acme-doctor: error: ")
            && first.contains("names.txt line 2: ")
            && first.contains("it contains '_' and '!'")
            && !first.contains("dot"),
        "{first}"
    );

    // Under --json stdout stays one document of the good names; the bad line is a JSON error
    // on stderr.
    let run = acme_doctor_with_stdin(&["--json", "-"], "*.c.example\nexa mple.com\n*.d.example\n");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.json()["results"].as_array().unwrap().len(), 2);
    let error: serde_json::Value =
        serde_json::from_str(run.stderr.lines().next().unwrap()).unwrap();
    assert_eq!(error["error"]["kind"], "input");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("standard input line 2: ") && message.contains("' '"),
        "{message}"
    );
}

#[test]
fn completions_and_the_manual_come_from_the_clap_definitions() {
    for shell in ["bash", "zsh", "fish"] {
        let run = acme_doctor(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(run.stdout.contains("expect-txt"), "{shell}");
    }
    // Issue 21 item 4: the codes complete after `explain`, in a real bash that sources the
    // script and completes as it would on Tab.
    let bash = acme_doctor(&["completions", "bash"]).stdout;
    let complete = |words: &str, cword: usize| {
        let script = format!(
            "{bash}\nCOMP_WORDS=({words}); COMP_CWORD={cword}; \
             _acme__doctor acme-doctor \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             echo \"${{COMPREPLY[*]}}\""
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .expect("bash");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("acme-doctor explain no-li", 2), "no-listener");
    assert_eq!(complete("acme-doctor explain --mark", 2), "--markdown");
    assert_eq!(complete("acme-doctor --metho", 1), "--method");
    let zsh = acme_doctor(&["completions", "zsh"]).stdout;
    assert!(zsh.contains("no-listener\\:\"nothing on this server listens"));
    let fish = acme_doctor(&["completions", "fish"]).stdout;
    assert!(fish.contains("function __fish_acme_doctor_using_subcommand"));
    assert!(fish.contains(
        "complete -c acme-doctor -n \"__fish_acme_doctor_using_subcommand explain\" -f -a 'no-listener' -d 'nothing on this server listens"
    ));
    let run = acme_doctor(&["man"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains(".TH acme-doctor 1"));
    assert_eq!(acme_doctor(&["completions", "tcsh"]).code, 2);
}

/// Issue 21 item 4: the manual renders with man-db's `man -l` (tbl and groff, no warning) and
/// has every section: value names in the synopsis, EXIT STATUS as a table, ENVIRONMENT, FILES
/// and EXAMPLES.
#[test]
fn the_manual_renders_with_man_and_has_every_section() {
    let scratch = Scratch::new("man");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("acme-doctor.1");
    std::fs::write(&page, acme_doctor(&["man"]).stdout).unwrap();
    let out = std::process::Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "250")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("man (Debian's man-db, installed by .ci/run)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "warnings: {stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    let headings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .collect();
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "SUBCOMMANDS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "EXAMPLES",
        "VERSION",
    ] {
        assert!(headings.contains(&section), "no {section} in {headings:?}");
    }
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = words(&text);
    for want in [
        "[-f|--file FILE]",
        "[--timeout DURATION]",
        "[--vantage URL]...",
        "acme-doctor explain [--markdown] [CODE]",
        "NO_COLOR",
        "ACME_DOCTOR_VANTAGES",
        "DOCKER_HOST",
        "/etc/letsencrypt/renewal/*.conf",
        "/proc/sys/net/ipv6/conf/*/disable_ipv6",
        "acme-doctor explain ipv6-disabled",
    ] {
        assert!(flat.contains(want), "missing {want:?}");
    }
    // A table: one row per status, the code in its own column.
    let table: Vec<String> = text
        .lines()
        .skip_while(|l| *l != "EXIT STATUS")
        .skip(1)
        .take_while(|l| !l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(words)
        .filter(|l| !l.is_empty())
        .collect();
    for code in ["0", "1", "2", "3", "130", "143"] {
        assert!(
            table.iter().any(|row| row.starts_with(&format!("{code} "))),
            "no row for {code}: {table:?}"
        );
    }
    // The old run-on line is gone.
    assert!(!flat.contains("Exit codes: 0 pass, 1 blocker found"));
}

/// `--color always` colours a pipe too, as `ls --color=always | less -R` users expect.
#[test]
fn color_always_colours_a_pipe() {
    let run = acme_doctor(&["--color", "always", "*.example.test"]);
    assert!(run.stdout.contains("\u{1b}["), "{}", run.stdout);
    let run = acme_doctor(&["--color", "never", "*.example.test"]);
    assert!(!run.stdout.contains('\u{1b}'));
    let run = acme_doctor(&["*.example.test"]);
    assert!(!run.stdout.contains('\u{1b}'), "auto off a terminal");
}

#[test]
fn ndjson_errors_are_one_line() {
    let run = acme_doctor(&["--ndjson", "--no-such-flag"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout.trim_end().lines().count(), 1, "{}", run.stdout);
    let run = acme_doctor(&["--ndjson", "-x.example"]);
    assert_eq!(run.stdout.trim_end().lines().count(), 1, "{}", run.stdout);
}

/// Escape sequences from a crafted facts file (serde echoes unknown field names) or from a
/// path never reach the terminal raw; in JSON, DEL, C1 and bidi controls are escaped.
#[test]
fn crafted_text_never_reaches_a_terminal_raw() {
    let scratch = Scratch::new("hostile");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let crafted = dir.join("crafted.json");
    std::fs::write(
        &crafted,
        "{\"facts_version\": 2, \"\\u001b]52;c;cHduZWQ=\\u0007\\u001b[2J\": 1}",
    )
    .unwrap();
    let run = acme_doctor(&["--from-facts", crafted.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\u{7}'), "{:?}", run.stderr);
    let evil_path = dir.join("x\u{1b}[31m\u{9b}2J.json");
    let run = acme_doctor(&["--from-facts", evil_path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{9b}'),
        "{:?}",
        run.stderr
    );

    // A real facts file whose resolver answer carries C1, DEL and a bidi override.
    let fixture = format!(
        "{}/tests/fixtures/challenge-403-host.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("nginx/1.22.1", "nginx\\u009b2J\\u007f\\u202e");
    let hostile = dir.join("hostile.json");
    std::fs::write(&hostile, text).unwrap();
    for mode in ["--json", "--ndjson"] {
        let run = acme_doctor(&[mode, "--from-facts", hostile.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        for c in ['\u{9b}', '\u{7f}', '\u{202e}'] {
            assert!(!run.stdout.contains(c), "{mode}: raw {c:?}");
        }
        assert!(run.stdout.contains("\\u009b"), "{mode}");
    }
}

/// `--save-facts` never writes through a planted symlink, and a new file is no wider than the
/// umask allows.
#[test]
fn saved_facts_replace_a_symlink_and_follow_the_umask() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let scratch = Scratch::new("save");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let target = dir.join("facts.json");
    symlink(&victim, &target).unwrap();
    let run = std::process::Command::new("sh")
        .args([
            "-c",
            // The temporary name the tool used to derive from its pid, planted: `exec` keeps
            // this shell's pid.
            "ln -s \"$2\" \"$(dirname \"$1\")/.facts.json.tmp-$$\"; umask 077; \
             exec \"$0\" --save-facts \"$1\" '*.example.test'",
            common::BIN,
            target.to_str().unwrap(),
            victim.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was replaced, not followed"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // Only the planted link is left among temporary names, untouched.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .filter(|e| !e.file_type().unwrap().is_symlink())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Where no thread can be started, the run still ends with its diagnosis, never an abort
/// (the host snapshot and the firewall readers fall back to the calling thread). Needs root to
/// run as another user whose process limit is 1.
#[test]
fn no_thread_to_spare_is_still_a_diagnosis() {
    if !common::is_root() {
        assert!(!common::in_ci(), "CI runs as root: this test must run");
        common::announce_skip("thread-limit test", "needs root for setpriv");
        return;
    }
    let scratch = Scratch::new("nproc");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("acme-doctor");
    std::fs::copy(common::BIN, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut run = None;
    // A forking thread of this harness can hold the fresh copy busy for a moment (ETXTBSY).
    for _ in 0..20 {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(["prlimit", "--nproc=1"])
            .arg(&copy)
            .args(["--json", "*.example.test"])
            .output()
            .unwrap();
        if !String::from_utf8_lossy(&out.stderr).contains("Text file busy") {
            run = Some(out);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let run = run.expect("the copy stayed busy");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["findings"][0]["code"], "wildcard-needs-dns01");
}

/// `-f`: comments (whole-line and after a name) and blank lines are skipped, a bad line is an
/// error naming its line number (exit 2, the other names checked), also under `--json`; a list
/// without a good name is one error line; names from `-` (stdin)
/// join those of the command line; `--jobs` takes 1 to 1024.
#[test]
fn name_lists_and_jobs_are_checked_at_the_door() {
    let scratch = Scratch::new("lists");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("names.txt");
    let file = list.to_string_lossy().into_owned();
    std::fs::write(
        &list,
        "# header\n\n   \n*.a.example # trailing\n\t*.b.example\n",
    )
    .unwrap();
    let run = acme_doctor_with_stdin(&["--json", "-f", &file, "-"], "*.c.example\n# only\n");
    assert_eq!(run.code, 1, "{}", run.stderr);
    let domains: Vec<String> = run.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["target"]["domain"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(domains, ["c.example", "a.example", "b.example"]);

    // A bad line is an error naming its line (exit 2); the batch keeps going (issue 21
    // item 5), so the good name is still checked.
    std::fs::write(&list, "# header\n*.a.example\n\nexample\n").unwrap();
    let run = acme_doctor(&["-f", &file]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.lines().next().unwrap().contains("line 4: "),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("*.a.example"), "{}", run.stdout);
    let run = acme_doctor(&["--json", "-f", &file]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["target"]["domain"], "a.example");
    let error: serde_json::Value = serde_json::from_str(run.stderr.trim_end()).unwrap();
    assert_eq!(error["error"]["kind"], "input");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 4: ")
    );
    let run = acme_doctor_with_stdin(&["-"], "bad name\n");
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
    assert!(
        run.stderr.contains("standard input line 1"),
        "{}",
        run.stderr
    );

    for ok in ["1", "1024"] {
        let run = acme_doctor(&["--jobs", ok, "*.a.example"]);
        assert_eq!(run.code, 1, "--jobs {ok}: {}", run.stderr);
    }
    for bad in ["0", "1025", "-1"] {
        let run = acme_doctor(&[&format!("--jobs={bad}"), "*.a.example"]);
        assert_eq!(run.code, 2, "--jobs {bad}");
        stderr_is_one_error_line(&run);
        assert!(run.stderr.contains("--jobs"), "{}", run.stderr);
    }
}

/// Kills the child by its pid if the test stops before it exits.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ctrl-C mid-batch: the names that finished are printed, then the ones that did not, and the
/// exit status is 130; no facts file is left behind. The batch is held in flight by a
/// resolver on loopback that never answers (UDP bound, TCP listening, nothing read).
#[test]
fn ctrl_c_mid_batch_prints_what_finished_and_exits_130() {
    use nix::sys::signal::{Signal, kill};
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = udp.local_addr().unwrap().port();
    let tcp = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
    let resolver = format!("127.0.0.1:{port}");
    let scratch = Scratch::new("sigint");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let facts = dir.join("facts.json");
    let facts_arg = facts.to_string_lossy().into_owned();
    let mut child = Reap(
        Command::new(common::BIN)
            .args([
                "--ndjson",
                "--timeout",
                "60s",
                "--resolver",
                &resolver,
                "--save-facts",
                &facts_arg,
                // Settled without DNS: done at once.
                "*.done.example",
                "a.example",
                "b.example",
                "c.example",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    // The host record, then the wildcard's line; the other three wait on the silent resolver.
    let host = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the host record is streamed");
    common::contract::parse_host_record(&host);
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the finished name is streamed");
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["target"]["domain"], "done.example");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    kill(
        nix::unistd::Pid::from_raw(child.0.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let rest: Vec<String> = rx.iter().collect();
    let status = child.0.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly, not after the 60 s timeout"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "stderr: {stderr}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    let last: serde_json::Value = serde_json::from_str(&rest[0]).unwrap();
    assert_eq!(last["interrupted"]["signal"], "SIGINT");
    assert_eq!(last["interrupted"]["finished"], 1);
    let unfinished: Vec<(u64, &str)> = last["interrupted"]["unfinished"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["index"].as_u64().unwrap(), u["domain"].as_str().unwrap()))
        .collect();
    assert_eq!(
        unfinished,
        [(1, "a.example"), (2, "b.example"), (3, "c.example")]
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "acme-doctor: interrupted (SIGINT): 1 of 4 names finished; not finished: a.example, b.example, c.example"
        ),
        "{stderr}"
    );
    assert!(!facts.exists(), "a run cut short writes no facts file");
    drop((udp, tcp));
}

/// Human output after Ctrl-C: the finished names' diagnoses on stdout, the unfinished names on
/// stderr, exit 130.
#[test]
fn ctrl_c_in_human_output_keeps_the_finished_diagnoses() {
    use nix::sys::signal::{Signal, kill};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = format!("127.0.0.1:{}", udp.local_addr().unwrap().port());
    let child = Command::new(common::BIN)
        .args([
            "--timeout",
            "60s",
            "--resolver",
            &resolver,
            "*.x.example",
            "*.y.example",
            "a.example",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut child = Reap(child);
    // Nothing is printed before the end in human output: wait until the resolver has been
    // asked, so the wildcards (settled without DNS) are done and a.example is in flight.
    let mut buf = [0u8; 512];
    udp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    udp.recv_from(&mut buf).expect("the resolver is asked");
    std::thread::sleep(Duration::from_millis(300));
    kill(pid, Signal::SIGINT).unwrap();
    // The output is a few lines: it fits the pipes, so waiting first cannot block.
    let status = child.0.wait().unwrap();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stdout.contains("*.x.example"), "{stdout}");
    assert!(stdout.contains("*.y.example"), "{stdout}");
    assert!(
        stdout.contains("2 names: 0 pass, 0 at risk, 2 fail"),
        "{stdout}"
    );
    assert!(!stdout.contains("a.example can"), "{stdout}");
    assert!(
        stderr.contains("2 of 3 names finished; not finished: a.example"),
        "{stderr}"
    );
}

/// Vantage flags are checked once, up front: a bad URL, a missing token, a serve without TLS
/// or --plain-http, an unreadable or too short token file are usage or input errors (exit 2),
/// never a run that silently looks from one side only.
#[test]
fn vantage_and_serve_arguments_are_checked_up_front() {
    let scratch = Scratch::new("cli-vantage");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    let short = dir.join("short");
    std::fs::write(&short, "tiny\n").unwrap();
    let token = token.to_string_lossy().into_owned();
    let short = short.to_string_lossy().into_owned();
    for (args, says) in [
        (
            vec![
                "--vantage",
                "ftp://v.example",
                "--vantage-token-file",
                &token,
                "example.com",
            ],
            "http:// or https://",
        ),
        (
            vec![
                "--vantage",
                "https://user:pw@v.example",
                "--vantage-token-file",
                &token,
                "example.com",
            ],
            "credentials",
        ),
        (
            vec!["--vantage", "https://v.example", "example.com"],
            "--vantage-token-file",
        ),
        (
            vec![
                "--vantage",
                "https://v.example",
                "--vantage-token-file",
                &short,
                "example.com",
            ],
            "16 to 4096",
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0", "--token-file", &token],
            "--plain-http",
        ),
        (
            vec![
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--token-file",
                "/nonexistent/token",
                "--plain-http",
            ],
            "cannot read token file",
        ),
    ] {
        let run = acme_doctor(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

/// A host tree in a temp dir, laid out as certbot, acme.sh and lego lay out theirs, read
/// through the hidden `--client-root`, so the clients' default paths are what is tested.
struct ClientTree(std::path::PathBuf);

impl ClientTree {
    fn new(tag: &str) -> ClientTree {
        let dir =
            std::env::temp_dir().join(format!("acme-doctor-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ClientTree(dir)
    }

    fn write(&self, rel: &str, text: &str) -> String {
        let path = self.0.join(rel.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn root(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    /// certbot with a webroot, certbot standalone, acme.sh with a webroot, lego over DNS.
    fn populated(tag: &str) -> ClientTree {
        let t = ClientTree::new(tag);
        let fixture =
            |name: &str| std::fs::read_to_string(format!("tests/fixtures/clients/{name}")).unwrap();
        t.write(
            "/etc/letsencrypt/renewal/web.example.test.conf",
            &fixture("web.example.test.conf"),
        );
        t.write(
            "/etc/letsencrypt/live/web.example.test/cert.pem",
            &fixture("certs/web.pem"),
        );
        t.write(
            "/etc/letsencrypt/renewal/solo.example.test.conf",
            "version = 2.1.0\ncert = /etc/letsencrypt/live/solo.example.test/cert.pem\n\n[renewalparams]\nauthenticator = standalone\nserver = https://acme-v02.api.letsencrypt.org/directory\n",
        );
        t.write(
            "/etc/letsencrypt/live/solo.example.test/cert.pem",
            &fixture("certs/solo.pem"),
        );
        t.write(
            "/root/.acme.sh/wrong.example.test_ecc/wrong.example.test.conf",
            "Le_Domain='wrong.example.test'\nLe_Alt='no'\nLe_Webroot='/var/www/old'\nLe_API='https://acme-v02.api.letsencrypt.org/directory'\nLe_NextRenewTime='1797163200'\n",
        );
        t.write(
            "/root/.acme.sh/wrong.example.test_ecc/wrong.example.test.cer",
            &fixture("certs/wrong.pem"),
        );
        t
    }
}

/// A scratch directory of one test, named by the test's tag and this process, removed
/// when the test ends, failed or not.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("acme-doctor-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for ClientTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Names are looked up at a loopback port where nothing answers: no packet leaves the machine.
const OFFLINE: &[&str] = &[
    "--resolver",
    "127.0.0.1:9",
    "--timeout",
    "200ms",
    "--no-progress",
];

#[test]
fn all_lists_every_certificate_with_its_client_method_expiry_and_key() {
    let t = ClientTree::populated("all");
    let root = t.root();
    let mut args = vec!["--all", "--client-root", root.as_str(), "--color", "never"];
    args.extend_from_slice(OFFLINE);
    let run = acme_doctor(&args);
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let out = &run.stdout;
    assert!(
        out.contains("3 certificate(s) renewed by ACME clients on this host"),
        "{out}"
    );
    for want in [
        "web.example.test, www.example.test",
        // Every name has its `[[webroot_map]]` entry: that is its one source.
        "web.example.test: http-01 webroot /var/www/html (line 17 `[[webroot_map]] web.example.test`)",
        "www.example.test: http-01 webroot /var/www/html (line 18 `[[webroot_map]] www.example.test`)",
        "expires 2026-12-30 · next try 2026-11-30 (certbot renews 30 days before expiry",
        "http-01 standalone :80",
        "solo.example.test.conf:5 `authenticator`",
        "acme.sh  wrong.example.test",
        "http-01 webroot /var/www/old",
        "next try 2026-12-13 (acme.sh Le_NextRenewTime",
        "wrong.example.test.conf:3 `Le_Webroot`",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // Every name is diagnosed with its certificate's method, under its own header.
    for name in [
        "web.example.test",
        "www.example.test",
        "solo.example.test",
        "wrong.example.test",
    ] {
        assert!(
            out.contains(&format!(" {name}  http-01")),
            "{name} not diagnosed:\n{out}"
        );
    }

    let mut args = vec!["--all", "--client-root", root.as_str(), "--json"];
    args.extend_from_slice(OFFLINE);
    let run = acme_doctor(&args);
    let batch = run.json();
    let reports = batch["results"].as_array().expect("one object per name");
    assert_eq!(reports.len(), 4);
    // The strict contract holds with the certificate in the target.
    common::contract::parse_batch(&run.stdout);
    for r in reports {
        let cert = &r["target"]["certificate"];
        assert!(
            cert["config"].as_str().unwrap().starts_with(&root),
            "{cert}"
        );
    }
    assert_eq!(
        batch["host"]["acme_clients"]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let wrong = reports
        .iter()
        .find(|r| r["target"]["domain"] == "wrong.example.test")
        .unwrap();
    assert_eq!(wrong["target"]["certificate"]["client"], "acme.sh");
    assert_eq!(wrong["target"]["certificate"]["key"], "Le_Webroot");
    assert_eq!(
        wrong["target"]["certificate"]["challenge"]["path"],
        "/var/www/old"
    );
    assert_eq!(
        wrong["target"]["certificate"]["expiry"]["known"]["utc"],
        "2027-01-13T12:00:00Z"
    );

    let mut args = vec!["--all", "--client-root", root.as_str(), "--report"];
    args.extend_from_slice(OFFLINE);
    let run = acme_doctor(&args);
    assert!(
        run.stdout
            .starts_with("## Certificates renewed on this host"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("| acme.sh | wrong.example.test | http-01 webroot /var/www/old |"),
        "{}",
        run.stdout
    );
}

#[test]
fn client_config_adds_a_file_and_a_malformed_one_is_a_warning_with_file_and_line() {
    let t = ClientTree::new("extra");
    let fixture = std::fs::read_to_string("tests/fixtures/clients/web.example.test.conf").unwrap();
    // The renewal conf names its certificate by an absolute path, read under --client-root.
    let conf = t.write("/srv/certs/web.example.test.conf", &fixture);
    t.write(
        "/etc/letsencrypt/live/web.example.test/cert.pem",
        &std::fs::read_to_string("tests/fixtures/clients/certs/web.pem").unwrap(),
    );
    let broken = t.write(
        "/srv/certs/broken.conf",
        "version = 2.1.0\n[renewalparams]\nauthenticator = webroot\nwebroot_path\n",
    );
    let root = t.root();
    let mut args = vec![
        "--all",
        "--client-root",
        root.as_str(),
        "--client-config",
        conf.as_str(),
        "--client-config",
        broken.as_str(),
        "--color",
        "never",
    ];
    args.extend_from_slice(OFFLINE);
    let run = acme_doctor(&args);
    // A warning, never a crash: the diagnosis's own exit code stands.
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    // File and line are named; the line itself is never quoted.
    let want = format!("acme-doctor: warning: {broken}:4: not `key = value`\n");
    assert!(run.stderr.contains(&want), "stderr:\n{}", run.stderr);
    assert!(!run.stderr.contains("\"webroot_path\""), "{}", run.stderr);
    assert!(
        run.stdout.contains("web.example.test, www.example.test"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("expires 2026-12-30"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(&format!("{broken}:4: not `key = value`")),
        "{}",
        run.stdout
    );
}

#[test]
fn all_without_any_certificate_is_an_input_error() {
    let t = ClientTree::new("empty");
    let root = t.root();
    let run = acme_doctor(&["--all", "--client-root", &root]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    stderr_is_one_error_line(&run);
    assert!(
        run.stderr.contains("--all found no certificate"),
        "{}",
        run.stderr
    );
    let run = acme_doctor(&["--all", "--client-root", &root, "--json"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.json()["error"]["kind"], "input");
    // --all replaces the names; giving both is a usage error.
    assert_eq!(acme_doctor(&["--all", "example.test"]).code, 2);
}

/// A certbot renewal configuration for `names`, each with its own `[[webroot_map]]` entry.
fn certbot_conf(lineage: &str, names: &[String]) -> String {
    let mut conf = format!(
        "version = 2.1.0\ncert = /etc/letsencrypt/live/{lineage}/cert.pem\n\n[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n[[webroot_map]]\n"
    );
    for name in names {
        conf.push_str(&format!("{name} = /var/www/html\n"));
    }
    conf
}

/// Names looked up at a loopback port where nothing answers, many at once.
fn offline_many(mut args: Vec<&str>) -> Vec<&str> {
    args.extend_from_slice(OFFLINE);
    args.extend_from_slice(&["--jobs", "128"]);
    args
}

/// `--all` over 300 certbot certificates under `--json`: the host snapshot, which lists all
/// 300, is printed once at the top, not once per name (300 copies made 100 MB), and the
/// output stays within a bound linear in the names.
#[test]
fn all_over_300_certificates_prints_the_host_snapshot_once() {
    let t = ClientTree::new("many-confs");
    for i in 0..300 {
        let name = format!("n{i}.example.test");
        t.write(
            &format!("/etc/letsencrypt/renewal/{name}.conf"),
            &certbot_conf(&name, std::slice::from_ref(&name)),
        );
    }
    let root = t.root();
    let saved = t.0.join("saved.json");
    let saved_arg = saved.to_string_lossy().into_owned();
    let run = acme_doctor(&offline_many(vec![
        "--all",
        "--client-root",
        root.as_str(),
        "--json",
        "--save-facts",
        saved_arg.as_str(),
    ]));
    assert!(
        matches!(run.code, 0 | 1 | 3),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let batch = common::contract::parse_batch(&run.stdout);
    assert_eq!(batch.results.len(), 300);
    let host = batch.host.as_ref().expect("the host snapshot at the top");
    let listed = host.acme_clients.as_ref().expect("the clients' listing");
    assert_eq!(listed.certificates.len(), 300);
    assert!(batch.results.iter().all(|r| r.host.is_none()));
    assert_eq!(run.stdout.matches("\"acme_clients\"").count(), 1);
    // About 10 KB a name; a host snapshot per name is 300 times the listing.
    assert!(
        run.stdout.len() < 300 * 20_000,
        "{} bytes of JSON for 300 names",
        run.stdout.len()
    );
    // The facts file is one run: the host once, every target.
    let saved = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(saved.matches("\"acme_clients\"").count(), 1);
    let runs = acme_doctor::facts::from_json(serde_json::from_str(&saved).unwrap()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].targets.len(), 300);
}

/// Issue 21 item 5: the `--all` listing names one source for each name's webroot: its
/// `[[webroot_map]]` entry where it has one, `webroot_path` only for the names left, never both.
#[test]
fn the_all_listing_names_one_webroot_source_per_name() {
    let t = ClientTree::new("one-source");
    t.write(
        "/etc/letsencrypt/renewal/pair.example.test.conf",
        "version = 2.1.0\ncert = /etc/letsencrypt/live/pair.example.test/cert.pem\n\n[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n[[webroot_map]]\npair.example.test = /var/www/pair\n",
    );
    let root = t.root();
    let mut args = vec!["--all", "--client-root", root.as_str(), "--color", "never"];
    args.extend_from_slice(OFFLINE);
    // The names come from the configuration (no certificate file): only the mapped one.
    let run = acme_doctor(&args);
    let listing = run.stdout.split("\n\n").next().unwrap();
    assert!(
        listing.contains(
            "pair.example.test: http-01 webroot /var/www/pair (line 9 `[[webroot_map]] pair.example.test`)"
        ),
        "{listing}"
    );
    assert!(!listing.contains("webroot_path"), "{listing}");
    assert!(!listing.contains("/var/www/html"), "{listing}");

    // A second name without an entry: `webroot_path` is its source, and only its.
    t.write(
        "/etc/letsencrypt/live/pair.example.test/cert.pem",
        &std::fs::read_to_string("tests/fixtures/clients/certs/web.pem").unwrap(),
    );
    t.write(
        "/etc/letsencrypt/renewal/pair.example.test.conf",
        "version = 2.1.0\ncert = /etc/letsencrypt/live/pair.example.test/cert.pem\n\n[renewalparams]\nauthenticator = webroot\nwebroot_path = /var/www/html,\nserver = https://acme-v02.api.letsencrypt.org/directory\n[[webroot_map]]\nweb.example.test = /var/www/web\n",
    );
    let run = acme_doctor(&args);
    let listing = run.stdout.split("\n\n").next().unwrap();
    for want in [
        "web.example.test: http-01 webroot /var/www/web (line 9 `[[webroot_map]] web.example.test`)",
        "www.example.test: http-01 webroot /var/www/html (line 6 `webroot_path`)",
    ] {
        assert!(listing.contains(want), "missing {want:?} in:\n{listing}");
    }
    assert_eq!(listing.matches("webroot_path").count(), 1, "{listing}");
    // One row per name, each with its one source.
    for name in ["web.example.test:", "www.example.test:"] {
        assert_eq!(listing.matches(name).count(), 1, "{listing}");
    }
}

/// One certificate of 300 names with a `[[webroot_map]]`: each name's target carries its own
/// webroot entry, not the whole map, and `--ndjson` and `--report` print the host snapshot
/// once, so their size is linear in the names.
#[test]
fn a_large_webroot_map_is_printed_once_in_ndjson_and_the_report() {
    let t = ClientTree::new("webroot-map");
    let names: Vec<String> = (0..300).map(|i| format!("n{i}.big.example.test")).collect();
    t.write(
        "/etc/letsencrypt/renewal/big.example.test.conf",
        &certbot_conf("big.example.test", &names),
    );
    let root = t.root();
    let run = acme_doctor(&offline_many(vec![
        "--all",
        "--client-root",
        root.as_str(),
        "--ndjson",
    ]));
    assert!(matches!(run.code, 0 | 1 | 3), "{}", run.stderr);
    let mut lines = run.stdout.lines();
    let host = common::contract::parse_host_record(lines.next().expect("a host record"));
    let listed = host.host.acme_clients.expect("the clients' listing");
    assert_eq!(listed.certificates[0].webroots.len(), 300);
    let results: Vec<_> = lines.map(common::contract::parse_result).collect();
    assert_eq!(results.len(), 300);
    for r in &results {
        assert!(r.host.is_none(), "the host came before, once");
        let cert = r.target.certificate.as_ref().expect("its certificate");
        assert_eq!(cert.names, std::slice::from_ref(&r.target.domain));
        assert_eq!(cert.webroots.len(), 1, "its own webroot entry only");
        assert_eq!(cert.webroots[0].name, r.target.domain);
    }
    assert_eq!(run.stdout.matches("\"acme_clients\"").count(), 1);
    assert!(
        run.stdout.len() < 300 * 15_000,
        "{} bytes of NDJSON for 300 names",
        run.stdout.len()
    );

    let run = acme_doctor(&offline_many(vec![
        "--all",
        "--client-root",
        root.as_str(),
        "--report",
    ]));
    assert!(matches!(run.code, 0 | 1 | 3), "{}", run.stderr);
    assert_eq!(run.stdout.matches("## acme-doctor report: ").count(), 300);
    assert_eq!(run.stdout.matches("\"acme_clients\"").count(), 1);
    assert!(
        run.stdout.len() < 300 * 15_000,
        "{} bytes of report for 300 names",
        run.stdout.len()
    );
}

/// `--from-facts` reads every shape a saved `--json` has had. Schema 1 (the files under
/// `tests/fixtures/json-v1/` were printed by acme-doctor before the host left `facts`): each
/// domain's `facts` hold the whole run. Schema 2: the host once, beside one domain's facts,
/// above several, or as the first `--ndjson` line. A domain's object without any host
/// snapshot is refused, not diagnosed without one.
#[test]
fn from_facts_reads_saved_json_outputs_of_both_schemas() {
    let fixture = |name: &str| {
        format!(
            "{}/tests/fixtures/json-v1/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    };
    let one = fixture("one-domain.json");
    let v1 = common::contract::parse_v1(&std::fs::read_to_string(&one).unwrap());
    let run = acme_doctor(&["--json", "--from-facts", &one]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report = common::contract::parse(&run.stdout);
    assert_eq!(report.run_facts(), v1.facts, "schema 1's facts read whole");
    assert_eq!(report.verdict, v1.verdict);

    let two = fixture("two-domains.json");
    let v1: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&two).unwrap()).unwrap();
    let v1: Vec<_> = v1
        .iter()
        .map(|v| common::contract::parse_v1(&v.to_string()))
        .collect();
    let run = acme_doctor(&["--json", "--from-facts", &two]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let batch = common::contract::parse_batch(&run.stdout);
    assert_eq!(batch.results.len(), 2);
    // Two runs of two hosts: the second domain carries its own host.
    assert_eq!(batch.host.as_ref(), Some(&v1[0].facts.host));
    assert_eq!(batch.results[0].host, None);
    assert_eq!(batch.results[1].host.as_ref(), Some(&v1[1].facts.host));
    for (new, old) in batch.results.iter().zip(&v1) {
        assert_eq!(new.facts.targets, old.facts.targets);
        assert_eq!(new.verdict, old.verdict);
    }

    // Schema 2 saved and read back: `--json` of several domains, and `--ndjson` as an array.
    let scratch = Scratch::new("json-v2");
    let dir = scratch.0.clone();
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("batch.json");
    std::fs::write(&saved, &run.stdout).unwrap();
    let again = acme_doctor(&["--json", "--from-facts", saved.to_str().unwrap()]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert_eq!(
        again.stdout, run.stdout,
        "a saved --json re-diagnoses to itself"
    );
    let ndjson = acme_doctor(&["--ndjson", "--from-facts", &two]);
    let lines: Vec<&str> = ndjson.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "host, name, host of the second run, name");
    common::contract::parse_host_record(lines[0]);
    common::contract::parse_host_record(lines[2]);
    let as_array = dir.join("lines.json");
    std::fs::write(&as_array, format!("[{}]", lines.join(","))).unwrap();
    let again = acme_doctor(&["--json", "--from-facts", as_array.to_str().unwrap()]);
    assert_eq!(again.stdout, run.stdout, "--ndjson read as an array");
    // One result cut out of its output has no host snapshot.
    let alone = dir.join("alone.json");
    std::fs::write(&alone, lines[1]).unwrap();
    let refused = acme_doctor(&["--from-facts", alone.to_str().unwrap()]);
    assert_eq!(refused.code, 2);
    stderr_is_one_error_line(&refused);
    assert!(
        refused.stderr.contains("host snapshot"),
        "{}",
        refused.stderr
    );
}

/// A saved fixture, by name.
fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

/// Issue 19 item 6: a run incomplete only because it was seen from this host exits 3, and 0
/// under `--accept-host-only`, which changes the exit code and nothing of the facts: JSON keeps
/// `incomplete` and its kinds, and the human output still says it in one line, with how to
/// get a complete answer.
#[test]
fn accept_host_only_accepts_a_host_only_run_and_nothing_else() {
    let healthy = fixture("healthy-host");
    let strict = acme_doctor(&["--color", "never", "--from-facts", &healthy]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    assert!(
        strict
            .stdout
            .contains("incomplete (host-only): seen from this host only"),
        "each reason with its kind: {}",
        strict.stdout
    );
    assert!(
        strict.stdout.contains("--accept-host-only exits 0"),
        "the way out is named: {}",
        strict.stdout
    );
    let accepted = acme_doctor(&[
        "--color",
        "never",
        "--accept-host-only",
        "--from-facts",
        &healthy,
    ]);
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    let said: Vec<&str> = accepted
        .stdout
        .lines()
        .filter(|l| l.contains("seen from this host only"))
        .collect();
    assert_eq!(said.len(), 1, "one line: {}", accepted.stdout);
    assert!(
        said[0].contains("--ca-check") && said[0].contains("--vantage"),
        "{}",
        said[0]
    );
    assert!(
        accepted.stdout.contains("(incomplete)"),
        "{}",
        accepted.stdout
    );
    let json = acme_doctor(&["--json", "--accept-host-only", "--from-facts", &healthy]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let (report, value) = json.report();
    assert!(
        report.incomplete,
        "the exit code is the policy, not the facts"
    );
    assert_eq!(value["incomplete_kinds"], serde_json::json!(["host-only"]));
    assert_eq!(
        acme_doctor(&["--ndjson", "--accept-host-only", "--from-facts", &healthy]).code,
        0
    );

    // Another kind beside host-only (the firewall could not be read): still 3, and each
    // reason is printed with its kind.
    let unprivileged = fixture("unprivileged-host");
    let run = acme_doctor(&[
        "--color",
        "never",
        "--accept-host-only",
        "--from-facts",
        &unprivileged,
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stdout.contains("incomplete (firewall-unreadable):")
            && run.stdout.contains("incomplete (host-only):"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("(accepted"), "{}", run.stdout);

    // A blocker still exits 1, and --fail-on warning still counts a warning: the IPv4 drop
    // seen from the host only is at-risk.
    let seed = fixture("seed-host");
    assert_eq!(
        acme_doctor(&["--accept-host-only", "--from-facts", &seed]).code,
        1
    );
    let at_risk = fixture("fw-nft-elided-family-host");
    assert_eq!(
        acme_doctor(&["--accept-host-only", "--from-facts", &at_risk]).code,
        0
    );
    assert_eq!(
        acme_doctor(&[
            "--accept-host-only",
            "--fail-on",
            "warning",
            "--from-facts",
            &at_risk
        ])
        .code,
        1
    );
}

/// `--accept-host-only` over a batch: every name host-only gives 0, the summary says how many
/// were accepted; one name with another kind gives the batch 3.
#[test]
fn accept_host_only_over_a_batch() {
    let t = ClientTree::new("accept-host-only-batch");
    // Two names on the healthy host's facts: the saved run with a second target.
    let text = std::fs::read_to_string(fixture("healthy-host")).unwrap();
    let mut runs = acme_doctor::facts::from_json(serde_json::from_str(&text).unwrap()).unwrap();
    let mut second = runs[0].targets[0].clone();
    second.target.domain.input = "www.example.test".into();
    second.target.domain.ascii = "www.example.test".into();
    runs[0].targets.push(second);
    let batch = t.write("batch.json", &serde_json::to_string(&runs[0]).unwrap());
    let strict = acme_doctor(&["--color", "never", "--from-facts", &batch]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    let accepted = acme_doctor(&[
        "--color",
        "never",
        "--accept-host-only",
        "--from-facts",
        &batch,
    ]);
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    assert!(
        accepted
            .stdout
            .contains("2 incomplete (2 seen from this host only, accepted)"),
        "{}",
        accepted.stdout
    );
    let json = acme_doctor(&["--json", "--accept-host-only", "--from-facts", &batch]);
    assert_eq!(json.code, 0);
    let results = json.json()["results"].as_array().cloned().unwrap();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["incomplete"] == true));
    // A second file, of another host whose firewall could not be read (another kind), for
    // another name: the batch exits 3.
    let text = std::fs::read_to_string(fixture("unprivileged-host")).unwrap();
    let mut other = acme_doctor::facts::from_json(serde_json::from_str(&text).unwrap()).unwrap();
    other[0].targets[0].target.domain.input = "other.example.test".into();
    other[0].targets[0].target.domain.ascii = "other.example.test".into();
    let other = t.write("other.json", &serde_json::to_string(&other[0]).unwrap());
    let mixed = acme_doctor(&["--accept-host-only", "--from-facts", &batch, &other]);
    assert_eq!(mixed.code, 3, "{}{}", mixed.stdout, mixed.stderr);
}

/// `--all` with `--accept-host-only`: names whose resolver is silent (a loopback port where
/// nothing answers) miss more than the outside view, so the run still exits 3. (The lab's
/// healthy host exits 0 under `--all`: tests/lab.rs.)
#[test]
fn accept_host_only_under_all_accepts_no_other_kind() {
    let t = ClientTree::populated("accept-host-only-all");
    let root = t.root();
    let mut args = vec![
        "--all",
        "--client-root",
        root.as_str(),
        "--accept-host-only",
    ];
    args.extend_from_slice(OFFLINE);
    let run = acme_doctor(&args);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
}

/// Issue 19 item 3: `--ca-error -` reads the CA's words (here certbot's report, as the user
/// copies it) from standard input; on saved facts they decide the verdict.
#[test]
fn ca_error_from_stdin_joins_the_cas_words_with_saved_facts() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/healthy-host.json"
    );
    let paste = "Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:\n  Domain: example.test\n  Type:   connection\n  Detail: 2001:db8:2::10: Fetching http://example.test/.well-known/acme-challenge/T: Timeout during connect (likely firewall problem)\n\nHint: The Certificate Authority failed to download the temporary challenge files created by Certbot.\n";
    let run = acme_doctor_with_stdin(
        &["--json", "--from-facts", fixture, "--ca-error", "-"],
        paste,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let (report, _) = run.report();
    let top = &report.findings[0];
    assert_eq!(top.code, "blocked-upstream");
    assert_eq!(top.family.as_deref(), Some("ipv6"));
    assert!(top.ca_said);
    assert!(!report.incomplete, "{:?}", report.incomplete_reasons);
    // The words are kept in the facts, as pasted evidence.
    let ca = &report.facts.targets[0].ca;
    assert_eq!(ca.len(), 1, "{ca:?}");
    assert_eq!(ca[0].source, acme_doctor::facts::CaSource::Pasted);
    assert!(
        matches!(&ca[0].said, acme_doctor::facts::CaSaid::Words(w) if w.starts_with("Domain: example.test")),
        "{ca:?}"
    );
    // People read that the CA said it, not that it would.
    let run = acme_doctor_with_stdin(&["--from-facts", fixture, "--ca-error", "-"], paste);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("the CA said: 2001:db8:2::10: Fetching http://example.test/"),
        "{}",
        run.stdout
    );
}

/// Empty text, an empty standard input, or nothing of the CA's: one line, exit 2. Text read
/// only in part says what was not understood, and the run goes on.
#[test]
fn ca_error_input_that_is_not_the_cas_words_is_refused_in_one_line() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/healthy-host.json"
    );
    for (text, stdin) in [
        ("", ""),
        ("   ", ""),
        ("-", ""),
        ("-", "\n\n"),
        ("it does not work, please help", ""),
        (
            "{\"level\": \"info\", \"msg\": \"certificate obtained successfully\"}",
            "",
        ),
    ] {
        let run = acme_doctor_with_stdin(&["--from-facts", fixture, "--ca-error", text], stdin);
        assert_eq!(run.code, 2, "{text:?}: {}", run.stderr);
        stderr_is_one_error_line(&run);
        assert!(run.stderr.contains("--ca-error"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let run = acme_doctor(&[
        "--from-facts",
        fixture,
        "--ca-error",
        "my server says hello\nurn:ietf:params:acme:error:connection :: Connection refused",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("not understood: \"my server says hello\""),
        "{}",
        run.stderr
    );
    // Standard input is read once: the names or the CA's words.
    let run = acme_doctor_with_stdin(&["-", "--ca-error", "-"], "example.test\n");
    assert_eq!(run.code, 2);
    stderr_is_one_error_line(&run);
}
