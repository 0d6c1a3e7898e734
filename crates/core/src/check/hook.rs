//! Check 3: the git pre-commit hook `ami-builder check --install-hook` writes, and how to
//! tell it from someone else's.

use super::*;

// 3. The pre-commit hook

/// The git pre-commit hook `ami-builder check --install-hook` writes to
/// `.git/hooks/pre-commit` (mode 0755). It runs `ami-builder check` from the
/// repository root and stops the commit when it exits non-zero.
pub fn pre_commit_hook() -> &'static str {
    r#"#!/usr/bin/env bash
# ami-builder pre-commit hook
# Written by `ami-builder check --install-hook`. Before each commit it runs
# `ami-builder check` from the repository root (EventBridge rules match the
# event, retention tags lint clean, `packer validate`, no pipe hiding Packer's
# exit status in the buildspec) and stops the commit when a check fails.
# It checks the working tree, not only what is staged.
# Skip it once with `git commit --no-verify`. Set AMI_BUILDER to use another
# binary (e.g. AMI_BUILDER=target/debug/ami-builder).
set -euo pipefail

root="$(git rev-parse --show-toplevel)"
cd "${root}"

ami_builder="${AMI_BUILDER:-ami-builder}"
if ! command -v "${ami_builder}" > /dev/null 2>&1; then
  echo "pre-commit: ${ami_builder} not found; install it (cargo install --path .) or set AMI_BUILDER" >&2
  echo "pre-commit: to commit without the check: git commit --no-verify" >&2
  exit 1
fi

if ! "${ami_builder}" check; then
  echo "pre-commit: ami-builder check failed; fix the findings above (or git commit --no-verify)" >&2
  exit 1
fi
"#
}

/// What is at the hook's path, as far as replacing it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookFile {
    /// Nothing: write ours.
    Absent,
    /// A hook this command wrote: replace it.
    Ours,
    /// Anything else, said in words: never replaced without `--force`.
    Foreign(String),
}

/// Classify an existing regular file's bytes: ours only when it begins the
/// way [`pre_commit_hook`] does (its shebang, then [`HOOK_MARKER`]); a
/// binary, non-UTF-8 or other text hook is someone else's.
pub fn classify_hook(bytes: &[u8]) -> HookFile {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'));
    let Some(text) = text else {
        return HookFile::Foreign("a binary or non-UTF-8 file".into());
    };
    let mut lines = text.lines();
    match (lines.next(), lines.next()) {
        (Some(first), Some(second)) if first.starts_with("#!") && second == HOOK_MARKER => {
            HookFile::Ours
        }
        _ => HookFile::Foreign("a hook ami-builder did not write".into()),
    }
}

/// How to run the check from a hook of one's own, for the refusal message.
pub const HOOK_CHAIN_HINT: &str = "add the line `ami-builder check \"$(git rev-parse --show-toplevel)\" || exit 1` to it to chain the check";
