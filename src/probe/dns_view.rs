//! The DNS facts beyond A and AAAA, asked the way the CA's resolver and the zone's own servers
//! answer them: the CAA tree walk (`docs/ca-behaviour.md` §5.2), the DNS-01 TXT set (§4),
//! SERVFAILs asked again with DNSSEC checking disabled (§4.5), and the authoritative view.
//! All through [`RawDns`], so tests can script the servers.

use super::dns_raw::{Ask, QueryError, RawAnswer, Rr};
use crate::facts::{
    AuthoritativeFacts, CaaFacts, CaaLevel, CaaRecord, CdRetry, ChainFacts, CnameHop, Dns01Facts,
    DnsOutcome, Ede, NameserverFacts, Rcode, Rrsig, ServerAnswer, TxtLookup,
};
use futures_util::future::join_all;
use hickory_resolver::proto::rr::RecordType;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// One query to one server.
pub trait RawDns {
    fn query(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
        ask: Ask,
    ) -> impl Future<Output = Result<RawAnswer, QueryError>>;
}

/// The real client.
pub struct RawClient;

impl RawDns for RawClient {
    async fn query(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
        ask: Ask,
    ) -> Result<RawAnswer, QueryError> {
        super::dns_raw::query(server, name, rtype, ask).await
    }
}

/// Where and how long to ask.
#[derive(Debug, Clone, Copy)]
pub struct Where {
    /// The recursive resolver (the CA's stand-in).
    pub resolver: SocketAddr,
    /// Port of the authoritative servers.
    pub authoritative_port: u16,
    pub timeout: Duration,
}

impl Where {
    fn recursive(&self, checking_disabled: bool) -> Ask {
        Ask {
            recursion: true,
            checking_disabled,
            dnssec_ok: false,
            timeout: self.timeout,
        }
    }

    fn direct(&self) -> Ask {
        Ask {
            recursion: false,
            checking_disabled: false,
            dnssec_ok: false,
            timeout: self.timeout,
        }
    }
}

fn outcome(answer: &Result<RawAnswer, QueryError>, has_data: bool) -> DnsOutcome {
    match answer {
        Err(QueryError::Timeout) => DnsOutcome::Timeout,
        Err(e) => DnsOutcome::Error {
            message: crate::sanitize::line(&e.to_string(), 200),
        },
        Ok(a) => match a.rcode {
            Rcode::NOERROR if has_data => DnsOutcome::Answer,
            Rcode::NOERROR => DnsOutcome::NoData,
            Rcode::NXDOMAIN => DnsOutcome::NxDomain,
            Rcode::REFUSED => DnsOutcome::Refused,
            rcode => DnsOutcome::ServerFailure { rcode },
        },
    }
}

fn ede(answer: &Result<RawAnswer, QueryError>) -> Option<Ede> {
    answer
        .as_ref()
        .ok()
        .and_then(|a| a.ede.clone())
        .map(|(code, text)| Ede { code, text })
}

fn chain(answer: &Result<RawAnswer, QueryError>, name: &str) -> Vec<CnameHop> {
    answer
        .as_ref()
        .map(|a| {
            a.cname_chain(name)
                .into_iter()
                .map(|(name, target)| CnameHop { name, target })
                .collect()
        })
        .unwrap_or_default()
}

/// The TXT set at `name`, as the resolver gives it.
pub async fn txt<D: RawDns>(dns: &D, at: &Where, name: &str) -> TxtLookup {
    let started = Instant::now();
    let answer = dns
        .query(at.resolver, name, RecordType::TXT, at.recursive(false))
        .await;
    let records: Vec<String> = answer
        .as_ref()
        .map(|a| {
            a.answers
                .iter()
                .filter_map(|r| match &r.rr {
                    Rr::Txt(strings) => Some(crate::sanitize::line(&strings.concat(), 512)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    TxtLookup {
        name: name.to_string(),
        outcome: outcome(&answer, !records.is_empty()),
        cname_chain: chain(&answer, name),
        records,
        ede: ede(&answer),
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// Every name from `name` up to its TLD (`a.b.example.com`, …, `com`).
pub fn caa_names(name: &str) -> Vec<String> {
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    (0..labels.len()).map(|i| labels[i..].join(".")).collect()
}

/// CAA at every level, in parallel, as the CA asks (§5.2).
pub async fn caa<D: RawDns>(dns: &D, at: &Where, name: &str) -> CaaFacts {
    let levels = join_all(caa_names(name).into_iter().map(|level| async move {
        let answer = dns
            .query(at.resolver, &level, RecordType::CAA, at.recursive(false))
            .await;
        let records: Vec<CaaRecord> = answer
            .as_ref()
            .map(|a| {
                a.answers
                    .iter()
                    .filter_map(|r| match &r.rr {
                        Rr::Caa { flags, tag, value } => Some(CaaRecord {
                            flags: *flags,
                            tag: tag.clone(),
                            value: value.clone(),
                        }),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        CaaLevel {
            own_limit: matches!(answer, Err(QueryError::OwnLimit(_))),
            outcome: outcome(&answer, !records.is_empty()),
            cname_chain: chain(&answer, &level),
            ede: ede(&answer),
            records,
            name: level,
        }
    }))
    .await;
    CaaFacts { levels }
}

/// A SERVFAIL asked again with the CD bit; the first answer's EDE says why it failed.
pub async fn cd_retry<D: RawDns>(dns: &D, at: &Where, name: &str, rtype: RecordType) -> CdRetry {
    let (plain, with_cd) = tokio::join!(
        dns.query(at.resolver, name, rtype, at.recursive(false)),
        dns.query(at.resolver, name, rtype, at.recursive(true)),
    );
    let has_data = |a: &Result<RawAnswer, QueryError>| {
        a.as_ref()
            .is_ok_and(|a| a.answers.iter().any(|r| !matches!(r.rr, Rr::Cname(_))))
    };
    let answered = has_data(&with_cd);
    let chain = if answered {
        Some(chain_of_trust(dns, at, name, rtype).await)
    } else {
        None
    };
    CdRetry {
        name: name.to_string(),
        rtype: rtype.to_string(),
        ede: ede(&plain),
        with_cd: outcome(&with_cd, answered),
        chain,
    }
}

/// RFC 4034 Appendix B: the key tag of a DNSKEY, from its RDATA.
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for (i, b) in rdata.iter().enumerate() {
        acc += if i & 1 == 1 {
            u32::from(*b)
        } else {
            u32::from(*b) << 8
        };
    }
    acc += (acc >> 16) & 0xFFFF;
    (acc & 0xFFFF) as u16
}

const DS: u16 = 43;
const RRSIG: u16 = 46;
const DNSKEY: u16 = 48;

/// The zone of `name`, its DS at the parent, its DNSKEYs and the signatures over the record,
/// all asked with CD so a validating resolver hands them over.
async fn chain_of_trust<D: RawDns>(
    dns: &D,
    at: &Where,
    name: &str,
    rtype: RecordType,
) -> ChainFacts {
    let cd = Ask {
        dnssec_ok: true,
        ..at.recursive(true)
    };
    let zone = match dns.query(at.resolver, name, RecordType::SOA, cd).await {
        Ok(a) => a
            .answers
            .iter()
            .chain(&a.authority)
            .find(|r| matches!(r.rr, Rr::Soa { .. }))
            .map_or_else(|| name.to_string(), |r| r.name.clone()),
        Err(_) => name.to_string(),
    };
    let raw = |answer: &Result<RawAnswer, QueryError>, want: u16| -> Vec<Vec<u8>> {
        answer
            .as_ref()
            .map(|a| {
                a.answers
                    .iter()
                    .filter_map(|r| match &r.rr {
                        Rr::Other { rtype, data } if *rtype == want => Some(data.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (ds, keys, signed) = tokio::join!(
        dns.query(at.resolver, &zone, RecordType::DS, cd),
        dns.query(at.resolver, &zone, RecordType::DNSKEY, cd),
        dns.query(at.resolver, name, rtype, cd),
    );
    let ds_tags = raw(&ds, DS)
        .iter()
        .filter(|d| d.len() >= 2)
        .map(|d| u16::from_be_bytes([d[0], d[1]]))
        .collect();
    let dnskey_tags = raw(&keys, DNSKEY).iter().map(|k| key_tag(k)).collect();
    let rrsigs = raw(&signed, RRSIG)
        .iter()
        .filter(|r| r.len() >= 18)
        .map(|r| Rrsig {
            expiration: u64::from(u32::from_be_bytes([r[8], r[9], r[10], r[11]])),
            inception: u64::from(u32::from_be_bytes([r[12], r[13], r[14], r[15]])),
            key_tag: u16::from_be_bytes([r[16], r[17]]),
        })
        .collect();
    ChainFacts {
        zone,
        ds_tags,
        dnskey_tags,
        rrsigs,
        fetched_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

/// The zone of `name` (the owner of the SOA the resolver returns), its nameservers, and what
/// each address of each answers for every (name, type) in `questions`.
pub async fn authoritative<D: RawDns>(
    dns: &D,
    at: &Where,
    name: &str,
    questions: &[(String, RecordType)],
) -> AuthoritativeFacts {
    let mut facts = AuthoritativeFacts {
        zone: None,
        problem: None,
        servers: Vec::new(),
    };
    let soa = dns
        .query(at.resolver, name, RecordType::SOA, at.recursive(false))
        .await;
    let zone = soa.as_ref().ok().and_then(|a| {
        a.answers
            .iter()
            .chain(&a.authority)
            .find(|r| matches!(r.rr, Rr::Soa { .. }))
            .map(|r| r.name.clone())
    });
    let Some(zone) = zone else {
        facts.problem = Some(match &soa {
            Err(e) => format!("the SOA of {name} could not be asked: {e}"),
            Ok(a) => format!("the resolver gave no SOA for {name} ({})", a.rcode),
        });
        return facts;
    };
    facts.zone = Some(zone.clone());
    let zone = &zone;
    let ns = dns
        .query(at.resolver, zone, RecordType::NS, at.recursive(false))
        .await;
    let mut names: Vec<String> = ns
        .as_ref()
        .map(|a| {
            a.answers
                .iter()
                .filter_map(|r| match &r.rr {
                    Rr::Ns(n) => Some(n.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    if names.is_empty() {
        facts.problem = Some(format!("the resolver gave no NS records for {zone}"));
        return facts;
    }
    // The nameservers' own addresses, through the resolver.
    let addressed = join_all(names.iter().map(|ns| async move {
        let (a, aaaa) = tokio::join!(
            dns.query(at.resolver, ns, RecordType::A, at.recursive(false)),
            dns.query(at.resolver, ns, RecordType::AAAA, at.recursive(false)),
        );
        let mut addresses: Vec<IpAddr> = Vec::new();
        for answer in [a, aaaa].iter().flatten() {
            for r in &answer.answers {
                if let Rr::A(ip) | Rr::Aaaa(ip) = r.rr {
                    addresses.push(ip);
                }
            }
        }
        (ns.clone(), addresses)
    }))
    .await;
    let servers = addressed.into_iter().flat_map(|(ns, addresses)| {
        addresses
            .into_iter()
            .map(move |ip| (ns.clone(), SocketAddr::new(ip, at.authoritative_port)))
    });
    facts.servers = join_all(servers.map(|(ns, address)| async move {
        let serial = dns
            .query(address, zone, RecordType::SOA, at.direct())
            .await
            .ok()
            .and_then(|a| {
                a.answers.iter().find_map(|r| match r.rr {
                    Rr::Soa { serial } => Some(serial),
                    _ => None,
                })
            });
        let answers = join_all(questions.iter().map(|(qname, rtype)| async move {
            let answer = dns.query(address, qname, *rtype, at.direct()).await;
            let (mut values, ttl) = values_of(&answer, qname, *rtype);
            values.sort();
            ServerAnswer {
                name: qname.clone(),
                rtype: rtype.to_string(),
                outcome: outcome(&answer, !values.is_empty()),
                values,
                ttl,
            }
        }))
        .await;
        NameserverFacts {
            name: ns,
            address,
            serial,
            answers,
        }
    }))
    .await;
    facts
}

/// The values of `rtype` owned by `name` in an answer, and their TTL.
fn values_of(
    answer: &Result<RawAnswer, QueryError>,
    name: &str,
    rtype: RecordType,
) -> (Vec<String>, Option<u32>) {
    let Ok(answer) = answer else {
        return (Vec::new(), None);
    };
    let mut ttl = None;
    let values = answer
        .answers
        .iter()
        .filter(|r| r.name == name.trim_end_matches('.').to_ascii_lowercase())
        .filter_map(|r| {
            let value = match (&r.rr, rtype) {
                (Rr::A(ip), RecordType::A) | (Rr::Aaaa(ip), RecordType::AAAA) => ip.to_string(),
                (Rr::Txt(s), RecordType::TXT) => crate::sanitize::line(&s.concat(), 512),
                (Rr::Cname(t), _) => format!("CNAME {t}"),
                _ => return None,
            };
            ttl = Some(ttl.map_or(r.ttl, |t: u32| t.min(r.ttl)));
            Some(value)
        })
        .collect();
    (values, ttl)
}

/// Everything DNS-01 needs at the resolver: the challenge TXT, a sibling (wildcard test), and
/// when nothing is there, the doubled-label name.
pub async fn dns01<D: RawDns>(
    dns: &D,
    at: &Where,
    domain: &str,
    expect_txt: Option<String>,
) -> Dns01Facts {
    let challenge = format!("_acme-challenge.{domain}");
    let sibling_name = format!("_acme-doctor-{}.{domain}", sibling_label());
    let (found, sibling) = tokio::join!(txt(dns, at, &challenge), txt(dns, at, &sibling_name));
    let doubled = if found.records.is_empty() {
        let zone = authoritative_zone(dns, at, domain).await;
        let doubled_name = format!("{challenge}.{}", zone.as_deref().unwrap_or(domain));
        Some(txt(dns, at, &doubled_name).await)
    } else {
        None
    };
    Dns01Facts {
        challenge,
        expect_txt,
        txt: found,
        sibling: Some(sibling),
        doubled,
    }
}

async fn authoritative_zone<D: RawDns>(dns: &D, at: &Where, name: &str) -> Option<String> {
    let soa = dns
        .query(at.resolver, name, RecordType::SOA, at.recursive(false))
        .await
        .ok()?;
    soa.answers
        .iter()
        .chain(&soa.authority)
        .find(|r| matches!(r.rr, Rr::Soa { .. }))
        .map(|r| r.name.clone())
}

fn sibling_label() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..10)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tags_follow_rfc_4034_appendix_b() {
        // RFC 4034 §5.4 example: DNSKEY 256 3 5 AQOeiiR0GOMYkDshWoSKz9Xz… has key tag 60485.
        let key = "AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==";
        let mut rdata = vec![1, 0, 3, 5];
        rdata.extend(base64_decode(key));
        assert_eq!(key_tag(&rdata), 60485);
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in text.bytes().filter(|c| *c != b'=') {
            let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        out
    }

    #[test]
    fn caa_is_asked_at_every_level_up_to_the_tld() {
        assert_eq!(
            caa_names("a.b.example.com."),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
    }
}
