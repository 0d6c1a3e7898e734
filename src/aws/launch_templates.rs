//! Launch templates, for `promote --launch-template`: find one by name or
//! id (or those carrying the opt-in tag), read its default version's image, and make a new default version that
//! changes only the image (`CreateLaunchTemplateVersion` with
//! `SourceVersion` = the default, then `ModifyLaunchTemplate`; EC2 API
//! reference).

use std::collections::BTreeMap;

use super::{aws_error, Aws};
use crate::error::{Error, Result};
use crate::ids::{AmiId, Region};

/// A template and its default version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub name: String,
    pub default_version: i64,
    /// The default version's `ImageId`: an AMI id, or `resolve:ssm:NAME`.
    pub image: Option<String>,
}

/// The template `id_or_name` in `region` (`Ok(None)`: there is none).
pub async fn find(aws: &Aws, region: &Region, id_or_name: &str) -> Result<Option<Found>> {
    let ec2 = aws.ec2(region);
    let mut req = ec2.describe_launch_templates();
    req = if id_or_name.starts_with("lt-") {
        req.launch_template_ids(id_or_name)
    } else {
        req.launch_template_names(id_or_name)
    };
    let out = match req.send().await {
        Ok(o) => o,
        Err(e) => {
            use aws_sdk_ec2::error::ProvideErrorMetadata;
            let code = e.code().unwrap_or_default();
            if code.starts_with("InvalidLaunchTemplateName.NotFound")
                || code.starts_with("InvalidLaunchTemplateId.NotFound")
                || code.starts_with("InvalidLaunchTemplateId.Malformed")
            {
                return Ok(None);
            }
            return Err(aws_error(
                format!("finding launch template {id_or_name} in {region}"),
                &e,
                aws.endpoint(),
            ));
        }
    };
    let Some(t) = out.launch_templates().first() else {
        return Ok(None);
    };
    Ok(Some(with_default(aws, region, t).await?))
}

/// `t` and its default version's image.
async fn with_default(
    aws: &Aws,
    region: &Region,
    t: &aws_sdk_ec2::types::LaunchTemplate,
) -> Result<Found> {
    let id = t.launch_template_id().unwrap_or_default().to_string();
    let versions = aws
        .ec2(region)
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions("$Default")
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("reading the default version of {id} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
    let image = versions
        .launch_template_versions()
        .first()
        .and_then(|v| v.launch_template_data())
        .and_then(|d| d.image_id())
        .map(str::to_string);
    Ok(Found {
        id,
        name: t.launch_template_name().unwrap_or_default().to_string(),
        default_version: t.default_version_number().unwrap_or(1),
        image,
    })
}

/// The templates in `region` tagged `key` = `value` (the opt-in tag), each
/// with all its tags and its default version.
pub async fn tagged(
    aws: &Aws,
    region: &Region,
    key: &str,
    value: &str,
) -> Result<Vec<(Found, BTreeMap<String, String>)>> {
    let pages = aws
        .ec2(region)
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build(),
        )
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut out = Vec::new();
    for page in pages {
        let page = page.map_err(|e| {
            aws_error(
                format!("listing the launch templates tagged {key}={value} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
        for t in page.launch_templates() {
            let tags = super::inventory::tags(t.tags());
            out.push((with_default(aws, region, t).await?, tags));
        }
    }
    Ok(out)
}

/// A new version of `t` from its default with only the image changed, made
/// the default; its number.
pub async fn new_default_version(
    aws: &Aws,
    region: &Region,
    t: &Found,
    ami: &AmiId,
    description: &str,
) -> Result<i64> {
    let ec2 = aws.ec2(region);
    let out = ec2
        .create_launch_template_version()
        .launch_template_id(&t.id)
        .source_version(t.default_version.to_string())
        .version_description(description)
        .launch_template_data(
            aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                .image_id(ami.as_str())
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("creating a version of launch template {} in {region}", t.id),
                &e,
                aws.endpoint(),
            )
        })?;
    let version = out
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| {
            Error::Other(format!(
                "creating a version of launch template {} in {region}: EC2 named no version",
                t.id
            ))
        })?;
    ec2.modify_launch_template()
        .launch_template_id(&t.id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!(
                    "making version {version} the default of launch template {} in {region}",
                    t.id
                ),
                &e,
                aws.endpoint(),
            )
        })?;
    Ok(version)
}
