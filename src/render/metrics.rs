//! `--metrics FILE`: the run as Prometheus text exposition (format 0.0.4), for the node
//! exporter's textfile collector, which reads every `*.prom` file of its directory at each
//! scrape. README "Metrics" lists the names and why each label is bounded.
//!
//! Conventions (prometheus.io/docs/practices/naming): base units (seconds), points in time
//! as `_timestamp_seconds` since the Unix epoch, every family with its `# HELP` and `# TYPE`
//! lines and its samples together, no sample timestamps (the textfile collector refuses
//! them), and label values escaped as the format says (`\\`, `\"`, `\n`).
//!
//! The renderer takes [`NameRow`]s, not outcomes: a streamed batch (`--ndjson`, `--json` of
//! many names) keeps no name's facts once it is printed, so it keeps this small row instead.

use super::Outcome;
use crate::diagnose::{Severity, Verdict};
use crate::facts::{ClientsFacts, ManagedCert, NextTry};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

/// What the exposition needs of one name's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct NameRow {
    /// Its position in the input, for a stable order.
    pub index: usize,
    /// The identifier as the CA sees it, `*.` kept for a wildcard.
    pub name: String,
    pub method: &'static str,
    pub verdict: Verdict,
    /// The top-ranked finding's code and severity.
    pub top: Option<(&'static str, Severity)>,
    pub blockers: usize,
    pub warnings: usize,
    pub incomplete: bool,
    /// Why it is incomplete, as kinds (`host-only`, `firewall-unreadable`, …).
    pub incomplete_kinds: Vec<&'static str>,
    /// `--all`: the certificate this name was checked for.
    pub certificate: Option<CertRow>,
}

/// What the exposition needs of one certificate a client renews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRow {
    pub client: &'static str,
    /// The client's name for it (certbot's lineage, acme.sh's main domain).
    pub name: String,
    /// The file that renews it: two certificates of one client under one name (acme.sh's RSA
    /// and ECDSA ones) differ by it.
    pub config: String,
    pub expiry_unix: Option<i64>,
    pub next_try_unix: Option<i64>,
    /// When the client last logged a failure for it (its log's time, when the line has one).
    pub last_failure_unix: Option<i64>,
}

impl CertRow {
    pub fn of(cert: &ManagedCert) -> CertRow {
        CertRow {
            client: cert.client.as_str(),
            name: cert.name.clone(),
            config: cert.config.clone(),
            expiry_unix: cert.expiry.known().map(|m| m.unix),
            next_try_unix: match &cert.next_try {
                NextTry::At { at, .. } => Some(at.unix),
                NextTry::Unknown { .. } => None,
            },
            last_failure_unix: cert
                .last_failure
                .as_ref()
                .and_then(|f| f.at.as_ref())
                .map(|m| m.unix),
        }
    }

    fn key(&self) -> (&'static str, &str, &str) {
        (self.client, &self.name, &self.config)
    }
}

impl NameRow {
    pub fn of(outcome: &Outcome) -> NameRow {
        let d = &outcome.diagnosis;
        let domain = &outcome.target.target.domain;
        let count = |s: Severity| d.findings.iter().filter(|f| f.severity == s).count();
        NameRow {
            index: outcome.index,
            name: if domain.wildcard {
                format!("*.{}", domain.ascii)
            } else {
                domain.ascii.clone()
            },
            method: outcome.target.method().as_str(),
            verdict: d.verdict,
            top: d.findings.first().map(|f| (f.code.as_str(), f.severity)),
            blockers: count(Severity::Blocker),
            warnings: count(Severity::Warning),
            incomplete: d.incomplete,
            incomplete_kinds: d.incomplete_kinds.iter().map(|k| k.as_str()).collect(),
            certificate: outcome.target.certificate.as_ref().map(CertRow::of),
        }
    }
}

/// The run as a whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunSummary {
    /// When the run finished, in seconds since the Unix epoch.
    pub finished_unix: i64,
    pub duration_seconds: f64,
}

/// Longest label value taken from a configuration file; a domain name is at most 253.
const LABEL_CAP: usize = 256;

/// The exposition: the run, then every name (input order), then every certificate (the
/// listing's order under `--all`, then any other the names were checked for).
pub fn render(rows: &[NameRow], listing: Option<&ClientsFacts>, run: &RunSummary) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "acme_doctor_build_info",
        "The acme-doctor version that wrote this file (always 1).",
        &[(labels(&[("version", env!("CARGO_PKG_VERSION"))]), 1.0)],
    );
    family(
        &mut out,
        "acme_doctor_last_run_timestamp_seconds",
        "When the run that wrote this file finished, in seconds since the Unix epoch.",
        &[(String::new(), run.finished_unix as f64)],
    );
    family(
        &mut out,
        "acme_doctor_run_duration_seconds",
        "How long the run took.",
        &[(String::new(), run.duration_seconds)],
    );

    let certs = certificates(rows, listing);
    let mut rows: Vec<&NameRow> = rows.iter().collect();
    rows.sort_by_key(|r| r.index);
    // One series per label set: a name given twice (facts files of several runs) keeps its
    // first result.
    let mut seen = HashSet::new();
    let names: Vec<(String, &NameRow)> = rows
        .into_iter()
        .filter_map(|r| {
            let mut pairs = vec![("name", clean(&r.name)), ("method", r.method.to_string())];
            if let Some(c) = &r.certificate {
                pairs.push(("client", c.client.to_string()));
                pairs.push(("certificate", certs.label_of(c)));
            }
            let base = labels_owned(&pairs);
            seen.insert(base.clone()).then_some((base, r))
        })
        .collect();

    let mut verdicts = Vec::new();
    for (base, r) in &names {
        for v in [Verdict::Pass, Verdict::AtRisk, Verdict::Fail] {
            verdicts.push((
                with(base, &[("verdict", v.as_str())]),
                f64::from(u8::from(r.verdict == v)),
            ));
        }
    }
    family(
        &mut out,
        "acme_doctor_verdict",
        "The verdict for a name: 1 for the one it got (fail: a blocker stands, the CA's validation would fail; at-risk: warnings only; pass), 0 for the others.",
        &verdicts,
    );
    let findings: Vec<(String, f64)> = names
        .iter()
        .flat_map(|(base, r)| {
            [
                (with(base, &[("severity", "blocker")]), r.blockers as f64),
                (with(base, &[("severity", "warning")]), r.warnings as f64),
            ]
        })
        .collect();
    family(
        &mut out,
        "acme_doctor_findings",
        "Findings for a name, by severity (blocker, warning), explained symptoms included.",
        &findings,
    );
    let top: Vec<(String, f64)> = names
        .iter()
        .filter_map(|(base, r)| {
            r.top.map(|(code, sev)| {
                (
                    with(base, &[("code", code), ("severity", sev.as_str())]),
                    1.0,
                )
            })
        })
        .collect();
    family(
        &mut out,
        "acme_doctor_top_finding",
        "The top-ranked finding for a name (always 1; absent when there is none): its code (acme-doctor explain CODE) and severity.",
        &top,
    );
    let incomplete: Vec<(String, f64)> = names
        .iter()
        .map(|(base, r)| (base.clone(), f64::from(u8::from(r.incomplete))))
        .collect();
    family(
        &mut out,
        "acme_doctor_incomplete",
        "1 when a decisive fact about a name could not be gathered (no permission, no outside view), else 0.",
        &incomplete,
    );
    let kinds: Vec<(String, f64)> = names
        .iter()
        .flat_map(|(base, r)| {
            r.incomplete_kinds
                .iter()
                .map(|kind| (with(base, &[("kind", kind)]), 1.0))
        })
        .collect();
    family(
        &mut out,
        "acme_doctor_incomplete_kind",
        "Why a name is incomplete, one series per kind, as --json's incomplete_kinds (always 1).",
        &kinds,
    );

    let per_cert = |pick: fn(&CertRow) -> Option<i64>| -> Vec<(String, f64)> {
        certs
            .order
            .iter()
            .filter_map(|c| {
                pick(c).map(|t| {
                    (
                        labels_owned(&[
                            ("client", c.client.to_string()),
                            ("certificate", certs.label_of(c)),
                        ]),
                        t as f64,
                    )
                })
            })
            .collect()
    };
    family(
        &mut out,
        "acme_doctor_certificate_expiry_timestamp_seconds",
        "When the certificate expires (its notAfter), in seconds since the Unix epoch.",
        &per_cert(|c| c.expiry_unix),
    );
    family(
        &mut out,
        "acme_doctor_certificate_next_renewal_timestamp_seconds",
        "When the client will next try to renew the certificate, in seconds since the Unix epoch.",
        &per_cert(|c| c.next_try_unix),
    );
    family(
        &mut out,
        "acme_doctor_certificate_last_failure_timestamp_seconds",
        "When the client last logged a failed renewal of the certificate, in seconds since the Unix epoch.",
        &per_cert(|c| c.last_failure_unix),
    );
    out
}

/// The certificates of a run, each once, and the label each one gets.
struct Certificates {
    order: Vec<CertRow>,
    labels: HashMap<(&'static str, String, String), String>,
}

impl Certificates {
    fn label_of(&self, c: &CertRow) -> String {
        self.labels
            .get(&(c.client, c.name.clone(), c.config.clone()))
            .cloned()
            .unwrap_or_else(|| clean(&c.name))
    }
}

/// Every certificate of the listing (`--all`: the unchecked ones too, a manual one expires
/// as well), then those of the names; each labelled with the client's name for it, and, when
/// two of one client share that name, the second with its file too.
fn certificates(rows: &[NameRow], listing: Option<&ClientsFacts>) -> Certificates {
    let listed = listing
        .into_iter()
        .flat_map(|l| l.certificates.iter().map(CertRow::of));
    let checked = rows.iter().filter_map(|r| r.certificate.clone());
    let mut order: Vec<CertRow> = Vec::new();
    let mut keys = HashSet::new();
    for c in listed.chain(checked) {
        let key = c.key();
        if keys.insert((key.0, key.1.to_string(), key.2.to_string())) {
            order.push(c);
        }
    }
    let mut labels = HashMap::new();
    let mut taken = HashSet::new();
    for c in &order {
        let mut label = clean(&c.name);
        if !taken.insert((c.client, label.clone())) {
            label = clean(&format!("{} ({})", c.name, c.config));
            taken.insert((c.client, label.clone()));
        }
        labels.insert((c.client, c.name.clone(), c.config.clone()), label);
    }
    Certificates { order, labels }
}

/// A label value from a file: one line, no control characters, capped.
fn clean(value: &str) -> String {
    crate::sanitize::line(value, LABEL_CAP)
}

/// `{a="x",b="y"}` (or nothing for no labels), values escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn labels_owned(pairs: &[(&str, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    labels(&borrowed)
}

/// `base` (a rendered label set) with more labels after its own.
fn with(base: &str, more: &[(&str, &str)]) -> String {
    let extra = labels(more);
    match (base.strip_suffix('}'), extra.strip_prefix('{')) {
        (Some(head), Some(tail)) => format!("{head},{tail}"),
        (None, _) => extra,
        (Some(_), None) => base.to_string(),
    }
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One gauge family, HELP and TYPE first; nothing at all for a family without samples.
fn family(out: &mut String, name: &str, help: &str, samples: &[(String, f64)]) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {}", number(*value));
    }
}

/// Integers as integers (timestamps, counts), anything else with millisecond precision.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(client: &'static str, name: &str, config: &str) -> CertRow {
        CertRow {
            client,
            name: name.into(),
            config: config.into(),
            expiry_unix: Some(1_800_000_000),
            next_try_unix: None,
            last_failure_unix: None,
        }
    }

    fn row(index: usize, name: &str, verdict: Verdict, certificate: Option<CertRow>) -> NameRow {
        NameRow {
            index,
            name: name.into(),
            method: "http-01",
            verdict,
            top: (verdict == Verdict::Fail).then_some(("no-listener", Severity::Blocker)),
            blockers: usize::from(verdict == Verdict::Fail),
            warnings: 0,
            incomplete: false,
            incomplete_kinds: Vec::new(),
            certificate,
        }
    }

    const RUN: RunSummary = RunSummary {
        finished_unix: 1_795_000_000,
        duration_seconds: 1.5,
    };

    fn lines_of<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| {
                l.strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with(['{', ' ']))
            })
            .collect()
    }

    #[test]
    fn label_values_are_escaped_and_cleaned() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
        // A name from a configuration file: one line, no control characters, capped.
        let hostile = format!("x\u{1b}[31m{}", "y".repeat(1000));
        let cleaned = clean(&hostile);
        assert!(!cleaned.contains('\u{1b}'));
        // The cap, and the ellipsis that says the value was cut.
        assert_eq!(cleaned.chars().count(), LABEL_CAP + 1);
        assert!(cleaned.ends_with('…'));
    }

    #[test]
    fn every_name_gets_one_hot_verdicts_counts_and_its_top_code() {
        let rows = [
            row(1, "b.example.test", Verdict::Fail, None),
            row(0, "a.example.test", Verdict::Pass, None),
        ];
        let text = render(&rows, None, &RUN);
        assert_eq!(
            lines_of(&text, "acme_doctor_verdict"),
            [
                r#"acme_doctor_verdict{name="a.example.test",method="http-01",verdict="pass"} 1"#,
                r#"acme_doctor_verdict{name="a.example.test",method="http-01",verdict="at-risk"} 0"#,
                r#"acme_doctor_verdict{name="a.example.test",method="http-01",verdict="fail"} 0"#,
                r#"acme_doctor_verdict{name="b.example.test",method="http-01",verdict="pass"} 0"#,
                r#"acme_doctor_verdict{name="b.example.test",method="http-01",verdict="at-risk"} 0"#,
                r#"acme_doctor_verdict{name="b.example.test",method="http-01",verdict="fail"} 1"#,
            ]
        );
        assert_eq!(
            lines_of(&text, "acme_doctor_top_finding"),
            [
                r#"acme_doctor_top_finding{name="b.example.test",method="http-01",code="no-listener",severity="blocker"} 1"#
            ]
        );
        assert!(text.contains("\nacme_doctor_run_duration_seconds 1.500\n"));
        assert!(text.contains("\nacme_doctor_last_run_timestamp_seconds 1795000000\n"));
        assert!(text.contains(&format!(
            "acme_doctor_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        // No certificate, no certificate family: not even its HELP line.
        assert!(!text.contains("acme_doctor_certificate_"), "{text}");
        // Every family: HELP, then TYPE, then its samples together.
        let mut seen = HashSet::new();
        let mut current = "";
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                current = rest.split(' ').next().unwrap_or_default();
                assert!(seen.insert(current.to_string()), "{current} twice");
            } else if !line.starts_with('#') {
                assert!(
                    line.starts_with(current),
                    "{line} outside its family {current}"
                );
            }
        }
    }

    #[test]
    fn certificates_once_each_and_two_of_one_name_apart() {
        let rsa = cert(
            "acme.sh",
            "example.test",
            "/root/.acme.sh/example.test/example.test.conf",
        );
        let ecc = cert(
            "acme.sh",
            "example.test",
            "/root/.acme.sh/example.test_ecc/example.test.conf",
        );
        let rows = [
            row(0, "example.test", Verdict::Pass, Some(rsa.clone())),
            row(1, "www.example.test", Verdict::Pass, Some(rsa)),
            row(2, "example.test", Verdict::Fail, Some(ecc)),
        ];
        let text = render(&rows, None, &RUN);
        let expiry = lines_of(&text, "acme_doctor_certificate_expiry_timestamp_seconds");
        assert_eq!(
            expiry,
            [
                r#"acme_doctor_certificate_expiry_timestamp_seconds{client="acme.sh",certificate="example.test"} 1800000000"#,
                r#"acme_doctor_certificate_expiry_timestamp_seconds{client="acme.sh",certificate="example.test (/root/.acme.sh/example.test_ecc/example.test.conf)"} 1800000000"#,
            ]
        );
        // The same name in both certificates: two series, told apart by the certificate.
        assert_eq!(lines_of(&text, "acme_doctor_incomplete").len(), 3);
        assert!(
            text.contains(r#"acme_doctor_findings{name="example.test",method="http-01",client="acme.sh",certificate="example.test (/root/.acme.sh/example.test_ecc/example.test.conf)",severity="blocker"} 1"#),
            "{text}"
        );
        // No next try known: no sample, and no family.
        assert!(!text.contains("next_renewal"), "{text}");
    }

    #[test]
    fn a_name_given_twice_keeps_its_first_result() {
        let rows = [
            row(0, "a.example.test", Verdict::Pass, None),
            row(1, "a.example.test", Verdict::Fail, None),
        ];
        let text = render(&rows, None, &RUN);
        assert_eq!(lines_of(&text, "acme_doctor_incomplete").len(), 1);
        assert!(text.contains(
            r#"acme_doctor_verdict{name="a.example.test",method="http-01",verdict="pass"} 1"#
        ));
    }
}
