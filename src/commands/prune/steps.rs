//! Taking the retirement ladder's steps the plan says are due
//! (`Action::Deprecate`, `Action::Disable`, `Action::Unprotect`):
//! deprecation now (`EnableImageDeprecation`), disabling (`DisableImage`),
//! and turning deregistration protection off
//! (`DisableImageDeregistrationProtection`, `--disable-protection`). Before a
//! shared image is disabled (only with `--include-shared`: otherwise its
//! sharing keeps it off the ladder), who it is shared with is written to
//! the tag `ami-builder:launch-permissions`, since disabling removes the
//! launch permissions and re-enabling does not bring them back (EC2 User
//! Guide, "Disable an AMI"); then `ami-builder:disabled-at` records when,
//! which EC2 does not say, for whoever looks at the image later. One
//! failure does not stop the rest.

use chrono::Utc;

use super::report::{Applied, AppliedResult};
use crate::aws::{ec2, inventory, Aws};
use crate::ids::{AmiId, Region};
use crate::lifecycle;
use crate::retention::plan::Step;
use crate::retention::{Action, PlanItem};

/// Disable `ami`; the launch permissions recorded first, if it was shared.
async fn disable(aws: &Aws, region: &Region, ami: &AmiId) -> Result<Option<String>, String> {
    let sharing = inventory::image_sharing(aws, region, ami.as_str())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{ami} is gone"))?;
    let mut recorded = None;
    if sharing.is_shared() {
        let v = lifecycle::record_launch_permissions(&sharing).ok_or_else(|| {
            "shared with too many to record in a tag (256 characters): not disabled, since disabling would lose them".to_string()
        })?;
        // first, alone: if it cannot be written, nothing is disabled
        let failed = ec2::create_tags(
            aws,
            region,
            &[ami.to_string()],
            &[(crate::tags::LAUNCH_PERMISSIONS.to_string(), v.clone())],
        )
        .await
        .map_err(|e| e.to_string())?;
        if let Some(f) = failed.into_iter().next() {
            return Err(f);
        }
        recorded = Some(v);
    }
    ec2::disable_image(aws, region, ami)
        .await
        .map_err(|e| e.to_string())?;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let failed = ec2::create_tags(
        aws,
        region,
        &[ami.to_string()],
        &[(crate::tags::DISABLED_AT.to_string(), now)],
    )
    .await
    .map_err(|e| e.to_string())?;
    match failed.into_iter().next() {
        // disabled all the same; the ladder then counts from the step before
        Some(f) => Err(format!(
            "disabled, but the {} tag was not written: {f}",
            crate::tags::DISABLED_AT
        )),
        None => Ok(recorded),
    }
}

/// Take each step of `steps` (items whose action is a step).
pub(super) async fn take(aws: &Aws, steps: &[PlanItem]) -> Vec<Applied> {
    let mut out = Vec::new();
    for item in steps {
        let step = match item.action {
            Action::Deprecate => Step::Deprecate,
            Action::Disable => Step::Disable,
            Action::Unprotect => Step::Unprotect,
            _ => continue,
        };
        let (region, ami) = match (Region::parse(&item.region), AmiId::parse(&item.id)) {
            (Ok(r), Ok(a)) => (r, a),
            (Err(e), _) | (_, Err(e)) => {
                out.push(result(item, step, Err(e.to_string())));
                continue;
            }
        };
        let r = match step {
            Step::Deprecate => ec2::deprecate(aws, &region, &ami, Utc::now())
                .await
                .map(|()| None)
                .map_err(|e| e.to_string()),
            Step::Disable => disable(aws, &region, &ami).await,
            Step::Unprotect => ec2::unprotect(aws, &region, &ami)
                .await
                .map(|()| None)
                .map_err(|e| e.to_string()),
        };
        out.push(result(item, step, r));
    }
    out
}

fn result(item: &PlanItem, step: Step, r: Result<Option<String>, String>) -> Applied {
    let (done, error, launch_permissions) = match r {
        Ok(recorded) => (true, None, recorded),
        Err(e) => (false, Some(e), None),
    };
    Applied {
        kind: item.kind,
        region: item.region.to_string(),
        id: item.id.to_string(),
        result: AppliedResult::Step {
            step,
            done,
            error,
            launch_permissions,
        },
    }
}
