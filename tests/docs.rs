//! The documents that name tests stay true: every test `docs/security.md` cites as proof
//! exists in the file it names.

// Tests panic on purpose: a broken fixture should stop them loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// The backticked spans of `text`.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// A test name as the document writes one: snake_case with at least three words.
fn looks_like_a_test(span: &str) -> bool {
    span.matches('_').count() >= 2
        && span
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[test]
fn every_test_the_security_document_cites_exists_where_it_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/security.md")).unwrap();
    let mut checked = 0;
    let mut missing = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        // The last cell is the proof: `file::name`, `file`: `name`, `…_suffix` shorthand.
        let proof = line.trim_end_matches('|').rsplit('|').next().unwrap_or("");
        let mut file: Option<String> = None;
        for span in code_spans(proof) {
            let (path, name) = match span.split_once("::") {
                Some((p, n)) => (Some(p), n),
                None if span.ends_with(".rs") => (Some(span), ""),
                None => (None, span),
            };
            if let Some(p) = path.filter(|p| p.ends_with(".rs")) {
                assert!(
                    root.join(p).is_file(),
                    "docs/security.md names {p}, which does not exist"
                );
                file = Some(p.to_string());
            }
            // `…_in_a_list_file` abbreviates the name before it in the same cell.
            if name.starts_with('…') {
                continue;
            }
            let name = name.to_string();
            if !looks_like_a_test(&name) {
                continue;
            }
            let Some(f) = &file else {
                missing.push(format!("{name} (no file named before it)"));
                continue;
            };
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            if !text.contains(&format!("fn {name}(")) {
                missing.push(format!("{f}::{name}"));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 30,
        "only {checked} tests found: the table format changed?"
    );
    assert!(
        missing.is_empty(),
        "docs/security.md cites tests that do not exist: {missing:#?}"
    );
}

/// A span that names a file or folder of the repository: `src/probe/mod.rs`,
/// `diagnose/checks/host.rs` (under `src/`), `checks/port-refused.md`, `tests/lab.rs`.
fn names_a_path(span: &str) -> bool {
    let pathlike = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    let known_ext = [".rs", ".md", ".txt", ".sh", ".toml"]
        .iter()
        .any(|e| span.ends_with(e));
    pathlike && span.contains('/') && (known_ext || span.ends_with('/'))
}

#[test]
fn every_file_the_architecture_document_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let mut checked = 0;
    let mut missing = Vec::new();
    for span in code_spans(&doc).into_iter().filter(|s| names_a_path(s)) {
        checked += 1;
        // A path is written from the repository's root or, in the tables, from `src/`.
        let exists = root.join(span).exists() || root.join("src").join(span).exists();
        if !exists {
            missing.push(span);
        }
    }
    assert!(
        checked > 50,
        "only {checked} paths found: the span reader is broken"
    );
    assert!(
        missing.is_empty(),
        "docs/architecture.md names files that do not exist: {missing:?}"
    );
}
