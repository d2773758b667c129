//! Terminal output: one line per finding, root causes first, evidence dimmed, `fix:` lines.

use super::path::{self, Mark, Path};
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

/// `IPv6  DNS ✔ AAAA 2001:db8::1 → connect :80 ✘ timeout → (firewall-drops: …)`, each mark in
/// its colour, the cause dimmed.
fn path_line(path: &Path, p: &Palette) -> String {
    let g = p.glyphs;
    let mut parts: Vec<String> = path
        .hops
        .iter()
        .map(|hop| {
            let glyph = g.mark(hop.mark);
            let mark = match hop.mark {
                Mark::Passed => p.pass(glyph),
                Mark::Warned => p.warning(glyph),
                Mark::Failed => p.blocker(glyph),
                Mark::Unknown | Mark::Absent => p.dim(glyph),
            };
            format!("{} {mark}{}", g.text(&hop.label), path::detail_text(hop, g))
        })
        .collect();
    if let Some(cause) = &path.cause {
        parts.push(p.dim(&path::cause_text(cause, g)));
    }
    format!(
        "{}{}",
        path::lane_text(path.lane),
        parts.join(&format!(" {} ", g.arrow()))
    )
}

/// Issue 20 item 4: where the name's method came from, when the header has something to say:
/// this host's ACME client configuration chose it, or `--method` overrode another one there.
/// Unsanitised: callers clean it for their output.
pub(crate) fn method_line(target: &crate::facts::TargetFacts) -> Option<String> {
    use crate::facts::MethodFrom;
    match target.method_from.as_ref()? {
        MethodFrom::Config { config } => Some(format!(
            "method: {}, from {}",
            config.method.as_str(),
            config.origin()
        )),
        MethodFrom::Given {
            config: Some(config),
        } => Some(format!(
            "method: {} (--method), while {} uses {}",
            target.method().as_str(),
            config.origin(),
            config.method.as_str()
        )),
        MethodFrom::Given { config: None } | MethodFrom::Assumed { .. } => None,
    }
}

pub fn render(outcomes: &[Outcome], p: &Palette, verbose: bool) -> String {
    render_with(outcomes, p, verbose, false)
}

/// As [`render`], under `--accept-host-only` when `accept_host_only`: a run that misses only
/// the outside view says so in one line, with how to get a complete answer.
pub fn render_with(
    outcomes: &[Outcome],
    p: &Palette,
    verbose: bool,
    accept_host_only: bool,
) -> String {
    let mut out = String::new();
    for (i, o) in outcomes.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, o, p, verbose, accept_host_only);
    }
    if outcomes.len() > 1 {
        summary(&mut out, outcomes, p, accept_host_only);
    }
    // Once per run: the usual reason for exit 3, and the ways out of it.
    if !accept_host_only
        && outcomes.iter().any(|o| {
            o.diagnosis
                .incomplete_kinds
                .contains(&crate::diagnose::IncompleteKind::HostOnly)
        })
    {
        out.push_str("\nnote: seen from this host only, so the run is incomplete (exit 3). For a complete answer, run with --ca-check (the CA validates for real) or add a vantage (--vantage URL); --accept-host-only exits 0 when that is all that is missing.\n");
    }
    if outcomes.iter().any(|o| o.diagnosis.content_unverified) {
        out.push_str("\nnote: a 404 for acme-doctor's random token means a web server answers here; the content the CA needs was not verified. Run with --webroot DIR (or --expect-body KEYAUTH) to fetch a real token as the CA does.\n");
    }
    out
}

/// After a batch: how many passed, are at risk or fail, and which top codes recur.
fn summary(out: &mut String, outcomes: &[Outcome], p: &Palette, accept_host_only: bool) {
    let count = |v: Verdict| outcomes.iter().filter(|o| o.diagnosis.verdict == v).count();
    let incomplete = outcomes.iter().filter(|o| o.diagnosis.incomplete).count();
    let accepted = outcomes
        .iter()
        .filter(|o| accept_host_only && o.diagnosis.incomplete_only_host_only())
        .count();
    let _ = writeln!(
        out,
        "\n{} names: {} pass, {} at risk, {} fail{}",
        outcomes.len(),
        p.pass(&count(Verdict::Pass).to_string()),
        p.warning(&count(Verdict::AtRisk).to_string()),
        p.blocker(&count(Verdict::Fail).to_string()),
        match (incomplete, accepted) {
            (0, _) => String::new(),
            (n, 0) => format!(", {n} incomplete"),
            (n, a) => format!(", {n} incomplete ({a} seen from this host only, accepted)"),
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

/// One finding, or one cause on both families: its line, then (for a root, or with `-v`)
/// its detail or notes, evidence, the CA's words and the fixes.
fn render_group(out: &mut String, group: &super::group::Group, p: &Palette, verbose: bool) {
    let finding = group.first();
    let explained = finding.explained_by.is_some();
    let indent = if explained { "    ↳ " } else { "" };
    let scope = match group.families() {
        Some(families) => match finding.port {
            Some(port) => format!(" {families} :{port}"),
            None => format!(" {families}"),
        },
        None => scope(finding),
    };
    let _ = writeln!(
        out,
        "{indent}{} [{}]{scope} {}",
        severity_label(p, finding.severity),
        finding.code,
        clean(&finding.title)
    );
    let pad = if explained { "        " } else { "    " };
    // Each other family's own words, where they differ (another address).
    for (family, title) in group.other_titles() {
        let _ = writeln!(out, "{pad}{}: {}", family.label(), clean(title));
    }
    if explained && !verbose {
        return;
    }
    let details = group.details();
    if verbose && details.iter().any(|d| !d.is_empty()) {
        for detail in details.iter().filter(|d| !d.is_empty()) {
            let _ = writeln!(out, "{pad}{}", clean(detail));
        }
    } else {
        // What a policy changed about the finding (a blocker shown as a warning) is said
        // even without -v: the severity alone would not tell why.
        for note in group.notes() {
            let _ = writeln!(out, "{pad}{}", p.dim(&format!("note: {}", note.text())));
        }
    }
    for e in group.evidence() {
        let _ = writeln!(out, "{pad}{}", p.dim(&format!("evidence: {}", clean(e))));
    }
    // The CA's own words (--ca-error, --ca-check) are quoted as said, not predicted.
    let verb = if finding.ca_said {
        "the CA said"
    } else {
        "the CA would say"
    };
    for ca in group.ca_errors() {
        let _ = writeln!(out, "{pad}{}", p.dim(&format!("{verb}: {}", clean(ca))));
    }
    for fix in group.fixes() {
        let _ = writeln!(out, "{pad}fix: {}", clean(fix));
    }
}

fn render_one(out: &mut String, o: &Outcome, p: &Palette, verbose: bool, accept_host_only: bool) {
    let d = &o.diagnosis;
    let target = &o.target.target;
    let verdict = match d.verdict {
        Verdict::Fail => p.blocker("FAIL"),
        Verdict::AtRisk => p.warning("AT RISK"),
        Verdict::Pass => p.pass("PASS"),
    };
    let count = |s| d.findings.iter().filter(|x| x.severity == s).count();
    // `(incomplete)` only when it is: no trailing spaces otherwise (issue 21 item 5).
    let _ = writeln!(
        out,
        "{} {}  {}{}",
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
            format!("  {}", p.warning("(incomplete)"))
        } else {
            String::new()
        },
    );
    if let Some(line) = method_line(o.target) {
        let _ = writeln!(out, "  {}", p.dim(&clean(&line)));
    }
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
    // The CA's path per family, as this run found it (issue 21 item 3).
    for path in path::paths(o.run, o.target, d) {
        let _ = writeln!(out, "  {}", path_line(&path, p));
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
    // One cause across families is one block naming both (issue 20 item 4); JSON keeps
    // one finding per family.
    for root in super::group::groups(&d.findings) {
        for group in root.flatten() {
            render_group(out, group, p, verbose);
        }
    }
    if accept_host_only && d.incomplete_only_host_only() {
        // Accepted, and still said: one line, and the way to a complete answer.
        let _ = writeln!(
            out,
            "  {} for a complete answer, run with --ca-check (the CA validates for real) or add a vantage (--vantage URL)",
            p.warning("seen from this host only (accepted by --accept-host-only):")
        );
    } else {
        for (kind, reason) in d.incomplete_lines() {
            let label = match kind {
                Some(kind) => format!("incomplete ({}):", kind.as_str()),
                None => "incomplete:".into(),
            };
            let _ = writeln!(out, "  {} {}", p.warning(&label), clean(reason));
        }
    }
    if let Some(top) = d.findings.first() {
        let _ = writeln!(
            out,
            "  {}",
            p.dim(&format!("more: acme-doctor explain {}", top.code))
        );
    }
}
