//! The one error type of ami-builder and its mapping to documented exit codes.
//!
//! Owns: `Error` and `Error::exit_code()`. Every failure a user can meet ends up
//! here with a message that names what failed and what to do next. The exit codes
//! are the table in README.md and DESIGN.md; tests assert them.

use std::fmt;

/// Exit codes, as documented in README.md and `ami-builder --help`.
pub mod code {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NO_AMI: u8 = 3;
    pub const PACKER_FAILED: u8 = 4;
    pub const NOT_CONFIRMED: u8 = 5;
    pub const TAGGING_FAILED: u8 = 6;
    pub const EVENT_REJECTED: u8 = 7;
    pub const PRUNE_FAILURES: u8 = 8;
    pub const PRUNE_REFUSED: u8 = 9;
    pub const PROMOTE_REFUSED: u8 = 10;
    pub const PROMOTE_INCOMPLETE: u8 = 11;
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or unreadable input given by the user.
    #[error("{0}")]
    Usage(String),
    /// Packer printed no AMI artifact.
    #[error("{0}")]
    NoAmi(String),
    /// Packer exited non-zero.
    #[error("{0}")]
    PackerFailed(String),
    /// An AMI named in Packer's output could not be confirmed in EC2.
    #[error("{0}")]
    NotConfirmed(String),
    /// Tagging failed for some resources.
    #[error("{0}")]
    Tagging(String),
    /// EventBridge did not accept the event.
    #[error("{0}")]
    EventRejected(String),
    /// Prune finished but some deletions failed.
    #[error("{0}")]
    PruneFailures(String),
    /// Prune refused to start (cap exceeded, stale plan).
    #[error("{0}")]
    PruneRefused(String),
    /// A promotion's precondition failed; nothing was changed.
    #[error("{0}")]
    PromoteRefused(String),
    /// A promotion changed some regions or templates and failed on others.
    #[error("{0}")]
    PromoteIncomplete(String),
    /// The run was interrupted by a signal (after Packer's cleanup).
    #[error("interrupted by {name}: {detail}")]
    Interrupted {
        /// Signal number (2 or 15).
        signal: i32,
        /// SIGINT / SIGTERM.
        name: &'static str,
        /// What was done before stopping.
        detail: String,
    },
    /// A call to AWS failed.
    #[error("{context}: {message}")]
    Aws {
        /// What we were doing.
        context: String,
        /// The service's error, rendered.
        message: String,
    },
    /// A local I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// The process exit code for this error (see the table in README.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => code::USAGE,
            Error::NoAmi(_) => code::NO_AMI,
            Error::PackerFailed(_) => code::PACKER_FAILED,
            Error::NotConfirmed(_) => code::NOT_CONFIRMED,
            Error::Tagging(_) => code::TAGGING_FAILED,
            Error::EventRejected(_) => code::EVENT_REJECTED,
            Error::PruneFailures(_) => code::PRUNE_FAILURES,
            Error::PruneRefused(_) => code::PRUNE_REFUSED,
            Error::PromoteRefused(_) => code::PROMOTE_REFUSED,
            Error::PromoteIncomplete(_) => code::PROMOTE_INCOMPLETE,
            Error::Interrupted { signal, .. } => {
                if *signal == 2 {
                    code::SIGINT
                } else {
                    code::SIGTERM
                }
            }
            Error::Aws { .. } | Error::Io { .. } | Error::Other(_) => code::FAILURE,
        }
    }

    /// The same error (same exit code) with `note` added to its message, for
    /// a second failure that must not go unsaid.
    pub fn with_note(self, note: &str) -> Self {
        let add = |m: String| format!("{m}. {note}");
        match self {
            Error::Usage(m) => Error::Usage(add(m)),
            Error::NoAmi(m) => Error::NoAmi(add(m)),
            Error::PackerFailed(m) => Error::PackerFailed(add(m)),
            Error::NotConfirmed(m) => Error::NotConfirmed(add(m)),
            Error::Tagging(m) => Error::Tagging(add(m)),
            Error::EventRejected(m) => Error::EventRejected(add(m)),
            Error::PruneFailures(m) => Error::PruneFailures(add(m)),
            Error::PruneRefused(m) => Error::PruneRefused(add(m)),
            Error::PromoteRefused(m) => Error::PromoteRefused(add(m)),
            Error::PromoteIncomplete(m) => Error::PromoteIncomplete(add(m)),
            Error::Interrupted {
                signal,
                name,
                detail,
            } => Error::Interrupted {
                signal,
                name,
                detail: add(detail),
            },
            Error::Aws { context, message } => Error::Aws {
                context,
                message: add(message),
            },
            e @ Error::Io { .. } => Error::Other(add(e.to_string())),
            Error::Other(m) => Error::Other(add(m)),
        }
    }

    /// Wrap an I/O error with what we were doing.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    /// Wrap an AWS SDK error with what we were doing. The full error chain is kept
    /// in the message (the SDK's Display alone often says only "service error").
    pub fn aws<E: std::error::Error>(context: impl fmt::Display, err: E) -> Self {
        Error::Aws {
            context: context.to_string(),
            message: render_chain(&err),
        }
    }
}

/// Render an error and its sources as `a: b: c`, dropping repeats.
pub fn render_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_documented_table() {
        let cases: Vec<(Error, u8)> = vec![
            (Error::Usage("x".into()), 2),
            (Error::NoAmi("x".into()), 3),
            (Error::PackerFailed("x".into()), 4),
            (Error::NotConfirmed("x".into()), 5),
            (Error::Tagging("x".into()), 6),
            (Error::EventRejected("x".into()), 7),
            (Error::PruneFailures("x".into()), 8),
            (Error::PruneRefused("x".into()), 9),
            (Error::PromoteRefused("x".into()), 10),
            (Error::PromoteIncomplete("x".into()), 11),
            (
                Error::Interrupted {
                    signal: 2,
                    name: "SIGINT",
                    detail: String::new(),
                },
                130,
            ),
            (
                Error::Interrupted {
                    signal: 15,
                    name: "SIGTERM",
                    detail: String::new(),
                },
                143,
            ),
            (Error::Other("x".into()), 1),
        ];
        for (err, want) in cases {
            assert_eq!(err.exit_code(), want, "{err:?}");
        }
    }
}
