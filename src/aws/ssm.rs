//! SSM Parameter Store, for the channels: one parameter per family, channel
//! and region (`crate::channels`), its versions the channel's history.
//!
//! Calls (SSM API reference): `PutParameter` with `DataType=aws:ec2:image`
//! and `Overwrite`, `LabelParameterVersion`, `GetParameterHistory`,
//! `GetParametersByPath`. A parameter that does not exist
//! (`ParameterNotFound`) is a channel with no history, not an error.

use chrono::{DateTime, Utc};

use super::{aws_error, Aws};
use crate::channels::{History, Record, Version};
use crate::error::{Error, Result};
use crate::ids::{AmiId, Region};

fn time(t: Option<&aws_smithy_types::DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The history of `name` in `region` (empty when the parameter does not
/// exist). A version whose value is not an AMI id is refused: a channel
/// that cannot be read is not guessed at.
pub async fn history(aws: &Aws, region: &Region, name: &str) -> Result<History> {
    let client = aws.ssm(region);
    let mut pages = client
        .get_parameter_history()
        .name(name)
        .max_results(50)
        .into_paginator()
        .send();
    let mut versions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                use aws_sdk_ssm::error::ProvideErrorMetadata;
                if e.code() == Some("ParameterNotFound") {
                    return Ok(History::default());
                }
                return Err(aws_error(
                    format!("reading the history of {name} in {region}"),
                    &e,
                    aws.endpoint(),
                ));
            }
        };
        for p in page.parameters() {
            let value = p.value().unwrap_or_default();
            let ami = AmiId::parse(value).map_err(|_| {
                Error::Other(format!(
                    "{name} in {region}, version {}: `{value}` is not an AMI id; ami-builder does not manage a parameter it cannot read (was it set by hand?)",
                    p.version()
                ))
            })?;
            versions.push(Version {
                version: p.version(),
                ami,
                modified: time(p.last_modified_date()),
                labels: p.labels().to_vec(),
                record: Record::parse(p.description().unwrap_or_default()),
            });
        }
    }
    Ok(History::new(versions))
}

/// Set the channel `name` in `region` to `ami` (a new version), label it,
/// and return the version number. `ParameterNotFound`-free: `Overwrite`
/// creates or updates.
pub async fn put(
    aws: &Aws,
    region: &Region,
    name: &str,
    ami: &AmiId,
    record: &Record,
    labels: &[String],
) -> Result<i64> {
    let client = aws.ssm(region);
    let out = client
        .put_parameter()
        .name(name)
        .value(ami.as_str())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .data_type("aws:ec2:image")
        .description(record.description())
        .overwrite(true)
        .send()
        .await
        .map_err(|e| {
            aws_error(
                format!("setting {name} in {region} to {ami}"),
                &e,
                aws.endpoint(),
            )
        })?;
    let version = out.version();
    if !labels.is_empty() {
        client
            .label_parameter_version()
            .name(name)
            .parameter_version(version)
            .set_labels(Some(labels.to_vec()))
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    format!("labelling version {version} of {name} in {region}"),
                    &e,
                    aws.endpoint(),
                )
            })?;
    }
    Ok(version)
}

/// The names of every parameter under `path` in `region` whose data type is
/// `aws:ec2:image`.
pub async fn image_parameters(aws: &Aws, region: &Region, path: &str) -> Result<Vec<String>> {
    let client = aws.ssm(region);
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .max_results(10)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws_error(
                format!("listing the channels under {path} in {region}"),
                &e,
                aws.endpoint(),
            )
        })?;
        out.extend(
            page.parameters()
                .iter()
                .filter(|p| p.data_type() == Some("aws:ec2:image"))
                .filter_map(|p| p.name().map(str::to_string)),
        );
    }
    out.sort();
    Ok(out)
}
