//! The `--json` contract (README "JSON"): one object per domain, `schema_version` bumped on
//! any breaking change. Errors are JSON too, so a CI parser never
//! meets plain text.
//!
//! The host snapshot is printed once per output, never per domain: a domain's `facts` hold
//! its own facts, and the host sits beside them (one domain), at the top of the document
//! (several), or in a `"record": "host"` line before the names (`--ndjson`). A domain whose
//! run differs from the one before it (`--from-facts` joining files of several hosts) carries
//! its run's `host` itself.

use super::Outcome;
use crate::diagnose::{Finding, Verdict};
use crate::exit::ErrorKind;
use crate::facts::{HostFacts, TargetRun};
use serde::Serialize;
use std::io::Write;

/// 2: the host snapshot left `facts` and is printed once per output.
pub const SCHEMA_VERSION: u32 = 2;

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
    /// The identifier's value: a name (ASCII), or an address in the CA's canonical text.
    domain: &'a str,
    /// `dns` or `ip` (RFC 8738): what `domain` holds.
    identifier_type: &'static str,
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
    /// The kinds of `incomplete_reasons`, each once: what a CI policy filters on.
    incomplete_kinds: &'a [crate::diagnose::IncompleteKind],
    findings: &'a [Finding],
    facts: TargetRun<'a>,
    /// The run's host snapshot, where this domain's output does not already carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a HostFacts>,
    duration_ms: u64,
}

/// Several domains under `--json`: the host snapshot once, then the domains.
#[derive(Serialize)]
struct Batch<'a> {
    schema_version: u32,
    tool: Tool,
    host: Option<&'a HostFacts>,
    results: Vec<DomainReport<'a>>,
}

/// The first `--ndjson` line of a run, and the first line after a change of run.
#[derive(Serialize)]
struct HostRecord<'a> {
    schema_version: u32,
    tool: Tool,
    record: &'static str,
    host: &'a HostFacts,
}

/// Whether outcome `i` starts a run other than the one before it.
fn starts_run(outcomes: &[Outcome], i: usize) -> bool {
    i == 0 || !std::ptr::eq(outcomes[i - 1].run, outcomes[i].run)
}

fn report<'a>(o: &'a Outcome<'a>, host: Option<&'a HostFacts>) -> DomainReport<'a> {
    DomainReport {
        schema_version: SCHEMA_VERSION,
        tool: TOOL,
        index: o.index,
        target: TargetOut {
            domain: &o.target.target.domain.ascii,
            identifier_type: o.target.target.domain.kind(),
            method: o.target.method().as_str(),
            resolver: o.target.target.resolver.to_string(),
            certificate: o.target.certificate.as_ref(),
        },
        verdict: o.diagnosis.verdict,
        incomplete: o.diagnosis.incomplete,
        incomplete_reasons: &o.diagnosis.incomplete_reasons,
        incomplete_kinds: &o.diagnosis.incomplete_kinds,
        findings: &o.diagnosis.findings,
        facts: o.run.one(o.target),
        host,
        duration_ms: o.run.duration_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::diagnose;

    fn run() -> crate::facts::RunFacts {
        let text = include_str!("../../tests/fixtures/clients-standalone-between-runs-host.json");
        let mut runs = crate::facts::from_json(serde_json::from_str(text).unwrap()).unwrap();
        let mut run = runs.remove(0);
        let target = run.targets[0].clone();
        run.targets = vec![target.clone(), target.clone(), target];
        run
    }

    #[test]
    fn streamed_json_is_the_document_write_prints_in_input_order() {
        let run = run();
        let outcomes: Vec<Outcome> = run
            .targets
            .iter()
            .enumerate()
            .map(|(index, target)| Outcome {
                run: &run,
                target,
                diagnosis: diagnose(&run, target),
                index,
            })
            .collect();
        let mut stream = JsonStream::default();
        let mut text = JsonStream::head(&run.host);
        // Finished out of order: the third waits for the first two.
        assert_eq!(stream.push(&outcomes[2]), "");
        text.push_str(&stream.push(&outcomes[0]));
        text.push_str(&stream.push(&outcomes[1]));
        text.push_str(&stream.finish());
        assert_eq!(text, render(&outcomes));
        let empty = JsonStream::head(&run.host) + &JsonStream::default().finish();
        let value: serde_json::Value = serde_json::from_str(&empty).unwrap();
        assert_eq!(value["results"], serde_json::json!([]));
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

/// `--json`: an object for one domain with the host beside its `facts`; for several, one
/// object with the host once and the domains under `results`. Written straight to `out`, so
/// a large batch is never held as text.
pub fn write(outcomes: &[Outcome], out: &mut impl Write) -> std::io::Result<()> {
    // Buffered before the sanitiser, so that it sees large pieces rather than every token.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, Sanitizing::new(out));
    match outcomes {
        [one] => write_value(&report(one, Some(&one.run.host)), true, &mut out)?,
        _ => {
            let batch = Batch {
                schema_version: SCHEMA_VERSION,
                tool: TOOL,
                host: outcomes.first().map(|o| &o.run.host),
                results: outcomes
                    .iter()
                    .enumerate()
                    .map(|(i, o)| {
                        report(o, (i > 0 && starts_run(outcomes, i)).then_some(&o.run.host))
                    })
                    .collect(),
            };
            write_value(&batch, true, &mut out)?;
        }
    }
    out.write_all(b"\n")?;
    out.flush()
}

/// The head of a several-domain `--json` document, up to the opening of `results`.
#[derive(Serialize)]
struct BatchHead<'a> {
    schema_version: u32,
    tool: Tool,
    host: &'a HostFacts,
}

/// `--json` of several names written while the run goes on, in input order: each name is
/// diagnosed and encoded as it finishes, printed as soon as every name before it is, and its
/// facts dropped. Only names that finished ahead of an earlier one wait, as text. The
/// document is the one [`write`] prints for the same outcomes.
#[derive(Debug, Default)]
pub struct JsonStream {
    next: usize,
    waiting: std::collections::BTreeMap<usize, String>,
    written: usize,
}

impl JsonStream {
    /// Everything before the first result: the host snapshot, once.
    pub fn head(host: &HostFacts) -> String {
        let head = to_string(
            &BatchHead {
                schema_version: SCHEMA_VERSION,
                tool: TOOL,
                host,
            },
            true,
        );
        // The pretty object ends in "\n}": `results` continues it.
        let open = head.strip_suffix("\n}").unwrap_or(&head);
        format!("{open},\n  \"results\": [")
    }

    /// One finished name; returns the text that can be printed now.
    pub fn push(&mut self, o: &Outcome) -> String {
        // Inside `results` an object is indented by two levels; JSON strings hold no raw
        // line break, so indenting every line is exactly the nested pretty form.
        let item: String = to_string(&report(o, None), true)
            .lines()
            .map(|l| format!("\n    {l}"))
            .collect();
        self.waiting.insert(o.index, item);
        let mut out = String::new();
        while let Some(item) = self.waiting.remove(&self.next) {
            self.emit(&mut out, &item);
            self.next += 1;
        }
        out
    }

    /// What is left (names after one that never finished, when a signal stopped the run) and
    /// the end of the document.
    pub fn finish(&mut self) -> String {
        let mut out = String::new();
        for item in std::mem::take(&mut self.waiting).into_values() {
            self.emit(&mut out, &item);
        }
        out.push_str(if self.written == 0 {
            "]\n}\n"
        } else {
            "\n  ]\n}\n"
        });
        out
    }

    fn emit(&mut self, out: &mut String, item: &str) {
        if self.written > 0 {
            out.push(',');
        }
        // `item` starts with its own line break.
        out.push_str(item);
        self.written += 1;
    }
}

/// `--json` as text (tests and small outputs).
pub fn render(outcomes: &[Outcome]) -> String {
    let mut out = Vec::new();
    // Writing to memory fails only when serialising does, which `write_value` reports inline.
    let _ = write(outcomes, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `--ndjson` of a finished batch: the host record, then one compact object per line; a new
/// host record wherever the run changes.
pub fn render_ndjson(outcomes: &[Outcome]) -> String {
    let mut text = String::new();
    for (i, o) in outcomes.iter().enumerate() {
        if starts_run(outcomes, i) {
            text.push_str(&render_host_record(&o.run.host));
        }
        text.push_str(&render_ndjson_result(o));
    }
    text
}

/// The `--ndjson` line that carries the host snapshot, printed before the names it belongs to.
pub fn render_host_record(host: &HostFacts) -> String {
    to_string(
        &HostRecord {
            schema_version: SCHEMA_VERSION,
            tool: TOOL,
            record: "host",
            host,
        },
        false,
    ) + "\n"
}

/// One name's `--ndjson` line, without the host (its host record came before).
pub fn render_ndjson_result(o: &Outcome) -> String {
    to_string(&report(o, None), false) + "\n"
}

fn write_value<T: Serialize>(value: &T, pretty: bool, out: &mut impl Write) -> std::io::Result<()> {
    let result = if pretty {
        serde_json::to_writer_pretty(&mut *out, value)
    } else {
        serde_json::to_writer(&mut *out, value)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.is_io() => Err(std::io::Error::other(e)),
        // Serialising plain structs of strings and numbers cannot fail; say so if it ever does.
        Err(e) => write!(
            out,
            "{{\"error\":{{\"kind\":\"internal\",\"message\":\"JSON encoding failed: {e}\"}}}}"
        ),
    }
}

/// A writer that passes JSON text through [`crate::sanitize::json`] as it is written: a
/// crafted facts file or a hostile server must not reach a terminal through `jq`. A character
/// split across two writes waits for its last bytes.
struct Sanitizing<'w, W: Write> {
    inner: &'w mut W,
    pending: Vec<u8>,
}

impl<'w, W: Write> Sanitizing<'w, W> {
    fn new(inner: &'w mut W) -> Self {
        Sanitizing {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for Sanitizing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let (text, rest) = match std::str::from_utf8(&self.pending) {
            Ok(all) => (crate::sanitize::json(all), Vec::new()),
            // An incomplete character at the end: keep its bytes for the next write.
            Err(e) if e.error_len().is_none() => {
                let (done, tail) = self.pending.split_at(e.valid_up_to());
                (
                    crate::sanitize::json(&String::from_utf8_lossy(done)),
                    tail.to_vec(),
                )
            }
            Err(_) => (
                crate::sanitize::json(&String::from_utf8_lossy(&self.pending)),
                Vec::new(),
            ),
        };
        self.inner.write_all(text.as_bytes())?;
        self.pending = rest;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending.clear();
            self.inner
                .write_all(crate::sanitize::json(&text).as_bytes())?;
        }
        self.inner.flush()
    }
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
