//! A tiny in-process authoritative DNS server on 127.0.0.1 (UDP), for the loopback tier:
//! it answers from a table and can be told to fail a name with any rcode or not at all.

use hickory_resolver::proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::opt::EdnsOption;
use hickory_resolver::proto::rr::rdata::{A, AAAA, CAA, CNAME, NS, SOA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Rec {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(&'static str),
    /// flags, tag, value.
    Caa(u8, &'static str, &'static str),
    Txt(&'static str),
    Ns(&'static str),
    /// A zone apex, with its serial.
    Soa(u32),
}

#[derive(Clone, Debug)]
pub enum Entry {
    Records(Vec<Rec>),
    Rcode(ResponseCode),
    /// Never answers: the resolver times out.
    Silent,
    /// A validating resolver's view of a bogus zone: SERVFAIL with this Extended DNS Error,
    /// unless the query sets CD (checking disabled), which gets the records.
    Bogus(Vec<Rec>, u16),
    /// Answers `Rcode` for one type, the records for the others.
    TypeRcode(RecordType, ResponseCode, Vec<Rec>),
    /// Answers the records after this many milliseconds (other queries are not held up).
    Slow(u64, Vec<Rec>),
    /// Issue 20 item 3: NXDOMAIN until this instant, then the records (a secondary that gets
    /// the zone update late).
    AppearsAt(std::time::Instant, Vec<Rec>),
}

pub struct DnsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Vec<(&'static str, Entry)>) -> DnsServer {
        DnsServer::start_at("127.0.0.1:0".parse().expect("address"), zone)
    }

    /// Two servers on the same port of two loopback addresses (an NS set asked on one port).
    pub fn pair(
        a: &str,
        b: &str,
        zone_a: &[(&'static str, Entry)],
        zone_b: Vec<(&'static str, Entry)>,
    ) -> (DnsServer, DnsServer) {
        for _ in 0..20 {
            let first =
                DnsServer::start_at(format!("{a}:0").parse().expect("address"), zone_a.to_vec());
            let second = format!("{b}:{}", first.addr.port())
                .parse()
                .expect("address");
            if UdpSocket::bind(second).is_ok() {
                return (first, DnsServer::start_at(second, zone_b));
            }
        }
        panic!("no common free port on {a} and {b}");
    }

    pub fn start_at(bind: SocketAddr, zone: Vec<(&'static str, Entry)>) -> DnsServer {
        let zone: HashMap<String, Entry> = zone
            .into_iter()
            .map(|(n, e)| (n.to_ascii_lowercase(), e))
            .collect();
        let socket = UdpSocket::bind(bind).expect("bind the loopback DNS server");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("set read timeout");
        let addr = socket.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop_flag.load(Ordering::Relaxed) {
                let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(reply) = answer(&zone, &buf[..len]) else {
                    continue;
                };
                match delay(&zone, &buf[..len]) {
                    Some(wait) => {
                        if let Ok(late) = socket.try_clone() {
                            std::thread::spawn(move || {
                                std::thread::sleep(wait);
                                let _ = late.send_to(&reply, peer);
                            });
                        }
                    }
                    None => {
                        let _ = socket.send_to(&reply, peer);
                    }
                }
            }
        });
        DnsServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fqdn(name: &str) -> Name {
    Name::from_ascii(format!("{name}.")).expect("valid test name")
}

fn rdata(r: &Rec, qtype: RecordType, name: &str) -> Option<RData> {
    Some(match (r, qtype) {
        (Rec::A(ip), RecordType::A) => RData::A(A(*ip)),
        (Rec::Aaaa(ip), RecordType::AAAA) => RData::AAAA(AAAA(*ip)),
        (Rec::Caa(flags, tag, value), RecordType::CAA) => {
            let mut caa = CAA::new_issue(false, None, vec![]);
            caa.issuer_critical = flags & 0x80 != 0;
            caa.reserved_flags = flags & 0x7f;
            caa.tag = tag.to_string();
            caa.value = value.as_bytes().to_vec();
            RData::CAA(caa)
        }
        (Rec::Txt(t), RecordType::TXT) => RData::TXT(TXT::new(vec![t.to_string()])),
        (Rec::Ns(n), RecordType::NS) => RData::NS(NS(fqdn(n))),
        (Rec::Soa(serial), RecordType::SOA) => RData::SOA(soa(name, *serial)),
        _ => return None,
    })
}

fn soa(apex: &str, serial: u32) -> SOA {
    SOA::new(
        fqdn(&format!("ns1.{apex}")),
        fqdn(&format!("hostmaster.{apex}")),
        serial,
        3600,
        600,
        86400,
        60,
    )
}

/// The closest enclosing zone apex of `name` in this server's table, with its serial.
fn apex_of(zone: &HashMap<String, Entry>, name: &str) -> Option<(String, u32)> {
    let labels: Vec<&str> = name.split('.').collect();
    (0..labels.len()).find_map(|i| {
        let candidate = labels[i..].join(".");
        let records = match zone.get(&candidate)? {
            Entry::Records(r)
            | Entry::Bogus(r, _)
            | Entry::TypeRcode(_, _, r)
            | Entry::Slow(_, r) => r,
            _ => return None,
        };
        records.iter().find_map(|r| match r {
            Rec::Soa(serial) => Some((candidate.clone(), *serial)),
            _ => None,
        })
    })
}

/// How long a `Slow` entry holds its answer back.
fn delay(zone: &HashMap<String, Entry>, request: &[u8]) -> Option<Duration> {
    let request = Message::from_vec(request).ok()?;
    let name = request.queries.first()?.name.to_ascii();
    match zone.get(name.trim_end_matches('.').to_ascii_lowercase().as_str()) {
        Some(Entry::Slow(ms, _)) => Some(Duration::from_millis(*ms)),
        _ => None,
    }
}

fn answer(zone: &HashMap<String, Entry>, request: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    let query = request.queries.first()?.clone();
    let mut response = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    response.metadata.checking_disabled = request.metadata.checking_disabled;
    response.add_query(query.clone());
    let mut name = query
        .name
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut answered = false;
    for _hop in 0..8 {
        let entry = zone.get(&name).cloned().or_else(|| {
            // A wildcard at the parent answers for names without records of their own.
            let parent = name.split_once('.').map(|(_, p)| p)?;
            zone.get(&format!("*.{parent}")).cloned()
        });
        let entry = match entry {
            Some(Entry::AppearsAt(when, records)) if std::time::Instant::now() >= when => {
                Some(Entry::Records(records))
            }
            Some(Entry::AppearsAt(..)) => None,
            other => other,
        };
        match entry {
            // Mapped above: not yet served is no such name.
            None | Some(Entry::AppearsAt(..)) => {
                response.metadata.response_code = ResponseCode::NXDomain;
                break;
            }
            Some(Entry::Silent) => return None,
            Some(Entry::Rcode(code)) => {
                response.metadata.response_code = code;
                break;
            }
            Some(Entry::TypeRcode(rtype, code, _)) if rtype == query.query_type => {
                response.metadata.response_code = code;
                break;
            }
            Some(Entry::Bogus(_, ede)) if !request.metadata.checking_disabled => {
                response.metadata.response_code = ResponseCode::ServFail;
                let mut edns = Edns::new();
                let mut payload = ede.to_be_bytes().to_vec();
                payload.extend_from_slice(b"lab: broken chain of trust");
                edns.options_mut().insert(EdnsOption::Unknown(15, payload));
                response.set_edns(edns);
                break;
            }
            Some(
                Entry::Records(records)
                | Entry::Bogus(records, _)
                | Entry::TypeRcode(_, _, records)
                | Entry::Slow(_, records),
            ) => {
                let cname = records.iter().find_map(|r| match r {
                    Rec::Cname(t) => Some(*t),
                    _ => None,
                });
                if let (Some(target), false) = (cname, query.query_type == RecordType::CNAME) {
                    response.add_answer(Record::from_rdata(
                        fqdn(&name),
                        60,
                        RData::CNAME(CNAME(fqdn(target))),
                    ));
                    name = target.to_string();
                    continue;
                }
                for r in &records {
                    if let Some(data) = rdata(r, query.query_type, &name) {
                        response.add_answer(Record::from_rdata(fqdn(&name), 60, data));
                        answered = true;
                    }
                }
                break;
            }
        }
    }
    // Negative answers carry the zone's SOA, as authoritative servers send it.
    if !answered
        && matches!(
            response.metadata.response_code,
            ResponseCode::NoError | ResponseCode::NXDomain
        )
        && let Some((apex, serial)) = apex_of(zone, &name)
    {
        response.add_authority(Record::from_rdata(
            fqdn(&apex),
            60,
            RData::SOA(soa(&apex, serial)),
        ));
    }
    response.to_vec().ok()
}
