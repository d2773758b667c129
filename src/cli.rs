//! The command line: clap parses, [`Config`] validates once, then the pipeline runs
//! (probe → facts → diagnose → render) and the exit code is chosen.

use crate::config::{self, Config, FailOn, Output};
use crate::diagnose::{self, Diagnosis, Verdict};
use crate::exit::Exit;
use crate::facts::{FACTS_VERSION, Facts, Method};
use crate::probe::{self, System};
use crate::render::{self, Outcome, Palette, json};
use clap::{Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "acme-doctor",
    version,
    about = "Tells why an ACME (Let's Encrypt) http-01 validation fails, and how to fix it",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 pass, 1 blocker found, 2 acme-doctor could not run, 3 incomplete.\n\
                  Explain a finding: acme-doctor explain CODE"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Domain names to check (IDN allowed; *.name is recognised as a wildcard)
    #[arg(value_name = "DOMAIN")]
    domains: Vec<String>,

    /// Print the diagnosis as JSON (one object, or an array for several domains)
    #[arg(long, conflicts_with_all = ["ndjson", "report"])]
    json: bool,

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

    /// Validation method to simulate
    #[arg(long, value_enum, default_value_t = MethodArg::Http01)]
    method: MethodArg,

    /// Treat reserved and documentation addresses as public (test labs)
    #[arg(long)]
    allow_reserved: bool,

    /// Exit 1 on warnings too, not only on blockers
    #[arg(long, value_enum, default_value_t = FailOnArg::Blocker, value_name = "SEVERITY")]
    fail_on: FailOnArg,

    /// Write the gathered facts as JSON to FILE (for --from-facts)
    #[arg(long, value_name = "FILE")]
    save_facts: Option<PathBuf>,

    /// Diagnose saved facts instead of probing (no network)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["domains", "save_facts", "resolver", "allow_reserved"])]
    from_facts: Option<PathBuf>,

    /// Show details of every finding, including explained symptoms
    #[arg(short, long)]
    verbose: bool,

    /// Never show the progress spinner
    #[arg(long)]
    no_progress: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the catalogue entry of a finding code (without CODE: list the codes)
    Explain { code: Option<String> },
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
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FailOnArg {
    Blocker,
    Warning,
}

/// An error that stops acme-doctor itself (exit 2).
#[derive(Debug)]
pub struct ToolError {
    /// `usage`, `input` or `internal`.
    pub kind: &'static str,
    pub message: String,
}

impl ToolError {
    fn input(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: "input",
            message: message.into(),
        }
    }
    fn usage(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: "usage",
            message: message.into(),
        }
    }
    fn internal(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: "internal",
            message: message.into(),
        }
    }
}

pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let json_errors = argv.iter().any(|a| a == "--json" || a == "--ndjson");
    let args = match Args::try_parse_from(&argv) {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Exit::Pass.into();
            }
            if json_errors {
                print_stdout(&json::render_error("usage", &first_line(&e.to_string())));
                return Exit::Error.into();
            }
            eprintln!(
                "acme-doctor: error: {} (see acme-doctor --help)",
                first_line(&e.to_string())
            );
            return Exit::Error.into();
        }
    };
    let invocation = argv
        .iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    match run(args, invocation) {
        Ok(exit) => exit.into(),
        Err(err) => {
            if json_errors {
                print_stdout(&json::render_error(err.kind, &err.message));
            } else {
                eprintln!("acme-doctor: error: {}", err.message);
            }
            Exit::Error.into()
        }
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@[]*,".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}

fn validate(args: Args, invocation: String) -> Result<Config, ToolError> {
    let output = if args.json {
        Output::Json
    } else if args.ndjson {
        Output::Ndjson
    } else if args.report {
        Output::Report
    } else {
        Output::Human
    };
    if args.domains.is_empty() && args.from_facts.is_none() {
        return Err(ToolError::usage(
            "no domain given: acme-doctor example.com (or --from-facts FILE, or explain CODE)",
        ));
    }
    let jobs = config::jobs(&args.domains).map_err(ToolError::input)?;
    let timeout = config::parse_duration(&args.timeout).map_err(ToolError::usage)?;
    let resolver = args
        .resolver
        .as_deref()
        .map(config::parse_resolver)
        .transpose()
        .map_err(ToolError::usage)?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let color = output == Output::Human
        && match args.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => !no_color && std::io::stdout().is_terminal(),
        };
    Ok(Config {
        jobs,
        method: match args.method {
            MethodArg::Http01 => Method::Http01,
        },
        timeout,
        resolver,
        allow_reserved: args.allow_reserved,
        output,
        color,
        progress: !args.no_progress && std::io::stderr().is_terminal(),
        verbose: args.verbose,
        fail_on: match args.fail_on {
            FailOnArg::Blocker => FailOn::Blocker,
            FailOnArg::Warning => FailOn::Warning,
        },
        save_facts: args.save_facts,
        from_facts: args.from_facts,
        invocation,
    })
}

fn run(args: Args, invocation: String) -> Result<Exit, ToolError> {
    if let Some(Command::Explain { code }) = &args.command {
        return explain(code.as_deref(), args.json);
    }
    let config = validate(args, invocation)?;
    let all_facts = match &config.from_facts {
        Some(path) => load_facts(path)?,
        None => probe_all(&config)?,
    };
    let diagnoses: Vec<Diagnosis> = all_facts.iter().map(diagnose::diagnose).collect();
    let outcomes: Vec<Outcome> = all_facts
        .iter()
        .zip(&diagnoses)
        .map(|(facts, diagnosis)| Outcome { facts, diagnosis })
        .collect();
    let text = match config.output {
        Output::Human => render::human::render(
            &outcomes,
            &Palette {
                enabled: config.color,
            },
            config.verbose,
        ),
        Output::Json => render::json::render(&outcomes),
        Output::Ndjson => render::json::render_ndjson(&outcomes),
        Output::Report => render::report::render(&outcomes, &config.invocation),
    };
    print_stdout(&text);
    // The diagnosis is printed first: a failed write of the facts file must not lose it. Its
    // error then goes to stderr, so that stdout stays one JSON document under --json.
    if let Some(Err(err)) = config
        .save_facts
        .as_ref()
        .map(|path| save_facts(path, &all_facts))
    {
        if matches!(config.output, Output::Json | Output::Ndjson) {
            eprintln!(
                "{}",
                json::render_error(err.kind, &err.message).replace('\n', "")
            );
        } else {
            eprintln!("acme-doctor: error: {}", err.message);
        }
        return Ok(Exit::Error);
    }
    Ok(diagnoses
        .iter()
        .map(|d| exit_for(d, config.fail_on))
        .fold(Exit::Pass, Exit::worst))
}

fn exit_for(d: &Diagnosis, fail_on: FailOn) -> Exit {
    match (d.verdict, fail_on) {
        (Verdict::Fail, _) | (Verdict::AtRisk, FailOn::Warning) => Exit::Blocker,
        _ if d.incomplete => Exit::Incomplete,
        _ => Exit::Pass,
    }
}

fn explain(code: Option<&str>, json_out: bool) -> Result<Exit, ToolError> {
    match code {
        None => {
            let lines: Vec<String> = diagnose::Code::ALL
                .iter()
                .map(|c| format!("{:<22} {}", c.as_str(), crate::catalogue::summary(*c)))
                .collect();
            print_stdout(&lines.join("\n"));
            Ok(Exit::Pass)
        }
        Some(slug) => {
            let text = crate::catalogue::explain(slug).map_err(ToolError::usage)?;
            if json_out {
                let value = serde_json::json!({"code": slug.trim(), "explanation": text});
                print_stdout(&value.to_string());
            } else {
                print_stdout(text);
            }
            Ok(Exit::Pass)
        }
    }
}

fn probe_all(config: &Config) -> Result<Vec<Facts>, ToolError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ToolError::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let system = System {
            dns: probe::dns::HickoryDns::new(config.resolver, config.timeout)
                .map_err(ToolError::input)?,
            tcp: probe::tcp::SocketConnect,
            http: probe::http::ReqwestHttp,
            host: probe::host::LinuxHost {
                ports: probe::PORTS.to_vec(),
            },
        };
        let spinner = config.progress.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            let names: Vec<&str> = config.jobs.iter().map(|j| j.input.as_str()).collect();
            bar.set_message(format!(
                "checking {}: DNS, ports 80/443, HTTP, host state",
                names.join(", ")
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            bar
        });
        let host = Arc::new(system.host);
        let gathered = futures_util::future::join_all(config.jobs.iter().map(|job| {
            probe::gather(
                config,
                job,
                &system.dns,
                &system.tcp,
                &system.http,
                Arc::clone(&host),
            )
        }))
        .await;
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        Ok(gathered)
    })
}

/// Largest facts file accepted: saved facts are a few kilobytes; anything huge is a mistake.
const FACTS_FILE_CAP: u64 = 16 * 1024 * 1024;

fn load_facts(path: &Path) -> Result<Vec<Facts>, ToolError> {
    let shown = path.display();
    let unreadable =
        |e: std::io::Error| ToolError::input(format!("cannot read facts file {shown}: {e}"));
    // Read through a cap, not by the size the file claims: a FIFO or a device has none.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(unreadable)?
        .take(FACTS_FILE_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > FACTS_FILE_CAP {
        return Err(ToolError::input(format!(
            "facts file {shown} is larger than {FACTS_FILE_CAP} bytes"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| ToolError::input(format!("facts file {shown} is not UTF-8 text")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ToolError::input(format!("facts file {shown} is not JSON: {e}")))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    if items.is_empty() {
        return Err(ToolError::input(format!(
            "facts file {shown} holds no facts"
        )));
    }
    items
        .into_iter()
        .map(|mut item| {
            // A saved `--json` output carries its facts inside; accept it too.
            if let Some(inner) = item.get_mut("facts") {
                item = inner.take();
            }
            let version = item.get("facts_version").and_then(|v| v.as_u64());
            if version.is_some_and(|v| v > u64::from(FACTS_VERSION)) {
                return Err(ToolError::input(format!(
                    "facts file {shown} was written by a newer acme-doctor (facts_version {})",
                    version.unwrap_or_default()
                )));
            }
            serde_json::from_value::<Facts>(item).map_err(|e| {
                ToolError::input(format!("facts file {shown} is not acme-doctor facts: {e}"))
            })
        })
        .collect()
}

/// Writes next to the target and renames, so an interrupted write never leaves half a file.
fn save_facts(path: &Path, facts: &[Facts]) -> Result<(), ToolError> {
    let text = if facts.len() == 1 {
        serde_json::to_string_pretty(&facts[0])
    } else {
        serde_json::to_string_pretty(facts)
    }
    .map_err(|e| ToolError::internal(format!("cannot encode facts: {e}")))?;
    let shown = path.display();
    let file_name = path
        .file_name()
        .ok_or_else(|| ToolError::input(format!("--save-facts {shown}: not a file name")))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, text + "\n").and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(ToolError::input(format!(
            "cannot write facts file {shown}: {e}"
        )));
    }
    Ok(())
}
