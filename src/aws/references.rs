//! EC2's `DescribeImageReferences` for prune: which instances, launch
//! templates, SSM parameters and Image Builder recipes name an image (EC2
//! API reference; User Guide, "Identify your resources referencing
//! specified AMIs").
//!
//! Asked with explicit options rather than EC2's defaults: instances in
//! every state but `terminated` (a terminated instance does not protect, as
//! in prune's own listing), and every launch-template version up to EC2's
//! maximum depth of 10000 (the default, 10, would miss an older version
//! still naming the image, which prune's own listing protects).
//!
//! What an answer means for the plan ([`Answer`]): references found; the API
//! denied or not offered in the region (prune then plans from its own
//! listing, and says so); or another failure for a batch, whose images are
//! then kept with the error as their reason.

use std::sync::Arc;

use aws_sdk_ec2::types::{
    ImageReferenceOptionName, ImageReferenceResourceType, ResourceTypeOption, ResourceTypeRequest,
};

use super::Aws;
use crate::retention::{Usage, UsedBy};

/// What one batch's question gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The uses found (none is an answer too).
    Found(Vec<Usage>),
    /// Denied, or the action is not offered: nothing is known from it, and
    /// prune's own listing is all there is.
    Unavailable(String),
    /// Any other failure: the batch's images are not known to be unused.
    Failed(String),
}

/// The error codes that mean the action cannot be used here at all, not
/// that this question failed: no permission (`UnauthorizedOperation`,
/// IAM's `AccessDenied*`), or an endpoint that does not offer it
/// (`InvalidAction`, `UnsupportedOperation`; EC2 API reference, "Error
/// codes").
pub fn unavailable(code: &str) -> bool {
    matches!(
        code,
        "UnauthorizedOperation" | "InvalidAction" | "UnsupportedOperation" | "OptInRequired"
    ) || code.starts_with("AccessDenied")
}

fn options() -> Vec<ResourceTypeRequest> {
    let option = |name: ImageReferenceOptionName, values: &[&str]| {
        ResourceTypeOption::builder()
            .option_name(name)
            .set_option_values(Some(values.iter().map(|v| v.to_string()).collect()))
            .build()
    };
    let plain =
        |t: ImageReferenceResourceType| ResourceTypeRequest::builder().resource_type(t).build();
    vec![
        ResourceTypeRequest::builder()
            .resource_type(ImageReferenceResourceType::Ec2Instance)
            .resource_type_options(option(
                ImageReferenceOptionName::StateName,
                &["pending", "running", "shutting-down", "stopping", "stopped"],
            ))
            .build(),
        ResourceTypeRequest::builder()
            .resource_type(ImageReferenceResourceType::Ec2LaunchTemplate)
            .resource_type_options(option(ImageReferenceOptionName::VersionDepth, &["10000"]))
            .build(),
        plain(ImageReferenceResourceType::SsmParameter),
        plain(ImageReferenceResourceType::ImageBuilderImageRecipe),
        plain(ImageReferenceResourceType::ImageBuilderContainerRecipe),
    ]
}

/// Ask about `ids` (at most [`crate::retention::references::BATCH`]) in
/// `region`, every page.
pub async fn ask(aws: &Aws, region: &str, ids: &[Arc<str>]) -> Answer {
    use aws_sdk_ec2::error::ProvideErrorMetadata;
    let pages = aws
        .ec2_per_resource(region, "DescribeImageReferences")
        .describe_image_references()
        .set_image_ids(Some(ids.iter().map(|i| i.to_string()).collect()))
        .set_resource_types(Some(options()))
        .max_results(1000)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut found = Vec::new();
    for page in pages {
        match page {
            Ok(p) => {
                for r in p.image_references() {
                    let (Some(image), Some(arn)) = (r.image_id(), r.arn()) else {
                        continue;
                    };
                    found.push(Usage {
                        region: region.to_string(),
                        image_id: image.to_string(),
                        by: UsedBy::Reference {
                            resource_type: r
                                .resource_type()
                                .map_or("unknown", |t| t.as_str())
                                .to_string(),
                            arn: arn.to_string(),
                        },
                    });
                }
            }
            Err(e) => {
                let said = super::describe(&e, aws.endpoint());
                return match e.code() {
                    Some(code) if unavailable(code) => Answer::Unavailable(said),
                    _ => Answer::Failed(said),
                };
            }
        }
    }
    Answer::Found(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_denial_or_a_missing_action_means_unavailable() {
        for code in [
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDeniedException",
            "InvalidAction",
            "UnsupportedOperation",
        ] {
            assert!(unavailable(code), "{code}");
        }
        for code in [
            "RequestLimitExceeded",
            "InternalError",
            "InvalidAMIID.Malformed",
            "",
        ] {
            assert!(!unavailable(code), "{code}");
        }
    }
}
