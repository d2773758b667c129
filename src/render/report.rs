//! `--report`: Markdown for a support ticket or forum post. No ANSI; every cell escaped.

use super::Outcome;
use crate::diagnose::Verdict;
use crate::facts::{Probed, RunFacts};
use crate::sanitize;
use std::fmt::Write;

/// Text for a table cell or inline prose: sanitised, pipes escaped, one line.
fn cell(text: &str) -> String {
    // Backslash-escape what Markdown or HTML would act on: no link, image, emphasis, code
    // span, raw HTML or table break can come from a hostile server or a customer's file.
    let mut out = String::new();
    for c in sanitize::line(text, 500).chars() {
        if "\\`*_[]<>|&!#".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text inside a code span: backticks cannot be escaped there, so they are replaced.
fn code(text: &str) -> String {
    format!("`{}`", sanitize::line(text, 500).replace('`', "'"))
}

/// One section per domain, then the facts once per run: the host snapshot is printed once,
/// however many names, and the block is a facts file that re-diagnoses every one of them.
pub fn render(outcomes: &[Outcome], invocation: &str) -> String {
    let mut out = String::new();
    for (i, o) in outcomes.iter().enumerate() {
        render_one(&mut out, o, invocation);
        let run_ends = outcomes
            .get(i + 1)
            .is_none_or(|next| !std::ptr::eq(next.run, o.run));
        if run_ends {
            render_facts(&mut out, o.run);
        }
    }
    out
}

fn render_one(out: &mut String, o: &Outcome, invocation: &str) {
    let run = o.run;
    let target = &o.target.target;
    let d = &o.diagnosis;
    let verdict = match d.verdict {
        Verdict::Fail => "FAIL",
        Verdict::AtRisk => "AT RISK",
        Verdict::Pass => "PASS",
    };
    let kernel = match &run.host.kernel {
        Probed::Known(k) => k.clone(),
        Probed::Unknown(why) => format!("unknown ({why})"),
    };
    let _ = writeln!(
        out,
        "## acme-doctor report: {}\n",
        cell(&target.domain.ascii)
    );
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(
        out,
        "| Verdict | **{verdict}**{} |",
        if d.incomplete { " (incomplete)" } else { "" }
    );
    let _ = writeln!(out, "| Tool | acme-doctor {} |", cell(&run.tool_version));
    let _ = writeln!(out, "| Kernel | {} |", cell(&kernel));
    let _ = writeln!(out, "| Invocation | {} |", code(invocation));
    let _ = writeln!(out, "| Time | {} |", cell(&run.started_at));
    // Issue 20 item 4: where the method came from, when this host's configuration decided.
    match super::human::method_line(o.target) {
        Some(line) => {
            let _ = writeln!(
                out,
                "| Method | {} |",
                cell(line.trim_start_matches("method: "))
            );
        }
        None => {
            let _ = writeln!(out, "| Method | {} |", o.target.method().as_str());
        }
    }
    match target.domain.ip {
        Some(_) => {
            let _ = writeln!(out, "| Identifier | IP address (RFC 8738) |");
            let _ = writeln!(out, "| Resolver | not asked: an IP identifier has no DNS |");
        }
        None => {
            let _ = writeln!(out, "| Resolver | {} |", cell(&target.resolver.to_string()));
        }
    }
    if let Some(c) = &o.target.certificate {
        let _ = writeln!(
            out,
            "| Certificate | {} {}, {}, expires {}, set in {} |",
            cell(c.client.as_str()),
            cell(&c.name),
            cell(&c.challenge.describe()),
            cell(&super::clients::expiry(c)),
            cell(&super::clients::origin(c))
        );
    }
    // Issue 19 item 1: a --ca-check that ran says so, with what it cost.
    for line in super::cacheck::lines(o.target) {
        let _ = writeln!(
            out,
            "| CA check | {} |",
            cell(line.trim_start_matches("CA check: "))
        );
    }
    let _ = writeln!(out, "| Duration | {} ms |\n", run.duration_ms);
    // The CA's path per family as a Mermaid flowchart, which GitHub and GitLab draw (issue 21
    // item 3). Its labels are escaped for Mermaid and hold no backtick, so the fence holds.
    let paths = super::path::paths(run, o.target, d);
    if !paths.is_empty() {
        let _ = writeln!(
            out,
            "### The CA's path\n\n```mermaid\n{}```\n",
            super::path::mermaid(&paths)
        );
    }

    if d.findings.is_empty() {
        let _ = writeln!(out, "No problem found.\n");
    } else {
        let _ = writeln!(out, "### Findings\n");
        let _ = writeln!(
            out,
            "| # | Severity | Code | Family | Port | Finding | Explained by |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        // One row per cause: both families in one row, each family's words where they
        // differ (issue 20 item 4); JSON keeps one finding per family.
        let groups = super::group::groups(&d.findings);
        for (i, group) in groups.iter().flat_map(|g| g.flatten()).enumerate() {
            let x = group.first();
            let families: Vec<&str> = group
                .findings
                .iter()
                .filter_map(|f| f.family.map(|fam| fam.as_str()))
                .collect();
            let mut title = cell(&x.title);
            for (family, other) in group.other_titles() {
                title.push_str(&format!("; {}: {}", family.label(), cell(other)));
            }
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | {} | {} | {} | {} |",
                i + 1,
                x.severity.as_str(),
                x.code,
                families.join(", "),
                x.port.map(|p| p.to_string()).unwrap_or_default(),
                title,
                x.explained_by.map(|c| format!("`{c}`")).unwrap_or_default()
            );
        }
        out.push('\n');
    }
    for (kind, reason) in d.incomplete_lines() {
        match kind {
            Some(kind) => {
                let _ = writeln!(out, "- Incomplete (`{}`): {}", kind.as_str(), cell(reason));
            }
            None => {
                let _ = writeln!(out, "- Incomplete: {}", cell(reason));
            }
        }
    }
    if !d.incomplete_reasons.is_empty() {
        out.push('\n');
    }
    // The top cause, on every family it holds (issue 20 item 4).
    let groups = super::group::groups(&d.findings);
    if let Some(group) = groups.first() {
        let top = group.first();
        match group.families() {
            Some(families) => {
                let _ = writeln!(out, "### Top finding: `{}` ({families})\n", top.code);
            }
            None => {
                let _ = writeln!(out, "### Top finding: `{}`\n", top.code);
            }
        }
        for detail in group.details() {
            let _ = writeln!(out, "{}\n", cell(&detail));
        }
        let evidence = group.evidence();
        if !evidence.is_empty() {
            let _ = writeln!(out, "Evidence:\n");
            for e in evidence {
                let _ = writeln!(out, "- {}", code(e));
            }
            out.push('\n');
        }
        let verb = if top.ca_said {
            "The CA reported"
        } else {
            "The CA would report"
        };
        for ca in group.ca_errors() {
            let _ = writeln!(out, "{verb}: {}\n", code(ca));
        }
        let fixes = group.fixes();
        if !fixes.is_empty() {
            let _ = writeln!(out, "Fix:\n");
            for fix in fixes {
                let _ = writeln!(out, "- {}", code(fix));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "<details><summary>What <code>{}</code> means (acme-doctor explain {})</summary>\n\n{}\n</details>\n",
            top.code,
            top.code,
            shift_headings(top.code.explanation())
        );
    }
}

/// The run's facts without its firewall, once per run (after its last domain).
fn render_facts(out: &mut String, run: &RunFacts) {
    // The firewall dumps stay out of a report meant to be pasted in public: they are long and
    // say more about the host than a forum needs. `--save-facts` keeps them for a private
    // re-diagnosis.
    let mut host = run.host.clone();
    let firewall_omitted = host.firewall.take().is_some();
    let facts_json = serde_json::to_string_pretty(&run.with_host(&host))
        .unwrap_or_else(|e| format!("(facts could not be encoded: {e})"));
    if firewall_omitted {
        let _ = writeln!(
            out,
            "The facts below omit the firewall ruleset (`host.firewall` is null); share a `--save-facts` file privately to re-diagnose the firewall too.\n"
        );
    }
    // A fence longer than any backtick run inside keeps the block closed.
    let fence = "`".repeat(longest_backtick_run(&facts_json).max(2) + 1);
    let _ = writeln!(
        out,
        "<details><summary>Facts (JSON, re-diagnose with <code>acme-doctor --from-facts FILE</code>)</summary>\n\n{fence}json\n{}\n{fence}\n</details>\n",
        sanitize::block(&facts_json, usize::MAX)
    );
}

/// The catalogue's `#` and `##` become `####` and `#####`, under the report's own headings.
fn shift_headings(markdown: &str) -> String {
    markdown
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("###{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}
