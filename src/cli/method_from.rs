//! Issue 20 item 4: the method of a name of the command line. Without `--all` and without
//! `--method`, a name that this host's ACME client configuration names is checked with the
//! method that configuration uses (a name renewed by DNS-01 is not judged by port 80), and the
//! header says so; a name no configuration names is checked with http-01, recorded as assumed
//! so that a closed port says which method it was judged for. An explicit `--method` always
//! wins, and the header says so when the configuration differs.
//!
//! The configurations are the ones `probe::clients::discover` already read for the host
//! snapshot: nothing more is read here, and a configuration that could not be read is only
//! named (`MethodFrom::Assumed::unreadable`), never an error.

use crate::config::Config;
use crate::facts::{ClientMethod, ClientsFacts, MethodFrom};
use std::collections::HashMap;

/// Gives each name of the command line its `MethodFrom`, and its configuration's method when
/// none was given. Nothing to do under `--all` (each certificate brings its own method).
pub fn apply(config: &mut Config, clients: &ClientsFacts) {
    if config.clients.all {
        return;
    }
    let by_name = index(clients);
    let unreadable: Vec<String> = clients.unreadable.iter().map(|u| u.path.clone()).collect();
    for target in &mut config.targets {
        let found = by_name
            .get(&target.domain.ascii.to_ascii_lowercase())
            // An IP identifier the CA refuses by that method (DNS-01) keeps its own.
            .filter(|c| target.domain.ip.is_none() || c.method.validates_ip());
        let from = match (config.method_given, found) {
            (true, Some(c)) if c.method != target.spec.method => MethodFrom::Given {
                config: Some((*c).clone()),
            },
            (true, _) => MethodFrom::Given { config: None },
            (false, Some(c)) => {
                target.spec.method = c.method;
                MethodFrom::Config {
                    config: (*c).clone(),
                }
            }
            (false, None) => MethodFrom::Assumed {
                unreadable: unreadable.clone(),
            },
        };
        target.spec.method_from = Some(from);
    }
}

/// Each name the configurations name (lower case, as `DomainName::ascii` holds it) with the
/// first method set for it, in discovery order; a per-name webroot (certbot's
/// `[[webroot_map]]`) is that name's http-01. One pass, so a long `-f` list costs one lookup
/// per name.
fn index(clients: &ClientsFacts) -> HashMap<String, ClientMethod> {
    let mut by_name: HashMap<String, ClientMethod> = HashMap::new();
    for cert in &clients.certificates {
        for name in &cert.names {
            let key = normalise(name);
            if by_name.contains_key(&key) {
                continue;
            }
            let own = cert
                .webroots
                .iter()
                .find(|w| w.name.eq_ignore_ascii_case(name));
            let (method, line) = match own {
                Some(w) => (Some(crate::facts::Method::Http01), w.line),
                None => (cert.challenge.method(), cert.line),
            };
            // Manual or unknown settings say nothing acme-doctor can check by.
            let Some(method) = method else { continue };
            by_name.insert(
                key,
                ClientMethod {
                    method,
                    client: cert.client,
                    file: cert.config.clone(),
                    line,
                },
            );
        }
    }
    by_name
}

/// A name as a configuration writes it, in the form `DomainName::ascii` holds: an IDN as
/// punycode, lower case, no trailing dot.
fn normalise(name: &str) -> String {
    match crate::domain::parse(name) {
        Ok(d) => d.ascii.to_ascii_lowercase(),
        Err(_) => name.trim_end_matches('.').to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{AcmeClient, Challenge, Method};

    fn cert(names: &[&str], challenge: Challenge) -> crate::facts::ManagedCert {
        crate::facts::ManagedCert {
            client: AcmeClient::Certbot,
            name: names[0].into(),
            config: "/etc/letsencrypt/renewal/x.conf".into(),
            key: "authenticator".into(),
            line: Some(7),
            names: names.iter().map(|n| n.to_string()).collect(),
            challenge,
            webroots: Vec::new(),
            certificate: None,
            not_before: None,
            expiry: crate::facts::Probed::Unknown(crate::facts::Unknown::failed("test")),
            next_try: crate::facts::NextTry::Unknown { why: "test".into() },
            server: None,
            pre_hook: None,
            owner: None,
            entry_points: Vec::new(),
            token_not_written: None,
            last_failure: None,
            missing_files: Vec::new(),
        }
    }

    /// The configuration `acme-doctor [--method M] NAMES…` gives.
    fn config(names: &[&str], given: Option<Method>) -> Config {
        let mut argv = vec!["acme-doctor".to_string()];
        if let Some(m) = given {
            argv.extend(["--method".to_string(), m.as_str().to_string()]);
        }
        argv.extend(names.iter().map(|n| n.to_string()));
        let args = <super::super::args::Args as clap::Parser>::try_parse_from(argv).expect("args");
        super::super::args::validate(args, String::new()).expect("config")
    }

    fn clients(certs: Vec<crate::facts::ManagedCert>) -> ClientsFacts {
        ClientsFacts {
            certificates: certs,
            ..ClientsFacts::default()
        }
    }

    fn dns01() -> Challenge {
        Challenge::Dns {
            provider: Some("cloudflare".into()),
        }
    }

    /// The configuration names the domain with dns-01: the name is checked by DNS-01, and
    /// the facts say from which file.
    #[test]
    fn a_configuration_gives_its_method_when_none_is_given() {
        let mut c = config(&["Example.COM", "other.example"], None);
        apply(&mut c, &clients(vec![cert(&["example.com"], dns01())]));
        assert_eq!(c.targets[0].spec.method, Method::Dns01);
        let Some(MethodFrom::Config { config: from }) = &c.targets[0].spec.method_from else {
            panic!("{:?}", c.targets[0].spec.method_from);
        };
        assert_eq!(from.origin(), "certbot /etc/letsencrypt/renewal/x.conf:7");
        // A name no configuration names keeps http-01, recorded as assumed.
        assert_eq!(c.targets[1].spec.method, Method::Http01);
        assert_eq!(
            c.targets[1].spec.method_from,
            Some(MethodFrom::Assumed {
                unreadable: Vec::new()
            })
        );
    }

    /// `--method` always wins; the configuration's other method is kept for the header.
    #[test]
    fn a_given_method_wins_and_remembers_the_configuration() {
        let mut c = config(&["example.com"], Some(Method::Http01));
        apply(&mut c, &clients(vec![cert(&["example.com"], dns01())]));
        assert_eq!(c.targets[0].spec.method, Method::Http01);
        assert!(matches!(
            &c.targets[0].spec.method_from,
            Some(MethodFrom::Given { config: Some(from) }) if from.method == Method::Dns01
        ));
        // The same method: nothing to say.
        let mut c = config(&["example.com"], Some(Method::Dns01));
        apply(&mut c, &clients(vec![cert(&["example.com"], dns01())]));
        assert_eq!(
            c.targets[0].spec.method_from,
            Some(MethodFrom::Given { config: None })
        );
    }

    /// A per-name webroot is http-01 whatever the certificate's default; a manual setting
    /// gives nothing; the first configuration that names a name decides; unreadable
    /// configurations are named in the assumption.
    #[test]
    fn per_name_webroots_manual_settings_and_unreadable_paths() {
        let mut with_map = cert(&["a.example", "b.example"], dns01());
        with_map.webroots = vec![crate::facts::NameWebroot {
            name: "b.example".into(),
            path: "/var/www/b".into(),
            key: "b.example".into(),
            line: Some(12),
        }];
        let manual = cert(&["m.example"], Challenge::Manual);
        let later = cert(&["a.example"], Challenge::Standalone { port: 80 });
        let mut found = clients(vec![with_map, manual, later]);
        found.unreadable.push(crate::facts::UnreadablePath {
            path: "/root/.acme.sh".into(),
            why: crate::facts::Unknown::failed("permission denied"),
        });
        let mut c = config(&["a.example", "b.example", "m.example"], None);
        apply(&mut c, &found);
        let methods: Vec<Method> = c.targets.iter().map(|t| t.spec.method).collect();
        assert_eq!(methods, [Method::Dns01, Method::Http01, Method::Http01]);
        assert!(matches!(
            &c.targets[1].spec.method_from,
            Some(MethodFrom::Config { config }) if config.line == Some(12)
        ));
        assert_eq!(
            c.targets[2].spec.method_from,
            Some(MethodFrom::Assumed {
                unreadable: vec!["/root/.acme.sh".into()]
            })
        );
    }

    /// Under `--all` each certificate brings its method: nothing is changed here.
    #[test]
    fn all_is_left_alone() {
        let mut c = config(&["example.com"], None);
        c.clients.all = true;
        apply(&mut c, &clients(vec![cert(&["example.com"], dns01())]));
        assert_eq!(c.targets[0].spec.method, Method::Http01);
        assert_eq!(c.targets[0].spec.method_from, None);
    }
}
