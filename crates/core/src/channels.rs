//! Channels: a named pointer per family and region to one AMI (`dev`,
//! `prod`), kept as the SSM parameter `<prefix>/<family>/<channel>` in each
//! region (`DataType=aws:ec2:image`, so launch templates and CloudFormation
//! resolve it natively). The parameter's versions are the channel's history.
//!
//! Owns, pure: the parameter names and what SSM accepts in them, what each
//! version records (its description carries the commit, build and the
//! regions the promotion set; a label names the commit for the console),
//! the preconditions of a promotion (image state, provenance, deprecation,
//! revocation, regions, promotion order and soak), and the rollback target.
//! Reading and writing SSM and EC2 is the adapters' job; `now` is given.
//!
//! The description, not the label, is the record: SSM moves a label to the
//! newest version it is put on, so a commit promoted twice keeps its label
//! only on the second version, while each version's description is fixed.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{AmiId, Region};

/// The default parameter prefix.
pub const DEFAULT_PREFIX: &str = "/ami-builder";

/// The tag `revoke` writes (value: the reason); a revoked image is never
/// promoted and never a rollback target.
pub const REVOKED_TAG: &str = "ami-builder:revoked";

/// A family or channel name as one segment of an SSM parameter name: SSM
/// allows `a-zA-Z0-9_.-` (and `/` between segments); ami-builder also keeps
/// a segment to 128 characters so the whole name stays far below SSM's
/// 1011. (SSM's rules: PutParameter, "Name" in the API reference.)
pub fn check_segment(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    if s.len() > 128 {
        return Err(format!("the {what} name `{s}` is over 128 characters"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "the {what} name `{s}` has `{c}`, which SSM does not accept in a parameter name (letters, digits, `_`, `.` and `-` only)"
        ));
    }
    Ok(())
}

/// A parameter prefix: `/` then segments; SSM reserves names beginning with
/// `aws` or `ssm` (any case).
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let Some(rest) = prefix.strip_prefix('/') else {
        return Err(format!("the channel prefix `{prefix}` must begin with `/`"));
    };
    if rest.is_empty() || rest.ends_with('/') {
        return Err(format!(
            "the channel prefix `{prefix}` must be `/NAME[/NAME...]` without a trailing `/`"
        ));
    }
    let first = rest
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err(format!(
            "the channel prefix `{prefix}`: SSM reserves parameter names beginning with `aws` or `ssm`"
        ));
    }
    for seg in rest.split('/') {
        check_segment("prefix", seg)?;
    }
    Ok(())
}

/// `<prefix>/<family>/<channel>`, each part checked.
pub fn parameter_name(prefix: &str, family: &str, channel: &str) -> Result<String, String> {
    check_prefix(prefix)?;
    check_segment("family", family)?;
    check_segment("channel", channel)?;
    Ok(format!("{prefix}/{family}/{channel}"))
}

/// `(family, channel)` of a parameter under `prefix`, if it is one.
pub fn parse_parameter_name<'a>(prefix: &str, name: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('/')?;
    let (family, channel) = rest.split_once('/')?;
    (check_segment("family", family).is_ok() && check_segment("channel", channel).is_ok())
        .then_some((family, channel))
}

/// The label that names a version's commit. SSM labels may not begin with a
/// digit (a SHA may), `aws` or `ssm`, and are at most 100 characters.
pub fn commit_label(commit: &str) -> String {
    format!("commit-{commit}")
}

/// What a version's description records.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Record {
    pub commit: Option<String>,
    pub build_id: Option<String>,
    /// Every region that promotion set the channel in.
    pub regions: Vec<Region>,
    /// `promote`, `rollback` or `revoke`.
    pub action: Option<String>,
}

impl Record {
    /// The description text: `ami-builder promote; commit=...; build=...;
    /// regions=a,b` (SSM allows 1024 characters; a build id is shortened
    /// rather than the description refused).
    pub fn description(&self) -> String {
        let mut s = format!(
            "ami-builder {}",
            self.action.as_deref().unwrap_or("promote")
        );
        if let Some(c) = &self.commit {
            s.push_str(&format!("; commit={c}"));
        }
        if !self.regions.is_empty() {
            let r: Vec<&str> = self.regions.iter().map(|r| r.as_ref()).collect();
            s.push_str(&format!("; regions={}", r.join(",")));
        }
        if let Some(b) = &self.build_id {
            let room = 1024usize.saturating_sub(s.len() + 8);
            let b: String = b.chars().take(room).collect();
            s.push_str(&format!("; build={b}"));
        }
        s
    }

    /// Read a description back; what is not ami-builder's reads as empty.
    pub fn parse(description: &str) -> Record {
        let mut parts = description.split("; ");
        let Some(action) = parts.next().and_then(|h| h.strip_prefix("ami-builder ")) else {
            return Record::default();
        };
        let mut r = Record {
            action: Some(action.to_string()),
            ..Record::default()
        };
        for p in parts {
            match p.split_once('=') {
                Some(("commit", v)) => r.commit = Some(v.to_string()),
                Some(("build", v)) => r.build_id = Some(v.to_string()),
                Some(("regions", v)) => {
                    r.regions = v.split(',').filter_map(|x| Region::parse(x).ok()).collect();
                }
                _ => {}
            }
        }
        r
    }
}

/// One version of a channel's parameter in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version {
    pub version: i64,
    pub ami: AmiId,
    pub modified: DateTime<Utc>,
    pub labels: Vec<String>,
    pub record: Record,
}

impl Version {
    /// The commit of this version: its description, else a commit label.
    pub fn commit(&self) -> Option<&str> {
        self.record
            .commit
            .as_deref()
            .or_else(|| self.labels.iter().find_map(|l| l.strip_prefix("commit-")))
    }
}

/// A channel's history in one region, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct History {
    pub versions: Vec<Version>,
}

impl History {
    pub fn new(mut versions: Vec<Version>) -> History {
        versions.sort_by_key(|v| v.version);
        History { versions }
    }

    pub fn current(&self) -> Option<&Version> {
        self.versions.last()
    }

    /// The last version before the current one whose AMI differs from it.
    pub fn previous(&self) -> Option<&Version> {
        let cur = self.current()?;
        self.versions.iter().rev().find(|v| v.ami != cur.ami)
    }

    /// The AMIs of the current version and the `keep` most recent distinct
    /// AMIs before it (what prune keeps so that rollback stays possible).
    pub fn protected(&self, keep: usize) -> Vec<(&Version, bool)> {
        let mut out = Vec::new();
        let mut seen: BTreeSet<&AmiId> = BTreeSet::new();
        for (i, v) in self.versions.iter().rev().enumerate() {
            if seen.insert(&v.ami) {
                if seen.len() > keep + 1 {
                    break;
                }
                out.push((v, i == 0));
            }
        }
        out
    }

    /// How long `commit` has been in this channel: the longest run of
    /// consecutive versions carrying it, until the next version (or `now`
    /// while it is current). `None` when it never was.
    pub fn time_in(&self, commit: &str, now: DateTime<Utc>) -> Option<chrono::Duration> {
        let mut best: Option<chrono::Duration> = None;
        let mut start: Option<DateTime<Utc>> = None;
        for (i, v) in self.versions.iter().enumerate() {
            let here = v.commit() == Some(commit);
            if here && start.is_none() {
                start = Some(v.modified);
            }
            let next = self.versions.get(i + 1);
            let ends = next.is_none_or(|n| n.commit() != Some(commit));
            if here && ends {
                let until = next.map_or(now, |n| n.modified);
                let d = until - start.unwrap_or(v.modified);
                best = Some(best.map_or(d, |b| b.max(d)));
                start = None;
            }
        }
        best
    }
}

/// What EC2 says of an image a channel would point at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageFacts {
    /// `None`: not found in the region.
    pub state: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub deprecation_time: Option<DateTime<Utc>>,
    pub owner_is_self: bool,
}

impl ImageFacts {
    pub fn revoked(&self) -> Option<&str> {
        self.tags.get(REVOKED_TAG).map(String::as_str)
    }
}

/// Why an image cannot be a channel's target (`None`: it can).
pub fn unfit(
    region: &Region,
    ami: &AmiId,
    facts: &ImageFacts,
    commit_tag: &str,
    now: DateTime<Utc>,
) -> Option<String> {
    let at = format!("{ami} in {region}");
    let Some(state) = &facts.state else {
        return Some(format!(
            "{at} does not exist (or is not visible to this account)"
        ));
    };
    if !facts.owner_is_self {
        return Some(format!(
            "{at} is not owned by this account: only images ami-builder built are promoted"
        ));
    }
    if let Some(reason) = facts.revoked() {
        return Some(format!("{at} is revoked ({REVOKED_TAG}: {reason})"));
    }
    if state != "available" {
        return Some(format!("{at} is {state}, not available"));
    }
    if !facts.tags.contains_key(commit_tag) {
        return Some(format!(
            "{at} carries no ami-builder provenance (no {commit_tag} tag): tag it with `ami-builder tag` or build it with `ami-builder build`"
        ));
    }
    if let Some(t) = facts.deprecation_time.filter(|t| *t <= now) {
        return Some(format!("{at} is deprecated (since {})", t.to_rfc3339()));
    }
    None
}

/// One region's part of a promotion: the channel's history there and the
/// AMI to point it at.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub region: &'a Region,
    pub ami: &'a AmiId,
    pub facts: &'a ImageFacts,
    pub history: &'a History,
}

/// `--requires CHANNEL [--soak AGE]`: the required channel's history per
/// region of the promotion.
pub struct Requires<'a> {
    pub channel: &'a str,
    pub soak: Option<chrono::Duration>,
    pub histories: &'a BTreeMap<Region, History>,
}

/// Every reason the promotion must not happen (empty: it may). The commit
/// is the one all targets share.
pub fn refusals(
    targets: &[Target<'_>],
    commit_tag: &str,
    requires: Option<&Requires<'_>>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out: Vec<String> = targets
        .iter()
        .filter_map(|t| unfit(t.region, t.ami, t.facts, commit_tag, now))
        .collect();
    let commits: BTreeSet<&str> = targets
        .iter()
        .filter_map(|t| t.facts.tags.get(commit_tag).map(String::as_str))
        .collect();
    if commits.len() > 1 {
        out.push(format!(
            "the images are of different commits ({}): a promotion is one build in every region",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
        return out;
    }
    // the regions the channel was last set in must all be covered
    let ours: BTreeSet<&Region> = targets.iter().map(|t| t.region).collect();
    let mut missing: BTreeSet<&Region> = BTreeSet::new();
    for t in targets {
        if let Some(cur) = t.history.current() {
            missing.extend(cur.record.regions.iter().filter(|r| !ours.contains(r)));
        }
    }
    if !missing.is_empty() {
        let m: Vec<&str> = missing.iter().map(|r| r.as_ref()).collect();
        out.push(format!(
            "the channel is also set in {}, where this promotion has no AMI: copy the image there (Packer's ami_regions) or, to stop serving that region, delete the channel's parameter there",
            m.join(", ")
        ));
    }
    if let (Some(req), Some(commit)) = (requires, commits.into_iter().next()) {
        for t in targets {
            let Some(h) = req.histories.get(t.region) else {
                out.push(format!(
                    "commit {commit} was never in channel {} in {} (--requires {})",
                    req.channel, t.region, req.channel
                ));
                continue;
            };
            match h.time_in(commit, now) {
                None => out.push(format!(
                    "commit {commit} was never in channel {} in {} (--requires {})",
                    req.channel, t.region, req.channel
                )),
                Some(d) => {
                    if let Some(soak) = req.soak.filter(|s| d < *s) {
                        out.push(format!(
                            "commit {commit} has been in channel {} in {} for {}, less than --soak {}",
                            req.channel,
                            t.region,
                            human(d),
                            human(soak)
                        ));
                    }
                }
            }
        }
    }
    out
}

fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match (s / 86400, (s % 86400) / 3600, (s % 3600) / 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (days, h, _) => format!("{days}d {h}h"),
    }
}

/// The version a rollback points the channel back at: the newest earlier
/// version whose AMI is not the current one and is still fit (exists,
/// available, not revoked or deprecated). `facts` answers for an AMI.
pub fn rollback_target<'h>(
    history: &'h History,
    facts: &dyn Fn(&AmiId) -> ImageFacts,
    region: &Region,
    commit_tag: &str,
    now: DateTime<Utc>,
) -> Result<&'h Version, String> {
    let Some(cur) = history.current() else {
        return Err(format!("the channel is not set in {region}"));
    };
    let mut skipped = Vec::new();
    for v in history.versions.iter().rev() {
        if v.ami == cur.ami {
            continue;
        }
        match unfit(region, &v.ami, &facts(&v.ami), commit_tag, now) {
            None => return Ok(v),
            Some(why) => skipped.push(why),
        }
    }
    Err(if skipped.is_empty() {
        format!("the channel has no earlier AMI in {region} to roll back to")
    } else {
        format!(
            "no earlier AMI of the channel in {region} can be rolled back to: {}",
            skipped.join("; ")
        )
    })
}

/// Where an Auto Scaling instance refresh stands, from its status (Auto
/// Scaling API reference, `InstanceRefresh.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshOutcome {
    /// `Pending`, `InProgress`, `Baking`, `Cancelling`, `RollbackInProgress`.
    Running,
    /// `Successful`.
    Succeeded,
    /// `Failed`, `Cancelled`, `RollbackFailed`.
    Failed,
    /// `RollbackSuccessful`: the group is back on its previous instances.
    RolledBack,
}

impl RefreshOutcome {
    /// An unknown status is taken as still running: a newer status value is
    /// not a verdict (the wait ends by its deadline).
    pub fn of(status: &str) -> RefreshOutcome {
        match status {
            "Successful" => RefreshOutcome::Succeeded,
            "Failed" | "Cancelled" | "RollbackFailed" => RefreshOutcome::Failed,
            "RollbackSuccessful" => RefreshOutcome::RolledBack,
            _ => RefreshOutcome::Running,
        }
    }

    pub fn done(self) -> bool {
        self != RefreshOutcome::Running
    }
}

/// The default opt-in tag key: a launch template or Auto Scaling group
/// tagged `ami-builder:promote=<family>` may be changed by a promotion of
/// that family without being named.
pub const DEFAULT_OPT_IN_TAG: &str = "ami-builder:promote";

/// The tag naming the one channel an opted-in resource follows. The opt-in
/// tag names only the family (the stack's IAM condition is on it), so
/// without this a `dev` promotion would change the `prod` fleet's template.
pub const CHANNEL_TAG: &str = "ami-builder:channel";

/// Whether an opted-in resource follows `channel` of `family`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Follows {
    Yes,
    /// The opt-in tag is absent or names another family.
    NotOptedIn,
    /// Opted in, following another channel (the usual case for `prod`'s
    /// resources in a `dev` promotion).
    OtherChannel(String),
    /// Opted in without [`CHANNEL_TAG`]: ambiguous, so left alone (and
    /// said).
    NoChannel,
}

/// Read the opt-in (`opt_in_key` = `family`) and [`CHANNEL_TAG`] tags.
pub fn follows(
    tags: &BTreeMap<String, String>,
    opt_in_key: &str,
    family: &str,
    channel: &str,
) -> Follows {
    if tags.get(opt_in_key).map(String::as_str) != Some(family) {
        return Follows::NotOptedIn;
    }
    match tags.get(CHANNEL_TAG) {
        None => Follows::NoChannel,
        Some(c) if c == channel => Follows::Yes,
        Some(c) => Follows::OtherChannel(c.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + h * 3600, 0).expect("time")
    }

    fn v(version: i64, ami: &str, hour: i64, commit: &str) -> Version {
        Version {
            version,
            ami: AmiId::from(ami),
            modified: t(hour),
            labels: vec![commit_label(commit)],
            record: Record {
                commit: Some(commit.into()),
                ..Record::default()
            },
        }
    }

    fn fit(commit: &str) -> ImageFacts {
        ImageFacts {
            state: Some("available".into()),
            tags: [("ami-builder:commit".to_string(), commit.to_string())].into(),
            deprecation_time: None,
            owner_is_self: true,
        }
    }

    #[test]
    fn refresh_statuses_read_as_the_api_reference_lists_them() {
        for (status, outcome) in [
            ("Pending", RefreshOutcome::Running),
            ("InProgress", RefreshOutcome::Running),
            ("Baking", RefreshOutcome::Running),
            ("Cancelling", RefreshOutcome::Running),
            ("RollbackInProgress", RefreshOutcome::Running),
            ("Successful", RefreshOutcome::Succeeded),
            ("Failed", RefreshOutcome::Failed),
            ("Cancelled", RefreshOutcome::Failed),
            ("RollbackFailed", RefreshOutcome::Failed),
            ("RollbackSuccessful", RefreshOutcome::RolledBack),
            ("SomethingNew", RefreshOutcome::Running),
        ] {
            assert_eq!(RefreshOutcome::of(status), outcome, "{status}");
        }
    }

    #[test]
    fn names_are_checked_as_ssm_checks_them() {
        assert_eq!(
            parameter_name("/ami-builder", "al2023", "dev").as_deref(),
            Ok("/ami-builder/al2023/dev")
        );
        assert!(parameter_name("/ami-builder", "al2023", "de v").is_err());
        assert!(parameter_name("/ami-builder", "al2023", "").is_err());
        assert!(parameter_name("/ami-builder", "al/2023", "dev").is_err());
        assert!(parameter_name("ami-builder", "f", "dev").is_err());
        assert!(parameter_name("/aws/x", "f", "dev").is_err());
        assert!(parameter_name("/SSMthing", "f", "dev").is_err());
        assert!(parameter_name("/p/", "f", "dev").is_err());
        assert_eq!(
            parse_parameter_name("/ami-builder", "/ami-builder/al2023/prod"),
            Some(("al2023", "prod"))
        );
        assert_eq!(parse_parameter_name("/ami-builder", "/ami-builder/x"), None);
        assert_eq!(parse_parameter_name("/ami-builder", "/other/a/b"), None);
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let label = commit_label(sha);
        assert!(label.len() <= 100 && label.starts_with(|c: char| c.is_ascii_alphabetic()));
    }

    #[test]
    fn a_record_reads_back_what_it_wrote() {
        let r = Record {
            commit: Some("abc".into()),
            build_id: Some("proj:1".into()),
            regions: vec![Region::from("us-east-1"), Region::from("us-west-2")],
            action: Some("promote".into()),
        };
        assert_eq!(Record::parse(&r.description()), r);
        assert_eq!(Record::parse("set by hand"), Record::default());
        let long = Record {
            build_id: Some("x".repeat(5000)),
            ..r
        };
        assert!(long.description().len() <= 1024);
    }

    #[test]
    fn history_knows_current_previous_and_time_in_a_channel() {
        let h = History::new(vec![
            v(3, "ami-c", 30, "c3"),
            v(1, "ami-a", 0, "c1"),
            v(2, "ami-b", 10, "c2"),
        ]);
        assert_eq!(h.current().map(|v| v.version), Some(3));
        assert_eq!(h.previous().map(|v| v.version), Some(2));
        assert_eq!(h.time_in("c2", t(100)), Some(chrono::Duration::hours(20)));
        assert_eq!(h.time_in("c3", t(100)), Some(chrono::Duration::hours(70)));
        assert_eq!(h.time_in("nope", t(100)), None);
        let kept: Vec<i64> = h.protected(1).iter().map(|(v, _)| v.version).collect();
        assert_eq!(kept, vec![3, 2]);
        assert!(h.protected(1)[0].1, "the first is current");
    }

    #[test]
    fn preconditions_each_refuse_with_their_reason() {
        let (r1, r2) = (Region::from("us-east-1"), Region::from("us-west-2"));
        let (a1, a2) = (AmiId::from("ami-1"), AmiId::from("ami-2"));
        let empty = History::default();
        let now = t(100);
        let ok = fit("c9");
        fn target<'a>(
            region: &'a Region,
            ami: &'a AmiId,
            facts: &'a ImageFacts,
            history: &'a History,
        ) -> Target<'a> {
            Target {
                region,
                ami,
                facts,
                history,
            }
        }
        let tag = "ami-builder:commit";
        assert!(refusals(&[target(&r1, &a1, &ok, &empty)], tag, None, now).is_empty());
        for (facts, says) in [
            (ImageFacts::default(), "does not exist"),
            (
                ImageFacts {
                    state: Some("pending".into()),
                    ..ok.clone()
                },
                "is pending",
            ),
            (
                ImageFacts {
                    state: Some("disabled".into()),
                    ..ok.clone()
                },
                "is disabled",
            ),
            (
                ImageFacts {
                    tags: BTreeMap::new(),
                    ..ok.clone()
                },
                "no ami-builder:commit",
            ),
            (
                ImageFacts {
                    deprecation_time: Some(t(99)),
                    ..ok.clone()
                },
                "deprecated",
            ),
            (
                ImageFacts {
                    owner_is_self: false,
                    ..ok.clone()
                },
                "not owned",
            ),
            (
                ImageFacts {
                    tags: [
                        (REVOKED_TAG.to_string(), "CVE".to_string()),
                        (tag.to_string(), "c9".to_string()),
                    ]
                    .into(),
                    ..ok.clone()
                },
                "revoked (ami-builder:revoked: CVE)",
            ),
        ] {
            let r = refusals(&[target(&r1, &a1, &facts, &empty)], tag, None, now);
            assert!(r.iter().any(|m| m.contains(says)), "{says}: {r:?}");
        }
        // a deprecation in the future is not yet one
        let later = ImageFacts {
            deprecation_time: Some(t(200)),
            ..ok.clone()
        };
        assert!(refusals(&[target(&r1, &a1, &later, &empty)], tag, None, now).is_empty());
        // different commits across regions
        let other = fit("c8");
        let two = [
            target(&r1, &a1, &ok, &empty),
            Target {
                region: &r2,
                ami: &a2,
                facts: &other,
                history: &empty,
            },
        ];
        assert!(refusals(&two, tag, None, now)[0].contains("different commits"));
    }

    #[test]
    fn a_promotion_must_cover_every_region_the_channel_is_set_in() {
        let (r1, r2) = (Region::from("us-east-1"), Region::from("us-west-2"));
        let a1 = AmiId::from("ami-1");
        let mut prev = v(1, "ami-0", 0, "c0");
        prev.record.regions = vec![r1.clone(), r2.clone()];
        let h = History::new(vec![prev]);
        let ok = fit("c9");
        let r = refusals(
            &[Target {
                region: &r1,
                ami: &a1,
                facts: &ok,
                history: &h,
            }],
            "ami-builder:commit",
            None,
            t(1),
        );
        assert_eq!(r.len(), 1);
        assert!(r[0].contains("also set in us-west-2"), "{r:?}");
    }

    #[test]
    fn requires_and_soak_look_at_the_required_channels_history() {
        let r1 = Region::from("us-east-1");
        let a1 = AmiId::from("ami-1");
        let empty = History::default();
        let ok = fit("c9");
        let target = [Target {
            region: &r1,
            ami: &a1,
            facts: &ok,
            history: &empty,
        }];
        let dev: BTreeMap<Region, History> =
            [(r1.clone(), History::new(vec![v(1, "ami-1", 0, "c9")]))].into();
        let tag = "ami-builder:commit";
        let req = |soak| Requires {
            channel: "dev",
            soak,
            histories: &dev,
        };
        assert!(refusals(&target, tag, Some(&req(None)), t(5)).is_empty());
        assert!(refusals(
            &target,
            tag,
            Some(&req(Some(chrono::Duration::hours(4)))),
            t(5)
        )
        .is_empty());
        let r = refusals(
            &target,
            tag,
            Some(&req(Some(chrono::Duration::hours(24)))),
            t(5),
        );
        assert!(r[0].contains("for 5h 0m, less than --soak 1d 0h"), "{r:?}");
        let none: BTreeMap<Region, History> = BTreeMap::new();
        let r = refusals(
            &target,
            tag,
            Some(&Requires {
                channel: "dev",
                soak: None,
                histories: &none,
            }),
            t(5),
        );
        assert!(r[0].contains("never in channel dev in us-east-1"), "{r:?}");
    }

    #[test]
    fn rollback_skips_the_current_ami_and_unfit_ones() {
        let r1 = Region::from("us-east-1");
        let h = History::new(vec![
            v(1, "ami-a", 0, "c1"),
            v(2, "ami-b", 1, "c2"),
            v(3, "ami-c", 2, "c3"),
            v(4, "ami-c", 3, "c3"),
        ]);
        let tag = "ami-builder:commit";
        let all_fit = |_: &AmiId| fit("c");
        let to = rollback_target(&h, &all_fit, &r1, tag, t(9)).expect("target");
        assert_eq!(to.version, 2);
        let b_revoked = |a: &AmiId| {
            let mut f = fit("c");
            if a.as_ref() == "ami-b" {
                f.tags.insert(REVOKED_TAG.into(), "bad".into());
            }
            f
        };
        let to = rollback_target(&h, &b_revoked, &r1, tag, t(9)).expect("target");
        assert_eq!(to.version, 1);
        let none_fit = |_: &AmiId| ImageFacts::default();
        let e = rollback_target(&h, &none_fit, &r1, tag, t(9)).expect_err("none");
        assert!(e.contains("no earlier AMI"), "{e}");
        let e = rollback_target(&History::default(), &all_fit, &r1, tag, t(9)).expect_err("unset");
        assert!(e.contains("not set in us-east-1"), "{e}");
    }

    #[test]
    fn only_a_resource_opted_in_for_the_family_and_tagged_with_the_channel_follows_it() {
        let t = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let key = DEFAULT_OPT_IN_TAG;
        let yes = t(&[(key, "web"), (CHANNEL_TAG, "dev")]);
        assert_eq!(follows(&yes, key, "web", "dev"), Follows::Yes);
        assert_eq!(
            follows(&yes, key, "web", "prod"),
            Follows::OtherChannel("dev".into())
        );
        assert_eq!(follows(&yes, key, "api", "dev"), Follows::NotOptedIn);
        assert_eq!(
            follows(&yes, "team:promote", "web", "dev"),
            Follows::NotOptedIn
        );
        assert_eq!(
            follows(&t(&[(key, "web")]), key, "web", "dev"),
            Follows::NoChannel
        );
        assert_eq!(
            follows(&t(&[(CHANNEL_TAG, "dev")]), key, "web", "dev"),
            Follows::NotOptedIn
        );
    }
}
