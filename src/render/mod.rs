//! Renderers: human text, JSON, Markdown report. They get a finished [`Diagnosis`] and the
//! facts it came from; they do not probe, decide or look at the terminal (the CLI decides
//! colour).

pub mod cacheck;
pub mod clients;
pub mod group;
pub mod human;
pub mod json;
// Issue 21 item 4: `explain` for a terminal.
pub mod markdown;
pub mod metrics;
pub mod path;
pub mod report;

use crate::diagnose::Diagnosis;
use crate::facts::{RunFacts, TargetFacts};

/// One domain's result, as every renderer takes it.
pub struct Outcome<'a> {
    pub run: &'a RunFacts,
    pub target: &'a TargetFacts,
    pub diagnosis: Diagnosis,
    /// Its position in the input (names of the command line, then `-f`, then standard input;
    /// or the order of the facts files).
    pub index: usize,
}

/// Colours for the human renderer; all identity when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Palette {
    pub enabled: bool,
    /// The glyphs the CA's path is drawn with (issue 21 item 3): ASCII under `NO_COLOR` or a
    /// locale that is not UTF-8.
    pub glyphs: path::Glyphs,
}

impl Palette {
    fn paint(&self, text: &str, f: impl Fn(&str) -> colored::ColoredString) -> String {
        if self.enabled {
            f(text).to_string()
        } else {
            text.to_string()
        }
    }

    pub fn blocker(&self, t: &str) -> String {
        self.paint(t, |s| colored::Colorize::bold(colored::Colorize::red(s)))
    }

    pub fn warning(&self, t: &str) -> String {
        self.paint(t, |s| colored::Colorize::bold(colored::Colorize::yellow(s)))
    }

    pub fn info(&self, t: &str) -> String {
        self.paint(t, |s| colored::Colorize::cyan(s))
    }

    pub fn pass(&self, t: &str) -> String {
        self.paint(t, |s| colored::Colorize::bold(colored::Colorize::green(s)))
    }

    pub fn dim(&self, t: &str) -> String {
        self.paint(t, |s| colored::Colorize::dimmed(s))
    }

    pub fn bold(&self, t: &str) -> String {
        self.paint(t, |s| colored::Colorize::bold(s))
    }
}
