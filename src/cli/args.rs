//! The command line as clap sees it, and its validation into a [`Config`], once. Nothing
//! after this reads the raw arguments.

use super::error::ToolError;
use crate::config::{self, Config, FailOn, Output, Target};
use crate::facts::Method;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "acme-doctor",
    version,
    about = "Tells why an ACME (Let's Encrypt) http-01 or dns-01 validation fails, and how to fix it",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 pass, 1 blocker found, 2 acme-doctor could not run, 3 incomplete\n\
                  (most often: seen from this host only; --accept-host-only accepts that alone).\n\
                  Explain a finding: acme-doctor explain CODE"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Domain names to check (IDN allowed; *.name is recognised as a wildcard; - reads names
    /// from standard input)
    #[arg(value_name = "DOMAIN")]
    domains: Vec<String>,

    /// Read domain names from FILE, one per line (# starts a comment)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,

    /// Print the diagnosis as JSON (one object, or an array for several domains)
    #[arg(long, conflicts_with_all = ["ndjson", "report"])]
    pub json: bool,

    /// Print one compact JSON object per domain per line
    #[arg(long, conflicts_with = "report")]
    ndjson: bool,

    /// Print a Markdown report to paste into a support ticket
    #[arg(long)]
    report: bool,

    /// Colour the terminal output (honours NO_COLOR in auto)
    #[arg(long, value_enum, default_value_t = ColorArg::Auto, value_name = "WHEN")]
    color: ColorArg,

    /// Per-probe timeout (the CA waits 10 s per connect)
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    timeout: String,

    /// DNS resolver to ask instead of the system's (/etc/resolv.conf)
    #[arg(long, value_name = "IP[:PORT]")]
    resolver: Option<String>,

    /// Validation method to simulate [default: the method this host's ACME client
    /// configuration uses for the name, else http-01]
    #[arg(long, value_enum)]
    method: Option<MethodArg>,

    /// dns-01: the TXT value the ACME client published (compared as the CA compares it)
    #[arg(long, value_name = "VALUE")]
    expect_txt: Option<String>,

    /// http-01: write a real challenge file under DIR/.well-known/acme-challenge/, fetch it as the CA would, remove it
    #[arg(long, value_name = "DIR")]
    webroot: Option<PathBuf>,

    /// http-01: the exact body the challenge URL serves (ACME clients that answer themselves)
    #[arg(long, value_name = "STRING", conflicts_with = "webroot")]
    expect_body: Option<String>,

    /// tls-alpn-01: the key authorization of the pending challenge; the certificate on 443 must
    /// carry its SHA-256 in acmeIdentifier
    #[arg(long, value_name = "KEYAUTH")]
    expect_keyauth: Option<String>,

    /// The CA, for CAA: letsencrypt, zerossl, google, buypass, sectigo, or its issuer domain
    #[arg(long, default_value = "letsencrypt", value_name = "CA")]
    ca: String,

    /// The ACME account URI, for CAA accounturi
    #[arg(long, value_name = "URI")]
    account_uri: Option<String>,

    /// Names checked at once (DNS queries and connections per address are capped too)
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: u16,

    /// Port to ask the authoritative nameservers on (labs; default 53)
    #[arg(long, default_value_t = 53, value_name = "PORT", hide = true)]
    authoritative_port: u16,

    /// CDN ranges to use instead of the shipped ones, in the shipped file's format (labs,
    /// whose "CDN" stands on documentation addresses)
    #[arg(long, value_name = "FILE", hide = true)]
    cdn_ranges: Option<PathBuf>,

    /// Treat reserved and documentation addresses as public (test labs)
    #[arg(long)]
    allow_reserved: bool,

    /// Exit 1 on warnings too, not only on blockers
    #[arg(long, value_enum, default_value_t = FailOnArg::Blocker, value_name = "SEVERITY")]
    fail_on: FailOnArg,

    /// Write the gathered facts as JSON to FILE (for --from-facts)
    #[arg(long, value_name = "FILE")]
    save_facts: Option<PathBuf>,

    /// Diagnose saved facts instead of probing (no network). Several files are joined: the
    /// run saved on the server, and runs saved elsewhere (--save-facts) as outside views
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["domains", "file", "save_facts", "resolver", "allow_reserved", "vantage", "vantages_file", "webroot", "cdn_ranges", "expect_body"])]
    from_facts: Vec<PathBuf>,

    /// Ask an `acme-doctor serve` vantage elsewhere to look from outside (repeatable; also
    /// --vantages-file and ACME_DOCTOR_VANTAGES)
    #[arg(long, value_name = "URL")]
    vantage: Vec<String>,

    /// Read vantage URLs from FILE (one per line, # comments)
    #[arg(long, value_name = "FILE")]
    vantages_file: Option<PathBuf>,

    /// The vantages' bearer token, read from FILE
    #[arg(long, value_name = "FILE")]
    vantage_token_file: Option<PathBuf>,

    /// Trust this CA certificate (PEM) for https:// vantages, besides the system's
    #[arg(long, value_name = "FILE")]
    vantage_ca: Option<PathBuf>,

    /// Check every certificate the ACME clients on this host renew (certbot, acme.sh, lego,
    /// Caddy, Traefik), each name with its own method and webroot, read from their configs
    #[arg(long, conflicts_with_all = ["domains", "file", "from_facts"])]
    all: bool,

    /// Also read this ACME client configuration (a certbot renewal conf, an acme.sh domain
    /// conf, a lego JSON, unit or crontab, a Caddyfile, Traefik's config or acme.json, or a
    /// directory of them); repeatable
    #[arg(long = "client-config", value_name = "PATH")]
    client_config: Vec<PathBuf>,

    /// Prefix for the ACME clients' default paths (tests; default /)
    #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
    client_root: PathBuf,

    /// Show details of every finding, including explained symptoms
    #[arg(short, long)]
    verbose: bool,

    /// Never show the progress spinner
    #[arg(long)]
    no_progress: bool,

    // Issue 21 item 1: Prometheus metrics for the node exporter's textfile collector.
    /// Also write the run's results as Prometheus metrics to FILE (replaced atomically; for
    /// the node exporter's textfile collector, a FILE ending in .prom)
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,

    // Issue 19 item 6: exit codes a cron job can live with.
    /// Exit 0, not 3, when the only thing missing is the outside view (seen from this host
    /// only); the output still says so. For a complete answer: --ca-check or --vantage
    #[arg(long)]
    accept_host_only: bool,

    // Issue 19 item 1: --ca-check and its flags.
    /// After the probes, ask a real ACME CA to validate the names once (a new throwaway
    /// account, one order, never a certificate); Let's Encrypt staging unless
    /// --acme-directory says otherwise
    #[arg(long, conflicts_with = "from_facts")]
    ca_check: bool,

    /// --ca-check: the ACME directory: letsencrypt-staging (default), letsencrypt
    /// (production, counts against its rate limits), or a directory URL
    #[arg(long, value_name = "URL|letsencrypt-staging|letsencrypt")]
    acme_directory: Option<String>,

    /// --ca-check: trust this CA certificate (PEM) for the directory's TLS, besides the
    /// system's (a private CA, Pebble)
    #[arg(long, value_name = "PEM")]
    acme_ca_cert: Option<PathBuf>,

    /// --ca-check: External Account Binding key id, for a CA that requires it
    #[arg(long, value_name = "KID")]
    eab_kid: Option<String>,

    /// --ca-check: External Account Binding HMAC key (base64url)
    #[arg(long, value_name = "KEY")]
    eab_hmac_key: Option<String>,

    /// --ca-check with dns-01: the command that publishes and removes the TXT record, run as
    /// certbot's manual hooks are (CERTBOT_DOMAIN, CERTBOT_VALIDATION; last argument and
    /// ACME_DOCTOR_HOOK: publish or cleanup)
    #[arg(long, value_name = "CMD")]
    dns_hook: Option<String>,

    /// --ca-check: how long the whole validation may take
    #[arg(long, value_name = "DURATION")]
    ca_check_timeout: Option<String>,
    // Issue 19 item 3: the CA's own words as evidence.
    /// The CA's error as your ACME client printed it (Boulder's detail, certbot's
    /// Domain/Type/Detail block, lego's or acme.sh's error line, a Caddy or Traefik log line,
    /// cert-manager's Challenge reason, an ACME problem document): joined with the facts as
    /// the CA's own view; repeatable; - reads standard input
    #[arg(long = "ca-error", value_name = "TEXT")]
    ca_error: Vec<String>,

    // Issue 20 item 3: DNS-01 in its window.
    /// dns-01 with --expect-txt: first wait (up to DURATION: 90s, 5m) until every
    /// authoritative server, at its IPv4 and IPv6 addresses, and the resolver serve the value;
    /// exit 1 at the deadline naming the servers that lag (a hook's last step)
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from_facts", "all", "ca_check"])]
    wait: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the catalogue entry of a finding code (without CODE: list the codes)
    Explain {
        /// A finding code, in any case (a typo gets the nearest codes)
        #[arg(value_name = "CODE", value_parser = CodeParser, hide_possible_values = true)]
        code: Option<String>,
        /// Print the entry's raw Markdown, as when standard output is not a terminal
        #[arg(long)]
        markdown: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff): acme-doctor man > acme-doctor.1
    Man,
    /// Run a vantage: a small HTTP API that looks at a name from here, for runs elsewhere
    /// (--vantage URL)
    Serve(crate::serve::ServeArgs),
}

/// `explain CODE`: any text is taken (an unknown code is answered by `explain` itself, with
/// the nearest codes), and every code is offered to the shells' completions (issue 21 item 4).
#[derive(Clone, Debug)]
struct CodeParser;

impl clap::builder::TypedValueParser for CodeParser {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        Ok(value.to_string_lossy().into_owned())
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(crate::diagnose::Code::ALL.iter().map(|code| {
            clap::builder::PossibleValue::new(code.as_str()).help(crate::catalogue::summary(*code))
        })))
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum MethodArg {
    #[value(name = "http-01")]
    Http01,
    #[value(name = "dns-01")]
    Dns01,
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FailOnArg {
    Blocker,
    Warning,
}

pub fn validate(args: Args, invocation: String) -> Result<Config, ToolError> {
    let output = if args.json {
        Output::Json
    } else if args.ndjson {
        Output::Ndjson
    } else if args.report {
        Output::Report
    } else {
        Output::Human
    };
    if args.domains.is_empty() && args.file.is_none() && args.from_facts.is_empty() && !args.all {
        return Err(ToolError::usage(
            "no domain given: acme-doctor example.com (or --all, --from-facts FILE, or explain CODE)",
        ));
    }
    let method = match args.method {
        None | Some(MethodArg::Http01) => Method::Http01,
        Some(MethodArg::Dns01) => Method::Dns01,
        Some(MethodArg::TlsAlpn01) => Method::TlsAlpn01,
    };
    // Issue 20 item 4: without --method (or a flag only http-01 has), this host's ACME
    // client configuration may give each name its method (`cli::method_from`).
    let method_given =
        args.method.is_some() || args.webroot.is_some() || args.expect_body.is_some();
    if args.ca_error.iter().any(|t| t == "-") && args.domains.iter().any(|d| d == "-") {
        return Err(ToolError::usage(
            "standard input can be read once: give the names with -f FILE, or the CA's error as --ca-error TEXT",
        ));
    }
    let ca_pasted = super::ca_words::read(&args.ca_error)?;
    let (names, rejected) = if !args.from_facts.is_empty() || args.all {
        (Vec::new(), Vec::new())
    } else {
        collect_domains(&args.domains, args.file.as_deref())?
    };
    let targets: Vec<Target> = names
        .into_iter()
        .map(|domain| Target::of_run(domain, method))
        .collect();
    check_ip_identifiers(&targets, method, args.allow_reserved)?;
    if args.expect_txt.is_some() && !matches!(args.method, Some(MethodArg::Dns01)) {
        return Err(ToolError::usage(
            "--expect-txt is the dns-01 challenge value: use it with --method dns-01",
        ));
    }
    if (args.webroot.is_some() || args.expect_body.is_some())
        && !matches!(args.method, None | Some(MethodArg::Http01))
    {
        return Err(ToolError::usage(
            "--webroot and --expect-body are for the http-01 challenge: drop --method dns-01",
        ));
    }
    // Issue 19 item 1: `--webroot auto` (the root nginx serves the challenge from) is for
    // --ca-check only; it is taken out of `webroot` here.
    let webroot_auto = args.webroot.as_deref() == Some(std::path::Path::new("auto"));
    if webroot_auto && !args.ca_check {
        return Err(ToolError::usage(
            "--webroot auto reads nginx's root for --ca-check: add --ca-check, or give the directory",
        ));
    }
    let mut args = args;
    if webroot_auto {
        args.webroot = None;
    }
    let ca_check = ca_check_config(&args, webroot_auto)?;
    let wait = wait_config(&args, targets.len())?;
    if let Some(dir) = &args.webroot
        && !dir.is_dir()
    {
        return Err(ToolError::input(format!(
            "--webroot {}: not a directory",
            dir.display()
        )));
    }
    let cdn_ranges = args
        .cdn_ranges
        .as_deref()
        .map(crate::cdn::read_override)
        .transpose()
        .map_err(ToolError::input)?;
    if let Some(body) = &args.expect_body
        && (body.is_empty() || body.len() > 1024)
    {
        return Err(ToolError::usage(
            "--expect-body: give the key authorization the ACME client serves (1 to 1024 bytes)",
        ));
    }
    if args.expect_keyauth.is_some()
        && matches!(
            args.method,
            None | Some(MethodArg::Http01 | MethodArg::Dns01)
        )
    {
        return Err(ToolError::usage(
            "--expect-keyauth is the tls-alpn-01 key authorization: use it with --method tls-alpn-01 (http-01 has --expect-body)",
        ));
    }
    if let Some(keyauth) = &args.expect_keyauth
        && (keyauth.is_empty() || keyauth.len() > 1024)
    {
        return Err(ToolError::usage(
            "--expect-keyauth: give the key authorization, token.thumbprint (1 to 1024 bytes)",
        ));
    }
    let timeout = config::parse_duration(&args.timeout).map_err(ToolError::usage)?;
    let resolver = args
        .resolver
        .as_deref()
        .map(config::parse_resolver)
        .transpose()
        .map_err(ToolError::usage)?;
    let (vantages, vantage_token) = vantages(&args)?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = output == Output::Human
        && match args.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => !no_color && std::io::stdout().is_terminal(),
        };
    Ok(Config {
        targets,
        method,
        method_given,
        timeout,
        resolver,
        allow_reserved: args.allow_reserved,
        expect_txt: args.expect_txt,
        webroot: args.webroot,
        cdn_ranges,
        expect_body: args.expect_body,
        expect_keyauth: args.expect_keyauth,
        ca_issuer: config::issuer_domain(&args.ca).map_err(ToolError::usage)?,
        account_uri: args.account_uri,
        authoritative_port: args.authoritative_port,
        jobs: usize::from(args.jobs),
        output,
        color,
        glyphs: crate::render::path::glyphs_for(|name| std::env::var(name).ok()),
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        verbose: args.verbose,
        fail_on: match args.fail_on {
            FailOnArg::Blocker => FailOn::Blocker,
            FailOnArg::Warning => FailOn::Warning,
        },
        accept_host_only: args.accept_host_only,
        save_facts: args.save_facts,
        from_facts: args.from_facts,
        vantages,
        vantage_token,
        vantage_ca: args.vantage_ca,
        invocation,
        clients: config::ClientsConfig {
            all: args.all,
            extra: args.client_config,
            root: args.client_root,
        },
        rejected,
        metrics: args.metrics,
        ca_check,
        ca_pasted,
        wait,
    })
}

/// Issue 20 item 3: `--wait` waits for one value of one name, the dns-01 challenge's.
fn wait_config(args: &Args, names: usize) -> Result<Option<std::time::Duration>, ToolError> {
    let Some(text) = &args.wait else {
        return Ok(None);
    };
    let wait = config::parse_wait(text).map_err(ToolError::usage)?;
    if !matches!(args.method, Some(MethodArg::Dns01)) || args.expect_txt.is_none() {
        return Err(ToolError::usage(
            "--wait waits for a dns-01 TXT value: use it with --method dns-01 --expect-txt VALUE",
        ));
    }
    if names != 1 {
        return Err(ToolError::usage(
            "--wait waits for one name's TXT value: give exactly one name",
        ));
    }
    Ok(Some(wait))
}

/// Issue 19 item 1: `--ca-check` and its flags, checked once.
fn ca_check_config(
    args: &Args,
    webroot_auto: bool,
) -> Result<Option<config::CaCheckConfig>, ToolError> {
    if !args.ca_check {
        let given = [
            ("--acme-directory", args.acme_directory.is_some()),
            ("--acme-ca-cert", args.acme_ca_cert.is_some()),
            ("--eab-kid", args.eab_kid.is_some()),
            ("--eab-hmac-key", args.eab_hmac_key.is_some()),
            ("--dns-hook", args.dns_hook.is_some()),
            ("--ca-check-timeout", args.ca_check_timeout.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            return Err(ToolError::usage(format!(
                "{flag} belongs to --ca-check: add --ca-check"
            )));
        }
        return Ok(None);
    }
    if args.eab_kid.is_some() != args.eab_hmac_key.is_some() {
        return Err(ToolError::usage(
            "External Account Binding needs both --eab-kid and --eab-hmac-key",
        ));
    }
    if matches!(args.method, Some(MethodArg::Dns01)) && args.dns_hook.is_none() && !args.all {
        return Err(ToolError::usage(
            "--ca-check with dns-01 publishes the TXT record only through --dns-hook CMD",
        ));
    }
    if let Some(hook) = &args.dns_hook
        && (hook.trim().is_empty() || hook.len() > 4096)
    {
        return Err(ToolError::usage(
            "--dns-hook: give a command (1 to 4096 bytes)",
        ));
    }
    let directory = config::parse_acme_directory(
        args.acme_directory
            .as_deref()
            .unwrap_or(config::LETSENCRYPT_STAGING),
    )
    .map_err(ToolError::usage)?;
    if let Some(pem) = &args.acme_ca_cert
        && !pem.is_file()
    {
        return Err(ToolError::input(format!(
            "--acme-ca-cert {}: not a file",
            crate::sanitize::line(&pem.display().to_string(), 200)
        )));
    }
    let eab = match (&args.eab_kid, &args.eab_hmac_key) {
        (Some(kid), Some(key)) => Some(config::Eab {
            kid: kid.trim().to_string(),
            hmac_key: config::parse_eab_key(key).map_err(ToolError::usage)?,
        }),
        _ => None,
    };
    let deadline = config::parse_duration(args.ca_check_timeout.as_deref().unwrap_or("90s"))
        .map_err(|e| ToolError::usage(format!("--ca-check-timeout: {e}")))?;
    Ok(Some(config::CaCheckConfig {
        directory,
        ca_cert: args.acme_ca_cert.clone(),
        eab,
        dns_hook: args.dns_hook.clone(),
        webroot_auto,
        deadline,
    }))
}

/// IP identifiers the CA refuses, refused here in its words (`docs/ca-behaviour.md` §11.2,
/// §11.7): DNS-01 for any of them, and a reserved address unless `--allow-reserved`.
fn check_ip_identifiers(
    targets: &[Target],
    method: Method,
    allow_reserved: bool,
) -> Result<(), ToolError> {
    let domains = || targets.iter().map(|t| &t.domain);
    if !method.validates_ip()
        && let Some(ip) = domains().find(|d| d.ip.is_some())
    {
        return Err(ToolError::usage(format!(
            "{}: {}",
            ip.ascii,
            crate::diagnose::ca::DNS01_FOR_IP
        )));
    }
    match domains().find_map(|d| ip_refusal(d, allow_reserved)) {
        Some(refusal) => Err(ToolError::input(refusal)),
        None => Ok(()),
    }
}

/// The CA's refusal of a reserved IP identifier, unless `--allow-reserved`.
pub fn ip_refusal(domain: &crate::domain::DomainName, allow_reserved: bool) -> Option<String> {
    if allow_reserved {
        return None;
    }
    domain.reserved_refusal().map(|refusal| {
        format!(
            "{} is a reserved address, and the CA refuses it at order time: {refusal} (--allow-reserved treats reserved and documentation addresses as public, for test labs)",
            domain.ascii
        )
    })
}

/// The vantages of `--vantage`, `--vantages-file` and `ACME_DOCTOR_VANTAGES`, each once, and
/// the token they expect.
fn vantages(args: &Args) -> Result<(Vec<url::Url>, Option<String>), ToolError> {
    let mut urls = Vec::new();
    for v in &args.vantage {
        urls.push(config::parse_vantage(v).map_err(ToolError::usage)?);
    }
    if let Some(path) = &args.vantages_file {
        let shown = crate::sanitize::line(&path.display().to_string(), 200);
        let mut f = std::fs::File::open(path)
            .map_err(|e| ToolError::input(format!("cannot read {shown}: {e}")))?;
        let text = read_list(&mut f, &shown)?;
        urls.extend(
            config::vantage_list(&text).map_err(|e| ToolError::input(format!("{shown}: {e}")))?,
        );
    }
    if args.from_facts.is_empty()
        && let Some(env) = std::env::var_os("ACME_DOCTOR_VANTAGES")
    {
        let text = env.to_string_lossy();
        urls.extend(
            config::vantage_list(&text)
                .map_err(|e| ToolError::usage(format!("ACME_DOCTOR_VANTAGES: {e}")))?,
        );
    }
    let mut seen = std::collections::HashSet::new();
    urls.retain(|u| seen.insert(u.as_str().to_string()));
    let token = match &args.vantage_token_file {
        None => None,
        Some(path) => Some(crate::serve::read_token(path).map_err(ToolError::input)?),
    };
    if !urls.is_empty() && token.is_none() {
        return Err(ToolError::usage(
            "--vantage needs --vantage-token-file FILE: vantages answer only with their token",
        ));
    }
    Ok((urls, token))
}

/// Largest domain list accepted: a million names fit in far less.
const LIST_CAP: u64 = 64 * 1024 * 1024;

/// Reads a list through a cap, not by the size the file claims (a FIFO or a device has none).
fn read_list(source: &mut dyn std::io::Read, shown: &str) -> Result<String, ToolError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    source
        .take(LIST_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::input(format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > LIST_CAP {
        return Err(ToolError::input(format!(
            "{shown} is larger than {LIST_CAP} bytes"
        )));
    }
    String::from_utf8(bytes).map_err(|_| ToolError::input(format!("{shown} is not UTF-8 text")))
}

/// The names of the command line, of `-f FILE` and of standard input (`-`), in that order,
/// each once, and the lines of the lists that are not a name (a bad argument stops the run
/// at once; a list keeps going, issue 21 item 5). With no good name left the run stops.
fn collect_domains(
    args: &[String],
    file: Option<&std::path::Path>,
) -> Result<(Vec<crate::domain::DomainName>, Vec<String>), ToolError> {
    let mut names = Vec::new();
    let mut rejected = Vec::new();
    let mut add = |(good, bad): (Vec<_>, Vec<String>)| {
        names.extend(good);
        rejected.extend(bad);
    };
    for arg in args {
        if arg == "-" {
            let text = read_list(&mut std::io::stdin().lock(), "standard input")?;
            add(config::domain_list(&text, "standard input"));
        } else {
            add((
                vec![crate::domain::parse(arg).map_err(ToolError::input)?],
                Vec::new(),
            ));
        }
    }
    if let Some(path) = file {
        let shown = crate::sanitize::line(&path.display().to_string(), 200);
        let mut f = std::fs::File::open(path)
            .map_err(|e| ToolError::input(format!("cannot read {shown}: {e}")))?;
        let text = read_list(&mut f, &shown)?;
        add(config::domain_list(&text, &shown));
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert((n.ascii.clone(), n.wildcard)));
    if names.is_empty() {
        // One line still (the error contract), naming the first bad lines.
        const SHOWN: usize = 10;
        return Err(ToolError::input(match rejected.as_slice() {
            [] => "the domain list holds no names".to_string(),
            [only] => only.clone(),
            all => format!(
                "the domain list holds no valid name: {}{}",
                all[..all.len().min(SHOWN)].join("; "),
                if all.len() > SHOWN {
                    format!("; and {} more bad lines", all.len() - SHOWN)
                } else {
                    String::new()
                }
            ),
        }));
    }
    Ok((names, rejected))
}
