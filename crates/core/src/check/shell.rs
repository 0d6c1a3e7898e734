//! A shell lexer for buildspec commands: enough of bash's grammar (quotes, escapes,
//! substitutions, here-documents, groups) to find pipelines and `set` commands.
//! Written by hand: the shell-parsing crates either tokenise words only (`shell-words`,
//! `shlex`) or are full interpreters; we need operators and line numbers.

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word {
        text: String,
        line: usize,
    },
    /// `|` or `|&`.
    Pipe,
    /// `;`, `&&`, `||`, `&`, newline, a backquote: the end of a pipeline.
    Sep,
    /// `(`, `$(` or the reserved word `{`: a group of commands begins.
    Open,
    /// `)` or the reserved word `}`: the group ends.
    Close,
    /// A redirection operator; its target is the next word.
    Redir,
}

/// Splits a shell script into words and operators (enough of bash's grammar
/// to find pipelines and `set` commands).
pub(super) fn lex_shell(script: &str) -> Vec<Tok> {
    let chars: Vec<char> = script.chars().collect();
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut word_line = 1usize;
    let mut line = 1usize;
    let mut i = 0usize;
    let mut heredocs: Vec<(String, bool)> = Vec::new();
    let mut want_heredoc_word: Option<bool> = None;

    pub(super) fn flush(
        word: &mut String,
        word_line: usize,
        toks: &mut Vec<Tok>,
        want: &mut Option<bool>,
        heredocs: &mut Vec<(String, bool)>,
    ) {
        if word.is_empty() {
            return;
        }
        let text = std::mem::take(word);
        if let Some(strip_tabs) = want.take() {
            let delim: String = text
                .chars()
                .filter(|c| *c != '\'' && *c != '"' && *c != '\\')
                .collect();
            heredocs.push((delim, strip_tabs));
        }
        if text == "{" {
            toks.push(Tok::Open);
        } else if text == "}" {
            toks.push(Tok::Close);
        } else {
            toks.push(Tok::Word {
                text,
                line: word_line,
            });
        }
    }

    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\\' => {
                if next == Some('\n') {
                    line += 1;
                    i += 2;
                    continue;
                }
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
                if let Some(n) = next {
                    word.push(n);
                }
                i += 2;
            }
            '\'' | '"' => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    if c == '"' && chars[i] == '\\' && i + 1 < chars.len() {
                        word.push(chars[i]);
                        i += 1;
                        if chars[i] == '\n' {
                            line += 1;
                        }
                    }
                    word.push(chars[i]);
                    i += 1;
                }
                word.push(c);
                i += 1;
            }
            '$' if next == Some('{') => {
                if word.is_empty() {
                    word_line = line;
                }
                let mut depth = 0usize;
                while i < chars.len() {
                    let ch = chars[i];
                    word.push(ch);
                    i += 1;
                    if ch == '{' {
                        depth += 1;
                    } else if ch == '}' {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    } else if ch == '\n' {
                        line += 1;
                    }
                }
            }
            '$' if next == Some('(') => {
                // Command substitution (or arithmetic): its commands are
                // commands too; `$(` opens like `(`.
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                toks.push(Tok::Open);
                i += 2;
            }
            '#' if word.is_empty() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ' ' | '\t' | '\r' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                i += 1;
            }
            '\n' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                // A line ending in `|` continues the pipeline.
                if toks.last() != Some(&Tok::Pipe) {
                    toks.push(Tok::Sep);
                }
                line += 1;
                i += 1;
                // Skip here-document bodies.
                for (delim, strip_tabs) in std::mem::take(&mut heredocs) {
                    while i < chars.len() {
                        let start = i;
                        while i < chars.len() && chars[i] != '\n' {
                            i += 1;
                        }
                        let body_line: String = chars[start..i].iter().collect();
                        i = (i + 1).min(chars.len());
                        line += 1;
                        let cmp = if strip_tabs {
                            body_line.trim_start_matches('\t')
                        } else {
                            body_line.as_str()
                        };
                        if cmp.trim_end() == delim || cmp.trim() == delim {
                            break;
                        }
                    }
                }
            }
            '|' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                match next {
                    Some('|') => {
                        toks.push(Tok::Sep);
                        i += 2;
                    }
                    Some('&') => {
                        toks.push(Tok::Pipe);
                        i += 2;
                    }
                    _ => {
                        toks.push(Tok::Pipe);
                        i += 1;
                    }
                }
            }
            '&' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                if next == Some('>') {
                    // `&>` / `&>>`
                    toks.push(Tok::Redir);
                    i += 2;
                    if chars.get(i) == Some(&'>') {
                        i += 1;
                    }
                } else {
                    toks.push(Tok::Sep);
                    i += if next == Some('&') { 2 } else { 1 };
                }
            }
            ';' | '(' | ')' | '`' => {
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                toks.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Sep,
                });
                i += 1;
            }
            '<' | '>' => {
                // A file-descriptor number right before belongs to the redirection.
                if !word.is_empty() && word.chars().all(|ch| ch.is_ascii_digit()) {
                    word.clear();
                }
                flush(
                    &mut word,
                    word_line,
                    &mut toks,
                    &mut want_heredoc_word,
                    &mut heredocs,
                );
                let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
                let op_len = if c == '<' {
                    if rest.starts_with("<<<") {
                        3
                    } else if rest.starts_with("<<-") {
                        want_heredoc_word = Some(true);
                        3
                    } else if rest.starts_with("<<") {
                        want_heredoc_word = Some(false);
                        2
                    } else if rest.starts_with("<&") || rest.starts_with("<>") {
                        2
                    } else {
                        1
                    }
                } else if rest.starts_with(">>") || rest.starts_with(">|") || rest.starts_with(">&")
                {
                    2
                } else {
                    1
                };
                toks.push(Tok::Redir);
                i += op_len;
            }
            _ => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
                i += 1;
            }
        }
    }
    flush(
        &mut word,
        word_line,
        &mut toks,
        &mut want_heredoc_word,
        &mut heredocs,
    );
    toks
}
