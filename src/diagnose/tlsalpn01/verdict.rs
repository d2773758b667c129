//! The CA's verdict on TLS-ALPN-01, pure: which address it settles on and what it then says
//! (`docs/ca-behaviour.md` §3.2-3.4), from the handshakes the probe made. Boulder tries the
//! first IPv6 address, falls back to the first IPv4 address after **any** error in getting a
//! certificate there, and only then runs the ALPN and certificate checks, in order.

use crate::diagnose::ca::{self, CaError, Dial, ProblemType};
use crate::facts::tlsalpn01::ACME_TLS_1;
use crate::facts::{ChallengeCertificate, Handshake, HandshakeOutcome, TlsAlpn01Facts};
use std::net::IpAddr;

/// id-pe-acmeIdentifier and id-ce-subjectAltName, as Boulder names them in its messages.
pub const OID_ACME_IDENTIFIER: &str = "1.3.6.1.5.5.7.1.31";
pub const OID_SAN: &str = "2.5.29.17";

/// Why getting the certificate from one address failed (§3.3): each of these makes the CA
/// fall back from IPv6 to IPv4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// The TCP connect failed.
    Dial(Dial),
    /// Connected, then no handshake within the timeout.
    TimeoutAfterConnect,
    Reset,
    /// A fatal alert; 120 is `no_application_protocol`.
    Alert {
        code: u8,
        name: String,
    },
    HttpOnTlsPort,
    /// Closed without a word, or a handshake Go's client refuses (a certificate it cannot
    /// parse, a duplicated extension, TLS 1.0): the CA's catch-all.
    Unexplained {
        why: String,
    },
    /// The handshake completed without a certificate (§3.4 step 1).
    NoCertificate,
}

impl Connection {
    /// The CA's words for this failure at `ip`.
    pub fn ca_error(&self, ip: &IpAddr) -> CaError {
        use ProblemType::{Connection as Conn, Malformed, Tls};
        match self {
            Connection::Dial(dial) => ca::tls_connection(Conn, ip, dial.core()),
            Connection::TimeoutAfterConnect => {
                ca::tls_connection(Conn, ip, ca::TIMEOUT_AFTER_CONNECT)
            }
            Connection::Reset => ca::tls_connection(Conn, ip, ca::CONNECTION_RESET),
            Connection::Alert { name, .. } => ca::tls_connection(Tls, ip, &ca::remote_alert(name)),
            Connection::HttpOnTlsPort => ca::tls_connection(Malformed, ip, ca::HTTP_ON_TLS_PORT),
            Connection::Unexplained { .. } => ca::tls_connection(Conn, ip, ca::GETTING_DATA),
            Connection::NoCertificate => ca::no_certs_presented(),
        }
    }

    /// A fatal `no_application_protocol`: the server refuses `acme-tls/1`.
    pub fn refuses_acme_tls(&self) -> bool {
        matches!(self, Connection::Alert { code: 120, .. })
    }
}

/// Why the certificate the CA settled on fails (§3.4 steps 2 and 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certificate {
    /// Step 2: the server completed the handshake without selecting `acme-tls/1`.
    AlpnNotNegotiated { selected: Option<String> },
    /// Step 3.1.
    NotSelfSigned,
    /// Step 3.2: acmeIdentifier (checked first) or the SAN missing.
    MissingExtension { oid: &'static str },
    /// Step 3.3.
    Identifiers { names: String, reason: &'static str },
    /// Step 3.4.
    NotCritical,
    /// Step 3.5.
    Malformed,
    /// Step 3.6: another key authorization's digest.
    WrongDigest { got: String, expected: String },
}

/// What the CA concludes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No usable address to handshake with: the address checks say why.
    NoAddress,
    /// The decisive handshake never reached the server (acme-doctor's own limit).
    Unknown { address: IpAddr, why: String },
    /// The IPv6 attempt failed and there is no IPv4 address (§3.2).
    NoIpv4Fallback { ipv6: IpAddr, failure: Connection },
    /// Getting the certificate from the last address tried failed.
    Connection {
        address: IpAddr,
        failure: Connection,
    },
    /// The certificate from the address settled on fails a check.
    Certificate {
        address: IpAddr,
        port: u16,
        failure: Certificate,
    },
    /// Every check passes; the digest only when `--expect-keyauth` gave one.
    Passes {
        address: IpAddr,
        digest_checked: bool,
    },
}

impl Verdict {
    /// The CA's words, for a failure.
    pub fn ca_error(&self, identifier: &str) -> Option<CaError> {
        match self {
            Verdict::NoAddress | Verdict::Unknown { .. } | Verdict::Passes { .. } => None,
            Verdict::NoIpv4Fallback { ipv6, .. } => Some(ca::unable_to_contact(identifier, ipv6)),
            Verdict::Connection { address, failure } => Some(failure.ca_error(address)),
            Verdict::Certificate {
                address,
                port,
                failure,
            } => Some(certificate_error(identifier, address, *port, failure)),
        }
    }
}

/// The CA's words for a certificate failure (§3.4).
pub fn certificate_error(
    identifier: &str,
    address: &IpAddr,
    port: u16,
    failure: &Certificate,
) -> CaError {
    let reason = match failure {
        Certificate::AlpnNotNegotiated { .. } => return ca::cannot_negotiate_alpn(),
        Certificate::NotSelfSigned => ca::NOT_SELF_SIGNED.to_string(),
        Certificate::MissingExtension { oid } => ca::required_extension_missing(oid),
        Certificate::Identifiers { names, reason } => ca::unexpected_identifiers(names, reason),
        Certificate::NotCritical => ca::ACME_EXTENSION_NOT_CRITICAL.to_string(),
        Certificate::Malformed => ca::ACME_EXTENSION_MALFORMED.to_string(),
        Certificate::WrongDigest { got, expected } => ca::acme_extension_mismatch(got, expected),
    };
    ca::incorrect_certificate(identifier, address, port, &reason)
}

/// What one handshake gave the CA: a certificate to check, a failure to get one, or nothing
/// known (acme-doctor's own limit).
pub enum Got<'a> {
    Certificate {
        alpn: Option<&'a str>,
        certificate: &'a ChallengeCertificate,
    },
    Failed(Connection),
    Unknown(String),
}

/// One handshake as the CA's `getChallengeCert` ends (§3.3, §3.4 step 1).
pub fn got(handshake: &Handshake) -> Got<'_> {
    let failed = |c| Got::Failed(c);
    match &handshake.outcome {
        HandshakeOutcome::Dial { connect } => match Dial::of(connect) {
            // The shared connect got through but this handshake's own dial failed: record it
            // as what it was.
            None => failed(Connection::Unexplained {
                why: "the connect succeeded but the handshake's dial did not".into(),
            }),
            Some(_) if connect.is_own_limit() => Got::Unknown(connect.to_string()),
            Some(dial) => failed(Connection::Dial(dial)),
        },
        HandshakeOutcome::Timeout => failed(Connection::TimeoutAfterConnect),
        HandshakeOutcome::Reset => failed(Connection::Reset),
        HandshakeOutcome::Closed => failed(Connection::Unexplained {
            why: "the server closed the connection during the handshake".into(),
        }),
        HandshakeOutcome::HttpOnTlsPort => failed(Connection::HttpOnTlsPort),
        HandshakeOutcome::Alert { code, name } => failed(Connection::Alert {
            code: *code,
            name: name.clone(),
        }),
        HandshakeOutcome::Failed { message } => failed(Connection::Unexplained {
            why: message.clone(),
        }),
        HandshakeOutcome::OwnLimit { message } => Got::Unknown(message.clone()),
        HandshakeOutcome::Completed(presented) => match &presented.certificate {
            None => failed(Connection::NoCertificate),
            // Go's client refuses a certificate with a duplicated extension during the
            // handshake (§3.3 notes).
            Some(c) if !c.duplicate_extensions.is_empty() => failed(Connection::Unexplained {
                why: format!(
                    "the certificate repeats extension {}, which Go's client refuses",
                    c.duplicate_extensions.join(", ")
                ),
            }),
            Some(certificate) => Got::Certificate {
                alpn: presented.alpn.as_deref(),
                certificate,
            },
        },
    }
}

/// What the certificate must name: a DNS name, or an IP address (RFC 8738).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier<'a> {
    Dns(&'a str),
    Ip(IpAddr),
}

impl<'a> Identifier<'a> {
    pub fn of(name: &'a crate::facts::DomainName) -> Identifier<'a> {
        match name.ip {
            Some(ip) => Identifier::Ip(ip),
            None => Identifier::Dns(&name.ascii),
        }
    }
}

/// The CA's verdict for `identifier` from `facts`.
pub fn judge(identifier: Identifier<'_>, facts: &TlsAlpn01Facts) -> Verdict {
    let first_v6 = facts.handshakes.iter().find(|h| h.address.is_ipv6());
    let first_v4 = facts.handshakes.iter().find(|h| h.address.is_ipv4());
    let (settled, got_there) = match (first_v6, first_v4) {
        (None, None) => return Verdict::NoAddress,
        (Some(v6), v4) => match (got(v6), v4) {
            (Got::Unknown(why), _) => {
                return Verdict::Unknown {
                    address: v6.address,
                    why,
                };
            }
            (Got::Failed(failure), None) => {
                return Verdict::NoIpv4Fallback {
                    ipv6: v6.address,
                    failure,
                };
            }
            (Got::Failed(_), Some(v4)) => (v4, got(v4)),
            (certificate, _) => (v6, certificate),
        },
        (None, Some(v4)) => (v4, got(v4)),
    };
    let (alpn, certificate) = match got_there {
        Got::Unknown(why) => {
            return Verdict::Unknown {
                address: settled.address,
                why,
            };
        }
        Got::Failed(failure) => {
            return Verdict::Connection {
                address: settled.address,
                failure,
            };
        }
        Got::Certificate { alpn, certificate } => (alpn, certificate),
    };
    let fail = |failure| Verdict::Certificate {
        address: settled.address,
        port: settled.port,
        failure,
    };
    if alpn != Some(ACME_TLS_1) {
        return fail(Certificate::AlpnNotNegotiated {
            selected: alpn.map(str::to_string),
        });
    }
    match check_certificate(identifier, certificate, facts.expected_digest.as_deref()) {
        Err(failure) => fail(failure),
        Ok(digest_checked) => Verdict::Passes {
            address: settled.address,
            digest_checked,
        },
    }
}

/// §3.4 step 3, in Boulder's order. `Ok(true)` when the digest was compared too.
pub fn check_certificate(
    identifier: Identifier<'_>,
    c: &ChallengeCertificate,
    expected_digest: Option<&str>,
) -> Result<bool, Certificate> {
    if !c.self_signed {
        return Err(Certificate::NotSelfSigned);
    }
    let Some(acme) = &c.acme_identifier else {
        return Err(Certificate::MissingExtension {
            oid: OID_ACME_IDENTIFIER,
        });
    };
    let Some(san) = &c.san_der_hex else {
        return Err(Certificate::MissingExtension { oid: OID_SAN });
    };
    if let Err(reason) = expected_san(identifier, c, san) {
        return Err(Certificate::Identifiers {
            names: alt_names(c),
            reason,
        });
    }
    if !acme.critical {
        return Err(Certificate::NotCritical);
    }
    let Some(got) = &acme.digest else {
        return Err(Certificate::Malformed);
    };
    match expected_digest {
        None => Ok(false),
        Some(expected) if expected.eq_ignore_ascii_case(got) => Ok(true),
        Some(expected) => Err(Certificate::WrongDigest {
            got: got.clone(),
            expected: expected.to_ascii_lowercase(),
        }),
    }
}

/// Boulder's `checkExpectedSAN` (§3.4 step 3.3, §11.6).
fn expected_san(
    identifier: Identifier<'_>,
    c: &ChallengeCertificate,
    san_hex: &str,
) -> Result<(), &'static str> {
    let expected_value: Vec<u8> = match identifier {
        Identifier::Ip(ip) => {
            let [only] = c.ip_addresses.as_slice() else {
                return Err(ca::WRONG_NUMBER_OF_IDENTIFIERS);
            };
            if !c.dns_names.is_empty() {
                return Err(ca::WRONG_NUMBER_OF_IDENTIFIERS);
            }
            if *only != ip {
                return Err(ca::IDENTIFIER_MISMATCH);
            }
            match ip {
                IpAddr::V4(v4) => der(0x87, &v4.octets()),
                IpAddr::V6(v6) => der(0x87, &v6.octets()),
            }
        }
        Identifier::Dns(name) => {
            let [only] = c.dns_names.as_slice() else {
                return Err(ca::WRONG_NUMBER_OF_IDENTIFIERS);
            };
            if !c.ip_addresses.is_empty() {
                return Err(ca::WRONG_NUMBER_OF_IDENTIFIERS);
            }
            if !only.eq_ignore_ascii_case(name) {
                return Err(ca::IDENTIFIER_MISMATCH);
            }
            der(0x82, name.to_ascii_lowercase().as_bytes())
        }
    };
    let expected = der(0x30, &expected_value);
    let hex: String = expected.iter().map(|b| format!("{b:02x}")).collect();
    if hex.eq_ignore_ascii_case(san_hex) {
        Ok(())
    } else {
        Err(ca::SAN_BYTES_MISMATCH)
    }
}

/// One DER TLV.
fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// Boulder's `certAltNames`: the subject CN, dNSNames, email addresses, IP addresses and URIs,
/// lowercased, deduplicated, sorted, joined by `, `.
pub fn alt_names(c: &ChallengeCertificate) -> String {
    let mut names: Vec<String> = c
        .subject_cn
        .iter()
        .cloned()
        .chain(c.dns_names.iter().cloned())
        .chain(c.other_names.iter().cloned())
        .chain(c.ip_addresses.iter().map(IpAddr::to_string))
        .map(|n| n.to_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{AcmeIdentifier, ConnectOutcome, Presented};

    const NAME: &str = "example.com";
    const DIGEST: &str = "b1803056ba83b553ae259bc01eead20183e812de5f155fc2e1b75238e5bea396";

    fn v4() -> IpAddr {
        "192.0.2.7".parse().unwrap()
    }
    fn v6() -> IpAddr {
        "2001:db8::1".parse().unwrap()
    }

    /// The challenge certificate a responder makes for `example.com`.
    fn good() -> ChallengeCertificate {
        ChallengeCertificate {
            self_signed: true,
            subject_cn: Some("ACME challenge".into()),
            issuer_cn: Some("ACME challenge".into()),
            dns_names: vec![NAME.into()],
            ip_addresses: vec![],
            other_names: vec![],
            // SEQUENCE { [2] "example.com" }
            san_der_hex: Some(format!("300d820b{}", hex(NAME.as_bytes()))),
            duplicate_extensions: vec![],
            acme_identifier: Some(AcmeIdentifier {
                critical: true,
                digest: Some(DIGEST.into()),
            }),
            sha256: "00".into(),
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn completed(ip: IpAddr, alpn: Option<&str>, c: Option<ChallengeCertificate>) -> Handshake {
        handshake(
            ip,
            HandshakeOutcome::Completed(Box::new(Presented {
                alpn: alpn.map(str::to_string),
                certificate: c,
            })),
        )
    }

    fn handshake(ip: IpAddr, outcome: HandshakeOutcome) -> Handshake {
        Handshake {
            address: ip,
            port: 443,
            outcome,
            elapsed_ms: 5,
        }
    }

    fn facts(handshakes: Vec<Handshake>) -> TlsAlpn01Facts {
        TlsAlpn01Facts {
            sni: NAME.into(),
            handshakes,
            expected_digest: Some(DIGEST.into()),
        }
    }

    fn detail(handshakes: Vec<Handshake>) -> Option<String> {
        judge(Identifier::Dns(NAME), &facts(handshakes))
            .ca_error(NAME)
            .map(|e| e.detail)
    }

    fn dial(ip: IpAddr, connect: ConnectOutcome) -> Handshake {
        handshake(ip, HandshakeOutcome::Dial { connect })
    }

    // §3.3, one test per row, on IPv4 (the CA's last word).

    #[test]
    fn refused_and_dropped_connects() {
        assert_eq!(
            detail(vec![dial(v4(), ConnectOutcome::Refused)]).unwrap(),
            "192.0.2.7: Connection refused"
        );
        assert_eq!(
            detail(vec![dial(v4(), ConnectOutcome::Timeout)]).unwrap(),
            "192.0.2.7: Timeout during connect (likely firewall problem)"
        );
        assert_eq!(
            detail(vec![dial(v4(), ConnectOutcome::NetworkUnreachable)]).unwrap(),
            "192.0.2.7: Network unreachable"
        );
    }

    #[test]
    fn a_stall_after_connect() {
        assert_eq!(
            detail(vec![handshake(v4(), HandshakeOutcome::Timeout)]).unwrap(),
            "192.0.2.7: Timeout after connect (your server may be slow or overloaded)"
        );
    }

    #[test]
    fn alerts_are_tls_problems_in_gos_words() {
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![handshake(v4(), HandshakeOutcome::alert(120))]),
        );
        let e = v.ca_error(NAME).unwrap();
        assert_eq!(e.problem, ProblemType::Tls);
        assert_eq!(
            e.detail,
            "192.0.2.7: remote error: tls: no application protocol"
        );
        assert_eq!(
            detail(vec![handshake(v4(), HandshakeOutcome::alert(112))]).unwrap(),
            "192.0.2.7: remote error: tls: unrecognized name"
        );
    }

    #[test]
    fn plain_http_is_malformed() {
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![handshake(v4(), HandshakeOutcome::HttpOnTlsPort)]),
        );
        let e = v.ca_error(NAME).unwrap();
        assert_eq!(e.problem, ProblemType::Malformed);
        assert_eq!(e.detail, "192.0.2.7: Server only speaks HTTP, not TLS");
    }

    #[test]
    fn a_reset() {
        assert_eq!(
            detail(vec![handshake(v4(), HandshakeOutcome::Reset)]).unwrap(),
            "192.0.2.7: Connection reset by peer"
        );
    }

    #[test]
    fn eof_unparsable_and_duplicated_extensions_are_the_catch_all() {
        let mut dup = good();
        dup.duplicate_extensions = vec![OID_SAN.into()];
        for h in [
            handshake(v4(), HandshakeOutcome::Closed),
            handshake(
                v4(),
                HandshakeOutcome::Failed {
                    message: "certificate cannot be parsed".into(),
                },
            ),
            completed(v4(), Some(ACME_TLS_1), Some(dup)),
        ] {
            assert_eq!(
                detail(vec![h]).unwrap(),
                "192.0.2.7: Error getting validation data"
            );
        }
    }

    // §3.2: the address choice.

    #[test]
    fn any_ipv6_error_falls_back_to_ipv4() {
        for v6_outcome in [
            HandshakeOutcome::alert(120),
            HandshakeOutcome::HttpOnTlsPort,
            HandshakeOutcome::Timeout,
            HandshakeOutcome::Dial {
                connect: ConnectOutcome::Timeout,
            },
        ] {
            let v = judge(
                Identifier::Dns(NAME),
                &facts(vec![
                    handshake(v6(), v6_outcome),
                    completed(v4(), Some(ACME_TLS_1), Some(good())),
                ]),
            );
            assert_eq!(
                v,
                Verdict::Passes {
                    address: v4(),
                    digest_checked: true
                }
            );
        }
    }

    #[test]
    fn no_certificate_on_ipv6_falls_back_too() {
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![
                completed(v6(), Some(ACME_TLS_1), None),
                handshake(v4(), HandshakeOutcome::Reset),
            ]),
        );
        assert_eq!(
            v.ca_error(NAME).unwrap().detail,
            "192.0.2.7: Connection reset by peer"
        );
        assert_eq!(
            detail(vec![completed(v4(), Some(ACME_TLS_1), None)]).unwrap(),
            "No certs presented for tls-alpn-01 challenge"
        );
    }

    #[test]
    fn aaaa_only_and_failed_is_unable_to_contact() {
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![handshake(v6(), HandshakeOutcome::alert(120))]),
        );
        assert!(matches!(v, Verdict::NoIpv4Fallback { .. }));
        let e = v.ca_error(NAME).unwrap();
        assert_eq!(e.problem, ProblemType::Malformed);
        assert_eq!(
            e.detail,
            "Unable to contact \"example.com\" at \"2001:db8::1\", no IPv4 addresses to try as fallback"
        );
    }

    #[test]
    fn a_wrong_certificate_on_ipv6_is_final() {
        let mut c = good();
        c.self_signed = false;
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![
                completed(v6(), Some(ACME_TLS_1), Some(c)),
                completed(v4(), Some(ACME_TLS_1), Some(good())),
            ]),
        );
        assert_eq!(
            v.ca_error(NAME).unwrap().detail,
            "Incorrect validation certificate for tls-alpn-01 challenge. Requested example.com from [2001:db8::1]:443. Received certificate which is not self-signed."
        );
    }

    #[test]
    fn only_the_first_address_of_each_family_counts() {
        let second: IpAddr = "192.0.2.8".parse().unwrap();
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![
                handshake(v4(), HandshakeOutcome::alert(40)),
                completed(second, Some(ACME_TLS_1), Some(good())),
            ]),
        );
        assert_eq!(
            v.ca_error(NAME).unwrap().detail,
            "192.0.2.7: remote error: tls: handshake failure"
        );
    }

    #[test]
    fn acme_doctors_own_limit_is_no_verdict() {
        let v = judge(
            Identifier::Dns(NAME),
            &facts(vec![handshake(
                v6(),
                HandshakeOutcome::OwnLimit {
                    message: "out of file descriptors".into(),
                },
            )]),
        );
        assert!(matches!(v, Verdict::Unknown { .. }));
        assert_eq!(
            judge(Identifier::Dns(NAME), &facts(vec![])),
            Verdict::NoAddress
        );
    }

    // §3.4, each step in order.

    fn certificate_detail(c: ChallengeCertificate) -> String {
        detail(vec![completed(v4(), Some(ACME_TLS_1), Some(c))]).unwrap()
    }

    const PREFIX: &str = "Incorrect validation certificate for tls-alpn-01 challenge. Requested example.com from 192.0.2.7:443. ";

    #[test]
    fn step_2_alpn_not_negotiated() {
        for alpn in [None, Some("h2")] {
            assert_eq!(
                detail(vec![completed(v4(), alpn, Some(good()))]).unwrap(),
                "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge"
            );
        }
    }

    #[test]
    fn step_3_1_not_self_signed_comes_before_the_extensions() {
        let mut c = good();
        c.self_signed = false;
        c.acme_identifier = None;
        assert_eq!(
            certificate_detail(c),
            format!("{PREFIX}Received certificate which is not self-signed.")
        );
    }

    #[test]
    fn step_3_2_acme_identifier_then_san_required() {
        let mut c = good();
        c.acme_identifier = None;
        c.san_der_hex = None;
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with unexpected extensions: \"Required extension OID 1.3.6.1.5.5.7.1.31 is not present\""
            )
        );
        let mut c = good();
        c.san_der_hex = None;
        c.dns_names.clear();
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with unexpected extensions: \"Required extension OID 2.5.29.17 is not present\""
            )
        );
    }

    #[test]
    fn step_3_3_identifiers() {
        let mut c = good();
        c.dns_names = vec!["Other.example".into()];
        c.san_der_hex = Some("00".into());
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with unexpected identifiers (\"acme challenge, other.example\"): \"identifier does not match expected identifier\""
            )
        );
        let mut c = good();
        c.dns_names.push("www.example.com".into());
        assert!(certificate_detail(c).ends_with("\"wrong number of identifiers\""));
        let mut c = good();
        c.ip_addresses.push(v4());
        assert!(certificate_detail(c).ends_with("\"wrong number of identifiers\""));
        // An email SAN beside the name: the count is right, the bytes are not.
        let mut c = good();
        c.other_names.push("hostmaster@example.com".into());
        c.san_der_hex = Some(format!(
            "3025820b{}8116{}",
            hex(NAME.as_bytes()),
            hex(b"hostmaster@example.com")
        ));
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with unexpected identifiers (\"acme challenge, example.com, hostmaster@example.com\"): \"SAN extension does not match expected bytes\""
            )
        );
        // The name in another case matches, but its bytes do not.
        let mut c = good();
        c.dns_names = vec!["EXAMPLE.com".into()];
        c.san_der_hex = Some(format!("300d820b{}", hex(b"EXAMPLE.com")));
        assert!(certificate_detail(c).ends_with("\"SAN extension does not match expected bytes\""));
    }

    #[test]
    fn step_3_3_an_ip_identifier_wants_one_ip_san_and_no_name() {
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let mut c = good();
        c.dns_names.clear();
        c.ip_addresses = vec![ip];
        c.san_der_hex = Some("30068704cb007105".into());
        assert_eq!(
            check_certificate(
                Identifier::Ip(IpAddr::from([203, 0, 113, 5])),
                &c,
                Some(DIGEST)
            ),
            Ok(true)
        );
        let mut other = c.clone();
        other.ip_addresses = vec![v4()];
        assert_eq!(
            check_certificate(Identifier::Ip(IpAddr::from([203, 0, 113, 5])), &other, None),
            Err(Certificate::Identifiers {
                names: "192.0.2.7, acme challenge".into(),
                reason: ca::IDENTIFIER_MISMATCH
            })
        );
        let mut named = c.clone();
        named.dns_names = vec!["203.0.113.5".into()];
        assert!(matches!(
            check_certificate(Identifier::Ip(IpAddr::from([203, 0, 113, 5])), &named, None),
            Err(Certificate::Identifiers {
                reason: ca::WRONG_NUMBER_OF_IDENTIFIERS,
                ..
            })
        ));
    }

    #[test]
    fn steps_3_4_to_3_6_the_extension_itself() {
        let mut c = good();
        c.acme_identifier = Some(AcmeIdentifier {
            critical: false,
            digest: None,
        });
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with acmeValidationV1 extension that is not Critical."
            )
        );
        let mut c = good();
        c.acme_identifier = Some(AcmeIdentifier {
            critical: true,
            digest: None,
        });
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with malformed acmeValidationV1 extension value."
            )
        );
        let mut c = good();
        let stale = "11".repeat(32);
        c.acme_identifier = Some(AcmeIdentifier {
            critical: true,
            digest: Some(stale.clone()),
        });
        assert_eq!(
            certificate_detail(c),
            format!(
                "{PREFIX}Received certificate with acmeValidationV1 extension value {stale} but expected {DIGEST}."
            )
        );
    }

    #[test]
    fn without_expect_keyauth_the_digest_is_unchecked() {
        let mut f = facts(vec![completed(v4(), Some(ACME_TLS_1), Some(good()))]);
        f.expected_digest = None;
        assert_eq!(
            judge(Identifier::Dns(NAME), &f),
            Verdict::Passes {
                address: v4(),
                digest_checked: false
            }
        );
    }

    #[test]
    fn long_names_get_long_form_der_lengths() {
        let name = format!("{}.example", "a".repeat(150));
        let mut c = good();
        c.dns_names = vec![name.clone()];
        let body = der(0x82, name.as_bytes());
        assert_eq!(&body[..3], &[0x82, 0x81, 158]);
        c.san_der_hex = Some(hex(&der(0x30, &body)));
        assert_eq!(
            check_certificate(Identifier::Dns(&name), &c, Some(DIGEST)),
            Ok(true)
        );
    }
}
