//! What `--all` needs from a certificate file, its validity (notBefore, notAfter) and its DNS
//! names (subjectAltName), and what TLS-ALPN-01's checks need from the certificate a server
//! presents ([`challenge`]), read by one minimal DER walk.
//!
//! Why not a crate: `x509-parser` brings der-parser, asn1-rs, nom, oid-registry, time and
//! their proc-macros (about a dozen crates on a 2-core build) to read a few fields of a
//! structure fixed by RFC 5280 §4.1. The walk below reads only definite-length TLVs,
//! bounds every length by its parent, and fails with a message, never a panic.

use crate::facts::{AcmeIdentifier, ChallengeCertificate};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// subjectAltName dNSNames, as written (wildcards included).
    pub dns_names: Vec<String>,
}

/// The first certificate of a PEM file (a chain's leaf comes first), or a DER file.
pub fn read(bytes: &[u8]) -> Result<CertInfo, String> {
    let der = match pem_first(bytes) {
        Some(der) => der?,
        None => bytes.to_vec(),
    };
    parse_der(&der)
}

/// Traefik's acme.json holds the PEM chain itself base64-encoded.
pub fn read_base64_pem(text: &str) -> Result<CertInfo, String> {
    let pem = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    read(&pem)
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

fn pem_first(bytes: &[u8]) -> Option<Result<Vec<u8>, String>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let start = text.find(BEGIN)? + BEGIN.len();
    let Some(len) = text[start..].find(END) else {
        return Some(Err("PEM certificate without its END line".into()));
    };
    let body: String = text[start..start + len]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("PEM body is not base64: {e}")),
    )
}

/// One TLV: its tag and contents, and what follows it.
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("truncated DER (tag)")?;
    if tag & 0x1f == 0x1f {
        return Err("high-tag-number form is not used in certificates".into());
    }
    let (&first, rest) = rest.split_first().ok_or("truncated DER (length)")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("unsupported or truncated DER length".into());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err("DER length beyond its container".into());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

fn expect<'a>(input: &'a [u8], want: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (tag, body, rest) = tlv(input)?;
    if tag != want {
        return Err(format!("{what}: tag {tag:#04x}, expected {want:#04x}"));
    }
    Ok((body, rest))
}

const SEQUENCE: u8 = 0x30;
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];
/// id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737 §3).
const OID_ACME_IDENTIFIER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
/// id-at-commonName, 2.5.4.3.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
/// How many SAN entries and how many characters of each the facts keep: a certificate is
/// untrusted input, and more than one entry already fails the CA's check.
const MAX_NAMES: usize = 64;
const MAX_NAME_CHARS: usize = 256;

/// A SEQUENCE's whole encoding, and what follows it.
fn sequence_whole<'a>(input: &'a [u8], what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (_, rest) = expect(input, SEQUENCE, what)?;
    Ok((&input[..input.len() - rest.len()], rest))
}

/// One certificate extension (RFC 5280 §4.1).
struct Extension<'a> {
    oid: &'a [u8],
    critical: bool,
    value: &'a [u8],
}

/// A certificate taken apart, each part borrowed from the DER.
struct Walked<'a> {
    /// The whole TBSCertificate TLV: what the signature covers.
    tbs: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: i64,
    not_after: i64,
    /// The SubjectPublicKeyInfo's AlgorithmIdentifier contents and the key bits.
    key_algorithm: &'a [u8],
    key: &'a [u8],
    extensions: Vec<Extension<'a>>,
    /// The outer signatureAlgorithm's contents and the signature bits.
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

/// A BIT STRING's bits, which for keys and signatures are whole bytes.
fn bit_string<'a>(input: &'a [u8], what: &str) -> Result<&'a [u8], String> {
    let (body, _) = expect(input, 0x03, what)?;
    match body.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(format!("{what}: not a whole number of bytes")),
    }
}

fn walk(der: &[u8]) -> Result<Walked<'_>, String> {
    let (cert, _) = expect(der, SEQUENCE, "Certificate")?;
    let (tbs, after_tbs) = sequence_whole(cert, "TBSCertificate")?;
    let (tbs_body, _) = expect(tbs, SEQUENCE, "TBSCertificate")?;
    let (signature_algorithm, after_alg) = expect(after_tbs, SEQUENCE, "signatureAlgorithm")?;
    let signature = bit_string(after_alg, "signatureValue")?;
    let mut rest = tbs_body;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_serial, r) = expect(rest, 0x02, "serialNumber")?;
    let (_sig, r) = expect(r, SEQUENCE, "signature")?;
    let (issuer, r) = sequence_whole(r, "issuer")?;
    let (validity, r) = expect(r, SEQUENCE, "validity")?;
    let (nb_tag, nb, after) = tlv(validity)?;
    let (na_tag, na, _) = tlv(after)?;
    let not_before = time(nb_tag, nb)?;
    let not_after = time(na_tag, na)?;
    let (subject, r) = sequence_whole(r, "subject")?;
    let (tag, spki_body, mut r) = tlv(r)?;
    if tag != SEQUENCE {
        return Err("subjectPublicKeyInfo is not a SEQUENCE".into());
    }
    let (key_algorithm, key_rest) = expect(spki_body, SEQUENCE, "algorithm")?;
    let key = bit_string(key_rest, "subjectPublicKey")?;
    let mut extensions = Vec::new();
    while !r.is_empty() {
        let (tag, body, next) = tlv(r)?;
        r = next;
        // [1] issuerUniqueID and [2] subjectUniqueID are skipped; [3] holds the extensions.
        if tag != 0xa3 {
            continue;
        }
        let (exts, _) = expect(body, SEQUENCE, "extensions")?;
        let mut e = exts;
        while !e.is_empty() {
            let (ext, next) = expect(e, SEQUENCE, "extension")?;
            e = next;
            let (oid, mut v) = expect(ext, 0x06, "extnID")?;
            let mut critical = false;
            if v.first() == Some(&0x01) {
                let (flag, after) = expect(v, 0x01, "critical")?;
                critical = flag.iter().any(|b| *b != 0);
                v = after;
            }
            let (value, _) = expect(v, 0x04, "extnValue")?;
            extensions.push(Extension {
                oid,
                critical,
                value,
            });
        }
    }
    Ok(Walked {
        tbs,
        issuer,
        subject,
        not_before,
        not_after,
        key_algorithm,
        key,
        extensions,
        signature_algorithm,
        signature,
    })
}

/// The SAN's entries, as Go's `crypto/x509` reads them: a dNSName or rfc822Name that is not
/// ASCII, or an iPAddress of another length than 4 or 16, fails the whole certificate.
#[derive(Default)]
struct Names {
    dns: Vec<String>,
    ips: Vec<IpAddr>,
    /// Email addresses and URIs, as text.
    other: Vec<String>,
}

fn san_names(value: &[u8]) -> Result<Names, String> {
    let (list, _) = expect(value, SEQUENCE, "GeneralNames")?;
    let mut names = Names::default();
    let mut n = list;
    while !n.is_empty() {
        let (tag, name, next) = tlv(n)?;
        n = next;
        let text = || -> Result<String, String> {
            if !name.is_ascii() {
                return Err("SAN entry is not ASCII".into());
            }
            Ok(String::from_utf8_lossy(&name[..name.len().min(MAX_NAME_CHARS)]).into_owned())
        };
        match tag {
            // [1] rfc822Name, [6] uniformResourceIdentifier.
            0x81 | 0x86 if names.other.len() < MAX_NAMES => names.other.push(text()?),
            // [2] dNSName.
            0x82 if names.dns.len() < MAX_NAMES => names.dns.push(text()?),
            // [7] iPAddress.
            0x87 => {
                let ip = match name.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(name).map_err(|_| "IPv4 SAN")?),
                    16 => IpAddr::from(<[u8; 16]>::try_from(name).map_err(|_| "IPv6 SAN")?),
                    n => return Err(format!("SAN iPAddress of {n} bytes")),
                };
                if names.ips.len() < MAX_NAMES {
                    names.ips.push(ip);
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let w = walk(der)?;
    let mut dns_names = Vec::new();
    for ext in w.extensions.iter().filter(|e| e.oid == OID_SAN) {
        dns_names.extend(san_names(ext.value)?.dns);
    }
    Ok(CertInfo {
        not_before: w.not_before,
        not_after: w.not_after,
        dns_names,
    })
}

/// A leaf certificate as TLS-ALPN-01's checks read it (`docs/ca-behaviour.md` §3.4), from DER.
/// An error is a certificate Go's `crypto/x509` would not parse either, so the CA's handshake
/// would have failed (§3.3).
pub fn challenge(der: &[u8]) -> Result<ChallengeCertificate, String> {
    let w = walk(der)?;
    let mut names = Names::default();
    let mut san_der_hex = None;
    let mut acme_identifier = None;
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut duplicate_extensions = Vec::new();
    for ext in &w.extensions {
        if seen.contains(&ext.oid) {
            let oid = oid_text(ext.oid);
            if !duplicate_extensions.contains(&oid) {
                duplicate_extensions.push(oid);
            }
            continue;
        }
        seen.push(ext.oid);
        if ext.oid == OID_SAN {
            names = san_names(ext.value)?;
            san_der_hex = Some(hex(ext.value));
        } else if ext.oid == OID_ACME_IDENTIFIER {
            acme_identifier = Some(AcmeIdentifier {
                critical: ext.critical,
                digest: acme_digest(ext.value),
            });
        }
    }
    Ok(ChallengeCertificate {
        self_signed: w.issuer == w.subject && signed_by_own_key(&w),
        subject_cn: common_name(w.subject)?,
        issuer_cn: common_name(w.issuer)?,
        dns_names: names.dns,
        ip_addresses: names.ips,
        other_names: names.other,
        san_der_hex,
        duplicate_extensions,
        acme_identifier,
        sha256: hex(&Sha256::digest(der)),
    })
}

/// A certificate's public key, the one a TLS handshake's signature is checked against: its
/// AlgorithmIdentifier's contents and the subjectPublicKey bits, as
/// `rustls::pki_types::SignatureVerificationAlgorithm` takes them.
pub fn public_key(der: &[u8]) -> Result<(&[u8], &[u8]), String> {
    walk(der).map(|w| (w.key_algorithm, w.key))
}

/// The acmeIdentifier value: a DER OCTET STRING of exactly 32 bytes, nothing after it.
fn acme_digest(value: &[u8]) -> Option<String> {
    let (0x04, digest, []) = tlv(value).ok()? else {
        return None;
    };
    (digest.len() == 32).then(|| hex(digest))
}

/// The last commonName of a Name, as Go's `pkix.Name.CommonName` keeps it.
fn common_name(name: &[u8]) -> Result<Option<String>, String> {
    let (mut sets, _) = expect(name, SEQUENCE, "Name")?;
    let mut cn = None;
    while !sets.is_empty() {
        let (set, next) = expect(sets, 0x31, "RelativeDistinguishedName")?;
        sets = next;
        let mut attrs = set;
        while !attrs.is_empty() {
            let (attr, next) = expect(attrs, SEQUENCE, "AttributeTypeAndValue")?;
            attrs = next;
            let (oid, value) = expect(attr, 0x06, "AttributeType")?;
            if oid != OID_CN {
                continue;
            }
            let (tag, text, _) = tlv(value)?;
            let text = &text[..text.len().min(MAX_NAME_CHARS * 2)];
            cn = Some(match tag {
                // BMPString: UTF-16 big-endian.
                0x1e => char::decode_utf16(
                    text.chunks_exact(2)
                        .map(|p| u16::from_be_bytes([p[0], p[1]])),
                )
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect(),
                _ => String::from_utf8_lossy(text).into_owned(),
            });
        }
    }
    Ok(cn)
}

/// Whether the certificate's signature verifies with its own public key, as Go's
/// `CheckSignature` asks it. The algorithms are rustls' ring set (ECDSA P-256 and P-384,
/// Ed25519, RSA of 2048 bits and more with SHA-2, RSA-PSS): Go refuses SHA-1 too, but it
/// accepts P-521 and 1024-bit RSA, which this reports as not verifying. Challenge responders
/// (certmagic, lego) make P-256 or 2048-bit RSA keys.
fn signed_by_own_key(w: &Walked<'_>) -> bool {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
        .iter()
        .filter(|alg| {
            alg.public_key_alg_id().as_ref() == w.key_algorithm
                && alg.signature_alg_id().as_ref() == w.signature_algorithm
        })
        .any(|alg| alg.verify_signature(w.key, w.tbs, w.signature).is_ok())
}

/// An OBJECT IDENTIFIER's contents in dotted form, as Go prints one.
fn oid_text(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &b in oid {
        value = (value << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
        if value > u128::MAX >> 8 {
            return hex(oid);
        }
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), as RFC
/// 5280 §4.1.2.5 requires them.
fn time(tag: u8, body: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(body).map_err(|_| "time is not ASCII")?;
    let digits = text.strip_suffix('Z').ok_or("time is not in UTC (Z)")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad time {text:?}"));
    }
    let num = |s: &str| s.parse::<u32>().map_err(|_| format!("bad time {text:?}"));
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy = i64::from(num(&digits[..2])?);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (0x18, 14) => (i64::from(num(&digits[..4])?), &digits[4..]),
        _ => return Err(format!("bad time {text:?}")),
    };
    crate::timefmt::from_civil(
        year,
        num(&rest[..2])?,
        num(&rest[2..4])?,
        num(&rest[4..6])?,
        num(&rest[6..8])?,
        num(&rest[8..10])?,
    )
    .ok_or_else(|| format!("bad time {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made for the tests with `openssl ca -selfsign -startdate 20261001000000Z -enddate
    // 20261230000000Z`, SAN web.example.test and www.example.test.
    const WEB: &str = include_str!("../../../tests/fixtures/clients/certs/web.pem");

    #[test]
    fn reads_validity_and_names_of_a_pem_certificate() {
        let info = read(WEB.as_bytes()).unwrap();
        assert_eq!(
            crate::timefmt::unix(info.not_after as u64),
            "2026-12-30T00:00:00Z"
        );
        assert_eq!(
            crate::timefmt::unix(info.not_before as u64),
            "2026-10-01T00:00:00Z"
        );
        assert_eq!(info.dns_names, ["web.example.test", "www.example.test"]);
    }

    #[test]
    fn reads_der_and_base64_pem_alike() {
        let body: String = WEB.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(read(&der).unwrap(), read(WEB.as_bytes()).unwrap());
        let b64 = base64::engine::general_purpose::STANDARD.encode(WEB);
        assert_eq!(read_base64_pem(&b64).unwrap(), read(&der).unwrap());
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        assert!(read(b"").is_err());
        assert!(read(b"not a certificate").is_err());
        assert!(read(b"-----BEGIN CERTIFICATE-----\nAAAA").is_err());
        let body: String = WEB.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        for cut in [1, 10, 100, der.len() - 1] {
            assert!(read(&der[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn both_time_forms_parse() {
        assert_eq!(time(0x17, b"491231235959Z").unwrap(), 2_524_607_999);
        assert_eq!(time(0x17, b"500101000000Z").unwrap(), -631_152_000);
        assert_eq!(time(0x18, b"20500101000000Z").unwrap(), 2_524_608_000);
        assert!(time(0x17, b"5001010000Z").is_err());
        assert!(time(0x18, b"20500101000000+0100").is_err());
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/tlsalpn/{name}.der",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn digest_of(keyauth: &str) -> String {
        hex(&Sha256::digest(keyauth.as_bytes()))
    }

    #[test]
    fn a_challenge_certificate_is_read_as_the_ca_reads_it() {
        for name in ["challenge", "challenge-rsa"] {
            let c = challenge(&fixture(name)).unwrap();
            assert!(c.self_signed, "{name}");
            assert_eq!(c.subject_cn.as_deref(), Some("tls.example.test"));
            assert_eq!(c.issuer_cn.as_deref(), Some("tls.example.test"));
            assert_eq!(c.dns_names, ["tls.example.test"]);
            assert!(c.ip_addresses.is_empty() && c.other_names.is_empty());
            // SEQUENCE { [2] "tls.example.test" }
            assert_eq!(
                c.san_der_hex.as_deref(),
                Some(format!("3012821074{}", hex(b"ls.example.test")).as_str())
            );
            assert!(c.duplicate_extensions.is_empty());
            let id = c.acme_identifier.unwrap();
            assert!(id.critical);
            assert_eq!(id.digest, Some(digest_of("tok.thumb")));
            assert_eq!(c.sha256, hex(&Sha256::digest(fixture(name))));
        }
    }

    #[test]
    fn a_ca_issued_certificate_is_not_self_signed() {
        let c = challenge(&fixture("site")).unwrap();
        assert!(!c.self_signed);
        assert_eq!(c.issuer_cn.as_deref(), Some("Test CA"));
        assert_eq!(c.acme_identifier, None);
        // The CA's own certificate is self-signed: the check is not always false.
        assert!(challenge(&fixture("ca")).unwrap().self_signed);
    }

    #[test]
    fn a_signature_that_does_not_verify_is_not_self_signed() {
        let mut der = fixture("challenge");
        // The last byte of the signature.
        let last = der.len() - 1;
        der[last] ^= 1;
        let c = challenge(&der).unwrap();
        assert!(!c.self_signed);
    }

    #[test]
    fn each_defect_of_the_fixtures_shows() {
        let c = challenge(&fixture("snakeoil")).unwrap();
        assert!(c.self_signed && c.acme_identifier.is_none());
        let c = challenge(&fixture("noncritical")).unwrap();
        assert_eq!(
            c.acme_identifier,
            Some(AcmeIdentifier {
                critical: false,
                digest: Some(digest_of("tok.thumb"))
            })
        );
        let c = challenge(&fixture("stale")).unwrap();
        assert_eq!(
            c.acme_identifier.unwrap().digest,
            Some(digest_of("stale.thumb"))
        );
        let c = challenge(&fixture("malformed")).unwrap();
        assert_eq!(c.acme_identifier.unwrap().digest, None);
        let c = challenge(&fixture("wrongsan")).unwrap();
        assert_eq!(c.dns_names, ["other.example.test"]);
        let c = challenge(&fixture("extrasan")).unwrap();
        assert_eq!(c.dns_names, ["tls.example.test"]);
        assert_eq!(c.other_names, ["hostmaster@example.test"]);
        let c = challenge(&fixture("ip")).unwrap();
        assert!(c.dns_names.is_empty());
        assert_eq!(c.ip_addresses, ["203.0.113.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(c.san_der_hex.as_deref(), Some("30068704cb007105"));
    }

    #[test]
    fn a_duplicated_extension_is_named_by_its_oid() {
        // Rename the basicConstraints OID (2.5.29.19) to the SAN's (2.5.29.17): two SANs.
        let mut der = fixture("challenge");
        let at = der
            .windows(5)
            .position(|w| w == [0x06, 0x03, 0x55, 0x1d, 0x13])
            .unwrap();
        der[at + 4] = 0x11;
        let c = challenge(&der).unwrap();
        assert_eq!(c.duplicate_extensions, ["2.5.29.17"]);
        // The signature no longer covers the bytes.
        assert!(!c.self_signed);
    }

    #[test]
    fn oids_print_as_go_prints_them() {
        assert_eq!(oid_text(OID_ACME_IDENTIFIER), "1.3.6.1.5.5.7.1.31");
        assert_eq!(oid_text(OID_SAN), "2.5.29.17");
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]),
            "1.2.840.113549"
        );
    }

    #[test]
    fn truncated_challenge_certificates_are_errors_not_panics() {
        let der = fixture("challenge");
        for cut in 0..der.len() {
            assert!(challenge(&der[..cut]).is_err(), "cut at {cut}");
        }
        let (algorithm, key) = public_key(&der).unwrap();
        // id-ecPublicKey, prime256v1; an uncompressed point.
        assert_eq!(oid_text(&algorithm[2..9]), "1.2.840.10045.2.1");
        assert_eq!((key.len(), key[0]), (65, 4));
    }
}
