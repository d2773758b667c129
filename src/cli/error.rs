//! What stops acme-doctor itself (exit 2), by kind.

use serde::Serialize;

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

#[derive(Debug)]
pub struct ToolError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ToolError {
    pub fn input(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ErrorKind::Input,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ErrorKind::Usage,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ErrorKind::Internal,
            message: message.into(),
        }
    }
}
