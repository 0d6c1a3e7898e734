//! What `promote` prints: one row per region, launch template and instance
//! refresh (text and `--output json`, schemas/promote-result.schema.json).

use std::fmt;

use serde::Serialize;

use crate::ids::{AmiId, Region};

/// Layout version of `promote --output json`.
pub const SCHEMA_VERSION: u32 = 1;

/// One region of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct RegionResult {
    pub region: Region,
    pub ami: AmiId,
    /// What the channel pointed at before, if anything.
    pub previous: Option<AmiId>,
    /// `changed`, `unchanged` (it already pointed there), `would-change`
    /// (--dry-run) or `failed`.
    pub status: &'static str,
    /// The parameter version written.
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a launch template or group is part of a promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selected {
    /// `--launch-template` / `--refresh`.
    Named,
    /// It carries the opt-in tag and the channel tag.
    OptedIn,
}

impl fmt::Display for Selected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Selected::Named => "named",
            Selected::OptedIn => "opted-in",
        })
    }
}

/// One launch template of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateResult {
    pub region: Region,
    pub launch_template_id: String,
    pub launch_template_name: String,
    pub selected_by: Selected,
    /// `created` (a new default version), `resolves` (its default version
    /// reads the channel's parameter), `would-create`, `unchanged` (the
    /// default already has the AMI) or `failed`.
    pub status: &'static str,
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One instance refresh of a promotion.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshResult {
    pub region: Region,
    pub group: String,
    pub selected_by: Selected,
    pub instance_refresh_id: Option<String>,
    /// `started` (without --wait), `would-start`, an Auto Scaling status
    /// (`Successful`, `Failed`, `RollbackSuccessful`, ...) with --wait, or
    /// `failed` (it could not be started or followed).
    pub status: String,
    pub percentage_complete: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `promote` did.
#[derive(Debug, Clone, Serialize)]
pub struct PromoteResult {
    pub schema_version: u32,
    /// `promote` or `rollback`.
    pub action: &'static str,
    pub channel: String,
    pub family: String,
    pub parameter: String,
    pub commit: Option<String>,
    pub dry_run: bool,
    pub regions: Vec<RegionResult>,
    pub launch_templates: Vec<TemplateResult>,
    pub refreshes: Vec<RefreshResult>,
    /// The event's id, when one was sent.
    pub event_id: Option<String>,
}

impl fmt::Display for PromoteResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would set" } else { "set" };
        writeln!(
            f,
            "{} {} channel {} ({}){}",
            self.action,
            self.family,
            self.channel,
            self.parameter,
            self.commit
                .as_deref()
                .map_or_else(String::new, |c| format!(", commit {c}"))
        )?;
        let rows = self.regions.iter().map(|r| {
            vec![
                r.region.to_string(),
                r.ami.to_string(),
                r.previous.as_ref().map_or("-".into(), |p| p.to_string()),
                r.status.to_string(),
                r.version.map_or("-".into(), |v| v.to_string()),
                r.error.clone().unwrap_or_default(),
            ]
        });
        f.write_str(&crate::table::render(
            &["REGION", "AMI", "PREVIOUS", "STATUS", "VERSION", "ERROR"],
            rows,
        ))?;
        if !self.launch_templates.is_empty() {
            let rows = self.launch_templates.iter().map(|t| {
                vec![
                    t.region.to_string(),
                    format!("{} ({})", t.launch_template_name, t.launch_template_id),
                    t.selected_by.to_string(),
                    t.status.to_string(),
                    t.version.map_or("-".into(), |v| v.to_string()),
                    t.error.clone().unwrap_or_default(),
                ]
            });
            f.write_str(&crate::table::render(
                &[
                    "REGION",
                    "LAUNCH TEMPLATE",
                    "BY",
                    "STATUS",
                    "DEFAULT VERSION",
                    "ERROR",
                ],
                rows,
            ))?;
        }
        if !self.refreshes.is_empty() {
            let rows = self.refreshes.iter().map(|r| {
                vec![
                    r.region.to_string(),
                    r.group.clone(),
                    r.selected_by.to_string(),
                    r.instance_refresh_id.clone().unwrap_or_else(|| "-".into()),
                    r.status.clone(),
                    r.percentage_complete
                        .map_or("-".into(), |p| format!("{p}%")),
                    r.error.clone().unwrap_or_default(),
                ]
            });
            f.write_str(&crate::table::render(
                &[
                    "REGION",
                    "AUTO SCALING GROUP",
                    "BY",
                    "REFRESH",
                    "STATUS",
                    "DONE",
                    "ERROR",
                ],
                rows,
            ))?;
        }
        let changed = self
            .regions
            .iter()
            .filter(|r| r.status == "changed")
            .count();
        write!(f, "{verb} {changed} of {} region(s)", self.regions.len())?;
        if let Some(id) = &self.event_id {
            write!(f, "; event {id}")?;
        }
        writeln!(f)
    }
}
