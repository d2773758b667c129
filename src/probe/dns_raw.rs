//! A small DNS client for the questions a stub resolver cannot ask: a query to one chosen
//! server, with or without recursion, with the CD (checking disabled) bit, keeping the rcode,
//! the CNAME chain, the TTLs and an Extended DNS Error (RFC 8914). UDP with EDNS, then TCP
//! when the answer is truncated. Every answer is capped by the protocol's own limits.

use crate::facts::Rcode;
use hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_resolver::proto::rr::rdata::opt::EdnsOption;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// EDE option code (RFC 8914 §2).
const EDE_OPTION: u16 = 15;
/// The EDNS buffer size DNS flag day 2020 recommends.
const UDP_PAYLOAD: u16 = 1232;

/// Tries of one question, as Boulder's resolver client makes them: a query is sent again only
/// after a timeout, up to `dnsTries` (3 in its configuration) in all (`docs/ca-behaviour.md`
/// §4.6). Here the tries share one `--timeout` and an answer to any of them counts, so a slow
/// answer to the first is never thrown away.
pub const DNS_TRIES: u32 = 3;

/// One resource record, reduced to what the diagnosis reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rr {
    A(IpAddr),
    Aaaa(IpAddr),
    Cname(String),
    Caa {
        flags: u8,
        tag: String,
        value: String,
    },
    /// The character-strings of one TXT record.
    Txt(Vec<String>),
    Ns(String),
    Soa {
        serial: u32,
    },
    /// Raw RDATA of a type this client does not decode (DS, DNSKEY, RRSIG).
    Other {
        rtype: u16,
        data: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Owner name, lower case, without the trailing dot.
    pub name: String,
    pub ttl: u32,
    pub rr: Rr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAnswer {
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, …
    pub rcode: Rcode,
    pub authoritative: bool,
    pub answers: Vec<RawRecord>,
    pub authority: Vec<RawRecord>,
    pub additional: Vec<RawRecord>,
    /// RFC 8914: the info-code and the extra text.
    pub ede: Option<(u16, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    Timeout,
    Network(String),
    /// This process is out of file descriptors or socket memory: the query never left.
    OwnLimit(String),
    Malformed(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Timeout => f.write_str("no answer in time"),
            QueryError::Network(m) => write!(f, "network error: {m}"),
            QueryError::OwnLimit(m) => write!(f, "acme-doctor is out of file descriptors: {m}"),
            QueryError::Malformed(m) => write!(f, "malformed answer: {m}"),
        }
    }
}

/// How to ask.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// RD: ask a recursive resolver (true) or an authoritative server (false).
    pub recursion: bool,
    /// CD: ask a validating resolver to skip DNSSEC validation.
    pub checking_disabled: bool,
    /// DO: ask for RRSIGs.
    pub dnssec_ok: bool,
    pub timeout: Duration,
}

fn name_text(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

fn request(name: &str, rtype: RecordType, ask: &Ask) -> Result<(u16, Vec<u8>), QueryError> {
    use rand::RngExt;
    let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
        .map_err(|e| QueryError::Malformed(format!("{name}: {e}")))?;
    let id: u16 = rand::rng().random();
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = ask.recursion;
    msg.metadata.checking_disabled = ask.checking_disabled;
    msg.add_query(Query::query(fqdn, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    edns.set_dnssec_ok(ask.dnssec_ok);
    msg.set_edns(edns);
    let bytes = msg
        .to_vec()
        .map_err(|e| QueryError::Malformed(e.to_string()))?;
    Ok((id, bytes))
}

fn decode(bytes: &[u8], id: u16) -> Result<(RawAnswer, bool), QueryError> {
    let msg = Message::from_vec(bytes).map_err(|e| QueryError::Malformed(e.to_string()))?;
    if msg.metadata.id != id {
        return Err(QueryError::Malformed("answer to another query".into()));
    }
    let truncated = msg.metadata.truncation;
    let section = |records: &[hickory_resolver::proto::rr::Record]| -> Vec<RawRecord> {
        records
            .iter()
            .map(|r| RawRecord {
                name: name_text(&r.name),
                ttl: r.ttl,
                rr: rr_of(&r.data, u16::from(r.record_type())),
            })
            .collect()
    };
    let ede = msg.edns.as_ref().and_then(|edns| {
        edns.options()
            .as_ref()
            .iter()
            .find_map(|(code, option)| match option {
                EdnsOption::Unknown(c, data) if *c == EDE_OPTION && data.len() >= 2 => Some((
                    u16::from_be_bytes([data[0], data[1]]),
                    crate::sanitize::line(&String::from_utf8_lossy(&data[2..]), 200),
                )),
                _ => {
                    let _ = code;
                    None
                }
            })
    });
    Ok((
        RawAnswer {
            rcode: Rcode(u16::from(msg.metadata.response_code)),
            authoritative: msg.metadata.authoritative,
            answers: section(&msg.answers),
            authority: section(&msg.authorities),
            additional: section(&msg.additionals),
            ede,
        },
        truncated,
    ))
}

/// A DNS message decoded as an answer to any id: for the fuzz targets only.
#[doc(hidden)]
pub fn decode_for_fuzzing(bytes: &[u8]) -> Option<RawAnswer> {
    let id = Message::from_vec(bytes).ok()?.metadata.id;
    decode(bytes, id).ok().map(|(answer, _)| answer)
}

fn rr_of(data: &RData, rtype: u16) -> Rr {
    match data {
        RData::A(a) => Rr::A(IpAddr::V4(a.0)),
        RData::AAAA(a) => Rr::Aaaa(IpAddr::V6(a.0)),
        RData::CNAME(c) => Rr::Cname(name_text(&c.0)),
        RData::NS(n) => Rr::Ns(name_text(&n.0)),
        RData::SOA(s) => Rr::Soa { serial: s.serial },
        RData::CAA(c) => Rr::Caa {
            flags: c.flags(),
            tag: crate::sanitize::line(&c.tag, 64),
            value: crate::sanitize::line(&String::from_utf8_lossy(&c.value), 512),
        },
        RData::TXT(t) => Rr::Txt(
            t.txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        RData::Unknown { rdata, .. } => Rr::Other {
            rtype,
            data: rdata.anything.clone(),
        },
        _ => Rr::Other {
            rtype,
            data: Vec::new(),
        },
    }
}

/// Asks `server` one question: over UDP, sent again at each third of the timeout on the same
/// socket (a lost datagram is not an outage) while an answer to either send is taken until the full timeout;
/// over TCP when the answer is truncated.
pub async fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    ask: Ask,
) -> Result<RawAnswer, QueryError> {
    let (id, bytes) = request(name, rtype, &ask)?;
    let started = tokio::time::Instant::now();
    let (answer, truncated) = udp(server, &bytes, id, ask.timeout).await?;
    if !truncated {
        return Ok(answer);
    }
    let left = ask.timeout.saturating_sub(started.elapsed());
    tokio::time::timeout(left, tcp(server, &bytes, id))
        .await
        .map_err(|_| QueryError::Timeout)?
}

/// A socket error, told apart by whose limit it is.
// By value, to be passed as `map_err(net)`.
#[allow(clippy::needless_pass_by_value)]
fn net(e: std::io::Error) -> QueryError {
    if super::own_limit_errno(e.raw_os_error()) {
        QueryError::OwnLimit(e.to_string())
    } else {
        QueryError::Network(e.to_string())
    }
}

async fn udp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<(RawAnswer, bool), QueryError> {
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(net)?;
    socket.connect(server).await.map_err(net)?;
    socket.send(bytes).await.map_err(net)?;
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    // Sent again at each third of the timeout, as Boulder tries a query up to 3 times on
    // timeout (`docs/ca-behaviour.md` §4.6); an answer to any send counts until the deadline.
    let tries = DNS_TRIES;
    let mut sent = 1;
    let mut resend = Some(started + timeout / tries);
    let mut buf = vec![0u8; 4096];
    loop {
        let wake = resend.map_or(deadline, |r| r.min(deadline));
        match tokio::time::timeout_at(wake, socket.recv(&mut buf)).await {
            Ok(Ok(len)) => match decode(&buf[..len], id) {
                Ok(answer) => return Ok(answer),
                // A datagram for another id, or garbage: keep waiting.
                Err(QueryError::Malformed(_)) => continue,
                Err(e) => return Err(e),
            },
            Ok(Err(e)) => return Err(net(e)),
            Err(_) if resend.is_some() && tokio::time::Instant::now() < deadline => {
                sent += 1;
                resend = (sent < tries).then(|| started + timeout / tries * sent);
                socket.send(bytes).await.map_err(net)?;
            }
            Err(_) => return Err(QueryError::Timeout),
        }
    }
}

async fn tcp(server: SocketAddr, bytes: &[u8], id: u16) -> Result<RawAnswer, QueryError> {
    let mut stream = tokio::net::TcpStream::connect(server).await.map_err(net)?;
    let len =
        u16::try_from(bytes.len()).map_err(|_| QueryError::Malformed("query too long".into()))?;
    stream.write_all(&len.to_be_bytes()).await.map_err(net)?;
    stream.write_all(bytes).await.map_err(net)?;
    let mut len_buf = [0u8; 2];
    stream.read_exact(&mut len_buf).await.map_err(net)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len_buf))];
    stream.read_exact(&mut buf).await.map_err(net)?;
    decode(&buf, id).map(|(answer, _)| answer)
}

impl RawAnswer {
    /// The CNAME hops of the answer section, in order, starting at `name`.
    pub fn cname_chain(&self, name: &str) -> Vec<(String, String)> {
        let mut chain = Vec::new();
        let mut owner = name.trim_end_matches('.').to_ascii_lowercase();
        for _ in 0..16 {
            let Some(target) = self.answers.iter().find_map(|r| match &r.rr {
                Rr::Cname(t) if r.name == owner => Some(t.clone()),
                _ => None,
            }) else {
                break;
            };
            chain.push((owner.clone(), target.clone()));
            owner = target;
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_round_trips_through_the_codec() {
        let ask = Ask {
            recursion: false,
            checking_disabled: true,
            dnssec_ok: true,
            timeout: Duration::from_secs(1),
        };
        let (id, bytes) = request("Example.TEST", RecordType::CAA, &ask).unwrap();
        let msg = Message::from_vec(&bytes).unwrap();
        assert_eq!(msg.metadata.id, id);
        assert!(!msg.metadata.recursion_desired);
        assert!(msg.metadata.checking_disabled);
        assert_eq!(msg.queries[0].query_type, RecordType::CAA);
    }

    #[test]
    fn the_cname_chain_is_read_in_order() {
        let rec = |name: &str, target: &str| RawRecord {
            name: name.into(),
            ttl: 60,
            rr: Rr::Cname(target.into()),
        };
        let answer = RawAnswer {
            rcode: Rcode::NXDOMAIN,
            authoritative: false,
            answers: vec![rec("b.test", "c.test"), rec("a.test", "b.test")],
            authority: Vec::new(),
            additional: Vec::new(),
            ede: None,
        };
        assert_eq!(
            answer.cname_chain("A.test."),
            vec![
                ("a.test".to_string(), "b.test".to_string()),
                ("b.test".to_string(), "c.test".to_string())
            ]
        );
    }
}
