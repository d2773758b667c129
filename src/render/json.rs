//! The `--json` contract (README "JSON"): one object per domain, `schema_version` bumped on
//! any breaking change. Errors are JSON too, so a CI parser never
//! meets plain text.

use super::Outcome;
use crate::cli::ErrorKind;
use crate::diagnose::{Finding, Verdict};
use crate::facts::RunOfOne;
use serde::Serialize;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

pub const TOOL: Tool = Tool {
    name: "acme-doctor",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Serialize)]
struct TargetOut<'a> {
    domain: &'a str,
    method: &'static str,
    resolver: String,
    /// `--all`: the certificate this name was checked for (client, file, key, challenge,
    /// expiry, next try).
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<&'a crate::facts::ManagedCert>,
}

#[derive(Serialize)]
struct DomainReport<'a> {
    schema_version: u32,
    tool: Tool,
    /// Position in the input: `--ndjson` prints in completion order.
    index: usize,
    target: TargetOut<'a>,
    verdict: Verdict,
    incomplete: bool,
    incomplete_reasons: &'a [String],
    findings: &'a [Finding],
    facts: RunOfOne<'a>,
    duration_ms: u64,
}

fn report<'a>(o: &'a Outcome<'a>) -> DomainReport<'a> {
    DomainReport {
        schema_version: SCHEMA_VERSION,
        tool: TOOL,
        index: o.index,
        target: TargetOut {
            domain: &o.target.target.domain.ascii,
            method: o.target.method().as_str(),
            resolver: o.target.target.resolver.to_string(),
            certificate: o.target.certificate.as_ref(),
        },
        verdict: o.diagnosis.verdict,
        incomplete: o.diagnosis.incomplete,
        incomplete_reasons: &o.diagnosis.incomplete_reasons,
        findings: &o.diagnosis.findings,
        facts: o.run.one(o.target),
        duration_ms: o.run.duration_ms,
    }
}

fn to_string<T: Serialize>(value: &T, pretty: bool) -> String {
    let result = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    // Serialising plain structs of strings and numbers cannot fail; say so if it ever does.
    let text = result.unwrap_or_else(|e| {
        format!("{{\"error\":{{\"kind\":\"internal\",\"message\":\"JSON encoding failed: {e}\"}}}}")
    });
    // A crafted facts file or a hostile server must not reach a terminal through `jq`.
    crate::sanitize::json(&text)
}

/// `--json`: an object for one domain, an array for several.
pub fn render(outcomes: &[Outcome]) -> String {
    let reports: Vec<DomainReport> = outcomes.iter().map(report).collect();
    if reports.len() == 1 {
        to_string(&reports[0], true)
    } else {
        to_string(&reports, true)
    }
}

/// `--ndjson`: one compact object per line.
pub fn render_ndjson(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .map(|o| to_string(&report(o), false) + "\n")
        .collect()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    kind: ErrorKind,
    message: &'a str,
}

#[derive(Serialize)]
struct ErrorReport<'a> {
    schema_version: u32,
    tool: Tool,
    error: ErrorBody<'a>,
}

/// A tool error (exit 2) as JSON: `kind` is `usage`, `input` or `internal`. Pretty for
/// `--json`, one line for `--ndjson`.
pub fn render_error(kind: ErrorKind, message: &str, pretty: bool) -> String {
    to_string(
        &ErrorReport {
            schema_version: SCHEMA_VERSION,
            tool: TOOL,
            error: ErrorBody {
                kind,
                message: &crate::sanitize::line(message, 2000),
            },
        },
        pretty,
    )
}

#[derive(Serialize)]
struct Unfinished<'a> {
    index: usize,
    domain: &'a str,
}

#[derive(Serialize)]
struct InterruptedBody<'a> {
    signal: &'a str,
    finished: usize,
    unfinished: Vec<Unfinished<'a>>,
}

#[derive(Serialize)]
struct InterruptedReport<'a> {
    schema_version: u32,
    tool: Tool,
    interrupted: InterruptedBody<'a>,
}

/// The last `--ndjson` line of a run a signal stopped: how many names finished (their lines
/// came before) and which did not, by input index.
pub fn render_interrupted(signal: &str, finished: usize, unfinished: &[(usize, &str)]) -> String {
    to_string(
        &InterruptedReport {
            schema_version: SCHEMA_VERSION,
            tool: TOOL,
            interrupted: InterruptedBody {
                signal,
                finished,
                unfinished: unfinished
                    .iter()
                    .map(|(index, domain)| Unfinished {
                        index: *index,
                        domain,
                    })
                    .collect(),
            },
        },
        false,
    )
}
