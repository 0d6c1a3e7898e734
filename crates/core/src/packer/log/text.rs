//! The line formats around Packer's text: `-machine-readable` records, CI timestamp prefixes,
//! ANSI codes and HTML escapes, and the human text of a machine-readable line (what `build`
//! echoes and writes to `build.log`).

use super::*;

/// One `-machine-readable` record: `timestamp,target,type,rest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineRecord<'a> {
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
pub(super) fn normalize(s: &str) -> std::borrow::Cow<'_, str> {
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
pub(super) fn strip_ci_prefix(s: &str) -> &str {
    match CI_PREFIX.find(s) {
        Some(m) => &s[m.end()..],
        None => s,
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
    pub(super) fn ui_lines_become_text_and_records_disappear() {
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
