//! The two things `--all` needs from a certificate file: its validity (notBefore, notAfter)
//! and its DNS names (subjectAltName), read by a minimal DER walk.
//!
//! Why not a crate: `x509-parser` brings der-parser, asn1-rs, nom, oid-registry, time and
//! their proc-macros (about a dozen crates on a 2-core build) to read three fields of a
//! structure fixed by RFC 5280 §4.1. The walk below reads only definite-length TLVs,
//! bounds every length by its parent, and fails with a message, never a panic.

use base64::Engine;

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

fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (cert, _) = expect(der, SEQUENCE, "Certificate")?;
    let (tbs, _) = expect(cert, SEQUENCE, "TBSCertificate")?;
    let mut rest = tbs;
    // [0] EXPLICIT version, optional.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_serial, r) = expect(rest, 0x02, "serialNumber")?;
    let (_sig, r) = expect(r, SEQUENCE, "signature")?;
    let (_issuer, r) = expect(r, SEQUENCE, "issuer")?;
    let (validity, r) = expect(r, SEQUENCE, "validity")?;
    let (nb_tag, nb, after) = tlv(validity)?;
    let (na_tag, na, _) = tlv(after)?;
    let not_before = time(nb_tag, nb)?;
    let not_after = time(na_tag, na)?;
    let (_subject, r) = expect(r, SEQUENCE, "subject")?;
    let (_spki, mut r) = expect(r, SEQUENCE, "subjectPublicKeyInfo")?;
    let mut dns_names = Vec::new();
    while !r.is_empty() {
        let (tag, body, next) = tlv(r)?;
        r = next;
        if tag != 0xa3 {
            continue;
        }
        let (exts, _) = expect(body, SEQUENCE, "extensions")?;
        let mut e = exts;
        while !e.is_empty() {
            let (ext, next) = expect(e, SEQUENCE, "extension")?;
            e = next;
            let (oid, mut v) = expect(ext, 0x06, "extnID")?;
            if oid != OID_SAN {
                continue;
            }
            if v.first() == Some(&0x01) {
                v = tlv(v)?.2;
            }
            let (value, _) = expect(v, 0x04, "extnValue")?;
            let (names, _) = expect(value, SEQUENCE, "GeneralNames")?;
            let mut n = names;
            while !n.is_empty() {
                let (tag, name, next) = tlv(n)?;
                n = next;
                // [2] IMPLICIT IA5String: dNSName.
                if tag == 0x82 {
                    dns_names.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
    }
    Ok(CertInfo {
        not_before,
        not_after,
        dns_names,
    })
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
}
