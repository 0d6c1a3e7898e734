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
//! Memory stays flat: the extractor scans whole chunks for a few literal needles
//! (Aho-Corasick) and only decodes the rare lines that contain one, plus the short
//! artifact and error blocks that follow them. A partial line is carried between
//! chunks, capped at [`MAX_LINE`].

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Longest line the extractor keeps; longer lines are skipped and counted.
pub const MAX_LINE: usize = 1 << 20;
/// At most this many error-summary lines are kept, each at most [`MAX_ERROR_LEN`] bytes.
pub const MAX_ERRORS: usize = 50;
/// Longest error-summary line kept.
pub const MAX_ERROR_LEN: usize = 1000;

/// One AMI that Packer reported as an artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Artifact {
    /// The build name exactly as Packer printed it (`amazon-ebs`, `amazon-ebs.base`).
    pub build: String,
    /// AWS region of this AMI.
    pub region: String,
    /// The AMI id.
    pub ami_id: String,
}

/// What a log said, once it has been read to the end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Extraction {
    /// Every AMI artifact, deduplicated, sorted by build, region, id.
    pub artifacts: Vec<Artifact>,
    /// Bytes read.
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

/// Literal needles that mark the only lines worth decoding outside a block.
const NEEDLES: &[&str] = &[
    "AMIs were created",
    "Builds finished",
    ",artifact,",
    ",error,",
    "errored",
    "Some builds didn't",
    "Cancelling build",
];

static NEEDLE_AC: LazyLock<AhoCorasick> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    // LeftmostFirst lets aho-corasick use its SIMD prefilter (the Standard
    // match kind walks every byte): ~8x faster here, same lines found, since
    // no needle spans a newline and any match marks the line to decode.
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(NEEDLES)
        .expect("static needles compile")
});

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| {
            #[allow(clippy::expect_used)]
            Regex::new($pat).expect("static regex compiles")
        });
    };
}

// ANSI escapes, with the ESC byte or (as in copied logs) without it.
re!(
    ANSI,
    r"\x1b\[[0-9;?]*[A-Za-z]|\[[0-9]{1,3}(?:;[0-9]{1,3})*m"
);
// CI timestamp prefixes: `07:08:11 `, `[2025-02-27T14:06:26.227Z] `, `2026-11-27T18:04:20Z: `,
// `2025/02/27 14:06:26.227 `, `[Container] `; possibly several in a row.
re!(
    CI_PREFIX,
    r"^(?:\[[^\]]{1,64}\]\s*|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?:?\s+|\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s+|\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\s+)+"
);
// A block header counts only at the start of a line (after CI prefixes):
// provisioner output is always prefixed with the build name.
re!(HEADER, r"^--> (\S+): AMIs were created:\s*(.*)$");
// The same text anywhere: counted as foreign when it is not a header.
re!(ANY_HEADER, r"--> \S+: AMIs were created:");
re!(
    REGION_LINE,
    r"^\s*([a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}): (ami-[0-9a-f]{8}(?:[0-9a-f]{9})?)\s*$"
);
re!(REGION, r"^[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}$");
re!(AMI, r"^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$");
re!(ERRORED, r"Build '([^']+)' errored(?: after [^:]*)?: (.*)$");
re!(SUMMARY_ERROR, r"^--> ([^:\s]+): (.+)$");

/// True when `s` is a syntactically valid AWS region name.
pub fn is_region(s: &str) -> bool {
    REGION.is_match(s)
}

/// True when `s` is a syntactically valid AMI id.
pub fn is_ami_id(s: &str) -> bool {
    AMI.is_match(s)
}

/// Builder ids whose artifacts are never AMIs.
const NON_AMI_BUILDERS: &[&str] = &["mitchellh.amazon.ebsvolume"];

/// Where a line of text came from, which decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A raw text line (a human log; in a machine-readable stream, something
    /// that is not a Packer record).
    Text,
    /// Packer's own `ui,say` in a machine-readable stream.
    Say,
    /// `ui,message` / `ui,error`: where provisioner output goes. Output,
    /// never structure.
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Looking for needles.
    Scan,
    /// Inside "--> NAME: AMIs were created:"; `seen` once a region line was
    /// taken; `origin` says which set its AMIs go to.
    Block {
        build: String,
        seen: bool,
        origin: Origin,
    },
    /// Inside "Some builds didn't complete successfully and had errors:".
    Errors,
}

/// Streaming extractor: feed it bytes in any chunking, then [`Extractor::finish`].
#[derive(Debug)]
pub struct Extractor {
    state: State,
    /// From `artifact,N,id` records.
    records: BTreeSet<Artifact>,
    /// From top-level blocks in human text.
    text: BTreeSet<Artifact>,
    /// From Packer's `ui,say` summary blocks.
    summary: BTreeSet<Artifact>,
    /// Text blocks may count (a log of unknown shape); false for the
    /// machine-readable stream of a run we started.
    trust_text: bool,
    builder_ids: HashMap<(String, String), String>,
    pending: Vec<u8>,
    pending_overflow: bool,
    /// Newline-terminated lines consumed so far (for line numbers).
    lines_done: u64,
    /// Top-level headers seen in text lines (foreign if the stream turns
    /// out to be machine-readable).
    text_headers: usize,
    out: Extraction,
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

impl Extractor {
    /// An extractor for a log of any shape (`extract`): human artifact
    /// blocks count unless the log turns out to be machine-readable.
    pub fn new() -> Self {
        Extractor {
            state: State::Scan,
            records: BTreeSet::new(),
            text: BTreeSet::new(),
            summary: BTreeSet::new(),
            trust_text: true,
            builder_ids: HashMap::new(),
            pending: Vec::new(),
            pending_overflow: false,
            lines_done: 0,
            text_headers: 0,
            out: Extraction::default(),
        }
    }

    /// An extractor for the `-machine-readable` stream of a Packer run we
    /// started (`build`): only `artifact,N,id` records ever name an artifact,
    /// whatever else appears in the stream.
    pub fn packer_stream() -> Self {
        Extractor {
            trust_text: false,
            ..Self::new()
        }
    }

    /// Feed the next chunk of the log.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.out.bytes += data.len() as u64;
        if !self.out.binary && memchr::memchr(0, data).is_some() {
            self.out.binary = true;
        }
        if !self.pending.is_empty() || self.pending_overflow {
            match memchr::memchr(b'\n', data) {
                None => {
                    self.push_pending(data);
                    return;
                }
                Some(nl) => {
                    self.push_pending(&data[..nl]);
                    if self.pending_overflow {
                        self.overlong(self.lines_done + 1);
                    } else {
                        let line = std::mem::take(&mut self.pending);
                        self.line(&line);
                        self.pending = line;
                    }
                    self.pending.clear();
                    self.pending_overflow = false;
                    self.lines_done += 1;
                    data = &data[nl + 1..];
                }
            }
        }
        let complete = match memchr::memrchr(b'\n', data) {
            Some(last) => last + 1,
            None => 0,
        };
        self.scan(&data[..complete]);
        self.lines_done += memchr::memchr_iter(b'\n', &data[..complete]).count() as u64;
        self.push_pending(&data[complete..]);
    }

    fn push_pending(&mut self, data: &[u8]) {
        if self.pending_overflow {
            return;
        }
        if self.pending.len() + data.len() > MAX_LINE {
            self.pending.clear();
            self.pending_overflow = true;
        } else {
            self.pending.extend_from_slice(data);
        }
    }

    /// An overlong line (number `line_no`) was skipped: count it, and let it
    /// end an open block like any other foreign line.
    fn overlong(&mut self, line_no: u64) {
        self.out.overlong_lines += 1;
        if self.out.overlong_line_numbers.len() < MAX_REPORTED_LINES {
            self.out.overlong_line_numbers.push(line_no);
        }
        if matches!(self.state, State::Block { .. }) {
            self.state = State::Scan;
        }
    }

    /// Count the overlong lines in `seg` (complete lines that the needle
    /// search skipped). Only a segment longer than [`MAX_LINE`] can hold one,
    /// so the common case costs one comparison.
    fn overlong_in(&mut self, buf: &[u8], from: usize, to: usize) {
        if to - from <= MAX_LINE {
            return;
        }
        let mut line_start = from;
        for nl in memchr::memchr_iter(b'\n', &buf[from..to]).map(|i| from + i) {
            if nl - line_start > MAX_LINE {
                let n = self.line_number_at(buf, line_start);
                self.overlong(n);
            }
            line_start = nl + 1;
        }
    }

    /// The 1-based number of the line starting at `pos` of the buffer being
    /// scanned (rare: only for overlong lines).
    fn line_number_at(&self, buf: &[u8], pos: usize) -> u64 {
        self.lines_done + memchr::memchr_iter(b'\n', &buf[..pos]).count() as u64 + 1
    }

    /// Scan a buffer made of complete lines (each ending in `\n`).
    fn scan(&mut self, buf: &[u8]) {
        let mut pos = 0;
        while pos < buf.len() {
            if self.state != State::Scan {
                let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
                if end - pos > MAX_LINE {
                    let n = self.line_number_at(buf, pos);
                    self.overlong(n);
                } else {
                    self.line(&buf[pos..end]);
                }
                pos = end + 1;
                continue;
            }
            let Some(m) = NEEDLE_AC.find(&buf[pos..]) else {
                self.overlong_in(buf, pos, buf.len());
                break;
            };
            let hit = pos + m.start();
            let start = memchr::memrchr(b'\n', &buf[pos..hit]).map_or(pos, |i| pos + i + 1);
            self.overlong_in(buf, pos, start);
            let end = memchr::memchr(b'\n', &buf[hit..]).map_or(buf.len(), |i| hit + i);
            if end - start > MAX_LINE {
                let n = self.line_number_at(buf, start);
                self.overlong(n);
            } else {
                self.line(&buf[start..end]);
            }
            pos = end + 1;
        }
    }

    /// Decode and interpret one raw line.
    fn line(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let text = normalize(&text);
        let text = strip_ci_prefix(&text);
        if let Some(rec) = split_machine(text) {
            let (target, kind, rest) = (
                rec.target.to_string(),
                rec.kind.to_string(),
                rec.rest.to_string(),
            );
            self.machine(&target, &kind, &rest);
            return;
        }
        self.human(text, Origin::Text);
    }

    /// One `-machine-readable` line: `timestamp,target,type,data...`.
    fn machine(&mut self, target: &str, kind: &str, rest: &str) {
        self.out.machine_readable = true;
        match kind {
            "ui" => {
                // ui,<say|message|error>,<text with \n escaped and commas as %!(PACKER_COMMA)>
                let (level, msg) = rest.split_once(',').unwrap_or((rest, ""));
                let origin = if level == "say" {
                    Origin::Say
                } else {
                    Origin::Output
                };
                let msg = msg.replace("%!(PACKER_COMMA)", ",");
                for piece in msg.split("\\n") {
                    let piece = strip_ci_prefix(piece);
                    self.human(piece, origin);
                }
                // A ui message is self-contained: blocks never run past it.
                self.state = State::Scan;
            }
            "artifact" => {
                let mut parts = rest.splitn(3, ',');
                let idx = parts.next().unwrap_or("").to_string();
                let key = parts.next().unwrap_or("");
                let value = parts.next().unwrap_or("").trim();
                match key {
                    "builder-id" => {
                        self.builder_ids
                            .insert((target.to_string(), idx), value.to_string());
                    }
                    "id" => {
                        let builder = self.builder_ids.get(&(target.to_string(), idx));
                        if builder.is_some_and(|b| NON_AMI_BUILDERS.contains(&b.as_str())) {
                            return;
                        }
                        let value = value.replace("%!(PACKER_COMMA)", ",");
                        for pair in value.split(',') {
                            if let Some((region, ami)) = pair.trim().split_once(':') {
                                if is_region(region) && is_ami_id(ami) {
                                    self.records.insert(Artifact {
                                        build: target.to_string(),
                                        region: region.to_string(),
                                        ami_id: ami.to_string(),
                                    });
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            "error" => {
                let msg = rest.replace("%!(PACKER_COMMA)", ",").replace("\\n", " ");
                self.push_error(format!("{target}: {}", msg.trim()));
            }
            _ => {}
        }
    }

    fn take(&mut self, origin: Origin, artifact: Artifact) {
        match origin {
            Origin::Text => self.text.insert(artifact),
            Origin::Say => self.summary.insert(artifact),
            Origin::Output => false,
        };
    }

    /// One line of text (already normalised and prefix-stripped).
    fn human(&mut self, line: &str, origin: Origin) {
        match &mut self.state {
            State::Block { seen, .. } => {
                if line.trim().is_empty() {
                    if *seen {
                        self.state = State::Scan;
                    }
                    // pre-1.1 layout: a blank line right after the header.
                    return;
                }
                if let Some(c) = REGION_LINE.captures(line) {
                    if let State::Block {
                        build,
                        seen,
                        origin: block_origin,
                    } = &mut self.state
                    {
                        *seen = true;
                        let (build, block_origin) = (build.clone(), *block_origin);
                        self.take(
                            block_origin,
                            Artifact {
                                build,
                                region: c[1].to_string(),
                                ami_id: c[2].to_string(),
                            },
                        );
                    }
                    return;
                }
                self.state = State::Scan;
            }
            State::Errors => {
                if line.trim().is_empty() {
                    return;
                }
                if let Some(c) = SUMMARY_ERROR.captures(line.trim_start()) {
                    self.push_error(format!("{}: {}", &c[1], c[2].trim()));
                    return;
                }
                self.state = State::Scan;
            }
            State::Scan => {}
        }

        // Output a build printed (`    NAME: ...`, and anything in
        // ui,message/ui,error) can only add to the error explanation.
        let structural = origin != Origin::Output;
        if structural && line.starts_with("==> Builds finished") {
            self.out.builds_finished += 1;
            if line.contains("no artifacts were created") {
                self.out.no_artifacts_reported = true;
            }
        }
        if line.contains("Cancelling build") || line.contains("build was cancelled") {
            self.out.cancelled = true;
        }
        match HEADER.captures(line).filter(|_| structural) {
            Some(c) => {
                if self.out.builds_finished == 0 {
                    self.out.headers_outside_summary += 1;
                    return;
                }
                let build = c[1].to_string();
                let tail = c.get(2).map_or("", |m| m.as_str());
                let seen = match REGION_LINE.captures(tail) {
                    Some(r) => {
                        let a = Artifact {
                            build: build.clone(),
                            region: r[1].to_string(),
                            ami_id: r[2].to_string(),
                        };
                        self.take(origin, a);
                        true
                    }
                    None => false,
                };
                if origin == Origin::Text {
                    self.text_headers += 1;
                }
                self.state = State::Block {
                    build,
                    seen,
                    origin,
                };
                return;
            }
            None if ANY_HEADER.is_match(line) => {
                self.out.foreign_headers += 1;
                return;
            }
            None => {}
        }
        if line.starts_with("==> Some builds didn't complete successfully") {
            self.state = State::Errors;
            return;
        }
        if line.starts_with(char::is_whitespace) && origin == Origin::Output {
            return;
        }
        if let Some(c) = ERRORED.captures(line) {
            let msg = format!("{}: {}", &c[1], c[2].trim());
            if msg.contains("build was cancelled") {
                self.out.cancelled = true;
            }
            self.push_error(msg);
        }
    }

    fn push_error(&mut self, msg: String) {
        // One message may arrive whole (machine-readable `error`) and cut at its
        // first line (the ui summary): keep the longest, once.
        let mut msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        if self.out.errors.iter().any(|e| e.starts_with(&msg)) {
            return;
        }
        if let Some(pos) = self
            .out
            .errors
            .iter()
            .position(|e| msg.starts_with(e.as_str()))
        {
            self.out.errors.remove(pos);
        }
        if msg.len() > MAX_ERROR_LEN {
            let mut cut = MAX_ERROR_LEN;
            while !msg.is_char_boundary(cut) {
                cut -= 1;
            }
            msg.truncate(cut);
            msg.push_str("...");
        }
        if self.out.errors.len() < MAX_ERRORS && !self.out.errors.contains(&msg) {
            self.out.errors.push(msg);
        }
    }

    /// Finish reading. The last line need not end in a newline, unless it is
    /// part of an artifact: then the log was cut, possibly inside an id.
    pub fn finish(mut self) -> Extraction {
        if self.pending_overflow {
            self.overlong(self.lines_done + 1);
        } else if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            let in_block = matches!(self.state, State::Block { .. })
                && !String::from_utf8_lossy(&line).trim().is_empty();
            let artifact_line = memchr::memmem::find(&line, b"AMIs were created").is_some()
                || memchr::memmem::find(&line, b",artifact,").is_some();
            if in_block || artifact_line {
                self.out.truncated_artifact_line = true;
            } else {
                self.line(&line);
            }
        }
        // Once the stream is machine-readable, text that is not a record
        // (a process writing to Packer's stdout) never names an artifact.
        let text_counts = self.trust_text && !self.out.machine_readable;
        if !text_counts {
            self.out.foreign_headers += self.text_headers;
        }
        self.out.artifacts = if text_counts {
            self.text.into_iter().collect()
        } else {
            self.records.into_iter().collect()
        };
        self.out.summary_artifacts = self.summary.into_iter().collect();
        self.out
    }
}

/// One `-machine-readable` record: `timestamp,target,type,rest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineRecord<'a> {
    /// Unix timestamp.
    pub timestamp: &'a str,
    /// Build name, or empty for ui records.
    pub target: &'a str,
    /// Record type (`ui`, `artifact`, `error`, ...).
    pub kind: &'a str,
    /// Everything after the type, still escaped.
    pub rest: &'a str,
}

/// Split a `-machine-readable` line, or `None` if it is not one. Written by hand
/// (no regex) because it runs on every line Packer prints during `build`.
pub fn split_machine(line: &str) -> Option<MachineRecord<'_>> {
    let mut it = line.splitn(4, ',');
    let timestamp = it.next()?;
    if timestamp.len() < 6 || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let target = it.next()?;
    let kind = it.next()?;
    if kind.is_empty()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some(MachineRecord {
        timestamp,
        target,
        kind,
        rest: it.next().unwrap_or(""),
    })
}

/// Remove CR, ANSI colour codes (with or without ESC) and HTML-escaped arrows.
fn normalize(s: &str) -> std::borrow::Cow<'_, str> {
    let mut out = std::borrow::Cow::Borrowed(s.trim_end_matches(['\r', '\n']));
    if out.contains('\r') {
        out = std::borrow::Cow::Owned(out.replace('\r', ""));
    }
    if out.contains('[') {
        if let std::borrow::Cow::Owned(o) = ANSI.replace_all(&out, "") {
            out = std::borrow::Cow::Owned(o);
        }
    }
    if out.contains('&') {
        out = std::borrow::Cow::Owned(
            out.replace("&gt;", ">")
                .replace("&lt;", "<")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        );
    }
    out
}

/// Strip CI timestamp prefixes such as `07:08:11 ` or `[2025-02-27T14:06:26.227Z] `.
fn strip_ci_prefix(s: &str) -> &str {
    match CI_PREFIX.find(s) {
        Some(m) => &s[m.end()..],
        None => s,
    }
}

/// Extract from a whole in-memory log (convenience for tests and small inputs).
pub fn extract_bytes(data: &[u8]) -> Extraction {
    let mut x = Extractor::new();
    x.feed(data);
    x.finish()
}

/// Extract from any reader, streaming in fixed-size chunks.
pub fn extract_reader<R: std::io::Read>(mut reader: R) -> std::io::Result<Extraction> {
    let mut x = Extractor::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        x.feed(&buf[..n]);
    }
    Ok(x.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amis(x: &Extraction) -> Vec<(String, String, String)> {
        x.artifacts
            .iter()
            .map(|a| (a.build.clone(), a.region.clone(), a.ami_id.clone()))
            .collect()
    }

    fn t(b: &str, r: &str, a: &str) -> (String, String, String) {
        (b.into(), r.into(), a.into())
    }

    const BASIC: &str = "==> amazon-ebs: Creating AMI x from instance i-1\n    amazon-ebs: AMI: ami-0c4cbec3daaf0bac9\nBuild 'amazon-ebs' finished.\n\n==> Builds finished. The artifacts of successful builds are:\n--> amazon-ebs: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\nus-west-2: ami-06440139214f81529\n\n--> amazon-ebs: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\nus-west-2: ami-06440139214f81529\n";

    #[test]
    fn human_block_deduplicated_and_progress_line_ignored() {
        let x = extract_bytes(BASIC.as_bytes());
        assert_eq!(
            amis(&x),
            vec![
                t("amazon-ebs", "us-east-1", "ami-e17bba1c74a9e08c2"),
                t("amazon-ebs", "us-west-2", "ami-06440139214f81529"),
            ]
        );
        assert_eq!(x.builds_finished, 1);
    }

    #[test]
    fn every_chunking_gives_the_same_result() {
        let whole = extract_bytes(BASIC.as_bytes());
        for size in [1, 2, 3, 7, 64] {
            let mut x = Extractor::new();
            for chunk in BASIC.as_bytes().chunks(size) {
                x.feed(chunk);
            }
            assert_eq!(x.finish().artifacts, whole.artifacts, "chunk size {size}");
        }
    }

    #[test]
    fn pre_1_1_blank_line_after_header() {
        let log = "==> Builds finished. The artifacts of successful builds are:\n--> centos-7: AMIs were created:\n\nus-east-1: ami-12345678\n";
        let x = extract_bytes(log.as_bytes());
        assert_eq!(amis(&x), vec![t("centos-7", "us-east-1", "ami-12345678")]);
    }

    #[test]
    fn block_ends_at_first_foreign_line() {
        let log = "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-12345678\nsomething else\nus-west-2: ami-87654321\n";
        let x = extract_bytes(log.as_bytes());
        assert_eq!(amis(&x), vec![t("a", "us-east-1", "ami-12345678")]);
    }

    #[test]
    fn header_before_builds_finished_is_ignored() {
        let log = "--> a: AMIs were created:\nus-east-1: ami-12345678\n";
        let x = extract_bytes(log.as_bytes());
        assert!(x.artifacts.is_empty());
        assert_eq!(x.headers_outside_summary, 1);
        assert!(x
            .no_ami_explanation("stdin")
            .contains("without a preceding"));
    }

    #[test]
    fn prefixes_colours_html_and_crlf() {
        let log = "07:08:11 \x1b[1;32m==&gt; Builds finished. The artifacts of successful builds are:\x1b[0m\r\n[2025-02-27T14:06:26.227Z] [1;32m--&gt; amazon-ebs.base: AMIs were created:[0m\r\n2026-11-27T18:04:20Z: us-east-1: ami-e17bba1c74a9e08c2\r\n";
        let x = extract_bytes(log.as_bytes());
        assert_eq!(
            amis(&x),
            vec![t("amazon-ebs.base", "us-east-1", "ami-e17bba1c74a9e08c2")]
        );
    }

    #[test]
    fn machine_readable_artifact_with_packer_comma() {
        let log = "1795802656,,ui,say,\\n==> Builds finished. The artifacts of successful builds are:\n1795802656,amazon-ebs.base,artifact-count,1\n1795802656,amazon-ebs.base,artifact,0,builder-id,mitchellh.amazonebs\n1795802656,amazon-ebs.base,artifact,0,id,us-east-1:ami-42caaeeb7d5125f50%!(PACKER_COMMA)us-west-2:ami-7a0a52fd26a4d8109\n1795802656,amazon-ebs.base,artifact,0,string,AMIs were created:\\nus-east-1: ami-42caaeeb7d5125f50\\n\n1795802656,,ui,say,--> amazon-ebs.base: AMIs were created:\\nus-east-1: ami-42caaeeb7d5125f50\\nus-west-2: ami-7a0a52fd26a4d8109\\n\n";
        let x = extract_bytes(log.as_bytes());
        assert!(x.machine_readable);
        assert_eq!(
            amis(&x),
            vec![
                t("amazon-ebs.base", "us-east-1", "ami-42caaeeb7d5125f50"),
                t("amazon-ebs.base", "us-west-2", "ami-7a0a52fd26a4d8109"),
            ]
        );
    }

    #[test]
    fn ebsvolume_artifacts_are_not_amis() {
        let log = "1,vol,artifact,0,builder-id,mitchellh.amazon.ebsvolume\n1,vol,artifact,0,id,us-east-1:ami-12345678\n";
        assert!(extract_bytes(log.as_bytes()).artifacts.is_empty());
    }

    #[test]
    fn error_summary_is_kept() {
        let log = "Build 'amazon-ebs' errored after 320 milliseconds: Error processing tag\n\n==> Some builds didn't complete successfully and had errors:\n--> amazon-ebs: Error processing tag\n\n==> Builds finished but no artifacts were created.\n";
        let x = extract_bytes(log.as_bytes());
        assert!(x.artifacts.is_empty());
        assert!(x.no_artifacts_reported);
        assert_eq!(
            x.errors,
            vec!["amazon-ebs: Error processing tag".to_string()]
        );
        let msg = x.no_ami_explanation("build.log");
        assert!(msg.contains("skip_create_ami"), "{msg}");
        assert!(msg.contains("Error processing tag"), "{msg}");
    }

    #[test]
    fn overlong_lines_are_skipped_not_buffered() {
        let mut x = Extractor::new();
        let junk = vec![b'x'; MAX_LINE + 10];
        x.feed(&junk);
        x.feed(b"\n==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-12345678\n");
        let out = x.finish();
        assert_eq!(out.overlong_lines, 1);
        assert_eq!(out.artifacts.len(), 1);
    }

    const RECORDS: &str = "1795802656,,ui,say,\\n==> Builds finished. The artifacts of successful builds are:\n1795802656,a,artifact,0,builder-id,mitchellh.amazonebs\n1795802656,a,artifact,0,id,us-east-1:ami-42caaeeb7d5125f50\n1795802656,,ui,say,--> a: AMIs were created:\\nus-east-1: ami-42caaeeb7d5125f50\\n\n";

    #[test]
    fn ui_message_blocks_are_output_not_structure() {
        for spoof in [
            // a provisioner printing Packer's summary, with and without the build prefix
            "1795802656,,ui,message,    a: ==> Builds finished. The artifacts of successful builds are:\n1795802656,,ui,message,    a: --> a: AMIs were created:\\nus-east-1: ami-0badbadbadbadbad0\\n\n",
            "1795802656,,ui,message,==> Builds finished. The artifacts of successful builds are:\n1795802656,,ui,message,--> a: AMIs were created:\\nus-east-1: ami-0badbadbadbadbad0\\n\n",
            "1795802656,,ui,error,--> a: AMIs were created: us-east-1: ami-0badbadbadbadbad0\n",
            "1795802656,,ui,message,--> a: AMIs were created: us-east-1: ami-0badbadbadbadbad0\n",
        ] {
            // before and after Packer's own summary
            for log in [format!("{spoof}{RECORDS}"), format!("{RECORDS}{spoof}")] {
                for x in [
                    extract_bytes(log.as_bytes()),
                    {
                        let mut e = Extractor::packer_stream();
                        e.feed(log.as_bytes());
                        e.finish()
                    },
                ] {
                    assert_eq!(
                        amis(&x),
                        vec![t("a", "us-east-1", "ami-42caaeeb7d5125f50")],
                        "{log}"
                    );
                    assert!(x.foreign_headers >= 1, "{log}");
                    assert!(x.summary_disagreements().is_empty(), "{log}");
                }
            }
            // no records at all: nothing, and the explanation says why
            let x = extract_bytes(spoof.as_bytes());
            assert!(x.artifacts.is_empty(), "{spoof}");
            assert!(
                x.no_ami_explanation("log").contains("Packer did not print"),
                "{spoof}"
            );
        }
    }

    #[test]
    fn text_in_a_machine_readable_stream_never_counts() {
        // a background process that inherited Packer's stdout prints a block
        let log = format!("{RECORDS}==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-west-2: ami-0badbadbadbadbad0\n");
        let x = extract_bytes(log.as_bytes());
        assert_eq!(amis(&x), vec![t("a", "us-east-1", "ami-42caaeeb7d5125f50")]);
        assert_eq!(x.foreign_headers, 1);
        // build's stream: text never counts, even with no record at all
        let mut e = Extractor::packer_stream();
        e.feed(b"==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-west-2: ami-0badbadbadbadbad0\n");
        assert!(e.finish().artifacts.is_empty());
    }

    #[test]
    fn human_blocks_count_only_as_top_level_lines() {
        let log = "==> Builds finished. The artifacts of successful builds are:\n    a: --> a: AMIs were created:\n    a: us-east-1: ami-0badbadbadbadbad0\n    a: ==> Builds finished.\n07:08:11     a: --> a: AMIs were created: us-east-1: ami-0badbadbadbadbad0\n";
        let x = extract_bytes(log.as_bytes());
        assert!(x.artifacts.is_empty(), "{:?}", x.artifacts);
        assert_eq!(x.foreign_headers, 2);
        assert_eq!(x.builds_finished, 1);
    }

    #[test]
    fn a_log_cut_inside_an_artifact_line_is_truncated() {
        for log in [
            "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\nus-west-2: ami-06440139",
            "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created: us-west-2: ami-06440139",
            "1795802656,,ui,say,\\n==> Builds finished.\n1795802656,a,artifact,0,id,us-east-1:ami-06440139",
        ] {
            for size in [1, 5, 4096] {
                let mut x = Extractor::new();
                for c in log.as_bytes().chunks(size) {
                    x.feed(c);
                }
                let x = x.finish();
                assert!(x.truncated_artifact_line, "{log}");
                assert!(
                    !x.artifacts.iter().any(|a| a.ami_id == "ami-06440139"),
                    "{log}"
                );
                assert!(x.truncated_explanation("log").contains("ends inside an artifact line"));
            }
            // the same log with its newline is fine
            let whole = extract_bytes(format!("{log}\n").as_bytes());
            assert!(!whole.truncated_artifact_line);
            assert!(whole.artifacts.iter().any(|a| a.ami_id == "ami-06440139"));
        }
        // any other unterminated last line is read as before
        let x = extract_bytes(b"==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\n\nBuild done");
        assert!(!x.truncated_artifact_line);
        assert_eq!(x.artifacts.len(), 1);
    }

    #[test]
    fn every_aws_region_shape_is_read() {
        let log = "==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\neusc-de-east-1: ami-0123456789abcdef0\nus-gov-west-1: ami-0123456789abcdef1\n";
        let x = extract_bytes(log.as_bytes());
        assert_eq!(
            amis(&x),
            vec![
                t("a", "eusc-de-east-1", "ami-0123456789abcdef0"),
                t("a", "us-gov-west-1", "ami-0123456789abcdef1"),
            ]
        );
    }

    #[test]
    fn only_well_formed_ids_count() {
        for bad in [
            "ami-0644013",
            "ami-064401392",
            "ami-06440139214f8152",
            "ami-06440139214f815299",
            "ami-0644O139",
            "ami-0644013G",
            "AMI-06440139",
            "ami-06440139\u{200b}",
        ] {
            let human = format!("==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: {bad}\n");
            let machine = format!("1,a,artifact,0,id,us-east-1:{bad}\n");
            assert!(
                extract_bytes(human.as_bytes()).artifacts.is_empty(),
                "{bad}"
            );
            assert!(
                extract_bytes(machine.as_bytes()).artifacts.is_empty(),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_overlong_line_ends_the_block_and_is_reported_by_number() {
        let long = "x".repeat(MAX_LINE + 1);
        let log = format!("==> Builds finished. The artifacts of successful builds are:\n--> a: AMIs were created:\nus-east-1: ami-e17bba1c74a9e08c2\n{long}\nus-west-2: ami-06440139214f81529\nok\n{long}\n");
        for size in [log.len(), 1 << 16, 4099] {
            let mut x = Extractor::new();
            for c in log.as_bytes().chunks(size) {
                x.feed(c);
            }
            let x = x.finish();
            assert_eq!(
                amis(&x),
                vec![t("a", "us-east-1", "ami-e17bba1c74a9e08c2")],
                "chunk {size}"
            );
            assert_eq!(x.overlong_lines, 2, "chunk {size}");
            assert_eq!(x.overlong_line_numbers, vec![4, 7], "chunk {size}");
            assert!(
                x.overlong_summary().contains("line 4, 7"),
                "{}",
                x.overlong_summary()
            );
        }
    }

    #[test]
    fn records_and_summary_must_agree() {
        let log = "1795802656,,ui,say,\\n==> Builds finished. The artifacts of successful builds are:\n1795802656,a,artifact,0,id,us-east-1:ami-42caaeeb7d5125f50\n1795802656,,ui,say,--> a: AMIs were created:\\nus-east-1: ami-0000000000000000a\\n\n";
        let x = extract_bytes(log.as_bytes());
        let d = x.summary_disagreements();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("ami-42caaeeb7d5125f50") && d[1].contains("ami-0000000000000000a"));
        assert!(extract_bytes(RECORDS.as_bytes())
            .summary_disagreements()
            .is_empty());
    }

    #[test]
    fn empty_and_binary_inputs() {
        let e = extract_bytes(b"");
        assert!(e.artifacts.is_empty());
        assert!(e.no_ami_explanation("x").contains("empty"));
        let b = extract_bytes(&[0u8, 159, 146, 150, 0, b'\n', 255]);
        assert!(b.binary);
        assert!(b.artifacts.is_empty());
    }
}

/// What a line of Packer's `-machine-readable` stream looks like to a person.
///
/// `ui` messages become their text (commas and newlines unescaped); other
/// machine-readable records (artifact, error-count, ...) return `None`; lines
/// that are not machine-readable (a plugin's panic on stderr) pass through.
pub fn human_text(line: &str) -> Option<std::borrow::Cow<'_, str>> {
    use std::borrow::Cow;
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(rec) = split_machine(line) else {
        return Some(Cow::Borrowed(line));
    };
    if rec.kind != "ui" {
        return None;
    }
    let msg = rec.rest.split_once(',').map_or("", |(_, m)| m);
    // Most lines need no unescaping: borrow them (this runs on every line).
    if memchr::memchr2(b'%', b'\\', msg.as_bytes()).is_none() {
        return Some(Cow::Borrowed(msg));
    }
    Some(Cow::Owned(
        msg.replace("%!(PACKER_COMMA)", ",")
            .replace("\\n", "\n")
            .replace("\\r", ""),
    ))
}

#[cfg(test)]
mod human_text_tests {
    use super::human_text;

    #[test]
    fn ui_lines_become_text_and_records_disappear() {
        assert_eq!(
            human_text("1592842865,,ui,say,==> a: Deregistered AMI x%!(PACKER_COMMA) id: ami-1")
                .as_deref(),
            Some("==> a: Deregistered AMI x, id: ami-1")
        );
        assert_eq!(
            human_text("1592842865,,ui,say,\\n==> Builds finished.").as_deref(),
            Some("\n==> Builds finished.")
        );
        assert_eq!(
            human_text("1592842865,a,artifact,0,id,us-east-1:ami-1"),
            None
        );
        assert_eq!(human_text("panic: boom").as_deref(), Some("panic: boom"));
    }
}
