//! Small helper processes (the process adapter besides Packer's runner): git,
//! `packer validate`.

use std::path::{Path, PathBuf};

/// `(HEAD sha, dirty)` of the git repository containing `dir`.
pub fn git_head(dir: &Path) -> Result<(String, bool), String> {
    let dir = if dir.is_dir() {
        dir
    } else {
        dir.parent().unwrap_or(Path::new("."))
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let sha = duct::cmd("git", ["rev-parse", "HEAD"])
        .dir(dir)
        .stderr_capture()
        .read()
        .map_err(|e| format!("`git rev-parse HEAD` in {} failed: {e}", dir.display()))?;
    let status = duct::cmd("git", ["status", "--porcelain", "--untracked-files=no"])
        .dir(dir)
        .stderr_capture()
        .read()
        .map_err(|e| format!("`git status` in {} failed: {e}", dir.display()))?;
    Ok((sha.trim().to_string(), !status.trim().is_empty()))
}

/// The directory git runs hooks from for the repository at `dir`: `git
/// rev-parse --git-path hooks`, which follows worktrees (their hooks live in
/// the main repository) and `core.hooksPath`. Absolute.
pub fn git_hooks_dir(dir: &Path) -> Result<PathBuf, String> {
    let out = duct::cmd("git", ["rev-parse", "--git-path", "hooks"])
        .dir(dir)
        .stderr_capture()
        .read()
        .map_err(|e| {
            format!(
                "{} is not in a git repository (`git rev-parse --git-path hooks` failed: {e})",
                dir.display()
            )
        })?;
    let hooks = PathBuf::from(out.trim());
    Ok(if hooks.is_absolute() {
        hooks
    } else {
        dir.join(hooks)
    })
}

/// `packer validate TEMPLATE`; Err carries Packer's output.
pub fn packer_validate(packer: &Path, template: &Path) -> Result<(), String> {
    let out = duct::cmd(packer, ["validate".as_ref(), template.as_os_str()])
        .env("CHECKPOINT_DISABLE", "1")
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .map_err(|e| format!("could not run {}: {e}", packer.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}
