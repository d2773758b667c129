//! What the CA itself said of a name: a real validation acme-doctor asked for (`--ca-check`),
//! words the user pasted (`--ca-error`), or a failure an ACME client logged (`--all`).
//!
//! Facts keep what was said, not what it means: the ACME objects as the CA sent them, and
//! pasted or logged text as it was found (capped and stripped of control characters). The CA
//! vocabulary module (`diagnose::ca`) reads both into one typed observation at diagnosis time,
//! so a saved facts file is read again by a better parser. `docs/ca-behaviour.md` describes the
//! ACME objects and Boulder's problems read here.

use super::{AcmeClient, Method, Moment};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The longest text kept from one pasted or logged CA message, or one ACME problem detail.
pub const MAX_CA_TEXT: usize = 4096;

/// One thing the CA said about this name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEvidence {
    pub source: CaSource,
    /// When the CA said it, when that is known (a log line's time, the check's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Moment>,
    pub said: CaSaid,
}

/// Where the CA's words come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CaSource {
    /// A validation acme-doctor asked for in this run (`--ca-check`).
    Check,
    /// Text given with `--ca-error`.
    Pasted,
    /// A failure an ACME client wrote down: its log file or journal unit, and the line.
    ClientLog {
        client: AcmeClient,
        /// A file path, or `journal:UNIT`.
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
}

/// What was said: the ACME objects of a real validation, or words as found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum CaSaid {
    Check(Box<CaCheck>),
    /// Pasted or logged text, as found (capped at [`MAX_CA_TEXT`], control characters
    /// stripped). Its format (Boulder detail, certbot block, lego line, JSON log, …) is
    /// recognised at diagnosis time.
    Words(String),
}

/// A real validation against an ACME directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaCheck {
    /// The directory URL asked.
    pub directory: String,
    pub method: Method,
    /// How the challenge was published for the CA to find.
    pub published: Published,
    pub outcome: CaCheckOutcome,
    /// Failed authorizations this run added to the account's and the name's counts (rate
    /// limits): one per name that failed, zero otherwise.
    pub failed_authorizations: u32,
    pub elapsed_ms: u64,
}

/// How acme-doctor put the challenge where the CA looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Published {
    /// A file under a webroot: `<root>/.well-known/acme-challenge/<token>`, and where that
    /// root was taken from (`--webroot`, a client's config, nginx's challenge location).
    Webroot { root: String, from: String },
    /// acme-doctor's own responder on this port, on these addresses.
    Standalone { port: u16, bound: Vec<String> },
    /// `--dns-hook`: the command that published the TXT record.
    DnsHook { command: String },
    /// Nothing was published (the check stopped before, see the outcome).
    Nothing,
}

/// How the check ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CaCheckOutcome {
    /// The CA validated the authorization.
    Valid {
        #[serde(default)]
        records: Vec<ValidationRecord>,
    },
    /// The CA refused: its problem, as sent, and what it dialled.
    Invalid {
        problem: AcmeProblem,
        #[serde(default)]
        records: Vec<ValidationRecord>,
    },
    /// No verdict: the stage it stopped at and why (no network, the directory did not answer,
    /// the challenge could not be published, the deadline passed). Never a blame.
    NotDone { stage: CheckStage, reason: String },
}

/// Where a check that gave no verdict stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckStage {
    /// Fetching the directory, the nonce, creating the account.
    Directory,
    /// Creating the order (a rejected identifier or a rate limit answers here).
    Order,
    /// Writing the challenge file, binding the responder, running the DNS hook.
    Publish,
    /// Asking the CA to validate and polling the authorization.
    Validate,
    /// The run's deadline or a signal ended it.
    Interrupted,
}

/// An ACME problem document (RFC 8555 §6.7, RFC 7807), as the CA sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeProblem {
    /// The `type` URN, as sent (`urn:ietf:params:acme:error:connection`).
    #[serde(rename = "type")]
    pub type_urn: String,
    /// Capped at [`MAX_CA_TEXT`], control characters stripped.
    pub detail: String,
    /// The HTTP status of the answer that carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The identifier a subproblem is about (RFC 8555 §6.7.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<AcmeProblem>,
    /// `Retry-After`, in seconds, when the answer had one (rate limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

/// One `validationRecord` entry of a challenge (Boulder's `core.ValidationRecord`): one hop
/// the CA made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default)]
    pub addresses_resolved: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_used: Option<IpAddr>,
    /// Addresses dialled before `address_used` (Boulder's `addressesTried`: the IPv6 address
    /// that failed before the IPv4 fallback). Issue 19 item 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses_tried: Vec<IpAddr>,
    /// The CA's resolvers, when it tells them (Boulder's `resolverAddrs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolver_addrs: Vec<String>,
}

/// The last failure an ACME client logged for one certificate (`--all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedFailure {
    /// When it was logged; `None` when the log line has no time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Moment>,
    /// The log file or `journal:UNIT`, and the line.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What the CA said, as logged (capped, control characters stripped).
    pub words: String,
}
