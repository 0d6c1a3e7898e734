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
//! which EC2 does not, for the next step's clock. One failure does not stop
//! the rest.

use chrono::Utc;

use super::report::{Applied, AppliedResult};
use crate::aws::{ec2, inventory, Aws};
use crate::ids::{AmiId, Region};
use crate::retention::plan::Step;
use crate::retention::{Action, PlanItem, Sharing};

/// The launch permissions as one tag value: `public`, `account:ID`,
/// `org:ARN`, `ou:ARN`, space-separated; `None` when they do not fit EC2's
/// 256 characters (the image is then not disabled: they would be lost).
pub fn record(s: &Sharing) -> Option<String> {
    let mut parts = Vec::new();
    if s.public {
        parts.push("public".to_string());
    }
    parts.extend(s.accounts.iter().map(|a| format!("account:{a}")));
    parts.extend(s.organizations.iter().map(|o| format!("org:{o}")));
    parts.extend(s.organizational_units.iter().map(|o| format!("ou:{o}")));
    let v = parts.join(" ");
    (v.chars().count() <= 256).then_some(v)
}

/// The launch permissions [`record`] wrote, as grants to add back; an
/// error for any token it would not have written (the tag is anyone's to
/// edit, and a grant is a permission).
pub fn parse_record(v: &str) -> Result<aws_sdk_ec2::types::LaunchPermissionModifications, String> {
    use aws_sdk_ec2::types::{LaunchPermission, PermissionGroup};
    let arn = |s: &str, kind: &str| {
        s.starts_with("arn:aws")
            && s.contains(":organizations::")
            && s.contains(kind)
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || ":/-_".contains(c))
    };
    let mut add = Vec::new();
    for token in v.split_whitespace() {
        let grant = if token == "public" {
            LaunchPermission::builder()
                .group(PermissionGroup::All)
                .build()
        } else if let Some(a) = token
            .strip_prefix("account:")
            .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        {
            LaunchPermission::builder().user_id(a).build()
        } else if let Some(o) = token
            .strip_prefix("org:")
            .filter(|o| arn(o, ":organization/"))
        {
            LaunchPermission::builder().organization_arn(o).build()
        } else if let Some(o) = token.strip_prefix("ou:").filter(|o| arn(o, ":ou/")) {
            LaunchPermission::builder()
                .organizational_unit_arn(o)
                .build()
        } else {
            return Err(format!("`{token}`"));
        };
        add.push(grant);
    }
    Ok(aws_sdk_ec2::types::LaunchPermissionModifications::builder()
        .set_add(Some(add))
        .build())
}

async fn disable(aws: &Aws, region: &Region, ami: &AmiId) -> Result<(), String> {
    let sharing = inventory::image_sharing(aws, region, ami.as_str())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{ami} is gone"))?;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let tags = vec![(crate::tags::DISABLED_AT.to_string(), now)];
    if sharing.is_shared() {
        let v = record(&sharing).ok_or_else(|| {
            "shared with too many to record in a tag (256 characters): not disabled, since disabling would lose them".to_string()
        })?;
        // first, alone: if it cannot be written, nothing is disabled
        let failed = ec2::create_tags(
            aws,
            region,
            &[ami.to_string()],
            &[(crate::tags::LAUNCH_PERMISSIONS.to_string(), v)],
        )
        .await
        .map_err(|e| e.to_string())?;
        if let Some(f) = failed.into_iter().next() {
            return Err(f);
        }
    }
    aws.ec2(region)
        .disable_image()
        .image_id(ami.as_str())
        .send()
        .await
        .map_err(|e| crate::aws::describe(&e, aws.endpoint()))?;
    let failed = ec2::create_tags(aws, region, &[ami.to_string()], &tags)
        .await
        .map_err(|e| e.to_string())?;
    match failed.into_iter().next() {
        // disabled all the same; the ladder then counts from the step before
        Some(f) => Err(format!(
            "disabled, but the {} tag was not written: {f}",
            crate::tags::DISABLED_AT
        )),
        None => Ok(()),
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
                .map_err(|e| e.to_string()),
            Step::Disable => disable(aws, &region, &ami).await,
            Step::Unprotect => aws
                .ec2(&region)
                .disable_image_deregistration_protection()
                .image_id(ami.as_str())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| crate::aws::describe(&e, aws.endpoint())),
        };
        out.push(result(item, step, r));
    }
    out
}

fn result(item: &PlanItem, step: Step, r: Result<(), String>) -> Applied {
    Applied {
        kind: item.kind,
        region: item.region.to_string(),
        id: item.id.to_string(),
        result: AppliedResult::Step {
            step,
            done: r.is_ok(),
            error: r.err(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_permissions_are_recorded_whole_or_not_at_all() {
        let s = Sharing {
            public: true,
            accounts: vec!["111122223333".into()],
            organizations: vec!["arn:aws:organizations::111122223333:organization/o-abc".into()],
            organizational_units: Vec::new(),
        };
        assert_eq!(
            record(&s).as_deref(),
            Some("public account:111122223333 org:arn:aws:organizations::111122223333:organization/o-abc")
        );
        let many = Sharing {
            accounts: (0..30).map(|n| format!("{n:012}")).collect(),
            ..Sharing::default()
        };
        assert_eq!(record(&many), None);
        // read back: only what record writes
        let back = parse_record(&record(&s).expect("fits")).expect("parses");
        assert_eq!(back.add().len(), 3);
        for bad in [
            "account:12",
            "group:all",
            "org:arn:aws:iam::1:role/x",
            "account:111122223333;x",
        ] {
            assert!(parse_record(bad).is_err(), "{bad}");
        }
    }
}
