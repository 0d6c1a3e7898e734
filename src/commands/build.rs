//! `ami-builder build`: preflight, run Packer, extract, confirm in EC2, write
//! `artifacts.json` and `ami_id.txt`.
//!
//! The order of checks decides the exit code: a signal (130/143) beats a Packer
//! failure (4), which beats "no AMI" (3), which beats an unconfirmed AMI (5).
//! Post-confirmation steps (tagging, the event, uploads) plug in at
//! `after_confirmation`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;

use serde::Serialize;

use crate::artifacts::{BuildRecord, RecordedArtifact, SCHEMA_VERSION};
use crate::aws::{ec2, Aws};
use crate::cli::{BuildArgs, Global};
use crate::error::{Error, Result};
use crate::output;
use crate::packer::runner::{self, Exit, PackerRun};
use crate::packer::{manifest, Extraction};

/// The files `build` writes into `--out-dir`.
pub mod files {
    /// Human text of Packer's output.
    pub const BUILD_LOG: &str = "build.log";
    /// Raw `-machine-readable` stream.
    pub const MACHINE_LOG: &str = "build.machine.log";
    /// The build record.
    pub const ARTIFACTS: &str = "artifacts.json";
    /// The build-region AMI id(s).
    pub const AMI_ID: &str = "ami_id.txt";
    /// The PutEvents entries as sent (`aws events put-events --entries file://...` accepts it).
    pub const EVENT: &str = "ami_builder_event.json";
}

/// Run `build`.
pub async fn run(global: &Global, args: BuildArgs) -> Result<ExitCode> {
    if args.no_build {
        return finish_existing(global, &args).await;
    }
    let program = runner::find_packer(args.packer.as_deref())?;
    preflight(&args)?;
    std::fs::create_dir_all(&args.out.dir).map_err(|e| {
        Error::io(
            format!("creating the output directory {}", args.out.dir.display()),
            e,
        )
    })?;

    // Credentials before Packer: a build that cannot be confirmed or tagged
    // should not take twenty minutes to say so.
    let aws = super::load_aws(global).await?;
    let started_at = Utc::now();
    let spec = PackerRun {
        program,
        args: packer_args(&args),
        dir: None,
        env: Vec::new(),
        build_log: args.out.dir.join(files::BUILD_LOG),
        machine_log: args.out.dir.join(files::MACHINE_LOG),
        cleanup_timeout: Duration::from_secs(args.cleanup_timeout),
        echo: !global.quiet,
    };
    let outcome = runner::run(spec).await?;
    let ex = &outcome.extraction;
    tracing::info!(exit = %outcome.exit, artifacts = ex.artifacts.len(), lines = outcome.lines, "packer finished");

    if let Some(sig) = outcome.interrupted {
        let name = if sig == 2 { "SIGINT" } else { "SIGTERM" };
        let detail = if outcome.escalated {
            format!("Packer was killed before its cleanup finished ({}); check EC2 for leftover instances, key pairs, security groups and AMIs", outcome.exit)
        } else {
            format!(
                "Packer finished its cleanup and stopped ({}); see {}",
                outcome.exit,
                args.out.dir.join(files::BUILD_LOG).display()
            )
        };
        return Err(Error::Interrupted {
            signal: sig,
            name,
            detail,
        });
    }

    // --timeout counts from here: Packer's own run is not time spent on AWS.
    let deadline = tokio::time::Instant::now() + super::timeout(global);
    let build_region = aws.default_region();

    let (run_uuid, manifest_problems) = match &args.manifest {
        Some(path) => read_manifest(path, ex)?,
        None => (None, Vec::new()),
    };

    let mut record = BuildRecord {
        schema_version: SCHEMA_VERSION,
        template: args.template.display().to_string(),
        packer_exit: match outcome.exit {
            Exit::Code(c) => Some(c),
            Exit::Signal(_) => None,
        },
        packer_run_uuid: run_uuid,
        started_at,
        finished_at: Utc::now(),
        build_region,
        artifacts: ex
            .artifacts
            .iter()
            .cloned()
            .map(RecordedArtifact::unconfirmed)
            .collect(),
        copies: Vec::new(),
    };

    if !outcome.exit.success() {
        if !record.artifacts.is_empty() {
            write_record(&args.out.dir, &record)?;
            output::emit(&record, global.output)?;
        }
        return Err(Error::PackerFailed(packer_failure_message(
            &outcome.exit,
            ex,
            &record,
        )));
    }
    let source = format!("the output of packer build {}", args.template.display());
    if let Some(w) = ex.foreign_warning() {
        tracing::warn!("{w}");
    }
    if ex.overlong_lines > 0 {
        tracing::info!("{}", ex.overlong_summary());
    }
    if ex.truncated_artifact_line {
        return Err(Error::NoAmi(ex.truncated_explanation(&source)));
    }
    if record.artifacts.is_empty() {
        return Err(Error::NoAmi(ex.no_ami_explanation(&source)));
    }
    let disagree = ex.summary_disagreements();
    if !disagree.is_empty() {
        write_record(&args.out.dir, &record)?;
        return Err(Error::Other(format!(
            "Packer's artifact records and its own summary disagree: {}. Nothing was confirmed, tagged or announced; see {}",
            disagree.join("; "),
            args.out.dir.join(files::MACHINE_LOG).display()
        )));
    }
    if !manifest_problems.is_empty() {
        write_record(&args.out.dir, &record)?;
        return Err(Error::Other(format!(
            "Packer's log and its manifest disagree: {}. Check that --manifest names the file this template's manifest post-processor writes",
            manifest_problems.join("; ")
        )));
    }

    let confirm_result = super::within_until(
        global,
        deadline,
        "confirming the AMIs in EC2",
        confirm_all(
            &aws,
            &mut record,
            Duration::from_secs(args.wait_timeout),
            crate::progress::Mode::detect(global.quiet),
        ),
    )
    .await;
    record.finished_at = Utc::now();
    write_record(&args.out.dir, &record)?;
    confirm_result?;

    let done = super::within_until(
        global,
        deadline,
        "tagging, the event and the uploads",
        after_confirmation(&args, &aws, &mut record),
    )
    .await?;
    output::emit(&done.with(record), global.output)?;
    Ok(ExitCode::SUCCESS)
}

/// What `build` prints: the build record (the fields of `artifacts.json`)
/// and what tagging, the event and the uploads did.
#[derive(Debug, Serialize)]
pub struct BuildResult {
    #[serde(flatten)]
    pub record: BuildRecord,
    #[serde(flatten)]
    pub done: AfterConfirmation,
}

impl std::fmt::Display for BuildResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.record)
    }
}

/// What the steps after confirmation did.
#[derive(Debug, Default, Serialize)]
pub struct AfterConfirmation {
    /// The images tagged; absent with `--no-tag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagged: Option<Vec<crate::steps::tagging::Tagged>>,
    /// The images shared with other accounts (`--share-with`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<crate::steps::sharing::Shared>,
    /// The copies made in other accounts (`--copy-to`): what the record's
    /// `copies` lists, with where each came from and the tags written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copied: Vec<crate::steps::copying::Copied>,
    pub event: EventOutcome,
    /// The `s3://` URLs uploaded to (`--upload`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uploads: Vec<String>,
}

impl AfterConfirmation {
    fn with(self, record: BuildRecord) -> BuildResult {
        BuildResult { record, done: self }
    }
}

/// The event: where its entries were written, whether they were sent and
/// the ids EventBridge gave them.
#[derive(Debug, Default, Serialize)]
pub struct EventOutcome {
    pub file: PathBuf,
    pub sent: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<String>,
}

/// `--no-build`: tag and announce the AMIs of an existing artifacts.json.
async fn finish_existing(global: &Global, args: &BuildArgs) -> Result<ExitCode> {
    let path = args.out.dir.join(files::ARTIFACTS);
    let mut record = crate::steps::read_record(&path)?;
    if record.artifacts.is_empty() {
        return Err(Error::NoAmi(format!("{} lists no AMI", path.display())));
    }
    if let Some(a) = record.artifacts.iter().find(|a| !a.confirmed) {
        return Err(Error::NotConfirmed(format!(
            "{} lists AMI {} in {} as unconfirmed (Packer failed or confirmation did not finish): rebuild instead of --no-build",
            path.display(),
            a.ami_id(),
            a.region()
        )));
    }
    let done = super::within(global, "tagging, the event and the uploads", async {
        let aws = super::load_aws(global).await?;
        after_confirmation(args, &aws, &mut record).await
    })
    .await?;
    output::emit(&done.with(record), global.output)?;
    Ok(ExitCode::SUCCESS)
}

/// What follows a confirmed build: tag, then the event, then the uploads.
/// A tagging failure sends no event (a notification must never announce an image
/// whose provenance is missing); an event failure leaves AMIs and tags in place.
async fn after_confirmation(
    args: &BuildArgs,
    aws: &Aws,
    record: &mut BuildRecord,
) -> Result<AfterConfirmation> {
    let mut done = AfterConfirmation::default();
    let template_dir = args.template.clone();
    let prov = super::resolve_provenance(aws, &args.provenance, &template_dir).await?;
    let rerun = |more: &str| {
        format!(
            "re-run `ami-builder build --no-build --out-dir {}{more}`",
            args.out.dir.display()
        )
    };
    if args.no_tag {
        tracing::info!("--no-tag: not tagging");
    } else {
        let tagged = crate::steps::tagging::tag_record(aws, &*record, &prov, &args.tagging)
            .await
            .map_err(|e| match e {
                Error::Tagging(m) => Error::Tagging(format!(
                    "{m}. The AMIs exist; no event was sent. Fix the cause and {}",
                    rerun("")
                )),
                other => other,
            })?;
        eprintln!(
            "ami-builder: tagged {} AMI(s) and their snapshots (commit {})",
            record.artifacts.len(),
            prov.commit.as_deref().unwrap_or("unknown")
        );
        for line in tagged.iter().flat_map(|t| t.lifecycle_lines()) {
            eprintln!("ami-builder: {line}");
        }
        done.tagged = Some(tagged);
    }
    let grants = grants(args)?;
    if !grants.is_empty() {
        let shared = crate::steps::sharing::share_record(aws, record, &grants)
            .await
            .map_err(|e| match e {
                Error::Tagging(m) => Error::Tagging(format!(
                    "{m}. The AMIs exist and are tagged; no event was sent. Fix the cause and {}",
                    rerun(" --no-tag")
                )),
                other => other,
            })?;
        for line in shared.iter().flat_map(|s| s.lines()) {
            eprintln!("ami-builder: {line}");
        }
        done.shared = shared;
    }
    if !args.sharing.copy_to.is_empty() {
        let copy = crate::steps::copying::CopyOptions {
            targets: &args.sharing.copy_to,
            role_name: args.sharing.role_name.as_deref().unwrap_or_default(),
            kms_key: args.sharing.kms_key.as_deref(),
            wait: Duration::from_secs(args.wait_timeout),
        };
        let copying =
            crate::steps::copying::copy_record(aws, record, &prov, &args.tagging, &copy).await;
        for c in &copying.done {
            eprintln!("ami-builder: {}", c.line());
        }
        // what was copied is recorded, whatever failed beside it
        record.copies = copying.done.iter().map(|c| c.image.clone()).collect();
        write_record(&args.out.dir, record)?;
        if let Some(e) = copying.error {
            return Err(match e {
                Error::Tagging(m) => Error::Tagging(format!(
                    "{m}. The build's own AMIs exist, are tagged and shared, and the copies made are in artifacts.json; no event was sent. Fix the cause and {}",
                    rerun(" --no-tag")
                )),
                other => other,
            });
        }
        done.copied = copying.done;
    }
    let entries = crate::steps::announce::entries_for(
        &*record,
        Some(&prov),
        args.tagging.family.as_deref(),
        crate::events::entry::AmiStatus::Created,
        &args.event,
    )?;
    let event_path = args.out.dir.join(files::EVENT);
    let json = serde_json::to_string_pretty(&entries).map_err(|e| Error::Other(e.to_string()))?;
    write_file(&event_path, &(json + "\n"))?;
    done.event.file = event_path.clone();
    let mut event_result = Ok(());
    if args.no_event {
        tracing::info!("--no-event: not sending");
    } else {
        let region = match &record.build_region {
            Some(r) => r.clone(),
            None => aws.require_region("the event")?,
        };
        match crate::steps::announce::send(aws, &region, entries).await {
            Ok(ids) => {
                eprintln!(
                    "ami-builder: event accepted by EventBridge ({})",
                    ids.join(",")
                );
                done.event.sent = true;
                done.event.event_ids = ids;
            }
            Err(e) => {
                event_result = Err(match e {
                    Error::EventRejected(m) => Error::EventRejected(format!(
                        "{m}. The AMIs exist and are tagged; to announce them, {}",
                        rerun(" --no-tag")
                    )),
                    other => other,
                })
            }
        }
    }
    if let Some(url) = &args.upload {
        let files: Vec<PathBuf> = [files::BUILD_LOG, files::ARTIFACTS, files::EVENT]
            .iter()
            .map(|f| args.out.dir.join(f))
            .filter(|p| p.exists())
            .collect();
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let urls = crate::aws::s3::upload(aws, url, &refs).await?;
        eprintln!("ami-builder: uploaded {}", urls.join(", "));
        done.uploads = urls;
    }
    event_result.map(|()| done)
}

/// Who the build's images are shared with (a usage error for a
/// combination EC2 cannot grant).
fn grants(args: &BuildArgs) -> Result<crate::accounts::Grants> {
    crate::accounts::grants(
        &args.sharing.share_with,
        args.sharing.share_snapshots,
        &args.sharing.copy_to,
    )
    .map_err(Error::Usage)
}

fn preflight(args: &BuildArgs) -> Result<()> {
    grants(args)?;
    if args.no_tag && (!args.sharing.share_with.is_empty() || !args.sharing.copy_to.is_empty()) {
        return Err(Error::Usage(
            "--share-with and --copy-to need the provenance tags, which --no-tag leaves out: an image is never shared or copied without its provenance (a `--no-build --no-tag` re-run of a build that tagged them may share them)".into(),
        ));
    }
    if let Some(u) = &args.upload {
        crate::aws::s3::parse_url(u)?;
    }
    if !args.template.exists() {
        return Err(Error::Usage(format!(
            "the Packer template {} does not exist: pass the template file or directory as the first argument (default packer/)",
            args.template.display()
        )));
    }
    for f in &args.var_files {
        if !f.is_file() {
            return Err(Error::Usage(format!(
                "the variables file {} does not exist",
                f.display()
            )));
        }
    }
    if let Some(only) = &args.only {
        check_only(&args.template, only)?;
    }
    Ok(())
}

/// `--only` against the builds the template has: Packer would build nothing
/// and exit 0 ([`crate::packer::template`]). A template whose builds cannot
/// be listed without Packer is left to Packer.
fn check_only(template: &std::path::Path, only: &str) -> Result<()> {
    use crate::packer::template::{build_names, unmatched_only, TemplateFile};
    let paths: Vec<std::path::PathBuf> = if template.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(template)
            .map_err(|e| Error::io(format!("reading the template {}", template.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default();
                n.ends_with(".pkr.hcl") || n.ends_with(".pkr.json")
            })
            .collect();
        v.sort();
        v
    } else {
        vec![template.to_path_buf()]
    };
    let mut texts = Vec::new();
    for p in &paths {
        let Ok(text) = std::fs::read_to_string(p) else {
            return Ok(()); // unreadable or not UTF-8: Packer says which and why
        };
        texts.push((
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            text,
        ));
    }
    let files: Vec<TemplateFile<'_>> = texts
        .iter()
        .map(|(name, text)| TemplateFile { name, text })
        .collect();
    let Some(names) = build_names(&files) else {
        tracing::debug!(template = %template.display(), "the template's builds are not known without Packer; --only is not checked");
        return Ok(());
    };
    let missing = unmatched_only(only, &names);
    if missing.is_empty() {
        return Ok(());
    }
    let have = if names.is_empty() {
        "it has no build blocks".to_string()
    } else {
        format!(
            "its builds are {}",
            names.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    Err(Error::Usage(format!(
        "--only {}: the template {} has no such build; {have} (patterns such as '*.local' match too)",
        missing.join(","),
        template.display()
    )))
}

/// `packer build` arguments: machine-readable (structured artifact records), no
/// colour, then the user's variables, `-only`, extra args and the template.
pub fn packer_args(args: &BuildArgs) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        "build".into(),
        "-machine-readable".into(),
        "-color=false".into(),
    ];
    if let Some(only) = &args.only {
        v.push(format!("-only={only}").into());
    }
    for (k, val) in &args.vars {
        v.push("-var".into());
        v.push(format!("{k}={val}").into());
    }
    for f in &args.var_files {
        let mut s = OsString::from("-var-file=");
        s.push(f.as_os_str());
        v.push(s);
    }
    for e in &args.extra {
        v.push(e.into());
    }
    v.push(args.template.as_os_str().to_owned());
    v
}

fn read_manifest(path: &Path, ex: &Extraction) -> Result<(Option<String>, Vec<String>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && ex.artifacts.is_empty() => {
            return Ok((None, Vec::new()))
        }
        Err(e) => {
            return Err(Error::Usage(format!(
                "cannot read the manifest {} after the build: {e}",
                path.display()
            )))
        }
    };
    let m = manifest::parse(&text).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let problems = manifest::cross_check(&m, &ex.artifacts);
    Ok((m.run_uuid, problems))
}

async fn confirm_all(
    aws: &Aws,
    record: &mut BuildRecord,
    timeout: Duration,
    progress: crate::progress::Mode,
) -> Result<()> {
    let p = crate::progress::Progress::start(
        progress,
        "waiting for the AMIs and their copies to be available",
        record.artifacts.len() as u64,
    );
    let r = confirm_each(aws, record, timeout, &p).await;
    p.finish();
    r
}

async fn confirm_each(
    aws: &Aws,
    record: &mut BuildRecord,
    timeout: Duration,
    progress: &crate::progress::Progress,
) -> Result<()> {
    let mut failures = Vec::new();
    for a in &mut record.artifacts {
        let (region, ami) = (&a.artifact.region, &a.artifact.ami_id);
        match ec2::confirm_available(aws, region, ami, timeout, Duration::from_secs(5)).await {
            Ok(info) => {
                a.confirmed = true;
                a.account = info.owner();
                a.state = Some(info.state);
                a.name = info.name;
                a.creation_date = info.creation_date;
                a.snapshot_ids = info.snapshot_ids;
                progress.item(true);
            }
            Err(e @ Error::NotConfirmed(_)) => {
                failures.push(e.to_string());
                progress.item(false);
            }
            Err(e) => return Err(e),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::NotConfirmed(failures.join("; ")))
    }
}

/// Write artifacts.json, and ami_id.txt only when every AMI was confirmed: a
/// post-build step that tests for ami_id.txt must never see a failed build's ids.
fn write_record(dir: &Path, record: &BuildRecord) -> Result<()> {
    let json = serde_json::to_string_pretty(record)
        .map_err(|e| Error::Other(format!("serialising artifacts.json: {e}")))?;
    write_file(&dir.join(files::ARTIFACTS), &(json + "\n"))?;
    let ami_id = dir.join(files::AMI_ID);
    if !record.artifacts.is_empty() && record.artifacts.iter().all(|a| a.confirmed) {
        write_file(&ami_id, &record.ami_id_txt())
    } else {
        match std::fs::remove_file(&ami_id) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(
                format!("removing the stale {}", ami_id.display()),
                e,
            )),
            _ => Ok(()),
        }
    }
}

/// Write via a temporary file and rename, so a reader never sees half a file.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn packer_failure_message(exit: &Exit, ex: &Extraction, record: &BuildRecord) -> String {
    let mut msg = format!("packer build failed ({exit})");
    if ex.errors.is_empty() {
        msg.push_str("; Packer printed no error summary, see build.log");
    } else {
        msg.push_str(". Packer's error summary:");
        for e in &ex.errors {
            msg.push_str("\n  --> ");
            msg.push_str(e);
        }
    }
    if !record.artifacts.is_empty() {
        msg.push_str(&format!(
            "\n{} AMI(s) were still produced by the builds that succeeded and are listed in artifacts.json (not confirmed, not tagged, no event sent)",
            record.artifacts.len()
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn packer_args_order_and_flags() {
        let cli = crate::cli::Cli::parse_from([
            "ami-builder",
            "build",
            "t.pkr.hcl",
            "--var",
            "a=1",
            "--var-file",
            "v.hcl",
            "--only",
            "x.y",
            "--",
            "-timestamp-ui",
        ]);
        let crate::cli::Command::Build(args) = cli.command else {
            panic!("not build")
        };
        let got: Vec<String> = packer_args(&args)
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            got,
            vec![
                "build",
                "-machine-readable",
                "-color=false",
                "-only=x.y",
                "-var",
                "a=1",
                "-var-file=v.hcl",
                "-timestamp-ui",
                "t.pkr.hcl"
            ]
        );
    }
}
