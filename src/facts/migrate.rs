//! Loading facts files of every version. An older layout is rewritten, as JSON, into the
//! current one before it is deserialised: one model lives in the code, and each version step
//! is one function here.
//!
//! Accepted: a `--save-facts` file (one run), a version-1 file (one facts object, or an array
//! of them for several domains), and a saved `--json` output of either schema: schema 1's
//! objects carry the whole run under `facts`; schema 2 prints the host snapshot once (beside
//! `facts` for one domain, at the top for several, as a `"record": "host"` line in
//! `--ndjson` read as an array), and it is put back into each domain's facts here.

use super::{FACTS_VERSION, RunFacts};
use serde_json::{Map, Value, json};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    Empty,
    Newer(u64),
    NotFacts(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Empty => f.write_str("holds no facts"),
            LoadError::Newer(v) => write!(
                f,
                "was written by a newer acme-doctor (facts_version {v}); this one reads up to {FACTS_VERSION}"
            ),
            LoadError::NotFacts(why) => write!(f, "is not acme-doctor facts: {why}"),
        }
    }
}

/// Every run held in a parsed facts file, migrated to the current layout.
pub fn from_json(value: Value) -> Result<Vec<RunFacts>, LoadError> {
    let items = match value {
        Value::Array(items) => items,
        // `--json` of several domains (schema 2): the host once, the domains under `results`.
        Value::Object(mut batch) if batch.get("results").is_some_and(Value::is_array) => {
            let Value::Array(results) = take(&mut batch, "results") else {
                return Err(LoadError::NotFacts("results is not an array".into()));
            };
            let mut items = Vec::with_capacity(results.len() + 1);
            if let Some(host) = batch.remove("host").filter(|h| !h.is_null()) {
                items.push(json!({"record": "host", "host": host}));
            }
            items.extend(results);
            items
        }
        other => vec![other],
    };
    // The host snapshot that the `--json` results after it belong to: a schema-2 output
    // prints it once, not in every domain's `facts`.
    let mut host: Option<Value> = None;
    let mut runs = Vec::with_capacity(items.len());
    for mut item in items {
        if item.get("record").and_then(Value::as_str) == Some("host") {
            host = item.get_mut("host").map(Value::take);
            continue;
        }
        // The last line of an interrupted `--ndjson` run names what did not finish.
        if item.get("interrupted").is_some() {
            continue;
        }
        // A saved `--json` output carries its facts inside.
        if item.get("facts").is_some() {
            let own_host = item.get_mut("host").map(Value::take);
            let mut facts = item
                .get_mut("facts")
                .map(Value::take)
                .unwrap_or(Value::Null);
            if let Value::Object(map) = &mut facts
                && !map.contains_key("host")
            {
                if own_host.is_some() {
                    host = own_host;
                }
                let Some(h) = &host else {
                    return Err(LoadError::NotFacts(
                        "a --json result without its host snapshot (keep the whole output: the host is printed once, before the results)".into(),
                    ));
                };
                map.insert("host".into(), h.clone());
            }
            item = facts;
        }
        runs.push(one_run(item)?);
    }
    if runs.is_empty() {
        return Err(LoadError::Empty);
    }
    Ok(runs)
}

/// One facts object of any version, migrated and read.
fn one_run(item: Value) -> Result<RunFacts, LoadError> {
    let version = item
        .get("facts_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| LoadError::NotFacts("no facts_version".into()))?;
    let current = match version {
        1 => v4_to_v5(v3_to_v4(v2_to_v3(v1_to_v2(item)?))),
        2 => v4_to_v5(v3_to_v4(v2_to_v3(item))),
        3 => v4_to_v5(v3_to_v4(item)),
        4 => v4_to_v5(item),
        v if v == u64::from(FACTS_VERSION) => item,
        v if v > u64::from(FACTS_VERSION) => return Err(LoadError::Newer(v)),
        v => return Err(LoadError::NotFacts(format!("unknown facts_version {v}"))),
    };
    serde_json::from_value::<RunFacts>(current).map_err(|e| LoadError::NotFacts(e.to_string()))
}

fn take(map: &mut Map<String, Value>, key: &str) -> Value {
    map.remove(key).unwrap_or(Value::Null)
}

/// Version 1 held one domain per object, with the host facts beside the HTTP-01 facts at the
/// top level, the resolver and the unknown-fact reasons as text.
fn v1_to_v2(item: Value) -> Result<Value, LoadError> {
    let Value::Object(mut v1) = item else {
        return Err(LoadError::NotFacts("a facts entry is not an object".into()));
    };
    let Value::Object(mut target) = take(&mut v1, "target") else {
        return Err(LoadError::NotFacts("no target".into()));
    };
    if target.get("method").and_then(Value::as_str) != Some("http-01") {
        return Err(LoadError::NotFacts("version 1 knows only http-01".into()));
    }
    let resolver = match take(&mut target, "resolver") {
        Value::String(text) => resolver(&text),
        _ => return Err(LoadError::NotFacts("no target.resolver".into())),
    };
    let duration = take(&mut v1, "duration_ms");
    let mut host = take(&mut v1, "host");
    unknown_reasons(&mut host);
    let target_facts = json!({
        "target": {
            "domain": {
                "input": take(&mut target, "input"),
                "ascii": take(&mut target, "domain"),
                "wildcard": take(&mut target, "wildcard"),
            },
            "resolver": resolver,
        },
        "dns": take(&mut v1, "dns"),
        "method": {"http-01": {
            "connects": v1.remove("connects").unwrap_or_else(|| json!([])),
            "http": v1.remove("http").unwrap_or_else(|| json!([])),
        }},
        "duration_ms": duration,
    });
    Ok(json!({
        "facts_version": 2,
        "tool_version": take(&mut v1, "tool_version"),
        "started_at": take(&mut v1, "started_at"),
        "options": take(&mut v1, "options"),
        "host": host,
        "targets": [target_facts],
        "duration_ms": duration,
    }))
}

/// Version 2 kept the TCP connects inside the HTTP-01 facts (of the target and of each outside
/// observation); version 3 keeps them beside the method's facts, shared by every method.
fn v2_to_v3(mut item: Value) -> Value {
    fn lift(holder: &mut Value, inner: &str) {
        let Value::Object(map) = holder else { return };
        let connects = map
            .get_mut(inner)
            .and_then(|m| match inner {
                // A target's method facts are keyed by the method's name.
                "method" => m.get_mut("http-01"),
                _ => Some(m),
            })
            .and_then(Value::as_object_mut)
            .and_then(|facts| facts.remove("connects"));
        if let Some(connects) = connects {
            map.insert("connects".into(), connects);
        }
    }
    if let Some(Value::Array(targets)) = item.get_mut("targets") {
        for target in targets {
            lift(target, "method");
            if let Some(Value::Array(vantages)) = target.get_mut("vantages") {
                for v in vantages {
                    if let Some(observation) = v.get_mut("observed").and_then(|o| o.get_mut("Ok")) {
                        lift(observation, "http01");
                    }
                }
            }
        }
    }
    if let Value::Object(map) = &mut item {
        map.insert("facts_version".into(), json!(3));
    }
    item
}

/// Version 4 added what the CA said (`targets[].ca`, `certificate.last_failure`), both
/// optional: a version-3 file is a version-4 file that heard nothing from the CA.
fn v3_to_v4(mut item: Value) -> Value {
    if let Value::Object(map) = &mut item {
        map.insert("facts_version".into(), json!(4));
    }
    item
}

/// Version 5 (issue 20) added what each perspective fetched and compared, all optional: the
/// challenge GET's User-Agent (`http[].agent`, `own` before: the only one sent), the host's
/// own-User-Agent GET, a block page's fingerprint, the `closed` outcome, a random path's 404,
/// validators and the certificate per address, a vantage's `own_sources`, a container's nginx,
/// Traefik's files and `method_from`. A version-4 file is a version-5 file that saw none of it.
fn v4_to_v5(mut item: Value) -> Value {
    if let Value::Object(map) = &mut item {
        map.insert("facts_version".into(), json!(5));
    }
    item
}

/// `192.0.2.53:53` or `system (192.0.2.53, 2001:db8::53)`. Text that is neither stays a
/// system resolver with no known server rather than failing the whole file.
fn resolver(text: &str) -> Value {
    if let Ok(address) = text.parse::<std::net::SocketAddr>() {
        return json!({"kind": "given", "address": address});
    }
    let servers: Vec<std::net::IpAddr> = text
        .strip_prefix("system (")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(|list| {
            list.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    json!({"kind": "system", "servers": servers})
}

/// Version 1 stored why a fact was unknown as a sentence; version 2 as a kind. The sentences
/// were written by this tool's own probes, so their shapes are known.
fn unknown_reasons(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get("unknown") {
                let reason = reason(text);
                map.insert("unknown".into(), reason);
                return;
            }
            for v in map.values_mut() {
                unknown_reasons(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unknown_reasons),
        _ => {}
    }
}

fn reason(text: &str) -> Value {
    if let Some(program) = text.strip_suffix(" is not installed") {
        return json!({"reason": "not-installed", "program": program});
    }
    const DENIED: &str = ": permission denied (run acme-doctor as root to read the firewall): ";
    if let Some((program, message)) = text.split_once(DENIED) {
        return json!({"reason": "permission-denied", "program": program, "message": message});
    }
    if let Some((program, rest)) = text.split_once(" did not finish within ") {
        let secs: u64 = rest.trim_end_matches(" s").parse().unwrap_or(0);
        return json!({"reason": "timed-out", "program": program, "after_ms": secs * 1000});
    }
    json!({"reason": "failed", "message": text})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Resolver, Unknown};

    #[test]
    fn version_1_reasons_become_kinds() {
        let denied = "nft: permission denied (run acme-doctor as root to read the firewall): Operation not permitted";
        let parsed: Unknown = serde_json::from_value(reason(denied)).unwrap();
        assert_eq!(
            parsed,
            Unknown::PermissionDenied {
                program: "nft".into(),
                message: "Operation not permitted".into()
            }
        );
        assert_eq!(parsed.to_string(), denied);
        let missing: Unknown =
            serde_json::from_value(reason("iptables-legacy-save is not installed")).unwrap();
        assert!(matches!(missing, Unknown::NotInstalled { .. }));
        let other: Unknown = serde_json::from_value(reason("uname: boom")).unwrap();
        assert_eq!(other, Unknown::failed("uname: boom"));
    }

    #[test]
    fn version_1_resolvers_become_structured() {
        let given: Resolver = serde_json::from_value(resolver("203.0.113.53:53")).unwrap();
        assert_eq!(given.to_string(), "203.0.113.53:53");
        let system: Resolver =
            serde_json::from_value(resolver("system (192.0.2.53, 2001:db8::53)")).unwrap();
        assert_eq!(system.to_string(), "system (192.0.2.53, 2001:db8::53)");
        assert_eq!(system.first_ip(), Some("192.0.2.53".parse().unwrap()));
    }

    #[test]
    fn version_2_connects_move_beside_the_method() {
        let connect = json!({"address": "192.0.2.1", "port": 80, "outcome": {"kind": "refused"}, "elapsed_ms": 1});
        let v2 = json!({
            "facts_version": 2, "targets": [{
                "method": {"http-01": {"connects": [connect], "http": []}},
                "vantages": [{"vantage": "v", "elapsed_ms": 0,
                    "observed": {"Ok": {"dns": null, "http01": {"connects": [connect]}}}}]
            }]
        });
        let v3 = v2_to_v3(v2);
        assert_eq!(v3["facts_version"], 3);
        let target = &v3["targets"][0];
        assert_eq!(target["connects"], json!([connect]));
        assert!(target["method"]["http-01"].get("connects").is_none());
        let observed = &target["vantages"][0]["observed"]["Ok"];
        assert_eq!(observed["connects"], json!([connect]));
        assert!(observed["http01"].get("connects").is_none());
    }

    #[test]
    fn newer_files_are_refused_by_version() {
        let err = from_json(json!({"facts_version": 99})).unwrap_err();
        assert_eq!(err, LoadError::Newer(99));
        assert_eq!(from_json(json!([])).unwrap_err(), LoadError::Empty);
    }
}
