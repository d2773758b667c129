//! The command line: [`args`] parses and validates once, [`app`] runs the pipeline
//! (probe → facts → diagnose → render) and chooses the exit code, [`facts_file`] reads and
//! writes facts files, [`error`] is what stops the tool itself (exit 2).

mod app;
mod args;
mod atomic;
mod ca_check;
mod ca_words;
// Issue 20 item 3: --wait.
mod dns_wait;
mod error;
mod facts_file;
// Issue 21 item 4: the manual's own sections.
mod manual;
mod method_from;
pub mod signals;

pub use error::ToolError;

#[cfg(test)]
pub(crate) use app::exit_for;

use crate::exit::Exit;
use crate::render::json;
use args::Args;
use clap::Parser;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let json_errors = argv.iter().any(|a| a == "--json" || a == "--ndjson");
    // `--ndjson` consumers read one object per line, errors included.
    let pretty = !argv.iter().any(|a| a == "--ndjson");
    let args = match Args::try_parse_from(&argv) {
        Ok(args) => args,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Exit::Pass.into();
            }
            if json_errors {
                print_stdout(&json::render_error(
                    crate::exit::ErrorKind::Usage,
                    &first_line(&e.to_string()),
                    pretty,
                ));
                return Exit::Error.into();
            }
            eprintln!(
                "acme-doctor: error: {} (see acme-doctor --help)",
                crate::sanitize::line(&first_line(&e.to_string()), 2000)
            );
            return Exit::Error.into();
        }
    };
    let invocation = argv
        .iter()
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ");
    match app::run(args, invocation) {
        Ok(exit) => exit.into(),
        Err(err) => {
            if json_errors {
                print_stdout(&json::render_error(err.kind, &err.message, pretty));
            } else {
                // Messages quote paths and serde's echo of a facts file's own field names.
                eprintln!(
                    "acme-doctor: error: {}",
                    crate::sanitize::line(&err.message, 2000)
                );
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

pub(crate) fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    if !text.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
    let _ = stdout.flush();
}
