//! Where an image came from: commit and build id resolution, and the provenance
//! tags written on AMIs, snapshots and copies.
//!
//! Owns: the resolution order (flag, CodeBuild's source version, the CodePipeline
//! execution, git), the build id, the tag set and EC2's tag limits, and the rule
//! that provenance is written once ([`reconcile_tags`]). It reads no
//! environment and calls nothing itself: the caller passes an [`Inputs`] snapshot
//! and a [`Lookups`] implementation (CodePipeline, git) from the adapters.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

use serde::Serialize;

/// Tag keys ami-builder writes (configurable where users have conventions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeys {
    /// Commit tag (default `ami-builder:commit`).
    pub commit: String,
    /// `ami-builder:build-id`.
    pub build_id: String,
    /// `ami-builder:packer-run-uuid`.
    pub run_uuid: String,
    /// `ami-builder:family`.
    pub family: String,
    /// `ami-builder:source-image` (copies only).
    pub source_image: String,
    /// `ami-builder:built-at`.
    pub built_at: String,
    /// Retention tag (default `scheduler:ebs-snapshot`).
    pub retention: String,
}

impl Default for TagKeys {
    fn default() -> Self {
        TagKeys {
            commit: crate::tags::COMMIT.into(),
            build_id: crate::tags::BUILD_ID.into(),
            run_uuid: crate::tags::RUN_UUID.into(),
            family: crate::tags::FAMILY.into(),
            source_image: crate::tags::SOURCE_IMAGE.into(),
            built_at: crate::tags::BUILT_AT.into(),
            retention: crate::tags::SCHEDULER.into(),
        }
    }
}

/// Which source gave the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitSource {
    /// `--commit`.
    Flag,
    /// `CODEBUILD_RESOLVED_SOURCE_VERSION`.
    CodebuildSourceVersion,
    /// GitHub Actions' `GITHUB_SHA`.
    GithubSha,
    /// GitLab CI's `CI_COMMIT_SHA`.
    GitlabCommitSha,
    /// CodePipeline `GetPipelineExecution` artifact revisions.
    CodepipelineExecution,
    /// `git rev-parse HEAD`.
    Git,
    /// None found, allowed by `--allow-unknown-commit`.
    Unknown,
}

impl fmt::Display for CommitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommitSource::Flag => "--commit",
            CommitSource::CodebuildSourceVersion => "CODEBUILD_RESOLVED_SOURCE_VERSION",
            CommitSource::GithubSha => "GITHUB_SHA",
            CommitSource::GitlabCommitSha => "CI_COMMIT_SHA",
            CommitSource::CodepipelineExecution => "the CodePipeline execution",
            CommitSource::Git => "git",
            CommitSource::Unknown => "unknown (--allow-unknown-commit)",
        })
    }
}

/// Everything resolution needs from the environment, read by the caller.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `--commit`.
    pub flag: Option<String>,
    /// `CODEBUILD_RESOLVED_SOURCE_VERSION`.
    pub codebuild_source_version: Option<String>,
    /// `CODEBUILD_INITIATOR` (`codepipeline/<name>` when the pipeline started the build).
    pub codebuild_initiator: Option<String>,
    /// `--pipeline-execution-id` / `CODEPIPELINE_EXECUTION_ID`.
    pub pipeline_execution_id: Option<String>,
    /// `CODEBUILD_BUILD_ID`.
    pub codebuild_build_id: Option<String>,
    /// GitHub Actions: `GITHUB_SHA`, and for the build URL `GITHUB_SERVER_URL`,
    /// `GITHUB_REPOSITORY`, `GITHUB_RUN_ID`.
    pub github: Github,
    /// GitLab CI: `CI_COMMIT_SHA`, `CI_JOB_URL`.
    pub gitlab_commit_sha: Option<String>,
    pub gitlab_job_url: Option<String>,
    /// This host's name (for local build ids).
    pub host: String,
    pub now: DateTime<Utc>,
}

/// What GitHub Actions sets for a workflow run.
#[derive(Debug, Clone, Default)]
pub struct Github {
    pub sha: Option<String>,
    pub server_url: Option<String>,
    pub repository: Option<String>,
    pub run_id: Option<String>,
}

impl Github {
    /// `https://github.com/OWNER/REPO/actions/runs/ID`, when all three are set.
    pub fn run_url(&self) -> Option<String> {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Some(format!(
            "{}/{}/actions/runs/{}",
            nonempty(&self.server_url)?.trim_end_matches('/'),
            nonempty(&self.repository)?,
            nonempty(&self.run_id)?
        ))
    }
}

/// Lookups that need the outside world.
#[allow(async_fn_in_trait)]
pub trait Lookups {
    /// `artifactRevisions[].revisionId` of a pipeline execution.
    async fn pipeline_revisions(
        &self,
        pipeline: &str,
        execution_id: &str,
    ) -> Result<Vec<String>, String>;
    /// `(sha, dirty)` of the repository holding the template, if any.
    fn git_head(&self) -> Result<(String, bool), String>;
}

/// The resolved provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// Full commit SHA (with `-dirty` when the work tree had changes).
    pub commit: Option<String>,
    /// Which source won.
    pub commit_source: CommitSource,
    /// CodeBuild build id or `local:<host>:<utc time>`.
    pub build_id: String,
    /// What was tried, in order, and why each failed (for messages and -v).
    pub tried: Vec<String>,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "commit:   {}",
            self.commit.as_deref().unwrap_or("unknown")
        )?;
        writeln!(f, "from:     {}", self.commit_source)?;
        writeln!(f, "build id: {}", self.build_id)?;
        for t in &self.tried {
            writeln!(f, "tried:    {t}")?;
        }
        Ok(())
    }
}

/// A full or abbreviated git commit SHA (7 to 40 hex digits, or 64 for SHA-256 repos).
pub fn is_commit_sha(s: &str) -> bool {
    let n = s.len();
    ((7..=40).contains(&n) || n == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `codepipeline/<name>` -> `<name>`.
pub fn pipeline_from_initiator(initiator: &str) -> Option<&str> {
    initiator
        .strip_prefix("codepipeline/")
        .filter(|n| !n.is_empty())
}

/// The build id: CodeBuild's, else the GitHub Actions run's URL, else the
/// GitLab CI job's URL, else `local:<host>:<utc time>`.
pub fn build_id(inputs: &Inputs) -> String {
    let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    set(&inputs.codebuild_build_id)
        .or_else(|| inputs.github.run_url())
        .or_else(|| set(&inputs.gitlab_job_url))
        .unwrap_or_else(|| {
            format!(
                "local:{}:{}",
                inputs.host,
                inputs.now.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        })
}

/// Resolve the commit in the documented order.
pub async fn resolve(
    inputs: &Inputs,
    lookups: &impl Lookups,
    allow_unknown: bool,
) -> Result<Provenance, String> {
    let build_id = build_id(inputs);
    let mut tried = Vec::new();
    let done = |commit: String, source: CommitSource, tried: Vec<String>| Provenance {
        commit: Some(commit),
        commit_source: source,
        build_id: build_id.clone(),
        tried,
    };
    match inputs.flag.as_deref() {
        Some(c) if is_commit_sha(c) => {
            return Ok(done(c.to_lowercase(), CommitSource::Flag, tried))
        }
        Some(c) => {
            return Err(format!(
                "--commit `{c}` is not a git commit SHA (7-40 hex digits)"
            ))
        }
        None => tried.push("--commit: not given".to_string()),
    }
    match inputs.codebuild_source_version.as_deref() {
        Some(v) if is_commit_sha(v) => return Ok(done(v.to_lowercase(), CommitSource::CodebuildSourceVersion, tried)),
        Some(v) => tried.push(format!(
            "CODEBUILD_RESOLVED_SOURCE_VERSION: `{v}` is not a commit (CodePipeline passes an S3 object version)"
        )),
        None => tried.push("CODEBUILD_RESOLVED_SOURCE_VERSION: not set".to_string()),
    }
    // The other CI systems, in the same place as CodeBuild's: what the CI
    // checked out beats what the work tree's git says.
    for (name, value, source) in [
        ("GITHUB_SHA", &inputs.github.sha, CommitSource::GithubSha),
        (
            "CI_COMMIT_SHA",
            &inputs.gitlab_commit_sha,
            CommitSource::GitlabCommitSha,
        ),
    ] {
        match value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) if is_commit_sha(v) => return Ok(done(v.to_lowercase(), source, tried)),
            Some(v) => tried.push(format!("{name}: `{v}` is not a commit")),
            None => tried.push(format!("{name}: not set")),
        }
    }
    let pipeline = inputs
        .codebuild_initiator
        .as_deref()
        .and_then(pipeline_from_initiator);
    match (pipeline, inputs.pipeline_execution_id.as_deref().filter(|s| !s.is_empty())) {
        (Some(p), Some(id)) => match lookups.pipeline_revisions(p, id).await {
            Ok(revs) => match revs.into_iter().find(|r| is_commit_sha(r)) {
                Some(r) => return Ok(done(r.to_lowercase(), CommitSource::CodepipelineExecution, tried)),
                None => tried.push(format!("CodePipeline {p} execution {id}: no artifact revision is a commit")),
            },
            Err(e) => tried.push(format!("CodePipeline {p} execution {id}: {e}")),
        },
        (None, _) => tried.push("CodePipeline: CODEBUILD_INITIATOR is not codepipeline/<name>".to_string()),
        (Some(_), None) => tried.push(
            "CodePipeline: no execution id (pass --pipeline-execution-id or set CODEPIPELINE_EXECUTION_ID from #{codepipeline.PipelineExecutionId})"
                .to_string(),
        ),
    }
    match lookups.git_head() {
        Ok((sha, dirty)) if is_commit_sha(&sha) => {
            let c = if dirty { format!("{sha}-dirty") } else { sha };
            return Ok(done(c, CommitSource::Git, tried));
        }
        Ok((sha, _)) => tried.push(format!("git: unexpected output `{sha}`")),
        Err(e) => tried.push(format!("git: {e}")),
    }
    if allow_unknown {
        return Ok(Provenance {
            commit: None,
            commit_source: CommitSource::Unknown,
            build_id,
            tried,
        });
    }
    Err(format!(
        "could not determine the commit this image was built from; tried: {}. Pass --commit SHA, or --allow-unknown-commit to build without one",
        tried.join("; ")
    ))
}

/// Check a tag against EC2's limits: key 1..=128 and value at most 256 Unicode
/// characters, no reserved `aws:` prefix, no control characters. EC2 allows any
/// other character (the scheduler's `;` included), unlike some other services.
pub fn validate_tag(key: &str, value: &str) -> Result<(), String> {
    let klen = key.chars().count();
    if klen == 0 || klen > 128 {
        return Err(format!("tag key `{key}` must be 1 to 128 characters"));
    }
    if key.to_lowercase().starts_with("aws:") {
        return Err(format!("tag key `{key}` uses the reserved prefix aws:"));
    }
    if value.chars().count() > 256 {
        return Err(format!("the value of tag `{key}` is over 256 characters"));
    }
    if key.chars().chain(value.chars()).any(char::is_control) {
        return Err(format!("tag `{key}` contains a control character"));
    }
    Ok(())
}

/// What goes on one image (and its snapshots).
#[derive(Debug, Clone, Default)]
pub struct TagFacts<'a> {
    pub provenance: Option<&'a Provenance>,
    /// Packer run uuid.
    pub run_uuid: Option<&'a str>,
    pub family: Option<&'a str>,
    /// `<region>:<ami>` of the build-region AMI, for copies.
    pub source_image: Option<String>,
    pub built_at: Option<DateTime<Utc>>,
    /// Retention days (writes `default;N`).
    pub retention_days: Option<u32>,
    pub extra: &'a [(String, String)],
}

/// The tag set for one image, validated.
pub fn tag_set(keys: &TagKeys, f: &TagFacts<'_>) -> Result<Vec<(String, String)>, String> {
    let mut tags: Vec<(String, String)> = Vec::new();
    if let Some(p) = f.provenance {
        if let Some(c) = &p.commit {
            tags.push((keys.commit.clone(), c.clone()));
        }
        tags.push((keys.build_id.clone(), p.build_id.clone()));
    }
    if let Some(u) = f.run_uuid {
        tags.push((keys.run_uuid.clone(), u.to_string()));
    }
    if let Some(fam) = f.family {
        tags.push((keys.family.clone(), fam.to_string()));
    }
    if let Some(s) = &f.source_image {
        tags.push((keys.source_image.clone(), s.clone()));
    }
    if let Some(t) = f.built_at {
        tags.push((
            keys.built_at.clone(),
            t.to_rfc3339_opts(SecondsFormat::Secs, true),
        ));
    }
    if let Some(d) = f.retention_days {
        tags.push((keys.retention.clone(), format!("default;{d}")));
    }
    for (k, v) in f.extra {
        tags.retain(|(ek, _)| ek != k);
        tags.push((k.clone(), v.clone()));
    }
    for (k, v) in &tags {
        validate_tag(k, v)?;
    }
    if tags.len() > 50 {
        return Err(format!(
            "{} tags; EC2 allows at most 50 per resource",
            tags.len()
        ));
    }
    Ok(tags)
}

/// What tagging one resource may write, given the tags it already has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagWrite {
    /// Tags to write (missing ones, tags that are not provenance, and with
    /// `force` every one).
    pub write: Vec<(String, String)>,
    /// Provenance tags the resource already has with another value, kept:
    /// `(key, existing, not written)`.
    pub kept: Vec<(String, String, String)>,
    /// Provenance that would be rewritten: `(key, existing, wanted)`. Any
    /// one refuses the whole tagging unless `force`.
    pub conflicts: Vec<(String, String, String)>,
}

/// Provenance is written once. Of `wanted`, a tag the resource lacks is
/// written; one it has with the same value is left alone. One it has with
/// another value is never changed without `force`: the commit, the family
/// (the keep-N group prune ranks it in), the source image and Packer's run
/// uuid are *conflicts* that refuse the tagging; the build id and the build
/// time, which describe the build that made it (a later `tag` run is not
/// that build), are *kept*. Tags that are not provenance (retention, the
/// user's `--tag`) are written as asked.
pub fn reconcile_tags(
    keys: &TagKeys,
    existing: &BTreeMap<String, String>,
    wanted: &[(String, String)],
    force: bool,
) -> TagWrite {
    let refuse = [
        &keys.commit,
        &keys.family,
        &keys.source_image,
        &keys.run_uuid,
    ];
    let keep = [&keys.build_id, &keys.built_at];
    let mut out = TagWrite::default();
    for (k, v) in wanted {
        let provenance = refuse.contains(&k) || keep.contains(&k);
        match existing.get(k) {
            Some(old) if old == v => {}
            Some(old) if provenance && !force => {
                let entry = (k.clone(), old.clone(), v.clone());
                if refuse.contains(&k) {
                    out.conflicts.push(entry);
                } else {
                    out.kept.push(entry);
                }
            }
            _ => out.write.push((k.clone(), v.clone())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_is_written_once() {
        let keys = TagKeys::default();
        let existing: BTreeMap<String, String> = [
            ("ami-builder:commit", "aaa"),
            ("ami-builder:family", "web"),
            ("ami-builder:build-id", "build:1"),
            ("ami-builder:built-at", "2026-01-01T00:00:00Z"),
            ("scheduler:ebs-snapshot", "default;30"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let wanted: Vec<(String, String)> = [
            ("ami-builder:commit", "aaa"),
            ("ami-builder:family", "web-copy-name"),
            ("ami-builder:build-id", "local:host:now"),
            ("ami-builder:built-at", "2026-12-01T00:00:00Z"),
            ("ami-builder:source-image", "us-east-1:ami-12345678"),
            ("scheduler:ebs-snapshot", "default;7"),
            ("Team", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let w = reconcile_tags(&keys, &existing, &wanted, false);
        assert_eq!(
            w.conflicts,
            vec![(
                "ami-builder:family".to_string(),
                "web".to_string(),
                "web-copy-name".to_string()
            )]
        );
        let kept: Vec<&str> = w.kept.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(kept, vec!["ami-builder:build-id", "ami-builder:built-at"]);
        let written: Vec<&str> = w.write.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            written,
            vec!["ami-builder:source-image", "scheduler:ebs-snapshot", "Team"]
        );
        // --force writes every differing value
        let w = reconcile_tags(&keys, &existing, &wanted, true);
        assert!(w.conflicts.is_empty() && w.kept.is_empty());
        assert_eq!(w.write.len(), 6, "all but the unchanged commit");
        // a different commit is a conflict, under a renamed key too
        let keys = TagKeys {
            commit: "GitCommit".into(),
            ..TagKeys::default()
        };
        let existing: BTreeMap<String, String> =
            [("GitCommit".to_string(), "aaa".to_string())].into();
        let w = reconcile_tags(
            &keys,
            &existing,
            &[("GitCommit".into(), "bbb".into())],
            false,
        );
        assert_eq!(w.conflicts.len(), 1);
    }

    struct Fake {
        revs: Result<Vec<String>, String>,
        git: Result<(String, bool), String>,
    }

    impl Lookups for Fake {
        async fn pipeline_revisions(&self, _: &str, _: &str) -> Result<Vec<String>, String> {
            self.revs.clone()
        }
        fn git_head(&self) -> Result<(String, bool), String> {
            self.git.clone()
        }
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const SHA2: &str = "fedcba9876543210fedcba9876543210fedcba98";

    fn inputs() -> Inputs {
        Inputs {
            host: "laptop".into(),
            now: DateTime::<Utc>::UNIX_EPOCH,
            ..Inputs::default()
        }
    }

    /// The fake lookups answer at once, so one poll finishes `resolve`: no
    /// async runtime in the core (std's no-op waker is enough).
    fn run(i: &Inputs, f: &Fake, allow: bool) -> Result<Provenance, String> {
        let mut fut = std::pin::pin!(resolve(i, f, allow));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(fut.as_mut(), &mut cx) {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => panic!("resolve waited on a fake lookup"),
        }
    }

    #[test]
    fn order_flag_env_pipeline_git() {
        let f = Fake {
            revs: Ok(vec![SHA2.into()]),
            git: Ok((SHA.into(), true)),
        };
        let mut i = inputs();
        assert_eq!(
            run(&i, &f, false).expect("git").commit_source,
            CommitSource::Git
        );
        assert_eq!(
            run(&i, &f, false).expect("git").commit.as_deref(),
            Some(&*format!("{SHA}-dirty"))
        );
        i.codebuild_initiator = Some("codepipeline/ami".into());
        i.pipeline_execution_id = Some("e-1".into());
        let p = run(&i, &f, false).expect("pipeline");
        assert_eq!(
            (p.commit.as_deref(), p.commit_source),
            (Some(SHA2), CommitSource::CodepipelineExecution)
        );
        i.codebuild_source_version = Some("arn:aws:s3:::bucket/x".into());
        assert_eq!(
            run(&i, &f, false).expect("pipeline").commit_source,
            CommitSource::CodepipelineExecution
        );
        i.codebuild_source_version = Some(SHA.into());
        assert_eq!(
            run(&i, &f, false).expect("env").commit_source,
            CommitSource::CodebuildSourceVersion
        );
        i.flag = Some(SHA2.to_uppercase());
        let p = run(&i, &f, false).expect("flag");
        assert_eq!(
            (p.commit.as_deref(), p.commit_source),
            (Some(SHA2), CommitSource::Flag)
        );
    }

    #[test]
    fn github_actions_and_gitlab_ci_give_the_commit_and_a_build_url() {
        let f = Fake {
            revs: Ok(vec![]),
            git: Ok((SHA.into(), false)),
        };
        let mut i = inputs();
        i.github = Github {
            sha: Some(SHA2.into()),
            server_url: Some("https://github.com/".into()),
            repository: Some("acme/images".into()),
            run_id: Some("42".into()),
        };
        let p = run(&i, &f, false).expect("github");
        assert_eq!(
            (p.commit.as_deref(), p.commit_source),
            (Some(SHA2), CommitSource::GithubSha)
        );
        assert_eq!(p.build_id, "https://github.com/acme/images/actions/runs/42");
        // CodeBuild's source version comes first, its build id too
        i.codebuild_source_version = Some(SHA.into());
        i.codebuild_build_id = Some("ami:1".into());
        let p = run(&i, &f, false).expect("codebuild");
        assert_eq!(p.commit_source, CommitSource::CodebuildSourceVersion);
        assert_eq!(p.build_id, "ami:1");
        let mut g = inputs();
        g.gitlab_commit_sha = Some(SHA2.into());
        g.gitlab_job_url = Some("https://gitlab.example/acme/images/-/jobs/7".into());
        let p = run(&g, &f, false).expect("gitlab");
        assert_eq!(p.commit_source, CommitSource::GitlabCommitSha);
        assert_eq!(p.build_id, "https://gitlab.example/acme/images/-/jobs/7");
        // a value that is not a commit is said, and git is used
        g.gitlab_commit_sha = Some("main".into());
        let p = run(&g, &f, false).expect("git");
        assert_eq!(p.commit_source, CommitSource::Git);
        assert!(
            p.tried
                .iter()
                .any(|t| t == "CI_COMMIT_SHA: `main` is not a commit"),
            "{:?}",
            p.tried
        );
    }

    #[test]
    fn empty_pipeline_revisions_fall_through_and_nothing_is_an_error() {
        let f = Fake {
            revs: Ok(vec![]),
            git: Err("not a git repository".into()),
        };
        let mut i = inputs();
        i.codebuild_initiator = Some("codepipeline/ami".into());
        i.pipeline_execution_id = Some("e-1".into());
        let err = run(&i, &f, false).unwrap_err();
        assert!(err.contains("no artifact revision is a commit"), "{err}");
        assert!(err.contains("not a git repository"), "{err}");
        assert!(err.contains("--allow-unknown-commit"), "{err}");
        let p = run(&i, &f, true).expect("allowed");
        assert_eq!((p.commit, p.commit_source), (None, CommitSource::Unknown));
        assert_eq!(p.build_id, "local:laptop:1970-01-01T00:00:00Z");
        i.flag = Some("main".into());
        assert!(run(&i, &f, false)
            .unwrap_err()
            .contains("not a git commit SHA"));
    }

    #[test]
    fn tag_limits() {
        assert!(validate_tag("ami-builder:commit", SHA).is_ok());
        assert!(validate_tag("aws:foo", "x").is_err());
        assert!(validate_tag(&"k".repeat(129), "x").is_err());
        assert!(validate_tag("k", &"v".repeat(257)).is_err());
        assert!(validate_tag("scheduler:ebs-snapshot", "default;30").is_ok());
        assert!(validate_tag("k", "a\nb").is_err());
        assert!(validate_tag("", "x").is_err());
    }

    #[test]
    fn tag_set_contents() {
        let p = Provenance {
            commit: Some(SHA.into()),
            commit_source: CommitSource::Flag,
            build_id: "b:1".into(),
            tried: vec![],
        };
        let keys = TagKeys::default();
        let extra = vec![("Team".to_string(), "platform".to_string())];
        let tags = tag_set(
            &keys,
            &TagFacts {
                provenance: Some(&p),
                run_uuid: Some("u"),
                family: Some("fam"),
                source_image: Some("us-east-1:ami-11111111".into()),
                built_at: Some(DateTime::<Utc>::UNIX_EPOCH),
                retention_days: Some(30),
                extra: &extra,
            },
        )
        .expect("valid");
        let get = |k: &str| tags.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ami-builder:commit"), Some(SHA));
        assert_eq!(get("scheduler:ebs-snapshot"), Some("default;30"));
        assert_eq!(
            get("ami-builder:source-image"),
            Some("us-east-1:ami-11111111")
        );
        assert_eq!(get("ami-builder:built-at"), Some("1970-01-01T00:00:00Z"));
        assert_eq!(get("Team"), Some("platform"));
    }
}
