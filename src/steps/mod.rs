//! Steps that more than one command runs, each in one place: tagging a
//! build record ([`tagging`]), sharing it with other accounts ([`sharing`]), copying it into them
//! ([`copying`]), the event ([`announce`]), and reading what
//! commands take as input (a build record, `REGION:AMI` references, the
//! regions in scope) and the account's inventory over several regions.
//! Commands call these; they never call each other.

pub mod announce;
pub mod copying;
pub mod sharing;
pub mod tagging;

use std::path::Path;

use crate::artifacts::BuildRecord;
use crate::aws::{inventory, Aws};
use crate::error::{Error, Result};
use crate::ids::{AccountId, AmiId, Region};
use crate::retention::Inventory;

/// The exit-6 error of a step that did what it could on each image (the
/// tagging, sharing and copying steps): what failed, then what was done
/// fine, so that a re-run's scope is plain.
pub fn partly_done(failed: &str, done_word: &str, failures: &[String], ok: &[String]) -> Error {
    Error::Tagging(format!(
        "{failed}: {}. {done_word} fine: {}",
        failures.join("; "),
        if ok.is_empty() {
            "nothing".to_string()
        } else {
            ok.join(", ")
        }
    ))
}

/// Parse `REGION:AMI` or `AMI` (in `default_region`). The region must be
/// one AWS has ([`crate::cli::parse_region`]), the id an AMI id.
pub fn parse_ami_ref(s: &str, default_region: Option<&Region>) -> Result<(Region, AmiId)> {
    let (region, ami) = match s.split_once(':') {
        Some((r, a)) => (crate::cli::parse_region(r).map_err(Error::Usage)?, a),
        None => (
            default_region
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "`{s}` has no region: write REGION:{s} or pass --region"
                    ))
                })?
                .clone(),
            s,
        ),
    };
    let ami = AmiId::parse(ami).map_err(|_| {
        Error::Usage(format!(
            "`{s}` is not REGION:AMI_ID (e.g. us-east-1:ami-0123456789abcdef0)"
        ))
    })?;
    Ok((region, ami))
}

/// Read and parse an artifacts.json.
pub fn read_record(p: &Path) -> Result<BuildRecord> {
    let text = std::fs::read_to_string(p)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Usage(format!(
            "{} is not an ami-builder artifacts.json: {e}",
            p.display()
        ))
    })
}

/// `--regions` values, or the one region from `--region` / the SDK.
pub fn regions_or_default(given: &[Region], aws: &Aws) -> Result<Vec<Region>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    Ok(vec![aws.require_region("listing images (or --regions)")?])
}

pub async fn gather_all(
    aws: &Aws,
    regions: &[Region],
    account: Option<&AccountId>,
    progress: crate::progress::Mode,
) -> Result<Inventory> {
    let p = crate::progress::Progress::start(
        progress,
        "listing images, snapshots and their users, region by region",
        regions.len() as u64,
    );
    let inv = gather_each(aws, regions, account, &p).await;
    p.finish();
    inv
}

async fn gather_each(
    aws: &Aws,
    regions: &[Region],
    account: Option<&AccountId>,
    progress: &crate::progress::Progress,
) -> Result<Inventory> {
    let mut inv = Inventory {
        account_id: account.cloned(),
        regions: regions.to_vec(),
        ..Inventory::default()
    };
    for r in regions {
        let part = inventory::gather(aws, r).await?;
        inv.account_id = inv.account_id.or(part.account_id);
        inv.images.extend(part.images);
        inv.snapshots.extend(part.snapshots);
        inv.instances.extend(part.instances);
        inv.usage.extend(part.usage);
        progress.item(true);
    }
    Ok(inv)
}

/// Every channel's AMI under `prefix` in `regions`, and the `keep_rollback`
/// AMIs before each, as uses: prune keeps them. A channel that cannot be
/// read fails the listing (nothing is planned without knowing what is in use).
pub async fn channel_usage(
    aws: &Aws,
    regions: &[Region],
    prefix: &str,
    keep_rollback: usize,
) -> Result<Vec<crate::retention::Usage>> {
    crate::channels::check_prefix(prefix).map_err(Error::Usage)?;
    let mut out = Vec::new();
    for region in regions {
        for name in crate::aws::ssm::image_parameters(aws, region, prefix).await? {
            let h = crate::aws::ssm::history(aws, region, &name).await?;
            for (v, current) in h.protected(keep_rollback) {
                out.push(crate::retention::Usage {
                    region: region.to_string(),
                    image_id: v.ami.to_string(),
                    by: crate::retention::UsedBy::Channel {
                        parameter: name.clone(),
                        version: v.version,
                        current,
                    },
                });
            }
        }
    }
    Ok(out)
}
