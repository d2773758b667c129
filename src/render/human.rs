//! Terminal output: one line per finding, root causes first, evidence dimmed, `fix:` lines.

use super::{Outcome, Palette};
use crate::diagnose::{Finding, Severity, Verdict};
use crate::facts::Method;
use crate::sanitize;
use std::fmt::Write;

fn severity_label(p: &Palette, s: Severity) -> String {
    match s {
        Severity::Blocker => p.blocker("blocker"),
        Severity::Warning => p.warning("warning"),
        Severity::Info => p.info("info"),
    }
}

/// Findings quote facts, and facts may come from a file or a hostile server.
fn clean(text: &str) -> String {
    sanitize::line(text, 1000)
}

fn scope(f: &Finding) -> String {
    match (f.family, f.port) {
        (Some(fam), Some(port)) => format!(" {} :{port}", fam.as_str()),
        (Some(fam), None) => format!(" {}", fam.as_str()),
        (None, Some(port)) => format!(" :{port}"),
        (None, None) => String::new(),
    }
}

pub fn render(outcomes: &[Outcome], p: &Palette, verbose: bool) -> String {
    let mut out = String::new();
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, o, p, verbose);
    }
    if outcomes.len() > 1 {
        summary(&mut out, outcomes, p);
    }
    // Once per run.
    if outcomes.iter().any(|o| o.diagnosis.content_unverified) {
        out.push_str("\nnote: a 404 for acme-doctor's random token means a web server answers here; the content the CA needs was not verified. Run with --webroot DIR (or --expect-body KEYAUTH) to fetch a real token as the CA does.\n");
    }
    out
}

/// After a batch: how many passed, are at risk or fail, and which top codes recur.
fn summary(out: &mut String, outcomes: &[Outcome], p: &Palette) {
    let count = |v: Verdict| outcomes.iter().filter(|o| o.diagnosis.verdict == v).count();
    let incomplete = outcomes.iter().filter(|o| o.diagnosis.incomplete).count();
    let _ = writeln!(
        out,
        "\n{} names: {} pass, {} at risk, {} fail{}",
        outcomes.len(),
        p.pass(&count(Verdict::Pass).to_string()),
        p.warning(&count(Verdict::AtRisk).to_string()),
        p.blocker(&count(Verdict::Fail).to_string()),
        if incomplete > 0 {
            format!(", {incomplete} incomplete")
        } else {
            String::new()
        }
    );
    let mut tops: Vec<(String, usize)> = Vec::new();
    for o in outcomes {
        if let Some(top) = o.diagnosis.findings.first() {
            let code = top.code.to_string();
            match tops.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => tops.push((code, 1)),
            }
        }
    }
    tops.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (code, n) in tops {
        let _ = writeln!(out, "  {n:>5}  {code}");
    }
}

fn render_one(out: &mut String, o: &Outcome, p: &Palette, verbose: bool) {
    let d = &o.diagnosis;
    let target = &o.target.target;
    let verdict = match d.verdict {
        Verdict::Fail => p.blocker("FAIL"),
        Verdict::AtRisk => p.warning("AT RISK"),
        Verdict::Pass => p.pass("PASS"),
    };
    let count = |s| d.findings.iter().filter(|x| x.severity == s).count();
    let _ = writeln!(
        out,
        "{} {}  {}  {}",
        verdict,
        p.bold(&clean(&target.domain.input)),
        p.dim(&match target.domain.ip {
            // An IP identifier asks no resolver (docs/ca-behaviour.md §11.3).
            Some(_) => format!(
                "IP address · {} · no DNS · {} ms",
                o.target.method().as_str(),
                o.run.duration_ms
            ),
            None => format!(
                "{} · resolver {} · {} ms",
                o.target.method().as_str(),
                sanitize::line(&target.resolver.to_string(), 80),
                o.run.duration_ms
            ),
        }),
        if d.incomplete {
            p.warning("(incomplete)")
        } else {
            String::new()
        },
    );
    if let Some(c) = &o.target.certificate {
        let _ = writeln!(
            out,
            "  {}",
            p.dim(&clean(&format!(
                "certificate: {} {} · {} · expires {} · {}",
                c.client,
                c.name,
                c.challenge.describe(),
                super::clients::expiry(c),
                super::clients::origin(c)
            )))
        );
    }
    // Issue 19 item 1: a --ca-check that ran says so, with what it cost.
    for line in super::cacheck::lines(o.target) {
        let _ = writeln!(out, "  {}", p.dim(&line));
    }
    let (b, w) = (count(Severity::Blocker), count(Severity::Warning));
    if d.findings.is_empty() {
        let _ = match o.target.method() {
            Method::Http01 => writeln!(
                out,
                "  no problem found: the CA should be able to fetch http://{}/.well-known/acme-challenge/",
                clean(&target.domain.url_host())
            ),
            Method::Dns01 => writeln!(
                out,
                "  no problem found: the CA should find the TXT record at _acme-challenge.{}",
                clean(&target.domain.ascii)
            ),
            Method::TlsAlpn01 => writeln!(
                out,
                "  no problem found: the CA should get the challenge certificate from {} port 443 (ALPN acme-tls/1)",
                clean(&target.domain.ascii)
            ),
        };
    } else {
        let _ = writeln!(out, "  {b} blocker(s), {w} warning(s)");
    }
    // Who looked from outside, and whether each answered.
    if !o.target.vantages.is_empty() {
        let views: Vec<String> = o
            .target
            .vantages
            .iter()
            .map(|v| {
                format!(
                    "{} ({})",
                    sanitize::line(&v.vantage, 120),
                    if v.observation().is_some() {
                        "answered"
                    } else {
                        "no answer"
                    }
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  {}",
            p.dim(&format!("seen from outside by {}", views.join(", ")))
        );
    }
    for finding in &d.findings {
        let explained = finding.explained_by.is_some();
        let indent = if explained { "    ↳ " } else { "" };
        let _ = writeln!(
            out,
            "{indent}{} [{}]{} {}",
            severity_label(p, finding.severity),
            finding.code,
            scope(finding),
            clean(&finding.title)
        );
        if explained && !verbose {
            continue;
        }
        let pad = if explained { "        " } else { "    " };
        let detail = finding.full_detail();
        if !detail.is_empty() && verbose {
            let _ = writeln!(out, "{pad}{}", clean(&detail));
        }
        for e in &finding.evidence {
            let _ = writeln!(out, "{pad}{}", p.dim(&format!("evidence: {}", clean(e))));
        }
        if let Some(ca) = &finding.ca_error {
            // The CA's own words (--ca-error, --ca-check) are quoted as said, not predicted.
            let verb = if finding.ca_said {
                "the CA said"
            } else {
                "the CA would say"
            };
            let _ = writeln!(out, "{pad}{}", p.dim(&format!("{verb}: {}", clean(ca))));
        }
        for fix in &finding.fix {
            let _ = writeln!(out, "{pad}fix: {}", clean(fix));
        }
    }
    for reason in &d.incomplete_reasons {
        let _ = writeln!(out, "  {} {}", p.warning("incomplete:"), clean(reason));
    }
    if let Some(top) = d.findings.first() {
        let _ = writeln!(
            out,
            "  {}",
            p.dim(&format!("more: acme-doctor explain {}", top.code))
        );
    }
}
