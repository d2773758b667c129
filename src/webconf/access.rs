//! What nginx's access rules do with one client of the challenge request: its address and its
//! User-Agent (issue 20 item 2). nginx meets them in this order: the server's rewrite phase
//! (`set`, `if`, `return`, in the order written, bot-blocker includes among them), the chosen
//! location's rewrite phase, then the access phase (`allow`/`deny`, the innermost level that
//! has any, inherited from the server and `http` otherwise). The variables those rules test
//! are read as nginx computes them: `geo` (CIDRs, single addresses, `default`, `include`d
//! lists), `map` (exact strings, then regular expressions in order), `$remote_addr`,
//! `$http_user_agent`.
//!
//! Three-valued: what this reader cannot settle (a variable it does not know, a regular
//! expression outside what `regex-lite` reads) is never guessed; the rule is left out and said.

use super::nginx::{Config, Directive, Pos};
use super::select;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

/// Who asks: the source address (`None`: an arbitrary public address, in no list) and the
/// User-Agent.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub addr: Option<IpAddr>,
    pub user_agent: &'a str,
}

/// What the refusal turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Address,
    UserAgent,
    /// Neither: it refuses every client (a plain `deny all`, an unconditional `return 403`).
    Everyone,
}

/// A rule that ends the challenge request with a refusal, and why it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// 403 for `deny`, the code of a `return` (444 closes the connection without an answer).
    pub status: u16,
    /// The directive that ends the request.
    pub pos: Pos,
    pub text: String,
    /// What made it apply, outermost first: the `if` and its condition, the `geo` or `map`
    /// entry that gave the variable its value.
    pub because: Vec<(Pos, String)>,
    pub by: By,
}

/// The outcome for one client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub denial: Option<Denial>,
    /// Conditions that could not be settled on the way, with where they are.
    pub unsettled: Vec<(Pos, String)>,
}

/// Statuses that refuse rather than redirect or serve.
const REFUSING: &[u16] = &[401, 403, 406, 429, 444, 451];

/// A variable's value, and what gave it (the `geo`/`map` entry), or unknown.
#[derive(Debug, Clone)]
struct Value {
    text: String,
    from: Vec<(Pos, String)>,
    by: By,
}

struct Vars<'c> {
    /// `geo` and `map` blocks of the `http` context, by the variable they define.
    defs: HashMap<String, &'c Directive>,
    set: HashMap<String, Value>,
    client: Client<'c>,
    host: &'c str,
    uri: &'c str,
    depth: usize,
}

impl<'c> Vars<'c> {
    fn get(&mut self, name: &str) -> Option<Value> {
        let plain = |text: &str, by| {
            Some(Value {
                text: text.to_string(),
                from: Vec::new(),
                by,
            })
        };
        if let Some(v) = self.set.get(name) {
            return Some(v.clone());
        }
        match name {
            "$remote_addr" => {
                return self
                    .client
                    .addr
                    .and_then(|a| plain(&a.to_string(), By::Address));
            }
            "$http_user_agent" => return plain(self.client.user_agent, By::UserAgent),
            "$host" | "$http_host" | "$server_name" => return plain(self.host, By::Everyone),
            "$scheme" => return plain("http", By::Everyone),
            "$uri" | "$request_uri" | "$document_uri" => return plain(self.uri, By::Everyone),
            "$request_method" => return plain("GET", By::Everyone),
            // The CA sends neither: nginx reads them as empty.
            "$http_referer" | "$http_cookie" | "$args" | "$query_string" => {
                return plain("", By::Everyone);
            }
            _ => {}
        }
        let def = *self.defs.get(name)?;
        if self.depth > 8 {
            return None;
        }
        self.depth += 1;
        let v = match def.name.as_str() {
            "geo" => self.geo(def),
            _ => self.map(def),
        };
        self.depth -= 1;
        v
    }

    /// `geo [$source] $var { default V; CIDR V; ADDR V; include …; }`: the longest prefix
    /// holding the address, else `default`.
    fn geo(&mut self, def: &Directive) -> Option<Value> {
        if def.args.len() == 2 && def.args[0] != "$remote_addr" {
            return None;
        }
        let entries = def.children();
        // `ranges`, `proxy`: the address is not simply the client's, or entries read otherwise.
        if entries
            .iter()
            .any(|d| matches!(d.name.as_str(), "ranges" | "proxy" | "proxy_recursive"))
        {
            return None;
        }
        let default = entries.iter().find(|d| d.name == "default");
        let addr = self.client.addr;
        let mut best: Option<(u8, &Directive)> = None;
        if let Some(addr) = addr {
            for d in entries {
                if matches!(d.name.as_str(), "default" | "delete" | "include") {
                    continue;
                }
                let Some(net) = parse_net(&d.name) else {
                    continue;
                };
                if net.contains(&addr) && best.is_none_or(|(len, _)| net.prefix_len() > len) {
                    best = Some((net.prefix_len(), d));
                }
            }
        }
        let (text, from) = match best.or(default.map(|d| (0, d))) {
            Some((_, d)) => (
                d.args.first().cloned().unwrap_or_default(),
                vec![(d.pos.clone(), d.text())],
            ),
            None => (String::new(), Vec::new()),
        };
        let by = if best.is_some() {
            By::Address
        } else {
            By::Everyone
        };
        let mut from = from;
        from.insert(0, (def.pos.clone(), head(def)));
        Some(Value { text, from, by })
    }

    /// `map $source $var { default V; STRING V; ~REGEX V; ~*REGEX V; }`: an exact string
    /// (case-insensitive, as nginx hashes it), else the first regular expression, else
    /// `default`. A value that names a variable is not followed.
    fn map(&mut self, def: &Directive) -> Option<Value> {
        let source = self.get(def.args.first()?)?;
        let entries = def.children();
        let mut hit: Option<&Directive> = None;
        let mut unsettled = false;
        for d in entries {
            if matches!(
                d.name.as_str(),
                "default" | "hostnames" | "volatile" | "include"
            ) {
                continue;
            }
            if !d.name.starts_with('~') && d.name.eq_ignore_ascii_case(&source.text) {
                hit = Some(d);
                break;
            }
        }
        if hit.is_none() {
            for d in entries.iter().filter(|d| d.name.starts_with('~')) {
                let (caseless, re) = match d.name.strip_prefix("~*") {
                    Some(re) => (true, re),
                    None => (false, &d.name[1..]),
                };
                match regex(re, caseless).map(|r| r.is_match(&source.text)) {
                    Some(true) => {
                        hit = Some(d);
                        break;
                    }
                    Some(false) => {}
                    None => unsettled = true,
                }
            }
        }
        // An expression this reader cannot run might have matched before the default.
        if hit.is_none() && unsettled {
            return None;
        }
        let d = hit.or_else(|| entries.iter().find(|d| d.name == "default"));
        let text = d.and_then(|d| d.args.first().cloned()).unwrap_or_default();
        if text.contains('$') {
            return None;
        }
        let mut from = source.from.clone();
        from.push((def.pos.clone(), head(def)));
        if let Some(d) = d {
            from.push((d.pos.clone(), d.text()));
        }
        let by = if hit.is_some() {
            source.by
        } else {
            By::Everyone
        };
        Some(Value { text, from, by })
    }
}

/// `geo $var { … }` as its first line.
fn head(d: &Directive) -> String {
    format!("{} {} {{", d.name, d.args.join(" "))
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A PCRE as nginx writes it, when `regex-lite` reads it the same way.
fn regex(re: &str, caseless: bool) -> Option<regex_lite::Regex> {
    let re = re.trim_matches(['"', '\'']);
    regex_lite::Regex::new(&if caseless {
        format!("(?i){re}")
    } else {
        re.to_string()
    })
    .ok()
}

/// An `if` condition, settled: `Some((holds, by))`, or `None` when it cannot be.
fn condition(args: &[String], vars: &mut Vars) -> Option<(bool, Value)> {
    let joined = args.join(" ");
    let inner = joined.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
    let mut parts = inner.splitn(3, char::is_whitespace);
    let var = parts.next()?;
    if !var.starts_with('$') {
        return None;
    }
    let value = vars.get(var)?;
    let Some(op) = parts.next() else {
        // `if ($var)`: false for an empty string or "0".
        let holds = !(value.text.is_empty() || value.text == "0");
        return Some((holds, value));
    };
    let operand = parts.next()?.trim().trim_matches(['"', '\'']);
    let holds = match op {
        "=" => value.text == operand,
        "!=" => value.text != operand,
        "~" => regex(operand, false)?.is_match(&value.text),
        "~*" => regex(operand, true)?.is_match(&value.text),
        "!~" => !regex(operand, false)?.is_match(&value.text),
        "!~*" => !regex(operand, true)?.is_match(&value.text),
        _ => return None,
    };
    Some((holds, value))
}

/// How a rewrite-phase walk ended.
enum Walk {
    /// Went through without ending the request.
    Through,
    /// A `return` (or `break`) ended the phase: refused (`Some`), or not a refusal.
    Ended(Option<Denial>),
}

/// The rewrite-phase directives of one level, in the order written.
fn rewrite_phase(
    list: &[Directive],
    vars: &mut Vars,
    because: &mut Vec<(Pos, String)>,
    by: By,
    unsettled: &mut Vec<(Pos, String)>,
) -> Walk {
    for d in list {
        match d.name.as_str() {
            "set" => {
                if let [name, value] = d.args.as_slice() {
                    if value.contains('$') {
                        vars.set.remove(name);
                    } else {
                        vars.set.insert(
                            name.clone(),
                            Value {
                                text: value.clone(),
                                from: vec![(d.pos.clone(), d.text())],
                                by: By::Everyone,
                            },
                        );
                    }
                }
            }
            "if" => match condition(&d.args, vars) {
                Some((true, value)) => {
                    because.push((d.pos.clone(), format!("if {}", d.args.join(" "))));
                    let outer = because.len();
                    because.splice(outer - 1..outer - 1, value.from.iter().cloned());
                    let by = match (by, value.by) {
                        (By::Everyone, b) => b,
                        (b, _) => b,
                    };
                    match rewrite_phase(d.children(), vars, because, by, unsettled) {
                        Walk::Through => {
                            because.truncate(because.len() - 1 - value.from.len());
                        }
                        ended => return ended,
                    }
                }
                Some((false, _)) => {}
                None => {
                    if d.children().iter().any(|c| c.name == "return") {
                        unsettled.push((d.pos.clone(), format!("if {}", d.args.join(" "))));
                    }
                }
            },
            "return" => {
                let code = d.args.first().and_then(|c| c.parse::<u16>().ok());
                return Walk::Ended(code.filter(|c| REFUSING.contains(c)).map(|status| Denial {
                    status,
                    pos: d.pos.clone(),
                    text: d.text(),
                    because: because.clone(),
                    by,
                }));
            }
            "break" => return Walk::Ended(None),
            _ => {}
        }
    }
    Walk::Through
}

/// `allow`/`deny` of one level, first match wins: `Some(Some(denial))` refused, `Some(None)`
/// allowed, `None` when no rule of the list matched (or the list is empty).
fn access_phase(list: &[&Directive], client: Client) -> Option<Option<Denial>> {
    for d in list {
        let arg = d.args.first().map(String::as_str).unwrap_or("");
        let matches = if arg == "all" {
            Some(By::Everyone)
        } else {
            match (parse_net(arg), client.addr) {
                (Some(net), Some(addr)) if net.contains(&addr) => Some(By::Address),
                _ => None,
            }
        };
        let Some(by) = matches else { continue };
        return Some((d.name == "deny").then(|| Denial {
            status: 403,
            pos: d.pos.clone(),
            text: d.text(),
            because: Vec::new(),
            by,
        }));
    }
    None
}

fn rules_of(list: &[Directive]) -> Vec<&Directive> {
    list.iter()
        .filter(|d| d.name == "allow" || d.name == "deny")
        .collect()
}

/// What nginx does with `client`'s request for `uri` on the server `server` (an index into
/// [`select::servers`]) for `host`.
pub fn evaluate(config: &Config, server: usize, host: &str, uri: &str, client: Client) -> Outcome {
    let servers = select::servers(&config.directives);
    let Some(s) = servers.get(server) else {
        return Outcome::default();
    };
    let mut defs = HashMap::new();
    for d in s.http.children() {
        if matches!(d.name.as_str(), "geo" | "map")
            && d.block.is_some()
            && let Some(var) = d.args.last()
        {
            defs.insert(var.clone(), d);
        }
    }
    let mut vars = Vars {
        defs,
        set: HashMap::new(),
        client,
        host,
        uri,
        depth: 0,
    };
    let mut out = Outcome::default();
    let served = select::find_location(s.block.children(), uri);
    // The server's rewrite phase, then the location's.
    let mut levels: Vec<&[Directive]> = vec![s.block.children()];
    if let Some(loc) = served.location() {
        levels.push(loc.children());
    }
    for list in levels {
        let mut because = Vec::new();
        match rewrite_phase(
            list,
            &mut vars,
            &mut because,
            By::Everyone,
            &mut out.unsettled,
        ) {
            Walk::Through => {}
            Walk::Ended(denial) => {
                out.denial = denial;
                return out;
            }
        }
    }
    // The access phase: the innermost level with rules.
    let mut access_levels: Vec<&[Directive]> =
        served.chain.iter().rev().map(|d| d.children()).collect();
    access_levels.push(s.block.children());
    access_levels.push(s.http.children());
    if let Some(rules) = access_levels
        .into_iter()
        .map(rules_of)
        .find(|r| !r.is_empty())
    {
        out.denial = access_phase(&rules, client).flatten();
    }
    out
}

/// Rules on the way of the challenge request that refuse some sources and not others: a
/// `deny` of a network, an `if` on a `geo` or `map $remote_addr` variable that returns a
/// refusal for some of its entries. Found without knowing the CA's address: the CA's
/// perspectives are not published, so each is a risk, not a verdict.
pub fn source_rules(
    config: &Config,
    server: usize,
    host: &str,
    uri: &str,
    ua: &str,
) -> Vec<Denial> {
    let servers = select::servers(&config.directives);
    let Some(s) = servers.get(server) else {
        return Vec::new();
    };
    let mut out: Vec<Denial> = Vec::new();
    // Every address a `geo` entry or a `deny` names, tried as the client: each one that the
    // arbitrary address would not meet and that is refused shows a rule by source.
    let mut probes: Vec<IpAddr> = Vec::new();
    let mut add_net = |text: &str| {
        if let Some(net) = parse_net(text) {
            probes.push(net.network());
        }
    };
    for d in s.http.children() {
        if d.name == "geo" {
            for e in d.children() {
                add_net(&e.name);
            }
        }
        if d.name == "map" && d.args.first().is_some_and(|a| a == "$remote_addr") {
            for e in d.children() {
                add_net(&e.name);
            }
        }
    }
    let served = select::find_location(s.block.children(), uri);
    let mut lists: Vec<&[Directive]> = served.chain.iter().map(|d| d.children()).collect();
    lists.push(s.block.children());
    lists.push(s.http.children());
    for list in lists {
        for d in rules_of(list) {
            if d.name == "deny" {
                add_net(d.args.first().map(String::as_str).unwrap_or(""));
            }
        }
    }
    probes.sort();
    probes.dedup();
    // Thousands of entries (a country list) need not all be tried: one refusal per rule.
    for addr in probes.into_iter().take(20_000) {
        let o = evaluate(
            config,
            server,
            host,
            uri,
            Client {
                addr: Some(addr),
                user_agent: ua,
            },
        );
        if let Some(d) = o.denial
            && d.by == By::Address
            && !out.iter().any(|x| x.pos == d.pos)
        {
            out.push(d);
        }
    }
    out
}

/// One authorization item of Apache's mod_authz_core, as far as it concerns an anonymous
/// client with a known address: `Require ip`, `Require not ip`, `Require all granted|denied`,
/// and the `<RequireAll>`, `<RequireAny>`, `<RequireNone>` containers.
#[derive(Debug, Clone)]
enum Authz {
    Ip {
        nets: Vec<IpNet>,
        not: bool,
        pos: Pos,
        text: String,
    },
    All {
        granted: bool,
        pos: Pos,
        text: String,
    },
    /// A provider this reader does not settle (`host`, `expr`, `valid-user`…).
    Other {
        pos: Pos,
        text: String,
    },
    Container {
        kind: Container,
        items: Vec<Authz>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    All,
    Any,
    None,
}

/// mod_authz_core's three outcomes, and "not settled".
#[derive(Debug, Clone, PartialEq, Eq)]
enum Authed {
    Granted,
    /// Denied, and the item that decided.
    Denied(Pos, String, By),
    Neutral,
    Unknown,
}

fn authz_eval(a: &Authz, addr: Option<IpAddr>) -> Authed {
    match a {
        Authz::Ip {
            nets,
            not,
            pos,
            text,
        } => {
            let Some(addr) = addr else {
                // The arbitrary address is in no list: `Require ip` does not grant it, `Require
                // not ip` does not refuse it.
                return if *not {
                    Authed::Neutral
                } else {
                    Authed::Denied(pos.clone(), text.clone(), By::Everyone)
                };
            };
            match (nets.iter().any(|n| n.contains(&addr)), not) {
                (true, false) => Authed::Granted,
                (false, false) => Authed::Denied(pos.clone(), text.clone(), By::Everyone),
                (true, true) => Authed::Denied(pos.clone(), text.clone(), By::Address),
                (false, true) => Authed::Neutral,
            }
        }
        Authz::All { granted, pos, text } => {
            if *granted {
                Authed::Granted
            } else {
                Authed::Denied(pos.clone(), text.clone(), By::Everyone)
            }
        }
        Authz::Other { .. } => Authed::Unknown,
        Authz::Container { kind, items } => {
            let results: Vec<Authed> = items.iter().map(|i| authz_eval(i, addr)).collect();
            let denied = results.iter().find(|r| matches!(r, Authed::Denied(..)));
            let unknown = results.contains(&Authed::Unknown);
            match kind {
                Container::Any => {
                    if results.contains(&Authed::Granted) {
                        Authed::Granted
                    } else if unknown {
                        Authed::Unknown
                    } else {
                        denied.cloned().unwrap_or(Authed::Neutral)
                    }
                }
                Container::All => {
                    if let Some(d) = denied {
                        d.clone()
                    } else if unknown {
                        Authed::Unknown
                    } else if results.contains(&Authed::Granted) {
                        Authed::Granted
                    } else {
                        Authed::Neutral
                    }
                }
                Container::None => {
                    if results.contains(&Authed::Granted) {
                        // A granting item inside RequireNone refuses.
                        match items
                            .iter()
                            .zip(&results)
                            .find(|(_, r)| **r == Authed::Granted)
                        {
                            Some((Authz::Ip { pos, text, .. }, _)) => {
                                Authed::Denied(pos.clone(), text.clone(), By::Address)
                            }
                            Some((Authz::All { pos, text, .. }, _)) => {
                                Authed::Denied(pos.clone(), text.clone(), By::Everyone)
                            }
                            _ => Authed::Unknown,
                        }
                    } else if unknown {
                        Authed::Unknown
                    } else {
                        Authed::Neutral
                    }
                }
            }
        }
    }
}

/// The `Require` lines of one section, nested containers kept.
fn parse_authz(lines: &[(Pos, String)], i: &mut usize, kind: Container) -> Authz {
    let mut items = Vec::new();
    while *i < lines.len() {
        let (pos, text) = &lines[*i];
        *i += 1;
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("</require") {
            break;
        }
        let sub = if lower.starts_with("<requireall") {
            Some(Container::All)
        } else if lower.starts_with("<requireany") {
            Some(Container::Any)
        } else if lower.starts_with("<requirenone") {
            Some(Container::None)
        } else {
            None
        };
        if let Some(k) = sub {
            items.push(parse_authz(lines, i, k));
            continue;
        }
        let words = super::apache::split_words(text);
        let Some(first) = words.first() else { continue };
        if !first.eq_ignore_ascii_case("require") {
            continue;
        }
        let (not, rest) = match words.get(1) {
            Some(w) if w.eq_ignore_ascii_case("not") => (true, &words[2..]),
            _ => (false, &words[1..]),
        };
        let item = match rest.split_first() {
            Some((p, nets)) if p.eq_ignore_ascii_case("ip") => {
                let parsed: Option<Vec<IpNet>> = nets.iter().map(|n| parse_net(n)).collect();
                match parsed {
                    Some(nets) => Authz::Ip {
                        nets,
                        not,
                        pos: pos.clone(),
                        text: text.clone(),
                    },
                    None => Authz::Other {
                        pos: pos.clone(),
                        text: text.clone(),
                    },
                }
            }
            Some((p, [what])) if p.eq_ignore_ascii_case("all") && !not => Authz::All {
                granted: what.eq_ignore_ascii_case("granted"),
                pos: pos.clone(),
                text: text.clone(),
            },
            _ => Authz::Other {
                pos: pos.clone(),
                text: text.clone(),
            },
        };
        items.push(item);
    }
    Authz::Container { kind, items }
}

/// What Apache's `Require` rules do with `client` for `uri`, in the VirtualHost that starts
/// at `vhost` in `text`, whose challenge files are read from `challenge_dir`. The sections
/// that apply are `<Directory>` (a prefix of the directory), then `<Location>` (a prefix of
/// the URI), read in that order; the last one that has `Require` lines decides, as
/// mod_authz_core merges them by default (`AuthMerging Off`). Sections in other files
/// (`apache2.conf`'s `<Directory /var/www/>`) are not read.
pub fn apache_evaluate(
    text: &str,
    vhost: &Pos,
    uri: &str,
    challenge_dir: &str,
    client: Client,
) -> Outcome {
    // The vhost's lines, continuation lines joined, comments dropped.
    let mut lines: Vec<(Pos, String)> = Vec::new();
    let mut pending = String::new();
    let mut start = 0u32;
    for (n, raw) in text
        .lines()
        .enumerate()
        .skip(vhost.line.saturating_sub(1) as usize)
    {
        let n = n as u32 + 1;
        if pending.is_empty() {
            start = n;
        }
        let t = raw.trim();
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let full = std::mem::take(&mut pending).trim().to_string();
        if full.is_empty() || full.starts_with('#') {
            continue;
        }
        let end = full.to_ascii_lowercase().starts_with("</virtualhost");
        lines.push((
            Pos {
                file: vhost.file.clone(),
                line: start,
            },
            crate::sanitize::line(&full, 300),
        ));
        if end || lines.len() > 20_000 {
            break;
        }
    }
    // Sections that apply, each with its Require lines.
    let mut directory: Vec<(usize, Authz)> = Vec::new();
    let mut location: Vec<Authz> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let lower = lines[i].1.to_ascii_lowercase();
        i += 1;
        let (is_dir, arg) = if let Some(rest) = lower.strip_prefix("<directory ") {
            (true, rest)
        } else if let Some(rest) = lower.strip_prefix("<location ") {
            (false, rest)
        } else {
            continue;
        };
        let original = &lines[i - 1].1;
        let arg_orig = original[original.len() - arg.len()..]
            .trim_end_matches('>')
            .trim()
            .trim_matches(['"', '\''])
            .to_string();
        let applies = if is_dir {
            challenge_dir.starts_with(arg_orig.trim_end_matches('/'))
        } else {
            uri.starts_with(arg_orig.as_str())
        };
        // The section's own lines, up to its close.
        let close = if is_dir { "</directory" } else { "</location" };
        let from = i;
        while i < lines.len() && !lines[i].1.to_ascii_lowercase().starts_with(close) {
            i += 1;
        }
        let body = &lines[from..i.min(lines.len())];
        if !applies {
            continue;
        }
        let mut j = 0;
        let authz = parse_authz(body, &mut j, Container::Any);
        if matches!(&authz, Authz::Container { items, .. } if items.is_empty()) {
            continue;
        }
        if is_dir {
            directory.push((arg_orig.len(), authz));
        } else {
            location.push(authz);
        }
    }
    // Shorter directories first, then locations in order: the last decides.
    directory.sort_by_key(|(len, _)| *len);
    let Some(decisive) = location
        .into_iter()
        .last()
        .or_else(|| directory.into_iter().last().map(|(_, a)| a))
    else {
        return Outcome::default();
    };
    let mut out = Outcome::default();
    match authz_eval(&decisive, client.addr) {
        Authed::Denied(pos, text, by) => {
            out.denial = Some(Denial {
                status: 403,
                pos,
                text,
                because: Vec::new(),
                by,
            });
        }
        Authed::Unknown => {
            if let Authz::Container { items, .. } = &decisive
                && let Some(Authz::Other { pos, text }) =
                    items.iter().find(|i| matches!(i, Authz::Other { .. }))
            {
                out.unsettled.push((pos.clone(), text.clone()));
            }
        }
        // Neutral at the top: no rule grants, so mod_authz_core refuses.
        Authed::Neutral => {}
        Authed::Granted => {}
    }
    out
}

/// The networks a VirtualHost's `Require not ip` lines name, for the risk without a
/// vantage: each tried as the client.
pub fn apache_source_rules(text: &str, vhost: &Pos, uri: &str, challenge_dir: &str) -> Vec<Denial> {
    let mut out: Vec<Denial> = Vec::new();
    let mut probes = Vec::new();
    for line in text.lines().skip(vhost.line.saturating_sub(1) as usize) {
        let words = super::apache::split_words(line.trim());
        if line
            .trim()
            .to_ascii_lowercase()
            .starts_with("</virtualhost")
        {
            break;
        }
        if words.len() > 3
            && words[0].eq_ignore_ascii_case("require")
            && words[1].eq_ignore_ascii_case("not")
            && words[2].eq_ignore_ascii_case("ip")
        {
            probes.extend(
                words[3..]
                    .iter()
                    .filter_map(|w| parse_net(w))
                    .map(|n| n.network()),
            );
        }
    }
    for addr in probes.into_iter().take(20_000) {
        let o = apache_evaluate(
            text,
            vhost,
            uri,
            challenge_dir,
            Client {
                addr: Some(addr),
                user_agent: "",
            },
        );
        if let Some(d) = o.denial
            && d.by == By::Address
            && !out.iter().any(|x| x.pos == d.pos)
        {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &str =
        "Mozilla/5.0 (compatible; Let's Encrypt validation server; +https://www.letsencrypt.org)";

    fn config(files: &[(&str, &str)]) -> Config {
        let dump: String = files
            .iter()
            .map(|(path, text)| format!("# configuration file {path}:\n{text}\n"))
            .collect();
        super::super::nginx::load(&dump).expect("parses")
    }

    fn ask(c: &Config, addr: Option<&str>, ua: &str) -> Outcome {
        evaluate(
            c,
            0,
            "example.test",
            "/.well-known/acme-challenge/T",
            Client {
                addr: addr.map(|a| a.parse().unwrap()),
                user_agent: ua,
            },
        )
    }

    /// The bot blocker's shape (nginx-ultimate-bad-bot-blocker): a `geo` in `http` that
    /// includes its IP list, and `if ($validate_client) { return 444; }` included at the top
    /// of the server, which runs before any location, the challenge's too.
    fn bot_blocker() -> Config {
        config(&[
            (
                "/etc/nginx/nginx.conf",
                "events {}\nhttp {\n  include /etc/nginx/conf.d/*.conf;\n  server {\n    listen 80;\n    server_name example.test;\n    include /etc/nginx/bots.d/blockbots.conf;\n    location ^~ /.well-known/acme-challenge/ { root /var/www/acme; }\n  }\n}\n",
            ),
            (
                "/etc/nginx/conf.d/globalblacklist.conf",
                "geo $validate_client {\n  default 0;\n  include /etc/nginx/bots.d/blacklist-ips.conf;\n}\nmap $http_user_agent $bad_bot {\n  default 0;\n  \"~*(?:\\b)SemrushBot(?:\\b)\" 3;\n}\n",
            ),
            (
                "/etc/nginx/bots.d/blacklist-ips.conf",
                "198.51.100.0/24 1;\n203.0.113.9 1;\n",
            ),
            (
                "/etc/nginx/bots.d/blockbots.conf",
                "if ($bad_bot = '3') {\n  return 444;\n}\nif ($validate_client) {\n  return 444;\n}\n",
            ),
        ])
    }

    #[test]
    fn a_source_in_the_bot_blocker_s_geo_list_gets_444_at_the_included_line() {
        let c = bot_blocker();
        let o = ask(&c, Some("198.51.100.7"), UA);
        let d = o.denial.expect("refused");
        assert_eq!(d.status, 444);
        assert_eq!(d.by, By::Address);
        assert_eq!(d.pos.to_string(), "/etc/nginx/bots.d/blockbots.conf:5");
        let why: Vec<String> = d.because.iter().map(|(p, _)| p.to_string()).collect();
        assert!(
            why.contains(&"/etc/nginx/bots.d/blacklist-ips.conf:1".to_string()),
            "{why:?}"
        );
        assert!(why.contains(&"/etc/nginx/conf.d/globalblacklist.conf:1".to_string()));
        // Another address, and the arbitrary one, are served.
        assert_eq!(ask(&c, Some("192.0.2.77"), UA).denial, None);
        assert_eq!(ask(&c, None, UA).denial, None);
        // The bot list catches its bots, not the CA.
        assert_eq!(
            ask(
                &c,
                Some("192.0.2.77"),
                "Mozilla/5.0 (compatible; SemrushBot/7)"
            )
            .denial
            .map(|d| (d.status, d.by)),
            Some((444, By::UserAgent))
        );
        let rules = source_rules(&c, 0, "example.test", "/.well-known/acme-challenge/T", UA);
        assert_eq!(rules.len(), 1, "{rules:?}");
    }

    #[test]
    fn allow_and_deny_are_inherited_by_a_location_without_its_own() {
        let c = config(&[(
            "/etc/nginx/nginx.conf",
            "events {}\nhttp {\n  deny 2001:db8:bad::/48;\n  server {\n    listen 80;\n    location /.well-known/acme-challenge/ { root /srv; }\n  }\n  server {\n    listen 81;\n    deny 192.0.2.0/24;\n    location /.well-known/acme-challenge/ { allow all; }\n  }\n}\n",
        )]);
        let d = ask(&c, Some("2001:db8:bad::7"), UA).denial.expect("denied");
        assert_eq!((d.status, d.by, d.pos.line), (403, By::Address, 3));
        assert_eq!(ask(&c, Some("2001:db8:1::7"), UA).denial, None);
        // The location's own `allow all` replaces the server's list.
        let o = evaluate(
            &c,
            1,
            "example.test",
            "/.well-known/acme-challenge/T",
            Client {
                addr: Some("192.0.2.5".parse().unwrap()),
                user_agent: UA,
            },
        );
        assert_eq!(o.denial, None);
    }

    #[test]
    fn a_user_agent_rule_and_a_map_of_remote_addr_are_settled() {
        let c = config(&[(
            "/etc/nginx/nginx.conf",
            "events {}\nhttp {\n  map $remote_addr $blocked {\n    default 0;\n    ~^198\\.51\\.100\\. 1;\n  }\n  server {\n    listen 80;\n    if ($http_user_agent ~* \"(bot|crawler|spider)\") { return 403; }\n    location / {\n      if ($blocked) { return 403; }\n    }\n  }\n}\n",
        )]);
        // "Let's Encrypt validation server" holds none of the words: served…
        assert_eq!(ask(&c, None, UA).denial, None);
        // …but a UA rule that does hold it refuses every perspective.
        let d = ask(&c, None, "curl bot").denial.expect("UA refused");
        assert_eq!((d.by, d.pos.line), (By::UserAgent, 9));
        let d = ask(&c, Some("198.51.100.3"), UA)
            .denial
            .expect("map refused");
        assert_eq!((d.by, d.status, d.pos.line), (By::Address, 403, 11));
        assert_eq!(ask(&c, Some("203.0.113.3"), UA).denial, None);
    }

    /// Apache 2.4: a `<Location>` for the challenge with a block list in `<RequireAll>`
    /// (`Require all granted` + `Require not ip`), the shape of country and bot blocks.
    #[test]
    fn apache_require_not_ip_in_require_all_refuses_the_listed_source() {
        let text = "<VirtualHost *:80>\n  ServerName example.test\n  DocumentRoot /var/www/site\n  <Directory /var/www/site>\n    Require all granted\n  </Directory>\n  <Location />\n    <RequireAll>\n      Require all granted\n      Require not ip 198.51.100.0/24 2001:db8:51::/48\n    </RequireAll>\n  </Location>\n</VirtualHost>\n";
        let vhost = Pos {
            file: "/etc/apache2/sites-enabled/site.conf".into(),
            line: 1,
        };
        let ask = |addr: Option<&str>| {
            apache_evaluate(
                text,
                &vhost,
                "/.well-known/acme-challenge/T",
                "/var/www/site/.well-known/acme-challenge",
                Client {
                    addr: addr.map(|a| a.parse().unwrap()),
                    user_agent: UA,
                },
            )
        };
        let d = ask(Some("2001:db8:51::10")).denial.expect("refused");
        assert_eq!((d.status, d.by, d.pos.line), (403, By::Address, 10));
        assert_eq!(ask(Some("192.0.2.7")).denial, None);
        assert_eq!(ask(None).denial, None);
        let rules = apache_source_rules(
            text,
            &vhost,
            "/.well-known/acme-challenge/T",
            "/var/www/site/.well-known/acme-challenge",
        );
        assert_eq!(rules.len(), 1);
        // An allow-list (`Require ip` alone) refuses everyone else, the arbitrary address too.
        let allow = text.replace(
            "<RequireAll>\n      Require all granted\n      Require not ip 198.51.100.0/24 2001:db8:51::/48\n    </RequireAll>",
            "Require ip 203.0.113.0/24",
        );
        let o = apache_evaluate(
            &allow,
            &vhost,
            "/.well-known/acme-challenge/T",
            "/var/www/site/.well-known/acme-challenge",
            Client {
                addr: None,
                user_agent: UA,
            },
        );
        assert_eq!(o.denial.map(|d| d.by), Some(By::Everyone));
    }
}
