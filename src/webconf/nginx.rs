//! nginx's configuration as `nginx -T` dumps it: every file behind a
//! `# configuration file PATH:` marker, parsed into directives that keep their file and line,
//! with `include` expanded from the dumped files.
//!
//! Hand-written on purpose: no well-kept Rust crate parses nginx's configuration (the crates
//! published for it are unmaintained or cover a subset), and the grammar is small. This follows
//! nginx's own token reader (`ngx_conf_read_token` in `src/core/ngx_conf_file.c`): words split
//! by whitespace; `;` ends a directive, `{` opens a block, `}` closes it; `#` at the start of a
//! word comments to the end of the line; `"…"` and `'…'` quote, with `\` escaping inside and
//! outside quotes; `${` inside a word is a variable, not a block.
//!
//! Code inside the configuration is skipped as opaque text, ended where nginx ends it: a
//! `*_by_lua_block { … }` is read by lua-nginx-module's own Lua-aware reader
//! (`ngx_http_lua_conf_lua_block_parse`), so braces inside Lua strings (`"…"`, `'…'`, closed
//! on their line), long brackets (`[[…]]`, `[==[…]==]`) and comments (`--…`, `--[[…]]`) do
//! not count; a long bracket left open is an error there as here. Perl
//! (`perl`, `perl_set`) and njs (`js_*`) take their code as quoted arguments, which the quote
//! rules above already skip.
//!
//! A text this reader cannot follow, or one over a cap, is an error that says where it
//! stopped and which cap: the caller must say the configuration was not read, never carry on
//! with part of it.

use std::fmt;

/// Where a directive is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: String,
    pub line: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One directive: its name, its arguments (quotes removed), where it is, and its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub pos: Pos,
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The directive as written, for evidence: `listen [::]:80 default_server;`.
    pub fn text(&self) -> String {
        let mut t = self.name.clone();
        for a in &self.args {
            t.push(' ');
            if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c == ';' || c == '{') {
                t.push_str(&format!("{a:?}"));
            } else {
                t.push_str(a);
            }
        }
        t.push_str(if self.block.is_some() {
            " { … }"
        } else {
            ";"
        });
        crate::sanitize::line(&t, 300)
    }

    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Limits that keep a hostile or huge configuration from costing more than it should.
const MAX_DEPTH: usize = 32;
const MAX_DIRECTIVES: usize = 200_000;
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Where the reader stopped; line 0 when the dump itself has no file to point into.
    pub pos: Pos,
    pub message: String,
    /// The cap that stopped the reader, when one did: `nesting depth 32`.
    pub cap: Option<String>,
}

impl ParseError {
    /// Where the reader stopped: `file:line`, or the byte of the dump when no line is known.
    pub fn at(&self) -> String {
        if self.pos.line == 0 {
            "byte 0 of the dump".to_string()
        } else {
            self.pos.to_string()
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at(), self.message)?;
        match &self.cap {
            Some(cap) => write!(f, " (cap: {cap})"),
            None => Ok(()),
        }
    }
}

/// The marker `nginx -T` prints before each file it dumps.
const MARKER_PREFIX: &str = "# configuration file ";

/// Splits a `nginx -T` dump into (path, text) per file, in dump
/// order. Lines before the first marker (nginx's "syntax is ok" lines) are dropped.
pub fn split_dump(dump: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in dump.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(path) = bare
            .strip_prefix(MARKER_PREFIX)
            .and_then(|rest| rest.strip_suffix(':'))
        {
            files.push((path.to_string(), String::new()));
            continue;
        }
        if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
        }
    }
    // nginx ends each dumped file with an empty line of its own when the file lacked a final
    // newline; either way, one trailing blank line belongs to the dump, not the file.
    files
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    /// For `"` and `'` in Lua: the last line up to which a string of that quote was found
    /// not to close (`u32::MAX`: the text ended first). Any later quote of the same kind
    /// up to there cannot close either, and is not scanned again.
    lua_open_until: [u32; 2],
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Semi,
    Open,
    Close,
}

impl Lexer<'_> {
    /// Skips a `*_by_lua_block` body after its `{`, up to and including the `}` that closes
    /// it, as lua-nginx-module's reader does: braces count, except inside Lua strings, long
    /// brackets and comments.
    fn skip_lua_block(&mut self) -> Result<(), (u32, String)> {
        let start = self.line;
        let mut depth = 1usize;
        while let Some(c) = self.chars.next() {
            match c {
                '\n' => self.line += 1,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                '"' | '\'' => self.skip_lua_string(c),
                '[' => {
                    if let Some(level) = self.long_bracket_level() {
                        self.skip_long_bracket(level, "string")?;
                    }
                }
                '-' if self.chars.peek() == Some(&'-') => {
                    self.chars.next();
                    let long = if self.chars.peek() == Some(&'[') {
                        self.chars.next();
                        self.long_bracket_level()
                    } else {
                        None
                    };
                    match long {
                        Some(level) => self.skip_long_bracket(level, "comment")?,
                        // A line comment (`--[` without a long bracket is one too).
                        None => {
                            for c in self.chars.by_ref() {
                                if c == '\n' {
                                    self.line += 1;
                                    break;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Err((
            start,
            "unexpected end of file in a Lua block, expecting \"}\"".into(),
        ))
    }

    /// After a `[`: when `=`* and a second `[` follow, consumes them and returns the number
    /// of `=`; otherwise consumes nothing.
    fn long_bracket_level(&mut self) -> Option<usize> {
        let mut ahead = self.chars.clone();
        let mut level = 0usize;
        while ahead.peek() == Some(&'=') {
            ahead.next();
            level += 1;
        }
        if ahead.next() != Some('[') {
            return None;
        }
        self.chars = ahead;
        Some(level)
    }

    /// Skips to the `]`, `level` `=`, `]` that closes a long bracket.
    fn skip_long_bracket(&mut self, level: usize, what: &str) -> Result<(), (u32, String)> {
        let start = self.line;
        while let Some(c) = self.chars.next() {
            match c {
                '\n' => self.line += 1,
                ']' => {
                    let mut ahead = self.chars.clone();
                    let mut n = 0usize;
                    while n < level && ahead.peek() == Some(&'=') {
                        ahead.next();
                        n += 1;
                    }
                    if n == level && ahead.peek() == Some(&']') {
                        ahead.next();
                        self.chars = ahead;
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
        Err((
            start,
            format!("unterminated Lua long {what} in a Lua block"),
        ))
    }

    /// Skips a Lua short string after its opening quote; `\` escapes the next character (a
    /// newline too). A quote that its line does not close is an ordinary character, as
    /// lua-nginx-module's reader has it: the scan resumes right after it. A later quote of
    /// the same kind before that line ends starts where the failed scan also was inside a
    /// string, so it cannot close either: it is not scanned again, which keeps a line of
    /// `"\"\"\"…` linear.
    fn skip_lua_string(&mut self, quote: char) {
        let kind = usize::from(quote == '\'');
        if self.line <= self.lua_open_until[kind] {
            return;
        }
        let (saved, line) = (self.chars.clone(), self.line);
        let mut open_until = u32::MAX;
        while let Some(c) = self.chars.next() {
            match c {
                '\\' => {
                    let escaped = self.chars.next();
                    self.line += u32::from(escaped == Some('\n'));
                }
                '\n' => {
                    open_until = self.line;
                    break;
                }
                c if c == quote => return,
                _ => {}
            }
        }
        self.lua_open_until[kind] = open_until;
        self.chars = saved;
        self.line = line;
    }

    fn next(&mut self) -> Result<Option<(Tok, u32)>, (u32, String)> {
        // Skip whitespace and comments.
        loop {
            match self.chars.peek() {
                None => return Ok(None),
                Some('\n') => {
                    self.line += 1;
                    self.chars.next();
                }
                Some(c) if c.is_whitespace() => {
                    self.chars.next();
                }
                Some('#') => {
                    for c in self.chars.by_ref() {
                        if c == '\n' {
                            self.line += 1;
                            break;
                        }
                    }
                }
                Some(_) => break,
            }
        }
        let line = self.line;
        let Some(c) = self.chars.next() else {
            return Ok(None);
        };
        match c {
            ';' => return Ok(Some((Tok::Semi, line))),
            '{' => return Ok(Some((Tok::Open, line))),
            '}' => return Ok(Some((Tok::Close, line))),
            '"' | '\'' => {
                let mut word = String::new();
                loop {
                    match self.chars.next() {
                        None => return Err((line, "unterminated quoted string".into())),
                        Some('\\') => match self.chars.next() {
                            // nginx keeps the backslash except before the quote, `\\`,
                            // and the whitespace escapes.
                            Some(q) if q == c => word.push(q),
                            Some('\\') => word.push('\\'),
                            Some('n') => word.push('\n'),
                            Some('t') => word.push('\t'),
                            Some('r') => word.push('\r'),
                            Some(other) => {
                                if other == '\n' {
                                    self.line += 1;
                                }
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err((line, "unterminated quoted string".into())),
                        },
                        Some(q) if q == c => break,
                        Some(other) => {
                            if other == '\n' {
                                self.line += 1;
                            }
                            word.push(other);
                        }
                    }
                }
                // A quoted word must be followed by a separator; nginx also takes `)`, which
                // closes an `if` condition (`if ($http_user_agent ~* "bot")`) and starts the
                // next word (`ngx_conf_read_token`, src/core/ngx_conf_file.c).
                if let Some(n) = self.chars.peek()
                    && !(n.is_whitespace() || matches!(*n, ';' | '{' | '}' | ')'))
                {
                    return Err((line, format!("unexpected \"{n}\" after a quoted string")));
                }
                return Ok(Some((Tok::Word(word), line)));
            }
            _ => {}
        }
        let mut word = String::new();
        let mut prev = '\0';
        let mut ch = c;
        loop {
            if ch == '\\' {
                word.push('\\');
                if let Some(n) = self.chars.next() {
                    if n == '\n' {
                        self.line += 1;
                    }
                    word.push(n);
                    prev = n;
                }
            } else {
                word.push(ch);
                prev = ch;
            }
            match self.chars.peek() {
                None => break,
                // `}` inside a word is part of it, as nginx reads it.
                Some(n) if n.is_whitespace() || *n == ';' => break,
                // `${name}`: a variable, not a block.
                Some('{') if prev != '$' => break,
                Some(_) => {}
            }
            match self.chars.next() {
                Some(n) => ch = n,
                None => break,
            }
        }
        Ok(Some((Tok::Word(word), line)))
    }
}

/// The caps, as a reason names them.
fn depth_cap() -> Option<String> {
    Some(format!("nesting depth {MAX_DEPTH}"))
}

fn directives_cap() -> Option<String> {
    Some(format!("{MAX_DIRECTIVES} directives"))
}

/// Parses one file's text into its directives.
pub fn parse_file(path: &str, text: &str) -> Result<Vec<Directive>, ParseError> {
    parse_counted(path, text, &mut 0)
}

/// Parses one file, adding its directives to `count`, the dump's total so far.
fn parse_counted(path: &str, text: &str, count: &mut usize) -> Result<Vec<Directive>, ParseError> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
        lua_open_until: [0, 0],
    };
    let capped = |line: u32, message: String, cap: Option<String>| ParseError {
        pos: Pos {
            file: path.to_string(),
            line,
        },
        message,
        cap,
    };
    let err = |line: u32, message: String| capped(line, message, None);
    // A stack of open blocks: the directives so far and the directive that opened it.
    let mut stack: Vec<(Vec<Directive>, Option<Directive>)> = vec![(Vec::new(), None)];
    let mut words: Vec<String> = Vec::new();
    let mut start = 0u32;
    loop {
        let tok = lexer.next().map_err(|(line, m)| err(line, m))?;
        let Some((tok, line)) = tok else { break };
        match tok {
            Tok::Word(w) => {
                if words.is_empty() {
                    start = line;
                }
                words.push(w);
            }
            Tok::Semi | Tok::Open => {
                if words.is_empty() {
                    return Err(err(line, "unexpected \";\" or \"{\"".into()));
                }
                *count += 1;
                if *count > MAX_DIRECTIVES {
                    return Err(capped(line, "too many directives".into(), directives_cap()));
                }
                let mut args = std::mem::take(&mut words);
                let name = args.remove(0);
                let d = Directive {
                    name,
                    args,
                    pos: Pos {
                        file: path.to_string(),
                        line: start,
                    },
                    block: None,
                };
                if tok == Tok::Semi {
                    if let Some((list, _)) = stack.last_mut() {
                        list.push(d);
                    }
                } else if d.name.ends_with("_by_lua_block") {
                    // Lua, not nginx syntax: skipped whole, kept as an empty block.
                    lexer.skip_lua_block().map_err(|(line, m)| err(line, m))?;
                    if let Some((list, _)) = stack.last_mut() {
                        list.push(Directive {
                            block: Some(Vec::new()),
                            ..d
                        });
                    }
                } else {
                    if stack.len() > MAX_DEPTH {
                        return Err(capped(line, "blocks nested too deep".into(), depth_cap()));
                    }
                    stack.push((Vec::new(), Some(d)));
                }
            }
            Tok::Close => {
                if !words.is_empty() {
                    return Err(err(line, "unexpected \"}\"".into()));
                }
                let Some((list, Some(mut opener))) =
                    (if stack.len() > 1 { stack.pop() } else { None })
                else {
                    return Err(err(line, "unexpected \"}\"".into()));
                };
                opener.block = Some(list);
                if let Some((parent, _)) = stack.last_mut() {
                    parent.push(opener);
                }
            }
        }
    }
    if !words.is_empty() {
        return Err(err(
            lexer.line,
            "unexpected end of file, expecting \";\"".into(),
        ));
    }
    if stack.len() != 1 {
        return Err(err(
            lexer.line,
            "unexpected end of file, expecting \"}\"".into(),
        ));
    }
    Ok(stack.pop().map(|(list, _)| list).unwrap_or_default())
}

/// The whole configuration: the main file's directives with every `include` replaced by the
/// directives of the dumped files it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The main file (the first one dumped).
    pub main: String,
    pub directives: Vec<Directive>,
    /// Includes that named no dumped file, and other things worth saying.
    pub warnings: Vec<String>,
}

impl Config {
    /// Prefixes every position's file with `label` (`container web:/etc/nginx/…`), for a
    /// configuration read from somewhere other than the host's own files.
    pub fn relabel(&mut self, label: &str) {
        fn walk(list: &mut [Directive], label: &str) {
            for d in list {
                d.pos.file = format!("{label}:{}", d.pos.file);
                if let Some(block) = &mut d.block {
                    walk(block, label);
                }
            }
        }
        walk(&mut self.directives, label);
        self.main = format!("{label}:{}", self.main);
        for w in &mut self.warnings {
            *w = format!("{label}:{w}");
        }
    }
}

/// Loads a `nginx -T` dump.
pub fn load(dump: &str) -> Result<Config, ParseError> {
    let files = split_dump(dump);
    let Some((main, _)) = files.first() else {
        return Err(ParseError {
            pos: Pos {
                file: "nginx -T".into(),
                line: 0,
            },
            message: "no \"# configuration file\" marker in the dump".into(),
            cap: None,
        });
    };
    let main = main.clone();
    let mut parsed: Vec<(String, Vec<Directive>)> = Vec::new();
    let mut count = 0usize;
    for (path, text) in &files {
        parsed.push((path.clone(), parse_counted(path, text, &mut count)?));
    }
    let prefix = main.rsplit_once('/').map_or("", |(dir, _)| dir).to_string();
    let mut warnings = Vec::new();
    let root = parsed[0].1.clone();
    let mut expanded = 0usize;
    let directives = expand(&root, &parsed, &prefix, 0, &mut warnings, &mut expanded)?;
    Ok(Config {
        main,
        directives,
        warnings,
    })
}

/// Replaces each `include` by the directives of the files it names. A file included many
/// times counts each time, so the cap on directives also bounds what includes multiply.
fn expand(
    list: &[Directive],
    files: &[(String, Vec<Directive>)],
    prefix: &str,
    depth: usize,
    warnings: &mut Vec<String>,
    count: &mut usize,
) -> Result<Vec<Directive>, ParseError> {
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        *count += 1;
        if *count > MAX_DIRECTIVES {
            return Err(ParseError {
                pos: d.pos.clone(),
                message: "too many directives once includes are expanded".into(),
                cap: directives_cap(),
            });
        }
        if d.name == "include" && d.block.is_none() && d.args.len() == 1 {
            // nginx has no such limit, but only a file that includes itself gets this deep.
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(ParseError {
                    pos: d.pos.clone(),
                    message: "includes nested too deep".into(),
                    cap: Some(format!("{MAX_INCLUDE_DEPTH} include levels")),
                });
            }
            let pattern = if d.args[0].starts_with('/') || prefix.is_empty() {
                d.args[0].clone()
            } else {
                format!("{prefix}/{}", d.args[0])
            };
            // glob(3) returns names sorted, and nginx includes them in that order.
            let mut hits: Vec<&(String, Vec<Directive>)> = files
                .iter()
                .filter(|(path, _)| glob_match(&pattern, path))
                .collect();
            hits.sort_by(|a, b| a.0.cmp(&b.0));
            if hits.is_empty() && !pattern.contains(['*', '?', '[']) {
                warnings.push(format!(
                    "{}: include {} is not in the dump",
                    d.pos, d.args[0]
                ));
            }
            for (_, directives) in hits {
                out.extend(expand(
                    directives,
                    files,
                    prefix,
                    depth + 1,
                    warnings,
                    count,
                )?);
            }
            continue;
        }
        let block = match &d.block {
            Some(block) => Some(expand(block, files, prefix, depth, warnings, count)?),
            None => None,
        };
        out.push(Directive {
            name: d.name.clone(),
            args: d.args.clone(),
            pos: d.pos.clone(),
            block,
        });
    }
    Ok(out)
}

/// Shell-style matching as glob(3) does it for one path: `*` and `?` never match `/`,
/// `[…]` is a class (`!` or `^` negates). Segment by segment, each with the linear
/// backtracking matcher (one remembered `*`), so no pattern costs more than
/// pattern × path steps.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    if path.len() > 4096 || pattern.len() > 4096 {
        return false;
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    p.len() == s.len() && p.iter().zip(&s).all(|(p, s)| segment(p, s))
}

/// One pattern item: a literal, `?`, `*` or a class.
#[derive(Debug)]
enum Item {
    Char(char),
    Any,
    Star,
    Class {
        negate: bool,
        set: Vec<(char, char)>,
    },
}

fn items(pattern: &str) -> Vec<Item> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push(Item::Star),
            '?' => out.push(Item::Any),
            '[' => {
                let start = i + 1;
                let negate = matches!(chars.get(start), Some('!' | '^'));
                let first = if negate { start + 1 } else { start };
                // `]` right after `[` or `[!` is a member, as in glob(3).
                match chars
                    .iter()
                    .enumerate()
                    .skip(first + 1)
                    .find(|(_, c)| **c == ']')
                    .map(|(k, _)| k)
                {
                    None => out.push(Item::Char('[')),
                    Some(close) => {
                        let mut set = Vec::new();
                        let mut k = first;
                        while k < close {
                            if k + 2 < close && chars[k + 1] == '-' {
                                set.push((chars[k], chars[k + 2]));
                                k += 3;
                            } else {
                                set.push((chars[k], chars[k]));
                                k += 1;
                            }
                        }
                        out.push(Item::Class { negate, set });
                        i = close;
                    }
                }
            }
            c => out.push(Item::Char(c)),
        }
        i += 1;
    }
    out
}

fn one(item: &Item, c: char) -> bool {
    match item {
        Item::Char(x) => *x == c,
        Item::Any => true,
        Item::Star => false,
        Item::Class { negate, set } => set.iter().any(|(a, b)| *a <= c && c <= *b) != *negate,
    }
}

fn segment(pattern: &str, text: &str) -> bool {
    // A leading dot is matched only by a literal dot (glob(3) without GLOB_PERIOD).
    if text.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p = items(pattern);
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && matches!(p[pi], Item::Star) {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && one(&p[pi], t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|i| matches!(i, Item::Star))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_comments_and_blocks() {
        let text = "user www-data; # who\nhttp {\n  log_format main '$remote_addr \"$request\"';\n  server {\n    server_name \"example.com\" www.example.com;\n    location ~ \"^/a{2}\" { return 404; }\n    set $x ${host}b;\n  }\n}\n";
        let d = parse_file("/etc/nginx/nginx.conf", text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].name, "user");
        assert_eq!(d[0].args, ["www-data"]);
        let http = &d[1];
        assert_eq!(http.pos.line, 2);
        assert_eq!(http.children()[0].args[1], "$remote_addr \"$request\"");
        let server = &http.children()[1];
        assert_eq!(server.pos.line, 4);
        assert_eq!(
            server.children()[0].args,
            ["example.com", "www.example.com"]
        );
        let location = &server.children()[1];
        assert_eq!(
            (location.pos.line, location.args[1].as_str()),
            (6, "^/a{2}")
        );
        assert_eq!(location.children()[0].args, ["404"]);
        assert_eq!(server.children()[2].args, ["$x", "${host}b"]);
    }

    /// nginx takes `)` right after a quoted string: it closes an `if` condition (issue 20's
    /// lab: `if ($http_user_agent ~* "letsencrypt") { return 403; }`).
    #[test]
    fn a_quoted_if_condition_closes_with_a_parenthesis() {
        let text = "server {\n  if ($http_user_agent ~* \"letsencrypt\") { return 403; }\n}\n";
        let d = parse_file("f", text).unwrap();
        let rule = &d[0].children()[0];
        assert_eq!(rule.name, "if");
        assert_eq!(rule.args, ["($http_user_agent", "~*", "letsencrypt", ")"]);
        assert_eq!(rule.children()[0].args, ["403"]);
        assert!(parse_file("f", "a \"b\"c;\n").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_file("f", "http {\n server {\n}\n").unwrap_err();
        assert!(e.message.contains("expecting \"}\""), "{e}");
        let e = parse_file("f", "a;\n}\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
        let e = parse_file("f", "a \"b;\n").unwrap_err();
        assert!(e.message.contains("unterminated"), "{e}");
        let e = parse_file("f", "a b").unwrap_err();
        assert!(e.message.contains("expecting \";\""), "{e}");
    }

    #[test]
    fn a_lua_block_ends_where_lua_nginx_module_ends_it() {
        // Braces inside Lua strings, long brackets and comments are not nginx's.
        let text = "server {\n\
  location /x {\n\
    content_by_lua_block {\n\
      ngx.say(\"}\") ngx.say('{') local t = { a = { 1 } }\n\
      local s = [[ } ]] local l = [==[ ]] } ]=] ]==]\n\
      -- a comment } with a brace\n\
      --[[ a long } comment ]] --[=[ } ]] ]=]\n\
      ngx.say(\"a \\\" } quote\")\n\
    }\n\
    root /srv/after;\n\
  }\n\
}\n";
        let d = parse_file("f", text).unwrap();
        let location = &d[0].children()[0];
        let names: Vec<&str> = location
            .children()
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(names, ["content_by_lua_block", "root"]);
        assert!(location.children()[0].children().is_empty());
        assert_eq!(location.children()[1].pos.line, 10);
        // Perl and njs take their code quoted: the quote rules skip it.
        let d = parse_file(
            "f",
            "perl_set $x 'sub { return \"}\"; }';\njs_set $y main.y;\n",
        )
        .unwrap();
        assert_eq!(d.len(), 2);
    }

    /// `nginx -T` of nginx 1.22 with Debian's lua-nginx-module 0.10.23 loaded: Lua blocks
    /// with braces in strings, long brackets and comments, and a quote its line does not
    /// close. nginx accepted it ("syntax is ok"); paths rewritten to /etc/nginx.
    const LUA: &str = include_str!("testdata/lua-nginx-T.txt");

    #[test]
    fn a_dump_real_nginx_accepted_with_lua_blocks_reads_whole() {
        let c = load(LUA).unwrap();
        let http = c.directives.iter().find(|d| d.name == "http").unwrap();
        let servers: Vec<&Directive> = http
            .children()
            .iter()
            .filter(|d| d.name == "server")
            .collect();
        assert_eq!(servers.len(), 2);
        let after: Vec<String> = servers[0]
            .children()
            .iter()
            .filter(|d| d.name == "location")
            .map(|l| {
                let names: Vec<&str> = l.children().iter().map(|d| d.name.as_str()).collect();
                format!("{} {}", l.args[0], names.join(","))
            })
            .collect();
        assert_eq!(
            after,
            [
                "/x content_by_lua_block",
                "/z content_by_lua_block,root",
                "/y access_by_lua_block,root"
            ]
        );
        let roots: Vec<String> = servers[0]
            .children()
            .iter()
            .flat_map(Directive::children)
            .filter(|d| d.name == "root")
            .map(|d| d.pos.to_string())
            .collect();
        assert_eq!(
            roots,
            ["/etc/nginx/nginx.conf:27", "/etc/nginx/nginx.conf:31"]
        );
        assert_eq!(servers[1].children()[0].args, ["8080"]);
    }

    #[test]
    fn quotes_that_never_close_cost_one_scan_per_line() {
        // Each `"` starts a string that `\"` keeps open to the end of the line: scanned
        // once, not once per quote.
        let line = "\\\"".repeat(1_000_000);
        let text = format!("content_by_lua_block {{ \"{line}\n'{line}\n}}\nroot /srv;\n");
        let started = std::time::Instant::now();
        let d = parse_file("f", &text).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].pos.line, 4);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_lua_block_that_does_not_end_is_an_error_where_it_began() {
        for body in ["ngx.say(\"}\")", "local s = [=[ } ]]", "--[[ } "] {
            let text = format!("a;\nlocation / {{\n access_by_lua_block {{ {body}\n");
            let e = parse_file("f", &text).unwrap_err();
            assert!(e.message.contains("Lua"), "{body}: {e}");
            assert_eq!((e.pos.line, e.cap.as_deref()), (3, None), "{body}: {e}");
        }
    }

    #[test]
    fn caps_are_errors_that_say_where_and_which_cap() {
        let deep = format!("{}{}", "location /x {\n".repeat(40), "}\n".repeat(40));
        let e = parse_file("/etc/nginx/deep.conf", &deep).unwrap_err();
        assert_eq!(e.pos.to_string(), "/etc/nginx/deep.conf:33");
        assert_eq!(e.cap.as_deref(), Some("nesting depth 32"));
        assert!(e.to_string().contains("(cap: nesting depth 32)"), "{e}");
        // 100k-deep nesting stops at once, as 40 does.
        let started = std::time::Instant::now();
        let deeper = "location /x {".repeat(100_000);
        assert!(parse_file("f", &deeper).unwrap_err().cap.is_some());
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // The directives of every file of the dump count together.
        let half = "set $a 1;\n".repeat(MAX_DIRECTIVES / 2 + 1);
        let dump = format!(
            "# configuration file /etc/nginx/nginx.conf:\n{half}\n# configuration file /etc/nginx/b.conf:\n{half}"
        );
        let e = load(&dump).unwrap_err();
        assert_eq!(e.pos.file, "/etc/nginx/b.conf");
        assert_eq!(e.cap.as_deref(), Some("200000 directives"));
        // A file that includes itself.
        let e =
            load("# configuration file /etc/nginx/nginx.conf:\ninclude nginx.conf;\n").unwrap_err();
        assert_eq!(e.cap.as_deref(), Some("16 include levels"));
        // Includes that multiply one file are bounded by the same cap.
        let mut dump = String::from("# configuration file /e/nginx.conf:\ninclude l1;\n");
        for level in 1..8 {
            dump.push_str(&format!(
                "# configuration file /e/l{level}:\n{}",
                format!("include l{};\n", level + 1).repeat(10)
            ));
        }
        dump.push_str("# configuration file /e/l8:\nset $a 1;\n");
        let e = load(&dump).unwrap_err();
        assert!(e.message.contains("expanded"), "{e}");
        // A dump without a marker has no line to point to.
        assert_eq!(load("events {}").unwrap_err().at(), "byte 0 of the dump");
    }

    #[test]
    fn a_dump_is_split_by_its_markers_and_includes_are_expanded_in_glob_order() {
        let dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n\
# configuration file /etc/nginx/nginx.conf:\n\
http {\n\
    include mime.types;\n\
    include /etc/nginx/sites-enabled/*;\n\
}\n\
\n\
# configuration file /etc/nginx/mime.types:\n\
types { text/html html; }\n\
\n\
# configuration file /etc/nginx/sites-enabled/shop:\n\
server {\n\
    listen 80;\n\
    server_name shop.example;\n\
}\n\
\n\
# configuration file /etc/nginx/sites-enabled/default:\n\
server { listen 80 default_server; }\n";
        let c = load(dump).unwrap();
        assert_eq!(c.main, "/etc/nginx/nginx.conf");
        let http = &c.directives[0];
        let names: Vec<&str> = http.children().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["types", "server", "server"]);
        // sites-enabled/default sorts before sites-enabled/shop.
        let first = &http.children()[1];
        assert_eq!(first.pos.file, "/etc/nginx/sites-enabled/default");
        let shop = &http.children()[2];
        assert_eq!(
            shop.children()[1].pos.to_string(),
            "/etc/nginx/sites-enabled/shop:3"
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn globs_match_as_glob3_does() {
        assert!(glob_match(
            "/etc/nginx/sites-enabled/*",
            "/etc/nginx/sites-enabled/a"
        ));
        assert!(!glob_match(
            "/etc/nginx/sites-enabled/*",
            "/etc/nginx/sites-enabled/a/b"
        ));
        assert!(glob_match(
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/conf.d/x.conf"
        ));
        assert!(!glob_match(
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/conf.d/x.conf.bak"
        ));
        assert!(glob_match("/e/[a-c]?.conf", "/e/b1.conf"));
        assert!(!glob_match("/e/[!a-c]?.conf", "/e/b1.conf"));
        assert!(!glob_match("/e/*.conf", "/e/.hidden.conf"));
        assert!(glob_match("/e/.*.conf", "/e/.hidden.conf"));
        // No blow-up on a pattern built to backtrack.
        let long = format!("/e/{}", "a".repeat(3000));
        assert!(!glob_match("/e/*a*a*a*a*a*a*a*a*a*a*b", &long));
    }
}
