//! Printing results: every command returns one struct that is both `Display`
//! (text) and `Serialize` (`--output json`); this module writes it to stdout.
//! A closed stdout (broken pipe, e.g. `| head`) is not an error.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};

/// Print a result in the chosen format.
pub fn emit<T: Display + Serialize>(value: &T, format: OutputFormat) -> Result<()> {
    let text = match format {
        OutputFormat::Text => value.to_string(),
        OutputFormat::Json => serde_json::to_string_pretty(value)
            .map_err(|e| Error::Other(format!("serialising the result: {e}")))?,
    };
    if text.is_empty() {
        return Ok(());
    }
    print(&text)
}

/// Print text on stdout (a newline is added when missing); a closed stdout is
/// not an error (unlike `println!`, which panics on a broken pipe).
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let res = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("writing to stdout", e)),
    }
}
