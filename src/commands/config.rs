//! `ami-builder config show`: what each option is without a flag, and why
//! (the environment, the config file, or the built-in default).

use std::fmt;
use std::process::ExitCode;

use clap::CommandFactory;
use serde::Serialize;

use crate::cli::{Cli, Global};
use crate::config::{self, Shown, Source};
use crate::error::{Error, Result};

/// Layout version of `config show --output json`.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct ConfigReport {
    pub schema_version: u32,
    /// The file read, if one was found.
    pub file: Option<std::path::PathBuf>,
    pub values: Vec<Shown>,
}

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => writeln!(f, "config file: {}", p.display())?,
            None => writeln!(
                f,
                "config file: none ({} not found here or above; --config FILE names one)",
                config::FILE_NAME
            )?,
        }
        let rows = self.values.iter().map(|s| {
            let from = match &s.source {
                Source::File { .. } => "file".to_string(),
                Source::Env { name } => format!("env {name}"),
                Source::Default => "default".to_string(),
            };
            vec![s.command.clone(), s.key.clone(), s.value.join(","), from]
        });
        f.write_str(&crate::table::render(
            &["COMMAND", "OPTION", "VALUE", "FROM"],
            rows,
        ))
    }
}

pub fn show(global: &Global) -> Result<ExitCode> {
    let base = Cli::command();
    let cfg = config::from_process(&base).map_err(Error::Usage)?;
    let values = config::show(&base, &cfg, &|name| std::env::var(name).ok());
    crate::output::emit(
        &ConfigReport {
            schema_version: SCHEMA_VERSION,
            file: cfg.path.clone(),
            values,
        },
        global.output,
    )?;
    Ok(ExitCode::SUCCESS)
}
