//! The `--json` contract of the README as strict types: a field added, renamed or removed in
//! the output fails deserialisation here, so the schema cannot drift without a test noticing.
//!
//! Schema 2 (current): the host snapshot is printed once per output. One domain: its object
//! with `host` beside `facts`. Several: `{schema_version, tool, host, results: [...]}`.
//! `--ndjson`: a `"record": "host"` line, then one object per name. A domain's `facts` are
//! its run without `host`. Schema 1 (older outputs, still read by `--from-facts`): one object
//! per domain whose `facts` held the whole host snapshot; [`DomainReportV1`] pins it.

use acme_doctor::facts::{HostFacts, ProbeOptions, RunFacts, TargetFacts};
use serde::Deserialize;

pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub index: usize,
    pub target: Target,
    pub verdict: Verdict,
    pub incomplete: bool,
    pub incomplete_reasons: Vec<String>,
    /// Each kind of `incomplete_reasons` once (`host-only`, `resolver-silent`, …).
    pub incomplete_kinds: Vec<String>,
    pub findings: Vec<Finding>,
    pub facts: TargetRun,
    /// The run's host snapshot: in a one-domain output, and in a `results` entry whose run
    /// differs from the entry before it; absent otherwise.
    #[serde(default)]
    pub host: Option<HostFacts>,
    pub duration_ms: u64,
}

/// A domain's `facts`: its run as a facts file without `host`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRun {
    pub facts_version: u32,
    pub tool_version: String,
    pub started_at: String,
    pub options: ProbeOptions,
    pub targets: Vec<TargetFacts>,
    pub duration_ms: u64,
}

impl TargetRun {
    /// The facts file these facts and their host snapshot make.
    pub fn with_host(&self, host: &HostFacts) -> RunFacts {
        RunFacts {
            facts_version: self.facts_version,
            tool_version: self.tool_version.clone(),
            started_at: self.started_at.clone(),
            options: self.options.clone(),
            host: host.clone(),
            targets: self.targets.clone(),
            duration_ms: self.duration_ms,
        }
    }
}

impl DomainReport {
    /// The facts file of a one-domain output: `facts` with the `host` beside them.
    pub fn run_facts(&self) -> RunFacts {
        let host = self
            .host
            .as_ref()
            .expect("a one-domain output carries its host");
        self.facts.with_host(host)
    }
}

/// `--json` with several domains.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub schema_version: u32,
    pub tool: Tool,
    pub host: Option<HostFacts>,
    pub results: Vec<DomainReport>,
}

/// The `--ndjson` line that carries the host snapshot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostRecord {
    pub schema_version: u32,
    pub tool: Tool,
    pub record: String,
    pub host: HostFacts,
}

/// Schema 1, as acme-doctor printed it before the host left `facts`: one object per domain
/// (an array of them for several), each with the whole run, host included, in `facts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainReportV1 {
    pub schema_version: u32,
    pub tool: Tool,
    pub index: usize,
    pub target: TargetV1,
    pub verdict: Verdict,
    pub incomplete: bool,
    pub incomplete_reasons: Vec<String>,
    pub findings: Vec<Finding>,
    pub facts: RunFacts,
    pub duration_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub domain: String,
    /// `dns` or `ip`: what `domain` holds.
    pub identifier_type: IdentifierType,
    pub method: String,
    pub resolver: String,
    /// `--all` only: the certificate the name was checked for.
    #[serde(default)]
    pub certificate: Option<acme_doctor::facts::ManagedCert>,
}

/// Schema 1's target: names only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetV1 {
    pub domain: String,
    pub method: String,
    pub resolver: String,
    #[serde(default)]
    pub certificate: Option<acme_doctor::facts::ManagedCert>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierType {
    Dns,
    Ip,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Fail,
    AtRisk,
    Pass,
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Blocker,
    Warning,
    Info,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub code: String,
    pub severity: Severity,
    pub certainty: String,
    pub family: Option<String>,
    pub port: Option<u16>,
    pub title: String,
    pub detail: String,
    pub evidence: Vec<String>,
    pub fix: Vec<String>,
    pub explains: Vec<String>,
    pub explained_by: Option<String>,
    pub ca_error: Option<String>,
    /// The ACME problem type of `ca_error`, as its URN.
    pub ca_problem: Option<String>,
    pub notes: Vec<String>,
    /// `ca_error` is what the CA really said (issue 19), not a prediction.
    #[serde(default)]
    pub ca_said: bool,
}

/// Parses the `--json` object of one domain strictly and checks the invariants every report
/// keeps; its host snapshot sits beside its facts.
pub fn parse(stdout: &str) -> DomainReport {
    let report = parse_result(stdout);
    assert!(
        report.host.is_some(),
        "one domain: the host beside its facts"
    );
    report
}

/// Parses `--json` of several domains strictly: the host once at the top, then the domains,
/// each checked as [`parse_result`] does.
pub fn parse_batch(stdout: &str) -> Batch {
    let batch: Batch = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("output breaks the JSON contract: {e}\n{stdout}"));
    assert_eq!(batch.schema_version, SCHEMA_VERSION);
    assert_eq!(batch.tool.name, "acme-doctor");
    assert_eq!(batch.host.is_some(), !batch.results.is_empty());
    for r in &batch.results {
        check(r);
    }
    batch
}

/// Parses an `--ndjson` host record strictly.
pub fn parse_host_record(line: &str) -> HostRecord {
    let record: HostRecord = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("host record breaks the JSON contract: {e}\n{line}"));
    assert_eq!(record.schema_version, SCHEMA_VERSION);
    assert_eq!(record.record, "host");
    record
}

/// Parses one domain's object (of `results`, or an `--ndjson` line) strictly.
pub fn parse_result(text: &str) -> DomainReport {
    let report: DomainReport = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("output breaks the JSON contract: {e}\n{text}"));
    check(&report);
    report
}

/// Parses a schema-1 object strictly (a saved output of an older acme-doctor).
pub fn parse_v1(text: &str) -> DomainReportV1 {
    // Its facts are of the layout of their day: migrated as `--from-facts` migrates them.
    let mut value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"));
    let facts = value["facts"].take();
    let migrated = acme_doctor::facts::from_json(facts)
        .unwrap_or_else(|e| panic!("schema 1's facts do not load: {e}"))
        .remove(0);
    value["facts"] = serde_json::to_value(migrated).expect("facts serialise");
    let report: DomainReportV1 = serde_json::from_value(value)
        .unwrap_or_else(|e| panic!("not a schema-1 object: {e}\n{text}"));
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.facts.targets.len(), 1);
    report
}

/// The invariants every domain's object keeps.
fn check(report: &DomainReport) {
    assert_eq!(report.schema_version, SCHEMA_VERSION);
    assert_eq!(report.tool.name, "acme-doctor");
    assert_eq!(report.facts.targets.len(), 1, "one target per domain");
    let has_blocker = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Blocker);
    assert_eq!(
        has_blocker,
        report.verdict == Verdict::Fail,
        "verdict follows the blockers"
    );
    assert_eq!(report.incomplete, !report.incomplete_reasons.is_empty());
    assert_eq!(
        report.incomplete,
        !report.incomplete_kinds.is_empty(),
        "every incomplete reason has a kind"
    );
    let identifier = &report.facts.targets[0].target.domain;
    assert_eq!(report.target.domain, identifier.ascii);
    assert_eq!(
        report.target.identifier_type == IdentifierType::Ip,
        identifier.ip.is_some(),
        "identifier_type says what the facts' identifier is"
    );
    for f in &report.findings {
        assert_eq!(
            f.ca_error.is_some(),
            f.ca_problem.is_some(),
            "{}: ca_error and ca_problem go together",
            f.code
        );
        if let Some(urn) = &f.ca_problem {
            assert!(urn.starts_with("urn:ietf:params:acme:error:"), "{urn}");
        }
        if f.severity == Severity::Blocker && f.explained_by.is_none() {
            assert!(
                // Two blockers stop before the CA validates anything: the CA refuses the
                // wildcard order, and a standalone client that cannot bind its port never
                // asks.
                f.ca_error.is_some()
                    || f.code == "wildcard-needs-dns01"
                    || f.code == "standalone-port-busy",
                "{} has no ca_error",
                f.code
            );
        }
    }
}
