//! The web server's own configuration, read as the server reads it: nginx's `nginx -T` dump
//! parsed ([`nginx`]), and nginx's choice of `server` and `location` for a request
//! ([`select`]). A leaf: pure functions on text, used by the diagnosis.

pub mod apache;
pub mod nginx;
pub mod select;
pub mod traefik;

use nginx::Pos;
use select::{Chosen, ChosenBy, Docroot, Handler, Listen, ListenAddr};
use std::net::IpAddr;

/// The challenge directory under a document root.
pub const CHALLENGE_DIR: &str = "/.well-known/acme-challenge";

/// The web server whose configuration a [`Route`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Software {
    Nginx,
    Apache,
}

impl Software {
    pub fn name(self) -> &'static str {
        match self {
            Software::Nginx => "nginx",
            Software::Apache => "Apache",
        }
    }
}

/// What the web server does with the CA's request for `host` arriving at `dest`:`port`.
#[derive(Debug, Clone)]
pub struct Route {
    pub software: Software,
    pub dest: IpAddr,
    pub port: u16,
    /// Index of the chosen server in [`select::servers`].
    pub server: usize,
    pub server_pos: Pos,
    pub server_label: String,
    pub by: ChosenBy,
    /// The listen that took the connection.
    pub listen: Listen,
    /// Every listen of the chosen server.
    pub listens: Vec<Listen>,
    /// The location that serves the challenge URI, as written, with its position.
    pub location: Option<(String, Pos)>,
    /// What ends the request otherwise than with a file, in the order nginx meets them
    /// (server rewrite phase, then each location of the chain, then access and content).
    pub handlers: Vec<Handler>,
    pub docroot: Docroot,
    /// The container the web server runs in (its name), when it is not the host's own.
    pub container: Option<String>,
}

impl Route {
    /// Whether the server was picked by its name rather than as the address's default.
    pub fn by_name(&self) -> bool {
        !matches!(self.by, ChosenBy::DefaultServer | ChosenBy::FirstServer)
    }

    /// The first handler nginx applies without a condition this check could not settle:
    /// a server-level `return` comes before any location.
    pub fn effective_handler(&self) -> Option<&Handler> {
        self.handlers.iter().find(|h| {
            !matches!(
                h,
                Handler::Return {
                    conditional: true,
                    ..
                } | Handler::Redirect {
                    conditional: true,
                    ..
                } | Handler::TryFilesFallback { .. }
            )
        })
    }
}

/// Routes the challenge request for `host` to `dest`:`port` through `config`. `None` when no
/// server listens there.
pub fn route(
    config: &nginx::Config,
    dest: IpAddr,
    port: u16,
    host: &str,
    token: &str,
) -> Option<Route> {
    let servers = select::servers(&config.directives);
    let Chosen { server, listen, by } = select::choose(&servers, dest, port, host)?;
    let s = &servers[server];
    let uri = format!("{CHALLENGE_DIR}/{token}");
    let served = select::find_location(s.block.children(), &uri);
    // Server rewrite phase first (it runs before a location is chosen), then each location.
    let mut handlers = select::handlers(s.block.children(), &uri, host, port);
    // `deny` and `try_files` of the server are inherited only by locations without their own:
    // keep the server's rewrite-phase handlers, and the rest only when no location is found.
    if served.location().is_some() {
        handlers.retain(|h| matches!(h, Handler::Return { .. } | Handler::Redirect { .. }));
    }
    for loc in &served.chain {
        handlers.extend(select::handlers(loc.children(), &uri, host, port));
    }
    // Within one level nginx meets rewrite-phase handlers before access and content.
    handlers.sort_by_key(|h| match h {
        Handler::Return { .. } | Handler::Redirect { .. } => 0,
        Handler::Deny { .. } => 1,
        Handler::Pass { .. } | Handler::TryFilesFallback { .. } => 2,
    });
    let docroot = select::docroot(s, &served, &format!("{CHALLENGE_DIR}/"));
    Some(Route {
        software: Software::Nginx,
        dest,
        port,
        server,
        server_pos: s.pos.clone(),
        server_label: s.label(),
        by,
        listen,
        listens: s.listens.clone(),
        location: served.location().map(|d| (d.text(), d.pos.clone())),
        handlers,
        docroot,
        container: None,
    })
}

/// Routes the challenge request through Apache's configuration: `dash_s` is `-S`'s output,
/// `file` reads a vhost file it names. `Ok(None)` when no vhost takes the port; an error
/// when the chosen vhost's file was not read (its position is the vhost's) or could not be
/// followed.
pub fn apache_route<'a>(
    dash_s: &str,
    file: impl Fn(&str) -> Option<&'a str>,
    dest: IpAddr,
    port: u16,
    host: &str,
    token: &str,
) -> Result<Option<Route>, nginx::ParseError> {
    let (vhosts, main_root) = apache::vhosts(dash_s);
    let Some((v, by_name)) = apache::choose(&vhosts, dest, port, host) else {
        return Ok(None);
    };
    let index = vhosts.iter().position(|x| x == v).unwrap_or(0);
    let Some(text) = file(&v.pos.file) else {
        return Err(nginx::ParseError {
            pos: v.pos.clone(),
            message: "the file of the VirtualHost that answers was not read".into(),
            cap: None,
        });
    };
    let uri = format!("{CHALLENGE_DIR}/{token}");
    let served = apache::serve(
        text,
        &v.pos,
        main_root.as_deref(),
        &uri,
        &format!("{CHALLENGE_DIR}/"),
        host,
    )?;
    let addr = match v.addr.as_str() {
        // `*:80` takes both families.
        "*" | "_default_" => ListenAddr::AnyV6,
        a => a
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_or_else(|_| ListenAddr::Name(a.to_string()), ListenAddr::Ip),
    };
    let listen = Listen {
        addr,
        port: v.port,
        default_server: !by_name,
        ipv6only: false,
        ssl: false,
        pos: v.pos.clone(),
        text: format!("<VirtualHost {}:{}>", v.addr, v.port),
    };
    Ok(Some(Route {
        software: Software::Apache,
        dest,
        port,
        server: index,
        server_pos: v.pos.clone(),
        server_label: v.name.clone(),
        by: if by_name {
            ChosenBy::ExactName
        } else {
            ChosenBy::FirstServer
        },
        listens: vec![listen.clone()],
        listen,
        location: None,
        handlers: served.handlers,
        docroot: served.docroot,
        container: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use select::Modifier;

    /// `nginx -T` of Debian's nginx 1.22 package as installed (its stock nginx.conf and
    /// `sites-available/default`), with two sites added: `shop`, the two server blocks
    /// certbot's nginx plugin writes after `certbot --nginx --redirect` (its "# managed by
    /// Certbot" lines, as in github.com/renancorreadev/hubweb-infra
    /// nginx/sites-available/hubweb3.com), and `blog`, the WordPress recipe of the nginx wiki
    /// (nginx.com/resources/wiki/start/topics/recipes/wordpress/) with its "global
    /// restrictions" rule `location ~ /\. { deny all; }`. Dumped by the real nginx.
    const DEBIAN: &str = include_str!("testdata/debian-nginx-T.txt");
    const V4: &str = "192.0.2.10";
    const V6: &str = "2001:db8::10";

    fn route_of(host: &str, dest: &str) -> Route {
        let config = nginx::load(DEBIAN).unwrap();
        route(&config, dest.parse().unwrap(), 80, host, "TOKEN").unwrap()
    }

    #[test]
    fn the_debian_dump_loads_every_file() {
        let config = nginx::load(DEBIAN).unwrap();
        assert_eq!(config.main, "/etc/nginx/nginx.conf");
        let servers = select::servers(&config.directives);
        let labels: Vec<String> = servers.iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            [
                "blog.example.com",
                "_",
                "shop.example.com",
                "shop.example.com"
            ]
        );
        assert_eq!(
            servers[1].pos.to_string(),
            "/etc/nginx/sites-enabled/default:21"
        );
    }

    #[test]
    fn certbots_redirect_block_answers_ipv4_and_redirects_the_challenge() {
        let r = route_of("shop.example.com", V4);
        assert_eq!(r.by, ChosenBy::ExactName);
        assert_eq!(r.server_pos.to_string(), "/etc/nginx/sites-enabled/shop:13");
        let h = r.effective_handler().unwrap();
        assert!(h.is_redirect(), "{h:?}");
        // The `if ($host = shop.example.com)` holds; the www one does not.
        assert_eq!(h.pos().to_string(), "/etc/nginx/sites-enabled/shop:20");
    }

    #[test]
    fn certbots_block_without_an_ipv6_listen_leaves_ipv6_to_debians_default_site() {
        let r = route_of("shop.example.com", V6);
        assert_eq!(r.by, ChosenBy::DefaultServer);
        assert_eq!(r.server_label, "_");
        assert_eq!(
            r.listen.pos.to_string(),
            "/etc/nginx/sites-enabled/default:23"
        );
        assert_eq!(
            r.docroot.challenge_dir,
            "/var/www/html/.well-known/acme-challenge"
        );
        assert!(r.effective_handler().is_none());
    }

    #[test]
    fn the_wordpress_hidden_files_rule_denies_the_challenge() {
        let r = route_of("blog.example.com", V4);
        let (text, pos) = r.location.clone().unwrap();
        assert_eq!(text, "location ~ /\\. { … }");
        assert_eq!(pos.to_string(), "/etc/nginx/sites-enabled/blog:15");
        assert!(matches!(r.effective_handler(), Some(Handler::Deny { pos, .. }) if pos.line == 16));
        assert_eq!(
            r.docroot.challenge_dir,
            "/var/www/wordpress/.well-known/acme-challenge"
        );
    }

    #[test]
    fn an_unknown_name_gets_the_default_server() {
        let r = route_of("other.example", V4);
        assert_eq!(
            (r.by, r.server_label.as_str()),
            (ChosenBy::DefaultServer, "_")
        );
    }

    fn config(text: &str) -> nginx::Config {
        nginx::load(&format!(
            "# configuration file /etc/nginx/nginx.conf:\n{text}"
        ))
        .unwrap()
    }

    fn chosen(text: &str, dest: &str, host: &str) -> (String, ChosenBy) {
        let c = config(text);
        let servers = select::servers(&c.directives);
        let ch = select::choose(&servers, dest.parse().unwrap(), 80, host).unwrap();
        (servers[ch.server].label(), ch.by)
    }

    #[test]
    fn server_names_are_matched_exact_then_wildcards_then_regex_in_order() {
        let conf = "http {\n\
            server { listen 80; server_name first; }\n\
            server { listen 80; server_name ~^www\\.(.+)$; }\n\
            server { listen 80; server_name *.example.org; }\n\
            server { listen 80; server_name *.shop.example.org; }\n\
            server { listen 80; server_name www.*; }\n\
            server { listen 80; server_name www.shop.example.org; }\n\
            server { listen 80 default_server; server_name dflt; }\n\
        }";
        assert_eq!(
            chosen(conf, V4, "www.shop.example.org").0,
            "www.shop.example.org"
        );
        // The longest leading wildcard.
        assert_eq!(
            chosen(conf, V4, "a.shop.example.org"),
            ("*.shop.example.org".into(), ChosenBy::LeadingWildcard)
        );
        // A leading wildcard beats a trailing one, which beats a regex.
        assert_eq!(chosen(conf, V4, "www.example.org").0, "*.example.org");
        assert_eq!(chosen(conf, V4, "www.example.com").0, "www.*");
        assert_eq!(
            chosen(conf, V4, "WWW2.example.com"),
            ("dflt".into(), ChosenBy::DefaultServer)
        );
        // Without default_server, the first server on the address and port.
        let conf2 =
            "http { server { listen 80; server_name a; } server { listen 80; server_name b; } }";
        assert_eq!(chosen(conf2, V4, "c"), ("a".into(), ChosenBy::FirstServer));
    }

    #[test]
    fn listens_pick_the_socket_before_names_are_looked_at() {
        let conf = "http {\n\
            server { listen 192.0.2.10:80; server_name exact-addr; }\n\
            server { listen 80; server_name example.test; }\n\
            server { listen [::]:80 default_server; server_name v6-default; }\n\
            server { listen [::]:80; server_name example.test; }\n\
        }";
        // A listen on the exact address wins over the wildcard, whatever the name.
        assert_eq!(
            chosen(conf, V4, "example.test"),
            ("exact-addr".into(), ChosenBy::FirstServer)
        );
        assert_eq!(chosen(conf, "192.0.2.11", "example.test").0, "example.test");
        // [::]:80 is IPv6 only by default.
        let c = config("http { server { listen [::]:80; server_name only6; } }");
        let servers = select::servers(&c.directives);
        assert!(select::choose(&servers, V4.parse().unwrap(), 80, "x").is_none());
        let c = config("http { server { listen [::]:80 ipv6only=off; server_name both; } }");
        let servers = select::servers(&c.directives);
        assert!(select::choose(&servers, V4.parse().unwrap(), 80, "x").is_some());
        assert_eq!(chosen(conf, V6, "example.test").0, "example.test");
        assert_eq!(chosen(conf, V6, "nope").0, "v6-default");
    }

    fn served(locations: &str) -> Option<(Modifier, String)> {
        let c = config(&format!("http {{ server {{ {locations} }} }}"));
        let servers = select::servers(&c.directives);
        let s = select::find_location(
            servers[0].block.children(),
            "/.well-known/acme-challenge/TOKEN",
        );
        s.location().map(|d| {
            (
                select::location_kind(d).unwrap(),
                d.args.last().cloned().unwrap_or_default(),
            )
        })
    }

    #[test]
    fn locations_are_matched_as_nginx_does() {
        use Modifier::*;
        // A regex beats the longest prefix...
        assert_eq!(
            served("location / {} location /.well-known/ {} location ~ /\\. { deny all; }"),
            Some((Regex, "/\\.".into()))
        );
        // ...unless that prefix is ^~.
        assert_eq!(
            served("location ^~ /.well-known/acme-challenge/ {} location ~ /\\. {}"),
            Some((PrefixNoRegex, "/.well-known/acme-challenge/".into()))
        );
        // A shorter ^~ does not stop the regex when a longer plain prefix matched.
        assert_eq!(
            served(
                "location ^~ /.well-known/ {} location /.well-known/acme-challenge/ {} location ~* \\.WELL {}"
            ),
            Some((RegexCaseless, "\\.WELL".into()))
        );
        // Exact match first.
        assert_eq!(
            served("location = /.well-known/acme-challenge/TOKEN {} location ~ . {}"),
            Some((Exact, "/.well-known/acme-challenge/TOKEN".into()))
        );
        // Regexes in order of appearance; nested ones of the prefix first.
        assert_eq!(
            served("location ~ acme {} location ~ well {}"),
            Some((Regex, "acme".into()))
        );
        assert_eq!(
            served("location ~ well {} location /.well-known/ { location ~ TOKEN$ {} }"),
            Some((Regex, "TOKEN$".into()))
        );
        assert_eq!(served("location /static/ {}"), None);
    }

    #[test]
    fn the_challenge_directory_comes_from_root_or_alias() {
        let dir = |server: &str| {
            let c = config(&format!(
                "http {{ root /srv/http; server {{ listen 80; {server} }} }}"
            ));
            route(&c, V4.parse().unwrap(), 80, "x", "T")
                .unwrap()
                .docroot
                .challenge_dir
        };
        assert_eq!(dir(""), "/srv/http/.well-known/acme-challenge");
        assert_eq!(
            dir("root /var/www/a/;"),
            "/var/www/a/.well-known/acme-challenge"
        );
        assert_eq!(
            dir("root /var/www/a; location /.well-known/acme-challenge/ { root /var/lib/le; }"),
            "/var/lib/le/.well-known/acme-challenge"
        );
        assert_eq!(
            dir("location /.well-known/acme-challenge/ { alias /var/lib/le/; }"),
            "/var/lib/le"
        );
        assert_eq!(
            dir("location ^~ /.well-known/ { alias /var/lib/wk/; }"),
            "/var/lib/wk/acme-challenge"
        );
    }

    #[test]
    fn a_lua_content_handler_answers_instead_of_a_file() {
        let c = config(
            "http { server { listen 80; root /x; location /.well-known/acme-challenge/ { content_by_lua_block { ngx.say(\"}\") } } } }",
        );
        let r = route(&c, V4.parse().unwrap(), 80, "x", "T").unwrap();
        assert!(
            matches!(r.effective_handler(), Some(Handler::Pass { text, .. }) if text == "content_by_lua_block { … }"),
            "{:?}",
            r.handlers
        );
    }

    #[test]
    fn a_server_level_return_comes_before_any_location() {
        let c = config(
            "http { server { listen 80; location ^~ /.well-known/acme-challenge/ { root /x; } return 301 https://$host$request_uri; } }",
        );
        let r = route(&c, V4.parse().unwrap(), 80, "x", "T").unwrap();
        assert!(r.effective_handler().is_some_and(Handler::is_redirect));
        // A return inside an `if` on something unknown is not counted as certain.
        let c = config(
            "http { server { listen 80; if ($request_method = POST) { return 405; } root /x; } }",
        );
        let r = route(&c, V4.parse().unwrap(), 80, "x", "T").unwrap();
        assert!(r.effective_handler().is_none());
        assert_eq!(r.handlers.len(), 1);
    }
}
