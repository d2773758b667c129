//! Traefik's configuration as Traefik reads it, for the one question an HTTP-01 validation
//! asks of it: which router takes `GET http://NAME/.well-known/acme-challenge/TOKEN` on the
//! entry point that holds port 80, and what it does with it.
//!
//! Traefik's three sources say the same keys three ways: YAML and TOML files (the static
//! configuration, and the dynamic one of the file provider) and Docker labels
//! (`traefik.http.routers.NAME.rule=…`). Each is flattened here into dotted, lower-cased keys
//! (`http.routers.app.rule`), as Traefik's own label parser does (its keys are
//! case-insensitive), and one model is built from the pairs. Shapes follow Traefik's
//! documentation: the file provider (doc.traefik.io/traefik/providers/file/), routers,
//! entry points (`http.tls`, `http.redirections.entryPoint`) and `redirectScheme`.
//!
//! The files are read by a line reader, not a YAML/TOML library: no such crate is in the
//! dependency tree, and the keys needed are plain scalars and lists. What it does not follow
//! (anchors, multi-line strings, inline tables beyond `{}`) costs a key, never a wrong value:
//! a router whose rule cannot be read is not judged.

use std::collections::BTreeMap;

/// One value and where it is written (`file:line`, or `container NAME label`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub text: String,
    pub at: String,
}

/// Dotted lower-case keys to values; list items get their index as the last key.
pub type Flat = BTreeMap<String, Value>;

fn unquote(v: &str) -> String {
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    v.to_string()
}

/// A value without its trailing comment (` #…` outside quotes).
fn strip_comment(v: &str) -> &str {
    let mut quote = None;
    let bytes = v.as_bytes();
    for (i, c) in v.char_indices() {
        match (quote, c) {
            (None, '"' | '\'' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t' => {
                return v[..i].trim_end();
            }
            _ => {}
        }
    }
    v.trim_end()
}

/// `[a, "b"]` as its items; `None` when `v` is not an inline list.
fn inline_list(v: &str) -> Option<Vec<String>> {
    let inner = v.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(unquote)
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

fn put(flat: &mut Flat, key: String, value: &str, at: &str) {
    let value = strip_comment(value);
    if let Some(items) = inline_list(value) {
        for (i, item) in items.into_iter().enumerate() {
            flat.insert(
                format!("{key}.{i}"),
                Value {
                    text: item,
                    at: at.to_string(),
                },
            );
        }
        return;
    }
    flat.insert(
        key,
        Value {
            text: unquote(value),
            at: at.to_string(),
        },
    );
}

/// A YAML file's mappings and lists, by indentation.
pub fn flatten_yaml(path: &str, text: &str) -> Flat {
    let mut flat = Flat::new();
    // (indent, key) of the open mappings; list counters per parent key.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut items: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate().take(100_000) {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t == "---" {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let at = format!("{path}:{}", i + 1);
        if let Some(item) = t.strip_prefix("- ").or_else(|| (t == "-").then_some("")) {
            // A list item belongs to the deepest open key indented no more than it (YAML
            // allows `key:` and its `- item` lines at one indentation).
            while stack.last().is_some_and(|(d, _)| *d > indent) {
                stack.pop();
            }
            let parent = stack
                .iter()
                .map(|(_, k)| k.as_str())
                .collect::<Vec<_>>()
                .join(".");
            let n = items.entry(parent.clone()).or_insert(0);
            let key = format!("{parent}.{n}");
            *n += 1;
            if !item.contains(": ") {
                put(&mut flat, key, item, &at);
            }
            continue;
        }
        let Some((k, v)) = t.split_once(':') else {
            continue;
        };
        while stack.last().is_some_and(|(d, _)| *d >= indent) {
            stack.pop();
        }
        let k = unquote(k).to_ascii_lowercase();
        let parent = stack.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>();
        let key = if parent.is_empty() {
            k.clone()
        } else {
            format!("{}.{k}", parent.join("."))
        };
        let v = strip_comment(v.trim());
        if v.is_empty() {
            // The mapping exists even with no key read under it (`tls:` alone, or with keys
            // this reader skips): its own line says where.
            flat.insert(
                key,
                Value {
                    text: String::new(),
                    at,
                },
            );
            stack.push((indent, k));
        } else {
            put(&mut flat, key, v, &at);
        }
    }
    flat
}

/// A TOML file's tables and keys.
pub fn flatten_toml(path: &str, text: &str) -> Flat {
    let mut flat = Flat::new();
    let mut table = String::new();
    for (i, raw) in text.lines().enumerate().take(100_000) {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let at = format!("{path}:{}", i + 1);
        if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            // `[[array.of.tables]]` (servers) is not needed: its keys go under a name of
            // their own that nothing reads.
            let inner = inner.trim_start_matches('[').trim_end_matches(']');
            table = inner
                .split('.')
                .map(|p| unquote(p).to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            // A table that exists with no keys (`[http.routers.app.tls]`) still says so.
            put(&mut flat, table.clone(), "{}", &at);
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let k = k
            .split('.')
            .map(|p| unquote(p).to_ascii_lowercase())
            .collect::<Vec<_>>()
            .join(".");
        let key = if table.is_empty() {
            k
        } else {
            format!("{table}.{k}")
        };
        put(&mut flat, key, v.trim(), &at);
    }
    flat
}

/// Docker labels `traefik.…` of one container: comma-separated lists become items.
pub fn flatten_labels(container: &str, labels: &BTreeMap<String, String>) -> Flat {
    let mut flat = Flat::new();
    for (k, v) in labels {
        let Some(key) = k
            .to_ascii_lowercase()
            .strip_prefix("traefik.")
            .map(str::to_string)
        else {
            continue;
        };
        let at = format!("container {container} label {k}");
        let listy = key.ends_with(".entrypoints") || key.ends_with(".middlewares");
        if listy {
            for (i, item) in v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .enumerate()
            {
                flat.insert(
                    format!("{key}.{i}"),
                    Value {
                        text: item.to_string(),
                        at: at.clone(),
                    },
                );
            }
        } else {
            flat.insert(
                key,
                Value {
                    text: v.clone(),
                    at,
                },
            );
        }
    }
    flat
}

/// The items of a list key (`KEY.0`, `KEY.1`, …).
fn list(flat: &Flat, key: &str) -> Vec<Value> {
    (0..)
        .map_while(|i| flat.get(&format!("{key}.{i}")).cloned())
        .collect()
}

/// Whether any key starts with `prefix` (a table or mapping that exists).
fn has(flat: &Flat, prefix: &str) -> Option<String> {
    flat.range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .find(|(k, _)| k.len() == prefix.len() || k.as_bytes()[prefix.len()] == b'.')
        .map(|(_, v)| v.at.clone())
}

/// The names directly under `prefix.` (`http.routers` → `app`, `api`).
fn names(flat: &Flat, prefix: &str) -> Vec<String> {
    let p = format!("{prefix}.");
    let mut out: Vec<String> = flat
        .range(p.clone()..)
        .take_while(|(k, _)| k.starts_with(&p))
        .filter_map(|(k, _)| k[p.len()..].split('.').next().map(str::to_string))
        .collect();
    out.dedup();
    out
}

/// An entry point of the static configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub name: String,
    pub port: Option<u16>,
    pub at: String,
    /// `http.tls` on the entry point: every router on it is a TLS router.
    pub tls: Option<String>,
    /// `http.redirections.entryPoint.to`: every request is redirected there.
    pub redirect_to: Option<Value>,
}

/// The static configuration, as far as the challenge is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Static {
    pub entry_points: Vec<EntryPoint>,
    /// Resolvers answering HTTP-01 themselves, with their entry point.
    pub http_challenge: Vec<(String, Value)>,
    /// The file provider's `filename` and `directory`.
    pub file_provider: Vec<String>,
}

pub fn static_config(flat: &Flat) -> Static {
    let mut s = Static::default();
    for name in names(flat, "entrypoints") {
        let k = |rest: &str| format!("entrypoints.{name}.{rest}");
        let Some(address) = flat.get(&k("address")) else {
            continue;
        };
        let tcp = !address.text.to_ascii_lowercase().ends_with("/udp");
        let port = address
            .text
            .split('/')
            .next()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .filter(|_| tcp);
        s.entry_points.push(EntryPoint {
            port,
            at: address.at.clone(),
            tls: has(flat, &k("http.tls")),
            redirect_to: flat.get(&k("http.redirections.entrypoint.to")).cloned(),
            name,
        });
    }
    for r in names(flat, "certificatesresolvers") {
        if let Some(ep) = flat.get(&format!(
            "certificatesresolvers.{r}.acme.httpchallenge.entrypoint"
        )) {
            s.http_challenge.push((r, ep.clone()));
        }
    }
    for key in ["providers.file.filename", "providers.file.directory"] {
        if let Some(v) = flat.get(key) {
            s.file_provider.push(v.text.clone());
        }
    }
    s
}

/// An HTTP router of the dynamic configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    pub name: String,
    pub rule: Value,
    /// Empty: every entry point (Traefik's default).
    pub entry_points: Vec<String>,
    /// Where `tls` is set on the router, when it is.
    pub tls: Option<String>,
    pub cert_resolver: Option<String>,
    pub middlewares: Vec<String>,
    pub priority: Option<i64>,
}

impl Router {
    /// Traefik's default priority is the rule's length.
    pub fn effective_priority(&self) -> i64 {
        self.priority
            .unwrap_or_else(|| i64::try_from(self.rule.text.len()).unwrap_or(i64::MAX))
    }

    pub fn on(&self, entry_point: &str) -> bool {
        self.entry_points.is_empty()
            || self
                .entry_points
                .iter()
                .any(|e| e.eq_ignore_ascii_case(entry_point))
    }
}

/// The dynamic configuration: routers, and the middlewares that redirect to another scheme.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dynamic {
    pub routers: Vec<Router>,
    /// `redirectScheme` middlewares: name → the `scheme` line.
    pub redirects: BTreeMap<String, Value>,
}

pub fn dynamic_config(flat: &Flat, into: &mut Dynamic) {
    for name in names(flat, "http.routers") {
        let k = |rest: &str| format!("http.routers.{name}.{rest}");
        let Some(rule) = flat.get(&k("rule")) else {
            continue;
        };
        let tls_off = flat
            .get(&k("tls"))
            .is_some_and(|v| v.text.eq_ignore_ascii_case("false"));
        into.routers.push(Router {
            rule: rule.clone(),
            entry_points: list(flat, &k("entrypoints"))
                .into_iter()
                .map(|v| v.text)
                .collect(),
            tls: has(flat, &k("tls")).filter(|_| !tls_off),
            cert_resolver: flat.get(&k("tls.certresolver")).map(|v| v.text.clone()),
            middlewares: list(flat, &k("middlewares"))
                .into_iter()
                // `name@provider`: the name is what the middleware was declared as.
                .map(|v| v.text.split('@').next().unwrap_or("").to_string())
                .collect(),
            priority: flat.get(&k("priority")).and_then(|v| v.text.parse().ok()),
            name,
        });
    }
    for name in names(flat, "http.middlewares") {
        if let Some(v) = flat.get(&format!("http.middlewares.{name}.redirectscheme.scheme")) {
            into.redirects.insert(name, v.clone());
        }
    }
}

/// Whether `rule` matches a GET of `path` on `host`: `None` when it uses a matcher this
/// reader does not evaluate (HostRegexp, Headers, ClientIP…).
pub fn rule_matches(rule: &str, host: &str, path: &str) -> Option<bool> {
    let tokens = tokenize(rule)?;
    let mut p = Parser {
        tokens: &tokens,
        at: 0,
        host,
        path,
    };
    let v = p.or()?;
    (p.at == tokens.len()).then_some(v?)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Arg(String),
    Open,
    Close,
    Comma,
    And,
    Or,
    Not,
}

fn tokenize(rule: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let mut chars = rule.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Tok::Open);
            }
            ')' => {
                chars.next();
                out.push(Tok::Close);
            }
            ',' => {
                chars.next();
                out.push(Tok::Comma);
            }
            '!' => {
                chars.next();
                out.push(Tok::Not);
            }
            '&' | '|' => {
                chars.next();
                if chars.next() != Some(c) {
                    return None;
                }
                out.push(if c == '&' { Tok::And } else { Tok::Or });
            }
            '`' | '"' => {
                chars.next();
                let s: String = chars.by_ref().take_while(|&x| x != c).collect();
                out.push(Tok::Arg(s));
            }
            c if c.is_ascii_alphanumeric() => {
                let mut s = String::new();
                while let Some(&x) = chars.peek() {
                    if !x.is_ascii_alphanumeric() {
                        break;
                    }
                    s.push(x);
                    chars.next();
                }
                out.push(Tok::Name(s));
            }
            _ => return None,
        }
        if out.len() > 10_000 {
            return None;
        }
    }
    Some(out)
}

struct Parser<'a> {
    tokens: &'a [Tok],
    at: usize,
    host: &'a str,
    path: &'a str,
}

/// Three-valued logic: `Some(None)` is a matcher not evaluated; `None` a rule not read.
type Tri = Option<Option<bool>>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Tri {
        let mut v = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            let r = self.and()?;
            v = match (v, r) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
        }
        Some(v)
    }

    fn and(&mut self) -> Tri {
        let mut v = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            let r = self.unary()?;
            v = match (v, r) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            };
        }
        Some(v)
    }

    fn unary(&mut self) -> Tri {
        match self.peek()? {
            Tok::Not => {
                self.at += 1;
                Some(self.unary()?.map(|v| !v))
            }
            Tok::Open => {
                self.at += 1;
                let v = self.or()?;
                (self.peek() == Some(&Tok::Close)).then(|| self.at += 1)?;
                Some(v)
            }
            Tok::Name(_) => self.matcher(),
            _ => None,
        }
    }

    fn matcher(&mut self) -> Tri {
        let Some(Tok::Name(name)) = self.peek().cloned() else {
            return None;
        };
        self.at += 1;
        (self.peek() == Some(&Tok::Open)).then(|| self.at += 1)?;
        let mut args = Vec::new();
        loop {
            match self.peek()?.clone() {
                Tok::Arg(a) => {
                    args.push(a);
                    self.at += 1;
                }
                Tok::Comma => self.at += 1,
                Tok::Close => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        let host = self.host;
        let path = self.path;
        Some(match name.to_ascii_lowercase().as_str() {
            "host" => Some(args.iter().any(|a| a.eq_ignore_ascii_case(host))),
            "path" => Some(args.iter().any(|a| a == path)),
            "pathprefix" => Some(args.iter().any(|a| path.starts_with(a.as_str()))),
            "method" => Some(args.iter().any(|a| a.eq_ignore_ascii_case("GET"))),
            _ => None,
        })
    }
}

/// What takes the challenge request on one entry point.
#[derive(Debug, Clone, PartialEq)]
pub enum Catch<'a> {
    /// Traefik's own `acme-http@internal` (a resolver's `httpChallenge` on this entry point,
    /// at the highest priority): it answers only tokens of its own orders.
    Internal {
        resolver: &'a str,
        at: &'a Value,
    },
    /// A user's router (the highest priority among those whose rule matches).
    Router(&'a Router),
    /// Rules that this reader could not evaluate might take it.
    Unsure(&'a Router),
    Nothing,
}

/// The router that takes `GET http://host/path` on `entry_point` (plain HTTP: a TLS router
/// does not take it).
pub fn catch<'a>(
    st: &'a Static,
    dy: &'a Dynamic,
    entry_point: &str,
    host: &str,
    path: &str,
) -> Catch<'a> {
    if let Some((resolver, at)) = st
        .http_challenge
        .iter()
        .find(|(_, ep)| ep.text.eq_ignore_ascii_case(entry_point))
        && path.starts_with("/.well-known/acme-challenge/")
    {
        return Catch::Internal { resolver, at };
    }
    let mut candidates: Vec<(&Router, Option<bool>)> = dy
        .routers
        .iter()
        .filter(|r| r.on(entry_point) && r.tls.is_none())
        .map(|r| (r, rule_matches(&r.rule.text, host, path)))
        .filter(|(_, m)| *m != Some(false))
        .collect();
    candidates.sort_by_key(|(r, _)| std::cmp::Reverse(r.effective_priority()));
    match candidates.first() {
        Some((r, Some(true))) => Catch::Router(r),
        Some((r, _)) => Catch::Unsure(r),
        None => Catch::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file provider's example of Traefik's documentation (doc.traefik.io/traefik/providers/file/),
    /// in YAML and TOML, and the same router as Docker labels: one model.
    #[test]
    fn yaml_toml_and_labels_give_the_same_router() {
        let yaml = "http:\n  # Add the router\n  routers:\n    router0:\n      entryPoints:\n      - web\n      middlewares:\n      - my-basic-auth\n      service: service-foo\n      rule: Path(`/foo`)  # a comment\n";
        let toml = "[http]\n  [http.routers]\n    [http.routers.router0]\n      entryPoints = [\"web\"]\n      middlewares = [\"my-basic-auth\"]\n      service = \"service-foo\"\n      rule = \"Path(`/foo`)\"\n";
        let labels: BTreeMap<String, String> = [
            ("traefik.http.routers.router0.entrypoints", "web"),
            (
                "traefik.http.routers.router0.middlewares",
                "my-basic-auth@file",
            ),
            ("traefik.http.routers.router0.rule", "Path(`/foo`)"),
            ("com.docker.compose.project", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let read = |flat: Flat| {
            let mut d = Dynamic::default();
            dynamic_config(&flat, &mut d);
            let r = d.routers.into_iter().next().unwrap();
            (r.name, r.rule.text, r.entry_points, r.middlewares, r.tls)
        };
        let want = (
            "router0".to_string(),
            "Path(`/foo`)".to_string(),
            vec!["web".to_string()],
            vec!["my-basic-auth".to_string()],
            None,
        );
        assert_eq!(read(flatten_yaml("d.yml", yaml)), want);
        assert_eq!(read(flatten_toml("d.toml", toml)), want);
        assert_eq!(read(flatten_labels("web", &labels)), want);
        let flat = flatten_yaml("d.yml", yaml);
        assert_eq!(flat["http.routers.router0.rule"].at, "d.yml:10");
    }

    #[test]
    fn rules_are_evaluated_with_traefiks_operators() {
        let p = "/.well-known/acme-challenge/T";
        assert_eq!(rule_matches("Host(`a.test`)", "a.test", p), Some(true));
        assert_eq!(
            rule_matches("Host(`a.test`, `b.test`)", "b.test", p),
            Some(true)
        );
        assert_eq!(
            rule_matches(
                "Host(`a.test`) && PathPrefix(`/.well-known/acme-challenge/`)",
                "a.test",
                p
            ),
            Some(true)
        );
        assert_eq!(
            rule_matches("Host(`a.test`) && !PathPrefix(`/.well-known`)", "a.test", p),
            Some(false)
        );
        assert_eq!(
            rule_matches("(Host(`x`) || Host(`a.test`)) && Path(`/api`)", "a.test", p),
            Some(false)
        );
        assert_eq!(
            rule_matches("HostRegexp(`{sub:.+}.test`)", "a.test", p),
            None
        );
        // A false side settles an unknown one.
        assert_eq!(
            rule_matches("HostRegexp(`.+`) && Host(`x`)", "a.test", p),
            Some(false)
        );
        assert_eq!(rule_matches("Host(`a.test`", "a.test", p), None);
    }
}
