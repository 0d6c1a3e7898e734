//! Packer log model and artifact extraction (pure: bytes in, `Extraction` out).
//!
//! Owns: recognising which AMIs Packer reported as *artifacts* in any log shape
//! that real pipelines produce: human output (coloured or not), `-machine-readable`,
//! `-timestamp-ui`, CI timestamp prefixes, ANSI codes with or without their ESC
//! byte, HTML-escaped arrows, CRLF, several runs pasted together and the pre-1.1
//! layout with a blank line after "AMIs were created:". It also keeps Packer's
//! error summary so a failed build can repeat it.
//!
//! It must not: do I/O (the caller feeds bytes), read the clock or environment, or
//! take an AMI id from anything Packer did not itself print as an artifact.
//! Progress lines such as `AMI: ami-...` or `Found Image ID: ami-...` name
//! temporary or source images.
//!
//! # Only Packer names an artifact
//! A provisioner, a shell script or a post-processor can print any text, and
//! Packer passes it on. So:
//! * in a `-machine-readable` stream only `artifact,N,id` records count; a `ui`
//!   message is output, never structure. Packer's own summary (`ui,say`) is kept
//!   apart to cross-check the records ([`Extraction::summary_disagreements`]);
//!   `ui,message` and `ui,error` (where provisioner output goes) never open an
//!   artifact block, and text lines that are not records at all (a process that
//!   inherited Packer's stdout) never count once the stream is machine-readable;
//! * in human text a block counts only when its header is a top-level Packer
//!   line (`--> NAME: AMIs were created:` at the start of the line, after CI
//!   prefixes), never a line Packer prefixed with a build name;
//! * a log that ends inside an artifact line (no newline) is truncated input,
//!   and [`Extraction::truncated_artifact_line`] makes every caller refuse it.
//!
//! Layout: this file holds the model ([`Extraction`] and its
//! explanations); `extractor` is the state machine, `text` the line formats
//! (machine-readable records, CI prefixes, ANSI, HTML escapes); `tests`.
//!
//! Memory stays flat: the extractor scans whole chunks for a few literal needles
//! (Aho-Corasick) and only decodes the rare lines that contain one, plus the short
//! artifact and error blocks that follow them. A partial line is carried between
//! chunks, capped at [`MAX_LINE`].

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::Serialize;

pub use crate::artifacts::Artifact;

mod extractor;
mod text;

pub use extractor::*;
pub use text::*;

#[cfg(test)]
mod tests;

/// Longest line the extractor keeps; longer lines are skipped and counted.
pub const MAX_LINE: usize = 1 << 20;
/// At most this many error-summary lines are kept, each at most [`MAX_ERROR_LEN`] bytes.
pub const MAX_ERRORS: usize = 50;
/// Longest error-summary line kept.
pub const MAX_ERROR_LEN: usize = 1000;

/// What a log said, once it has been read to the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extraction {
    /// Every AMI artifact, deduplicated, sorted by build, region, id.
    pub artifacts: Vec<Artifact>,
    pub bytes: u64,
    /// How many "Builds finished" lines were seen (one per Packer run).
    pub builds_finished: usize,
    /// Packer said "Builds finished but no artifacts were created".
    pub no_artifacts_reported: bool,
    /// Packer reported a cancellation (signal or interrupt).
    pub cancelled: bool,
    /// Lines were in `-machine-readable` format.
    pub machine_readable: bool,
    /// Packer's error summary (`--> build: message`, `Build 'x' errored: ...`).
    pub errors: Vec<String>,
    /// Artifact headers ignored because no "Builds finished" line came before them.
    pub headers_outside_summary: usize,
    /// Artifact-block headers found in output that Packer did not print as
    /// structure (provisioner output, `ui,message`, text in a machine-readable
    /// stream): ignored, counted for the explanation.
    pub foreign_headers: usize,
    /// In a machine-readable stream, the AMIs of Packer's own `ui,say`
    /// summary blocks: a second witness for the `artifact` records.
    pub summary_artifacts: Vec<Artifact>,
    /// The input ended (no final newline) inside an artifact block or an
    /// artifact record: the log is cut, and an id in it may be cut too.
    pub truncated_artifact_line: bool,
    /// Lines longer than [`MAX_LINE`] that were skipped.
    pub overlong_lines: u64,
    /// The 1-based numbers of the first [`MAX_REPORTED_LINES`] overlong lines.
    pub overlong_line_numbers: Vec<u64>,
    /// The input contained NUL bytes (it is probably not a text log).
    pub binary: bool,
}

/// How many overlong line numbers are kept for the explanation.
pub const MAX_REPORTED_LINES: usize = 20;

impl Extraction {
    /// The distinct build names, in order.
    pub fn builds(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self.artifacts.iter().map(|a| a.build.as_str()).collect();
        set.into_iter().collect()
    }

    /// `N line(s) longer than 1 MiB were skipped (lines 3, 9)`.
    pub fn overlong_summary(&self) -> String {
        let numbers: Vec<String> = self
            .overlong_line_numbers
            .iter()
            .map(u64::to_string)
            .collect();
        let more = if self.overlong_lines > numbers.len() as u64 {
            ", ..."
        } else {
            ""
        };
        format!(
            "{} line(s) longer than {} MiB were skipped (line {}{more})",
            self.overlong_lines,
            MAX_LINE >> 20,
            numbers.join(", ")
        )
    }

    /// A warning for artifact blocks that something other than Packer printed
    /// (they were ignored), or `None`.
    pub fn foreign_warning(&self) -> Option<String> {
        (self.foreign_headers > 0).then(|| {
            format!(
                "ignored {} \"AMIs were created\" block(s) that Packer did not print as artifacts (provisioner or script output): only Packer's own artifacts count",
                self.foreign_headers
            )
        })
    }

    /// Why a log that ends inside an artifact line is refused (exit 3).
    pub fn truncated_explanation(&self, source: &str) -> String {
        format!(
            "the log ends inside an artifact line ({source}, {} bytes, no newline after its last line): it is truncated, and an AMI id cut short can look like a valid one, so no AMI is taken from it. Use the complete log (Packer ends every line with a newline)",
            self.bytes
        )
    }

    /// Where Packer's `artifact` records and its own printed summary disagree
    /// (machine-readable streams only; empty when Packer printed no summary).
    /// Both come from the same artifact objects in Packer, so a difference
    /// means the stream was altered or cut: nothing should be trusted then.
    pub fn summary_disagreements(&self) -> Vec<String> {
        if !self.machine_readable || self.summary_artifacts.is_empty() {
            return Vec::new();
        }
        let records: BTreeSet<&Artifact> = self.artifacts.iter().collect();
        let summary: BTreeSet<&Artifact> = self.summary_artifacts.iter().collect();
        let mut out: Vec<String> = records
            .difference(&summary)
            .map(|a| {
                format!(
                    "{} {} {} is in an artifact record but not in Packer's summary",
                    a.build, a.region, a.ami_id
                )
            })
            .collect();
        out.extend(summary.difference(&records).map(|a| {
            format!(
                "{} {} {} is in Packer's summary but in no artifact record",
                a.build, a.region, a.ami_id
            )
        }));
        out
    }

    /// A one-paragraph explanation of why no AMI was found, naming what was
    /// searched and the likely causes.
    pub fn no_ami_explanation(&self, source: &str) -> String {
        let mut why = Vec::new();
        if self.bytes == 0 {
            why.push("the log is empty".to_string());
        } else if self.binary {
            why.push(
                "the input contains NUL bytes and does not look like a Packer log".to_string(),
            );
        }
        if self.bytes > 0 && self.builds_finished == 0 {
            why.push(
                "Packer never printed \"Builds finished\": the log is truncated, or the build did not finish"
                    .to_string(),
            );
        }
        if self.no_artifacts_reported {
            why.push("Packer said \"Builds finished but no artifacts were created\"".to_string());
        }
        if self.cancelled {
            why.push("the build was cancelled".to_string());
        }
        if self.truncated_artifact_line {
            why.push(
                "the log ends inside an artifact line (no newline after it): it is truncated, and an AMI id cut short can look like a valid one, so nothing was taken from it"
                    .to_string(),
            );
        }
        if self.foreign_headers > 0 {
            why.push(format!(
                "{} \"AMIs were created\" block(s) in output that Packer did not print as an artifact (provisioner or script output) were ignored",
                self.foreign_headers
            ));
        }
        if self.overlong_lines > 0 {
            why.push(self.overlong_summary());
        }
        if self.headers_outside_summary > 0 {
            why.push(format!(
                "{} \"AMIs were created\" block(s) appeared without a preceding \"Builds finished\" line and were ignored",
                self.headers_outside_summary
            ));
        }
        if !self.errors.is_empty() {
            why.push(format!(
                "Packer reported errors: {}",
                self.errors.join("; ")
            ));
        }
        let mut msg = format!(
            "no AMI found in Packer's output ({source}, {} bytes): searched for \"--> BUILD: AMIs were created:\" artifact blocks after \"Builds finished\" and for machine-readable \"artifact,N,id\" lines",
            self.bytes
        );
        if !why.is_empty() {
            msg.push_str(". ");
            msg.push_str(&why.join(". "));
        }
        msg.push_str(
            ". Likely causes: the build failed or was cancelled; `skip_create_ami` is set; or the template has no AMI-producing amazon builder (e.g. only `null` or `amazon-ebsvolume`)",
        );
        msg
    }
}
