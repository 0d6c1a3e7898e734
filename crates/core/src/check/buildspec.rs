//! Check 4: no buildspec command pipes Packer's (or `ami-builder build`'s) output into
//! another command without `set -o pipefail`, the AWS sample's bug that hid Packer's exit
//! status.

use super::*;

// 4. Buildspec

/// Checks that no buildspec command pipes Packer's output, or
/// `ami-builder build`'s, into another command without `set -o pipefail`.
///
/// Without it a pipeline's status is its last command's (`tee`'s), so a
/// failed `packer build` passes the phase: the AWS sample's bug. Each item of
/// `phases.<phase>.commands` (and `finally`) is read as a shell script, with
/// quotes, comments, line continuations, here-documents and `$(...)`. A pipe
/// fails unless `set -o pipefail` (also `set -euo pipefail`, `set -eo pipefail`,
/// `set -o errexit -o pipefail`, ...) came earlier in the same command block,
/// or the block reads `PIPESTATUS` after it. Pipefail set only in an earlier
/// command of the same phase gives `warn`: whether CodeBuild carries shell
/// options from one command to the next depends on the buildspec version and
/// shell, so set it in the block that pipes.
///
/// One `fail`/`warn` per offending pipeline, or one `ok` when there is none.
pub fn check_buildspec(name: &str, text: &str) -> Vec<CheckResult> {
    let doc = match parse_document(text) {
        Ok(doc) => doc,
        Err(e) => {
            return vec![CheckResult::fail(
                name,
                format!("cannot read the buildspec: {e}"),
            )]
        }
    };
    let Some(Node::Map(phases)) = doc.get("phases") else {
        return vec![CheckResult::warn(name, "no phases found: nothing to check")];
    };
    let mut results = Vec::new();
    let mut blocks = 0usize;
    for (phase, body) in phases {
        let mut carried = false;
        for list in ["commands", "finally"] {
            let Some(Node::Seq(commands)) = body.get(list) else {
                continue;
            };
            for (i, cmd) in commands.iter().enumerate() {
                let Some(script) = cmd.scalar_text() else {
                    continue;
                };
                blocks += 1;
                let scan = scan_script(&script, carried);
                carried = scan.pipefail_at_end;
                let place = if list == "commands" {
                    format!("phase {phase}, command {}", i + 1)
                } else {
                    format!("phase {phase}, finally command {}", i + 1)
                };
                for p in scan.problems {
                    let snippet = snippet(&script, p.line);
                    let what = if p.ami_builder {
                        "pipes `ami-builder build`'s output"
                    } else {
                        "pipes Packer's output"
                    };
                    if p.carried {
                        results.push(CheckResult::warn(
                            name,
                            format!(
                                "{place}, line {}: `{snippet}` {what} with `set -o pipefail` only in an earlier command of the phase; set it in this block too, or the pipe may hide the exit status",
                                p.line
                            ),
                        ));
                    } else {
                        results.push(CheckResult::fail(
                            name,
                            format!(
                                "{place}, line {}: `{snippet}` {what} without `set -o pipefail`: the AWS sample's bug, the pipe hides {} exit status; start the block with `set -euo pipefail`",
                                p.line,
                                if p.ami_builder { "its" } else { "Packer's" }
                            ),
                        ));
                    }
                }
            }
        }
    }
    if blocks == 0 {
        return vec![CheckResult::warn(
            name,
            "no phase has commands: nothing to check",
        )];
    }
    if results.is_empty() {
        results.push(CheckResult::ok(
            name,
            format!("no command pipes Packer's or `ami-builder build`'s output without pipefail ({blocks} command blocks)"),
        ));
    }
    results
}

pub(super) fn snippet(script: &str, line: usize) -> String {
    let text = script
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .trim();
    if text.chars().count() > 100 {
        let cut: String = text.chars().take(97).collect();
        format!("{cut}...")
    } else {
        text.to_string()
    }
}

/// One unprotected pipeline.
pub(super) struct PipeProblem {
    pub(super) line: usize,
    pub(super) ami_builder: bool,
    /// Pipefail was only set by an earlier command block of the phase.
    pub(super) carried: bool,
}

pub(super) struct ScriptScan {
    pub(super) problems: Vec<PipeProblem>,
    pub(super) pipefail_at_end: bool,
}

/// Reserved words and wrappers that come before the command word.
pub(super) const SHELL_KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "time", "exec", "command",
    "builtin", "fi", "done",
];
pub(super) const WRAPPERS: &[&str] =
    &["sudo", "env", "nice", "nohup", "stdbuf", "timeout", "xargs"];

pub(super) static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=").expect("a valid regex")
});
pub(super) static DURATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]+(\.[0-9]+)?[smhd]?$").expect("a valid regex"));

/// One simple command: its words (redirections removed) and first line.
/// A group (`{ ...; }`, `( ... )`, `if ... fi`, a loop) piped as a whole is a
/// command without words whose `inner` is the Packer or `ami-builder build`
/// command it runs, if any.
#[derive(Default)]
pub(super) struct SimpleCommand {
    pub(super) words: Vec<String>,
    pub(super) line: usize,
    pub(super) inner: Option<(usize, bool)>,
}

/// Compound commands opened and closed by reserved words.
pub(super) const GROUP_OPENERS: &[&str] = &["if", "while", "until", "for", "case", "select"];
pub(super) const GROUP_CLOSERS: &[&str] = &["fi", "done", "esac"];

/// The first Packer or `ami-builder build` command in these pipelines, as
/// `(line, is ami-builder)`.
pub(super) fn first_hidden_candidate(
    pipelines: &[(Vec<SimpleCommand>, usize)],
) -> Option<(usize, bool)> {
    pipelines
        .iter()
        .flat_map(|(cmds, _)| cmds)
        .find_map(SimpleCommand::runs_build)
}

impl SimpleCommand {
    /// The words from the command name on (keywords, assignments and
    /// wrappers with their options skipped).
    pub(super) fn command_words(&self) -> &[String] {
        let mut i = 0;
        let mut after_wrapper = false;
        while i < self.words.len() {
            let w = self.words[i].as_str();
            if SHELL_KEYWORDS.contains(&w) || ASSIGNMENT.is_match(w) {
                i += 1;
            } else if WRAPPERS.contains(&basename(w)) {
                after_wrapper = true;
                i += 1;
            } else if after_wrapper && (w.starts_with('-') || DURATION.is_match(w)) {
                i += 1;
            } else {
                break;
            }
        }
        &self.words[i..]
    }

    /// `(line, is ami-builder)` when this command is (or its group contains)
    /// a Packer or `ami-builder build` command.
    pub(super) fn runs_build(&self) -> Option<(usize, bool)> {
        if self.inner.is_some() {
            return self.inner;
        }
        let words = self.command_words();
        if is_packer(words) {
            Some((self.line, false))
        } else if is_ami_builder_build(words) {
            Some((self.line, true))
        } else {
            None
        }
    }
}

pub(super) fn basename(word: &str) -> &str {
    let w = word.trim_matches(|c| c == '"' || c == '\'');
    w.rsplit('/').next().unwrap_or(w)
}

pub(super) fn is_packer(cmd: &[String]) -> bool {
    cmd.first()
        .is_some_and(|w| matches!(basename(w), "packer" | "packer.exe"))
}

pub(super) fn is_ami_builder_build(cmd: &[String]) -> bool {
    cmd.first()
        .is_some_and(|w| matches!(basename(w), "ami-builder" | "ami-builder.exe"))
        && cmd.iter().skip(1).any(|w| w == "build")
}

/// How a `set` command changes pipefail: `Some(true)` on, `Some(false)` off.
pub(super) fn set_pipefail(cmd: &[String]) -> Option<bool> {
    if cmd.first().map(String::as_str) != Some("set") {
        return None;
    }
    let mut result = None;
    let mut pending: Option<bool> = None;
    for w in &cmd[1..] {
        if let Some(on) = pending.take() {
            if w == "pipefail" {
                result = Some(on);
                continue;
            }
        }
        let (sign, flags) = match w.chars().next() {
            Some('-') => (true, &w[1..]),
            Some('+') => (false, &w[1..]),
            _ => continue,
        };
        // `-o`, `-euo`, `-Eeuxo`: an `o` among the flags takes the next word.
        if !flags.is_empty()
            && flags.chars().all(|c| c.is_ascii_alphabetic())
            && flags.contains('o')
        {
            pending = Some(sign);
        }
    }
    result
}

pub(super) fn scan_script(script: &str, carried_in: bool) -> ScriptScan {
    let toks = lex_shell(script);
    // Group into pipelines of simple commands.
    let mut pipelines: Vec<(Vec<SimpleCommand>, usize)> = Vec::new(); // (commands, first token index)
    let mut current: Vec<SimpleCommand> = Vec::new();
    let mut cmd = SimpleCommand::default();
    let mut start_tok = 0usize;
    let mut skip_next_word = false;
    // Where each open group began, as an index into `pipelines`.
    let mut groups: Vec<usize> = Vec::new();

    pub(super) fn end_pipeline(
        cmd: &mut SimpleCommand,
        current: &mut Vec<SimpleCommand>,
        pipelines: &mut Vec<(Vec<SimpleCommand>, usize)>,
        start_tok: usize,
    ) {
        if !cmd.words.is_empty() || cmd.inner.is_some() || !current.is_empty() {
            current.push(std::mem::take(cmd));
            pipelines.push((std::mem::take(current), start_tok));
        } else {
            *cmd = SimpleCommand::default();
        }
    }

    for (idx, t) in toks.iter().enumerate() {
        match t {
            Tok::Word { text, line } => {
                if skip_next_word {
                    skip_next_word = false;
                    continue;
                }
                if cmd.words.is_empty() && cmd.inner.is_none() {
                    if GROUP_CLOSERS.contains(&text.as_str()) {
                        let start = groups.pop().unwrap_or(pipelines.len()).min(pipelines.len());
                        cmd.inner = first_hidden_candidate(&pipelines[start..]);
                        cmd.line = *line;
                        continue;
                    }
                    if GROUP_OPENERS.contains(&text.as_str()) {
                        groups.push(pipelines.len());
                    }
                    cmd.line = *line;
                }
                cmd.words.push(text.clone());
            }
            Tok::Redir => skip_next_word = true,
            Tok::Pipe => {
                skip_next_word = false;
                current.push(std::mem::take(&mut cmd));
            }
            Tok::Sep => {
                skip_next_word = false;
                end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);
                start_tok = idx + 1;
            }
            Tok::Open => {
                skip_next_word = false;
                end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);
                // A group that starts a pipeline's first command; commands
                // already piped into it stay in `current`.
                groups.push(pipelines.len());
                start_tok = idx + 1;
            }
            Tok::Close => {
                skip_next_word = false;
                end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);
                let start = groups.pop().unwrap_or(pipelines.len()).min(pipelines.len());
                cmd.inner = first_hidden_candidate(&pipelines[start..]);
                start_tok = idx + 1;
            }
        }
    }
    end_pipeline(&mut cmd, &mut current, &mut pipelines, start_tok);

    let mentions_pipestatus_after = |tok_index: usize| {
        toks[tok_index..].iter().any(|t| match t {
            Tok::Word { text, .. } => text.contains("PIPESTATUS"),
            _ => false,
        })
    };

    let mut pipefail = false;
    let mut problems = Vec::new();
    for (cmds, first_tok) in &pipelines {
        if cmds.len() == 1 {
            if let Some(on) = set_pipefail(cmds[0].command_words()) {
                pipefail = on;
            }
            continue;
        }
        if pipefail {
            continue;
        }
        // Every command but the last loses its status without pipefail.
        let hidden = cmds[..cmds.len() - 1]
            .iter()
            .find_map(SimpleCommand::runs_build);
        if let Some((line, ami_builder)) = hidden {
            if mentions_pipestatus_after(*first_tok) {
                continue;
            }
            problems.push(PipeProblem {
                line,
                ami_builder,
                carried: carried_in,
            });
        }
    }
    ScriptScan {
        problems,
        pipefail_at_end: pipefail || carried_in,
    }
}
