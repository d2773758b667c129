//! Facts: the whole truth of one run, as plain serde data, by scope: one [`HostFacts`]
//! snapshot per run, one [`TargetFacts`] per name, and inside it the [`MethodFacts`] of the
//! validation method.
//!
//! Probes produce these; the diagnosis reads nothing else. `--save-facts` writes them and
//! `--from-facts` re-diagnoses them without touching the network, so every field a rule reads
//! must be here, and every field here must be deserialisable from a saved file.

use serde::{Deserialize, Serialize};

pub mod ca;
mod clients;
mod dns;
mod host;
mod http01;
mod migrate;
mod net;
mod target;
pub mod tlsalpn01;

pub use ca::{
    AcmeProblem, CaCheck, CaCheckOutcome, CaEvidence, CaSaid, CaSource, CheckStage, LoggedFailure,
    MAX_CA_TEXT, Published, ValidationRecord,
};
pub use clients::{
    AcmeClient, Challenge, ClientsFacts, ConfigOwner, ConfigWarning, EntryPoint, ManagedCert,
    Moment, NameWebroot, NextTry, UnreadablePath,
};

pub use crate::domain::DomainName;
pub use dns::{
    AuthoritativeFacts, CaaFacts, CaaLevel, CaaRecord, CdRetry, ChainFacts, CnameHop, Dns01Facts,
    DnsFacts, DnsLookup, DnsOutcome, Ede, NameserverFacts, Rcode, Rrsig, ServerAnswer, TxtLookup,
};
pub use host::{
    ApacheConfig, ConfigFile, Container, ContainerAddress, ContainerFacts, ContainerNetwork,
    ContainerPort, DaemonSettings, FirewallFacts, HostFacts, Interface, IptablesBackend,
    IptablesDump, Listener, NginxConfig, Probed, Process, Sysctl, TraefikFiles, Unknown,
    WebServerFacts,
};
pub use http01::{
    AddressAnswers, Agent, Answered, CaPath, HopOutcome, Http01Facts, HttpFact, HttpOutcome, Page,
    PathAttempt, PathHop, TlsSeen, TokenFacts, TokenSource,
};
pub use migrate::{LoadError, from_json};
pub use net::{ConnectFact, ConnectOutcome, Family, own_limit_errno};
pub use target::{ClientMethod, MethodFrom};
pub use target::{
    Method, MethodFacts, Observation, Resolver, Target, TargetFacts, VantageError, VantageFacts,
};
pub use tlsalpn01::{
    AcmeIdentifier, ChallengeCertificate, Handshake, HandshakeOutcome, Presented, TlsAlpn01Facts,
};

/// Version of the facts layout; bumped when a field changes meaning. Older files are migrated
/// on load ([`from_json`]), never read by a second model.
pub const FACTS_VERSION: u32 = 5;

/// Everything one run gathered: the host snapshot, taken once however many names were
/// checked, and one [`TargetFacts`] per name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFacts {
    pub facts_version: u32,
    pub tool_version: String,
    /// RFC 3339, UTC, when the probes started.
    pub started_at: String,
    pub options: ProbeOptions,
    pub host: HostFacts,
    pub targets: Vec<TargetFacts>,
    pub duration_ms: u64,
}

impl RunFacts {
    /// `target` with this run's settings but without the host snapshot: what `--json` and
    /// `--report` print per name, the host being printed once per output beside it.
    pub fn one<'a>(&'a self, target: &'a TargetFacts) -> TargetRun<'a> {
        TargetRun {
            facts_version: self.facts_version,
            tool_version: &self.tool_version,
            started_at: &self.started_at,
            options: &self.options,
            targets: [target],
            duration_ms: self.duration_ms,
        }
    }
}

impl RunFacts {
    /// This run with another host snapshot (a redacted copy), serialised exactly as a
    /// [`RunFacts`].
    pub fn with_host<'a>(&'a self, host: &'a HostFacts) -> RunWithHost<'a> {
        RunWithHost {
            facts_version: self.facts_version,
            tool_version: &self.tool_version,
            started_at: &self.started_at,
            options: &self.options,
            host,
            targets: &self.targets,
            duration_ms: self.duration_ms,
        }
    }
}

/// A [`RunFacts`] whose host snapshot is borrowed from elsewhere: `--report` prints the run
/// with its firewall left out, without copying the targets.
#[derive(Debug, Serialize)]
pub struct RunWithHost<'a> {
    pub facts_version: u32,
    pub tool_version: &'a str,
    pub started_at: &'a str,
    pub options: &'a ProbeOptions,
    pub host: &'a HostFacts,
    pub targets: &'a [TargetFacts],
    pub duration_ms: u64,
}

/// One target of a run with the run's settings and without its host snapshot, serialised as
/// a [`RunFacts`] of one target minus `host`: a facts file once the host snapshot printed
/// beside it is put back as `host` (`--from-facts` does that for a saved `--json` output).
/// The host is left out so that a run of N names prints it once, not N times.
#[derive(Debug, Serialize)]
pub struct TargetRun<'a> {
    pub facts_version: u32,
    pub tool_version: &'a str,
    pub started_at: &'a str,
    pub options: &'a ProbeOptions,
    pub targets: [&'a TargetFacts; 1],
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeOptions {
    pub timeout_ms: u64,
    /// Reserved and documentation addresses were treated as public (labs).
    pub allow_reserved: bool,
    /// The CA's issuer domain, as its CAA `issue` records must name it (`--ca`).
    #[serde(default = "default_issuer")]
    pub ca_issuer: String,
    /// The ACME account (`--account-uri`), for CAA `accounturi`.
    #[serde(default)]
    pub account_uri: Option<String>,
    /// CDN ranges that replace the shipped ones (the hidden `--cdn-ranges FILE`, for labs
    /// whose "CDN" stands on documentation addresses), in the shipped file's format.
    #[serde(default)]
    pub cdn_ranges: Option<String>,
}

fn default_issuer() -> String {
    "letsencrypt.org".into()
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}
