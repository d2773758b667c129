//! Apache's configuration as `apache2ctl -S` summarises it and as its virtual host files hold
//! it: which `<VirtualHost>` answers a name on an address and port (address-based sets first,
//! then `ServerName`/`ServerAlias` in order, else the set's default, its first vhost), and
//! what that vhost does with the challenge path (`DocumentRoot`, `Alias`, `Redirect`,
//! `RedirectMatch`, `RewriteRule` with `R`/`F`/`G`/`P`, `ProxyPass`).
//!
//! Line-based on purpose: Apache's directives are one per line (with `\` continuations), and
//! `-S` names the file and line of each vhost. `<Directory>`/`<Location>` sections are not
//! evaluated.

use super::nginx::{ParseError, Pos};
use super::select::{Docroot, Handler, trim};
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vhost {
    /// The address part of the set: `*`, `_default_`, `192.0.2.10`, `[2001:db8::10]`.
    pub addr: String,
    pub port: u16,
    pub name: String,
    pub aliases: Vec<String>,
    pub pos: Pos,
}

/// The vhosts `-S` lists, in its order (each set's default first), and the main DocumentRoot.
pub fn vhosts(dash_s: &str) -> (Vec<Vhost>, Option<String>) {
    let mut out: Vec<Vhost> = Vec::new();
    let mut main_root = None;
    let mut set: Option<(String, u16)> = None;
    for line in dash_s.lines() {
        let t = line.trim();
        if let Some(r) = t.strip_prefix("Main DocumentRoot:") {
            main_root = Some(r.trim().trim_matches('"').to_string());
            continue;
        }
        if let Some(alias) = t.strip_prefix("alias ") {
            if let Some(v) = out.last_mut() {
                v.aliases.push(alias.trim().to_ascii_lowercase());
            }
            continue;
        }
        let pos = t
            .rsplit_once('(')
            .and_then(|(_, r)| r.strip_suffix(')'))
            .and_then(|inner| inner.rsplit_once(':'))
            .and_then(|(f, l)| {
                Some(Pos {
                    file: f.to_string(),
                    line: l.parse().ok()?,
                })
            });
        let words: Vec<&str> = t.split_whitespace().collect();
        let split_addr = |w: &str| -> Option<(String, u16)> {
            let (a, p) = w.rsplit_once(':')?;
            Some((a.to_string(), p.parse().ok()?))
        };
        if !line.starts_with(char::is_whitespace) {
            // `*:80   is a NameVirtualHost`, or `*:80   name (file:line)` for a lone vhost.
            let Some(first) = words.first().and_then(|w| split_addr(w)) else {
                set = None;
                continue;
            };
            set = Some(first.clone());
            if let (Some(pos), Some(name)) = (pos, words.get(1))
                && *name != "is"
            {
                out.push(Vhost {
                    addr: first.0,
                    port: first.1,
                    name: name.to_ascii_lowercase(),
                    aliases: Vec::new(),
                    pos,
                });
            }
            continue;
        }
        let (Some((addr, port)), Some(pos)) = (set.clone(), pos) else {
            continue;
        };
        // `port 80 namevhost NAME (…)`; the `default server NAME (…)` line repeats the first.
        if let ["port", _, "namevhost", name, ..] = words.as_slice() {
            out.push(Vhost {
                addr,
                port,
                name: name.to_ascii_lowercase(),
                aliases: Vec::new(),
                pos,
            });
        }
    }
    (out, main_root)
}

fn addr_matches(addr: &str, dest: &IpAddr) -> Option<bool> {
    match addr {
        "*" | "_default_" => None,
        a => {
            let a = a.trim_start_matches('[').trim_end_matches(']');
            Some(a.parse::<IpAddr>().is_ok_and(|ip| ip == *dest))
        }
    }
}

fn name_matches(pattern: &str, host: &str) -> bool {
    super::nginx::glob_match(pattern, host)
}

/// The vhost Apache picks, and whether by name.
pub fn choose<'a>(
    vhosts: &'a [Vhost],
    dest: IpAddr,
    port: u16,
    host: &str,
) -> Option<(&'a Vhost, bool)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let on_port = || vhosts.iter().filter(move |v| v.port == port);
    let mut set: Vec<&Vhost> = on_port()
        .filter(|v| addr_matches(&v.addr, &dest) == Some(true))
        .collect();
    if set.is_empty() {
        set = on_port()
            .filter(|v| addr_matches(&v.addr, &dest).is_none())
            .collect();
    }
    let first = *set.first()?;
    set.iter()
        .find(|v| v.name == host || v.aliases.iter().any(|a| name_matches(a, &host)))
        .map(|v| (*v, true))
        .or(Some((first, false)))
}

/// One directive of a vhost: name (lower case), arguments, position.
#[derive(Debug, Clone)]
struct Line {
    name: String,
    args: Vec<String>,
    pos: Pos,
    text: String,
}

/// Virtual host files read per configuration: `-S` can name thousands.
pub const MAX_FILES: usize = 64;

/// Directives read per `<VirtualHost>`: more is no site anyone wrote by hand.
const MAX_VHOST_DIRECTIVES: usize = 10_000;

/// The directives of the `<VirtualHost>` starting at `line` of `text`, outside nested
/// `<Directory>`/`<Location>`/`<Files>` sections. A vhost that does not end in the file (cut
/// short, or not where `-S` said) or is over the cap is an error, never half a vhost.
fn block(file: &str, text: &str, line: u32) -> Result<Vec<Line>, ParseError> {
    let stop = |line: u32, message: &str, cap: Option<String>| ParseError {
        pos: Pos {
            file: file.to_string(),
            line,
        },
        message: message.to_string(),
        cap,
    };
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut pending = String::new();
    let mut start = 0u32;
    let mut closed = false;
    let mut last = line;
    for (n, raw) in text
        .lines()
        .enumerate()
        .skip(line.saturating_sub(1) as usize)
    {
        let n = n as u32 + 1;
        last = n;
        let t = raw.trim();
        if pending.is_empty() {
            start = n;
        }
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let full = std::mem::take(&mut pending);
        let full = full.trim();
        if full.is_empty() || full.starts_with('#') {
            continue;
        }
        let lower = full.to_ascii_lowercase();
        if lower.starts_with("</virtualhost") {
            closed = true;
            break;
        }
        if lower.starts_with("<virtualhost") || lower.starts_with("<ifmodule") {
            continue;
        }
        if lower.starts_with("</ifmodule") {
            continue;
        }
        if lower.starts_with("</") {
            depth = depth.saturating_sub(1);
            continue;
        }
        if lower.starts_with('<') {
            depth += 1;
            continue;
        }
        if depth > 0 {
            continue;
        }
        let words = split_words(full);
        let Some((name, args)) = words.split_first() else {
            continue;
        };
        out.push(Line {
            name: name.to_ascii_lowercase(),
            args: args.to_vec(),
            pos: Pos {
                file: file.to_string(),
                line: start,
            },
            text: crate::sanitize::line(full, 300),
        });
        if out.len() > MAX_VHOST_DIRECTIVES {
            return Err(stop(
                start,
                "too many directives in one VirtualHost",
                Some(format!("{MAX_VHOST_DIRECTIVES} directives per VirtualHost")),
            ));
        }
    }
    if !closed {
        return Err(stop(last, "the file ends before </VirtualHost>", None));
    }
    Ok(out)
}

pub(super) fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// What the chosen vhost does with `uri`.
#[derive(Debug, Clone)]
pub struct Served {
    pub handlers: Vec<Handler>,
    pub docroot: Docroot,
}

/// Whether a RewriteCond holds for the challenge request, when it can be told.
fn cond_holds(args: &[String], host: &str) -> Option<bool> {
    let [test, pattern, ..] = args else {
        return None;
    };
    let value = match test.as_str() {
        "%{SERVER_NAME}" | "%{HTTP_HOST}" => host.to_string(),
        "%{HTTPS}" => "off".to_string(),
        "%{REQUEST_SCHEME}" => "http".to_string(),
        _ => return None,
    };
    let (negate, pattern) = match pattern.strip_prefix('!') {
        Some(p) => (true, p),
        None => (false, pattern.as_str()),
    };
    let hit = if let Some(exact) = pattern.strip_prefix('=') {
        value.eq_ignore_ascii_case(exact)
    } else {
        regex_lite::Regex::new(&format!("(?i){pattern}"))
            .ok()?
            .is_match(&value)
    };
    Some(hit != negate)
}

/// The handlers and document root of the vhost at `pos` for `uri`, `uri_dir` being its
/// directory (`/.well-known/acme-challenge/`).
pub fn serve(
    file_text: &str,
    pos: &Pos,
    main_root: Option<&str>,
    uri: &str,
    uri_dir: &str,
    host: &str,
) -> Result<Served, ParseError> {
    let lines = block(&pos.file, file_text, pos.line)?;
    let mut handlers = Vec::new();
    // RewriteConds since the last rule, each with its [OR] flag.
    let mut conds: Vec<(Option<bool>, bool)> = Vec::new();
    let mut docroot: Option<Docroot> = None;
    let mut alias: Option<Docroot> = None;
    let mut proxy_excluded = false;
    for l in &lines {
        match l.name.as_str() {
            "documentroot" => {
                let path = l.args.first().cloned().unwrap_or_default();
                docroot = Some(Docroot {
                    challenge_dir: trim(&format!("{path}/{uri_dir}")),
                    directive: l.text.clone(),
                    pos: Some(l.pos.clone()),
                    variable: path.contains('$') || path.contains("%{"),
                });
            }
            "alias" => {
                if let [from, to, ..] = l.args.as_slice()
                    && uri.starts_with(from.as_str())
                    && alias.is_none()
                {
                    let rest = uri_dir.strip_prefix(from.as_str()).unwrap_or("");
                    alias = Some(Docroot {
                        challenge_dir: trim(&format!("{to}/{rest}")),
                        directive: l.text.clone(),
                        pos: Some(l.pos.clone()),
                        variable: false,
                    });
                }
            }
            "redirect" | "redirectpermanent" | "redirecttemp" | "redirectmatch" => {
                let mut args: &[String] = &l.args;
                let mut status = if l.name == "redirectpermanent" {
                    301
                } else {
                    302
                };
                if let Some(first) = args.first() {
                    let named = match first.to_ascii_lowercase().as_str() {
                        "permanent" => Some(301),
                        "temp" => Some(302),
                        "seeother" => Some(303),
                        "gone" => Some(410),
                        s => s.parse::<u16>().ok(),
                    };
                    if let Some(code) = named {
                        status = code;
                        args = &args[1..];
                    }
                }
                let Some(path) = args.first() else { continue };
                let hit = if l.name == "redirectmatch" {
                    regex_lite::Regex::new(path).is_ok_and(|r| r.is_match(uri))
                } else {
                    uri == path || uri.starts_with(&format!("{}/", path.trim_end_matches('/')))
                };
                if !hit {
                    continue;
                }
                handlers.push(Handler::Return {
                    code: status,
                    target: args.get(1).cloned(),
                    pos: l.pos.clone(),
                    text: l.text.clone(),
                    conditional: false,
                });
            }
            "rewritecond" => {
                let or = l
                    .args
                    .get(2)
                    .is_some_and(|f| f.to_ascii_uppercase().contains("OR"));
                conds.push((cond_holds(&l.args, host), or));
            }
            "rewriterule" => {
                let taken = std::mem::take(&mut conds);
                let [pattern, subst, rest @ ..] = l.args.as_slice() else {
                    continue;
                };
                let flags = rest
                    .first()
                    .map(|f| f.to_ascii_uppercase())
                    .unwrap_or_default();
                let (negate, pattern) = match pattern.strip_prefix('!') {
                    Some(p) => (true, p),
                    None => (false, pattern.as_str()),
                };
                if regex_lite::Regex::new(pattern).is_ok_and(|r| r.is_match(uri)) == negate {
                    continue;
                }
                // Conditions AND together; a run joined by [OR] is one condition.
                let mut groups: Vec<Option<bool>> = Vec::new();
                let mut joined = false;
                for (holds, or) in &taken {
                    match (joined, groups.last_mut()) {
                        (true, Some(last)) => {
                            *last = match (*last, *holds) {
                                (Some(true), _) | (_, Some(true)) => Some(true),
                                (Some(false), Some(false)) => Some(false),
                                _ => None,
                            };
                        }
                        _ => groups.push(*holds),
                    }
                    joined = *or;
                }
                if groups.contains(&Some(false)) {
                    continue;
                }
                let conditional = groups.contains(&None);
                let flag = |f: &str| {
                    flags
                        .trim_matches(['[', ']'])
                        .split(',')
                        .any(|x| x == f || x.starts_with(&format!("{f}=")))
                };
                if flag("F") {
                    handlers.push(Handler::Deny {
                        pos: l.pos.clone(),
                        text: l.text.clone(),
                    });
                } else if flag("G") {
                    handlers.push(Handler::Return {
                        code: 410,
                        target: None,
                        pos: l.pos.clone(),
                        text: l.text.clone(),
                        conditional,
                    });
                } else if flag("P") {
                    handlers.push(Handler::Pass {
                        pos: l.pos.clone(),
                        text: l.text.clone(),
                    });
                } else if flag("R") || subst.starts_with("http://") || subst.starts_with("https://")
                {
                    handlers.push(Handler::Redirect {
                        target: subst.clone(),
                        permanent: flags.contains("R=301") || flags.contains("R=PERMANENT"),
                        pos: l.pos.clone(),
                        text: l.text.clone(),
                        conditional,
                    });
                }
            }
            "proxypass" => {
                if let [path, target, ..] = l.args.as_slice()
                    && uri.starts_with(path.as_str())
                    && !proxy_excluded
                {
                    // `ProxyPass /.well-known !` excludes the path from later ProxyPass lines.
                    if target == "!" {
                        proxy_excluded = true;
                        continue;
                    }
                    handlers.push(Handler::Pass {
                        pos: l.pos.clone(),
                        text: l.text.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    let docroot = alias.or(docroot).unwrap_or_else(|| Docroot {
        challenge_dir: main_root.map_or_else(
            || trim(&format!("htdocs/{uri_dir}")),
            |r| trim(&format!("{r}/{uri_dir}")),
        ),
        directive: "(no DocumentRoot: the main one)".into(),
        pos: None,
        variable: false,
    });
    Ok(Served { handlers, docroot })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apache2ctl -S` on Debian 12 (apache2 2.4) with the stock 000-default.conf and a site.
    const DASH_S: &str = r#"VirtualHost configuration:
*:80                   is a NameVirtualHost
         default server 127.0.1.1 (/etc/apache2/sites-enabled/000-default.conf:1)
         port 80 namevhost 127.0.1.1 (/etc/apache2/sites-enabled/000-default.conf:1)
         port 80 namevhost shop.example.com (/etc/apache2/sites-enabled/shop.conf:1)
                 alias www.shop.example.com
*:443                  shop.example.com (/etc/apache2/sites-enabled/shop-le-ssl.conf:2)
ServerRoot: "/etc/apache2"
Main DocumentRoot: "/var/www/html"
Main ErrorLog: "/var/log/apache2/error.log"
"#;

    /// The port-80 vhost after `certbot --apache --redirect`: the three Rewrite lines are
    /// what certbot's Apache plugin appends (certbot-apache's `_set_https_redirection_rewrite_rule`).
    const SHOP: &str = "<VirtualHost *:80>\n\
\tServerName shop.example.com\n\
\tServerAlias www.shop.example.com\n\
\tDocumentRoot /var/www/shop\n\
\t<Directory /var/www/shop>\n\
\t\tRequire all denied\n\
\t</Directory>\n\
RewriteEngine on\n\
RewriteCond %{SERVER_NAME} =www.shop.example.com [OR]\n\
RewriteCond %{SERVER_NAME} =shop.example.com\n\
RewriteRule ^ https://%{SERVER_NAME}%{REQUEST_URI} [END,NE,R=permanent]\n\
</VirtualHost>\n";

    const URI: &str = "/.well-known/acme-challenge/T";
    const DIR: &str = "/.well-known/acme-challenge/";

    #[test]
    fn dash_s_lists_every_vhost_with_its_file_and_line() {
        let (v, main) = vhosts(DASH_S);
        let names: Vec<(&str, u16)> = v.iter().map(|v| (v.name.as_str(), v.port)).collect();
        assert_eq!(
            names,
            [
                ("127.0.1.1", 80),
                ("shop.example.com", 80),
                ("shop.example.com", 443)
            ]
        );
        assert_eq!(v[1].aliases, ["www.shop.example.com"]);
        assert_eq!(
            v[2].pos.to_string(),
            "/etc/apache2/sites-enabled/shop-le-ssl.conf:2"
        );
        assert_eq!(main.as_deref(), Some("/var/www/html"));
    }

    #[test]
    fn names_then_the_sets_first_vhost() {
        let (v, _) = vhosts(DASH_S);
        let dest: IpAddr = "2001:db8::10".parse().unwrap();
        let (shop, by_name) = choose(&v, dest, 80, "WWW.shop.example.com").unwrap();
        assert!(by_name);
        assert_eq!(shop.name, "shop.example.com");
        let (other, by_name) = choose(&v, dest, 80, "blog.example.com").unwrap();
        assert!(!by_name);
        assert!(other.pos.file.ends_with("000-default.conf"));
    }

    #[test]
    fn certbots_rewrite_redirects_the_challenge_for_its_names_only() {
        let pos = Pos {
            file: "/etc/apache2/sites-enabled/shop.conf".into(),
            line: 1,
        };
        let s = serve(
            SHOP,
            &pos,
            Some("/var/www/html"),
            URI,
            DIR,
            "shop.example.com",
        )
        .unwrap();
        assert_eq!(
            s.docroot.challenge_dir,
            "/var/www/shop/.well-known/acme-challenge"
        );
        assert!(
            matches!(&s.handlers[..], [Handler::Redirect { pos, conditional: false, .. }] if pos.line == 11),
            "{:?}",
            s.handlers
        );
        // `Require all denied` sits in a <Directory> section: not evaluated.
        let s = serve(SHOP, &pos, None, URI, DIR, "other.example.com").unwrap();
        assert!(s.handlers.is_empty(), "{:?}", s.handlers);
    }

    #[test]
    fn alias_redirect_and_proxypass() {
        let pos = Pos {
            file: "f".into(),
            line: 1,
        };
        let text = "<VirtualHost *:80>\nAlias /.well-known/acme-challenge/ /var/lib/letsencrypt/.well-known/acme-challenge/\nDocumentRoot /srv\n</VirtualHost>\n";
        let s = serve(text, &pos, None, URI, DIR, "x").unwrap();
        assert_eq!(
            s.docroot.challenge_dir,
            "/var/lib/letsencrypt/.well-known/acme-challenge"
        );
        let text = "<VirtualHost *:80>\nRedirect permanent / https://x/\n</VirtualHost>\n";
        let s = serve(text, &pos, None, URI, DIR, "x").unwrap();
        assert!(s.handlers[0].is_redirect());
        let text = "<VirtualHost *:80>\nProxyPass /.well-known !\nProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n";
        assert!(
            serve(text, &pos, None, URI, DIR, "x")
                .unwrap()
                .handlers
                .is_empty()
        );
        let text = "<VirtualHost *:80>\nProxyPass / http://127.0.0.1:8080/\n</VirtualHost>\n";
        assert!(matches!(
            serve(text, &pos, None, URI, DIR, "x").unwrap().handlers[..],
            [Handler::Pass { .. }]
        ));
    }
}
