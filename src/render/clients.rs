//! `--all`: the certificates the ACME clients on this host renew, listed before the
//! diagnoses: names, client, method, webroot or port, expiry, next try, and the file and key
//! that decide them. Every value came from a file on disk, so every value is sanitised.

use super::Palette;
use crate::facts::{ClientsFacts, ManagedCert, NextTry, Probed};
use crate::sanitize;
use std::fmt::Write;

fn clean(text: &str) -> String {
    sanitize::line(text, 300)
}

/// `2026-12-30` of an RFC 3339 time.
fn day(utc: &str) -> &str {
    utc.get(..10).unwrap_or(utc)
}

pub fn expiry(c: &ManagedCert) -> String {
    match &c.expiry {
        Probed::Known(m) => day(&m.utc).to_string(),
        Probed::Unknown(why) => format!("unknown ({why})"),
    }
}

pub fn next_try(c: &ManagedCert) -> String {
    match &c.next_try {
        NextTry::At { at, rule } => format!("{} ({rule})", day(&at.utc)),
        NextTry::Unknown { why } => format!("unknown ({why})"),
    }
}

/// One line naming where the certificate's challenge is set.
pub fn origin(c: &ManagedCert) -> String {
    format!("{} `{}`", c.place(), c.key)
}

/// `line 17 `key``: where in its file a setting is, for rows that share the file.
fn at(line: Option<u32>, key: &str) -> String {
    match line {
        Some(n) => format!("line {n} `{key}`"),
        None => format!("`{key}`"),
    }
}

/// The names of a certificate with no per-name webroot, which the certificate's own
/// challenge key decides.
fn unmapped(c: &ManagedCert) -> Vec<&str> {
    c.names
        .iter()
        .filter(|n| !c.webroots.iter().any(|w| w.name.eq_ignore_ascii_case(n)))
        .map(String::as_str)
        .collect()
}

/// One source for each name's challenge (issue 21 item 5): a per-name webroot's own entry
/// (`[[webroot_map]]`, an `Le_Webroot` entry) for the names it covers, the certificate's key
/// (`webroot_path`) only for the names left, so no name is shown under two keys. Each is
/// `(names, challenge, where in the file)`.
fn sources(c: &ManagedCert) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = c
        .webroots
        .iter()
        .map(|w| {
            (
                w.name.clone(),
                crate::facts::Challenge::Webroot {
                    path: w.path.clone(),
                }
                .describe(),
                at(w.line, &w.key),
            )
        })
        .collect();
    let rest = unmapped(c);
    if !rest.is_empty() {
        rows.push((rest.join(", "), c.challenge.describe(), at(c.line, &c.key)));
    }
    rows
}

pub fn human(clients: &ClientsFacts, p: &Palette) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "{} certificate(s) renewed by ACME clients on this host",
            clients.certificates.len()
        ))
    );
    for c in &clients.certificates {
        let _ = writeln!(
            out,
            "  {:<8} {}",
            c.client.as_str(),
            p.bold(&clean(&c.names.join(", ")))
        );
        let simulated = if c.challenge.method().is_some() {
            ""
        } else {
            " (not checked: acme-doctor simulates http-01, dns-01 and tls-alpn-01)"
        };
        // Per-name webroots: a row per source, each naming its line; the file closes the
        // entry. Otherwise the challenge, and its file, line and key.
        if c.webroots.is_empty() {
            let _ = writeln!(
                out,
                "           {}{simulated}",
                clean(&c.challenge.describe())
            );
        } else {
            for (names, challenge, place) in sources(c) {
                let _ = writeln!(
                    out,
                    "           {}: {} ({})",
                    clean(&names),
                    clean(&challenge),
                    clean(&place)
                );
            }
        }
        let _ = writeln!(
            out,
            "           expires {} · next try {}",
            clean(&expiry(c)),
            clean(&next_try(c))
        );
        let file = if c.webroots.is_empty() {
            origin(c)
        } else {
            c.config.clone()
        };
        let _ = writeln!(out, "           {}", p.dim(&clean(&file)));
    }
    for w in &clients.warnings {
        let _ = writeln!(out, "  {} {}", p.warning("warning:"), clean(&w.to_string()));
    }
    for u in &clients.unreadable {
        let _ = writeln!(
            out,
            "  {} {}: {}",
            p.warning("unreadable:"),
            clean(&u.path),
            clean(&u.why.to_string())
        );
    }
    if clients.truncated {
        let _ = writeln!(
            out,
            "  (stopped at {} files)",
            super::super::probe::clients::FILES_CAP
        );
    }
    out.push('\n');
    out
}

/// Text for a Markdown table cell.
fn cell(text: &str) -> String {
    let mut out = String::new();
    for c in sanitize::line(text, 300).chars() {
        if "\\`*_[]<>|&!#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The report's "Config and key" cell: as in the human listing, one source per name; a long
/// map is cut short, since each name's own report names its entry.
fn report_origin(c: &ManagedCert) -> String {
    if c.webroots.is_empty() {
        return origin(c);
    }
    const SHOWN: usize = 10;
    let rows = sources(c);
    let mut parts: Vec<String> = rows
        .iter()
        .take(SHOWN)
        .map(|(names, _, place)| format!("{names}: {place}"))
        .collect();
    if rows.len() > SHOWN {
        parts.push(format!(
            "and {} more (each name's report names its own)",
            rows.len() - SHOWN
        ));
    }
    format!("{} ({})", c.config, parts.join("; "))
}

pub fn report(clients: &ClientsFacts) -> String {
    let mut out = String::from("## Certificates renewed on this host\n\n");
    let _ = writeln!(
        out,
        "| Client | Names | Method | Expires | Next try | Config and key |\n|---|---|---|---|---|---|"
    );
    for c in &clients.certificates {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(c.client.as_str()),
            cell(&c.names.join(", ")),
            cell(&c.challenge.describe()),
            cell(&expiry(c)),
            cell(&next_try(c)),
            cell(&report_origin(c))
        );
    }
    if !clients.warnings.is_empty() {
        out.push_str("\nConfiguration warnings:\n\n");
        for w in &clients.warnings {
            let _ = writeln!(out, "- {}", cell(&w.to_string()));
        }
    }
    out.push('\n');
    out
}
