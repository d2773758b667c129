//! CDNs and reverse-proxy services in front of a name: by the address ranges their operators
//! publish (shipped as data in `data/cdn-ranges.txt`, each provider with its source and date),
//! and by the `Server` header their edges send. A leaf: pure lookups.

use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::OnceLock;

/// The shipped ranges.
pub const SHIPPED: &str = include_str!("../data/cdn-ranges.txt");

/// A file given with `--cdn-ranges` is read up to this size.
const OVERRIDE_CAP: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub name: String,
    pub source: String,
    pub as_of: String,
    pub nets: Vec<IpNet>,
}

/// Parses the ranges file format (see `data/cdn-ranges.txt`).
pub fn parse(text: &str) -> Result<Vec<Provider>, String> {
    let mut providers: Vec<Provider> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: &str| format!("line {}: {what}", n + 1);
        if let Some(rest) = line.strip_prefix('@') {
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            let value = value.trim().to_string();
            match key {
                "provider" if !value.is_empty() => providers.push(Provider {
                    name: value,
                    source: String::new(),
                    as_of: String::new(),
                    nets: Vec::new(),
                }),
                "source" | "as-of" | "copy" => {
                    let p = providers
                        .last_mut()
                        .ok_or_else(|| at("@provider must come first"))?;
                    match key {
                        "source" => p.source = value,
                        "as-of" => p.as_of = value,
                        _ => {}
                    }
                }
                _ => return Err(at(&format!("unknown @{key}"))),
            }
            continue;
        }
        let net: IpNet = line
            .parse()
            .map_err(|_| at(&format!("{line:?} is not a CIDR")))?;
        providers
            .last_mut()
            .ok_or_else(|| at("@provider must come first"))?
            .nets
            .push(net);
    }
    Ok(providers)
}

/// Reads and checks a `--cdn-ranges` file: its text, for the facts.
pub fn read_override(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(OVERRIDE_CAP).read_to_string(&mut text))
        .map_err(|e| format!("--cdn-ranges {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("--cdn-ranges {}: {e}", path.display()))?;
    Ok(text)
}

fn shipped() -> &'static [Provider] {
    static CELL: OnceLock<Vec<Provider>> = OnceLock::new();
    // The shipped file is checked by a test; a broken copy would mean no ranges, not a panic.
    CELL.get_or_init(|| parse(SHIPPED).unwrap_or_default())
}

/// The ranges in force: the override's when there is one, else the shipped ones.
#[derive(Debug)]
pub struct Ranges {
    own: Option<Vec<Provider>>,
}

impl Ranges {
    pub fn new(override_text: Option<&str>) -> Ranges {
        Ranges {
            own: override_text.map(|t| parse(t).unwrap_or_default()),
        }
    }

    fn providers(&self) -> &[Provider] {
        match &self.own {
            Some(own) => own,
            None => shipped(),
        }
    }

    /// The provider whose published range holds `ip`, and that range.
    pub fn lookup(&self, ip: &IpAddr) -> Option<(&Provider, IpNet)> {
        self.providers()
            .iter()
            .find_map(|p| p.nets.iter().find(|n| n.contains(ip)).map(|n| (p, *n)))
    }
}

/// The CDN a `Server` header names, by the values their edges send.
pub fn by_server_header(server: &str) -> Option<&'static str> {
    let s = server.trim().to_ascii_lowercase();
    const SIGNATURES: &[(&str, &str)] = &[
        ("cloudflare", "Cloudflare"),
        ("cloudfront", "Amazon CloudFront"),
        ("akamaighost", "Akamai"),
        ("akamainetstorage", "Akamai"),
        ("sucuri/cloudproxy", "Sucuri"),
        ("ddos-guard", "DDoS-Guard"),
        ("bunnycdn", "Bunny CDN"),
    ];
    SIGNATURES
        .iter()
        .find(|(sig, _)| {
            s == *sig || s.starts_with(&format!("{sig}-")) || s.starts_with(&format!("{sig}/"))
        })
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_ranges_parse_and_every_provider_says_where_and_when() {
        let providers = parse(SHIPPED).unwrap();
        assert!(providers.len() >= 3);
        for p in &providers {
            assert!(p.source.starts_with("https://"), "{}", p.name);
            assert_eq!(p.as_of.len(), 10, "{}: date as YYYY-MM-DD", p.name);
            assert!(!p.nets.is_empty(), "{}", p.name);
        }
    }

    #[test]
    fn published_addresses_are_found_and_others_are_not() {
        let r = Ranges::new(None);
        let (p, net) = r.lookup(&"104.16.132.229".parse().unwrap()).unwrap();
        assert_eq!(
            (p.name.as_str(), net.to_string().as_str()),
            ("Cloudflare", "104.16.0.0/13")
        );
        assert_eq!(
            r.lookup(&"2606:4700::6810:84e5".parse().unwrap())
                .unwrap()
                .0
                .name,
            "Cloudflare"
        );
        assert_eq!(
            r.lookup(&"151.101.1.69".parse().unwrap()).unwrap().0.name,
            "Fastly"
        );
        assert_eq!(
            r.lookup(&"13.32.99.1".parse().unwrap()).unwrap().0.name,
            "Amazon CloudFront"
        );
        assert!(r.lookup(&"192.0.2.10".parse().unwrap()).is_none());
        assert!(r.lookup(&"2001:db8::1".parse().unwrap()).is_none());
    }

    #[test]
    fn an_override_replaces_the_shipped_ranges() {
        let text = "@provider Lab CDN\n@source https://lab.test/ranges\n@as-of 2026-11-28\n198.51.100.0/24\n";
        let r = Ranges::new(Some(text));
        assert_eq!(
            r.lookup(&"198.51.100.80".parse().unwrap()).unwrap().0.name,
            "Lab CDN"
        );
        assert!(r.lookup(&"104.16.132.229".parse().unwrap()).is_none());
        assert!(
            parse("198.51.100.0/24\n")
                .unwrap_err()
                .contains("@provider must come first")
        );
        assert!(
            parse("@provider X\nnot-a-net\n")
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn edges_are_known_by_their_server_header() {
        assert_eq!(by_server_header("cloudflare"), Some("Cloudflare"));
        assert_eq!(by_server_header("CloudFront"), Some("Amazon CloudFront"));
        assert_eq!(by_server_header("AkamaiGHost"), Some("Akamai"));
        assert_eq!(by_server_header("Sucuri/Cloudproxy"), Some("Sucuri"));
        assert_eq!(by_server_header("BunnyCDN-DE1-1054"), Some("Bunny CDN"));
        assert_eq!(by_server_header("nginx/1.22.1"), None);
        // Its older name.
        assert_eq!(by_server_header("cloudflare-nginx"), Some("Cloudflare"));
        assert_eq!(by_server_header("not-cloudflare"), None);
    }
}
