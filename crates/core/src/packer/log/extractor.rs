//! The streaming extractor: scans chunks for a few literal needles (Aho-Corasick), decodes
//! only the lines that hold one and the short blocks after them, and decides by each line's
//! origin what it may name (see the module above: only Packer names an artifact).

use super::*;

/// Literal needles that mark the only lines worth decoding outside a block.
pub(super) const NEEDLES: &[&str] = &[
    "AMIs were created",
    "Builds finished",
    ",artifact,",
    ",error,",
    "errored",
    "Some builds didn't",
    "Cancelling build",
];

pub(super) static NEEDLE_AC: LazyLock<AhoCorasick> = LazyLock::new(|| {
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
        pub(super) static $name: LazyLock<Regex> = LazyLock::new(|| {
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
re!(ERRORED, r"Build '([^']+)' errored(?: after [^:]*)?: (.*)$");
re!(SUMMARY_ERROR, r"^--> ([^:\s]+): (.+)$");

/// Builder ids whose artifacts are never AMIs.
pub(super) const NON_AMI_BUILDERS: &[&str] = &["mitchellh.amazon.ebsvolume"];

/// Where a line of text came from, which decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
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
pub(super) enum State {
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

    pub(super) fn push_pending(&mut self, data: &[u8]) {
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
    pub(super) fn overlong(&mut self, line_no: u64) {
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
    pub(super) fn overlong_in(&mut self, buf: &[u8], from: usize, to: usize) {
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
    pub(super) fn line_number_at(&self, buf: &[u8], pos: usize) -> u64 {
        self.lines_done + memchr::memchr_iter(b'\n', &buf[..pos]).count() as u64 + 1
    }

    /// Scan a buffer made of complete lines (each ending in `\n`).
    pub(super) fn scan(&mut self, buf: &[u8]) {
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
    pub(super) fn line(&mut self, raw: &[u8]) {
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
    pub(super) fn machine(&mut self, target: &str, kind: &str, rest: &str) {
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
                                if let Some(a) = Artifact::new(target, region, ami) {
                                    self.records.insert(a);
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

    pub(super) fn take(&mut self, origin: Origin, artifact: Artifact) {
        match origin {
            Origin::Text => self.text.insert(artifact),
            Origin::Say => self.summary.insert(artifact),
            Origin::Output => false,
        };
    }

    /// One line of text (already normalised and prefix-stripped).
    pub(super) fn human(&mut self, line: &str, origin: Origin) {
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
                        if let Some(a) = Artifact::new(&build, &c[1], &c[2]) {
                            self.take(block_origin, a);
                        }
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
                        if let Some(a) = Artifact::new(&build, &r[1], &r[2]) {
                            self.take(origin, a);
                        }
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

    pub(super) fn push_error(&mut self, msg: String) {
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
