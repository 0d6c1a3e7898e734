//! `ami-builder channels`: every channel under the prefix, per region, with
//! its AMI, commit, since when it points there and its previous value.

use std::fmt;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::ssm;
use crate::channels;
use crate::cli::{ChannelsArgs, Global};
use crate::error::{Error, Result};
use crate::ids::{AmiId, Region};

/// Layout version of `channels --output json`.
pub const SCHEMA_VERSION: u32 = 1;

/// One channel in one region, for `channels`.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelRow {
    pub family: String,
    pub channel: String,
    pub region: Region,
    pub parameter: String,
    pub ami: AmiId,
    pub version: i64,
    pub commit: Option<String>,
    pub since: DateTime<Utc>,
    pub previous: Option<AmiId>,
}

/// `channels`: every channel under the prefix, per region.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelsReport {
    pub schema_version: u32,
    pub channels: Vec<ChannelRow>,
}

impl fmt::Display for ChannelsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.channels.is_empty() {
            return writeln!(f, "no channels");
        }
        let rows = self.channels.iter().map(|c| {
            vec![
                c.family.clone(),
                c.channel.clone(),
                c.region.to_string(),
                c.ami.to_string(),
                c.commit
                    .as_deref()
                    .map_or("-".into(), |s| s.chars().take(12).collect()),
                c.since.format("%Y-%m-%d %H:%M").to_string(),
                c.previous.as_ref().map_or("-".into(), |p| p.to_string()),
            ]
        });
        f.write_str(&crate::table::render(
            &[
                "FAMILY", "CHANNEL", "REGION", "AMI", "COMMIT", "SINCE", "PREVIOUS",
            ],
            rows,
        ))
    }
}

/// Run `channels`.
pub async fn run(global: &Global, args: ChannelsArgs) -> Result<ExitCode> {
    channels::check_prefix(&args.prefix.prefix).map_err(Error::Usage)?;
    if let Some(f) = &args.family {
        channels::check_segment("family", f).map_err(Error::Usage)?;
    }
    let aws = super::load_aws(global).await?;
    let regions = crate::steps::regions_or_default(&args.regions, &aws)?;
    let path = match &args.family {
        Some(f) => format!("{}/{f}", args.prefix.prefix),
        None => args.prefix.prefix.clone(),
    };
    let mut rows = Vec::new();
    for region in &regions {
        for name in ssm::image_parameters(&aws, region, &path).await? {
            let Some((family, channel)) =
                channels::parse_parameter_name(&args.prefix.prefix, &name)
            else {
                continue;
            };
            let h = ssm::history(&aws, region, &name).await?;
            let Some(cur) = h.current() else { continue };
            // since: the first of the consecutive versions with this AMI
            let since = h
                .versions
                .iter()
                .rev()
                .take_while(|v| v.ami == cur.ami)
                .last()
                .map_or(cur.modified, |v| v.modified);
            rows.push(ChannelRow {
                family: family.to_string(),
                channel: channel.to_string(),
                region: region.clone(),
                parameter: name.clone(),
                ami: cur.ami.clone(),
                version: cur.version,
                commit: cur.commit().map(str::to_string),
                since,
                previous: h.previous().map(|v| v.ami.clone()),
            });
        }
    }
    rows.sort_by(|a, b| {
        (&a.family, &a.channel, &a.region).cmp(&(&b.family, &b.channel, &b.region))
    });
    crate::output::emit(
        &ChannelsReport {
            schema_version: SCHEMA_VERSION,
            channels: rows,
        },
        global.output,
    )?;
    Ok(ExitCode::SUCCESS)
}
