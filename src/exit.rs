//! Named exit codes: the contract CI builds on (see README "Exit codes").

use serde::Serialize;
use std::process::ExitCode;

/// Why a run ended with `Exit::Error`: the `kind` of the JSON error object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The command line is wrong.
    Usage,
    /// An input is wrong: a malformed domain, an unreadable facts file.
    Input,
    /// acme-doctor itself failed.
    Internal,
}

/// What a run of acme-doctor ended with, as the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// No blocker (warnings allowed unless `--fail-on warning`).
    Pass = 0,
    /// The incomplete case ranks below a blocker: a found blocker is the stronger statement.
    Incomplete = 3,
    /// A blocker was found: the CA's validation would fail.
    Blocker = 1,
    /// acme-doctor itself could not run: bad usage, bad input, internal error.
    Error = 2,
    /// Ctrl-C (SIGINT) stopped the run: 128 + 2, as a shell reports it.
    Interrupted = 130,
    /// SIGTERM stopped the run: 128 + 15.
    Terminated = 143,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The status of several domains checked in one run: an error beats a blocker, which beats
    /// an incomplete run, which beats a pass.
    pub fn worst(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Pass => 0,
                Exit::Incomplete => 1,
                Exit::Blocker => 2,
                Exit::Error => 3,
                Exit::Interrupted | Exit::Terminated => 4,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_numbers() {
        assert_eq!(Exit::Pass.code(), 0);
        assert_eq!(Exit::Blocker.code(), 1);
        assert_eq!(Exit::Error.code(), 2);
        assert_eq!(Exit::Incomplete.code(), 3);
    }

    #[test]
    fn worst_orders_error_blocker_incomplete_pass() {
        assert_eq!(Exit::Pass.worst(Exit::Incomplete), Exit::Incomplete);
        assert_eq!(Exit::Incomplete.worst(Exit::Blocker), Exit::Blocker);
        assert_eq!(Exit::Blocker.worst(Exit::Incomplete), Exit::Blocker);
        assert_eq!(Exit::Blocker.worst(Exit::Error), Exit::Error);
    }
}
