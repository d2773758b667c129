//! A tiny in-process authoritative DNS server on 127.0.0.1 (UDP), for the loopback tier:
//! it answers from a table and can be told to fail a name with any rcode or not at all.

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, CNAME};
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
}

#[derive(Clone, Debug)]
pub enum Entry {
    Records(Vec<Rec>),
    Rcode(ResponseCode),
    /// Never answers: the resolver times out.
    Silent,
}

pub struct DnsServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(zone: Vec<(&'static str, Entry)>) -> DnsServer {
        let zone: HashMap<String, Entry> = zone
            .into_iter()
            .map(|(n, e)| (n.to_ascii_lowercase(), e))
            .collect();
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the loopback DNS server");
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
                if let Some(reply) = answer(&zone, &buf[..len]) {
                    let _ = socket.send_to(&reply, peer);
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
    response.add_query(query.clone());
    let mut name = query
        .name
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    for _hop in 0..8 {
        match zone.get(&name) {
            None => {
                response.metadata.response_code = ResponseCode::NXDomain;
                break;
            }
            Some(Entry::Silent) => return None,
            Some(Entry::Rcode(code)) => {
                response.metadata.response_code = *code;
                break;
            }
            Some(Entry::Records(records)) => {
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
                for r in records {
                    let rdata = match (r, query.query_type) {
                        (Rec::A(ip), RecordType::A) => RData::A(A(*ip)),
                        (Rec::Aaaa(ip), RecordType::AAAA) => RData::AAAA(AAAA(*ip)),
                        _ => continue,
                    };
                    response.add_answer(Record::from_rdata(fqdn(&name), 60, rdata));
                }
                break;
            }
        }
    }
    response.to_vec().ok()
}
