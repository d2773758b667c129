//! What the CA's TLS-ALPN-01 handshake meets (`docs/ca-behaviour.md` §3): per usable address, a
//! TLS handshake to port 443 with the identifier's SNI and only ALPN `acme-tls/1`, and what the
//! server presented. The TCP connects themselves are the target's shared
//! [`TargetFacts::connects`](super::TargetFacts).

use super::ConnectOutcome;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The only port the CA dials for TLS-ALPN-01 (RFC 8737 §3).
pub const TLS_ALPN_PORT: u16 = 443;

/// The one ALPN protocol the CA offers.
pub const ACME_TLS_1: &str = "acme-tls/1";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsAlpn01Facts {
    /// The SNI sent: the name as the CA holds it, or the reverse-DNS name of an IP identifier
    /// (RFC 8738 §6).
    pub sni: String,
    /// One handshake per usable address on port 443, in the order the CA would consider them.
    #[serde(default)]
    pub handshakes: Vec<Handshake>,
    /// The key authorization given with `--expect-keyauth`, hashed as the CA hashes it:
    /// SHA-256, lowercase hex. The certificate's acmeIdentifier must hold exactly this.
    #[serde(default)]
    pub expected_digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handshake {
    pub address: IpAddr,
    pub port: u16,
    pub outcome: HandshakeOutcome,
    pub elapsed_ms: u64,
}

/// How one handshake ended, in the classes Boulder tells apart (`docs/ca-behaviour.md` §3.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HandshakeOutcome {
    /// The TCP connect failed.
    Dial { connect: ConnectOutcome },
    /// Connected, then no complete handshake within the timeout.
    Timeout,
    /// The server reset the connection during the handshake.
    Reset,
    /// The server closed the connection without a word (the CA's catch-all error).
    Closed,
    /// The server answered the ClientHello with plain HTTP.
    HttpOnTlsPort,
    /// The server sent a fatal TLS alert (`no_application_protocol` is 120).
    Alert { code: u8, name: String },
    /// Any other handshake failure (a version the CA refuses, a certificate it cannot parse).
    Failed { message: String },
    /// The handshake completed.
    Completed(Box<Presented>),
    /// The handshake never reached the server: acme-doctor ran out of its own resources.
    OwnLimit { message: String },
}

/// What a completed handshake presented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presented {
    /// The ALPN protocol the server selected, if any.
    pub alpn: Option<String>,
    /// The leaf certificate, as the CA checks it (§3.4); `None` when none was presented.
    pub certificate: Option<ChallengeCertificate>,
}

/// The leaf certificate, reduced to what the CA's checks read (§3.4), plus what tells a human
/// whose certificate it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeCertificate {
    /// The raw subject equals the raw issuer and the signature verifies with the certificate's
    /// own key.
    pub self_signed: bool,
    #[serde(default)]
    pub subject_cn: Option<String>,
    #[serde(default)]
    pub issuer_cn: Option<String>,
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<IpAddr>,
    /// Email and URI SAN entries, as text (the CA lists them among the names it quotes).
    #[serde(default)]
    pub other_names: Vec<String>,
    /// The SAN extension's value, hex: the CA compares it byte for byte.
    #[serde(default)]
    pub san_der_hex: Option<String>,
    /// Extension OIDs that appear more than once.
    #[serde(default)]
    pub duplicate_extensions: Vec<String>,
    /// The acmeIdentifier extension (OID 1.3.6.1.5.5.7.1.31), when present.
    #[serde(default)]
    pub acme_identifier: Option<AcmeIdentifier>,
    /// SHA-256 of the DER, hex: to tell certificates apart in evidence.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeIdentifier {
    pub critical: bool,
    /// The 32-byte digest, lowercase hex; `None` when the value is not a DER OCTET STRING of
    /// exactly 32 bytes with nothing after it.
    pub digest: Option<String>,
}

impl HandshakeOutcome {
    /// A fatal alert from the server, named as Go's `crypto/tls` names it.
    pub fn alert(code: u8) -> HandshakeOutcome {
        HandshakeOutcome::Alert {
            code,
            name: alert_text(code),
        }
    }
}

/// An alert's description as Go's `crypto/tls` prints it (`alert.go`), which the CA's
/// `remote error: tls: <text>` quotes (`docs/ca-behaviour.md` §3.3); an alert Go does not know
/// is `alert(<code>)`.
pub fn alert_text(code: u8) -> String {
    let known = match code {
        0 => "close notify",
        10 => "unexpected message",
        20 => "bad record MAC",
        21 => "decryption failed",
        22 => "record overflow",
        30 => "decompression failure",
        40 => "handshake failure",
        42 => "bad certificate",
        43 => "unsupported certificate",
        44 => "revoked certificate",
        45 => "expired certificate",
        46 => "unknown certificate",
        47 => "illegal parameter",
        48 => "unknown certificate authority",
        49 => "access denied",
        50 => "error decoding message",
        51 => "error decrypting message",
        60 => "export restriction",
        70 => "protocol version not supported",
        71 => "insufficient security level",
        80 => "internal error",
        86 => "inappropriate fallback",
        90 => "user canceled",
        100 => "no renegotiation",
        109 => "missing extension",
        110 => "unsupported extension",
        111 => "certificate unobtainable",
        112 => "unrecognized name",
        113 => "bad certificate status response",
        114 => "bad certificate hash value",
        115 => "unknown PSK identity",
        116 => "certificate required",
        120 => "no application protocol",
        121 => "encrypted client hello required",
        _ => return format!("alert({code})"),
    };
    known.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_named_as_go_names_them() {
        assert_eq!(
            HandshakeOutcome::alert(120),
            HandshakeOutcome::Alert {
                code: 120,
                name: "no application protocol".into()
            }
        );
        assert_eq!(alert_text(112), "unrecognized name");
        assert_eq!(alert_text(80), "internal error");
        assert_eq!(alert_text(200), "alert(200)");
    }

    #[test]
    fn outcomes_round_trip_through_json() {
        let outcomes = [
            HandshakeOutcome::alert(40),
            HandshakeOutcome::HttpOnTlsPort,
            HandshakeOutcome::Dial {
                connect: ConnectOutcome::Refused,
            },
            HandshakeOutcome::Completed(Box::new(Presented {
                alpn: Some(ACME_TLS_1.into()),
                certificate: None,
            })),
        ];
        for o in outcomes {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<HandshakeOutcome>(&json).unwrap(), o);
        }
    }
}
