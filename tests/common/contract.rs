//! The `--json` contract of the README as strict types: a field added, renamed or removed in
//! the output fails deserialisation here, so the schema cannot drift without a test noticing.

use serde::Deserialize;

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
    pub findings: Vec<Finding>,
    pub facts: acme_doctor::facts::RunFacts,
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
    pub method: String,
    pub resolver: String,
    /// `--all` only: the certificate the name was checked for.
    #[serde(default)]
    pub certificate: Option<acme_doctor::facts::ManagedCert>,
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
}

/// Parses one `--json` object strictly and checks the invariants every report keeps.
pub fn parse(stdout: &str) -> DomainReport {
    let report: DomainReport = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("output breaks the JSON contract: {e}\n{stdout}"));
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.tool.name, "acme-doctor");
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
    report
}
