//! What stops acme-doctor itself (exit 2), by kind.

use crate::exit::ErrorKind;

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
