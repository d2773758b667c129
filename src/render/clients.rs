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
        let _ = writeln!(
            out,
            "           {}{simulated}",
            clean(&c.challenge.describe())
        );
        for w in &c.webroots {
            let _ = writeln!(
                out,
                "           {}: webroot {} ({})",
                clean(&w.name),
                clean(&w.path),
                clean(&w.key)
            );
        }
        let _ = writeln!(
            out,
            "           expires {} · next try {}",
            clean(&expiry(c)),
            clean(&next_try(c))
        );
        let _ = writeln!(out, "           {}", p.dim(&clean(&origin(c))));
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
            cell(&origin(c))
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
