//! The CA's words as users paste them (`--ca-error`) and as ACME clients log them (`--all`):
//! each format is taken apart into the problems it carries, one per identifier, each with its
//! ACME problem type, Boulder's detail, and what the client added (the identifier, the HTTP
//! status, `Retry-After`). [`super::observe`] then reads each detail into a typed observation.
//!
//! Pure and bounded: no I/O, never a panic, and the text is capped before it is read, so a
//! hostile paste or log line costs little. `docs/ca-behaviour.md` §13.1 lists the formats, each
//! with a public report it was taken from.

/// The namespace of ACME problem types (RFC 8555 §6.7).
pub const URN_PREFIX: &str = "urn:ietf:params:acme:error:";
/// ACME's draft-era namespace, still in old pastes (`urn:acme:error:rateLimited`).
const LEGACY_URN_PREFIX: &str = "urn:acme:error:";
/// The most text read from one paste; the rest is not looked at.
pub const MAX_PASTE: usize = 64 * 1024;
/// The most problems taken from one paste.
pub const MAX_PROBLEMS: usize = 256;
/// JSON nested deeper than this is not a log line or a problem document.
const MAX_JSON_DEPTH: usize = 8;

/// Who wrote the text around the CA's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A detail as Boulder sends it, alone or after its `urn:…` type.
    Boulder,
    /// An ACME problem document, a challenge or an authorization, as JSON.
    ProblemJson,
    /// certbot's `Domain:` / `Type:` / `Detail:` block.
    Certbot,
    /// lego's `acme: error: 400 :: POST :: URL :: urn:… :: detail` (lego, Traefik, old Caddy).
    Lego,
    /// acme.sh's `name:Verify error:detail`.
    AcmeSh,
    /// A Caddy JSON log line (`"problem": {…}` of `challenge failed`).
    CaddyLog,
    /// A Traefik log line (logfmt or JSON) around lego's words.
    TraefikLog,
    /// cert-manager's Challenge `status.reason`.
    CertManager,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Boulder => "the CA's detail",
            Format::ProblemJson => "an ACME problem document",
            Format::Certbot => "certbot's report",
            Format::Lego => "lego's error",
            Format::AcmeSh => "acme.sh's Verify error",
            Format::CaddyLog => "a Caddy log line",
            Format::TraefikLog => "a Traefik log line",
            Format::CertManager => "cert-manager's Challenge reason",
        }
    }
}

/// One problem the CA reported, as found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub format: Format,
    /// The identifier the client named (`Domain:`, `[name]`, `name:Verify error`).
    pub identifier: Option<String>,
    /// The problem type's short name (`connection`, `rateLimited`), from the URN or certbot's
    /// `Type:`.
    pub kind: Option<String>,
    /// Boulder's detail, as said.
    pub detail: String,
    /// The HTTP status of the CA's answer, when the client printed it.
    pub status: Option<u16>,
    pub retry_after_s: Option<u64>,
    /// cert-manager's own pre-check of the challenge URL: the client's view, not the CA's.
    pub self_check: bool,
    /// The piece of the text this came from: kept as evidence on the target it names.
    pub text: String,
}

impl Said {
    fn new(format: Format, detail: &str, text: &str) -> Said {
        Said {
            format,
            identifier: None,
            kind: None,
            detail: clean_detail(detail),
            status: None,
            retry_after_s: None,
            self_check: false,
            text: text.trim().to_string(),
        }
    }
}

/// What one paste held: the problems recognised, and the lines that were not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub said: Vec<Said>,
    pub not_understood: Vec<String>,
}

/// The largest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn cap(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Every problem in `text`, in the order found.
pub fn parse(text: &str) -> Parsed {
    let text = cap(text, MAX_PASTE);
    let mut out = Parsed::default();
    // A whole JSON document (pretty-printed over many lines) first.
    let trimmed = text.trim();
    if trimmed.starts_with('{')
        && let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed)
    {
        from_json(&value, trimmed, 0, &mut out);
        if !out.said.is_empty() {
            return out;
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() && out.said.len() < MAX_PROBLEMS {
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || is_chatter(line) {
            continue;
        }
        if let Some(rest) = strip_label(line, "Domain:") {
            i = certbot_block(rest, &lines, i, &mut out);
            continue;
        }
        if line.starts_with('{')
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(line)
        {
            let before = out.said.len();
            from_json(&value, line, 0, &mut out);
            if out.said.len() == before {
                out.not_understood.push(line.to_string());
            }
            continue;
        }
        if !one_line(line, &mut out) {
            out.not_understood.push(line.to_string());
        }
    }
    out.said.truncate(MAX_PROBLEMS);
    out
}

/// Lines clients print around the CA's words, which carry nothing to read.
fn is_chatter(line: &str) -> bool {
    const CHATTER: &[&str] = &[
        "Certbot failed to authenticate",
        "The Certificate Authority reported",
        "The following errors were reported",
        "- The following errors were reported",
        "Hint:",
        "To fix these errors",
        "Some challenges have failed",
        "Ask for help or search",
        "Saving debug log",
        "Cleaning up challenges",
        "Waiting for verification",
        "Failed to renew certificate",
        "Challenge failed for domain",
        "IMPORTANT NOTES:",
    ];
    CHATTER.iter().any(|c| line.starts_with(c))
}

fn strip_label<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let line = line.trim_start_matches(['-', ' ']);
    line.strip_prefix(label).map(str::trim)
}

/// certbot's block: `Domain: X`, `Type: T`, `Detail: D` (old certbot wraps the detail over
/// indented lines). Returns the index of the first line after the block.
fn certbot_block(domain: &str, lines: &[&str], mut i: usize, out: &mut Parsed) -> usize {
    let mut kind = None;
    let mut detail = String::new();
    let mut block = vec![format!("Domain: {domain}")];
    let mut in_detail = false;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() || strip_label(line, "Domain:").is_some() || is_chatter(line) {
            break;
        }
        if let Some(t) = strip_label(line, "Type:") {
            kind = Some(t.to_string());
            in_detail = false;
        } else if let Some(d) = strip_label(line, "Detail:") {
            detail = d.to_string();
            in_detail = true;
        } else if in_detail {
            detail.push(' ');
            detail.push_str(line);
        } else {
            break;
        }
        block.push(line.to_string());
        i += 1;
    }
    if detail.is_empty() {
        out.not_understood.push(block.join(" "));
        return i;
    }
    let mut said = Said::new(Format::Certbot, &detail, &block.join("\n"));
    said.identifier = Some(domain.to_string()).filter(|d| !d.is_empty());
    said.kind = kind.and_then(|k| short_kind(&k));
    out.said.push(said);
    i
}

/// A problem type's short name from a URN, a certbot `Type:` or a bare name.
fn short_kind(kind: &str) -> Option<String> {
    let k = kind.trim();
    let k = k
        .strip_prefix(URN_PREFIX)
        .or_else(|| k.strip_prefix(LEGACY_URN_PREFIX))
        .unwrap_or(k);
    let name: String = k.chars().take_while(char::is_ascii_alphanumeric).collect();
    (!name.is_empty() && name.len() <= 40).then_some(name)
}

/// One line of text: lego, acme.sh, cert-manager, Traefik's logfmt, a URN, or a bare detail.
fn one_line(line: &str, out: &mut Parsed) -> bool {
    // Traefik's logfmt quotes lego's multi-line error: `msg="…\n[name] acme: error: …\n"`.
    if line.contains("level=") && line.contains("\\n") {
        let unescaped = line.replace("\\n", "\n").replace("\\\"", "\"");
        let before = out.said.len();
        for part in unescaped.lines() {
            if part.contains("acme: error:") {
                lego(part, Format::TraefikLog, out);
            }
        }
        return out.said.len() > before;
    }
    if line.contains("acme: error:") {
        return lego(line, Format::Lego, out);
    }
    if let Some(at) = line.find("Verify error:") {
        return acme_sh(line, at, out);
    }
    if line.contains("Error accepting authorization") || line.contains("authorization error for") {
        return cert_manager(line, out);
    }
    if let Some(at) = find_ci(line, "challenge propagation:") {
        let mut said = Said::new(
            Format::CertManager,
            &line[at + "challenge propagation:".len()..],
            line,
        );
        said.self_check = true;
        out.said.push(said);
        return true;
    }
    if let Some((kind, detail)) = after_urn(line) {
        let mut said = Said::new(Format::Boulder, detail, line);
        said.kind = Some(kind);
        said.status = status_before(line);
        out.said.push(said);
        return true;
    }
    if looks_like_boulder(line) {
        out.said.push(Said::new(Format::Boulder, line, line));
        return true;
    }
    false
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .to_ascii_lowercase()
        .find(&needle.to_ascii_lowercase())
}

/// The type named by the first problem URN in `text`, and the detail after it.
fn after_urn(text: &str) -> Option<(String, &str)> {
    let (at, prefix) = [URN_PREFIX, LEGACY_URN_PREFIX]
        .iter()
        .find_map(|p| text.find(p).map(|at| (at, *p)))?;
    let rest = &text[at + prefix.len()..];
    let name_len = rest
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(rest.len(), |(i, _)| i);
    let kind = short_kind(&rest[..name_len])?;
    let detail = rest[name_len..].trim_start_matches([' ', ':', '-', '"', ',']);
    Some((kind, detail))
}

/// `acme: error: 400 ::` or `HTTP 400 urn:…`: the CA's HTTP status as the client printed it.
fn status_before(text: &str) -> Option<u16> {
    for marker in ["acme: error: ", "HTTP ", "\"status\": ", "\"status\":"] {
        if let Some(at) = text.find(marker) {
            let digits: String = text[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(status) = digits.parse::<u16>()
                && (100..600).contains(&status)
            {
                return Some(status);
            }
        }
    }
    None
}

/// lego: `[name] acme: error: 400 :: POST :: URL :: urn:… :: detail, url: URL` (the method
/// and URL since lego 4; `[name] ` when several names are ordered together).
fn lego(line: &str, format: Format, out: &mut Parsed) -> bool {
    let Some((kind, detail)) = after_urn(line) else {
        return false;
    };
    let detail = detail.trim_start_matches([':', ' ']);
    // lego appends the challenge URL (`, url: …`), empty in old versions.
    let detail = match detail.rfind(", url:") {
        Some(at) => &detail[..at],
        None => detail,
    };
    let mut said = Said::new(format, detail, line);
    said.kind = Some(kind);
    said.status = status_before(line);
    said.identifier = bracketed_name(line);
    out.said.push(said);
    true
}

/// The `[name]` lego puts before `acme: error:` for one identifier.
fn bracketed_name(line: &str) -> Option<String> {
    let end = line.find("] acme: error:")?;
    let start = line[..end].rfind('[')?;
    let name = line[start + 1..end].trim();
    (!name.is_empty() && !name.contains(' ')).then(|| name.to_string())
}

/// acme.sh: `[date] name:Verify error:detail` (getssl's `"detail": "…",` form too).
fn acme_sh(line: &str, at: usize, out: &mut Parsed) -> bool {
    let mut detail = line[at + "Verify error:".len()..].trim();
    if let Some(rest) = detail.strip_prefix("\"detail\":") {
        detail = rest.trim().trim_end_matches(',').trim_matches('"');
    }
    if detail.is_empty() {
        return false;
    }
    let before = line[..at].trim_end_matches(':');
    let name = before.rsplit([' ', ']']).next().unwrap_or_default().trim();
    let (kind, detail) = match after_urn(detail) {
        Some((kind, d)) => (Some(kind), d),
        None => (None, detail),
    };
    let mut said = Said::new(Format::AcmeSh, detail, line);
    said.kind = kind;
    said.identifier = (!name.is_empty()).then(|| name.to_string());
    out.said.push(said);
    true
}

/// cert-manager: `Error accepting authorization: acme: authorization error for NAME: 400
/// urn:ietf:params:acme:error:connection: detail`.
fn cert_manager(line: &str, out: &mut Parsed) -> bool {
    let identifier = line.find("authorization error for ").and_then(|at| {
        let rest = &line[at + "authorization error for ".len()..];
        rest.split(':').next().map(|n| n.trim().to_string())
    });
    let (kind, detail) = match after_urn(line) {
        Some((kind, detail)) => (Some(kind), detail),
        None => match line.rfind("authorization error for ") {
            Some(at) => {
                let rest = &line[at..];
                (None, rest.split_once(": ").map_or("", |(_, d)| d))
            }
            None => (None, ""),
        },
    };
    if detail.trim().is_empty() {
        return false;
    }
    let mut said = Said::new(Format::CertManager, detail, line);
    said.kind = kind;
    said.identifier = identifier.filter(|n| !n.is_empty());
    said.status = line
        .find("authorization error for ")
        .and_then(|at| line[at..].split_once(": "))
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|s| s.parse().ok());
    out.said.push(said);
    true
}

/// Boulder's wording, recognised without a type: the phrases its details are built from
/// (`docs/ca-behaviour.md` §6 of the reference notes, §2.8 here).
fn looks_like_boulder(line: &str) -> bool {
    const PHRASES: &[&str] = &[
        "Fetching http",
        "Invalid response from",
        "Timeout during connect",
        "Timeout after connect",
        "Timeout during read",
        "Connection refused",
        "Connection reset by peer",
        "Network unreachable",
        "Error getting validation data",
        "DNS problem:",
        "While processing CAA",
        "During secondary validation:",
        "No TXT record found",
        "Incorrect TXT record",
        "key authorization file from the server",
        "no valid A records found",
        "no valid AAAA records found",
        "Cannot negotiate ALPN",
        "No certs presented",
        "Incorrect validation certificate",
        "Server only speaks HTTP",
        "remote error: tls:",
        "Unable to contact",
        "too many certificates",
        "too many failed authorizations",
        "too many new orders",
        "too many registrations",
        "too many currently pending",
        "Too many redirects",
        "redirect target",
        "Cannot issue for",
        "Secondary validation RPC",
        "Insufficient remote perspectives",
        "Could not communicate with VA",
    ];
    PHRASES.iter().any(|p| line.contains(p))
}

/// A JSON value: a problem document, a challenge, an authorization, a Caddy or Traefik log
/// line, or an object whose message fields hold one of the line formats.
fn from_json(value: &serde_json::Value, text: &str, depth: usize, out: &mut Parsed) {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH || out.said.len() >= MAX_PROBLEMS {
        return;
    }
    let Value::Object(map) = value else {
        if let Value::Array(items) = value {
            for item in items.iter().take(MAX_PROBLEMS) {
                from_json(item, text, depth + 1, out);
            }
        }
        return;
    };
    let string = |key: &str| map.get(key).and_then(Value::as_str);
    // Caddy: `{"logger":"http.acme_client","msg":"challenge failed","identifier":…,"problem":{…}}`.
    if let Some(problem) = map.get("problem").filter(|p| p.is_object()) {
        let before = out.said.len();
        from_json(problem, text, depth + 1, out);
        for said in &mut out.said[before..] {
            said.format = Format::CaddyLog;
            if said.identifier.is_none() {
                said.identifier = string("identifier").map(str::to_string);
            }
        }
        if out.said.len() > before {
            return;
        }
    }
    // An ACME problem document (RFC 8555 §6.7), with its subproblems (§6.7.1).
    if let (Some(kind), Some(detail)) = (string("type"), string("detail"))
        && (kind.starts_with(URN_PREFIX) || kind.starts_with(LEGACY_URN_PREFIX))
    {
        let mut said = Said::new(Format::ProblemJson, detail, text);
        said.kind = short_kind(kind);
        said.status = map
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok());
        said.identifier = map
            .get("identifier")
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let subs = map.get("subproblems").and_then(Value::as_array);
        match subs.filter(|s| !s.is_empty()) {
            // Each subproblem is one identifier's own problem: those are the observations.
            Some(subs) => {
                for sub in subs.iter().take(MAX_PROBLEMS) {
                    from_json(sub, text, depth + 1, out);
                }
            }
            None => out.said.push(said),
        }
        return;
    }
    // A challenge (`"error": {problem}`) or an authorization (`"challenges": […]`).
    if let Some(error) = map.get("error").filter(|e| e.is_object()) {
        from_json(error, text, depth + 1, out);
        return;
    }
    if let Some(challenges) = map.get("challenges").and_then(Value::as_array) {
        let before = out.said.len();
        for c in challenges.iter().take(MAX_PROBLEMS) {
            from_json(c, text, depth + 1, out);
        }
        let name = map
            .get("identifier")
            .and_then(|i| i.get("value"))
            .and_then(Value::as_str);
        for said in &mut out.said[before..] {
            if said.identifier.is_none() {
                said.identifier = name.map(str::to_string);
            }
        }
        return;
    }
    // A log line whose message holds lego's words (Traefik: `msg`/`message` and `error`).
    for key in ["error", "msg", "message"] {
        if let Some(message) = string(key) {
            let before = out.said.len();
            for line in message.lines() {
                if line.contains("acme: error:") {
                    lego(line, Format::TraefikLog, out);
                } else {
                    one_line(line.trim(), out);
                }
            }
            if out.said.len() > before {
                for said in &mut out.said[before..] {
                    said.text = text.trim().to_string();
                    if said.identifier.is_none() {
                        said.identifier = string("identifier").map(str::to_string);
                    }
                }
                return;
            }
        }
    }
}

/// The detail as Boulder sent it: surrounding quotes and a trailing comma or newline a client
/// left are not the CA's.
fn clean_detail(detail: &str) -> String {
    let d = detail.trim().trim_end_matches(',').trim();
    let d = d
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(d);
    cap(d, crate::facts::MAX_CA_TEXT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Said {
        let parsed = parse(text);
        assert_eq!(parsed.said.len(), 1, "{parsed:?}");
        parsed.said.into_iter().next().expect("one problem")
    }

    /// Boulder's detail alone, as in acme.sh issue #4702 (its `detail` field).
    #[test]
    fn a_bare_boulder_detail() {
        let s = one(
            "45.32.80.239: Fetching http://www.example.test/.well-known/acme-challenge/qHdc: Timeout during connect (likely firewall problem)",
        );
        assert_eq!(s.format, Format::Boulder);
        assert_eq!(s.kind, None);
        assert!(s.detail.starts_with("45.32.80.239: Fetching"));
    }

    #[test]
    fn a_detail_after_its_urn() {
        let s = one(
            "urn:ietf:params:acme:error:connection :: 2001:db8::10: Fetching http://example.test/.well-known/acme-challenge/T: Timeout during connect (likely firewall problem)",
        );
        assert_eq!(s.kind.as_deref(), Some("connection"));
        assert!(
            s.detail.starts_with("2001:db8::10: Fetching"),
            "{}",
            s.detail
        );
    }

    /// certbot's report, several domains in one paste (the shape of certbot issue #10372 and
    /// netbird issue #2726).
    #[test]
    fn certbots_block_for_several_domains() {
        let text = "Certbot failed to authenticate some domains (authenticator: nginx). The Certificate Authority reported these problems:\n  Domain: nb2.example.test\n  Type:   connection\n  Detail: During secondary validation: 203.0.113.49: Fetching http://nb2.example.test/.well-known/acme-challenge/Ipk: Timeout during connect (likely firewall problem)\n\n  Domain: www.example.test\n  Type:   serverInternal\n  Detail: During secondary validation: Secondary validation RPC failed\n\nHint: The Certificate Authority failed to verify the temporary nginx configuration changes made by Certbot.\n";
        let parsed = parse(text);
        assert!(parsed.not_understood.is_empty(), "{parsed:?}");
        assert_eq!(parsed.said.len(), 2);
        assert_eq!(
            parsed.said[0].identifier.as_deref(),
            Some("nb2.example.test")
        );
        assert_eq!(parsed.said[0].kind.as_deref(), Some("connection"));
        assert!(
            parsed.said[0]
                .detail
                .starts_with("During secondary validation: 203.0.113.49")
        );
        assert_eq!(parsed.said[1].kind.as_deref(), Some("serverInternal"));
        assert!(parsed.said[1].text.starts_with("Domain: www.example.test"));
    }

    /// Old certbot wrapped the detail over indented lines (certbot issue #5893).
    #[test]
    fn certbots_wrapped_detail_is_joined() {
        let s = one(
            " - The following errors were reported by the server:\n\n   Domain: example.test\n   Type:   connection\n   Detail: Fetching\n   http://example.test/.well-known/acme-challenge/OAAB:\n   Timeout after connect (your server may be slow or overloaded)\n",
        );
        assert_eq!(
            s.detail,
            "Fetching http://example.test/.well-known/acme-challenge/OAAB: Timeout after connect (your server may be slow or overloaded)"
        );
    }

    /// lego 4 (caddy-docker issue #244): method and URL before the URN, Boulder's own ` :: `
    /// inside the detail.
    #[test]
    fn legos_error_with_post_and_url() {
        let s = one(
            "failed to obtain certificate: acme: error: 429 :: POST :: https://acme-v02.api.letsencrypt.org/acme/new-order :: urn:ietf:params:acme:error:rateLimited :: Error creating new order :: too many failed authorizations recently: see https://letsencrypt.org/docs/rate-limits/, url: ",
        );
        assert_eq!(s.format, Format::Lego);
        assert_eq!(s.kind.as_deref(), Some("rateLimited"));
        assert_eq!(s.status, Some(429));
        assert_eq!(
            s.detail,
            "Error creating new order :: too many failed authorizations recently: see https://letsencrypt.org/docs/rate-limits/"
        );
    }

    /// Traefik's logfmt line around lego's list (factorio-server-manager issue #191).
    #[test]
    fn traefiks_logfmt_line_with_legos_list() {
        let s = one(
            r#"time="2020-11-25T22:34:45Z" level=error msg="Unable to obtain ACME certificate for domains \"factorio.example.test\": unable to generate a certificate for the domains [factorio.example.test]: error: one or more domains had a problem:\n[factorio.example.test] acme: error: 400 :: urn:ietf:params:acme:error:connection :: Timeout during connect (likely firewall problem), url: \n" providerName=default.acme rule="Host(`factorio.example.test`)""#,
        );
        assert_eq!(s.format, Format::TraefikLog);
        assert_eq!(s.identifier.as_deref(), Some("factorio.example.test"));
        assert_eq!(s.kind.as_deref(), Some("connection"));
        assert_eq!(s.detail, "Timeout during connect (likely firewall problem)");
        assert_eq!(s.status, Some(400));
    }

    /// Traefik's JSON log (`--log.format=json`) carries the same words in `msg`/`error`.
    #[test]
    fn traefiks_json_line() {
        let line = serde_json::json!({
            "level": "error",
            "providerName": "le.acme",
            "msg": "Unable to obtain ACME certificate for domains \"a.example.test\": unable to generate a certificate for the domains [a.example.test]: error: one or more domains had a problem:\n[a.example.test] acme: error: 403 :: urn:ietf:params:acme:error:unauthorized :: 192.0.2.10: Invalid response from http://a.example.test/.well-known/acme-challenge/T: 404\n",
            "time": "2024-05-02T00:34:16Z"
        })
        .to_string();
        let s = one(&line);
        assert_eq!(s.format, Format::TraefikLog);
        assert_eq!(s.identifier.as_deref(), Some("a.example.test"));
        assert_eq!(s.kind.as_deref(), Some("unauthorized"));
        assert!(s.detail.ends_with(": 404"), "{}", s.detail);
    }

    /// Caddy's `challenge failed` line: the fields of caddyserver/caddy issue #5519, as its
    /// JSON encoder writes them.
    #[test]
    fn caddys_json_log_line() {
        let line = r#"{"level":"error","ts":1683211995.151,"logger":"http.acme_client","msg":"challenge failed","identifier":"alfi.example.test","challenge_type":"http-01","problem":{"type":"urn:ietf:params:acme:error:connection","title":"","detail":"2001:db8::10: Fetching http://alfi.example.test/.well-known/acme-challenge/T: Timeout during connect (likely firewall problem)","instance":"","subproblems":[]}}"#;
        let s = one(line);
        assert_eq!(s.format, Format::CaddyLog);
        assert_eq!(s.identifier.as_deref(), Some("alfi.example.test"));
        assert_eq!(s.kind.as_deref(), Some("connection"));
        assert!(s.detail.starts_with("2001:db8::10: Fetching"));
    }

    /// acme.sh (acme.sh issue #3543) and getssl's form of the same line (getssl issue #846).
    #[test]
    fn acme_shs_verify_error() {
        let s = one(
            "gv34.example.test:Verify error:Fetching http://gv34.example.test/.well-known/acme-challenge/f7mr: Timeout during connect (likely firewall problem)",
        );
        assert_eq!(s.format, Format::AcmeSh);
        assert_eq!(s.identifier.as_deref(), Some("gv34.example.test"));
        assert!(s.detail.starts_with("Fetching http://gv34"));
        let s = one(
            r#"getssl: solidgone.example.test:Verify error:    "detail": "During secondary validation: 2001:db8::1: Invalid response from http://solidgone.example.test/.well-known/acme-challenge/-xvc: 403","#,
        );
        assert_eq!(s.identifier.as_deref(), Some("solidgone.example.test"));
        assert_eq!(
            s.detail,
            "During secondary validation: 2001:db8::1: Invalid response from http://solidgone.example.test/.well-known/acme-challenge/-xvc: 403"
        );
    }

    /// cert-manager: the CA's refusal, and its own self check (cert-manager issue #3261),
    /// which is not the CA's.
    #[test]
    fn cert_managers_reasons() {
        let s = one(
            "Error accepting authorization: acme: authorization error for www.example.test: 400 urn:ietf:params:acme:error:connection: 192.0.2.10: Fetching http://www.example.test/.well-known/acme-challenge/T: Connection refused",
        );
        assert_eq!(s.format, Format::CertManager);
        assert_eq!(s.identifier.as_deref(), Some("www.example.test"));
        assert_eq!(s.kind.as_deref(), Some("connection"));
        assert_eq!(s.status, Some(400));
        assert!(!s.self_check);
        let s = one(
            "Waiting for HTTP-01 challenge propagation: failed to perform self check GET request 'http://m.example.test/.well-known/acme-challenge/sT': Get \"http://m.example.test/.well-known/acme-challenge/sT\": EOF",
        );
        assert!(s.self_check);
    }

    /// A problem document with subproblems: one observation per identifier (RFC 8555 §6.7.1).
    #[test]
    fn a_problem_document_with_subproblems() {
        let doc = serde_json::json!({
            "type": "urn:ietf:params:acme:error:rejectedIdentifier",
            "detail": "Invalid identifiers requested :: 2 problems",
            "status": 400,
            "subproblems": [
                {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "Domain name contains an invalid character", "identifier": {"type": "dns", "value": "a_b.example.test"}},
                {"type": "urn:ietf:params:acme:error:caa", "detail": "While processing CAA for c.example.test: CAA record for example.test prevents issuance", "identifier": {"type": "dns", "value": "c.example.test"}}
            ]
        })
        .to_string();
        let parsed = parse(&doc);
        assert_eq!(parsed.said.len(), 2);
        assert_eq!(parsed.said[1].identifier.as_deref(), Some("c.example.test"));
        assert_eq!(parsed.said[1].kind.as_deref(), Some("caa"));
    }

    /// An authorization as acme.sh's debug log prints it (acme.sh issue #4702), pretty JSON.
    #[test]
    fn an_authorization_object() {
        let doc = "{\n\"identifier\": {\"type\": \"dns\", \"value\": \"www.example.test\"},\n\"status\": \"invalid\",\n\"challenges\": [{\"type\": \"http-01\", \"status\": \"invalid\", \"error\": {\"type\": \"urn:ietf:params:acme:error:connection\", \"detail\": \"192.0.2.10: Fetching http://www.example.test/.well-known/acme-challenge/q: Timeout during connect (likely firewall problem)\", \"status\": 400}}]\n}";
        let s = one(doc);
        assert_eq!(s.identifier.as_deref(), Some("www.example.test"));
        assert_eq!(s.status, Some(400));
    }

    #[test]
    fn what_is_not_understood_is_said() {
        let parsed = parse("hello\nConnection refused\n");
        assert_eq!(parsed.said.len(), 1);
        assert_eq!(parsed.not_understood, ["hello"]);
        assert!(parse("").said.is_empty());
        assert!(parse("{\"a\": 1}").said.is_empty());
    }

    /// Hostile input: deep JSON, huge text, multi-byte characters at the cap.
    #[test]
    fn never_panics_and_stays_bounded() {
        let deep = "[".repeat(10_000);
        let _ = parse(&deep);
        let nested = format!("{}{}", "{\"error\":".repeat(500), "1");
        let _ = parse(&nested);
        let big = "Connection refused\n".repeat(100_000);
        let parsed = parse(&big);
        assert!(parsed.said.len() <= MAX_PROBLEMS);
        let wide = "é".repeat(MAX_PASTE);
        let _ = parse(&wide);
        for text in [
            "urn:ietf:params:acme:error:",
            "acme: error:",
            "Verify error:",
            "Domain:",
            "[] acme: error: x",
            "authorization error for ",
            "x level=y \\n",
        ] {
            let _ = parse(text);
        }
    }
}
