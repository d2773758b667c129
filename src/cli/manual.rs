//! `acme-doctor man`: clap_mangen's page, with what it cannot know (issue 21 item 4): a
//! synopsis with value names, EXIT STATUS as a table (tbl), ENVIRONMENT, FILES and EXAMPLES.
//! The sections are checked against the code in the tests below and in `tests/cli.rs`
//! (rendered with `man -l`).

use clap::Command;

/// Every exit status, as `crate::exit::Exit` gives it, and what it means.
const EXIT_STATUS: &[(u8, &str)] = &[
    (
        0,
        "pass: no blocker found (warnings allowed, unless --fail-on warning)",
    ),
    (1, "a blocker found: the CA's validation would fail"),
    (
        2,
        "acme-doctor could not run, or not on every input: bad usage, bad input (a line of a domain list that is not a name: the other names are still checked), an internal error",
    ),
    (
        3,
        "incomplete: no blocker found, but a decisive probe could not run (no permission to read the firewall, no outside view)",
    ),
    (130, "interrupted by SIGINT (Ctrl-C)"),
    (143, "stopped by SIGTERM"),
];

/// Every environment variable the code reads (a test greps `src/` for them).
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NO_COLOR",
        "When set and not empty: no colour in the default --color auto, the CA's path drawn in ASCII, and explain without styles.",
    ),
    (
        "ACME_DOCTOR_VANTAGES",
        "Vantage URLs (acme-doctor serve elsewhere), separated by newlines, commas or spaces, added to --vantage and --vantages-file. Not read with --from-facts.",
    ),
    (
        "DOCKER_HOST",
        "A unix:// socket of the Docker API to read the containers' published ports from, before the sockets of running dockerd processes and the defaults under FILES.",
    ),
    ("TERM", "dumb: explain prints no styles."),
    (
        "LC_ALL, LC_CTYPE, LANG",
        "The first one set and not empty is the locale: a UTF-8 one lets the CA's path and explain use Unicode marks, arrows, bullets and rules; any other, or none, gives ASCII.",
    ),
];

/// Every path the host probes and `--all` read, and what for.
const FILES: &[(&str, &str)] = &[
    (
        "/etc/resolv.conf",
        "The system resolver, unless --resolver is given.",
    ),
    (
        "/proc/sys/net/ipv6/conf/*/disable_ipv6, /proc/sys/net/ipv6/bindv6only",
        "Whether IPv6 is switched off, per interface, and how [::] sockets bind. No /proc/sys/net/ipv6 at all: IPv6 is not in the kernel.",
    ),
    (
        "/proc/net/route, /proc/net/ipv6_route",
        "The default routes, per family.",
    ),
    (
        "/proc/PID/cmdline, /proc/PID/exe, /proc/PID/status, /proc/PID/comm, /proc/PID/fd",
        "Which process holds ports 80 and 443 (the web server whose configuration is read next), and the dockerd processes with their sockets.",
    ),
    (
        "/proc/PID/net/tcp, /proc/PID/net/tcp6, /proc/PID/ns/net, /proc/self/ns/net",
        "The listeners inside containers, and which network namespace they share with this one.",
    ),
    (
        "/proc/self/fd",
        "The tool's own open files, for the open-files limit.",
    ),
    (
        "/var/run/docker.sock, /run/podman/podman.sock, /etc/docker/daemon.json",
        "Docker's and Podman's API (published ports, networks) and the daemon's configuration (userland proxy, ip6tables).",
    ),
    (
        "/etc/caddy/Caddyfile",
        "Caddy's sites and options (and its certificates: see below).",
    ),
    (
        "/etc/systemd/system/*.wants/",
        "Which web servers are enabled as services.",
    ),
    (
        "/etc/letsencrypt/renewal/*.conf",
        "certbot: each certificate's renewal configuration, and the certificate file it names (cert).",
    ),
    (
        "/root/.acme.sh/, /home/*/.acme.sh/, /etc/acme.sh/, /acme.sh/",
        "acme.sh: DOMAIN[_ecc]/DOMAIN.conf and DOMAIN.cer under each.",
    ),
    (
        "/root/.lego/, /home/*/.lego/, /etc/lego/, /var/lib/lego/",
        "lego: certificates/*.json and *.crt under each, and under the --path of lego's command lines in the units and crontabs below.",
    ),
    (
        "/etc/systemd/system/, /lib/systemd/system/, /usr/lib/systemd/system/, /etc/crontab, /etc/cron.d/, /var/spool/cron/crontabs/",
        "Units and crontabs that run lego (its flags decide the method, webroot and path).",
    ),
    (
        "/var/lib/caddy/.local/share/caddy/certificates/, /root/.local/share/caddy/certificates/, /home/*/.local/share/caddy/certificates/",
        "Caddy's stored certificates.",
    ),
    (
        "/etc/traefik/traefik.yml, /etc/traefik/traefik.yaml, /etc/traefik/traefik.toml",
        "Traefik's static configuration: its certificate resolvers and entry points, and the acme.json storage each resolver names.",
    ),
    // Issue 20 item 6.
    (
        "/proc/PID/root/etc/nginx/nginx.conf, /proc/PID/task/PID/children",
        "The configuration of an nginx running in a container that takes port 80 or 443: its master among the container's processes, then its main file (-c, or /etc/nginx/nginx.conf) and every include, read through the container's root; nothing is started in the container.",
    ),
    (
        "the file provider's filename or directory of /etc/traefik/traefik.*",
        "Traefik's dynamic configuration (YAML or TOML): the routers and middlewares that take the challenge path on the entry point of port 80.",
    ),
    (
        "/etc/dehydrated/config, /etc/dehydrated/conf.d/, /etc/dehydrated/domains.txt, /usr/local/etc/dehydrated/config, /var/lib/dehydrated/, /var/www/dehydrated/",
        "dehydrated: its configuration, the names it renews, their certificates and its challenge directory (WELLKNOWN).",
    ),
    (
        "/etc/ssl/uacme/, /var/www/.well-known/acme-challenge/",
        "uacme: its certificates, and the packaged hook's challenge directory; the units and cron lines that run it name the rest.",
    ),
    (
        "/var/log/letsencrypt/letsencrypt.log (and .1 to .9)",
        "certbot's log (or the logs-dir of its cli.ini): each certificate's last logged failure. Only the last 4 MiB of a log is read.",
    ),
    (
        "/var/log/journal/, /run/log/journal/",
        "Whether a journal exists; if so, journalctl -o json -u UNIT reads the last failure of the lego, dehydrated, uacme, Caddy and Traefik units.",
    ),
    (
        "/etc/cron.daily/, /etc/cron.weekly/",
        "Cron scripts that run dehydrated or uacme, and the log files their lines append to.",
    ),
    (
        "DIR/.well-known/acme-challenge/",
        "--webroot DIR, and under --all each webroot the clients name: a token file is written there, fetched as the CA would, and removed.",
    ),
];

/// Commands run to read what no file holds.
const COMMANDS: &str = "The firewall is read with nft list ruleset and with iptables-nft-save, iptables-legacy-save and their ip6tables twins (or iptables-save and ip6tables-save), nginx's configuration with nginx -T and Apache's with apache2ctl -S (or apachectl -S), and the virtual host files they name; each only when it is installed, its output capped.";

const EXAMPLES: &[(&str, &str)] = &[
    (
        "acme-doctor example.com",
        "Diagnose one name on the server, with http-01.",
    ),
    (
        "acme-doctor --method dns-01 --expect-txt VALUE example.com",
        "Check a dns-01 challenge's TXT record as the CA would.",
    ),
    (
        "acme-doctor --all",
        "Check every certificate the ACME clients on this host renew, each with its own method and webroot.",
    ),
    (
        "acme-doctor -f names.txt --ndjson",
        "Check a list of names, one JSON object per name as each finishes; a bad line is reported and skipped.",
    ),
    (
        "acme-doctor example.com --vantage https://vantage.example:8443 --vantage-token-file token",
        "Add the view from outside, from an acme-doctor serve elsewhere.",
    ),
    (
        "acme-doctor example.com --report > report.md",
        "A Markdown report to paste into a forum or an issue.",
    ),
    (
        "acme-doctor explain ipv6-disabled",
        "What a finding means, how to confirm it and how to fix it.",
    ),
    (
        "acme-doctor man > acme-doctor.1 && man -l acme-doctor.1",
        "This page.",
    ),
];

/// Text for a roff line: backslashes and hyphens escaped, apostrophes as the page's own
/// `\*(Aq`, and a leading `.` or `'` kept from being read as a request.
fn esc(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '\'' => out.push_str("\\*(Aq"),
            _ => out.push(c),
        }
    }
    if out.starts_with('.') {
        out.insert_str(0, "\\&");
    }
    out
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", esc(text))
}

fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", esc(text))
}

/// `[-f|--file FILE]`: every visible option with its value names, then the positionals.
fn synopsis_line(cmd: &Command, words: &str) -> String {
    let mut parts = vec![bold(words)];
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        // --help and --version are in OPTIONS; the synopsis shows what a run takes.
        let help_or_version = matches!(
            arg.get_action(),
            clap::ArgAction::Help
                | clap::ArgAction::HelpShort
                | clap::ArgAction::HelpLong
                | clap::ArgAction::Version
        );
        if arg.is_positional() || help_or_version {
            continue;
        }
        let name = match (arg.get_short(), arg.get_long()) {
            (Some(s), Some(l)) => format!("{}|{}", bold(&format!("-{s}")), bold(&format!("--{l}"))),
            (Some(s), None) => bold(&format!("-{s}")),
            (None, Some(l)) => bold(&format!("--{l}")),
            (None, None) => continue,
        };
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values())
            && !matches!(
                arg.get_action(),
                clap::ArgAction::SetTrue | clap::ArgAction::SetFalse | clap::ArgAction::Count
            );
        let value = if takes_value {
            format!(" {}", italic(&value_name(arg)))
        } else {
            String::new()
        };
        let repeat = if matches!(arg.get_action(), clap::ArgAction::Append) {
            "..."
        } else {
            ""
        };
        parts.push(format!("[{name}{value}]{repeat}"));
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let many = matches!(arg.get_action(), clap::ArgAction::Append);
        let name = format!(
            "{}{}",
            italic(&value_name(arg)),
            if many { "..." } else { "" }
        );
        parts.push(if arg.is_required_set() {
            name
        } else {
            format!("[{name}]")
        });
    }
    parts.join(" ")
}

/// The value's name as `--help` shows it (a built command names every value).
fn value_name(arg: &clap::Arg) -> String {
    match arg.get_value_names() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => arg.get_id().as_str().to_ascii_uppercase(),
    }
}

fn synopsis(cmd: &Command) -> String {
    let name = cmd.get_name();
    let mut lines = vec![synopsis_line(cmd, name)];
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        lines.push(synopsis_line(sub, &format!("{name} {}", sub.get_name())));
    }
    format!(".SH SYNOPSIS\n{}\n", lines.join("\n.br\n"))
}

/// The sections clap does not write, in roff (the table for tbl).
fn own_sections() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n.TS\ntab(@);\nlb lx.\n");
    for (code, meaning) in EXIT_STATUS {
        out.push_str(&format!("{code}@T{{\n{}\nT}}\n", esc(meaning)));
    }
    out.push_str(".TE\n.SH ENVIRONMENT\n");
    for (name, meaning) in ENVIRONMENT {
        out.push_str(&format!(".TP\n{}\n{}\n", bold(name), esc(meaning)));
    }
    out.push_str(".SH FILES\n");
    for (paths, meaning) in FILES {
        out.push_str(&format!(".TP\n{}\n{}\n", italic(paths), esc(meaning)));
    }
    out.push_str(&format!(".PP\n{}\n", esc(COMMANDS)));
    out.push_str(".SH EXAMPLES\n");
    for (command, meaning) in EXAMPLES {
        out.push_str(&format!(".TP\n{}\n{}\n", bold(command), esc(meaning)));
    }
    out
}

/// The page: clap_mangen's sections, its synopsis replaced by one with value names, its
/// after-help (the exit codes on one line) by EXIT STATUS, and the sections above before
/// VERSION. The first line asks man to run tbl.
pub fn render(mut cmd: Command) -> Result<String, std::io::Error> {
    // Built, every argument knows how many values it takes.
    cmd.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    let page = String::from_utf8_lossy(&out).into_owned();
    let mut sections: Vec<String> = Vec::new();
    for line in page.lines() {
        if line.starts_with(".SH ") || sections.is_empty() {
            sections.push(String::new());
        }
        if let Some(s) = sections.last_mut() {
            s.push_str(line);
            s.push('\n');
        }
    }
    let mut text = String::from("'\\\" t\n");
    let mut own_written = false;
    for section in sections {
        let title = section.lines().next().unwrap_or_default();
        match title {
            ".SH SYNOPSIS" => text.push_str(&synopsis(&cmd)),
            // clap's after-help: the exit codes, now a table of their own.
            ".SH EXTRA" => {}
            ".SH VERSION" => {
                text.push_str(&own_sections());
                own_written = true;
                text.push_str(&section);
            }
            _ => text.push_str(&section),
        }
    }
    if !own_written {
        text.push_str(&own_sections());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> String {
        render(<super::super::args::Args as clap::CommandFactory>::command()).unwrap_or_default()
    }

    #[test]
    fn the_synopsis_names_the_values() {
        let page = page();
        let synopsis = page
            .split(".SH SYNOPSIS\n")
            .nth(1)
            .and_then(|s| s.split(".SH ").next())
            .unwrap_or_default();
        for want in [
            "[\\fB\\-f\\fR|\\fB\\-\\-file\\fR \\fIFILE\\fR]",
            "[\\fB\\-\\-timeout\\fR \\fIDURATION\\fR]",
            "[\\fB\\-\\-method\\fR \\fIMETHOD\\fR]",
            "[\\fB\\-\\-vantage\\fR \\fIURL\\fR]...",
            "[\\fB\\-\\-json\\fR]",
            "[\\fIDOMAIN\\fR...]",
            "\\fBacme\\-doctor explain\\fR [\\fB\\-\\-markdown\\fR] [\\fICODE\\fR]",
        ] {
            assert!(synopsis.contains(want), "missing {want} in\n{synopsis}");
        }
        assert!(
            !synopsis.contains("client\\-root"),
            "hidden flags stay hidden"
        );
    }

    #[test]
    fn every_exit_status_of_the_code_is_in_the_table() {
        use crate::exit::Exit;
        for exit in [
            Exit::Pass,
            Exit::Blocker,
            Exit::Error,
            Exit::Incomplete,
            Exit::Interrupted,
            Exit::Terminated,
        ] {
            assert!(
                EXIT_STATUS.iter().any(|(code, _)| *code == exit.code()),
                "{exit:?}"
            );
        }
        assert_eq!(EXIT_STATUS.len(), 6);
        let page = page();
        assert!(page.starts_with("'\\\" t\n"), "tbl is asked for");
        assert!(!page.contains(".SH EXTRA"));
        let at = |s: &str| page.find(s).unwrap_or(usize::MAX);
        assert!(at(".SH \"EXIT STATUS\"") < at(".SH VERSION"));
    }

    /// The program's own code in `src/DIR` (each file up to its tests, and no file that is a
    /// test module of its own: `tests.rs`, `testkit.rs`), file by file.
    fn sources(dir: &str) -> Vec<(std::path::PathBuf, String)> {
        let mut files = Vec::new();
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
                let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("tests.rs")
                    && !path.ends_with("testkit.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                    files.push((path, code.to_string()));
                }
            }
        }
        files
    }

    /// Every absolute path a probe names (a string literal such as `"/etc/lego"` or
    /// `"/proc/{pid}/exe"`) is in FILES, up to its first placeholder.
    #[test]
    fn every_path_the_probes_read_is_in_files() {
        let re =
            regex_lite::Regex::new(r#""(/(?:etc|proc|var|run|root|home|usr|lib|acme\.sh)[^"]*)""#)
                .unwrap_or_else(|e| panic!("{e}"));
        let files: String = FILES
            .iter()
            .map(|(paths, _)| format!("{paths}\n"))
            .collect();
        let mut checked = 0;
        for (path, code) in sources("src/probe") {
            for c in re.captures_iter(&code) {
                let literal = &c[1];
                // `/proc/{pid}/exe` is listed as `/proc/PID/exe`; `/proc/x is not mounted`
                // is a message.
                let known = literal.split(['{', ' ']).next().unwrap_or_default();
                let known = known.trim_end_matches('/');
                assert!(
                    files.contains(known),
                    "{}: {literal} is read but not in FILES",
                    path.display()
                );
                checked += 1;
            }
        }
        assert!(checked > 20, "only {checked} paths found");
    }

    /// Every `std::env::var("…")` and `var_os("…")` in `src/` is in ENVIRONMENT.
    #[test]
    fn every_environment_variable_the_code_reads_is_documented() {
        let re = regex_lite::Regex::new(r#"var(?:_os)?\("([A-Z][A-Z0-9_]*)"\)"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut found = Vec::new();
        // Only what the program reads, not what its tests set.
        for (_, code) in sources("src") {
            for c in re.captures_iter(&code) {
                found.push(c[1].to_string());
            }
        }
        for name in ["NO_COLOR", "ACME_DOCTOR_VANTAGES", "DOCKER_HOST"] {
            assert!(found.iter().any(|f| f == name), "{name} no longer read?");
        }
        for name in found {
            assert!(
                ENVIRONMENT
                    .iter()
                    .any(|(names, _)| names.split(", ").any(|n| n == name)),
                "{name} is read but not in ENVIRONMENT"
            );
        }
    }
}
