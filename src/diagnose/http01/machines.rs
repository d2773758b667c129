//! Whether two addresses of one name are the same machine (the same site), from what each
//! answered beyond the token: the body of `/`, a missing page's 404, `ETag` and
//! `Last-Modified` of `/`, the certificate on 443. Two machines running the same server
//! software give the same status, `Server` and often the same title; these tell them apart.
//!
//! No check: the `ca-path` check words it as `families-disagree`, and the `host` check may
//! quote it. Pure, like all of `diagnose/`.

use crate::facts::{AddressAnswers, Answered, HopOutcome, TlsSeen};

/// One thing two addresses answered differently, each compared only where both answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    Certificate,
    Etag,
    LastModified,
    RootBody,
    MissingPage,
}

impl Signal {
    pub fn label(self) -> &'static str {
        match self {
            Signal::Certificate => "the certificate on 443",
            Signal::Etag => "the ETag of /",
            Signal::LastModified => "the Last-Modified of /",
            Signal::RootBody => "the body of /",
            Signal::MissingPage => "the 404 page of a missing path",
        }
    }
}

fn answered(o: &HopOutcome) -> Option<&Answered> {
    match o {
        HopOutcome::Answer(a) => Some(a),
        _ => None,
    }
}

/// Whether `/` changes between two requests to one address: then its body hash tells no
/// machines apart. Known only where the probe asked `/` twice.
pub fn root_is_dynamic(answers: &[&AddressAnswers]) -> bool {
    answers
        .iter()
        .any(|a| match (answered(&a.root), &a.root_again_sha256) {
            (Some(x), Some(again)) => x.body_sha256 != *again,
            _ => false,
        })
}

/// The signals in which `a` and `b` differ. `dynamic`: `/` was seen to change per request,
/// so its body is left out.
pub fn differing(a: &AddressAnswers, b: &AddressAnswers, dynamic: bool) -> Vec<Signal> {
    let mut out = Vec::new();
    if let (
        Some(TlsSeen::Certificate { sha256: x, .. }),
        Some(TlsSeen::Certificate { sha256: y, .. }),
    ) = (&a.tls, &b.tls)
        && x != y
    {
        out.push(Signal::Certificate);
    }
    if let (Some(x), Some(y)) = (answered(&a.root), answered(&b.root)) {
        let both_differ =
            |p: &Option<String>, q: &Option<String>| matches!((p, q), (Some(p), Some(q)) if p != q);
        if both_differ(&x.etag, &y.etag) {
            out.push(Signal::Etag);
        }
        if both_differ(&x.last_modified, &y.last_modified) {
            out.push(Signal::LastModified);
        }
        if !dynamic && !x.body_sha256.is_empty() && x.body_sha256 != y.body_sha256 {
            out.push(Signal::RootBody);
        }
    }
    if let (Some(x), Some(y)) = (
        a.missing.as_ref().and_then(answered),
        b.missing.as_ref().and_then(answered),
    ) && (x.status != y.status || x.server != y.server || x.body_sha256 != y.body_sha256)
    {
        out.push(Signal::MissingPage);
    }
    out
}

/// Whether the differing signals show two machines (two sites), not one site whose pages
/// vary: a different certificate; or a different `/` whose validators differ too (a static
/// page that is another file); or a different `/` and a different 404 page together. A
/// different `/` alone (a dynamic page), or different validators over the same body (one site
/// deployed twice), is not enough.
pub fn another_machine(signals: &[Signal]) -> bool {
    let has = |s| signals.contains(&s);
    has(Signal::Certificate)
        || (has(Signal::RootBody) && (has(Signal::Etag) || has(Signal::LastModified)))
        || (has(Signal::RootBody) && has(Signal::MissingPage))
}

/// A short account of what identifies one address, for evidence.
pub fn identity(a: &AddressAnswers) -> String {
    let mut parts = Vec::new();
    if let Some(x) = answered(&a.root) {
        let mut root = format!("/ body sha256 {}", short(&x.body_sha256));
        if let Some(e) = &x.etag {
            root.push_str(&format!(", ETag {e}"));
        }
        if let Some(l) = &x.last_modified {
            root.push_str(&format!(", Last-Modified {l}"));
        }
        parts.push(root);
    }
    if let Some(x) = a.missing.as_ref().and_then(answered) {
        parts.push(format!(
            "404 page: {} {} sha256 {}",
            x.status,
            x.server.as_deref().unwrap_or("-"),
            short(&x.body_sha256)
        ));
    }
    match &a.tls {
        Some(TlsSeen::Certificate {
            sha256,
            subject,
            issuer,
            names,
        }) => parts.push(format!(
            "443 certificate sha256 {} (subject {}, issuer {}{})",
            short(sha256),
            subject.as_deref().unwrap_or("-"),
            issuer.as_deref().unwrap_or("-"),
            if names.is_empty() {
                String::new()
            } else {
                format!(", names {}", names.join(" "))
            }
        )),
        Some(TlsSeen::Failed { message }) => parts.push(format!("443: {message}")),
        None => {}
    }
    parts.join("; ")
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn page(body: &str, etag: Option<&str>) -> HopOutcome {
        HopOutcome::Answer(Box::new(Answered {
            status: 200,
            server: Some("nginx/1.22.1".into()),
            location: None,
            www_authenticate: None,
            marks: Vec::new(),
            title: Some("Shop".into()),
            body_head_hex: String::new(),
            body_prefix: String::new(),
            body_bytes: body.len() as u64,
            body_sha256: format!("{body:0>64}"),
            etag: etag.map(str::to_string),
            last_modified: None,
        }))
    }

    fn missing(body: &str) -> HopOutcome {
        match page(body, None) {
            HopOutcome::Answer(mut a) => {
                a.status = 404;
                HopOutcome::Answer(a)
            }
            other => other,
        }
    }

    fn at(
        ip: &str,
        root: HopOutcome,
        missing: Option<HopOutcome>,
        cert: Option<&str>,
    ) -> AddressAnswers {
        AddressAnswers {
            address: ip.parse::<IpAddr>().unwrap(),
            token: missing.clone().unwrap_or(HopOutcome::NotProbed),
            root,
            missing,
            root_again_sha256: None,
            tls: cert.map(|c| TlsSeen::Certificate {
                sha256: c.into(),
                subject: None,
                issuer: None,
                names: Vec::new(),
            }),
        }
    }

    #[test]
    fn another_certificate_is_another_machine_even_with_the_same_pages() {
        let a = at(
            "192.0.2.10",
            page("a", None),
            Some(missing("n")),
            Some("c1"),
        );
        let b = at(
            "2001:db8::10",
            page("a", None),
            Some(missing("n")),
            Some("c2"),
        );
        let s = differing(&a, &b, false);
        assert_eq!(s, [Signal::Certificate]);
        assert!(another_machine(&s));
        let same = at(
            "2001:db8::10",
            page("a", None),
            Some(missing("n")),
            Some("c1"),
        );
        assert!(differing(&a, &same, false).is_empty());
    }

    #[test]
    fn a_static_page_that_is_another_file_is_another_machine() {
        let a = at("192.0.2.10", page("a", Some("\"1-a\"")), None, None);
        let b = at("2001:db8::10", page("b", Some("\"2-b\"")), None, None);
        let s = differing(&a, &b, false);
        assert_eq!(s, [Signal::Etag, Signal::RootBody]);
        assert!(another_machine(&s));
    }

    #[test]
    fn one_site_deployed_twice_is_not_another_machine() {
        // Same body, validators from two copies (nginx's ETag is mtime and size).
        let a = at(
            "192.0.2.10",
            page("a", Some("\"1-a\"")),
            Some(missing("n")),
            None,
        );
        let b = at(
            "192.0.2.11",
            page("a", Some("\"2-a\"")),
            Some(missing("n")),
            None,
        );
        let s = differing(&a, &b, false);
        assert_eq!(s, [Signal::Etag]);
        assert!(!another_machine(&s));
    }

    #[test]
    fn a_dynamic_page_alone_is_not_another_machine() {
        let a = at("192.0.2.10", page("a", None), Some(missing("n")), None);
        let b = at("2001:db8::10", page("b", None), Some(missing("n")), None);
        assert!(!another_machine(&differing(&a, &b, false)));
        // Both `/` and the 404 differ: another site...
        let c = at("2001:db8::10", page("b", None), Some(missing("m")), None);
        assert!(another_machine(&differing(&a, &c, false)));
        // ...unless `/` was seen to change between two requests to one address.
        let mut again = a;
        again.root_again_sha256 = Some("changed".into());
        assert!(root_is_dynamic(&[&again, &c]));
        assert!(!another_machine(&differing(&again, &c, true)));
    }

    #[test]
    fn what_was_not_seen_on_both_sides_is_no_difference() {
        let a = at("192.0.2.10", page("a", Some("\"1\"")), None, Some("c1"));
        let b = at("2001:db8::10", HopOutcome::Timeout, None, None);
        assert!(differing(&a, &b, false).is_empty());
    }
}
