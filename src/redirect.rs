//! Boulder's redirect policy for HTTP-01 (`docs/ca-behaviour.md` §2.5), as a pure function: a
//! leaf shared by `probe/` (which follows a redirect only where the CA would) and `diagnose/`
//! (which words a refusal in the CA's terms, `diagnose::ca`). Imports only other leaves.

use crate::reserved;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use url::{Host, Url};

/// Boulder's `maxRedirect`: the counter is compared with `>` before it is incremented, so
/// redirects 1 to 11 are followed and the 12th is refused (§2.5 step 1).
pub const MAX_REDIRECTS: usize = 10;
/// A redirect target path longer than this is refused (§2.5 step 11).
pub const MAX_PATH_BYTES: usize = 2000;

/// Why the CA refuses to follow a redirect, in the order Boulder checks. Serialised into the
/// facts as a kind, so rewording changes no saved file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Refusal {
    TooMany,
    Status303,
    Scheme {
        scheme: String,
    },
    Port {
        port: u16,
    },
    EmptyHost,
    MissingSlash {
        host: String,
    },
    ScopeZone,
    /// A reserved IP literal, with Boulder's text for its block.
    ReservedIp {
        block: String,
    },
    NotIanaTld,
    TooLong,
    Loop,
    /// The Location header cannot be parsed as a URL at all (Go's client fails the request).
    Unparsable,
}

/// Whether `status` is a redirect Go's client acts on at all. Other 3xx answers (300, 304)
/// reach the status check instead (§2.5 step 3).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The redirect target of `location` seen at `from`, resolved as Go resolves it, when the CA
/// would follow it. `followed` is the number of redirects already followed; `visited` every
/// URL requested so far in this validation, the first one included.
pub fn judge(
    status: u16,
    from: &Url,
    location: &str,
    followed: usize,
    visited: &[String],
    allow_reserved: bool,
) -> Result<Url, Refusal> {
    if followed > MAX_REDIRECTS {
        return Err(Refusal::TooMany);
    }
    // (Step 2, TLS < 1.2 on the redirecting response, cannot happen: our client, like Go's,
    // refuses to negotiate below 1.2.)
    if status == 303 {
        return Err(Refusal::Status303);
    }
    // Go's parser keeps `https:///x` hostless; the WHATWG parser would take `x` as the host.
    if let Some((scheme, rest)) = location.trim().split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && (rest.is_empty() || rest.starts_with(['/', '?', '#']))
    {
        return Err(Refusal::EmptyHost);
    }
    let target = match from.join(location.trim()) {
        Ok(t) => t,
        Err(url::ParseError::EmptyHost) => return Err(Refusal::EmptyHost),
        Err(url::ParseError::InvalidIpv6Address) if location.contains('%') => {
            return Err(Refusal::ScopeZone);
        }
        Err(_) => return Err(Refusal::Unparsable),
    };
    let scheme = target.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(Refusal::Scheme {
            scheme: scheme.to_string(),
        });
    }
    if let Some(port) = target.port().filter(|p| *p != 80 && *p != 443) {
        return Err(Refusal::Port { port });
    }
    match target.host() {
        None => return Err(Refusal::EmptyHost),
        Some(Host::Domain("")) => return Err(Refusal::EmptyHost),
        Some(Host::Domain(h)) => {
            let h = h.trim_end_matches('.');
            if h.ends_with(".well-known") {
                return Err(Refusal::MissingSlash {
                    host: h.to_string(),
                });
            }
            // The lab's names (RFC 6761 special-use TLDs) stand in for public ones as its
            // documentation addresses do, under --allow-reserved only.
            let lab_name = allow_reserved && special_use_tld(h);
            if !iana_tld(h) && !lab_name {
                return Err(Refusal::NotIanaTld);
            }
        }
        Some(Host::Ipv4(ip)) => reserved_literal(IpAddr::V4(ip), allow_reserved)?,
        Some(Host::Ipv6(ip)) => reserved_literal(IpAddr::V6(ip), allow_reserved)?,
    }
    if target.path().len() > MAX_PATH_BYTES {
        return Err(Refusal::TooLong);
    }
    if visited.iter().any(|v| v == target.as_str()) {
        return Err(Refusal::Loop);
    }
    Ok(target)
}

fn reserved_literal(ip: IpAddr, allow_reserved: bool) -> Result<(), Refusal> {
    match reserved::classify(&ip) {
        Some(entry) if !allow_reserved => Err(Refusal::ReservedIp {
            block: entry.boulder_text(),
        }),
        _ => Ok(()),
    }
}

/// Whether `host` ends in a TLD of the ICANN section of the Public Suffix List, as Boulder's
/// `iana.ExtractSuffix` requires (§2.5 step 10). `.local`, `.internal`, `.lan` and made-up
/// TLDs are not.
pub fn iana_tld(host: &str) -> bool {
    let Some(tld) = host.rsplit('.').next().filter(|t| !t.is_empty()) else {
        return false;
    };
    let lower = tld.to_ascii_lowercase();
    psl::suffix(lower.as_bytes()).is_some_and(|s| s.is_known() && s.typ() == Some(psl::Type::Icann))
}

/// The top-level names RFC 6761 §6 reserves (issue 20 item 7): `test` (§6.2), `localhost`
/// (§6.3), `invalid` (§6.4) and `example` (§6.5). §6.5's `example.com`, `example.net` and
/// `example.org` end in ICANN TLDs and pass [`iana_tld`] already; §6.1's reverse zones end in
/// `arpa`, an ICANN TLD too. Names reserved elsewhere (`.local`, RFC 6762; `.onion`, RFC 7686;
/// `home.arpa`; `.internal`; `.alt`) are not RFC 6761's and are not exempted.
pub const SPECIAL_USE_TLDS: &[&str] = &["test", "localhost", "invalid", "example"];

/// Whether `host` is a name below one of RFC 6761's special-use TLDs (`a.test`, not `test`).
pub fn special_use_tld(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    match host.rsplit_once('.') {
        Some((below, tld)) if !below.is_empty() => SPECIAL_USE_TLDS
            .iter()
            .any(|special| tld.eq_ignore_ascii_case(special)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Url {
        Url::parse("http://example.com/.well-known/acme-challenge/T").unwrap()
    }

    fn judge1(status: u16, location: &str) -> Result<Url, Refusal> {
        judge(status, &from(), location, 0, &[from().to_string()], false)
    }

    #[test]
    fn the_four_redirect_statuses_are_followed_and_303_is_refused() {
        for status in [301, 302, 307, 308] {
            assert!(judge1(status, "https://example.com/x").is_ok(), "{status}");
        }
        assert_eq!(
            judge1(303, "https://example.com/x"),
            Err(Refusal::Status303)
        );
        assert!(!is_redirect(300) && !is_redirect(304) && is_redirect(308));
    }

    #[test]
    fn eleven_redirects_are_followed_and_the_twelfth_is_refused() {
        let ok = |followed| judge(301, &from(), "/next", followed, &[], false);
        assert!(ok(0).is_ok());
        assert!(ok(10).is_ok(), "the 11th redirect is followed");
        assert_eq!(ok(11), Err(Refusal::TooMany), "the 12th is refused");
    }

    #[test]
    fn only_http_and_https_on_ports_80_and_443() {
        assert_eq!(
            judge1(301, "ftp://example.com/x"),
            Err(Refusal::Scheme {
                scheme: "ftp".into()
            })
        );
        assert_eq!(
            judge1(301, "https://example.com:9443/x"),
            Err(Refusal::Port { port: 9443 })
        );
        assert_eq!(
            judge1(301, "http://example.com:8080/x"),
            Err(Refusal::Port { port: 8080 })
        );
        assert!(judge1(301, "https://example.com:80/x").is_ok());
        assert!(judge1(301, "http://example.com:443/x").is_ok());
        assert_eq!(judge1(301, "https://example.com/x").unwrap().port(), None);
    }

    #[test]
    fn empty_host_and_missing_slash() {
        assert_eq!(judge1(301, "https:///x"), Err(Refusal::EmptyHost));
        assert_eq!(
            judge1(301, "https://example.com.well-known/acme-challenge/T"),
            Err(Refusal::MissingSlash {
                host: "example.com.well-known".into()
            })
        );
    }

    #[test]
    fn ip_literals_are_allowed_unless_reserved_or_zoned() {
        assert!(judge1(301, "http://93.184.215.14/x").is_ok());
        assert_eq!(
            judge1(301, "http://10.1.2.3/x"),
            Err(Refusal::ReservedIp {
                block: "[RFC1918]: Private-Use".into()
            })
        );
        assert_eq!(
            judge1(301, "http://[fe80::1%25eth0]/x"),
            Err(Refusal::ScopeZone)
        );
        // A lab's documentation addresses stand in for public ones.
        assert!(judge(301, &from(), "http://192.0.2.1/x", 0, &[], true).is_ok());
    }

    #[test]
    fn the_host_must_end_in_an_iana_tld() {
        assert_eq!(
            judge1(301, "http://server.local/x"),
            Err(Refusal::NotIanaTld)
        );
        assert_eq!(
            judge1(301, "http://intranet.lan/x"),
            Err(Refusal::NotIanaTld)
        );
        assert_eq!(judge1(301, "http://localhost/x"), Err(Refusal::NotIanaTld));
        assert!(judge1(301, "http://WWW.Example.ORG/x").is_ok());
        assert!(judge1(301, "http://shop.example.co.uk/x").is_ok());
        assert!(!iana_tld("example.test"));
    }

    /// Issue 20 item 7: every RFC 6761 special-use TLD stands in for a public one under
    /// --allow-reserved, and none does without it.
    #[test]
    fn allow_reserved_exempts_every_rfc_6761_tld_and_only_those() {
        for host in [
            "www.example.test",
            "www.example.example",
            "a.b.invalid",
            "app.localhost",
            "APP.LOCALHOST",
            "www.example.test.",
        ] {
            let location = format!("http://{host}/x");
            assert!(
                judge(301, &from(), &location, 0, &[], true).is_ok(),
                "{host} under --allow-reserved"
            );
            assert_eq!(
                judge(301, &from(), &location, 0, &[], false),
                Err(Refusal::NotIanaTld),
                "{host} without --allow-reserved"
            );
        }
        // Reserved by other RFCs, or not at all: refused either way.
        for host in [
            "server.local",
            "nas.lan",
            "db.internal",
            "a.alt",
            "localhost",
            "a.testing",
            "a.notexample",
        ] {
            let location = format!("http://{host}/x");
            assert_eq!(
                judge(301, &from(), &location, 0, &[], true),
                Err(Refusal::NotIanaTld),
                "{host}"
            );
        }
        // RFC 6761 §6.5's second-level names end in ICANN TLDs: followed with or without.
        for host in ["example.com", "www.example.net", "example.org"] {
            let location = format!("http://{host}/x");
            assert!(
                judge(301, &from(), &location, 0, &[], false).is_ok(),
                "{host}"
            );
        }
    }

    #[test]
    fn special_use_tlds_are_matched_by_whole_label() {
        assert!(special_use_tld("a.test"));
        assert!(special_use_tld("a.Example"));
        assert!(!special_use_tld("test"));
        assert!(!special_use_tld(".test"));
        assert!(!special_use_tld("a.contest"));
        assert!(!special_use_tld("a.test.com"));
    }

    #[test]
    fn a_path_over_2000_bytes_is_too_long() {
        let ok = format!("https://example.com/{}", "a".repeat(1999));
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert!(judge1(301, &ok).is_ok());
        assert_eq!(judge1(301, &long), Err(Refusal::TooLong));
    }

    #[test]
    fn a_url_seen_before_is_a_loop() {
        let visited = vec![from().to_string(), "https://example.com/a".to_string()];
        assert_eq!(
            judge(301, &from(), "https://example.com/a", 1, &visited, false),
            Err(Refusal::Loop)
        );
        assert_eq!(
            judge(
                301,
                &from(),
                "/.well-known/acme-challenge/T",
                1,
                &visited,
                false
            ),
            Err(Refusal::Loop)
        );
        assert!(judge(301, &from(), "https://example.com/b", 1, &visited, false).is_ok());
    }

    #[test]
    fn relative_locations_resolve_against_the_current_url() {
        let t = judge1(302, "/other/path?q=1").unwrap();
        assert_eq!(t.as_str(), "http://example.com/other/path?q=1");
    }
}
