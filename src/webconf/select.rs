//! Which nginx `server` answers a connection and which `location` serves a URI, as nginx
//! decides (nginx.org "How nginx processes a request" and "server names";
//! `ngx_http_core_find_location` for locations).
//!
//! Servers: the connection's destination address and port pick the `listen` sockets (a listen
//! on that exact address wins over a wildcard of the same family; `listen [::]:80` is IPv6
//! only unless `ipv6only=off`); among their servers the Host header picks by `server_name`:
//! exact name, then the longest wildcard starting with `*`, then the longest ending with `*`,
//! then the first regular expression in configuration order; else the `default_server` of
//! that address and port, else its first server.
//!
//! Locations: an exact `=` match stops; else the longest prefix (`^~` among them stops);
//! nested locations of that prefix are searched first; then regular expressions in order;
//! else the longest prefix.

use super::nginx::{Directive, Pos};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    AnyV4,
    AnyV6,
    Ip(IpAddr),
    /// A host name (resolved by nginx at start): not matched here.
    Name(String),
    Unix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub addr: ListenAddr,
    pub port: u16,
    pub default_server: bool,
    /// For an IPv6 wildcard: takes IPv6 only (nginx's default since 1.3.4).
    pub ipv6only: bool,
    pub ssl: bool,
    pub pos: Pos,
    pub text: String,
}

impl Listen {
    /// Parses the arguments of one `listen` directive.
    pub fn parse(d: &Directive) -> Option<Listen> {
        let first = d.args.first()?;
        let (addr, port) = parse_address(first)?;
        let mut l = Listen {
            addr,
            port,
            default_server: false,
            ipv6only: true,
            ssl: false,
            pos: d.pos.clone(),
            text: d.text(),
        };
        for a in &d.args[1..] {
            match a.as_str() {
                "default_server" | "default" => l.default_server = true,
                "ipv6only=off" => l.ipv6only = false,
                "ipv6only=on" => l.ipv6only = true,
                "ssl" => l.ssl = true,
                _ => {}
            }
        }
        Some(l)
    }

    /// Whether a connection of this family reaches this listen's socket when no listen names
    /// its exact address.
    fn wildcard_for(&self, v4: bool) -> bool {
        match self.addr {
            ListenAddr::AnyV4 => v4,
            ListenAddr::AnyV6 => !v4 || !self.ipv6only,
            _ => false,
        }
    }

    fn exactly(&self, ip: &IpAddr) -> bool {
        match (&self.addr, ip) {
            (ListenAddr::Ip(a), _) if a == ip => true,
            (ListenAddr::Ip(IpAddr::V6(a)), IpAddr::V4(v4)) => a.to_ipv4_mapped() == Some(*v4),
            _ => false,
        }
    }
}

/// `80`, `*:80`, `127.0.0.1`, `[::]:80`, `[::]`, `example.com:8080`, `unix:/path`.
fn parse_address(text: &str) -> Option<(ListenAddr, u16)> {
    if text.starts_with("unix:") {
        return Some((ListenAddr::Unix, 0));
    }
    if let Ok(port) = text.parse::<u16>() {
        return Some((ListenAddr::AnyV4, port));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let ip: Ipv6Addr = host.parse().ok()?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => 80,
            None => return None,
        };
        let addr = if ip.is_unspecified() {
            ListenAddr::AnyV6
        } else {
            ListenAddr::Ip(IpAddr::V6(ip))
        };
        return Some((addr, port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (text, 80),
    };
    let addr = if host == "*" {
        ListenAddr::AnyV4
    } else if let Ok(ip) = host.parse::<Ipv4Addr>() {
        if ip.is_unspecified() {
            ListenAddr::AnyV4
        } else {
            ListenAddr::Ip(IpAddr::V4(ip))
        }
    } else {
        ListenAddr::Name(host.to_ascii_lowercase())
    };
    Some((addr, port))
}

/// One `server` block of the `http` context.
#[derive(Debug, Clone)]
pub struct Server<'a> {
    pub pos: Pos,
    pub listens: Vec<Listen>,
    pub names: Vec<String>,
    pub block: &'a Directive,
    /// The `http` block it sits in (for inherited `root`).
    pub http: &'a Directive,
}

impl Server<'_> {
    /// The first name, or `_` for a server without one.
    pub fn label(&self) -> String {
        self.names
            .iter()
            .find(|n| !n.is_empty())
            .cloned()
            .unwrap_or_else(|| "(no server_name)".into())
    }
}

/// Every `server` of every `http` block, in configuration order.
pub fn servers(root: &[Directive]) -> Vec<Server<'_>> {
    let mut out = Vec::new();
    for http in root.iter().filter(|d| d.name == "http") {
        for s in http.children().iter().filter(|d| d.name == "server") {
            let mut listens: Vec<Listen> = s
                .children()
                .iter()
                .filter(|d| d.name == "listen")
                .filter_map(Listen::parse)
                .collect();
            if listens.is_empty() {
                // No listen: `*:80` (as root; `*:8000` otherwise).
                listens.push(Listen {
                    addr: ListenAddr::AnyV4,
                    port: 80,
                    default_server: false,
                    ipv6only: true,
                    ssl: false,
                    pos: s.pos.clone(),
                    text: "(no listen: *:80)".into(),
                });
            }
            let names = s
                .children()
                .iter()
                .filter(|d| d.name == "server_name")
                .flat_map(|d| d.args.iter().map(|a| a.to_ascii_lowercase()))
                .collect();
            out.push(Server {
                pos: s.pos.clone(),
                listens,
                names,
                block: s,
                http,
            });
        }
    }
    out
}

/// How the server was chosen among those on the address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    ExactName,
    LeadingWildcard,
    TrailingWildcard,
    Regex,
    /// No name matched: the `default_server` of the address and port.
    DefaultServer,
    /// No name matched and no `default_server`: the first server on the address and port.
    FirstServer,
}

#[derive(Debug, Clone)]
pub struct Chosen {
    /// Index into the server list.
    pub server: usize,
    /// The listen of that server that took the connection.
    pub listen: Listen,
    pub by: ChosenBy,
}

/// The server nginx picks for a connection to `dest`:`port` with `Host: host`, or `None` when
/// no listen takes it.
pub fn choose(servers: &[Server<'_>], dest: IpAddr, port: u16, host: &str) -> Option<Chosen> {
    let v4 = dest.is_ipv4();
    let all = || {
        servers.iter().enumerate().flat_map(|(i, s)| {
            s.listens
                .iter()
                .filter(move |l| l.port == port)
                .map(move |l| (i, l))
        })
    };
    let mut on: Vec<(usize, &Listen)> = all().filter(|(_, l)| l.exactly(&dest)).collect();
    if on.is_empty() {
        on = all().filter(|(_, l)| l.wildcard_for(v4)).collect();
    }
    // Of a wildcard group, the listens of one socket: IPv4 prefers its own wildcard over a
    // dual-stack [::] (they could not both be bound anyway).
    if v4 && on.iter().any(|(_, l)| l.addr == ListenAddr::AnyV4) {
        on.retain(|(_, l)| l.addr != ListenAddr::AnyV6);
    }
    let first = *on.first()?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let listen_of = |i: usize| {
        on.iter()
            .find(|(j, _)| *j == i)
            .map_or_else(|| first.1.clone(), |(_, l)| (*l).clone())
    };
    let mut seen: Vec<usize> = on.iter().map(|(i, _)| *i).collect();
    seen.dedup();
    // Exact names.
    for &i in &seen {
        if servers[i]
            .names
            .iter()
            .any(|n| *n == host || n.strip_prefix('.') == Some(host.as_str()))
        {
            return Some(Chosen {
                server: i,
                listen: listen_of(i),
                by: ChosenBy::ExactName,
            });
        }
    }
    // The longest wildcard at the start, then at the end.
    let longest = |pick: &dyn Fn(&str) -> Option<usize>| {
        seen.iter()
            .filter_map(|&i| {
                servers[i]
                    .names
                    .iter()
                    .filter_map(|n| pick(n))
                    .max()
                    .map(|len| (len, i))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, i)| i)
    };
    let leading = |n: &str| {
        let suffix = n
            .strip_prefix('*')
            .or_else(|| n.strip_prefix('.').map(|_| n))?;
        (suffix.starts_with('.') && host.ends_with(suffix)).then_some(suffix.len())
    };
    if let Some(i) = longest(&leading) {
        return Some(Chosen {
            server: i,
            listen: listen_of(i),
            by: ChosenBy::LeadingWildcard,
        });
    }
    let trailing = |n: &str| {
        let prefix = n.strip_suffix('*')?;
        (prefix.ends_with('.') && host.starts_with(prefix)).then_some(prefix.len())
    };
    if let Some(i) = longest(&trailing) {
        return Some(Chosen {
            server: i,
            listen: listen_of(i),
            by: ChosenBy::TrailingWildcard,
        });
    }
    for &i in &seen {
        if servers[i].names.iter().any(|n| {
            n.strip_prefix('~')
                .and_then(|re| regex_lite::Regex::new(re).ok())
                .is_some_and(|re| re.is_match(&host))
        }) {
            return Some(Chosen {
                server: i,
                listen: listen_of(i),
                by: ChosenBy::Regex,
            });
        }
    }
    if let Some((i, l)) = on.iter().find(|(_, l)| l.default_server) {
        return Some(Chosen {
            server: *i,
            listen: (*l).clone(),
            by: ChosenBy::DefaultServer,
        });
    }
    Some(Chosen {
        server: first.0,
        listen: first.1.clone(),
        by: ChosenBy::FirstServer,
    })
}

/// A `location` block's match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Exact,
    /// `^~`: a prefix that stops the regular expressions.
    PrefixNoRegex,
    Prefix,
    Regex,
    RegexCaseless,
}

/// The location that serves a URI, with the chain of locations it sits in (outermost first).
#[derive(Debug, Clone)]
pub struct Served<'a> {
    pub chain: Vec<&'a Directive>,
}

impl<'a> Served<'a> {
    pub fn location(&self) -> Option<&'a Directive> {
        self.chain.last().copied()
    }
}

fn modifier(d: &Directive) -> Option<(Modifier, &str)> {
    match d.args.as_slice() {
        [m, p] => Some((
            match m.as_str() {
                "=" => Modifier::Exact,
                "^~" => Modifier::PrefixNoRegex,
                "~" => Modifier::Regex,
                "~*" => Modifier::RegexCaseless,
                _ => return None,
            },
            p.as_str(),
        )),
        [p] if p.starts_with('@') => None,
        [p] => Some(if let Some(r) = p.strip_prefix("^~") {
            (Modifier::PrefixNoRegex, r)
        } else if let Some(r) = p.strip_prefix("~*") {
            (Modifier::RegexCaseless, r)
        } else if let Some(r) = p.strip_prefix('~') {
            (Modifier::Regex, r)
        } else if let Some(r) = p.strip_prefix('=') {
            (Modifier::Exact, r)
        } else {
            (Modifier::Prefix, p.as_str())
        }),
        _ => None,
    }
}

/// The location modifier of a `location` directive, for wording.
pub fn location_kind(d: &Directive) -> Option<Modifier> {
    modifier(d).map(|(m, _)| m)
}

fn regex_matches(m: Modifier, pattern: &str, uri: &str) -> bool {
    let pattern = if m == Modifier::RegexCaseless {
        format!("(?i){pattern}")
    } else {
        pattern.to_string()
    };
    regex_lite::Regex::new(&pattern).is_ok_and(|re| re.is_match(uri))
}

/// The location chain that serves `uri` among `directives` (a server's or a location's).
pub fn find_location<'a>(directives: &'a [Directive], uri: &str) -> Served<'a> {
    let mut chain = Vec::new();
    find(directives, uri, &mut chain, 0);
    Served { chain }
}

/// Returns true when the search must stop (an exact match, `^~`, or a regular expression).
fn find<'a>(
    directives: &'a [Directive],
    uri: &str,
    chain: &mut Vec<&'a Directive>,
    depth: usize,
) -> bool {
    if depth > 16 {
        return false;
    }
    let locations = directives.iter().filter(|d| d.name == "location");
    let mut best: Option<(&Directive, Modifier, usize)> = None;
    for d in locations.clone() {
        match modifier(d) {
            Some((Modifier::Exact, p)) if p == uri => {
                chain.push(d);
                return true;
            }
            Some((m @ (Modifier::Prefix | Modifier::PrefixNoRegex), p))
                if uri.starts_with(p) && best.is_none_or(|(_, _, len)| p.len() > len) =>
            {
                best = Some((d, m, p.len()));
            }
            _ => {}
        }
    }
    let depth_before = chain.len();
    if let Some((d, m, _)) = best {
        chain.push(d);
        if find(d.children(), uri, chain, depth + 1) {
            return true;
        }
        if m == Modifier::PrefixNoRegex {
            return true;
        }
    }
    for d in locations {
        if let Some((m @ (Modifier::Regex | Modifier::RegexCaseless), p)) = modifier(d)
            && regex_matches(m, p, uri)
        {
            chain.truncate(depth_before);
            chain.push(d);
            find(d.children(), uri, chain, depth + 1);
            return true;
        }
    }
    false
}

/// What a request meets in a server before and in its location: directives that end it
/// otherwise than by serving a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// `return CODE [URL]` or `return URL` (302).
    Return {
        code: u16,
        target: Option<String>,
        pos: Pos,
        text: String,
        /// Inside an `if`, whose condition this check could not settle.
        conditional: bool,
    },
    /// `rewrite REGEX URL redirect|permanent` or to an absolute URL.
    Redirect {
        target: String,
        permanent: bool,
        pos: Pos,
        text: String,
        conditional: bool,
    },
    /// `deny all;`
    Deny { pos: Pos, text: String },
    /// `proxy_pass`, `fastcgi_pass`, `uwsgi_pass`, `scgi_pass`, `grpc_pass`, or a content
    /// handler in code: `content_by_lua*`, `js_content`, `perl`.
    Pass { pos: Pos, text: String },
    /// `try_files … LAST` whose last element is a URI to an application (`/index.php?…`).
    TryFilesFallback { pos: Pos, text: String },
}

impl Handler {
    pub fn pos(&self) -> &Pos {
        match self {
            Handler::Return { pos, .. }
            | Handler::Redirect { pos, .. }
            | Handler::Deny { pos, .. }
            | Handler::Pass { pos, .. }
            | Handler::TryFilesFallback { pos, .. } => pos,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Handler::Return { text, .. }
            | Handler::Redirect { text, .. }
            | Handler::Deny { text, .. }
            | Handler::Pass { text, .. }
            | Handler::TryFilesFallback { text, .. } => text,
        }
    }

    /// A 301/302/307/308 the CA follows.
    pub fn is_redirect(&self) -> bool {
        match self {
            Handler::Return { code, target, .. } => {
                matches!(code, 301 | 302 | 307 | 308) && target.is_some()
            }
            Handler::Redirect { .. } => true,
            _ => false,
        }
    }
}

/// Whether an `if` condition holds for the challenge request, when it can be told:
/// `$host = NAME`, `$host != NAME`, `$scheme = http`, `$scheme != https`, `$server_port`.
fn condition(args: &[String], host: &str, port: u16) -> Option<bool> {
    let joined = args.join(" ");
    let inner = joined.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
    let parts: Vec<&str> = inner.split_whitespace().collect();
    let [var, op, value] = parts.as_slice() else {
        return None;
    };
    let value = value.trim_matches(['"', '\'']);
    let actual = match *var {
        "$host" | "$http_host" => host.to_string(),
        "$scheme" => "http".to_string(),
        "$server_port" => port.to_string(),
        "$https" => String::new(),
        _ => return None,
    };
    match *op {
        "=" => Some(actual.eq_ignore_ascii_case(value)),
        "!=" => Some(!actual.eq_ignore_ascii_case(value)),
        _ => None,
    }
}

/// The rewrite-phase and content directives in `list` (a server's or a location's own,
/// `if` blocks included) that end a request for `uri` otherwise than with a file.
pub fn handlers(list: &[Directive], uri: &str, host: &str, port: u16) -> Vec<Handler> {
    let mut out = Vec::new();
    collect(list, uri, host, port, false, &mut out);
    out
}

fn collect(
    list: &[Directive],
    uri: &str,
    host: &str,
    port: u16,
    cond: bool,
    out: &mut Vec<Handler>,
) {
    for d in list {
        match d.name.as_str() {
            "if" => match condition(&d.args, host, port) {
                Some(false) => {}
                Some(true) => collect(d.children(), uri, host, port, cond, out),
                None => collect(d.children(), uri, host, port, true, out),
            },
            "return" => {
                let (code, target) = match d.args.as_slice() {
                    [c] if c.parse::<u16>().is_ok() => (c.parse().unwrap_or(0), None),
                    [u] => (302, Some(u.clone())),
                    [c, t, ..] => (c.parse().unwrap_or(0), Some(t.clone())),
                    [] => continue,
                };
                out.push(Handler::Return {
                    code,
                    target,
                    pos: d.pos.clone(),
                    text: d.text(),
                    conditional: cond,
                });
            }
            "rewrite" => {
                let [re, to, rest @ ..] = d.args.as_slice() else {
                    continue;
                };
                let flag = rest.first().map(String::as_str);
                let absolute = to.starts_with("http://")
                    || to.starts_with("https://")
                    || to.starts_with("$scheme");
                if !(absolute || matches!(flag, Some("redirect" | "permanent"))) {
                    continue;
                }
                if !regex_lite::Regex::new(re).is_ok_and(|r| r.is_match(uri)) {
                    continue;
                }
                out.push(Handler::Redirect {
                    target: to.clone(),
                    permanent: flag == Some("permanent"),
                    pos: d.pos.clone(),
                    text: d.text(),
                    conditional: cond,
                });
            }
            "deny" if d.args.first().is_some_and(|a| a == "all") => out.push(Handler::Deny {
                pos: d.pos.clone(),
                text: d.text(),
            }),
            // Content handlers that run code (Lua, njs, Perl) answer instead of a file.
            "proxy_pass"
            | "fastcgi_pass"
            | "uwsgi_pass"
            | "scgi_pass"
            | "grpc_pass"
            | "content_by_lua_block"
            | "content_by_lua"
            | "content_by_lua_file"
            | "js_content"
            | "perl" => {
                out.push(Handler::Pass {
                    pos: d.pos.clone(),
                    text: d.text(),
                });
            }
            // `try_files $uri $uri/ /index.php?$args;`: a missing file goes to the app.
            "try_files"
                if d.args
                    .last()
                    .is_some_and(|l| l.starts_with('/') && !l.starts_with("/.well-known")) =>
            {
                out.push(Handler::TryFilesFallback {
                    pos: d.pos.clone(),
                    text: d.text(),
                });
            }
            _ => {}
        }
    }
}

/// Where files for `uri` come from in the chosen server and location: `root` (the directory
/// the URI is appended to) or `alias` (which replaces the location's prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Docroot {
    /// The directory the challenge file is read from: `<root>/.well-known/acme-challenge`
    /// or what the alias makes of it.
    pub challenge_dir: String,
    pub directive: String,
    pub pos: Option<Pos>,
    /// The path holds a variable this check cannot settle.
    pub variable: bool,
}

/// The directory nginx reads `/.well-known/acme-challenge/<token>` from.
pub fn docroot(server: &Server<'_>, served: &Served<'_>, uri_dir: &str) -> Docroot {
    let own = |list: &[Directive], name: &str| list.iter().rev().find(|d| d.name == name).cloned();
    // The innermost location that sets root or alias decides; then the server, then http.
    for loc in served.chain.iter().rev() {
        if let Some(alias) = own(loc.children(), "alias") {
            let prefix = modifier(loc)
                .map(|(_, p)| p.to_string())
                .unwrap_or_default();
            let path = alias.args.first().cloned().unwrap_or_default();
            let regex = matches!(
                modifier(loc),
                Some((Modifier::Regex | Modifier::RegexCaseless, _))
            );
            let rest = uri_dir.strip_prefix(prefix.as_str()).unwrap_or(uri_dir);
            let dir = if regex {
                path.clone()
            } else {
                join(&path, rest)
            };
            return Docroot {
                challenge_dir: trim(&dir),
                directive: alias.text(),
                pos: Some(alias.pos),
                variable: path.contains('$'),
            };
        }
        if let Some(root) = own(loc.children(), "root") {
            return from_root(&root, uri_dir);
        }
    }
    if let Some(root) = own(server.block.children(), "root") {
        return from_root(&root, uri_dir);
    }
    if let Some(root) = own(server.http.children(), "root") {
        return from_root(&root, uri_dir);
    }
    Docroot {
        challenge_dir: trim(&join("html", uri_dir)),
        directive: "(no root: nginx's default, html under its prefix)".into(),
        pos: None,
        variable: false,
    }
}

fn from_root(root: &Directive, uri_dir: &str) -> Docroot {
    let path = root.args.first().cloned().unwrap_or_default();
    Docroot {
        challenge_dir: trim(&join(&path, uri_dir)),
        directive: root.text(),
        pos: Some(root.pos.clone()),
        variable: path.contains('$'),
    }
}

fn join(a: &str, b: &str) -> String {
    format!("{}/{}", a.trim_end_matches('/'), b.trim_start_matches('/'))
}

/// A path without a trailing slash and without `//` or `/./`.
pub fn trim(path: &str) -> String {
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}
