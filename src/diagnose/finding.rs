//! What the diagnosis produces: findings, their severity, the verdict.

use super::Code;
use super::ca::{CaError, ProblemType};
use crate::facts::Family;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The CA's validation would fail.
    Blocker,
    /// Validation may pass, but something is fragile or wrong.
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Blocker => "blocker",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// How sure the rule is. A direct observation beats an inference from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Certainty {
    Certain,
    Likely,
}

/// Something a policy applied after the rules changed about a finding, said once, in words
/// the renderers own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Note {
    /// An IPv4 blocker demoted to a warning: the CA's IPv6 path works, so IPv4 is only its
    /// fallback (see `rank::ipv4_is_only_the_fallback`).
    Ipv4OnlyFallback,
    /// An IPv4 blocker demoted to a warning on the server's own view alone: nothing outside
    /// was heard, and the IPv6 path looks healthy from inside, so the CA, which uses IPv4
    /// only when IPv6 fails, is not shown to meet it (issue 19 item 5).
    Ipv4OnlyFallbackHostOnly,
    /// A refused connect while a standalone ACME client is between runs (see
    /// `checks::standalone::between_runs`).
    StandaloneBetweenRuns,
    /// A blocker the CA's own successful validation contradicts, demoted to a warning (see
    /// `ca::join`).
    CaValidated,
    /// Issue 20 item 4: a closed port judged for http-01, which was assumed because no ACME
    /// client configuration on this host names the name (see `method_assumed::annotate`).
    MethodAssumed,
    /// Issue 20 item 4: this host's own probe came back to it through a hairpin (the
    /// router's NAT loopback, its own load balancer, a local DNAT), not along the CA's path
    /// (see `hairpin::label`).
    SeenThroughHairpin,
}

impl Note {
    pub fn text(self) -> &'static str {
        match self {
            Note::StandaloneBetweenRuns => {
                "A standalone ACME client renews this name and listens on the port only while it runs: between runs a refused connection is expected."
            }
            Note::CaValidated => {
                "The CA itself validated this name just now, so this did not fail today's validation; it is kept as a warning because it may matter on another path, perspective or day."
            }
            Note::Ipv4OnlyFallback => {
                "The CA connects over IPv6 first, which works, so today it never needs IPv4; but IPv4 is the fallback the day IPv6 hiccups, and CAs or clients without IPv6 use nothing else."
            }
            Note::MethodAssumed => {
                "The method was assumed: no ACME client configuration on this host names this name, so it was checked as http-01, which needs this port. A name validated by DNS-01 needs no open port, and TLS-ALPN-01 only 443: pass --method dns-01 or --method tls-alpn-01 to check it as it is validated."
            }
            Note::SeenThroughHairpin => {
                "Seen through the hairpin, not the CA's path: this host's own request to its published address came back to it by the router's NAT loopback, its own load balancer or a DNAT on this host, which may treat it differently (another source address, no PROXY protocol header, no hairpin at all). The CA connects from outside; what it meets is what a vantage or --ca-check sees."
            }
            Note::Ipv4OnlyFallbackHostOnly => {
                "Seen from this host only: its IPv6 path looks healthy from inside, and the CA connects over IPv6 first and uses IPv4 only when IPv6 fails, so this alone fails no validation. Nothing outside was heard: if IPv6 fails between the CA and this host (a security group, the router, upstream IPv6), the CA falls back to IPv4 and meets this. --ca-check, or a vantage (--vantage URL), decides."
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub certainty: Certainty,
    pub family: Option<Family>,
    pub port: Option<u16>,
    pub title: String,
    pub detail: String,
    pub evidence: Vec<String>,
    pub fix: Vec<String>,
    /// Codes of other findings in this diagnosis that this one causes (from the table of
    /// causes, narrowed to what is present).
    pub explains: Vec<Code>,
    /// The root cause this finding is a symptom of, when one was found.
    pub explained_by: Option<Code>,
    /// What the CA would report, in Boulder's words (`docs/ca-behaviour.md` §2.8).
    pub ca_error: Option<String>,
    /// The ACME problem type of `ca_error`, as its URN.
    pub ca_problem: Option<ProblemType>,
    #[serde(default)]
    pub notes: Vec<Note>,
    /// `ca_error` is what the CA really said (`--ca-error`, `--ca-check`, a client's log),
    /// not acme-doctor's prediction of it.
    #[serde(default)]
    pub ca_said: bool,
}

impl Finding {
    pub fn new(code: Code, severity: Severity, title: impl Into<String>) -> Finding {
        Finding {
            code,
            severity,
            certainty: Certainty::Certain,
            family: None,
            port: None,
            title: title.into(),
            detail: String::new(),
            evidence: Vec::new(),
            fix: Vec::new(),
            explains: Vec::new(),
            explained_by: None,
            ca_error: None,
            ca_problem: None,
            notes: Vec::new(),
            ca_said: false,
        }
    }

    pub fn family(mut self, family: Family) -> Self {
        self.family = Some(family);
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    pub fn likely(mut self) -> Self {
        self.certainty = Certainty::Likely;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    pub fn evidence_lines(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.evidence.extend(lines);
        self
    }

    pub fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }

    pub fn ca(mut self, error: CaError) -> Self {
        self.ca_error = Some(error.detail);
        self.ca_problem = Some(error.problem);
        self
    }

    /// The CA's own words, as it said them: quoted instead of a prediction.
    pub fn ca_said(mut self, error: CaError) -> Self {
        self = self.ca(error);
        self.ca_said = true;
        self
    }

    /// The detail with the policy notes after it, as people read it.
    pub fn full_detail(&self) -> String {
        let mut text = self.detail.clone();
        for note in &self.notes {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(note.text());
        }
        text
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Fail,
    AtRisk,
    Pass,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Fail => "fail",
            Verdict::AtRisk => "at-risk",
            Verdict::Pass => "pass",
        }
    }
}

/// Why a decisive fact is missing, as a kind a CI policy can filter on (`incomplete_kinds` in
/// `--json`; `--accept-host-only` accepts `host-only` alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncompleteKind {
    /// Seen from this host only: nothing outside it (a vantage, the CA) was heard.
    HostOnly,
    /// A vantage gave no observation, or would not contact an address.
    VantageSilent,
    /// The resolver or the zone's servers gave no answer.
    ResolverSilent,
    /// This machine has no route in a family the CA uses.
    FamilyUnavailable,
    /// acme-doctor ran out of its own resources (local ports, descriptors, read limits).
    OwnLimit,
    /// The firewall ruleset could not be read, or a rule could not be evaluated.
    FirewallUnreadable,
    /// The web server's configuration could not be read.
    WebConfigUnreadable,
    /// A real validation was asked for (`--ca-check`) and gave no verdict.
    CaCheckNotDone,
}

impl IncompleteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncompleteKind::HostOnly => "host-only",
            IncompleteKind::VantageSilent => "vantage-silent",
            IncompleteKind::ResolverSilent => "resolver-silent",
            IncompleteKind::FamilyUnavailable => "family-unavailable",
            IncompleteKind::OwnLimit => "own-limit",
            IncompleteKind::FirewallUnreadable => "firewall-unreadable",
            IncompleteKind::WebConfigUnreadable => "webconf-unreadable",
            IncompleteKind::CaCheckNotDone => "ca-check-not-done",
        }
    }
}

/// A decisive fact that is missing: its kind, and the sentence that says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    pub kind: IncompleteKind,
    pub reason: String,
}

impl Incomplete {
    pub fn new(kind: IncompleteKind, reason: impl Into<String>) -> Incomplete {
        Incomplete {
            kind,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    /// A decisive fact is missing; `incomplete_reasons` says which.
    pub incomplete: bool,
    pub incomplete_reasons: Vec<String>,
    /// The kinds of `incomplete_reasons`, each once, in order of first appearance.
    #[serde(default)]
    pub incomplete_kinds: Vec<IncompleteKind>,
    /// The kind of each of `incomplete_reasons`, in the same order (for the renderers, which
    /// print each reason with its kind; JSON has `incomplete_kinds`).
    #[serde(skip)]
    pub incomplete_reason_kinds: Vec<IncompleteKind>,
    /// Ranked: root causes first, each followed by the symptoms it explains.
    pub findings: Vec<Finding>,
    /// The server answers where the CA asks, but what it answers was not held against what
    /// the CA expects: the run had no real challenge to ask for (no `--webroot`, no
    /// `--expect-body`), so a healthy answer proves a server, not the content.
    pub content_unverified: bool,
}

impl Diagnosis {
    /// Each incomplete reason with its kind, when known (a diagnosis read back from JSON has
    /// only the reasons).
    pub fn incomplete_lines(&self) -> impl Iterator<Item = (Option<IncompleteKind>, &str)> {
        self.incomplete_reasons
            .iter()
            .enumerate()
            .map(|(i, r)| (self.incomplete_reason_kinds.get(i).copied(), r.as_str()))
    }

    /// The run misses only the outside view: `host-only` is its one incomplete kind. This is
    /// what `--accept-host-only` accepts.
    pub fn incomplete_only_host_only(&self) -> bool {
        self.incomplete && self.incomplete_kinds == [IncompleteKind::HostOnly]
    }
}
