//! One run of the application: saved facts or fresh probes, the diagnosis of every target,
//! the rendering, and the exit code.

use super::args::{Args, Command, validate};
use super::error::ToolError;
use super::facts_file::{join_runs, load_facts, save_facts};
use super::print_stdout;
use super::signals;
use crate::config::{Config, FailOn, Output, Target, TargetSpec};
use crate::diagnose::{self, Diagnosis, Verdict};
use crate::exit::Exit;
use crate::facts::{Challenge, ClientsFacts, ConfigWarning, NameWebroot};
use crate::facts::{RunFacts, TargetFacts};
use crate::probe::{self, System};
use crate::render::{self, Outcome, Palette, json};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, Once, PoisonError};

/// The pipeline: arguments, configuration, facts (probed or loaded), diagnosis, rendering,
/// exit code.
pub fn run(args: Args, invocation: String) -> Result<Exit, ToolError> {
    let args = match run_subcommand(args)? {
        ControlFlow::Continue(args) => args,
        ControlFlow::Break(exit) => return Ok(exit),
    };
    let mut config = validate(args, invocation)?;
    // A run can take minutes: a metrics file that cannot be written says so before it starts.
    if let Some(path) = &config.metrics {
        super::atomic::check_writable(path).map_err(|e| metrics_error(path, &e))?;
    }
    report_rejected(&config);
    // A probing run may write token files: Ctrl-C must find its handler in place before the
    // first one exists, or the default action would end the process and leave it behind.
    if config.from_facts.is_empty() {
        signals::install();
    }
    // Issue 20 item 3: --wait first, so the diagnosis that follows sees the settled zone.
    let waited = match config.wait {
        Some(deadline) => match super::dns_wait::run(&config, deadline)? {
            super::dns_wait::WaitEnd::Stopped(signal) => {
                return Ok(interrupted(&config, signal, &[0]));
            }
            super::dns_wait::WaitEnd::Done(waited) => Some(waited.ready),
        },
        None => None,
    };
    let mut clients = read_clients(&mut config)?;
    // Held until the run is rendered: dropping them removes the token files.
    let _tokens = tokens_for_targets(&mut config, clients.as_mut());
    let stream = Stream::new(&config);
    let mut facts = gather_facts(&config, clients.clone(), &stream)?;
    // Issue 19 item 1: the CA's own validation, after the probes and before the diagnosis.
    if let (Some(check), None) = (&config.ca_check, &facts.stopped)
        && let Some(signal) = super::ca_check::run(&config, check, &mut facts.runs)?
    {
        facts.stopped = Some((signal, (0..config.targets.len()).collect()));
    }
    let outcomes = diagnose_all(&facts.runs);
    render_all(&config, clients.as_ref(), &stream, &facts.runs, &outcomes);
    if let Some((signal, unfinished)) = facts.stopped {
        return Ok(interrupted(&config, signal, &unfinished));
    }
    let facts_written = write_facts_file(&config, &facts.runs);
    let metrics_written =
        write_metrics_file(&config, clients.as_ref(), &stream, &facts.runs, &outcomes);
    if let Err(exit) = facts_written.and(metrics_written) {
        return Ok(exit);
    }
    let names_exit = outcomes
        .iter()
        .map(|o| exit_for(&o.diagnosis, config.fail_on, config.accept_host_only))
        .fold(stream.worst_exit(), Exit::worst);
    let names_exit = match waited {
        // Not ready at the deadline: the CA may ask a server that lacks the value.
        Some(false) => names_exit.worst(Exit::Blocker),
        // Ready: a hook goes on unless something blocks; a fact that could not be gathered
        // (said in the output) does not stop it.
        Some(true) if names_exit == Exit::Incomplete => Exit::Pass,
        _ => names_exit,
    };
    if config.rejected.is_empty() {
        return Ok(names_exit);
    }
    // Said again after the diagnoses, which may have scrolled the first report away; the
    // exit stays 2 so that CI notices the bad lines.
    if config.output == Output::Human || config.output == Output::Report {
        eprintln!(
            "acme-doctor: error: {} line(s) of the domain list were not names and were skipped (listed above)",
            config.rejected.len()
        );
    }
    Ok(names_exit.worst(Exit::Error))
}

/// The lines of a domain list that are not names, on stderr before the run: one error line
/// each (a JSON error object each under `--json`/`--ndjson`, so stdout stays the document).
fn report_rejected(config: &Config) {
    for line in &config.rejected {
        if matches!(config.output, Output::Json | Output::Ndjson) {
            eprintln!(
                "{}",
                json::render_error(crate::exit::ErrorKind::Input, line, false)
            );
        } else {
            eprintln!(
                "acme-doctor: error: {} (line skipped, the other names are checked)",
                crate::sanitize::line(line, 2000)
            );
        }
    }
}

/// The subcommands that are not a diagnosis (`explain`, `completions`, `man`, `serve`) run
/// here to their exit code; a diagnosis gets its arguments back.
fn run_subcommand(args: Args) -> Result<ControlFlow<Exit, Args>, ToolError> {
    match &args.command {
        Some(Command::Explain { code, markdown }) => {
            return explain(code.as_deref(), args.json, *markdown).map(ControlFlow::Break);
        }
        Some(Command::Completions { shell }) => {
            let mut cmd = <Args as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "acme-doctor", &mut out);
            let mut script = String::from_utf8_lossy(&out).into_owned();
            match shell {
                // clap_complete (4.6.12 still) spells a hyphenated binary's subcommand states
                // two ways, `acme__doctor__subcmd__explain` where it sets them and
                // `acme__subcmd__doctor__subcmd__explain` where it matches them, so no
                // subcommand ever completed (clap-rs/clap#6421). One spelling, until it is
                // fixed there.
                clap_complete::Shell::Bash => {
                    script = script.replace("acme__subcmd__doctor", "acme__doctor");
                }
                clap_complete::Shell::Fish => script.push_str(&fish_codes()),
                _ => {}
            }
            print_stdout(&script);
        }
        Some(Command::Man) => {
            let cmd = <Args as clap::CommandFactory>::command();
            let page = super::manual::render(cmd)
                .map_err(|e| ToolError::internal(format!("cannot render the manual: {e}")))?;
            print_stdout(&page);
        }
        Some(Command::Serve(serve)) => crate::serve::run(serve).map_err(ToolError::usage)?,
        None => return Ok(ControlFlow::Continue(args)),
    }
    Ok(ControlFlow::Break(Exit::Pass))
}

/// Issue 21 item 4: bash, zsh (and elvish, powershell) complete `explain CODE` from the
/// argument's possible values; clap_complete's fish script offers a positional's values to
/// no one, so the codes are added as fish's own `complete` lines, under the condition the
/// generated script defines for the subcommand.
fn fish_codes() -> String {
    let quote = |text: &str| text.replace('\\', "\\\\").replace('\'', "\\'");
    diagnose::Code::ALL
        .iter()
        .map(|code| {
            format!(
                "complete -c acme-doctor -n \"__fish_acme_doctor_using_subcommand explain\" -f -a '{}' -d '{}'\n",
                code.as_str(),
                quote(crate::catalogue::summary(*code))
            )
        })
        .collect()
}

/// The ACME clients' configurations: read once, cheaply, for the host facts (a standalone
/// client changes what an empty port 80 means) and, under `--all`, for the names to check,
/// which join the configuration's targets. `None` for a run from saved facts.
fn read_clients(config: &mut Config) -> Result<Option<ClientsFacts>, ToolError> {
    if !config.from_facts.is_empty() {
        return Ok(None);
    }
    let mut found = probe::clients::discover(&probe::clients::Discover {
        root: config.clients.root.clone(),
        extra: config.clients.extra.clone(),
        defaults: true,
    });
    // Issue 20 item 4: a name of the command line gets its configuration's method.
    super::method_from::apply(config, &found);
    if config.clients.all {
        // Issue 19 item 4: each certificate's last failure, from its client's own log.
        probe::clients::logs::attach(
            &mut found,
            &config.clients.root,
            &config.clients.extra,
            &probe::clients::logs::SystemJournal {
                root: config.clients.root.clone(),
            },
        );
        expand_all(config, &mut found)?;
    }
    if config.clients.all || !config.clients.extra.is_empty() {
        for w in &found.warnings {
            eprintln!(
                "acme-doctor: warning: {}",
                crate::sanitize::line(&w.to_string(), 1000)
            );
        }
    }
    Ok(Some(found))
}

/// The facts of the run: probed afresh, or loaded from saved files (several: joined, the
/// host's with the outside runs), and the signal that cut a probing run short, if one did.
struct Facts {
    runs: Vec<RunFacts>,
    stopped: Option<(signals::Stop, Vec<usize>)>,
}

fn gather_facts(
    config: &Config,
    clients: Option<ClientsFacts>,
    stream: &Stream,
) -> Result<Facts, ToolError> {
    let runs = match config.from_facts.as_slice() {
        [] => {
            let print = |run: &RunFacts, index: usize, target: &TargetFacts| {
                stream.print_one(run, index, target);
            };
            let mut gathered = probe_all(config, clients, stream.enabled.then_some(&print))?;
            attach_ca_words(config, std::slice::from_mut(&mut gathered.run));
            return Ok(Facts {
                stopped: gathered.stopped.map(|signal| (signal, gathered.unfinished)),
                runs: vec![gathered.run],
            });
        }
        [path] => load_facts(path)?,
        paths => {
            let mut loaded = Vec::new();
            for path in paths {
                loaded.push((path.display().to_string(), load_facts(path)?));
            }
            join_runs(loaded)
        }
    };
    let mut runs = runs;
    attach_ca_words(config, &mut runs);
    Ok(Facts {
        runs,
        stopped: None,
    })
}

/// `--ca-error` (issue 19 item 3): the pasted words become evidence on the targets they
/// name, or on every target when they name none of the run's.
fn attach_ca_words(config: &Config, runs: &mut [RunFacts]) {
    if config.ca_pasted.is_empty() {
        return;
    }
    let domains: Vec<String> = runs
        .iter()
        .flat_map(|r| r.targets.iter().map(|t| t.target.domain.ascii.clone()))
        .collect();
    let domains: Vec<&str> = domains.iter().map(String::as_str).collect();
    for run in runs {
        for target in &mut run.targets {
            super::ca_words::attach(&config.ca_pasted, &domains, target);
        }
    }
}

/// Every target of every run, diagnosed, in input order.
fn diagnose_all(runs: &[RunFacts]) -> Vec<Outcome<'_>> {
    runs.iter()
        .flat_map(|run| run.targets.iter().map(move |target| (run, target)))
        .enumerate()
        .map(|(index, (run, target))| Outcome {
            run,
            target,
            diagnosis: diagnose::diagnose(run, target),
            index,
        })
        .collect()
}

/// What is left to print once every name is diagnosed: everything, or, for a streamed run,
/// the end of the document (and the host, when no name finished).
fn render_all(
    config: &Config,
    clients: Option<&ClientsFacts>,
    stream: &Stream,
    runs: &[RunFacts],
    outcomes: &[Outcome],
) {
    // `--color always` colours a pipe too (`| less -R`); `never` and `auto` off a terminal do not.
    colored::control::set_override(config.color);
    let palette = Palette {
        enabled: config.color,
        glyphs: config.glyphs,
    };
    // `--all` lists every certificate first, diagnosed or not.
    let listing = clients.filter(|_| config.clients.all);
    // What each logged failure is held against in the listing (issue 19 item 4).
    let today = render::clients::Today::new(
        outcomes
            .iter()
            .map(|o| (o.target.target.domain.ascii.as_str(), &o.diagnosis)),
    );
    let text = match config.output {
        Output::Human => {
            let mut text = listing
                .map(|c| render::clients::human(c, &today, &palette))
                .unwrap_or_default();
            text.push_str(&render::human::render_with(
                outcomes,
                &palette,
                config.verbose,
                config.accept_host_only,
            ));
            text
        }
        Output::Json | Output::Ndjson if stream.enabled => {
            stream.finish(runs.first());
            String::new()
        }
        Output::Json => {
            // Written as it is serialised: a batch's JSON is never held whole in memory. A
            // closed pipe (`| head`) is not an error worth reporting.
            let _ = json::write(outcomes, &mut std::io::stdout().lock());
            String::new()
        }
        Output::Ndjson => json::render_ndjson(outcomes),
        Output::Report => {
            let mut text = listing
                .map(|c| render::clients::report(c, &today))
                .unwrap_or_default();
            text.push_str(&render::report::render(outcomes, &config.invocation));
            text
        }
    };
    if !text.is_empty() {
        print_stdout(&text);
    }
}

/// `--save-facts`, after the diagnosis is printed: a failed write must not lose it. Its error
/// goes to stderr, so that stdout stays one JSON document under `--json`; the exit code is
/// then `Exit::Error`.
fn write_facts_file(config: &Config, runs: &[RunFacts]) -> Result<(), Exit> {
    let Some(Err(err)) = config
        .save_facts
        .as_ref()
        .map(|path| save_facts(path, runs))
    else {
        return Ok(());
    };
    print_late_error(config, &err);
    Err(Exit::Error)
}

/// An error after the diagnosis was printed (writing `--save-facts` or `--metrics`): on
/// stderr, as a JSON error object under `--json`/`--ndjson` so stdout stays one document.
fn print_late_error(config: &Config, err: &ToolError) {
    if matches!(config.output, Output::Json | Output::Ndjson) {
        eprintln!("{}", json::render_error(err.kind, &err.message, false));
    } else {
        eprintln!(
            "acme-doctor: error: {}",
            crate::sanitize::line(&err.message, 2000)
        );
    }
}

fn metrics_error(path: &std::path::Path, e: &std::io::Error) -> ToolError {
    ToolError::input(format!(
        "--metrics {}: cannot write it: {e}",
        path.display()
    ))
}

/// `--metrics FILE`, after the diagnosis is printed, as `--save-facts`: every name of the run
/// (a streamed batch kept a small row per name for it), the certificates of the `--all`
/// listing, and the run's own time and duration. A failed write is an error on stderr and
/// exit 2, with nothing left behind.
fn write_metrics_file(
    config: &Config,
    clients: Option<&ClientsFacts>,
    stream: &Stream,
    runs: &[RunFacts],
    outcomes: &[Outcome],
) -> Result<(), Exit> {
    let Some(path) = &config.metrics else {
        return Ok(());
    };
    let rows = if stream.enabled {
        stream.take_rows()
    } else {
        outcomes.iter().map(render::metrics::NameRow::of).collect()
    };
    let listing = clients.filter(|_| config.clients.all);
    let text = render::metrics::render(&rows, listing, &run_summary(runs));
    let Err(e) = super::atomic::write(path, text.as_bytes()) else {
        return Ok(());
    };
    let err = metrics_error(path, &e);
    print_late_error(config, &err);
    Err(Exit::Error)
}

/// When the run finished and how long it took: of the first run (the host's, for joined
/// facts files), from its own record, so that metrics from saved facts carry the time those
/// facts were gathered.
fn run_summary(runs: &[RunFacts]) -> render::metrics::RunSummary {
    let (started, duration_ms) = runs
        .first()
        .map(|r| (crate::timefmt::parse_rfc3339(&r.started_at), r.duration_ms))
        .unwrap_or((None, 0));
    let started = started.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    render::metrics::RunSummary {
        finished_unix: started.saturating_add(i64::try_from(duration_ms / 1000).unwrap_or(0)),
        duration_seconds: duration_ms as f64 / 1000.0,
    }
}

/// A probing run's output as each name finishes: `--ndjson` prints each name as soon as it is
/// diagnosed, in completion order (`index` gives the input order back); `--json` of several
/// names is written as they finish too, in input order. A batch never holds every name's
/// facts to print them at the end: a streamed name is not kept (unless for `--save-facts`),
/// its exit status is kept instead.
struct Stream<'a> {
    config: &'a Config,
    enabled: bool,
    json: Mutex<json::JsonStream>,
    worst: Mutex<Exit>,
    /// The host snapshot goes out once, before the first name.
    host_printed: Once,
    /// `--metrics`: what the exposition needs of each streamed name, which is not kept.
    rows: Mutex<Vec<render::metrics::NameRow>>,
}

impl<'a> Stream<'a> {
    fn new(config: &'a Config) -> Stream<'a> {
        Stream {
            config,
            // A --ca-check result joins each name after every probe: nothing streams early.
            enabled: config.from_facts.is_empty()
                && config.ca_check.is_none()
                && (config.output == Output::Ndjson
                    || (config.output == Output::Json && config.targets.len() > 1)),
            json: Mutex::new(json::JsonStream::default()),
            worst: Mutex::new(Exit::Pass),
            host_printed: Once::new(),
            rows: Mutex::new(Vec::new()),
        }
    }

    fn print_host(&self, run: &RunFacts) {
        self.host_printed.call_once(|| match self.config.output {
            Output::Json => write_stdout(&json::JsonStream::head(&run.host)),
            _ => print_stdout(&json::render_host_record(&run.host)),
        });
    }

    fn print_one(&self, run: &RunFacts, index: usize, target: &TargetFacts) {
        // `--ca-error`: a streamed name is diagnosed with the pasted words it is given.
        let with_words;
        let target = if self.config.ca_pasted.is_empty() {
            target
        } else {
            let domains: Vec<&str> = self
                .config
                .targets
                .iter()
                .map(|t| t.domain.ascii.as_str())
                .collect();
            let mut copy = target.clone();
            super::ca_words::attach(&self.config.ca_pasted, &domains, &mut copy);
            with_words = copy;
            &with_words
        };
        let outcome = Outcome {
            run,
            target,
            diagnosis: diagnose::diagnose(run, target),
            index,
        };
        self.print_host(run);
        if self.config.output == Output::Json {
            // Under the lock: the names leave in input order.
            let mut stream = self.json.lock().unwrap_or_else(PoisonError::into_inner);
            write_stdout(&stream.push(&outcome));
        } else {
            print_stdout(&json::render_ndjson_result(&outcome));
        }
        let mut worst = self.worst.lock().unwrap_or_else(PoisonError::into_inner);
        *worst = worst.worst(exit_for(
            &outcome.diagnosis,
            self.config.fail_on,
            self.config.accept_host_only,
        ));
        if self.config.metrics.is_some() {
            self.rows
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(render::metrics::NameRow::of(&outcome));
        }
    }

    /// The metrics rows of the names streamed so far.
    fn take_rows(&self) -> Vec<render::metrics::NameRow> {
        std::mem::take(&mut *self.rows.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The end of a streamed document. A streamed run that no name finished still says which
    /// host it looked at.
    fn finish(&self, run: Option<&RunFacts>) {
        if let Some(run) = run {
            self.print_host(run);
        }
        if self.config.output == Output::Json {
            let mut stream = self.json.lock().unwrap_or_else(PoisonError::into_inner);
            write_stdout(&stream.finish());
        }
    }

    /// The worst exit status of the names streamed so far.
    fn worst_exit(&self) -> Exit {
        *self.worst.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Text as it is, for a document printed in pieces (`print_stdout` ends each with a newline).
fn write_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// After a signal: what finished was printed above; this says which names did not finish,
/// runs the registered cleanups and gives the signal's exit status. No facts file is written:
/// a run cut short leaves nothing behind.
fn interrupted(config: &Config, signal: signals::Stop, unfinished: &[usize]) -> Exit {
    let names: Vec<(usize, &str)> = unfinished
        .iter()
        .filter_map(|i| {
            config
                .targets
                .get(*i)
                .map(|t| (*i, t.domain.input.as_str()))
        })
        .collect();
    let finished = config.targets.len() - names.len();
    if config.output == Output::Ndjson {
        print_stdout(&json::render_interrupted(signal.name(), finished, &names));
    }
    const SHOWN: usize = 20;
    let mut list: Vec<String> = names
        .iter()
        .take(SHOWN)
        .map(|(_, d)| crate::sanitize::line(d, 300))
        .collect();
    if names.len() > SHOWN {
        list.push(format!("and {} more", names.len() - SHOWN));
    }
    eprintln!(
        "acme-doctor: interrupted ({}): {finished} of {} names finished{}",
        signal.name(),
        config.targets.len(),
        if list.is_empty() {
            String::new()
        } else {
            format!("; not finished: {}", list.join(", "))
        }
    );
    signals::run_cleanups();
    match signal {
        signals::Stop::Interrupt => Exit::Interrupted,
        signals::Stop::Terminate => Exit::Terminated,
    }
}

/// The exit code is the policy, not the facts: `--accept-host-only` turns a run incomplete
/// only for want of an outside view into a pass, and changes nothing in what is reported.
pub(crate) fn exit_for(d: &Diagnosis, fail_on: FailOn, accept_host_only: bool) -> Exit {
    match (d.verdict, fail_on) {
        (Verdict::Fail, _) | (Verdict::AtRisk, FailOn::Warning) => Exit::Blocker,
        _ if accept_host_only && d.incomplete_only_host_only() => Exit::Pass,
        _ if d.incomplete => Exit::Incomplete,
        _ => Exit::Pass,
    }
}

/// `explain`: the list of codes, or one entry: rendered for a terminal, raw Markdown on a
/// pipe or with `--markdown` (issue 21 item 4). An unknown code is a usage error (exit 2)
/// naming the nearest codes.
fn explain(code: Option<&str>, json_out: bool, markdown: bool) -> Result<Exit, ToolError> {
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
            let (code, text) = crate::catalogue::explain(slug).map_err(ToolError::usage)?;
            if json_out {
                let value = serde_json::json!({"code": code.as_str(), "explanation": text});
                print_stdout(&value.to_string());
            } else if markdown || !std::io::stdout().is_terminal() {
                print_stdout(text);
            } else {
                print_stdout(&render::markdown::render(text, terminal()));
            }
            Ok(Exit::Pass)
        }
    }
}

/// The terminal on standard output: its width (80 when it does not say), styles unless
/// `NO_COLOR` or `TERM=dumb`, and Unicode bullets by the rule the CA's path is drawn by
/// (`render::path::glyphs_for`: a UTF-8 locale, and no `NO_COLOR`).
fn terminal() -> render::markdown::Terminal {
    // Each read by name, so that the manual's test finds it (ENVIRONMENT).
    let set = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty());
    let width = console::Term::stdout()
        .size_checked()
        .map_or(80, |(_rows, cols)| usize::from(cols));
    let no_color = set(std::env::var_os("NO_COLOR")).is_some();
    let dumb = set(std::env::var_os("TERM")).is_some_and(|t| t == "dumb");
    let glyphs = render::path::glyphs_for(|name| std::env::var(name).ok());
    render::markdown::Terminal {
        width,
        styled: !no_color && !dumb,
        unicode: glyphs == render::path::Glyphs::Unicode,
    }
}

/// A name as soon as it is done, with the run's host snapshot.
type Streamed<'a> = &'a (dyn Fn(&RunFacts, usize, &TargetFacts) + Sync);

/// `--all`: every name of every certificate the clients renew becomes a target with its
/// certificate's method and webroot. Names the tool cannot check (manual, a setting it does
/// not know) stay in the listing only; a name that is not a valid domain is a warning naming
/// its file.
fn expand_all(config: &mut Config, clients: &mut ClientsFacts) -> Result<(), ToolError> {
    let mut warnings = Vec::new();
    for cert in &clients.certificates {
        // A target keeps its own name and webroot entry only: the certificate's full lists
        // are in the host snapshot's `acme_clients`, and a copy per name would make a
        // certificate of N names cost N² in memory and output.
        let mut base = cert.clone();
        base.names = Vec::new();
        base.webroots = Vec::new();
        // The per-name webroots by name, the first entry winning as in `challenge_for`: one
        // lookup per name instead of a scan of the whole map.
        let mut by_name: HashMap<String, &NameWebroot> = HashMap::new();
        for w in &cert.webroots {
            by_name.entry(w.name.to_ascii_lowercase()).or_insert(w);
        }
        for name in &cert.names {
            let own_webroot = by_name.get(&name.to_ascii_lowercase()).copied();
            let (challenge, key, line) = match own_webroot {
                Some(w) => (
                    Challenge::Webroot {
                        path: w.path.clone(),
                    },
                    w.key.as_str(),
                    w.line,
                ),
                None => (cert.challenge.clone(), cert.key.as_str(), cert.line),
            };
            let Some(method) = challenge.method() else {
                continue;
            };
            let domain = match crate::domain::parse(name) {
                Ok(d) => d,
                Err(e) => {
                    warnings.push(ConfigWarning {
                        file: cert.config.clone(),
                        line: cert.line,
                        message: format!("{name:?} is not a name acme-doctor can check: {e}"),
                    });
                    continue;
                }
            };
            // An IP certificate the CA would refuse is listed, and not checked.
            let refusal = if domain.ip.is_some() && !method.validates_ip() {
                Some(format!("{}: {}", domain.ascii, diagnose::ca::DNS01_FOR_IP))
            } else {
                super::args::ip_refusal(&domain, config.allow_reserved)
            };
            if let Some(message) = refusal {
                warnings.push(ConfigWarning {
                    file: cert.config.clone(),
                    line: cert.line,
                    message,
                });
                continue;
            }
            let webroot = match &challenge {
                Challenge::Webroot { path } => {
                    Some(under_root(&config.clients.root, &cert.config, path))
                }
                _ => None,
            };
            let mut own = base.clone();
            own.names = vec![name.clone()];
            own.webroots = own_webroot.into_iter().cloned().collect();
            own.key = key.to_string();
            own.line = line;
            own.challenge = challenge;
            config.targets.push(Target {
                domain,
                spec: TargetSpec {
                    method,
                    webroot,
                    expect_body: None,
                    certificate: Some(own),
                    method_from: None,
                },
            });
        }
    }
    clients.warnings.extend(warnings);
    if config.targets.is_empty() {
        let listed = clients.certificates.len();
        return Err(ToolError::input(if listed == 0 {
            "--all found no certificate: no certbot, acme.sh, lego, Caddy, Traefik, dehydrated or uacme configuration in their default paths (add --client-config PATH)".to_string()
        } else {
            format!(
                "--all found {listed} certificate(s), none with a method acme-doctor checks (http-01, dns-01, tls-alpn-01)"
            )
        }));
    }
    Ok(())
}

/// A path a client's configuration names, on this host: under `--client-root` (tests) when
/// the configuration file itself is.
fn under_root(root: &std::path::Path, config: &str, path: &str) -> std::path::PathBuf {
    if root != std::path::Path::new("/") && std::path::Path::new(config).starts_with(root) {
        root.join(path.trim_start_matches('/'))
    } else {
        std::path::PathBuf::from(path)
    }
}

/// The real token round trip per certificate under `--all`: one token file in each distinct
/// webroot the ACME clients name, whose content becomes the body its targets must serve. The
/// files live as long as the returned guards (removed when they drop, and by the registered
/// cleanup on Ctrl-C or SIGTERM). A token is written with the permissions of the owner of the
/// configuration that names the webroot (`probe::token::create_as`), and never for a
/// configuration that is not trusted (`probe::userfile::trust`). A webroot that cannot take a
/// file (not trusted, missing, read-only, not the owner's to write, a symlink out of it) is a
/// warning naming the configuration, also kept in the listing's warnings: that name is then
/// checked without the round trip.
fn tokens_for_targets(
    config: &mut Config,
    clients: Option<&mut ClientsFacts>,
) -> (Vec<probe::token::TokenFile>, Option<signals::Registration>) {
    // One attempt per webroot and writer; a failed one is remembered too, so it warns once.
    type Made = (
        std::path::PathBuf,
        Result<Option<probe::token::Writer>, String>,
        Result<probe::token::TokenFile, String>,
    );
    let mut made: Vec<Made> = Vec::new();
    let mut warnings = Vec::new();
    // Where each (webroot, writer) is in `made`: thousands of certificates stay one lookup each.
    let mut made_at: HashMap<
        (
            std::path::PathBuf,
            Result<Option<probe::token::Writer>, String>,
        ),
        usize,
    > = HashMap::new();
    for spec in config.targets.iter_mut().map(|t| &mut t.spec) {
        let Some(dir) = spec.webroot.clone() else {
            continue;
        };
        // Only HTTP-01 serves its challenge as a file under the webroot; a known body needs no
        // file.
        let serves_files = match spec.method {
            crate::facts::Method::Http01 => true,
            crate::facts::Method::Dns01 | crate::facts::Method::TlsAlpn01 => false,
        };
        if !serves_files || spec.expect_body.is_some() {
            continue;
        }
        let cert = spec.certificate.as_ref();
        let writer = match cert.and_then(|c| c.owner.as_ref()) {
            Some(o) if o.untrusted.is_none() => Ok(Some(probe::token::Writer {
                uid: o.uid,
                gid: o.gid,
            })),
            Some(o) => Err(format!(
                "not written: its configuration is not trusted ({})",
                o.untrusted.as_deref().unwrap_or_default()
            )),
            None if cert.is_some() => {
                Err("not written: the owner of its configuration is unknown".to_string())
            }
            None => Ok(None),
        };
        let index = match made_at.get(&(dir.clone(), writer.clone())) {
            Some(i) => *i,
            None => {
                let written = writer.clone().and_then(|w| {
                    let by = match &w {
                        Some(w) if w.uid != 0 => {
                            format!(" (as uid {}, the owner of its configuration)", w.uid)
                        }
                        _ => String::new(),
                    };
                    match &w {
                        Some(w) => probe::token::create_as(&dir, w),
                        None => probe::token::create(&dir),
                    }
                    .map_err(|e| format!("{e}{by}"))
                });
                let written = written.map_err(|why| {
                    let why =
                        crate::sanitize::line(&format!("webroot {}: {why}", dir.display()), 1000);
                    eprintln!(
                        "acme-doctor: warning: {why}; its names are checked without the real token"
                    );
                    if let Some(c) = cert {
                        warnings.push(ConfigWarning {
                            file: c.config.clone(),
                            line: c.line,
                            message: format!("{why}; its names are checked without the real token"),
                        });
                    }
                    why
                });
                made_at.insert((dir.clone(), writer.clone()), made.len());
                made.push((dir, writer, written));
                made.len() - 1
            }
        };
        match &made[index].2 {
            Ok(t) => spec.expect_body = Some(t.content().to_string()),
            // Said again in this name's diagnosis (`token-not-written`).
            Err(why) => {
                if let Some(c) = spec.certificate.as_mut() {
                    c.token_not_written = Some(why.clone());
                }
            }
        }
    }
    if let Some(clients) = clients {
        for w in warnings {
            if !clients.warnings.contains(&w) {
                clients.warnings.push(w);
            }
        }
    }
    let tokens: Vec<probe::token::TokenFile> =
        made.into_iter().filter_map(|(_, _, t)| t.ok()).collect();
    let registration =
        (!tokens.is_empty()).then(|| signals::on_interrupt(probe::token::remove_all));
    (tokens, registration)
}

/// Probes every name of the command line in one run: one host snapshot, every target
/// concurrently.
fn probe_all(
    config: &Config,
    acme_clients: Option<ClientsFacts>,
    stream: Option<Streamed>,
) -> Result<probe::Gathered<signals::Stop>, ToolError> {
    raise_open_files_limit(config.verbose);
    let runtime = signals::runtime()?;
    runtime.block_on(async {
        // --webroot: a real token file, removed on every way out: its guard on return (error
        // or not), the signal task on Ctrl-C and SIGTERM.
        let token = match &config.webroot {
            Some(dir) => Some(
                probe::token::create(dir)
                    .map_err(|e| ToolError::input(format!("--webroot {}: {e}", dir.display())))?,
            ),
            None => None,
        };
        // Ctrl-C and SIGTERM stop the run through `signals`, which removes it too.
        let _registration = token
            .is_some()
            .then(|| signals::on_interrupt(probe::token::remove_all));
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
            http: probe::http::ReqwestHttp::default(),
            tls: probe::tlsalpn01::RustlsAlpn,
            host: probe::host::LinuxHost {
                ports: vec![diagnose::ca::HTTP01_PORT, diagnose::ca::HTTPS_PORT],
                acme_clients,
            },
        };
        let many = config.targets.len() > 1;
        let spinner = config.progress.then(|| {
            let bar = if many {
                // Counts and an ETA for a batch; a spinner for one name.
                let bar = indicatif::ProgressBar::new(config.targets.len() as u64);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{spinner} checking {pos}/{len} names [{bar:30}] {elapsed} (ETA {eta})",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            } else {
                let bar = indicatif::ProgressBar::new_spinner();
                let names: Vec<&str> = config.domains().map(|d| d.input.as_str()).collect();
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
            &system.tls,
            Arc::new(system.host),
            probe::Gathering {
                host_first: stream.is_some(),
                // Streamed names are printed as they finish; only a facts file needs them
                // kept, so a batch holds just the names in flight.
                keep_targets: stream.is_none() || config.save_facts.is_some(),
                on_target: &done,
                stop: signals::interrupted(),
            },
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
        if verbose {
            eprintln!("acme-doctor: open-files limit {soft} (already the hard limit)");
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::{Incomplete, IncompleteKind};

    fn diagnosis(verdict: Verdict, missing: &[IncompleteKind]) -> Diagnosis {
        let missing: Vec<Incomplete> = missing
            .iter()
            .map(|k| Incomplete::new(*k, k.as_str()))
            .collect();
        let mut kinds: Vec<IncompleteKind> = Vec::new();
        for m in &missing {
            if !kinds.contains(&m.kind) {
                kinds.push(m.kind);
            }
        }
        Diagnosis {
            verdict,
            incomplete: !missing.is_empty(),
            incomplete_reasons: missing.iter().map(|m| m.reason.clone()).collect(),
            incomplete_kinds: kinds,
            incomplete_reason_kinds: missing.iter().map(|m| m.kind).collect(),
            findings: Vec::new(),
            content_unverified: false,
        }
    }

    /// `--accept-host-only` accepts `host-only` alone: never a blocker, never a warning that
    /// `--fail-on warning` counts, never another kind beside it.
    #[test]
    fn accept_host_only_accepts_host_only_alone() {
        use IncompleteKind::{FirewallUnreadable, HostOnly};
        let cases = [
            (Verdict::Pass, &[HostOnly][..], FailOn::Blocker, Exit::Pass),
            (Verdict::AtRisk, &[HostOnly], FailOn::Blocker, Exit::Pass),
            (Verdict::AtRisk, &[HostOnly], FailOn::Warning, Exit::Blocker),
            (Verdict::Fail, &[HostOnly], FailOn::Blocker, Exit::Blocker),
            (
                Verdict::Pass,
                &[HostOnly, FirewallUnreadable],
                FailOn::Blocker,
                Exit::Incomplete,
            ),
            (
                Verdict::Pass,
                &[FirewallUnreadable],
                FailOn::Blocker,
                Exit::Incomplete,
            ),
            (Verdict::Pass, &[], FailOn::Blocker, Exit::Pass),
        ];
        for (verdict, missing, fail_on, want) in cases {
            let d = diagnosis(verdict, missing);
            assert_eq!(exit_for(&d, fail_on, true), want, "{verdict:?} {missing:?}");
            // Without the flag, anything incomplete and not failed is 3.
            let strict = match want {
                Exit::Pass if !missing.is_empty() => Exit::Incomplete,
                other => other,
            };
            assert_eq!(
                exit_for(&d, fail_on, false),
                strict,
                "{verdict:?} {missing:?}"
            );
        }
    }
}
