//! `--all`: the certificates the ACME clients on this host renew, listed before the
//! diagnoses: names, client, method, webroot or port, expiry, next try, and the file and key
//! that decide them. Every value came from a file on disk, so every value is sanitised.

use super::Palette;
use crate::diagnose::Diagnosis;
use crate::facts::{ClientsFacts, ManagedCert, NextTry, Probed};
use crate::sanitize;
use std::collections::HashMap;
use std::fmt::Write;

/// Today's diagnoses by name: what the listing holds each certificate's last logged failure
/// against (issue 19 item 4).
#[derive(Default)]
pub struct Today<'a> {
    by_name: HashMap<String, &'a Diagnosis>,
}

impl<'a> Today<'a> {
    pub fn new(diagnoses: impl IntoIterator<Item = (&'a str, &'a Diagnosis)>) -> Today<'a> {
        Today {
            by_name: diagnoses
                .into_iter()
                .map(|(name, d)| (name.to_ascii_lowercase(), d))
                .collect(),
        }
    }

    /// Whether today's diagnosis explains the certificate's logged failure, in words: from the
    /// `ca-logged-failure` finding of the first of its names that has one. None when no
    /// diagnosis of its names weighed it (not checked, or nothing logged).
    pub fn explains(&self, c: &ManagedCert) -> Option<String> {
        c.last_failure.as_ref()?;
        c.names.iter().find_map(|name| {
            let d = self.by_name.get(&name.to_ascii_lowercase())?;
            let f = d
                .findings
                .iter()
                .find(|f| f.code == crate::diagnose::Code::CaLoggedFailure)?;
            Some(match f.explained_by {
                Some(code) => format!("today's diagnosis of {name} explains it: {code}"),
                None => format!(
                    "today's diagnosis of {name} explains nothing: fixed since, transient, or seen only by the CA (run --ca-check)"
                ),
            })
        })
    }
}

/// `last failure: 2026-12-07 18:45:27 UTC, the CA said: …`, the words on one line, and where
/// it was logged.
pub fn last_failure(c: &ManagedCert) -> Option<(String, String)> {
    let f = c.last_failure.as_ref()?;
    let when = match &f.at {
        Some(m) => m.utc.replacen('T', " ", 1).replace('Z', " UTC"),
        None => "time not logged".to_string(),
    };
    let words = f.words.split_whitespace().collect::<Vec<_>>().join(" ");
    let place = match f.line {
        Some(n) => format!("{}:{n}", f.file),
        None => f.file.clone(),
    };
    Some((
        format!(
            "last failure: {when}, the CA said: {}",
            sanitize::line(&words, 240)
        ),
        place,
    ))
}

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

pub fn human(clients: &ClientsFacts, today: &Today, p: &Palette) -> String {
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
        // Issue 19 item 4: what the client last logged, and whether today explains it.
        if let Some((line, place)) = last_failure(c) {
            let _ = writeln!(
                out,
                "           {} {}",
                p.warning(&clean(&line)),
                p.dim(&format!("({})", clean(&place)))
            );
            if let Some(verdict) = today.explains(c) {
                let _ = writeln!(out, "           {}", clean(&verdict));
            }
        }
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

pub fn report(clients: &ClientsFacts, today: &Today) -> String {
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
    // Issue 19 item 4: each certificate's last logged failure, after the table.
    let failed: Vec<&ManagedCert> = clients
        .certificates
        .iter()
        .filter(|c| c.last_failure.is_some())
        .collect();
    if !failed.is_empty() {
        out.push_str("\nLast failures the clients logged:\n\n");
        for c in failed {
            if let Some((line, place)) = last_failure(c) {
                let verdict = today
                    .explains(c)
                    .map(|v| format!(" ({})", cell(&v)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- {}: {} ({}){verdict}",
                    cell(&c.names.join(", ")),
                    cell(&line),
                    cell(&place)
                );
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Code, Finding, Severity};
    use crate::facts::{AcmeClient, Challenge, LoggedFailure, Moment, Unknown};

    fn cert() -> ManagedCert {
        let mut c = crate::probe::clients::plan(
            AcmeClient::Certbot,
            "web.example.test".into(),
            std::path::Path::new("/etc/letsencrypt/renewal/web.example.test.conf"),
            "webroot_path",
            Some(9),
            vec!["web.example.test".into(), "www.example.test".into()],
            Challenge::Webroot {
                path: "/var/www/html".into(),
            },
            None,
        );
        c.expiry = Probed::Unknown(Unknown::failed("test"));
        c.last_failure = Some(LoggedFailure {
            at: Some(Moment::from_unix(1_796_670_000)),
            file: "/var/log/letsencrypt/letsencrypt.log.1".into(),
            line: Some(7),
            words: "Domain: www.example.test\nType:   connection\nDetail: 192.0.2.10: Fetching http://www.example.test/.well-known/acme-challenge/x: Timeout during connect (likely firewall problem)".into(),
        });
        c
    }

    fn diagnosis(findings: Vec<Finding>) -> Diagnosis {
        Diagnosis {
            verdict: crate::diagnose::Verdict::AtRisk,
            incomplete: false,
            incomplete_reasons: Vec::new(),
            incomplete_kinds: Vec::new(),
            incomplete_reason_kinds: Vec::new(),
            findings,
            content_unverified: false,
        }
    }

    /// The CA vocabulary module's `ca-logged-failure` finding: the listing reads its
    /// `explained_by` only.
    fn logged(explained_by: Option<Code>) -> Finding {
        let mut f = Finding::new(Code::CaLoggedFailure, Severity::Info, "logged");
        f.explained_by = explained_by;
        f
    }

    #[test]
    fn the_listing_shows_the_last_failure_and_what_today_says() {
        let clients = ClientsFacts {
            certificates: vec![cert()],
            ..ClientsFacts::default()
        };
        let p = Palette {
            enabled: false,
            glyphs: super::super::path::Glyphs::Ascii,
        };
        let text = human(&clients, &Today::default(), &p);
        assert!(
            text.contains("last failure: 2026-12-07 ") && text.contains(" UTC, the CA said: Domain: www.example.test Type: connection Detail: 192.0.2.10: Fetching"),
            "{text}"
        );
        assert!(
            text.contains("(/var/log/letsencrypt/letsencrypt.log.1:7)"),
            "{text}"
        );
        assert!(
            !text.contains("today's diagnosis"),
            "no diagnosis, no claim: {text}"
        );
        let report = report(&clients, &Today::default());
        assert!(
            report.contains("Last failures the clients logged:"),
            "{report}"
        );
        assert!(report.contains("last failure: 2026"), "{report}");
    }

    /// The verdict comes from the `explained_by` of the diagnosis's `ca-logged-failure`
    /// finding (a hand-made Diagnosis), and from no other finding.
    #[test]
    fn todays_verdict_is_read_from_explained_by() {
        let mut c = cert();
        let explained = diagnosis(vec![logged(Some(Code::Ipv6Disabled))]);
        let unexplained = diagnosis(vec![logged(None)]);
        assert_eq!(
            Today::new([("www.example.test", &explained)])
                .explains(&c)
                .as_deref(),
            Some("today's diagnosis of www.example.test explains it: ipv6-disabled")
        );
        let nothing = Today::new([("WWW.example.test", &unexplained)]).explains(&c);
        assert!(
            nothing
                .as_deref()
                .is_some_and(|v| v.contains("explains nothing") && v.contains("--ca-check")),
            "{nothing:?}"
        );
        // Another finding is not the logged failure's verdict.
        let mut other = logged(Some(Code::Ipv6Disabled));
        other.code = Code::FirewallDrops;
        assert_eq!(
            Today::new([("www.example.test", &diagnosis(vec![other]))]).explains(&c),
            None
        );
        // A name not diagnosed today, or no logged failure: no claim.
        assert_eq!(
            Today::new([("other.example.test", &explained)]).explains(&c),
            None
        );
        c.last_failure = None;
        assert_eq!(
            Today::new([("www.example.test", &explained)]).explains(&c),
            None
        );
    }
}
