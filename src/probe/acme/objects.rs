//! The ACME objects read as the CA sent them (`docs/ca-behaviour.md` §14): the authorization
//! (RFC 8555 §7.1.4), the challenge of the method in use with its `error` (§7.1.5, a problem
//! document, §6.7) and its `validationRecord` (Boulder's `core.ValidationRecord`, one entry per
//! hop the CA made). Pure: bytes in, facts out; every string capped and stripped of control
//! characters, since it comes from the network.

use crate::facts::{AcmeProblem, MAX_CA_TEXT, ValidationRecord};
use serde_json::Value;
use std::net::IpAddr;

/// The most records and subproblems kept: Boulder follows at most 11 redirects.
const MAX_RECORDS: usize = 32;
const MAX_SUBPROBLEMS: usize = 32;
/// A URL, host name or port as the CA reported it.
const MAX_FIELD: usize = 2048;

/// What one authorization says of the challenge of the method in use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChallengeRead {
    /// The challenge's `status` (`valid`, `invalid`, `pending`, `processing`).
    pub status: String,
    pub problem: Option<AcmeProblem>,
    pub records: Vec<ValidationRecord>,
}

/// Reads the challenge of type `kind` (`http-01`, …) out of an authorization's JSON.
pub fn challenge_of(authorization: &[u8], kind: &str) -> Option<ChallengeRead> {
    let value: Value = serde_json::from_slice(authorization).ok()?;
    let challenge = value
        .get("challenges")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?;
    Some(ChallengeRead {
        status: text(challenge.get("status"), 32),
        problem: challenge.get("error").and_then(|e| problem(e, None)),
        records: challenge
            .get("validationRecord")
            .and_then(Value::as_array)
            .map(|list| list.iter().take(MAX_RECORDS).map(record).collect())
            .unwrap_or_default(),
    })
}

/// A problem document (RFC 7807 / RFC 8555 §6.7) from its JSON; `None` when it has neither a
/// type nor a detail.
pub fn problem(value: &Value, retry_after_s: Option<u64>) -> Option<AcmeProblem> {
    let type_urn = text(value.get("type"), 256);
    let detail = text(value.get("detail"), MAX_CA_TEXT);
    if type_urn.is_empty() && detail.is_empty() {
        return None;
    }
    let identifier = value.get("identifier").map(|id| {
        let v = text(id.get("value"), 300);
        if v.is_empty() { text(Some(id), 300) } else { v }
    });
    Some(AcmeProblem {
        type_urn,
        detail,
        status: value
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok()),
        identifier,
        subproblems: value
            .get("subproblems")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .take(MAX_SUBPROBLEMS)
                    .filter_map(|s| problem(s, None))
                    .collect()
            })
            .unwrap_or_default(),
        retry_after_s,
    })
}

/// A problem document from an answer's body.
pub fn problem_of(body: &[u8], retry_after_s: Option<u64>) -> Option<AcmeProblem> {
    let value: Value = serde_json::from_slice(body).ok()?;
    problem(&value, retry_after_s)
}

/// One `validationRecord` entry (Boulder's JSON names: `url`, `hostname`, `port`,
/// `addressesResolved`, `addressUsed`, `resolverAddrs`).
fn record(value: &Value) -> ValidationRecord {
    let opt = |key: &str| {
        let t = text(value.get(key), MAX_FIELD);
        (!t.is_empty()).then_some(t)
    };
    let ip = |v: &Value| v.as_str().and_then(|s| s.parse::<IpAddr>().ok());
    ValidationRecord {
        url: opt("url"),
        hostname: opt("hostname"),
        // Boulder sends the port as a string; accept a number too.
        port: opt("port").or_else(|| {
            value
                .get("port")
                .and_then(Value::as_u64)
                .map(|p| p.to_string())
        }),
        addresses_resolved: value
            .get("addressesResolved")
            .and_then(Value::as_array)
            .map(|list| list.iter().take(MAX_RECORDS).filter_map(ip).collect())
            .unwrap_or_default(),
        address_used: value.get("addressUsed").and_then(ip),
        addresses_tried: value
            .get("addressesTried")
            .and_then(Value::as_array)
            .map(|list| list.iter().take(MAX_RECORDS).filter_map(ip).collect())
            .unwrap_or_default(),
        resolver_addrs: value
            .get("resolverAddrs")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .take(MAX_RECORDS)
                    .map(|v| text(Some(v), 200))
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// A string field, capped and cleaned; numbers and other values as their JSON text.
fn text(value: Option<&Value>, cap: usize) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => crate::sanitize::line(s, cap),
        Some(other) => crate::sanitize::line(&other.to_string(), cap),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An authorization as Boulder answers it after a failed HTTP-01 validation (the shape of
    /// RFC 8555 §7.1.4 with Boulder's `validationRecord`).
    const BOULDER_INVALID: &str = r#"{
      "identifier": {"type": "dns", "value": "example.com"},
      "status": "invalid",
      "expires": "2026-12-14T18:00:00Z",
      "challenges": [
        {"type": "http-01", "url": "https://ca.example/chall/1", "status": "invalid",
         "token": "tok",
         "error": {"type": "urn:ietf:params:acme:error:connection",
                   "detail": "2001:db8::10: Fetching http://example.com/.well-known/acme-challenge/tok: Timeout during connect (likely firewall problem)\u0007",
                   "status": 400},
         "validationRecord": [
           {"url": "http://example.com/.well-known/acme-challenge/tok", "hostname": "example.com",
            "port": "80", "addressesResolved": ["192.0.2.10", "2001:db8::10"],
            "addressUsed": "2001:db8::10", "resolverAddrs": ["10.0.0.1:53"]},
           {"url": "http://example.com/.well-known/acme-challenge/tok", "hostname": "example.com",
            "port": "80", "addressesResolved": ["192.0.2.10", "2001:db8::10"],
            "addressUsed": "192.0.2.10", "addressesTried": ["2001:db8::10"]}
         ]},
        {"type": "dns-01", "url": "https://ca.example/chall/2", "status": "pending", "token": "t2"}
      ]
    }"#;

    #[test]
    fn the_whole_challenge_is_read_with_its_records() {
        let read = challenge_of(BOULDER_INVALID.as_bytes(), "http-01").unwrap();
        assert_eq!(read.status, "invalid");
        let problem = read.problem.unwrap();
        assert_eq!(problem.type_urn, "urn:ietf:params:acme:error:connection");
        // The BEL the "CA" sent is neutralised, not passed to a terminal.
        assert!(
            problem
                .detail
                .ends_with("(likely firewall problem)\u{FFFD}"),
            "{}",
            problem.detail
        );
        assert_eq!(problem.status, Some(400));
        assert_eq!(read.records.len(), 2);
        assert_eq!(
            read.records[1].addresses_tried,
            ["2001:db8::10".parse::<IpAddr>().unwrap()]
        );
        let r = &read.records[0];
        assert_eq!(r.port.as_deref(), Some("80"));
        assert_eq!(r.addresses_resolved.len(), 2);
        assert_eq!(r.address_used, Some("2001:db8::10".parse().unwrap()));
        assert_eq!(r.resolver_addrs, ["10.0.0.1:53"]);
        let other = challenge_of(BOULDER_INVALID.as_bytes(), "dns-01").unwrap();
        assert!(other.problem.is_none() && other.records.is_empty());
        assert!(challenge_of(BOULDER_INVALID.as_bytes(), "tls-alpn-01").is_none());
        assert!(challenge_of(b"not json", "http-01").is_none());
    }

    #[test]
    fn a_rate_limit_problem_keeps_its_subproblems_and_retry_after() {
        let body = br#"{"type":"urn:ietf:params:acme:error:rateLimited",
            "detail":"too many failed authorizations (5) for \"example.com\" in the last 1h0m0s, retry after 2026-12-07 20:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#authorization-failures-per-hostname-per-account",
            "status":429,
            "subproblems":[{"type":"urn:ietf:params:acme:error:rateLimited","detail":"x","identifier":{"type":"dns","value":"example.com"}}]}"#;
        let p = problem_of(body, Some(1800)).unwrap();
        assert_eq!(p.status, Some(429));
        assert_eq!(p.retry_after_s, Some(1800));
        assert_eq!(p.subproblems.len(), 1);
        assert_eq!(p.subproblems[0].identifier.as_deref(), Some("example.com"));
        assert!(problem_of(b"{}", None).is_none());
    }
}
