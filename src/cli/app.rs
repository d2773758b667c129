//! One run of the application: saved facts or fresh probes, the diagnosis of every target,
//! the rendering, and the exit code.

use super::args::{Args, Command, validate};
use super::error::ToolError;
use super::facts_file::{load_facts, save_facts};
use super::print_stdout;
use crate::config::{Config, FailOn, Output};
use crate::diagnose::{self, Diagnosis, Verdict};
use crate::exit::Exit;
use crate::facts::{RunFacts, TargetFacts};
use crate::probe::{self, System};
use crate::render::{self, Outcome, Palette, json};
use std::sync::Arc;

pub fn run(args: Args, invocation: String) -> Result<Exit, ToolError> {
    match &args.command {
        Some(Command::Explain { code }) => return explain(code.as_deref(), args.json),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Args as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "acme-doctor", &mut out);
            print_stdout(&String::from_utf8_lossy(&out));
            return Ok(Exit::Pass);
        }
        Some(Command::Man) => {
            let cmd = <Args as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| ToolError::internal(format!("cannot render the manual: {e}")))?;
            print_stdout(&String::from_utf8_lossy(&out));
            return Ok(Exit::Pass);
        }
        None => {}
    }
    let config = validate(args, invocation)?;
    // `--ndjson` prints each name as soon as it is diagnosed, in completion order; `index`
    // gives the input order back.
    let streaming = config.output == Output::Ndjson && config.from_facts.is_none();
    let print_one = |run: &RunFacts, index: usize, target: &TargetFacts| {
        let outcome = Outcome {
            run,
            target,
            diagnosis: diagnose::diagnose(run, target),
            index,
        };
        print_stdout(&json::render_ndjson(std::slice::from_ref(&outcome)));
    };
    let runs = match &config.from_facts {
        Some(path) => load_facts(path)?,
        None => vec![probe_all(&config, streaming.then_some(&print_one))?],
    };
    let outcomes: Vec<Outcome> = runs
        .iter()
        .flat_map(|run| run.targets.iter().map(move |target| (run, target)))
        .enumerate()
        .map(|(index, (run, target))| Outcome {
            run,
            target,
            diagnosis: diagnose::diagnose(run, target),
            index,
        })
        .collect();
    // `--color always` colours a pipe too (`| less -R`); `never` and `auto` off a terminal do not.
    colored::control::set_override(config.color);
    let text = match config.output {
        Output::Human => render::human::render(
            &outcomes,
            &Palette {
                enabled: config.color,
            },
            config.verbose,
        ),
        Output::Json => json::render(&outcomes),
        Output::Ndjson if streaming => String::new(),
        Output::Ndjson => json::render_ndjson(&outcomes),
        Output::Report => render::report::render(&outcomes, &config.invocation),
    };
    if !text.is_empty() {
        print_stdout(&text);
    }
    // The diagnosis is printed first: a failed write of the facts file must not lose it. Its
    // error then goes to stderr, so that stdout stays one JSON document under --json.
    if let Some(Err(err)) = config
        .save_facts
        .as_ref()
        .map(|path| save_facts(path, &runs))
    {
        if matches!(config.output, Output::Json | Output::Ndjson) {
            eprintln!("{}", json::render_error(err.kind, &err.message, false));
        } else {
            eprintln!(
                "acme-doctor: error: {}",
                crate::sanitize::line(&err.message, 2000)
            );
        }
        return Ok(Exit::Error);
    }
    Ok(outcomes
        .iter()
        .map(|o| exit_for(&o.diagnosis, config.fail_on))
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

/// Probes every name of the command line in one run: one host snapshot, every target
/// concurrently.
/// A name as soon as it is done, with the run's host snapshot.
type Streamed<'a> = &'a (dyn Fn(&RunFacts, usize, &TargetFacts) + Sync);

fn probe_all(config: &Config, stream: Option<Streamed>) -> Result<RunFacts, ToolError> {
    raise_open_files_limit(config.verbose);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ToolError::internal(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        // --webroot: a real token file, removed on every way out: its guard on return (error
        // or not), the signal task on Ctrl-C and SIGTERM.
        let token =
            match &config.webroot {
                Some(dir) => {
                    probe::token::cleanup_on_signals().map_err(|e| {
                        ToolError::internal(format!("cannot watch for Ctrl-C and SIGTERM: {e}"))
                    })?;
                    Some(probe::token::create(dir).map_err(|e| {
                        ToolError::input(format!("--webroot {}: {e}", dir.display()))
                    })?)
                }
                None => None,
            };
        let with_token;
        let config = match &token {
            Some(t) => {
                let mut c = config.clone();
                c.expect_body = Some(t.content().to_string());
                with_token = c;
                &with_token
            }
            None => config,
        };
        let system = System {
            dns: probe::dns::HickoryDns::new(config.resolver, config.timeout)
                .map_err(ToolError::input)?,
            tcp: probe::tcp::SocketConnect,
            http: probe::http::ReqwestHttp,
            host: probe::host::LinuxHost {
                ports: vec![diagnose::ca::HTTP01_PORT, diagnose::ca::HTTPS_PORT],
            },
        };
        let many = config.domains.len() > 1;
        let spinner = config.progress.then(|| {
            let bar = if many {
                // Counts and an ETA for a batch; a spinner for one name.
                let bar = indicatif::ProgressBar::new(config.domains.len() as u64);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{spinner} checking {pos}/{len} names [{bar:30}] {elapsed} (ETA {eta})",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            } else {
                let bar = indicatif::ProgressBar::new_spinner();
                let names: Vec<&str> = config.domains.iter().map(|d| d.input.as_str()).collect();
                bar.set_message(format!(
                    "checking {}: DNS, ports 80/443, HTTP, host state",
                    names.join(", ")
                ));
                bar
            };
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            bar
        });
        let done = |run: Option<&RunFacts>, index: usize, target: &TargetFacts| {
            if let Some(bar) = &spinner {
                bar.inc(1);
            }
            if let (Some(print), Some(run)) = (stream, run) {
                match &spinner {
                    // Keep the bar's line out of the printed lines.
                    Some(bar) => bar.suspend(|| print(run, index, target)),
                    None => print(run, index, target),
                }
            }
        };
        let run = probe::gather(
            config,
            &system.dns,
            &system.tcp,
            &system.http,
            Arc::new(system.host),
            stream.is_some(),
            &done,
        )
        .await;
        if let Some(bar) = spinner {
            bar.finish_and_clear();
        }
        drop(token);
        Ok(run)
    })
}

/// Many names mean many sockets at once: the soft limit on open files (often 1024) is raised to
/// the hard limit, so the tool's own limit never shows up as a server's timeout.
fn raise_open_files_limit(verbose: bool) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft >= hard {
        return;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) if verbose => {
            eprintln!("acme-doctor: raised the open-files limit from {soft} to {hard}");
        }
        Ok(()) => {}
        Err(e) if verbose => {
            eprintln!("acme-doctor: the open-files limit stays at {soft}: {e}");
        }
        Err(_) => {}
    }
}
