//! `ami-builder extract`: print every AMI artifact in a Packer log, optionally
//! cross-checked against the manifest post-processor's file.

use std::fmt;
use std::fs::File;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{ExtractArgs, OutputFormat};
use crate::error::{Error, Result};
use crate::output;
use crate::packer::{self, manifest, Artifact};

/// The result of `extract`.
#[derive(Debug, Serialize)]
pub struct ExtractReport {
    /// Sorted by build, then region.
    pub artifacts: Vec<Artifact>,
}

impl fmt::Display for ExtractReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let several = self
            .artifacts
            .iter()
            .map(|a| &a.build)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1;
        for a in &self.artifacts {
            if several {
                writeln!(f, "{} {} {}", a.build, a.region, a.ami_id)?;
            } else {
                writeln!(f, "{} {}", a.region, a.ami_id)?;
            }
        }
        Ok(())
    }
}

/// Run `extract`.
pub fn run(args: &ExtractArgs, format: OutputFormat) -> Result<ExitCode> {
    let (source, extraction) = if args.log.as_os_str() == "-" {
        let stdin = std::io::stdin();
        let x = packer::extract_reader(stdin.lock())
            .map_err(|e| Error::io("reading the log from stdin", e))?;
        ("stdin".to_string(), x)
    } else {
        let f = File::open(&args.log).map_err(|e| {
            Error::Usage(format!("cannot read the log {}: {e}", args.log.display()))
        })?;
        let x = packer::extract_reader(f).map_err(|e| {
            Error::Usage(format!("cannot read the log {}: {e}", args.log.display()))
        })?;
        (args.log.display().to_string(), x)
    };
    if extraction.truncated_artifact_line {
        return Err(Error::NoAmi(extraction.truncated_explanation(&source)));
    }
    let disagree = extraction.summary_disagreements();
    if !disagree.is_empty() {
        return Err(Error::Other(format!(
            "Packer's artifact records and its own summary in {source} disagree: {}. The log was altered or cut: take the AMIs from a complete log",
            disagree.join("; ")
        )));
    }
    if let Some(w) = extraction.foreign_warning() {
        tracing::warn!("{w}");
    }
    if extraction.overlong_lines > 0 {
        tracing::info!("{}", extraction.overlong_summary());
    }
    if let Some(path) = &args.manifest {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Usage(format!("cannot read the manifest {}: {e}", path.display()))
        })?;
        let m =
            manifest::parse(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
        let problems = manifest::cross_check(&m, &extraction.artifacts);
        if !problems.is_empty() {
            return Err(Error::Other(format!(
                "the log and the manifest {} disagree: {}. Make sure both come from the same run (the manifest accumulates runs; only last_run_uuid counts)",
                path.display(),
                problems.join("; ")
            )));
        }
    }
    if extraction.artifacts.is_empty() {
        return Err(Error::NoAmi(extraction.no_ami_explanation(&source)));
    }
    output::emit(
        &ExtractReport {
            artifacts: extraction.artifacts,
        },
        format,
    )?;
    Ok(ExitCode::SUCCESS)
}
