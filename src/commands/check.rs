//! `ami-builder check`: reads the repository's pipeline files, runs the pure
//! checks of `crate::check`, `packer validate` when Packer is installed, and
//! installs the git pre-commit hook.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::Utc;

use crate::check::{self, CheckReport, CheckResult, Status};
use crate::cli::{CheckArgs, OutputFormat};
use crate::error::{Error, Result};
use crate::events::entry::{build_entry, envelope, EventFacts, DEFAULT_DETAIL_TYPE};
use crate::output;
use crate::retention::{lint_value, RetentionConfig};

fn files_in(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&pred)
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The event `build` would send for `status`, as EventBridge delivers it: built
/// by the same code as `event render`. A rule may name a status ami-builder
/// never sends (the check explains why it does not match): that literal is
/// written into the event as it is.
fn event_for(source: &str, status: &str) -> serde_json::Value {
    let mut facts = EventFacts {
        status: status.parse().unwrap_or_default(),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        build_id: Some("local:check".into()),
        name: Some("example".into()),
        family: Some("example".into()),
        ..EventFacts::default()
    };
    if let (Ok(r), Ok(a)) = ("us-east-1".parse(), "ami-0123456789abcdef0".parse()) {
        facts.add(r, a);
    }
    match build_entry(&facts, source, DEFAULT_DETAIL_TYPE, "default") {
        Ok(e) => {
            let mut event = envelope(
                &e,
                "00000000-0000-0000-0000-000000000000",
                "123456789012",
                "us-east-1",
                Utc::now(),
            );
            event["detail"]["AmiStatus"] = status.into();
            event
        }
        Err(_) => serde_json::Value::Null,
    }
}

fn read(p: &Path, report: &mut CheckReport) -> Option<String> {
    match std::fs::read_to_string(p) {
        Ok(t) => Some(t),
        Err(e) => {
            report.push(CheckResult::new(
                p.display().to_string(),
                Status::Fail,
                format!("cannot read: {e}"),
            ));
            None
        }
    }
}

/// Run `check`.
pub fn run(args: &CheckArgs, format: OutputFormat) -> Result<ExitCode> {
    if args.install_hook {
        return install_hook(&args.dir, args.force);
    }
    let mut report = CheckReport::new(Vec::new());
    let cfn = if args.cloudformation.is_empty() {
        files_in(&args.dir.join("cloudformation"), |n| {
            n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json")
        })
    } else {
        args.cloudformation.clone()
    };
    let buildspecs = if args.buildspecs.is_empty() {
        files_in(&args.dir, |n| {
            n.starts_with("buildspec") && (n.ends_with(".yml") || n.ends_with(".yaml"))
        })
    } else {
        args.buildspecs.clone()
    };
    let template = args
        .template
        .clone()
        .unwrap_or_else(|| args.dir.join("packer"));
    let cfg = RetentionConfig::default();
    let lint = |k: &str, v: &str| -> Vec<String> {
        lint_value(k, v, &cfg)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let source = args.event_source.clone();
    let event = move |status: &str| event_for(&source, status);

    // 1. rules match our event
    let mut rules = 0;
    for f in &cfn {
        if let Some(text) = read(f, &mut report) {
            let r = check::check_rules(&f.display().to_string(), &text, &args.event_source, &event);
            rules += r.len();
            report.extend(r);
            report.extend(check::check_retention_values(
                &f.display().to_string(),
                &text,
                &lint,
            ));
        }
    }
    if rules == 0 {
        report.push(CheckResult::new(
            "rules",
            Status::Warn,
            format!("no EventBridge rule for source {} found in {} template(s): nothing will be notified", args.event_source, cfn.len()),
        ));
    }
    // 2. retention values in the Packer template
    let hcl: Vec<PathBuf> = if template.is_dir() {
        files_in(&template, |n| {
            n.ends_with(".pkr.hcl") || n.ends_with(".json")
        })
    } else if template.is_file() {
        vec![template.clone()]
    } else {
        Vec::new()
    };
    for f in &hcl {
        if let Some(text) = read(f, &mut report) {
            report.extend(check::check_retention_values(
                &f.display().to_string(),
                &text,
                &lint,
            ));
        }
    }
    // 3. packer validate
    match crate::packer::runner::find_packer(args.packer.as_deref()) {
        Ok(packer) if template.exists() => {
            let name = format!("packer validate {}", template.display());
            report.push(match crate::proc::packer_validate(&packer, &template) {
                Ok(()) => CheckResult::new(name, Status::Ok, "valid"),
                Err(out) => CheckResult::new(name, Status::Fail, out),
            });
        }
        Ok(_) => report.push(CheckResult::new(
            "packer validate",
            Status::Warn,
            format!("no template at {}", template.display()),
        )),
        Err(_) => report.push(CheckResult::new(
            "packer validate",
            Status::Warn,
            "packer is not installed: template not validated",
        )),
    }
    // 4. buildspecs
    for f in &buildspecs {
        if let Some(text) = read(f, &mut report) {
            report.extend(check::check_buildspec(&f.display().to_string(), &text));
        }
    }
    output::emit(&report, format)?;
    if report.failed() {
        return Err(Error::Other(format!(
            "check failed: {} finding(s); see the `fail` lines above",
            report
                .results
                .iter()
                .filter(|r| r.status == Status::Fail)
                .count()
        )));
    }
    Ok(ExitCode::SUCCESS)
}

fn install_hook(dir: &Path, force: bool) -> Result<ExitCode> {
    let hooks = crate::proc::git_hooks_dir(dir).map_err(Error::Usage)?;
    std::fs::create_dir_all(&hooks)
        .map_err(|e| Error::io(format!("creating {}", hooks.display()), e))?;
    let path = hooks.join("pre-commit");
    let state = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => check::HookFile::Absent,
        Err(e) => return Err(Error::io(format!("looking at {}", path.display()), e)),
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(&path)
                .map_or_else(|_| "?".to_string(), |t| t.display().to_string());
            let dangling = if path.exists() { "" } else { " (dangling)" };
            check::HookFile::Foreign(format!("a symbolic link to {target}{dangling}"))
        }
        Ok(m) if !m.is_file() => {
            return Err(Error::Usage(format!(
                "{} exists and is not a file: remove it yourself if the hook should be installed",
                path.display()
            )))
        }
        Ok(_) => {
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            check::classify_hook(&bytes)
        }
    };
    if let check::HookFile::Foreign(what) = &state {
        if !force {
            return Err(Error::Usage(format!(
                "{} exists and is {what}: it is left as it is. To keep it, {}; to replace it, pass --force",
                path.display(),
                check::HOOK_CHAIN_HINT
            )));
        }
    }
    // Write beside it and rename over it: a link is replaced, never written
    // through, and a reader never sees half a hook.
    let tmp = hooks.join(".pre-commit.ami-builder.tmp");
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        f.write_all(check::pre_commit_hook().as_bytes())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("making {} executable", tmp.display()), e))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| Error::io(format!("installing {}", path.display()), e))?;
    output::print(&format!("installed {}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}
